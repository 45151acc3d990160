/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optimizer/engine: the shared state of the engine's parts. The engine
 * runs on the main loop only (every subscription asks for on_loop
 * delivery, timers and HTTP run there), so none of this is locked.
 *
 *   pool.c        candidates from the dimension optimizers (and VPA)
 *   conditions.c  what the analyzers say about each subject
 *   learn.c       measured effects of past actions, posterior impacts
 *   evaluate.c    simulation, constraints, benefit, risk and score
 *   plan.c        combination into plans, the approval gate, the why
 *   executor.c    execution, rollback, the watch window, action events
 *   vpa.c         lower/target/upper resource recommendations
 *   history.c     the state file: learned effects and executed actions
 *   routes.c      GET /plan, POST /actions/ID/apply and /rollback
 */
#ifndef BEARMON_OPT_ENGINE_H
#define BEARMON_OPT_ENGINE_H

#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actuators/actuator.h"
#include "shared/agents.h"
#include "shared/kvl.h"
#include "shared/selector.h"

#define ENG_MAX_IMPACTS 8
#define ENG_MAX_STEPS 8
#define ENG_SUBJECT 256

enum eng_mode { MODE_RECOMMEND = BM_MODE_RECOMMEND, MODE_DRY_RUN = BM_MODE_DRY_RUN,
		MODE_EXECUTE = BM_MODE_EXECUTE };
enum eng_strategy { ST_REACTIVE, ST_PROACTIVE, ST_PREDICTIVE, ST_ADAPTIVE, ST_HOLISTIC };
enum eng_goal { GOAL_MINIMIZE, GOAL_MAXIMIZE };

/* What made a subject worth acting on (bits). */
enum cond_kind { COND_PRESENT = 1u, COND_PREDICTED = 2u, COND_TRENDING = 4u };

struct objective_conf {
	char *name;
	char *metric; /* anchored ERE on the metric name */
	int goal;     /* enum eng_goal */
	double weight;
};

struct constraint_conf {
	char *name;
	char *metric; /* selector: a limit on that metric's value */
	char *param;  /* or: a limit on an action parameter (cgroup key, ...) */
	double min, max; /* NaN: no bound */
};

struct preferences_conf {
	double risk_aversion;        /* score = weight x benefit - this x risk */
	int64_t max_actions_per_hour; /* executed plans; 0 = no limit */
	bool prefer_reversible;      /* irreversible action kinds carry more risk */
	double urgency_weight;       /* forecast urgency raises the score */
};

struct engine_conf {
	int mode;     /* enum eng_mode */
	int strategy; /* enum eng_strategy */
	struct bm_strlist dimensions;
	struct bm_map weights;
	struct bm_group_list objectives;  /* struct objective_conf */
	struct bm_group_list constraints; /* struct constraint_conf */
	struct preferences_conf preferences;
	double max_risk, min_benefit;
	struct bm_strlist actuators;
	struct bm_strlist sysctl_allow;
	char *cgroup_root;
	int64_t hold_ms, watch_ms, settle_ms, baseline_ms;
	double rollback_threshold;
	int64_t command_timeout_ms;
	int64_t horizon_ms;
	int64_t condition_ttl_ms;
	int64_t max_plan_steps;
	double full_benefit_change, harm_tolerance, min_uncertainty, constraint_confidence;
	int64_t republish_ms;
	int64_t max_candidates, max_actions;
	char *state_file;
	bool vpa;
	int64_t vpa_window_ms, vpa_step_ms;
	double vpa_margin;
	char *vpa_cgroups;
	int64_t vpa_max_targets;
};

/* A declared or simulated impact on one metric (selector text). */
struct impact {
	char *metric;
	double rel;  /* relative change */
	double sd;   /* its standard deviation */
};

/* The simulation of one impact: prior, evidence, posterior. */
struct posterior {
	double prior, prior_sd;
	size_t n_obs;
	double obs_mean, obs_sd;
	double mean, sd;
	int objective; /* index into the objectives, -1 when none covers it */
	double goodness; /* improvement in the objective's direction (relative) */
	double p_harm;   /* chance the objective gets worse beyond harm_tolerance */
};

/* This cycle's verdict on a candidate. */
struct eval {
	bool eligible;
	char why_not[256];
	unsigned trigger; /* enum cond_kind bits over its subjects */
	double urgency;   /* 0..1, sooner predicted violations higher */
	struct posterior post[ENG_MAX_IMPACTS];
	double benefit, risk, uncertainty, score, weight;
};

/* A candidate action, owned by the pool. */
struct cand {
	char *optimizer, *id, *dimension;
	char *actuator, *target;
	struct kvl params;
	struct impact impacts[ENG_MAX_IMPACTS];
	size_t n_impacts;
	double benefit, risk, confidence;
	char *reason, *rollback;
	char **evidence; /* texts */
	size_t n_evidence;
	int64_t ts_ms, expires_ms;
	struct eval ev;
};

struct pool {
	struct cand **v;
	size_t n, cap, max;
	uint64_t dropped;
};

/* One subject's conditions. */
struct cond {
	char *subject;
	int64_t present_until, predicted_until, trending_until;
	int64_t ttt_ms;      /* soonest predicted crossing, from its forecast's ts */
	int64_t ttt_at_ms;   /* when that forecast was made */
	char text[3][256];   /* the latest evidence of each kind */
	char finding[128];   /* the bottleneck finding behind present, if any */
};

struct conditions {
	struct cond *v;
	size_t n, cap;
};

/* Measured effects of one action kind on one metric name (Welford). */
struct effect {
	char *key; /* "KIND|METRIC" */
	size_t n;
	double mean, m2;
};

/* Outcomes of one action kind ("agent_command:evict_cache"). */
struct kind_stats {
	char *kind;
	size_t executions, rollbacks, irreversible;
};

struct learn {
	struct effect *e;
	size_t n, cap;
	struct kind_stats *k;
	size_t n_k, cap_k;
};

/* A step of a plan as it goes through the executor. */
struct action {
	char id[96];
	char plan_id[64];
	char *candidate_id, *optimizer, *dimension, *kind;
	char *actuator, *target;
	struct kvl params;
	struct impact impacts[ENG_MAX_IMPACTS]; /* simulated (posterior) */
	size_t n_impacts;
	double baseline[ENG_MAX_IMPACTS]; /* before the change; NaN when unknown */
	double measured[ENG_MAX_IMPACTS]; /* relative change in the watch window */
	bool have_measured[ENG_MAX_IMPACTS];
	int state;    /* enum bm_action_state */
	bool dry_run;
	bool busy;    /* an actuator call is in flight */
	bool watching;
	bool reversible;
	struct kvl before, after;
	char approved_by[64];
	char reason[512];
	char error[256];
	int64_t planned_ms, executed_ms, watch_until_ms, finished_ms;
	struct act_op op;
};

struct plan {
	char id[64];
	int64_t ts_ms;
	bool approved;
	char gate[256];
	double score, benefit, risk, uncertainty;
	char *why;
	struct action *steps[ENG_MAX_STEPS];
	size_t n_steps;
	struct impact impacts[ENG_MAX_IMPACTS * 2];
	size_t n_impacts;
	char signature[512]; /* candidate ids, to publish only what changed */
	bool dry_run_done;   /* dry-run mode logged it already */
};

struct vpa_rec {
	char subject[ENG_SUBJECT];
	char resource[16]; /* "memory" (bytes) or "cpu" (cores) */
	double lower, target, upper;
	double current_limit; /* NaN: none known, +inf: unlimited */
	size_t samples;
	double days;
};

struct run;

struct engine {
	struct bm_ctx *ctx;
	const struct engine_conf *conf;
	regex_t *objective_re;
	struct sel *constraint_sel; /* parsed metric constraints (index = constraint) */
	struct pool pool;
	struct conditions conds;
	struct learn learn;
	struct oagents agents;
	struct act_env env;
	struct action **actions; /* owned, oldest first */
	size_t n_actions, cap_actions;
	struct plan **plans; /* owned, oldest first, at most ENG_MAX_PLANS */
	size_t n_plans;
	struct run *running; /* the plan (or rollback) being executed */
	int64_t *exec_times; /* executions of the last hour */
	size_t n_exec_times;
	struct holds {
		char subject[ENG_SUBJECT];
		int64_t until_ms;
	} *holds;
	size_t n_holds, cap_holds;
	struct vpa_rec *vpa;
	size_t n_vpa;
	int64_t next_vpa_ms;
	int64_t last_publish_ms;
	char last_signature[512];
	uint64_t seq;
	char state_path[512];
	struct bm_sub *subs[7];
	struct bm_timer *cycle_timer, *tick_timer;
	struct bm_arena arena;
	struct bm_buf buf;
	bool routes;
	/* self-metrics */
	uint64_t n_cycles, n_candidates_in, n_plans_out, n_executed, n_rolled_back, n_failed,
		n_refused, n_decode_errors;
};

#define ENG_MAX_PLANS 64

/* engine.c */
bool eng_actuator_allowed(const struct engine *e, const char *actuator);
/* Log at warn and count a failure to publish or persist. */
void eng_cycle(struct engine *e, int64_t now_ms);

#endif
