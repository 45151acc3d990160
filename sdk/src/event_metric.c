/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Codec of the `metric` topic: batches of samples, the bus' hot path.
 * Positional msgpack arrays (see bm_event.h); encoded with msgpack-c's
 * packer, decoded with the SDK's own bounds-checked cursor (bm__mp_*).
 *
 * Why not msgpack_unpack_next() for decoding, measured on the 2-core test
 * machine (gcc 12 -O2, batches of 256 samples with 3 labels, ~90 bytes per
 * sample; tests/unit/event_bench.c prints both figures):
 *  1. Hostile input, the deciding reason. msgpack-c 4.0 allocates
 *     n * sizeof(msgpack_object) as soon as it reads an array or map header,
 *     before it has seen one element. The 7-byte body dd ff ff ff ff a1 78
 *     makes it ask for 128 GiB: plain builds get MSGPACK_UNPACK_NOMEM_ERROR,
 *     AddressSanitizer builds abort ("allocator is out of memory"), and
 *     dd 10 00 00 00 a1 78 grows an ASan build's RSS by 1 GiB. Bodies come
 *     from plugins and from agents over the native protocol, so msgpack-c
 *     would need a validating pre-pass over every body: a hand-written
 *     tokenizer anyway.
 *  2. Speed. msgpack_unpack_next() plus the walk that copies into struct
 *     bm_sample: 9.8-11.0 M samples/s, which meets the bus' 8 M/s on one
 *     core with little to spare for the bus itself. This cursor copies
 *     from the body straight into the arena without an object tree:
 *     31-32 M samples/s, with a check for NUL bytes in strings that the
 *     msgpack-c walk does not even do (36-39 M/s without it).
 * The same cursor serves the other topics (event_codec.c) for reason 1.
 * Encoding stays on msgpack-c's packer: 15-16 M samples/s.
 */

#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "bearmon/bm_event.h"
#include "mp.h"

/* ---------------------------------------------------------------------
 * Encoding
 * --------------------------------------------------------------------- */

static int pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT32_MAX)
		return BM_EINVAL;
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
	return 0;
}

/* A string that may be absent: nil when NULL. */
static int pack_opt_str(msgpack_packer *pk, const char *s)
{
	if (!s) {
		msgpack_pack_nil(pk);
		return 0;
	}
	return pack_str(pk, s);
}

static int pack_meta(msgpack_packer *pk, const struct bm_metric_meta *m)
{
	if (!m->name)
		return BM_EINVAL;
	msgpack_pack_array(pk, 4);
	if (pack_str(pk, m->name))
		return BM_EINVAL;
	msgpack_pack_int(pk, (int)m->type);
	if (pack_opt_str(pk, m->unit) || pack_opt_str(pk, m->help))
		return BM_EINVAL;
	return 0;
}

static int pack_sample(msgpack_packer *pk, const struct bm_sample *s)
{
	if (!s->name || (s->n_labels && !s->labels) || s->n_labels > UINT32_MAX / 2)
		return BM_EINVAL;
	msgpack_pack_array(pk, 4);
	if (pack_str(pk, s->name))
		return BM_EINVAL;
	msgpack_pack_array(pk, 2 * s->n_labels);
	for (uint32_t i = 0; i < s->n_labels; i++) {
		const struct bm_label *l = &s->labels[i];

		if (!l->name || !l->value || pack_str(pk, l->name) || pack_str(pk, l->value))
			return BM_EINVAL;
	}
	msgpack_pack_int64(pk, s->ts_ms);
	/* Always float64 (never msgpack-c's float32 or int shortcuts): the
	 * bits travel unchanged, NaN payloads and -0.0 included. */
	msgpack_pack_double(pk, s->value);
	return 0;
}

int bm_metric_batch_encode(const struct bm_metric_batch *b, struct bm_buf *out)
{
	struct bm__sink sink = { .buf = out };
	msgpack_packer pk;
	int rc = 0;

	bm_buf_reset(out);
	if ((b->n_meta && !b->meta) || (b->n_samples && !b->samples) ||
	    b->n_meta > UINT32_MAX || b->n_samples > UINT32_MAX)
		return BM_EINVAL;
	/* Typical sample is ~80 bytes; one reservation avoids most regrowth
	 * on the first batches (a failure here is caught by the sink). */
	(void)bm_buf_reserve(out, 64 + b->n_samples * 96);
	msgpack_packer_init(&pk, &sink, bm__sink_write);
	msgpack_pack_array(&pk, 3);
	rc = pack_opt_str(&pk, b->source);
	msgpack_pack_array(&pk, (size_t)b->n_meta);
	for (size_t i = 0; i < b->n_meta && !rc; i++)
		rc = pack_meta(&pk, &b->meta[i]);
	msgpack_pack_array(&pk, (size_t)b->n_samples);
	for (size_t i = 0; i < b->n_samples && !rc; i++)
		rc = pack_sample(&pk, &b->samples[i]);
	if (!rc)
		rc = sink.err;
	if (rc)
		bm_buf_reset(out);
	return rc;
}

/* ---------------------------------------------------------------------
 * Decoding
 * --------------------------------------------------------------------- */

/* Decoder state: the cursor, and one block for every string of the body.
 * Each msgpack string of n bytes occupies at least n + 1 bytes of the body,
 * and its NUL-terminated copy exactly n + 1, so a block of len bytes holds
 * all of them: one arena allocation per batch instead of one per string. */
struct dec {
	struct bm__mp r;
	char *str;     /* next free byte of the string block */
	char *str_end;
};

/*
 * Copy n bytes and tell whether any was NUL (a C string cannot carry one).
 * One pass, 8 bytes at a time: names and label values are short, and a
 * memcpy plus a memchr call per string cost a quarter of decode time.
 */
static inline bool copy_has_nul(char *dst, const uint8_t *src, uint32_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t zero = 0, v;
	uint32_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&v, src + i, 8);
		memcpy(dst + i, &v, 8);
		zero |= (v - ones) & ~v & highs; /* high bit set where a byte is 0 */
	}
	for (; i < n; i++) {
		dst[i] = (char)src[i];
		zero |= src[i] == 0;
	}
	return zero != 0;
}

/* Copy the next string (nil allowed when opt) into the string block. */
static inline int take_str(struct dec *d, const char **out, bool opt)
{
	const uint8_t *s;
	uint32_t n;

	if (opt && bm__mp_nil(&d->r)) {
		*out = NULL;
		return 0;
	}
	if (bm__mp_str(&d->r, &s, &n) || n >= (size_t)(d->str_end - d->str) ||
	    copy_has_nul(d->str, s, n))
		return BM_EPROTO;
	d->str[n] = '\0';
	*out = d->str;
	d->str += n + 1;
	return 0;
}

/* Array header with at least `min` elements; *extra gets the surplus that
 * a newer producer appended and that this version skips. */
static inline int take_tuple(struct dec *d, uint32_t min, uint32_t *extra)
{
	uint32_t n;

	if (bm__mp_array(&d->r, &n) || n < min)
		return BM_EPROTO;
	*extra = n - min;
	return 0;
}

static int take_meta(struct dec *d, struct bm_metric_meta *m)
{
	uint32_t extra;
	int64_t type;

	if (take_tuple(d, 4, &extra) || take_str(d, &m->name, false) ||
	    bm__mp_i64(&d->r, &type) || take_str(d, &m->unit, true) ||
	    take_str(d, &m->help, true))
		return BM_EPROTO;
	/* A type from a newer minor reads as untyped; storing it unchanged
	 * would put a value outside the enum's range into the struct. */
	m->type = type >= 0 && type <= BM_METRIC_SUMMARY ? (enum bm_metric_type)type
							 : BM_METRIC_UNTYPED;
	return bm__mp_skip(&d->r, extra);
}

static inline int take_sample(struct dec *d, struct bm_sample *s, struct bm_arena *a)
{
	struct bm_label *l = NULL;
	uint32_t extra, n;

	if (take_tuple(d, 4, &extra) || take_str(d, &s->name, false) ||
	    bm__mp_array(&d->r, &n) || (n & 1))
		return BM_EPROTO;
	n /= 2;
	if (n) {
		l = bm_arena_alloc(a, n * sizeof(*l));
		if (!l)
			return BM_ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			if (take_str(d, &l[i].name, false) || take_str(d, &l[i].value, false))
				return BM_EPROTO;
		}
	}
	s->labels = l;
	s->n_labels = n;
	if (bm__mp_i64(&d->r, &s->ts_ms) || bm__mp_f64(&d->r, &s->value))
		return BM_EPROTO;
	return extra ? bm__mp_skip(&d->r, extra) : 0;
}

static int decode(struct dec *d, struct bm_metric_batch *out, struct bm_arena *a)
{
	struct bm_metric_meta *meta = NULL;
	struct bm_sample *smp = NULL;
	uint32_t extra, n;
	int rc;

	if (take_tuple(d, 3, &extra) || take_str(d, &out->source, true) ||
	    bm__mp_array(&d->r, &n))
		return BM_EPROTO;
	/* n <= bytes left (bm__mp_array): the allocation is bounded by the
	 * body, not by what the header claims. */
	if (n) {
		meta = bm_arena_alloc(a, n * sizeof(*meta));
		if (!meta)
			return BM_ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			rc = take_meta(d, &meta[i]);
			if (rc)
				return rc;
		}
	}
	out->meta = meta;
	out->n_meta = n;
	if (bm__mp_array(&d->r, &n))
		return BM_EPROTO;
	if (n) {
		smp = bm_arena_alloc(a, n * sizeof(*smp));
		if (!smp)
			return BM_ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			rc = take_sample(d, &smp[i], a);
			if (rc)
				return rc;
		}
	}
	out->samples = smp;
	out->n_samples = n;
	if (bm__mp_skip(&d->r, extra) || d->r.p != d->r.end)
		return BM_EPROTO;
	return 0;
}

int bm_metric_batch_decode(const void *body, size_t len, struct bm_metric_batch *out,
			   struct bm_arena *arena)
{
	struct dec d;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!body || len == 0)
		return BM_EPROTO;
	d.r.p = body;
	d.r.end = d.r.p + len;
	d.str = bm_arena_alloc(arena, len);
	if (!d.str)
		return BM_ENOMEM;
	d.str_end = d.str + len;
	rc = decode(&d, out, arena);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---------------------------------------------------------------------
 * Labels
 * --------------------------------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bm_label *)a)->name, ((const struct bm_label *)b)->name);
}

void bm_labels_sort(struct bm_label *l, size_t n)
{
	/* Label sets are small (a handful): insertion sort beats qsort's call
	 * overhead there and is stable; large sets go to qsort. */
	if (n > 16) {
		qsort(l, n, sizeof(*l), label_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct bm_label t = l[i];
		size_t j = i;

		while (j > 0 && strcmp(l[j - 1].name, t.name) > 0) {
			l[j] = l[j - 1];
			j--;
		}
		l[j] = t;
	}
}
