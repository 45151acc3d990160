/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libbearmon-client: the client's state, shared by client.c
 * (the reporting calls) and io.c (connection, poll loop, thread). Every
 * field below `lock` is read and written with the lock held.
 */
#ifndef BEARMON_CLIENT_CLIENT_H
#define BEARMON_CLIENT_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>

#include "conn.h"
#include "decode.h"
#include "queue.h"

/* Largest single message (frame body and header) and metric batch before
 * it is sealed; lowered when the budget or the server's max_frame is
 * small, so that a frame is at most half the budget and never over
 * max_frame. */
#define BMC_MSG_MAX (64 * 1024)
/* Most bytes written by one send(2): the lock is held while the kernel
 * copies them, so this bounds how long an agent's call can wait for it. */
#define BMC_SEND_MAX (64 * 1024)
/* Largest frame accepted from the server (commands are small). */
#define BMC_IN_FRAME_MAX (1024 * 1024)
/* Commands waiting for dispatch; more are dropped (the server times them out). */
#define BMC_MAX_PENDING_COMMANDS 64
/* Connect plus hello plus welcome must take no longer than this. */
#define BMC_GREET_TIMEOUT_MS	 5000
#define BMC_BACKOFF_MIN_MS	 100
#define BMC_DEFAULT_HEARTBEAT_MS 5000

enum bmc_state {
	BMC_DOWN,	/* no socket; the next attempt is at retry_at */
	BMC_CONNECTING, /* non-blocking connect in progress */
	BMC_GREETING,	/* writing hello, waiting for welcome */
	BMC_READY,	/* welcome received: reports flow */
};

struct bm_client {
	pthread_mutex_t lock;
	/* fixed by bm_client_new */
	struct bmc_addr addr;
	char *agent_id;
	char *type;
	char *version;
	struct bm_client_kv *labels;
	size_t n_labels;
	char **caps;
	size_t n_caps;
	int flush_ms;
	int reconnect_max_ms;

	/* buffered reports */
	struct bmc_queue q;	/* sealed frames waiting for the socket */
	struct bmc_buf batch;	/* the open metric batch: encoded samples */
	uint32_t batch_n;	/* samples in it */
	int64_t batch_since;	/* monotonic ms of its first sample */
	size_t msg_max;		/* a single message larger than this is refused */
	struct bmc_buf scratch; /* where task, coord, ack frames are encoded */
	struct bmc_drops drops;

	/* connection */
	enum bmc_state state;
	int fd;
	struct bmc_buf hello; /* this connection's hello frame */
	size_t hello_written;
	struct bmc_buf in;    /* received bytes not yet a whole frame */
	int64_t retry_at;     /* monotonic ms of the next connect attempt */
	int64_t state_since;  /* monotonic ms the state was entered */
	int64_t last_write;   /* monotonic ms of the last byte written */
	int backoff_ms;	      /* the next wait after a failed attempt */
	int64_t max_frame;    /* from welcome */
	int64_t heartbeat_ms; /* from welcome */
	unsigned seed;	      /* backoff jitter */

	/* commands */
	bm_client_command_cb cb;
	void *cb_user;
	struct bmc_command *cmd_head; /* received, not yet dispatched */
	struct bmc_command **cmd_tail;
	size_t n_cmds;

	/* background thread */
	bool threaded;
	atomic_bool stopping;
	pthread_t thread;
	pthread_cond_t drained; /* broadcast when nothing is left to write */
	int wake_fd;		/* eventfd that interrupts the thread's poll */

	struct bm_client_stats st; /* counters; drops are in `drops` */
};

BMC_HIDDEN int64_t bmc_mono_ms(void);
BMC_HIDDEN int64_t bmc_wall_ms(void);

/* Seal the open metric batch into one `metric` frame (lock held). */
BMC_HIDDEN void bmc_seal_batch(struct bm_client *c);
/* Append the frame in c->scratch, counted as a message (lock held). */
BMC_HIDDEN int bmc_admit_frame(struct bm_client *c, bool count);
/* True when nothing is buffered (lock held). */
static inline bool bmc_drained(const struct bm_client *c)
{
	return bmc_queue_empty(&c->q) && c->batch_n == 0;
}

/* io.c: one non-blocking round of connection work (lock held). */
BMC_HIDDEN void bmc_io_step(struct bm_client *c);
/* io.c: write what can be written now, then say bye; used by bm_client_free. */
BMC_HIDDEN void bmc_io_close(struct bm_client *c);
/* io.c: stop and join the background thread, if any. */
BMC_HIDDEN void bmc_thread_stop(struct bm_client *c);

#endif /* BEARMON_CLIENT_CLIENT_H */
