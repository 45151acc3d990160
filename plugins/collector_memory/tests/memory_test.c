/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/memory against the fake host and
 * tests/fixtures/memory/: meminfo and vmstat recorded on a 24 GiB VM, a
 * garbage meminfo, a missing root, vmstat field selection and fields that
 * change between two reads.
 */
#include "plugintest.h"
#include "memory.c"

struct fixture {
	struct mem_conf conf;
	void *state;
};

/* Defaults, proc_root at the fixture sub dir or at an absolute path. */
static void conf_open(struct fixture *f, const char *sub)
{
	pt_fixture_begin(f, mem_options);
	pt_set_fixture(&f->conf.proc_root, "memory", sub);
}

/* The same, with the instance started. */
static void fixture_open(struct fixture *f, const char *sub)
{
	conf_open(f, sub);
	f->state = pt_init(&mem_ops, &f->conf);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&mem_ops, mem_options, f->state, &f->conf);
}

static void test_recorded(void **unused)
{
	struct fixture f;
	conf_open(&f, "proc");
	assert_int_equal(f.conf.vmstat_fields.n, 0); /* default: every field */
	f.state = pt_init(&mem_ops, &f.conf);
	pt_collect_ok(&mem_ops, f.state, 1700000000000);
	assert_value("node_memory_MemTotal_bytes", "", 24684092.0 * 1024);
	assert_value("node_memory_MemFree_bytes", "", 24269892.0 * 1024);
	assert_value("node_memory_MemAvailable_bytes", "", 24300580.0 * 1024);
	assert_value("node_memory_Buffers_bytes", "", 2704.0 * 1024);
	assert_value("node_memory_Cached_bytes", "", 150256.0 * 1024);
	assert_value("node_memory_Active_anon_bytes", "", 1528.0 * 1024);
	assert_value("node_memory_Inactive_file_bytes", "", 35896.0 * 1024);
	assert_value("node_memory_Dirty_bytes", "", 180.0 * 1024);
	assert_value("node_memory_Slab_bytes", "", 191356.0 * 1024);
	assert_value("node_memory_VmallocTotal_bytes", "", 34359738367.0 * 1024);
	assert_value("node_memory_Hugepagesize_bytes", "", 2048.0 * 1024);
	assert_value("node_memory_DirectMap1G_bytes", "", 25165824.0 * 1024);
	assert_value("node_memory_HugePages_Total", "", 0);
	assert_value("node_memory_HugePages_Surp", "", 0);
	assert_absent("node_memory_HugePages_Total_bytes", "");
	assert_value("node_vmstat_pgpgin", "", 3190313);
	assert_value("node_vmstat_pgpgout", "", 1148240);
	assert_value("node_vmstat_pswpin", "", 0);
	assert_value("node_vmstat_pswpout", "", 0);
	assert_value("node_vmstat_pgfault", "", 24841290);
	assert_value("node_vmstat_pgmajfault", "", 4885);
	assert_value("node_vmstat_oom_kill", "", 0);
	assert_value("node_vmstat_nr_free_pages", "", 1131972);
	assert_int_equal(fakehost_n_samples(), 54 + 192);

	const struct fh_meta *mt = fakehost_meta("node_memory_MemAvailable_bytes");
	assert_non_null(mt);
	assert_int_equal(mt->type, BM_METRIC_GAUGE);
	assert_string_equal(mt->unit, "bytes");
	mt = fakehost_meta("node_memory_HugePages_Total");
	assert_int_equal(mt->type, BM_METRIC_GAUGE);
	assert_string_equal(mt->unit, "");
	assert_int_equal(fakehost_meta("node_vmstat_pgfault")->type, BM_METRIC_UNTYPED);
	assert_int_equal(fakehost_sample(0)->ts_ms, 1700000000000);

	/* second round: same again from the line cache */
	pt_collect_ok(&mem_ops, f.state, 1700000001000);
	assert_int_equal(fakehost_n_samples(), 2 * (54 + 192));
	/* the families went out with the first batch only */
	assert_int_equal(fakehost_count("node_vmstat_pgfault"), 2);
	assert_value("node_memory_Active_anon_bytes", "", 1528.0 * 1024);
	assert_value("node_vmstat_pgmajfault", "", 4885);
	assert_int_equal(fakehost_unsorted(), 0);
	fixture_close(&f);
}

static void test_vmstat_fields(void **unused)
{
	struct fixture f;
	conf_open(&f, "proc");
	pt_set_list(&f.conf.vmstat_fields, "nr_free_pages", "thp_fault_.*",
		    "workingset_refault_anon", NULL);
	f.state = pt_init(&mem_ops, &f.conf);
	pt_collect_ok(&mem_ops, f.state, 1);
	assert_value("node_vmstat_nr_free_pages", "", 1131972);
	assert_value("node_vmstat_thp_fault_alloc", "", 0);
	assert_value("node_vmstat_thp_fault_fallback", "", 0);
	assert_value("node_vmstat_workingset_refault_anon", "", 0);
	assert_absent("node_vmstat_pgfault", ""); /* anchored, not selected */
	assert_int_equal(fakehost_n_samples(), 54 + 5); /* thp_fault_alloc, _fallback, _fallback_charge */
	fixture_close(&f);
}

/* node_exporter's default selection, as the README shows it. */
static void test_vmstat_node_exporter_subset(void **unused)
{
	struct fixture f;
	conf_open(&f, "proc");
	pt_set_list(&f.conf.vmstat_fields, "^(oom_kill|pgpg|pswp|pg.*fault).*", NULL);
	f.state = pt_init(&mem_ops, &f.conf);
	pt_collect_ok(&mem_ops, f.state, 1);
	assert_int_equal(fakehost_n_samples(), 54 + 7);
	assert_value("node_vmstat_pgmajfault", "", 4885);
	assert_absent("node_vmstat_nr_free_pages", "");
	fixture_close(&f);
}

/* Metadata goes with the first batch of an instance only. */
static void test_metadata_once(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc");
	pt_collect_ok(&mem_ops, f.state, 1);
	assert_non_null(fakehost_meta("node_vmstat_pgfault"));
	fakehost_reset();
	pt_collect_ok(&mem_ops, f.state, 2);
	assert_int_equal(fakehost_n_samples(), 54 + 192);
	assert_null(fakehost_meta("node_vmstat_pgfault"));
	assert_null(fakehost_meta("node_memory_MemTotal_bytes"));
	fixture_close(&f);
}

static void test_bad_regex(void **unused)
{
	struct fixture f;
	conf_open(&f, "proc");
	pt_set_list(&f.conf.vmstat_fields, "pg(fault", NULL);
	pt_init_err(&mem_ops, &f.conf, BM_EINVAL, "vmstat_fields: bad pattern \"pg(fault\"", NULL);
	fixture_close(&f);
}

static void test_garbage(void **unused)
{
	struct fixture f;
	fixture_open(&f, "garbage/proc");
	pt_collect_err_none(&mem_ops, f.state, 1, BM_EPROTO,
			    "garbage/proc/meminfo: cannot parse line 1 \"MemTotal: lots\"", NULL);
	fixture_close(&f);
}

static void test_missing(void **unused)
{
	struct fixture f;
	fixture_open(&f, "does-not-exist/proc");
	pt_collect_err_none(&mem_ops, f.state, 1, BM_EIO,
			    "does-not-exist/proc/meminfo: No such file or directory", NULL);
	fixture_close(&f);
}

static void test_sanitize(void **unused)
{
	char out[MEM_KEY_MAX];
	mem_sanitize(out, sizeof(out), "Active(anon)", 12);
	assert_string_equal(out, "Active_anon");
	mem_sanitize(out, sizeof(out), "Inactive(file)", 14);
	assert_string_equal(out, "Inactive_file");
	mem_sanitize(out, sizeof(out), "Nfs-Unstable.x", 14);
	assert_string_equal(out, "Nfs_Unstable_x");
	mem_sanitize(out, sizeof(out), "Committed_AS", 12);
	assert_string_equal(out, "Committed_AS");
}

/* A field appears (memory hotplug, a new kernel feature) and another one
 * moves between two reads: the line cache follows. */
static void test_fields_change(void **unused)
{
	struct fixture f;
	char dir[64];
	pt_mkdtemp(dir, sizeof(dir), "bm-mem-test-");
	pt_write_file(dir, "meminfo", "MemTotal:  100 kB\nHugePages_Free:  3\n");
	pt_write_file(dir, "vmstat", "pgfault 10\nnr_free_pages 4\noom_kill 1\n");
	fixture_open(&f, dir);
	pt_collect_ok(&mem_ops, f.state, 1);
	assert_value("node_memory_MemTotal_bytes", "", 102400);
	assert_value("node_memory_HugePages_Free", "", 3);
	assert_value("node_vmstat_pgfault", "", 10);
	assert_value("node_vmstat_oom_kill", "", 1);
	assert_int_equal(fakehost_n_samples(), 5); /* every vmstat field by default */
	fakehost_reset();

	pt_write_file(dir, "meminfo",
		      "MemTotal:  100 kB\nActive(file):  7 kB\nHugePages_Free:  2\n");
	pt_write_file(dir, "vmstat", "nr_free_pages 4\npgmajfault 11\npgfault 12\noom_kill 2\n");
	pt_collect_ok(&mem_ops, f.state, 2);
	assert_value("node_memory_MemTotal_bytes", "", 102400);
	assert_value("node_memory_Active_file_bytes", "", 7168);
	assert_value("node_memory_HugePages_Free", "", 2);
	assert_value("node_vmstat_pgmajfault", "", 11);
	assert_value("node_vmstat_pgfault", "", 12);
	assert_value("node_vmstat_oom_kill", "", 2);
	assert_int_equal(fakehost_n_samples(), 7);
	fixture_close(&f);
	pt_rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_vmstat_fields),
		cmocka_unit_test(test_vmstat_node_exporter_subset),
		cmocka_unit_test(test_metadata_once),
		cmocka_unit_test(test_bad_regex),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_fields_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
