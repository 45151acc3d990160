/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The actuators on the real thing: a cgroup created by the test under the
 * machine's v1 controllers (and v2 where the kernel offers controllers on
 * it; a fixture tree stands for v2 otherwise), a child process with two
 * threads for nice, ionice and affinity, an allowed harmless sysctl
 * (kernel.printk_ratelimit, as root), and agent commands over the fake
 * bus. Each change is checked where the kernel keeps it, and each restore
 * must give back the exact previous value. Parts the machine cannot do
 * are skipped with a message saying why.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actuators/actuator.h"
#include "bustest.h"
#include "plugintest.h"

__attribute__((visibility("hidden"))) const struct bm_host_api *bm__host_api;

static struct act_env env_for(const char *cgroup_root)
{
	return (struct act_env){.ctx = fakehost_ctx(), .cgroup_root = cgroup_root,
				.proc_root = "/proc", .sysctl_root = "/proc/sys",
				.command_timeout_ms = 1000, .uid = geteuid()};
}

struct outcome {
	int calls;
	int rc;
};

static void on_done(void *user, struct act_op *op, int rc)
{
	(void)op;
	struct outcome *o = user;
	o->calls++;
	o->rc = rc;
}

/* apply (or restore) and return its code; it must call back exactly once. */
static int run_op(struct act_env *env, const char *actuator, struct act_op *op, bool restore)
{
	struct outcome o = {0};
	const struct actuator *a = actuator_find(actuator);
	assert_non_null(a);
	if (restore)
		act_restore(env, a, op, on_done, &o);
	else
		act_apply(env, a, op, on_done, &o);
	assert_int_equal(o.calls, 1);
	if (o.rc)
		print_message("  (%s: %s)\n", actuator, op->error);
	return o.rc;
}

static void read_trim(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, (int)n, f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/* The first line of dir/name, into buf. */
static void read_in(const char *dir, const char *name, char *buf, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	read_trim(path, buf, n);
}

/* The first line of dir/name is want. */
static void assert_in(const char *dir, const char *name, const char *want)
{
	char got[64];
	read_in(dir, name, got, sizeof(got));
	assert_string_equal(got, want);
}

/* --- cgroup v1, on the machine ------------------------------------------ */

static bool make_cgroup_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return true;
	print_message("  skipped: cannot create %s: %s\n", path, strerror(errno));
	return false;
}

static void test_cgroup_v1_real(void **s)
{
	(void)s;
	char name[64], mem[256], cpu[256];
	char mem_before[64], soft_before[64], shares_before[64], quota_before[64], period_before[64];
	snprintf(name, sizeof(name), "bm-opt-test-%d", (int)getpid());
	snprintf(mem, sizeof(mem), "/sys/fs/cgroup/memory/%s", name);
	snprintf(cpu, sizeof(cpu), "/sys/fs/cgroup/cpu/%s", name);
	if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) ||
	    access("/sys/fs/cgroup/cpu/cpu.shares", F_OK)) {
		print_message("  skipped: no v1 memory and cpu controllers under /sys/fs/cgroup\n");
		return;
	}
	if (!make_cgroup_dir(mem) || !make_cgroup_dir(cpu)) {
		rmdir(mem);
		return;
	}
	read_in(mem, "memory.limit_in_bytes", mem_before, sizeof(mem_before));
	read_in(mem, "memory.soft_limit_in_bytes", soft_before, sizeof(soft_before));
	read_in(cpu, "cpu.shares", shares_before, sizeof(shares_before));
	read_in(cpu, "cpu.cfs_quota_us", quota_before, sizeof(quota_before));
	read_in(cpu, "cpu.cfs_period_us", period_before, sizeof(period_before));

	struct act_env env = env_for("/sys/fs/cgroup");
	struct kvl params = {0};
	char target[80];
	snprintf(target, sizeof(target), "/%s", name);
	/* v2 names on a hybrid host: the v1 equivalents are written */
	kvl_set(&params, "memory.max", "104857600");
	kvl_set(&params, "memory.high", "83886080");
	kvl_set(&params, "cpu.weight", "50");
	kvl_set(&params, "cpu.max", "50000 100000");
	struct act_op op = {.actuator = "cgroup", .target = target, .params = &params};
	assert_int_equal(run_op(&env, "cgroup", &op, false), 0);
	assert_in(mem, "memory.limit_in_bytes", "104857600");
	assert_in(mem, "memory.soft_limit_in_bytes", "83886080");
	assert_in(cpu, "cpu.shares", "512"); /* 50 x 1024 / 100 */
	assert_in(cpu, "cpu.cfs_quota_us", "50000");
	assert_string_equal(kvl_get(&op.before, "memory.limit_in_bytes"), mem_before);
	assert_string_equal(kvl_get(&op.after, "memory.limit_in_bytes"), "104857600");
	assert_string_equal(kvl_get(&op.before, "cpu.shares"), shares_before);

	assert_int_equal(run_op(&env, "cgroup", &op, true), 0);
	assert_in(mem, "memory.limit_in_bytes", mem_before);
	assert_in(mem, "memory.soft_limit_in_bytes", soft_before);
	assert_in(cpu, "cpu.shares", shares_before);
	assert_in(cpu, "cpu.cfs_quota_us", quota_before);
	assert_in(cpu, "cpu.cfs_period_us", period_before);
	print_message("  v1 cgroup %s: limits set and restored exactly (limit %s)\n", name,
		      mem_before);
	act_op_release(&op);
	kvl_free(&params);
	rmdir(mem);
	rmdir(cpu);
}

/* --- cgroup v2: on the machine where it has controllers, else a fixture -- */

static void v2_roundtrip(const char *root, const char *target, const char *dir)
{
	struct act_env env = env_for(root);
	struct kvl params = {0};
	char before_high[64], before_weight[64];
	read_in(dir, "memory.high", before_high, sizeof(before_high));
	read_in(dir, "cpu.weight", before_weight, sizeof(before_weight));
	kvl_set(&params, "memory.high", "67108864");
	kvl_set(&params, "cpu.weight", "200");
	struct act_op op = {.actuator = "cgroup", .target = target, .params = &params};
	assert_int_equal(run_op(&env, "cgroup", &op, false), 0);
	assert_in(dir, "memory.high", "67108864");
	assert_in(dir, "cpu.weight", "200");
	assert_string_equal(kvl_get(&op.before, "memory.high"), before_high);
	assert_int_equal(run_op(&env, "cgroup", &op, true), 0);
	assert_in(dir, "memory.high", before_high);
	assert_in(dir, "cpu.weight", before_weight);
	act_op_release(&op);
	kvl_free(&params);
}

/* The v2 mount (ROOT itself or ROOT/unified) when memory and cpu are
 * enabled for its children, so a test cgroup has their files. */
static const char *real_v2_root(char *ctrl, size_t n)
{
	static const char *const roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	for (size_t i = 0; i < 2; i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", roots[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(ctrl, (int)n, f))
			ctrl[0] = '\0';
		fclose(f);
		ctrl[strcspn(ctrl, "\n")] = '\0';
		if (strstr(ctrl, "memory") && strstr(ctrl, "cpu"))
			return roots[i];
	}
	return NULL;
}

static void test_cgroup_v2(void **s)
{
	(void)s;
	char ctrl[256] = "";
	const char *v2 = real_v2_root(ctrl, sizeof(ctrl));
	if (v2) {
		char dir[256], target[64];
		snprintf(target, sizeof(target), "/bm-opt-test-%d", (int)getpid());
		snprintf(dir, sizeof(dir), "%s%s", v2, target);
		if (make_cgroup_dir(dir)) {
			v2_roundtrip("/sys/fs/cgroup", target, dir);
			print_message("  v2 cgroup %s: memory.high and cpu.weight set and restored\n",
				      dir);
			rmdir(dir);
		}
	} else {
		print_message("  skipped on the machine: its v2 mount enables no memory and cpu "
			      "controllers (subtree_control \"%s\"); v2 writes are tested on a "
			      "fixture tree\n",
			      ctrl);
	}
	char root[256], dir[300], file[400];
	pt_mkdtemp(root, sizeof(root), "bm-cg2-");
	pt_write_file(root, "cgroup.controllers", "cpu memory io\n");
	snprintf(dir, sizeof(dir), "%s/agents", root);
	mkdir(dir, 0755);
	pt_write_file(dir, "memory.high", "max\n");
	pt_write_file(dir, "cpu.weight", "100\n");
	v2_roundtrip(root, "/agents", dir);

	/* a write that fails half-way puts back what it wrote first */
	struct act_env env = env_for(root);
	struct kvl params = {0};
	snprintf(file, sizeof(file), "%s/cpu.max", dir);
	mkdir(file, 0755); /* cpu.max exists but cannot be written */
	kvl_set(&params, "memory.high", "1048576");
	kvl_set(&params, "cpu.max", "50000 100000");
	struct act_op op = {.actuator = "cgroup", .target = "/agents", .params = &params};
	assert_int_not_equal(run_op(&env, "cgroup", &op, false), 0);
	assert_non_null(strstr(op.error, "cpu.max"));
	assert_in(dir, "memory.high", "max");
	act_op_release(&op);
	kvl_free(&params);
	pt_rm_tree(root);
}

static void expect_refused(struct act_env *env, const char *actuator, const char *target,
			   const char *key, const char *value, int want, const char *msg)
{
	struct kvl params = {0};
	if (key)
		kvl_set(&params, key, value);
	struct act_op op = {.actuator = actuator, .target = target, .params = &params};
	assert_int_equal(run_op(env, actuator, &op, false), want);
	if (!strstr(op.error, msg))
		fail_msg("error \"%s\" lacks \"%s\"", op.error, msg);
	act_op_release(&op);
	kvl_free(&params);
}

static void test_cgroup_refusals(void **s)
{
	(void)s;
	char root[256];
	char dir[300];
	pt_mkdtemp(root, sizeof(root), "bm-cg-");
	pt_write_file(root, "cgroup.controllers", "memory\n");
	snprintf(dir, sizeof(dir), "%s/a", root);
	mkdir(dir, 0755);
	pt_write_file(dir, "memory.max", "max\n");
	struct act_env env = env_for(root);
	expect_refused(&env, "cgroup", "/../etc", "memory.max", "1", BM_EINVAL, "without \"..\"");
	expect_refused(&env, "cgroup", "/a", "memory.swap", "1", BM_EINVAL, "unknown key");
	expect_refused(&env, "cgroup", "/a", "memory.max", "lots", BM_EINVAL, "bad value");
	expect_refused(&env, "cgroup", "/a", "cpu.weight", "0", BM_EINVAL, "bad value");
	expect_refused(&env, "cgroup", "/a", NULL, NULL, BM_EINVAL, "no key");
	expect_refused(&env, "cgroup", "/a", "io.max", "8:0 rbps=1048576", BM_ENOENT,
		       "no v1 equivalent");
	pt_rm_tree(root);
}

/* --- process ------------------------------------------------------------- */

static void *idle_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* A child with two threads, named comm, that waits to be killed. */
static pid_t spawn_child(const char *comm)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;
		prctl(PR_SET_NAME, comm);
		pthread_create(&t, NULL, idle_thread, NULL);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
	return pid;
}

/* The child's threads, once both exist. */
static size_t threads_of(pid_t pid, pid_t *tid, size_t max)
{
	char path[64];
	size_t n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	for (int tries = 0; tries < 1000 && n < 2; tries++) {
		DIR *d = opendir(path);
		struct dirent *de;
		n = 0;
		while (d && (de = readdir(d)) && n < max)
			if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
				tid[n++] = (pid_t)atoi(de->d_name);
		if (d)
			closedir(d);
		if (n < 2)
			usleep(1000);
	}
	return n;
}

static void cpus(pid_t tid, char *buf, size_t n)
{
	cpu_set_t set;
	size_t used = 0;
	assert_int_equal(sched_getaffinity(tid, sizeof(set), &set), 0);
	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && used < n; c++)
		if (CPU_ISSET(c, &set))
			used += (size_t)snprintf(buf + used, n - used, "%s%d", used ? "," : "", c);
}

static long ioprio(pid_t tid)
{
	return syscall(SYS_ioprio_get, 1, tid);
}

static void test_process_real(void **s)
{
	(void)s;
	char comm[16], target[32], aff0[256], aff1[256], got[256];
	snprintf(comm, sizeof(comm), "bmopt%d", (int)getpid() % 100000);
	pid_t child = spawn_child(comm);
	pid_t tid[8];
	assert_int_equal(threads_of(child, tid, 8), 2);
	/* the threads disagree before: restore must give each its own back */
	assert_int_equal(setpriority(PRIO_PROCESS, (id_t)tid[1], 3), 0);
	int nice0 = getpriority(PRIO_PROCESS, (id_t)tid[0]);
	long io0 = ioprio(tid[0]), io1 = ioprio(tid[1]);
	cpus(tid[0], aff0, sizeof(aff0));
	cpus(tid[1], aff1, sizeof(aff1));

	struct act_env env = env_for("/sys/fs/cgroup");
	struct kvl params = {0};
	kvl_set(&params, "nice", "10");
	kvl_set(&params, "ionice", "idle");
	kvl_set(&params, "affinity", "0");
	snprintf(target, sizeof(target), "comm:%s", comm);
	struct act_op op = {.actuator = "process", .target = target, .params = &params};
	assert_int_equal(run_op(&env, "process", &op, false), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(getpriority(PRIO_PROCESS, (id_t)tid[i]), 10);
		assert_int_equal(ioprio(tid[i]) >> 13, 3); /* idle class */
		cpus(tid[i], got, sizeof(got));
		assert_string_equal(got, "0");
	}
	assert_non_null(strchr(kvl_get(&op.before, "nice"), '=')); /* per thread: 0 and 3 */
	assert_string_equal(kvl_get(&op.after, "nice"), "10");

	assert_int_equal(run_op(&env, "process", &op, true), 0);
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)tid[0]), nice0);
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)tid[1]), 3);
	assert_int_equal(ioprio(tid[0]), io0);
	assert_int_equal(ioprio(tid[1]), io1);
	cpus(tid[0], got, sizeof(got));
	assert_string_equal(got, aff0);
	cpus(tid[1], got, sizeof(got));
	assert_string_equal(got, aff1);
	print_message("  child %d (2 threads): nice/ionice/affinity set and restored per thread\n",
		      (int)child);
	act_op_release(&op);

	/* by pid and by agent id */
	struct oagents agents = {0};
	struct bm_agent_event hello = {.agent_id = "a1", .pid = child, .state = BM_AGENT_CONNECTED};
	assert_int_equal(oagents_update(&agents, &hello), 0);
	env.agents = &agents;
	kvl_free(&params);
	kvl_set(&params, "nice", "5");
	struct act_op by_agent = {.actuator = "process", .target = "agent:a1", .params = &params};
	assert_int_equal(run_op(&env, "process", &by_agent, false), 0);
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)tid[0]), 5);
	assert_int_equal(run_op(&env, "process", &by_agent, true), 0);
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)tid[0]), nice0);
	act_op_release(&by_agent);
	expect_refused(&env, "process", "agent:nobody", "nice", "1", BM_ENOENT, "no connected");
	expect_refused(&env, "process", "1", "nice", "1", BM_EINVAL, "refusing pid");
	snprintf(target, sizeof(target), "%d", (int)child);
	expect_refused(&env, "process", target, "nice", "99", BM_EINVAL, "bad nice");
	expect_refused(&env, "process", target, "affinity", "0-", BM_EINVAL, "bad affinity");
	expect_refused(&env, "process", target, "oom_score", "1", BM_EINVAL, "unknown key");
	oagents_free(&agents);
	kvl_free(&params);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* --- sysctl ---------------------------------------------------------------- */

static void test_sysctl(void **s)
{
	(void)s;
	const char *path = "/proc/sys/kernel/printk_ratelimit";
	struct bm_strlist allow = {1, (char *[]){"kernel.printk_ratelimit"}};
	struct act_env env = env_for("/sys/fs/cgroup");
	env.sysctl_allow = &allow;
	expect_refused(&env, "sysctl", "vm.swappiness", "value", "10", BM_EPERM, "allow-list");
	expect_refused(&env, "sysctl", "../../etc/passwd", "value", "x", BM_EINVAL, "not a sysctl");
	env.uid = 1000;
	expect_refused(&env, "sysctl", "kernel.printk_ratelimit", "value", "7", BM_EPERM,
		       "needs uid 0");
	env.uid = geteuid();
	if (geteuid() != 0 || access(path, W_OK)) {
		print_message("  skipped the write: not uid 0, or %s not writable\n", path);
		return;
	}
	char before[64], got[64], want[64];
	read_trim(path, before, sizeof(before));
	snprintf(want, sizeof(want), "%ld", atol(before) + 1);
	struct kvl params = {0};
	kvl_set(&params, "value", want);
	struct act_op op = {.actuator = "sysctl", .target = "kernel/printk_ratelimit",
			    .params = &params};
	assert_int_equal(run_op(&env, "sysctl", &op, false), 0);
	read_trim(path, got, sizeof(got));
	assert_string_equal(got, want);
	assert_string_equal(kvl_get(&op.before, "value"), before);
	assert_int_equal(run_op(&env, "sysctl", &op, true), 0);
	read_trim(path, got, sizeof(got));
	assert_string_equal(got, before);
	print_message("  kernel.printk_ratelimit: %s -> %s -> %s\n", before, want, got);
	act_op_release(&op);
	kvl_free(&params);
}

/* --- agent commands over the fake bus -------------------------------------- */

static const struct bm_agent_command_event *last_command(struct bm_arena *arena)
{
	static struct bm_agent_command_event c;
	size_t len;
	size_t n = bt_count(BM_TOPIC_AGENT_COMMAND);
	assert_true(n > 0);
	const void *body = bt_event(BM_TOPIC_AGENT_COMMAND, n - 1, &len);
	assert_int_equal(bm_agent_command_decode(body, len, &c, arena), 0);
	return &c;
}

static void ack(struct act_env *env, const char *command_id, bool ok, const char *previous)
{
	struct bm_kv result = {"previous", previous ? previous : ""};
	struct bm_agent_ack_event a = {.command_id = command_id, .agent_id = "planner-1", .ok = ok,
				       .detail = ok ? "done" : "value out of range",
				       .result = previous ? &result : NULL, .n_result = previous != NULL};
	act_agent_on_ack(env, &a);
}

static void test_agent_command(void **s)
{
	(void)s;
	bm__host_api = bt_api();
	struct oagents agents = {0};
	const char *caps[] = {"set_batch_size", "evict_cache"};
	struct bm_agent_event hello = {.agent_id = "planner-1", .pid = 42, .capabilities = caps,
				       .n_capabilities = 2};
	assert_int_equal(oagents_update(&agents, &hello), 0);
	struct act_env env = env_for("/sys/fs/cgroup");
	env.agents = &agents;
	struct bm_arena arena = {0};
	struct kvl params = {0};
	kvl_set(&params, "command", "set_batch_size");
	kvl_set(&params, "value", "32");
	struct act_op op = {.actuator = "agent_command", .target = "planner-1", .params = &params,
			    .action_id = "plan-1.1"};
	struct outcome o = {0};
	act_apply(&env, &act_agent_command, &op, on_done, &o);
	assert_int_equal(o.calls, 0); /* waits for the ack */
	assert_int_equal(act_pending_count(&env), 1);
	const struct bm_agent_command_event *c = last_command(&arena);
	assert_string_equal(c->name, "set_batch_size");
	assert_string_equal(c->agent_id, "planner-1");
	assert_string_equal(c->action_id, "plan-1.1");
	assert_int_equal(c->n_args, 1);
	assert_string_equal(c->args[0].key, "value");
	assert_string_equal(c->args[0].value, "32");
	ack(&env, "someone-else", true, "1"); /* not ours: ignored */
	assert_int_equal(o.calls, 0);
	ack(&env, c->command_id, true, "8");
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.rc, 0);
	assert_string_equal(kvl_get(&op.before, "value"), "8");
	assert_string_equal(kvl_get(&op.after, "value"), "32");

	/* restore sends value = previous */
	act_restore(&env, &act_agent_command, &op, on_done, &o);
	c = last_command(&arena);
	assert_string_equal(c->args[0].value, "8");
	ack(&env, c->command_id, true, "32");
	assert_int_equal(o.calls, 2);
	assert_int_equal(o.rc, 0);
	assert_string_equal(kvl_get(&op.after, "value"), "8");
	assert_string_equal(kvl_get(&op.before, "value"), "8");

	/* a refusal, a timeout, an irreversible command */
	act_apply(&env, &act_agent_command, &op, on_done, &o);
	ack(&env, last_command(&arena)->command_id, false, NULL);
	assert_int_equal(o.rc, BM_EIO);
	assert_non_null(strstr(op.error, "value out of range"));
	act_apply(&env, &act_agent_command, &op, on_done, &o);
	act_agent_expire(&env, bm_now_ms(env.ctx) + 10000);
	assert_int_equal(o.rc, BM_ETIMEDOUT);
	assert_int_equal(act_pending_count(&env), 0);
	struct kvl evict = {0};
	kvl_set(&evict, "command", "evict_cache");
	struct act_op ev = {.actuator = "agent_command", .target = "planner-1", .params = &evict};
	act_apply(&env, &act_agent_command, &ev, on_done, &o);
	ack(&env, last_command(&arena)->command_id, true, NULL);
	assert_int_equal(o.rc, 0);
	assert_int_equal(ev.before.n, 0);
	act_restore(&env, &act_agent_command, &ev, on_done, &o);
	assert_int_equal(o.rc, BM_ENOTSUP);
	assert_non_null(strstr(ev.error, "cannot be undone"));

	/* an agent the registry does not know yet: collector/agent answers */
	struct kvl ghost_params = {0};
	kvl_set(&ghost_params, "command", "evict_cache");
	struct act_op ghost = {.actuator = "agent_command", .target = "ghost", .params = &ghost_params};
	act_apply(&env, &act_agent_command, &ghost, on_done, &o);
	assert_int_equal(act_pending_count(&env), 1);
	struct bm_agent_ack_event nack = {.command_id = last_command(&arena)->command_id,
					  .agent_id = "ghost", .ok = false,
					  .detail = "agent ghost is not connected"};
	act_agent_on_ack(&env, &nack);
	assert_int_equal(o.rc, BM_EIO);
	assert_non_null(strstr(ghost.error, "not connected"));
	act_op_release(&ghost);
	kvl_free(&ghost_params);
	expect_refused(&env, "agent_command", "planner-1", "command", "reboot", BM_ENOTSUP,
		       "does not accept");
	act_op_release(&op);
	act_op_release(&ev);
	kvl_free(&params);
	kvl_free(&evict);
	oagents_free(&agents);
	bm_arena_free(&arena);
	bt_reset();
}

int main(void)
{
	bm__host_api = fakehost_api();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_v1_real),
		cmocka_unit_test(test_cgroup_v2),
		cmocka_unit_test(test_cgroup_refusals),
		cmocka_unit_test(test_process_real),
		cmocka_unit_test(test_sysctl),
		cmocka_unit_test(test_agent_command),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
