/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forecaster of one series on a regular grid (one value per step):
 * candidate models (naive, seasonal naive, OLS line, Holt-Winters with
 * the season found by autocorrelation or Holt's linear without one), each
 * scored on held-out points at a fixed horizon, and a champion replaced
 * only when a challenger beats it by a margin. Used by analyzer/forecast
 * and, unchanged, by bench/forecast.
 */
#ifndef BEARMON_ANALYZER_FORECAST_MODEL_H
#define BEARMON_ANALYZER_FORECAST_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fc_model_id {
	FC_NAIVE = 0,  /* the last value */
	FC_SNAIVE,     /* the value one season before the target */
	FC_LINEAR,     /* OLS line over the last linear_window steps */
	FC_HW,         /* Holt-Winters additive damped; Holt's linear with no season */
	FC_N_MODELS,
};

/* Every count is in steps. */
struct fc_params {
	size_t history;          /* values kept (season detection, refits, seasonal naive) */
	size_t eval_h;           /* horizon of the held-out errors */
	size_t min_season;       /* shortest period detected */
	size_t max_season;       /* longest (and at most history / 2) */
	double season_min_acf;   /* see struct stats_season_opts */
	double season_min_drop;
	size_t redetect_every;   /* season detection this often (and at 2^k values) */
	size_t refit_every;      /* Holt-Winters parameter search this often */
	size_t linear_window;    /* values of the OLS line */
	size_t error_window;     /* span of the exponentially weighted errors */
	double margin;           /* a challenger needs an error below (1 - margin)
				  * times the champion's */
	size_t min_scored;       /* held-out errors before a model may be champion */
};

/* The defaults of analyzer/forecast in steps (step 1 min: 48 h of history,
 * eval horizon 12 steps, seasons of 4 steps to 24 h). */
void fc_params_default(struct fc_params *p);

/* Rolling errors of one model. */
struct fc_model_stats {
	double mae_h;    /* exponentially weighted |error| at eval_h steps */
	double mse_h;    /* the same for error^2 */
	double mse_1;    /* one-step squared error */
	uint64_t scored; /* eval_h errors taken */
	uint64_t scored_1;
};

/* Holt-Winters additive with damped trend (Gardner); m == 0: Holt. */
struct fc_hw {
	double alpha, beta, gamma, phi;
	double level, trend;
	double *season; /* m terms, by absolute step modulo m */
	size_t m;
	bool ready;
};

struct fc {
	struct fc_params p;
	double *y;           /* ring of the last p.history values */
	uint64_t t;          /* values pushed so far */
	size_t season;       /* detected period; 0 = none */
	double season_acf;
	struct fc_hw hw;
	double lin_slope, lin_icept; /* on the absolute step index */
	bool lin_ok;
	double scale;        /* in-sample seasonal naive MAE (MASE scale) */
	double hist_min, hist_max; /* range of the history, at the last refit */
	struct fc_model_stats st[FC_N_MODELS];
	double *pending;     /* FC_N_MODELS rings of eval_h forecasts, by origin */
	enum fc_model_id champion;
	uint64_t switches;   /* champion replacements */
	double *work;        /* fc_work_size() doubles, borrowed (see fc_init) */
};

/* Doubles of work space season detection and refits need. */
size_t fc_work_size(const struct fc_params *p);
/* work: fc_work_size(p) doubles owned by the caller, which may share them
 * between forecasters that are never pushed to concurrently. */
int fc_init(struct fc *f, const struct fc_params *p, double *work);
void fc_free(struct fc *f);
/* Forget everything (a gap too long to bridge), keep the memory. */
void fc_reset(struct fc *f);
/* The next value of the series (one step after the previous one). */
void fc_push(struct fc *f, double y);

/* The model can forecast now. */
bool fc_available(const struct fc *f, enum fc_model_id m);
/* Point forecast h >= 1 steps after the last value; NaN when unavailable. */
double fc_forecast(const struct fc *f, enum fc_model_id m, size_t h);
/* Standard deviation of the h-step error of model m, from its one-step
 * and eval_h-step errors (variance linear in h between and beyond them);
 * NaN before any error was seen. */
double fc_sigma(const struct fc *f, enum fc_model_id m, size_t h);
/* Rolling out-of-sample MASE of m at eval_h: weighted MAE over the
 * in-sample seasonal naive MAE. 0 when both are 0, NaN when only the
 * scale is (or before any error). */
double fc_mase(const struct fc *f, enum fc_model_id m);
/* Change the model's trend part makes over h steps (no seasonality). */
double fc_trend_delta(const struct fc *f, enum fc_model_id m, size_t h);
/* The last value pushed (NaN before any). */
double fc_last(const struct fc *f);
/* Trust in the champion, [0, 1]: 1 - MASE/2 clamped, times the share of
 * min_scored errors seen. */
double fc_confidence(const struct fc *f);

/*
 * Steps after the last value until model m's forecast crosses thr
 * (upwards with !below, downwards with below), linearly interpolated
 * between steps, within horizon steps: 0 when the last value is already
 * past it, -1 when no crossing.
 */
double fc_steps_to_threshold(const struct fc *f, enum fc_model_id m, size_t horizon, double thr,
			     bool below);
/* P(value outside [lo, hi]) for a normal(mean, sd); lo may be -INFINITY
 * and hi INFINITY (one tail). */
double fc_outside_prob(double mean, double sd, double lo, double hi);

/* "naive", "seasonal_naive", "linear", "holt_winters" ("holt" with no season). */
const char *fc_model_name(const struct fc *f, enum fc_model_id m);
/* Bytes one forecaster holds (its struct included) with a season of
 * `season` steps (0 = none). */
size_t fc_bytes(const struct fc_params *p, size_t season);

#endif /* BEARMON_ANALYZER_FORECAST_MODEL_H */
