/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libbearmon-client's I/O: the connection state machine (connect, hello,
 * welcome, reports, heartbeats, reconnect with a bounded exponential
 * backoff), bm_client_poll for the agent's own loop, the optional
 * background thread, and flush. All socket calls are non-blocking; the
 * only wait is the poll(2) in bm_client_poll, outside the lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

/* ---- connection state machine (lock held throughout) ----------------- */

static void set_state(struct bm_client *c, enum bmc_state s, int64_t now)
{
	c->state = s;
	c->state_since = now;
}

/* The attempt or session ended: close, and schedule the next attempt after
 * the backoff, with +-25% jitter so that many agents restarted together do
 * not reconnect in lockstep. */
static void connection_lost(struct bm_client *c, int64_t now)
{
	int wait =
	    c->backoff_ms * 3 / 4 + (int)(rand_r(&c->seed) % (unsigned)(c->backoff_ms / 2 + 1));

	if (c->state == BMC_READY)
		c->st.disconnects++;
	else
		c->st.connect_failures++;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	bmc_queue_rewind(&c->q);
	bmc_buf_truncate(&c->in, 0);
	set_state(c, BMC_DOWN, now);
	c->retry_at = now + wait;
	c->backoff_ms =
	    c->backoff_ms * 2 < c->reconnect_max_ms ? c->backoff_ms * 2 : c->reconnect_max_ms;
	pthread_cond_broadcast(&c->drained);
}

static void begin_greeting(struct bm_client *c, int64_t now)
{
	struct bmc_hello h = {
	    .agent_id = c->agent_id,
	    .type = c->type,
	    .version = c->version,
	    .pid = getpid(),
	    .labels = c->labels,
	    .n_labels = c->n_labels,
	    .capabilities = (const char *const *)c->caps,
	    .n_capabilities = c->n_caps,
	};

	bmc_buf_truncate(&c->hello, 0);
	c->hello_written = 0;
	set_state(c, BMC_GREETING, now);
	if (bmc_encode_hello(&c->hello, &h))
		connection_lost(c, now);
}

static void start_connect(struct bm_client *c, int64_t now)
{
	bool done = false;
	int fd = bmc_connect_start(&c->addr, &done);

	if (fd < 0) {
		set_state(c, BMC_CONNECTING, now);
		connection_lost(c, now);
		return;
	}
	c->fd = fd;
	set_state(c, BMC_CONNECTING, now);
	if (done)
		begin_greeting(c, now);
}

static void check_connect(struct bm_client *c, int64_t now)
{
	int rc = bmc_connect_check(c->fd);

	if (rc > 0)
		begin_greeting(c, now);
	else if (rc < 0)
		connection_lost(c, now);
}

/* The server's max_frame may be below our own limits: shrink them, so
 * that the server never has to refuse a frame as too_large. */
static void apply_max_frame(struct bm_client *c, int64_t max_frame)
{
	size_t fit;

	c->max_frame = max_frame > 0 ? max_frame : BMC_IN_FRAME_MAX;
	/* a sealed batch may reach twice msg_max plus its prefix */
	fit = ((size_t)c->max_frame - BMC_METRIC_PREFIX) / 2;
	if (c->max_frame > 2 * BMC_METRIC_PREFIX && fit < c->msg_max)
		c->msg_max = fit;
}

static void on_welcome(struct bm_client *c, const struct bmc_welcome *w, int64_t now)
{
	if (c->state != BMC_GREETING)
		return;
	if (w->v != BM_CLIENT_PROTOCOL_VERSION) {
		snprintf(c->st.last_error, sizeof(c->st.last_error),
			 "version: server speaks protocol %lld", (long long)w->v);
		connection_lost(c, now);
		return;
	}
	apply_max_frame(c, w->max_frame);
	c->heartbeat_ms = w->heartbeat_ms > 0 ? w->heartbeat_ms : BMC_DEFAULT_HEARTBEAT_MS;
	c->backoff_ms = BMC_BACKOFF_MIN_MS;
	c->last_write = now;
	c->st.connects++;
	set_state(c, BMC_READY, now);
}

static void on_command(struct bm_client *c, struct bmc_command *cmd)
{
	c->st.commands++;
	if (c->n_cmds >= BMC_MAX_PENDING_COMMANDS) {
		free(cmd);
		return;
	}
	*c->cmd_tail = cmd;
	c->cmd_tail = &cmd->next;
	c->n_cmds++;
}

static void on_error(struct bm_client *c, const struct bmc_server_error *e)
{
	c->st.server_errors++;
	snprintf(c->st.last_error, sizeof(c->st.last_error), "%s: %s", e->code, e->message);
	/* another process took our agent id: do not fight it every 100 ms */
	if (!strcmp(e->code, "replaced"))
		c->backoff_ms = c->reconnect_max_ms;
}

/* A malformed message is ignored: the frame boundaries are intact, and
 * a library inside an agent should tolerate what it cannot use. */
static void handle_message(struct bm_client *c, const uint8_t *body, size_t n, int64_t now)
{
	struct bmc_incoming m;

	if (bmc_decode(body, n, &m))
		return;
	switch (m.type) {
	case BMC_WELCOME:
		on_welcome(c, &m.u.welcome, now);
		break;
	case BMC_COMMAND:
		on_command(c, m.u.command);
		break;
	case BMC_ERROR:
		on_error(c, &m.u.error);
		break;
	default:
		break; /* bye (the close follows) and unknown types */
	}
}

/* Handle every whole frame in c->in; a length out of bounds breaks the
 * stream, so the connection is dropped. */
static void parse_frames(struct bm_client *c, int64_t now)
{
	size_t off = 0;

	while (c->state >= BMC_GREETING && c->in.len - off >= BMC_FRAME_HDR) {
		uint32_t n = bmc_get_be32(c->in.data + off);
		if (n == 0 || n > BMC_IN_FRAME_MAX) {
			connection_lost(c, now);
			return;
		}
		if (c->in.len - off - BMC_FRAME_HDR < n)
			break;
		handle_message(c, c->in.data + off + BMC_FRAME_HDR, n, now);
		off += BMC_FRAME_HDR + n;
	}
	if (c->state < BMC_GREETING)
		return;
	memmove(c->in.data, c->in.data + off, c->in.len - off);
	c->in.len -= off;
}

static void read_input(struct bm_client *c, int64_t now)
{
	/* bounded, so that a flood of commands cannot keep this call busy */
	for (int round = 0; round < 16 && c->state >= BMC_GREETING; round++) {
		ssize_t k;

		if (bmc_buf_reserve(&c->in, 4096))
			return;
		k = bmc_recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
		if (k < 0) {
			connection_lost(c, now);
			return;
		}
		if (k == 0)
			return;
		c->in.len += (size_t)k;
		parse_frames(c, now);
	}
}

static void write_hello(struct bm_client *c, int64_t now)
{
	while (c->hello_written < c->hello.len) {
		ssize_t k = bmc_send(c->fd, c->hello.data + c->hello_written,
				     c->hello.len - c->hello_written);
		if (k < 0) {
			connection_lost(c, now);
			return;
		}
		if (k == 0)
			return;
		c->hello_written += (size_t)k;
		c->st.bytes_sent += (uint64_t)k;
		c->st.frames_sent += c->hello_written == c->hello.len;
	}
}

static void write_queue(struct bm_client *c, int64_t now)
{
	while (!bmc_queue_empty(&c->q) && c->state == BMC_READY) {
		size_t n;
		const uint8_t *p;
		ssize_t k;

		/* a frame queued before max_frame was known, and over it */
		if (!c->q.written &&
		    bmc_queue_head_len(&c->q) > (size_t)c->max_frame + BMC_FRAME_HDR) {
			bmc_queue_drop_head(&c->q, &c->drops);
			continue;
		}
		p = bmc_queue_pending(&c->q, &n);
		if (c->max_frame < 2 * BMC_MSG_MAX + BMC_METRIC_PREFIX) /* frames may exceed it */
			n = bmc_queue_head_len(&c->q) - c->q.written;
		if (n > BMC_SEND_MAX)
			n = BMC_SEND_MAX;
		k = bmc_send(c->fd, p, n);
		if (k < 0) {
			connection_lost(c, now);
			return;
		}
		if (k == 0)
			return;
		c->st.bytes_sent += (uint64_t)k;
		c->st.frames_sent += bmc_queue_consumed(&c->q, (size_t)k);
		c->last_write = now;
		/* let the agent's threads append between two chunks */
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_lock(&c->lock);
	}
}

/* Any message counts as a heartbeat; send one only when idle, at half the
 * server's interval to stay clear of its three-missed-intervals rule. */
static void maybe_heartbeat(struct bm_client *c, int64_t now)
{
	if (!bmc_drained(c) || now - c->last_write < c->heartbeat_ms / 2)
		return;
	bmc_buf_truncate(&c->scratch, 0);
	if (!bmc_encode_heartbeat(&c->scratch))
		bmc_admit_frame(c, false);
}

void bmc_io_step(struct bm_client *c)
{
	int64_t now = bmc_mono_ms();

	if (c->state == BMC_DOWN && now >= c->retry_at)
		start_connect(c, now);
	if (c->state == BMC_CONNECTING)
		check_connect(c, now);
	if (c->state >= BMC_GREETING)
		read_input(c, now);
	if (c->state == BMC_GREETING)
		write_hello(c, now);
	if ((c->state == BMC_CONNECTING || c->state == BMC_GREETING) &&
	    now - c->state_since >= BMC_GREET_TIMEOUT_MS)
		connection_lost(c, now);
	if (c->batch_n && now - c->batch_since >= c->flush_ms)
		bmc_seal_batch(c);
	if (c->state == BMC_READY) {
		maybe_heartbeat(c, now);
		write_queue(c, now);
	}
	if (bmc_drained(c))
		pthread_cond_broadcast(&c->drained);
}

void bmc_io_close(struct bm_client *c)
{
	bmc_seal_batch(c);
	if (c->state == BMC_READY) {
		bmc_buf_truncate(&c->scratch, 0);
		if (!bmc_encode_bye(&c->scratch))
			bmc_admit_frame(c, false);
		write_queue(c, bmc_mono_ms());
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = BMC_DOWN;
}

/* ---- polling ----------------------------------------------------------- */

static int64_t until(int64_t at, int64_t now)
{
	return at > now ? at - now : 0;
}

/* Milliseconds until bmc_io_step has timed work (lock held). */
static int next_ms_locked(const struct bm_client *c)
{
	int64_t now = bmc_mono_ms(), t = c->flush_ms;

	if (c->state == BMC_DOWN && until(c->retry_at, now) < t)
		t = until(c->retry_at, now);
	if ((c->state == BMC_CONNECTING || c->state == BMC_GREETING) &&
	    until(c->state_since + BMC_GREET_TIMEOUT_MS, now) < t)
		t = until(c->state_since + BMC_GREET_TIMEOUT_MS, now);
	if (c->batch_n && until(c->batch_since + c->flush_ms, now) < t)
		t = until(c->batch_since + c->flush_ms, now);
	if (c->state == BMC_READY && bmc_drained(c) &&
	    until(c->last_write + c->heartbeat_ms / 2, now) < t)
		t = until(c->last_write + c->heartbeat_ms / 2, now);
	return (int)t;
}

static short events_locked(const struct bm_client *c)
{
	if (c->state == BMC_CONNECTING)
		return POLLOUT;
	if (c->state == BMC_GREETING && c->hello_written < c->hello.len)
		return POLLIN | POLLOUT;
	if (c->state == BMC_READY && !bmc_queue_empty(&c->q))
		return POLLIN | POLLOUT;
	return POLLIN;
}

static struct bmc_command *take_commands(struct bm_client *c)
{
	struct bmc_command *list = c->cmd_head;

	c->cmd_head = NULL;
	c->cmd_tail = &c->cmd_head;
	c->n_cmds = 0;
	return list;
}

/* Run the handler for each command, without the lock, so that it may
 * report and ack; without a handler, refuse at once. */
static void dispatch(struct bm_client *c, struct bmc_command *list)
{
	bm_client_command_cb cb;
	void *user;

	if (!list)
		return;
	pthread_mutex_lock(&c->lock);
	cb = c->cb;
	user = c->cb_user;
	pthread_mutex_unlock(&c->lock);
	while (list) {
		struct bmc_command *next = list->next;
		if (cb)
			cb(c, &list->cmd, user);
		else
			bm_client_ack(c, list->cmd.id, false, "no command handler", NULL, 0);
		free(list);
		list = next;
	}
}

static void drain_wake(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

/* One round: work, wait up to timeout_ms for the socket (or a wake-up),
 * work again, dispatch the commands that arrived. */
static void poll_once(struct bm_client *c, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = -1}, {.fd = c->wake_fd, .events = POLLIN}};
	struct bmc_command *cmds;
	int wait = 0;

	pthread_mutex_lock(&c->lock);
	bmc_io_step(c);
	if (timeout_ms > 0) {
		wait = next_ms_locked(c);
		wait = wait < timeout_ms ? wait : timeout_ms;
		p[0].fd = c->fd;
		p[0].events = events_locked(c);
	}
	pthread_mutex_unlock(&c->lock);
	if (wait > 0 && poll(p, 2, wait) > 0 && p[1].revents)
		drain_wake(c->wake_fd);
	pthread_mutex_lock(&c->lock);
	bmc_io_step(c);
	cmds = take_commands(c);
	pthread_mutex_unlock(&c->lock);
	dispatch(c, cmds);
}

static bool threaded(struct bm_client *c)
{
	bool t;

	pthread_mutex_lock(&c->lock);
	t = c->threaded;
	pthread_mutex_unlock(&c->lock);
	return t;
}

int bm_client_poll(struct bm_client *c, int timeout_ms)
{
	if (!c)
		return BM_EINVAL;
	if (threaded(c))
		return BM_ESTATE;
	poll_once(c, timeout_ms);
	return 0;
}

int bm_client_hello(struct bm_client *c)
{
	int rc = 0;

	if (!c)
		return BM_EINVAL;
	pthread_mutex_lock(&c->lock);
	if (c->state == BMC_DOWN) {
		c->retry_at = bmc_mono_ms();
		start_connect(c, c->retry_at);
		rc = c->state == BMC_DOWN ? BM_EIO : 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int bm_client_fd(struct bm_client *c)
{
	int fd;

	if (!c)
		return -1;
	pthread_mutex_lock(&c->lock);
	fd = c->fd;
	pthread_mutex_unlock(&c->lock);
	return fd;
}

short bm_client_events(struct bm_client *c)
{
	short ev;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	ev = events_locked(c);
	pthread_mutex_unlock(&c->lock);
	return ev;
}

int bm_client_next_ms(struct bm_client *c)
{
	int t;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	t = next_ms_locked(c);
	pthread_mutex_unlock(&c->lock);
	return t;
}

/* ---- background thread ------------------------------------------------- */

static void wake(struct bm_client *c)
{
	uint64_t one = 1;

	if (write(c->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return; /* the thread wakes at its next tick anyway */
}

static void *thread_main(void *arg)
{
	struct bm_client *c = arg;

	while (!atomic_load(&c->stopping))
		poll_once(c, c->flush_ms);
	return NULL;
}

int bm_client_start_thread(struct bm_client *c)
{
	sigset_t all, old;
	int rc = 0;

	if (!c)
		return BM_EINVAL;
	pthread_mutex_lock(&c->lock);
	if (c->threaded) {
		pthread_mutex_unlock(&c->lock);
		return BM_ESTATE;
	}
	/* the agent's signals are for the agent's threads: ours blocks them all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&c->thread, NULL, thread_main, c))
		rc = BM_EIO;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	c->threaded = rc == 0;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void bmc_thread_stop(struct bm_client *c)
{
	if (!threaded(c))
		return;
	atomic_store(&c->stopping, true);
	wake(c);
	pthread_join(c->thread, NULL);
	pthread_mutex_lock(&c->lock);
	c->threaded = false;
	pthread_mutex_unlock(&c->lock);
}

/* ---- flush ------------------------------------------------------------- */

static bool drained_now(struct bm_client *c)
{
	bool d;

	pthread_mutex_lock(&c->lock);
	d = bmc_drained(c);
	pthread_mutex_unlock(&c->lock);
	return d;
}

/* Thread mode: the thread writes; wait on its signal (lock held). */
static int wait_drained(struct bm_client *c, int timeout_ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while (!bmc_drained(c))
		if (pthread_cond_timedwait(&c->drained, &c->lock, &deadline) == ETIMEDOUT)
			break;
	return bmc_drained(c) ? 0 : BM_EAGAIN;
}

int bm_client_flush(struct bm_client *c, int timeout_ms)
{
	int64_t deadline;
	int rc;

	if (!c)
		return BM_EINVAL;
	pthread_mutex_lock(&c->lock);
	bmc_seal_batch(c);
	if (c->threaded) {
		wake(c);
		rc =
		    timeout_ms > 0 ? wait_drained(c, timeout_ms) : (bmc_drained(c) ? 0 : BM_EAGAIN);
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	pthread_mutex_unlock(&c->lock);
	deadline = bmc_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		int64_t left = deadline - bmc_mono_ms();
		poll_once(c, left > 0 ? (int)left : 0);
		if (drained_now(c))
			return 0;
		if (bmc_mono_ms() >= deadline)
			return BM_EAGAIN;
	}
}
