/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event bus: topics with msgpack bodies, fanned out to subscriptions
 * that each own a bounded queue with an overflow policy.
 *
 * Threading model. publish() may be called from any thread. A published
 * body is copied once into a reference-counted message and a pointer to it
 * is queued on every matching subscription. Each subscription is drained
 * by a delivery thread of its own (or, with on_loop, by the main libevent
 * loop), which calls the subscriber's callback serially. A drop-oldest
 * queue never makes a publisher wait: when full, its oldest message is
 * dropped and counted. A block queue makes the publisher wait for room up
 * to the subscription's timeout; each publisher may fill at most a fair
 * share (capacity / active publishers) so one flooding publisher cannot
 * starve the others, and a timeout is reported as BM_EAGAIN to that
 * publisher alone and counted against it.
 */
#ifndef BEARMON_CORE_BUS_H
#define BEARMON_CORE_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bearmon/bm_host.h"

struct event_base;
struct bus;

/* loop may be NULL: on_loop subscriptions are then refused. */
struct bus *bus_new(struct event_base *loop);
/* Every subscription must have been removed. */
void bus_free(struct bus *bus);

/* Register a publisher name (plugin instance or core part) for fair
 * sharing and loss accounting. Returns an id >= 0 or a BM_E* code. */
int bus_publisher(struct bus *bus, const char *name);

int bus_publish(struct bus *bus, int publisher, const char *topic, const void *body, size_t len);

/* owner names the subscriber in stats and logs (copied). */
int bus_subscribe(struct bus *bus, const char *owner, const struct bm_sub_opts *opts,
		  bm_event_cb cb, void *user, struct bm_sub **out);
/* Waits for the subscription's callback to return, unless the watchdog
 * found it stuck: then its thread is abandoned (logged) rather than
 * waited for. */
void bus_unsubscribe(struct bm_sub *sub);
/* Every subscription whose callback has run for more than limit_ms (not
 * on_loop ones: the loop itself would be stuck) is marked stuck, once, and
 * turned to drop-oldest so that no publisher waits on it any more; report
 * is called with its owner and how long the callback has run (bus locked: do not call back into the bus).
 * Returns how many were newly marked. */
size_t bus_watchdog(struct bus *bus, int64_t limit_ms,
		    void (*report)(void *u, const char *owner, int64_t running_ms), void *u);
/* An opaque pointer kept with the subscription (its owning instance). */
void bus_sub_set_tag(struct bm_sub *sub, void *tag);
void *bus_sub_tag(const struct bm_sub *sub);
/* Marked stuck by bus_watchdog. */
bool bus_sub_stuck(const struct bm_sub *sub);

/* Wait until every queue is empty and no callback runs, or timeout_ms
 * passes. Returns true when drained. */
bool bus_drain(struct bus *bus, int64_t timeout_ms);

struct bus_topic_stats {
	const char *topic;
	uint64_t published;
};
struct bus_sub_stats {
	const char *owner;
	const char *topic;
	const char *policy; /* "drop_oldest" or "block" */
	uint64_t delivered;
	uint64_t dropped;   /* drop-oldest overflows */
	uint64_t timeouts;  /* block waits that ran out */
	uint32_t depth;
	uint32_t capacity;
	uint64_t cpu_ns; /* CPU time of the delivery thread (0 for on_loop) */
	void *tag;
};
struct bus_pub_stats {
	const char *name;
	uint64_t published;
	uint64_t lost; /* events a block-policy subscriber did not get */
};

/* Snapshots for self-metrics and the status API; callbacks run with the
 * bus locked: copy what you keep, do not call back into the bus. */
void bus_each_topic(struct bus *bus, void (*fn)(void *u, const struct bus_topic_stats *s), void *u);
void bus_each_sub(struct bus *bus, void (*fn)(void *u, const struct bus_sub_stats *s), void *u);
void bus_each_publisher(struct bus *bus, void (*fn)(void *u, const struct bus_pub_stats *s), void *u);

#endif
