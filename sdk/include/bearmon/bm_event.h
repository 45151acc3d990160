/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard bus events: topic names, one C struct per topic with every field's
 * type and unit pinned, and encode/decode helpers to and from the msgpack
 * bodies that travel on the bus. Plugins never hand-roll msgpack for these.
 */
#ifndef BEARMON_BM_EVENT_H
#define BEARMON_BM_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bm_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Conventions for every topic:
 *  - Every *_ms field is int64 milliseconds: a time since the Unix epoch
 *    (UTC) where the name says a time (ts, start, since, at, seen,
 *    deadline, expires, next_retry), else a duration (window, horizon,
 *    step, season, lag, latency, time_to_threshold). Other units are in
 *    the name (`_s` seconds, `_bytes`, `per_s` per second) or the comment.
 *  - Strings are UTF-8, borrowed by encoders and NUL-terminated copies in
 *    the caller's arena after decoding. NULL means "absent"; "" is a value.
 *    Decoders refuse a string with a NUL byte inside (a C string would
 *    silently cut it) but do not check UTF-8: plugins that take text from
 *    outside (StatsD, scrapes, agents) validate it before publishing.
 *  - An array with n == 0 may have a NULL pointer; decoders always return
 *    NULL for empty arrays.
 *  - Growth (ABI minor): new fields are appended to the structs and to the
 *    wire; decoders ignore unknown map keys and extra trailing array
 *    elements, and fields an older producer did not send decode to 0/NULL.
 *    Decoders read an enum value this version does not know as the enum's
 *    0 value.
 */

/* ---------------------------------------------------------------------
 * Topics
 * --------------------------------------------------------------------- */
#define BM_TOPIC_METRIC "metric"
/* Subscription pseudo-topics: "*" is every topic; BM_TOPIC_EVENTS (since
 * ABI 1.2) is every topic except `metric`: the analysis, alerting,
 * optimizer and agent events at their low rate, without the samples. */
#define BM_TOPIC_EVENTS "*-metric"
#define BM_TOPIC_ANOMALY "anomaly"
#define BM_TOPIC_TREND "trend"
#define BM_TOPIC_FORECAST "forecast"
#define BM_TOPIC_CORRELATION "correlation"
#define BM_TOPIC_BOTTLENECK "bottleneck"
#define BM_TOPIC_INSIGHT "insight"
#define BM_TOPIC_HEALTH "health"
#define BM_TOPIC_ALERT "alert"
#define BM_TOPIC_NOTIFICATION "notification"
#define BM_TOPIC_CANDIDATE "candidate"
#define BM_TOPIC_RECOMMENDATION "recommendation"
#define BM_TOPIC_ACTION "action"
#define BM_TOPIC_AGENT "agent"
#define BM_TOPIC_AGENT_COMMAND "agent.command"
#define BM_TOPIC_AGENT_ACK "agent.ack"

/* ---------------------------------------------------------------------
 * Output buffer (encoders)
 * --------------------------------------------------------------------- */

/*
 * Growable byte buffer, owned by the caller. A zeroed struct is an empty
 * buffer. Encoders reset it and write one complete event body, so one
 * buffer per publishing thread serves every event without reallocating
 * once it has grown to the largest body.
 */
struct bm_buf {
	char *data; /* malloc'd; NULL while cap == 0 */
	size_t len; /* bytes of the current body */
	size_t cap; /* bytes allocated */
};

/* len = 0; the memory is kept for the next body. */
void bm_buf_reset(struct bm_buf *b);
/* Free the memory and zero the struct; the buffer may be used again. */
void bm_buf_free(struct bm_buf *b);
/* Make room for at least `extra` more bytes after len. 0 or BM_ENOMEM
 * (the buffer is unchanged on failure). */
int bm_buf_reserve(struct bm_buf *b, size_t extra);
/* Append n bytes copied from p. 0 or BM_ENOMEM (unchanged on failure). */
int bm_buf_append(struct bm_buf *b, const void *p, size_t n);

/* ---------------------------------------------------------------------
 * Decode arena
 * --------------------------------------------------------------------- */

struct bm_arena_chunk; /* private to the SDK */

/*
 * Bump allocator that holds what decoders return, owned by the caller. A
 * zeroed struct is an empty arena. Nothing is freed one by one:
 * bm_arena_reset() invalidates everything handed out and keeps the memory
 * (merged into a single chunk) for the next events, so a subscriber that
 * resets once per event stops calling malloc after the first few events.
 * Not thread safe: one arena per thread.
 */
struct bm_arena {
	char *cur;                     /* next free byte in the newest chunk */
	char *end;                     /* end of the newest chunk */
	struct bm_arena_chunk *chunks; /* newest first */
};

/* Out-of-line part of bm_arena_alloc(); call that instead. */
void *bm_arena_alloc_slow(struct bm_arena *a, size_t size);

/*
 * size bytes aligned for any object type (16), uninitialised, valid until
 * the next bm_arena_reset() or bm_arena_free(). NULL when out of memory.
 * Inline because decoders call it once per sample.
 */
static inline void *bm_arena_alloc(struct bm_arena *a, size_t size)
{
	uintptr_t p = ((uintptr_t)a->cur + 15u) & ~(uintptr_t)15u;

	if (a->cur && p <= (uintptr_t)a->end && size <= (uintptr_t)a->end - p && size) {
		a->cur = (char *)p + size;
		return (void *)p;
	}
	return bm_arena_alloc_slow(a, size);
}

/* NUL-terminated copy of the n bytes at s (which need no NUL), in the
 * arena. NULL when out of memory. */
char *bm_arena_strndup(struct bm_arena *a, const char *s, size_t n);
/* Forget every allocation, keep the memory. */
void bm_arena_reset(struct bm_arena *a);
/* Free the memory and zero the struct; the arena may be used again. */
void bm_arena_free(struct bm_arena *a);

/* ---------------------------------------------------------------------
 * Common pieces
 * --------------------------------------------------------------------- */

/* One label of a series (Prometheus model). */
struct bm_label {
	const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, never NULL */
	const char *value; /* UTF-8, never NULL; "" is the same as absent in
			    * Prometheus, so producers drop empty labels */
};

/* The canonical text of a series, name{a="x",b="y"} with Prometheus'
 * escaping (\\, \", \n), as the store, the APIs and the UI show it (since
 * ABI 1.2). Returns the length it needs, as snprintf does; buf gets at most
 * n - 1 bytes and a NUL. */
size_t bm_series_text(const char *name, const struct bm_label *l, uint32_t n_labels, char *buf,
		      size_t n);
/* UTF-8 (since ABI 1.2): the length of the valid sequence at s (n bytes
 * left), 0 when none starts there (overlong forms, surrogates and code
 * points above U+10FFFF are invalid); and whether all n bytes are valid.
 * NUL is a valid character: callers that need C strings check for it. */
size_t bm_utf8_len(const void *s, size_t n);
bool bm_utf8_valid(const void *s, size_t n);
/* Prometheus' duration text, the n bytes at s: units y w d h m s ms in
 * that order, each at most once, with integer counts ("1h30m", "250ms");
 * "0" alone is zero. At most 292 years, as Go's durations. */
bool bm_parse_duration(const char *s, size_t n, int64_t *ms);
/* Why a POSIX extended regular expression from outside must not reach
 * regcomp(3) (nested repetitions or counts over 1000 that would compile
 * to gigabytes, unbalanced parentheses that would escape a "^(...)$"
 * anchoring, too deep or too large), or NULL when it may (since ABI 1.2). */
const char *bm_regex_check(const char *ere);

/* Sort n labels by name (byte order, as Prometheus does), in place.
 * Encoders do not sort: a series' label set must be sorted once, by its
 * producer, so that equal series encode to equal bytes. */
void bm_labels_sort(struct bm_label *l, size_t n);

/* A series: metric name plus its label set, labels sorted by name. */
struct bm_series_ref {
	const char *name; /* full series name, e.g. "node_cpu_seconds_total" */
	const struct bm_label *labels;
	uint32_t n_labels;
};

/* A string-to-string map entry (annotations, parameters, arguments);
 * order is kept, keys should be unique. */
struct bm_kv {
	const char *key;   /* never NULL */
	const char *value; /* never NULL */
};

/* Ordered so that `sev >= BM_SEV_WARNING` reads naturally; 0 is the least
 * severe, which is what a missing field decodes to. */
enum bm_severity {
	BM_SEV_INFO = 0,
	BM_SEV_WARNING = 1,
	BM_SEV_CRITICAL = 2,
	BM_SEV_EMERGENCY = 3,
};

enum bm_trend_direction {
	BM_TREND_STABLE = 0, /* no significant trend */
	BM_TREND_INCREASING = 1,
	BM_TREND_DECREASING = 2,
};

/* One piece of evidence behind a finding or a proposal: a series and its
 * value, a plain statement, or both. */
struct bm_evidence {
	const char *text;            /* e.g. "cpu some pressure avg10 above 40%" */
	struct bm_series_ref series; /* series.name NULL when none */
	double value;                /* the series' value (or the statistic named
				      * in text), in the unit below */
	const char *unit;            /* "ratio", "seconds", "bytes", ...; or NULL */
};

/* Expected (declared, simulated) or measured effect on one metric. */
struct bm_impact {
	const char *metric;  /* series name or selector, e.g.
			      * "agent_task_duration_seconds{quantile=\"0.95\"}" */
	double rel_change;   /* relative change: -0.2 = 20% lower, 0.5 = 50% higher */
	double uncertainty;  /* standard deviation of rel_change, same unit */
};

/* What an actuator is asked to do. */
struct bm_action_spec {
	const char *actuator; /* "cgroup", "process", "sysctl", "agent_command" */
	const char *target;   /* cgroup path, pid or process match, sysctl key,
			       * agent id */
	const struct bm_kv *params; /* e.g. {"memory.high", "2147483648"}; values
				     * in the actuator's own unit, as text */
	size_t n_params;
};

/* ---------------------------------------------------------------------
 * metric: a batch of samples (performance critical, positional wire format)
 *
 * Wire: [source, [meta...], [sample...]]
 *   meta   = [name(str), type(int), unit(str|nil), help(str|nil)]
 *   sample = [name(str), [k1, v1, k2, v2, ...](str), ts_ms(int), value(f64)]
 * value is always written as float64, bit-exact (NaN payloads, +-Inf, -0.0,
 * the stale marker). Decoders also accept float32 and integer values.
 * --------------------------------------------------------------------- */

enum bm_metric_type {
	BM_METRIC_UNTYPED = 0,
	BM_METRIC_COUNTER = 1,
	BM_METRIC_GAUGE = 2,
	BM_METRIC_HISTOGRAM = 3,
	BM_METRIC_SUMMARY = 4,
};

/* One sample of one series. */
struct bm_sample {
	const char *name; /* full series name, e.g. "http_duration_seconds_bucket" */
	const struct bm_label *labels; /* sorted by name (bm_labels_sort) */
	uint32_t n_labels;
	int64_t ts_ms; /* sample time, ms since the epoch */
	double value;  /* float64; bm_stale_nan() marks a vanished series */
};

/* Metadata of a metric family present in the batch. Sent when the producer
 * first publishes the family and whenever it changes; not in every batch. */
struct bm_metric_meta {
	const char *name; /* family name, e.g. "http_duration_seconds" */
	enum bm_metric_type type;
	const char *unit; /* OpenMetrics unit, e.g. "seconds"; NULL when none */
	const char *help; /* HELP text; NULL when none */
};

struct bm_metric_batch {
	const char *source; /* producer, e.g. "collector:cpu:default"; may be NULL */
	const struct bm_metric_meta *meta;
	size_t n_meta;
	const struct bm_sample *samples;
	size_t n_samples;
};

/* Prometheus' staleness marker: a NaN with this exact bit pattern, which
 * no arithmetic produces. Compare bits, never values (NaN != NaN). */
#define BM_STALE_NAN_BITS 0x7ff0000000000002ULL

static inline double bm_stale_nan(void)
{
	uint64_t bits = BM_STALE_NAN_BITS;
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

static inline bool bm_is_stale_nan(double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	return bits == BM_STALE_NAN_BITS;
}

/*
 * Encode b into out (reset first). b and everything it points to are
 * borrowed for the call. BM_EINVAL for a NULL name, label name or value, a
 * NULL array with a non-zero count, or a string over 4 GiB; BM_ENOMEM.
 * On error out->len is 0, so a half body is never published.
 */
int bm_metric_batch_encode(const struct bm_metric_batch *b, struct bm_buf *out);

/*
 * Decode body (len bytes, borrowed for the call) into *out. Every string
 * and array of *out is allocated in arena and lives until the caller resets
 * or frees it; the decoder never resets the arena itself. BM_EPROTO for a
 * malformed, truncated or wrongly typed body or trailing bytes after it,
 * BM_ENOMEM; on error *out is zeroed and arena memory used so far is only
 * reclaimed by the next reset. Arena use is at most ~50 times len whatever
 * counts the body claims.
 */
int bm_metric_batch_decode(const void *body, size_t len, struct bm_metric_batch *out,
			   struct bm_arena *arena);

/* ---------------------------------------------------------------------
 * Low-rate topics (self-describing msgpack maps with short string keys).
 *
 * Every topic has the same pair of calls, with the ownership rules of the
 * metric pair above:
 *
 *   int bm_T_encode(const struct bm_T_event *e, struct bm_buf *out);
 *	e is borrowed. BM_EINVAL when a field marked "required" is NULL, a
 *	kv/label entry has a NULL key or value, or an array is NULL with a
 *	non-zero count; BM_ENOMEM. out->len is 0 on error.
 *   int bm_T_decode(const void *body, size_t len, struct bm_T_event *out,
 *		     struct bm_arena *arena);
 *	Strings and arrays of *out live in arena. BM_EPROTO for malformed or
 *	wrongly typed data, trailing bytes, or a missing required field (an
 *	embedded struct with a required member, such as a series, is itself
 *	required); nil is accepted for any field and reads as absent. *out is
 *	zeroed on error. Arena use is at most ~50 times len.
 *
 * NULL strings and empty arrays are left out of the body; every number is
 * written. Numbers of double fields may arrive as integers or float32.
 * --------------------------------------------------------------------- */

/* anomaly: a sample an anomaly detector scored above its threshold. */
struct bm_anomaly_event {
	struct bm_series_ref series; /* required name */
	int64_t ts_ms;     /* time of the scored sample */
	int64_t start_ms;  /* first sample of the current anomalous run
			    * (== ts_ms for an isolated point) */
	double value;      /* the sample's value, unit of the series */
	double score;      /* anomaly score in [0, 1] */
	double threshold;  /* score threshold in force, [0, 1] */
	double expected;   /* expected value at ts_ms, unit of the series */
	double lower;      /* band of normal values at ts_ms, unit of the series */
	double upper;
	const char *detector; /* required: detector plugin, e.g. "ewma_mad" */
	const char *reason;   /* optional human text */
};

/* trend: a fitted trend of one series over one window. */
struct bm_trend_event {
	struct bm_series_ref series; /* required name */
	int64_t ts_ms;      /* end of the window (evaluation time) */
	int64_t window_ms;  /* window length */
	int64_t n_samples;  /* samples in the window */
	double slope_per_s; /* robust slope, series unit per second */
	double intercept;   /* fitted value at ts_ms, unit of the series */
	double rel_change;  /* fitted change over the window relative to the
			     * fitted start; NaN when the start is 0 */
	enum bm_trend_direction direction;
	double statistic;   /* test statistic, e.g. Kendall's tau in [-1, 1] */
	double p_value;     /* significance of the trend, [0, 1] */
	const char *method; /* slope estimator: "theil_sen", "ols" */
	const char *test;   /* significance test: "mann_kendall" */
};

/* Direction in which a forecast crosses its threshold. */
enum bm_cross {
	BM_CROSS_ABOVE = 0, /* e.g. disk usage rising past a limit */
	BM_CROSS_BELOW = 1, /* e.g. available bytes falling under a floor */
};

/* One predicted point with its prediction interval. */
struct bm_forecast_point {
	int64_t ts_ms;
	double yhat;  /* point forecast, unit of the series */
	double lower; /* prediction interval at interval_level */
	double upper;
};

/* forecast: a model's prediction of one series. */
struct bm_forecast_event {
	struct bm_series_ref series; /* required name */
	int64_t ts_ms;          /* last observed sample the forecast starts from */
	const char *model;      /* required: "naive", "seasonal_naive", "linear",
				 * "holt_winters" */
	int64_t horizon_ms;     /* how far ahead the points reach */
	int64_t step_ms;        /* spacing of the points */
	int64_t season_ms;      /* detected seasonal period; 0 when none */
	double interval_level;  /* coverage of lower..upper, e.g. 0.95 */
	double confidence;      /* trust in this model now, [0, 1] */
	double error_mase;      /* rolling out-of-sample MASE of the model */
	enum bm_trend_direction trend; /* trend label over the horizon */
	double anomaly_risk;    /* chance of an anomaly within the horizon, [0, 1] */
	bool has_threshold;     /* the three fields below are meaningful */
	double threshold;       /* configured limit, unit of the series */
	enum bm_cross cross;    /* which crossing counts */
	int64_t time_to_threshold_ms; /* from ts_ms until the forecast crosses
				       * the threshold; -1 when not within the
				       * horizon, 0 when already past it */
	const struct bm_forecast_point *points; /* ascending ts_ms */
	size_t n_points;
};

enum bm_corr_method {
	BM_CORR_PEARSON = 0,
	BM_CORR_SPEARMAN = 1,
	BM_CORR_KENDALL = 2,
};

/* correlation: two series that move together over a window. */
struct bm_correlation_event {
	struct bm_series_ref a; /* required name */
	struct bm_series_ref b; /* required name */
	int64_t ts_ms;          /* end of the window */
	int64_t window_ms;
	enum bm_corr_method method;
	double coefficient;     /* [-1, 1] */
	int64_t lag_ms;         /* b follows a by lag_ms (a leads when > 0,
				 * b leads when < 0); 0 when simultaneous */
	double p_value;         /* [0, 1]; NaN when not computed */
	int64_t n_samples;      /* pairs used */
};

/* Resource kinds of the USE method plus the two application layers. */
enum bm_bottleneck_kind {
	BM_BN_UTILISATION = 0,
	BM_BN_SATURATION = 1,
	BM_BN_ERRORS = 2,
	BM_BN_COORDINATION = 3, /* agents waiting on each other */
	BM_BN_INFERENCE = 4,    /* model serving: GPU, queue, KV cache */
};

/* bottleneck: a resource that limits the system, with its evidence. */
struct bm_bottleneck_event {
	int64_t ts_ms;          /* detection time */
	int64_t since_ms;       /* first detection of this finding */
	const char *id;         /* stable id of the finding (same resource and
				 * kind = same id), so updates link up */
	const char *resource;   /* required: "cpu", "memory", "disk:sda",
				 * "net:eth0", "gpu:0", "agent:planner-1" */
	enum bm_bottleneck_kind kind;
	enum bm_severity severity;
	double impact;          /* ranking score, [0, 1] */
	double confidence;      /* [0, 1] */
	const char *summary;    /* one line for people */
	const char *recommendation; /* what to do, for people */
	const struct bm_label *labels; /* identify the resource (device, agent) */
	uint32_t n_labels;
	const struct bm_evidence *evidence;
	size_t n_evidence;
};

/* insight: a finding worth telling a person, in words. */
struct bm_insight_event {
	int64_t ts_ms;
	const char *id;        /* stable id, for de-duplication */
	const char *title;     /* required, one line */
	const char *text;      /* body */
	enum bm_severity severity;
	const char *category;  /* "bottleneck", "capacity", "trend", "anomaly", ... */
	const char *source;    /* producing analyzer instance */
	const struct bm_series_ref *related; /* series the insight is about */
	size_t n_related;
};

enum bm_health_status {
	BM_HEALTH_OK = 0,
	BM_HEALTH_DEGRADED = 1,
	BM_HEALTH_CRITICAL = 2,
	BM_HEALTH_UNKNOWN = 3, /* not enough data */
};

/* What lowered a health score. */
struct bm_health_reason {
	const char *text;   /* required, for people */
	double penalty;     /* points taken off the score, 0..100 */
	struct bm_series_ref series; /* the series behind it; name NULL if none */
};

/* health: score of one component (or "overall"). */
struct bm_health_event {
	int64_t ts_ms;
	const char *component; /* required: "overall", "cpu", "memory", "disk",
				* "network", "agent:<id>", ... */
	double score;          /* 0 (down) .. 100 (fully healthy) */
	enum bm_health_status status;
	const struct bm_health_reason *reasons; /* largest penalty first */
	size_t n_reasons;
};

enum bm_alert_state {
	BM_ALERT_PENDING = 0, /* condition true, `for` not yet elapsed */
	BM_ALERT_FIRING = 1,
	BM_ALERT_RESOLVED = 2,
};

/* Acknowledgement of an alert instance; by == NULL when not acknowledged. */
struct bm_alert_ack {
	const char *by;       /* who: "user:alice", "token:admin" */
	int64_t at_ms;        /* when */
	int64_t expires_ms;   /* 0 = until the alert resolves */
	const char *comment;
};

/* alert: one state transition (or re-notification) of one alert instance. */
struct bm_alert_event {
	int64_t ts_ms;            /* evaluation that produced this event */
	const char *rule_id;      /* required */
	const char *rule_name;    /* becomes the `alertname` label */
	const char *fingerprint;  /* required: instance id, hex hash of rule id
				   * and the series' label set */
	enum bm_alert_state state;
	enum bm_severity severity;
	const struct bm_label *labels; /* full label set incl. alertname and
					* severity, sorted by name */
	uint32_t n_labels;
	const struct bm_kv *annotations; /* templated: summary, description,
					  * runbook_url, ... */
	size_t n_annotations;
	double value;             /* value of the condition at ts_ms */
	double threshold;         /* threshold it was compared with; NaN if none */
	int64_t active_since_ms;  /* condition became true (Prometheus activeAt) */
	int64_t fired_at_ms;      /* became firing; 0 while pending */
	int64_t resolved_at_ms;   /* 0 unless resolved */
	int64_t keep_firing_since_ms; /* condition cleared but kept firing by
				       * keep_firing_for; 0 otherwise */
	bool flapping;            /* held by flap detection */
	bool silenced;
	const char *silence_id;   /* silence that matched; NULL when none */
	const char *generator_url; /* link to the rule or series, for people */
	const char *const *notifiers; /* notifier instances it is routed to */
	size_t n_notifiers;
	struct bm_alert_ack ack;
};

enum bm_notify_outcome {
	BM_NOTIFY_OK = 0,
	BM_NOTIFY_FAILED = 1,   /* given up */
	BM_NOTIFY_RETRYING = 2, /* failed, will retry at next_retry_ms */
	BM_NOTIFY_DROPPED = 3,  /* queue full or too old, never delivered */
};

/* notification: one delivery attempt of a notifier, and its outcome. */
struct bm_notification_event {
	int64_t ts_ms;            /* end of the attempt */
	const char *notifier;     /* required: notifier instance, "webhook:ops" */
	const char *receiver;     /* URL without credentials, address, command */
	const char *group_key;    /* grouping key when alerts were grouped */
	const char *const *fingerprints; /* alert instances in this notification */
	size_t n_fingerprints;
	enum bm_alert_state alert_state; /* state being announced */
	uint32_t attempt;         /* 1 for the first attempt */
	enum bm_notify_outcome outcome;
	int64_t latency_ms;       /* duration of the attempt */
	int64_t next_retry_ms;    /* BM_NOTIFY_RETRYING: next attempt; else 0 */
	int64_t status_code;      /* HTTP status, SMTP reply or exit code; 0 n/a */
	const char *error;        /* NULL on success */
};

/* candidate: an action a dimension optimizer proposes. */
struct bm_candidate_event {
	int64_t ts_ms;
	int64_t expires_ms;      /* stale after this; 0 = next cycle only */
	const char *id;          /* required, unique per optimizer */
	const char *optimizer;   /* required: proposing plugin instance */
	const char *dimension;   /* "performance", "resource_efficiency", "cost",
				  * "quality", "reliability", "scalability" */
	struct bm_action_spec action; /* action.actuator required */
	const struct bm_impact *impact; /* declared expected impact */
	size_t n_impact;
	double benefit;          /* declared benefit, [0, 1] */
	double risk;             /* declared risk, [0, 1] */
	double confidence;       /* [0, 1] */
	const char *rollback;    /* how it is undone, for people */
	const char *reason;      /* why, for people */
	const struct bm_evidence *evidence;
	size_t n_evidence;
};

enum bm_opt_mode {
	BM_MODE_RECOMMEND = 0, /* publish only (default) */
	BM_MODE_DRY_RUN = 1,   /* log what would be done */
	BM_MODE_EXECUTE = 2,
};

/* One step of a plan: a candidate and the action it carries (copied, so a
 * consumer needs no earlier candidate events). */
struct bm_plan_step {
	const char *candidate_id; /* required */
	struct bm_action_spec action;
};

/* recommendation: a scored execution plan. */
struct bm_recommendation_event {
	int64_t ts_ms;
	const char *id;          /* required: plan id */
	const char *strategy;    /* "reactive", "proactive", "predictive", ... */
	enum bm_opt_mode mode;
	bool approved;           /* passed the approval gate */
	double score;            /* objective score of the plan */
	double benefit;          /* simulated benefit, [0, 1] */
	double risk;             /* simulated risk, [0, 1] */
	double uncertainty;      /* standard deviation of benefit */
	const char *why;         /* evidence, simulated impact, objectives */
	const struct bm_plan_step *steps; /* in execution order */
	size_t n_steps;
	const struct bm_impact *impact;  /* simulated impact of the whole plan */
	size_t n_impact;
	int64_t expires_ms;      /* 0 = until the next cycle */
};

enum bm_action_state {
	BM_ACTION_PLANNED = 0,
	BM_ACTION_EXECUTED = 1,
	BM_ACTION_ROLLED_BACK = 2,
	BM_ACTION_FAILED = 3,
};

/* action: a step of a plan as it goes through the executor. */
struct bm_action_event {
	int64_t ts_ms;
	const char *id;           /* required */
	const char *plan_id;
	const char *candidate_id;
	enum bm_action_state state;
	bool dry_run;             /* nothing was changed */
	struct bm_action_spec action; /* action.actuator required */
	const struct bm_kv *before; /* values read before the change, in the
				     * actuator's unit: writing them back undoes it */
	size_t n_before;
	const struct bm_kv *after;  /* values after the change */
	size_t n_after;
	const struct bm_impact *measured; /* effect measured over the watch window */
	size_t n_measured;
	const char *approved_by;  /* "gate:auto", "user:alice" */
	const char *reason;       /* why this state (rollback cause, ...) */
	const char *error;        /* BM_ACTION_FAILED: what failed */
};

enum bm_agent_event_kind {
	BM_AGENT_HELLO = 0,    /* an agent said hello */
	BM_AGENT_STATE = 1,    /* its state changed */
	BM_AGENT_REGISTRY = 2, /* registry entry updated (periodic, or on change) */
};

enum bm_agent_state {
	BM_AGENT_CONNECTED = 0,
	BM_AGENT_DISCONNECTED = 1,
	BM_AGENT_STALE = 2, /* connected but heartbeats missing */
};

/* agent: a registry update about one agent. */
struct bm_agent_event {
	int64_t ts_ms;
	enum bm_agent_event_kind kind;
	const char *agent_id;     /* required */
	const char *type;         /* agent type, e.g. "planner", "vllm" */
	int64_t pid;              /* 0 when unknown (remote) */
	const char *version;      /* agent's own version */
	int64_t protocol;         /* native protocol version from the hello */
	enum bm_agent_state state;
	int64_t first_seen_ms;
	int64_t last_seen_ms;
	const char *peer;         /* "unix", "tcp:10.0.0.5:40312" */
	const char *const *capabilities; /* commands it accepts */
	size_t n_capabilities;
	const struct bm_label *labels; /* extra labels it declared, sorted */
	uint32_t n_labels;
};

/* agent.command: bearmon asks an agent to do something. */
struct bm_agent_command_event {
	int64_t ts_ms;           /* issue time */
	const char *command_id;  /* required, unique */
	const char *agent_id;    /* required */
	const char *name;        /* required, e.g. "set_batch_size" */
	const struct bm_kv *args;
	size_t n_args;
	int64_t deadline_ms;     /* absolute: no ack by then = timed out */
	const char *action_id;   /* optimizer action it carries out, or NULL */
};

/* agent.ack: the agent's answer to a command. */
struct bm_agent_ack_event {
	int64_t ts_ms;           /* receive time */
	const char *command_id;  /* required */
	const char *agent_id;    /* required */
	bool ok;
	const char *detail;      /* error or result text */
	const struct bm_kv *result; /* e.g. the previous value, for rollback */
	size_t n_result;
};

/* The typed pairs; their rules are under "Low-rate topics" above. */
int bm_anomaly_encode(const struct bm_anomaly_event *e, struct bm_buf *out);
int bm_anomaly_decode(const void *body, size_t len, struct bm_anomaly_event *out,
		      struct bm_arena *arena);
int bm_trend_encode(const struct bm_trend_event *e, struct bm_buf *out);
int bm_trend_decode(const void *body, size_t len, struct bm_trend_event *out,
		    struct bm_arena *arena);
int bm_forecast_encode(const struct bm_forecast_event *e, struct bm_buf *out);
int bm_forecast_decode(const void *body, size_t len, struct bm_forecast_event *out,
		       struct bm_arena *arena);
int bm_correlation_encode(const struct bm_correlation_event *e, struct bm_buf *out);
int bm_correlation_decode(const void *body, size_t len, struct bm_correlation_event *out,
			  struct bm_arena *arena);
int bm_bottleneck_encode(const struct bm_bottleneck_event *e, struct bm_buf *out);
int bm_bottleneck_decode(const void *body, size_t len, struct bm_bottleneck_event *out,
			 struct bm_arena *arena);
int bm_insight_encode(const struct bm_insight_event *e, struct bm_buf *out);
int bm_insight_decode(const void *body, size_t len, struct bm_insight_event *out,
		      struct bm_arena *arena);
int bm_health_encode(const struct bm_health_event *e, struct bm_buf *out);
int bm_health_decode(const void *body, size_t len, struct bm_health_event *out,
		     struct bm_arena *arena);
int bm_alert_encode(const struct bm_alert_event *e, struct bm_buf *out);
int bm_alert_decode(const void *body, size_t len, struct bm_alert_event *out,
		    struct bm_arena *arena);
int bm_notification_encode(const struct bm_notification_event *e, struct bm_buf *out);
int bm_notification_decode(const void *body, size_t len, struct bm_notification_event *out,
			   struct bm_arena *arena);
int bm_candidate_encode(const struct bm_candidate_event *e, struct bm_buf *out);
int bm_candidate_decode(const void *body, size_t len, struct bm_candidate_event *out,
			struct bm_arena *arena);
int bm_recommendation_encode(const struct bm_recommendation_event *e, struct bm_buf *out);
int bm_recommendation_decode(const void *body, size_t len, struct bm_recommendation_event *out,
			     struct bm_arena *arena);
int bm_action_encode(const struct bm_action_event *e, struct bm_buf *out);
int bm_action_decode(const void *body, size_t len, struct bm_action_event *out,
		     struct bm_arena *arena);
int bm_agent_encode(const struct bm_agent_event *e, struct bm_buf *out);
int bm_agent_decode(const void *body, size_t len, struct bm_agent_event *out,
		    struct bm_arena *arena);
int bm_agent_command_encode(const struct bm_agent_command_event *e, struct bm_buf *out);
int bm_agent_command_decode(const void *body, size_t len, struct bm_agent_command_event *out,
			    struct bm_arena *arena);
int bm_agent_ack_encode(const struct bm_agent_ack_event *e, struct bm_buf *out);
int bm_agent_ack_decode(const void *body, size_t len, struct bm_agent_ack_event *out,
			struct bm_arena *arena);

/*
 * Append the body of a standard event (any topic but `metric`) to out as
 * one JSON object (since ABI 1.2): keys are the member names of the
 * topic's struct above (`ts_ms`, `series`, `score`, ...), enums are their
 * names in lower case ("firing", "warning", "increasing"), NaN and
 * infinities are null, absent and unknown fields are left out, and
 * invalid UTF-8 reads as U+FFFD. out is not reset first. BM_EINVAL for
 * `metric` or an unknown topic, BM_EPROTO for a malformed body (out is
 * left as it was), BM_ENOMEM.
 */
int bm_event_to_json(const char *topic, const void *body, size_t len, struct bm_buf *out);
/* True for the standard topics that bm_event_to_json renders (every
 * BM_TOPIC_* but `metric`), since ABI 1.2. */
bool bm_event_is_standard(const char *topic);


#ifdef __cplusplus
}
#endif
#endif /* BEARMON_BM_EVENT_H */
