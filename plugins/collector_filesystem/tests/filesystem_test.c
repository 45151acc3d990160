/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/filesystem against the fake host and
 * tests/fixtures/filesystem/: mountinfo recorded on the build VM, a
 * hand-made mountinfo with escapes, duplicates, garbage and filtered
 * mounts, a /proc/mounts-only tree, and a statvfs that hangs (a fake
 * statvfs, so values are exact and the hang is under the test's control).
 */
#include <stdatomic.h>

#include "plugintest.h"
#include "filesystem.c"

#define L_ROOT "device=/dev/vda,fstype=ext4,mountpoint=/"
#define L_DATA "device=/dev/sdb1,fstype=xfs,mountpoint=/data"
#define L_DISK "device=/dev/sdc,fstype=ext4,mountpoint=/mnt/my disk"
#define L_HANG "device=server:/export,fstype=nfs4,mountpoint=/mnt/hang"
#define L_BROKEN "device=/dev/sdd,fstype=ext4,mountpoint=/mnt/broken"
#define L_DEVICES "device=tmpfs,fstype=tmpfs,mountpoint=/devices"

static atomic_bool hang_on;
static atomic_int hang_calls;

/* statvfs stand-in: fixed numbers; "/mnt/hang" blocks while hang_on;
 * "/mnt/broken" fails with EIO; "/data" reports only f_bsize. */
static int fake_stat(const char *path, struct statvfs *sv)
{
	if (strcmp(path, "/mnt/hang") == 0) {
		atomic_fetch_add(&hang_calls, 1);
		while (atomic_load(&hang_on))
			usleep(1000);
	}
	if (strcmp(path, "/mnt/broken") == 0) {
		errno = EIO;
		return -1;
	}
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = strcmp(path, "/data") == 0 ? 0 : 4096;
	sv->f_blocks = 1000;
	sv->f_bfree = 500;
	sv->f_bavail = 400;
	sv->f_files = 100;
	sv->f_ffree = 50;
	return 0;
}

struct fixture {
	struct fs_conf conf;
	void *state;
};

static void fixture_conf(struct fixture *f, const char *sub)
{
	pt_fixture_begin(f, fs_options);
	assert_string_equal(f->conf.proc_root, "/proc");
	assert_string_equal(f->conf.rootfs_prefix, "");
	assert_int_equal(f->conf.stat_timeout, 5000);
	assert_int_equal(f->conf.stat_backoff, 60000);
	assert_string_equal(f->conf.fstypes_exclude.v[0], FS_DEFAULT_FSTYPES_EXCLUDE);
	assert_string_equal(f->conf.mountpoints_exclude.v[0], FS_DEFAULT_MOUNTPOINTS_EXCLUDE);
	pt_set_fixture(&f->conf.proc_root, "filesystem", sub);
}

/* init; with fake, statvfs is fake_stat */
static void fixture_init(struct fixture *f, bool fake)
{
	f->state = pt_init(&fs_ops, &f->conf);
	if (fake)
		((struct fs_state *)f->state)->statfn = fake_stat;
}

static void fixture_close(struct fixture *f)
{
	pt_close(&fs_ops, fs_options, f->state, &f->conf);
}

static void check_fake_values(const char *l)
{
	assert_value("node_filesystem_size_bytes", l, 4096000);
	assert_value("node_filesystem_free_bytes", l, 2048000);
	assert_value("node_filesystem_avail_bytes", l, 1638400);
	assert_value("node_filesystem_files", l, 100);
	assert_value("node_filesystem_files_free", l, 50);
	assert_value("node_filesystem_device_error", l, 0);
}

static void test_edge(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "edge");
	fixture_init(&f, true);
	atomic_store(&hang_on, false);
	pt_collect_ok(&fs_ops, f.state, 1000);
	/* kept: / /data "/mnt/my disk" /mnt/hang /mnt/broken /devices; the
	 * duplicate /data, /proc, overlay, /run/credentials/..., /dev/shm,
	 * and two malformed lines are not */
	assert_int_equal(fakehost_count("node_filesystem_device_error"), 6);
	assert_int_equal(fakehost_count("node_filesystem_readonly"), 6);
	assert_int_equal(fakehost_count("node_filesystem_size_bytes"), 5);
	check_fake_values(L_ROOT);
	check_fake_values(L_DATA); /* f_frsize 0: f_bsize is used */
	check_fake_values(L_DISK); /* \040 unescaped */
	check_fake_values(L_HANG);
	check_fake_values(L_DEVICES);
	assert_value("node_filesystem_device_error", L_BROKEN, 1);
	assert_absent("node_filesystem_size_bytes", L_BROKEN);
	assert_value("node_filesystem_readonly", L_ROOT, 0);
	assert_value("node_filesystem_readonly", L_DATA, 1);   /* superblock ro */
	assert_value("node_filesystem_readonly", L_BROKEN, 1); /* mount ro */
	assert_value("node_filesystem_readonly", L_HANG, 0);
	assert_absent("node_filesystem_readonly", "device=tmpfs,fstype=tmpfs,mountpoint=/dev/shm");
	assert_absent("node_filesystem_readonly", "device=proc,fstype=proc,mountpoint=/proc");
	const char *gauges[] = {"node_filesystem_size_bytes", "node_filesystem_free_bytes",
				"node_filesystem_avail_bytes", "node_filesystem_files",
				"node_filesystem_files_free", "node_filesystem_readonly",
				"node_filesystem_device_error"};
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
		assert_int_equal(fakehost_meta(gauges[i])->type, BM_METRIC_GAUGE);
	assert_string_equal(fakehost_meta("node_filesystem_avail_bytes")->unit, "bytes");
	assert_int_equal(fakehost_unsorted(), 0);
	assert_true(((struct fs_state *)f.state)->warned_garbage);

	/* second round: same answer from the verdict cache, no new threads */
	struct fs_state *s = f.state;
	struct fs_worker *w = s->active;
	pt_collect_ok(&fs_ops, f.state, 2000);
	assert_ptr_equal(w, s->active);
	assert_int_equal(fakehost_count("node_filesystem_device_error"), 12);
	check_fake_values(L_DEVICES);
	fixture_close(&f);
}

static void test_recorded(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "proc");
	fixture_init(&f, true);
	pt_collect_ok(&fs_ops, f.state, 1000);
	/* / and the tmpfs under /mnt; proc, sysfs, cgroup, devpts, /dev/... are not */
	assert_int_equal(fakehost_count("node_filesystem_device_error"), 2);
	check_fake_values(L_ROOT);
	const char *py = "device=model_tools_unavailable,fstype=tmpfs,"
			 "mountpoint=/mnt/sandboxing/model_tools_env/v1/python";
	check_fake_values(py);
	assert_value("node_filesystem_readonly", py, 1);
	fixture_close(&f);
}

static void test_timeout_and_backoff(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "edge");
	f.conf.stat_timeout = 50;
	f.conf.stat_backoff = 3600 * 1000;
	/* /mnt/broken's debug line would be the last log */
	pt_set_list(&f.conf.mountpoints_exclude, "/mnt/broken|/dev/.*|/run/.*", NULL);
	fixture_init(&f, true);
	struct fs_state *s = f.state;
	atomic_store(&hang_calls, 0);
	atomic_store(&hang_on, true);

	int64_t t0 = fs_mono_ms();
	pt_collect_ok(&fs_ops, f.state, 1000);
	assert_true(fs_mono_ms() - t0 < 2000);
	assert_value("node_filesystem_device_error", L_HANG, 1);
	assert_absent("node_filesystem_size_bytes", L_HANG);
	check_fake_values(L_ROOT);
	check_fake_values(L_DEVICES); /* after the hung one: a new worker took over */
	assert_int_equal(fakehost_count("node_filesystem_device_error"), 5);
	assert_int_equal(s->n_stuck, 1);
	assert_string_equal(s->stuck[0].path, "/mnt/hang");
	assert_int_equal(atomic_load(&hang_calls), 1);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "did not return within 50 ms"));

	/* still hung: skipped without a new statvfs (no thread pile-up) */
	t0 = fs_mono_ms();
	pt_collect_ok(&fs_ops, f.state, 2000);
	assert_true(fs_mono_ms() - t0 < 40);
	assert_value("node_filesystem_device_error", L_HANG, 1);
	check_fake_values(L_DEVICES);
	assert_int_equal(atomic_load(&hang_calls), 1);

	/* it returns, but the backoff has not passed: still skipped */
	atomic_store(&hang_on, false);
	for (int i = 0; i < 2000 && !fs_worker_exited(s->stuck[0].w); i++)
		usleep(1000);
	assert_true(fs_worker_exited(s->stuck[0].w));
	pt_collect_ok(&fs_ops, f.state, 3000);
	assert_value("node_filesystem_device_error", L_HANG, 1);
	assert_int_equal(atomic_load(&hang_calls), 1);

	/* backoff over: retried, and fine now */
	s->stuck[0].retry_ms = 0;
	pt_collect_ok(&fs_ops, f.state, 4000);
	assert_int_equal(atomic_load(&hang_calls), 2);
	assert_int_equal(s->n_stuck, 0);
	check_fake_values(L_HANG);
	fixture_close(&f);
}

/* fini while a statvfs hangs: the worker is left to free itself. */
static void test_fini_while_hung(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "edge");
	f.conf.stat_timeout = 20;
	fixture_init(&f, true);
	atomic_store(&hang_calls, 0);
	atomic_store(&hang_on, true);
	pt_collect_ok(&fs_ops, f.state, 1000);
	assert_value("node_filesystem_device_error", L_HANG, 1);
	fixture_close(&f);
	atomic_store(&hang_on, false);
	usleep(100 * 1000); /* let the detached worker return and free itself */
	assert_int_equal(atomic_load(&hang_calls), 1);
}

static void test_real_statvfs(void **unused)
{
	(void)unused;
	struct fixture f;
	char prefix[PATH_MAX], data[PATH_MAX + 8];
	fixture_conf(&f, "edge");
	pt_fixture_path(prefix, sizeof(prefix), "filesystem", "rootfs");
	pt_set_str(&f.conf.rootfs_prefix, prefix);
	fixture_init(&f, false);
	pt_collect_ok(&fs_ops, f.state, 1000);
	struct statvfs sv;
	snprintf(data, sizeof(data), "%s/data", prefix);
	assert_int_equal(statvfs(data, &sv), 0);
	double bs = (double)sv.f_frsize;
	assert_value("node_filesystem_device_error", L_DATA, 0);
	assert_value("node_filesystem_size_bytes", L_DATA, (double)sv.f_blocks * bs);
	assert_value("node_filesystem_files", L_DATA, (double)sv.f_files);
	assert_value("node_filesystem_device_error", L_ROOT, 0);
	assert_true(fakehost_value("node_filesystem_size_bytes", L_ROOT) > 0);
	/* not in the fixture tree: ENOENT */
	assert_value("node_filesystem_device_error", L_HANG, 1);
	assert_value("node_filesystem_device_error", L_DISK, 1);
	assert_absent("node_filesystem_size_bytes", L_DISK);
	fixture_close(&f);
}

/* This machine's /proc: the mount table stays open and, with no mount
 * change, is not read again; the samples are the same. */
static void test_live_table_kept(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "/proc");
	fixture_init(&f, true);
	struct fs_state *s = f.state;
	pt_collect_ok(&fs_ops, f.state, 1000);
	if (s->table.fd < 0) { /* /proc is not procfs here */
		fixture_close(&f);
		skip();
	}
	size_t n = fakehost_n_samples();
	assert_true(s->parsed);
	assert_true(fs_table_unchanged(s));
	const char *buf = s->buf;
	fakehost_reset();
	pt_collect_ok(&fs_ops, f.state, 2000);
	assert_int_equal(fakehost_n_samples(), n);
	assert_ptr_equal(s->buf, buf);
	fixture_close(&f);
}

static void test_mounts_fallback(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "mounts_only");
	fixture_init(&f, true);
	pt_collect_ok(&fs_ops, f.state, 1000);
	assert_true(((struct fs_state *)f.state)->use_mounts);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "reading"));
	assert_int_equal(fakehost_count("node_filesystem_device_error"), 3);
	check_fake_values(L_ROOT);
	check_fake_values(L_DATA);
	assert_value("node_filesystem_readonly", L_DATA, 1);
	assert_value("node_filesystem_readonly", "device=tmpfs,fstype=tmpfs,mountpoint=/run", 0);
	fixture_close(&f);
}

static void test_missing(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "no-such-dir");
	fixture_init(&f, true);
	pt_collect_err_none(&fs_ops, f.state, 1000, BM_EIO, "no-such-dir/mounts", "No such file",
			    NULL);
	fixture_close(&f);
}

static void test_filters(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "edge");
	pt_set_list(&f.conf.fstypes_include, "ext4", NULL);
	pt_set_list(&f.conf.mountpoints_exclude, "/mnt/b.*", NULL);
	fixture_init(&f, true);
	pt_collect_ok(&fs_ops, f.state, 1000);
	assert_int_equal(fakehost_count("node_filesystem_device_error"), 2);
	check_fake_values(L_ROOT);
	check_fake_values(L_DISK);
	fixture_close(&f);

	fixture_conf(&f, "edge");
	pt_set_list(&f.conf.mountpoints_include, "/mnt/(", NULL);
	pt_init_err(&fs_ops, &f.conf, BM_EINVAL, "mountpoints_include", "/mnt/(", NULL);
	fixture_close(&f);
}

static void test_unescape(void **unused)
{
	(void)unused;
	char a[] = "/mnt/a\\040b\\011c\\134d\\999";
	fs_unescape(a);
	assert_string_equal(a, "/mnt/a b\tc\\d\\999");
	assert_true(fs_has_opt("rw,ro", "ro"));
	assert_false(fs_has_opt("rw,errors=remount-ro", "ro"));
	assert_false(fs_has_opt(NULL, "ro"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge),
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_timeout_and_backoff),
		cmocka_unit_test(test_fini_while_hung),
		cmocka_unit_test(test_real_statvfs),
		cmocka_unit_test(test_live_table_kept),
		cmocka_unit_test(test_mounts_fallback),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_unescape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
