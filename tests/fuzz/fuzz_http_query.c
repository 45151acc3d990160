/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for HTTP query parameters: the input as a request
 * target (split and decoded as the listener does), its parameters through
 * every route's parsing (Prometheus API, store routes, event routes), the
 * input as a POSTed form, and the input as one parameter value; checking
 * that decoding never grows, re-encoding reads back the same, and what
 * parses lies within the documented bounds.
 */
#include <sys/queue.h>
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_event.h"
#include "http.h"
#include "prom_api.h"
#include "store_api.h"
#include "store_events.h"

/* The parsers' time bounds: ms sums stay in int64 (TIME_LIMIT_S). */
#define MS_LIMIT 9.2e15
#define MAX_SELECTORS 16 /* per input: each is a PromQL parse */

/* UB is a crash here, also under run-one (the build recovers by default). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static void require(bool ok)
{
	if (!ok)
		abort();
}

static bool within(int64_t ms) { return ms >= -MS_LIMIT && ms <= MS_LIMIT; }

/* Decoding never grows: every key and value fits in the raw query. */
static void check_decoded(const struct evkeyvalq *q, size_t raw_len)
{
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, q, next)
		require(kv->key[0] && strlen(kv->key) + strlen(kv->value) <= raw_len);
}

/* Keys as they came, values encoded again: the same parameters back. */
static void check_round_trip(const struct evkeyvalq *q)
{
	struct evbuffer *b = evbuffer_new();
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, q, next) {
		char *enc = evhttp_uriencode(kv->value, -1, 0);
		require(enc != NULL);
		evbuffer_add_printf(b, "%s%s=%s", kv == TAILQ_FIRST(q) ? "" : "&", kv->key, enc);
		free(enc);
	}
	evbuffer_add(b, "", 1);
	struct evkeyvalq back;
	TAILQ_INIT(&back);
	require(http_parse_query((const char *)evbuffer_pullup(b, -1), &back) == 0);
	const struct evkeyval *x = TAILQ_FIRST(&back);
	TAILQ_FOREACH(kv, q, next) {
		require(x && strcmp(x->key, kv->key) == 0 && strcmp(x->value, kv->value) == 0);
		x = TAILQ_NEXT(x, next);
	}
	require(!x);
	evhttp_clear_headers(&back);
	evbuffer_free(b);
}

/* The store routes: series/export/delete, samples, range, and events. */
static void store_routes(const struct evkeyvalq *q)
{
	struct bm_matcher m[16];
	size_t n = store_api_matchers(q, m, 16);
	require(!n == (!evhttp_find_header(q, "name") && !evhttp_find_header(q, "name_re")));
	for (size_t i = 0; i < n && i < 16; i++)
		require(m[i].name && m[i].name[0] && m[i].value);
	require(!n || strcmp(m[0].name, "__name__") == 0);

	int64_t id, start, end; /* /samples: any value parses or is refused */
	(void)http_param_i64(q, "id", 0, &id);
	(void)http_param_i64(q, "start", INT64_MIN, &start);
	(void)http_param_i64(q, "end", INT64_MAX, &end);

	struct store_range_params rp;
	int refused = store_api_range_params(q, &rp);
	require(refused == 0 || refused == 400 || refused == 413);
	require(refused || (rp.step > 0 && rp.step <= MS_LIMIT && within(rp.start) &&
			    (rp.end == INT64_MAX || within(rp.end)) && rp.agg >= 0 && rp.agg <= BM_AGG_INCREASE));

	struct store_events_window w;
	if (store_events_parse_window(q, &w))
		require(w.limit >= 1 && w.limit <= 10000);
	const char *topic = evhttp_find_header(q, "topic");
	if (topic)
		(void)bm_event_is_standard(topic);
}

struct selectors {
	int seen;
};

static void check_selector(const char *text)
{
	struct prom_selector s;
	char err[1024] = "";
	int refused = prom_selector_parse(text, &s, err, sizeof(err));
	require(refused == 0 || refused == 400 || refused == 500);
	require(refused ? err[0] != '\0' : s.n <= PROM_SELECTOR_MAX);
	for (size_t i = 0; !refused && i < s.n; i++)
		require(s.m[i].name && s.m[i].value);
	prom_selector_free(&s);
}

static void each_selector(void *u, const char *text)
{
	struct selectors *c = u;
	if (c->seen++ < MAX_SELECTORS)
		check_selector(text);
}

/* The Prometheus API: time, query_range's start/end/step, limit, match[]. */
static void prom_routes(const struct prom_params *p)
{
	char msg[1024] = "";
	int64_t t, start, end, step, limit;
	if (!prom_time_param(p, "time", 0, &t, msg, sizeof(msg)))
		require(msg[0] != '\0');
	else
		require(within(t));
	msg[0] = '\0';
	if (prom_range_params(p, &start, &end, &step, msg, sizeof(msg)))
		require(within(start) && within(end) && start <= end && step > 0 && (end - start) / step <= 11000);
	else
		require(msg[0] != '\0');
	if (prom_limit_param(p, &limit))
		require(prom_param(p, "limit") || limit == -1);
	struct selectors c = {0};
	const char *first = prom_param_each(p, "match[]", each_selector, &c);
	require(!first == !c.seen);
}

/* The input (size bytes, len before a NUL) as a request target: a path
 * when it starts with '/', else a query string after one, and then also
 * as a form body posted with that target. */
static void as_request(const char *in, size_t len, size_t size)
{
	char *target = malloc(len + 4);
	require(target != NULL);
	snprintf(target, len + 4, "%s%s", in[0] == '/' ? "" : "/q?", in);
	struct evkeyvalq query;
	TAILQ_INIT(&query);
	struct evhttp_uri *uri = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
	char *path = NULL;
	if (uri && !http_parse_target(uri, &path, &query)) {
		const char *raw_q = evhttp_uri_get_query(uri);
		require(path[0] == '/' && strlen(path) <= strlen(evhttp_uri_get_path(uri)));
		check_decoded(&query, raw_q ? strlen(raw_q) : 0);
		check_round_trip(&query);
		store_routes(&query);
	}
	/* a target of its own is a GET's: no form */
	const char *form = in[0] == '/' ? NULL : "application/x-www-form-urlencoded";
	struct prom_params p;
	if (prom_params_init(&p, &query, form, in, size)) {
		check_decoded(&p.form, len);
		prom_routes(&p);
	}
	prom_params_free(&p);
	evhttp_clear_headers(&query);
	free(path);
	if (uri)
		evhttp_uri_free(uri);
	free(target);
}

/* The input as one parameter's value, to each value parser. */
static void as_value(const char *s)
{
	int64_t ms, v;
	/* Go's parsers refuse leading white space; so do ours */
	if (prom_parse_time(s, &ms))
		require(within(ms) && !isspace((unsigned char)s[0]));
	if (prom_parse_duration(s, &ms))
		require(within(ms) && !isspace((unsigned char)s[0]));
	if (http_parse_i64(s, 0, &v))
		require(s[0] != '\0');
	check_selector(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *in = malloc(size + 1);
	require(in != NULL);
	memcpy(in, data, size);
	in[size] = '\0';
	as_request(in, strlen(in), size);
	as_value(in);
	free(in);
	return 0;
}
