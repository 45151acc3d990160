/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent command actuator: target an agent id, parameters "command"
 * (the command's name) and its arguments. The command goes out as an
 * `agent.command` event (collector/agent delivers it over the native
 * protocol) and the outcome comes back as `agent.ack`. By convention
 * (sdk/PROTOCOL.md, the example agents) a setting is changed with the
 * argument `value` and the ack's result carries `previous`: that becomes
 * before.value, and restore sends the same command with value = previous.
 * A command whose ack has no `previous` (evicting a cache) cannot be
 * undone, and restore says so.
 */
#define _GNU_SOURCE
#include "actuator.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An ack may arrive a little after the deadline the agent plugin enforces
 * (it answers ok=false itself then); ours is the backstop. */
#define GRACE_MS 5000

struct act_pending {
	struct act_pending *next;
	char command_id[64];
	struct act_op *op;
	bool restoring;
	int64_t deadline_ms;
};

static int check(struct act_env *env, struct act_op *op, const char **command)
{
	*command = kvl_get(op->params, "command");
	if (!op->target || !*op->target)
		return act_fail(op, BM_EINVAL, "agent_command: no agent id in the target");
	if (!*command || !**command)
		return act_fail(op, BM_EINVAL, "agent_command %s: no \"command\" parameter",
				op->target);
	/* An agent the registry has not heard of yet (the engine restarted
	 * since its hello) gets the command anyway: collector/agent knows who
	 * is connected and answers ok=false for an agent that is not. */
	const struct oagent *a = env->agents ? oagents_find(env->agents, op->target) : NULL;
	if (a && !oagent_can(a, *command))
		return act_fail(op, BM_ENOTSUP, "agent %s does not accept the command %s",
				op->target, *command);
	return 0;
}

static int ac_prepare(struct act_env *env, struct act_op *op)
{
	const char *command;
	int rc = check(env, op, &command);
	kvl_free(&op->before);
	if (!rc) {
		char args[256];
		struct kvl shown = {0};
		for (size_t i = 0; i < op->params->n; i++)
			if (strcmp(op->params->v[i].key, "command") != 0)
				kvl_set(&shown, op->params->v[i].key, op->params->v[i].value);
		kvl_format(&shown, args, sizeof(args));
		kvl_free(&shown);
		textf(op->what, sizeof(op->what),
			 "send %s(%s) to agent %s and wait for its ack (the previous value comes "
			 "with it)",
			 command, args, op->target);
	}
	return rc;
}

/* Publish the command with args (every parameter but "command"), value
 * replaced when value_override is set. */
static int send_command(struct act_env *env, struct act_op *op, const char *command,
			const char *value_override, bool restoring)
{
	struct act_pending *p = calloc(1, sizeof(*p));
	struct bm_kv *args = calloc(op->params->n + 1, sizeof(*args));
	if (!p || !args) {
		free(p);
		free(args);
		return act_fail(op, BM_ENOMEM, "out of memory");
	}
	size_t n = 0;
	for (size_t i = 0; i < op->params->n; i++) {
		const struct bm_kv *kv = &op->params->v[i];
		if (strcmp(kv->key, "command") == 0)
			continue;
		bool repl = value_override && strcmp(kv->key, "value") == 0;
		args[n++] = (struct bm_kv){kv->key, repl ? value_override : kv->value};
	}
	int64_t now = bm_now_ms(env->ctx);
	textf(p->command_id, sizeof(p->command_id), "opt-%" PRId64 "-%" PRIu64, now, ++env->seq);
	struct bm_agent_command_event e = {
		.ts_ms = now, .command_id = p->command_id, .agent_id = op->target, .name = command,
		.args = args, .n_args = n, .deadline_ms = now + env->command_timeout_ms,
		.action_id = op->action_id,
	};
	struct bm_buf buf = {0};
	int rc = bm_agent_command_encode(&e, &buf);
	if (!rc)
		rc = bm_bus_publish(env->ctx, BM_TOPIC_AGENT_COMMAND, buf.data, buf.len);
	bm_buf_free(&buf);
	free(args);
	if (rc) {
		free(p);
		return act_fail(op, rc, "cannot publish the command to agent %s: %s", op->target,
				bm_strerror(rc));
	}
	p->op = op;
	p->restoring = restoring;
	p->deadline_ms = e.deadline_ms + GRACE_MS;
	p->next = env->pending;
	env->pending = p;
	return BM_EAGAIN;
}

static int ac_apply(struct act_env *env, struct act_op *op)
{
	int rc = ac_prepare(env, op);
	return rc ? rc : send_command(env, op, kvl_get(op->params, "command"), NULL, false);
}

static int ac_restore(struct act_env *env, struct act_op *op)
{
	const char *command = kvl_get(op->params, "command");
	const char *previous = kvl_get(&op->before, "value");
	if (!command)
		return act_fail(op, BM_EINVAL, "agent_command %s: no command to undo", op->target);
	if (!previous)
		return act_fail(op, BM_ENOTSUP,
				"%s on agent %s cannot be undone: its ack carried no previous value",
				command, op->target);
	if (!kvl_get(op->params, "value"))
		return act_fail(op, BM_EINVAL, "%s on agent %s took no value to restore", command,
				op->target);
	return send_command(env, op, command, previous, true);
}

/* Unlink and return the pending entry that matches. */
static struct act_pending *take(struct act_env *env, bool (*match)(const struct act_pending *,
								  const void *),
				const void *what)
{
	for (struct act_pending **pp = &env->pending; *pp; pp = &(*pp)->next) {
		if (match(*pp, what)) {
			struct act_pending *p = *pp;
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static bool by_id(const struct act_pending *p, const void *id)
{
	return strcmp(p->command_id, id) == 0;
}

static bool by_op(const struct act_pending *p, const void *op)
{
	return p->op == op;
}

static bool by_deadline(const struct act_pending *p, const void *now)
{
	return p->deadline_ms <= *(const int64_t *)now;
}

/* The ack's outcome into the op: after = what was asked, before = the
 * previous value (apply only: a restore keeps the before it restored). */
static int take_ack(struct act_op *op, const struct bm_agent_ack_event *ack, bool restoring)
{
	const char *prev = kv_get(ack->result, ack->n_result, "previous");
	const char *command = kvl_get(op->params, "command");
	if (!ack->ok)
		return act_fail(op, BM_EIO, "agent %s refused %s: %s", op->target, command,
				ack->detail ? ack->detail : "no detail");
	kvl_free(&op->after);
	const char *value = restoring ? kvl_get(&op->before, "value") : kvl_get(op->params, "value");
	if (value)
		kvl_set(&op->after, "value", value);
	if (!restoring) {
		kvl_free(&op->before);
		if (prev)
			kvl_set(&op->before, "value", prev);
	}
	textf(op->what, sizeof(op->what), "agent %s acknowledged %s%s%s%s", op->target, command,
		 ack->detail ? ": " : "", ack->detail ? ack->detail : "",
		 prev ? "" : " (no previous value: not reversible)");
	return 0;
}

void act_agent_on_ack(struct act_env *env, const struct bm_agent_ack_event *ack)
{
	struct act_pending *p = take(env, by_id, ack->command_id);
	if (!p)
		return; /* another issuer's command, or one we gave up on */
	struct act_op *op = p->op;
	int rc = take_ack(op, ack, p->restoring);
	free(p);
	op->done(op->user, op, rc);
}

void act_agent_expire(struct act_env *env, int64_t now_ms)
{
	struct act_pending *p;
	while ((p = take(env, by_deadline, &now_ms))) {
		struct act_op *op = p->op;
		free(p);
		act_fail(op, BM_ETIMEDOUT, "agent %s did not acknowledge %s in time", op->target,
			 kvl_get(op->params, "command"));
		op->done(op->user, op, BM_ETIMEDOUT);
	}
}

void act_agent_cancel(struct act_env *env, const struct act_op *op)
{
	free(take(env, by_op, op));
}

void act_pending_free(struct act_env *env)
{
	while (env->pending) {
		struct act_pending *p = env->pending;
		env->pending = p->next;
		free(p);
	}
}

size_t act_pending_count(const struct act_env *env)
{
	size_t n = 0;
	for (const struct act_pending *p = env->pending; p; p = p->next)
		n++;
	return n;
}

const struct actuator act_agent_command = {
	.name = "agent_command",
	.prepare = ac_prepare,
	.apply = ac_apply,
	.restore = ac_restore,
};
