/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/diskstats against the fake host and
 * tests/fixtures/diskstats/: a file recorded on the build VM, a pre-4.18
 * kernel format, a sequence with a 32-bit wrap and a device that vanishes
 * and comes back, garbage lines and a missing file.
 */
#include "plugintest.h"
#include "diskstats.c"

struct fixture {
	struct ds_conf conf;
	void *state;
};

/* Defaults, proc_root at tests/fixtures/diskstats/<sub> (or at an absolute
 * sub); init not called. */
static void fixture_conf(struct fixture *f, const char *sub)
{
	pt_fixture_begin(f, ds_options);
	assert_string_equal(f->conf.proc_root, "/proc");
	assert_int_equal(f->conf.exclude.n, 1);
	assert_string_equal(f->conf.exclude.v[0], DS_DEFAULT_EXCLUDE);
	assert_int_equal(f->conf.include.n, 0);
	pt_set_fixture(&f->conf.proc_root, "diskstats", sub);
}

/* The same, with the instance started. */
static void fixture_open(struct fixture *f, const char *sub)
{
	fixture_conf(f, sub);
	f->state = pt_init(&ds_ops, &f->conf);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&ds_ops, ds_options, f->state, &f->conf);
}

/* Point the running instance at another fixture directory. */
static void switch_root(struct fixture *f, const char *sub)
{
	struct ds_state *s = f->state;
	pt_fixture_file(s->path, sizeof(s->path), "diskstats", sub, "diskstats");
}

static void test_recorded(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc");
	pt_collect_ok(&ds_ops, f.state, 1000);
	/* vda 155733 30861 6914954 106635 34261 36596 2330984 8041 0 30952 116080
	 *     16918 75 1159000 1377 836 25 */
	const char *l = "device=vda";
	assert_value("node_disk_reads_completed_total", l, 155733);
	assert_value("node_disk_reads_merged_total", l, 30861);
	assert_value("node_disk_read_bytes_total", l, 6914954.0 * 512);
	assert_value("node_disk_read_time_seconds_total", l, 106.635);
	assert_value("node_disk_writes_completed_total", l, 34261);
	assert_value("node_disk_writes_merged_total", l, 36596);
	assert_value("node_disk_written_bytes_total", l, 2330984.0 * 512);
	assert_value("node_disk_write_time_seconds_total", l, 8.041);
	assert_value("node_disk_io_now", l, 0);
	assert_value("node_disk_io_time_seconds_total", l, 30.952);
	assert_value("node_disk_io_time_weighted_seconds_total", l, 116.080);
	assert_value("node_disk_discards_completed_total", l, 16918);
	assert_value("node_disk_discards_merged_total", l, 75);
	assert_value("node_disk_discarded_sectors_total", l, 1159000);
	assert_value("node_disk_discard_time_seconds_total", l, 1.377);
	assert_value("node_disk_flush_requests_total", l, 836);
	assert_value("node_disk_flush_requests_time_seconds_total", l, 0.025);
	assert_value("node_disk_reads_completed_total", "device=zram0", 0);
	/* loop0..7 are excluded by default: vda and zram0 only */
	for (size_t m = 0; m < DS_N_METRICS; m++) {
		assert_int_equal(fakehost_count(ds_metrics[m].name), 2);
		const struct fh_meta *meta = fakehost_meta(ds_metrics[m].name);
		assert_non_null(meta);
		assert_int_equal(meta->type, ds_metrics[m].type);
	}
	assert_int_equal(fakehost_meta("node_disk_io_now")->type, BM_METRIC_GAUGE);
	assert_string_equal(fakehost_meta("node_disk_read_bytes_total")->unit, "bytes");
	assert_string_equal(fakehost_meta("node_disk_io_time_seconds_total")->unit, "seconds");
	assert_absent("node_disk_reads_completed_total", "device=loop0");
	assert_int_equal(fakehost_unsorted(), 0);
	assert_int_equal(fakehost_sample(0)->ts_ms, 1000);
	fixture_close(&f);
}

static void test_include_exclude(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "proc");
	pt_set_list(&f.conf.exclude, "loop[4-7]", NULL);
	pt_set_list(&f.conf.include, "loop[0-9]+", NULL);
	f.state = pt_init(&ds_ops, &f.conf);
	pt_collect_ok(&ds_ops, f.state, 1000);
	assert_int_equal(fakehost_count("node_disk_reads_completed_total"), 4);
	assert_value("node_disk_reads_completed_total", "device=loop3", 0);
	assert_absent("node_disk_reads_completed_total", "device=loop4");
	assert_absent("node_disk_reads_completed_total", "device=vda");
	fixture_close(&f);
}

static void test_bad_regex(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "proc");
	pt_set_list(&f.conf.exclude, "sd(a", NULL);
	pt_init_err(&ds_ops, &f.conf, BM_EINVAL, "sd(a", "exclude", NULL);
	fixture_close(&f);
}

/* Pre-4.18 kernels: 11 fields, no discard or flush families at all;
 * partitions (sda1, nvme0n1p1) skipped, dm-0 and nvme0n1 kept. */
static void test_old_kernel(void **unused)
{
	struct fixture f;
	fixture_open(&f, "old_kernel");
	pt_collect_ok(&ds_ops, f.state, 1000);
	assert_int_equal(fakehost_count("node_disk_reads_completed_total"), 3);
	assert_value("node_disk_reads_completed_total", "device=sda", 9041);
	assert_value("node_disk_io_time_weighted_seconds_total", "device=sda", 17.872);
	assert_value("node_disk_io_now", "device=nvme0n1", 1);
	assert_value("node_disk_written_bytes_total", "device=dm-0", 160.0 * 512);
	assert_absent("node_disk_reads_completed_total", "device=sda1");
	assert_absent("node_disk_reads_completed_total", "device=nvme0n1p1");
	assert_null(fakehost_meta("node_disk_discards_completed_total"));
	assert_null(fakehost_meta("node_disk_flush_requests_total"));
	assert_int_equal(fakehost_count("node_disk_discards_completed_total"), 0);
	fixture_close(&f);
}

/* wrap/1..5: sda wraps (4294967000 -> 100), vanishes, comes back (reset),
 * then steps back a little (reset); sdb's 64-bit reads_merged drops (reset). */
static void test_wrap_and_vanish(void **unused)
{
	const double two32 = 4294967296.0;
	struct fixture f;
	fixture_open(&f, "wrap/1");

	pt_collect_ok(&ds_ops, f.state, 1000);
	assert_value("node_disk_reads_completed_total", "device=sda", 4294967000.0);
	assert_value("node_disk_read_bytes_total", "device=sda", 4294967000.0 * 512);
	assert_value("node_disk_read_time_seconds_total", "device=sda", 4294967.000);
	assert_value("node_disk_io_now", "device=sda", 5);
	assert_value("node_disk_reads_merged_total", "device=sdb", 5000000000.0);

	switch_root(&f, "wrap/2");
	pt_collect_ok(&ds_ops, f.state, 2000);
	assert_value("node_disk_reads_completed_total", "device=sda", two32 + 100);
	assert_value("node_disk_reads_completed_total", "device=sda", 4294967396.0);
	assert_value("node_disk_read_bytes_total", "device=sda", (two32 + 100) * 512);
	assert_value("node_disk_read_time_seconds_total", "device=sda", (two32 + 100) / 1000);
	assert_value("node_disk_io_time_seconds_total", "device=sda", (two32 + 100) / 1000);
	assert_value("node_disk_io_time_weighted_seconds_total", "device=sda", (two32 + 100) / 1000);
	/* a gauge going down is not a wrap */
	assert_value("node_disk_io_now", "device=sda", 2);
	/* fields that grew stay as read */
	assert_value("node_disk_writes_completed_total", "device=sda", 11);
	assert_value("node_disk_reads_completed_total", "device=sdb", 2);

	/* sda vanishes: no series, its state is dropped */
	switch_root(&f, "wrap/3");
	size_t before = fakehost_n_samples();
	pt_collect_ok(&ds_ops, f.state, 3000);
	assert_int_equal(pt_count_labels(before, "device=sda"), 0);
	assert_value("node_disk_reads_completed_total", "device=sdb", 3);
	assert_int_equal(((struct ds_state *)f.state)->n_dev, 1);

	/* sda is back with 100: a reset, published as read, not 2^32 + 100 */
	switch_root(&f, "wrap/4");
	pt_collect_ok(&ds_ops, f.state, 4000);
	assert_value("node_disk_reads_completed_total", "device=sda", 100);
	assert_value("node_disk_read_time_seconds_total", "device=sda", 0.1);

	/* a small step back (100 -> 50) is a reset too; so is a drop of a
	 * counter already past 2^32 (sdb reads_merged 5e9 -> 100) */
	switch_root(&f, "wrap/5");
	pt_collect_ok(&ds_ops, f.state, 5000);
	assert_value("node_disk_reads_completed_total", "device=sda", 50);
	assert_value("node_disk_reads_merged_total", "device=sdb", 100);
	assert_value("node_disk_reads_completed_total", "device=sdb", 5);
	fixture_close(&f);
}

static void test_counter32(void **unused)
{
	struct counter32 c = {0};
	assert_int_equal(counter32_unwrap(&c, 4294967000u), 4294967000u);
	assert_int_equal(counter32_unwrap(&c, 100), UINT64_C(4294967396));
	assert_int_equal(counter32_unwrap(&c, 4294967000u), UINT64_C(8589934296));
	assert_int_equal(counter32_unwrap(&c, 5), UINT64_C(8589934597)); /* second wrap */
	assert_int_equal(counter32_unwrap(&c, 3), 3);                   /* reset */
	memset(&c, 0, sizeof(c));
	assert_int_equal(counter32_unwrap(&c, UINT64_C(10000000000)), UINT64_C(10000000000));
	assert_int_equal(counter32_unwrap(&c, 7), 7); /* 64-bit counter: reset */
}

static void test_garbage(void **unused)
{
	struct fixture f;
	fixture_open(&f, "garbage");
	pt_collect_ok(&ds_ops, f.state, 1000);
	/* sda (first line wins over its duplicate), sde (19 fields: the 17
	 * known ones), sdg (no trailing newline); every other line skipped */
	assert_int_equal(fakehost_count("node_disk_reads_completed_total"), 3);
	assert_value("node_disk_reads_completed_total", "device=sda", 1);
	assert_value("node_disk_flush_requests_time_seconds_total", "device=sde", 0.017);
	assert_value("node_disk_reads_completed_total", "device=sdg", 1);
	assert_absent("node_disk_reads_completed_total", "device=sdb");
	assert_absent("node_disk_reads_completed_total", "device=sdf");
	assert_absent("node_disk_flush_requests_total", "device=sdg");
	assert_non_null(strstr(fakehost_last_log(BM_LOG_DEBUG), "skipping malformed line"));
	assert_true(((struct ds_state *)f.state)->warned_garbage);
	fixture_close(&f);
}

static void test_missing_file(void **unused)
{
	struct fixture f;
	fixture_open(&f, "no-such-dir");
	pt_collect_err_none(&ds_ops, f.state, 1000, BM_EIO, "no-such-dir/diskstats", "No such file",
			    NULL);
	fixture_close(&f);
}

/* The live file, twice: the state settles and nothing is reallocated. */
static void test_live(void **unused)
{
	struct fixture f;
	fixture_open(&f, "/proc");
	pt_collect_ok(&ds_ops, f.state, 1000);
	struct ds_state *s = f.state;
	char *buf = s->buf;
	struct ds_dev *dev = s->dev;
	pt_collect_ok(&ds_ops, f.state, 2000);
	assert_ptr_equal(buf, s->buf);
	assert_ptr_equal(dev, s->dev);
	assert_true(fakehost_count("node_disk_io_now") > 0);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_include_exclude),
		cmocka_unit_test(test_bad_regex),
		cmocka_unit_test(test_old_kernel),
		cmocka_unit_test(test_wrap_and_vanish),
		cmocka_unit_test(test_counter32),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
