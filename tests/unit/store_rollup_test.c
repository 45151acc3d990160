/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rollup tiers (core/store_rollup.c): buckets checked against a naive
 * computation from the raw samples, stored blocks round-tripped bit for bit
 * (every column kind: plain, equal to another column, increase against
 * last's rise), version 1 blocks from the first encoder still read, and
 * damaged blocks refused without crashing.
 */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bearmon/bm_err.h"
#include "rng.h"
#include "store_rollup.h"

#define T0 INT64_C(1795890300000)

/* A bucket as bit patterns: exact compares, and NaN payloads in tables. */
struct bits_bucket {
	int64_t start;
	uint64_t v[RC_N];
};

/* Collects decoded buckets. */
struct got {
	struct bucket b[4096];
	size_t n;
};

static void collect(void *u, const struct bucket *b)
{
	struct got *g = u;

	assert_true(g->n < sizeof(g->b) / sizeof(g->b[0]));
	g->b[g->n++] = *b;
}

/* Same start and bits; with any_nan, any NaN equals any other: the payload
 * and sign that arithmetic gives a NaN depend on which operand the
 * compiler puts first. */
static void assert_bucket(const struct bucket *a, const struct bucket *b, size_t i, bool any_nan)
{
	if (a->start != b->start)
		fail_msg("bucket %zu: start %lld, want %lld", i, (long long)a->start,
			 (long long)b->start);
	for (int c = 0; c < RC_N; c++)
		if (dbits(a->v[c]) != dbits(b->v[c]) &&
		    !(any_nan && isnan(a->v[c]) && isnan(b->v[c])))
			fail_msg("bucket %zu column %d: %016llx, want %016llx", i, c,
				 (unsigned long long)dbits(a->v[c]),
				 (unsigned long long)dbits(b->v[c]));
}

static void assert_same_bucket(const struct bucket *a, const struct bucket *b, size_t i)
{
	assert_bucket(a, b, i, false);
}

/* Encode b[0..n), decode it, require the same bits; returns the size.
 * With prefixes, every strict prefix of the blob must be refused. */
static size_t block_check(const struct bucket *b, uint32_t n, bool prefixes)
{
	static struct got g;
	uint8_t *blob, *copy;
	size_t len;

	assert_int_equal(rollup_block_encode(b, n, &blob, &len), 0);
	/* an exact-size copy, so that ASan sees any read past the end */
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, blob, len);
	free(blob);
	g.n = 0;
	assert_int_equal(rollup_block_decode(copy, len, collect, &g), 0);
	assert_int_equal(g.n, n);
	for (uint32_t i = 0; i < n; i++)
		assert_same_bucket(&g.b[i], &b[i], i);
	for (size_t cut = 0; prefixes && cut < len; cut++) {
		g.n = 0;
		assert_int_equal(rollup_block_decode(copy, cut, collect, &g), BM_EPROTO);
		assert_int_equal(g.n, 0); /* nothing is reported from a bad block */
	}
	free(copy);
	return len;
}

static size_t block_round_trip(const struct bucket *b, uint32_t n)
{
	return block_check(b, n, true);
}

/* ---- buckets against a naive computation ---- */

enum series_kind { K_COUNTER, K_GAUGE, K_CONSTANT, K_SPECIAL, K_NOISY, K_KINDS };

static double next_value(enum series_kind k, double prev, size_t i)
{
	static const uint64_t specials[] = {
	    0x7ff8000000000000ull, 0x8000000000000000ull, 0x7ff0000000000000ull,
	    0xfff0000000000000ull, 0x0000000000000001ull, 0x7fefffffffffffffull,
	};

	switch (k) {
	case K_COUNTER: /* 2 decimals, with a reset now and then */
		if (rnd_below(700) == 0)
			return (double)rnd_below(100) / 100;
		return round((prev + (double)rnd_below(300) / 100) * 100) / 100;
	case K_GAUGE:
		return (double)(int64_t)(rnd_below(1u << 20)) * 4096.0;
	case K_CONSTANT:
		return 42.5;
	case K_NOISY: /* any finite double: every column XOR */
		return bdouble(rnd() & ~(0x7ffull << 52)) * (1 + (double)rnd_below(1000));
	default:
		return rnd_below(3) ? (double)i : bdouble(specials[rnd_below(6)]);
	}
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return a % b < 0 ? q - 1 : q;
}

/* The buckets of tier t for samples ts/v, computed the obvious way: group
 * by bucket, then fold each column on its own. */
static size_t naive_buckets(const int64_t *ts, const double *v, size_t n, int t, struct bucket *out)
{
	int64_t w = rollup_tiers[t].width_ms;
	size_t nb = 0;

	for (size_t i = 0; i < n; i++) {
		int64_t start = floor_div(ts[i], w) * w;
		double inc = i == 0 ? 0 : v[i] >= v[i - 1] ? v[i] - v[i - 1] : v[i];
		struct bucket *b = nb ? &out[nb - 1] : NULL;

		if (!b || b->start != start) {
			/* the first sample starts every column (0 + x is not x
			 * for -0.0, and NaN payloads differ) */
			b = &out[nb++];
			*b = (struct bucket){start, {v[i], v[i], v[i], 1, v[i], inc}};
			continue;
		}
		b->v[RC_MIN] = fmin(b->v[RC_MIN], v[i]);
		b->v[RC_MAX] = fmax(b->v[RC_MAX], v[i]);
		b->v[RC_SUM] += v[i];
		b->v[RC_COUNT] += 1;
		b->v[RC_LAST] = v[i];
		b->v[RC_INCREASE] += inc;
	}
	return nb;
}

/* Every tier's buckets from rollup_add (sealed blocks, then the open
 * ones) equal the naive ones, also after each block's round trip. */
static void test_against_naive(void **state)
{
	enum { N = 20000 };
	static int64_t ts[N];
	static double v[N];
	static struct bucket want[N], have[ROLLUP_TIERS][N];

	rng_state = 0x7011;
	for (int kind = 0; kind < K_KINDS; kind++) {
		struct rollup_series r;
		size_t nh[ROLLUP_TIERS] = {0};
		int64_t t = T0 - (int64_t)rnd_below(100000);
		struct bucket *b;
		uint32_t nb;
		size_t len;

		memset(&r, 0, sizeof(r));
		for (size_t i = 0; i < N; i++) {
			int full;

			t += rnd_below(10) ? 1000 : (int64_t)rnd_below(300000);
			ts[i] = t;
			v[i] = next_value((enum series_kind)kind, i ? v[i - 1] : 0, i);
			full = rollup_add(&r, ts[i], v[i]);
			assert_true(full >= 0);
			for (int tier = 0; tier < ROLLUP_TIERS; tier++) {
				if (!(full & (1 << tier)))
					continue;
				nb = rollup_take_block(&r, tier, &b);
				/* a block is full at block_len buckets, or at about
				 * ROLLUP_BLOCK_MAX_BYTES: only noisy floats get there */
				len = block_check(b, nb, nh[tier] == 0);
				assert_true(nb == rollup_tiers[tier].block_len ||
					    len + len / nb > ROLLUP_BLOCK_MAX_BYTES);
				if (kind == K_NOISY && tier == 0)
					assert_true(nb < rollup_tiers[tier].block_len &&
						    len <= ROLLUP_BLOCK_MAX_BYTES);
				memcpy(&have[tier][nh[tier]], b, nb * sizeof(*b));
				nh[tier] += nb;
				free(b);
			}
		}
		for (int tier = 0; tier < ROLLUP_TIERS; tier++) {
			size_t nw = naive_buckets(ts, v, N, tier, want);

			nb = rollup_snapshot(&r, tier, true, &b);
			if (nb)
				(void)block_round_trip(b, nb);
			memcpy(&have[tier][nh[tier]], b, nb * sizeof(*b));
			free(b);
			assert_int_equal(nh[tier] + nb, nw);
			for (size_t i = 0; i < nw; i++)
				assert_bucket(&have[tier][i], &want[i], i, true);
		}
		rollup_series_free(&r);
	}
}

/* ---- stored blocks ---- */

/* Random blocks whose columns are any bit patterns, often equal to other
 * columns or to last's rise, with every special value. */
static void test_block_round_trip(void **state)
{
	static const uint64_t specials[] = {
	    0x7ff8000000000000ull, 0xfff8000000000000ull, 0x7ff0000000000002ull,
	    0x7ff4000000000abcull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
	    0x0000000000000000ull, 0x8000000000000000ull, 0x0000000000000001ull,
	    0x7fefffffffffffffull,
	};
	static struct bucket b[64];

	rng_state = 0xb10c;
	for (int rep = 0; rep < 3000; rep++) {
		uint32_t n = 1 + (uint32_t)rnd_below(rep % 4 ? 40 : 64);
		int64_t start = (int64_t)rnd();
		int64_t step = rnd_below(2) ? 60000 : (int64_t)rnd();

		for (uint32_t i = 0; i < n; i++) {
			b[i].start = rnd_below(8) ? (int64_t)((uint64_t)start + i * (uint64_t)step)
						  : (int64_t)rnd();
			for (int c = 0; c < RC_N; c++) {
				switch (rnd_below(6)) {
				case 0:
					b[i].v[c] = bdouble(rnd());
					break;
				case 1:
					b[i].v[c] = bdouble(specials[rnd_below(10)]);
					break;
				default:
					b[i].v[c] = (double)rnd_below(1000) / 100;
				}
			}
			if (rep % 3 == 0) /* the columns that counters share */
				b[i].v[RC_MAX] = b[i].v[RC_LAST];
			if (rep % 5 == 0 && i)
				b[i].v[RC_INCREASE] = b[i].v[RC_LAST] - b[i - 1].v[RC_LAST];
			if (rep % 7 == 0)
				b[i].v[RC_SUM] = b[i].v[RC_MIN];
		}
		(void)block_check(b, n, rep % 16 == 0);
	}
}

/* What the kinds save: a constant series' block is a few bytes per
 * column, a counter's increase costs nothing when it has no reset. */
static void test_block_size(void **state)
{
	static struct bucket b[30];
	size_t constant, counter, reset;
	double last = 437.49;

	for (uint32_t i = 0; i < 30; i++) {
		b[i] = (struct bucket){T0 + i * 60000, {42, 42, 42 * 60, 60, 42, 0}};
	}
	constant = block_round_trip(b, 30);
	assert_true(constant <= 60); /* version 1: 110 */
	for (uint32_t i = 0; i < 30; i++) {
		double first = last + 0.01;

		last = round((last + 0.6 + (double)(i % 7) * 0.01) * 100) / 100;
		b[i] = (struct bucket){T0 + i * 60000,
				       {first, last, (first + last) * 30, 60, last,
					i ? last - b[i - 1].v[RC_LAST] : 0.6}};
	}
	counter = block_round_trip(b, 30);
	b[17].v[RC_INCREASE] = 0.25; /* a reset */
	reset = block_round_trip(b, 30);
	assert_true(reset > counter);
	print_message(
	    "rollup block of 30 buckets: constant %zu B, counter %zu B (%zu with a reset)\n",
	    constant, counter, reset);
}

/* Version 1 blocks as the first encoder wrote them (generated before block
 * version 2 replaced it): six chunks of (start, value), one per column. */
static const uint8_t blk1_counter[] = {
    0x06, 0x3e, 0x02, 0x06, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68, 0x00, 0x40, 0x7b, 0x57, 0xd7, 0x0a,
    0x3d, 0x70, 0xa4, 0xe0, 0xea, 0x60, 0xe5, 0x74, 0x70, 0xdc, 0x37, 0x0d, 0xc2, 0x2e, 0x17, 0xf2,
    0xa7, 0xa9, 0xea, 0x7a, 0xe5, 0x61, 0xff, 0xfc, 0xdc, 0x88, 0xf5, 0xc2, 0x8f, 0x5b, 0xfa, 0x00,
    0x36, 0x14, 0x7a, 0xe1, 0x47, 0xae, 0x1e, 0xbf, 0xfb, 0xb6, 0x2d, 0x8b, 0x62, 0xd8, 0xb6, 0x80,
    0x39, 0x02, 0x06, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68, 0x00, 0x40, 0x7b, 0x73, 0xae, 0x14, 0x7a,
    0xe1, 0x44, 0xe0, 0xea, 0x60, 0xe1, 0x87, 0x1a, 0xde, 0xb7, 0xad, 0xeb, 0x3a, 0x3d, 0x85, 0x61,
    0x58, 0x56, 0x17, 0x43, 0x72, 0x3c, 0x8f, 0x23, 0xc8, 0x8d, 0x3b, 0xf0, 0x5d, 0x64, 0x59, 0x16,
    0x45, 0x97, 0x47, 0xb8, 0x6e, 0x1b, 0x86, 0xe1, 0xb9, 0xc0, 0x3a, 0x02, 0x06, 0xc0, 0x91, 0xba,
    0xb6, 0xc4, 0x68, 0x00, 0x40, 0xd9, 0xaf, 0x77, 0x0a, 0x3d, 0x70, 0xa2, 0xe0, 0xea, 0x60, 0xe3,
    0x7e, 0x50, 0xbc, 0x6f, 0x1b, 0xc6, 0xb4, 0xbc, 0x24, 0x39, 0x0e, 0x43, 0xa1, 0xaf, 0x4c, 0x40,
    0x73, 0x78, 0xde, 0x37, 0x85, 0x68, 0xde, 0x88, 0x42, 0x36, 0x2d, 0x8b, 0x62, 0xba, 0x13, 0x0e,
    0x9b, 0xa6, 0xe9, 0xba, 0x62, 0x0e, 0x02, 0x06, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68, 0x01, 0x78,
    0xe0, 0xea, 0x60, 0x00, 0x3d, 0x02, 0x06, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68, 0x00, 0x40, 0x7b,
    0x73, 0xae, 0x14, 0x7a, 0xe1, 0x44, 0xe0, 0xea, 0x60, 0xe1, 0x87, 0x1a, 0xde, 0xb7, 0xad, 0xeb,
    0x3a, 0x3d, 0x85, 0x61, 0x58, 0x56, 0x17, 0x61, 0xff, 0xfc, 0x08, 0xa9, 0x0a, 0x42, 0x90, 0xa4,
    0x4a, 0xff, 0xe2, 0xa7, 0xa9, 0xea, 0x7a, 0x9e, 0xb4, 0x80, 0x0f, 0x70, 0xdc, 0x37, 0x0d, 0xc3,
    0x73, 0x80, 0x3c, 0x02, 0x06, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68, 0x00, 0x3f, 0xfb, 0xd7, 0x0a,
    0x3d, 0x70, 0xa0, 0x00, 0xe0, 0xea, 0x60, 0xdb, 0x5e, 0x90, 0xa4, 0x29, 0x0a, 0x7f, 0x44, 0xf5,
    0x3d, 0x4f, 0x53, 0x39, 0x87, 0xef, 0xff, 0xcd, 0xd3, 0x74, 0xdd, 0x37, 0x8b, 0xd8, 0x7f, 0xff,
    0xfe, 0x15, 0x85, 0x61, 0x58, 0x50, 0x9e, 0xdf, 0x8d, 0x3d, 0x4f, 0x53, 0xd4, 0xf4, 0x8c,
};
static const struct bits_bucket blk1_counter_buckets[] = {
    {INT64_C(1795890300000),
     {0x407b57d70a3d70a4ull, 0x407b73ae147ae144ull, 0x40d9af770a3d70a2ull, 0x404e000000000000ull,
      0x407b73ae147ae144ull, 0x3ffbd70a3d70a000ull}},
    {INT64_C(1795890360000),
     {0x407b7451eb851eb5ull, 0x407b90f5c28f5c23ull, 0x40d9ca7cccccccc9ull, 0x404e000000000000ull,
      0x407b90f5c28f5c23ull, 0x3ffd47ae147adf00ull}},
    {INT64_C(1795890420000),
     {0x407b911eb851eb7full, 0x407bad70a3d70a34ull, 0x40d9e575c28f5c21ull, 0x404e000000000000ull,
      0x407bad70a3d70a34ull, 0x3ffc7ae147ae1100ull}},
    {INT64_C(1795890480000),
     {0x3fe0000000000000ull, 0x407bb6e147ae1470ull, 0x40c165933333332bull, 0x404e000000000000ull,
      0x3ffab851eb851ebdull, 0x4002147ae147ad5eull}},
    {INT64_C(1795890540000),
     {0x3ffb0a3d70a3d70full, 0x400beb851eb851e7ull, 0x4063751eb851eb85ull, 0x404e000000000000ull,
      0x400beb851eb851e7ull, 0x3ffd1eb851eb8511ull}},
    {INT64_C(1795890600000),
     {0x400c666666666662ull, 0x40150a3d70a3d700ull, 0x40707b851eb851e7ull, 0x404e000000000000ull,
      0x40150a3d70a3d700ull, 0x3ffc51eb851eb832ull}},
};
static const uint8_t blk1_gauge[] = {
    0x05, 0x12, 0x02, 0x05, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68, 0x01, 0x80, 0x88, 0xb0, 0x99, 0x09,
    0xe0, 0xea, 0x60, 0x00, 0x12, 0x02, 0x05, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68, 0x01, 0x80, 0x88,
    0xb6, 0x99, 0x09, 0xe0, 0xea, 0x60, 0x00, 0x19, 0x02, 0x05, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68,
    0x01, 0x80, 0xe0, 0xf3, 0xf3, 0xa7, 0x04, 0xe0, 0xea, 0x60, 0xc2, 0x35, 0xa6, 0xc3, 0x32, 0x53,
    0x00, 0x0e, 0x02, 0x05, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68, 0x01, 0x78, 0xe0, 0xea, 0x60, 0x00,
    0x17, 0x02, 0x05, 0xc0, 0x91, 0xba, 0xb6, 0xc4, 0x68, 0x01, 0x80, 0x88, 0xb5, 0x99, 0x09, 0xe0,
    0xea, 0x60, 0xc4, 0x32, 0xe8, 0x88, 0x8a, 0xe0, 0x23, 0x02, 0x05, 0xc0, 0x91, 0xba, 0xb6, 0xc4,
    0x68, 0x01, 0x80, 0xf8, 0xe0, 0x93, 0x9d, 0x02, 0xe0, 0xea, 0x60, 0xd6, 0x29, 0x26, 0x58, 0x6b,
    0x58, 0x9b, 0x66, 0xa4, 0xec, 0x33, 0x2d, 0xac, 0x4a, 0x4c, 0xb1, 0x10,
};
static const struct bits_bucket blk1_gauge_buckets[] = {
    {INT64_C(1795890300000),
     {0x41d2658080000000ull, 0x41d265b080000000ull, 0x42313f3e78000000ull, 0x404e000000000000ull,
      0x41d265a880000000ull, 0x4221d2783c000000ull}},
    {INT64_C(1795890360000),
     {0x41d2658080000000ull, 0x41d265b080000000ull, 0x42313f3ed8000000ull, 0x404e000000000000ull,
      0x41d2658480000000ull, 0x4222f8d0a4000000ull}},
    {INT64_C(1795890420000),
     {0x41d2658080000000ull, 0x41d265b080000000ull, 0x42313f3f38000000ull, 0x404e000000000000ull,
      0x41d2659480000000ull, 0x422265a540000000ull}},
    {INT64_C(1795890480000),
     {0x41d2658080000000ull, 0x41d265b080000000ull, 0x42313f3ec8000000ull, 0x404e000000000000ull,
      0x41d265a480000000ull, 0x422265a4a0000000ull}},
    {INT64_C(1795890540000),
     {0x41d2658080000000ull, 0x41d265b080000000ull, 0x42313f3f28000000ull, 0x404e000000000000ull,
      0x41d2658080000000ull, 0x4222f8d0e4000000ull}},
};
static const uint8_t blk1_mixed[] = {
    0x04, 0x1d, 0x02, 0x04, 0xc0, 0xe7, 0xa8, 0xfe, 0xf9, 0x62, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xe0, 0xea, 0x60, 0x2f, 0xe3, 0x7e, 0x43, 0xc8, 0x80, 0x07, 0x59, 0xc0, 0x1d,
    0x02, 0x04, 0xc0, 0xe7, 0xa8, 0xfe, 0xf9, 0x62, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xe0, 0xea, 0x60, 0x2f, 0xe3, 0x7e, 0x43, 0xc8, 0x80, 0x07, 0x59, 0xc0, 0x1d, 0x02, 0x04,
    0xc0, 0xe7, 0xa8, 0xfe, 0xf9, 0x62, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0,
    0xea, 0x60, 0x2f, 0xe9, 0x66, 0x5f, 0x8b, 0xf8, 0x06, 0xe3, 0xd0, 0x10, 0x02, 0x04, 0xc0, 0xe7,
    0xa8, 0xfe, 0xf9, 0x62, 0x01, 0x50, 0xe0, 0xea, 0x60, 0xc3, 0x09, 0x40, 0x1d, 0x02, 0x04, 0xc0,
    0xe7, 0xa8, 0xfe, 0xf9, 0x62, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0xea,
    0x60, 0x2f, 0xe3, 0x7e, 0x43, 0xc8, 0x80, 0x07, 0x59, 0xc0, 0x25, 0x02, 0x04, 0xc0, 0xe7, 0xa8,
    0xfe, 0xf9, 0x62, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0xea, 0x60, 0x27,
    0xe3, 0x7e, 0x43, 0xc8, 0x80, 0x07, 0x59, 0xc4, 0xfc, 0x6f, 0xc8, 0x79, 0x10, 0x00, 0xeb, 0x38,
};
static const struct bits_bucket blk1_mixed_buckets[] = {
    {INT64_C(1699999980000),
     {0x8000000000000000ull, 0x8000000000000000ull, 0x8000000000000000ull, 0x4044000000000000ull,
      0x8000000000000000ull, 0x0000000000000000ull}},
    {INT64_C(1700000040000),
     {0x8000000000000000ull, 0x8000000000000000ull, 0x8000000000000000ull, 0x404e000000000000ull,
      0x8000000000000000ull, 0x0000000000000000ull}},
    {INT64_C(1700000100000),
     {0x7e37e43c8800759cull, 0x7e37e43c8800759cull, 0x7e9665f8bf806e3dull, 0x404e000000000000ull,
      0x7e37e43c8800759cull, 0x7e37e43c8800759cull}},
    {INT64_C(1700000160000),
     {0x7e37e43c8800759cull, 0x7e37e43c8800759cull, 0x7e9665f8bf806e3dull, 0x404e000000000000ull,
      0x7e37e43c8800759cull, 0x0000000000000000ull}},
};
#define BLK1(name)                                                                                 \
	{                                                                                          \
#name, blk1_##name, sizeof(blk1_##name), blk1_##name##_buckets,                    \
		    sizeof(blk1_##name##_buckets) / sizeof(blk1_##name##_buckets[0])               \
	}
static const struct blk1_vector {
	const char *name;
	const uint8_t *data;
	size_t len;
	const struct bits_bucket *b;
	size_t n;
} blk1_vectors[] = {
    BLK1(counter),
    BLK1(gauge),
    BLK1(mixed),
};

static void test_version1_blocks(void **state)
{
	static struct got g;

	for (size_t k = 0; k < sizeof(blk1_vectors) / sizeof(blk1_vectors[0]); k++) {
		const struct blk1_vector *vec = &blk1_vectors[k];

		g.n = 0;
		assert_int_equal(rollup_block_decode(vec->data, vec->len, collect, &g), 0);
		assert_int_equal(g.n, vec->n);
		for (size_t i = 0; i < vec->n; i++) {
			struct bucket want = {.start = vec->b[i].start};

			for (int c = 0; c < RC_N; c++)
				want.v[c] = bdouble(vec->b[i].v[c]);
			assert_same_bucket(&g.b[i], &want, i);
		}
		g.n = 0;
		assert_int_equal(rollup_block_decode(vec->data, vec->len - 1, collect, &g),
				 BM_EPROTO);
	}
}

/* Bad kinds, versions and trailing bytes, and random damage. */
static void test_bad_blocks(void **state)
{
	static const uint8_t version3[] = {0, 3, 1};
	static struct bucket b[8];
	static struct got g;
	uint8_t *blob, *copy;
	size_t len, kinds[5], k = 0;

	for (uint32_t i = 0; i < 8; i++)
		b[i] = (struct bucket){T0 + i * 60000, {1, 2, 3, 60, 4, 5 + i}};
	assert_int_equal(rollup_block_encode(b, 8, &blob, &len), 0);
	/* find the five kind bytes: after the count chunk, then after each
	 * column's chunk */
	{
		size_t p = 3, clen;

		clen = blob[p];
		p += 1 + clen;
		for (; k < 5; k++) {
			kinds[k] = p;
			p++;
			clen = blob[p];
			p += 1 + clen;
		}
		assert_int_equal(p, len);
	}
	copy = malloc(len + 1);
	assert_non_null(copy);
	for (unsigned bad = 0; bad < 256; bad++) {
		for (k = 0; k < 5; k++) {
			int col = k < 3 ? (int)k : (int)k + 1; /* count is column 3 */
			int ok = bad == 0 || (bad == 7 && col == RC_INCREASE);

			memcpy(copy, blob, len);
			copy[kinds[k]] = (uint8_t)bad;
			g.n = 0;
			if (ok)
				assert_int_not_equal(rollup_block_decode(copy, len, collect, &g),
						     BM_ENOMEM);
			else if (bad >= 1 && bad <= 6 && bad - 1 < (unsigned)col &&
				 bad - 1 != RC_COUNT)
				continue; /* a valid reference followed by a stray chunk */
			else
				assert_int_equal(rollup_block_decode(copy, len, collect, &g),
						 BM_EPROTO);
		}
	}
	memcpy(copy, blob, len);
	copy[len] = 0;
	assert_int_equal(rollup_block_decode(copy, len + 1, collect, &g), BM_EPROTO);
	assert_int_equal(rollup_block_decode(version3, sizeof(version3), collect, &g), BM_EPROTO);
	rng_state = 0xdead;
	for (int rep = 0; rep < 20000; rep++) {
		size_t at = rnd_below(len);

		memcpy(copy, blob, len);
		copy[at] ^= (uint8_t)(1u + rnd_below(255));
		g.n = 0;
		(void)rollup_block_decode(copy, len, collect, &g);
	}
	free(copy);
	free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_against_naive), cmocka_unit_test(test_block_round_trip),
	    cmocka_unit_test(test_block_size),	  cmocka_unit_test(test_version1_blocks),
	    cmocka_unit_test(test_bad_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
