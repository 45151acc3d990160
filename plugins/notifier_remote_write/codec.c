/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WriteRequest encoding and decoding (see codec.h): protobuf-c's generated
 * pack/unpack over remote.proto, snappy's C API for the block format. The
 * few lines of framing here (tags, lengths) spare protobuf-c re-sizing
 * every label of every sample per batch: see rw_pack.
 */
#include "codec.h"

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "../common/expfmt.h"

/* The most a decoded body may expand to: four times the largest body a
 * shard sends at max_samples_per_send = 100000. */
#define RW_DECODE_MAX (256u << 20)

/* ---- series ---------------------------------------------------------- */

static inline uint64_t hash_mix(uint64_t h, uint64_t w)
{
	return (((h << 5) | (h >> 59)) ^ w) * 0x517cc1b727220a95ULL;
}

uint64_t rw_hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t w;
	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, sizeof(w));
		h = hash_mix(h, w);
	}
	w = 0xff; /* the separator, and a tail of any length is distinct */
	for (size_t i = 0; i < n; i++)
		w = w << 8 | s[i];
	return hash_mix(h, w);
}

/* murmur3's finaliser: every bit of h moves the low bits a shard and a
 * slot are taken from. */
static uint64_t hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

uint64_t rw_labels_hash(const struct bm_label *l, size_t n)
{
	uint64_t h = 0;
	for (size_t i = 0; i < n; i++) {
		h = rw_hash_bytes(h, l[i].name, strlen(l[i].name));
		h = rw_hash_bytes(h, l[i].value, strlen(l[i].value));
	}
	return hash_final(h);
}

/* The series' labels as the fields of a TimeSeries, after its text. */
static void pack_labels(struct rw_series *s, uint8_t *at)
{
	Prometheus__TimeSeries t;
	prometheus__time_series__init(&t);
	t.labels = s->label_ptrs;
	t.n_labels = s->n_labels;
	s->labels_pb = at;
	s->labels_pb_len = prometheus__time_series__pack(&t, at);
}

struct rw_series *rw_series_new(const struct bm_label *l, size_t n)
{
	size_t text = 0, pb = 0;
	for (size_t i = 0; i < n; i++) {
		size_t kn = strlen(l[i].name), vn = strlen(l[i].value);
		text += kn + vn + 2;
		pb += kn + vn + 3 + 3 * 10; /* three tags and lengths at most */
	}
	size_t head = sizeof(struct rw_series) + n * (sizeof(Prometheus__Label) + sizeof(void *));
	struct rw_series *s = malloc(head + text + pb);
	if (!s)
		return NULL;
	s->hash = rw_labels_hash(l, n);
	s->n_labels = n;
	s->labels = (Prometheus__Label *)(s + 1);
	s->label_ptrs = (Prometheus__Label **)(s->labels + n);
	char *p = (char *)s + head;
	for (size_t i = 0; i < n; i++) {
		Prometheus__Label *pl = &s->labels[i];
		prometheus__label__init(pl);
		size_t kn = strlen(l[i].name) + 1, vn = strlen(l[i].value) + 1;
		pl->name = memcpy(p, l[i].name, kn);
		pl->value = memcpy(p + kn, l[i].value, vn);
		p += kn + vn;
		s->label_ptrs[i] = pl;
	}
	pack_labels(s, (uint8_t *)p);
	return s;
}

void rw_series_free(struct rw_series *s)
{
	free(s);
}

/* ---- encoding -------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t want)
{
	if (want <= *cap)
		return 0;
	size_t n = *cap ? *cap : 4096;
	while (n < want)
		n *= 2;
	void *q = realloc(*p, n);
	if (!q)
		return BM_ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Room for n items: at most n groups, 2n slots. */
static int encoder_reserve(struct rw_encoder *e, size_t n)
{
	if (n <= e->cap)
		return 0;
	size_t cap = e->cap ? e->cap : 256;
	while (cap < n)
		cap *= 2;
	void *g = realloc(e->groups, cap * sizeof(*e->groups));
	if (g)
		e->groups = g;
	void *go = realloc(e->group_of, cap * sizeof(*e->group_of));
	if (go)
		e->group_of = go;
	void *o = realloc(e->order, cap * sizeof(*e->order));
	if (o)
		e->order = o;
	void *sp = realloc(e->sample_pb, cap * sizeof(*e->sample_pb));
	if (sp)
		e->sample_pb = sp;
	void *sl = realloc(e->sample_len, cap * sizeof(*e->sample_len));
	if (sl)
		e->sample_len = sl;
	uint32_t *slots = malloc(2 * cap * sizeof(*slots));
	if (!g || !go || !o || !sp || !sl || !slots) {
		free(slots);
		return BM_ENOMEM;
	}
	free(e->slots);
	e->slots = slots;
	e->cap = cap;
	return 0;
}

static size_t slot_of(const struct rw_series *s, size_t mask)
{
	return (size_t)((s->hash * 0x9e3779b97f4a7c15ULL) >> 20) & mask;
}

/* e->group_of[i] = the TimeSeries item i goes to: returns their number. */
static size_t group_items(struct rw_encoder *e, const struct rw_item *items, size_t n)
{
	size_t mask = 2 * e->cap - 1, groups = 0;
	memset(e->slots, 0, 2 * e->cap * sizeof(*e->slots));
	for (size_t i = 0; i < n; i++) {
		const struct rw_series *s = items[i].series;
		size_t k = slot_of(s, mask);
		while (e->slots[k] && e->groups[e->slots[k] - 1].series != s)
			k = (k + 1) & mask;
		uint32_t g = e->slots[k];
		if (!g || items[i].ts_ms < e->groups[g - 1].last_ts) {
			e->groups[groups] = (struct rw_group){.series = s};
			g = e->slots[k] = (uint32_t)++groups;
		}
		e->groups[g - 1].n++;
		e->groups[g - 1].last_ts = items[i].ts_ms;
		e->group_of[i] = g - 1;
	}
	return groups;
}

static size_t uvarint_len(uint64_t v)
{
	size_t n = 1;
	for (; v >= 0x80; v >>= 7)
		n++;
	return n;
}

static uint8_t *put_uvarint(uint8_t *p, uint64_t v)
{
	for (; v >= 0x80; v >>= 7)
		*p++ = (uint8_t)(v | 0x80);
	*p++ = (uint8_t)v;
	return p;
}

/* A length-delimited field: its tag (field << 3 | 2) and length. */
static uint8_t *put_field(uint8_t *p, unsigned field, size_t len)
{
	*p++ = (uint8_t)(field << 3 | 2);
	return put_uvarint(p, len);
}

#define WRITE_REQUEST_TIMESERIES 1 /* remote.proto field numbers */
#define TIME_SERIES_SAMPLES 2

/* Pack every sample and size the groups; order the items by group. */
static void pack_samples(struct rw_encoder *e, const struct rw_item *items, size_t n,
			 size_t groups)
{
	size_t off = 0;
	for (size_t g = 0; g < groups; g++) {
		size_t k = e->groups[g].n;
		e->groups[g].n = off; /* the group's first slot in order, for now */
		off += k;
	}
	for (size_t i = 0; i < n; i++) {
		Prometheus__Sample sm;
		prometheus__sample__init(&sm);
		sm.value = items[i].value;
		sm.timestamp = items[i].ts_ms;
		size_t len = prometheus__sample__pack(&sm, e->sample_pb[i]);
		e->sample_len[i] = (uint8_t)len;
		struct rw_group *g = &e->groups[e->group_of[i]];
		g->bytes += 1 + uvarint_len(len) + len;
		e->order[g->n++] = (uint32_t)i;
	}
}

/*
 * Why the framing is done here: a WriteRequest is its TimeSeries, each a
 * field tag and a length before the packed message, and a TimeSeries is
 * its labels' fields then its samples' (protobuf's encoding of embedded
 * and repeated fields). protobuf-c's whole-message pack sizes every label
 * of every sample again on each batch, three quarters of a shard's CPU; so
 * protobuf-c packs a series' labels once and each Sample, and this writes
 * the tags and lengths around them (tests check the bytes equal protobuf-c's).
 */
int rw_pack(struct rw_encoder *e, const struct rw_item *items, size_t n, size_t *len,
	    int64_t *max_ts)
{
	if (encoder_reserve(e, n))
		return BM_ENOMEM;
	size_t groups = group_items(e, items, n), total = 0;
	pack_samples(e, items, n, groups);
	for (size_t g = 0; g < groups; g++) {
		size_t body = e->groups[g].series->labels_pb_len + e->groups[g].bytes;
		total += 1 + uvarint_len(body) + body;
	}
	if (grow((void **)&e->pb, &e->pb_cap, total ? total : 1))
		return BM_ENOMEM;
	uint8_t *p = e->pb;
	size_t next = 0; /* groups[g].n is now the end of g's run in order */
	*max_ts = INT64_MIN;
	for (size_t g = 0; g < groups; g++) {
		const struct rw_series *s = e->groups[g].series;
		p = put_field(p, WRITE_REQUEST_TIMESERIES, s->labels_pb_len + e->groups[g].bytes);
		memcpy(p, s->labels_pb, s->labels_pb_len);
		p += s->labels_pb_len;
		for (; next < e->groups[g].n; next++) {
			uint32_t i = e->order[next];
			p = put_field(p, TIME_SERIES_SAMPLES, e->sample_len[i]);
			memcpy(p, e->sample_pb[i], e->sample_len[i]);
			p += e->sample_len[i];
			*max_ts = items[i].ts_ms > *max_ts ? items[i].ts_ms : *max_ts;
		}
	}
	*len = (size_t)(p - e->pb);
	return 0;
}

static int compress_into(struct rw_encoder *e, size_t pb_len, size_t *len)
{
	size_t max = snappy_max_compressed_length(pb_len);
	if (grow((void **)&e->body, &e->body_cap, max))
		return BM_ENOMEM;
	*len = max;
	return snappy_compress((const char *)e->pb, pb_len, e->body, len) == SNAPPY_OK ? 0
										       : BM_ENOMEM;
}

int rw_encode(struct rw_encoder *e, const struct rw_item *items, size_t n, const char **body,
	      size_t *len, int64_t *max_ts)
{
	size_t pb_len;
	int rc = rw_pack(e, items, n, &pb_len, max_ts);
	rc = rc ? rc : compress_into(e, pb_len, len);
	*body = e->body;
	return rc;
}

void rw_encoder_free(struct rw_encoder *e)
{
	free(e->groups);
	free(e->group_of);
	free(e->order);
	free(e->sample_pb);
	free(e->sample_len);
	free(e->slots);
	free(e->pb);
	free(e->body);
	memset(e, 0, sizeof(*e));
}

/* ---- decoding -------------------------------------------------------- */

static int check_series(const Prometheus__TimeSeries *t, size_t i, struct bm_err *err)
{
	const char *name = NULL;
	for (size_t k = 0; k < t->n_labels; k++) {
		const Prometheus__Label *l = t->labels[k];
		if (!expfmt_valid_label_name(l->name))
			return bm_err_set(err, BM_EPROTO, "series %zu: bad label name", i);
		if (!*l->value)
			return bm_err_set(err, BM_EPROTO, "series %zu: label %s is empty", i, l->name);
		if (k && strcmp(t->labels[k - 1]->name, l->name) >= 0)
			return bm_err_set(err, BM_EPROTO, "series %zu: labels not sorted or repeated", i);
		if (strcmp(l->name, "__name__") == 0)
			name = l->value;
	}
	if (!name || !expfmt_valid_metric_name(name))
		return bm_err_set(err, BM_EPROTO, "series %zu: no valid __name__", i);
	if (!t->n_samples)
		return bm_err_set(err, BM_EPROTO, "series %zu: no samples", i);
	for (size_t k = 1; k < t->n_samples; k++)
		if (t->samples[k]->timestamp < t->samples[k - 1]->timestamp)
			return bm_err_set(err, BM_EPROTO, "series %zu: samples out of order", i);
	return 0;
}

static int unpack(const char *raw, size_t n, Prometheus__WriteRequest **out, struct bm_err *err)
{
	Prometheus__WriteRequest *w =
		prometheus__write_request__unpack(NULL, n, (const uint8_t *)raw);
	if (!w)
		return bm_err_set(err, BM_EPROTO, "not a WriteRequest");
	for (size_t i = 0; i < w->n_timeseries; i++) {
		int rc = check_series(w->timeseries[i], i, err);
		if (rc) {
			rw_decoded_free(w);
			return rc;
		}
	}
	*out = w;
	return 0;
}

int rw_decode(const void *body, size_t len, Prometheus__WriteRequest **out, struct bm_err *err)
{
	size_t n = 0;
	*out = NULL;
	if (snappy_uncompressed_length(body, len, &n) != SNAPPY_OK ||
	    snappy_validate_compressed_buffer(body, len) != SNAPPY_OK)
		return bm_err_set(err, BM_EPROTO, "not snappy block data");
	if (n > RW_DECODE_MAX)
		return bm_err_set(err, BM_EPROTO, "decoded size %zu over the limit", n);
	char *raw = malloc(n ? n : 1);
	if (!raw)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	int rc = snappy_uncompress(body, len, raw, &n) == SNAPPY_OK
			 ? unpack(raw, n, out, err)
			 : bm_err_set(err, BM_EPROTO, "snappy data does not decompress");
	free(raw);
	return rc;
}

void rw_decoded_free(Prometheus__WriteRequest *w)
{
	if (w)
		prometheus__write_request__free_unpacked(w, NULL);
}
