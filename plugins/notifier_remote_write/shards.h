/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From the queue to the receiver: a dispatcher thread hands each sample to
 * the shard its series hashes to (a series stays in order); shards batch and
 * send with retries and backoff; the shard count follows load and backlog,
 * as Prometheus' queue manager sizes it.
 */
#ifndef BEARMON_RW_SHARDS_H
#define BEARMON_RW_SHARDS_H

#include <stdbool.h>
#include <stdint.h>

#include <bearmon/bm_host.h>

#include "queue.h"
#include "rw.h"

struct rw_shards;

int rw_shards_new(struct bm_ctx *ctx, const struct rw_conf *c, struct rw_queue *q,
		  struct rw_stats *st, struct rw_shards **out, struct bm_err *err);
/* Start the dispatcher, which starts min_shards shards. */
int rw_shards_start(struct rw_shards *s, struct bm_err *err);
/* Let requests in flight finish for up to a second, then interrupt them;
 * what was not acknowledged stays in the queue. */
void rw_shards_stop(struct rw_shards *s);
void rw_shards_free(struct rw_shards *s);

/* What the shard count is sized by, averaged over recent intervals. */
struct rw_rates {
	double in_per_s;      /* samples queued per second */
	double out_per_s;     /* samples sent per second */
	double send_s_per_s;  /* seconds spent in successful requests per second */
	double pending;       /* samples waiting */
	double interval_s;    /* shard_update_interval */
};

/*
 * Prometheus' rule (calculateDesiredShards): the time one sample takes to
 * send times the rate to keep up with, plus what clears the backlog in
 * about an interval; no change within 30% of current; clamped to
 * [min, max]. Nothing sent yet: current.
 */
int rw_desired_shards(const struct rw_rates *r, int current, int min, int max);

#endif
