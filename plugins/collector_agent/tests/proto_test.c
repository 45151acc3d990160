/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the agent protocol codec (proto.c), the duration sketch
 * (sketch.c) and the custom series table (series.c): valid messages of
 * every type, and each kind of bad frame classified by its reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "series.h"
#include "sketch.h"

/* A frame built with msgpack-c's packer, and what ap_decode made of it. */
struct body {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct ap_msg m;
	struct ap_scratch s;
};

static void body_init(struct body *b)
{
	memset(b, 0, sizeof(*b));
	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static void body_free(struct body *b)
{
	ap_scratch_free(&b->s);
	msgpack_sbuffer_destroy(&b->sb);
}

/* Start the frame [type, body] anew; the caller packs the body. */
static void frame(struct body *b, int type)
{
	msgpack_sbuffer_clear(&b->sb);
	msgpack_pack_array(&b->pk, 2);
	msgpack_pack_int(&b->pk, type);
}

static void str(struct body *b, const char *s)
{
	msgpack_pack_str(&b->pk, strlen(s));
	msgpack_pack_str_body(&b->pk, s, strlen(s));
}

static int decode(struct body *b)
{
	return ap_decode((const uint8_t *)b->sb.data, b->sb.size, &b->m, &b->s);
}

static int decode_bytes(const char *bytes, size_t n)
{
	struct ap_msg m;
	struct ap_scratch s = {0};
	int rc = ap_decode((const uint8_t *)bytes, n, &m, &s);
	ap_scratch_free(&s);
	return rc;
}

static bool str_is(struct ap_str s, const char *want)
{
	return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

static void test_hello(void **unused)
{
	struct body b;
	body_init(&b);
	frame(&b, AP_HELLO);
	msgpack_pack_map(&b.pk, 8);
	str(&b, "v"), msgpack_pack_int(&b.pk, 1);
	str(&b, "agent_id"), str(&b, "planner-1");
	str(&b, "type"), str(&b, "planner");
	str(&b, "pid"), msgpack_pack_int(&b.pk, 4242);
	str(&b, "version"), str(&b, "2.1");
	str(&b, "labels"), msgpack_pack_map(&b.pk, 2), str(&b, "team"), str(&b, "ai"), str(&b, "zone"),
		str(&b, "eu");
	str(&b, "capabilities"), msgpack_pack_array(&b.pk, 2), str(&b, "evict_cache"),
		str(&b, "set_batch_size");
	str(&b, "future_key"), msgpack_pack_map(&b.pk, 1), str(&b, "x"), msgpack_pack_nil(&b.pk);
	assert_int_equal(decode(&b), AP_OK);
	assert_int_equal(b.m.type, AP_HELLO);
	assert_int_equal(b.m.u.hello.v, 1);
	assert_true(str_is(b.m.u.hello.agent_id, "planner-1"));
	assert_true(str_is(b.m.u.hello.type, "planner"));
	assert_int_equal(b.m.u.hello.pid, 4242);
	assert_int_equal(b.m.u.hello.n_labels, 2);
	assert_true(str_is(b.m.u.hello.labels[1].v, "eu"));
	assert_int_equal(b.m.u.hello.n_caps, 2);
	assert_true(str_is(b.m.u.hello.caps[1], "set_batch_size"));
	body_free(&b);
}

static void test_task_coord_ack(void **unused)
{
	struct body b;
	body_init(&b);
	frame(&b, AP_TASK);
	msgpack_pack_map(&b.pk, 5);
	str(&b, "duration_ms"), msgpack_pack_double(&b.pk, 12.5);
	str(&b, "outcome"), str(&b, "error");
	str(&b, "error_class"), str(&b, "tool_failure");
	str(&b, "tokens_in"), msgpack_pack_int(&b.pk, 100);
	str(&b, "end_ms"), msgpack_pack_nil(&b.pk);
	assert_int_equal(decode(&b), AP_OK);
	assert_true(b.m.u.task.has_duration);
	assert_false(b.m.u.task.has_end);
	assert_true(b.m.u.task.duration_ms == 12.5);
	assert_int_equal(b.m.u.task.tokens_in, 100);
	assert_true(str_is(b.m.u.task.error_class, "tool_failure"));

	frame(&b, AP_COORD);
	msgpack_pack_map(&b.pk, 3);
	str(&b, "peer"), str(&b, "retriever-1");
	str(&b, "latency_ms"), msgpack_pack_int(&b.pk, 7); /* an int where a float is expected */
	str(&b, "bytes"), msgpack_pack_int(&b.pk, 300);
	assert_int_equal(decode(&b), AP_OK);
	assert_true(b.m.u.coord.has_latency);
	assert_false(b.m.u.coord.has_sync);
	assert_true(b.m.u.coord.latency_ms == 7);

	frame(&b, AP_ACK);
	msgpack_pack_map(&b.pk, 3);
	str(&b, "id"), str(&b, "c1");
	str(&b, "ok"), msgpack_pack_true(&b.pk);
	str(&b, "result"), msgpack_pack_map(&b.pk, 1), str(&b, "previous"), str(&b, "32");
	assert_int_equal(decode(&b), AP_OK);
	assert_true(b.m.u.ack.ok);
	assert_int_equal(b.m.u.ack.n_result, 1);
	assert_true(str_is(b.m.u.ack.result[0].v, "32"));
	body_free(&b);
}

static void test_metric(void **unused)
{
	struct body b;
	body_init(&b);
	frame(&b, AP_METRIC);
	msgpack_pack_array(&b.pk, 3);
	msgpack_pack_array(&b.pk, 3);
	str(&b, "agent_quality_accuracy"), msgpack_pack_int(&b.pk, 2), msgpack_pack_double(&b.pk, 0.9);
	msgpack_pack_array(&b.pk, 5);
	str(&b, "hits_total"), msgpack_pack_int(&b.pk, 1), msgpack_pack_int(&b.pk, 3);
	msgpack_pack_map(&b.pk, 2), str(&b, "zz"), str(&b, "1"), str(&b, "aa"), str(&b, "2");
	msgpack_pack_int64(&b.pk, 1700000000123);
	msgpack_pack_array(&b.pk, 6); /* a sixth element from a future version */
	str(&b, "g"), msgpack_pack_int(&b.pk, 2), msgpack_pack_float(&b.pk, 1.5f);
	msgpack_pack_map(&b.pk, 2), str(&b, "a"), str(&b, "1"), str(&b, "a"), str(&b, "2");
	msgpack_pack_nil(&b.pk), msgpack_pack_int(&b.pk, 9);
	assert_int_equal(decode(&b), AP_OK);
	assert_int_equal(b.m.u.metric.n, 3);
	const struct ap_sample *v = b.m.u.metric.v;
	assert_int_equal(v[0].n_labels, 0);
	assert_int_equal(v[0].ts_ms, 0);
	assert_true(v[1].value == 3 && v[1].kind == AP_COUNTER);
	assert_true(str_is(v[1].labels[0].k, "aa")); /* sorted */
	assert_true(str_is(v[1].labels[1].k, "zz"));
	assert_int_equal(v[1].ts_ms, 1700000000123LL);
	assert_false(v[1].dup_label);
	assert_true(v[2].dup_label);
	assert_true(v[2].value == 1.5);
	body_free(&b);
}

static void test_optional_bodies(void **unused)
{
	assert_int_equal(decode_bytes("\x91\x06", 2), AP_OK);             /* [6] */
	assert_int_equal(decode_bytes("\x92\x0a\xc0", 3), AP_OK);         /* [10, nil] */
	assert_int_equal(decode_bytes("\x92\x2a\x81\xa1x\x01", 6), AP_OK); /* [42, {x:1}]: unknown */
	struct ap_msg m;
	struct ap_scratch s = {0};
	assert_int_equal(ap_decode((const uint8_t *)"\x92\x2a\x81\xa1x\x01", 6, &m, &s), AP_OK);
	assert_int_equal(m.type, 42);
	ap_scratch_free(&s);
}

static void test_bad_frames(void **unused)
{
	/* truncated: a 3-element array with one element */
	assert_int_equal(decode_bytes("\x93\x01", 2), AP_R_MSGPACK);
	/* two objects in one frame */
	assert_int_equal(decode_bytes("\x91\x06\x91\x06", 4), AP_R_MSGPACK);
	/* never used marker */
	assert_int_equal(decode_bytes("\xc1", 1), AP_R_MSGPACK);
	/* claims 4 G elements in 7 bytes: refused without allocating */
	assert_int_equal(decode_bytes("\xdd\xff\xff\xff\xff\xa1x", 7), AP_R_MSGPACK);
	assert_int_equal(decode_bytes("\x92\x04\xdd\xff\xff\xff\xff", 7), AP_R_MSGPACK);
	/* valid msgpack of the wrong shape */
	assert_int_equal(decode_bytes("\x81\xa1x\x01", 4), AP_R_SHAPE);       /* a map */
	assert_int_equal(decode_bytes("\x91\xa1x", 3), AP_R_SHAPE);          /* type a string */
	assert_int_equal(decode_bytes("\x91\x00", 2), AP_R_SHAPE);           /* type 0 */
	assert_int_equal(decode_bytes("\x91\x01", 2), AP_R_SHAPE);           /* hello without map */
	assert_int_equal(decode_bytes("\x92\x01\x81\xa8" "agent_id\x05", 13), AP_R_SHAPE);
	assert_int_equal(decode_bytes("\x92\x04\x91\x92\xa1x\x02", 7), AP_R_SHAPE); /* 2-elem sample */
	assert_int_equal(decode_bytes("\x92\x04\x91\x93\x07\x02\x01", 7), AP_R_SHAPE); /* name int */
	assert_int_equal(decode_bytes("\x92\x08\x81\xa2ok\xa3yes", 10), AP_R_SHAPE); /* ok a string */
	/* invalid UTF-8 in valid msgpack */
	assert_int_equal(decode_bytes("\x92\x04\x91\x93\xa2\xc3\x28\x02\x01", 9), AP_R_UTF8);
	assert_int_equal(decode_bytes("\x92\x04\x91\x93\xa2x\x00\x02\x01", 9), AP_R_UTF8); /* NUL */
	assert_int_equal(decode_bytes("\x92\x06\x81\xa2\xed\xa0\x01", 7), AP_R_UTF8); /* surrogate */
}

static void test_utf8(void **unused)
{
	assert_true(ap_utf8_valid("plain ascii text, longer than 8", 31));
	assert_true(ap_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xbb", 14));
	assert_false(ap_utf8_valid("\xc0\xaf", 2));         /* overlong */
	assert_false(ap_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
	assert_false(ap_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(ap_utf8_valid("abc\xe2\x82", 5));      /* cut */
	assert_false(ap_utf8_valid("abcdefgh\0", 9));       /* NUL after an ASCII run */
}

/* The frame ap_encode_* wrote, unpacked by msgpack-c. */
static msgpack_object unpack_frame(struct bm_buf *b, msgpack_zone *z)
{
	assert_true(b->len > AP_HDR);
	assert_int_equal(ap_frame_len((const uint8_t *)b->data), b->len - AP_HDR);
	msgpack_object o;
	size_t off = 0;
	assert_int_equal(msgpack_unpack(b->data + AP_HDR, b->len - AP_HDR, &off, z, &o),
			 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
	return o;
}

static void test_encoders(void **unused)
{
	struct bm_buf b = {0};
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	assert_int_equal(ap_encode_welcome(&b, 1, "bearmond", 1 << 20, 5000), 0);
	msgpack_object o = unpack_frame(&b, &z);
	assert_int_equal(o.via.array.ptr[0].via.u64, AP_WELCOME);
	assert_int_equal(o.via.array.ptr[1].via.map.size, 4);
	bm_buf_reset(&b);
	struct bm_kv args[] = {{"size", "8"}};
	assert_int_equal(ap_encode_command(&b, "c1", "set_batch_size", args, 1, 123), 0);
	o = unpack_frame(&b, &z);
	assert_int_equal(o.via.array.ptr[0].via.u64, AP_COMMAND);
	msgpack_object_map *mp = &o.via.array.ptr[1].via.map;
	assert_int_equal(mp->size, 4);
	assert_int_equal(mp->ptr[3].val.via.u64, 123);
	assert_int_equal(mp->ptr[2].val.via.map.size, 1);
	bm_buf_reset(&b);
	assert_int_equal(ap_encode_error(&b, "limit", "too many"), 0);
	o = unpack_frame(&b, &z);
	assert_int_equal(o.via.array.ptr[0].via.u64, AP_ERROR);
	msgpack_zone_destroy(&z);
	bm_buf_free(&b);
}

static void test_sketch(void **unused)
{
	struct sketch a = {0}, b = {0}, all = {0};
	assert_true(isnan(sk_quantile(&a, 0.5)));
	for (int i = 1; i <= 10000; i++) {
		assert_int_equal(sk_add(i % 2 ? &a : &b, i * 0.1), 0);
		assert_int_equal(sk_add(&all, i * 0.1), 0);
	}
	assert_int_equal(sk_merge(&a, &b), 0);
	const double qs[] = {0.01, 0.5, 0.9, 0.95, 0.99, 1};
	for (size_t k = 0; k < 6; k++) {
		double want = ceil(qs[k] * 10000) * 0.1; /* nearest rank */
		double got = sk_quantile(&a, qs[k]);
		assert_true(fabs(got - want) <= want / 64 + 1e-9);
		assert_true(got == sk_quantile(&all, qs[k])); /* merging loses nothing */
	}
	sk_reset(&a);
	assert_int_equal(sk_add(&a, 0), 0);
	assert_int_equal(sk_add(&a, 1e30), 0); /* clamped: no huge bucket range */
	assert_true(a.n < 2000);
	assert_true(sk_quantile(&a, 0.5) == 0);
	assert_true(fabs(sk_quantile(&a, 1) - SK_MAX) <= SK_MAX / 64);
	sk_free(&a);
	sk_free(&b);
	sk_free(&all);
}

static struct ap_sample sample(const char *name, struct ap_kv *l, uint32_t n)
{
	return (struct ap_sample){.name = {name, (uint32_t)strlen(name)}, .kind = AP_GAUGE,
				  .labels = l, .n_labels = n};
}

static void test_series(void **unused)
{
	struct series_table t = {0};
	struct ap_kv l1[] = {{{"a", 1}, {"x", 1}}}, l2[] = {{{"a", 1}, {"y", 1}}};
	struct bm_label id[] = {{"agent", "a1"}};
	struct ap_sample s1 = sample("m", l1, 1), s2 = sample("m", l2, 1), s3 = sample("ma", NULL, 0);
	for (int i = 0; i < 200; i++) { /* grow the index a few times */
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		struct ap_sample s = sample(name, NULL, 0);
		assert_non_null(series_add(&t, &s, series_hash(&s), id, 1));
	}
	struct cseries *e = series_add(&t, &s1, series_hash(&s1), id, 1);
	assert_non_null(e);
	assert_int_equal(e->n_labels, 2);
	assert_string_equal(e->labels[0].name, "a");
	assert_string_equal(e->labels[1].value, "a1");
	assert_ptr_equal(series_find(&t, &s1, series_hash(&s1)), e);
	assert_null(series_find(&t, &s2, series_hash(&s2)));
	/* a crafted equal hash is still told apart byte for byte */
	assert_null(series_find(&t, &s3, series_hash(&s1)));
	series_drop_last(&t);
	assert_null(series_find(&t, &s1, series_hash(&s1)));
	struct ap_sample s150 = sample("n150", NULL, 0);
	assert_non_null(series_find(&t, &s150, series_hash(&s150)));
	series_free(&t);

	assert_true(valid_metric_name("agent:x_total", 13));
	assert_false(valid_metric_name("1abc", 4));
	assert_false(valid_metric_name("a-b", 3));
	assert_true(valid_label_name("_x1", 3));
	assert_false(valid_label_name("__name__", 8));
	assert_false(valid_label_name("a:b", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),     cmocka_unit_test(test_task_coord_ack),
		cmocka_unit_test(test_metric),    cmocka_unit_test(test_optional_bodies),
		cmocka_unit_test(test_bad_frames), cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_encoders),  cmocka_unit_test(test_sketch),
		cmocka_unit_test(test_series),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
