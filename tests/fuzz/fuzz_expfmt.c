/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the text exposition parser (plugins/common/expfmt.c):
 * whatever parses must hold valid names and unique labels, and must survive
 * a round trip (written back out in canonical form, it parses to the same).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/common/expfmt.h"

#define MAX_ITEMS 256

static void put_escaped(FILE *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (quote && *s == '"')
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

static void write_item(FILE *f, const struct expfmt_item *it)
{
	static const char *const types[] = {"untyped", "counter", "gauge", "histogram", "summary"};
	if (it->kind == EXPFMT_HELP) {
		fprintf(f, "# HELP %s ", it->name);
		put_escaped(f, it->help, false);
		fputc('\n', f);
		return;
	}
	if (it->kind == EXPFMT_TYPE) {
		fprintf(f, "# TYPE %s %s\n", it->name, types[it->type]);
		return;
	}
	fputs(it->name, f);
	fputc('{', f);
	for (size_t i = 0; i < it->n_labels; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "", it->labels[i].name);
		put_escaped(f, it->labels[i].value, true);
		fputc('"', f);
	}
	fprintf(f, "} %.17g", it->value);
	if (it->has_ts)
		fprintf(f, " %lld", (long long)it->ts_ms);
	fputc('\n', f);
}

static void check_item(const struct expfmt_item *it)
{
	if (!expfmt_valid_metric_name(it->name))
		abort();
	if (it->kind == EXPFMT_TYPE && (unsigned)it->type > BM_METRIC_SUMMARY)
		abort();
	if (it->kind != EXPFMT_SAMPLE)
		return;
	for (size_t i = 0; i < it->n_labels; i++) {
		if (!expfmt_valid_label_name(it->labels[i].name))
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(it->labels[i].name, it->labels[j].name) == 0)
				abort();
	}
}

static bool same(const struct expfmt_item *a, const struct expfmt_item *b)
{
	if (a->kind != b->kind || strcmp(a->name, b->name) != 0)
		return false;
	if (a->kind == EXPFMT_HELP)
		return strcmp(a->help, b->help) == 0;
	if (a->kind == EXPFMT_TYPE)
		return a->type == b->type;
	if (a->n_labels != b->n_labels || a->has_ts != b->has_ts || (a->has_ts && a->ts_ms != b->ts_ms))
		return false;
	if (!(a->value == b->value || (isnan(a->value) && isnan(b->value))))
		return false;
	for (size_t i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i].name, b->labels[i].name) ||
		    strcmp(a->labels[i].value, b->labels[i].value))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct expfmt_item items[MAX_ITEMS];
	static struct expfmt_item again;
	char *buf = malloc(size + 1);
	char *out = NULL;
	size_t out_len = 0;
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	struct expfmt_parser ps;
	expfmt_init(&ps, buf, size);
	size_t n = 0;
	int rc;
	while (n < MAX_ITEMS && (rc = expfmt_next(&ps, &items[n])) == 1)
		check_item(&items[n++]);
	if (n == MAX_ITEMS || rc == 0) {
		/* round trip of what parsed */
		FILE *f = open_memstream(&out, &out_len);
		if (!f)
			abort();
		for (size_t i = 0; i < n; i++)
			write_item(f, &items[i]);
		fclose(f);
		expfmt_init(&ps, out, out_len);
		for (size_t i = 0; i < n; i++)
			if (expfmt_next(&ps, &again) != 1 || !same(&items[i], &again))
				abort();
		if (expfmt_next(&ps, &again) != 0)
			abort();
	} else if (rc != BM_EPROTO || !ps.err[0] || ps.err_line == 0) {
		abort();
	}
	free(out);
	/* the same bytes as OpenMetrics (what scrape targets may send): every
	 * item valid, every failure explained */
	memcpy(buf, data, size);
	buf[size] = '\0';
	expfmt_init(&ps, buf, size);
	ps.openmetrics = true;
	ps.units = true;
	for (n = 0; n < MAX_ITEMS && (rc = expfmt_next(&ps, &items[0])) == 1; n++)
		if (items[0].kind != EXPFMT_UNIT)
			check_item(&items[0]);
	if (n < MAX_ITEMS && rc != 0 && (rc != BM_EPROTO || !ps.err[0] || ps.err_line == 0))
		abort();
	free(buf);
	return 0;
}
