/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Grid cells and pairwise (lagged) correlations of the correlation
 * analyzer (see pairs.h).
 */
#include "pairs.h"

#include <math.h>

#include "../common/stats.h"

static int64_t cell_of(int64_t ts_ms, int64_t step_ms)
{
	int64_t k = ts_ms / step_ms;
	return ts_ms % step_ms < 0 ? k - 1 : k;
}

static size_t slot(size_t n_cells, int64_t k)
{
	int64_t i = k % (int64_t)n_cells;
	return (size_t)(i < 0 ? i + (int64_t)n_cells : i);
}

void cg_add(struct cg_cell *ring, size_t n_cells, int64_t step_ms, int64_t ts_ms, double v)
{
	int64_t k = cell_of(ts_ms, step_ms);
	struct cg_cell *c = &ring[slot(n_cells, k)];
	if (c->n == 0 || c->k != (uint32_t)k)
		*c = (struct cg_cell){.sum = 0, .k = (uint32_t)k, .n = 0};
	c->sum += v;
	c->n++;
}

size_t cg_extract(const struct cg_cell *ring, size_t n_cells, int64_t last_k, double *out,
		  size_t n_out)
{
	size_t present = 0, first = n_out;
	for (size_t i = 0; i < n_out; i++) {
		int64_t k = last_k - (int64_t)(n_out - 1 - i);
		const struct cg_cell *c = &ring[slot(n_cells, k)];
		if (c->n && c->k == (uint32_t)k) {
			out[i] = c->sum / c->n;
			if (first == n_out)
				first = i;
			present++;
		} else if (first != n_out) {
			out[i] = out[i - 1];
		}
	}
	for (size_t i = 0; i < first && first < n_out; i++)
		out[i] = out[first];
	return present;
}

double cc_lagged(const double *a, const double *b, const struct cc_opts *o, int lag)
{
	size_t L = o->max_lag;
	if (lag >= 0)
		return stats_pearson(a + L - (size_t)lag, b + L, o->window);
	return stats_pearson(a + L, b + L - (size_t)(-lag), o->window);
}

/* Insert p into top (n of cap, best |lag_r| first); returns the new n. */
static size_t keep_best(struct cc_pair *top, size_t n, size_t cap, const struct cc_pair *p)
{
	size_t at = n < cap ? n : cap;
	while (at > 0 && fabs(top[at - 1].lag_r) < fabs(p->lag_r))
		at--;
	if (at >= cap)
		return n;
	size_t last = n < cap ? n : cap - 1;
	for (size_t i = last; i > at; i--)
		top[i] = top[i - 1];
	top[at] = *p;
	return n < cap ? n + 1 : n;
}

void cc_rank_rows(const double *x, size_t n, const struct cc_opts *o, double *ranks_window,
		  double *ranks_full, size_t *order)
{
	size_t C = o->window + o->max_lag, W = o->window;
	for (size_t r = 0; r < n; r++) {
		stats_ranks(x + r * C + o->max_lag, W, ranks_window + r * W, order);
		stats_ranks(x + r * C, C, ranks_full + r * C, order);
	}
}

/* The lag is confirmed by the rank correlation (see cc_top_pairs). */
static bool lag_holds_on_ranks(const double *ra, const double *rb, const struct cc_opts *o,
			       int lag)
{
	double at_lag = cc_lagged(ra, rb, o, lag), at_0 = cc_lagged(ra, rb, o, 0);
	if (isnan(at_lag))
		return false;
	return fabs(at_lag) >= o->min_coefficient &&
	       fabs(at_lag) > (isnan(at_0) ? 0 : fabs(at_0)) + o->lag_gain;
}

/* Pearson, Spearman and the best lag of rows i and j. */
static void pair_eval(const double *x, const double *ranks_window, const double *ranks_full,
		      size_t i, size_t j, const struct cc_opts *o, struct cc_pair *p)
{
	size_t C = o->window + o->max_lag, W = o->window;
	const double *a = x + i * C, *b = x + j * C;
	p->a = (uint32_t)i;
	p->b = (uint32_t)j;
	p->pearson = cc_lagged(a, b, o, 0);
	p->spearman = stats_pearson(ranks_window + i * W, ranks_window + j * W, W);
	p->lag = 0;
	p->lag_r = p->pearson;
	double best = isnan(p->pearson) ? 0 : fabs(p->pearson);
	int lag_best = 0;
	double r_best = NAN;
	for (int lag = -(int)o->max_lag; lag <= (int)o->max_lag; lag++) {
		double r = lag ? cc_lagged(a, b, o, lag) : NAN;
		if (!isnan(r) && fabs(r) > best + o->lag_gain &&
		    (isnan(r_best) || fabs(r) > fabs(r_best))) {
			lag_best = lag;
			r_best = r;
		}
	}
	if (lag_best && lag_holds_on_ranks(ranks_full + i * C, ranks_full + j * C, o, lag_best)) {
		p->lag = lag_best;
		p->lag_r = r_best;
	}
	p->p_value = stats_corr_p_value(p->lag_r, W);
}

size_t cc_top_pairs(const double *x, const double *ranks_window, const double *ranks_full,
		    size_t n, const struct cc_opts *o, struct cc_pair *top, size_t top_k)
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			struct cc_pair p;
			pair_eval(x, ranks_window, ranks_full, i, j, o, &p);
			if (isnan(p.lag_r) || fabs(p.lag_r) < o->min_coefficient ||
			    !(p.p_value < o->alpha))
				continue;
			kept = keep_best(top, kept, top_k, &p);
		}
	}
	return kept;
}
