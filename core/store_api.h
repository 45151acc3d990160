/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store inside the daemon: its block-policy bus subscription, its
 * self-metrics, and bearmon's JSON routes over it
 * (GET /api/bearmon/v1/series, GET /api/bearmon/v1/samples).
 */
#ifndef BEARMON_CORE_STORE_API_H
#define BEARMON_CORE_STORE_API_H

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct bm_batch;
struct bm_matcher;
struct evkeyvalq;
struct store;

/* Open the store from the config and subscribe it to `metric`. */
int store_attach(struct daemon *d);
/* Unsubscribe (after the bus drained) and close, flushing everything. */
void store_detach(struct daemon *d);
/* The store for host API queries; NULL when disabled. */
struct store *store_of(struct daemon *d);
/* bearmon_store_* self-metrics into b. */
void store_self_metrics(struct daemon *d, struct bm_batch *b);

/* The routes' parameters, parsed apart from any request (the fuzzer's
 * way in). The series a route names: __name__ from name (exact) or
 * name_re (a regex), and LABEL=VALUE (exact) for every parameter that is
 * not one of the routes' own; at most cap into m, the count they name
 * (more than cap: refuse), 0 when neither name nor name_re is given.
 * Values point into params. */
size_t store_api_matchers(const struct evkeyvalq *params, struct bm_matcher *m, size_t cap);
/* /range's id, start, end, step (ms) and agg (enum bm_agg): 0, or the
 * status of the refusal (400 bad or missing, or a time or step beyond
 * 292,000 years; 413 too many points). */
struct store_range_params {
	int64_t id, start, end, step;
	int agg;
};
int store_api_range_params(const struct evkeyvalq *params, struct store_range_params *p);

#endif
