/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the wire format: WriteRequest bodies decode back to what
 * was encoded (labels, timestamps, values bit for bit, stale NaN), samples
 * group per series in order, damaged bodies are refused; and the reading
 * of answers: verdicts per status, Retry-After, printable reasons.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "response.h"
#include <bearmon/bm_host.h>

/* the SDK wrappers' table: these tests call no host function */
const struct bm_host_api *bm__host_api;

static struct rw_series *series2(const char *name, const char *k, const char *v)
{
	struct bm_label l[2] = {{"__name__", name}, {k, v}};
	return rw_series_new(l, 2);
}

static void assert_label(const Prometheus__TimeSeries *t, size_t i, const char *n, const char *v)
{
	assert_true(i < t->n_labels);
	assert_string_equal(t->labels[i]->name, n);
	assert_string_equal(t->labels[i]->value, v);
}

static void test_round_trip(void **unused)
{
	(void)unused;
	struct rw_series *a = series2("up", "job", "node");
	struct rw_series *b = series2("node_load1", "host", "h1");
	double stale = bm_stale_nan();
	struct rw_item items[] = {
		{a, 1000, 1.0, NULL},  {b, 1000, 0.25, NULL}, {a, 2000, stale, NULL},
		{b, 2000, -0.0, NULL}, {a, 3000, INFINITY, NULL},
	};
	struct rw_encoder e = {0};
	const char *body;
	size_t len;
	int64_t max_ts;
	assert_int_equal(rw_encode(&e, items, 5, &body, &len, &max_ts), 0);
	assert_int_equal(max_ts, 3000);
	Prometheus__WriteRequest *w;
	struct bm_err err = {0};
	assert_int_equal(rw_decode(body, len, &w, &err), 0);
	assert_int_equal(w->n_timeseries, 2); /* grouped per series, first appearance order */
	const Prometheus__TimeSeries *t0 = w->timeseries[0], *t1 = w->timeseries[1];
	assert_label(t0, 0, "__name__", "up");
	assert_label(t0, 1, "job", "node");
	assert_label(t1, 1, "host", "h1");
	assert_int_equal(t0->n_samples, 3);
	assert_int_equal(t1->n_samples, 2);
	assert_int_equal(t0->samples[0]->timestamp, 1000);
	assert_true(bm_is_stale_nan(t0->samples[1]->value)); /* bit-exact marker */
	assert_true(isinf(t0->samples[2]->value));
	/* proto3 leaves a zero out, so -0.0 arrives as 0 (as from Prometheus) */
	assert_true(t1->samples[1]->value == 0);
	assert_int_equal(t1->samples[1]->timestamp, 2000);
	rw_decoded_free(w);
	rw_encoder_free(&e);
	rw_series_free(a);
	rw_series_free(b);
}

/* A sample older than its series' previous one in the batch starts a new
 * TimeSeries: each stays in timestamp order, as receivers require. */
static void test_out_of_order_split(void **unused)
{
	(void)unused;
	struct rw_series *a = series2("x", "k", "v");
	struct rw_item items[] = {{a, 5000, 1, NULL}, {a, 4000, 2, NULL}, {a, 4500, 3, NULL}};
	struct rw_encoder e = {0};
	const char *body;
	size_t len;
	int64_t max_ts;
	assert_int_equal(rw_encode(&e, items, 3, &body, &len, &max_ts), 0);
	Prometheus__WriteRequest *w;
	struct bm_err err = {0};
	assert_int_equal(rw_decode(body, len, &w, &err), 0);
	assert_int_equal(w->n_timeseries, 2);
	assert_int_equal(w->timeseries[0]->n_samples, 1);
	assert_int_equal(w->timeseries[1]->n_samples, 2);
	assert_int_equal(w->timeseries[1]->samples[1]->timestamp, 4500);
	rw_decoded_free(w);
	rw_encoder_free(&e);
	rw_series_free(a);
}

/* Scratch grows across batches; a big batch after a small one. */
static void test_encoder_reuse(void **unused)
{
	(void)unused;
	enum { N = 5000 };
	struct rw_series *s[50];
	char v[50][8];
	for (int i = 0; i < 50; i++) {
		snprintf(v[i], sizeof(v[i]), "%d", i);
		s[i] = series2("m", "i", v[i]);
	}
	struct rw_item *items = calloc(N, sizeof(*items));
	for (int i = 0; i < N; i++)
		items[i] = (struct rw_item){s[i % 50], 1000 + i / 50, i, NULL};
	struct rw_encoder e = {0};
	const char *body;
	size_t len;
	int64_t max_ts;
	assert_int_equal(rw_encode(&e, items, 3, &body, &len, &max_ts), 0);
	assert_int_equal(rw_encode(&e, items, N, &body, &len, &max_ts), 0);
	Prometheus__WriteRequest *w;
	struct bm_err err = {0};
	assert_int_equal(rw_decode(body, len, &w, &err), 0);
	assert_int_equal(w->n_timeseries, 50);
	size_t total = 0;
	for (size_t i = 0; i < w->n_timeseries; i++)
		total += w->timeseries[i]->n_samples;
	assert_int_equal(total, N);
	assert_int_equal(w->timeseries[7]->samples[99]->value, 99 * 50 + 7);
	rw_decoded_free(w);
	rw_encoder_free(&e);
	free(items);
	for (int i = 0; i < 50; i++)
		rw_series_free(s[i]);
}

/* rw_pack's framing gives protobuf-c's own bytes for the same message. */
static void test_pack_equals_protobuf_c(void **unused)
{
	(void)unused;
	struct bm_label la[] = {{"__name__", "up"}, {"instance", "h1:9100"}, {"job", "node"}};
	struct bm_label lb[] = {{"__name__", "x"}, {"long", "a value longer than one hundred and "
							      "twenty-seven bytes, so that its length "
							      "takes two varint bytes, which is the "
							      "case to get right"}};
	struct rw_series *a = rw_series_new(la, 3), *b = rw_series_new(lb, 2);
	struct rw_item items[] = {{a, 1000, 1.0, NULL}, {b, 0, 0.0, NULL},  /* all defaults */
				  {a, 2000, -2.5, NULL}, {a, 1500, 7, NULL}, /* a second run */
				  {b, 10, bm_stale_nan(), NULL}};
	struct rw_encoder e = {0};
	size_t len;
	int64_t max_ts;
	assert_int_equal(rw_pack(&e, items, 5, &len, &max_ts), 0);

	Prometheus__Sample s[5], *sp[5];
	for (int i = 0; i < 5; i++) {
		prometheus__sample__init(&s[i]);
		s[i].value = items[i].value;
		s[i].timestamp = items[i].ts_ms;
		sp[i] = &s[i];
	}
	Prometheus__Sample *run_a1[] = {sp[0], sp[2]}, *run_b[] = {sp[1], sp[4]}, *run_a2[] = {sp[3]};
	Prometheus__TimeSeries t[3], *tp[3];
	struct {
		const struct rw_series *s;
		Prometheus__Sample **v;
		size_t n;
	} runs[] = {{a, run_a1, 2}, {b, run_b, 2}, {a, run_a2, 1}};
	for (int i = 0; i < 3; i++) {
		prometheus__time_series__init(&t[i]);
		t[i].labels = runs[i].s->label_ptrs;
		t[i].n_labels = runs[i].s->n_labels;
		t[i].samples = runs[i].v;
		t[i].n_samples = runs[i].n;
		tp[i] = &t[i];
	}
	Prometheus__WriteRequest w;
	prometheus__write_request__init(&w);
	w.timeseries = tp;
	w.n_timeseries = 3;
	size_t want = prometheus__write_request__get_packed_size(&w);
	uint8_t *ref = malloc(want);
	prometheus__write_request__pack(&w, ref);
	assert_int_equal(len, want);
	assert_memory_equal(e.pb, ref, want);
	assert_int_equal(max_ts, 2000);
	free(ref);
	rw_encoder_free(&e);
	rw_series_free(a);
	rw_series_free(b);
}

/* rw_decode holds bodies to what the 1.0 spec asks of a sender. */
static void test_decode_refuses(void **unused)
{
	(void)unused;
	struct bm_err err = {0};
	Prometheus__WriteRequest *w;
	assert_int_equal(rw_decode("not snappy at all", 17, &w, &err), BM_EPROTO);
	assert_null(w);

	struct {
		struct bm_label l[2];
		const char *why;
	} bad[] = {
		{{{"job", "x"}, {"zone", "a"}}, "no valid __name__"},
		{{{"__name__", "up"}, {"a-b", "x"}}, "bad label name"},
		{{{"__name__", "up"}, {"job", ""}}, "is empty"},
		{{{"job", "x"}, {"__name__", "up"}}, "not sorted"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rw_series *s = rw_series_new(bad[i].l, 2);
		struct rw_item it = {s, 1, 1, NULL};
		struct rw_encoder e = {0};
		const char *body;
		size_t len;
		int64_t max_ts;
		assert_int_equal(rw_encode(&e, &it, 1, &body, &len, &max_ts), 0);
		assert_int_equal(rw_decode(body, len, &w, &err), BM_EPROTO);
		assert_non_null(strstr(err.msg, bad[i].why));
		rw_encoder_free(&e);
		rw_series_free(s);
	}
	/* valid snappy of bytes that are no WriteRequest */
	char junk[64], comp[128];
	size_t n = sizeof(comp);
	memset(junk, 0xff, sizeof(junk));
	assert_int_equal(snappy_compress(junk, sizeof(junk), comp, &n), SNAPPY_OK);
	assert_int_equal(rw_decode(comp, n, &w, &err), BM_EPROTO);
}

static void test_hash(void **unused)
{
	(void)unused;
	struct bm_label x[] = {{"ab", "c"}}, y[] = {{"a", "bc"}};
	assert_int_not_equal(rw_labels_hash(x, 1), rw_labels_hash(y, 1));
	assert_int_equal(rw_labels_hash(x, 1), rw_labels_hash(x, 1));
	assert_int_not_equal(rw_hash_bytes(0, "12345678", 8), rw_hash_bytes(0, "1234567", 7));
}

/* ---- answers ------------------------------------------------------------ */

static struct rw_outcome classify(long status, const char *retry_after, const char *body,
				  bool retry_429)
{
	struct rw_response r = {.transport_ok = true, .status = status, .retry_after = retry_after,
				.body = body, .body_len = body ? strlen(body) : 0};
	struct rw_outcome o;
	rw_classify(&r, retry_429, 1700000000000, &o);
	return o;
}

static void test_verdicts(void **unused)
{
	(void)unused;
	assert_int_equal(classify(204, NULL, NULL, true).verdict, RW_SENT);
	assert_int_equal(classify(200, NULL, NULL, true).verdict, RW_SENT);
	struct rw_outcome o = classify(503, "7", "busy", true);
	assert_int_equal(o.verdict, RW_RETRY);
	assert_int_equal(o.retry_after_ms, 7000);
	assert_string_equal(o.reason, "HTTP 503: busy");
	o = classify(429, NULL, "slow down", true);
	assert_int_equal(o.verdict, RW_RETRY);
	assert_int_equal(o.retry_after_ms, -1);
	assert_non_null(strstr(o.reason, "rate limited"));
	o = classify(429, NULL, NULL, false);
	assert_int_equal(o.verdict, RW_FAIL);
	assert_non_null(strstr(o.reason, "retry_on_http_429 is off"));
	o = classify(400, NULL, "out of order sample\n", true);
	assert_int_equal(o.verdict, RW_FAIL);
	assert_string_equal(o.reason, "HTTP 400: out of order sample");
	assert_int_equal(classify(408, NULL, NULL, true).verdict, RW_FAIL);
	assert_non_null(strstr(classify(302, NULL, NULL, true).reason, "redirects"));

	struct rw_response down = {.transport_ok = false, .transport_error = "Connection refused"};
	rw_classify(&down, true, 0, &o);
	assert_int_equal(o.verdict, RW_RETRY);
	assert_string_equal(o.reason, "no answer: Connection refused");
}

static void test_retry_after(void **unused)
{
	(void)unused;
	int64_t now = 1700000000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
	assert_int_equal(rw_retry_after_ms(NULL, now), -1);
	assert_int_equal(rw_retry_after_ms("0", now), 0);
	assert_int_equal(rw_retry_after_ms(" 120", now), 120000);
	assert_int_equal(rw_retry_after_ms("99999999999", now), RW_RETRY_AFTER_MAX_MS);
	assert_int_equal(rw_retry_after_ms("Tue, 14 Nov 2023 22:13:50 GMT", now), 30000);
	assert_int_equal(rw_retry_after_ms("Tue, 14 Nov 2023 22:00:00 GMT", now), 0);
	assert_int_equal(rw_retry_after_ms("soon", now), -1);
	assert_int_equal(rw_retry_after_ms("-5", now), -1);
}

static void test_printable(void **unused)
{
	(void)unused;
	char out[16];
	rw_printable("a\tb\r\n\x01z", 7, out, sizeof(out));
	assert_string_equal(out, "a b ?z");
	rw_printable("0123456789abcdefghij", 20, out, sizeof(out));
	assert_string_equal(out, "0123456789ab...");
	rw_printable("  lead", 6, out, sizeof(out));
	assert_string_equal(out, "lead");
	rw_printable("x", 1, out, 1);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_out_of_order_split),
		cmocka_unit_test(test_pack_equals_protobuf_c),
		cmocka_unit_test(test_encoder_reuse), cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_hash),	      cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_retry_after),   cmocka_unit_test(test_printable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
