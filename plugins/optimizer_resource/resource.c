/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optimizer/resource: the resource dimension. It watches the analyzers'
 * findings and forecasts and proposes, as `candidate` events with their
 * declared impact:
 *   memory running out (an agent's or the host's memory forecast to cross
 *   its limit, a memory bottleneck): cache eviction and pool shrinking on
 *   agents that declared those commands; a growing cgroup capped at its
 *   forecast limit (memory.max, memory.high); a cgroup near its memory
 *   limit given more room;
 *   CPU saturation: smaller thread pools on agents, a lower priority (nice)
 *   for the busiest other process; a throttled cgroup more cpu.max quota;
 *   GPU saturation (a GPU or a model server): smaller batches.
 * Agent settings are changed relative to the value the agent reports as a
 * gauge (options *_metric): with no such gauge, no absolute value can be
 * proposed and the rule stays silent.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dimopt.h"
#include "selector.h"

struct resource_conf {
	char *cache_command;
	double eviction_impact, eviction_uncertainty;
	char *pool_command, *pool_metric;
	double pool_shrink;
	char *thread_command, *thread_metric;
	double thread_shrink;
	char *batch_command, *batch_metric;
	double contain_impact, memory_limit_raise, cpu_quota_raise;
	int64_t renice;
	int64_t horizon_ms;
	int64_t max_candidates;
};

#define DBL(n, d, f, lo, hi, h) BM_OPTION_BOUNDED(n, BM_OPT_DOUBLE, d, struct resource_conf, f, lo, hi, h)
#define STR(n, d, f, h) BM_OPTION(n, BM_OPT_STRING, d, struct resource_conf, f, h)
/* clang-format off */
static const struct bm_option resource_options[] = {
	STR("cache_command", "evict_cache", cache_command, "agent command that evicts caches"),
	DBL("eviction_impact", "-0.3", eviction_impact, -1, 1,
	    "declared relative change of the agent's memory after an eviction"),
	DBL("eviction_uncertainty", "0.2", eviction_uncertainty, 0, 10,
	    "its standard deviation"),
	STR("pool_command", "set_pool_size", pool_command, "agent command that resizes a memory pool"),
	STR("pool_metric", "agent_pool_size", pool_metric, "gauge of the agent's current pool size"),
	DBL("pool_shrink", "0.25", pool_shrink, 0.01, 0.9, "share a pool shrinks by"),
	STR("thread_command", "set_thread_pool_size", thread_command,
	    "agent command that resizes its thread pool"),
	STR("thread_metric", "agent_thread_pool_size", thread_metric,
	    "gauge of the agent's current thread pool size"),
	DBL("thread_shrink", "0.25", thread_shrink, 0.01, 0.9,
	    "share a thread pool shrinks by under CPU saturation"),
	STR("batch_command", "set_batch_size", batch_command, "agent command that sets its batch size"),
	STR("batch_metric", "agent_batch_size", batch_metric, "gauge of the agent's current batch size"),
	DBL("contain_impact", "-0.2", contain_impact, -1, 0,
	    "declared change of a growing cgroup's memory once capped at its forecast limit"),
	DBL("memory_limit_raise", "0.25", memory_limit_raise, 0.01, 10,
	    "share a cgroup's memory limit grows by when it is near it"),
	DBL("cpu_quota_raise", "0.5", cpu_quota_raise, 0.01, 10,
	    "share a throttled cgroup's cpu.max quota grows by"),
	BM_OPTION_BOUNDED("renice", BM_OPT_INT, "10", struct resource_conf, renice, 1, 19,
			  "nice value proposed for the busiest process under CPU saturation"),
	BM_OPTION_BOUNDED("horizon", BM_OPT_DURATION, "1h", struct resource_conf, horizon_ms,
			  1000, 31536000000LL, "forecast crossings within this horizon are acted on"),
	BM_OPTION_BOUNDED("max_candidates", BM_OPT_INT, "20", struct resource_conf, max_candidates,
			  1, 10000, "candidates published per interval at most"),
	BM_OPTION_END,
};
/* clang-format on */
#undef DBL
#undef STR

struct resource {
	const struct resource_conf *conf;
	struct dimopt d;
};

#define PAGE 4096.0

/* A command to an agent with one declared impact. */
static void command(struct resource *r, int64_t now, const char *prefix, const char *agent,
		    const char *name, const char *value, const struct bm_impact *impact,
		    double benefit, double risk, const char *why, const char *dimension)
{
	struct dim_command c = {prefix, agent, name, value, impact, 1, benefit, risk, 0.7,
				dimension, why};
	dim_agent_command(&r->d, &c, now);
}

static void evict(struct resource *r, const struct oagent *a, const char *why, int64_t now)
{
	const struct resource_conf *k = r->conf;
	char metric[300];
	dim_selector(metric, sizeof(metric), "bearmon_process_resident_memory_bytes", "agent", a->id);
	struct bm_impact evicted = {metric, k->eviction_impact, k->eviction_uncertainty};
	struct bm_impact shrunk = {metric, -k->pool_shrink / 2, k->pool_shrink / 2};
	if (oagent_can(a, k->cache_command))
		command(r, now, "evict", a->id, k->cache_command, NULL, &evicted, 0.7, 0.1, why,
			"resource_efficiency");
	double size = oagent_can(a, k->pool_command)
			      ? dim_latest(&r->d, k->pool_metric, "agent", a->id, now)
			      : NAN;
	if (isfinite(size) && size >= 2) {
		char value[32];
		snprintf(value, sizeof(value), "%.0f", floor(size * (1 - k->pool_shrink)));
		command(r, now, "pool", a->id, k->pool_command, value, &shrunk, 0.6, 0.15, why,
			"resource_efficiency");
	}
}

/* Every agent that can free memory, for host-wide memory trouble. */
static void evict_all(struct resource *r, const char *why, int64_t now)
{
	for (size_t i = 0; i < r->d.agents.n; i++)
		evict(r, &r->d.agents.v[i], why, now);
}

/* Cap a growing cgroup at the limit its forecast crosses. */
static void contain(struct resource *r, const struct dim_forecast *f, const char *cgroup,
		    const char *why, int64_t now)
{
	double limit = dim_latest(&r->d, "container_spec_memory_limit_bytes", "cgroup", cgroup, now);
	if (f->cross != BM_CROSS_ABOVE || !(f->threshold > 0) || (isfinite(limit) && limit <= f->threshold))
		return;
	char id[300], max[32], high[32], metric[300];
	snprintf(id, sizeof(id), "contain:%s", cgroup);
	snprintf(max, sizeof(max), "%.0f", floor(f->threshold / PAGE) * PAGE);
	snprintf(high, sizeof(high), "%.0f", floor(f->threshold * 0.9 / PAGE) * PAGE);
	dim_selector(metric, sizeof(metric), "container_memory_working_set_bytes", "cgroup", cgroup);
	struct bm_kv params[] = {{"memory.max", max}, {"memory.high", high}};
	struct bm_impact impact = {metric, r->conf->contain_impact, 0.1};
	struct bm_candidate_event c = {
		.id = id, .dimension = "reliability", .action = {"cgroup", cgroup, params, 2},
		.impact = &impact, .n_impact = 1, .benefit = 0.7, .risk = 0.25,
		.confidence = f->confidence, .reason = why,
		.rollback = "write the previous memory.max and memory.high back",
	};
	dim_publish(&r->d, &c, now);
}

static void memory_forecast(struct resource *r, const struct dim_forecast *f, int64_t now)
{
	char why[700];
	const char *agent = kvl_get(&f->labels, "agent");
	const char *cgroup = kvl_get(&f->labels, "cgroup");
	snprintf(why, sizeof(why), "%s forecast to go %s %.6g in %.1f min", f->series,
		 f->cross == BM_CROSS_BELOW ? "below" : "above", f->threshold, f->ttt_ms / 60000.0);
	if (!strstr(f->name, "memory") || f->ttt_ms > r->conf->horizon_ms)
		return;
	if (agent) {
		const struct oagent *a = oagents_find(&r->d.agents, agent);
		if (a)
			evict(r, a, why, now);
	} else if (cgroup && strncmp(f->name, "container_memory_", 17) == 0) {
		contain(r, f, cgroup, why, now);
	} else if (strncmp(f->name, "node_memory_", 12) == 0) {
		evict_all(r, why, now);
	}
}

/* A cgroup near (or over) its memory limit gets more room. */
static void raise_memory_limit(struct resource *r, const struct dim_finding *fn,
			       const char *cgroup, int64_t now)
{
	double limit = dim_latest(&r->d, "container_spec_memory_limit_bytes", "cgroup", cgroup, now);
	if (!isfinite(limit) || limit <= 0)
		return;
	char id[300], max[32], metric[300];
	double raised = ceil(limit * (1 + r->conf->memory_limit_raise) / PAGE) * PAGE;
	snprintf(id, sizeof(id), "memlimit:%s", cgroup);
	snprintf(max, sizeof(max), "%.0f", raised);
	dim_selector(metric, sizeof(metric), "container_spec_memory_limit_bytes", "cgroup", cgroup);
	struct bm_kv params[] = {{"memory.max", max}};
	struct bm_impact impact = {metric, raised / limit - 1, 0.01};
	struct bm_candidate_event c = {
		.id = id, .dimension = "reliability", .action = {"cgroup", cgroup, params, 1},
		.impact = &impact, .n_impact = 1, .benefit = 0.6, .risk = 0.15, .confidence = 0.8,
		.reason = fn->summary, .rollback = "write the previous memory.max back",
	};
	dim_publish(&r->d, &c, now);
}

/* A throttled cgroup gets more cpu.max quota. */
static void raise_cpu_quota(struct resource *r, const struct dim_finding *fn, const char *cgroup,
			    int64_t now)
{
	double quota = dim_latest(&r->d, "container_spec_cpu_quota", "cgroup", cgroup, now);
	double period = dim_latest(&r->d, "container_spec_cpu_period", "cgroup", cgroup, now);
	if (!(quota > 0) || !(period > 0))
		return;
	char id[300], value[64], metric[300];
	snprintf(id, sizeof(id), "cpuquota:%s", cgroup);
	snprintf(value, sizeof(value), "%.0f %.0f", ceil(quota * (1 + r->conf->cpu_quota_raise)),
		 period);
	dim_selector(metric, sizeof(metric), "container_spec_cpu_quota", "cgroup", cgroup);
	struct bm_kv params[] = {{"cpu.max", value}};
	struct bm_impact impact = {metric, r->conf->cpu_quota_raise, 0.01};
	struct bm_candidate_event c = {
		.id = id, .dimension = "performance", .action = {"cgroup", cgroup, params, 1},
		.impact = &impact, .n_impact = 1, .benefit = 0.6, .risk = 0.15, .confidence = 0.8,
		.reason = fn->summary, .rollback = "write the previous cpu.max back",
	};
	dim_publish(&r->d, &c, now);
}

/* Shrink a setting the agent reports (threads, batch) by a share. */
static void shrink_setting(struct resource *r, const struct oagent *a, const char *prefix,
			   const char *name, const char *metric, double share, const char *why,
			   int64_t now)
{
	double cur = oagent_can(a, name) ? dim_latest(&r->d, metric, "agent", a->id, now) : NAN;
	if (!isfinite(cur) || cur < 2)
		return;
	char value[32], latency[300];
	snprintf(value, sizeof(value), "%.0f", floor(cur * (1 - share)));
	dim_latency_selector(latency, sizeof(latency), a->id);
	struct bm_impact faster = {latency, -share / 2, share / 2};
	command(r, now, prefix, a->id, name, value, &faster, 0.6, 0.15, why, "performance");
}

/* The busiest process named in the finding's evidence that is neither an
 * agent's nor bearmond: a lower priority for it. */
static void renice_top(struct resource *r, const struct dim_finding *fn, int64_t now)
{
	for (size_t i = 0; i < fn->evidence.n; i++) {
		struct sel s;
		const char *series = fn->evidence.v[i].key;
		if (sel_parse(series, &s, NULL, 0))
			continue;
		const char *pid = sel_label(&s, "pid");
		bool skip = !pid || sel_label(&s, "agent") || atol(pid) == (long)getpid() ||
			    atol(pid) <= 1;
		if (!skip) {
			char id[64], nice[16];
			snprintf(id, sizeof(id), "renice:%s", pid);
			snprintf(nice, sizeof(nice), "%lld", (long long)r->conf->renice);
			struct bm_kv params[] = {{"nice", nice}};
			struct bm_candidate_event c = {
				.id = id, .dimension = "performance",
				.action = {"process", pid, params, 1}, .benefit = 0.5, .risk = 0.2,
				.confidence = 0.6, .reason = fn->summary,
				.rollback = "the process's previous nice value, thread by thread",
			};
			dim_publish(&r->d, &c, now);
		}
		sel_free(&s);
		if (!skip)
			return;
	}
}

static void on_finding(struct resource *r, const struct dim_finding *fn, int64_t now)
{
	const struct resource_conf *k = r->conf;
	const char *cgroup = dim_resource_of(fn, "cgroup:");
	if (strcmp(fn->resource, "memory") == 0) {
		evict_all(r, fn->summary, now);
	} else if (cgroup && (fn->kind == BM_BN_UTILISATION || fn->kind == BM_BN_ERRORS) &&
		   strstr(fn->id, "/saturation") == NULL) {
		raise_memory_limit(r, fn, cgroup, now);
	} else if (cgroup && fn->kind == BM_BN_SATURATION) {
		raise_cpu_quota(r, fn, cgroup, now);
	} else if (strcmp(fn->resource, "cpu") == 0 && fn->kind == BM_BN_SATURATION) {
		for (size_t i = 0; i < r->d.agents.n; i++)
			shrink_setting(r, &r->d.agents.v[i], "threads", k->thread_command,
				       k->thread_metric, k->thread_shrink, fn->summary, now);
		renice_top(r, fn, now);
	} else if ((dim_resource_of(fn, "gpu:") && fn->kind == BM_BN_SATURATION) ||
		   (dim_resource_of(fn, "model:") && fn->kind == BM_BN_INFERENCE)) {
		for (size_t i = 0; i < r->d.agents.n; i++)
			shrink_setting(r, &r->d.agents.v[i], "batch", k->batch_command,
				       k->batch_metric, 0.5, fn->summary, now);
	}
}

static void resource_rules(void *owner, struct dimopt *d, int64_t now)
{
	struct resource *r = owner;
	for (size_t i = 0; i < d->n_fc; i++)
		memory_forecast(r, &d->fc[i], now);
	for (size_t i = 0; i < d->n_fn; i++)
		on_finding(r, &d->fn[i], now);
}

static int resource_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct resource_conf *c = conf;
	struct resource *r = calloc(1, sizeof(*r));
	if (!r)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	r->conf = c;
	dim_init(&r->d, ctx, resource_rules, r, c->horizon_ms, (size_t)c->max_candidates);
	*state = r;
	return 0;
}

static int resource_start(void *state, struct bm_err *err)
{
	struct resource *r = state;
	return dim_start(&r->d, err);
}

static void resource_stop(void *state)
{
	struct resource *r = state;
	dim_stop(&r->d);
}

static void resource_fini(void *state)
{
	struct resource *r = state;
	dim_free(&r->d);
	free(r);
}

static const struct bm_plugin_ops resource_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = resource_init,
	.start = resource_start,
	.stop = resource_stop,
	.fini = resource_fini,
};

BM_PLUGIN_DEFINE(optimizer, resource, BM_KIND_OPTIMIZER, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "resource dimension: memory, CPU and GPU candidate actions",
		 .origin = "bearmon plugins/optimizer_resource", .options = resource_options,
		 .config_size = sizeof(struct resource_conf), .ops = &resource_ops);
