/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ui/dashboard: shared state of the plugin's parts. dashboard.c holds the
 * descriptor and lifecycle, static.c serves the page and Chart.js, server.c
 * the WebSocket clients, fanout.c the bus subscriptions and what goes to
 * which client, snapshot.c the snapshot route.
 */
#ifndef BEARMON_DASHBOARD_H
#define BEARMON_DASHBOARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_option.h>

#include "../common/plugin_route.h" /* JSON replies of the routes */
#include "evcache.h"
#include "selector.h"
#include "ws.h"

#define DASH_API "/api/bearmon/v1"
#define DASH_WS_ROUTE DASH_API "/ws"
#define DASH_SNAPSHOT_ROUTE DASH_API "/snapshot"

struct dash_conf {
	char *web_dir;        /* "": the page installed with the plugin */
	char *javascript_dir; /* Debian's /usr/share/javascript */
	struct bm_strlist allowed_origins;
	int64_t max_clients;
	int64_t max_subscriptions;   /* selectors per client */
	int64_t max_points;          /* points per selector per metrics tick */
	uint64_t max_frame;
	uint64_t max_message;
	uint64_t send_buffer;        /* bytes queued for one client before it is dropped */
	int64_t metrics_interval_ms;
	int64_t trend_interval_ms;
	int64_t recommendation_interval_ms;
	int64_t ping_interval_ms;
	int64_t max_batched_events;  /* per topic between two batch ticks */
	int64_t event_cache;         /* per kind, for the snapshot */
	int64_t event_ttl_ms;
	int64_t snapshot_lookback_ms;
};

/* Standard topics but metric, as bits of a client's event subscription. */
enum { DASH_N_TOPICS = 15 };
extern const char *const dash_topics[DASH_N_TOPICS];
/* Index of topic in dash_topics, or -1. */
int dash_topic_index(const char *topic);

/* How often events of a topic go out. */
enum dash_rate { DASH_RATE_NOW, DASH_RATE_TREND, DASH_RATE_RECOMMENDATION };

/* A point of a series matched by a selector, waiting for the metrics tick. */
struct dash_point {
	const char *key;   /* canonical series text, in the selector's arena */
	const char *name;
	const struct bm_label *labels;
	uint32_t n_labels;
	int64_t ts_ms;
	double value;
	uint64_t seq;      /* arrival order, for a stable sort */
};

/* One distinct selector that at least one client subscribes to. */
struct dash_sel {
	struct selector sel;
	unsigned refs;           /* clients subscribed; main thread, under fan_lock */
	/* points since the last tick: written by the metric thread, taken by the
	 * main loop, both under fan_lock */
	struct dash_point *pts;
	size_t n_pts, cap_pts;
	struct bm_arena arena;
};

/* Events of a batched topic between two ticks, as JSON texts. */
struct dash_batch {
	char **json;
	size_t n, cap;
};

struct dash_client {
	struct dash *d;
	int fd;
	struct bm_fdwatch *rw; /* read watch, for the client's life */
	struct bm_fdwatch *ww; /* write watch, while output waits */
	struct ws_rx rx;
	struct bm_buf out;     /* frames not yet written */
	size_t out_off;
	struct dash_sel **sels;
	size_t n_sels;
	uint32_t topics;       /* bit i: dash_topics[i] */
	int64_t last_rx_ms;    /* last frame from the client */
	int64_t ping_sent_ms;  /* 0 when no ping is outstanding */
	int64_t closing_ms;    /* close frame queued at; 0 while open */
	bool dead;             /* to be freed by dash_sweep */
	char peer[64];
};

struct dash_stats {
	uint64_t connections;     /* upgrades accepted */
	uint64_t refused;         /* upgrades refused (checks, limits) */
	uint64_t messages;        /* frames sent */
	uint64_t bytes;           /* bytes written */
	uint64_t slow_readers;    /* clients dropped for a full send buffer */
	uint64_t protocol_errors; /* clients failed for breaking RFC 6455 */
	uint64_t points_dropped;  /* max_points */
	uint64_t events_dropped;  /* max_batched_events */
	uint64_t decode_errors;   /* bus events that did not decode */
	double clients;
	double selectors;
};

struct dash {
	struct bm_ctx *ctx;
	const struct dash_conf *conf;
	char web_dir[4096];
	/* WebSocket clients and their subscriptions (main loop) */
	struct dash_client **clients;
	size_t n_clients, cap_clients;
	/* distinct selectors: added and removed on the main loop, read by the
	 * metric delivery thread, always under fan_lock */
	pthread_mutex_t fan_lock;
	struct dash_sel **sels;
	size_t n_sels, cap_sels;
	uint64_t seq;
	struct bm_arena metric_arena; /* metric delivery thread */
	struct dash_batch batches[DASH_N_TOPICS];
	struct bm_buf frame;          /* main loop: the frame being fanned out */
	struct bm_buf scratch;        /* main loop: event JSON */
	struct evcache cache;         /* main loop */
	struct bm_sub *metric_sub, *event_sub;
	struct bm_timer *tick, *trend_tick, *rec_tick;
	struct dash_stats st;
};

/* static.c */
void dash_static_init(struct dash *d);
void dash_on_index(void *user, struct bm_http_req *req);
void dash_on_static(void *user, struct bm_http_req *req);

/* server.c */
void dash_on_ws(void *user, struct bm_http_req *req);
/* Queue a frame for a client, writing what the socket takes now; a client
 * whose queue passes send_buffer is marked dead (slow reader). */
void dash_client_send(struct dash_client *c, const void *frame, size_t len);
/* A text message (JSON) as one frame to one client. */
void dash_client_text(struct dash_client *c, const char *json, size_t len);
/* Close frame, then the socket once it is written (or at the deadline). */
void dash_client_close(struct dash_client *c, int code, const char *reason);
/* Free every client marked dead. Main loop, outside client iteration. */
void dash_sweep(struct dash *d);
/* Pings, ping timeouts and close deadlines (from the metrics tick). */
void dash_housekeeping(struct dash *d, int64_t now_ms);
/* Close every client with 1001 and free them (stop). */
void dash_close_all(struct dash *d);

/* fanout.c */
int dash_fanout_start(struct dash *d);
void dash_fanout_stop(struct dash *d);
/* Subscribe a client to selectors given as a list "a{x="1"},b": errors go
 * to the client as error messages. mapping (may be NULL) gets each
 * selector as given (trimmed) -> its canonical text, which names it in
 * metrics messages. */
void dash_subscribe_series(struct dash_client *c, const char *list, size_t len, json_t *mapping);
/* Subscribe (on) or unsubscribe a client to a topic list "alert,anomaly"
 * or "*"; unknown topics are reported to the client. */
void dash_subscribe_topics(struct dash_client *c, const char *list, bool on);
/* Drop one subscription (by its canonical text), or all of them. */
void dash_unsubscribe_series(struct dash_client *c, const char *text);
void dash_unsubscribe_all(struct dash_client *c);
/* {"type":"subscribed","series":[...],"events":[...],"mapping":{...}}: the
 * client's subscriptions now, and what the last request's selectors became
 * (mapping may be NULL; its reference is taken). */
void dash_send_subscriptions(struct dash_client *c, json_t *mapping);
enum dash_rate dash_topic_rate(const char *topic);

/* snapshot.c */
void dash_on_snapshot(void *user, struct bm_http_req *req);

#endif
