/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trend windows as bucket rings, and the Theil-Sen / Mann-Kendall fit
 * over their points (see window.h).
 */
#include "window.h"

#include <math.h>
#include <string.h>

#include "../common/stats.h"

void tw_init(struct tw_window *w, int64_t length_ms, uint32_t n_buckets, struct tw_bucket *b)
{
	w->length_ms = length_ms;
	w->n_buckets = n_buckets;
	w->width_ms = length_ms / n_buckets > 0 ? length_ms / n_buckets : 1;
	w->b = b;
}

/* floor(ts / width) for negative times too. */
static int64_t bucket_of(const struct tw_window *w, int64_t ts_ms)
{
	int64_t k = ts_ms / w->width_ms;
	return (ts_ms % w->width_ms < 0) ? k - 1 : k;
}

static struct tw_bucket *slot_of(const struct tw_window *w, int64_t k)
{
	int64_t i = k % (int64_t)w->n_buckets;
	return &w->b[i < 0 ? i + w->n_buckets : i];
}

void tw_add(struct tw_window *w, int64_t ts_ms, double v, uint32_t n)
{
	int64_t k = bucket_of(w, ts_ms);
	struct tw_bucket *b = slot_of(w, k);
	float dt = (float)(ts_ms - k * w->width_ms);
	if (b->n == 0 || b->k != (uint32_t)k) {
		*b = (struct tw_bucket){.mean_y = v, .k = (uint32_t)k, .n = n, .mean_dt = dt};
		return;
	}
	double share = (double)n / (double)(b->n + n);
	b->mean_y += (v - b->mean_y) * share;
	b->mean_dt += (float)((dt - b->mean_dt) * share);
	b->n += n;
}

size_t tw_points(const struct tw_window *w, int64_t now_ms, double *x, double *y)
{
	int64_t last = bucket_of(w, now_ms);
	size_t n = 0;
	for (int64_t k = last - (int64_t)w->n_buckets + 1; k <= last; k++) {
		const struct tw_bucket *b = slot_of(w, k);
		if (b->n == 0 || b->k != (uint32_t)k)
			continue;
		double t = (double)(k * w->width_ms) + (double)b->mean_dt;
		if (t > (double)now_ms)
			continue; /* a sample from the future: not in this window */
		x[n] = (t - (double)now_ms) / 1000.0;
		y[n] = b->mean_y;
		n++;
	}
	return n;
}

size_t trend_fit_scratch(size_t n)
{
	size_t ts = stats_theil_sen_scratch(n);
	return ts > n ? ts : n;
}

bool trend_fit(const double *x, const double *y, size_t n, double window_s, double width_s,
	       const struct trend_rules *r, double *scratch, struct trend_fit *out)
{
	memset(out, 0, sizeof(*out));
	if (n < r->min_points || n < 3 || x[n - 1] - x[0] + width_s < r->min_coverage * window_s)
		return false;
	struct stats_line line;
	if (!stats_theil_sen(x, y, n, scratch, &line))
		return false;
	struct stats_mk mk;
	stats_mann_kendall(y, n, scratch, &mk);
	out->n = n;
	out->slope_per_s = line.slope;
	out->intercept = line.intercept;
	double start = line.intercept - line.slope * window_s;
	double change = line.slope * window_s;
	out->rel_change = start != 0 ? change / fabs(start) : NAN;
	out->tau = mk.tau;
	out->p_value = mk.p_value;
	double level = fmax(fabs(start), fabs(line.intercept));
	bool big = fabs(change) >= r->min_rel_change * level && change != 0;
	out->direction = BM_TREND_STABLE;
	if (mk.p_value < r->alpha && big && mk.s != 0)
		out->direction = mk.s > 0 ? BM_TREND_INCREASING : BM_TREND_DECREASING;
	return true;
}

const char *trend_direction_name(enum bm_trend_direction d)
{
	switch (d) {
	case BM_TREND_INCREASING: return "increasing";
	case BM_TREND_DECREASING: return "decreasing";
	default: return "stable";
	}
}
