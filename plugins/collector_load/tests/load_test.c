/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/load against the fake host and the fixtures in
 * tests/fixtures/load/: the recorded /proc/loadavg, a garbage file and a
 * missing one; and common/procfs.c's kept-open files (struct pf_file), on
 * the live /proc and on a fixture file.
 */
#include "plugintest.h"
#include "load.c"

/* One instance of the plugin with its defaults, proc_root at a fixture. */
struct fixture {
	struct load_conf conf;
	void *state;
};

static void fixture_open(struct fixture *f, const char *sub)
{
	pt_fixture_begin(f, load_options);
	pt_set_fixture(&f->conf.proc_root, "load", sub);
	f->state = pt_init(&load_ops, &f->conf);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&load_ops, load_options, f->state, &f->conf);
}

static void test_recorded(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc");
	pt_collect_ok(&load_ops, f.state, 1700000000000);
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
	pt_collect_ok(&load_ops, f.state, 1700000001000);
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
	fixture_open(&f, "garbage/proc");
	pt_collect_err_none(&load_ops, f.state, 1, BM_EPROTO,
			    "garbage/proc/loadavg: cannot parse \"not a loadavg\"", NULL);
	fixture_close(&f);
}

static void test_missing(void **unused)
{
	struct fixture f;
	fixture_open(&f, "does-not-exist/proc");
	pt_collect_err_none(&load_ops, f.state, 1, BM_EIO,
			    "does-not-exist/proc/loadavg: No such file or directory", NULL);
	fixture_close(&f);
}

/* A procfs file stays open and reads anew each time; a file of an ordinary
 * filesystem is closed after each read, so a rewrite or removal shows. */
static void test_pf_file(void **unused)
{
	char buf[256];
	struct pf_file f = PF_FILE_INIT;
	assert_true(pf_file_read(&f, AT_FDCWD, "/proc/self/stat", buf, sizeof(buf)) > 0);
	assert_true(f.fd >= 0);
	int held = f.fd;
	char pid[24];
	pf_utoa((uint64_t)getpid(), pid);
	assert_int_equal(strncmp(buf, pid, strlen(pid)), 0);
	assert_true(pf_file_read(&f, AT_FDCWD, "/nonexistent", buf, sizeof(buf)) > 0);
	assert_int_equal(f.fd, held); /* held: the path is not looked up again */
	pf_file_close(&f);
	assert_int_equal(f.fd, -1);
	assert_true(pf_file_read(&f, AT_FDCWD, "/nonexistent", buf, sizeof(buf)) == -ENOENT);

	char dir[64], path[PATH_MAX];
	pt_mkdtemp(dir, sizeof(dir), "bm-pf-file-");
	snprintf(path, sizeof(path), "%s/value", dir);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fputs("42\n", out);
	fclose(out);
	uint64_t v = 0;
	assert_true(pf_file_u64(&f, AT_FDCWD, path, &v));
	assert_true(v == 42);
	assert_int_equal(f.fd, -1); /* not a kernel filesystem: not held */
	assert_int_equal(unlink(path), 0);
	assert_false(pf_file_u64(&f, AT_FDCWD, path, &v));
	pt_rm_tree(dir);

	char num[24];
	assert_int_equal(pf_utoa(0, num), 1);
	assert_string_equal(num, "0");
	assert_int_equal(pf_utoa(18446744073709551615ull, num), 20);
	assert_string_equal(num, "18446744073709551615");
}

/* A growable read of a procfs file larger than a page (seq_file hands out
 * a page per read) is whole, and the same the second time. */
static void test_pf_file_slurp(void **unused)
{
	struct pf_file f = PF_FILE_INIT;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n1 = pf_file_slurp(&f, AT_FDCWD, "/proc/self/smaps", &buf, &cap, 1u << 24);
	assert_true(n1 > 8192); /* smaps: dozens of mappings, several pages */
	assert_int_equal(strlen(buf), (size_t)n1);
	assert_true(f.fd >= 0);
	ssize_t n2 = pf_file_slurp(&f, AT_FDCWD, "/proc/self/smaps", &buf, &cap, 1u << 24);
	assert_true(n2 > 0);
	assert_int_equal(buf[n2 - 1], '\n');
	pf_file_close(&f);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_pf_file),
		cmocka_unit_test(test_pf_file_slurp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
