/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test host of the remote_write unit tests: the fake host's table with a
 * data dir of the test's own and the wall clock, `metric` event builders,
 * and a loopback remote write receiver (one request per connection) that
 * answers a scripted sequence of statuses and decodes what it accepts.
 */
#ifndef BEARMON_RWHOST_H
#define BEARMON_RWHOST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/tests/loopback.h"
#include "codec.h"
#include "plugintest.h"

static struct {
	struct bm_host_api api;
	char dir[128];
	bm_event_cb cb; /* the metric subscription */
	void *user;
	struct bm_sub_opts sub;
} rh;

static inline const char *rh_data_dir(struct bm_ctx *ctx)
{
	(void)ctx;
	return rh.dir;
}

static inline int rh_subscribe(struct bm_ctx *ctx, const struct bm_sub_opts *o, bm_event_cb cb,
			       void *user, struct bm_sub **out)
{
	(void)ctx;
	rh.sub = *o;
	rh.cb = cb;
	rh.user = user;
	*out = (struct bm_sub *)&rh;
	return 0;
}

static inline void rh_unsubscribe(struct bm_sub *sub)
{
	(void)sub;
	rh.cb = NULL;
}

/* Point the SDK wrappers at the test host, with a fresh data dir. */
static inline void rh_open(void)
{
	rh.api = *fakehost_api();
	rh.api.data_dir = rh_data_dir;
	rh.api.now_ms = lb_wall_ms;
	rh.api.subscribe = rh_subscribe;
	rh.api.unsubscribe = rh_unsubscribe;
	bm__host_api = &rh.api;
	rh.cb = NULL;
	pt_mkdtemp(rh.dir, sizeof(rh.dir), "bm-rw-");
}

static inline void rh_close(void)
{
	pt_rm_tree(rh.dir);
	fakehost_reset();
}

/* A `metric` event body: n samples of name{k=v_i} = v_i at ts. */
static inline void rh_event(struct bm_buf *out, const char *name, const char *k, int first, int n,
			    int64_t ts)
{
	struct bm_sample *s = calloc((size_t)n, sizeof(*s));
	struct bm_label *l = calloc((size_t)n, sizeof(*l));
	char(*v)[16] = calloc((size_t)n, sizeof(*v));
	for (int i = 0; i < n; i++) {
		snprintf(v[i], sizeof(v[i]), "%d", first + i);
		l[i] = (struct bm_label){k, v[i]};
		s[i] = (struct bm_sample){name, &l[i], 1, ts, (double)(first + i)};
	}
	struct bm_metric_batch b = {.source = "test", .samples = s, .n_samples = (size_t)n};
	assert_int_equal(bm_metric_batch_encode(&b, out), 0);
	free(s);
	free(l);
	free(v);
}

/* Hand an event to the subscription the plugin made. */
static inline void rh_deliver(const struct bm_buf *b)
{
	assert_non_null(rh.cb);
	rh.cb(rh.user, BM_TOPIC_METRIC, b->data, b->len);
}

/* ---- the receiver ---------------------------------------------------------- */

#define RX_MAX_SAMPLES 200000

struct rx_sample {
	char series[160]; /* name{a="x",b="y"} */
	int64_t ts;
	double v;
};

struct rx {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t lock;
	int script[16]; /* statuses of the first requests; then `status` */
	size_t n_script;
	int status;
	int delay_ms; /* before each answer */
	const char *retry_after;
	size_t requests, accepted;
	struct rx_sample *samples;
	size_t n_samples;
	char headers[2048]; /* of the latest request */
	char error[256];    /* a body that did not decode */
	int stop;
};

static inline void rx_series_text(const Prometheus__TimeSeries *t, char *out, size_t n)
{
	size_t k = 0;
	const char *name = "";
	for (size_t i = 0; i < t->n_labels; i++)
		if (strcmp(t->labels[i]->name, "__name__") == 0)
			name = t->labels[i]->value;
	k += (size_t)snprintf(out + k, n - k, "%s{", name);
	for (size_t i = 0, first = 1; i < t->n_labels && k < n; i++) {
		if (strcmp(t->labels[i]->name, "__name__") == 0)
			continue;
		k += (size_t)snprintf(out + k, n - k, "%s%s=\"%s\"", first ? "" : ",",
				      t->labels[i]->name, t->labels[i]->value);
		first = 0;
	}
	if (k < n)
		snprintf(out + k, n - k, "}");
}

static inline void rx_record(struct rx *r, const char *body, size_t len)
{
	Prometheus__WriteRequest *w;
	struct bm_err err = {0};
	if (rw_decode(body, len, &w, &err)) {
		snprintf(r->error, sizeof(r->error), "%s", err.msg);
		return;
	}
	for (size_t i = 0; i < w->n_timeseries; i++) {
		const Prometheus__TimeSeries *t = w->timeseries[i];
		for (size_t k = 0; k < t->n_samples && r->n_samples < RX_MAX_SAMPLES; k++) {
			struct rx_sample *s = &r->samples[r->n_samples++];
			rx_series_text(t, s->series, sizeof(s->series));
			s->ts = t->samples[k]->timestamp;
			s->v = t->samples[k]->value;
		}
	}
	rw_decoded_free(w);
}

/* Read one request from c: headers into hdr, the body (malloc'd) by
 * Content-Length. -1 when the client went away. */
static inline ssize_t rx_read_request(int c, char *hdr, size_t hn, char **body)
{
	size_t k = 0;
	while (k + 1 < hn) {
		ssize_t r = read(c, hdr + k, 1);
		if (r <= 0)
			return -1;
		k++;
		if (k >= 4 && memcmp(hdr + k - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	hdr[k] = '\0';
	const char *cl = strcasestr(hdr, "\r\nContent-Length:");
	size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0;
	*body = malloc(len + 1);
	for (size_t got = 0; got < len;) {
		ssize_t r = read(c, *body + got, len - got);
		if (r <= 0) {
			free(*body);
			return -1;
		}
		got += (size_t)r;
	}
	return (ssize_t)len;
}

static inline void rx_answer(struct rx *r, int c)
{
	char hdr[2048], reply[256], *body = NULL;
	ssize_t len = rx_read_request(c, hdr, sizeof(hdr), &body);
	if (len < 0)
		return;
	pthread_mutex_lock(&r->lock);
	size_t i = r->requests++;
	int status = i < r->n_script ? r->script[i] : r->status;
	snprintf(r->headers, sizeof(r->headers), "%s", hdr);
	if (status >= 200 && status < 300) {
		r->accepted++;
		rx_record(r, body, (size_t)len);
	}
	const char *ra = r->retry_after;
	int delay = r->delay_ms;
	pthread_mutex_unlock(&r->lock);
	if (delay)
		usleep((useconds_t)delay * 1000);
	const char *text = status >= 300 ? "refused by the test" : "";
	int n = snprintf(reply, sizeof(reply),
			 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s%s%s\r\n%s",
			 status, strlen(text), ra ? "Retry-After: " : "", ra ? ra : "", ra ? "\r\n" : "",
			 text);
	if (write(c, reply, (size_t)n) < 0)
		perror("rx write");
	free(body);
}

static inline void *rx_main(void *arg)
{
	struct rx *r = arg;
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept(r->fd, NULL, NULL);
		if (c < 0)
			continue;
		rx_answer(r, c);
		close(c);
	}
	return NULL;
}

static inline void rx_start(struct rx *r, int status)
{
	memset(r, 0, sizeof(*r));
	r->status = status;
	r->samples = calloc(RX_MAX_SAMPLES, sizeof(*r->samples));
	pthread_mutex_init(&r->lock, NULL);
	r->fd = lb_socket(64, &r->port);
	assert_int_equal(pthread_create(&r->thread, NULL, rx_main, r), 0);
}

static inline void rx_stop(struct rx *r)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_join(r->thread, NULL);
	close(r->fd);
	pthread_mutex_destroy(&r->lock);
	free(r->samples);
}

static inline size_t rx_count(struct rx *r)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->n_samples;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static inline size_t rx_requests(struct rx *r)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->requests;
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* Wait (polling, up to 20 s: a bound for hangs, not a timing check) until
 * the receiver holds at least n samples. */
static inline void rx_wait_samples(struct rx *r, size_t n)
{
	for (int i = 0; i < 4000 && rx_count(r) < n; i++)
		usleep(5000);
	if (rx_count(r) < n)
		fail_msg("waited for %zu samples, the receiver has %zu (error: %s)", n, rx_count(r),
			 r->error);
}

static inline void rx_wait_requests(struct rx *r, size_t n)
{
	for (int i = 0; i < 4000 && rx_requests(r) < n; i++)
		usleep(5000);
	if (rx_requests(r) < n)
		fail_msg("waited for %zu requests, the receiver had %zu", n, rx_requests(r));
}

/* Samples received for series (exact text). */
static inline size_t rx_series_count(struct rx *r, const char *series)
{
	size_t n = 0;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_samples; i++)
		n += strcmp(r->samples[i].series, series) == 0;
	pthread_mutex_unlock(&r->lock);
	return n;
}

#endif
