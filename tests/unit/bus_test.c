/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event bus: fan-out, drop-oldest accounting, block-policy
 * backpressure without loss, fair shares, isolation of a slow subscriber,
 * unsubscribe, drain.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus.h"

struct counter {
	uint64_t n;
	uint64_t sum; /* of the first body byte, to check content */
	int64_t sleep_us;
	pthread_mutex_t gate; /* held by the test to stall the subscriber */
	bool use_gate;
};

static void count_cb(void *user, const char *topic, const void *body, size_t len)
{
	struct counter *c = user;
	(void)topic;
	if (c->use_gate) {
		pthread_mutex_lock(&c->gate);
		pthread_mutex_unlock(&c->gate);
	}
	if (c->sleep_us)
		usleep((useconds_t)c->sleep_us);
	__atomic_add_fetch(&c->n, 1, __ATOMIC_RELAXED);
	if (len)
		__atomic_add_fetch(&c->sum, ((const unsigned char *)body)[0], __ATOMIC_RELAXED);
}

static struct bm_sub_opts opts(const char *topic, enum bm_sub_policy p, uint32_t len)
{
	struct bm_sub_opts o = {.size = sizeof(o), .topic = topic, .policy = p, .queue_len = len,
				.block_timeout_ms = 200};
	return o;
}

struct sub_find {
	const char *owner;
	struct bus_sub_stats st;
};
static void find_sub(void *u, const struct bus_sub_stats *s)
{
	struct sub_find *f = u;
	if (strcmp(f->owner, s->owner) == 0)
		f->st = *s;
}
static struct bus_sub_stats stats_of(struct bus *bus, const char *owner)
{
	struct sub_find f = {.owner = owner};
	bus_each_sub(bus, find_sub, &f);
	return f.st;
}

static void test_fanout_and_topics(void **state)
{
	(void)state;
	struct bus *bus = bus_new(NULL);
	int pub = bus_publisher(bus, "p");
	struct counter a = {0}, b = {0}, all = {0};
	struct bm_sub *sa, *sb, *sall;
	struct bm_sub_opts oa = opts("metric", BM_SUB_BLOCK, 16), ob = opts("alert", BM_SUB_BLOCK, 16),
			   oall = opts("*", BM_SUB_BLOCK, 16);
	assert_int_equal(bus_subscribe(bus, "a", &oa, count_cb, &a, &sa), 0);
	assert_int_equal(bus_subscribe(bus, "b", &ob, count_cb, &b, &sb), 0);
	assert_int_equal(bus_subscribe(bus, "all", &oall, count_cb, &all, &sall), 0);
	unsigned char one = 1, two = 2;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(bus_publish(bus, pub, "metric", &one, 1), 0);
		assert_int_equal(bus_publish(bus, pub, "alert", &two, 1), 0);
	}
	assert_int_equal(bus_publish(bus, pub, "nobody", &one, 1), 0);
	assert_true(bus_drain(bus, 5000));
	assert_int_equal(a.n, 100);
	assert_int_equal(a.sum, 100);
	assert_int_equal(b.n, 100);
	assert_int_equal(b.sum, 200);
	assert_int_equal(all.n, 201);
	assert_int_equal(stats_of(bus, "a").delivered, 100);
	assert_int_equal(stats_of(bus, "a").dropped, 0);
	assert_int_equal(bus_publish(bus, pub, "", &one, 1), BM_EINVAL);
	assert_int_equal(bus_publish(bus, 99, "metric", &one, 1), BM_EINVAL);
	bus_unsubscribe(sa);
	bus_unsubscribe(sb);
	bus_unsubscribe(sall);
	bus_free(bus);
}

/* A stalled drop-oldest subscriber loses (counted) events; the publisher
 * and a second subscriber never wait for it. */
static void test_drop_oldest_isolated(void **state)
{
	(void)state;
	struct bus *bus = bus_new(NULL);
	int pub = bus_publisher(bus, "p");
	struct counter slow = {.use_gate = true}, fast = {0};
	pthread_mutex_init(&slow.gate, NULL);
	pthread_mutex_lock(&slow.gate);
	struct bm_sub *ss, *sf;
	struct bm_sub_opts o = opts("metric", BM_SUB_DROP_OLDEST, 8);
	struct bm_sub_opts of = opts("metric", BM_SUB_DROP_OLDEST, 4096);
	assert_int_equal(bus_subscribe(bus, "slow", &o, count_cb, &slow, &ss), 0);
	assert_int_equal(bus_subscribe(bus, "fast", &of, count_cb, &fast, &sf), 0);
	unsigned char x = 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(bus_publish(bus, pub, "metric", &x, 1), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* 1000 publishes against a stalled subscriber: no waiting involved */
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	for (int i = 0; i < 200 && __atomic_load_n(&fast.n, __ATOMIC_RELAXED) < 1000; i++)
		usleep(10000);
	assert_int_equal(fast.n, 1000);
	pthread_mutex_unlock(&slow.gate);
	assert_true(bus_drain(bus, 5000));
	struct bus_sub_stats st = stats_of(bus, "slow");
	/* at most the ring plus the batch in hand got through; every other
	 * event is counted as dropped */
	assert_true(slow.n <= 8 + 64);
	assert_int_equal(st.delivered + st.dropped, 1000);
	assert_int_equal(st.delivered, slow.n);
	bus_unsubscribe(ss);
	bus_unsubscribe(sf);
	pthread_mutex_destroy(&slow.gate);
	bus_free(bus);
}

/* Block policy: a slow subscriber slows the publisher but loses nothing. */
static void test_block_no_loss(void **state)
{
	(void)state;
	struct bus *bus = bus_new(NULL);
	int pub = bus_publisher(bus, "p");
	struct counter c = {.sleep_us = 20};
	struct bm_sub *s;
	struct bm_sub_opts o = opts("metric", BM_SUB_BLOCK, 4);
	assert_int_equal(bus_subscribe(bus, "store", &o, count_cb, &c, &s), 0);
	unsigned char x = 3;
	for (int i = 0; i < 2000; i++)
		assert_int_equal(bus_publish(bus, pub, "metric", &x, 1), 0);
	assert_true(bus_drain(bus, 5000));
	assert_int_equal(c.n, 2000);
	assert_int_equal(c.sum, 6000);
	assert_int_equal(stats_of(bus, "store").dropped, 0);
	assert_int_equal(stats_of(bus, "store").timeouts, 0);
	bus_unsubscribe(s);
	bus_free(bus);
}

/* A stuck block subscriber: publish returns BM_EAGAIN after the bounded
 * wait, counted against that publisher; other subscribers still get it. */
static void test_block_timeout(void **state)
{
	(void)state;
	struct bus *bus = bus_new(NULL);
	int pub = bus_publisher(bus, "p");
	struct counter stuck = {.use_gate = true}, other = {0};
	pthread_mutex_init(&stuck.gate, NULL);
	pthread_mutex_lock(&stuck.gate);
	struct bm_sub *s1, *s2;
	struct bm_sub_opts o = opts("metric", BM_SUB_BLOCK, 2);
	struct bm_sub_opts o2 = opts("metric", BM_SUB_DROP_OLDEST, 64);
	assert_int_equal(bus_subscribe(bus, "stuck", &o, count_cb, &stuck, &s1), 0);
	assert_int_equal(bus_subscribe(bus, "other", &o2, count_cb, &other, &s2), 0);
	unsigned char x = 1;
	int again = 0;
	for (int i = 0; i < 6; i++)
		again += bus_publish(bus, pub, "metric", &x, 1) == BM_EAGAIN;
	assert_true(again >= 1);
	pthread_mutex_unlock(&stuck.gate);
	assert_true(bus_drain(bus, 5000));
	assert_int_equal(other.n, 6);
	assert_int_equal(stats_of(bus, "stuck").timeouts, (uint64_t)again);
	assert_int_equal(stuck.n + (uint64_t)again, 6);
	bus_unsubscribe(s1);
	bus_unsubscribe(s2);
	pthread_mutex_destroy(&stuck.gate);
	bus_free(bus);
}

struct flood_arg {
	struct bus *bus;
	int pub;
	volatile bool stop;
	uint64_t sent;
};

static void *flood(void *arg)
{
	struct flood_arg *f = arg;
	unsigned char x = 9;
	while (!f->stop)
		if (bus_publish(f->bus, f->pub, "metric", &x, 1) == 0)
			f->sent++;
	return NULL;
}

/* One flooding publisher cannot hold a block queue: a second publisher
 * still gets its events in without timing out. */
static void test_fair_share(void **state)
{
	(void)state;
	struct bus *bus = bus_new(NULL);
	struct flood_arg f = {.bus = bus, .pub = bus_publisher(bus, "flooder")};
	int polite = bus_publisher(bus, "polite");
	struct counter c = {.sleep_us = 50};
	struct bm_sub *s;
	struct bm_sub_opts o = opts("metric", BM_SUB_BLOCK, 32);
	o.block_timeout_ms = 2000;
	assert_int_equal(bus_subscribe(bus, "store", &o, count_cb, &c, &s), 0);
	pthread_t t;
	pthread_create(&t, NULL, flood, &f);
	usleep(50000);
	unsigned char x = 1;
	for (int i = 0; i < 50; i++)
		assert_int_equal(bus_publish(bus, polite, "metric", &x, 1), 0);
	f.stop = true;
	pthread_join(t, NULL);
	assert_true(bus_drain(bus, 10000));
	assert_int_equal(c.n, f.sent + 50);
	bus_unsubscribe(s);
	bus_free(bus);
}

static void test_bad_subscribe(void **state)
{
	(void)state;
	struct bus *bus = bus_new(NULL);
	struct counter c = {0};
	struct bm_sub *s;
	struct bm_sub_opts o = opts("", BM_SUB_BLOCK, 4);
	assert_int_equal(bus_subscribe(bus, "x", &o, count_cb, &c, &s), BM_EINVAL);
	o = opts("metric", (enum bm_sub_policy)7, 4);
	assert_int_equal(bus_subscribe(bus, "x", &o, count_cb, &c, &s), BM_EINVAL);
	o = opts("metric", BM_SUB_BLOCK, 4);
	o.on_loop = true; /* no loop given to this bus */
	assert_int_equal(bus_subscribe(bus, "x", &o, count_cb, &c, &s), BM_ENOTSUP);
	assert_int_equal(bus_subscribe(bus, "x", &o, NULL, &c, &s), BM_EINVAL);
	bus_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fanout_and_topics), cmocka_unit_test(test_drop_oldest_isolated),
		cmocka_unit_test(test_block_no_loss),      cmocka_unit_test(test_block_timeout),
		cmocka_unit_test(test_fair_share),         cmocka_unit_test(test_bad_subscribe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
