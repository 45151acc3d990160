/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/pressure against the fake host and
 * tests/fixtures/pressure/: cpu, memory and io recorded on a 6.18 kernel,
 * an older-kernel layout (cpu with "some" only, no io, an irq file), a
 * garbage io file and a kernel without PSI.
 */
#define PT_VALUE_TOLERANCE 1e-12
#include "plugintest.h"
#include "pressure.c"

struct fixture {
	struct psi_conf conf;
	void *state;
};

static void fixture_open(struct fixture *f, const char *sub)
{
	pt_fixture_begin(f, psi_options);
	assert_string_equal(f->conf.proc_root, "/proc");
	pt_set_fixture(&f->conf.proc_root, "pressure", sub);
	f->state = pt_init(&psi_ops, &f->conf);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&psi_ops, psi_options, f->state, &f->conf);
}

static void test_recorded(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc");
	pt_collect_ok(&psi_ops, f.state, 1700000000000);
	assert_value("bearmon_pressure_available", "", 1);
	/* cpu: some avg10=0.00 avg60=0.21 avg300=0.91 total=49568783, full all 0 */
	assert_value("node_pressure_cpu_waiting_seconds_total", "", 49.568783);
	assert_value("node_pressure_cpu_stalled_seconds_total", "", 0);
	assert_value("bearmon_pressure_avg_ratio", "kind=some,resource=cpu,window=10s", 0);
	assert_value("bearmon_pressure_avg_ratio", "kind=some,resource=cpu,window=60s", 0.0021);
	assert_value("bearmon_pressure_avg_ratio", "kind=some,resource=cpu,window=300s", 0.0091);
	assert_value("bearmon_pressure_avg_ratio", "kind=full,resource=cpu,window=300s", 0);
	/* io: some avg60=0.01 avg300=0.02 total=5848157, full total=5431758 */
	assert_value("node_pressure_io_waiting_seconds_total", "", 5.848157);
	assert_value("node_pressure_io_stalled_seconds_total", "", 5.431758);
	assert_value("bearmon_pressure_avg_ratio", "kind=some,resource=io,window=60s", 0.0001);
	assert_value("bearmon_pressure_avg_ratio", "kind=some,resource=io,window=300s", 0.0002);
	/* memory: all 0 */
	assert_value("node_pressure_memory_waiting_seconds_total", "", 0);
	assert_value("node_pressure_memory_stalled_seconds_total", "", 0);
	assert_value("bearmon_pressure_avg_ratio", "kind=full,resource=memory,window=10s", 0);
	/* no irq file recorded */
	assert_int_equal(fakehost_count("node_pressure_irq_stalled_seconds_total"), 0);
	assert_int_equal(fakehost_count("bearmon_pressure_avg_ratio"), 3 * 2 * 3);
	assert_int_equal(fakehost_n_samples(), 3 * 2 * 4 + 1);

	const struct fh_meta *m = fakehost_meta("node_pressure_io_stalled_seconds_total");
	assert_int_equal(m->type, BM_METRIC_COUNTER);
	assert_string_equal(m->unit, "seconds");
	m = fakehost_meta("bearmon_pressure_avg_ratio");
	assert_int_equal(m->type, BM_METRIC_GAUGE);
	assert_string_equal(m->unit, "ratio");
	assert_int_equal(fakehost_meta("bearmon_pressure_available")->type, BM_METRIC_GAUGE);
	assert_int_equal(fakehost_unsorted(), 0);
	assert_int_equal(fakehost_sample(0)->ts_ms, 1700000000000);
	fixture_close(&f);
}

/* Pre-5.13 cpu file ("some" only), io missing, irq present (full only). */
static void test_some_only(void **unused)
{
	struct fixture f;
	fixture_open(&f, "someonly/proc");
	pt_collect_ok(&psi_ops, f.state, 1);
	assert_value("bearmon_pressure_available", "", 1);
	assert_value("node_pressure_cpu_waiting_seconds_total", "", 1.234567);
	assert_int_equal(fakehost_count("node_pressure_cpu_stalled_seconds_total"), 0);
	assert_value("bearmon_pressure_avg_ratio", "kind=some,resource=cpu,window=10s", 0.015);
	assert_value("bearmon_pressure_avg_ratio", "kind=some,resource=cpu,window=60s", 0.0225);
	assert_value("bearmon_pressure_avg_ratio", "kind=some,resource=cpu,window=300s", 0.0075);
	assert_absent("bearmon_pressure_avg_ratio", "kind=full,resource=cpu,window=10s");
	assert_value("node_pressure_memory_waiting_seconds_total", "", 2.0);
	assert_value("node_pressure_memory_stalled_seconds_total", "", 1.5);
	assert_value("bearmon_pressure_avg_ratio", "kind=some,resource=memory,window=10s", 0.1234);
	assert_value("bearmon_pressure_avg_ratio", "kind=full,resource=memory,window=300s", 0.005);
	assert_int_equal(fakehost_count("node_pressure_io_waiting_seconds_total"), 0);
	assert_value("node_pressure_irq_stalled_seconds_total", "", 42e-6);
	assert_value("bearmon_pressure_avg_ratio", "kind=full,resource=irq,window=60s", 0);
	assert_absent("bearmon_pressure_avg_ratio", "kind=some,resource=irq,window=60s");
	/* cpu 1+3, memory 2+6, irq 1+3, available */
	assert_int_equal(fakehost_n_samples(), 4 + 8 + 4 + 1);
	fixture_close(&f);
}

/* A garbage io file: the others are published, collect reports the file. */
static void test_garbage(void **unused)
{
	struct fixture f;
	fixture_open(&f, "garbage/proc");
	pt_collect_err(&psi_ops, f.state, 1, BM_EPROTO,
		       "garbage/proc/pressure/io: cannot parse \"hello world\"", NULL);
	assert_value("bearmon_pressure_available", "", 1);
	assert_value("node_pressure_cpu_waiting_seconds_total", "", 49.568783);
	assert_int_equal(fakehost_count("node_pressure_io_waiting_seconds_total"), 0);
	assert_int_equal(fakehost_n_samples(), 8 + 1);
	fixture_close(&f);
}

/* No /proc/pressure: available 0, logged once at info, collect succeeds. */
static void test_no_psi(void **unused)
{
	struct fixture f;
	fixture_open(&f, "does-not-exist/proc");
	pt_collect_ok(&psi_ops, f.state, 1);
	assert_value("bearmon_pressure_available", "", 0);
	assert_int_equal(fakehost_n_samples(), 1);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "no pressure stall information in "));
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "does-not-exist/proc/pressure (kernel"));
	fakehost_reset(); /* forget the log: the second round must not repeat it */
	pt_collect_ok(&psi_ops, f.state, 2);
	assert_value("bearmon_pressure_available", "", 0);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), "");
	fixture_close(&f);
}

static void test_parse(void **unused)
{
	struct psi_values v;
	assert_true(psi_parse("some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n", &v));
	assert_true(v.has[PSI_SOME] && !v.has[PSI_FULL]);
	assert_true(v.avg[PSI_SOME][2] == 3.0 && v.total_us[PSI_SOME] == 4);
	/* keys in another order are fine */
	assert_true(psi_parse("full total=9 avg300=3.00 avg60=2.00 avg10=1.00", &v));
	assert_true(v.has[PSI_FULL] && v.total_us[PSI_FULL] == 9);
	assert_false(psi_parse("", &v));
	assert_false(psi_parse("some avg10=1.00 avg60=2.00 total=4\n", &v));          /* avg300 missing */
	assert_false(psi_parse("some avg10=1.00 avg60=2.00 avg300=x total=4\n", &v)); /* not a number */
	assert_false(psi_parse("half avg10=1.00 avg60=2.00 avg300=3.00 total=4\n", &v));
	assert_false(psi_parse("some avg10=1.00 avg60=2.00 avg300=3.00 total=4x\n", &v));
	assert_false(psi_parse("some avg10=1.00 avg60=2.00 avg300=3.00 avg5=1 total=4\n", &v));
	/* what counts as "no PSI here" and what is a real error */
	assert_true(psi_errno_is_absent(ENOENT));
	assert_true(psi_errno_is_absent(EOPNOTSUPP));
	assert_false(psi_errno_is_absent(EACCES));
	assert_false(psi_errno_is_absent(EIO));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_some_only),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_no_psi),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
