/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One listener's aggregation: the receiver thread parses lines into the
 * shard's active table (one entry per raw name+tags+type, the values of
 * the current flush interval); the flush swaps in the spare table under
 * the shard's lock and merges the full one on the collection thread.
 * Cardinality limits are checked when a series first shows up in an
 * interval, so a line of a known series costs a parse, a hash and a probe.
 */
#ifndef BEARMON_STATSD_SHARD_H
#define BEARMON_STATSD_SHARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_plugin.h>

#include "../common/cardinality.h"
#include "hash.h"
#include "parse.h"
#include "sketch.h"
#include "stats.h"

/* Distinct members of a set in one interval, as 64-bit hashes (0 marks
 * an empty slot; a member hashing to 0 counts as 1). */
struct memberset {
	uint64_t *slots;
	uint32_t n, cap; /* cap: a power of two, at most half full */
};

/* 1 when added, 0 when already there, -1 when full (max) or no memory. */
int memberset_add(struct memberset *s, uint64_t h, uint32_t max);
/* dst |= src; returns the members that did not fit. */
uint64_t memberset_merge(struct memberset *dst, const struct memberset *src, uint32_t max);

/* The values of one raw key (name, tags, type) in one interval. */
struct shard_entry {
	uint64_t hash;       /* of the raw key */
	uint64_t key_hash;   /* of the canonical key (series.c's index) */
	uint32_t raw, name_len, tags_len; /* raw name then tags, in the arena */
	uint32_t key, key_len;            /* canonical key, in the arena */
	uint8_t type;        /* enum statsd_type */
	bool gauge_set;      /* gauges: a plain value came this interval */
	uint32_t values;     /* values added this interval */
	double sum;          /* counters: weighted sum; gauges: deltas after the last set */
	double gauge;        /* gauges: the last value set */
	struct sketch sk;    /* timers, histograms, distributions */
	struct memberset set;
};

/* A table keeps its memory when reset: entries [n, cap) hold sketches and
 * sets from earlier intervals, reused by the next inserts. */
struct shard_table {
	struct shard_entry *e;
	uint32_t n, cap;
	struct hindex index;
	char *arena; /* raw and canonical keys */
	size_t used, arena_cap;
};

struct shard_limits {
	uint32_t max_line_len;
	uint32_t max_set_size;
	uint32_t max_entries; /* raw keys per interval; 0 = no limit */
};

struct shard {
	pthread_mutex_t lock; /* active, card: receiver vs flush */
	struct shard_table tables[2];
	struct shard_table *active, *spare;
	struct card_limiter card;
	struct shard_limits lim;
	struct bm_ctx *ctx;   /* for log lines */
	const char *what;     /* "udp 127.0.0.1:8125", for log lines */
	uint64_t seed;
	uint64_t pending[ST_N]; /* the receiver's increments not yet shared */
	uint64_t card_series_seen, card_labels_seen;
	int64_t logged_ms[STATSD_N_RESULTS]; /* last log line per reason */
	struct statsd_line line;              /* parse scratch */
	char *series_buf;                     /* statsd_series_build scratch */
	size_t series_cap;
};

int shard_init(struct shard *sh, const struct shard_limits *lim, const struct card_limits *card,
	       struct bm_ctx *ctx, const char *what, uint64_t seed);
void shard_free(struct shard *sh);

/* Every line of data (a datagram, or complete TCP lines). Caller holds
 * sh->lock. Empty lines are skipped. */
void shard_feed(struct shard *sh, const char *data, size_t len);
/* One line (no newline). Caller holds sh->lock. */
void shard_line(struct shard *sh, const char *line, size_t len);
/* Count (and log, at most once a minute per reason) a refused line. */
void shard_bad(struct shard *sh, enum statsd_result why, const char *line, size_t len);
/* Hand the receiver's increments over to the self-metrics. */
void shard_flush_stats(struct shard *sh, uint64_t *shared);

/* Flush: the full table, swapped for the empty spare under the lock;
 * the caller owns it until shard_release. Starts a cardinality sweep. */
struct shard_table *shard_swap(struct shard *sh);
void shard_release(struct shard *sh, struct shard_table *t);

/* The canonical key of an entry (arena bytes, key_len long). */
static inline const char *shard_key(const struct shard_table *t, const struct shard_entry *e)
{
	return t->arena + e->key;
}

#endif /* BEARMON_STATSD_SHARD_H */
