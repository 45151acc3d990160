/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of analyzer/anomaly_ewma and of the detector skeleton it
 * shares (anomaly_common.c): known answers on synthetic series, then the
 * series table, filters, hold-off, runs and event fields.
 */
#include "../anomaly_ewma.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "anhost.h"
#include "plugintest.h"
#include "synth.h"

#define N 2000

static double v[N];
static struct synth_result r;
static struct ewma_conf conf;
static struct synth_fixture fx = {ewma_options, &conf, sizeof(conf)};

static void run(void)
{
	synth_run(&ewma_ops, &conf, "test_value", v, NULL, N, &r);
}

/* A 20-sigma step: flagged at the step and nowhere before it. */
static void test_step(void **unused)
{
	(void)unused;
	synth_noise(v, N, 100, 1, 1);
	synth_step(v, N, 1200, 20);
	run();
	assert_int_equal(synth_count(&r, 0, 1200), 0);
	assert_int_equal(synth_first(&r, 0), 1200);
	assert_string_equal(r.detector, "anomaly_ewma");
}

/* One 30-sigma spike: exactly one event, on it. */
static void test_spike(void **unused)
{
	(void)unused;
	synth_noise(v, N, 100, 1, 2);
	v[1000] += 30;
	run();
	assert_int_equal(r.n, 1);
	assert_int_equal(r.idx[0], 1000);
	assert_true(r.score[0] >= conf.common.threshold && r.score[0] <= 1);
	assert_true(r.lower[0] < r.expected[0] && r.expected[0] < r.upper[0]);
	assert_true(fabs(r.expected[0] - 100) < 1);
}

/* Highest score of the samples [from, to) in a threshold-0 run. */
static double max_score(size_t from, size_t to)
{
	double m = 0;
	for (size_t i = 0; i < r.n; i++)
		if (r.idx[i] >= from && r.idx[i] < to && r.score[i] > m)
			m = r.score[i];
	return m;
}

/* A ramp is learnt, not flagged: the mean and the deviation follow it.
 * From the start it scores like noise; one that starts at 1200 lifts the
 * scores while the model catches up (the largest of the run) but stays
 * under the default threshold. */
static void test_ramp(void **unused)
{
	(void)unused;
	conf.common.threshold = 0;
	conf.common.holdoff = 0;
	synth_noise(v, N, 100, 1, 3);
	synth_ramp(v, N, 0.2);
	run();
	assert_true(max_score(0, N) < 0.5);
	synth_noise(v, N, 100, 1, 3);
	for (size_t i = 1200; i < N; i++)
		v[i] += 0.5 * (double)(i - 1200);
	run();
	assert_true(max_score(1200, 1300) > max_score(0, 1200));
	assert_true(max_score(1200, 1300) < 0.97);
}

/* A wave of amplitude 10 with a shift of 5 at 1500: the shift stays
 * inside the wave's range, which a mean and deviation cannot see (the
 * seasonal detectors do, see their tests). The wave itself is no anomaly. */
static void test_wave_with_shift(void **unused)
{
	(void)unused;
	synth_noise(v, N, 0, 0.1, 4);
	synth_wave(v, N, 100, 10);
	synth_step(v, N, 1500, 5);
	run();
	assert_int_equal(r.n, 0);
}

/* A constant series scores nothing; its first change is flagged, and the
 * new level stays anomalous (one event per hold-off) until the deviation
 * has grown to it. */
static void test_constant(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < N; i++)
		v[i] = i < 1500 ? 42 : 43;
	run();
	assert_true(r.n >= 1);
	assert_int_equal(r.idx[0], 1500);
	assert_true(r.score[0] == 1);
	for (size_t i = 1; i < r.n; i++)
		assert_true(r.idx[i] - r.idx[i - 1] > (size_t)conf.common.holdoff);
	assert_int_equal(synth_count(&r, 1800, N), 0);
}

/* NaN, Inf and stale markers in the gaps change nothing. */
static void test_nan_gaps(void **unused)
{
	(void)unused;
	static const size_t at[] = {700, 1500};
	synth_noise(v, N, 100, 1, 5);
	v[700] += 25;
	synth_step(v, N, 1500, 15);
	synth_expect_gap_invariance(&ewma_ops, &conf, v, N, at, 2);
}

/* Scores depend on the order of samples, not their spacing. */
static void test_irregular(void **unused)
{
	(void)unused;
	synth_noise(v, N, 100, 1, 6);
	v[900] += 30;
	synth_step(v, N, 1600, 20);
	synth_expect_spacing_invariance(&ewma_ops, &conf, v, N);
}

/* --- the skeleton ------------------------------------------------------ */

static struct anomaly_plugin *open_plugin(void)
{
	return pt_init(&ewma_ops, &conf);
}

/* Feed 100 calm samples then a spike to series name{labels}. */
static void calm_then_spike(struct anomaly_plugin *p, const char *name, const char *labels)
{
	uint64_t st = 7;
	for (int i = 0; i < 100; i++)
		anhost_feed(&p->table, name, labels, SYNTH_T0 + i * SYNTH_STEP,
			    10 + anhost_noise(&st));
	anhost_feed(&p->table, name, labels, SYNTH_T0 + 100 * SYNTH_STEP, 1000);
}

/* The first anomaly event captured, decoded into a. */
static void first_event(struct bm_anomaly_event *ev, struct bm_arena *a)
{
	size_t len;
	const void *body = anhost_body(BM_TOPIC_ANOMALY, 0, &len);
	assert_non_null(body);
	assert_int_equal(bm_anomaly_decode(body, len, ev, a), 0);
}

static void test_max_series(void **unused)
{
	(void)unused;
	conf.common.max_series = 2;
	struct anomaly_plugin *p = open_plugin();
	calm_then_spike(p, "a_value", "");
	calm_then_spike(p, "a_value", "disk=sda");
	calm_then_spike(p, "a_value", "disk=sdb");
	assert_int_equal(anhost_count(BM_TOPIC_ANOMALY), 2);
	/* every sample of the refused series is counted */
	assert_int_equal(p->table.dropped_series, 101);
	ewma_ops.fini(p);
}

static void test_filters(void **unused)
{
	(void)unused;
	pt_set_list(&conf.common.include, "node_.*", NULL);
	pt_set_list(&conf.common.exclude, "node_boot_.*", NULL);
	struct anomaly_plugin *p = open_plugin();
	calm_then_spike(p, "node_load1", "");
	calm_then_spike(p, "node_boot_time_seconds", "");
	calm_then_spike(p, "app_latency_seconds", "");
	assert_int_equal(anhost_count(BM_TOPIC_ANOMALY), 1);
	struct bm_arena a = {0};
	struct bm_anomaly_event ev;
	first_event(&ev, &a);
	assert_string_equal(ev.series.name, "node_load1");
	bm_arena_free(&a);
	ewma_ops.fini(p);
}

/* Every field of an event, labels included. */
static void test_event_fields(void **unused)
{
	(void)unused;
	struct anomaly_plugin *p = open_plugin();
	calm_then_spike(p, "disk_busy_ratio", "device=sda,host=a");
	assert_int_equal(anhost_count(BM_TOPIC_ANOMALY), 1);
	struct bm_arena a = {0};
	struct bm_anomaly_event ev;
	first_event(&ev, &a);
	assert_string_equal(ev.series.name, "disk_busy_ratio");
	assert_int_equal(ev.series.n_labels, 2);
	assert_string_equal(ev.series.labels[0].name, "device");
	assert_string_equal(ev.series.labels[1].value, "a");
	assert_int_equal(ev.ts_ms, SYNTH_T0 + 100 * SYNTH_STEP);
	assert_int_equal(ev.start_ms, ev.ts_ms);
	assert_true(ev.value == 1000);
	assert_true(ev.score == 1);
	assert_true(ev.threshold == 0.97);
	assert_true(ev.lower < ev.expected && ev.expected < ev.upper && ev.upper < 1000);
	assert_string_equal(ev.detector, "anomaly_ewma");
	assert_string_equal(ev.reason, "above the robust moving average");
	bm_arena_free(&a);
	ewma_ops.fini(p);
}

/* Without hold-off a lasting shift is one run: its events share start_ms. */
static void test_run_start(void **unused)
{
	(void)unused;
	conf.common.holdoff = 0;
	synth_noise(v, N, 100, 1, 8);
	synth_step(v, N, 1200, 40);
	run();
	assert_true(r.n >= 3);
	assert_int_equal(r.idx[0], 1200);
	assert_int_equal(r.idx[1], 1201);
	assert_int_equal(r.start_ms[1], r.start_ms[0]);
	assert_int_equal(r.start_ms[0], SYNTH_T0 + 1200 * SYNTH_STEP);
}

/* A smaller spike within the hold-off is no new detection; a larger one
 * is, and so is any after the hold-off. */
static void test_holdoff(void **unused)
{
	(void)unused;
	synth_noise(v, N, 100, 1, 9);
	v[1000] += 40;
	v[1010] += 20; /* weaker: held off */
	v[1100] += 20; /* after 75 samples: counts */
	run();
	assert_int_equal(r.n, 2);
	assert_int_equal(r.idx[0], 1000);
	assert_int_equal(r.idx[1], 1100);
	assert_true(anomaly_holdoff(&(struct anomaly_holdoff){.peak = 0.5, .age = 3}, 10, 0.4) == 0);
	assert_true(anomaly_holdoff(&(struct anomaly_holdoff){.peak = 0.5, .age = 3}, 10, 0.6) == 0.6);
	assert_true(anomaly_holdoff(&(struct anomaly_holdoff){.peak = 0.5, .age = 10}, 10, 0.4) == 0.4);
	assert_true(anomaly_holdoff(&(struct anomaly_holdoff){.peak = 0.5, .age = 0}, 0, 0.1) == 0.1);
}

/* Threshold 0 (what replay sets): every scored sample is published. */
static void test_threshold_zero(void **unused)
{
	(void)unused;
	conf.common.threshold = 0;
	synth_noise(v, N, 100, 1, 10);
	run();
	assert_int_equal(r.n, N - (size_t)conf.warmup);
	assert_int_equal(r.idx[0], (size_t)conf.warmup);
}

/* Counters are analysed as per-second rates: a rate change is an anomaly,
 * a counter reset is not. */
static void test_counter_rate(void **unused)
{
	(void)unused;
	struct anomaly_plugin *p = open_plugin();
	double c = 0;
	uint64_t st = 11;
	for (int i = 0; i < 300; i++) {
		c += 600 + 10 * anhost_noise(&st); /* ~10/s at one sample a minute */
		if (i == 150)
			c = 0; /* restart of the process */
		if (i == 250)
			c += 60000;
		anhost_feed(&p->table, "requests_total", "", SYNTH_T0 + i * SYNTH_STEP, c);
	}
	assert_int_equal(anhost_count(BM_TOPIC_ANOMALY), 1);
	struct bm_arena a = {0};
	struct bm_anomaly_event ev;
	first_event(&ev, &a);
	assert_int_equal(ev.ts_ms, SYNTH_T0 + 250 * SYNTH_STEP);
	assert_true(ev.value > 1000 && ev.value < 1020); /* per second */
	bm_arena_free(&a);
	ewma_ops.fini(p);
}

/* The robust EWMA and the z-score scale. */
static void test_helpers(void **unused)
{
	(void)unused;
	struct robust_ewma e = {0};
	assert_true(robust_ewma_update(&e, 5, 0.1, 4) == 0);
	for (int i = 0; i < 100; i++)
		robust_ewma_update(&e, i % 2 ? 4 : 6, 0.1, 4);
	assert_true(fabs(e.mean - 5) < 0.2);
	assert_true(fabs(e.mad - 1) < 0.2);
	/* a spike moves the mean by at most alpha * clip * sigma */
	double before = e.mean;
	robust_ewma_update(&e, 1e9, 0.1, 4);
	assert_true(e.mean - before <= 0.1 * 4 * 1.2533 * 1.2 + 1e-9);
	assert_true(anomaly_z_score(0) == 0);
	assert_true(anomaly_z_score(20) == 1);
	assert_true(fabs(anomaly_z_score(3) - 2.57 / 12) < 0.01); /* p = 0.0027 */
	struct anomaly_zband zb = {0};
	double z = anomaly_z_for_score(&zb, 0.5);
	assert_true(fabs(anomaly_z_score(z) - 0.5) < 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		SYNTH_SCENARIOS(&fx),
		SYNTH_TEST(test_max_series, &fx),
		SYNTH_TEST(test_filters, &fx),
		SYNTH_TEST(test_event_fields, &fx),
		SYNTH_TEST(test_run_start, &fx),
		SYNTH_TEST(test_holdoff, &fx),
		SYNTH_TEST(test_threshold_zero, &fx),
		SYNTH_TEST(test_counter_rate, &fx),
		SYNTH_TEST(test_helpers, &fx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
