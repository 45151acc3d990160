/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl rules | alerts | ack | silence | test-rules (see ctl_alerts.h):
 * aligned tables for people, the daemon's JSON with --json. The daemon is
 * found as the other commands find it: --url, or http.listen and the admin
 * token of -c CONFIG.
 */
#define _GNU_SOURCE
#include "ctl_alerts.h"
#include "ctl_http.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "table.h"
#include "testrules.h"

#define API	    "/api/bearmon/v1"

enum { CA_OK = 0, CA_FAIL = 1, CA_USAGE = 2, CA_UNREACHABLE = 3 };

static const char *const commands[] = {"rules", "alerts", "ack", "silence", "test-rules", NULL};

struct ca {
	struct ctl_target target; /* --url, -c, --json */
	bool verbose, withdraw;
	const char *by, *comment, *expires, *duration, *state, *rule;
	struct ctl_http http; /* the daemon: URL, admin token, certificate */
	const char *cmd;
	char **args; /* positional arguments after the command */
	int n_args;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: bearmonctl [--url URL | -c CONFIG] [--json] rules [list | show ID | add FILE "
	    "|\n"
	    "                       replace ID FILE | delete ID | import FILE]\n"
	    "       bearmonctl [--url URL | -c CONFIG] [--json] alerts [--state pending|firing] "
	    "[--rule ID]\n"
	    "       bearmonctl [--url URL | -c CONFIG] ack FINGERPRINT [--by WHO] [--comment "
	    "TEXT]\n"
	    "                       [--expires DURATION] [--withdraw]\n"
	    "       bearmonctl [--url URL | -c CONFIG] [--json] silence [list | add MATCHERS\n"
	    "                       --duration DURATION [--comment TEXT] [--by WHO] | expire ID]\n"
	    "       bearmonctl [--verbose] test-rules FILE...\n"
	    "\n"
	    "  rules       alert rules: list them, show one, add one (a JSON rule, - for stdin),\n"
	    "              replace or delete a rule made through the API, import a Prometheus\n"
	    "              rule file (needs the PromQL engine)\n"
	    "  alerts      active alerts: fingerprint, state, labels, value, since, ack/silence\n"
	    "  ack         acknowledge an alert (no repeats until it resolves or --expires)\n"
	    "  silence     silences: MATCHERS is a selector, e.g. '{alertname=\"DiskFull\"}'\n"
	    "  test-rules  rule unit tests, like promtool test rules, offline on the engine\n"
	    "              bearmond runs (plugins/analyzer_alerts/README.md, \"Testing rules\")\n"
	    "\n"
	    "exit: 0 ok, 1 failure (or a failed test), 2 usage error or unusable test file,\n"
	    "3 daemon unreachable\n");
}

static int usage_error(const char *what)
{
	fprintf(stderr, "bearmonctl: %s\n(bearmonctl rules --help for the alerting commands)\n",
		what);
	return CA_USAGE;
}

bool ctl_alerts_handles(int argc, char **argv)
{
	const char *word = ctl_command_word(argc, argv);
	return word && ctl_word_in(word, commands);
}

/* --- command line ---------------------------------------------------------- */

static int parse(int argc, char **argv, struct ca *c)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"by", required_argument, NULL, 'b'},
	    {"comment", required_argument, NULL, 'm'},
	    {"expires", required_argument, NULL, 'e'},
	    {"duration", required_argument, NULL, 'D'},
	    {"state", required_argument, NULL, 'S'},
	    {"rule", required_argument, NULL, 'R'},
	    {"withdraw", no_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "u:c:jvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			c->verbose = true;
			break;
		case 'b':
			c->by = optarg;
			break;
		case 'm':
			c->comment = optarg;
			break;
		case 'e':
			c->expires = optarg;
			break;
		case 'D':
			c->duration = optarg;
			break;
		case 'S':
			c->state = optarg;
			break;
		case 'R':
			c->rule = optarg;
			break;
		case 'W':
			c->withdraw = true;
			break;
		case 'h':
			c->cmd = "help";
			return CA_OK;
		default:
			if (!ctl_target_option(&c->target, opt, optarg))
				return usage_error("invalid option");
		}
	}
	if (optind >= argc || !ctl_word_in(argv[optind], commands))
		return usage_error("missing command");
	c->cmd = argv[optind];
	c->args = argv + optind + 1;
	c->n_args = argc - optind - 1;
	if (c->target.url_opt && c->target.config)
		return usage_error("--url and -c both name the daemon: give one");
	return CA_OK;
}

/* --- the daemon's address ----------------------------------------------------- */

static int resolve(struct ca *c)
{
	return ctl_http_resolve(&c->http, c->target.url_opt, c->target.config);
}

/* --- HTTP ----------------------------------------------------------------------- */

struct reply {
	long status;
	char *body;
	size_t len;
	json_t *doc;
};

static int request(const struct ca *c, const char *method, const char *path, const char *body,
		   struct reply *r)
{
	struct ctl_reply cr = {0};
	int rc = ctl_http_send(&c->http, method, path, body ? body : "", body ? strlen(body) : 0,
			       &cr);
	r->status = cr.status;
	r->body = cr.body;
	r->len = cr.len;
	if (rc)
		return rc;
	r->doc = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(r->doc, "error"));
	if (r->status == 404 && msg && strncmp(msg, "no route for", 12) == 0)
		fprintf(stderr, "bearmonctl: the daemon serves no alerting API: is an "
				"analyzer/alerts instance enabled?\n");
	return CA_OK;
}

static void reply_free(struct reply *r)
{
	json_decref(r->doc);
	free(r->body);
}

/* 2xx: print the raw document with --json and return CA_OK; else print
 * the daemon's error and return CA_FAIL. */
static int check(const struct ca *c, const struct reply *r)
{
	if (r->status >= 200 && r->status < 300) {
		if (c->target.json)
			printf("%.*s\n", (int)r->len, r->body ? r->body : "");
		return CA_OK;
	}
	const char *msg = json_string_value(json_object_get(r->doc, "error"));
	fprintf(stderr, "bearmonctl: HTTP %ld: %s\n", r->status, msg ? msg : "unexpected answer");
	return CA_FAIL;
}

/* One call: method path body, checked; *out the document when wanted. */
static int call(const struct ca *c, const char *method, const char *path, const char *body,
		struct reply *r)
{
	int rc = request(c, method, path, body, r);
	return rc ? rc : check(c, r);
}

static char *slurp(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *text = NULL, buf[65536];
	size_t len = 0, n;
	FILE *mem = f ? open_memstream(&text, &len) : NULL;
	while (mem && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	if (mem)
		fclose(mem);
	if (f && f != stdin)
		fclose(f);
	if (!text)
		fprintf(stderr, "bearmonctl: cannot read %s\n", path);
	return text;
}

/* --- rules ---------------------------------------------------------------------- */

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static void rule_row(struct table *t, const json_t *r)
{
	const json_t *thr = json_object_get(r, "threshold");
	table_cell(t, "%s", str(r, "id"));
	table_cell(t, "%s", str(r, "name"));
	table_cell(t, "%s", str(r, "condition"));
	table_cell(t, "%s", json_object_get(r, "metric") ? str(r, "metric") : str(r, "expr"));
	if (json_is_number(thr))
		table_cell(t, "%g", json_number_value(thr));
	else
		table_cell(t, "-");
	table_cell(t, "%s", str(r, "for"));
	table_cell(t, "%s", str(r, "severity"));
	table_cell(t, "%s", str(r, "source"));
	table_cell(t, "%s", json_is_true(json_object_get(r, "enabled")) ? "yes" : "no");
}

static void print_rules(const json_t *rules)
{
	struct table t = {.ncols = 9, .align = "lllllrlll"};
	const char *head[] = {"ID",  "NAME",	 "CONDITION", "METRIC/EXPR", "THRESHOLD",
			      "FOR", "SEVERITY", "SOURCE",    "ENABLED"};
	for (size_t i = 0; i < 9; i++)
		table_cell(&t, "%s", head[i]);
	for (size_t i = 0; i < json_array_size(rules); i++)
		rule_row(&t, json_array_get(rules, i));
	table_print(stdout, &t, "");
}

static int rules_write(const struct ca *c, const char *method, const char *path, const char *file,
		       const char *done)
{
	struct reply r = {0};
	char *body = slurp(file);
	if (!body)
		return CA_FAIL;
	int rc = call(c, method, path, body, &r);
	if (!rc && !c->target.json)
		printf("%s %s\n", done,
		       json_object_get(r.doc, "imported")
			   ? "rules"
			   : str(json_object_get(r.doc, "rule"), "id"));
	free(body);
	reply_free(&r);
	return rc;
}

static int cmd_rules(const struct ca *c)
{
	const char *sub = c->n_args ? c->args[0] : "list";
	char path[600];
	struct reply r = {0};
	int rc;
	bool one = c->n_args == 2, two = c->n_args == 3;
	if (strcmp(sub, "list") == 0 && c->n_args <= 1) {
		rc = call(c, "GET", API "/rules", NULL, &r);
		if (!rc && !c->target.json)
			print_rules(json_object_get(r.doc, "rules"));
	} else if ((strcmp(sub, "show") == 0 || strcmp(sub, "delete") == 0) && one) {
		bool show = sub[0] == 's';
		snprintf(path, sizeof(path), API "/rules/%s", c->args[1]);
		rc = call(c, show ? "GET" : "DELETE", path, NULL, &r);
		if (!rc && !c->target.json && show) {
			char *text = json_dumps(json_object_get(r.doc, "rule"), JSON_INDENT(2));
			printf("%s\n", text ? text : "");
			free(text);
		} else if (!rc && !c->target.json) {
			printf("deleted %s\n", c->args[1]);
		}
	} else if (strcmp(sub, "add") == 0 && one) {
		return rules_write(c, "POST", API "/rules", c->args[1], "added");
	} else if (strcmp(sub, "replace") == 0 && two) {
		snprintf(path, sizeof(path), API "/rules/%s", c->args[1]);
		return rules_write(c, "PUT", path, c->args[2], "replaced");
	} else if (strcmp(sub, "import") == 0 && one) {
		return rules_write(c, "POST", API "/rules/import", c->args[1], "imported");
	} else {
		return usage_error(
		    "rules: list | show ID | add FILE | replace ID FILE | delete ID | "
		    "import FILE");
	}
	reply_free(&r);
	return rc;
}

/* --- alerts and ack ---------------------------------------------------------------- */

static void labels_text(const json_t *labels, char *buf, size_t n)
{
	const char *k;
	const json_t *v;
	size_t used = 0;
	buf[0] = '\0';
	json_object_foreach((json_t *)labels, k, v)
	{
		if (strcmp(k, "alertname") == 0 || strcmp(k, "severity") == 0 || used >= n)
			continue;
		int w = snprintf(buf + used, n - used, "%s%s=%s", used ? "," : "", k,
				 json_string_value(v));
		used += w > 0 ? (size_t)w : 0;
	}
}

static void since_text(long long ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static void print_alerts(const json_t *alerts)
{
	struct table t = {.ncols = 8, .align = "llllrlll"};
	const char *head[] = {"FINGERPRINT", "STATE", "SEVERITY", "ALERTNAME",
			      "VALUE",	     "SINCE", "LABELS",	  "ACK/SILENCE"};
	for (size_t i = 0; i < 8; i++)
		table_cell(&t, "%s", head[i]);
	for (size_t i = 0; i < json_array_size(alerts); i++) {
		const json_t *a = json_array_get(alerts, i);
		char labels[512], since[64];
		const json_t *ack = json_object_get(a, "ack");
		labels_text(json_object_get(a, "labels"), labels, sizeof(labels));
		since_text((long long)json_integer_value(json_object_get(a, "active_since_ms")),
			   since, sizeof(since));
		table_cell(&t, "%s", str(a, "fingerprint"));
		table_cell(&t, "%s%s", str(a, "state"),
			   json_is_true(json_object_get(a, "flapping")) ? " (flapping)" : "");
		table_cell(&t, "%s", str(a, "severity"));
		table_cell(&t, "%s", str(a, "rule_name"));
		table_cell(&t, "%g", json_number_value(json_object_get(a, "value")));
		table_cell(&t, "%s", since);
		table_cell(&t, "%s", labels);
		table_cell(&t, "%s%s%s", json_is_object(ack) ? "acked by " : "",
			   json_is_object(ack) ? str(ack, "by") : "",
			   json_is_true(json_object_get(a, "silenced")) ? " silenced" : "");
	}
	table_print(stdout, &t, "");
}

static int cmd_alerts(const struct ca *c)
{
	char path[600];
	struct reply r = {0};
	if (c->n_args)
		return usage_error("alerts takes no arguments (--state, --rule)");
	snprintf(path, sizeof(path), API "/alerts%s%s%s%s", c->state ? "?state=" : "",
		 c->state ? c->state : "", c->rule ? (c->state ? "&rule=" : "?rule=") : "",
		 c->rule ? c->rule : "");
	int rc = call(c, "GET", path, NULL, &r);
	if (!rc && !c->target.json)
		print_alerts(json_object_get(r.doc, "alerts"));
	reply_free(&r);
	return rc;
}

static int cmd_ack(const struct ca *c)
{
	char path[600], who[256];
	struct reply r = {0};
	if (c->n_args != 1)
		return usage_error("ack FINGERPRINT [--by WHO] [--comment TEXT] [--expires D]");
	snprintf(path, sizeof(path), API "/alerts/%s/ack", c->args[0]);
	snprintf(who, sizeof(who), "user:%s", getenv("USER") ? getenv("USER") : "bearmonctl");
	json_t *body = json_pack("{s:s, s:s?, s:s?}", "by", c->by ? c->by : who, "comment",
				 c->comment, "expires", c->expires);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	int rc = call(c, c->withdraw ? "DELETE" : "POST", path, c->withdraw ? NULL : text, &r);
	if (!rc && !c->target.json)
		printf("%s %s\n", c->withdraw ? "acknowledgement withdrawn from" : "acknowledged",
		       c->args[0]);
	free(text);
	reply_free(&r);
	return rc;
}

/* --- silences ------------------------------------------------------------------------ */

static void print_silences(const json_t *s)
{
	struct table t = {.ncols = 6, .align = "llllll"};
	const char *head[] = {"ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"};
	for (size_t i = 0; i < 6; i++)
		table_cell(&t, "%s", head[i]);
	for (size_t i = 0; i < json_array_size(s); i++) {
		const json_t *x = json_array_get(s, i);
		table_cell(&t, "%s", str(x, "id"));
		table_cell(&t, "%s", str(x, "state"));
		table_cell(&t, "%s", str(x, "matchers"));
		table_cell(&t, "%s", str(x, "ends_at"));
		table_cell(&t, "%s", str(x, "created_by"));
		table_cell(&t, "%s", str(x, "comment"));
	}
	table_print(stdout, &t, "");
}

static int silence_add(const struct ca *c, struct reply *r)
{
	char who[256];
	if (!c->duration)
		return usage_error("silence add MATCHERS --duration DURATION");
	snprintf(who, sizeof(who), "user:%s", getenv("USER") ? getenv("USER") : "bearmonctl");
	json_t *body =
	    json_pack("{s:s, s:s, s:s?, s:s}", "matchers", c->args[1], "duration", c->duration,
		      "comment", c->comment, "created_by", c->by ? c->by : who);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	int rc = call(c, "POST", API "/silences", text, r);
	if (!rc && !c->target.json)
		printf("silence %s until %s\n", str(json_object_get(r->doc, "silence"), "id"),
		       str(json_object_get(r->doc, "silence"), "ends_at"));
	free(text);
	return rc;
}

static int cmd_silence(const struct ca *c)
{
	const char *sub = c->n_args ? c->args[0] : "list";
	char path[600];
	struct reply r = {0};
	int rc;
	if (strcmp(sub, "list") == 0 && c->n_args <= 1) {
		rc = call(c, "GET", API "/silences", NULL, &r);
		if (!rc && !c->target.json)
			print_silences(json_object_get(r.doc, "silences"));
	} else if (strcmp(sub, "add") == 0 && c->n_args == 2) {
		rc = silence_add(c, &r);
	} else if (strcmp(sub, "expire") == 0 && c->n_args == 2) {
		snprintf(path, sizeof(path), API "/silences/%s", c->args[1]);
		rc = call(c, "DELETE", path, NULL, &r);
		if (!rc && !c->target.json)
			printf("silence %s ended\n", c->args[1]);
	} else {
		return usage_error("silence: list | add MATCHERS --duration D | expire ID");
	}
	reply_free(&r);
	return rc;
}

/* --- test-rules ------------------------------------------------------------------------ */

static int cmd_test_rules(const struct ca *c)
{
	int worst = CA_OK;
	if (!c->n_args)
		return usage_error("test-rules FILE...");
	for (int i = 0; i < c->n_args; i++) {
		int rc = al_testrules_run(c->args[i], stdout, c->verbose);
		worst = rc > worst ? rc : worst;
	}
	return worst;
}

int ctl_alerts_main(int argc, char **argv)
{
	struct ca c = {0};
	int rc = parse(argc, argv, &c);
	if (rc)
		return rc;
	if (strcmp(c.cmd, "help") == 0) {
		usage(stdout);
		return CA_OK;
	}
	if (strcmp(c.cmd, "test-rules") == 0)
		return cmd_test_rules(&c);
	if ((rc = resolve(&c)))
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return CA_FAIL;
	if (strcmp(c.cmd, "rules") == 0)
		rc = cmd_rules(&c);
	else if (strcmp(c.cmd, "alerts") == 0)
		rc = cmd_alerts(&c);
	else if (strcmp(c.cmd, "ack") == 0)
		rc = cmd_ack(&c);
	else
		rc = cmd_silence(&c);
	curl_global_cleanup();
	return rc;
}
