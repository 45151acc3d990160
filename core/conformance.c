/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugin conformance check (see conformance.h). The descriptor and option
 * checks run here; every hook runs in a forked child that reports one line
 * per step over a pipe, so a crash or a hang costs the child, not us.
 */
#define _GNU_SOURCE
#include "conformance.h"
#include "table.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bearmon/bm_event.h"
#include "bus.h"
#include "config.h"
#include "daemon.h"
#include "host_api.h"
#include "http.h"
#include "instance.h"
#include "log.h"

#if defined(__SANITIZE_ADDRESS__)
/* From libasan (sanitizer/allocator_interface.h, which GCC does not
 * install). ASan replaces malloc, so glibc's own counters would stay flat. */
size_t __sanitizer_get_current_allocated_bytes(void);
static int64_t heap_in_use(void)
{
	return (int64_t)__sanitizer_get_current_allocated_bytes();
}
#else
static int64_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return (int64_t)mi.uordblks;
}
#endif

#define TEST_INSTANCE  "conftest"
#define UNKNOWN_OPTION "no_such_option_xyz"
#define DRAIN_MS       2000

static const char *const check_names[CONF_N_CHECKS] = {
	[CONF_DESCRIPTOR] = "descriptor",
	[CONF_LIFECYCLE] = "lifecycle",
	[CONF_LEAKS] = "leaks",
	[CONF_UNKNOWN_OPTION] = "unknown option",
};

const char *conformance_check_name(enum conformance_check_id id)
{
	return check_names[id];
}

__attribute__((format(printf, 3, 4))) static void
verdict(struct conformance_report *r, enum conformance_check_id id, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->checks[id].detail, sizeof(r->checks[id].detail), fmt, ap);
	va_end(ap);
}

static void pass(struct conformance_report *r, enum conformance_check_id id)
{
	r->checks[id].result = CONF_PASS;
}

static void fail(struct conformance_report *r, enum conformance_check_id id)
{
	r->checks[id].result = CONF_FAIL;
}

static double since_ms(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static const char *first_fatal(const struct cfg_errs *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		if (errs->lines[i][0] != '~')
			return errs->lines[i];
	return NULL;
}

/* --- the scratch directory: test config and data_dir ------------------ */

struct scratch {
	char dir[PATH_MAX - 16]; /* room for the names below it */
	char conf[PATH_MAX];	 /* the test instance */
	char unknown[PATH_MAX];	 /* the same with an option the plugin lacks */
	char data[PATH_MAX];
	char **sets; /* "conftest.OPTION=VALUE" */
	size_t n_sets;
};

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* plugin_dirs is the plugin's own directory, so the instance block loads
 * it by KIND/NAME exactly as the daemon would. */
static int write_config(const struct scratch *s, const struct plugin *p, const char *path,
			const char *extra)
{
	char real[PATH_MAX];
	if (!realpath(p->path, real))
		return BM_EIO;
	char *slash = strrchr(real, '/');
	if (slash)
		*slash = '\0';
	FILE *f = fopen(path, "w");
	if (!f)
		return BM_EIO;
	fputs("# written by bearmonctl check-plugin\nplugin_dirs = [", f);
	put_string(f, real);
	fputs("];\ndata_dir = ", f);
	put_string(f, s->data);
	fprintf(f, ";\n%s = {\n\tplugin = \"%s/%s\";\n%s};\n", TEST_INSTANCE, p->kind, p->name,
		extra);
	return fclose(f) ? BM_EIO : 0;
}

static int scratch_open(struct scratch *s, const struct conformance_opts *o, const struct plugin *p)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(s->dir, sizeof(s->dir), "%s/bearmonctl-check-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(s->dir)) {
		s->dir[0] = '\0';
		return BM_EIO;
	}
	snprintf(s->conf, sizeof(s->conf), "%s/check.conf", s->dir);
	snprintf(s->unknown, sizeof(s->unknown), "%s/unknown.conf", s->dir);
	snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
	if (mkdir(s->data, 0700))
		return BM_EIO;
	s->sets = calloc(o->n_sets + 1, sizeof(*s->sets));
	if (!s->sets)
		return BM_ENOMEM;
	for (size_t i = 0; i < o->n_sets; i++)
		if (asprintf(&s->sets[s->n_sets++], "%s.%s", TEST_INSTANCE, o->sets[i]) < 0)
			return BM_ENOMEM;
	int rc = write_config(s, p, s->conf, "");
	return rc ? rc : write_config(s, p, s->unknown, "\t" UNKNOWN_OPTION " = 1;\n");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void scratch_close(struct scratch *s)
{
	/* the plugin may have written below data_dir: remove the whole tree */
	if (s->dir[0])
		nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < s->n_sets && s->sets; i++)
		free(s->sets[i]);
	free(s->sets);
}

/* --- checks run in this process --------------------------------------- */

static void check_descriptor(const struct conformance_opts *o, struct conformance_report *r)
{
	struct bm_err err = {0};
	if (loader_open(o->path, NULL, &r->plugin, &err)) {
		r->plugin = NULL;
		fail(r, CONF_DESCRIPTOR);
		verdict(r, CONF_DESCRIPTOR, "%s", err.msg);
		return;
	}
	const struct bm_plugin_desc *d = &r->plugin->desc;
	size_t n_opts = 0;
	for (const struct bm_option *opt = d->options; opt && opt->name; opt++)
		n_opts++;
	pass(r, CONF_DESCRIPTOR);
	verdict(r, CONF_DESCRIPTOR, "%s/%s %s (ABI %u.%u, %s), %zu option%s", r->plugin->kind,
		r->plugin->name, d->version, d->abi_major, d->abi_minor, d->license, n_opts,
		n_opts == 1 ? "" : "s");
}

/* A typo in a config block must be an error, not silently ignored. */
static void check_unknown_option(const struct scratch *s, struct conformance_report *r)
{
	struct cfg_errs errs = {0};
	const struct plugin *p = r->plugin;
	struct cfg *cfg = cfg_load(s->unknown, s->sets, s->n_sets, &errs);
	const struct cfg_instance *ci = cfg ? cfg_find_instance(cfg, TEST_INSTANCE) : NULL;
	void *conf = calloc(1, p->desc.config_size ? p->desc.config_size : 1);
	if (ci && conf) {
		cfg_fill_instance(ci, p->desc.options, conf, &errs);
		schema_release(p->desc.options, conf);
	}
	free(conf);
	const char *hit = NULL;
	for (size_t i = 0; i < errs.n && !hit; i++)
		if (errs.lines[i][0] != '~' && strstr(errs.lines[i], UNKNOWN_OPTION))
			hit = errs.lines[i];
	/* the scratch file is gone by the time anyone reads this: drop its
	 * "FILE:LINE: " */
	size_t plen = strlen(s->unknown);
	if (hit && strncmp(hit, s->unknown, plen) == 0 && hit[plen] == ':' &&
	    strstr(hit + plen + 1, ": "))
		hit = strstr(hit + plen + 1, ": ") + 2;
	if (hit) {
		pass(r, CONF_UNKNOWN_OPTION);
		verdict(r, CONF_UNKNOWN_OPTION, "rejected: %s", hit);
	} else {
		fail(r, CONF_UNKNOWN_OPTION);
		verdict(r, CONF_UNKNOWN_OPTION, "option \"%s\" was accepted%s%s", UNKNOWN_OPTION,
			first_fatal(&errs) ? "; other errors: " : "",
			first_fatal(&errs) ? first_fatal(&errs) : "");
	}
	cfg_errs_free(&errs);
	cfg_free(cfg);
}

/* --- the child: a minimal host running the hooks ---------------------- */

struct harness {
	struct daemon d;
	struct bm_sub *counter;
	uint64_t metric_events; /* written by the counter's delivery thread */
	int fd;			/* report pipe */
	int cycle;
	struct timespec t0;
};

__attribute__((format(printf, 2, 3))) static void say(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	for (char *c = line; c < line + n - 1; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	for (ssize_t off = 0, w; off < n; off += w) {
		w = write(fd, line + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			w = 0;
		else if (w <= 0)
			return;
	}
}

/* Announced before the call: when the child hangs or dies, the parent
 * knows which hook it was in. */
static void step_begin(struct harness *h, const char *hook)
{
	say(h->fd, "begin %d %s\n", h->cycle, hook);
	clock_gettime(CLOCK_MONOTONIC, &h->t0);
}

/* who: 'p' the plugin returned rc, 'h' the host judged the step. */
static int step_end(struct harness *h, const char *hook, double ms, int rc, char who,
		    const char *msg)
{
	say(h->fd, "end %d %s %d %.3f %c %s\n", h->cycle, hook, rc, ms, who,
	    msg && *msg ? msg : "-");
	return rc;
}

static void count_metric(void *user, const char *topic, const void *body, size_t len)
{
	(void)topic;
	(void)body;
	(void)len;
	struct harness *h = user;
	__atomic_add_fetch(&h->metric_events, 1, __ATOMIC_RELAXED);
}

static int host_setup(struct harness *h, const struct scratch *s, const struct cfg_instance **ci)
{
	struct cfg_errs errs = {0};
	struct bm_err herr = {0};
	struct bm_sub_opts so = {.size = sizeof(so), .topic = BM_TOPIC_METRIC};
	const char *why = NULL;
	step_begin(h, "setup");
	evthread_use_pthreads();
	h->d.loop = event_base_new();
	h->d.bus = h->d.loop ? bus_new(h->d.loop) : NULL;
	h->d.started_ms = wall_ms();
	h->d.cfg = cfg_load(s->conf, s->sets, s->n_sets, &errs);
	if (!h->d.bus)
		why = "cannot create the event loop and bus";
	else if (!h->d.cfg || first_fatal(&errs))
		why = first_fatal(&errs) ? first_fatal(&errs) : "cannot read the test config";
	else if (!(*ci = cfg_find_instance(h->d.cfg, TEST_INSTANCE)))
		why = "the test config has no instance " TEST_INSTANCE;
	else if (bus_subscribe(h->d.bus, "bearmonctl", &so, count_metric, h, &h->counter))
		why = "cannot subscribe to the metric topic";
	/* a listener on an ephemeral loopback port, so that plugins register
	 * their routes as in the daemon (none is requested) */
	else if (!(h->d.http = http_new(h->d.loop,
					&(struct http_conf){.listen = "127.0.0.1:0", .max_body = 1 << 20,
							    .timeout_ms = 30000,
							    .request_timeout_ms = 10000},
					&herr)))
		why = herr.msg;
	else
		h->d.core_publisher = bus_publisher(h->d.bus, "bearmonctl");
	int rc = step_end(h, "setup", since_ms(&h->t0), why ? BM_EINVAL : 0, 'h', why);
	cfg_errs_free(&errs);
	return rc;
}

static void host_teardown(struct harness *h)
{
	http_free(h->d.http);
	if (h->counter)
		bus_unsubscribe(h->counter);
	if (h->d.bus)
		bus_free(h->d.bus);
	if (h->d.loop)
		event_base_free(h->d.loop);
	cfg_free(h->d.cfg);
}

/* As instance_start does it, but one hook at a time so that each gets
 * its own result, duration and deadline. */
static int call_init(struct harness *h, struct bm_ctx *in)
{
	struct bm_err err = {0};
	*in->plugin->desc.host_slot = host_api_table();
	step_begin(h, "init");
	int rc = in->plugin->ops.init(in, in->conf, &in->state, &err);
	step_end(h, "init", since_ms(&h->t0), rc, 'p', err.msg);
	if (rc)
		instance_release_resources(in);
	else
		in->st = INST_RUNNING;
	return rc;
}

static int call_start(struct harness *h, struct bm_ctx *in)
{
	struct bm_err err = {0};
	int rc = 0;
	step_begin(h, "start");
	if (in->plugin->ops.start)
		rc = in->plugin->ops.start(in->state, &err);
	return step_end(h, "start", since_ms(&h->t0), rc, 'p', err.msg);
}

/* A collection must return 0 and put at least one event on "metric". */
static int call_collect(struct harness *h, struct bm_ctx *in)
{
	struct bm_err err = {0};
	int64_t step = in->interval_ms > 0 ? in->interval_ms : 1000;
	int64_t tick = wall_ms() / step * step;
	uint64_t before = __atomic_load_n(&h->metric_events, __ATOMIC_RELAXED);
	__atomic_store_n(&in->tick_ms, tick, __ATOMIC_RELAXED);
	step_begin(h, "collect");
	int rc = in->plugin->ops.collect(in->state, tick, &err);
	double ms = since_ms(&h->t0);
	__atomic_store_n(&in->tick_ms, 0, __ATOMIC_RELAXED);
	if (rc)
		return step_end(h, "collect", ms, rc, 'p', err.msg);
	bus_drain(h->d.bus, DRAIN_MS);
	if (__atomic_load_n(&h->metric_events, __ATOMIC_RELAXED) == before)
		return step_end(h, "collect", ms, BM_ENOENT, 'h',
				"returned 0 but published no event on topic \"metric\"");
	return step_end(h, "collect", ms, 0, 'p', NULL);
}

static void call_stop(struct harness *h, struct bm_ctx *in)
{
	step_begin(h, "stop");
	if (in->plugin->ops.stop)
		in->plugin->ops.stop(in->state);
	step_end(h, "stop", since_ms(&h->t0), 0, 'p', NULL);
}

/* Resources first, as the daemon's finish() does: fini may free what a
 * subscription callback still uses. */
static void call_fini(struct harness *h, struct bm_ctx *in)
{
	instance_release_resources(in);
	step_begin(h, "fini");
	if (in->plugin->ops.fini)
		in->plugin->ops.fini(in->state);
	step_end(h, "fini", since_ms(&h->t0), 0, 'p', NULL);
	in->state = NULL;
}

/* One cycle on a fresh instance from the config block, as a reload
 * rebuilds it: the plugin code stays loaded, its state must not. */
static int run_cycle(struct harness *h, const struct cfg_instance *ci)
{
	struct cfg_errs errs = {0};
	struct bm_ctx *in = instance_new(&h->d, ci, &errs);
	int rc = 0;
	if (!in || in->st != INST_LOADED) {
		const char *why = first_fatal(&errs);
		if (!why)
			why = in && in->error[0] ? in->error : "cannot create the instance";
		rc = step_end(h, "setup", 0, BM_EINVAL, 'h', why);
		goto out;
	}
	rc = call_init(h, in);
	if (rc)
		goto out;
	rc = call_start(h, in);
	bool started = rc == 0;
	for (int i = 0; !rc && i < 2 && in->plugin->desc.kind == BM_KIND_COLLECTOR; i++)
		rc = call_collect(h, in);
	if (started)
		call_stop(h, in);
	call_fini(h, in);
out:
	if (in)
		in->st = INST_STOPPED; /* hooks are done: instance_free must not run stop */
	instance_free(in);
	cfg_errs_free(&errs);
	bus_drain(h->d.bus, DRAIN_MS);
	if (!rc)
		say(h->fd, "heap %d %lld\n", h->cycle, (long long)heap_in_use());
	return rc;
}

static void child_main(int fd, const struct scratch *s)
{
	struct harness h = {.fd = fd};
	const struct cfg_instance *ci = NULL;
	/* die with the parent; keep plugin output off our stdout (--json) */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	dup2(STDERR_FILENO, STDOUT_FILENO);
	log_setup(BM_LOG_WARN, LOG_TO_STDERR, 5, 60);
	int rc = host_setup(&h, s, &ci);
	for (h.cycle = 1; !rc && h.cycle <= 2; h.cycle++)
		rc = run_cycle(&h, ci);
	host_teardown(&h);
	if (!rc)
		say(fd, "done\n");
	/* _exit: no atexit handlers, no flushing of the parent's stdio copies */
	_exit(rc ? 1 : 0);
}

/* --- the parent: deadlines and the child's report --------------------- */

struct watch {
	char buf[4096];
	size_t len;
	int cycle;     /* of the hook in progress */
	char hook[16]; /* "" between hooks */
	bool done;
	bool heap_ok[3];
	int64_t heap[3];
};

static void parse_end(struct watch *w, const char *line, struct conformance_report *r)
{
	struct conformance_step st = {0};
	char who = 'p';
	int off = 0;
	if (sscanf(line, "end %d %15s %d %lf %c %n", &st.cycle, st.hook, &st.rc, &st.ms, &who,
		   &off) < 5 ||
	    r->n_steps >= CONFORMANCE_MAX_STEPS)
		return;
	snprintf(st.msg, sizeof(st.msg), "%s", strcmp(line + off, "-") ? line + off : "");
	st.host = who == 'h';
	r->steps[r->n_steps++] = st;
	w->hook[0] = '\0';
}

static void parse_line(struct watch *w, char *line, struct conformance_report *r)
{
	int cycle = 0;
	long long v = 0;
	char hook[16];
	if (sscanf(line, "begin %d %15s", &cycle, hook) == 2) {
		w->cycle = cycle;
		snprintf(w->hook, sizeof(w->hook), "%s", hook);
	} else if (strncmp(line, "end ", 4) == 0) {
		parse_end(w, line, r);
	} else if (sscanf(line, "heap %d %lld", &cycle, &v) == 2 && cycle >= 1 && cycle <= 2) {
		w->heap[cycle] = v;
		w->heap_ok[cycle] = true;
	} else if (strcmp(line, "done") == 0) {
		w->done = true;
	}
}

/* Split what arrived into lines; a line too long for the buffer is cut. */
static void take_lines(struct watch *w, struct conformance_report *r)
{
	char *start = w->buf;
	char *nl;
	while ((nl = memchr(start, '\n', w->len - (size_t)(start - w->buf)))) {
		*nl = '\0';
		parse_line(w, start, r);
		start = nl + 1;
	}
	w->len -= (size_t)(start - w->buf);
	memmove(w->buf, start, w->len);
	if (w->len == sizeof(w->buf) - 1) {
		w->buf[w->len] = '\0';
		parse_line(w, w->buf, r);
		w->len = 0;
	}
}

/* Read the child's lines until EOF; each line must come within
 * deadline_ms of the previous one. Returns false when it had to be killed. */
static bool watch_child(pid_t pid, int fd, int64_t deadline_ms, struct watch *w,
			struct conformance_report *r)
{
	int64_t until = mono_ms() + deadline_ms;
	for (;;) {
		int64_t left = until - mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			kill(pid, SIGKILL);
			return false;
		}
		ssize_t got = read(fd, w->buf + w->len, sizeof(w->buf) - 1 - w->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return true;
		w->len += (size_t)got;
		take_lines(w, r);
		until = mono_ms() + deadline_ms;
	}
}

static const struct conformance_step *first_failed(const struct conformance_report *r)
{
	for (size_t i = 0; i < r->n_steps; i++)
		if (r->steps[i].rc)
			return &r->steps[i];
	return NULL;
}

/* Where the child was: in a hook, or in host code after the last one. */
static void where_text(const struct watch *w, const struct conformance_report *r, char *buf,
		       size_t n)
{
	const struct conformance_step *last = r->n_steps ? &r->steps[r->n_steps - 1] : NULL;
	if (w->hook[0] && strcmp(w->hook, "setup") != 0)
		snprintf(buf, n, "%s (cycle %d)", w->hook, w->cycle);
	else if (!w->hook[0] && last && last->cycle)
		snprintf(buf, n, "host code after %s (cycle %d)", last->hook, last->cycle);
	else
		snprintf(buf, n, "the host setup");
}

/* The hook the child never finished gets a row of its own. */
static void add_lost_step(const struct watch *w, bool finished, int status, int64_t deadline_ms,
			  struct conformance_report *r)
{
	if (!w->hook[0] || r->n_steps >= CONFORMANCE_MAX_STEPS ||
	    (finished && !WIFSIGNALED(status)))
		return;
	struct conformance_step *st = &r->steps[r->n_steps++];
	memset(st, 0, sizeof(*st));
	st->cycle = w->cycle;
	snprintf(st->hook, sizeof(st->hook), "%s", w->hook);
	st->host = true;
	if (!finished) {
		st->rc = BM_ETIMEDOUT;
		st->ms = (double)deadline_ms;
		snprintf(st->msg, sizeof(st->msg), "deadline overrun; child killed");
	} else {
		st->rc = BM_EIO;
		snprintf(st->msg, sizeof(st->msg), "child died of SIG%s",
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
	}
}

static void judge_lifecycle(const struct watch *w, bool finished, int status, int64_t deadline_ms,
			    struct conformance_report *r)
{
	const struct conformance_step *bad = first_failed(r);
	char where[64];
	where_text(w, r, where, sizeof(where));
	fail(r, CONF_LIFECYCLE);
	if (!finished)
		verdict(r, CONF_LIFECYCLE,
			"deadline overrun: %s did not return within %lld ms; child killed", where,
			(long long)deadline_ms);
	else if (WIFSIGNALED(status))
		verdict(r, CONF_LIFECYCLE, "child died of SIG%s (%s) in %s",
			sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
			strsignal(WTERMSIG(status)), where);
	else if (bad && !bad->host && bad->rc == BM_ENOTSUP && strcmp(bad->hook, "init") == 0) {
		/* the plugin says this host lacks what it needs (no GPU, say):
		 * nothing to run, which is not a failure */
		r->checks[CONF_LIFECYCLE].result = CONF_SKIP;
		verdict(r, CONF_LIFECYCLE, "init returned ENOTSUP (cycle %d): %s", bad->cycle,
			bad->msg[0] ? bad->msg : "(no detail)");
	} else if (bad && bad->host && bad->cycle)
		verdict(r, CONF_LIFECYCLE, "%s (cycle %d): %s", bad->hook, bad->cycle, bad->msg);
	else if (bad && bad->host)
		verdict(r, CONF_LIFECYCLE, "%s: %s", bad->hook, bad->msg);
	else if (bad)
		verdict(r, CONF_LIFECYCLE, "%s returned %s (cycle %d): %s", bad->hook,
			bm_err_name(bad->rc), bad->cycle, bad->msg[0] ? bad->msg : "(no detail)");
	else if (!w->done)
		verdict(r, CONF_LIFECYCLE, "child exited with status %d in %s",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1, where);
	else
		pass(r, CONF_LIFECYCLE);
	if (r->checks[CONF_LIFECYCLE].result == CONF_PASS)
		verdict(r, CONF_LIFECYCLE, "init, start, %sstop, fini: two cycles",
			r->plugin->desc.kind == BM_KIND_COLLECTOR ? "collect x2, " : "");
}

static void judge_leaks(const struct watch *w, struct conformance_report *r)
{
	if (!w->heap_ok[1] || !w->heap_ok[2]) {
		verdict(r, CONF_LEAKS, "not measured: the lifecycle did not complete two cycles");
		return;
	}
	r->heap_measured = true;
	r->heap_growth = w->heap[2] - w->heap[1];
	if (r->heap_growth > CONFORMANCE_HEAP_LIMIT)
		fail(r, CONF_LEAKS);
	else
		pass(r, CONF_LEAKS);
	verdict(r, CONF_LEAKS, "heap in use grew by %lld bytes from cycle 1 to cycle 2 (limit %d)",
		(long long)r->heap_growth, CONFORMANCE_HEAP_LIMIT);
}

static int check_lifecycle(const struct conformance_opts *o, const struct scratch *s,
			   struct conformance_report *r)
{
	int64_t deadline = o->deadline_ms > 0 ? o->deadline_ms : CONFORMANCE_DEADLINE_MS;
	struct watch w = {0};
	int fds[2];
	if (pipe2(fds, O_CLOEXEC))
		return BM_EIO;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return BM_EIO;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], s);
	}
	close(fds[1]);
	bool finished = watch_child(pid, fds[0], deadline, &w, r);
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	judge_lifecycle(&w, finished, status, deadline, r);
	add_lost_step(&w, finished, status, deadline, r);
	judge_leaks(&w, r);
	return 0;
}

int conformance_run(const struct conformance_opts *o, struct conformance_report *r)
{
	struct scratch s = {0};
	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s", o->path);
	for (int i = 0; i < CONF_N_CHECKS; i++)
		verdict(r, (enum conformance_check_id)i, "the descriptor was refused");
	check_descriptor(o, r);
	if (!r->plugin)
		return 0;
	int rc = scratch_open(&s, o, r->plugin);
	if (!rc)
		rc = check_lifecycle(o, &s, r);
	if (!rc)
		check_unknown_option(&s, r);
	scratch_close(&s);
	return rc;
}

size_t conformance_not_passed(const struct conformance_report *r)
{
	size_t n = 0;
	for (int i = 0; i < CONF_N_CHECKS; i++)
		n += r->checks[i].result == CONF_FAIL;
	return n;
}

/* --- output -------------------------------------------------------------- */

static void print_descriptor(FILE *f, const struct plugin *p)
{
	struct table t = {.ncols = 4};
	fprintf(f, "    %s\n    %s\n", p->desc.description, p->path);
	if (!p->desc.options || !p->desc.options->name)
		return;
	table_cell(&t, "OPTION");
	table_cell(&t, "TYPE");
	table_cell(&t, "DEFAULT");
	table_cell(&t, "HELP");
	table_add_options(&t, p->desc.options, "");
	table_print(f, &t, "    ");
}

static const char *step_result(const struct conformance_step *st)
{
	if (st->rc == 0)
		return "ok";
	if (!st->host)
		return bm_err_name(st->rc);
	if (st->rc == BM_ETIMEDOUT)
		return "hung";
	return st->rc == BM_EIO && strncmp(st->msg, "child died", 10) == 0 ? "crashed" : "failed";
}

static void print_steps(FILE *f, const struct conformance_report *r)
{
	struct table t = {.ncols = 4};
	if (!r->n_steps)
		return;
	table_cell(&t, "CYCLE");
	table_cell(&t, "HOOK");
	table_cell(&t, "RESULT");
	table_cell(&t, "TIME");
	for (size_t i = 0; i < r->n_steps; i++) {
		const struct conformance_step *st = &r->steps[i];
		table_cell(&t, "%s", st->cycle == 1 ? "1" : st->cycle == 2 ? "2" : "-");
		table_cell(&t, "%s", st->hook);
		table_cell(&t, "%s", step_result(st));
		table_cell(&t, "%s%.3f ms", st->rc == BM_ETIMEDOUT && st->host ? ">" : "", st->ms);
	}
	table_print(f, &t, "    ");
}

void conformance_print(FILE *f, const struct conformance_report *r)
{
	static const char *const word[] = {
		[CONF_SKIP] = "SKIP", [CONF_PASS] = "PASS", [CONF_FAIL] = "FAIL"};
	size_t count[3] = {0};
	for (int i = 0; i < CONF_N_CHECKS; i++) {
		const struct conformance_check *c = &r->checks[i];
		count[c->result]++;
		fprintf(f, "%s %s: %s\n", word[c->result], check_names[i], c->detail);
		if (i == CONF_DESCRIPTOR && r->plugin)
			print_descriptor(f, r->plugin);
		if (i == CONF_LIFECYCLE)
			print_steps(f, r);
	}
	fprintf(f, "%zu passed, %zu failed", count[CONF_PASS], count[CONF_FAIL]);
	if (count[CONF_SKIP])
		fprintf(f, ", %zu skipped", count[CONF_SKIP]);
	fputc('\n', f);
}

static json_t *options_json(const struct bm_option *opts)
{
	json_t *a = json_array();
	for (const struct bm_option *o = opts; o && o->name; o++) {
		json_t *j = json_pack("{s:s, s:s, s:s?, s:s?, s:b}", "name", o->name, "type",
				      schema_type_name(o->type), "default", o->def, "help", o->help,
				      "required", (o->flags & BM_OPTF_REQUIRED) != 0);
		if (j && o->sub && (o->type == BM_OPT_GROUP || o->type == BM_OPT_GROUP_LIST))
			json_object_set_new(j, "options", options_json(o->sub));
		json_array_append_new(a, j);
	}
	return a;
}

static json_t *plugin_json(const struct plugin *p)
{
	if (!p)
		return json_null();
	const struct bm_plugin_desc *d = &p->desc;
	char abi[16];
	snprintf(abi, sizeof(abi), "%u.%u", d->abi_major, d->abi_minor);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:o}", "name", p->name, "kind",
			 p->kind, "version", d->version, "license", d->license, "description",
			 d->description, "origin", d->origin, "abi", abi, "file", p->path,
			 "options", options_json(d->options));
}

json_t *conformance_json(const struct conformance_report *r)
{
	static const char *const word[] = {
		[CONF_SKIP] = "skip", [CONF_PASS] = "pass", [CONF_FAIL] = "fail"};
	static const char *const key[CONF_N_CHECKS] = {
		[CONF_DESCRIPTOR] = "descriptor",
		[CONF_LIFECYCLE] = "lifecycle",
		[CONF_LEAKS] = "leaks",
		[CONF_UNKNOWN_OPTION] = "unknown_option",
	};
	json_t *checks = json_array();
	json_t *steps = json_array();
	for (int i = 0; i < CONF_N_CHECKS; i++)
		json_array_append_new(checks, json_pack("{s:s, s:s, s:s}", "check", key[i],
							"result", word[r->checks[i].result],
							"detail", r->checks[i].detail));
	for (size_t i = 0; i < r->n_steps; i++) {
		const struct conformance_step *st = &r->steps[i];
		json_array_append_new(steps,
				      json_pack("{s:i, s:s, s:b, s:s?, s:f, s:s?}", "cycle",
						st->cycle, "hook", st->hook, "ok", st->rc == 0,
						"code", st->rc ? bm_err_name(st->rc) : NULL, "ms",
						st->ms, "error", st->msg[0] ? st->msg : NULL));
	}
	json_t *j = json_pack("{s:s, s:b, s:o, s:o, s:o}", "file", r->path, "ok",
			      conformance_not_passed(r) == 0, "checks", checks, "plugin",
			      plugin_json(r->plugin), "steps", steps);
	json_object_set_new(j, "heap_growth_bytes",
			    r->heap_measured ? json_integer((json_int_t)r->heap_growth)
					     : json_null());
	return j;
}
