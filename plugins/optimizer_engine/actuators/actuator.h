/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Actuators: the only code in bearmon that changes the host. Each one
 * reads the current state before it changes anything (op->before, in the
 * unit it writes), makes the change, reads the result back (op->after),
 * and can write `before` back exactly (restore). The engine runs only
 * the actuators its config allows; these functions do not check that.
 *
 *   cgroup         cgroup v2 memory.high/max/low, cpu.max, cpu.weight,
 *                  io.max; the v1 equivalents on hybrid and legacy hosts
 *   process        nice, ionice, CPU affinity of a pid, an agent's
 *                  process or the one process with a given comm
 *   sysctl         keys on the configured allow-list, uid 0 only
 *   agent_command  a command to an agent over the native protocol,
 *                  acknowledged (asynchronous)
 */
#ifndef BEARMON_OPT_ACTUATOR_H
#define BEARMON_OPT_ACTUATOR_H

#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../shared/agents.h"
#include "../shared/kvl.h"

struct act_pending;

/* What the actuators need from their caller. Main thread only. */
struct act_env {
	struct bm_ctx *ctx;
	const char *cgroup_root;              /* "/sys/fs/cgroup" */
	const char *proc_root;                /* "/proc" */
	const char *sysctl_root;              /* "/proc/sys" */
	const struct bm_strlist *sysctl_allow; /* keys, dotted */
	int64_t command_timeout_ms;
	const struct oagents *agents;         /* pids and capabilities */
	struct act_pending *pending;          /* agent commands awaiting an ack */
	uint64_t seq;                         /* command ids */
	uid_t uid;                            /* effective uid to check sysctl against */
};

struct act_op;
/* Called exactly once per apply or restore, maybe before it returns. */
typedef void (*act_done_cb)(void *user, struct act_op *op, int rc);

/* One change, from request to result. */
struct act_op {
	const char *actuator; /* borrowed from the caller, live until done */
	const char *target;
	const struct kvl *params;
	const char *action_id; /* carried to the agent with a command; may be NULL */
	struct kvl before;     /* filled by prepare/apply */
	struct kvl after;      /* filled by apply/restore */
	char what[512];        /* for people: what it does or did */
	char error[256];       /* why it failed */
	act_done_cb done;
	void *user;
};

struct actuator {
	const char *name;
	/* Check the request and read the current state into op->before,
	 * changing nothing; fill op->what with what apply would do. */
	int (*prepare)(struct act_env *env, struct act_op *op);
	/* Change: 0 or BM_E* with op->error set, or BM_EAGAIN when the
	 * answer comes later through op->done. */
	int (*apply)(struct act_env *env, struct act_op *op);
	/* Write op->before back; same return convention. */
	int (*restore)(struct act_env *env, struct act_op *op);
};

/* The actuator of that name, or NULL. */
const struct actuator *actuator_find(const char *name);
/* Every actuator name, NULL-terminated (for the option's help and docs). */
extern const char *const actuator_names[];

/* Run apply or restore and deliver its outcome through done (exactly once). */
void act_apply(struct act_env *env, const struct actuator *a, struct act_op *op,
	       act_done_cb done, void *user);
void act_restore(struct act_env *env, const struct actuator *a, struct act_op *op,
		 act_done_cb done, void *user);
void act_op_release(struct act_op *op);

/* Agent commands (agent_command.c): an ack from the bus; commands past
 * their deadline (plus a grace) fail with BM_ETIMEDOUT; a cancelled op
 * (its owner goes away) never hears back. */
void act_agent_on_ack(struct act_env *env, const struct bm_agent_ack_event *ack);
void act_agent_expire(struct act_env *env, int64_t now_ms);
void act_agent_cancel(struct act_env *env, const struct act_op *op);
void act_pending_free(struct act_env *env);
size_t act_pending_count(const struct act_env *env);

/* Helpers shared by the file-writing actuators (files.c). */
/* The first line of path, trailing newline cut: 0 or BM_EIO/BM_ENOENT/BM_EPERM with op->error. */
int act_read_file(struct act_op *op, const char *path, char *buf, size_t n);
/* Write value to path in one write(2): 0 or BM_E* with op->error. */
int act_write_file(struct act_op *op, const char *path, const char *value);
/* Whether s is one or more decimal digits and nothing else (a pid, a
 * byte count). */
bool act_all_digits(const char *s);
/* bm_err-style message into op->error; returns code. */
__attribute__((format(printf, 3, 4))) int act_fail(struct act_op *op, int code, const char *fmt,
						     ...);

extern const struct actuator act_cgroup;
extern const struct actuator act_process;
extern const struct actuator act_sysctl;
extern const struct actuator act_agent_command;

#endif
