/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent registry: one record per agent id with its identity (from
 * hello), state, cumulative counters and sliding-window statistics of
 * tasks and coordination, and the derived metrics built from them on each
 * collection. The I/O thread creates, changes and frees records; the
 * collection thread reads them under the registry lock.
 */
#ifndef BEARMON_AGENT_AGENTS_H
#define BEARMON_AGENT_AGENTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>

#include "../common/cardinality.h"
#include "proto.h"
#include "series.h"
#include "sketch.h"

#define AG_ID_MAX 128     /* agent_id bytes */
#define AG_TEXT_MAX 256   /* type, version, capability bytes */

enum ag_outcome { OUT_OK, OUT_ERROR, OUT_TIMEOUT, OUT_CANCELLED, OUT_N };

struct reg_conf {
	int64_t interval_ms;    /* collection interval: one window slot */
	uint32_t win_slots;     /* window / interval */
	uint32_t avail_slots;   /* availability window / interval */
	int64_t heartbeat_ms;   /* stale after 3 of these without a message */
	int64_t forget_ms;      /* a disconnected record is dropped after this */
	uint32_t max_agents;    /* records, connected or not */
	struct card_limits card; /* per agent: its series and label sizes */
};

/* One collection interval of one agent's activity. */
struct win_slot {
	uint64_t n[OUT_N];
	double dur_sum_ms;
	uint64_t dur_n;
	struct sketch dur;
	double coord_lat_sum_ms;
	uint64_t coord_lat_n;
	double sync_sum_ms;
	uint64_t coord_n;
};

struct peer {
	char *name;
	double sync_total_ms;
	uint64_t messages, bytes;
	double *lat_sum_ms; /* per window slot */
	uint64_t *lat_n;
};

struct task_count {
	char *task_type;
	char *error_class; /* NULL: the by-outcome counts */
	uint64_t n[OUT_N];
};

struct agent {
	/* identity: written by the I/O thread at hello */
	char *id, *type, *version, *peer_addr;
	char **caps;
	size_t n_caps;
	struct bm_label *hello_labels; /* sorted; strings owned */
	uint32_t n_hello_labels;
	struct bm_label *ident;        /* agent, agent_type, hello labels: sorted */
	uint32_t n_ident;
	int64_t pid, protocol;
	/* state: written by the I/O thread under the lock */
	enum bm_agent_state state;
	int64_t first_seen_ms, last_seen_ms, connected_ms, left_ms;
	void *conn; /* the I/O thread's connection; NULL when disconnected */
	/* statistics: under the lock */
	uint64_t tokens_in, tokens_out;
	double dur_sum_ms;
	uint64_t dur_n;
	struct task_count *tasks;
	size_t n_tasks, cap_tasks;
	struct peer *peers;
	size_t n_peers, cap_peers;
	struct win_slot *win;
	uint8_t *avail; /* per tick: 0 not known yet, 1 up, 2 down */
	/* the I/O thread's alone */
	struct series_table series;
	struct card_limiter card;
};

/* Types of the per-type aggregation, rebuilt on each collection. */
struct type_agg;

struct registry {
	pthread_mutex_t lock;
	struct reg_conf conf;
	struct agent **v;
	size_t n, cap;
	uint32_t *slots; /* id index: position + 1 in v; 0 empty */
	size_t cap_slots;
	struct agent **stale; /* reg_sweep's list, the I/O thread's */
	size_t cap_stale;
	uint32_t cur;       /* window slot being filled */
	uint32_t avail_cur; /* availability slot of the next tick */
	/* the collection thread's alone */
	struct sketch merged;
	struct type_agg *types;
	size_t n_types, cap_types, used_types;
	struct bm_label *lbuf;
	size_t cap_lbuf;
	/* refusals, counted under the lock (self-metrics read them) */
	uint64_t dropped_series, dropped_labels, refused_agents, invalid_messages;
};

int reg_init(struct registry *r, const struct reg_conf *c);
void reg_free(struct registry *r);

/* Check a hello against the protocol and the limits: AP_OK, or the
 * reason with why (for the error frame) filled. */
int reg_check_hello(const struct registry *r, const struct ap_hello *h, char *why, size_t n);
/*
 * Register the hello of a checked agent on connection conn: a new record,
 * the agent's old record again, or a record taken over from another
 * connection (*replaced = that connection, whose conn->agent the caller
 * clears). NULL with *limit set when max_agents records exist and none is
 * disconnected; NULL on ENOMEM.
 */
struct agent *reg_hello(struct registry *r, const struct ap_hello *h, const char *peer_addr,
			void *conn, int64_t now_ms, void **replaced, bool *limit);
/* Any message: last seen; true when the agent came back from stale. */
bool reg_seen(struct registry *r, struct agent *a, int64_t now_ms);
/* A finished task / a coordination exchange: false when its values are
 * invalid (counted in invalid_messages). */
bool reg_task(struct registry *r, struct agent *a, const struct ap_task *t);
bool reg_coord(struct registry *r, struct agent *a, const struct ap_coord *c);
/* The connection closed. */
void reg_disconnect(struct registry *r, struct agent *a, int64_t now_ms);
/* Once a second on the I/O thread: agents silent for 3 heartbeats become
 * stale (changed(a) is called for each, after the lock is released); records
 * disconnected longer than forget_ms are freed. */
void reg_sweep(struct registry *r, int64_t now_ms, void (*changed)(void *u, struct agent *a),
	       void *u);
/* The collection: derived metrics of every connected agent and of every
 * agent type into b (families declared), then the next window slot. */
int reg_collect(struct registry *r, struct bm_batch *b, int64_t now_ms);
/* The record of id, or NULL. Lock held, or on the I/O thread. */
struct agent *reg_find(struct registry *r, const char *id, size_t n);
/* Fill e (borrowing the record's strings) for publishing. */
void reg_event(const struct agent *a, enum bm_agent_event_kind kind, int64_t now_ms,
	       struct bm_agent_event *e);

#endif
