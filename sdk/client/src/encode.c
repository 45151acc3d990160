/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's side of the wire: msgpack-c's packer writing into our own
 * growable buffer, one encoder per message type, and the checks that keep
 * a bad argument from reaching the server (which would close the
 * connection on an invalid UTF-8 string or a malformed name).
 */
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"

#define BUF_MIN_CAP 256

int bmc_buf_reserve(struct bmc_buf *b, size_t extra)
{
	size_t cap;
	uint8_t *p;

	if (b->cap - b->len >= extra)
		return 0;
	if (extra > SIZE_MAX / 4 - b->len)
		return BM_ENOMEM;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < b->len + extra)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return BM_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

void bmc_buf_append(struct bmc_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (bmc_buf_reserve(b, n)) {
		b->err = BM_ENOMEM;
		return;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void bmc_buf_free(struct bmc_buf *b)
{
	free(b->data);
	*b = (struct bmc_buf){0};
}

/* msgpack_packer's write callback. */
static int buf_write(void *data, const char *p, size_t n)
{
	bmc_buf_append(data, p, n);
	return 0;
}

/* ---- validation ------------------------------------------------------ */

/* Length of the UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned char hi = c == 0xed ? 0x9f : 0xbf;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80
			   ? 4
			   : 0;
	}
	return 0;
}

bool bmc_utf8_ok(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		if (*s < 0x80) {
			s++;
			continue;
		}
		/* a NUL inside a sequence fails the continuation test */
		size_t n = utf8_seq(s);
		if (!n)
			return false;
		s += n;
	}
	return true;
}

static bool is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool bmc_agent_id_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (!is_alpha_(s[n]) && !is_digit(s[n]) && !strchr(".:-", s[n]))
			return false;
	return n >= 1 && n <= 128;
}

/* Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, without ':' for labels. */
static bool prom_name_ok(const char *s, bool colon)
{
	if (!s || !(is_alpha_(*s) || (colon && *s == ':')))
		return false;
	for (s++; *s; s++)
		if (!is_alpha_(*s) && !is_digit(*s) && !(colon && *s == ':'))
			return false;
	return true;
}

bool bmc_metric_name_ok(const char *s)
{
	return prom_name_ok(s, true);
}

bool bmc_labels_ok(const struct bm_client_kv *kv, size_t n, bool prom_keys)
{
	if (n && !kv)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!kv[i].key || !kv[i].value || !bmc_utf8_ok(kv[i].value))
			return false;
		if (prom_keys ? !prom_name_ok(kv[i].key, false) : !bmc_utf8_ok(kv[i].key))
			return false;
	}
	return true;
}

/* ---- packing helpers ------------------------------------------------- */

struct enc {
	msgpack_packer pk;
	struct bmc_buf *out;
	size_t start; /* out->len before this frame, to patch or undo */
};

static void str(struct enc *e, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(&e->pk, n);
	msgpack_pack_str_body(&e->pk, s, n);
}

static void kv_map(struct enc *e, const struct bm_client_kv *kv, size_t n)
{
	msgpack_pack_map(&e->pk, n);
	for (size_t i = 0; i < n; i++) {
		str(e, kv[i].key);
		str(e, kv[i].value);
	}
}

/* Reserve the frame header and open `[type` (and `, {` with n_keys map
 * entries when n_keys >= 0). */
static void frame_begin(struct enc *e, struct bmc_buf *out, enum bmc_type type, int n_keys)
{
	static const uint8_t hdr[BMC_FRAME_HDR];

	e->out = out;
	e->start = out->len;
	msgpack_packer_init(&e->pk, out, buf_write);
	bmc_buf_append(out, hdr, sizeof(hdr));
	msgpack_pack_array(&e->pk, n_keys >= 0 ? 2 : 1);
	msgpack_pack_int(&e->pk, type);
	if (n_keys >= 0)
		msgpack_pack_map(&e->pk, (size_t)n_keys);
}

/* Patch the header; on an allocation failure undo the frame. */
static int frame_end(struct enc *e)
{
	struct bmc_buf *out = e->out;

	if (out->err) {
		int rc = out->err;
		bmc_buf_truncate(out, e->start);
		return rc;
	}
	bmc_put_be32(out->data + e->start, (uint32_t)(out->len - e->start - BMC_FRAME_HDR));
	return 0;
}

static void key_str(struct enc *e, const char *k, const char *v)
{
	str(e, k);
	str(e, v);
}

static void key_int(struct enc *e, const char *k, int64_t v)
{
	str(e, k);
	msgpack_pack_int64(&e->pk, v);
}

static void key_double(struct enc *e, const char *k, double v)
{
	str(e, k);
	msgpack_pack_double(&e->pk, v);
}

/* ---- messages -------------------------------------------------------- */

int bmc_encode_hello(struct bmc_buf *out, const struct bmc_hello *h)
{
	struct enc e;
	int n = 2 + !!h->type + (h->pid > 0) + !!h->version + (h->n_labels > 0) +
		(h->n_capabilities > 0);

	frame_begin(&e, out, BMC_HELLO, n);
	key_int(&e, "v", BM_CLIENT_PROTOCOL_VERSION);
	key_str(&e, "agent_id", h->agent_id);
	if (h->type)
		key_str(&e, "type", h->type);
	if (h->pid > 0)
		key_int(&e, "pid", h->pid);
	if (h->version)
		key_str(&e, "version", h->version);
	if (h->n_labels) {
		str(&e, "labels");
		kv_map(&e, h->labels, h->n_labels);
	}
	if (h->n_capabilities) {
		str(&e, "capabilities");
		msgpack_pack_array(&e.pk, h->n_capabilities);
		for (size_t i = 0; i < h->n_capabilities; i++)
			str(&e, h->capabilities[i]);
	}
	return frame_end(&e);
}

static const char *outcome_name(enum bm_client_outcome o)
{
	switch (o) {
	case BM_TASK_ERROR:
		return "error";
	case BM_TASK_TIMEOUT:
		return "timeout";
	case BM_TASK_CANCELLED:
		return "cancelled";
	default:
		return "ok";
	}
}

/* start_ms and end_ms place the task in time even when it reaches the
 * server late (buffered while bearmond was down); duration_ms carries the
 * sub-millisecond precision that two integer timestamps lose. */
int bmc_encode_task(struct bmc_buf *out, const struct bmc_task *t)
{
	static const struct bm_client_task_report ok = {0};
	const struct bm_client_task_report *r = t->r ? t->r : &ok;
	struct enc e;
	int n = 4 + !!r->task_id + !!r->type + !!r->error_class + (r->tokens_in > 0) +
		(r->tokens_out > 0);

	frame_begin(&e, out, BMC_TASK, n);
	if (r->task_id)
		key_str(&e, "task_id", r->task_id);
	if (r->type)
		key_str(&e, "type", r->type);
	key_int(&e, "start_ms", t->start_ms);
	key_int(&e, "end_ms", t->end_ms);
	key_double(&e, "duration_ms", t->duration_ms);
	key_str(&e, "outcome", outcome_name(r->outcome));
	if (r->error_class)
		key_str(&e, "error_class", r->error_class);
	if (r->tokens_in > 0)
		key_int(&e, "tokens_in", r->tokens_in);
	if (r->tokens_out > 0)
		key_int(&e, "tokens_out", r->tokens_out);
	return frame_end(&e);
}

int bmc_encode_coord(struct bmc_buf *out, const struct bm_client_coord *x)
{
	struct enc e;
	int n =
	    1 + (x->latency_ms > 0) + (x->sync_wait_ms > 0) + (x->messages > 0) + (x->bytes > 0);

	frame_begin(&e, out, BMC_COORD, n);
	key_str(&e, "peer", x->peer);
	if (x->latency_ms > 0)
		key_double(&e, "latency_ms", x->latency_ms);
	if (x->sync_wait_ms > 0)
		key_double(&e, "sync_wait_ms", x->sync_wait_ms);
	if (x->messages > 0)
		key_int(&e, "messages", x->messages);
	if (x->bytes > 0)
		key_int(&e, "bytes", x->bytes);
	return frame_end(&e);
}

int bmc_encode_ack(struct bmc_buf *out, const char *id, bool ok, const char *detail,
		   const struct bm_client_kv *result, size_t n_result)
{
	struct enc e;

	frame_begin(&e, out, BMC_ACK, 2 + !!detail + (n_result > 0));
	key_str(&e, "id", id);
	str(&e, "ok");
	if (ok)
		msgpack_pack_true(&e.pk);
	else
		msgpack_pack_false(&e.pk);
	if (detail)
		key_str(&e, "detail", detail);
	if (n_result) {
		str(&e, "result");
		kv_map(&e, result, n_result);
	}
	return frame_end(&e);
}

int bmc_encode_heartbeat(struct bmc_buf *out)
{
	struct enc e;

	frame_begin(&e, out, BMC_HEARTBEAT, -1);
	return frame_end(&e);
}

int bmc_encode_bye(struct bmc_buf *out)
{
	struct enc e;

	frame_begin(&e, out, BMC_BYE, -1);
	return frame_end(&e);
}

int bmc_encode_sample(struct bmc_buf *batch, const char *name, enum bmc_kind kind, double value,
		      const struct bm_client_kv *labels, size_t n_labels, int64_t ts_ms)
{
	struct enc e = {.out = batch, .start = batch->len};

	msgpack_packer_init(&e.pk, batch, buf_write);
	msgpack_pack_array(&e.pk, 5);
	str(&e, name);
	msgpack_pack_int(&e.pk, kind);
	msgpack_pack_double(&e.pk, value);
	if (n_labels)
		kv_map(&e, labels, n_labels);
	else
		msgpack_pack_nil(&e.pk);
	msgpack_pack_int64(&e.pk, ts_ms);
	if (batch->err) {
		int rc = batch->err;
		bmc_buf_truncate(batch, e.start);
		return rc;
	}
	return 0;
}

/* The count is written as array32 (0xdd) whatever its size, so that the
 * prefix has a fixed length and the samples need no second copy. */
void bmc_metric_prefix(uint8_t hdr[BMC_METRIC_PREFIX], uint32_t n, size_t body_len)
{
	bmc_put_be32(hdr, (uint32_t)(BMC_METRIC_PREFIX - BMC_FRAME_HDR + body_len));
	hdr[4] = 0x92; /* fixarray of 2 */
	hdr[5] = BMC_METRIC;
	hdr[6] = 0xdd; /* array32 */
	bmc_put_be32(hdr + 7, n);
}

uint32_t bmc_frame_samples(const uint8_t *frame)
{
	if (frame[BMC_FRAME_HDR + 1] != BMC_METRIC)
		return 0;
	return bmc_get_be32(frame + BMC_FRAME_HDR + 3);
}
