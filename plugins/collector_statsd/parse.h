/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StatsD line parser (etsy StatsD and DogStatsD formats) and the mapping of
 * a parsed line to a Prometheus series (sanitised name with a unit or
 * _total suffix, tags as sorted labels). Pure functions with no host
 * calls, so that the fuzz target links this file alone.
 */
#ifndef BEARMON_STATSD_PARSE_H
#define BEARMON_STATSD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

/* Values in one line: `a:1:2:3|d` (DogStatsD) or `a:1|c:2|ms` (etsy). */
#define STATSD_MAX_VALUES 64
/* Tags in one line; one label more (quantile) still fits bm_batch's 32. */
#define STATSD_MAX_TAGS 31

enum statsd_type {
	STATSD_COUNTER = 0, /* c */
	STATSD_GAUGE,       /* g, with +/- deltas */
	STATSD_TIMER,       /* ms: milliseconds, published in seconds */
	STATSD_HISTOGRAM,   /* h: unitless, a timer without the conversion */
	STATSD_DISTRIBUTION,/* d: DogStatsD, the same as h */
	STATSD_SET,         /* s: distinct values per flush interval */
	STATSD_N_TYPES,
};

/* Why a line was refused; STATSD_OK is 0. Indexes the bad-line counters. */
enum statsd_result {
	STATSD_OK = 0,
	STATSD_ERR_SYNTAX,     /* no ':' or '|', empty name, stray bytes */
	STATSD_ERR_VALUE,      /* not a finite number, empty value */
	STATSD_ERR_TYPE,       /* unknown metric type */
	STATSD_ERR_RATE,       /* sample rate not a number in (0, 1] */
	STATSD_ERR_TAGS,       /* empty tag name, more than STATSD_MAX_TAGS */
	STATSD_ERR_UTF8,       /* invalid UTF-8 or a NUL byte */
	STATSD_ERR_TOO_LONG,   /* longer than max_line_len (set by the reader) */
	STATSD_ERR_NEGATIVE,   /* negative counter increment */
	STATSD_ERR_TOO_MANY,   /* more than STATSD_MAX_VALUES values */
	STATSD_ERR_INCOMPLETE, /* TCP client left without the final newline
				* (set by the reader) */
	STATSD_UNSUPPORTED,    /* DogStatsD event (_e{) or service check (_sc|) */
	STATSD_N_RESULTS,
};

/* One value of a line. */
struct statsd_value {
	double num;           /* the number (ms timers converted to seconds);
			       * unused for sets */
	const char *str;      /* sets: the member, borrowed from the line */
	uint32_t len;         /* sets: its length */
	uint8_t type;         /* enum statsd_type */
	bool delta;           /* gauges: +N or -N adjusts, N sets */
	double weight;        /* 1 / sample rate */
};

/* A parsed line. Every pointer borrows the input. */
struct statsd_line {
	const char *name;
	uint32_t name_len;
	const char *tags; /* DogStatsD tag list without "|#", or NULL */
	uint32_t tags_len;
	uint32_t n;       /* values */
	struct statsd_value v[STATSD_MAX_VALUES];
};

/*
 * Parse one line (no newline; a trailing '\r' is ignored) of len bytes.
 * Returns STATSD_OK with *out filled, or why it was refused. An empty
 * line is STATSD_ERR_SYNTAX: readers skip empty lines before calling.
 */
enum statsd_result statsd_parse_line(const char *line, size_t len, struct statsd_line *out);

/* Short snake_case name of a result ("unknown_type"), static. */
const char *statsd_result_name(enum statsd_result r);
/* Words for log lines ("unknown metric type"), static. */
const char *statsd_result_text(enum statsd_result r);

/* A line's series in Prometheus form, its strings in the caller's buffer:
 * the canonical key is name '\0' (label '\0' value '\0')*, labels sorted,
 * which identifies the series byte for byte. */
struct statsd_series {
	const char *name;
	struct bm_label labels[STATSD_MAX_TAGS];
	uint32_t n_labels;
	const char *key; /* == name: the canonical key starts with it */
	uint32_t key_len;
};

/* Bytes of buffer statsd_series_build needs at most for a line whose name
 * and tags together are n bytes long. */
#define STATSD_SERIES_BUF(n) (2 * ((size_t)(n) + 16 * STATSD_MAX_TAGS + 32))

/*
 * The series of name{tags} for a value of type: the name with every byte
 * outside [A-Za-z0-9_] made '_' (a leading digit gets a '_' before it),
 * plus "_total" for counters and "_seconds" for ms timers unless the name
 * already ends so. Tags "k:v" become labels k="v" (names sanitised the same
 * way; a tag without ':' becomes k="true"; an empty value drops the label,
 * as Prometheus treats empty as absent; the first of two equal names wins;
 * a name starting with "__", reserved in Prometheus, and "quantile" on
 * timers get a "tag_" prefix). buf must hold STATSD_SERIES_BUF(name_len +
 * tags_len) bytes. Returns STATSD_OK or STATSD_ERR_TAGS.
 */
enum statsd_result statsd_series_build(const char *name, size_t name_len, const char *tags,
				       size_t tags_len, enum statsd_type type, char *buf,
				       size_t cap, struct statsd_series *out);

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates, at most
 * U+10FFFF). */
bool statsd_utf8_valid(const char *s, size_t n);

#endif /* BEARMON_STATSD_PARSE_H */
