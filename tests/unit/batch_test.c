/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SDK's collector helpers: the batch builder (copies, sorted labels,
 * default timestamp, round trip through the codec) and name filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bearmon/bm_batch.h"

static void test_batch(void **state)
{
	(void)state;
	struct bm_batch b = {.ts_ms = 1000};
	char tmp[16] = "cpu0";
	assert_int_equal(bm_batch_family(&b, "node_cpu_seconds_total", BM_METRIC_COUNTER, "seconds", "cpu time"), 0);
	assert_int_equal(bm_batch_addl(&b, "node_cpu_seconds_total", 1.5, "mode", "idle", "cpu", tmp, NULL), 0);
	memcpy(tmp, "XXXX", 5); /* the batch kept its own copy */
	assert_int_equal(bm_batch_addl(&b, "node_load1", 0.25, NULL), 0);
	struct bm_metric_batch mb;
	bm_batch_view(&b, &mb);
	assert_int_equal(mb.n_samples, 2);
	assert_int_equal(mb.n_meta, 1);
	assert_string_equal(mb.samples[0].labels[0].name, "cpu"); /* sorted */
	assert_string_equal(mb.samples[0].labels[0].value, "cpu0");
	assert_string_equal(mb.samples[0].labels[1].value, "idle");
	assert_int_equal(mb.samples[0].ts_ms, 1000);
	assert_int_equal(mb.samples[1].n_labels, 0);

	struct bm_buf buf = {0};
	struct bm_arena arena = {0};
	struct bm_metric_batch back;
	assert_int_equal(bm_metric_batch_encode(&mb, &buf), 0);
	assert_int_equal(bm_metric_batch_decode(buf.data, buf.len, &back, &arena), 0);
	assert_int_equal(back.n_samples, 2);
	assert_true(back.samples[0].value == 1.5);
	assert_string_equal(back.meta[0].unit, "seconds");

	bm_batch_reset(&b);
	bm_batch_view(&b, &mb);
	assert_int_equal(mb.n_samples, 0);
	assert_int_equal(mb.n_meta, 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(bm_batch_addl(&b, "x", i, "i", "v", NULL), 0);
	bm_batch_view(&b, &mb);
	assert_int_equal(mb.n_samples, 10000);
	assert_true(mb.samples[9999].value == 9999);
	bm_buf_free(&buf);
	bm_arena_free(&arena);
	bm_batch_free(&b);
}

static void test_filter(void **state)
{
	(void)state;
	char *inc[] = {"sd[a-z]+", "nvme[0-9]+n[0-9]+"};
	char *exc[] = {"sdz"};
	struct bm_strlist i = {2, inc}, e = {1, exc};
	struct bm_filter f;
	struct bm_err err = {0};
	assert_int_equal(bm_filter_init(&f, &i, &e, &err), 0);
	assert_true(bm_filter_match(&f, "sda"));
	assert_true(bm_filter_match(&f, "nvme0n1"));
	assert_false(bm_filter_match(&f, "sda1"));   /* anchored */
	assert_false(bm_filter_match(&f, "xsda"));
	assert_false(bm_filter_match(&f, "sdz"));    /* excluded */
	assert_false(bm_filter_match(&f, "loop0"));
	bm_filter_free(&f);

	struct bm_filter all;
	assert_int_equal(bm_filter_init(&all, NULL, &e, &err), 0);
	assert_true(bm_filter_match(&all, "anything"));
	assert_false(bm_filter_match(&all, "sdz"));
	bm_filter_free(&all);

	char *bad[] = {"sd[a-"};
	struct bm_strlist b = {1, bad};
	assert_int_equal(bm_filter_init(&f, &b, NULL, &err), BM_EINVAL);
	assert_non_null(strstr(err.msg, "bad pattern \"sd[a-\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
