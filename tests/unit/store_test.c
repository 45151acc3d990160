/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's write path and raw queries: series identity, matchers,
 * open + sealed + stored chunks seen as one series, the duplicate and
 * out-of-order rule, restart, and a full disk that loses nothing.
 */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

static char dir[] = "/tmp/bm-store-test-XXXXXX";
static char path[256];

static struct store *open_store(void)
{
	struct bm_err err = {0};
	struct store_conf c = {.path = path, .flush_ms = 60000, .chunk_samples = 120};
	struct store *s = store_open(&c, &err);
	if (!s)
		fprintf(stderr, "store_open: %s\n", err.msg);
	assert_non_null(s);
	return s;
}

/* n samples of name{host=h} at t0 + i*step with value i*mult */
static void ingest(struct store *s, const char *name, const char *host, int64_t t0, int64_t step,
		   int n, double mult)
{
	struct bm_label l[] = {{"host", host}, {"job", "test"}};
	struct bm_sample *v = calloc((size_t)n, sizeof(*v));
	for (int i = 0; i < n; i++)
		v[i] = (struct bm_sample){name, l, 2, t0 + i * step, i * mult};
	struct bm_metric_batch b = {.samples = v, .n_samples = (size_t)n};
	assert_int_equal(store_ingest(s, &b), 0);
	free(v);
}

struct ids {
	int64_t id[16];
	char text[16][128];
	int n;
};
static void collect_id(void *u, int64_t id, const char *text)
{
	struct ids *x = u;
	if (x->n < 16) {
		x->id[x->n] = id;
		snprintf(x->text[x->n], sizeof(x->text[0]), "%s", text);
		x->n++;
	}
}

struct pts {
	int64_t ts[4096];
	double v[4096];
	long n;
};
static void collect_pt(void *u, int64_t ts, double v)
{
	struct pts *p = u;
	if (p->n < 4096) {
		p->ts[p->n] = ts;
		p->v[p->n] = v;
	}
	p->n++;
}

static int64_t find(struct store *s, const char *name, const char *host)
{
	struct bm_matcher m[] = {{"__name__", BM_MATCH_EQ, name}, {"host", BM_MATCH_EQ, host}};
	struct ids x = {0};
	assert_int_equal(store_series(s, m, 2, collect_id, &x), 1);
	return x.id[0];
}

static void check_series(struct store *s, int64_t id, int64_t t0, int64_t step, int n, double mult)
{
	struct pts *p = calloc(1, sizeof(*p));
	assert_int_equal(store_raw(s, id, INT64_MIN, INT64_MAX, collect_pt, p), n);
	for (int i = 0; i < n && i < 4096; i++) {
		assert_int_equal(p->ts[i], t0 + i * step);
		assert_true(p->v[i] == i * mult);
	}
	free(p);
}

static void test_ingest_query(void **state)
{
	(void)state;
	struct store *s = open_store();
	ingest(s, "cpu_seconds_total", "a", 1000, 1000, 300, 1.5); /* 2 sealed + 1 open */
	ingest(s, "cpu_seconds_total", "b", 1000, 1000, 10, 2);
	ingest(s, "load1", "a", 1000, 1000, 5, 0.25);

	struct ids x = {0};
	struct bm_matcher by_name[] = {{"__name__", BM_MATCH_EQ, "cpu_seconds_total"}};
	assert_int_equal(store_series(s, by_name, 1, collect_id, &x), 2);
	assert_string_equal(x.text[0], "cpu_seconds_total{host=\"a\",job=\"test\"}");
	struct bm_matcher re[] = {{"__name__", BM_MATCH_RE, "cpu_.*|load1"}, {"host", BM_MATCH_NEQ, "b"}};
	x.n = 0;
	assert_int_equal(store_series(s, re, 2, collect_id, &x), 2);
	struct bm_matcher nre[] = {{"__name__", BM_MATCH_NRE, "cpu.*"}};
	x.n = 0;
	assert_int_equal(store_series(s, nre, 1, collect_id, &x), 1);
	assert_string_equal(x.text[0], "load1{host=\"a\",job=\"test\"}");
	struct bm_matcher bad[] = {{"x", BM_MATCH_RE, "("}};
	assert_int_equal(store_series(s, bad, 1, collect_id, &x), BM_EINVAL);

	int64_t a = find(s, "cpu_seconds_total", "a");
	check_series(s, a, 1000, 1000, 300, 1.5); /* memory only */
	assert_int_equal(store_flush(s), 0);
	check_series(s, a, 1000, 1000, 300, 1.5); /* disk + open */
	ingest(s, "cpu_seconds_total", "a", 301000, 1000, 50, 1.5);
	struct pts *p = calloc(1, sizeof(*p));
	assert_int_equal(store_raw(s, a, 300000, 302000, collect_pt, p), 3);
	assert_int_equal(p->ts[0], 300000);
	assert_true(p->v[1] == 0); /* the second batch restarts at value 0 */
	free(p);

	/* duplicates and out-of-order samples are dropped and counted */
	ingest(s, "load1", "a", 5000, 1000, 1, 1); /* == last ts */
	ingest(s, "load1", "a", 2000, 1000, 1, 1); /* older */
	struct store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.out_of_order, 1);
	assert_int_equal(st.samples_in, 300 + 10 + 5 + 50);
	assert_int_equal(st.series, 3);
	store_close(s);
}

static void test_restart(void **state)
{
	(void)state;
	struct store *s = open_store();
	int64_t a = find(s, "cpu_seconds_total", "a");
	struct pts *p = calloc(1, sizeof(*p));
	assert_int_equal(store_raw(s, a, INT64_MIN, INT64_MAX, collect_pt, p), 350);
	free(p);
	/* the restart keeps the ordering rule and the series ids */
	ingest(s, "load1", "a", 5000, 1000, 1, 1);
	struct store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.duplicates, 1);
	ingest(s, "load1", "a", 6000, 1000, 3, 1);
	int64_t l = find(s, "load1", "a");
	p = calloc(1, sizeof(*p));
	assert_int_equal(store_raw(s, l, INT64_MIN, INT64_MAX, collect_pt, p), 8);
	assert_int_equal(p->ts[7], 8000);
	free(p);
	store_close(s);
}

static void test_disk_full(void **state)
{
	(void)state;
	struct store *s = open_store();
	/* sqlite raises a cap below the current size to the current size:
	 * nothing more fits */
	assert_int_equal(store_set_max_pages(s, 1), 0);
	ingest(s, "full", "x", 1000, 1000, 1000, 1);
	for (int i = 0; i < 200; i++) {
		char host[16];
		snprintf(host, sizeof(host), "h%d", i);
		ingest(s, "filler", host, 1000, 1000, 200, 3.7);
	}
	assert_int_not_equal(store_flush(s), 0);
	struct store_stats st;
	store_get_stats(s, &st);
	assert_true(st.write_errors >= 1);
	int64_t id = find(s, "full", "x");
	check_series(s, id, 1000, 1000, 1000, 1); /* still there, from memory */
	assert_int_equal(store_set_max_pages(s, 0), 0); /* space is back */
	assert_int_equal(store_flush(s), 0);
	store_close(s);
	s = open_store();
	check_series(s, find(s, "full", "x"), 1000, 1000, 1000, 1);
	store_close(s);
}

static void test_special_values(void **state)
{
	(void)state;
	struct store *s = open_store();
	double vals[] = {NAN, INFINITY, -INFINITY, -0.0, bm_stale_nan(), 1e-310};
	struct bm_sample v[6];
	for (int i = 0; i < 6; i++)
		v[i] = (struct bm_sample){"special", NULL, 0, 1000 + i, vals[i]};
	struct bm_metric_batch b = {.samples = v, .n_samples = 6};
	assert_int_equal(store_ingest(s, &b), 0);
	assert_int_equal(store_flush(s), 0);
	store_close(s);
	s = open_store();
	struct bm_matcher m[] = {{"__name__", BM_MATCH_EQ, "special"}};
	struct ids x = {0};
	assert_int_equal(store_series(s, m, 1, collect_id, &x), 1);
	assert_string_equal(x.text[0], "special{}");
	struct pts *p = calloc(1, sizeof(*p));
	assert_int_equal(store_raw(s, x.id[0], INT64_MIN, INT64_MAX, collect_pt, p), 6);
	for (int i = 0; i < 6; i++)
		assert_memory_equal(&p->v[i], &vals[i], sizeof(double));
	free(p);
	store_close(s);
}

static void test_series_text(void **state)
{
	(void)state;
	struct bm_label l[] = {{"a", "x\"y\\z\nw"}};
	char buf[64];
	store_series_text("m", l, 1, buf, sizeof(buf));
	assert_string_equal(buf, "m{a=\"x\\\"y\\\\z\\nw\"}");
	assert_int_equal(store_series_text("m", l, 1, buf, 4), 17);
	assert_string_equal(buf, "m{a");
}

/* Naive reference: every window of step over the raw samples. */
struct naive {
	int64_t start;
	double min, max, sum, last, inc;
	long count;
};

static double naive_agg(const struct naive *w, enum bm_agg agg)
{
	switch (agg) {
	case BM_AGG_AVG: return w->sum / (double)w->count;
	case BM_AGG_MIN: return w->min;
	case BM_AGG_MAX: return w->max;
	case BM_AGG_SUM: return w->sum;
	case BM_AGG_COUNT: return (double)w->count;
	case BM_AGG_LAST: return w->last;
	default: return w->inc;
	}
}

/* The walk: integer steps (sums stay exact), a counter reset every 997 s. */
#define WALK_N 10800
static double walk[WALK_N];
static const int64_t walk_t0 = 1700000000000; /* a round hour */

static void make_walk(void)
{
	uint32_t x = 12345;
	double v = 1000;
	for (int i = 0; i < WALK_N; i++) {
		x = x * 1103515245u + 12345u;
		v += (double)((x >> 16) % 7);
		if (i % 997 == 996)
			v = (double)((x >> 8) % 5); /* reset */
		walk[i] = v;
	}
}

static void check_range(struct store *s, int64_t id, int n, int64_t step, int want_tier)
{
	for (int agg = BM_AGG_AVG; agg <= BM_AGG_INCREASE; agg++) {
		struct naive w[WALK_N];
		int nw = 0;
		for (int i = 0; i < n; i++) {
			int64_t ts = walk_t0 + (int64_t)i * 1000;
			int64_t ws = ts - ts % step;
			if (!nw || w[nw - 1].start != ws)
				w[nw++] = (struct naive){ws, walk[i], walk[i], 0, 0, 0, 0};
			struct naive *c = &w[nw - 1];
			c->min = fmin(c->min, walk[i]);
			c->max = fmax(c->max, walk[i]);
			c->sum += walk[i];
			c->last = walk[i];
			c->count++;
			if (i)
				c->inc += walk[i] >= walk[i - 1] ? walk[i] - walk[i - 1] : walk[i];
		}
		struct pts *p = calloc(1, sizeof(*p));
		int tier = -1;
		long got = store_range(s, id, walk_t0, walk_t0 + (int64_t)n * 1000, step,
				       (enum bm_agg)agg, &tier, collect_pt, p);
		assert_int_equal(tier, want_tier);
		if (got != nw)
			fprintf(stderr, "step %lld agg %d: %ld windows, want %d (first %lld last %lld)\n",
				(long long)step, agg, got, nw, (long long)p->ts[0],
				(long long)p->ts[got > 0 ? got - 1 : 0]);
		assert_int_equal(got, nw);
		for (int i = 0; i < nw && i < 4096; i++) {
			assert_int_equal(p->ts[i], w[i].start);
			if (p->v[i] != naive_agg(&w[i], (enum bm_agg)agg))
				fprintf(stderr, "step %lld agg %d window %d: %g != %g\n", (long long)step,
					agg, i, p->v[i], naive_agg(&w[i], (enum bm_agg)agg));
			assert_true(p->v[i] == naive_agg(&w[i], (enum bm_agg)agg));
		}
		free(p);
	}
}

static void ingest_walk(struct store *s, int from, int to)
{
	struct bm_label l[] = {{"host", "w"}};
	for (int i = from; i < to; i++) {
		struct bm_sample smp = {"walk_total", l, 1, walk_t0 + (int64_t)i * 1000, walk[i]};
		struct bm_metric_batch b = {.samples = &smp, .n_samples = 1};
		assert_int_equal(store_ingest(s, &b), 0);
	}
}

static void test_rollups_vs_naive(void **state)
{
	(void)state;
	make_walk();
	struct store *s = open_store();
	ingest_walk(s, 0, 4000);
	assert_int_equal(store_flush(s), 0); /* some buckets on disk, some in memory */
	ingest_walk(s, 4000, 7000);
	int64_t id = find(s, "walk_total", "w");
	check_range(s, id, 7000, 60000, 1);
	check_range(s, id, 7000, 3600000, 2);
	check_range(s, id, 7000, 120000, 1);
	check_range(s, id, 7000, 30000, 0); /* not a multiple of 1 min: raw */
	/* a restart continues the open blocks instead of overwriting them */
	store_close(s);
	s = open_store();
	ingest_walk(s, 7000, WALK_N);
	check_range(s, id, WALK_N, 60000, 1);
	check_range(s, id, WALK_N, 3600000, 2);
	assert_int_equal(store_flush(s), 0);
	store_close(s);
	s = open_store();
	check_range(s, id, WALK_N, 60000, 1);
	check_range(s, id, WALK_N, 3600000, 2);
	double v;
	assert_int_equal(store_instant(s, id, walk_t0 + 5000, 300000, &v), 1);
	assert_true(v == walk[5]);
	assert_int_equal(store_instant(s, id, walk_t0 - 1, 300000, &v), 0);
	store_close(s);
}

/* A crash after a flush: the raw samples are on disk, the partial rollup
 * buckets were only in memory; reopening rebuilds them from raw. */
static void test_rollups_after_crash(void **state)
{
	(void)state;
	struct bm_err err = {0};
	char crash_path[300];
	snprintf(crash_path, sizeof(crash_path), "%s/crash.db", dir);
	struct store_conf c = {.path = crash_path, .flush_ms = 60000, .chunk_samples = 120};
	pid_t pid = fork();
	if (pid == 0) {
		struct store *s = store_open(&c, &err);
		if (!s)
			_exit(2);
		ingest_walk(s, 0, 5000);
		_exit(store_flush(s) == 0 ? 0 : 3); /* no close: a crash */
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct store *s = store_open(&c, &err);
	assert_non_null(s);
	struct bm_matcher m[] = {{"__name__", BM_MATCH_EQ, "walk_total"}};
	struct ids x = {0};
	assert_int_equal(store_series(s, m, 1, collect_id, &x), 1);
	check_range(s, x.id[0], 5000, 60000, 1);
	check_range(s, x.id[0], 5000, 3600000, 2);
	store_close(s);
}

static void test_staleness_and_retention(void **state)
{
	(void)state;
	struct bm_err err = {0};
	struct store_conf one = {.path = path, .flush_ms = 60000, .chunk_samples = 1};
	struct store *s = store_open(&one, &err); /* a chunk per sample */
	assert_non_null(s);
	struct bm_label l[] = {{"host", "old"}};
	int64_t now = 1800000000000;
	struct bm_sample smp[3] = {
		{"ret", l, 1, now - 10LL * 86400000, 1}, /* 10 days old */
		{"ret", l, 1, now - 1000, 2},
		{"ret", l, 1, now, 0},
	};
	smp[2].value = bm_stale_nan(); /* the series ended */
	struct bm_metric_batch b = {.samples = smp, .n_samples = 3};
	assert_int_equal(store_ingest(s, &b), 0);
	assert_int_equal(store_flush(s), 0);
	int64_t id = find(s, "ret", "old");
	double v;
	assert_int_equal(store_instant(s, id, now - 500, 300000, &v), 1);
	assert_true(v == 2);
	assert_int_equal(store_instant(s, id, now + 10, 300000, &v), 0); /* stale */
	store_close(s);

	struct store_conf c = {.path = path, .flush_ms = 60000, .chunk_samples = 2,
			       .retention_ms = {2 * 86400000LL, 30 * 86400000LL, 0}};
	s = store_open(&c, &err);
	assert_non_null(s);
	assert_int_equal(store_expire(s, now), 0);
	struct store_stats st;
	store_get_stats(s, &st);
	assert_true(st.rows_expired >= 1);
	struct pts *p = calloc(1, sizeof(*p));
	assert_int_equal(store_raw(s, id, INT64_MIN, INT64_MAX, collect_pt, p), 2); /* old raw gone */
	memset(p, 0, sizeof(*p));
	/* the rollup tiers still have the old sample (stale markers are not
	 * counted) */
	assert_int_equal(store_range(s, id, now - 11LL * 86400000, now + 1, 60000, BM_AGG_COUNT, NULL,
				     collect_pt, p), 2);
	assert_true(p->v[0] == 1 && p->v[1] == 1);
	free(p);
	store_close(s);
}

static void test_delete_import_metadata(void **state)
{
	(void)state;
	struct store *s = open_store();
	/* metadata travels with batches and survives a restart */
	struct bm_metric_meta meta = {"imp_total", BM_METRIC_COUNTER, "bytes", "imported bytes"};
	struct bm_label l[] = {{"host", "imp"}};
	struct bm_sample one = {"imp_total", l, 1, 2000000000000, 5};
	struct bm_metric_batch b = {.meta = &meta, .n_meta = 1, .samples = &one, .n_samples = 1};
	assert_int_equal(store_ingest(s, &b), 0);
	/* backfill two hours of older data */
	int64_t ts[7200];
	double v[7200];
	for (int i = 0; i < 7200; i++) {
		ts[i] = 1990000000000 + (int64_t)i * 1000;
		v[i] = i;
	}
	assert_int_equal(store_import(s, "imp_total", l, 1, ts, v, 7200), 0);
	/* never over existing data, never unsorted */
	assert_int_equal(store_import(s, "imp_total", l, 1, ts + 100, v, 10), BM_EEXIST);
	int64_t bad[2] = {5, 4};
	assert_int_equal(store_import(s, "imp_total", l, 1, bad, v, 2), BM_EINVAL);
	assert_int_equal(store_flush(s), 0);
	store_close(s);

	s = open_store();
	int64_t id = find(s, "imp_total", "imp");
	struct pts *p = calloc(1, sizeof(*p));
	assert_int_equal(store_raw(s, id, INT64_MIN, INT64_MAX, collect_pt, p), 7201);
	memset(p, 0, sizeof(*p));
	/* two hours not on the hour: three hour windows, 7200 samples */
	assert_int_equal(store_range(s, id, ts[0], ts[7199], 3600000, BM_AGG_COUNT, NULL, collect_pt, p), 3);
	assert_true(p->v[0] + p->v[1] + p->v[2] == 7200);
	free(p);
	enum bm_metric_type type;
	char buf[512];
	const char *unit, *help;
	assert_int_equal(store_metadata(s, "imp_total", &type, buf, sizeof(buf), &unit, &help), 1);
	assert_int_equal(type, BM_METRIC_COUNTER);
	assert_string_equal(unit, "bytes");
	assert_string_equal(help, "imported bytes");
	assert_int_equal(store_metadata(s, "nope", &type, buf, sizeof(buf), &unit, &help), 0);

	struct bm_matcher m[] = {{"host", BM_MATCH_RE, "imp|a"}};
	long before = store_series(s, NULL, 0, collect_id, &(struct ids){0});
	assert_int_equal(store_delete(s, m, 1), 3); /* imp_total, cpu{a}, load1{a} */
	assert_int_equal(store_series(s, m, 1, collect_id, &(struct ids){0}), 0);
	assert_int_equal(store_series(s, NULL, 0, collect_id, &(struct ids){0}), before - 3);
	store_close(s);
	s = open_store();
	assert_int_equal(store_series(s, m, 1, collect_id, &(struct ids){0}), 0);
	assert_int_equal(store_series(s, NULL, 0, collect_id, &(struct ids){0}), before - 3);
	/* a deleted series comes back fresh */
	ingest(s, "load1", "a", 1000, 1000, 3, 1);
	assert_int_equal(store_series(s, m, 1, collect_id, &(struct ids){0}), 1);
	store_close(s);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/bearmon.db", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = NULL;
	if (asprintf(&cmd, "rm -rf '%s'", dir) > 0 && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_series_text), cmocka_unit_test(test_ingest_query),
		cmocka_unit_test(test_restart),     cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_special_values), cmocka_unit_test(test_rollups_vs_naive),
		cmocka_unit_test(test_staleness_and_retention),
		cmocka_unit_test(test_delete_import_metadata), cmocka_unit_test(test_rollups_after_crash),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
