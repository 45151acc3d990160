/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PromQL engine against hand-computed answers: the parser (precedence,
 * numbers, durations, type checks, error positions) and the evaluator over
 * a small in-memory source (lookback, staleness, offsets, extrapolated
 * rates, counter resets, aggregations, vector matching, functions, limits).
 */
#define _GNU_SOURCE
#include <math.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "promql.h"

/* --- a source of fixed series ------------------------------------------------ */

#define S(t) ((int64_t)(t) * 1000)

struct fseries {
	const char *text;
	size_t n;
	int64_t t[12];
	double v[12];
};

static struct fseries data[] = {
	/* a counter every 15 s */
	{"ctr{job=\"a\"}", 5, {S(0), S(15), S(30), S(45), S(60)}, {0, 10, 20, 30, 40}},
	/* a counter that resets */
	{"ctr{job=\"b\"}", 5, {S(0), S(15), S(30), S(45), S(60)}, {0, 10, 20, 5, 15}},
	/* a gauge that goes stale at 30 s */
	{"g{room=\"x\"}", 3, {S(0), S(15), S(30)}, {1, 2, 0}},
	/* a gauge with one sample */
	{"h", 1, {S(0)}, {5}},
	/* values for aggregations */
	{"v{grp=\"1\",inst=\"a\"}", 1, {S(100)}, {1}},
	{"v{grp=\"1\",inst=\"b\"}", 1, {S(100)}, {3}},
	{"v{grp=\"2\",inst=\"c\"}", 1, {S(100)}, {10}},
	{"w{grp=\"1\"}", 1, {S(100)}, {100}},
	{"w{grp=\"2\"}", 1, {S(100)}, {200}},
	/* classic histogram buckets */
	{"lat_bucket{le=\"0.1\"}", 1, {S(100)}, {10}},
	{"lat_bucket{le=\"0.5\"}", 1, {S(100)}, {30}},
	{"lat_bucket{le=\"+Inf\"}", 1, {S(100)}, {40}},
	/* the same labels as ctr{job="a"} under another name */
	{"ctr2{job=\"a\"}", 2, {S(30), S(60)}, {1, 2}},
	/* a line: y = 2t */
	{"line", 5, {S(0), S(10), S(20), S(30), S(40)}, {0, 20, 40, 60, 80}},
};

/* The value of label name in a series text. */
struct getter {
	const char *name;
	char value[128];
};

static void get_label(void *u, const char *name, const char *value)
{
	struct getter *g = u;
	if (strcmp(name, g->name) == 0)
		snprintf(g->value, sizeof(g->value), "%s", value);
}

static bool matches(const char *text, const struct bm_matcher *m)
{
	struct getter g = {m->name, ""};
	promql_series_text_each(text, get_label, &g);
	bool ok;
	if (m->op == BM_MATCH_EQ || m->op == BM_MATCH_NEQ) {
		ok = strcmp(g.value, m->value) == 0;
	} else {
		char *re;
		regex_t r;
		assert_true(asprintf(&re, "^(%s)$", m->value) > 0);
		assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
		ok = regexec(&r, g.value, 0, NULL, 0) == 0;
		regfree(&r);
		free(re);
	}
	return m->op == BM_MATCH_NEQ || m->op == BM_MATCH_NRE ? !ok : ok;
}

static long f_series(void *ctx, const struct bm_matcher *m, size_t n,
		     void (*cb)(void *u, int64_t id, const char *text), void *u)
{
	(void)ctx;
	long count = 0;
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		bool all = true;
		for (size_t j = 0; j < n; j++)
			all &= matches(data[i].text, &m[j]);
		if (all) {
			cb(u, (int64_t)i, data[i].text);
			count++;
		}
	}
	return count;
}

static long f_raw(void *ctx, int64_t id, int64_t start, int64_t end,
		  void (*cb)(void *u, int64_t ts, double v), void *u)
{
	(void)ctx;
	long n = 0;
	for (size_t i = 0; i < data[id].n; i++)
		if (data[id].t[i] >= start && data[id].t[i] <= end) {
			cb(u, data[id].t[i], data[id].v[i]);
			n++;
		}
	return n;
}

static const struct promql_source src = {NULL, f_series, f_raw};
static struct promql_opts opts;
static char err[512];

static int query(const char *expr, int64_t start, int64_t end, int64_t step, struct promql_result *r)
{
	err[0] = '\0';
	return promql_query(&src, &opts, expr, start, end, step, r, err, sizeof(err));
}

/* An instant query that must succeed. */
static void instant(const char *expr, int64_t t, struct promql_result *r)
{
	int rc = query(expr, t, t, 0, r);
	if (rc)
		fail_msg("%s: %s", expr, err);
}

static double scalar_of(const char *expr, int64_t t)
{
	struct promql_result r;
	instant(expr, t, &r);
	assert_int_equal(r.type, BM_PROMQL_SCALAR);
	double v = r.scalar;
	promql_result_free(&r);
	return v;
}

/* The value of the one-series vector expr at t. */
static double one_value(const char *expr, int64_t t)
{
	struct promql_result r;
	instant(expr, t, &r);
	assert_int_equal(r.type, BM_PROMQL_VECTOR);
	if (r.n_series != 1)
		fail_msg("%s: %zu series", expr, r.n_series);
	double v = r.series[0].v[0];
	promql_result_free(&r);
	return v;
}

static size_t count_of(const char *expr, int64_t t)
{
	struct promql_result r;
	instant(expr, t, &r);
	size_t n = r.n_series;
	promql_result_free(&r);
	return n;
}

/* "a=1,b=2" of a series' labels */
static void labels_text(const struct promql_series *s, char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < s->n_labels; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s%s=%s", i ? "," : "", s->labels[i].name,
				      s->labels[i].value);
}

static void assert_near(double got, double want)
{
	if (!(fabs(got - want) <= 1e-9 * fmax(1, fabs(want))))
		fail_msg("got %.17g, want %.17g", got, want);
}

/* --- parser --------------------------------------------------------------------- */

static void parse_error(const char *expr, const char *want)
{
	char e[256];
	struct promql_expr *x = promql_parse(expr, e, sizeof(e));
	assert_null(x);
	if (!strstr(e, want))
		fail_msg("%s: got \"%s\", want \"%s\"", expr, e, want);
}

static void test_parse_types(void **state)
{
	(void)state;
	static const struct {
		const char *expr;
		enum bm_promql_type type;
	} cases[] = {
		{"1 + 2", BM_PROMQL_SCALAR},
		{"foo", BM_PROMQL_VECTOR},
		{"foo[5m]", BM_PROMQL_MATRIX},
		{"foo[1h30m] offset -2m", BM_PROMQL_MATRIX},
		{"\"x\"", BM_PROMQL_STRING},
		{"sum by (a) (rate(x{b=~\"c.*\",d!=\"e\"}[5m]))", BM_PROMQL_VECTOR},
		{"sum(rate(x[5m])) without (a)", BM_PROMQL_VECTOR},
		{"a / on(x) group_left(y) b", BM_PROMQL_VECTOR},
		{"a > bool 1", BM_PROMQL_VECTOR},
		{"scalar(a) * 2", BM_PROMQL_SCALAR},
		{"SUM(a) BY (b)", BM_PROMQL_VECTOR},
		{"# comment\nfoo # more", BM_PROMQL_VECTOR},
		{"topk(3, x) or bottomk(1, y) unless z and w", BM_PROMQL_VECTOR},
		{"{__name__=~\"job:.*\"}", BM_PROMQL_VECTOR},
		{"job:rate5m:sum", BM_PROMQL_VECTOR},
		{"x{a=~\"(?i)ab|\\\\d+\\\\.(?:c|d)*?\", b=~\"[[:alpha:]\\\\d]{2,3}\"}", BM_PROMQL_VECTOR},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char e[256];
		struct promql_expr *x = promql_parse(cases[i].expr, e, sizeof(e));
		if (!x)
			fail_msg("%s: %s", cases[i].expr, e);
		assert_int_equal(promql_expr_type(x), cases[i].type);
		promql_expr_free(x);
	}
}

static void test_parse_numbers_and_precedence(void **state)
{
	(void)state;
	assert_near(scalar_of("1 + 2 * 3", 0), 7);
	assert_near(scalar_of("(1 + 2) * 3", 0), 9);
	assert_near(scalar_of("2 ^ 3 ^ 2", 0), 512); /* right-associative */
	assert_near(scalar_of("-2 ^ 2", 0), -4);     /* unary minus below ^ */
	assert_near(scalar_of("- 2 * 3", 0), -6);
	assert_near(scalar_of("10 - 2 - 3", 0), 5);
	assert_near(scalar_of("7 % 4", 0), 3);
	assert_near(scalar_of("0x10", 0), 16);
	assert_near(scalar_of("010", 0), 8); /* octal, as Go's ParseInt(s, 0, 64) */
	assert_near(scalar_of("1e3 + .5", 0), 1000.5);
	assert_true(isinf(scalar_of("Inf", 0)) && scalar_of("-inf", 0) < 0);
	assert_true(isnan(scalar_of("NaN", 0)));
	assert_near(scalar_of("1 < bool 2", 0), 1);
	assert_near(scalar_of("2 == bool 3", 0), 0);
	assert_near(scalar_of("time()", S(42)), 42);
}

static void test_parse_errors(void **state)
{
	(void)state;
	parse_error("foo +", "1:6: parse error: unexpected end of input");
	parse_error("rate(foo)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector");
	parse_error("sum(foo", "parse error: unexpected end of input");
	parse_error("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher");
	parse_error("{a=~\".*\"}", "at least one non-empty matcher");
	parse_error("foo{a=~\"(\"}", "1:8: parse error: error parsing regexp");
	parse_error("1 > 2", "1:3: parse error: comparisons between scalars must use BOOL modifier");
	parse_error("foo and 1", "set operator \"and\" not allowed in binary scalar expression");
	parse_error("nofn(x)", "1:1: parse error: unknown function with name \"nofn\"");
	parse_error("foo[5m] + 1", "binary expression must contain only scalar and instant vector types");
	parse_error("foo\n  + ", "2:5: parse error: unexpected end of input");
	parse_error("foo{a=\"b\"", "unexpected end of input");
	parse_error("foo[5x]", "bad number or duration syntax");
	parse_error("rate(foo[5m:1m])", "subqueries are not supported");
	parse_error("foo offset 1m offset 2m", "offset may not be set multiple times");
	parse_error("(foo)[5m]", "ranges only allowed for vector selectors");
	parse_error("a + on(b) group_left(b) c", "must not occur in ON and GROUP clause at once");
	parse_error("a and on(b) group_left c", "no grouping allowed for \"and\" operation");
	parse_error("round(a, 1, 2)", "expected at most 2 argument(s) in call to \"round\", got 3");
	parse_error("", "no expression found in input");
	parse_error("foo{a=\"\\q\"}", "invalid syntax");
	parse_error("sum(a) by (b) by (c)", "unexpected identifier \"by\"");
	/* what would make glibc's regcomp explode is refused, as RE2 does */
	parse_error("foo{a=~\"a++\"}", "invalid nested repetition operator");
	parse_error("foo{a=~\"x{1001}\"}", "invalid repeat count");
	parse_error("foo{a=~\"a)|(.*\"}", "unexpected )"); /* would escape ^(...)$ */
	parse_error("foo{a=~\"(a\"}", "missing closing )");
	parse_error("foo{a=~\"[a\"}", "missing closing ]");
	parse_error("foo{a=~\"((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)\"}", "expression too large");
}

/* --- evaluator: selectors ---------------------------------------------------- */

static void test_lookback_and_staleness(void **state)
{
	(void)state;
	assert_near(one_value("g", S(20)), 2);
	assert_int_equal(count_of("g", S(31)), 0);  /* the stale marker ends it at once */
	assert_int_equal(count_of("g", S(200)), 0); /* and it stays gone */
	assert_near(one_value("h", S(300)), 5);     /* 5 m lookback, closed */
	assert_int_equal(count_of("h", S(300) + 1), 0);
	assert_near(one_value("g offset 10s", S(25)), 2);
	assert_int_equal(count_of("h", S(-1)), 0); /* nothing before the first sample */
	opts.lookback_ms = S(60);
	assert_int_equal(count_of("h", S(61)), 0); /* a shorter lookback */
	opts.lookback_ms = 0;
	/* instant vector results carry the evaluation time */
	struct promql_result r;
	instant("h", S(100), &r);
	assert_int_equal(r.series[0].t[0], S(100));
	promql_result_free(&r);
	/* a range selector returns the raw window, stale markers left out */
	instant("g[1m]", S(40), &r);
	assert_int_equal(r.type, BM_PROMQL_MATRIX);
	assert_int_equal(r.series[0].n, 2);
	assert_int_equal(r.series[0].t[1], S(15));
	promql_result_free(&r);
	assert_near(one_value("timestamp(g)", S(20)), 15);
}

/* RE2 forms become POSIX ones: (?i), \d, (?:...), lazy quantifiers */
static void test_regex_matchers(void **state)
{
	(void)state;
	const int64_t t = S(100);
	assert_int_equal(count_of("v{inst=~\"(?i)[AB]\"}", t), 2);
	assert_int_equal(count_of("v{grp=~\"\\\\d\"}", t), 3);
	assert_int_equal(count_of("v{inst=~\"(?:a|c)+?\"}", t), 2);
	assert_int_equal(count_of("v{inst!~\"a.*\"}", t), 2);
	assert_int_equal(count_of("{__name__=~\"v|w\",grp=\"2\"}", t), 2);
	assert_int_equal(count_of("v{inst=~\"\"}", t), 0); /* anchored: matches empty only */
	assert_int_equal(count_of("v{nolabel=\"\"}", t), 3); /* absent label = empty */
}

static void test_rates(void **state)
{
	(void)state;
	/* window [10 s, 70 s]: samples 15..60 (10..40), extrapolated by 5 s at
	 * the start and 10 s at the end (both under 1.1 x 15 s): 30 * 60 / 45 */
	assert_near(one_value("increase(ctr{job=\"a\"}[1m])", S(70)), 40);
	assert_near(one_value("rate(ctr{job=\"a\"}[1m])", S(70)), 40.0 / 60);
	/* exactly aligned: no extrapolation */
	assert_near(one_value("increase(ctr{job=\"a\"}[1m])", S(60)), 40);
	/* the reset from 20 to 5 adds 20 back: 15 - 0 + 20 */
	assert_near(one_value("increase(ctr{job=\"b\"}[1m])", S(60)), 35);
	assert_near(one_value("resets(ctr{job=\"b\"}[1m])", S(60)), 1);
	/* delta does not know about resets */
	assert_near(one_value("delta(ctr{job=\"b\"}[1m])", S(60)), 15);
	/* window [30, 90]: 20, 30, 40 at 30..60; the end is 30 s away, over
	 * 1.1 x 15 s: extrapolate half an interval, 20 * (30 + 0 + 7.5) / 30 */
	assert_near(one_value("increase(ctr{job=\"a\"}[1m])", S(90)), 25);
	/* the zero point: at [5 s, 65 s] the first sample (10 at 15 s) lies 10 s
	 * in, but the counter started 15 s before it: no cut at zero as 15 > 10 */
	assert_near(one_value("increase(ctr{job=\"a\"}[1m] offset 5s)", S(70)), 40);
	/* irate: the last two samples */
	assert_near(one_value("irate(ctr{job=\"b\"}[1m])", S(60)), 10.0 / 15);
	assert_near(one_value("idelta(ctr{job=\"b\"}[1m])", S(60)), 10);
	/* one sample: no rate */
	assert_int_equal(count_of("rate(h[10m])", S(100)), 0);
	/* the name goes */
	struct promql_result r;
	instant("rate(ctr[1m])", S(60), &r);
	assert_int_equal(r.n_series, 2);
	assert_int_equal(r.series[0].n_labels, 1);
	assert_string_equal(r.series[0].labels[0].name, "job");
	promql_result_free(&r);
	/* deriv and predict_linear on y = 2t */
	assert_near(one_value("deriv(line[1m])", S(40)), 2);
	assert_near(one_value("predict_linear(line[1m], 10)", S(40)), 100);
}

static void test_over_time(void **state)
{
	(void)state;
	const int64_t t = S(60);
	assert_near(one_value("avg_over_time(ctr{job=\"b\"}[1m])", t), 10);
	assert_near(one_value("sum_over_time(ctr{job=\"b\"}[1m])", t), 50);
	assert_near(one_value("min_over_time(ctr{job=\"b\"}[1m])", t), 0);
	assert_near(one_value("max_over_time(ctr{job=\"b\"}[1m])", t), 20);
	assert_near(one_value("count_over_time(ctr{job=\"b\"}[1m])", t), 5);
	assert_near(one_value("last_over_time(ctr{job=\"b\"}[1m])", t), 15);
	/* values 0 5 10 15 20 (sorted): q=0.5 -> 10; q=0.9 -> 5 + 0.6 of 20-15... rank 3.6 */
	assert_near(one_value("quantile_over_time(0.5, ctr{job=\"b\"}[1m])", t), 10);
	assert_near(one_value("quantile_over_time(0.9, ctr{job=\"b\"}[1m])", t), 18);
	/* population stddev of 0 10 20 5 15: sqrt(50) */
	assert_near(one_value("stddev_over_time(ctr{job=\"b\"}[1m])", t), sqrt(50));
	assert_near(one_value("changes(ctr{job=\"b\"}[1m])", t), 4);
	/* last_over_time keeps the name */
	struct promql_result r;
	instant("last_over_time(h[5m])", S(1), &r);
	assert_string_equal(r.series[0].labels[0].value, "h");
	promql_result_free(&r);
}

/* --- evaluator: aggregation and operators ------------------------------------- */

static void test_aggregations(void **state)
{
	(void)state;
	const int64_t t = S(100);
	assert_near(one_value("sum(v)", t), 14);
	assert_near(one_value("avg(v)", t), 14.0 / 3);
	assert_near(one_value("count(v)", t), 3);
	assert_near(one_value("min(v)", t), 1);
	assert_near(one_value("max(v)", t), 10);
	assert_near(one_value("quantile(0.5, v)", t), 3);
	assert_near(one_value("stddev(v{grp=\"1\"})", t), 1);
	assert_near(one_value("stdvar(v{grp=\"1\"})", t), 1);
	assert_near(one_value("sum by (grp) (v{grp=\"2\"})", t), 10);
	assert_near(one_value("sum(v) by (grp) > 5", t), 10);
	struct promql_result r;
	char l[128];
	instant("sum without (inst) (v)", t, &r);
	assert_int_equal(r.n_series, 2);
	labels_text(&r.series[0], l, sizeof(l));
	assert_string_equal(l, "grp=1"); /* the name goes too */
	assert_near(r.series[0].v[0], 4);
	promql_result_free(&r);
	instant("topk(2, v)", t, &r); /* highest first, labels kept */
	assert_int_equal(r.n_series, 2);
	assert_near(r.series[0].v[0], 10);
	assert_near(r.series[1].v[0], 3);
	assert_string_equal(r.series[0].labels[0].value, "v");
	promql_result_free(&r);
	instant("bottomk by (grp) (1, v)", t, &r);
	assert_int_equal(r.n_series, 2);
	assert_near(r.series[0].v[0], 1);
	assert_near(r.series[1].v[0], 10);
	promql_result_free(&r);
	assert_int_equal(count_of("topk(0, v)", t), 0);
}

static void test_binary_operators(void **state)
{
	(void)state;
	const int64_t t = S(100);
	struct promql_result r;
	char l[128];
	/* vector / scalar drops the name; comparisons keep it and filter */
	instant("v * 2", t, &r);
	assert_int_equal(r.n_series, 3);
	labels_text(&r.series[0], l, sizeof(l));
	assert_string_equal(l, "grp=1,inst=a");
	assert_near(r.series[0].v[0], 2);
	promql_result_free(&r);
	instant("v > 2", t, &r);
	assert_int_equal(r.n_series, 2);
	assert_string_equal(r.series[0].labels[0].value, "v");
	promql_result_free(&r);
	instant("2 < v", t, &r); /* scalar on the left: the vector's value stays */
	assert_near(r.series[0].v[0], 3);
	promql_result_free(&r);
	instant("v > bool 2", t, &r);
	assert_int_equal(r.n_series, 3);
	assert_near(r.series[0].v[0], 0);
	assert_near(r.series[2].v[0], 1);
	promql_result_free(&r);
	/* many-to-one with group_left: w's grp matches v's */
	instant("v / on(grp) group_left w", t, &r);
	assert_int_equal(r.n_series, 3);
	assert_near(r.series[0].v[0], 0.01);
	assert_near(r.series[2].v[0], 0.05);
	promql_result_free(&r);
	instant("w + on(grp) group_right v", t, &r);
	assert_int_equal(r.n_series, 3);
	assert_near(r.series[1].v[0], 103);
	promql_result_free(&r);
	/* one-to-one on(grp) keeps only grp */
	instant("w - on(grp) sum by (grp) (v)", t, &r);
	assert_int_equal(r.n_series, 2);
	labels_text(&r.series[1], l, sizeof(l));
	assert_string_equal(l, "grp=2");
	assert_near(r.series[1].v[0], 190);
	promql_result_free(&r);
	/* set operators */
	assert_int_equal(count_of("v and on(grp) w{grp=\"2\"}", t), 1);
	assert_int_equal(count_of("v unless on(grp) w{grp=\"2\"}", t), 2);
	assert_int_equal(count_of("w or v", t), 5);
	assert_int_equal(count_of("w{grp=\"1\"} or w", t), 2);
	/* unary minus */
	assert_near(one_value("-h", S(1)), -5);
	/* many-to-many is an evaluation error */
	assert_int_equal(query("w + on(grp) v", t, t, 0, &r), PROMQL_EEXEC);
	assert_non_null(strstr(err, "found duplicate series for the match group {grp=\"1\"} on the right hand-side"));
	assert_int_equal(query("v + on(grp) w", t, t, 0, &r), PROMQL_EEXEC);
	assert_non_null(strstr(err, "many-to-one matching must be explicit"));
	/* after dropping the name two series have the same labels */
	assert_int_equal(query("rate({__name__=~\"ctr2?\",job=\"a\"}[1m])", S(60), S(60), 0, &r), PROMQL_EEXEC);
	assert_string_equal(err, "vector cannot contain metrics with the same labelset");
	assert_int_equal(query("label_replace(v, \"inst\", \"x\", \"\", \"\")", t, t, 0, &r), PROMQL_EEXEC);
	assert_int_equal(query("-{__name__=~\"ctr2?\",job=\"a\"}", S(60), S(60), 0, &r), PROMQL_EEXEC);
	/* with the name kept they differ */
	assert_int_equal(query("last_over_time({__name__=~\"ctr2?\",job=\"a\"}[1m])", S(60), S(60), 0, &r), PROMQL_OK);
	assert_int_equal(r.n_series, 2);
	promql_result_free(&r);
}

static void test_functions(void **state)
{
	(void)state;
	const int64_t t = S(100);
	assert_near(one_value("histogram_quantile(0.5, lat_bucket)", t), 0.3);
	assert_near(one_value("histogram_quantile(0.95, lat_bucket)", t), 0.5); /* in +Inf: the last bound */
	assert_true(isinf(one_value("histogram_quantile(2, lat_bucket)", t)));
	assert_near(one_value("abs(-h)", S(1)), 5);
	assert_near(one_value("clamp_max(h, 3)", S(1)), 3);
	assert_near(one_value("clamp_min(h, 7)", S(1)), 7);
	assert_near(one_value("clamp(h, 6, 8)", S(1)), 6);
	assert_int_equal(count_of("clamp(h, 8, 6)", S(1)), 0);
	assert_near(one_value("round(v{inst=\"b\"} / 2)", t), 2);
	assert_near(one_value("round(v{inst=\"c\"} / 3, 0.5)", t), 3.5);
	assert_near(one_value("ceil(v{inst=\"c\"} / 3)", t), 4);
	assert_near(one_value("floor(v{inst=\"c\"} / 3)", t), 3);
	assert_near(one_value("vector(7)", t), 7);
	assert_near(scalar_of("scalar(h)", S(1)), 5);
	assert_true(isnan(scalar_of("scalar(v)", t)));
	assert_near(one_value("absent(nothing{a=\"b\"})", t), 1);
	assert_int_equal(count_of("absent(v)", t), 0);
	assert_near(one_value("absent_over_time(nothing[1m])", t), 1);
	struct promql_result r;
	char l[128];
	instant("absent(nothing{a=\"b\",c=~\"d\",e=\"f\",e=\"g\"})", t, &r);
	labels_text(&r.series[0], l, sizeof(l));
	assert_string_equal(l, "a=b");
	promql_result_free(&r);
	instant("label_replace(w, \"dst\", \"g-$1\", \"grp\", \"(.)\")", t, &r);
	labels_text(&r.series[0], l, sizeof(l));
	assert_string_equal(l, "__name__=w,dst=g-1,grp=1");
	promql_result_free(&r);
	instant("label_replace(w, \"dst\", \"$1\", \"grp\", \"x(.)\")", t, &r); /* no match: unchanged */
	labels_text(&r.series[0], l, sizeof(l));
	assert_string_equal(l, "__name__=w,grp=1");
	promql_result_free(&r);
	instant("sort_desc(v)", t, &r);
	assert_near(r.series[0].v[0], 10);
	assert_near(r.series[2].v[0], 1);
	promql_result_free(&r);
	instant("sort(v)", t, &r);
	assert_near(r.series[0].v[0], 1);
	promql_result_free(&r);
	assert_int_equal(query("label_replace(w, \"1bad\", \"x\", \"grp\", \".*\")", t, t, 0, &r), PROMQL_EEXEC);
}

static void test_range_queries_and_limits(void **state)
{
	(void)state;
	struct promql_result r;
	/* steps 0, 15, 30, 45: g exists at 0 and 15 only (stale at 30) */
	assert_int_equal(query("g", 0, S(45), S(15), &r), PROMQL_OK);
	assert_int_equal(r.type, BM_PROMQL_MATRIX);
	assert_int_equal(r.series[0].n, 2);
	assert_int_equal(r.series[0].t[1], S(15));
	promql_result_free(&r);
	/* a scalar becomes one series without labels; steps as given, not aligned */
	assert_int_equal(query("time()", S(1), S(21), S(10), &r), PROMQL_OK);
	assert_int_equal(r.n_series, 1);
	assert_int_equal(r.series[0].n_labels, 0);
	assert_near(r.series[0].v[2], 21);
	promql_result_free(&r);
	/* sorted by labels */
	assert_int_equal(query("v or w", S(100), S(100), S(1), &r), PROMQL_OK);
	assert_string_equal(r.series[0].labels[0].value, "v");
	assert_string_equal(r.series[4].labels[0].value, "w");
	promql_result_free(&r);
	assert_int_equal(query("g[1m]", 0, S(10), S(5), &r), PROMQL_EBADARG);
	assert_int_equal(query("\"s\"", 0, S(10), S(5), &r), PROMQL_EBADARG);
	/* the sample limit */
	opts.max_samples = 3;
	assert_int_equal(query("ctr", S(60), S(60), 0, &r), PROMQL_ELIMIT);
	assert_non_null(strstr(err, "too many samples"));
	opts.max_samples = 0;
	assert_int_equal(query("foo +", 0, 0, 0, &r), PROMQL_EPARSE);
	assert_int_equal(promql_status_errcode(PROMQL_EPARSE), BM_EINVAL);
	assert_int_equal(promql_status_errcode(PROMQL_ELIMIT), BM_ERANGE);
}

int main(void)
{
	data[2].v[2] = bm_stale_nan();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_types),
		cmocka_unit_test(test_parse_numbers_and_precedence),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_lookback_and_staleness),
		cmocka_unit_test(test_regex_matchers),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_over_time),
		cmocka_unit_test(test_aggregations),
		cmocka_unit_test(test_binary_operators),
		cmocka_unit_test(test_functions),
		cmocka_unit_test(test_range_queries_and_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
