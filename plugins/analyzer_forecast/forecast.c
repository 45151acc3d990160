/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/forecast: each selected series is resampled to one value per
 * step and fed to its forecaster (model.c: naive, seasonal naive, linear,
 * Holt-Winters, champion chosen on held-out errors); forecasts with
 * prediction intervals, confidence, trend, anomaly risk and the time to
 * configured limits are published as `forecast` events and served at
 * GET /api/bearmon/v1/forecasts.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/analyzer_series.h"
#include "../common/stats.h"
#include "model.h"

#define FO_ROUTE "/api/bearmon/v1/forecasts"
#define FO_MAX_LIMITS 4 /* limits one series can match */

enum fo_direction { FO_ABOVE = 0, FO_BELOW = 1 };
static const char *const fo_direction_names[] = {"above", "below", NULL};

struct fo_limit_conf {
	char *match;
	struct bm_map labels;
	double threshold;
	int direction; /* enum fo_direction */
	char *description;
};

struct fo_conf {
	struct bm_strlist include;
	struct bm_strlist exclude;
	int counters; /* enum as_counters */
	int64_t max_series;
	int64_t step_ms;
	int64_t history_ms;
	int64_t horizon_ms;
	int64_t points;
	int64_t eval_horizon_ms;
	int64_t min_season_ms;
	int64_t max_season_ms;
	int64_t linear_window_ms;
	int64_t error_window_ms;
	double margin;
	int64_t min_scored;
	double interval_level;
	struct bm_group_list limits;
	int64_t publish_every_ms;
	bool warmup;
	int64_t max_gap_ms;
};

static const struct bm_option fo_limit_options[] = {
	{.name = "match", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct fo_limit_conf, match),
	 .help = "metric name pattern (POSIX ERE, anchored) the limit applies to"},
	BM_OPTION("labels", BM_OPT_MAP, NULL, struct fo_limit_conf, labels,
		  "label patterns that must match too, e.g. { mountpoint = \"/|/home\"; }"),
	{.name = "threshold", .type = BM_OPT_DOUBLE, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct fo_limit_conf, threshold),
	 .help = "the limit, in the series' unit"},
	{.name = "direction", .type = BM_OPT_ENUM, .def = "above",
	 .enum_values = fo_direction_names, .offset = offsetof(struct fo_limit_conf, direction),
	 .help = "which crossing counts: above (rising past) or below (falling under)"},
	BM_OPTION("description", BM_OPT_STRING, NULL, struct fo_limit_conf, description,
		  "words for people, e.g. \"disk full\""),
	BM_OPTION_END,
};

#define DAYS (86400000.0)
static const struct bm_option fo_options[] = {
	BM_OPTION("include", BM_OPT_STRING_LIST, NULL, struct fo_conf, include,
		  "metric name patterns to forecast (POSIX ERE, anchored; none: every metric)"),
	BM_OPTION("exclude", BM_OPT_STRING_LIST, NULL, struct fo_conf, exclude,
		  "metric name patterns to skip"),
	{.name = "counters", .type = BM_OPT_ENUM, .def = "skip", .enum_values = as_counters_names,
	 .offset = offsetof(struct fo_conf, counters),
	 .help = "counters (names ending in _total, _bucket, _count, _sum): rate (per second), skip or raw"},
	BM_OPTION_BOUNDED("max_series", BM_OPT_INT, "100", struct fo_conf, max_series, 1, 10000,
			  "series forecast at once; new ones beyond are dropped and counted"),
	BM_OPTION_BOUNDED("step", BM_OPT_DURATION, "1m", struct fo_conf, step_ms, 1000, DAYS,
			  "grid step: samples are averaged per step before the models see them"),
	BM_OPTION_BOUNDED("history", BM_OPT_DURATION, "48h", struct fo_conf, history_ms, 60000,
			  60 * DAYS, "values kept per series (season detection, refits)"),
	BM_OPTION_BOUNDED("horizon", BM_OPT_DURATION, "24h", struct fo_conf, horizon_ms, 1000,
			  365 * DAYS, "how far ahead forecasts and time_to_threshold reach"),
	BM_OPTION_BOUNDED("points", BM_OPT_INT, "24", struct fo_conf, points, 1, 1000,
			  "forecast points per event, evenly spaced over the horizon (at most)"),
	BM_OPTION_BOUNDED("eval_horizon", BM_OPT_DURATION, "12m", struct fo_conf, eval_horizon_ms,
			  1000, 30 * DAYS, "horizon of the held-out errors the models are judged by"),
	BM_OPTION_BOUNDED("min_season", BM_OPT_DURATION, "4m", struct fo_conf, min_season_ms, 2000,
			  30 * DAYS, "shortest seasonal period detected"),
	BM_OPTION_BOUNDED("max_season", BM_OPT_DURATION, "24h", struct fo_conf, max_season_ms, 2000,
			  30 * DAYS, "longest seasonal period detected (at most history / 2)"),
	BM_OPTION_BOUNDED("linear_window", BM_OPT_DURATION, "2h", struct fo_conf, linear_window_ms,
			  3000, 60 * DAYS, "values the linear model's least-squares line is fitted to"),
	BM_OPTION_BOUNDED("error_window", BM_OPT_DURATION, "4h", struct fo_conf, error_window_ms,
			  1000, 60 * DAYS, "span of the exponentially weighted held-out errors"),
	BM_OPTION_BOUNDED("margin", BM_OPT_DOUBLE, "0.1", struct fo_conf, margin, 0, 0.9,
			  "a challenger replaces the champion when its error is this much lower"),
	BM_OPTION_BOUNDED("min_scored", BM_OPT_INT, "24", struct fo_conf, min_scored, 1, 100000,
			  "held-out errors a model needs before it may be champion"),
	BM_OPTION_BOUNDED("interval_level", BM_OPT_DOUBLE, "0.95", struct fo_conf, interval_level,
			  0.5, 0.999, "coverage of the prediction intervals"),
	{.name = "limits", .type = BM_OPT_GROUP_LIST, .sub = fo_limit_options,
	 .sub_size = sizeof(struct fo_limit_conf), .offset = offsetof(struct fo_conf, limits),
	 .help = "limits whose crossing time is forecast (time_to_threshold)"},
	BM_OPTION_BOUNDED("publish_every", BM_OPT_DURATION, "5m", struct fo_conf, publish_every_ms, 0,
			  DAYS, "republish a series' forecast this often (0: only on changes)"),
	BM_OPTION("warmup", BM_OPT_BOOL, "true", struct fo_conf, warmup,
		  "fill a new series' history from the store"),
	BM_OPTION_BOUNDED("max_gap", BM_OPT_DURATION, "1h", struct fo_conf, max_gap_ms, 0, 30 * DAYS,
			  "a longer gap in a series restarts its models; shorter ones repeat the last value"),
	BM_OPTION_END,
};

struct fo_limit {
	regex_t name;
	regex_t *label_re;
	const char *const *label_names;
	size_t n_labels;
	double threshold;
	bool below;
	const char *description;
};

struct fo_point {
	int64_t ts_ms;
	double yhat, lower, upper;
};

/* One series: the open step being averaged, the forecaster, the limits it
 * matches, and the latest evaluation. */
struct fo_series {
	struct fc fc;
	int64_t open_k; /* step being averaged */
	double sum;
	uint32_t count; /* samples in the open step; 0 = none open */
	int64_t last_k; /* step of the newest value pushed; INT64_MIN before any */
	uint8_t n_limits;
	uint8_t limit[FO_MAX_LIMITS];
	/* the latest evaluation */
	bool have;
	int64_t ts_ms;
	enum fc_model_id model;
	double confidence, mase, risk;
	enum bm_trend_direction trend;
	int64_t ttt_ms[FO_MAX_LIMITS];
	/* what was last published */
	bool published;
	int64_t pub_ms;
	enum fc_model_id pub_model;
	bool pub_cross[FO_MAX_LIMITS];
	struct fo_point points[];
};

struct forecast {
	struct bm_ctx *ctx;
	const struct fo_conf *conf;
	struct fc_params params;
	size_t horizon, spacing, n_points; /* in steps; n_points * spacing <= horizon */
	int64_t max_gap;                   /* steps */
	double z;                          /* normal quantile of interval_level */
	struct fo_limit *limits;
	size_t n_limits;
	double *work; /* the forecasters' shared work space (table lock) */
	struct as_table table;
	struct as_worker worker;
	/* evaluation thread only */
	struct bm_forecast_point *ev_points;
	char route[256];
};

static size_t fo_series_bytes(const struct forecast *F)
{
	return sizeof(struct fo_series) + F->n_points * sizeof(struct fo_point) +
	       fc_bytes(&F->params, F->params.max_season) - sizeof(struct fc) +
	       sizeof(struct as_entry) + sizeof(struct as_key) + 2 * sizeof(uint32_t);
}

/* --- limits ---------------------------------------------------------------- */

static int anchored(regex_t *re, const char *pattern)
{
	char *full;
	if (asprintf(&full, "^(%s)$", pattern) < 0)
		return BM_ENOMEM;
	int rc = regcomp(re, full, REG_EXTENDED | REG_NOSUB);
	free(full);
	return rc ? BM_EINVAL : 0;
}

static void limits_free(struct forecast *F)
{
	for (size_t i = 0; i < F->n_limits; i++) {
		struct fo_limit *l = &F->limits[i];
		regfree(&l->name);
		for (size_t k = 0; k < l->n_labels; k++)
			regfree(&l->label_re[k]);
		free(l->label_re);
	}
	free(F->limits);
	F->limits = NULL;
	F->n_limits = 0;
}

static int limit_compile(struct fo_limit *l, const struct fo_limit_conf *c, size_t i,
			 struct bm_err *err)
{
	if (anchored(&l->name, c->match))
		return bm_err_set(err, BM_EINVAL, "limits.%zu.match: bad pattern \"%s\"", i,
				  c->match);
	l->label_re = calloc(c->labels.n ? c->labels.n : 1, sizeof(regex_t));
	if (!l->label_re) {
		regfree(&l->name);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	for (size_t k = 0; k < c->labels.n; k++) {
		if (anchored(&l->label_re[k], c->labels.values[k])) {
			int rc = bm_err_set(err, BM_EINVAL, "limits.%zu.labels.%s: bad pattern \"%s\"",
					    i, c->labels.keys[k], c->labels.values[k]);
			while (k-- > 0)
				regfree(&l->label_re[k]);
			free(l->label_re);
			regfree(&l->name);
			return rc;
		}
	}
	l->label_names = (const char *const *)c->labels.keys;
	l->n_labels = c->labels.n;
	l->threshold = c->threshold;
	l->below = c->direction == FO_BELOW;
	l->description = c->description;
	return 0;
}

static int limits_compile(struct forecast *F, const struct bm_group_list *gl, struct bm_err *err)
{
	F->limits = calloc(gl->n ? gl->n : 1, sizeof(*F->limits));
	if (!F->limits)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < gl->n; i++) {
		int rc = limit_compile(&F->limits[i], BM_GROUP_ITEM(*gl, struct fo_limit_conf, i), i,
				       err);
		if (rc)
			return rc;
		F->n_limits++;
	}
	return 0;
}

static const char *label_value(const struct as_key *k, const char *name)
{
	for (uint32_t i = 0; i < k->n_labels; i++)
		if (strcmp(k->labels[i].name, name) == 0)
			return k->labels[i].value;
	return ""; /* an absent label matches the empty string, as in PromQL */
}

static bool limit_matches(const struct fo_limit *l, const struct as_key *k)
{
	if (regexec(&l->name, k->name, 0, NULL, 0) != 0)
		return false;
	for (size_t i = 0; i < l->n_labels; i++)
		if (regexec(&l->label_re[i], label_value(k, l->label_names[i]), 0, NULL, 0) != 0)
			return false;
	return true;
}

/* --- series ---------------------------------------------------------------- */

/* Push v as the value of step k, bridging a gap from the previous step
 * with the last value, or restarting after a gap longer than max_gap. */
static void fo_push_step(struct forecast *F, struct fo_series *s, int64_t k, double v)
{
	if (s->last_k != INT64_MIN && k <= s->last_k)
		return; /* not newer than what the store gave */
	if (s->last_k != INT64_MIN && k > s->last_k + 1) {
		int64_t gap = k - s->last_k - 1;
		if (gap > F->max_gap) {
			fc_reset(&s->fc);
		} else {
			double last = fc_last(&s->fc);
			for (int64_t i = 0; i < gap; i++)
				fc_push(&s->fc, last);
		}
	}
	fc_push(&s->fc, v);
	s->last_k = k;
}

static int64_t step_of(const struct forecast *F, int64_t ts_ms)
{
	int64_t step = F->conf->step_ms, k = ts_ms / step;
	return ts_ms % step < 0 ? k - 1 : k;
}

struct fo_warm {
	struct forecast *F;
	struct fo_series *s;
};

static void fo_warm_point(void *user, int64_t ts_ms, double v)
{
	struct fo_warm *w = user;
	if (isfinite(v))
		fo_push_step(w->F, w->s, step_of(w->F, ts_ms), v);
}

static void *fo_series_new(void *user, const struct as_key *key, int64_t ts_ms)
{
	struct forecast *F = user;
	struct fo_series *s = calloc(1, sizeof(*s) + F->n_points * sizeof(struct fo_point));
	if (!s)
		return NULL;
	if (fc_init(&s->fc, &F->params, F->work)) {
		free(s);
		return NULL;
	}
	s->last_k = INT64_MIN;
	for (size_t i = 0; i < F->n_limits && s->n_limits < FO_MAX_LIMITS; i++)
		if (limit_matches(&F->limits[i], key))
			s->limit[s->n_limits++] = (uint8_t)i;
	if (F->conf->warmup) {
		int64_t k = step_of(F, ts_ms), step = F->conf->step_ms;
		struct fo_warm w = {F, s};
		as_store_history(F->ctx, key, (k - (int64_t)F->params.history) * step, k * step - 1,
				 step, fo_warm_point, &w);
	}
	return s;
}

/* Average samples per step; a sample of a later step closes the open one. */
static void fo_series_sample(void *user, void *val, int64_t ts_ms, double v)
{
	struct forecast *F = user;
	struct fo_series *s = val;
	int64_t k = step_of(F, ts_ms);
	if (s->count && k != s->open_k) {
		fo_push_step(F, s, s->open_k, s->sum / s->count);
		s->count = 0;
	}
	if (s->count == 0) {
		s->open_k = k;
		s->sum = 0;
	}
	s->sum += v;
	s->count++;
}

static void fo_series_free(void *user, void *val)
{
	(void)user;
	struct fo_series *s = val;
	fc_free(&s->fc);
	free(s);
}

static const struct as_ops fo_series_ops = {
	.create = fo_series_new, .sample = fo_series_sample, .destroy = fo_series_free};

/* --- setup ----------------------------------------------------------------- */

static size_t steps(const struct fo_conf *c, int64_t ms)
{
	int64_t n = ms / c->step_ms;
	return n > 0 ? (size_t)n : 1;
}

/* The forecaster settings in steps, and the output grid. */
static int fo_params(struct forecast *F, const struct fo_conf *c, struct bm_err *err)
{
	struct fc_params *p = &F->params;
	fc_params_default(p);
	p->history = steps(c, c->history_ms);
	p->eval_h = steps(c, c->eval_horizon_ms);
	p->min_season = steps(c, c->min_season_ms);
	p->max_season = steps(c, c->max_season_ms);
	p->linear_window = steps(c, c->linear_window_ms);
	p->error_window = steps(c, c->error_window_ms);
	p->redetect_every = p->history / 4 ? p->history / 4 : 1;
	p->margin = c->margin;
	p->min_scored = (size_t)c->min_scored;
	if (p->history < 16 || p->history > 1000000)
		return bm_err_set(err, BM_EINVAL, "history / step = %zu values, must be 16 to 1000000",
				  p->history);
	if (p->max_season > p->history / 2)
		p->max_season = p->history / 2;
	if (p->min_season < 2 || p->min_season > p->max_season)
		return bm_err_set(err, BM_EINVAL,
				  "min_season / step = %zu, must be 2 to max_season (%zu steps)",
				  p->min_season, p->max_season);
	if (p->eval_h > p->history / 4)
		return bm_err_set(err, BM_EINVAL, "eval_horizon: %zu steps, at most history/4",
				  p->eval_h);
	F->horizon = steps(c, c->horizon_ms);
	if (F->horizon > 1000000)
		return bm_err_set(err, BM_EINVAL, "horizon / step = %zu, at most 1000000", F->horizon);
	F->spacing = F->horizon / (size_t)c->points ? F->horizon / (size_t)c->points : 1;
	F->n_points = F->horizon / F->spacing;
	F->max_gap = c->max_gap_ms / c->step_ms;
	F->z = stats_norm_ppf(0.5 + c->interval_level / 2);
	return 0;
}

static void fo_fini(void *state);
static void fo_route_cb(void *user, struct bm_http_req *req);

static int fo_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct fo_conf *c = conf;
	struct forecast *F = calloc(1, sizeof(*F));
	if (!F)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	F->ctx = ctx;
	F->conf = c;
	int rc = fo_params(F, c, err);
	if (!rc)
		rc = as_table_init(&F->table, (size_t)c->max_series, &c->include, &c->exclude,
				   (enum as_counters)c->counters, &fo_series_ops, F, err);
	if (rc) {
		free(F);
		return rc;
	}
	rc = limits_compile(F, &c->limits, err);
	F->work = malloc(fc_work_size(&F->params) * sizeof(double));
	F->ev_points = malloc(F->n_points * sizeof(*F->ev_points));
	if (!rc && (!F->work || !F->ev_points))
		rc = bm_err_set(err, BM_ENOMEM, "out of memory");
	if (!rc && ((rc = as_table_self_metrics(&F->table, ctx)) != 0 ||
		    (rc = as_route(ctx, FO_ROUTE, fo_route_cb, F, F->route, sizeof(F->route))) != 0))
		bm_err_set(err, rc, "cannot register %s: %s", FO_ROUTE, bm_strerror(rc));
	if (rc) {
		fo_fini(F);
		return rc;
	}
	bm_log_info(ctx,
		    "step %lld ms, %zu values of history, horizon %zu steps, %zu limits, "
		    "%zu series at most, %zu bytes per series at most%s%s",
		    (long long)c->step_ms, F->params.history, F->horizon, F->n_limits,
		    (size_t)c->max_series, fo_series_bytes(F), F->route[0] ? ", GET " : "",
		    F->route);
	*state = F;
	return 0;
}

static void fo_fini(void *state)
{
	struct forecast *F = state;
	as_table_free(&F->table);
	limits_free(F);
	free(F->work);
	free(F->ev_points);
	free(F);
}

/* --- evaluation -------------------------------------------------------------- */

/* The series' forecast now: points, risk, trend, time to each limit.
 * False while the champion has seen no error (no interval yet). */
static bool fo_forecast_series(struct forecast *F, struct fo_series *s)
{
	const struct fc *f = &s->fc;
	enum fc_model_id m = f->champion;
	if (!fc_available(f, m) || isnan(fc_sigma(f, m, 1)))
		return false;
	int64_t step = F->conf->step_ms;
	s->ts_ms = s->last_k * step;
	s->model = m;
	s->confidence = fc_confidence(f);
	s->mase = fc_mase(f, m);
	double risk = 0;
	for (size_t p = 0; p < F->n_points; p++) {
		size_t h = (p + 1) * F->spacing;
		double y = fc_forecast(f, m, h), sd = fc_sigma(f, m, h);
		s->points[p] = (struct fo_point){s->ts_ms + (int64_t)h * step, y, y - F->z * sd,
						 y + F->z * sd};
		risk = fmax(risk, fc_outside_prob(y, sd, f->hist_min, f->hist_max));
		for (uint8_t i = 0; i < s->n_limits; i++) {
			const struct fo_limit *l = &F->limits[s->limit[i]];
			risk = fmax(risk, fc_outside_prob(y, sd, l->below ? l->threshold : -INFINITY,
							  l->below ? INFINITY : l->threshold));
		}
	}
	s->risk = risk;
	double delta = fc_trend_delta(f, m, F->horizon), sd1 = fc_sigma(f, m, 1);
	double noise = fmax(sd1, 1e-9 * fabs(fc_last(f)));
	s->trend = delta > noise ? BM_TREND_INCREASING
		   : delta < -noise ? BM_TREND_DECREASING : BM_TREND_STABLE;
	for (uint8_t i = 0; i < s->n_limits; i++) {
		const struct fo_limit *l = &F->limits[s->limit[i]];
		double st = fc_steps_to_threshold(f, m, F->horizon, l->threshold, l->below);
		s->ttt_ms[i] = st < 0 ? -1 : (int64_t)llround(st * (double)step);
	}
	s->have = true;
	return true;
}

/* Publish on the first forecast, a new champion, a limit crossing that
 * appears or goes away, and every publish_every. */
static bool fo_due(const struct forecast *F, struct fo_series *s, int64_t now_ms)
{
	bool due = !s->published || s->model != s->pub_model ||
		   (F->conf->publish_every_ms > 0 && now_ms - s->pub_ms >= F->conf->publish_every_ms);
	for (uint8_t i = 0; i < s->n_limits; i++)
		due |= (s->ttt_ms[i] >= 0) != s->pub_cross[i];
	if (!due)
		return false;
	s->published = true;
	s->pub_ms = now_ms;
	s->pub_model = s->model;
	for (uint8_t i = 0; i < s->n_limits; i++)
		s->pub_cross[i] = s->ttt_ms[i] >= 0;
	return true;
}

/* Encode one event per limit of the series (one without a limit when it
 * has none) into out; returns how many. Table locked: s and the key are
 * stable. */
static size_t fo_encode_events(struct forecast *F, const struct as_key *key,
			       const struct fo_series *s, struct bm_buf *out, size_t max)
{
	for (size_t p = 0; p < F->n_points; p++)
		F->ev_points[p] = (struct bm_forecast_point){s->points[p].ts_ms, s->points[p].yhat,
							     s->points[p].lower, s->points[p].upper};
	struct bm_forecast_event e = {
		.series = as_series_ref(key),
		.ts_ms = s->ts_ms,
		.model = fc_model_name(&s->fc, s->model),
		.horizon_ms = (int64_t)F->horizon * F->conf->step_ms,
		.step_ms = (int64_t)F->spacing * F->conf->step_ms,
		.season_ms = (int64_t)s->fc.season * F->conf->step_ms,
		.interval_level = F->conf->interval_level,
		.confidence = s->confidence,
		.error_mase = s->mase,
		.trend = s->trend,
		.anomaly_risk = s->risk,
		.time_to_threshold_ms = -1,
		.points = F->ev_points,
		.n_points = F->n_points,
	};
	size_t n = 0, n_events = s->n_limits ? s->n_limits : 1;
	for (uint8_t i = 0; i < n_events && n < max; i++) {
		if (s->n_limits) {
			const struct fo_limit *l = &F->limits[s->limit[i]];
			e.has_threshold = true;
			e.threshold = l->threshold;
			e.cross = l->below ? BM_CROSS_BELOW : BM_CROSS_ABOVE;
			e.time_to_threshold_ms = s->ttt_ms[i];
		}
		if (bm_forecast_encode(&e, &out[n]) == 0)
			n++;
	}
	return n;
}

/* One evaluation on the instance's thread; the table is locked per
 * series, events are published unlocked. */
static void fo_evaluate(void *user, int64_t now_ms)
{
	struct forecast *F = user;
	int64_t keep = (int64_t)F->params.history * F->conf->step_ms;
	as_table_sweep(&F->table, now_ms - F->conf->max_gap_ms, now_ms - keep);
	struct bm_buf bufs[FO_MAX_LIMITS] = {{0}};
	for (size_t i = 0;; i++) {
		size_t n = 0;
		pthread_mutex_lock(&F->table.lock);
		if (i >= F->table.n) {
			pthread_mutex_unlock(&F->table.lock);
			break;
		}
		struct as_entry *e = &F->table.entries[i];
		struct fo_series *s = e->val;
		if (s && !e->ended && fo_forecast_series(F, s) && fo_due(F, s, now_ms))
			n = fo_encode_events(F, e->key, s, bufs, FO_MAX_LIMITS);
		pthread_mutex_unlock(&F->table.lock);
		for (size_t k = 0; k < n; k++)
			as_publish(&F->table, F->ctx, BM_TOPIC_FORECAST, &bufs[k]);
	}
	for (size_t k = 0; k < FO_MAX_LIMITS; k++)
		bm_buf_free(&bufs[k]);
}

static int fo_start(void *state, struct bm_err *err)
{
	struct forecast *F = state;
	int rc = as_table_subscribe(&F->table, F->ctx, 0);
	if (rc)
		return bm_err_set(err, rc, "cannot subscribe to metric: %s", bm_strerror(rc));
	rc = as_worker_start(&F->worker, F->ctx, bm_interval_ms(F->ctx), fo_evaluate, F);
	if (rc) {
		as_table_unsubscribe(&F->table);
		return bm_err_set(err, rc, "cannot start the evaluation thread");
	}
	return 0;
}

static void fo_stop(void *state)
{
	struct forecast *F = state;
	as_table_unsubscribe(&F->table);
	as_worker_stop(&F->worker);
}

/* --- HTTP ---------------------------------------------------------------------- */

static json_t *fo_models_json(const struct fc *f)
{
	json_t *o = json_object();
	for (int m = 0; o && m < FC_N_MODELS; m++)
		json_object_set_new(o, fc_model_name(f, m),
				    json_pack("{s:b, s:o, s:I}", "available", fc_available(f, m),
					      "mase", as_number(fc_mase(f, m)), "scored",
					      (json_int_t)f->st[m].scored));
	return o;
}

static json_t *fo_limits_json(const struct forecast *F, const struct fo_series *s)
{
	json_t *a = json_array();
	for (uint8_t i = 0; a && i < s->n_limits; i++) {
		const struct fo_limit *l = &F->limits[s->limit[i]];
		json_array_append_new(a, json_pack("{s:o, s:s, s:s?, s:I}", "threshold",
						   as_number(l->threshold), "direction",
						   l->below ? "below" : "above", "description",
						   l->description, "time_to_threshold_ms",
						   (json_int_t)s->ttt_ms[i]));
	}
	return a;
}

static json_t *fo_points_json(const struct forecast *F, const struct fo_series *s)
{
	json_t *a = json_array();
	for (size_t p = 0; a && p < F->n_points; p++)
		json_array_append_new(a, json_pack("[I, o, o, o]", (json_int_t)s->points[p].ts_ms,
						   as_number(s->points[p].yhat),
						   as_number(s->points[p].lower),
						   as_number(s->points[p].upper)));
	return a;
}

static json_t *fo_series_json(const struct forecast *F, const struct as_key *key,
			      const struct fo_series *s)
{
	struct bm_series_ref ref = as_series_ref(key);
	static const char *const trends[] = {"stable", "increasing", "decreasing"};
	return json_pack("{s:o, s:I, s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o}",
			 "series", as_series_json(&ref), "ts_ms", (json_int_t)s->ts_ms, "model",
			 fc_model_name(&s->fc, s->model), "step_ms",
			 (json_int_t)F->spacing * F->conf->step_ms, "horizon_ms",
			 (json_int_t)F->horizon * F->conf->step_ms, "season_ms",
			 (json_int_t)s->fc.season * F->conf->step_ms, "interval_level",
			 as_number(F->conf->interval_level), "confidence", as_number(s->confidence),
			 "error_mase", as_number(s->mase), "trend", trends[s->trend], "anomaly_risk",
			 as_number(s->risk), "models", fo_models_json(&s->fc), "limits",
			 fo_limits_json(F, s), "points", fo_points_json(F, s));
}

/* GET /api/bearmon/v1/forecasts[?name=METRIC] */
static void fo_route_cb(void *user, struct bm_http_req *req)
{
	struct forecast *F = user;
	if (as_reply_if_not_get(req))
		return;
	const char *name = bm_http_query(req, "name");
	json_t *list = json_array();
	pthread_mutex_lock(&F->table.lock);
	for (size_t i = 0; list && i < F->table.n; i++) {
		const struct as_entry *e = &F->table.entries[i];
		const struct fo_series *s = e->val;
		if (s && s->have && (!name || strcmp(name, e->key->name) == 0))
			json_array_append_new(list, fo_series_json(F, e->key, s));
	}
	size_t n_series = F->table.n;
	pthread_mutex_unlock(&F->table.lock);
	as_reply_json(req, json_pack("{s:o*, s:I}", "forecasts", list, "series",
				     (json_int_t)n_series));
}

static const struct bm_plugin_ops fo_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = fo_init,
	.start = fo_start,
	.stop = fo_stop,
	.fini = fo_fini,
};

BM_PLUGIN_DEFINE(analyzer, forecast, BM_KIND_ANALYZER,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "forecasts with model selection on held-out errors, intervals and time to limits",
		 .origin = "bearmon plugins/analyzer_forecast",
		 .options = fo_options,
		 .config_size = sizeof(struct fo_conf),
		 .ops = &fo_ops);
