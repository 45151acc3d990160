/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Selector parsing and the store queries over what a selector matches
 * (selector.h). The parser reads only PromQL's vector-selector part, which
 * is all an impact or a constraint names; the core's PromQL engine is not
 * reached through the host API from every bearmond this plugin may run in.
 */
#define _GNU_SOURCE
#include "selector.h"
#include "kvl.h"
#include "../../common/match_op.h"

#include <bearmon/bm_vec.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
	const char *p;
	char *out; /* next free byte of the owned buffer */
};

static void skip_space(struct cursor *c)
{
	while (isspace((unsigned char)*c->p))
		c->p++;
}

static bool name_char(char ch, bool first, bool colon)
{
	return isalpha((unsigned char)ch) || ch == '_' || (colon && ch == ':') ||
	       (!first && isdigit((unsigned char)ch));
}

/* An identifier copied into the buffer; NULL when there is none. */
static const char *read_ident(struct cursor *c, bool colon)
{
	if (!name_char(*c->p, true, colon))
		return NULL;
	char *start = c->out;
	while (name_char(*c->p, c->out == start, colon))
		*c->out++ = *c->p++;
	*c->out++ = '\0';
	return start;
}

/* A double-quoted string with \" \\ \n escapes, unescaped into the buffer. */
static const char *read_string(struct cursor *c)
{
	if (*c->p != '"')
		return NULL;
	c->p++;
	char *start = c->out;
	for (; *c->p && *c->p != '"'; c->p++) {
		char ch = *c->p;
		if (ch == '\\' && c->p[1]) {
			ch = *++c->p == 'n' ? '\n' : *c->p;
		}
		*c->out++ = ch;
	}
	if (*c->p != '"')
		return NULL;
	c->p++;
	*c->out++ = '\0';
	return start;
}

static int read_op(struct cursor *c, enum bm_match_op *op)
{
	size_t n = match_op_prefix(c->p, strlen(c->p), op);
	c->p += n;
	return n ? 0 : BM_EINVAL;
}

static int fail(char *why, size_t n, const char *text, const char *what)
{
	if (why && n)
		textf(why, n, "selector \"%s\": %s", text, what);
	return BM_EINVAL;
}

static int read_matchers(struct cursor *c, struct sel *s, const char *text, char *why, size_t wn)
{
	c->p++; /* '{' */
	for (;;) {
		skip_space(c);
		if (*c->p == '}')
			break;
		if (s->n == SEL_MAX_MATCHERS)
			return fail(why, wn, text, "too many matchers");
		struct bm_matcher *m = &s->m[s->n];
		if (!(m->name = read_ident(c, false)))
			return fail(why, wn, text, "expected a label name");
		skip_space(c);
		if (read_op(c, &m->op))
			return fail(why, wn, text, "expected =, !=, =~ or !~");
		skip_space(c);
		if (!(m->value = read_string(c)))
			return fail(why, wn, text, "expected a double-quoted value");
		s->n++;
		skip_space(c);
		if (*c->p == ',')
			c->p++;
		else if (*c->p != '}')
			return fail(why, wn, text, "expected , or }");
	}
	c->p++;
	return 0;
}

int sel_parse(const char *text, struct sel *out, char *why, size_t why_n)
{
	*out = (struct sel){0};
	if (!text)
		return fail(why, why_n, "", "empty");
	struct cursor c = {text, NULL};
	out->buf = malloc(strlen(text) * 2 + 16);
	if (!out->buf)
		return BM_ENOMEM;
	c.out = out->buf;
	skip_space(&c);
	int rc = 0;
	if ((out->name = read_ident(&c, true))) {
		out->m[out->n++] = (struct bm_matcher){"__name__", BM_MATCH_EQ, out->name};
	}
	skip_space(&c);
	if (*c.p == '{')
		rc = read_matchers(&c, out, text, why, why_n);
	skip_space(&c);
	if (!rc && *c.p)
		rc = fail(why, why_n, text, "unexpected text after the selector");
	if (!rc && out->n == 0)
		rc = fail(why, why_n, text, "names no metric and no label");
	if (rc)
		sel_free(out);
	return rc;
}

void sel_free(struct sel *s)
{
	free(s->buf);
	*s = (struct sel){0};
}

const char *sel_label(const struct sel *s, const char *label)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->m[i].op == BM_MATCH_EQ && strcmp(s->m[i].name, label) == 0)
			return s->m[i].value;
	return NULL;
}

/* Bounded string building for sel_format: output is cut, never overrun. */
struct sbuf {
	char *p;
	size_t n, used;
};

static void sb_putc(struct sbuf *b, char ch)
{
	if (b->used + 1 < b->n) {
		b->p[b->used++] = ch;
		b->p[b->used] = '\0';
	}
}

static void sb_puts(struct sbuf *b, const char *s)
{
	while (*s)
		sb_putc(b, *s++);
}

void sel_format(char *buf, size_t n, const char *name, const struct bm_label *labels,
		size_t n_labels)
{
	struct sbuf b = {buf, n, 0};
	if (n)
		buf[0] = '\0';
	sb_puts(&b, name ? name : "");
	for (size_t i = 0; i < n_labels; i++) {
		sb_putc(&b, i ? ',' : '{');
		sb_puts(&b, labels[i].name);
		sb_puts(&b, "=\"");
		for (const char *v = labels[i].value; *v; v++) {
			if (*v == '"' || *v == '\\' || *v == '\n')
				sb_putc(&b, '\\');
			sb_putc(&b, *v == '\n' ? 'n' : *v);
		}
		sb_putc(&b, '"');
	}
	if (n_labels)
		sb_putc(&b, '}');
}

/* --- store queries ---------------------------------------------------- */

struct ids {
	int64_t *v;
	size_t n, cap;
	int rc;
};

static void on_series(void *user, int64_t id, const char *series)
{
	(void)series;
	struct ids *ids = user;
	if (!ids->rc && (ids->rc = BM_VEC_RESERVE(ids->v, ids->cap, ids->n + 1)) == 0)
		ids->v[ids->n++] = id;
}

static int matched_ids(struct bm_ctx *ctx, const struct sel *s, struct ids *ids)
{
	*ids = (struct ids){0};
	long n = bm_store_series(ctx, s->m, s->n, on_series, ids);
	int rc = n < 0 ? (int)n : ids->rc;
	if (rc) {
		free(ids->v);
		ids->v = NULL;
		ids->n = 0;
	}
	return rc;
}

static void combine(double *acc, bool *have, double v, enum sel_combine how)
{
	if (!*have)
		*acc = v;
	else
		*acc = how == SEL_SUM ? *acc + v : fmax(*acc, v);
	*have = true;
}

/* What one matched series gives sel_combined over [a, b]: 1 and *x, 0
 * when it has nothing there, or a BM_E* code that stops the query. */
typedef int (*series_value_fn)(struct bm_ctx *ctx, int64_t id, int64_t a, int64_t b, double *x);

/* value() of every series s matches, combined into *v: 1, 0 when none gave
 * one, or the first BM_E* code. */
static int sel_combined(struct bm_ctx *ctx, const struct sel *s, int64_t a, int64_t b,
			series_value_fn value, enum sel_combine how, double *v)
{
	struct ids ids;
	int rc = matched_ids(ctx, s, &ids);
	if (rc)
		return rc;
	bool have = false;
	for (size_t i = 0; i < ids.n && !rc; i++) {
		double x = 0; /* set when r is 1; gcc -O3 cannot see through value */
		int r = value(ctx, ids.v[i], a, b, &x);
		if (r < 0)
			rc = r;
		else if (r)
			combine(v, &have, x, how);
	}
	free(ids.v);
	return rc ? rc : have;
}

/* The latest finite sample at or before at_ms, at most lookback_ms old; a
 * store error counts as no sample. */
static int latest_value(struct bm_ctx *ctx, int64_t id, int64_t at_ms, int64_t lookback_ms,
			double *x)
{
	return bm_store_instant(ctx, id, at_ms, lookback_ms, x) == 1 && isfinite(*x);
}

int sel_latest(struct bm_ctx *ctx, const struct sel *s, int64_t at_ms, int64_t lookback_ms,
	       enum sel_combine how, double *v)
{
	return sel_combined(ctx, s, at_ms, lookback_ms, latest_value, how, v);
}

struct mean {
	double sum;
	size_t n;
};

static void on_point_mean(void *user, int64_t ts, double v)
{
	(void)ts;
	struct mean *m = user;
	if (isfinite(v)) {
		m->sum += v;
		m->n++;
	}
}

/* The mean of the finite raw samples in [start_ms, end_ms]. */
static int mean_value(struct bm_ctx *ctx, int64_t id, int64_t start_ms, int64_t end_ms, double *x)
{
	struct mean m = {0};
	long r = bm_store_raw(ctx, id, start_ms, end_ms, on_point_mean, &m);
	if (r < 0)
		return (int)r;
	if (!m.n)
		return 0;
	*x = m.sum / (double)m.n;
	return 1;
}

int sel_mean(struct bm_ctx *ctx, const struct sel *s, int64_t start_ms, int64_t end_ms,
	     enum sel_combine how, double *v)
{
	return sel_combined(ctx, s, start_ms, end_ms, mean_value, how, v);
}

size_t sel_n_steps(int64_t start_ms, int64_t end_ms, int64_t step_ms, int64_t *first_ms)
{
	*first_ms = start_ms - start_ms % step_ms;
	return end_ms < *first_ms ? 0 : (size_t)((end_ms - *first_ms) / step_ms) + 1;
}

struct steps {
	double *out;
	unsigned char *have;
	size_t n;
	int64_t first, step;
};

static void on_point_step(void *user, int64_t ts, double v)
{
	struct steps *st = user;
	if (!isfinite(v) || ts < st->first)
		return;
	size_t i = (size_t)((ts - st->first) / st->step);
	if (i < st->n) {
		st->out[i] = st->have[i] ? st->out[i] + v : v;
		st->have[i] = 1;
	}
}

int sel_steps(struct bm_ctx *ctx, const struct sel *s, int64_t start_ms, int64_t end_ms,
	      int64_t step_ms, enum bm_agg agg, double *out, unsigned char *have, size_t n)
{
	struct ids ids;
	struct steps st = {out, have, n, 0, step_ms};
	sel_n_steps(start_ms, end_ms, step_ms, &st.first);
	memset(have, 0, n);
	int rc = matched_ids(ctx, s, &ids);
	for (size_t i = 0; !rc && i < ids.n; i++) {
		long r = bm_store_range(ctx, ids.v[i], start_ms, end_ms, step_ms, agg,
					on_point_step, &st);
		if (r < 0)
			rc = (int)r;
	}
	free(ids.v);
	return rc;
}
