/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optimizer/model: the model dimension. When an agent's p95 task duration
 * is over latency_target, or a model server (analyzer/bottleneck's
 * model:NAME inference finding, matched to agents by type or id) or a GPU
 * is saturated, it proposes the classic model-serving techniques with
 * their expected impacts as priors (options *_latency, *_memory,
 * *_quality): int8 quantization, pruning, distillation and a smaller batch
 * size. bearmon does not retrain models: a technique becomes an agent
 * command only where the agent declared that command (and, for the batch
 * size, reports its current one as a gauge); otherwise it is a
 * recommendation for people (actuator "manual"), which the engine never
 * carries out.
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

struct model_conf {
	struct bm_strlist techniques;
	double latency_target;
	char *quantize_command, *precision;
	double quant_latency, quant_memory, quant_quality;
	char *prune_command;
	double prune_ratio, prune_latency, prune_quality;
	double distill_latency, distill_quality;
	char *batch_command, *batch_metric;
	double batch_latency;
	int64_t max_candidates;
};

#define DBL(n, d, f, lo, hi, h) BM_OPTION_BOUNDED(n, BM_OPT_DOUBLE, d, struct model_conf, f, lo, hi, h)
#define STR(n, d, f, h) BM_OPTION(n, BM_OPT_STRING, d, struct model_conf, f, h)
/* clang-format off */
static const struct bm_option model_options[] = {
	BM_OPTION("techniques", BM_OPT_STRING_LIST, NULL, struct model_conf, techniques,
		  "quantization, pruning, distillation, batch_size; empty = all"),
	DBL("latency_target", "2", latency_target, 0, 3600,
	    "seconds: an agent whose p95 task duration is above it is a candidate; 0 = only on findings"),
	STR("quantize_command", "set_quantization", quantize_command, "agent command that quantizes its model"),
	STR("precision", "int8", precision, "precision proposed by quantization"),
	DBL("quant_latency", "-0.35", quant_latency, -1, 1, "prior: latency change of quantization"),
	DBL("quant_memory", "-0.5", quant_memory, -1, 1, "prior: memory change of quantization"),
	DBL("quant_quality", "-0.02", quant_quality, -1, 1, "prior: quality change of quantization"),
	STR("prune_command", "set_pruning", prune_command, "agent command that prunes its model"),
	DBL("prune_ratio", "0.3", prune_ratio, 0.01, 0.95, "share of weights pruning removes"),
	DBL("prune_latency", "-0.2", prune_latency, -1, 1, "prior: latency change of pruning"),
	DBL("prune_quality", "-0.03", prune_quality, -1, 1, "prior: quality change of pruning"),
	DBL("distill_latency", "-0.5", distill_latency, -1, 1, "prior: latency change of distillation"),
	DBL("distill_quality", "-0.05", distill_quality, -1, 1, "prior: quality change of distillation"),
	STR("batch_command", "set_batch_size", batch_command, "agent command that sets its batch size"),
	STR("batch_metric", "agent_batch_size", batch_metric, "gauge of the agent's current batch size"),
	DBL("batch_latency", "-0.2", batch_latency, -1, 1, "prior: latency change of halving the batch"),
	BM_OPTION_BOUNDED("max_candidates", BM_OPT_INT, "20", struct model_conf, max_candidates, 1,
			  10000, "candidates published per interval at most"),
	BM_OPTION_END,
};
/* clang-format on */
#undef DBL
#undef STR

struct model {
	const struct model_conf *conf;
	struct dimopt d;
};

static bool enabled(const struct model *m, const char *technique)
{
	const struct bm_strlist *t = &m->conf->techniques;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i], technique) == 0)
			return true;
	return t->n == 0;
}

/* The impacts a technique declares for an agent: latency, and memory and
 * quality where it has a prior for them. */
static size_t impacts(const char *agent, double latency, double memory, double quality,
		      char sel[3][300], struct bm_impact *out)
{
	size_t n = 0;
	dim_latency_selector(sel[0], sizeof(sel[0]), agent);
	out[n++] = (struct bm_impact){sel[0], latency, fabs(latency) / 2};
	if (memory != 0) {
		dim_selector(sel[1], sizeof(sel[1]), "bearmon_process_resident_memory_bytes", "agent",
			     agent);
		out[n++] = (struct bm_impact){sel[1], memory, fabs(memory) / 4};
	}
	if (quality != 0) {
		dim_selector(sel[2], sizeof(sel[2]), "agent_quality_accuracy", "agent", agent);
		out[n++] = (struct bm_impact){sel[2], quality, fabs(quality)};
	}
	return n;
}

/* One technique: an agent command when the agent takes it, else for people. */
static void technique(struct model *m, const struct oagent *a, const char *name,
		      const char *command, const char *value, double latency, double memory,
		      double quality, const char *why, int64_t now)
{
	char sel[3][300], target[300];
	struct bm_impact im[3];
	size_t n = impacts(a->id, latency, memory, quality, sel, im);
	if (command && oagent_can(a, command)) {
		struct dim_command c = {name, a->id, command, value, im, n, 0.7, 0.2, 0.6,
					"performance", why};
		dim_agent_command(&m->d, &c, now);
		return;
	}
	struct bm_kv params[] = {{"technique", name}, {"setting", value ? value : "-"}};
	snprintf(target, sizeof(target), "agent:%s", a->id);
	dim_manual(&m->d, name, target, params, 2, im, n, "performance", why, now);
}

static void batch_size(struct model *m, const struct oagent *a, const char *why, int64_t now)
{
	const struct model_conf *k = m->conf;
	double cur = oagent_can(a, k->batch_command)
			     ? dim_latest(&m->d, k->batch_metric, "agent", a->id, now)
			     : NAN;
	if (!isfinite(cur) || cur < 2)
		return;
	char value[32], sel[300];
	snprintf(value, sizeof(value), "%.0f", floor(cur / 2));
	dim_latency_selector(sel, sizeof(sel), a->id);
	struct bm_impact im = {sel, k->batch_latency, fabs(k->batch_latency) / 2};
	struct dim_command c = {"batch_size", a->id, k->batch_command, value, &im, 1, 0.7, 0.1, 0.7,
				"performance", why};
	dim_agent_command(&m->d, &c, now);
}

static void propose(struct model *m, const struct oagent *a, const char *why, int64_t now)
{
	const struct model_conf *k = m->conf;
	char ratio[32];
	snprintf(ratio, sizeof(ratio), "%g", k->prune_ratio);
	if (enabled(m, "batch_size"))
		batch_size(m, a, why, now);
	if (enabled(m, "quantization"))
		technique(m, a, "quantization", k->quantize_command, k->precision, k->quant_latency,
			  k->quant_memory, k->quant_quality, why, now);
	if (enabled(m, "pruning"))
		technique(m, a, "pruning", k->prune_command, ratio, k->prune_latency, 0,
			  k->prune_quality, why, now);
	if (enabled(m, "distillation"))
		technique(m, a, "distillation", NULL, NULL, k->distill_latency, 0,
			  k->distill_quality, why, now);
}

/* Agents of a model server: its type or id is the model's name. */
static bool serves(const struct oagent *a, const char *model)
{
	return strcmp(a->id, model) == 0 || (a->type && strcmp(a->type, model) == 0);
}

static void model_rules(void *owner, struct dimopt *d, int64_t now)
{
	struct model *m = owner;
	for (size_t i = 0; i < d->agents.n; i++) {
		const struct oagent *a = &d->agents.v[i];
		char why[512], sel[300];
		const char *cause = NULL;
		dim_latency_selector(sel, sizeof(sel), a->id);
		double p95 = m->conf->latency_target > 0 ? dim_latest_sel(d, sel, now) : NAN;
		for (size_t k = 0; k < d->n_fn && !cause; k++) {
			const char *model = dim_resource_of(&d->fn[k], "model:");
			if ((model && serves(a, model)) || dim_resource_of(&d->fn[k], "gpu:"))
				cause = d->fn[k].summary;
		}
		if (cause)
			snprintf(why, sizeof(why), "%s", cause);
		else if (p95 > m->conf->latency_target)
			snprintf(why, sizeof(why), "agent %s: p95 task duration %.3g s is over the "
						   "target %.3g s",
				 a->id, p95, m->conf->latency_target);
		else
			continue;
		propose(m, a, why, now);
	}
}

static int model_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct model_conf *c = conf;
	static const char *const known[] = {"quantization", "pruning", "distillation", "batch_size"};
	for (size_t i = 0; i < c->techniques.n; i++) {
		bool ok = false;
		for (size_t k = 0; k < 4; k++)
			ok = ok || strcmp(c->techniques.v[i], known[k]) == 0;
		if (!ok)
			return bm_err_set(err, BM_EINVAL,
					  "techniques: unknown \"%s\" (quantization, pruning, "
					  "distillation, batch_size)",
					  c->techniques.v[i]);
	}
	struct model *m = calloc(1, sizeof(*m));
	if (!m)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	m->conf = c;
	dim_init(&m->d, ctx, model_rules, m, 0, (size_t)c->max_candidates);
	*state = m;
	return 0;
}

static int model_start(void *state, struct bm_err *err)
{
	struct model *m = state;
	return dim_start(&m->d, err);
}

static void model_stop(void *state)
{
	struct model *m = state;
	dim_stop(&m->d);
}

static void model_fini(void *state)
{
	struct model *m = state;
	dim_free(&m->d);
	free(m);
}

static const struct bm_plugin_ops model_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = model_init,
	.start = model_start,
	.stop = model_stop,
	.fini = model_fini,
};

BM_PLUGIN_DEFINE(optimizer, model, BM_KIND_OPTIMIZER, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "model dimension: quantization, pruning, distillation, batch size",
		 .origin = "bearmon plugins/optimizer_model", .options = model_options,
		 .config_size = sizeof(struct model_conf), .ops = &model_ops);
