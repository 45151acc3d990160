/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fake bus, timers, fd watches, HTTP and store over the fake host (see
 * dashhost.h). Single-threaded: the test delivers, fires and requests.
 */
#define _GNU_SOURCE
#include "dashhost.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "selector.h"

#define DH_MAX 64

struct bm_sub {
	char *topic;
	bm_event_cb cb;
	void *user;
	bool live;
};

struct bm_timer {
	int64_t ms;
	bm_timer_cb cb;
	void *user;
	bool live;
};

struct bm_fdwatch {
	int fd;
	unsigned events;
	bm_fd_cb cb;
	void *user;
	bool live;
};

struct dh_route {
	char *path;
	unsigned flags;
	bm_http_cb cb;
	void *user;
};

struct bm_http_req {
	const struct dh_request *rq;
	struct dh_response *resp;
	int nh;
};

struct dh_series {
	char *text;
	struct selector parts;
	int64_t *ts;
	double *v;
	size_t n;
};

static struct {
	struct bm_host_api api;
	struct bm_sub subs[DH_MAX];
	size_t n_subs;
	struct bm_timer timers[DH_MAX];
	size_t n_timers;
	struct bm_fdwatch *watches[4 * DH_MAX];
	size_t n_watches;
	struct dh_route routes[DH_MAX];
	size_t n_routes;
	struct dh_series series[DH_MAX];
	size_t n_series;
	bool tls, no_store;
} dh;

/* --- bus, timers, fds ------------------------------------------------------------ */

static int dh_subscribe(struct bm_ctx *ctx, const struct bm_sub_opts *o, bm_event_cb cb,
			void *user, struct bm_sub **out)
{
	(void)ctx;
	if (dh.n_subs == DH_MAX)
		return BM_ENOMEM;
	struct bm_sub *s = &dh.subs[dh.n_subs++];
	*s = (struct bm_sub){strdup(o->topic), cb, user, true};
	*out = s;
	return 0;
}

static void dh_unsubscribe(struct bm_sub *s)
{
	s->live = false;
}

static int dh_timer_add(struct bm_ctx *ctx, int64_t ms, bm_timer_cb cb, void *user,
			struct bm_timer **out)
{
	(void)ctx;
	if (dh.n_timers == DH_MAX || ms <= 0)
		return BM_EINVAL;
	struct bm_timer *t = &dh.timers[dh.n_timers++];
	*t = (struct bm_timer){ms, cb, user, true};
	*out = t;
	return 0;
}

static void dh_timer_del(struct bm_timer *t)
{
	t->live = false;
}

static int dh_fd_watch(struct bm_ctx *ctx, int fd, unsigned events, bm_fd_cb cb, void *user,
		       struct bm_fdwatch **out)
{
	(void)ctx;
	struct bm_fdwatch *w = calloc(1, sizeof(*w));
	if (!w || dh.n_watches == 4 * DH_MAX) {
		free(w);
		return BM_ENOMEM;
	}
	*w = (struct bm_fdwatch){fd, events, cb, user, true};
	dh.watches[dh.n_watches++] = w;
	*out = w;
	return 0;
}

static void dh_fd_unwatch(struct bm_fdwatch *w)
{
	w->live = false; /* freed by dh_reset: a callback may still be on the stack */
}

size_t dh_deliver(const char *topic, const void *body, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < dh.n_subs; i++) {
		struct bm_sub *s = &dh.subs[i];
		bool all_but_metric = strcmp(s->topic, BM_TOPIC_EVENTS) == 0 &&
				      strcmp(topic, BM_TOPIC_METRIC) != 0;
		if (s->live && (all_but_metric || strcmp(s->topic, topic) == 0 ||
				strcmp(s->topic, "*") == 0)) {
			s->cb(s->user, topic, body, len);
			n++;
		}
	}
	return n;
}

void dh_deliver_metrics(const struct bm_metric_batch *b)
{
	struct bm_buf buf = {0};
	if (bm_metric_batch_encode(b, &buf) == 0)
		dh_deliver(BM_TOPIC_METRIC, buf.data, buf.len);
	bm_buf_free(&buf);
}

void dh_fire_timers(int64_t interval_ms)
{
	for (size_t i = 0; i < dh.n_timers; i++)
		if (dh.timers[i].live && (!interval_ms || dh.timers[i].ms == interval_ms))
			dh.timers[i].cb(dh.timers[i].user);
}

size_t dh_n_subs(void)
{
	size_t n = 0;
	for (size_t i = 0; i < dh.n_subs; i++)
		n += dh.subs[i].live;
	return n;
}

size_t dh_fire_fd(int fd, unsigned events)
{
	size_t ran = 0;
	/* a callback may add watches: walk the ones present now */
	size_t n = dh.n_watches;
	for (size_t i = 0; i < n; i++) {
		struct bm_fdwatch *w = dh.watches[i];
		if (w->live && w->fd == fd && (w->events & events)) {
			w->cb(w->user, fd, w->events & events);
			ran++;
		}
	}
	return ran;
}

size_t dh_fire_all(unsigned events)
{
	size_t ran = 0, n = dh.n_watches;
	for (size_t i = 0; i < n; i++) {
		struct bm_fdwatch *w = dh.watches[i];
		if (w->live && (w->events & events)) {
			w->cb(w->user, w->fd, w->events & events);
			ran++;
		}
	}
	return ran;
}

int dh_watched_fd(size_t i, unsigned events)
{
	for (size_t k = 0; k < dh.n_watches; k++)
		if (dh.watches[k]->live && (dh.watches[k]->events & events) && i-- == 0)
			return dh.watches[k]->fd;
	return -1;
}

size_t dh_n_watches(int fd, unsigned events)
{
	size_t n = 0;
	for (size_t i = 0; i < dh.n_watches; i++)
		n += dh.watches[i]->live && dh.watches[i]->fd == fd && (dh.watches[i]->events & events);
	return n;
}

/* --- HTTP ---------------------------------------------------------------------- */

static int dh_route_add(struct bm_ctx *ctx, const char *path, unsigned flags, bm_http_cb cb,
			void *user)
{
	(void)ctx;
	for (size_t i = 0; i < dh.n_routes; i++)
		if (strcmp(dh.routes[i].path, path) == 0)
			return BM_EEXIST;
	if (dh.n_routes == DH_MAX)
		return BM_ENOMEM;
	dh.routes[dh.n_routes++] = (struct dh_route){strdup(path), flags, cb, user};
	return 0;
}

static const char *kv_get(const struct dh_kv *kv, size_t n, const char *k, bool nocase)
{
	for (size_t i = 0; i < n && kv[i].k; i++)
		if (nocase ? strcasecmp(kv[i].k, k) == 0 : strcmp(kv[i].k, k) == 0)
			return kv[i].v;
	return NULL;
}

static const char *dh_method(struct bm_http_req *r) { return r->rq->method ? r->rq->method : "GET"; }
static const char *dh_path(struct bm_http_req *r) { return r->rq->path; }
static const char *dh_query(struct bm_http_req *r, const char *n) { return kv_get(r->rq->query, 8, n, false); }
static const char *dh_hdr(struct bm_http_req *r, const char *n) { return kv_get(r->rq->headers, 16, n, true); }

static const void *dh_body(struct bm_http_req *r, size_t *len)
{
	*len = r->rq->body ? strlen(r->rq->body) : 0;
	return r->rq->body ? r->rq->body : "";
}

static int dh_add_header(struct bm_http_req *r, const char *name, const char *value)
{
	if (r->nh == 15)
		return BM_ENOMEM;
	r->resp->headers[r->nh++] = (struct dh_kv){strdup(name), strdup(value)};
	return 0;
}

static int dh_reply(struct bm_http_req *r, int status, const char *ct, const void *body, size_t len)
{
	if (r->resp->status)
		return BM_ESTATE;
	r->resp->status = status;
	snprintf(r->resp->content_type, sizeof(r->resp->content_type), "%s", ct ? ct : "");
	r->resp->body = malloc(len + 1);
	memcpy(r->resp->body, body ? body : "", len);
	r->resp->body[len] = '\0';
	r->resp->len = len;
	return 0;
}

static int dh_takeover(struct bm_http_req *r, int *fd)
{
	int sv[2];
	if (dh.tls)
		return BM_ENOTSUP;
	if (r->resp->status || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return BM_EINVAL;
	r->resp->status = 0;
	r->resp->peer_fd = sv[1];
	*fd = sv[0];
	return 0;
}

int dh_http(const struct dh_request *rq, struct dh_response *resp)
{
	const struct dh_route *best = NULL;
	size_t best_len = 0;
	memset(resp, 0, sizeof(*resp));
	resp->peer_fd = -1;
	for (size_t i = 0; i < dh.n_routes; i++) {
		const struct dh_route *rt = &dh.routes[i];
		size_t n = strlen(rt->path);
		if (strcmp(rt->path, rq->path) == 0) {
			best = rt;
			break;
		}
		if ((rt->flags & BM_HTTP_PREFIX) && strncmp(rt->path, rq->path, n) == 0 && n > best_len) {
			best = rt;
			best_len = n;
		}
	}
	if (!best)
		return resp->status = -1;
	struct bm_http_req r = {rq, resp, 0};
	best->cb(best->user, &r);
	return resp->status;
}

const char *dh_header(const struct dh_response *r, const char *name)
{
	return kv_get(r->headers, 16, name, true);
}

void dh_response_free(struct dh_response *r)
{
	for (size_t i = 0; i < 16 && r->headers[i].k; i++) {
		free((char *)r->headers[i].k);
		free((char *)r->headers[i].v);
	}
	free(r->body);
	if (r->peer_fd >= 0)
		close(r->peer_fd);
	memset(r, 0, sizeof(*r));
	r->peer_fd = -1;
}

void dh_set_tls(bool on)
{
	dh.tls = on;
}

/* --- store ---------------------------------------------------------------------- */

void dh_store_add(const char *series, const int64_t *ts, const double *v, size_t n)
{
	struct dh_series *s = &dh.series[dh.n_series++];
	size_t used;
	s->text = strdup(series);
	selector_parse(series, strlen(series), &s->parts, &used, NULL, 0);
	s->ts = malloc((n ? n : 1) * sizeof(*ts));
	s->v = malloc((n ? n : 1) * sizeof(*v));
	memcpy(s->ts, ts, n * sizeof(*ts));
	memcpy(s->v, v, n * sizeof(*v));
	s->n = n;
}

void dh_set_store(bool on)
{
	dh.no_store = !on;
}

static const char *series_label(const struct dh_series *s, const char *name)
{
	for (size_t i = 0; i < s->parts.n; i++)
		if (strcmp(s->parts.m[i].name, name) == 0)
			return s->parts.m[i].value;
	return "";
}

static bool matcher_ok(const struct dh_series *s, const struct bm_matcher *m)
{
	const char *v = series_label(s, m->name);
	if (m->op == BM_MATCH_EQ || m->op == BM_MATCH_NEQ)
		return (strcmp(v, m->value) == 0) == (m->op == BM_MATCH_EQ);
	char *re = NULL;
	regex_t rx;
	if (asprintf(&re, "^(%s)$", m->value) < 0 || regcomp(&rx, re, REG_EXTENDED | REG_NOSUB)) {
		free(re);
		return false;
	}
	bool hit = regexec(&rx, v, 0, NULL, 0) == 0;
	regfree(&rx);
	free(re);
	return hit == (m->op == BM_MATCH_RE);
}

static long dh_store_series(struct bm_ctx *ctx, const struct bm_matcher *m, size_t n,
			    bm_series_cb cb, void *user)
{
	(void)ctx;
	long count = 0;
	if (dh.no_store)
		return BM_ENOTSUP;
	for (size_t i = 0; i < dh.n_series; i++) {
		bool ok = true;
		for (size_t k = 0; k < n && ok; k++)
			ok = matcher_ok(&dh.series[i], &m[k]);
		if (ok) {
			cb(user, (int64_t)i + 1, dh.series[i].text);
			count++;
		}
	}
	return count;
}

static struct dh_series *by_id(int64_t id)
{
	return id >= 1 && (size_t)id <= dh.n_series ? &dh.series[id - 1] : NULL;
}

static long dh_store_raw(struct bm_ctx *ctx, int64_t id, int64_t start, int64_t end,
			 bm_point_cb cb, void *user)
{
	(void)ctx;
	struct dh_series *s = by_id(id);
	long n = 0;
	if (dh.no_store)
		return BM_ENOTSUP;
	for (size_t i = 0; s && i < s->n; i++)
		if (s->ts[i] >= start && s->ts[i] <= end) {
			cb(user, s->ts[i], s->v[i]);
			n++;
		}
	return s ? n : BM_ENOENT;
}

static int dh_store_instant(struct bm_ctx *ctx, int64_t id, int64_t at, int64_t lookback, double *v)
{
	(void)ctx;
	struct dh_series *s = by_id(id);
	if (dh.no_store)
		return BM_ENOTSUP;
	for (size_t i = s ? s->n : 0; i-- > 0;)
		if (s->ts[i] <= at) {
			if (at - s->ts[i] > lookback || bm_is_stale_nan(s->v[i]))
				return 0;
			*v = s->v[i];
			return 1;
		}
	return 0;
}

/* --- the table -------------------------------------------------------------------- */

void dh_reset(void)
{
	for (size_t i = 0; i < dh.n_subs; i++)
		free(dh.subs[i].topic);
	for (size_t i = 0; i < dh.n_watches; i++)
		free(dh.watches[i]);
	for (size_t i = 0; i < dh.n_routes; i++)
		free(dh.routes[i].path);
	for (size_t i = 0; i < dh.n_series; i++) {
		free(dh.series[i].text);
		selector_free(&dh.series[i].parts);
		free(dh.series[i].ts);
		free(dh.series[i].v);
	}
	memset(&dh, 0, sizeof(dh));
	fakehost_reset();
}

const struct bm_host_api *dh_api(void)
{
	dh_reset();
	dh.api = *fakehost_api();
	dh.api.subscribe = dh_subscribe;
	dh.api.unsubscribe = dh_unsubscribe;
	dh.api.timer_add = dh_timer_add;
	dh.api.timer_del = dh_timer_del;
	dh.api.fd_watch = dh_fd_watch;
	dh.api.fd_unwatch = dh_fd_unwatch;
	dh.api.http_route = dh_route_add;
	dh.api.http_method = dh_method;
	dh.api.http_path = dh_path;
	dh.api.http_query = dh_query;
	dh.api.http_header = dh_hdr;
	dh.api.http_body = dh_body;
	dh.api.http_add_header = dh_add_header;
	dh.api.http_reply = dh_reply;
	dh.api.http_takeover = dh_takeover;
	dh.api.store_series = dh_store_series;
	dh.api.store_raw = dh_store_raw;
	dh.api.store_instant = dh_store_instant;
	return &dh.api;
}
