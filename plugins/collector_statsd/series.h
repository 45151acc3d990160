/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The instance's series registry, owned by the collection thread: what
 * outlives a flush interval (cumulative counters, timer counts and sums,
 * gauge values, the metric families and their types). At each flush the
 * shards' full tables are merged in, series idle for idle_flushes
 * flushes are forgotten, and every series is written into the batch.
 */
#ifndef BEARMON_STATSD_SERIES_H
#define BEARMON_STATSD_SERIES_H

#include <stdint.h>

#include <bearmon/bm_batch.h>

#include "hash.h"
#include "shard.h"

/* A metric family: the Prometheus name a StatsD type publishes under. */
struct series_family {
	char *name, *sum_name, *count_name; /* _sum, _count: summaries only */
	uint8_t type;                       /* enum statsd_type */
	uint32_t refs;                      /* series in it */
	uint32_t declared;                  /* flush it was last declared in */
};

/* Every name a family publishes samples under, to catch a gauge named
 * like a summary's _sum before the store sees two types for one name. */
struct series_name {
	char *name; /* borrowed from the family */
	uint32_t family;
};

struct series_item {
	uint64_t hash;            /* of the canonical key */
	char *key;                /* canonical key (parse.h), owned */
	uint32_t key_len;
	struct bm_label *labels;  /* into key */
	uint32_t n_labels;
	uint32_t family;
	uint8_t type;             /* enum statsd_type */
	uint32_t last_seen;       /* flush generation */
	double value;             /* counters: cumulative; gauges: current */
	double count, sum;        /* summaries: cumulative, weighted */
	struct sketch *isk;       /* this interval's values, borrowed from a
				   * shard table until the flush ends */
	struct memberset *iset;   /* sets: this interval's members, likewise */
};

struct series_reg {
	struct series_item *s;
	size_t n, cap;
	struct hindex index;      /* canonical key -> s */
	struct series_family *f;
	size_t nf, capf;
	struct series_name *names;
	size_t nn, capn;
	struct hindex name_index; /* sample name -> names */
	uint32_t gen;
	uint32_t idle_flushes;    /* 0: never forget */
	uint32_t max_set_size;
	uint64_t seed;            /* the shards' key_hash seed */
	uint64_t pending[ST_N];   /* conflicts, forgotten, members: for stats_flush */
};

void series_init(struct series_reg *r, uint32_t idle_flushes, uint32_t max_set_size,
		 uint64_t seed);
void series_free(struct series_reg *r);
/* A new flush: merge each shard's full table, then emit. */
void series_begin(struct series_reg *r);
void series_merge(struct series_reg *r, struct shard_table *t);
/* Forget idle series, add every sample to b (families declared once per
 * flush), drop the borrowed interval data. 0 or a BM_E* code from b. */
int series_emit(struct series_reg *r, struct bm_batch *b);

#endif /* BEARMON_STATSD_SERIES_H */
