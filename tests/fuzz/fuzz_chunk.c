/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the store's chunk codec: arbitrary bytes decoded as
 * a chunk; the same bytes read as (timestamp, value) records, encoded,
 * decoded and compared bit for bit (also after every add, for short
 * inputs: a value that leaves the chunk's decimal mode re-encodes it); and
 * a strict prefix of that chunk, which must fail.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_codec.h"

#define MAX_SAMPLES 4096

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
		if (++*n > len * 8 + 1)
			abort(); /* more samples than bits: a loop that should end */
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

/* Records of 16 bytes: timestamp, then value bits. When the first byte is
 * odd, the timestamp field's low 16 bits are a signed step from the last
 * timestamp, so that regular and jittered series are reachable too. */
static void round_trip(const uint8_t *data, size_t size)
{
	static int64_t ts[MAX_SAMPLES];
	static uint64_t bits[MAX_SAMPLES];
	struct chunk_enc e;
	const uint8_t *out;
	size_t n = 0, len, got;
	uint64_t prev = 0;
	int relative = size && (data[0] & 1), decimal = size && (data[0] & 2);

	for (size_t off = 1; off + 16 <= size && n < MAX_SAMPLES; off += 16, n++) {
		uint64_t t = le64(data + off);

		if (relative)
			t = prev + (uint64_t)(int64_t)(int16_t)(t & 0xffff);
		prev = t;
		ts[n] = (int64_t)t;
		bits[n] = le64(data + off + 8);
		if (decimal)
			bits[n] = decimal_bits(bits[n]);
	}
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
	round_trip(data, size);
	return 0;
}
