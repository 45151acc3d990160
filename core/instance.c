/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugin instance lifecycle: load and validate, init -> start -> stop ->
 * fini, with every failure disabling only this instance and each hook
 * timed against the plugin deadline.
 */
#define _GNU_SOURCE
#include "instance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "isolate.h"
#include "daemon.h"
#include "host_api.h"
#include "http.h"
#include "log.h"
#include "scheduler.h"
#include "staleness.h"

int ptrlist_add(struct ptrlist *l, void *p)
{
	void **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return BM_ENOMEM;
	v[l->n++] = p;
	l->v = v;
	return 0;
}

bool ptrlist_remove(struct ptrlist *l, void *p)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i] == p) {
			l->v[i] = l->v[--l->n];
			return true;
		}
	}
	return false;
}

const char *instance_state_name(enum instance_state st)
{
	static const char *const names[] = {
		[INST_LOADED] = "loaded",   [INST_RUNNING] = "running", [INST_STOPPED] = "stopped",
		[INST_FAILED] = "failed",   [INST_DISABLED] = "disabled",
		[INST_UNSUPPORTED] = "unsupported",
	};
	return names[st];
}

static void fail(struct bm_ctx *in, const char *msg)
{
	in->st = INST_FAILED;
	snprintf(in->error, sizeof(in->error), "%s", msg);
}

static char *dupf(const char *fmt, const char *a, const char *b, const char *c)
{
	char *out = NULL;
	if (asprintf(&out, fmt, a, b, c) < 0)
		return NULL;
	return out;
}

static int load_plugin(struct bm_ctx *in, const struct cfg_instance *ci, struct cfg_errs *errs)
{
	struct bm_err err = {0};
	/* A plugin that cannot be loaded disables its instance only. */
	if (loader_get(ci->kind, ci->plugin, &in->d->cfg->core.plugin_dirs, &in->plugin, &err)) {
		log_msg(in->prefix, BM_LOG_ERR, "%s", err.msg);
		fail(in, err.msg);
		return -1;
	}
	const struct bm_plugin_desc *desc = &in->plugin->desc;
	in->conf = calloc(1, desc->config_size ? desc->config_size : 1);
	if (!in->conf || cfg_fill_instance(ci, desc->options, in->conf, errs)) {
		fail(in, "invalid options (see the config check)");
		return -1;
	}
	return 0;
}

struct bm_ctx *instance_new(struct daemon *d, const struct cfg_instance *ci, struct cfg_errs *errs)
{
	struct bm_ctx *in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->d = d;
	in->name = strdup(ci->name);
	in->kind = strdup(ci->kind);
	in->plugin_name = strdup(ci->plugin);
	in->prefix = dupf("[%s:%s:%s]", ci->kind, ci->plugin, ci->name);
	in->fingerprint = strdup(ci->fingerprint ? ci->fingerprint : "");
	in->where = strdup(ci->where);
	in->data_dir = strdup(d->cfg->core.data_dir);
	in->interval_ms = ci->interval_ms;
	in->enabled = ci->enabled;
	in->publisher = BM_EINVAL;
	pthread_mutex_init(&in->res_lock, NULL);
	scheduler_init(in);
	if (!in->name || !in->kind || !in->plugin_name || !in->prefix || !in->fingerprint ||
	    !in->where || !in->data_dir) {
		instance_free(in);
		return NULL;
	}
	if (load_plugin(in, ci, errs))
		return in;
	in->ops = ci->isolate ? &isolate_ops : &in->plugin->ops;
	if (!ci->enabled)
		in->st = INST_DISABLED;
	in->publisher = bus_publisher(d->bus, in->name);
	return in;
}

/* Time a hook; warn when it overruns the deadline (it cannot be stopped
 * in-process; bearmonctl check-plugin runs hooks under a hard deadline). */
static void hook_timing(struct bm_ctx *in, const char *hook, int64_t t0)
{
	int64_t took = mono_ms() - t0;
	if (took > in->d->cfg->core.plugin_deadline_ms)
		log_msg(in->prefix, BM_LOG_WARN, "%s took %lld ms, longer than plugin_deadline (%lld ms)",
			hook, (long long)took, (long long)in->d->cfg->core.plugin_deadline_ms);
}

/* After a successful init: drop what the plugin registered, then fini. */
static void finish(struct bm_ctx *in)
{
	instance_release_resources(in);
	int64_t t0 = mono_ms();
	if (in->ops->fini)
		in->ops->fini(in->state);
	hook_timing(in, "fini", t0);
	in->state = NULL;
}

int instance_start(struct bm_ctx *in)
{
	if (in->st != INST_LOADED)
		return 0;
	struct bm_err err = {0};
	*in->plugin->desc.host_slot = host_api_table();
	int64_t t0 = mono_ms();
	int rc = in->ops->init(in, in->conf, &in->state, &err);
	hook_timing(in, "init", t0);
	if (rc == BM_ENOTSUP) {
		/* not an error: e.g. the GPU collector on a host without a GPU */
		log_msg(in->prefix, BM_LOG_NOTICE, "%s; instance off",
			err.msg[0] ? err.msg : "not supported on this host");
		instance_release_resources(in);
		in->st = INST_UNSUPPORTED;
		snprintf(in->error, sizeof(in->error), "%s", err.msg[0] ? err.msg : bm_strerror(rc));
		return 0;
	}
	if (rc) {
		log_msg(in->prefix, BM_LOG_ERR, "init failed: %s: %s", bm_strerror(rc),
			err.msg[0] ? err.msg : "(no detail)");
		instance_release_resources(in);
		fail(in, err.msg[0] ? err.msg : bm_strerror(rc));
		return rc;
	}
	in->st = INST_RUNNING;
	if (in->ops->start) {
		t0 = mono_ms();
		rc = in->ops->start(in->state, &err);
		hook_timing(in, "start", t0);
		if (rc) {
			log_msg(in->prefix, BM_LOG_ERR, "start failed: %s: %s", bm_strerror(rc),
				err.msg[0] ? err.msg : "(no detail)");
			finish(in);
			fail(in, err.msg[0] ? err.msg : bm_strerror(rc));
			return rc;
		}
	}
	in->started_ms = wall_ms();
	if (in->plugin->desc.kind == BM_KIND_COLLECTOR && scheduler_start(in)) {
		log_msg(in->prefix, BM_LOG_ERR, "cannot start the collection thread");
		instance_stop(in);
		fail(in, "cannot start the collection thread");
		return BM_EIO;
	}
	log_msg(in->prefix, BM_LOG_INFO, "started (%s %s)", in->plugin->path, in->plugin->desc.version);
	return 0;
}

/* A collection that never returned: its thread stays inside the plugin,
 * so the plugin is neither stopped nor finalised, and the instance is kept
 * allocated (instance_free leaves it) for that thread to return into. */
/* Abandoned instances stay reachable from here for as long as the process
 * lives: their threads may still return into them (and leak checkers see
 * them as kept, which they are). */
static struct bm_ctx *abandoned[64];
static size_t n_abandoned;

static void keep_abandoned(struct bm_ctx *in)
{
	in->wedged = true;
	if (n_abandoned < sizeof(abandoned) / sizeof(abandoned[0]))
		abandoned[n_abandoned++] = in;
}

static void abandon(struct bm_ctx *in)
{
	keep_abandoned(in);
	log_msg(in->prefix, BM_LOG_ERR,
		"collection still running at stop: abandoned without stop or fini "
		"(the plugin is wedged, e.g. on a hung filesystem)");
	fail(in, "wedged in collect: abandoned");
}

void instance_stop_collection(struct bm_ctx *in, int64_t deadline_mono_ms)
{
	if (!scheduler_stop(in, deadline_mono_ms))
		abandon(in);
}

void instance_watchdog(struct bm_ctx *in, int64_t limit_ms)
{
	if (in->st != INST_RUNNING || !scheduler_watchdog(in, limit_ms))
		return;
	log_msg(in->prefix, BM_LOG_ERR,
		"collection stuck for more than %lld ms (watchdog_timeout): instance failed, "
		"its series end", (long long)limit_ms);
	scheduler_mark_stale(in, wall_ms(), true);
	fail(in, "collection stuck past watchdog_timeout");
}

void instance_release_resources(struct bm_ctx *in)
{
	pthread_mutex_lock(&in->res_lock);
	struct ptrlist subs = in->subs, timers = in->timers, fdws = in->fdws;
	memset(&in->subs, 0, sizeof(in->subs));
	memset(&in->timers, 0, sizeof(in->timers));
	memset(&in->fdws, 0, sizeof(in->fdws));
	pthread_mutex_unlock(&in->res_lock);
	for (size_t i = 0; i < subs.n; i++)
		bus_unsubscribe(subs.v[i]);
	for (size_t i = 0; i < timers.n; i++)
		host_timer_free(timers.v[i]);
	for (size_t i = 0; i < fdws.n; i++)
		host_fdwatch_free(fdws.v[i]);
	free(subs.v);
	free(timers.v);
	free(fdws.v);
	if (in->d->http)
		http_remove_routes(in->d->http, in);
	pthread_mutex_lock(&in->res_lock);
	for (size_t i = 0; i < in->n_sms; i++) {
		free(in->sms[i].name);
		free(in->sms[i].help);
	}
	free(in->sms);
	in->sms = NULL;
	in->n_sms = 0;
	pthread_mutex_unlock(&in->res_lock);
}

/* A subscription callback of the instance that never returned. */
static bool callback_stuck(struct bm_ctx *in)
{
	bool stuck = false;
	pthread_mutex_lock(&in->res_lock);
	for (size_t i = 0; i < in->subs.n && !stuck; i++)
		stuck = bus_sub_stuck(in->subs.v[i]);
	pthread_mutex_unlock(&in->res_lock);
	return stuck;
}

void instance_stop(struct bm_ctx *in)
{
	/* running, or failed by the watchdog with its plugin still set up */
	bool stuck = in->sched.stuck && !in->wedged && in->state;
	if (in->st != INST_RUNNING && !stuck)
		return;
	instance_stop_collection(in, mono_ms() + in->d->cfg->core.shutdown_timeout_ms);
	if (!in->wedged && callback_stuck(in)) {
		keep_abandoned(in); /* its delivery thread is inside the plugin */
		log_msg(in->prefix, BM_LOG_ERR, "a callback still running at stop: abandoned "
						"without stop or fini");
		fail(in, "wedged in a callback: abandoned");
		instance_release_resources(in);
	}
	if (in->wedged)
		return;
	if (!stuck)
		scheduler_mark_stale(in, wall_ms(), true); /* its series end here */
	int64_t t0 = mono_ms();
	if (in->ops->stop)
		in->ops->stop(in->state);
	hook_timing(in, "stop", t0);
	finish(in);
	if (!stuck)
		in->st = INST_STOPPED;
	log_msg(in->prefix, BM_LOG_INFO, "stopped");
}

void instance_free(struct bm_ctx *in)
{
	if (!in)
		return;
	instance_stop(in);
	if (in->wedged)
		return; /* its abandoned thread may still return into it */
	scheduler_fini(in);
	stale_free(in->stale);
	if (in->conf && in->plugin)
		schema_release(in->plugin->desc.options, in->conf);
	free(in->conf);
	free(in->name);
	free(in->kind);
	free(in->plugin_name);
	free(in->prefix);
	free(in->fingerprint);
	free(in->where);
	free(in->data_dir);
	pthread_mutex_destroy(&in->res_lock);
	free(in);
}
