/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the agent plugin's I/O thread: the state of the loop and its
 * connections, shared by io.c (connections, frames, the loop), samples.c
 * (custom metrics), command.c (command routing) and listen.c (listeners).
 * Everything here belongs to the I/O thread unless a comment says not.
 */
#ifndef BEARMON_AGENT_IO_INT_H
#define BEARMON_AGENT_IO_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "io.h"

#define RBUF_SIZE (256 * 1024) /* one read */
#define MAX_OUT (1024 * 1024)  /* unsent bytes before a reader counts as stuck */
#define TICK_MS 100
#define FLUSH_SAMPLES 4096     /* publish once this many samples wait */
#define ACCEPT_BURST 64
#define LOG_EVERY_MS 10000     /* one line per kind of trouble per 10 s */

enum ioh_kind { IOH_LISTEN, IOH_WAKE, IOH_CONN };

struct ioh {
	enum ioh_kind kind;
	int fd;
};

struct conn {
	struct ioh h;
	bool tcp, dead;
	char peer[64];
	int64_t accepted_ms;
	struct agent *agent;
	uint8_t *in; /* a frame cut by a read */
	size_t in_len, in_cap;
	struct bm_buf out;
	size_t out_off;
	bool want_out;
	struct conn *prev, *next;   /* every connection */
	struct conn *wprev, *wnext; /* no hello yet, oldest first */
};

/* A command from the bus, in its own arena. */
struct cmd {
	struct cmd *next;
	struct bm_arena arena;
	struct bm_agent_command_event ev;
	int64_t deadline_ms; /* ev's, or the default timeout */
};

enum log_kind { LK_PROTO, LK_REFUSED, LK_HELLO_TIMEOUT, LK_MIDFRAME, LK_INVALID, LK_PUBLISH,
		LK_COMMAND, LK_N };

struct io {
	struct bm_ctx *ctx;
	struct io_conf c;
	struct registry *reg;
	struct io_stats *st;
	int ep;
	struct ioh wake;
	struct ioh listen[2];
	size_t n_listen;
	char *unix_path; /* to remove at stop */
	int spare_fd;    /* given up to accept and drop when out of fds */
	pthread_t thread;
	atomic_bool stop;

	struct conn *conns, *waiting, *waiting_tail, *dead;
	size_t n_conns;
	uint64_t buffered;
	uint8_t *rbuf;
	struct ap_scratch scratch;

	/* custom samples waiting to be published */
	struct bm_sample *pend;
	size_t n_pend, cap_pend;
	struct bm_metric_meta *meta;
	size_t n_meta, cap_meta;
	uint64_t pend_gen; /* counts flushes; 0 is never a batch's */

	/* commands: queued by the bus thread, pending on the I/O thread */
	pthread_mutex_t qlock;
	struct cmd *queue, *queue_tail;
	size_t n_queue;
	struct cmd *pending;
	size_t n_pending;

	struct bm_buf ebuf;     /* event bodies */
	struct bm_buf fbuf;     /* frames */
	struct bm_arena arena;  /* strings of one ack */
	int64_t now, next_tick, next_second, next_registry;
	int64_t log_at[LK_N];
	uint64_t log_skipped[LK_N];
};


/* The I/O thread is the only writer of the counters. */
static inline void st_add(uint64_t *p, uint64_t n)
{
	__atomic_store_n(p, *p + n, __ATOMIC_RELAXED);
}

static inline void st_set(double *p, double v)
{
	__atomic_store(p, &v, __ATOMIC_RELAXED);
}

/* io.c */
/* One line per kind of trouble per LOG_EVERY_MS; the lines in between are
 * counted and the count is told with the next line. */
__attribute__((format(printf, 4, 5))) void log_limited(struct io *io, enum log_kind k, int level,
							const char *fmt, ...);
/* Send a frame, buffering what the socket does not take (bounded). */
void conn_send(struct io *io, struct conn *c, const void *p, size_t n);

/* samples.c: custom metrics of `metric` messages */
void samples_on_metric(struct io *io, struct agent *a, const struct ap_sample *v, uint32_t n);
/* Publish what is queued. */
void samples_flush(struct io *io);
/* The agent's custom series end: stale markers, then they are forgotten. */
void samples_retire(struct io *io, struct agent *a);

/* command.c: commands from the bus to agents, acks back */
void cmd_drain(struct io *io);
void cmd_expire(struct io *io);
void cmd_on_ack(struct io *io, struct agent *a, const struct ap_ack *k);
/* Answer every pending command of agent_id (NULL: all) with ok=false. */
void cmd_fail_pending(struct io *io, const char *agent_id, const char *why);
void cmd_free_queue(struct io *io);

/* listen.c */
int listen_open(struct io *io, struct bm_err *err);
void listen_close(struct io *io);

#endif
