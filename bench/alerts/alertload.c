/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load and probe for bench/alerts, built by bench/alerts/run as a collector
 * plugin: every collection publishes `names` metrics of `shards` x 10
 * series (bench_load_N{shard,idx} = idx * 10 + shard), then `triggers`
 * series bench_trigger{n} that alternate between 0 and the wall-clock ms
 * of their publication. A block-policy `alert` subscription (what a
 * notifier has) takes the BenchTrigger firing events and keeps their
 * latency (arrival minus the value: the sample's publication); GET
 * /bench/alertload returns them.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LAT 100000
#define BATCH	1000

struct al_conf {
	int64_t names;
	int64_t shards;
	int64_t triggers;
};

static const struct bm_option al_options[] = {
    BM_OPTION_BOUNDED("names", BM_OPT_INT, "1000", struct al_conf, names, 1, 100000,
		      "metric names bench_load_N"),
    BM_OPTION_BOUNDED("shards", BM_OPT_INT, "10", struct al_conf, shards, 1, 10,
		      "shard label values per name (10 idx each)"),
    BM_OPTION_BOUNDED("triggers", BM_OPT_INT, "10", struct al_conf, triggers, 1, 100,
		      "bench_trigger series"),
    BM_OPTION_END,
};

static const char *const digits[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

struct load {
	struct bm_ctx *ctx;
	const struct al_conf *conf;
	char (*names)[32];
	char (*trig)[24];
	struct bm_label (*labels)[2]; /* shard x idx pairs, 100 */
	struct bm_sample *s;
	uint64_t collections;
	struct bm_sub *sub;
	struct bm_arena arena;
	int64_t lat[MAX_LAT];
	size_t n_lat;
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_alert(void *user, const char *topic, const void *body, size_t len)
{
	struct load *l = user;
	struct bm_alert_event e;
	(void)topic;
	int64_t now = wall_ms();
	if (bm_alert_decode(body, len, &e, &l->arena) == 0 && e.state == BM_ALERT_FIRING &&
	    e.rule_name && strcmp(e.rule_name, "BenchTrigger") == 0 && e.value > 0) {
		size_t i = __atomic_load_n(&l->n_lat, __ATOMIC_ACQUIRE);
		if (i < MAX_LAT) {
			l->lat[i] = now - (int64_t)e.value;
			__atomic_store_n(&l->n_lat, i + 1, __ATOMIC_RELEASE);
		}
	}
	bm_arena_reset(&l->arena);
}

static void on_http(void *user, struct bm_http_req *req)
{
	struct load *l = user;
	size_t n = __atomic_load_n(&l->n_lat, __ATOMIC_ACQUIRE);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fprintf(f, "{\"collections\":%llu,\"latency_ms\":[",
		(unsigned long long)__atomic_load_n(&l->collections, __ATOMIC_RELAXED));
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%lld", i ? "," : "", (long long)l->lat[i]);
	fprintf(f, "]}");
	fclose(f);
	bm_http_reply(req, 200, "application/json", buf, len);
	free(buf);
}

static int al_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct al_conf *c = conf;
	struct load *l = calloc(1, sizeof(*l));
	if (!l)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	l->ctx = ctx;
	l->conf = c;
	l->names = calloc((size_t)c->names, sizeof(*l->names));
	l->trig = calloc((size_t)c->triggers, sizeof(*l->trig));
	l->labels = calloc(100, sizeof(*l->labels));
	l->s = calloc(BATCH, sizeof(*l->s));
	if (!l->names || !l->trig || !l->labels || !l->s) {
		free(l->names);
		free(l->trig);
		free(l->labels);
		free(l->s);
		free(l);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	for (int64_t i = 0; i < c->names; i++)
		snprintf(l->names[i], sizeof(l->names[i]), "bench_load_%lld", (long long)i);
	for (int64_t i = 0; i < c->triggers; i++)
		snprintf(l->trig[i], sizeof(l->trig[i]), "%lld", (long long)i);
	for (int i = 0; i < 100; i++) {
		l->labels[i][0] = (struct bm_label){"idx", digits[i % 10]};
		l->labels[i][1] = (struct bm_label){"shard", digits[i / 10]};
	}
	*state = l;
	return 0;
}

static int al_start(void *state, struct bm_err *err)
{
	struct load *l = state;
	struct bm_sub_opts o = {.size = sizeof(o), .topic = BM_TOPIC_ALERT, .policy = BM_SUB_BLOCK};
	int rc = bm_bus_subscribe(l->ctx, &o, on_alert, l, &l->sub);
	if (!rc)
		rc = bm_http_route(l->ctx, "/bench/alertload", 0, on_http, l);
	return rc ? bm_err_set(err, rc, "start: %s", bm_strerror(rc)) : 0;
}

static int flush(struct load *l, size_t n)
{
	struct bm_metric_batch b = {.source = "alertload", .samples = l->s, .n_samples = n};
	return n ? bm_metrics_publish(l->ctx, &b) : 0;
}

static int al_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct load *l = state;
	size_t n = 0;
	int rc = 0;
	for (int64_t i = 0; i < l->conf->names && !rc; i++) {
		for (int k = 0; k < 10 * l->conf->shards && !rc; k++) {
			l->s[n++] = (struct bm_sample){l->names[i], l->labels[k], 2, now_ms,
						       (double)((k % 10) * 10 + k / 10)};
			if (n == BATCH) {
				rc = flush(l, n);
				n = 0;
			}
		}
	}
	rc = rc ? rc : flush(l, n);
	/* the triggers, last: behind the load in every queue */
	bool on = __atomic_add_fetch(&l->collections, 1, __ATOMIC_RELAXED) % 2 == 0;
	struct bm_label tl[100];
	int64_t pub = wall_ms();
	for (int64_t i = 0; i < l->conf->triggers; i++) {
		tl[i] = (struct bm_label){"n", l->trig[i]};
		l->s[i] =
		    (struct bm_sample){"bench_trigger", &tl[i], 1, now_ms, on ? (double)pub : 0.0};
	}
	rc = rc ? rc : flush(l, (size_t)l->conf->triggers);
	return rc ? bm_err_set(err, rc, "publish: %s", bm_strerror(rc)) : 0;
}

static void al_stop(void *state)
{
	struct load *l = state;
	if (l->sub)
		bm_bus_unsubscribe(l->sub);
	l->sub = NULL;
}

static void al_fini(void *state)
{
	struct load *l = state;
	bm_arena_free(&l->arena);
	free(l->names);
	free(l->trig);
	free(l->labels);
	free(l->s);
	free(l);
}

static const struct bm_plugin_ops al_ops = {
    .ops_size = sizeof(struct bm_plugin_ops),
    .init = al_init,
    .start = al_start,
    .stop = al_stop,
    .fini = al_fini,
    .collect = al_collect,
};

BM_PLUGIN_DEFINE(collector, alertload, BM_KIND_COLLECTOR, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "bench/alerts: series load and alert probe",
		 .origin = "bearmon bench", .options = al_options,
		 .config_size = sizeof(struct al_conf), .ops = &al_ops);
