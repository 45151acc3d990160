/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notifier/exec: runs a configured command (argv, no shell) per alert, the
 * alert's JSON on stdin and BEARMON_ALERT_* in the environment, up to
 * `concurrency` at once, each in a process group of its own that is killed
 * at the timeout. Exit code 0 is a delivery; anything else is retried.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cmdspawn.h"
#include "notify.h"

#define EXEC_MAX_CONCURRENCY 64
#define EXEC_POLL_MS 10 /* how often exits are looked for while output stays open */
/* A longer environment string fails exec with E2BIG (the kernel allows
 * 128 KiB per string); the whole value is on stdin anyway. */
#define EXEC_ENV_VALUE_MAX 32768

extern char **environ;

struct exec_conf {
	struct notify_conf common;
	struct bm_strlist command;
	int64_t timeout_ms;
	int64_t concurrency;
};

static const struct bm_option exec_options[] = {
	BM_OPTION("command", BM_OPT_STRING_LIST, NULL, struct exec_conf, command,
		  "argv to run per alert, no shell: [\"/usr/local/bin/page\", \"--team\", \"ops\"] "
		  "(unset: every alert fails, with a warning)"),
	BM_OPTION_BOUNDED("timeout", BM_OPT_DURATION, "30s", struct exec_conf, timeout_ms, 10,
			  3600000, "the command's process group is killed after this long"),
	BM_OPTION_BOUNDED("concurrency", BM_OPT_INT, "4", struct exec_conf, concurrency, 1,
			  EXEC_MAX_CONCURRENCY, "commands running at once, one per alert"),
	NOTIFY_OPTIONS(struct exec_conf, common, "3"),
	BM_OPTION_END,
};

/* Environment variables from the alert, beside BEARMON_ALERT_LABEL_* and
 * BEARMON_ALERT_ANNOTATION_*. */
static const struct {
	const char *name;
	const char *tmpl;
} exec_env_fields[] = {
	{"BEARMON_ALERT_STATUS", "{{ .Status }}"},
	{"BEARMON_ALERT_NAME", "{{ .Labels.alertname }}"},
	{"BEARMON_ALERT_SEVERITY", "{{ .Severity }}"},
	{"BEARMON_ALERT_FINGERPRINT", "{{ .Fingerprint }}"},
	{"BEARMON_ALERT_RULE_ID", "{{ .RuleID }}"},
	{"BEARMON_ALERT_VALUE", "{{ .Value }}"},
	{"BEARMON_ALERT_THRESHOLD", "{{ .Threshold }}"},
	{"BEARMON_ALERT_STARTS_AT", "{{ .StartsAt }}"},
	{"BEARMON_ALERT_ENDS_AT", "{{ .EndsAt }}"},
	{"BEARMON_ALERT_GENERATOR_URL", "{{ .GeneratorURL }}"},
	{"BEARMON_ALERT_SUMMARY", "{{ .Annotations.summary }}"},
	{"BEARMON_ALERT_DESCRIPTION", "{{ .Annotations.description }}"},
};

struct exec {
	struct bm_ctx *ctx;
	const struct exec_conf *conf;
	struct notify *n;
	char **argv; /* command, NULL-terminated */
};

/* One command run for one alert. */
struct child {
	struct notify_item *item;
	pid_t pid;          /* 0: not started */
	int in_fd, out_fd;  /* -1 once closed */
	char *input;        /* the alert's JSON */
	size_t in_len, in_off;
	char out[200];      /* start of stdout and stderr, for the error text */
	size_t out_len;
	int status;
	bool reaped, timed_out, stopped;
	int spawn_err;
	int64_t t0;
	int64_t latency_ms;
};

struct envv {
	char **v;
	size_t n, cap;
	bool oom;
};

static void env_add(struct envv *e, char *s)
{
	if (!s || e->n + 2 > e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		char **v = s ? realloc(e->v, cap * sizeof(*v)) : NULL;
		if (!v) {
			free(s);
			e->oom = true;
			return;
		}
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
}

/* NAME=VALUE, the value cut at EXEC_ENV_VALUE_MAX bytes. */
static void env_addf(struct envv *e, const char *name, const char *value)
{
	char *s;
	env_add(e, asprintf(&s, "%s=%.*s", name, EXEC_ENV_VALUE_MAX, value) < 0 ? NULL : s);
}

static void env_free(struct envv *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
}

/* PREFIX + the name upper-cased, other characters than [A-Z0-9] as _. */
static void env_name(char *out, size_t n, const char *prefix, const char *name)
{
	size_t k = (size_t)snprintf(out, n, "%s", prefix);
	for (; *name && k + 1 < n; name++)
		out[k++] = isalnum((unsigned char)*name) ? (char)toupper((unsigned char)*name) : '_';
	out[k < n ? k : n - 1] = '\0';
}

static void env_members(struct envv *e, const json_t *alert, const char *key, const char *prefix)
{
	const char *k;
	json_t *v;
	char name[160];
	json_object_foreach(json_object_get(alert, key), k, v) {
		env_name(name, sizeof(name), prefix, k);
		env_addf(e, name, json_is_string(v) ? json_string_value(v) : "");
	}
}

/* The daemon's environment less stale BEARMON_ALERT_*, plus this alert's. */
static int exec_env(const struct exec *x, const struct notify_item *it, struct envv *e)
{
	struct bm_buf b = {0};
	char attempt[16];
	for (char **p = environ; p && *p; p++)
		if (strncmp(*p, "BEARMON_ALERT_", 14) != 0 && strncmp(*p, "BEARMON_NOTIFIER=", 17) != 0)
			env_add(e, strdup(*p));
	for (size_t i = 0; i < sizeof(exec_env_fields) / sizeof(exec_env_fields[0]); i++) {
		bm_buf_reset(&b);
		if (notify_template_render(exec_env_fields[i].tmpl, it->alert, &b) ||
		    bm_buf_append(&b, "", 1))
			e->oom = true;
		else
			env_addf(e, exec_env_fields[i].name, b.data);
	}
	bm_buf_free(&b);
	snprintf(attempt, sizeof(attempt), "%u", it->attempt);
	env_addf(e, "BEARMON_ALERT_ATTEMPT", attempt);
	env_addf(e, "BEARMON_NOTIFIER", bm_instance_name(x->ctx));
	env_members(e, it->alert, "labels", "BEARMON_ALERT_LABEL_");
	env_members(e, it->alert, "annotations", "BEARMON_ALERT_ANNOTATION_");
	return e->oom ? BM_ENOMEM : 0;
}

/* Start the command for ch: 0 or an errno value. */
static int exec_spawn(const struct exec *x, struct child *ch, char **envp)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC))
		return errno;
	if (pipe2(out, O_CLOEXEC)) {
		int e = errno;
		close(in[0]);
		close(in[1]);
		return e;
	}
	int rc = cmd_spawn(&ch->pid, x->argv, envp, in[0], out[1], out[1]);
	close(in[0]);
	close(out[1]);
	if (rc) {
		ch->pid = 0;
		close(in[1]);
		close(out[0]);
		return rc;
	}
	ch->in_fd = in[1];
	ch->out_fd = out[0];
	fcntl(ch->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(ch->out_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Feed stdin and drain stdout/stderr as far as they go without blocking. */
static void pump(struct child *ch)
{
	char sink[4096];
	while (ch->in_fd >= 0) {
		ssize_t w = write(ch->in_fd, ch->input + ch->in_off, ch->in_len - ch->in_off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w >= 0)
			ch->in_off += (size_t)w;
		if (w < 0 || ch->in_off == ch->in_len) /* done, or EPIPE: it does not read */
			close_fd(&ch->in_fd);
	}
	while (ch->out_fd >= 0) {
		ssize_t r = read(ch->out_fd, sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			close_fd(&ch->out_fd);
			break;
		}
		size_t room = sizeof(ch->out) - 1 - ch->out_len, take = (size_t)r < room ? (size_t)r : room;
		memcpy(ch->out + ch->out_len, sink, take);
		ch->out_len += take;
	}
}

static void reap(struct child *ch, int flags)
{
	if (!ch->pid || ch->reaped)
		return;
	pid_t r;
	while ((r = waitpid(ch->pid, &ch->status, flags)) < 0 && errno == EINTR)
		;
	if (r == ch->pid || r < 0) { /* r < 0: ECHILD, someone else reaped it */
		ch->reaped = true;
		ch->latency_ms = notify_mono_ms() - ch->t0;
		if (r < 0)
			ch->status = -1;
	}
}

static void kill_running(struct child *ch, size_t k, bool timeout)
{
	for (size_t i = 0; i < k; i++) {
		if (!ch[i].pid || ch[i].reaped)
			continue;
		kill(-ch[i].pid, SIGKILL);
		ch[i].timed_out = timeout;
		ch[i].stopped = !timeout;
	}
}

static bool any_running(const struct child *ch, size_t k)
{
	for (size_t i = 0; i < k; i++)
		if (ch[i].pid && !ch[i].reaped)
			return true;
	return false;
}

/* Run until every child exited, the timeout passed, or the notifier stops. */
static void exec_wait(const struct exec *x, struct notify *n, struct child *ch, size_t k)
{
	struct pollfd pf[1 + 2 * EXEC_MAX_CONCURRENCY];
	int64_t deadline = notify_mono_ms() + x->conf->timeout_ms;
	while (any_running(ch, k)) {
		int64_t left = deadline - notify_mono_ms();
		if (left <= 0) {
			kill_running(ch, k, true);
			break;
		}
		nfds_t m = 0;
		pf[m++] = (struct pollfd){.fd = notify_stop_fd(n), .events = POLLIN};
		for (size_t i = 0; i < k; i++) {
			if (ch[i].in_fd >= 0)
				pf[m++] = (struct pollfd){.fd = ch[i].in_fd, .events = POLLOUT};
			if (ch[i].out_fd >= 0)
				pf[m++] = (struct pollfd){.fd = ch[i].out_fd, .events = POLLIN};
		}
		poll(pf, m, (int)(left < EXEC_POLL_MS ? left : EXEC_POLL_MS));
		if (pf[0].revents) {
			kill_running(ch, k, false);
			break;
		}
		for (size_t i = 0; i < k; i++) {
			pump(&ch[i]);
			reap(&ch[i], WNOHANG);
		}
	}
	for (size_t i = 0; i < k; i++) {
		reap(&ch[i], 0);
		close_fd(&ch[i].in_fd);
		close_fd(&ch[i].out_fd);
	}
}

/* What one run came to, for notify_record. */
static void exec_outcome(const struct exec *x, const struct child *ch, struct notify_attempt *a)
{
	int st = ch->status;
	a->receiver = x->argv[0];
	a->latency_ms = ch->latency_ms;
	a->verdict = NOTIFY_TRANSIENT;
	if (ch->spawn_err) {
		bool lasting = ch->spawn_err == ENOENT || ch->spawn_err == EACCES ||
			       ch->spawn_err == ENOEXEC;
		a->verdict = lasting ? NOTIFY_PERMANENT : NOTIFY_TRANSIENT;
		snprintf(a->error, sizeof(a->error), "cannot run %s: %s", x->argv[0],
			 strerror(ch->spawn_err));
		return;
	}
	a->status_code = st < 0 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (ch->stopped)
		snprintf(a->error, sizeof(a->error), "interrupted: the notifier stopped");
	else if (ch->timed_out)
		snprintf(a->error, sizeof(a->error), "timed out after %lld ms; process group killed",
			 (long long)x->conf->timeout_ms);
	else if (a->status_code == 0)
		a->verdict = NOTIFY_DELIVERED;
	else
		snprintf(a->error, sizeof(a->error), "exit code %lld: %.*s", (long long)a->status_code,
			 (int)ch->out_len, ch->out);
}

static void exec_start_child(const struct exec *x, struct notify_item *it, struct child *ch)
{
	struct envv env = {0};
	*ch = (struct child){.item = it, .in_fd = -1, .out_fd = -1, .t0 = notify_mono_ms()};
	ch->input = json_dumps(it->alert, JSON_COMPACT);
	ch->in_len = ch->input ? strlen(ch->input) : 0;
	if (!ch->input || exec_env(x, it, &env))
		ch->spawn_err = ENOMEM;
	else
		ch->spawn_err = exec_spawn(x, ch, env.v);
	env_free(&env);
	ch->latency_ms = notify_mono_ms() - ch->t0;
}

static void exec_deliver(void *user, struct notify *n, struct notify_item *items, size_t k)
{
	struct exec *x = user;
	struct child ch[EXEC_MAX_CONCURRENCY];
	sigset_t pipe_set, old;
	struct timespec zero = {0, 0};
	if (!x->argv) {
		struct notify_attempt a = {.receiver = "(no command)", .verdict = NOTIFY_PERMANENT};
		snprintf(a.error, sizeof(a.error), "command is not set");
		notify_record(n, &a, items, k);
		return;
	}
	/* a command that exits without reading stdin must not kill us with SIGPIPE */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	k = k < EXEC_MAX_CONCURRENCY ? k : EXEC_MAX_CONCURRENCY;
	for (size_t i = 0; i < k; i++)
		exec_start_child(x, &items[i], &ch[i]);
	exec_wait(x, n, ch, k);
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (size_t i = 0; i < k; i++) {
		struct notify_attempt a = {.verdict = NOTIFY_NONE};
		exec_outcome(x, &ch[i], &a);
		notify_record(n, &a, ch[i].item, 1);
		free(ch[i].input);
	}
}

static int exec_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct exec_conf *c = conf;
	struct exec *x = calloc(1, sizeof(*x));
	if (!x)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	x->ctx = ctx;
	x->conf = c;
	if (c->command.n && (!c->command.v[0] || !*c->command.v[0])) {
		free(x);
		return bm_err_set(err, BM_EINVAL, "command: the program name is empty");
	}
	if (c->command.n && !(x->argv = calloc(c->command.n + 1, sizeof(*x->argv)))) {
		free(x);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	if (x->argv)
		memcpy(x->argv, c->command.v, c->command.n * sizeof(*x->argv));
	struct notify_params p = {.plugin = "exec", .deliver = exec_deliver, .user = x,
				  .max_batch = (size_t)c->concurrency};
	int rc = notify_new(ctx, &c->common, &p, &x->n, err);
	if (rc) {
		free(x->argv);
		free(x);
		return rc;
	}
	if (!x->argv)
		bm_log_warn(ctx, "command is not set: every alert will fail until it is");
	*state = x;
	return 0;
}

static int exec_start(void *state, struct bm_err *err)
{
	struct exec *x = state;
	return notify_start(x->n, err);
}

static void exec_stop(void *state)
{
	struct exec *x = state;
	notify_stop(x->n);
}

static void exec_fini(void *state)
{
	struct exec *x = state;
	notify_free(x->n);
	free(x->argv);
	free(x);
}

static const struct bm_plugin_ops exec_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = exec_init,
	.start = exec_start,
	.stop = exec_stop,
	.fini = exec_fini,
};

BM_PLUGIN_DEFINE(notifier, exec, BM_KIND_NOTIFIER,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "runs a command per alert: JSON on stdin, BEARMON_ALERT_* variables",
		 .origin = "bearmon plugins/notifier_exec",
		 .options = exec_options,
		 .config_size = sizeof(struct exec_conf),
		 .ops = &exec_ops);
