/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake host (tests/fakehost) with what the UI plugin tests need on top:
 * subscriptions, timers and fd watches the test drives by hand, HTTP
 * requests with headers and bodies, bm_http_takeover over a socketpair, and
 * a small in-memory store behind the store queries. Used by the dashboard
 * and MCP tests.
 */
#ifndef BEARMON_DASHHOST_H
#define BEARMON_DASHHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakehost.h"

/* The overlay table, reset. */
const struct bm_host_api *dh_api(void);
void dh_reset(void);

/* --- bus and timers --- */
/* Deliver to every live subscription of topic ("*-metric" takes every topic
 * but metric): how many got it. */
size_t dh_deliver(const char *topic, const void *body, size_t len);
void dh_deliver_metrics(const struct bm_metric_batch *b);
/* Run the callback of every live timer of this period (0: every timer). */
void dh_fire_timers(int64_t interval_ms);
size_t dh_n_subs(void);

/* --- fd watches --- */
/* Call the watches of fd that cover events: how many ran. */
size_t dh_fire_fd(int fd, unsigned events);
/* Call every live watch that covers events: how many ran. */
size_t dh_fire_all(unsigned events);
/* The fd of the i-th live watch for events, or -1. */
int dh_watched_fd(size_t i, unsigned events);
/* Live watches on fd for events (BM_FD_READ / _WRITE). */
size_t dh_n_watches(int fd, unsigned events);

/* --- HTTP --- */
struct dh_kv {
	const char *k, *v;
};
struct dh_request {
	const char *method;
	const char *path;
	struct dh_kv query[8];    /* ends at k == NULL */
	struct dh_kv headers[16];
	const char *body;
};
struct dh_response {
	int status;               /* -1: no route; 0: taken over */
	char *body;               /* malloc'd, NUL-terminated */
	size_t len;
	char content_type[128];
	struct dh_kv headers[16]; /* strings malloc'd */
	int peer_fd;              /* taken over: the client's end of the socketpair */
};
/* Run the route that serves rq->path (exact first, then the longest
 * prefix). Returns resp->status. */
int dh_http(const struct dh_request *rq, struct dh_response *resp);
const char *dh_header(const struct dh_response *r, const char *name);
void dh_response_free(struct dh_response *r);
/* Whether takeover says BM_ENOTSUP (a TLS listener). */
void dh_set_tls(bool on);

/* --- store --- */
/* A series (its canonical text) and its samples, oldest first. */
void dh_store_add(const char *series, const int64_t *ts, const double *v, size_t n);
/* Whether the store queries are offered (BM_ENOTSUP otherwise). */
void dh_set_store(bool on);

#endif
