/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake host with what analyzer tests need on top: subscriptions,
 * timers and HTTP routes the test drives by hand, and every published
 * event kept by topic. Used by the bottleneck and health tests.
 */
#ifndef BEARMON_BUSTEST_H
#define BEARMON_BUSTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakehost.h"

/* The overlay table (fakehost_api() plus the entries below), reset. */
const struct bm_host_api *bt_api(void);
/* Forget subscriptions, timers, routes and captured events. */
void bt_reset(void);

/* Deliver body to every subscriber of topic (or "*"): how many got it. */
size_t bt_deliver(const char *topic, const void *body, size_t len);
/* Encode b and deliver it as a metric event. */
void bt_deliver_metrics(const struct bm_metric_batch *b);
/* Run every timer callback once. */
void bt_fire_timers(void);
size_t bt_n_subs(void);
/* Subscription i's topic and whether it asked for main-loop delivery. */
const char *bt_sub_topic(size_t i, bool *on_loop);

/* GET path[?key=value] through the registered route: the status, and the
 * body (malloc'd, NUL-terminated) in *body. -1 when no route serves it. */
int bt_http(const char *method, const char *path, const char *key, const char *value, char **body);

/* Events published on topic, oldest first. */
size_t bt_count(const char *topic);
const void *bt_event(const char *topic, size_t i, size_t *len);
/* Forget the captured events only. */
void bt_clear_events(void);

#endif
