/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of analyzer/trend on synthetic series with known answers:
 * Theil-Sen and Mann-Kendall alone (ramp, noise, ties, constant), then the
 * plugin fed through the metric codec (ramp, step, spike, seasonal wave
 * with a level shift, constant, NaN gaps and stale markers, irregular
 * sampling, counter rates), its events, publishing rules, HTTP answer and
 * limits.
 */
#define _GNU_SOURCE
#include "plugintest.h"
#include "anhost.h"
#include "trend.c"
#include "../common/stats.h"

#define T0 1700006400000LL /* a multiple of every bucket width used below */

/* --- the numeric core --------------------------------------------------- */

static void test_theil_sen_ramp_exact(void **st)
{
	(void)st;
	double x[50], y[50], scratch[2000];
	for (int i = 0; i < 50; i++) {
		x[i] = i * 3.0;
		y[i] = 7.0 - 0.25 * x[i];
	}
	y[10] = 1e6; /* one wild outlier leaves the median slope alone */
	struct stats_line l;
	assert_true(stats_theil_sen(x, y, 50, scratch, &l));
	assert_float_equal(l.slope, -0.25, 1e-12);
	assert_float_equal(l.intercept, 7.0, 1e-12);
	/* no pair with different x: no line */
	double same[3] = {1, 1, 1};
	assert_false(stats_theil_sen(same, y, 3, scratch, &l));
}

static void test_mann_kendall(void **st)
{
	(void)st;
	double y[100], scratch[100];
	uint64_t seed = 42;
	struct stats_mk mk;
	for (int i = 0; i < 100; i++)
		y[i] = 0.05 * i + anhost_noise(&seed);
	stats_mann_kendall(y, 100, scratch, &mk);
	assert_true(mk.p_value < 0.01);
	assert_true(mk.s > 0 && mk.tau > 0);

	seed = 7;
	for (int i = 0; i < 100; i++)
		y[i] = anhost_noise(&seed);
	stats_mann_kendall(y, 100, scratch, &mk);
	assert_true(mk.p_value > 0.05);

	/* a strictly decreasing run: S = -n(n-1)/2, tau = -1 */
	for (int i = 0; i < 20; i++)
		y[i] = 100 - i;
	stats_mann_kendall(y, 20, scratch, &mk);
	assert_float_equal(mk.s, -190, 0);
	assert_float_equal(mk.tau, -1, 1e-12);
	/* var(S) = n(n-1)(2n+5)/18 without ties */
	assert_float_equal(mk.var_s, 20.0 * 19 * 45 / 18, 1e-9);

	/* ties: 1 1 2 2 3 3 lower the variance by sum t(t-1)(2t+5)/18 */
	double tied[6] = {1, 1, 2, 2, 3, 3};
	stats_mann_kendall(tied, 6, scratch, &mk);
	assert_float_equal(mk.s, 12, 0);
	assert_float_equal(mk.var_s, (6.0 * 5 * 17 - 3 * (2 * 1 * 9)) / 18, 1e-9);
	/* constant: no information */
	double flat[10] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
	stats_mann_kendall(flat, 10, scratch, &mk);
	assert_float_equal(mk.p_value, 1, 0);
	assert_float_equal(mk.tau, 0, 0);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void test_quantile_matches_sorting(void **st)
{
	(void)st;
	uint64_t seed = 3;
	for (int n = 1; n < 60; n += 7) {
		double v[64], sorted[64];
		for (int i = 0; i < n; i++)
			v[i] = sorted[i] = floor(anhost_noise(&seed) * 3); /* many ties */
		qsort(sorted, (size_t)n, sizeof(double), dcmp);
		for (double q = 0; q <= 1.0; q += 0.125) {
			double copy[64];
			memcpy(copy, v, sizeof(copy));
			double pos = q * (n - 1);
			size_t k = (size_t)pos;
			double want = sorted[k] + (k + 1 < (size_t)n ? (pos - k) * (sorted[k + 1] - sorted[k]) : 0);
			assert_float_equal(stats_quantile(copy, (size_t)n, q), want, 1e-12);
		}
	}
	assert_true(isnan(stats_median(NULL, 0)));
}

/* --- the plugin ----------------------------------------------------------- */

struct fixture {
	struct tr_conf conf;
	struct trend *t;
	struct tr_window_conf win[3];
};

/* Defaults, optionally with windows; init called. */
static void setup(struct fixture *f, const int64_t *windows, size_t n_windows)
{
	memset(f, 0, sizeof(*f));
	bm__host_api = anhost_api();
	fakehost_reset();
	pt_conf_defaults(tr_options, &f->conf);
	assert_int_equal(f->conf.points, 120);
	assert_int_equal(f->conf.max_series, 500);
	assert_float_equal(f->conf.alpha, 0.05, 0);
	assert_int_equal(f->conf.publish_every_ms, 600000);
	assert_true(f->conf.warmup);
	if (n_windows) {
		for (size_t j = 0; j < n_windows; j++)
			f->win[j] = (struct tr_window_conf){windows[j], 0};
		f->conf.windows.n = n_windows;
		f->conf.windows.items = f->win;
	}
	f->t = pt_init(&tr_ops, &f->conf);
}

static void teardown(struct fixture *f)
{
	f->conf.windows.n = 0;
	f->conf.windows.items = NULL;
	pt_close(&tr_ops, tr_options, f->t, &f->conf);
	anhost_reset();
}

/* The newest decoded trend event of series name and window. */
static bool last_trend(const char *name, int64_t window_ms, struct bm_trend_event *out,
		       struct bm_arena *a)
{
	bool found = false;
	for (size_t i = 0; i < anhost_count(BM_TOPIC_TREND); i++) {
		size_t len;
		const void *b = anhost_body(BM_TOPIC_TREND, i, &len);
		struct bm_trend_event e;
		assert_int_equal(bm_trend_decode(b, len, &e, a), 0);
		if (strcmp(e.series.name, name) == 0 && e.window_ms == window_ms) {
			*out = e;
			found = true;
		}
	}
	return found;
}

/* The current fit of window j of the only series called name. */
static const struct tr_result *result(struct fixture *f, const char *name, size_t j)
{
	for (size_t i = 0; i < f->t->table.n; i++)
		if (strcmp(f->t->table.entries[i].key->name, name) == 0)
			return &((struct tr_series *)f->t->table.entries[i].val)->r[j];
	fail_msg("no series %s", name);
	return NULL;
}

/* y(t) sampled every step_ms for duration_ms ending at end. */
static void feed_fn(struct fixture *f, const char *name, int64_t end, int64_t duration_ms,
		    int64_t step_ms, double (*fn)(double t_s, void *u), void *u)
{
	for (int64_t ts = end - duration_ms + step_ms; ts <= end; ts += step_ms)
		anhost_feed(&f->t->table, name, "host=a", ts, fn((double)(ts - T0) / 1000, u));
}

static double ramp(double t, void *u)
{
	(void)u;
	return 100 + 0.5 * t;
}

static void test_ramp_every_window(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f, NULL, 0);
	int64_t end = T0 + 3600000;
	feed_fn(&f, "ramp_bytes", end, 3600000, 10000, ramp, NULL);
	tr_evaluate(f.t, end);
	for (size_t j = 0; j < 2; j++) { /* 5 min and 1 h */
		const struct tr_result *r = result(&f, "ramp_bytes", j);
		assert_true(r->valid);
		assert_float_equal(r->fit.slope_per_s, 0.5, 1e-9);
		assert_float_equal(r->fit.intercept, ramp(3600, NULL), 1e-6);
		assert_int_equal(r->fit.direction, BM_TREND_INCREASING);
		assert_true(r->fit.p_value < 0.01);
		assert_float_equal(r->fit.tau, 1, 1e-12);
	}
	/* the 24 h window has one hour of data: too little to say anything */
	assert_false(result(&f, "ramp_bytes", 2)->valid);

	struct bm_arena a = {0};
	struct bm_trend_event e;
	assert_int_equal(anhost_count(BM_TOPIC_TREND), 2);
	assert_true(last_trend("ramp_bytes", 300000, &e, &a));
	assert_int_equal(e.ts_ms, end);
	assert_int_equal(e.direction, BM_TREND_INCREASING);
	assert_float_equal(e.slope_per_s, 0.5, 1e-9);
	assert_string_equal(e.method, "theil_sen");
	assert_string_equal(e.test, "mann_kendall");
	assert_int_equal(e.series.n_labels, 1);
	assert_string_equal(e.series.labels[0].value, "a");
	/* fitted change 150 over the window from a fitted start of 1750 */
	assert_float_equal(e.rel_change, 0.5 * 300 / ramp(3300, NULL), 1e-9);
	assert_int_equal(e.n_samples, 30);
	bm_arena_free(&a);
	teardown(&f);
}

static double noisy(double t, void *u)
{
	return 50 + anhost_noise(u) + 0 * t;
}

static void test_noise_is_stable(void **st)
{
	(void)st;
	struct fixture f;
	uint64_t seed = 11;
	setup(&f, NULL, 0);
	int64_t end = T0 + 3600000;
	feed_fn(&f, "noise", end, 3600000, 10000, noisy, &seed);
	tr_evaluate(f.t, end);
	const struct tr_result *r = result(&f, "noise", 1);
	assert_true(r->valid);
	assert_true(r->fit.p_value > 0.05);
	assert_int_equal(r->fit.direction, BM_TREND_STABLE);
	teardown(&f);
}

static double step_fn(double t, void *u)
{
	(void)u;
	return t < 1800 ? 10 : 20;
}

static double spike_fn(double t, void *u)
{
	(void)u;
	return fabs(t - 1200) < 1 ? 1e9 : 42;
}

static void test_step_and_spike(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f, NULL, 0);
	int64_t end = T0 + 3600000;
	feed_fn(&f, "step", end, 3600000, 10000, step_fn, NULL);
	feed_fn(&f, "spike", end, 3600000, 10000, spike_fn, NULL);
	tr_evaluate(f.t, end);
	/* a level shift is a monotone change: significant, upwards */
	const struct tr_result *r = result(&f, "step", 1);
	assert_int_equal(r->fit.direction, BM_TREND_INCREASING);
	assert_true(r->fit.tau > 0.5);
	/* after the step the last 5 minutes are flat */
	assert_int_equal(result(&f, "step", 0)->fit.direction, BM_TREND_STABLE);
	assert_float_equal(result(&f, "step", 0)->fit.slope_per_s, 0, 0);
	/* one spike moves neither the robust slope nor the test */
	r = result(&f, "spike", 1);
	assert_float_equal(r->fit.slope_per_s, 0, 0);
	assert_int_equal(r->fit.direction, BM_TREND_STABLE);
	assert_true(r->fit.p_value > 0.05);
	teardown(&f);
}

static double wave_shift(double t, void *u)
{
	(void)u;
	return 10 * sin(2 * M_PI * t / 60) + (t >= 1800 ? 30 : 0);
}

static void test_seasonal_wave_with_level_shift(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f, NULL, 0);
	int64_t end = T0 + 3600000;
	feed_fn(&f, "wave", end, 3600000, 5000, wave_shift, NULL);
	tr_evaluate(f.t, end);
	/* over the hour the shift dominates; the last 5 minutes are whole periods of the wave */
	assert_int_equal(result(&f, "wave", 1)->fit.direction, BM_TREND_INCREASING);
	const struct tr_result *r = result(&f, "wave", 0);
	assert_int_equal(r->fit.direction, BM_TREND_STABLE);
	assert_true(r->fit.p_value > 0.05);
	teardown(&f);
}

static double constant(double t, void *u)
{
	(void)t;
	(void)u;
	return 3.5;
}

static void test_constant(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f, NULL, 0);
	int64_t end = T0 + 3600000;
	feed_fn(&f, "flat", end, 3600000, 10000, constant, NULL);
	tr_evaluate(f.t, end);
	const struct tr_result *r = result(&f, "flat", 1);
	assert_true(r->valid);
	assert_float_equal(r->fit.slope_per_s, 0, 0);
	assert_float_equal(r->fit.intercept, 3.5, 0);
	assert_float_equal(r->fit.rel_change, 0, 0);
	assert_float_equal(r->fit.p_value, 1, 0);
	assert_int_equal(r->fit.direction, BM_TREND_STABLE);
	teardown(&f);
}

static void test_nan_gaps_and_stale(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f, NULL, 0);
	int64_t end = T0 + 3600000;
	for (int64_t ts = T0 + 10000; ts <= end; ts += 10000) {
		double t = (double)(ts - T0) / 1000;
		if (t > 1000 && t < 1600)
			continue; /* a gap of ten minutes */
		bool nan = (ts / 10000) % 7 == 0;
		anhost_feed(&f.t->table, "gappy", "", ts, nan ? NAN : ramp(t, NULL));
	}
	tr_evaluate(f.t, end);
	assert_true(f.t->table.skipped_samples > 0);
	const struct tr_result *r = result(&f, "gappy", 1);
	assert_float_equal(r->fit.slope_per_s, 0.5, 1e-9);
	assert_int_equal(r->fit.direction, BM_TREND_INCREASING);
	/* a stale marker ends the series: not evaluated, forgotten after the shortest window */
	size_t before = anhost_count(BM_TOPIC_TREND);
	anhost_feed(&f.t->table, "gappy", "", end + 1000, bm_stale_nan());
	tr_evaluate(f.t, end + 700000);
	assert_int_equal(anhost_count(BM_TOPIC_TREND), before);
	tr_evaluate(f.t, end + 700000 + 300001);
	assert_int_equal(f.t->table.n, 0);
	teardown(&f);
}

static void test_irregular_sampling(void **st)
{
	(void)st;
	struct fixture f;
	uint64_t seed = 5;
	setup(&f, NULL, 0);
	int64_t ts = T0, end = T0 + 3600000;
	while (ts < end) {
		ts += 1000 + (int64_t)(fabs(anhost_noise(&seed)) * 15000);
		if (ts <= end)
			anhost_feed(&f.t->table, "irregular", "", ts, ramp((double)(ts - T0) / 1000, NULL));
	}
	tr_evaluate(f.t, end);
	for (size_t j = 0; j < 2; j++) {
		const struct tr_result *r = result(&f, "irregular", j);
		assert_true(r->valid);
		/* bucket means of a line sit on the line at the mean sample time */
		assert_float_equal(r->fit.slope_per_s, 0.5, 1e-4);
	}
	teardown(&f);
}

static void test_counter_rates(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f, NULL, 0);
	int64_t end = T0 + 3600000;
	double v = 0;
	for (int64_t ts = T0 + 10000; ts <= end; ts += 10000) {
		v += 10 + (double)(ts - T0) / 1e5; /* the rate ramps up: 1 + t/1000 per s */
		if (ts == T0 + 1800000)
			v = 3; /* a reset: no rate for this one sample */
		anhost_feed(&f.t->table, "requests_total", "", ts, v);
	}
	tr_evaluate(f.t, end);
	const struct tr_result *r = result(&f, "requests_total", 1);
	assert_true(r->valid);
	assert_int_equal(r->fit.direction, BM_TREND_INCREASING);
	assert_float_equal(r->fit.slope_per_s, 1e-3, 1e-9);
	assert_float_equal(r->fit.intercept, 1 + 3600 / 1e3, 1e-6);
	teardown(&f);
}

static void test_publish_rules(void **st)
{
	(void)st;
	struct fixture f;
	int64_t win[1] = {300000};
	setup(&f, win, 1);
	int64_t end = T0 + 600000;
	feed_fn(&f, "p", end, 600000, 10000, ramp, NULL);
	tr_evaluate(f.t, end);
	assert_int_equal(anhost_count(BM_TOPIC_TREND), 1);
	/* unchanged a minute later: nothing new */
	feed_fn(&f, "p", end + 60000, 60000, 10000, ramp, NULL);
	tr_evaluate(f.t, end + 60000);
	assert_int_equal(anhost_count(BM_TOPIC_TREND), 1);
	/* flat for five minutes: the direction changes, published at once */
	feed_fn(&f, "p", end + 360000, 300000, 10000, constant, NULL);
	tr_evaluate(f.t, end + 360000);
	assert_int_equal(anhost_count(BM_TOPIC_TREND), 2);
	struct bm_arena a = {0};
	struct bm_trend_event e;
	assert_true(last_trend("p", 300000, &e, &a));
	assert_int_equal(e.direction, BM_TREND_STABLE);
	/* and again after publish_every without a change */
	feed_fn(&f, "p", end + 960000, 600000, 10000, constant, NULL);
	tr_evaluate(f.t, end + 960000);
	assert_int_equal(anhost_count(BM_TOPIC_TREND), 3);
	bm_arena_free(&a);
	teardown(&f);
}

static void test_http_answer(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f, NULL, 0);
	int64_t end = T0 + 3600000;
	feed_fn(&f, "up", end, 3600000, 10000, ramp, NULL);
	feed_fn(&f, "flat", end, 3600000, 10000, constant, NULL);
	tr_evaluate(f.t, end);
	int status;
	json_t *j = anhost_get(tr_route_cb, f.t, NULL, &status);
	assert_int_equal(status, 200);
	assert_int_equal(json_array_size(json_object_get(j, "trends")), 4);
	assert_int_equal(json_integer_value(json_object_get(j, "series")), 2);
	json_decref(j);
	j = anhost_get(tr_route_cb, f.t, "direction=increasing", &status);
	json_t *list = json_object_get(j, "trends");
	assert_int_equal(json_array_size(list), 2);
	json_t *first = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(first, "series"), "name")), "up");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(first, "series"), "labels"), "host")), "a");
	assert_float_equal(json_real_value(json_object_get(first, "slope_per_s")), 0.5, 1e-9);
	json_decref(j);
	j = anhost_get(tr_route_cb, f.t, "name=flat", &status);
	assert_int_equal(json_array_size(json_object_get(j, "trends")), 2);
	json_decref(j);
	teardown(&f);
}

static void test_limits_and_filters(void **st)
{
	(void)st;
	struct fixture f;
	memset(&f, 0, sizeof(f));
	bm__host_api = anhost_api();
	pt_conf_defaults(tr_options, &f.conf);
	assert_int_equal(f.conf.counters, AS_COUNTERS_RATE);
	f.conf.max_series = 2;
	f.conf.counters = AS_COUNTERS_SKIP;
	f.t = pt_init(&tr_ops, &f.conf);
	anhost_feed(&f.t->table, "a", "", T0, 1);
	anhost_feed(&f.t->table, "requests_total", "", T0, 1); /* a counter: skipped */
	anhost_feed(&f.t->table, "b", "", T0, 1);
	anhost_feed(&f.t->table, "c", "", T0, 1);
	assert_int_equal(f.t->table.n, 2);
	assert_int_equal(f.t->table.dropped_series, 1);
	/* older than the newest: skipped */
	anhost_feed(&f.t->table, "a", "", T0 - 1, 1);
	assert_int_equal(f.t->table.skipped_samples, 1);
	assert_true(tr_series_bytes(f.t) < 10000);
	pt_close(&tr_ops, tr_options, f.t, &f.conf);

	/* config errors */
	memset(&f, 0, sizeof(f));
	pt_conf_defaults(tr_options, &f.conf);
	pt_set_list(&f.conf.include, "bad[", NULL);
	pt_init_err(&tr_ops, &f.conf, BM_EINVAL, "bad[", NULL);
	pt_conf_release(tr_options, &f.conf);
	memset(&f, 0, sizeof(f));
	pt_conf_defaults(tr_options, &f.conf);
	struct tr_window_conf many[9];
	for (int i = 0; i < 9; i++)
		many[i] = (struct tr_window_conf){60000 * (i + 1), 0};
	f.conf.windows.n = 9;
	f.conf.windows.items = many;
	pt_init_err(&tr_ops, &f.conf, BM_EINVAL, "at most 8", NULL);
	f.conf.windows.n = 0;
	f.conf.windows.items = NULL;
	pt_conf_release(tr_options, &f.conf);
	anhost_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_theil_sen_ramp_exact),
		cmocka_unit_test(test_mann_kendall),
		cmocka_unit_test(test_quantile_matches_sorting),
		cmocka_unit_test(test_ramp_every_window),
		cmocka_unit_test(test_noise_is_stable),
		cmocka_unit_test(test_step_and_spike),
		cmocka_unit_test(test_seasonal_wave_with_level_shift),
		cmocka_unit_test(test_constant),
		cmocka_unit_test(test_nan_gaps_and_stale),
		cmocka_unit_test(test_irregular_sampling),
		cmocka_unit_test(test_counter_rates),
		cmocka_unit_test(test_publish_rules),
		cmocka_unit_test(test_http_answer),
		cmocka_unit_test(test_limits_and_filters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
