/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StatsD listeners (see net.h): sockets, the UDP and TCP receiver threads
 * and their bind retries. Plain sockets, poll and epoll rather than
 * libevent: each thread serves one socket (or one socket's clients) and
 * blocks in the kernel between bursts, which needs no event library.
 */
#define _GNU_SOURCE
#include "net.h"

#include <bearmon/bm_host.h>
#include <bearmon/bm_vec.h>

#include <errno.h>
#include <linux/sock_diag.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* --- addresses --------------------------------------------------------- */

int listener_parse_addr(const char *text, struct sockaddr_storage *sa, socklen_t *len,
			struct bm_err *err)
{
	char host[256];
	const char *port;
	if (!text || !*text)
		return bm_err_set(err, BM_EINVAL, "empty address");
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
			return bm_err_set(err, BM_EINVAL, "\"%s\": want [ipv6]:port", text);
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (!colon || colon == text || (size_t)(colon - text) >= sizeof(host))
			return bm_err_set(err, BM_EINVAL, "\"%s\": want host:port", text);
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		port = colon + 1;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535)
		return bm_err_set(err, BM_EINVAL, "\"%s\": bad port \"%s\"", text, port);
	struct addrinfo hints = {.ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc || !res) {
		if (res)
			freeaddrinfo(res);
		return bm_err_set(err, BM_EINVAL, "\"%s\": %s", text, gai_strerror(rc));
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int listener_init(struct listener *l, enum listener_proto proto, const char *addr,
		  const struct listener_conf *conf, const struct shard_limits *lim,
		  const struct card_limits *card, struct bm_ctx *ctx, uint64_t *stats,
		  uint64_t seed, struct bm_err *err)
{
	memset(l, 0, sizeof(*l));
	l->fd = l->stop_fd = -1;
	l->proto = proto;
	l->addr = addr;
	l->conf = *conf;
	l->ctx = ctx;
	l->stats = stats;
	snprintf(l->what, sizeof(l->what), "%s %s", proto == LISTEN_UDP ? "udp" : "tcp", addr);
	int rc = listener_parse_addr(addr, &l->sa, &l->salen, err);
	if (rc)
		return rc;
	if (shard_init(&l->shard, lim, card, ctx, l->what, seed))
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	return 0;
}

bool listener_is_up(const struct listener *l)
{
	return __atomic_load_n(&l->up, __ATOMIC_ACQUIRE);
}

uint16_t listener_port(const struct listener *l)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	if (!listener_is_up(l) || getsockname(l->fd, (struct sockaddr *)&sa, &len))
		return 0;
	return ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
					       : ((struct sockaddr_in *)&sa)->sin_port);
}

/* --- sockets ----------------------------------------------------------- */

static long rmem_max(void)
{
	long v = -1;
	FILE *f = fopen("/proc/sys/net/core/rmem_max", "re");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* SO_RCVBUFFORCE (CAP_NET_ADMIN) passes net.core.rmem_max; SO_RCVBUF is
 * capped by it. Linux doubles the figure for its bookkeeping and reports
 * the doubled value. */
static void set_rcvbuf(struct listener *l, int fd)
{
	int want = l->conf.rcvbuf > (uint64_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)l->conf.rcvbuf;
	int got = 0;
	socklen_t len = sizeof(got);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)))
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len))
		got = 0;
	double bytes = got; /* a self-metric: read from another thread */
	__atomic_store(&l->rcvbuf_bytes, &bytes, __ATOMIC_RELAXED);
	if (got / 2 < want)
		bm_log_warn(l->ctx,
			    "%s: the kernel gave a %d KiB receive buffer where rcvbuf asks for %d KiB: "
			    "without CAP_NET_ADMIN the sysctl net.core.rmem_max (%ld KiB) caps it; "
			    "raise it (sysctl -w net.core.rmem_max=%d) or bursts will be dropped",
			    l->what, got / 2 / 1024, want / 1024, rmem_max() / 1024, want);
}

/* A bound (and for TCP listening) socket in l->fd, or -errno. */
static int open_socket(struct listener *l)
{
	bool udp = l->proto == LISTEN_UDP;
	int fd = socket(l->sa.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (!udp)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&l->sa, l->salen) || (!udp && listen(fd, SOMAXCONN))) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (udp)
		set_rcvbuf(l, fd);
	l->fd = fd;
	__atomic_store_n(&l->up, 1, __ATOMIC_RELEASE);
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stopping(const struct listener *l)
{
	return __atomic_load_n(&l->stopping, __ATOMIC_ACQUIRE);
}

/* Sleep up to ms, or until stop. */
static void wait_stop(struct listener *l, int ms)
{
	struct pollfd p = {l->stop_fd, POLLIN, 0};
	(void)poll(&p, 1, ms);
}

/* One bind attempt, logged on the first failure and on recovery. */
static bool try_bind(struct listener *l)
{
	int rc = open_socket(l);
	if (!rc) {
		if (l->bind_failed)
			bm_log_notice(l->ctx, "%s: listening now", l->what);
		l->bind_failed = false;
		return true;
	}
	if (!l->bind_failed)
		bm_log_err(l->ctx,
			   "%s: cannot listen: %s; retrying every %g s (statsd_listener_up is 0 "
			   "meanwhile)",
			   l->what, strerror(-rc), (double)l->conf.retry_ms / 1000);
	l->bind_failed = true;
	return false;
}

static void retry_bind(struct listener *l)
{
	if (!try_bind(l))
		wait_stop(l, (int)l->conf.retry_ms);
}

/* --- UDP --------------------------------------------------------------- */

static int udp_buffers(struct listener *l)
{
	uint32_t n = l->conf.udp_batch;
	l->msgs = calloc(n, sizeof(*l->msgs));
	l->iov = calloc(n, sizeof(*l->iov));
	l->bufs = malloc((size_t)n * LISTEN_UDP_MAX);
	if (!l->msgs || !l->iov || !l->bufs)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		l->iov[i] = (struct iovec){l->bufs + (size_t)i * LISTEN_UDP_MAX, LISTEN_UDP_MAX};
		l->msgs[i].msg_hdr.msg_iov = &l->iov[i];
		l->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

static void udp_process(struct listener *l, int n)
{
	struct shard *sh = &l->shard;
	pthread_mutex_lock(&sh->lock);
	for (int i = 0; i < n; i++) {
		unsigned len = l->msgs[i].msg_len;
		sh->pending[ST_DATAGRAMS]++;
		sh->pending[ST_BYTES] += len;
		if (len)
			shard_feed(sh, l->iov[i].iov_base, len);
		else
			sh->pending[ST_EMPTY_DATAGRAMS]++;
	}
	pthread_mutex_unlock(&sh->lock);
	shard_flush_stats(sh, l->stats);
}

/*
 * After a read that emptied the queue, let datagrams gather for a while
 * before the next: a reader that sleeps in poll() after each one or two
 * datagrams spends a wake-up, a poll and a recvmmsg on each (over 1 us
 * here), which halves its throughput at one line per datagram. 0.5 ms is
 * about 150 datagrams at 290,000/s, some 150 KiB of receive buffer, and
 * nothing for StatsD, which aggregates for seconds anyway.
 */
#define UDP_LINGER_NS 500000

static void udp_linger(struct listener *l)
{
	struct pollfd p = {l->stop_fd, POLLIN, 0};
	struct timespec ts = {0, UDP_LINGER_NS};
	(void)ppoll(&p, 1, &ts, NULL);
}

static void *udp_main(void *arg)
{
	struct listener *l = arg;
	while (!stopping(l)) {
		if (!listener_is_up(l)) {
			retry_bind(l);
			continue;
		}
		int n = recvmmsg(l->fd, l->msgs, l->conf.udp_batch, MSG_DONTWAIT, NULL);
		if (n > 0) {
			udp_process(l, n);
			if ((unsigned)n < l->conf.udp_batch)
				udp_linger(l);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			bm_log_err(l->ctx, "%s: recvmmsg: %s", l->what, strerror(errno));
			wait_stop(l, 100);
			continue;
		}
		struct pollfd p[2] = {{l->fd, POLLIN, 0}, {l->stop_fd, POLLIN, 0}};
		(void)poll(p, 2, -1);
	}
	return NULL;
}

void listener_poll_drops(struct listener *l)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);
	if (l->proto != LISTEN_UDP || !listener_is_up(l) ||
	    getsockopt(l->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) || len <= SK_MEMINFO_DROPS * 4)
		return;
	uint32_t d = mem[SK_MEMINFO_DROPS];
	__atomic_fetch_add(&l->stats[ST_KERNEL_DROPS], (uint32_t)(d - l->kernel_drops),
			   __ATOMIC_RELAXED);
	l->kernel_drops = d;
}

/* --- TCP --------------------------------------------------------------- */

struct tcp_client {
	int fd;
	uint32_t slot;   /* in tcp_state.c */
	int64_t last_ms; /* last data */
	char *buf;       /* the line begun in an earlier read */
	uint32_t len, cap;
	bool skipping;   /* inside a line over max_line_len: drop to '\n' */
};

struct tcp_state {
	struct listener *l;
	int ep;
	struct tcp_client **c;
	size_t n, cap;
	bool listening;       /* the listening socket is in ep */
	int64_t paused_until; /* accept paused (out of fds) until then */
	int64_t swept_ms;
	char *rbuf;
};

#define TCP_READ 65536

static void set_clients(struct tcp_state *st)
{
	double n = st->n;
	__atomic_store(&st->l->clients, &n, __ATOMIC_RELAXED);
}

static void client_close(struct tcp_state *st, struct tcp_client *c)
{
	struct shard *sh = &st->l->shard;
	if (c->len && !c->skipping) {
		pthread_mutex_lock(&sh->lock);
		shard_bad(sh, STATSD_ERR_INCOMPLETE, c->buf, c->len);
		pthread_mutex_unlock(&sh->lock);
	}
	close(c->fd); /* leaves the epoll set with it */
	st->c[c->slot] = st->c[--st->n];
	st->c[c->slot]->slot = c->slot;
	free(c->buf);
	free(c);
	set_clients(st);
}

/* Keep the unfinished end of a read for the next one. */
static void keep_partial(struct shard *sh, struct tcp_client *c, const char *p, size_t n)
{
	if (c->skipping)
		return;
	if (c->len + n > sh->lim.max_line_len) {
		shard_bad(sh, STATSD_ERR_TOO_LONG, c->len ? c->buf : p, c->len ? c->len : n);
		c->skipping = true;
		c->len = 0;
		return;
	}
	if (c->len + n > c->cap) {
		uint32_t cap = c->cap ? c->cap : 256;
		while (cap < c->len + n)
			cap *= 2;
		char *b = realloc(c->buf, cap);
		if (!b) { /* drop the line rather than the client */
			shard_bad(sh, STATSD_ERR_TOO_LONG, p, n);
			c->skipping = true;
			c->len = 0;
			return;
		}
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += (uint32_t)n;
}

/* Lines of one read; the first may finish the client's kept part. */
static void consume(struct shard *sh, struct tcp_client *c, const char *p, size_t n)
{
	const char *e = p + n;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		if (!nl) {
			keep_partial(sh, c, p, (size_t)(e - p));
			return;
		}
		if (c->skipping) {
			c->skipping = false; /* the end of the long line */
		} else if (c->len) {
			keep_partial(sh, c, p, (size_t)(nl - p));
			if (!c->skipping)
				shard_feed(sh, c->buf, c->len);
			c->skipping = false;
			c->len = 0;
		} else {
			shard_feed(sh, p, (size_t)(nl - p));
		}
		p = nl + 1;
	}
}

/* Read what the client sent; false when it is gone. A few reads at most,
 * so that one busy client cannot hold the thread (epoll is level
 * triggered: the rest comes next round). */
static bool client_read(struct tcp_state *st, struct tcp_client *c, int64_t now)
{
	struct shard *sh = &st->l->shard;
	for (int k = 0; k < 8; k++) {
		ssize_t r = read(c->fd, st->rbuf, TCP_READ);
		if (r > 0) {
			c->last_ms = now;
			pthread_mutex_lock(&sh->lock);
			sh->pending[ST_BYTES] += (uint64_t)r;
			consume(sh, c, st->rbuf, (size_t)r);
			pthread_mutex_unlock(&sh->lock);
			shard_flush_stats(sh, st->l->stats);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
	return true;
}

static void listen_watch(struct tcp_state *st, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = st->l};
	if (on != st->listening &&
	    !epoll_ctl(st->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, st->l->fd, &ev))
		st->listening = on;
}

static void client_add(struct tcp_state *st, int fd, int64_t now)
{
	struct shard *sh = &st->l->shard;
	struct tcp_client *c = NULL;
	if (st->n >= st->l->conf.tcp_max_clients || BM_VEC_RESERVE(st->c, st->cap, st->n + 1) ||
	    !(c = calloc(1, sizeof(*c)))) {
		sh->pending[ST_TCP_REJECTED]++;
		close(fd);
		return;
	}
	*c = (struct tcp_client){.fd = fd, .slot = (uint32_t)st->n, .last_ms = now};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(st->ep, EPOLL_CTL_ADD, fd, &ev)) {
		sh->pending[ST_TCP_REJECTED]++;
		close(fd);
		free(c);
		return;
	}
	st->c[st->n++] = c;
	sh->pending[ST_TCP_CONNECTIONS]++;
	set_clients(st);
}

static void accept_all(struct tcp_state *st, int64_t now)
{
	struct listener *l = st->l;
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			client_add(st, fd, now);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* level triggered: stop watching, or it spins */
			l->shard.pending[ST_TCP_REJECTED]++;
			bm_log_warn(l->ctx, "%s: accept: %s; not accepting for 1 s (raise the fd limit "
				    "or lower tcp_max_clients)", l->what, strerror(errno));
			listen_watch(st, false);
			st->paused_until = now + 1000;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			bm_log_err(l->ctx, "%s: accept: %s", l->what, strerror(errno));
		}
		break;
	}
	shard_flush_stats(&l->shard, l->stats);
}

/* Once a second: close silent clients, resume a paused accept. */
static void sweep(struct tcp_state *st, int64_t now)
{
	struct listener *l = st->l;
	if (now - st->swept_ms < 1000)
		return;
	st->swept_ms = now;
	for (size_t i = st->n; i-- > 0;) {
		struct tcp_client *c = st->c[i];
		if (now - c->last_ms >= l->conf.tcp_idle_ms) {
			l->shard.pending[ST_TCP_IDLE_CLOSED]++;
			client_close(st, c);
		}
	}
	if (!st->listening && now >= st->paused_until)
		listen_watch(st, true);
	shard_flush_stats(&l->shard, l->stats);
}

static void tcp_serve(struct tcp_state *st)
{
	struct listener *l = st->l;
	struct epoll_event ev[64];
	while (!stopping(l)) {
		if (!listener_is_up(l)) {
			retry_bind(l);
			continue;
		}
		if (!st->listening && !st->paused_until)
			listen_watch(st, true);
		int n = epoll_wait(st->ep, ev, 64, 1000);
		int64_t now = mono_ms();
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;
			if (p == &l->stop_fd)
				return;
			if (p == l)
				accept_all(st, now);
			else if (!client_read(st, p, now))
				client_close(st, p);
		}
		sweep(st, now);
	}
}

static void *tcp_main(void *arg)
{
	struct tcp_state st = {.l = arg, .swept_ms = mono_ms()};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &st.l->stop_fd};
	st.ep = epoll_create1(EPOLL_CLOEXEC);
	st.rbuf = malloc(TCP_READ);
	if (st.ep < 0 || !st.rbuf || epoll_ctl(st.ep, EPOLL_CTL_ADD, st.l->stop_fd, &ev))
		bm_log_err(st.l->ctx, "%s: cannot start: %s", st.l->what, strerror(errno));
	else
		tcp_serve(&st);
	while (st.n)
		client_close(&st, st.c[st.n - 1]);
	if (st.ep >= 0)
		close(st.ep);
	free(st.rbuf);
	free(st.c);
	return NULL;
}

/* --- lifecycle --------------------------------------------------------- */

int listener_start(struct listener *l, struct bm_err *err)
{
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stop_fd < 0)
		return bm_err_set(err, BM_EIO, "%s: eventfd: %s", l->what, strerror(errno));
	if (l->proto == LISTEN_UDP && udp_buffers(l))
		return bm_err_set(err, BM_ENOMEM, "%s: out of memory", l->what);
	(void)try_bind(l);
	/* signals belong to the main thread */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&l->thread, NULL, l->proto == LISTEN_UDP ? udp_main : tcp_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return bm_err_set(err, BM_EIO, "%s: cannot start a thread: %s", l->what, strerror(rc));
	pthread_setname_np(l->thread, l->proto == LISTEN_UDP ? "bm-statsd-udp" : "bm-statsd-tcp");
	l->running = true;
	return 0;
}

void listener_stop(struct listener *l)
{
	if (l->running) {
		uint64_t one = 1;
		__atomic_store_n(&l->stopping, 1, __ATOMIC_RELEASE);
		if (write(l->stop_fd, &one, sizeof(one)) < 0)
			bm_log_err(l->ctx, "%s: waking the thread: %s", l->what, strerror(errno));
		pthread_join(l->thread, NULL);
		l->running = false;
	}
	__atomic_store_n(&l->up, 0, __ATOMIC_RELEASE);
	if (l->fd >= 0)
		close(l->fd);
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	l->fd = l->stop_fd = -1;
	free(l->msgs);
	free(l->iov);
	free(l->bufs);
	l->msgs = NULL;
	l->iov = NULL;
	l->bufs = NULL;
}

void listener_free(struct listener *l)
{
	listener_stop(l); /* what a failed start left behind */
	shard_free(&l->shard);
}
