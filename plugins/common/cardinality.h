/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cardinality protection for plugins that publish series named by
 * outside data (StatsD, the native agent protocol, scrape targets): one
 * limiter per source caps its series count and label sizes, so that one
 * misbehaving client cannot blow up memory or the store. The excess is
 * dropped and counted by reason.
 */
#ifndef BEARMON_PLUGINS_CARDINALITY_H
#define BEARMON_PLUGINS_CARDINALITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

struct card_limits {
	uint32_t max_series;      /* distinct series alive at once; 0 = no limit */
	uint32_t max_labels;      /* labels per series; 0 = no limit */
	uint32_t max_name_len;    /* metric and label name bytes; 0 = no limit */
	uint32_t max_value_len;   /* label value bytes; 0 = no limit */
	uint32_t idle_sweeps;     /* a series unseen for this many card_sweep
				   * calls is forgotten (its slot freed); 0 = never */
};

/* Not thread safe: one limiter per source, used by one thread. The
 * counters may be read from other threads (self-metrics) with relaxed
 * loads. */
struct card_limiter {
	struct card_limits lim;
	uint64_t *keys;  /* open addressing on the series hash; 0 = empty */
	uint32_t *seen;  /* sweep generation each key was last admitted in */
	size_t cap, n;
	uint32_t gen;
	uint64_t dropped_series; /* new series refused: max_series reached */
	uint64_t dropped_labels; /* refused: too many labels or too long */
};

int card_init(struct card_limiter *c, const struct card_limits *lim);
void card_free(struct card_limiter *c);
/* True when name{labels} may be published: it fits the size limits and is
 * either already known or new with room left. Counts every refusal. */
bool card_admit(struct card_limiter *c, const char *name, const struct bm_label *labels,
		size_t n_labels);
/* Call once per flush: starts a new generation and forgets series idle
 * for lim.idle_sweeps generations. */
void card_sweep(struct card_limiter *c);
/* Forget every series (a source that went away), keep the counters. */
void card_clear(struct card_limiter *c);

#endif /* BEARMON_PLUGINS_CARDINALITY_H */
