/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the SDK library: a bounds-checked msgpack reader (cursor)
 * used by the event decoders.
 */
#ifndef BEARMON_SDK_MP_H
#define BEARMON_SDK_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bearmon/bm_event.h"

/* ---------------------------------------------------------------------
 * Not API: the SDK's msgpack reader, compiled only into libbearmon-sdk.a
 * (event_metric.c, event_codec.c). Why a reader of our own instead of
 * msgpack_unpack_next(): see the top of event_metric.c.
 *
 * A cursor over [p, end). Every call checks bounds and returns 0 or
 * BM_EPROTO; on error the cursor position is unspecified.
 * --------------------------------------------------------------------- */
struct bm__mp {
	const uint8_t *p;
	const uint8_t *end;
};

/* Write callback for msgpack_packer (buf.c): appends to buf. The first
 * failure sticks in err and later writes are dropped, so an encoder checks
 * err once at the end instead of after every pack call. */
struct bm__sink {
	struct bm_buf *buf;
	int err;
};
__attribute__((visibility("hidden"))) int bm__sink_write(void *sink, const char *p, size_t n);

static inline size_t bm__mp_left(const struct bm__mp *r) { return (size_t)(r->end - r->p); }

static inline uint64_t bm__mp_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Read the n-byte big-endian length after the marker byte. */
static inline int bm__mp_len(struct bm__mp *r, unsigned n, uint32_t *len)
{
	if (bm__mp_left(r) < 1 + (size_t)n)
		return BM_EPROTO;
	*len = (uint32_t)bm__mp_be(r->p + 1, n);
	r->p += 1 + n;
	return 0;
}

/* True (and consumed) when the next value is nil. */
static inline bool bm__mp_nil(struct bm__mp *r)
{
	if (r->p < r->end && *r->p == 0xc0) {
		r->p++;
		return true;
	}
	return false;
}

/* Array header; *n elements follow. n is checked against the bytes left
 * (every element takes at least one), so callers may size allocations
 * from it. */
static inline int bm__mp_array(struct bm__mp *r, uint32_t *n)
{
	int rc = BM_EPROTO;

	if (r->p >= r->end)
		return BM_EPROTO;
	if ((*r->p & 0xf0) == 0x90) {
		*n = *r->p++ & 0x0f;
		rc = 0;
	} else if (*r->p == 0xdc) {
		rc = bm__mp_len(r, 2, n);
	} else if (*r->p == 0xdd) {
		rc = bm__mp_len(r, 4, n);
	}
	if (rc == 0 && *n > bm__mp_left(r))
		rc = BM_EPROTO;
	return rc;
}

/* Map header; *n key/value pairs follow (checked like bm__mp_array). */
static inline int bm__mp_map(struct bm__mp *r, uint32_t *n)
{
	int rc = BM_EPROTO;

	if (r->p >= r->end)
		return BM_EPROTO;
	if ((*r->p & 0xf0) == 0x80) {
		*n = *r->p++ & 0x0f;
		rc = 0;
	} else if (*r->p == 0xde) {
		rc = bm__mp_len(r, 2, n);
	} else if (*r->p == 0xdf) {
		rc = bm__mp_len(r, 4, n);
	}
	if (rc == 0 && *n > bm__mp_left(r) / 2)
		rc = BM_EPROTO;
	return rc;
}

/* String: *s points into the body (not NUL-terminated), *len bytes. */
static inline int bm__mp_str(struct bm__mp *r, const uint8_t **s, uint32_t *len)
{
	int rc = BM_EPROTO;

	if (r->p >= r->end)
		return BM_EPROTO;
	if ((*r->p & 0xe0) == 0xa0) {
		*len = *r->p++ & 0x1f;
		rc = 0;
	} else if (*r->p >= 0xd9 && *r->p <= 0xdb) {
		rc = bm__mp_len(r, 1u << (*r->p - 0xd9), len);
	}
	if (rc || *len > bm__mp_left(r))
		return BM_EPROTO;
	*s = r->p;
	r->p += *len;
	return 0;
}

/* Any msgpack integer that fits int64_t. */
static inline int bm__mp_i64(struct bm__mp *r, int64_t *v)
{
	uint8_t c;
	unsigned n;
	uint64_t u;

	if (r->p >= r->end)
		return BM_EPROTO;
	c = *r->p;
	if (c <= 0x7f || c >= 0xe0) {
		*v = (int8_t)c;
		r->p++;
		return 0;
	}
	if (c < 0xcc || c > 0xd3)
		return BM_EPROTO;
	n = 1u << ((c - 0xcc) & 3);
	if (bm__mp_left(r) < 1 + (size_t)n)
		return BM_EPROTO;
	u = bm__mp_be(r->p + 1, n);
	r->p += 1 + n;
	if (c <= 0xcf) { /* unsigned */
		if (u > INT64_MAX)
			return BM_EPROTO;
		*v = (int64_t)u;
	} else if (n == 8) {
		*v = (int64_t)u;
	} else { /* sign-extend the n-byte two's complement value */
		unsigned sh = 64 - 8 * n;
		*v = (int64_t)(u << sh) >> sh;
	}
	return 0;
}

/* float64 bit-exact, float32 widened, integers converted. */
static inline int bm__mp_f64(struct bm__mp *r, double *v)
{
	int64_t i;
	int rc;

	if (bm__mp_left(r) >= 9 && *r->p == 0xcb) {
		uint64_t u = bm__mp_be(r->p + 1, 8);
		memcpy(v, &u, sizeof(*v));
		r->p += 9;
		return 0;
	}
	if (bm__mp_left(r) >= 5 && *r->p == 0xca) {
		uint32_t u = (uint32_t)bm__mp_be(r->p + 1, 4);
		float f;
		memcpy(&f, &u, sizeof(f));
		*v = f;
		r->p += 5;
		return 0;
	}
	rc = bm__mp_i64(r, &i);
	if (rc == 0)
		*v = (double)i;
	return rc;
}

static inline int bm__mp_bool(struct bm__mp *r, bool *v)
{
	if (r->p >= r->end || (*r->p != 0xc2 && *r->p != 0xc3))
		return BM_EPROTO;
	*v = *r->p++ == 0xc3;
	return 0;
}

/* Skip n whole values, nested ones included, without recursion: pending
 * counts every value still to skip, and a container adds its children. */
static inline int bm__mp_skip(struct bm__mp *r, uint64_t n)
{
	uint64_t pending = n;

	while (pending) {
		uint8_t c;
		uint64_t body = 0;
		uint32_t len;
		unsigned hdr = 0;

		if (pending > bm__mp_left(r))
			return BM_EPROTO; /* each value takes >= 1 byte */
		pending--;
		c = *r->p;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
			r->p++;
			continue;
		}
		if ((c & 0xf0) == 0x80 || c == 0xde || c == 0xdf) {
			if (bm__mp_map(r, &len))
				return BM_EPROTO;
			pending += 2 * (uint64_t)len;
			continue;
		}
		if ((c & 0xf0) == 0x90 || c == 0xdc || c == 0xdd) {
			if (bm__mp_array(r, &len))
				return BM_EPROTO;
			pending += len;
			continue;
		}
		if ((c & 0xe0) == 0xa0) {
			hdr = 1;
			body = c & 0x1f;
		} else if (c >= 0xcc && c <= 0xd3) {
			hdr = 1;
			body = 1u << ((c - 0xcc) & 3);
		} else if (c == 0xca || c == 0xcb) {
			hdr = 1;
			body = c == 0xca ? 4 : 8;
		} else if (c >= 0xd4 && c <= 0xd8) { /* fixext: type + 2^k bytes */
			hdr = 1;
			body = 1 + (1u << (c - 0xd4));
		} else if ((c >= 0xc4 && c <= 0xc6) || (c >= 0xd9 && c <= 0xdb)) {
			unsigned w = c <= 0xc6 ? 1u << (c - 0xc4) : 1u << (c - 0xd9);
			if (bm__mp_left(r) < 1 + (size_t)w)
				return BM_EPROTO;
			hdr = 1 + w;
			body = bm__mp_be(r->p + 1, w);
		} else if (c >= 0xc7 && c <= 0xc9) { /* ext 8/16/32: len, type, data */
			unsigned w = 1u << (c - 0xc7);
			if (bm__mp_left(r) < 1 + (size_t)w)
				return BM_EPROTO;
			hdr = 1 + w;
			body = bm__mp_be(r->p + 1, w) + 1;
		} else {
			return BM_EPROTO; /* 0xc1: never used */
		}
		if (bm__mp_left(r) < hdr || body > bm__mp_left(r) - hdr)
			return BM_EPROTO;
		r->p += hdr + body;
	}
	return 0;
}

#endif /* BEARMON_SDK_MP_H */
