/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collector "agent": the server side of the native agent protocol
 * (sdk/PROTOCOL.md). Options, lifecycle, self-metrics, the agent.command
 * subscription and a JSON stats route; the I/O thread is io.c, the agent
 * registry and the derived metrics published on each collection agents.c.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/publish.h"
#include "agents.h"
#include "io.h"

#define AG_VERSION "1.0.0"
#define AG_API "/api/bearmon/v1/agent_protocol/"

struct ag_conf {
	char *unix_path;
	char *unix_mode;
	char *tcp_listen;
	uint64_t max_frame;
	int64_t max_connections;
	uint64_t max_buffered;
	int64_t hello_timeout;
	int64_t heartbeat;
	int64_t window;
	int64_t availability_window;
	int64_t registry_interval;
	int64_t forget_after;
	int64_t command_timeout;
	int64_t max_pending_commands;
	int64_t max_agents;
	int64_t max_series_per_agent;
	int64_t max_labels;
	int64_t max_label_name_len;
	int64_t max_label_value_len;
};

#define KIB 1024.0
#define MIB (1024.0 * 1024.0)
#define SEC 1000.0

static const struct bm_option ag_options[] = {
	BM_OPTION("unix_path", BM_OPT_STRING, NULL, struct ag_conf, unix_path,
		  "unix socket agents connect to; default DATA_DIR/agent.sock, \"\" for none"),
	BM_OPTION("unix_mode", BM_OPT_STRING, "0660", struct ag_conf, unix_mode,
		  "permission bits of the unix socket, octal"),
	BM_OPTION("tcp_listen", BM_OPT_STRING, NULL, struct ag_conf, tcp_listen,
		  "host:port to accept agents on over TCP (e.g. \"127.0.0.1:8126\"); unset: no TCP"),
	BM_OPTION_BOUNDED("max_frame", BM_OPT_SIZE, "1MiB", struct ag_conf, max_frame, KIB,
			  64 * MIB, "largest frame accepted, announced in welcome"),
	BM_OPTION_BOUNDED("max_connections", BM_OPT_INT, "10000", struct ag_conf, max_connections,
			  1, 1000000, "connections at once; more are refused with error code limit"),
	BM_OPTION_BOUNDED("max_buffered", BM_OPT_SIZE, "256MiB", struct ag_conf, max_buffered, MIB,
			  16384 * MIB, "bytes of incomplete frames held for all connections together"),
	BM_OPTION_BOUNDED("hello_timeout", BM_OPT_DURATION, "10s", struct ag_conf, hello_timeout,
			  100, 3600 * SEC, "a connection that has not said hello by then is closed"),
	BM_OPTION_BOUNDED("heartbeat", BM_OPT_DURATION, "5s", struct ag_conf, heartbeat, 100,
			  3600 * SEC, "heartbeat interval announced to agents; 3 missed make an agent stale"),
	BM_OPTION_BOUNDED("window", BM_OPT_DURATION, "10s", struct ag_conf, window, 1 * SEC,
			  600 * SEC, "window of throughput, duration quantiles, ratios and coordination figures"),
	BM_OPTION_BOUNDED("availability_window", BM_OPT_DURATION, "5m", struct ag_conf,
			  availability_window, 1 * SEC, 3600 * SEC,
			  "window of agent_availability_ratio"),
	BM_OPTION_BOUNDED("registry_interval", BM_OPT_DURATION, "10s", struct ag_conf,
			  registry_interval, 1 * SEC, 3600 * SEC,
			  "every connected agent's registry entry is published this often"),
	BM_OPTION_BOUNDED("forget_after", BM_OPT_DURATION, "10m", struct ag_conf, forget_after,
			  0, 7 * 86400 * SEC,
			  "a disconnected agent's record (counters, availability) is kept this long"),
	BM_OPTION_BOUNDED("command_timeout", BM_OPT_DURATION, "30s", struct ag_conf,
			  command_timeout, 100, 3600 * SEC,
			  "deadline of a command whose event gives none"),
	BM_OPTION_BOUNDED("max_pending_commands", BM_OPT_INT, "1024", struct ag_conf,
			  max_pending_commands, 1, 1000000, "commands queued or waiting for an ack"),
	BM_OPTION_BOUNDED("max_agents", BM_OPT_INT, "1000", struct ag_conf, max_agents, 1, 1000000,
			  "agent records (connected, or disconnected and not yet forgotten)"),
	BM_OPTION_BOUNDED("max_series_per_agent", BM_OPT_INT, "1000", struct ag_conf,
			  max_series_per_agent, 1, 10000000,
			  "custom series plus task types, error classes and peers of one agent"),
	BM_OPTION_BOUNDED("max_labels", BM_OPT_INT, "16", struct ag_conf, max_labels, 2, 256,
			  "labels of one series, agent and agent_type included"),
	BM_OPTION_BOUNDED("max_label_name_len", BM_OPT_INT, "128", struct ag_conf,
			  max_label_name_len, 8, 4096, "bytes of a metric or label name"),
	BM_OPTION_BOUNDED("max_label_value_len", BM_OPT_INT, "512", struct ag_conf,
			  max_label_value_len, 8, 65536, "bytes of a label value"),
	BM_OPTION_END,
};

struct ag_state {
	struct bm_ctx *ctx;
	const struct ag_conf *conf;
	char *unix_path;
	unsigned unix_mode;
	struct registry reg;
	struct io *io;
	struct io_stats st;
	struct bm_sub *sub;
	struct bm_batch batch;
	/* copies of the registry's refusal counters for the self-metrics */
	uint64_t dropped_series, dropped_labels, refused_agents, invalid_messages;
};

/* ---------------------------------------------------------------------
 * Self-metrics and the stats route
 * --------------------------------------------------------------------- */

struct counter {
	const char *name;
	size_t off; /* in struct ag_state */
	const char *help;
};

#define C(n, f, h) {n, offsetof(struct ag_state, f), h}
static const struct counter counters[] = {
	C("bearmon_agent_frames_total", st.frames, "frames received"),
	C("bearmon_agent_bytes_total", st.bytes, "bytes received"),
	C("bearmon_agent_samples_total", st.samples, "custom samples decoded and published"),
	C("bearmon_agent_samples_invalid_total", st.samples_invalid,
	  "custom samples dropped: bad name or label, kind change, negative counter increment"),
	C("bearmon_agent_messages_invalid_total", invalid_messages,
	  "task and coord messages dropped for invalid values"),
	C("bearmon_agent_messages_unknown_total", st.messages_unknown,
	  "messages of a type this server does not know, ignored"),
	C("bearmon_agent_protocol_errors_msgpack_total", st.protocol[AP_R_MSGPACK],
	  "connections closed: a frame not exactly one msgpack object"),
	C("bearmon_agent_protocol_errors_shape_total", st.protocol[AP_R_SHAPE],
	  "connections closed: a message of the wrong shape or types"),
	C("bearmon_agent_protocol_errors_utf8_total", st.protocol[AP_R_UTF8],
	  "connections closed: a string not valid UTF-8"),
	C("bearmon_agent_protocol_errors_too_large_total", st.protocol[AP_R_TOO_LARGE],
	  "connections closed: a frame over max_frame (oversized frames)"),
	C("bearmon_agent_protocol_errors_order_total", st.protocol[AP_R_ORDER],
	  "connections closed: a message before hello, or a second hello"),
	C("bearmon_agent_protocol_errors_bad_hello_total", st.protocol[AP_R_HELLO],
	  "connections closed: hello without a valid agent_id, bad labels"),
	C("bearmon_agent_protocol_errors_version_total", st.protocol[AP_R_VERSION],
	  "connections closed: unsupported protocol version"),
	C("bearmon_agent_connections_total", st.connections, "connections accepted"),
	C("bearmon_agent_connections_refused_total", st.refused,
	  "connections refused: max_connections, max_agents or out of file descriptors"),
	C("bearmon_agent_hello_timeouts_total", st.hello_timeouts,
	  "connections closed for saying nothing within hello_timeout"),
	C("bearmon_agent_disconnects_midframe_total", st.midframe,
	  "connections that ended in the middle of a frame"),
	C("bearmon_agent_buffer_overflows_total", st.buffer_overflows,
	  "connections closed because max_buffered was reached"),
	C("bearmon_agent_series_dropped_total", dropped_series,
	  "new series refused: max_series_per_agent reached"),
	C("bearmon_agent_labels_dropped_total", dropped_labels,
	  "new series refused: too many labels, or a name or value too long"),
	C("bearmon_agent_agents_refused_total", refused_agents, "hellos refused: max_agents reached"),
	C("bearmon_agent_commands_total", st.commands, "agent.command events handled"),
	C("bearmon_agent_acks_total", st.acks, "acks received for pending commands"),
	C("bearmon_agent_acks_unmatched_total", st.acks_unmatched,
	  "acks of unknown or timed out commands"),
	C("bearmon_agent_command_failures_total", st.command_failures,
	  "commands answered with ok=false (not connected, timed out, ...)"),
	C("bearmon_agent_publish_failures_total", st.publish_failures,
	  "publications a block-policy subscriber did not take in time"),
};

static const uint64_t *counter_of(const struct ag_state *s, const struct counter *c)
{
	return (const uint64_t *)((const char *)s + c->off);
}

static int register_self_metrics(struct ag_state *s)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof(counters) / sizeof(*counters) && !rc; i++)
		rc = bm_self_counter(s->ctx, counters[i].name, counters[i].help,
				     counter_of(s, &counters[i]));
	if (!rc)
		rc = bm_self_gauge(s->ctx, "bearmon_agent_connections", "open agent connections",
				   &s->st.connections_now);
	if (!rc)
		rc = bm_self_gauge(s->ctx, "bearmon_agent_agents_connected",
				   "agents connected (stale ones included)", &s->st.agents_now);
	return rc;
}

/* The registry's counters, copied under its lock for the self-metrics. */
static void copy_reg_counters(struct ag_state *s)
{
	pthread_mutex_lock(&s->reg.lock);
	uint64_t v[4] = {s->reg.dropped_series, s->reg.dropped_labels, s->reg.refused_agents,
			 s->reg.invalid_messages};
	pthread_mutex_unlock(&s->reg.lock);
	__atomic_store_n(&s->dropped_series, v[0], __ATOMIC_RELAXED);
	__atomic_store_n(&s->dropped_labels, v[1], __ATOMIC_RELAXED);
	__atomic_store_n(&s->refused_agents, v[2], __ATOMIC_RELAXED);
	__atomic_store_n(&s->invalid_messages, v[3], __ATOMIC_RELAXED);
}

/* GET: every counter and gauge as one JSON object (numbers only). */
static void on_stats(void *user, struct bm_http_req *req)
{
	struct ag_state *s = user;
	char buf[4096];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"status\":\"ok\"");
	for (size_t i = 0; i < sizeof(counters) / sizeof(*counters) && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"%s\":%llu", counters[i].name,
				      (unsigned long long)__atomic_load_n(counter_of(s, &counters[i]),
									  __ATOMIC_RELAXED));
	double conns, agents;
	__atomic_load(&s->st.connections_now, &conns, __ATOMIC_RELAXED);
	__atomic_load(&s->st.agents_now, &agents, __ATOMIC_RELAXED);
	if (n < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      ",\"bearmon_agent_connections\":%.0f,\"bearmon_agent_agents_connected\":%.0f}",
				      conns, agents);
	if (n >= sizeof(buf)) {
		bm_http_reply(req, 500, "text/plain", "stats too long", 14);
		return;
	}
	bm_http_reply(req, 200, "application/json", buf, n);
}

/* ---------------------------------------------------------------------
 * Lifecycle
 * --------------------------------------------------------------------- */

static void on_command(void *user, const char *topic, const void *body, size_t len)
{
	(void)topic;
	struct ag_state *s = user;
	io_command(s->io, body, len);
}

static void ag_fini(void *state)
{
	struct ag_state *s = state;
	if (!s)
		return;
	reg_free(&s->reg);
	bm_batch_free(&s->batch);
	free(s->unix_path);
	bm_free(s);
}

static uint32_t slots(int64_t window_ms, int64_t interval_ms)
{
	int64_t n = (window_ms + interval_ms - 1) / (interval_ms > 0 ? interval_ms : 1000);
	return n < 1 ? 1 : (uint32_t)n;
}

static int parse_mode(const char *text, unsigned *mode, struct bm_err *err)
{
	char *end;
	unsigned long m = strtoul(text ? text : "", &end, 8);
	if (!text || !*text || *end || m > 07777)
		return bm_err_set(err, BM_EINVAL, "unix_mode \"%s\": want octal bits such as \"0660\"",
				  text ? text : "");
	*mode = (unsigned)m;
	return 0;
}

static int ag_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct ag_conf *c = conf;
	struct ag_state *s = bm_alloc(sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = c;
	int rc = parse_mode(c->unix_mode, &s->unix_mode, err);
	if (!rc && (!c->unix_path || c->unix_path[0])) {
		if (c->unix_path)
			s->unix_path = strdup(c->unix_path);
		else if (asprintf(&s->unix_path, "%s/agent.sock", bm_data_dir(ctx)) < 0)
			s->unix_path = NULL;
		if (!s->unix_path)
			rc = bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	if (!rc && !s->unix_path && !(c->tcp_listen && c->tcp_listen[0]))
		rc = bm_err_set(err, BM_EINVAL, "no listener: unix_path is \"\" and tcp_listen unset");
	int64_t iv = bm_interval_ms(ctx);
	struct reg_conf rc_ = {
		.interval_ms = iv > 0 ? iv : 1000,
		.win_slots = slots(c->window, iv),
		.avail_slots = slots(c->availability_window, iv),
		.heartbeat_ms = c->heartbeat,
		.forget_ms = c->forget_after,
		.max_agents = (uint32_t)c->max_agents,
		.card = {.max_series = (uint32_t)c->max_series_per_agent,
			 .max_labels = (uint32_t)c->max_labels,
			 .max_name_len = (uint32_t)c->max_label_name_len,
			 .max_value_len = (uint32_t)c->max_label_value_len},
	};
	if (!rc && reg_init(&s->reg, &rc_))
		rc = bm_err_set(err, BM_ENOMEM, "out of memory");
	if (!rc && register_self_metrics(s))
		rc = bm_err_set(err, BM_ENOMEM, "cannot register self-metrics");
	if (rc) {
		ag_fini(s);
		return rc;
	}
	*state = s;
	return 0;
}

static int ag_start(void *state, struct bm_err *err)
{
	struct ag_state *s = state;
	const struct ag_conf *c = s->conf;
	struct io_conf ioc = {
		.unix_path = s->unix_path,
		.unix_mode = s->unix_mode,
		.tcp_listen = c->tcp_listen && c->tcp_listen[0] ? c->tcp_listen : NULL,
		.max_frame = (uint32_t)c->max_frame,
		.max_connections = (uint32_t)c->max_connections,
		.max_buffered = c->max_buffered,
		.hello_timeout_ms = c->hello_timeout,
		.heartbeat_ms = c->heartbeat,
		.registry_interval_ms = c->registry_interval,
		.command_timeout_ms = c->command_timeout,
		.max_pending_commands = (uint32_t)c->max_pending_commands,
		.server = "bearmond agent/" AG_VERSION,
	};
	int rc = io_start(&s->io, s->ctx, &ioc, &s->reg, &s->st, err);
	if (rc)
		return rc;
	struct bm_sub_opts o = {.size = sizeof(o), .topic = BM_TOPIC_AGENT_COMMAND};
	rc = bm_bus_subscribe(s->ctx, &o, on_command, s, &s->sub);
	if (rc) {
		io_stop(s->io);
		s->io = NULL;
		return bm_err_set(err, rc, "subscribe to %s: %s", BM_TOPIC_AGENT_COMMAND, bm_strerror(rc));
	}
	if (BM_HOST_HAS(bm_host(), http_route)) {
		char path[256];
		snprintf(path, sizeof(path), AG_API "%s", bm_instance_name(s->ctx));
		rc = bm_http_route(s->ctx, path, 0, on_stats, s);
		if (rc)
			bm_log_warn(s->ctx, "no stats route %s: %s", path, bm_strerror(rc));
	}
	bm_log_info(s->ctx, "agents connect to %s%s%s", s->unix_path ? s->unix_path : "",
		    s->unix_path && ioc.tcp_listen ? " and tcp:" : ioc.tcp_listen ? "tcp:" : "",
		    ioc.tcp_listen ? ioc.tcp_listen : "");
	return 0;
}

static void ag_stop(void *state)
{
	struct ag_state *s = state;
	if (s->sub)
		bm_bus_unsubscribe(s->sub);
	s->sub = NULL;
	if (s->io)
		io_stop(s->io);
	s->io = NULL;
}

static int ag_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct ag_state *s = state;
	bm_batch_reset(&s->batch);
	s->batch.ts_ms = now_ms;
	int rc = reg_collect(&s->reg, &s->batch, now_ms);
	copy_reg_counters(s);
	return publish_batch(s->ctx, &s->batch, rc, err);
}

static const struct bm_plugin_ops ag_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = ag_init,
	.start = ag_start,
	.stop = ag_stop,
	.fini = ag_fini,
	.collect = ag_collect,
};

BM_PLUGIN_DEFINE(collector, agent, BM_KIND_COLLECTOR,
		 .version = AG_VERSION,
		 .license = "Apache-2.0",
		 .description = "native agent protocol server: agents' tasks, custom metrics, coordination and commands",
		 .origin = "bearmon plugins/collector_agent",
		 .options = ag_options,
		 .config_size = sizeof(struct ag_conf),
		 .ops = &ag_ops);
