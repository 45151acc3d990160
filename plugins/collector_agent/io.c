/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent plugin's I/O thread (io.h): the loop, connections, frames and
 * message dispatch. epoll directly rather than a libevent base: the plugin
 * links only the SDK, and one level-triggered epoll set with a 100 ms tick
 * is all this loop needs. Reads go into one scratch buffer; only a frame
 * cut by a read is copied into its connection's buffer.
 */
#define _GNU_SOURCE
#include "io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bearmon/bm_vec.h>

#include "io_int.h"

/* ---------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

static int64_t now_ms(struct io *io) { return bm_now_ms(io->ctx); }

void log_limited(struct io *io, enum log_kind k, int level, const char *fmt, ...)
{
	if (io->log_at[k] && io->now - io->log_at[k] < LOG_EVERY_MS) {
		io->log_skipped[k]++;
		return;
	}
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (io->log_skipped[k])
		bm_log(io->ctx, level, "%s (and %llu more like it in the last %d s)", msg,
		       (unsigned long long)io->log_skipped[k], LOG_EVERY_MS / 1000);
	else
		bm_log(io->ctx, level, "%s", msg);
	io->log_at[k] = io->now;
	io->log_skipped[k] = 0;
}

static void publish_agent(struct io *io, const struct agent *a, enum bm_agent_event_kind kind)
{
	struct bm_agent_event e;
	reg_event(a, kind, io->now, &e);
	if (bm_agent_encode(&e, &io->ebuf) == 0 &&
	    bm_bus_publish(io->ctx, BM_TOPIC_AGENT, io->ebuf.data, io->ebuf.len) != 0)
		st_add(&io->st->publish_failures, 1);
}


/* ---------------------------------------------------------------------
 * Connections
 * --------------------------------------------------------------------- */

static void watch(struct io *io, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0u), .data.ptr = c};
	epoll_ctl(io->ep, EPOLL_CTL_MOD, c->h.fd, &ev);
}

static void unwait(struct io *io, struct conn *c)
{
	if (!c->wprev && io->waiting != c)
		return;
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		io->waiting = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	else
		io->waiting_tail = c->wprev;
	c->wprev = c->wnext = NULL;
}

static void agent_left(struct io *io, struct agent *a)
{
	samples_retire(io, a);
	reg_disconnect(io->reg, a, io->now);
	cmd_fail_pending(io, a->id, "agent disconnected");
	publish_agent(io, a, BM_AGENT_STATE);
}

static void set_buffer(struct io *io, struct conn *c, uint8_t *p, size_t cap)
{
	io->buffered = io->buffered - c->in_cap + cap;
	c->in = p;
	c->in_cap = cap;
}

/* Close now (frames already read are handled); freed after the batch of
 * events, which may still name it. */
static void conn_close(struct io *io, struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	if (c->agent)
		agent_left(io, c->agent);
	c->agent = NULL;
	epoll_ctl(io->ep, EPOLL_CTL_DEL, c->h.fd, NULL);
	close(c->h.fd);
	unwait(io, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		io->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->in);
	set_buffer(io, c, NULL, 0);
	bm_buf_free(&c->out);
	c->next = io->dead;
	io->dead = c;
	io->n_conns--;
	st_set(&io->st->connections_now, (double)io->n_conns);
}

void conn_send(struct io *io, struct conn *c, const void *p, size_t n)
{
	if (c->dead)
		return;
	if (c->out.len == c->out_off) {
		ssize_t w = send(c->h.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == (ssize_t)n)
			return;
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(io, c);
			return;
		}
		if (w > 0) {
			p = (const char *)p + w;
			n -= (size_t)w;
		}
		c->out.len = c->out_off = 0;
	}
	if (c->out.len - c->out_off + n > MAX_OUT || bm_buf_append(&c->out, p, n)) {
		log_limited(io, LK_REFUSED, BM_LOG_NOTICE,
			    "%s: closed, it does not read what bearmon sends", c->peer);
		conn_close(io, c);
		return;
	}
	if (!c->want_out) {
		c->want_out = true;
		watch(io, c);
	}
}

static void conn_writable(struct io *io, struct conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t w = send(c->h.fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w <= 0) {
			conn_close(io, c);
			return;
		}
		c->out_off += (size_t)w;
	}
	c->out.len = c->out_off = 0;
	c->want_out = false;
	watch(io, c);
}

/* Send an error frame and close. */
static void conn_refuse(struct io *io, struct conn *c, const char *code, const char *message)
{
	bm_buf_reset(&io->fbuf);
	if (ap_encode_error(&io->fbuf, code, message) == 0)
		conn_send(io, c, io->fbuf.data, io->fbuf.len);
	conn_close(io, c);
}

static const char *reason_code(int reason)
{
	switch (reason) {
	case AP_R_TOO_LARGE: return "too_large";
	case AP_R_HELLO: return "bad_hello";
	case AP_R_VERSION: return "version";
	default: return "protocol";
	}
}

static void protocol_error(struct io *io, struct conn *c, int reason, const char *detail)
{
	st_add(&io->st->protocol[reason], 1);
	log_limited(io, LK_PROTO, BM_LOG_NOTICE, "%s%s%s: protocol error (%s): %s; closed", c->peer,
		    c->agent ? " agent " : "", c->agent ? c->agent->id : "", ap_reason_name(reason),
		    detail);
	conn_refuse(io, c, reason_code(reason), detail);
}

/* ---------------------------------------------------------------------
 * Messages
 * --------------------------------------------------------------------- */

static void on_hello(struct io *io, struct conn *c, const struct ap_hello *h)
{
	char why[160];
	int reason = reg_check_hello(io->reg, h, why, sizeof(why));
	if (reason) {
		protocol_error(io, c, reason, why);
		return;
	}
	struct agent *old = reg_find(io->reg, h->agent_id.p, h->agent_id.n);
	if (old && old->conn && old->conn != c)
		samples_retire(io, old); /* a restarted agent: its series start over */
	void *replaced;
	bool limit;
	struct agent *a = reg_hello(io->reg, h, c->peer, c, io->now, &replaced, &limit);
	if (!a) {
		st_add(&io->st->refused, 1);
		log_limited(io, LK_REFUSED, BM_LOG_WARN, "%s: agent %.*s refused: %s", c->peer,
			    (int)h->agent_id.n, h->agent_id.p,
			    limit ? "max_agents connected agents already" : "out of memory");
		conn_refuse(io, c, "limit", limit ? "too many agents" : "out of memory");
		return;
	}
	if (replaced) {
		struct conn *o = replaced;
		o->agent = NULL;
		cmd_fail_pending(io, a->id, "agent reconnected");
		conn_refuse(io, o, "replaced", "a new connection said hello with this agent_id");
	}
	c->agent = a;
	unwait(io, c);
	bm_buf_reset(&io->fbuf);
	if (ap_encode_welcome(&io->fbuf, AP_VERSION, io->c.server, io->c.max_frame,
			      io->c.heartbeat_ms) == 0)
		conn_send(io, c, io->fbuf.data, io->fbuf.len);
	publish_agent(io, a, BM_AGENT_HELLO);
}

/* Copy n kvs of the frame into the ack arena as bm_kv. */
static void on_message(struct io *io, struct conn *c, const struct ap_msg *m)
{
	struct agent *a = c->agent;
	if (reg_seen(io->reg, a, io->now))
		publish_agent(io, a, BM_AGENT_STATE); /* back from stale */
	switch (m->type) {
	case AP_HELLO: protocol_error(io, c, AP_R_ORDER, "a second hello"); break;
	case AP_METRIC: samples_on_metric(io, a, m->u.metric.v, m->u.metric.n); break;
	case AP_TASK:
	case AP_COORD:
		if (!(m->type == AP_TASK ? reg_task(io->reg, a, &m->u.task)
					 : reg_coord(io->reg, a, &m->u.coord)))
			log_limited(io, LK_INVALID, BM_LOG_NOTICE,
				    "agent %s: %s message with invalid values dropped", a->id,
				    m->type == AP_TASK ? "task" : "coord");
		break;
	case AP_HEARTBEAT: break;
	case AP_ACK: cmd_on_ack(io, a, &m->u.ack); break;
	case AP_BYE: conn_close(io, c); break;
	default: st_add(&io->st->messages_unknown, 1); break;
	}
}

static void on_frame(struct io *io, struct conn *c, const uint8_t *p, uint32_t n)
{
	struct ap_msg m;
	int rc = ap_decode(p, n, &m, &io->scratch);
	st_add(&io->st->frames, 1);
	if (rc < 0) {
		log_limited(io, LK_REFUSED, BM_LOG_WARN, "%s: out of memory decoding a frame", c->peer);
		conn_refuse(io, c, "limit", "out of memory");
	} else if (rc) {
		protocol_error(io, c, rc,
			       rc == AP_R_UTF8	 ? "a string is not UTF-8"
			       : rc == AP_R_SHAPE ? "a message of the wrong shape or types"
						  : "not exactly one msgpack object");
	} else if (c->agent) {
		on_message(io, c, &m);
	} else if (m.type == AP_HELLO) {
		on_hello(io, c, &m.u.hello);
	} else {
		protocol_error(io, c, AP_R_ORDER, "the first message must be hello");
	}
}

/* Grow c's buffer to hold want bytes, within the budget of all buffers. */
static bool reserve_in(struct io *io, struct conn *c, size_t want)
{
	if (want <= c->in_cap)
		return true;
	size_t cap = c->in_cap ? c->in_cap : 4096;
	while (cap < want)
		cap *= 2;
	if (cap > (size_t)io->c.max_frame + AP_HDR)
		cap = (size_t)io->c.max_frame + AP_HDR;
	uint8_t *p = NULL;
	if (io->buffered - c->in_cap + cap <= io->c.max_buffered)
		p = realloc(c->in, cap);
	if (!p) {
		st_add(&io->st->buffer_overflows, 1);
		log_limited(io, LK_REFUSED, BM_LOG_WARN,
			    "%s: closed: partial frames of all agents exceed max_buffered", c->peer);
		conn_refuse(io, c, "limit", "server buffers full");
		return false;
	}
	set_buffer(io, c, p, cap);
	return true;
}

/* A frame length that is refused closes the connection: true then. */
static bool bad_length(struct io *io, struct conn *c, uint32_t fl)
{
	if (fl && fl <= io->c.max_frame)
		return false;
	char why[96];
	snprintf(why, sizeof(why), "frame of %u bytes (1..%u allowed)", fl, io->c.max_frame);
	protocol_error(io, c, fl ? AP_R_TOO_LARGE : AP_R_MSGPACK, why);
	return true;
}

/* Move bytes from *data into c->in until it holds a whole frame: true
 * then, false when the bytes ran out or the connection was closed. */
static bool complete_pending(struct io *io, struct conn *c, const uint8_t **data, size_t *n)
{
	for (;;) {
		size_t want = c->in_len >= AP_HDR ? AP_HDR + (size_t)ap_frame_len(c->in) : AP_HDR;
		if (c->in_len == want && want > AP_HDR)
			return true;
		size_t take = want - c->in_len < *n ? want - c->in_len : *n;
		if (!take || !reserve_in(io, c, c->in_len + take))
			return false;
		memcpy(c->in + c->in_len, *data, take);
		c->in_len += take;
		*data += take;
		*n -= take;
		if (c->in_len == AP_HDR && bad_length(io, c, ap_frame_len(c->in)))
			return false;
	}
}

/* Handle the complete frames of the n bytes read; the start of a frame
 * the read cut is kept in c->in for the next one. */
static void feed(struct io *io, struct conn *c, const uint8_t *data, size_t n)
{
	if (c->in_len) {
		if (!complete_pending(io, c, &data, &n))
			return;
		on_frame(io, c, c->in + AP_HDR, ap_frame_len(c->in));
		if (c->dead)
			return;
		c->in_len = 0;
	}
	size_t off = 0;
	while (n - off >= AP_HDR && !c->dead) {
		uint32_t fl = ap_frame_len(data + off);
		if (bad_length(io, c, fl) || n - off - AP_HDR < fl)
			break;
		on_frame(io, c, data + off + AP_HDR, fl);
		off += AP_HDR + fl;
	}
	if (c->dead)
		return;
	if (n > off && reserve_in(io, c, n - off)) {
		memcpy(c->in, data + off, n - off);
		c->in_len = n - off;
	}
	if (!c->dead && !c->in_len && c->in_cap > 65536) { /* give back what a big frame took */
		free(c->in);
		set_buffer(io, c, NULL, 0);
	}
}

static void conn_readable(struct io *io, struct conn *c)
{
	for (int round = 0; round < 4 && !c->dead; round++) {
		ssize_t n = read(c->h.fd, io->rbuf, RBUF_SIZE);
		if (n > 0) {
			st_add(&io->st->bytes, (uint64_t)n);
			feed(io, c, io->rbuf, (size_t)n);
			if (n < RBUF_SIZE)
				return;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (c->in_len) {
			st_add(&io->st->midframe, 1);
			log_limited(io, LK_MIDFRAME, BM_LOG_NOTICE,
				    "%s%s%s: disconnected in the middle of a frame (%zu bytes dropped)",
				    c->peer, c->agent ? " agent " : "", c->agent ? c->agent->id : "",
				    c->in_len);
		}
		conn_close(io, c);
		return;
	}
}

static void peer_name(struct conn *c, const struct sockaddr_storage *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
	}
	if (c->tcp)
		snprintf(c->peer, sizeof(c->peer), "tcp:%s:%u", host, port);
	else
		snprintf(c->peer, sizeof(c->peer), "unix");
}

static void conn_new(struct io *io, int fd, const struct sockaddr_storage *sa)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (!c || epoll_ctl(io->ep, EPOLL_CTL_ADD, fd, &ev)) {
		free(c);
		close(fd);
		st_add(&io->st->refused, 1);
		return;
	}
	c->h = (struct ioh){IOH_CONN, fd};
	c->tcp = sa->ss_family == AF_INET || sa->ss_family == AF_INET6;
	peer_name(c, sa);
	c->accepted_ms = io->now;
	c->next = io->conns;
	if (io->conns)
		io->conns->prev = c;
	io->conns = c;
	c->wprev = io->waiting_tail;
	if (io->waiting_tail)
		io->waiting_tail->wnext = c;
	else
		io->waiting = c;
	io->waiting_tail = c;
	io->n_conns++;
	st_add(&io->st->connections, 1);
	st_set(&io->st->connections_now, (double)io->n_conns);
}

/* Out of fds: accept with the spare one and drop the connection, so the
 * listener does not stay readable forever. */
static void drop_one(struct io *io, int lfd)
{
	if (io->spare_fd >= 0)
		close(io->spare_fd);
	int fd = accept(lfd, NULL, NULL);
	if (fd >= 0)
		close(fd);
	io->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	st_add(&io->st->refused, 1);
	log_limited(io, LK_REFUSED, BM_LOG_WARN,
		    "out of file descriptors (RLIMIT_NOFILE): agent connections refused");
}

static void on_accept(struct io *io, int lfd)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				drop_one(io, lfd);
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		if (sl == 0 || sa.ss_family == AF_UNIX)
			sa.ss_family = AF_UNIX;
		if (io->n_conns >= io->c.max_connections) {
			bm_buf_reset(&io->fbuf);
			if (ap_encode_error(&io->fbuf, "limit", "too many connections") == 0 &&
			    send(fd, io->fbuf.data, io->fbuf.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				errno = 0; /* best effort */
			close(fd);
			st_add(&io->st->refused, 1);
			log_limited(io, LK_REFUSED, BM_LOG_WARN,
				    "max_connections (%u) reached: agent connections refused",
				    io->c.max_connections);
			continue;
		}
		conn_new(io, fd, &sa);
	}
}

/* ---------------------------------------------------------------------
 * The loop
 * --------------------------------------------------------------------- */

static void on_stale(void *u, struct agent *a)
{
	publish_agent(u, a, BM_AGENT_STATE);
}

static void expire_hellos(struct io *io)
{
	while (io->waiting && io->now - io->waiting->accepted_ms >= io->c.hello_timeout_ms) {
		struct conn *c = io->waiting;
		st_add(&io->st->hello_timeouts, 1);
		log_limited(io, LK_HELLO_TIMEOUT, BM_LOG_NOTICE,
			    "%s: no hello within %lld ms; closed", c->peer,
			    (long long)io->c.hello_timeout_ms);
		conn_refuse(io, c, "protocol", "no hello in time");
	}
}

static void every_second(struct io *io)
{
	reg_sweep(io->reg, io->now, on_stale, io);
	size_t up = 0;
	bool registry = io->now >= io->next_registry;
	for (size_t i = 0; i < io->reg->n; i++) { /* only this thread changes the array */
		struct agent *a = io->reg->v[i];
		if (a->state == BM_AGENT_DISCONNECTED)
			continue;
		up++;
		if (registry)
			publish_agent(io, a, BM_AGENT_REGISTRY);
	}
	if (registry)
		io->next_registry = io->now + io->c.registry_interval_ms;
	st_set(&io->st->agents_now, (double)up);
}

static void ticks(struct io *io)
{
	if (io->now < io->next_tick)
		return;
	io->next_tick = io->now + TICK_MS;
	expire_hellos(io);
	cmd_expire(io);
	if (io->now >= io->next_second) {
		io->next_second = io->now + 1000;
		every_second(io);
	}
}

static void free_dead(struct io *io)
{
	while (io->dead) {
		struct conn *c = io->dead;
		io->dead = c->next;
		free(c);
	}
}

static void dispatch(struct io *io, struct epoll_event *ev)
{
	struct ioh *h = ev->data.ptr;
	if (h->kind == IOH_LISTEN) {
		on_accept(io, h->fd);
	} else if (h->kind == IOH_WAKE) {
		cmd_drain(io);
	} else {
		struct conn *c = (struct conn *)h;
		if (!c->dead && (ev->events & EPOLLOUT))
			conn_writable(io, c);
		if (!c->dead && (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			conn_readable(io, c);
	}
}

/* Shutdown on the I/O thread: every agent is told and its series end. */
static void shutdown_all(struct io *io)
{
	cmd_drain(io);
	cmd_fail_pending(io, NULL, "bearmon is shutting down");
	while (io->conns)
		conn_refuse(io, io->conns, "shutdown", "bearmon is shutting down");
	samples_flush(io);
	free_dead(io);
}

static void *io_main(void *arg)
{
	struct io *io = arg;
	struct epoll_event evs[256];
	io->now = now_ms(io);
	io->next_registry = io->now + io->c.registry_interval_ms;
	while (!atomic_load(&io->stop)) {
		int n = epoll_wait(io->ep, evs, 256, TICK_MS);
		io->now = now_ms(io);
		for (int i = 0; i < n; i++)
			dispatch(io, &evs[i]);
		samples_flush(io);
		ticks(io);
		free_dead(io);
	}
	shutdown_all(io);
	return NULL;
}

static void io_free(struct io *io)
{
	listen_close(io);
	if (io->ep >= 0)
		close(io->ep);
	if (io->wake.fd >= 0)
		close(io->wake.fd);
	if (io->spare_fd >= 0)
		close(io->spare_fd);
	cmd_free_queue(io);
	pthread_mutex_destroy(&io->qlock);
	free(io->rbuf);
	ap_scratch_free(&io->scratch);
	free(io->pend);
	free(io->meta);
	bm_buf_free(&io->ebuf);
	bm_buf_free(&io->fbuf);
	bm_arena_free(&io->arena);
	free(io);
}

int io_start(struct io **out, struct bm_ctx *ctx, const struct io_conf *c, struct registry *reg,
	     struct io_stats *st, struct bm_err *err)
{
	struct io *io = calloc(1, sizeof(*io));
	if (!io)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	io->ctx = ctx;
	io->c = *c;
	io->pend_gen = 1;
	io->reg = reg;
	io->st = st;
	io->ep = epoll_create1(EPOLL_CLOEXEC);
	io->wake = (struct ioh){IOH_WAKE, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
	io->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	io->rbuf = malloc(RBUF_SIZE);
	pthread_mutex_init(&io->qlock, NULL);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &io->wake};
	int rc = 0;
	if (io->ep < 0 || io->wake.fd < 0 || !io->rbuf ||
	    epoll_ctl(io->ep, EPOLL_CTL_ADD, io->wake.fd, &ev))
		rc = bm_err_set(err, BM_EIO, "epoll or eventfd: %s", strerror(errno));
	if (!rc)
		rc = listen_open(io, err);
	if (!rc && pthread_create(&io->thread, NULL, io_main, io))
		rc = bm_err_set(err, BM_EIO, "cannot start the I/O thread");
	if (rc) {
		io_free(io);
		return rc;
	}
	pthread_setname_np(io->thread, "bm-agent-io");
	*out = io;
	return 0;
}

void io_stop(struct io *io)
{
	atomic_store(&io->stop, true);
	uint64_t one = 1;
	if (write(io->wake.fd, &one, sizeof(one)) < 0)
		errno = 0; /* the loop wakes on its tick anyway */
	pthread_join(io->thread, NULL);
	io_free(io);
}
