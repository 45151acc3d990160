/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Candidate forecasting models of one series, their held-out errors and
 * the champion selection (see model.h). Holt-Winters parameters come from
 * a grid search on squared eval_h-step errors over the history.
 */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/stats.h"

#define FC_HW_BURN_IN 10 /* errors of a refit run not counted at first */

void fc_params_default(struct fc_params *p)
{
	*p = (struct fc_params){
		.history = 2880,
		.eval_h = 12,
		.min_season = 4,
		.max_season = 1440,
		.season_min_acf = 0.3,
		.season_min_drop = 0.2,
		.redetect_every = 720,
		.refit_every = 240,
		.linear_window = 120,
		.error_window = 240,
		.margin = 0.1,
		.min_scored = 24,
	};
}

size_t fc_work_size(const struct fc_params *p)
{
	size_t detect = 2 * p->history + p->max_season + 2;
	size_t refit = p->history + 2 * p->max_season + p->eval_h;
	return detect > refit ? detect : refit;
}

size_t fc_bytes(const struct fc_params *p, size_t season)
{
	return sizeof(struct fc) + (p->history + season + FC_N_MODELS * p->eval_h) * sizeof(double);
}

static double *pending_of(const struct fc *f, enum fc_model_id m)
{
	return f->pending + (size_t)m * f->p.eval_h;
}

void fc_reset(struct fc *f)
{
	f->t = 0;
	f->season = 0;
	f->season_acf = 0;
	free(f->hw.season);
	memset(&f->hw, 0, sizeof(f->hw));
	f->lin_ok = false;
	f->scale = NAN;
	f->hist_min = f->hist_max = NAN;
	memset(f->st, 0, sizeof(f->st));
	for (size_t i = 0; i < FC_N_MODELS * f->p.eval_h; i++)
		f->pending[i] = NAN;
	f->champion = FC_NAIVE;
}

int fc_init(struct fc *f, const struct fc_params *p, double *work)
{
	memset(f, 0, sizeof(*f));
	f->p = *p;
	if (f->p.eval_h < 1)
		f->p.eval_h = 1;
	f->y = malloc(p->history * sizeof(double));
	f->pending = malloc(FC_N_MODELS * f->p.eval_h * sizeof(double));
	f->work = work;
	if (!f->y || !f->pending) {
		fc_free(f);
		return -1;
	}
	fc_reset(f);
	return 0;
}

void fc_free(struct fc *f)
{
	free(f->y);
	free(f->pending);
	free(f->hw.season);
	memset(f, 0, sizeof(*f));
}

/* Value at absolute step tau (within the history). */
static double at(const struct fc *f, uint64_t tau)
{
	return f->y[tau % f->p.history];
}

double fc_last(const struct fc *f)
{
	return f->t ? at(f, f->t - 1) : NAN;
}

/* The history, oldest first, into out; returns how many. */
static size_t history_copy(const struct fc *f, double *out)
{
	size_t n = f->t < f->p.history ? (size_t)f->t : f->p.history;
	for (size_t i = 0; i < n; i++)
		out[i] = at(f, f->t - n + i);
	return n;
}

bool fc_available(const struct fc *f, enum fc_model_id m)
{
	switch (m) {
	case FC_NAIVE: return f->t >= 1;
	case FC_SNAIVE: return f->season > 0 && f->t >= f->season;
	case FC_LINEAR: return f->lin_ok;
	case FC_HW: return f->hw.ready;
	default: return false;
	}
}

/* phi + phi^2 + ... + phi^h */
static double damped_sum(double phi, size_t h)
{
	if (phi >= 1)
		return (double)h;
	return phi * (1 - pow(phi, (double)h)) / (1 - phi);
}

static double hw_forecast(const struct fc_hw *hw, uint64_t target, size_t h)
{
	double s = hw->m ? hw->season[target % hw->m] : 0;
	return hw->level + damped_sum(hw->phi, h) * hw->trend + s;
}

double fc_forecast(const struct fc *f, enum fc_model_id m, size_t h)
{
	if (!fc_available(f, m) || h < 1)
		return NAN;
	uint64_t target = f->t - 1 + h;
	switch (m) {
	case FC_NAIVE:
		return fc_last(f);
	case FC_SNAIVE: {
		uint64_t back = (uint64_t)f->season * ((h + f->season - 1) / f->season);
		return at(f, target - back);
	}
	case FC_LINEAR:
		return f->lin_icept + f->lin_slope * (double)target;
	case FC_HW:
		return hw_forecast(&f->hw, target, h);
	default:
		return NAN;
	}
}

double fc_trend_delta(const struct fc *f, enum fc_model_id m, size_t h)
{
	if (m == FC_LINEAR && f->lin_ok)
		return f->lin_slope * (double)h;
	if (m == FC_HW && f->hw.ready)
		return damped_sum(f->hw.phi, h) * f->hw.trend;
	return 0;
}

/* One Holt-Winters update with y at step tau; returns the one-step error
 * of the state before it. */
static double hw_step(struct fc_hw *hw, uint64_t tau, double y)
{
	double s = hw->m ? hw->season[tau % hw->m] : 0;
	double damped = hw->level + hw->phi * hw->trend;
	double err = y - (damped + s);
	double level = hw->alpha * (y - s) + (1 - hw->alpha) * damped;
	hw->trend = hw->beta * (level - hw->level) + (1 - hw->beta) * hw->phi * hw->trend;
	if (hw->m)
		hw->season[tau % hw->m] = hw->gamma * (y - level) + (1 - hw->gamma) * s;
	hw->level = level;
	return err;
}

/* Start values from y[0..n-1] (step t0 first); returns the index of the
 * first value the recursion takes. Seasonal: level and trend from the
 * first two seasons' means, season terms from the first season. */
static size_t hw_start(struct fc_hw *hw, const double *y, size_t n, uint64_t t0)
{
	if (!hw->m) {
		hw->level = y[0];
		hw->trend = 0;
		return 1;
	}
	size_t m = hw->m;
	double m1 = stats_mean(y, m), m2 = n >= 2 * m ? stats_mean(y + m, m) : m1;
	hw->level = m1;
	hw->trend = (m2 - m1) / (double)m;
	for (size_t i = 0; i < m; i++)
		hw->season[(t0 + i) % m] = y[i] - m1;
	return m;
}

/* Sum of squared h-step errors of hw over y after the burn-in (h =
 * eval_h: the parameters are chosen for the horizon the models are
 * judged at); ring holds h doubles. */
static double hw_run(struct fc_hw *hw, const double *y, size_t n, uint64_t t0, size_t h,
		     double *ring)
{
	double sse = 0;
	size_t first = hw_start(hw, y, n, t0);
	for (size_t i = first; i < n; i++) {
		size_t slot = i % h;
		double e = h == 1 ? hw_step(hw, t0 + i, y[i]) : y[i] - ring[slot];
		if (h > 1)
			hw_step(hw, t0 + i, y[i]);
		if (i >= first + FC_HW_BURN_IN + h - 1)
			sse += e * e;
		ring[slot] = hw_forecast(hw, t0 + i + h, h);
	}
	return sse;
}

/* Grid search of alpha, beta, phi (and gamma with a season) on the
 * history y[0..n-1]; the best state becomes f->hw. */
static void hw_refit(struct fc *f, const double *y, size_t n)
{
	static const double alphas[] = {0.03, 0.1, 0.2, 0.35, 0.6, 0.9};
	static const double betas[] = {0, 0.02, 0.1};
	static const double phis[] = {0.9, 0.98, 1};
	static const double gammas[] = {0.05, 0.15, 0.35};
	/* Holt's linear until the history holds two seasons and a burn-in */
	size_t burn = FC_HW_BURN_IN + f->p.eval_h + 1;
	size_t m = f->season && n >= 2 * f->season + burn ? f->season : 0;
	if (n < burn + 1)
		return;
	if (f->hw.m != m) {
		double *s = m ? realloc(f->hw.season, m * sizeof(double)) : NULL;
		if (m && !s)
			return;
		if (!m)
			free(f->hw.season);
		f->hw.season = s;
		f->hw.m = m;
		f->hw.ready = false;
	}
	double *trial = f->work + f->p.history, *best_s = trial + f->p.max_season;
	double *ring = best_s + f->p.max_season;
	struct fc_hw best = {0}, h = {.m = m, .season = trial};
	double best_sse = INFINITY;
	uint64_t t0 = f->t - n;
	size_t n_gamma = m ? sizeof(gammas) / sizeof(gammas[0]) : 1;
	for (size_t a = 0; a < sizeof(alphas) / sizeof(alphas[0]); a++)
		for (size_t b = 0; b < sizeof(betas) / sizeof(betas[0]); b++)
			for (size_t p = 0; p < sizeof(phis) / sizeof(phis[0]); p++)
				for (size_t g = 0; g < n_gamma; g++) {
					h.alpha = alphas[a];
					h.beta = betas[b];
					h.phi = phis[p];
					h.gamma = m ? gammas[g] : 0;
					double sse = hw_run(&h, y, n, t0, f->p.eval_h, ring);
					if (sse < best_sse) {
						best_sse = sse;
						best = h;
						if (m)
							memcpy(best_s, trial, m * sizeof(double));
					}
				}
	if (!isfinite(best_sse))
		return;
	double *keep = f->hw.season;
	f->hw = best;
	f->hw.season = keep;
	f->hw.m = m;
	if (m)
		memcpy(f->hw.season, best_s, m * sizeof(double));
	f->hw.ready = true;
}

/* OLS over the last linear_window values, on the absolute step index
 * (the values are copied to the work space: the ring may wrap). */
static void linear_update(struct fc *f)
{
	size_t n = f->t < f->p.linear_window ? (size_t)f->t : f->p.linear_window;
	n = n < f->p.history ? n : f->p.history;
	struct stats_line l;
	for (size_t i = 0; i < n; i++)
		f->work[i] = at(f, f->t - n + i);
	f->lin_ok = n >= 3 && stats_ols_index(f->work, n, &l);
	if (f->lin_ok) {
		f->lin_slope = l.slope;
		f->lin_icept = l.intercept - l.slope * (double)(f->t - n);
	}
}

static void detect_season(struct fc *f, const double *y, size_t n)
{
	struct stats_season_opts o = {.min_period = f->p.min_season,
				      .max_period = f->p.max_season,
				      .min_acf = f->p.season_min_acf,
				      .min_drop = f->p.season_min_drop};
	f->season = stats_detect_season(y, n, &o, f->work + f->p.history, &f->season_acf);
}

/* Season detection and refits on their schedule: every redetect_every /
 * refit_every values, at every power of two from 32 (a young series gets
 * its models early), and when the season changed. */
static void maintain(struct fc *f)
{
	uint64_t t = f->t;
	bool pow2 = t >= 32 && (t & (t - 1)) == 0;
	bool detect = pow2 || t % f->p.redetect_every == 0;
	bool refit = pow2 || t % f->p.refit_every == 0 || (!f->hw.ready && t >= 16);
	if (!detect && !refit)
		return;
	double *y = f->work;
	size_t n = history_copy(f, y);
	size_t before = f->season;
	if (detect)
		detect_season(f, y, n);
	if (refit || f->season != before) {
		hw_refit(f, y, n);
		f->scale = stats_snaive_mae(y, n, f->season ? f->season : 1);
		f->hist_min = f->hist_max = y[0];
		for (size_t i = 1; i < n; i++) {
			f->hist_min = fmin(f->hist_min, y[i]);
			f->hist_max = fmax(f->hist_max, y[i]);
		}
	}
}

static void ewma(double *v, double x, uint64_t n, double w)
{
	*v = n == 0 ? x : *v + w * (x - *v);
}

/* Errors of the forecasts made eval_h steps ago and of the one-step
 * forecasts, against y at step t (before y joins any state). */
static void score(struct fc *f, double y)
{
	double w = 2.0 / ((double)f->p.error_window + 1);
	size_t slot = f->t % f->p.eval_h;
	for (int m = 0; m < FC_N_MODELS; m++) {
		struct fc_model_stats *s = &f->st[m];
		double *pend = pending_of(f, m);
		if (!isnan(pend[slot])) {
			double e = y - pend[slot];
			ewma(&s->mae_h, fabs(e), s->scored, w);
			ewma(&s->mse_h, e * e, s->scored, w);
			s->scored++;
			pend[slot] = NAN;
		}
		double f1 = fc_forecast(f, m, 1);
		if (!isnan(f1)) {
			double e = y - f1;
			ewma(&s->mse_1, e * e, s->scored_1, w);
			s->scored_1++;
		}
	}
}

/* Forecasts of every model eval_h steps after the newest value. */
static void store_pending(struct fc *f)
{
	size_t slot = (f->t - 1) % f->p.eval_h;
	for (int m = 0; m < FC_N_MODELS; m++)
		pending_of(f, m)[slot] = fc_forecast(f, m, f->p.eval_h);
}

static bool eligible(const struct fc *f, enum fc_model_id m)
{
	return fc_available(f, m) && f->st[m].scored >= f->p.min_scored;
}

/* The best eligible model replaces the champion when the champion is not
 * eligible, or when it beats it by the margin. */
static void choose(struct fc *f)
{
	enum fc_model_id best = f->champion;
	for (int m = 0; m < FC_N_MODELS; m++)
		if (eligible(f, m) && (!eligible(f, best) || f->st[m].mae_h < f->st[best].mae_h))
			best = m;
	if (best == f->champion || !eligible(f, best))
		return;
	if (!eligible(f, f->champion) ||
	    f->st[best].mae_h < (1 - f->p.margin) * f->st[f->champion].mae_h) {
		f->champion = best;
		f->switches++;
	}
}

void fc_push(struct fc *f, double y)
{
	score(f, y);
	f->y[f->t % f->p.history] = y;
	if (f->hw.ready)
		hw_step(&f->hw, f->t, y);
	f->t++;
	linear_update(f);
	maintain(f);
	store_pending(f);
	if (!fc_available(f, f->champion))
		f->champion = FC_NAIVE;
	choose(f);
}

double fc_sigma(const struct fc *f, enum fc_model_id m, size_t h)
{
	const struct fc_model_stats *s = &f->st[m];
	if (s->scored_1 == 0)
		return NAN;
	double v1 = s->mse_1, H = (double)f->p.eval_h, var;
	if (s->scored == 0 || H <= 1) {
		var = v1 * (double)h; /* a random walk's growth until measured */
	} else {
		double slope = (s->mse_h - v1) / (H - 1);
		var = v1 + slope * ((double)h - 1);
		if (slope < 0 && (double)h > H)
			var = s->mse_h;
	}
	return sqrt(var > 0 ? var : 0);
}

double fc_mase(const struct fc *f, enum fc_model_id m)
{
	const struct fc_model_stats *s = &f->st[m];
	if (s->scored == 0 || isnan(f->scale))
		return NAN;
	if (f->scale > 0)
		return s->mae_h / f->scale;
	return s->mae_h == 0 ? 0 : NAN;
}

double fc_confidence(const struct fc *f)
{
	const struct fc_model_stats *s = &f->st[f->champion];
	double mase = fc_mase(f, f->champion);
	if (isnan(mase))
		return 0;
	double seen = (double)s->scored / (double)(f->p.min_scored ? f->p.min_scored : 1);
	double c = 1 - mase / 2;
	c = c < 0 ? 0 : c > 1 ? 1 : c;
	return c * (seen < 1 ? seen : 1);
}

double fc_steps_to_threshold(const struct fc *f, enum fc_model_id m, size_t horizon, double thr,
			     bool below)
{
	double prev = fc_last(f);
	if (isnan(prev))
		return -1;
	if (below ? prev <= thr : prev >= thr)
		return 0;
	for (size_t h = 1; h <= horizon; h++) {
		double y = fc_forecast(f, m, h);
		if (isnan(y))
			return -1;
		if (below ? y <= thr : y >= thr)
			return (double)(h - 1) + (thr - prev) / (y - prev);
		prev = y;
	}
	return -1;
}

double fc_outside_prob(double mean, double sd, double lo, double hi)
{
	if (!(sd > 0))
		return mean < lo || mean > hi ? 1 : 0;
	return stats_norm_sf((hi - mean) / sd) + stats_norm_sf((mean - lo) / sd);
}

const char *fc_model_name(const struct fc *f, enum fc_model_id m)
{
	switch (m) {
	case FC_NAIVE: return "naive";
	case FC_SNAIVE: return "seasonal_naive";
	case FC_LINEAR: return "linear";
	case FC_HW: return f->hw.m ? "holt_winters" : "holt";
	default: return "unknown";
	}
}
