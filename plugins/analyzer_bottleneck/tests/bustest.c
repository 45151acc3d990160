/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fake bus, timers and HTTP routes over the fake host (see bustest.h).
 * Single-threaded: the test delivers events and fires timers itself.
 */
#define _GNU_SOURCE
#include "bustest.h"

#include <stdlib.h>
#include <string.h>

#define BT_MAX 16

struct bm_sub {
	char *topic;
	bm_event_cb cb;
	void *user;
	bool on_loop;
	bool live;
};

struct bm_timer {
	bm_timer_cb cb;
	void *user;
	bool live;
};

struct bt_route {
	char *path;
	bm_http_cb cb;
	void *user;
};

struct bm_http_req {
	const char *method;
	const char *path;
	const char *key;
	const char *value;
	int status;
	char *body;
};

struct bt_event {
	char *topic;
	void *body;
	size_t len;
};

static struct {
	struct bm_host_api api;
	struct bm_sub subs[BT_MAX];
	size_t n_subs;
	struct bm_timer timers[BT_MAX];
	size_t n_timers;
	struct bt_route routes[BT_MAX];
	size_t n_routes;
	struct bt_event *ev;
	size_t n_ev;
} bt;

static int bt_subscribe(struct bm_ctx *ctx, const struct bm_sub_opts *o, bm_event_cb cb, void *user,
			struct bm_sub **out)
{
	if (bt.n_subs == BT_MAX)
		return BM_ENOMEM;
	struct bm_sub *s = &bt.subs[bt.n_subs++];
	*s = (struct bm_sub){strdup(o->topic), cb, user, o->on_loop, true};
	*out = s;
	return 0;
}

static void bt_unsubscribe(struct bm_sub *s)
{
	s->live = false;
}

static int bt_timer_add(struct bm_ctx *ctx, int64_t ms, bm_timer_cb cb, void *user,
			struct bm_timer **out)
{
	if (bt.n_timers == BT_MAX || ms <= 0)
		return BM_EINVAL;
	struct bm_timer *t = &bt.timers[bt.n_timers++];
	*t = (struct bm_timer){cb, user, true};
	*out = t;
	return 0;
}

static void bt_timer_del(struct bm_timer *t)
{
	t->live = false;
}

static int bt_route(struct bm_ctx *ctx, const char *path, unsigned flags, bm_http_cb cb, void *user)
{
	for (size_t i = 0; i < bt.n_routes; i++)
		if (strcmp(bt.routes[i].path, path) == 0)
			return BM_EEXIST;
	if (bt.n_routes == BT_MAX)
		return BM_ENOMEM;
	bt.routes[bt.n_routes++] = (struct bt_route){strdup(path), cb, user};
	return 0;
}

static const char *bt_method(struct bm_http_req *r)
{
	return r->method;
}

static const char *bt_path(struct bm_http_req *r)
{
	return r->path;
}

static const char *bt_query(struct bm_http_req *r, const char *name)
{
	return r->key && strcmp(r->key, name) == 0 ? r->value : NULL;
}

static int bt_reply(struct bm_http_req *r, int status, const char *type, const void *body,
		    size_t len)
{
	r->status = status;
	r->body = strndup(body, len);
	return 0;
}

static int bt_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	struct bt_event *ev = realloc(bt.ev, (bt.n_ev + 1) * sizeof(*ev));
	if (!ev)
		return BM_ENOMEM;
	bt.ev = ev;
	ev[bt.n_ev++] = (struct bt_event){strdup(topic), malloc(len ? len : 1), len};
	memcpy(ev[bt.n_ev - 1].body, body, len);
	return 0;
}

void bt_clear_events(void)
{
	for (size_t i = 0; i < bt.n_ev; i++) {
		free(bt.ev[i].topic);
		free(bt.ev[i].body);
	}
	free(bt.ev);
	bt.ev = NULL;
	bt.n_ev = 0;
}

void bt_reset(void)
{
	bt_clear_events();
	for (size_t i = 0; i < bt.n_subs; i++)
		free(bt.subs[i].topic);
	for (size_t i = 0; i < bt.n_routes; i++)
		free(bt.routes[i].path);
	bt.n_subs = bt.n_timers = bt.n_routes = 0;
}

const struct bm_host_api *bt_api(void)
{
	bt_reset();
	bt.api = *fakehost_api();
	bt.api.subscribe = bt_subscribe;
	bt.api.unsubscribe = bt_unsubscribe;
	bt.api.timer_add = bt_timer_add;
	bt.api.timer_del = bt_timer_del;
	bt.api.http_route = bt_route;
	bt.api.http_method = bt_method;
	bt.api.http_path = bt_path;
	bt.api.http_query = bt_query;
	bt.api.http_reply = bt_reply;
	bt.api.publish = bt_publish;
	return &bt.api;
}

size_t bt_deliver(const char *topic, const void *body, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < bt.n_subs; i++) {
		struct bm_sub *s = &bt.subs[i];
		if (s->live && (strcmp(s->topic, topic) == 0 || strcmp(s->topic, "*") == 0)) {
			s->cb(s->user, topic, body, len);
			n++;
		}
	}
	return n;
}

void bt_deliver_metrics(const struct bm_metric_batch *b)
{
	struct bm_buf buf = {0};
	if (bm_metric_batch_encode(b, &buf) == 0)
		bt_deliver(BM_TOPIC_METRIC, buf.data, buf.len);
	bm_buf_free(&buf);
}

void bt_fire_timers(void)
{
	for (size_t i = 0; i < bt.n_timers; i++)
		if (bt.timers[i].live)
			bt.timers[i].cb(bt.timers[i].user);
}

size_t bt_n_subs(void)
{
	return bt.n_subs;
}

const char *bt_sub_topic(size_t i, bool *on_loop)
{
	*on_loop = bt.subs[i].on_loop;
	return bt.subs[i].topic;
}

int bt_http(const char *method, const char *path, const char *key, const char *value, char **body)
{
	for (size_t i = 0; i < bt.n_routes; i++) {
		if (strcmp(bt.routes[i].path, path) != 0)
			continue;
		struct bm_http_req r = {method, path, key, value, -1, NULL};
		bt.routes[i].cb(bt.routes[i].user, &r);
		*body = r.body;
		return r.status;
	}
	*body = NULL;
	return -1;
}

size_t bt_count(const char *topic)
{
	size_t n = 0;
	for (size_t i = 0; i < bt.n_ev; i++)
		n += strcmp(bt.ev[i].topic, topic) == 0;
	return n;
}

const void *bt_event(const char *topic, size_t i, size_t *len)
{
	for (size_t k = 0; k < bt.n_ev; k++) {
		if (strcmp(bt.ev[k].topic, topic) != 0)
			continue;
		if (i-- == 0) {
			*len = bt.ev[k].len;
			return bt.ev[k].body;
		}
	}
	*len = 0;
	return NULL;
}
