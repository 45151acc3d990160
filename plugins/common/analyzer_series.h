/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The intake every series analyzer shares (trend, correlation, forecast):
 * a bounded table of series fed from `metric` events (name filter, cap,
 * stale markers), an evaluation thread of the plugin's own, store history
 * for warm-up, and the JSON/route helpers of their HTTP answers.
 */
#ifndef BEARMON_PLUGINS_ANALYZER_SERIES_H
#define BEARMON_PLUGINS_ANALYZER_SERIES_H

#include <jansson.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>

/* Names of counters and of histogram and summary parts (Prometheus
 * conventions): their level only grows, so it says little by itself. */
#define AS_COUNTER_PATTERN ".+_(total|bucket|count|sum)"

/* What an analyzer does with counters (names matching AS_COUNTER_PATTERN). */
enum as_counters {
	AS_COUNTERS_RATE = 0, /* analyse the per-second rate between samples
			       * (a decrease is a reset: no value) */
	AS_COUNTERS_SKIP = 1, /* leave them out */
	AS_COUNTERS_RAW = 2,  /* analyse the raw level like a gauge */
};
/* Option values of enum as_counters, for BM_OPT_ENUM. */
extern const char *const as_counters_names[];

/* A series' identity: name and sorted labels, copied into one block. */
struct as_key {
	uint64_t hash;
	char *name;
	struct bm_label *labels;
	uint32_t n_labels;
};

/* One tracked series. val is the plugin's per-series state. */
struct as_entry {
	struct as_key *key;
	void *val;
	int64_t last_ts_ms; /* newest sample taken */
	bool ended;         /* a stale marker came after the newest sample */
	bool rate;          /* a counter analysed as its per-second rate */
	int64_t prev_ts_ms; /* rate: the previous raw sample */
	double prev_v;
};

/* What the plugin does with the series it tracks; every callback runs
 * with the table locked. */
struct as_ops {
	/* New series accepted: its state, or NULL (out of memory: the sample
	 * is dropped and the series retried on its next sample). */
	void *(*create)(void *user, const struct as_key *key, int64_t ts_ms);
	/* A finite sample of a tracked series, in arrival order. */
	void (*sample)(void *user, void *val, int64_t ts_ms, double v);
	/* The series is forgotten (sweep, fini). */
	void (*destroy)(void *user, void *val);
};

struct as_table {
	pthread_mutex_t lock;
	struct bm_filter filter;
	enum as_counters counters;
	regex_t counter_re;
	size_t max_series;
	struct as_ops ops;
	void *user;
	struct as_entry *entries; /* dense, in arrival order */
	size_t n, cap;
	uint32_t *index; /* open addressing: entry index + 1, 0 = empty */
	size_t index_cap;
	struct bm_arena arena; /* decode arena of the delivery thread */
	struct bm_sub *sub;
	/* counters for self-metrics, read with relaxed loads */
	uint64_t samples;         /* samples taken */
	uint64_t dropped_series;  /* new series refused: max_series reached */
	uint64_t skipped_samples; /* NaN, Inf, older than the newest or undecodable */
	uint64_t events;          /* events published (as_publish) */
	uint64_t publish_errors;  /* publish calls that failed */
	double series_gauge;      /* series tracked at the last sweep */
};

/* include/exclude: metric name patterns (bm_filter). BM_EINVAL with err
 * filled on a bad pattern. */
int as_table_init(struct as_table *t, size_t max_series, const struct bm_strlist *include,
		  const struct bm_strlist *exclude, enum as_counters counters,
		  const struct as_ops *ops, void *user, struct bm_err *err);
/* Forget every series (destroy each) and free the table. */
void as_table_free(struct as_table *t);
/* Subscribe to `metric` (drop-oldest, queue_len events; 0 = host default). */
int as_table_subscribe(struct as_table *t, struct bm_ctx *ctx, uint32_t queue_len);
void as_table_unsubscribe(struct as_table *t);
/* Take one encoded `metric` event: what the subscription does per event
 * (the delivery thread; tests call it directly). BM_EPROTO when the body
 * does not decode. */
int as_table_ingest(struct as_table *t, const void *body, size_t len);
/* Forget series that ended before ended_before_ms or took no sample since
 * idle_before_ms. Call with the table unlocked, from the only thread that
 * keeps as_entry pointers across unlocks (the evaluation thread). */
void as_table_sweep(struct as_table *t, int64_t ended_before_ms, int64_t idle_before_ms);

/* Export the counters above as self-metrics bearmon_analyzer_*. */
int as_table_self_metrics(struct as_table *t, struct bm_ctx *ctx);
/* Publish an encoded event body on topic, counting it. */
int as_publish(struct as_table *t, struct bm_ctx *ctx, const char *topic, const struct bm_buf *b);

/* The series as the events' type (borrows the key). */
struct bm_series_ref as_series_ref(const struct as_key *k);
/* Canonical text name{a="x",...} with Prometheus escaping, as the store
 * prints it; returns the length (snprintf rules). */
size_t as_series_text(const struct as_key *k, char *buf, size_t n);
/* {"name": ..., "labels": {...}} (new reference, NULL on ENOMEM). */
json_t *as_series_json(const struct bm_series_ref *s);
/* A finite number, or JSON null for NaN and infinities. */
json_t *as_number(double v);

/* Points of series k from the store: avg over step_ms windows in
 * [start_ms, end_ms], oldest first. Returns the count, 0 when the store
 * does not know the series, or a BM_E* code (BM_ENOTSUP: no store). */
long as_store_history(struct bm_ctx *ctx, const struct as_key *k, int64_t start_ms,
		      int64_t end_ms, int64_t step_ms, bm_point_cb cb, void *user);

/* Register GET path; when another instance holds it, path/INSTANCE. The
 * path used is copied to used (at least 256 bytes). BM_ENOTSUP (no HTTP
 * server) is not an error: used is "". */
int as_route(struct bm_ctx *ctx, const char *path, bm_http_cb cb, void *user, char *used,
	     size_t n);
/* Answer req with j (200, application/json; 405 for other methods is
 * the caller's) and release j. */
void as_reply_json(struct bm_http_req *req, json_t *j);
/* Answer 405 unless the request is a GET (or HEAD); true when answered. */
bool as_reply_if_not_get(struct bm_http_req *req);

/* A thread that calls fn(user, now_ms) every period_ms until stopped. */
struct as_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, running;
	int64_t period_ms;
	struct bm_ctx *ctx;
	void (*fn)(void *user, int64_t now_ms);
	void *user;
};
int as_worker_start(struct as_worker *w, struct bm_ctx *ctx, int64_t period_ms,
		    void (*fn)(void *user, int64_t now_ms), void *user);
/* Wakes the thread and joins it; a no-op when it never started. */
void as_worker_stop(struct as_worker *w);

#endif /* BEARMON_PLUGINS_ANALYZER_SERIES_H */
