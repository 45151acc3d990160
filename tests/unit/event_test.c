/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Round trips of every standard topic through bm_event.h's codecs, the
 * pinned metric wire format byte by byte, and hostile input: every prefix of
 * valid bodies, wrong types, absurd counts and seeded random bytes (run
 * under ASan/UBSan by the test command).
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "bearmon/bm_event.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Non-ASCII UTF-8 with 2-, 3- and 4-byte sequences. */
#define UTF8 "Grüße, 世界 ✓ \xf0\x9f\x90\xbb"

/* ---------------------------------------------------------------------
 * Topic table: lets the generic tests (truncation, fuzz, required fields)
 * run over every topic through one function pointer type.
 * --------------------------------------------------------------------- */

struct topic {
	const char *name;
	size_t size;
	int (*enc)(const void *e, struct bm_buf *out);
	int (*dec)(const void *body, size_t len, void *out, struct bm_arena *a);
};

#define WRAP(T)                                                                  \
	static int enc_##T(const void *e, struct bm_buf *out)                     \
	{                                                                         \
		return bm_##T##_encode(e, out);                                   \
	}                                                                         \
	static int dec_##T(const void *body, size_t len, void *out, struct bm_arena *a) \
	{                                                                         \
		return bm_##T##_decode(body, len, out, a);                        \
	}
WRAP(anomaly)
WRAP(trend)
WRAP(forecast)
WRAP(correlation)
WRAP(bottleneck)
WRAP(insight)
WRAP(health)
WRAP(alert)
WRAP(notification)
WRAP(candidate)
WRAP(recommendation)
WRAP(action)
WRAP(agent)
WRAP(agent_command)
WRAP(agent_ack)

static int enc_metric(const void *e, struct bm_buf *out)
{
	return bm_metric_batch_encode(e, out);
}

static int dec_metric(const void *body, size_t len, void *out, struct bm_arena *a)
{
	return bm_metric_batch_decode(body, len, out, a);
}

#define TOPIC(T, S) { #T, sizeof(S), enc_##T, dec_##T }
static const struct topic topics[] = {
	TOPIC(metric, struct bm_metric_batch),
	TOPIC(anomaly, struct bm_anomaly_event),
	TOPIC(trend, struct bm_trend_event),
	TOPIC(forecast, struct bm_forecast_event),
	TOPIC(correlation, struct bm_correlation_event),
	TOPIC(bottleneck, struct bm_bottleneck_event),
	TOPIC(insight, struct bm_insight_event),
	TOPIC(health, struct bm_health_event),
	TOPIC(alert, struct bm_alert_event),
	TOPIC(notification, struct bm_notification_event),
	TOPIC(candidate, struct bm_candidate_event),
	TOPIC(recommendation, struct bm_recommendation_event),
	TOPIC(action, struct bm_action_event),
	TOPIC(agent, struct bm_agent_event),
	TOPIC(agent_command, struct bm_agent_command_event),
	TOPIC(agent_ack, struct bm_agent_ack_event),
};

/* Largest event struct, for decode targets of any topic. */
union any_event {
	struct bm_metric_batch m;
	struct bm_anomaly_event an;
	struct bm_trend_event tr;
	struct bm_forecast_event f;
	struct bm_correlation_event co;
	struct bm_bottleneck_event bn;
	struct bm_insight_event in;
	struct bm_health_event he;
	struct bm_alert_event al;
	struct bm_notification_event n;
	struct bm_candidate_event c;
	struct bm_recommendation_event r;
	struct bm_action_event ac;
	struct bm_agent_event ag;
	struct bm_agent_command_event cmd;
	struct bm_agent_ack_event ack;
};

/* ---------------------------------------------------------------------
 * Comparison helpers (exact: doubles by bits, NULL vs "" distinct)
 * --------------------------------------------------------------------- */

static void eq_str(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void eq_f64(double a, double b)
{
	assert_memory_equal(&a, &b, sizeof(a));
}

static void eq_pairs(const struct bm_kv *a, size_t na, const struct bm_kv *b, size_t nb)
{
	assert_int_equal(na, nb);
	if (nb == 0)
		assert_null(b);
	for (size_t i = 0; i < na; i++) {
		eq_str(a[i].key, b[i].key);
		eq_str(a[i].value, b[i].value);
	}
}

static void eq_labels(const struct bm_label *a, uint32_t na, const struct bm_label *b, uint32_t nb)
{
	assert_int_equal(na, nb);
	if (nb == 0)
		assert_null(b);
	for (uint32_t i = 0; i < na; i++) {
		eq_str(a[i].name, b[i].name);
		eq_str(a[i].value, b[i].value);
	}
}

static void eq_strs(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	assert_int_equal(na, nb);
	if (nb == 0)
		assert_null(b);
	for (size_t i = 0; i < na; i++)
		eq_str(a[i], b[i]);
}

static void eq_series(const struct bm_series_ref *a, const struct bm_series_ref *b)
{
	eq_str(a->name, b->name);
	eq_labels(a->labels, a->n_labels, b->labels, b->n_labels);
}

static void eq_evidence(const struct bm_evidence *a, size_t na, const struct bm_evidence *b,
			size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		eq_str(a[i].text, b[i].text);
		eq_series(&a[i].series, &b[i].series);
		eq_f64(a[i].value, b[i].value);
		eq_str(a[i].unit, b[i].unit);
	}
}

static void eq_impact(const struct bm_impact *a, size_t na, const struct bm_impact *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		eq_str(a[i].metric, b[i].metric);
		eq_f64(a[i].rel_change, b[i].rel_change);
		eq_f64(a[i].uncertainty, b[i].uncertainty);
	}
}

static void eq_spec(const struct bm_action_spec *a, const struct bm_action_spec *b)
{
	eq_str(a->actuator, b->actuator);
	eq_str(a->target, b->target);
	eq_pairs(a->params, a->n_params, b->params, b->n_params);
}

/* Exact-size heap copy, so ASan sees any read past the end. */
static void *dup_bytes(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);

	assert_non_null(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

/* Every strict prefix of a valid body must be refused as malformed (a
 * prefix of one msgpack value is never a complete value). */
static void check_prefixes(const struct topic *t, const struct bm_buf *body)
{
	struct bm_arena a = { 0 };
	union any_event out;

	for (size_t n = 0; n < body->len; n++) {
		void *p = dup_bytes(body->data, n);

		bm_arena_reset(&a);
		assert_int_equal(t->dec(p, n, &out, &a), BM_EPROTO);
		free(p);
	}
	bm_arena_free(&a);
}

/* The body must be one complete msgpack value by msgpack-c's reading too. */
static void check_msgpack_c_reads(const struct bm_buf *body)
{
	msgpack_unpacked u;
	size_t off = 0;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, body->data, body->len, &off),
			 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, body->len);
	msgpack_unpacked_destroy(&u);
}

/*
 * Encode e, decode into out (strings in *a), re-encode and require the same
 * bytes, then try every prefix. The caller compares the fields.
 */
static void roundtrip(const struct topic *t, const void *e, void *out, struct bm_arena *a)
{
	struct bm_buf b1 = { 0 }, b2 = { 0 };
	void *body;

	assert_int_equal(t->enc(e, &b1), 0);
	assert_true(b1.len > 0);
	check_msgpack_c_reads(&b1);
	body = dup_bytes(b1.data, b1.len);
	assert_int_equal(t->dec(body, b1.len, out, a), 0);
	free(body); /* decoded strings must not point into the body */
	assert_int_equal(t->enc(out, &b2), 0);
	assert_int_equal(b1.len, b2.len);
	assert_memory_equal(b1.data, b2.data, b1.len);
	check_prefixes(t, &b1);
	bm_buf_free(&b1);
	bm_buf_free(&b2);
}

static const struct topic *topic(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(topics); i++) {
		if (strcmp(topics[i].name, name) == 0)
			return &topics[i];
	}
	fail_msg("no topic %s", name);
	return NULL;
}

/* ---------------------------------------------------------------------
 * Shared fixtures
 * --------------------------------------------------------------------- */

static const struct bm_label lab3[] = {
	{ "device", "sda" },
	{ "instance", UTF8 },
	{ "mode", "" },
};
static const struct bm_kv kv2[] = {
	{ "summary", "disk " UTF8 " full in 7h" },
	{ "", "" },
};
static const struct bm_series_ref ser = { "node_filesystem_avail_bytes", lab3, 3 };
static const struct bm_series_ref ser_bare = { "up", NULL, 0 };

static const struct bm_evidence ev2[] = {
	{ .text = "psi cpu some avg10", .series = { "node_pressure_cpu_waiting_seconds_total", lab3, 2 },
	  .value = 0.42, .unit = "ratio" },
	{ .text = NULL, .series = { NULL, NULL, 0 }, .value = -1.5, .unit = NULL },
};
static const struct bm_impact imp2[] = {
	{ "agent_task_duration_seconds{quantile=\"0.95\"}", -0.2, 0.05 },
	{ "process_resident_memory_bytes", 0.1, 0.0 },
};
static const struct bm_kv params1[] = { { "memory.high", "2147483648" } };

/* ---------------------------------------------------------------------
 * Buffer and arena
 * --------------------------------------------------------------------- */

static void test_buf(void **state)
{
	struct bm_buf b = { 0 };
	char big[1000];

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(bm_buf_append(&b, "abc", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "abc", 3);
	assert_int_equal(bm_buf_append(&b, big, sizeof(big)), 0);
	assert_int_equal(b.len, 1003);
	assert_true(b.cap >= 1003);
	assert_memory_equal(b.data + 3, big, sizeof(big));
	bm_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data); /* memory kept */
	assert_int_equal(bm_buf_reserve(&b, SIZE_MAX), BM_ENOMEM);
	assert_int_equal(b.len, 0);
	bm_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
}

static void test_arena(void **state)
{
	struct bm_arena a = { 0 };
	char *first, *p, *s;

	(void)state;
	first = bm_arena_alloc(&a, 24);
	assert_non_null(first);
	assert_int_equal((uintptr_t)first % 16, 0);
	s = bm_arena_strndup(&a, "hello world", 5);
	assert_string_equal(s, "hello");
	p = bm_arena_alloc(&a, 8);
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_non_null(bm_arena_alloc(&a, 0));
	/* Force several chunks, then reset: one chunk holds them all. */
	for (int i = 0; i < 100; i++)
		memset(bm_arena_alloc(&a, 1000), i, 1000);
	bm_arena_reset(&a);
	assert_true((size_t)(a.end - a.cur) >= 100 * 1000);
	first = a.cur;
	for (int i = 0; i < 100; i++)
		assert_non_null(bm_arena_alloc(&a, 992));
	bm_arena_reset(&a);
	assert_ptr_equal(a.cur, first); /* memory reused, no new chunk */
	bm_arena_free(&a);
	assert_null(a.cur);
	assert_null(a.chunks);
	bm_arena_free(&a); /* idempotent */
}

static void test_labels_sort(void **state)
{
	struct bm_label l[20];
	char names[20][16];

	(void)state;
	for (int i = 0; i < 20; i++) {
		snprintf(names[i], sizeof(names[i]), "k%02d", (i * 7) % 20);
		l[i] = (struct bm_label){ names[i], "v" };
	}
	bm_labels_sort(l, 5); /* insertion sort path */
	for (int i = 1; i < 5; i++)
		assert_true(strcmp(l[i - 1].name, l[i].name) < 0);
	bm_labels_sort(l, 20); /* qsort path */
	for (int i = 0; i < 20; i++) {
		char want[16];

		snprintf(want, sizeof(want), "k%02d", i);
		assert_string_equal(l[i].name, want);
	}
	bm_labels_sort(l, 0);
}

/* ---------------------------------------------------------------------
 * metric
 * --------------------------------------------------------------------- */

static double bits2d(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static void test_stale_nan(void **state)
{
	double s = bm_stale_nan();
	uint64_t u;

	(void)state;
	memcpy(&u, &s, sizeof(u));
	assert_true(u == BM_STALE_NAN_BITS);
	assert_true(isnan(s));
	assert_true(bm_is_stale_nan(s));
	assert_false(bm_is_stale_nan(NAN));
	assert_false(bm_is_stale_nan(0.0));
}

static void check_batch(const struct bm_metric_batch *a, const struct bm_metric_batch *b)
{
	eq_str(a->source, b->source);
	assert_int_equal(a->n_meta, b->n_meta);
	for (size_t i = 0; i < a->n_meta; i++) {
		eq_str(a->meta[i].name, b->meta[i].name);
		assert_int_equal(a->meta[i].type, b->meta[i].type);
		eq_str(a->meta[i].unit, b->meta[i].unit);
		eq_str(a->meta[i].help, b->meta[i].help);
	}
	assert_int_equal(a->n_samples, b->n_samples);
	for (size_t i = 0; i < a->n_samples; i++) {
		const struct bm_sample *x = &a->samples[i], *y = &b->samples[i];

		eq_str(x->name, y->name);
		eq_labels(x->labels, x->n_labels, y->labels, y->n_labels);
		assert_true(x->ts_ms == y->ts_ms);
		eq_f64(x->value, y->value);
	}
}

static void test_metric_roundtrip(void **state)
{
	static const uint64_t vbits[] = {
		0x7ff8000000000000ULL, /* quiet NaN */
		0xfff8000000000001ULL, /* negative NaN with payload */
		BM_STALE_NAN_BITS,
		0x7ff0000000000000ULL, /* +Inf */
		0xfff0000000000000ULL, /* -Inf */
		0x8000000000000000ULL, /* -0.0 */
		0x0000000000000001ULL, /* smallest subnormal */
		0x7fefffffffffffffULL, /* DBL_MAX */
		0x3ff0000000000000ULL, /* 1.0 */
	};
	static const int64_t ts[] = { INT64_MIN, INT64_MAX, 0, -1, 127, 128, -32, -33,
				      255, 256, 65535, 65536, INT32_MIN, (int64_t)UINT32_MAX + 1,
				      1700000000123 };
	struct bm_metric_meta meta[] = {
		{ "node_filesystem_avail_bytes", BM_METRIC_GAUGE, "bytes", "Filesystem space " UTF8 },
		{ "http_requests", BM_METRIC_COUNTER, NULL, NULL },
		{ "rpc_duration_seconds", BM_METRIC_SUMMARY, "", "" },
		{ "h", BM_METRIC_HISTOGRAM, "seconds", NULL },
		{ "u", BM_METRIC_UNTYPED, NULL, "x" },
	};
	struct bm_sample s[300];
	struct bm_metric_batch b = { .source = "collector:" UTF8, .meta = meta,
				     .n_meta = ARRAY_SIZE(meta), .samples = s };
	struct bm_metric_batch d;
	struct bm_arena a = { 0 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(s); i++) {
		s[i] = (struct bm_sample){
			.name = i % 2 ? "node_filesystem_avail_bytes" : "x_bucket",
			.labels = i % 3 ? lab3 : NULL,
			.n_labels = i % 3 ? (uint32_t)(i % 3) + 1 : 0,
			.ts_ms = ts[i % ARRAY_SIZE(ts)],
			.value = i < ARRAY_SIZE(vbits) ? bits2d(vbits[i]) : (double)i * 0.1,
		};
	}
	/* 300 samples: array16 header; the first 15 cover every value and
	 * timestamp encoding. */
	b.n_samples = ARRAY_SIZE(s);
	roundtrip(topic("metric"), &b, &d, &a);
	check_batch(&b, &d);
	assert_true(bm_is_stale_nan(d.samples[2].value));
	assert_true(signbit(d.samples[5].value) && d.samples[5].value == 0.0);
	assert_true(d.samples[0].ts_ms == INT64_MIN && d.samples[1].ts_ms == INT64_MAX);

	/* Small batch: prefixes are cheap, NULL source, empty arrays. */
	b.source = NULL;
	b.n_samples = 12;
	b.meta = NULL;
	b.n_meta = 0;
	bm_arena_reset(&a);
	roundtrip(topic("metric"), &b, &d, &a);
	check_batch(&b, &d);
	assert_null(d.meta);
	assert_null(d.samples[0].labels);

	b.n_samples = 0;
	b.samples = NULL;
	roundtrip(topic("metric"), &b, &d, &a);
	assert_int_equal(d.n_samples, 0);
	assert_null(d.samples);
	bm_arena_free(&a);
}

/* The pinned wire format, byte for byte. */
static void test_metric_wire(void **state)
{
	static const struct bm_label l[] = { { "a", "b" } };
	static const struct bm_metric_meta m[] = { { "m", BM_METRIC_COUNTER, NULL, "h" } };
	struct bm_sample s = { "m_total", l, 1, -1, 1.0 };
	struct bm_metric_batch b = { "s", m, 1, &s, 1 };
	static const uint8_t want[] = {
		0x93, 0xa1, 's',
		0x91, 0x94, 0xa1, 'm', 0x01, 0xc0, 0xa1, 'h',
		0x91, 0x94, 0xa7, 'm', '_', 't', 'o', 't', 'a', 'l',
		0x92, 0xa1, 'a', 0xa1, 'b',
		0xff,
		0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
	};
	struct bm_buf out = { 0 };

	(void)state;
	assert_int_equal(bm_metric_batch_encode(&b, &out), 0);
	assert_int_equal(out.len, sizeof(want));
	assert_memory_equal(out.data, want, sizeof(want));
	bm_buf_free(&out);
}

static void test_metric_encode_invalid(void **state)
{
	static const struct bm_label bad[] = { { "a", NULL } };
	struct bm_sample s = { "m", NULL, 0, 0, 0 };
	struct bm_metric_meta m = { NULL, BM_METRIC_GAUGE, NULL, NULL };
	struct bm_metric_batch b = { NULL, NULL, 0, &s, 1 };
	struct bm_buf out = { 0 };

	(void)state;
	assert_int_equal(bm_metric_batch_encode(&b, &out), 0);
	assert_true(out.len > 0);
	s.name = NULL;
	assert_int_equal(bm_metric_batch_encode(&b, &out), BM_EINVAL);
	assert_int_equal(out.len, 0); /* no half body left behind */
	s.name = "m";
	s.n_labels = 1; /* labels NULL */
	assert_int_equal(bm_metric_batch_encode(&b, &out), BM_EINVAL);
	s.labels = bad;
	assert_int_equal(bm_metric_batch_encode(&b, &out), BM_EINVAL);
	s.n_labels = 0;
	b.meta = &m;
	b.n_meta = 1; /* meta name NULL */
	assert_int_equal(bm_metric_batch_encode(&b, &out), BM_EINVAL);
	b.n_meta = 0;
	b.samples = NULL; /* n_samples 1 */
	assert_int_equal(bm_metric_batch_encode(&b, &out), BM_EINVAL);
	assert_int_equal(out.len, 0);
	bm_buf_free(&out);
}

/* Hand-made bodies with msgpack-c's packer. */
struct mp {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void mp_init(struct mp *m)
{
	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void mp_str(struct mp *m, const char *s)
{
	msgpack_pack_str_with_body(&m->pk, s, strlen(s));
}

static int mp_decode(const struct topic *t, struct mp *m, void *out, struct bm_arena *a)
{
	void *p = dup_bytes(m->sb.data, m->sb.size);
	int rc = t->dec(p, m->sb.size, out, a);

	free(p);
	msgpack_sbuffer_destroy(&m->sb);
	return rc;
}

/* An unknown value of every msgpack kind, for forward-compatibility tests:
 * [nil, true, 1.5f, -7, "x", bin, ext, {"k": [1, 2]}, uint64 max] */
static void mp_future(struct mp *m)
{
	msgpack_pack_array(&m->pk, 9);
	msgpack_pack_nil(&m->pk);
	msgpack_pack_true(&m->pk);
	msgpack_pack_float(&m->pk, 1.5f);
	msgpack_pack_int(&m->pk, -7);
	mp_str(m, "x");
	msgpack_pack_bin_with_body(&m->pk, "\x01\x02\x03", 3);
	msgpack_pack_ext_with_body(&m->pk, "abcde", 5, 7);
	msgpack_pack_map(&m->pk, 1);
	mp_str(m, "k");
	msgpack_pack_array(&m->pk, 2);
	msgpack_pack_int(&m->pk, 1);
	msgpack_pack_int(&m->pk, 2);
	msgpack_pack_uint64(&m->pk, UINT64_MAX);
}

enum shape {
	SH_OK,
	SH_EXTRA,       /* extra trailing elements everywhere */
	SH_LENIENT,     /* float32 / int values, unknown type, nil unit */
	SH_TS_FLOAT,    /* wrong types from here on */
	SH_VALUE_STR,
	SH_NAME_INT,
	SH_LABELS_ODD,
	SH_LABEL_INT,
	SH_SHORT_SAMPLE,
	SH_SHORT_TOP,
	SH_TOP_MAP,
	SH_TS_U64,
	SH_NAME_NIL,
	SH_NAME_NUL,    /* "fam\0x": C strings cannot carry it */
	SH_LABEL_NUL,   /* the same in the 8-byte-word part of a long value */
};

static void mp_metric(struct mp *m, enum shape sh)
{
	msgpack_packer *pk = &m->pk;
	int extra = sh == SH_EXTRA;

	mp_init(m);
	if (sh == SH_TOP_MAP) {
		msgpack_pack_map(pk, 0);
		return;
	}
	msgpack_pack_array(pk, sh == SH_SHORT_TOP ? 2 : 3 + extra);
	mp_str(m, "src");
	msgpack_pack_array(pk, 1);
	msgpack_pack_array(pk, 4 + extra);
	mp_str(m, "fam");
	msgpack_pack_int(pk, sh == SH_LENIENT ? 99 : BM_METRIC_GAUGE);
	if (sh == SH_LENIENT)
		msgpack_pack_nil(pk);
	else
		mp_str(m, "bytes");
	mp_str(m, "help");
	if (extra)
		mp_future(m);
	if (sh == SH_SHORT_TOP)
		return;
	msgpack_pack_array(pk, 2);
	for (int i = 0; i < 2; i++) {
		msgpack_pack_array(pk, sh == SH_SHORT_SAMPLE ? 3 : 4 + extra);
		if (sh == SH_NAME_INT)
			msgpack_pack_int(pk, 5);
		else if (sh == SH_NAME_NIL)
			msgpack_pack_nil(pk);
		else if (sh == SH_NAME_NUL)
			msgpack_pack_str_with_body(pk, "fam\0x", 5);
		else
			mp_str(m, "fam_total");
		msgpack_pack_array(pk, sh == SH_LABELS_ODD ? 3 : 4);
		mp_str(m, "a");
		if (sh == SH_LABEL_INT)
			msgpack_pack_int(pk, 1);
		else if (sh == SH_LABEL_NUL)
			msgpack_pack_str_with_body(pk, "0123456789\0abcdefghij", 21);
		else
			mp_str(m, "1");
		mp_str(m, "b");
		if (sh != SH_LABELS_ODD)
			mp_str(m, "");
		if (sh == SH_TS_FLOAT)
			msgpack_pack_double(pk, 1.0);
		else if (sh == SH_TS_U64)
			msgpack_pack_uint64(pk, (uint64_t)INT64_MAX + 1);
		else
			msgpack_pack_int64(pk, 1000 + i);
		if (sh == SH_SHORT_SAMPLE)
			continue;
		if (sh == SH_VALUE_STR)
			mp_str(m, "1.0");
		else if (sh == SH_LENIENT && i)
			msgpack_pack_int(pk, -3);
		else if (sh == SH_LENIENT)
			msgpack_pack_float(pk, 2.5f);
		else
			msgpack_pack_double(pk, 0.5 + i);
		if (extra)
			mp_future(m);
	}
	if (extra)
		mp_future(m);
}

static void test_metric_forward_compat(void **state)
{
	struct bm_arena a = { 0 };
	struct bm_metric_batch d;
	struct mp m;

	(void)state;
	for (int sh = SH_OK; sh <= SH_EXTRA; sh++) {
		mp_metric(&m, sh);
		assert_int_equal(mp_decode(topic("metric"), &m, &d, &a), 0);
		assert_string_equal(d.source, "src");
		assert_int_equal(d.n_meta, 1);
		assert_string_equal(d.meta[0].name, "fam");
		assert_int_equal(d.meta[0].type, BM_METRIC_GAUGE);
		assert_string_equal(d.meta[0].unit, "bytes");
		assert_string_equal(d.meta[0].help, "help");
		assert_int_equal(d.n_samples, 2);
		for (int i = 0; i < 2; i++) {
			assert_string_equal(d.samples[i].name, "fam_total");
			assert_int_equal(d.samples[i].n_labels, 2);
			assert_string_equal(d.samples[i].labels[0].name, "a");
			assert_string_equal(d.samples[i].labels[0].value, "1");
			assert_string_equal(d.samples[i].labels[1].name, "b");
			assert_string_equal(d.samples[i].labels[1].value, "");
			assert_true(d.samples[i].ts_ms == 1000 + i);
			eq_f64(d.samples[i].value, 0.5 + i);
		}
	}
	mp_metric(&m, SH_LENIENT);
	assert_int_equal(mp_decode(topic("metric"), &m, &d, &a), 0);
	assert_int_equal(d.meta[0].type, BM_METRIC_UNTYPED); /* 99: unknown */
	assert_null(d.meta[0].unit);
	eq_f64(d.samples[0].value, 2.5);
	eq_f64(d.samples[1].value, -3.0);
	bm_arena_free(&a);
}

static void test_metric_wrong_types(void **state)
{
	struct bm_arena a = { 0 };
	struct bm_metric_batch d;
	struct mp m;

	(void)state;
	for (int sh = SH_TS_FLOAT; sh <= SH_LABEL_NUL; sh++) {
		mp_metric(&m, sh);
		d.n_samples = 77;
		assert_int_equal(mp_decode(topic("metric"), &m, &d, &a), BM_EPROTO);
		assert_int_equal(d.n_samples, 0); /* zeroed on error */
		assert_null(d.source);
	}
	/* A valid body followed by one more byte. */
	mp_metric(&m, SH_OK);
	msgpack_pack_nil(&m.pk);
	assert_int_equal(mp_decode(topic("metric"), &m, &d, &a), BM_EPROTO);
	assert_int_equal(bm_metric_batch_decode(NULL, 0, &d, &a), BM_EPROTO);
	bm_arena_free(&a);
}

/* Headers that claim far more elements than the body holds must be refused
 * before anything is sized from them: a 160 GiB allocation would make this
 * return BM_ENOMEM, or abort under ASan, instead of BM_EPROTO. */
static void test_absurd_counts(void **state)
{
	static const struct {
		const char *body;
		size_t len;
	} cases[] = {
		{ "\xdd\xff\xff\xff\xff", 5 },
		{ "\x93\xc0\x90\xdd\xff\xff\xff\xff\x94\xa1", 10 },         /* samples */
		{ "\x93\xc0\xdd\x10\x00\x00\x00\x94", 8 },                   /* meta */
		{ "\x93\xc0\x90\x91\x94\xa1m\xdd\x7f\xff\xff\xff", 12 },     /* labels */
		{ "\x93\xc0\x90\x91\x94\xa1m\xdc\xff\xff\xa1x", 12 },
		{ "\x94\xc0\x90\x90\xdf\xff\xff\xff\xff", 9 },               /* skipped map */
		{ "\x94\xc0\x90\x90\xdb\xff\xff\xff\xff", 9 },               /* skipped str */
		{ "\x94\xc0\x90\x90\xc9\xff\xff\xff\xff\x01", 10 },          /* skipped ext */
	};
	static const char *const maps[] = {
		"\xdf\xff\xff\xff\xff\xa1s",
		"\x81\xa1s\x82\xa1n\xa1x\xa1l\xdf\x7f\xff\xff\xff",   /* labels map */
		"\x81\xa3pts\xdd\xff\xff\xff\xff\x80",                /* forecast points */
		"\x81\xa2zz\xdd\xff\xff\xff\xff\x80",                 /* unknown key */
	};
	struct bm_arena a = { 0 };
	union any_event out;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		void *p = dup_bytes(cases[i].body, cases[i].len);

		assert_int_equal(bm_metric_batch_decode(p, cases[i].len, &out.m, &a), BM_EPROTO);
		free(p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		size_t n = strlen(maps[i]);

		for (size_t t = 1; t < ARRAY_SIZE(topics); t++) {
			void *p = dup_bytes(maps[i], n);

			assert_int_equal(topics[t].dec(p, n, &out, &a), BM_EPROTO);
			free(p);
		}
	}
	bm_arena_free(&a);
}

/* A large batch: array32 headers and a string of 70,000 bytes (str32). */
static void test_metric_large(void **state)
{
	size_t n = 70000;
	struct bm_sample *s = calloc(n, sizeof(*s));
	char *longname = malloc(70001);
	struct bm_metric_batch b = { "big", NULL, 0, s, n }, d;
	struct bm_buf out = { 0 };
	struct bm_arena a = { 0 };

	(void)state;
	assert_non_null(s);
	assert_non_null(longname);
	memset(longname, 'n', 70000);
	longname[70000] = '\0';
	for (size_t i = 0; i < n; i++)
		s[i] = (struct bm_sample){ i ? "m" : longname, lab3, 1, (int64_t)i, (double)i };
	assert_int_equal(bm_metric_batch_encode(&b, &out), 0);
	assert_int_equal(bm_metric_batch_decode(out.data, out.len, &d, &a), 0);
	check_batch(&b, &d);
	bm_buf_free(&out);
	bm_arena_free(&a);
	free(s);
	free(longname);
}

/* Decoded events stay valid until the caller resets the arena. */
static void test_arena_ownership(void **state)
{
	struct bm_sample s = { "first", lab3, 3, 1, 2.0 };
	struct bm_metric_batch b = { "one", NULL, 0, &s, 1 }, d1, d2;
	struct bm_buf out = { 0 };
	struct bm_arena a = { 0 };

	(void)state;
	assert_int_equal(bm_metric_batch_encode(&b, &out), 0);
	assert_int_equal(bm_metric_batch_decode(out.data, out.len, &d1, &a), 0);
	s.name = "second";
	b.source = "two";
	assert_int_equal(bm_metric_batch_encode(&b, &out), 0);
	assert_int_equal(bm_metric_batch_decode(out.data, out.len, &d2, &a), 0);
	bm_buf_free(&out);
	assert_string_equal(d1.source, "one");
	assert_string_equal(d1.samples[0].name, "first");
	assert_string_equal(d1.samples[0].labels[1].value, UTF8);
	assert_string_equal(d2.samples[0].name, "second");
	bm_arena_free(&a);
}

/* ---------------------------------------------------------------------
 * The other topics, every field set
 * --------------------------------------------------------------------- */

static void test_anomaly(void **state)
{
	struct bm_anomaly_event e = {
		.series = ser, .ts_ms = 1700000000001, .start_ms = -5, .value = -0.0,
		.score = 0.97, .threshold = 0.9, .expected = 10.5, .lower = 8.25,
		.upper = 12.75, .detector = "ewma_mad", .reason = UTF8,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("anomaly"), &e, &d, &a);
	eq_series(&e.series, &d.series);
	assert_true(d.ts_ms == e.ts_ms && d.start_ms == e.start_ms);
	eq_f64(d.value, e.value);
	eq_f64(d.score, e.score);
	eq_f64(d.threshold, e.threshold);
	eq_f64(d.expected, e.expected);
	eq_f64(d.lower, e.lower);
	eq_f64(d.upper, e.upper);
	eq_str(d.detector, e.detector);
	eq_str(d.reason, e.reason);
	bm_arena_free(&a);
}

static void test_trend(void **state)
{
	struct bm_trend_event e = {
		.series = ser_bare, .ts_ms = INT64_MAX, .window_ms = 3600000, .n_samples = 3600,
		.slope_per_s = -1.25e-3, .intercept = 99.5, .rel_change = NAN,
		.direction = BM_TREND_DECREASING, .statistic = -0.66, .p_value = 1e-9,
		.method = "theil_sen", .test = "",
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("trend"), &e, &d, &a);
	eq_series(&e.series, &d.series);
	assert_true(d.ts_ms == INT64_MAX && d.window_ms == 3600000 && d.n_samples == 3600);
	eq_f64(d.slope_per_s, e.slope_per_s);
	eq_f64(d.intercept, e.intercept);
	eq_f64(d.rel_change, e.rel_change);
	assert_int_equal(d.direction, BM_TREND_DECREASING);
	eq_f64(d.statistic, e.statistic);
	eq_f64(d.p_value, e.p_value);
	eq_str(d.method, "theil_sen");
	eq_str(d.test, "");
	bm_arena_free(&a);
}

static void test_forecast(void **state)
{
	static const struct bm_forecast_point pts[] = {
		{ 1000, 1.5, 1.0, 2.0 },
		{ 2000, INFINITY, -INFINITY, NAN },
		{ INT64_MIN, -0.0, 0.0, DBL_MAX },
	};
	struct bm_forecast_event e = {
		.series = ser, .ts_ms = 999, .model = "holt_winters", .horizon_ms = 7200000,
		.step_ms = 60000, .season_ms = 86400000, .interval_level = 0.95,
		.confidence = 0.8, .error_mase = 0.71, .trend = BM_TREND_INCREASING,
		.anomaly_risk = 0.05, .has_threshold = true, .threshold = 1e12,
		.cross = BM_CROSS_BELOW, .time_to_threshold_ms = 25200000, .points = pts,
		.n_points = ARRAY_SIZE(pts),
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("forecast"), &e, &d, &a);
	eq_series(&e.series, &d.series);
	assert_true(d.ts_ms == 999 && d.horizon_ms == 7200000 && d.step_ms == 60000 &&
		    d.season_ms == 86400000 && d.time_to_threshold_ms == 25200000);
	eq_str(d.model, "holt_winters");
	eq_f64(d.interval_level, e.interval_level);
	eq_f64(d.confidence, e.confidence);
	eq_f64(d.error_mase, e.error_mase);
	assert_int_equal(d.trend, BM_TREND_INCREASING);
	eq_f64(d.anomaly_risk, e.anomaly_risk);
	assert_true(d.has_threshold);
	eq_f64(d.threshold, e.threshold);
	assert_int_equal(d.cross, BM_CROSS_BELOW);
	assert_int_equal(d.n_points, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_true(d.points[i].ts_ms == pts[i].ts_ms);
		eq_f64(d.points[i].yhat, pts[i].yhat);
		eq_f64(d.points[i].lower, pts[i].lower);
		eq_f64(d.points[i].upper, pts[i].upper);
	}
	bm_arena_free(&a);
}

static void test_correlation(void **state)
{
	struct bm_correlation_event e = {
		.a = ser, .b = ser_bare, .ts_ms = 5, .window_ms = 600000,
		.method = BM_CORR_SPEARMAN, .coefficient = -0.93, .lag_ms = -30000,
		.p_value = 0.001, .n_samples = 600,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("correlation"), &e, &d, &a);
	eq_series(&e.a, &d.a);
	eq_series(&e.b, &d.b);
	assert_true(d.ts_ms == 5 && d.window_ms == 600000 && d.lag_ms == -30000 &&
		    d.n_samples == 600);
	assert_int_equal(d.method, BM_CORR_SPEARMAN);
	eq_f64(d.coefficient, e.coefficient);
	eq_f64(d.p_value, e.p_value);
	bm_arena_free(&a);
}

static void test_bottleneck(void **state)
{
	struct bm_bottleneck_event e = {
		.ts_ms = 10, .since_ms = 7, .id = "cpu/saturation", .resource = "cpu",
		.kind = BM_BN_SATURATION, .severity = BM_SEV_CRITICAL, .impact = 0.8,
		.confidence = 0.6, .summary = "CPU saturated " UTF8,
		.recommendation = "lower the thread pool of agent planner-1", .labels = lab3,
		.n_labels = 3, .evidence = ev2, .n_evidence = 2,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("bottleneck"), &e, &d, &a);
	assert_true(d.ts_ms == 10 && d.since_ms == 7);
	eq_str(d.id, e.id);
	eq_str(d.resource, "cpu");
	assert_int_equal(d.kind, BM_BN_SATURATION);
	assert_int_equal(d.severity, BM_SEV_CRITICAL);
	eq_f64(d.impact, 0.8);
	eq_f64(d.confidence, 0.6);
	eq_str(d.summary, e.summary);
	eq_str(d.recommendation, e.recommendation);
	eq_labels(e.labels, e.n_labels, d.labels, d.n_labels);
	eq_evidence(e.evidence, e.n_evidence, d.evidence, d.n_evidence);
	assert_null(d.evidence[1].series.name); /* optional series left out */
	bm_arena_free(&a);
}

static void test_insight(void **state)
{
	static const struct bm_series_ref rel[] = { { "a", lab3, 1 }, { "b", NULL, 0 } };
	char text[300];
	struct bm_insight_event e = {
		.ts_ms = 11, .id = "i-1", .title = UTF8, .text = text,
		.severity = BM_SEV_EMERGENCY, .category = "capacity", .source = "insights:default",
		.related = rel, .n_related = 2,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	memset(text, 't', sizeof(text) - 1); /* str16 */
	text[sizeof(text) - 1] = '\0';
	roundtrip(topic("insight"), &e, &d, &a);
	assert_true(d.ts_ms == 11);
	eq_str(d.id, "i-1");
	eq_str(d.title, UTF8);
	eq_str(d.text, text);
	assert_int_equal(d.severity, BM_SEV_EMERGENCY);
	eq_str(d.category, "capacity");
	eq_str(d.source, e.source);
	assert_int_equal(d.n_related, 2);
	eq_series(&rel[0], &d.related[0]);
	eq_series(&rel[1], &d.related[1]);
	bm_arena_free(&a);
}

static void test_health(void **state)
{
	static const struct bm_health_reason why[] = {
		{ "memory pressure " UTF8, 30.0, { "node_pressure_memory", lab3, 3 } },
		{ "", 0.5, { NULL, NULL, 0 } },
	};
	struct bm_health_event e = {
		.ts_ms = 12, .component = "memory", .score = 69.5,
		.status = BM_HEALTH_DEGRADED, .reasons = why, .n_reasons = 2,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("health"), &e, &d, &a);
	assert_true(d.ts_ms == 12);
	eq_str(d.component, "memory");
	eq_f64(d.score, 69.5);
	assert_int_equal(d.status, BM_HEALTH_DEGRADED);
	assert_int_equal(d.n_reasons, 2);
	for (size_t i = 0; i < 2; i++) {
		eq_str(d.reasons[i].text, why[i].text);
		eq_f64(d.reasons[i].penalty, why[i].penalty);
		eq_series(&why[i].series, &d.reasons[i].series);
	}
	bm_arena_free(&a);
}

static void test_alert(void **state)
{
	static const char *const to[] = { "webhook:ops", "alertmanager:default", "" };
	struct bm_alert_event e = {
		.ts_ms = 13, .rule_id = "fs-full", .rule_name = "FilesystemFull",
		.fingerprint = "a1b2c3d4e5f60718", .state = BM_ALERT_RESOLVED,
		.severity = BM_SEV_WARNING, .labels = lab3, .n_labels = 3,
		.annotations = kv2, .n_annotations = 2, .value = 0.03, .threshold = 0.05,
		.active_since_ms = 100, .fired_at_ms = 200, .resolved_at_ms = 300,
		.keep_firing_since_ms = 250, .flapping = true, .silenced = true,
		.silence_id = "s-9", .generator_url = "http://127.0.0.1:9464/#fs",
		.notifiers = to, .n_notifiers = 3,
		.ack = { "user:" UTF8, 150, 0, "looking" },
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("alert"), &e, &d, &a);
	assert_true(d.ts_ms == 13);
	eq_str(d.rule_id, e.rule_id);
	eq_str(d.rule_name, e.rule_name);
	eq_str(d.fingerprint, e.fingerprint);
	assert_int_equal(d.state, BM_ALERT_RESOLVED);
	assert_int_equal(d.severity, BM_SEV_WARNING);
	eq_labels(e.labels, e.n_labels, d.labels, d.n_labels);
	eq_pairs(e.annotations, e.n_annotations, d.annotations, d.n_annotations);
	eq_f64(d.value, 0.03);
	eq_f64(d.threshold, 0.05);
	assert_true(d.active_since_ms == 100 && d.fired_at_ms == 200 &&
		    d.resolved_at_ms == 300 && d.keep_firing_since_ms == 250);
	assert_true(d.flapping && d.silenced);
	eq_str(d.silence_id, "s-9");
	eq_str(d.generator_url, e.generator_url);
	eq_strs(e.notifiers, e.n_notifiers, d.notifiers, d.n_notifiers);
	eq_str(d.ack.by, e.ack.by);
	assert_true(d.ack.at_ms == 150 && d.ack.expires_ms == 0);
	eq_str(d.ack.comment, "looking");
	bm_arena_free(&a);
}

static void test_notification(void **state)
{
	static const char *const fps[] = { "a1b2", "c3d4" };
	struct bm_notification_event e = {
		.ts_ms = 14, .notifier = "webhook:ops", .receiver = "https://hooks.example/x",
		.group_key = "{}:{alertname=\"FilesystemFull\"}", .fingerprints = fps,
		.n_fingerprints = 2, .alert_state = BM_ALERT_FIRING, .attempt = UINT32_MAX,
		.outcome = BM_NOTIFY_RETRYING, .latency_ms = 1234, .next_retry_ms = 20000,
		.status_code = 503, .error = "HTTP 503 " UTF8,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("notification"), &e, &d, &a);
	assert_true(d.ts_ms == 14 && d.latency_ms == 1234 && d.next_retry_ms == 20000 &&
		    d.status_code == 503);
	eq_str(d.notifier, e.notifier);
	eq_str(d.receiver, e.receiver);
	eq_str(d.group_key, e.group_key);
	eq_strs(e.fingerprints, e.n_fingerprints, d.fingerprints, d.n_fingerprints);
	assert_int_equal(d.alert_state, BM_ALERT_FIRING);
	assert_true(d.attempt == UINT32_MAX);
	assert_int_equal(d.outcome, BM_NOTIFY_RETRYING);
	eq_str(d.error, e.error);
	bm_arena_free(&a);
}

static void test_candidate(void **state)
{
	struct bm_candidate_event e = {
		.ts_ms = 15, .expires_ms = 16, .id = "c-1", .optimizer = "resource:default",
		.dimension = "resource_efficiency",
		.action = { "cgroup", "/sys/fs/cgroup/agents/" UTF8, params1, 1 },
		.impact = imp2, .n_impact = 2, .benefit = 0.7, .risk = 0.2, .confidence = 0.5,
		.rollback = "restore memory.high", .reason = "memory pressure",
		.evidence = ev2, .n_evidence = 2,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("candidate"), &e, &d, &a);
	assert_true(d.ts_ms == 15 && d.expires_ms == 16);
	eq_str(d.id, "c-1");
	eq_str(d.optimizer, e.optimizer);
	eq_str(d.dimension, e.dimension);
	eq_spec(&e.action, &d.action);
	eq_impact(e.impact, e.n_impact, d.impact, d.n_impact);
	eq_f64(d.benefit, 0.7);
	eq_f64(d.risk, 0.2);
	eq_f64(d.confidence, 0.5);
	eq_str(d.rollback, e.rollback);
	eq_str(d.reason, e.reason);
	eq_evidence(e.evidence, e.n_evidence, d.evidence, d.n_evidence);
	bm_arena_free(&a);
}

static void test_recommendation(void **state)
{
	static const struct bm_plan_step steps[] = {
		{ "c-1", { "cgroup", "/agents", params1, 1 } },
		{ "c-2", { "agent_command", "planner-1", NULL, 0 } },
	};
	struct bm_recommendation_event e = {
		.ts_ms = 16, .id = "p-1", .strategy = "proactive", .mode = BM_MODE_DRY_RUN,
		.approved = true, .score = 0.66, .benefit = 0.7, .risk = 0.1,
		.uncertainty = 0.15, .why = UTF8, .steps = steps, .n_steps = 2,
		.impact = imp2, .n_impact = 1, .expires_ms = 17,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("recommendation"), &e, &d, &a);
	assert_true(d.ts_ms == 16 && d.expires_ms == 17);
	eq_str(d.id, "p-1");
	eq_str(d.strategy, "proactive");
	assert_int_equal(d.mode, BM_MODE_DRY_RUN);
	assert_true(d.approved);
	eq_f64(d.score, 0.66);
	eq_f64(d.benefit, 0.7);
	eq_f64(d.risk, 0.1);
	eq_f64(d.uncertainty, 0.15);
	eq_str(d.why, UTF8);
	assert_int_equal(d.n_steps, 2);
	for (size_t i = 0; i < 2; i++) {
		eq_str(d.steps[i].candidate_id, steps[i].candidate_id);
		eq_spec(&steps[i].action, &d.steps[i].action);
	}
	eq_impact(e.impact, e.n_impact, d.impact, d.n_impact);
	bm_arena_free(&a);
}

static void test_action(void **state)
{
	static const struct bm_kv before[] = { { "memory.high", "max" } };
	struct bm_action_event e = {
		.ts_ms = 17, .id = "act-1", .plan_id = "p-1", .candidate_id = "c-1",
		.state = BM_ACTION_ROLLED_BACK, .dry_run = true,
		.action = { "cgroup", "/agents", params1, 1 }, .before = before, .n_before = 1,
		.after = params1, .n_after = 1, .measured = imp2, .n_measured = 2,
		.approved_by = "gate:auto", .reason = "p95 latency regressed " UTF8,
		.error = "",
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("action"), &e, &d, &a);
	assert_true(d.ts_ms == 17);
	eq_str(d.id, "act-1");
	eq_str(d.plan_id, "p-1");
	eq_str(d.candidate_id, "c-1");
	assert_int_equal(d.state, BM_ACTION_ROLLED_BACK);
	assert_true(d.dry_run);
	eq_spec(&e.action, &d.action);
	eq_pairs(e.before, e.n_before, d.before, d.n_before);
	eq_pairs(e.after, e.n_after, d.after, d.n_after);
	eq_impact(e.measured, e.n_measured, d.measured, d.n_measured);
	eq_str(d.approved_by, e.approved_by);
	eq_str(d.reason, e.reason);
	eq_str(d.error, "");
	bm_arena_free(&a);
}

static void test_agent(void **state)
{
	static const char *const caps[] = { "set_batch_size", "evict_cache" };
	struct bm_agent_event e = {
		.ts_ms = 18, .kind = BM_AGENT_REGISTRY, .agent_id = "planner-" UTF8,
		.type = "planner", .pid = 4242, .version = "1.2.3", .protocol = 1,
		.state = BM_AGENT_STALE, .first_seen_ms = 1, .last_seen_ms = 2,
		.peer = "tcp:127.0.0.1:40312", .capabilities = caps, .n_capabilities = 2,
		.labels = lab3, .n_labels = 1,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("agent"), &e, &d, &a);
	assert_true(d.ts_ms == 18 && d.pid == 4242 && d.protocol == 1 &&
		    d.first_seen_ms == 1 && d.last_seen_ms == 2);
	assert_int_equal(d.kind, BM_AGENT_REGISTRY);
	eq_str(d.agent_id, e.agent_id);
	eq_str(d.type, "planner");
	eq_str(d.version, "1.2.3");
	assert_int_equal(d.state, BM_AGENT_STALE);
	eq_str(d.peer, e.peer);
	eq_strs(e.capabilities, e.n_capabilities, d.capabilities, d.n_capabilities);
	eq_labels(e.labels, e.n_labels, d.labels, d.n_labels);
	bm_arena_free(&a);
}

static void test_agent_command(void **state)
{
	struct bm_agent_command_event e = {
		.ts_ms = 19, .command_id = "cmd-1", .agent_id = "planner-1",
		.name = "set_batch_size", .args = kv2, .n_args = 2, .deadline_ms = 20,
		.action_id = "act-1",
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("agent_command"), &e, &d, &a);
	assert_true(d.ts_ms == 19 && d.deadline_ms == 20);
	eq_str(d.command_id, "cmd-1");
	eq_str(d.agent_id, "planner-1");
	eq_str(d.name, "set_batch_size");
	eq_pairs(e.args, e.n_args, d.args, d.n_args);
	eq_str(d.action_id, "act-1");
	bm_arena_free(&a);
}

static void test_agent_ack(void **state)
{
	struct bm_agent_ack_event e = {
		.ts_ms = 20, .command_id = "cmd-1", .agent_id = "planner-1", .ok = true,
		.detail = UTF8, .result = params1, .n_result = 1,
	}, d;
	struct bm_arena a = { 0 };

	(void)state;
	roundtrip(topic("agent_ack"), &e, &d, &a);
	assert_true(d.ts_ms == 20 && d.ok);
	eq_str(d.command_id, "cmd-1");
	eq_str(d.agent_id, "planner-1");
	eq_str(d.detail, UTF8);
	eq_pairs(e.result, e.n_result, d.result, d.n_result);
	bm_arena_free(&a);
}

/* ---------------------------------------------------------------------
 * Generic map-codec behaviour
 * --------------------------------------------------------------------- */

/* Map keys are wire format: pin one topic byte for byte and another key by
 * key through msgpack-c's own reading. */
static const msgpack_object *mp_get(const msgpack_object *map, const char *key)
{
	assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
		    memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0)
			return &kv->val;
	}
	fail_msg("key %s missing", key);
	return NULL;
}

static void test_map_wire(void **state)
{
	static const uint8_t want[] = {
		0x85, 0xa2, 't', 's', 0x14, 0xa3, 'c', 'm', 'd', 0xa1, 'c',
		0xa5, 'a', 'g', 'e', 'n', 't', 0xa1, 'a', 0xa2, 'o', 'k', 0xc3,
		0xa6, 'd', 'e', 't', 'a', 'i', 'l', 0xa1, 'd',
	};
	struct bm_agent_ack_event ack = { .ts_ms = 20, .command_id = "c", .agent_id = "a",
					  .ok = true, .detail = "d" };
	struct bm_anomaly_event an = {
		.series = ser_bare, .ts_ms = 1, .start_ms = 2, .value = 3, .score = 0.5,
		.threshold = 0.25, .expected = 6, .lower = 7, .upper = 8, .detector = "x",
		.reason = "y",
	};
	static const struct {
		const char *key;
		double v;
	} num[] = { { "ts", 1 }, { "st", 2 }, { "v", 3 }, { "sc", 0.5 }, { "th", 0.25 },
		    { "e", 6 }, { "lo", 7 }, { "hi", 8 } };
	struct bm_buf out = { 0 };
	msgpack_unpacked u;
	size_t off = 0;

	(void)state;
	assert_int_equal(bm_agent_ack_encode(&ack, &out), 0);
	assert_int_equal(out.len, sizeof(want));
	assert_memory_equal(out.data, want, sizeof(want));

	assert_int_equal(bm_anomaly_encode(&an, &out), 0);
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, out.data, out.len, &off), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(u.data.via.map.size, 11);
	for (size_t i = 0; i < ARRAY_SIZE(num); i++) {
		const msgpack_object *o = mp_get(&u.data, num[i].key);
		double v = o->type == MSGPACK_OBJECT_FLOAT64 ? o->via.f64 : (double)o->via.i64;

		eq_f64(v, num[i].v);
	}
	assert_int_equal(mp_get(&u.data, "det")->via.str.size, 1);
	assert_int_equal(mp_get(&u.data, "why")->via.str.ptr[0], 'y');
	assert_int_equal(mp_get(mp_get(&u.data, "s"), "n")->via.str.size, 2);
	msgpack_unpacked_destroy(&u);
	bm_buf_free(&out);
}

/* Only the required fields: everything else decodes to 0/NULL. */
static void test_minimal_events(void **state)
{
	struct bm_arena a = { 0 };
	union any_event out;

	(void)state;
	{
		struct bm_anomaly_event e = { .series = ser_bare, .detector = "d" }, *d = &out.an;

		roundtrip(topic("anomaly"), &e, d, &a);
		eq_str(d->series.name, "up");
		assert_null(d->series.labels);
		assert_null(d->reason);
		assert_true(d->ts_ms == 0);
	}
	{
		struct bm_alert_event e = { .rule_id = "r", .fingerprint = "f" }, *d = &out.al;

		roundtrip(topic("alert"), &e, d, &a);
		eq_str(d->rule_id, "r");
		assert_null(d->rule_name);
		assert_null(d->labels);
		assert_int_equal(d->n_labels, 0);
		assert_null(d->annotations);
		assert_null(d->notifiers);
		assert_null(d->ack.by);
		assert_false(d->flapping);
	}
	{
		struct bm_forecast_event e = { .series = ser_bare, .model = "naive" }, *d = &out.f;

		roundtrip(topic("forecast"), &e, d, &a);
		assert_null(d->points);
		assert_int_equal(d->n_points, 0);
		assert_false(d->has_threshold);
	}
	bm_arena_free(&a);
}

/* Every topic but metric refuses a NULL required field on encode and a
 * body without it on decode. */
static void test_required_fields(void **state)
{
	struct bm_buf out = { 0 };
	struct bm_arena a = { 0 };
	union any_event zero, d;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	for (size_t t = 1; t < ARRAY_SIZE(topics); t++) {
		assert_int_equal(topics[t].enc(&zero, &out), BM_EINVAL);
		assert_int_equal(out.len, 0);
		assert_int_equal(topics[t].dec("\x80", 1, &d, &a), BM_EPROTO);
	}
	/* nil for a required field is absence too */
	assert_int_equal(bm_insight_decode("\x81\xa5title\xc0", 8, &d.in, &a), BM_EPROTO);
	bm_buf_free(&out);
	bm_arena_free(&a);
}

static void test_encode_invalid_arrays(void **state)
{
	static const struct bm_kv nullval[] = { { "k", NULL } };
	static const char *const nullstr[] = { "a", NULL };
	struct bm_alert_event e = { .rule_id = "r", .fingerprint = "f" };
	struct bm_buf out = { 0 };

	(void)state;
	e.n_annotations = 1; /* NULL pointer */
	assert_int_equal(bm_alert_encode(&e, &out), BM_EINVAL);
	e.annotations = nullval;
	assert_int_equal(bm_alert_encode(&e, &out), BM_EINVAL);
	e.n_annotations = 0;
	e.notifiers = nullstr;
	e.n_notifiers = 2;
	assert_int_equal(bm_alert_encode(&e, &out), BM_EINVAL);
	assert_int_equal(out.len, 0);
	e.n_notifiers = 1;
	assert_int_equal(bm_alert_encode(&e, &out), 0);
	bm_buf_free(&out);
}

/* A body from a newer minor: unknown keys of every kind, nil values,
 * integers and float32 for doubles, an unknown enum value. */
static void test_map_forward_compat(void **state)
{
	struct bm_arena a = { 0 };
	struct bm_anomaly_event d;
	struct mp m;

	(void)state;
	mp_init(&m);
	msgpack_pack_map(&m.pk, 8);
	mp_str(&m, "zz_new");
	mp_future(&m);
	mp_str(&m, "s");
	msgpack_pack_map(&m.pk, 3);
	mp_str(&m, "n");
	mp_str(&m, "up");
	mp_str(&m, "new_sub");
	mp_future(&m);
	mp_str(&m, "l");
	msgpack_pack_map(&m.pk, 1);
	mp_str(&m, "job");
	mp_str(&m, "node");
	mp_str(&m, "det");
	mp_str(&m, "ewma");
	mp_str(&m, "sc");
	msgpack_pack_int(&m.pk, 1); /* integer for a double */
	mp_str(&m, "v");
	msgpack_pack_float(&m.pk, 0.25f);
	mp_str(&m, "why");
	msgpack_pack_nil(&m.pk); /* nil: absent */
	mp_str(&m, "ts");
	msgpack_pack_uint32(&m.pk, 4000000000u);
	mp_str(&m, "");
	mp_future(&m);
	assert_int_equal(mp_decode(topic("anomaly"), &m, &d, &a), 0);
	eq_str(d.series.name, "up");
	assert_int_equal(d.series.n_labels, 1);
	eq_str(d.series.labels[0].name, "job");
	eq_str(d.series.labels[0].value, "node");
	eq_str(d.detector, "ewma");
	eq_f64(d.score, 1.0);
	eq_f64(d.value, 0.25);
	assert_null(d.reason);
	assert_true(d.ts_ms == 4000000000);

	/* unknown enum value and wrong types */
	{
		struct bm_alert_event al;
		static const char ok_enum[] = "\x83\xa4rule\xa1r\xa2" "fp\xa1" "f\xa5state\x07";
		static const char *const bad[] = {
			"\x83\xa4rule\xa1r\xa2" "fp\xa1" "f\xa2ts\xa1x",     /* ts string */
			"\x83\xa4rule\xa1r\xa2" "fp\xa1" "f\xa4" "flap\x01", /* bool as int */
			"\x83\xa4rule\xa1r\xa2" "fp\xa1" "f\xa1l\x91\xa1x",  /* labels array */
			"\x83\xa4rule\xa1r\xa2" "fp\xa1" "f\xa2to\xa1x",     /* list as str */
			"\x83\xa4rule\xa1r\xa2" "fp\xa1" "f\xa3" "ack\x90",  /* obj as array */
			"\x83\xa4rule\xa1r\xa2" "fp\xa1" "f\x01\x02",        /* int key */
			"\x92\xa4rule\xa1r",                                /* array body */
			"\x82\xa4rule\xa1r\xa2" "fp\xa1" "f\xc0",            /* trailing byte */
			"\x82\xa4rule\x01\xa2" "fp\xa1" "f",                 /* required as int */
		};

		assert_int_equal(bm_alert_decode(ok_enum, sizeof(ok_enum) - 1, &al, &a), 0);
		assert_int_equal(al.state, BM_ALERT_PENDING);
		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			size_t n = strlen(bad[i]);
			void *p = dup_bytes(bad[i], n);

			assert_int_equal(bm_alert_decode(p, n, &al, &a), BM_EPROTO);
			assert_null(al.rule_id); /* zeroed on error */
			free(p);
		}
	}
	{
		struct bm_notification_event n;
		static const char neg[] = "\x82\xa8notifier\xa1n\xa3try\xff";     /* -1 */
		static const char big[] = "\x82\xa8notifier\xa1n\xa3try\xcf\x00\x00\x00\x01\x00\x00\x00\x00";

		assert_int_equal(bm_notification_decode(neg, sizeof(neg) - 1, &n, &a), BM_EPROTO);
		assert_int_equal(bm_notification_decode(big, sizeof(big) - 1, &n, &a), BM_EPROTO);
	}
	{
		struct bm_alert_event al;
		static const char nul[] = "\x82\xa4rule\xa2r\0\xa2" "fp\xa1" "f";

		assert_int_equal(bm_alert_decode(nul, sizeof(nul) - 1, &al, &a), BM_EPROTO);
		assert_int_equal(bm_alert_decode(nul, sizeof(nul) - 1 - 4, &al, &a), BM_EPROTO);
	}
	bm_arena_free(&a);
}

/* ---------------------------------------------------------------------
 * Fuzz: seeded random bytes and mutations of valid bodies, every decoder
 * --------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic across platforms */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void fuzz_one(const uint8_t *p, size_t n, struct bm_arena *a)
{
	union any_event out;

	for (size_t t = 0; t < ARRAY_SIZE(topics); t++) {
		void *q = dup_bytes(p, n);
		int rc = topics[t].dec(q, n, &out, a);

		assert_true(rc == 0 || rc == BM_EPROTO);
		if (rc == 0 && t == 0) { /* touch what was decoded */
			for (size_t i = 0; i < out.m.n_samples; i++)
				assert_non_null(out.m.samples[i].name);
		}
		free(q);
		bm_arena_reset(a);
	}
}

static void test_fuzz(void **state)
{
	struct bm_sample s[3] = {
		{ "a", lab3, 3, 1, 1.0 },
		{ "b", NULL, 0, 2, NAN },
		{ "c", lab3, 1, 3, 3 },
	};
	struct bm_metric_meta mm = { "a", BM_METRIC_COUNTER, "bytes", "h" };
	struct bm_metric_batch mb = { "src", &mm, 1, s, 3 };
	struct bm_alert_event al = {
		.rule_id = "r", .fingerprint = "f", .labels = lab3, .n_labels = 3,
		.annotations = kv2, .n_annotations = 2, .ack = { "u", 1, 2, "c" },
	};
	struct bm_candidate_event ca = {
		.id = "c", .optimizer = "o", .action = { "cgroup", "/x", params1, 1 },
		.impact = imp2, .n_impact = 2, .evidence = ev2, .n_evidence = 2,
	};
	struct bm_buf seeds[3] = { { 0 } };
	struct bm_arena a = { 0 };
	uint8_t buf[256];

	(void)state;
	assert_int_equal(bm_metric_batch_encode(&mb, &seeds[0]), 0);
	assert_int_equal(bm_alert_encode(&al, &seeds[1]), 0);
	assert_int_equal(bm_candidate_encode(&ca, &seeds[2]), 0);
	for (int it = 0; it < 4000; it++) {
		size_t n;

		if (it % 2) { /* random bytes, biased to msgpack containers */
			n = rng() % 64;
			for (size_t i = 0; i < n; i++) {
				uint8_t c = (uint8_t)rng();
				buf[i] = (rng() % 4 == 0) ? (uint8_t)(0x80 | (c & 0x1f)) : c;
			}
		} else { /* mutate a valid body */
			const struct bm_buf *sd = &seeds[rng() % 3];

			n = sd->len < sizeof(buf) ? sd->len : sizeof(buf);
			memcpy(buf, sd->data, n);
			for (int k = 1 + (int)(rng() % 4); k > 0 && n; k--)
				buf[rng() % n] = (uint8_t)rng();
			if (rng() % 3 == 0)
				n = rng() % (n + 1);
		}
		fuzz_one(buf, n, &a);
	}
	for (int i = 0; i < 3; i++)
		bm_buf_free(&seeds[i]);
	bm_arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_labels_sort),
		cmocka_unit_test(test_stale_nan),
		cmocka_unit_test(test_metric_roundtrip),
		cmocka_unit_test(test_metric_wire),
		cmocka_unit_test(test_metric_encode_invalid),
		cmocka_unit_test(test_metric_forward_compat),
		cmocka_unit_test(test_metric_wrong_types),
		cmocka_unit_test(test_absurd_counts),
		cmocka_unit_test(test_metric_large),
		cmocka_unit_test(test_arena_ownership),
		cmocka_unit_test(test_anomaly),
		cmocka_unit_test(test_trend),
		cmocka_unit_test(test_forecast),
		cmocka_unit_test(test_correlation),
		cmocka_unit_test(test_bottleneck),
		cmocka_unit_test(test_insight),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_alert),
		cmocka_unit_test(test_notification),
		cmocka_unit_test(test_candidate),
		cmocka_unit_test(test_recommendation),
		cmocka_unit_test(test_action),
		cmocka_unit_test(test_agent),
		cmocka_unit_test(test_agent_command),
		cmocka_unit_test(test_agent_ack),
		cmocka_unit_test(test_map_wire),
		cmocka_unit_test(test_minimal_events),
		cmocka_unit_test(test_required_fields),
		cmocka_unit_test(test_encode_invalid_arrays),
		cmocka_unit_test(test_map_forward_compat),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
