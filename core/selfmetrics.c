/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-metrics (see selfmetrics.h). Built into one batch per round with
 * Prometheus names: bearmon_* for ours, process_* as client libraries
 * export them, so existing dashboards work.
 */
#define _GNU_SOURCE
#include "selfmetrics.h"

#include <dirent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bearmon/bm_batch.h"
#include "bearmon/bm_event.h"
#include "bus.h"
#include "daemon.h"
#include "instance.h"
#include "log.h"
#include "store_api.h"

struct selfmetrics {
	struct daemon *d;
	struct event *timer;
};

static void bus_topics(void *u, const struct bus_topic_stats *st)
{
	bm_batch_addl(u, "bearmon_bus_published_total", (double)st->published, "topic", st->topic,
		      NULL);
}

static void bus_subs(void *u, const struct bus_sub_stats *st)
{
	static const char *const names[] = {
		"bearmon_bus_delivered_total", "bearmon_bus_dropped_total",
		"bearmon_bus_block_timeouts_total", "bearmon_bus_queue_depth",
		"bearmon_bus_queue_capacity",
	};
	const double v[] = {(double)st->delivered, (double)st->dropped, (double)st->timeouts,
			    st->depth, st->capacity};
	for (size_t i = 0; i < 5; i++)
		bm_batch_addl(u, names[i], v[i], "policy", st->policy, "subscriber", st->owner,
			      "topic", st->topic, NULL);
}

static void bus_pubs(void *u, const struct bus_pub_stats *st)
{
	bm_batch_addl(u, "bearmon_bus_publisher_events_total", (double)st->published, "publisher",
		      st->name, NULL);
	bm_batch_addl(u, "bearmon_bus_publisher_lost_total", (double)st->lost, "publisher",
		      st->name, NULL);
}

/* CPU of an instance's subscription delivery threads. */
struct sub_cpu {
	struct bm_ctx *in;
	uint64_t cpu_ns;
};
static void sum_sub_cpu(void *u, const struct bus_sub_stats *st)
{
	struct sub_cpu *c = u;
	if (st->tag == c->in)
		c->cpu_ns += st->cpu_ns;
}

static void instance_sample(struct bm_batch *b, struct bm_ctx *in, const char *name, double v)
{
	bm_batch_addl(b, name, v, "instance", in->name, "plugin", in->plugin_name, NULL);
}

static void one_instance(struct bm_batch *b, struct daemon *d, struct bm_ctx *in)
{
	bm_batch_addl(b, "bearmon_plugin_up", in->st == INST_RUNNING, "instance", in->name, "kind",
		      in->kind, "plugin", in->plugin_name, NULL);
	if (in->st != INST_RUNNING)
		return;
	struct sub_cpu c = {in, 0};
	bus_each_sub(d->bus, sum_sub_cpu, &c);
	pthread_mutex_lock(&in->sched.lock);
	struct collector_sched s = in->sched;
	pthread_mutex_unlock(&in->sched.lock);
	/* integer nanoseconds over 10^9: an exact decimal, which the store
	 * compresses well */
	instance_sample(b, in, "bearmon_plugin_cpu_seconds_total", (double)(s.cpu_ns + c.cpu_ns) / 1e9);
	if (in->plugin->desc.kind == BM_KIND_COLLECTOR) {
		instance_sample(b, in, "bearmon_plugin_collect_duration_seconds", s.last_duration_s);
		instance_sample(b, in, "bearmon_plugin_collect_success", s.collections ? s.last_ok : 0);
		instance_sample(b, in, "bearmon_plugin_collections_total", (double)s.collections);
		instance_sample(b, in, "bearmon_plugin_collect_failures_total", (double)s.failures);
		instance_sample(b, in, "bearmon_plugin_overruns_total", (double)s.overruns);
	}
	pthread_mutex_lock(&in->res_lock);
	for (size_t k = 0; k < in->n_sms; k++) {
		const struct self_metric *m = &in->sms[k];
		double v = m->is_counter ? (double)__atomic_load_n((const uint64_t *)m->value, __ATOMIC_RELAXED)
					 : *(const volatile double *)m->value;
		bm_batch_family(b, m->name, m->is_counter ? BM_METRIC_COUNTER : BM_METRIC_GAUGE, "",
				m->help);
		instance_sample(b, in, m->name, v);
	}
	pthread_mutex_unlock(&in->res_lock);
}

/* Since Linux 6.2 the size of /proc/self/fd is the number of open fds: one
 * stat instead of reading the directory, which costs about 0.4 us per fd
 * (hundreds with the process collector's cached /proc files). Older
 * kernels report 0 there: read the directory then. */
static double open_fds(void)
{
	struct stat st;
	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
		return (double)st.st_size;
	DIR *dir = opendir("/proc/self/fd");
	double n = 0;
	if (!dir)
		return 0;
	while (readdir(dir))
		n++;
	closedir(dir);
	return n - 3; /* ".", "..", and the directory's own fd */
}

static double rss_bytes(void)
{
	long pages = 0, size = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &size, &pages) != 2)
			pages = 0;
		fclose(f);
	}
	return (double)pages * (double)sysconf(_SC_PAGESIZE);
}

static void process_metrics(struct bm_batch *b, struct daemon *d)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	uint64_t us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
		      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	double cpu = (double)us / 1e6;
	bm_batch_addl(b, "process_cpu_seconds_total", cpu, NULL);
	bm_batch_addl(b, "process_resident_memory_bytes", rss_bytes(), NULL);
	bm_batch_addl(b, "process_open_fds", open_fds(), NULL);
	bm_batch_addl(b, "process_start_time_seconds", (double)d->started_ms / 1000.0, NULL);
	bm_batch_addl(b, "bearmon_log_suppressed_total", (double)log_suppressed_total(), NULL);
	bm_batch_addl(b, "bearmon_config_reloads_total", (double)d->reloads_ok, "result", "success",
		      NULL);
	bm_batch_addl(b, "bearmon_config_reloads_total", (double)d->reloads_failed, "result",
		      "failure", NULL);
}

static void core_families(struct bm_batch *b)
{
	static const struct {
		const char *name;
		enum bm_metric_type type;
		const char *help;
	} f[] = {
		{"bearmon_bus_published_total", BM_METRIC_COUNTER, "events published per topic"},
		{"bearmon_bus_delivered_total", BM_METRIC_COUNTER, "events delivered per subscription"},
		{"bearmon_bus_dropped_total", BM_METRIC_COUNTER, "events dropped by a full or closing subscription queue"},
		{"bearmon_bus_block_timeouts_total", BM_METRIC_COUNTER, "publisher waits on a full block-policy queue that ran out"},
		{"bearmon_bus_queue_depth", BM_METRIC_GAUGE, "events waiting in a subscription queue"},
		{"bearmon_bus_queue_capacity", BM_METRIC_GAUGE, "capacity of a subscription queue"},
		{"bearmon_bus_publisher_events_total", BM_METRIC_COUNTER, "events published per publisher"},
		{"bearmon_bus_publisher_lost_total", BM_METRIC_COUNTER, "events of a publisher that a block-policy subscriber did not get"},
		{"bearmon_plugin_up", BM_METRIC_GAUGE, "1 when the plugin instance is running"},
		{"bearmon_plugin_cpu_seconds_total", BM_METRIC_COUNTER, "CPU time of the instance's collection and delivery threads"},
		{"bearmon_plugin_collect_duration_seconds", BM_METRIC_GAUGE, "duration of the last collection"},
		{"bearmon_plugin_collect_success", BM_METRIC_GAUGE, "1 when the last collection succeeded"},
		{"bearmon_plugin_collections_total", BM_METRIC_COUNTER, "collections run"},
		{"bearmon_plugin_collect_failures_total", BM_METRIC_COUNTER, "collections that failed"},
		{"bearmon_plugin_overruns_total", BM_METRIC_COUNTER, "ticks skipped because the previous collection still ran"},
		{"process_cpu_seconds_total", BM_METRIC_COUNTER, "user and system CPU time of bearmond"},
		{"process_resident_memory_bytes", BM_METRIC_GAUGE, "resident memory of bearmond"},
		{"process_open_fds", BM_METRIC_GAUGE, "open file descriptors of bearmond"},
		{"process_start_time_seconds", BM_METRIC_GAUGE, "start time of bearmond since the epoch"},
		{"bearmon_log_suppressed_total", BM_METRIC_COUNTER, "log lines suppressed by the rate limiter"},
		{"bearmon_config_reloads_total", BM_METRIC_COUNTER, "config reloads by result"},
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		bm_batch_family(b, f[i].name, f[i].type, "", f[i].help);
}

void selfmetrics_publish(struct daemon *d)
{
	struct bm_batch b = {.ts_ms = wall_ms()};
	core_families(&b);
	bus_each_topic(d->bus, bus_topics, &b);
	bus_each_sub(d->bus, bus_subs, &b);
	bus_each_publisher(d->bus, bus_pubs, &b);
	for (size_t i = 0; i < d->n_inst; i++)
		one_instance(&b, d, d->inst[i]);
	process_metrics(&b, d);
	store_self_metrics(d, &b);
	struct bm_metric_batch mb;
	bm_batch_view(&b, &mb);
	mb.source = "bearmond";
	struct bm_buf buf = {0};
	if (bm_metric_batch_encode(&mb, &buf) == 0)
		bus_publish(d->bus, d->core_publisher, BM_TOPIC_METRIC, buf.data, buf.len);
	bm_buf_free(&buf);
	bm_batch_free(&b);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct selfmetrics *sm = arg;
	selfmetrics_publish(sm->d);
}

struct selfmetrics *selfmetrics_start(struct daemon *d)
{
	struct selfmetrics *sm = calloc(1, sizeof(*sm));
	if (!sm)
		return NULL;
	sm->d = d;
	sm->timer = event_new(d->loop, -1, EV_PERSIST, on_timer, sm);
	int64_t ms = d->cfg->core.self_metrics_interval_ms;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	if (!sm->timer || event_add(sm->timer, &tv)) {
		selfmetrics_stop(sm);
		return NULL;
	}
	return sm;
}

void selfmetrics_stop(struct selfmetrics *sm)
{
	if (!sm)
		return;
	if (sm->timer)
		event_free(sm->timer);
	free(sm);
}
