/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded store (sqlite3): every `metric` sample on the bus is kept
 * in Gorilla-compressed chunks, one open chunk per active series in
 * memory, sealed (or, while open, re-written) into the database by the
 * store's own writer thread.
 *
 * Rules: a series is its name plus its sorted label set. Within a series
 * timestamps must increase: a sample at the same timestamp as the previous
 * one is a duplicate, an older one is out of order; both are dropped and
 * counted (Prometheus' rule). Open chunks reach the database at least
 * every flush interval, so a crash loses at most that much.
 */
#ifndef BEARMON_CORE_STORE_H
#define BEARMON_CORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bearmon/bm_event.h"
#include "bearmon/bm_host.h"

struct store;

struct store_conf {
	const char *path;        /* database file */
	int64_t flush_ms;        /* open chunks written at least this often */
	uint32_t chunk_samples;  /* a chunk is sealed at this many samples */
	int64_t retention_ms[3]; /* raw, 1 min, 1 h; 0 = keep forever */
};

struct store_stats {
	uint64_t samples_in;       /* accepted */
	uint64_t duplicates;       /* same timestamp as the series' previous sample */
	uint64_t out_of_order;     /* older than the series' previous sample */
	uint64_t write_errors;     /* failed transactions (disk full, read-only, ...) */
	uint64_t chunks_written;
	uint64_t series;           /* series known */
	uint64_t flushes;
	uint64_t rows_expired;     /* chunks and blocks removed by retention */
};

struct store *store_open(const struct store_conf *conf, struct bm_err *err);
/* Flush every open chunk and close. */
void store_close(struct store *s);

/* Add a decoded batch (the store's bus subscriber calls this). */
int store_ingest(struct store *s, const struct bm_metric_batch *b);
/* Cap the database at pages pages (sqlite's max_page_count), to test or
 * enforce a disk quota; 0 = no cap. */
int store_set_max_pages(struct store *s, uint64_t pages);

/* Write open chunks now (the writer does this every flush_ms by itself). */
int store_flush(struct store *s);
void store_get_stats(struct store *s, struct store_stats *out);

/* --- queries (any thread) --- */

/* Matchers and aggregations are the SDK's (struct bm_matcher, enum bm_agg),
 * so the host API passes them through unchanged. */

/* Series matching every matcher: cb gets each series' id and its
 * canonical text `name{k="v",...}`. Returns the count or a BM_E* code
 * (BM_EINVAL: a bad regex). */
long store_series(struct store *s, const struct bm_matcher *m, size_t n,
		  void (*cb)(void *u, int64_t id, const char *text), void *u);

/* The newest sample of every series ingested since the store opened
 * (imports and older data excluded), stale markers included, in id order:
 * cb(name, canonical text, ts, value). cb runs under the store's lock
 * and must not call the store. Returns the count. */
long store_latest(struct store *s, void (*cb)(void *u, const char *name, const char *text,
					      int64_t ts_ms, double v),
		  void *u);

/* Raw samples of series id with start_ms <= ts <= end_ms, oldest first,
 * the open chunk included. Returns the count or a BM_E* code. */
long store_raw(struct store *s, int64_t id, int64_t start_ms, int64_t end_ms,
	       void (*cb)(void *u, int64_t ts_ms, double v), void *u);

/*
 * Series id over [start_ms, end_ms] in windows of step_ms aligned to
 * multiples of step_ms since the epoch (start_ms is rounded down to a
 * window start, so the first window is whole): one point per window that has
 * data, at the window's start, with agg over the window (increase: the
 * counter increase adjusted for resets). Reads the coarsest tier whose
 * bucket width divides step_ms (1 h, then 1 min, else raw). *tier_out
 * (may be NULL) gets the tier used: 0 raw, 1 = 1 min, 2 = 1 h. Returns
 * the number of points or a BM_E* code.
 */
long store_range(struct store *s, int64_t id, int64_t start_ms, int64_t end_ms, int64_t step_ms,
		 enum bm_agg agg, int *tier_out, void (*cb)(void *u, int64_t ts_ms, double v),
		 void *u);

/* The newest sample of series id at or before at_ms and no older than
 * lookback_ms; 0 when there is none or it is a staleness marker (the
 * series ended), 1 with *v set. */
int store_instant(struct store *s, int64_t id, int64_t at_ms, int64_t lookback_ms, double *v);

/* Delete every series matching the matchers, with all its data. Returns
 * the number deleted or a BM_E* code. */
long store_delete(struct store *s, const struct bm_matcher *m, size_t n);

/*
 * Backfill: samples (sorted by time, no duplicates) of series
 * name{labels} written as sealed chunks and rollup blocks. Refused with
 * BM_EEXIST when the series already has data within the hours the
 * samples span (an import never overwrites); BM_EINVAL for unsorted input.
 */
int store_import(struct store *s, const char *name, const struct bm_label *labels,
		 uint32_t n_labels, const int64_t *ts, const double *v, size_t n);

/* Metadata of metric family name, as last published: 1 and filled, or 0.
 * unit and help are copied into buf (at least 512 bytes). */
int store_metadata(struct store *s, const char *name, enum bm_metric_type *type, char *buf,
		   size_t n, const char **unit, const char **help);

/* Apply retention now (the flusher does it every minute). */
int store_expire(struct store *s, int64_t now_ms);

/* Canonical text of a series: name{a="x",b="y"} with Prometheus escaping.
 * Returns the length written (truncated to n-1 like snprintf). */
size_t store_series_text(const char *name, const struct bm_label *l, uint32_t n_labels, char *buf,
			 size_t n);

#endif
