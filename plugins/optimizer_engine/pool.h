/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The candidate pool: every candidate action the dimension optimizers
 * (and the engine's own VPA) proposed and that has not expired, one per
 * (optimizer, id); a re-published candidate replaces its earlier self.
 */
#ifndef BEARMON_OPT_POOL_H
#define BEARMON_OPT_POOL_H

#include "engine.h"

/* Copy e into the pool. A candidate without expiry lives ttl_ms from now.
 * BM_EINVAL (with why) for a candidate the engine cannot use, BM_ENOMEM,
 * BM_ERANGE when the pool is full. */
int pool_put(struct pool *p, const struct bm_candidate_event *e, int64_t now_ms, int64_t ttl_ms,
	     char *why, size_t why_n);
/* Forget expired candidates. */
void pool_expire(struct pool *p, int64_t now_ms);
/* Forget one candidate (it became a plan step that ran). */
void pool_remove(struct pool *p, const char *optimizer, const char *id);
struct cand *pool_find(const struct pool *p, const char *optimizer, const char *id);
void pool_free(struct pool *p);
void cand_free(struct cand *c);

#endif
