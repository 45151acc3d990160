/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Conditions: what each rule kind reads from a series (its newest sample,
 * the previous one, the latest anomaly, trend or forecast) and whether it
 * holds at a given time. Hysteresis: an active instance is compared with
 * clear_threshold.
 */
#include "engine_int.h"

#include <math.h>
#include <string.h>

bool al_series_fresh(const struct al_engine *e, const struct al_series *s, int64_t now_ms)
{
	return s && s->has_v && !s->stale && now_ms - s->seen_ms < e->c.lookback_ms;
}

static enum al_truth truth(bool b)
{
	return b ? AL_T_TRUE : AL_T_FALSE;
}

/* A counter's decrease is a reset (Prometheus): the counter restarted
 * from 0, so the increase is its new value. */
static bool is_counter(const char *name)
{
	size_t n = strlen(name);
	static const char *const sfx[] = {"_total", "_count", "_sum", "_bucket"};
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t k = strlen(sfx[i]);
		if (n > k && strcmp(name + n - k, sfx[i]) == 0)
			return true;
	}
	return false;
}

/* threshold >= 0: rising faster than it; < 0: falling faster than it. */
static enum al_truth rate_change(const struct al_rule *r, const struct al_series *s, bool active,
				 double *value)
{
	if (!s->has_prev)
		return AL_T_UNKNOWN;
	double delta = s->v - s->prev_v;
	if (delta < 0 && is_counter(s->nm->name))
		delta = s->v;
	*value = delta / ((double)(s->ts - s->prev_ts) / 1000.0);
	double thr = al_rule_threshold(r, active);
	return truth(r->threshold >= 0 ? *value > thr : *value < thr);
}

static enum al_truth on_sample(const struct al_engine *e, const struct al_rule *r,
			       const struct al_series *s, bool active, int64_t now_ms,
			       double *value)
{
	if (r->cond == AL_COND_ABSENT) {
		bool gone = !s || s->stale || now_ms - s->seen_ms >= r->horizon_ms;
		*value = s ? (double)(now_ms - s->seen_ms) / 1000.0 : NAN;
		return truth(gone);
	}
	if (!al_series_fresh(e, s, now_ms))
		return AL_T_UNKNOWN;
	*value = s->v;
	switch (r->cond) {
	case AL_COND_GT:
		return truth(s->v > al_rule_threshold(r, active));
	case AL_COND_LT:
		return truth(s->v < al_rule_threshold(r, active));
	case AL_COND_EQ:
		return truth(fabs(s->v - r->threshold) <= r->tolerance);
	case AL_COND_RATE_CHANGE:
		return rate_change(r, s, active, value);
	default: /* promql: every returned sample fires */
		return AL_T_TRUE;
	}
}

static enum al_truth on_anomaly(const struct al_engine *e, const struct al_rule *r,
				const struct al_analysis *an, bool active, int64_t now_ms,
				double *value)
{
	if (!an->anomaly_ts || now_ms - an->anomaly_ts > e->c.anomaly_hold_ms)
		return AL_T_FALSE;
	*value = an->score;
	return truth(an->score >= al_rule_threshold(r, active));
}

/* The trend of the rule's window, or the newest of any window. */
static const struct al_trend_in *pick_trend(const struct al_rule *r, const struct al_analysis *an)
{
	const struct al_trend_in *best = NULL;
	for (size_t i = 0; i < an->n_trend; i++) {
		const struct al_trend_in *t = &an->trend[i];
		if (r->window_ms ? t->window_ms == r->window_ms : !best || t->ts_ms > best->ts_ms)
			best = t;
	}
	return best;
}

static enum al_truth on_trend(const struct al_engine *e, const struct al_rule *r,
			      const struct al_analysis *an, bool active, int64_t now_ms,
			      double *value)
{
	const struct al_trend_in *t = pick_trend(r, an);
	if (!t || now_ms - t->ts_ms > e->c.analysis_ttl_ms)
		return AL_T_FALSE;
	*value = t->slope;
	double thr = al_rule_threshold(r, active);
	if (r->cond == AL_COND_TREND_INC)
		return truth(t->dir == BM_TREND_INCREASING && t->slope > thr);
	return truth(t->dir == BM_TREND_DECREASING && t->slope < -thr);
}

/* First time the forecast reaches threshold in direction cross, linearly
 * interpolated between points; -1 when it does not within horizon. */
static int64_t forecast_crossing(const struct al_analysis *an, double threshold,
				 enum bm_cross cross, int64_t horizon_ms)
{
	double prev_y = NAN;
	int64_t prev_t = an->fc_ts;
	for (size_t i = 0; i < an->fc_n; i++) {
		const struct bm_forecast_point *p = &an->fc_points[i];
		bool past = cross == BM_CROSS_BELOW ? p->yhat <= threshold : p->yhat >= threshold;
		if (past) {
			int64_t at = p->ts_ms;
			if (!isnan(prev_y) && p->yhat != prev_y)
				at = prev_t + (int64_t)((double)(p->ts_ms - prev_t) *
							(threshold - prev_y) / (p->yhat - prev_y));
			at = at < an->fc_ts ? an->fc_ts : at;
			return at - an->fc_ts <= horizon_ms ? at - an->fc_ts : -1;
		}
		prev_y = p->yhat;
		prev_t = p->ts_ms;
	}
	return -1;
}

/* The forecaster's own crossing when it watched the same threshold (it
 * computes it at full resolution), else one from the points. */
static enum al_truth on_forecast(const struct al_engine *e, const struct al_rule *r,
				 const struct al_analysis *an, int64_t now_ms, double *value)
{
	int64_t ttt;
	if (!an->fc_ts || now_ms - an->fc_ts > e->c.analysis_ttl_ms)
		return AL_T_FALSE;
	bool own =
	    an->fc_has_threshold && (isnan(r->threshold) || r->threshold == an->fc_threshold);
	if (own) {
		ttt = an->fc_time_to_threshold_ms;
	} else if (isnan(r->threshold) || !an->fc_n) {
		return AL_T_FALSE;
	} else {
		enum bm_cross cross = an->fc_has_threshold ? an->fc_cross
				      : an->fc_points[0].yhat >= r->threshold ? BM_CROSS_BELOW
									      : BM_CROSS_ABOVE;
		ttt = forecast_crossing(an, r->threshold, cross, r->horizon_ms);
	}
	*value = ttt >= 0 ? (double)ttt / 1000.0 : NAN;
	return truth(ttt >= 0 && ttt <= r->horizon_ms);
}

enum al_truth al_cond_eval(const struct al_engine *e, const struct al_rstate *rs,
			   const struct al_series *s, bool active, int64_t now_ms, double *value)
{
	const struct al_rule *r = rs->r;
	*value = NAN;
	if (al_cond_uses_samples(r->cond) || r->cond == AL_COND_PROMQL)
		return on_sample(e, r, s, active, now_ms, value);
	if (!s)
		return AL_T_UNKNOWN;
	if (!s->an)
		return AL_T_FALSE;
	switch (r->cond) {
	case AL_COND_ANOMALY:
		return on_anomaly(e, r, s->an, active, now_ms, value);
	case AL_COND_TREND_INC:
	case AL_COND_TREND_DEC:
		return on_trend(e, r, s->an, active, now_ms, value);
	case AL_COND_FORECAST:
		return on_forecast(e, r, s->an, now_ms, value);
	default:
		return AL_T_UNKNOWN;
	}
}
