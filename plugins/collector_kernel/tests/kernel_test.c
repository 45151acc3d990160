/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/kernel against the fake host and
 * tests/fixtures/kernel/: files recorded on the 2-core test VM (rec/), a
 * hand-made newer kernel on a 2-node machine without conntrack (hand/), an
 * old kernel without NUMA or buddyinfo (old/), garbage, a missing root, a
 * softnet counter wrap, conntrack statistics summed over CPUs; adjtimex
 * and uname go through replaceable pointers.
 */
#include <sys/stat.h>

#include "plugintest.h"
#include "kernel.c"

struct fixture {
	struct kn_conf conf;
	void *state;
	char tmp[64];
};

/* The fake system calls. */
static struct timex fake_tx;
static int fake_tx_state;
static int fake_tx_errno;
static int fake_adjtimex(struct timex *t)
{
	assert_int_equal(t->modes, 0); /* read only */
	if (fake_tx_state < 0) {
		errno = fake_tx_errno;
		return -1;
	}
	*t = fake_tx;
	return fake_tx_state;
}

static int fake_uname(struct utsname *u)
{
	memset(u, 0, sizeof(*u));
	strcpy(u->sysname, "Linux");
	strcpy(u->nodename, "vm");
	strcpy(u->release, "6.18.44-fc-v657");
	strcpy(u->version, "#1 SMP PREEMPT_DYNAMIC @0");
	strcpy(u->machine, "x86_64");
	strcpy(u->domainname, "(none)");
	return 0;
}

/* Roots tests/fixtures/kernel/<sub>/{proc,sys,etc/os-release}; copy: a
 * copy in /tmp the test may change. */
static void fixture_open(struct fixture *f, const char *sub, bool copy)
{
	char root[PATH_MAX];
	char path[PATH_MAX + 32];
	pt_fixture_begin(f, kn_options);
	assert_string_equal(f->conf.proc_root, "/proc");
	assert_string_equal(f->conf.sys_root, "/sys");
	assert_string_equal(f->conf.os_release, "/etc/os-release");
	if (copy) {
		pt_fixture_copy(f->tmp, sizeof(f->tmp), "bm-kernel-test-", "kernel", sub, "");
		snprintf(root, sizeof(root), "%s", f->tmp);
	} else {
		pt_fixture_path(root, sizeof(root), "kernel", sub);
	}
	snprintf(path, sizeof(path), "%s/proc", root);
	pt_set_str(&f->conf.proc_root, path);
	snprintf(path, sizeof(path), "%s/sys", root);
	pt_set_str(&f->conf.sys_root, path);
	snprintf(path, sizeof(path), "%s/etc/os-release", root);
	pt_set_str(&f->conf.os_release, path);
	kn_adjtimex = fake_adjtimex;
	kn_uname = fake_uname;
	memset(&fake_tx, 0, sizeof(fake_tx));
	fake_tx.status = STA_PLL | STA_NANO;
	fake_tx.offset = 1500000; /* ns with STA_NANO: 1.5 ms */
	fake_tx.freq = 655360;	  /* 10 ppm in 16.16 fixed point */
	fake_tx.maxerror = 16000; /* µs */
	fake_tx.esterror = 500;
	fake_tx.constant = 7;
	fake_tx.tick = 10000;
	fake_tx.jitter = 2000; /* ns */
	fake_tx.shift = 4;
	fake_tx.stabil = 131072;  /* 2 ppm */
	fake_tx.ppsfreq = -65536; /* -1 ppm */
	fake_tx.jitcnt = 1;
	fake_tx.calcnt = 2;
	fake_tx.errcnt = 3;
	fake_tx.stbcnt = 4;
	fake_tx.tai = 37;
	fake_tx_state = TIME_OK;
	f->state = pt_init(&kn_ops, &f->conf);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&kn_ops, kn_options, f->state, &f->conf);
	kn_adjtimex = kn_sys_adjtimex;
	kn_uname = kn_sys_uname;
	if (f->tmp[0])
		assert_int_equal(pt_rm_tree(f->tmp), 0);
}

static void check_timex_uname(void)
{
	assert_value("node_timex_sync_status", "", 1);
	assert_value("node_timex_offset_seconds", "", 0.0015);
	assert_value("node_timex_frequency_adjustment_ratio", "", 1.00001);
	assert_value("node_timex_maxerror_seconds", "", 0.016);
	assert_value("node_timex_estimated_error_seconds", "", 0.0005);
	assert_value("node_timex_status", "", STA_PLL | STA_NANO);
	assert_value("node_timex_loop_time_constant", "", 7);
	assert_value("node_timex_tick_seconds", "", 0.01);
	assert_value("node_timex_pps_jitter_seconds", "", 2e-6);
	assert_value("node_timex_pps_shift_seconds", "", 4);
	assert_value("node_timex_pps_stability_hertz", "", 2e-6);
	assert_value("node_timex_pps_frequency_hertz", "", -1e-6);
	assert_value("node_timex_pps_jitter_total", "", 1);
	assert_value("node_timex_pps_calibration_total", "", 2);
	assert_value("node_timex_pps_error_total", "", 3);
	assert_value("node_timex_pps_stability_exceeded_total", "", 4);
	assert_value("node_timex_tai_offset_seconds", "", 37);
	assert_int_equal(fakehost_meta("node_timex_pps_error_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("node_timex_offset_seconds")->type, BM_METRIC_GAUGE);
	assert_value(
	    "node_uname_info",
	    "domainname=(none),machine=x86_64,nodename=vm,release=6.18.44-fc-v657,sysname=Linux,"
	    "version=#1 SMP PREEMPT_DYNAMIC @0",
	    1);
}

static void test_recorded(void **unused)
{
	struct fixture f;
	fixture_open(&f, "rec", false);
	pt_collect_ok(&kn_ops, f.state, 1700000000500);
	/* proc/sys/fs/file-nr "769 0 2466177" */
	assert_value("node_filefd_allocated", "", 769);
	assert_value("node_filefd_maximum", "", 2466177);
	assert_value("bearmon_uptime_seconds", "", 3192.08);
	assert_null(fakehost_meta("node_boot_time_seconds")); /* collector/cpu's */
	assert_value("node_nf_conntrack_entries", "", 0);
	assert_value("node_nf_conntrack_entries_limit", "", 262144);
	/* softnet: 15 columns (6.18), cpu from the index column */
	assert_value("node_softnet_processed_total", "cpu=0", 0xeb2);
	assert_value("node_softnet_processed_total", "cpu=1", 0x108a);
	assert_value("node_softnet_dropped_total", "cpu=1", 0);
	assert_value("node_softnet_times_squeezed_total", "cpu=0", 0);
	assert_value("node_softnet_backlog_len", "cpu=1", 0);
	assert_int_equal(fakehost_count("node_softnet_processed_total"), 2);
	assert_int_equal(fakehost_count("node_softnet_flow_limit_count_total"), 2);
	assert_int_equal(fakehost_meta("node_softnet_dropped_total")->type, BM_METRIC_COUNTER);
	check_timex_uname();
	/* NUMA node0 */
	assert_value("node_memory_numa_MemTotal", "node=0", 4942036.0 * 1024);
	assert_value("node_memory_numa_MemFree", "node=0", 3988028.0 * 1024);
	assert_value("node_memory_numa_MemUsed", "node=0", 954008.0 * 1024);
	assert_value("node_memory_numa_Active_anon", "node=0", 1576.0 * 1024);
	assert_value("node_memory_numa_Inactive_file", "node=0", 238416.0 * 1024);
	assert_value("node_memory_numa_HugePages_Total", "node=0", 0);
	assert_value("node_memory_numa_numa_hit_total", "node=0", 33036063);
	assert_value("node_memory_numa_interleave_hit_total", "node=0", 1123);
	assert_string_equal(fakehost_meta("node_memory_numa_MemTotal")->unit, "bytes");
	const char *hp_unit = fakehost_meta("node_memory_numa_HugePages_Total")->unit;
	assert_true(!hp_unit || !*hp_unit); /* a count, not bytes */
	assert_int_equal(fakehost_meta("node_memory_numa_numa_hit_total")->type, BM_METRIC_COUNTER);
	assert_value("node_entropy_available_bits", "", 256);
	assert_value("node_entropy_pool_size_bits", "", 256);
	assert_value("node_os_info",
		     "id=debian,name=Debian GNU/Linux,pretty_name=Debian GNU/Linux 12 (bookworm),"
		     "version=12 (bookworm),version_codename=bookworm,version_id=12",
		     1);
	assert_value("node_os_version", "id=debian,name=Debian GNU/Linux", 12);
	assert_value("node_time_seconds", "", 1700000000.5);
	/* buddyinfo: zones DMA, DMA32, Normal of node 0, orders 0..10 */
	assert_value("node_buddyinfo_blocks", "node=0,size=10,zone=DMA32", 752);
	assert_value("node_buddyinfo_blocks", "node=0,size=0,zone=Normal", 9677);
	assert_int_equal(fakehost_count("node_buddyinfo_blocks"), 33);
	assert_int_equal(fakehost_meta("node_buddyinfo_blocks")->type, BM_METRIC_GAUGE);
	/* conntrack statistics: all zero on this VM */
	assert_value("node_nf_conntrack_stat_found", "", 0);
	assert_value("node_nf_conntrack_stat_search_restart", "", 0);
	assert_int_equal(fakehost_meta("node_nf_conntrack_stat_drop")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_unsorted(), 0);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), "");
	/* 2 filefd, uptime, 2 conntrack, 8 conntrack stat, 2 x 7 softnet, 17
	 * timex, 36 + 6 NUMA, 33 buddyinfo, 2 entropy, uname, os info and
	 * version, time */
	size_t want = 2 + 1 + 2 + 8 + 14 + 17 + 42 + 33 + 2 + 1 + 2 + 1;
	assert_int_equal(fakehost_n_samples(), want);
	/* the second collection: the same samples from kept-open files and
	 * cached names, no metadata */
	fakehost_reset();
	pt_collect_ok(&kn_ops, f.state, 1700000001500);
	assert_int_equal(fakehost_n_samples(), want);
	assert_null(fakehost_meta("node_memory_numa_MemTotal"));
	assert_value("node_memory_numa_Active_anon", "node=0", 1576.0 * 1024);
	assert_value("node_memory_numa_numa_hit_total", "node=0", 33036063);
	assert_value("node_timex_offset_seconds", "", 0.0015);
	assert_int_equal(fakehost_count("node_uname_info"), 1); /* from the cached uname */
	assert_int_equal(fakehost_count("node_os_info"), 1);
	fixture_close(&f);
}

static void test_hand(void **unused)
{
	struct fixture f;
	fixture_open(&f, "hand", false);
	pt_collect_ok(&kn_ops, f.state, 1000);
	assert_value("node_filefd_allocated", "", 1024);
	assert_value("node_filefd_maximum", "", 9223372036854775807.0);
	assert_value("bearmon_uptime_seconds", "", 86400.25);
	/* no nf_conntrack module: quietly absent */
	assert_int_equal(fakehost_count("node_nf_conntrack_entries"), 0);
	assert_null(fakehost_meta("node_nf_conntrack_entries"));
	/* 17 columns, CPUs 0 and 2 (1 offline): hex columns, cpu from column 13 */
	assert_value("node_softnet_processed_total", "cpu=0", 123456);
	assert_value("node_softnet_dropped_total", "cpu=0", 3);
	assert_value("node_softnet_times_squeezed_total", "cpu=0", 10);
	assert_value("node_softnet_cpu_collision_total", "cpu=0", 4);
	assert_value("node_softnet_received_rps_total", "cpu=0", 5);
	assert_value("node_softnet_flow_limit_count_total", "cpu=0", 6);
	assert_value("node_softnet_backlog_len", "cpu=0", 2);
	assert_value("node_softnet_processed_total", "cpu=2", 4294967040.0);
	assert_value("node_softnet_times_squeezed_total", "cpu=2", 255);
	assert_value("node_softnet_cpu_collision_total", "cpu=2", 1);
	assert_absent("node_softnet_processed_total", "cpu=1");
	assert_int_equal(fakehost_count("node_softnet_processed_total"), 2);
	/* two NUMA nodes */
	assert_value("node_memory_numa_MemTotal", "node=0", 16384000.0 * 1024);
	assert_value("node_memory_numa_MemTotal", "node=1", 16384000.0 * 1024);
	assert_value("node_memory_numa_Active_anon", "node=1", 102400.0 * 1024);
	assert_value("node_memory_numa_HugePages_Total", "node=0", 4);
	assert_value("node_memory_numa_HugePages_Total", "node=1", 5);
	assert_value("node_memory_numa_numa_hit_total", "node=1", 1001);
	assert_value("node_memory_numa_numa_miss_total", "node=1", 1);
	assert_int_equal(fakehost_count("node_memory_numa_MemFree"), 2);
	assert_value("node_entropy_available_bits", "", 3840);
	assert_value("node_entropy_pool_size_bits", "", 4096);
	/* quoting: double, single, bare; unknown keys ignored */
	assert_value(
	    "node_os_info",
	    "id=ubuntu,id_like=debian,name=Ubuntu,pretty_name=Ubuntu 22.04.4 LTS,"
	    "version=22.04.4 LTS (Jammy Jellyfish),version_codename=jammy,version_id=22.04",
	    1);
	assert_value("node_os_version", "id=ubuntu,id_like=debian,name=Ubuntu", 22.04);
	/* buddyinfo of two nodes */
	assert_value("node_buddyinfo_blocks", "node=1,size=10,zone=Normal", 110);
	assert_value("node_buddyinfo_blocks", "node=0,size=3,zone=DMA", 1);
	assert_int_equal(fakehost_count("node_buddyinfo_blocks"), 44);
	assert_int_equal(fakehost_count("node_nf_conntrack_stat_found"), 0);
	fixture_close(&f);
}

/* conntrack statistics: the named columns summed over the CPU lines; a
 * garbage buddyinfo fails the collection with the file named. */
static void test_conntrack_stat_and_buddy_garbage(void **unused)
{
	struct fixture f;
	fixture_open(&f, "hand", true);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/proc/net/stat", f.tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	pt_write_file(f.tmp, "proc/net/stat/nf_conntrack",
		      "entries  clashres found new invalid ignore delete chainlength insert "
		      "insert_failed drop early_drop icmp_error  expect_new expect_create "
		      "expect_delete search_restart\n"
		      "00000010  00000000 00000001 00000000 00000002 00000003 00000000 00000000 "
		      "00000004 00000005 00000006 00000007 00000000  00000000 00000000 00000000 "
		      "00000008\n"
		      "00000010  00000000 00000010 00000000 00000020 00000030 00000000 00000000 "
		      "00000040 00000050 00000060 00000070 00000000  00000000 00000000 00000000 "
		      "00000080\n");
	pt_collect_ok(&kn_ops, f.state, 1000);
	assert_value("node_nf_conntrack_stat_found", "", 0x11);
	assert_value("node_nf_conntrack_stat_invalid", "", 0x22);
	assert_value("node_nf_conntrack_stat_ignore", "", 0x33);
	assert_value("node_nf_conntrack_stat_insert", "", 0x44);
	assert_value("node_nf_conntrack_stat_insert_failed", "", 0x55);
	assert_value("node_nf_conntrack_stat_drop", "", 0x66);
	assert_value("node_nf_conntrack_stat_early_drop", "", 0x77);
	assert_value("node_nf_conntrack_stat_search_restart", "", 0x88);
	pt_write_file(f.tmp, "proc/buddyinfo", "Node 0, zone Normal x y\n");
	fakehost_reset();
	pt_collect_err(&kn_ops, f.state, 2000, BM_EPROTO, "proc/buddyinfo: cannot parse line 1",
		       NULL);
	fixture_close(&f);
}

/* The processed counter of cpu 2 wraps at 2^32 between two reads. */
static void test_softnet_wrap(void **unused)
{
	struct fixture f;
	fixture_open(&f, "hand", true);
	pt_collect_ok(&kn_ops, f.state, 1000);
	assert_value("node_softnet_processed_total", "cpu=2", 4294967040.0);
	pt_write_file(f.tmp, "proc/net/softnet_stat",
		      "0001e250 00000003 0000000a 00000000 00000000 00000000 00000000 00000000 "
		      "00000004 00000005 "
		      "00000006 00000000 00000000 00000007 00000008\n"
		      "00000100 00000000 00000100 00000000 00000000 00000000 00000000 00000000 "
		      "00000001 00000000 "
		      "00000000 00000000 00000002 00000000 00000000\n");
	fakehost_reset();
	pt_collect_ok(&kn_ops, f.state, 2000);
	assert_value("node_softnet_processed_total", "cpu=2", 4294967296.0 + 256);
	assert_value("node_softnet_times_squeezed_total", "cpu=2", 256);
	assert_value("node_softnet_processed_total", "cpu=0", 123472);
	assert_value("node_softnet_backlog_len", "cpu=0", 0);
	/* a line with fewer than 9 columns */
	pt_write_file(f.tmp, "proc/net/softnet_stat", "00000001 00000002 00000003\n");
	fakehost_reset();
	pt_collect_err_none(&kn_ops, f.state, 3000, BM_EPROTO,
			    "proc/net/softnet_stat: line 1: expected at least 9 hexadecimal columns",
			    NULL);
	/* the file vanishes: skipped, said once */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/proc/net/softnet_stat", f.tmp);
	assert_int_equal(unlink(path), 0);
	pt_collect_ok(&kn_ops, f.state, 4000);
	assert_int_equal(fakehost_count("node_softnet_processed_total"), 0);
	assert_non_null(
	    strstr(fakehost_last_log(BM_LOG_INFO),
		   "softnet_stat: No such file or directory, softnet counters not published"));
	fixture_close(&f);
}

/* An old kernel: 11 columns without index, no NUMA, no entropy files, no
 * os-release: what is there is published, each absence said once. */
static void test_old(void **unused)
{
	struct fixture f;
	fixture_open(&f, "old", false);
	pt_collect_ok(&kn_ops, f.state, 1000);
	assert_value("node_softnet_processed_total", "cpu=0", 100);
	assert_value("node_softnet_processed_total", "cpu=1", 200);
	assert_value("node_softnet_dropped_total", "cpu=1", 1);
	assert_value("node_softnet_times_squeezed_total", "cpu=1", 2);
	assert_value("node_softnet_cpu_collision_total", "cpu=1", 3);
	assert_value("node_softnet_flow_limit_count_total", "cpu=1", 0);
	assert_int_equal(fakehost_count("node_softnet_backlog_len"), 0);
	assert_int_equal(fakehost_count("node_memory_numa_MemTotal"), 0);
	assert_int_equal(fakehost_count("node_entropy_available_bits"), 0);
	assert_int_equal(fakehost_count("node_os_info"), 0);
	assert_value("node_filefd_maximum", "", 100000);
	assert_value("bearmon_uptime_seconds", "", 10);
	assert_non_null(
	    strstr(fakehost_last_log(BM_LOG_INFO),
		   "os-release: No such file or directory, node_os_info not published"));
	struct kn *s = f.state;
	assert_true(s->numa_logged && s->entropy_logged && s->osrel_logged);
	assert_false(s->softnet_logged);
	fakehost_reset();
	pt_collect_ok(&kn_ops, f.state, 2000);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), "");
	fixture_close(&f);
}

/* adjtimex: unsynchronised clock in microseconds, then a failing call. */
static void test_timex(void **unused)
{
	struct fixture f;
	fixture_open(&f, "rec", false);
	fake_tx.status = STA_UNSYNC;
	fake_tx.offset = -2500;	 /* µs */
	fake_tx.freq = -1310720; /* -20 ppm */
	fake_tx_state = TIME_ERROR;
	pt_collect_ok(&kn_ops, f.state, 1000);
	assert_value("node_timex_sync_status", "", 0);
	assert_value("node_timex_offset_seconds", "", -0.0025);
	assert_value("node_timex_frequency_adjustment_ratio", "", 1 - 20e-6);
	assert_value("node_timex_status", "", STA_UNSYNC);
	assert_value("node_timex_pps_jitter_seconds", "", 0.002);
	fake_tx_state = -1;
	fake_tx_errno = EPERM; /* a seccomp filter that refuses it */
	fakehost_reset();
	pt_collect_ok(&kn_ops, f.state, 2000);
	assert_int_equal(fakehost_count("node_timex_offset_seconds"), 0);
	assert_non_null(
	    strstr(fakehost_last_log(BM_LOG_INFO), "adjtimex failed: Operation not permitted"));
	assert_value("node_filefd_allocated", "", 769);
	fakehost_reset();
	pt_collect_ok(&kn_ops, f.state, 3000);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), "");
	fixture_close(&f);
}

/* The real system calls on this machine answer (no privilege needed). */
static void test_real_syscalls(void **unused)
{
	struct fixture f;
	fixture_open(&f, "rec", false);
	kn_adjtimex = kn_sys_adjtimex;
	kn_uname = kn_sys_uname;
	pt_collect_ok(&kn_ops, f.state, 1000);
	assert_int_equal(fakehost_count("node_timex_sync_status"), 1);
	assert_int_equal(fakehost_count("node_uname_info"), 1);
	fixture_close(&f);
}

static void test_garbage_and_missing(void **unused)
{
	struct fixture f;
	fixture_open(&f, "garbage", false);
	pt_collect_err_none(&kn_ops, f.state, 1, BM_EPROTO,
			    "garbage/proc/sys/fs/file-nr: expected three numbers", NULL);
	fixture_close(&f);
	fixture_open(&f, "does-not-exist", false);
	pt_collect_err_none(&kn_ops, f.state, 1, BM_EIO,
			    "does-not-exist/proc/sys/fs/file-nr: No such file or directory", NULL);
	fixture_close(&f);
}

static void test_parse(void **unused)
{
	unsigned long long v[4];
	const char *eol;
	assert_int_equal(kn_parse_row("0000ffff 00000010\n", 16, v, 4, &eol), 2);
	assert_true(v[0] == 0xffff && v[1] == 16);
	assert_int_equal(kn_parse_row("0000fffg\n", 16, v, 4, &eol), -1);
	assert_int_equal(kn_parse_row("12 ab\n", 10, v, 4, &eol), -1);
	assert_int_equal(kn_parse_row("1 2 3 4 5 6\n", 10, v, 4, &eol), 6);
	assert_true(v[3] == 4);
	char q1[] = "\"a \\\"b\\\" \\$c\"";
	kn_unquote(q1);
	assert_string_equal(q1, "a \"b\" $c");
	char q2[] = "'x \\y'";
	kn_unquote(q2);
	assert_string_equal(q2, "x \\y");
	char q3[] = "bare";
	kn_unquote(q3);
	assert_string_equal(q3, "bare");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recorded),
	    cmocka_unit_test(test_hand),
	    cmocka_unit_test(test_conntrack_stat_and_buddy_garbage),
	    cmocka_unit_test(test_softnet_wrap),
	    cmocka_unit_test(test_old),
	    cmocka_unit_test(test_timex),
	    cmocka_unit_test(test_real_syscalls),
	    cmocka_unit_test(test_garbage_and_missing),
	    cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
