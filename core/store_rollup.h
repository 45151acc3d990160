/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rollup tiers of the store: per series and tier, buckets of fixed width
 * (1 min, 1 h) holding min, max, sum, count, last and the counter increase
 * adjusted for resets, maintained as samples arrive. Completed buckets
 * wait in a small per-series block until it is full, then the block is
 * encoded column by column with the chunk codec (timestamps once, columns
 * equal to another or derivable from last stored as such) and stored.
 */
#ifndef BEARMON_CORE_STORE_ROLLUP_H
#define BEARMON_CORE_STORE_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rollup_col { RC_MIN, RC_MAX, RC_SUM, RC_COUNT, RC_LAST, RC_INCREASE, RC_N };

/* One bucket; also the running aggregate of a query window. */
struct bucket {
	int64_t start;
	double v[RC_N];
};

#define ROLLUP_TIERS 2
/* A stored block must fit its b-tree page, as a chunk does (store.c's
 * CHUNK_MAX_BYTES): sqlite moves the rest of a longer row to an overflow
 * page, most of which is then waste (noisy float series: blocks of 30
 * buckets reach 1.3 KB). */
#define ROLLUP_BLOCK_MAX_BYTES 900
struct rollup_tier_def {
	const char *name; /* "1m", "1h" */
	int64_t width_ms;
	uint32_t block_len; /* buckets per stored block */
};
extern const struct rollup_tier_def rollup_tiers[ROLLUP_TIERS];

struct rollup_open {
	struct bucket cur; /* the bucket samples go into now */
	bool has_cur;
	struct bucket *done; /* completed buckets not yet in a sealed block */
	uint32_t n_done;
	uint32_t cap_done;  /* grows as buckets complete: memory per series
			     * follows the data, not the block size */
	uint32_t enc_n;	    /* the done buckets' encoded size when there were */
	uint32_t enc_bytes; /* enc_n of them (see block_too_big) */
	bool dirty;	    /* a bucket completed since the last flush */
};

struct rollup_series {
	struct rollup_open t[ROLLUP_TIERS];
	double prev; /* previous sample, for the counter increase */
	bool has_prev;
};

/* Feed one sample (stale markers are not samples: do not feed them).
 * Returns a bit mask of tiers whose block is full: seal those with
 * rollup_take_block(). A block is full at its tier's block_len buckets,
 * or earlier when one more bucket of its average size would take its
 * encoding past ROLLUP_BLOCK_MAX_BYTES. BM_ENOMEM as a negative value. */
int rollup_add(struct rollup_series *r, int64_t ts_ms, double v);
/* Move tier's completed buckets out (caller frees *out). */
uint32_t rollup_take_block(struct rollup_series *r, int tier, struct bucket **out);
/* The completed buckets of tier, and the current one when with_cur (a
 * query wants it; a flush does not: see rollup_replay). Caller frees *out.
 * Returns the count. */
uint32_t rollup_snapshot(const struct rollup_series *r, int tier, bool with_cur,
			 struct bucket **out);
/*
 * Rebuild tier's state after a restart from the raw samples that follow
 * its last stored bucket: the store persists completed buckets only (once
 * a minute, not every second), and the raw samples are the truth. prev is
 * the sample before the first one replayed (the last stored bucket's
 * last value). Same return as rollup_add for that tier.
 */
int rollup_replay(struct rollup_series *r, int tier, int64_t ts_ms, double v, double prev,
		  bool has_prev);
void rollup_series_free(struct rollup_series *r);

/* Blob of n buckets (layout in store_rollup.c): the bucket starts and
 * counts as one chunk (store_codec), then per value column a kind byte and
 * a chunk of its values, or a reference to an equal column. */
int rollup_block_encode(const struct bucket *b, uint32_t n, uint8_t **out, size_t *len);
/* Calls cb for each bucket; BM_EPROTO for a corrupt blob. */
int rollup_block_decode(const uint8_t *data, size_t len,
			void (*cb)(void *u, const struct bucket *b), void *u);

/* A bucket holding one raw sample (prev: the sample before, for the
 * increase; has_prev false for the first). */
void bucket_from_sample(struct bucket *b, int64_t ts, double v, double prev, bool has_prev);
/* Fold b into acc (acc->v[RC_COUNT] == 0 means empty). */
void bucket_merge(struct bucket *acc, const struct bucket *b);

#endif
