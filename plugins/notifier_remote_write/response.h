/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a remote write answer means (spec 1.0, "Retries & Backoff"): sent,
 * retry (5xx, 429 when allowed, no answer at all) or give up (every other
 * status), with the Retry-After wait and a one-line reason for the log.
 * Pure functions of the answer, in their own file for the fuzz target.
 */
#ifndef BEARMON_RW_RESPONSE_H
#define BEARMON_RW_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rw_verdict {
	RW_SENT = 0, /* 2xx */
	RW_RETRY,    /* 5xx, 429 with retry_on_http_429, transport errors */
	RW_FAIL,     /* any other status: the batch is given up */
};

/* One exchange as libcurl reported it. */
struct rw_response {
	bool transport_ok;       /* CURLE_OK: an answer arrived */
	const char *transport_error; /* libcurl's text when !transport_ok */
	long status;             /* HTTP status; 0 when none */
	const char *retry_after; /* the Retry-After header value, or NULL */
	const char *body;        /* the start of the answer's body (need not end in NUL) */
	size_t body_len;
};

#define RW_REASON_LEN 256

struct rw_outcome {
	enum rw_verdict verdict;
	int64_t retry_after_ms; /* the receiver's wait, -1 when it gave none */
	char reason[RW_REASON_LEN]; /* "" when sent; printable, one line */
};

/* The longest Retry-After honoured; a longer one is cut to this. */
#define RW_RETRY_AFTER_MAX_MS (10 * 60 * 1000)

void rw_classify(const struct rw_response *r, bool retry_on_429, int64_t now_ms,
		 struct rw_outcome *out);

/* Retry-After as delta-seconds or an HTTP-date, in ms from now_ms (0 for
 * a date in the past, at most RW_RETRY_AFTER_MAX_MS); -1 when v is NULL
 * or neither form. */
int64_t rw_retry_after_ms(const char *v, int64_t now_ms);

/* n bytes of untrusted text as one printable line in out (outn >= 1):
 * control and non-ASCII bytes become '?', whitespace runs one space,
 * "..." marks a cut. */
void rw_printable(const char *in, size_t n, char *out, size_t outn);

#endif
