/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test host of the notifier unit tests (all five plugins and notify.c): the
 * fake host's table with a data_dir of the test's own, the wall clock, a
 * subscribe that hands the alert callback to the test, a publish that keeps
 * the notification events, alert builders, and a one-connection-at-a-time
 * HTTP server on loopback that answers with a chosen status.
 */
#ifndef BEARMON_NOTIFYHOST_H
#define BEARMON_NOTIFYHOST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/tests/loopback.h"
#include "notify.h"
#include "plugintest.h"

#define NH_MAX_EVENTS 512

/* One notification event, copied. */
struct nh_event {
	char notifier[96];
	char receiver[256];
	char fingerprints[256]; /* comma separated */
	char error[256];
	enum bm_alert_state state;
	enum bm_notify_outcome outcome;
	uint32_t attempt;
	int64_t status_code;
	int64_t next_retry_ms;
	size_t n_fingerprints;
};

static struct {
	struct bm_host_api api;
	char dir[128];
	pthread_mutex_t lock;
	bm_event_cb cb; /* the alert subscription */
	void *user;
	struct nh_event ev[NH_MAX_EVENTS];
	size_t n_ev;
	struct bm_arena arena;
	int subscribed;
} nh = {.lock = PTHREAD_MUTEX_INITIALIZER};

static inline int nh_subscribe(struct bm_ctx *ctx, const struct bm_sub_opts *o, bm_event_cb cb,
			void *user, struct bm_sub **out)
{
	(void)ctx;
	assert_string_equal(o->topic, BM_TOPIC_ALERT);
	assert_int_equal(o->policy, BM_SUB_BLOCK);
	pthread_mutex_lock(&nh.lock);
	nh.cb = cb;
	nh.user = user;
	nh.subscribed++;
	pthread_mutex_unlock(&nh.lock);
	*out = (struct bm_sub *)&nh;
	return 0;
}

static inline void nh_unsubscribe(struct bm_sub *sub)
{
	(void)sub;
	pthread_mutex_lock(&nh.lock);
	nh.cb = NULL;
	pthread_mutex_unlock(&nh.lock);
}

static inline int nh_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	struct bm_notification_event e;
	(void)ctx;
	assert_string_equal(topic, BM_TOPIC_NOTIFICATION);
	pthread_mutex_lock(&nh.lock);
	bm_arena_reset(&nh.arena);
	assert_int_equal(bm_notification_decode(body, len, &e, &nh.arena), 0);
	assert_true(nh.n_ev < NH_MAX_EVENTS);
	struct nh_event *x = &nh.ev[nh.n_ev];
	memset(x, 0, sizeof(*x));
	snprintf(x->notifier, sizeof(x->notifier), "%s", e.notifier);
	snprintf(x->receiver, sizeof(x->receiver), "%s", e.receiver ? e.receiver : "");
	snprintf(x->error, sizeof(x->error), "%s", e.error ? e.error : "");
	for (size_t i = 0; i < e.n_fingerprints; i++) {
		size_t k = strlen(x->fingerprints);
		snprintf(x->fingerprints + k, sizeof(x->fingerprints) - k, "%s%s", i ? "," : "",
			 e.fingerprints[i]);
	}
	x->state = e.alert_state;
	x->outcome = e.outcome;
	x->attempt = e.attempt;
	x->status_code = e.status_code;
	x->next_retry_ms = e.next_retry_ms;
	x->n_fingerprints = e.n_fingerprints;
	nh.n_ev++;
	pthread_mutex_unlock(&nh.lock);
	return 0;
}

static inline const char *nh_data_dir(struct bm_ctx *ctx)
{
	(void)ctx;
	return nh.dir;
}

/* Point the SDK wrappers at the test host, with a fresh data dir. */
static inline void nh_open(void)
{
	nh.api = *fakehost_api();
	nh.api.subscribe = nh_subscribe;
	nh.api.unsubscribe = nh_unsubscribe;
	nh.api.publish = nh_publish;
	nh.api.data_dir = nh_data_dir;
	nh.api.now_ms = lb_wall_ms;
	bm__host_api = &nh.api;
	nh.n_ev = 0;
	nh.cb = NULL;
	nh.subscribed = 0;
	pt_mkdtemp(nh.dir, sizeof(nh.dir), "bm-notify-");
}

static inline void nh_close(void)
{
	pt_rm_tree(nh.dir);
	bm_arena_free(&nh.arena);
	fakehost_reset();
}

static inline size_t nh_n_events(void)
{
	pthread_mutex_lock(&nh.lock);
	size_t n = nh.n_ev;
	pthread_mutex_unlock(&nh.lock);
	return n;
}

/* A copy of event i. */
static inline struct nh_event nh_event(size_t i)
{
	pthread_mutex_lock(&nh.lock);
	assert_true(i < nh.n_ev);
	struct nh_event e = nh.ev[i];
	pthread_mutex_unlock(&nh.lock);
	return e;
}

/* Events with this outcome so far. */
static inline size_t nh_count(enum bm_notify_outcome o)
{
	size_t n = 0;
	pthread_mutex_lock(&nh.lock);
	for (size_t i = 0; i < nh.n_ev; i++)
		n += nh.ev[i].outcome == o;
	pthread_mutex_unlock(&nh.lock);
	return n;
}

/* Wait (polling, up to 20 s: a bound for hangs, not a timing check) until
 * at least n events of outcome o arrived. */
static inline void nh_wait_outcome(enum bm_notify_outcome o, size_t n)
{
	for (int i = 0; i < 4000 && nh_count(o) < n; i++)
		usleep(5000);
	if (nh_count(o) < n)
		fail_msg("waited for %zu events of outcome %d, got %zu", n, o, nh_count(o));
}

/* The path of the notifier queue of instance "test" (the fake host's name). */
static inline void nh_queue_dir(char *out, size_t n)
{
	snprintf(out, n, "%s/notify/test", nh.dir);
}

/* Files *.alert in the queue dir. */
static inline size_t nh_queue_files(void)
{
	char dir[256], cmd[400];
	nh_queue_dir(dir, sizeof(dir));
	snprintf(cmd, sizeof(cmd), "ls %s 2>/dev/null | grep -c '\\.alert$'", dir);
	FILE *p = popen(cmd, "r");
	int k = 0;
	assert_non_null(p);
	if (fscanf(p, "%d", &k) != 1)
		k = 0;
	pclose(p);
	return (size_t)k;
}

/* An alert event: fingerprint fp, alertname name, state st; labels sorted. */
struct nh_alert {
	struct bm_label labels[4];
	struct bm_kv ann[2];
	struct bm_alert_event e;
};

static inline void nh_alert_init(struct nh_alert *a, const char *name, const char *fp,
			  enum bm_alert_state st)
{
	memset(a, 0, sizeof(*a));
	a->labels[0] = (struct bm_label){"alertname", name};
	a->labels[1] = (struct bm_label){"instance", "host-1"};
	a->labels[2] = (struct bm_label){"severity", "critical"};
	a->ann[0] = (struct bm_kv){"summary", "disk almost full"};
	a->ann[1] = (struct bm_kv){"runbook_url", "http://runbooks/disk"};
	a->e = (struct bm_alert_event){
		.ts_ms = 1700000060000, .rule_id = "r1", .rule_name = name, .fingerprint = fp,
		.state = st, .severity = BM_SEV_CRITICAL, .labels = a->labels, .n_labels = 3,
		.annotations = a->ann, .n_annotations = 2, .value = 93.5, .threshold = 90,
		.active_since_ms = 1700000000000, .fired_at_ms = 1700000030000,
		.resolved_at_ms = st == BM_ALERT_RESOLVED ? 1700000060000 : 0,
		.generator_url = "http://bearmon/rules/r1",
	};
}

/* m[key] = value, in memory the conf release frees. */
static inline void nh_map_add(struct bm_map *m, const char *key, const char *value)
{
	m->keys = realloc(m->keys, (m->n + 1) * sizeof(*m->keys));
	m->values = realloc(m->values, (m->n + 1) * sizeof(*m->values));
	assert_non_null(m->keys);
	assert_non_null(m->values);
	m->keys[m->n] = strdup(key);
	m->values[m->n++] = strdup(value);
}

/* Empty m (the conf release frees the arrays). */
static inline void nh_map_clear(struct bm_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	m->n = 0;
}

/* A JSON array of the alerts named by fingerprints fp (all firing). */
static inline json_t *nh_alerts(const char *name, size_t n, const char *const *fps);

/* The alert's JSON form, as the queue holds it. */
static inline json_t *nh_alert_json(const char *name, const char *fp, enum bm_alert_state st)
{
	struct nh_alert a;
	nh_alert_init(&a, name, fp, st);
	json_t *j = notify_alert_json(&a.e);
	assert_non_null(j);
	return j;
}

static inline json_t *nh_alerts(const char *name, size_t n, const char *const *fps)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		assert_int_equal(json_array_append_new(arr, nh_alert_json(name, fps[i], BM_ALERT_FIRING)), 0);
	return arr;
}

/* Publish e to the subscribed notifier as the bus would. */
static inline void nh_publish_alert(const struct bm_alert_event *e)
{
	struct bm_buf b = {0};
	assert_int_equal(bm_alert_encode(e, &b), 0);
	pthread_mutex_lock(&nh.lock);
	bm_event_cb cb = nh.cb;
	void *user = nh.user;
	pthread_mutex_unlock(&nh.lock);
	assert_non_null(cb);
	cb(user, BM_TOPIC_ALERT, b.data, b.len);
	bm_buf_free(&b);
}

/* ---------------------------------------------------------------------
 * A loopback HTTP server: answers every request with status; keeps the
 * last request's head and body.
 * --------------------------------------------------------------------- */
struct nh_http {
	int fd;
	int port;
	int status;
	pthread_t thread;
	pthread_mutex_t lock;
	int requests;
	char head[4096];
	char body[65536];
};

static inline void nh_http_serve_one(struct nh_http *s, int c)
{
	char buf[sizeof(s->head) + sizeof(s->body)];
	size_t len = 0;
	char *end = NULL;
	ssize_t r;
	while (len < sizeof(buf) - 1 && (r = read(c, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		const char *cl = strcasestr(buf, "Content-Length:");
		if (end && (!cl || len >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10)))
			break;
	}
	pthread_mutex_lock(&s->lock);
	s->requests++;
	if (end) {
		snprintf(s->head, sizeof(s->head), "%.*s", (int)(end - buf), buf);
		snprintf(s->body, sizeof(s->body), "%s", end + 4);
	}
	int status = s->status;
	pthread_mutex_unlock(&s->lock);
	char reply[160];
	int n = snprintf(reply, sizeof(reply),
			 "HTTP/1.1 %d X\r\nContent-Length: 7\r\nConnection: close\r\n\r\nanswerd", status);
	if (write(c, reply, (size_t)n) < 0)
		perror("nh_http write");
	close(c);
}

static inline void *nh_http_main(void *arg)
{
	struct nh_http *s = arg;
	int c;
	while ((c = accept(s->fd, NULL, NULL)) >= 0)
		nh_http_serve_one(s, c);
	return NULL;
}

static inline void nh_http_start(struct nh_http *s, int status)
{
	memset(s, 0, sizeof(*s));
	s->status = status;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = lb_socket(16, &s->port);
	assert_int_equal(pthread_create(&s->thread, NULL, nh_http_main, s), 0);
}

static inline void nh_http_stop(struct nh_http *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
}

/* A loopback port where nothing listens (bound, never listening). */
static inline int nh_dead_port(int *fd)
{
	int port;
	*fd = lb_socket(0, &port);
	return port;
}

#endif
