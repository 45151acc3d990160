/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notifier/remote_write: what its files share. remote_write.c is the
 * plugin glue (options, hooks, self-metrics), intake.c turns `metric`
 * events into queue records, queue.c keeps them on disk, shards.c sends
 * them, codec.c and response.c are the wire format and the answers.
 */
#ifndef BEARMON_RW_H
#define BEARMON_RW_H

#include <stdbool.h>
#include <stdint.h>

#include <bearmon/bm_option.h>

#include "notify.h"

#define RW_VERSION "1.0.0"

struct rw_basic_auth {
	char *username;
	char *password;
	char *password_file;
};

/* The instance's options (remote_write.c's table fills it). */
struct rw_conf {
	char *url;
	int64_t timeout_ms;
	struct notify_tls_conf tls;
	struct rw_basic_auth basic_auth;
	char *bearer_token;
	char *bearer_token_file;
	struct bm_map headers;
	/* what is sent */
	struct bm_strlist include; /* series selectors */
	struct bm_strlist exclude;
	struct bm_group_list write_relabel_configs; /* of struct relabel_conf */
	struct bm_map external_labels;
	/* sending (Prometheus' queue_config) */
	int64_t capacity;
	int64_t min_shards;
	int64_t max_shards;
	int64_t max_samples_per_send;
	int64_t batch_send_deadline_ms;
	int64_t min_backoff_ms;
	int64_t max_backoff_ms;
	bool retry_on_http_429;
	int64_t shard_update_interval_ms;
	/* the disk queue */
	uint64_t queue_max_size;
	int64_t queue_max_age_ms;
	uint64_t segment_size;
	int64_t sync_interval_ms;
	int64_t bus_queue_len;
};

/* Counters and gauges exported as self-metrics; counters are added to
 * with relaxed atomics, gauges stored with rw_gauge_set. */
struct rw_stats {
	uint64_t samples_in;       /* queued */
	uint64_t samples_sent;     /* accepted by the receiver */
	uint64_t samples_failed;   /* refused for good (4xx) */
	uint64_t samples_retried;  /* in attempts that failed and were retried */
	uint64_t samples_filtered; /* not sent by choice: selectors, relabelling */
	uint64_t bytes_sent;       /* compressed bodies accepted */
	uint64_t requests;         /* attempts, whatever their outcome */
	uint64_t reshards;
	double pending;            /* samples waiting in the queue */
	double highest_ts_s;       /* newest sample queued */
	double highest_sent_ts_s;  /* newest sample accepted */
	double shards;
	double shards_desired;
	double shards_min;
	double shards_max;
	double queue_bytes;
	double queue_segments;
};

#define RW_ADD(st, field, n) __atomic_add_fetch(&(st)->field, (uint64_t)(n), __ATOMIC_RELAXED)

static inline void rw_gauge_set(double *g, double v)
{
	__atomic_store(g, &v, __ATOMIC_RELAXED);
}

static inline double rw_gauge_get(const double *g)
{
	double v;
	__atomic_load(g, &v, __ATOMIC_RELAXED);
	return v;
}

/* Raise *g to v (several shards race to it). */
static inline void rw_gauge_max(double *g, double v)
{
	double cur = rw_gauge_get(g);
	while (v > cur && !__atomic_compare_exchange(g, &cur, &v, false, __ATOMIC_RELAXED,
						      __ATOMIC_RELAXED))
		;
}

#endif
