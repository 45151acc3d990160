/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Templates (see template.h). Hand-written: Prometheus' templates are Go's
 * text/template, which has no C implementation; this is the subset alert
 * rules use, and the humanize functions follow Prometheus'
 * template/template.go.
 */
#define _GNU_SOURCE
#include "template.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selector.h"

#define MAX_WORDS 8
#define WORD_MAX 128

/* One {{ ... }} action split into words; a quoted word keeps its quotes
 * out and is flagged. */
struct action {
	char w[MAX_WORDS][WORD_MAX];
	bool quoted[MAX_WORDS];
	int n;
};

/* A value flowing through a pipe: a number or text. */
struct val {
	bool is_num;
	double num;
	char text[512];
};

enum fn { FN_NONE, FN_HUMANIZE, FN_HUMANIZE1024, FN_DURATION, FN_PERCENT, FN_PRINTF };

static enum fn fn_of(const char *w)
{
	static const struct {
		const char *name;
		enum fn fn;
	} fns[] = {{"humanize", FN_HUMANIZE},
		   {"humanize1024", FN_HUMANIZE1024},
		   {"humanizeDuration", FN_DURATION},
		   {"humanizePercentage", FN_PERCENT},
		   {"printf", FN_PRINTF}};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (strcmp(w, fns[i].name) == 0)
			return fns[i].fn;
	return FN_NONE;
}

/* Split the inside of an action into words: terms, function names, "|"
 * and quoted strings. -1 on an unterminated quote or too many words. */
static int split_action(const char *s, size_t len, struct action *a)
{
	size_t i = 0;
	a->n = 0;
	while (i < len) {
		if (isspace((unsigned char)s[i])) {
			i++;
			continue;
		}
		if (a->n == MAX_WORDS)
			return -1;
		size_t k = 0;
		char *w = a->w[a->n];
		a->quoted[a->n] = s[i] == '"';
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				if (k + 1 < WORD_MAX)
					w[k++] = s[i];
			}
			if (i >= len)
				return -1;
			i++;
		} else if (s[i] == '|') {
			w[k++] = s[i++];
		} else {
			while (i < len && !isspace((unsigned char)s[i]) && s[i] != '|')
				if (k + 1 < WORD_MAX)
					w[k++] = s[i++];
				else
					i++;
		}
		w[k] = '\0';
		a->n++;
	}
	return 0;
}

static bool is_term(const char *w)
{
	return strcmp(w, "$value") == 0 || strcmp(w, ".Value") == 0 ||
	       strcmp(w, "$threshold") == 0 || strcmp(w, "$labels") == 0 ||
	       strcmp(w, ".Labels") == 0 || (strncmp(w, "$labels.", 8) == 0 && w[8]) ||
	       (strncmp(w, ".Labels.", 8) == 0 && w[8]);
}

/* A printf format with exactly one conversion among f F e E g G d i s. */
static bool printf_format_ok(const char *f)
{
	int conv = 0;
	for (const char *p = f; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '%') {
			p++;
			continue;
		}
		p++;
		p += strspn(p, "-+ #0");
		p += strspn(p, "0123456789");
		if (*p == '.')
			p += 1 + strspn(p + 1, "0123456789");
		if (!*p || !strchr("fFeEgGdis", *p))
			return false;
		conv++;
	}
	return conv == 1;
}

/*
 * The shape of one action: a term, then "| fn [arg]" stages; or
 * "fn [arg] term" then stages. Fills the order of operations into
 * term_i and stage starts; -1 with why on a malformed action.
 */
static int action_shape(const struct action *a, int *term_i, const char **why)
{
	int i = 0;
	if (a->n == 0)
		return *why = "empty action", -1;
	if (fn_of(a->w[0]) != FN_NONE && !a->quoted[0]) {
		i = fn_of(a->w[0]) == FN_PRINTF ? 2 : 1;
		if (i == 2 && (a->n < 2 || !a->quoted[1] || !printf_format_ok(a->w[1])))
			return *why = "printf needs a quoted format with one conversion", -1;
	}
	if (i >= a->n || a->quoted[i] || !is_term(a->w[i]))
		return *why = "expected $value, $threshold, $labels or $labels.NAME", -1;
	*term_i = i;
	for (i++; i < a->n;) {
		if (strcmp(a->w[i], "|") != 0 || a->quoted[i] || i + 1 >= a->n)
			return *why = "expected | and a function", -1;
		enum fn f = fn_of(a->w[i + 1]);
		if (f == FN_NONE || a->quoted[i + 1])
			return *why = "unknown function (humanize, humanize1024, humanizeDuration, "
				      "humanizePercentage, printf)",
			       -1;
		i += 2;
		if (f == FN_PRINTF) {
			if (i >= a->n || !a->quoted[i] || !printf_format_ok(a->w[i]))
				return *why = "printf needs a quoted format with one conversion",
				       -1;
			i++;
		}
	}
	return 0;
}

/* Position of the matching "}}" after an opening at i, or NULL. */
static const char *action_end(const char *open)
{
	return strstr(open + 2, "}}");
}

int al_template_check(const char *tmpl, char *err, size_t errn)
{
	for (const char *p = tmpl; (p = strstr(p, "{{"));) {
		const char *end = action_end(p);
		struct action a;
		const char *why = NULL;
		int term;
		if (!end) {
			snprintf(err, errn, "offset %zu: {{ without }}", (size_t)(p - tmpl));
			return -1;
		}
		const char *in = p + 2 + (p[2] == '-');
		size_t len = (size_t)(end - in) - (end > in && end[-1] == '-');
		if (split_action(in, len, &a))
			why = "unterminated string or too many words";
		else
			action_shape(&a, &term, &why);
		if (why) {
			snprintf(err, errn, "offset %zu: %s", (size_t)(p - tmpl), why);
			return -1;
		}
		p = end + 2;
	}
	return 0;
}

/* --- rendering -------------------------------------------------------- */

static void set_text(struct val *v, const char *fmt, double x)
{
	v->is_num = false;
	snprintf(v->text, sizeof(v->text), fmt, x);
}

static void fmt_si(struct val *v, double x, double base, const char *const *big,
		   const char *const *small)
{
	char num[64];
	int i = 0;
	if (x == 0 || !isfinite(x)) {
		set_text(v, "%.4g", x);
		return;
	}
	double a = fabs(x);
	if (a >= 1) {
		for (; a >= base && big[i + 1]; i++)
			a /= base, x /= base;
		snprintf(num, sizeof(num), "%.4g%s", x, big[i]);
	} else {
		for (; a < 1 && small && small[i + 1]; i++)
			a *= base, x *= base;
		snprintf(num, sizeof(num), "%.4g%s", x, small ? small[i] : "");
	}
	v->is_num = false;
	snprintf(v->text, sizeof(v->text), "%s", num);
}

static void humanize(struct val *v, double x)
{
	static const char *const big[] = {"", "k", "M", "G", "T", "P", "E", "Z", "Y", NULL};
	static const char *const small[] = {"", "m", "u", "n", "p", "f", "a", "z", "y", NULL};
	fmt_si(v, x, 1000, big, small);
}

static void humanize1024(struct val *v, double x)
{
	static const char *const big[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi",
					  NULL};
	if (fabs(x) < 1) {
		set_text(v, "%.4g", x);
		return;
	}
	fmt_si(v, x, 1024, big, NULL);
}

/* Prometheus' humanizeDuration: "1d 2h 3m 4s", or "12.5ms" below 1 s. */
static void humanize_duration(struct val *v, double secs)
{
	if (!isfinite(secs) || secs == 0) {
		set_text(v, secs == 0 ? "%.0fs" : "%.4g", secs);
		return;
	}
	if (fabs(secs) < 1) {
		static const char *const small[] = {"s", "ms", "us", "ns", NULL};
		fmt_si(v, secs, 1000, small, small);
		return;
	}
	const char *sign = secs < 0 ? "-" : "";
	long long s = (long long)fabs(secs);
	long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
	v->is_num = false;
	if (d)
		snprintf(v->text, sizeof(v->text), "%s%lldd %lldh %lldm %llds", sign, d, h, m,
			 s % 60);
	else if (h)
		snprintf(v->text, sizeof(v->text), "%s%lldh %lldm %llds", sign, h, m, s % 60);
	else if (m)
		snprintf(v->text, sizeof(v->text), "%s%lldm %llds", sign, m, s % 60);
	else
		snprintf(v->text, sizeof(v->text), "%s%.4gs", sign, fabs(secs));
}

static double num_of(const struct val *v)
{
	return v->is_num ? v->num : strtod(v->text, NULL);
}

/* The conversion character of a checked printf format. */
static char printf_conversion(const char *fmt)
{
	const char *p = fmt;
	while ((p = strchr(p, '%')) && p[1] == '%')
		p += 2;
	return p ? p[1 + strcspn(p + 1, "fFeEgGdis")] : 'g';
}

static void apply_printf(struct val *v, const char *fmt)
{
	char text[sizeof(v->text)], num[64];
	char conv = printf_conversion(fmt);
	double x = num_of(v);
	if (conv == 's') {
		snprintf(num, sizeof(num), "%g", v->num);
		snprintf(text, sizeof(text), fmt, v->is_num ? num : v->text);
	} else if (conv == 'd' || conv == 'i') {
		snprintf(text, sizeof(text), fmt, isfinite(x) ? (int)fmax(fmin(x, 2e9), -2e9) : 0);
	} else {
		snprintf(text, sizeof(text), fmt, x);
	}
	v->is_num = false;
	memcpy(v->text, text, sizeof(text));
}

static void apply(struct val *v, enum fn f, const char *arg)
{
	switch (f) {
	case FN_HUMANIZE:
		humanize(v, num_of(v));
		break;
	case FN_HUMANIZE1024:
		humanize1024(v, num_of(v));
		break;
	case FN_DURATION:
		humanize_duration(v, num_of(v));
		break;
	case FN_PERCENT:
		set_text(v, "%.4g%%", num_of(v) * 100);
		break;
	case FN_PRINTF:
		apply_printf(v, arg);
		break;
	case FN_NONE:
		break;
	}
}

static void all_labels(struct val *v, const struct al_tmpl_data *d)
{
	size_t used = 0;
	v->is_num = false;
	v->text[0] = '\0';
	for (size_t i = 0; i < d->n_labels && used < sizeof(v->text); i++) {
		int w = snprintf(v->text + used, sizeof(v->text) - used, "%s%s=\"%s\"",
				 i ? ", " : "", d->labels[i].name, d->labels[i].value);
		used += w > 0 ? (size_t)w : 0;
	}
}

static void term_value(const char *w, const struct al_tmpl_data *d, struct val *v)
{
	if (strcmp(w, "$value") == 0 || strcmp(w, ".Value") == 0) {
		v->is_num = true;
		v->num = d->value;
	} else if (strcmp(w, "$threshold") == 0) {
		v->is_num = true;
		v->num = d->threshold;
	} else if (strcmp(w, "$labels") == 0 || strcmp(w, ".Labels") == 0) {
		all_labels(v, d);
	} else {
		v->is_num = false;
		snprintf(v->text, sizeof(v->text), "%s",
			 al_label_value(d->labels, d->n_labels, w + 8));
	}
}

static int render_action(const struct action *a, const struct al_tmpl_data *d, struct bm_buf *out)
{
	struct val v;
	int term;
	const char *why;
	if (action_shape(a, &term, &why))
		return 0; /* checked at load: cannot happen */
	term_value(a->w[term], d, &v);
	if (term > 0)
		apply(&v, fn_of(a->w[0]), term == 2 ? a->w[1] : NULL);
	for (int i = term + 1; i < a->n;) {
		enum fn f = fn_of(a->w[i + 1]);
		apply(&v, f, f == FN_PRINTF ? a->w[i + 2] : NULL);
		i += f == FN_PRINTF ? 3 : 2;
	}
	if (v.is_num)
		snprintf(v.text, sizeof(v.text), "%.15g", v.num);
	return bm_buf_append(out, v.text, strlen(v.text));
}

/* Length of s without trailing white space (for "{{-"). */
static size_t trim_right(const char *s, size_t len)
{
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return len;
}

int al_template_render(const char *tmpl, const struct al_tmpl_data *d, struct bm_buf *out)
{
	const char *p = tmpl;
	for (const char *open; (open = strstr(p, "{{"));) {
		const char *end = action_end(open);
		if (!end)
			break;
		bool ltrim = open[2] == '-', rtrim = end > open + 2 && end[-1] == '-';
		size_t lit = (size_t)(open - p);
		int rc = bm_buf_append(out, p, ltrim ? trim_right(p, lit) : lit);
		struct action a;
		const char *in = open + 2 + ltrim;
		if (!rc && split_action(in, (size_t)(end - in) - rtrim, &a) == 0)
			rc = render_action(&a, d, out);
		if (rc)
			return rc;
		p = end + 2;
		if (rtrim)
			while (isspace((unsigned char)*p))
				p++;
	}
	return bm_buf_append(out, p, strlen(p));
}
