/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugin loader checks against the ABI fixtures of tests/plugins: each
 * refusal is one message naming the file and, for ABI problems, both
 * versions; an older (shorter) descriptor loads; duplicates and untrusted
 * files are refused.
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

#include "plugin_loader.h"
#include "scheduler.h"

static const char *dir(void)
{
	const char *d = getenv("BM_TEST_PLUGINS");
	return d ? d : "build/test-plugins";
}

static char *fixture(const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/bm_collector_%s.so", dir(), name) > 0);
	return p;
}

/* Open fixture name; expect rc and a message containing needle. */
static void expect(const char *name, int rc, const char *needle)
{
	char *path = fixture(name);
	struct plugin *p = NULL;
	struct bm_err err = {0};
	int got = loader_open(path, NULL, &p, &err);
	if (got != rc || (needle && !strstr(err.msg, needle)))
		fprintf(stderr, "%s: rc %d, message: %s\n", name, got, err.msg);
	assert_int_equal(got, rc);
	if (needle) {
		assert_non_null(strstr(err.msg, needle));
		assert_non_null(strstr(err.msg, path)); /* names the file */
	}
	free(path);
}

static void test_refusals(void **state)
{
	(void)state;
	expect("badmagic", BM_EABI, "refused: not a bearmon plugin (magic 0xdeadbeef, expected 0x4c504d42)");
	char want[160];
	snprintf(want, sizeof(want), "refused: plugin built for ABI %d.%d, bearmond has ABI %d.%d (major differs",
		 BM_ABI_MAJOR + 1, BM_ABI_MINOR, BM_ABI_MAJOR, BM_ABI_MINOR);
	expect("badmajor", BM_EABI, want);
	snprintf(want, sizeof(want), "refused: plugin built for ABI %d.%d, bearmond has ABI %d.%d (plugin is newer",
		 BM_ABI_MAJOR, BM_ABI_MINOR + 1, BM_ABI_MAJOR, BM_ABI_MINOR);
	expect("newminor", BM_EABI, want);
	expect("shortdesc", BM_EABI, "refused: descriptor of 8 bytes is shorter than");
	expect("badsig", BM_EABI, "refused: not binary compatible");
	expect("notaplugin", BM_EABI, "refused: not a bearmon plugin (no bm_plugin_desc symbol)");
	expect("misnamed", BM_EINVAL, "refused: descriptor says collector/othername, so the file must be named bm_collector_othername.so");
	expect("nosuchfile", BM_ENOENT, "No such file or directory");
}

static void test_loads_and_duplicates(void **state)
{
	(void)state;
	/* a descriptor as short as ABI 1.0's minimum loads; later fields read 0 */
	expect("olddesc", 0, NULL);
	/* built against the previous minor: loads */
	expect("oldminor", 0, NULL);
	expect("uptime", 0, NULL);
	assert_int_equal(loader_count(), 3);
	struct bm_strlist dirs = {0};
	struct plugin *p;
	struct bm_err err = {0};
	char *d = strdup(dir());
	dirs.v = &d;
	dirs.n = 1;
	assert_int_equal(loader_get("collector", "uptime", &dirs, &p, &err), 0);
	assert_string_equal(p->name, "uptime");
	assert_int_equal(loader_count(), 3); /* loaded once */
	assert_int_equal(loader_get("collector", "nope", &dirs, &p, &err), BM_ENOENT);
	assert_non_null(strstr(err.msg, "plugin collector/nope not found: no bm_collector_nope.so in "));

	/* the same plugin from a second directory: already loaded */
	char tmp[] = "/tmp/bm-loader-XXXXXX";
	assert_non_null(mkdtemp(tmp));
	char *copy = NULL, *cmd = NULL;
	assert_true(asprintf(&copy, "%s/bm_collector_uptime.so", tmp) > 0);
	assert_true(asprintf(&cmd, "cp '%s/bm_collector_uptime.so' '%s'", dir(), copy) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(loader_open(copy, tmp, &p, &err), BM_EEXIST);
	assert_non_null(strstr(err.msg, "refused: plugin collector/uptime is already loaded from"));

	/* world-writable file or directory: refused before dlopen */
	chmod(copy, 0666);
	assert_int_equal(loader_open(copy, tmp, &p, &err), BM_EPERM);
	assert_non_null(strstr(err.msg, "refused: writable by every user"));
	chmod(copy, 0644);
	chmod(tmp, 0777);
	assert_int_equal(loader_open(copy, tmp, &p, &err), BM_EPERM);
	assert_non_null(strstr(err.msg, "refused: writable by every user"));
	assert_non_null(strstr(err.msg, tmp));
	chmod(tmp, 0700);
	unlink(copy);
	rmdir(tmp);
	free(copy);
	free(d);
	loader_exit();
}

static void test_next_tick(void **state)
{
	(void)state;
	assert_int_equal(scheduler_next_tick(0, 1000), 1000);
	assert_int_equal(scheduler_next_tick(999, 1000), 1000);
	assert_int_equal(scheduler_next_tick(1000, 1000), 2000);
	assert_int_equal(scheduler_next_tick(1795888346628, 10000), 1795888350000);
	assert_int_equal(scheduler_next_tick(59999, 60000), 60000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_loads_and_duplicates),
		cmocka_unit_test(test_next_tick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
