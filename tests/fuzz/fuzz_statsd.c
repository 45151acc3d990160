/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the StatsD parser (plugins/collector_statsd/
 * parse.c): every line of the input is parsed; an accepted line must be
 * UTF-8 without NUL, with its spans inside the line and finite values, and
 * its series (built into a buffer of exactly the documented size) must
 * have a valid Prometheus name and sorted, unique, valid, non-empty labels.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static int is_name(const char *s, int first)
{
	return (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
	       (!first && *s >= '0' && *s <= '9');
}

static void check_name(const char *s)
{
	if (!*s || !is_name(s, 1))
		abort();
	for (s++; *s; s++)
		if (!is_name(s, 0))
			abort();
}

static int inside(const char *p, size_t n, const char *line, size_t len)
{
	return !n || (p >= line && p + n <= line + len);
}

static void check_series(const struct statsd_line *l, enum statsd_type type)
{
	size_t cap = STATSD_SERIES_BUF(l->name_len + l->tags_len);
	char *buf = malloc(cap); /* exact size: ASan sees any overflow */
	struct statsd_series s;
	if (!buf)
		return;
	if (statsd_series_build(l->name, l->name_len, l->tags, l->tags_len, type, buf, cap, &s) ==
	    STATSD_OK) {
		check_name(s.name);
		if (s.key != s.name || s.key_len > cap || s.n_labels > STATSD_MAX_TAGS)
			abort();
		for (uint32_t i = 0; i < s.n_labels; i++) {
			check_name(s.labels[i].name);
			if (!*s.labels[i].value || !statsd_utf8_valid(s.labels[i].value,
								       strlen(s.labels[i].value)))
				abort();
			if (i && strcmp(s.labels[i - 1].name, s.labels[i].name) >= 0)
				abort();
			if (s.labels[i].value + strlen(s.labels[i].value) >= s.key + s.key_len)
				abort();
		}
	}
	free(buf);
}

static void check_line(const char *line, size_t len)
{
	struct statsd_line l;
	if (statsd_parse_line(line, len, &l) != STATSD_OK)
		return;
	size_t n = len && line[len - 1] == '\r' ? len - 1 : len;
	if (memchr(line, '\0', n) || !statsd_utf8_valid(line, n))
		abort();
	if (!l.n || l.n > STATSD_MAX_VALUES || !l.name_len || !inside(l.name, l.name_len, line, n) ||
	    !inside(l.tags, l.tags_len, line, n))
		abort();
	unsigned types = 0;
	for (uint32_t i = 0; i < l.n; i++) {
		const struct statsd_value *v = &l.v[i];
		if (v->type >= STATSD_N_TYPES || !(v->weight >= 1) || !isfinite(v->weight) ||
		    !isfinite(v->num) || (v->type == STATSD_COUNTER && v->num < 0) ||
		    (v->type == STATSD_SET && (!v->len || !inside(v->str, v->len, line, n))))
			abort();
		if (!(types & (1u << v->type)))
			check_series(&l, (enum statsd_type)v->type);
		types |= 1u << v->type;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of each line in a buffer of its own size, so that reading
	 * past a line's end is caught */
	const char *p = (const char *)data, *end = p + size;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		char *line = malloc(n ? n : 1);
		if (!line)
			return 0;
		memcpy(line, p, n);
		check_line(line, n);
		free(line);
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}
