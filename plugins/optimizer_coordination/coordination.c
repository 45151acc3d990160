/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optimizer/coordination: the agent coordination dimension. On an agent's
 * coordination finding (analyzer/bottleneck agent:ID/coordination: slow
 * peers, long synchronisation waits, communication overhead) it proposes
 * message batching (a larger batch), compression, and a longer
 * synchronisation interval; when the agents of one type carry very
 * different loads (task throughput, max over min beyond imbalance_ratio)
 * it proposes a load-balancing policy (least-loaded or weighted round
 * robin). All of them are agent commands, proposed only to agents that
 * declared them; a setting changed relative to its current value needs
 * the agent to report that value as a gauge (options *_metric).
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dimopt.h"

static const char *const balancing_values[] = {"least_loaded", "weighted_round_robin", NULL};

struct coord_conf {
	char *batching_command, *batching_metric;
	double batching_factor;
	int64_t max_batch;
	char *compression_command, *compression_value;
	char *sync_command, *sync_metric;
	double sync_factor;
	char *balancing_command;
	int balancing;
	double imbalance_ratio;
	int64_t max_candidates;
};

#define STR(n, d, f, h) BM_OPTION(n, BM_OPT_STRING, d, struct coord_conf, f, h)
/* clang-format off */
static const struct bm_option coord_options[] = {
	STR("batching_command", "set_message_batch", batching_command,
	    "agent command that sets how many messages go out together"),
	STR("batching_metric", "agent_message_batch_size", batching_metric,
	    "gauge of the agent's current message batch size"),
	BM_OPTION_BOUNDED("batching_factor", BM_OPT_DOUBLE, "2", struct coord_conf, batching_factor,
			  1.1, 100, "the batch grows by this factor"),
	BM_OPTION_BOUNDED("max_batch", BM_OPT_INT, "1024", struct coord_conf, max_batch, 2, 1000000,
			  "largest message batch proposed"),
	STR("compression_command", "set_compression", compression_command,
	    "agent command that turns message compression on"),
	STR("compression_value", "on", compression_value, "its argument"),
	STR("sync_command", "set_sync_interval", sync_command,
	    "agent command that sets its synchronisation interval (seconds)"),
	STR("sync_metric", "agent_sync_interval_seconds", sync_metric,
	    "gauge of the agent's current synchronisation interval"),
	BM_OPTION_BOUNDED("sync_factor", BM_OPT_DOUBLE, "2", struct coord_conf, sync_factor, 1.1,
			  100, "the interval grows by this factor"),
	STR("balancing_command", "set_load_balancing", balancing_command,
	    "agent command that sets how work is spread over its peers"),
	{.name = "balancing", .type = BM_OPT_ENUM, .def = "least_loaded",
	 .offset = offsetof(struct coord_conf, balancing), .enum_values = balancing_values,
	 .help = "policy proposed: least_loaded or weighted_round_robin"},
	BM_OPTION_BOUNDED("imbalance_ratio", BM_OPT_DOUBLE, "2", struct coord_conf, imbalance_ratio,
			  1.1, 1000, "agents of a type whose busiest does this many times the "
			  "tasks of the idlest are imbalanced"),
	BM_OPTION_BOUNDED("max_candidates", BM_OPT_INT, "20", struct coord_conf, max_candidates, 1,
			  10000, "candidates published per interval at most"),
	BM_OPTION_END,
};
/* clang-format on */
#undef STR

struct coord {
	const struct coord_conf *conf;
	struct dimopt d;
};

static void command(struct coord *c, const struct oagent *a, const char *prefix,
		    const char *name, const char *value, const char *metric, double rel, double sd,
		    const char *dimension, const char *why, int64_t now)
{
	char sel[300];
	dim_selector(sel, sizeof(sel), metric, "agent", a->id);
	struct bm_impact im = {sel, rel, sd};
	struct dim_command cmd = {prefix, a->id, name, value, &im, 1, 0.6, 0.15, 0.6, dimension,
				  why};
	dim_agent_command(&c->d, &cmd, now);
}

/* A setting the agent reports, grown by factor (capped), as text. */
static bool grown(struct coord *c, const struct oagent *a, const char *metric, double factor,
		  double cap, char *out, size_t n, int64_t now)
{
	double cur = dim_latest(&c->d, metric, "agent", a->id, now);
	if (!(cur > 0) || cur >= cap)
		return false;
	double next = fmin(cap, cur * factor);
	snprintf(out, n, next == floor(next) ? "%.0f" : "%.3g", next);
	return true;
}

static void on_coordination(struct coord *c, const struct oagent *a, const char *why, int64_t now)
{
	const struct coord_conf *k = c->conf;
	char value[32];
	if (oagent_can(a, k->batching_command) &&
	    grown(c, a, k->batching_metric, k->batching_factor, (double)k->max_batch, value,
		  sizeof(value), now))
		command(c, a, "batching", k->batching_command, value,
			"agent_communication_overhead_ratio", -0.3, 0.15, "performance", why, now);
	if (oagent_can(a, k->compression_command))
		command(c, a, "compression", k->compression_command, k->compression_value,
			"agent_communication_overhead_ratio", -0.2, 0.1, "performance", why, now);
	if (oagent_can(a, k->sync_command) &&
	    grown(c, a, k->sync_metric, k->sync_factor, 86400, value, sizeof(value), now))
		command(c, a, "sync", k->sync_command, value, "agent_sync_wait_avg_seconds", -0.4,
			0.2, "scalability", why, now);
}

/* Per agent type: throughput spread; the dispatchers of an imbalanced type
 * (its agents that take the balancing command) get the policy. */
static void balance(struct coord *c, int64_t now)
{
	const struct oagents *ag = &c->d.agents;
	const struct coord_conf *k = c->conf;
	for (size_t i = 0; i < ag->n; i++) {
		const char *type = ag->v[i].type;
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			first = !ag->v[j].type || !type || strcmp(ag->v[j].type, type) != 0;
		if (!type || !first)
			continue;
		double lo = INFINITY, hi = -INFINITY;
		size_t n = 0;
		for (size_t j = i; j < ag->n; j++) {
			double t = ag->v[j].type && strcmp(ag->v[j].type, type) == 0
					   ? dim_latest(&c->d, "agent_task_throughput", "agent",
							ag->v[j].id, now)
					   : NAN;
			if (isfinite(t)) {
				lo = fmin(lo, t);
				hi = fmax(hi, t);
				n++;
			}
		}
		if (n < 2 || !(hi > 0) || (lo > 0 && hi / lo < k->imbalance_ratio))
			continue;
		char why[300];
		snprintf(why, sizeof(why),
			 "agents of type %s are imbalanced: %.3g to %.3g tasks/s (ratio limit %g)", type,
			 lo, hi, k->imbalance_ratio);
		for (size_t j = i; j < ag->n; j++) {
			const struct oagent *a = &ag->v[j];
			if (a->type && strcmp(a->type, type) == 0 && oagent_can(a, k->balancing_command))
				command(c, a, "balancing", k->balancing_command,
					balancing_values[k->balancing], "agent_task_duration_avg_seconds",
					-0.15, 0.1, "scalability", why, now);
		}
	}
}

static void coord_rules(void *owner, struct dimopt *d, int64_t now)
{
	struct coord *c = owner;
	for (size_t i = 0; i < d->n_fn; i++) {
		const char *id = dim_resource_of(&d->fn[i], "agent:");
		const struct oagent *a = id ? oagents_find(&d->agents, id) : NULL;
		if (a && d->fn[i].kind == BM_BN_COORDINATION)
			on_coordination(c, a, d->fn[i].summary, now);
	}
	balance(c, now);
}

static int coord_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct coord_conf *k = conf;
	struct coord *c = calloc(1, sizeof(*c));
	if (!c)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	c->conf = k;
	dim_init(&c->d, ctx, coord_rules, c, 0, (size_t)k->max_candidates);
	*state = c;
	return 0;
}

static int coord_start(void *state, struct bm_err *err)
{
	struct coord *c = state;
	return dim_start(&c->d, err);
}

static void coord_stop(void *state)
{
	struct coord *c = state;
	dim_stop(&c->d);
}

static void coord_fini(void *state)
{
	struct coord *c = state;
	dim_free(&c->d);
	free(c);
}

static const struct bm_plugin_ops coord_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = coord_init,
	.start = coord_start,
	.stop = coord_stop,
	.fini = coord_fini,
};

BM_PLUGIN_DEFINE(optimizer, coordination, BM_KIND_OPTIMIZER, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "agent coordination: batching, compression, sync interval, load balancing",
		 .origin = "bearmon plugins/optimizer_coordination", .options = coord_options,
		 .config_size = sizeof(struct coord_conf), .ops = &coord_ops);
