/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Staleness markers for collectors: the series an instance published in
 * one collection and not in the next (a vanished disk, an exited process)
 * get Prometheus' stale NaN at the next tick, and every series gets one
 * when the instance stops. Done by the host, so no collector has to.
 */
#ifndef BEARMON_CORE_STALENESS_H
#define BEARMON_CORE_STALENESS_H

#include <stdint.h>

#include "bearmon/bm_batch.h"

struct stale_set;

struct stale_set *stale_new(void);
/* The same with another hash of a series, NULL for the default (tests
 * force collisions with it). */
struct stale_set *stale_new_hashed(uint64_t (*hash_fn)(const struct bm_sample *smp));
void stale_free(struct stale_set *s);
/* Series held: those of the last swept collection and those noted since. */
size_t stale_count(const struct stale_set *s);
/* Remember a sample's series as published in the current collection. */
int stale_note(struct stale_set *s, const struct bm_sample *smp);
/* End of a collection: add a stale marker at ts to out for every series of
 * the previous collection missing from this one, then make this one the
 * previous. With `all`, every series of this and the previous collection
 * ends (the instance stops). Returns the number of markers. */
size_t stale_sweep(struct stale_set *s, struct bm_batch *out, int64_t ts, bool all);
/* A failed collection: forget what it published, keep the previous one. */
void stale_discard(struct stale_set *s);

#endif
