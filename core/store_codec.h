/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's compressed chunk codec: Gorilla-style delta-of-delta
 * timestamps (int64 milliseconds; none at all while they are regular) and
 * float64 values, lossless for every bit pattern: values that are all
 * decimals k / 10^d (or k * 1e-d), or within a few ulps of one, are stored
 * as Rice-coded deltas of the integers k, any others XOR-encoded; runs of
 * repeated samples cost a length. The encoder picks the modes per chunk by
 * itself. The byte layout is documented in store_codec.c.
 */
#ifndef BEARMON_CORE_STORE_CODEC_H
#define BEARMON_CORE_STORE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Adaptive Rice statistics of the decimal modes (store_codec.c): decayed
 * sums of the coded magnitudes under each predictor, and their count. */
struct chunk_rice {
	uint64_t a;    /* sum of zigzag(delta) */
	uint64_t b;    /* sum of zigzag(delta - previous delta) */
	uint64_t prev; /* the previous coded delta */
	uint32_t n;
};

/* A double's bit pattern and back (memcpy: no aliasing, no UB): what
 * the codec and the rollup blocks compare and XOR. */
static inline uint64_t double_bits(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	return u;
}

static inline double bits_double(uint64_t u)
{
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

/* An appendable encoder. It owns a growable buffer holding the header and
 * the bit stream; chunk_enc_data() is valid after every add, so a chunk
 * that is still open can be read (and sealed) at any time. Not thread-safe:
 * one writer, and readers only between adds. Memory: this struct (224
 * bytes on 64-bit machines) and the buffer, which holds only the encoded
 * chunk (a 480-sample chunk of 1 s system metrics: about 200 bytes, 256
 * allocated; 1024 for an XOR chunk of noisy floats); a sample that breaks
 * the chunk's modes re-encodes it from the chunk itself. */
struct chunk_enc {
	uint8_t *buf; /* header slot, then the bit stream; NULL while empty */
	size_t cap;
	size_t pos;	/* complete bytes of the bit stream in buf */
	size_t hdr;	/* where the header starts in buf */
	size_t fixed;	/* where the header's fields after the count start */
	size_t run_pos; /* an open run: the stream before its length code */
	uint64_t run_acc;
	uint64_t acc;  /* bits not yet in buf, right-aligned */
	unsigned nacc; /* how many, 0..31 between adds */
	unsigned run_nacc;
	uint32_t count;
	int64_t first_ts;
	int64_t last_ts;
	uint64_t last_delta; /* unsigned: deltas of any int64 pair wrap, never overflow */
	uint64_t first_bits;
	uint64_t last_bits; /* the previous value's bit pattern */
	int64_t first_k;
	int64_t last_k;	      /* decimal modes: the previous value's integer */
	int64_t first_err;    /* near-decimal modes: the first value's ulp error */
	struct chunk_rice kr; /* decimal modes: integer deltas */
	struct chunk_rice er; /* near-decimal modes: ulp errors */
	uint16_t run_len;     /* repeats in the open run */
	uint8_t run_open;
	uint8_t repeats;   /* consecutive repeats before a run opens */
	uint8_t lead;	   /* current XOR window: leading zeros */
	uint8_t sig;	   /* and meaningful bits */
	uint8_t mode;	   /* value mode: 0 XOR, 1..19 decimal, 20..29 near-decimal */
	uint8_t regular;   /* every delta so far is the same: no timestamp bits */
	uint8_t shift;	   /* decimal modes: trailing zero bits of every delta */
	uint8_t shift_set; /* a nonzero delta has fixed shift */
};

void chunk_enc_init(struct chunk_enc *e);
/* Append one sample. Any timestamp is accepted (out of order, duplicate,
 * INT64_MIN..INT64_MAX): ordering is the store's business, not the codec's.
 * Returns 0, BM_ENOMEM, or BM_ERANGE when the chunk holds UINT32_MAX
 * samples. On error the encoder is unchanged. */
int chunk_enc_add(struct chunk_enc *e, int64_t ts_ms, double v);
/* The encoded chunk so far, header included; valid until the next add or
 * free. Never NULL: an empty encoder yields a valid empty chunk. */
const uint8_t *chunk_enc_data(const struct chunk_enc *e, size_t *len);
uint32_t chunk_enc_count(const struct chunk_enc *e);
/* Timestamps of the first and last sample added (0 while empty). */
int64_t chunk_enc_first_ts(const struct chunk_enc *e);
int64_t chunk_enc_last_ts(const struct chunk_enc *e);
/* Release the buffer; the encoder is empty again and may be reused. */
void chunk_enc_free(struct chunk_enc *e);

/* A reader over an encoded chunk. It borrows data, which must outlive it. */
struct chunk_iter {
	const uint8_t *p; /* next byte to load into win */
	const uint8_t *end;
	uint64_t win;	/* bits loaded and not consumed, left-aligned */
	unsigned nbits; /* how many */
	unsigned pad;	/* zero bits past the end of data at win's bottom */
	int err;	/* sticky: once corrupt, always corrupt */
	uint32_t left;	/* samples not yet returned */
	uint32_t count;
	uint32_t run_left; /* version 3: repeats still to return */
	uint64_t ts;
	uint64_t delta;
	uint64_t bits;
	uint64_t k;   /* decimal modes: the current integer */
	double scale; /* its divisor 10^d, or factor 1e-d when mul */
	struct chunk_rice kr;
	struct chunk_rice er;
	uint8_t version;
	uint8_t lead;
	uint8_t sig;
	uint8_t repeat;	 /* version 2: the last sample was a repeat; 3: how many in a row */
	uint8_t started; /* the header's sample has been returned */
	uint8_t mode;
	uint8_t mul;
	uint8_t kwidth;
	uint8_t kshift; /* version 2: window shift; 3: the chunk's shift */
	uint8_t regular;
};

/* Parse the header (versions 1, 2 and 3). Returns 0, or BM_EPROTO for an
 * unknown version or value mode, a truncated header, or a sample count the
 * data cannot possibly hold. */
int chunk_iter_init(struct chunk_iter *it, const uint8_t *data, size_t len);
/* Returns 1 and the next sample, 0 at the end, or BM_EPROTO when the data
 * is corrupt or truncated (and from then on). Reads only inside data and
 * stops after the header's sample count. */
int chunk_iter_next(struct chunk_iter *it, int64_t *ts_ms, double *v);

#endif
