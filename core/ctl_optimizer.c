/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl plan | apply ID | rollback ID | history (see ctl_optimizer.h):
 * aligned tables for people, the daemon's JSON with --json. The daemon is
 * found as the other commands find it (ctl_http.h): --url, or http.listen
 * and the admin token of -c CONFIG; apply and rollback need that token
 * wherever the daemon has tokens.
 */
#define _GNU_SOURCE
#include "ctl_optimizer.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_http.h"
#include "table.h"

#define API "/api/bearmon/v1"

static const char *const commands[] = {"plan", "apply", "rollback", "history", NULL};

struct co {
	struct ctl_target target; /* --url, -c, --json */
	const char *by;
	long limit;
	const char *cmd;
	const char *id;
	struct ctl_http http;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bearmonctl [--url URL | -c CONFIG] [--json] plan\n"
		"       bearmonctl [--url URL | -c CONFIG] [--json] [--by WHO] apply ID\n"
		"       bearmonctl [--url URL | -c CONFIG] [--json] [--by WHO] rollback ID\n"
		"       bearmonctl [--url URL | -c CONFIG] [--json] history [--limit N]\n"
		"\n"
		"  plan      the optimizer's current plan (steps, simulated impact, why, the\n"
		"            approval gate), every candidate with its score or why it is out,\n"
		"            lower/target/upper resource recommendations, held targets\n"
		"  apply     carry out a planned action, or every step of a plan (ID from plan);\n"
		"            only actuators the engine's config allows ever run\n"
		"  rollback  restore what an executed action (or a plan's steps) changed, exactly\n"
		"  history   executed, rolled back and failed actions with their before/after\n"
		"            values and measured effect, newest first (default 20)\n"
		"\n"
		"  --by WHO  recorded as who approved (default: your login name)\n"
		"exit: 0 ok, 1 refused or failed, 2 usage error, 3 daemon unreachable\n");
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "bearmonctl: %s%s%s\n(bearmonctl plan --help for usage)\n", what,
		arg ? " " : "", arg ? arg : "");
	return CTL_USAGE;
}

bool ctl_optimizer_handles(int argc, char **argv)
{
	const char *word = ctl_command_word(argc, argv);
	return word && ctl_word_in(word, commands);
}

static int parse(int argc, char **argv, struct co *c)
{
	static const struct option longopts[] = {
		{"url", required_argument, NULL, 'u'}, {"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},      {"limit", required_argument, NULL, 'n'},
		{"by", required_argument, NULL, 'b'},  {"help", no_argument, NULL, 'h'},
		{0},
	};
	int opt;
	char *end;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "u:c:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b': c->by = optarg; break;
		case 'n':
			c->limit = strtol(optarg, &end, 10);
			if (*end || c->limit < 1 || c->limit > 10000)
				return usage_error("--limit wants 1..10000, got", optarg);
			break;
		case 'h': c->cmd = "help"; return CTL_OK;
		default:
			if (!ctl_target_option(&c->target, opt, optarg))
				return usage_error("invalid option", NULL);
		}
	}
	if (optind >= argc || !ctl_word_in(argv[optind], commands))
		return usage_error("missing command", NULL);
	c->cmd = argv[optind++];
	bool needs_id = strcmp(c->cmd, "apply") == 0 || strcmp(c->cmd, "rollback") == 0;
	if (needs_id && optind < argc)
		c->id = argv[optind++];
	else if (needs_id)
		return usage_error(c->cmd, "needs an action or plan ID (see bearmonctl plan)");
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (c->target.url_opt && c->target.config)
		return usage_error("--url and -c both name the daemon: give one", NULL);
	return CTL_OK;
}

/* --- formatting --------------------------------------------------------------- */

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : "-";
}

static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* "k=v, k2=v2" of a JSON object of strings. */
static void kv_text(const json_t *o, char *buf, size_t n)
{
	const char *k;
	json_t *v;
	size_t used = 0;
	buf[0] = '\0';
	json_object_foreach((json_t *)o, k, v)
	{
		int w = snprintf(buf + used, used < n ? n - used : 0, "%s%s=%s", used ? ", " : "", k,
				 json_string_value(v) ? json_string_value(v) : "?");
		used += w > 0 ? (size_t)w : 0;
	}
	if (!used)
		snprintf(buf, n, "-");
}

/* "metric +12.3%, ..." of an array of impacts (rel_change). */
static void impacts_text(const json_t *arr, char *buf, size_t n)
{
	size_t used = 0, i;
	json_t *v;
	buf[0] = '\0';
	json_array_foreach(arr, i, v)
	{
		double u = num(v, "uncertainty");
		int w = snprintf(buf + used, used < n ? n - used : 0, "%s%s %+.1f%%", used ? ", " : "",
				 str(v, "metric"), num(v, "rel_change") * 100);
		used += w > 0 ? (size_t)w : 0;
		if (u > 0 && used < n) {
			w = snprintf(buf + used, n - used, " +- %.1f%%", u * 100);
			used += w > 0 ? (size_t)w : 0;
		}
	}
	if (!used)
		snprintf(buf, n, "-");
}

static void when(long long ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (ms <= 0 || !localtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, n, "-");
}

static void print_steps(const json_t *steps)
{
	struct table t = {.ncols = 6, .align = "llllll"};
	size_t i;
	json_t *s;
	char params[256], sim[512];
	table_cell(&t, "ACTION");
	table_cell(&t, "STATE");
	table_cell(&t, "ACTUATOR");
	table_cell(&t, "TARGET");
	table_cell(&t, "CHANGE");
	table_cell(&t, "SIMULATED");
	json_array_foreach(steps, i, s)
	{
		kv_text(json_object_get(s, "params"), params, sizeof(params));
		impacts_text(json_object_get(s, "simulated"), sim, sizeof(sim));
		table_cell(&t, "%s", str(s, "id"));
		table_cell(&t, "%s", str(s, "state"));
		table_cell(&t, "%s", str(s, "actuator"));
		table_cell(&t, "%s", str(s, "target"));
		table_cell(&t, "%s", params);
		table_cell(&t, "%s", sim);
	}
	table_print(stdout, &t, "  ");
}

static void print_candidates(const json_t *cands)
{
	struct table t = {.ncols = 7, .align = "lllrrrl"};
	size_t i;
	json_t *c;
	if (!json_array_size(cands)) {
		printf("\nno candidates\n");
		return;
	}
	printf("\ncandidates:\n");
	table_cell(&t, "CANDIDATE");
	table_cell(&t, "DIMENSION");
	table_cell(&t, "ACTION");
	table_cell(&t, "BENEFIT");
	table_cell(&t, "RISK");
	table_cell(&t, "SCORE");
	table_cell(&t, "STATUS");
	json_array_foreach(cands, i, c)
	{
		char params[256];
		bool ok = json_is_true(json_object_get(c, "eligible"));
		kv_text(json_object_get(c, "params"), params, sizeof(params));
		table_cell(&t, "%s/%s", str(c, "optimizer"), str(c, "id"));
		table_cell(&t, "%s", str(c, "dimension"));
		table_cell(&t, "%s %s (%s)", str(c, "actuator"), str(c, "target"), params);
		table_cell(&t, ok ? "%.2f" : "-", num(c, "benefit"));
		table_cell(&t, ok ? "%.2f" : "-", num(c, "risk"));
		table_cell(&t, ok ? "%.3f" : "-", num(c, "score"));
		table_cell(&t, "%s", ok ? "eligible" : str(c, "why_not"));
	}
	table_print(stdout, &t, "  ");
}

static void print_resources(const json_t *res)
{
	struct table t = {.ncols = 7, .align = "llrrrrl"};
	size_t i;
	json_t *r;
	if (!json_array_size(res))
		return;
	printf("\nresource recommendations (lower / target / upper):\n");
	table_cell(&t, "SUBJECT");
	table_cell(&t, "RESOURCE");
	table_cell(&t, "LOWER");
	table_cell(&t, "TARGET");
	table_cell(&t, "UPPER");
	table_cell(&t, "LIMIT");
	table_cell(&t, "HISTORY");
	json_array_foreach(res, i, r)
	{
		bool mem = strcmp(str(r, "resource"), "memory") == 0;
		const char *fmt = mem ? "%.0f" : "%.3f";
		const json_t *lim = json_object_get(r, "current_limit");
		table_cell(&t, "%s", str(r, "subject"));
		table_cell(&t, "%s", mem ? "memory (bytes)" : "cpu (cores)");
		table_cell(&t, fmt, num(r, "lower"));
		table_cell(&t, fmt, num(r, "target"));
		table_cell(&t, fmt, num(r, "upper"));
		if (json_is_string(lim))
			table_cell(&t, "%s", json_string_value(lim));
		else if (json_is_number(lim))
			table_cell(&t, "%.0f", json_number_value(lim));
		else
			table_cell(&t, "-");
		table_cell(&t, "%.2f d, %lld samples", num(r, "days"),
			   (long long)json_integer_value(json_object_get(r, "samples")));
	}
	table_print(stdout, &t, "  ");
}

static void print_plan(const json_t *doc)
{
	const json_t *p = json_object_get(doc, "plan");
	size_t i;
	json_t *h;
	printf("optimizer: mode %s, strategy %s%s\n", str(doc, "mode"), str(doc, "strategy"),
	       json_is_true(json_object_get(doc, "running")) ? ", a plan is being executed" : "");
	if (!json_is_object(p)) {
		printf("\nno plan: no eligible candidate\n");
	} else {
		printf("\nplan %s: %s\n  benefit %.2f +- %.2f, risk %.2f, score %.3f\n\n",
		       str(p, "id"), str(p, "gate"), num(p, "benefit"), num(p, "uncertainty"),
		       num(p, "risk"), num(p, "score"));
		print_steps(json_object_get(p, "steps"));
		printf("\nwhy:\n");
		for (const char *w = str(p, "why"); *w;) {
			size_t len = strcspn(w, "\n");
			printf("  %.*s\n", (int)len, w);
			w += len + (w[len] == '\n');
		}
	}
	print_candidates(json_object_get(doc, "candidates"));
	print_resources(json_object_get(doc, "resources"));
	json_array_foreach(json_object_get(doc, "holds"), i, h)
	{
		char t[32];
		when((long long)num(h, "until_ms"), t, sizeof(t));
		printf("%sheld until %s: %s\n", i ? "" : "\n", t, str(h, "subject"));
	}
}

/* --- commands --------------------------------------------------------------- */

static int cmd_plan(const struct co *c)
{
	struct ctl_reply r = {0};
	json_t *doc = NULL;
	int rc = ctl_http_json(&c->http, "GET", API "/plan", &r, &doc);
	if (!rc && r.status == 404)
		fprintf(stderr, "bearmonctl: no optimizer engine in this bearmond (no %s)\n",
			API "/plan");
	if (!rc && r.status != 200)
		rc = r.status == 404 ? CTL_FAIL : ctl_http_failed(&c->http, API "/plan", &r, doc);
	else if (!rc && c->target.json)
		ctl_reply_print(&r);
	else if (!rc)
		print_plan(doc);
	json_decref(doc);
	ctl_reply_free(&r);
	return rc;
}

static const char *login_name(void)
{
	const char *u = getenv("USER");
	struct passwd *pw = u && *u ? NULL : getpwuid(getuid());
	return u && *u ? u : pw ? pw->pw_name : "unknown";
}

static int cmd_change(const struct co *c)
{
	char path[512], *by = curl_easy_escape(NULL, c->by ? c->by : login_name(), 0);
	char *id = curl_easy_escape(NULL, c->id, 0);
	struct ctl_reply r = {0};
	json_t *doc = NULL;
	snprintf(path, sizeof(path), API "/actions/%s/%s?by=%s", id ? id : "", c->cmd,
		 by ? by : "unknown");
	curl_free(by);
	curl_free(id);
	int rc = ctl_http_send(&c->http, "POST", path, "", 0, &r);
	if (!rc)
		doc = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
	if (!rc && r.status != 200 && r.status != 202) {
		rc = ctl_http_failed(&c->http, path, &r, doc);
	} else if (!rc && c->target.json) {
		ctl_reply_print(&r);
	} else if (!rc) {
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(doc, "actions"), i, a)
		{
			char before[256], after[256];
			kv_text(json_object_get(a, "before"), before, sizeof(before));
			kv_text(json_object_get(a, "after"), after, sizeof(after));
			printf("%s: %s, %s %s: %s -> %s%s%s\n", str(a, "id"), str(a, "state"),
			       str(a, "actuator"), str(a, "target"), before, after,
			       *str(a, "error") != '-' ? "; " : "",
			       *str(a, "error") != '-' ? str(a, "error") : "");
		}
		if (json_is_true(json_object_get(doc, "pending")))
			printf("in progress: waiting for an acknowledgement; see bearmonctl history\n");
	}
	json_decref(doc);
	ctl_reply_free(&r);
	return rc;
}

static void print_history(const json_t *events)
{
	struct table t = {.ncols = 8, .align = "llllllll"};
	size_t i;
	json_t *row;
	table_cell(&t, "TIME");
	table_cell(&t, "ACTION");
	table_cell(&t, "STATE");
	table_cell(&t, "ACTUATOR TARGET");
	table_cell(&t, "BEFORE -> AFTER");
	table_cell(&t, "MEASURED");
	table_cell(&t, "BY");
	table_cell(&t, "REASON");
	json_array_foreach(events, i, row)
	{
		const json_t *e = json_object_get(row, "event");
		const json_t *spec = json_object_get(e, "action");
		char t0[32], before[200], after[200], measured[300];
		when((long long)num(row, "ts_ms"), t0, sizeof(t0));
		kv_text(json_object_get(e, "before"), before, sizeof(before));
		kv_text(json_object_get(e, "after"), after, sizeof(after));
		impacts_text(json_object_get(e, "measured"), measured, sizeof(measured));
		table_cell(&t, "%s", t0);
		table_cell(&t, "%s", str(e, "id"));
		table_cell(&t, "%s%s", str(e, "state"),
			   json_is_true(json_object_get(e, "dry_run")) ? " (dry run)" : "");
		table_cell(&t, "%s %s", str(spec, "actuator"), str(spec, "target"));
		table_cell(&t, "%s -> %s", before, after);
		table_cell(&t, "%s", measured);
		table_cell(&t, "%s", str(e, "approved_by"));
		table_cell(&t, "%s", *str(e, "error") != '-' ? str(e, "error") : str(e, "reason"));
	}
	table_print(stdout, &t, "");
}

static int cmd_history(const struct co *c)
{
	char path[256];
	struct ctl_reply r = {0};
	json_t *doc = NULL;
	snprintf(path, sizeof(path), API "/actions/history?limit=%ld", c->limit ? c->limit : 20);
	int rc = ctl_http_json(&c->http, "GET", path, &r, &doc);
	if (!rc && r.status != 200)
		rc = ctl_http_failed(&c->http, path, &r, doc);
	else if (!rc && c->target.json)
		ctl_reply_print(&r);
	else if (!rc && !json_array_size(json_object_get(doc, "events")))
		printf("no action in the history\n");
	else if (!rc)
		print_history(json_object_get(doc, "events"));
	json_decref(doc);
	ctl_reply_free(&r);
	return rc;
}

int ctl_optimizer_main(int argc, char **argv)
{
	struct co c = {0};
	int rc = parse(argc, argv, &c);
	if (rc)
		return rc;
	if (strcmp(c.cmd, "help") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	if ((rc = ctl_http_resolve(&c.http, c.target.url_opt, c.target.config)))
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "bearmonctl: cannot initialise libcurl\n");
		return CTL_FAIL;
	}
	if (strcmp(c.cmd, "plan") == 0)
		rc = cmd_plan(&c);
	else if (strcmp(c.cmd, "history") == 0)
		rc = cmd_history(&c);
	else
		rc = cmd_change(&c);
	curl_global_cleanup();
	return rc;
}
