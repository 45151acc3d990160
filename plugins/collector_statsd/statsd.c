/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/statsd: a StatsD server (etsy StatsD and DogStatsD line
 * formats, UDP and TCP). Receiver threads aggregate lines per flush
 * interval (shard.c); every collection, the instance's interval, flushes
 * them into cumulative Prometheus series (series.c) and publishes them.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../common/publish.h"
#include "net.h"
#include "series.h"

struct statsd_conf {
	char *udp_listen;
	char *tcp_listen;
	uint64_t rcvbuf;
	int64_t udp_batch;
	uint64_t max_line_len;
	int64_t tcp_max_clients;
	int64_t tcp_idle_timeout_ms;
	int64_t max_series;
	int64_t max_labels;
	int64_t max_name_len;
	int64_t max_label_value_len;
	int64_t idle_flushes;
	int64_t max_set_size;
};

static const struct bm_option statsd_options[] = {
	BM_OPTION("udp_listen", BM_OPT_STRING, "127.0.0.1:8125", struct statsd_conf, udp_listen,
		  "udp address (host:port or [ipv6]:port); \"\" turns udp off"),
	BM_OPTION("tcp_listen", BM_OPT_STRING, "", struct statsd_conf, tcp_listen,
		  "tcp address for newline-terminated lines; \"\" (the default) turns tcp off"),
	/* 16 MiB: Linux doubles it and charges 832 bytes for a one-line
	 * datagram (2,304 for 1,400 bytes), so it holds some 40,000 of them:
	 * 140 ms of 290,000 datagrams/s, or 170 ms of 3 million lines/s
	 * packed, room for the scheduling delays of a busy host. */
	BM_OPTION_BOUNDED("rcvbuf", BM_OPT_SIZE, "16MiB", struct statsd_conf, rcvbuf, 65536,
			  1073741824.0, "udp receive buffer to ask the kernel for"),
	BM_OPTION_BOUNDED("udp_batch", BM_OPT_INT, "64", struct statsd_conf, udp_batch, 1, 1024,
			  "datagrams read per recvmmsg call"),
	BM_OPTION_BOUNDED("max_line_len", BM_OPT_SIZE, "8KiB", struct statsd_conf, max_line_len, 64,
			  65535, "longer lines are dropped and counted"),
	BM_OPTION_BOUNDED("tcp_max_clients", BM_OPT_INT, "1024", struct statsd_conf,
			  tcp_max_clients, 1, 1000000, "tcp connections beyond this are closed at once"),
	BM_OPTION_BOUNDED("tcp_idle_timeout", BM_OPT_DURATION, "300s", struct statsd_conf,
			  tcp_idle_timeout_ms, 1000, 86400000.0,
			  "a tcp client silent this long is disconnected"),
	BM_OPTION_BOUNDED("max_series", BM_OPT_INT, "10000", struct statsd_conf, max_series, 0,
			  10000000, "series per listener; new ones past it are dropped (0: no limit)"),
	BM_OPTION_BOUNDED("max_labels", BM_OPT_INT, "16", struct statsd_conf, max_labels, 0, 30,
			  "tags per line; lines with more are dropped (0: up to 31)"),
	BM_OPTION_BOUNDED("max_name_len", BM_OPT_INT, "200", struct statsd_conf, max_name_len, 1,
			  1024, "bytes of a metric or label name, suffix included"),
	BM_OPTION_BOUNDED("max_label_value_len", BM_OPT_INT, "256", struct statsd_conf,
			  max_label_value_len, 1, 65535, "bytes of a tag value"),
	BM_OPTION_BOUNDED("idle_flushes", BM_OPT_INT, "60", struct statsd_conf, idle_flushes, 0,
			  1000000, "a series without lines for this many flushes is forgotten "
			  "(0: never)"),
	BM_OPTION_BOUNDED("max_set_size", BM_OPT_INT, "100000", struct statsd_conf, max_set_size, 1,
			  10000000, "distinct members of one set per flush interval"),
	BM_OPTION_END,
};

/* Self-metric names (bearmon_statsd_*) beside their counters. */
static const struct {
	enum statsd_stat st;
	const char *name, *help;
} stat_names[] = {
	{ST_LINES, "lines_total", "statsd lines received: accepted, refused and unsupported"},
	{ST_SAMPLES, "samples_total", "statsd values aggregated"},
	{ST_BAD, "bad_lines_total", "statsd lines refused, every reason"},
	{ST_UNSUPPORTED, "unsupported_lines_total",
	 "DogStatsD events and service checks, dropped"},
	{ST_DATAGRAMS, "udp_datagrams_total", "udp datagrams received"},
	{ST_EMPTY_DATAGRAMS, "udp_empty_datagrams_total", "empty udp datagrams"},
	{ST_BYTES, "received_bytes_total", "bytes received over udp and tcp"},
	{ST_KERNEL_DROPS, "udp_kernel_drops_total",
	 "udp datagrams the kernel dropped: receive buffer full"},
	{ST_DROPPED_SERIES, "dropped_series_lines_total",
	 "lines of new series refused: max_series reached"},
	{ST_DROPPED_LABELS, "dropped_labels_lines_total",
	 "lines refused for label limits (max_labels, max_name_len, max_label_value_len)"},
	{ST_DROPPED_MEMBERS, "dropped_set_members_total", "set members past max_set_size"},
	{ST_TYPE_CONFLICTS, "type_conflicts_total",
	 "values dropped: the name is published with another type"},
	{ST_FORGOTTEN, "forgotten_series_total", "series forgotten after idle_flushes flushes"},
	{ST_TCP_CONNECTIONS, "tcp_connections_total", "tcp connections accepted"},
	{ST_TCP_REJECTED, "tcp_rejected_total",
	 "tcp connections refused: tcp_max_clients or out of file descriptors"},
	{ST_TCP_IDLE_CLOSED, "tcp_idle_closed_total",
	 "tcp clients disconnected after tcp_idle_timeout"},
};

struct statsd {
	struct bm_ctx *ctx;
	const struct statsd_conf *conf;
	uint64_t stats[ST_N]; /* self-metrics, relaxed atomics */
	double series_gauge;
	struct listener *ls[2];
	size_t n_ls;
	struct series_reg reg;
	struct bm_batch batch;
};

static bool is_set(const char *s)
{
	return s && *s;
}

static uint64_t random_seed(void)
{
	uint64_t seed;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	return (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
}

static int register_stats(struct statsd *s)
{
	char name[96];
	int rc = 0;
	for (size_t i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]) && !rc; i++) {
		snprintf(name, sizeof(name), "bearmon_statsd_%s", stat_names[i].name);
		rc = bm_self_counter(s->ctx, name, stat_names[i].help, &s->stats[stat_names[i].st]);
	}
	for (int r = STATSD_ERR_SYNTAX; r <= STATSD_ERR_INCOMPLETE && !rc; r++) {
		char help[160];
		snprintf(name, sizeof(name), "bearmon_statsd_bad_lines_%s_total",
			 statsd_result_name((enum statsd_result)r));
		snprintf(help, sizeof(help), "statsd lines refused: %s",
			 statsd_result_text((enum statsd_result)r));
		rc = bm_self_counter(s->ctx, name, help, &s->stats[stat_of_result((enum statsd_result)r)]);
	}
	if (!rc)
		rc = bm_self_gauge(s->ctx, "bearmon_statsd_series", "statsd series published",
				   &s->series_gauge);
	for (size_t i = 0; i < s->n_ls && !rc; i++) {
		const struct listener *l = s->ls[i];
		rc = l->proto == LISTEN_UDP
			     ? bm_self_gauge(s->ctx, "bearmon_statsd_udp_rcvbuf_bytes",
					     "udp receive buffer the kernel granted (Linux doubles the "
					     "figure asked for)",
					     &l->rcvbuf_bytes)
			     : bm_self_gauge(s->ctx, "bearmon_statsd_tcp_clients",
					     "tcp clients connected", &l->clients);
	}
	return rc;
}

static int add_listener(struct statsd *s, enum listener_proto proto, const char *addr,
			uint64_t seed, struct bm_err *err)
{
	const struct statsd_conf *c = s->conf;
	struct listener_conf lc = {.rcvbuf = c->rcvbuf, .udp_batch = (uint32_t)c->udp_batch,
				   .tcp_max_clients = (uint32_t)c->tcp_max_clients,
				   .tcp_idle_ms = c->tcp_idle_timeout_ms, .retry_ms = 5000};
	/* raw keys per interval: variants of one series (tag order, names
	 * that sanitise alike) are separate keys; bound them too */
	struct shard_limits sl = {.max_line_len = (uint32_t)c->max_line_len,
				  .max_set_size = (uint32_t)c->max_set_size,
				  .max_entries = c->max_series ? (uint32_t)(4 * c->max_series + 1024) : 0};
	struct card_limits cl = {.max_series = (uint32_t)c->max_series,
				 .max_labels = (uint32_t)c->max_labels,
				 .max_name_len = (uint32_t)c->max_name_len,
				 .max_value_len = (uint32_t)c->max_label_value_len,
				 /* the limiter's generation starts one flush before
				  * the registry's: forget in the same flush */
				 .idle_sweeps = c->idle_flushes ? (uint32_t)c->idle_flushes + 1 : 0};
	struct listener *l = calloc(1, sizeof(*l));
	if (!l)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	int rc = listener_init(l, proto, addr, &lc, &sl, &cl, s->ctx, s->stats, seed, err);
	if (rc) {
		free(l);
		return bm_err_set(err, rc, "%s_listen: %s", proto == LISTEN_UDP ? "udp" : "tcp",
				  err->msg);
	}
	s->ls[s->n_ls++] = l;
	return 0;
}

static void statsd_fini(void *state)
{
	struct statsd *s = state;
	for (size_t i = 0; i < s->n_ls; i++) {
		listener_free(s->ls[i]);
		free(s->ls[i]);
	}
	series_free(&s->reg);
	bm_batch_free(&s->batch);
	free(s);
}

static int statsd_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct statsd_conf *c = conf;
	if (!is_set(c->udp_listen) && !is_set(c->tcp_listen))
		return bm_err_set(err, BM_EINVAL, "udp_listen and tcp_listen are both off");
	struct statsd *s = calloc(1, sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = c;
	uint64_t seed = random_seed();
	series_init(&s->reg, (uint32_t)c->idle_flushes, (uint32_t)c->max_set_size, seed);
	int rc = 0;
	if (is_set(c->udp_listen))
		rc = add_listener(s, LISTEN_UDP, c->udp_listen, seed, err);
	if (!rc && is_set(c->tcp_listen))
		rc = add_listener(s, LISTEN_TCP, c->tcp_listen, seed, err);
	if (!rc && register_stats(s))
		rc = bm_err_set(err, BM_ENOMEM, "cannot register the self-metrics");
	if (rc) {
		statsd_fini(s);
		return rc;
	}
	*state = s;
	return 0;
}

static int statsd_start(void *state, struct bm_err *err)
{
	struct statsd *s = state;
	for (size_t i = 0; i < s->n_ls; i++) {
		int rc = listener_start(s->ls[i], err);
		if (rc) {
			while (i-- > 0)
				listener_stop(s->ls[i]);
			return rc;
		}
	}
	return 0;
}

static void statsd_stop(void *state)
{
	struct statsd *s = state;
	for (size_t i = 0; i < s->n_ls; i++)
		listener_stop(s->ls[i]);
}

/* statsd_listener_up{listener, protocol}: 1 while bound. */
static int add_listener_up(struct statsd *s)
{
	int rc = bm_batch_family(&s->batch, "statsd_listener_up", BM_METRIC_GAUGE, NULL,
				 "1 while the StatsD listener is bound and serving, 0 while it "
				 "retries to bind");
	for (size_t i = 0; i < s->n_ls && !rc; i++) {
		const struct listener *l = s->ls[i];
		rc = bm_batch_addl(&s->batch, "statsd_listener_up", listener_is_up(l) ? 1 : 0,
				   "listener", l->addr, "protocol",
				   l->proto == LISTEN_UDP ? "udp" : "tcp", NULL);
	}
	return rc;
}

static int statsd_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct statsd *s = state;
	struct shard_table *full[2];
	for (size_t i = 0; i < s->n_ls; i++) {
		full[i] = shard_swap(&s->ls[i]->shard);
		listener_poll_drops(s->ls[i]);
	}
	series_begin(&s->reg);
	for (size_t i = 0; i < s->n_ls; i++)
		series_merge(&s->reg, full[i]);
	bm_batch_reset(&s->batch);
	s->batch.ts_ms = now_ms;
	int rc = series_emit(&s->reg, &s->batch);
	for (size_t i = 0; i < s->n_ls; i++)
		shard_release(&s->ls[i]->shard, full[i]);
	if (!rc)
		rc = add_listener_up(s);
	stats_flush(s->stats, s->reg.pending);
	double n = (double)s->reg.n;
	__atomic_store(&s->series_gauge, &n, __ATOMIC_RELAXED);
	return publish_batch(s->ctx, &s->batch, rc, err);
}

static const struct bm_plugin_ops statsd_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = statsd_init,
	.start = statsd_start,
	.stop = statsd_stop,
	.fini = statsd_fini,
	.collect = statsd_collect,
};

BM_PLUGIN_DEFINE(collector, statsd, BM_KIND_COLLECTOR, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "StatsD server (etsy and DogStatsD formats, udp and tcp)",
		 .origin = "bearmon plugins/collector_statsd", .options = statsd_options,
		 .config_size = sizeof(struct statsd_conf), .ops = &statsd_ops,
		 /* SO_RCVBUFFORCE: a receive buffer past net.core.rmem_max */
		 .capabilities = BM_CAP_NET_ADMIN);
