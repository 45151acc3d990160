/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus' HTTP API over the store (/api/v1/query, query_range, series,
 * labels, label/NAME/values, metadata, status/buildinfo, rules, alerts),
 * in Prometheus' JSON shapes, and the host API's promql entry.
 */
#ifndef BEARMON_CORE_PROM_API_H
#define BEARMON_CORE_PROM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bearmon/bm_host.h"

struct daemon;

/* Register the /api/v1 routes with owner (http_remove_routes(owner)
 * removes them). /api/v1/rules and /api/v1/alerts are answered by a
 * catch-all prefix route on /api/v1 with Prometheus-shaped empty results,
 * so a plugin that registers either path (the rule engine) takes it over. */
int prom_api_attach(struct daemon *d, void *owner);

/* The host API's promql entry (bm_host.h). */
long prom_api_query(struct daemon *d, const char *expr, int64_t start_ms, int64_t end_ms,
		    int64_t step_ms, bm_promql_cb cb, void *user, char *err, size_t errlen);

/* Prometheus' time parameter: seconds as a decimal ("1435781451.781") or
 * RFC 3339 ("2015-07-01T20:10:51.781Z"); true and *ms filled. */
bool prom_parse_time(const char *s, int64_t *ms);
/* Prometheus' step and duration parameters: seconds as a decimal, or a
 * duration like "5m", "1h30m", "250ms"; true and *ms filled. */
bool prom_parse_duration(const char *s, int64_t *ms);

#endif
