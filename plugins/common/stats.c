/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numeric helpers of the trend, correlation and forecast analyzers (see
 * stats.h). Hand-written: GSL is GPL-3.0, and no Debian C library has
 * Theil-Sen, Mann-Kendall or season detection.
 */
#define _GNU_SOURCE
#include "stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static void swap_d(double *a, double *b)
{
	double t = *a;
	*a = *b;
	*b = t;
}

/* Move the k-th smallest of v[0..n-1] to v[k] with everything smaller
 * before it and everything larger after (Hoare's selection, median of
 * three pivots): O(n) on average. */
static void select_kth(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;
	while (hi > lo) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < v[lo])
			swap_d(&v[mid], &v[lo]);
		if (v[hi] < v[lo])
			swap_d(&v[hi], &v[lo]);
		if (v[hi] < v[mid])
			swap_d(&v[hi], &v[mid]);
		double pivot = v[mid];
		size_t i = lo, j = hi;
		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				swap_d(&v[i], &v[j]);
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return;
	}
}

double stats_quantile(double *v, size_t n, double q)
{
	if (n == 0)
		return NAN;
	q = q < 0 ? 0 : q > 1 ? 1 : q;
	double pos = q * (double)(n - 1);
	size_t k = (size_t)pos;
	double frac = pos - (double)k;
	select_kth(v, n, k);
	double lo = v[k];
	if (frac <= 0 || k + 1 >= n)
		return lo;
	double hi = v[k + 1];
	for (size_t i = k + 2; i < n; i++)
		if (v[i] < hi)
			hi = v[i];
	return lo + frac * (hi - lo);
}

double stats_median(double *v, size_t n)
{
	return stats_quantile(v, n, 0.5);
}

double stats_mean(const double *v, size_t n)
{
	if (n == 0)
		return NAN;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return s / (double)n;
}

bool stats_ols_index(const double *y, size_t n, struct stats_line *out)
{
	if (n < 2)
		return false;
	double mt = ((double)n - 1) / 2, my = stats_mean(y, n), stt = 0, sty = 0;
	for (size_t t = 0; t < n; t++) {
		stt += ((double)t - mt) * ((double)t - mt);
		sty += ((double)t - mt) * (y[t] - my);
	}
	out->slope = sty / stt;
	out->intercept = my - out->slope * mt;
	return true;
}

size_t stats_theil_sen_scratch(size_t n)
{
	return n < 2 ? n : n * (n - 1) / 2 + n;
}

bool stats_theil_sen(const double *x, const double *y, size_t n, double *scratch,
		     struct stats_line *out)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (x[j] != x[i])
				scratch[m++] = (y[j] - y[i]) / (x[j] - x[i]);
	if (m == 0)
		return false;
	out->slope = stats_median(scratch, m);
	double *resid = scratch + m;
	for (size_t i = 0; i < n; i++)
		resid[i] = y[i] - out->slope * x[i];
	out->intercept = stats_median(resid, n);
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void stats_mann_kendall(const double *y, size_t n, double *scratch, struct stats_mk *out)
{
	*out = (struct stats_mk){.p_value = 1};
	if (n < 3)
		return;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			s += (y[j] > y[i]) - (y[j] < y[i]);
	/* Ties in y: groups of equal values lower the variance of S. */
	for (size_t i = 0; i < n; i++)
		scratch[i] = y[i];
	qsort(scratch, n, sizeof(*scratch), cmp_double);
	double tie_var = 0, tie_pairs = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && scratch[j] == scratch[i])
			j++;
		double t = (double)(j - i);
		tie_var += t * (t - 1) * (2 * t + 5);
		tie_pairs += t * (t - 1) / 2;
		i = j;
	}
	double dn = (double)n, n0 = dn * (dn - 1) / 2;
	out->s = s;
	out->var_s = (dn * (dn - 1) * (2 * dn + 5) - tie_var) / 18;
	if (out->var_s > 0) {
		out->z = s > 0 ? (s - 1) / sqrt(out->var_s) : s < 0 ? (s + 1) / sqrt(out->var_s) : 0;
		out->p_value = fmin(1, 2 * stats_norm_sf(fabs(out->z)));
	}
	if (n0 - tie_pairs > 0)
		out->tau = s / sqrt((n0 - tie_pairs) * n0);
}

double stats_pearson(const double *x, const double *y, size_t n)
{
	if (n < 2)
		return NAN;
	double mx = stats_mean(x, n), my = stats_mean(y, n);
	double sxx = 0, syy = 0, sxy = 0;
	for (size_t i = 0; i < n; i++) {
		double dx = x[i] - mx, dy = y[i] - my;
		sxx += dx * dx;
		syy += dy * dy;
		sxy += dx * dy;
	}
	if (!(sxx > 0) || !(syy > 0))
		return NAN;
	double r = sxy / sqrt(sxx * syy);
	return r > 1 ? 1 : r < -1 ? -1 : r;
}

static int cmp_index(const void *a, const void *b, void *user)
{
	const double *v = user;
	double x = v[*(const size_t *)a], y = v[*(const size_t *)b];
	return (x > y) - (x < y);
}

void stats_ranks(const double *v, size_t n, double *ranks, size_t *order)
{
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_index, (void *)v);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && v[order[j]] == v[order[i]])
			j++;
		double avg = ((double)i + (double)j + 1) / 2; /* ranks i+1..j */
		for (size_t k = i; k < j; k++)
			ranks[order[k]] = avg;
		i = j;
	}
}

double stats_corr_p_value(double r, size_t n)
{
	if (n < 4 || isnan(r))
		return NAN;
	if (fabs(r) >= 1)
		return 0;
	double z = atanh(r) * sqrt((double)n - 3);
	return fmin(1, 2 * stats_norm_sf(fabs(z)));
}

double stats_norm_sf(double z)
{
	return 0.5 * erfc(z / M_SQRT2);
}

double stats_norm_ppf(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
				   -2.759285104469687e+02, 1.383577518672690e+02,
				   -3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
				   -1.556989798598866e+02, 6.680131188771972e+01,
				   -1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
				   -2.400758277161838e+00, -2.549732539343734e+00,
				   4.374664141464968e+00, 2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
				   2.445134137142996e+00, 3.754408661907416e+00};
	const double p_low = 0.02425;
	if (!(p > 0 && p < 1))
		return p <= 0 ? -INFINITY : INFINITY;
	if (p < p_low || p > 1 - p_low) {
		double q = sqrt(-2 * log(p < p_low ? p : 1 - p));
		double x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			   ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
		return p < p_low ? x : -x;
	}
	double q = p - 0.5, r = q * q;
	return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
	       (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

void stats_acf(const double *y, size_t n, size_t max_lag, double *acf)
{
	double mu = stats_mean(y, n), denom = 0;
	for (size_t t = 0; t < n; t++)
		denom += (y[t] - mu) * (y[t] - mu);
	for (size_t k = 0; k <= max_lag; k++) {
		double s = 0;
		for (size_t t = k; t < n; t++)
			s += (y[t] - mu) * (y[t - k] - mu);
		acf[k] = denom > 0 ? s / denom : 0;
	}
}

size_t stats_detect_season_scratch(size_t n, size_t max_period)
{
	return n + max_period + 2;
}

/* y minus its OLS line on the index, into out. */
static void detrend_index(const double *y, size_t n, double *out)
{
	struct stats_line l = {0, stats_mean(y, n)};
	stats_ols_index(y, n, &l);
	for (size_t t = 0; t < n; t++)
		out[t] = y[t] - (l.intercept + l.slope * (double)t);
}

/* The local ACF maximum at p qualifies as a season. */
static bool season_peak(const double *acf, size_t p, const struct stats_season_opts *o)
{
	if (!(acf[p] > acf[p - 1] && acf[p] >= acf[p + 1] && acf[p] >= o->min_acf))
		return false;
	double low = acf[p];
	for (size_t k = 1; k < p; k++)
		if (acf[k] < low)
			low = acf[k];
	return acf[p] - low >= o->min_drop;
}

size_t stats_detect_season(const double *y, size_t n, const struct stats_season_opts *o,
			   double *scratch, double *strength)
{
	size_t max_p = o->max_period < n / 2 ? o->max_period : n / 2;
	size_t min_p = o->min_period < 2 ? 2 : o->min_period;
	if (strength)
		*strength = 0;
	if (max_p < min_p || n < 4)
		return 0;
	double *dy = scratch, *acf = scratch + n;
	detrend_index(y, n, dy);
	stats_acf(dy, n, max_p + 1, acf);
	double best = -INFINITY;
	for (size_t p = min_p; p <= max_p; p++)
		if (season_peak(acf, p, o) && acf[p] > best)
			best = acf[p];
	if (best == -INFINITY)
		return 0;
	size_t first = 0;
	for (size_t p = min_p; p <= max_p && !first; p++)
		if (season_peak(acf, p, o) && acf[p] >= 0.9 * best)
			first = p;
	size_t hi = first + first / 20, period = first;
	for (size_t p = first - first / 20; p <= hi && p <= max_p; p++)
		if (p >= min_p && acf[p] > acf[period])
			period = p;
	if (strength)
		*strength = acf[period];
	return period;
}

double stats_snaive_mae(const double *y, size_t n, size_t m)
{
	if (m == 0 || n <= m)
		return NAN;
	double s = 0;
	for (size_t t = m; t < n; t++)
		s += fabs(y[t] - y[t - m]);
	return s / (double)(n - m);
}
