/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's chunk codec: Gorilla (Pelkonen et al., VLDB 2015) compression
 * of (int64 ms timestamp, float64) samples, tuned for metrics: no timestamp
 * bits while they are regular, runs of repeated samples as one length, and
 * decimal modes that store values such as 12345.67 as Rice-coded deltas of
 * the integers 1234567 instead of XORs of their bit patterns.
 *
 * Chunk layout, version 3 (written; versions 1 and 2 are still read):
 *
 *   u8        version, 3
 *   uvarint   sample count n (LEB128, at most 5 bytes)
 *   if n >= 1:
 *     varint  first timestamp, zigzag then LEB128 (at most 10 bytes)
 *     u8      flags: value mode m in bits 0-5 (0 XOR, 1..19 decimal,
 *             20..29 near decimal), 0x40 regular timestamps, 0x80 zero
 *     regular and n >= 2: varint delta, zigzag (every delta is this one)
 *     m == 0: u64 first value's bit pattern, big-endian
 *     m >= 1: u8 shift s (0..63), varint first k, zigzag;
 *             m >= 20: varint first ulp error, zigzag
 *   bit stream for samples 2..n, most significant bit first, the last byte
 *   padded with zero bits; the reader stops after n samples. Per sample:
 *
 *   timestamp (not in regular chunks): dod = delta - previous delta,
 *   delta = ts - previous ts, both modulo 2^64 (the previous delta of
 *   sample 2 is 0), so any int64 sequence round-trips:
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
 *   value, m >= 1: the value is V(k) for an integer k, |k| <= 2^53 (near
 *   modes: its bit pattern plus an error e, |e| <= 4096, modulo 2^64):
 *     0                 the same bits as the previous value
 *     1 + R(kd) [+ R(e)] kd = (k - previous k) >> s, exact: every delta of
 *                       k in the chunk has s trailing zero bits
 *   R(d) is an adaptive Rice code of z = zigzag(d - p): q = z >> r ones, a
 *   zero, then the r low bits of z; q >= 20: twenty ones, 6 bits w - 1 and
 *   z in w bits. Decoder and encoder keep, per R (one for kd, one for e),
 *   decayed sums A of zigzag(d) and B of zigzag(d - previous d) over the
 *   last 4..8 values (start 16, 16, count N = 1; after 8, all halved): p is
 *   the previous d when B < A (a steady counter), else 0; r is the least
 *   with N * 2^r >= the chosen sum (at most 58).
 *   run: a sample that repeats its predecessor (same bits, dod 0 or a
 *   regular chunk) and was itself preceded by one is followed by an Elias
 *   gamma code of R + 1 (l zeros, then R + 1 in l + 1 bits; R <= 4095):
 *   the next R samples repeat it too and take no bits; the sample after
 *   them is coded in full.
 *   V(k), with d = m / 2 for m <= 19 and d = m - 20 above:
 *     m == 1, m even, m >= 20: (double)k / 10^d    (10^d is exact)
 *     m odd, 3 <= m <= 19:     (double)k * 1e-d    (the double nearest 10^-d)
 *   each one IEEE operation, correctly rounded, so encoder and decoder
 *   compute the same bits.
 * Version 2: no flags byte but a mode byte (0..19), no regular chunks, no
 * shift, no runs: after a repeat (dod and x or kd both 0) one flag bit, 0
 * for another repeat; kd as 0, or 10 + w bits in the current window
 * (w, s), or 11 + 6 bits w - 1 + 6 bits s + w bits, the window starting as
 * (64, 0). Version 1 is version 2 without the mode byte, always XOR.
 *
 * Modes: the encoder starts a chunk in the first value mode, in the order
 * 1..19 (smallest d, then / before *), 20..29, XOR, whose V(k) gives back
 * the first value bit for bit (so -0.0, NaN, +-Inf and |k| > 2^53 are
 * XOR), with regular timestamps and the shift of the first nonzero delta
 * of k. A sample that breaks them (no longer fits the value mode, a
 * second delta, fewer trailing zeros) makes it decode the chunk so far
 * and re-encode it, with that sample, in the modes that fit them all:
 * value modes only move forward, regular only turns off, the shift only
 * shrinks, so a chunk is re-encoded a bounded number of times (in practice
 * once or twice in its first samples; a jittered series at its third);
 * no copy of the samples is kept.
 *
 * Why: most metrics are integers, or integers scaled by a power of ten
 * (jiffies / 100, ms * 1e-3, a 2-decimal gauge), whose binary mantissas
 * are long: XOR costs 6-7 bytes a sample where deltas of k take a few
 * bits. Near decimals are what collectors compute from decimals (a
 * pressure ratio is a parsed 3.06 divided by 100.0, one ulp off 0.0306;
 * rollup sums of 2-decimal values are a few ulps off): 3.85 bytes/sample
 * as XOR, 0.56 as near decimals. From 1024 to 9e6, every double is within
 * 4096 ulps of a 9-place decimal, so noisy floats there take mode 29:
 * NAB's ec2_request_latency 6.84 bytes/sample in XOR, 1.97 so. On the
 * bench's system metrics (1000 series from this host's recording, 240
 * samples a chunk), bits per sample of timestamps and values: version 2
 * 5.1; regular timestamps and the same codes 4.1; Rice codes instead of
 * windows 3.5 (plain Rice without the zero flag 4.8: counters sit still
 * between bursts); runs after two repeats 3.08 (after one 3.12, after
 * four 3.07); the delta-of-delta predictor saves 2.5% (cpu seconds 37%). Chunk
 * payload per sample, version 2 vs 3: 0.718 vs 0.462 bytes; the unit
 * test's recording in chunks of 120: 0.809 vs 0.562.
 *
 * Timestamp buckets: collectors stamp samples with a millisecond clock, so
 * a jittered "1 s" series has deltas of 1000 +- a few ms and dods of a few
 * ms (a jitter of +-J gives dods up to +-4J). Measured over 20,000-sample
 * series (bits per timestamp; Prometheus' 14/17/20 buckets vs these
 * 6/12/20): 1 s +-2 ms 14.4 vs 7.3; 1 s +-5 ms 15.3 vs 7.7; sleep(1 s)
 * drift 12.3 vs 6.3; 1 s with 1% missed scrapes 14.5 vs 7.4; 1 s +-20 ms
 * 15.8 vs 10.0; irregular (exponential gaps) mean 50 ms 15.9 vs 11.7, 1 s
 * 16.0 vs 16.0, 10 s 17.8 vs 22.3, 60 s 20.8 vs 23.7. 7/12/20 is better
 * only for jitter above +-8 ms; 5/10/20 wins at +-2 ms but loses at +-5.
 * A chunk whose timestamps are exact (the store's collectors tick on a
 * schedule; backfills and rollups are exact) pays nothing.
 *
 * XOR windows: the paper always reuses the current window, and then keeps
 * paying for a wide one after one outlier; the encoder opens a new window
 * when that is cheaper (see put_xor).
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

#define CHUNK_VERSION 3
#define MODE_XOR      0
#define MODE_DEC_MAX  19 /* 1..19: exact decimals */
#define MODE_NEAR     20 /* 20..29: near decimals, d = mode - 20 */
#define MODE_MAX      29
#define FLAG_MODE     0x3f
#define FLAG_REGULAR  0x40
#define K_MAX	      9007199254740992.0 /* 2^53: every |k| up to it is exact */
#define NEAR_ERR_MAX  4096		 /* ulps a near decimal may be off */
#define RUN_AFTER     2			 /* repeats in a row before a run length */
#define RUN_MAX	      4095		 /* repeats one run length covers */
#define RUN_ZEROS_MAX 12		 /* leading zeros of the gamma code of RUN_MAX + 1 */
#define RICE_DECAY    8			 /* halve the statistics every 8 deltas */
#define RICE_INIT     16
#define RICE_ESC      20 /* unary length that announces a raw value */
#define RICE_KMAX     58
/* Room for the largest header: version 1 + count 5 + flags 1 + first ts 10
 * + delta 10 + shift 1 + first k 8 + error 2 (or an XOR value 8). The
 * header is written right-aligned against the bit stream. */
#define HDR_MAX 40
/* Bytes past pos that one add may touch: a sample is at most 68 + 2 * 91
 * + 25 bits, plus 31 pending bits, flushed in 4-byte words, plus the
 * 8-byte tail. */
#define ADD_ROOM    56
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

/* Zigzag in unsigned arithmetic: shifting a negative int64 is undefined,
 * and every delta here is an int64 difference taken modulo 2^64. */
static inline uint64_t zigzag(uint64_t u)
{
	return (u << 1) ^ (0 - (u >> 63));
}

static inline uint64_t unzigzag(uint64_t z)
{
	return (z >> 1) ^ (0 - (z & 1));
}

/* The int64 whose two's complement is u, without implementation-defined
 * conversions. */
static inline int64_t to_int64(uint64_t u)
{
	return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* Sign-extend the low b bits of v without shifting a negative number. */
static inline uint64_t sext(uint64_t v, unsigned b)
{
	uint64_t m = 1ull << (b - 1);

	return (v ^ m) - m;
}

/* ---- value modes ---- */

static const double pow10_tab[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
static const double negpow10_tab[10] = {1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9};

static inline int is_near(unsigned mode)
{
	return mode >= MODE_NEAR;
}

/* Decimal places d of a decimal or near-decimal mode, and whether V(k)
 * multiplies by 1e-d instead of dividing by 10^d. */
static inline unsigned mode_places(unsigned mode)
{
	return is_near(mode) ? mode - MODE_NEAR : mode / 2;
}

static inline int mode_mul(unsigned mode)
{
	return !is_near(mode) && mode & 1 && mode > 1;
}

/* V(k) of the layout comment, as a bit pattern; the iterator computes the
 * same from its cached scale. */
static inline uint64_t dec_value(unsigned mode, int64_t k)
{
	unsigned d = mode_places(mode);

	if (mode_mul(mode))
		return double_bits((double)k * negpow10_tab[d]);
	return double_bits((double)k / pow10_tab[d]);
}

/* Whether bits is V(k) (+ err ulps, near modes) for some |k| <= 2^53; the
 * k and err through the pointers. The candidate is the nearest integer to
 * v * 10^d, which is within a few ulps of k: it is k for any |k| below
 * about 2^50, and the compare decides. A k missed above that costs
 * compression, never a value. */
static int mode_fit(unsigned mode, uint64_t bits, int64_t *k, int64_t *err)
{
	double kd;
	uint64_t e;

	*err = 0;
	if (mode == MODE_XOR)
		return 1;
	kd = bits_double(bits) * pow10_tab[mode_places(mode)];
	if (!(kd >= -K_MAX && kd <= K_MAX)) /* and NaN */
		return 0;
	*k = (int64_t)(kd < 0 ? kd - 0.5 : kd + 0.5);
	e = bits - dec_value(mode, *k);
	if (!is_near(mode))
		return e == 0;
	if (e + NEAR_ERR_MAX > 2 * NEAR_ERR_MAX)
		return 0;
	*err = to_int64(e);
	return 1;
}

/* Modes in the order the encoder tries them: decimals, near decimals,
 * XOR; a chunk's mode only moves forward. */
static inline unsigned mode_rank(unsigned mode)
{
	return mode == MODE_XOR ? MODE_MAX + 1 : mode;
}

static inline unsigned rank_mode(unsigned rank)
{
	return rank > MODE_MAX ? MODE_XOR : rank;
}

/* ---- adaptive Rice code (decimal modes) ---- */

/* The Rice parameter for the mean s / n: the smallest p with n * 2^p >= s
 * (at most RICE_KMAX). With 2^(L-1) <= n < 2^L and 2^(M-1) <= s - 1 <
 * 2^M, n * 2^(M-L-1) < s - 1, and n * 2^(M-L+1) >= 2^M > s - 1: p is
 * M - L or one more, found without a division. */
static inline unsigned rice_param(uint64_t s, uint32_t n)
{
	unsigned p;

	if (s <= n)
		return 0;
	p = (64 - (unsigned)__builtin_clzll(s - 1)) - (32 - (unsigned)__builtin_clz(n));
	if (p >= RICE_KMAX)
		return RICE_KMAX;
	return p + (((uint64_t)n << p) < s);
}

static inline void rice_init(struct chunk_rice *r)
{
	*r = (struct chunk_rice){.a = RICE_INIT, .b = RICE_INIT, .n = 1};
}

/* Which predictor codes the next delta: the previous delta when deltas of
 * deltas have been the smaller lately (steady counters), else none. */
static inline int rice_use_prev(const struct chunk_rice *r)
{
	return r->b < r->a;
}

static inline void rice_update(struct chunk_rice *r, uint64_t d)
{
	r->a += zigzag(d);
	r->b += zigzag(d - r->prev);
	r->prev = d;
	if (++r->n >= RICE_DECAY) {
		r->a >>= 1;
		r->b >>= 1;
		r->n >>= 1;
	}
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

/* Rice code of d (modulo 2^64) less its prediction, zigzagged: q ones, a
 * zero and p low bits, where q is the value shifted right by p; or, for
 * q >= 20, twenty ones, 6 bits of the width w - 1 and the value in w bits. */
static inline void put_rice(struct bitw *w, struct chunk_rice *r, uint64_t d)
{
	int prev = rice_use_prev(r);
	uint64_t z = zigzag(d - (prev ? r->prev : 0));
	unsigned p = rice_param(prev ? r->b : r->a, r->n);
	uint64_t q = z >> p;

	if (q < RICE_ESC) {
		uint64_t unary = ((1ull << q) - 1) << 1;

		if (q + 1 + p <= 32)
			put(w, unary << p | (z & ((1ull << p) - 1)), (unsigned)q + 1 + p);
		else {
			put(w, unary, (unsigned)q + 1);
			put64(w, z & ((1ull << p) - 1), p);
		}
	} else {
		unsigned width = 64 - (unsigned)__builtin_clzll(z);

		put(w, ((1u << RICE_ESC) - 1) << 6 | (width - 1), RICE_ESC + 6);
		put64(w, z, width);
	}
	rice_update(r, d);
}

/* Elias gamma code of 1 <= x <= RUN_MAX + 1: l zeros, then x in l + 1 bits. */
static inline void put_gamma(struct bitw *w, unsigned x)
{
	unsigned l = 31 - (unsigned)__builtin_clz(x);

	put(w, x, 2 * l + 1);
}

/* A decimal mode's value: 0 when it repeats the last one, else 1 and the
 * delta of k shifted right by the chunk's shift (and, near, the error). */
static inline void put_decimal(struct bitw *w, struct chunk_enc *e, uint64_t bits, int64_t k,
			       int64_t err)
{
	uint64_t kd = (uint64_t)k - (uint64_t)e->last_k;

	if (bits == e->last_bits) {
		put(w, 0, 1);
		return;
	}
	put(w, 1, 1);
	if (kd && !e->shift_set) {
		/* the first nonzero delta sets the shift; zeros before it did
		 * not depend on it */
		e->shift = (uint8_t)__builtin_ctzll(kd);
		e->shift_set = 1;
	}
	put_rice(w, &e->kr, sext(kd >> e->shift, 64 - e->shift));
	if (is_near(e->mode))
		put_rice(w, &e->er, (uint64_t)err);
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

/* Write the header's fields after the count right-aligned against the bit
 * stream: they change with the first sample, the second (the regular
 * delta) and the first nonzero delta of k (the shift). */
static void enc_put_fixed(struct chunk_enc *e)
{
	uint8_t tmp[HDR_MAX];
	size_t n = 0;

	n += put_uvarint(tmp, zigzag((uint64_t)e->first_ts));
	tmp[n++] = (uint8_t)(e->mode | (e->regular ? FLAG_REGULAR : 0));
	if (e->regular && e->count >= 2)
		n += put_uvarint(tmp + n, zigzag(e->last_delta));
	if (e->mode == MODE_XOR) {
		store_be64(tmp + n, e->first_bits);
		n += 8;
	} else {
		tmp[n++] = e->shift;
		n += put_uvarint(tmp + n, zigzag((uint64_t)e->first_k));
		if (is_near(e->mode))
			n += put_uvarint(tmp + n, zigzag((uint64_t)e->first_err));
	}
	e->fixed = HDR_MAX - n;
	memcpy(e->buf + e->fixed, tmp, n);
}

/* Rewrite version and count in front of the fixed fields; the count's
 * length grows now and then, so the header's start moves back. */
static void enc_put_count(struct chunk_enc *e)
{
	size_t n = 1;

	for (uint32_t c = e->count; c >= 0x80; c >>= 7)
		n++;
	e->hdr = e->fixed - n - 1;
	e->buf[e->hdr] = CHUNK_VERSION;
	put_uvarint(e->buf + e->hdr + 1, e->count);
}

/* The per-chunk state of an empty encoder: modes as open as they get. */
static void enc_reset(struct chunk_enc *e)
{
	e->regular = 1;
	e->shift = 0;
	e->shift_set = 0;
	e->lead = 0;
	e->sig = 64;
	e->repeats = 0;
	e->run_open = 0;
	rice_init(&e->kr);
	rice_init(&e->er);
}

void chunk_enc_init(struct chunk_enc *e)
{
	memset(e, 0, sizeof(*e));
	enc_reset(e);
}

static inline struct bitw enc_writer(struct chunk_enc *e, size_t pos, uint64_t acc, unsigned n)
{
	return (struct bitw){e->buf + HDR_MAX + pos, acc, n};
}

/* Code one sample after the first: its timestamp (unless regular) and
 * value, or, inside a run of repeats, only the run's new length. Returns
 * the writer after it. */
static struct bitw enc_sample(struct chunk_enc *e, uint64_t dod, uint64_t bits, int64_t k,
			      int64_t err)
{
	struct bitw w = enc_writer(e, e->pos, e->acc, e->nacc);
	int repeat = dod == 0 && bits == e->last_bits;

	if (e->run_open) {
		if (repeat && e->run_len < RUN_MAX) {
			/* rewrite the run's length code in place */
			w = enc_writer(e, e->run_pos, e->run_acc, e->run_nacc);
			put_gamma(&w, ++e->run_len + 1u);
			return w;
		}
		e->run_open = 0; /* its length code is final */
	}
	if (!e->regular)
		put_dod(&w, dod);
	if (e->mode == MODE_XOR)
		put_xor(&w, e, bits ^ e->last_bits);
	else
		put_decimal(&w, e, bits, k, err);
	if (!repeat) {
		e->repeats = 0;
	} else if (++e->repeats >= RUN_AFTER) {
		e->repeats = 0;
		e->run_open = 1;
		e->run_len = 0;
		e->run_pos = (size_t)(w.p - (e->buf + HDR_MAX));
		e->run_acc = w.acc;
		e->run_nacc = w.n;
		put_gamma(&w, 1);
	}
	return w;
}

/* Append a sample that fits the chunk's modes; k and err are its integer
 * and ulp error in a decimal mode (the caller checked that it fits). */
static int enc_append(struct chunk_enc *e, int64_t ts_ms, uint64_t bits, int64_t k, int64_t err)
{
	uint64_t delta;
	uint8_t shift_set = e->shift_set;
	struct bitw w;
	int rc;

	rc = enc_reserve(e);
	if (rc)
		return rc;
	if (e->count == 0) {
		e->first_ts = ts_ms;
		e->first_bits = bits;
		e->first_k = k;
		e->first_err = err;
		goto done;
	}
	delta = (uint64_t)ts_ms - (uint64_t)e->last_ts;
	if (e->count == 1 && e->regular)
		e->last_delta = delta; /* the regular delta: no dod to code */
	w = enc_sample(e, delta - e->last_delta, bits, k, err);
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
	if (e->count <= 2 || shift_set != e->shift_set)
		enc_put_fixed(e);
	enc_put_count(e);
	return 0;
}

/* The chunk's modes for samples ts[0..n), vb[0..n), no earlier than those
 * of e: the first value mode that fits every value, regular timestamps
 * while every delta is the same, and the shift that every delta of k
 * has. Sets them in ne, a fresh encoder. */
static void enc_pick_modes(const struct chunk_enc *e, struct chunk_enc *ne, const int64_t *ts,
			   const uint64_t *vb, size_t n)
{
	unsigned rank, mode = MODE_XOR, tz = 64;
	int64_t k = 0, prev_k = 0, err;
	size_t i;

	for (rank = mode_rank(e->mode); rank <= MODE_MAX; rank++) {
		mode = rank_mode(rank);
		/* the newest value rules out most modes at once */
		if (!mode_fit(mode, vb[n - 1], &k, &err))
			continue;
		for (i = 0; i + 1 < n && mode_fit(mode, vb[i], &k, &err); i++)
			;
		if (i + 1 == n)
			break;
	}
	ne->mode = (uint8_t)rank_mode(rank);
	for (i = 2; i < n && ne->regular; i++)
		ne->regular =
		    (uint64_t)ts[i] - (uint64_t)ts[i - 1] == (uint64_t)ts[1] - (uint64_t)ts[0];
	for (i = 0; i < n && ne->mode != MODE_XOR; i++) {
		(void)mode_fit(ne->mode, vb[i], &k, &err);
		if (i && k != prev_k &&
		    (unsigned)__builtin_ctzll((uint64_t)k - (uint64_t)prev_k) < tz)
			tz = (unsigned)__builtin_ctzll((uint64_t)k - (uint64_t)prev_k);
		prev_k = k;
	}
	ne->shift_set = tz < 64;
	ne->shift = (uint8_t)(tz < 64 ? tz : 0);
}

/* The sample (ts_ms, bits) does not fit the chunk's modes: decode the
 * chunk, pick the modes that fit every sample and the new one, and encode
 * them all again into a new encoder, which replaces e only when
 * everything succeeded. */
static int enc_rebuild(struct chunk_enc *e, int64_t ts_ms, uint64_t bits)
{
	size_t n = (size_t)e->count + 1, len, i = 0;
	int64_t *ts = malloc(n * sizeof(*ts)), k = 0, err;
	uint64_t *vb = malloc(n * sizeof(*vb));
	struct chunk_enc ne;
	struct chunk_iter it;
	const uint8_t *data;
	double v = 0;
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
	chunk_enc_init(&ne);
	enc_pick_modes(e, &ne, ts, vb, n);
	for (i = 0; i < n && !rc; i++) {
		(void)mode_fit(ne.mode, vb[i], &k, &err);
		rc = enc_append(&ne, ts[i], vb[i], k, err);
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
	uint64_t bits = double_bits(v), kd;
	int64_t k = 0, err = 0;
	unsigned rank;

	if (e->count == UINT32_MAX)
		return BM_ERANGE;
	if (e->count == 0) {
		/* the first mode that fits; the modes are written with the
		 * first sample, so a failed add leaves nothing behind */
		enc_reset(e);
		for (rank = 1; !mode_fit(rank_mode(rank), bits, &k, &err); rank++)
			;
		e->mode = (uint8_t)rank_mode(rank);
		return enc_append(e, ts_ms, bits, k, err);
	}
	if (e->regular && e->count >= 2 && (uint64_t)ts_ms - (uint64_t)e->last_ts != e->last_delta)
		return enc_rebuild(e, ts_ms, bits);
	if (!mode_fit(e->mode, bits, &k, &err))
		return enc_rebuild(e, ts_ms, bits);
	kd = (uint64_t)k - (uint64_t)e->last_k;
	if (e->mode != MODE_XOR && e->shift_set && kd && __builtin_ctzll(kd) < e->shift)
		return enc_rebuild(e, ts_ms, bits);
	return enc_append(e, ts_ms, bits, k, err);
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

/* Version 2's delta of k: 0, or 10 and the window's bits, or 11, a new
 * window and its bits. */
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

static inline uint64_t get_rice(struct chunk_iter *it, struct chunk_rice *r)
{
	int prev = rice_use_prev(r);
	unsigned p = rice_param(prev ? r->b : r->a, r->n), q;
	uint64_t z, d;

	need(it, RICE_ESC + 6);
	q = (unsigned)__builtin_clzll(~it->win | (1ull << (63 - RICE_ESC)));
	if (q < RICE_ESC) {
		take(it, q + 1);
		z = (uint64_t)q << p | (p ? take64(it, p) : 0);
	} else {
		take(it, RICE_ESC);
		z = take64(it, (unsigned)take(it, 6) + 1);
	}
	d = unzigzag(z) + (prev ? r->prev : 0);
	rice_update(r, d);
	return d;
}

static inline int get_gamma(struct chunk_iter *it, uint32_t *x)
{
	unsigned l;

	need(it, 2 * RUN_ZEROS_MAX + 1);
	l = (unsigned)__builtin_clzll(it->win | (1ull << (62 - RUN_ZEROS_MAX)));
	if (l > RUN_ZEROS_MAX)
		return BM_EPROTO;
	*x = (uint32_t)take(it, 2 * l + 1);
	return *x > RUN_MAX + 1 ? BM_EPROTO : 0;
}

/* V(k), as dec_value() computes it. */
static inline uint64_t iter_value(const struct chunk_iter *it)
{
	double v = (double)to_int64(it->k);

	return double_bits(it->mul ? v * it->scale : v / it->scale);
}

static int iter_header(struct chunk_iter *it, const uint8_t **pp, const uint8_t *end,
		       uint64_t count)
{
	const uint8_t *p = *pp;
	uint64_t ts, u;
	unsigned flags = it->version == 3 ? 0 : MODE_XOR;

	if (get_uvarint(&p, end, &ts))
		return BM_EPROTO;
	if (it->version == 3) {
		if (p == end || *p & ~(FLAG_MODE | FLAG_REGULAR) || (*p & FLAG_MODE) > MODE_MAX)
			return BM_EPROTO;
		flags = *p++;
		it->regular = !!(flags & FLAG_REGULAR);
		if (it->regular && count >= 2) {
			if (get_uvarint(&p, end, &u))
				return BM_EPROTO;
			it->delta = unzigzag(u);
		}
	} else if (it->version == 2) {
		if (p == end || *p > MODE_DEC_MAX)
			return BM_EPROTO;
		flags = *p++;
	}
	it->ts = unzigzag(ts);
	it->mode = (uint8_t)(flags & FLAG_MODE);
	if (it->mode == MODE_XOR) {
		if (end - p < 8)
			return BM_EPROTO;
		it->bits = load_be64(p);
		*pp = p + 8;
		return 0;
	}
	if (it->version == 3) {
		if (p == end || *p > 63)
			return BM_EPROTO;
		it->kshift = *p++;
	}
	if (get_uvarint(&p, end, &u))
		return BM_EPROTO;
	it->k = unzigzag(u);
	it->mul = (uint8_t)mode_mul(it->mode);
	it->scale = (it->mul ? negpow10_tab : pow10_tab)[mode_places(it->mode)];
	it->bits = iter_value(it);
	if (is_near(it->mode)) {
		if (get_uvarint(&p, end, &u))
			return BM_EPROTO;
		it->bits += unzigzag(u);
	}
	*pp = p;
	return 0;
}

int chunk_iter_init(struct chunk_iter *it, const uint8_t *data, size_t len)
{
	const uint8_t *p = data, *end = data + len;
	uint64_t count, per_bit;

	memset(it, 0, sizeof(*it));
	it->err = BM_EPROTO; /* until the header checks out */
	if (len < 2)
		return BM_EPROTO;
	it->version = *p++;
	if (it->version < 1 || it->version > CHUNK_VERSION)
		return BM_EPROTO;
	if (get_uvarint(&p, end, &count) || count > UINT32_MAX)
		return BM_EPROTO;
	if (count > 0) {
		if (iter_header(it, &p, end, count))
			return BM_EPROTO;
		/* A sample takes at least one bit, but in version 3 a run of
		 * up to RUN_MAX repeats follows two bits: a count the data
		 * cannot hold is corrupt, and this bounds every loop over the
		 * chunk. */
		per_bit = it->version == 3 ? (RUN_MAX + 1) / 2 : 1;
		if ((count - 1) / per_bit > (uint64_t)(end - p) * 8)
			return BM_EPROTO;
	}
	it->p = p;
	it->end = end;
	it->count = (uint32_t)count;
	it->left = (uint32_t)count;
	it->sig = 64;
	it->kwidth = 64;
	rice_init(&it->kr);
	rice_init(&it->er);
	it->err = 0;
	return 0;
}

/* Version 1 and 2: a repeat flag after a repeat, dod, XOR or windowed
 * delta of k. */
static int next_v2(struct chunk_iter *it)
{
	uint64_t dod, x;
	int rc;

	if (it->repeat) {
		need(it, 1);
		if (!take(it, 1)) {
			it->ts += it->delta;
			return 0;
		}
	}
	dod = get_dod(it);
	rc = it->mode == MODE_XOR ? get_xor(it, &x) : get_kdelta(it, &x);
	if (rc)
		return rc;
	it->delta += dod;
	it->ts += it->delta;
	if (it->mode == MODE_XOR)
		it->bits ^= x;
	else if (x) {
		it->k += x;
		it->bits = iter_value(it);
	}
	it->repeat = dod == 0 && x == 0;
	return 0;
}

/* Version 3's value: XOR, or 0 for a repeat, else 1, the Rice-coded delta
 * of k and, near, the error. Returns whether it repeats the last one. */
static inline int get_value3(struct chunk_iter *it, int *same)
{
	uint64_t x = 0;
	int rc;

	if (it->mode == MODE_XOR) {
		rc = get_xor(it, &x);
		it->bits ^= x;
		*same = x == 0;
		return rc;
	}
	need(it, 1);
	*same = !take(it, 1);
	if (*same)
		return 0;
	it->k += get_rice(it, &it->kr) << it->kshift;
	it->bits = iter_value(it);
	if (is_near(it->mode))
		it->bits += get_rice(it, &it->er);
	return 0;
}

/* Version 3: runs of repeats, timestamps only when irregular. */
static int next_v3(struct chunk_iter *it)
{
	uint64_t dod = 0;
	uint32_t run = 1;
	int rc, same;

	if (it->run_left) {
		it->run_left--;
		it->ts += it->delta;
		return 0;
	}
	if (!it->regular) {
		dod = get_dod(it);
		it->delta += dod;
	}
	rc = get_value3(it, &same);
	if (rc)
		return rc;
	it->ts += it->delta;
	if (!(same && dod == 0)) {
		it->repeat = 0;
	} else if (++it->repeat >= RUN_AFTER) {
		it->repeat = 0;
		rc = get_gamma(it, &run);
		it->run_left = run - 1;
	}
	return rc;
}

int chunk_iter_next(struct chunk_iter *it, int64_t *ts_ms, double *v)
{
	int rc;

	if (it->err)
		return it->err;
	if (!it->left)
		return 0;
	if (!it->started) {
		it->started = 1;
		goto out;
	}
	rc = it->version == 3 ? next_v3(it) : next_v2(it);
	if (!rc && it->nbits < it->pad) /* used bits from past the end */
		rc = BM_EPROTO;
	if (rc) {
		it->err = rc;
		return rc;
	}
out:
	it->left--;
	*ts_ms = (int64_t)it->ts;
	*v = bits_double(it->bits);
	return 1;
}
