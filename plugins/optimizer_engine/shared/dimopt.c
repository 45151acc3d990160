/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dimension optimizers' common part (dimopt.h).
 */
#define _GNU_SOURCE
#include "dimopt.h"

#include <bearmon/bm_vec.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/plugin_stop.h"
#include "selector.h"

#define DEFAULT_TTL_MS 300000

void dim_init(struct dimopt *d, struct bm_ctx *ctx, dim_rules_fn rules, void *owner,
	      int64_t window_ms, size_t max_per_round)
{
	*d = (struct dimopt){.ctx = ctx, .rules = rules, .owner = owner, .window_ms = window_ms,
			     .ttl_ms = DEFAULT_TTL_MS, .max_per_round = max_per_round};
}

static void finding_clear(struct dim_finding *f)
{
	free(f->id);
	free(f->resource);
	free(f->summary);
	kvl_free(&f->evidence);
}

static void forecast_clear(struct dim_forecast *f)
{
	free(f->series);
	free(f->name);
	kvl_free(&f->labels);
}

static ptrdiff_t finding_index(const struct dimopt *d, const char *id)
{
	for (size_t i = 0; i < d->n_fn; i++)
		if (strcmp(d->fn[i].id, id) == 0)
			return (ptrdiff_t)i;
	return -1;
}

static int take_finding(struct dimopt *d, const struct bm_bottleneck_event *e)
{
	const char *id = e->id ? e->id : e->resource;
	ptrdiff_t i = finding_index(d, id);
	if (e->severity == BM_SEV_INFO && e->impact <= 0) { /* resolved */
		if (i >= 0) {
			finding_clear(&d->fn[i]);
			d->fn[i] = d->fn[--d->n_fn];
		}
		return 0;
	}
	struct dim_finding f = {.id = strdup(id), .resource = strdup(e->resource),
				.summary = strdup(e->summary ? e->summary : e->resource),
				.kind = e->kind, .severity = e->severity, .impact = e->impact,
				.ts_ms = e->ts_ms};
	bool ok = f.id && f.resource && f.summary;
	for (size_t k = 0; ok && k < e->n_evidence; k++) {
		const struct bm_evidence *ev = &e->evidence[k];
		char series[512];
		if (!ev->series.name)
			continue;
		sel_format(series, sizeof(series), ev->series.name, ev->series.labels,
			   ev->series.n_labels);
		ok = !kvl_setf(&f.evidence, series, "%.17g", ev->value);
	}
	if (!ok || (i < 0 && BM_VEC_RESERVE(d->fn, d->cap_fn, d->n_fn + 1))) {
		finding_clear(&f);
		return BM_ENOMEM;
	}
	if (i >= 0)
		finding_clear(&d->fn[i]);
	d->fn[i >= 0 ? (size_t)i : d->n_fn++] = f;
	return 0;
}

static int take_forecast(struct dimopt *d, const struct bm_forecast_event *e)
{
	char series[512];
	if (!e->has_threshold)
		return 0;
	sel_format(series, sizeof(series), e->series.name, e->series.labels, e->series.n_labels);
	size_t i = 0;
	while (i < d->n_fc && strcmp(d->fc[i].series, series) != 0)
		i++;
	bool crossing = e->time_to_threshold_ms >= 0 && e->time_to_threshold_ms <= d->window_ms;
	if (!crossing) {
		if (i < d->n_fc) {
			forecast_clear(&d->fc[i]);
			d->fc[i] = d->fc[--d->n_fc];
		}
		return 0;
	}
	struct dim_forecast f = {.series = strdup(series), .name = strdup(e->series.name),
				 .threshold = e->threshold, .cross = e->cross,
				 .ttt_ms = e->time_to_threshold_ms, .ts_ms = e->ts_ms,
				 .confidence = e->confidence};
	bool ok = f.series && f.name;
	for (uint32_t k = 0; ok && k < e->series.n_labels; k++)
		ok = !kvl_set(&f.labels, e->series.labels[k].name, e->series.labels[k].value);
	if (!ok || (i == d->n_fc && BM_VEC_RESERVE(d->fc, d->cap_fc, d->n_fc + 1))) {
		forecast_clear(&f);
		return BM_ENOMEM;
	}
	if (i < d->n_fc)
		forecast_clear(&d->fc[i]);
	else
		d->n_fc++;
	d->fc[i] = f;
	return 0;
}

void dim_on_event(void *user, const char *topic, const void *body, size_t len)
{
	struct dimopt *d = user;
	int rc;
	bm_arena_reset(&d->arena);
	if (strcmp(topic, BM_TOPIC_BOTTLENECK) == 0) {
		struct bm_bottleneck_event e;
		rc = bm_bottleneck_decode(body, len, &e, &d->arena);
		rc = rc ? rc : take_finding(d, &e);
	} else if (strcmp(topic, BM_TOPIC_FORECAST) == 0) {
		struct bm_forecast_event e;
		rc = bm_forecast_decode(body, len, &e, &d->arena);
		rc = rc ? rc : take_forecast(d, &e);
	} else {
		struct bm_agent_event e;
		rc = bm_agent_decode(body, len, &e, &d->arena);
		rc = rc ? rc : oagents_update(&d->agents, &e);
	}
	if (rc == BM_EPROTO)
		d->n_decode_errors++;
	else if (rc)
		bm_log_warn(d->ctx, "cannot take a %s event into account: %s", topic,
			    bm_strerror(rc));
}

static void expire(struct dimopt *d, int64_t now_ms)
{
	for (size_t i = d->n_fn; i-- > 0;) {
		if (d->fn[i].ts_ms + d->ttl_ms < now_ms) {
			finding_clear(&d->fn[i]);
			d->fn[i] = d->fn[--d->n_fn];
		}
	}
	for (size_t i = d->n_fc; i-- > 0;) {
		if (d->fc[i].ts_ms + d->fc[i].ttt_ms + d->ttl_ms < now_ms ||
		    d->fc[i].ts_ms + d->ttl_ms * 12 < now_ms) {
			forecast_clear(&d->fc[i]);
			d->fc[i] = d->fc[--d->n_fc];
		}
	}
}

void dim_round(struct dimopt *d, int64_t now_ms)
{
	expire(d, now_ms);
	d->published_this_round = 0;
	d->rules(d->owner, d, now_ms);
}

static void on_timer(void *user)
{
	struct dimopt *d = user;
	dim_round(d, bm_now_ms(d->ctx));
}

int dim_start(struct dimopt *d, struct bm_err *err)
{
	static const char *const topics[] = {BM_TOPIC_BOTTLENECK, BM_TOPIC_FORECAST, BM_TOPIC_AGENT};
	int rc = 0;
	d->ttl_ms = 3 * bm_interval_ms(d->ctx) > DEFAULT_TTL_MS ? 3 * bm_interval_ms(d->ctx)
								 : DEFAULT_TTL_MS;
	for (size_t i = 0; i < 3 && !rc; i++) {
		struct bm_sub_opts o = {.size = sizeof(o), .topic = topics[i], .on_loop = true};
		if ((rc = bm_bus_subscribe(d->ctx, &o, dim_on_event, d, &d->subs[i])))
			bm_err_set(err, rc, "cannot subscribe to %s: %s", topics[i], bm_strerror(rc));
	}
	if (!rc && (rc = bm_timer_start(d->ctx, bm_interval_ms(d->ctx), on_timer, d, &d->timer)))
		bm_err_set(err, rc, "cannot start the timer: %s", bm_strerror(rc));
	if (!rc) {
		bm_self_counter(d->ctx, "bearmon_optimizer_candidates_published_total",
				"candidate events published", &d->n_published);
		bm_self_counter(d->ctx, "bearmon_optimizer_candidates_capped_total",
				"candidates not published: max_candidates per round reached",
				&d->n_capped);
	}
	if (rc)
		dim_stop(d);
	return rc;
}

void dim_stop(struct dimopt *d)
{
	plugin_unsubscribe_all(d->subs, sizeof(d->subs) / sizeof(d->subs[0]));
	plugin_timer_stop(&d->timer);
}

void dim_free(struct dimopt *d)
{
	for (size_t i = 0; i < d->n_fn; i++)
		finding_clear(&d->fn[i]);
	for (size_t i = 0; i < d->n_fc; i++)
		forecast_clear(&d->fc[i]);
	free(d->fn);
	free(d->fc);
	oagents_free(&d->agents);
	bm_arena_free(&d->arena);
	bm_buf_free(&d->buf);
}

int dim_publish(struct dimopt *d, struct bm_candidate_event *c, int64_t now_ms)
{
	if (d->published_this_round >= d->max_per_round) {
		d->n_capped++;
		return BM_ERANGE;
	}
	c->ts_ms = c->ts_ms ? c->ts_ms : now_ms;
	c->expires_ms = c->expires_ms ? c->expires_ms : now_ms + 3 * bm_interval_ms(d->ctx);
	c->optimizer = c->optimizer ? c->optimizer : bm_instance_name(d->ctx);
	int rc = bm_candidate_encode(c, &d->buf);
	if (!rc)
		rc = bm_bus_publish(d->ctx, BM_TOPIC_CANDIDATE, d->buf.data, d->buf.len);
	if (rc && rc != BM_EAGAIN) {
		bm_log_warn(d->ctx, "cannot publish candidate %s: %s", c->id, bm_strerror(rc));
		return rc;
	}
	d->published_this_round++;
	d->n_published++;
	return 0;
}

double dim_latest(struct dimopt *d, const char *name, const char *label, const char *value,
		  int64_t now_ms)
{
	struct bm_matcher m[2] = {{"__name__", BM_MATCH_EQ, name}, {label, BM_MATCH_EQ, value}};
	struct sel s = {.n = label ? 2 : 1, .name = name};
	double v;
	memcpy(s.m, m, sizeof(m));
	return sel_latest(d->ctx, &s, now_ms, 5 * 60000, SEL_MAX, &v) == 1 ? v : NAN;
}

double dim_latest_sel(struct dimopt *d, const char *selector, int64_t now_ms)
{
	struct sel s;
	double v = NAN;
	if (sel_parse(selector, &s, NULL, 0))
		return NAN;
	if (sel_latest(d->ctx, &s, now_ms, 5 * 60000, SEL_MAX, &v) != 1)
		v = NAN;
	sel_free(&s);
	return v;
}

const char *dim_resource_of(const struct dim_finding *f, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(f->resource, prefix, n) == 0 ? f->resource + n : NULL;
}

void dim_selector(char *buf, size_t n, const char *name, const char *label, const char *value)
{
	struct bm_label l = {label, value};
	sel_format(buf, n, name, &l, label ? 1 : 0);
}

void dim_latency_selector(char *buf, size_t n, const char *agent)
{
	struct bm_label l[] = {{"agent", agent}, {"quantile", "0.95"}};
	sel_format(buf, n, "agent_task_duration_seconds", l, 2);
}

int dim_agent_command(struct dimopt *d, const struct dim_command *c, int64_t now_ms)
{
	char id[300];
	struct bm_kv params[2] = {{"command", c->command}, {"value", c->value ? c->value : ""}};
	textf(id, sizeof(id), "%s:%s", c->prefix, c->agent);
	struct bm_candidate_event e = {
		.id = id, .dimension = c->dimension,
		.action = {"agent_command", c->agent, params, c->value ? 2 : 1},
		.impact = c->impacts, .n_impact = c->n_impacts, .benefit = c->benefit,
		.risk = c->risk, .confidence = c->confidence, .reason = c->reason,
		.rollback = c->value ? "the same command with the previous value from the ack"
				     : "not reversible by a command: its effect wears off",
	};
	return dim_publish(d, &e, now_ms);
}

int dim_manual(struct dimopt *d, const char *prefix, const char *target, const struct bm_kv *params,
	       size_t n_params, const struct bm_impact *impacts, size_t n_impacts,
	       const char *dimension, const char *reason, int64_t now_ms)
{
	char id[300];
	textf(id, sizeof(id), "%s:%s", prefix, target);
	struct bm_candidate_event e = {
		.id = id, .dimension = dimension, .action = {"manual", target, params, n_params},
		.impact = impacts, .n_impact = n_impacts, .benefit = 0.6, .risk = 0.2,
		.confidence = 0.5, .reason = reason,
		.rollback = "a person undoes it the way it was done",
	};
	return dim_publish(d, &e, now_ms);
}
