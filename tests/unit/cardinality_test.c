/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-source series limiter (plugins/common/cardinality.c): the
 * series cap, the label size limits, forgetting idle series, growth.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "../../plugins/common/cardinality.c"

static bool admit_n(struct card_limiter *c, const char *name, int i)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", i);
	struct bm_label l = {"id", v};
	return card_admit(c, name, &l, 1);
}

static void test_series_cap(void **state)
{
	(void)state;
	struct card_limiter c;
	assert_int_equal(card_init(&c, &(struct card_limits){.max_series = 100}), 0);
	for (int i = 0; i < 100; i++)
		assert_true(admit_n(&c, "m", i));
	assert_false(admit_n(&c, "m", 100)); /* new: refused */
	assert_false(admit_n(&c, "other", 0));
	assert_true(admit_n(&c, "m", 42)); /* known: always admitted */
	assert_int_equal(c.dropped_series, 2);
	assert_int_equal(c.n, 100);
	card_clear(&c);
	assert_true(admit_n(&c, "m", 100));
	assert_int_equal(c.dropped_series, 2); /* counters survive a clear */
	card_free(&c);
}

static void test_label_limits(void **state)
{
	(void)state;
	struct card_limiter c;
	assert_int_equal(card_init(&c, &(struct card_limits){.max_labels = 2, .max_name_len = 8,
							      .max_value_len = 4}), 0);
	struct bm_label ok[] = {{"a", "1234"}, {"b", "x"}};
	struct bm_label three[] = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
	struct bm_label long_value[] = {{"a", "12345"}};
	struct bm_label long_name[] = {{"abcdefghi", "1"}};
	assert_true(card_admit(&c, "metric", ok, 2));
	assert_false(card_admit(&c, "metric", three, 3));
	assert_false(card_admit(&c, "metric", long_value, 1));
	assert_false(card_admit(&c, "metric", long_name, 1));
	assert_false(card_admit(&c, "metric_name_too_long", NULL, 0));
	assert_int_equal(c.dropped_labels, 4);
	assert_int_equal(c.dropped_series, 0);
	card_free(&c);
}

/* Label boundaries matter: a{x="ab"} and a{x="a",b=""} are different. */
static void test_distinct_series(void **state)
{
	(void)state;
	struct card_limiter c;
	assert_int_equal(card_init(&c, &(struct card_limits){.max_series = 2}), 0);
	struct bm_label one[] = {{"x", "ab"}};
	struct bm_label two[] = {{"x", "a"}, {"b", ""}};
	assert_true(card_admit(&c, "a", one, 1));
	assert_true(card_admit(&c, "a", two, 2));
	assert_int_equal(c.n, 2);
	card_free(&c);
}

static void test_idle_series_forgotten(void **state)
{
	(void)state;
	struct card_limiter c;
	assert_int_equal(card_init(&c, &(struct card_limits){.max_series = 10, .idle_sweeps = 2}), 0);
	for (int i = 0; i < 10; i++)
		assert_true(admit_n(&c, "m", i));
	card_sweep(&c);
	assert_true(admit_n(&c, "m", 0)); /* 0 stays alive */
	card_sweep(&c);
	assert_int_equal(c.n, 1); /* 1..9 idle for two sweeps */
	for (int i = 10; i < 19; i++)
		assert_true(admit_n(&c, "m", i)); /* room again */
	assert_false(admit_n(&c, "m", 19));
	card_free(&c);
}

static void test_growth_keeps_members(void **state)
{
	(void)state;
	struct card_limiter c;
	assert_int_equal(card_init(&c, &(struct card_limits){0}), 0);
	for (int i = 0; i < 5000; i++)
		assert_true(admit_n(&c, "m", i));
	assert_int_equal(c.n, 5000);
	for (int i = 0; i < 5000; i++)
		assert_true(admit_n(&c, "m", i));
	assert_int_equal(c.n, 5000); /* every one found again after the rehashes */
	assert_true(c.cap >= 10000);
	card_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_series_cap),
		cmocka_unit_test(test_label_limits),
		cmocka_unit_test(test_distinct_series),
		cmocka_unit_test(test_idle_series_forgotten),
		cmocka_unit_test(test_growth_keeps_members),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
