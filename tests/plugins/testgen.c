/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test collector: publishes `series` gauges per collection, can sleep (to
 * overrun its interval), fail init or collection, subscribe to a topic and
 * serve an HTTP route reporting what it received. Built several times with
 * -D overrides as the ABI fixtures of tests/abi.
 */
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef TESTGEN_NAME
#define TESTGEN_NAME testgen
#endif
#ifndef TESTGEN_OVERRIDES
#define TESTGEN_OVERRIDES
#endif

struct tg_conf {
	int64_t series;
	int64_t shrink_after; /* collections before publishing half the series */
	int64_t sleep_ms;
	bool fail_init;
	bool unsupported;
	bool fail_collect;
	char *subscribe;
	bool block;               /* subscribe with the block policy */
	int64_t callback_sleep_ms; /* sleep in every subscription callback */
	char *route;
	int64_t timer_ms;
	bool on_loop;
	char *query; /* metric name looked up in the store by the route */
	bool events; /* publish an anomaly, an alert and an agent event per collection */
	int64_t crash_after;  /* abort() in that collection (isolation tests) */
	uint64_t grow_bytes;  /* allocate and touch this much more every collection */
	struct bm_map labels;
	struct bm_group_list targets;
};

struct tg_target {
	char *url;
	struct bm_map labels;
};

static const struct bm_option tg_target_options[] = {
	{.name = "url", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct tg_target, url), .help = "target url"},
	BM_OPTION("labels", BM_OPT_MAP, NULL, struct tg_target, labels, "target labels"),
	BM_OPTION_END,
};

static const struct bm_option tg_options[] = {
	BM_OPTION_BOUNDED("series", BM_OPT_INT, "10", struct tg_conf, series, 0, 100000,
			  "gauges published per collection"),
	BM_OPTION_BOUNDED("shrink_after", BM_OPT_INT, "0", struct tg_conf, shrink_after, 0, 1000000,
			  "after this many collections publish only the first half of the series (0: never)"),
	BM_OPTION_BOUNDED("sleep", BM_OPT_DURATION, "0ms", struct tg_conf, sleep_ms, 0, 600000,
			  "time each collection sleeps"),
	BM_OPTION("fail_init", BM_OPT_BOOL, "false", struct tg_conf, fail_init, "init fails"),
	BM_OPTION("unsupported", BM_OPT_BOOL, "false", struct tg_conf, unsupported,
		  "init says BM_ENOTSUP, as a collector on a host without its hardware"),
	BM_OPTION("fail_collect", BM_OPT_BOOL, "false", struct tg_conf, fail_collect,
		  "every collection fails"),
	BM_OPTION("subscribe", BM_OPT_STRING, NULL, struct tg_conf, subscribe,
		  "topic to subscribe to and count"),
	BM_OPTION("block", BM_OPT_BOOL, "false", struct tg_conf, block,
		  "subscribe with the block policy"),
	BM_OPTION_BOUNDED("callback_sleep", BM_OPT_DURATION, "0ms", struct tg_conf,
			  callback_sleep_ms, 0, 3600000, "sleep in every subscription callback"),
	BM_OPTION("route", BM_OPT_STRING, NULL, struct tg_conf, route,
		  "HTTP path answering with the counts"),
	BM_OPTION("timer", BM_OPT_DURATION, "0ms", struct tg_conf, timer_ms,
		  "main-loop timer period counted in timer_ticks (0 = none)"),
	BM_OPTION("on_loop", BM_OPT_BOOL, "false", struct tg_conf, on_loop,
		  "deliver the subscription on the main loop"),
	BM_OPTION("query", BM_OPT_STRING, NULL, struct tg_conf, query,
		  "metric name the route looks up through the host API's store queries"),
	BM_OPTION_BOUNDED("crash_after", BM_OPT_INT, "0", struct tg_conf, crash_after, 0, 1000000,
			  "abort() in this collection (0: never): a crashing plugin"),
	BM_OPTION("grow", BM_OPT_SIZE, "0", struct tg_conf, grow_bytes,
		  "allocate and touch this much more memory every collection: a leaking plugin"),
	BM_OPTION("events", BM_OPT_BOOL, "false", struct tg_conf, events,
		  "publish an anomaly, an alert and an agent event every collection"),
	BM_OPTION("labels", BM_OPT_MAP, NULL, struct tg_conf, labels, "labels on every sample"),
	{.name = "targets", .type = BM_OPT_GROUP_LIST, .sub = tg_target_options,
	 .sub_size = sizeof(struct tg_target), .offset = offsetof(struct tg_conf, targets),
	 .help = "list of targets (exercises group lists)"},
	BM_OPTION_END,
};

struct tg {
	struct bm_ctx *ctx;
	const struct tg_conf *conf;
	struct bm_sub *sub;
	uint64_t collections;
	uint64_t events;
	uint64_t samples;
	uint64_t timer_ticks;
	uint64_t self_samples; /* bearmond's own series seen on the bus */
	struct bm_timer *timer;
	void *leak; /* grow: the newest allocation */
	struct bm_arena arena;
};

static void tg_on_event(void *user, const char *topic, const void *body, size_t len)
{
	struct tg *t = user;
	if (t->conf->callback_sleep_ms) {
		struct timespec ts = {t->conf->callback_sleep_ms / 1000,
				      (t->conf->callback_sleep_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	struct bm_metric_batch b;
	__atomic_add_fetch(&t->events, 1, __ATOMIC_RELAXED);
	if (strcmp(topic, BM_TOPIC_METRIC) == 0 &&
	    bm_metric_batch_decode(body, len, &b, &t->arena) == 0) {
		__atomic_add_fetch(&t->samples, b.n_samples, __ATOMIC_RELAXED);
		for (size_t i = 0; b.source && strcmp(b.source, "bearmond") == 0 && i < b.n_samples; i++)
			if (strcmp(b.samples[i].name, "bearmon_plugin_up") == 0 ||
			    strcmp(b.samples[i].name, "process_resident_memory_bytes") == 0)
				__atomic_add_fetch(&t->self_samples, 1, __ATOMIC_RELAXED);
	}
	bm_arena_reset(&t->arena);
}

struct tg_query {
	long series;
	int64_t first_id;
	long points;
};

static void tg_count_series(void *user, int64_t id, const char *series)
{
	struct tg_query *q = user;
	(void)series;
	if (!q->series++)
		q->first_id = id;
}

static void tg_count_point(void *user, int64_t ts, double v)
{
	struct tg_query *q = user;
	(void)ts;
	(void)v;
	q->points++;
}

/* Series named conf->query, and the raw samples of the first one. */
static void tg_query_store(struct tg *t, struct tg_query *q)
{
	struct bm_matcher m = {"__name__", BM_MATCH_EQ, t->conf->query};
	q->series = 0;
	q->points = 0;
	long n = bm_store_series(t->ctx, &m, 1, tg_count_series, q);
	if (n < 0)
		q->series = n;
	else if (n > 0)
		bm_store_raw(t->ctx, q->first_id, 0, INT64_MAX, tg_count_point, q);
}

/* ?takeover=1: answer on the socket taken from the server, as a protocol
 * upgrade would; the server must have written nothing before it. */
static void tg_takeover(struct bm_http_req *req)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				     "Content-Length: 10\r\nConnection: close\r\n\r\ntaken over";
	int fd = -1;
	if (bm_http_takeover(req, &fd)) {
		bm_http_reply(req, 500, "text/plain", "takeover failed", 15);
		return;
	}
	if (write(fd, answer, sizeof(answer) - 1) < 0)
		perror("testgen: takeover write");
	close(fd);
}

static void tg_on_http(void *user, struct bm_http_req *req)
{
	struct tg *t = user;
	struct tg_query q = {0};
	char body[320];
	if (bm_http_query(req, "takeover")) {
		tg_takeover(req);
		return;
	}
	if (t->conf->query)
		tg_query_store(t, &q);
	int n = snprintf(body, sizeof(body),
			 "{\"collections\":%llu,\"events\":%llu,\"samples\":%llu,\"targets\":%zu,"
			 "\"timer_ticks\":%llu,\"self_samples\":%llu,"
			 "\"store_series\":%ld,\"store_points\":%ld}",
			 (unsigned long long)__atomic_load_n(&t->collections, __ATOMIC_RELAXED),
			 (unsigned long long)__atomic_load_n(&t->events, __ATOMIC_RELAXED),
			 (unsigned long long)__atomic_load_n(&t->samples, __ATOMIC_RELAXED),
			 t->conf->targets.n,
			 (unsigned long long)__atomic_load_n(&t->timer_ticks, __ATOMIC_RELAXED),
			 (unsigned long long)__atomic_load_n(&t->self_samples, __ATOMIC_RELAXED),
			 q.series, q.points);
	bm_http_reply(req, 200, "application/json", body, (size_t)n);
}

static void tg_on_timer(void *user)
{
	struct tg *t = user;
	__atomic_add_fetch(&t->timer_ticks, 1, __ATOMIC_RELAXED);
}

static int tg_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct tg_conf *c = conf;
	if (c->fail_init)
		return bm_err_set(err, BM_EINVAL, "fail_init is set");
	if (c->unsupported)
		return bm_err_set(err, BM_ENOTSUP, "no such hardware");
	struct tg *t = bm_alloc(sizeof(*t));
	if (!t)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	t->ctx = ctx;
	t->conf = c;
	bm_self_counter(ctx, "bearmon_testgen_collections_total", "collections", &t->collections);
	*state = t;
	return 0;
}

static int tg_start(void *state, struct bm_err *err)
{
	struct tg *t = state;
	if (t->conf->subscribe) {
		struct bm_sub_opts o = {.size = sizeof(o), .topic = t->conf->subscribe,
					.on_loop = t->conf->on_loop,
					.policy = t->conf->block ? BM_SUB_BLOCK : BM_SUB_DROP_OLDEST};
		int rc = bm_bus_subscribe(t->ctx, &o, tg_on_event, t, &t->sub);
		if (rc)
			return bm_err_set(err, rc, "subscribe %s failed", t->conf->subscribe);
	}
	if (t->conf->timer_ms) {
		int rc = bm_timer_start(t->ctx, t->conf->timer_ms, tg_on_timer, t, &t->timer);
		if (rc)
			return bm_err_set(err, rc, "timer: %s", bm_strerror(rc));
	}
	if (t->conf->route) {
		int rc = bm_http_route(t->ctx, t->conf->route, 0, tg_on_http, t);
		if (rc)
			return bm_err_set(err, rc, "route %s: %s", t->conf->route, bm_strerror(rc));
	}
	return 0;
}

/* One event of each storage kind: analysis (anomaly), history (alert) and
 * registry (agent), so the store's event tables can be checked. */
static int tg_publish_events(struct tg *t, int64_t now_ms)
{
	struct bm_buf buf = {0};
	struct bm_label l = {"series", "0"};
	struct bm_anomaly_event an = {.series = {"testgen_value", &l, 1}, .ts_ms = now_ms,
				      .start_ms = now_ms, .value = 42, .score = 0.97,
				      .threshold = 0.9, .expected = 1, .lower = 0, .upper = 2,
				      .detector = "testgen", .reason = "caf\xc3\xa9 \"quoted\""};
	struct bm_label al[] = {{"alertname", "TestgenHigh"}, {"severity", "warning"}};
	struct bm_alert_event al_ev = {.ts_ms = now_ms, .rule_id = "r1", .rule_name = "TestgenHigh",
				       .fingerprint = "00ff", .state = BM_ALERT_FIRING,
				       .severity = BM_SEV_WARNING, .labels = al, .n_labels = 2,
				       .value = 42, .threshold = NAN};
	struct bm_agent_event ag = {.ts_ms = now_ms, .kind = BM_AGENT_REGISTRY, .agent_id = "tg-agent",
				    .type = "tester", .pid = 1234, .state = BM_AGENT_CONNECTED,
				    .first_seen_ms = now_ms, .last_seen_ms = now_ms};
	int rc = bm_anomaly_encode(&an, &buf);
	rc = rc ? rc : bm_bus_publish(t->ctx, BM_TOPIC_ANOMALY, buf.data, buf.len);
	rc = rc ? rc : bm_alert_encode(&al_ev, &buf);
	rc = rc ? rc : bm_bus_publish(t->ctx, BM_TOPIC_ALERT, buf.data, buf.len);
	rc = rc ? rc : bm_agent_encode(&ag, &buf);
	rc = rc ? rc : bm_bus_publish(t->ctx, BM_TOPIC_AGENT, buf.data, buf.len);
	bm_buf_free(&buf);
	return rc;
}

static int tg_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct tg *t = state;
	__atomic_add_fetch(&t->collections, 1, __ATOMIC_RELAXED);
	if (t->conf->sleep_ms) {
		struct timespec ts = {t->conf->sleep_ms / 1000, (t->conf->sleep_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	if (t->conf->fail_collect)
		return bm_err_set(err, BM_EIO, "fail_collect is set");
	if (t->conf->crash_after && (int64_t)t->collections >= t->conf->crash_after)
		abort();
	if (t->conf->grow_bytes) {
		/* kept on purpose, never freed: the leak the memory limit catches */
		char *p = malloc((size_t)t->conf->grow_bytes);
		if (p) {
			memset(p, 1, (size_t)t->conf->grow_bytes);
			t->leak = p;
		}
	}
	if (t->conf->events && tg_publish_events(t, now_ms))
		return bm_err_set(err, BM_EIO, "publishing events failed");
	static const struct bm_metric_meta meta = {"testgen_value", BM_METRIC_GAUGE, "", "test gauge"};
	struct bm_sample s[64];
	struct bm_label l[64][2];
	char idx[64][24];
	int64_t series = t->conf->series;
	if (t->conf->shrink_after && (int64_t)t->collections > t->conf->shrink_after)
		series /= 2; /* the rest vanish: the host marks them stale */
	for (int64_t done = 0; done < series;) {
		size_t n = 0;
		for (; n < 64 && done < series; n++, done++) {
			snprintf(idx[n], sizeof(idx[n]), "%lld", (long long)done);
			l[n][0] = (struct bm_label){"instance", bm_instance_name(t->ctx)};
			l[n][1] = (struct bm_label){"series", idx[n]};
			s[n] = (struct bm_sample){meta.name, l[n], 2, now_ms, (double)done};
		}
		struct bm_metric_batch b = {.meta = &meta, .n_meta = 1, .samples = s, .n_samples = n};
		int rc = bm_metrics_publish(t->ctx, &b);
		if (rc)
			return bm_err_set(err, rc, "publish: %s", bm_strerror(rc));
	}
	return 0;
}

static void tg_stop(void *state)
{
	struct tg *t = state;
	if (t->sub)
		bm_bus_unsubscribe(t->sub);
	t->sub = NULL;
}

static void tg_fini(void *state)
{
	struct tg *t = state;
	bm_arena_free(&t->arena);
	bm_free(t);
}

static const struct bm_plugin_ops tg_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = tg_init,
	.start = tg_start,
	.stop = tg_stop,
	.fini = tg_fini,
	.collect = tg_collect,
};

BM_PLUGIN_DEFINE(collector, TESTGEN_NAME, BM_KIND_COLLECTOR,
		 .version = "0.1.0",
		 .license = "Apache-2.0",
		 .description = "test collector",
		 .origin = "bearmon tests",
		 .options = tg_options,
		 .config_size = sizeof(struct tg_conf),
		 .ops = &tg_ops TESTGEN_OVERRIDES);
