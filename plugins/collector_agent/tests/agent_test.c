/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the agent plugin with its I/O thread running: real
 * clients on a Unix socket, the derived metrics of a collection, bad input
 * of every kind, command routing with acks and timeouts, and the limits.
 * The host table is the fake host's with thread-safe capture added, since
 * the plugin publishes from its own thread.
 */
#include "agent.c"

#include <msgpack.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "plugintest.h"

#define PT_WAIT_STEPS 1000 /* x 10 ms: generous for sanitizer builds */

/* ---------------------------------------------------------------------
 * The host: fake host + capture of what the I/O thread publishes
 * --------------------------------------------------------------------- */

struct cap_agent {
	char id[64];
	int kind, state;
	int64_t pid;
	char type[32];
};
struct cap_ack {
	char id[64];
	bool ok;
	char detail[128];
	char result[64]; /* first result value */
};

static struct {
	pthread_mutex_t lock;
	struct cap_agent agents[256];
	size_t n_agents;
	struct cap_ack acks[64];
	size_t n_acks;
	uint64_t samples, stale;
	bm_event_cb cmd_cb;
	void *cmd_user;
} cap = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct bm_host_api api;
static const struct bm_host_api *fake;
static char sub_token;

static int t_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	struct bm_arena ar = {0};
	pthread_mutex_lock(&cap.lock);
	struct bm_agent_event e;
	struct bm_agent_ack_event k;
	if (!strcmp(topic, BM_TOPIC_AGENT) && cap.n_agents < 256 && !bm_agent_decode(body, len, &e, &ar)) {
		struct cap_agent *c = &cap.agents[cap.n_agents++];
		snprintf(c->id, sizeof(c->id), "%s", e.agent_id);
		snprintf(c->type, sizeof(c->type), "%s", e.type ? e.type : "");
		c->kind = (int)e.kind;
		c->state = (int)e.state;
		c->pid = e.pid;
	} else if (!strcmp(topic, BM_TOPIC_AGENT_ACK) && cap.n_acks < 64 &&
		   !bm_agent_ack_decode(body, len, &k, &ar)) {
		struct cap_ack *c = &cap.acks[cap.n_acks++];
		snprintf(c->id, sizeof(c->id), "%s", k.command_id);
		c->ok = k.ok;
		snprintf(c->detail, sizeof(c->detail), "%s", k.detail ? k.detail : "");
		snprintf(c->result, sizeof(c->result), "%s", k.n_result ? k.result[0].value : "");
	}
	int rc = fake->publish(ctx, topic, body, len);
	pthread_mutex_unlock(&cap.lock);
	bm_arena_free(&ar);
	return rc;
}

static int t_publish_metrics(struct bm_ctx *ctx, const struct bm_metric_batch *b)
{
	pthread_mutex_lock(&cap.lock);
	for (size_t i = 0; i < b->n_samples; i++) {
		cap.samples++;
		cap.stale += bm_is_stale_nan(b->samples[i].value);
	}
	int rc = fake->publish_metrics(ctx, b);
	pthread_mutex_unlock(&cap.lock);
	return rc;
}

static int t_subscribe(struct bm_ctx *ctx, const struct bm_sub_opts *o, bm_event_cb cb, void *user,
		       struct bm_sub **out)
{
	(void)ctx;
	assert_string_equal(o->topic, BM_TOPIC_AGENT_COMMAND);
	pthread_mutex_lock(&cap.lock);
	cap.cmd_cb = cb;
	cap.cmd_user = user;
	pthread_mutex_unlock(&cap.lock);
	*out = (struct bm_sub *)&sub_token;
	return 0;
}

static void t_unsubscribe(struct bm_sub *s)
{
	assert_ptr_equal(s, &sub_token);
	pthread_mutex_lock(&cap.lock);
	cap.cmd_cb = NULL;
	pthread_mutex_unlock(&cap.lock);
}

static int64_t wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t t_now(struct bm_ctx *ctx)
{
	(void)ctx;
	return wall_now();
}

static void use_test_host(void)
{
	fake = fakehost_api();
	api = *fake;
	api.publish = t_publish;
	api.publish_metrics = t_publish_metrics;
	api.subscribe = t_subscribe;
	api.unsubscribe = t_unsubscribe;
	api.now_ms = t_now;
	bm__host_api = &api;
	pthread_mutex_lock(&cap.lock);
	cap.n_agents = cap.n_acks = 0;
	cap.samples = cap.stale = 0;
	pthread_mutex_unlock(&cap.lock);
}

/* The value fakehost_value() reports, read under the capture lock. */
static double value(const char *name, const char *labels)
{
	pthread_mutex_lock(&cap.lock);
	double v = fakehost_value(name, labels);
	pthread_mutex_unlock(&cap.lock);
	return v;
}

#define assert_near(got, want, rel)                                                         \
	do {                                                                                \
		double g_ = (got), w_ = (want);                                             \
		if (!(fabs(g_ - w_) <= (rel) * fmax(fabs(w_), 1e-12)))                     \
			fail_msg("%s = %.17g, want %.17g", #got, g_, w_);                   \
	} while (0)

/* Wait (bounded) for cond, evaluated under the capture lock. */
#define wait_for(cond)                                                                       \
	do {                                                                                 \
		bool ok_ = false;                                                            \
		for (int i_ = 0; i_ < PT_WAIT_STEPS && !ok_; i_++) {                         \
			pthread_mutex_lock(&cap.lock);                                       \
			ok_ = (cond);                                                        \
			pthread_mutex_unlock(&cap.lock);                                     \
			if (!ok_)                                                            \
				usleep(10000);                                               \
		}                                                                            \
		if (!ok_)                                                                    \
			fail_msg("timed out waiting for %s", #cond);                         \
	} while (0)

/* A counter of the plugin, read as the host would. */
static uint64_t stat_of(struct ag_state *s, const char *name)
{
	for (size_t i = 0; i < sizeof(counters) / sizeof(*counters); i++)
		if (!strcmp(counters[i].name, name))
			return __atomic_load_n(counter_of(s, &counters[i]), __ATOMIC_RELAXED);
	fail_msg("no counter %s", name);
	return 0;
}

#define wait_stat(s, name, want)                                                             \
	do {                                                                                 \
		int i_ = 0;                                                                  \
		copy_reg_counters(s);                                                        \
		while (stat_of(s, name) < (want) && i_++ < PT_WAIT_STEPS) {                  \
			usleep(10000);                                                       \
			copy_reg_counters(s);                                                \
		}                                                                            \
		assert_int_equal(stat_of(s, name), (want));                                  \
	} while (0)

static bool has_agent_event(const char *id, int kind, int state)
{
	for (size_t i = 0; i < cap.n_agents; i++)
		if (!strcmp(cap.agents[i].id, id) && cap.agents[i].kind == kind &&
		    cap.agents[i].state == state)
			return true;
	return false;
}

static const struct cap_ack *ack_of(const char *id)
{
	for (size_t i = 0; i < cap.n_acks; i++)
		if (!strcmp(cap.acks[i].id, id))
			return &cap.acks[i];
	return NULL;
}

/* ---------------------------------------------------------------------
 * The plugin under test
 * --------------------------------------------------------------------- */

struct fixture {
	struct ag_conf conf;
	struct ag_state *s;
	char dir[64];
	char sock[100];
};

static void start(struct fixture *f, void (*tune)(struct ag_conf *))
{
	use_test_host();
	memset(f, 0, sizeof(*f));
	pt_conf_defaults(ag_options, &f->conf);
	pt_mkdtemp(f->dir, sizeof(f->dir), "bm-agent-test-");
	snprintf(f->sock, sizeof(f->sock), "%s/agent.sock", f->dir);
	pt_set_str(&f->conf.unix_path, f->sock);
	if (tune)
		tune(&f->conf);
	f->s = pt_init(&ag_ops, &f->conf);
	struct bm_err err = {0};
	assert_int_equal(ag_ops.start(f->s, &err), 0);
}

static void finish(struct fixture *f)
{
	ag_ops.stop(f->s);
	struct stat sb;
	assert_int_not_equal(stat(f->sock, &sb), 0); /* the socket file is removed */
	pthread_mutex_lock(&cap.lock);
	pt_close(&ag_ops, ag_options, f->s, &f->conf);
	pthread_mutex_unlock(&cap.lock);
	pt_rm_tree(f->dir);
}

/* ---------------------------------------------------------------------
 * A client written against the wire format
 * --------------------------------------------------------------------- */

struct client {
	int fd;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object last;
};

static void client_open(struct client *c, const struct fixture *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	msgpack_sbuffer_init(&c->sb);
	msgpack_packer_init(&c->pk, &c->sb, msgpack_sbuffer_write);
	msgpack_zone_init(&c->zone, 4096);
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	msgpack_sbuffer_destroy(&c->sb);
	msgpack_zone_destroy(&c->zone);
}

static void send_raw(struct client *c, const void *p, size_t n)
{
	assert_int_equal(send(c->fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Send the packed body as one frame and start a new body. */
static void send_frame(struct client *c)
{
	uint32_t n = (uint32_t)c->sb.size;
	uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	send_raw(c, h, 4);
	send_raw(c, c->sb.data, c->sb.size);
	msgpack_sbuffer_clear(&c->sb);
}

static void pstr(struct client *c, const char *s)
{
	msgpack_pack_str(&c->pk, strlen(s));
	msgpack_pack_str_body(&c->pk, s, strlen(s));
}

static bool read_full(int fd, void *p, size_t n)
{
	for (size_t got = 0; got < n;) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, PT_WAIT_STEPS * 10) <= 0)
			return false;
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* The next frame from the server as a msgpack object; false on EOF. */
static bool recv_frame(struct client *c)
{
	uint8_t h[4];
	if (!read_full(c->fd, h, 4))
		return false;
	uint32_t n = ap_frame_len(h);
	char *body = msgpack_zone_malloc(&c->zone, n);
	assert_non_null(body);
	assert_true(read_full(c->fd, body, n));
	size_t off = 0;
	assert_int_equal(msgpack_unpack(body, n, &off, &c->zone, &c->last), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(c->last.type, MSGPACK_OBJECT_ARRAY);
	return true;
}

/* Value of key in the map of the last frame's second element. */
static const msgpack_object *field(const struct client *c, const char *key)
{
	const msgpack_object_map *m = &c->last.via.array.ptr[1].via.map;
	for (uint32_t i = 0; i < m->size; i++)
		if (m->ptr[i].key.via.str.size == strlen(key) &&
		    !memcmp(m->ptr[i].key.via.str.ptr, key, strlen(key)))
			return &m->ptr[i].val;
	fail_msg("no key %s", key);
	return NULL;
}

static bool field_is(const struct client *c, const char *key, const char *want)
{
	const msgpack_object *o = field(c, key);
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(want) &&
	       !memcmp(o->via.str.ptr, want, strlen(want));
}

/* The server answers with error code `code`, then closes. */
static void expect_error(struct client *c, const char *code)
{
	assert_true(recv_frame(c));
	assert_int_equal(c->last.via.array.ptr[0].via.u64, AP_ERROR);
	if (!field_is(c, "code", code))
		fail_msg("error code is not %s", code);
	assert_false(recv_frame(c));
}

static void hello(struct client *c, const char *id, const char *type, int64_t pid)
{
	msgpack_pack_array(&c->pk, 2);
	msgpack_pack_int(&c->pk, AP_HELLO);
	msgpack_pack_map(&c->pk, 6);
	pstr(c, "v"), msgpack_pack_int(&c->pk, 1);
	pstr(c, "agent_id"), pstr(c, id);
	pstr(c, "type"), pstr(c, type);
	pstr(c, "pid"), msgpack_pack_int64(&c->pk, pid);
	pstr(c, "labels"), msgpack_pack_map(&c->pk, 1), pstr(c, "team"), pstr(c, "ai");
	pstr(c, "capabilities"), msgpack_pack_array(&c->pk, 1), pstr(c, "set_batch_size");
	send_frame(c);
	assert_true(recv_frame(c));
	assert_int_equal(c->last.via.array.ptr[0].via.u64, AP_WELCOME);
	assert_int_equal(field(c, "v")->via.u64, 1);
}

static void task(struct client *c, double ms, const char *outcome, const char *cls, int64_t tin,
		 int64_t tout)
{
	msgpack_pack_array(&c->pk, 2);
	msgpack_pack_int(&c->pk, AP_TASK);
	msgpack_pack_map(&c->pk, cls ? 6 : 5);
	pstr(c, "type"), pstr(c, "plan");
	pstr(c, "duration_ms"), msgpack_pack_double(&c->pk, ms);
	pstr(c, "outcome"), pstr(c, outcome);
	pstr(c, "tokens_in"), msgpack_pack_int64(&c->pk, tin);
	pstr(c, "tokens_out"), msgpack_pack_int64(&c->pk, tout);
	if (cls)
		pstr(c, "error_class"), pstr(c, cls);
	send_frame(c);
}

static void coord(struct client *c, const char *peer, double lat, double sync, int64_t bytes)
{
	msgpack_pack_array(&c->pk, 2);
	msgpack_pack_int(&c->pk, AP_COORD);
	msgpack_pack_map(&c->pk, 5);
	pstr(c, "peer"), pstr(c, peer);
	pstr(c, "latency_ms"), msgpack_pack_double(&c->pk, lat);
	pstr(c, "sync_wait_ms"), msgpack_pack_double(&c->pk, sync);
	pstr(c, "messages"), msgpack_pack_int(&c->pk, 2);
	pstr(c, "bytes"), msgpack_pack_int64(&c->pk, bytes);
	send_frame(c);
}

/* [4, [[name, kind, value, {label: value}]]] with one sample. */
static void metric(struct client *c, const char *name, int kind, double v, const char *lk,
		   const char *lv)
{
	msgpack_pack_array(&c->pk, 2);
	msgpack_pack_int(&c->pk, AP_METRIC);
	msgpack_pack_array(&c->pk, 1);
	msgpack_pack_array(&c->pk, 4);
	pstr(c, name), msgpack_pack_int(&c->pk, kind), msgpack_pack_double(&c->pk, v);
	if (lk)
		msgpack_pack_map(&c->pk, 1), pstr(c, lk), pstr(c, lv);
	else
		msgpack_pack_nil(&c->pk);
	send_frame(c);
}

/* ---------------------------------------------------------------------
 * Tests
 * --------------------------------------------------------------------- */

#define A1 "agent=a1,agent_type=planner,team=ai"

static void test_session(void **unused)
{
	(void)unused;
	struct fixture f;
	struct client c;
	start(&f, NULL);
	client_open(&c, &f);
	hello(&c, "a1", "planner", 4242);
	wait_for(has_agent_event("a1", BM_AGENT_HELLO, BM_AGENT_CONNECTED));
	assert_int_equal(cap.agents[0].pid, 4242);
	assert_string_equal(cap.agents[0].type, "planner");
	for (int i = 1; i <= 10; i++)
		task(&c, i * 10.0, i <= 8 ? "ok" : "error", i <= 8 ? NULL : "tool_failure", 3, 5);
	coord(&c, "r1", 20, 5, 300);
	metric(&c, "agent_cache_hits_total", 1, 2, "cache", "kv");
	metric(&c, "agent_cache_hits_total", 1, 3, "cache", "kv");
	metric(&c, "agent_quality_accuracy", 2, 0.75, NULL, NULL);
	wait_stat(f.s, "bearmon_agent_frames_total", 15);
	wait_for(!isnan(fakehost_value("agent_quality_accuracy", A1)));

	int64_t now = wall_now();
	pt_collect_ok(&ag_ops, f.s, now);
	assert_value("agent_up", A1, 1);
	assert_value("agent_tasks_total", "agent=a1,agent_type=planner,outcome=ok,task_type=plan,team=ai", 8);
	assert_value("agent_tasks_total", "agent=a1,agent_type=planner,outcome=error,task_type=plan,team=ai", 2);
	assert_value("agent_task_errors_total", "agent=a1,agent_type=planner,error_class=tool_failure,task_type=plan,team=ai", 2);
	assert_value("agent_error_ratio", A1, 0.2);
	assert_value("agent_success_ratio", A1, 0.8);
	assert_value("agent_tokens_total", "agent=a1,agent_type=planner,direction=in,team=ai", 30);
	assert_value("agent_tokens_total", "agent=a1,agent_type=planner,direction=out,team=ai", 50);
	assert_value("agent_task_duration_seconds_count", A1, 10);
	assert_value("agent_task_duration_seconds_sum", A1, 0.55);
	assert_value("agent_task_duration_avg_seconds", A1, 0.055);
	assert_near(value("agent_task_duration_seconds", "agent=a1,agent_type=planner,quantile=0.5,team=ai"), 0.05, 1.0 / 64);
	assert_near(value("agent_task_duration_seconds", "agent=a1,agent_type=planner,quantile=0.99,team=ai"), 0.1, 1.0 / 64);
	assert_value("agent_coordination_latency_seconds", "agent=a1,agent_type=planner,peer=r1,team=ai", 0.02);
	assert_value("agent_sync_wait_seconds_total", "agent=a1,agent_type=planner,peer=r1,team=ai", 0.005);
	assert_value("agent_communication_bytes_total", "agent=a1,agent_type=planner,peer=r1,team=ai", 300);
	assert_value("agent_communication_overhead_ratio", A1, 25.0 / 550);
	assert_value("agent_availability_ratio", A1, 1);
	assert_true(value("agent_task_throughput", A1) > 0);
	/* the same figures per type */
	assert_value("agent_error_ratio", "agent_type=planner", 0.2);
	assert_near(value("agent_task_duration_seconds", "agent_type=planner,quantile=0.99"), 0.1, 1.0 / 64);
	/* custom metrics: the counter's increments summed, identity labels added */
	assert_value("agent_cache_hits_total", "agent=a1,agent_type=planner,cache=kv,team=ai", 5);
	assert_value("agent_quality_accuracy", A1, 0.75);
	assert_int_equal(fakehost_meta("agent_cache_hits_total")->type, BM_METRIC_COUNTER);

	/* the agent leaves: its custom series end, then its derived ones */
	client_close(&c);
	wait_for(has_agent_event("a1", BM_AGENT_STATE, BM_AGENT_DISCONNECTED));
	wait_for(cap.stale == 2);
	size_t before = fakehost_count("agent_up");
	pt_collect_ok(&ag_ops, f.s, now + 1000);
	assert_int_equal(fakehost_count("agent_up"), before);
	assert_value("agent_availability_ratio", "agent_type=planner", 0.5);
	finish(&f);
}

static void short_hello(struct ag_conf *c) { c->hello_timeout = 300; }

static void test_bad_input(void **unused)
{
	(void)unused;
	struct fixture f;
	struct client good, c;
	start(&f, short_hello);
	client_open(&good, &f);
	hello(&good, "good", "worker", 1);

	client_open(&c, &f); /* metric before hello */
	metric(&c, "x", 2, 1, NULL, NULL);
	expect_error(&c, "protocol");
	client_close(&c);
	wait_stat(f.s, "bearmon_agent_protocol_errors_order_total", 1);

	client_open(&c, &f); /* oversized frame: refused from its header */
	send_raw(&c, "\x00\x10\x00\x01", 4);
	expect_error(&c, "too_large");
	client_close(&c);
	wait_stat(f.s, "bearmon_agent_protocol_errors_too_large_total", 1);

	client_open(&c, &f); /* invalid msgpack */
	send_raw(&c, "\x00\x00\x00\x02\x93\x01", 6);
	expect_error(&c, "protocol");
	client_close(&c);
	wait_stat(f.s, "bearmon_agent_protocol_errors_msgpack_total", 1);

	client_open(&c, &f); /* wrong types in valid msgpack: agent_id an int */
	send_raw(&c, "\x00\x00\x00\x0d\x92\x01\x81\xa8" "agent_id\x05", 17);
	expect_error(&c, "protocol");
	client_close(&c);
	wait_stat(f.s, "bearmon_agent_protocol_errors_shape_total", 1);

	client_open(&c, &f); /* invalid UTF-8 in a sample name, after hello */
	hello(&c, "bad-utf8", "worker", 2);
	send_raw(&c, "\x00\x00\x00\x09\x92\x04\x91\x93\xa2\xc3\x28\x02\x01", 13);
	expect_error(&c, "protocol");
	client_close(&c);
	wait_stat(f.s, "bearmon_agent_protocol_errors_utf8_total", 1);

	client_open(&c, &f); /* hello with a version we do not speak */
	send_raw(&c, "\x00\x00\x00\x12\x92\x01\x82\xa1v\x02\xa8" "agent_id\xa2id", 22);
	expect_error(&c, "version");
	client_close(&c);

	client_open(&c, &f); /* says nothing: closed after hello_timeout */
	expect_error(&c, "protocol");
	client_close(&c);
	wait_stat(f.s, "bearmon_agent_hello_timeouts_total", 1);

	client_open(&c, &f); /* disconnects in the middle of a frame */
	hello(&c, "cut", "worker", 3);
	send_raw(&c, "\x00\x00\x01\x00\x92\x04", 6);
	client_close(&c);
	wait_stat(f.s, "bearmon_agent_disconnects_midframe_total", 1);
	wait_for(has_agent_event("cut", BM_AGENT_STATE, BM_AGENT_DISCONNECTED));

	/* everyone else is still served */
	uint64_t samples = stat_of(f.s, "bearmon_agent_samples_total");
	metric(&good, "good_value", 2, 7, NULL, NULL);
	wait_stat(f.s, "bearmon_agent_samples_total", samples + 1);
	metric(&good, "bad-name", 2, 7, NULL, NULL);  /* dropped, counted, not fatal */
	metric(&good, "good_value", 1, 7, NULL, NULL); /* a gauge sent as a counter */
	wait_stat(f.s, "bearmon_agent_samples_invalid_total", 2);
	task(&good, -5, "ok", NULL, 0, 0); /* a negative duration */
	wait_stat(f.s, "bearmon_agent_messages_invalid_total", 1);
	metric(&good, "good_value", 2, 8, NULL, NULL);
	wait_stat(f.s, "bearmon_agent_samples_total", samples + 2);
	client_close(&good);
	finish(&f);
}

static void command(const char *id, const char *agent, int64_t deadline)
{
	struct bm_kv args[] = {{"size", "8"}};
	struct bm_agent_command_event e = {.ts_ms = wall_now(), .command_id = id, .agent_id = agent,
					   .name = "set_batch_size", .args = args, .n_args = 1,
					   .deadline_ms = deadline};
	struct bm_buf b = {0};
	assert_int_equal(bm_agent_command_encode(&e, &b), 0);
	pthread_mutex_lock(&cap.lock);
	bm_event_cb cb = cap.cmd_cb;
	void *user = cap.cmd_user;
	pthread_mutex_unlock(&cap.lock);
	assert_non_null(cb);
	cb(user, BM_TOPIC_AGENT_COMMAND, b.data, b.len);
	bm_buf_free(&b);
}

static void test_commands(void **unused)
{
	(void)unused;
	struct fixture f;
	struct client c;
	start(&f, NULL);
	client_open(&c, &f);
	hello(&c, "a1", "planner", 1);

	command("c1", "a1", wall_now() + 60000);
	assert_true(recv_frame(&c));
	assert_int_equal(c.last.via.array.ptr[0].via.u64, AP_COMMAND);
	assert_true(field_is(&c, "id", "c1"));
	assert_true(field_is(&c, "name", "set_batch_size"));
	assert_int_equal(field(&c, "args")->via.map.size, 1);
	msgpack_pack_array(&c.pk, 2);
	msgpack_pack_int(&c.pk, AP_ACK);
	msgpack_pack_map(&c.pk, 4);
	pstr(&c, "id"), pstr(&c, "c1");
	pstr(&c, "ok"), msgpack_pack_true(&c.pk);
	pstr(&c, "detail"), pstr(&c, "batch size now 8");
	pstr(&c, "result"), msgpack_pack_map(&c.pk, 1), pstr(&c, "previous"), pstr(&c, "4");
	send_frame(&c);
	wait_for(ack_of("c1") != NULL);
	assert_true(ack_of("c1")->ok);
	assert_string_equal(ack_of("c1")->result, "4");
	assert_string_equal(ack_of("c1")->detail, "batch size now 8");

	command("c2", "nobody", wall_now() + 60000);
	wait_for(ack_of("c2") != NULL);
	assert_false(ack_of("c2")->ok);
	assert_string_equal(ack_of("c2")->detail, "agent not connected");

	command("c3", "a1", wall_now() + 200); /* delivered, never answered */
	assert_true(recv_frame(&c));
	wait_for(ack_of("c3") != NULL);
	assert_false(ack_of("c3")->ok);
	assert_non_null(strstr(ack_of("c3")->detail, "timed out"));

	command("c4", "a1", wall_now() + 60000); /* pending when the agent leaves */
	assert_true(recv_frame(&c));
	client_close(&c);
	wait_for(ack_of("c4") != NULL);
	assert_string_equal(ack_of("c4")->detail, "agent disconnected");
	wait_stat(f.s, "bearmon_agent_command_failures_total", 3);
	finish(&f);
}

static void small_limits(struct ag_conf *c)
{
	c->max_connections = 3;
	c->max_series_per_agent = 3;
	c->max_label_value_len = 8;
}

static void test_limits(void **unused)
{
	(void)unused;
	struct fixture f;
	struct client a, b, c, d;
	start(&f, small_limits);
	client_open(&a, &f);
	hello(&a, "a1", "planner", 1);
	client_open(&b, &f);
	client_open(&c, &f);
	client_open(&d, &f);
	expect_error(&d, "limit");
	client_close(&d);
	wait_stat(f.s, "bearmon_agent_connections_refused_total", 1);

	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "m%d", i);
		metric(&a, name, 2, i, NULL, NULL);
	}
	metric(&a, "m0", 2, 1, "k", "longer than eight");
	wait_stat(f.s, "bearmon_agent_series_dropped_total", 2);
	wait_stat(f.s, "bearmon_agent_labels_dropped_total", 1);
	wait_stat(f.s, "bearmon_agent_samples_total", 3);

	/* the same agent id from another connection takes over */
	hello(&b, "a1", "planner", 2);
	expect_error(&a, "replaced");
	wait_for(cap.stale == 3); /* the old connection's series ended */
	metric(&b, "m4", 2, 4, NULL, NULL);
	wait_stat(f.s, "bearmon_agent_samples_total", 4);
	client_close(&a);
	client_close(&b);
	client_close(&c);
	finish(&f);
}

static void count_changed(void *u, struct agent *a)
{
	(void)a;
	(*(int *)u)++;
}

/* Windows and staleness on the registry alone, with a fixed clock. */
static void test_windows(void **unused)
{
	(void)unused;
	use_test_host();
	struct registry r;
	struct reg_conf rc = {.interval_ms = 1000, .win_slots = 3, .avail_slots = 4,
			      .heartbeat_ms = 1000, .forget_ms = 5000, .max_agents = 2,
			      .card = {.max_series = 10}};
	assert_int_equal(reg_init(&r, &rc), 0);
	struct ap_hello h = {.v = 1, .agent_id = {"w1", 2}, .type = {"t", 1}};
	char why[128];
	assert_int_equal(reg_check_hello(&r, &h, why, sizeof(why)), AP_OK);
	void *replaced;
	bool limit;
	int conn1, conn2, conn3;
	struct agent *a = reg_hello(&r, &h, "unix", &conn1, 0, &replaced, &limit);
	assert_non_null(a);
	struct ap_task t = {.outcome = {"ok", 2}, .has_duration = true, .duration_ms = 4};
	assert_true(reg_task(&r, a, &t));
	t.duration_ms = -1;
	assert_false(reg_task(&r, a, &t));
	struct bm_batch b = {0};
	assert_int_equal(reg_collect(&r, &b, 1000), 0);
	struct bm_metric_batch mb;
	bm_batch_view(&b, &mb);
	assert_int_equal(fake->publish_metrics(fakehost_ctx(), &mb), 0);
	assert_value("agent_task_throughput", "agent=w1,agent_type=t", 1); /* 1 task in 1 s of life */
	assert_value("agent_success_ratio", "agent=w1,agent_type=t", 1);
	for (int64_t now = 2000; now <= 4000; now += 1000) {
		bm_batch_reset(&b);
		assert_int_equal(reg_collect(&r, &b, now), 0);
	}
	bm_batch_view(&b, &mb);
	fakehost_reset();
	use_test_host();
	assert_int_equal(fake->publish_metrics(fakehost_ctx(), &mb), 0);
	assert_value("agent_task_throughput", "agent=w1,agent_type=t", 0); /* out of the window */
	assert_absent("agent_success_ratio", "agent=w1,agent_type=t");
	assert_value("agent_task_duration_seconds_count", "agent=w1,agent_type=t", 1);

	/* silent for 3 heartbeats: stale, and availability falls */
	int changed = 0;
	reg_sweep(&r, 3500, count_changed, &changed);
	assert_int_equal(changed, 1);
	assert_int_equal(a->state, BM_AGENT_STALE);
	bm_batch_reset(&b);
	assert_int_equal(reg_collect(&r, &b, 5000), 0);
	bm_batch_view(&b, &mb);
	fakehost_reset();
	use_test_host();
	assert_int_equal(fake->publish_metrics(fakehost_ctx(), &mb), 0);
	assert_value("agent_up", "agent=w1,agent_type=t", 0);
	assert_value("agent_availability_ratio", "agent=w1,agent_type=t", 0.75);
	assert_true(reg_seen(&r, a, 5100)); /* back */

	/* max_agents: a third agent only once one has left */
	struct ap_hello h2 = {.v = 1, .agent_id = {"w2", 2}, .type = {"", 0}};
	struct ap_hello h3 = {.v = 1, .agent_id = {"w3", 2}, .type = {"", 0}};
	assert_non_null(reg_hello(&r, &h2, "unix", &conn2, 5200, &replaced, &limit));
	assert_null(reg_hello(&r, &h3, "unix", &conn3, 5200, &replaced, &limit));
	assert_true(limit);
	reg_disconnect(&r, a, 5300);
	assert_non_null(reg_hello(&r, &h3, "unix", &conn3, 5400, &replaced, &limit));
	assert_null(reg_find(&r, "w1", 2)); /* the disconnected record made room */
	/* hellos the registry refuses */
	struct ap_kv bad = {{"agent", 5}, {"x", 1}};
	struct ap_hello h4 = {.v = 1, .agent_id = {"w 4", 3}};
	assert_int_equal(reg_check_hello(&r, &h4, why, sizeof(why)), AP_R_HELLO);
	h4 = (struct ap_hello){.v = 1, .agent_id = {"w4", 2}, .labels = &bad, .n_labels = 1};
	assert_int_equal(reg_check_hello(&r, &h4, why, sizeof(why)), AP_R_HELLO);
	assert_non_null(strstr(why, "reserved"));
	h4 = (struct ap_hello){.v = -1, .agent_id = {"w4", 2}};
	assert_int_equal(reg_check_hello(&r, &h4, why, sizeof(why)), AP_R_HELLO);
	bm_batch_free(&b);
	reg_free(&r);
	fakehost_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session),  cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_commands), cmocka_unit_test(test_limits),
		cmocka_unit_test(test_windows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
