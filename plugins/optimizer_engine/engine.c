/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optimizer/engine: every cycle it takes stock of what the analyzers say
 * (bottlenecks, forecasts, trends, health), evaluates the dimension
 * optimizers' candidate actions (simulated impact from declared priors and
 * measured history, constraints, benefit, risk, score against weighted
 * objectives), combines the best non-conflicting ones into a plan, and
 * publishes it as a `recommendation`. In dry-run mode it logs what an
 * approved plan would do; in execute mode it runs it through the allowed
 * actuators, holds the targets, watches the effect and rolls back on a
 * regression. Recommend-only by default; no actuator is allowed unless the
 * config lists it.
 */
#define _GNU_SOURCE
#include "engine.h"

#include <bearmon/bm_vec.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conditions.h"
#include "evaluate.h"
#include "executor.h"
#include "history.h"
#include "learn.h"
#include "plan.h"
#include "plugin_stop.h"
#include "pool.h"
#include "routes.h"
#include "vpa.h"

#define TICK_MS 1000
#define HOUR_MS 3600000

static const char *const mode_values[] = {"recommend", "dry-run", "execute", NULL};
static const char *const strategy_values[] = {"reactive", "proactive", "predictive", "adaptive",
					      "holistic", NULL};
static const char *const goal_values[] = {"minimize", "maximize", NULL};

/* clang-format off */
static const struct bm_option objective_options[] = {
	BM_OPTION("name", BM_OPT_STRING, NULL, struct objective_conf, name, "name for people"),
	{.name = "metric", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct objective_conf, metric),
	 .help = "metric name pattern (POSIX ERE, anchored) of the impacts it covers"},
	{.name = "goal", .type = BM_OPT_ENUM, .def = "minimize",
	 .offset = offsetof(struct objective_conf, goal), .enum_values = goal_values,
	 .help = "minimize or maximize the metric"},
	BM_OPTION_BOUNDED("weight", BM_OPT_DOUBLE, "1", struct objective_conf, weight, 0, 1000,
			  "weight among the objectives"),
	BM_OPTION_END,
};

static const struct bm_option constraint_options[] = {
	BM_OPTION("name", BM_OPT_STRING, NULL, struct constraint_conf, name, "name for people"),
	BM_OPTION("metric", BM_OPT_STRING, NULL, struct constraint_conf, metric,
		  "selector of a metric whose value the constraint bounds"),
	BM_OPTION("param", BM_OPT_STRING, NULL, struct constraint_conf, param,
		  "or: an action parameter it bounds (memory.high, COMMAND.ARG, ...)"),
	BM_OPTION("min", BM_OPT_DOUBLE, "nan", struct constraint_conf, min,
		  "lowest allowed value (unset: none)"),
	BM_OPTION("max", BM_OPT_DOUBLE, "nan", struct constraint_conf, max,
		  "highest allowed value (unset: none)"),
	BM_OPTION_END,
};

static const struct bm_option preference_options[] = {
	BM_OPTION_BOUNDED("risk_aversion", BM_OPT_DOUBLE, "0.5", struct preferences_conf,
			  risk_aversion, 0, 100, "score = weight x benefit - this x risk"),
	BM_OPTION_BOUNDED("max_actions_per_hour", BM_OPT_INT, "6", struct preferences_conf,
			  max_actions_per_hour, 0, 100000,
			  "plans executed automatically per hour at most; 0 = no limit"),
	BM_OPTION("prefer_reversible", BM_OPT_BOOL, "true", struct preferences_conf,
		  prefer_reversible, "action kinds known to be irreversible carry more risk"),
	BM_OPTION_BOUNDED("urgency_weight", BM_OPT_DOUBLE, "0.5", struct preferences_conf,
			  urgency_weight, 0, 100,
			  "how much a soon predicted violation raises a candidate's score"),
	BM_OPTION_END,
};

#define DUR(n, d, f, lo, hi, h) BM_OPTION_BOUNDED(n, BM_OPT_DURATION, d, struct engine_conf, f, lo, hi, h)
#define DBL(n, d, f, lo, hi, h) BM_OPTION_BOUNDED(n, BM_OPT_DOUBLE, d, struct engine_conf, f, lo, hi, h)

static const struct bm_option engine_options[] = {
	{.name = "mode", .type = BM_OPT_ENUM, .def = "recommend",
	 .offset = offsetof(struct engine_conf, mode), .enum_values = mode_values,
	 .help = "recommend (publish only), dry-run (log what would be done) or execute"},
	{.name = "strategy", .type = BM_OPT_ENUM, .def = "holistic",
	 .offset = offsetof(struct engine_conf, strategy), .enum_values = strategy_values,
	 .help = "which conditions let a candidate in: reactive, proactive, predictive, adaptive, holistic"},
	BM_OPTION("dimensions", BM_OPT_STRING_LIST, NULL, struct engine_conf, dimensions,
		  "dimensions whose candidates are considered; empty = all"),
	BM_OPTION("weights", BM_OPT_MAP, NULL, struct engine_conf, weights,
		  "weight per dimension (default 1), e.g. { performance = \"2\"; }"),
	{.name = "objectives", .type = BM_OPT_GROUP_LIST,
	 .offset = offsetof(struct engine_conf, objectives), .sub = objective_options,
	 .sub_size = sizeof(struct objective_conf),
	 .help = "metrics to minimise or maximise, with weights"},
	{.name = "constraints", .type = BM_OPT_GROUP_LIST,
	 .offset = offsetof(struct engine_conf, constraints), .sub = constraint_options,
	 .sub_size = sizeof(struct constraint_conf),
	 .help = "bounds no chosen plan may break (a metric or an action parameter)"},
	{.name = "preferences", .type = BM_OPT_GROUP,
	 .offset = offsetof(struct engine_conf, preferences), .sub = preference_options,
	 .help = "risk aversion, rate of automatic actions, reversibility, urgency"},
	DBL("max_risk", "0.3", max_risk, 0, 1, "approval gate: simulated risk must be below this"),
	DBL("min_benefit", "0.6", min_benefit, 0, 1,
	    "approval gate: simulated benefit must be above this"),
	BM_OPTION("actuators", BM_OPT_STRING_LIST, NULL, struct engine_conf, actuators,
		  "actuators that may run: cgroup, process, sysctl, agent_command; empty = none"),
	BM_OPTION("sysctl_allow", BM_OPT_STRING_LIST, NULL, struct engine_conf, sysctl_allow,
		  "sysctl keys the sysctl actuator may write"),
	BM_OPTION("cgroup_root", BM_OPT_STRING, "/sys/fs/cgroup", struct engine_conf, cgroup_root,
		  "where the cgroup hierarchies are mounted"),
	DUR("hold", "5m", hold_ms, 0, 86400000, "no further action on a target this long after one"),
	DUR("watch", "2m", watch_ms, 1000, 86400000, "watch window after an action"),
	DUR("settle", "10s", settle_ms, 0, 3600000,
	    "the watch window's measurement starts this long after the change"),
	DUR("baseline", "2m", baseline_ms, 1000, 86400000,
	    "window before the change whose mean is the baseline"),
	DBL("rollback_threshold", "0.1", rollback_threshold, 0, 10,
	    "a measured change this much against an objective rolls back (0.1 = 10%)"),
	DUR("command_timeout", "30s", command_timeout_ms, 100, 3600000,
	    "deadline of an agent command's ack"),
	DUR("horizon", "1h", horizon_ms, 1000, 31536000000LL,
	    "forecast crossings within this horizon are predicted conditions"),
	DUR("condition_ttl", "5m", condition_ttl_ms, 1000, 86400000,
	    "a condition not confirmed this long is forgotten"),
	BM_OPTION_BOUNDED("max_plan_steps", BM_OPT_INT, "3", struct engine_conf, max_plan_steps, 1,
			  ENG_MAX_STEPS, "candidates combined into one plan at most"),
	DBL("full_benefit_change", "0.25", full_benefit_change, 0.001, 10,
	    "an improvement of this relative size on an objective is full benefit"),
	DBL("harm_tolerance", "0.05", harm_tolerance, 0, 10,
	    "a change against an objective smaller than this is not harm"),
	DBL("min_uncertainty", "0.05", min_uncertainty, 0.0001, 10,
	    "floor of every impact's standard deviation"),
	DBL("constraint_confidence", "0.95", constraint_confidence, 0.5, 0.9999,
	    "metric constraints must hold at this one-sided confidence"),
	DUR("republish", "10m", republish_ms, 1000, 86400000,
	    "an unchanged plan is published again this often"),
	BM_OPTION_BOUNDED("max_candidates", BM_OPT_INT, "1000", struct engine_conf, max_candidates,
			  1, 1000000, "candidates kept at most"),
	BM_OPTION_BOUNDED("max_actions", BM_OPT_INT, "1000", struct engine_conf, max_actions, 16,
			  1000000, "actions kept in memory and in the state file at most"),
	BM_OPTION("state_file", BM_OPT_STRING, NULL, struct engine_conf, state_file,
		  "learned effects and executed actions; default DATA_DIR/optimizer-INSTANCE.json"),
	BM_OPTION("vpa", BM_OPT_BOOL, "true", struct engine_conf, vpa,
		  "lower/target/upper resource recommendations for agents and cgroups"),
	DUR("vpa_window", "24h", vpa_window_ms, 60000, 2592000000LL, "usage history they come from"),
	DUR("vpa_step", "1m", vpa_step_ms, 1000, 3600000,
	    "usage is averaged per step; they are recomputed once per step"),
	DBL("vpa_margin", "0.15", vpa_margin, 0, 10, "safety margin on the percentiles"),
	BM_OPTION("vpa_cgroups", BM_OPT_STRING, "", struct engine_conf, vpa_cgroups,
		  "cgroup paths (POSIX ERE, anchored) to recommend for; \"\" = agents only"),
	BM_OPTION_BOUNDED("vpa_max_targets", BM_OPT_INT, "50", struct engine_conf, vpa_max_targets,
			  0, 10000, "agents and cgroups recommended for at most"),
	BM_OPTION_END,
};
/* clang-format on */
#undef DUR
#undef DBL

bool eng_actuator_allowed(const struct engine *e, const char *actuator)
{
	for (size_t i = 0; i < e->conf->actuators.n; i++)
		if (strcmp(e->conf->actuators.v[i], actuator) == 0)
			return true;
	return false;
}

/* --- inputs (main loop) ------------------------------------------------- */

/* Significant and in the direction an objective dislikes, or a usage
 * series (memory, cpu) that grows. */
static bool worsening(const struct engine *e, const struct bm_trend_event *t)
{
	if (t->direction == BM_TREND_STABLE || !(t->p_value <= 0.05))
		return false;
	int o = objective_of(e, t->series.name);
	if (o >= 0) {
		int goal = BM_GROUP_ITEM(e->conf->objectives, struct objective_conf, o)->goal;
		return (goal == GOAL_MINIMIZE) == (t->direction == BM_TREND_INCREASING);
	}
	return t->direction == BM_TREND_INCREASING &&
	       (strstr(t->series.name, "memory") || strstr(t->series.name, "cpu"));
}

static int on_candidate(struct engine *e, const void *body, size_t len, int64_t now)
{
	struct bm_candidate_event c;
	char why[256];
	int rc = bm_candidate_decode(body, len, &c, &e->arena);
	if (rc)
		return rc;
	e->n_candidates_in++;
	rc = pool_put(&e->pool, &c, now, 2 * bm_interval_ms(e->ctx), why, sizeof(why));
	if (rc == BM_EINVAL || rc == BM_ERANGE)
		bm_log_info(e->ctx, "%s", why);
	return rc == BM_ENOMEM ? rc : 0;
}

static int on_analysis(struct engine *e, const char *topic, const void *body, size_t len,
		       int64_t now)
{
	const struct engine_conf *k = e->conf;
	int rc;
	if (strcmp(topic, BM_TOPIC_BOTTLENECK) == 0) {
		struct bm_bottleneck_event ev;
		rc = bm_bottleneck_decode(body, len, &ev, &e->arena);
		return rc ? rc : cond_bottleneck(&e->conds, &ev, now, k->condition_ttl_ms);
	}
	if (strcmp(topic, BM_TOPIC_FORECAST) == 0) {
		struct bm_forecast_event ev;
		rc = bm_forecast_decode(body, len, &ev, &e->arena);
		return rc ? rc : cond_forecast(&e->conds, &ev, now, k->horizon_ms, k->condition_ttl_ms);
	}
	if (strcmp(topic, BM_TOPIC_TREND) == 0) {
		struct bm_trend_event ev;
		rc = bm_trend_decode(body, len, &ev, &e->arena);
		return rc ? rc
			  : cond_trend(&e->conds, &ev, worsening(e, &ev), now, k->condition_ttl_ms);
	}
	struct bm_health_event ev;
	rc = bm_health_decode(body, len, &ev, &e->arena);
	return rc ? rc : cond_health(&e->conds, &ev, now, k->condition_ttl_ms);
}

static void on_event(void *user, const char *topic, const void *body, size_t len)
{
	struct engine *e = user;
	int64_t now = bm_now_ms(e->ctx);
	int rc;
	bm_arena_reset(&e->arena);
	if (strcmp(topic, BM_TOPIC_CANDIDATE) == 0) {
		rc = on_candidate(e, body, len, now);
	} else if (strcmp(topic, BM_TOPIC_AGENT) == 0) {
		struct bm_agent_event ev;
		rc = bm_agent_decode(body, len, &ev, &e->arena);
		rc = rc ? rc : oagents_update(&e->agents, &ev);
	} else if (strcmp(topic, BM_TOPIC_AGENT_ACK) == 0) {
		struct bm_agent_ack_event ev;
		rc = bm_agent_ack_decode(body, len, &ev, &e->arena);
		if (!rc)
			act_agent_on_ack(&e->env, &ev);
	} else {
		rc = on_analysis(e, topic, body, len, now);
	}
	if (rc == BM_EPROTO)
		e->n_decode_errors++;
	else if (rc)
		bm_log_warn(e->ctx, "cannot take a %s event into account: %s", topic,
			    bm_strerror(rc));
}

/* --- the cycle ----------------------------------------------------------- */

/* Automatic executions left within the hourly limit. */
static bool rate_allows(struct engine *e, int64_t now_ms)
{
	int64_t max = e->conf->preferences.max_actions_per_hour;
	size_t k = 0;
	for (size_t i = 0; i < e->n_exec_times; i++)
		if (e->exec_times[i] > now_ms - HOUR_MS)
			e->exec_times[k++] = e->exec_times[i];
	e->n_exec_times = k;
	return max == 0 || (int64_t)k < max;
}

static void note_execution(struct engine *e, int64_t now_ms)
{
	int64_t *t = realloc(e->exec_times, (e->n_exec_times + 1) * sizeof(*t));
	if (!t)
		return;
	e->exec_times = t;
	e->exec_times[e->n_exec_times++] = now_ms;
}

static void act_on(struct engine *e, struct plan *p, int64_t now_ms)
{
	char why[512];
	if (!p->approved || !plan_untouched(p))
		return;
	if (e->conf->mode == MODE_DRY_RUN && !p->dry_run_done) {
		exec_dry_run(e, p, now_ms);
		return;
	}
	if (e->conf->mode != MODE_EXECUTE || e->running)
		return;
	if (!rate_allows(e, now_ms)) {
		bm_log_notice(e->ctx, "plan %s approved but not executed: max_actions_per_hour (%lld) "
				      "reached",
			      p->id, (long long)e->conf->preferences.max_actions_per_hour);
		return;
	}
	int rc = exec_start(e, p->steps, p->n_steps, "gate:auto", why, sizeof(why));
	if (rc == 0)
		note_execution(e, now_ms);
	else
		bm_log_notice(e->ctx, "plan %s approved but not executed: %s", p->id, why);
}

void eng_cycle(struct engine *e, int64_t now_ms)
{
	e->n_cycles++;
	pool_expire(&e->pool, now_ms);
	cond_expire(&e->conds, now_ms);
	vpa_update(e, now_ms);
	for (size_t i = 0; i < e->pool.n; i++)
		eval_candidate(e, e->pool.v[i], now_ms);
	struct plan *p = plan_build(e, now_ms);
	if (p && (p = plan_keep(e, p, now_ms)))
		act_on(e, p, now_ms);
}

static void on_cycle(void *user)
{
	struct engine *e = user;
	eng_cycle(e, bm_now_ms(e->ctx));
}

static void on_tick(void *user)
{
	struct engine *e = user;
	exec_tick(e, bm_now_ms(e->ctx));
}

/* --- lifecycle ----------------------------------------------------------- */

static int compile_conf(struct engine *e, struct bm_err *err)
{
	const struct engine_conf *c = e->conf;
	e->objective_re = calloc(c->objectives.n + 1, sizeof(*e->objective_re));
	e->constraint_sel = calloc(c->constraints.n + 1, sizeof(*e->constraint_sel));
	if (!e->objective_re || !e->constraint_sel)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->objectives.n; i++) {
		const struct objective_conf *o = BM_GROUP_ITEM(c->objectives, struct objective_conf, i);
		char pattern[512];
		textf(pattern, sizeof(pattern), "^(%s)$", o->metric);
		if (regcomp(&e->objective_re[i], pattern, REG_EXTENDED | REG_NOSUB)) {
			e->objective_re[i] = (regex_t){0};
			return bm_err_set(err, BM_EINVAL, "objectives.%zu.metric: bad pattern \"%s\"", i,
					  o->metric);
		}
	}
	for (size_t i = 0; i < c->constraints.n; i++) {
		const struct constraint_conf *k =
			BM_GROUP_ITEM(c->constraints, struct constraint_conf, i);
		char why[256];
		if (!k->metric == !k->param)
			return bm_err_set(err, BM_EINVAL,
					  "constraints.%zu: give exactly one of metric and param", i);
		if (isnan(k->min) && isnan(k->max))
			return bm_err_set(err, BM_EINVAL, "constraints.%zu: give min, max or both",
					  i);
		if (k->metric && sel_parse(k->metric, &e->constraint_sel[i], why, sizeof(why)))
			return bm_err_set(err, BM_EINVAL, "constraints.%zu.metric: %s", i, why);
	}
	for (size_t i = 0; i < c->actuators.n; i++)
		if (!actuator_find(c->actuators.v[i]))
			return bm_err_set(err, BM_EINVAL,
					  "actuators: unknown actuator \"%s\" (cgroup, process, "
					  "sysctl, agent_command)",
					  c->actuators.v[i]);
	for (size_t i = 0; i < c->weights.n; i++) {
		char *end;
		double w = strtod(c->weights.values[i], &end);
		if (end == c->weights.values[i] || *end || !(w >= 0))
			return bm_err_set(err, BM_EINVAL, "weights.%s: \"%s\" is not a number >= 0",
					  c->weights.keys[i], c->weights.values[i]);
	}
	return 0;
}

static void engine_free(struct engine *e)
{
	for (size_t i = 0; e->objective_re && i < e->conf->objectives.n; i++)
		regfree(&e->objective_re[i]);
	free(e->objective_re);
	for (size_t i = 0; e->constraint_sel && i < e->conf->constraints.n; i++)
		sel_free(&e->constraint_sel[i]);
	free(e->constraint_sel);
	for (size_t i = 0; i < e->n_plans; i++)
		plan_free(e->plans[i], false);
	free(e->plans);
	for (size_t i = 0; i < e->n_actions; i++)
		action_free(e->actions[i]);
	free(e->actions);
	act_pending_free(&e->env);
	pool_free(&e->pool);
	cond_free(&e->conds);
	learn_free(&e->learn);
	oagents_free(&e->agents);
	free(e->exec_times);
	free(e->holds);
	free(e->vpa);
	bm_arena_free(&e->arena);
	bm_buf_free(&e->buf);
	free(e);
}

static void engine_fini(void *state)
{
	engine_free(state);
}

static void self_metrics(struct engine *e)
{
	static const struct {
		const char *name, *help;
		size_t offset;
	} counters[] = {
		{"bearmon_optimizer_cycles_total", "planning cycles",
		 offsetof(struct engine, n_cycles)},
		{"bearmon_optimizer_candidates_total", "candidate events received",
		 offsetof(struct engine, n_candidates_in)},
		{"bearmon_optimizer_recommendations_total", "recommendation events published",
		 offsetof(struct engine, n_plans_out)},
		{"bearmon_optimizer_actions_executed_total", "actions executed",
		 offsetof(struct engine, n_executed)},
		{"bearmon_optimizer_actions_rolled_back_total", "actions rolled back",
		 offsetof(struct engine, n_rolled_back)},
		{"bearmon_optimizer_actions_failed_total", "actions whose actuator failed",
		 offsetof(struct engine, n_failed)},
		{"bearmon_optimizer_actions_refused_total",
		 "approved plans refused: actuator not allowed or a constraint",
		 offsetof(struct engine, n_refused)},
		{"bearmon_optimizer_decode_errors_total", "bus events that could not be decoded",
		 offsetof(struct engine, n_decode_errors)},
	};
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		bm_self_counter(e->ctx, counters[i].name, counters[i].help,
				(const uint64_t *)((const char *)e + counters[i].offset));
}

static int engine_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct engine_conf *c = conf;
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	e->ctx = ctx;
	e->conf = c;
	e->pool.max = (size_t)c->max_candidates;
	e->plans = calloc(ENG_MAX_PLANS, sizeof(*e->plans));
	e->env = (struct act_env){
		.ctx = ctx, .cgroup_root = c->cgroup_root, .proc_root = "/proc",
		.sysctl_root = "/proc/sys", .sysctl_allow = &c->sysctl_allow,
		.command_timeout_ms = c->command_timeout_ms, .agents = &e->agents,
		.uid = geteuid(),
	};
	if (c->state_file && c->state_file[0])
		textf(e->state_path, sizeof(e->state_path), "%s", c->state_file);
	else
		textf(e->state_path, sizeof(e->state_path), "%s/optimizer-%s.json",
			 bm_data_dir(ctx), bm_instance_name(ctx));
	int rc = e->plans ? compile_conf(e, err) : bm_err_set(err, BM_ENOMEM, "out of memory");
	char why[512];
	if (!rc && (rc = history_load(e, why, sizeof(why))))
		bm_err_set(err, rc, "%s", why);
	if (rc) {
		engine_free(e);
		return rc;
	}
	self_metrics(e);
	*state = e;
	return 0;
}

static void engine_stop(void *state)
{
	struct engine *e = state;
	plugin_unsubscribe_all(e->subs, sizeof(e->subs) / sizeof(e->subs[0]));
	plugin_timer_stop(&e->cycle_timer);
	plugin_timer_stop(&e->tick_timer);
	exec_stop(e);
	act_pending_free(&e->env);
}

static int engine_start(void *state, struct bm_err *err)
{
	struct engine *e = state;
	static const char *const topics[] = {BM_TOPIC_CANDIDATE, BM_TOPIC_BOTTLENECK,
					     BM_TOPIC_FORECAST,  BM_TOPIC_TREND,
					     BM_TOPIC_HEALTH,    BM_TOPIC_AGENT,
					     BM_TOPIC_AGENT_ACK};
	int rc = 0;
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]) && !rc; i++) {
		struct bm_sub_opts o = {.size = sizeof(o), .topic = topics[i], .on_loop = true};
		if ((rc = bm_bus_subscribe(e->ctx, &o, on_event, e, &e->subs[i])))
			bm_err_set(err, rc, "cannot subscribe to %s: %s", topics[i], bm_strerror(rc));
	}
	if (!rc && (rc = bm_timer_start(e->ctx, bm_interval_ms(e->ctx), on_cycle, e,
					&e->cycle_timer)))
		bm_err_set(err, rc, "cannot start the cycle timer: %s", bm_strerror(rc));
	if (!rc && (rc = bm_timer_start(e->ctx, TICK_MS, on_tick, e, &e->tick_timer)))
		bm_err_set(err, rc, "cannot start the watch timer: %s", bm_strerror(rc));
	if (!rc)
		rc = routes_register(e, err);
	if (rc) {
		engine_stop(e);
		return rc;
	}
	bm_log_info(e->ctx, "mode %s, strategy %s, %zu actuator(s) allowed, %zu objective(s), %zu "
			    "constraint(s), state in %s",
		    mode_values[e->conf->mode], strategy_values[e->conf->strategy],
		    e->conf->actuators.n, e->conf->objectives.n, e->conf->constraints.n,
		    e->state_path);
	return 0;
}

static const struct bm_plugin_ops engine_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = engine_init,
	.start = engine_start,
	.stop = engine_stop,
	.fini = engine_fini,
};

BM_PLUGIN_DEFINE(optimizer, engine, BM_KIND_OPTIMIZER, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "plans, simulates, gates, executes and rolls back optimizer actions",
		 .origin = "bearmon plugins/optimizer_engine", .options = engine_options,
		 .config_size = sizeof(struct engine_conf), .ops = &engine_ops);
