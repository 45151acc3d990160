/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL tokens, following Prometheus' lexer (promql/parser/lex.go):
 * identifiers with colons, Go-syntax numbers and strings, durations with
 * units ms s m h d w y, comments from # to the end of the line.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql_ast.h"

void pq_lex_init(struct pq_lexer *lx, const char *in, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->in = in;
	lx->len = len;
}

static bool is_ident_start(int c) { return isalpha(c) || c == '_' || c == ':'; }
static bool is_ident_char(int c) { return isalnum(c) || c == '_' || c == ':'; }

static int peek(const struct pq_lexer *lx, size_t ahead)
{
	return lx->pos + ahead < lx->len ? (unsigned char)lx->in[lx->pos + ahead] : -1;
}

static struct pq_token tok(const struct pq_lexer *lx, enum pq_tok type, size_t start)
{
	return (struct pq_token){type, (uint32_t)start, (uint32_t)(lx->pos - start), lx->in + start};
}

static struct pq_token lex_error(struct pq_lexer *lx, size_t at, const char *msg)
{
	lx->pos = lx->len; /* nothing after an error */
	return (struct pq_token){PQ_ERROR, (uint32_t)at, 0, msg};
}

/* Digits of a number: decimal with fraction and exponent, or hex. Returns
 * the length scanned. */
static size_t scan_number(const char *s, size_t n)
{
	size_t i = 0;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < n && isxdigit((unsigned char)s[i]); i++)
			;
		return i > 2 ? i : 1;
	}
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;
		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		if (j < n && isdigit((unsigned char)s[j])) {
			while (j < n && isdigit((unsigned char)s[j]))
				j++;
			i = j;
		}
	}
	return i;
}

/* A number, or a duration when digits run straight into a unit letter. */
static struct pq_token lex_number(struct pq_lexer *lx)
{
	size_t start = lx->pos;
	size_t n = scan_number(lx->in + start, lx->len - start);
	size_t end = start + n;
	/* a duration: digits and unit letters, e.g. 5m, 1h30m, 250ms */
	size_t d = start;
	while (d < lx->len && (isdigit((unsigned char)lx->in[d]) || isalpha((unsigned char)lx->in[d])))
		d++;
	int64_t ms;
	if (d > end && isdigit((unsigned char)lx->in[start]) && bm_parse_duration(lx->in + start, d - start, &ms)) {
		lx->pos = d;
		return tok(lx, PQ_DURATION, start);
	}
	if (end < lx->len && (is_ident_char((unsigned char)lx->in[end]) || lx->in[end] == '.'))
		return lex_error(lx, start, "bad number or duration syntax");
	lx->pos = end;
	return tok(lx, PQ_NUMBER, start);
}

static struct pq_token lex_string(struct pq_lexer *lx)
{
	size_t start = lx->pos;
	char q = lx->in[lx->pos++];
	while (lx->pos < lx->len) {
		char c = lx->in[lx->pos++];
		if (c == q)
			return tok(lx, PQ_STRING, start);
		if (q != '`' && c == '\\' && lx->pos < lx->len)
			lx->pos++;
		else if (q != '`' && c == '\n')
			return lex_error(lx, start, "unterminated quoted string");
	}
	return lex_error(lx, start, q == '`' ? "unterminated raw string" : "unterminated quoted string");
}

/* Operators of one or two characters. */
static bool lex_operator(struct pq_lexer *lx, struct pq_token *out)
{
	static const struct {
		const char *text;
		enum pq_tok type;
	} ops[] = {
		{"==", PQ_EQLC}, {"!=", PQ_NEQ}, {"=~", PQ_REGEQ}, {"!~", PQ_REGNEQ}, {"<=", PQ_LTE},
		{">=", PQ_GTE}, {"=", PQ_ASSIGN}, {"<", PQ_LSS}, {">", PQ_GTR}, {"+", PQ_ADD},
		{"-", PQ_SUB}, {"*", PQ_MUL}, {"/", PQ_DIV}, {"%", PQ_MOD}, {"^", PQ_POW},
		{"{", PQ_LBRACE}, {"}", PQ_RBRACE}, {"(", PQ_LPAREN}, {")", PQ_RPAREN},
		{"[", PQ_LBRACKET}, {"]", PQ_RBRACKET}, {",", PQ_COMMA}, {":", PQ_COLON},
		{"@", PQ_AT},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].text);
		if (lx->len - lx->pos >= n && memcmp(lx->in + lx->pos, ops[i].text, n) == 0) {
			size_t start = lx->pos;
			lx->pos += n;
			*out = tok(lx, ops[i].type, start);
			return true;
		}
	}
	return false;
}

struct pq_token pq_lex_next(struct pq_lexer *lx)
{
	for (;;) {
		while (lx->pos < lx->len && isspace((unsigned char)lx->in[lx->pos]))
			lx->pos++;
		if (peek(lx, 0) != '#')
			break;
		while (lx->pos < lx->len && lx->in[lx->pos] != '\n')
			lx->pos++;
	}
	if (lx->pos >= lx->len)
		return tok(lx, PQ_EOF, lx->pos);
	int c = peek(lx, 0);
	if (isdigit(c) || (c == '.' && isdigit(peek(lx, 1))))
		return lex_number(lx);
	if (c == '"' || c == '\'' || c == '`')
		return lex_string(lx);
	/* a word: a colon starts one only outside brackets, where it
	 * separates a subquery's range and step */
	if (is_ident_start(c) && !(c == ':' && lx->bracket_depth > 0)) {
		size_t start = lx->pos;
		while (lx->pos < lx->len && is_ident_char((unsigned char)lx->in[lx->pos]) &&
		       !(lx->in[lx->pos] == ':' && lx->bracket_depth > 0))
			lx->pos++;
		size_t n = lx->pos - start;
		if ((n == 3 && (strncasecmp(lx->in + start, "inf", 3) == 0 ||
				strncasecmp(lx->in + start, "nan", 3) == 0)))
			return tok(lx, PQ_NUMBER, start);
		return tok(lx, PQ_IDENT, start);
	}
	struct pq_token t;
	if (lex_operator(lx, &t)) {
		if (t.type == PQ_LBRACKET)
			lx->bracket_depth++;
		else if (t.type == PQ_RBRACKET && lx->bracket_depth > 0)
			lx->bracket_depth--;
		return t;
	}
	if (c == '!')
		return lex_error(lx, lx->pos, "unexpected character after '!'");
	return lex_error(lx, lx->pos, "unexpected character");
}

const char *pq_tok_describe(const struct pq_token *t, char *buf, size_t n)
{
	static const char *const names[] = {
		[PQ_LBRACE] = "\"{\"", [PQ_RBRACE] = "\"}\"", [PQ_LPAREN] = "\"(\"",
		[PQ_RPAREN] = "\")\"", [PQ_LBRACKET] = "\"[\"", [PQ_RBRACKET] = "\"]\"",
		[PQ_COMMA] = "\",\"", [PQ_COLON] = "\":\"", [PQ_AT] = "\"@\"", [PQ_ASSIGN] = "\"=\"",
		[PQ_EQLC] = "\"==\"", [PQ_NEQ] = "\"!=\"", [PQ_REGEQ] = "\"=~\"",
		[PQ_REGNEQ] = "\"!~\"", [PQ_LSS] = "\"<\"", [PQ_LTE] = "\"<=\"", [PQ_GTR] = "\">\"",
		[PQ_GTE] = "\">=\"", [PQ_ADD] = "\"+\"", [PQ_SUB] = "\"-\"", [PQ_MUL] = "\"*\"",
		[PQ_DIV] = "\"/\"", [PQ_MOD] = "\"%\"", [PQ_POW] = "\"^\"",
	};
	int len = t->len > 40 ? 40 : (int)t->len;
	switch (t->type) {
	case PQ_EOF: snprintf(buf, n, "end of input"); break;
	case PQ_ERROR: snprintf(buf, n, "%s", t->text); break;
	case PQ_IDENT: snprintf(buf, n, "identifier \"%.*s\"", len, t->text); break;
	case PQ_NUMBER: snprintf(buf, n, "number \"%.*s\"", len, t->text); break;
	case PQ_DURATION: snprintf(buf, n, "duration \"%.*s\"", len, t->text); break;
	case PQ_STRING: snprintf(buf, n, "string %.*s", len, t->text); break;
	default: snprintf(buf, n, "%s", names[t->type]); break;
	}
	return buf;
}

/* --- Go string literals ---------------------------------------------------- */

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

static size_t put_utf8(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* One escape after the backslash at s[*i]; appends to out. */
static bool unescape_one(const char *s, size_t n, size_t *i, char q, char *out, size_t *o)
{
	static const char simple[] = "abfnrtv\\";
	static const char value[] = "\a\b\f\n\r\t\v\\";
	char c = s[*i];
	const char *p = c ? strchr(simple, c) : NULL;
	if (p) {
		out[(*o)++] = value[p - simple];
		(*i)++;
		return true;
	}
	if (c == q) {
		out[(*o)++] = c;
		(*i)++;
		return true;
	}
	int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : (c >= '0' && c <= '7') ? 3 : 0;
	int base = (c >= '0' && c <= '7') ? 8 : 16;
	size_t from = base == 8 ? *i : *i + 1;
	if (!digits || from + (size_t)digits > n)
		return false;
	unsigned long v = 0;
	for (int k = 0; k < digits; k++) {
		int d = hexval((unsigned char)s[from + (size_t)k]);
		if (d < 0 || d >= base)
			return false;
		v = v * (unsigned long)base + (unsigned long)d;
	}
	*i = from + (size_t)digits;
	if (c == 'x' || base == 8) {
		if (v > 255)
			return false;
		out[(*o)++] = (char)v;
	} else {
		if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000))
			return false;
		*o += put_utf8(out + *o, v);
	}
	return true;
}

char *pq_unquote(const char *s, size_t n, const char **bad)
{
	char q = s[0];
	char *out = malloc(n + 1); /* escapes never grow the text */
	size_t o = 0;
	if (!out) {
		*bad = "out of memory";
		return NULL;
	}
	for (size_t i = 1; i + 1 < n;) {
		if (q != '`' && s[i] == '\\') {
			i++;
			if (!unescape_one(s, n - 1, &i, q, out, &o)) {
				free(out);
				*bad = "invalid syntax";
				return NULL;
			}
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	return out;
}
