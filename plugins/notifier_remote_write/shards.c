/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dispatcher and the shards (see shards.h). Each shard is a thread with
 * a ring of items, a libcurl handle and an encoder; only the dispatcher
 * creates, drains and replaces shards, handing what a drained set held to
 * the next in order, so a series' samples never overtake each other.
 */
#define _GNU_SOURCE
#include "shards.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "response.h"
#include "sender.h"

#define STOP_GRACE_MS 1000
#define TICK_MS 1000
#define LOG_EVERY_MS 10000
#define RATE_WEIGHT 0.2     /* EWMA weight of the newest interval, as Prometheus */
#define SHARD_TOLERANCE 0.3 /* no reshard within 30% of the current count */

enum shard_mode { SH_RUN = 0, SH_DRAIN, SH_ABORT };

struct shard {
	struct rw_shards *owner;
	unsigned id;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* items, room, a mode change */
	struct rw_item *ring;
	size_t cap, head, n;
	int64_t oldest_ms; /* monotonic: when the oldest item in the ring came */
	int mode;          /* enum shard_mode; written under lock, read atomically */
	int abort;         /* mode == SH_ABORT, for the sender */
	struct rw_item *batch; /* taken from the ring, being sent */
	size_t batch_n;
	uint32_t failures; /* failed attempts in a row */
	struct rw_sender http;
	struct rw_encoder enc;
};

struct item_vec {
	struct rw_item *v;
	size_t n, cap;
};

struct rates_state {
	int64_t at_ms;
	uint64_t in, out, send_ns, retried, failed;
	bool primed;
	bool healthy; /* sent something, no failure, in the last interval */
	struct rw_rates r;
};

struct rw_shards {
	struct bm_ctx *ctx;
	const struct rw_conf *c;
	struct rw_queue *q;
	struct rw_stats *st;
	pthread_t dispatcher;
	bool running;
	pthread_mutex_t lock; /* shards, n_shards, stopping, aborting */
	struct shard **shards;
	size_t n_shards;
	bool stopping, aborting;
	uint64_t send_ns;     /* atomic: time spent in successful requests */
	int64_t last_log_ms;  /* atomic: rate limit of failure lines */
	/* the dispatcher's own */
	struct item_vec *staging; /* one per possible shard */
	int64_t next_tick_ms, next_update_ms;
	struct rates_state rs;
};

/* ---- small pieces ------------------------------------------------------ */

static int vec_push(struct item_vec *v, const struct rw_item *it, size_t n)
{
	if (v->n + n > v->cap) {
		size_t cap = v->cap ? v->cap : 1024;
		while (cap < v->n + n)
			cap *= 2;
		struct rw_item *nv = realloc(v->v, cap * sizeof(*nv));
		if (!nv)
			return BM_ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	memcpy(v->v + v->n, it, n * sizeof(*it));
	v->n += n;
	return 0;
}

/* Acknowledge (or drop) n items, one call per run of the same chunk. */
static void ack_runs(struct rw_queue *q, const struct rw_item *v, size_t n, bool drop)
{
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && v[j].chunk == v[i].chunk;)
			j++;
		(drop ? rwq_drop : rwq_ack)(q, v[i].chunk, j - i);
	}
}

static int cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca))
		return BM_ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
	return rc ? BM_ENOMEM : 0;
}

/* Wait on c until deadline (monotonic ms) at the latest. */
static void wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ms)
{
	struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
	pthread_cond_timedwait(c, m, &ts);
}

/* One line per LOG_EVERY_MS across all shards. */
static bool log_due(struct rw_shards *s)
{
	int64_t now = notify_mono_ms();
	int64_t last = __atomic_load_n(&s->last_log_ms, __ATOMIC_RELAXED);
	return (last == 0 || now - last >= LOG_EVERY_MS) &&
	       __atomic_compare_exchange_n(&s->last_log_ms, &last, now, false, __ATOMIC_RELAXED,
					   __ATOMIC_RELAXED);
}

/* ---- one shard ---------------------------------------------------------- */

static void shard_set_mode(struct shard *sh, enum shard_mode mode)
{
	pthread_mutex_lock(&sh->lock);
	if ((int)mode > sh->mode)
		__atomic_store_n(&sh->mode, (int)mode, __ATOMIC_RELEASE);
	if (mode == SH_ABORT)
		__atomic_store_n(&sh->abort, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
	if (mode == SH_ABORT)
		rw_sender_wake(&sh->http);
}

static int shard_mode(struct shard *sh)
{
	return __atomic_load_n(&sh->mode, __ATOMIC_ACQUIRE);
}

/* Sleep ms unless the mode changes: true when it did not. */
static bool shard_sleep(struct shard *sh, int64_t ms)
{
	int64_t until = notify_mono_ms() + ms;
	pthread_mutex_lock(&sh->lock);
	while (sh->mode == SH_RUN && notify_mono_ms() < until)
		wait_until(&sh->cond, &sh->lock, until);
	bool run = sh->mode == SH_RUN;
	pthread_mutex_unlock(&sh->lock);
	return run;
}

/* Wait for a batch (max_samples_per_send items, or the oldest item older
 * than batch_send_deadline) and move it to sh->batch: its size, 0 when
 * the mode says stop. */
static size_t shard_take(struct shard *sh, size_t max, int64_t deadline_ms)
{
	size_t k = 0;
	pthread_mutex_lock(&sh->lock);
	while (sh->mode == SH_RUN) {
		int64_t now = notify_mono_ms();
		if (sh->n >= max || (sh->n && now >= sh->oldest_ms + deadline_ms)) {
			k = sh->n < max ? sh->n : max;
			for (size_t i = 0; i < k; i++)
				sh->batch[i] = sh->ring[(sh->head + i) % sh->cap];
			sh->head = (sh->head + k) % sh->cap;
			sh->n -= k;
			sh->oldest_ms = now; /* close enough for the rest: they waited less */
			sh->batch_n = k;
			pthread_cond_broadcast(&sh->cond);
			break;
		}
		if (sh->n)
			wait_until(&sh->cond, &sh->lock, sh->oldest_ms + deadline_ms);
		else
			pthread_cond_wait(&sh->cond, &sh->lock);
	}
	pthread_mutex_unlock(&sh->lock);
	return k;
}

/* Copy up to n items into the ring: how many fit. */
static size_t shard_offer(struct shard *sh, const struct rw_item *v, size_t n)
{
	pthread_mutex_lock(&sh->lock);
	size_t m = sh->cap - sh->n < n ? sh->cap - sh->n : n;
	if (m && !sh->n)
		sh->oldest_ms = notify_mono_ms();
	for (size_t i = 0; i < m; i++)
		sh->ring[(sh->head + sh->n + i) % sh->cap] = v[i];
	sh->n += m;
	if (m)
		pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
	return m;
}

static void shard_wait_room(struct shard *sh, int64_t until_ms)
{
	pthread_mutex_lock(&sh->lock);
	if (sh->n == sh->cap && sh->mode == SH_RUN)
		wait_until(&sh->cond, &sh->lock, until_ms);
	pthread_mutex_unlock(&sh->lock);
}

static void sent_ok(struct shard *sh, size_t k, size_t len, int64_t max_ts, int64_t took_ms)
{
	struct rw_shards *s = sh->owner;
	RW_ADD(s->st, samples_sent, k);
	RW_ADD(s->st, bytes_sent, len);
	__atomic_add_fetch(&s->send_ns, (uint64_t)took_ms * 1000000, __ATOMIC_RELAXED);
	rw_gauge_max(&s->st->highest_sent_ts_s, (double)max_ts / 1000.0);
	if (sh->failures)
		bm_log_notice(s->ctx, "shard %u: the receiver accepts samples again after %u failed "
			      "attempts", sh->id, sh->failures);
	sh->failures = 0;
}

/* After a failed attempt: the wait before the next one. */
static int64_t retry_wait(struct shard *sh, size_t k, const struct rw_outcome *o)
{
	struct rw_shards *s = sh->owner;
	RW_ADD(s->st, samples_retried, k);
	sh->failures++;
	int64_t wait = o->retry_after_ms >= 0
			       ? o->retry_after_ms
			       : notify_backoff_ms(s->c->min_backoff_ms, s->c->max_backoff_ms,
						   sh->failures);
	if (log_due(s))
		bm_log_warn(s->ctx, "sending %zu samples failed (attempt %u): %s; retrying in %lld ms",
			    k, sh->failures, o->reason, (long long)wait);
	return wait;
}

/* Send the batch until it is accepted or refused for good: false when
 * the mode stopped it first (the batch is then still ours). */
static bool send_batch(struct shard *sh, size_t k)
{
	struct rw_shards *s = sh->owner;
	const char *body;
	size_t len;
	int64_t max_ts;
	while (rw_encode(&sh->enc, sh->batch, k, &body, &len, &max_ts)) {
		bm_log_err(s->ctx, "shard %u: out of memory encoding %zu samples", sh->id, k);
		if (!shard_sleep(sh, s->c->max_backoff_ms))
			return false;
	}
	while (shard_mode(sh) == SH_RUN) {
		struct rw_response resp;
		struct rw_outcome out;
		int64_t t0 = notify_mono_ms();
		if (!rw_sender_post(&sh->http, body, len, &sh->abort, &resp))
			return false;
		RW_ADD(s->st, requests, 1);
		rw_classify(&resp, s->c->retry_on_http_429, bm_now_ms(s->ctx), &out);
		if (out.verdict == RW_SENT) {
			sent_ok(sh, k, len, max_ts, notify_mono_ms() - t0);
			return true;
		}
		if (out.verdict == RW_FAIL) {
			RW_ADD(s->st, samples_failed, k);
			if (log_due(s))
				bm_log_err(s->ctx, "%zu samples refused by the receiver, not retried: %s",
					   k, out.reason);
			return true;
		}
		if (!shard_sleep(sh, retry_wait(sh, k, &out)))
			return false;
	}
	return false;
}

static void *shard_main(void *arg)
{
	struct shard *sh = arg;
	struct rw_shards *s = sh->owner;
	size_t max = (size_t)s->c->max_samples_per_send;
	size_t k;
	while ((k = shard_take(sh, max, s->c->batch_send_deadline_ms))) {
		if (!send_batch(sh, k))
			break; /* the batch stays in sh->batch: leftovers */
		ack_runs(s->q, sh->batch, k, false);
		sh->batch_n = 0;
	}
	return NULL;
}

static void shard_free(struct shard *sh)
{
	if (!sh)
		return;
	rw_sender_free(&sh->http);
	rw_encoder_free(&sh->enc);
	pthread_mutex_destroy(&sh->lock);
	pthread_cond_destroy(&sh->cond);
	free(sh->ring);
	free(sh->batch);
	free(sh);
}

static struct shard *shard_new(struct rw_shards *s, unsigned id, enum shard_mode mode)
{
	struct bm_err err = {0};
	struct shard *sh = calloc(1, sizeof(*sh));
	if (!sh)
		return NULL;
	sh->owner = s;
	sh->id = id;
	sh->mode = (int)mode;
	sh->abort = mode == SH_ABORT;
	sh->cap = (size_t)s->c->capacity;
	sh->ring = malloc(sh->cap * sizeof(*sh->ring));
	sh->batch = malloc((size_t)s->c->max_samples_per_send * sizeof(*sh->batch));
	bool ok = sh->ring && sh->batch && cond_init_mono(&sh->cond) == 0;
	if (ok && pthread_mutex_init(&sh->lock, NULL)) {
		pthread_cond_destroy(&sh->cond);
		ok = false;
	}
	if (!ok) {
		free(sh->ring);
		free(sh->batch);
		free(sh);
		return NULL;
	}
	if (rw_sender_init(&sh->http, s->c, &err)) {
		bm_log_err(s->ctx, "shard %u: %s", id, err.msg);
		shard_free(sh);
		return NULL;
	}
	char name[16];
	if (pthread_create(&sh->thread, NULL, shard_main, sh)) {
		shard_free(sh);
		return NULL;
	}
	snprintf(name, sizeof(name), "rw-shard-%u", id);
	pthread_setname_np(sh->thread, name);
	sh->started = true;
	return sh;
}

/* Join a shard and take what it held: its batch, then its ring. */
static void shard_finish(struct shard *sh, struct item_vec *left)
{
	pthread_join(sh->thread, NULL);
	if (left && sh->batch_n)
		vec_push(left, sh->batch, sh->batch_n);
	for (size_t i = 0; left && i < sh->n; i++)
		vec_push(left, &sh->ring[(sh->head + i) % sh->cap], 1);
	shard_free(sh);
}

/* ---- sizing ------------------------------------------------------------- */

static int clamp_shards(double want, int min, int max)
{
	if (!(want >= min)) /* NaN too */
		return min;
	return want > max ? max : (int)want;
}

int rw_desired_shards(const struct rw_rates *r, int current, int min, int max)
{
	if (r->out_per_s <= 0 || r->interval_s <= 0)
		return clamp_shards(current, min, max);
	double per_sample = r->send_s_per_s / r->out_per_s;
	double backlog = 1.5 * r->pending / r->interval_s;
	double want = ceil(per_sample * (r->in_per_s + backlog));
	if (want >= current * (1 - SHARD_TOLERANCE) && want <= current * (1 + SHARD_TOLERANCE))
		return clamp_shards(current, min, max);
	return clamp_shards(want, min, max);
}

static double ewma(double old, double now, bool primed)
{
	return primed ? RATE_WEIGHT * now + (1 - RATE_WEIGHT) * old : now;
}

static void update_rates(struct rw_shards *s, int64_t now_ms, double pending)
{
	struct rates_state *r = &s->rs;
	uint64_t in = __atomic_load_n(&s->st->samples_in, __ATOMIC_RELAXED);
	uint64_t out = __atomic_load_n(&s->st->samples_sent, __ATOMIC_RELAXED);
	uint64_t ns = __atomic_load_n(&s->send_ns, __ATOMIC_RELAXED);
	uint64_t retried = __atomic_load_n(&s->st->samples_retried, __ATOMIC_RELAXED);
	uint64_t failed = __atomic_load_n(&s->st->samples_failed, __ATOMIC_RELAXED);
	double dt = (double)(now_ms - r->at_ms) / 1000.0;
	if (r->at_ms && dt > 0) {
		r->r.in_per_s = ewma(r->r.in_per_s, (double)(in - r->in) / dt, r->primed);
		r->r.out_per_s = ewma(r->r.out_per_s, (double)(out - r->out) / dt, r->primed);
		r->r.send_s_per_s = ewma(r->r.send_s_per_s, (double)(ns - r->send_ns) / 1e9 / dt,
					 r->primed);
		r->primed = true;
		r->healthy = out > r->out && retried == r->retried && failed == r->failed;
	}
	r->r.pending = pending;
	r->r.interval_s = (double)s->c->shard_update_interval_ms / 1000.0;
	r->at_ms = now_ms;
	r->in = in;
	r->out = out;
	r->send_ns = ns;
	r->retried = retried;
	r->failed = failed;
}

/* ---- the dispatcher ----------------------------------------------------- */

static bool stopping(struct rw_shards *s)
{
	pthread_mutex_lock(&s->lock);
	bool v = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return v;
}

static enum shard_mode new_mode_locked(const struct rw_shards *s)
{
	return s->aborting ? SH_ABORT : s->stopping ? SH_DRAIN : SH_RUN;
}

/* A new set of n shards in place of the current one (which must be empty). */
static size_t shards_create(struct rw_shards *s, size_t n)
{
	struct shard **v = calloc(n, sizeof(*v));
	size_t made = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; v && i < n; i++) {
		v[made] = shard_new(s, (unsigned)made, new_mode_locked(s));
		made += v[made] != NULL;
	}
	s->shards = v;
	s->n_shards = made;
	pthread_mutex_unlock(&s->lock);
	rw_gauge_set(&s->st->shards, (double)made);
	return made;
}

/* Drain every shard and join it; what they held goes to left (may be NULL). */
static void shards_drain(struct rw_shards *s, struct item_vec *left)
{
	pthread_mutex_lock(&s->lock);
	struct shard **v = s->shards;
	size_t n = s->n_shards;
	for (size_t i = 0; i < n; i++)
		shard_set_mode(v[i], s->aborting ? SH_ABORT : SH_DRAIN);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++)
		shard_finish(v[i], left);
	pthread_mutex_lock(&s->lock);
	s->shards = NULL;
	s->n_shards = 0;
	pthread_mutex_unlock(&s->lock);
	free(v);
}

static void tick(struct rw_shards *s, bool may_reshard);

/* Hand the staged items to their shards, waiting for room; between waits
 * the periodic work goes on. Items left when stopping stay unacknowledged:
 * the queue sends them again after the next start. */
static void flush_staging(struct rw_shards *s)
{
	size_t n = s->n_shards;
	size_t *done = calloc(n ? n : 1, sizeof(*done));
	for (bool all = false; done && !all && !stopping(s);) {
		struct shard *full = NULL;
		all = true;
		for (size_t i = 0; i < n; i++) {
			struct item_vec *st = &s->staging[i];
			done[i] += shard_offer(s->shards[i], st->v + done[i], st->n - done[i]);
			if (done[i] < st->n && !full)
				full = s->shards[i];
			all &= done[i] == st->n;
		}
		if (full) {
			shard_wait_room(full, notify_mono_ms() + TICK_MS);
			tick(s, false);
		}
	}
	free(done);
	for (size_t i = 0; i < n; i++)
		s->staging[i].n = 0;
}

/* Stage items for the shards their series hash to; those older than
 * queue_max_age are dropped (counted) instead. */
static void distribute(struct rw_shards *s, const struct rw_item *v, size_t n)
{
	if (!s->n_shards)
		return;
	int64_t oldest = bm_now_ms(s->ctx) - s->c->queue_max_age_ms;
	struct rwq_chunk *run = NULL;
	uint64_t run_n = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].ts_ms >= oldest) {
			vec_push(&s->staging[v[i].series->hash % s->n_shards], &v[i], 1);
			continue;
		}
		if (run_n && v[i].chunk != run) {
			rwq_drop(s->q, run, run_n);
			run_n = 0;
		}
		run = v[i].chunk;
		run_n++;
	}
	if (run_n)
		rwq_drop(s->q, run, run_n);
	flush_staging(s);
}

static void reshard(struct rw_shards *s, int want)
{
	const struct rw_rates *r = &s->rs.r;
	bm_log_info(s->ctx, "resharding from %zu to %d shards (in %.0f/s, out %.0f/s, pending %.0f)",
		    s->n_shards, want, r->in_per_s, r->out_per_s, r->pending);
	struct item_vec left = {0};
	shards_drain(s, &left);
	if (!shards_create(s, (size_t)want) && !shards_create(s, 1))
		bm_log_err(s->ctx, "cannot start any shard: samples wait in the queue");
	RW_ADD(s->st, reshards, 1);
	distribute(s, left.v, left.n);
	free(left.v);
}

/* Once a second: queue maintenance and gauges; every
 * shard_update_interval (when allowed), the shard count. */
static void tick(struct rw_shards *s, bool may_reshard)
{
	int64_t now = notify_mono_ms();
	if (now < s->next_tick_ms)
		return;
	s->next_tick_ms = now + TICK_MS;
	uint64_t pending, bytes, segs;
	rwq_maintain(s->q, bm_now_ms(s->ctx));
	rwq_usage(s->q, &pending, &bytes, &segs);
	rw_gauge_set(&s->st->pending, (double)pending);
	rw_gauge_set(&s->st->queue_bytes, (double)bytes);
	rw_gauge_set(&s->st->queue_segments, (double)segs);
	if (!may_reshard || now < s->next_update_ms)
		return;
	s->next_update_ms = now + s->c->shard_update_interval_ms;
	update_rates(s, now, (double)pending);
	int cur = (int)s->n_shards;
	int want = rw_desired_shards(&s->rs.r, cur, (int)s->c->min_shards, (int)s->c->max_shards);
	rw_gauge_set(&s->st->shards_desired, (double)want);
	/* a failing receiver is not helped by more connections */
	if (want != cur && s->rs.healthy && !stopping(s))
		reshard(s, want);
}

static void *dispatch_main(void *arg)
{
	struct rw_shards *s = arg;
	size_t want = (size_t)s->c->max_samples_per_send > 4096 ? (size_t)s->c->max_samples_per_send
								 : 4096;
	int64_t now = notify_mono_ms();
	s->next_update_ms = now + s->c->shard_update_interval_ms;
	s->rs.at_ms = now;
	if (!shards_create(s, (size_t)s->c->min_shards))
		bm_log_err(s->ctx, "cannot start any shard: samples wait in the queue");
	while (!stopping(s)) {
		struct rw_item *items;
		size_t n = rwq_next(s->q, want, TICK_MS, &items);
		if (n)
			distribute(s, items, n);
		tick(s, true);
	}
	shards_drain(s, NULL);
	return NULL;
}

/* ---- lifecycle ------------------------------------------------------------ */

int rw_shards_new(struct bm_ctx *ctx, const struct rw_conf *c, struct rw_queue *q,
		  struct rw_stats *st, struct rw_shards **out, struct bm_err *err)
{
	*out = NULL;
	struct rw_shards *s = calloc(1, sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->c = c;
	s->q = q;
	s->st = st;
	s->staging = calloc((size_t)c->max_shards, sizeof(*s->staging));
	if (!s->staging || pthread_mutex_init(&s->lock, NULL)) {
		free(s->staging);
		free(s);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	rw_gauge_set(&st->shards_min, (double)c->min_shards);
	rw_gauge_set(&st->shards_max, (double)c->max_shards);
	rw_gauge_set(&st->shards_desired, (double)c->min_shards);
	*out = s;
	return 0;
}

int rw_shards_start(struct rw_shards *s, struct bm_err *err)
{
	s->stopping = s->aborting = false;
	if (pthread_create(&s->dispatcher, NULL, dispatch_main, s))
		return bm_err_set(err, BM_EIO, "cannot start the dispatcher thread");
	pthread_setname_np(s->dispatcher, "rw-dispatch");
	s->running = true;
	return 0;
}

static void set_all_modes(struct rw_shards *s, enum shard_mode mode)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	s->aborting |= mode == SH_ABORT;
	for (size_t i = 0; i < s->n_shards; i++)
		shard_set_mode(s->shards[i], mode);
	pthread_mutex_unlock(&s->lock);
	rwq_wake(s->q);
}

void rw_shards_stop(struct rw_shards *s)
{
	if (!s || !s->running)
		return;
	set_all_modes(s, SH_DRAIN);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_GRACE_MS / 1000;
	if (pthread_timedjoin_np(s->dispatcher, NULL, &until)) {
		set_all_modes(s, SH_ABORT);
		pthread_join(s->dispatcher, NULL);
	}
	s->running = false;
	rw_gauge_set(&s->st->shards, 0);
}

void rw_shards_free(struct rw_shards *s)
{
	if (!s)
		return;
	rw_shards_stop(s);
	for (int64_t i = 0; i < s->c->max_shards; i++)
		free(s->staging[i].v);
	free(s->staging);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
