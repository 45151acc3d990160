/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl series | query | agents | anomalies | recommendations | actions
 * | events | top (see ctl_view.h): read-only views over the daemon's JSON
 * API and its Prometheus-compatible query API. The live view draws with
 * plain ANSI escape codes (alternate screen, cursor home, clear to end of
 * line): a handful of sequences every terminal emulator knows do not
 * justify linking ncurses.
 */
#define _GNU_SOURCE
#include "ctl_view.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bearmon/bm_event.h"
#include "config_schema.h"
#include "ctl_http.h"
#include "prom_api.h"
#include "table.h"

#define API	      "/api/bearmon/v1"
#define PROM_QUERY    "/api/v1/query"
#define PROM_RANGE    "/api/v1/query_range"
#define LIMIT_MAX     10000
#define STEP_POINTS   250 /* default range step: the range in this many points */
#define TOP_PROCESSES 10
#define TOP_FINDINGS  5
#define NOT_SERVED    (-1) /* not an exit code: the daemon answered 404 (no such route) */

/* Which options a command takes. */
enum {
	OPT_WINDOW = 1 << 0, /* --since, --limit */
	OPT_TIMES = 1 << 1,  /* --time, --start, --end, --step */
	OPT_TOP = 1 << 2,    /* --interval, --once */
	OPT_JSON = 1 << 3,
};

struct view {
	struct ctl_http http;
	struct ctl_target target; /* --url, -c, --json */
	bool once, help;
	const char *since, *limit, *time, *start, *end, *step, *interval;
	const struct command *cmd;
	char **args;
	int n_args;
	int64_t now_ms;
	int64_t since_ms, limit_n; /* 0: not given */
	int64_t time_ms, start_ms, end_ms, step_ms;
	int64_t interval_ms;
};

struct command {
	const char *name;
	int (*run)(struct view *v);
	unsigned opts;
	int min_args, max_args; /* positional arguments after the command */
};

static int cmd_series(struct view *v);
static int cmd_query(struct view *v);
static int cmd_agents(struct view *v);
static int cmd_events(struct view *v);
static int cmd_top(struct view *v);

static const struct command commands[] = {
    {"series", cmd_series, OPT_JSON, 0, 64},
    {"query", cmd_query, OPT_JSON | OPT_TIMES, 1, 1},
    {"agents", cmd_agents, OPT_JSON, 0, 0},
    {"anomalies", cmd_events, OPT_JSON | OPT_WINDOW, 0, 0},
    {"recommendations", cmd_events, OPT_JSON | OPT_WINDOW, 0, 0},
    {"actions", cmd_events, OPT_JSON | OPT_WINDOW, 0, 0},
    {"events", cmd_events, OPT_JSON | OPT_WINDOW, 1, 1},
    {"top", cmd_top, OPT_TOP, 0, 0},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: " CTL_VIEW_SYNOPSIS
	    "\n"
	    "  series           series in the store: by NAME or /REGEX/ (anchored; default\n"
	    "                   every series) and exact LABEL=VALUE pairs\n"
	    "  query            a PromQL expression through the Prometheus-compatible API:\n"
	    "                   instant at --time (default now), or over --start..--end (default\n"
	    "                   now) every --step (default the range in %d points)\n"
	    "  agents           the agent registry, with each agent's task throughput, p95\n"
	    "                   latency and error ratio\n"
	    "  anomalies        the newest stored anomalies\n"
	    "  recommendations  the newest optimizer plans\n"
	    "  actions          the newest actions of the executor (planned, executed, rolled "
	    "back)\n"
	    "  events           the newest stored events of TOPIC: anomaly, trend, forecast,\n"
	    "                   correlation, bottleneck, insight, health, alert, notification,\n"
	    "                   candidate, recommendation, action, agent.command, agent.ack\n"
	    "  top              a live full-screen view: CPU, memory, load, pressure, disk and\n"
	    "                   network rates, top processes, agents, alerts, newest findings;\n"
	    "                   q or Ctrl-C quits; --once prints one plain frame\n"
	    "\n"
	    "  T: now, now-1h (or -1h), seconds since the epoch, or RFC 3339\n"
	    "  --since DURATION  only events newer than that (e.g. 1h, 30m)\n"
	    "  --limit N         at most N events, newest first (1..%d; default 100)\n"
	    "  --interval D      top: time between frames (default 1s)\n"
	    "\n"
	    "exit: 0 ok, 1 failure, 2 usage error, 3 daemon unreachable\n",
	    STEP_POINTS, LIMIT_MAX);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("bearmonctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(bearmonctl --help for usage)\n", stderr);
	return CTL_USAGE;
}

static int64_t wall_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- command line ------------------------------------------------------- */

static const struct command *command_named(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

bool ctl_view_handles(int argc, char **argv)
{
	const char *word = ctl_command_word(argc, argv);
	return word && command_named(word);
}

static int parse_options(int argc, char **argv, struct view *v)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"since", required_argument, NULL, 'S'},
	    {"limit", required_argument, NULL, 'n'},
	    {"time", required_argument, NULL, 't'},
	    {"start", required_argument, NULL, 's'},
	    {"end", required_argument, NULL, 'e'},
	    {"step", required_argument, NULL, 'p'},
	    {"interval", required_argument, NULL, 'i'},
	    {"once", no_argument, NULL, '1'},
	    {0},
	};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "u:c:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			v->help = true;
			break;
		case 'S':
			v->since = optarg;
			break;
		case 'n':
			v->limit = optarg;
			break;
		case 't':
			v->time = optarg;
			break;
		case 's':
			v->start = optarg;
			break;
		case 'e':
			v->end = optarg;
			break;
		case 'p':
			v->step = optarg;
			break;
		case 'i':
			v->interval = optarg;
			break;
		case '1':
			v->once = true;
			break;
		default:
			if (!ctl_target_option(&v->target, opt, optarg))
				return usage_error("invalid option");
		}
	}
	if (optind >= argc || !(v->cmd = command_named(argv[optind])))
		return usage_error("missing command");
	v->args = argv + optind + 1;
	v->n_args = argc - optind - 1;
	return CTL_OK;
}

/* An option given to a command that does not take it. */
static int misplaced_option(const struct view *v)
{
	const struct {
		const char *name;
		bool given;
		unsigned group;
	} given[] = {
	    {"--json", v->target.json, OPT_JSON},     {"--since", v->since, OPT_WINDOW},
	    {"--limit", v->limit, OPT_WINDOW}, {"--time", v->time, OPT_TIMES},
	    {"--start", v->start, OPT_TIMES},  {"--end", v->end, OPT_TIMES},
	    {"--step", v->step, OPT_TIMES},    {"--interval", v->interval, OPT_TOP},
	    {"--once", v->once, OPT_TOP},
	};
	for (size_t i = 0; i < sizeof(given) / sizeof(given[0]); i++)
		if (given[i].given && !(v->cmd->opts & given[i].group))
			return usage_error("%s does not apply to %s", given[i].name, v->cmd->name);
	return CTL_OK;
}

/* T: "now", "now-1h" / "-1h" / "now+5m", or Prometheus' own forms
 * (seconds since the epoch, RFC 3339), parsed as the daemon parses them. */
static bool parse_when(const char *s, int64_t now, int64_t *ms)
{
	const char *rel = strncmp(s, "now", 3) == 0 ? s + 3 : s;
	int64_t d;
	if (rel != s && !*rel) {
		*ms = now;
		return true;
	}
	if ((*rel == '-' || *rel == '+') && parse_duration_ms(rel + 1, &d)) {
		*ms = *rel == '-' ? now - d : now + d;
		return true;
	}
	return rel == s && prom_parse_time(s, ms);
}

static int check_times(struct view *v)
{
	if (v->time && (v->start || v->end || v->step))
		return usage_error("query: give --time, or --start [--end] [--step], not both");
	if ((v->end || v->step) && !v->start)
		return usage_error("query: a range needs --start");
	if (v->time && !parse_when(v->time, v->now_ms, &v->time_ms))
		return usage_error("--time \"%s\": expected now, now-DURATION, seconds or RFC 3339",
				   v->time);
	if (v->start && !parse_when(v->start, v->now_ms, &v->start_ms))
		return usage_error(
		    "--start \"%s\": expected now, now-DURATION, seconds or RFC 3339", v->start);
	v->end_ms = v->now_ms;
	if (v->end && !parse_when(v->end, v->now_ms, &v->end_ms))
		return usage_error("--end \"%s\": expected now, now-DURATION, seconds or RFC 3339",
				   v->end);
	if (v->step && (!prom_parse_duration(v->step, &v->step_ms) || v->step_ms <= 0))
		return usage_error("--step \"%s\": expected a duration like 15s or 1m", v->step);
	if (v->start && v->end_ms < v->start_ms)
		return usage_error("%s", "query: --end is before --start");
	if (v->start && !v->step)
		v->step_ms = (v->end_ms - v->start_ms) / STEP_POINTS > 1000
				 ? (v->end_ms - v->start_ms) / STEP_POINTS
				 : 1000;
	return CTL_OK;
}

static int check_window(struct view *v)
{
	int64_t d;
	char *end;
	if (v->since && (!parse_duration_ms(v->since, &d) || d <= 0))
		return usage_error("--since \"%s\": expected a duration like 1h or 30m", v->since);
	if (v->since)
		v->since_ms = v->now_ms - d;
	if (v->limit) {
		errno = 0;
		long long n = strtoll(v->limit, &end, 10);
		if (errno || *end || end == v->limit || n < 1 || n > LIMIT_MAX)
			return usage_error("--limit \"%s\": expected a number 1..%d", v->limit,
					   LIMIT_MAX);
		v->limit_n = n;
	}
	return CTL_OK;
}

/* --interval: a duration ("2s", "500ms") or seconds ("2", "0.5"). */
static int check_interval(struct view *v)
{
	char *end;
	v->interval_ms = 1000;
	if (!v->interval)
		return CTL_OK;
	double s = strtod(v->interval, &end);
	if (end != v->interval && !*end && isfinite(s))
		v->interval_ms = (int64_t)(s * 1000);
	else if (!parse_duration_ms(v->interval, &v->interval_ms))
		v->interval_ms = -1;
	if (v->interval_ms < 100 || v->interval_ms > 3600000)
		return usage_error("--interval \"%s\": expected a duration from 100ms to 1h",
				   v->interval);
	return CTL_OK;
}

static int check_args(struct view *v)
{
	int rc = misplaced_option(v);
	if (!rc && v->target.url_opt && v->target.config)
		rc = usage_error("%s", "--url and -c both name the daemon: give one");
	if (!rc && v->n_args < v->cmd->min_args)
		rc = usage_error("%s needs %s", v->cmd->name,
				 strcmp(v->cmd->name, "query") == 0 ? "a PromQL expression"
								    : "a TOPIC");
	if (!rc && v->n_args > v->cmd->max_args)
		rc = usage_error("unexpected argument \"%s\"", v->args[v->cmd->max_args]);
	if (!rc)
		rc = check_times(v);
	if (!rc)
		rc = check_window(v);
	if (!rc)
		rc = check_interval(v);
	return rc;
}

/* --- requests ------------------------------------------------------------- */

/* A request path: path?key=value&... with the values URL-escaped. */
struct path {
	FILE *f;
	char *buf;
	size_t len;
	char sep;
};

static bool path_begin(struct path *p, const char *base)
{
	p->f = open_memstream(&p->buf, &p->len);
	p->sep = '?';
	if (p->f)
		fputs(base, p->f);
	return p->f != NULL;
}

__attribute__((format(printf, 3, 4))) static void path_param(struct path *p, const char *key,
							     const char *fmt, ...)
{
	char *value = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&value, fmt, ap);
	va_end(ap);
	char *esc = n >= 0 ? curl_easy_escape(NULL, value, n) : NULL;
	if (esc)
		fprintf(p->f, "%c%s=%s", p->sep, key, esc);
	p->sep = '&';
	curl_free(esc);
	free(value);
}

/* The finished path, malloc'd (NULL when out of memory). */
static char *path_end(struct path *p)
{
	if (fclose(p->f) != 0) {
		free(p->buf);
		return NULL;
	}
	return p->buf;
}

/* GET path into *doc: a 2xx JSON object (printed with --json), or
 * NOT_SERVED for a 404, a route the daemon lacks (the plugin or API that
 * serves it is not running), or a failure, printed unless quiet. */
static int get_optional(const struct view *v, const char *path, json_t **doc, bool quiet)
{
	struct ctl_reply r = {0};
	*doc = NULL;
	int rc = ctl_http_send(&v->http, "GET", path, "", 0, &r);
	if (!rc && r.status == 404) {
		rc = NOT_SERVED;
	} else if (!rc) {
		*doc = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
		const char *msg = json_string_value(json_object_get(*doc, "error"));
		const char *type = json_string_value(json_object_get(*doc, "errorType"));
		if (!json_is_object(*doc) || r.status < 200 || r.status > 299) {
			if (!quiet)
				fprintf(stderr, "bearmonctl: %.*s: HTTP %ld: %s%s%s\n",
					(int)strcspn(path, "?"), path, r.status, type ? type : "",
					type ? ": " : "", msg ? msg : "not a JSON object");
			json_decref(*doc);
			*doc = NULL;
			rc = CTL_FAIL;
		} else if (v->target.json && !quiet) {
			ctl_reply_print(&r);
		}
	}
	ctl_reply_free(&r);
	return rc;
}

/* GET path into *doc; anything but a 2xx JSON object is printed and fails.
 * The store's routes are missing when the store is off. */
static int get_doc(const struct view *v, const char *path, json_t **doc)
{
	int rc = get_optional(v, path, doc, false);
	if (rc == NOT_SERVED) {
		fprintf(stderr,
			"bearmonctl: %.*s: this bearmond does not serve it (HTTP 404): is "
			"its store enabled?\n",
			(int)strcspn(path, "?"), path);
		rc = CTL_FAIL;
	}
	return rc;
}

static int no_promql(const struct view *v)
{
	fprintf(stderr,
		"bearmonctl: this bearmond has no PromQL API (%s" PROM_QUERY " answered 404): it "
		"runs without the query engine or without the store\n",
		v->http.url);
	return CTL_FAIL;
}

/* An instant PromQL query at the daemon's now; *doc the answer. Errors
 * are not printed: top and agents show "-" instead. */
static int promql(const struct view *v, const char *expr, json_t **doc)
{
	struct path p;
	char *path = NULL;
	if (path_begin(&p, PROM_QUERY)) {
		path_param(&p, "query", "%s", expr);
		path = path_end(&p);
	}
	int rc = path ? get_optional(v, path, doc, true) : CTL_FAIL;
	free(path);
	return rc;
}

/* --- formatting ------------------------------------------------------------- */

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : dflt;
}

/* Local time, to the second, for people. */
static void fmt_time(char *buf, size_t n, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, n, "%lld", (long long)ms);
}

/* The same with the milliseconds when there are any (steps under 1 s). */
static void fmt_time_ms(char *buf, size_t n, int64_t ms)
{
	fmt_time(buf, n, ms);
	if (ms % 1000 && strlen(buf) + 5 < n)
		snprintf(buf + strlen(buf), n - strlen(buf), ".%03lld",
			 (long long)llabs(ms % 1000));
}

/* The largest unit that fits: 250ms, 5s, 1.5m, 3h, 2d; "-" below 0. */
static void fmt_duration(char *buf, size_t n, double ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	if (!isfinite(ms) || ms < 0) {
		snprintf(buf, n, "-");
		return;
	}
	size_t i = 0;
	while (i < 4 && ms < units[i].ms)
		i++;
	snprintf(buf, n, "%.3g%s", ms / units[i].ms, units[i].unit);
}

/* 1023 B, 1.5 KiB, 12.3 MiB, ... */
static void fmt_bytes(char *buf, size_t n, double v)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	size_t i = 0;
	if (!isfinite(v)) {
		snprintf(buf, n, "-");
		return;
	}
	while (i < 5 && fabs(v) >= 1024) {
		v /= 1024;
		i++;
	}
	snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", v, units[i]);
}

static void fmt_number(char *buf, size_t n, double v)
{
	if (isfinite(v))
		snprintf(buf, n, "%.6g", v);
	else
		snprintf(buf, n, "-");
}

static void fmt_percent(char *buf, size_t n, double ratio)
{
	if (isfinite(ratio))
		snprintf(buf, n, "%.1f%%", ratio * 100);
	else
		snprintf(buf, n, "-");
}

/* name{a="1", b="2"} as Prometheus writes a series; name may be NULL
 * (labels alone) and the labels object may hold __name__, left out. */
static void fmt_series(char *buf, size_t n, const char *name, const json_t *labels)
{
	FILE *f = fmemopen(buf, n, "w");
	const char *key;
	json_t *val;
	bool first = true;
	if (!f) {
		snprintf(buf, n, "%s", name ? name : "-");
		return;
	}
	fputs(name ? name : "", f);
	json_object_foreach((json_t *)labels, key, val)
	{
		if (strcmp(key, "__name__") == 0)
			continue;
		fprintf(f, "%s%s=\"", first ? "{" : ", ", key);
		for (const char *c = json_string_value(val); c && *c; c++) {
			if (*c == '"' || *c == '\\')
				fputc('\\', f);
			if (*c == '\n')
				fputs("\\n", f);
			else
				fputc(*c, f);
		}
		fputc('"', f);
		first = false;
	}
	if (!first)
		fputc('}', f);
	else if (!name)
		fputs("{}", f);
	fclose(f);
	buf[n - 1] = '\0';
}

/* key=value, key=value */
static void fmt_pairs(char *buf, size_t n, const json_t *obj)
{
	const char *key;
	json_t *val;
	size_t used = 0;
	buf[0] = '\0';
	json_object_foreach((json_t *)obj, key, val)
	{
		int w = snprintf(buf + used, n - used, "%s%s=%s", used ? ", " : "", key,
				 json_is_string(val) ? json_string_value(val) : "?");
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
	}
	if (!used)
		snprintf(buf, n, "-");
}

/* --- series -------------------------------------------------------------------- */

/* Parameters of the store's route itself: such a label cannot be matched
 * through it. */
static bool route_param(const char *key)
{
	static const char *const own[] = {"name", "name_re", "id",    "start", "end",
					  "step", "agg",     "limit", NULL};
	for (const char *const *p = own; *p; p++)
		if (strcmp(*p, key) == 0)
			return true;
	return false;
}

static bool label_name_ok(const char *s, size_t n)
{
	if (!n || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* One LABEL=VALUE argument into the request. */
static int series_label(struct path *p, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t n = (size_t)(eq - arg);
	if (!label_name_ok(arg, n))
		return usage_error("series: \"%s\": expected LABEL=VALUE with a label name of "
				   "letters, digits and _",
				   arg);
	char name[256];
	snprintf(name, sizeof(name), "%.*s", (int)(n < 255 ? n : 255), arg);
	if (route_param(name) || n > 255)
		return usage_error("series: the label \"%s\" cannot be matched through the store's "
				   "route; use bearmonctl query '{%s=\"...\"}'",
				   name, name);
	path_param(p, name, "%s", eq + 1);
	return CTL_OK;
}

/* The series route's query: name or name_re (every series when neither
 * is given), then the labels. */
static int series_path(const struct view *v, char **out)
{
	struct path p;
	int rc = CTL_OK, i = 0;
	if (!path_begin(&p, API "/series"))
		return CTL_FAIL;
	const char *sel = v->n_args && !strchr(v->args[0], '=') ? v->args[i++] : NULL;
	size_t len = sel ? strlen(sel) : 0;
	if (sel && len >= 2 && sel[0] == '/' && sel[len - 1] == '/')
		path_param(&p, "name_re", "%.*s", (int)len - 2, sel + 1);
	else if (sel && len > 0 && sel[0] != '/')
		path_param(&p, "name", "%s", sel);
	else if (sel)
		rc = usage_error("series: \"%s\": expected NAME or /REGEX/", sel);
	else
		path_param(&p, "name_re", "%s", ".+");
	for (; !rc && i < v->n_args; i++)
		rc = strchr(v->args[i], '=') ? series_label(&p, v->args[i])
					     : usage_error("series: \"%s\": expected LABEL=VALUE "
							   "(the name comes first)",
							   v->args[i]);
	*out = path_end(&p);
	if (rc || !*out) {
		free(*out);
		*out = NULL;
	}
	return rc ? rc : *out ? CTL_OK : CTL_FAIL;
}

static int cmp_series_text(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "series"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "series"));
	return strcmp(x ? x : "", y ? y : "");
}

static void print_series(const json_t *list)
{
	size_t n = json_array_size(list);
	json_t **rows = calloc(n ? n : 1, sizeof(*rows));
	struct table t = {.ncols = 2, .align = "rl"};
	if (!n || !rows) {
		printf(n ? "bearmonctl: out of memory\n" : "(no series match)\n");
		free(rows);
		return;
	}
	for (size_t i = 0; i < n; i++)
		rows[i] = json_array_get(list, i);
	qsort(rows, n, sizeof(*rows), cmp_series_text);
	table_cell(&t, "ID");
	table_cell(&t, "SERIES");
	for (size_t i = 0; i < n; i++) {
		table_cell(&t, "%lld",
			   (long long)json_integer_value(json_object_get(rows[i], "id")));
		table_cell(&t, "%s", str_or(rows[i], "series", "-"));
	}
	table_print(stdout, &t, "");
	free(rows);
}

static int cmd_series(struct view *v)
{
	char *path = NULL;
	json_t *doc = NULL;
	int rc = series_path(v, &path);
	if (!rc)
		rc = get_doc(v, path, &doc);
	if (!rc && !v->target.json)
		print_series(json_object_get(doc, "series"));
	json_decref(doc);
	free(path);
	return rc;
}

/* --- query ------------------------------------------------------------------ */

/* Prometheus' time parameter: seconds with the milliseconds. */
static void path_time(struct path *p, const char *key, int64_t ms)
{
	path_param(p, key, "%lld.%03lld", (long long)(ms / 1000), (long long)llabs(ms % 1000));
}

static char *query_path(const struct view *v)
{
	struct path p;
	if (!path_begin(&p, v->start ? PROM_RANGE : PROM_QUERY))
		return NULL;
	path_param(&p, "query", "%s", v->args[0]);
	if (v->time)
		path_time(&p, "time", v->time_ms);
	if (v->start) {
		path_time(&p, "start", v->start_ms);
		path_time(&p, "end", v->end_ms);
		path_time(&p, "step", v->step_ms);
	}
	return path_end(&p);
}

/* A point [time, "value"]: the value as the daemon wrote it. */
static void point_cells(struct table *t, const json_t *pt, bool with_time)
{
	if (with_time) {
		char when[40];
		fmt_time_ms(when, sizeof(when),
			    llround(json_number_value(json_array_get(pt, 0)) * 1000));
		table_cell(t, "%s", when);
	}
	const char *val = json_string_value(json_array_get(pt, 1));
	table_cell(t, "%s", val ? val : "-");
}

static void series_cell(struct table *t, const json_t *metric)
{
	char text[2048];
	fmt_series(text, sizeof(text), json_string_value(json_object_get(metric, "__name__")),
		   metric);
	table_cell(t, "%s", text);
}

static void print_vector(const json_t *result)
{
	struct table t = {.ncols = 2, .align = "lr"};
	table_cell(&t, "SERIES");
	table_cell(&t, "VALUE");
	for (size_t i = 0; i < json_array_size(result); i++) {
		const json_t *s = json_array_get(result, i);
		series_cell(&t, json_object_get(s, "metric"));
		point_cells(&t, json_object_get(s, "value"), false);
	}
	table_print(stdout, &t, "");
}

/* One row per point; the series named on its first row only. */
static void print_matrix(const json_t *result)
{
	struct table t = {.ncols = 3, .align = "llr"};
	table_cell(&t, "SERIES");
	table_cell(&t, "TIME");
	table_cell(&t, "VALUE");
	for (size_t i = 0; i < json_array_size(result); i++) {
		const json_t *s = json_array_get(result, i);
		const json_t *values = json_object_get(s, "values");
		for (size_t j = 0; j < json_array_size(values); j++) {
			if (j)
				table_cell(&t, "%s", "");
			else
				series_cell(&t, json_object_get(s, "metric"));
			point_cells(&t, json_array_get(values, j), true);
		}
	}
	table_print(stdout, &t, "");
}

static void print_query(const json_t *doc)
{
	const json_t *data = json_object_get(doc, "data");
	const char *type = str_or(data, "resultType", "");
	const json_t *result = json_object_get(data, "result");
	const json_t *warnings = json_object_get(doc, "warnings");
	for (size_t i = 0; i < json_array_size(warnings); i++)
		fprintf(stderr, "warning: %s\n", json_string_value(json_array_get(warnings, i)));
	if ((!strcmp(type, "vector") || !strcmp(type, "matrix")) && !json_array_size(result))
		printf("(empty result)\n");
	else if (strcmp(type, "vector") == 0)
		print_vector(result);
	else if (strcmp(type, "matrix") == 0)
		print_matrix(result);
	else if (json_is_array(result))
		printf("%s\n", json_is_string(json_array_get(result, 1))
				   ? json_string_value(json_array_get(result, 1))
				   : "-");
}

static int cmd_query(struct view *v)
{
	char *path = query_path(v);
	json_t *doc = NULL;
	int rc = path ? get_optional(v, path, &doc, false) : CTL_FAIL;
	if (rc == NOT_SERVED)
		rc = no_promql(v);
	if (!rc && !v->target.json)
		print_query(doc);
	json_decref(doc);
	free(path);
	return rc;
}

/* --- instant vectors for agents and top ---------------------------------------- */

/* The result array of an instant vector query, or NULL (no data, a query
 * error); *doc owns it. *rc, once not CTL_OK, skips the request, and takes
 * a missing API (NOT_SERVED) or an unreachable daemon, not a query error:
 * the view shows "-" for those. */
static const json_t *vector_of(const struct view *v, const char *expr, json_t **doc, int *rc)
{
	*doc = NULL;
	if (*rc != CTL_OK)
		return NULL;
	int r = promql(v, expr, doc);
	if (r == NOT_SERVED || r == CTL_UNREACHABLE)
		*rc = r;
	const json_t *data = json_object_get(*doc, "data");
	return strcmp(str_or(data, "resultType", ""), "vector") == 0
		   ? json_object_get(data, "result")
		   : NULL;
}

static double sample_value(const json_t *s)
{
	const char *val = json_string_value(json_array_get(json_object_get(s, "value"), 1));
	return val ? strtod(val, NULL) : NAN;
}

/* The value of the first sample whose label key is value; NaN when none. */
static double value_where(const json_t *vec, const char *key, const char *value)
{
	for (size_t i = 0; i < json_array_size(vec); i++) {
		const json_t *s = json_array_get(vec, i);
		const char *l =
		    json_string_value(json_object_get(json_object_get(s, "metric"), key));
		if (l && strcmp(l, value) == 0)
			return sample_value(s);
	}
	return NAN;
}

/* The first sample's value of a query (a sum, a single gauge); NaN when
 * empty. */
static double scalar_of(const struct view *v, const char *expr, int *rc)
{
	json_t *doc = NULL;
	const json_t *vec = vector_of(v, expr, &doc, rc);
	double val = json_array_size(vec) ? sample_value(json_array_get(vec, 0)) : NAN;
	json_decref(doc);
	return val;
}

/* --- agents ------------------------------------------------------------------ */

/* Per-agent figures from the agent collector's series (label agent). */
struct agent_figures {
	json_t *docs[3];
	const json_t *vec[3]; /* throughput, p95 latency, error ratio */
};

static void agent_figures_load(const struct view *v, struct agent_figures *f, int *rc)
{
	static const char *const exprs[] = {
	    "agent_task_throughput{agent!=\"\"}",
	    "agent_task_duration_seconds{quantile=\"0.95\", agent!=\"\"}",
	    "agent_error_ratio{agent!=\"\"}",
	};
	for (size_t i = 0; i < 3; i++)
		f->vec[i] = vector_of(v, exprs[i], &f->docs[i], rc);
}

static void agent_figures_free(struct agent_figures *f)
{
	for (size_t i = 0; i < 3; i++)
		json_decref(f->docs[i]);
}

static void agent_figure_cells(struct table *t, const struct agent_figures *f, const char *agent)
{
	char buf[32];
	double tput = value_where(f->vec[0], "agent", agent);
	if (isfinite(tput))
		table_cell(t, "%.2f", tput);
	else
		table_cell(t, "-");
	fmt_duration(buf, sizeof(buf), value_where(f->vec[1], "agent", agent) * 1000);
	table_cell(t, "%s", buf);
	fmt_percent(buf, sizeof(buf), value_where(f->vec[2], "agent", agent));
	table_cell(t, "%s", buf);
}

/* AGENT TYPE PID STATE LAST SEEN TASKS/S P95 ERRORS */
static void agent_table(struct table *t, const json_t *agents, const struct agent_figures *f,
			int64_t now)
{
	static const char *const head[] = {"AGENT",	"TYPE",	   "PID", "STATE",
					   "LAST SEEN", "TASKS/S", "P95", "ERRORS"};
	for (size_t k = 0; k < 8; k++)
		table_cell(t, "%s", head[k]);
	for (size_t i = 0; i < json_array_size(agents); i++) {
		const json_t *a = json_array_get(agents, i);
		const char *id = str_or(a, "agent_id", "-");
		char ago[32];
		int64_t pid = json_integer_value(json_object_get(a, "pid"));
		fmt_duration(
		    ago, sizeof(ago),
		    (double)(now - json_integer_value(json_object_get(a, "last_seen_ms"))));
		table_cell(t, "%s", id);
		table_cell(t, "%s", str_or(a, "type", "-"));
		if (pid > 0)
			table_cell(t, "%lld", (long long)pid);
		else
			table_cell(t, "-");
		table_cell(t, "%s", str_or(a, "state", "-"));
		table_cell(t, "%s ago", ago);
		agent_figure_cells(t, f, id);
	}
}

/* The registry's table into out; *rc as vector_of's. */
static void print_agents(FILE *out, const struct view *v, const json_t *agents, int *rc)
{
	struct agent_figures f = {0};
	struct table t = {.ncols = 8, .align = "llrllrrr"};
	if (!json_array_size(agents)) {
		fputs("(no agents registered)\n", out);
		return;
	}
	agent_figures_load(v, &f, rc);
	agent_table(&t, agents, &f, wall_now_ms());
	table_print(out, &t, "");
	agent_figures_free(&f);
}

static int cmd_agents(struct view *v)
{
	json_t *doc = NULL;
	int figures_rc = CTL_OK; /* without PromQL the figures are "-" */
	int rc = get_doc(v, API "/agents", &doc);
	if (!rc && !v->target.json)
		print_agents(stdout, v, json_object_get(doc, "agents"), &figures_rc);
	json_decref(doc);
	return rc;
}

/* --- events ------------------------------------------------------------------ */

enum cell_kind {
	K_STR,	  /* a string (enums are names) */
	K_NUM,	  /* a number */
	K_SERIES, /* {name, labels} */
	K_MS,	  /* a duration in ms */
	K_BOOL,
	K_COUNT, /* an array's length */
	K_PAIRS, /* an object of strings */
};

struct column {
	const char *head;
	const char *path; /* keys joined by '.' */
	enum cell_kind kind;
};

struct topic_view {
	const char *topic;
	const char *route; /* its own route, or NULL: /events?topic= */
	struct column cols[10];
};

/* Every standard topic but metric and agent (the registry: agents). */
static const struct topic_view topic_views[] = {
    {BM_TOPIC_ANOMALY,
     API "/anomalies",
     {{"SERIES", "series", K_SERIES},
      {"VALUE", "value", K_NUM},
      {"EXPECTED", "expected", K_NUM},
      {"LOWER", "lower", K_NUM},
      {"UPPER", "upper", K_NUM},
      {"SCORE", "score", K_NUM},
      {"DETECTOR", "detector", K_STR},
      {"REASON", "reason", K_STR}}},
    {BM_TOPIC_TREND,
     NULL,
     {{"SERIES", "series", K_SERIES},
      {"WINDOW", "window_ms", K_MS},
      {"DIRECTION", "direction", K_STR},
      {"SLOPE/S", "slope_per_s", K_NUM},
      {"P", "p_value", K_NUM},
      {"METHOD", "method", K_STR}}},
    {BM_TOPIC_FORECAST,
     NULL,
     {{"SERIES", "series", K_SERIES},
      {"MODEL", "model", K_STR},
      {"HORIZON", "horizon_ms", K_MS},
      {"TREND", "trend", K_STR},
      {"CONFIDENCE", "confidence", K_NUM},
      {"MASE", "error_mase", K_NUM},
      {"TO THRESHOLD", "time_to_threshold_ms", K_MS}}},
    {BM_TOPIC_CORRELATION,
     NULL,
     {{"A", "a", K_SERIES},
      {"B", "b", K_SERIES},
      {"METHOD", "method", K_STR},
      {"COEFFICIENT", "coefficient", K_NUM},
      {"LAG MS", "lag_ms", K_NUM},
      {"WINDOW", "window_ms", K_MS}}},
    {BM_TOPIC_BOTTLENECK,
     NULL,
     {{"RESOURCE", "resource", K_STR},
      {"KIND", "kind", K_STR},
      {"SEVERITY", "severity", K_STR},
      {"IMPACT", "impact", K_NUM},
      {"CONFIDENCE", "confidence", K_NUM},
      {"SUMMARY", "summary", K_STR}}},
    {BM_TOPIC_INSIGHT,
     NULL,
     {{"SEVERITY", "severity", K_STR},
      {"CATEGORY", "category", K_STR},
      {"SOURCE", "source", K_STR},
      {"TITLE", "title", K_STR}}},
    {BM_TOPIC_HEALTH,
     NULL,
     {{"COMPONENT", "component", K_STR},
      {"SCORE", "score", K_NUM},
      {"STATUS", "status", K_STR},
      {"REASONS", "reasons", K_COUNT}}},
    {BM_TOPIC_ALERT,
     API "/alerts/history",
     {{"ALERT", "rule_name", K_STR},
      {"STATE", "state", K_STR},
      {"SEVERITY", "severity", K_STR},
      {"VALUE", "value", K_NUM},
      {"FINGERPRINT", "fingerprint", K_STR},
      {"LABELS", "labels", K_PAIRS}}},
    {BM_TOPIC_NOTIFICATION,
     API "/notifications",
     {{"NOTIFIER", "notifier", K_STR},
      {"ALERT STATE", "alert_state", K_STR},
      {"ATTEMPT", "attempt", K_NUM},
      {"OUTCOME", "outcome", K_STR},
      {"LATENCY", "latency_ms", K_MS},
      {"ERROR", "error", K_STR}}},
    {BM_TOPIC_CANDIDATE,
     NULL,
     {{"ID", "id", K_STR},
      {"OPTIMIZER", "optimizer", K_STR},
      {"DIMENSION", "dimension", K_STR},
      {"ACTUATOR", "action.actuator", K_STR},
      {"TARGET", "action.target", K_STR},
      {"BENEFIT", "benefit", K_NUM},
      {"RISK", "risk", K_NUM},
      {"REASON", "reason", K_STR}}},
    {BM_TOPIC_RECOMMENDATION,
     API "/recommendations",
     {{"ID", "id", K_STR},
      {"STRATEGY", "strategy", K_STR},
      {"MODE", "mode", K_STR},
      {"APPROVED", "approved", K_BOOL},
      {"SCORE", "score", K_NUM},
      {"BENEFIT", "benefit", K_NUM},
      {"RISK", "risk", K_NUM},
      {"STEPS", "steps", K_COUNT},
      {"WHY", "why", K_STR}}},
    {BM_TOPIC_ACTION,
     API "/actions/history",
     {{"ID", "id", K_STR},
      {"PLAN", "plan_id", K_STR},
      {"STATE", "state", K_STR},
      {"DRY RUN", "dry_run", K_BOOL},
      {"ACTUATOR", "action.actuator", K_STR},
      {"TARGET", "action.target", K_STR},
      {"PARAMS", "action.params", K_PAIRS},
      {"REASON", "reason", K_STR},
      {"ERROR", "error", K_STR}}},
    {BM_TOPIC_AGENT_COMMAND,
     NULL,
     {{"AGENT", "agent_id", K_STR},
      {"COMMAND", "name", K_STR},
      {"ID", "command_id", K_STR},
      {"ARGS", "args", K_PAIRS}}},
    {BM_TOPIC_AGENT_ACK,
     NULL,
     {{"AGENT", "agent_id", K_STR},
      {"COMMAND ID", "command_id", K_STR},
      {"OK", "ok", K_BOOL},
      {"DETAIL", "detail", K_STR}}},
};
#define N_TOPIC_VIEWS (sizeof(topic_views) / sizeof(topic_views[0]))

static const struct topic_view *topic_view_of(const char *topic)
{
	for (size_t i = 0; i < N_TOPIC_VIEWS; i++)
		if (strcmp(topic_views[i].topic, topic) == 0)
			return &topic_views[i];
	return NULL;
}

static size_t n_columns(const struct topic_view *tv)
{
	size_t n = 0;
	while (n < 10 && tv->cols[n].head)
		n++;
	return n;
}

/* o["a"]["b"] for path "a.b". */
static const json_t *lookup(const json_t *o, const char *path)
{
	char key[64];
	while (o && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)(n < 63 ? n : 63), path);
		o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

static double number_or_nan(const json_t *val)
{
	return json_is_number(val) ? json_number_value(val) : NAN;
}

static void event_cell(struct table *t, const json_t *event, const struct column *c)
{
	const json_t *val = lookup(event, c->path);
	char buf[2048];
	switch (c->kind) {
	case K_STR:
		snprintf(buf, sizeof(buf), "%s",
			 json_is_string(val) ? json_string_value(val) : "-");
		break;
	case K_NUM:
		fmt_number(buf, sizeof(buf), number_or_nan(val));
		break;
	case K_SERIES:
		fmt_series(buf, sizeof(buf), json_string_value(json_object_get(val, "name")),
			   json_object_get(val, "labels"));
		break;
	case K_MS:
		fmt_duration(buf, sizeof(buf), number_or_nan(val));
		break;
	case K_BOOL:
		snprintf(buf, sizeof(buf), "%s", !val ? "-" : json_is_true(val) ? "yes" : "no");
		break;
	case K_COUNT:
		snprintf(buf, sizeof(buf), "%zu", json_array_size(val));
		break;
	case K_PAIRS:
		fmt_pairs(buf, sizeof(buf), val);
		break;
	}
	table_cell(t, "%s", buf);
}

/* TIME and the topic's columns, a row per stored event. */
static void print_events(const struct topic_view *tv, const json_t *events)
{
	size_t nc = n_columns(tv);
	char align[16] = "l";
	struct table t = {.ncols = nc + 1, .align = align};
	for (size_t c = 0; c < nc; c++)
		align[c + 1] = tv->cols[c].kind == K_NUM || tv->cols[c].kind == K_COUNT ? 'r' : 'l';
	table_cell(&t, "TIME");
	for (size_t c = 0; c < nc; c++)
		table_cell(&t, "%s", tv->cols[c].head);
	for (size_t i = 0; i < json_array_size(events); i++) {
		const json_t *e = json_array_get(events, i);
		char when[32];
		fmt_time(when, sizeof(when), json_integer_value(json_object_get(e, "ts_ms")));
		table_cell(&t, "%s", when);
		for (size_t c = 0; c < nc; c++)
			event_cell(&t, json_object_get(e, "event"), &tv->cols[c]);
	}
	table_print(stdout, &t, "");
}

/* The topic a command shows: its own, or events' TOPIC argument. */
static int topic_of(const struct view *v, const struct topic_view **tv)
{
	static const struct {
		const char *cmd, *topic;
	} fixed[] = {{"anomalies", BM_TOPIC_ANOMALY},
		     {"recommendations", BM_TOPIC_RECOMMENDATION},
		     {"actions", BM_TOPIC_ACTION}};
	for (size_t i = 0; i < 3; i++)
		if (strcmp(v->cmd->name, fixed[i].cmd) == 0)
			return (*tv = topic_view_of(fixed[i].topic)) ? CTL_OK : CTL_FAIL;
	const char *topic = v->args[0];
	if (strcmp(topic, BM_TOPIC_AGENT) == 0)
		return usage_error("%s", "events agent: the agent registry is bearmonctl agents");
	if (strcmp(topic, BM_TOPIC_METRIC) == 0)
		return usage_error("%s", "events metric: samples are bearmonctl series and query");
	if (!(*tv = topic_view_of(topic)))
		return usage_error("events: unknown topic \"%s\" (anomaly, trend, forecast, "
				   "correlation, bottleneck, insight, health, alert, notification, "
				   "candidate, recommendation, action, agent.command, agent.ack)",
				   topic);
	return CTL_OK;
}

static char *events_path(const struct view *v, const struct topic_view *tv, int64_t limit)
{
	struct path p;
	if (!path_begin(&p, tv->route ? tv->route : API "/events"))
		return NULL;
	if (!tv->route)
		path_param(&p, "topic", "%s", tv->topic);
	if (v->since_ms)
		path_param(&p, "since", "%lld", (long long)v->since_ms);
	if (limit)
		path_param(&p, "limit", "%lld", (long long)limit);
	return path_end(&p);
}

static int cmd_events(struct view *v)
{
	const struct topic_view *tv = NULL;
	json_t *doc = NULL;
	int rc = topic_of(v, &tv);
	char *path = rc ? NULL : events_path(v, tv, v->limit_n);
	if (!rc)
		rc = path ? get_doc(v, path, &doc) : CTL_FAIL;
	const json_t *events = json_object_get(doc, "events");
	if (!rc && !v->target.json && !json_array_size(events))
		printf("(no %s events stored%s)\n", tv->topic, v->since ? " in that time" : "");
	else if (!rc && !v->target.json)
		print_events(tv, events);
	json_decref(doc);
	free(path);
	return rc;
}

/* --- top: one frame ------------------------------------------------------------- */

/* A frame is text; the live view draws it, --once prints it. rc is
 * NOT_SERVED when the daemon has no query API, or the exit code of a
 * failed request. */
struct frame {
	const struct view *v;
	FILE *f;
	int rc;
};

static double frame_scalar(struct frame *fr, const char *expr)
{
	return scalar_of(fr->v, expr, &fr->rc);
}

/* A route of bearmon's API for the frame: a 404 (the plugin that serves
 * it is not running) is the caller's to show; an unreachable daemon ends
 * the frame. */
static int frame_get(struct frame *fr, const char *path, json_t **doc)
{
	*doc = NULL;
	if (fr->rc != CTL_OK)
		return fr->rc;
	int rc = get_optional(fr->v, path, doc, true);
	if (rc == CTL_UNREACHABLE)
		fr->rc = rc;
	return rc;
}

static void rate_text(char *buf, size_t n, double bytes_per_s)
{
	fmt_bytes(buf, n, bytes_per_s);
	if (isfinite(bytes_per_s))
		strncat(buf, "/s", n - strlen(buf) - 1);
}

static void host_cpu_load(struct frame *fr, struct table *t)
{
	char busy[32];
	json_t *doc = NULL;
	/* busy: neither idle nor waiting for IO, per core, averaged */
	fmt_percent(busy, sizeof(busy),
		    frame_scalar(
			fr, "avg(1 - sum by (cpu) (irate(node_cpu_seconds_total{mode=~\"idle|"
			    "iowait\"}[1m])) / sum by (cpu) (irate(node_cpu_seconds_total[1m])))"));
	const json_t *load = vector_of(fr->v, "{__name__=~\"node_load(1|5|15)\"}", &doc, &fr->rc);
	char l[3][32];
	static const char *const names[] = {"node_load1", "node_load5", "node_load15"};
	for (size_t i = 0; i < 3; i++)
		fmt_number(l[i], sizeof(l[i]), value_where(load, "__name__", names[i]));
	json_decref(doc);
	table_cell(t, "CPU");
	table_cell(t, "%s busy    load %s %s %s", busy, l[0], l[1], l[2]);
}

static void host_memory(struct frame *fr, struct table *t)
{
	json_t *doc = NULL;
	const json_t *mem = vector_of(
	    fr->v, "{__name__=~\"node_memory_(MemTotal|MemAvailable)_bytes\"}", &doc, &fr->rc);
	double total = value_where(mem, "__name__", "node_memory_MemTotal_bytes");
	double avail = value_where(mem, "__name__", "node_memory_MemAvailable_bytes");
	char used_s[32], avail_s[32], total_s[32];
	fmt_bytes(used_s, sizeof(used_s), total - avail);
	fmt_bytes(avail_s, sizeof(avail_s), avail);
	fmt_bytes(total_s, sizeof(total_s), total);
	json_decref(doc);
	table_cell(t, "Memory");
	table_cell(t, "%s used    %s available    of %s", used_s, avail_s, total_s);
}

static void host_pressure(struct frame *fr, struct table *t)
{
	json_t *doc = NULL;
	const json_t *psi = vector_of(
	    fr->v, "bearmon_pressure_avg_ratio{kind=\"some\", window=\"10s\"}", &doc, &fr->rc);
	char r[3][32];
	static const char *const res[] = {"cpu", "memory", "io"};
	for (size_t i = 0; i < 3; i++)
		fmt_percent(r[i], sizeof(r[i]), value_where(psi, "resource", res[i]));
	json_decref(doc);
	table_cell(t, "Pressure");
	table_cell(t, "some, 10s:  cpu %s    memory %s    io %s", r[0], r[1], r[2]);
}

static void host_io(struct frame *fr, struct table *t)
{
	static const struct {
		const char *label, *what[2], *expr[2];
	} rows[] = {
	    {"Disk",
	     {"read", "write"},
	     {"sum(irate(node_disk_read_bytes_total[1m]))",
	      "sum(irate(node_disk_written_bytes_total[1m]))"}},
	    {"Network",
	     {"receive", "transmit"},
	     {"sum(irate(node_network_receive_bytes_total{device!=\"lo\"}[1m]))",
	      "sum(irate(node_network_transmit_bytes_total{device!=\"lo\"}[1m]))"}},
	};
	for (size_t i = 0; i < 2; i++) {
		char a[32], b[32];
		rate_text(a, sizeof(a), frame_scalar(fr, rows[i].expr[0]));
		rate_text(b, sizeof(b), frame_scalar(fr, rows[i].expr[1]));
		table_cell(t, "%s", rows[i].label);
		table_cell(t, "%s %s    %s %s", rows[i].what[0], a, rows[i].what[1], b);
	}
}

/* Firing and pending alerts of the rule engine, when one runs. */
static void host_alerts(struct frame *fr, struct table *t)
{
	json_t *doc = NULL;
	int rc = frame_get(fr, API "/alerts", &doc);
	const json_t *alerts = json_object_get(doc, "alerts");
	size_t firing = 0, pending = 0;
	for (size_t i = 0; i < json_array_size(alerts); i++) {
		const char *st = str_or(json_array_get(alerts, i), "state", "");
		firing += strcmp(st, "firing") == 0;
		pending += strcmp(st, "pending") == 0;
	}
	table_cell(t, "Alerts");
	if (rc == NOT_SERVED)
		table_cell(t, "- (no alert rule engine: analyzer/alerts is not running)");
	else if (rc)
		table_cell(t, "-");
	else
		table_cell(t, "%zu firing    %zu pending", firing, pending);
	json_decref(doc);
}

static int cmp_value_desc(const void *a, const void *b)
{
	double x = sample_value(*(json_t *const *)a), y = sample_value(*(json_t *const *)b);
	return (x < y) - (x > y);
}

/* The resident memory of the process whose labels (comm, pid, ...) are
 * those of the CPU sample. */
static double rss_of(const json_t *rss, const json_t *labels)
{
	for (size_t i = 0; i < json_array_size(rss); i++) {
		const json_t *s = json_array_get(rss, i);
		const json_t *m = json_object_get(s, "metric");
		const char *key;
		json_t *val;
		bool same = true;
		json_object_foreach((json_t *)labels, key, val) same =
		    same && json_equal(val, json_object_get(m, key));
		if (same)
			return sample_value(s);
	}
	return NAN;
}

/* The busiest processes that still run: a process that exited keeps a
 * rate over the last minute, but its series are stale (no resident
 * memory now). */
static void process_rows(struct table *t, const json_t *cpu, const json_t *rss)
{
	size_t n = json_array_size(cpu), shown = 0;
	json_t **rows = calloc(n ? n : 1, sizeof(*rows));
	for (size_t i = 0; rows && i < n; i++)
		rows[i] = json_array_get(cpu, i);
	if (rows)
		qsort(rows, n, sizeof(*rows), cmp_value_desc);
	for (size_t i = 0; rows && i < n && shown < TOP_PROCESSES; i++) {
		const json_t *m = json_object_get(rows[i], "metric");
		char pct[32], mem[32];
		double resident = rss_of(rss, m);
		if (!isfinite(resident))
			continue;
		shown++;
		fmt_percent(pct, sizeof(pct), sample_value(rows[i]));
		fmt_bytes(mem, sizeof(mem), resident);
		table_cell(t, "%s", str_or(m, "pid", "-"));
		table_cell(t, "%s", str_or(m, "user", "-"));
		table_cell(t, "%s", pct);
		table_cell(t, "%s", mem);
		table_cell(t, "%s", str_or(m, "group", "-"));
		table_cell(t, "%s", str_or(m, "comm", "-"));
	}
	free(rows);
}

static void top_processes(struct frame *fr)
{
	json_t *cpu_doc = NULL, *rss_doc = NULL;
	/* every selected process (the collector keeps their number small) */
	const json_t *cpu =
	    vector_of(fr->v, "sum without (mode) (irate(bearmon_process_cpu_seconds_total[1m]))",
		      &cpu_doc, &fr->rc);
	const json_t *rss =
	    vector_of(fr->v, "bearmon_process_resident_memory_bytes", &rss_doc, &fr->rc);
	struct table t = {.ncols = 6, .align = "rlrrll"};
	static const char *const head[] = {"PID", "USER", "CPU", "RSS", "GROUP", "COMMAND"};
	fputc('\n', fr->f);
	if (!json_array_size(cpu)) {
		fputs("(no process series: is collector/processes running?)\n", fr->f);
	} else {
		for (size_t k = 0; k < 6; k++)
			table_cell(&t, "%s", head[k]);
		process_rows(&t, cpu, rss);
		table_print(fr->f, &t, "");
	}
	json_decref(cpu_doc);
	json_decref(rss_doc);
}

static void top_agents(struct frame *fr)
{
	json_t *doc = NULL;
	frame_get(fr, API "/agents", &doc);
	fputc('\n', fr->f);
	print_agents(fr->f, fr->v, json_object_get(doc, "agents"), &fr->rc);
	json_decref(doc);
}

/* The newest anomalies and bottlenecks, merged newest first. */
struct finding {
	int64_t ts;
	const char *kind;
	char what[512];
	char detail[512];
};

static size_t load_findings(struct frame *fr, const char *topic, json_t **doc, struct finding *out,
			    size_t cap)
{
	const struct topic_view *tv = topic_view_of(topic);
	char *path = events_path(fr->v, tv, TOP_FINDINGS);
	size_t n = 0;
	*doc = NULL;
	if (!path || frame_get(fr, path, doc)) {
		free(path);
		return 0;
	}
	free(path);
	const json_t *events = json_object_get(*doc, "events");
	for (size_t i = 0; i < json_array_size(events) && n < cap; i++, n++) {
		const json_t *e = json_object_get(json_array_get(events, i), "event");
		struct finding *f = &out[n];
		char score[32];
		f->ts = json_integer_value(json_object_get(json_array_get(events, i), "ts_ms"));
		f->kind = topic;
		if (strcmp(topic, BM_TOPIC_ANOMALY) == 0) {
			const json_t *s = json_object_get(e, "series");
			fmt_series(f->what, sizeof(f->what), str_or(s, "name", "-"),
				   json_object_get(s, "labels"));
			fmt_number(score, sizeof(score),
				   json_number_value(json_object_get(e, "score")));
			snprintf(f->detail, sizeof(f->detail), "score %s  %s", score,
				 str_or(e, "reason", str_or(e, "detector", "")));
		} else {
			snprintf(f->what, sizeof(f->what), "%s", str_or(e, "resource", "-"));
			snprintf(f->detail, sizeof(f->detail), "%s %s  %s",
				 str_or(e, "severity", "-"), str_or(e, "kind", "-"),
				 str_or(e, "summary", ""));
		}
	}
	return n;
}

static int cmp_finding(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	return (x->ts < y->ts) - (x->ts > y->ts);
}

static void top_findings(struct frame *fr)
{
	struct finding f[2 * TOP_FINDINGS];
	json_t *docs[2] = {NULL, NULL};
	size_t n = load_findings(fr, BM_TOPIC_ANOMALY, &docs[0], f, TOP_FINDINGS);
	n += load_findings(fr, BM_TOPIC_BOTTLENECK, &docs[1], f + n, TOP_FINDINGS);
	qsort(f, n, sizeof(f[0]), cmp_finding);
	fputc('\n', fr->f);
	if (!n) {
		fputs("(no anomalies or bottlenecks stored)\n", fr->f);
	} else {
		struct table t = {.ncols = 4, .align = "llll"};
		table_cell(&t, "TIME");
		table_cell(&t, "FINDING");
		table_cell(&t, "WHAT");
		table_cell(&t, "DETAIL");
		for (size_t i = 0; i < n && i < TOP_FINDINGS; i++) {
			char when[32];
			fmt_time(when, sizeof(when), f[i].ts);
			table_cell(&t, "%s", when);
			table_cell(&t, "%s", f[i].kind);
			table_cell(&t, "%s", f[i].what);
			table_cell(&t, "%s", f[i].detail);
		}
		table_print(fr->f, &t, "");
	}
	json_decref(docs[0]);
	json_decref(docs[1]);
}

/* The whole frame into *text (malloc'd). Returns CTL_OK, NOT_SERVED or the
 * exit code of an unreachable daemon. */
static int render_frame(const struct view *v, bool live, char **text)
{
	size_t len;
	struct frame fr = {v, open_memstream(text, &len), CTL_OK};
	struct table t = {.ncols = 2, .align = "ll"};
	char when[32], every[32];
	if (!fr.f)
		return CTL_FAIL;
	fmt_time(when, sizeof(when), wall_now_ms());
	fmt_duration(every, sizeof(every), (double)v->interval_ms);
	fprintf(fr.f, "bearmon top    %s    %s", v->http.url, when);
	if (live)
		fprintf(fr.f, "    every %s, q quits", every);
	fputs("\n\n", fr.f);
	static void (*const host_rows[])(struct frame *, struct table *) = {
	    host_cpu_load, host_memory, host_pressure, host_io, host_alerts};
	static void (*const blocks[])(struct frame *) = {top_processes, top_agents, top_findings};
	for (size_t i = 0; i < 5 && fr.rc == CTL_OK; i++)
		host_rows[i](&fr, &t);
	table_print(fr.f, &t, "");
	for (size_t i = 0; i < 3 && fr.rc == CTL_OK; i++)
		blocks[i](&fr);
	fclose(fr.f);
	return fr.rc;
}

/* --- top: the terminal ---------------------------------------------------------- */

static volatile sig_atomic_t quit_requested;

/* SIGWINCH only interrupts the wait, so that the next frame is drawn at
 * once, at the new size; the others end the view. */
static void on_signal(int sig)
{
	if (sig != SIGWINCH)
		quit_requested = 1;
}

struct term {
	struct termios saved;
	bool raw;
	int saved_stderr; /* the real stderr while ours goes to a file */
	FILE *errors;	  /* what was printed meanwhile, shown after the view */
	struct sigaction old[4];
};

static const int term_signals[4] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};

/* Raw keys (no echo, no line buffering; Ctrl-C still signals), the
 * alternate screen, no cursor, and stderr kept aside so that messages do
 * not scribble over the frame. */
static void term_enter(struct term *t)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 4; i++)
		sigaction(term_signals[i], &sa, &t->old[i]);
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		struct termios raw = t->saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		t->raw = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
	}
	fflush(stderr);
	t->errors = tmpfile();
	t->saved_stderr = t->errors ? dup(STDERR_FILENO) : -1;
	if (t->saved_stderr >= 0)
		dup2(fileno(t->errors), STDERR_FILENO);
	fputs("\033[?1049h\033[?25l", stdout);
	fflush(stdout);
}

static void term_leave(struct term *t)
{
	char buf[4096];
	size_t n;
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved);
	for (size_t i = 0; i < 4; i++)
		sigaction(term_signals[i], &t->old[i], NULL);
	fflush(stderr);
	if (t->saved_stderr >= 0) {
		dup2(t->saved_stderr, STDERR_FILENO);
		close(t->saved_stderr);
	}
	if (t->errors) {
		rewind(t->errors);
		while ((n = fread(buf, 1, sizeof(buf), t->errors)) > 0)
			fwrite(buf, 1, n, stderr);
		fclose(t->errors);
	}
}

/* The byte length of the first cols columns of s (UTF-8 sequences kept
 * whole; one column each). */
static size_t fit_width(const char *s, size_t len, size_t cols)
{
	size_t i = 0, used = 0;
	while (i < len && used < cols) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		used++;
	}
	return i;
}

/* Home, each line cut to the screen and cleared to its end, the rest of
 * the screen cleared: composed first and written at once (stdout on a
 * terminal is line-buffered), so the view does not flicker. */
static void draw(const char *text)
{
	struct winsize ws = {0};
	size_t rows = 24, cols = 80, row = 0, len = 0;
	char *screen = NULL;
	FILE *f = open_memstream(&screen, &len);
	if (!f)
		return;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		rows = ws.ws_row;
		cols = ws.ws_col;
	}
	fputs("\033[H", f);
	for (const char *line = text; *line && row < rows; row++) {
		size_t n = strcspn(line, "\n");
		fwrite(line, 1, fit_width(line, n, cols), f);
		fputs(row + 1 < rows ? "\033[K\n" : "\033[K", f);
		line += n + (line[n] == '\n');
	}
	fputs("\033[J", f);
	if (fclose(f) == 0) {
		fflush(stdout);
		for (size_t done = 0; done < len;) {
			ssize_t w = write(STDOUT_FILENO, screen + done, len - done);
			if (w < 0 && errno != EINTR)
				break;
			done += w > 0 ? (size_t)w : 0;
		}
	}
	free(screen);
}

/* Wait up to ms for q; true when the view should end. At the end of
 * the input only Ctrl-C is left. */
static bool wait_key(int64_t ms, bool *stdin_open)
{
	struct pollfd pfd = {.fd = *stdin_open ? STDIN_FILENO : -1, .events = POLLIN};
	int n = poll(&pfd, 1, (int)ms);
	char c;
	if (n > 0 && read(STDIN_FILENO, &c, 1) == 1)
		return c == 'q' || c == 'Q';
	if (n > 0)
		*stdin_open = false;
	return quit_requested;
}

static int top_live(const struct view *v)
{
	struct term t = {0};
	int rc = CTL_OK;
	bool stdin_open = true;
	quit_requested = 0;
	term_enter(&t);
	while (!quit_requested) {
		char *text = NULL;
		rc = render_frame(v, true, &text);
		if (rc == CTL_OK)
			draw(text);
		free(text);
		if (rc != CTL_OK || wait_key(v->interval_ms, &stdin_open))
			break;
	}
	term_leave(&t);
	return rc == NOT_SERVED ? no_promql(v) : rc;
}

static int cmd_top(struct view *v)
{
	char *text = NULL;
	if (!v->once && !isatty(STDOUT_FILENO))
		return usage_error("%s",
				   "top draws on a terminal; top --once prints one plain frame");
	if (!v->once)
		return top_live(v);
	int rc = render_frame(v, false, &text);
	if (rc == CTL_OK)
		fputs(text, stdout);
	free(text);
	return rc == NOT_SERVED ? no_promql(v) : rc;
}

/* --- entry -------------------------------------------------------------------- */

int ctl_view_main(int argc, char **argv)
{
	struct view v = {.now_ms = wall_now_ms()};
	int rc = parse_options(argc, argv, &v);
	if (!rc && v.help) {
		usage(stdout);
		return CTL_OK;
	}
	if (!rc)
		rc = check_args(&v);
	if (!rc)
		rc = ctl_http_resolve(&v.http, v.target.url_opt, v.target.config);
	if (rc)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "bearmonctl: cannot initialise libcurl\n");
		return CTL_FAIL;
	}
	rc = v.cmd->run(&v);
	curl_global_cleanup();
	return rc;
}
