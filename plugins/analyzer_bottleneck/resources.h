/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One evaluation's view of the resources: every tracked series folded into
 * its resource's measures (summed or maxed as series_map says). Rebuilt
 * from the series table at each evaluation; owns copies of every string,
 * so the series table may change while the rules read it.
 */
#ifndef BEARMON_RESOURCES_H
#define BEARMON_RESOURCES_H

#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

#include "keyindex.h"
#include "series_map.h"
#include "series_table.h"

struct res_acc {
	const char *resource; /* "disk:sda" */
	enum sm_family family;
	const char *label_name; /* "device", NULL host-wide */
	const char *label_value;
	double v[M_N];		 /* aggregated value per measure */
	uint16_t n[M_N];	 /* series that gave a value */
	const char *metric[M_N]; /* a metric behind the measure (evidence) */
	const char *detail[M_N]; /* detail of the series that set the value
				  * (process name, the slowest agent peer) */
};

struct res_set {
	struct res_acc *v;
	size_t n, cap;
	struct keyindex index;
	struct bm_arena arena; /* strings of this evaluation */
};

/* Rebuild from the series table at now_ms: 0 or BM_ENOMEM. */
int rs_build(struct res_set *rs, const struct series_table *t, int64_t now_ms);
/* The resource named name, or NULL. */
const struct res_acc *rs_find(const struct res_set *rs, const char *name);
/* The measure's value, NaN when no series gave one. */
double ra_get(const struct res_acc *a, enum sm_measure m);
/* The process resources with the largest values of m (at most n, largest
 * first, only those above 0): how many were written to out. */
size_t rs_top(const struct res_set *rs, enum sm_measure m, const struct res_acc **out, size_t n);
void rs_free(struct res_set *rs);

#endif
