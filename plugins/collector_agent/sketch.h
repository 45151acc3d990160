/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small mergeable log-linear histogram (HDR-style buckets) for task
 * durations: quantiles with a bounded relative error, merged across the
 * slots of a sliding window and across the agents of one type.
 */
#ifndef BEARMON_AGENT_SKETCH_H
#define BEARMON_AGENT_SKETCH_H

#include <stdint.h>

/* 2^SK_SUB_BITS linear buckets per power of two: a reported quantile is
 * within 2^-(SK_SUB_BITS+1) = 1.6% of a value the sketch holds. */
#define SK_SUB_BITS 5
/* Values are clamped to [SK_MIN, SK_MAX] (in the caller's unit: ms here,
 * 1 us .. ~11.6 days) so that one absurd value cannot make a sketch
 * allocate thousands of empty buckets. Values below SK_MIN count as 0. */
#define SK_MIN 1e-3
#define SK_MAX 1e9

/* Zeroed = empty. Counts are dense between the lowest and highest bucket
 * seen, so a sketch of typical latencies holds about a hundred buckets. */
struct sketch {
	uint32_t *counts;
	int32_t lo;   /* bucket index of counts[0] */
	uint32_t n;   /* buckets in use from lo */
	uint32_t cap; /* allocated */
	uint64_t zeros;
	uint64_t total;
	double min, max; /* of the values added, after clamping */
};

/* Add v (>= 0, finite); 0 or BM_ENOMEM (the value is then not counted). */
int sk_add(struct sketch *s, double v);
/* dst += src; 0 or BM_ENOMEM. */
int sk_merge(struct sketch *dst, const struct sketch *src);
/* The q-quantile (0..1, nearest rank) of the values; NaN when empty. */
double sk_quantile(const struct sketch *s, double q);
/* Empty it, keep the memory. */
void sk_reset(struct sketch *s);
void sk_free(struct sketch *s);

#endif
