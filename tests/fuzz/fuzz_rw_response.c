/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_rw_response: notifier/remote_write's handling of receivers' answers
 * (rw_classify), and of what it sends: samples encoded and decoded again
 * (every label, timestamp and value bit back), and arbitrary bodies through
 * rw_decode. The first byte picks which.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "response.h"

#define MAX_SERIES 8
#define MAX_ITEMS 256

static void check_reason(const char *r)
{
	size_t n = strnlen(r, RW_REASON_LEN);
	if (n == RW_REASON_LEN)
		abort();
	for (size_t i = 0; i < n; i++)
		if (r[i] < 0x20 || r[i] > 0x7e)
			abort();
}

static void fuzz_answer(const uint8_t *d, size_t n)
{
	if (n < 3)
		return;
	char text[512];
	size_t len = n - 3 < sizeof(text) - 1 ? n - 3 : sizeof(text) - 1;
	memcpy(text, d + 3, len);
	text[len] = '\0';
	/* the text up to the first NUL is the Retry-After value, the rest the body */
	size_t ra_len = strlen(text);
	struct rw_response r = {
		.transport_ok = d[2] & 1,
		.transport_error = text,
		.status = (long)(d[0] << 8 | d[1]) % 1000,
		.retry_after = d[2] & 2 ? text : NULL,
		.body = text + (ra_len < len ? ra_len + 1 : len),
		.body_len = ra_len < len ? len - ra_len - 1 : 0,
	};
	struct rw_outcome o;
	bool allow_429 = d[2] & 4;
	rw_classify(&r, allow_429, 1700000000000, &o);
	check_reason(o.reason);
	bool ok2xx = r.transport_ok && r.status >= 200 && r.status < 300;
	bool retry = !r.transport_ok || r.status == 0 || r.status >= 500 ||
		     (r.status == 429 && allow_429);
	if ((o.verdict == RW_SENT) != ok2xx || (o.verdict == RW_RETRY) != (!ok2xx && retry))
		abort();
	if (o.retry_after_ms < -1 || o.retry_after_ms > RW_RETRY_AFTER_MAX_MS)
		abort();
}

/* Label values from the input: printable, never empty. */
static void value_text(const uint8_t *d, size_t n, char *out, size_t outn)
{
	size_t k = 0;
	for (; k < n && k + 1 < outn; k++)
		out[k] = (char)(0x21 + d[k] % 94);
	if (!k)
		out[k++] = 'x';
	out[k] = '\0';
}

static void fuzz_round_trip(const uint8_t *d, size_t n)
{
	static char vals[MAX_SERIES][2][24];
	struct rw_series *series[MAX_SERIES];
	struct rw_item items[MAX_ITEMS];
	size_t ns = n ? d[0] % MAX_SERIES + 1 : 1, ni = 0;
	for (size_t s = 0; s < ns; s++) {
		size_t off = 1 + s * 4;
		value_text(off < n ? d + off : NULL, off < n ? (n - off < 4 ? n - off : 4) : 0,
			   vals[s][0], sizeof(vals[s][0]));
		snprintf(vals[s][1], sizeof(vals[s][1]), "%zu", s);
		struct bm_label l[] = {{"__name__", "fuzz_total"}, {"a", vals[s][0]}, {"i", vals[s][1]}};
		series[s] = rw_series_new(l, 3);
		if (!series[s])
			abort();
	}
	for (size_t off = 1 + ns * 4; off + 17 <= n && ni < MAX_ITEMS; off += 17) {
		int64_t ts;
		double v;
		memcpy(&ts, d + off + 1, sizeof(ts));
		memcpy(&v, d + off + 9, sizeof(v));
		items[ni++] = (struct rw_item){series[d[off] % ns], ts, v, NULL};
	}
	struct rw_encoder e = {0};
	const char *body;
	size_t len;
	int64_t max_ts;
	Prometheus__WriteRequest *w = NULL;
	struct bm_err err = {0};
	if (ni && (rw_encode(&e, items, ni, &body, &len, &max_ts) || rw_decode(body, len, &w, &err)))
		abort();
	/* every item comes back: per series, its TimeSeries in order hold its
	 * items in order (a value's bits exactly; proto3 sends -0.0 as 0) */
	size_t next[MAX_SERIES] = {0}, seen = 0;
	for (size_t t = 0; w && t < w->n_timeseries; t++) {
		const Prometheus__TimeSeries *ts = w->timeseries[t];
		if (ts->n_labels != 3)
			abort();
		size_t s = (size_t)strtoul(ts->labels[2]->value, NULL, 10);
		if (s >= ns || strcmp(ts->labels[1]->value, vals[s][0]) != 0)
			abort();
		for (size_t k = 0; k < ts->n_samples; k++, seen++) {
			while (next[s] < ni && items[next[s]].series != series[s])
				next[s]++;
			if (next[s] == ni)
				abort();
			const struct rw_item *it = &items[next[s]++];
			double v = ts->samples[k]->value;
			if (it->ts_ms != ts->samples[k]->timestamp ||
			    (memcmp(&it->value, &v, sizeof(v)) != 0 && !(it->value == 0 && v == 0)))
				abort();
		}
	}
	if (seen != ni)
		abort();
	rw_decoded_free(w);
	rw_encoder_free(&e);
	for (size_t s = 0; s < ns; s++)
		rw_series_free(series[s]);
}

static void fuzz_decode(const uint8_t *d, size_t n)
{
	Prometheus__WriteRequest *w = NULL;
	struct bm_err err = {0};
	if (rw_decode(d, n, &w, &err) == 0) {
		if (!w)
			abort();
		rw_decoded_free(w);
	} else if (w || !err.msg[0]) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_answer(data + 1, size - 1);
		break;
	case 1:
		fuzz_round_trip(data + 1, size - 1);
		break;
	default:
		fuzz_decode(data + 1, size - 1);
		break;
	}
	return 0;
}
