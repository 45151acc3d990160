/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of analyzer/anomaly_hw: season detection by autocorrelation
 * and known answers on synthetic series (synth.h, shared with the other
 * detectors' tests).
 */
#include "../anomaly_hw.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "anhost.h"
#include "plugintest.h"
#include "synth.h"

#define N 3000

static double v[N];
static struct synth_result r;
static struct hw_conf conf;
static struct synth_fixture fx = {hw_options, &conf, sizeof(conf)};

static void run(size_t n)
{
	synth_run(&hw_ops, &conf, "test_value", v, NULL, n, &r);
}

/* Daily-like waves are found; noise and a random walk have no season;
 * a weekly pattern (a day of 48 samples, quieter weekends) wins over the
 * daily wave it contains. */
static void test_detect_period(void **unused)
{
	(void)unused;
	synth_noise(v, 1200, 0, 1, 1);
	synth_wave(v, 1200, 48, 5);
	assert_int_equal(hw_detect_period(v, 1200, &conf.hw), 48);
	synth_noise(v, 1200, 0, 1, 2);
	assert_int_equal(hw_detect_period(v, 1200, &conf.hw), 0);
	uint64_t st = 3;
	v[0] = 0;
	for (size_t i = 1; i < 1200; i++)
		v[i] = v[i - 1] + anhost_noise(&st);
	assert_int_equal(hw_detect_period(v, 1200, &conf.hw), 0);
	synth_noise(v, 2400, 0, 0.5, 4);
	synth_wave(v, 2400, 48, 5);
	for (size_t i = 0; i < 2400; i++)
		if ((i / 48) % 7 >= 5)
			v[i] -= 8;
	assert_int_equal(hw_detect_period(v, 2400, &conf.hw), 336);
}

/* The season is fitted from the ring once season_after samples are in. */
static void test_model_fit(void **unused)
{
	(void)unused;
	struct hw_model m;
	assert_int_equal(hw_model_init(&m, &conf.hw), 0);
	synth_noise(v, 1000, 50, 0.1, 5);
	synth_wave(v, 1000, 100, 10);
	double yhat = 0;
	bool refit = false;
	for (size_t i = 0; i < 1000; i++) {
		if (i == 900)
			assert_true(hw_model_predict(&m, &yhat));
		refit |= hw_model_update(&m, &conf.hw, v[i]);
		if (i < 599)
			assert_false(hw_model_predict(&m, &yhat));
	}
	assert_true(refit);
	assert_int_equal(m.period, 100);
	assert_true(fabs(yhat - (50 + 10 * sin(2 * M_PI * 900 / 100))) < 0.5);
	hw_model_release(&m);
}

/* A shift of half the wave's amplitude at 2000 stays inside the wave's
 * range but leaves the seasonal forecast: flagged at once, and nothing
 * between the season's fit and the shift. */
static void test_wave_with_shift(void **unused)
{
	(void)unused;
	synth_noise(v, N, 0, 0.1, 6);
	synth_wave(v, N, 100, 10);
	synth_step(v, N, 2000, 5);
	run(N);
	assert_int_equal(synth_count(&r, 700, 2000), 0);
	assert_int_equal(synth_first(&r, 700), 2000);
	assert_string_equal(r.detector, "anomaly_hw");
	/* the band follows the wave */
	assert_true(fabs(r.expected[0] - 10 * sin(2 * M_PI * 2000 / 100)) < 0.5);
	assert_true(r.lower[0] < r.expected[0] && r.expected[0] < r.upper[0]);
}

/* Without a season the robust EWMA scores: a step and a spike are
 * flagged on the sample, and nothing before. */
static void test_step_and_spike(void **unused)
{
	(void)unused;
	synth_noise(v, N, 100, 1, 7);
	v[1000] += 30;
	synth_step(v, N, 2000, 20);
	run(N);
	assert_int_equal(synth_count(&r, 0, 1000), 0);
	assert_int_equal(synth_first(&r, 0), 1000);
	assert_int_equal(synth_count(&r, 1001, 2000), 0);
	assert_int_equal(synth_first(&r, 1001), 2000);
}

/* A slow ramp is learnt, not flagged. */
static void test_ramp(void **unused)
{
	(void)unused;
	synth_noise(v, N, 100, 1, 8);
	synth_ramp(v, N, 0.002);
	run(N);
	assert_int_equal(r.n, 0);
}

/* A constant series has no season and scores nothing; its first change
 * is flagged. */
static void test_constant(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < N; i++)
		v[i] = i < 2500 ? 7 : 7.5;
	run(N);
	assert_true(r.n >= 1);
	assert_int_equal(r.idx[0], 2500);
}

static void test_nan_gaps(void **unused)
{
	(void)unused;
	static const size_t at[] = {2000, 2600};
	synth_noise(v, N, 0, 0.1, 9);
	synth_wave(v, N, 100, 10);
	synth_step(v, N, 2000, 5);
	v[2600] += 20;
	synth_expect_gap_invariance(&hw_ops, &conf, v, N, at, 2);
}

static void test_irregular(void **unused)
{
	(void)unused;
	synth_noise(v, N, 0, 0.1, 10);
	synth_wave(v, N, 100, 10);
	synth_step(v, N, 2000, 5);
	synth_expect_spacing_invariance(&hw_ops, &conf, v, N);
}

/* season_after must fit in the ring. */
static void test_bad_options(void **unused)
{
	(void)unused;
	conf.hw.season_after = 5000;
	pt_init_err(&hw_ops, &conf, BM_EINVAL, "season_after (5000)", "max_period (2400)", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		SYNTH_TEST(test_detect_period, &fx),
		SYNTH_TEST(test_model_fit, &fx),
		SYNTH_TEST(test_wave_with_shift, &fx),
		SYNTH_TEST(test_step_and_spike, &fx),
		SYNTH_TEST(test_ramp, &fx),
		SYNTH_TEST(test_constant, &fx),
		SYNTH_TEST(test_nan_gaps, &fx),
		SYNTH_TEST(test_irregular, &fx),
		SYNTH_TEST(test_bad_options, &fx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
