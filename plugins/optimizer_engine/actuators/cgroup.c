/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup actuator: resource limits of a named cgroup (target: its
 * path below the cgroup root, e.g. "/system.slice/agent.service"). Keys
 * are the cgroup v2 names (memory.high, memory.max, memory.low, cpu.max,
 * cpu.weight, io.max); where the v2 file does not exist (hybrid and
 * legacy hosts, or a v2 tree without that controller) the v1 equivalent
 * is written instead: memory.high -> memory.soft_limit_in_bytes,
 * memory.max -> memory.limit_in_bytes, cpu.weight -> cpu.shares (x 1024 /
 * 100, systemd's mapping), cpu.max -> cpu.cfs_quota_us + cpu.cfs_period_us.
 * The v1 names are accepted as keys too. before/after hold the files
 * actually written, by name, so restore writes exactly those back.
 */
#define _GNU_SOURCE
#include "actuator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CG_MAX_WRITES 8
#define CG_PATH 512
#define CG_VALUE 128

enum cg_value_kind { V_BYTES, V_WEIGHT, V_SHARES, V_CPU_MAX, V_QUOTA, V_PERIOD, V_IO_MAX };

struct cg_key {
	const char *name;
	int v2;                 /* a v2 file name */
	const char *ctrl;       /* v1 controller directory of a v1 name */
	enum cg_value_kind kind;
	const char *v1_equiv;   /* v2 name: the v1 file written instead, or NULL */
};

static const struct cg_key keys[] = {
	{"memory.high", 1, NULL, V_BYTES, "memory.soft_limit_in_bytes"},
	{"memory.max", 1, NULL, V_BYTES, "memory.limit_in_bytes"},
	{"memory.low", 1, NULL, V_BYTES, NULL},
	{"cpu.max", 1, NULL, V_CPU_MAX, "cpu.cfs_quota_us"},
	{"cpu.weight", 1, NULL, V_WEIGHT, "cpu.shares"},
	{"io.max", 1, NULL, V_IO_MAX, NULL},
	{"memory.soft_limit_in_bytes", 0, "memory", V_BYTES, NULL},
	{"memory.limit_in_bytes", 0, "memory", V_BYTES, NULL},
	{"cpu.cfs_quota_us", 0, "cpu", V_QUOTA, NULL},
	{"cpu.cfs_period_us", 0, "cpu", V_PERIOD, NULL},
	{"cpu.shares", 0, "cpu", V_SHARES, NULL},
};

static const struct cg_key *key_find(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* One file to write. */
struct cg_write {
	char path[CG_PATH];
	const char *file; /* static name */
	char value[CG_VALUE];
};

struct cg_plan {
	struct cg_write w[CG_MAX_WRITES];
	size_t n;
};

static bool number_in(const char *s, long long lo, long long hi)
{
	return act_all_digits(s) && strlen(s) < 19 && atoll(s) >= lo && atoll(s) <= hi;
}

/* "max", "QUOTA", "max PERIOD" or "QUOTA PERIOD" */
static bool valid_cpu_max(const char *s)
{
	char q[32], p[32], extra;
	int n = sscanf(s, "%31s %31s %c", q, p, &extra);
	if (n < 1 || n > 2)
		return false;
	return (strcmp(q, "max") == 0 || number_in(q, 1000, 1000000000000LL)) &&
	       (n == 1 || number_in(p, 1000, 1000000));
}

static bool valid_value(enum cg_value_kind kind, const char *v)
{
	switch (kind) {
	case V_BYTES: return strcmp(v, "max") == 0 || strcmp(v, "-1") == 0 || act_all_digits(v);
	case V_WEIGHT: return number_in(v, 1, 10000);
	case V_SHARES: return number_in(v, 2, 262144);
	case V_CPU_MAX: return valid_cpu_max(v);
	case V_QUOTA: return strcmp(v, "-1") == 0 || number_in(v, 1000, 1000000000000LL);
	case V_PERIOD: return number_in(v, 1000, 1000000);
	case V_IO_MAX: return *v && strspn(v, "0123456789:abcdefghijklmnopqrstuvwxyz= ") == strlen(v);
	}
	return false;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* A path below the root: no "..", no odd characters. */
static bool valid_target(const char *t)
{
	if (!t || !*t || strlen(t) > 256 || strstr(t, ".."))
		return false;
	return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@/-") ==
	       strlen(t);
}

/* The v2 tree: the root itself when it is a cgroup2 mount, else ROOT/unified. */
static void v2_dir(const struct act_env *env, const char *target, char *out, size_t n)
{
	char probe[CG_PATH];
	textf(probe, sizeof(probe), "%s/cgroup.controllers", env->cgroup_root);
	textf(out, n, exists(probe) ? "%s/%s" : "%s/unified/%s", env->cgroup_root,
		 target[0] == '/' ? target + 1 : target);
}

static void v1_dir(const struct act_env *env, const char *ctrl, const char *target, char *out,
		   size_t n)
{
	textf(out, n, "%s/%s/%s", env->cgroup_root, ctrl, target[0] == '/' ? target + 1 : target);
}

static int plan_add(struct act_op *op, struct cg_plan *p, const char *dir, const char *file,
		    const char *value)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->w[i].file, file) == 0)
			return act_fail(op, BM_EINVAL, "cgroup %s: %s is set twice", op->target, file);
	if (p->n == CG_MAX_WRITES)
		return act_fail(op, BM_EINVAL, "cgroup %s: too many keys", op->target);
	struct cg_write *w = &p->w[p->n++];
	textf(w->path, sizeof(w->path), "%s/%s", dir, file);
	w->file = file;
	textf(w->value, sizeof(w->value), "%s", value);
	return 0;
}

/* The v1 writes standing for a v2 key and value. */
static int plan_v1_equivalent(struct act_op *op, struct cg_plan *p, const struct act_env *env,
			      const struct cg_key *k, const char *value)
{
	const char *ctrl = k->kind == V_BYTES ? "memory" : "cpu";
	char dir[CG_PATH], v[CG_VALUE];
	v1_dir(env, ctrl, op->target, dir, sizeof(dir));
	if (!k->v1_equiv || !is_dir(dir))
		return act_fail(op, BM_ENOENT,
				"cgroup %s: no %s file in the v2 tree and %s (v1: %s)", op->target,
				k->name, k->v1_equiv ? "no v1 cgroup " : "no v1 equivalent",
				k->v1_equiv ? dir : "refused");
	if (k->kind == V_BYTES)
		return plan_add(op, p, dir, k->v1_equiv, strcmp(value, "max") ? value : "-1");
	if (k->kind == V_WEIGHT) {
		textf(v, sizeof(v), "%lld", atoll(value) * 1024 / 100);
		return plan_add(op, p, dir, k->v1_equiv, v);
	}
	/* cpu.max "QUOTA [PERIOD]": quota first, then the period when given */
	char q[32] = "", per[32] = "";
	sscanf(value, "%31s %31s", q, per);
	int rc = plan_add(op, p, dir, "cpu.cfs_quota_us", strcmp(q, "max") ? q : "-1");
	return rc || !per[0] ? rc : plan_add(op, p, dir, "cpu.cfs_period_us", per);
}

static int plan_key(struct act_op *op, struct cg_plan *p, const struct act_env *env,
		    const struct bm_kv *kv)
{
	const struct cg_key *k = key_find(kv->key);
	if (!k)
		return act_fail(op, BM_EINVAL,
				"cgroup %s: unknown key \"%s\" (v2: memory.high, memory.max, "
				"memory.low, cpu.max, cpu.weight, io.max; v1: "
				"memory.soft_limit_in_bytes, memory.limit_in_bytes, "
				"cpu.cfs_quota_us, cpu.cfs_period_us, cpu.shares)",
				op->target, kv->key);
	if (!valid_value(k->kind, kv->value))
		return act_fail(op, BM_EINVAL, "cgroup %s: bad value \"%s\" for %s", op->target,
				kv->value, kv->key);
	char dir[CG_PATH], file[CG_PATH];
	if (!k->v2) {
		v1_dir(env, k->ctrl, op->target, dir, sizeof(dir));
		if (!is_dir(dir))
			return act_fail(op, BM_ENOENT, "cgroup %s: %s does not exist", op->target,
					dir);
		return plan_add(op, p, dir, k->name, kv->value);
	}
	v2_dir(env, op->target, dir, sizeof(dir));
	textf(file, sizeof(file), "%s/%s", dir, k->name);
	if (exists(file))
		return plan_add(op, p, dir, k->name, kv->value);
	return plan_v1_equivalent(op, p, env, k, kv->value);
}

static int make_plan(struct act_env *env, struct act_op *op, struct cg_plan *p)
{
	p->n = 0;
	if (!valid_target(op->target))
		return act_fail(op, BM_EINVAL,
				"cgroup target \"%s\": want a path below %s without \"..\"",
				op->target ? op->target : "", env->cgroup_root);
	if (!op->params->n)
		return act_fail(op, BM_EINVAL, "cgroup %s: no key to set", op->target);
	for (size_t i = 0; i < op->params->n; i++) {
		int rc = plan_key(op, p, env, &op->params->v[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* Read every file of the plan into kv (by file name). */
static int read_all(struct act_op *op, const struct cg_plan *p, struct kvl *kv)
{
	char buf[CG_VALUE];
	kvl_free(kv);
	for (size_t i = 0; i < p->n; i++) {
		int rc = act_read_file(op, p->w[i].path, buf, sizeof(buf));
		if (!rc)
			rc = kvl_set(kv, p->w[i].file, buf);
		if (rc)
			return rc;
	}
	return 0;
}

static void describe(struct act_op *op, const struct cg_plan *p)
{
	size_t used = 0;
	op->what[0] = '\0';
	for (size_t i = 0; i < p->n && used < sizeof(op->what); i++) {
		int w = snprintf(op->what + used, sizeof(op->what) - used, "%swrite %s to %s (now %s)",
				 i ? "; " : "", p->w[i].value, p->w[i].path,
				 kvl_get(&op->before, p->w[i].file));
		used += w > 0 ? (size_t)w : 0;
	}
}

/* The writes of the request and the values they would replace. */
static int prepare_plan(struct act_env *env, struct act_op *op, struct cg_plan *p)
{
	int rc = make_plan(env, op, p);
	if (!rc)
		rc = read_all(op, p, &op->before);
	if (!rc)
		describe(op, p);
	return rc;
}

static int cg_prepare(struct act_env *env, struct act_op *op)
{
	struct cg_plan p;
	return prepare_plan(env, op, &p);
}

/* Write writes[0..n) in order; on a failure put back what was written. */
static int write_plan(struct act_op *op, const struct cg_plan *p, const struct kvl *undo)
{
	for (size_t i = 0; i < p->n; i++) {
		int rc = act_write_file(op, p->w[i].path, p->w[i].value);
		if (!rc)
			continue;
		char keep[sizeof(op->error)];
		memcpy(keep, op->error, sizeof(keep));
		while (i-- > 0)
			act_write_file(op, p->w[i].path, kvl_get(undo, p->w[i].file));
		memcpy(op->error, keep, sizeof(keep));
		return rc;
	}
	return 0;
}

static int cg_apply(struct act_env *env, struct act_op *op)
{
	struct cg_plan p;
	int rc = prepare_plan(env, op, &p);
	if (!rc)
		rc = write_plan(op, &p, &op->before);
	return rc ? rc : read_all(op, &p, &op->after);
}

/* The plan that writes `before` back, last written first. */
static int restore_plan(struct act_env *env, struct act_op *op, struct cg_plan *p)
{
	p->n = 0;
	for (size_t i = op->before.n; i-- > 0;) {
		const struct bm_kv *kv = &op->before.v[i];
		const struct cg_key *k = key_find(kv->key);
		char dir[CG_PATH];
		if (!k)
			return act_fail(op, BM_EINVAL, "cgroup %s: cannot restore unknown file %s",
					op->target, kv->key);
		if (k->v2)
			v2_dir(env, op->target, dir, sizeof(dir));
		else
			v1_dir(env, k->ctrl, op->target, dir, sizeof(dir));
		int rc = plan_add(op, p, dir, k->name, kv->value);
		if (rc)
			return rc;
	}
	return 0;
}

static int cg_restore(struct act_env *env, struct act_op *op)
{
	struct cg_plan p;
	struct kvl now = {0};
	if (!valid_target(op->target))
		return act_fail(op, BM_EINVAL, "cgroup target \"%s\" is not valid", op->target);
	int rc = restore_plan(env, op, &p);
	if (!rc)
		rc = read_all(op, &p, &now);
	if (!rc)
		rc = write_plan(op, &p, &now);
	if (!rc)
		rc = read_all(op, &p, &op->after);
	kvl_free(&now);
	if (!rc)
		textf(op->what, sizeof(op->what), "restored %zu file(s) of cgroup %s", p.n,
			 op->target);
	return rc;
}

const struct actuator act_cgroup = {
	.name = "cgroup",
	.prepare = cg_prepare,
	.apply = cg_apply,
	.restore = cg_restore,
};
