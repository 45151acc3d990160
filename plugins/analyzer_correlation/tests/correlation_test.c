/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of analyzer/correlation on synthetic series with known
 * answers: Pearson 1 / -1 for linear pairs, Spearman 1 for a monotone
 * curve, average ranks of ties, the lag of a shifted copy found both
 * ways; then the plugin fed through the metric codec (linear pair,
 * shifted copy, independent noise, constant series, NaN gaps, irregular
 * sampling, coverage), its events, HTTP answer and config checks.
 */
#define _GNU_SOURCE
#include "plugintest.h"
#include "anhost.h"
#include "correlation.c"

#define T0 1700000000000LL

/* --- the numeric core --------------------------------------------------- */

static void test_pearson_and_spearman(void **st)
{
	(void)st;
	double x[40], y[40], z[40], e[40], rx[40], ry[40];
	size_t order[40];
	uint64_t seed = 1;
	for (int i = 0; i < 40; i++) {
		x[i] = anhost_noise(&seed);
		y[i] = 3 * x[i] + 2;
		z[i] = -0.5 * x[i];
		e[i] = exp(3 * x[i]);
	}
	assert_float_equal(stats_pearson(x, y, 40), 1, 1e-12);
	assert_float_equal(stats_pearson(x, z, 40), -1, 1e-12);
	/* exp is monotone: ranks agree exactly, values not linearly */
	assert_true(stats_pearson(x, e, 40) < 0.95);
	stats_ranks(x, 40, rx, order);
	stats_ranks(e, 40, ry, order);
	assert_float_equal(stats_pearson(rx, ry, 40), 1, 1e-12);
	/* no variance: undefined */
	double flat[5] = {2, 2, 2, 2, 2};
	assert_true(isnan(stats_pearson(x, flat, 5)));
	/* ties share their average rank */
	double v[6] = {10, 20, 10, 30, 20, 10}, r[6];
	stats_ranks(v, 6, r, order);
	double want[6] = {2, 4.5, 2, 6, 4.5, 2};
	for (int i = 0; i < 6; i++)
		assert_float_equal(r[i], want[i], 0);
	/* Fisher z: a strong correlation on 60 pairs is very unlikely by chance */
	assert_true(stats_corr_p_value(0.9, 60) < 1e-10);
	assert_true(stats_corr_p_value(0.1, 60) > 0.3);
	assert_float_equal(stats_corr_p_value(1, 60), 0, 0);
}

static void test_lag_of_shifted_copy(void **st)
{
	(void)st;
	struct cc_opts o = {.window = 60, .max_lag = 10, .min_coefficient = 0.7, .alpha = 0.01,
			    .lag_gain = 0.05};
	size_t C = o.window + o.max_lag;
	double x[5 * 70], ranks[5 * 60], full[5 * 70];
	size_t order[70];
	uint64_t seed = 9;
	double src[80];
	for (int i = 0; i < 80; i++)
		src[i] = anhost_noise(&seed);
	for (size_t i = 0; i < C; i++) {
		x[i] = src[i + 10];                 /* a */
		x[C + i] = src[i + 10 - 4];         /* b = a four cells later: a leads */
		x[2 * C + i] = anhost_noise(&seed); /* independent */
		/* d and e: independent noise, each with one huge spike, 3 cells apart */
		x[3 * C + i] = anhost_noise(&seed) + (i == 40 ? 1000 : 0);
		x[4 * C + i] = anhost_noise(&seed) + (i == 43 ? 1000 : 0);
	}
	assert_float_equal(cc_lagged(x, x + C, &o, 4), 1, 1e-12);
	assert_float_equal(cc_lagged(x + C, x, &o, -4), 1, 1e-12);
	/* the spikes fool Pearson at lag 3 ... */
	assert_true(cc_lagged(x + 3 * C, x + 4 * C, &o, 3) > 0.99);
	cc_rank_rows(x, 5, &o, ranks, full, order);
	struct cc_pair top[5];
	size_t n = cc_top_pairs(x, ranks, full, 5, &o, top, 5);
	/* ... but not the ranks: only the real pair is reported */
	assert_int_equal(n, 1);
	assert_int_equal(top[0].a, 0);
	assert_int_equal(top[0].b, 1);
	assert_int_equal(top[0].lag, 4);
	assert_float_equal(top[0].lag_r, 1, 1e-12);
	assert_true(fabs(top[0].pearson) < 0.5);
	assert_true(top[0].p_value < 1e-10);
}

static void test_grid_extract(void **st)
{
	(void)st;
	struct cg_cell ring[6] = {{0}};
	/* cells 100..104 of 10 s: 100 has two samples, 102 none, 104 the one being filled */
	cg_add(ring, 6, 10000, 1000000, 1);
	cg_add(ring, 6, 10000, 1005000, 3);
	cg_add(ring, 6, 10000, 1010000, 5);
	cg_add(ring, 6, 10000, 1030000, 7);
	cg_add(ring, 6, 10000, 1040000, 9);
	double out[5] = {0};
	assert_int_equal(cg_extract(ring, 6, 103, out, 5), 3);
	/* cell 99 is empty and takes the first value; 102 carries 101's */
	double want[5] = {2, 2, 5, 5, 7};
	for (int i = 0; i < 5; i++)
		assert_float_equal(out[i], want[i], 0);
}

/* --- the plugin ----------------------------------------------------------- */

struct fixture {
	struct co_conf conf;
	struct correlation *c;
};

static void setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	bm__host_api = anhost_api();
	fakehost_reset();
	pt_conf_defaults(co_options, &f->conf);
	assert_int_equal(f->conf.max_series, 64);
	assert_int_equal(f->conf.step_ms, 10000);
	assert_int_equal(f->conf.window_ms, 600000);
	assert_int_equal(f->conf.max_lag_ms, 120000);
	assert_int_equal(f->conf.top_k, 10);
	f->c = pt_init(&co_ops, &f->conf);
}

static void teardown(struct fixture *f)
{
	pt_close(&co_ops, co_options, f->c, &f->conf);
	anhost_reset();
}

/* Decoded correlation events of method m, into out (at most n). */
static size_t events(enum bm_corr_method m, struct bm_correlation_event *out, size_t n,
		     struct bm_arena *a)
{
	size_t k = 0;
	for (size_t i = 0; i < anhost_count(BM_TOPIC_CORRELATION) && k < n; i++) {
		size_t len;
		const void *b = anhost_body(BM_TOPIC_CORRELATION, i, &len);
		struct bm_correlation_event e;
		assert_int_equal(bm_correlation_decode(b, len, &e, a), 0);
		if (e.method == m)
			out[k++] = e;
	}
	return k;
}

/* 15 minutes at 10 s: load, cost = 2 load + 1, latency = load 30 s
 * later, other = independent noise, flat = constant. */
static void feed_world(struct fixture *f, int64_t end, uint64_t seed)
{
	double hist[200];
	size_t n = 0;
	for (int64_t ts = end - 900000 + 10000; ts <= end; ts += 10000, n++) {
		hist[n] = (n ? hist[n - 1] : 0) * 0.8 + anhost_noise(&seed);
		anhost_feed(&f->c->table, "load", "", ts, hist[n]);
		anhost_feed(&f->c->table, "cost", "", ts, 2 * hist[n] + 1);
		anhost_feed(&f->c->table, "latency", "", ts, n >= 3 ? hist[n - 3] : 0);
		anhost_feed(&f->c->table, "other", "", ts, anhost_noise(&seed));
		anhost_feed(&f->c->table, "flat", "", ts, 4);
	}
}

static void test_plugin_pairs_and_leads(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f);
	int64_t end = T0 + 900000;
	feed_world(&f, end, 21);
	co_evaluate(f.c, end + 10000);
	struct bm_arena a = {0};
	struct bm_correlation_event ev[20];
	size_t n = events(BM_CORR_PEARSON, ev, 20, &a);
	/* load~cost (lag 0), load->latency (30 s), cost->latency (30 s) */
	assert_int_equal(n, 3);
	bool seen_linear = false, seen_lead = false;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ev[i].window_ms, 600000);
		assert_int_equal(ev[i].n_samples, 60);
		assert_int_equal(ev[i].ts_ms, end + 10000);
		if (strcmp(ev[i].a.name, "load") == 0 && strcmp(ev[i].b.name, "cost") == 0) {
			assert_float_equal(ev[i].coefficient, 1, 1e-9);
			assert_int_equal(ev[i].lag_ms, 0);
			seen_linear = true;
		}
		if (strcmp(ev[i].a.name, "load") == 0 && strcmp(ev[i].b.name, "latency") == 0) {
			assert_float_equal(ev[i].coefficient, 1, 1e-9);
			assert_int_equal(ev[i].lag_ms, 30000); /* load leads latency by 30 s */
			seen_lead = true;
		}
		assert_true(strcmp(ev[i].a.name, "other") && strcmp(ev[i].b.name, "other"));
		assert_true(strcmp(ev[i].a.name, "flat") && strcmp(ev[i].b.name, "flat"));
	}
	assert_true(seen_linear && seen_lead);
	/* Spearman of the linear pair is 1 too */
	n = events(BM_CORR_SPEARMAN, ev, 20, &a);
	assert_int_equal(n, 3);
	seen_linear = false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ev[i].a.name, "load") == 0 && strcmp(ev[i].b.name, "cost") == 0) {
			assert_float_equal(ev[i].coefficient, 1, 1e-9);
			seen_linear = true;
		}
	}
	assert_true(seen_linear);

	int status;
	json_t *j = anhost_get(co_route_cb, f.c, NULL, &status);
	assert_int_equal(status, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "series")), 5);
	assert_int_equal(json_integer_value(json_object_get(j, "series_compared")), 5);
	json_t *pairs = json_object_get(j, "pairs");
	assert_int_equal(json_array_size(pairs), 3);
	json_t *first = json_array_get(pairs, 0);
	assert_float_equal(json_real_value(json_object_get(first, "lag_coefficient")), 1, 1e-9);
	json_decref(j);
	bm_arena_free(&a);
	teardown(&f);
}

static void test_gaps_irregular_and_coverage(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f);
	uint64_t seed = 4;
	int64_t end = T0 + 900000;
	double prev = 0;
	/* irregular times (1-9 s apart), NaNs sprinkled, the pair exactly linear */
	for (int64_t ts = end - 900000; ts <= end;) {
		prev = 0.9 * prev + anhost_noise(&seed);
		bool nan = fabs(prev) > 3.5;
		anhost_feed(&f.c->table, "x", "", ts, nan ? NAN : prev);
		anhost_feed(&f.c->table, "y", "", ts, nan ? NAN : 5 - prev);
		/* z reports only every 40 s: too few cells */
		if ((ts / 1000) % 40 == 0)
			anhost_feed(&f.c->table, "z", "", ts, prev);
		ts += 1000 + (int64_t)(fabs(anhost_noise(&seed)) * 4000);
	}
	assert_true(f.c->table.skipped_samples > 0);
	co_evaluate(f.c, end + 10000);
	struct bm_arena a = {0};
	struct bm_correlation_event ev[8];
	size_t n = events(BM_CORR_PEARSON, ev, 8, &a);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].a.name, "x");
	assert_string_equal(ev[0].b.name, "y");
	assert_float_equal(ev[0].coefficient, -1, 1e-9);
	int status;
	json_t *j = anhost_get(co_route_cb, f.c, NULL, &status);
	assert_int_equal(json_integer_value(json_object_get(j, "series_compared")), 2);
	json_decref(j);
	bm_arena_free(&a);
	teardown(&f);
}

static void test_config_and_bounds(void **st)
{
	(void)st;
	struct fixture f;
	memset(&f, 0, sizeof(f));
	bm__host_api = anhost_api();
	int status;
	pt_conf_defaults(co_options, &f.conf);
	f.conf.window_ms = 50000; /* 5 cells */
	pt_init_err(&co_ops, &f.conf, BM_EINVAL, "window / step = 5 cells", NULL);
	f.conf.window_ms = 600000;
	f.conf.max_lag_ms = 400000;
	pt_init_err(&co_ops, &f.conf, BM_EINVAL, "max_lag", NULL);
	f.conf.max_lag_ms = 120000;
	f.conf.max_series = 3;
	f.c = pt_init(&co_ops, &f.conf);
	/* before any evaluation the answer is empty */
	json_t *j = anhost_get(co_route_cb, f.c, NULL, &status);
	assert_int_equal(json_array_size(json_object_get(j, "pairs")), 0);
	json_decref(j);
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		anhost_feed(&f.c->table, name, "", T0, i);
	}
	assert_int_equal(f.c->table.n, 3);
	assert_int_equal(f.c->table.dropped_series, 2);
	/* 73 cells of 16 bytes plus the evaluation rows: under 3.5 KiB a series */
	assert_true(co_series_bytes(f.c) < 3584);
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pearson_and_spearman),
		cmocka_unit_test(test_lag_of_shifted_copy),
		cmocka_unit_test(test_grid_extract),
		cmocka_unit_test(test_plugin_pairs_and_leads),
		cmocka_unit_test(test_gaps_irregular_and_coverage),
		cmocka_unit_test(test_config_and_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
