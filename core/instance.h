/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A plugin instance: one config block's copy of a plugin, with its state,
 * its registered resources (subscriptions, timers, fd watches, routes,
 * self-metrics) and its lifecycle. struct bm_ctx is the SDK's bm_ctx.
 */
#ifndef BEARMON_CORE_INSTANCE_H
#define BEARMON_CORE_INSTANCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "plugin_loader.h"

struct daemon;

enum instance_state {
	INST_LOADED = 0,
	INST_RUNNING,
	INST_STOPPED,
	INST_FAILED,
	INST_DISABLED,
	INST_UNSUPPORTED, /* init said BM_ENOTSUP: nothing for it on this host */
};

struct ptrlist {
	void **v;
	size_t n;
};
int ptrlist_add(struct ptrlist *l, void *p);
bool ptrlist_remove(struct ptrlist *l, void *p);

struct self_metric {
	char *name;
	char *help;
	bool is_counter;
	const void *value; /* uint64_t * or double * */
};

struct collector_sched {
	struct event *timer;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool thread_started;
	bool busy;
	bool quit;
	int64_t pending_tick; /* 0 = nothing to do */
	bool overrun_logged;
	bool exited;                 /* the collection thread has returned */
	bool stuck;                  /* the watchdog gave up on it */
	int64_t collect_since_mono;  /* start of the collection in progress */
	/* stats, read by selfmetrics under lock */
	uint64_t collections;
	uint64_t failures;
	uint64_t overruns;
	double last_duration_s;
	bool last_ok;
	uint64_t cpu_ns; /* collection thread CPU time (integer: exact sums) */
};

struct bm_ctx {
	struct daemon *d;
	struct plugin *plugin; /* NULL when the plugin could not be loaded */
	/* the hooks called: the plugin's own, or isolate_ops (isolate = true) */
	const struct bm_plugin_ops *ops;
	char *name;
	char *kind;
	char *plugin_name;
	char *prefix; /* "[collector:cpu:cpu_main]" */
	char *fingerprint;
	char *where;
	char *data_dir; /* copied: a reload frees the config it came from */
	int64_t interval_ms;
	bool enabled;
	void *conf;
	void *state;
	int publisher;
	enum instance_state st;
	char error[300];
	int64_t started_ms;
	int64_t tick_ms; /* collection tick in progress (publish_metrics default ts) */
	bool collecting;          /* collect() runs now: its publications count */
	struct stale_set *stale;  /* series of the last collections (collectors) */

	pthread_mutex_t res_lock; /* resources below */
	struct ptrlist subs;   /* struct bm_sub * */
	struct ptrlist timers; /* struct bm_timer * */
	struct ptrlist fdws;   /* struct bm_fdwatch * */
	struct self_metric *sms;
	size_t n_sms;

	struct collector_sched sched;
	/* a collection never returned: the plugin's thread is abandoned inside
	 * it, so the instance (its state, its config) must stay allocated */
	bool wedged;
};

/* Create from a config block; loads the plugin and validates options.
 * Problems go to errs; the instance is returned in state FAILED or
 * DISABLED so that status can show it. */
struct bm_ctx *instance_new(struct daemon *d, const struct cfg_instance *ci, struct cfg_errs *errs);
/* init + start (+ collection schedule). Failure = FAILED, logged. */
int instance_start(struct bm_ctx *in);
/* Stop collection only (first step of shutdown), waiting for a collection
 * in progress until deadline_mono_ms at the latest. */
void instance_stop_collection(struct bm_ctx *in, int64_t deadline_mono_ms);
/* The watchdog (main thread, every second): an instance whose collection
 * has run past limit_ms is failed, its series end, and it is logged. */
void instance_watchdog(struct bm_ctx *in, int64_t limit_ms);
/* stop + release resources + fini. */
void instance_stop(struct bm_ctx *in);
void instance_free(struct bm_ctx *in);

const char *instance_state_name(enum instance_state st);

/* Remove what the plugin registered (after stop). */
void instance_release_resources(struct bm_ctx *in);

#endif
