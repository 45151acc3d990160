/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test host for the series analyzers' unit tests (trend, correlation,
 * forecast): the fake host of tests/fakehost plus capture of every
 * published event by topic, a fake HTTP request for route handlers, and
 * feeding samples into an as_table through the real metric codec.
 */
#ifndef BEARMON_PLUGINS_TESTS_ANHOST_H
#define BEARMON_PLUGINS_TESTS_ANHOST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_host.h>

#include "../analyzer_series.h"

/* The table: fakehost's, with publish capturing every topic and the HTTP
 * request calls answered by the fake request below. Resets captures. */
const struct bm_host_api *anhost_api(void);
void anhost_reset(void);

/* Events published on topic so far, and the i-th body. */
size_t anhost_count(const char *topic);
const void *anhost_body(const char *topic, size_t i, size_t *len);

/* Feed one sample name{labels}=v at ts_ms, labels as "k=v,k2=v2" (sorted)
 * or "" for none, through the metric codec into as_table_ingest. */
void anhost_feed(struct as_table *t, const char *name, const char *labels, int64_t ts_ms,
		 double v);

/* Call a route handler with GET and query "a=1&b=2" (or NULL); returns
 * the parsed JSON body (caller decrefs) and sets *status. */
json_t *anhost_get(bm_http_cb cb, void *user, const char *query, int *status);

/* Deterministic standard normal noise (Box-Muller over a 64-bit LCG):
 * the same seed gives the same series on every run. */
double anhost_noise(uint64_t *state);

#endif /* BEARMON_PLUGINS_TESTS_ANHOST_H */
