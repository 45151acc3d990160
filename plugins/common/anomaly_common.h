/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The skeleton every anomaly detector plugin shares (anomaly_ewma,
 * anomaly_hw, anomaly_ensemble): the common options, the series table
 * (analyzer_series.h), the repeat hold-off, anomalous runs and the
 * `anomaly` events. A detector supplies only its per-series model.
 */
#ifndef BEARMON_PLUGINS_ANOMALY_COMMON_H
#define BEARMON_PLUGINS_ANOMALY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_option.h>

#include "analyzer_series.h"

/* What a model says about one sample. */
struct anomaly_verdict {
	double score;    /* [0, 1], before the hold-off */
	double expected; /* expected value, unit of the series */
	double lower;    /* band of values the model would not flag at the */
	double upper;    /* configured threshold */
	const char *reason; /* static text: what made the score, or NULL */
};

/*
 * A detector's per-series model. Every call runs on the subscription's
 * delivery thread with the series table locked, one series at a time.
 */
struct anomaly_model {
	const char *detector; /* plugin name, reported in events */
	size_t state_size;    /* bytes of one series' model state */
	/* Set up the zeroed state of a new series; may allocate bounded
	 * buffers that release frees. 0 or BM_ENOMEM. NULL: zeroes suffice. */
	int (*init)(void *state, const void *conf);
	/* Free what init allocated (NULL when nothing). */
	void (*release)(void *state);
	/* Score a finite sample and learn from it. False while the model
	 * warms up (no score, no event). conf is the plugin's whole conf;
	 * threshold the configured one, which sets the band (out->lower,
	 * out->upper: the values that would score below it). */
	bool (*score)(void *state, const void *conf, double threshold, double v,
		      struct anomaly_verdict *out);
};

/* Options every detector has; each plugin embeds this struct in its conf
 * and lists ANOMALY_COMMON_OPTIONS in its option table. */
struct anomaly_common_conf {
	struct bm_strlist include; /* metric name patterns (bm_filter) */
	struct bm_strlist exclude;
	int64_t max_series;
	int counters;         /* enum as_counters */
	double threshold;     /* publish at score >= threshold */
	int64_t holdoff;      /* samples; see anomaly_holdoff() */
	int64_t idle_expiry_ms; /* forget series silent this long; 0 = never */
};

/* The option table entries of struct anomaly_common_conf, embedded as
 * member m of the plugin's conf type T, with the threshold, hold-off and
 * max_series defaults of the detector (as config text). */
#define ANOMALY_COMMON_OPTIONS(T, m, thr_def, holdoff_def, max_series_def)                       \
	BM_OPTION("include", BM_OPT_STRING_LIST, NULL, T, m.include,                             \
		  "metric names to analyse (anchored POSIX extended regexes; none: every name)"),   \
	BM_OPTION("exclude", BM_OPT_STRING_LIST, NULL, T, m.exclude,                             \
		  "metric names to leave out (anchored POSIX extended regexes)"),                   \
	BM_OPTION_BOUNDED("max_series", BM_OPT_INT, max_series_def, T, m.max_series, 1, 10000000,  \
			  "series analysed at once; samples of further series are dropped and counted"), \
	{.name = "counters", .type = BM_OPT_ENUM, .def = "rate", .enum_values = as_counters_names, \
	 .offset = offsetof(T, m.counters),                                                       \
	 .help = "counters (*_total, *_count, *_sum, *_bucket): rate (per-second rate), skip, raw"}, \
	BM_OPTION_BOUNDED("threshold", BM_OPT_DOUBLE, thr_def, T, m.threshold, 0, 1,              \
			  "publish an anomaly event when a sample scores at least this"),            \
	BM_OPTION_BOUNDED("holdoff", BM_OPT_INT, holdoff_def, T, m.holdoff, 0, 1000000,           \
			  "after a score, later scores of the series within this many samples count " \
			  "only when higher (0: off)"),                                               \
	BM_OPTION_BOUNDED("idle_expiry", BM_OPT_DURATION, "1h", T, m.idle_expiry_ms, 0,           \
			  31536000000.0, "forget a series without samples this long (0s: never)")

/* One plugin instance: what the hooks of every detector share. */
struct anomaly_plugin {
	struct bm_ctx *ctx;
	const struct anomaly_model *model;
	const void *conf;                        /* the plugin's conf */
	const struct anomaly_common_conf *common; /* inside conf */
	struct as_table table;
	struct bm_buf buf; /* event encoding (delivery thread) */
	struct bm_timer *sweep;
};

/* The init hook of a detector: conf is the plugin's conf and common
 * points into it. */
int anomaly_plugin_init(struct bm_ctx *ctx, const struct anomaly_model *model, const void *conf,
			const struct anomaly_common_conf *common, void **state,
			struct bm_err *err);
/* start, stop and fini hooks, the same for every detector. */
int anomaly_plugin_start(void *state, struct bm_err *err);
void anomaly_plugin_stop(void *state);
void anomaly_plugin_fini(void *state);

/*
 * The repeat hold-off, free of any threshold so that the daemon and a
 * replay (threshold 0) agree: a score counts when it is higher than the
 * last score that counted within the last holdoff samples; otherwise it
 * becomes 0. One anomaly then gives one detection instead of a burst.
 */
struct anomaly_holdoff {
	double peak;  /* last score that counted */
	uint32_t age; /* samples since */
};
double anomaly_holdoff(struct anomaly_holdoff *h, int64_t holdoff, double score);

/* Robust exponentially weighted mean and mean absolute deviation: a
 * sample further than clip deviations from the mean moves both as if it
 * were clip deviations away, so one spike cannot drag the baseline. */
struct robust_ewma {
	double mean;
	double mad; /* mean absolute deviation; sigma ~ 1.2533 * mad */
	uint64_t n;
};
/* The z-score of v against the state before v, then learn v. alpha is
 * the weight of a new sample (1/n while n < 1/alpha); z is 0 for the
 * first sample. */
double robust_ewma_update(struct robust_ewma *r, double v, double alpha, double clip);
/* sigma of the state, floored at 1e-6 * max(1, |mean|) so that a
 * constant series gives a large but finite z for its first change. */
double robust_ewma_sigma(const struct robust_ewma *r);

/* Score of a z-score: -log10 of its two-sided normal tail divided by
 * ANOMALY_Z_DECADES, saturating at 1 (z ~ 7.4). */
#define ANOMALY_Z_DECADES 12.0
double anomaly_z_score(double z);
/* The smallest |z| whose anomaly_z_score reaches score (for bands),
 * cached per series because the threshold rarely changes. */
struct anomaly_zband {
	double score;
	double z;
};
double anomaly_z_for_score(struct anomaly_zband *cache, double score);
/* The verdict of a z-score model: z's score, expected, and the band
 * expected -/+ sigma times the z that scores threshold. */
void anomaly_z_verdict(struct anomaly_verdict *out, struct anomaly_zband *cache, double threshold,
		       double z, double expected, double sigma);

#endif /* BEARMON_PLUGINS_ANOMALY_COMMON_H */
