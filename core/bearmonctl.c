/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl: the command-line client. Talks to a running bearmond over its
 * JSON API (status, plugins, reload) and checks configs and plugin files
 * in-process (check-config, check-plugin), for people and for scripts.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conformance.h"
#include "ctl_http.h"
#include "table.h"
#include "daemon.h"
#include "plugin_loader.h"
#include "replay.h"
#include "ctl_alerts.h"
#include "ctl_view.h"
#include "ctl_optimizer.h"

#define API		"/api/bearmon/v1"

/* Exit codes, documented in the usage text. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

struct ctl {
	const char *start; /* export: ms since the epoch */
	const char *end;
	struct ctl_target target; /* --url, -c, --json */
	char **sets;
	size_t n_sets;
	int64_t deadline_ms;
	const char *cmd;
	const char *file;
	struct ctl_http http; /* the daemon: URL, token, certificate */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bearmonctl [--url URL | -c CONFIG] [--json] status\n"
		"       bearmonctl [--url URL | -c CONFIG] [--json] plugins\n"
		"       bearmonctl [--url URL | -c CONFIG] [--json] reload\n"
		"       bearmonctl [--json] check-config FILE [--set KEY=VALUE]...\n"
		"       bearmonctl [--json] [--deadline DURATION] check-plugin FILE.so [--set "
		"OPTION=VALUE]...\n"
		"       bearmonctl -c CONFIG backup FILE\n"
		"       bearmonctl [--url URL | -c CONFIG] [--start MS] [--end MS] export NAME|/REGEX/\n"
		"       bearmonctl [--url URL | -c CONFIG] import FILE\n"
		"       bearmonctl [--url URL | -c CONFIG] delete NAME|/REGEX/\n"
		"       bearmonctl replay --analyzer NAME [--config FILE] --input CSV --output CSV\n"
		"       " CTL_VIEW_SYNOPSIS
		"\n"
		"  status        the daemon's version, uptime, instances and bus queues\n"
		"  plugins       every instance: state, version, collection counters, errors\n"
		"  reload        re-read the daemon's config (a config with errors is rejected)\n"
		"  check-config  validate a config file and its plugins' options, in-process\n"
		"  check-plugin  load a plugin file alone and run the conformance checks:\n"
		"                descriptor, init/start/collect/stop/fini twice in a child\n"
		"                process, heap growth, unknown option rejected\n"
		"  backup        an online, consistent copy of the store (sqlite backup API),\n"
		"                checked with integrity_check\n"
		"  export        the series named NAME (or matching /REGEX/) as OpenMetrics text\n"
		"  import        backfill OpenMetrics or Prometheus text from FILE (- for stdin)\n"
		"  delete        delete the series named NAME (or matching /REGEX/) and their data\n"
		"  replay        score a timestamp,value CSV offline with an analyzer plugin\n"
		"                (bearmonctl replay --help)\n"
		"  series        series in the store, by name, /regex/ and label values\n"
		"  query         a PromQL query, instant or over a range (/api/v1/query)\n"
		"  agents        the agent registry, with each agent's throughput, p95, errors\n"
		"  anomalies, recommendations, actions\n"
		"                the newest stored anomalies, optimizer plans, executed actions\n"
		"  events        the newest stored events of one topic (anomaly, trend, ...)\n"
		"  top           a live full-screen view of the host, processes, agents and\n"
		"                findings; q or Ctrl-C quits (bearmonctl top --help)\n"
		"\n"
		"  -u, --url URL            daemon API (default " CTL_DEFAULT_URL ")\n"
		"  -c, --config CONFIG      take the URL from http.listen in CONFIG\n"
		"  -j, --json               machine-readable output\n"
		"  -s, --set KEY=VALUE      override an option (check-config: as bearmond --set;\n"
		"                           check-plugin: an option of the plugin)\n"
		"  -d, --deadline DURATION  check-plugin: limit per hook (default 5s)\n"
		"  -V, --version            print the version\n"
		"  -h, --help               this text\n"
		"\n"
		"exit: 0 ok, 1 failure or problems found, 2 usage error, 3 daemon unreachable\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fputs("bearmonctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n(bearmonctl --help for usage)\n", stderr);
	return EXIT_USAGE;
}

/* --- aligned tables ------------------------------------------------------ */

/* --- value formatting ---------------------------------------------------- */

/* "3d 4h 5m 6s", leading zero units left out. */
static void human_duration(char *buf, size_t n, int64_t ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < 4 && used < n; i++) {
		int64_t v = ms / units[i].ms;
		ms %= units[i].ms;
		if (!v && !used && i < 3)
			continue;
		int w = snprintf(buf + used, n - used, "%s%lld%s", used ? " " : "", (long long)v,
				 units[i].unit);
		used += w > 0 ? (size_t)w : 0;
	}
}

/* Intervals as written in a config: "10s", "1m30s", "250ms". */
static void config_duration(char *buf, size_t n, int64_t ms)
{
	if (ms % 1000)
		snprintf(buf, n, "%lldms", (long long)ms);
	else if (ms >= 60000 && ms % 60000 == 0)
		snprintf(buf, n, "%lldm", (long long)(ms / 60000));
	else if (ms > 60000)
		snprintf(buf, n, "%lldm%llds", (long long)(ms / 60000),
			 (long long)(ms % 60000 / 1000));
	else
		snprintf(buf, n, "%llds", (long long)(ms / 1000));
}

static const char *str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static long long int_of(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* An integer field as text, "-" when absent (e.g. counters of a stopped
 * instance). */
static void cell_int(struct table *t, const json_t *o, const char *key)
{
	if (json_is_integer(json_object_get(o, key)))
		table_cell(t, "%lld", int_of(o, key));
	else
		table_cell(t, "-");
}

/* --- status ---------------------------------------------------------------- */

static void print_summary(const json_t *st)
{
	const json_t *inst = json_object_get(st, "instances");
	const json_t *rel = json_object_get(st, "reloads");
	const json_t *pub = json_object_get(json_object_get(st, "bus"), "published");
	struct table t = {.ncols = 2, .align = "ll"};
	char up[64];
	human_duration(up, sizeof(up), int_of(st, "uptime_ms"));
	table_cell(&t, "version");
	table_cell(&t, "%s (plugin ABI %lld.%lld)", str_of(st, "version"), int_of(st, "abi_major"),
	     int_of(st, "abi_minor"));
	table_cell(&t, "uptime");
	table_cell(&t, "%s", up);
	table_cell(&t, "config");
	table_cell(&t, "%s", str_of(st, "config"));
	table_cell(&t, "data_dir");
	table_cell(&t, "%s", str_of(st, "data_dir"));
	table_cell(&t, "instances");
	table_cell(&t, "%lld running, %lld failed, %lld total", int_of(inst, "running"),
	     int_of(inst, "failed"), int_of(inst, "total"));
	table_cell(&t, "reloads");
	table_cell(&t, "%lld ok, %lld failed", int_of(rel, "ok"), int_of(rel, "failed"));
	for (void *it = json_object_iter((json_t *)pub); it;
	     it = json_object_iter_next((json_t *)pub, it)) {
		table_cell(&t, "published");
		table_cell(&t, "%s: %lld events", json_object_iter_key(it),
		     (long long)json_integer_value(json_object_iter_value(it)));
	}
	table_print(stdout, &t, "");
}

static void print_subscriptions(const json_t *subs)
{
	struct table t = {.ncols = 6, .align = "lllrrr"};
	if (!json_array_size(subs)) {
		printf("\n(no bus subscriptions)\n");
		return;
	}
	table_cell(&t, "SUBSCRIBER");
	table_cell(&t, "TOPIC");
	table_cell(&t, "POLICY");
	table_cell(&t, "DELIVERED");
	table_cell(&t, "DROPPED");
	table_cell(&t, "DEPTH/CAP");
	for (size_t i = 0; i < json_array_size(subs); i++) {
		const json_t *s = json_array_get(subs, i);
		table_cell(&t, "%s", str_of(s, "subscriber"));
		table_cell(&t, "%s", str_of(s, "topic"));
		table_cell(&t, "%s", str_of(s, "policy"));
		table_cell(&t, "%lld", int_of(s, "delivered"));
		/* block-policy losses are timeouts, not drops: show both */
		table_cell(&t, "%lld", int_of(s, "dropped") + int_of(s, "block_timeouts"));
		table_cell(&t, "%lld/%lld", int_of(s, "depth"), int_of(s, "capacity"));
	}
	putchar('\n');
	table_print(stdout, &t, "");
}

static int cmd_status(const struct ctl *c)
{
	struct ctl_reply r = {0};
	json_t *doc = NULL;
	int rc = ctl_http_json(&c->http, "GET", API "/status", &r, &doc);
	if (!rc && r.status != 200)
		rc = ctl_http_failed(&c->http, API "/status", &r, doc);
	else if (!rc && c->target.json)
		ctl_reply_print(&r);
	else if (!rc) {
		print_summary(doc);
		print_subscriptions(json_object_get(json_object_get(doc, "bus"), "subscriptions"));
	}
	json_decref(doc);
	free(r.body);
	return rc;
}

/* --- plugins --------------------------------------------------------------- */

static void plugin_row(struct table *t, const json_t *p)
{
	char iv[32] = "-";
	if (json_is_integer(json_object_get(p, "interval_ms")))
		config_duration(iv, sizeof(iv), int_of(p, "interval_ms"));
	table_cell(t, "%s", str_of(p, "instance"));
	table_cell(t, "%s", str_of(p, "kind"));
	table_cell(t, "%s", str_of(p, "plugin"));
	table_cell(t, "%s", str_of(p, "state"));
	table_cell(t, "%s", str_of(p, "version"));
	table_cell(t, "%s", iv);
	cell_int(t, p, "collections");
	cell_int(t, p, "failures");
	cell_int(t, p, "overruns");
}

static void print_plugins(const json_t *list)
{
	struct table t = {.ncols = 9, .align = "lllllrrrr"};
	static const char *const head[] = {"INSTANCE", "KIND", "PLUGIN", "STATE", "VERSION",
					   "INTERVAL", "COLLECTIONS", "FAILURES", "OVERRUNS"};
	if (!json_array_size(list)) {
		printf("(no instances configured)\n");
		return;
	}
	for (size_t k = 0; k < 9; k++)
		table_cell(&t, "%s", head[k]);
	for (size_t i = 0; i < json_array_size(list); i++)
		plugin_row(&t, json_array_get(list, i));
	table_print(stdout, &t, "");
	/* errors are long: a line each below the table keeps it readable */
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *p = json_array_get(list, i);
		if (json_object_get(p, "error"))
			printf("error: %s: %s\n", str_of(p, "instance"), str_of(p, "error"));
		else if (json_object_get(p, "reason"))
			printf("off: %s: %s\n", str_of(p, "instance"), str_of(p, "reason"));
	}
}

static int cmd_plugins(const struct ctl *c)
{
	struct ctl_reply r = {0};
	json_t *doc = NULL;
	int rc = ctl_http_json(&c->http, "GET", API "/plugins", &r, &doc);
	if (!rc && r.status != 200)
		rc = ctl_http_failed(&c->http, API "/plugins", &r, doc);
	else if (!rc && c->target.json)
		ctl_reply_print(&r);
	else if (!rc)
		print_plugins(json_object_get(doc, "plugins"));
	json_decref(doc);
	free(r.body);
	return rc;
}

/* --- reload ---------------------------------------------------------------- */

static int cmd_reload(const struct ctl *c)
{
	struct ctl_reply r = {0};
	json_t *doc = NULL;
	int rc = ctl_http_json(&c->http, "POST", API "/reload", &r, &doc);
	if (rc)
		goto out;
	bool ok = r.status == 200 && strcmp(str_of(doc, "status"), "ok") == 0;
	if (c->target.json)
		ctl_reply_print(&r);
	else if (ok)
		printf("reloaded\n");
	else
		fprintf(stderr, "bearmonctl: reload rejected (HTTP %ld): %s\n", r.status,
			str_of(doc, "error"));
	rc = ok ? EXIT_OK : EXIT_FAIL;
out:
	json_decref(doc);
	free(r.body);
	return rc;
}

/* --- check-config ---------------------------------------------------------- */

/* daemon_check_config writes one line per problem; warnings start with
 * "warning: " and do not count. */
static void problems_json(const char *file, size_t fatal, const char *text)
{
	json_t *problems = json_array();
	json_t *warnings = json_array();
	char *copy = strdup(text ? text : "");
	char *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "warning: ", 9) == 0)
			json_array_append_new(warnings, json_string(l + 9));
		else
			json_array_append_new(problems, json_string(l));
	}
	free(copy);
	json_t *j = json_pack("{s:s, s:b, s:o, s:o}", "file", file, "ok", fatal == 0, "problems",
			      problems, "warnings", warnings);
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
}

static int cmd_check_config(const struct ctl *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	if (!mem) {
		fprintf(stderr, "bearmonctl: out of memory\n");
		return EXIT_FAIL;
	}
	size_t fatal = daemon_check_config(c->file, c->sets, c->n_sets, mem);
	fclose(mem);
	loader_exit();
	if (c->target.json) {
		problems_json(c->file, fatal, text);
	} else {
		fputs(text ? text : "", stderr);
		if (fatal)
			fprintf(stderr, "%s: %zu problem%s\n", c->file, fatal,
				fatal == 1 ? "" : "s");
		else
			printf("%s: config ok\n", c->file);
	}
	free(text);
	return fatal ? EXIT_FAIL : EXIT_OK;
}

/* --- check-plugin ---------------------------------------------------------- */

static int cmd_check_plugin(const struct ctl *c)
{
	struct conformance_opts o = {
		.path = c->file,
		.sets = c->sets,
		.n_sets = c->n_sets,
		.deadline_ms = c->deadline_ms,
	};
	struct conformance_report *r = calloc(1, sizeof(*r));
	if (!r) {
		fprintf(stderr, "bearmonctl: out of memory\n");
		return EXIT_FAIL;
	}
	int rc = conformance_run(&o, r);
	if (rc) {
		fprintf(stderr, "bearmonctl: %s: cannot run the checks: %s\n", c->file,
			bm_strerror(rc));
	} else if (c->target.json) {
		json_t *j = conformance_json(r);
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else {
		conformance_print(stdout, r);
	}
	int exit_code = rc || conformance_not_passed(r) ? EXIT_FAIL : EXIT_OK;
	free(r);
	loader_exit();
	return exit_code;
}

/* --- store operations ------------------------------------------------------- */

/* The database file the config points at. */
static int store_path(const struct ctl *c, char *out, size_t n)
{
	struct cfg_errs errs = {0};
	struct cfg *cfg = c->target.config ? cfg_load(c->target.config, NULL, 0, &errs) : NULL;
	int rc = EXIT_OK;
	if (!cfg) {
		fprintf(stderr, "bearmonctl: backup needs -c CONFIG to find the store%s%s\n",
			errs.n ? ": " : "", errs.n ? errs.lines[0] : "");
		rc = EXIT_FAIL;
	} else if (cfg->core.store.path[0] == '/') {
		snprintf(out, n, "%s", cfg->core.store.path);
	} else {
		snprintf(out, n, "%s/%s", cfg->core.data_dir, cfg->core.store.path);
	}
	cfg_errs_free(&errs);
	cfg_free(cfg);
	return rc;
}

static int backup_check(sqlite3 *dst, const char *file)
{
	sqlite3_stmt *st;
	int ok = sqlite3_prepare_v2(dst, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
		 sqlite3_step(st) == SQLITE_ROW &&
		 strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
	sqlite3_finalize(st);
	if (!ok)
		fprintf(stderr, "bearmonctl: %s: integrity_check failed\n", file);
	return ok ? EXIT_OK : EXIT_FAIL;
}

/* sqlite's online backup: a consistent snapshot while bearmond writes
 * (WAL readers never block the writer). */
static int cmd_backup(const struct ctl *c)
{
	char src_path[4096];
	sqlite3 *src = NULL, *dst = NULL;
	int rc = store_path(c, src_path, sizeof(src_path));
	if (rc)
		return rc;
	if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open(c->file, &dst) != SQLITE_OK) {
		fprintf(stderr, "bearmonctl: %s: %s\n", src ? c->file : src_path,
			sqlite3_errmsg(src && dst ? dst : src));
		rc = EXIT_FAIL;
		goto out;
	}
	sqlite3_busy_timeout(src, 5000);
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int step = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
	if (b)
		sqlite3_backup_finish(b);
	if (step != SQLITE_DONE) {
		fprintf(stderr, "bearmonctl: backup of %s to %s failed: %s\n", src_path, c->file,
			sqlite3_errmsg(dst));
		rc = EXIT_FAIL;
		goto out;
	}
	rc = backup_check(dst, c->file);
	if (!rc)
		printf("backup of %s written to %s\n", src_path, c->file);
out:
	sqlite3_close(src);
	sqlite3_close(dst);
	return rc;
}

/* "?name=NAME" or "?name_re=REGEX" for NAME or /REGEX/, URL-escaped. */
static int selector_query(const char *sel, char *out, size_t n)
{
	size_t len = strlen(sel);
	bool re = len >= 2 && sel[0] == '/' && sel[len - 1] == '/';
	char *esc = curl_easy_escape(NULL, re ? sel + 1 : sel, (int)(re ? len - 2 : len));
	if (!esc)
		return EXIT_FAIL;
	snprintf(out, n, "?%s=%s", re ? "name_re" : "name", esc);
	curl_free(esc);
	return EXIT_OK;
}

static int cmd_export(const struct ctl *c)
{
	char path[2048], q[1536];
	struct ctl_reply r = {0};
	if (selector_query(c->file, q, sizeof(q)))
		return EXIT_FAIL;
	snprintf(path, sizeof(path), API "/export%s%s%s%s%s", q, c->start ? "&start=" : "",
		 c->start ? c->start : "", c->end ? "&end=" : "", c->end ? c->end : "");
	int rc = ctl_http_send(&c->http, "GET", path, "", 0, &r);
	if (!rc && r.status != 200) {
		fprintf(stderr, "bearmonctl: export: HTTP %ld: %.*s\n", r.status, (int)r.len, r.body);
		rc = EXIT_FAIL;
	} else if (!rc) {
		fwrite(r.body, 1, r.len, stdout);
	}
	free(r.body);
	return rc;
}

static char *slurp(const char *file, size_t *len)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	char *buf = NULL;
	*len = 0;
	if (!f)
		return NULL;
	FILE *mem = open_memstream(&buf, len);
	char chunk[65536];
	size_t n;
	while (mem && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, mem);
	if (mem)
		fclose(mem);
	if (f != stdin)
		fclose(f);
	return buf;
}

/* Remote store commands that answer JSON: import (body from FILE) and
 * delete. */
static int store_post(const struct ctl *c, const char *path, const char *body, size_t len)
{
	struct ctl_reply r = {0};
	json_t *doc = NULL;
	int rc = ctl_http_send(&c->http, "POST", path, body, len, &r);
	if (!rc) {
		json_error_t jerr;
		doc = json_loadb(r.body ? r.body : "", r.len, 0, &jerr);
		if (c->target.json)
			ctl_reply_print(&r);
		if (r.status != 200)
			rc = ctl_http_failed(&c->http, path, &r, doc);
		else if (!c->target.json && json_object_get(doc, "deleted"))
			printf("deleted %lld series\n", int_of(doc, "deleted"));
		else if (!c->target.json)
			printf("imported %lld samples in %lld series (%lld rejected)\n",
			       int_of(doc, "samples"), int_of(doc, "series"), int_of(doc, "rejected"));
	}
	json_decref(doc);
	free(r.body);
	return rc;
}

static int cmd_import(const struct ctl *c)
{
	size_t len;
	char *body = slurp(c->file, &len);
	if (!body) {
		fprintf(stderr, "bearmonctl: cannot read %s\n", c->file);
		return EXIT_FAIL;
	}
	int rc = store_post(c, API "/import", body, len);
	free(body);
	return rc;
}

static int cmd_delete(const struct ctl *c)
{
	char path[2048], q[1536];
	if (selector_query(c->file, q, sizeof(q)))
		return EXIT_FAIL;
	snprintf(path, sizeof(path), API "/series/delete%s", q);
	return store_post(c, path, "", 0);
}

/* --- command line ---------------------------------------------------------- */

static int parse_args(int argc, char **argv, struct ctl *c)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},	{"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},		{"set", required_argument, NULL, 's'},
	    {"deadline", required_argument, NULL, 'd'}, {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},		{"start", required_argument, NULL, 'S'},
	    {"end", required_argument, NULL, 'E'},	{0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "u:c:js:d:Vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			c->sets[c->n_sets++] = optarg;
			break;
		case 'd':
			if (!parse_duration_ms(optarg, &c->deadline_ms) || c->deadline_ms <= 0)
				return usage_error(
				    "--deadline \"%s\": expected a duration like 5s or 1500ms",
				    optarg);
			break;
		case 'S':
			c->start = optarg;
			break;
		case 'E':
			c->end = optarg;
			break;
		case 'V':
			c->cmd = "version";
			return EXIT_OK;
		case 'h':
			c->cmd = "help";
			return EXIT_OK;
		default:
			if (!ctl_target_option(&c->target, opt, optarg))
				return usage_error("%s", "invalid option");
		}
	}
	if (optind >= argc)
		return usage_error("%s", "missing COMMAND");
	c->cmd = argv[optind++];
	bool checks = strcmp(c->cmd, "check-config") == 0 || strcmp(c->cmd, "check-plugin") == 0;
	static const char *const with_arg[] = {"check-config", "check-plugin", "backup", "import",
					       "export", "delete", NULL};
	bool needs_arg = false;
	for (const char *const *w = with_arg; *w; w++)
		needs_arg |= strcmp(c->cmd, *w) == 0;
	if (needs_arg && optind < argc)
		c->file = argv[optind++];
	else if (needs_arg)
		return usage_error("%s needs an argument", c->cmd);
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	if (c->target.url_opt && c->target.config)
		return usage_error("%s", "--url and -c both name the daemon: give one");
	if (c->n_sets && !checks)
		return usage_error("--set does not apply to %s", c->cmd);
	return EXIT_OK;
}

static int run_remote(struct ctl *c, int (*cmd)(const struct ctl *))
{
	int rc = ctl_http_resolve(&c->http, c->target.url_opt, c->target.config);
	if (rc)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "bearmonctl: cannot initialise libcurl\n");
		return EXIT_FAIL;
	}
	rc = cmd(c);
	curl_global_cleanup();
	return rc;
}

static int dispatch(struct ctl *c)
{
	if (strcmp(c->cmd, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(c->cmd, "version") == 0) {
		printf("bearmonctl %s (plugin ABI %d.%d)\n", BM_VERSION, BM_ABI_MAJOR,
		       BM_ABI_MINOR);
		return EXIT_OK;
	}
	if (strcmp(c->cmd, "status") == 0)
		return run_remote(c, cmd_status);
	if (strcmp(c->cmd, "plugins") == 0)
		return run_remote(c, cmd_plugins);
	if (strcmp(c->cmd, "reload") == 0)
		return run_remote(c, cmd_reload);
	if (strcmp(c->cmd, "check-config") == 0)
		return cmd_check_config(c);
	if (strcmp(c->cmd, "check-plugin") == 0)
		return cmd_check_plugin(c);
	if (strcmp(c->cmd, "backup") == 0)
		return cmd_backup(c);
	if (strcmp(c->cmd, "export") == 0)
		return run_remote(c, cmd_export);
	if (strcmp(c->cmd, "import") == 0)
		return run_remote(c, cmd_import);
	if (strcmp(c->cmd, "delete") == 0)
		return run_remote(c, cmd_delete);
	return usage_error("unknown command \"%s\"", c->cmd);
}

int main(int argc, char **argv)
{
	struct ctl c = {0};
	if (argc > 1 && strcmp(argv[1], "replay") == 0)
		return replay_main(argc - 1, argv + 1);
	if (ctl_alerts_handles(argc, argv))
		return ctl_alerts_main(argc, argv);
	if (ctl_view_handles(argc, argv))
		return ctl_view_main(argc, argv);
	if (ctl_optimizer_handles(argc, argv))
		return ctl_optimizer_main(argc, argv);
	c.sets = calloc((size_t)argc, sizeof(*c.sets));
	if (!c.sets) {
		fprintf(stderr, "bearmonctl: out of memory\n");
		return EXIT_FAIL;
	}
	int rc = parse_args(argc, argv, &c);
	if (!rc)
		rc = dispatch(&c);
	free(c.sets);
	return rc;
}
