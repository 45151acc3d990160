/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Execution, rollback and the watch window (executor.h). A run walks its
 * steps through callbacks because an agent command completes only when
 * the agent's ack arrives; the file-writing actuators call back at once.
 */
#define _GNU_SOURCE
#include "executor.h"

#include <bearmon/bm_vec.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "history.h"
#include "learn.h"
#include "plan.h"
#include "pool.h"
#include "shared/subject.h"

struct run {
	struct engine *e;
	struct action *acts[ENG_MAX_STEPS];
	size_t n;
	size_t next;    /* forward: the step in flight or next */
	size_t k;       /* unwinding: steps left to restore are acts[0..k) */
	bool unwinding;
	char reason[512];
	char approved_by[64];
};

static const char *const state_names[] = {"planned", "executed", "rolled back", "failed"};

int action_publish(struct engine *e, const struct action *a)
{
	struct bm_impact measured[ENG_MAX_IMPACTS];
	size_t n = 0;
	for (size_t i = 0; i < a->n_impacts; i++)
		if (a->have_measured[i])
			measured[n++] = (struct bm_impact){a->impacts[i].metric, a->measured[i], 0};
	struct bm_action_event ev = {
		.ts_ms = bm_now_ms(e->ctx), .id = a->id, .plan_id = a->plan_id,
		.candidate_id = a->candidate_id, .state = a->state, .dry_run = a->dry_run,
		.action = {a->actuator, a->target, a->params.v, a->params.n},
		.before = a->before.v, .n_before = a->before.n,
		.after = a->after.v, .n_after = a->after.n,
		.measured = measured, .n_measured = n,
		.approved_by = a->approved_by[0] ? a->approved_by : NULL,
		.reason = a->reason[0] ? a->reason : NULL,
		.error = a->error[0] ? a->error : NULL,
	};
	int rc = bm_action_encode(&ev, &e->buf);
	if (!rc)
		rc = bm_bus_publish(e->ctx, BM_TOPIC_ACTION, e->buf.data, e->buf.len);
	if (rc && rc != BM_EAGAIN)
		bm_log_warn(e->ctx, "cannot publish action %s (%s): %s", a->id,
			    state_names[a->state], bm_strerror(rc));
	return rc;
}

int hold_subject(struct engine *e, const char *subject, int64_t now_ms)
{
	for (size_t i = 0; i < e->n_holds; i++) {
		if (strcmp(e->holds[i].subject, subject) == 0 || e->holds[i].until_ms <= now_ms) {
			textf(e->holds[i].subject, sizeof(e->holds[i].subject), "%s", subject);
			e->holds[i].until_ms = now_ms + e->conf->hold_ms;
			return 0;
		}
	}
	if (BM_VEC_RESERVE(e->holds, e->cap_holds, e->n_holds + 1))
		return BM_ENOMEM;
	textf(e->holds[e->n_holds].subject, sizeof(e->holds[0].subject), "%s", subject);
	e->holds[e->n_holds++].until_ms = now_ms + e->conf->hold_ms;
	return 0;
}

static void hold_action(struct engine *e, const struct action *a, int64_t now_ms)
{
	char subject[ENG_SUBJECT];
	subject_of_action(a->actuator, a->target, subject, sizeof(subject));
	if (hold_subject(e, subject, now_ms))
		bm_log_warn(e->ctx, "out of memory: %s not held after action %s", subject, a->id);
}

bool exec_allowed(const struct engine *e, struct action *const *acts, size_t n, char *why,
		  size_t why_n)
{
	for (size_t i = 0; i < n; i++) {
		const struct action *a = acts[i];
		if (strcmp(a->actuator, "manual") == 0) {
			textf(why, why_n, "%s is a recommendation for people (actuator manual)",
				 a->id);
			return false;
		}
		if (!eng_actuator_allowed(e, a->actuator)) {
			textf(why, why_n,
				 "actuator %s is not allowed in config (option actuators): %s not "
				 "executed",
				 a->actuator, a->id);
			return false;
		}
		if (!eval_param_constraints(e, a->actuator, &a->params, why, why_n))
			return false;
	}
	return true;
}

/* --- the run ------------------------------------------------------------- */

static void run_next(struct run *r);
static void run_unwind(struct run *r);

static void run_end(struct run *r)
{
	struct engine *e = r->e;
	e->running = NULL;
	free(r);
	history_save(e);
}

static void op_bind(struct action *a)
{
	a->op.actuator = a->actuator;
	a->op.target = a->target;
	a->op.params = &a->params;
	a->op.action_id = a->id;
}

/* The mean of every impacted metric over the baseline window. */
static void take_baseline(struct engine *e, struct action *a, int64_t now_ms)
{
	for (size_t i = 0; i < a->n_impacts; i++) {
		struct sel s;
		double v;
		a->baseline[i] = NAN;
		if (sel_parse(a->impacts[i].metric, &s, NULL, 0))
			continue;
		if (sel_mean(e->ctx, &s, now_ms - e->conf->baseline_ms, now_ms, SEL_SUM, &v) == 1)
			a->baseline[i] = v;
		sel_free(&s);
	}
}

static void on_applied(void *user, struct act_op *op, int rc)
{
	struct run *r = user;
	struct engine *e = r->e;
	struct action *a = r->acts[r->next];
	int64_t now = bm_now_ms(e->ctx);
	a->busy = false;
	if (rc) {
		a->state = BM_ACTION_FAILED;
		textf(a->error, sizeof(a->error), "%s", op->error[0] ? op->error : bm_strerror(rc));
		a->finished_ms = now;
		e->n_failed++;
		bm_log_warn(e->ctx, "action %s (%s %s) failed: %s", a->id, a->actuator, a->target,
			    a->error);
		action_publish(e, a);
		if (r->next == 0) {
			run_end(r);
			return;
		}
		textf(r->reason, sizeof(r->reason),
			 "step %zu (%s) failed: %s; the plan's earlier steps are rolled back",
			 r->next + 1, a->id, a->error);
		r->unwinding = true;
		r->k = r->next;
		run_unwind(r);
		return;
	}
	kvl_copy_from(&a->before, op->before.v, op->before.n);
	kvl_copy_from(&a->after, op->after.v, op->after.n);
	a->state = BM_ACTION_EXECUTED;
	a->executed_ms = now;
	a->reversible = strcmp(a->actuator, "agent_command") != 0 || kvl_get(&a->before, "value");
	textf(a->approved_by, sizeof(a->approved_by), "%s", r->approved_by);
	textf(a->reason, sizeof(a->reason), "%s", op->what);
	e->n_executed++;
	hold_action(e, a, now);
	pool_remove(&e->pool, a->optimizer, a->candidate_id);
	bm_log_notice(e->ctx, "executed %s, approved by %s: %s", a->id, a->approved_by, op->what);
	action_publish(e, a);
	r->next++;
	run_next(r);
}

static void run_next(struct run *r)
{
	struct engine *e = r->e;
	if (r->next == r->n) {
		int64_t now = bm_now_ms(e->ctx);
		for (size_t i = 0; i < r->n; i++) {
			r->acts[i]->watching = true;
			r->acts[i]->watch_until_ms = now + e->conf->watch_ms;
		}
		run_end(r);
		return;
	}
	struct action *a = r->acts[r->next];
	const struct actuator *act = actuator_find(a->actuator);
	take_baseline(e, a, bm_now_ms(e->ctx));
	op_bind(a);
	a->busy = true;
	act_apply(&e->env, act, &a->op, on_applied, r);
}

static void on_restored(void *user, struct act_op *op, int rc)
{
	struct run *r = user;
	struct engine *e = r->e;
	struct action *a = r->acts[r->k];
	a->busy = false;
	a->watching = false;
	if (rc) {
		textf(a->error, sizeof(a->error), "rollback failed: %s",
			 op->error[0] ? op->error : bm_strerror(rc));
		learn_outcome(&e->learn, a->kind, false, !a->reversible);
		bm_log_err(e->ctx, "action %s: %s", a->id, a->error);
	} else {
		a->state = BM_ACTION_ROLLED_BACK;
		a->finished_ms = bm_now_ms(e->ctx);
		kvl_copy_from(&a->after, op->after.v, op->after.n);
		textf(a->reason, sizeof(a->reason), "%s", r->reason);
		e->n_rolled_back++;
		learn_outcome(&e->learn, a->kind, true, !a->reversible);
		bm_log_notice(e->ctx, "rolled back %s (%s): %s", a->id, op->what, r->reason);
	}
	action_publish(e, a);
	run_unwind(r);
}

static void run_unwind(struct run *r)
{
	while (r->k > 0) {
		struct action *a = r->acts[--r->k];
		if (a->state != BM_ACTION_EXECUTED)
			continue;
		op_bind(a);
		kvl_copy_from(&a->op.before, a->before.v, a->before.n);
		a->busy = true;
		act_restore(&r->e->env, actuator_find(a->actuator), &a->op, on_restored, r);
		return;
	}
	run_end(r);
}

static struct run *run_new(struct engine *e, struct action *const *acts, size_t n)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->e = e;
	r->n = n < ENG_MAX_STEPS ? n : ENG_MAX_STEPS;
	memcpy(r->acts, acts, r->n * sizeof(*acts));
	e->running = r;
	return r;
}

int exec_start(struct engine *e, struct action *const *acts, size_t n, const char *approved_by,
	       char *why, size_t why_n)
{
	if (e->running) {
		textf(why, why_n, "another plan is being executed or rolled back");
		return BM_EAGAIN;
	}
	for (size_t i = 0; i < n; i++) {
		if (acts[i]->state != BM_ACTION_PLANNED || acts[i]->busy) {
			textf(why, why_n, "%s is %s, not planned", acts[i]->id,
				 state_names[acts[i]->state]);
			return BM_ESTATE;
		}
	}
	if (!exec_allowed(e, acts, n, why, why_n)) {
		e->n_refused++;
		return BM_EPERM;
	}
	struct run *r = run_new(e, acts, n);
	if (!r)
		return BM_ENOMEM;
	textf(r->approved_by, sizeof(r->approved_by), "%s", approved_by);
	run_next(r);
	return 0;
}

int exec_rollback(struct engine *e, struct action *const *acts, size_t n, const char *reason,
		  char *why, size_t why_n)
{
	if (e->running) {
		textf(why, why_n, "another plan is being executed or rolled back");
		return BM_EAGAIN;
	}
	for (size_t i = 0; i < n; i++) {
		if (acts[i]->state != BM_ACTION_EXECUTED || acts[i]->busy) {
			textf(why, why_n, "%s is %s: only an executed action can be rolled back",
				 acts[i]->id, state_names[acts[i]->state]);
			return BM_ESTATE;
		}
	}
	struct run *r = run_new(e, acts, n);
	if (!r)
		return BM_ENOMEM;
	textf(r->reason, sizeof(r->reason), "%s", reason);
	r->unwinding = true;
	r->k = r->n;
	run_unwind(r);
	return 0;
}

void exec_dry_run(struct engine *e, struct plan *p, int64_t now_ms)
{
	(void)now_ms;
	for (size_t i = 0; i < p->n_steps; i++) {
		struct action *a = p->steps[i];
		char why[256];
		a->dry_run = true;
		textf(a->approved_by, sizeof(a->approved_by), "gate:auto");
		if (!exec_allowed(e, &a, 1, why, sizeof(why))) {
			bm_log_notice(e->ctx, "dry-run: %s step %zu: would be refused: %s", p->id, i + 1,
				      why);
			textf(a->reason, sizeof(a->reason), "would be refused: %s", why);
		} else {
			op_bind(a);
			int rc = actuator_find(a->actuator)->prepare(&e->env, &a->op);
			if (rc)
				textf(a->reason, sizeof(a->reason), "would fail: %s", a->op.error);
			else
				textf(a->reason, sizeof(a->reason), "would %s", a->op.what);
			kvl_copy_from(&a->before, a->op.before.v, a->op.before.n);
			kvl_copy_from(&a->after, a->params.v, a->params.n);
			bm_log_notice(e->ctx, "dry-run: %s step %zu (%s %s): %s", p->id, i + 1,
				      a->actuator, a->target, a->reason);
		}
		action_publish(e, a);
	}
	p->dry_run_done = true;
}

/* --- the watch ----------------------------------------------------------- */

static void measure(struct engine *e, struct action *a, int64_t now_ms)
{
	for (size_t i = 0; i < a->n_impacts; i++) {
		struct sel s;
		double after;
		char metric[256];
		a->have_measured[i] = false;
		if (!isfinite(a->baseline[i]) || a->baseline[i] == 0 ||
		    sel_parse(a->impacts[i].metric, &s, NULL, 0))
			continue;
		int got = sel_mean(e->ctx, &s, a->executed_ms + e->conf->settle_ms, now_ms, SEL_SUM,
				   &after);
		sel_free(&s);
		if (got != 1)
			continue;
		a->measured[i] = after / a->baseline[i] - 1;
		a->have_measured[i] = true;
		metric_name_of(a->impacts[i].metric, metric, sizeof(metric));
		learn_effect_add(&e->learn, a->kind, metric, a->measured[i]);
	}
}

/* A measured change that works against an objective beyond the
 * threshold: true with the reason. */
static bool regressed(struct engine *e, const struct action *a, char *why, size_t why_n)
{
	for (size_t i = 0; i < a->n_impacts; i++) {
		int o = objective_of(e, a->impacts[i].metric);
		if (!a->have_measured[i] || o < 0)
			continue;
		const struct objective_conf *obj = BM_GROUP_ITEM(e->conf->objectives,
								 struct objective_conf, o);
		double good = obj->goal == GOAL_MINIMIZE ? -a->measured[i] : a->measured[i];
		if (good < -e->conf->rollback_threshold) {
			textf(why, why_n,
				 "automatic rollback: %s moved %+.1f%% against objective %s in the "
				 "watch window (rollback_threshold %.0f%%)",
				 a->impacts[i].metric, a->measured[i] * 100,
				 obj->name ? obj->name : obj->metric,
				 e->conf->rollback_threshold * 100);
			return true;
		}
	}
	struct impact now_impacts[ENG_MAX_IMPACTS];
	for (size_t i = 0; i < a->n_impacts; i++)
		now_impacts[i] = (struct impact){a->impacts[i].metric, 0, 0};
	char broken[256];
	if (!eval_metric_limits(e, now_impacts, a->n_impacts, bm_now_ms(e->ctx), broken,
				sizeof(broken))) {
		textf(why, why_n, "automatic rollback: %s", broken);
		return true;
	}
	return false;
}

static void keep(struct engine *e, struct action *a)
{
	char buf[256] = "";
	size_t used = 0;
	for (size_t i = 0; i < a->n_impacts && used < sizeof(buf); i++)
		if (a->have_measured[i])
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s %+.1f%%",
						 used ? ", " : "", a->impacts[i].metric,
						 a->measured[i] * 100);
	a->watching = false;
	textf(a->reason, sizeof(a->reason), "kept after the watch window: %s",
		 used ? buf : "no measurement of its impacts");
	learn_outcome(&e->learn, a->kind, false, !a->reversible);
	bm_log_info(e->ctx, "action %s %s", a->id, a->reason);
	action_publish(e, a);
}

/* The first due watch's plan: measure, then keep or roll back all of it. */
static void watch_due(struct engine *e, int64_t now_ms)
{
	struct action *group[ENG_MAX_STEPS];
	size_t n = 0;
	const char *plan = NULL;
	for (size_t i = 0; i < e->n_actions && n < ENG_MAX_STEPS; i++) {
		struct action *a = e->actions[i];
		if (!a->watching || a->watch_until_ms > now_ms || (plan && strcmp(plan, a->plan_id)))
			continue;
		plan = a->plan_id;
		group[n++] = a;
	}
	if (!n)
		return;
	char why[512] = "";
	bool bad = false;
	for (size_t i = 0; i < n; i++) {
		measure(e, group[i], now_ms);
		bad = bad || regressed(e, group[i], why, sizeof(why));
	}
	if (!bad) {
		for (size_t i = 0; i < n; i++)
			keep(e, group[i]);
		history_save(e);
		return;
	}
	bm_log_warn(e->ctx, "plan %s: %s", plan, why);
	char err[256];
	for (size_t i = 0; i < n; i++)
		group[i]->watching = false;
	if (exec_rollback(e, group, n, why, err, sizeof(err)))
		bm_log_err(e->ctx, "plan %s: cannot roll back: %s", plan, err);
}

void exec_tick(struct engine *e, int64_t now_ms)
{
	act_agent_expire(&e->env, now_ms);
	if (!e->running)
		watch_due(e, now_ms);
}

void exec_stop(struct engine *e)
{
	struct run *r = e->running;
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		act_agent_cancel(&e->env, &r->acts[i]->op);
		r->acts[i]->busy = false;
	}
	e->running = NULL;
	free(r);
}
