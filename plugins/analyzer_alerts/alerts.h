/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The analyzer/alerts plugin's instance, shared by alerts.c (options,
 * lifecycle, bus intake, the worker that ticks the engine and publishes)
 * and api.c (the HTTP routes).
 */
#ifndef BEARMON_ALERTS_ALERTS_H
#define BEARMON_ALERTS_ALERTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_option.h>

#include "engine.h"

#define ALERTS_API "/api/bearmon/v1"

/* One rule written in the config (rules = ( {...}, ... )). */
struct alerts_rule_conf {
	char *id;
	char *name;
	char *metric;
	int condition;  /* index into al_cond_names */
	double threshold;
	double clear_threshold;
	double tolerance;
	int64_t horizon_ms;
	int64_t window_ms;
	char *expr;
	int64_t for_ms;
	int64_t keep_firing_for_ms;
	int severity;   /* index into al_severity_names */
	int64_t cooldown_ms;
	int64_t repeat_interval_ms;
	char *expires;
	struct bm_map labels;
	struct bm_map annotations;
	struct bm_strlist notifiers;
	struct bm_strlist group_by;
	int64_t group_wait_ms;
	int64_t group_interval_ms;
	int64_t flap_threshold;
	int64_t flap_window_ms;
	bool enabled;
};

struct alerts_conf {
	struct bm_group_list rules;
	struct bm_strlist prometheus_rule_files;
	int64_t eval_interval_ms;
	int64_t lookback_ms;
	int64_t anomaly_hold_ms;
	int64_t analysis_ttl_ms;
	int64_t promql_interval_ms;
	int64_t max_series;
	int64_t metric_queue_len;
	char *state_file;
	int64_t state_interval_ms;
	char *external_url;
};

/* An encoded alert event waiting for the worker to publish it. */
struct alerts_out {
	char *body;
	size_t len;
};

/* Counters exported as self-metrics (written with relaxed atomics). */
struct alerts_stats {
	uint64_t samples, events_in, series_dropped, published, publish_failures;
	uint64_t decode_errors, promql_errors, state_writes, state_errors;
	double series, pending, firing, rules, silences, worker_cpu_s;
};

struct alerts {
	struct bm_ctx *ctx;
	const struct alerts_conf *conf;
	pthread_mutex_t lock;      /* the engine, the outbox */
	pthread_cond_t wake;
	pthread_t worker;
	bool worker_running, stopping, kick;
	struct al_engine *eng;
	struct alerts_out *out;
	size_t n_out, cap_out;
	struct bm_batch records;   /* recording rules' results */
	struct bm_buf enc;
	struct bm_sub *metric_sub, *event_sub;
	struct bm_arena metric_arena, event_arena; /* one per delivery thread */
	char state_path[4096];
	char generator_url[512];
	int64_t last_save_ms;
	struct alerts_stats st;
};

/* Wake the worker: events wait in the outbox, or state changed. */
void alerts_kick(struct alerts *a);
/* Register the HTTP routes (api.c). */
int alerts_api_register(struct alerts *a, struct bm_err *err);

#endif
