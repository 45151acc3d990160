/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rules as written: validation that names the offending field, selectors,
 * templates, durations and times, Prometheus rule files and the
 * test-rules runner (promtool's notation, passing, failing and unusable
 * test files).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugintest.h"
#include "promrules.h"
#include "rule.h"
#include "selector.h"
#include "template.h"
#include "testrules.h"
#include "timeparse.h"
#include "yamljson.h"

/* --- rule validation ----------------------------------------------------- */

static const struct {
	const char *json;
	const char *field; /* NULL: accepted */
} rule_cases[] = {
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"lt\",\"threshold\":1}", NULL},
    {"{\"metric\":\"up\",\"condition\":\"lt\",\"threshold\":1}", "name"},
    {"{\"name\":\"A\",\"condition\":\"lt\",\"threshold\":1}", "metric"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"threshold\":1}", "condition"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gte\",\"threshold\":1}", "condition"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\"}", "threshold"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":\"9\"}", "threshold"},
    {"{\"name\":\"A\",\"metric\":\"up{job=\",\"condition\":\"gt\",\"threshold\":1}", "metric"},
    {"{\"name\":\"A\",\"metric\":\"up{job=~\\\"(\\\"}\",\"condition\":\"gt\",\"threshold\":1}",
     "metric"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,\"thresold\":2}",
     "thresold"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":90,"
     "\"clear_threshold\":95}",
     "clear_threshold"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"lt\",\"threshold\":10,"
     "\"clear_threshold\":5}",
     "clear_threshold"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"lt\",\"threshold\":10,"
     "\"clear_threshold\":15}",
     NULL},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"eq\",\"threshold\":1,"
     "\"clear_threshold\":2}",
     "clear_threshold"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,\"for\":\"5x\"}",
     "for"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,\"for\":-5}", "for"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"severity\":\"page\"}",
     "severity"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"labels\":{\"severity\":\"x\"}}",
     "labels.severity"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"labels\":{\"bad-name\":\"x\"}}",
     "labels.bad-name"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"annotations\":{\"summary\":\"{{ $value \"}}",
     "annotations.summary"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"annotations\":{\"summary\":\"{{ $nope }}\"}}",
     "annotations.summary"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"forecast\"}", "horizon"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"absent\",\"threshold\":1}", "threshold"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"anomaly\",\"threshold\":2}", "threshold"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"trend_inc\",\"threshold\":-1}",
     "threshold"},
    {"{\"name\":\"A\",\"condition\":\"promql\",\"expr\":\"up == 0\"}", "condition"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"expr\":\"up\"}",
     "expr"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"expires\":\"tomorrow\"}",
     "expires"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"group_by\":[\"a b\"]}",
     "group_by"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"flap_threshold\":1}",
     "flap_threshold"},
    {"{\"name\":\"A\",\"metric\":\"up\",\"condition\":\"gt\",\"threshold\":1,"
     "\"id\":\"a/b\"}",
     "id"},
    {"[1]", ""},
};

static void rule_validation(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		json_t *j = json_loads(rule_cases[i].json, JSON_DECODE_ANY, NULL);
		struct al_rule *r = NULL;
		struct al_rule_err err = {{0}, {0}};
		assert_non_null(j);
		int rc = al_rule_from_json(j, AL_SRC_API, 1000, false, &r, &err);
		json_decref(j);
		if (!rule_cases[i].field) {
			if (rc)
				fail_msg("case %zu refused: %s: %s", i, err.field, err.msg);
			al_rule_free(r);
			continue;
		}
		if (!rc)
			fail_msg("case %zu accepted, want field %s refused", i,
				 rule_cases[i].field);
		if (strcmp(err.field, rule_cases[i].field) != 0)
			fail_msg("case %zu: field %s (%s), want %s", i, err.field, err.msg,
				 rule_cases[i].field);
	}
}

static void rule_round_trip(void **st)
{
	(void)st;
	const char *text = "{\"id\":\"disk\",\"name\":\"Disk\",\"metric\":\"fs{m=\\\"/\\\"}\","
			   "\"condition\":\"gt\",\"threshold\":90,\"clear_threshold\":85,"
			   "\"for\":\"1h30m\",\"severity\":\"critical\",\"labels\":{\"t\":\"a\"},"
			   "\"notifiers\":[\"x\"],\"group_by\":[\"host\"],\"expires\":\"2h\"}";
	json_t *j = json_loads(text, 0, NULL);
	struct al_rule *r, *r2;
	struct al_rule_err err;
	assert_int_equal(al_rule_from_json(j, AL_SRC_API, 1000, false, &r, &err), 0);
	json_decref(j);
	assert_int_equal(r->expires_ms, 1000 + 7200000);
	assert_int_equal(r->for_ms, 5400000);
	json_t *out = al_rule_to_json(r);
	assert_string_equal(json_string_value(json_object_get(out, "for")), "1h30m");
	assert_string_equal(json_string_value(json_object_get(out, "source")), "api");
	/* what GET returns is accepted back by PUT */
	assert_int_equal(al_rule_from_json(out, AL_SRC_API, 5000, false, &r2, &err), 0);
	assert_int_equal(r2->expires_ms, r->expires_ms);
	assert_true(r2->clear_threshold == 85);
	json_decref(out);
	al_rule_free(r);
	al_rule_free(r2);
	/* without an id: the name (config) or a random one (API) */
	j = json_loads("{\"name\":\"Disk full!\",\"metric\":\"x\",\"condition\":\"gt\","
		       "\"threshold\":1}",
		       0, NULL);
	assert_int_equal(al_rule_from_json(j, AL_SRC_CONFIG, 0, false, &r, &err), 0);
	assert_string_equal(r->id, "Disk_full_");
	al_rule_free(r);
	assert_int_equal(al_rule_from_json(j, AL_SRC_API, 0, false, &r, &err), 0);
	assert_int_equal(strlen(r->id), 16);
	al_rule_free(r);
	json_decref(j);
}

/* --- selectors ------------------------------------------------------------------ */

static bool sel_match(const char *sel, const char *name, const char *labels)
{
	struct al_selector s = {0};
	char err[200], buf[256];
	struct bm_label l[8];
	uint32_t n = 0;
	if (al_selector_parse(sel, false, &s, err, sizeof(err)))
		fail_msg("%s: %s", sel, err);
	snprintf(buf, sizeof(buf), "%s", labels);
	for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		*eq = '\0';
		l[n++] = (struct bm_label){kv, eq + 1};
	}
	bool ok = al_selector_match_name(&s, name) && al_selector_match_labels(&s, l, n);
	al_selector_free(&s);
	return ok;
}

static void selectors(void **st)
{
	(void)st;
	assert_true(sel_match("up", "up", "job=a"));
	assert_false(sel_match("up", "down", ""));
	assert_true(sel_match("up{job=\"a\"}", "up", "job=a,x=1"));
	assert_false(sel_match("up{job=\"a\"}", "up", "job=ab"));
	assert_true(sel_match("up{job!=\"a\"}", "up", "job=b"));
	assert_true(sel_match("up{job!=\"a\"}", "up", ""));
	assert_true(sel_match("up{job=~\"a|b\"}", "up", "job=b"));
	assert_false(sel_match("up{job=~\"a|b\"}", "up", "job=ab")); /* anchored */
	assert_true(sel_match("up{job!~\"a.*\"}", "up", "job=b"));
	assert_true(sel_match("up{job=\"\"}", "up", "other=1")); /* absent reads as "" */
	assert_true(sel_match("node_disk_*_total", "node_disk_reads_total", ""));
	assert_false(sel_match("node_disk_*_total", "node_net_total", ""));
	assert_true(sel_match("{__name__=~\"node_(load1|load5)\"}", "node_load5", ""));
	assert_true(sel_match("{alertname='a\\'b'}", "", "alertname=a'b"));
	assert_true(sel_match(" up { job = \"a\" , } ", "up", "job=a"));
	struct al_selector s = {0};
	char err[200];
	const char *bad[] = {"", "{}", "up{", "up{job}", "up{job=a}", "up{job=\"a\"", "up x",
			     "{job=~\"[\"}", NULL};
	for (const char *const *b = bad; *b; b++) {
		if (al_selector_parse(*b, false, &s, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", *b);
	}
	assert_int_equal(al_selector_parse("{job=\"a\"}", true, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "metric name is required"));
	assert_int_equal(al_selector_parse("{__name__=\"up\",job=\"a\"}", true, &s, err,
					   sizeof(err)), 0);
	assert_string_equal(al_selector_exact_name(&s), "up");
	al_selector_free(&s);
}

/* --- templates ------------------------------------------------------------------- */

static void render_is(const char *tmpl, double value, const char *want)
{
	struct bm_label l[] = {{"device", "sda"}, {"mountpoint", "/data"}};
	struct al_tmpl_data d = {value, 90, l, 2};
	struct bm_buf b = {0};
	char err[200];
	if (al_template_check(tmpl, err, sizeof(err)))
		fail_msg("%s: %s", tmpl, err);
	assert_int_equal(al_template_render(tmpl, &d, &b), 0);
	bm_buf_append(&b, "", 1);
	if (strcmp(b.data, want) != 0)
		fail_msg("%s rendered \"%s\", want \"%s\"", tmpl, b.data, want);
	bm_buf_free(&b);
}

static void templates(void **st)
{
	(void)st;
	render_is("{{ $labels.mountpoint }} at {{ $value }}", 93.5, "/data at 93.5");
	render_is("{{ .Labels.device }}={{ .Value }}", 1, "sda=1");
	render_is("{{ $labels.nope }}|{{ $threshold }}", 0, "|90");
	render_is("{{ $value | humanize }}", 1234567, "1.235M");
	render_is("{{ $value | humanize }}", 0.00123, "1.23m");
	render_is("{{ humanize1024 $value }}B", 3 * 1073741824.0, "3GiB");
	render_is("{{ $value | humanizeDuration }}", 90061, "1d 1h 1m 1s");
	render_is("{{ $value | humanizeDuration }}", 0.0125, "12.5ms");
	render_is("{{ $value | humanizePercentage }}", 0.9312, "93.12%");
	render_is("{{ printf \"%.1f\" $value }}", 93.45, "93.5");
	render_is("{{ $value | printf \"%d%%\" }}", 42.9, "42%");
	render_is("{{ $labels }}", 0, "device=\"sda\", mountpoint=\"/data\"");
	render_is("a  {{- $value -}}  b", 7, "a7b");
	char err[200];
	const char *bad[] = {"{{ $value", "{{ }}", "{{ $bogus }}", "{{ $value | nope }}",
			     "{{ printf \"%s %s\" $value }}", "{{ printf $value }}", NULL};
	for (const char *const *b = bad; *b; b++)
		if (al_template_check(*b, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", *b);
}

/* --- durations and times ---------------------------------------------------------- */

static void durations_times(void **st)
{
	(void)st;
	int64_t ms;
	char buf[64];
	assert_int_equal(al_parse_duration("1h30m", &ms), 0);
	assert_int_equal(ms, 5400000);
	assert_int_equal(al_parse_duration("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(al_parse_duration("2d", &ms), 0);
	assert_int_equal(ms, 172800000);
	assert_int_equal(al_parse_duration("0", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(al_parse_duration("5", &ms), -1);
	assert_int_equal(al_parse_duration("1m1h", &ms), -1);
	assert_int_equal(al_parse_duration("-1s", &ms), -1);
	assert_int_equal(al_parse_duration("", &ms), -1);
	assert_int_equal(al_parse_duration("1h1h", &ms), -1);
	assert_int_equal(al_parse_duration("1x", &ms), -1);
	assert_int_equal(al_parse_duration("292y", &ms), 0);
	assert_int_equal(ms, 292LL * 365 * 86400000);
	assert_int_equal(al_parse_duration("293y", &ms), -1); /* Go's int64 nanoseconds */
	assert_int_equal(al_parse_duration("99999999999999999999d", &ms), -1);
	al_format_duration(5400000, buf, sizeof(buf));
	assert_string_equal(buf, "1h30m");
	al_format_duration(90061001, buf, sizeof(buf));
	assert_string_equal(buf, "1d1h1m1s1ms");
	al_format_duration(0, buf, sizeof(buf));
	assert_string_equal(buf, "0s");
	assert_int_equal(al_parse_time("2001-09-09T01:46:40Z", &ms), 0);
	assert_int_equal(ms, 1000000000000LL);
	assert_int_equal(al_parse_time("2001-09-09T03:46:40.250+02:00", &ms), 0);
	assert_int_equal(ms, 1000000000250LL);
	assert_int_equal(al_parse_time("2001-13-09T01:46:40Z", &ms), -1);
	assert_int_equal(al_parse_time("2001-09-09", &ms), -1);
	al_format_time(1000000000250LL, buf, sizeof(buf));
	assert_string_equal(buf, "2001-09-09T01:46:40.250Z");
}

/* --- Prometheus rule files ----------------------------------------------------------- */

static const char prom_file[] =
	"groups:\n"
	"  - name: node\n"
	"    rules:\n"
	"      - alert: HostDown\n"
	"        expr: up == 0\n"
	"        for: 5m\n"
	"        labels: {severity: critical, team: 1}\n"
	"        annotations:\n"
	"          summary: \"{{ $labels.instance }} down\"\n"
	"      - alert: HostDown\n"
	"        expr: up{job=\"x\"} == 0\n"
	"        labels: {severity: page}\n"
	"      - record: job:up:sum\n"
	"        expr: sum by (job) (up)\n";

static void prometheus_files(void **st)
{
	(void)st;
	json_t *doc, *rules;
	char err[256];
	assert_int_equal(al_yaml_load(prom_file, strlen(prom_file), &doc, err, sizeof(err)), 0);
	assert_true(al_promrules_is_prometheus(doc));
	assert_int_equal(al_promrules_convert(doc, &rules, err, sizeof(err)), 0);
	json_decref(doc);
	assert_int_equal(json_array_size(rules), 3);
	const json_t *a = json_array_get(rules, 0), *b = json_array_get(rules, 1);
	const json_t *c = json_array_get(rules, 2);
	assert_string_equal(json_string_value(json_object_get(a, "id")), "node:HostDown");
	assert_string_equal(json_string_value(json_object_get(b, "id")), "node:HostDown:2");
	assert_string_equal(json_string_value(json_object_get(a, "condition")), "promql");
	assert_string_equal(json_string_value(json_object_get(a, "severity")), "critical");
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "labels"),
							       "team")),
			    "1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(b, "labels"),
							       "prometheus_severity")),
			    "page");
	assert_string_equal(json_string_value(json_object_get(c, "condition")), "record");
	assert_string_equal(json_string_value(json_object_get(c, "record")), "job:up:sum");
	/* each converted rule is a valid rule where PromQL is available */
	for (size_t i = 0; i < 3; i++) {
		struct al_rule *r;
		struct al_rule_err re;
		if (al_rule_from_json(json_array_get(rules, i), AL_SRC_IMPORT, 0, true, &r, &re))
			fail_msg("rule %zu: %s: %s", i, re.field, re.msg);
		al_rule_free(r);
	}
	json_decref(rules);
	const char *broken = "groups:\n  - name: g\n    rules:\n      - alert: A\n";
	assert_int_equal(al_yaml_load(broken, strlen(broken), &doc, err, sizeof(err)), 0);
	assert_int_equal(al_promrules_convert(doc, &rules, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "group g"));
	json_decref(doc);
	assert_int_equal(al_yaml_load("a: [", 4, &doc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line"));
}

/* --- the test-rules runner -------------------------------------------------------- */

static const char rules_json[] =
    "[{\"name\":\"HighLoad\",\"metric\":\"node_load1\",\"condition\":\"gt\",\"threshold\":4,"
    "\"for\":\"2m\",\"annotations\":{\"summary\":\"load {{ $value }} on {{ $labels.instance }}\"}},"
    " {\"name\":\"NoHeartbeat\",\"metric\":\"hb{job=\\\"a\\\"}\",\"condition\":\"absent\","
    "\"horizon\":\"3m\",\"severity\":\"critical\"}]";

static const char tests_yaml[] =
	"rule_files: [rules.json]\n"
	"evaluation_interval: 1m\n"
	"tests:\n"
	"  - name: load spike\n"
	"    interval: 1m\n"
	"    input_series:\n"
	"      - series: 'node_load1{instance=\"a\"}'\n"
	"        values: '1 2 5x3 1'\n"
	"      - series: 'node_load1{instance=\"b\"}'\n"
	"        values: '1+1x6'\n"
	"      - series: 'hb{job=\"a\"}'\n"
	"        values: '1 1 _x5'\n"
	"    alert_rule_test:\n"
	"      - eval_time: 3m\n"
	"        alertname: HighLoad\n"
	"        exp_alerts: []\n"
	"      - eval_time: 4m\n"
	"        alertname: HighLoad\n"
	"        exp_alerts:\n"
	"          - exp_labels: {instance: a, severity: warning}\n"
	"            exp_annotations: {summary: load 5 on a}\n"
	"      - eval_time: 6m\n"
	"        alertname: HighLoad\n"
	"        exp_alerts:\n"
	"          - exp_labels: {instance: b, severity: warning}\n"
	"      - eval_time: 4m\n"
	"        alertname: NoHeartbeat\n"
	"        exp_alerts:\n"
	"          - exp_labels: {job: a, severity: critical}\n";

static char dir[64];

static int run_file(const char *name, const char *text, char *out, size_t n)
{
	char path[256];
	pt_write_file(dir, name, text);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fmemopen(out, n, "w");
	int rc = al_testrules_run(path, f, true);
	fclose(f);
	return rc;
}

static void test_rules_runner(void **st)
{
	(void)st;
	char out[8192];
	pt_mkdtemp(dir, sizeof(dir), "alerts-tr");
	pt_write_file(dir, "rules.json", rules_json);
	int rc = run_file("ok.yml", tests_yaml, out, sizeof(out));
	if (rc)
		fail_msg("runner said %d:\n%s", rc, out);
	assert_non_null(strstr(out, "SUCCESS: 1 of 1 tests passed"));
	/* a wrong expectation fails and says what came instead */
	char wrong[sizeof(tests_yaml) + 16];
	snprintf(wrong, sizeof(wrong), "%s", tests_yaml);
	char *p = strstr(wrong, "load 5 on a");
	memcpy(p, "load 6 on a", 11);
	assert_int_equal(run_file("wrong.yml", wrong, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "eval_time 4m, alertname HighLoad: FAILED"));
	assert_non_null(strstr(out, "\"summary\":\"load 5 on a\""));
	/* unusable files */
	assert_int_equal(run_file("none.yml", "tests: []\n", out, sizeof(out)), 2);
	assert_int_equal(run_file("badvals.yml",
				  "rules: [{name: A, metric: x, condition: gt, threshold: 1}]\n"
				  "tests: [{input_series: [{series: x, values: '1 zz'}]}]\n",
				  out, sizeof(out)),
			 2);
	assert_non_null(strstr(out, "values"));
	assert_int_equal(run_file("promql.yml",
				  "rules: [{name: A, condition: promql, expr: up}]\n"
				  "tests: [{input_series: []}]\n",
				  out, sizeof(out)),
			 2);
	assert_non_null(strstr(out, "PromQL"));
	assert_int_equal(
	    run_file("anomaly.yml",
		     "rules: [{name: A, metric: x, condition: anomaly, threshold: 0.5}]\n"
		     "tests: [{input_series: []}]\n",
		     out, sizeof(out)),
	    2);
	assert_non_null(strstr(out, "cannot feed"));
	pt_rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rule_validation),   cmocka_unit_test(rule_round_trip),
		cmocka_unit_test(selectors),         cmocka_unit_test(templates),
		cmocka_unit_test(durations_times),   cmocka_unit_test(prometheus_files),
		cmocka_unit_test(test_rules_runner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
