/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON rendering of the standard events (every topic but `metric`) for
 * APIs and logs: the msgpack body is walked with the topic's field table,
 * so JSON keys are the C member names of bm_event.h and enums are their
 * names. A few hundred lines of JSON text writing do not justify linking
 * jansson into every plugin that links the SDK.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bearmon/bm_event.h"
#include "event_desc.h"
#include "mp.h"

/* Nesting limit: the tables nest at most three deep (event, object,
 * series); a deeper body is malformed. */
#define MAX_DEPTH 8

static int put(struct bm_buf *o, const char *s, size_t n) { return bm_buf_append(o, s, n); }
static int puts_(struct bm_buf *o, const char *s) { return put(o, s, strlen(s)); }


/* A JSON string; invalid UTF-8 becomes U+FFFD so the output stays valid. */
static int json_str(struct bm_buf *o, const uint8_t *s, size_t n)
{
	int rc = put(o, "\"", 1);
	for (size_t i = 0; i < n && !rc;) {
		size_t len = bm_utf8_len(s + i, n - i);
		char esc[8];
		if (!len) {
			rc = puts_(o, "\\ufffd");
			i++;
		} else if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i++];
			rc = put(o, esc, 2);
		} else if (s[i] < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", s[i++]);
			rc = puts_(o, esc);
		} else {
			rc = put(o, (const char *)s + i, len);
			i += len;
		}
	}
	return rc ? rc : put(o, "\"", 1);
}

static int json_num(struct bm_buf *o, double v)
{
	char num[32];
	if (!isfinite(v))
		return puts_(o, "null"); /* JSON has no NaN or infinity */
	snprintf(num, sizeof(num), "%.17g", v);
	return puts_(o, num);
}

static int str_value(struct bm__mp *r, struct bm_buf *o)
{
	const uint8_t *s;
	uint32_t n;
	return bm__mp_str(r, &s, &n) ? BM_EPROTO : json_str(o, s, n);
}

static int int_value(struct bm__mp *r, struct bm_buf *o, const struct field *f)
{
	int64_t v;
	char num[24];
	if (bm__mp_i64(r, &v))
		return BM_EPROTO;
	if (f->type == FT_ENUM && v >= 0 && v <= f->max)
		return json_str(o, (const uint8_t *)f->names[v], strlen(f->names[v]));
	snprintf(num, sizeof(num), "%" PRId64, v);
	return puts_(o, num);
}

/* FT_LABELS and FT_KVS: a map of strings becomes an object. */
static int pairs_value(struct bm__mp *r, struct bm_buf *o)
{
	uint32_t n;
	int rc = bm__mp_map(r, &n) ? BM_EPROTO : put(o, "{", 1);
	for (uint32_t i = 0; i < n && !rc; i++) {
		rc = (i ? put(o, ",", 1) : 0) || str_value(r, o) || put(o, ":", 1) ||
		     str_value(r, o);
	}
	return rc ? BM_EPROTO : put(o, "}", 1);
}

static int obj_value(struct bm__mp *r, struct bm_buf *o, const struct desc *d, int depth);

/* FT_STRS and FT_OBJS: arrays. */
static int array_value(struct bm__mp *r, struct bm_buf *o, const struct field *f, int depth)
{
	uint32_t n;
	int rc = bm__mp_array(r, &n) ? BM_EPROTO : put(o, "[", 1);
	for (uint32_t i = 0; i < n && !rc; i++) {
		rc = i ? put(o, ",", 1) : 0;
		if (!rc)
			rc = f->type == FT_OBJS ? obj_value(r, o, f->sub, depth + 1) : str_value(r, o);
	}
	return rc ? rc : put(o, "]", 1);
}

static int field_value(struct bm__mp *r, struct bm_buf *o, const struct field *f, int depth)
{
	double v;
	bool b;
	switch (f->type) {
	case FT_STR:
		return str_value(r, o);
	case FT_I64:
	case FT_U32:
	case FT_ENUM:
		return int_value(r, o, f);
	case FT_F64:
		return bm__mp_f64(r, &v) ? BM_EPROTO : json_num(o, v);
	case FT_BOOL:
		return bm__mp_bool(r, &b) ? BM_EPROTO : puts_(o, b ? "true" : "false");
	case FT_LABELS:
	case FT_KVS:
		return pairs_value(r, o);
	case FT_OBJ:
		return obj_value(r, o, f->sub, depth + 1);
	default:
		return array_value(r, o, f, depth);
	}
}

static const struct field *field_of(const struct desc *d, const uint8_t *k, uint32_t n)
{
	for (unsigned i = 0; i < d->n; i++) {
		if (strlen(d->f[i].key) == n && memcmp(d->f[i].key, k, n) == 0)
			return &d->f[i];
	}
	return NULL;
}

/* Keys the table does not know (a newer producer) and nil values are left
 * out, as the decoder ignores them. */
static int obj_value(struct bm__mp *r, struct bm_buf *o, const struct desc *d, int depth)
{
	uint32_t n;
	bool first = true;
	if (depth > MAX_DEPTH || bm__mp_map(r, &n))
		return BM_EPROTO;
	int rc = put(o, "{", 1);
	for (uint32_t i = 0; i < n && !rc; i++) {
		const uint8_t *k;
		uint32_t kn;
		if (bm__mp_str(r, &k, &kn))
			return BM_EPROTO;
		const struct field *f = field_of(d, k, kn);
		if (!f || bm__mp_nil(r)) {
			rc = f ? 0 : bm__mp_skip(r, 1);
			continue;
		}
		rc = (first ? 0 : put(o, ",", 1)) || json_str(o, (const uint8_t *)f->name, strlen(f->name)) ||
		     put(o, ":", 1);
		if (!rc)
			rc = field_value(r, o, f, depth);
		first = false;
	}
	return rc ? rc : put(o, "}", 1);
}

int bm_event_to_json(const char *topic, const void *body, size_t len, struct bm_buf *out)
{
	const struct desc *d = bm__event_desc(topic);
	struct bm__mp r = {.p = body, .end = (const uint8_t *)body + len};
	size_t start = out->len;
	if (!d)
		return BM_EINVAL;
	if (!body || !len)
		return BM_EPROTO;
	int rc = obj_value(&r, out, d, 0);
	if (!rc && r.p != r.end)
		rc = BM_EPROTO;
	if (rc)
		out->len = start;
	return rc == BM_ENOMEM ? rc : rc ? BM_EPROTO : 0;
}
