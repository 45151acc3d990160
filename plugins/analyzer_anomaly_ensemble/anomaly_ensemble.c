/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/anomaly_ensemble: the strongest detector. Five members watch
 * one series each from its own angle: the value, the median and the mean
 * of the last samples (spikes, level shifts, slow drifts), and the residual
 * of a Holt-Winters forecast with detected season, alone and averaged
 * (broken daily or weekly patterns). Each member is calibrated against its
 * own history (record.h: how far it breaks out of the range it took over
 * the last `history` samples, in units of that range), which makes scores
 * of calm and wild series comparable; the ensemble takes the largest.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include "../analyzer_anomaly_hw/hw_model.h"
#include "../common/anomaly_common.h"
#include "record.h"

/* Score = e / (e + ENS_SCALE) for a break-out e (fraction of the range):
 * 0.5 when a member leaves its range by 3% of the range's width. */
#define ENS_SCALE 0.03
#define ENS_MAX_WINDOW 4096
#define ENS_MAX_RESIDUALS 64

struct ens_conf {
	struct anomaly_common_conf common;
	struct hw_params hw;
	int64_t history;          /* samples each member's range spans */
	int64_t median_window;
	int64_t mean_window;
	int64_t residual_window;
	int64_t residual_history; /* residuals held before they count */
	int64_t season_warmup;    /* samples after a season fit before residuals count */
	int64_t warmup;
};

static const struct bm_option ens_options[] = {
	ANOMALY_COMMON_OPTIONS(struct ens_conf, common, "0.9", "75", "2000"),
	HW_OPTIONS(struct ens_conf, hw),
	BM_OPTION_BOUNDED("history", BM_OPT_INT, "8000", struct ens_conf, history, 16, 1e9,
			  "samples over which each member's normal range is kept"),
	BM_OPTION_BOUNDED("median_window", BM_OPT_INT, "11", struct ens_conf, median_window, 1, 255,
			  "samples of the running median member"),
	BM_OPTION_BOUNDED("mean_window", BM_OPT_INT, "36", struct ens_conf, mean_window, 1,
			  ENS_MAX_WINDOW, "samples of the running mean member"),
	BM_OPTION_BOUNDED("residual_window", BM_OPT_INT, "4", struct ens_conf, residual_window, 1,
			  ENS_MAX_RESIDUALS, "seasonal residuals averaged by the smoothed residual member"),
	BM_OPTION_BOUNDED("residual_history", BM_OPT_INT, "1000", struct ens_conf, residual_history,
			  0, 1e9, "seasonal residuals seen (and at least one season) before they count"),
	BM_OPTION_BOUNDED("season_warmup", BM_OPT_INT, "100", struct ens_conf, season_warmup, 0,
			  1e9, "samples after a season is (re)fitted before its residuals are used"),
	BM_OPTION_BOUNDED("warmup", BM_OPT_INT, "300", struct ens_conf, warmup, 1, 1000000,
			  "samples a series learns from before it is scored"),
	BM_OPTION_END,
};

enum ens_member { M_VALUE, M_MEDIAN, M_MEAN, M_RESIDUAL, M_SMOOTH_RESIDUAL, M_COUNT };

static const char *const member_reason[M_COUNT] = {
	[M_VALUE] = "value outside the range of its history",
	[M_MEDIAN] = "running median outside the range of its history",
	[M_MEAN] = "running mean outside the range of its history",
	[M_RESIDUAL] = "seasonal forecast error larger than in its history",
	[M_SMOOTH_RESIDUAL] = "averaged seasonal forecast error larger than in its history",
};

struct ens_state {
	struct hw_model hw;
	struct record_range rec[M_COUNT];
	double *window;   /* the last window_cap values */
	uint32_t window_cap, window_pos;
	double median;    /* of the last median_window values, once that many */
	double resid[ENS_MAX_RESIDUALS];
	uint32_t resid_len, resid_pos;
	uint64_t n;
};

static int ens_state_init(void *state, const void *conf)
{
	const struct ens_conf *c = conf;
	struct ens_state *s = state;
	for (int m = 0; m < M_COUNT; m++)
		record_init(&s->rec[m], c->history);
	s->window_cap = (uint32_t)(c->mean_window > c->median_window ? c->mean_window
								      : c->median_window);
	s->window = calloc(s->window_cap, sizeof(*s->window));
	if (!s->window || hw_model_init(&s->hw, &c->hw)) {
		free(s->window);
		return BM_ENOMEM;
	}
	return 0;
}

static void ens_state_release(void *state)
{
	struct ens_state *s = state;
	hw_model_release(&s->hw);
	free(s->window);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The newest value is at window[window_pos - 1]. */
static double window_median(const struct ens_state *s, uint32_t w)
{
	double v[255];
	for (uint32_t i = 0; i < w; i++)
		v[i] = s->window[(s->window_pos + s->window_cap - 1 - i) % s->window_cap];
	qsort(v, w, sizeof(*v), cmp_double);
	return w % 2 ? v[w / 2] : 0.5 * (v[w / 2 - 1] + v[w / 2]);
}

static double window_mean(const struct ens_state *s, uint32_t w)
{
	double sum = 0;
	for (uint32_t i = 0; i < w; i++)
		sum += s->window[(s->window_pos + s->window_cap - 1 - i) % s->window_cap];
	return sum / w;
}

/* Break-outs of the value, median and mean members. */
static void level_members(struct ens_state *s, const struct ens_conf *c, double v, double *e,
			  double *lo, double *hi)
{
	s->window[s->window_pos] = v;
	s->window_pos = (s->window_pos + 1) % s->window_cap;
	double unused_lo, unused_hi;
	e[M_VALUE] = record_step(&s->rec[M_VALUE], v, RECORD_BOTH, 1, lo, hi);
	s->median = v;
	if (s->n > (uint64_t)c->median_window) {
		s->median = window_median(s, (uint32_t)c->median_window);
		e[M_MEDIAN] = record_step(&s->rec[M_MEDIAN], s->median, RECORD_BOTH, 1,
					  &unused_lo, &unused_hi);
	}
	if (s->n > (uint64_t)c->mean_window)
		e[M_MEAN] = record_step(&s->rec[M_MEAN], window_mean(s, (uint32_t)c->mean_window),
					RECORD_BOTH, 1, &unused_lo, &unused_hi);
}

/* Break-outs of the seasonal members: the forecast error and its mean
 * over residual_window samples, above their largest in the history. */
static void season_members(struct ens_state *s, const struct ens_conf *c, double v,
			   double yhat, double *e, double *res_max)
{
	uint64_t min_hist = (uint64_t)c->residual_history;
	if (min_hist < s->hw.period)
		min_hist = s->hw.period;
	double r = v - yhat, lo = 0;
	e[M_RESIDUAL] = record_step(&s->rec[M_RESIDUAL], fabs(r), RECORD_ABOVE, min_hist, &lo,
				    res_max);
	uint32_t w = (uint32_t)c->residual_window;
	s->resid[s->resid_pos] = r;
	s->resid_pos = (s->resid_pos + 1) % w;
	if (s->resid_len < w)
		s->resid_len++;
	if (s->resid_len < w)
		return;
	double mean = 0;
	for (uint32_t i = 0; i < w; i++)
		mean += s->resid[i];
	double unused_lo, unused_hi;
	e[M_SMOOTH_RESIDUAL] = record_step(&s->rec[M_SMOOTH_RESIDUAL], fabs(mean / w), RECORD_ABOVE,
					   min_hist, &unused_lo, &unused_hi);
}

/* A new season: its residuals start a history of their own. */
static void season_refitted(struct ens_state *s)
{
	record_clear(&s->rec[M_RESIDUAL]);
	record_clear(&s->rec[M_SMOOTH_RESIDUAL]);
	s->resid_len = s->resid_pos = 0;
}

static bool ens_score(void *state, const void *conf, double threshold, double v,
		      struct anomaly_verdict *out)
{
	struct ens_state *s = state;
	const struct ens_conf *c = conf;
	double e[M_COUNT] = {0}, lo = v, hi = v, res_max = NAN, yhat = NAN;
	s->n++;
	level_members(s, c, v, e, &lo, &hi);
	bool seasonal = hw_model_predict(&s->hw, &yhat) &&
			s->hw.since_fit >= (uint64_t)c->season_warmup;
	if (seasonal)
		season_members(s, c, v, yhat, e, &res_max);
	if (hw_model_update(&s->hw, &c->hw, v))
		season_refitted(s);
	if (s->n <= (uint64_t)c->warmup)
		return false;
	int top = M_VALUE;
	for (int m = 1; m < M_COUNT; m++)
		if (e[m] > e[top])
			top = m;
	/* the break-out the threshold stands for, to widen the ranges into a band */
	double et = threshold < 1 ? ENS_SCALE * threshold / (1 - threshold) : INFINITY;
	out->score = e[top] / (e[top] + ENS_SCALE);
	if (seasonal && isfinite(res_max)) {
		out->expected = yhat;
		out->lower = yhat - res_max * (1 + et);
		out->upper = yhat + res_max * (1 + et);
	} else {
		out->expected = s->median;
		out->lower = lo - et * (hi - lo);
		out->upper = hi + et * (hi - lo);
	}
	out->reason = e[top] > 0 ? member_reason[top] : NULL;
	return true;
}

static const struct anomaly_model ens_model = {
	.detector = "anomaly_ensemble",
	.state_size = sizeof(struct ens_state),
	.init = ens_state_init,
	.release = ens_state_release,
	.score = ens_score,
};

static int ens_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct ens_conf *c = conf;
	int rc = hw_params_check(&c->hw, err);
	if (rc)
		return rc;
	return anomaly_plugin_init(ctx, &ens_model, conf, &c->common, state, err);
}

static const struct bm_plugin_ops ens_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = ens_init,
	.start = anomaly_plugin_start,
	.stop = anomaly_plugin_stop,
	.fini = anomaly_plugin_fini,
};

BM_PLUGIN_DEFINE(analyzer, anomaly_ensemble, BM_KIND_ANALYZER, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "anomaly scores from an ensemble of self-calibrated level and seasonal members",
		 .origin = "bearmon", .options = ens_options, .config_size = sizeof(struct ens_conf),
		 .ops = &ens_ops);
