/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Access to the HTTP listener (see http_security.c): bearer tokens, TLS,
 * per-client rate limit.
 */
#ifndef BEARMON_CORE_HTTP_SECURITY_H
#define BEARMON_CORE_HTTP_SECURITY_H

#include <stdbool.h>
#include <stdint.h>

#include "bearmon/bm_err.h"

struct event_base;
struct bufferevent;
struct http_security;

/* The listener's settings (core options http.*). */
struct http_conf {
	const char *listen;           /* "HOST:PORT" or "[V6]:PORT" */
	uint64_t max_body;
	int64_t timeout_ms;           /* inactivity */
	int64_t request_timeout_ms;   /* a whole request within this */
	const char *read_token_file;  /* NULL or "": no tokens */
	const char *admin_token_file;
	const char *tls_cert;         /* PEM chain; NULL or "": plain HTTP */
	const char *tls_key;
	double rate_limit;            /* requests/s per client; 0 = none */
	int64_t rate_burst;
};

bool http_is_loopback(const char *host);
/* The token in the first line of path (white space trimmed, at least 16
 * characters), malloc'd; NULL with err naming http.<option>. */
char *http_read_token(const char *path, const char *option, struct bm_err *err);
/* Refuses a non-loopback host without both tokens, half-set pairs,
 * unreadable or short tokens, a bad certificate or key. */
struct http_security *http_security_new(const struct http_conf *c, const char *host,
					struct bm_err *err);
void http_security_free(struct http_security *s);
bool http_security_tls(const struct http_security *s);
/* A bufferevent for a new connection: TLS when configured. */
struct bufferevent *http_security_bev(struct http_security *s, struct event_base *base);
/* 0 when the request may proceed, else the HTTP status to answer (401,
 * 403, 429) with *why. admin_route: the route needs the admin token. */
int http_security_check(struct http_security *s, const char *authorization, bool admin_route,
			uint64_t peer_hash, const char **why);

#endif
