/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake AI agent reporting to bearmon through libbearmon-client: it runs
 * tasks of random duration with occasional errors, reports their tokens,
 * a quality score and a coordination exchange with a peer, and answers
 * bearmon's `set_batch_size` command. Build against an installed client:
 *   cc agent_example.c $(pkg-config --cflags --libs bearmon-client) -lm
 * Run:  bearmon_agent_example [-a ADDRESS] [-i AGENT_ID] [-s SECONDS] [-T]
 */
#define _GNU_SOURCE
#include <bearmon/bm_client.h>

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct agent {
	struct bm_client *client;
	atomic_int batch_size; /* set_batch_size changes it, maybe from the client's thread */
	double accuracy;       /* the quality score, a random walk in [0.8, 1] */
	unsigned seed;
	bool threaded; /* -T: the library's thread polls, we just sleep */
};

/* set_batch_size {value: "N"}, 1 <= N <= 256; the ack's result carries the
 * previous value so that bearmon can roll the change back. */
static void on_command(struct bm_client *c, const struct bm_client_command *cmd, void *user)
{
	struct agent *a = user;
	char prev[16];
	long v = 0;

	if (strcmp(cmd->name, "set_batch_size")) {
		bm_client_ack(c, cmd->id, false, "unknown command", NULL, 0);
		return;
	}
	for (size_t i = 0; i < cmd->n_args; i++)
		if (!strcmp(cmd->args[i].key, "value"))
			v = strtol(cmd->args[i].value, NULL, 10);
	if (v < 1 || v > 256) {
		bm_client_ack(c, cmd->id, false, "value must be an integer in [1, 256]", NULL, 0);
		return;
	}
	snprintf(prev, sizeof(prev), "%d", atomic_exchange(&a->batch_size, (int)v));
	bm_client_ack(c, cmd->id, true, "batch size changed",
		      (struct bm_client_kv[]){{"previous", prev}}, 1);
	printf("set_batch_size: %s -> %ld\n", prev, v);
}

static double uniform(struct agent *a)
{
	return (double)rand_r(&a->seed) / RAND_MAX;
}

/* Wait like a task that does I/O; in loop mode the client works meanwhile. */
static void work(struct agent *a, int ms)
{
	if (a->threaded) {
		struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
		return;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int left = ms; left > 0;) {
		bm_client_poll(a->client, left);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = ms -
		       (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	}
}

static void run_task(struct agent *a, long n)
{
	static const char *const classes[] = {"rate_limited", "tool_failure"};
	struct bm_client_task t = bm_client_task_begin(a->client);
	char id[32];
	double r = uniform(a);
	struct bm_client_task_report rep = {
	    .task_id = id,
	    .type = n % 3 ? "answer" : "plan",
	    .tokens_in = 100 + rand_r(&a->seed) % 900,
	    .tokens_out = (20 + rand_r(&a->seed) % 300) * atomic_load(&a->batch_size) / 8,
	};

	snprintf(id, sizeof(id), "task-%ld", n);
	work(a, 5 + (int)(uniform(a) * 40));
	if (r < 0.05) { /* about one task in twenty fails */
		rep.outcome = BM_TASK_ERROR;
		rep.error_class = classes[n % 2];
		rep.tokens_out = 0;
	}
	bm_client_task_end(a->client, &t, &rep);
	bm_client_counter(a->client, "agent_example_tool_calls_total", 1 + n % 3,
			  (struct bm_client_kv[]){{"tool", n % 2 ? "search" : "calculator"}}, 1);
	a->accuracy = fmin(1.0, fmax(0.8, a->accuracy + (uniform(a) - 0.5) * 0.02));
	bm_client_gauge(a->client, "agent_quality_accuracy", a->accuracy, NULL, 0);
	bm_client_gauge(a->client, "agent_example_batch_size", atomic_load(&a->batch_size), NULL,
			0);
	if (n % 10 == 0)
		bm_client_coord(a->client, &(struct bm_client_coord){
					       .peer = "example-peer",
					       .latency_ms = 1 + uniform(a) * 4,
					       .sync_wait_ms = uniform(a) * 2,
					       .messages = 2,
					       .bytes = 512 + rand_r(&a->seed) % 2048,
					   });
}

static void print_stats(struct bm_client *c)
{
	struct bm_client_stats st = {.size = sizeof(st)};

	bm_client_stats(c, &st);
	printf("samples %llu (dropped %llu), messages %llu (dropped %llu), frames sent %llu, "
	       "connects %llu, commands %llu%s%s\n",
	       (unsigned long long)st.samples, (unsigned long long)st.samples_dropped,
	       (unsigned long long)st.messages, (unsigned long long)st.messages_dropped,
	       (unsigned long long)st.frames_sent, (unsigned long long)st.connects,
	       (unsigned long long)st.commands, st.last_error[0] ? ", last error: " : "",
	       st.last_error);
}

int main(int argc, char **argv)
{
	static const char *const caps[] = {"set_batch_size"};
	struct agent a = {.batch_size = 8, .accuracy = 0.9, .seed = (unsigned)getpid()};
	struct bm_client_opts o = BM_CLIENT_OPTS_INIT;
	struct bm_err err = {0};
	double seconds = 10;
	int opt;

	o.agent_id = "example-agent";
	while ((opt = getopt(argc, argv, "a:i:s:T")) != -1) {
		switch (opt) {
		case 'a':
			o.address = optarg;
			break;
		case 'i':
			o.agent_id = optarg;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'T':
			a.threaded = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-a ADDRESS] [-i AGENT_ID] [-s SECONDS] [-T]\n",
				argv[0]);
			return 2;
		}
	}
	o.type = "example";
	o.version = "1.0.0";
	o.labels = (struct bm_client_kv[]){{"team", "sdk"}};
	o.n_labels = 1;
	o.capabilities = caps;
	o.n_capabilities = 1;
	a.client = bm_client_new(&o, &err);
	if (!a.client) {
		fprintf(stderr, "bm_client_new: %s\n", err.msg);
		return 1;
	}
	bm_client_on_command(a.client, on_command, &a);
	if (a.threaded && bm_client_start_thread(a.client)) {
		fprintf(stderr, "cannot start the client thread\n");
		bm_client_free(a.client);
		return 1;
	}
	bm_client_hello(a.client);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long n = 0;; n++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
			break;
		run_task(&a, n);
	}
	if (bm_client_flush(a.client, 2000))
		fprintf(stderr, "not everything was delivered within 2 s\n");
	print_stats(a.client);
	bm_client_free(a.client);
	return 0;
}
