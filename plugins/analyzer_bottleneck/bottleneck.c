/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/bottleneck: finds the resources that limit the host and its
 * agents and model servers with the USE method (utilisation, saturation,
 * errors), publishes `bottleneck` and `insight` events and serves the
 * current findings at /api/bearmon/v1/bottlenecks.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/plugin_route.h"
#include "../common/plugin_stop.h"
#include "bottleneck.h"
#include "findings.h"
#include "notes.h"
#include "resources.h"
#include "rules.h"
#include "series_table.h"

/* clang-format off */
#define BN_THRESHOLD_OPTIONS(id, opt, w, c, help)                                                  \
	BM_OPTION_BOUNDED(opt "_warning", BM_OPT_DOUBLE, w, struct bn_conf, thr[id][0], 0, 1e18,  \
			  "warning at or above: " help),                                          \
	BM_OPTION_BOUNDED(opt "_critical", BM_OPT_DOUBLE, c, struct bn_conf, thr[id][1], 0, 1e18, \
			  "critical at or above: " help),

static const struct bm_option bn_options[] = {
	BM_OPTION_BOUNDED("hold", BM_OPT_DURATION, "30s", struct bn_conf, hold_ms, 0, 86400000,
			  "how long a condition must hold before its finding is published"),
	BM_OPTION_BOUNDED("clear", BM_OPT_DURATION, "30s", struct bn_conf, clear_ms, 0, 86400000,
			  "how long a published condition must be gone before it is resolved"),
	BM_OPTION_BOUNDED("republish", BM_OPT_DURATION, "30s", struct bn_conf, republish_ms, 1000,
			  86400000, "re-publication period of a finding that still holds"),
	BM_OPTION_BOUNDED("series_timeout", BM_OPT_DURATION, "2m", struct bn_conf, series_timeout_ms,
			  1000, 86400000, "forget a series without samples for this long"),
	BM_OPTION_BOUNDED("error_window", BM_OPT_DURATION, "5m", struct bn_conf, error_window_ms, 1000,
			  86400000, "how long an OOM kill, XID or ECC error keeps its finding"),
	BM_OPTION_BOUNDED("note_ttl", BM_OPT_DURATION, "15m", struct bn_conf, note_ttl_ms, 0, 86400000,
			  "how long anomaly, trend, forecast and correlation events count as evidence"),
	BM_OPTION_BOUNDED("max_series", BM_OPT_INT, "20000", struct bn_conf, max_series, 1, 10000000,
			  "series tracked at most; more are counted and ignored"),
	BM_OPTION_BOUNDED("max_findings", BM_OPT_INT, "256", struct bn_conf, max_findings, 1, 100000,
			  "findings (pending and active) kept at most"),
	BM_OPTION_BOUNDED("top_processes", BM_OPT_INT, "3", struct bn_conf, top_processes, 0, 16,
			  "processes named in the advice of cpu, memory and io findings"),
	BM_OPTION("link_speeds", BM_OPT_MAP, NULL, struct bn_conf, link_speeds,
		  "interface -> link speed in Mbit/s, for network utilisation"),
	BM_OPTION("route", BM_OPT_STRING, "/api/bearmon/v1/bottlenecks", struct bn_conf, route,
		  "HTTP path of the findings listing; \"\" serves none"),
	BN_CHECKS(BN_THRESHOLD_OPTIONS)
	BM_OPTION_END,
};

#undef BN_THRESHOLD_OPTIONS

static const char *const bn_check_names[CHK_N] = {
#define BN_CHECK_NAME(id, opt, w, c, help) [id] = opt,
	BN_CHECKS(BN_CHECK_NAME)
#undef BN_CHECK_NAME
};
/* clang-format on */

struct bn {
	struct bm_ctx *ctx;
	const struct bn_conf *conf;
	pthread_mutex_t lock;	      /* series: the metric thread against the main loop */
	struct series_table series;   /* under lock */
	struct bm_arena metric_arena; /* metric delivery thread only */
	/* main thread only from here */
	struct bm_arena event_arena;
	struct res_set rs;
	struct notes notes;
	struct findings findings;
	struct bn_link *links;
	size_t n_links;
	struct bm_sub *subs[5];
	struct bm_timer *timer;
	struct bm_buf buf;
	int64_t now_ms; /* time of the evaluation in progress */
	/* self-metrics */
	uint64_t decode_errors;
	uint64_t series_dropped;
	uint64_t events_published;
	double series_tracked;
	double findings_active;
};

static void counter_add(uint64_t *c, uint64_t n)
{
	__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

/* --- configuration ------------------------------------------------------ */

static int bn_check_thresholds(const struct bn_conf *c, struct bm_err *err)
{
	for (int i = 0; i < CHK_N; i++)
		if (c->thr[i][1] < c->thr[i][0])
			return bm_err_set(
			    err, BM_EINVAL, "%s_critical (%g) is below %s_warning (%g)",
			    bn_check_names[i], c->thr[i][1], bn_check_names[i], c->thr[i][0]);
	return 0;
}

static int bn_parse_links(struct bn *b, struct bm_err *err)
{
	const struct bm_map *m = &b->conf->link_speeds;
	if (!m->n)
		return 0;
	b->links = calloc(m->n, sizeof(*b->links));
	if (!b->links)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n; i++) {
		char *end;
		errno = 0;
		double mbit = strtod(m->values[i], &end);
		if (errno || end == m->values[i] || *end || !(mbit > 0) || !isfinite(mbit))
			return bm_err_set(err, BM_EINVAL,
					  "link_speeds: \"%s\" for %s is not a speed in Mbit/s",
					  m->values[i], m->keys[i]);
		b->links[b->n_links++] = (struct bn_link){m->keys[i], mbit * 1e6};
	}
	return 0;
}

/* --- inputs ------------------------------------------------------------- */

static bool batch_is_relevant(const struct bm_metric_batch *mb)
{
	for (size_t i = 0; i < mb->n_samples; i++)
		if (sm_name_may_match(mb->samples[i].name))
			return true;
	return false;
}

/* Metric delivery thread. */
static void bn_on_metric(void *user, const char *topic, const void *body, size_t len)
{
	struct bn *b = user;
	struct bm_metric_batch mb;
	bm_arena_reset(&b->metric_arena);
	if (bm_metric_batch_decode(body, len, &mb, &b->metric_arena)) {
		counter_add(&b->decode_errors, 1);
		return;
	}
	if (!batch_is_relevant(&mb))
		return;
	int rc = 0;
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < mb.n_samples && !rc; i++)
		rc = st_add(&b->series, &mb.samples[i]);
	pthread_mutex_unlock(&b->lock);
	if (rc)
		bm_log_warn(b->ctx, "cannot track series: %s", bm_strerror(rc));
}

/* Anomaly, trend, forecast and correlation events (main loop). */
static void bn_on_event(void *user, const char *topic, const void *body, size_t len)
{
	struct bn *b = user;
	int rc;
	bm_arena_reset(&b->event_arena);
	if (strcmp(topic, BM_TOPIC_ANOMALY) == 0) {
		struct bm_anomaly_event e;
		rc = bm_anomaly_decode(body, len, &e, &b->event_arena);
		rc = rc ? rc : notes_anomaly(&b->notes, &e);
	} else if (strcmp(topic, BM_TOPIC_TREND) == 0) {
		struct bm_trend_event e;
		rc = bm_trend_decode(body, len, &e, &b->event_arena);
		rc = rc ? rc : notes_trend(&b->notes, &e);
	} else if (strcmp(topic, BM_TOPIC_FORECAST) == 0) {
		struct bm_forecast_event e;
		rc = bm_forecast_decode(body, len, &e, &b->event_arena);
		rc = rc ? rc : notes_forecast(&b->notes, &e);
	} else {
		struct bm_correlation_event e;
		rc = bm_correlation_decode(body, len, &e, &b->event_arena);
		rc = rc ? rc : notes_correlation(&b->notes, &e);
	}
	if (rc)
		counter_add(&b->decode_errors, 1);
}

/* --- outputs ------------------------------------------------------------ */

static void bn_publish(struct bn *b, const char *topic, int rc)
{
	if (!rc)
		rc = bm_bus_publish(b->ctx, topic, b->buf.data, b->buf.len);
	if (rc && rc != BM_EAGAIN)
		bm_log_warn(b->ctx, "cannot publish a %s event: %s", topic, bm_strerror(rc));
	else
		counter_add(&b->events_published, 1);
}

/* Series named in the evidence, each once. */
static size_t related_series(const struct bm_evidence *ev, size_t n, struct bm_series_ref *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool dup = !ev[i].series.name;
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(out[j].name, ev[i].series.name) == 0 &&
			      out[j].n_labels == ev[i].series.n_labels &&
			      (!out[j].n_labels ||
			       strcmp(out[j].labels[0].value, ev[i].series.labels[0].value) == 0);
		if (!dup)
			out[k++] = ev[i].series;
	}
	return k;
}

static void bn_insight(struct bn *b, const struct finding *f, enum fd_change what, int64_t now_ms,
		       const struct bm_evidence *ev)
{
	char id[400], title[300], text[2 * BN_TEXT + 64], lasted[32];
	struct bm_series_ref related[BN_MAX_EVIDENCE];
	enum bm_severity sev = what == FD_RESOLVED ? BM_SEV_INFO : f->severity;
	const char *state = what == FD_RESOLVED ? "resolved" : fd_severity_name(f->severity);
	snprintf(id, sizeof(id), "bottleneck:%s:%lld:%s", f->id, (long long)f->since_ms, state);
	notes_duration_text(lasted, sizeof(lasted), now_ms - f->since_ms);
	if (what == FD_RESOLVED) {
		snprintf(title, sizeof(title), "resolved: %s (%s)", f->title, f->resource);
		snprintf(text, sizeof(text), "%s on %s cleared after %s; last seen: %s", f->title,
			 f->resource, lasted, f->summary);
	} else {
		if (what == FD_SEVERITY)
			snprintf(title, sizeof(title), "%s (%s) is now %s", f->title, f->resource,
				 state);
		else
			snprintf(title, sizeof(title), "%s (%s)", f->title, f->resource);
		snprintf(text, sizeof(text), "%s: %s", f->summary, f->advice ? f->advice : "");
	}
	struct bm_insight_event e = {
	    .ts_ms = now_ms,
	    .id = id,
	    .title = title,
	    .text = text,
	    .severity = sev,
	    .category = "bottleneck",
	    .source = bm_instance_name(b->ctx),
	    .related = related,
	    .n_related = related_series(ev, f->n_ev, related),
	};
	bn_publish(b, BM_TOPIC_INSIGHT, bm_insight_encode(&e, &b->buf));
}

/* Publish a finding as a `bottleneck` event (and an `insight` when it
 * opens, changes severity or resolves). A resolved finding is published
 * once more with severity info and impact 0: the marker consumers such as
 * analyzer/health go by. */
static void bn_emit(void *user, const struct finding *f, enum fd_change what, int64_t now_ms)
{
	struct bn *b = user;
	struct bm_evidence ev[BN_MAX_EVIDENCE];
	struct bm_label ev_labels[BN_MAX_EVIDENCE];
	struct bm_label label = {f->label_name, f->label_value};
	char summary[BN_TEXT + 400], lasted[32];
	bool resolved = what == FD_RESOLVED;
	fd_evidence_view(f, ev, ev_labels);
	if (resolved) {
		notes_duration_text(lasted, sizeof(lasted), now_ms - f->since_ms);
		snprintf(summary, sizeof(summary), "resolved: %s on %s after %s", f->title,
			 f->resource, lasted);
	}
	struct bm_bottleneck_event e = {
	    .ts_ms = now_ms,
	    .since_ms = f->since_ms,
	    .id = f->id,
	    .resource = f->resource,
	    .kind = f->kind,
	    .severity = resolved ? BM_SEV_INFO : f->severity,
	    .impact = resolved ? 0 : f->impact,
	    .confidence = f->confidence,
	    .summary = resolved ? summary : f->summary,
	    .recommendation = resolved ? NULL : f->advice,
	    .labels = f->label_name ? &label : NULL,
	    .n_labels = f->label_name ? 1 : 0,
	    .evidence = ev,
	    .n_evidence = f->n_ev,
	};
	bn_publish(b, BM_TOPIC_BOTTLENECK, bm_bottleneck_encode(&e, &b->buf));
	if (what != FD_REPEAT)
		bn_insight(b, f, what, now_ms, ev);
}

static void bn_sink(void *user, const struct bn_draft *d)
{
	struct bn *b = user;
	if (fd_observe(&b->findings, d, b->now_ms))
		bm_log_warn(b->ctx, "out of memory: finding on %s not tracked", d->acc->resource);
}

/* The evaluation, every interval on the main loop. */
static void bn_evaluate(void *user)
{
	struct bn *b = user;
	int64_t now_ms = bm_now_ms(b->ctx);
	pthread_mutex_lock(&b->lock);
	int rc = st_expire(&b->series, now_ms, b->conf->series_timeout_ms);
	if (!rc)
		rc = rs_build(&b->rs, &b->series, now_ms);
	size_t tracked = b->series.n;
	__atomic_store_n(&b->series_dropped, b->series.dropped, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&b->lock);
	if (rc) {
		bm_log_warn(b->ctx, "out of memory: evaluation skipped");
		return;
	}
	struct rule_ctx c = {
	    .conf = b->conf,
	    .links = b->links,
	    .n_links = b->n_links,
	    .rs = &b->rs,
	    .notes = &b->notes,
	    .now_ms = now_ms,
	};
	b->now_ms = now_ms;
	fd_begin(&b->findings);
	rules_evaluate(&c, bn_sink, b);
	fd_end(&b->findings, now_ms, bn_emit, b);
	*(volatile double *)&b->series_tracked = (double)tracked;
	*(volatile double *)&b->findings_active = (double)fd_active(&b->findings);
}

static bool query_true(const char *v)
{
	return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* GET ROUTE[?pending=true]: the findings, highest impact first. */
static void bn_on_http(void *user, struct bm_http_req *req)
{
	struct bn *b = user;
	if (!plugin_require_method(req, "GET"))
		return;
	json_t *list = fd_json(&b->findings, query_true(bm_http_query(req, "pending")));
	plugin_reply_json(req, 200,
			  list ? json_pack("{s:s, s:I, s:o}", "status", "success", "ts_ms",
					   (json_int_t)bm_now_ms(b->ctx), "bottlenecks", list)
			       : NULL);
}

/* --- lifecycle ------------------------------------------------------------ */

static void bn_fini(void *state)
{
	struct bn *b = state;
	st_free(&b->series);
	rs_free(&b->rs);
	notes_free(&b->notes);
	fd_free(&b->findings);
	bm_arena_free(&b->metric_arena);
	bm_arena_free(&b->event_arena);
	bm_buf_free(&b->buf);
	free(b->links);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static void bn_self_metrics(struct bn *b)
{
	bm_self_counter(b->ctx, "bearmon_bottleneck_decode_errors_total",
			"bus events that could not be decoded", &b->decode_errors);
	bm_self_counter(b->ctx, "bearmon_bottleneck_series_dropped_total",
			"series not tracked because max_series was reached", &b->series_dropped);
	bm_self_counter(b->ctx, "bearmon_bottleneck_events_published_total",
			"bottleneck and insight events published", &b->events_published);
	bm_self_gauge(b->ctx, "bearmon_bottleneck_series", "series tracked", &b->series_tracked);
	bm_self_gauge(b->ctx, "bearmon_bottleneck_findings", "active findings",
		      &b->findings_active);
}

static int bn_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct bn_conf *c = conf;
	int rc = bn_check_thresholds(c, err);
	if (rc)
		return rc;
	struct bn *b = calloc(1, sizeof(*b));
	if (!b)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	b->ctx = ctx;
	b->conf = c;
	pthread_mutex_init(&b->lock, NULL);
	b->series.max_series = (size_t)c->max_series;
	b->series.error_window_ms = c->error_window_ms;
	b->findings = (struct findings){.max = (size_t)c->max_findings,
					.hold_ms = c->hold_ms,
					.clear_ms = c->clear_ms,
					.republish_ms = c->republish_ms};
	rc = bn_parse_links(b, err);
	if (rc) {
		bn_fini(b);
		return rc;
	}
	bn_self_metrics(b);
	*state = b;
	return 0;
}

static int bn_subscribe(struct bn *b, size_t slot, const char *topic, bool on_loop, bm_event_cb cb,
			struct bm_err *err)
{
	struct bm_sub_opts o = {.size = sizeof(o), .topic = topic, .on_loop = on_loop};
	int rc = bm_bus_subscribe(b->ctx, &o, cb, b, &b->subs[slot]);
	return rc ? bm_err_set(err, rc, "cannot subscribe to %s: %s", topic, bm_strerror(rc)) : 0;
}

static void bn_stop(void *state)
{
	struct bn *b = state;
	plugin_unsubscribe_all(b->subs, sizeof(b->subs) / sizeof(b->subs[0]));
	plugin_timer_stop(&b->timer);
}

static int bn_start(void *state, struct bm_err *err)
{
	struct bn *b = state;
	/* the metric stream is decoded on its own thread; the few analysis
	 * events go to the main loop, which owns the notes */
	int rc = bn_subscribe(b, 0, BM_TOPIC_METRIC, false, bn_on_metric, err);
	if (!rc)
		rc = bn_subscribe(b, 1, BM_TOPIC_ANOMALY, true, bn_on_event, err);
	if (!rc)
		rc = bn_subscribe(b, 2, BM_TOPIC_TREND, true, bn_on_event, err);
	if (!rc)
		rc = bn_subscribe(b, 3, BM_TOPIC_FORECAST, true, bn_on_event, err);
	if (!rc)
		rc = bn_subscribe(b, 4, BM_TOPIC_CORRELATION, true, bn_on_event, err);
	if (!rc && (rc = bm_timer_start(b->ctx, bm_interval_ms(b->ctx), bn_evaluate, b, &b->timer)))
		bm_err_set(err, rc, "cannot start the evaluation timer: %s", bm_strerror(rc));
	if (!rc && b->conf->route && b->conf->route[0])
		rc = plugin_route(b->ctx, b->conf->route, 0, bn_on_http, b, err);
	if (rc)
		bn_stop(b);
	return rc;
}

static const struct bm_plugin_ops bn_ops = {
    .ops_size = sizeof(struct bm_plugin_ops),
    .init = bn_init,
    .start = bn_start,
    .stop = bn_stop,
    .fini = bn_fini,
};

BM_PLUGIN_DEFINE(analyzer, bottleneck, BM_KIND_ANALYZER, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "USE-method bottlenecks (cpu, memory, io, disk, network, gpu, "
				"agents, model servers) with insights",
		 .origin = "bearmon plugins/analyzer_bottleneck", .options = bn_options,
		 .config_size = sizeof(struct bn_conf), .ops = &bn_ops);
