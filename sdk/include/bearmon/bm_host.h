/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host API table: the only door from a plugin into bearmond. The host
 * stores a pointer to it in the plugin before init (descriptor host_slot);
 * plugins call the inline bm_* wrappers below, never the core directly.
 *
 * Threads: bearmond runs one main thread (the libevent loop: timers, fd
 * watches, HTTP handlers, lifecycle hooks), one collection thread per
 * collector instance (collect), and one delivery thread per subscription
 * unless it asks for on_loop delivery. Every call in this table is safe
 * from any of these threads unless its comment says otherwise.
 */
#ifndef BEARMON_BM_HOST_H
#define BEARMON_BM_HOST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bm_err.h"
#include "bm_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* syslog-compatible levels */
enum bm_log_level {
	BM_LOG_ERR = 3,
	BM_LOG_WARN = 4,
	BM_LOG_NOTICE = 5,
	BM_LOG_INFO = 6,
	BM_LOG_DEBUG = 7,
};

/* What a subscriber does when its bounded queue is full. */
enum bm_sub_policy {
	/* Drop the oldest queued event, count the drop, never slow the
	 * publisher. Default: analyzers, UI. */
	BM_SUB_DROP_OLDEST = 0,
	/* The publisher waits (bounded by block_timeout_ms) for room; when the
	 * wait runs out publish returns BM_EAGAIN to that publisher alone and
	 * the loss is counted against it. Each publisher gets a fair share of
	 * the queue, so one flooding plugin cannot hold it. For the store,
	 * remote write and notifiers' alert subscriptions. */
	BM_SUB_BLOCK = 1,
};

struct bm_sub_opts {
	size_t size;              /* sizeof(struct bm_sub_opts) */
	const char *topic;        /* exact topic, "*" for every topic, or
				   * BM_TOPIC_EVENTS for every topic but metric */
	enum bm_sub_policy policy;
	uint32_t queue_len;       /* events; 0 = host default (4096) */
	int64_t block_timeout_ms; /* BM_SUB_BLOCK: 0 = host default (1000) */
	bool on_loop;             /* deliver on the main thread, not a thread of
				   * the subscription's own */
};

/*
 * Called once per event, serially for one subscription (on its delivery
 * thread, or the main thread with on_loop). topic and body are borrowed
 * for the duration of the call; copy what you keep.
 */
typedef void (*bm_event_cb)(void *user, const char *topic, const void *body, size_t len);
/* Timer and fd callbacks run on the main thread: return quickly. */
typedef void (*bm_timer_cb)(void *user);
enum bm_fd_events { BM_FD_READ = 1, BM_FD_WRITE = 2 };
typedef void (*bm_fd_cb)(void *user, int fd, unsigned events);

/* Opaque handles; freed by the matching del/unsubscribe call or, at the
 * latest, by the host after the instance's stop hook. */
struct bm_sub;
struct bm_timer;
struct bm_fdwatch;
struct bm_http_req;
struct bm_metric_batch; /* bm_event.h */

/* Store queries (since 1.1). A matcher on label name (the metric name is
 * the label "__name__"); regular expressions are POSIX extended and
 * anchored, as in PromQL. An absent label matches the empty string. */
enum bm_match_op { BM_MATCH_EQ, BM_MATCH_NEQ, BM_MATCH_RE, BM_MATCH_NRE };
struct bm_matcher {
	const char *name;
	enum bm_match_op op;
	const char *value;
};
enum bm_agg { BM_AGG_AVG, BM_AGG_MIN, BM_AGG_MAX, BM_AGG_SUM, BM_AGG_COUNT, BM_AGG_LAST,
	      BM_AGG_INCREASE };
/* series: canonical text name{a="x",...}, borrowed for the call */
typedef void (*bm_series_cb)(void *user, int64_t series_id, const char *series);
typedef void (*bm_point_cb)(void *user, int64_t ts_ms, double v);

/*
 * PromQL results (since 1.2). The result type is Prometheus' resultType:
 * an instant query gives SCALAR (one call, no labels, one point), VECTOR
 * (one call per series, one point each, at the evaluation time), MATRIX
 * (a range selector like `x[5m]`: the raw samples) or STRING (one call,
 * str set, one point); a range query always gives MATRIX, one call per
 * series with a point per step that has a value (a scalar expression: one
 * series without labels).
 */
enum bm_promql_type { BM_PROMQL_SCALAR = 1, BM_PROMQL_VECTOR, BM_PROMQL_MATRIX, BM_PROMQL_STRING };
struct bm_label; /* bm_event.h */
struct bm_promql_series {
	enum bm_promql_type type;      /* the whole result's, the same in every call */
	const char *name;              /* metric name; NULL when dropped (rate(), a + b,
					* ...) and for scalars and strings */
	const struct bm_label *labels; /* sorted by name, __name__ not among them */
	uint32_t n_labels;
	const int64_t *ts_ms;          /* n points, oldest first */
	const double *v;
	size_t n;
	const char *str;               /* STRING only, else NULL */
};
/* Every pointer in s (and s itself) is borrowed for the call only: copy
 * what you keep. */
typedef void (*bm_promql_cb)(void *user, const struct bm_promql_series *s);

/*
 * HTTP handler: runs on the main thread and must answer with
 * bm_http_reply() before it returns. req and every string obtained from
 * it are valid until the reply.
 */
typedef void (*bm_http_cb)(void *user, struct bm_http_req *req);
enum bm_http_route_flags {
	BM_HTTP_PREFIX = 1u << 0, /* path matches itself and everything below */
	/* Where tokens exist, GET and HEAD need the read token and every other
	 * method the admin token; BM_HTTP_ADMIN says so explicitly for a route
	 * that changes state. */
	BM_HTTP_ADMIN = 1u << 1,
	/* since 1.2: the route changes nothing whatever the method (a query
	 * that also takes a POST form, as Prometheus' /api/v1/query does): the
	 * read token suffices for POST too */
	BM_HTTP_READONLY = 1u << 2,
};

struct bm_host_api {
	size_t api_size; /* sizeof(struct bm_host_api) in the host */
	uint16_t abi_major;
	uint16_t abi_minor;

	/* --- since 1.0: logging --- */
	/* Log with the [kind:plugin:instance] prefix; repeated identical lines
	 * are rate limited by the host. */
	void (*vlog)(struct bm_ctx *ctx, int level, const char *fmt, va_list ap);
	bool (*log_enabled)(struct bm_ctx *ctx, int level);

	/* --- since 1.0: memory that crosses the boundary --- */
	void *(*alloc)(size_t size); /* zeroed; NULL on failure */
	void (*free)(void *p);

	/* --- since 1.0: identity and time --- */
	const char *(*instance_name)(struct bm_ctx *ctx); /* valid until fini */
	const char *(*data_dir)(struct bm_ctx *ctx);      /* daemon data dir, valid until fini */
	int64_t (*now_ms)(struct bm_ctx *ctx);            /* wall clock, ms since epoch */
	int64_t (*interval_ms)(struct bm_ctx *ctx);       /* the instance's interval */

	/* --- since 1.0: event bus --- */
	/* Copy body and queue it for every subscriber of topic. Returns 0,
	 * BM_EAGAIN when a block-policy subscriber stayed full past its wait
	 * (the event still reached every other subscriber), BM_EINVAL. */
	int (*publish)(struct bm_ctx *ctx, const char *topic, const void *body, size_t len);
	/* Encode b as a `metric` event (bm_event.h) and publish it: what most
	 * collectors need, with nothing but the SDK headers. b is borrowed.
	 * Samples with ts_ms 0 get the current collection tick. */
	int (*publish_metrics)(struct bm_ctx *ctx, const struct bm_metric_batch *b);
	/* On success *out is the subscription; cb is never called on failure.
	 * Delivery starts at once. */
	int (*subscribe)(struct bm_ctx *ctx, const struct bm_sub_opts *opts, bm_event_cb cb,
			 void *user, struct bm_sub **out);
	/* Waits until no callback of sub runs, then frees it. Not from inside
	 * that subscription's own callback. */
	void (*unsubscribe)(struct bm_sub *sub);

	/* --- since 1.0: main-loop timers and fd watches --- */
	/* Repeating timer every interval_ms, first after interval_ms. */
	int (*timer_add)(struct bm_ctx *ctx, int64_t interval_ms, bm_timer_cb cb, void *user,
			 struct bm_timer **out);
	void (*timer_del)(struct bm_timer *t); /* main thread only */
	int (*fd_watch)(struct bm_ctx *ctx, int fd, unsigned events, bm_fd_cb cb, void *user,
			struct bm_fdwatch **out);
	void (*fd_unwatch)(struct bm_fdwatch *w); /* main thread only */

	/* --- since 1.0: HTTP routes on the core listener (main thread only) --- */
	/* path must start with "/"; BM_EEXIST when taken; BM_ENOTSUP when the
	 * daemon runs without HTTP (http.listen = ""): a plugin whose routes are
	 * an extra goes on without them. */
	int (*http_route)(struct bm_ctx *ctx, const char *path, unsigned flags, bm_http_cb cb,
			  void *user);
	const char *(*http_method)(struct bm_http_req *req); /* "GET", "POST", ... */
	const char *(*http_path)(struct bm_http_req *req);   /* decoded, no query */
	/* Decoded value of query parameter name, NULL when absent. */
	const char *(*http_query)(struct bm_http_req *req, const char *name);
	const char *(*http_header)(struct bm_http_req *req, const char *name);
	const void *(*http_body)(struct bm_http_req *req, size_t *len);
	int (*http_add_header)(struct bm_http_req *req, const char *name, const char *value);
	/* Send the answer; body is copied. Exactly once per request. */
	int (*http_reply)(struct bm_http_req *req, int status, const char *content_type,
			  const void *body, size_t len);

	/* --- since 1.0: self-metrics --- */
	/* Export *value as a series NAME{plugin=..., instance=...} on the
	 * host's self-metrics tick. value is read with relaxed atomic loads and
	 * must stay valid until the instance's stop returns. */
	int (*self_counter)(struct bm_ctx *ctx, const char *name, const char *help,
			    const uint64_t *value);
	int (*self_gauge)(struct bm_ctx *ctx, const char *name, const char *help,
			  const double *value);

	/* --- since 1.1: store queries (any thread; BM_ENOTSUP when the
	 * store is disabled). Series are identified by an id that is stable
	 * for the life of the database. Callbacks run during the call; the
	 * strings they get are borrowed for the callback only. --- */
	/* Series matching every matcher; returns the count or BM_E*. */
	long (*store_series)(struct bm_ctx *ctx, const struct bm_matcher *m, size_t n,
			     bm_series_cb cb, void *user);
	/* Raw samples of a series in [start_ms, end_ms], oldest first. */
	long (*store_raw)(struct bm_ctx *ctx, int64_t series_id, int64_t start_ms, int64_t end_ms,
			  bm_point_cb cb, void *user);
	/* One point per step window (aligned to multiples of step_ms, at the
	 * window's start) aggregated with agg, from the coarsest rollup tier
	 * whose bucket width divides step_ms (1 h, 1 min, else raw). */
	long (*store_range)(struct bm_ctx *ctx, int64_t series_id, int64_t start_ms, int64_t end_ms,
			    int64_t step_ms, enum bm_agg agg, bm_point_cb cb, void *user);
	/* The newest sample at or before at_ms within lookback_ms: 1 and *v,
	 * or 0 when there is none or the series went stale. */
	int (*store_instant)(struct bm_ctx *ctx, int64_t series_id, int64_t at_ms,
			     int64_t lookback_ms, double *v);

	/* --- since 1.2 --- */
	/* Take the connection of req away from the HTTP server, for a protocol
	 * upgrade (WebSocket): on success *fd is the connected socket, owned by
	 * the plugin from now on (set O_NONBLOCK, watch it with fd_watch, close
	 * it); the request counts as answered and the server writes nothing on
	 * the socket, so the plugin sends the whole upgrade response itself.
	 * Bytes the client sent after the request are lost (a WebSocket client
	 * waits for the 101 first). Main thread only, from the route's handler. */
	int (*http_takeover)(struct bm_http_req *req, int *fd);

	/* --- since 1.2: PromQL over the store (any thread; BM_ENOTSUP when
	 * the store is disabled) --- */
	/* Evaluate expr as Prometheus does: an instant query at start_ms when
	 * step_ms == 0 and start_ms == end_ms, else a range query from start_ms
	 * to end_ms every step_ms (step_ms > 0). cb gets each series of the
	 * result (struct bm_promql_series above), during the call. Returns the
	 * number of series, or BM_EINVAL (the expression does not parse, or bad
	 * arguments), BM_ERANGE (the query would load more samples or points
	 * than the daemon allows), BM_EPROTO (evaluation failed, e.g. a
	 * many-to-many vector match), BM_ENOMEM. err (may be NULL) gets the
	 * message, e.g. "1:10: parse error: unexpected end of input". */
	long (*promql)(struct bm_ctx *ctx, const char *expr, int64_t start_ms, int64_t end_ms,
		       int64_t step_ms, bm_promql_cb cb, void *user, char *err, size_t errlen);

	/* append new entries below, never reorder */
};

/* True when the host's table has field fn and it is set. */
#define BM_HOST_HAS(api, fn)                                                              \
	((api) != NULL &&                                                                 \
	 (api)->api_size >= offsetof(struct bm_host_api, fn) + sizeof((api)->fn) && (api)->fn)

/* ---------------------------------------------------------------------
 * Inline wrappers: plugin code reads bm_bus_publish(ctx, ...).
 * --------------------------------------------------------------------- */
static inline const struct bm_host_api *bm_host(void) { return bm__host_api; }

__attribute__((format(printf, 3, 4))) static inline void
bm_log(struct bm_ctx *ctx, int level, const char *fmt, ...)
{
	va_list ap;
	if (!bm__host_api->log_enabled(ctx, level))
		return;
	va_start(ap, fmt);
	bm__host_api->vlog(ctx, level, fmt, ap);
	va_end(ap);
}
#define bm_log_err(ctx, ...) bm_log((ctx), BM_LOG_ERR, __VA_ARGS__)
#define bm_log_warn(ctx, ...) bm_log((ctx), BM_LOG_WARN, __VA_ARGS__)
#define bm_log_notice(ctx, ...) bm_log((ctx), BM_LOG_NOTICE, __VA_ARGS__)
#define bm_log_info(ctx, ...) bm_log((ctx), BM_LOG_INFO, __VA_ARGS__)
#define bm_log_debug(ctx, ...) bm_log((ctx), BM_LOG_DEBUG, __VA_ARGS__)

static inline void *bm_alloc(size_t size) { return bm__host_api->alloc(size); }
static inline void bm_free(void *p) { bm__host_api->free(p); }
static inline const char *bm_instance_name(struct bm_ctx *ctx) { return bm__host_api->instance_name(ctx); }
static inline const char *bm_data_dir(struct bm_ctx *ctx) { return bm__host_api->data_dir(ctx); }
static inline int64_t bm_now_ms(struct bm_ctx *ctx) { return bm__host_api->now_ms(ctx); }
static inline int64_t bm_interval_ms(struct bm_ctx *ctx) { return bm__host_api->interval_ms(ctx); }

static inline int bm_bus_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	return bm__host_api->publish(ctx, topic, body, len);
}
static inline int bm_metrics_publish(struct bm_ctx *ctx, const struct bm_metric_batch *b)
{
	return bm__host_api->publish_metrics(ctx, b);
}
static inline int bm_bus_subscribe(struct bm_ctx *ctx, const struct bm_sub_opts *opts,
				   bm_event_cb cb, void *user, struct bm_sub **out)
{
	return bm__host_api->subscribe(ctx, opts, cb, user, out);
}
static inline void bm_bus_unsubscribe(struct bm_sub *sub) { bm__host_api->unsubscribe(sub); }

static inline int bm_timer_start(struct bm_ctx *ctx, int64_t interval_ms, bm_timer_cb cb,
				 void *user, struct bm_timer **out)
{
	return bm__host_api->timer_add(ctx, interval_ms, cb, user, out);
}
static inline void bm_timer_stop(struct bm_timer *t) { bm__host_api->timer_del(t); }
static inline int bm_fd_watch(struct bm_ctx *ctx, int fd, unsigned events, bm_fd_cb cb,
			      void *user, struct bm_fdwatch **out)
{
	return bm__host_api->fd_watch(ctx, fd, events, cb, user, out);
}
static inline void bm_fd_unwatch(struct bm_fdwatch *w) { bm__host_api->fd_unwatch(w); }

static inline int bm_http_route(struct bm_ctx *ctx, const char *path, unsigned flags,
				bm_http_cb cb, void *user)
{
	return bm__host_api->http_route(ctx, path, flags, cb, user);
}
static inline const char *bm_http_method(struct bm_http_req *r) { return bm__host_api->http_method(r); }
static inline const char *bm_http_path(struct bm_http_req *r) { return bm__host_api->http_path(r); }
static inline const char *bm_http_query(struct bm_http_req *r, const char *name)
{
	return bm__host_api->http_query(r, name);
}
static inline const char *bm_http_header(struct bm_http_req *r, const char *name)
{
	return bm__host_api->http_header(r, name);
}
static inline const void *bm_http_body(struct bm_http_req *r, size_t *len)
{
	return bm__host_api->http_body(r, len);
}
static inline int bm_http_add_header(struct bm_http_req *r, const char *name, const char *value)
{
	return bm__host_api->http_add_header(r, name, value);
}
static inline int bm_http_reply(struct bm_http_req *r, int status, const char *content_type,
				const void *body, size_t len)
{
	return bm__host_api->http_reply(r, status, content_type, body, len);
}

static inline int bm_http_takeover(struct bm_http_req *r, int *fd)
{
	if (!BM_HOST_HAS(bm__host_api, http_takeover))
		return BM_ENOTSUP;
	return bm__host_api->http_takeover(r, fd);
}

static inline long bm_promql(struct bm_ctx *ctx, const char *expr, int64_t start_ms,
			     int64_t end_ms, int64_t step_ms, bm_promql_cb cb, void *user, char *err,
			     size_t errlen)
{
	if (!BM_HOST_HAS(bm__host_api, promql)) {
		if (err && errlen)
			snprintf(err, errlen, "PromQL is not supported by this host");
		return BM_ENOTSUP;
	}
	return bm__host_api->promql(ctx, expr, start_ms, end_ms, step_ms, cb, user, err, errlen);
}

static inline long bm_store_series(struct bm_ctx *ctx, const struct bm_matcher *m, size_t n,
				   bm_series_cb cb, void *user)
{
	if (!BM_HOST_HAS(bm__host_api, store_series))
		return BM_ENOTSUP;
	return bm__host_api->store_series(ctx, m, n, cb, user);
}
static inline long bm_store_raw(struct bm_ctx *ctx, int64_t id, int64_t start_ms, int64_t end_ms,
				bm_point_cb cb, void *user)
{
	if (!BM_HOST_HAS(bm__host_api, store_raw))
		return BM_ENOTSUP;
	return bm__host_api->store_raw(ctx, id, start_ms, end_ms, cb, user);
}
static inline long bm_store_range(struct bm_ctx *ctx, int64_t id, int64_t start_ms, int64_t end_ms,
				  int64_t step_ms, enum bm_agg agg, bm_point_cb cb, void *user)
{
	if (!BM_HOST_HAS(bm__host_api, store_range))
		return BM_ENOTSUP;
	return bm__host_api->store_range(ctx, id, start_ms, end_ms, step_ms, agg, cb, user);
}
static inline int bm_store_instant(struct bm_ctx *ctx, int64_t id, int64_t at_ms,
				   int64_t lookback_ms, double *v)
{
	if (!BM_HOST_HAS(bm__host_api, store_instant))
		return BM_ENOTSUP;
	return bm__host_api->store_instant(ctx, id, at_ms, lookback_ms, v);
}

static inline int bm_self_counter(struct bm_ctx *ctx, const char *name, const char *help,
				  const uint64_t *value)
{
	return bm__host_api->self_counter(ctx, name, help, value);
}
static inline int bm_self_gauge(struct bm_ctx *ctx, const char *name, const char *help,
				const double *value)
{
	return bm__host_api->self_gauge(ctx, name, help, value);
}

#ifdef __cplusplus
}
#endif
#endif /* BEARMON_BM_HOST_H */
