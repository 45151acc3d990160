/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libbearmon-client: how an AI agent reports tasks, custom metrics and
 * coordination to bearmond over the native agent protocol
 * (sdk/PROTOCOL.md, version 1), and answers the commands bearmon sends.
 * Every reporting call only appends to a bounded in-memory buffer: it never
 * blocks on the network, and a bearmond that is down or slow costs the
 * agent dropped (and counted) data, never a stall, a crash or a SIGPIPE.
 */
#ifndef BEARMON_BM_CLIENT_H
#define BEARMON_BM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_err.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BM_CLIENT_API __attribute__((visibility("default")))
#else
#define BM_CLIENT_API
#endif

/* The protocol version this library speaks (the hello's `v`). */
#define BM_CLIENT_PROTOCOL_VERSION 1

/* Defaults of struct bm_client_opts fields left 0. */
#define BM_CLIENT_DEFAULT_ADDRESS	   "unix:/var/lib/bearmon/agent.sock"
#define BM_CLIENT_DEFAULT_BUFFER_LIMIT	   (1024 * 1024)
#define BM_CLIENT_MIN_BUFFER_LIMIT	   (64 * 1024)
#define BM_CLIENT_DEFAULT_FLUSH_MS	   100
#define BM_CLIENT_DEFAULT_RECONNECT_MAX_MS 5000

/* Opaque client handle; all calls on it are thread-safe (see bm_client_new). */
struct bm_client;

/* A label, an argument or a result entry. Both strings are borrowed for
 * the duration of the call that receives them. */
struct bm_client_kv {
	const char *key;
	const char *value;
};

/* What bm_client_new needs. Every pointer is borrowed for the call only:
 * the client keeps copies. Zero means "default" for every number. */
struct bm_client_opts {
	size_t size; /* sizeof(struct bm_client_opts): lets this struct grow */
	/* "unix:/path/agent.sock", "/path/agent.sock" or "tcp:host:port"
	 * ("tcp:[::1]:8126" for IPv6). NULL: $BEARMON_AGENT_ADDRESS, else
	 * BM_CLIENT_DEFAULT_ADDRESS. */
	const char *address;
	const char *agent_id;		   /* required: 1..128 bytes of [A-Za-z0-9_.:-] */
	const char *type;		   /* agent type ("planner", "vllm"), optional */
	const char *version;		   /* the agent's own version, optional */
	const struct bm_client_kv *labels; /* added by bearmon to every series */
	size_t n_labels;
	const char *const *capabilities; /* command names the agent accepts */
	size_t n_capabilities;
	/* Bytes of reports held while bearmond is down or slow (frames not yet
	 * written plus the open metric batch). At least
	 * BM_CLIENT_MIN_BUFFER_LIMIT; 0: BM_CLIENT_DEFAULT_BUFFER_LIMIT. */
	size_t buffer_limit;
	int flush_interval_ms; /* seal and send the metric batch this often; 0: 100 */
	int reconnect_max_ms;  /* backoff cap between connect attempts; 0: 5000 */
};

/* Counters since bm_client_new (struct passed in to be filled). */
struct bm_client_stats {
	size_t size;		   /* set by the caller: sizeof(struct bm_client_stats) */
	uint64_t samples;	   /* metric samples accepted into the buffer */
	uint64_t messages;	   /* task, coord and ack messages accepted */
	uint64_t samples_dropped;  /* accepted, then dropped: buffer full */
	uint64_t messages_dropped; /* the same for task, coord and ack */
	uint64_t bytes_dropped;	   /* encoded bytes of both */
	uint64_t rejected;	   /* calls refused: invalid arguments */
	uint64_t frames_sent;	   /* frames written to the socket in full */
	uint64_t bytes_sent;
	uint64_t connects;	   /* sessions established (welcome received) */
	uint64_t connect_failures; /* attempts that ended before a welcome */
	uint64_t disconnects;	   /* established sessions that ended */
	uint64_t commands;	   /* commands received */
	uint64_t server_errors;	   /* `error` messages received */
	size_t buffered_bytes;	   /* bytes waiting now */
	bool connected;		   /* a session is established now */
	char last_error[128];	   /* the server's last error ("replaced: ...") or "" */
};

/* struct bm_client_opts's defaults, to use as `= BM_CLIENT_OPTS_INIT`. */
#define BM_CLIENT_OPTS_INIT                                                                        \
	{                                                                                          \
		.size = sizeof(struct bm_client_opts)                                              \
	}

/*
 * bm_client_new: create a client. It connects (and says hello) on the
 * first bm_client_poll, bm_client_hello or background-thread tick, and
 * again after every disconnect, with a bounded exponential backoff.
 * The only call that may block: a "tcp:" host name is resolved here (use
 * a numeric address or a Unix socket to avoid a DNS wait).
 * Thread safety: every call may be made from any thread at any time; one
 * mutex per client is held while a call appends its few bytes, never
 * across a system call that can wait. bm_client_free is the exception:
 * call it once, when no other call is running.
 * Returns NULL with err filled (when not NULL) on invalid options or
 * allocation failure.
 */
BM_CLIENT_API struct bm_client *bm_client_new(const struct bm_client_opts *opts,
					      struct bm_err *err);

/*
 * bm_client_free: stop the background thread (if started), write what
 * can be written at once without waiting, say bye, close and free.
 * Call bm_client_flush(c, timeout) first to wait for delivery. NULL is
 * a no-op.
 */
BM_CLIENT_API void bm_client_free(struct bm_client *c);

/*
 * bm_client_hello: start connecting now instead of at the next tick,
 * cancelling a pending backoff wait. Never needed for correctness: the
 * hello is sent automatically on every connect. Returns 0 (also when
 * already connected or connecting), BM_EIO when the socket cannot even be
 * created (the next attempt follows the backoff).
 */
BM_CLIENT_API int bm_client_hello(struct bm_client *c);

/* ---- reporting: each appends to the buffer and returns at once -------- */

/* A running task: what bm_client_task_begin hands out, by value. */
struct bm_client_task {
	int64_t start_ms;      /* wall clock at begin, ms since the epoch */
	int64_t start_mono_ns; /* monotonic clock at begin: the duration's origin */
};

enum bm_client_outcome {
	BM_TASK_OK = 0,
	BM_TASK_ERROR,
	BM_TASK_TIMEOUT,
	BM_TASK_CANCELLED,
};

/* How a task ended. Strings borrowed for the call; NULL or 0 fields are
 * not sent (the server's defaults apply: type "default", outcome ok). */
struct bm_client_task_report {
	const char *task_id;		/* optional */
	const char *type;		/* task type (label task_type) */
	enum bm_client_outcome outcome; /* BM_TASK_OK when zeroed */
	const char *error_class;	/* e.g. "rate_limited"; only with a failed outcome */
	int64_t tokens_in;		/* tokens consumed, >= 0 */
	int64_t tokens_out;		/* tokens produced, >= 0 */
};

/* bm_client_task_begin: take the task's start time. Nothing is sent until
 * bm_client_task_end (an unfinished task is not reported). c may be NULL. */
BM_CLIENT_API struct bm_client_task bm_client_task_begin(struct bm_client *c);

/*
 * bm_client_task_end: report a finished task with start_ms, end_ms and the
 * precise duration_ms measured on the monotonic clock. r may be NULL (an
 * ok task of type "default"). Returns 0, BM_EINVAL (bad string, negative
 * tokens, error_class with outcome ok; counted as rejected) or BM_EAGAIN
 * (buffer full even after dropping the oldest data; counted as dropped).
 */
BM_CLIENT_API int bm_client_task_end(struct bm_client *c, const struct bm_client_task *t,
				     const struct bm_client_task_report *r);

/* bm_client_task: a task that ended now and ran duration_ms (>= 0, finite);
 * returns as bm_client_task_end. */
BM_CLIENT_API int bm_client_task(struct bm_client *c, double duration_ms,
				 const struct bm_client_task_report *r);

/*
 * bm_client_gauge / bm_client_counter: one sample of a custom metric,
 * stamped with the wall clock now, batched into one `metric` message per
 * flush. name: a Prometheus metric name (counters should end in _total);
 * labels: Prometheus label names, UTF-8 values (may be NULL with 0).
 * A counter's value is an increment (>= 0): bearmon keeps the total.
 * Quality scores are gauges in [0, 1]: agent_quality_accuracy,
 * agent_quality_reliability, agent_quality_availability,
 * agent_quality_consistency. Returns as bm_client_task_end (non-finite
 * values are BM_EINVAL).
 */
BM_CLIENT_API int bm_client_gauge(struct bm_client *c, const char *name, double value,
				  const struct bm_client_kv *labels, size_t n_labels);
BM_CLIENT_API int bm_client_counter(struct bm_client *c, const char *name, double increment,
				    const struct bm_client_kv *labels, size_t n_labels);

/* One coordination exchange with a peer agent. peer is required; a number
 * left 0 is not sent; negatives are invalid. */
struct bm_client_coord {
	const char *peer;    /* the peer's agent id */
	double latency_ms;   /* from request to answer */
	double sync_wait_ms; /* time spent waiting for the peer */
	int64_t messages;    /* messages exchanged */
	int64_t bytes;	     /* bytes exchanged */
};

/* bm_client_coord: report one exchange; returns as bm_client_task_end. */
BM_CLIENT_API int bm_client_coord(struct bm_client *c, const struct bm_client_coord *x);

/* ---- commands from bearmon ------------------------------------------ */

/* A command received from bearmon. Everything is borrowed for the
 * duration of the callback: copy the id to ack later. */
struct bm_client_command {
	const char *id;			 /* unique; bm_client_ack takes it */
	const char *name;		 /* e.g. "set_batch_size" */
	const struct bm_client_kv *args; /* may be NULL when n_args is 0 */
	size_t n_args;
	int64_t deadline_ms; /* absolute, ms since the epoch; 0 when absent */
};

/* Called for each command, without the client's lock held, from the thread
 * that runs bm_client_poll / bm_client_flush (the background thread in
 * thread mode). It may call any bm_client_* function except bm_client_free,
 * and should ack (now or later, from any thread). */
typedef void (*bm_client_command_cb)(struct bm_client *c, const struct bm_client_command *cmd,
				     void *user);

/* bm_client_on_command: set (or, with cb NULL, clear) the command handler.
 * Without a handler every command is acked at once with ok = false,
 * detail "no command handler". Returns 0. */
BM_CLIENT_API int bm_client_on_command(struct bm_client *c, bm_client_command_cb cb, void *user);

/* bm_client_ack: answer command `id`: ok, a human detail (may be NULL) and
 * result entries (e.g. the previous value, so bearmon can roll back; may be
 * NULL with 0). Returns as bm_client_task_end. */
BM_CLIENT_API int bm_client_ack(struct bm_client *c, const char *id, bool ok, const char *detail,
				const struct bm_client_kv *result, size_t n_result);

/* ---- driving the I/O --------------------------------------------------- */

/*
 * bm_client_poll: do the client's I/O: connect or reconnect when due, say
 * hello, write buffered frames, read and dispatch commands, seal the metric
 * batch every flush interval, send heartbeats. Waits up to timeout_ms
 * (0: not at all) for the socket. For the agent's own event loop: watch
 * bm_client_fd for bm_client_events, and call bm_client_poll(c, 0) when
 * it is ready and at least every bm_client_next_ms milliseconds.
 * Returns 0, or BM_ESTATE when the background thread runs (it polls).
 */
BM_CLIENT_API int bm_client_poll(struct bm_client *c, int timeout_ms);

/* The socket to watch, or -1 while there is none (between attempts). It
 * changes on reconnect: read it again after every bm_client_poll. */
BM_CLIENT_API int bm_client_fd(struct bm_client *c);

/* The poll(2) events to watch bm_client_fd for (POLLIN, plus POLLOUT while
 * connecting or while data waits). */
BM_CLIENT_API short bm_client_events(struct bm_client *c);

/* Milliseconds until bm_client_poll has timed work to do (a reconnect, a
 * batch to seal, a heartbeat); at most the flush interval. */
BM_CLIENT_API int bm_client_next_ms(struct bm_client *c);

/*
 * bm_client_start_thread: run bm_client_poll on a background thread of the
 * library's own, for agents without an event loop. Command callbacks then
 * run on that thread. bm_client_free stops and joins it.
 * Returns 0, BM_ESTATE if already started, BM_EIO if the thread cannot
 * be created.
 */
BM_CLIENT_API int bm_client_start_thread(struct bm_client *c);

/*
 * bm_client_flush: seal the metric batch so that it is written next, then
 * wait up to timeout_ms until every buffered frame is written to the
 * socket (0: do not wait; in thread mode the thread is woken to write).
 * Returns 0 when nothing is left to write, BM_EAGAIN otherwise (for
 * example while bearmond is down; the data stays buffered).
 */
BM_CLIENT_API int bm_client_flush(struct bm_client *c, int timeout_ms);

/* bm_client_stats: fill st (st->size set by the caller). Returns 0, or
 * BM_EINVAL when st->size is too small. */
BM_CLIENT_API int bm_client_stats(struct bm_client *c, struct bm_client_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* BEARMON_BM_CLIENT_H */
