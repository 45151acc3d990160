/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the store's chunk codec and rollup blocks:
 * arbitrary bytes decoded as a chunk and as a rollup block; the same bytes
 * read as (timestamp, value) records, encoded, decoded and compared bit for
 * bit (also after every add, for short inputs: a sample that breaks the
 * chunk's modes re-encodes it), and a strict prefix of that chunk, which
 * must fail; and the records as rollup buckets, through a block and back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_codec.h"
#include "store_rollup.h"

#define MAX_SAMPLES 4096
#define MAX_BUCKETS 512
/* samples per bit a version 3 chunk can hold: two bits open a run of up
 * to 4095 repeats */
#define PER_BIT 2048

/* Decode everything; returns the final rc, the count through *n. */
static int drain(const uint8_t *data, size_t len, size_t *n)
{
	struct chunk_iter it;
	int64_t ts;
	double v;
	int rc;

	*n = 0;
	rc = chunk_iter_init(&it, data, len);
	if (rc)
		return rc;
	while ((rc = chunk_iter_next(&it, &ts, &v)) == 1) {
		if (++*n > len * 8 * PER_BIT + 1)
			abort(); /* more samples than bits allow: a loop that should end */
	}
	if (chunk_iter_next(&it, &ts, &v) != rc)
		abort(); /* the end and errors are sticky */
	return rc;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static const double pow10_tab[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
static const double negpow10_tab[10] = {1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9};

/* With bit 1 of the first byte set, a value field whose top byte is not
 * 0xff is a decimal as collectors make them, so that the encoder's modes
 * and their switches are reached: bits 32..35 pick d, bit 36 k / 10^d or
 * k * 1e-d, bits 40..47 a left shift of the signed 32-bit k (|k| up to
 * and past 2^53), bit 48 one ulp more (a near miss). */
static uint64_t decimal_bits(uint64_t f)
{
	int64_t k = (int64_t)(int32_t)(uint32_t)f;
	unsigned d = (unsigned)(f >> 32 & 0xf) % 10, sh = (unsigned)(f >> 40 & 0xff) % 32;
	double v;
	uint64_t b;

	if (f >> 56 == 0xff)
		return f; /* raw bits: NaN, -0.0, anything */
	k = (int64_t)((uint64_t)k << sh);
	v = f >> 36 & 1 ? (double)k * negpow10_tab[d] : (double)k / pow10_tab[d];
	memcpy(&b, &v, sizeof(b));
	return b + (f >> 48 & 1);
}

/* Decode a chunk and require exactly the first n records. */
static void check(const uint8_t *out, size_t len, const int64_t *ts, const uint64_t *bits, size_t n)
{
	struct chunk_iter it;
	int64_t t;
	double v;

	if (chunk_iter_init(&it, out, len))
		abort();
	for (size_t i = 0; i < n; i++) {
		uint64_t b;

		if (chunk_iter_next(&it, &t, &v) != 1)
			abort();
		memcpy(&b, &v, sizeof(b));
		if (t != ts[i] || b != bits[i])
			abort(); /* what we wrote we must read, bit for bit */
	}
	if (chunk_iter_next(&it, &t, &v) != 0)
		abort();
}

static void count_bucket(void *u, const struct bucket *b)
{
	(void)b;
	++*(size_t *)u;
}

/* Decode data as a rollup block; a block holds at most one bucket per
 * PER_BIT / 6 bits of its smallest chunk, so the count is bounded. */
static void drain_block(const uint8_t *data, size_t len)
{
	size_t n = 0;

	if (rollup_block_decode(data, len, count_bucket, &n) == 0 && n > len * 8 * PER_BIT + 1)
		abort();
}

static int64_t ts[MAX_SAMPLES];
static uint64_t bits[MAX_SAMPLES];

/* Records of 16 bytes: timestamp, then value bits. Flags in the first
 * byte: 1, the timestamp field's low 16 bits are a signed step from the
 * last timestamp, so that jittered series are reachable; 4, the first
 * record's step is kept (regular timestamps) until a record with bit 63 of
 * its timestamp set brings its own; 8, a record whose value's low byte is
 * below 0xc0 repeats the last value (runs); 2, see decimal_bits(). */
static size_t read_records(const uint8_t *data, size_t size)
{
	size_t n = 0;
	uint64_t prev = 0, step = 0;
	int flags = size ? data[0] : 0;

	for (size_t off = 1; off + 16 <= size && n < MAX_SAMPLES; off += 16, n++) {
		uint64_t t = le64(data + off), v = le64(data + off + 8);

		if (flags & 4) {
			if (n == 0 || t >> 63)
				step = (uint64_t)(int64_t)(int16_t)(t & 0xffff);
			t = prev + step;
		} else if (flags & 1)
			t = prev + (uint64_t)(int64_t)(int16_t)(t & 0xffff);
		prev = t;
		ts[n] = (int64_t)t;
		if (flags & 2)
			v = decimal_bits(v);
		bits[n] = n && (flags & 8) && (v & 0xff) < 0xc0 ? bits[n - 1] : v;
	}
	return n;
}

static double as_double(uint64_t b)
{
	double v;

	memcpy(&v, &b, sizeof(v));
	return v;
}

static void collect_bucket(void *u, const struct bucket *b)
{
	struct bucket **p = u;

	*(*p)++ = *b;
}

/* The records as rollup buckets (columns from neighbouring records; with
 * flag 16 max equals last and increase is last's rise, as for a counter),
 * through a block and back bit for bit; a strict prefix must fail. */
static void block_round_trip(size_t n, int flags)
{
	static struct bucket b[MAX_BUCKETS], back[MAX_BUCKETS];
	struct bucket *end = back;
	uint8_t *blob;
	size_t len;

	n = n < MAX_BUCKETS ? n : MAX_BUCKETS;
	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		b[i].start = ts[i];
		for (int c = 0; c < RC_N; c++)
			b[i].v[c] = as_double(bits[(i + (size_t)c) % n]);
		if (flags & 16) {
			b[i].v[RC_MAX] = b[i].v[RC_LAST];
			b[i].v[RC_INCREASE] = i ? b[i].v[RC_LAST] - b[i - 1].v[RC_LAST] : 0;
		}
	}
	if (rollup_block_encode(b, (uint32_t)n, &blob, &len))
		abort();
	if (rollup_block_decode(blob, len, collect_bucket, &end) || (size_t)(end - back) != n)
		abort();
	if (memcmp(b, back, n * sizeof(*b)))
		abort();
	end = back;
	if (rollup_block_decode(blob, flags % len, collect_bucket, &end) == 0)
		abort();
	free(blob);
}

static void round_trip(const uint8_t *data, size_t size)
{
	struct chunk_enc e;
	const uint8_t *out;
	size_t n = read_records(data, size), len, got;

	block_round_trip(n, size ? data[0] : 0);
	chunk_enc_init(&e);
	for (size_t i = 0; i < n; i++) {
		double v;

		memcpy(&v, &bits[i], sizeof(v));
		if (chunk_enc_add(&e, ts[i], v))
			abort();
		if (n <= 64) { /* the open chunk, readable after every add */
			out = chunk_enc_data(&e, &len);
			check(out, len, ts, bits, i + 1);
		}
	}
	out = chunk_enc_data(&e, &len);
	check(out, len, ts, bits, n);
	/* A strict prefix lacks written bits: it must fail, not pass short.
	 * Copied to a buffer of its own size so that ASan sees overreads. */
	if (len > 1) {
		size_t cut = size % len;
		uint8_t *prefix = malloc(cut ? cut : 1);

		if (!prefix)
			abort();
		memcpy(prefix, out, cut);
		if (drain(prefix, cut, &got) == 0)
			abort();
		free(prefix);
	}
	chunk_enc_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;

	(void)drain(data, size, &n);
	drain_block(data, size);
	round_trip(data, size);
	return 0;
}
