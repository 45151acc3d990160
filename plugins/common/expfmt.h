/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pull parser for the Prometheus text exposition format 0.0.4 (# HELP,
 * # TYPE, samples with labels, escapes, optional ms timestamps), shared by
 * the textfile, exec and scrape collectors, with the OpenMetrics 1.0 parts a
 * scraper meets (seconds timestamps, # EOF, # UNIT, exemplars, its extra
 * types). It works in place on a writable buffer: no allocation, names and
 * unescaped values point into the buffer.
 */
#ifndef BEARMON_PLUGINS_EXPFMT_H
#define BEARMON_PLUGINS_EXPFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Labels per sample (the batch builder's limit too). */
#define EXPFMT_MAX_LABELS 32

enum expfmt_kind {
	EXPFMT_SAMPLE = 1, /* name{labels} value [timestamp] */
	EXPFMT_HELP,       /* # HELP name text */
	EXPFMT_TYPE,       /* # TYPE name type */
	EXPFMT_UNIT,       /* # UNIT name unit: only with expfmt_parser.units */
};

/* One item of the input. Every string points into the parser's buffer and
 * stays valid as long as the buffer does (later items never overwrite it). */
struct expfmt_item {
	enum expfmt_kind kind;
	unsigned line;    /* 1-based line number of the item */
	const char *name; /* metric name (sample) or family name (HELP, TYPE) */
	/* EXPFMT_HELP: the docstring, unescaped (\\ and \n), may be "" */
	const char *help;
	/* EXPFMT_TYPE: counter, gauge, histogram, summary or untyped; in
	 * OpenMetrics also unknown (untyped), gaugehistogram, stateset and
	 * info (gauge: Prometheus stores them as gauges) */
	enum bm_metric_type type;
	/* EXPFMT_UNIT: the unit, may be "" */
	const char *unit;
	/* EXPFMT_SAMPLE: labels in input order, values unescaped, names
	 * unique; value (NaN, +Inf, -Inf allowed); timestamp when has_ts */
	struct bm_label labels[EXPFMT_MAX_LABELS];
	size_t n_labels;
	double value;
	bool has_ts;
	int64_t ts_ms;
};

struct expfmt_parser {
	char *p;   /* next unread byte */
	char *end; /* end of input; *end is '\0' */
	unsigned line;
	char err[160]; /* why the last expfmt_next() failed, with no line number */
	unsigned err_line;
	bool openmetrics; /* OpenMetrics 1.0: timestamps in (fractional) seconds,
			   * "# EOF" ends the input, exemplars (" # {...} v")
			   * after a sample are skipped, the OpenMetrics-only
			   * TYPEs are accepted; set after expfmt_init */
	bool units;       /* return "# UNIT" lines as EXPFMT_UNIT items (else
			   * they are comments); set after expfmt_init */
};

/*
 * Start parsing buf[0..len). buf must be writable and have a '\0' at
 * buf[len] (one byte past the input); the parser writes into it.
 */
void expfmt_init(struct expfmt_parser *ps, char *buf, size_t len);

/*
 * The next item: 1 with *it filled, 0 at the end of the input, or
 * BM_EPROTO with ps->err and ps->err_line set. After an error the rest of
 * the input is not parsed (the caller skips the whole document, as
 * Prometheus does).
 */
int expfmt_next(struct expfmt_parser *ps, struct expfmt_item *it);

/* True for [a-zA-Z_:][a-zA-Z0-9_:]* (metric names). */
bool expfmt_valid_metric_name(const char *s);
/* True for [a-zA-Z_][a-zA-Z0-9_]* (label names). */
bool expfmt_valid_label_name(const char *s);

/* The family a sample name belongs to for a declared histogram or summary
 * type: "x_bucket", "x_sum", "x_count" -> length of "x"; otherwise
 * strlen(name). For matching samples to their TYPE line. */
size_t expfmt_family_len(const char *name, enum bm_metric_type type);

#ifdef __cplusplus
}
#endif
#endif /* BEARMON_PLUGINS_EXPFMT_H */
