/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/cgroup against the fake host and
 * tests/fixtures/cgroup/: a hybrid hierarchy recorded on the build VM, a
 * hand-made pure v2 tree, a hand-made legacy v1 tree (cpu,cpuacct
 * co-mounted, no unified mount), and trees built at run time for cgroups
 * that vanish during the walk and for the count and depth caps.
 */
#define _GNU_SOURCE /* the plugin uses getdents64, memmem, strchrnul */
#include <time.h>

#define PT_VALUE_TOLERANCE 1e-12
#include "plugintest.h"
#define CG_TESTING
#include "cgroup.c"

#define DOCKER_ID "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
#define CRI_ID "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999"
#define LEGACY_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HYB_A "/process_api/dce7f648a84c6028fbec4cafbb842265"
#define HYB_B "/process_api/f756934fd905bc252a89ed182564752b"

struct fixture {
	struct cg_conf conf;
	struct cg *state;
	char tmp[64]; /* a run-time tree or proc dir in /tmp to remove at close */
};

/* Defaults, then root/proc_root/sys_root inside fixture `sub` (NULL: leave). */
static void fixture_conf(struct fixture *f, const char *sub)
{
	pt_fixture_begin(f, cg_options);
	assert_string_equal(f->conf.root, "/sys/fs/cgroup");
	assert_string_equal(f->conf.proc_root, "/proc");
	assert_string_equal(f->conf.sys_root, "/sys");
	assert_int_equal(f->conf.mode, CG_MODE_AUTO);
	assert_int_equal(f->conf.max_depth, 3);
	assert_int_equal(f->conf.max_cgroups, 500);
	assert_int_equal(f->conf.include.n, 0);
	assert_int_equal(f->conf.exclude.n, 0);
	if (!sub)
		return;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/sys/fs/cgroup", sub);
	pt_set_fixture(&f->conf.root, "cgroup", p);
	snprintf(p, sizeof(p), "%s/proc", sub);
	pt_set_fixture(&f->conf.proc_root, "cgroup", p);
	snprintf(p, sizeof(p), "%s/sys", sub);
	pt_set_fixture(&f->conf.sys_root, "cgroup", p);
}

/* A proc dir in /tmp whose self/mountinfo is the fixture's with every
 * "/sys/fs/cgroup" mount point moved to the fixture's own root, so that the
 * mountinfo path of the detection runs (not the tree fallback). */
static void fixture_mountinfo(struct fixture *f, const char *sub)
{
	char src[PATH_MAX], line[4096], dir[PATH_MAX];
	snprintf(line, sizeof(line), "%s/proc/self/mountinfo", sub);
	pt_fixture_path(src, sizeof(src), "cgroup", line);
	pt_mkdtemp(f->tmp, sizeof(f->tmp), "cgroup_test.");
	snprintf(dir, sizeof(dir), "%s/self", f->tmp);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/self/mountinfo", f->tmp);
	FILE *in = fopen(src, "r"), *out = fopen(dir, "w");
	assert_non_null(in);
	assert_non_null(out);
	while (fgets(line, sizeof(line), in)) {
		char *m = strstr(line, " /sys/fs/cgroup");
		if (m) {
			*m = '\0';
			fprintf(out, "%s %s%s", line, f->conf.root, m + strlen(" /sys/fs/cgroup"));
		} else {
			fputs(line, out);
		}
	}
	fclose(in);
	fclose(out);
	pt_set_str(&f->conf.proc_root, f->tmp);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&cg_ops, cg_options, f->state, &f->conf);
	if (f->tmp[0])
		pt_rm_tree(f->tmp);
	cg_test_before_open = NULL;
	cg_test_kernfs = false;
}

/* ------------------------------------------------------------------ */

static void check_hybrid(struct fixture *f)
{
	struct cg *p = f->state;
	assert_int_equal(p->layout, CG_LAYOUT_HYBRID);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO),
			       "hybrid hierarchy; reading cpu, cpuacct, memory, blkio, pids, unified "
			       "(numbers from the v1 controllers, pressure from the unified mount)"));
	pt_collect_ok(&cg_ops, f->state, 1700000000000);
	assert_int_equal(fakehost_unsorted(), 0);
	assert_int_equal(fakehost_sample(0)->ts_ms, 1700000000000);

	/* cpuacct (ns) */
	assert_value("container_cpu_usage_seconds_total", "cgroup=/", 1178.778492468);
	/* cpuacct.stat: user 99540, system 18338 ticks of USER_HZ */
	assert_value("container_cpu_user_seconds_total", "cgroup=/", 99540 / (double)p->clk_tck);
	assert_value("container_cpu_system_seconds_total", "cgroup=/", 18338 / (double)p->clk_tck);
	/* cpu: no quota (-1) */
	assert_value("container_cpu_cfs_periods_total", "cgroup=/", 0);
	assert_value("container_cpu_cfs_throttled_periods_total", "cgroup=/", 0);
	assert_value("container_cpu_cfs_throttled_seconds_total", "cgroup=/", 0);
	assert_value("container_spec_cpu_period", "cgroup=/", 100000);
	assert_int_equal(fakehost_count("container_spec_cpu_quota"), 0);
	/* memory: total_* figures, unlimited limits skipped */
	assert_value("container_memory_usage_bytes", "cgroup=/", 407379968);
	assert_value("container_memory_working_set_bytes", "cgroup=/", 407379968.0 - 134520832);
	assert_value("container_memory_rss", "cgroup=/", 23650304);
	assert_value("container_memory_failures_total", "cgroup=/,failure_type=pgfault,scope=container", 77755);
	assert_value("container_memory_failures_total", "cgroup=/,failure_type=pgmajfault,scope=container", 0);
	assert_value("container_memory_failures_total", "cgroup=/,failure_type=pgfault,scope=hierarchy",
		     33747287);
	assert_value("container_memory_failures_total", "cgroup=/,failure_type=pgmajfault,scope=hierarchy",
		     6020);
	assert_value("container_memory_cache", "cgroup=/", 383950848);
	assert_value("container_memory_mapped_file", "cgroup=/", 13479936);
	assert_value("container_memory_swap", "cgroup=/", 0);
	assert_value("container_memory_max_usage_bytes", "cgroup=/", 1479450624);
	assert_value("container_memory_failcnt", "cgroup=/", 0);
	assert_value("container_oom_events_total", "cgroup=/", 0);
	assert_int_equal(fakehost_count("container_spec_memory_limit_bytes"), 0);
	assert_int_equal(fakehost_count("container_spec_memory_reservation_limit_bytes"), 0);
	assert_value("container_memory_usage_bytes", "cgroup=/process_api", 566411264);
	assert_value("container_memory_rss", "cgroup=/process_api", 13000704);
	assert_value("container_memory_usage_bytes", "cgroup=" HYB_A, 5496832);
	assert_value("container_memory_working_set_bytes", "cgroup=" HYB_A, 5496832 - 184320);
	assert_value("container_memory_rss", "cgroup=" HYB_A, 1839104);
	assert_value("container_memory_max_usage_bytes", "cgroup=" HYB_B, 4132864);
	assert_value("container_memory_cache", "cgroup=" HYB_B, 73728);
	/* 32-hex names are not container ids; no unit suffix */
	assert_int_equal(fakehost_count("container_memory_usage_bytes"), 4);
	/* blkio has only "Total 0", pids no files at the root */
	assert_int_equal(fakehost_count("container_fs_reads_bytes_total"), 0);
	assert_int_equal(fakehost_count("container_tasks"), 0);
	/* pressure from the unified mount */
	assert_value("container_pressure_cpu_waiting_seconds_total", "cgroup=/", 61.242277);
	assert_value("container_pressure_cpu_stalled_seconds_total", "cgroup=/", 0);
	assert_value("container_pressure_io_waiting_seconds_total", "cgroup=/", 6.652888);
	assert_value("container_pressure_io_stalled_seconds_total", "cgroup=/", 6.103268);
	assert_value("container_pressure_memory_waiting_seconds_total", "cgroup=/", 0);
	/* unified's own cpu.stat is not used on a hybrid host */
	assert_int_equal(fakehost_count("container_cpu_usage_seconds_total"), 1);
	assert_value("bearmon_cgroup_cgroups", "", 4);
	assert_value("bearmon_cgroup_dropped_total", "", 0);

	assert_int_equal(fakehost_meta("container_cpu_usage_seconds_total")->type, BM_METRIC_COUNTER);
	assert_string_equal(fakehost_meta("container_cpu_usage_seconds_total")->unit, "seconds");
	assert_int_equal(fakehost_meta("container_memory_usage_bytes")->type, BM_METRIC_GAUGE);
	assert_string_equal(fakehost_meta("container_memory_usage_bytes")->unit, "bytes");
	assert_int_equal(fakehost_meta("container_memory_failcnt")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("bearmon_cgroup_dropped_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("bearmon_cgroup_cgroups")->type, BM_METRIC_GAUGE);

	/* second collection: same series, no growth */
	size_t n = fakehost_n_samples();
	pt_collect_ok(&cg_ops, f->state, 1700000001000);
	assert_int_equal(fakehost_n_samples(), 2 * n);
	assert_value("bearmon_cgroup_cgroups", "", 4);
}

/* Recorded on this VM; mountinfo names /sys/fs/cgroup, not the fixture, so
 * detection falls back to the tree (cpuset, devices, ... ignored). */
static void test_hybrid_tree(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "hybrid");
	f.state = pt_init(&cg_ops, &f.conf);
	check_hybrid(&f);
	fixture_close(&f);
}

/* The same through mountinfo (mount points moved onto the fixture). */
static void test_hybrid_mountinfo(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "hybrid");
	fixture_mountinfo(&f, "hybrid");
	f.state = pt_init(&cg_ops, &f.conf);
	struct cg *p = f.state;
	assert_int_equal(p->n_hier, 6);
	assert_int_equal(p->hier[0].mask, CGC_CPU);
	assert_int_equal(p->hier[5].mask, CGC_PSI);
	assert_non_null(strstr(p->hier[5].path, "hybrid/sys/fs/cgroup/unified"));
	check_hybrid(&f);
	fixture_close(&f);
}

static void check_v2(struct fixture *f, int depth)
{
	struct cg *p = f->state;
	assert_int_equal(p->layout, CG_LAYOUT_V2);
	assert_int_equal(p->n_hier, 1);
	pt_collect_ok(&cg_ops, f->state, 1000);
	assert_int_equal(fakehost_unsorted(), 0);

	/* root: cpu.stat without CFS fields, no memory.current, no pids files */
	assert_value("container_cpu_usage_seconds_total", "cgroup=/", 9000);
	assert_value("container_cpu_user_seconds_total", "cgroup=/", 6000);
	assert_value("container_cpu_system_seconds_total", "cgroup=/", 3000);
	assert_absent("container_cpu_cfs_periods_total", "cgroup=/");
	assert_absent("container_memory_usage_bytes", "cgroup=/");
	assert_absent("container_memory_working_set_bytes", "cgroup=/");
	assert_value("container_memory_rss", "cgroup=/", 1073741824);
	/* v2 memory.stat counts the subtree: scope hierarchy only */
	assert_value("container_memory_failures_total", "cgroup=/,failure_type=pgfault,scope=hierarchy", 123456);
	assert_value("container_memory_failures_total", "cgroup=/,failure_type=pgmajfault,scope=hierarchy", 78);
	assert_absent("container_memory_failures_total", "cgroup=/,failure_type=pgfault,scope=container");
	assert_value("container_memory_cache", "cgroup=/", 2147483648.0);
	assert_value("container_memory_mapped_file", "cgroup=/", 52428800);
	assert_value("container_fs_reads_bytes_total", "cgroup=/,device=vda", 1000000);
	assert_value("container_fs_writes_bytes_total", "cgroup=/,device=vda", 2000000);
	assert_value("container_fs_reads_total", "cgroup=/,device=vda", 100);
	assert_value("container_fs_writes_total", "cgroup=/,device=vda", 200);
	assert_value("container_pressure_cpu_waiting_seconds_total", "cgroup=/", 5);
	assert_value("container_pressure_memory_waiting_seconds_total", "cgroup=/", 0.001);
	assert_value("container_pressure_memory_stalled_seconds_total", "cgroup=/", 0.0005);
	assert_value("container_pressure_io_stalled_seconds_total", "cgroup=/", 2);

	/* system.slice: no limits ("max"), memory.min 0 */
	const char *ss = "cgroup=/system.slice,unit=system.slice";
	assert_value("container_cpu_usage_seconds_total", ss, 4);
	assert_value("container_cpu_cfs_periods_total", ss, 0);
	assert_value("container_spec_cpu_period", ss, 100000);
	assert_absent("container_spec_cpu_quota", ss);
	assert_value("container_memory_usage_bytes", ss, 1610612736);
	assert_value("container_memory_working_set_bytes", ss, 1610612736 - 536870912);
	assert_absent("container_spec_memory_limit_bytes", ss);
	assert_absent("container_spec_memory_high_bytes", ss);
	assert_absent("container_spec_memory_reservation_limit_bytes", ss);
	assert_absent("container_spec_pids_max", ss);
	assert_value("container_tasks", ss, 42);
	assert_value("container_memory_swap", ss, 0);
	assert_value("container_memory_events_total", "cgroup=/system.slice,event=oom_kill,unit=system.slice", 0);

	/* ssh.service: every limit set */
	const char *ssh = "cgroup=/system.slice/ssh.service,unit=ssh.service";
	assert_value("container_cpu_usage_seconds_total", ssh, 1.5);
	assert_value("container_cpu_user_seconds_total", ssh, 1);
	assert_value("container_cpu_system_seconds_total", ssh, 0.5);
	assert_value("container_cpu_cfs_periods_total", ssh, 1000);
	assert_value("container_cpu_cfs_throttled_periods_total", ssh, 10);
	assert_value("container_cpu_cfs_throttled_seconds_total", ssh, 0.25);
	assert_value("container_spec_cpu_quota", ssh, 50000);
	assert_value("container_spec_cpu_period", ssh, 100000);
	assert_value("container_memory_usage_bytes", ssh, 104857600);
	assert_value("container_memory_working_set_bytes", ssh, 104857600 - 20971520);
	assert_value("container_memory_rss", ssh, 73400320);
	assert_value("container_memory_cache", ssh, 31457280);
	assert_value("container_memory_max_usage_bytes", ssh, 110000000);
	assert_value("container_spec_memory_limit_bytes", ssh, 536870912);
	assert_value("container_spec_memory_high_bytes", ssh, 402653184);
	assert_value("container_spec_memory_reservation_limit_bytes", ssh, 67108864);
	assert_value("container_spec_pids_max", ssh, 100);
	assert_value("container_tasks", ssh, 3);
	assert_value("container_oom_events_total", ssh, 1);
	assert_value("container_memory_events_total", "cgroup=/system.slice/ssh.service,event=low,unit=ssh.service", 0);
	assert_value("container_memory_events_total", "cgroup=/system.slice/ssh.service,event=high,unit=ssh.service", 17);
	assert_value("container_memory_events_total", "cgroup=/system.slice/ssh.service,event=max,unit=ssh.service", 4);
	assert_value("container_memory_events_total", "cgroup=/system.slice/ssh.service,event=oom,unit=ssh.service", 2);
	assert_value("container_memory_events_total", "cgroup=/system.slice/ssh.service,event=oom_kill,unit=ssh.service", 1);
	assert_absent("container_memory_events_total", "cgroup=/system.slice/ssh.service,event=oom_group_kill,unit=ssh.service");
	assert_value("container_pressure_memory_waiting_seconds_total", ssh, 0.005678);
	assert_value("container_pressure_memory_stalled_seconds_total", ssh, 0.00091);

	/* docker scope: container id, a device without /sys/dev/block entry,
	 * working set floored at 0 (inactive_file > usage) */
	const char *dk = "cgroup=/system.slice/docker-" DOCKER_ID ".scope,container_id=" DOCKER_ID
			 ",unit=docker-" DOCKER_ID ".scope";
	assert_value("container_memory_usage_bytes", dk, 209715200);
	assert_value("container_memory_working_set_bytes", dk, 0);
	assert_value("container_memory_swap", dk, 1048576);
	assert_value("container_spec_memory_limit_bytes", dk, 1073741824);
	assert_value("container_tasks", dk, 7);
	assert_value("container_fs_reads_bytes_total",
		     "cgroup=/system.slice/docker-" DOCKER_ID ".scope,container_id=" DOCKER_ID
		     ",device=vda,unit=docker-" DOCKER_ID ".scope", 1);
	assert_value("container_fs_writes_total",
		     "cgroup=/system.slice/docker-" DOCKER_ID ".scope,container_id=" DOCKER_ID
		     ",device=8:16,unit=docker-" DOCKER_ID ".scope", 40);

	/* broken.service: garbage everywhere except pids.current */
	const char *br = "cgroup=/system.slice/broken.service,unit=broken.service";
	assert_value("container_tasks", br, 5);
	assert_absent("container_cpu_usage_seconds_total", br);
	assert_absent("container_memory_usage_bytes", br);
	assert_absent("container_spec_memory_limit_bytes", br);
	assert_absent("container_pressure_cpu_waiting_seconds_total", br);

	/* init.scope: two files only */
	assert_value("container_cpu_usage_seconds_total", "cgroup=/init.scope,unit=init.scope", 7);
	assert_value("container_memory_usage_bytes", "cgroup=/init.scope,unit=init.scope", 12582912);
	assert_absent("container_memory_working_set_bytes", "cgroup=/init.scope,unit=init.scope");

	/* depth: pod slice at 3, containerd scope at 4, app.slice 4, foo.service 5 */
	const char *pod = "/kubepods.slice/kubepods-burstable.slice/"
			  "kubepods-burstable-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice";
	char lab[1024];
	snprintf(lab, sizeof(lab), "cgroup=%s,unit=kubepods-burstable-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice", pod);
	assert_value("container_memory_usage_bytes", lab, 314572800);
	snprintf(lab, sizeof(lab), "cgroup=%s/cri-containerd-" CRI_ID ".scope,container_id=" CRI_ID
		 ",unit=cri-containerd-" CRI_ID ".scope", pod);
	const char *foo = "cgroup=/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service,unit=foo.service";
	if (depth >= 5) {
		assert_value("container_memory_usage_bytes", lab, 268435456);
		assert_value("container_cpu_cfs_throttled_seconds_total", lab, 0.012345);
		assert_value("container_memory_usage_bytes", foo, 4096);
		assert_value("bearmon_cgroup_cgroups", "", 15);
	} else {
		assert_absent("container_memory_usage_bytes", lab);
		assert_absent("container_cpu_usage_seconds_total",
			      "cgroup=/user.slice/user-1000.slice/user@1000.service/app.slice,unit=app.slice");
		assert_absent("container_memory_usage_bytes", foo);
		/* /, init, kubepods x3, system.slice x4, user.slice x3 */
		assert_value("bearmon_cgroup_cgroups", "", 12);
	}
	assert_value("container_cpu_usage_seconds_total",
		     "cgroup=/user.slice/user-1000.slice/user@1000.service,unit=user@1000.service", 0.001);
	assert_value("bearmon_cgroup_dropped_total", "", 0);
}

static void test_v2_mountinfo(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "v2");
	fixture_mountinfo(&f, "v2");
	f.state = pt_init(&cg_ops, &f.conf);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "v2 hierarchy; reading all controllers"));
	check_v2(&f, 3);
	fixture_close(&f);
}

static void test_v2_tree_deep(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "v2");
	f.conf.max_depth = 5;
	cg_test_kernfs = true; /* leaves found by link count, as on cgroupfs */
	f.state = pt_init(&cg_ops, &f.conf);
	check_v2(&f, 5);
	fixture_close(&f);
}

/* mode = v2 forced, no mountinfo at all */
static void test_v2_forced(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "v2");
	pt_set_str(&f.conf.proc_root, "/nonexistent");
	f.conf.mode = CG_MODE_V2;
	f.state = pt_init(&cg_ops, &f.conf);
	check_v2(&f, 3);
	fixture_close(&f);
}

static void check_legacy(struct fixture *f)
{
	struct cg *p = f->state;
	assert_int_equal(p->layout, CG_LAYOUT_V1);
	assert_int_equal(p->n_hier, 4); /* cpu+cpuacct share one mount */
	assert_int_equal(p->hier[0].mask, CGC_CPU | CGC_CPUACCT);
	pt_collect_ok(&cg_ops, f->state, 1000);
	double hz = (double)p->clk_tck;

	/* cpuacct.stat ticks */
	assert_value("container_cpu_usage_seconds_total", "cgroup=/", 50);
	assert_value("container_cpu_user_seconds_total", "cgroup=/", 3000 / hz);
	assert_value("container_cpu_system_seconds_total", "cgroup=/", 2000 / hz);
#define LDK "cgroup=/docker/" LEGACY_ID ",container_id=" LEGACY_ID
	const char *dk = LDK;
	assert_value("container_cpu_usage_seconds_total", dk, 2.5);
	assert_value("container_cpu_user_seconds_total", dk, 150 / hz);
	assert_value("container_cpu_cfs_periods_total", dk, 300);
	assert_value("container_cpu_cfs_throttled_periods_total", dk, 20);
	assert_value("container_cpu_cfs_throttled_seconds_total", dk, 4);
	assert_value("container_spec_cpu_quota", dk, 150000);
	assert_value("container_spec_cpu_period", dk, 100000);
	assert_absent("container_spec_cpu_quota", "cgroup=/docker");

	/* memory: limits set on the container, 9223372036854771712 elsewhere */
	assert_value("container_memory_usage_bytes", dk, 268435456);
	assert_value("container_memory_working_set_bytes", dk, 268435456 - 100000000);
	assert_value("container_memory_rss", dk, 200000000);
	assert_value("container_memory_cache", dk, 68435456);
	assert_value("container_memory_mapped_file", dk, 8192);
	assert_value("container_memory_failcnt", dk, 12);
	assert_value("container_oom_events_total", dk, 3);
	assert_value("container_spec_memory_limit_bytes", dk, 268435456);
	assert_value("container_spec_memory_reservation_limit_bytes", dk, 134217728);
	assert_int_equal(fakehost_count("container_spec_memory_limit_bytes"), 1);
	assert_int_equal(fakehost_count("container_spec_memory_reservation_limit_bytes"), 1);
	assert_int_equal(fakehost_count("container_spec_memory_high_bytes"), 0);
	assert_value("container_memory_working_set_bytes",
		     "cgroup=/system.slice/cron.service,unit=cron.service", 0); /* 1000000 - 2000000 floored */

	/* blkio: sda named from uevent, 7:0 has none */
	assert_value("container_fs_reads_bytes_total", LDK ",device=sda", 409600);
	assert_value("container_fs_writes_bytes_total", LDK ",device=sda", 819200);
	assert_value("container_fs_reads_total", LDK ",device=sda", 100);
	assert_value("container_fs_writes_total", LDK ",device=sda", 200);
	assert_value("container_fs_reads_bytes_total", "cgroup=/,device=7:0", 11);
	assert_value("container_fs_reads_bytes_total", "cgroup=/,device=sda", 0);
	assert_absent("container_fs_reads_bytes_total", "cgroup=/system.slice/cron.service,device=sda,unit=cron.service");

	/* pids */
	assert_value("container_tasks", dk, 9);
	assert_value("container_spec_pids_max", dk, 512);
	assert_value("container_tasks", "cgroup=/docker", 1);
	assert_absent("container_spec_pids_max", "cgroup=/docker");

	/* no unified mount: no pressure */
	assert_int_equal(fakehost_count("container_pressure_cpu_waiting_seconds_total"), 0);
	assert_value("bearmon_cgroup_cgroups", "", 5);
}

static void test_legacy_tree(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "legacy");
	f.state = pt_init(&cg_ops, &f.conf);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "legacy v1 hierarchy; reading cpu, memory, blkio, pids"));
	check_legacy(&f);
	fixture_close(&f);
}

static void test_legacy_mountinfo(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "legacy");
	fixture_mountinfo(&f, "legacy");
	cg_test_kernfs = true;
	f.state = pt_init(&cg_ops, &f.conf);
	/* net_cls,net_prio and name=systemd carry no controller we read */
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "legacy v1 hierarchy; reading cpu,cpuacct, memory, blkio, pids"));
	check_legacy(&f);
	fixture_close(&f);
}

/* mode = v1 on the hybrid fixture: the same as detected */
static void test_v1_forced(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "hybrid");
	f.conf.mode = CG_MODE_V1;
	f.state = pt_init(&cg_ops, &f.conf);
	check_hybrid(&f);
	fixture_close(&f);
}

/* ------------------------------------------------------------------ */

static void test_labels(void **unused)
{
	(void)unused;
	static struct cg p; /* big: keep it off the stack */
	static const struct {
		const char *path, *unit, *cid;
	} cases[] = {
		{"/", NULL, NULL},
		{"/system.slice", "system.slice", NULL},
		{"/system.slice/ssh.service", "ssh.service", NULL},
		{"/system.slice/dev-mqueue.mount", "dev-mqueue.mount", NULL},
		{"/system.slice/docker-" DOCKER_ID ".scope", "docker-" DOCKER_ID ".scope", DOCKER_ID},
		{"/system.slice/cri-containerd-" CRI_ID ".scope", "cri-containerd-" CRI_ID ".scope", CRI_ID},
		{"/machine.slice/libpod-" LEGACY_ID ".scope/container", NULL, LEGACY_ID},
		{"/machine.slice/libpod-conmon-" LEGACY_ID ".scope", "libpod-conmon-" LEGACY_ID ".scope", LEGACY_ID},
		{"/kubepods.slice/kubepods-pod1.slice/crio-" CRI_ID ".scope", "crio-" CRI_ID ".scope", CRI_ID},
		{"/docker/" LEGACY_ID, NULL, LEGACY_ID},
		{"/kubepods/burstable/pod0a1b2c3d-4e5f-6789-abcd-ef0123456789/" DOCKER_ID, NULL, DOCKER_ID},
		/* the innermost id wins */
		{"/docker/" LEGACY_ID "/docker/" DOCKER_ID, NULL, DOCKER_ID},
		/* 65 hex digits, upper case, 63 digits: no id */
		{"/docker/" LEGACY_ID "0", NULL, NULL},
		{"/docker/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", NULL, NULL},
		{"/docker/123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL, NULL},
		{"/process_api/dce7f648a84c6028fbec4cafbb842265", NULL, NULL},
		{"/user.slice/user-1000.slice/session-3.scope", "session-3.scope", NULL},
		{"/servicefoo", NULL, NULL},
		{"/.service", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cg_labels(&p, cases[i].path);
		const char *unit = NULL, *cid = NULL;
		assert_string_equal(p.lab[0].name, "cgroup");
		assert_string_equal(p.lab[0].value, cases[i].path);
		for (size_t k = 1; k < p.n_lab; k++) {
			if (strcmp(p.lab[k].name, "unit") == 0)
				unit = p.lab[k].value;
			else if (strcmp(p.lab[k].name, "container_id") == 0)
				cid = p.lab[k].value;
			else
				fail_msg("unexpected label %s", p.lab[k].name);
		}
		if (!cases[i].unit != !unit || (unit && strcmp(unit, cases[i].unit)))
			fail_msg("%s: unit %s, want %s", cases[i].path, unit ? unit : "(none)",
				 cases[i].unit ? cases[i].unit : "(none)");
		if (!cases[i].cid != !cid || (cid && strcmp(cid, cases[i].cid)))
			fail_msg("%s: container_id %s, want %s", cases[i].path, cid ? cid : "(none)",
				 cases[i].cid ? cases[i].cid : "(none)");
	}
}

/* v1 unlimited is any value >= 2^62; just below is a real limit. */
static void test_unlimited_values(void **unused)
{
	(void)unused;
	struct fixture f;
	char dir[PATH_MAX], file[PATH_MAX + 64];
	fixture_conf(&f, NULL);
	pt_mkdtemp(f.tmp, sizeof(f.tmp), "cgroup_test.");
	static const struct {
		const char *name, *limit, *soft;
	} cgs[] = {
		{"a", "9223372036854771712", "9223372036854775807"},
		{"b", "4611686018427387904", "4611686018427387903"},
		{"c", "-1", "garbage"},
	};
	snprintf(dir, sizeof(dir), "%s/memory", f.tmp);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (size_t i = 0; i < 3; i++) {
		snprintf(dir, sizeof(dir), "%s/memory/%s", f.tmp, cgs[i].name);
		assert_int_equal(mkdir(dir, 0755), 0);
		snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", dir);
		FILE *o = fopen(file, "w");
		fprintf(o, "%s\n", cgs[i].limit);
		fclose(o);
		snprintf(file, sizeof(file), "%s/memory.soft_limit_in_bytes", dir);
		o = fopen(file, "w");
		fprintf(o, "%s\n", cgs[i].soft);
		fclose(o);
	}
	pt_set_str(&f.conf.root, f.tmp);
	pt_set_str(&f.conf.proc_root, "/nonexistent");
	f.state = pt_init(&cg_ops, &f.conf);
	assert_int_equal(f.state->layout, CG_LAYOUT_V1);
	pt_collect_ok(&cg_ops, f.state, 1);
	assert_absent("container_spec_memory_limit_bytes", "cgroup=/a");
	assert_absent("container_spec_memory_reservation_limit_bytes", "cgroup=/a");
	assert_absent("container_spec_memory_limit_bytes", "cgroup=/b");
	assert_value("container_spec_memory_reservation_limit_bytes", "cgroup=/b", 4611686018427387903.0);
	assert_absent("container_spec_memory_limit_bytes", "cgroup=/c");
	assert_absent("container_spec_memory_reservation_limit_bytes", "cgroup=/c");
	assert_value("bearmon_cgroup_cgroups", "", 1); /* root and a, c have nothing */
	fixture_close(&f);
}

/* A v2 tree in /tmp: root plus n children "cgN" with a cpu.stat each, and
 * with_empty: "empty" (a directory without files). */
static void make_v2_tree(struct fixture *f, int n, bool with_empty)
{
	char dir[PATH_MAX], file[PATH_MAX + 64];
	pt_mkdtemp(f->tmp, sizeof(f->tmp), "cgroup_test.");
	snprintf(file, sizeof(file), "%s/cgroup.controllers", f->tmp);
	FILE *o = fopen(file, "w");
	fputs("cpu memory\n", o);
	fclose(o);
	for (int i = 0; i <= n; i++) {
		if (i == n && !with_empty)
			break;
		if (i == n)
			snprintf(dir, sizeof(dir), "%s/empty", f->tmp);
		else
			snprintf(dir, sizeof(dir), "%s/cg%d", f->tmp, i);
		assert_int_equal(mkdir(dir, 0755), 0);
		if (i == n)
			break;
		snprintf(file, sizeof(file), "%s/cpu.stat", dir);
		o = fopen(file, "w");
		fprintf(o, "usage_usec %d\nuser_usec 0\nsystem_usec 0\n", (i + 1) * 1000000);
		fclose(o);
	}
	pt_set_str(&f->conf.root, f->tmp);
	pt_set_str(&f->conf.proc_root, "/nonexistent");
}

static char vanish_name[64];
static bool vanish_files_only;
static void vanish_hook(struct cg *p, int dfd, const char *name)
{
	(void)p;
	if (strcmp(name, vanish_name) != 0)
		return;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return;
	unlinkat(fd, "cpu.stat", 0); /* a cgroup's files go with it */
	close(fd);
	if (!vanish_files_only)
		assert_int_equal(unlinkat(dfd, name, AT_REMOVEDIR), 0);
}

/* Removed between readdir and open: skipped silently, takes no slot. */
static void test_vanish(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, NULL);
	make_v2_tree(&f, 3, true);
	f.conf.max_cgroups = 2; /* the two survivors; root and "empty" have no files */
	f.state = pt_init(&cg_ops, &f.conf);
	strcpy(vanish_name, "cg1");
	vanish_files_only = false;
	cg_test_before_open = vanish_hook;
	pt_collect_ok(&cg_ops, f.state, 1);
	assert_value("container_cpu_usage_seconds_total", "cgroup=/cg0", 1);
	assert_absent("container_cpu_usage_seconds_total", "cgroup=/cg1");
	assert_value("container_cpu_usage_seconds_total", "cgroup=/cg2", 3);
	assert_int_equal(fakehost_count("container_cpu_usage_seconds_total"), 2); /* root has no cpu.stat */
	assert_value("bearmon_cgroup_cgroups", "", 2);
	assert_value("bearmon_cgroup_dropped_total", "", 0);
	assert_string_equal(fakehost_last_log(BM_LOG_WARN), "");
	fixture_close(&f);
}

/* Its files vanish after the directory was opened: nothing published,
 * no error, no slot. */
static void test_vanish_files(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, NULL);
	make_v2_tree(&f, 3, true);
	f.conf.max_cgroups = 2;
	f.state = pt_init(&cg_ops, &f.conf);
	strcpy(vanish_name, "cg0");
	vanish_files_only = true;
	cg_test_before_open = vanish_hook;
	pt_collect_ok(&cg_ops, f.state, 1);
	assert_absent("container_cpu_usage_seconds_total", "cgroup=/cg0");
	assert_int_equal(fakehost_count("container_cpu_usage_seconds_total"), 2);
	assert_value("bearmon_cgroup_cgroups", "", 2);
	assert_value("bearmon_cgroup_dropped_total", "", 0);
	fixture_close(&f);
}

static void test_count_cap(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, NULL);
	make_v2_tree(&f, 10, false);
	f.conf.max_cgroups = 4;
	f.state = pt_init(&cg_ops, &f.conf);
	pt_collect_ok(&cg_ops, f.state, 1);
	assert_int_equal(fakehost_count("container_cpu_usage_seconds_total"), 4);
	assert_value("bearmon_cgroup_cgroups", "", 4);
	assert_value("bearmon_cgroup_dropped_total", "", 6);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "more than 4 cgroups within max_depth 3; exporting 4"));
	pt_collect_ok(&cg_ops, f.state, 2);
	assert_value("bearmon_cgroup_dropped_total", "", 12);
	assert_int_equal(fakehost_meta("bearmon_cgroup_dropped_total")->type, BM_METRIC_COUNTER);
	fixture_close(&f);
}

/* v1: one path seen in several controller walks counts once, and a path
 * dropped in the first walk stays dropped in the others. */
static void test_count_cap_v1(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "legacy");
	f.conf.max_cgroups = 3;
	f.state = pt_init(&cg_ops, &f.conf);
	pt_collect_ok(&cg_ops, f.state, 1);
	assert_value("bearmon_cgroup_cgroups", "", 3);
	assert_value("bearmon_cgroup_dropped_total", "", 2);
	/* every exported cgroup has its cpu and memory figures; dropped ones none */
	size_t n_cpu = fakehost_count("container_cpu_usage_seconds_total");
	size_t n_mem = fakehost_count("container_memory_usage_bytes");
	assert_int_equal(n_cpu, 3);
	assert_int_equal(n_mem, 3);
	for (size_t i = 0; i < fakehost_n_samples(); i++) {
		const struct fh_sample *s = fakehost_sample(i);
		if (strcmp(s->name, "container_memory_usage_bytes") == 0) {
			char want[512];
			const char *cg = strstr(s->labels, "cgroup=");
			assert_non_null(cg);
			snprintf(want, sizeof(want), "%s", s->labels);
			assert_false(isnan(fakehost_value("container_cpu_usage_seconds_total", want)));
		}
	}
	fixture_close(&f);
}

static void test_depth_cap(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "v2");
	f.conf.max_depth = 0;
	f.state = pt_init(&cg_ops, &f.conf);
	pt_collect_ok(&cg_ops, f.state, 1);
	assert_value("bearmon_cgroup_cgroups", "", 1);
	assert_value("container_cpu_usage_seconds_total", "cgroup=/", 9000);
	assert_int_equal(fakehost_count("container_cpu_usage_seconds_total"), 1);
	fixture_close(&f);

	fixture_conf(&f, "v2");
	f.conf.max_depth = 1;
	f.state = pt_init(&cg_ops, &f.conf);
	pt_collect_ok(&cg_ops, f.state, 1);
	/* /, init.scope, kubepods.slice, system.slice, user.slice */
	assert_value("bearmon_cgroup_cgroups", "", 5);
	assert_absent("container_cpu_usage_seconds_total", "cgroup=/system.slice/ssh.service,unit=ssh.service");
	assert_value("bearmon_cgroup_dropped_total", "", 0); /* depth is not a drop */
	fixture_close(&f);
}

static void test_include_exclude(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "v2");
	pt_set_list(&f.conf.include, "/system\\.slice(/.*)?", NULL);
	pt_set_list(&f.conf.exclude, "/system\\.slice/broken\\.service", ".*/docker-.*", NULL);
	f.conf.max_cgroups = 2; /* filtered cgroups take no slot */
	f.state = pt_init(&cg_ops, &f.conf);
	pt_collect_ok(&cg_ops, f.state, 1);
	assert_value("bearmon_cgroup_cgroups", "", 2);
	assert_value("bearmon_cgroup_dropped_total", "", 0);
	assert_value("container_cpu_usage_seconds_total", "cgroup=/system.slice,unit=system.slice", 4);
	assert_value("container_cpu_usage_seconds_total", "cgroup=/system.slice/ssh.service,unit=ssh.service", 1.5);
	assert_absent("container_cpu_usage_seconds_total", "cgroup=/");
	assert_int_equal(fakehost_count("container_tasks"), 2);
	fixture_close(&f);

	/* v1: decided once per path for every controller */
	fixture_conf(&f, "legacy");
	pt_set_list(&f.conf.include, "/docker(/.*)?", NULL);
	f.conf.max_cgroups = 2;
	f.state = pt_init(&cg_ops, &f.conf);
	pt_collect_ok(&cg_ops, f.state, 1);
	assert_value("bearmon_cgroup_cgroups", "", 2);
	assert_value("bearmon_cgroup_dropped_total", "", 0);
	assert_value("container_cpu_usage_seconds_total", "cgroup=/docker", 3);
	assert_value("container_memory_usage_bytes", "cgroup=/docker", 300000000);
	assert_value("container_tasks", "cgroup=/docker/" LEGACY_ID ",container_id=" LEGACY_ID, 9);
	assert_int_equal(fakehost_count("container_memory_usage_bytes"), 2);
	assert_int_equal(fakehost_count("container_cpu_usage_seconds_total"), 2);
	fixture_close(&f);

	/* bad regex: init fails naming it */
	fixture_conf(&f, "v2");
	pt_set_list(&f.conf.exclude, "/system(\\.slice", NULL);
	struct bm_err err = {0};
	void *st = NULL;
	assert_int_not_equal(cg_init(fakehost_ctx(), &f.conf, &st, &err), 0);
	assert_non_null(strstr(err.msg, "/system(\\.slice"));
	fixture_close(&f);
}

/* No hierarchy under root: init succeeds, collect fails naming root. */
static void test_no_hierarchy(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, NULL);
	pt_set_str(&f.conf.root, "/nonexistent/cgroup");
	f.state = pt_init(&cg_ops, &f.conf);
	assert_int_equal(f.state->layout, CG_LAYOUT_NONE);
	pt_collect_err_none(&cg_ops, f.state, 1, BM_EIO,
			    "/nonexistent/cgroup: no cgroup hierarchy found", NULL);
	fixture_close(&f);

	/* mode = v1 on a pure v2 tree: no controller directories */
	fixture_conf(&f, "v2");
	f.conf.mode = CG_MODE_V1;
	f.state = pt_init(&cg_ops, &f.conf);
	pt_collect_err(&cg_ops, f.state, 1, BM_EIO, NULL);
	fixture_close(&f);

	/* a root that disappears after detection */
	fixture_conf(&f, NULL);
	make_v2_tree(&f, 1, false);
	f.state = pt_init(&cg_ops, &f.conf);
	pt_rm_tree(f.tmp);
	pt_collect_err(&cg_ops, f.state, 1, BM_EIO, "cannot open /tmp/cgroup_test.",
		       ": No such file or directory", NULL);
	fixture_close(&f);
}

/* This machine's own hierarchy, when it has one. */
static void test_live(void **unused)
{
	(void)unused;
	struct fixture f;
	if (access("/sys/fs/cgroup", R_OK) != 0)
		skip();
	fixture_conf(&f, NULL);
	f.state = pt_init(&cg_ops, &f.conf);
	if (f.state->layout == CG_LAYOUT_NONE) {
		fixture_close(&f);
		skip();
	}
	pt_collect_ok(&cg_ops, f.state, 1);
	pt_collect_ok(&cg_ops, f.state, 2);
	size_t per = fakehost_n_samples() / 2;
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (int i = 0; i < 100; i++)
		pt_collect_ok(&cg_ops, f.state, 3 + i);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / 100;
	print_message("live: %s hierarchy, %.0f cgroups, %zu samples per collection, %.0f us CPU per collection "
		      "(%.2f us per sample, fake host included)\n",
		      cg_layout_names[f.state->layout], fakehost_value("bearmon_cgroup_cgroups", ""), per, us,
		      us / (double)per);
	assert_true(fakehost_value("bearmon_cgroup_cgroups", "") >= 1);
	assert_int_equal(fakehost_unsorted(), 0);
	/* cgroupfs: the directories stay open between collections */
	assert_true(f.state->dirs_held >= 1);
	assert_true(f.state->nodes_n >= f.state->dirs_held);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hybrid_tree),
		cmocka_unit_test(test_hybrid_mountinfo),
		cmocka_unit_test(test_v2_mountinfo),
		cmocka_unit_test(test_v2_tree_deep),
		cmocka_unit_test(test_v2_forced),
		cmocka_unit_test(test_legacy_tree),
		cmocka_unit_test(test_legacy_mountinfo),
		cmocka_unit_test(test_v1_forced),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_unlimited_values),
		cmocka_unit_test(test_vanish),
		cmocka_unit_test(test_vanish_files),
		cmocka_unit_test(test_count_cap),
		cmocka_unit_test(test_count_cap_v1),
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_include_exclude),
		cmocka_unit_test(test_no_hierarchy),
		cmocka_unit_test(test_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
