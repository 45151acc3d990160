/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus' HTTP API over the store (/api/v1/query, query_range, series,
 * labels, label/NAME/values, metadata, status/buildinfo, rules, alerts),
 * in Prometheus' JSON shapes, and the host API's promql entry.
 */
#ifndef BEARMON_CORE_PROM_API_H
#define BEARMON_CORE_PROM_API_H

#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bearmon/bm_host.h"

struct daemon;
struct promql_expr;

/* Register the /api/v1 routes with owner (http_remove_routes(owner)
 * removes them). /api/v1/rules and /api/v1/alerts are answered by a
 * catch-all prefix route on /api/v1 with Prometheus-shaped empty results,
 * so a plugin that registers either path (the rule engine) takes it over. */
int prom_api_attach(struct daemon *d, void *owner);

/* The host API's promql entry (bm_host.h). */
long prom_api_query(struct daemon *d, const char *expr, int64_t start_ms, int64_t end_ms,
		    int64_t step_ms, bm_promql_cb cb, void *user, char *err, size_t errlen);

/* Prometheus' time parameter: seconds as a decimal ("1435781451.781") or
 * RFC 3339 ("2015-07-01T20:10:51.781Z"); true and *ms filled. */
bool prom_parse_time(const char *s, int64_t *ms);
/* Prometheus' step and duration parameters: seconds as a decimal, or a
 * duration like "5m", "1h30m", "250ms"; true and *ms filled. */
bool prom_parse_duration(const char *s, int64_t *ms);

/*
 * The routes' parameter parsing, apart from any request (the fuzzer's way
 * in). A request's parameters as Prometheus reads them (Go's r.Form): a
 * POSTed form's (body, len: NULL when not a POST) first, then the URL
 * query's (query, values decoded by http_parse_target); keys are compared
 * percent-decoded (match%5B%5D is match[]). false: the form does not
 * parse (a 400); free either way.
 */
struct prom_params {
	const struct evkeyvalq *query;
	struct evkeyvalq form;
};
bool prom_params_init(struct prom_params *p, const struct evkeyvalq *query, const char *content_type,
		      const char *body, size_t len);
void prom_params_free(struct prom_params *p);
/* The first value of parameter name (NULL: absent); each to cb, in order. */
const char *prom_param_each(const struct prom_params *p, const char *name,
			    void (*cb)(void *u, const char *value), void *u);
const char *prom_param(const struct prom_params *p, const char *name);
/* A time parameter (prom_parse_time) into *out, dflt when absent; false
 * with Prometheus' message in msg. */
bool prom_time_param(const struct prom_params *p, const char *name, int64_t dflt, int64_t *out, char *msg,
		     size_t len);
/* query_range's start, end and step (ms): both times given, end not
 * before start, step > 0, at most 11,000 points; false with the message. */
bool prom_range_params(const struct prom_params *p, int64_t *start, int64_t *end, int64_t *step, char *msg,
		       size_t len);
/* metadata's limit: -1 when absent or empty; false when not a number. */
bool prom_limit_param(const struct prom_params *p, int64_t *limit);

/* One match[] selector of the series and label routes: a vector selector,
 * in parentheses or not, without offset; its matchers (pointing into e,
 * regexes translated to POSIX ERE in ere) as the store takes them. */
#define PROM_SELECTOR_MAX 128
struct prom_selector {
	struct promql_expr *e;
	struct bm_matcher m[PROM_SELECTOR_MAX];
	char *ere[PROM_SELECTOR_MAX];
	size_t n;
};
/* 0, or the status of the refusal with its message in err: 400 (not a
 * selector, too many matchers), 500 (out of memory). Free either way. */
int prom_selector_parse(const char *text, struct prom_selector *s, char *err, size_t len);
void prom_selector_free(struct prom_selector *s);

#endif
