/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One agent's custom metrics (`metric` messages): the series it has sent,
 * each with its full label set (the agent's identity labels added) ready
 * to publish, and a counter's running total. Owned by the I/O thread.
 */
#ifndef BEARMON_AGENT_SERIES_H
#define BEARMON_AGENT_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_hash.h>

#include "proto.h"

struct cseries {
	uint64_t hash;
	char *blob;               /* name\0k1\0v1\0...: the sample's own labels */
	uint32_t blob_len;
	uint32_t n_own;           /* labels of the sample itself */
	struct bm_label *labels;  /* own + identity labels, sorted; strings in
				   * blob or borrowed from the identity */
	uint32_t n_labels;
	int kind;                 /* enum ap_kind */
	double total;             /* counters: running total */
	uint64_t pend_gen;        /* the publisher's batch holding its latest */
	uint32_t pend_idx;        /* sample, and where (see io.c push_sample) */
};

struct series_table {
	struct cseries *v;
	size_t n, cap;
	uint32_t *slots; /* index + 1 into v; 0 = empty */
	size_t cap_slots;
};

/* Hash of a sample's name and (sorted) own labels. */
uint64_t series_hash(const struct ap_sample *smp);
/* The series of smp, or NULL. */
struct cseries *series_find(struct series_table *t, const struct ap_sample *smp, uint64_t hash);
/* Add smp's series with identity labels id[0..n_id) (borrowed: they must
 * outlive the table's entries). NULL on ENOMEM. */
struct cseries *series_add(struct series_table *t, const struct ap_sample *smp, uint64_t hash,
			   const struct bm_label *id, size_t n_id);
/* Remove the entry series_add returned last (not admitted after all). */
void series_drop_last(struct series_table *t);
/* Forget every series (keep the memory of the index). */
void series_clear(struct series_table *t);
void series_free(struct series_table *t);

/* Prometheus syntax: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__" (reserved). */
bool valid_metric_name(const char *p, size_t n);
bool valid_label_name(const char *p, size_t n);

#endif
