/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The queue's record format, shared by its writer, its reader and the scan
 * at open: [u32 len][u32 crc32][u8 type][payload], little-endian, the CRC
 * (zlib's) over type and payload. A series record is a ref, a count and
 * the label names and values; a samples record is (ref, timestamp delta
 * from the previous sample, zigzagged, 8-byte value) triples.
 */
#ifndef BEARMON_RW_QUEUE_FORMAT_H
#define BEARMON_RW_QUEUE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

#include "codec.h"
#include "queue.h"

#define RWQ_REC_HEADER 9 /* len, crc, type */
#define RWQ_REC_MAX (256u << 20)

enum rwq_rec_type { RWQ_REC_SERIES = 1, RWQ_REC_SAMPLES = 2 };

/* A record found in a buffer. */
struct rwq_rec {
	enum rwq_rec_type type;
	const uint8_t *p, *end; /* payload */
	size_t size;            /* header + payload */
};

/* Fill the header reserved at mark (RWQ_REC_HEADER zero bytes appended
 * there) for the payload after it up to b->len. */
void rwq_rec_close(struct bm_buf *b, size_t mark, enum rwq_rec_type type);
/* The record at p: 1, 0 when avail does not hold all of it, -1 damaged. */
int rwq_rec_at(const uint8_t *p, size_t avail, struct rwq_rec *r);
/* The little-endian u32 at p (a record's length comes first). */
uint32_t rwq_get_le32(const uint8_t *p);

/* Walks the samples of a samples record: {r.p, r.end, 0}. */
struct rwq_sample_iter {
	const uint8_t *p, *end;
	int64_t ts;
};

/* 1 with the next sample, 0 at the end, -1 damaged. */
int rwq_sample_next(struct rwq_sample_iter *it, uint64_t *ref, int64_t *ts, double *v);
/* The series a series record names (rw_series_new), and its ref. NULL when
 * damaged or out of memory. */
struct rw_series *rwq_series_of(const struct rwq_rec *r, uint64_t *ref);

#endif
