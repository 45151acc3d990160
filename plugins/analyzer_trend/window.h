/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trend windows: a ring of time buckets (bucket means, so that a 24 h
 * window of 1 s data is a few hundred points) and the fit over them
 * (Theil-Sen slope, Mann-Kendall significance, direction).
 */
#ifndef BEARMON_ANALYZER_TREND_WINDOW_H
#define BEARMON_ANALYZER_TREND_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

/* Mean of the samples whose time falls in one bucket. 24 bytes. */
struct tw_bucket {
	double mean_y;
	uint32_t k;      /* bucket number (ts / width) modulo 2^32 */
	uint32_t n;      /* samples merged; 0 = empty */
	float mean_dt;   /* mean sample time within the bucket, ms from its start */
};

struct tw_window {
	int64_t length_ms;
	int64_t width_ms; /* length / n_buckets */
	uint32_t n_buckets;
	struct tw_bucket *b; /* n_buckets, owned by the caller */
};

/* b: n_buckets zeroed buckets. */
void tw_init(struct tw_window *w, int64_t length_ms, uint32_t n_buckets, struct tw_bucket *b);
/* Merge value v at ts_ms with weight n (samples it stands for). */
void tw_add(struct tw_window *w, int64_t ts_ms, double v, uint32_t n);
/*
 * The buckets of (now_ms - length, now_ms] with data, oldest first: x in
 * seconds relative to now_ms (<= 0, the mean sample time of the bucket),
 * y the bucket mean. x and y hold n_buckets. Returns the count.
 */
size_t tw_points(const struct tw_window *w, int64_t now_ms, double *x, double *y);

/* When a fit says "increasing" or "decreasing". */
struct trend_rules {
	double alpha;          /* Mann-Kendall p below this is significant */
	double min_rel_change; /* and the fitted change over the window must
				* reach this fraction of the larger of the
				* fitted start and end values (absolute) */
	double min_coverage;   /* points must span this fraction of the window */
	size_t min_points;     /* fewer points: no fit */
};

struct trend_fit {
	size_t n;
	double slope_per_s;
	double intercept;  /* fitted value at x = 0 (the evaluation time) */
	double rel_change; /* fitted change over the window / |fitted start|;
			    * NaN when the start is 0 */
	double tau;
	double p_value;
	enum bm_trend_direction direction;
};

/* Scratch doubles trend_fit needs for up to n points. */
size_t trend_fit_scratch(size_t n);
/*
 * Fit n points (x ascending, seconds) of a window of window_s seconds
 * whose buckets are width_s wide. False when there are too few points or
 * they cover too little of the window (or every x is equal).
 */
bool trend_fit(const double *x, const double *y, size_t n, double window_s, double width_s,
	       const struct trend_rules *r, double *scratch, struct trend_fit *out);

/* "increasing", "decreasing", "stable". */
const char *trend_direction_name(enum bm_trend_direction d);

#endif /* BEARMON_ANALYZER_TREND_WINDOW_H */
