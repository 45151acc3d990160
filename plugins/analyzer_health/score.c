/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Health scoring (see score.h): each input becomes a reason with a penalty
 * on one or two components (a fixed one, and agent:<id> for an agent),
 * then scores, statuses and the overall score follow.
 */
#define _GNU_SOURCE
#include "score.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_vec.h>

#include "series_map.h"

/* Anomalous series grouped per component and series; more are ignored. */
#define HS_MAX_ANOMALY_GROUPS 256

const char *hs_status_name(enum bm_health_status s)
{
	static const char *const names[] = {"ok", "degraded", "critical", "unknown"};
	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

static void component_reset(struct hs_component *c, const char *name)
{
	struct hs_reason *keep = c->reasons;
	size_t cap = c->cap_reasons;
	memset(c, 0, sizeof(*c));
	c->reasons = keep;
	c->cap_reasons = cap;
	snprintf(c->name, sizeof(c->name), "%s", name);
}

/* Room for every component this round can name, reserved up front so
 * that component_get never moves the array under pointers it returned. */
static int components_reserve(struct hs_result *r, size_t need)
{
	size_t old = r->cap;
	if (BM_VEC_RESERVE(r->v, r->cap, need))
		return BM_ENOMEM;
	memset(r->v + old, 0, (r->cap - old) * sizeof(*r->v));
	return 0;
}

/* The component named name, added when new; NULL past the reserved room. */
static struct hs_component *component_get(struct hs_result *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].name, name) == 0)
			return &r->v[i];
	if (r->n == r->cap)
		return NULL;
	struct hs_component *c = &r->v[r->n++];
	component_reset(c, name);
	return c;
}

__attribute__((format(printf, 6, 7))) static int
reason_add(struct hs_component *c, double penalty, const char *series, const char *label_name,
	   const char *label_value, const char *fmt, ...)
{
	if (BM_VEC_RESERVE(c->reasons, c->cap_reasons, c->n_reasons + 1))
		return BM_ENOMEM;
	struct hs_reason *r = &c->reasons[c->n_reasons++];
	memset(r, 0, sizeof(*r));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	r->penalty = penalty;
	snprintf(r->series, sizeof(r->series), "%s", series ? series : "");
	if (series && label_name) {
		snprintf(r->label_name, sizeof(r->label_name), "%s", label_name);
		snprintf(r->label_value, sizeof(r->label_value), "%s", label_value);
	}
	return 0;
}

/* The components a resource lowers: its fixed one, and itself for an
 * agent. n written to out (0 when the resource is unknown). */
static size_t targets(struct hs_result *r, const char *resource, struct hs_component *out[2])
{
	enum hc_component fixed = hc_of_resource(resource);
	if (fixed == HC_NONE)
		return 0;
	size_t n = 0;
	out[n] = component_get(r, hc_names[fixed]);
	n += out[n] != NULL;
	if (fixed == HC_AGENTS) {
		out[n] = component_get(r, resource);
		n += out[n] != NULL;
	}
	return n;
}

static double severity_penalty(const struct health_conf *c, enum bm_severity s)
{
	switch (s) {
	case BM_SEV_WARNING:
		return c->warning_penalty;
	case BM_SEV_CRITICAL:
		return c->critical_penalty;
	case BM_SEV_EMERGENCY:
		return 100;
	default:
		return 0;
	}
}

static int add_findings(const struct health_inputs *hi, const struct health_conf *c,
			struct hs_result *r)
{
	for (size_t i = 0; i < hi->n_findings; i++) {
		const struct hi_finding *f = &hi->findings[i];
		struct hs_component *t[2];
		size_t n = targets(r, f->resource, t);
		double p = severity_penalty(c, f->severity) + c->impact_penalty * f->impact;
		for (size_t k = 0; k < n; k++) {
			if (reason_add(t[k], p, f->series, f->label_name, f->label_value, "%s",
				       f->summary))
				return BM_ENOMEM;
			if (!t[k]->any_finding || f->severity > t[k]->worst)
				t[k]->worst = f->severity;
			t[k]->any_finding = true;
		}
	}
	return 0;
}

struct anomaly_group {
	const char *resource;
	const char *series;
	size_t count;
	double best;
};

static size_t group_anomalies(const struct health_inputs *hi, int64_t now_ms, int64_t window_ms,
			      struct anomaly_group *g)
{
	size_t n = 0;
	for (size_t i = 0; i < hi->n_anomalies; i++) {
		const struct hi_anomaly *a = &hi->anomalies[i];
		if (!a->resource || now_ms - a->ts_ms > window_ms)
			continue;
		size_t k = 0;
		while (k < n &&
		       (strcmp(g[k].resource, a->resource) || strcmp(g[k].series, a->series)))
			k++;
		if (k == n) {
			if (n == HS_MAX_ANOMALY_GROUPS)
				continue;
			g[n++] = (struct anomaly_group){a->resource, a->series, 0, 0};
		}
		g[k].count++;
		g[k].best = fmax(g[k].best, a->score);
	}
	return n;
}

/* Anomalies: per series anomaly_penalty x best score, at most
 * anomaly_penalty_max per component (the excess is cut from the last). */
static int add_anomalies(const struct health_inputs *hi, const struct health_conf *c,
			 int64_t now_ms, struct hs_result *r)
{
	static struct anomaly_group g[HS_MAX_ANOMALY_GROUPS]; /* main thread only */
	size_t n = group_anomalies(hi, now_ms, c->anomaly_window_ms, g);
	double used[HC_N_FIXED] = {0};
	char window[32];
	snprintf(window, sizeof(window), "%lld min", (long long)(c->anomaly_window_ms / 60000));
	for (size_t i = 0; i < n; i++) {
		enum hc_component fixed = hc_of_resource(g[i].resource);
		double p =
		    fmin(c->anomaly_penalty * g[i].best, c->anomaly_penalty_max - used[fixed]);
		if (p <= 0)
			continue;
		used[fixed] += p;
		struct hs_component *t[2];
		size_t k = targets(r, g[i].resource, t);
		for (size_t j = 0; j < k; j++)
			if (reason_add(t[j], p, g[i].series, NULL, NULL,
				       "%zu %s in %s in the last %s (best score %.2f)", g[i].count,
				       g[i].count == 1 ? "anomaly" : "anomalies", g[i].series,
				       window, g[i].best))
				return BM_ENOMEM;
	}
	return 0;
}

static int add_forecasts(const struct health_inputs *hi, const struct health_conf *c,
			 struct hs_result *r)
{
	for (size_t i = 0; i < hi->n_forecasts; i++) {
		const struct hi_forecast *f = &hi->forecasts[i];
		struct hs_component *t[2];
		size_t n = targets(r, f->resource, t);
		double p = c->forecast_penalty * (0.5 + 0.5 * f->confidence);
		for (size_t k = 0; k < n; k++)
			if (reason_add(t[k], p, f->series, NULL, NULL, "%s", f->text))
				return BM_ENOMEM;
	}
	return 0;
}

/* A collector is stalled when its collections stop growing for longer than
 * stale_after and three of its own periods. */
static bool collector_stalled(const struct hi_collector *k, const struct health_conf *c,
			      int64_t now_ms)
{
	int64_t limit = c->stale_after_ms > 3 * k->period_ms ? c->stale_after_ms : 3 * k->period_ms;
	return !isnan(k->collections) && k->changed_ms && now_ms - k->changed_ms > limit;
}

static int collector_reason(struct hs_component *t, const struct health_conf *c,
			    const struct hi_collector *k, bool stalled, int64_t now_ms)
{
	if (stalled)
		return reason_add(t, c->collector_penalty, "bearmon_plugin_collections_total",
				  "instance", k->instance,
				  "collector %s (%s) has not collected for %lld s", k->instance,
				  k->plugin, (long long)((now_ms - k->changed_ms) / 1000));
	return reason_add(t, c->collector_penalty, "bearmon_plugin_collect_success", "instance",
			  k->instance, "collector %s (%s) fails its collections", k->instance,
			  k->plugin);
}

static int add_collectors(const struct health_inputs *hi, const struct health_conf *c,
			  int64_t now_ms, struct hs_result *r)
{
	for (size_t i = 0; i < hi->n_coll; i++) {
		const struct hi_collector *k = &hi->coll[i];
		bool stalled = collector_stalled(k, c, now_ms);
		if (!k->failing && !stalled)
			continue;
		enum hc_component fed = hc_of_collector(k->plugin);
		struct hs_component *bearmon = component_get(r, hc_names[HC_BEARMON]);
		struct hs_component *other =
		    fed == HC_NONE ? NULL : component_get(r, hc_names[fed]);
		if (!bearmon || (fed != HC_NONE && !other) ||
		    collector_reason(bearmon, c, k, stalled, now_ms) ||
		    (other && collector_reason(other, c, k, stalled, now_ms)))
			return BM_ENOMEM;
	}
	return 0;
}

static int add_agents(const struct health_inputs *hi, const struct health_conf *c, int64_t now_ms,
		      struct hs_result *r)
{
	for (size_t i = 0; i < hi->n_agents; i++) {
		const struct hi_agent *a = &hi->agents[i];
		struct hs_component *t[2];
		size_t n = targets(r, a->id, t);
		if (n < 2)
			return BM_ENOMEM;
		t[1]->has_data = now_ms - a->data_ms <= c->stale_after_ms;
		for (size_t k = 0; a->down && k < n; k++)
			if (reason_add(t[k], c->agent_down_penalty, "agent_up", "agent",
				       a->id + strlen("agent:"), "%s is down (agent_up 0)", a->id))
				return BM_ENOMEM;
	}
	return 0;
}

static int by_penalty(const void *a, const void *b)
{
	const struct hs_reason *x = a, *y = b;
	return (x->penalty < y->penalty) - (x->penalty > y->penalty);
}

static enum bm_health_status worse(enum bm_health_status a, enum bm_health_status b)
{
	/* unknown ranks below ok here: a known problem is never hidden */
	int ra = a == BM_HEALTH_UNKNOWN ? -1 : (int)a, rb = b == BM_HEALTH_UNKNOWN ? -1 : (int)b;
	return ra >= rb ? a : b;
}

static enum bm_health_status status_of_score(const struct health_conf *c, double score)
{
	if (score < c->critical_below)
		return BM_HEALTH_CRITICAL;
	return score < c->degraded_below ? BM_HEALTH_DEGRADED : BM_HEALTH_OK;
}

/* Score and status of one component from its reasons. */
static void component_finish(struct hs_component *k, const struct health_conf *c)
{
	double total = 0;
	for (size_t i = 0; i < k->n_reasons; i++)
		total += k->reasons[i].penalty;
	if (k->n_reasons > 1)
		qsort(k->reasons, k->n_reasons, sizeof(*k->reasons), by_penalty);
	if (k->n_reasons > (size_t)c->max_reasons)
		k->n_reasons = (size_t)c->max_reasons;
	if (!k->has_data && total <= 0) {
		k->score = NAN;
		k->status = BM_HEALTH_UNKNOWN;
		return;
	}
	k->score = fmax(0, 100 - total);
	k->status = status_of_score(c, k->score);
	if (k->any_finding && k->worst >= BM_SEV_CRITICAL)
		k->status = BM_HEALTH_CRITICAL;
	else if (k->any_finding && k->worst == BM_SEV_WARNING)
		k->status = worse(k->status, BM_HEALTH_DEGRADED);
}

static bool is_agent(const struct hs_component *k)
{
	return strncmp(k->name, "agent:", 6) == 0;
}

/* The overall score: the lowest component's, less spread_penalty for each
 * further component that is not ok; its reasons are everyone's, prefixed
 * with the component (agent:<id> are already in "agents"). */
static int overall_finish(struct hs_result *r, const struct health_conf *c)
{
	struct hs_component *o = &r->overall;
	component_reset(o, "overall");
	const struct hs_component *low = NULL;
	size_t not_ok = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct hs_component *k = &r->v[i];
		if (is_agent(k) || k->status == BM_HEALTH_UNKNOWN)
			continue;
		o->has_data = true;
		not_ok += k->status != BM_HEALTH_OK;
		o->status = worse(o->status, k->status);
		if (!low || k->score < low->score)
			low = k;
		for (size_t j = 0; j < k->n_reasons; j++) {
			const struct hs_reason *kr = &k->reasons[j];
			if (reason_add(o, kr->penalty, kr->series[0] ? kr->series : NULL,
				       kr->label_name[0] ? kr->label_name : NULL, kr->label_value,
				       "%s: %s", k->name, kr->text))
				return BM_ENOMEM;
		}
	}
	if (!low) {
		o->score = NAN;
		o->status = BM_HEALTH_UNKNOWN;
		return 0;
	}
	if (low->status != BM_HEALTH_OK)
		not_ok--;
	o->score = fmax(0, low->score - c->spread_penalty * (double)not_ok);
	o->status = worse(o->status, status_of_score(c, o->score));
	if (o->n_reasons > 1)
		qsort(o->reasons, o->n_reasons, sizeof(*o->reasons), by_penalty);
	if (o->n_reasons > (size_t)c->max_reasons)
		o->n_reasons = (size_t)c->max_reasons;
	return 0;
}

int hs_compute(const struct health_inputs *hi, const struct health_conf *c, int64_t now_ms,
	       struct hs_result *out)
{
	for (size_t i = 0; i < out->n; i++)
		out->v[i].n_reasons = 0;
	out->n = 0;
	/* agent components come from agents, findings, anomalies, forecasts */
	if (components_reserve(out, HC_N_FIXED + hi->n_agents + hi->n_findings + hi->n_anomalies +
					hi->n_forecasts))
		return BM_ENOMEM;
	for (int i = 0; i < HC_N_FIXED; i++) {
		struct hs_component *k = component_get(out, hc_names[i]);
		if (!k)
			return BM_ENOMEM;
		k->has_data = hi->data_ms[i] && now_ms - hi->data_ms[i] <= c->stale_after_ms;
		if (hi->data_ms[i] && !k->has_data &&
		    reason_add(k, 0, NULL, NULL, NULL, "no data for %lld s",
			       (long long)((now_ms - hi->data_ms[i]) / 1000)))
			return BM_ENOMEM;
	}
	int rc = add_agents(hi, c, now_ms, out);
	if (!rc)
		rc = add_findings(hi, c, out);
	if (!rc)
		rc = add_anomalies(hi, c, now_ms, out);
	if (!rc)
		rc = add_forecasts(hi, c, out);
	if (!rc)
		rc = add_collectors(hi, c, now_ms, out);
	if (rc)
		return rc;
	for (size_t i = 0; i < out->n; i++)
		component_finish(&out->v[i], c);
	return overall_finish(out, c);
}

/* --- output ------------------------------------------------------------------- */

void hs_event(const struct hs_component *k, int64_t now_ms, struct bm_health_reason *reasons,
	      struct bm_label *labels, struct bm_health_event *out)
{
	for (size_t i = 0; i < k->n_reasons; i++) {
		const struct hs_reason *r = &k->reasons[i];
		reasons[i] = (struct bm_health_reason){.text = r->text, .penalty = r->penalty};
		if (r->series[0]) {
			reasons[i].series.name = r->series;
			if (r->label_name[0]) {
				labels[i] = (struct bm_label){r->label_name, r->label_value};
				reasons[i].series.labels = &labels[i];
				reasons[i].series.n_labels = 1;
			}
		}
	}
	*out = (struct bm_health_event){.ts_ms = now_ms,
					.component = k->name,
					.score = k->score,
					.status = k->status,
					.reasons = reasons,
					.n_reasons = k->n_reasons};
}

static json_t *component_json(const struct hs_component *k)
{
	json_t *reasons = json_array();
	for (size_t i = 0; reasons && i < k->n_reasons; i++) {
		const struct hs_reason *r = &k->reasons[i];
		json_t *series = r->series[0] ? json_string(r->series) : json_null();
		json_array_append_new(reasons, json_pack("{s:s, s:f, s:o}", "text", r->text,
							 "penalty", r->penalty, "series", series));
	}
	return json_pack("{s:s, s:o, s:s, s:o}", "component", k->name, "score",
			 isfinite(k->score) ? json_real(k->score) : json_null(), "status",
			 hs_status_name(k->status), "reasons", reasons ? reasons : json_null());
}

json_t *hs_json(const struct hs_result *r, int64_t now_ms)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < r->n; i++)
		if (json_array_append_new(list, component_json(&r->v[i]))) {
			json_decref(list);
			list = NULL;
		}
	if (!list)
		return NULL;
	return json_pack("{s:s, s:I, s:o, s:o}", "status", "success", "ts_ms", (json_int_t)now_ms,
			 "overall", component_json(&r->overall), "components", list);
}

void hs_free(struct hs_result *r)
{
	for (size_t i = 0; i < r->cap; i++)
		free(r->v[i].reasons);
	free(r->v);
	free(r->overall.reasons);
	memset(r, 0, sizeof(*r));
}
