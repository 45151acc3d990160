/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libbearmon-client: the bounded queue of encoded frames waiting
 * for the socket. When a new frame does not fit in the budget, the OLDEST
 * whole frames are dropped and counted: a monitor wants the latest state
 * when bearmond comes back, and old samples of a gauge are the first to
 * lose their value.
 */
#ifndef BEARMON_CLIENT_QUEUE_H
#define BEARMON_CLIENT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encode.h"

/* What was dropped; added to by the queue, read into bm_client_stats. */
struct bmc_drops {
	uint64_t samples;
	uint64_t messages;
	uint64_t bytes;
};

/*
 * Frames live in data[head, len): the head frame may be partly written
 * (written bytes of it), the rest are whole frames. The budget, limit,
 * covers these bytes plus the caller's open metric batch (reserve). The
 * allocation grows up to 2 * limit so that moving the live bytes back to
 * the start (compaction) happens at most once per limit bytes appended.
 */
struct bmc_queue {
	uint8_t *data;
	size_t cap;
	size_t limit;
	size_t head;
	size_t len;
	size_t written; /* bytes of the head frame already on the socket */
};

/* Bytes queued (whole frames, the partly written one included). */
static inline size_t bmc_queue_used(const struct bmc_queue *q)
{
	return q->len - q->head;
}

static inline bool bmc_queue_empty(const struct bmc_queue *q)
{
	return q->len == q->head;
}

BMC_HIDDEN void bmc_queue_init(struct bmc_queue *q, size_t limit);
BMC_HIDDEN void bmc_queue_free(struct bmc_queue *q);

/*
 * Append one frame made of two parts (b may be NULL with nb 0), after
 * dropping the oldest frames until used + reserve + na + nb <= limit.
 * The partly written head frame is never dropped (that would corrupt the
 * stream). Returns 0, or BM_EAGAIN (nothing appended, the new frame
 * counted in d) when it cannot fit, BM_ENOMEM.
 */
BMC_HIDDEN int bmc_queue_push(struct bmc_queue *q, const void *a, size_t na, const void *b,
			      size_t nb, size_t reserve, struct bmc_drops *d);

/*
 * Make room for reserve more bytes of the caller's batch by dropping
 * oldest frames. Returns true when used + reserve <= limit afterwards.
 */
BMC_HIDDEN bool bmc_queue_make_room(struct bmc_queue *q, size_t reserve, struct bmc_drops *d);

/* The bytes to write next: from the head frame's unwritten part to the end. */
static inline const uint8_t *bmc_queue_pending(const struct bmc_queue *q, size_t *n)
{
	*n = q->len - q->head - q->written;
	return q->data + q->head + q->written;
}

/* Length (header included) of the head frame; the queue must not be empty. */
static inline size_t bmc_queue_head_len(const struct bmc_queue *q)
{
	return BMC_FRAME_HDR + bmc_get_be32(q->data + q->head);
}

/* n more bytes were written; returns how many frames that completed. */
BMC_HIDDEN size_t bmc_queue_consumed(struct bmc_queue *q, size_t n);

/* Drop the head frame (not partly written), counting it in d. */
BMC_HIDDEN void bmc_queue_drop_head(struct bmc_queue *q, struct bmc_drops *d);

/* The connection ended: the partly written head frame is sent again in
 * full on the next one (the server never processed half a frame). */
static inline void bmc_queue_rewind(struct bmc_queue *q)
{
	q->written = 0;
}

#endif /* BEARMON_CLIENT_QUEUE_H */
