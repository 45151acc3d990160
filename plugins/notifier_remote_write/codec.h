/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The remote write body: a batch of samples as a protobuf WriteRequest
 * (protoc-c, remote.proto), compressed with snappy's block format; and
 * the way back, which tests and the fuzz target use to check what is sent.
 * protobuf-c packs each series' labels once, when the series is made, and
 * each sample; the encoder only frames them (see rw_pack).
 */
#ifndef BEARMON_RW_CODEC_H
#define BEARMON_RW_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_event.h>

#include "remote.pb-c.h"

/*
 * One series as sent: its final label set (sorted, __name__ included) as
 * protobuf-c structs and packed, all in one allocation. Immutable once
 * made, so shards read it without locks.
 */
struct rw_series {
	uint64_t hash; /* of the label set: picks the shard */
	size_t n_labels;
	Prometheus__Label *labels;
	Prometheus__Label **label_ptrs;
	uint8_t *labels_pb; /* the TimeSeries fields `labels`, packed by protobuf-c */
	size_t labels_pb_len;
};

/* A copy of the n labels at l (sorted by the caller); NULL on ENOMEM. */
struct rw_series *rw_series_new(const struct bm_label *l, size_t n);
void rw_series_free(struct rw_series *s);
/* Hash of a label set: 64-bit multiply-rotate over 8-byte words (in
 * memory only, never stored). A separator after every string keeps
 * "ab"+"c" apart from "a"+"bc". */
uint64_t rw_hash_bytes(uint64_t h, const void *p, size_t n);
uint64_t rw_labels_hash(const struct bm_label *l, size_t n);

struct rwq_chunk; /* queue.h: what an item is acknowledged to */

/* One queued sample on its way to the receiver. */
struct rw_item {
	struct rw_series *series;
	int64_t ts_ms;
	double value; /* bit-exact: Prometheus' stale NaN goes as it is */
	struct rwq_chunk *chunk;
};

/* A Sample message packed: value (tag + 8 bytes), timestamp (tag + varint). */
#define RW_SAMPLE_PB_MAX 20

/* One TimeSeries of a batch being encoded. */
struct rw_group {
	const struct rw_series *series;
	size_t n;        /* its samples */
	size_t bytes;    /* its samples' fields, framed */
	int64_t last_ts; /* of its newest sample so far */
};

/* Scratch reused from batch to batch by one shard. */
struct rw_encoder {
	struct rw_group *groups;
	uint32_t *group_of; /* item -> group */
	uint32_t *order;    /* items sorted by group, in item order within one */
	uint8_t (*sample_pb)[RW_SAMPLE_PB_MAX];
	uint8_t *sample_len;
	uint32_t *slots; /* series -> group + 1, open addressing, 2 * cap */
	size_t cap;      /* items the arrays above hold */
	uint8_t *pb;
	size_t pb_cap;
	char *body;
	size_t body_cap;
};

/*
 * n items (n > 0) as one uncompressed WriteRequest in e->pb (*len bytes):
 * one TimeSeries per series in first appearance order, its samples in
 * item order; a sample older than its series' previous one in the batch
 * starts another TimeSeries of the same labels, so that each stays in
 * timestamp order, as the spec asks. The bytes are exactly what
 * protobuf-c's prometheus__write_request__pack makes of the same message.
 * 0 or BM_ENOMEM; *max_ts gets the newest timestamp.
 */
int rw_pack(struct rw_encoder *e, const struct rw_item *items, size_t n, size_t *len,
	    int64_t *max_ts);
/* rw_pack, then snappy: *body points into e until the next call. */
int rw_encode(struct rw_encoder *e, const struct rw_item *items, size_t n, const char **body,
	      size_t *len, int64_t *max_ts);
void rw_encoder_free(struct rw_encoder *e);

/*
 * Decompress and unpack a body; checks what the 1.0 spec asks of a sender
 * (every series has __name__, label names valid, sorted and unique, values
 * not empty, samples in timestamp order). 0 with *out to free with
 * rw_decoded_free; BM_EPROTO with err saying why.
 */
int rw_decode(const void *body, size_t len, Prometheus__WriteRequest **out, struct bm_err *err);
void rw_decoded_free(Prometheus__WriteRequest *w);

#endif
