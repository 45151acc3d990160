/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Synthetic series with known anomalies for the unit tests of the three
 * anomaly detectors (shared by anomaly_ewma, anomaly_hw and
 * anomaly_ensemble), and a runner that feeds one through a fresh plugin
 * instance on the test host (plugins/common/tests/anhost.h) and returns
 * the anomaly events it published, mapped back to sample indices; the
 * cmocka fixture and the list of known-answer scenarios they share.
 */
#ifndef BEARMON_PLUGINS_ANOMALY_SYNTH_H
#define BEARMON_PLUGINS_ANOMALY_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_plugin.h>

#define SYNTH_T0   1700000000000LL /* ms of sample 0 */
#define SYNTH_STEP 60000           /* ms between samples */
#define SYNTH_MAX_EVENTS 4096

/* A detector test's options and conf (zeroed, then at the defaults of
 * opts before each test), handed to cmocka as the test's prestate. */
struct synth_fixture {
	const struct bm_option *opts;
	void *conf;
	size_t size;
};
/* cmocka setup and teardown for a struct synth_fixture prestate: the test
 * host installed and the conf at its defaults; the conf released and the
 * hosts reset after. SYNTH_TEST(t, fx) is one such test in the table. */
int synth_setup(void **state);
int synth_teardown(void **state);
#define SYNTH_TEST(t, fx)                                                                          \
	cmocka_unit_test_prestate_setup_teardown(t, synth_setup, synth_teardown, fx)

/* The known-answer scenarios a detector's test defines as functions of
 * these names (a step, a spike, a ramp, a wave with a shift, a constant
 * series, gaps, irregular spacing), as entries of its table. */
#define SYNTH_SCENARIOS(fx)                                                                  \
	SYNTH_TEST(test_step, fx), SYNTH_TEST(test_spike, fx), SYNTH_TEST(test_ramp, fx),    \
	    SYNTH_TEST(test_wave_with_shift, fx), SYNTH_TEST(test_constant, fx),             \
	    SYNTH_TEST(test_nan_gaps, fx), SYNTH_TEST(test_irregular, fx)

/* Gaussian noise around level (deterministic for a seed). */
void synth_noise(double *v, size_t n, double level, double sd, uint64_t seed);
/* Add height to v[at..n-1]. */
void synth_step(double *v, size_t n, size_t at, double height);
/* Add slope * i to v[i]. */
void synth_ramp(double *v, size_t n, double slope);
/* Add amp * sin(2 pi i / period). */
void synth_wave(double *v, size_t n, size_t period, double amp);
/* Regular timestamps, or with gaps of 1 to 10 steps (irregular). */
void synth_times(int64_t *ts, size_t n, int irregular);

/* What a run published, in sample order. */
struct synth_result {
	size_t n;
	size_t idx[SYNTH_MAX_EVENTS];     /* sample index of each event */
	double score[SYNTH_MAX_EVENTS];
	int64_t start_ms[SYNTH_MAX_EVENTS];
	double expected[SYNTH_MAX_EVENTS];
	double lower[SYNTH_MAX_EVENTS], upper[SYNTH_MAX_EVENTS];
	char detector[64];
	uint64_t dropped_series;
};

/*
 * init a fresh instance from conf with ops, feed v[0..n-1] as series
 * name{} at ts (NULL: regular), fini it, and fill r. NaN values are fed
 * as they are (the plugin must skip them).
 */
void synth_run(const struct bm_plugin_ops *ops, const void *conf, const char *name,
	       const double *v, const int64_t *ts, size_t n, struct synth_result *r);
/*
 * Known answers every detector shares, checked on v[0..n-1] whose
 * anomalies are at the indices in at[0..n_at-1]:
 * gaps: NaN, Inf and stale markers in place of samples give the same
 * events as no samples there at all, and every anomaly is still flagged;
 * spacing: irregular timestamps give the very same events as regular
 * ones (scores depend on the order of samples, not on their spacing).
 */
void synth_expect_gap_invariance(const struct bm_plugin_ops *ops, const void *conf,
				 const double *v, size_t n, const size_t *at, size_t n_at);
void synth_expect_spacing_invariance(const struct bm_plugin_ops *ops, const void *conf,
				     const double *v, size_t n);
/* Events with index in [from, to). */
size_t synth_count(const struct synth_result *r, size_t from, size_t to);
/* Index of the first event at or after from; SIZE_MAX when none. */
size_t synth_first(const struct synth_result *r, size_t from);

#endif /* BEARMON_PLUGINS_ANOMALY_SYNTH_H */
