/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process actuator: nice, ionice and CPU affinity of one process,
 * named by its pid ("4242"), by the agent it belongs to ("agent:ID", the
 * pid from the agent registry) or by its comm ("comm:NAME", exactly one
 * process). Linux keeps all three per thread, so every thread in
 * /proc/PID/task is changed, and `before` records each thread's value
 * ("V" when they all agree, else "TID=V;TID=V;..."), which restore writes
 * back thread by thread. Values: nice "-20".."19"; ionice "CLASS[:LEVEL]"
 * with CLASS none, realtime, best-effort or idle and LEVEL 0..7;
 * affinity a CPU list "0-3,6".
 */
#define _GNU_SOURCE
#include "actuator.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_THREADS 4096
#define VALUE_LEN 256
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_SHIFT 13

struct threads {
	pid_t pid;
	pid_t tid[MAX_THREADS];
	size_t n;
};

/* --- per-key get and set ------------------------------------------------ */

static int nice_get(pid_t tid, char *buf, size_t n)
{
	errno = 0;
	int v = getpriority(PRIO_PROCESS, (id_t)tid);
	if (v == -1 && errno)
		return -1;
	textf(buf, n, "%d", v);
	return 0;
}

static bool nice_parse(const char *v, int *out)
{
	char *end;
	long x = strtol(v, &end, 10);
	*out = (int)x;
	return end != v && !*end && x >= -20 && x <= 19;
}

static int nice_set(pid_t tid, const char *v)
{
	int x;
	if (!nice_parse(v, &x)) {
		errno = EINVAL;
		return -1;
	}
	return setpriority(PRIO_PROCESS, (id_t)tid, x);
}

static const char *const io_classes[] = {"none", "realtime", "best-effort", "idle"};

static int ionice_get(pid_t tid, char *buf, size_t n)
{
	long p = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);
	if (p < 0)
		return -1;
	unsigned cls = (unsigned)p >> IOPRIO_CLASS_SHIFT;
	textf(buf, n, "%s:%ld", cls < 4 ? io_classes[cls] : "none",
		 p & ((1L << IOPRIO_CLASS_SHIFT) - 1));
	return 0;
}

static bool ionice_parse(const char *v, long *prio)
{
	char cls[32];
	int level = 0;
	int n = sscanf(v, "%31[a-z-]:%d", cls, &level);
	if (n < 1 || level < 0 || level > 7)
		return false;
	for (long c = 0; c < 4; c++) {
		if (strcmp(cls, io_classes[c]) == 0) {
			*prio = (c << IOPRIO_CLASS_SHIFT) | level;
			return true;
		}
	}
	return false;
}

static int ionice_set(pid_t tid, const char *v)
{
	long prio;
	if (!ionice_parse(v, &prio)) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, prio);
}

/* "0-3,6" from a CPU set. */
static void cpulist_format(const cpu_set_t *set, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && used < n; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		int last = c;
		while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
			last++;
		int w = last > c ? snprintf(buf + used, n - used, "%s%d-%d", used ? "," : "", c, last)
				 : snprintf(buf + used, n - used, "%s%d", used ? "," : "", c);
		used += w > 0 ? (size_t)w : 0;
		c = last;
	}
}

static bool cpulist_parse(const char *v, cpu_set_t *set)
{
	CPU_ZERO(set);
	const char *p = v;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b;
		if (end == p || a < 0 || a >= CPU_SETSIZE)
			return false;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
			if (end == p || b < a || b >= CPU_SETSIZE)
				return false;
		}
		for (long c = a; c <= b; c++)
			CPU_SET((int)c, set);
		p = end;
		if (*p == ',')
			p++;
		else if (*p)
			return false;
	}
	return CPU_COUNT(set) > 0;
}

static int affinity_get(pid_t tid, char *buf, size_t n)
{
	cpu_set_t set;
	if (sched_getaffinity(tid, sizeof(set), &set))
		return -1;
	cpulist_format(&set, buf, n);
	return 0;
}

static int affinity_set(pid_t tid, const char *v)
{
	cpu_set_t set;
	if (!cpulist_parse(v, &set)) {
		errno = EINVAL;
		return -1;
	}
	return sched_setaffinity(tid, sizeof(set), &set);
}

static bool nice_valid(const char *v)
{
	int x;
	return nice_parse(v, &x);
}

static bool ionice_valid(const char *v)
{
	long p;
	return ionice_parse(v, &p);
}

static bool affinity_valid(const char *v)
{
	cpu_set_t s;
	return cpulist_parse(v, &s);
}

struct pkey {
	const char *name;
	int (*get)(pid_t tid, char *buf, size_t n);
	int (*set)(pid_t tid, const char *v);
	bool (*valid)(const char *v);
};

static const struct pkey pkeys[] = {
	{"nice", nice_get, nice_set, nice_valid},
	{"ionice", ionice_get, ionice_set, ionice_valid},
	{"affinity", affinity_get, affinity_set, affinity_valid},
};

static const struct pkey *pkey_find(const char *name)
{
	for (size_t i = 0; i < sizeof(pkeys) / sizeof(pkeys[0]); i++)
		if (strcmp(pkeys[i].name, name) == 0)
			return &pkeys[i];
	return NULL;
}

/* --- the process and its threads ---------------------------------------- */

/* The one process whose comm is name. */
static int pid_of_comm(struct act_env *env, struct act_op *op, const char *name, pid_t *pid)
{
	DIR *d = opendir(env->proc_root);
	if (!d)
		return act_fail(op, BM_EIO, "cannot list %s: %s", env->proc_root, strerror(errno));
	size_t found = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char path[512], comm[64];
		if (!act_all_digits(de->d_name))
			continue;
		textf(path, sizeof(path), "%s/%s/comm", env->proc_root, de->d_name);
		if (act_read_file(op, path, comm, sizeof(comm)) == 0 && strcmp(comm, name) == 0) {
			*pid = (pid_t)atol(de->d_name);
			found++;
		}
	}
	closedir(d);
	op->error[0] = '\0';
	if (found != 1)
		return act_fail(op, found ? BM_EINVAL : BM_ENOENT,
				"process comm:%s: %zu processes have that name, want exactly one",
				name, found);
	return 0;
}

static int resolve_pid(struct act_env *env, struct act_op *op, pid_t *pid)
{
	const char *t = op->target ? op->target : "";
	if (act_all_digits(t) && strlen(t) < 10) {
		*pid = (pid_t)atol(t);
		return *pid > 1 ? 0 : act_fail(op, BM_EINVAL, "process %s: refusing pid %s", t, t);
	}
	if (strncmp(t, "agent:", 6) == 0) {
		const struct oagent *a = env->agents ? oagents_find(env->agents, t + 6) : NULL;
		if (!a || a->pid <= 1)
			return act_fail(op, BM_ENOENT,
					"process %s: no connected local agent with that id", t);
		*pid = (pid_t)a->pid;
		return 0;
	}
	if (strncmp(t, "comm:", 5) == 0 && t[5])
		return pid_of_comm(env, op, t + 5, pid);
	return act_fail(op, BM_EINVAL, "process target \"%s\": want a pid, agent:ID or comm:NAME",
			t);
}

static int list_threads(struct act_env *env, struct act_op *op, struct threads *th)
{
	char path[256];
	textf(path, sizeof(path), "%s/%d/task", env->proc_root, (int)th->pid);
	DIR *d = opendir(path);
	if (!d)
		return act_fail(op, BM_ENOENT, "process %s (pid %d): %s", op->target, (int)th->pid,
				strerror(errno));
	struct dirent *de;
	th->n = 0;
	while ((de = readdir(d)) && th->n < MAX_THREADS)
		if (act_all_digits(de->d_name))
			th->tid[th->n++] = (pid_t)atol(de->d_name);
	closedir(d);
	return th->n ? 0 : act_fail(op, BM_ENOENT, "process %s has no threads", op->target);
}

/* Every thread's value of key as one string: "V" or "TID=V;TID=V". */
static int read_key(struct act_op *op, const struct pkey *k, const struct threads *th,
		    struct kvl *out)
{
	char first[VALUE_LEN], v[VALUE_LEN];
	char *all = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&all, &len);
	bool uniform = true;
	int rc = f ? 0 : BM_ENOMEM;
	for (size_t i = 0; !rc && i < th->n; i++) {
		if (k->get(th->tid[i], i ? v : first, VALUE_LEN)) {
			if (i && errno == ESRCH)
				continue; /* the thread ended meanwhile */
			rc = act_fail(op, BM_EIO, "process %s: cannot read %s of thread %d: %s",
				      op->target, k->name, (int)th->tid[i], strerror(errno));
			break;
		}
		uniform = uniform && (!i || strcmp(v, first) == 0);
		fprintf(f, "%s%d=%s", i ? ";" : "", (int)th->tid[i], i ? v : first);
	}
	if (f)
		fclose(f);
	if (!rc)
		rc = kvl_set(out, k->name, uniform ? first : all);
	free(all);
	return rc;
}

static int read_state(struct act_env *env, struct act_op *op, struct threads *th, struct kvl *out)
{
	int rc = resolve_pid(env, op, &th->pid);
	if (!rc)
		rc = list_threads(env, op, th);
	kvl_free(out);
	for (size_t i = 0; !rc && i < op->params->n; i++)
		rc = read_key(op, pkey_find(op->params->v[i].key), th, out);
	return rc;
}

static int check_params(struct act_op *op)
{
	if (!op->params->n)
		return act_fail(op, BM_EINVAL, "process %s: nothing to set (nice, ionice, affinity)",
				op->target);
	for (size_t i = 0; i < op->params->n; i++) {
		const struct bm_kv *kv = &op->params->v[i];
		const struct pkey *k = pkey_find(kv->key);
		if (!k)
			return act_fail(op, BM_EINVAL,
					"process %s: unknown key \"%s\" (nice, ionice, affinity)",
					op->target, kv->key);
		if (!k->valid(kv->value))
			return act_fail(op, BM_EINVAL, "process %s: bad %s \"%s\"", op->target,
					kv->key, kv->value);
	}
	return 0;
}

/* Check the request, find the threads, read their values into before. */
static int prepare_threads(struct act_env *env, struct act_op *op, struct threads *th)
{
	int rc = check_params(op);
	if (!rc)
		rc = read_state(env, op, th, &op->before);
	if (!rc) {
		char want[256], now[256];
		kvl_format(op->params, want, sizeof(want));
		kvl_format(&op->before, now, sizeof(now));
		textf(op->what, sizeof(op->what), "set %s on the %zu thread(s) of pid %d (now %s)",
			 want, th->n, (int)th->pid, now);
	}
	return rc;
}

static int pr_prepare(struct act_env *env, struct act_op *op)
{
	struct threads th;
	return prepare_threads(env, op, &th);
}

/* Set value (uniform, or per thread as recorded) on every listed thread. */
static int set_value(struct act_op *op, const struct pkey *k, const struct threads *th,
		     const char *value)
{
	bool per_thread = strchr(value, '=') != NULL;
	for (size_t i = 0; i < th->n; i++) {
		char v[VALUE_LEN], needle[32];
		const char *use = value;
		if (per_thread) {
			textf(needle, sizeof(needle), "%d=", (int)th->tid[i]);
			const char *at = strstr(value, needle);
			if (!at || (at != value && at[-1] != ';'))
				continue; /* a thread started after the change */
			at += strlen(needle);
			textf(v, sizeof(v), "%.*s", (int)strcspn(at, ";"), at);
			use = v;
		}
		if (k->set(th->tid[i], use) && errno != ESRCH)
			return act_fail(op, errno == EPERM || errno == EACCES ? BM_EPERM : BM_EIO,
					"process %s: cannot set %s %s on thread %d: %s", op->target,
					k->name, use, (int)th->tid[i], strerror(errno));
	}
	return 0;
}

static int set_all(struct act_op *op, const struct threads *th, const struct kvl *values)
{
	for (size_t i = 0; i < values->n; i++) {
		int rc = set_value(op, pkey_find(values->v[i].key), th, values->v[i].value);
		if (rc)
			return rc;
	}
	return 0;
}

static int pr_apply(struct act_env *env, struct act_op *op)
{
	struct threads th;
	int rc = prepare_threads(env, op, &th);
	if (!rc && (rc = set_all(op, &th, op->params))) {
		char keep[sizeof(op->error)];
		memcpy(keep, op->error, sizeof(keep));
		set_all(op, &th, &op->before);
		memcpy(op->error, keep, sizeof(keep));
	}
	return rc ? rc : read_state(env, op, &th, &op->after);
}

static int pr_restore(struct act_env *env, struct act_op *op)
{
	struct threads th;
	int rc = resolve_pid(env, op, &th.pid);
	if (!rc)
		rc = list_threads(env, op, &th);
	for (size_t i = 0; !rc && i < op->before.n; i++)
		if (!pkey_find(op->before.v[i].key))
			rc = act_fail(op, BM_EINVAL, "process %s: cannot restore %s", op->target,
				      op->before.v[i].key);
	if (!rc)
		rc = set_all(op, &th, &op->before);
	kvl_free(&op->after);
	for (size_t i = 0; !rc && i < op->before.n; i++)
		rc = read_key(op, pkey_find(op->before.v[i].key), &th, &op->after);
	if (!rc)
		textf(op->what, sizeof(op->what), "restored %zu setting(s) of pid %d",
			 op->before.n, (int)th.pid);
	return rc;
}

const struct actuator act_process = {
	.name = "process",
	.prepare = pr_prepare,
	.apply = pr_apply,
	.restore = pr_restore,
};
