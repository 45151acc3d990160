/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Native agent protocol codec (proto.h). Decoding uses the SDK's
 * bounds-checked msgpack cursor (sdk/src/mp.h) rather than
 * msgpack_unpack_next(), for the reasons given at the top of
 * sdk/src/event_metric.c: msgpack-c allocates an object tree sized by the
 * counts an array or map header claims before reading a byte of it (a
 * 7-byte frame asks for 128 GiB), and frames come from any local process.
 * Encoding, which only ever sees our own data, uses msgpack-c's packer.
 */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_event.h>

#include <msgpack.h>

#include "mp.h"

/* ---------------------------------------------------------------------
 * Strings
 * --------------------------------------------------------------------- */

bool ap_utf8_valid(const char *s, size_t n)
{
	/* C strings: no NUL inside */
	return bm_utf8_valid(s, n) && !memchr(s, '\0', n);
}

/* Decoding fails with one of these; ap_decode tells msgpack from shape. */
#define DEC_SHAPE 1
#define DEC_UTF8 2
#define DEC_NOMEM 3

static int read_str(struct bm__mp *r, struct ap_str *out)
{
	const uint8_t *p;
	uint32_t n;
	if (bm__mp_str(r, &p, &n))
		return DEC_SHAPE;
	if (!ap_utf8_valid((const char *)p, n))
		return DEC_UTF8;
	out->p = (const char *)p;
	out->n = n;
	return 0;
}

static bool str_is(const struct ap_str *s, const char *lit, size_t n)
{
	return s->n == n && memcmp(s->p, lit, n) == 0;
}

/* ---------------------------------------------------------------------
 * Maps with string keys, decoded by a field table
 * --------------------------------------------------------------------- */

enum ftype { F_STR, F_I64, F_F64, F_BOOL, F_KVS, F_STRS };

struct field {
	const char *key;
	enum ftype type;
	size_t off;     /* the member */
	size_t has_off; /* a bool set when present; NO_HAS for none */
	size_t cnt_off; /* F_KVS, F_STRS: the uint32_t count */
};
#define NO_HAS SIZE_MAX
#define FLD(k, t, st, m) {k, t, offsetof(st, m), NO_HAS, 0}
#define FLD_HAS(k, t, st, m, h) {k, t, offsetof(st, m), offsetof(st, h), 0}
#define FLD_ARR(k, t, st, m, c) {k, t, offsetof(st, m), NO_HAS, offsetof(st, c)}

/* A pointer member that must wait for the end of the frame: the scratch
 * array it points into may still move. */
struct fixup {
	size_t off;   /* of the pointer member */
	size_t start; /* index into the scratch array */
	bool kv;      /* kvs, else strs */
};

static int grow_kvs(struct ap_scratch *s, size_t need)
{
	if (need <= s->cap_kvs)
		return 0;
	size_t c = s->cap_kvs ? s->cap_kvs : 64;
	while (c < need)
		c *= 2;
	struct ap_kv *v = realloc(s->kvs, c * sizeof(*v));
	if (!v)
		return DEC_NOMEM;
	s->kvs = v;
	s->cap_kvs = c;
	return 0;
}

/* A map str -> str appended to s->kvs; *n pairs at *start. nil is empty. */
static int read_kvs(struct bm__mp *r, struct ap_scratch *s, size_t *start, uint32_t *n)
{
	*start = s->n_kvs;
	*n = 0;
	if (bm__mp_nil(r))
		return 0;
	uint32_t pairs;
	if (bm__mp_map(r, &pairs))
		return DEC_SHAPE;
	if (grow_kvs(s, s->n_kvs + pairs))
		return DEC_NOMEM;
	for (uint32_t i = 0; i < pairs; i++) {
		struct ap_kv *kv = &s->kvs[s->n_kvs];
		int rc = read_str(r, &kv->k);
		if (!rc)
			rc = read_str(r, &kv->v);
		if (rc)
			return rc;
		s->n_kvs++;
	}
	*n = pairs;
	return 0;
}

/* An array of str into s->strs (one such field per message). */
static int read_strs(struct bm__mp *r, struct ap_scratch *s, uint32_t *n)
{
	*n = 0;
	if (bm__mp_nil(r))
		return 0;
	uint32_t len;
	if (bm__mp_array(r, &len))
		return DEC_SHAPE;
	if (len > s->cap_strs) {
		struct ap_str *v = realloc(s->strs, len * sizeof(*v));
		if (!v)
			return DEC_NOMEM;
		s->strs = v;
		s->cap_strs = len;
	}
	for (uint32_t i = 0; i < len; i++) {
		int rc = read_str(r, &s->strs[i]);
		if (rc)
			return rc;
	}
	*n = len;
	return 0;
}

static int read_field(struct bm__mp *r, const struct field *f, char *base, struct ap_scratch *s,
		      struct fixup *fix, size_t *n_fix)
{
	uint32_t cnt;
	size_t start;
	int rc;
	switch (f->type) {
	case F_STR: return read_str(r, (struct ap_str *)(base + f->off));
	case F_I64: return bm__mp_i64(r, (int64_t *)(base + f->off)) ? DEC_SHAPE : 0;
	case F_F64: return bm__mp_f64(r, (double *)(base + f->off)) ? DEC_SHAPE : 0;
	case F_BOOL: return bm__mp_bool(r, (bool *)(base + f->off)) ? DEC_SHAPE : 0;
	case F_KVS:
		rc = read_kvs(r, s, &start, &cnt);
		if (rc)
			return rc;
		fix[(*n_fix)++] = (struct fixup){f->off, start, true};
		*(uint32_t *)(base + f->cnt_off) = cnt;
		return 0;
	case F_STRS:
		rc = read_strs(r, s, &cnt);
		if (rc)
			return rc;
		fix[(*n_fix)++] = (struct fixup){f->off, 0, false};
		*(uint32_t *)(base + f->cnt_off) = cnt;
		return 0;
	}
	return DEC_SHAPE;
}

/* Decode a map by its table into base; unknown keys are skipped, nil
 * reads as absent. At most two array fields per table. */
static int read_map(struct bm__mp *r, const struct field *tab, size_t n_tab, void *base,
		    struct ap_scratch *s)
{
	struct fixup fix[2];
	size_t n_fix = 0;
	uint32_t pairs;
	if (bm__mp_map(r, &pairs))
		return DEC_SHAPE;
	for (uint32_t i = 0; i < pairs; i++) {
		struct ap_str key;
		int rc = read_str(r, &key);
		if (rc)
			return rc;
		const struct field *f = NULL;
		for (size_t k = 0; k < n_tab && !f; k++)
			if (str_is(&key, tab[k].key, strlen(tab[k].key)))
				f = &tab[k];
		if (!f || bm__mp_nil(r)) {
			if (f && f->has_off != NO_HAS)
				*(bool *)((char *)base + f->has_off) = false;
			if (!f && bm__mp_skip(r, 1))
				return DEC_SHAPE;
			continue;
		}
		if (n_fix == 2 && (f->type == F_KVS || f->type == F_STRS))
			return DEC_SHAPE; /* a repeated array key */
		rc = read_field(r, f, base, s, fix, &n_fix);
		if (rc)
			return rc;
		if (f->has_off != NO_HAS)
			*(bool *)((char *)base + f->has_off) = true;
	}
	for (size_t i = 0; i < n_fix; i++)
		*(const void **)((char *)base + fix[i].off) =
			fix[i].kv ? (const void *)(s->kvs + fix[i].start) : (const void *)s->strs;
	return 0;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct field hello_fields[] = {
	FLD("v", F_I64, struct ap_hello, v),
	FLD("agent_id", F_STR, struct ap_hello, agent_id),
	FLD("type", F_STR, struct ap_hello, type),
	FLD("pid", F_I64, struct ap_hello, pid),
	FLD("version", F_STR, struct ap_hello, version),
	FLD_ARR("labels", F_KVS, struct ap_hello, labels, n_labels),
	FLD_ARR("capabilities", F_STRS, struct ap_hello, caps, n_caps),
};

static const struct field task_fields[] = {
	FLD("task_id", F_STR, struct ap_task, task_id),
	FLD("type", F_STR, struct ap_task, type),
	FLD_HAS("start_ms", F_I64, struct ap_task, start_ms, has_start),
	FLD_HAS("end_ms", F_I64, struct ap_task, end_ms, has_end),
	FLD_HAS("duration_ms", F_F64, struct ap_task, duration_ms, has_duration),
	FLD("outcome", F_STR, struct ap_task, outcome),
	FLD("error_class", F_STR, struct ap_task, error_class),
	FLD("tokens_in", F_I64, struct ap_task, tokens_in),
	FLD("tokens_out", F_I64, struct ap_task, tokens_out),
};

static const struct field coord_fields[] = {
	FLD("peer", F_STR, struct ap_coord, peer),
	FLD_HAS("latency_ms", F_F64, struct ap_coord, latency_ms, has_latency),
	FLD_HAS("sync_wait_ms", F_F64, struct ap_coord, sync_wait_ms, has_sync),
	FLD("messages", F_I64, struct ap_coord, messages),
	FLD("bytes", F_I64, struct ap_coord, bytes),
};

static const struct field ack_fields[] = {
	FLD("id", F_STR, struct ap_ack, id),
	FLD("ok", F_BOOL, struct ap_ack, ok),
	FLD("detail", F_STR, struct ap_ack, detail),
	FLD_ARR("result", F_KVS, struct ap_ack, result, n_result),
};

static const struct field heartbeat_fields[] = {
	{"ts_ms", F_I64, 0, NO_HAS, 0},
};

static const struct field bye_fields[] = {
	{"reason", F_STR, 0, NO_HAS, 0},
};

/* ---------------------------------------------------------------------
 * metric: [4, [[name, kind, value, labels?, ts?], ...]]
 * --------------------------------------------------------------------- */

static int kv_cmp(const struct ap_kv *a, const struct ap_kv *b)
{
	uint32_t n = a->k.n < b->k.n ? a->k.n : b->k.n;
	int c = memcmp(a->k.p, b->k.p, n);
	return c ? c : (a->k.n > b->k.n) - (a->k.n < b->k.n);
}

/* Insertion sort (label sets are small); flags a name given twice. */
static bool sort_labels(struct ap_kv *l, uint32_t n)
{
	bool dup = false;
	for (uint32_t i = 1; i < n; i++) {
		struct ap_kv x = l[i];
		uint32_t j = i;
		while (j > 0 && kv_cmp(&l[j - 1], &x) > 0) {
			l[j] = l[j - 1];
			j--;
		}
		l[j] = x;
	}
	for (uint32_t i = 1; i < n; i++)
		dup |= kv_cmp(&l[i - 1], &l[i]) == 0;
	return dup;
}

static int read_sample(struct bm__mp *r, struct ap_sample *out, struct ap_scratch *s,
		       size_t *kv_start)
{
	uint32_t n;
	if (bm__mp_array(r, &n) || n < 3)
		return DEC_SHAPE;
	int rc = read_str(r, &out->name);
	if (rc)
		return rc;
	if (bm__mp_i64(r, &out->kind) || bm__mp_f64(r, &out->value))
		return DEC_SHAPE;
	out->n_labels = 0;
	out->ts_ms = 0;
	out->dup_label = false;
	*kv_start = s->n_kvs;
	if (n >= 4) {
		rc = read_kvs(r, s, kv_start, &out->n_labels);
		if (rc)
			return rc;
		out->dup_label = sort_labels(s->kvs + *kv_start, out->n_labels);
	}
	if (n >= 5 && !bm__mp_nil(r) && bm__mp_i64(r, &out->ts_ms))
		return DEC_SHAPE;
	return n > 5 && bm__mp_skip(r, n - 5) ? DEC_SHAPE : 0;
}

static int read_metric(struct bm__mp *r, struct ap_msg *m, struct ap_scratch *s)
{
	uint32_t n;
	if (bm__mp_array(r, &n))
		return DEC_SHAPE;
	if (n > s->cap_samples) {
		struct ap_sample *v = realloc(s->samples, n * sizeof(*v));
		if (!v)
			return DEC_NOMEM;
		s->samples = v;
		s->cap_samples = n;
	}
	for (uint32_t i = 0; i < n; i++) {
		size_t start;
		int rc = read_sample(r, &s->samples[i], s, &start);
		if (rc)
			return rc;
		/* an offset until the kvs stop moving */
		s->samples[i].labels = (const struct ap_kv *)(uintptr_t)start;
	}
	for (uint32_t i = 0; i < n; i++)
		s->samples[i].labels = s->kvs + (uintptr_t)s->samples[i].labels;
	m->u.metric.v = s->samples;
	m->u.metric.n = n;
	return 0;
}

/* ---------------------------------------------------------------------
 * Frames
 * --------------------------------------------------------------------- */

/* The body of a message after its type; *used counts array elements read. */
static int read_body(struct bm__mp *r, struct ap_msg *m, uint32_t left, uint32_t *used,
		     struct ap_scratch *s)
{
	const struct field *tab = NULL;
	size_t n_tab = 0;
	void *base = NULL;
	bool optional = false;
	switch (m->type) {
	case AP_HELLO:
		tab = hello_fields, n_tab = ARRAY_SIZE(hello_fields), base = &m->u.hello;
		m->u.hello.v = -1;
		break;
	case AP_TASK: tab = task_fields, n_tab = ARRAY_SIZE(task_fields), base = &m->u.task; break;
	case AP_COORD: tab = coord_fields, n_tab = ARRAY_SIZE(coord_fields), base = &m->u.coord; break;
	case AP_ACK: tab = ack_fields, n_tab = ARRAY_SIZE(ack_fields), base = &m->u.ack; break;
	case AP_HEARTBEAT:
		tab = heartbeat_fields, n_tab = 1, base = &m->u.heartbeat, optional = true;
		break;
	case AP_BYE: tab = bye_fields, n_tab = 1, base = &m->u.bye, optional = true; break;
	case AP_METRIC:
		if (!left)
			return DEC_SHAPE;
		*used = 1;
		return read_metric(r, m, s);
	default: return 0; /* not ours to read: skipped by the caller */
	}
	if (!left || (optional && bm__mp_nil(r))) {
		*used = left ? 1 : 0;
		return optional ? 0 : DEC_SHAPE;
	}
	*used = 1;
	return read_map(r, tab, n_tab, base, s);
}

static int decode(const uint8_t *p, size_t n, struct ap_msg *m, struct ap_scratch *s)
{
	struct bm__mp r = {p, p + n};
	uint32_t len, used = 0;
	memset(m, 0, sizeof(*m));
	s->n_kvs = 0;
	if (bm__mp_array(&r, &len) || len < 1 || bm__mp_i64(&r, &m->type) || m->type <= 0)
		return DEC_SHAPE;
	int rc = read_body(&r, m, len - 1, &used, s);
	if (rc)
		return rc;
	if (bm__mp_skip(&r, len - 1 - used))
		return DEC_SHAPE;
	return r.p == r.end ? 0 : DEC_SHAPE;
}

/* True when the n bytes are exactly one well-formed msgpack object. */
static bool one_object(const uint8_t *p, size_t n)
{
	struct bm__mp r = {p, p + n};
	return n > 0 && bm__mp_skip(&r, 1) == 0 && r.p == r.end;
}

int ap_decode(const uint8_t *p, size_t n, struct ap_msg *m, struct ap_scratch *s)
{
	int rc = decode(p, n, m, s);
	switch (rc) {
	case 0: return AP_OK;
	case DEC_UTF8: return AP_R_UTF8;
	case DEC_NOMEM: return BM_ENOMEM;
	default:
		/* the slow path tells a broken object from a wrong shape */
		return one_object(p, n) ? AP_R_SHAPE : AP_R_MSGPACK;
	}
}

void ap_scratch_free(struct ap_scratch *s)
{
	free(s->samples);
	free(s->kvs);
	free(s->strs);
	memset(s, 0, sizeof(*s));
}

const char *ap_reason_name(int reason)
{
	static const char *const names[AP_R_N] = {
		[AP_OK] = "ok",           [AP_R_MSGPACK] = "msgpack", [AP_R_SHAPE] = "shape",
		[AP_R_UTF8] = "utf8",     [AP_R_TOO_LARGE] = "too_large",
		[AP_R_ORDER] = "order",   [AP_R_HELLO] = "bad_hello", [AP_R_VERSION] = "version",
	};
	return reason >= 0 && reason < AP_R_N ? names[reason] : "unknown";
}

/* ---------------------------------------------------------------------
 * Encoding
 * --------------------------------------------------------------------- */

struct sink {
	struct bm_buf *buf;
	int err;
};

static int sink_write(void *data, const char *p, size_t n)
{
	struct sink *k = data;
	if (!k->err)
		k->err = bm_buf_append(k->buf, p, n);
	return 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* Start a frame: header placeholder, [type, ...] with n_elems elements. */
static size_t frame_begin(msgpack_packer *pk, struct sink *k, int type, size_t n_elems)
{
	size_t at = k->buf->len;
	static const char zero[AP_HDR];
	sink_write(k, zero, sizeof(zero));
	msgpack_pack_array(pk, n_elems);
	msgpack_pack_int(pk, type);
	return at;
}

static int frame_end(struct sink *k, size_t at)
{
	if (k->err) {
		k->buf->len = at;
		return k->err;
	}
	uint32_t n = (uint32_t)(k->buf->len - at - AP_HDR);
	uint8_t *h = (uint8_t *)k->buf->data + at;
	h[0] = (uint8_t)(n >> 24), h[1] = (uint8_t)(n >> 16), h[2] = (uint8_t)(n >> 8), h[3] = (uint8_t)n;
	return 0;
}

int ap_encode_welcome(struct bm_buf *out, int64_t v, const char *server, int64_t max_frame,
		      int64_t heartbeat_ms)
{
	struct sink k = {out, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &k, sink_write);
	size_t at = frame_begin(&pk, &k, AP_WELCOME, 2);
	msgpack_pack_map(&pk, 4);
	pack_str(&pk, "v");
	msgpack_pack_int64(&pk, v);
	pack_str(&pk, "server");
	pack_str(&pk, server);
	pack_str(&pk, "max_frame");
	msgpack_pack_int64(&pk, max_frame);
	pack_str(&pk, "heartbeat_ms");
	msgpack_pack_int64(&pk, heartbeat_ms);
	return frame_end(&k, at);
}

int ap_encode_error(struct bm_buf *out, const char *code, const char *message)
{
	struct sink k = {out, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &k, sink_write);
	size_t at = frame_begin(&pk, &k, AP_ERROR, 2);
	msgpack_pack_map(&pk, 2);
	pack_str(&pk, "code");
	pack_str(&pk, code);
	pack_str(&pk, "message");
	pack_str(&pk, message);
	return frame_end(&k, at);
}

int ap_encode_command(struct bm_buf *out, const char *id, const char *name,
		      const struct bm_kv *args, size_t n_args, int64_t deadline_ms)
{
	struct sink k = {out, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &k, sink_write);
	size_t at = frame_begin(&pk, &k, AP_COMMAND, 2);
	msgpack_pack_map(&pk, 4);
	pack_str(&pk, "id");
	pack_str(&pk, id);
	pack_str(&pk, "name");
	pack_str(&pk, name);
	pack_str(&pk, "args");
	msgpack_pack_map(&pk, n_args);
	for (size_t i = 0; i < n_args; i++) {
		pack_str(&pk, args[i].key);
		pack_str(&pk, args[i].value);
	}
	pack_str(&pk, "deadline_ms");
	msgpack_pack_int64(&pk, deadline_ms);
	return frame_end(&k, at);
}

int ap_encode_bye(struct bm_buf *out, const char *reason)
{
	struct sink k = {out, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &k, sink_write);
	size_t at = frame_begin(&pk, &k, AP_BYE, 2);
	msgpack_pack_map(&pk, 1);
	pack_str(&pk, "reason");
	pack_str(&pk, reason);
	return frame_end(&k, at);
}
