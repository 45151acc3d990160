/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numeric helpers shared by the trend, correlation and forecast analyzers
 * (and bench/forecast): medians and quantiles, Theil-Sen and OLS lines,
 * the Mann-Kendall test, Pearson and Spearman correlation, autocorrelation
 * and season detection, normal distribution tails. One place, one copy.
 * Hand-written: GSL is GPL-3.0 (an Apache-2.0 plugin cannot link it) and
 * no Debian C library has Theil-Sen, Mann-Kendall or season detection.
 */
#ifndef BEARMON_PLUGINS_STATS_H
#define BEARMON_PLUGINS_STATS_H

#include <stdbool.h>
#include <stddef.h>

/* A straight line y = intercept + slope * x. */
struct stats_line {
	double slope;
	double intercept;
};

/* Mann-Kendall trend test of y in index order. */
struct stats_mk {
	double s;       /* Kendall's S: concordant minus discordant pairs */
	double var_s;   /* variance of S under no trend, corrected for ties */
	double z;       /* normal score with continuity correction */
	double p_value; /* two-sided, normal approximation; 1 when n < 3 */
	double tau;     /* Kendall's tau-b in [-1, 1]; 0 when every y ties */
};

/* q-quantile (0..1, linear interpolation between order statistics, R type
 * 7) of v[0..n-1]; reorders v. NaN for n == 0. */
double stats_quantile(double *v, size_t n, double q);
/* The median; reorders v. NaN for n == 0. */
double stats_median(double *v, size_t n);

/* Mean of v[0..n-1]; NaN for n == 0. */
double stats_mean(const double *v, size_t n);

/* Ordinary least squares of y on x = 0, 1, ..., n-1 (a regular grid);
 * false when n < 2. */
bool stats_ols_index(const double *y, size_t n, struct stats_line *out);

/* Scratch doubles stats_theil_sen needs for n points. */
size_t stats_theil_sen_scratch(size_t n);
/*
 * Theil-Sen line: the median of the slopes of every pair with different x
 * (exact, O(n^2) time; callers bound n) and the median of y - slope * x
 * as intercept. scratch holds stats_theil_sen_scratch(n) doubles. False
 * when no pair has different x.
 */
bool stats_theil_sen(const double *x, const double *y, size_t n, double *scratch,
		     struct stats_line *out);

/* Mann-Kendall on y[0..n-1] in index order, O(n^2); scratch holds n
 * doubles (for counting ties). */
void stats_mann_kendall(const double *y, size_t n, double *scratch, struct stats_mk *out);

/* Pearson's r of x and y; NaN when either has no variance or n < 2. */
double stats_pearson(const double *x, const double *y, size_t n);
/* Ranks 1..n of v, ties given their average rank (Spearman's rule).
 * order is scratch of n size_t. */
void stats_ranks(const double *v, size_t n, double *ranks, size_t *order);
/* Two-sided p-value of a correlation r from n pairs, by Fisher's z with
 * the normal approximation (sd 1/sqrt(n-3)); NaN when n < 4. */
double stats_corr_p_value(double r, size_t n);

/* Standard normal upper tail P(Z > z). */
double stats_norm_sf(double z);
/* Standard normal quantile: z with P(Z < z) = p, 0 < p < 1 (Acklam's
 * rational approximation, relative error below 1.2e-9). */
double stats_norm_ppf(double p);

/*
 * Sample autocorrelation of y[0..n-1] at lags 0..max_lag (acf[0] = 1),
 * with the usual biased estimator (denominator the lag-0 sum). Every
 * value 0 when y has no variance. O(n * max_lag).
 */
void stats_acf(const double *y, size_t n, size_t max_lag, double *acf);

/* Season detection settings. */
struct stats_season_opts {
	size_t min_period;  /* smallest period considered, >= 2 */
	size_t max_period;  /* largest; capped at n / 2 */
	double min_acf;     /* the peak's autocorrelation must reach this */
	double min_drop;    /* and rise this much above the lowest value
			     * between lag 1 and the peak (rejects the smooth
			     * decay of a random walk) */
};

/*
 * Seasonal period of y by autocorrelation: y is detrended (OLS on the
 * index), its ACF computed up to max_period + 1, and the period is the
 * smallest local ACF maximum that meets min_acf and min_drop and reaches
 * 0.9 times the best such maximum (so a harmonic 2P does not beat P),
 * moved to the highest ACF within 5% of it (noise shifts the first
 * local maximum). scratch holds stats_detect_season_scratch(n, max_period)
 * doubles. Returns the period, or 0
 * when none qualifies; *strength (may be NULL) gets its ACF.
 */
size_t stats_detect_season(const double *y, size_t n, const struct stats_season_opts *o,
			   double *scratch, double *strength);
/* Scratch doubles stats_detect_season needs. */
size_t stats_detect_season_scratch(size_t n, size_t max_period);

/* Mean absolute difference |y[t] - y[t - m]| over t = m..n-1 (the MASE
 * scale of the seasonal naive method with period m; m = 1 is naive). NaN
 * when n <= m. */
double stats_snaive_mae(const double *y, size_t n, size_t m);

#endif /* BEARMON_PLUGINS_STATS_H */
