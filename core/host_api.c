/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host API table: each entry checks its arguments, acts for the calling
 * instance (struct bm_ctx is struct bm_ctx) and records what the plugin
 * registered so the host can remove it after stop.
 */
#include "host_api.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_event.h"
#include "bus.h"
#include "daemon.h"
#include "http.h"
#include "instance.h"
#include "log.h"
#include "prom_api.h"
#include "store.h"
#include "staleness.h"
#include "store_api.h"

struct bm_timer {
	struct bm_ctx *in;
	struct event *ev;
	bm_timer_cb cb;
	void *user;
};

struct bm_fdwatch {
	struct bm_ctx *in;
	struct event *ev;
	bm_fd_cb cb;
	void *user;
};

static void h_vlog(struct bm_ctx *ctx, int level, const char *fmt, va_list ap)
{
	log_vmsg(ctx ? ctx->prefix : NULL, level, fmt, ap);
}

static bool h_log_enabled(struct bm_ctx *ctx, int level)
{
	(void)ctx;
	return log_enabled(level);
}

static void *h_alloc(size_t size) { return calloc(1, size ? size : 1); }
static void h_free(void *p) { free(p); }
static const char *h_instance_name(struct bm_ctx *ctx) { return ctx->name; }
static const char *h_data_dir(struct bm_ctx *ctx) { return ctx->data_dir; }
static int64_t h_now_ms(struct bm_ctx *ctx)
{
	(void)ctx;
	return wall_ms();
}
static int64_t h_interval_ms(struct bm_ctx *ctx) { return ctx->interval_ms; }

static int h_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	return bus_publish(ctx->d->bus, ctx->publisher, topic, body, len);
}

/* The tick default for ts_ms 0 needs a copy of the samples: done in
 * chunks so that a big batch does not need a big allocation. */
static int h_publish_metrics(struct bm_ctx *ctx, const struct bm_metric_batch *b)
{
	if (!b || (b->n_samples && !b->samples))
		return BM_EINVAL;
	struct bm_buf buf = {0};
	struct bm_sample chunk[256];
	struct bm_metric_batch part = *b;
	int64_t tick = __atomic_load_n(&ctx->tick_ms, __ATOMIC_RELAXED);
	if (!tick)
		tick = wall_ms();
	int rc = 0;
	/* what collect() publishes on its own thread takes part in staleness */
	bool noted = ctx->stale && __atomic_load_n(&ctx->collecting, __ATOMIC_RELAXED) &&
		     pthread_equal(pthread_self(), ctx->sched.thread);
	for (size_t off = 0; off < b->n_samples || (off == 0 && b->n_meta); off += 256) {
		size_t n = b->n_samples - off < 256 ? b->n_samples - off : 256;
		for (size_t i = 0; i < n; i++) {
			chunk[i] = b->samples[off + i];
			if (!chunk[i].ts_ms)
				chunk[i].ts_ms = tick;
			if (noted)
				stale_note(ctx->stale, &chunk[i]);
		}
		part.samples = chunk;
		part.n_samples = n;
		part.source = b->source ? b->source : ctx->name;
		if (off > 0)
			part.n_meta = 0; /* metadata travels once */
		rc = bm_metric_batch_encode(&part, &buf);
		if (!rc)
			rc = bus_publish(ctx->d->bus, ctx->publisher, BM_TOPIC_METRIC, buf.data, buf.len);
		if (rc || n == 0)
			break;
	}
	bm_buf_free(&buf);
	return rc;
}

/* Record a resource in one of the instance's lists (under its lock). */
static int track(struct bm_ctx *in, struct ptrlist *l, void *p)
{
	pthread_mutex_lock(&in->res_lock);
	int rc = ptrlist_add(l, p);
	pthread_mutex_unlock(&in->res_lock);
	return rc;
}

/* Forget a resource; false when it was not (or no longer) the instance's. */
static bool untrack(struct bm_ctx *in, struct ptrlist *l, void *p)
{
	pthread_mutex_lock(&in->res_lock);
	bool mine = ptrlist_remove(l, p);
	pthread_mutex_unlock(&in->res_lock);
	return mine;
}

static int h_subscribe(struct bm_ctx *ctx, const struct bm_sub_opts *opts, bm_event_cb cb,
		       void *user, struct bm_sub **out)
{
	struct bm_sub_opts o = {0};
	if (!opts || !out)
		return BM_EINVAL;
	memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
	o.size = sizeof(o);
	if (!o.queue_len)
		o.queue_len = (uint32_t)ctx->d->cfg->core.bus.queue_len;
	if (!o.block_timeout_ms)
		o.block_timeout_ms = ctx->d->cfg->core.bus.block_timeout_ms;
	int rc = bus_subscribe(ctx->d->bus, ctx->name, &o, cb, user, out);
	if (rc)
		return rc;
	bus_sub_set_tag(*out, ctx);
	rc = track(ctx, &ctx->subs, *out);
	if (rc)
		bus_unsubscribe(*out);
	return rc;
}

/* Removes the subscription from its instance's list, then frees it. */
static void h_unsubscribe(struct bm_sub *sub)
{
	if (!sub)
		return;
	struct bm_ctx *in = bus_sub_tag(sub);
	if (untrack(in, &in->subs, sub))
		bus_unsubscribe(sub);
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bm_timer *t = arg;
	t->cb(t->user);
}

static int h_timer_add(struct bm_ctx *ctx, int64_t interval_ms, bm_timer_cb cb, void *user,
		       struct bm_timer **out)
{
	if (interval_ms <= 0 || !cb || !out)
		return BM_EINVAL;
	struct bm_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return BM_ENOMEM;
	t->in = ctx;
	t->cb = cb;
	t->user = user;
	t->ev = event_new(ctx->d->loop, -1, EV_PERSIST, timer_fire, t);
	struct timeval tv = {.tv_sec = interval_ms / 1000, .tv_usec = (interval_ms % 1000) * 1000};
	if (!t->ev || event_add(t->ev, &tv)) {
		host_timer_free(t);
		return BM_ENOMEM;
	}
	int rc = track(ctx, &ctx->timers, t);
	if (rc) {
		host_timer_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void host_timer_free(struct bm_timer *t)
{
	if (t->ev)
		event_free(t->ev);
	free(t);
}

static void h_timer_del(struct bm_timer *t)
{
	if (!t)
		return;
	if (untrack(t->in, &t->in->timers, t))
		host_timer_free(t);
}

static void fd_fire(evutil_socket_t fd, short what, void *arg)
{
	struct bm_fdwatch *w = arg;
	unsigned ev = ((what & EV_READ) ? BM_FD_READ : 0) | ((what & EV_WRITE) ? BM_FD_WRITE : 0);
	w->cb(w->user, fd, ev);
}

static int h_fd_watch(struct bm_ctx *ctx, int fd, unsigned events, bm_fd_cb cb, void *user,
		      struct bm_fdwatch **out)
{
	if (fd < 0 || !cb || !out || !(events & (BM_FD_READ | BM_FD_WRITE)))
		return BM_EINVAL;
	struct bm_fdwatch *w = calloc(1, sizeof(*w));
	if (!w)
		return BM_ENOMEM;
	w->in = ctx;
	w->cb = cb;
	w->user = user;
	short what = EV_PERSIST | ((events & BM_FD_READ) ? EV_READ : 0) |
		     ((events & BM_FD_WRITE) ? EV_WRITE : 0);
	w->ev = event_new(ctx->d->loop, fd, what, fd_fire, w);
	if (!w->ev || event_add(w->ev, NULL)) {
		host_fdwatch_free(w);
		return BM_ENOMEM;
	}
	int rc = track(ctx, &ctx->fdws, w);
	if (rc) {
		host_fdwatch_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void host_fdwatch_free(struct bm_fdwatch *w)
{
	if (w->ev)
		event_free(w->ev);
	free(w);
}

static void h_fd_unwatch(struct bm_fdwatch *w)
{
	if (!w)
		return;
	if (untrack(w->in, &w->in->fdws, w))
		host_fdwatch_free(w);
}

static int h_http_route(struct bm_ctx *ctx, const char *path, unsigned flags, bm_http_cb cb,
			void *user)
{
	if (!ctx->d->http)
		return BM_ENOTSUP;
	return http_add_route(ctx->d->http, ctx, path, flags, cb, user);
}

static int add_self_metric(struct bm_ctx *ctx, const char *name, const char *help, bool counter,
			   const void *value)
{
	if (!name || !*name || !value)
		return BM_EINVAL;
	pthread_mutex_lock(&ctx->res_lock);
	int rc = BM_ENOMEM;
	struct self_metric *v = realloc(ctx->sms, (ctx->n_sms + 1) * sizeof(*v));
	if (v) {
		ctx->sms = v;
		struct self_metric *m = &v[ctx->n_sms];
		m->name = strdup(name);
		m->help = strdup(help ? help : "");
		m->is_counter = counter;
		m->value = value;
		if (m->name && m->help) {
			ctx->n_sms++;
			rc = 0;
		} else {
			free(m->name);
			free(m->help);
		}
	}
	pthread_mutex_unlock(&ctx->res_lock);
	return rc;
}

static int h_self_counter(struct bm_ctx *ctx, const char *name, const char *help,
			  const uint64_t *value)
{
	return add_self_metric(ctx, name, help, true, value);
}

static int h_self_gauge(struct bm_ctx *ctx, const char *name, const char *help, const double *value)
{
	return add_self_metric(ctx, name, help, false, value);
}

/* Store queries: the core's store functions take the SDK's matcher and
 * aggregation types as they are. */
static long h_store_series(struct bm_ctx *ctx, const struct bm_matcher *m, size_t n,
			   bm_series_cb cb, void *user)
{
	struct store *s = store_of(ctx->d);
	if (!s)
		return BM_ENOTSUP;
	if ((n && !m) || !cb)
		return BM_EINVAL;
	return store_series(s, m, n, cb, user);
}

static long h_store_raw(struct bm_ctx *ctx, int64_t id, int64_t start_ms, int64_t end_ms,
			bm_point_cb cb, void *user)
{
	struct store *s = store_of(ctx->d);
	if (!s)
		return BM_ENOTSUP;
	return cb ? store_raw(s, id, start_ms, end_ms, cb, user) : BM_EINVAL;
}

static long h_store_range(struct bm_ctx *ctx, int64_t id, int64_t start_ms, int64_t end_ms,
			  int64_t step_ms, enum bm_agg agg, bm_point_cb cb, void *user)
{
	struct store *s = store_of(ctx->d);
	if (!s)
		return BM_ENOTSUP;
	return cb ? store_range(s, id, start_ms, end_ms, step_ms, agg, NULL, cb, user) : BM_EINVAL;
}

static int h_store_instant(struct bm_ctx *ctx, int64_t id, int64_t at_ms, int64_t lookback_ms,
			   double *v)
{
	struct store *s = store_of(ctx->d);
	if (!s)
		return BM_ENOTSUP;
	return v ? store_instant(s, id, at_ms, lookback_ms, v) : BM_EINVAL;
}

static long h_promql(struct bm_ctx *ctx, const char *expr, int64_t start_ms, int64_t end_ms,
		     int64_t step_ms, bm_promql_cb cb, void *user, char *err, size_t errlen)
{
	return prom_api_query(ctx->d, expr, start_ms, end_ms, step_ms, cb, user, err, errlen);
}

static const struct bm_host_api host_api = {
	.api_size = sizeof(struct bm_host_api),
	.abi_major = BM_ABI_MAJOR,
	.abi_minor = BM_ABI_MINOR,
	.vlog = h_vlog,
	.log_enabled = h_log_enabled,
	.alloc = h_alloc,
	.free = h_free,
	.instance_name = h_instance_name,
	.data_dir = h_data_dir,
	.now_ms = h_now_ms,
	.interval_ms = h_interval_ms,
	.publish = h_publish,
	.publish_metrics = h_publish_metrics,
	.subscribe = h_subscribe,
	.unsubscribe = h_unsubscribe,
	.timer_add = h_timer_add,
	.timer_del = h_timer_del,
	.fd_watch = h_fd_watch,
	.fd_unwatch = h_fd_unwatch,
	.http_route = h_http_route,
	.http_method = http_req_method,
	.http_path = http_req_path,
	.http_query = http_req_query,
	.http_header = http_req_header,
	.http_body = http_req_body,
	.http_add_header = http_req_add_header,
	.http_reply = http_req_reply,
	.self_counter = h_self_counter,
	.self_gauge = h_self_gauge,
	.store_series = h_store_series,
	.store_raw = h_store_raw,
	.store_range = h_store_range,
	.store_instant = h_store_instant,
	.http_takeover = http_req_takeover,
	.promql = h_promql,
};

const struct bm_host_api *host_api_table(void) { return &host_api; }
