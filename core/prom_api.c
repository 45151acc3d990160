/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus' HTTP API (see prom_api.h). Query results are written with a
 * small streaming JSON writer rather than jansson: a 24 h raw range is
 * 86,400 points, and building a jansson tree of them costs more than the
 * query; timestamps are written as Prometheus writes them (seconds with
 * the milliseconds as a fraction) and values as Go's FormatFloat 'f'.
 */
#define _GNU_SOURCE
#include "prom_api.h"

#include <sys/queue.h>
#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bearmon/bm_event.h"
#include "bearmon/bm_vec.h"
#include "daemon.h"
#include "exposition.h"
#include "http.h"
#include "promql_ast.h"
#include "promql_regex.h"
#include "store.h"
#include "store_api.h"

#ifndef BM_VERSION
#define BM_VERSION "0"
#endif

#define API "/api/v1"
#define MAX_POINTS 11000 /* per series of a range query, as Prometheus */

/* --- JSON writer ------------------------------------------------------------ */

struct jw {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->oom || BM_VEC_RESERVE(w->buf, w->cap, w->len + n + 1)) {
		w->oom = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void jw_puts(struct jw *w, const char *s) { jw_raw(w, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void jw_printf(struct jw *w, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	jw_raw(w, buf, n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A JSON string; bytes that are not valid UTF-8 become U+FFFD, as Go's
 * encoder does, so the answer always parses. */
static void jw_str(struct jw *w, const char *s)
{
	jw_raw(w, "\"", 1);
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		const unsigned char *run = p;
		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		jw_raw(w, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		if (*p == '"' || *p == '\\') {
			char e[2] = {'\\', (char)*p++};
			jw_raw(w, e, 2);
		} else if (*p < 0x20) {
			jw_printf(w, "\\u%04x", *p++);
		} else {
			/* overlong forms and surrogates are invalid too: a strict
			 * JSON reader refuses them */
			size_t n = bm_utf8_len(p, strnlen((const char *)p, 4));
			if (n) {
				jw_raw(w, (const char *)p, n);
				p += n;
			} else {
				jw_puts(w, "\xEF\xBF\xBD");
				p++;
			}
		}
	}
	jw_raw(w, "\"", 1);
}

/* Seconds with the milliseconds as a fraction, as Prometheus'
 * jsonutil.MarshalTimestamp: 1435781451.781, 1435781451.100, 1435781451.
 * Digits by hand: this runs once per point. */
static void jw_time(struct jw *w, int64_t ms)
{
	char buf[32], *p = buf + sizeof(buf);
	uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	unsigned frac = (unsigned)(a % 1000);
	if (frac)
		for (int i = 0; i < 3; i++, frac /= 10)
			*--p = (char)('0' + frac % 10);
	if (a % 1000)
		*--p = '.';
	a /= 1000;
	do
		*--p = (char)('0' + a % 10);
	while (a /= 10);
	if (ms < 0)
		*--p = '-';
	jw_raw(w, p, (size_t)(buf + sizeof(buf) - p));
}

/*
 * The common case without printf: v with at most 6 decimals whose digits
 * fit in 2^53. r = v * 10^k rounded; when r / 10^k (one correctly rounded
 * division of exact operands) is v again, the text "r with k decimals"
 * reads back as v. The smallest such k gives the shortest text.
 */
static bool format_decimal_fast(double v, char *out, size_t n)
{
	static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
	for (int k = 0; k < 7; k++) {
		double scaled = v * pow10[k];
		if (!(fabs(scaled) < 9007199254740992.0))
			return false;
		double r = nearbyint(scaled);
		if (r / pow10[k] != v)
			continue;
		char digits[32], *p = digits + sizeof(digits);
		uint64_t a = (uint64_t)fabs(r);
		*--p = '\0';
		for (int i = 0; i < k; i++, a /= 10)
			*--p = (char)('0' + a % 10);
		if (k)
			*--p = '.';
		do
			*--p = (char)('0' + a % 10);
		while (a /= 10);
		if (signbit(v))
			*--p = '-';
		snprintf(out, n, "%s", p);
		return true;
	}
	return false;
}

/* Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest digits that read
 * back as v, written without an exponent. */
static void format_go_f(double v, char *out, size_t n)
{
	if (isnan(v)) {
		snprintf(out, n, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (format_decimal_fast(v, out, n))
		return;
	/* 15 significant digits print any number that has a repr that short
	 * exactly (trailing zeros dropped below); else 16, else 17 */
	char e[40];
	for (int p = 15; p <= 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e is [-]D[.DDD]e[+-]XX: digits and decimal exponent */
	char digits[24];
	size_t nd = 0;
	const char *p = e;
	bool neg = *p == '-';
	p += neg;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	int exp10 = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	size_t o = 0;
#define PUT(c)                      \
	do {                        \
		if (o + 1 < n)      \
			out[o++] = (c); \
	} while (0)
	if (neg)
		PUT('-');
	if (exp10 < 0) {
		PUT('0');
		PUT('.');
		for (int i = -1; i > exp10; i--)
			PUT('0');
		for (size_t i = 0; i < nd; i++)
			PUT(digits[i]);
	} else {
		for (int i = 0; i <= exp10; i++)
			PUT((size_t)i < nd ? digits[i] : '0');
		if ((size_t)exp10 + 1 < nd) {
			PUT('.');
			for (size_t i = (size_t)exp10 + 1; i < nd; i++)
				PUT(digits[i]);
		}
	}
#undef PUT
	out[o] = '\0';
}

static void jw_value(struct jw *w, double v)
{
	char buf[400];
	format_go_f(v, buf, sizeof(buf));
	jw_raw(w, "\"", 1);
	jw_puts(w, buf);
	jw_raw(w, "\"", 1);
}

static void jw_point(struct jw *w, int64_t t, double v)
{
	jw_raw(w, "[", 1);
	jw_time(w, t);
	jw_raw(w, ",", 1);
	jw_value(w, v);
	jw_raw(w, "]", 1);
}

static void jw_labels(struct jw *w, const struct bm_label *l, uint32_t n)
{
	jw_raw(w, "{", 1);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			jw_raw(w, ",", 1);
		jw_str(w, l[i].name);
		jw_raw(w, ":", 1);
		jw_str(w, l[i].value);
	}
	jw_raw(w, "}", 1);
}

static void reply_jw(struct bm_http_req *r, int status, struct jw *w)
{
	if (w->oom)
		http_reply_error(r, 500, "out of memory");
	else
		http_req_reply(r, status, "application/json", w->buf, w->len);
	free(w->buf);
}

/* {"status":"error","errorType":TYPE,"error":MSG} */
__attribute__((format(printf, 4, 5))) static void reply_error(struct bm_http_req *r, int status,
							       const char *type, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct jw w = {0};
	jw_puts(&w, "{\"status\":\"error\",\"errorType\":");
	jw_str(&w, type);
	jw_puts(&w, ",\"error\":");
	jw_str(&w, msg);
	jw_puts(&w, "}");
	reply_jw(r, status, &w);
}

static void reply_status(struct bm_http_req *r, int status, const char *msg)
{
	switch (status) {
	case PROMQL_EPARSE:
	case PROMQL_EBADARG: reply_error(r, 400, "bad_data", "%s", msg); break;
	case PROMQL_EEXEC:
	case PROMQL_ELIMIT: reply_error(r, 422, "execution", "%s", msg); break;
	default: reply_error(r, 500, "internal", "%s", msg); break;
	}
}

/* --- parameters: the URL query, and a POSTed form ---------------------------- */

bool prom_params_init(struct prom_params *p, const struct evkeyvalq *query, const char *content_type,
		      const char *body, size_t len)
{
	p->query = query;
	TAILQ_INIT(&p->form);
	if (!body || !content_type || strncasecmp(content_type, "application/x-www-form-urlencoded", 33) != 0)
		return true;
	return strlen(body) == len && http_parse_query(body, &p->form) == 0;
}

void prom_params_free(struct prom_params *p) { evhttp_clear_headers(&p->form); }

/* The request's parameters; a form that does not parse is answered (400). */
static bool params_init(struct prom_params *p, struct bm_http_req *r)
{
	size_t len = 0;
	const char *body = strcmp(http_req_method(r), "POST") == 0 ? http_req_body(r, &len) : NULL;
	if (prom_params_init(p, http_req_params(r), http_req_header(r, "Content-Type"), body, len))
		return true;
	prom_params_free(p);
	reply_error(r, 400, "bad_data", "error parsing form values");
	return false;
}

/* Keys arrive as sent: match[] may be percent-encoded. */
static bool key_is(const char *key, const char *name)
{
	if (strcmp(key, name) == 0)
		return true;
	size_t n;
	char *dec = strchr(key, '%') || strchr(key, '+') ? evhttp_uridecode(key, 1, &n) : NULL;
	bool same = dec && strcmp(dec, name) == 0;
	free(dec);
	return same;
}

/* name's values in one list: the first into *first, each to cb. */
static void each_value(const struct evkeyvalq *q, const char *name, void (*cb)(void *u, const char *value),
		       void *u, const char **first)
{
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, q, next) {
		if (!key_is(kv->key, name))
			continue;
		if (!*first)
			*first = kv->value;
		if (cb)
			cb(u, kv->value);
	}
}

const char *prom_param_each(const struct prom_params *p, const char *name,
			    void (*cb)(void *u, const char *value), void *u)
{
	const char *first = NULL;
	each_value(&p->form, name, cb, u, &first);
	each_value(p->query, name, cb, u, &first);
	return first;
}

const char *prom_param(const struct prom_params *p, const char *name)
{
	return prom_param_each(p, name, NULL, NULL);
}

bool prom_limit_param(const struct prom_params *p, int64_t *limit)
{
	const char *s = prom_param(p, "limit");
	return http_parse_i64(s && *s ? s : NULL, -1, limit); /* empty: none, as Prometheus */
}

/* --- times and durations --------------------------------------------------- */

/* Bounds that keep every millisecond sum in int64 (292,000 years). */
#define TIME_LIMIT_S 9.2e12

static bool two_digits(const char *s) { return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]); }

static bool parse_rfc3339(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return false;
	int64_t frac = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		if (!digits)
			return false;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	int64_t zone_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' && two_digits(p + 1) &&
		   two_digits(p + 4)) {
		int hh = atoi(p + 1), mm = atoi(p + 4);
		zone_s = (int64_t)(hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	*ms = ((int64_t)timegm(&tm) - zone_s) * 1000 + frac;
	return true;
}

/* s as a whole decimal number of seconds (strtod's syntax without its
 * leading white space, which Go's ParseFloat refuses) into *v. */
static bool plain_number(const char *s, double *v)
{
	char *end;
	*v = strtod(s, &end);
	return *s && !*end && !isspace((unsigned char)*s);
}

bool prom_parse_time(const char *s, int64_t *ms)
{
	double t;
	if (plain_number(s, &t)) {
		if (!isfinite(t) || fabs(t) > TIME_LIMIT_S)
			return false;
		double sec = trunc(t);
		*ms = (int64_t)sec * 1000 + (int64_t)llround((t - sec) * 1000);
		return true;
	}
	return parse_rfc3339(s, ms);
}

bool prom_parse_duration(const char *s, int64_t *ms)
{
	double d;
	if (plain_number(s, &d)) {
		if (!isfinite(d) || fabs(d) > TIME_LIMIT_S)
			return false;
		*ms = (int64_t)(d * 1000); /* Go truncates to whole milliseconds */
		return true;
	}
	return bm_parse_duration(s, strlen(s), ms);
}

/* --- queries ------------------------------------------------------------------ */

static long src_series(void *ctx, const struct bm_matcher *m, size_t n,
		       void (*cb)(void *u, int64_t id, const char *text), void *u)
{
	return store_series(ctx, m, n, cb, u);
}

static long src_raw(void *ctx, int64_t id, int64_t start_ms, int64_t end_ms,
		    void (*cb)(void *u, int64_t ts_ms, double v), void *u)
{
	return store_raw(ctx, id, start_ms, end_ms, cb, u);
}

static void query_setup(struct daemon *d, struct store *st, struct promql_source *src,
			struct promql_opts *o)
{
	*src = (struct promql_source){st, src_series, src_raw};
	*o = (struct promql_opts){d->cfg->core.query.lookback_delta_ms,
				  (uint64_t)d->cfg->core.query.max_samples};
}

static const char *type_name(enum bm_promql_type t)
{
	switch (t) {
	case BM_PROMQL_SCALAR: return "scalar";
	case BM_PROMQL_VECTOR: return "vector";
	case BM_PROMQL_MATRIX: return "matrix";
	default: return "string";
	}
}

static void write_result(struct jw *w, const struct promql_result *res)
{
	jw_puts(w, "{\"status\":\"success\",\"data\":{\"resultType\":\"");
	jw_puts(w, type_name(res->type));
	jw_puts(w, "\",\"result\":");
	if (res->type == BM_PROMQL_SCALAR) {
		jw_point(w, res->t, res->scalar);
	} else if (res->type == BM_PROMQL_STRING) {
		jw_raw(w, "[", 1);
		jw_time(w, res->t);
		jw_raw(w, ",", 1);
		jw_str(w, res->str);
		jw_raw(w, "]", 1);
	} else {
		jw_raw(w, "[", 1);
		for (size_t i = 0; i < res->n_series; i++) {
			const struct promql_series *s = &res->series[i];
			jw_puts(w, i ? ",{\"metric\":" : "{\"metric\":");
			jw_labels(w, s->labels, s->n_labels);
			if (res->type == BM_PROMQL_VECTOR) {
				jw_puts(w, ",\"value\":");
				jw_point(w, s->t[0], s->v[0]);
			} else {
				jw_puts(w, ",\"values\":[");
				for (size_t j = 0; j < s->n; j++) {
					if (j)
						jw_raw(w, ",", 1);
					jw_point(w, s->t[j], s->v[j]);
				}
				jw_raw(w, "]", 1);
			}
			jw_raw(w, "}", 1);
		}
		jw_raw(w, "]", 1);
	}
	jw_puts(w, "}}");
}

/* false, with Prometheus' message for the refusal in msg. */
__attribute__((format(printf, 3, 4))) static bool refuse(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return false;
}

bool prom_time_param(const struct prom_params *p, const char *name, int64_t dflt, int64_t *out, char *msg,
		     size_t len)
{
	const char *s = prom_param(p, name);
	if (!s) {
		*out = dflt;
		return true;
	}
	return prom_parse_time(s, out) ||
	       refuse(msg, len, "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp", name, s);
}

bool prom_range_params(const struct prom_params *p, int64_t *start, int64_t *end, int64_t *step, char *msg,
		       size_t len)
{
	if (!prom_param(p, "start") || !prom_param(p, "end"))
		return refuse(msg, len, "invalid parameter \"%s\": cannot parse \"\" to a valid timestamp",
			      prom_param(p, "start") ? "end" : "start");
	if (!prom_time_param(p, "start", 0, start, msg, len) || !prom_time_param(p, "end", 0, end, msg, len))
		return false;
	const char *step_s = prom_param(p, "step");
	if (!step_s || !prom_parse_duration(step_s, step))
		return refuse(msg, len, "invalid parameter \"step\": cannot parse \"%s\" to a valid duration",
			      step_s ? step_s : "");
	if (*end < *start)
		return refuse(msg, len, "end timestamp must not be before start time");
	if (*step <= 0)
		return refuse(msg, len,
			      "zero or negative query resolution step widths are not accepted. Try a positive integer");
	if ((*end - *start) / *step > MAX_POINTS)
		return refuse(msg, len,
			      "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)");
	return true;
}

static bool time_param(struct bm_http_req *r, const struct prom_params *p, const char *name, int64_t dflt,
		       int64_t *out)
{
	char msg[1024];
	if (prom_time_param(p, name, dflt, out, msg, sizeof(msg)))
		return true;
	reply_error(r, 400, "bad_data", "%s", msg);
	return false;
}

/* Parse, evaluate and answer; the shared tail of query and query_range. */
static void run_query(struct daemon *d, struct bm_http_req *r, const char *q, int64_t start,
		      int64_t end, int64_t step)
{
	char err[1024];
	struct promql_source src;
	struct promql_opts o;
	struct promql_expr *e = promql_parse(q ? q : "", err, sizeof(err));
	if (!e) {
		reply_error(r, 400, "bad_data", "invalid parameter \"query\": %s", err);
		return;
	}
	query_setup(d, store_of(d), &src, &o);
	struct promql_result res;
	int rc = promql_eval(&src, &o, e, start, end, step, &res, err, sizeof(err));
	if (rc) {
		reply_status(r, rc, err);
	} else {
		struct jw w = {0};
		write_result(&w, &res);
		reply_jw(r, 200, &w);
		promql_result_free(&res);
	}
	promql_expr_free(e);
}

/* GET|POST /api/v1/query?query=EXPR[&time=T] */
static void h_query(void *u, struct bm_http_req *r)
{
	struct prom_params p;
	int64_t t;
	if (!params_init(&p, r))
		return;
	if (time_param(r, &p, "time", wall_ms(), &t))
		run_query(u, r, prom_param(&p, "query"), t, t, 0);
	prom_params_free(&p);
}

/* GET|POST /api/v1/query_range?query=EXPR&start=T&end=T&step=D */
static void h_query_range(void *u, struct bm_http_req *r)
{
	struct prom_params p;
	int64_t start, end, step;
	char msg[1024];
	if (!params_init(&p, r))
		return;
	if (prom_range_params(&p, &start, &end, &step, msg, sizeof(msg)))
		run_query(u, r, prom_param(&p, "query"), start, end, step);
	else
		reply_error(r, 400, "bad_data", "%s", msg);
	prom_params_free(&p);
}

/* --- series, labels, label values ----------------------------------------------- */

struct found_series {
	char *text;
	int64_t id;
};

struct found {
	struct found_series *v;
	size_t n, cap;
	bool oom;
};

static void add_found(void *u, int64_t id, const char *text)
{
	struct found *f = u;
	char *copy = f->oom ? NULL : strdup(text);
	if (!copy || BM_VEC_RESERVE(f->v, f->cap, f->n + 1)) {
		free(copy);
		f->oom = true;
		return;
	}
	f->v[f->n++] = (struct found_series){copy, id};
}

static void found_free(struct found *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].text);
	free(f->v);
}

int prom_selector_parse(const char *text, struct prom_selector *s, char *err, size_t len)
{
	*s = (struct prom_selector){0};
	char perr[512];
	s->e = promql_parse(text, perr, sizeof(perr));
	const struct pq_node *n = s->e ? s->e->root : NULL;
	while (n && n->kind == PQ_N_PAREN)
		n = n->inner;
	if (!n || n->kind != PQ_N_VSEL || n->sel.has_offset) {
		refuse(err, len, "invalid parameter \"match[]\": %s",
		       s->e ? "1:1: parse error: expected a vector selector" : perr);
		return 400;
	}
	/* the parser stops at 128 today; dropping any would select more
	 * series than asked for */
	if (n->sel.n_m > PROM_SELECTOR_MAX) {
		refuse(err, len, "invalid parameter \"match[]\": more than %d matchers", PROM_SELECTOR_MAX);
		return 400;
	}
	for (; s->n < n->sel.n_m; s->n++) {
		struct bm_matcher *m = &s->m[s->n];
		*m = n->sel.m[s->n];
		if (m->op != BM_MATCH_RE && m->op != BM_MATCH_NRE)
			continue;
		s->ere[s->n] = pq_regex_translate(m->value);
		if (!s->ere[s->n]) {
			refuse(err, len, "out of memory");
			return 500;
		}
		m->value = s->ere[s->n];
	}
	return 0;
}

void prom_selector_free(struct prom_selector *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->ere[i]);
	promql_expr_free(s->e);
}

/* One match[] selector into f; false (answered) when it is not one. */
static bool select_series(struct bm_http_req *r, struct store *st, const char *sel, struct found *f)
{
	char err[1024];
	struct prom_selector s;
	int refused = prom_selector_parse(sel, &s, err, sizeof(err));
	bool ok = !refused && store_series(st, s.m, s.n, add_found, f) >= 0 && !f->oom;
	prom_selector_free(&s);
	if (refused == 400)
		reply_error(r, 400, "bad_data", "%s", err);
	else if (!ok)
		reply_error(r, 500, "internal", "series lookup failed");
	return ok;
}

struct select_ctx {
	struct bm_http_req *r;
	struct store *st;
	struct found *f;
	bool failed;
};

static void select_one(void *u, const char *sel)
{
	struct select_ctx *c = u;
	if (!c->failed && !select_series(c->r, c->st, sel, c->f))
		c->failed = true;
}

static void count_sample(void *u, int64_t ts, double v)
{
	(void)ts;
	if (!bm_is_stale_nan(v))
		(*(size_t *)u)++;
}

static int cmp_found(const void *a, const void *b)
{
	return strcmp(((const struct found_series *)a)->text, ((const struct found_series *)b)->text);
}

/*
 * The series of every match[] (all series when all is set and there is
 * none), each once, sorted by text; with start or end, only those with
 * samples in [start, end]. false: answered with an error.
 */
static bool matched_series(struct daemon *d, struct bm_http_req *r, const struct prom_params *p, bool all,
			   struct found *f)
{
	struct store *st = store_of(d);
	struct select_ctx c = {r, st, f, false};
	int64_t start, end;
	bool bounded = prom_param(p, "start") || prom_param(p, "end");
	if (!time_param(r, p, "start", INT64_MIN / 2, &start) || !time_param(r, p, "end", INT64_MAX / 2, &end))
		return false;
	if (!prom_param_each(p, "match[]", select_one, &c)) {
		if (!all) {
			reply_error(r, 400, "bad_data", "no match[] parameter provided");
			return false;
		}
		if (store_series(st, NULL, 0, add_found, f) < 0 || f->oom) {
			reply_error(r, 500, "internal", "series lookup failed");
			return false;
		}
	}
	if (c.failed)
		return false;
	/* sorted by text, each series once */
	qsort(f->v, f->n, sizeof(*f->v), cmp_found);
	size_t k = 0;
	for (size_t i = 0; i < f->n; i++) {
		size_t samples = 0;
		bool dup = k > 0 && strcmp(f->v[k - 1].text, f->v[i].text) == 0;
		if (!dup && bounded)
			store_raw(st, f->v[i].id, start, end, count_sample, &samples);
		if (dup || (bounded && !samples))
			free(f->v[i].text);
		else
			f->v[k++] = f->v[i];
	}
	f->n = k;
	return true;
}

static void write_label_obj(void *u, const char *name, const char *value)
{
	struct jw *w = u;
	if (w->len && w->buf[w->len - 1] != '{')
		jw_raw(w, ",", 1);
	jw_str(w, name);
	jw_raw(w, ":", 1);
	jw_str(w, value);
}

/* GET|POST /api/v1/series?match[]=SEL...[&start=T&end=T] */
static void h_series(void *u, struct bm_http_req *r)
{
	struct prom_params p;
	struct found f = {0};
	if (!params_init(&p, r))
		return;
	if (matched_series(u, r, &p, false, &f)) {
		struct jw w = {0};
		jw_puts(&w, "{\"status\":\"success\",\"data\":[");
		for (size_t i = 0; i < f.n; i++) {
			jw_puts(&w, i ? ",{" : "{");
			promql_series_text_each(f.v[i].text, write_label_obj, &w);
			jw_raw(&w, "}", 1);
		}
		jw_puts(&w, "]}");
		reply_jw(r, 200, &w);
	}
	found_free(&f);
	prom_params_free(&p);
}

/* A sorted set of strings. */
struct strset {
	char **v;
	size_t n, cap;
	const char *want; /* label values: of this label only */
	bool oom;
};

static void strset_add(struct strset *s, const char *str)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->v[mid], str);
		if (c == 0)
			return;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	char *copy = strdup(str);
	if (!copy || BM_VEC_RESERVE(s->v, s->cap, s->n + 1)) {
		free(copy);
		s->oom = true;
		return;
	}
	memmove(s->v + lo + 1, s->v + lo, (s->n - lo) * sizeof(*s->v));
	s->v[lo] = copy;
	s->n++;
}

static void collect_label(void *u, const char *name, const char *value)
{
	struct strset *s = u;
	if (!s->want)
		strset_add(s, name);
	else if (strcmp(name, s->want) == 0 && value[0])
		strset_add(s, value);
}

static void reply_strset(struct bm_http_req *r, struct strset *s)
{
	struct jw w = {0};
	jw_puts(&w, "{\"status\":\"success\",\"data\":[");
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			jw_raw(&w, ",", 1);
		jw_str(&w, s->v[i]);
		free(s->v[i]);
	}
	free(s->v);
	jw_puts(&w, "]}");
	if (s->oom)
		w.oom = true;
	reply_jw(r, 200, &w);
}

/* Label names (want NULL) or the values of label want, over the series
 * matched by match[] (or all). */
static void label_query(struct daemon *d, struct bm_http_req *r, const char *want)
{
	struct prom_params p;
	struct found f = {0};
	struct strset s = {.want = want};
	if (!params_init(&p, r))
		return;
	if (matched_series(d, r, &p, true, &f)) {
		for (size_t i = 0; i < f.n; i++)
			promql_series_text_each(f.v[i].text, collect_label, &s);
		reply_strset(r, &s);
	}
	found_free(&f);
	prom_params_free(&p);
}

/* GET|POST /api/v1/labels */
static void h_labels(void *u, struct bm_http_req *r) { label_query(u, r, NULL); }

/* GET /api/v1/label/NAME/values */
static void h_label_values(void *u, struct bm_http_req *r)
{
	const char *path = http_req_path(r) + strlen(API "/label/");
	const char *slash = strchr(path, '/');
	char name[256];
	if (!slash || strcmp(slash, "/values") != 0 || slash == path || (size_t)(slash - path) >= sizeof(name)) {
		reply_error(r, 404, "not_found", "unknown endpoint");
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(slash - path), path);
	bool valid = (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') || name[0] == '_';
	for (const char *c = name + 1; *c && valid; c++)
		valid = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
	if (!valid) {
		reply_error(r, 400, "bad_data", "invalid label name: \"%s\"", name);
		return;
	}
	label_query(u, r, name);
}

/* --- metadata, build info, rules, alerts ---------------------------------------- */

struct meta_ctx {
	struct store *st;
	struct strset names;
};

static void meta_name(void *u, const char *name, const char *value)
{
	if (strcmp(name, "__name__") == 0)
		strset_add(u, value);
}

/* GET /api/v1/metadata[?metric=NAME][&limit=N]: each family the store has
 * metadata for, {"NAME":[{"type":..,"help":..,"unit":..}]}. */
static void h_metadata(void *u, struct bm_http_req *r)
{
	struct store *st = store_of(u);
	struct found f = {0};
	struct strset names = {0}, fams = {0};
	struct prom_params p;
	int64_t limit;
	if (!params_init(&p, r))
		return;
	if (!prom_limit_param(&p, &limit)) {
		reply_error(r, 400, "bad_data", "limit must be a number");
		prom_params_free(&p);
		return;
	}
	const char *metric = prom_param(&p, "metric");
	store_series(st, NULL, 0, add_found, &f);
	for (size_t i = 0; i < f.n; i++)
		promql_series_text_each(f.v[i].text, meta_name, &names);
	struct jw w = {0};
	jw_puts(&w, "{\"status\":\"success\",\"data\":{");
	long written = 0;
	for (size_t i = 0; i < names.n; i++) {
		struct expo_family fam;
		if (!expo_family_of(st, names.v[i], &fam) || (metric && strcmp(metric, fam.meta_name) != 0))
			continue;
		size_t before = fams.n;
		strset_add(&fams, fam.meta_name);
		if (fams.n == before || (limit >= 0 && written >= limit))
			continue;
		if (written++)
			jw_raw(&w, ",", 1);
		jw_str(&w, fam.meta_name);
		jw_puts(&w, ":[{\"type\":");
		jw_str(&w, expo_type_name(fam.type, true));
		jw_puts(&w, ",\"help\":");
		jw_str(&w, fam.help);
		jw_puts(&w, ",\"unit\":");
		jw_str(&w, fam.unit);
		jw_puts(&w, "}]");
	}
	jw_puts(&w, "}}");
	if (f.oom || names.oom || fams.oom)
		w.oom = true;
	reply_jw(r, 200, &w);
	for (size_t i = 0; i < names.n; i++)
		free(names.v[i]);
	for (size_t i = 0; i < fams.n; i++)
		free(fams.v[i]);
	free(names.v);
	free(fams.v);
	found_free(&f);
	prom_params_free(&p);
}

/* GET /api/v1/status/buildinfo */
static void h_buildinfo(void *u, struct bm_http_req *r)
{
	(void)u;
	struct jw w = {0};
	jw_puts(&w, "{\"status\":\"success\",\"data\":{\"version\":\"" BM_VERSION
		    "\",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"bearmon\",\"buildDate\":\"\","
		    "\"goVersion\":\"none (bearmon, C)\"}}");
	reply_jw(r, 200, &w);
}

/*
 * Everything else under /api/v1. /api/v1/rules and /api/v1/alerts answer
 * Prometheus' empty shapes here, until a plugin (the rule engine)
 * registers the exact path, which then wins over this prefix route.
 */
static void h_rest(void *u, struct bm_http_req *r)
{
	(void)u;
	const char *path = http_req_path(r);
	struct jw w = {0};
	if (strcmp(path, API "/rules") == 0)
		jw_puts(&w, "{\"status\":\"success\",\"data\":{\"groups\":[]}}");
	else if (strcmp(path, API "/alerts") == 0)
		jw_puts(&w, "{\"status\":\"success\",\"data\":{\"alerts\":[]}}");
	else if (strcmp(path, API "/query_exemplars") == 0)
		jw_puts(&w, "{\"status\":\"success\",\"data\":[]}");
	else {
		reply_error(r, 404, "not_found", "unknown endpoint %.200s", path);
		return;
	}
	reply_jw(r, 200, &w);
}

int prom_api_attach(struct daemon *d, void *owner)
{
	static const struct {
		const char *path;
		unsigned flags;
		bm_http_cb cb;
	} routes[] = {
		/* queries take POST forms too, and change nothing (Grafana POSTs) */
		{API "/query", BM_HTTP_READONLY, h_query},
		{API "/query_range", BM_HTTP_READONLY, h_query_range},
		{API "/series", BM_HTTP_READONLY, h_series},
		{API "/labels", BM_HTTP_READONLY, h_labels},
		{API "/label", BM_HTTP_PREFIX, h_label_values},
		{API "/metadata", 0, h_metadata},
		{API "/status/buildinfo", 0, h_buildinfo},
		{API, BM_HTTP_PREFIX, h_rest},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		int rc = http_add_route(d->http, owner, routes[i].path, routes[i].flags, routes[i].cb, d);
		if (rc)
			return rc;
	}
	return exposition_attach(d, owner);
}

/* --- the host API entry ------------------------------------------------------------- */

static void deliver(const struct promql_result *res, bm_promql_cb cb, void *user)
{
	struct bm_promql_series out = {.type = res->type};
	double nan = NAN;
	if (res->type == BM_PROMQL_SCALAR || res->type == BM_PROMQL_STRING) {
		out.ts_ms = &res->t;
		out.v = res->type == BM_PROMQL_SCALAR ? &res->scalar : &nan;
		out.n = 1;
		out.str = res->type == BM_PROMQL_STRING ? res->str : NULL;
		cb(user, &out);
		return;
	}
	for (size_t i = 0; i < res->n_series; i++) {
		const struct promql_series *s = &res->series[i];
		struct bm_label l[128];
		uint32_t n = 0;
		out.name = NULL;
		for (uint32_t j = 0; j < s->n_labels && n < 128; j++) {
			if (strcmp(s->labels[j].name, "__name__") == 0)
				out.name = s->labels[j].value;
			else
				l[n++] = s->labels[j];
		}
		out.labels = l;
		out.n_labels = n;
		out.ts_ms = s->t;
		out.v = s->v;
		out.n = s->n;
		cb(user, &out);
	}
}

long prom_api_query(struct daemon *d, const char *expr, int64_t start_ms, int64_t end_ms,
		    int64_t step_ms, bm_promql_cb cb, void *user, char *err, size_t errlen)
{
	char dummy[8];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	struct store *st = store_of(d);
	if (!st) {
		snprintf(err, errlen, "the store is disabled");
		return BM_ENOTSUP;
	}
	if (!expr || !cb || step_ms < 0 || end_ms < start_ms || (step_ms == 0 && start_ms != end_ms)) {
		snprintf(err, errlen, "bad arguments: an expression, a callback, and start == end with "
				      "step 0 or start <= end with step > 0");
		return BM_EINVAL;
	}
	struct promql_source src;
	struct promql_opts o;
	struct promql_result res;
	query_setup(d, st, &src, &o);
	int rc = promql_query(&src, &o, expr, start_ms, end_ms, step_ms, &res, err, errlen);
	if (rc)
		return promql_status_errcode(rc);
	deliver(&res, cb, user);
	long n = res.type == BM_PROMQL_SCALAR || res.type == BM_PROMQL_STRING ? 1 : (long)res.n_series;
	promql_result_free(&res);
	return n;
}
