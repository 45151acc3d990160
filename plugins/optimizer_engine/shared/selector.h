/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Series selectors in PromQL's notation, `name{label="v",other=~"re"}`,
 * parsed into the host's store matchers, and the few store queries the
 * optimizers need over the series they select: the latest value, the mean
 * over a window, and every value of a window (for percentiles).
 */
#ifndef BEARMON_OPT_SELECTOR_H
#define BEARMON_OPT_SELECTOR_H

#include <bearmon/bm_host.h>

#include <stdbool.h>
#include <stddef.h>

#define SEL_MAX_MATCHERS 16

struct sel {
	char *buf; /* the matchers' strings point into it */
	struct bm_matcher m[SEL_MAX_MATCHERS];
	size_t n;
	const char *name; /* the metric name, or NULL when none was given */
};

/* Parse text; on failure BM_EINVAL with the reason in why (when not NULL). */
int sel_parse(const char *text, struct sel *out, char *why, size_t why_n);
void sel_free(struct sel *s);
/* The value an equality matcher requires for label, or NULL. */
const char *sel_label(const struct sel *s, const char *label);
/* Write `name{a="x",...}` for a name and n label pairs (values escaped). */
void sel_format(char *buf, size_t n, const char *name, const struct bm_label *labels,
		size_t n_labels);

/* How the series a selector matches are combined. */
enum sel_combine { SEL_SUM, SEL_MAX };

/* The newest value at or before at_ms (within lookback_ms) of every series
 * the selector matches, combined: 1 and *v, 0 when no series has one, or a
 * BM_E* code from the store. */
int sel_latest(struct bm_ctx *ctx, const struct sel *s, int64_t at_ms, int64_t lookback_ms,
	       enum sel_combine how, double *v);
/* The mean of each matched series' raw samples in [start_ms, end_ms],
 * combined: 1 and *v, 0 when no series has a sample there, or BM_E*. */
int sel_mean(struct bm_ctx *ctx, const struct sel *s, int64_t start_ms, int64_t end_ms,
	     enum sel_combine how, double *v);
/* Step windows over [start_ms, end_ms] aligned to multiples of step_ms
 * (the store's alignment): out[i] is the sum over the matched series of
 * each one's agg in the window starting at *first_ms + i x step_ms, and
 * have[i] says whether any series had a point there. n is the number of
 * windows the arrays hold (sel_n_steps). 0 or BM_E*. */
size_t sel_n_steps(int64_t start_ms, int64_t end_ms, int64_t step_ms, int64_t *first_ms);
int sel_steps(struct bm_ctx *ctx, const struct sel *s, int64_t start_ms, int64_t end_ms,
	      int64_t step_ms, enum bm_agg agg, double *out, unsigned char *have, size_t n);

#endif
