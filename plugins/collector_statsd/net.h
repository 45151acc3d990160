/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StatsD listeners: one UDP socket read in batches with recvmmsg, or one
 * TCP socket with its newline-delimited clients, each on a thread of its
 * own (never the main loop: at millions of lines a second it would starve
 * HTTP and timers) feeding its own shard. A listener whose address is
 * taken keeps retrying, so a busy port costs that listener, not the daemon.
 */
#ifndef BEARMON_STATSD_NET_H
#define BEARMON_STATSD_NET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <bearmon/bm_err.h>

#include "shard.h"

enum listener_proto { LISTEN_UDP, LISTEN_TCP };

struct listener_conf {
	uint64_t rcvbuf;          /* UDP receive buffer asked for, bytes */
	uint32_t udp_batch;       /* datagrams per recvmmsg */
	uint32_t tcp_max_clients;
	int64_t tcp_idle_ms;      /* close a client silent this long */
	int64_t retry_ms;         /* bind retry period */
};

struct listener {
	enum listener_proto proto;
	char what[96];            /* "udp 127.0.0.1:8125", for log lines and labels */
	const char *addr;         /* as configured */
	struct sockaddr_storage sa;
	socklen_t salen;
	struct listener_conf conf;
	struct bm_ctx *ctx;
	uint64_t *stats;          /* the instance's shared counters (stats.h) */
	struct shard shard;
	int fd;                   /* -1 until bound; set before up */
	int up;                   /* atomic: bound and serving */
	int stopping;             /* atomic */
	int stop_fd;              /* eventfd that wakes the thread */
	pthread_t thread;
	bool running;
	bool bind_failed;         /* the thread is retrying (logged once) */
	uint32_t kernel_drops;    /* SO_MEMINFO drops at the last look */
	double rcvbuf_bytes;      /* what the kernel granted (self-metric) */
	double clients;           /* TCP clients connected (self-metric) */
	struct mmsghdr *msgs;     /* UDP: udp_batch messages ... */
	struct iovec *iov;
	char *bufs;               /* ... of LISTEN_UDP_MAX bytes each */
};

/* Any UDP payload fits: no datagram is ever truncated. */
#define LISTEN_UDP_MAX 65536

/* "host:port", "[v6]:port" (host may be a name in /etc/hosts) into sa. */
int listener_parse_addr(const char *text, struct sockaddr_storage *sa, socklen_t *len,
			struct bm_err *err);
/* Parse the address and set up the shard; no socket yet. */
int listener_init(struct listener *l, enum listener_proto proto, const char *addr,
		  const struct listener_conf *conf, const struct shard_limits *lim,
		  const struct card_limits *card, struct bm_ctx *ctx, uint64_t *stats,
		  uint64_t seed, struct bm_err *err);
/* Bind (once, here; on failure the thread retries and logs it) and start
 * the thread. Fails only when the thread cannot start. */
int listener_start(struct listener *l, struct bm_err *err);
void listener_stop(struct listener *l);
void listener_free(struct listener *l);
/* Collection thread: add the kernel's drop count since the last call
 * (UDP, SO_MEMINFO) to the self-metrics. */
void listener_poll_drops(struct listener *l);
bool listener_is_up(const struct listener *l);
/* The bound port (for "host:0" in tests), 0 when not bound. */
uint16_t listener_port(const struct listener *l);

#endif /* BEARMON_STATSD_NET_H */
