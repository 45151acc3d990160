/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote write answers (see response.h). HTTP-dates are parsed by
 * libcurl's curl_getdate(), the rest is a few comparisons.
 */
#include "response.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rw_printable(const char *in, size_t n, char *out, size_t outn)
{
	size_t o = 0;
	bool space = false, cut = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = o > 0;
			continue;
		}
		if (o + space + 2 > outn) {
			cut = true;
			break;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (cut && outn >= 4) {
		o = o > outn - 4 ? outn - 4 : o;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static bool all_digits(const char *s)
{
	return *s && s[strspn(s, "0123456789")] == '\0';
}

int64_t rw_retry_after_ms(const char *v, int64_t now_ms)
{
	if (!v)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	int64_t ms;
	if (all_digits(v)) {
		ms = strlen(v) > 7 ? RW_RETRY_AFTER_MAX_MS : (int64_t)strtoll(v, NULL, 10) * 1000;
	} else {
		time_t t = curl_getdate(v, NULL);
		if (t == (time_t)-1)
			return -1;
		/* compared in seconds first: a date centuries away would
		 * overflow the milliseconds */
		int64_t now_s = now_ms / 1000;
		if ((int64_t)t > now_s + RW_RETRY_AFTER_MAX_MS / 1000)
			return RW_RETRY_AFTER_MAX_MS;
		if ((int64_t)t < now_s)
			return 0;
		ms = (int64_t)t * 1000 - now_ms;
	}
	if (ms < 0)
		return 0;
	return ms > RW_RETRY_AFTER_MAX_MS ? RW_RETRY_AFTER_MAX_MS : ms;
}

/* "HTTP 400: <body>" plus what we do about it. */
static void status_reason(const struct rw_response *r, const char *why, struct rw_outcome *out)
{
	char body[160];
	rw_printable(r->body ? r->body : "", r->body ? r->body_len : 0, body, sizeof(body));
	snprintf(out->reason, sizeof(out->reason), "HTTP %ld%s%s%s", r->status, why,
		 *body ? ": " : "", body);
}

void rw_classify(const struct rw_response *r, bool retry_on_429, int64_t now_ms,
		 struct rw_outcome *out)
{
	out->reason[0] = '\0';
	out->retry_after_ms = -1;
	if (!r->transport_ok || r->status == 0) {
		out->verdict = RW_RETRY;
		char why[200];
		const char *e = r->transport_error ? r->transport_error : "no answer";
		rw_printable(e, strlen(e), why, sizeof(why));
		snprintf(out->reason, sizeof(out->reason), "no answer: %s", why);
		return;
	}
	if (r->status >= 200 && r->status < 300) {
		out->verdict = RW_SENT;
		return;
	}
	if (r->status >= 500 || (r->status == 429 && retry_on_429)) {
		out->verdict = RW_RETRY;
		out->retry_after_ms = rw_retry_after_ms(r->retry_after, now_ms);
		status_reason(r, r->status == 429 ? " (rate limited)" : "", out);
		return;
	}
	out->verdict = RW_FAIL;
	const char *why = "";
	if (r->status == 429)
		why = " (rate limited; retry_on_http_429 is off)";
	else if (r->status >= 300 && r->status < 400)
		why = " (redirects are not followed)";
	status_reason(r, why, out);
}
