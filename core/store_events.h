/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's history of events (every standard topic but `metric`): the
 * alert, notification and action history, the agent registry, the
 * analysis events, each with its retention; and bearmon's JSON routes
 * over them (/api/bearmon/v1/events, anomalies, insights,
 * recommendations, alerts/history, notifications, actions/history,
 * agents).
 */
#ifndef BEARMON_CORE_STORE_EVENTS_H
#define BEARMON_CORE_STORE_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "bearmon/bm_err.h"

struct bus;
struct evkeyvalq;
struct http;
struct store_events;

struct store_events_conf {
	const char *path;             /* the store's database, already migrated */
	int64_t retention_events_ms;  /* analysis events; 0 = forever */
	int64_t retention_history_ms; /* alert, notification, action history */
	uint32_t queue_len;           /* bus queue (block policy) */
	int64_t block_timeout_ms;
};

/* Subscribe and register the routes (http may be NULL). NULL with err set
 * on failure. */
struct store_events *store_events_open(const struct store_events_conf *c, struct bus *bus,
				       struct http *http, struct bm_err *err);
/* Unsubscribe (after the bus drained), remove the routes, close. */
void store_events_close(struct store_events *se);
/* The window every events route reads from its parameters: since and
 * until (ms since the epoch; 0 and INT64_MAX when absent) and limit
 * (1..10000, 100 when absent); false when one is not valid (a 400). */
struct store_events_window {
	int64_t since, until, limit;
};
bool store_events_parse_window(const struct evkeyvalq *params, struct store_events_window *w);

void store_events_stats(const struct store_events *se, uint64_t *written, uint64_t *malformed,
			uint64_t *write_errors);

#endif
