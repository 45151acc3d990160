/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/memory against the fake host and
 * tests/fixtures/memory/: meminfo and vmstat recorded on a 24 GiB VM, a
 * garbage meminfo, a missing root, vmstat field selection and fields that
 * change between two reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sys/stat.h>

#include "config_schema.h"
#include "fakehost.h"
#include "memory.c"

struct fixture {
	struct mem_conf conf;
	void *state;
};

#define assert_value(name, labels, want)                                                     \
	do {                                                                                 \
		double got_ = fakehost_value((name), (labels));                              \
		double want_ = (want);                                                       \
		if (!(fabs(got_ - want_) <= 1e-9 * fmax(1.0, fabs(want_))))                  \
			fail_msg("%s{%s} = %.17g, want %.17g", (name), (labels), got_, want_); \
	} while (0)

/* Defaults, proc_root set to root (absolute) or the fixture sub dir. */
static void conf_open(struct fixture *f, const char *sub)
{
	struct cfg_errs errs = {0};
	char root[PATH_MAX];
	const char *src = getenv("BM_SOURCE_DIR");
	assert_non_null(src);
	bm__host_api = fakehost_api();
	memset(f, 0, sizeof(*f));
	assert_int_equal(schema_defaults(mem_options, &f->conf, "test", &errs), 0);
	cfg_errs_free(&errs);
	if (sub[0] == '/' && strncmp(sub, "/tmp/", 5) == 0)
		snprintf(root, sizeof(root), "%s", sub);
	else
		snprintf(root, sizeof(root), "%s/tests/fixtures/memory%s/proc", src, sub);
	free(f->conf.proc_root);
	f->conf.proc_root = strdup(root);
}

static void set_fields(struct fixture *f, size_t n, const char *const *v)
{
	for (size_t i = 0; i < f->conf.vmstat_fields.n; i++)
		free(f->conf.vmstat_fields.v[i]);
	free(f->conf.vmstat_fields.v);
	f->conf.vmstat_fields.n = n;
	f->conf.vmstat_fields.v = n ? calloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n; i++)
		f->conf.vmstat_fields.v[i] = strdup(v[i]);
}

static void instance_open(struct fixture *f)
{
	struct bm_err err = {0};
	assert_int_equal(mem_init(fakehost_ctx(), &f->conf, &f->state, &err), 0);
}

static void fixture_close(struct fixture *f)
{
	if (f->state)
		mem_fini(f->state);
	schema_release(mem_options, &f->conf);
	fakehost_reset();
}

static void test_recorded(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	conf_open(&f, "");
	assert_int_equal(f.conf.vmstat_fields.n, 1);
	assert_string_equal(f.conf.vmstat_fields.v[0], "^(oom_kill|pgpg|pswp|pg.*fault).*");
	instance_open(&f);
	assert_int_equal(mem_collect(f.state, 1700000000000, &err), 0);
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
	assert_true(isnan(fakehost_value("node_memory_HugePages_Total_bytes", "")));
	assert_value("node_vmstat_pgpgin", "", 3190313);
	assert_value("node_vmstat_pgpgout", "", 1148240);
	assert_value("node_vmstat_pswpin", "", 0);
	assert_value("node_vmstat_pswpout", "", 0);
	assert_value("node_vmstat_pgfault", "", 24841290);
	assert_value("node_vmstat_pgmajfault", "", 4885);
	assert_value("node_vmstat_oom_kill", "", 0);
	assert_true(isnan(fakehost_value("node_vmstat_nr_free_pages", "")));
	assert_int_equal(fakehost_n_samples(), 54 + 7);

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
	assert_int_equal(mem_collect(f.state, 1700000001000, &err), 0);
	assert_int_equal(fakehost_n_samples(), 2 * (54 + 7));
	assert_value("node_memory_Active_anon_bytes", "", 1528.0 * 1024);
	assert_value("node_vmstat_pgmajfault", "", 4885);
	assert_int_equal(fakehost_unsorted(), 0);
	fixture_close(&f);
}

static void test_vmstat_fields(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	static const char *const pats[] = {"nr_free_pages", "thp_fault_.*", "workingset_refault_anon"};
	conf_open(&f, "");
	set_fields(&f, 3, pats);
	instance_open(&f);
	assert_int_equal(mem_collect(f.state, 1, &err), 0);
	assert_value("node_vmstat_nr_free_pages", "", 1131972);
	assert_value("node_vmstat_thp_fault_alloc", "", 0);
	assert_value("node_vmstat_thp_fault_fallback", "", 0);
	assert_value("node_vmstat_workingset_refault_anon", "", 0);
	assert_true(isnan(fakehost_value("node_vmstat_pgfault", ""))); /* anchored, not selected */
	assert_int_equal(fakehost_n_samples(), 54 + 5); /* thp_fault_alloc, _fallback, _fallback_charge */
	fixture_close(&f);
}

static void test_vmstat_all(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	conf_open(&f, "");
	set_fields(&f, 0, NULL);
	instance_open(&f);
	assert_int_equal(mem_collect(f.state, 1, &err), 0);
	assert_int_equal(fakehost_n_samples(), 54 + 192);
	assert_value("node_vmstat_nr_free_pages", "", 1131972);
	fixture_close(&f);
}

static void test_bad_regex(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	static const char *const pats[] = {"pg(fault"};
	conf_open(&f, "");
	set_fields(&f, 1, pats);
	assert_int_equal(mem_init(fakehost_ctx(), &f.conf, &f.state, &err), BM_EINVAL);
	assert_non_null(strstr(err.msg, "vmstat_fields: bad pattern \"pg(fault\""));
	f.state = NULL;
	fixture_close(&f);
}

static void test_garbage(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	conf_open(&f, "/garbage");
	instance_open(&f);
	assert_int_equal(mem_collect(f.state, 1, &err), BM_EPROTO);
	assert_non_null(strstr(err.msg, "garbage/proc/meminfo: cannot parse line 1 \"MemTotal: lots\""));
	assert_int_equal(fakehost_n_samples(), 0);
	fixture_close(&f);
}

static void test_missing(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	conf_open(&f, "/does-not-exist");
	instance_open(&f);
	assert_int_equal(mem_collect(f.state, 1, &err), BM_EIO);
	assert_non_null(strstr(err.msg, "does-not-exist/proc/meminfo: No such file or directory"));
	assert_int_equal(fakehost_n_samples(), 0);
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

static void write_file(const char *path, const char *text)
{
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	fclose(out);
}

/* A field appears (memory hotplug, a new kernel feature) and another one
 * moves between two reads: the line cache follows. */
static void test_fields_change(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	char dir[] = "/tmp/bm-mem-test-XXXXXX";
	char mi[PATH_MAX], vm[PATH_MAX];
	assert_non_null(mkdtemp(dir));
	snprintf(mi, sizeof(mi), "%s/meminfo", dir);
	snprintf(vm, sizeof(vm), "%s/vmstat", dir);
	write_file(mi, "MemTotal:  100 kB\nHugePages_Free:  3\n");
	write_file(vm, "pgfault 10\nnr_free_pages 4\noom_kill 1\n");
	conf_open(&f, dir);
	instance_open(&f);
	assert_int_equal(mem_collect(f.state, 1, &err), 0);
	assert_value("node_memory_MemTotal_bytes", "", 102400);
	assert_value("node_memory_HugePages_Free", "", 3);
	assert_value("node_vmstat_pgfault", "", 10);
	assert_value("node_vmstat_oom_kill", "", 1);
	assert_int_equal(fakehost_n_samples(), 4);
	fakehost_reset();

	write_file(mi, "MemTotal:  100 kB\nActive(file):  7 kB\nHugePages_Free:  2\n");
	write_file(vm, "nr_free_pages 4\npgmajfault 11\npgfault 12\noom_kill 2\n");
	assert_int_equal(mem_collect(f.state, 2, &err), 0);
	assert_value("node_memory_MemTotal_bytes", "", 102400);
	assert_value("node_memory_Active_file_bytes", "", 7168);
	assert_value("node_memory_HugePages_Free", "", 2);
	assert_value("node_vmstat_pgmajfault", "", 11);
	assert_value("node_vmstat_pgfault", "", 12);
	assert_value("node_vmstat_oom_kill", "", 2);
	assert_int_equal(fakehost_n_samples(), 6);
	fixture_close(&f);
	unlink(mi);
	unlink(vm);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_vmstat_fields),
		cmocka_unit_test(test_vmstat_all),
		cmocka_unit_test(test_bad_regex),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_fields_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
