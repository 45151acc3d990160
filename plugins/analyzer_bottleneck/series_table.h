/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The series the rules read, one entry per series with its latest value:
 * gauges as published, counters as a per-second rate between consecutive
 * samples (a drop is a reset: the new value is the increase), rare error
 * counters as their increase within the error window. Not thread safe:
 * the plugin holds its lock around every call.
 */
#ifndef BEARMON_SERIES_TABLE_H
#define BEARMON_SERIES_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

#include "keyindex.h"
#include "series_map.h"

struct st_series {
	char *key; /* name{label="value",...}, owned */
	uint32_t hash;
	char *resource;	  /* "disk:sda", owned */
	char *label_name; /* the resource's label ("device"), owned; NULL host-wide */
	char *label_value;
	char *detail;	    /* process name or agent peer, owned; NULL when none */
	const char *metric; /* static (series_map) */
	enum sm_measure measure;
	double scale;
	double raw;		 /* last raw value */
	int64_t raw_ts;		 /* its time; 0 before the first sample */
	double value;		 /* gauge value or rate, scaled; NaN until known */
	int64_t seen_ms;	 /* newest sample; 0 after a stale marker */
	int64_t window_start_ms; /* SM_EVENTS: start of the counting window */
	int64_t last_increase_ms;
	double window_count; /* SM_EVENTS: increase since window_start_ms */
};

struct series_table {
	struct st_series *v;
	size_t n, cap;
	struct keyindex index;
	size_t max_series; /* new series past this are counted, not kept */
	int64_t error_window_ms;
	uint64_t dropped; /* series refused because of max_series */
	char *key;	  /* scratch for building keys */
	size_t key_cap;
};

/* Feed one sample; samples the rules do not read are ignored cheaply.
 * 0, or BM_ENOMEM (the sample is lost). */
int st_add(struct series_table *t, const struct bm_sample *s);
/* Forget series with no sample since now_ms - timeout_ms (or a stale
 * marker): 0 or BM_ENOMEM (the index could not be rebuilt: the table is
 * emptied so it stays consistent). */
int st_expire(struct series_table *t, int64_t now_ms, int64_t timeout_ms);
/* The value a measure reads from s at now_ms: NaN when not known yet. */
double st_value(const struct st_series *s, int64_t now_ms, int64_t error_window_ms);
void st_free(struct series_table *t);

#endif
