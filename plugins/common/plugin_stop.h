/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stop hook's common part for plugins that hold bus subscriptions and
 * timers (the analyzers, optimizers): release them and leave NULLs, so that
 * stop may run twice (after a failed start, then from the host).
 * Header-only, like publish.h: nothing to add to a plugin's sources.
 */
#ifndef BEARMON_PLUGINS_PLUGIN_STOP_H
#define BEARMON_PLUGINS_PLUGIN_STOP_H

#include <stddef.h>

#include <bearmon/bm_host.h>

/* Unsubscribe every subscription set in subs[0..n). */
static inline void plugin_unsubscribe_all(struct bm_sub **subs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (subs[i])
			bm_bus_unsubscribe(subs[i]);
		subs[i] = NULL;
	}
}

/* Stop *timer when it runs (main thread only, as bm_timer_stop). */
static inline void plugin_timer_stop(struct bm_timer **timer)
{
	if (*timer)
		bm_timer_stop(*timer);
	*timer = NULL;
}

#endif /* BEARMON_PLUGINS_PLUGIN_STOP_H */
