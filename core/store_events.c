/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every standard event but `metric` goes into the store's database: alert,
 * notification and action transitions into their history tables, `agent`
 * events into the agent registry, the analysis events (anomaly, trend,
 * forecast, correlation, bottleneck, insight, health, candidate,
 * recommendation, agent commands and acks) into the events table. One
 * block-policy subscription (BM_TOPIC_EVENTS) writes with a connection of
 * its own; the HTTP routes read with another, on the main thread.
 */
#define _GNU_SOURCE
#include "store_events.h"

#include <msgpack.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bearmon/bm_event.h"
#include "bus.h"
#include "http.h"
#include "log.h"

#define API "/api/bearmon/v1"
#define LIMIT_DEFAULT 100
#define LIMIT_MAX 10000
#define EXPIRE_EVERY_MS 60000

struct store_events {
	sqlite3 *wdb; /* subscription thread */
	sqlite3 *rdb; /* main thread (HTTP) */
	struct http *http;
	struct bm_sub *sub;
	struct bm_arena arena;
	int64_t retention_events_ms, retention_history_ms;
	int64_t next_expire_ms;
	uint64_t written, malformed, write_errors;
};

/* Where each topic goes: its table, the kind of row, and its retention. */
enum row_kind { ROW_EVENT, ROW_ALERT, ROW_NOTIFICATION, ROW_ACTION, ROW_AGENT };

static enum row_kind kind_of(const char *topic)
{
	if (strcmp(topic, BM_TOPIC_ALERT) == 0)
		return ROW_ALERT;
	if (strcmp(topic, BM_TOPIC_NOTIFICATION) == 0)
		return ROW_NOTIFICATION;
	if (strcmp(topic, BM_TOPIC_ACTION) == 0)
		return ROW_ACTION;
	if (strcmp(topic, BM_TOPIC_AGENT) == 0)
		return ROW_AGENT;
	return ROW_EVENT;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- writing ---------------------------------------------------------- */

/* Run sql with the given binds: 'i' int64, 't' text (NULL binds NULL),
 * 'b' blob (pointer then size_t length). */
static int exec_bound(sqlite3 *db, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	va_start(ap, types);
	for (int i = 0; types[i]; i++) {
		if (types[i] == 'i') {
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		} else if (types[i] == 't') {
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
		} else {
			const void *p = va_arg(ap, const void *);
			sqlite3_bind_blob(st, i + 1, p, (int)va_arg(ap, size_t), SQLITE_TRANSIENT);
		}
	}
	va_end(ap);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

static const char *const alert_states[] = {"pending", "firing", "resolved"};
static const char *const outcomes[] = {"ok", "failed", "retrying", "dropped"};
static const char *const action_states[] = {"planned", "executed", "rolled_back", "failed"};
static const char *const agent_states[] = {"connected", "disconnected", "stale"};

static int write_alert(struct store_events *se, const void *body, size_t len)
{
	struct bm_alert_event e;
	if (bm_alert_decode(body, len, &e, &se->arena))
		return 1;
	return exec_bound(se->wdb,
			  "INSERT INTO alert_history(ts_ms, rule_id, fingerprint, state, body) "
			  "VALUES(?, ?, ?, ?, ?)",
			  "itttb", e.ts_ms, e.rule_id, e.fingerprint, alert_states[e.state], body, len);
}

static int write_notification(struct store_events *se, const void *body, size_t len)
{
	struct bm_notification_event e;
	if (bm_notification_decode(body, len, &e, &se->arena))
		return 1;
	return exec_bound(se->wdb,
			  "INSERT INTO notification_history(ts_ms, notifier, outcome, latency_ms, body) "
			  "VALUES(?, ?, ?, ?, ?)",
			  "ittib", e.ts_ms, e.notifier, outcomes[e.outcome], e.latency_ms, body, len);
}

static int write_action(struct store_events *se, const void *body, size_t len)
{
	struct bm_action_event e;
	if (bm_action_decode(body, len, &e, &se->arena))
		return 1;
	return exec_bound(se->wdb,
			  "INSERT INTO action_history(ts_ms, action_id, state, body) VALUES(?, ?, ?, ?)",
			  "ittb", e.ts_ms, e.id, action_states[e.state], body, len);
}

/* The registry keeps one row per agent: the newest event about it, with
 * first_seen never moving forward. */
static int write_agent(struct store_events *se, const void *body, size_t len)
{
	struct bm_agent_event e;
	if (bm_agent_decode(body, len, &e, &se->arena))
		return 1;
	int64_t first = e.first_seen_ms ? e.first_seen_ms : e.ts_ms;
	int64_t last = e.last_seen_ms ? e.last_seen_ms : e.ts_ms;
	return exec_bound(se->wdb,
			  "INSERT INTO agent_registry(agent_id, type, pid, first_seen_ms, last_seen_ms,"
			  " state, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(agent_id) DO UPDATE"
			  " SET type = coalesce(?2, type), pid = ?3,"
			  " first_seen_ms = min(first_seen_ms, ?4), last_seen_ms = max(last_seen_ms, ?5),"
			  " state = ?6, body = ?7",
			  "ttiiitb", e.agent_id, e.type, e.pid, first, last, agent_states[e.state],
			  body, len);
}

/* ts_ms of an analysis event: its "ts" key (every standard topic's). */
static int event_ts(const void *body, size_t len, int64_t *ts)
{
	msgpack_unpacked u;
	size_t off = 0;
	int rc = 1;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, body, len, &off) == MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_MAP) {
		const msgpack_object_map *m = &u.data.via.map;
		for (uint32_t i = 0; i < m->size; i++) {
			const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
			if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 2 &&
			    memcmp(k->via.str.ptr, "ts", 2) == 0 &&
			    (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
			     v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)) {
				*ts = v->via.i64;
				rc = 0;
			}
		}
	}
	msgpack_unpacked_destroy(&u);
	return rc;
}

static int write_event(struct store_events *se, const char *topic, const void *body, size_t len)
{
	int64_t ts = 0;
	if (event_ts(body, len, &ts))
		return 1;
	return exec_bound(se->wdb, "INSERT INTO events(topic, ts_ms, body) VALUES(?, ?, ?)",
			  "tib", topic, ts, body, len);
}

static void expire(struct store_events *se, int64_t now)
{
	static const char *const sql[] = {
		"DELETE FROM events WHERE ts_ms < ?",
		"DELETE FROM alert_history WHERE ts_ms < ?",
		"DELETE FROM notification_history WHERE ts_ms < ?",
		"DELETE FROM action_history WHERE ts_ms < ?",
	};
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		int64_t keep = i == 0 ? se->retention_events_ms : se->retention_history_ms;
		if (keep > 0 && exec_bound(se->wdb, sql[i], "i", now - keep))
			se->write_errors++;
	}
}

static void on_event(void *user, const char *topic, const void *body, size_t len)
{
	struct store_events *se = user;
	int rc;
	/* an unknown topic (a plugin's own) is not ours to keep */
	if (!bm_event_is_standard(topic))
		return;
	switch (kind_of(topic)) {
	case ROW_ALERT:
		rc = write_alert(se, body, len);
		break;
	case ROW_NOTIFICATION:
		rc = write_notification(se, body, len);
		break;
	case ROW_ACTION:
		rc = write_action(se, body, len);
		break;
	case ROW_AGENT:
		rc = write_agent(se, body, len);
		break;
	default:
		rc = write_event(se, topic, body, len);
	}
	bm_arena_reset(&se->arena);
	if (rc > 0)
		se->malformed++;
	else if (rc < 0)
		se->write_errors++;
	else
		se->written++;
	int64_t now = now_ms();
	if (now >= se->next_expire_ms) {
		expire(se, now);
		se->next_expire_ms = now + EXPIRE_EVERY_MS;
	}
}

/* --- reading (HTTP, main thread) -------------------------------------- */

/* The body as JSON, or null when it no longer decodes. */
static json_t *body_json(const char *topic, const void *body, size_t len)
{
	struct bm_buf b = {0};
	json_t *j = NULL;
	if (bm_event_to_json(topic, body, len, &b) == 0)
		j = json_loadb(b.data, b.len, 0, NULL);
	bm_buf_free(&b);
	return j ? j : json_null();
}

bool store_events_parse_window(const struct evkeyvalq *params, struct store_events_window *w)
{
	return http_param_i64(params, "since", 0, &w->since) &&
	       http_param_i64(params, "until", INT64_MAX, &w->until) &&
	       http_param_i64(params, "limit", LIMIT_DEFAULT, &w->limit) && w->limit > 0 &&
	       w->limit <= LIMIT_MAX;
}

/* Rows of one table, newest first: columns ts_ms, topic, body. */
static json_t *select_rows(sqlite3 *db, const char *sql, const char *topic,
			   const struct store_events_window *q)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	int i = 1;
	if (topic)
		sqlite3_bind_text(st, i++, topic, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, q->since);
	sqlite3_bind_int64(st, i++, q->until);
	sqlite3_bind_int64(st, i, q->limit);
	json_t *arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 1);
		json_array_append_new(arr, json_pack("{s:s, s:I, s:o}", "topic", t, "ts_ms",
						     (json_int_t)sqlite3_column_int64(st, 0), "event",
						     body_json(t, sqlite3_column_blob(st, 2),
							       (size_t)sqlite3_column_bytes(st, 2))));
	}
	sqlite3_finalize(st);
	return arr;
}

struct route {
	const char *path;
	const char *topic; /* fixed topic, or NULL: ?topic= names it */
	const char *sql;
};

#define WINDOW " ts_ms >= ? AND ts_ms <= ? ORDER BY ts_ms DESC, rowid DESC LIMIT ?"
static const struct route routes[] = {
	{API "/events", NULL,
	 "SELECT ts_ms, topic, body FROM events WHERE topic = ? AND" WINDOW},
	{API "/anomalies", BM_TOPIC_ANOMALY,
	 "SELECT ts_ms, topic, body FROM events WHERE topic = ? AND" WINDOW},
	{API "/insights", BM_TOPIC_INSIGHT,
	 "SELECT ts_ms, topic, body FROM events WHERE topic = ? AND" WINDOW},
	{API "/recommendations", BM_TOPIC_RECOMMENDATION,
	 "SELECT ts_ms, topic, body FROM events WHERE topic = ? AND" WINDOW},
	{API "/alerts/history", BM_TOPIC_ALERT,
	 "SELECT ts_ms, ?, body FROM alert_history WHERE" WINDOW},
	{API "/notifications", BM_TOPIC_NOTIFICATION,
	 "SELECT ts_ms, ?, body FROM notification_history WHERE" WINDOW},
	{API "/actions/history", BM_TOPIC_ACTION,
	 "SELECT ts_ms, ?, body FROM action_history WHERE" WINDOW},
};

struct route_ctx {
	struct store_events *se;
	const struct route *rt;
};

/* GET <route>[?topic=T][&since=MS][&until=MS][&limit=N]: stored events,
 * newest first. */
static void h_events(void *u, struct bm_http_req *r)
{
	const struct route_ctx *rc = u;
	struct store_events_window q;
	const char *topic = rc->rt->topic ? rc->rt->topic : http_req_query(r, "topic");
	if (!topic || !bm_event_is_standard(topic) || !store_events_parse_window(http_req_params(r), &q)) {
		http_reply_error(r, 400, "parameters: topic (a standard topic other than metric, "
					 "where the route has none), since and until (ms since the "
					 "epoch), limit (1..10000, default 100)");
		return;
	}
	if (!rc->rt->topic && kind_of(topic) != ROW_EVENT) {
		http_reply_error(r, 400, "alert, notification and action history have routes of "
					 "their own; the agent registry is " API "/agents");
		return;
	}
	json_t *arr = select_rows(rc->se->rdb, rc->rt->sql, topic, &q);
	if (!arr) {
		http_reply_error(r, 500, sqlite3_errmsg(rc->se->rdb));
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s, s:o}", "status", "ok", "events", arr));
}

/* GET /api/bearmon/v1/agents: the registry, one entry per agent. */
static void h_agents(void *u, struct bm_http_req *r)
{
	const struct route_ctx *rc = u;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(rc->se->rdb,
			       "SELECT agent_id, type, pid, first_seen_ms, last_seen_ms, state, body"
			       " FROM agent_registry ORDER BY agent_id",
			       -1, &st, NULL) != SQLITE_OK) {
		http_reply_error(r, 500, sqlite3_errmsg(rc->se->rdb));
		return;
	}
	json_t *arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 1);
		json_array_append_new(
			arr, json_pack("{s:s, s:o, s:I, s:I, s:I, s:s, s:o}", "agent_id",
				       (const char *)sqlite3_column_text(st, 0), "type",
				       type ? json_string(type) : json_null(), "pid",
				       (json_int_t)sqlite3_column_int64(st, 2), "first_seen_ms",
				       (json_int_t)sqlite3_column_int64(st, 3), "last_seen_ms",
				       (json_int_t)sqlite3_column_int64(st, 4), "state",
				       (const char *)sqlite3_column_text(st, 5), "last_event",
				       body_json(BM_TOPIC_AGENT, sqlite3_column_blob(st, 6),
						 (size_t)sqlite3_column_bytes(st, 6))));
	}
	sqlite3_finalize(st);
	http_reply_json(r, 200, json_pack("{s:s, s:o}", "status", "ok", "agents", arr));
}

/* --- lifecycle -------------------------------------------------------- */

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

struct store_events_owner {
	struct store_events se;
	struct route_ctx ctx[N_ROUTES + 1]; /* + the agents route */
};

static int open_conn(const char *path, sqlite3 **db)
{
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(*db, 5000);
	/* low-rate inserts and small reads: a small page cache */
	sqlite3_exec(*db, "PRAGMA cache_size=-256", NULL, NULL, NULL);
	return 0;
}

struct store_events *store_events_open(const struct store_events_conf *c, struct bus *bus,
				       struct http *http, struct bm_err *err)
{
	struct store_events_owner *o = calloc(1, sizeof(*o));
	if (!o) {
		bm_err_set(err, BM_ENOMEM, "store events: out of memory");
		return NULL;
	}
	struct store_events *se = &o->se;
	se->retention_events_ms = c->retention_events_ms;
	se->retention_history_ms = c->retention_history_ms;
	if (open_conn(c->path, &se->wdb) || open_conn(c->path, &se->rdb)) {
		bm_err_set(err, BM_EIO, "store events %s: %s", c->path,
			   sqlite3_errmsg(se->rdb ? se->rdb : se->wdb));
		store_events_close(se);
		return NULL;
	}
	struct bm_sub_opts so = {.size = sizeof(so), .topic = BM_TOPIC_EVENTS,
				 .policy = BM_SUB_BLOCK, .queue_len = c->queue_len,
				 .block_timeout_ms = c->block_timeout_ms};
	int rc = bus_subscribe(bus, "store-events", &so, on_event, se, &se->sub);
	if (rc) {
		bm_err_set(err, rc, "store events: subscribe: %s", bm_strerror(rc));
		store_events_close(se);
		return NULL;
	}
	se->http = http;
	for (size_t i = 0; http && i <= N_ROUTES; i++) {
		o->ctx[i] = (struct route_ctx){se, i < N_ROUTES ? &routes[i] : NULL};
		http_add_route(http, se, i < N_ROUTES ? routes[i].path : API "/agents", 0,
			       i < N_ROUTES ? h_events : h_agents, &o->ctx[i]);
	}
	return se;
}

void store_events_close(struct store_events *se)
{
	if (!se)
		return;
	if (se->http)
		http_remove_routes(se->http, se);
	if (se->sub)
		bus_unsubscribe(se->sub);
	sqlite3_close(se->wdb);
	sqlite3_close(se->rdb);
	bm_arena_free(&se->arena);
	free((struct store_events_owner *)se); /* se is its owner's first member */
}

void store_events_stats(const struct store_events *se, uint64_t *written, uint64_t *malformed,
			uint64_t *write_errors)
{
	*written = se->written;
	*malformed = se->malformed;
	*write_errors = se->write_errors;
}
