/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/scrape's file-based discovery (file_sd.c): the
 * JSON and YAML forms of Prometheus' file_sd examples, the broken files a
 * user writes, and the watcher: glob patterns, change detection, a bad
 * rewrite keeping the last good groups, a removed file leaving.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_sd.h"

static int parse(const char *name, const char *text, struct sd_groups *g, char *why)
{
	return sd_parse(name, text, strlen(text), g, why, 256);
}

static const char *label(const struct sd_group *g, const char *name)
{
	for (size_t i = 0; i < g->n_labels; i++)
		if (strcmp(g->labels[i].name, name) == 0)
			return g->labels[i].value;
	return NULL;
}

/* Prometheus' documentation examples, in both formats. */
static const char *const json_doc =
	"[\n"
	"  { \"targets\": [\"10.0.0.1:9100\", \"10.0.0.2:9100\"],\n"
	"    \"labels\": { \"env\": \"prod\", \"job\": \"node\" } },\n"
	"  { \"targets\": [\"10.0.1.1:8000\"], \"labels\": { \"env\": \"dev\" } },\n"
	"  { \"targets\": [] }\n"
	"]\n";
static const char *const yaml_doc =
	"- targets:\n"
	"    - '10.0.0.1:9100'\n"
	"    - 10.0.0.2:9100\n"
	"  labels:\n"
	"    env: prod\n"
	"    job: \"node\"\n"
	"- targets: ['10.0.1.1:8000']\n"
	"  labels: {env: dev}\n"
	"- targets:\n";

static void check_doc(const struct sd_groups *g)
{
	assert_int_equal(g->n, 3);
	assert_int_equal(g->v[0].n_targets, 2);
	assert_string_equal(g->v[0].targets[0], "10.0.0.1:9100");
	assert_string_equal(g->v[0].targets[1], "10.0.0.2:9100");
	assert_string_equal(label(&g->v[0], "env"), "prod");
	assert_string_equal(label(&g->v[0], "job"), "node");
	assert_string_equal(g->v[1].targets[0], "10.0.1.1:8000");
	assert_string_equal(label(&g->v[1], "env"), "dev");
	assert_int_equal(g->v[2].n_targets, 0);
	assert_int_equal(g->v[2].n_labels, 0);
}

static void test_json_and_yaml(void **st)
{
	(void)st;
	struct sd_groups g;
	char why[256];
	assert_int_equal(parse("t.json", json_doc, &g, why), 0);
	check_doc(&g);
	sd_groups_free(&g);
	assert_int_equal(parse("t.yml", yaml_doc, &g, why), 0);
	check_doc(&g);
	sd_groups_free(&g);
	assert_int_equal(parse("t.yaml", "", &g, why), 0); /* empty file: no groups */
	assert_int_equal(g.n, 0);
	assert_int_equal(parse("t.json", "[]", &g, why), 0);
	assert_int_equal(g.n, 0);
}

static void expect_bad(const char *name, const char *text, const char *part)
{
	struct sd_groups g = {0};
	char why[256] = "";
	assert_int_equal(parse(name, text, &g, why), BM_EPROTO);
	if (!strstr(why, part))
		fail_msg("%s: \"%s\" lacks \"%s\"", name, why, part);
	assert_int_equal(g.n, 0);
	assert_null(g.v);
}

static void test_bad_files(void **st)
{
	(void)st;
	expect_bad("a.json", "[{\"targets\": [\"x\"]", "line");
	expect_bad("a.json", "{\"targets\": []}", "expected a list of target groups");
	expect_bad("a.json", "[{\"targets\": [1]}]", "target 0 is not a string");
	expect_bad("a.json", "[{\"targets\": \"x:1\"}]", "targets must be a list");
	expect_bad("a.json", "[{\"targets\": [\"x:1\"], \"labels\": {\"a-b\": \"v\"}}]",
		   "\"a-b\" is not a valid label name");
	expect_bad("a.json", "[{\"targets\": [\"x:1\"], \"labels\": {\"a\": 1}}]", "not a string");
	expect_bad("a.json", "[{\"target\": [\"x:1\"]}]", "unknown field \"target\"");
	expect_bad("a.json", "[{\"targets\": [\"\"]}]", "empty target");
	expect_bad("a.json", "[{\"targets\": [], \"labels\": {\"a\": \"1\", \"a\": \"2\"}}]", "line");
	expect_bad("a.yml", "- targets: [x:1\n", "line");
	expect_bad("a.yml", "targets: [x]\n", "expected a list of target groups");
	expect_bad("a.yml", "- targets: [[a]]\n", "a target is not a string");
	expect_bad("a.yml", "- targets: [a]\n  labels: [x]\n", "labels a map");
	expect_bad("a.yml", "- labels: {a: {b: c}}\n", "labels must map names to strings");
	expect_bad("a.yml", "- labels: {1a: b}\n", "\"1a\" is not a valid label name");
	expect_bad("a.yml", "- target: [a]\n", "unknown field \"target\"");
	expect_bad("a.yml", "- 3\n", "expected a map");
}

/* ---- the watcher ----------------------------------------------------- */

struct errs {
	int n;
	char last[512];
};

static void on_error(void *user, const char *path, const char *why)
{
	struct errs *e = user;
	e->n++;
	snprintf(e->last, sizeof(e->last), "%s: %s", path, why);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512], tmp[520];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0); /* as tools replace them: a new inode */
}

static size_t n_targets(const struct sd_watch *w)
{
	size_t n = 0;
	for (size_t f = 0; f < w->n; f++)
		for (size_t g = 0; g < w->files[f].groups.n; g++)
			n += w->files[f].groups.v[g].n_targets;
	return n;
}

static void test_watch(void **st)
{
	(void)st;
	char dir[] = "/tmp/scrape-sd-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char pat_json[600], pat_yaml[600], pat_missing[600];
	snprintf(pat_json, sizeof(pat_json), "%s/*.json", dir);
	snprintf(pat_yaml, sizeof(pat_yaml), "%s/one.yml", dir);
	snprintf(pat_missing, sizeof(pat_missing), "%s/none/*.json", dir);
	char *pv[] = {pat_json, pat_yaml, pat_missing, pat_json};
	struct bm_strlist pats = {4, pv};
	struct sd_watch w = {0};
	struct errs e = {0};

	assert_false(sd_watch_refresh(&w, &pats, on_error, &e)); /* nothing there yet */
	write_file(dir, "a.json", "[{\"targets\": [\"a:1\", \"a:2\"]}]");
	write_file(dir, "one.yml", "- targets: [y:1]\n");
	assert_true(sd_watch_refresh(&w, &pats, on_error, &e));
	assert_int_equal(w.n, 2); /* a.json matched twice counts once */
	assert_int_equal(n_targets(&w), 3);
	assert_int_equal(w.reads, 2);
	assert_false(sd_watch_refresh(&w, &pats, on_error, &e)); /* unchanged: not re-read */
	assert_int_equal(w.reads, 2);

	/* a broken rewrite keeps the last good groups, reported once */
	write_file(dir, "a.json", "[{\"targets\": [\"a:1\",");
	assert_false(sd_watch_refresh(&w, &pats, on_error, &e));
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.last, "a.json: line"));
	assert_int_equal(n_targets(&w), 3);
	assert_false(sd_watch_refresh(&w, &pats, on_error, &e));
	assert_int_equal(e.n, 1);
	assert_int_equal(w.errors, 1);

	/* fixed, then a second file, then one removed */
	write_file(dir, "a.json", "[{\"targets\": [\"a:1\"]}]");
	assert_true(sd_watch_refresh(&w, &pats, on_error, &e));
	assert_int_equal(n_targets(&w), 2);
	write_file(dir, "b.json", "[{\"targets\": [\"b:1\"], \"labels\": {\"z\": \"1\"}}]");
	assert_true(sd_watch_refresh(&w, &pats, on_error, &e));
	assert_int_equal(n_targets(&w), 3);
	char path[600];
	snprintf(path, sizeof(path), "%s/one.yml", dir);
	assert_int_equal(unlink(path), 0);
	assert_true(sd_watch_refresh(&w, &pats, on_error, &e));
	assert_int_equal(n_targets(&w), 2);
	assert_int_equal(w.n, 2);

	sd_watch_free(&w);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_and_yaml),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_watch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
