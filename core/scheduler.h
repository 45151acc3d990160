/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collection scheduling: a libevent timer per collector instance fires on
 * wall-clock ticks aligned to the interval and hands the tick to the
 * instance's own collection thread, so a slow collector never stalls the
 * loop or its siblings. A tick that finds the previous collection still
 * running is an overrun: counted, logged once, and skipped (not queued).
 */
#ifndef BEARMON_CORE_SCHEDULER_H
#define BEARMON_CORE_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

struct bm_ctx;

void scheduler_init(struct bm_ctx *in);
int scheduler_start(struct bm_ctx *in);
/* Stop ticking and end the collection thread, waiting for a collection in
 * progress until deadline_mono_ms (mono_ms clock). false: the collection
 * is wedged and its thread was abandoned (detached, still inside the
 * plugin): the instance must be neither finalised nor freed. */
bool scheduler_stop(struct bm_ctx *in, int64_t deadline_mono_ms);
/* The watchdog's look at one instance (main thread): true, once, when its
 * collection has run for more than limit_ms; its ticks then stop. */
bool scheduler_watchdog(struct bm_ctx *in, int64_t limit_ms);
void scheduler_fini(struct bm_ctx *in);

/* Publish staleness markers at ts for the series the last collection did
 * not publish again (all: every series, the instance stops). Collection
 * thread, or after it stopped. */
void scheduler_mark_stale(struct bm_ctx *in, int64_t ts, bool all);

/* The next tick strictly after now_ms on the grid of interval_ms. */
int64_t scheduler_next_tick(int64_t now_ms, int64_t interval_ms);

#endif
