/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bounded frame queue (see queue.h): append, drop oldest, account for
 * what the socket took. Every operation is O(1) amortised per byte, so a
 * full buffer while bearmond is down costs the agent no more per call
 * than an empty one.
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"

#define QUEUE_MIN_CAP 4096

void bmc_queue_init(struct bmc_queue *q, size_t limit)
{
	*q = (struct bmc_queue){.limit = limit};
}

void bmc_queue_free(struct bmc_queue *q)
{
	free(q->data);
	*q = (struct bmc_queue){.limit = q->limit};
}

static void count_drop(const uint8_t *frame, size_t len, struct bmc_drops *d)
{
	uint32_t n = bmc_frame_samples(frame);

	if (n)
		d->samples += n;
	else
		d->messages++;
	d->bytes += len;
}

static void reset_if_empty(struct bmc_queue *q)
{
	if (bmc_queue_empty(q))
		q->head = q->len = q->written = 0;
}

void bmc_queue_drop_head(struct bmc_queue *q, struct bmc_drops *d)
{
	size_t n = bmc_queue_head_len(q);

	count_drop(q->data + q->head, n, d);
	q->head += n;
	reset_if_empty(q);
}

/* The head frame is partly written, so the frames after it are dropped
 * and the head frame moved forward over them. At least as many bytes are
 * dropped as are moved, which keeps the move's cost amortised; the price
 * is dropping up to one frame (at most a quarter of the budget) more
 * than strictly needed. */
static void drop_behind_head(struct bmc_queue *q, size_t excess, struct bmc_drops *d)
{
	size_t first = bmc_queue_head_len(q);
	size_t at = q->head + first;
	size_t want = excess > first ? excess : first;
	size_t freed = 0;

	while (freed < want && at + freed < q->len) {
		const uint8_t *f = q->data + at + freed;
		size_t n = BMC_FRAME_HDR + bmc_get_be32(f);
		count_drop(f, n, d);
		freed += n;
	}
	if (!freed)
		return;
	memmove(q->data + q->head + freed, q->data + q->head, first);
	q->head += freed;
}

bool bmc_queue_make_room(struct bmc_queue *q, size_t reserve, struct bmc_drops *d)
{
	if (bmc_queue_used(q) + reserve <= q->limit)
		return true;
	if (q->written) {
		drop_behind_head(q, bmc_queue_used(q) + reserve - q->limit, d);
	} else {
		while (!bmc_queue_empty(q) && bmc_queue_used(q) + reserve > q->limit)
			bmc_queue_drop_head(q, d);
	}
	return bmc_queue_used(q) + reserve <= q->limit;
}

/* Room for n more bytes at the end: move the live bytes to the start when
 * they are no more than the dead ones before them (so each byte is moved
 * at most once per byte consumed), else grow, never past 2 * limit. */
static int ensure_tail(struct bmc_queue *q, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (q->cap - q->len >= n)
		return 0;
	if (q->head && q->head >= bmc_queue_used(q)) {
		memmove(q->data, q->data + q->head, bmc_queue_used(q));
		q->len -= q->head;
		q->head = 0;
		if (q->cap - q->len >= n)
			return 0;
	}
	cap = q->cap ? q->cap : QUEUE_MIN_CAP;
	while (cap < q->len + n)
		cap *= 2;
	if (cap > 2 * q->limit)
		cap = q->len + n > 2 * q->limit ? q->len + n : 2 * q->limit;
	p = realloc(q->data, cap);
	if (!p)
		return BM_ENOMEM;
	q->data = p;
	q->cap = cap;
	return 0;
}

int bmc_queue_push(struct bmc_queue *q, const void *a, size_t na, const void *b, size_t nb,
		   size_t reserve, struct bmc_drops *d)
{
	size_t n = na + nb;
	int rc;

	/* one that can never fit must not flush out everything else first */
	if (reserve + n > q->limit || !bmc_queue_make_room(q, reserve + n, d)) {
		count_drop(a, n, d);
		return BM_EAGAIN;
	}
	rc = ensure_tail(q, n);
	if (rc)
		return rc;
	memcpy(q->data + q->len, a, na);
	if (nb)
		memcpy(q->data + q->len + na, b, nb);
	q->len += n;
	return 0;
}

size_t bmc_queue_consumed(struct bmc_queue *q, size_t n)
{
	size_t frames = 0;

	q->written += n;
	while (!bmc_queue_empty(q) && q->written >= bmc_queue_head_len(q)) {
		size_t len = bmc_queue_head_len(q);
		q->written -= len;
		q->head += len;
		frames++;
	}
	reset_if_empty(q);
	return frames;
}
