/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of analyzer/anomaly_ensemble: the record ranges that
 * calibrate its members, and known answers on synthetic series (synth.h,
 * shared with the other detectors' tests).
 */
#include "../anomaly_ensemble.c"

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
static struct ens_conf conf;
static struct synth_fixture fx = {ens_options, &conf, sizeof(conf)};

static void run(void)
{
	synth_run(&ens_ops, &conf, "test_value", v, NULL, N, &r);
}

/* Break-outs in units of the range, both sides or above only, after the
 * minimum history; the window slides by blocks. */
static void test_record(void **unused)
{
	(void)unused;
	struct record_range rr;
	double lo = 0, hi = 0;
	record_init(&rr, 160); /* blocks of 10 */
	assert_true(record_step(&rr, 5, RECORD_BOTH, 1, &lo, &hi) == 0); /* no history */
	for (int i = 0; i < 20; i++)
		record_step(&rr, i % 2 ? 10 : 0, RECORD_BOTH, 1, &lo, &hi);
	assert_true(record_step(&rr, 12, RECORD_BOTH, 1, &lo, &hi) == 0.2);
	assert_true(lo == 0 && hi == 10);
	assert_true(record_step(&rr, -6, RECORD_BOTH, 1, &lo, &hi) == 0.5); /* range 0..12 now */
	assert_true(record_step(&rr, -5, RECORD_ABOVE, 1, &lo, &hi) == 0);
	assert_true(record_step(&rr, 5, RECORD_BOTH, 1, &lo, &hi) == 0);
	assert_true(record_step(&rr, 100, RECORD_BOTH, 1000, &lo, &hi) == 0); /* too little history */
	/* 160 samples of 1 later the old extremes have left the window */
	for (int i = 0; i < 170; i++)
		record_step(&rr, 1, RECORD_BOTH, 1, &lo, &hi);
	assert_true(record_step(&rr, 1.5, RECORD_BOTH, 1, &lo, &hi) > 100);
	record_clear(&rr);
	assert_true(record_step(&rr, 1e6, RECORD_BOTH, 1, &lo, &hi) == 0);
	/* a constant history: its first change breaks out by a lot */
	record_step(&rr, 1e6, RECORD_BOTH, 1, &lo, &hi);
	assert_true(record_step(&rr, 1e6 + 10, RECORD_BOTH, 1, &lo, &hi) == 0.01);
}

/*
 * Gaussian noise keeps setting small records while the members' ranges
 * form (a new extreme of n samples beats the old one by a shrinking
 * margin): at the default threshold 0.9 such events end within the first
 * thousand samples. The known answers below hold from there on.
 */
#define SETTLED 1000

/* A 20-sigma step: flagged on its first sample, nothing before. */
static void test_step(void **unused)
{
	(void)unused;
	for (uint64_t seed = 1; seed <= 3; seed++) {
		synth_noise(v, N, 100, 1, seed);
		synth_step(v, N, 2000, 20);
		run();
		assert_int_equal(synth_count(&r, SETTLED, 2000), 0);
		assert_int_equal(synth_first(&r, SETTLED), 2000);
		assert_true(r.score[synth_count(&r, 0, 2000)] > 0.98); /* 2.5 ranges out */
	}
	assert_string_equal(r.detector, "anomaly_ensemble");
}

/* A 10-sigma spike: one event, on it. */
static void test_spike(void **unused)
{
	(void)unused;
	for (uint64_t seed = 1; seed <= 3; seed++) {
		synth_noise(v, N, 100, 1, seed);
		v[2200] += 10;
		run();
		assert_int_equal(synth_count(&r, SETTLED, N), 1);
		assert_int_equal(synth_first(&r, SETTLED), 2200);
	}
}

/* A slow ramp sets new records by tiny margins: no event. */
static void test_ramp(void **unused)
{
	(void)unused;
	for (uint64_t seed = 1; seed <= 3; seed++) {
		synth_noise(v, N, 100, 1, seed);
		synth_ramp(v, N, 0.002);
		run();
		assert_int_equal(synth_count(&r, SETTLED, N), 0);
	}
}

/* A shift of half the amplitude of a wave at 2500, inside its range: the
 * seasonal members flag it once their residuals have a history. */
static void test_wave_with_shift(void **unused)
{
	(void)unused;
	synth_noise(v, N, 0, 0.1, 4);
	synth_wave(v, N, 100, 10);
	synth_step(v, N, 2500, 5);
	run();
	assert_int_equal(synth_count(&r, SETTLED, 2500), 0);
	assert_int_equal(synth_first(&r, SETTLED), 2500);
	/* the band is the seasonal forecast's */
	size_t k = synth_count(&r, 0, 2500);
	assert_true(fabs(r.expected[k] - 10 * sin(2 * M_PI * 2500 / 100)) < 0.5);
	assert_true(r.lower[k] < r.expected[k] && r.expected[k] < r.upper[k]);
}

/* A constant series scores nothing; its first change is flagged. */
static void test_constant(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < N; i++)
		v[i] = i < 2500 ? 3 : 3.01;
	run();
	assert_true(r.n >= 1);
	assert_int_equal(r.idx[0], 2500);
}

static void test_nan_gaps(void **unused)
{
	(void)unused;
	static const size_t at[] = {2200, 2700};
	synth_noise(v, N, 100, 1, 5);
	v[2200] += 15;
	synth_step(v, N, 2700, 30);
	synth_expect_gap_invariance(&ens_ops, &conf, v, N, at, 2);
}

static void test_irregular(void **unused)
{
	(void)unused;
	synth_noise(v, N, 0, 0.1, 6);
	synth_wave(v, N, 100, 10);
	synth_step(v, N, 2500, 5);
	synth_expect_spacing_invariance(&ens_ops, &conf, v, N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		SYNTH_TEST(test_record, &fx),
		SYNTH_SCENARIOS(&fx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
