/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DDSketch (see sketch.h). Why this one: StatsD needs percentiles per flush
 * interval from millions of values a second, merged across receiver
 * threads. DDSketch bounds the relative error of every quantile (1% here),
 * which suits latencies spanning decades better than the rank error of
 * t-digest or GK, merges exactly by adding bins, and adds a value in a few
 * nanoseconds with no allocation once its range is known. HDR histograms
 * give the same guarantee but need the value range fixed up front.
 * Hand-written: Debian packages no C DDSketch or HDR library.
 *
 * The bin of x > 0 is floor(L(x) * M) where L is log2 interpolated
 * linearly between powers of two (x = 2^e (1 + m) -> e + m, read straight
 * from the float's bits, no log() call). L' lies in [ln 2, 2 ln 2] per
 * unit of log2 x, so with M = 1 / ln(gamma) every bin spans a ratio of at
 * most gamma = (1 + a) / (1 - a); returning 2 lo hi / (lo + hi) for a bin
 * [lo, hi] is then within a = 1% of every value in it. That costs 44% more
 * bins than exact log(), as the DDSketch paper's LinearlyInterpolatedMapping.
 */
#define _GNU_SOURCE
#include "sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* floor(L(x) * M) for a normal x > 0. */
static int32_t bin_of(double x)
{
	uint64_t b;
	memcpy(&b, &x, sizeof(b));
	int e = (int)((b >> 52) & 0x7ff) - 1023;
	double m = (double)(b & 0xfffffffffffffULL) * 0x1p-52;
	double t = ((double)e + m) * SKETCH_MULT;
	int32_t i = (int32_t)t;
	return i > t ? i - 1 : i; /* floor for negatives */
}

/* L^-1(l): the x with L(x) = l. */
static double unlog(double l)
{
	double e = floor(l);
	return ldexp(1.0 + (l - e), (int)e);
}

/* The value a bin stands for: within the relative accuracy of [lo, hi]. */
static double bin_value(int32_t i)
{
	double lo = unlog((double)i / SKETCH_MULT);
	double hi = unlog((double)(i + 1) / SKETCH_MULT);
	return 2.0 * lo * hi / (lo + hi);
}

static int store_reserve(struct sketch_store *st, uint32_t n)
{
	if (n <= st->cap)
		return 0;
	uint32_t c = st->cap ? st->cap : 16;
	while (c < n)
		c *= 2;
	if (c > SKETCH_MAX_BINS)
		c = SKETCH_MAX_BINS;
	double *b = realloc(st->bins, c * sizeof(*b));
	if (!b)
		return -1;
	st->bins = b;
	st->cap = c;
	return 0;
}

/* Grow the window down to include bin i, at most to SKETCH_MAX_BINS; a bin
 * still below lands in the lowest one. */
static int extend_down(struct sketch_store *st, int32_t i)
{
	int64_t want = (int64_t)st->lo + st->n - i;
	uint32_t n2 = want > SKETCH_MAX_BINS ? SKETCH_MAX_BINS : (uint32_t)want;
	uint32_t add = n2 - st->n;
	if (!add)
		return 0;
	if (store_reserve(st, n2))
		return -1;
	memmove(st->bins + add, st->bins, st->n * sizeof(*st->bins));
	memset(st->bins, 0, add * sizeof(*st->bins));
	st->lo -= (int32_t)add;
	st->n = n2;
	return 0;
}

/* Grow the window up to include bin i; past SKETCH_MAX_BINS the lowest
 * bins are merged into the lowest one that stays. */
static int extend_up(struct sketch_store *st, int32_t i)
{
	int64_t want = (int64_t)i - st->lo + 1;
	if (want > SKETCH_MAX_BINS) {
		int64_t drop = want - SKETCH_MAX_BINS;
		if (store_reserve(st, SKETCH_MAX_BINS))
			return -1;
		if (drop >= st->n) {
			double total = 0;
			for (uint32_t k = 0; k < st->n; k++)
				total += st->bins[k];
			st->bins[0] = total;
			st->n = 1;
		} else {
			for (int64_t k = 0; k < drop; k++)
				st->bins[drop] += st->bins[k];
			memmove(st->bins, st->bins + drop, (st->n - (size_t)drop) * sizeof(*st->bins));
			st->n -= (uint32_t)drop;
		}
		st->lo = i - SKETCH_MAX_BINS + 1;
		want = SKETCH_MAX_BINS;
	}
	if (store_reserve(st, (uint32_t)want))
		return -1;
	memset(st->bins + st->n, 0, ((size_t)want - st->n) * sizeof(*st->bins));
	st->n = (uint32_t)want;
	return 0;
}

static int store_add(struct sketch_store *st, int32_t i, double w)
{
	if (!st->n) {
		if (store_reserve(st, 1))
			return -1;
		st->lo = i;
		st->n = 1;
		st->bins[0] = 0;
	} else if (i < st->lo) {
		if (extend_down(st, i))
			return -1;
	} else if (i >= st->lo + (int64_t)st->n) {
		if (extend_up(st, i))
			return -1;
	}
	st->bins[i < st->lo ? 0 : i - st->lo] += w;
	return 0;
}

int sketch_add(struct sketch *s, double v, double w)
{
	if (s->count <= 0) {
		s->min = s->max = v;
	} else {
		s->min = v < s->min ? v : s->min;
		s->max = v > s->max ? v : s->max;
	}
	s->count += w;
	s->sum += v * w;
	if (v >= SKETCH_MIN_VALUE)
		return store_add(&s->pos, bin_of(v), w);
	if (v <= -SKETCH_MIN_VALUE)
		return store_add(&s->neg, bin_of(-v), w);
	s->zero += w;
	return 0;
}

static int store_merge(struct sketch_store *dst, const struct sketch_store *src)
{
	int rc = 0;
	for (uint32_t k = 0; k < src->n; k++)
		if (src->bins[k] != 0 && store_add(dst, src->lo + (int32_t)k, src->bins[k]))
			rc = -1;
	return rc;
}

int sketch_merge(struct sketch *dst, const struct sketch *src)
{
	if (src->count <= 0)
		return 0;
	if (dst->count <= 0) {
		dst->min = src->min;
		dst->max = src->max;
	} else {
		dst->min = src->min < dst->min ? src->min : dst->min;
		dst->max = src->max > dst->max ? src->max : dst->max;
	}
	dst->count += src->count;
	dst->sum += src->sum;
	dst->zero += src->zero;
	int a = store_merge(&dst->pos, &src->pos);
	int b = store_merge(&dst->neg, &src->neg);
	return a || b ? -1 : 0;
}

static double store_total(const struct sketch_store *st)
{
	double t = 0;
	for (uint32_t k = 0; k < st->n; k++)
		t += st->bins[k];
	return t;
}

static double clamp(const struct sketch *s, double v)
{
	return v < s->min ? s->min : v > s->max ? s->max : v;
}

/* The value of rank `rank` (0-based, weighted): negatives from the most
 * negative up, then zero, then positives. */
double sketch_quantile(const struct sketch *s, double q)
{
	double total = store_total(&s->neg) + s->zero + store_total(&s->pos);
	if (s->count <= 0 || total <= 0)
		return NAN;
	if (q <= 0)
		return s->min;
	if (q >= 1)
		return s->max;
	double rank = q * (total - 1);
	double cum = 0;
	for (uint32_t k = s->neg.n; k-- > 0;) {
		cum += s->neg.bins[k];
		if (cum > rank)
			return clamp(s, -bin_value(s->neg.lo + (int32_t)k));
	}
	cum += s->zero;
	if (cum > rank)
		return clamp(s, 0.0);
	for (uint32_t k = 0; k < s->pos.n; k++) {
		cum += s->pos.bins[k];
		if (cum > rank)
			return clamp(s, bin_value(s->pos.lo + (int32_t)k));
	}
	return s->max;
}

void sketch_clear(struct sketch *s)
{
	s->pos.n = s->neg.n = 0;
	s->zero = s->count = s->sum = 0;
	s->min = s->max = 0;
}

void sketch_free(struct sketch *s)
{
	free(s->pos.bins);
	free(s->neg.bins);
	memset(s, 0, sizeof(*s));
}
