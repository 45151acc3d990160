/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RE2 to POSIX ERE for PromQL matchers and label_replace (see
 * promql_regex.h). glibc's regcomp is the matcher: the store already uses
 * it, and Debian has no RE2 binding for C; the translation covers the
 * syntax differences, not semantics (POSIX picks the leftmost-longest
 * match, RE2 the leftmost-first, which only moves submatch bounds).
 */
#define _GNU_SOURCE
#include "promql_regex.h"

#include "bearmon/bm_event.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
	char *buf;
	size_t n;
};

static void put(struct out *o, const char *s)
{
	size_t l = strlen(s);
	memcpy(o->buf + o->n, s, l);
	o->n += l;
}

static void putc_(struct out *o, char c) { o->buf[o->n++] = c; }

/* A letter both ways when case is ignored: [aA] outside brackets, aA
 * inside. */
static void put_char(struct out *o, char c, bool icase, bool in_bracket)
{
	if (icase && isalpha((unsigned char)c)) {
		if (!in_bracket)
			putc_(o, '[');
		putc_(o, (char)tolower((unsigned char)c));
		putc_(o, (char)toupper((unsigned char)c));
		if (!in_bracket)
			putc_(o, ']');
		return;
	}
	putc_(o, c);
}

static void put_escaped_as_is(struct out *o, char c)
{
	putc_(o, '\\');
	putc_(o, c);
}

/* \X escapes: classes, control characters, escaped punctuation. */
static void put_escape(struct out *o, char c, bool icase, bool in_bracket)
{
	static const struct {
		char c;
		const char *outside, *inside;
	} classes[] = {
		{'d', "[0-9]", "0-9"}, {'D', "[^0-9]", NULL}, {'w', "[[:alnum:]_]", "[:alnum:]_"},
		{'W', "[^[:alnum:]_]", NULL}, {'s', "[[:space:]]", "[:space:]"},
		{'S', "[^[:space:]]", NULL},
	};
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		if (classes[i].c != c)
			continue;
		if (!in_bracket)
			put(o, classes[i].outside);
		else if (classes[i].inside)
			put(o, classes[i].inside);
		else
			put_escaped_as_is(o, c); /* not expressible inside brackets */
		return;
	}
	if (c == 'n' || c == 't' || c == 'r' || c == 'f' || c == 'v') {
		putc_(o, c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'f' ? '\f' : '\v');
		return;
	}
	if (in_bracket) {
		/* inside POSIX brackets a backslash is literal */
		if (c == '\\')
			putc_(o, '\\');
		else
			put_char(o, c, icase, true);
		return;
	}
	if (isalnum((unsigned char)c)) {
		put_char(o, c, icase, false); /* unknown letter escape: the letter */
		return;
	}
	put_escaped_as_is(o, c);
}

char *pq_regex_translate(const char *re)
{
	size_t len = strlen(re);
	/* the worst growth: every character an escape that becomes
	 * [^[:alnum:]_] (13 bytes from 2) or a letter as [aA] (4 from 1) */
	struct out o = {malloc(len * 7 + 16), 0};
	if (!o.buf)
		return NULL;
	bool icase = false, in_bracket = false;
	size_t i = 0;
	if (strncmp(re, "(?i)", 4) == 0) {
		icase = true;
		i = 4;
	}
	while (i < len) {
		char c = re[i];
		if (c == '\\' && i + 1 < len) {
			put_escape(&o, re[i + 1], icase, in_bracket);
			i += 2;
			continue;
		}
		if (in_bracket) {
			if (c == ']' && !(i > 0 && (re[i - 1] == '[' || (re[i - 1] == '^' && i > 1 && re[i - 2] == '['))))
				in_bracket = false;
			if (c == '[' && i + 1 < len && re[i + 1] == ':') { /* [:alpha:] */
				const char *end = strstr(re + i + 2, ":]");
				if (end) {
					size_t l = (size_t)(end - (re + i)) + 2;
					memcpy(o.buf + o.n, re + i, l);
					o.n += l;
					i += l;
					continue;
				}
			}
			put_char(&o, c, icase, true);
			i++;
			continue;
		}
		if (c == '[') {
			in_bracket = true;
			putc_(&o, c);
			i++;
			if (i < len && re[i] == '^')
				putc_(&o, re[i++]);
			if (i < len && re[i] == ']') /* a leading ] is literal */
				putc_(&o, re[i++]);
			continue;
		}
		if (c == '(' && strncmp(re + i, "(?:", 3) == 0) {
			putc_(&o, '(');
			i += 3;
			continue;
		}
		if (c == '?' && i > 0 && strchr("*+?}", re[i - 1]) && !(i > 1 && re[i - 2] == '\\')) {
			i++; /* lazy quantifier: the same strings match */
			continue;
		}
		put_char(&o, c, icase, false);
		i++;
	}
	o.buf[o.n] = '\0';
	return o.buf;
}


const char *pq_regex_check(const char *ere)
{
	return bm_regex_check(ere);
}

int pq_regcomp_anchored(regex_t *r, const char *re2, int flags, char *msg, size_t n)
{
	char *ere = pq_regex_translate(re2);
	char *anchored = NULL;
	if (!ere || asprintf(&anchored, "^(%s)$", ere) < 0) {
		free(ere);
		if (msg && n)
			snprintf(msg, n, "out of memory");
		return REG_ESPACE;
	}
	const char *why = pq_regex_check(ere);
	if (why) {
		if (msg && n)
			snprintf(msg, n, "%s", why);
		free(ere);
		free(anchored);
		return REG_ESIZE;
	}
	int rc = regcomp(r, anchored, REG_EXTENDED | flags);
	if (rc && msg && n)
		regerror(rc, r, msg, n);
	free(ere);
	free(anchored);
	return rc;
}
