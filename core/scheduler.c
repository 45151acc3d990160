/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collection scheduling (see scheduler.h). Ticks sit on the wall-clock
 * grid (multiples of the interval since the epoch) like Prometheus' scrape
 * offsets, so that series from different collectors line up.
 */
#define _GNU_SOURCE
#include "scheduler.h"

#include <pthread.h>
#include <stdio.h>

#include <event2/event.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "host_api.h"
#include "instance.h"
#include "log.h"
#include "staleness.h"

int64_t scheduler_next_tick(int64_t now_ms, int64_t interval_ms)
{
	return (now_ms / interval_ms + 1) * interval_ms;
}

void scheduler_init(struct bm_ctx *in)
{
	pthread_mutex_init(&in->sched.lock, NULL);
	pthread_cond_init(&in->sched.wake, NULL);
}

void scheduler_fini(struct bm_ctx *in)
{
	pthread_mutex_destroy(&in->sched.lock);
	pthread_cond_destroy(&in->sched.wake);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void scheduler_mark_stale(struct bm_ctx *in, int64_t ts, bool all)
{
	struct bm_batch b = {.ts_ms = ts};
	if (in->stale && stale_sweep(in->stale, &b, ts, all)) {
		struct bm_metric_batch mb;
		bm_batch_view(&b, &mb);
		host_api_table()->publish_metrics(in, &mb);
	}
	bm_batch_free(&b);
}

static void collect_once(struct bm_ctx *in, int64_t tick)
{
	struct bm_err err = {0};
	uint64_t cpu0 = thread_cpu_ns();
	int64_t t0 = mono_ms();
	__atomic_store_n(&in->tick_ms, tick, __ATOMIC_RELAXED);
	__atomic_store_n(&in->sched.collect_since_mono, t0, __ATOMIC_RELAXED);
	__atomic_store_n(&in->collecting, true, __ATOMIC_RELAXED);
	int rc = in->ops->collect(in->state, tick, &err);
	__atomic_store_n(&in->collecting, false, __ATOMIC_RELAXED);
	if (__atomic_load_n(&in->sched.stuck, __ATOMIC_RELAXED))
		; /* the watchdog ended every series of this instance */
	else if (rc)
		stale_discard(in->stale);
	else
		scheduler_mark_stale(in, tick, false);
	double took = (double)(mono_ms() - t0) / 1000.0;
	uint64_t cpu = thread_cpu_ns() - cpu0;
	if (rc)
		log_msg(in->prefix, BM_LOG_WARN, "collection failed: %s: %s", bm_strerror(rc),
			err.msg[0] ? err.msg : "(no detail)");
	pthread_mutex_lock(&in->sched.lock);
	in->sched.collections++;
	in->sched.failures += rc != 0;
	in->sched.last_ok = rc == 0;
	in->sched.last_duration_s = took;
	in->sched.cpu_ns += cpu;
	in->sched.busy = false;
	pthread_mutex_unlock(&in->sched.lock);
}

static void *collect_thread(void *arg)
{
	struct bm_ctx *in = arg;
	for (;;) {
		pthread_mutex_lock(&in->sched.lock);
		while (!in->sched.pending_tick && !in->sched.quit)
			pthread_cond_wait(&in->sched.wake, &in->sched.lock);
		if (in->sched.quit) {
			in->sched.exited = true;
			pthread_cond_broadcast(&in->sched.wake);
			pthread_mutex_unlock(&in->sched.lock);
			return NULL;
		}
		int64_t tick = in->sched.pending_tick;
		in->sched.pending_tick = 0;
		pthread_mutex_unlock(&in->sched.lock);
		collect_once(in, tick);
	}
}

/* Arm for the first tick after both now and done (the tick just handled):
 * a timer that fires a little early must not be armed again for the same
 * tick, which would find its own collection busy (a false overrun). */
static void arm(struct bm_ctx *in, int64_t done)
{
	int64_t now = wall_ms();
	int64_t delay = scheduler_next_tick(now > done ? now : done, in->interval_ms) - now;
	struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
	evtimer_add(in->sched.timer, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bm_ctx *in = arg;
	/* the tick this timer was armed for: round to the grid */
	int64_t tick = (wall_ms() + in->interval_ms / 2) / in->interval_ms * in->interval_ms;
	pthread_mutex_lock(&in->sched.lock);
	if (in->sched.busy) {
		in->sched.overruns++;
		if (!in->sched.overrun_logged)
			log_msg(in->prefix, BM_LOG_WARN,
				"collection overran its %lld ms interval; skipping ticks until it finishes (logged once)",
				(long long)in->interval_ms);
		in->sched.overrun_logged = true;
	} else {
		in->sched.busy = true;
		in->sched.pending_tick = tick;
		pthread_cond_signal(&in->sched.wake);
	}
	pthread_mutex_unlock(&in->sched.lock);
	arm(in, tick);
}

int scheduler_start(struct bm_ctx *in)
{
	in->sched.timer = evtimer_new(in->d->loop, on_tick, in);
	if (!in->stale)
		in->stale = stale_new();
	if (!in->sched.timer || !in->stale)
		return BM_ENOMEM;
	in->sched.quit = false;
	in->sched.exited = false;
	in->sched.stuck = false;
	if (pthread_create(&in->sched.thread, NULL, collect_thread, in) != 0) {
		event_free(in->sched.timer);
		in->sched.timer = NULL;
		return BM_EIO;
	}
	in->sched.thread_started = true;
	char name[16];
	snprintf(name, sizeof(name), "bm-col:%s", in->name);
	pthread_setname_np(in->sched.thread, name);
	arm(in, 0);
	return 0;
}

static void stop_ticks(struct bm_ctx *in)
{
	if (in->sched.timer) {
		event_free(in->sched.timer);
		in->sched.timer = NULL;
	}
}

bool scheduler_stop(struct bm_ctx *in, int64_t deadline_mono_ms)
{
	stop_ticks(in);
	if (!in->sched.thread_started)
		return true;
	pthread_mutex_lock(&in->sched.lock);
	in->sched.quit = true;
	pthread_cond_broadcast(&in->sched.wake);
	while (!in->sched.exited) {
		int64_t left = deadline_mono_ms - mono_ms();
		if (left <= 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&in->sched.wake, &in->sched.lock, &ts);
	}
	bool exited = in->sched.exited;
	pthread_mutex_unlock(&in->sched.lock);
	if (exited)
		pthread_join(in->sched.thread, NULL);
	else
		pthread_detach(in->sched.thread); /* wedged in collect: abandoned */
	in->sched.thread_started = false;
	return exited;
}

bool scheduler_watchdog(struct bm_ctx *in, int64_t limit_ms)
{
	if (!in->sched.thread_started || in->sched.stuck ||
	    !__atomic_load_n(&in->collecting, __ATOMIC_RELAXED))
		return false;
	int64_t since = __atomic_load_n(&in->sched.collect_since_mono, __ATOMIC_RELAXED);
	if (mono_ms() - since <= limit_ms)
		return false;
	__atomic_store_n(&in->sched.stuck, true, __ATOMIC_RELAXED);
	stop_ticks(in);
	return true;
}
