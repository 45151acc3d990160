/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/health: a score from 0 to 100 and a status per component (cpu,
 * memory, disk, network, gpu, agents and each agent, models, containers,
 * bearmon itself) and overall, lowered by bottleneck findings, anomalies,
 * forecasts, failing collectors and agents that are down; published as
 * `health` events every interval and served at /api/bearmon/v1/health.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/plugin_route.h"
#include "../common/plugin_stop.h"
#include "health.h"
#include "inputs.h"
#include "score.h"

#define PENALTY(n, def, field, help)                                                               \
	BM_OPTION_BOUNDED(n, BM_OPT_DOUBLE, def, struct health_conf, field, 0, 100, help)

/* clang-format off */
static const struct bm_option health_options[] = {
	BM_OPTION_BOUNDED("stale_after", BM_OPT_DURATION, "1m", struct health_conf, stale_after_ms,
			  1000, 86400000, "a component without data this long is unknown"),
	BM_OPTION_BOUNDED("finding_ttl", BM_OPT_DURATION, "2m", struct health_conf, finding_ttl_ms,
			  1000, 86400000,
			  "a bottleneck finding not re-published this long no longer counts"),
	BM_OPTION_BOUNDED("anomaly_window", BM_OPT_DURATION, "10m", struct health_conf,
			  anomaly_window_ms, 1000, 86400000, "how long an anomaly counts"),
	BM_OPTION_BOUNDED("forecast_window", BM_OPT_DURATION, "1h", struct health_conf,
			  forecast_window_ms, 1000, 604800000,
			  "a forecast crossing its threshold within this horizon counts"),
	PENALTY("warning_penalty", "25", warning_penalty, "points off per warning finding"),
	PENALTY("critical_penalty", "50", critical_penalty, "points off per critical finding"),
	PENALTY("impact_penalty", "20", impact_penalty,
		"further points off per finding, times its impact (0..1)"),
	PENALTY("anomaly_penalty", "5", anomaly_penalty,
		"points off per anomalous series, times its best score"),
	PENALTY("anomaly_penalty_max", "15", anomaly_penalty_max,
		"anomalies take at most this many points off a component"),
	PENALTY("forecast_penalty", "15", forecast_penalty,
		"points off per forecast crossing its threshold, times (1 + confidence) / 2"),
	PENALTY("collector_penalty", "20", collector_penalty,
		"points off per failing or stalled collector, on bearmon and the component it feeds"),
	PENALTY("agent_down_penalty", "60", agent_down_penalty,
		"points off per agent whose agent_up is 0"),
	PENALTY("spread_penalty", "5", spread_penalty,
		"overall: points off per further component that is not ok"),
	PENALTY("degraded_below", "80", degraded_below, "status degraded under this score"),
	PENALTY("critical_below", "50", critical_below, "status critical under this score"),
	BM_OPTION_BOUNDED("max_reasons", BM_OPT_INT, "10", struct health_conf, max_reasons, 1, 1000,
			  "reasons listed per component"),
	BM_OPTION_BOUNDED("max_agents", BM_OPT_INT, "256", struct health_conf, max_agents, 0, 100000,
			  "agent components kept at most"),
	BM_OPTION_BOUNDED("max_findings", BM_OPT_INT, "1024", struct health_conf, max_findings, 1,
			  100000, "bottleneck findings kept at most"),
	BM_OPTION("route", BM_OPT_STRING, "/api/bearmon/v1/health", struct health_conf, route,
		  "HTTP path of the scores; \"\" serves none"),
	BM_OPTION_END,
};
/* clang-format on */

#undef PENALTY

struct health {
	struct bm_ctx *ctx;
	const struct health_conf *conf;
	pthread_mutex_t lock; /* inputs: the metric thread against the main loop */
	struct health_inputs in;
	struct bm_arena metric_arena; /* metric delivery thread only */
	struct bm_arena event_arena;  /* main thread from here */
	struct hs_result result;
	struct bm_buf buf;
	struct bm_sub *subs[4];
	struct bm_timer *timer;
	uint64_t decode_errors;
	uint64_t events_published;
	double overall_score;
};

static void counter_add(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* Metric delivery thread. */
static void health_on_metric(void *user, const char *topic, const void *body, size_t len)
{
	struct health *h = user;
	struct bm_metric_batch mb;
	bm_arena_reset(&h->metric_arena);
	if (bm_metric_batch_decode(body, len, &mb, &h->metric_arena)) {
		counter_add(&h->decode_errors);
		return;
	}
	pthread_mutex_lock(&h->lock);
	int rc = hi_metrics(&h->in, &mb);
	pthread_mutex_unlock(&h->lock);
	if (rc)
		bm_log_warn(h->ctx, "out of memory: metric batch not fully taken into account");
}

/* bottleneck, anomaly and forecast events (main loop). */
static void health_on_event(void *user, const char *topic, const void *body, size_t len)
{
	struct health *h = user;
	int rc;
	bm_arena_reset(&h->event_arena);
	pthread_mutex_lock(&h->lock);
	if (strcmp(topic, BM_TOPIC_BOTTLENECK) == 0) {
		struct bm_bottleneck_event e;
		rc = bm_bottleneck_decode(body, len, &e, &h->event_arena);
		rc = rc ? rc : hi_bottleneck(&h->in, &e);
	} else if (strcmp(topic, BM_TOPIC_ANOMALY) == 0) {
		struct bm_anomaly_event e;
		rc = bm_anomaly_decode(body, len, &e, &h->event_arena);
		rc = rc ? rc : hi_anomaly(&h->in, &e);
	} else {
		struct bm_forecast_event e;
		rc = bm_forecast_decode(body, len, &e, &h->event_arena);
		rc = rc ? rc : hi_forecast(&h->in, &e, h->conf->forecast_window_ms);
	}
	pthread_mutex_unlock(&h->lock);
	if (rc == BM_EPROTO)
		counter_add(&h->decode_errors);
	else if (rc)
		bm_log_warn(h->ctx, "cannot keep a %s event: %s", topic, bm_strerror(rc));
}

/* Expire what is old and score everything at now_ms (main loop). */
static int health_score(struct health *h, int64_t now_ms)
{
	const struct health_conf *c = h->conf;
	pthread_mutex_lock(&h->lock);
	hi_expire(&h->in, now_ms, c->finding_ttl_ms, c->anomaly_window_ms, c->forecast_window_ms,
		  10 * c->stale_after_ms);
	int rc = hs_compute(&h->in, c, now_ms, &h->result);
	pthread_mutex_unlock(&h->lock);
	if (rc)
		bm_log_warn(h->ctx, "out of memory: health not scored");
	return rc;
}

static void health_publish_one(struct health *h, const struct hs_component *k, int64_t now_ms)
{
	struct bm_health_reason *reasons = calloc(k->n_reasons + 1, sizeof(*reasons));
	struct bm_label *labels = calloc(k->n_reasons + 1, sizeof(*labels));
	struct bm_health_event e;
	int rc = BM_ENOMEM;
	if (reasons && labels) {
		hs_event(k, now_ms, reasons, labels, &e);
		rc = bm_health_encode(&e, &h->buf);
	}
	if (!rc)
		rc = bm_bus_publish(h->ctx, BM_TOPIC_HEALTH, h->buf.data, h->buf.len);
	if (rc && rc != BM_EAGAIN)
		bm_log_warn(h->ctx, "cannot publish the health of %s: %s", k->name,
			    bm_strerror(rc));
	else
		counter_add(&h->events_published);
	free(reasons);
	free(labels);
}

/* Every interval: one health event per component, then overall. */
static void health_tick(void *user)
{
	struct health *h = user;
	int64_t now_ms = bm_now_ms(h->ctx);
	if (health_score(h, now_ms))
		return;
	for (size_t i = 0; i < h->result.n; i++)
		health_publish_one(h, &h->result.v[i], now_ms);
	health_publish_one(h, &h->result.overall, now_ms);
	*(volatile double *)&h->overall_score = h->result.overall.score;
}

/* GET ROUTE: scores as of now. */
static void health_on_http(void *user, struct bm_http_req *req)
{
	struct health *h = user;
	if (!plugin_require_method(req, "GET"))
		return;
	int64_t now_ms = bm_now_ms(h->ctx);
	plugin_reply_json(req, 200, health_score(h, now_ms) ? NULL : hs_json(&h->result, now_ms));
}

static void health_fini(void *state)
{
	struct health *h = state;
	hi_free(&h->in);
	hs_free(&h->result);
	bm_arena_free(&h->metric_arena);
	bm_arena_free(&h->event_arena);
	bm_buf_free(&h->buf);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static int health_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct health_conf *c = conf;
	if (c->critical_below > c->degraded_below)
		return bm_err_set(err, BM_EINVAL,
				  "critical_below (%g) is above degraded_below (%g)",
				  c->critical_below, c->degraded_below);
	struct health *h = calloc(1, sizeof(*h));
	if (!h)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	h->ctx = ctx;
	h->conf = c;
	h->overall_score = NAN;
	h->in.max_agents = (size_t)c->max_agents;
	h->in.max_findings = (size_t)c->max_findings;
	pthread_mutex_init(&h->lock, NULL);
	bm_self_counter(ctx, "bearmon_health_decode_errors_total",
			"bus events that could not be decoded", &h->decode_errors);
	bm_self_counter(ctx, "bearmon_health_events_published_total", "health events published",
			&h->events_published);
	bm_self_gauge(ctx, "bearmon_health_overall_score", "overall health score, 0..100",
		      &h->overall_score);
	*state = h;
	return 0;
}

static void health_stop(void *state)
{
	struct health *h = state;
	plugin_unsubscribe_all(h->subs, sizeof(h->subs) / sizeof(h->subs[0]));
	plugin_timer_stop(&h->timer);
}

static int health_start(void *state, struct bm_err *err)
{
	struct health *h = state;
	static const char *const topics[] = {BM_TOPIC_METRIC, BM_TOPIC_BOTTLENECK, BM_TOPIC_ANOMALY,
					     BM_TOPIC_FORECAST};
	int rc = 0;
	for (size_t i = 0; i < 4 && !rc; i++) {
		/* metrics on their own thread; the analysis events on the loop */
		struct bm_sub_opts o = {.size = sizeof(o), .topic = topics[i], .on_loop = i > 0};
		rc = bm_bus_subscribe(h->ctx, &o, i ? health_on_event : health_on_metric, h,
				      &h->subs[i]);
		if (rc)
			bm_err_set(err, rc, "cannot subscribe to %s: %s", topics[i],
				   bm_strerror(rc));
	}
	if (!rc && (rc = bm_timer_start(h->ctx, bm_interval_ms(h->ctx), health_tick, h, &h->timer)))
		bm_err_set(err, rc, "cannot start the timer: %s", bm_strerror(rc));
	if (!rc && h->conf->route && h->conf->route[0])
		rc = plugin_route(h->ctx, h->conf->route, 0, health_on_http, h, err);
	if (rc)
		health_stop(h);
	return rc;
}

static const struct bm_plugin_ops health_ops = {
    .ops_size = sizeof(struct bm_plugin_ops),
    .init = health_init,
    .start = health_start,
    .stop = health_stop,
    .fini = health_fini,
};

BM_PLUGIN_DEFINE(
    analyzer, health, BM_KIND_ANALYZER, .version = "1.0.0", .license = "Apache-2.0",
    .description = "health scores per component and overall, with the reasons that lowered them",
    .origin = "bearmon plugins/analyzer_health", .options = health_options,
    .config_size = sizeof(struct health_conf), .ops = &health_ops);
