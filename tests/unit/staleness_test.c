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

/* A set (hashed by hash, NULL: the real hash) and the batch its sweeps
 * fill; each test gets a fresh one through setup and teardown. */
struct fx {
	uint64_t (*hash)(const struct bm_sample *smp);
	struct stale_set *s;
	struct bm_batch out;
};

static void fx_init(struct fx *f)
{
	f->s = f->hash ? stale_new_hashed(f->hash) : stale_new();
	f->out = (struct bm_batch){0};
}

static void fx_free(struct fx *f)
{
	bm_batch_free(&f->out);
	stale_free(f->s);
}

static int setup(void **state)
{
	fx_init(*state);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* A test on a fresh fx that starts as *fx (its hash). */
#define FX_TEST(t, fx) cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, fx)

static void note(struct fx *f, const char *name, const char *lname, const char *lvalue)
{
	struct bm_label l = {lname, lvalue};
	struct bm_sample smp = {.name = name, .labels = &l, .n_labels = lname ? 1 : 0, .ts_ms = 1};
	assert_int_equal(stale_note(f->s, &smp), 0);
}

/* Note series "m{i=<i>}" for i in [from, to). */
static void note_range(struct fx *f, int from, int to)
{
	for (int i = from; i < to; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", i);
		note(f, "m", "i", v);
	}
}

/* Sweep at ts, check every marker is a stale NaN at ts, return the count. */
static size_t sweep(struct fx *f, int64_t ts, bool all)
{
	struct bm_batch *out = &f->out;
	bm_batch_reset(out);
	size_t n = stale_sweep(f->s, out, ts, all);
	assert_int_equal(n, out->n);
	for (size_t i = 0; i < out->n; i++) {
		assert_true(bm_is_stale_nan(out->samples[i].value));
		assert_int_equal(out->samples[i].ts_ms, ts);
	}
	return n;
}

/* The last sweep marked name (with the one label value lvalue, or none). */
static bool marked(const struct fx *f, const char *name, const char *lvalue)
{
	const struct bm_batch *out = &f->out;
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
	struct fx *f = *state;
	note(f, "disk_reads", "device", "sda");
	note(f, "disk_reads", "device", "sdb");
	note(f, "load1", NULL, NULL);
	assert_int_equal(sweep(f, 1000, false), 0); /* all new: no marker */
	note(f, "disk_reads", "device", "sda");
	note(f, "load1", NULL, NULL);
	assert_int_equal(sweep(f, 2000, false), 1); /* sdb went */
	assert_true(marked(f, "disk_reads", "sdb"));
	assert_string_equal(f->out.samples[0].labels[0].name, "device");
	note(f, "disk_reads", "device", "sda");
	note(f, "load1", NULL, NULL);
	assert_int_equal(sweep(f, 3000, false), 0); /* marked once only */
	assert_int_equal(stale_count(f->s), 2);
	note(f, "disk_reads", "device", "sdb"); /* back: new again */
	note(f, "load1", NULL, NULL);
	assert_int_equal(sweep(f, 4000, false), 1);
	assert_true(marked(f, "disk_reads", "sda"));
}

static void test_repeats_in_one_collection(void **state)
{
	struct fx *f = *state;
	for (int k = 0; k < 3; k++)
		note(f, "up", "job", "a");
	assert_int_equal(stale_count(f->s), 1);
	assert_int_equal(sweep(f, 1000, false), 0);
	assert_int_equal(sweep(f, 2000, false), 1); /* one marker, not three */
}

static void test_discard_keeps_previous(void **state)
{
	struct fx *f = *state;
	note(f, "a", NULL, NULL);
	note(f, "b", NULL, NULL);
	assert_int_equal(sweep(f, 1000, false), 0);
	/* a failed collection that published a, and c never seen before */
	note(f, "a", NULL, NULL);
	note(f, "c", NULL, NULL);
	stale_discard(f->s);
	/* the next one publishes b only: a goes (it was in the last good
	 * collection), c was never really published and gets no marker */
	note(f, "b", NULL, NULL);
	assert_int_equal(sweep(f, 3000, false), 1);
	assert_true(marked(f, "a", NULL));
	assert_int_equal(stale_count(f->s), 1);
}

static void test_stop_ends_everything(void **state)
{
	struct fx *f = *state;
	note(f, "a", NULL, NULL);
	note(f, "b", NULL, NULL);
	assert_int_equal(sweep(f, 1000, false), 0);
	note(f, "b", NULL, NULL);
	note(f, "c", NULL, NULL);
	/* a (previous only), b (both), c (this one only): one marker each */
	assert_int_equal(sweep(f, 2000, true), 3);
	assert_true(marked(f, "a", NULL) && marked(f, "b", NULL) && marked(f, "c", NULL));
	assert_int_equal(stale_count(f->s), 0);
	assert_int_equal(sweep(f, 3000, true), 0);
}

/* Many series (the set grows), then every other one goes: deletions
 * inside long probe runs must leave every remaining series findable. */
static void check_growth_and_deletion(uint64_t (*hash_fn)(const struct bm_sample *smp), int n)
{
	struct fx g = {.hash = hash_fn}, *f = &g;
	fx_init(f);
	note_range(f, 0, n);
	assert_int_equal(stale_count(f->s), n);
	assert_int_equal(sweep(f, 1000, false), 0);
	for (int i = 0; i < n; i += 2)
		note_range(f, i, i + 1);
	assert_int_equal(sweep(f, 2000, false), n / 2);
	assert_true(marked(f, "m", "1") && !marked(f, "m", "0"));
	assert_int_equal(stale_count(f->s), n / 2);
	/* the survivors are all still found: noting them adds nothing */
	for (int i = 0; i < n; i += 2)
		note_range(f, i, i + 1);
	assert_int_equal(stale_count(f->s), n / 2);
	assert_int_equal(sweep(f, 3000, false), 0);
	assert_int_equal(sweep(f, 4000, false), n / 2);
	assert_int_equal(stale_count(f->s), 0);
	/* the emptied set shrinks over the next sweeps and still works */
	for (int64_t ts = 5000; ts < 30000; ts += 1000) {
		note_range(f, 0, 3);
		assert_int_equal(sweep(f, ts, false), 0);
	}
	note_range(f, 1, 3);
	assert_int_equal(sweep(f, 30000, false), 1);
	assert_true(marked(f, "m", "0"));
	assert_int_equal(stale_count(f->s), 2);
	fx_free(f);
}

static void test_growth_and_deletion(void **state)
{
	(void)state;
	check_growth_and_deletion(NULL, 5000);
}

static void test_collisions_compare_labels(void **state)
{
	struct fx *f = *state;
	check_growth_and_deletion(same_hash, 300);
	/* same hash, told apart by name, label name, label value, label count */
	note(f, "x", "k", "v");
	note(f, "y", "k", "v");
	note(f, "x", "j", "v");
	note(f, "x", "k", "w");
	note(f, "x", NULL, NULL);
	assert_int_equal(stale_count(f->s), 5);
	assert_int_equal(sweep(f, 1000, false), 0);
	note(f, "x", "k", "w");
	assert_int_equal(sweep(f, 2000, false), 4);
	assert_false(marked(f, "x", "w"));
	assert_true(marked(f, "x", NULL) && marked(f, "y", "v"));
}

/* Runs that start at the last slot wrap to the first. */
static void test_wrapping_runs(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		note(f, name, NULL, NULL); /* home: the last slot */
	}
	note_range(f, 0, 10); /* home: the first slot, behind the wrapped run */
	assert_int_equal(sweep(f, 1000, false), 0);
	note(f, "n19", NULL, NULL);
	note_range(f, 9, 10);
	assert_int_equal(sweep(f, 2000, false), 28);
	assert_true(marked(f, "n0", NULL) && marked(f, "m", "0"));
	assert_false(marked(f, "n19", NULL) || marked(f, "m", "9"));
	note(f, "n19", NULL, NULL);
	note_range(f, 9, 10);
	assert_int_equal(stale_count(f->s), 2);
}

int main(void)
{
	static struct fx real = {.hash = NULL}, one_bucket = {.hash = same_hash},
			 two_buckets = {.hash = two_hashes};
	const struct CMUnitTest tests[] = {
		FX_TEST(test_new_and_gone, &real),
		FX_TEST(test_repeats_in_one_collection, &real),
		FX_TEST(test_discard_keeps_previous, &real),
		FX_TEST(test_stop_ends_everything, &real),
		cmocka_unit_test(test_growth_and_deletion),
		FX_TEST(test_collisions_compare_labels, &one_bucket),
		FX_TEST(test_wrapping_runs, &two_buckets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
