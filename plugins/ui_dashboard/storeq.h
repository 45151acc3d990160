/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store reads through the host API for the snapshot and the MCP tools: the
 * series a selector matches with their labels, each with its latest value
 * (gauges) or its per-second rate over the newest two samples (counters),
 * and simple statistics of a series over a window. Shared by ui_dashboard
 * and ui_mcp.
 */
#ifndef BEARMON_DASHBOARD_STOREQ_H
#define BEARMON_DASHBOARD_STOREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_host.h>

#include "selector.h"

/* One series with its value. */
struct sq_item {
	int64_t id;
	char *text;           /* canonical series text */
	struct selector parts; /* the text parsed: parts.m[i] are its name and labels */
	double value;         /* NaN when the series has no (usable) recent sample */
};

struct sq_list {
	struct sq_item *v;
	size_t n, cap;
};

enum sq_mode {
	SQ_LATEST, /* newest sample within the lookback */
	SQ_RATE,   /* per second between the newest two samples (a reset counts from 0) */
};

/*
 * Every series matching selector (text) with its value at now_ms: at most
 * max series (more are left out). 0, or BM_EINVAL (bad selector), BM_ENOTSUP
 * (no store), BM_ENOMEM. The list is the caller's: sq_list_free.
 */
int sq_select(struct bm_ctx *ctx, const char *selector, enum sq_mode mode, int64_t now_ms,
	      int64_t lookback_ms, size_t max, struct sq_list *out);
void sq_list_free(struct sq_list *l);
/* The value of label name of an item, NULL when it has none. */
const char *sq_label(const struct sq_item *it, const char *name);
/* The metric name of an item. */
const char *sq_name(const struct sq_item *it);
/* Sum of the finite values of the list; NaN when none is finite. */
double sq_sum(const struct sq_list *l);

/* Statistics of raw samples of one series in [start_ms, end_ms]. */
struct sq_stats {
	size_t n;
	double min, max, avg, first, last;
	int64_t first_ts_ms, last_ts_ms;
	double slope_per_s; /* least squares; NaN with fewer than 2 samples */
};
int sq_stats(struct bm_ctx *ctx, int64_t id, int64_t start_ms, int64_t end_ms,
	     struct sq_stats *out);

#endif
