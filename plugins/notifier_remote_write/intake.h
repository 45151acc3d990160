/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From `metric` events to queue records, on the subscription thread: each
 * series is decided once (include/exclude selectors, external labels,
 * write_relabel_configs, as Prometheus orders them) and remembered under
 * a ref, so a sample costs a hash lookup and a dozen bytes of record.
 */
#ifndef BEARMON_RW_INTAKE_H
#define BEARMON_RW_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>

#include "queue.h"
#include "../collector_scrape/relabel.h"
#include "rw.h"
#include "../analyzer_alerts/selector.h"

/* A series not seen for this long is forgotten (a new ref if it returns). */
#define RW_SERIES_IDLE_MS (10 * 60 * 1000)

struct in_entry {
	uint64_t hash;        /* of the input identity */
	uint64_t ref;         /* 0: the series is not sent */
	uint64_t seg;         /* segment that last got its series record */
	int64_t seen_ms;      /* monotonic, its latest sample */
	char *key;            /* input identity: name\0 l1\0 v1\0 ... */
	size_t key_len;
	struct bm_label *out; /* final labels, sorted; in the key's block */
	size_t n_out;
};

struct rw_intake {
	struct bm_ctx *ctx;
	struct rw_stats *st;
	struct al_selector *include, *exclude;
	size_t n_include, n_exclude;
	struct relabel_set relabel;
	struct bm_label *ext; /* external labels, expanded and sorted */
	size_t n_ext;
	struct in_entry *v; /* dense */
	size_t n, cap;
	uint32_t *index; /* open addressing: entry + 1, 0 empty */
	size_t index_cap;
	uint64_t next_ref;
	int64_t last_sweep_ms;
	int64_t highest_ts;
	int64_t last_error_log_ms;
	struct bm_arena decode;
	struct bm_arena scratch;
	struct lset ls;
	struct rwq_batch batch;
};

/* Compile the selectors and rules, expand the external labels. 0 or
 * BM_EINVAL / BM_ENOMEM with err filled; rw_intake_free either way. */
int rw_intake_init(struct rw_intake *in, struct bm_ctx *ctx, const struct rw_conf *c,
		   struct rw_stats *st, struct bm_err *err);
void rw_intake_free(struct rw_intake *in);
/* Queue what a `metric` event carries that is to be sent. now_ms is the
 * monotonic clock (series idle times). BM_EPROTO for an undecodable body,
 * BM_EIO when the queue could not take it (counted as dropped). */
int rw_intake_event(struct rw_intake *in, struct rw_queue *q, const void *body, size_t len,
		    int64_t now_ms);
/* ${VAR} in v replaced by the environment's VAR (HOSTNAME falls back to
 * gethostname()), $$ by $: a malloc'd string, NULL on ENOMEM. */
char *rw_expand_env(const char *v);

#endif
