/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Holt-Winters model of hw_model.h. The autocorrelation comes from
 * plugins/common/stats.c; the peak choice is ours: the largest peak wins,
 * so a weekly season that also holds the daily one beats the daily one.
 */
#define _GNU_SOURCE
#include "hw_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#include "../common/stats.h"

int hw_params_check(const struct hw_params *p, struct bm_err *err)
{
	if (p->season_after < 8 || p->season_after > 2 * p->max_period)
		return bm_err_set(err, BM_EINVAL,
				  "season_after (%lld) must lie between 8 and twice max_period (%lld)",
				  (long long)p->season_after, (long long)(2 * p->max_period));
	return 0;
}

int hw_model_init(struct hw_model *h, const struct hw_params *p)
{
	memset(h, 0, sizeof(*h));
	h->cap = (uint32_t)(2 * p->max_period);
	h->ring = malloc(h->cap * sizeof(*h->ring));
	h->next_detect = (uint64_t)p->season_after;
	return h->ring ? 0 : BM_ENOMEM;
}

void hw_model_release(struct hw_model *h)
{
	free(h->ring);
	free(h->season);
	memset(h, 0, sizeof(*h));
}

bool hw_model_predict(const struct hw_model *h, double *yhat)
{
	if (!h->period)
		return false;
	*yhat = h->level + h->season[h->n % h->period];
	return true;
}

uint32_t hw_detect_period(const double *y, size_t n, const struct hw_params *p)
{
	size_t pmax = n / 2 - 1;
	if (n < 8)
		return 0;
	double *acf = malloc((pmax + 2) * sizeof(*acf));
	if (!acf)
		return 0;
	stats_acf(y, n, pmax + 1, acf);
	uint32_t best = 0;
	double best_acf = p->min_acf, lowest = 1;
	for (size_t k = 2; k <= pmax; k++) {
		lowest = fmin(lowest, acf[k]);
		if (acf[k] > best_acf && acf[k] >= acf[k - 1] && acf[k] >= acf[k + 1] &&
		    acf[k] - lowest >= p->min_prominence) {
			best_acf = acf[k];
			best = (uint32_t)k;
		}
	}
	free(acf);
	return best;
}

/* Seasonal profile, level and deviation from the ring (in time order in
 * lin, the newest last): the mean of each phase over the ring, the level
 * and deviation of the last cycle. */
static bool hw_fit(struct hw_model *h, const double *lin, uint32_t len, uint32_t period)
{
	double *season = calloc(period, sizeof(*season));
	uint32_t *count = calloc(period, sizeof(*count));
	if (!season || !count) {
		free(season);
		free(count);
		return false;
	}
	double mean = stats_mean(lin, len);
	uint64_t first = h->n - len; /* sample number of lin[0] */
	for (uint32_t j = 0; j < len; j++) {
		season[(first + j) % period] += lin[j] - mean;
		count[(first + j) % period]++;
	}
	for (uint32_t k = 0; k < period; k++)
		if (count[k])
			season[k] /= count[k];
	double level = 0, dev = 0;
	for (uint32_t j = len - period; j < len; j++)
		level += lin[j] - season[(first + j) % period];
	level /= period;
	for (uint32_t j = len - period; j < len; j++)
		dev += fabs(lin[j] - level - season[(first + j) % period]);
	free(count);
	free(h->season);
	h->season = season;
	h->period = period;
	h->level = level;
	h->mad = dev / period;
	h->since_fit = 0;
	return true;
}

/* Detect the season over the ring and refit when it changed. */
static bool hw_redetect(struct hw_model *h, const struct hw_params *p)
{
	double *lin = malloc(h->len * sizeof(*lin));
	if (!lin)
		return false;
	for (uint32_t j = 0; j < h->len; j++)
		lin[j] = h->ring[(h->pos + h->cap - h->len + j) % h->cap];
	uint32_t period = hw_detect_period(lin, h->len, p);
	bool refit = period && period != h->period && hw_fit(h, lin, h->len, period);
	free(lin);
	return refit;
}

static double clamp(double v, double lim)
{
	return v > lim ? lim : v < -lim ? -lim : v;
}

bool hw_model_update(struct hw_model *h, const struct hw_params *p, double x)
{
	if (h->period) {
		uint32_t ph = (uint32_t)(h->n % h->period);
		double r = clamp(x - h->level - h->season[ph], p->clip * fmax(h->mad, 1e-12));
		h->level += p->alpha * r;
		h->season[ph] += p->gamma * (1 - p->alpha) * r;
		h->mad += p->mad_alpha * (fabs(r) - h->mad);
		h->since_fit++;
	}
	h->ring[h->pos] = x;
	h->pos = (h->pos + 1) % h->cap;
	if (h->len < h->cap)
		h->len++;
	h->n++;
	if (h->n != h->next_detect)
		return false;
	/* detect as the ring doubles, then every season_every samples */
	h->next_detect = h->n < h->cap ? (h->n * 2 < h->cap ? h->n * 2 : h->cap)
				       : h->n + (uint64_t)p->season_every;
	return hw_redetect(h, p);
}
