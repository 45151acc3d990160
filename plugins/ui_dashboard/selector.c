/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Series selector parser and matcher (see selector.h). Hand-written: the
 * selector grammar is PromQL's own and no Debian library parses it; regular
 * expressions are libc's POSIX ones, anchored as PromQL anchors them.
 */
#define _GNU_SOURCE
#include "selector.h"
#include "../common/match_op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_event.h>

struct cursor {
	const char *s;
	size_t len, pos;
	char *err;
	size_t errlen;
};

static int perr(struct cursor *c, const char *what)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "position %zu: %s", c->pos + 1, what);
	return BM_EINVAL;
}

static int peek(const struct cursor *c)
{
	return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static void skip_space(struct cursor *c)
{
	while (c->pos < c->len && strchr(" \t\r\n", c->s[c->pos]))
		c->pos++;
}

static bool name_char(int ch, bool first, bool colon)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (colon && ch == ':') || (!first && ch >= '0' && ch <= '9');
}

/* A metric name (colons allowed) or label name: malloc'd, or NULL. */
static char *take_name(struct cursor *c, bool colon)
{
	size_t start = c->pos;
	while (name_char(peek(c), c->pos == start, colon))
		c->pos++;
	return c->pos > start ? strndup(c->s + start, c->pos - start) : NULL;
}

static int unescape(int ch)
{
	switch (ch) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case '\\': case '"': case '\'': return ch;
	default: return -1;
	}
}

/* A quoted string ("..." or '...', with PromQL's simple escapes). */
static int take_string(struct cursor *c, char **out)
{
	int q = peek(c);
	if (q != '"' && q != '\'')
		return perr(c, "expected a quoted string");
	char *buf = malloc(c->len - c->pos + 1);
	size_t n = 0;
	if (!buf)
		return BM_ENOMEM;
	for (c->pos++; peek(c) != q; c->pos++) {
		int ch = peek(c);
		if (ch < 0 || ch == '\n') {
			free(buf);
			return perr(c, "unterminated string");
		}
		if (ch == '\\') {
			c->pos++;
			if ((ch = unescape(peek(c))) < 0) {
				free(buf);
				return perr(c, "unknown escape in string");
			}
		}
		buf[n++] = (char)ch;
	}
	c->pos++;
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static int take_op(struct cursor *c, enum bm_match_op *op)
{
	size_t n = match_op_prefix(c->s + c->pos, c->len - c->pos, op);
	c->pos += n;
	return n ? 0 : perr(c, "expected one of =, !=, =~, !~");
}

static int compile_re(struct cursor *c, struct sel_matcher *m)
{
	char *anchored = NULL;
	if (asprintf(&anchored, "^(%s)$", m->value) < 0)
		return BM_ENOMEM;
	int rc = regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB);
	free(anchored);
	return rc ? perr(c, "invalid regular expression") : 0;
}

static int add_matcher(struct selector *sel, char *name, enum bm_match_op op, char *value)
{
	struct sel_matcher *v = realloc(sel->m, (sel->n + 1) * sizeof(*v));
	if (!v) {
		free(name);
		free(value);
		return BM_ENOMEM;
	}
	sel->m = v;
	v[sel->n++] = (struct sel_matcher){.name = name, .op = op, .value = value};
	return 0;
}

static int take_matcher(struct cursor *c, struct selector *sel)
{
	char *name = take_name(c, false), *value = NULL;
	enum bm_match_op op;
	if (!name)
		return perr(c, "expected a label name");
	skip_space(c);
	int rc = take_op(c, &op);
	if (!rc) {
		skip_space(c);
		rc = take_string(c, &value);
	}
	if (rc) {
		free(name);
		return rc;
	}
	if ((rc = add_matcher(sel, name, op, value)))
		return rc;
	struct sel_matcher *m = &sel->m[sel->n - 1];
	if (op != BM_MATCH_RE && op != BM_MATCH_NRE)
		return 0;
	if ((rc = compile_re(c, m))) {
		free(m->name);
		free(m->value);
		sel->n--;
	}
	return rc;
}

static int take_braces(struct cursor *c, struct selector *sel)
{
	c->pos++; /* '{' */
	for (;;) {
		skip_space(c);
		if (peek(c) == '}') {
			c->pos++;
			return 0;
		}
		int rc = take_matcher(c, sel);
		if (rc)
			return rc;
		skip_space(c);
		if (peek(c) == ',')
			c->pos++;
		else if (peek(c) != '}')
			return perr(c, "expected , or }");
	}
}

static bool matcher_matches(const struct sel_matcher *m, const char *v)
{
	switch (m->op) {
	case BM_MATCH_EQ: return strcmp(v, m->value) == 0;
	case BM_MATCH_NEQ: return strcmp(v, m->value) != 0;
	case BM_MATCH_RE: return regexec(&m->re, v, 0, NULL, 0) == 0;
	case BM_MATCH_NRE: return regexec(&m->re, v, 0, NULL, 0) != 0;
	}
	return false;
}

static void put_escaped(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		fputs(*v == '\n' ? "\\n" : (char[]){*v, 0}, f);
	}
}

/* The canonical text; metric set when a leading name fixed it. */
static int canonical(struct selector *sel, const char *leading)
{
	static const char *const opnames[] = {"=", "!=", "=~", "!~"};
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	if (!f)
		return BM_ENOMEM;
	size_t first = leading ? 1 : 0;
	fputs(leading ? leading : "", f);
	if (sel->n > first)
		fputc('{', f);
	for (size_t i = first; i < sel->n; i++) {
		fprintf(f, "%s%s%s\"", i > first ? "," : "", sel->m[i].name, opnames[sel->m[i].op]);
		put_escaped(f, sel->m[i].value);
		fputc('"', f);
	}
	if (sel->n > first)
		fputc('}', f);
	if (fclose(f) || !text)
		return BM_ENOMEM;
	sel->text = text;
	sel->metric = leading ? sel->m[0].value : NULL;
	return 0;
}

static bool any_non_empty_matcher(const struct selector *sel)
{
	for (size_t i = 0; i < sel->n; i++)
		if (!matcher_matches(&sel->m[i], ""))
			return true;
	return false;
}

int selector_parse(const char *s, size_t len, struct selector *out, size_t *used, char *err,
		   size_t errlen)
{
	struct cursor c = {s, len, 0, err, errlen};
	memset(out, 0, sizeof(*out));
	if (len > SELECTOR_MAX_LEN)
		return perr(&c, "selector too long");
	skip_space(&c);
	char *name = take_name(&c, true);
	char *leading = name ? strdup(name) : NULL;
	int rc = 0;
	if (name && !leading)
		rc = BM_ENOMEM;
	else if (name)
		rc = add_matcher(out, strdup("__name__"), BM_MATCH_EQ, name);
	if (!rc && out->n && (!out->m[0].name || !out->m[0].value))
		rc = BM_ENOMEM;
	skip_space(&c);
	if (!rc && peek(&c) == '{')
		rc = take_braces(&c, out);
	else if (!rc && !name)
		rc = perr(&c, "expected a metric name or {");
	if (!rc && !any_non_empty_matcher(out))
		rc = perr(&c, "at least one matcher must not match the empty string");
	if (!rc)
		rc = canonical(out, leading);
	free(leading);
	if (rc) {
		selector_free(out);
		return rc;
	}
	skip_space(&c);
	*used = c.pos;
	return 0;
}

void selector_free(struct selector *sel)
{
	for (size_t i = 0; i < sel->n; i++) {
		if (sel->m[i].op == BM_MATCH_RE || sel->m[i].op == BM_MATCH_NRE)
			regfree(&sel->m[i].re);
		free(sel->m[i].name);
		free(sel->m[i].value);
	}
	free(sel->m);
	free(sel->text);
	memset(sel, 0, sizeof(*sel));
}

static const char *label_value(const struct bm_label *l, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(l[i].name, name) == 0)
			return l[i].value;
	return "";
}

bool selector_matches(const struct selector *sel, const char *name, const struct bm_label *labels,
		      uint32_t n_labels)
{
	if (sel->metric && strcmp(sel->metric, name) != 0)
		return false; /* the common case, decided by one comparison */
	for (size_t i = sel->metric ? 1 : 0; i < sel->n; i++) {
		const struct sel_matcher *m = &sel->m[i];
		const char *v = strcmp(m->name, "__name__") == 0 ? name
								  : label_value(labels, n_labels, m->name);
		if (!matcher_matches(m, v))
			return false;
	}
	return true;
}

size_t selector_matchers(const struct selector *sel, struct bm_matcher *out, size_t cap)
{
	size_t n = 0;
	for (; n < sel->n && n < cap; n++)
		out[n] = (struct bm_matcher){sel->m[n].name, sel->m[n].op, sel->m[n].value};
	return n;
}

size_t series_text(const char *name, const struct bm_label *l, uint32_t n_labels, char *buf,
		   size_t n)
{
	return bm_series_text(name, l, n_labels, buf, n);
}
