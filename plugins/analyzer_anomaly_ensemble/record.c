/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block-wise sliding range of record.h.
 */
#include "record.h"

#include <math.h>
#include <string.h>

void record_init(struct record_range *r, int64_t history)
{
	memset(r, 0, sizeof(*r));
	int64_t block = history / RECORD_BLOCKS;
	r->block = block > 0 ? (uint32_t)block : 1;
}

void record_clear(struct record_range *r)
{
	uint32_t block = r->block;
	memset(r, 0, sizeof(*r));
	r->block = block;
}

/* Range of the history: the filled blocks and the one being filled. */
static void record_range(const struct record_range *r, double *lo, double *hi)
{
	double mx = r->cn ? r->cmax : -INFINITY, mn = r->cn ? r->cmin : INFINITY;
	for (uint32_t j = 0; j < r->nb; j++) {
		mx = fmax(mx, r->bmax[j]);
		mn = fmin(mn, r->bmin[j]);
	}
	*lo = mn;
	*hi = mx;
}

static void record_add(struct record_range *r, double f)
{
	if (r->cn == 0) {
		r->cmax = r->cmin = f;
	} else {
		r->cmax = fmax(r->cmax, f);
		r->cmin = fmin(r->cmin, f);
	}
	if (++r->cn == r->block) {
		r->bmax[r->bpos] = r->cmax;
		r->bmin[r->bpos] = r->cmin;
		r->bpos = (r->bpos + 1) % RECORD_BLOCKS;
		if (r->nb < RECORD_BLOCKS)
			r->nb++;
		r->cn = 0;
	}
	r->n++;
}

double record_step(struct record_range *r, double f, enum record_side side,
		   uint64_t min_history, double *lo, double *hi)
{
	double e = 0;
	if (r->n > 0 && r->n >= min_history) {
		record_range(r, lo, hi);
		double width = *hi - *lo;
		if (width <= 0)
			width = fmax(fabs(*hi) * 1e-3, 1e-9);
		double above = (f - *hi) / width, below = (*lo - f) / width;
		e = side == RECORD_ABOVE ? above : fmax(above, below);
		if (!(e > 0))
			e = 0;
	}
	record_add(r, f);
	return e;
}
