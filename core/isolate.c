/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmond's side of an isolated instance: each hook becomes a request to
 * the instance's plugin-host child (the same bearmond binary, started with
 * --plugin-host) over a socketpair. A collection streams the child's
 * publications back and republishes them from the instance's collection
 * thread, so the host's timestamps and staleness tracking work exactly as
 * for an in-process collector. When the child dies (crash, kill) or its
 * resident memory passes isolate_memory_limit, the collection fails, the
 * child is reaped and a new one is started (init and start again) at a
 * later collection, with exponential backoff; the rest of bearmond goes on.
 */
#define _GNU_SOURCE
#include "isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bearmon/bm_event.h"
#include "daemon.h"
#include "host_api.h"
#include "instance.h"
#include "isolate_wire.h"
#include "log.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000

struct iso {
	struct bm_ctx *in;
	pid_t pid;  /* 0: no child */
	int fd;     /* -1: no child */
	bool started; /* start succeeded in the current child */
	int64_t backoff_ms;
	int64_t next_spawn_ms; /* mono */
	struct bm_arena arena;
};

/* The child's end is fd 3 after exec, whatever it was here. */
static void exec_child(struct iso *s, int child_fd)
{
	const struct daemon *d = s->in->d;
	char *argv[8 + 2 * 64];
	size_t n = 0;
	argv[n++] = "bearmond";
	argv[n++] = "--plugin-host";
	argv[n++] = s->in->name;
	argv[n++] = "--fd";
	argv[n++] = "3";
	argv[n++] = "-c";
	argv[n++] = d->config_path;
	for (size_t i = 0; i < d->n_overrides && i < 64; i++) {
		argv[n++] = "--set";
		argv[n++] = d->overrides[i];
	}
	argv[n] = NULL;
	if (dup2(child_fd, 3) < 0)
		_exit(127);
	execv("/proc/self/exe", argv);
	_exit(127);
}

static int spawn(struct iso *s, struct bm_err *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return bm_err_set(err, BM_EIO, "plugin host: socketpair: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return bm_err_set(err, BM_EIO, "plugin host: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		exec_child(s, sv[1]); /* dup2 clears CLOEXEC on fd 3 */
	}
	close(sv[1]);
	s->pid = pid;
	s->fd = sv[0];
	s->started = false;
	return 0;
}

/* Close the socket and reap the child, killing it when it does not go
 * within wait_ms; log how it ended when it ended badly. */
static void reap(struct iso *s, int wait_ms, const char *why)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (!s->pid)
		return;
	int status = 0;
	pid_t r = 0;
	for (int waited = 0; (r = waitpid(s->pid, &status, WNOHANG)) == 0 && waited < wait_ms;
	     waited += 10)
		usleep(10000);
	if (r == 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
	}
	if (why) {
		char how[64];
		if (WIFSIGNALED(status))
			snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(status),
				 strsignal(WTERMSIG(status)));
		else
			snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
		log_msg(s->in->prefix, BM_LOG_ERR, "plugin host %d %s: %s; restarting in %lld ms",
			(int)s->pid, why, how, (long long)s->backoff_ms);
	}
	s->pid = 0;
}

static void schedule_restart(struct iso *s)
{
	s->next_spawn_ms = mono_ms() + s->backoff_ms;
	s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

/* Frames the child sends besides its result. */
static void relay(struct iso *s, const struct iso_frame *f)
{
	struct bm_ctx *in = s->in;
	if (f->type == ISO_LOG && f->len >= 8) {
		log_msg(in->prefix, (int)iso_get_i64(f->data), "%s", (const char *)f->data + 8);
	} else if (f->type == ISO_METRICS) {
		struct bm_metric_batch b;
		if (bm_metric_batch_decode(f->data, f->len, &b, &s->arena) == 0)
			host_api_table()->publish_metrics(in, &b);
		bm_arena_reset(&s->arena);
	} else if (f->type == ISO_EVENT) {
		size_t tlen = strnlen((const char *)f->data, f->len);
		if (tlen < f->len)
			host_api_table()->publish(in, (const char *)f->data, f->data + tlen + 1,
						  f->len - tlen - 1);
	}
}

/* Send one request and relay until its result. -1 when the child is gone
 * (or silent past timeout_ms), with err set. */
static int request(struct iso *s, uint8_t type, const void *arg, size_t alen, int timeout_ms,
		   struct bm_err *err)
{
	if (iso_send(s->fd, type, arg, alen, NULL, 0))
		return bm_err_set(err, BM_EIO, "plugin host gone"), -1;
	for (;;) {
		struct iso_frame f;
		if (iso_recv(s->fd, &f, timeout_ms)) {
			bm_err_set(err, BM_EIO, "plugin host %s",
				   errno == ETIMEDOUT ? "did not answer in time" : "exited");
			return -1;
		}
		if (f.type == ISO_RESULT && f.len >= 8) {
			int rc = (int)iso_get_i64(f.data);
			if (rc)
				bm_err_set(err, rc, "%s", (const char *)f.data + 8);
			iso_frame_free(&f);
			return rc;
		}
		relay(s, &f);
		iso_frame_free(&f);
	}
}

static int hook_timeout(const struct iso *s)
{
	return (int)s->in->d->cfg->core.plugin_deadline_ms;
}

/* A fresh child with init and start done; the hook's answer, or -1. */
static int bring_up(struct iso *s, struct bm_err *err)
{
	if (spawn(s, err))
		return err->code;
	int rc = request(s, ISO_INIT, NULL, 0, hook_timeout(s), err);
	if (rc == 0) {
		rc = request(s, ISO_START, NULL, 0, hook_timeout(s), err);
		s->started = rc == 0;
	}
	return rc;
}

static int iso_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	(void)conf; /* the child fills its own from the same config */
	struct iso *s = calloc(1, sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->in = ctx;
	s->fd = -1;
	s->backoff_ms = BACKOFF_MIN_MS;
	if (spawn(s, err)) {
		free(s);
		return err->code;
	}
	int rc = request(s, ISO_INIT, NULL, 0, hook_timeout(s), err);
	if (rc) {
		reap(s, 1000, NULL);
		free(s);
		return rc < 0 ? BM_EIO : rc;
	}
	*state = s;
	return 0;
}

static int iso_start(void *state, struct bm_err *err)
{
	struct iso *s = state;
	int rc = request(s, ISO_START, NULL, 0, hook_timeout(s), err);
	s->started = rc == 0;
	return rc < 0 ? BM_EIO : rc;
}

static long rss_bytes(pid_t pid)
{
	char path[64];
	long pages = -1, rss = -1;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "re");
	if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	if (f)
		fclose(f);
	return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

static int iso_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct iso *s = state;
	if (!s->pid) {
		if (mono_ms() < s->next_spawn_ms)
			return bm_err_set(err, BM_EAGAIN, "plugin host restarting");
		int rc = bring_up(s, err);
		if (rc) {
			reap(s, 1000, "failed to start again");
			schedule_restart(s);
			return rc < 0 ? BM_EIO : rc;
		}
		log_msg(s->in->prefix, BM_LOG_NOTICE, "plugin host %d restarted", (int)s->pid);
	}
	uint64_t limit = s->in->d->cfg->core.isolate_memory_limit;
	long rss = rss_bytes(s->pid);
	if (limit > 0 && rss > 0 && (uint64_t)rss > limit) {
		kill(s->pid, SIGKILL);
		reap(s, 1000, "outgrew isolate_memory_limit");
		schedule_restart(s);
		return bm_err_set(err, BM_ENOMEM, "plugin host used %ld bytes, more than %llu", rss,
				  (unsigned long long)limit);
	}
	uint8_t tick[8];
	iso_put_i64(tick, now_ms);
	int rc = request(s, ISO_COLLECT, tick, 8, -1, err); /* the watchdog bounds it */
	if (rc < 0) {
		reap(s, 1000, "died during a collection");
		schedule_restart(s);
		return BM_EIO;
	}
	s->backoff_ms = BACKOFF_MIN_MS; /* healthy again */
	return rc;
}

static void iso_stop(void *state)
{
	struct iso *s = state;
	struct bm_err err = {0};
	if (s->pid && s->started && request(s, ISO_STOP, NULL, 0, hook_timeout(s), &err) < 0)
		reap(s, 0, "died at stop");
}

static void iso_fini(void *state)
{
	struct iso *s = state;
	struct bm_err err = {0};
	if (s->pid)
		(void)request(s, ISO_FINI, NULL, 0, hook_timeout(s), &err);
	reap(s, hook_timeout(s), NULL);
	bm_arena_free(&s->arena);
	free(s);
}

const struct bm_plugin_ops isolate_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = iso_init,
	.start = iso_start,
	.stop = iso_stop,
	.fini = iso_fini,
	.collect = iso_collect,
};
