/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event bus (see bus.h for the threading model). Topics are interned in
 * a fixed table that readers scan without locks; the subscription lists
 * hang off the topics and change under a read-write lock that publishers
 * take for reading.
 */
#define _GNU_SOURCE
#include "bus.h"
#include "bearmon/bm_event.h"

#include <errno.h>
#include <stdio.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define BUS_MAX_TOPICS 256
#define BUS_MAX_PUBLISHERS 1024
#define BUS_DEFAULT_QUEUE 4096
#define BUS_DEFAULT_BLOCK_MS 1000
#define BUS_DELIVERY_BATCH 64

struct bus_msg {
	atomic_int refs;
	int publisher;
	const char *topic; /* interned; lives as long as the bus */
	size_t len;
	char body[];
};

struct sub_list {
	struct bm_sub **v;
	size_t n;
};

struct topic {
	char *name;
	atomic_uint_fast64_t published;
	struct sub_list subs; /* guarded by bus->lock */
	bool is_metric;       /* not delivered to BM_TOPIC_EVENTS subscriptions */
};

struct publisher {
	char *name;
	atomic_uint_fast64_t published;
	atomic_uint_fast64_t lost;
};

struct bus {
	struct event_base *loop;
	pthread_rwlock_t lock;    /* subscription lists */
	pthread_mutex_t reg_lock; /* topic and publisher registration */
	struct topic *topics[BUS_MAX_TOPICS];
	atomic_size_t n_topics;
	struct publisher *pubs[BUS_MAX_PUBLISHERS];
	atomic_int n_pubs;
	struct sub_list wildcard; /* "*" subscriptions, guarded by lock */
	struct sub_list events;   /* BM_TOPIC_EVENTS ("*-metric") subscriptions */
	struct sub_list all;      /* every subscription, guarded by lock */
};

struct bm_sub {
	struct bus *bus;
	char *owner;
	char *topic;
	enum bm_sub_policy policy;
	uint32_t cap;
	int64_t block_timeout_ms;
	bool on_loop;
	bm_event_cb cb;
	void *user;
	void *tag;

	pthread_mutex_t lock;
	pthread_cond_t nonempty;
	pthread_cond_t nonfull;
	pthread_cond_t idle;
	struct bus_msg **ring;
	uint32_t head;
	uint32_t count;
	bool closing;
	bool busy;      /* a callback is running */
	bool scheduled; /* on_loop: the loop event is active */
	uint32_t *pub_queued; /* block policy: queued events per publisher */
	uint32_t n_active;    /* publishers with pub_queued > 0 */

	pthread_t thread;
	struct event *ev;
	bool exited;                  /* the delivery thread returned */
	atomic_int_fast64_t cb_since; /* mono ms a callback started; 0 = none runs */
	atomic_bool stuck;            /* the watchdog gave up on its callback */

	atomic_uint_fast64_t delivered;
	atomic_uint_fast64_t dropped;
	atomic_uint_fast64_t timeouts;
};

static void msg_unref(struct bus_msg *m)
{
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		free(m);
}

static int list_add(struct sub_list *l, struct bm_sub *s)
{
	struct bm_sub **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return BM_ENOMEM;
	v[l->n++] = s;
	l->v = v;
	return 0;
}

static void list_remove(struct sub_list *l, struct bm_sub *s)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i] == s) {
			memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
			l->n--;
			return;
		}
	}
}

struct bus *bus_new(struct event_base *loop)
{
	struct bus *bus = calloc(1, sizeof(*bus));
	if (!bus)
		return NULL;
	bus->loop = loop;
	pthread_rwlock_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->reg_lock, NULL);
	return bus;
}

void bus_free(struct bus *bus)
{
	if (!bus)
		return;
	for (size_t i = 0; i < atomic_load(&bus->n_topics); i++) {
		free(bus->topics[i]->subs.v);
		free(bus->topics[i]->name);
		free(bus->topics[i]);
	}
	for (int i = 0; i < atomic_load(&bus->n_pubs); i++) {
		free(bus->pubs[i]->name);
		free(bus->pubs[i]);
	}
	free(bus->wildcard.v);
	free(bus->events.v);
	free(bus->all.v);
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->reg_lock);
	free(bus);
}

/* Lock-free lookup: entries are published with a release store of n_topics
 * after they are complete and never move. */
static struct topic *topic_find(struct bus *bus, const char *name)
{
	size_t n = atomic_load_explicit(&bus->n_topics, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (strcmp(bus->topics[i]->name, name) == 0)
			return bus->topics[i];
	return NULL;
}

static struct topic *topic_intern(struct bus *bus, const char *name)
{
	struct topic *t = topic_find(bus, name);
	if (t)
		return t;
	pthread_mutex_lock(&bus->reg_lock);
	t = topic_find(bus, name);
	size_t n = atomic_load(&bus->n_topics);
	if (!t && n < BUS_MAX_TOPICS && (t = calloc(1, sizeof(*t)))) {
		t->name = strdup(name);
		t->is_metric = strcmp(name, BM_TOPIC_METRIC) == 0;
		if (!t->name) {
			free(t);
			t = NULL;
		} else {
			bus->topics[n] = t;
			atomic_store_explicit(&bus->n_topics, n + 1, memory_order_release);
		}
	}
	pthread_mutex_unlock(&bus->reg_lock);
	return t;
}

int bus_publisher(struct bus *bus, const char *name)
{
	int id = BM_ERANGE;
	pthread_mutex_lock(&bus->reg_lock);
	int n = atomic_load(&bus->n_pubs);
	for (int i = 0; i < n; i++) {
		if (strcmp(bus->pubs[i]->name, name) == 0) {
			id = i;
			goto out;
		}
	}
	if (n < BUS_MAX_PUBLISHERS) {
		struct publisher *p = calloc(1, sizeof(*p));
		if (!p || !(p->name = strdup(name))) {
			free(p);
			id = BM_ENOMEM;
			goto out;
		}
		bus->pubs[n] = p;
		atomic_store(&bus->n_pubs, n + 1);
		id = n;
	}
out:
	pthread_mutex_unlock(&bus->reg_lock);
	return id;
}

static struct timespec deadline_after(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Caller holds s->lock and has checked there is room. */
static void ring_push(struct bm_sub *s, struct bus_msg *m)
{
	s->ring[(s->head + s->count) % s->cap] = m;
	s->count++;
	if (s->pub_queued && s->pub_queued[m->publisher]++ == 0)
		s->n_active++;
}

static struct bus_msg *ring_pop(struct bm_sub *s)
{
	struct bus_msg *m = s->ring[s->head];
	s->head = (s->head + 1) % s->cap;
	s->count--;
	if (s->pub_queued && --s->pub_queued[m->publisher] == 0)
		s->n_active--;
	return m;
}

/* Wake whoever drains s. Caller holds s->lock. */
static void wake_consumer(struct bm_sub *s)
{
	if (!s->on_loop) {
		pthread_cond_signal(&s->nonempty);
	} else if (!s->scheduled) {
		s->scheduled = true;
		event_active(s->ev, 0, 0);
	}
}

/* A publisher may hold at most cap / active publishers of a block queue. */
static bool over_fair_share(const struct bm_sub *s, int pub)
{
	uint32_t mine = s->pub_queued[pub];
	uint32_t active = s->n_active + (mine == 0);
	uint32_t share = s->cap / (active ? active : 1);
	return mine >= (share ? share : 1);
}

/* Queue m on s; returns false when a block wait ran out (m not queued). */
static bool enqueue(struct bm_sub *s, struct bus_msg *m)
{
	struct bus_msg *dropped = NULL;
	bool ok = true;
	pthread_mutex_lock(&s->lock);
	if (s->closing) {
		ok = true; /* going away: not a loss of the publisher's */
		msg_unref(m);
		goto out;
	}
	if (s->policy == BM_SUB_BLOCK) {
		struct timespec dl = deadline_after(s->block_timeout_ms);
		/* the watchdog may turn a stuck subscription to drop-oldest while
		 * we wait: then stop waiting */
		while (!s->closing && s->policy == BM_SUB_BLOCK &&
		       (s->count == s->cap || over_fair_share(s, m->publisher))) {
			if (pthread_cond_timedwait(&s->nonfull, &s->lock, &dl) == ETIMEDOUT) {
				atomic_fetch_add_explicit(&s->timeouts, 1, memory_order_relaxed);
				msg_unref(m);
				ok = false;
				goto out;
			}
		}
		if (s->closing) {
			msg_unref(m);
			goto out;
		}
	}
	if (s->count == s->cap) { /* drop-oldest */
		dropped = ring_pop(s);
		atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
	}
	ring_push(s, m);
	wake_consumer(s);
out:
	pthread_mutex_unlock(&s->lock);
	if (dropped)
		msg_unref(dropped);
	return ok;
}

int bus_publish(struct bus *bus, int publisher, const char *topic, const void *body, size_t len)
{
	if (!topic || !*topic || (!body && len) || publisher < 0 ||
	    publisher >= atomic_load(&bus->n_pubs))
		return BM_EINVAL;
	struct topic *t = topic_intern(bus, topic);
	if (!t)
		return BM_ENOMEM;
	struct publisher *p = bus->pubs[publisher];
	atomic_fetch_add_explicit(&t->published, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->published, 1, memory_order_relaxed);

	int rc = 0;
	pthread_rwlock_rdlock(&bus->lock);
	/* topic subscribers, then "*", then (every topic but metric) events */
	const struct sub_list *lists[3] = {&t->subs, &bus->wildcard, &bus->events};
	size_t n_lists = t->is_metric ? 2 : 3;
	size_t n = 0;
	for (size_t l = 0; l < n_lists; l++)
		n += lists[l]->n;
	if (n == 0)
		goto out;
	struct bus_msg *m = malloc(sizeof(*m) + len);
	if (!m) {
		rc = BM_ENOMEM;
		goto out;
	}
	atomic_init(&m->refs, (int)n);
	m->publisher = publisher;
	m->topic = t->name;
	m->len = len;
	if (len)
		memcpy(m->body, body, len);
	for (size_t l = 0; l < n_lists; l++) {
		for (size_t i = 0; i < lists[l]->n; i++) {
			if (!enqueue(lists[l]->v[i], m)) {
				atomic_fetch_add_explicit(&p->lost, 1, memory_order_relaxed);
				rc = BM_EAGAIN;
			}
		}
	}
out:
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

/* Take up to max messages off s; NULL-terminated count in *n. Caller holds
 * s->lock. Marks the subscription busy so drain() waits for the callbacks. */
static uint32_t take_batch(struct bm_sub *s, struct bus_msg **batch, uint32_t max)
{
	uint32_t n = 0;
	while (s->count && n < max)
		batch[n++] = ring_pop(s);
	if (n) {
		s->busy = true;
		pthread_cond_broadcast(&s->nonfull);
	}
	return n;
}

static int64_t coarse_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deliver_batch(struct bm_sub *s, struct bus_msg **batch, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		atomic_store_explicit(&s->cb_since, coarse_ms(), memory_order_relaxed);
		s->cb(s->user, batch[i]->topic, batch[i]->body, batch[i]->len);
		msg_unref(batch[i]);
	}
	atomic_store_explicit(&s->cb_since, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->delivered, n, memory_order_relaxed);
	pthread_mutex_lock(&s->lock);
	s->busy = false;
	if (s->count == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static void *delivery_thread(void *arg)
{
	struct bm_sub *s = arg;
	struct bus_msg *batch[BUS_DELIVERY_BATCH];
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (s->count == 0 && !s->closing)
			pthread_cond_wait(&s->nonempty, &s->lock);
		if (s->closing) {
			s->exited = true;
			pthread_cond_broadcast(&s->idle);
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		uint32_t n = take_batch(s, batch, BUS_DELIVERY_BATCH);
		pthread_mutex_unlock(&s->lock);
		deliver_batch(s, batch, n);
	}
}

/* on_loop delivery: drain a bounded batch per loop iteration so that one
 * busy subscription cannot starve timers and HTTP. */
static void on_loop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bm_sub *s = arg;
	struct bus_msg *batch[BUS_DELIVERY_BATCH];
	pthread_mutex_lock(&s->lock);
	uint32_t n = take_batch(s, batch, BUS_DELIVERY_BATCH);
	s->scheduled = s->count > 0;
	if (s->scheduled)
		event_active(s->ev, 0, 0);
	pthread_mutex_unlock(&s->lock);
	if (n)
		deliver_batch(s, batch, n);
}

static void sub_destroy(struct bm_sub *s)
{
	while (s->count)
		msg_unref(ring_pop(s));
	if (s->ev)
		event_free(s->ev);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->nonempty);
	pthread_cond_destroy(&s->nonfull);
	pthread_cond_destroy(&s->idle);
	free(s->pub_queued);
	free(s->ring);
	free(s->owner);
	free(s->topic);
	free(s);
}

static struct bm_sub *sub_new(struct bus *bus, const char *owner, const struct bm_sub_opts *o)
{
	struct bm_sub *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->bus = bus;
	s->policy = o->policy;
	s->cap = o->queue_len ? o->queue_len : BUS_DEFAULT_QUEUE;
	s->block_timeout_ms = o->block_timeout_ms > 0 ? o->block_timeout_ms : BUS_DEFAULT_BLOCK_MS;
	s->on_loop = o->on_loop;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->nonempty, NULL);
	pthread_cond_init(&s->nonfull, &ca);
	pthread_cond_init(&s->idle, &ca);
	pthread_condattr_destroy(&ca);
	s->owner = strdup(owner ? owner : "?");
	s->topic = strdup(o->topic);
	s->ring = calloc(s->cap, sizeof(*s->ring));
	if (s->policy == BM_SUB_BLOCK)
		s->pub_queued = calloc(BUS_MAX_PUBLISHERS, sizeof(*s->pub_queued));
	if (!s->owner || !s->topic || !s->ring || (s->policy == BM_SUB_BLOCK && !s->pub_queued)) {
		sub_destroy(s);
		return NULL;
	}
	return s;
}

static int sub_attach(struct bus *bus, struct bm_sub *s)
{
	int rc = 0;
	pthread_rwlock_wrlock(&bus->lock);
	if (strcmp(s->topic, "*") == 0) {
		rc = list_add(&bus->wildcard, s);
	} else if (strcmp(s->topic, BM_TOPIC_EVENTS) == 0) {
		rc = list_add(&bus->events, s);
	} else {
		struct topic *t = topic_intern(bus, s->topic);
		rc = t ? list_add(&t->subs, s) : BM_ENOMEM;
	}
	if (rc == 0 && (rc = list_add(&bus->all, s)) != 0) {
		list_remove(&bus->wildcard, s);
		list_remove(&bus->events, s);
		struct topic *t = topic_find(bus, s->topic);
		if (t)
			list_remove(&t->subs, s);
	}
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

static void sub_detach(struct bm_sub *s)
{
	struct bus *bus = s->bus;
	pthread_rwlock_wrlock(&bus->lock);
	list_remove(&bus->wildcard, s);
	list_remove(&bus->events, s);
	list_remove(&bus->all, s);
	struct topic *t = topic_find(bus, s->topic);
	if (t)
		list_remove(&t->subs, s);
	pthread_rwlock_unlock(&bus->lock);
}

int bus_subscribe(struct bus *bus, const char *owner, const struct bm_sub_opts *opts,
		  bm_event_cb cb, void *user, struct bm_sub **out)
{
	if (!opts || opts->size < offsetof(struct bm_sub_opts, on_loop) || !opts->topic ||
	    !*opts->topic || !cb || !out)
		return BM_EINVAL;
	struct bm_sub_opts o = {0};
	memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
	if (o.policy != BM_SUB_DROP_OLDEST && o.policy != BM_SUB_BLOCK)
		return BM_EINVAL;
	if (o.on_loop && !bus->loop)
		return BM_ENOTSUP;
	struct bm_sub *s = sub_new(bus, owner, &o);
	if (!s)
		return BM_ENOMEM;
	s->cb = cb;
	s->user = user;
	if (s->on_loop) {
		s->ev = event_new(bus->loop, -1, 0, on_loop_cb, s);
		if (!s->ev) {
			sub_destroy(s);
			return BM_ENOMEM;
		}
	} else if (pthread_create(&s->thread, NULL, delivery_thread, s) != 0) {
		sub_destroy(s);
		return BM_EIO;
	} else {
		/* "bm-sub:OWNER" in top -H and /proc/PID/task/TID/comm (15 chars) */
		char name[16];
		snprintf(name, sizeof(name), "bm-sub:%s", s->owner);
		pthread_setname_np(s->thread, name);
	}
	int rc = sub_attach(bus, s);
	if (rc) {
		bus_unsubscribe(s);
		return rc;
	}
	*out = s;
	return 0;
}

void bus_sub_set_tag(struct bm_sub *sub, void *tag) { sub->tag = tag; }
bool bus_sub_stuck(const struct bm_sub *sub) { return atomic_load(&sub->stuck); }
void *bus_sub_tag(const struct bm_sub *sub) { return sub->tag; }

/* Pending events are discarded (counted as dropped): after unsubscribe no
 * callback of the subscriber runs again. */
void bus_unsubscribe(struct bm_sub *s)
{
	if (!s)
		return;
	sub_detach(s);
	pthread_mutex_lock(&s->lock);
	s->closing = true;
	atomic_fetch_add_explicit(&s->dropped, s->count, memory_order_relaxed);
	pthread_cond_broadcast(&s->nonempty);
	pthread_cond_broadcast(&s->nonfull);
	pthread_mutex_unlock(&s->lock);
	if (s->on_loop) {
		sub_destroy(s);
	} else if (!atomic_load(&s->stuck)) {
		pthread_join(s->thread, NULL);
		sub_destroy(s);
	} else {
		/* its callback never returned: the thread is abandoned inside the
		 * plugin, and the subscription it reads stays allocated (and
		 * reachable, for leak checkers) */
		static struct bm_sub *abandoned[64];
		static atomic_size_t n_abandoned;
		size_t i = atomic_fetch_add(&n_abandoned, 1);
		if (i < sizeof(abandoned) / sizeof(abandoned[0]))
			abandoned[i] = s;
		LOG_ERR("bus: subscription of %s abandoned with its callback still running", s->owner);
		pthread_detach(s->thread);
	}
}

size_t bus_watchdog(struct bus *bus, int64_t limit_ms,
		    void (*report)(void *u, const char *owner, int64_t running_ms), void *u)
{
	size_t n = 0;
	int64_t now = coarse_ms();
	pthread_rwlock_rdlock(&bus->lock);
	for (size_t i = 0; i < bus->all.n; i++) {
		struct bm_sub *s = bus->all.v[i];
		int64_t since = atomic_load_explicit(&s->cb_since, memory_order_relaxed);
		if (s->on_loop || !since || now - since <= limit_ms || atomic_load(&s->stuck))
			continue;
		atomic_store(&s->stuck, true);
		pthread_mutex_lock(&s->lock);
		s->policy = BM_SUB_DROP_OLDEST; /* publishers must not wait on it */
		pthread_cond_broadcast(&s->nonfull);
		pthread_mutex_unlock(&s->lock);
		report(u, s->owner, now - since);
		n++;
	}
	pthread_rwlock_unlock(&bus->lock);
	return n;
}

static bool sub_wait_idle(struct bm_sub *s, const struct timespec *dl)
{
	bool ok = true;
	pthread_mutex_lock(&s->lock);
	while (ok && (s->count || s->busy)) {
		if (s->on_loop) {
			/* we are the loop thread: deliver inline */
			struct bus_msg *batch[BUS_DELIVERY_BATCH];
			uint32_t n = take_batch(s, batch, BUS_DELIVERY_BATCH);
			pthread_mutex_unlock(&s->lock);
			deliver_batch(s, batch, n);
			pthread_mutex_lock(&s->lock);
		} else if (pthread_cond_timedwait(&s->idle, &s->lock, dl) == ETIMEDOUT) {
			ok = false;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

bool bus_drain(struct bus *bus, int64_t timeout_ms)
{
	struct timespec dl = deadline_after(timeout_ms);
	bool ok = true;
	/* Callbacks may publish more, so go round until a pass finds nothing. */
	for (int pass = 0; pass < 8; pass++) {
		bool quiet = true;
		pthread_rwlock_rdlock(&bus->lock);
		for (size_t i = 0; i < bus->all.n && ok; i++) {
			struct bm_sub *s = bus->all.v[i];
			pthread_mutex_lock(&s->lock);
			bool pending = s->count || s->busy;
			pthread_mutex_unlock(&s->lock);
			if (pending) {
				quiet = false;
				ok = sub_wait_idle(s, &dl);
			}
		}
		pthread_rwlock_unlock(&bus->lock);
		if (quiet || !ok)
			break;
	}
	return ok;
}

void bus_each_topic(struct bus *bus, void (*fn)(void *u, const struct bus_topic_stats *s), void *u)
{
	size_t n = atomic_load_explicit(&bus->n_topics, memory_order_acquire);
	for (size_t i = 0; i < n; i++) {
		struct bus_topic_stats st = {
			.topic = bus->topics[i]->name,
			.published = atomic_load(&bus->topics[i]->published),
		};
		fn(u, &st);
	}
}

void bus_each_sub(struct bus *bus, void (*fn)(void *u, const struct bus_sub_stats *s), void *u)
{
	pthread_rwlock_rdlock(&bus->lock);
	for (size_t i = 0; i < bus->all.n; i++) {
		struct bm_sub *s = bus->all.v[i];
		pthread_mutex_lock(&s->lock);
		uint32_t depth = s->count;
		pthread_mutex_unlock(&s->lock);
		struct timespec cpu = {0};
		clockid_t cid;
		if (!s->on_loop && pthread_getcpuclockid(s->thread, &cid) == 0)
			clock_gettime(cid, &cpu);
		struct bus_sub_stats st = {
			.cpu_ns = (uint64_t)cpu.tv_sec * 1000000000u + (uint64_t)cpu.tv_nsec,
			.tag = s->tag,
			.owner = s->owner,
			.topic = s->topic,
			.policy = s->policy == BM_SUB_BLOCK ? "block" : "drop_oldest",
			.delivered = atomic_load(&s->delivered),
			.dropped = atomic_load(&s->dropped),
			.timeouts = atomic_load(&s->timeouts),
			.depth = depth,
			.capacity = s->cap,
		};
		fn(u, &st);
	}
	pthread_rwlock_unlock(&bus->lock);
}

void bus_each_publisher(struct bus *bus, void (*fn)(void *u, const struct bus_pub_stats *s), void *u)
{
	int n = atomic_load(&bus->n_pubs);
	for (int i = 0; i < n; i++) {
		struct bus_pub_stats st = {
			.name = bus->pubs[i]->name,
			.published = atomic_load(&bus->pubs[i]->published),
			.lost = atomic_load(&bus->pubs[i]->lost),
		};
		fn(u, &st);
	}
}
