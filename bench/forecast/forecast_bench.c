/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/forecast driver: every `timestamp,value` CSV given is fed row by
 * row through analyzer/forecast's own model code (plugins/analyzer_forecast/
 * model.c, linked, not reimplemented) and the selector's 12-step-ahead
 * forecast is scored at every origin after the first 15% of rows, with
 * MASE (Hyndman & Koehler) against the plain naive and seasonal naive
 * forecasts of the same origins. See bench/forecast/README.md.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../plugins/analyzer_forecast/model.h"
#include "../../plugins/common/stats.h"

#define HORIZON 12
#define WARMUP_SHARE 0.15
#define DEFAULT_SEASON 288 /* one day of 5-minute data */

enum subject { S_BEARMON, S_SNAIVE, S_NAIVE, S_N };
static const char *const subject_names[S_N] = {"bearmon", "seasonal_naive", "naive"};

struct series_result {
	char name[128];
	size_t n, origins, season;
	double mase[S_N];
	uint64_t choice[FC_N_MODELS];
};

struct totals {
	uint64_t choice[FC_N_MODELS];
	uint64_t origins, pushes, skipped;
	double push_s;
	size_t bytes_max;
};

/* The value column of every data row; NULL on a read error. */
static double *read_values(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	double *v = NULL;
	size_t cap = 0;
	char *line = NULL;
	size_t len = 0;
	*n = 0;
	bool header = true;
	while (getline(&line, &len, f) > 0) {
		char *comma = strrchr(line, ',');
		if (header || !comma) {
			header = false;
			continue;
		}
		char *end;
		double x = strtod(comma + 1, &end);
		if (end == comma + 1)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 4096;
			double *grown = realloc(v, cap * sizeof(double));
			if (!grown) {
				free(v);
				v = NULL;
				break;
			}
			v = grown;
		}
		v[(*n)++] = x;
	}
	free(line);
	fclose(f);
	return v;
}

/* The MASE season: the period the forecaster's own detector finds on the
 * whole series, else DEFAULT_SEASON. */
static size_t scale_season(const struct fc_params *p, const double *y, size_t n)
{
	struct stats_season_opts o = {.min_period = p->min_season, .max_period = p->max_season,
				      .min_acf = p->season_min_acf, .min_drop = p->season_min_drop};
	double *scratch = malloc(stats_detect_season_scratch(n, p->max_season) * sizeof(double));
	size_t m = scratch ? stats_detect_season(y, n, &o, scratch, NULL) : 0;
	free(scratch);
	return m ? m : DEFAULT_SEASON;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Feed y through a forecaster; at every origin t (index of the newest
 * value) from ceil(0.15 n) - 1 to n - 1 - HORIZON, add the absolute
 * HORIZON-step errors of the champion, seasonal naive and naive.
 * Returns 0, 1 when the series is skipped (zero scale), -1 on ENOMEM.
 */
static int run_series(const struct fc_params *p, double *work, const double *y, size_t n,
		      struct series_result *r, struct totals *tot)
{
	size_t m = scale_season(p, y, n);
	double scale = stats_snaive_mae(y, n, m);
	r->n = n;
	r->season = m;
	if (!(scale > 0))
		return 1;
	struct fc f;
	if (fc_init(&f, p, work))
		return -1;
	size_t first = (size_t)ceil(WARMUP_SHARE * (double)n);
	first = first ? first - 1 : 0;
	double err[S_N] = {0};
	double t0 = seconds();
	for (size_t t = 0; t < n; t++) {
		fc_push(&f, y[t]);
		if (t < first || t + HORIZON >= n)
			continue;
		size_t target = t + HORIZON, back = m * ((HORIZON + m - 1) / m);
		err[S_BEARMON] += fabs(y[target] - fc_forecast(&f, f.champion, HORIZON));
		err[S_NAIVE] += fabs(y[target] - y[t]);
		err[S_SNAIVE] += fabs(y[target] - (target >= back ? y[target - back] : y[0]));
		r->choice[f.champion]++;
		r->origins++;
	}
	tot->push_s += seconds() - t0;
	tot->pushes += n;
	size_t bytes = fc_bytes(p, f.hw.m);
	tot->bytes_max = bytes > tot->bytes_max ? bytes : tot->bytes_max;
	fc_free(&f);
	for (int s = 0; s < S_N; s++)
		r->mase[s] = r->origins ? err[s] / (double)r->origins / scale : NAN;
	for (int k = 0; k < FC_N_MODELS; k++)
		tot->choice[k] += r->choice[k];
	tot->origins += r->origins;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct series_result *)a)->name,
		      ((const struct series_result *)b)->name);
}

static void series_name(const char *path, char *out, size_t n)
{
	const char *base = strrchr(path, '/');
	snprintf(out, n, "%s", base ? base + 1 : path);
	char *dot = strrchr(out, '.');
	if (dot)
		*dot = '\0';
}

static const char *const model_keys[FC_N_MODELS] = {"naive", "seasonal_naive", "linear",
						     "holt_winters"};

static void report(const struct series_result *res, size_t n_res, const struct totals *tot,
		   const struct fc_params *p)
{
	fprintf(stderr, "%-44s %6s %6s %9s %9s %9s  %s\n", "series", "rows", "season", "bearmon",
		"snaive", "naive", "champion origins n/sn/lin/hw");
	double *med[S_N];
	for (int s = 0; s < S_N; s++)
		med[s] = malloc((n_res ? n_res : 1) * sizeof(double));
	size_t scored = 0;
	for (size_t i = 0; i < n_res; i++) {
		const struct series_result *r = &res[i];
		if (!r->origins) {
			fprintf(stderr, "%-44s %6zu %6zu   skipped: scale 0\n", r->name, r->n, r->season);
			continue;
		}
		fprintf(stderr, "%-44s %6zu %6zu %9.4f %9.4f %9.4f  %llu/%llu/%llu/%llu\n", r->name,
			r->n, r->season, r->mase[S_BEARMON], r->mase[S_SNAIVE], r->mase[S_NAIVE],
			(unsigned long long)r->choice[0], (unsigned long long)r->choice[1],
			(unsigned long long)r->choice[2], (unsigned long long)r->choice[3]);
		printf("BENCH forecast bearmon:%s mase %.4f ratio\n", r->name, r->mase[S_BEARMON]);
		for (int s = 0; s < S_N; s++)
			med[s][scored] = r->mase[s];
		scored++;
	}
	for (int s = 0; s < S_N; s++) {
		printf("BENCH forecast %s median_mase %.4f ratio\n", subject_names[s],
		       stats_median(med[s], scored));
		free(med[s]);
	}
	for (int k = 0; k < FC_N_MODELS; k++)
		printf("BENCH forecast bearmon choice_origins_%s %llu 1\n", model_keys[k],
		       (unsigned long long)tot->choice[k]);
	printf("BENCH forecast bearmon series_scored %zu 1\n", scored);
	printf("BENCH forecast bearmon series_skipped %llu 1\n", (unsigned long long)tot->skipped);
	printf("BENCH forecast bearmon origins %llu 1\n", (unsigned long long)tot->origins);
	printf("BENCH forecast bearmon push_per_s %.4g 1/s\n",
	       tot->push_s > 0 ? (double)tot->pushes / tot->push_s : 0);
	printf("BENCH forecast bearmon bytes_per_series %zu bytes\n", tot->bytes_max);
	fprintf(stderr, "horizon %d, history %zu, eval_h %zu, margin %.2f, linear_window %zu\n",
		HORIZON, p->history, p->eval_h, p->margin, p->linear_window);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE.csv...\n", argv[0]);
		return 2;
	}
	struct fc_params p;
	fc_params_default(&p);
	p.eval_h = HORIZON;
	double *work = malloc(fc_work_size(&p) * sizeof(double));
	struct series_result *res = calloc((size_t)argc, sizeof(*res));
	struct totals tot = {0};
	if (!work || !res)
		return 1;
	size_t n_res = 0;
	for (int i = 1; i < argc; i++) {
		size_t n;
		double *y = read_values(argv[i], &n);
		if (!y || n == 0) {
			fprintf(stderr, "forecast_bench: cannot read %s\n", argv[i]);
			free(y);
			return 1;
		}
		struct series_result *r = &res[n_res++];
		series_name(argv[i], r->name, sizeof(r->name));
		int rc = run_series(&p, work, y, n, r, &tot);
		free(y);
		if (rc < 0)
			return 1;
		tot.skipped += rc == 1;
	}
	qsort(res, n_res, sizeof(*res), by_name);
	report(res, n_res, &tot, &p);
	free(res);
	free(work);
	return 0;
}
