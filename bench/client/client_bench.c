/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/client: what a libbearmon-client call costs the agent's thread, in
 * ns per call, for gauge, counter, one-shot task and task begin+end, with
 * the library's background thread doing the I/O. bench/client/run calls
 * it once with bearmond's agent socket (daemon up) and once with a path
 * nothing listens on (daemon down, buffer full, oldest data dropping).
 *   bench_client ADDRESS CALLS_PER_ROUND
 * Prints "<call> <metric> <value>" lines.
 */
#define _GNU_SOURCE
#include <bearmon/bm_client.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 7

enum call { GAUGE, COUNTER, TASK, TASK_SPAN, N_CALLS };
static const char *const call_names[N_CALLS] = {"gauge", "counter", "task", "task_span"};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const struct bm_client_kv route[] = {{"route", "/v1/chat"}};
static const struct bm_client_task_report report = {
    .type = "answer", .tokens_in = 812, .tokens_out = 164};

static int one_call(struct bm_client *c, enum call k, long i)
{
	switch (k) {
	case GAUGE:
		return bm_client_gauge(c, "bench_queue_depth", (double)i, NULL, 0);
	case COUNTER:
		return bm_client_counter(c, "bench_requests_total", 1, route, 1);
	case TASK:
		return bm_client_task(c, 12.5, &report);
	default: {
		struct bm_client_task t = bm_client_task_begin(c);
		return bm_client_task_end(c, &t, &report);
	}
	}
}

/* ns per call of one round of n calls. Return codes are counted, not
 * acted on: BM_EAGAIN (dropped) is the expected answer while down. */
static double round_ns(struct bm_client *c, enum call k, long n)
{
	double t0 = now_s();

	for (long i = 0; i < n; i++)
		one_call(c, k, i);
	return (now_s() - t0) * 1e9 / (double)n;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The 99th percentile of single calls, each timed alone (so it includes
 * one clock read, about 20 ns): the tail an agent sees when the client's
 * thread holds the lock. */
static double p99_ns(struct bm_client *c, enum call k, long n)
{
	int64_t *t = malloc((size_t)n * sizeof(*t));
	double p;

	if (!t)
		return -1;
	for (long i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		one_call(c, k, i);
		t[i] = now_ns() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_i64);
	p = (double)t[n * 99 / 100];
	free(t);
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct bm_client *client_for(const char *address, enum call k)
{
	struct bm_client_opts o = BM_CLIENT_OPTS_INIT;
	struct bm_err err = {0};
	char id[64];
	struct bm_client *c;

	snprintf(id, sizeof(id), "bench-%s", call_names[k]);
	o.address = address;
	o.agent_id = id;
	o.type = "bench";
	c = bm_client_new(&o, &err);
	if (!c) {
		fprintf(stderr, "bench_client: %s\n", err.msg);
		exit(1);
	}
	if (bm_client_start_thread(c)) {
		fprintf(stderr, "bench_client: cannot start the client thread\n");
		exit(1);
	}
	return c;
}

/* Give the thread a moment to connect when something listens. */
static bool wait_connected(struct bm_client *c)
{
	struct bm_client_stats st = {.size = sizeof(st)};

	for (int i = 0; i < 200; i++) {
		bm_client_stats(c, &st);
		if (st.connected)
			return true;
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static void bench_call(const char *address, enum call k, long n)
{
	struct bm_client *c = client_for(address, k);
	struct bm_client_stats st = {.size = sizeof(st)};
	bool connected = wait_connected(c);
	double ns[ROUNDS], t0, elapsed, p99;
	long accepted, dropped;

	round_ns(c, k, n / 10); /* warm up: caches, buffer allocation */
	t0 = now_s();
	for (int r = 0; r < ROUNDS; r++)
		ns[r] = round_ns(c, k, n);
	elapsed = now_s() - t0;
	qsort(ns, ROUNDS, sizeof(ns[0]), cmp_double);
	p99 = p99_ns(c, k, n);
	bm_client_flush(c, connected ? 2000 : 0);
	bm_client_stats(c, &st);
	accepted = (long)(k == GAUGE || k == COUNTER ? st.samples : st.messages);
	dropped = (long)(st.samples_dropped + st.messages_dropped);
	printf("%s connected %d\n", call_names[k], connected);
	printf("%s ns_per_call %.1f\n", call_names[k], ns[ROUNDS / 2]);
	printf("%s ns_per_call_best %.1f\n", call_names[k], ns[0]);
	printf("%s ns_per_call_p99 %.0f\n", call_names[k], p99);
	printf("%s calls_per_s %.3g\n", call_names[k], (double)(ROUNDS * n) / elapsed);
	printf("%s dropped_ratio %.3f\n", call_names[k],
	       accepted ? (double)dropped / (double)accepted : 0);
	/* what reached the socket while the agent called as fast as it could */
	if (connected)
		printf("%s delivered_per_s %.3g\n", call_names[k],
		       (double)(accepted - dropped) / elapsed);
	bm_client_free(c);
}

int main(int argc, char **argv)
{
	long n;

	if (argc != 3 || (n = atol(argv[2])) < 100) {
		fprintf(stderr, "usage: bench_client ADDRESS CALLS_PER_ROUND (>= 100)\n");
		return 2;
	}
	for (enum call k = 0; k < N_CALLS; k++)
		bench_call(argv[1], k, n);
	return 0;
}
