/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host's staleness tracking (core/staleness.c): new series, a series
 * that goes gets one marker, repeats in a collection, failed collections,
 * the instance stopping, growth and deletion of the hash set, and hash
 * collisions told apart by the real name and labels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "staleness.h"

/* Every series in one bucket: a collision on every note. */
static uint64_t same_hash(const struct bm_sample *smp)
{
	(void)smp;
	return 42;
}

/* Only two buckets: long runs that wrap around the table's end. */
static uint64_t two_hashes(const struct bm_sample *smp)
{
	return smp->n_labels ? 0 : (uint64_t)-1;
}

static void note(struct stale_set *s, const char *name, const char *lname, const char *lvalue)
{
	struct bm_label l = {lname, lvalue};
	struct bm_sample smp = {.name = name, .labels = &l, .n_labels = lname ? 1 : 0, .ts_ms = 1};
	assert_int_equal(stale_note(s, &smp), 0);
}

/* Note series "m{i=<i>}" for i in [from, to). */
static void note_range(struct stale_set *s, int from, int to)
{
	for (int i = from; i < to; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", i);
		note(s, "m", "i", v);
	}
}

/* Sweep at ts, check every marker is a stale NaN at ts, return the count. */
static size_t sweep(struct stale_set *s, struct bm_batch *out, int64_t ts, bool all)
{
	bm_batch_reset(out);
	size_t n = stale_sweep(s, out, ts, all);
	assert_int_equal(n, out->n);
	for (size_t i = 0; i < out->n; i++) {
		assert_true(bm_is_stale_nan(out->samples[i].value));
		assert_int_equal(out->samples[i].ts_ms, ts);
	}
	return n;
}

static bool marked(const struct bm_batch *out, const char *name, const char *lvalue)
{
	for (size_t i = 0; i < out->n; i++) {
		const struct bm_sample *m = &out->samples[i];
		if (strcmp(m->name, name) != 0)
			continue;
		if (!lvalue && m->n_labels == 0)
			return true;
		if (lvalue && m->n_labels == 1 && strcmp(m->labels[0].value, lvalue) == 0)
			return true;
	}
	return false;
}

static void test_new_and_gone(void **state)
{
	(void)state;
	struct stale_set *s = stale_new();
	struct bm_batch out = {0};
	note(s, "disk_reads", "device", "sda");
	note(s, "disk_reads", "device", "sdb");
	note(s, "load1", NULL, NULL);
	assert_int_equal(sweep(s, &out, 1000, false), 0); /* all new: no marker */
	note(s, "disk_reads", "device", "sda");
	note(s, "load1", NULL, NULL);
	assert_int_equal(sweep(s, &out, 2000, false), 1); /* sdb went */
	assert_true(marked(&out, "disk_reads", "sdb"));
	assert_string_equal(out.samples[0].labels[0].name, "device");
	note(s, "disk_reads", "device", "sda");
	note(s, "load1", NULL, NULL);
	assert_int_equal(sweep(s, &out, 3000, false), 0); /* marked once only */
	assert_int_equal(stale_count(s), 2);
	note(s, "disk_reads", "device", "sdb"); /* back: new again */
	note(s, "load1", NULL, NULL);
	assert_int_equal(sweep(s, &out, 4000, false), 1);
	assert_true(marked(&out, "disk_reads", "sda"));
	bm_batch_free(&out);
	stale_free(s);
}

static void test_repeats_in_one_collection(void **state)
{
	(void)state;
	struct stale_set *s = stale_new();
	struct bm_batch out = {0};
	for (int k = 0; k < 3; k++)
		note(s, "up", "job", "a");
	assert_int_equal(stale_count(s), 1);
	assert_int_equal(sweep(s, &out, 1000, false), 0);
	assert_int_equal(sweep(s, &out, 2000, false), 1); /* one marker, not three */
	bm_batch_free(&out);
	stale_free(s);
}

static void test_discard_keeps_previous(void **state)
{
	(void)state;
	struct stale_set *s = stale_new();
	struct bm_batch out = {0};
	note(s, "a", NULL, NULL);
	note(s, "b", NULL, NULL);
	assert_int_equal(sweep(s, &out, 1000, false), 0);
	/* a failed collection that published a, and c never seen before */
	note(s, "a", NULL, NULL);
	note(s, "c", NULL, NULL);
	stale_discard(s);
	/* the next one publishes b only: a goes (it was in the last good
	 * collection), c was never really published and gets no marker */
	note(s, "b", NULL, NULL);
	assert_int_equal(sweep(s, &out, 3000, false), 1);
	assert_true(marked(&out, "a", NULL));
	assert_int_equal(stale_count(s), 1);
	bm_batch_free(&out);
	stale_free(s);
}

static void test_stop_ends_everything(void **state)
{
	(void)state;
	struct stale_set *s = stale_new();
	struct bm_batch out = {0};
	note(s, "a", NULL, NULL);
	note(s, "b", NULL, NULL);
	assert_int_equal(sweep(s, &out, 1000, false), 0);
	note(s, "b", NULL, NULL);
	note(s, "c", NULL, NULL);
	/* a (previous only), b (both), c (this one only): one marker each */
	assert_int_equal(sweep(s, &out, 2000, true), 3);
	assert_true(marked(&out, "a", NULL) && marked(&out, "b", NULL) && marked(&out, "c", NULL));
	assert_int_equal(stale_count(s), 0);
	assert_int_equal(sweep(s, &out, 3000, true), 0);
	bm_batch_free(&out);
	stale_free(s);
}

/* Many series (the set grows), then every other one goes: deletions
 * inside long probe runs must leave every remaining series findable. */
static void check_growth_and_deletion(uint64_t (*hash_fn)(const struct bm_sample *smp), int n)
{
	struct stale_set *s = stale_new_hashed(hash_fn);
	struct bm_batch out = {0};
	note_range(s, 0, n);
	assert_int_equal(stale_count(s), n);
	assert_int_equal(sweep(s, &out, 1000, false), 0);
	for (int i = 0; i < n; i += 2)
		note_range(s, i, i + 1);
	assert_int_equal(sweep(s, &out, 2000, false), n / 2);
	assert_true(marked(&out, "m", "1") && !marked(&out, "m", "0"));
	assert_int_equal(stale_count(s), n / 2);
	/* the survivors are all still found: noting them adds nothing */
	for (int i = 0; i < n; i += 2)
		note_range(s, i, i + 1);
	assert_int_equal(stale_count(s), n / 2);
	assert_int_equal(sweep(s, &out, 3000, false), 0);
	assert_int_equal(sweep(s, &out, 4000, false), n / 2);
	assert_int_equal(stale_count(s), 0);
	/* the emptied set shrinks over the next sweeps and still works */
	for (int64_t ts = 5000; ts < 30000; ts += 1000) {
		note_range(s, 0, 3);
		assert_int_equal(sweep(s, &out, ts, false), 0);
	}
	note_range(s, 1, 3);
	assert_int_equal(sweep(s, &out, 30000, false), 1);
	assert_true(marked(&out, "m", "0"));
	assert_int_equal(stale_count(s), 2);
	bm_batch_free(&out);
	stale_free(s);
}

static void test_growth_and_deletion(void **state)
{
	(void)state;
	check_growth_and_deletion(NULL, 5000);
}

static void test_collisions_compare_labels(void **state)
{
	(void)state;
	check_growth_and_deletion(same_hash, 300);
	struct stale_set *s = stale_new_hashed(same_hash);
	struct bm_batch out = {0};
	/* same hash, told apart by name, label name, label value, label count */
	note(s, "x", "k", "v");
	note(s, "y", "k", "v");
	note(s, "x", "j", "v");
	note(s, "x", "k", "w");
	note(s, "x", NULL, NULL);
	assert_int_equal(stale_count(s), 5);
	assert_int_equal(sweep(s, &out, 1000, false), 0);
	note(s, "x", "k", "w");
	assert_int_equal(sweep(s, &out, 2000, false), 4);
	assert_false(marked(&out, "x", "w"));
	assert_true(marked(&out, "x", NULL) && marked(&out, "y", "v"));
	bm_batch_free(&out);
	stale_free(s);
}

/* Runs that start at the last slot wrap to the first. */
static void test_wrapping_runs(void **state)
{
	(void)state;
	struct stale_set *s = stale_new_hashed(two_hashes);
	struct bm_batch out = {0};
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		note(s, name, NULL, NULL); /* home: the last slot */
	}
	note_range(s, 0, 10); /* home: the first slot, behind the wrapped run */
	assert_int_equal(sweep(s, &out, 1000, false), 0);
	note(s, "n19", NULL, NULL);
	note_range(s, 9, 10);
	assert_int_equal(sweep(s, &out, 2000, false), 28);
	assert_true(marked(&out, "n0", NULL) && marked(&out, "m", "0"));
	assert_false(marked(&out, "n19", NULL) || marked(&out, "m", "9"));
	note(s, "n19", NULL, NULL);
	note_range(s, 9, 10);
	assert_int_equal(stale_count(s), 2);
	bm_batch_free(&out);
	stale_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_gone),
		cmocka_unit_test(test_repeats_in_one_collection),
		cmocka_unit_test(test_discard_keeps_previous),
		cmocka_unit_test(test_stop_ends_everything),
		cmocka_unit_test(test_growth_and_deletion),
		cmocka_unit_test(test_collisions_compare_labels),
		cmocka_unit_test(test_wrapping_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
