/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/exec: runs configured commands (argv, no shell) every
 * collection, reads their stdout (bounded, with a deadline) as Prometheus
 * text format (common/expfmt.c) and publishes it, plus each command's
 * duration, exit code and success.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/expfmt_batch.h"
#include "../common/publish.h"
#include "../common/cmdspawn.h"

extern char **environ;

struct exec_cmd_conf {
	char *name;                /* the command label */
	struct bm_strlist command; /* argv; argv[0] looked up in PATH */
	int64_t timeout;           /* ms */
};

struct exec_conf {
	struct bm_group_list commands; /* of struct exec_cmd_conf */
	uint64_t max_output;           /* bytes of stdout read per command */
};

static const struct bm_option exec_cmd_options[] = {
	{.name = "name", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct exec_cmd_conf, name),
	 .help = "value of the command label on the command's own series"},
	{.name = "command", .type = BM_OPT_STRING_LIST, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct exec_cmd_conf, command),
	 .help = "argv to run, no shell: [\"/usr/local/bin/probe\", \"--fast\"]"},
	BM_OPTION_BOUNDED("timeout", BM_OPT_DURATION, "5s", struct exec_cmd_conf, timeout, 1,
			  3600000, "kill the command's process group after this long"),
	BM_OPTION_END,
};

static const struct bm_option exec_options[] = {
	{.name = "commands", .type = BM_OPT_GROUP_LIST, .offset = offsetof(struct exec_conf, commands),
	 .sub = exec_cmd_options, .sub_size = sizeof(struct exec_cmd_conf),
	 .help = "commands to run each collection: ( { name; command; timeout; }, ... )"},
	BM_OPTION_BOUNDED("max_output", BM_OPT_SIZE, "1MiB", struct exec_conf, max_output, 64,
			  268435456.0, "stdout beyond this many bytes fails the command"),
	BM_OPTION_END,
};

struct exec {
	struct bm_ctx *ctx;
	const struct exec_conf *conf;
	struct bm_batch batch;
	struct pub_families families; /* metadata already published */
	char *out; /* one command's stdout, max_output + 1 bytes */
	struct expfmt_item item;
	char why[256];
};

/* What one run came to. */
struct run {
	size_t len;       /* bytes of stdout in e->out */
	int exit_code;    /* exit status, 128 + signal, or -1 when it never ran */
	bool timed_out;
	bool truncated;   /* more than max_output bytes */
	double seconds;
};

static int exec_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct exec_conf *c = conf;
	for (size_t i = 0; i < c->commands.n; i++) {
		const struct exec_cmd_conf *cc = BM_GROUP_ITEM(c->commands, struct exec_cmd_conf, i);
		if (!cc->name || !*cc->name)
			return bm_err_set(err, BM_EINVAL, "commands[%zu]: name must not be empty", i);
		if (!cc->command.n || !cc->command.v[0] || !*cc->command.v[0])
			return bm_err_set(err, BM_EINVAL, "commands[%zu] (%s): command is empty", i,
					  cc->name);
		for (size_t k = 0; k < i; k++)
			if (strcmp(BM_GROUP_ITEM(c->commands, struct exec_cmd_conf, k)->name, cc->name) == 0)
				return bm_err_set(err, BM_EINVAL, "commands: name \"%s\" used twice",
						  cc->name);
	}
	struct exec *e = calloc(1, sizeof(*e));
	if (!e || !(e->out = malloc(c->max_output + 1))) {
		free(e);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	e->ctx = ctx;
	e->conf = c;
	if (!c->commands.n)
		bm_log_info(ctx, "no commands configured: nothing to do");
	*state = e;
	return 0;
}

static void exec_fini(void *state)
{
	struct exec *e = state;
	bm_batch_free(&e->batch);
	pub_families_free(&e->families);
	free(e->out);
	free(e);
}

static int64_t mono_ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for pid until deadline (ms, monotonic); kill its group when the
 * deadline passes. Returns the wait status. */
static int reap(pid_t pid, int64_t deadline, bool *timed_out)
{
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1; /* ECHILD: someone else reaped it */
		if (r == 0 && mono_ms_now() >= deadline) {
			*timed_out = true;
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return status;
		}
		struct timespec nap = {0, 2 * 1000 * 1000};
		nanosleep(&nap, NULL);
	}
}

/* Run one command: stdout into e->out, stdin and stderr on /dev/null, in a
 * process group of its own so that a timeout kills everything it started. */
static int run_command(struct exec *e, const struct exec_cmd_conf *cc, struct run *r)
{
	int fds[2];
	pid_t pid;
	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	double t0 = mono_s();
	int64_t deadline = mono_ms_now() + cc->timeout;

	char **argv = calloc(cc->command.n + 1, sizeof(*argv));
	if (!argv)
		return snprintf(e->why, sizeof(e->why), "out of memory"), -1;
	memcpy(argv, cc->command.v, cc->command.n * sizeof(*argv));
	if (pipe2(fds, O_CLOEXEC)) {
		snprintf(e->why, sizeof(e->why), "pipe: %s", strerror(errno));
		free(argv);
		return -1;
	}
	int rc = cmd_spawn(&pid, argv, environ, -1, fds[1], -1);
	free(argv);
	close(fds[1]);
	if (rc) {
		close(fds[0]);
		snprintf(e->why, sizeof(e->why), "cannot run %s: %s", cc->command.v[0], strerror(rc));
		r->seconds = mono_s() - t0;
		return -1;
	}

	/* read until EOF, the size cap or the deadline */
	size_t cap = e->conf->max_output;
	for (;;) {
		int64_t left = deadline - mono_ms_now();
		if (left <= 0) {
			r->timed_out = true;
			break;
		}
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		int n = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			continue; /* the deadline check above ends it */
		if (n < 0)
			break;
		ssize_t got = read(fds[0], e->out + r->len, cap + 1 - r->len);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			break;
		r->len += (size_t)got;
		if (r->len > cap) {
			r->truncated = true;
			r->len = cap;
			break;
		}
	}
	close(fds[0]);
	if (r->timed_out || r->truncated) {
		kill(-pid, SIGKILL);
		deadline = mono_ms_now(); /* reap at once */
	}
	bool late = false; /* after a cut at max_output, the kill is ours, not a timeout */
	int status = reap(pid, deadline, r->truncated ? &late : &r->timed_out);
	r->seconds = mono_s() - t0;
	if (status < 0)
		r->exit_code = -1;
	else if (WIFEXITED(status))
		r->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r->exit_code = 128 + WTERMSIG(status);
	e->out[r->len] = '\0';
	return 0;
}

/* A HELP or TYPE line: a family new to the batch is declared untyped, then
 * typed or documented by this line; one another command declared first
 * keeps what that command said. */
static int exec_meta(void *user, struct bm_batch *b, const struct expfmt_item *it,
		     size_t first_meta, char *why, size_t n)
{
	(void)user;
	ssize_t m = expfmt_batch_find_meta(b, it->name);
	if (m >= 0 && (size_t)m < first_meta)
		return 0;
	if (m < 0) {
		if (bm_batch_family(b, it->name, BM_METRIC_UNTYPED, NULL, NULL))
			goto oom;
		m = (ssize_t)b->n_meta - 1;
	}
	if (it->kind == EXPFMT_TYPE)
		b->meta[m].type = it->type;
	else if (!(b->meta[m].help = bm_arena_strndup(&b->arena, it->help, strlen(it->help))))
		goto oom;
	return 0;
oom:
	snprintf(why, n, "out of memory");
	return -1;
}

/* Parse e->out into the batch; on failure roll back and fill e->why. */
static int parse_output(struct exec *e, size_t len)
{
	char why[sizeof(e->why) - 32];
	unsigned line = 0;
	if (!expfmt_batch_parse(&e->batch, e->out, len, &e->item, exec_meta, NULL, why, sizeof(why),
				&line))
		return 0;
	snprintf(e->why, sizeof(e->why), "line %u: %s", line, why);
	return -1;
}

static int exec_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct exec *e = state;
	struct bm_batch *b = &e->batch;
	const struct exec_conf *c = e->conf;
	int rc = 0;
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	for (size_t i = 0; i < c->commands.n && !rc; i++) {
		const struct exec_cmd_conf *cc = BM_GROUP_ITEM(c->commands, struct exec_cmd_conf, i);
		struct run r;
		bool ok = false;
		if (run_command(e, cc, &r)) {
			bm_log_warn(e->ctx, "command %s: %s", cc->name, e->why);
		} else if (r.timed_out) {
			bm_log_warn(e->ctx, "command %s: timed out after %.3f s; process group killed",
				    cc->name, r.seconds);
		} else if (r.truncated) {
			bm_log_warn(e->ctx,
				    "command %s: output larger than max_output (%llu bytes); killed, nothing published",
				    cc->name, (unsigned long long)c->max_output);
		} else if (r.exit_code != 0) {
			bm_log_warn(e->ctx, "command %s: exit code %d; output not published", cc->name,
				    r.exit_code);
		} else if (parse_output(e, r.len)) {
			bm_log_warn(e->ctx, "command %s: %s; output not published", cc->name, e->why);
		} else {
			ok = true;
		}
		b->ts_ms = now_ms;
		rc = bm_batch_addl(b, "bearmon_exec_duration_seconds", r.seconds, "command", cc->name,
				   NULL);
		if (!rc)
			rc = bm_batch_addl(b, "bearmon_exec_exit_code", r.exit_code, "command", cc->name,
					   NULL);
		if (!rc)
			rc = bm_batch_addl(b, "bearmon_exec_success", ok ? 1 : 0, "command", cc->name,
					   NULL);
	}
	if (!rc && c->commands.n)
		rc = bm_batch_family(b, "bearmon_exec_duration_seconds", BM_METRIC_GAUGE, "seconds",
				     "wall-clock time the command ran");
	if (!rc && c->commands.n)
		rc = bm_batch_family(b, "bearmon_exec_exit_code", BM_METRIC_GAUGE, NULL,
				     "exit status, 128 + signal when killed, -1 when it did not run");
	if (!rc && c->commands.n)
		rc = bm_batch_family(b, "bearmon_exec_success", BM_METRIC_GAUGE, NULL,
				     "1 when the command exited 0 in time and its output parsed");
	if (!rc && !c->commands.n)
		rc = bm_batch_family(b, "bearmon_exec_commands", BM_METRIC_GAUGE, NULL,
				     "commands configured");
	if (!rc && !c->commands.n)
		rc = bm_batch_addl(b, "bearmon_exec_commands", 0, NULL);
	if (rc)
		return bm_err_set(err, rc, "cannot build the batch: %s", bm_strerror(rc));
	return publish_batch_once(e->ctx, b, 0, err, &e->families);
}

static const struct bm_plugin_ops exec_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = exec_init,
	.fini = exec_fini,
	.collect = exec_collect,
};

BM_PLUGIN_DEFINE(collector, exec, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "runs commands that print Prometheus text format, with a timeout",
		 .origin = "bearmon plugins/collector_exec",
		 .options = exec_options,
		 .config_size = sizeof(struct exec_conf),
		 .ops = &exec_ops);
