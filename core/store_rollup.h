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
#define ROLLUP_TAIL 8
struct rollup_tier_def {
	const char *name; /* "1m", "1h" */
	int64_t width_ms;
	uint32_t block_len; /* buckets per stored block */
};
extern const struct rollup_tier_def rollup_tiers[ROLLUP_TIERS];

struct rollup_open {
	struct bucket cur; /* the bucket samples go into now */
	bool has_cur;
	/* The completed buckets not yet in a sealed block: the older ones
	 * encoded as the stored block will be (rollup_block_encode), the
	 * newest ROLLUP_TAIL at most as buckets, folded into the encoding when
	 * the tail is full. A bucket takes 56 bytes, about 7 encoded, and each
	 * series holds up to a block (half an hour of the 1 min tier): kept as
	 * buckets, memory grew for half an hour; re-encoded at every bucket,
	 * ingest cost a third more. */
	uint8_t *block;
	uint32_t block_bytes;
	uint32_t n_block; /* buckets in block */
	struct bucket *tail;
	uint32_t n_tail, cap_tail; /* the tail grows to ROLLUP_TAIL as needed */
	uint32_t n_done;		 /* n_block + n_tail */
	int64_t first_start, last_start; /* of the done buckets */
	bool dirty;			 /* a bucket completed since the last flush */
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
/* Move tier's completed buckets out (caller frees *out); 0 and nothing
 * moved when out of memory. */
uint32_t rollup_take_block(struct rollup_series *r, int tier, struct bucket **out);
/* Continue tier from a stored block that is not full (n buckets from
 * first_ms to last_ms, as rollup_block_encode wrote it), after a restart.
 * 0 or BM_ENOMEM. */
int rollup_resume(struct rollup_series *r, int tier, const uint8_t *block, size_t len, uint32_t n,
		  int64_t first_ms, int64_t last_ms);
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
