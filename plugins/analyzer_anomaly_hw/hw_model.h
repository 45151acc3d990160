/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Additive Holt-Winters model with its season length detected by
 * autocorrelation over a ring of recent samples, re-detected as the ring
 * fills and then periodically. Used by anomaly_hw and anomaly_ensemble.
 */
#ifndef BEARMON_PLUGINS_HW_MODEL_H
#define BEARMON_PLUGINS_HW_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_option.h>

struct hw_params {
	double alpha;          /* level smoothing */
	double gamma;          /* seasonal smoothing */
	double mad_alpha;      /* residual deviation smoothing */
	double clip;           /* residuals clipped at this many deviations */
	int64_t max_period;    /* longest season, samples; the ring holds twice it */
	int64_t season_after;  /* first detection after this many samples */
	int64_t season_every;  /* re-detection interval once the ring is full */
	double min_acf;        /* a season's autocorrelation peak reaches this */
	double min_prominence; /* and rises this much above the lowest value
				* at shorter lags (rejects a random walk's decay) */
};

/* Option table entries of struct hw_params, member m of conf type T. */
#define HW_OPTIONS(T, m)                                                                          \
	BM_OPTION_BOUNDED("alpha", BM_OPT_DOUBLE, "0.05", T, m.alpha, 1e-6, 1,                    \
			  "Holt-Winters level smoothing"),                                          \
	BM_OPTION_BOUNDED("gamma", BM_OPT_DOUBLE, "0.2", T, m.gamma, 0, 1,                        \
			  "Holt-Winters seasonal smoothing"),                                       \
	BM_OPTION_BOUNDED("mad_alpha", BM_OPT_DOUBLE, "0.01", T, m.mad_alpha, 1e-6, 1,            \
			  "smoothing of the residuals' mean absolute deviation"),                    \
	BM_OPTION_BOUNDED("clip", BM_OPT_DOUBLE, "4", T, m.clip, 1, 1000,                         \
			  "a sample moves the model at most as far as one this many deviations away"), \
	BM_OPTION_BOUNDED("max_period", BM_OPT_INT, "1200", T, m.max_period, 4, 100000,           \
			  "longest season in samples (memory: 16 bytes per unit per series)"),      \
	BM_OPTION_BOUNDED("season_after", BM_OPT_INT, "600", T, m.season_after, 8, 10000000,      \
			  "samples before the first season detection"),                            \
	BM_OPTION_BOUNDED("season_every", BM_OPT_INT, "1200", T, m.season_every, 1, 10000000,     \
			  "samples between season re-detections once the ring is full"),            \
	BM_OPTION_BOUNDED("min_acf", BM_OPT_DOUBLE, "0.3", T, m.min_acf, 0, 1,                    \
			  "autocorrelation a season must reach"),                                    \
	BM_OPTION_BOUNDED("min_prominence", BM_OPT_DOUBLE, "0.3", T, m.min_prominence, 0, 2,      \
			  "rise of the season's autocorrelation peak over the lowest value before it")

struct hw_model {
	double *ring;        /* the last cap samples, oldest at pos when full */
	uint32_t cap, len, pos;
	uint64_t n;          /* samples learnt */
	uint64_t next_detect;
	uint32_t period;     /* 0 until a season is found */
	double *season;      /* period entries */
	double level;
	double mad;          /* mean absolute deviation of the residuals */
	uint64_t since_fit;  /* samples since the season was (re)fitted */
};

/* Checks across options the table cannot express: 0, or BM_EINVAL with
 * err filled. */
int hw_params_check(const struct hw_params *p, struct bm_err *err);
/* 0 or BM_ENOMEM. */
int hw_model_init(struct hw_model *h, const struct hw_params *p);
void hw_model_release(struct hw_model *h);
/* Forecast of the next sample; false while no season is known. */
bool hw_model_predict(const struct hw_model *h, double *yhat);
/* Learn x; true when this call (re)fitted the season. */
bool hw_model_update(struct hw_model *h, const struct hw_params *p, double x);
/* Season length of a series by autocorrelation (the largest peak that
 * meets min_acf and min_prominence), 0 when none; y has n samples. */
uint32_t hw_detect_period(const double *y, size_t n, const struct hw_params *p);

#endif /* BEARMON_PLUGINS_HW_MODEL_H */
