/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test collector standing in for the rule engine: publishes `alert` events
 * (a wave of `alerts` firing alerts per collection, `waves` times, each
 * resolved `resolve_after` collections later) and counts the `notification`
 * events that come back, per notifier and outcome, on an HTTP route.
 */
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AG_MAX_NOTIFIERS 16
#define AG_MAX_ALERTS 1000

static const char *const ag_severities[] = {"info", "warning", "critical", "emergency", NULL};

struct ag_conf {
	int64_t alerts;
	int64_t waves;
	int64_t start_after;
	int64_t resolve_after;
	char *rule;
	int severity;
	struct bm_strlist notifiers;
	struct bm_map labels;
	struct bm_map annotations;
	char *route;
};

static const struct bm_option ag_options[] = {
	BM_OPTION_BOUNDED("alerts", BM_OPT_INT, "1", struct ag_conf, alerts, 1, AG_MAX_ALERTS,
			  "firing alerts per wave"),
	BM_OPTION_BOUNDED("waves", BM_OPT_INT, "1", struct ag_conf, waves, 0, 1000000,
			  "waves, one per collection"),
	BM_OPTION_BOUNDED("start_after", BM_OPT_INT, "1", struct ag_conf, start_after, 0, 1000000,
			  "collections before the first wave (lets the notifiers subscribe)"),
	BM_OPTION_BOUNDED("resolve_after", BM_OPT_INT, "0", struct ag_conf, resolve_after, 0,
			  1000000, "collections until a wave resolves (0: never)"),
	BM_OPTION("rule", BM_OPT_STRING, "TestAlert", struct ag_conf, rule, "rule name: alertname"),
	{.name = "severity", .type = BM_OPT_ENUM, .def = "warning",
	 .offset = offsetof(struct ag_conf, severity), .enum_values = ag_severities,
	 .help = "severity of the alerts"},
	BM_OPTION("notifiers", BM_OPT_STRING_LIST, NULL, struct ag_conf, notifiers,
		  "routing: notifier instances (empty: all)"),
	BM_OPTION("labels", BM_OPT_MAP, NULL, struct ag_conf, labels, "extra labels"),
	BM_OPTION("annotations", BM_OPT_MAP, NULL, struct ag_conf, annotations, "annotations"),
	BM_OPTION("route", BM_OPT_STRING, NULL, struct ag_conf, route,
		  "HTTP path answering with what was published and the notifications seen"),
	BM_OPTION_END,
};

/* Notification events seen for one notifier. */
struct ag_tally {
	char notifier[96];
	uint64_t outcome[4]; /* by enum bm_notify_outcome */
	uint64_t alerts_ok;  /* fingerprints in OK events */
	int64_t max_latency_ms;
};

struct ag {
	struct bm_ctx *ctx;
	const struct ag_conf *conf;
	struct bm_sub *sub;
	struct bm_buf buf;     /* collection thread */
	struct bm_arena arena; /* subscription thread */
	uint64_t collections, published, publish_failures;
	pthread_mutex_t lock;  /* tallies */
	struct ag_tally tally[AG_MAX_NOTIFIERS];
	size_t n_tally;
	int64_t *wave_fired;   /* fired_at per wave */
};

static void ag_on_notification(void *user, const char *topic, const void *body, size_t len)
{
	struct ag *g = user;
	struct bm_notification_event e;
	(void)topic;
	bm_arena_reset(&g->arena);
	if (bm_notification_decode(body, len, &e, &g->arena) || (unsigned)e.outcome > 3)
		return;
	pthread_mutex_lock(&g->lock);
	size_t i = 0;
	while (i < g->n_tally && strcmp(g->tally[i].notifier, e.notifier) != 0)
		i++;
	if (i == g->n_tally && i < AG_MAX_NOTIFIERS)
		snprintf(g->tally[g->n_tally++].notifier, sizeof(g->tally[i].notifier), "%s", e.notifier);
	if (i < g->n_tally) {
		g->tally[i].outcome[e.outcome]++;
		if (e.outcome == BM_NOTIFY_OK)
			g->tally[i].alerts_ok += e.n_fingerprints;
		if (e.latency_ms > g->tally[i].max_latency_ms)
			g->tally[i].max_latency_ms = e.latency_ms;
	}
	pthread_mutex_unlock(&g->lock);
}

static void ag_on_http(void *user, struct bm_http_req *req)
{
	static const char *const names[] = {"ok", "failed", "retrying", "dropped"};
	struct ag *g = user;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) {
		bm_http_reply(req, 500, "text/plain", "out of memory", 13);
		return;
	}
	fprintf(f, "{\"collections\":%llu,\"published\":%llu,\"publish_failures\":%llu,\"notifiers\":{",
		(unsigned long long)__atomic_load_n(&g->collections, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&g->published, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&g->publish_failures, __ATOMIC_RELAXED));
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->n_tally; i++) {
		fprintf(f, "%s\"%s\":{", i ? "," : "", g->tally[i].notifier);
		for (int o = 0; o < 4; o++)
			fprintf(f, "\"%s\":%llu,", names[o], (unsigned long long)g->tally[i].outcome[o]);
		fprintf(f, "\"alerts_ok\":%llu,\"max_latency_ms\":%lld}",
			(unsigned long long)g->tally[i].alerts_ok, (long long)g->tally[i].max_latency_ms);
	}
	pthread_mutex_unlock(&g->lock);
	fputs("}}", f);
	fclose(f);
	bm_http_reply(req, 200, "application/json", text, len);
	free(text);
}

/* Publish the alerts of one wave in state st. */
static int ag_publish_wave(struct ag *g, int64_t wave, enum bm_alert_state st)
{
	const struct ag_conf *c = g->conf;
	int64_t now = bm_now_ms(g->ctx);
	size_t nl = 5 + c->labels.n;
	struct bm_label *l = calloc(nl, sizeof(*l));
	struct bm_kv *ann = calloc(c->annotations.n + 1, sizeof(*ann));
	char wave_s[24], idx_s[24], fp[128];
	int rc = l && ann ? 0 : BM_ENOMEM;
	if (st == BM_ALERT_FIRING)
		g->wave_fired[wave] = now;
	for (size_t i = 0; i < c->annotations.n; i++)
		ann[i] = (struct bm_kv){c->annotations.keys[i], c->annotations.values[i]};
	for (int64_t i = 0; !rc && i < c->alerts; i++) {
		snprintf(wave_s, sizeof(wave_s), "%lld", (long long)wave);
		snprintf(idx_s, sizeof(idx_s), "%lld", (long long)i);
		snprintf(fp, sizeof(fp), "%s-w%lld-i%lld", bm_instance_name(g->ctx), (long long)wave,
			 (long long)i);
		l[0] = (struct bm_label){"alertname", c->rule};
		l[1] = (struct bm_label){"alertgen", bm_instance_name(g->ctx)};
		l[2] = (struct bm_label){"index", idx_s};
		l[3] = (struct bm_label){"severity", ag_severities[c->severity]};
		l[4] = (struct bm_label){"wave", wave_s};
		for (size_t k = 0; k < c->labels.n; k++)
			l[5 + k] = (struct bm_label){c->labels.keys[k], c->labels.values[k]};
		bm_labels_sort(l, nl);
		struct bm_alert_event e = {
			.ts_ms = now, .rule_id = c->rule, .rule_name = c->rule, .fingerprint = fp,
			.state = st, .severity = (enum bm_severity)c->severity, .labels = l,
			.n_labels = (uint32_t)nl, .annotations = ann, .n_annotations = c->annotations.n,
			.value = (double)(wave * 100 + i), .threshold = 50,
			.active_since_ms = g->wave_fired[wave], .fired_at_ms = g->wave_fired[wave],
			.resolved_at_ms = st == BM_ALERT_RESOLVED ? now : 0,
			.generator_url = "http://127.0.0.1/alertgen",
			.notifiers = (const char *const *)c->notifiers.v, .n_notifiers = c->notifiers.n,
		};
		rc = bm_alert_encode(&e, &g->buf);
		if (!rc && bm_bus_publish(g->ctx, BM_TOPIC_ALERT, g->buf.data, g->buf.len))
			__atomic_add_fetch(&g->publish_failures, 1, __ATOMIC_RELAXED);
		else if (!rc)
			__atomic_add_fetch(&g->published, 1, __ATOMIC_RELAXED);
	}
	free(l);
	free(ann);
	return rc;
}

static int ag_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct ag *g = state;
	const struct ag_conf *c = g->conf;
	(void)now_ms;
	int64_t tick = (int64_t)__atomic_fetch_add(&g->collections, 1, __ATOMIC_RELAXED);
	int64_t wave = tick - c->start_after;
	int64_t resolving = wave - c->resolve_after;
	int rc = 0;
	if (wave >= 0 && wave < c->waves)
		rc = ag_publish_wave(g, wave, BM_ALERT_FIRING);
	if (!rc && c->resolve_after && resolving >= 0 && resolving < c->waves)
		rc = ag_publish_wave(g, resolving, BM_ALERT_RESOLVED);
	return rc ? bm_err_set(err, rc, "cannot encode an alert") : 0;
}

static int ag_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct ag_conf *c = conf;
	struct ag *g = calloc(1, sizeof(*g));
	if (!g || !(g->wave_fired = calloc((size_t)c->waves + 1, sizeof(*g->wave_fired)))) {
		free(g);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	g->ctx = ctx;
	g->conf = c;
	pthread_mutex_init(&g->lock, NULL);
	*state = g;
	return 0;
}

static int ag_start(void *state, struct bm_err *err)
{
	struct ag *g = state;
	struct bm_sub_opts o = {.size = sizeof(o), .topic = BM_TOPIC_NOTIFICATION};
	int rc = bm_bus_subscribe(g->ctx, &o, ag_on_notification, g, &g->sub);
	if (rc)
		return bm_err_set(err, rc, "subscribe: %s", bm_strerror(rc));
	if (g->conf->route && (rc = bm_http_route(g->ctx, g->conf->route, 0, ag_on_http, g)))
		return bm_err_set(err, rc, "route %s: %s", g->conf->route, bm_strerror(rc));
	return 0;
}

static void ag_stop(void *state)
{
	struct ag *g = state;
	bm_bus_unsubscribe(g->sub);
	g->sub = NULL;
}

static void ag_fini(void *state)
{
	struct ag *g = state;
	bm_buf_free(&g->buf);
	bm_arena_free(&g->arena);
	pthread_mutex_destroy(&g->lock);
	free(g->wave_fired);
	free(g);
}

static const struct bm_plugin_ops ag_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = ag_init,
	.start = ag_start,
	.stop = ag_stop,
	.fini = ag_fini,
	.collect = ag_collect,
};

BM_PLUGIN_DEFINE(collector, alertgen, BM_KIND_COLLECTOR,
		 .version = "0.1.0",
		 .license = "Apache-2.0",
		 .description = "test collector: publishes alert events, counts notifications",
		 .origin = "bearmon tests",
		 .options = ag_options,
		 .config_size = sizeof(struct ag_conf),
		 .ops = &ag_ops);
