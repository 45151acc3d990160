/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rollup tiers (see store_rollup.h). Counter increase within a bucket:
 * each sample adds v - prev, or v itself when v < prev (the counter was
 * reset and restarted from zero), as Prometheus' increase() does.
 */
#include "store_rollup.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_err.h"
#include "store_codec.h"

const struct rollup_tier_def rollup_tiers[ROLLUP_TIERS] = {
	{"1m", 60000, 30},   /* a block is half an hour */
	{"1h", 3600000, 12}, /* a block is half a day */
};

void bucket_from_sample(struct bucket *b, int64_t ts, double v, double prev, bool has_prev)
{
	b->start = ts;
	b->v[RC_MIN] = b->v[RC_MAX] = b->v[RC_SUM] = b->v[RC_LAST] = v;
	b->v[RC_COUNT] = 1;
	b->v[RC_INCREASE] = !has_prev ? 0 : v >= prev ? v - prev : v;
}

void bucket_merge(struct bucket *acc, const struct bucket *b)
{
	if (acc->v[RC_COUNT] == 0) {
		int64_t start = acc->start;
		*acc = *b;
		acc->start = start;
		return;
	}
	acc->v[RC_MIN] = fmin(acc->v[RC_MIN], b->v[RC_MIN]);
	acc->v[RC_MAX] = fmax(acc->v[RC_MAX], b->v[RC_MAX]);
	acc->v[RC_SUM] += b->v[RC_SUM];
	acc->v[RC_COUNT] += b->v[RC_COUNT];
	acc->v[RC_LAST] = b->v[RC_LAST];
	acc->v[RC_INCREASE] += b->v[RC_INCREASE];
}

static int64_t floor_to(int64_t ts, int64_t width)
{
	int64_t q = ts / width;
	if (ts % width < 0)
		q--;
	return q * width;
}

static int complete(struct rollup_open *o, const struct rollup_tier_def *def)
{
	if (o->n_done == o->cap_done) {
		uint32_t cap = o->cap_done ? o->cap_done * 2 : 2;
		if (cap > def->block_len)
			cap = def->block_len;
		struct bucket *v = realloc(o->done, cap * sizeof(*v));
		if (!v)
			return BM_ENOMEM;
		o->done = v;
		o->cap_done = cap;
	}
	o->done[o->n_done++] = o->cur;
	o->has_cur = false;
	o->dirty = true; /* only completed buckets are written */
	return 0;
}

/* Fold one sample into tier t; returns 1 when its block became full. */
static int tier_add(struct rollup_open *o, const struct rollup_tier_def *def,
		    const struct bucket *one)
{
	int full = 0;
	int64_t start = floor_to(one->start, def->width_ms);
	if (o->has_cur && o->cur.start != start) {
		if (complete(o, def))
			return BM_ENOMEM;
		full = o->n_done == def->block_len;
	}
	if (!o->has_cur) {
		memset(&o->cur, 0, sizeof(o->cur));
		o->cur.start = start;
		o->has_cur = true;
	}
	bucket_merge(&o->cur, one);
	return full;
}

int rollup_add(struct rollup_series *r, int64_t ts, double v)
{
	struct bucket one;
	int full = 0;
	bucket_from_sample(&one, ts, v, r->prev, r->has_prev);
	for (int t = 0; t < ROLLUP_TIERS; t++) {
		int rc = tier_add(&r->t[t], &rollup_tiers[t], &one);
		if (rc < 0)
			return rc;
		full |= rc << t;
	}
	r->prev = v;
	r->has_prev = true;
	return full;
}

int rollup_replay(struct rollup_series *r, int tier, int64_t ts, double v, double prev,
		  bool has_prev)
{
	struct bucket one;
	bucket_from_sample(&one, ts, v, prev, has_prev);
	int rc = tier_add(&r->t[tier], &rollup_tiers[tier], &one);
	return rc < 0 ? rc : rc << tier;
}

uint32_t rollup_take_block(struct rollup_series *r, int tier, struct bucket **out)
{
	struct rollup_open *o = &r->t[tier];
	uint32_t n = o->n_done;
	*out = o->done;
	o->done = NULL;
	o->n_done = 0;
	o->cap_done = 0;
	return n;
}

uint32_t rollup_snapshot(const struct rollup_series *r, int tier, bool with_cur,
			 struct bucket **out)
{
	const struct rollup_open *o = &r->t[tier];
	bool cur = with_cur && o->has_cur;
	uint32_t n = o->n_done + cur;
	*out = n ? malloc(n * sizeof(**out)) : NULL;
	if (!*out)
		return 0;
	if (o->n_done)
		memcpy(*out, o->done, o->n_done * sizeof(**out));
	if (cur)
		(*out)[o->n_done] = o->cur;
	return n;
}

void rollup_series_free(struct rollup_series *r)
{
	for (int t = 0; t < ROLLUP_TIERS; t++)
		free(r->t[t].done);
	memset(r, 0, sizeof(*r));
}

static int put_uvarint(uint8_t **buf, size_t *len, size_t *cap, uint64_t v)
{
	if (*len + 10 > *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		uint8_t *p = realloc(*buf, c);
		if (!p)
			return BM_ENOMEM;
		*buf = p;
		*cap = c;
	}
	do {
		(*buf)[(*len)++] = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		v >>= 7;
	} while (v);
	return 0;
}

static int get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return BM_EPROTO;
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return BM_EPROTO;
}

int rollup_block_encode(const struct bucket *b, uint32_t n, uint8_t **out, size_t *len)
{
	uint8_t *buf = NULL;
	size_t used = 0, cap = 0;
	int rc = put_uvarint(&buf, &used, &cap, n);
	for (int c = 0; c < RC_N && !rc; c++) {
		struct chunk_enc e;
		chunk_enc_init(&e);
		for (uint32_t i = 0; i < n && !rc; i++)
			rc = chunk_enc_add(&e, b[i].start, b[i].v[c]);
		size_t clen = 0;
		const uint8_t *data = chunk_enc_data(&e, &clen);
		if (!rc)
			rc = put_uvarint(&buf, &used, &cap, clen);
		if (!rc && used + clen > cap) {
			uint8_t *p = realloc(buf, used + clen + 64);
			rc = p ? 0 : BM_ENOMEM;
			if (p) {
				buf = p;
				cap = used + clen + 64;
			}
		}
		if (!rc) {
			memcpy(buf + used, data, clen);
			used += clen;
		}
		chunk_enc_free(&e);
	}
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = used;
	return 0;
}

int rollup_block_decode(const uint8_t *data, size_t len,
			void (*cb)(void *u, const struct bucket *b), void *u)
{
	const uint8_t *p = data, *end = data + len;
	uint64_t n;
	if (get_uvarint(&p, end, &n) || n > len * 8)
		return BM_EPROTO;
	struct bucket *b = calloc(n ? n : 1, sizeof(*b));
	if (!b)
		return BM_ENOMEM;
	int rc = 0;
	for (int c = 0; c < RC_N && !rc; c++) {
		uint64_t clen;
		struct chunk_iter it;
		if (get_uvarint(&p, end, &clen) || clen > (uint64_t)(end - p) ||
		    chunk_iter_init(&it, p, clen)) {
			rc = BM_EPROTO;
			break;
		}
		uint64_t i = 0;
		int64_t ts;
		double v;
		int r;
		while ((r = chunk_iter_next(&it, &ts, &v)) == 1 && i < n) {
			b[i].start = ts;
			b[i++].v[c] = v;
		}
		if (r < 0 || i != n)
			rc = BM_EPROTO;
		p += clen;
	}
	for (uint64_t i = 0; i < n && !rc; i++)
		cb(u, &b[i]);
	free(b);
	return rc;
}
