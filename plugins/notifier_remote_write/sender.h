/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One shard's HTTP client: a libcurl easy handle kept across requests (so
 * the connection stays open), driven through a multi handle that another
 * thread can wake to interrupt a request; the headers the spec asks for,
 * TLS, basic auth and bearer tokens, the secrets re-read from their files
 * when those change.
 */
#ifndef BEARMON_RW_SENDER_H
#define BEARMON_RW_SENDER_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "response.h"
#include "rw.h"

/* A secret given inline or in a file, re-read when the file changes. */
struct rw_secret {
	const char *inline_value;
	const char *file;
	char *value; /* the one in force; NULL when none */
	int64_t mtime_ns;
	int64_t size;
};

struct rw_sender {
	const struct rw_conf *c;
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	struct rw_secret token, password;
	bool headers_stale;
	char errbuf[CURL_ERROR_SIZE];
	char head[512]; /* start of the answer's body */
	size_t head_len;
	char retry_after[64];
	bool has_retry_after;
};

/* Checks of the options the sender uses, for init: url scheme, TLS
 * files, header values, secret files readable. */
int rw_sender_check(const struct rw_conf *c, struct bm_err *err);
int rw_sender_init(struct rw_sender *s, const struct rw_conf *c, struct bm_err *err);
void rw_sender_free(struct rw_sender *s);
/*
 * POST body (len bytes) to the url. *abort is read (atomically) while the
 * request runs, which rw_sender_wake interrupts: false when it did (resp
 * is then meaningless). Otherwise resp describes the exchange; its
 * strings live in s until the next post.
 */
bool rw_sender_post(struct rw_sender *s, const char *body, size_t len, const int *abort,
		    struct rw_response *resp);
/* Interrupt a post in progress on another thread (any thread). */
void rw_sender_wake(struct rw_sender *s);

#endif
