/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Synthetic series and the plugin runner of synth.h.
 */
#define _GNU_SOURCE
#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/anomaly_common.h"
#include "anhost.h"
#include "fakehost.h"
#include "plugintest.h"
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

int synth_setup(void **state)
{
	struct synth_fixture *fx = *state;
	bm__host_api = anhost_api();
	memset(fx->conf, 0, fx->size);
	pt_conf_defaults(fx->opts, fx->conf);
	return 0;
}

int synth_teardown(void **state)
{
	struct synth_fixture *fx = *state;
	pt_conf_release(fx->opts, fx->conf);
	anhost_reset();
	fakehost_reset();
	return 0;
}

void synth_noise(double *v, size_t n, double level, double sd, uint64_t seed)
{
	uint64_t st = seed;
	for (size_t i = 0; i < n; i++)
		v[i] = level + sd * anhost_noise(&st);
}

void synth_step(double *v, size_t n, size_t at, double height)
{
	for (size_t i = at; i < n; i++)
		v[i] += height;
}

void synth_ramp(double *v, size_t n, double slope)
{
	for (size_t i = 0; i < n; i++)
		v[i] += slope * (double)i;
}

void synth_wave(double *v, size_t n, size_t period, double amp)
{
	for (size_t i = 0; i < n; i++)
		v[i] += amp * sin(2 * M_PI * (double)i / (double)period);
}

void synth_times(int64_t *ts, size_t n, int irregular)
{
	uint64_t st = 12345;
	int64_t t = SYNTH_T0;
	for (size_t i = 0; i < n; i++) {
		ts[i] = t;
		st = st * 6364136223846793005ULL + 1442695040888963407ULL;
		t += SYNTH_STEP * (irregular ? 1 + (int64_t)((st >> 33) % 10) : 1);
	}
}

static size_t index_of(const int64_t *ts, size_t n, int64_t t)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ts[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	assert_true(lo < n && ts[lo] == t);
	return lo;
}

/* Decode the captured anomaly events into r. */
static void collect(const int64_t *ts, size_t n, struct synth_result *r)
{
	struct bm_arena arena = {0};
	size_t count = anhost_count(BM_TOPIC_ANOMALY);
	assert_true(count <= SYNTH_MAX_EVENTS);
	for (size_t i = 0; i < count; i++) {
		size_t len;
		const void *body = anhost_body(BM_TOPIC_ANOMALY, i, &len);
		struct bm_anomaly_event ev;
		assert_int_equal(bm_anomaly_decode(body, len, &ev, &arena), 0);
		r->idx[r->n] = index_of(ts, n, ev.ts_ms);
		r->score[r->n] = ev.score;
		r->start_ms[r->n] = ev.start_ms;
		r->expected[r->n] = ev.expected;
		r->lower[r->n] = ev.lower;
		r->upper[r->n] = ev.upper;
		snprintf(r->detector, sizeof(r->detector), "%s", ev.detector);
		r->n++;
		bm_arena_reset(&arena);
	}
	bm_arena_free(&arena);
}

void synth_run(const struct bm_plugin_ops *ops, const void *conf, const char *name,
	       const double *v, const int64_t *ts, size_t n, struct synth_result *r)
{
	int64_t *own = NULL;
	if (!ts) {
		own = malloc(n * sizeof(*own));
		assert_non_null(own);
		synth_times(own, n, 0);
		ts = own;
	}
	memset(r, 0, sizeof(*r));
	anhost_reset();
	struct bm_err err = {0};
	void *state = NULL;
	assert_int_equal(ops->init(fakehost_ctx(), conf, &state, &err), 0);
	struct anomaly_plugin *p = state;
	for (size_t i = 0; i < n; i++)
		anhost_feed(&p->table, name, "", ts[i], v[i]);
	r->dropped_series = p->table.dropped_series;
	ops->fini(state);
	collect(ts, n, r);
	anhost_reset();
	free(own);
}

size_t synth_count(const struct synth_result *r, size_t from, size_t to)
{
	size_t c = 0;
	for (size_t i = 0; i < r->n; i++)
		c += r->idx[i] >= from && r->idx[i] < to;
	return c;
}

size_t synth_first(const struct synth_result *r, size_t from)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->idx[i] >= from)
			return r->idx[i];
	return SIZE_MAX;
}

static bool is_anomaly(size_t i, const size_t *at, size_t n_at)
{
	for (size_t k = 0; k < n_at; k++)
		if (at[k] == i)
			return true;
	return false;
}

void synth_expect_gap_invariance(const struct bm_plugin_ops *ops, const void *conf,
				 const double *v, size_t n, const size_t *at, size_t n_at)
{
	static struct synth_result gappy, compact;
	double *g = malloc(n * sizeof(*g)), *c = malloc(n * sizeof(*c));
	int64_t *ts = malloc(n * sizeof(*ts)), *cts = malloc(n * sizeof(*cts));
	assert_true(g && c && ts && cts);
	synth_times(ts, n, 0);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		g[i] = v[i];
		if (i % 7 == 3 && !is_anomaly(i, at, n_at)) {
			g[i] = (i / 7) % 3 == 0 ? NAN : (i / 7) % 3 == 1 ? INFINITY : bm_stale_nan();
			continue;
		}
		c[m] = v[i];
		cts[m++] = ts[i];
	}
	synth_run(ops, conf, "test_value", g, ts, n, &gappy);
	synth_run(ops, conf, "test_value", c, cts, m, &compact);
	/* a gap is the same as no sample at all */
	assert_int_equal(gappy.n, compact.n);
	for (size_t k = 0; k < gappy.n; k++) {
		assert_true(ts[gappy.idx[k]] == cts[compact.idx[k]]);
		assert_true(gappy.score[k] == compact.score[k]);
		assert_true(isfinite(gappy.expected[k]));
	}
	for (size_t k = 0; k < n_at; k++)
		assert_int_equal(synth_first(&gappy, at[k]), at[k]);
	free(g);
	free(c);
	free(ts);
	free(cts);
}

void synth_expect_spacing_invariance(const struct bm_plugin_ops *ops, const void *conf,
				     const double *v, size_t n)
{
	static struct synth_result regular, irregular;
	int64_t *ts = malloc(n * sizeof(*ts));
	assert_non_null(ts);
	synth_run(ops, conf, "test_value", v, NULL, n, &regular);
	synth_times(ts, n, 1);
	synth_run(ops, conf, "test_value", v, ts, n, &irregular);
	free(ts);
	assert_true(regular.n > 0);
	assert_int_equal(irregular.n, regular.n);
	for (size_t i = 0; i < regular.n; i++) {
		assert_int_equal(irregular.idx[i], regular.idx[i]);
		assert_true(irregular.score[i] == regular.score[i]);
	}
}
