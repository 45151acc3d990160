/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket clients on the main loop: the upgrade of GET /api/bearmon/v1/ws
 * (checks, Origin, then bm_http_takeover and our own 101), reading frames
 * with ws.c, the JSON commands clients send (subscribe, unsubscribe, ping),
 * and writing with a bounded queue per client: a reader that falls behind by
 * more than send_buffer bytes is disconnected rather than buffered for.
 */
#define _GNU_SOURCE
#include "dashboard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bearmon/bm_vec.h>

#include "origin.h"

#define READ_CHUNK 65536
#define READS_PER_WAKEUP 4  /* then let other clients have the loop */
#define CLOSE_GRACE_MS 2000 /* for the peer to answer our close */

#define STAT_ADD(d, field, n) __atomic_add_fetch(&(d)->st.field, (n), __ATOMIC_RELAXED)

static void on_io(void *user, int fd, unsigned events);

/* --- output --------------------------------------------------------------------- */

static size_t pending(const struct dash_client *c)
{
	return c->out.len - c->out_off;
}

static void mark_dead(struct dash_client *c)
{
	c->dead = true;
}

static void want_write(struct dash_client *c, bool on)
{
	if (on && !c->ww) {
		if (bm_fd_watch(c->d->ctx, c->fd, BM_FD_WRITE, on_io, c, &c->ww))
			mark_dead(c);
	} else if (!on && c->ww) {
		bm_fd_unwatch(c->ww);
		c->ww = NULL;
	}
}

/* Write what the socket takes; false when the connection broke. */
static bool write_some(struct dash_client *c, const char *p, size_t len, size_t *written)
{
	*written = 0;
	while (*written < len) {
		ssize_t n = send(c->fd, p + *written, len - *written, MSG_NOSIGNAL);
		if (n > 0) {
			*written += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
	return true;
}

/* After our close frame is out: no more writing, wait for the peer's end
 * (so that data still in flight does not turn into a reset). */
static void after_drained(struct dash_client *c)
{
	if (c->closing_ms && !pending(c))
		shutdown(c->fd, SHUT_WR);
}

static void flush_out(struct dash_client *c)
{
	size_t n;
	if (c->dead || !pending(c))
		return;
	if (!write_some(c, c->out.data + c->out_off, pending(c), &n)) {
		mark_dead(c);
		return;
	}
	STAT_ADD(c->d, bytes, n);
	c->out_off += n;
	if (!pending(c)) {
		c->out.len = c->out_off = 0;
		want_write(c, false);
		after_drained(c);
	}
}

/* Queue len bytes after what waits; `control` frames (close) are queued
 * even after a close frame started the end of the connection. */
static void queue_bytes(struct dash_client *c, const void *p, size_t len, bool control)
{
	size_t n = 0;
	if (c->dead || (c->closing_ms && !control))
		return;
	if (!pending(c)) {
		if (!write_some(c, p, len, &n)) {
			mark_dead(c);
			return;
		}
		STAT_ADD(c->d, bytes, n);
		if (n == len)
			return;
	}
	if (pending(c) + (len - n) > c->d->conf->send_buffer) {
		STAT_ADD(c->d, slow_readers, 1);
		bm_log_info(c->d->ctx, "websocket client %s dropped: %zu bytes wait to be read "
				       "(send_buffer)", c->peer, pending(c) + len - n);
		mark_dead(c);
		return;
	}
	if (c->out_off && c->out_off == c->out.len)
		c->out.len = c->out_off = 0;
	if (bm_buf_append(&c->out, (const char *)p + n, len - n)) {
		mark_dead(c);
		return;
	}
	want_write(c, true);
}

void dash_client_send(struct dash_client *c, const void *frame, size_t len)
{
	STAT_ADD(c->d, messages, 1);
	queue_bytes(c, frame, len, false);
}

static void send_frame(struct dash_client *c, int opcode, const void *p, size_t len)
{
	struct bm_buf f = {0};
	if (ws_frame_append(&f, opcode, p, len, NULL) == 0)
		dash_client_send(c, f.data, f.len);
	else
		mark_dead(c);
	bm_buf_free(&f);
}

void dash_client_text(struct dash_client *c, const char *json, size_t len)
{
	send_frame(c, WS_OP_TEXT, json, len);
}

static void send_json(struct dash_client *c, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text)
		dash_client_text(c, text, strlen(text));
	else
		mark_dead(c);
	free(text);
}

static void send_error(struct dash_client *c, const char *msg, const char *detail)
{
	json_t *j = json_pack("{s:s, s:s}", "type", "error", "error", msg);
	if (j && detail)
		json_object_set_new(j, "detail", json_string(detail));
	send_json(c, j);
}

void dash_client_close(struct dash_client *c, int code, const char *reason)
{
	struct bm_buf f = {0};
	if (c->dead || c->closing_ms)
		return;
	c->closing_ms = bm_now_ms(c->d->ctx);
	if (ws_close_append(&f, code, reason, NULL) == 0)
		queue_bytes(c, f.data, f.len, true);
	bm_buf_free(&f);
	after_drained(c);
}

/* --- commands from the client ------------------------------------------------ */

/* A string, or an array of strings, under key: each to fn. */
struct sub_request;

static void each_string(struct dash_client *c, const json_t *v,
			void (*fn)(struct dash_client *, const char *, struct sub_request *),
			struct sub_request *rq)
{
	if (json_is_string(v)) {
		fn(c, json_string_value(v), rq);
		return;
	}
	size_t i;
	const json_t *item;
	json_array_foreach(v, i, item)
	{
		if (json_is_string(item))
			fn(c, json_string_value(item), rq);
		else
			send_error(c, "expected strings", NULL);
	}
}

/* What a subscribe or unsubscribe command's strings go to. */
struct sub_request {
	bool on;
	json_t *mapping; /* given selector -> canonical text */
};

static void series_on(struct dash_client *c, const char *s, struct sub_request *rq)
{
	if (rq->on)
		dash_subscribe_series(c, s, strlen(s), rq->mapping);
	else
		dash_unsubscribe_series(c, s);
}

static void topics_on(struct dash_client *c, const char *s, struct sub_request *rq)
{
	dash_subscribe_topics(c, s, rq->on);
}

static void handle_subscription(struct dash_client *c, const json_t *cmd, bool on)
{
	const json_t *series = json_object_get(cmd, "series");
	const json_t *events = json_object_get(cmd, "events");
	struct sub_request rq = {on, on ? json_object() : NULL};
	if (!on && json_is_true(json_object_get(cmd, "all"))) {
		dash_unsubscribe_all(c);
		c->topics = 0;
	}
	if (series)
		each_string(c, series, series_on, &rq);
	if (events)
		each_string(c, events, topics_on, &rq);
	dash_send_subscriptions(c, rq.mapping);
}

static void handle_command(struct dash_client *c, const uint8_t *text, size_t len)
{
	json_error_t jerr;
	json_t *cmd = json_loadb((const char *)text, len, 0, &jerr);
	const char *type = json_string_value(json_object_get(cmd, "type"));
	if (!cmd)
		send_error(c, "invalid JSON", jerr.text);
	else if (!type)
		send_error(c, "a command is an object with a \"type\"", NULL);
	else if (strcmp(type, "subscribe") == 0 || strcmp(type, "unsubscribe") == 0)
		handle_subscription(c, cmd, type[0] == 's');
	else if (strcmp(type, "ping") == 0)
		send_json(c, json_pack("{s:s, s:I}", "type", "pong", "now_ms",
				       (json_int_t)bm_now_ms(c->d->ctx)));
	else
		send_error(c, "unknown command type", type);
	json_decref(cmd);
}

/* --- input ------------------------------------------------------------------ */

static void take_message(struct dash_client *c, const struct ws_msg *m)
{
	c->last_rx_ms = bm_now_ms(c->d->ctx);
	c->ping_sent_ms = 0;
	switch (m->opcode) {
	case WS_OP_TEXT:
		if (!c->closing_ms)
			handle_command(c, m->payload, m->len);
		break;
	case WS_OP_BINARY:
		dash_client_close(c, WS_CLOSE_UNSUPPORTED, "binary messages are not supported");
		break;
	case WS_OP_PING:
		if (!c->closing_ms)
			send_frame(c, WS_OP_PONG, m->payload, m->len);
		break;
	case WS_OP_CLOSE:
		/* echo the peer's code (RFC 6455 5.5.1); the TCP end follows */
		dash_client_close(c, m->close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL
									 : m->close_code, "");
		if (!pending(c))
			mark_dead(c);
		break;
	default: /* pong: the client is alive, noted above */
		break;
	}
}

static const char *close_reason(int code)
{
	switch (code) {
	case WS_CLOSE_INVALID_DATA: return "invalid UTF-8";
	case WS_CLOSE_TOO_BIG: return "frame or message too big";
	default: return "protocol error";
	}
}

static void take_messages(struct dash_client *c)
{
	struct ws_msg m;
	int rc;
	while (!c->dead && (rc = ws_rx_next(&c->rx, &m)) != 0) {
		if (rc == 1) {
			take_message(c, &m);
			continue;
		}
		if (rc <= -1000) {
			STAT_ADD(c->d, protocol_errors, 1);
			bm_log_debug(c->d->ctx, "websocket client %s: closing with %d (%s)", c->peer,
				     -rc, close_reason(-rc));
			dash_client_close(c, -rc, close_reason(-rc));
		} else {
			mark_dead(c);
		}
		return;
	}
}

static void read_input(struct dash_client *c)
{
	char buf[READ_CHUNK];
	for (int i = 0; i < READS_PER_WAKEUP && !c->dead; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			mark_dead(c); /* the peer is gone, or its end after our close */
			return;
		}
		if (c->rx.failed)
			continue; /* after a protocol error: drain until the end */
		if (ws_rx_push(&c->rx, buf, (size_t)n)) {
			mark_dead(c);
			return;
		}
		take_messages(c);
	}
}

static void on_io(void *user, int fd, unsigned events)
{
	struct dash_client *c = user;
	struct dash *d = c->d;
	(void)fd;
	if (events & BM_FD_WRITE)
		flush_out(c);
	if (events & BM_FD_READ)
		read_input(c);
	dash_sweep(d);
}

/* --- life of a client ------------------------------------------------------------- */

static void client_free(struct dash_client *c)
{
	dash_unsubscribe_all(c);
	if (c->rw)
		bm_fd_unwatch(c->rw);
	if (c->ww)
		bm_fd_unwatch(c->ww);
	if (c->fd >= 0)
		close(c->fd);
	ws_rx_free(&c->rx);
	bm_buf_free(&c->out);
	free(c->sels);
	free(c);
}

void dash_sweep(struct dash *d)
{
	size_t kept = 0;
	for (size_t i = 0; i < d->n_clients; i++) {
		if (d->clients[i]->dead)
			client_free(d->clients[i]);
		else
			d->clients[kept++] = d->clients[i];
	}
	d->n_clients = kept;
	*(volatile double *)&d->st.clients = (double)kept;
}

void dash_housekeeping(struct dash *d, int64_t now_ms)
{
	int64_t every = d->conf->ping_interval_ms;
	for (size_t i = 0; i < d->n_clients; i++) {
		struct dash_client *c = d->clients[i];
		if (c->closing_ms) {
			if (now_ms - c->closing_ms > CLOSE_GRACE_MS)
				mark_dead(c);
		} else if (c->ping_sent_ms) {
			if (now_ms - c->ping_sent_ms > every) {
				bm_log_debug(d->ctx, "websocket client %s: no answer to a ping", c->peer);
				mark_dead(c);
			}
		} else if (now_ms - c->last_rx_ms >= every) {
			char payload[24];
			int n = snprintf(payload, sizeof(payload), "%lld", (long long)now_ms);
			send_frame(c, WS_OP_PING, payload, (size_t)n);
			c->ping_sent_ms = now_ms;
		}
	}
	dash_sweep(d);
}

void dash_close_all(struct dash *d)
{
	for (size_t i = 0; i < d->n_clients; i++) {
		dash_client_close(d->clients[i], WS_CLOSE_GOING_AWAY, "bearmond is stopping");
		mark_dead(d->clients[i]);
	}
	dash_sweep(d);
	free(d->clients);
	d->clients = NULL;
	d->cap_clients = 0;
}

static void peer_name(int fd, char *out, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	snprintf(out, n, "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
	}
	snprintf(out, n, "%s:%d", host, port);
}

static struct dash_client *client_new(struct dash *d, int fd)
{
	struct dash_client *c = calloc(1, sizeof(*c));
	struct ws_limits lim = {(size_t)d->conf->max_frame, (size_t)d->conf->max_message};
	if (!c || BM_VEC_RESERVE(d->clients, d->cap_clients, d->n_clients + 1)) {
		free(c);
		return NULL;
	}
	c->d = d;
	c->fd = fd;
	c->last_rx_ms = bm_now_ms(d->ctx);
	ws_rx_init(&c->rx, &lim, true);
	peer_name(fd, c->peer, sizeof(c->peer));
	if (bm_fd_watch(d->ctx, fd, BM_FD_READ, on_io, c, &c->rw)) {
		free(c);
		return NULL;
	}
	d->clients[d->n_clients++] = c;
	*(volatile double *)&d->st.clients = (double)d->n_clients;
	return c;
}

/* --- the upgrade ------------------------------------------------------------------ */

/* RFC 6455 4.2.1 and the Origin rule: NULL when the request may upgrade,
 * else the status in *status and the reason. */
static const char *upgrade_refusal(struct dash *d, struct bm_http_req *req, int *status)
{
	const char *up = bm_http_header(req, "Upgrade");
	const char *conn = bm_http_header(req, "Connection");
	const char *ver = bm_http_header(req, "Sec-WebSocket-Version");
	char accept[WS_ACCEPT_LEN];
	*status = 400;
	if (strcmp(bm_http_method(req), "GET") != 0) {
		*status = 405;
		return "a WebSocket opens with GET";
	}
	if (!up || !ws_header_has_token(up, "websocket") || !conn ||
	    !ws_header_has_token(conn, "upgrade"))
		return "this is a WebSocket endpoint: Upgrade: websocket expected";
	if (!ver || strcmp(ver, "13") != 0) {
		*status = 426;
		bm_http_add_header(req, "Sec-WebSocket-Version", "13");
		return "only WebSocket version 13 is spoken";
	}
	if (!bm_http_header(req, "Host"))
		return "Host header missing";
	if (!ws_accept_key(bm_http_header(req, "Sec-WebSocket-Key"), accept))
		return "Sec-WebSocket-Key is not 16 bytes in base64";
	if (!origin_allowed(bm_http_header(req, "Origin"), bm_http_header(req, "Host"),
			    &d->conf->allowed_origins)) {
		*status = 403;
		return "Origin not allowed (same origin, or the allowed_origins option)";
	}
	if ((int64_t)d->n_clients >= d->conf->max_clients) {
		*status = 503;
		return "too many WebSocket clients (max_clients)";
	}
	return NULL;
}

static void send_handshake(struct dash_client *c, const char *key)
{
	char accept[WS_ACCEPT_LEN], resp[256];
	ws_accept_key(key, accept);
	int n = snprintf(resp, sizeof(resp),
			 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			 accept);
	queue_bytes(c, resp, (size_t)n, false);
}

static void send_hello(struct dash_client *c)
{
	const struct dash_conf *cf = c->d->conf;
	send_json(c, json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "type", "hello",
			       "protocol", 1, "now_ms", (json_int_t)bm_now_ms(c->d->ctx),
			       "metrics_interval_ms", (json_int_t)cf->metrics_interval_ms,
			       "trend_interval_ms", (json_int_t)cf->trend_interval_ms,
			       "recommendation_interval_ms",
			       (json_int_t)cf->recommendation_interval_ms, "max_subscriptions",
			       (json_int_t)cf->max_subscriptions, "max_message",
			       (json_int_t)cf->max_message));
}

/* Subscriptions named in the URL: ?series=a,b{x="1"}&events=alert,anomaly */
static void url_subscriptions(struct dash_client *c, const char *series, const char *events)
{
	if (!(series && *series) && !(events && *events))
		return;
	json_t *mapping = json_object();
	if (series && *series)
		dash_subscribe_series(c, series, strlen(series), mapping);
	if (events && *events)
		dash_subscribe_topics(c, events, true);
	dash_send_subscriptions(c, mapping);
}

void dash_on_ws(void *user, struct bm_http_req *req)
{
	struct dash *d = user;
	int status, fd = -1;
	const char *why = upgrade_refusal(d, req, &status);
	if (why) {
		STAT_ADD(d, refused, 1);
		plugin_reply_error(req, status, why);
		return;
	}
	/* the request's strings live until the reply, which takeover is */
	char *key = strdup(bm_http_header(req, "Sec-WebSocket-Key"));
	const char *qs = bm_http_query(req, "series"), *qe = bm_http_query(req, "events");
	char *series = qs ? strdup(qs) : NULL, *events = qe ? strdup(qe) : NULL;
	int rc = key && (!qs || series) && (!qe || events) ? bm_http_takeover(req, &fd) : BM_ENOMEM;
	if (rc) {
		STAT_ADD(d, refused, 1);
		plugin_reply_error(req, rc == BM_ENOTSUP ? 501 : 500,
				   rc == BM_ENOTSUP ? "WebSocket is not available on this listener "
						      "(TLS): poll the JSON routes"
						    : "cannot take the connection over");
		goto out;
	}
	int one = 1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct dash_client *c = client_new(d, fd);
	if (!c) {
		close(fd);
		goto out;
	}
	STAT_ADD(d, connections, 1);
	send_handshake(c, key);
	send_hello(c);
	url_subscriptions(c, series, events);
	dash_sweep(d);
out:
	free(key);
	free(series);
	free(events);
}
