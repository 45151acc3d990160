/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP listener. Handlers run on the main loop and answer before they
 * return; the route with the exact path wins, then the longest prefix
 * route. Errors are JSON with a status and a message.
 */
#define _GNU_SOURCE
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>

#include "bearmon/bm_hash.h"
#include "bearmon/bm_vec.h"
#include "http_security.h"
#include "log.h"

struct route {
	char *path;
	unsigned flags;
	bm_http_cb cb;
	void *user;
	void *owner;
};

struct http {
	struct evhttp *ev;
	struct evhttp_bound_socket *sock;
	struct event *resume; /* re-enables accepting after running out of fds */
	uint64_t accept_errors;
	/* every connection's bufferevent, with the time by which it must have
	 * sent a whole request (see guard_sweep) */
	struct conn {
		struct bufferevent *bev;
		int64_t deadline_ms;
		bool shut;
	} *conns;
	size_t n_conns, cap_conns;
	int64_t request_timeout_ms;
	struct event *sweep;
	uint64_t timed_out;
	struct http_security *sec;
	uint64_t refused; /* 401, 403, 429 */
	struct route *routes;
	size_t n_routes;
	int port;
};

struct bm_http_req {
	struct evhttp_request *r;
	struct http *h;
	char *path;
	struct evkeyvalq query;
	char *body;
	size_t body_len;
	bool replied;
};

static const char *status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Status";
	}
}

const char *http_req_method(struct bm_http_req *r)
{
	switch (evhttp_request_get_command(r->r)) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

const char *http_req_path(struct bm_http_req *r) { return r->path; }

const char *http_req_query(struct bm_http_req *r, const char *name)
{
	return evhttp_find_header(&r->query, name);
}

const char *http_req_header(struct bm_http_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->r), name);
}

const void *http_req_body(struct bm_http_req *r, size_t *len)
{
	if (!r->body) {
		struct evbuffer *in = evhttp_request_get_input_buffer(r->r);
		r->body_len = evbuffer_get_length(in);
		r->body = malloc(r->body_len + 1);
		if (!r->body) {
			*len = 0;
			return NULL;
		}
		evbuffer_copyout(in, r->body, r->body_len);
		r->body[r->body_len] = '\0';
	}
	*len = r->body_len;
	return r->body;
}

int http_req_add_header(struct bm_http_req *r, const char *name, const char *value)
{
	if (r->replied || !name || !value || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return BM_EINVAL;
	return evhttp_add_header(evhttp_request_get_output_headers(r->r), name, value) ? BM_ENOMEM : 0;
}

int http_req_reply(struct bm_http_req *r, int status, const char *content_type, const void *body,
		   size_t len)
{
	if (r->replied || status < 100 || status > 599)
		return BM_ESTATE;
	struct evbuffer *out = evbuffer_new();
	if (!out)
		return BM_ENOMEM;
	if (len)
		evbuffer_add(out, body, len);
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->r);
	evhttp_add_header(h, "Content-Type", content_type ? content_type : "text/plain; charset=utf-8");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(r->r, status, status_reason(status), out);
	evbuffer_free(out);
	r->replied = true;
	return 0;
}

/* A streamed reply (http_req_stream). evhttp keeps a request whose client
 * went away mid-reply, detached from its connection, until
 * evhttp_send_reply_end: the connection's close callback ends it then. */
struct http_stream {
	struct http *h;
	struct evhttp_request *er;
	struct evhttp_connection *conn;
	http_fill_fn fill;
	void (*release)(void *user);
	void *user;
	struct evbuffer *piece;
};

static void guard_request_done(struct http *h, struct evhttp_request *er);

static void stream_free(struct http_stream *s)
{
	evhttp_connection_set_closecb(s->conn, NULL, NULL);
	s->release(s->user);
	evbuffer_free(s->piece);
	free(s);
}

static void stream_closed(struct evhttp_connection *c, void *arg)
{
	(void)c;
	struct http_stream *s = arg;
	evhttp_send_reply_end(s->er); /* frees the detached request */
	stream_free(s);
}

static void stream_next(struct evhttp_connection *c, void *arg)
{
	(void)c;
	struct http_stream *s = arg;
	bool more = true;
	while (more && !evbuffer_get_length(s->piece))
		more = s->fill(s->user, s->piece);
	/* a long answer is no slow request: the guard's clock restarts */
	guard_request_done(s->h, s->er);
	if (more) {
		evhttp_send_reply_chunk_with_cb(s->er, s->piece, stream_next, s);
		return;
	}
	if (evbuffer_get_length(s->piece))
		evhttp_send_reply_chunk(s->er, s->piece);
	evhttp_send_reply_end(s->er);
	stream_free(s);
}

int http_req_stream(struct bm_http_req *r, const char *content_type, http_fill_fn fill,
		    void (*release)(void *user), void *user)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(r->r);
	if (!r->replied && evhttp_request_get_command(r->r) == EVHTTP_REQ_HEAD) {
		release(user); /* the headers only: nothing to stream */
		return http_req_reply(r, 200, content_type, NULL, 0);
	}
	struct http_stream *s = r->replied || !conn ? NULL : calloc(1, sizeof(*s));
	struct evbuffer *piece = s ? evbuffer_new() : NULL;
	if (!piece) {
		free(s);
		release(user);
		return r->replied || !conn ? BM_ESTATE : BM_ENOMEM;
	}
	*s = (struct http_stream){r->h, r->r, conn, fill, release, user, piece};
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(r->r);
	evhttp_add_header(hdr, "Content-Type", content_type);
	evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
	evhttp_connection_set_closecb(conn, stream_closed, s);
	evhttp_send_reply_start(r->r, 200, "OK");
	r->replied = true;
	stream_next(conn, s);
	return 0;
}

int http_reply_json(struct bm_http_req *r, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return http_req_reply(r, 500, "text/plain", "out of memory\n", 14);
	int rc = http_req_reply(r, status, "application/json", text, strlen(text));
	free(text);
	return rc;
}

int http_reply_error(struct bm_http_req *r, int status, const char *msg)
{
	json_t *j = json_pack("{s:s, s:s}", "status", "error", "error", msg);
	if (!j) /* msg quotes the request, and the request was not UTF-8 */
		j = json_pack("{s:s, s:s}", "status", "error", "error", "request is not valid UTF-8");
	return http_reply_json(r, status, j);
}

static const struct route *find_route(const struct http *h, const char *path)
{
	const struct route *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; i < h->n_routes; i++) {
		const struct route *rt = &h->routes[i];
		size_t n = strlen(rt->path);
		if (strcmp(rt->path, path) == 0)
			return rt;
		bool under = (rt->flags & BM_HTTP_PREFIX) && strncmp(rt->path, path, n) == 0 &&
			     (rt->path[n - 1] == '/' || path[n] == '/');
		if (under && n > best_len) {
			best = rt;
			best_len = n;
		}
	}
	return best;
}

/*
 * Slowloris guard. evhttp's timeout is one of inactivity, so a client that
 * sends a header byte every second holds its connection for ever. Each
 * connection must instead deliver a whole request within
 * request_timeout of its accept or of its previous request. evhttp keeps
 * its connections to itself, so we hand it every bufferevent (bevcb) and
 * hold one reference: a sweep twice a second shuts down the socket of a
 * connection past its deadline (evhttp then sees the end of input and
 * frees the connection as usual) and drops our reference to the ones
 * evhttp has freed, which closes their sockets.
 */
#define SWEEP_MS 500

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct bufferevent *guard_new_bev(struct event_base *base, void *arg)
{
	struct http *h = arg;
	if (BM_VEC_RESERVE(h->conns, h->cap_conns, h->n_conns + 1))
		return NULL; /* evhttp then makes one of its own, unguarded */
	struct bufferevent *bev = http_security_bev(h->sec, base);
	if (!bev)
		return NULL;
	bufferevent_incref(bev);
	h->conns[h->n_conns++] = (struct conn){bev, mono_ms() + h->request_timeout_ms, false};
	return bev;
}

/* A request arrived whole: the connection's clock starts again. */
static void guard_request_done(struct http *h, struct evhttp_request *er)
{
	struct evhttp_connection *c = evhttp_request_get_connection(er);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
	for (size_t i = h->n_conns; bev && i-- > 0;) {
		if (h->conns[i].bev == bev) {
			h->conns[i].deadline_ms = mono_ms() + h->request_timeout_ms;
			return;
		}
	}
}

static bool freed_by_evhttp(struct bufferevent *bev)
{
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	bufferevent_getcb(bev, &rcb, &wcb, &ecb, NULL);
	return !rcb && !wcb && !ecb; /* bufferevent_free() clears them */
}

static void guard_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct http *h = arg;
	int64_t now = mono_ms();
	size_t kept = 0;
	for (size_t i = 0; i < h->n_conns; i++) {
		struct conn *c = &h->conns[i];
		if (freed_by_evhttp(c->bev)) {
			bufferevent_decref(c->bev);
			continue;
		}
		if (!c->shut && now > c->deadline_ms && bufferevent_getfd(c->bev) >= 0) {
			shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
			c->shut = true;
			h->timed_out++;
		}
		h->conns[kept++] = *c;
	}
	h->n_conns = kept;
}

static void guard_free(struct http *h)
{
	for (size_t i = 0; i < h->n_conns; i++)
		bufferevent_decref(h->conns[i].bev);
	free(h->conns);
	if (h->sweep)
		event_free(h->sweep);
}

static uint64_t peer_hash(struct evhttp_request *er)
{
	struct evhttp_connection *c = evhttp_request_get_connection(er);
	char *addr = NULL;
	ev_uint16_t port = 0;
	if (c)
		evhttp_connection_get_peer(c, &addr, &port);
	return bm_hash_field(BM_HASH_INIT, addr);
}

/* Tokens and the rate limit. Every method but GET and HEAD changes
 * something, so it needs the admin token, unless the route is marked
 * read-only (a query taking a POST form). */
static bool allowed(struct http *h, struct bm_http_req *req, const struct route *rt)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req->r);
	bool reads = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD ||
		     (rt && (rt->flags & BM_HTTP_READONLY) && m == EVHTTP_REQ_POST);
	bool admin = !reads;
	const char *why = NULL;
	int status = http_security_check(h->sec, http_req_header(req, "Authorization"), admin,
					 peer_hash(req->r), &why);
	if (!status)
		return true;
	h->refused++;
	if (status == 401)
		http_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"bearmon\"");
	http_reply_error(req, status, why);
	return false;
}

int http_parse_query(const char *q, struct evkeyvalq *query)
{
	/* "name=up%00x" must not select up */
	return strstr(q, "%00") ? -1 : evhttp_parse_query_str(q, query);
}

const char *http_parse_target(const struct evhttp_uri *uri, char **path, struct evkeyvalq *query)
{
	const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
	size_t dlen = 0;
	*path = raw ? evhttp_uridecode(raw, 0, &dlen) : NULL;
	/* a decoded NUL byte would shorten the path: refuse it */
	if (!*path || (*path)[0] != '/' || strlen(*path) != dlen)
		return "bad request path";
	const char *q = evhttp_uri_get_query(uri);
	return q && http_parse_query(q, query) != 0 ? "malformed query string" : NULL;
}

static void dispatch(struct evhttp_request *er, void *arg)
{
	struct http *h = arg;
	struct bm_http_req req = {.r = er, .h = h};
	guard_request_done(h, er);
	TAILQ_INIT(&req.query);
	const char *bad = http_parse_target(evhttp_request_get_evhttp_uri(er), &req.path, &req.query);
	if (bad) {
		http_reply_error(&req, 400, bad);
		goto out;
	}
	const struct route *rt = find_route(h, req.path);
	if (!allowed(h, &req, rt))
		goto out;
	if (!rt) {
		char msg[300];
		snprintf(msg, sizeof(msg), "no route for %.250s", req.path);
		http_reply_error(&req, 404, msg);
		goto out;
	}
	rt->cb(rt->user, &req);
	if (!req.replied) {
		LOG_ERR("http: handler for %s did not reply", rt->path);
		http_reply_error(&req, 500, "handler did not reply");
	}
out:
	evhttp_clear_headers(&req.query);
	free(req.path);
	free(req.body);
}

static int split_listen(const char *listen, char *host, size_t hn, int *port)
{
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen)
		return -1;
	const char *h = listen;
	size_t len = (size_t)(colon - listen);
	if (h[0] == '[' && len >= 2 && h[len - 1] == ']') {
		h++;
		len -= 2;
	}
	if (len >= hn)
		return -1;
	memcpy(host, h, len);
	host[len] = '\0';
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* Out of descriptors, accept() fails for as long as connections wait in
 * the backlog, and libevent would retry at once, spinning: stop accepting
 * for a moment instead; the established connections go on being served,
 * and the waiting ones are accepted when descriptors free up. */
#define ACCEPT_PAUSE_MS 100

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct http *h = arg;
	evconnlistener_enable(evhttp_bound_socket_get_listener(h->sock));
}

/* The listener's error callback gets evhttp's own pointer, not ours: the
 * listeners of this process (main thread only) map one to the other. */
static struct http *listeners[8];

static struct http *http_of(struct evhttp *ev)
{
	for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
		if (listeners[i] && listeners[i]->ev == ev)
			return listeners[i];
	}
	return NULL;
}

static void listener_track(struct http *h, bool add)
{
	for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
		if (add ? !listeners[i] : listeners[i] == h) {
			listeners[i] = add ? h : NULL;
			return;
		}
	}
}

static void accept_error(struct evconnlistener *l, void *arg)
{
	struct http *h = http_of(arg);
	int e = EVUTIL_SOCKET_ERROR();
	if (!h)
		return;
	h->accept_errors++;
	LOG_WARN("http: accept: %s: pausing the listener for %d ms", strerror(e), ACCEPT_PAUSE_MS);
	evconnlistener_disable(l);
	struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
	event_add(h->resume, &tv);
}

struct http *http_new(struct event_base *loop, const struct http_conf *c, struct bm_err *err)
{
	const char *listen = c->listen;
	char host[256];
	int port;
	if (split_listen(listen, host, sizeof(host), &port)) {
		bm_err_set(err, BM_EINVAL, "http.listen \"%s\": expected HOST:PORT", listen);
		return NULL;
	}
	struct http *h = calloc(1, sizeof(*h));
	if (!h || !(h->ev = evhttp_new(loop))) {
		free(h);
		bm_err_set(err, BM_ENOMEM, "http: out of memory");
		return NULL;
	}
	if (!(h->sec = http_security_new(c, host, err))) {
		http_free(h);
		return NULL;
	}
	evhttp_set_max_body_size(h->ev, (ev_ssize_t)c->max_body);
	evhttp_set_max_headers_size(h->ev, 64 * 1024);
	evhttp_set_timeout(h->ev, (int)((c->timeout_ms + 999) / 1000));
	evhttp_set_allowed_methods(h->ev, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						  EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
						  EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->ev, dispatch, h);
	h->request_timeout_ms = c->request_timeout_ms;
	evhttp_set_bevcb(h->ev, guard_new_bev, h);
	h->sweep = event_new(loop, -1, EV_PERSIST, guard_sweep, h);
	struct timeval sweep_tv = {0, SWEEP_MS * 1000};
	if (!h->sweep || event_add(h->sweep, &sweep_tv)) {
		bm_err_set(err, BM_ENOMEM, "http: out of memory");
		http_free(h);
		return NULL;
	}
	h->sock = evhttp_bind_socket_with_handle(h->ev, host, (ev_uint16_t)port);
	if (!h->sock) {
		bm_err_set(err, BM_EIO, "http: cannot listen on %s: %s", listen, strerror(errno));
		http_free(h);
		return NULL;
	}
	h->resume = evtimer_new(loop, accept_resume, h);
	if (!h->resume) {
		bm_err_set(err, BM_ENOMEM, "http: out of memory");
		http_free(h);
		return NULL;
	}
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(h->sock), accept_error);
	listener_track(h, true);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	h->port = port;
	if (getsockname(evhttp_bound_socket_get_fd(h->sock), (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	return h;
}

int http_port(const struct http *h) { return h->port; }

void http_free(struct http *h)
{
	if (!h)
		return;
	listener_track(h, false);
	if (h->resume)
		event_free(h->resume);
	if (h->ev)
		evhttp_free(h->ev);
	guard_free(h);
	http_security_free(h->sec);
	for (size_t i = 0; i < h->n_routes; i++)
		free(h->routes[i].path);
	free(h->routes);
	free(h);
}

int http_add_route(struct http *h, void *owner, const char *path, unsigned flags, bm_http_cb cb,
		   void *user)
{
	if (!path || path[0] != '/' || !cb)
		return BM_EINVAL;
	for (size_t i = 0; i < h->n_routes; i++)
		if (strcmp(h->routes[i].path, path) == 0)
			return BM_EEXIST;
	struct route *v = realloc(h->routes, (h->n_routes + 1) * sizeof(*v));
	if (!v)
		return BM_ENOMEM;
	h->routes = v;
	char *p = strdup(path);
	if (!p)
		return BM_ENOMEM;
	v[h->n_routes++] = (struct route){p, flags, cb, user, owner};
	return 0;
}

void http_remove_routes(struct http *h, void *owner)
{
	size_t j = 0;
	for (size_t i = 0; i < h->n_routes; i++) {
		if (h->routes[i].owner == owner)
			free(h->routes[i].path);
		else
			h->routes[j++] = h->routes[i];
	}
	h->n_routes = j;
}

bool http_parse_i64(const char *s, int64_t dflt, int64_t *out)
{
	char *end;
	if (!s) {
		*out = dflt;
		return true;
	}
	errno = 0;
	*out = strtoll(s, &end, 10);
	return *s && !*end && !errno;
}

bool http_param_i64(const struct evkeyvalq *params, const char *name, int64_t dflt, int64_t *out)
{
	return http_parse_i64(evhttp_find_header(params, name), dflt, out);
}

bool http_query_i64(struct bm_http_req *r, const char *name, int64_t dflt, int64_t *out)
{
	return http_param_i64(&r->query, name, dflt, out);
}

const struct evkeyvalq *http_req_params(struct bm_http_req *r) { return &r->query; }

/*
 * Hand req's connection over to its handler (a protocol upgrade). evhttp
 * cannot let go of a connection, so it is given a stand-in: the socket is
 * duplicated for the caller, and the original descriptor number is made to
 * point at a fresh unconnected socket (dup2). evhttp's answer then fails on
 * the stand-in and evhttp frees its connection; nothing is written on the
 * real one. The bufferevent is disabled first so that epoll forgets the
 * real socket under that number.
 */
int http_req_takeover(struct bm_http_req *r, int *fd_out)
{
	struct evhttp_connection *c = r->replied ? NULL : evhttp_request_get_connection(r->r);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
	int fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd < 0 || !fd_out)
		return BM_EINVAL;
	if (http_security_tls(r->h->sec))
		return BM_ENOTSUP; /* the TLS session lives in the bufferevent */
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	int mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	int stand_in = mine < 0 ? -1 : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (stand_in < 0 || dup2(stand_in, fd) < 0) {
		int e = errno;
		if (mine >= 0)
			close(mine);
		if (stand_in >= 0)
			close(stand_in);
		bufferevent_enable(bev, EV_READ);
		LOG_WARN("http: cannot take over a connection: %s", strerror(e));
		return BM_EIO;
	}
	close(stand_in);
	evhttp_send_reply(r->r, 101, "Switching Protocols", NULL);
	r->replied = true;
	*fd_out = mine;
	return 0;
}
