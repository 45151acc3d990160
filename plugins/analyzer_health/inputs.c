/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inputs of the health scores (see inputs.h): presence of data per
 * component, collectors from bearmond's self-metrics, agent_up, and the
 * bottleneck, anomaly and forecast events.
 */
#define _GNU_SOURCE
#include "inputs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_vec.h>

#include "series_map.h"

const char *const hc_names[HC_N_FIXED] = {
    [HC_CPU] = "cpu",	      [HC_MEMORY] = "memory",
    [HC_DISK] = "disk",	      [HC_NETWORK] = "network",
    [HC_GPU] = "gpu",	      [HC_AGENTS] = "agents",
    [HC_MODELS] = "models",   [HC_CONTAINERS] = "containers",
    [HC_BEARMON] = "bearmon",
};

static enum hc_component hc_of_family(enum sm_family f)
{
	switch (f) {
	case SM_CPU:
		return HC_CPU;
	case SM_MEMORY:
		return HC_MEMORY;
	case SM_IO:
	case SM_DISK:
		return HC_DISK;
	case SM_NET:
	case SM_TCP:
		return HC_NETWORK;
	case SM_GPU:
		return HC_GPU;
	case SM_AGENT:
		return HC_AGENTS;
	case SM_MODEL:
		return HC_MODELS;
	case SM_CGROUP:
		return HC_CONTAINERS;
	default:
		return HC_NONE;
	}
}

enum hc_component hc_of_resource(const char *resource)
{
	return hc_of_family(sm_family_of(resource));
}

/* The component a collector plugin feeds, besides bearmon itself. */
enum hc_component hc_of_collector(const char *plugin)
{
	static const struct {
		const char *plugin;
		enum hc_component c;
	} map[] = {
	    {"collector/cpu", HC_CPU},	      {"collector/load", HC_CPU},
	    {"collector/pressure", HC_CPU},   {"collector/memory", HC_MEMORY},
	    {"collector/diskstats", HC_DISK}, {"collector/filesystem", HC_DISK},
	    {"collector/netdev", HC_NETWORK}, {"collector/gpu", HC_GPU},
	    {"collector/agent", HC_AGENTS},   {"collector/statsd", HC_AGENTS},
	    {"collector/scrape", HC_MODELS},  {"collector/cgroup", HC_CONTAINERS},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].plugin, plugin) == 0)
			return map[i].c;
	return HC_NONE;
}

/* --- metric side ----------------------------------------------------------- */

static struct hi_agent *agent_get(struct health_inputs *hi, const char *id)
{
	for (size_t i = 0; i < hi->n_agents; i++)
		if (strcmp(hi->agents[i].id, id) == 0)
			return &hi->agents[i];
	if (hi->n_agents >= hi->max_agents ||
	    BM_VEC_RESERVE(hi->agents, hi->cap_agents, hi->n_agents + 1))
		return NULL;
	struct hi_agent *a = &hi->agents[hi->n_agents];
	*a = (struct hi_agent){.id = strdup(id)};
	if (!a->id)
		return NULL;
	hi->n_agents++;
	return a;
}

static struct hi_collector *collector_get(struct health_inputs *hi, const char *instance,
					  const char *plugin)
{
	for (size_t i = 0; i < hi->n_coll; i++)
		if (strcmp(hi->coll[i].instance, instance) == 0)
			return &hi->coll[i];
	if (hi->n_coll >= HI_MAX_COLLECTORS ||
	    BM_VEC_RESERVE(hi->coll, hi->cap_coll, hi->n_coll + 1))
		return NULL;
	struct hi_collector *c = &hi->coll[hi->n_coll];
	*c = (struct hi_collector){
	    .instance = strdup(instance), .plugin = strdup(plugin), .collections = NAN};
	if (!c->instance || !c->plugin) {
		free(c->instance);
		free(c->plugin);
		return NULL;
	}
	hi->n_coll++;
	return c;
}

static void collections_update(struct hi_collector *c, double v, int64_t ts)
{
	if (!isnan(c->collections) && v > c->collections) {
		if (c->changed_ms)
			c->period_ms = ts - c->changed_ms;
		c->changed_ms = ts;
	} else if (isnan(c->collections)) {
		c->changed_ms = ts; /* the first sample starts the clock */
	}
	c->collections = v;
}

/* bearmond's self-metrics about its collectors; 0 or BM_ENOMEM. */
static int self_metric(struct health_inputs *hi, const struct bm_sample *s)
{
	bool success = strcmp(s->name, "bearmon_plugin_collect_success") == 0;
	bool count = strcmp(s->name, "bearmon_plugin_collections_total") == 0;
	if ((!success && !count) || isnan(s->value))
		return 0;
	const char *instance = sm_label(s->labels, s->n_labels, "instance");
	const char *plugin = sm_label(s->labels, s->n_labels, "plugin");
	if (!instance || !plugin)
		return 0;
	struct hi_collector *c = collector_get(hi, instance, plugin);
	if (!c)
		return hi->n_coll >= HI_MAX_COLLECTORS ? 0 : BM_ENOMEM;
	c->seen_ms = s->ts_ms;
	if (success)
		c->failing = s->value == 0;
	else
		collections_update(c, s->value, s->ts_ms);
	return 0;
}

static int presence(struct health_inputs *hi, const struct bm_sample *s)
{
	struct sm_resource r;
	char buf[256];
	if (!sm_classify(s->name, s->labels, s->n_labels, &r, buf, sizeof(buf)))
		return 0;
	enum hc_component c = hc_of_family(r.family);
	if (c == HC_NONE)
		return 0;
	if (s->ts_ms > hi->data_ms[c])
		hi->data_ms[c] = s->ts_ms;
	if (r.family != SM_AGENT)
		return 0;
	struct hi_agent *a = agent_get(hi, r.resource);
	if (!a)
		return hi->n_agents >= hi->max_agents ? 0 : BM_ENOMEM;
	if (s->ts_ms > a->data_ms)
		a->data_ms = s->ts_ms;
	if (strcmp(s->name, "agent_up") == 0 && !isnan(s->value))
		a->down = s->value == 0;
	return 0;
}

int hi_metrics(struct health_inputs *hi, const struct bm_metric_batch *mb)
{
	int rc = 0;
	for (size_t i = 0; i < mb->n_samples && !rc; i++) {
		const struct bm_sample *s = &mb->samples[i];
		if (strncmp(s->name, "bearmon_plugin_", 15) == 0) {
			if (s->ts_ms > hi->data_ms[HC_BEARMON])
				hi->data_ms[HC_BEARMON] = s->ts_ms;
			rc = self_metric(hi, s);
		} else {
			rc = presence(hi, s);
		}
	}
	return rc;
}

/* --- event side -------------------------------------------------------------- */

static void finding_release(struct hi_finding *f)
{
	free(f->id);
	free(f->resource);
	free(f->summary);
	free(f->series);
	free(f->label_name);
	free(f->label_value);
}

static void finding_remove(struct health_inputs *hi, size_t i)
{
	finding_release(&hi->findings[i]);
	hi->findings[i] = hi->findings[--hi->n_findings];
}

static long finding_index(const struct health_inputs *hi, const char *id)
{
	for (size_t i = 0; i < hi->n_findings; i++)
		if (strcmp(hi->findings[i].id, id) == 0)
			return (long)i;
	return -1;
}

static char *dup_opt(const char *s, bool *ok)
{
	char *d = s ? strdup(s) : NULL;
	*ok = *ok && (d || !s);
	return d;
}

int hi_bottleneck(struct health_inputs *hi, const struct bm_bottleneck_event *e)
{
	if (!e->id || hc_of_resource(e->resource) == HC_NONE)
		return 0;
	long i = finding_index(hi, e->id);
	if (e->severity == BM_SEV_INFO && e->impact == 0) { /* resolved */
		if (i >= 0)
			finding_remove(hi, (size_t)i);
		return 0;
	}
	if (i < 0) {
		if (hi->n_findings >= hi->max_findings ||
		    BM_VEC_RESERVE(hi->findings, hi->cap_findings, hi->n_findings + 1))
			return BM_ENOMEM;
		i = (long)hi->n_findings++;
		hi->findings[i] = (struct hi_finding){0};
	}
	struct hi_finding *f = &hi->findings[i];
	const struct bm_series_ref *s = e->n_evidence ? &e->evidence[0].series : NULL;
	bool ok = true;
	struct hi_finding fresh = {
	    .id = dup_opt(e->id, &ok),
	    .resource = dup_opt(e->resource, &ok),
	    .summary = dup_opt(e->summary ? e->summary : e->id, &ok),
	    .series = dup_opt(s ? s->name : NULL, &ok),
	    .label_name = dup_opt(s && s->name && s->n_labels ? s->labels[0].name : NULL, &ok),
	    .label_value = dup_opt(s && s->name && s->n_labels ? s->labels[0].value : NULL, &ok),
	    .severity = e->severity,
	    .impact = isfinite(e->impact) ? fmin(1, fmax(0, e->impact)) : 0,
	    .ts_ms = e->ts_ms,
	};
	finding_release(f);
	*f = fresh;
	if (!ok) {
		finding_remove(hi, (size_t)i);
		return BM_ENOMEM;
	}
	return 0;
}

static int classify(const struct bm_series_ref *ref, char *resource, size_t n)
{
	struct sm_resource r;
	if (!ref->name || !sm_classify(ref->name, ref->labels, ref->n_labels, &r, resource, n))
		return -1;
	return hc_of_family(r.family) == HC_NONE ? -1 : 0;
}

int hi_anomaly(struct health_inputs *hi, const struct bm_anomaly_event *e)
{
	char resource[256];
	if (classify(&e->series, resource, sizeof(resource)))
		return 0;
	struct hi_anomaly *a = &hi->anomalies[hi->next_anomaly];
	free(a->resource);
	free(a->series);
	*a = (struct hi_anomaly){strdup(resource), strdup(e->series.name),
				 isfinite(e->score) ? fmin(1, fmax(0, e->score)) : 1, e->ts_ms};
	hi->next_anomaly = (hi->next_anomaly + 1) % HI_MAX_ANOMALIES;
	if (hi->n_anomalies < HI_MAX_ANOMALIES)
		hi->n_anomalies++;
	return a->resource && a->series ? 0 : BM_ENOMEM;
}

static void forecast_release(struct hi_forecast *f)
{
	free(f->resource);
	free(f->series);
	free(f->text);
	memset(f, 0, sizeof(*f));
}

static void forecast_remove(struct health_inputs *hi, size_t i)
{
	forecast_release(&hi->forecasts[i]);
	hi->forecasts[i] = hi->forecasts[--hi->n_forecasts];
	memset(&hi->forecasts[hi->n_forecasts], 0, sizeof(hi->forecasts[0]));
}

static long forecast_index(const struct health_inputs *hi, const char *series, const char *resource)
{
	for (size_t i = 0; i < hi->n_forecasts; i++)
		if (strcmp(hi->forecasts[i].series, series) == 0 &&
		    strcmp(hi->forecasts[i].resource, resource) == 0)
			return (long)i;
	return -1;
}

/* A free slot, or the oldest forecast's. */
static size_t forecast_slot(struct health_inputs *hi)
{
	if (hi->n_forecasts < HI_MAX_FORECASTS)
		return hi->n_forecasts++;
	size_t oldest = 0;
	for (size_t i = 1; i < hi->n_forecasts; i++)
		if (hi->forecasts[i].ts_ms < hi->forecasts[oldest].ts_ms)
			oldest = i;
	return oldest;
}

int hi_forecast(struct health_inputs *hi, const struct bm_forecast_event *e, int64_t window_ms)
{
	char resource[256], text[300], when[32];
	if (classify(&e->series, resource, sizeof(resource)))
		return 0;
	long i = forecast_index(hi, e->series.name, resource);
	bool crosses = e->has_threshold && e->time_to_threshold_ms >= 0 &&
		       e->time_to_threshold_ms <= window_ms;
	if (!crosses) { /* a forecast that no longer crosses clears the old one */
		if (i >= 0)
			forecast_remove(hi, (size_t)i);
		return 0;
	}
	int64_t s = e->time_to_threshold_ms / 1000;
	if (s < 120)
		snprintf(when, sizeof(when), "%lld s", (long long)s);
	else
		snprintf(when, sizeof(when), "%lld min", (long long)(s / 60));
	snprintf(text, sizeof(text), "%s forecast to go %s %g in %s", e->series.name,
		 e->cross == BM_CROSS_ABOVE ? "above" : "below", e->threshold, when);
	size_t k = i >= 0 ? (size_t)i : forecast_slot(hi);
	struct hi_forecast *f = &hi->forecasts[k];
	forecast_release(f);
	*f = (struct hi_forecast){strdup(resource), strdup(e->series.name), strdup(text),
				  isfinite(e->confidence) ? fmin(1, fmax(0, e->confidence)) : 0,
				  e->ts_ms};
	if (!f->resource || !f->series || !f->text) {
		forecast_remove(hi, k);
		return BM_ENOMEM;
	}
	return 0;
}

/* --- expiry ------------------------------------------------------------------- */

void hi_expire(struct health_inputs *hi, int64_t now_ms, int64_t finding_ttl_ms,
	       int64_t anomaly_window_ms, int64_t forecast_window_ms, int64_t forget_ms)
{
	for (size_t i = hi->n_findings; i-- > 0;)
		if (now_ms - hi->findings[i].ts_ms > finding_ttl_ms)
			finding_remove(hi, i);
	for (size_t i = hi->n_forecasts; i-- > 0;)
		if (now_ms - hi->forecasts[i].ts_ms > forecast_window_ms)
			forecast_remove(hi, i);
	for (size_t i = 0; i < hi->n_anomalies; i++) {
		struct hi_anomaly *a = &hi->anomalies[i];
		if (a->resource && now_ms - a->ts_ms > anomaly_window_ms) {
			free(a->resource);
			free(a->series);
			a->resource = a->series = NULL; /* the slot stays in the ring, empty */
		}
	}
	for (size_t i = hi->n_agents; i-- > 0;)
		if (now_ms - hi->agents[i].data_ms > forget_ms) {
			free(hi->agents[i].id);
			hi->agents[i] = hi->agents[--hi->n_agents];
		}
	for (size_t i = hi->n_coll; i-- > 0;)
		if (now_ms - hi->coll[i].seen_ms > forget_ms) {
			free(hi->coll[i].instance);
			free(hi->coll[i].plugin);
			hi->coll[i] = hi->coll[--hi->n_coll];
		}
}

void hi_free(struct health_inputs *hi)
{
	while (hi->n_findings)
		finding_remove(hi, hi->n_findings - 1);
	while (hi->n_forecasts)
		forecast_remove(hi, hi->n_forecasts - 1);
	for (size_t i = 0; i < HI_MAX_ANOMALIES; i++) {
		free(hi->anomalies[i].resource);
		free(hi->anomalies[i].series);
	}
	for (size_t i = 0; i < hi->n_agents; i++)
		free(hi->agents[i].id);
	for (size_t i = 0; i < hi->n_coll; i++) {
		free(hi->coll[i].instance);
		free(hi->coll[i].plugin);
	}
	free(hi->findings);
	free(hi->agents);
	free(hi->coll);
	memset(hi, 0, sizeof(*hi));
}
