/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store inside the daemon: its block-policy bus subscription, its
 * self-metrics, and bearmon's JSON routes over it
 * (GET /api/bearmon/v1/series, GET /api/bearmon/v1/samples).
 */
#ifndef BEARMON_CORE_STORE_API_H
#define BEARMON_CORE_STORE_API_H

struct daemon;
struct bm_batch;
struct store;

/* Open the store from the config and subscribe it to `metric`. */
int store_attach(struct daemon *d);
/* Unsubscribe (after the bus drained) and close, flushing everything. */
void store_detach(struct daemon *d);
/* The store for host API queries; NULL when disabled. */
struct store *store_of(struct daemon *d);
/* bearmon_store_* self-metrics into b. */
void store_self_metrics(struct daemon *d, struct bm_batch *b);

#endif
