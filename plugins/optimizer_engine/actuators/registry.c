/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The actuator table, the glue that turns a synchronous or asynchronous
 * apply/restore into one done callback, and the file and text helpers the
 * cgroup, process and sysctl actuators share.
 */
#define _GNU_SOURCE
#include "actuator.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *const actuator_names[] = {"cgroup", "process", "sysctl", "agent_command", NULL};

static const struct actuator *const actuators[] = {&act_cgroup, &act_process, &act_sysctl,
						  &act_agent_command};

const struct actuator *actuator_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(actuators) / sizeof(actuators[0]); i++)
		if (strcmp(actuators[i]->name, name) == 0)
			return actuators[i];
	return NULL;
}

int act_fail(struct act_op *op, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(op->error, sizeof(op->error), fmt, ap);
	va_end(ap);
	return code;
}

static void run(struct act_env *env, int (*fn)(struct act_env *, struct act_op *),
		struct act_op *op, act_done_cb done, void *user)
{
	op->done = done;
	op->user = user;
	op->error[0] = '\0';
	int rc = fn(env, op);
	if (rc != BM_EAGAIN)
		done(user, op, rc);
}

void act_apply(struct act_env *env, const struct actuator *a, struct act_op *op,
	       act_done_cb done, void *user)
{
	run(env, a->apply, op, done, user);
}

void act_restore(struct act_env *env, const struct actuator *a, struct act_op *op,
		 act_done_cb done, void *user)
{
	run(env, a->restore, op, done, user);
}

void act_op_release(struct act_op *op)
{
	kvl_free(&op->before);
	kvl_free(&op->after);
}

static int errno_code(int e)
{
	switch (e) {
	case ENOENT: return BM_ENOENT;
	case EACCES:
	case EPERM:
	case EROFS: return BM_EPERM;
	case EINVAL: return BM_EINVAL;
	default: return BM_EIO;
	}
}

int act_read_file(struct act_op *op, const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return act_fail(op, errno_code(errno), "cannot read %s: %s", path, strerror(errno));
	ssize_t r = read(fd, buf, n - 1);
	int e = errno;
	close(fd);
	if (r < 0)
		return act_fail(op, errno_code(e), "cannot read %s: %s", path, strerror(e));
	buf[r] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int act_write_file(struct act_op *op, const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC); /* as a shell redirection */
	if (fd < 0)
		return act_fail(op, errno_code(errno), "cannot open %s for writing: %s", path,
				strerror(errno));
	size_t len = strlen(value);
	ssize_t w = write(fd, value, len);
	int e = errno;
	close(fd);
	if (w < 0)
		return act_fail(op, errno_code(e), "cannot write \"%s\" to %s: %s", value, path,
				strerror(e));
	if ((size_t)w != len)
		return act_fail(op, BM_EIO, "short write of \"%s\" to %s", value, path);
	return 0;
}

bool act_all_digits(const char *s)
{
	return *s && s[strspn(s, "0123456789")] == '\0';
}
