/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The core's HTTP listener (evhttp): route table shared by the core and
 * plugins, request accessors behind the host API, JSON replies.
 */
#ifndef BEARMON_CORE_HTTP_H
#define BEARMON_CORE_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "bearmon/bm_host.h"
#include "http_security.h"

struct event_base;
struct evhttp_uri;
struct evkeyvalq;
struct http;

/* listen is "HOST:PORT" or "[V6]:PORT". */
struct http *http_new(struct event_base *loop, const struct http_conf *c, struct bm_err *err);
void http_free(struct http *h);
/* The port actually bound (useful with port 0). */
int http_port(const struct http *h);

int http_add_route(struct http *h, void *owner, const char *path, unsigned flags, bm_http_cb cb,
		   void *user);
void http_remove_routes(struct http *h, void *owner);

const char *http_req_method(struct bm_http_req *r);
const char *http_req_path(struct bm_http_req *r);
const char *http_req_query(struct bm_http_req *r, const char *name);
/* Query parameter name as a decimal int64 into *out, dflt when absent;
 * false when present but not a number. */
bool http_query_i64(struct bm_http_req *r, const char *name, int64_t dflt, int64_t *out);

/* The request's parameters (what http_req_query reads): the pure parsers
 * below and the routes' own take them, so the fuzzer needs no socket. */
const struct evkeyvalq *http_req_params(struct bm_http_req *r);
/* The first step of every request: uri's path percent-decoded into *path
 * (malloc'd, also on failure: the caller frees it) and its query split
 * into query (values decoded, keys as sent). NULL, or why the request
 * gets a 400. */
const char *http_parse_target(const struct evhttp_uri *uri, char **path, struct evkeyvalq *query);
/* A query string (or a form body) split into decoded parameters in
 * query (an empty list), as http_parse_target does; -1, query left empty,
 * when malformed or when a value would hold a NUL byte (%00), which would
 * cut it short. */
int http_parse_query(const char *q, struct evkeyvalq *query);
/* A decimal int64 parameter value s into *out, dflt when s is NULL;
 * false when it is not one. http_param_i64 looks name up in params. */
bool http_parse_i64(const char *s, int64_t dflt, int64_t *out);
bool http_param_i64(const struct evkeyvalq *params, const char *name, int64_t dflt, int64_t *out);
const char *http_req_header(struct bm_http_req *r, const char *name);
const void *http_req_body(struct bm_http_req *r, size_t *len);
int http_req_add_header(struct bm_http_req *r, const char *name, const char *value);
int http_req_reply(struct bm_http_req *r, int status, const char *content_type, const void *body,
		   size_t len);

/* A 200 reply streamed in chunks after the handler returns, for answers
 * too large to hold (an export): fill appends the next piece to out and
 * returns true while more follows, false with the last one. It is asked
 * for a piece only once the previous one has gone to the socket, so a slow
 * reader holds one piece in memory, not the whole answer, and the main
 * loop runs between pieces. release(user) runs once: after the last piece
 * or when the client went away. On an error (BM_ESTATE: already answered,
 * BM_ENOMEM) release has run too and the caller answers. */
struct evbuffer;
typedef bool (*http_fill_fn)(void *user, struct evbuffer *out);
int http_req_stream(struct bm_http_req *r, const char *content_type, http_fill_fn fill,
		    void (*release)(void *user), void *user);

/* Reply with j serialised (takes the reference). */
/* Take req's connection away from the server (protocol upgrades): the
 * connected socket in *fd_out, the caller's to use and close; nothing is
 * written on it. */
int http_req_takeover(struct bm_http_req *r, int *fd_out);
int http_reply_json(struct bm_http_req *r, int status, json_t *j);
/* {"status":"error","error":msg} */
int http_reply_error(struct bm_http_req *r, int status, const char *msg);

#endif
