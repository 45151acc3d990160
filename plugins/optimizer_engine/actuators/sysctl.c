/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sysctl actuator: one key of /proc/sys (target "vm.swappiness" or
 * "vm/swappiness"), parameter "value". Only keys on the configured
 * allow-list are written. Writing most of /proc/sys needs uid 0 itself,
 * not a capability; bearmond has no privileged helper, so when it runs
 * unprivileged the change is refused with a message that says so rather
 * than failing half-way.
 */
#define _GNU_SOURCE
#include "actuator.h"

#include <stdio.h>
#include <string.h>

#define SYSCTL_VALUE 512

/* "vm/swappiness" -> "vm.swappiness"; false for anything but [a-z0-9_.-/]. */
static bool normalise(const char *target, char *key, size_t n)
{
	if (!target || !*target || strlen(target) >= n || strstr(target, "..") ||
	    strspn(target, "abcdefghijklmnopqrstuvwxyz0123456789_.-/") != strlen(target))
		return false;
	for (size_t i = 0; target[i]; i++)
		key[i] = target[i] == '/' ? '.' : target[i];
	key[strlen(target)] = '\0';
	return key[0] != '.';
}

static bool allowed(const struct act_env *env, const char *key)
{
	for (size_t i = 0; env->sysctl_allow && i < env->sysctl_allow->n; i++) {
		char k[256];
		if (normalise(env->sysctl_allow->v[i], k, sizeof(k)) && strcmp(k, key) == 0)
			return true;
	}
	return false;
}

static void path_of(const struct act_env *env, const char *key, char *out, size_t n)
{
	int w = snprintf(out, n, "%s/", env->sysctl_root);
	for (size_t i = 0; key[i] && (size_t)w + i + 1 < n; i++) {
		out[w + i] = key[i] == '.' ? '/' : key[i];
		out[w + i + 1] = '\0';
	}
}

/* The key, its file, and the checks that come before any read. */
static int check(struct act_env *env, struct act_op *op, char *path, size_t n)
{
	char key[256];
	if (!normalise(op->target, key, sizeof(key)))
		return act_fail(op, BM_EINVAL, "sysctl \"%s\": not a sysctl key",
				op->target ? op->target : "");
	if (!allowed(env, key))
		return act_fail(op, BM_EPERM,
				"sysctl %s is not on the allow-list (option sysctl_allow)", key);
	if (env->uid != 0)
		return act_fail(op, BM_EPERM,
				"sysctl %s: writing /proc/sys needs uid 0 and bearmond runs as uid "
				"%u; there is no privileged helper, so the change is refused (set it "
				"as root, or run bearmond as root)",
				key, (unsigned)env->uid);
	path_of(env, key, path, n);
	return 0;
}

static int read_value(struct act_op *op, const char *path, struct kvl *out)
{
	char v[SYSCTL_VALUE];
	int rc = act_read_file(op, path, v, sizeof(v));
	kvl_free(out);
	return rc ? rc : kvl_set(out, "value", v);
}

static int sc_prepare(struct act_env *env, struct act_op *op)
{
	char path[512];
	const char *want = kvl_get(op->params, "value");
	if (!want || op->params->n != 1 || strchr(want, '\n'))
		return act_fail(op, BM_EINVAL, "sysctl %s: want exactly one parameter, \"value\"",
				op->target ? op->target : "");
	int rc = check(env, op, path, sizeof(path));
	if (!rc)
		rc = read_value(op, path, &op->before);
	if (!rc)
		textf(op->what, sizeof(op->what), "write \"%s\" to %s (now \"%s\")", want, path,
			 kvl_get(&op->before, "value"));
	return rc;
}

static int write_and_read(struct act_env *env, struct act_op *op, const char *value)
{
	char path[512];
	int rc = check(env, op, path, sizeof(path));
	if (!rc)
		rc = act_write_file(op, path, value);
	return rc ? rc : read_value(op, path, &op->after);
}

static int sc_apply(struct act_env *env, struct act_op *op)
{
	int rc = sc_prepare(env, op);
	return rc ? rc : write_and_read(env, op, kvl_get(op->params, "value"));
}

static int sc_restore(struct act_env *env, struct act_op *op)
{
	const char *old = kvl_get(&op->before, "value");
	if (!old)
		return act_fail(op, BM_EINVAL, "sysctl %s: no previous value recorded", op->target);
	int rc = write_and_read(env, op, old);
	if (!rc)
		textf(op->what, sizeof(op->what), "restored sysctl %s to \"%s\"", op->target, old);
	return rc;
}

const struct actuator act_sysctl = {
	.name = "sysctl",
	.prepare = sc_prepare,
	.apply = sc_apply,
	.restore = sc_restore,
};
