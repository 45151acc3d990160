/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/load against the fake host and the fixtures in
 * tests/fixtures/load/: the recorded /proc/loadavg, a garbage file and a
 * missing one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "config_schema.h"
#include "fakehost.h"
#include "load.c"

/* One instance of the plugin with its defaults, proc_root at a fixture. */
struct fixture {
	struct load_conf conf;
	void *state;
};

static void fixture_open(struct fixture *f, const char *sub)
{
	struct cfg_errs errs = {0};
	char root[PATH_MAX];
	const char *src = getenv("BM_SOURCE_DIR");
	assert_non_null(src);
	bm__host_api = fakehost_api();
	memset(f, 0, sizeof(*f));
	assert_int_equal(schema_defaults(load_options, &f->conf, "test", &errs), 0);
	cfg_errs_free(&errs);
	snprintf(root, sizeof(root), "%s/tests/fixtures/load%s/proc", src, sub);
	free(f->conf.proc_root);
	f->conf.proc_root = strdup(root);
	struct bm_err err = {0};
	assert_int_equal(load_init(fakehost_ctx(), &f->conf, &f->state, &err), 0);
}

static void fixture_close(struct fixture *f)
{
	load_fini(f->state);
	schema_release(load_options, &f->conf);
	fakehost_reset();
}

static void test_recorded(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	fixture_open(&f, "");
	fakehost_set_now(1700000000000);
	assert_int_equal(load_collect(f.state, 1700000000000, &err), 0);
	/* recorded: 0.05 0.37 0.43 1/85 10747 */
	assert_true(fakehost_value("node_load1", "") == 0.05);
	assert_true(fakehost_value("node_load5", "") == 0.37);
	assert_true(fakehost_value("node_load15", "") == 0.43);
	assert_true(fakehost_value("bearmon_load_tasks_runnable", "") == 1);
	assert_true(fakehost_value("bearmon_load_tasks_total", "") == 85);
	assert_int_equal(fakehost_n_samples(), 5);
	assert_int_equal(fakehost_meta("node_load1")->type, BM_METRIC_GAUGE);
	assert_int_equal(fakehost_meta("bearmon_load_tasks_total")->type, BM_METRIC_GAUGE);
	assert_int_equal(fakehost_sample(0)->ts_ms, 1700000000000);
	/* a second round publishes the same again (batch reused) */
	assert_int_equal(load_collect(f.state, 1700000001000, &err), 0);
	assert_int_equal(fakehost_n_samples(), 10);
	assert_int_equal(fakehost_sample(9)->ts_ms, 1700000001000);
	assert_int_equal(fakehost_unsorted(), 0);
	fixture_close(&f);
}

static void test_parse(void **unused)
{
	struct load_values v;
	assert_true(load_parse("12.50 3.00 0.00 17/1234 99\n", &v));
	assert_true(v.avg[0] == 12.5 && v.avg[1] == 3 && v.avg[2] == 0);
	assert_true(v.runnable == 17 && v.total == 1234);
	assert_false(load_parse("", &v));
	assert_false(load_parse("1.0 2.0\n", &v));
	assert_false(load_parse("1.0 2.0 3.0 4 5\n", &v));
	assert_false(load_parse("1.0 2.0 3.0 4/x 5\n", &v));
	assert_false(load_parse("1.0 2.0 3.0 /4 5\n", &v));
}

static void test_garbage(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	fixture_open(&f, "/garbage");
	assert_int_equal(load_collect(f.state, 1, &err), BM_EPROTO);
	assert_non_null(strstr(err.msg, "garbage/proc/loadavg: cannot parse \"not a loadavg\""));
	assert_int_equal(fakehost_n_samples(), 0);
	fixture_close(&f);
}

static void test_missing(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	fixture_open(&f, "/does-not-exist");
	assert_int_equal(load_collect(f.state, 1, &err), BM_EIO);
	assert_non_null(strstr(err.msg, "does-not-exist/proc/loadavg: No such file or directory"));
	assert_int_equal(fakehost_n_samples(), 0);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
