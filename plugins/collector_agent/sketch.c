/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Log-linear histogram (sketch.h). Bucket of v > 0 with v = m * 2^e,
 * m in [0.5, 1): e * 2^SK_SUB_BITS + floor((m - 0.5) * 2^(SK_SUB_BITS+1)),
 * i.e. each power of two split into 32 equal parts, as HdrHistogram does;
 * chosen over DDSketch's pure logarithmic buckets because the index needs
 * only frexp, no log(), on the I/O thread's hot path.
 */
#include "sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_err.h>

#define SK_SUB (1 << SK_SUB_BITS)

static int32_t bucket_of(double v)
{
	int e;
	double m = frexp(v, &e);
	return (int32_t)e * SK_SUB + (int32_t)((m - 0.5) * 2 * SK_SUB);
}

/* Middle of bucket i: within half a bucket width of every value in it. */
static double bucket_mid(int32_t i)
{
	int32_t e = i >= 0 ? i / SK_SUB : -((-i + SK_SUB - 1) / SK_SUB);
	int32_t sub = i - e * SK_SUB;
	double lower = ldexp(0.5 + (double)sub / (2 * SK_SUB), e);
	return lower + ldexp(1.0 / (4 * SK_SUB), e);
}

/* Make buckets [lo, hi] addressable, keeping the counts. */
static int cover(struct sketch *s, int32_t lo, int32_t hi)
{
	if (s->n) {
		lo = lo < s->lo ? lo : s->lo;
		hi = hi > s->lo + (int32_t)s->n - 1 ? hi : s->lo + (int32_t)s->n - 1;
	}
	uint32_t need = (uint32_t)(hi - lo + 1);
	if (s->n && lo == s->lo && need <= s->n)
		return 0;
	if (need > s->cap || (s->n && lo != s->lo)) {
		uint32_t cap = s->cap > need ? s->cap : need + need / 2 + 8;
		uint32_t *c = calloc(cap, sizeof(*c));
		if (!c)
			return BM_ENOMEM;
		if (s->n)
			memcpy(c + (s->lo - lo), s->counts, s->n * sizeof(*c));
		free(s->counts);
		s->counts = c;
		s->cap = cap;
	}
	s->lo = lo;
	s->n = need;
	return 0;
}

int sk_add(struct sketch *s, double v)
{
	v = v > SK_MAX ? SK_MAX : v;
	if (!(v >= SK_MIN)) { /* also NaN and negatives, which callers refuse before */
		s->zeros++;
		v = 0;
	} else {
		int32_t i = bucket_of(v);
		if (cover(s, i, i))
			return BM_ENOMEM;
		s->counts[i - s->lo]++;
	}
	if (!s->total || v < s->min)
		s->min = v;
	if (!s->total || v > s->max)
		s->max = v;
	s->total++;
	return 0;
}

int sk_merge(struct sketch *dst, const struct sketch *src)
{
	if (!src->total)
		return 0;
	if (src->n && cover(dst, src->lo, src->lo + (int32_t)src->n - 1))
		return BM_ENOMEM;
	for (uint32_t i = 0; i < src->n; i++)
		dst->counts[src->lo - dst->lo + (int32_t)i] += src->counts[i];
	if (!dst->total || src->min < dst->min)
		dst->min = src->min;
	if (!dst->total || src->max > dst->max)
		dst->max = src->max;
	dst->zeros += src->zeros;
	dst->total += src->total;
	return 0;
}

double sk_quantile(const struct sketch *s, double q)
{
	if (!s->total)
		return NAN;
	q = q < 0 ? 0 : q > 1 ? 1 : q;
	uint64_t rank = (uint64_t)ceil(q * (double)s->total); /* 1-based */
	rank = rank ? rank : 1;
	if (rank <= s->zeros)
		return 0;
	uint64_t seen = s->zeros;
	for (uint32_t i = 0; i < s->n; i++) {
		seen += s->counts[i];
		if (seen >= rank) {
			double v = bucket_mid(s->lo + (int32_t)i);
			return v < s->min ? s->min : v > s->max ? s->max : v;
		}
	}
	return s->max;
}

void sk_reset(struct sketch *s)
{
	if (s->counts)
		memset(s->counts, 0, s->cap * sizeof(*s->counts));
	s->n = 0;
	s->zeros = s->total = 0;
	s->min = s->max = 0;
}

void sk_free(struct sketch *s)
{
	free(s->counts);
	memset(s, 0, sizeof(*s));
}
