/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libbearmon-client against an in-test server (testserver.c): the shape of
 * every message the agent sends (PROTOCOL.md), the hello gate, commands
 * and acks, the bounded buffer dropping the oldest data and counting it,
 * reconnecting after the server restarts, no SIGPIPE, the thread mode, and
 * the frame queue's own invariants.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bearmon/bm_client.h"
#include "conn.h"
#include "queue.h"
#include "testserver.h"

/* ---- harness ------------------------------------------------------------ */

static struct bm_client *new_client(const struct ts_server *s, size_t limit)
{
	static const char *const caps[] = {"set_batch_size", "evict_cache"};
	static const struct bm_client_kv labels[] = {{"team", "search"}, {"zone", "eu-1"}};
	struct bm_client_opts o = BM_CLIENT_OPTS_INIT;
	struct bm_err err = {0};
	struct bm_client *c;

	o.address = s->address;
	o.agent_id = "test-agent.1";
	o.type = "tester";
	o.version = "0.9.1";
	o.labels = labels;
	o.n_labels = 2;
	o.capabilities = caps;
	o.n_capabilities = 2;
	o.buffer_limit = limit;
	o.flush_interval_ms = 10;
	o.reconnect_max_ms = 200;
	c = bm_client_new(&o, &err);
	if (!c)
		fail_msg("bm_client_new: %s", err.msg);
	return c;
}

static struct bm_client_stats stats(struct bm_client *c)
{
	struct bm_client_stats st = {.size = sizeof(st)};

	assert_int_equal(bm_client_stats(c, &st), 0);
	return st;
}

/* Drive the client (NULL: its own thread does) and the server until the
 * server holds a whole frame. The bound only turns a hang into a failure. */
static size_t next_frame(struct bm_client *c, struct ts_server *s, msgpack_unpacked *u)
{
	for (int i = 0; i < 4000; i++) {
		size_t n;
		if (c)
			bm_client_poll(c, 5);
		else
			usleep(5000);
		ts_pump(s);
		n = ts_next_frame(s, u);
		if (n)
			return n;
	}
	fail_msg("no frame from the client within 20 s");
	return 0;
}

static int type_of(const msgpack_unpacked *u)
{
	return (int)u->data.via.array.ptr[0].via.u64;
}

static const msgpack_object *body_of(const msgpack_unpacked *u)
{
	assert_int_equal(u->data.via.array.size, 2);
	return &u->data.via.array.ptr[1];
}

/* The next frame, which must be of the given type. */
static void expect_frame(struct bm_client *c, struct ts_server *s, msgpack_unpacked *u, int type)
{
	next_frame(c, s, u);
	assert_int_equal(type_of(u), type);
}

static void wait_connected(struct bm_client *c, bool connected)
{
	for (int i = 0; i < 4000; i++) {
		if (stats(c).connected == connected)
			return;
		if (bm_client_poll(c, 5) == BM_ESTATE)
			usleep(5000);
	}
	fail_msg("client did not become %s", connected ? "connected" : "disconnected");
}

static const struct ts_key hello_keys[] = {
    {"v", TS_INT, true},
    {"agent_id", TS_STR, true},
    {"type", TS_STR, false},
    {"pid", TS_INT, false},
    {"version", TS_STR, false},
    {"labels", TS_MAP_STR, false},
    {"capabilities", TS_ARR_STR, false},
};

/* Accept the hello, check it, answer welcome, wait for the session. */
static void handshake(struct bm_client *c, struct ts_server *s, int64_t max_frame, int64_t hb)
{
	msgpack_unpacked u;

	msgpack_unpacked_init(&u);
	expect_frame(c, s, &u, 1);
	ts_check_map(body_of(&u), hello_keys, 7);
	msgpack_unpacked_destroy(&u);
	ts_send_welcome(s, 1, max_frame, hb);
	if (c)
		wait_connected(c, true);
}

#define NO_HEARTBEAT 600000

static int setup(void **state)
{
	struct ts_server *s = calloc(1, sizeof(*s));

	ts_start(s);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	ts_free(*state);
	free(*state);
	return 0;
}

/* ---- hello -------------------------------------------------------------- */

static void test_hello_first_then_data_after_welcome(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	msgpack_unpacked u;
	const msgpack_object *h, *v;

	assert_int_equal(bm_client_task(c, 3, NULL), 0);
	assert_int_equal(bm_client_gauge(c, "queue_depth", 4, NULL, 0), 0);
	msgpack_unpacked_init(&u);
	expect_frame(c, s, &u, 1);
	h = body_of(&u);
	ts_check_map(h, hello_keys, 7);
	assert_int_equal(ts_num(ts_get(h, "v")), 1);
	assert_true(ts_str_eq(ts_get(h, "agent_id"), "test-agent.1"));
	assert_true(ts_str_eq(ts_get(h, "type"), "tester"));
	assert_true(ts_str_eq(ts_get(h, "version"), "0.9.1"));
	assert_int_equal(ts_num(ts_get(h, "pid")), getpid());
	v = ts_get(h, "labels");
	assert_int_equal(v->via.map.size, 2);
	assert_true(ts_str_eq(ts_get(v, "team"), "search") && ts_str_eq(ts_get(v, "zone"), "eu-1"));
	v = ts_get(h, "capabilities");
	assert_int_equal(v->via.array.size, 2);
	assert_true(ts_str_eq(&v->via.array.ptr[0], "set_batch_size"));
	assert_true(ts_str_eq(&v->via.array.ptr[1], "evict_cache"));

	/* nothing but the hello until the welcome, however long we poll */
	for (int i = 0; i < 30; i++) {
		bm_client_poll(c, 1);
		ts_pump(s);
	}
	assert_int_equal(ts_next_frame(s, &u), 0);
	assert_false(stats(c).connected);

	ts_send_welcome(s, 1, 1 << 20, NO_HEARTBEAT);
	expect_frame(c, s, &u, 3); /* queued first */
	expect_frame(c, s, &u, 4); /* the batch, sealed at the flush interval */
	assert_int_equal(stats(c).connects, 1);
	msgpack_unpacked_destroy(&u);
	bm_client_free(c);
}

/* ---- task --------------------------------------------------------------- */

static const struct ts_key task_keys[] = {
    {"task_id", TS_STR, false},	    {"type", TS_STR, false},	   {"start_ms", TS_INT, true},
    {"end_ms", TS_INT, true},	    {"duration_ms", TS_NUM, true}, {"outcome", TS_STR, true},
    {"error_class", TS_STR, false}, {"tokens_in", TS_INT, false},  {"tokens_out", TS_INT, false},
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_task_shape(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	struct bm_client_task t;
	msgpack_unpacked u;
	const msgpack_object *m;
	int64_t t0 = now_ms();

	handshake(c, s, 1 << 20, NO_HEARTBEAT);
	t = bm_client_task_begin(c);
	assert_int_equal(bm_client_task_end(c, &t,
					    &(struct bm_client_task_report){
						.task_id = "t-1",
						.type = "answer",
						.outcome = BM_TASK_ERROR,
						.error_class = "tool_failure",
						.tokens_in = 10,
					    }),
			 0);
	assert_int_equal(bm_client_task(c, 12.5, NULL), 0);

	msgpack_unpacked_init(&u);
	expect_frame(c, s, &u, 3);
	m = body_of(&u);
	ts_check_map(m, task_keys, 9);
	assert_true(ts_str_eq(ts_get(m, "task_id"), "t-1"));
	assert_true(ts_str_eq(ts_get(m, "type"), "answer"));
	assert_true(ts_str_eq(ts_get(m, "outcome"), "error"));
	assert_true(ts_str_eq(ts_get(m, "error_class"), "tool_failure"));
	assert_int_equal(ts_num(ts_get(m, "tokens_in")), 10);
	assert_null(ts_get(m, "tokens_out")); /* 0 is not sent */
	assert_true(ts_num(ts_get(m, "start_ms")) >= (double)t0);
	assert_true(ts_num(ts_get(m, "end_ms")) >= ts_num(ts_get(m, "start_ms")));
	assert_true(ts_num(ts_get(m, "duration_ms")) >= 0);

	expect_frame(c, s, &u, 3);
	m = body_of(&u);
	ts_check_map(m, task_keys, 9);
	assert_true(ts_num(ts_get(m, "duration_ms")) == 12.5);
	assert_int_equal(ts_num(ts_get(m, "end_ms")) - ts_num(ts_get(m, "start_ms")), 13);
	assert_true(ts_str_eq(ts_get(m, "outcome"), "ok"));
	assert_null(ts_get(m, "task_id"));
	assert_null(ts_get(m, "type"));
	msgpack_unpacked_destroy(&u);

	/* refused before they reach the buffer */
	assert_int_equal(bm_client_task(c, 1, &(struct bm_client_task_report){.error_class = "x"}),
			 BM_EINVAL);
	assert_int_equal(bm_client_task(c, 1, &(struct bm_client_task_report){.tokens_in = -1}),
			 BM_EINVAL);
	assert_int_equal(bm_client_task(c, 1, &(struct bm_client_task_report){.type = "\xff"}),
			 BM_EINVAL);
	assert_int_equal(bm_client_task(c, -1, NULL), BM_EINVAL);
	assert_int_equal(bm_client_task(c, NAN, NULL), BM_EINVAL);
	assert_int_equal(bm_client_task_end(c, NULL, NULL), BM_EINVAL);
	assert_int_equal(stats(c).rejected, 6);
	assert_int_equal(stats(c).messages, 2);
	bm_client_free(c);
}

/* ---- metric ------------------------------------------------------------- */

static void check_sample(const msgpack_object *smp, const char *name, int kind, double value,
			 const char *label, int64_t t0)
{
	const msgpack_object *a = smp->via.array.ptr;

	assert_int_equal(smp->type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(smp->via.array.size, 5);
	assert_true(ts_str_eq(&a[0], name));
	assert_int_equal(a[1].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	assert_int_equal(a[1].via.u64, kind);
	assert_true(ts_num(&a[2]) == value);
	if (label) {
		assert_int_equal(a[3].type, MSGPACK_OBJECT_MAP);
		assert_int_equal(a[3].via.map.size, 1);
		assert_true(ts_str_eq(ts_get(&a[3], "tool"), label));
	} else {
		assert_int_equal(a[3].type, MSGPACK_OBJECT_NIL);
	}
	assert_int_equal(a[4].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	assert_true((int64_t)a[4].via.u64 >= t0 && (int64_t)a[4].via.u64 <= now_ms());
}

static void test_metric_batch_shape(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	const struct bm_client_kv tool[] = {{"tool", "search"}};
	msgpack_unpacked u;
	const msgpack_object *arr;
	int64_t t0 = now_ms();

	handshake(c, s, 1 << 20, NO_HEARTBEAT);
	assert_int_equal(bm_client_gauge(c, "agent_quality_accuracy", 0.93, NULL, 0), 0);
	assert_int_equal(bm_client_counter(c, "agent_tool_calls_total", 2, tool, 1), 0);
	assert_int_equal(bm_client_gauge(c, "agent_quality_accuracy", 0.95, NULL, 0), 0);
	assert_int_equal(bm_client_flush(c, 10000), 0);

	msgpack_unpacked_init(&u);
	expect_frame(c, s, &u, 4); /* one message for the whole batch */
	arr = body_of(&u);
	assert_int_equal(arr->type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(arr->via.array.size, 3);
	check_sample(&arr->via.array.ptr[0], "agent_quality_accuracy", 2, 0.93, NULL, t0);
	check_sample(&arr->via.array.ptr[1], "agent_tool_calls_total", 1, 2, "search", t0);
	check_sample(&arr->via.array.ptr[2], "agent_quality_accuracy", 2, 0.95, NULL, t0);
	msgpack_unpacked_destroy(&u);

	assert_int_equal(bm_client_gauge(c, "1st", 1, NULL, 0), BM_EINVAL);
	assert_int_equal(bm_client_gauge(c, "bad-name", 1, NULL, 0), BM_EINVAL);
	assert_int_equal(bm_client_gauge(c, "ok_name", NAN, NULL, 0), BM_EINVAL);
	assert_int_equal(bm_client_counter(c, "ok_total", -1, NULL, 0), BM_EINVAL);
	assert_int_equal(
	    bm_client_gauge(c, "ok_name", 1, (struct bm_client_kv[]){{"bad-key", "v"}}, 1),
	    BM_EINVAL);
	assert_int_equal(
	    bm_client_gauge(c, "ok_name", 1, (struct bm_client_kv[]){{"k", "\xc3("}}, 1),
	    BM_EINVAL);
	assert_int_equal(bm_client_gauge(c, NULL, 1, NULL, 0), BM_EINVAL);
	assert_int_equal(stats(c).rejected, 7);
	assert_int_equal(stats(c).samples, 3);
	bm_client_free(c);
}

/* ---- coord -------------------------------------------------------------- */

static void test_coord_shape(void **state)
{
	static const struct ts_key keys[] = {
	    {"peer", TS_STR, true},	     {"latency_ms", TS_NUM, false},
	    {"sync_wait_ms", TS_NUM, false}, {"messages", TS_INT, false},
	    {"bytes", TS_INT, false},
	};
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	msgpack_unpacked u;
	const msgpack_object *m;

	handshake(c, s, 1 << 20, NO_HEARTBEAT);
	assert_int_equal(bm_client_coord(c,
					 &(struct bm_client_coord){
					     .peer = "retriever-2",
					     .latency_ms = 4.25,
					     .sync_wait_ms = 1.5,
					     .messages = 3,
					     .bytes = 2048,
					 }),
			 0);
	assert_int_equal(bm_client_coord(c, &(struct bm_client_coord){.peer = "planner"}), 0);
	assert_int_equal(bm_client_coord(c, &(struct bm_client_coord){.peer = NULL}), BM_EINVAL);
	assert_int_equal(bm_client_coord(c, &(struct bm_client_coord){.peer = "p", .bytes = -1}),
			 BM_EINVAL);

	msgpack_unpacked_init(&u);
	expect_frame(c, s, &u, 5);
	m = body_of(&u);
	ts_check_map(m, keys, 5);
	assert_true(ts_str_eq(ts_get(m, "peer"), "retriever-2"));
	assert_true(ts_num(ts_get(m, "latency_ms")) == 4.25);
	assert_true(ts_num(ts_get(m, "sync_wait_ms")) == 1.5);
	assert_int_equal(ts_num(ts_get(m, "messages")), 3);
	assert_int_equal(ts_num(ts_get(m, "bytes")), 2048);
	expect_frame(c, s, &u, 5);
	m = body_of(&u);
	ts_check_map(m, keys, 5);
	assert_int_equal(m->via.map.size, 1);
	msgpack_unpacked_destroy(&u);
	bm_client_free(c);
}

/* ---- heartbeat ------------------------------------------------------------ */

static void test_heartbeat_when_idle(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	msgpack_unpacked u;

	handshake(c, s, 1 << 20, 40);
	msgpack_unpacked_init(&u);
	expect_frame(c, s, &u, 6);
	assert_int_equal(u.data.via.array.size, 1); /* [6] */
	expect_frame(c, s, &u, 6);		    /* and again while idle */
	msgpack_unpacked_destroy(&u);
	bm_client_free(c);
}

/* ---- commands --------------------------------------------------------------- */

struct seen {
	char id[32];
	char name[32];
	char value[32];
	int64_t deadline;
	pthread_t thread;
	int calls;
};

static void on_command(struct bm_client *c, const struct bm_client_command *cmd, void *user)
{
	struct seen *seen = user;

	seen->calls++;
	seen->thread = pthread_self();
	snprintf(seen->id, sizeof(seen->id), "%s", cmd->id);
	snprintf(seen->name, sizeof(seen->name), "%s", cmd->name);
	seen->deadline = cmd->deadline_ms;
	for (size_t i = 0; i < cmd->n_args; i++)
		if (!strcmp(cmd->args[i].key, "value"))
			snprintf(seen->value, sizeof(seen->value), "%s", cmd->args[i].value);
	bm_client_ack(c, cmd->id, true, "done", (struct bm_client_kv[]){{"previous", "8"}}, 1);
}

struct cmd_args {
	const char *id;
	const char *name;
	int64_t deadline;
};

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void command_body(msgpack_packer *pk, const void *arg)
{
	const struct cmd_args *a = arg;

	msgpack_pack_map(pk, a->id ? 4 : 3);
	if (a->id) {
		pack_str(pk, "id");
		pack_str(pk, a->id);
	}
	pack_str(pk, "name");
	pack_str(pk, a->name);
	pack_str(pk, "args");
	msgpack_pack_map(pk, 1);
	pack_str(pk, "value");
	pack_str(pk, "16");
	pack_str(pk, "deadline_ms");
	msgpack_pack_int64(pk, a->deadline);
}

static const struct ts_key ack_keys[] = {
    {"id", TS_STR, true},
    {"ok", TS_BOOL, true},
    {"detail", TS_STR, false},
    {"result", TS_MAP_STR, false},
};

/* Send command id, expect its ack; returns ok and checks the shape. */
static bool command_roundtrip(struct bm_client *c, struct ts_server *s, const char *id,
			      char *detail, size_t n)
{
	msgpack_unpacked u;
	const msgpack_object *m, *d;
	bool ok;

	ts_send(s, 7, command_body, &(struct cmd_args){id, "set_batch_size", 1700000000000});
	msgpack_unpacked_init(&u);
	expect_frame(c, s, &u, 8);
	m = body_of(&u);
	ts_check_map(m, ack_keys, 4);
	assert_true(ts_str_eq(ts_get(m, "id"), id));
	ok = ts_get(m, "ok")->via.boolean;
	d = ts_get(m, "detail");
	snprintf(detail, n, "%.*s", d ? (int)d->via.str.size : 0, d ? d->via.str.ptr : "");
	if (ok) {
		const msgpack_object *r = ts_get(m, "result");
		assert_non_null(r);
		assert_true(ts_str_eq(ts_get(r, "previous"), "8"));
	}
	msgpack_unpacked_destroy(&u);
	return ok;
}

static void test_command_and_ack(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	struct seen seen = {0};
	char detail[64];

	bm_client_on_command(c, on_command, &seen);
	handshake(c, s, 1 << 20, NO_HEARTBEAT);
	assert_true(command_roundtrip(c, s, "cmd-1", detail, sizeof(detail)));
	assert_string_equal(detail, "done");
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.id, "cmd-1");
	assert_string_equal(seen.name, "set_batch_size");
	assert_string_equal(seen.value, "16");
	assert_true(seen.deadline == 1700000000000);
	assert_true(pthread_equal(seen.thread, pthread_self())); /* loop mode: our thread */

	/* a command without an id is ignored; the session goes on */
	ts_send(s, 7, command_body, &(struct cmd_args){NULL, "set_batch_size", 1});
	bm_client_on_command(c, NULL, NULL);
	assert_false(command_roundtrip(c, s, "cmd-2", detail, sizeof(detail)));
	assert_string_equal(detail, "no command handler");
	assert_int_equal(seen.calls, 1);
	assert_int_equal(stats(c).commands, 2);
	assert_int_equal(stats(c).connects, 1);
	assert_int_equal(bm_client_ack(c, "", true, NULL, NULL, 0), BM_EINVAL);
	bm_client_free(c);
}

/* ---- the bounded buffer ------------------------------------------------------ */

static long task_number(const msgpack_object *m)
{
	const msgpack_object *id = ts_get(m, "task_id");

	assert_non_null(id);
	return strtol(id->via.str.ptr + 2, NULL, 10); /* "t-N" */
}

/* While the server is down the buffer fills; the oldest tasks go first,
 * so what arrives afterwards is the newest contiguous run. */
static void test_full_buffer_drops_oldest_tasks(void **state)
{
	enum { N = 3000 };
	struct ts_server *s = *state;
	struct bm_client *c;
	struct bm_client_stats st;
	msgpack_unpacked u;
	long first = -1, last = -1, got = 0;

	ts_stop(s);
	c = new_client(s, BM_CLIENT_MIN_BUFFER_LIMIT);
	for (int i = 0; i < N; i++) {
		char id[16];
		snprintf(id, sizeof(id), "t-%d", i);
		assert_int_equal(
		    bm_client_task(c, 1, &(struct bm_client_task_report){.task_id = id}), 0);
		if (i % 500 == 0)
			bm_client_poll(c, 0); /* connect attempts fail meanwhile */
	}
	st = stats(c);
	assert_int_equal(st.messages, N);
	assert_true(st.messages_dropped > 0);
	assert_true(st.buffered_bytes <= BM_CLIENT_MIN_BUFFER_LIMIT);
	assert_true(st.bytes_dropped > 0);
	assert_false(st.connected);

	ts_listen(s);
	handshake(c, s, 1 << 20, NO_HEARTBEAT);
	assert_int_equal(bm_client_flush(c, 10000), 0);
	msgpack_unpacked_init(&u);
	while (got + (long)st.messages_dropped < N) {
		long n;
		expect_frame(c, s, &u, 3);
		n = task_number(body_of(&u));
		if (first < 0)
			first = n;
		else
			assert_int_equal(n, last + 1);
		last = n;
		got++;
	}
	msgpack_unpacked_destroy(&u);
	assert_int_equal(first, st.messages_dropped);
	assert_int_equal(last, N - 1);
	assert_int_equal(stats(c).messages_dropped, st.messages_dropped);
	bm_client_free(c);
}

static void test_full_buffer_drops_oldest_samples(void **state)
{
	enum { N = 20000 };
	struct ts_server *s = *state;
	struct bm_client *c;
	struct bm_client_stats st;
	msgpack_unpacked u;
	long expect = -1, got = 0;

	ts_stop(s);
	c = new_client(s, BM_CLIENT_MIN_BUFFER_LIMIT);
	for (int i = 0; i < N; i++)
		assert_int_equal(bm_client_gauge(c, "agent_queue_depth", i, NULL, 0), 0);
	st = stats(c);
	assert_int_equal(st.samples, N);
	assert_true(st.samples_dropped > 0 && st.samples_dropped < N);
	assert_true(st.buffered_bytes <= BM_CLIENT_MIN_BUFFER_LIMIT);

	ts_listen(s);
	handshake(c, s, 1 << 20, NO_HEARTBEAT);
	assert_int_equal(bm_client_flush(c, 10000), 0);
	msgpack_unpacked_init(&u);
	while (got + (long)st.samples_dropped < N) {
		const msgpack_object *arr;
		expect_frame(c, s, &u, 4);
		arr = body_of(&u);
		for (uint32_t i = 0; i < arr->via.array.size; i++) {
			long v = (long)ts_num(&arr->via.array.ptr[i].via.array.ptr[2]);
			if (expect >= 0)
				assert_int_equal(v, expect);
			expect = v + 1;
			got++;
		}
	}
	msgpack_unpacked_destroy(&u);
	assert_int_equal(expect, N); /* the newest sample arrived */
	assert_int_equal(got + (long)st.samples_dropped, N);
	bm_client_free(c);
}

static void test_oversized_message_refused(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	size_t n = 70000;
	char *big = malloc(n + 1);

	memset(big, 'x', n);
	big[n] = '\0';
	assert_int_equal(bm_client_gauge(c, "m", 1, (struct bm_client_kv[]){{"k", big}}, 1),
			 BM_ERANGE);
	assert_int_equal(bm_client_task(c, 1, &(struct bm_client_task_report){.task_id = big}),
			 BM_ERANGE);
	assert_int_equal(stats(c).rejected, 2);
	assert_int_equal(stats(c).buffered_bytes, 0);
	free(big);
	bm_client_free(c);
}

/* A server with a small max_frame gets no frame over it. */
static void test_small_max_frame_respected(void **state)
{
	enum { N = 400, MAX = 2048 };
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	msgpack_unpacked u;
	int got = 0;

	handshake(c, s, MAX, NO_HEARTBEAT);
	for (int i = 0; i < N; i++)
		assert_int_equal(bm_client_gauge(c, "agent_queue_depth", i, NULL, 0), 0);
	assert_int_equal(bm_client_flush(c, 10000), 0);
	msgpack_unpacked_init(&u);
	while (got < N) {
		size_t len = next_frame(c, s, &u);
		assert_true(len - 4 <= MAX);
		assert_int_equal(type_of(&u), 4);
		got += (int)body_of(&u)->via.array.size;
	}
	msgpack_unpacked_destroy(&u);
	assert_int_equal(got, N);
	bm_client_free(c);
}

/* ---- reconnect --------------------------------------------------------------- */

static void test_reconnect_after_server_restart(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	msgpack_unpacked u;

	handshake(c, s, 1 << 20, NO_HEARTBEAT);
	assert_int_equal(bm_client_task(c, 1, &(struct bm_client_task_report){.task_id = "t-1"}),
			 0);
	msgpack_unpacked_init(&u);
	expect_frame(c, s, &u, 3);
	assert_int_equal(task_number(body_of(&u)), 1);

	ts_stop(s); /* bearmond goes away */
	wait_connected(c, false);
	assert_int_equal(bm_client_task(c, 1, &(struct bm_client_task_report){.task_id = "t-2"}),
			 0);
	ts_listen(s);				/* and comes back */
	handshake(c, s, 1 << 20, NO_HEARTBEAT); /* a new hello */
	expect_frame(c, s, &u, 3);
	assert_int_equal(task_number(body_of(&u)), 2);
	msgpack_unpacked_destroy(&u);
	assert_int_equal(stats(c).connects, 2);
	assert_int_equal(stats(c).disconnects, 1);
	assert_int_equal(s->accepted, 2);
	bm_client_free(c);
}

/* The server vanishes while the client writes: EPIPE, never SIGPIPE
 * (whose default action would end this test process). */
static void test_peer_close_raises_no_sigpipe(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);

	signal(SIGPIPE, SIG_DFL);
	handshake(c, s, 1 << 20, NO_HEARTBEAT);
	ts_drop_client(s);
	for (int i = 0; i < 200 && stats(c).connected; i++) {
		bm_client_task(c, 1, NULL);
		bm_client_gauge(c, "x", i, NULL, 0);
		bm_client_flush(c, 5);
	}
	wait_connected(c, false);
	assert_int_equal(stats(c).disconnects, 1);
	handshake(c, s, 1 << 20, NO_HEARTBEAT); /* and reconnects to the same listener */
	bm_client_free(c);
}

/* The same at the lowest level: a write to a closed peer is an error
 * return, whatever the test process's SIGPIPE disposition. */
static void test_send_to_closed_peer_is_an_error(void **state)
{
	int sv[2];

	(void)state;
	signal(SIGPIPE, SIG_DFL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(bmc_send(sv[0], "x", 1), BM_EIO);
	close(sv[0]);
}

static void error_body(msgpack_packer *pk, const void *arg)
{
	(void)arg;
	msgpack_pack_map(pk, 2);
	pack_str(pk, "code");
	pack_str(pk, "replaced");
	pack_str(pk, "message");
	pack_str(pk, "a newer connection took this agent id");
}

static void test_server_error_and_version(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	msgpack_unpacked u;
	struct bm_client_stats st;

	handshake(c, s, 1 << 20, NO_HEARTBEAT);
	ts_send(s, 9, error_body, NULL);
	ts_drop_client(s);
	wait_connected(c, false);
	st = stats(c);
	assert_int_equal(st.server_errors, 1);
	assert_string_equal(st.last_error, "replaced: a newer connection took this agent id");

	/* a server that only speaks version 2 is refused */
	msgpack_unpacked_init(&u);
	expect_frame(c, s, &u, 1);
	msgpack_unpacked_destroy(&u);
	ts_send_welcome(s, 2, 1 << 20, NO_HEARTBEAT);
	for (int i = 0; i < 4000 && !strstr(stats(c).last_error, "version"); i++)
		bm_client_poll(c, 5);
	st = stats(c);
	assert_string_equal(st.last_error, "version: server speaks protocol 2");
	assert_int_equal(st.connects, 1);
	assert_false(st.connected);
	bm_client_free(c);
}

/* ---- background thread ------------------------------------------------------ */

static void test_thread_mode(void **state)
{
	struct ts_server *s = *state;
	struct bm_client *c = new_client(s, 0);
	struct seen seen = {0};
	msgpack_unpacked u;
	char detail[64];

	bm_client_on_command(c, on_command, &seen);
	assert_int_equal(bm_client_start_thread(c), 0);
	assert_int_equal(bm_client_start_thread(c), BM_ESTATE);
	assert_int_equal(bm_client_poll(c, 0), BM_ESTATE);
	handshake(NULL, s, 1 << 20, NO_HEARTBEAT);
	wait_connected(c, true);

	assert_int_equal(bm_client_gauge(c, "agent_quality_reliability", 0.99, NULL, 0), 0);
	assert_int_equal(bm_client_flush(c, 10000), 0);
	msgpack_unpacked_init(&u);
	expect_frame(NULL, s, &u, 4);
	assert_true(command_roundtrip(NULL, s, "cmd-t", detail, sizeof(detail)));
	assert_int_equal(seen.calls, 1);
	assert_false(pthread_equal(seen.thread, pthread_self())); /* the client's thread */

	bm_client_free(c); /* joins the thread and says bye */
	expect_frame(NULL, s, &u, 10);
	msgpack_unpacked_destroy(&u);
}

/* ---- options ----------------------------------------------------------------- */

static void test_invalid_options(void **state)
{
	struct ts_server *s = *state;
	struct bm_client_opts o = BM_CLIENT_OPTS_INIT;
	struct bm_err err = {0};

	o.address = s->address;
	assert_null(bm_client_new(&o, &err)); /* no agent id */
	assert_int_equal(err.code, BM_EINVAL);
	o.agent_id = "has space";
	assert_null(bm_client_new(&o, &err));
	o.agent_id = "ok";
	o.address = "ftp:somewhere";
	assert_null(bm_client_new(&o, &err));
	o.address = "tcp:nohostport";
	assert_null(bm_client_new(&o, &err));
	o.address = s->address;
	o.buffer_limit = 1000;
	assert_null(bm_client_new(&o, &err));
	o.buffer_limit = 0;
	o.labels = (struct bm_client_kv[]){{"bad-key", "v"}};
	o.n_labels = 1;
	assert_null(bm_client_new(&o, &err));
	o.n_labels = 0;
	o.size = 0;
	assert_null(bm_client_new(&o, &err));
	o.size = sizeof(o);
	o.address = "tcp:127.0.0.1:1";
	struct bm_client *c = bm_client_new(&o, &err);
	assert_non_null(c); /* nothing listens there: it just keeps trying */
	assert_int_equal(bm_client_gauge(c, "up", 1, NULL, 0), 0);
	bm_client_poll(c, 20);
	assert_int_equal(bm_client_flush(c, 0), BM_EAGAIN);
	bm_client_free(c);
	bm_client_free(NULL);
}

/* ---- the queue itself ------------------------------------------------------- */

/* A task frame of total length len whose body bytes are all tag. */
static size_t mk_frame(uint8_t *f, uint8_t tag, size_t len)
{
	bmc_put_be32(f, (uint32_t)(len - 4));
	f[4] = 0x92;
	f[5] = 3;
	memset(f + 6, tag, len - 6);
	return len;
}

static void assert_frame_at(const struct bmc_queue *q, size_t off, uint8_t tag, size_t len)
{
	const uint8_t *f = q->data + q->head + off;

	assert_int_equal(bmc_get_be32(f), len - 4);
	for (size_t i = 6; i < len; i++)
		assert_int_equal(f[i], tag);
}

static void test_queue_drops_behind_partly_written_head(void **state)
{
	struct bmc_queue q;
	struct bmc_drops d = {0};
	uint8_t f[256];

	(void)state;
	bmc_queue_init(&q, 100);
	for (uint8_t tag = 'A'; tag <= 'C'; tag++)
		assert_int_equal(bmc_queue_push(&q, f, mk_frame(f, tag, 30), NULL, 0, 0, &d), 0);
	assert_int_equal(bmc_queue_consumed(&q, 10), 0); /* A is on the wire, in part */
	assert_int_equal(bmc_queue_push(&q, f, mk_frame(f, 'D', 30), NULL, 0, 0, &d), 0);
	/* B went; A stays whole and first, so the stream stays intact */
	assert_int_equal(d.messages, 1);
	assert_int_equal(d.bytes, 30);
	assert_int_equal(bmc_queue_used(&q), 90);
	assert_frame_at(&q, 0, 'A', 30);
	assert_frame_at(&q, 30, 'C', 30);
	assert_frame_at(&q, 60, 'D', 30);
	assert_int_equal(bmc_queue_consumed(&q, 20), 1);
	assert_frame_at(&q, 0, 'C', 30);

	/* not written: dropped from the front */
	assert_int_equal(bmc_queue_push(&q, f, mk_frame(f, 'E', 90), NULL, 0, 0, &d), 0);
	assert_int_equal(d.messages, 3);
	assert_frame_at(&q, 0, 'E', 90);
	/* a frame over the whole budget is refused and counted */
	assert_int_equal(bmc_queue_push(&q, f, mk_frame(f, 'F', 200), NULL, 0, 0, &d), BM_EAGAIN);
	assert_int_equal(d.messages, 4);
	assert_frame_at(&q, 0, 'E', 90);
	/* a lost connection rewinds to the start of the head frame */
	assert_int_equal(bmc_queue_consumed(&q, 50), 0);
	bmc_queue_rewind(&q);
	{
		size_t n;
		bmc_queue_pending(&q, &n);
		assert_int_equal(n, 90);
	}
	assert_int_equal(bmc_queue_consumed(&q, 90), 1);
	assert_true(bmc_queue_empty(&q));
	bmc_queue_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hello_first_then_data_after_welcome, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_task_shape, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metric_batch_shape, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_coord_shape, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_heartbeat_when_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_and_ack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_buffer_drops_oldest_tasks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_buffer_drops_oldest_samples, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_message_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_max_frame_respected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect_after_server_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_close_raises_no_sigpipe, setup, teardown),
	    cmocka_unit_test(test_send_to_closed_peer_is_an_error),
	    cmocka_unit_test_setup_teardown(test_server_error_and_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thread_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_options, setup, teardown),
	    cmocka_unit_test(test_queue_drops_behind_partly_written_head),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
