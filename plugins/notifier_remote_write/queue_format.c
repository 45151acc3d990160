/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The queue's records (see queue_format.h) and the batches the writer
 * builds them in. Varints are LEB128 as protobuf's (protobuf-c keeps its
 * own private, so the few lines are here).
 */
#include "queue_format.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t rwq_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int put_uvarint(struct bm_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	return bm_buf_append(b, tmp, n);
}

static bool get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t c = *(*p)++;
		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

static int put_string(struct bm_buf *b, const char *s)
{
	size_t n = strlen(s);
	int rc = put_uvarint(b, n);
	return rc ? rc : bm_buf_append(b, s, n);
}

/* Reserve a record header at the end of b; rwq_rec_close fills it. */
static int rec_open(struct bm_buf *b)
{
	static const uint8_t zero[RWQ_REC_HEADER];
	return bm_buf_append(b, zero, sizeof(zero));
}

void rwq_rec_close(struct bm_buf *b, size_t mark, enum rwq_rec_type type)
{
	uint8_t *h = (uint8_t *)b->data + mark;
	uint32_t len = (uint32_t)(b->len - mark - 8); /* type + payload */
	h[8] = (uint8_t)type;
	put_le32(h, len);
	put_le32(h + 4, (uint32_t)crc32(0L, h + 8, len));
}

/* ---- batches ---------------------------------------------------------- */

int rwq_batch_series(struct rwq_batch *b, uint64_t ref, const struct bm_label *l, size_t n)
{
	size_t mark = b->series.len;
	int rc = rec_open(&b->series);
	rc = rc ? rc : put_uvarint(&b->series, ref);
	rc = rc ? rc : put_uvarint(&b->series, n);
	for (size_t i = 0; !rc && i < n; i++) {
		rc = put_string(&b->series, l[i].name);
		rc = rc ? rc : put_string(&b->series, l[i].value);
	}
	if (rc) {
		b->series.len = mark;
		return rc;
	}
	rwq_rec_close(&b->series, mark, RWQ_REC_SERIES);
	return 0;
}

int rwq_batch_sample(struct rwq_batch *b, uint64_t ref, int64_t ts_ms, double v)
{
	size_t mark = b->samples.len;
	int rc = mark ? 0 : rec_open(&b->samples);
	/* the delta in two's complement, zigzagged: wraps are exact */
	uint64_t d = (uint64_t)ts_ms - (uint64_t)b->prev_ts;
	rc = rc ? rc : put_uvarint(&b->samples, ref);
	rc = rc ? rc : put_uvarint(&b->samples, d << 1 ^ (uint64_t)((int64_t)d >> 63));
	uint8_t raw[8];
	memcpy(raw, &v, sizeof(raw)); /* little-endian hosts only, as the ABI's build_sig */
	rc = rc ? rc : bm_buf_append(&b->samples, raw, sizeof(raw));
	if (rc) {
		b->samples.len = mark;
		return rc;
	}
	b->max_ts = !b->n || ts_ms > b->max_ts ? ts_ms : b->max_ts;
	b->prev_ts = ts_ms;
	b->n++;
	return 0;
}

void rwq_batch_reset(struct rwq_batch *b)
{
	bm_buf_reset(&b->series);
	bm_buf_reset(&b->samples);
	b->n = 0;
	b->prev_ts = 0;
	b->max_ts = INT64_MIN;
}

void rwq_batch_free(struct rwq_batch *b)
{
	bm_buf_free(&b->series);
	bm_buf_free(&b->samples);
	memset(b, 0, sizeof(*b));
}

/* ---- parsing ---------------------------------------------------------- */

/* The record at p: 1, 0 when avail does not hold all of it, -1 damaged. */
int rwq_rec_at(const uint8_t *p, size_t avail, struct rwq_rec *r)
{
	if (avail < RWQ_REC_HEADER)
		return 0;
	uint32_t len = rwq_get_le32(p);
	if (len < 1 || len > RWQ_REC_MAX)
		return -1;
	if (avail < (size_t)len + 8)
		return 0;
	if ((uint32_t)crc32(0L, p + 8, len) != rwq_get_le32(p + 4))
		return -1;
	r->type = (enum rwq_rec_type)p[8];
	r->p = p + RWQ_REC_HEADER;
	r->end = p + 8 + len;
	r->size = (size_t)len + 8;
	return r->type == RWQ_REC_SERIES || r->type == RWQ_REC_SAMPLES ? 1 : -1;
}

/* 1 with the next sample, 0 at the end, -1 damaged. */
int rwq_sample_next(struct rwq_sample_iter *it, uint64_t *ref, int64_t *ts, double *v)
{
	uint64_t z;
	if (it->p == it->end)
		return 0;
	if (!get_uvarint(&it->p, it->end, ref) || !get_uvarint(&it->p, it->end, &z) ||
	    it->end - it->p < 8)
		return -1;
	it->ts = (int64_t)((uint64_t)it->ts + ((z >> 1) ^ (0 - (z & 1))));
	*ts = it->ts;
	memcpy(v, it->p, sizeof(*v));
	it->p += 8;
	return 1;
}

/* The series a series record names, and its ref. NULL when damaged or
 * out of memory. */
struct rw_series *rwq_series_of(const struct rwq_rec *r, uint64_t *ref)
{
	const uint8_t *p = r->p;
	uint64_t n;
	if (!get_uvarint(&p, r->end, ref) || !get_uvarint(&p, r->end, &n) || n > 4096 || !*ref)
		return NULL;
	/* the labels, then NUL-terminated copies of their strings */
	size_t head = (size_t)n * sizeof(struct bm_label);
	struct bm_label *l = malloc(head + (size_t)(r->end - p) + 2 * (size_t)n + 1);
	char *t = l ? (char *)l + head : NULL;
	bool ok = l != NULL;
	for (uint64_t i = 0; ok && i < 2 * n; i++) {
		uint64_t len;
		ok = get_uvarint(&p, r->end, &len) && len <= (uint64_t)(r->end - p);
		if (!ok)
			break;
		memcpy(t, p, len);
		t[len] = '\0';
		*(i & 1 ? &l[i / 2].value : &l[i / 2].name) = t;
		t += len + 1;
		p += len;
	}
	struct rw_series *s = ok ? rw_series_new(l, n) : NULL;
	free(l);
	return s;
}
