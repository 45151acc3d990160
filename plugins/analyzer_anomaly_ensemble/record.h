/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The range a feature of a series took over its recent history, and how
 * far a new value breaks out of it: the calibration of every member of
 * anomaly_ensemble. The history is kept as the minimum and maximum of
 * RECORD_BLOCKS blocks (a sliding window in 16 steps, 300 bytes whatever
 * its length).
 */
#ifndef BEARMON_PLUGINS_RECORD_H
#define BEARMON_PLUGINS_RECORD_H

#include <stdint.h>

#define RECORD_BLOCKS 16

struct record_range {
	double bmax[RECORD_BLOCKS], bmin[RECORD_BLOCKS]; /* completed blocks */
	double cmax, cmin;  /* the block being filled */
	uint32_t nb;        /* completed blocks held */
	uint32_t bpos;      /* slot of the next completed block */
	uint32_t cn;        /* samples in the block being filled */
	uint32_t block;     /* samples per block */
	uint64_t n;         /* samples seen since the last clear */
};

/* Which side of the range counts. */
enum record_side { RECORD_BOTH = 0, RECORD_ABOVE = 1 };

/* History of about `history` samples (rounded to whole blocks). */
void record_init(struct record_range *r, int64_t history);
/* Forget the history, keep its length. */
void record_clear(struct record_range *r);
/*
 * How far f lies outside the range of the history, as a fraction of the
 * range's width (0 inside it, and while fewer than min_history samples
 * are held); the range is stored in *lo and *hi when known. Then f joins
 * the history. A history of one value has a width of 1e-3 of its
 * magnitude (at least 1e-9), so a constant series' first change counts.
 */
double record_step(struct record_range *r, double f, enum record_side side,
		   uint64_t min_history, double *lo, double *hi);

#endif /* BEARMON_PLUGINS_RECORD_H */
