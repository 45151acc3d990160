/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's life: start from a config, reload on SIGHUP (changed
 * instances restart, unchanged ones keep running, a bad config is
 * rejected), and stop on SIGTERM/SIGINT (collectors first, then drain the
 * bus, then everything else).
 */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "http.h"
#include "instance.h"
#include "log.h"
#include "notify_systemd.h"
#include "plugin_loader.h"
#include "privdrop.h"
#include "selfmetrics.h"
#include "status.h"
#include "store_api.h"

int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write every collected line; returns the number of fatal ones. */
static size_t report(const struct cfg_errs *errs, FILE *out)
{
	for (size_t i = 0; i < errs->n; i++) {
		const char *l = errs->lines[i];
		bool warning = l[0] == '~';
		if (out)
			fprintf(out, "%s%s\n", warning ? "warning: " : "", warning ? l + 1 : l);
		else
			log_msg("[config]", warning ? BM_LOG_WARN : BM_LOG_ERR, "%s", warning ? l + 1 : l);
	}
	return cfg_errs_fatal(errs);
}

size_t daemon_check_config(const char *path, char *const *overrides, size_t n, FILE *out)
{
	struct cfg_errs errs = {0};
	struct cfg *cfg = cfg_load(path, overrides, n, &errs);
	for (size_t i = 0; cfg && i < cfg->n_inst; i++) {
		const struct cfg_instance *ci = &cfg->inst[i];
		struct plugin *p;
		struct bm_err err = {0};
		if (loader_get(ci->kind, ci->plugin, &cfg->core.plugin_dirs, &p, &err)) {
			cfg_errs_add(&errs, false, "%s: instance \"%s\": %s", ci->where, ci->name, err.msg);
			continue;
		}
		void *conf = calloc(1, p->desc.config_size ? p->desc.config_size : 1);
		if (conf) {
			cfg_fill_instance(ci, p->desc.options, conf, &errs);
			schema_release(p->desc.options, conf);
			free(conf);
		}
	}
	size_t fatal = report(&errs, out);
	if (!cfg && !fatal)
		fatal = 1;
	cfg_errs_free(&errs);
	cfg_free(cfg);
	return fatal;
}

static void apply_logging(const struct core_conf *c)
{
	log_setup(c->logging.level + BM_LOG_ERR, c->logging.target ? LOG_TO_SYSLOG : LOG_TO_STDERR,
		  (int)c->logging.ratelimit_burst, (int)(c->logging.ratelimit_interval_ms / 1000));
}

static int make_dirs(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0750) && errno != EEXIST ? -1 : 0;
}

/* Instances for every block of cfg; reuse: running instances of the old
 * set whose block is unchanged are moved over instead of rebuilt. */
static int build_instances(struct daemon *d, struct cfg *cfg, struct bm_ctx **old, size_t n_old,
			   struct bm_ctx ***out, size_t *n_out, struct cfg_errs *errs)
{
	struct bm_ctx **v = calloc(cfg->n_inst ? cfg->n_inst : 1, sizeof(*v));
	if (!v)
		return BM_ENOMEM;
	for (size_t i = 0; i < cfg->n_inst; i++) {
		const struct cfg_instance *ci = &cfg->inst[i];
		for (size_t k = 0; k < n_old; k++) {
			struct bm_ctx *o = old[k];
			if (o && o->st == INST_RUNNING && strcmp(o->name, ci->name) == 0 &&
			    strcmp(o->fingerprint, ci->fingerprint) == 0) {
				v[i] = o;
				old[k] = NULL; /* moved */
				break;
			}
		}
		if (!v[i])
			v[i] = instance_new(d, ci, errs);
		if (!v[i]) {
			cfg_errs_add(errs, false, "%s: instance \"%s\": out of memory", ci->where, ci->name);
			break;
		}
	}
	*out = v;
	*n_out = cfg->n_inst;
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct daemon *d = arg;
	if (sig == SIGHUP) {
		LOG_NOTICE("SIGHUP: reloading %s", d->config_path);
		daemon_reload(d);
		return;
	}
	LOG_NOTICE("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(d->loop);
}

static void report_stuck_sub(void *u, const char *owner, int64_t running_ms)
{
	(void)u;
	LOG_ERR("bus: a callback of %s has run for %lld ms: its subscription now drops its "
		"oldest events instead of holding publishers", owner, (long long)running_ms);
}

/* The wall clock against the monotonic one, once a second: a jump (NTP
 * step, a VM resumed, an operator) is logged with what it means for the
 * data. Timers run on the monotonic clock and are not disturbed; sample
 * timestamps follow the wall clock. */
#define CLOCK_JUMP_MS 1000

static void check_clock(struct daemon *d)
{
	int64_t w = wall_ms(), m = mono_ms();
	int64_t skew = (w - d->clock_wall_ms) - (m - d->clock_mono_ms);
	bool first = d->clock_mono_ms == 0;
	d->clock_wall_ms = w;
	d->clock_mono_ms = m;
	if (first || (skew < CLOCK_JUMP_MS && skew > -CLOCK_JUMP_MS))
		return;
	d->clock_jumps++;
	if (skew > 0)
		LOG_WARN("wall clock jumped forwards by %lld ms: series have a gap there",
			 (long long)skew);
	else
		LOG_WARN("wall clock jumped backwards by %lld ms: samples stamped before the newest "
			 "stored ones are dropped as out of order (counted in "
			 "bearmon_store_out_of_order_samples_total) until the clock catches up",
			 (long long)-skew);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct daemon *d = arg;
	check_clock(d);
	for (size_t i = 0; i < d->n_inst; i++)
		instance_watchdog(d->inst[i], d->cfg->core.watchdog_timeout_ms);
	bus_watchdog(d->bus, d->cfg->core.watchdog_timeout_ms, report_stuck_sub, d);
}

static int setup_loop(struct daemon *d)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	evthread_use_pthreads();
	d->loop = event_base_new();
	if (!d->loop)
		return BM_ENOMEM;
	d->bus = bus_new(d->loop);
	if (!d->bus)
		return BM_ENOMEM;
	d->core_publisher = bus_publisher(d->bus, "bearmond");
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < 3; i++) {
		d->sig_ev[i] = evsignal_new(d->loop, sigs[i], on_signal, d);
		if (!d->sig_ev[i] || event_add(d->sig_ev[i], NULL))
			return BM_EIO;
	}
	struct timeval second = {1, 0};
	d->watchdog = event_new(d->loop, -1, EV_PERSIST, on_watchdog, d);
	if (!d->watchdog || event_add(d->watchdog, &second))
		return BM_EIO;
	return 0;
}

static int setup_http(struct daemon *d)
{
	const struct core_conf *c = &d->cfg->core;
	if (!c->http.listen || !*c->http.listen)
		return 0;
	struct bm_err err = {0};
	struct http_conf hc = {.listen = c->http.listen, .max_body = c->http.max_body,
			       .timeout_ms = c->http.timeout_ms,
			       .request_timeout_ms = c->http.request_timeout_ms,
			       .read_token_file = c->http.read_token_file,
			       .admin_token_file = c->http.admin_token_file,
			       .tls_cert = c->http.tls_cert, .tls_key = c->http.tls_key,
			       .rate_limit = c->http.rate_limit, .rate_burst = c->http.rate_burst};
	d->http = http_new(d->loop, &hc, &err);
	if (!d->http) {
		LOG_ERR("%s", err.msg);
		return err.code;
	}
	return status_routes(d);
}

/* A daemon serving thousands of agents, scrape targets and HTTP clients
 * needs more than the usual soft limit of 1024 descriptors: take the hard
 * limit, as nginx and Prometheus do. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		LOG_INFO("open file limit raised from %llu to %llu", (unsigned long long)was,
			 (unsigned long long)rl.rlim_max);
}

/* READY=1 for the service manager, with the instance count as status. */
static void notify_running(const struct daemon *d)
{
	size_t running = 0;
	for (size_t i = 0; i < d->n_inst; i++)
		running += d->inst[i]->st == INST_RUNNING;
	char status[128];
	snprintf(status, sizeof(status), "%zu of %zu instances running", running, d->n_inst);
	notify_ready(status);
}

/* Listeners bound, store open, plugins loaded: become the configured user
 * with the capabilities the enabled instances' plugins declare, before
 * any of them starts. */
static int drop_root(struct daemon *d)
{
	const char *user = d->cfg->core.user;
	uint64_t keep = 0;
	if (!user || !*user || geteuid() != 0)
		return 0;
	for (size_t i = 0; i < d->n_inst; i++)
		if (d->inst[i]->enabled && d->inst[i]->plugin)
			keep |= d->inst[i]->plugin->desc.capabilities;
	struct bm_err err = {0};
	if (privdrop(user, d->cfg->core.data_dir, keep, &err)) {
		LOG_ERR("user %s: %s", user, err.msg);
		return -1;
	}
	char names[512];
	privdrop_names(keep, names, sizeof(names));
	LOG_NOTICE("running as %s with capabilities: %s", user, names);
	return 0;
}

int daemon_start(struct daemon *d, const char *path, char *const *overrides, size_t n)
{
	struct cfg_errs errs = {0};
	d->config_path = strdup(path);
	d->overrides = overrides;
	d->n_overrides = n;
	d->started_ms = wall_ms();
	d->cfg = cfg_load(path, overrides, n, &errs);
	if (d->cfg)
		apply_logging(&d->cfg->core);
	int rc = 1;
	if (report(&errs, NULL) || !d->cfg)
		goto out;
	cfg_errs_free(&errs);
	if (make_dirs(d->cfg->core.data_dir)) {
		LOG_ERR("data_dir %s: cannot create: %s", d->cfg->core.data_dir, strerror(errno));
		goto out;
	}
	if (access(d->cfg->core.data_dir, W_OK) != 0) {
		LOG_ERR("data_dir %s is not writable (%s): the store, queues and state live there",
			d->cfg->core.data_dir, errno == EROFS ? "read-only file system" : strerror(errno));
		goto out;
	}
	raise_fd_limit();
	if (loader_init() || setup_loop(d) || setup_http(d) || store_attach(d))
		goto out;
	if (build_instances(d, d->cfg, NULL, 0, &d->inst, &d->n_inst, &errs) || report(&errs, NULL))
		goto out; /* bad options: refuse to start */
	if (drop_root(d))
		goto out;
	size_t running = 0;
	for (size_t i = 0; i < d->n_inst; i++)
		running += instance_start(d->inst[i]) == 0 && d->inst[i]->st == INST_RUNNING;
	d->sm = selfmetrics_start(d);
	LOG_NOTICE("bearmond %s started: %zu of %zu instances running, http %s, data %s", BM_VERSION,
		   running, d->n_inst, d->http ? d->cfg->core.http.listen : "off", d->cfg->core.data_dir);
	notify_running(d);
	d->sd_watchdog = notify_watchdog_start(d->loop);
	rc = 0;
out:
	cfg_errs_free(&errs);
	return rc;
}

int daemon_run(struct daemon *d)
{
	return event_base_dispatch(d->loop) < 0 ? 1 : 0;
}

int daemon_reload(struct daemon *d)
{
	notify_reloading();
	struct cfg_errs errs = {0};
	struct cfg *cfg = cfg_load(d->config_path, d->overrides, d->n_overrides, &errs);
	struct bm_ctx **next = NULL;
	size_t n_next = 0;
	if (!cfg || report(&errs, NULL))
		goto reject;
	cfg_errs_free(&errs);
	/* validate new blocks against their plugins before touching anything;
	 * pool is the old set, with the instances moved to next NULLed */
	struct cfg *old_cfg = d->cfg;
	struct bm_ctx **pool = calloc(d->n_inst ? d->n_inst : 1, sizeof(*pool));
	if (!pool)
		goto reject;
	memcpy(pool, d->inst, d->n_inst * sizeof(*pool));
	d->cfg = cfg; /* new instances read core options from here */
	if (build_instances(d, cfg, pool, d->n_inst, &next, &n_next, &errs) || report(&errs, NULL)) {
		for (size_t i = 0; i < n_next; i++) {
			bool moved = false;
			for (size_t k = 0; k < d->n_inst; k++)
				moved |= next[i] == d->inst[k];
			if (!moved)
				instance_free(next[i]);
		}
		free(next);
		free(pool);
		d->cfg = old_cfg;
		goto reject;
	}
	size_t kept = 0, started = 0, stopped = 0;
	for (size_t k = 0; k < d->n_inst; k++) {
		if (pool[k]) {
			stopped += pool[k]->st == INST_RUNNING;
			instance_free(pool[k]);
		}
	}
	free(pool);
	for (size_t i = 0; i < n_next; i++) {
		if (next[i]->st == INST_RUNNING) {
			kept++;
			continue;
		}
		if (next[i]->st == INST_LOADED && instance_start(next[i]) == 0)
			started++;
	}
	free(d->inst);
	d->inst = next;
	d->n_inst = n_next;
	apply_logging(&cfg->core);
	if (strcmp(old_cfg->core.http.listen ? old_cfg->core.http.listen : "",
		   cfg->core.http.listen ? cfg->core.http.listen : "") != 0)
		LOG_WARN("http.listen changed: takes effect at the next restart");
	cfg_free(old_cfg);
	d->reloads_ok++;
	LOG_NOTICE("config reloaded: %zu unchanged, %zu stopped, %zu started", kept, stopped, started);
	notify_running(d);
	return 0;
reject:
	report(&errs, NULL);
	cfg_errs_free(&errs);
	cfg_free(cfg);
	d->reloads_failed++;
	LOG_ERR("config reload rejected: the running config stays in force");
	notify_running(d);
	return -1;
}

void daemon_stop(struct daemon *d)
{
	int64_t t0 = mono_ms();
	notify_stopping();
	/* one deadline for every collection still running: a wedged plugin
	 * must not hold shutdown past shutdown_timeout */
	int64_t deadline = t0 + (d->cfg ? d->cfg->core.shutdown_timeout_ms : 4000) / 2;
	for (size_t i = 0; i < d->n_inst; i++)
		instance_stop_collection(d->inst[i], deadline);
	if (d->bus && !bus_drain(d->bus, d->cfg ? d->cfg->core.shutdown_timeout_ms : 4000)) {
		LOG_WARN("shutdown: bus not drained within shutdown_timeout; pending events dropped");
		/* callbacks still running now are not waited for any longer */
		bus_watchdog(d->bus, 0, report_stuck_sub, d);
	}
	/* consumers first, then collectors (each in reverse config order): a
	 * daemon that stops is not the end of its series, so analyzers, the
	 * alert engine and remote write do not see the stale markers stopping
	 * collectors leave in the store (a restart must not resolve alerts;
	 * Prometheus writes no stale markers at shutdown either) */
	for (int collectors = 0; collectors < 2; collectors++) {
		for (size_t i = d->n_inst; i-- > 0;) {
			if (d->inst[i] && (strcmp(d->inst[i]->kind, "collector") == 0) == collectors) {
				instance_free(d->inst[i]);
				d->inst[i] = NULL;
			}
		}
	}
	free(d->inst);
	/* plugins may publish while they stop: let the store have it */
	if (d->bus)
		bus_drain(d->bus, 1000);
	store_detach(d);
	d->inst = NULL;
	d->n_inst = 0;
	selfmetrics_stop(d->sm);
	http_free(d->http);
	for (size_t i = 0; i < 4; i++)
		if (d->sig_ev[i])
			event_free(d->sig_ev[i]);
	if (d->watchdog)
		event_free(d->watchdog);
	if (d->sd_watchdog)
		event_free(d->sd_watchdog);
	bus_free(d->bus);
	if (d->loop)
		event_base_free(d->loop);
	if (d->cfg)
		LOG_NOTICE("bearmond stopped in %lld ms", (long long)(mono_ms() - t0));
	cfg_free(d->cfg);
	loader_exit();
	free(d->config_path);
	libevent_global_shutdown();
}
