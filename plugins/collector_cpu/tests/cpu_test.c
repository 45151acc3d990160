/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/cpu against the fake host and tests/fixtures/cpu/:
 * /proc/stat, /proc/softirqs and /proc/interrupts recorded on a 2-core VM,
 * too many interrupt sources, hand-made cpufreq
 * files for cpu0 only, a second read with cpu1 offline, garbage files and
 * missing ones.
 */
#include <sys/stat.h>

#include "plugintest.h"
#include "cpu.c"

/* Recorded values (ticks) of tests/fixtures/cpu/proc/stat. */
static const unsigned long long rec_cpu0[10] = {36966, 0, 6450, 196034, 64, 0, 51, 6, 0, 0};
static const unsigned long long rec_cpu1[10] = {45211, 0, 7360, 186469, 625, 0, 96, 11, 0, 0};
static const unsigned long long rec_total[10] = {82178, 0, 13811, 382504, 689, 0, 148, 18, 0, 0};

struct fixture {
	struct cpu_conf conf;
	void *state;
};

/* proc and sys roots at tests/fixtures/cpu/<proc_sub> and /<sys_sub> (or
 * at an absolute sub). */
static void fixture_open(struct fixture *f, const char *proc_sub, const char *sys_sub, bool per_cpu)
{
	pt_fixture_begin(f, cpu_options);
	assert_true(f->conf.per_cpu);
	assert_true(f->conf.cpufreq);
	assert_string_equal(f->conf.proc_root, "/proc");
	assert_string_equal(f->conf.sys_root, "/sys");
	pt_set_fixture(&f->conf.proc_root, "cpu", proc_sub);
	pt_set_fixture(&f->conf.sys_root, "cpu", sys_sub);
	f->conf.per_cpu = per_cpu;
	f->state = pt_init(&cpu_ops, &f->conf);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&cpu_ops, cpu_options, f->state, &f->conf);
}

/* proc = DIR/proc, DIR a new scratch directory: a copy of the fixture
 * tests/fixtures/cpu/<copy>, or empty when copy is NULL; the file proc/FILE
 * is returned created, for writing. */
static FILE *scratch_proc(char *dir, size_t n_dir, char *proc, size_t n_proc, const char *copy,
			  const char *file)
{
	char path[PATH_MAX + 16];
	pt_mkdtemp(dir, n_dir, "bm-cpu-test-");
	snprintf(proc, n_proc, "%s/proc", dir);
	assert_int_equal(mkdir(proc, 0700), 0);
	if (copy) {
		pt_fixture_path(path, sizeof(path), "cpu", copy);
		pt_copy_tree(path, proc);
	}
	snprintf(path, sizeof(path), "%s/%s", proc, file);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	return out;
}

static void check_times(const char *cpu, const unsigned long long *ticks)
{
	double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
	char labels[64];
	for (int i = 0; i < CPU_N_MODES; i++) {
		snprintf(labels, sizeof(labels), "cpu=%s,mode=%s", cpu, cpu_modes[i]);
		assert_value("node_cpu_seconds_total", labels, (double)ticks[i] * tick);
	}
	snprintf(labels, sizeof(labels), "cpu=%s,mode=user", cpu);
	assert_value("node_cpu_guest_seconds_total", labels, (double)ticks[8] * tick);
	snprintf(labels, sizeof(labels), "cpu=%s,mode=nice", cpu);
	assert_value("node_cpu_guest_seconds_total", labels, (double)ticks[9] * tick);
}

static void check_stat_lines(double ctxt)
{
	assert_value("node_context_switches_total", "", ctxt);
	assert_value("node_intr_total", "", 1364144);
	assert_value("node_forks_total", "", 43208);
	assert_value("node_procs_running", "", 1);
	assert_value("node_procs_blocked", "", 0);
	assert_value("node_boot_time_seconds", "", 1795887456);
}

static void test_recorded_per_cpu(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc", "sys", true);
	pt_collect_ok(&cpu_ops, f.state, 1700000000000);
	check_times("0", rec_cpu0);
	check_times("1", rec_cpu1);
	assert_absent("node_cpu_seconds_total", "cpu=total,mode=user");
	assert_int_equal(fakehost_count("node_cpu_seconds_total"), 16);
	assert_int_equal(fakehost_count("node_cpu_guest_seconds_total"), 4);
	check_stat_lines(6184939);
	/* cpufreq: hand-made files for cpu0 (kHz), none for cpu1 */
	assert_value("node_cpu_scaling_frequency_hertz", "cpu=0", 2.1e9);
	assert_value("node_cpu_scaling_frequency_max_hertz", "cpu=0", 3.0e9);
	assert_value("node_cpu_scaling_frequency_min_hertz", "cpu=0", 1.2e9);
	assert_value("node_cpu_frequency_max_hertz", "cpu=0", 3.5e9);
	assert_value("node_cpu_frequency_min_hertz", "cpu=0", 8e8);
	assert_int_equal(fakehost_count("node_cpu_frequency_hertz"), 0); /* no cpuinfo_cur_freq */
	assert_int_equal(fakehost_count("node_cpu_scaling_frequency_hertz"), 1);
	/* /proc/stat softirq line, per vector */
	assert_value("node_softirqs_total", "vector=net_rx", 3097);
	assert_value("node_softirqs_total", "vector=block", 137239);
	assert_value("node_softirqs_total", "vector=rcu", 196687);
	assert_int_equal(fakehost_count("node_softirqs_total"), 10);
	assert_int_equal(fakehost_meta("node_softirqs_total")->type, BM_METRIC_COUNTER);
	/* /proc/softirqs, per core and type */
	assert_value("node_softirqs_functions_total", "cpu=1,type=NET_RX", 88673821);
	assert_value("node_softirqs_functions_total", "cpu=0,type=TIMER", 403843);
	assert_value("node_softirqs_functions_total", "cpu=1,type=IRQ_POLL", 0);
	assert_int_equal(fakehost_count("node_softirqs_functions_total"), 20);
	assert_int_equal(fakehost_meta("node_softirqs_functions_total")->type, BM_METRIC_COUNTER);
	/* /proc/interrupts, per core: numbered sources with chip and devices,
	 * named ones with their description; ERR and MIS (one count) left out */
	assert_value("node_interrupts_total", "cpu=1,devices=4-edge ttyS0,info=IO-APIC,type=26", 14);
	assert_value("node_interrupts_total",
		     "cpu=0,devices=0-edge virtio0-config,info=PCI-MSIX-0000:00:01.0,type=28", 0);
	assert_value("node_interrupts_total", "cpu=1,info=Local timer interrupts,type=LOC", 3339035);
	assert_value("node_interrupts_total", "cpu=0,info=Non-maskable interrupts,type=NMI", 0);
	assert_int_equal(fakehost_count("node_interrupts_total"), 66);
	assert_int_equal(fakehost_meta("node_interrupts_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_n_samples(), 16 + 4 + 6 + 5 + 10 + 20 + 66);
	assert_int_equal(fakehost_meta("node_cpu_seconds_total")->type, BM_METRIC_COUNTER);
	assert_string_equal(fakehost_meta("node_cpu_seconds_total")->unit, "seconds");
	assert_int_equal(fakehost_meta("node_cpu_guest_seconds_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("node_context_switches_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("node_intr_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("node_forks_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("node_procs_running")->type, BM_METRIC_GAUGE);
	assert_int_equal(fakehost_meta("node_boot_time_seconds")->type, BM_METRIC_GAUGE);
	assert_int_equal(fakehost_meta("node_cpu_scaling_frequency_hertz")->type, BM_METRIC_GAUGE);
	assert_null(fakehost_meta("node_cpu_frequency_hertz"));
	assert_int_equal(fakehost_unsorted(), 0);
	assert_int_equal(fakehost_sample(0)->ts_ms, 1700000000000);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), ""); /* cpufreq found: no log */
	fixture_close(&f);
}

/* Families are declared in the first batch only; a second collection
 * publishes the same samples without metadata. */
static void test_metadata_once(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc", "sys", true);
	pt_collect_ok(&cpu_ops, f.state, 1000);
	size_t n = fakehost_n_samples();
	assert_non_null(fakehost_meta("node_cpu_seconds_total"));
	fakehost_reset();
	pt_collect_ok(&cpu_ops, f.state, 2000);
	assert_int_equal(fakehost_n_samples(), n);
	assert_null(fakehost_meta("node_cpu_seconds_total"));
	assert_null(fakehost_meta("node_softirqs_functions_total"));
	check_times("0", rec_cpu0);
	fixture_close(&f);
}

/* More cores x interrupt sources than CPU_MAX_IRQ_SERIES: left out, said
 * once; the rest is published. */
static void test_too_many_interrupts(void **unused)
{
	struct fixture f;
	char dir[64], proc[PATH_MAX];
	FILE *out = scratch_proc(dir, sizeof(dir), proc, sizeof(proc), "proc", "interrupts");
	fprintf(out, "     CPU0  CPU1\n");
	for (int i = 0; i <= CPU_MAX_IRQ_SERIES / 2; i++)
		fprintf(out, "%4d:  1  2  PCI-MSI  %d-edge  eth0-rx-%d\n", i, i, i);
	fclose(out);
	fixture_open(&f, proc, "sys", true);
	pt_collect_ok(&cpu_ops, f.state, 1);
	assert_int_equal(fakehost_count("node_interrupts_total"), 0);
	assert_int_equal(fakehost_count("node_softirqs_functions_total"), 20);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "interrupts per core not published"));
	fixture_close(&f);
	pt_rm_tree(dir);
}

/* Per core softirqs and interrupts: missing is fine (told once), garbage
 * fails. */
static void test_softirqs_missing_or_garbage(void **unused)
{
	struct fixture f;
	fixture_open(&f, "offline/proc", "sys", true);
	pt_collect_ok(&cpu_ops, f.state, 1);
	assert_int_equal(fakehost_count("node_softirqs_functions_total"), 0);
	assert_int_equal(fakehost_count("node_interrupts_total"), 0);
	/* the last of the two lines said at info */
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "interrupts per core not published"));
	assert_true(((struct cpu *)f.state)->softirqs_logged);
	fixture_close(&f);

	fixture_open(&f, "garbage-softirqs/proc", "sys", true);
	pt_collect_err(&cpu_ops, f.state, 1, BM_EPROTO, "garbage-softirqs/proc/softirqs: cannot parse",
		       NULL);
	fixture_close(&f);

	fixture_open(&f, "garbage-interrupts/proc", "sys", true);
	pt_collect_err(&cpu_ops, f.state, 1, BM_EPROTO,
		       "garbage-interrupts/proc/interrupts: cannot parse", NULL);
	fixture_close(&f);
}

static void test_total_only(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc", "sys", false);
	pt_collect_ok(&cpu_ops, f.state, 1);
	check_times("total", rec_total);
	assert_int_equal(fakehost_count("node_cpu_seconds_total"), 8);
	assert_int_equal(fakehost_count("node_cpu_scaling_frequency_hertz"), 0);
	check_stat_lines(6184939);
	assert_int_equal(fakehost_count("node_softirqs_functions_total"), 0); /* per core only */
	assert_int_equal(fakehost_count("node_interrupts_total"), 0);
	assert_int_equal(fakehost_n_samples(), 8 + 2 + 6 + 10);
	fixture_close(&f);
}

/* cpu1 goes offline between two reads, then comes back. */
static void test_cpu_offline(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc", "sys", true);
	pt_collect_ok(&cpu_ops, f.state, 1000);
	assert_int_equal(fakehost_count("node_cpu_seconds_total"), 16);
	fakehost_reset();

	pt_set_fixture(&f.conf.proc_root, "cpu", "offline/proc");
	pt_fini(&cpu_ops, f.state);
	f.state = pt_init(&cpu_ops, &f.conf);
	pt_collect_ok(&cpu_ops, f.state, 2000);
	check_times("0", rec_cpu0);
	assert_absent("node_cpu_seconds_total", "cpu=1,mode=user");
	assert_int_equal(fakehost_count("node_cpu_seconds_total"), 8);
	check_stat_lines(6190000);
	assert_value("node_cpu_scaling_frequency_hertz", "cpu=0", 2.1e9);
	fixture_close(&f);
}

static void test_no_cpufreq(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc", "no-such-sys/sys", true);
	pt_collect_ok(&cpu_ops, f.state, 1);
	assert_int_equal(fakehost_count("node_cpu_seconds_total"), 16);
	assert_int_equal(fakehost_count("node_cpu_scaling_frequency_hertz"), 0);
	assert_null(fakehost_meta("node_cpu_scaling_frequency_hertz"));
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "no cpufreq under"));
	fakehost_reset(); /* forget the log; the plugin says it once */
	pt_collect_ok(&cpu_ops, f.state, 2);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), "");
	assert_int_equal(fakehost_count("node_cpu_seconds_total"), 16);
	fixture_close(&f);
}

static void test_garbage(void **unused)
{
	struct fixture f;
	fixture_open(&f, "garbage/proc", "sys", true);
	pt_collect_err_none(&cpu_ops, f.state, 1, BM_EPROTO, "garbage/proc/stat: ", NULL);
	fixture_close(&f);
}

static void test_missing(void **unused)
{
	struct fixture f;
	fixture_open(&f, "does-not-exist/proc", "sys", true);
	pt_collect_err_none(&cpu_ops, f.state, 1, BM_EIO,
			    "does-not-exist/proc/stat: No such file or directory", NULL);
	fixture_close(&f);
}

/* Line-level parsing: bad lines, short lines, big intr lines. */
static void test_parse(void **unused)
{
	unsigned long long v[CPU_N_FIELDS];
	const char *eol;
	assert_int_equal(cpu_parse_u64s(" 1 2 3\n", v, CPU_N_FIELDS, &eol), 3);
	assert_int_equal(*eol, '\n');
	assert_int_equal(cpu_parse_u64s(" 1 2 x\n", v, CPU_N_FIELDS, &eol), -1);
	assert_int_equal(cpu_parse_u64s(" 1 2-3\n", v, CPU_N_FIELDS, &eol), -1);
	assert_int_equal(cpu_parse_u64s(" 7 0 0 0 0 9\nnext", v, 1, &eol), 1);
	assert_true(v[0] == 7);
	assert_string_equal(eol, "\nnext");
	assert_int_equal(cpu_parse_u64s(" 18446744073709551615", v, 1, &eol), 1);
	assert_true(v[0] == 18446744073709551615ull);
}

/* A /proc/stat bigger than the initial buffer (many interrupts) grows it. */
static void test_big_stat(void **unused)
{
	struct fixture f;
	char dir[64], proc[PATH_MAX];
	FILE *out = scratch_proc(dir, sizeof(dir), proc, sizeof(proc), NULL, "stat");
	fprintf(out, "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 123456");
	for (int i = 0; i < 20000; i++)
		fprintf(out, " %d", i);
	fprintf(out, "\nctxt 99\nbtime 5\nprocesses 6\nprocs_running 2\nprocs_blocked 1\n");
	fclose(out);

	fixture_open(&f, proc, "sys", true);
	pt_collect_ok(&cpu_ops, f.state, 1);
	assert_value("node_intr_total", "", 123456);
	assert_value("node_context_switches_total", "", 99);
	assert_value("node_procs_blocked", "", 1);
	assert_true(((struct cpu *)f.state)->cap > 8192);
	fixture_close(&f);
	pt_rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded_per_cpu),
		cmocka_unit_test(test_total_only),
		cmocka_unit_test(test_metadata_once),
		cmocka_unit_test(test_softirqs_missing_or_garbage),
		cmocka_unit_test(test_too_many_interrupts),
		cmocka_unit_test(test_cpu_offline),
		cmocka_unit_test(test_no_cpufreq),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_big_stat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
