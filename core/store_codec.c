/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's chunk codec: Gorilla (Pelkonen et al., VLDB 2015) compression
 * of (int64 ms timestamp, float64) samples, tuned for millisecond
 * timestamps, with a one-bit code for a sample that repeats the last one,
 * and decimal modes that store values such as 12345.67 as deltas of the
 * integers 1234567 instead of XORs of their bit patterns.
 *
 * Chunk layout, version 2:
 *
 *   u8        version, 2
 *   uvarint   sample count n (LEB128, at most 5 bytes)
 *   if n >= 1:
 *     varint  first timestamp, zigzag then LEB128 (at most 10 bytes)
 *     u8      value mode m: 0 XOR, 1..19 decimal (below)
 *     m == 0: u64 first value's bit pattern, big-endian
 *     m >= 1: varint first value's integer k, zigzag then LEB128
 *   bit stream for samples 2..n, most significant bit first, the last byte
 *   padded with zero bits; the reader stops after n samples. Per sample:
 *
 *   [repeat flag: only after a sample that was a repeat, i.e. whose dod
 *    and x or kdelta (below) were both 0. 0: this sample is a repeat too,
 *    nothing follows. 1: a full sample follows.]
 *   timestamp: dod = delta - previous delta, delta = ts - previous ts,
 *   both modulo 2^64 (the previous delta of sample 2 is 0), so any int64
 *   sequence round-trips:
 *     0                 dod == 0
 *     10   + 6 bits     dod in [-32, 31], two's complement
 *     110  + 12 bits    dod in [-2048, 2047]
 *     1110 + 20 bits    dod in [-524288, 524287]
 *     1111 + 64 bits    any dod
 *   value, m == 0: x = bits XOR previous bits:
 *     0                 x == 0
 *     10 + m bits       x's meaningful bits fit the current window (l, m)
 *     11 + 5 bits l + 6 bits m (0 means 64) + m bits: a new window with l
 *                       leading zeros (at most 31) and m meaningful bits
 *   The window starts as (0, 64), so "10" is valid from the first value.
 *   value, m >= 1: the value is V(k) for an integer k, |k| <= 2^53, and
 *   kdelta = k - previous k:
 *     0                 kdelta == 0
 *     10 + w bits       kdelta = (w-bit two's complement) << s, s and w
 *                       from the current window (w, s)
 *     11 + 6 bits w-1 + 6 bits s + w bits: a new window (w + s <= 64)
 *   The window starts as (64, 0). V(k), with d = m / 2 (0..9):
 *     m == 1 or m even: (double)k / 10^d    (10^d is exact in a double)
 *     m odd, m >= 3:    (double)k * 1e-d    (the double nearest 10^-d)
 *   each one IEEE operation, correctly rounded, so encoder and decoder
 *   compute the same bits. Version 1 is version 2 without the mode byte,
 *   always XOR; it is still read.
 *
 * Decimal modes: most metrics are integers, or integers scaled by a power
 * of ten (jiffies / 100, ms * 1e-3, a 2-decimal gauge). Their binary
 * mantissas are long, so XOR costs 6-7 bytes a sample, while the deltas of
 * k are small. The encoder starts each chunk in the first mode, in the
 * order 1..19 (smallest d, then / before *), whose V(k) gives back the
 * first value bit for bit (so -0.0, NaN, +-Inf and |k| > 2^53 never fit);
 * when a later value does not fit, it decodes the chunk so far and
 * re-encodes it, with that value, in the next mode that fits them all, or
 * XOR. Modes only move up, so a chunk is re-encoded at most 19 times (in
 * practice once or twice in its first samples, or once when a stale NaN
 * ends a series); no copy of the samples is kept. The window with a shift
 * takes the trailing zeros of byte counts that move by whole pages.
 * Measured on this host's metrics recorded by bearmond at 1 s for 17
 * minutes (318 series, 325,314 samples), bytes per sample, version 1
 * (XOR) vs 2: chunks of 120 0.796 vs 0.562, of 1000 0.677 vs 0.477; at
 * 120, the 112 series that moved 1.739 vs 1.166, cpu seconds 2.28 vs 0.64,
 * disk 1.20 vs 0.66, PSI stall totals 2.96 vs 1.31. Left in XOR are
 * floats that are no decimal, such as the pressure ratios (a parsed 3.06
 * divided by 100.0). For the kdelta code, on an early snapshot's moving
 * decimal chunks (bits per sample): this window 6.8, fixed buckets of
 * 5/10/20/36 bits 7.7, the timestamps' 6/12/20 8.9, the window over
 * deltas of deltas 8.1 (counter rates are not smooth; picking the better
 * of the two per chunk would save 4%); a reuse slack from 8 to 20 bits
 * moves the total by under 1%.
 *
 * Why these buckets: collectors stamp samples with a millisecond clock, so
 * a "1 s" series has deltas of 1000 +- a few ms and dods of a few ms (a
 * jitter of +-J gives dods up to +-4J). Measured over 20,000-sample series
 * (bits per timestamp; Prometheus' 14/17/20 buckets vs these 6/12/20):
 *   exact 1 s 1.0 vs 1.0; 1 s +-2 ms 14.4 vs 7.3; 1 s +-5 ms 15.3 vs 7.7;
 *   10 s +-5 ms 15.3 vs 7.7; sleep(1 s) drift 12.3 vs 6.3; 1 s with 1%
 *   missed scrapes 14.5 vs 7.4; 1 s +-20 ms 15.8 vs 10.0; irregular
 *   (exponential gaps) mean 50 ms 15.9 vs 11.7, 1 s 16.0 vs 16.0, 10 s 17.8
 *   vs 22.3, 60 s 20.8 vs 23.7.
 * Regular-with-jitter is the common case and costs half; a missed scrape
 * (dod +-1000) fits 12 bits; irregular series pay a few bits more, which
 * is little next to their values' cost. 7/12/20 is better only for jitter
 * above +-8 ms; 5/10/20 wins at +-2 ms but loses at +-5 ms.
 *
 * The repeat flag is our addition to the paper: plain Gorilla spends 2
 * bits on a sample equal in delta and value to the last, 0.41 bytes per
 * sample for a constant 120-sample chunk once the header is counted; with
 * it a run costs 1 bit per sample (0.28), and the flag costs 1 bit only
 * when a run ends. Series that never repeat never see the flag.
 */
#include "store_codec.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_err.h"

/* V(k) must be one correctly rounded double operation on every machine
 * that reads a chunk: no x87 excess precision. */
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "store_codec.c needs FLT_EVAL_METHOD 0 (SSE2 on x86)"
#endif

#define CHUNK_VERSION 2
#define MODE_XOR      0
#define MODE_MAX      19
#define K_MAX	      9007199254740992.0 /* 2^53: every |k| up to it is exact */
/* Room for the largest header: version 1 + count 5 + first ts 10 + mode 1
 * + first value 10. The header is written right-aligned against the bit
 * stream. */
#define HDR_MAX 27
/* Bytes past pos that one add may touch: a sample is at most 147 bits,
 * plus 31 pending bits, flushed in 4-byte words, plus the 8-byte tail. */
#define ADD_ROOM    32
#define INITIAL_CAP 256

static inline void store_be32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

static inline uint64_t load_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

static uint64_t double_bits(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	return u;
}

static double bits_double(uint64_t u)
{
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

static size_t put_uvarint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Zigzag in unsigned arithmetic: shifting a negative int64 is undefined. */
static uint64_t zigzag(int64_t x)
{
	uint64_t u = (uint64_t)x;
	return (u << 1) ^ (0 - (u >> 63));
}

static int64_t unzigzag(uint64_t z)
{
	return (int64_t)((z >> 1) ^ (0 - (z & 1)));
}

/* Sign-extend the low b bits of v without shifting a negative number. */
static inline uint64_t sext(uint64_t v, unsigned b)
{
	uint64_t m = 1ull << (b - 1);

	return (v ^ m) - m;
}

/* ---- decimal modes ---- */

static const double pow10_tab[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
static const double negpow10_tab[10] = {1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9};

/* V(k) of the layout comment; the decoder's iterator inlines the same. */
static inline double dec_value(unsigned mode, int64_t k)
{
	unsigned d = mode / 2;

	if (mode & 1 && mode > 1)
		return (double)k * negpow10_tab[d];
	return (double)k / pow10_tab[d];
}

/* Whether bits is V(k) for mode and some |k| <= 2^53; the k through *k.
 * The candidate is the nearest integer to v * 10^d, which is within a few
 * ulps of k: it is k for any |k| below about 2^50, and the compare
 * decides. A k missed above that costs compression, never a value. */
static inline int dec_fit(unsigned mode, uint64_t bits, int64_t *k)
{
	double kd = bits_double(bits) * pow10_tab[mode / 2];

	if (!(kd >= -K_MAX && kd <= K_MAX)) /* and NaN */
		return 0;
	*k = (int64_t)(kd < 0 ? kd - 0.5 : kd + 0.5);
	return double_bits(dec_value(mode, *k)) == bits;
}

/* ---- encoder ---- */

/* The bit writer works on locals so that the compiler can keep them in
 * registers: stores through uint8_t pointers may alias anything. */
struct bitw {
	uint8_t *p;
	uint64_t acc;
	unsigned n;
};

/* Append the low n bits of v (n <= 32, v < 2^n). Fewer than 32 bits are
 * pending before the call, so acc never overflows; bits above n in acc are
 * stale and cut off by the casts and shifts that read it. */
static inline void put(struct bitw *w, uint64_t v, unsigned n)
{
	w->acc = (w->acc << n) | v;
	w->n += n;
	if (w->n >= 32) {
		w->n -= 32;
		store_be32(w->p, (uint32_t)(w->acc >> w->n));
		w->p += 4;
	}
}

static inline void put64(struct bitw *w, uint64_t v, unsigned n)
{
	if (n > 32) {
		put(w, v >> 32, n - 32);
		v &= 0xffffffffu;
		n = 32;
	}
	put(w, v, n);
}

static inline void put_dod(struct bitw *w, uint64_t dod)
{
	/* dod + 2^(b-1) < 2^b <=> dod fits b bits signed, modulo 2^64 */
	if (dod == 0)
		put(w, 0, 1);
	else if (dod + 32 < 64)
		put(w, (0x2u << 6) | (dod & 0x3f), 2 + 6);
	else if (dod + 2048 < 4096)
		put(w, (0x6u << 12) | (dod & 0xfff), 3 + 12);
	else if (dod + (1u << 19) < (1u << 20))
		put(w, (0xeu << 20) | (dod & 0xfffff), 4 + 20);
	else {
		put(w, 0xf, 4);
		put64(w, dod, 64);
	}
}

/* Width of the signed value m in two's complement, 1..64. */
static inline unsigned sbits(uint64_t m)
{
	uint64_t x = m ^ (0 - (m >> 63));

	return x ? 65 - (unsigned)__builtin_clzll(x) : 1;
}

static inline void put_kdelta(struct bitw *w, struct chunk_enc *e, uint64_t kd)
{
	unsigned tz, need;
	uint64_t m;

	if (kd == 0) {
		put(w, 0, 1);
		return;
	}
	tz = (unsigned)__builtin_ctzll(kd);
	m = sext(kd >> tz, 64 - tz);
	need = sbits(m);
	/* Reuse the window when kd fits it and that is no dearer than a new
	 * one (2 + w vs 14 + need): the rule of the XOR windows. */
	if (tz >= e->kshift && need + tz - e->kshift <= e->kwidth && e->kwidth <= need + 12) {
		uint64_t p = (kd >> e->kshift) & (~0ull >> (64 - e->kwidth));

		if (e->kwidth <= 30) {
			put(w, (0x2ull << e->kwidth) | p, 2 + e->kwidth);
			return;
		}
		put(w, 0x2, 2);
		put64(w, p, e->kwidth);
		return;
	}
	m &= ~0ull >> (64 - need);
	if (need <= 18)
		put(w, (uint64_t)((0x3u << 12) | ((need - 1) << 6) | tz) << need | m, 14 + need);
	else {
		put(w, (0x3u << 12) | ((need - 1) << 6) | tz, 14);
		put64(w, m, need);
	}
	e->kwidth = (uint8_t)need;
	e->kshift = (uint8_t)tz;
}

static inline void put_xor(struct bitw *w, struct chunk_enc *e, uint64_t x)
{
	unsigned lead, trail, sig, wtrail;

	if (x == 0) {
		put(w, 0, 1);
		return;
	}
	lead = (unsigned)__builtin_clzll(x);
	if (lead > 31)
		lead = 31; /* 5 bits; the rest count as meaningful */
	trail = (unsigned)__builtin_ctzll(x);
	sig = 64 - lead - trail;
	wtrail = 64u - e->lead - e->sig;
	/* Reuse the window when x fits it and that is no dearer than a new
	 * one (2 + window bits vs 13 + sig). The paper always reuses, and
	 * then keeps paying for a wide window after one outlier: a 3600-sample
	 * counter took 2.05 bytes/sample that way, 1.51 with this test, and
	 * gauges 5-7% less. The decoder does not care which is chosen. */
	if (lead >= e->lead && trail >= wtrail && e->sig <= sig + 11) {
		if (e->sig <= 30) {
			put(w, (0x2ull << e->sig) | x >> wtrail, 2 + e->sig);
			return;
		}
		put(w, 0x2, 2);
		put64(w, x >> wtrail, e->sig);
		return;
	}
	if (sig <= 19)
		put(w, (uint64_t)((0x3u << 11) | (lead << 6) | sig) << sig | x >> trail, 13 + sig);
	else {
		put(w, (0x3u << 11) | (lead << 6) | (sig & 0x3f), 13);
		put64(w, x >> trail, sig);
	}
	e->lead = (uint8_t)lead;
	e->sig = (uint8_t)sig;
}

static int enc_reserve(struct chunk_enc *e)
{
	size_t cap;
	uint8_t *buf;

	if (e->cap >= HDR_MAX + e->pos + ADD_ROOM)
		return 0;
	cap = e->cap ? e->cap * 2 : INITIAL_CAP;
	buf = realloc(e->buf, cap);
	if (!buf)
		return BM_ENOMEM;
	e->buf = buf;
	e->cap = cap;
	return 0;
}

/* Rewrite version and count in front of the first timestamp; the count's
 * length grows now and then, so the header's start moves back. */
static void enc_put_count(struct chunk_enc *e)
{
	size_t n = 1;

	for (uint32_t c = e->count; c >= 0x80; c >>= 7)
		n++;
	e->hdr = e->ts_off - n - 1;
	e->buf[e->hdr] = CHUNK_VERSION;
	put_uvarint(e->buf + e->hdr + 1, e->count);
}

/* Write the first timestamp, the mode and the first value right-aligned
 * against the bit stream. */
static void enc_first(struct chunk_enc *e, int64_t ts, uint64_t bits, int64_t k)
{
	uint8_t tmp[10];
	size_t n, vlen = 8;

	if (e->mode == MODE_XOR)
		store_be64(e->buf + HDR_MAX - 8, bits);
	else {
		vlen = put_uvarint(tmp, zigzag(k));
		memcpy(e->buf + HDR_MAX - vlen, tmp, vlen);
	}
	e->buf[HDR_MAX - vlen - 1] = e->mode;
	n = put_uvarint(tmp, zigzag(ts));
	e->ts_off = HDR_MAX - vlen - 1 - n;
	memcpy(e->buf + e->ts_off, tmp, n);
	e->first_ts = ts;
	e->sig = 64;
	e->kwidth = 64;
}

void chunk_enc_init(struct chunk_enc *e)
{
	memset(e, 0, sizeof(*e));
}

/* Append a sample in the chunk's mode; k is its integer in a decimal mode
 * (the caller checked that it fits). */
static int enc_append(struct chunk_enc *e, int64_t ts_ms, uint64_t bits, int64_t k)
{
	uint64_t delta, dod, x = 0;
	struct bitw w;
	int rc, zero;

	rc = enc_reserve(e);
	if (rc)
		return rc;
	if (e->count == 0) {
		enc_first(e, ts_ms, bits, k);
		goto done;
	}
	delta = (uint64_t)ts_ms - (uint64_t)e->last_ts;
	dod = delta - e->last_delta;
	if (e->mode == MODE_XOR)
		x = bits ^ e->last_bits;
	else
		x = (uint64_t)k - (uint64_t)e->last_k;
	zero = dod == 0 && x == 0;
	w = (struct bitw){e->buf + HDR_MAX + e->pos, e->acc, e->nacc};
	if (e->repeat) {
		put(&w, !zero, 1);
		if (zero)
			goto flush;
	}
	put_dod(&w, dod);
	if (e->mode == MODE_XOR)
		put_xor(&w, e, x);
	else
		put_kdelta(&w, e, x);
	e->repeat = (uint8_t)zero;
flush:
	/* The partial word goes into the buffer too, left-aligned, so that
	 * chunk_enc_data() (const) sees every sample. The next flush
	 * overwrites it. */
	if (w.n)
		store_be64(w.p, w.acc << (64 - w.n));
	e->pos = (size_t)(w.p - (e->buf + HDR_MAX));
	e->acc = w.acc;
	e->nacc = w.n;
	e->last_delta = delta;
done:
	e->last_ts = ts_ms;
	e->last_bits = bits;
	e->last_k = k;
	e->count++;
	enc_put_count(e);
	return 0;
}

/* The sample (ts_ms, bits) does not fit the chunk's decimal mode: decode
 * the chunk, pick the next mode that fits every value and the new one (or
 * XOR), and encode them all again into a new encoder, which replaces e
 * only when everything succeeded. */
static int enc_rebuild(struct chunk_enc *e, int64_t ts_ms, uint64_t bits)
{
	size_t n = (size_t)e->count + 1, len, i = 0;
	int64_t *ts = malloc(n * sizeof(*ts)), k = 0;
	uint64_t *vb = malloc(n * sizeof(*vb));
	struct chunk_enc ne;
	struct chunk_iter it;
	const uint8_t *data;
	unsigned mode;
	double v;
	int rc = BM_ENOMEM;

	if (!ts || !vb)
		goto out;
	data = chunk_enc_data(e, &len);
	rc = chunk_iter_init(&it, data, len);
	while (!rc && i + 1 < n && chunk_iter_next(&it, &ts[i], &v) == 1)
		vb[i++] = double_bits(v);
	if (rc || i + 1 != n) {
		rc = BM_EPROTO; /* cannot happen: we wrote it */
		goto out;
	}
	ts[i] = ts_ms;
	vb[i] = bits;
	for (mode = e->mode + 1u; mode <= MODE_MAX; mode++) {
		if (!dec_fit(mode, bits, &k))
			continue; /* the new value rules out most modes at once */
		for (i = 0; i + 1 < n && dec_fit(mode, vb[i], &k); i++)
			;
		if (i + 1 == n)
			break;
	}
	chunk_enc_init(&ne);
	ne.mode = mode <= MODE_MAX ? (uint8_t)mode : MODE_XOR;
	for (i = 0; i < n && !rc; i++) {
		if (ne.mode != MODE_XOR)
			(void)dec_fit(ne.mode, vb[i], &k);
		rc = enc_append(&ne, ts[i], vb[i], k);
	}
	if (rc) {
		chunk_enc_free(&ne);
		goto out;
	}
	free(e->buf);
	*e = ne;
out:
	free(ts);
	free(vb);
	return rc;
}

int chunk_enc_add(struct chunk_enc *e, int64_t ts_ms, double v)
{
	uint64_t bits = double_bits(v);
	int64_t k = 0;
	unsigned mode;

	if (e->count == UINT32_MAX)
		return BM_ERANGE;
	if (e->count == 0) {
		/* the first mode that fits; the mode byte is written with the
		 * first sample, so a failed add leaves nothing behind */
		for (mode = 1; mode <= MODE_MAX && !dec_fit(mode, bits, &k); mode++)
			;
		e->mode = mode <= MODE_MAX ? (uint8_t)mode : MODE_XOR;
	} else if (e->mode != MODE_XOR && !dec_fit(e->mode, bits, &k))
		return enc_rebuild(e, ts_ms, bits);
	return enc_append(e, ts_ms, bits, k);
}

const uint8_t *chunk_enc_data(const struct chunk_enc *e, size_t *len)
{
	static const uint8_t empty[2] = {CHUNK_VERSION, 0};

	if (e->count == 0) {
		*len = sizeof(empty);
		return empty;
	}
	*len = HDR_MAX - e->hdr + e->pos + (e->nacc + 7) / 8;
	return e->buf + e->hdr;
}

uint32_t chunk_enc_count(const struct chunk_enc *e)
{
	return e->count;
}

int64_t chunk_enc_first_ts(const struct chunk_enc *e)
{
	return e->count ? e->first_ts : 0;
}

int64_t chunk_enc_last_ts(const struct chunk_enc *e)
{
	return e->count ? e->last_ts : 0;
}

void chunk_enc_free(struct chunk_enc *e)
{
	free(e->buf);
	chunk_enc_init(e);
}

/* ---- decoder ---- */

static int get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	unsigned shift;

	for (shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		if (shift == 63 && b > 1)
			return BM_EPROTO; /* more than 64 bits */
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return BM_EPROTO;
}

/* Load whole bytes under the consumed bits so at least 56 are ready. Past
 * the end of data the window fills with zeros, counted in pad, so a read
 * never leaves data and a sample that used them is reported corrupt. */
static void refill(struct chunk_iter *it)
{
	if (it->end - it->p >= 8) {
		/* Whole word at once; the bits below the whole bytes belong to
		 * the next byte and are ORed in again, identically, later. */
		unsigned k = (63 - it->nbits) >> 3;

		it->win |= load_be64(it->p) >> it->nbits;
		it->p += k;
		it->nbits += 8 * k;
		return;
	}
	while (it->nbits <= 56 && it->p < it->end) {
		it->win |= (uint64_t)*it->p++ << (56 - it->nbits);
		it->nbits += 8;
	}
	if (it->nbits < 56) {
		it->pad += 56 - it->nbits;
		it->nbits = 56;
	}
}

static inline void need(struct chunk_iter *it, unsigned n)
{
	if (it->nbits < n)
		refill(it);
}

/* Take n bits, 1 <= n <= nbits. */
static inline uint64_t take(struct chunk_iter *it, unsigned n)
{
	uint64_t v = it->win >> (64 - n);

	it->win <<= n;
	it->nbits -= n;
	return v;
}

/* Take n bits, 1 <= n <= 64; a refill guarantees only 56. */
static inline uint64_t take64(struct chunk_iter *it, unsigned n)
{
	uint64_t hi;

	need(it, n <= 56 ? n : 32);
	if (n <= 56)
		return take(it, n);
	hi = take(it, n - 32) << 32;
	need(it, 32);
	return hi | take(it, 32);
}

static inline uint64_t get_dod(struct chunk_iter *it)
{
	static const unsigned char width[4] = {0, 6, 12, 20};
	unsigned ones;

	need(it, 24);
	/* Leading ones of the window, at most 4: the bucket prefix. */
	ones = (unsigned)__builtin_clzll(~it->win | (1ull << 59));
	if (ones == 0) {
		take(it, 1);
		return 0;
	}
	if (ones == 4) {
		take(it, 4);
		return take64(it, 64);
	}
	return sext(take(it, ones + 1 + width[ones]) & ((1u << width[ones]) - 1), width[ones]);
}

static inline int get_xor(struct chunk_iter *it, uint64_t *x)
{
	uint64_t ctl;
	unsigned lead, sig;

	need(it, 13);
	if (!(it->win >> 63)) {
		take(it, 1);
		*x = 0;
		return 0;
	}
	if (!(it->win >> 62 & 1)) {
		take(it, 2);
	} else {
		ctl = take(it, 13);
		lead = (ctl >> 6) & 0x1f;
		sig = ctl & 0x3f;
		if (sig == 0)
			sig = 64;
		if (lead + sig > 64)
			return BM_EPROTO;
		it->lead = (uint8_t)lead;
		it->sig = (uint8_t)sig;
	}
	*x = take64(it, it->sig) << (64 - it->lead - it->sig);
	return 0;
}

static inline int get_kdelta(struct chunk_iter *it, uint64_t *kd)
{
	uint64_t ctl;
	unsigned w, s;

	need(it, 14);
	if (!(it->win >> 63)) {
		take(it, 1);
		*kd = 0;
		return 0;
	}
	if (!(it->win >> 62 & 1)) {
		take(it, 2);
	} else {
		ctl = take(it, 14);
		w = (unsigned)(ctl >> 6 & 0x3f) + 1;
		s = ctl & 0x3f;
		if (w + s > 64)
			return BM_EPROTO;
		it->kwidth = (uint8_t)w;
		it->kshift = (uint8_t)s;
	}
	*kd = sext(take64(it, it->kwidth), it->kwidth) << it->kshift;
	return 0;
}

/* V(k), as dec_value() computes it. */
static inline uint64_t iter_value(const struct chunk_iter *it)
{
	double v = (double)(int64_t)it->k;

	return double_bits(it->mul ? v * it->scale : v / it->scale);
}

int chunk_iter_init(struct chunk_iter *it, const uint8_t *data, size_t len)
{
	const uint8_t *p = data, *end = data + len;
	uint64_t count, ts, k;
	unsigned version;

	memset(it, 0, sizeof(*it));
	it->err = BM_EPROTO; /* until the header checks out */
	if (len < 2)
		return BM_EPROTO;
	version = *p++;
	if (version != 1 && version != 2)
		return BM_EPROTO;
	if (get_uvarint(&p, end, &count) || count > UINT32_MAX)
		return BM_EPROTO;
	if (count > 0) {
		if (get_uvarint(&p, end, &ts))
			return BM_EPROTO;
		it->ts = (uint64_t)unzigzag(ts);
		if (version == 2) {
			if (p == end || *p > MODE_MAX)
				return BM_EPROTO;
			it->mode = *p++;
		}
		if (it->mode == MODE_XOR) {
			if (end - p < 8)
				return BM_EPROTO;
			it->bits = load_be64(p);
			p += 8;
		} else {
			if (get_uvarint(&p, end, &k))
				return BM_EPROTO;
			it->k = (uint64_t)unzigzag(k);
			it->mul = it->mode & 1 && it->mode > 1;
			it->scale = it->mul ? negpow10_tab[it->mode / 2] : pow10_tab[it->mode / 2];
			it->bits = iter_value(it);
		}
		/* A sample takes at least one bit: a count the data cannot
		 * hold is corrupt, and this bounds every loop over the chunk. */
		if (count - 1 > (uint64_t)(end - p) * 8)
			return BM_EPROTO;
	}
	it->p = p;
	it->end = end;
	it->count = (uint32_t)count;
	it->left = (uint32_t)count;
	it->sig = 64;
	it->kwidth = 64;
	it->err = 0;
	return 0;
}

int chunk_iter_next(struct chunk_iter *it, int64_t *ts_ms, double *v)
{
	uint64_t dod, x;
	int rc;

	if (it->err)
		return it->err;
	if (!it->left)
		return 0;
	if (!it->started) {
		it->started = 1;
		goto out;
	}
	if (it->repeat) {
		need(it, 1);
		if (!take(it, 1)) {
			it->ts += it->delta;
			goto check;
		}
	}
	dod = get_dod(it);
	rc = it->mode == MODE_XOR ? get_xor(it, &x) : get_kdelta(it, &x);
	if (rc) {
		it->err = rc;
		return rc;
	}
	it->delta += dod;
	it->ts += it->delta;
	if (it->mode == MODE_XOR)
		it->bits ^= x;
	else if (x) {
		it->k += x;
		it->bits = iter_value(it);
	}
	it->repeat = dod == 0 && x == 0;
check:
	if (it->nbits < it->pad) { /* used bits from past the end */
		it->err = BM_EPROTO;
		return BM_EPROTO;
	}
out:
	it->left--;
	*ts_ms = (int64_t)it->ts;
	*v = bits_double(it->bits);
	return 1;
}
