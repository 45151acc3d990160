/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin against a fake host: the shipped config (conf/conf.d/
 * alerts.conf) loads and each stock rule fires on its input; the HTTP
 * API (rules, malformed rules with a 400 naming the field, alerts and
 * acknowledgement, silences, Prometheus import with and without the
 * host's PromQL); the outbox reaching the bus; the state file across a
 * restart of the instance.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../alerts.c"
#include "../api.c"

#include "../../common/tests/fakereq.h"
#include "config.h"
#include "plugintest.h"

#define T 1000000000000LL
#define S 1000LL
#define M 60000LL

/* --- the test host ---------------------------------------------------------- */

static struct {
	struct bm_host_api api;
	size_t alerts, metrics;
	char last_alert_rule[64];
	int last_alert_state;
	size_t routes;
	long promql_calls;
} th;

static int th_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	(void)ctx;
	struct bm_alert_event e;
	struct bm_arena arena = {0};
	if (strcmp(topic, BM_TOPIC_ALERT) == 0 && bm_alert_decode(body, len, &e, &arena) == 0) {
		th.alerts++;
		snprintf(th.last_alert_rule, sizeof(th.last_alert_rule), "%s", e.rule_id);
		th.last_alert_state = e.state;
	}
	bm_arena_free(&arena);
	return 0;
}

static int th_publish_metrics(struct bm_ctx *ctx, const struct bm_metric_batch *b)
{
	(void)ctx;
	th.metrics += b->n_samples;
	return 0;
}

static int th_route(struct bm_ctx *ctx, const char *path, unsigned flags, bm_http_cb cb, void *u)
{
	(void)ctx;
	(void)path;
	(void)flags;
	(void)cb;
	(void)u;
	th.routes++;
	return 0;
}

/* PromQL: `up == 0` gives two series, `sum by (job) (up)` one, anything
 * else fails to parse. */
static long th_promql(struct bm_ctx *ctx, const char *expr, int64_t start, int64_t end,
		      int64_t step, bm_promql_cb cb, void *user, char *err, size_t errlen)
{
	(void)ctx;
	(void)end;
	(void)step;
	struct bm_label a[] = {{"instance", "h1"}, {"job", "node"}};
	struct bm_label b[] = {{"instance", "h2"}, {"job", "node"}};
	int64_t ts = start;
	double zero = 0, three = 3;
	th.promql_calls++;
	if (strcmp(expr, "up == 0") == 0) {
		struct bm_promql_series s1 = {BM_PROMQL_VECTOR, "up", a, 2, &ts, &zero, 1, NULL};
		struct bm_promql_series s2 = {BM_PROMQL_VECTOR, "up", b, 2, &ts, &zero, 1, NULL};
		cb(user, &s1);
		cb(user, &s2);
		return 2;
	}
	if (strcmp(expr, "sum by (job) (up)") == 0) {
		struct bm_promql_series s = {BM_PROMQL_VECTOR, NULL, &a[1], 1, &ts,
					     &three,	       1,    NULL};
		cb(user, &s);
		return 1;
	}
	snprintf(err, errlen, "1:1: parse error");
	return BM_EINVAL;
}

static void host_setup(bool promql)
{
	th = (typeof(th)){0};
	th.api = *fakehost_api();
	th.api.publish = th_publish;
	th.api.publish_metrics = th_publish_metrics;
	th.api.http_route = th_route;
	fakereq_install(&th.api);
	th.api.promql = promql ? th_promql : NULL;
	bm__host_api = &th.api;
	fakehost_set_now(T);
}

/* Call handler cb with a request (path may carry ?query) that must be
 * answered want_status; returns the parsed reply (decref it). */
static json_t *call(bm_http_cb cb, struct alerts *a, const char *method, const char *path,
		    const char *body, int want_status)
{
	char full[512];
	int status;
	const char *q = strchr(path, '?');
	snprintf(full, sizeof(full), "%.*s", (int)(q ? (size_t)(q - path) : strlen(path)), path);
	json_t *j = fakereq_call(cb, a, method, full, q ? q + 1 : NULL, body, &status);
	assert_non_null(j);
	assert_int_equal(status, want_status);
	return j;
}

/* call, the reply dropped. */
static void expect_status(bm_http_cb cb, struct alerts *a, const char *method, const char *path,
			  const char *body, int want_status)
{
	json_decref(call(cb, a, method, path, body, want_status));
}

static const char *jstr(const json_t *j, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	const json_t *cur = j;
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur;
	     k = strtok_r(NULL, ".", &save))
		cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(k))
					 : json_object_get(cur, k);
	return json_string_value(cur);
}

/* call answered 400, naming field as the one at fault; returns the reply
 * (decref it). */
static json_t *expect_field(bm_http_cb cb, struct alerts *a, const char *method, const char *path,
			    const char *body, const char *field)
{
	json_t *j = call(cb, a, method, path, body, 400);
	assert_string_equal(jstr(j, "field"), field);
	return j;
}

/* --- an instance from a config ------------------------------------------------ */

static char dir[64];

/* conf = the instance named alerts of the shipped config, its state in
 * dir, with one more override (or NULL). */
static void shipped_conf(struct alerts_conf *conf, const char *extra)
{
	char path[512], set[256];
	struct cfg_errs errs = {0};
	snprintf(path, sizeof(path), "%s/conf/bearmon.conf", getenv("BM_SOURCE_DIR"));
	snprintf(set, sizeof(set), "alerts.state_file=%s/state.json", dir);
	char *sets[] = {set, (char *)extra};
	struct cfg *cfg = cfg_load(path, sets, extra ? 2 : 1, &errs);
	assert_non_null(cfg);
	const struct cfg_instance *in = cfg_find_instance(cfg, "alerts");
	assert_non_null(in);
	assert_string_equal(in->kind, "analyzer");
	assert_true(in->enabled);
	memset(conf, 0, sizeof(*conf));
	size_t bad = cfg_fill_instance(in, alerts_options, conf, &errs);
	if (bad)
		fail_msg("conf/conf.d/alerts.conf: %s", errs.lines[errs.n - 1]);
	cfg_errs_free(&errs);
	cfg_free(cfg);
}

static struct alerts *from_shipped_config(struct alerts_conf *conf)
{
	shipped_conf(conf, NULL);
	return pt_init(&alerts_ops, conf);
}

/* A conf of defaults, its state in dir, plus rules given as JSON through
 * the API afterwards. */
static struct alerts *plain(struct alerts_conf *conf)
{
	char path[256];
	memset(conf, 0, sizeof(*conf));
	pt_conf_defaults(alerts_options, conf);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	pt_set_str(&conf->state_file, path);
	return pt_init(&alerts_ops, conf);
}

static int setup(void **st)
{
	(void)st;
	pt_mkdtemp(dir, sizeof(dir), "alerts-pt");
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	pt_rm_tree(dir);
	return 0;
}

static size_t firing(struct alerts *a, const char *rule_id)
{
	json_t *l = al_engine_alerts_json(a->eng, "firing", rule_id);
	size_t n = json_array_size(l);
	json_decref(l);
	return n;
}

static void sample(struct alerts *a, const char *name, struct bm_label *l, uint32_t n, int64_t t,
		   double v)
{
	bm_labels_sort(l, n);
	al_engine_sample(a->eng, name, l, n, t, v, t);
}

/* --- the stock rules ------------------------------------------------------------ */

static void stock_filesystem(struct alerts *a)
{
	struct bm_label l[] = {{"device", "sda1"}, {"fstype", "ext4"}, {"mountpoint", "/"}};
	struct bm_label tmp[] = {{"device", "tmpfs"}, {"fstype", "tmpfs"}, {"mountpoint", "/run"}};
	struct bm_forecast_event f = {.series = {"node_filesystem_avail_bytes", l, 3}, .ts_ms = T,
				      .model = "linear", .has_threshold = true,
				      .cross = BM_CROSS_BELOW, .time_to_threshold_ms = 7 * 3600000};
	al_engine_forecast(a->eng, &f, T);
	f.series.labels = tmp;
	al_engine_forecast(a->eng, &f, T);
	assert_int_equal(firing(a, "stock.filesystem_full_8h"), 1); /* tmpfs is left out */
}

static void stock_pressure(struct alerts *a, const char *resource, const char *id, double v,
			   int64_t for_ms)
{
	struct bm_label l[] = {{"kind", "some"}, {"resource", resource}, {"window", "60s"}};
	for (int64_t t = T; t < T + for_ms; t += 10 * S)
		sample(a, "bearmon_pressure_avg_ratio", l, 3, t, v);
	assert_int_equal(firing(a, id), 0);
	sample(a, "bearmon_pressure_avg_ratio", l, 3, T + for_ms, v);
	assert_int_equal(firing(a, id), 1);
}

static void stock_rules(void **st)
{
	(void)st;
	struct alerts_conf conf;
	host_setup(false);
	struct alerts *a = from_shipped_config(&conf);
	assert_int_equal(al_engine_rule_count(a->eng), 8);
	stock_filesystem(a);
	stock_pressure(a, "memory", "stock.memory_pressure", 0.25, 5 * M);
	stock_pressure(a, "cpu", "stock.cpu_saturation", 0.6, 10 * M);
	struct bm_label none[1];
	sample(a, "node_vmstat_oom_kill", none, 0, T, 3);
	sample(a, "node_vmstat_oom_kill", none, 0, T + 10 * S, 3);
	assert_int_equal(firing(a, "stock.oom_kill"), 0);
	sample(a, "node_vmstat_oom_kill", none, 0, T + 20 * S, 4);
	assert_int_equal(firing(a, "stock.oom_kill"), 1);
	struct bm_label agent[] = {{"agent_id", "planner-1"}};
	sample(a, "agent_error_ratio", agent, 1, T, 0.06);
	sample(a, "agent_error_ratio", agent, 1, T + 5 * M, 0.06);
	assert_int_equal(firing(a, "stock.agent_error_rate"), 1);
	sample(a, "agent_up", agent, 1, T, 0);
	sample(a, "agent_up", agent, 1, T + M, 0);
	assert_int_equal(firing(a, "stock.agent_heartbeats"), 1);
	struct bm_label target[] = {{"instance", "10.0.0.1:9100"}, {"job", "node"}};
	sample(a, "up", target, 2, T, 0);
	sample(a, "up", target, 2, T + 2 * M, 0);
	assert_int_equal(firing(a, "stock.scrape_target_down"), 1);
	struct bm_label sub[] = {
	    {"policy", "drop_oldest"}, {"subscriber", "x"}, {"topic", "metric"}};
	sample(a, "bearmon_bus_dropped_total", sub, 3, T, 10);
	sample(a, "bearmon_bus_delivered_total", sub, 3, T, 10);
	sample(a, "bearmon_bus_delivered_total", sub, 3, T + 10 * S, 20);
	assert_int_equal(firing(a, "stock.bearmon_drops"), 0);
	sample(a, "bearmon_bus_dropped_total", sub, 3, T + 10 * S, 12);
	assert_int_equal(firing(a, "stock.bearmon_drops"), 1);
	/* grouped stock rules tell the notifiers per group after group_wait */
	al_engine_tick(a->eng, T + 3 * M);
	flush_outbox(a);
	assert_true(th.alerts > 8);
	pt_close(&alerts_ops, alerts_options, a, &conf);
}

/* --- the API ------------------------------------------------------------------------ */

static void api_rules(void **st)
{
	(void)st;
	struct alerts_conf conf;
	host_setup(false);
	struct alerts *a = from_shipped_config(&conf);
	assert_int_equal(alerts_api_register(a, &(struct bm_err){0}), 0);
	assert_int_equal(th.routes, 8); /* 6 of its own, /api/v1/alerts and /api/v1/rules */
	json_t *j = call(h_rules, a, "POST", "/api/bearmon/v1/rules",
			 "{\"id\":\"r1\",\"name\":\"Tg\",\"metric\":\"tg{series=\\\"1\\\"}\","
			 "\"condition\":\"gt\",\"threshold\":0,\"expires\":\"1h\"}",
			 201);
	assert_string_equal(jstr(j, "rule.source"), "api");
	json_decref(j);
	j = expect_field(h_rules, a, "POST", "/api/bearmon/v1/rules",
			 "{\"name\":\"Bad\",\"metric\":\"tg\",\"condition\":\"gt\","
			 "\"threshold\":\"x\"}",
			 "threshold");
	assert_non_null(strstr(jstr(j, "error"), "threshold"));
	json_decref(j);
	json_decref(expect_field(h_rules, a, "POST", "/api/bearmon/v1/rules", "{not json", "body"));
	expect_status(h_rules, a, "POST", "/api/bearmon/v1/rules",
		      "{\"id\":\"r1\",\"name\":\"Tg\",\"metric\":\"tg\",\"condition\":\"gt\","
		      "\"threshold\":0}",
		      409);
	j = call(h_rules, a, "GET", "/api/bearmon/v1/rules", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "rules")), 9);
	json_decref(j);
	j = call(h_rule, a, "PUT", "/api/bearmon/v1/rules/r1",
		 "{\"name\":\"Tg\",\"metric\":\"tg\",\"condition\":\"lt\",\"threshold\":5}", 200);
	assert_string_equal(jstr(j, "rule.condition"), "lt");
	json_decref(j);
	json_decref(expect_field(h_rule, a, "PUT", "/api/bearmon/v1/rules/r1",
				 "{\"name\":\"Tg\",\"metric\":\"tg\",\"condition\":\"lt\"}",
				 "threshold"));
	/* config rules change in the config */
	expect_status(h_rule, a, "DELETE", "/api/bearmon/v1/rules/stock.oom_kill", NULL, 409);
	expect_status(h_rule, a, "DELETE", "/api/bearmon/v1/rules/r1", NULL, 200);
	expect_status(h_rule, a, "GET", "/api/bearmon/v1/rules/r1", NULL, 404);
	expect_status(h_rules, a, "PATCH", "/api/bearmon/v1/rules", NULL, 405);
	pt_close(&alerts_ops, alerts_options, a, &conf);
}

/* A plain instance with the rule hot (temp > 50) firing for zone a. */
static struct alerts *hot_firing(struct alerts_conf *conf)
{
	host_setup(false);
	struct alerts *a = plain(conf);
	expect_status(h_rules, a, "POST", "/api/bearmon/v1/rules",
		      "{\"id\":\"hot\",\"name\":\"Hot\",\"metric\":\"temp\",\"condition\":\"gt\","
		      "\"threshold\":50}",
		      201);
	struct bm_label l[] = {{"zone", "a"}};
	sample(a, "temp", l, 1, T, 60);
	return a;
}

static void api_alerts_ack_silences(void **st)
{
	(void)st;
	struct alerts_conf conf;
	char path[128];
	struct alerts *a = hot_firing(&conf);
	json_t *j = call(h_alerts, a, "GET", "/api/bearmon/v1/alerts?state=firing", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "alerts")), 1);
	char fp[17];
	snprintf(fp, sizeof(fp), "%s", jstr(j, "alerts.0.fingerprint"));
	json_decref(j);
	expect_status(h_alerts, a, "GET", "/api/bearmon/v1/alerts?state=bogus", NULL, 400);
	snprintf(path, sizeof(path), "/api/bearmon/v1/alerts/%s/ack", fp);
	json_decref(expect_field(h_alert, a, "POST", path, "{\"comment\":\"x\"}", "by"));
	json_decref(expect_field(h_alert, a, "POST", path,
				 "{\"by\":\"user:alice\",\"expires\":\"yesterday\"}", "expires"));
	j = call(h_alert, a, "POST", path,
		 "{\"who\":\"user:alice\",\"comment\":\"on it\",\"expires\":\"2h\"}", 200);
	assert_string_equal(jstr(j, "alert.ack.by"), "user:alice");
	json_decref(j);
	expect_status(h_alert, a, "POST", "/api/bearmon/v1/alerts/0000000000000000/ack",
		      "{\"by\":\"x\"}", 404);
	expect_status(h_alert, a, "DELETE", path, NULL, 200);
	flush_outbox(a);
	assert_int_equal(th.alerts, 3); /* fired, acknowledged, acknowledgement withdrawn */
	j = call(h_silences, a, "POST", "/api/bearmon/v1/silences",
		 "{\"matchers\":\"{zone=\\\"a\\\"}\",\"duration\":\"1h\",\"comment\":\"m\"}", 201);
	char sid[64], spath[128];
	snprintf(sid, sizeof(sid), "%s", jstr(j, "silence.id"));
	json_decref(j);
	json_decref(expect_field(h_silences, a, "POST", "/api/bearmon/v1/silences",
				 "{\"duration\":\"1h\"}", "matchers"));
	al_engine_tick(a->eng, T + S);
	j = call(h_alerts, a, "GET", "/api/bearmon/v1/alerts", NULL, 200);
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(j, "alerts"), 0),
						 "silenced")));
	json_decref(j);
	snprintf(spath, sizeof(spath), "/api/bearmon/v1/silences/%s", sid);
	j = call(h_silence, a, "DELETE", spath, NULL, 200);
	assert_string_equal(jstr(j, "silence.state"), "expired");
	json_decref(j);
	expect_status(h_silence, a, "GET", "/api/bearmon/v1/silences/nope", NULL, 404);
	pt_close(&alerts_ops, alerts_options, a, &conf);
}

static const char prom_rules[] = "groups:\n"
				 "  - name: node\n"
				 "    rules:\n"
				 "      - alert: HostDown\n"
				 "        expr: up == 0\n"
				 "        labels: {severity: critical}\n"
				 "      - record: job:up:sum\n"
				 "        expr: sum by (job) (up)\n";

static void import_without_promql(void **st)
{
	(void)st;
	struct alerts_conf conf;
	host_setup(false);
	struct alerts *a = plain(&conf);
	json_t *j = call(h_rule, a, "POST", "/api/bearmon/v1/rules/import", prom_rules, 501);
	assert_non_null(strstr(jstr(j, "error"), "PromQL engine not available"));
	json_decref(j);
	json_decref(expect_field(h_rules, a, "POST", "/api/bearmon/v1/rules",
				 "{\"name\":\"P\",\"condition\":\"promql\",\"expr\":\"up == 0\"}",
				 "condition"));
	pt_close(&alerts_ops, alerts_options, a, &conf);
}

static void promql_through_host(void **st)
{
	(void)st;
	struct alerts_conf conf;
	host_setup(true);
	struct alerts *a = plain(&conf);
	json_t *j = call(h_rule, a, "POST", "/api/bearmon/v1/rules/import?origin=node.yml",
			 prom_rules, 200);
	assert_int_equal(json_array_size(json_object_get(j, "imported")), 2);
	json_decref(j);
	expect_status(h_rule, a, "POST", "/api/bearmon/v1/rules/import", "groups: [{name: x}]",
		      400);
	expect_status(h_rules, a, "POST", "/api/bearmon/v1/rules",
		      "{\"id\":\"broken\",\"name\":\"B\",\"condition\":\"promql\","
		      "\"expr\":\"up ==\"}",
		      201);
	run_promql(a, T);
	assert_int_equal(th.promql_calls, 3);
	assert_int_equal(firing(a, "node:HostDown"), 2);
	assert_int_equal(al_engine_stats(a->eng)->promql_errors, 1);
	flush_outbox(a);
	assert_int_equal(th.alerts, 2);
	assert_int_equal(th.metrics, 1); /* job:up:sum{job="node"} */
	pt_close(&alerts_ops, alerts_options, a, &conf);
}

static void restart_keeps_alerts(void **st)
{
	(void)st;
	struct alerts_conf conf;
	struct alerts *a = hot_firing(&conf);
	save_state(a, T, true);
	assert_int_equal(a->st.state_writes, 1);
	pt_fini(&alerts_ops, a);
	a = pt_init(&alerts_ops, &conf); /* the restart */
	assert_int_equal(firing(a, "hot"), 1);
	assert_non_null(al_engine_rule(a->eng, "hot"));
	pt_close(&alerts_ops, alerts_options, a, &conf);
}

static void bad_config_rule(void **st)
{
	(void)st;
	struct alerts_conf conf;
	host_setup(false);
	shipped_conf(&conf, "alerts.rules.3.metric=node_vmstat_oom_kill{");
	pt_init_err(&alerts_ops, &conf, BM_EINVAL, "rules.3 (OomKill)", "metric", NULL);
	pt_conf_release(alerts_options, &conf);
	fakehost_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stock_rules),
		cmocka_unit_test(api_rules),
		cmocka_unit_test(api_alerts_ack_silences),
		cmocka_unit_test(import_without_promql),
		cmocka_unit_test(promql_through_host),
		cmocka_unit_test(restart_keeps_alerts),
		cmocka_unit_test(bad_config_rule),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
