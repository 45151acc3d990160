/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who may talk to the HTTP listener: bearer tokens (a read-only one and an
 * admin one, read from files), TLS through OpenSSL, and a per-client
 * request rate limit. A listener on anything but loopback must have both
 * tokens, so that no non-local client ever reaches the API unauthenticated.
 */
#define _GNU_SOURCE
#include "http_security.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bearmon/bm_host.h"

/* Clients are tracked in a fixed table hashed by address: a collision
 * shares a bucket (errs towards limiting), and memory stays bounded
 * whatever the number of clients. */
#define RATE_SLOTS 4096

struct rate_slot {
	uint64_t addr_hash;
	double tokens;
	int64_t last_ms;
};

struct http_security {
	char *read_token;
	char *admin_token;
	SSL_CTX *ssl;
	double rate;  /* requests per second per client; 0 = no limit */
	double burst;
	struct rate_slot *slots;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *http_read_token(const char *path, const char *option, struct bm_err *err)
{
	FILE *f = fopen(path, "re");
	char buf[512] = "";
	if (!f) {
		bm_err_set(err, BM_EIO, "http.%s %s: %s", option, path, strerror(errno));
		return NULL;
	}
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	char *s = buf, *e = buf + strlen(buf);
	while (isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	if (strlen(s) < 16) {
		bm_err_set(err, BM_EINVAL, "http.%s %s: a token of at least 16 characters is needed",
			   option, path);
		return NULL;
	}
	char *tok = strdup(s);
	if (!tok)
		bm_err_set(err, BM_ENOMEM, "out of memory");
	return tok;
}

static SSL_CTX *tls_context(const char *cert, const char *key, struct bm_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) &&
	    SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 &&
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1)
		return ctx;
	char why[256];
	ERR_error_string_n(ERR_get_error(), why, sizeof(why));
	bm_err_set(err, BM_EINVAL, "http.tls_cert %s / http.tls_key %s: %s", cert, key, why);
	SSL_CTX_free(ctx);
	return NULL;
}

/* 127.0.0.0/8, ::1 and "localhost": the only binds allowed without tokens. */
bool http_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

struct http_security *http_security_new(const struct http_conf *c, const char *host,
					struct bm_err *err)
{
	bool have_read = c->read_token_file && *c->read_token_file;
	bool have_admin = c->admin_token_file && *c->admin_token_file;
	if (!http_is_loopback(host) && !(have_read && have_admin)) {
		bm_err_set(err, BM_EINVAL,
			   "http.listen %s is not loopback: set http.read_token_file and "
			   "http.admin_token_file (tokens come from files, never the command line)",
			   c->listen);
		return NULL;
	}
	if (have_read != have_admin) {
		bm_err_set(err, BM_EINVAL, "http: set both read_token_file and admin_token_file, "
					   "or neither");
		return NULL;
	}
	bool have_cert = c->tls_cert && *c->tls_cert, have_key = c->tls_key && *c->tls_key;
	if (have_cert != have_key) {
		bm_err_set(err, BM_EINVAL, "http: set both tls_cert and tls_key, or neither");
		return NULL;
	}
	struct http_security *s = calloc(1, sizeof(*s));
	if (!s) {
		bm_err_set(err, BM_ENOMEM, "out of memory");
		return NULL;
	}
	s->rate = c->rate_limit;
	s->burst = c->rate_burst > 0 ? (double)c->rate_burst : 1;
	if ((have_read && (!(s->read_token = http_read_token(c->read_token_file, "read_token_file", err)) ||
			   !(s->admin_token = http_read_token(c->admin_token_file, "admin_token_file",
							      err)))) ||
	    (have_cert && !(s->ssl = tls_context(c->tls_cert, c->tls_key, err))) ||
	    (s->rate > 0 && !(s->slots = calloc(RATE_SLOTS, sizeof(*s->slots))))) {
		if (!err->code)
			bm_err_set(err, BM_ENOMEM, "out of memory");
		http_security_free(s);
		return NULL;
	}
	return s;
}

void http_security_free(struct http_security *s)
{
	if (!s)
		return;
	if (s->read_token)
		OPENSSL_cleanse(s->read_token, strlen(s->read_token));
	if (s->admin_token)
		OPENSSL_cleanse(s->admin_token, strlen(s->admin_token));
	free(s->read_token);
	free(s->admin_token);
	SSL_CTX_free(s->ssl);
	free(s->slots);
	free(s);
}

bool http_security_tls(const struct http_security *s) { return s && s->ssl; }

struct bufferevent *http_security_bev(struct http_security *s, struct event_base *base)
{
	if (!s || !s->ssl)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	SSL *ssl = SSL_new(s->ssl);
	if (!ssl)
		return NULL;
	/* the bufferevent owns ssl from here (BEV_OPT_CLOSE_ON_FREE frees it) */
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

/* Constant time, so that the time to refuse a token says nothing of it. */
static bool token_is(const char *got, const char *want)
{
	size_t n = strlen(want);
	return strlen(got) == n && CRYPTO_memcmp(got, want, n) == 0;
}

static bool rate_ok(struct http_security *s, uint64_t addr_hash)
{
	struct rate_slot *slot = &s->slots[addr_hash % RATE_SLOTS];
	int64_t now = mono_ms();
	if (slot->addr_hash != addr_hash) {
		*slot = (struct rate_slot){addr_hash, s->burst, now};
	} else {
		slot->tokens += (double)(now - slot->last_ms) / 1000.0 * s->rate;
		if (slot->tokens > s->burst)
			slot->tokens = s->burst;
		slot->last_ms = now;
	}
	if (slot->tokens < 1)
		return false;
	slot->tokens -= 1;
	return true;
}

int http_security_check(struct http_security *s, const char *authorization, bool admin_route,
			uint64_t peer_hash, const char **why)
{
	if (!s)
		return 0;
	if (s->rate > 0 && !rate_ok(s, peer_hash)) {
		*why = "too many requests from this client (http.rate_limit)";
		return 429;
	}
	if (!s->admin_token)
		return 0; /* loopback without tokens: local clients may do everything */
	const char *tok = authorization && strncasecmp(authorization, "Bearer ", 7) == 0
				  ? authorization + 7 : NULL;
	if (tok && token_is(tok, s->admin_token))
		return 0;
	if (tok && token_is(tok, s->read_token)) {
		if (!admin_route)
			return 0;
		*why = "this needs the admin token";
		return 403;
	}
	*why = "a bearer token is required (Authorization: Bearer ...)";
	return 401;
}
