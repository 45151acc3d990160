/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The correlation analyzer's numeric part: series resampled on a common
 * grid (a ring of cells per series), and the pairwise Pearson, Spearman
 * and lagged Pearson correlations over the aligned window, best k kept.
 */
#ifndef BEARMON_ANALYZER_CORRELATION_PAIRS_H
#define BEARMON_ANALYZER_CORRELATION_PAIRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sum of the samples whose time falls in one grid cell. 16 bytes. */
struct cg_cell {
	double sum;
	uint32_t k; /* cell number (ts / step) modulo 2^32 */
	uint32_t n; /* samples; 0 = empty */
};

/* Add v at ts_ms to the ring of n_cells cells of step_ms. */
void cg_add(struct cg_cell *ring, size_t n_cells, int64_t step_ms, int64_t ts_ms, double v);
/*
 * The means of cells last_k - n_out + 1 .. last_k into out, oldest first;
 * an empty cell takes the previous cell's value (the first ones the first
 * present value). n_out < n_cells, so that the cell being filled now
 * (last_k + 1) never shares a slot with one read. Returns the number of
 * cells with data; with none, out is unchanged.
 */
size_t cg_extract(const struct cg_cell *ring, size_t n_cells, int64_t last_k, double *out,
		  size_t n_out);

/* What makes a pair worth reporting. */
struct cc_opts {
	size_t window;          /* cells correlated */
	size_t max_lag;         /* lags -max_lag..max_lag cells are tried */
	double min_coefficient; /* |r| at the best lag at least this */
	double alpha;           /* and its p-value below this */
	double lag_gain;        /* a lag other than 0 wins only when its |r|
				 * beats lag 0's by this much */
};

struct cc_pair {
	uint32_t a, b;     /* row indices, a < b */
	double pearson;    /* at lag 0 */
	double spearman;   /* at lag 0 */
	int32_t lag;       /* best lag in cells: b follows a by lag (a leads
			    * when > 0) */
	double lag_r;      /* Pearson at that lag (== pearson at lag 0) */
	double p_value;    /* of lag_r (Fisher z) */
};

/*
 * Pearson of a and b, both rows of window + max_lag cells whose last
 * window cells are "now", with b shifted by lag cells: a positive lag
 * pairs a[t - lag] with b[t] (a leads), a negative one a[t] with
 * b[t + lag] (b leads).
 */
double cc_lagged(const double *a, const double *b, const struct cc_opts *o, int lag);

/* Ranks of the rows of x as cc_top_pairs wants them: ranks_window (n rows
 * of window) ranks each row's last window values (Spearman at lag 0),
 * ranks_full (n rows of window + max_lag) the whole row (lag checks).
 * order: scratch of window + max_lag. */
void cc_rank_rows(const double *x, size_t n, const struct cc_opts *o, double *ranks_window,
		  double *ranks_full, size_t *order);

/*
 * Every pair of the n rows of x (each window + max_lag values): Pearson
 * at every lag, Spearman at lag 0; the best top_k by |lag_r| that pass
 * the rules, best first, into top. Returns how many. A lag other than 0
 * must win on the ranks as well (the same lag_gain over lag 0 and
 * min_coefficient), so that two unrelated spikes a few steps apart do
 * not pass for a leading indicator. O(n^2 * window * (2 * max_lag + 3)).
 */
size_t cc_top_pairs(const double *x, const double *ranks_window, const double *ranks_full,
		    size_t n, const struct cc_opts *o, struct cc_pair *top, size_t top_k);

#endif /* BEARMON_ANALYZER_CORRELATION_PAIRS_H */
