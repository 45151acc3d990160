/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /metrics: the newest value of every live series in the store, in
 * Prometheus' text format 0.0.4, or OpenMetrics 1.0 when the Accept header
 * asks for application/openmetrics-text; and the metric-family lookup the
 * metadata API shares.
 */
#ifndef BEARMON_CORE_EXPOSITION_H
#define BEARMON_CORE_EXPOSITION_H

#include <stdbool.h>

#include "bearmon/bm_event.h"

struct daemon;
struct store;

/* The family a sample name belongs to, from the store's metadata. */
struct expo_family {
	char meta_name[256]; /* the name the metadata is kept under (else the sample name) */
	char base[256];      /* the family without its sample suffix (_total, _bucket, ...) */
	enum bm_metric_type type;
	const char *unit, *help; /* never NULL; in buf */
	char buf[1024];
};

/* Fill f for sample name; true when the store has metadata for it (f is
 * filled either way: untyped, named after the sample, when it has none). */
bool expo_family_of(struct store *st, const char *name, struct expo_family *f);
/* "counter", "gauge", "histogram", "summary", and for untyped "unknown"
 * (OpenMetrics and the metadata API) or "untyped" (text 0.0.4). */
const char *expo_type_name(enum bm_metric_type t, bool openmetrics);

/* Register GET /metrics with owner. */
int exposition_attach(struct daemon *d, void *owner);

#endif
