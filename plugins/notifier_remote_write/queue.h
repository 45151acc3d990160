/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable queue between the bus and the shards: segment files under
 * DATA_DIR/remote_write/INSTANCE/, written by the subscription thread, read
 * by the dispatcher, acknowledged by the shards; it survives restarts and
 * outages within its size and age limits, and counts what they remove.
 */
#ifndef BEARMON_RW_QUEUE_H
#define BEARMON_RW_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_event.h>

#include "codec.h"

/*
 * Why segment files and not the store's sqlite: appends are sequential
 * writes of a few bytes per sample with no index to keep, deletion is an
 * unlink of a whole delivered segment, and the queue stays independent of
 * whether the store is enabled or what its retention is (Prometheus' WAL
 * and vmagent's persistent queue make the same choice).
 */
struct rw_queue_opts {
	const char *dir;          /* created when missing */
	uint64_t max_size;        /* bytes on disk; past it the oldest segment goes */
	int64_t max_age_ms;       /* a closed segment whose newest sample is older goes */
	uint64_t segment_size;    /* a segment is closed once it holds this much
				   * and series records are at most a quarter
				   * of it (or it holds max_size / 4) */
	int64_t sync_interval_ms; /* fdatasync the open segment when a write comes
				   * this long after the last sync (0: every
				   * write), and when it closes */
};

/* Counters, read with relaxed atomic loads. */
struct rwq_stats {
	uint64_t dropped;      /* samples removed unsent: limits, write errors */
	uint64_t write_errors; /* failed appends (their samples are in dropped) */
	uint64_t corrupt;      /* damaged records skipped while reading */
	uint64_t loaded;       /* samples waiting in the queue when it opened */
};

struct rw_queue;
/* What a batch of items read together is acknowledged to. */
struct rwq_chunk;

int rwq_open(const struct rw_queue_opts *o, struct rw_queue **out, struct bm_err *err);
/* Close the open segment and save the position; items still out are sent
 * again after the next open. */
void rwq_close(struct rw_queue *q);
const struct rwq_stats *rwq_stats(const struct rw_queue *q);
/* n samples lost before they reached the queue (out of memory). */
void rwq_count_dropped(struct rw_queue *q, uint64_t n);
/* Samples not yet acknowledged, bytes and segments on disk. */
void rwq_usage(struct rw_queue *q, uint64_t *pending, uint64_t *bytes, uint64_t *segments);

/* ---- writing: one thread --------------------------------------------- */

/* Records under construction: series records, then one samples record.
 * Zero-initialise; reusable after rwq_write. */
struct rwq_batch {
	struct bm_buf series;
	struct bm_buf samples;
	uint64_t n;
	int64_t prev_ts, max_ts;
};

/* Name ref for labels l (sorted, __name__ included) in this segment:
 * needed before the first sample of ref in each segment. 0 or BM_ENOMEM. */
int rwq_batch_series(struct rwq_batch *b, uint64_t ref, const struct bm_label *l, size_t n);
int rwq_batch_sample(struct rwq_batch *b, uint64_t ref, int64_t ts_ms, double v);
void rwq_batch_reset(struct rwq_batch *b);
void rwq_batch_free(struct rwq_batch *b);

/* The sequence number of the segment the next rwq_write goes to, opening
 * one (or closing a full one) first and enforcing max_size. 0 when no
 * segment can be opened (the caller counts its samples as dropped). */
uint64_t rwq_write_begin(struct rw_queue *q);
/* Append the batch to that segment and wake the reader. 0, or BM_EIO:
 * its samples are counted as dropped and the segment is closed. The
 * batch is reset either way. */
int rwq_write(struct rw_queue *q, struct rwq_batch *b);

/* ---- reading: one thread --------------------------------------------- */

/*
 * The next samples in queue order (whole records, about max of them),
 * waiting up to wait_ms for some. *items (owned by the queue, valid until
 * the next call) each carry their chunk. Returns the count; 0 after the
 * wait or when rwq_wake interrupted it.
 */
size_t rwq_next(struct rw_queue *q, size_t max, int64_t wait_ms, struct rw_item **items);
/* Interrupt a waiting rwq_next (stop, reshard). */
void rwq_wake(struct rw_queue *q);
/* n items of chunk c are done (sent or given up): any thread. */
void rwq_ack(struct rw_queue *q, struct rwq_chunk *c, uint64_t n);
/* n items of c are dropped unsent (too old): counted, then acknowledged. */
void rwq_drop(struct rw_queue *q, struct rwq_chunk *c, uint64_t n);
/* Age limit over closed segments, and save the position when it moved:
 * the reader calls it about once a second. */
void rwq_maintain(struct rw_queue *q, int64_t now_ms);

#endif
