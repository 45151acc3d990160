/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command routing (io_int.h): agent.command events from the bus are queued
 * by the delivery thread, sent by the I/O thread to the agent's connection,
 * and answered on agent.ack: with the agent's ack, or with ok=false when
 * the agent is not connected, leaves, or lets the deadline pass.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io_int.h"

static void publish_ack(struct io *io, const char *command_id, const char *agent_id, bool ok,
			const char *detail, const struct bm_kv *result, size_t n_result)
{
	struct bm_agent_ack_event e = {
		.ts_ms = io->now, .command_id = command_id, .agent_id = agent_id, .ok = ok,
		.detail = detail, .result = result, .n_result = n_result,
	};
	if (!ok)
		st_add(&io->st->command_failures, 1);
	if (bm_agent_ack_encode(&e, &io->ebuf) == 0 &&
	    bm_bus_publish(io->ctx, BM_TOPIC_AGENT_ACK, io->ebuf.data, io->ebuf.len) != 0)
		st_add(&io->st->publish_failures, 1);
}


static const struct bm_kv *kv_copy(struct io *io, const struct ap_kv *v, uint32_t n)
{
	struct bm_kv *out = n ? bm_arena_alloc(&io->arena, n * sizeof(*out)) : NULL;
	for (uint32_t i = 0; out && i < n; i++) {
		out[i].key = bm_arena_strndup(&io->arena, v[i].k.p, v[i].k.n);
		out[i].value = bm_arena_strndup(&io->arena, v[i].v.p, v[i].v.n);
		if (!out[i].key || !out[i].value)
			return NULL;
	}
	return out;
}

void cmd_on_ack(struct io *io, struct agent *a, const struct ap_ack *k)
{
	struct cmd **pp = &io->pending;
	for (; *pp; pp = &(*pp)->next) {
		const struct bm_agent_command_event *e = &(*pp)->ev;
		if (strlen(e->command_id) == k->id.n && !memcmp(e->command_id, k->id.p, k->id.n) &&
		    strcmp(e->agent_id, a->id) == 0)
			break;
	}
	if (!*pp) {
		st_add(&io->st->acks_unmatched, 1);
		log_limited(io, LK_COMMAND, BM_LOG_INFO,
			    "agent %s: ack of an unknown or timed out command %.*s", a->id,
			    (int)(k->id.n > 64 ? 64 : k->id.n), k->id.p);
		return;
	}
	struct cmd *cmd = *pp;
	*pp = cmd->next;
	io->n_pending--;
	st_add(&io->st->acks, 1);
	bm_arena_reset(&io->arena);
	const char *detail = bm_arena_strndup(&io->arena, k->detail.p, k->detail.n);
	const struct bm_kv *res = kv_copy(io, k->result, k->n_result);
	publish_ack(io, cmd->ev.command_id, a->id, k->ok, detail && detail[0] ? detail : NULL, res,
		    res ? k->n_result : 0);
	bm_arena_free(&cmd->arena);
	free(cmd);
}


static void free_cmd(struct cmd *c)
{
	bm_arena_free(&c->arena);
	free(c);
}

void io_command(struct io *io, const void *body, size_t len)
{
	struct cmd *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	if (bm_agent_command_decode(body, len, &c->ev, &c->arena)) {
		bm_log_warn(io->ctx, "agent.command event with a malformed body ignored");
		free_cmd(c);
		return;
	}
	pthread_mutex_lock(&io->qlock);
	bool full = io->n_queue >= io->c.max_pending_commands;
	if (!full) {
		if (io->queue_tail)
			io->queue_tail->next = c;
		else
			io->queue = c;
		io->queue_tail = c;
		io->n_queue++;
	}
	pthread_mutex_unlock(&io->qlock);
	if (full) {
		/* answered here: the I/O thread's buffers are its own */
		struct bm_buf b = {0};
		struct bm_agent_ack_event e = {.ts_ms = bm_now_ms(io->ctx),
					       .command_id = c->ev.command_id,
					       .agent_id = c->ev.agent_id,
					       .ok = false,
					       .detail = "too many commands queued"};
		if (bm_agent_ack_encode(&e, &b) == 0)
			bm_bus_publish(io->ctx, BM_TOPIC_AGENT_ACK, b.data, b.len);
		bm_buf_free(&b);
		free_cmd(c);
		return;
	}
	uint64_t one = 1;
	if (write(io->wake.fd, &one, sizeof(one)) < 0)
		errno = 0; /* the counter is already non-zero: a wakeup is due */
}

void cmd_fail_pending(struct io *io, const char *agent_id, const char *why)
{
	for (struct cmd **pp = &io->pending; *pp;) {
		struct cmd *c = *pp;
		if (agent_id && strcmp(c->ev.agent_id, agent_id) != 0) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		io->n_pending--;
		publish_ack(io, c->ev.command_id, c->ev.agent_id, false, why, NULL, 0);
		free_cmd(c);
	}
}

static void deliver(struct io *io, struct cmd *c)
{
	const struct bm_agent_command_event *e = &c->ev;
	struct agent *a = reg_find(io->reg, e->agent_id, strlen(e->agent_id));
	const char *why = NULL;
	c->deadline_ms = e->deadline_ms ? e->deadline_ms : io->now + io->c.command_timeout_ms;
	if (!a || !a->conn)
		why = "agent not connected";
	else if (c->deadline_ms <= io->now)
		why = "deadline passed before delivery";
	else if (io->n_pending >= io->c.max_pending_commands)
		why = "too many commands pending";
	bm_buf_reset(&io->fbuf);
	if (!why && ap_encode_command(&io->fbuf, e->command_id, e->name, e->args, e->n_args,
				      c->deadline_ms))
		why = "out of memory";
	st_add(&io->st->commands, 1);
	if (why) {
		publish_ack(io, e->command_id, e->agent_id, false, why, NULL, 0);
		free_cmd(c);
		return;
	}
	c->next = io->pending;
	io->pending = c;
	io->n_pending++;
	conn_send(io, a->conn, io->fbuf.data, io->fbuf.len);
}

void cmd_drain(struct io *io)
{
	uint64_t v;
	if (read(io->wake.fd, &v, sizeof(v)) < 0)
		errno = 0; /* nothing was signalled: nothing to drain */
	pthread_mutex_lock(&io->qlock);
	struct cmd *q = io->queue;
	io->queue = io->queue_tail = NULL;
	io->n_queue = 0;
	pthread_mutex_unlock(&io->qlock);
	while (q) {
		struct cmd *next = q->next;
		q->next = NULL;
		deliver(io, q);
		q = next;
	}
}

void cmd_expire(struct io *io)
{
	for (struct cmd **pp = &io->pending; *pp;) {
		struct cmd *c = *pp;
		if (c->deadline_ms > io->now) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		io->n_pending--;
		publish_ack(io, c->ev.command_id, c->ev.agent_id, false, "timed out: no ack by the deadline",
			    NULL, 0);
		free_cmd(c);
	}
}

void cmd_free_queue(struct io *io)
{
	for (struct cmd *c = io->queue, *n; c; c = n) {
		n = c->next;
		free_cmd(c);
	}
	io->queue = io->queue_tail = NULL;
	io->n_queue = 0;
}
