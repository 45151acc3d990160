/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin's self-metric counters, as one array indexed by enum so that
 * receiver threads can batch their increments and hand them over with one
 * loop of relaxed atomic adds (stats_flush).
 */
#ifndef BEARMON_STATSD_STATS_H
#define BEARMON_STATSD_STATS_H

#include <stdint.h>

#include "parse.h"

enum statsd_stat {
	ST_LINES,           /* every non-empty line, good or bad */
	ST_SAMPLES,         /* values aggregated */
	ST_BAD,             /* lines refused, all reasons together */
	ST_BAD_FIRST,       /* ST_BAD_FIRST + reason - 1, STATSD_ERR_SYNTAX..INCOMPLETE */
	ST_UNSUPPORTED = ST_BAD_FIRST + STATSD_ERR_INCOMPLETE,
	ST_DATAGRAMS,
	ST_EMPTY_DATAGRAMS,
	ST_BYTES,
	ST_KERNEL_DROPS,    /* UDP: dropped by the kernel, receive buffer full */
	ST_DROPPED_SERIES,  /* new series refused: max_series */
	ST_DROPPED_LABELS,  /* refused: label count or size limits */
	ST_DROPPED_MEMBERS, /* set members past max_set_size */
	ST_TYPE_CONFLICTS,  /* values of a series published with another type */
	ST_FORGOTTEN,       /* series idle for idle_flushes flushes */
	ST_TCP_CONNECTIONS,
	ST_TCP_REJECTED,
	ST_TCP_IDLE_CLOSED,
	ST_N,
};

_Static_assert(STATSD_UNSUPPORTED == STATSD_ERR_INCOMPLETE + 1,
	       "reasons SYNTAX..INCOMPLETE then UNSUPPORTED, as the counters are laid out");

/* The counter of a refused line's reason (not STATSD_OK). */
static inline enum statsd_stat stat_of_result(enum statsd_result r)
{
	return r == STATSD_UNSUPPORTED ? ST_UNSUPPORTED : (enum statsd_stat)(ST_BAD_FIRST + r - 1);
}

/* shared[i] += pending[i] (relaxed atomics: self-metrics read them from
 * another thread), pending zeroed. */
static inline void stats_flush(uint64_t *shared, uint64_t *pending)
{
	for (int i = 0; i < ST_N; i++) {
		if (pending[i]) {
			__atomic_fetch_add(&shared[i], pending[i], __ATOMIC_RELAXED);
			pending[i] = 0;
		}
	}
}

#endif /* BEARMON_STATSD_STATS_H */
