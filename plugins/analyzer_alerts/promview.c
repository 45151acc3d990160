/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's rules and alerts in Prometheus' own formats, for
 * GET /api/v1/rules and GET /api/v1/alerts (the Prometheus-compatible API
 * of the core serves empty shapes there until this plugin registers the
 * exact paths): Grafana's alert list and promtool read them unchanged.
 * Rules that are not PromQL show their bearmon condition as the query.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"
#include "promview.h"
#include "rule.h"
#include "timeparse.h"

static const char *const prom_states[] = {"inactive", "pending", "firing"};

static json_t *kv_json(const struct bm_label *l, uint32_t n, const char *extra_k,
		       const char *extra_v)
{
	json_t *o = json_object();
	for (uint32_t i = 0; o && i < n; i++)
		json_object_set_new(o, l[i].name, json_string(l[i].value));
	if (o && extra_k && !json_object_get(o, extra_k))
		json_object_set_new(o, extra_k, json_string(extra_v));
	return o;
}

/* Prometheus writes sample values as strings, in Go's shortest form; %.17g
 * reads back to the same double. */
static json_t *value_string(double v)
{
	char buf[40];
	if (isnan(v))
		snprintf(buf, sizeof(buf), "NaN");
	else if (isinf(v))
		snprintf(buf, sizeof(buf), v > 0 ? "+Inf" : "-Inf");
	else
		snprintf(buf, sizeof(buf), "%.17g", v);
	return json_string(buf);
}

static json_t *alert_json(struct al_engine *e, const struct al_instance *in)
{
	struct bm_kv kv[64];
	char *blob = NULL, at[40];
	size_t n = al_render_annotations(e, in->rs->r, in->labels, in->n_labels, in->value, kv,
					 &blob);
	json_t *ann = json_object();
	for (size_t i = 0; ann && i < n; i++)
		json_object_set_new(ann, kv[i].key, json_string(kv[i].value));
	free(blob);
	al_format_time(in->active_since_ms, at, sizeof(at));
	return json_pack("{s:o, s:o, s:s, s:s, s:o}", "labels",
			 kv_json(in->labels, in->n_labels, "alertname", in->rs->r->name),
			 "annotations", ann, "state", prom_states[al_instance_shown(in)], "activeAt",
			 at, "value", value_string(in->value));
}

/* Active alerts of rule (NULL: every rule), Prometheus' alert objects. */
static json_t *alerts_of(struct al_engine *e, const struct al_rule *rule, enum al_istate *worst)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < e->instances.cap; i++) {
		if (!al_hmap_live(&e->instances, i))
			continue;
		const struct al_instance *in = e->instances.slots[i].item;
		enum al_istate s = al_instance_shown(in);
		if (s == AL_INACTIVE || (rule && in->rs->r != rule))
			continue;
		if (worst && s > *worst)
			*worst = s;
		json_array_append_new(arr, alert_json(e, in));
	}
	return arr;
}

json_t *al_prom_alerts_json(struct al_engine *e)
{
	return json_pack("{s:s, s:{s:o}}", "status", "success", "data", "alerts",
			 alerts_of(e, NULL, NULL));
}

/* The query Prometheus would show: the expression of a PromQL rule, else
 * the selector and the bearmon condition. */
static json_t *query_of(const struct al_rule *r)
{
	char buf[1024];
	if (r->expr)
		return json_string(r->expr);
	if (isnan(r->threshold))
		snprintf(buf, sizeof(buf), "%s (bearmon %s)", r->metric ? r->metric : "",
			 al_cond_names[r->cond]);
	else
		snprintf(buf, sizeof(buf), "%s (bearmon %s %.17g)", r->metric ? r->metric : "",
			 al_cond_names[r->cond], r->threshold);
	return json_string(buf);
}

static json_t *pairs_json(const struct al_kv *kv, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++)
		json_object_set_new(o, kv[i].key, json_string(kv[i].value));
	return o;
}

static json_t *rule_json(struct al_engine *e, const struct al_rule *r)
{
	if (r->record)
		return json_pack("{s:s, s:o, s:o, s:s, s:s}", "name", r->record, "query",
				 query_of(r), "labels", pairs_json(r->labels, r->n_labels),
				 "health", "ok", "type", "recording");
	enum al_istate worst = AL_INACTIVE;
	json_t *alerts = alerts_of(e, r, &worst);
	return json_pack("{s:s, s:o, s:f, s:f, s:o, s:o, s:o, s:s, s:s, s:s}", "name", r->name,
			 "query", query_of(r), "duration", (double)r->for_ms / 1000.0,
			 "keepFiringFor", (double)r->keep_firing_for_ms / 1000.0, "labels",
			 pairs_json(r->labels, r->n_labels), "annotations",
			 pairs_json(r->annotations, r->n_annotations), "alerts", alerts, "health",
			 "ok", "type", "alerting", "state", prom_states[worst]);
}

json_t *al_prom_rules_json(struct al_engine *e, const char *type)
{
	/* one group per origin: the config, the API, each imported file */
	json_t *groups = json_object();
	for (size_t i = 0; groups && i < al_engine_rule_count(e); i++) {
		const struct al_rule *r = al_engine_rule_at(e, i);
		if (!r->enabled || (type && strcmp(type, r->record ? "record" : "alert") != 0))
			continue;
		const char *file = r->origin ? r->origin : al_source_names[r->source];
		json_t *g = json_object_get(groups, file);
		if (!g) {
			g = json_pack("{s:s, s:s, s:[], s:f}", "name", file, "file", file, "rules",
				      "interval", 1.0);
			json_object_set_new(groups, file, g);
		}
		json_array_append_new(json_object_get(g, "rules"), rule_json(e, r));
	}
	json_t *list = json_array();
	const char *k;
	json_t *g;
	json_object_foreach(groups, k, g)
		json_array_append(list, g);
	json_decref(groups);
	return json_pack("{s:s, s:{s:o}}", "status", "success", "data", "groups", list);
}
