/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StatsD line parser and series mapping (see parse.h). Hand-written rather
 * than a library: no Debian library parses StatsD, and the parser is the
 * hot path (a few hundred bytes of state, no allocation, one pass).
 */
#include "parse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_event.h>

static const char *const result_names[STATSD_N_RESULTS] = {
	[STATSD_OK] = "ok",
	[STATSD_ERR_SYNTAX] = "syntax",
	[STATSD_ERR_VALUE] = "value",
	[STATSD_ERR_TYPE] = "unknown_type",
	[STATSD_ERR_RATE] = "sample_rate",
	[STATSD_ERR_TAGS] = "tags",
	[STATSD_ERR_UTF8] = "invalid_utf8",
	[STATSD_ERR_TOO_LONG] = "too_long",
	[STATSD_ERR_NEGATIVE] = "negative_counter",
	[STATSD_ERR_TOO_MANY] = "too_many_values",
	[STATSD_ERR_INCOMPLETE] = "incomplete",
	[STATSD_UNSUPPORTED] = "unsupported",
};

static const char *const result_texts[STATSD_N_RESULTS] = {
	[STATSD_OK] = "ok",
	[STATSD_ERR_SYNTAX] = "not name:value|type",
	[STATSD_ERR_VALUE] = "value is not a finite number",
	[STATSD_ERR_TYPE] = "unknown metric type",
	[STATSD_ERR_RATE] = "sample rate is not in (0, 1]",
	[STATSD_ERR_TAGS] = "malformed tags",
	[STATSD_ERR_UTF8] = "invalid UTF-8",
	[STATSD_ERR_TOO_LONG] = "line longer than max_line_len",
	[STATSD_ERR_NEGATIVE] = "negative counter increment",
	[STATSD_ERR_TOO_MANY] = "too many values in one line",
	[STATSD_ERR_INCOMPLETE] = "connection closed in the middle of a line",
	[STATSD_UNSUPPORTED] = "DogStatsD events and service checks are not supported",
};

const char *statsd_result_name(enum statsd_result r)
{
	return (unsigned)r < STATSD_N_RESULTS ? result_names[r] : "?";
}

const char *statsd_result_text(enum statsd_result r)
{
	return (unsigned)r < STATSD_N_RESULTS ? result_texts[r] : "?";
}

/* --- UTF-8 ------------------------------------------------------------- */

bool statsd_utf8_valid(const char *str, size_t n)
{
	return bm_utf8_valid(str, n);
}

/* No NUL byte, and valid UTF-8 where a byte >= 0x80 occurs. Eight bytes
 * at a time: nearly every line is plain ASCII. */
static bool line_text_ok(const char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t high = 0;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if ((w - ones) & ~w & highs)
			return false; /* a zero byte */
		high |= w & highs;
	}
	for (; i < n; i++) {
		if (!p[i])
			return false;
		high |= (unsigned char)p[i] & 0x80;
	}
	return !high || statsd_utf8_valid(p, n);
}

/* --- numbers ----------------------------------------------------------- */

static const double pow10_exact[23] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* strtod for what the fast path cannot do exactly. bearmond never calls
 * setlocale, so the decimal point is '.'. */
static bool parse_number_slow(const char *p, size_t n, double *out)
{
	char tmp[128];
	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	char *end;
	double v = strtod(tmp, &end);
	if (end != tmp + n || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/* Digits into *m (at most 19 significant ones), *exp10 adjusted for the
 * ones that did not fit or follow the point. Returns the end. */
static const char *scan_digits(const char *p, const char *e, uint64_t *m, int *digits,
			       int *exp10, bool fraction, bool *exact, bool *any)
{
	for (; p < e && is_digit(*p); p++) {
		*any = true;
		if (*digits < 19) {
			*m = *m * 10 + (uint64_t)(*p - '0');
			*digits += *m != 0;
			*exp10 -= fraction;
		} else {
			*exact = false;
			*exp10 += !fraction;
		}
	}
	return p;
}

/*
 * A decimal number in [p, e): [+-]digits[.digits][(e|E)[+-]digits], the
 * whole span, finite. No "inf", "nan" or hex, which strtod would take.
 * Clinger's fast path (an exact mantissa below 2^53 times an exact power
 * of ten is correctly rounded) covers what clients send; strtod the rest.
 */
static bool parse_number(const char *p, const char *e, double *out)
{
	const char *start = p;
	bool neg = false, exact = true, any = false;
	uint64_t m = 0;
	int digits = 0, exp10 = 0;
	if (p < e && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	p = scan_digits(p, e, &m, &digits, &exp10, false, &exact, &any);
	if (p < e && *p == '.')
		p = scan_digits(p + 1, e, &m, &digits, &exp10, true, &exact, &any);
	if (!any)
		return false;
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		bool eneg = p < e && *p == '-';
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p == e || !is_digit(*p))
			return false;
		int x = 0;
		for (; p < e && is_digit(*p); p++)
			x = x < 10000 ? x * 10 + (*p - '0') : x;
		exp10 += eneg ? -x : x;
	}
	if (p != e)
		return false;
	if (!exact || m >= (1ULL << 53) || exp10 < -22 || exp10 > 22)
		return parse_number_slow(start, (size_t)(e - start), out);
	double v = (double)m;
	v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
	*out = neg ? -v : v;
	return true;
}

/* --- lines ------------------------------------------------------------- */

static int type_of(const char *t, size_t n)
{
	if (n == 1) {
		switch (t[0]) {
		case 'c': return STATSD_COUNTER;
		case 'g': return STATSD_GAUGE;
		case 'h': return STATSD_HISTOGRAM;
		case 'd': return STATSD_DISTRIBUTION;
		case 's': return STATSD_SET;
		default: return -1;
		}
	}
	return n == 2 && t[0] == 'm' && t[1] == 's' ? STATSD_TIMER : -1;
}

/* First of ':' or '|' at or after p, else e. */
static const char *to_sep(const char *p, const char *e)
{
	while (p < e && *p != ':' && *p != '|')
		p++;
	return p;
}

static const char *to_bar(const char *p, const char *e)
{
	const char *q = memchr(p, '|', (size_t)(e - p));
	return q ? q : e;
}

/* Values [first, n) of out, read as raw spans, get their type and rate. */
static enum statsd_result convert_values(struct statsd_line *out, uint32_t first, int type,
					 double rate)
{
	for (uint32_t i = first; i < out->n; i++) {
		struct statsd_value *v = &out->v[i];
		const char *s = v->str;
		v->type = (uint8_t)type;
		v->weight = type == STATSD_GAUGE || type == STATSD_SET ? 1.0 : 1.0 / rate;
		v->delta = false;
		v->num = 0;
		if (!v->len)
			return STATSD_ERR_VALUE;
		if (type == STATSD_SET)
			continue;
		if (!parse_number(s, s + v->len, &v->num))
			return STATSD_ERR_VALUE;
		if (type == STATSD_COUNTER && (v->num < 0 || (v->num == 0 && s[0] == '-')))
			return STATSD_ERR_NEGATIVE;
		if (type == STATSD_GAUGE)
			v->delta = s[0] == '+' || s[0] == '-';
		if (type == STATSD_TIMER)
			v->num /= 1000.0;
	}
	return STATSD_OK;
}

/* Optional fields after the type: |@rate, |#tags, |c:container (ignored),
 * |T timestamp (ignored: values are aggregated per flush interval). */
static enum statsd_result parse_fields(const char **pp, const char *e, double *rate,
				       struct statsd_line *out)
{
	const char *p = *pp;
	while (p < e && *p == '|') {
		p++;
		if (p < e && *p == '@') {
			const char *end = to_sep(p + 1, e);
			/* a subnormal rate would weigh a sample infinitely */
			if (!parse_number(p + 1, end, rate) || !(*rate > 0 && *rate <= 1) ||
			    !isfinite(1.0 / *rate))
				return STATSD_ERR_RATE;
			p = end;
		} else if (p < e && *p == '#') {
			if (out->tags)
				return STATSD_ERR_TAGS;
			const char *end = to_bar(p + 1, e);
			out->tags = p + 1;
			out->tags_len = (uint32_t)(end - p - 1);
			p = end;
		} else if (e - p >= 2 && p[0] == 'c' && p[1] == ':') {
			p = to_bar(p, e);
		} else if (p < e && *p == 'T') {
			const char *end = to_sep(p + 1, e);
			for (const char *d = p + 1; d < end; d++)
				if (!is_digit(*d))
					return STATSD_ERR_SYNTAX;
			p = end;
		} else {
			return STATSD_ERR_SYNTAX;
		}
	}
	*pp = p;
	return STATSD_OK;
}

/* One etsy "bit": values '|' type fields. */
static enum statsd_result parse_bit(const char **pp, const char *e, struct statsd_line *out)
{
	const char *p = *pp;
	uint32_t first = out->n;
	for (;;) {
		const char *end = to_sep(p, e);
		if (out->n == STATSD_MAX_VALUES)
			return STATSD_ERR_TOO_MANY;
		out->v[out->n++] = (struct statsd_value){.str = p, .len = (uint32_t)(end - p)};
		if (end == e)
			return STATSD_ERR_SYNTAX; /* no type */
		p = end + 1;
		if (*end == '|')
			break;
	}
	const char *tend = to_sep(p, e);
	int type = type_of(p, (size_t)(tend - p));
	if (type < 0)
		return STATSD_ERR_TYPE;
	p = tend;
	double rate = 1.0;
	enum statsd_result r = parse_fields(&p, e, &rate, out);
	if (r == STATSD_OK)
		r = convert_values(out, first, type, rate);
	*pp = p;
	return r;
}

enum statsd_result statsd_parse_line(const char *line, size_t len, struct statsd_line *out)
{
	if (len && line[len - 1] == '\r')
		len--;
	const char *p = line, *e = line + len;
	out->n = 0;
	out->tags = NULL;
	out->tags_len = 0;
	if (!line_text_ok(line, len))
		return STATSD_ERR_UTF8;
	if ((len >= 3 && memcmp(line, "_e{", 3) == 0) || (len >= 4 && memcmp(line, "_sc|", 4) == 0))
		return STATSD_UNSUPPORTED;
	const char *colon = memchr(p, ':', len);
	if (!colon || colon == p || memchr(p, '|', (size_t)(colon - p)))
		return STATSD_ERR_SYNTAX;
	out->name = p;
	out->name_len = (uint32_t)(colon - p);
	p = colon + 1;
	for (;;) {
		enum statsd_result r = parse_bit(&p, e, out);
		if (r != STATSD_OK)
			return r;
		if (p == e)
			return STATSD_OK;
		/* the next etsy bit (name:1|c:2|ms); tags end the line */
		if (*p != ':' || out->tags)
			return STATSD_ERR_SYNTAX;
		p++;
	}
}

/* --- series ------------------------------------------------------------ */

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* s[0..n) sanitised into dst (with a '_' before a leading digit); returns
 * the bytes written, no NUL. */
static size_t sanitize(char *dst, const char *s, size_t n)
{
	size_t o = 0;
	if (n && s[0] >= '0' && s[0] <= '9')
		dst[o++] = '_';
	for (size_t i = 0; i < n; i++)
		dst[o++] = is_name_char((unsigned char)s[i]) ? s[i] : '_';
	return o;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static size_t put(char *dst, const char *s, size_t n)
{
	memcpy(dst, s, n);
	dst[n] = '\0';
	return n + 1;
}

/* A label under construction: offsets into the scratch area. */
struct tag_span {
	uint32_t key, key_len, value, value_len;
};

/* One "k:v" (or "k") tag sanitised into scratch at *o. Returns false for
 * an empty name; sets *keep to false for an empty value. The name is
 * written 4 bytes in, so that a "tag" or "tag_" prefix fits before it. */
static bool one_tag(const char *t, size_t n, bool summary, char *scratch, size_t *o,
		    struct tag_span *sp, bool *keep)
{
	const char *colon = memchr(t, ':', n);
	size_t kn = colon ? (size_t)(colon - t) : n;
	if (!kn)
		return false;
	const char *v = colon ? colon + 1 : "true";
	size_t vn = colon ? n - kn - 1 : 4;
	*keep = vn > 0;
	char *k = scratch + *o + 4;
	size_t w = sanitize(k, t, kn);
	const char *prefix = "";
	if (w >= 2 && k[0] == '_' && k[1] == '_')
		prefix = "tag"; /* reserved by Prometheus */
	else if (summary && w == 8 && memcmp(k, "quantile", 8) == 0)
		prefix = "tag_"; /* ours on summaries */
	size_t pl = strlen(prefix);
	memcpy(k - pl, prefix, pl);
	sp->key = (uint32_t)(*o + 4 - pl);
	sp->key_len = (uint32_t)(w + pl);
	k[w] = '\0';
	*o += 4 + w + 1;
	sp->value = (uint32_t)*o;
	sp->value_len = (uint32_t)vn;
	*o += put(scratch + *o, v, vn);
	return true;
}

/* Insertion sort by name, stable: equal names keep the line's order. */
static void sort_tags(struct tag_span *sp, size_t n, const char *scratch)
{
	for (size_t i = 1; i < n; i++) {
		struct tag_span x = sp[i];
		size_t j = i;
		while (j > 0 && strcmp(scratch + sp[j - 1].key, scratch + x.key) > 0) {
			sp[j] = sp[j - 1];
			j--;
		}
		sp[j] = x;
	}
}

enum statsd_result statsd_series_build(const char *name, size_t name_len, const char *tags,
				       size_t tags_len, enum statsd_type type, char *buf,
				       size_t cap, struct statsd_series *out)
{
	bool summary = type == STATSD_TIMER || type == STATSD_HISTOGRAM ||
		       type == STATSD_DISTRIBUTION;
	if (cap < STATSD_SERIES_BUF(name_len + tags_len))
		return STATSD_ERR_TAGS;
	/* [0, half): the result; [half, cap): tags sanitised, then sorted */
	size_t half = cap / 2, o = 0, so = half;
	o = sanitize(buf, name, name_len);
	if (type == STATSD_COUNTER && !ends_with(buf, o, "_total"))
		o += (size_t)(stpcpy(buf + o, "_total") - (buf + o));
	if (type == STATSD_TIMER && !ends_with(buf, o, "_seconds"))
		o += (size_t)(stpcpy(buf + o, "_seconds") - (buf + o));
	buf[o++] = '\0';
	struct tag_span sp[STATSD_MAX_TAGS];
	size_t n = 0, seen = 0;
	for (size_t i = 0; tags && i < tags_len;) {
		const char *t = tags + i;
		const char *comma = memchr(t, ',', tags_len - i);
		size_t tn = comma ? (size_t)(comma - t) : tags_len - i;
		i += tn + 1;
		if (!tn)
			continue; /* "a:1,,b:2" */
		if (seen++ == STATSD_MAX_TAGS)
			return STATSD_ERR_TAGS;
		bool keep;
		if (!one_tag(t, tn, summary, buf, &so, &sp[n], &keep))
			return STATSD_ERR_TAGS;
		n += keep;
	}
	sort_tags(sp, n, buf);
	out->name = buf;
	out->key = buf;
	out->n_labels = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(buf + sp[i].key, buf + sp[i - 1].key) == 0)
			continue; /* stable sort: the earlier tag came first */
		struct bm_label *l = &out->labels[out->n_labels++];
		l->name = buf + o;
		o += put(buf + o, buf + sp[i].key, sp[i].key_len);
		l->value = buf + o;
		o += put(buf + o, buf + sp[i].value, sp[i].value_len);
	}
	out->key_len = (uint32_t)o;
	return STATSD_OK;
}
