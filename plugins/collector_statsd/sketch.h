/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quantile sketch for StatsD timers and distributions: DDSketch (Masson,
 * Rim, Lee, VLDB 2019) with 1% relative accuracy, mergeable, with exact
 * count, sum, min and max beside it.
 */
#ifndef BEARMON_STATSD_SKETCH_H
#define BEARMON_STATSD_SKETCH_H

#include <stdint.h>

/* Every quantile is within this relative error of a value of the data
 * (for |v| >= SKETCH_MIN_VALUE and within the SKETCH_MAX_BINS range). */
#define SKETCH_RELATIVE_ACCURACY 0.01
/* Bins per unit of interpolated log2 (sketch.c): 1 / ln((1 + a) / (1 - a))
 * for a = SKETCH_RELATIVE_ACCURACY (the unit test checks the figure). */
#define SKETCH_MULT 49.99833328888678
/* Smaller magnitudes count as zero. */
#define SKETCH_MIN_VALUE 1e-9
/* Bins per sign: 1% accuracy over about 6 decades (20 doublings); past
 * that the lowest bins are merged, which only blurs the lowest quantiles. */
#define SKETCH_MAX_BINS 1024

/* Contiguous bins; bins[i] counts bin index lo + i. */
struct sketch_store {
	double *bins;
	int32_t lo;
	uint32_t n, cap;
};

/* A zeroed struct is an empty sketch. Not thread safe. */
struct sketch {
	struct sketch_store pos, neg;
	double zero;       /* weight of values with |v| < SKETCH_MIN_VALUE */
	double count, sum; /* weighted */
	double min, max;   /* exact; valid while count > 0 */
};

/* Add v with weight w (1 / sample rate). 0, or -1 when out of memory (the
 * value is then counted in count/sum/min/max but not in the bins). */
int sketch_add(struct sketch *s, double v, double w);
/* dst += src. 0 or -1 as above. */
int sketch_merge(struct sketch *dst, const struct sketch *src);
/* The q-quantile (0 <= q <= 1), clamped to [min, max]; NaN when empty. */
double sketch_quantile(const struct sketch *s, double q);
/* Empty it, keeping the memory for the next interval. */
void sketch_clear(struct sketch *s);
void sketch_free(struct sketch *s);

#endif /* BEARMON_STATSD_SKETCH_H */
