/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Config loading and option validation: every error names file, line,
 * instance and option; defaults, bounds, types, lists, maps, groups,
 * --set overrides, conf.d includes, duplicate and shadowing names.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_schema.h"

static char tmpdir[] = "/tmp/bm-config-test-XXXXXX";

static char *write_file(const char *name, const char *text)
{
	char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load text as the main config; returns the config and fills errs. */
static struct cfg *load(const char *text, char *const *sets, size_t n, struct cfg_errs *errs)
{
	char *path = write_file("main.conf", text);
	struct cfg *c = cfg_load(path, sets, n, errs);
	free(path);
	return c;
}

static bool has_line(const struct cfg_errs *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->lines[i], needle))
			return true;
	return false;
}

static void dump(const struct cfg_errs *e)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(stderr, "  | %s\n", e->lines[i]);
}

#define assert_line(e, needle)                         \
	do {                                           \
		if (!has_line((e), (needle)))          \
			dump(e);                       \
		assert_true(has_line((e), (needle))); \
	} while (0)

/* A plugin-like option table covering every type. */
struct item {
	char *url;
	int64_t weight;
};
struct pconf {
	bool flag;
	int64_t count;
	double ratio;
	char *name;
	int64_t every_ms;
	uint64_t size;
	int level;
	struct bm_strlist tags;
	struct bm_map labels;
	struct {
		int64_t depth;
		char *mode;
	} nested;
	struct bm_group_list items;
};
static const char *const levels[] = {"low", "mid", "high", NULL};
static const struct bm_option item_opts[] = {
	{.name = "url", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED, .offset = offsetof(struct item, url)},
	BM_OPTION_BOUNDED("weight", BM_OPT_INT, "1", struct item, weight, 1, 10, "weight"),
	BM_OPTION_END,
};
static const struct bm_option nested_opts[] = {
	{.name = "depth", .type = BM_OPT_INT, .def = "3", .offset = 0},
	{.name = "mode", .type = BM_OPT_STRING, .def = "fast", .offset = sizeof(int64_t)},
	BM_OPTION_END,
};
static const struct bm_option popts[] = {
	BM_OPTION("flag", BM_OPT_BOOL, "false", struct pconf, flag, "a flag"),
	BM_OPTION_BOUNDED("count", BM_OPT_INT, "5", struct pconf, count, 0, 100, "a count"),
	BM_OPTION_BOUNDED("ratio", BM_OPT_DOUBLE, "0.5", struct pconf, ratio, 0, 1, "a ratio"),
	BM_OPTION("name", BM_OPT_STRING, "dflt", struct pconf, name, "a name"),
	BM_OPTION_BOUNDED("every", BM_OPT_DURATION, "10s", struct pconf, every_ms, 100, 3600000, "an interval"),
	BM_OPTION("size", BM_OPT_SIZE, "64KiB", struct pconf, size, "a size"),
	{.name = "level", .type = BM_OPT_ENUM, .def = "mid", .enum_values = levels,
	 .offset = offsetof(struct pconf, level), .help = "a level"},
	BM_OPTION("tags", BM_OPT_STRING_LIST, NULL, struct pconf, tags, "tags"),
	BM_OPTION("labels", BM_OPT_MAP, NULL, struct pconf, labels, "labels"),
	{.name = "nested", .type = BM_OPT_GROUP, .sub = nested_opts,
	 .offset = offsetof(struct pconf, nested), .help = "a group"},
	{.name = "items", .type = BM_OPT_GROUP_LIST, .sub = item_opts, .sub_size = sizeof(struct item),
	 .offset = offsetof(struct pconf, items), .help = "a list of groups"},
	BM_OPTION_END,
};

/* Fill instance "p" of text against popts. */
static size_t fill_p(const char *text, char *const *sets, size_t n, struct pconf *out,
		     struct cfg_errs *errs)
{
	struct cfg *c = load(text, sets, n, errs);
	assert_non_null(c);
	const struct cfg_instance *ci = cfg_find_instance(c, "p");
	size_t bad = cfg_errs_fatal(errs);
	if (ci)
		bad += cfg_fill_instance(ci, popts, out, errs);
	cfg_free(c);
	return bad;
}

static void test_durations_and_sizes(void **state)
{
	(void)state;
	int64_t ms;
	uint64_t b;
	assert_true(parse_duration_ms("1500ms", &ms));
	assert_int_equal(ms, 1500);
	assert_true(parse_duration_ms("1h30m", &ms));
	assert_int_equal(ms, 5400000);
	assert_true(parse_duration_ms("0.5s", &ms));
	assert_int_equal(ms, 500);
	assert_true(parse_duration_ms("2d", &ms));
	assert_int_equal(ms, 172800000);
	assert_false(parse_duration_ms("10", &ms));
	assert_false(parse_duration_ms("10 parsecs", &ms));
	assert_false(parse_duration_ms("", &ms));
	assert_false(parse_duration_ms("-1s", &ms));
	assert_true(parse_size("64MiB", &b));
	assert_int_equal(b, 64ull << 20);
	assert_true(parse_size("1GB", &b));
	assert_int_equal(b, 1000000000ull);
	assert_true(parse_size("4096", &b));
	assert_int_equal(b, 4096);
	assert_false(parse_size("12 bananas", &b));
	assert_int_equal(edit_distance("intervall", "interval"), 1);
}

static void test_defaults_and_values(void **state)
{
	(void)state;
	struct cfg_errs errs = {0};
	struct pconf pc = {0};
	assert_int_equal(fill_p("p = { plugin = \"collector/x\"; };\n", NULL, 0, &pc, &errs), 0);
	assert_false(pc.flag);
	assert_int_equal(pc.count, 5);
	assert_true(pc.ratio == 0.5);
	assert_string_equal(pc.name, "dflt");
	assert_int_equal(pc.every_ms, 10000);
	assert_int_equal(pc.size, 65536);
	assert_int_equal(pc.level, 1);
	assert_int_equal(pc.nested.depth, 3);
	assert_string_equal(pc.nested.mode, "fast");
	assert_int_equal(pc.items.n, 0);
	schema_release(popts, &pc);
	memset(&pc, 0, sizeof(pc));

	const char *text = "p = { plugin = \"collector/x\"; flag = true; count = 7; ratio = 1;\n"
			   "  name = \"n\"; every = \"2m\"; size = 100; level = \"high\";\n"
			   "  tags = [\"a\", \"b\"]; labels = { env = \"prod\"; n = 3; };\n"
			   "  nested = { depth = 9; };\n"
			   "  items = ( { url = \"u1\"; }, { url = \"u2\"; weight = 4; } ); };\n";
	assert_int_equal(fill_p(text, NULL, 0, &pc, &errs), 0);
	assert_true(pc.flag);
	assert_int_equal(pc.count, 7);
	assert_true(pc.ratio == 1.0);
	assert_int_equal(pc.every_ms, 120000);
	assert_int_equal(pc.size, 100);
	assert_int_equal(pc.level, 2);
	assert_int_equal(pc.tags.n, 2);
	assert_string_equal(pc.tags.v[1], "b");
	assert_int_equal(pc.labels.n, 2);
	assert_string_equal(bm_map_get(&pc.labels, "n"), "3");
	assert_int_equal(pc.nested.depth, 9);
	assert_string_equal(pc.nested.mode, "fast");
	assert_int_equal(pc.items.n, 2);
	assert_string_equal(BM_GROUP_ITEM(pc.items, struct item, 1)->url, "u2");
	assert_int_equal(BM_GROUP_ITEM(pc.items, struct item, 0)->weight, 1);
	assert_int_equal(BM_GROUP_ITEM(pc.items, struct item, 1)->weight, 4);
	schema_release(popts, &pc);
	cfg_errs_free(&errs);
}

/* Each bad value: one line with file:line, instance, option and why. */
static void expect_error(const char *body, const char *needle)
{
	struct cfg_errs errs = {0};
	struct pconf pc = {0};
	char *text = NULL;
	assert_true(asprintf(&text, "# comment\np = { plugin = \"collector/x\";\n%s\n};\n", body) > 0);
	assert_true(fill_p(text, NULL, 0, &pc, &errs) > 0);
	assert_line(&errs, needle);
	schema_release(popts, &pc);
	cfg_errs_free(&errs);
	free(text);
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_error("cuont = 3;", "main.conf:3: instance \"p\" (collector/x): option \"cuont\": unknown option; did you mean \"count\"? allowed: flag, count");
	expect_error("flag = \"maybe\";", "main.conf:3: instance \"p\" (collector/x): option \"flag\": expected a boolean");
	expect_error("count = 101;", "option \"count\": out of bounds: must be between 0 and 100");
	expect_error("count = 1.5;", "option \"count\": expected an integer, got a number");
	expect_error("ratio = \"x\";", "option \"ratio\": expected a number, got a string");
	expect_error("every = 10;", "option \"every\": a duration needs a unit: write \"10s\"");
	expect_error("every = \"10 fortnights\";", "option \"every\": expected a duration");
	expect_error("every = \"1ms\";", "option \"every\": out of bounds");
	expect_error("size = \"lots\";", "option \"size\": expected a size");
	expect_error("level = \"extreme\";", "option \"level\": \"extreme\" is not one of: low, mid, high");
	expect_error("tags = [1, 2];", "option \"tags\": element 0: expected a string, got an integer");
	expect_error("tags = 5;", "option \"tags\": expected a list of strings");
	expect_error("labels = [\"a\"];", "option \"labels\": expected a map");
	expect_error("nested = { depht = 1; };", "option \"nested.depht\": unknown option; did you mean \"depth\"?");
	expect_error("items = ( { weight = 2; } );", "option \"items.0.url\": required but not set");
	expect_error("items = ( { url = \"u\"; weight = 11; } );", "option \"items.0.weight\": out of bounds");
}

static void test_core_and_instances(void **state)
{
	(void)state;
	struct cfg_errs errs = {0};
	struct cfg *c = load("data_dir = \"/tmp/x\";\nhttp = { listen = \"127.0.0.1:1\"; };\n"
			     "a = { plugin = \"collector/x\"; interval = \"2s\"; };\n"
			     "b = { plugin = \"notifier/exec\"; enabled = false; };\n",
			     NULL, 0, &errs);
	assert_int_equal(cfg_errs_fatal(&errs), 0);
	assert_string_equal(c->core.data_dir, "/tmp/x");
	assert_string_equal(c->core.http.listen, "127.0.0.1:1");
	assert_int_equal(c->core.interval_ms, 10000);
	assert_int_equal(c->core.logging.level, 3); /* "info" */
	assert_int_equal(c->n_inst, 2);
	assert_int_equal(c->inst[0].interval_ms, 2000);
	assert_string_equal(c->inst[1].kind, "notifier");
	assert_string_equal(c->inst[1].plugin, "exec");
	assert_false(c->inst[1].enabled);
	assert_int_equal(c->inst[1].interval_ms, 10000);
	cfg_free(c);

	c = load("intervall = \"1s\";\n"
		 "http = { listne = \"x\"; };\n"
		 "a = { plugin = \"collector/x\"; };\n",
		 NULL, 0, &errs);
	assert_non_null(c);
	assert_line(&errs, "main.conf:1: unknown core option \"intervall\"; did you mean \"interval\"?");
	assert_line(&errs, "main.conf:2: core: option \"http.listne\": unknown option; did you mean \"listen\"?");
	cfg_free(c);
	cfg_errs_free(&errs);

	/* libconfig itself rejects a duplicate name in one file */
	c = load("a = { plugin = \"collector/x\"; };\nstore = { plugin = \"collector/x\"; };\n"
		 "z = { plugin = \"bogus\"; };\nq = { foo = 1; };\n",
		 NULL, 0, &errs);
	assert_line(&errs, "main.conf:2: instance \"store\": name shadows the core section \"store\"");
	assert_line(&errs, "main.conf:3: instance \"z\": option \"plugin\": \"bogus\" is not KIND/NAME");
	assert_line(&errs, "main.conf:4: \"q\": not a core section and has no plugin key");
	cfg_free(c);
	cfg_errs_free(&errs);

	c = load("a = { plugin = \"collector/x\"; enabled = \"sometimes\"; };\n", NULL, 0, &errs);
	assert_line(&errs, "main.conf:1: instance \"a\": option \"enabled\": expected a boolean");
	cfg_free(c);
	cfg_errs_free(&errs);

	c = load("a = { plugin = \"collector/x\"\n", NULL, 0, &errs);
	assert_null(c);
	assert_line(&errs, "main.conf:2: syntax error");
	cfg_errs_free(&errs);

	c = cfg_load("/nonexistent/bearmon.conf", NULL, 0, &errs);
	assert_null(c);
	assert_line(&errs, "/nonexistent/bearmon.conf: cannot read config file: No such file or directory");
	cfg_errs_free(&errs);
}

static void test_includes(void **state)
{
	(void)state;
	struct cfg_errs errs = {0};
	char *dir = NULL;
	assert_true(asprintf(&dir, "%s/conf.d", tmpdir) > 0);
	mkdir(dir, 0755);
	free(write_file("conf.d/10-a.conf", "b = { plugin = \"collector/x\"; };\n"));
	free(write_file("conf.d/20-b.conf", "a = { plugin = \"collector/y\"; };\nhttp = { listen = \"x:1\"; };\n"));
	struct cfg *c = load("a = { plugin = \"collector/x\"; };\n", NULL, 0, &errs);
	assert_non_null(c);
	assert_line(&errs, "conf.d/20-b.conf:1: instance \"a\": duplicate instance name (first defined at ");
	assert_line(&errs, "conf.d/20-b.conf:2: \"http\": only instance blocks");
	assert_non_null(cfg_find_instance(c, "b"));
	cfg_free(c);
	cfg_errs_free(&errs);
	free(write_file("conf.d/20-b.conf", "# empty\n"));
	char *empty[] = {"include_dir=/nonexistent"};
	c = load("a = { plugin = \"collector/x\"; };\n", empty, 1, &errs);
	assert_int_equal(cfg_errs_fatal(&errs), 0);
	assert_null(cfg_find_instance(c, "b"));
	cfg_free(c);
	free(dir);
}

static void test_overrides(void **state)
{
	(void)state;
	struct cfg_errs errs = {0};
	char *sets[] = {"http.listen=127.0.0.1:9999", "data_dir=/tmp/bm", "p.count=9", "p.flag=yes",
			"p.every=250ms", "p.tags=x,y,z", "p.labels=a=1,b=2", "p.items.1.weight=7",
			"p.nested.depth=4"};
	struct cfg *c = load("http = { listen = \"127.0.0.1:1\"; };\n"
			     "p = { plugin = \"collector/x\"; items = ( { url = \"a\"; }, { url = \"b\"; } ); };\n",
			     sets, 9, &errs);
	assert_int_equal(cfg_errs_fatal(&errs), 0);
	assert_string_equal(c->core.http.listen, "127.0.0.1:9999");
	assert_string_equal(c->core.data_dir, "/tmp/bm");
	struct pconf pc = {0};
	assert_int_equal(cfg_fill_instance(cfg_find_instance(c, "p"), popts, &pc, &errs), 0);
	assert_int_equal(pc.count, 9);
	assert_true(pc.flag);
	assert_int_equal(pc.every_ms, 250);
	assert_int_equal(pc.tags.n, 3);
	assert_string_equal(bm_map_get(&pc.labels, "b"), "2");
	assert_int_equal(BM_GROUP_ITEM(pc.items, struct item, 1)->weight, 7);
	assert_int_equal(pc.nested.depth, 4);
	schema_release(popts, &pc);
	cfg_free(c);

	/* a list in libconfig syntax is a list, not a string */
	char *lists[] = {"p.tags=[\"q\", \"r,s\"]"};
	c = load("p = { plugin = \"collector/x\"; };\n", lists, 1, &errs);
	assert_int_equal(cfg_errs_fatal(&errs), 0);
	memset(&pc, 0, sizeof(pc));
	assert_int_equal(cfg_fill_instance(cfg_find_instance(c, "p"), popts, &pc, &errs), 0);
	assert_int_equal(pc.tags.n, 2);
	assert_string_equal(pc.tags.v[1], "r,s");
	schema_release(popts, &pc);
	cfg_free(c);

	char *bad[] = {"p.count=lots", "p.items.5.url=x", "noequals"};
	c = load("p = { plugin = \"collector/x\"; items = ( { url = \"a\"; } ); };\n", bad, 3, &errs);
	assert_line(&errs, "--set p.items.5.url=x: list index 5 out of range (1 items)");
	assert_line(&errs, "--set noequals: expected KEY=VALUE");
	memset(&pc, 0, sizeof(pc));
	cfg_fill_instance(cfg_find_instance(c, "p"), popts, &pc, &errs);
	assert_line(&errs, "--set p.count: instance \"p\" (collector/x): option \"count\": expected an integer, got \"lots\"");
	schema_release(popts, &pc);
	cfg_free(c);
	cfg_errs_free(&errs);
}

static void test_table_checks(void **state)
{
	(void)state;
	struct cfg_errs errs = {0};
	static const struct bm_option bad[] = {
		{.name = "e", .type = BM_OPT_ENUM, .offset = 0},
		{.name = "g", .type = BM_OPT_GROUP_LIST, .offset = 8},
		{.name = "far", .type = BM_OPT_INT, .offset = 4096},
		{.name = "e", .type = BM_OPT_BOOL, .offset = 0},
		BM_OPTION_END,
	};
	assert_int_equal(schema_check_table(bad, 64, "t", &errs), 4);
	assert_line(&errs, "\"e\": enum without enum_values");
	assert_line(&errs, "\"g\": group without a sub table");
	assert_line(&errs, "\"far\": field lies outside config_size");
	assert_line(&errs, "\"e\": declared twice");
	cfg_errs_free(&errs);
	assert_int_equal(schema_check_table(popts, sizeof(struct pconf), "t", &errs), 0);
	cfg_errs_free(&errs);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = NULL;
	if (asprintf(&cmd, "rm -rf '%s'", tmpdir) > 0 && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations_and_sizes), cmocka_unit_test(test_defaults_and_values),
		cmocka_unit_test(test_bad_values),          cmocka_unit_test(test_core_and_instances),
		cmocka_unit_test(test_includes),            cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_table_checks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
