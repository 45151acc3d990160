/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of analyzer/forecast on synthetic series with known answers:
 * season detection (sine of period P, none for noise, ramps and random
 * walks), the forecaster on a ramp (exact forecasts and time to a limit),
 * a seasonal wave with a level shift, a constant, a spike, a step, the
 * champion rule with its margin; then the plugin fed through the metric
 * codec (disk filling up, memory draining, NaN gaps, irregular sampling,
 * a long gap), its events, HTTP answer, defaults and config checks.
 */
#define _GNU_SOURCE
#include "plugintest.h"
#include "anhost.h"
#include "forecast.c"

#define T0 1700006400000LL /* a multiple of a minute */
#define MIB 1048576.0

/* --- statistics ------------------------------------------------------------ */

static size_t season_of(const double *y, size_t n)
{
	struct stats_season_opts o = {.min_period = 4, .max_period = 200, .min_acf = 0.3,
				      .min_drop = 0.2};
	double *scratch = malloc(stats_detect_season_scratch(n, 200) * sizeof(double));
	size_t p = stats_detect_season(y, n, &o, scratch, NULL);
	free(scratch);
	return p;
}

static void test_season_detection(void **st)
{
	(void)st;
	double y[600];
	uint64_t seed = 17;
	for (size_t P = 7; P <= 60; P += 53) { /* 7 and 60 */
		for (size_t i = 0; i < 600; i++)
			y[i] = 5 * sin(2 * M_PI * (double)i / (double)P);
		assert_int_equal(season_of(y, 600), P);
		/* with noise, a trend and a level shift it is still found */
		for (size_t i = 0; i < 600; i++)
			y[i] += anhost_noise(&seed) + 0.01 * (double)i + (i > 300 ? 4 : 0);
		assert_int_equal(season_of(y, 600), P);
	}
	for (size_t i = 0; i < 600; i++)
		y[i] = anhost_noise(&seed);
	assert_int_equal(season_of(y, 600), 0);
	for (size_t i = 0; i < 600; i++)
		y[i] = 3 * (double)i;
	assert_int_equal(season_of(y, 600), 0);
	for (size_t i = 0; i < 600; i++)
		y[i] = (i ? y[i - 1] : 0) + anhost_noise(&seed);
	assert_int_equal(season_of(y, 600), 0);
	for (size_t i = 0; i < 600; i++)
		y[i] = 1;
	assert_int_equal(season_of(y, 600), 0);
}

static void test_small_helpers(void **st)
{
	(void)st;
	assert_float_equal(stats_norm_ppf(0.975), 1.959963985, 1e-8);
	assert_float_equal(stats_norm_ppf(0.5), 0, 1e-12);
	assert_float_equal(stats_norm_ppf(0.001), -3.090232306, 1e-8);
	assert_float_equal(stats_norm_sf(1.959963985), 0.025, 1e-9);
	double y[6] = {1, 2, 4, 1, 2, 8};
	assert_float_equal(stats_snaive_mae(y, 6, 3), 4.0 / 3, 1e-12);
	assert_float_equal(stats_snaive_mae(y, 6, 1), (1 + 2 + 3 + 1 + 6) / 5.0, 1e-12);
	assert_true(isnan(stats_snaive_mae(y, 3, 3)));
	double z[5] = {1, 3, 5, 7, 9};
	struct stats_line l;
	assert_true(stats_ols_index(z, 5, &l));
	assert_float_equal(l.slope, 2, 1e-12);
	assert_float_equal(l.intercept, 1, 1e-12);
	assert_false(stats_ols_index(z, 1, &l));
	assert_float_equal(fc_outside_prob(0, 1, -1.959963985, INFINITY), 0.025, 1e-9);
	assert_float_equal(fc_outside_prob(5, 0, 0, 1), 1, 0);
}

/* --- the forecaster --------------------------------------------------------- */

struct model_fix {
	struct fc_params p;
	double *work;
	struct fc f;
};

static void model_open(struct model_fix *m, size_t history)
{
	fc_params_default(&m->p);
	m->p.history = history;
	m->p.max_season = history / 2;
	m->p.redetect_every = history / 4;
	m->work = malloc(fc_work_size(&m->p) * sizeof(double));
	assert_int_equal(fc_init(&m->f, &m->p, m->work), 0);
}

static void model_close(struct model_fix *m)
{
	fc_free(&m->f);
	free(m->work);
}

static void test_ramp_forecast_and_time_to_threshold(void **st)
{
	(void)st;
	struct model_fix m;
	model_open(&m, 480);
	for (int t = 0; t < 300; t++)
		fc_push(&m.f, 1000 - 2.0 * t);
	/* the line is exact: both trend models beat naive by far */
	assert_true(m.f.champion == FC_LINEAR || m.f.champion == FC_HW);
	assert_float_equal(fc_forecast(&m.f, FC_LINEAR, 10), 1000 - 2.0 * 309, 1e-6);
	assert_float_equal(fc_forecast(&m.f, m.f.champion, 10), 1000 - 2.0 * 309, 0.5);
	/* last value 402: crosses 0 after 201 more steps */
	double steps = fc_steps_to_threshold(&m.f, FC_LINEAR, 1000, 0, true);
	assert_float_equal(steps, 201, 1e-6);
	assert_float_equal(fc_steps_to_threshold(&m.f, m.f.champion, 1000, 0, true), 201, 201 * 0.02);
	assert_float_equal(fc_steps_to_threshold(&m.f, FC_LINEAR, 100, 0, true), -1, 0);
	assert_float_equal(fc_steps_to_threshold(&m.f, FC_LINEAR, 100, 500, true), 0, 0);
	assert_float_equal(fc_steps_to_threshold(&m.f, FC_NAIVE, 1000, 0, true), -1, 0);
	assert_true(fc_trend_delta(&m.f, FC_LINEAR, 10) < 0);
	assert_true(fc_mase(&m.f, m.f.champion) < 0.05);
	assert_true(fc_confidence(&m.f) > 0.95);
	model_close(&m);
}

static void test_seasonal_wave_with_level_shift(void **st)
{
	(void)st;
	struct model_fix m;
	uint64_t seed = 23;
	model_open(&m, 480);
	for (int t = 0; t < 1200; t++)
		fc_push(&m.f, 20 * sin(2 * M_PI * t / 24) + (t >= 600 ? 50 : 0) +
				      0.5 * anhost_noise(&seed));
	assert_int_equal(m.f.season, 24);
	assert_true(m.f.champion == FC_HW || m.f.champion == FC_SNAIVE);
	assert_string_equal(fc_model_name(&m.f, FC_HW), "holt_winters");
	/* the wave goes on at the new level */
	for (size_t h = 1; h <= 24; h += 5)
		assert_float_equal(fc_forecast(&m.f, m.f.champion, h),
				   20 * sin(2 * M_PI * (1199.0 + h) / 24) + 50, 2.5);
	/* and the champion's held-out error is far below naive's, near the
	 * noise floor that the seasonal naive scale measures */
	assert_true(m.f.st[m.f.champion].mae_h < 0.25 * m.f.st[FC_NAIVE].mae_h);
	assert_true(fc_mase(&m.f, m.f.champion) < 1.2);
	model_close(&m);
}

static void test_constant_spike_and_step(void **st)
{
	(void)st;
	struct model_fix m;
	model_open(&m, 480);
	for (int t = 0; t < 200; t++)
		fc_push(&m.f, 7);
	for (int k = 0; k < FC_N_MODELS; k++)
		if (fc_available(&m.f, k))
			assert_float_equal(fc_forecast(&m.f, k, 12), 7, 1e-9);
	assert_float_equal(fc_mase(&m.f, m.f.champion), 0, 0);
	assert_float_equal(fc_sigma(&m.f, m.f.champion, 12), 0, 0);
	assert_float_equal(fc_confidence(&m.f), 1, 0);
	assert_string_equal(fc_model_name(&m.f, FC_HW), "holt");
	/* a spike: once it has left the linear window (120 values) the
	 * forecast is back at the level */
	fc_push(&m.f, 1000);
	for (int t = 0; t < 150; t++)
		fc_push(&m.f, 7);
	assert_float_equal(fc_forecast(&m.f, m.f.champion, 12), 7, 0.5);
	/* a step: the forecast follows to the new level */
	for (int t = 0; t < 120; t++)
		fc_push(&m.f, 20);
	assert_float_equal(fc_forecast(&m.f, m.f.champion, 12), 20, 0.5);
	model_close(&m);
}

static void test_champion_needs_the_margin(void **st)
{
	(void)st;
	struct model_fix m;
	uint64_t seed = 5;
	/* white noise: the level models (Holt) beat naive by about 30% */
	model_open(&m, 480);
	for (int t = 0; t < 600; t++)
		fc_push(&m.f, 100 + anhost_noise(&seed));
	assert_int_not_equal(m.f.champion, FC_NAIVE);
	assert_true(m.f.switches >= 1);
	model_close(&m);
	/* with a margin of 90% nobody beats the first champion */
	model_open(&m, 480);
	m.f.p.margin = 0.9;
	seed = 5;
	for (int t = 0; t < 600; t++)
		fc_push(&m.f, 100 + anhost_noise(&seed));
	assert_int_equal(m.f.champion, FC_NAIVE);
	assert_int_equal(m.f.switches, 0);
	/* naive's errors on white noise have variance 2 at every horizon */
	assert_float_equal(fc_sigma(&m.f, FC_NAIVE, 1), sqrt(2), 0.4);
	assert_float_equal(fc_sigma(&m.f, FC_NAIVE, 12), sqrt(2), 0.4);
	model_close(&m);
}

static void test_intervals_of_a_random_walk(void **st)
{
	(void)st;
	struct model_fix m;
	uint64_t seed = 8;
	double y = 0;
	model_open(&m, 480);
	for (int t = 0; t < 2000; t++)
		fc_push(&m.f, y += anhost_noise(&seed));
	/* the h-step error of a random walk has variance h */
	assert_float_equal(fc_sigma(&m.f, FC_NAIVE, 1), 1, 0.3);
	assert_float_equal(fc_sigma(&m.f, FC_NAIVE, 12), sqrt(12), 0.3 * sqrt(12));
	/* beyond the measured horizon the variance keeps growing linearly */
	assert_true(fc_sigma(&m.f, FC_NAIVE, 48) > 1.5 * fc_sigma(&m.f, FC_NAIVE, 12));
	model_close(&m);
}

/* --- the plugin ---------------------------------------------------------------- */

struct fixture {
	struct fo_conf conf;
	struct forecast *F;
	struct fo_limit_conf lim[2];
};

static void setup(struct fixture *f, bool limits)
{
	memset(f, 0, sizeof(*f));
	bm__host_api = anhost_api();
	fakehost_reset();
	pt_conf_defaults(fo_options, &f->conf);
	if (limits) {
		f->lim[0] = (struct fo_limit_conf){.match = strdup("node_filesystem_avail_bytes"),
						   .threshold = 0, .direction = FO_BELOW,
						   .description = strdup("disk full")};
		f->lim[1] = (struct fo_limit_conf){.match = strdup("node_memory_MemAvailable_bytes"),
						   .threshold = 256 * MIB, .direction = FO_BELOW};
		f->conf.limits.n = 2;
		f->conf.limits.items = malloc(sizeof(f->lim));
		memcpy(f->conf.limits.items, f->lim, sizeof(f->lim));
	}
	f->F = pt_init(&fo_ops, &f->conf);
}

static void teardown(struct fixture *f)
{
	pt_close(&fo_ops, fo_options, f->F, &f->conf);
	anhost_reset();
}

static const struct fo_series *series(struct fixture *f, const char *name)
{
	for (size_t i = 0; i < f->F->table.n; i++)
		if (strcmp(f->F->table.entries[i].key->name, name) == 0)
			return f->F->table.entries[i].val;
	fail_msg("no series %s", name);
	return NULL;
}

static bool last_forecast(const char *name, struct bm_forecast_event *out, struct bm_arena *a)
{
	bool found = false;
	for (size_t i = 0; i < anhost_count(BM_TOPIC_FORECAST); i++) {
		size_t len;
		const void *b = anhost_body(BM_TOPIC_FORECAST, i, &len);
		struct bm_forecast_event e;
		assert_int_equal(bm_forecast_decode(b, len, &e, a), 0);
		if (strcmp(e.series.name, name) == 0) {
			*out = e;
			found = true;
		}
	}
	return found;
}

static void test_defaults_are_the_bench_settings(void **st)
{
	(void)st;
	struct fixture f;
	setup(&f, false);
	struct fc_params d;
	fc_params_default(&d);
	const struct fc_params *p = &f.F->params;
	assert_int_equal(p->history, d.history);
	assert_int_equal(p->eval_h, d.eval_h);
	assert_int_equal(p->min_season, d.min_season);
	assert_int_equal(p->max_season, d.max_season);
	assert_int_equal(p->redetect_every, d.redetect_every);
	assert_int_equal(p->refit_every, d.refit_every);
	assert_int_equal(p->linear_window, d.linear_window);
	assert_int_equal(p->error_window, d.error_window);
	assert_int_equal(p->min_scored, d.min_scored);
	assert_float_equal(p->margin, d.margin, 0);
	assert_int_equal(f.F->horizon, 1440);
	assert_int_equal(f.F->n_points, 24);
	assert_int_equal(f.F->spacing, 60);
	assert_float_equal(f.F->z, 1.959963985, 1e-8);
	/* 2880 values, a day's season and the points: about 36 KiB */
	assert_true(fo_series_bytes(f.F) < 40000);
	teardown(&f);
}

static void test_disk_filling_up(void **st)
{
	(void)st;
	struct fixture f;
	uint64_t seed = 99;
	setup(&f, true);
	/* 1 GiB free, 1 MiB less every minute, sampled every 10 s with
	 * jitter, for 6 hours: full in 1024 - 360 = 664 minutes */
	int64_t end = T0 + 6 * 3600000;
	for (int64_t ts = T0; ts < end; ts += 10000) {
		double minutes = (double)(ts - T0) / 60000;
		anhost_feed(&f.F->table, "node_filesystem_avail_bytes", "mountpoint=/", ts,
			    1024 * MIB - minutes * MIB + 0.01 * MIB * anhost_noise(&seed));
	}
	fo_evaluate(f.F, end);
	struct bm_arena a = {0};
	struct bm_forecast_event e;
	assert_true(last_forecast("node_filesystem_avail_bytes", &e, &a));
	assert_true(e.has_threshold);
	assert_int_equal(e.cross, BM_CROSS_BELOW);
	assert_float_equal(e.threshold, 0, 0);
	/* the last whole step is minute 358 (the open one is 359) */
	assert_int_equal(e.ts_ms, T0 + 358 * 60000);
	double want_ms = (1024 - 358.5) * 60000.0; /* step means sit half a minute later */
	assert_float_equal((double)e.time_to_threshold_ms, want_ms, want_ms * 0.02);
	assert_int_equal(e.trend, BM_TREND_DECREASING);
	assert_int_equal(e.n_points, 24);
	assert_int_equal(e.step_ms, 3600000);
	assert_int_equal(e.horizon_ms, 86400000);
	assert_true(strcmp(e.model, "linear") == 0 || strcmp(e.model, "holt") == 0);
	assert_true(e.confidence > 0.5);
	/* intervals around the points, widening */
	for (size_t p = 0; p < e.n_points; p++)
		assert_true(e.points[p].lower <= e.points[p].yhat && e.points[p].yhat <= e.points[p].upper);
	assert_true(e.points[23].upper - e.points[23].lower > e.points[0].upper - e.points[0].lower);
	/* below its history's range within a day, and past the limit: a sure risk */
	assert_true(e.anomaly_risk > 0.99);

	int status;
	json_t *j = anhost_get(fo_route_cb, f.F, "name=node_filesystem_avail_bytes", &status);
	assert_int_equal(status, 200);
	json_t *fc0 = json_array_get(json_object_get(j, "forecasts"), 0);
	json_t *lim = json_array_get(json_object_get(fc0, "limits"), 0);
	assert_string_equal(json_string_value(json_object_get(lim, "description")), "disk full");
	assert_string_equal(json_string_value(json_object_get(lim, "direction")), "below");
	assert_int_equal(json_integer_value(json_object_get(lim, "time_to_threshold_ms")),
			 e.time_to_threshold_ms);
	assert_int_equal(json_array_size(json_object_get(fc0, "points")), 24);
	assert_true(json_is_object(json_object_get(json_object_get(fc0, "models"), "naive")));
	json_decref(j);

	/* nothing new a minute later; a crossing that goes away is published at once */
	size_t before = anhost_count(BM_TOPIC_FORECAST);
	fo_evaluate(f.F, end + 60000);
	assert_int_equal(anhost_count(BM_TOPIC_FORECAST), before);
	bm_arena_free(&a);
	teardown(&f);
}

static void test_memory_draining_with_gaps(void **st)
{
	(void)st;
	struct fixture f;
	uint64_t seed = 3;
	setup(&f, true);
	/* 2 GiB available, 20 MiB less a minute, irregular samples (2-30 s),
	 * NaNs in between and a 5-minute hole: 256 MiB at minute 89.6 */
	int64_t ts = T0, end = T0 + 60 * 60000;
	while (ts < end) {
		double minutes = (double)(ts - T0) / 60000;
		bool hole = minutes > 32 && minutes < 37;
		if (!hole)
			anhost_feed(&f.F->table, "node_memory_MemAvailable_bytes", "", ts,
				    fmod(minutes, 3) < 0.2 ? NAN : 2048 * MIB - 20 * MIB * minutes);
		ts += 2000 + (int64_t)(fabs(anhost_noise(&seed)) * 12000);
	}
	assert_true(f.F->table.skipped_samples > 0);
	const struct fo_series *s = series(&f, "node_memory_MemAvailable_bytes");
	/* one value per minute, the hole bridged */
	assert_int_equal(s->fc.t, (uint64_t)(s->last_k - T0 / 60000 + 1));
	fo_evaluate(f.F, end);
	struct bm_arena a = {0};
	struct bm_forecast_event e;
	assert_true(last_forecast("node_memory_MemAvailable_bytes", &e, &a));
	double want_ms = (89.6 - (double)(e.ts_ms - T0) / 60000 - 0.5) * 60000;
	assert_float_equal((double)e.time_to_threshold_ms, want_ms, 3 * 60000);
	assert_int_equal(e.cross, BM_CROSS_BELOW);
	assert_float_equal(e.threshold, 256 * MIB, 0);
	/* a gap longer than max_gap restarts the models */
	anhost_feed(&f.F->table, "node_memory_MemAvailable_bytes", "", end + 2 * 3600000, 1);
	anhost_feed(&f.F->table, "node_memory_MemAvailable_bytes", "", end + 2 * 3600000 + 60000, 1);
	assert_int_equal(s->fc.t, 1);
	bm_arena_free(&a);
	teardown(&f);
}

static void test_config_checks(void **st)
{
	(void)st;
	struct fo_conf c;
	memset(&c, 0, sizeof(c));
	bm__host_api = anhost_api();
	pt_conf_defaults(fo_options, &c);
	c.min_season_ms = c.max_season_ms + 60000;
	pt_init_err(&fo_ops, &c, BM_EINVAL, "min_season", NULL);
	pt_conf_release(fo_options, &c);
	memset(&c, 0, sizeof(c));
	pt_conf_defaults(fo_options, &c);
	struct fo_limit_conf *l = calloc(1, sizeof(*l));
	l->match = strdup("disk(");
	c.limits.n = 1;
	c.limits.items = l;
	pt_init_err(&fo_ops, &c, BM_EINVAL, "limits.0.match", NULL);
	pt_conf_release(fo_options, &c);
	memset(&c, 0, sizeof(c));
	pt_conf_defaults(fo_options, &c);
	c.history_ms = 10 * 60000;
	pt_init_err(&fo_ops, &c, BM_EINVAL, "history", NULL);
	pt_conf_release(fo_options, &c);
	anhost_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_season_detection),
		cmocka_unit_test(test_small_helpers),
		cmocka_unit_test(test_ramp_forecast_and_time_to_threshold),
		cmocka_unit_test(test_seasonal_wave_with_level_shift),
		cmocka_unit_test(test_constant_spike_and_step),
		cmocka_unit_test(test_champion_needs_the_margin),
		cmocka_unit_test(test_intervals_of_a_random_walk),
		cmocka_unit_test(test_defaults_are_the_bench_settings),
		cmocka_unit_test(test_disk_filling_up),
		cmocka_unit_test(test_memory_draining_with_gaps),
		cmocka_unit_test(test_config_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
