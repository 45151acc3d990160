/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MCP tools: query_series (PromQL through the host, or a plain series
 * selector from the store when the host has no PromQL), list_alerts,
 * list_anomalies, get_bottlenecks, get_recommendations and explain_series
 * (statistics, least-squares trend, anomalies and the analyzers' trend and
 * forecast of a series over a window). Every answer is JSON, returned both
 * as structuredContent and as its text.
 */
#define _GNU_SOURCE
#include "mcp.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selector.h"
#include "storeq.h"

#define EXPLAIN_MAX_SERIES 10
#define LIST_LIMIT_MAX 1000

typedef json_t *(*tool_fn)(struct mcp *m, const json_t *args, char *err, size_t errlen);

/* --- arguments -------------------------------------------------------------------- */

int mcp_parse_duration(const char *s, int64_t *ms)
{
	return s && bm_parse_duration(s, strlen(s), ms) && *ms > 0 ? 0 : -1;
}

static int arg_duration(const json_t *args, const char *name, int64_t dflt, int64_t *out,
			char *err, size_t errlen)
{
	const json_t *v = json_object_get(args, name);
	*out = dflt;
	if (!v)
		return 0;
	if (json_is_string(v) && mcp_parse_duration(json_string_value(v), out) == 0)
		return 0;
	snprintf(err, errlen, "%s: a duration such as \"30s\", \"15m\", \"1h\" or \"7d\"", name);
	return -1;
}

static int arg_int(const json_t *args, const char *name, int64_t dflt, int64_t lo, int64_t hi,
		   int64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(args, name);
	*out = dflt;
	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi) {
		*out = json_integer_value(v);
		return 0;
	}
	snprintf(err, errlen, "%s: an integer from %lld to %lld", name, (long long)lo, (long long)hi);
	return -1;
}

static int arg_selector(const json_t *args, const char *name, bool required,
			struct selector *sel, bool *given, char *err, size_t errlen)
{
	const char *text = json_string_value(json_object_get(args, name));
	char why[160];
	size_t used;
	*given = text != NULL;
	if (!text) {
		if (required)
			snprintf(err, errlen, "%s: required, a series selector such as node_load1 or "
					      "agent_error_ratio{agent=\"planner\"}", name);
		return required ? -1 : 0;
	}
	if (selector_parse(text, strlen(text), sel, &used, why, sizeof(why)) == 0) {
		if (used == strlen(text))
			return 0;
		selector_free(sel);
		snprintf(why, sizeof(why), "position %zu: unexpected text after the selector", used + 1);
	}
	snprintf(err, errlen, "%s: %s", name, why);
	return -1;
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *points_json(const int64_t *ts, const double *v, size_t n, size_t max)
{
	json_t *a = json_array();
	size_t from = n > max ? n - max : 0; /* the newest, when there are too many */
	for (size_t i = from; a && i < n; i++)
		json_array_append_new(a, json_pack("[I, o]", (json_int_t)ts[i], num(v[i])));
	return a;
}

static json_t *labels_json(const struct bm_label *l, uint32_t n)
{
	json_t *o = json_object();
	for (uint32_t i = 0; o && i < n; i++)
		json_object_set_new(o, l[i].name, json_string(l[i].value));
	return o;
}

/* --- query_series -------------------------------------------------------------------- */

struct q_out {
	const struct mcp_conf *conf;
	json_t *series;
	const char *type;
	bool truncated;
};

static const char *type_name(enum bm_promql_type t)
{
	switch (t) {
	case BM_PROMQL_SCALAR: return "scalar";
	case BM_PROMQL_VECTOR: return "vector";
	case BM_PROMQL_MATRIX: return "matrix";
	case BM_PROMQL_STRING: return "string";
	}
	return "unknown";
}

static void on_promql(void *user, const struct bm_promql_series *s)
{
	struct q_out *o = user;
	o->type = type_name(s->type);
	if ((int64_t)json_array_size(o->series) >= o->conf->max_series) {
		o->truncated = true;
		return;
	}
	json_t *e = json_pack("{s:s?, s:o, s:o}", "metric", s->name, "labels",
			      labels_json(s->labels, s->n_labels), "points",
			      points_json(s->ts_ms, s->v, s->n, (size_t)o->conf->max_points));
	if (s->str)
		json_object_set_new(e, "string", json_string(s->str));
	if (s->n > (size_t)o->conf->max_points)
		o->truncated = true;
	json_array_append_new(o->series, e);
}

/* The labels of a store item, without __name__. */
static json_t *item_labels(const struct sq_item *it)
{
	json_t *o = json_object();
	for (size_t i = 0; i < it->parts.n; i++)
		if (strcmp(it->parts.m[i].name, "__name__") != 0)
			json_object_set_new(o, it->parts.m[i].name, json_string(it->parts.m[i].value));
	return o;
}

struct pts {
	int64_t *ts;
	double *v;
	size_t n, cap;
};

static void on_point(void *user, int64_t ts, double v)
{
	struct pts *p = user;
	if (p->n == p->cap) {
		size_t c = p->cap ? 2 * p->cap : 64;
		int64_t *t = realloc(p->ts, c * sizeof(*t));
		if (t)
			p->ts = t;
		double *d = t ? realloc(p->v, c * sizeof(*d)) : NULL;
		if (!d)
			return;
		p->v = d;
		p->cap = c;
	}
	p->ts[p->n] = ts;
	p->v[p->n++] = v;
}

/* Without PromQL: a plain selector's latest values, or its points per step. */
static json_t *query_store(struct mcp *m, const char *query, int64_t start, int64_t end,
			   int64_t step, char *err, size_t errlen)
{
	struct sq_list l;
	int rc = sq_select(m->ctx, query, SQ_LATEST, end, m->conf->lookback_ms,
			   (size_t)m->conf->max_series + 1, &l);
	if (rc == BM_EINVAL) {
		snprintf(err, errlen, "this bearmond has no PromQL engine: give a series selector "
				      "such as node_load1{job=\"x\"}");
		return NULL;
	}
	if (rc) {
		snprintf(err, errlen, "the store cannot be read (%s)", bm_strerror(rc));
		return NULL;
	}
	json_t *series = json_array();
	for (size_t i = 0; i < l.n && (int64_t)i < m->conf->max_series; i++) {
		struct pts p = {0};
		if (step)
			bm_store_range(m->ctx, l.v[i].id, start, end, step, BM_AGG_AVG, on_point, &p);
		else if (isfinite(l.v[i].value))
			on_point(&p, end, l.v[i].value);
		json_array_append_new(series, json_pack("{s:s, s:o, s:o}", "metric", sq_name(&l.v[i]),
							"labels", item_labels(&l.v[i]), "points",
							points_json(p.ts, p.v, p.n, (size_t)m->conf->max_points)));
		free(p.ts);
		free(p.v);
	}
	json_t *r = json_pack("{s:s, s:s, s:o, s:b}", "engine", "store", "result_type",
			      step ? "matrix" : "vector", "series", series, "truncated",
			      (int64_t)l.n > m->conf->max_series);
	sq_list_free(&l);
	return r;
}

static json_t *tool_query_series(struct mcp *m, const json_t *args, char *err, size_t errlen)
{
	const char *query = json_string_value(json_object_get(args, "query"));
	int64_t range, step, end;
	if (!query || !*query) {
		snprintf(err, errlen, "query: required, PromQL such as rate(node_cpu_seconds_total[5m])");
		return NULL;
	}
	if (arg_duration(args, "range", 0, &range, err, errlen) ||
	    arg_duration(args, "step", 0, &step, err, errlen) ||
	    arg_int(args, "time", bm_now_ms(m->ctx), 1, INT64_MAX, &end, err, errlen))
		return NULL;
	int64_t start = end - range;
	if (range) {
		int64_t fit = range / (m->conf->max_points - 1) + 1;
		if (!step || step < fit)
			step = fit < 1000 ? 1000 : fit; /* never more points than max_points */
	} else {
		step = 0;
	}
	struct q_out o = {m->conf, json_array(), range ? "matrix" : "vector", false};
	char perr[256] = "";
	long n = bm_promql(m->ctx, query, start, end, step, on_promql, &o, perr, sizeof(perr));
	if (n == BM_ENOTSUP) {
		json_decref(o.series);
		return query_store(m, query, start, end, step, err, errlen);
	}
	if (n < 0) {
		json_decref(o.series);
		snprintf(err, errlen, "%s%s", n == BM_ERANGE ? "query too large: raise step or narrow "
							       "range: " : "", perr[0] ? perr : bm_strerror((int)n));
		return NULL;
	}
	return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:b}", "engine", "promql", "result_type",
			 o.type, "series", o.series, "start_ms", (json_int_t)start, "end_ms",
			 (json_int_t)end, "step_ms", (json_int_t)step, "truncated", o.truncated);
}

/* --- events ------------------------------------------------------------------------ */

static bool event_series_matches(const json_t *ev, const struct selector *sel)
{
	const json_t *s = json_object_get(ev, "series");
	const char *name = json_string_value(json_object_get(s, "name"));
	const json_t *labels = json_object_get(s, "labels");
	struct bm_label l[64];
	uint32_t n = 0;
	const char *k;
	json_t *v;
	if (!name)
		return false;
	json_object_foreach((json_t *)labels, k, v)
	{
		if (json_is_string(v) && n < 64)
			l[n++] = (struct bm_label){k, json_string_value(v)};
	}
	return selector_matches(sel, name, l, n);
}

static json_t *tool_list_alerts(struct mcp *m, const json_t *args, char *err, size_t errlen)
{
	const char *state = json_string_value(json_object_get(args, "state"));
	if (state && strcmp(state, "firing") != 0 && strcmp(state, "pending") != 0) {
		snprintf(err, errlen, "state: \"firing\" or \"pending\"");
		return NULL;
	}
	json_t *all = evcache_list(&m->cache, EC_ALERT, 0, 0), *out = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(all, i, a)
	{
		const char *st = json_string_value(json_object_get(a, "state"));
		if (!state || (st && strcmp(st, state) == 0))
			json_array_append(out, a);
	}
	json_decref(all);
	return json_pack("{s:I, s:o, s:s}", "count", (json_int_t)json_array_size(out), "alerts", out,
			 "note", "active alert instances (pending and firing) seen since bearmond started");
}

static json_t *tool_list_anomalies(struct mcp *m, const json_t *args, char *err, size_t errlen)
{
	int64_t window, limit;
	struct selector sel;
	bool have_sel;
	if (arg_duration(args, "window", m->conf->default_window_ms, &window, err, errlen) ||
	    arg_int(args, "limit", 50, 1, LIST_LIMIT_MAX, &limit, err, errlen) ||
	    arg_selector(args, "series", false, &sel, &have_sel, err, errlen))
		return NULL;
	json_t *all = evcache_list(&m->cache, EC_ANOMALY, bm_now_ms(m->ctx) - window, 0);
	json_t *out = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(all, i, a)
	{
		if ((int64_t)json_array_size(out) >= limit)
			break;
		if (!have_sel || event_series_matches(a, &sel))
			json_array_append(out, a);
	}
	json_decref(all);
	if (have_sel)
		selector_free(&sel);
	return json_pack("{s:I, s:I, s:o}", "count", (json_int_t)json_array_size(out), "window_ms",
			 (json_int_t)window, "anomalies", out);
}

static json_t *tool_get_bottlenecks(struct mcp *m, const json_t *args, char *err, size_t errlen)
{
	(void)args;
	(void)err;
	(void)errlen;
	return json_pack("{s:o, s:o, s:s}", "bottlenecks", evcache_list(&m->cache, EC_BOTTLENECK, 0, 0),
			 "insights", evcache_list(&m->cache, EC_INSIGHT, 0, 20), "note",
			 "current findings of the bottleneck analyzer, each with its evidence "
			 "(series and values) and a recommendation; most recent first");
}

static json_t *tool_get_recommendations(struct mcp *m, const json_t *args, char *err,
					size_t errlen)
{
	(void)args;
	(void)err;
	(void)errlen;
	return json_pack("{s:o, s:o}", "recommendations",
			 evcache_list(&m->cache, EC_RECOMMENDATION, 0, 0), "recent_actions",
			 evcache_list(&m->cache, EC_ACTION, 0, 20));
}

/* --- explain_series -------------------------------------------------------------------- */

static const char *direction(const struct sq_stats *st, double change)
{
	double spread = st->max - st->min;
	if (!isfinite(change) || st->n < 3 || spread <= 0 || fabs(change) < 0.1 * spread)
		return "stable";
	return change > 0 ? "increasing" : "decreasing";
}

static json_t *anomalies_of(struct mcp *m, const char *key, int64_t since, size_t *count)
{
	json_t *all = evcache_list(&m->cache, EC_ANOMALY, since, 0), *out = json_array();
	size_t i;
	json_t *a;
	*count = 0;
	json_array_foreach(all, i, a)
	{
		char *k = evcache_series_key(json_object_get(a, "series"));
		if (k && strcmp(k, key) == 0 && (*count)++ < 5)
			json_array_append(out, a);
		free(k);
	}
	json_decref(all);
	return out;
}

static json_t *explain_one(struct mcp *m, const struct sq_item *it, int64_t now, int64_t window)
{
	struct sq_stats st;
	char summary[768];
	size_t n_anom = 0;
	if (sq_stats(m->ctx, it->id, now - window, now, &st))
		return NULL;
	double change = st.slope_per_s * (double)(st.last_ts_ms - st.first_ts_ms) / 1000.0;
	const char *dir = direction(&st, change);
	json_t *anoms = anomalies_of(m, it->text, now - window, &n_anom);
	json_t *trend = evcache_get(&m->cache, EC_TREND, it->text);
	json_t *fc = evcache_get(&m->cache, EC_FORECAST, it->text);
	if (!st.n)
		snprintf(summary, sizeof(summary), "%s: no samples in the last %lld s", it->text,
			 (long long)(window / 1000));
	else
		snprintf(summary, sizeof(summary),
			 "%s: %zu samples over %lld s; min %g, max %g, mean %g, last %g; %s "
			 "(least squares %g per second); %zu anomal%s in the window%s%s",
			 it->text, st.n, (long long)(window / 1000), st.min, st.max, st.avg, st.last,
			 dir, st.slope_per_s, n_anom, n_anom == 1 ? "y" : "ies",
			 trend ? "; the trend analyzer says " : "",
			 trend ? json_string_value(json_object_get(trend, "direction")) : "");
	json_t *out = json_pack("{s:s, s:s, s:o, s:{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:I}, "
				"s:{s:s, s:o, s:o}, s:I, s:o, s:O?, s:O?}",
			 "series", it->text, "summary", summary, "labels", item_labels(it), "stats",
			 "samples", (json_int_t)st.n, "min", num(st.min), "max", num(st.max), "avg",
			 num(st.avg), "first", num(st.first), "last", num(st.last), "first_ts_ms",
			 (json_int_t)st.first_ts_ms, "last_ts_ms", (json_int_t)st.last_ts_ms, "trend",
			 "direction", dir, "slope_per_s", num(st.slope_per_s), "change", num(change),
			 "anomalies_in_window", (json_int_t)n_anom, "anomalies", anoms,
			 "analyzer_trend", trend, "forecast", fc);
	json_decref(trend);
	json_decref(fc);
	return out;
}

static json_t *tool_explain_series(struct mcp *m, const json_t *args, char *err, size_t errlen)
{
	int64_t window;
	struct selector sel;
	bool given;
	struct sq_list l;
	if (arg_selector(args, "series", true, &sel, &given, err, errlen))
		return NULL;
	if (arg_duration(args, "window", m->conf->default_window_ms, &window, err, errlen)) {
		selector_free(&sel);
		return NULL;
	}
	int64_t now = bm_now_ms(m->ctx);
	int rc = sq_select(m->ctx, sel.text, SQ_LATEST, now, window, EXPLAIN_MAX_SERIES + 1, &l);
	selector_free(&sel);
	if (rc) {
		snprintf(err, errlen, "the store cannot be read (%s)", bm_strerror(rc));
		return NULL;
	}
	json_t *out = json_array();
	for (size_t i = 0; i < l.n && i < EXPLAIN_MAX_SERIES; i++) {
		json_t *e = explain_one(m, &l.v[i], now, window);
		if (e)
			json_array_append_new(out, e);
	}
	json_t *r = json_pack("{s:I, s:o, s:b}", "window_ms", (json_int_t)window, "series", out,
			      "truncated", l.n > EXPLAIN_MAX_SERIES);
	sq_list_free(&l);
	if (!json_array_size(out))
		json_object_set_new(r, "note", json_string("no series matches the selector"));
	return r;
}

/* --- the table -------------------------------------------------------------------- */

struct tool {
	const char *name;
	const char *title;
	const char *description;
	const char *schema; /* JSON Schema of the arguments */
	tool_fn run;
};

/* clang-format off */
static const struct tool tools[] = {
	{"query_series", "Query series",
	 "Evaluate PromQL (or, where bearmond has no PromQL engine, a series selector) over bearmon's "
	 "store: an instant query by default, a range query when `range` is given. Returns each "
	 "series with its labels and [timestamp_ms, value] points.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"query\":{\"type\":\"string\",\"description\":\"PromQL, e.g. rate(node_cpu_seconds_total{mode!=\\\"idle\\\"}[1m]) or agent_error_ratio\"},"
	 "\"range\":{\"type\":\"string\",\"description\":\"look back this far (\\\"15m\\\", \\\"1h\\\", \\\"7d\\\"): a range query\"},"
	 "\"step\":{\"type\":\"string\",\"description\":\"resolution of a range query (\\\"30s\\\"); raised to keep the answer small\"},"
	 "\"time\":{\"type\":\"integer\",\"description\":\"evaluation (end) time, ms since the epoch; default now\"}},"
	 "\"required\":[\"query\"],\"additionalProperties\":false}",
	 tool_query_series},
	{"list_alerts", "List active alerts",
	 "Active alert instances (pending and firing) with labels, annotations, value, threshold, "
	 "since when, acknowledgement and silence.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"state\":{\"type\":\"string\",\"enum\":[\"firing\",\"pending\"],\"description\":\"only this state\"}},"
	 "\"additionalProperties\":false}",
	 tool_list_alerts},
	{"list_anomalies", "List anomalies",
	 "Samples the anomaly detectors scored as anomalous, newest first, with the value, the "
	 "expected value and band, the score and the detector.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"window\":{\"type\":\"string\",\"description\":\"how far back (\\\"1h\\\")\"},"
	 "\"series\":{\"type\":\"string\",\"description\":\"only series matching this selector\"},"
	 "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}},"
	 "\"additionalProperties\":false}",
	 tool_list_anomalies},
	{"get_bottlenecks", "Get bottlenecks",
	 "What limits the system now (CPU, memory, disk, network, GPU, agents' coordination, "
	 "inference), ranked by impact, each with its evidence and a recommendation; and recent insights.",
	 "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
	 tool_get_bottlenecks},
	{"get_recommendations", "Get recommendations",
	 "The optimizer's current plans (steps, simulated benefit and risk, why) and its recent actions.",
	 "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
	 tool_get_recommendations},
	{"explain_series", "Explain a series",
	 "How a series behaved recently: min, max, mean, first and last values, a least-squares "
	 "trend, the anomalies in the window, and the trend analyzer's and forecaster's latest view.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"series\":{\"type\":\"string\",\"description\":\"a series selector, e.g. node_load1 or agent_task_duration_seconds{agent=\\\"planner\\\",quantile=\\\"0.95\\\"}\"},"
	 "\"window\":{\"type\":\"string\",\"description\":\"how far back (\\\"1h\\\")\"}},"
	 "\"required\":[\"series\"],\"additionalProperties\":false}",
	 tool_explain_series},
};
/* clang-format on */
#define N_TOOLS (sizeof(tools) / sizeof(tools[0]))

json_t *mcp_tools_list(void)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < N_TOOLS; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o, s:{s:b, s:b}}", "name",
						   tools[i].name, "title", tools[i].title,
						   "description", tools[i].description, "inputSchema",
						   json_loads(tools[i].schema, 0, NULL), "annotations",
						   "readOnlyHint", 1, "openWorldHint", 0));
	return a;
}

/* A CallToolResult: the answer as text content and as structured content,
 * or the error as text with isError. */
static json_t *tool_result(json_t *structured, const char *err)
{
	if (!structured)
		return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", err,
				 "isError", 1);
	char *text = json_dumps(structured, JSON_COMPACT);
	json_t *r = text ? json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text", "text",
				     text, "structuredContent", structured, "isError", 0)
			 : NULL;
	if (!text)
		json_decref(structured);
	free(text);
	return r;
}

json_t *mcp_tools_call(struct mcp *m, const char *name, const json_t *arguments, int *rpc_error)
{
	json_t *none = json_object();
	const json_t *args = arguments ? arguments : none;
	for (size_t i = 0; i < N_TOOLS; i++) {
		if (strcmp(tools[i].name, name) != 0)
			continue;
		char err[512] = "";
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)args, k, v)
		{
			json_t *schema = json_loads(tools[i].schema, 0, NULL);
			bool known = json_object_get(json_object_get(schema, "properties"), k) != NULL;
			json_decref(schema);
			if (!known) {
				snprintf(err, sizeof(err), "unknown argument \"%.100s\"", k);
				json_decref(none);
				return tool_result(NULL, err);
			}
		}
		json_t *out = tools[i].run(m, args, err, sizeof(err));
		json_decref(none);
		return tool_result(out, err[0] ? err : "out of memory");
	}
	json_decref(none);
	*rpc_error = MCP_INVALID_PARAMS;
	return NULL;
}
