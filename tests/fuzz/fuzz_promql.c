/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the PromQL parser, and the evaluator behind it: any
 * input either fails with a "LINE:COL: parse error" message or parses, and
 * whatever parses is evaluated (instant and a short range) over a tiny
 * in-memory source, where it must succeed or fail with a status and a
 * message, never crash, leak or overflow.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql.h"

static const struct {
	const char *text;
	int64_t t[4];
	double v[4];
} series[] = {
	{"v{grp=\"1\",le=\"0.5\"}", {0, 15000, 30000, 45000}, {1, 3, 2, 5}},
	{"v{grp=\"2\",le=\"+Inf\"}", {0, 15000, 30000, 45000}, {2, NAN, INFINITY, 7}},
	{"w{grp=\"1\"}", {0, 15000, 30000, 45000}, {-1, 0, 1e308, -0.0}},
};

/* Every series matches: the evaluator still filters, sorts and joins. */
static long f_series(void *ctx, const struct bm_matcher *m, size_t n,
		     void (*cb)(void *u, int64_t id, const char *text), void *u)
{
	(void)ctx, (void)m, (void)n;
	for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
		cb(u, (int64_t)i, series[i].text);
	return (long)(sizeof(series) / sizeof(series[0]));
}

static long f_raw(void *ctx, int64_t id, int64_t start, int64_t end,
		  void (*cb)(void *u, int64_t ts, double v), void *u)
{
	(void)ctx;
	long n = 0;
	for (size_t i = 0; i < 4; i++)
		if (series[id].t[i] >= start && series[id].t[i] <= end) {
			cb(u, series[id].t[i], series[id].v[i]);
			n++;
		}
	return n;
}

static void check_message(int rc, const char *err)
{
	if (rc != PROMQL_OK && err[0] == '\0')
		abort(); /* every failure says why */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char err[512] = "";
	struct promql_expr *e = promql_parse(text, err, sizeof(err));
	if (!e) {
		int line, col;
		if (sscanf(err, "%d:%d: parse error: ", &line, &col) != 2 && strcmp(err, "out of memory") != 0)
			abort();
		free(text);
		return 0;
	}
	static const struct promql_source src = {NULL, f_series, f_raw};
	struct promql_opts opts = {.max_samples = 100000};
	struct promql_result r;
	err[0] = '\0';
	int rc = promql_eval(&src, &opts, e, 30000, 30000, 0, &r, err, sizeof(err));
	check_message(rc, err);
	if (rc == PROMQL_OK)
		promql_result_free(&r);
	err[0] = '\0';
	rc = promql_eval(&src, &opts, e, 0, 60000, 7000, &r, err, sizeof(err));
	check_message(rc, err);
	if (rc == PROMQL_OK)
		promql_result_free(&r);
	promql_expr_free(e);
	free(text);
	return 0;
}
