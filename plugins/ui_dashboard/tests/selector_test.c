/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the series selectors (selector.c): the four matcher types,
 * canonical texts, lists, errors with their position, and the series text
 * that must equal the store's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "selector.h"

static bool matches(const char *selector, const char *name, const struct bm_label *l, uint32_t n)
{
	struct selector s;
	size_t used;
	char err[128];
	if (selector_parse(selector, strlen(selector), &s, &used, err, sizeof(err)))
		fail_msg("%s: %s", selector, err);
	bool m = selector_matches(&s, name, l, n);
	selector_free(&s);
	return m;
}

static void test_matchers(void **st)
{
	(void)st;
	const struct bm_label l[] = {{"cpu", "0"}, {"mode", "idle"}};
	assert_true(matches("node_cpu_seconds_total", "node_cpu_seconds_total", l, 2));
	assert_false(matches("node_cpu_seconds_total", "node_load1", l, 2));
	assert_true(matches("node_cpu_seconds_total{mode=\"idle\"}", "node_cpu_seconds_total", l, 2));
	assert_false(matches("node_cpu_seconds_total{mode!=\"idle\"}", "node_cpu_seconds_total", l, 2));
	assert_true(matches("node_cpu_seconds_total{mode=~\"id.*\"}", "node_cpu_seconds_total", l, 2));
	assert_false(matches("node_cpu_seconds_total{mode=~\"id\"}", "node_cpu_seconds_total", l, 2)); /* anchored */
	assert_true(matches("node_cpu_seconds_total{mode!~\"user|system\"}", "node_cpu_seconds_total", l, 2));
	assert_true(matches("{__name__=~\"node_.*\",cpu=\"0\"}", "node_cpu_seconds_total", l, 2));
	assert_true(matches("x{absent=\"\"}", "x", l, 2)); /* an absent label is "" */
	assert_true(matches("x{ cpu = '0' , }", "x", l, 2)); /* spaces, single quotes, trailing comma */
	assert_true(matches("ns:rule:rate5m", "ns:rule:rate5m", NULL, 0));
}

static void test_canonical_text(void **st)
{
	(void)st;
	struct selector s;
	size_t used;
	const char *in = "m{ a = 'x\\\"y' ,b=~\"1|2\" }";
	assert_int_equal(selector_parse(in, strlen(in), &s, &used, NULL, 0), 0);
	assert_string_equal(s.text, "m{a=\"x\\\"y\",b=~\"1|2\"}");
	assert_string_equal(s.metric, "m");
	assert_int_equal(used, strlen(in));
	selector_free(&s);
	assert_int_equal(selector_parse("{job=\"a\"}", 9, &s, &used, NULL, 0), 0);
	assert_string_equal(s.text, "{job=\"a\"}");
	assert_null(s.metric);
	selector_free(&s);
}

static void test_list(void **st)
{
	(void)st;
	const char *list = "a{x=\"1,2\"} , b,c{y!=\"}\"}";
	const char *want[] = {"a{x=\"1,2\"}", "b", "c{y!=\"}\"}"};
	size_t pos = 0;
	for (int i = 0; i < 3; i++) {
		struct selector s;
		size_t used;
		assert_int_equal(selector_parse(list + pos, strlen(list) - pos, &s, &used, NULL, 0), 0);
		assert_string_equal(s.text, want[i]);
		pos += used;
		selector_free(&s);
		if (i < 2) {
			assert_int_equal(list[pos], ',');
			pos++;
		}
	}
	assert_int_equal(pos, strlen(list));
}

static void test_errors(void **st)
{
	(void)st;
	static const struct {
		const char *in;
		const char *err;
	} bad[] = {
		{"", "position 1: expected a metric name or {"},
		{"{}", "position 3: at least one matcher"},
		{"{a=\"\"}", "at least one matcher"},
		{"{a=~\".*\"}", "at least one matcher"},
		{"m{a=\"x}", "unterminated string"},
		{"m{a=x}", "position 5: expected a quoted string"},
		{"m{a~\"x\"}", "expected one of"},
		{"m{a=\"x\" b=\"y\"}", "expected , or }"},
		{"m{a=~\"(\"}", "invalid regular expression"},
		{"m{a=\"\\q\"}", "unknown escape"},
		{"m{1a=\"x\"}", "expected a label name"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct selector s;
		size_t used;
		char err[128] = "";
		int rc = selector_parse(bad[i].in, strlen(bad[i].in), &s, &used, err, sizeof(err));
		if (rc != BM_EINVAL || !strstr(err, bad[i].err))
			fail_msg("%s: rc %d, error \"%s\", want \"%s\"", bad[i].in, rc, err, bad[i].err);
	}
	char huge[SELECTOR_MAX_LEN + 10];
	memset(huge, 'a', sizeof(huge));
	struct selector s;
	size_t used;
	assert_int_equal(selector_parse(huge, sizeof(huge), &s, &used, NULL, 0), BM_EINVAL);
}

static void test_series_text(void **st)
{
	(void)st;
	const struct bm_label l[] = {{"a", "x\"y"}, {"b", "1\\2\n"}};
	char buf[64];
	size_t n = series_text("m", l, 2, buf, sizeof(buf));
	assert_string_equal(buf, "m{a=\"x\\\"y\",b=\"1\\\\2\\n\"}");
	assert_int_equal(n, strlen(buf));
	assert_int_equal(series_text("m", NULL, 0, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "m{}");
	/* a short buffer is cut but NUL-terminated, and the need is returned */
	assert_int_equal(series_text("m", l, 2, buf, 5), n);
	assert_string_equal(buf, "m{a=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matchers),
		cmocka_unit_test(test_canonical_text),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_series_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
