/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ui/dashboard against the fake host (dashhost.c): the WebSocket upgrade and
 * its refusals, subscriptions by URL and by message, one series per
 * subscription, events at once and batched, protocol errors with their
 * close codes, ping/pong, slow readers, partial writes, the snapshot, and
 * the static files with their path checks.
 */
#define _GNU_SOURCE
#include "dashboard.c"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dashhost.h"
#include "plugintest.h"

static const uint8_t mask[4] = {1, 2, 3, 4};

struct fixture {
	struct dash_conf conf;
	struct dash *d;
	char tmp[64];
};

/* A test's WebSocket client: the peer end of the taken-over socket. */
struct tclient {
	int fd;
	struct ws_rx rx;
	char *last; /* the last text message, NUL-terminated */
};

static int setup(void **st)
{
	struct fixture *f = calloc(1, sizeof(*f));
	bm__host_api = dh_api();
	pt_conf_defaults(dash_options, &f->conf);
	pt_mkdtemp(f->tmp, sizeof(f->tmp), "bm-dash-");
	static const char *const dirs[] = {"web", "js", "js/chart.js"};
	for (size_t i = 0; i < 3; i++) {
		char d[128];
		snprintf(d, sizeof(d), "%s/%s", f->tmp, dirs[i]);
		assert_int_equal(mkdir(d, 0700), 0);
	}
	pt_write_file(f->tmp, "web/index.html", "<!doctype html><title>bearmon</title>");
	pt_write_file(f->tmp, "web/app.js", "console.log(1);");
	pt_write_file(f->tmp, "js/chart.js/chart.min.js", "/* chart */");
	pt_write_file(f->tmp, "secret.txt", "not served");
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/web", f->tmp);
	pt_set_str(&f->conf.web_dir, dir);
	snprintf(dir, sizeof(dir), "%s/js", f->tmp);
	pt_set_str(&f->conf.javascript_dir, dir);
	*st = f;
	return 0;
}

static void start(struct fixture *f)
{
	struct bm_err err = {0};
	fakehost_set_now(1700000000000);
	f->d = pt_init(&dash_ops, &f->conf);
	if (dash_ops.start(f->d, &err))
		fail_msg("start: %s", err.msg);
}

static int teardown(void **st)
{
	struct fixture *f = *st;
	if (f->d) {
		dash_ops.stop(f->d);
		dash_ops.fini(f->d);
	}
	pt_rm_tree(f->tmp);
	pt_conf_release(dash_options, &f->conf);
	dh_reset();
	free(f);
	return 0;
}

/* --- a client ------------------------------------------------------------------ */

static const struct dh_kv upgrade_headers[] = {
	{"Host", "127.0.0.1:9555"},
	{"Upgrade", "websocket"},
	{"Connection", "keep-alive, Upgrade"},
	{"Sec-WebSocket-Version", "13"},
	{"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
};

static void upgrade_request(struct dh_request *rq, const char *series, const char *events)
{
	memset(rq, 0, sizeof(*rq));
	rq->method = "GET";
	rq->path = DASH_WS_ROUTE;
	memcpy(rq->headers, upgrade_headers, sizeof(upgrade_headers));
	int q = 0;
	if (series)
		rq->query[q++] = (struct dh_kv){"series", series};
	if (events)
		rq->query[q++] = (struct dh_kv){"events", events};
}

/* Bytes waiting on fd, without blocking (the plugin writes synchronously). */
static ssize_t read_now(int fd, void *buf, size_t n)
{
	ssize_t got = recv(fd, buf, n, MSG_DONTWAIT);
	return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? -2 : got;
}

/* The next text message as JSON (NULL when none waits); other opcodes
 * in *op. */
static json_t *next_msg(struct tclient *c, int *op, int *close_code)
{
	struct ws_msg m;
	char buf[65536];
	for (;;) {
		int rc = ws_rx_next(&c->rx, &m);
		if (rc == 1)
			break;
		assert_int_equal(rc, 0);
		ssize_t n = read_now(c->fd, buf, sizeof(buf));
		if (n <= 0)
			return NULL;
		assert_int_equal(ws_rx_push(&c->rx, buf, (size_t)n), 0);
	}
	if (op)
		*op = m.opcode;
	if (close_code)
		*close_code = m.close_code;
	free(c->last);
	/* the payload is not NUL-terminated: strndup would read past it under
	 * strict string checks */
	c->last = malloc(m.len + 1);
	assert_non_null(c->last);
	memcpy(c->last, m.payload, m.len);
	c->last[m.len] = '\0';
	return m.opcode == WS_OP_TEXT ? json_loads(c->last, 0, NULL) : json_object();
}

/* The next message must be of type want; returned (caller decrefs). */
static json_t *expect_type(struct tclient *c, const char *want)
{
	int op = 0;
	json_t *j = next_msg(c, &op, NULL);
	if (!j)
		fail_msg("no message, expected %s", want);
	const char *type = json_string_value(json_object_get(j, "type"));
	if (!type || strcmp(type, want) != 0)
		fail_msg("expected %s, got %s", want, c->last);
	return j;
}

static void expect_nothing(struct tclient *c)
{
	json_t *j = next_msg(c, NULL, NULL);
	if (j)
		fail_msg("unexpected message %s", c->last);
}

static void open_client(struct tclient *c, const char *series, const char *events)
{
	struct dh_request rq;
	struct dh_response resp;
	struct ws_limits lim = {1 << 24, 1 << 24};
	char head[1024];
	upgrade_request(&rq, series, events);
	assert_int_equal(dh_http(&rq, &resp), 0);
	c->fd = resp.peer_fd;
	resp.peer_fd = -1;
	dh_response_free(&resp);
	/* the 101, byte by byte up to the blank line */
	size_t n = 0;
	while (n < sizeof(head) - 1 && read_now(c->fd, head + n, 1) == 1) {
		n++;
		if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	head[n] = '\0';
	assert_non_null(strstr(head, "HTTP/1.1 101 Switching Protocols\r\n"));
	assert_non_null(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
	ws_rx_init(&c->rx, &lim, false);
	c->last = NULL;
	json_decref(expect_type(c, "hello"));
}

static void close_client(struct tclient *c)
{
	close(c->fd);
	ws_rx_free(&c->rx);
	free(c->last);
	dh_fire_all(BM_FD_READ); /* the plugin sees the end */
}

static void send_raw(struct tclient *c, const void *p, size_t n)
{
	assert_int_equal(send(c->fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
	dh_fire_all(BM_FD_READ);
}

static void send_frame(struct tclient *c, int op, const char *p, size_t n)
{
	struct bm_buf b = {0};
	assert_int_equal(ws_frame_append(&b, op, p, n, mask), 0);
	send_raw(c, b.data, b.len);
	bm_buf_free(&b);
}

static void send_text(struct tclient *c, const char *text)
{
	send_frame(c, WS_OP_TEXT, text, strlen(text));
}

/* The close frame the server must send next, and then the end. */
static void expect_close(struct tclient *c, int want_code)
{
	int op = 0, code = 0;
	json_t *j = next_msg(c, &op, &code);
	if (!j)
		fail_msg("no close frame");
	json_decref(j);
	assert_int_equal(op, WS_OP_CLOSE);
	assert_int_equal(code, want_code);
}

/* --- data ------------------------------------------------------------------------ */

static void publish_values(int64_t ts, int n_series)
{
	struct bm_label l[64][1];
	struct bm_sample s[64];
	char idx[64][16];
	for (int i = 0; i < n_series; i++) {
		snprintf(idx[i], sizeof(idx[i]), "%d", i);
		l[i][0] = (struct bm_label){"series", idx[i]};
		s[i] = (struct bm_sample){"testgen_value", l[i], 1, ts, (double)i + 0.5};
	}
	struct bm_metric_batch b = {.samples = s, .n_samples = (size_t)n_series};
	dh_deliver_metrics(&b);
}

static void publish_alert(const char *fp, enum bm_alert_state state)
{
	struct bm_buf buf = {0};
	struct bm_label l[] = {{"alertname", "Hot"}, {"severity", "critical"}};
	struct bm_alert_event e = {.ts_ms = bm_now_ms(NULL), .rule_id = "r1", .rule_name = "Hot",
				   .fingerprint = fp, .state = state, .severity = BM_SEV_CRITICAL,
				   .labels = l, .n_labels = 2, .value = 97, .threshold = 90};
	assert_int_equal(bm_alert_encode(&e, &buf), 0);
	dh_deliver(BM_TOPIC_ALERT, buf.data, buf.len);
	bm_buf_free(&buf);
}

static void publish_trend(void)
{
	struct bm_buf buf = {0};
	struct bm_label l[] = {{"series", "1"}};
	struct bm_trend_event e = {.series = {"testgen_value", l, 1}, .ts_ms = bm_now_ms(NULL),
				   .window_ms = 3600000, .slope_per_s = 0.01,
				   .direction = BM_TREND_INCREASING, .method = "theil_sen"};
	assert_int_equal(bm_trend_encode(&e, &buf), 0);
	dh_deliver(BM_TOPIC_TREND, buf.data, buf.len);
	bm_buf_free(&buf);
}

/* --- tests ------------------------------------------------------------------------ */

static void test_upgrade_refusals(void **st)
{
	struct fixture *f = *st;
	pt_set_list(&f->conf.allowed_origins, "https://grafana.example", NULL);
	start(f);
	static const struct {
		int header;        /* index into upgrade_headers to change */
		const char *value; /* NULL: drop it */
		int status;
	} cases[] = {
		{1, NULL, 400},                     /* no Upgrade */
		{2, "keep-alive", 400},             /* Connection without upgrade */
		{3, "8", 426},                      /* old version */
		{4, "short", 400},                  /* bad key */
		{0, NULL, 400},                     /* no Host */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dh_request rq;
		struct dh_response resp;
		upgrade_request(&rq, NULL, NULL);
		rq.headers[cases[i].header].v = cases[i].value;
		if (!cases[i].value)
			rq.headers[cases[i].header].k = "X-Dropped";
		assert_int_equal(dh_http(&rq, &resp), cases[i].status);
		if (cases[i].status == 426)
			assert_string_equal(dh_header(&resp, "Sec-WebSocket-Version"), "13");
		dh_response_free(&resp);
	}
	/* Origin: another site is refused, the same origin and the allowed one pass */
	const char *origins[][2] = {{"http://evil.example", "403"}, {"null", "403"},
				    {"http://127.0.0.1:9555", "0"}, {"https://grafana.example", "0"}};
	for (size_t i = 0; i < 4; i++) {
		struct dh_request rq;
		struct dh_response resp;
		upgrade_request(&rq, NULL, NULL);
		rq.headers[5] = (struct dh_kv){"Origin", origins[i][0]};
		assert_int_equal(dh_http(&rq, &resp), atoi(origins[i][1]));
		dh_response_free(&resp);
	}
	struct dh_request post;
	struct dh_response resp;
	upgrade_request(&post, NULL, NULL);
	post.method = "POST";
	assert_int_equal(dh_http(&post, &resp), 405);
	dh_response_free(&resp);
	/* a TLS listener cannot hand its socket over: 501, the page polls */
	dh_set_tls(true);
	upgrade_request(&post, NULL, NULL);
	assert_int_equal(dh_http(&post, &resp), 501);
	assert_non_null(strstr(resp.body, "poll the JSON routes"));
	dh_response_free(&resp);
	dh_set_tls(false);
	assert_true(f->d->st.refused >= 9);
}

static void test_one_series_per_subscription(void **st)
{
	struct fixture *f = *st;
	struct tclient c;
	start(f);
	open_client(&c, "testgen_value{series=\"1\"}", NULL);
	json_t *j = expect_type(&c, "subscribed");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "series"), 0)),
			    "testgen_value{series=\"1\"}");
	json_decref(j);
	/* the canonical text of what a client wrote differently */
	send_text(&c, "{\"type\":\"subscribe\",\"series\":\" testgen_value{ series = '1' } \"}");
	j = expect_type(&c, "subscribed");
	assert_int_equal(json_array_size(json_object_get(j, "series")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "mapping"),
							      "testgen_value{ series = '1' }")),
			    "testgen_value{series=\"1\"}");
	json_decref(j);
	publish_values(1700000000000, 5);
	publish_values(1700000001000, 5);
	expect_nothing(&c); /* not before the metrics tick */
	dh_fire_timers(f->conf.metrics_interval_ms);
	j = expect_type(&c, "metrics");
	json_t *series = json_object_get(j, "series");
	assert_int_equal(json_array_size(series), 1);
	json_t *s0 = json_array_get(series, 0);
	assert_string_equal(json_string_value(json_object_get(s0, "series")),
			    "testgen_value{series=\"1\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(s0, "labels"), "series")), "1");
	json_t *pts = json_object_get(s0, "points");
	assert_int_equal(json_array_size(pts), 2);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(pts, 1), 0)), 1700000001000);
	assert_true(json_real_value(json_array_get(json_array_get(pts, 1), 1)) == 1.5);
	json_decref(j);
	/* nothing new: no message at the next tick */
	dh_fire_timers(f->conf.metrics_interval_ms);
	expect_nothing(&c);
	close_client(&c);
	assert_int_equal(f->d->n_clients, 0);
	assert_int_equal(f->d->n_sels, 0); /* the last client's selector went with it */
}

static void test_subscribe_messages(void **st)
{
	struct fixture *f = *st;
	struct tclient a, b;
	start(f);
	open_client(&a, NULL, NULL);
	open_client(&b, NULL, NULL);
	send_text(&a, "{\"type\":\"subscribe\",\"series\":[\"testgen_value{series=~\\\"[23]\\\"}\"],"
		      "\"events\":[\"alert\",\"trend\"]}");
	json_t *j = expect_type(&a, "subscribed");
	assert_int_equal(json_array_size(json_object_get(j, "events")), 2);
	json_decref(j);
	send_text(&b, "{\"type\":\"subscribe\",\"series\":\"testgen_value{series=~\\\"[23]\\\"}\"}");
	json_decref(expect_type(&b, "subscribed"));
	assert_int_equal(f->d->n_sels, 1); /* the same selector, shared */
	publish_values(1700000000000, 5);
	dh_fire_timers(f->conf.metrics_interval_ms);
	json_t *ja = expect_type(&a, "metrics"), *jb = expect_type(&b, "metrics");
	assert_int_equal(json_array_size(json_object_get(ja, "series")), 2);
	assert_true(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
	/* alerts at once, to the subscriber only */
	publish_alert("00aa", BM_ALERT_FIRING);
	j = expect_type(&a, "event");
	assert_string_equal(json_string_value(json_object_get(j, "topic")), "alert");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "event"), "state")), "firing");
	json_decref(j);
	expect_nothing(&b);
	/* trends wait for the trend tick, then come as one batch */
	publish_trend();
	publish_trend();
	expect_nothing(&a);
	dh_fire_timers(f->conf.trend_interval_ms);
	j = expect_type(&a, "events");
	assert_string_equal(json_string_value(json_object_get(j, "topic")), "trend");
	assert_int_equal(json_array_size(json_object_get(j, "events")), 2);
	json_decref(j);
	/* unsubscribe everything */
	send_text(&a, "{\"type\":\"unsubscribe\",\"all\":true}");
	j = expect_type(&a, "subscribed");
	assert_int_equal(json_array_size(json_object_get(j, "series")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "events")), 0);
	json_decref(j);
	send_text(&a, "{\"type\":\"ping\"}");
	json_decref(expect_type(&a, "pong"));
	close_client(&a);
	close_client(&b);
}

static void test_bad_subscriptions(void **st)
{
	struct fixture *f = *st;
	struct tclient c;
	f->conf.max_subscriptions = 2;
	start(f);
	open_client(&c, "testgen_value{series=", "nosuchtopic");
	json_t *j = expect_type(&c, "error");
	assert_string_equal(json_string_value(json_object_get(j, "error")), "bad selector");
	json_decref(j);
	j = expect_type(&c, "error");
	assert_string_equal(json_string_value(json_object_get(j, "error")), "unknown topic");
	json_decref(j);
	json_decref(expect_type(&c, "subscribed"));
	send_text(&c, "{\"type\":\"subscribe\",\"series\":[\"a\",\"b\",\"c\"]}");
	j = expect_type(&c, "error");
	assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "max_subscriptions"));
	json_decref(j);
	json_decref(expect_type(&c, "subscribed"));
	send_text(&c, "not json");
	j = expect_type(&c, "error");
	assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid JSON");
	json_decref(j);
	send_text(&c, "{\"type\":\"dance\"}");
	json_decref(expect_type(&c, "error"));
	/* the connection is still good */
	send_text(&c, "{\"type\":\"ping\"}");
	json_decref(expect_type(&c, "pong"));
	close_client(&c);
}

static void test_protocol_errors_close(void **st)
{
	struct fixture *f = *st;
	start(f);
	static const struct {
		const char *what;
		int code;
	} cases[] = {{"unmasked", WS_CLOSE_PROTOCOL},
		     {"utf8", WS_CLOSE_INVALID_DATA},
		     {"big", WS_CLOSE_TOO_BIG},
		     {"binary", WS_CLOSE_UNSUPPORTED},
		     {"close", 4001}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tclient c;
		struct bm_buf b = {0};
		open_client(&c, NULL, NULL);
		if (strcmp(cases[i].what, "unmasked") == 0) {
			assert_int_equal(ws_frame_append(&b, WS_OP_TEXT, "{}", 2, NULL), 0);
			send_raw(&c, b.data, b.len);
		} else if (strcmp(cases[i].what, "utf8") == 0) {
			send_frame(&c, WS_OP_TEXT, "{\"a\":\"\xff\"}", 10);
		} else if (strcmp(cases[i].what, "big") == 0) {
			uint8_t hdr[WS_MAX_HEADER];
			size_t n = ws_header_encode(hdr, true, WS_OP_TEXT, 1 << 20, mask);
			send_raw(&c, hdr, n);
		} else if (strcmp(cases[i].what, "binary") == 0) {
			send_frame(&c, WS_OP_BINARY, "\x01", 1);
		} else {
			assert_int_equal(ws_close_append(&b, 4001, "done", mask), 0);
			send_raw(&c, b.data, b.len);
		}
		expect_close(&c, cases[i].code);
		bm_buf_free(&b);
		close_client(&c);
	}
	assert_int_equal(f->d->st.protocol_errors, 3);
	assert_int_equal(f->d->n_clients, 0);
}

static void test_ping_pong_and_timeout(void **st)
{
	struct fixture *f = *st;
	struct tclient c;
	int op = 0;
	start(f);
	open_client(&c, NULL, NULL);
	send_frame(&c, WS_OP_PING, "abc", 3);
	json_decref(next_msg(&c, &op, NULL));
	assert_int_equal(op, WS_OP_PONG);
	assert_string_equal(c.last, "abc");
	/* silent for a ping interval: the server pings */
	fakehost_set_now(bm_now_ms(NULL) + f->conf.ping_interval_ms);
	dh_fire_timers(f->conf.metrics_interval_ms);
	json_decref(next_msg(&c, &op, NULL));
	assert_int_equal(op, WS_OP_PING);
	/* no answer within another interval: dropped */
	fakehost_set_now(bm_now_ms(NULL) + f->conf.ping_interval_ms + 1);
	dh_fire_timers(f->conf.metrics_interval_ms);
	assert_int_equal(f->d->n_clients, 0);
	char x;
	assert_int_equal(read_now(c.fd, &x, 1), 0); /* the end */
	close_client(&c);
}

/* Start, subscribe c to testgen_value, and shrink the server side's send
 * buffer to 4 KiB; returns the server side's fd. */
static int start_small_buffer(struct fixture *f, struct tclient *c)
{
	start(f);
	open_client(c, "testgen_value", NULL);
	json_decref(expect_type(c, "subscribed"));
	int small = 4096;
	int server_fd = dh_watched_fd(0, BM_FD_READ);
	setsockopt(server_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	return server_fd;
}

static void test_slow_reader_is_dropped(void **st)
{
	struct fixture *f = *st;
	struct tclient c;
	f->conf.send_buffer = 4096;
	int server_fd = start_small_buffer(f, &c);
	for (int tick = 0; tick < 50 && f->d->n_clients; tick++) {
		publish_values(1700000000000 + tick * 1000, 64);
		dh_fire_timers(f->conf.metrics_interval_ms);
	}
	assert_int_equal(f->d->n_clients, 0);
	assert_int_equal(f->d->st.slow_readers, 1);
	assert_int_equal(dh_n_watches(server_fd, BM_FD_READ | BM_FD_WRITE), 0);
	close_client(&c);
}

/* A reader that keeps up gets a message larger than the socket buffer,
 * through the write watch. */
static void test_partial_writes(void **st)
{
	struct fixture *f = *st;
	struct tclient c;
	int server_fd = start_small_buffer(f, &c);
	for (int i = 0; i < 10; i++)
		publish_values(1700000000000 + i * 100, 64);
	dh_fire_timers(f->conf.metrics_interval_ms);
	assert_int_equal(dh_n_watches(server_fd, BM_FD_WRITE), 1);
	json_t *j = NULL;
	for (int i = 0; i < 1000 && !j; i++) {
		j = next_msg(&c, NULL, NULL);
		dh_fire_fd(server_fd, BM_FD_WRITE);
	}
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "series")), 64);
	assert_int_equal(json_array_size(json_object_get(json_array_get(json_object_get(j, "series"), 0), "points")), 10);
	json_decref(j);
	assert_int_equal(dh_n_watches(server_fd, BM_FD_WRITE), 0);
	close_client(&c);
}

static void add_series(const char *text, double v0, double v1)
{
	int64_t now = bm_now_ms(NULL);
	int64_t ts[] = {now - 2000, now - 1000};
	double v[] = {v0, v1};
	dh_store_add(text, ts, v, 2);
}

static void test_snapshot(void **st)
{
	struct fixture *f = *st;
	start(f);
	/* two cores over one second: user 0.3 + 0.1 s, idle 0.6 + 1.0 s */
	add_series("node_cpu_seconds_total{cpu=\"0\",mode=\"user\"}", 10, 10.3);
	add_series("node_cpu_seconds_total{cpu=\"1\",mode=\"user\"}", 10, 10.1);
	add_series("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}", 100, 100.6);
	add_series("node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"}", 100, 101);
	add_series("node_memory_MemTotal_bytes{}", 1000, 1000);
	add_series("node_memory_MemAvailable_bytes{}", 300, 250);
	add_series("node_load1{}", 0.5, 0.75);
	add_series("node_network_receive_bytes_total{device=\"eth0\"}", 0, 2048);
	add_series("node_filesystem_size_bytes{device=\"/dev/vda\",fstype=\"ext4\",mountpoint=\"/\"}", 100, 100);
	add_series("node_filesystem_avail_bytes{device=\"/dev/vda\",fstype=\"ext4\",mountpoint=\"/\"}", 10, 5);
	add_series("agent_task_throughput{agent=\"planner\",agent_type=\"llm\"}", 3, 4);
	add_series("agent_task_duration_seconds{agent=\"planner\",agent_type=\"llm\",quantile=\"0.95\"}", 1, 2);
	add_series("agent_error_ratio{agent=\"planner\",agent_type=\"llm\"}", 0, 0.25);
	add_series("bearmon_process_cpu_seconds_total{agent=\"planner\",mode=\"user\",pid=\"7\"}", 10, 10.5);
	publish_alert("00aa", BM_ALERT_FIRING);
	publish_alert("00bb", BM_ALERT_FIRING);
	publish_alert("00bb", BM_ALERT_RESOLVED);
	struct dh_request rq = {.method = "GET", .path = DASH_SNAPSHOT_ROUTE};
	struct dh_response resp;
	assert_int_equal(dh_http(&rq, &resp), 200);
	json_t *j = json_loads(resp.body, 0, NULL);
	assert_non_null(j);
	json_t *res = json_object_get(j, "resources");
	assert_float_equal(json_real_value(json_object_get(json_object_get(res, "cpu"), "busy_ratio")), 0.2, 1e-9);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "cores")), 2);
	assert_float_equal(json_real_value(json_object_get(json_object_get(res, "memory"), "used_ratio")), 0.75, 1e-9);
	json_t *fs = json_array_get(json_object_get(res, "filesystems"), 0);
	assert_float_equal(json_real_value(json_object_get(fs, "used_ratio")), 0.95, 1e-9);
	json_t *net = json_object_get(j, "network");
	assert_float_equal(json_real_value(json_object_get(net, "receive_bytes_per_s")), 2048, 1e-9);
	assert_float_equal(json_real_value(json_object_get(json_object_get(j, "system"), "load1")), 0.75, 1e-9);
	json_t *agent = json_array_get(json_object_get(j, "agents"), 0);
	assert_string_equal(json_string_value(json_object_get(agent, "agent")), "planner");
	assert_float_equal(json_real_value(json_object_get(agent, "latency_p95_s")), 2, 1e-9);
	assert_float_equal(json_real_value(json_object_get(agent, "cpu_cores")), 0.5, 1e-9);
	json_t *derived = json_object_get(j, "derived");
	assert_int_equal(json_integer_value(json_object_get(derived, "alerts_active")), 1);
	assert_float_equal(json_real_value(json_object_get(derived, "agent_error_ratio")), 0.25, 1e-9);
	json_t *health = json_object_get(j, "health");
	assert_string_equal(json_string_value(json_object_get(health, "source")), "computed");
	/* disk 95 % full: critical; one alert: 10 more off */
	double overall = json_real_value(json_object_get(json_object_get(health, "overall"), "score"));
	assert_float_equal(overall, 40, 1e-9);
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "events"), "alerts")), 1);
	json_decref(j);
	dh_response_free(&resp);

	/* a health analyzer's scores win over the computed ones */
	struct bm_buf buf = {0};
	struct bm_health_event h = {.ts_ms = bm_now_ms(NULL), .component = "overall", .score = 88,
				    .status = BM_HEALTH_OK};
	assert_int_equal(bm_health_encode(&h, &buf), 0);
	dh_deliver(BM_TOPIC_HEALTH, buf.data, buf.len);
	bm_buf_free(&buf);
	assert_int_equal(dh_http(&rq, &resp), 200);
	j = json_loads(resp.body, 0, NULL);
	health = json_object_get(j, "health");
	assert_string_equal(json_string_value(json_object_get(health, "source")), "analyzer");
	assert_float_equal(json_number_value(json_object_get(json_object_get(health, "overall"), "score")), 88, 1e-9);
	json_decref(j);
	dh_response_free(&resp);

	rq.query[0] = (struct dh_kv){"time", "yesterday"};
	assert_int_equal(dh_http(&rq, &resp), 400);
	dh_response_free(&resp);
	rq.method = "POST";
	rq.query[0] = (struct dh_kv){NULL, NULL};
	assert_int_equal(dh_http(&rq, &resp), 405);
	dh_response_free(&resp);
}

static void test_static_files(void **st)
{
	struct fixture *f = *st;
	start(f);
	struct dh_request rq = {.method = "GET", .path = "/"};
	struct dh_response resp;
	assert_int_equal(dh_http(&rq, &resp), 200);
	assert_non_null(strstr(resp.body, "<title>bearmon</title>"));
	assert_string_equal(resp.content_type, "text/html; charset=utf-8");
	assert_non_null(strstr(dh_header(&resp, "Content-Security-Policy"), "default-src 'self'"));
	char etag[64];
	snprintf(etag, sizeof(etag), "%s", dh_header(&resp, "ETag"));
	dh_response_free(&resp);
	rq.headers[0] = (struct dh_kv){"If-None-Match", etag};
	assert_int_equal(dh_http(&rq, &resp), 304);
	dh_response_free(&resp);
	rq.headers[0] = (struct dh_kv){NULL, NULL};
	rq.path = "/static/app.js";
	assert_int_equal(dh_http(&rq, &resp), 200);
	assert_string_equal(resp.content_type, "text/javascript; charset=utf-8");
	dh_response_free(&resp);
	rq.path = "/static/chart.js/chart.min.js";
	assert_int_equal(dh_http(&rq, &resp), 200);
	assert_string_equal(resp.body, "/* chart */");
	dh_response_free(&resp);
	static const char *const refused[] = {
		"/static/../secret.txt", "/static/chart.js/../../secret.txt", "/static/.hidden",
		"/static/", "/static/app.js/", "/static//app.js", "/static/nope.js", "/static/a b.js",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		rq.path = refused[i];
		if (dh_http(&rq, &resp) != 404)
			fail_msg("%s: %d", refused[i], resp.status);
		dh_response_free(&resp);
	}
	/* a symlink out of the directory is not followed out of it */
	char link[160], target[160];
	snprintf(link, sizeof(link), "%s/web/leak.txt", f->tmp);
	snprintf(target, sizeof(target), "%s/secret.txt", f->tmp);
	assert_int_equal(symlink(target, link), 0);
	rq.path = "/static/leak.txt";
	assert_int_equal(dh_http(&rq, &resp), 404);
	dh_response_free(&resp);
	rq.path = "/static/app.js";
	rq.method = "DELETE";
	assert_int_equal(dh_http(&rq, &resp), 405);
	dh_response_free(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upgrade_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_series_per_subscription, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscribe_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_subscriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_errors_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_pong_and_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_static_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
