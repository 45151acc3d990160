/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition format 0.0.4 pull parser (see expfmt.h). The
 * accepted grammar follows the reference parser (prometheus/common
 * expfmt/text_parse.go): blanks are spaces and tabs, escapes are \\ \" \n
 * in label values and \\ \n in HELP text, __name__ is a reserved label.
 */
#include "expfmt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bearmon/bm_err.h>

void expfmt_init(struct expfmt_parser *ps, char *buf, size_t len)
{
	ps->p = buf;
	ps->end = buf + len;
	ps->line = 0;
	ps->err[0] = '\0';
	ps->err_line = 0;
	ps->openmetrics = false;
	ps->units = false;
}

__attribute__((format(printf, 2, 3))) static int fail(struct expfmt_parser *ps, const char *fmt,
						      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ps->err, sizeof(ps->err), fmt, ap);
	va_end(ap);
	ps->err_line = ps->line;
	ps->p = ps->end; /* nothing more from this document */
	return BM_EPROTO;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
/* End of the line: newline or the end of the input (the '\0' at end). */
static bool at_eol(const struct expfmt_parser *ps) { return ps->p >= ps->end || *ps->p == '\n'; }

static void skip_blank(struct expfmt_parser *ps)
{
	while (ps->p < ps->end && is_blank(*ps->p))
		ps->p++;
}

static bool name_start(char c, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static bool name_char(char c, bool colon)
{
	return name_start(c, colon) || (c >= '0' && c <= '9');
}

bool expfmt_valid_metric_name(const char *s)
{
	if (!s || !name_start(*s, true))
		return false;
	while (*++s)
		if (!name_char(*s, true))
			return false;
	return true;
}

bool expfmt_valid_label_name(const char *s)
{
	if (!s || !name_start(*s, false))
		return false;
	while (*++s)
		if (!name_char(*s, false))
			return false;
	return true;
}

/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static bool valid_utf8(const char *s)
{
	return bm_utf8_valid(s, strlen(s));
}

/* A name at ps->p, NUL-terminated in place. The byte after it (which the
 * NUL replaces) is returned in *next; the parser stands past it. */
static int read_name(struct expfmt_parser *ps, bool colon, const char *what, const char **out,
		     char *next)
{
	char *start = ps->p;
	if (ps->p >= ps->end || !name_start(*ps->p, colon))
		return fail(ps, "invalid %s", what);
	while (ps->p < ps->end && name_char(*ps->p, colon))
		ps->p++;
	*next = ps->p < ps->end ? *ps->p : '\0';
	*ps->p = '\0';
	if (ps->p < ps->end)
		ps->p++;
	*out = start;
	return 0;
}

/* A token up to the next blank or newline, NUL-terminated in place. Sets
 * *eol when the token ended the line. */
static char *read_token(struct expfmt_parser *ps, bool *eol)
{
	char *start = ps->p;
	while (ps->p < ps->end && !is_blank(*ps->p) && *ps->p != '\n')
		ps->p++;
	*eol = at_eol(ps);
	if (ps->p < ps->end) {
		*ps->p = '\0';
		ps->p++;
	}
	return start;
}

/* Past the rest of the line (comments). */
static void skip_line(struct expfmt_parser *ps)
{
	char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
	ps->p = nl ? nl + 1 : ps->end;
}

/* After the last token of a line: only blanks may follow. */
static int end_of_line(struct expfmt_parser *ps, const char *after)
{
	skip_blank(ps);
	if (!at_eol(ps))
		return fail(ps, "unexpected text after %s", after);
	if (ps->p < ps->end)
		ps->p++;
	return 0;
}

/* The first five are text 0.0.4's; the rest only OpenMetrics has. */
static int parse_type(const char *s, bool openmetrics, enum bm_metric_type *t)
{
	static const struct {
		const char *name;
		enum bm_metric_type type;
	} types[] = {
		{"counter", BM_METRIC_COUNTER},	    {"gauge", BM_METRIC_GAUGE},
		{"histogram", BM_METRIC_HISTOGRAM}, {"summary", BM_METRIC_SUMMARY},
		{"untyped", BM_METRIC_UNTYPED},	    {"unknown", BM_METRIC_UNTYPED},
		{"gaugehistogram", BM_METRIC_GAUGE}, {"stateset", BM_METRIC_GAUGE},
		{"info", BM_METRIC_GAUGE},
	};
	size_t n = openmetrics ? sizeof(types) / sizeof(types[0]) : 5;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s, types[i].name) == 0) {
			*t = types[i].type;
			return 0;
		}
	return -1;
}

/* The one token after the name of a TYPE or UNIT line, NUL-terminated in
 * place, or NULL when the line ends first; the parser stands at the next
 * line when the token ended this one (*eol). */
static char *last_token(struct expfmt_parser *ps, bool name_ended_line, bool *eol)
{
	*eol = false;
	if (name_ended_line)
		return NULL;
	skip_blank(ps);
	return at_eol(ps) ? NULL : read_token(ps, eol);
}

/* "# HELP name text", "# TYPE name type" or (with ps->units) "# UNIT name
 * unit"; other comments are skipped. Returns 1 with an item, 0 for a plain
 * comment, or an error. */
static int parse_comment(struct expfmt_parser *ps, struct expfmt_item *it)
{
	ps->p++; /* '#' */
	skip_blank(ps);
	char *kw = ps->p;
	while (ps->p < ps->end && !is_blank(*ps->p) && *ps->p != '\n')
		ps->p++;
	size_t kwlen = (size_t)(ps->p - kw);
	bool help = kwlen == 4 && memcmp(kw, "HELP", 4) == 0;
	bool type = kwlen == 4 && memcmp(kw, "TYPE", 4) == 0;
	bool unit = ps->units && kwlen == 4 && memcmp(kw, "UNIT", 4) == 0;
	if ((!help && !type && !unit) || at_eol(ps)) {
		skip_line(ps);
		return 0;
	}
	const char *what = help ? "HELP" : type ? "TYPE" : "UNIT";
	skip_blank(ps);
	char next;
	char where[32];
	snprintf(where, sizeof(where), "metric name in %s", what);
	int rc = read_name(ps, true, where, &it->name, &next);
	if (rc)
		return rc;
	if (next != '\0' && next != '\n' && !is_blank(next))
		return fail(ps, "invalid metric name in %s", what);
	bool name_ended_line = next == '\n' || next == '\0'; /* and we are past it */
	bool eol;
	if (type) {
		it->kind = EXPFMT_TYPE;
		char *t = last_token(ps, name_ended_line, &eol);
		if (!t || parse_type(t, ps->openmetrics, &it->type))
			return fail(ps, "unknown metric type \"%.20s\" for %s", t ? t : "", it->name);
		return eol || !end_of_line(ps, "the TYPE") ? 1 : BM_EPROTO;
	}
	if (unit) {
		it->kind = EXPFMT_UNIT;
		char *u = last_token(ps, name_ended_line, &eol);
		it->unit = u ? u : "";
		if (name_ended_line || eol)
			return 1;
		return end_of_line(ps, "the UNIT") ? BM_EPROTO : 1;
	}
	it->kind = EXPFMT_HELP;
	if (name_ended_line) {
		it->help = "";
		return 1;
	}
	skip_blank(ps);
	char *w = ps->p;
	it->help = w;
	while (!at_eol(ps)) {
		char c = *ps->p++;
		if (c == '\0')
			return fail(ps, "NUL byte in HELP text");
		if (c == '\\') {
			char e = ps->p < ps->end ? *ps->p : '\0';
			if (e == '\\')
				c = '\\';
			else if (e == 'n')
				c = '\n';
			else
				return fail(ps, "invalid escape sequence in HELP text of %s", it->name);
			ps->p++;
		}
		*w++ = c;
	}
	if (ps->p < ps->end)
		ps->p++;
	*w = '\0';
	if (!valid_utf8(it->help))
		return fail(ps, "HELP text of %s is not valid UTF-8", it->name);
	return 1;
}

/* The {...} of a sample; ps->p stands just past '{'. */
static int parse_labels(struct expfmt_parser *ps, struct expfmt_item *it)
{
	for (;;) {
		skip_blank(ps);
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return 0;
		}
		if (it->n_labels == EXPFMT_MAX_LABELS)
			return fail(ps, "more than %d labels on %s", EXPFMT_MAX_LABELS, it->name);
		struct bm_label *l = &it->labels[it->n_labels];
		char next;
		int rc = read_name(ps, false, "label name", &l->name, &next);
		if (rc)
			return rc;
		if (is_blank(next)) {
			skip_blank(ps);
			next = ps->p < ps->end ? *ps->p++ : '\0';
		}
		if (next != '=')
			return fail(ps, "expected '=' after label name %s", l->name);
		if (strcmp(l->name, "__name__") == 0)
			return fail(ps, "label name __name__ is reserved");
		for (size_t i = 0; i < it->n_labels; i++)
			if (strcmp(it->labels[i].name, l->name) == 0)
				return fail(ps, "duplicate label %s on %s", l->name, it->name);
		skip_blank(ps);
		if (ps->p >= ps->end || *ps->p != '"')
			return fail(ps, "expected '\"' to start the value of label %s", l->name);
		ps->p++;
		char *w = ps->p;
		l->value = w;
		for (;;) {
			if (ps->p >= ps->end)
				return fail(ps, "unterminated value of label %s", l->name);
			char c = *ps->p++;
			if (c == '"')
				break;
			if (c == '\n' || c == '\0')
				return fail(ps, "%s in the value of label %s",
					    c ? "unescaped newline" : "NUL byte", l->name);
			if (c == '\\') {
				char e = ps->p < ps->end ? *ps->p : '\0';
				if (e == '\\' || e == '"')
					c = e;
				else if (e == 'n')
					c = '\n';
				else
					return fail(ps, "invalid escape sequence in the value of label %s",
						    l->name);
				ps->p++;
			}
			*w++ = c;
		}
		*w = '\0';
		if (!valid_utf8(l->value))
			return fail(ps, "value of label %s is not valid UTF-8", l->name);
		it->n_labels++;
		skip_blank(ps);
		char sep = ps->p < ps->end ? *ps->p : '\0';
		if (sep == '}') {
			ps->p++;
			return 0;
		}
		if (sep != ',')
			return fail(ps, "expected ',' or '}' after the value of label %s", l->name);
		ps->p++;
	}
}

/* OpenMetrics: " # {labels} value [timestamp]" after a sample is an
 * exemplar, which we do not keep. At one, the parser moves to the end of
 * the line (its newline, or the end of the input) and says so. */
static bool exemplar(struct expfmt_parser *ps)
{
	if (!ps->openmetrics || ps->p >= ps->end || *ps->p != '#')
		return false;
	char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
	ps->p = nl ? nl : ps->end;
	return true;
}

static int parse_sample(struct expfmt_parser *ps, struct expfmt_item *it)
{
	char next;
	it->kind = EXPFMT_SAMPLE;
	it->n_labels = 0;
	it->has_ts = false;
	it->ts_ms = 0;
	int rc = read_name(ps, true, "metric name", &it->name, &next);
	if (rc)
		return rc;
	if (is_blank(next)) {
		skip_blank(ps);
		if (ps->p < ps->end && *ps->p == '{') {
			next = '{';
			ps->p++;
		}
	}
	if (next == '{') {
		if ((rc = parse_labels(ps, it)))
			return rc;
	} else if (next == '\n' || next == '\0') {
		return fail(ps, "missing value for %s", it->name);
	} else if (!is_blank(next)) {
		return fail(ps, "invalid character in metric name %s", it->name);
	}
	skip_blank(ps);
	if (at_eol(ps))
		return fail(ps, "missing value for %s", it->name);
	bool eol;
	char *v = read_token(ps, &eol);
	char *e;
	if (*v == '\0' || isspace((unsigned char)*v))
		return fail(ps, "invalid value \"%.40s\" for %s", v, it->name);
	errno = 0;
	it->value = strtod(v, &e);
	if (e == v || *e)
		return fail(ps, "invalid value \"%.40s\" for %s", v, it->name);
	if (eol)
		return 1;
	skip_blank(ps);
	if (at_eol(ps) || exemplar(ps)) {
		if (ps->p < ps->end)
			ps->p++;
		return 1;
	}
	char *t = read_token(ps, &eol);
	errno = 0;
	long long ts;
	if (ps->openmetrics) {
		double sec = strtod(t, &e);
		ts = isfinite(sec) && fabs(sec) < 9.2e15 ? llround(sec * 1000.0) : 0;
		if (!isfinite(sec) || fabs(sec) >= 9.2e15)
			e = t;
	} else {
		ts = strtoll(t, &e, 10);
	}
	if (e == t || *e || errno == ERANGE || isspace((unsigned char)*t))
		return fail(ps, "invalid timestamp \"%.40s\" for %s", t, it->name);
	it->has_ts = true;
	it->ts_ms = ts;
	if (eol)
		return 1;
	skip_blank(ps);
	if (exemplar(ps)) {
		if (ps->p < ps->end)
			ps->p++;
		return 1;
	}
	return end_of_line(ps, "the timestamp") ? BM_EPROTO : 1;
}

int expfmt_next(struct expfmt_parser *ps, struct expfmt_item *it)
{
	while (ps->p < ps->end) {
		ps->line++;
		skip_blank(ps);
		if (ps->p >= ps->end)
			return 0;
		it->line = ps->line;
		char c = *ps->p;
		if (c == '\n') {
			ps->p++;
			continue;
		}
		char *eol = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
		size_t linelen = (size_t)((eol ? eol : ps->end) - ps->p);
		if (strnlen(ps->p, linelen) != linelen)
			return fail(ps, "NUL byte in the input");
		if (c == '#' && ps->openmetrics && linelen >= 5 && strncmp(ps->p, "# EOF", 5) == 0 &&
		    (linelen == 5 || isspace((unsigned char)ps->p[5]))) {
			ps->p = ps->end; /* nothing after # EOF counts */
			return 0;
		}
		if (c == '#') {
			int rc = parse_comment(ps, it);
			if (rc)
				return rc;
			continue;
		}
		return parse_sample(ps, it);
	}
	return 0;
}

size_t expfmt_family_len(const char *name, enum bm_metric_type type)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	size_t n = strlen(name);
	if (type != BM_METRIC_HISTOGRAM && type != BM_METRIC_SUMMARY)
		return n;
	for (size_t i = type == BM_METRIC_HISTOGRAM ? 0 : 1; i < 3; i++) {
		size_t sl = strlen(suffixes[i]);
		if (n > sl && strcmp(name + n - sl, suffixes[i]) == 0)
			return n - sl;
	}
	return n;
}
