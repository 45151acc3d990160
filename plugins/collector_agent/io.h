/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent protocol's I/O: listeners on a Unix socket and TCP, the
 * connections, frames and messages, on one thread of the plugin's own with
 * its own epoll set, so that the host's main loop never waits for agents.
 * Custom metrics are published from this thread as they arrive; commands
 * from the bus are queued to it and routed to the agent's connection.
 */
#ifndef BEARMON_AGENT_IO_H
#define BEARMON_AGENT_IO_H

#include <stdint.h>

#include <bearmon/bm_host.h>

#include "agents.h"
#include "proto.h"

struct io_conf {
	const char *unix_path;  /* NULL: no Unix socket */
	unsigned unix_mode;     /* permission bits of the socket file */
	const char *tcp_listen; /* "host:port", "[v6]:port"; NULL: no TCP */
	uint32_t max_frame;
	uint32_t max_connections;
	uint64_t max_buffered;  /* bytes of partial frames of all connections */
	int64_t hello_timeout_ms;
	int64_t heartbeat_ms;
	int64_t registry_interval_ms;
	int64_t command_timeout_ms; /* for commands without a deadline */
	uint32_t max_pending_commands;
	const char *server;     /* welcome's server string */
};

/* Self-metrics: written by the I/O thread alone (relaxed atomic stores),
 * read by the host's self-metrics tick. */
struct io_stats {
	uint64_t frames, bytes, samples, samples_invalid, messages_unknown;
	uint64_t protocol[AP_R_N]; /* [0] unused */
	uint64_t connections, refused, hello_timeouts, midframe, buffer_overflows;
	uint64_t commands, acks, acks_unmatched, command_failures, publish_failures;
	double connections_now, agents_now;
};

struct io;

/* Open the listeners (errors in err) and start the thread. */
int io_start(struct io **out, struct bm_ctx *ctx, const struct io_conf *c, struct registry *reg,
	     struct io_stats *st, struct bm_err *err);
/* Tell every agent the server shuts down, stop the thread, close and free
 * everything; the Unix socket file is removed. */
void io_stop(struct io *io);
/* An agent.command event body from the bus (any thread): queued for the
 * I/O thread, or answered at once with a failed ack when the queue is full
 * or the body is malformed. */
void io_command(struct io *io, const void *body, size_t len);

#endif
