/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Selector parsing and matching (see selector.h). The grammar is PromQL's
 * vector selector without offsets or ranges, plus globs in the metric name
 * (fnmatch(3)); a recursive-descent parser of a few dozen lines needs no
 * generator. Regular expressions are regcomp(3), anchored as in PromQL.
 */
#define _GNU_SOURCE
#include "selector.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_event.h>

struct parser {
	const char *s;
	size_t pos;
	char *err;
	size_t errn;
};

__attribute__((format(printf, 2, 3))) static int perr(struct parser *p, const char *fmt, ...)
{
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errn, "offset %zu: %s", p->pos, what);
	return -1;
}

static void skip_space(struct parser *p)
{
	while (isspace((unsigned char)p->s[p->pos]))
		p->pos++;
}

static bool is_name_char(int c, bool first, bool glob)
{
	if (isalpha(c) || c == '_' || c == ':')
		return true;
	if (glob && (c == '*' || c == '?' || c == '[' || c == ']' || c == '!' || c == '-'))
		return !first || c != '-';
	return !first && isdigit(c);
}

/* A metric name (glob characters allowed) or label name; malloc'd. */
static char *take_name(struct parser *p, bool glob)
{
	size_t start = p->pos;
	if (!is_name_char((unsigned char)p->s[p->pos], true, glob))
		return NULL;
	while (is_name_char((unsigned char)p->s[p->pos], false, glob))
		p->pos++;
	return strndup(p->s + start, p->pos - start);
}

/* A quoted string with Go/PromQL escapes \\ \" \' \n \t; malloc'd. */
static char *take_string(struct parser *p)
{
	char quote = p->s[p->pos];
	if (quote != '"' && quote != '\'') {
		perr(p, "expected a quoted value");
		return NULL;
	}
	size_t n = 0;
	char *out = malloc(strlen(p->s + p->pos) + 1);
	if (!out)
		return NULL;
	for (p->pos++; p->s[p->pos] && p->s[p->pos] != quote; p->pos++) {
		char c = p->s[p->pos];
		if (c == '\\') {
			char e = p->s[++p->pos];
			c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
			if (!e)
				break;
		}
		out[n++] = c;
	}
	if (p->s[p->pos] != quote) {
		free(out);
		perr(p, "unterminated string");
		return NULL;
	}
	p->pos++;
	out[n] = '\0';
	return out;
}

static int take_op(struct parser *p, enum al_match_op *op)
{
	const char *s = p->s + p->pos;
	if (strncmp(s, "=~", 2) == 0)
		*op = AL_MATCH_RE;
	else if (strncmp(s, "!~", 2) == 0)
		*op = AL_MATCH_NRE;
	else if (strncmp(s, "!=", 2) == 0)
		*op = AL_MATCH_NEQ;
	else if (s[0] == '=')
		*op = AL_MATCH_EQ;
	else
		return perr(p, "expected one of =, !=, =~, !~");
	p->pos += *op == AL_MATCH_EQ ? 1 : 2;
	return 0;
}

static int compile_re(struct parser *p, struct al_matcher *m)
{
	const char *unsafe = bm_regex_check(m->value);
	if (unsafe)
		return perr(p, "%s", unsafe);
	size_t len = strlen(m->value) + 5;
	char *anchored = malloc(len);
	if (!anchored)
		return perr(p, "out of memory");
	snprintf(anchored, len, "^(%s)$", m->value);
	int rc = regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB);
	free(anchored);
	if (rc) {
		char why[128];
		regerror(rc, &m->re, why, sizeof(why));
		regfree(&m->re);
		return perr(p, "label %s: bad regular expression \"%s\": %s", m->name, m->value,
			    why);
	}
	return 0;
}

static void matcher_free(struct al_matcher *m)
{
	if (m->value && (m->op == AL_MATCH_RE || m->op == AL_MATCH_NRE))
		regfree(&m->re);
	free(m->name);
	free(m->value);
}

static int take_matcher(struct parser *p, struct al_selector *s)
{
	struct al_matcher m = {0};
	skip_space(p);
	m.name = take_name(p, false);
	if (!m.name)
		return perr(p, "expected a label name");
	skip_space(p);
	if (take_op(p, &m.op))
		goto out_free;
	skip_space(p);
	m.value = take_string(p);
	if (!m.value)
		goto out_free;
	if ((m.op == AL_MATCH_RE || m.op == AL_MATCH_NRE) && compile_re(p, &m)) {
		free(m.value);
		m.value = NULL;
		goto out_free;
	}
	struct al_matcher *v = realloc(s->m, (s->n + 1) * sizeof(*v));
	if (!v) {
		matcher_free(&m);
		return perr(p, "out of memory");
	}
	s->m = v;
	s->m[s->n++] = m;
	return 0;
out_free:
	free(m.name);
	return -1;
}

static int take_braces(struct parser *p, struct al_selector *s)
{
	p->pos++; /* '{' */
	for (;;) {
		skip_space(p);
		if (p->s[p->pos] == '}')
			break;
		if (take_matcher(p, s))
			return -1;
		skip_space(p);
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] != '}')
			return perr(p, "expected , or }");
	}
	p->pos++;
	return 0;
}

static bool has_name_matcher(const struct al_selector *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->m[i].name, "__name__") == 0)
			return true;
	return false;
}

int al_selector_parse(const char *text, bool need_name, struct al_selector *out, char *err,
		      size_t errn)
{
	struct parser p = {text ? text : "", 0, err, errn};
	skip_space(&p);
	if (p.s[p.pos] != '{') {
		out->name = take_name(&p, true);
		if (!out->name) {
			perr(&p, "expected a metric name or {");
			goto out_free;
		}
		out->name_glob = strpbrk(out->name, "*?[") != NULL;
		skip_space(&p);
	}
	if (p.s[p.pos] == '{' && take_braces(&p, out))
		goto out_free;
	skip_space(&p);
	if (p.s[p.pos]) {
		perr(&p, "unexpected \"%c\"", p.s[p.pos]);
		goto out_free;
	}
	if (need_name && !out->name && !has_name_matcher(out)) {
		perr(&p, "a metric name is required");
		goto out_free;
	}
	if (!out->name && !out->n) {
		perr(&p, "an empty selector matches nothing");
		goto out_free;
	}
	return 0;
out_free:
	al_selector_free(out);
	return -1;
}

void al_selector_free(struct al_selector *s)
{
	for (size_t i = 0; i < s->n; i++)
		matcher_free(&s->m[i]);
	free(s->m);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

bool al_matcher_match(const struct al_matcher *m, const char *value)
{
	switch (m->op) {
	case AL_MATCH_EQ:
		return strcmp(value, m->value) == 0;
	case AL_MATCH_NEQ:
		return strcmp(value, m->value) != 0;
	case AL_MATCH_RE:
		return regexec(&m->re, value, 0, NULL, 0) == 0;
	case AL_MATCH_NRE:
		return regexec(&m->re, value, 0, NULL, 0) != 0;
	}
	return false;
}

bool al_selector_match_name(const struct al_selector *s, const char *name)
{
	if (s->name && (s->name_glob ? fnmatch(s->name, name, 0) != 0 : strcmp(s->name, name) != 0))
		return false;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->m[i].name, "__name__") == 0 && !al_matcher_match(&s->m[i], name))
			return false;
	return true;
}

const char *al_label_value(const struct bm_label *l, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].name, name) == 0)
			return l[i].value;
	return "";
}

bool al_selector_match_labels(const struct al_selector *s, const struct bm_label *l, size_t n)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct al_matcher *m = &s->m[i];
		if (strcmp(m->name, "__name__") != 0 &&
		    !al_matcher_match(m, al_label_value(l, n, m->name)))
			return false;
	}
	return true;
}

const char *al_selector_exact_name(const struct al_selector *s)
{
	const char *exact = s->name && !s->name_glob ? s->name : NULL;
	/* other __name__ matchers only narrow it further: match_name checks them */
	for (size_t i = 0; i < s->n && !exact; i++)
		if (s->m[i].op == AL_MATCH_EQ && strcmp(s->m[i].name, "__name__") == 0)
			exact = s->m[i].value;
	return exact;
}
