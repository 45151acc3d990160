/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plan building, the gate, the why, and the recommendation event (plan.h).
 */
#define _GNU_SOURCE
#include "plan.h"

#include <bearmon/bm_vec.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conditions.h"
#include "evaluate.h"
#include "learn.h"
#include "shared/subject.h"

/* --- actions ------------------------------------------------------------ */

void action_free(struct action *a)
{
	if (!a)
		return;
	free(a->candidate_id);
	free(a->optimizer);
	free(a->dimension);
	free(a->kind);
	free(a->actuator);
	free(a->target);
	kvl_free(&a->params);
	for (size_t i = 0; i < a->n_impacts; i++)
		free(a->impacts[i].metric);
	kvl_free(&a->before);
	kvl_free(&a->after);
	act_op_release(&a->op);
	free(a);
}

struct action *action_from_cand(const struct cand *c, const char *plan_id, size_t idx,
				int64_t now_ms)
{
	struct action *a = calloc(1, sizeof(*a));
	char kind[256];
	if (!a)
		return NULL;
	textf(a->plan_id, sizeof(a->plan_id), "%s", plan_id);
	textf(a->id, sizeof(a->id), "%s.%zu", plan_id, idx + 1);
	action_kind(c->actuator, &c->params, kind, sizeof(kind));
	a->candidate_id = strdup(c->id);
	a->optimizer = strdup(c->optimizer);
	a->dimension = strdup(c->dimension);
	a->kind = strdup(kind);
	a->actuator = strdup(c->actuator);
	a->target = strdup(c->target);
	a->state = BM_ACTION_PLANNED;
	a->planned_ms = now_ms;
	a->reversible = true;
	bool ok = a->candidate_id && a->optimizer && a->dimension && a->kind && a->actuator &&
		  a->target && !kvl_copy_from(&a->params, c->params.v, c->params.n);
	a->n_impacts = c->n_impacts;
	for (size_t i = 0; i < c->n_impacts; i++) {
		a->impacts[i] = (struct impact){strdup(c->impacts[i].metric), c->ev.post[i].mean,
						c->ev.post[i].sd};
		ok = ok && a->impacts[i].metric;
		a->baseline[i] = NAN;
	}
	if (!ok) {
		action_free(a);
		return NULL;
	}
	return a;
}

struct action *action_find(const struct engine *e, const char *id)
{
	for (size_t i = 0; i < e->n_actions; i++)
		if (strcmp(e->actions[i]->id, id) == 0)
			return e->actions[i];
	return NULL;
}

static bool in_use(const struct engine *e, const struct action *a)
{
	for (size_t i = 0; i < e->n_plans; i++)
		for (size_t k = 0; k < e->plans[i]->n_steps; k++)
			if (e->plans[i]->steps[k] == a)
				return true;
	return a->busy || a->watching;
}

static void actions_remove_at(struct engine *e, size_t i)
{
	action_free(e->actions[i]);
	memmove(&e->actions[i], &e->actions[i + 1], (e->n_actions - i - 1) * sizeof(*e->actions));
	e->n_actions--;
}

int actions_add(struct engine *e, struct action *a)
{
	size_t max = (size_t)e->conf->max_actions;
	for (size_t i = 0; e->n_actions >= max && i < e->n_actions;) {
		if (in_use(e, e->actions[i]))
			i++;
		else
			actions_remove_at(e, i);
	}
	if (BM_VEC_RESERVE(e->actions, e->cap_actions, e->n_actions + 1))
		return BM_ENOMEM;
	e->actions[e->n_actions++] = a;
	return 0;
}

/* --- building ------------------------------------------------------------ */

static bool is_manual(const struct cand *c)
{
	return strcmp(c->actuator, "manual") == 0;
}

/* Best first; what bearmon can carry out before what only people can, so a
 * recommendation for people becomes the plan only when nothing else is
 * eligible (every candidate stays listed at GET /plan). */
static int by_score(const void *a, const void *b)
{
	const struct cand *x = *(const struct cand *const *)a, *y = *(const struct cand *const *)b;
	if (is_manual(x) != is_manual(y))
		return is_manual(x) ? 1 : -1;
	return x->ev.score < y->ev.score ? 1 : x->ev.score > y->ev.score ? -1 : 0;
}

static bool shares_param(const struct cand *a, const struct cand *b)
{
	if (strcmp(a->actuator, "agent_command") == 0) {
		const char *x = kvl_get(&a->params, "command"), *y = kvl_get(&b->params, "command");
		return x && y && strcmp(x, y) == 0;
	}
	for (size_t i = 0; i < a->params.n; i++)
		if (kvl_get(&b->params, a->params.v[i].key))
			return true;
	return false;
}

static bool conflict(const struct cand *a, const struct cand *b)
{
	char sa[ENG_SUBJECT], sb[ENG_SUBJECT];
	subject_of_action(a->actuator, a->target, sa, sizeof(sa));
	subject_of_action(b->actuator, b->target, sb, sizeof(sb));
	if (strcmp(sa, sb) == 0 && strcmp(a->actuator, b->actuator) == 0 && shares_param(a, b))
		return true;
	for (size_t i = 0; i < a->n_impacts; i++)
		for (size_t k = 0; k < b->n_impacts; k++)
			if (strcmp(a->impacts[i].metric, b->impacts[k].metric) == 0 &&
			    a->ev.post[i].mean * b->ev.post[k].mean < 0)
				return true;
	return false;
}

struct draft {
	const struct cand *c[ENG_MAX_STEPS];
	size_t n;
	double benefit, risk, score, uncertainty;
	struct impact impacts[ENG_MAX_IMPACTS * 2];
	size_t n_impacts;
};

/* Fold one candidate's simulated impacts into the draft's. */
static void fold_impacts(struct draft *d, const struct cand *c)
{
	for (size_t i = 0; i < c->n_impacts; i++) {
		const struct posterior *p = &c->ev.post[i];
		size_t k = 0;
		while (k < d->n_impacts && strcmp(d->impacts[k].metric, c->impacts[i].metric) != 0)
			k++;
		if (k == d->n_impacts) {
			if (k == ENG_MAX_IMPACTS * 2)
				continue;
			d->impacts[d->n_impacts++] = (struct impact){c->impacts[i].metric, p->mean, p->sd};
			continue;
		}
		struct impact *im = &d->impacts[k];
		im->rel = (1 + im->rel) * (1 + p->mean) - 1;
		im->sd = sqrt(im->sd * im->sd + p->sd * p->sd);
	}
}

static void draft_totals(struct draft *d)
{
	double no_benefit = 1, no_harm = 1, u2 = 0;
	d->score = 0;
	d->n_impacts = 0;
	for (size_t i = 0; i < d->n; i++) {
		const struct eval *ev = &d->c[i]->ev;
		no_benefit *= 1 - ev->benefit;
		no_harm *= 1 - ev->risk;
		u2 += ev->uncertainty * ev->uncertainty;
		d->score += ev->score;
		fold_impacts(d, d->c[i]);
	}
	d->benefit = 1 - no_benefit;
	d->risk = 1 - no_harm;
	d->uncertainty = d->n ? sqrt(u2 / (double)d->n) : 0;
}

static bool passes_gate(const struct engine *e, const struct draft *d)
{
	return d->risk < e->conf->max_risk && d->benefit > e->conf->min_benefit;
}

/* Would adding c keep the draft sound? */
static bool combines(struct engine *e, const struct draft *d, const struct cand *c,
		     int64_t now_ms)
{
	if (d->n >= (size_t)e->conf->max_plan_steps || is_manual(c) || is_manual(d->c[0]) ||
	    c->ev.score <= 0)
		return false;
	for (size_t i = 0; i < d->n; i++)
		if (conflict(d->c[i], c))
			return false;
	struct draft t = *d;
	char why[256];
	t.c[t.n++] = c;
	draft_totals(&t);
	if (passes_gate(e, d) && !passes_gate(e, &t))
		return false;
	return eval_metric_constraints(e, t.impacts, t.n_impacts, now_ms, why, sizeof(why));
}

static void gate_text(const struct engine *e, const struct draft *d, bool *approved, char *buf,
		      size_t n)
{
	const struct engine_conf *k = e->conf;
	*approved = false;
	if (is_manual(d->c[0]))
		textf(buf, n, "for people: %s is a recommendation bearmon does not carry out",
			 d->c[0]->target);
	else if (d->risk >= k->max_risk)
		textf(buf, n, "held back: risk %.2f is not below %.2f", d->risk, k->max_risk);
	else if (d->benefit <= k->min_benefit)
		textf(buf, n, "held back: benefit %.2f is not above %.2f", d->benefit,
			 k->min_benefit);
	else {
		*approved = true;
		textf(buf, n, "approved: risk %.2f < %.2f and benefit %.2f > %.2f", d->risk,
			 k->max_risk, d->benefit, k->min_benefit);
	}
}

/* --- the why ------------------------------------------------------------ */

static const char *const mode_names[] = {"recommend", "dry-run", "execute"};
static const char *const strategy_names[] = {"reactive", "proactive", "predictive", "adaptive",
					     "holistic"};

static void why_conditions(FILE *f, const struct engine *e, const struct cand *c, int64_t now_ms)
{
	char subject[ENG_SUBJECT];
	subject_of_action(c->actuator, c->target, subject, sizeof(subject));
	const struct cond *k = cond_find(&e->conds, subject);
	unsigned kinds = cond_kinds(&e->conds, subject, now_ms, NULL);
	for (int i = 0; k && i < 3; i++)
		if (kinds & (1u << i))
			fprintf(f, "    evidence: %s\n", k->text[i]);
	for (size_t i = 0; i < c->n_evidence; i++)
		fprintf(f, "    evidence: %s\n", c->evidence[i]);
}

static void why_impact(FILE *f, const struct engine *e, const struct cand *c, size_t i)
{
	const struct posterior *p = &c->ev.post[i];
	fprintf(f, "    simulated: %s %+.1f%% +- %.1f%% (declared %+.1f%% +- %.1f%%", c->impacts[i].metric,
		p->mean * 100, p->sd * 100, p->prior * 100, p->prior_sd * 100);
	if (p->n_obs)
		fprintf(f, "; measured %+.1f%% over %zu past execution%s, learned by normal-normal "
			   "shrinkage",
			p->obs_mean * 100, p->n_obs, p->n_obs == 1 ? "" : "s");
	else
		fprintf(f, "; no past execution yet");
	fprintf(f, ")");
	if (p->objective >= 0) {
		const struct objective_conf *o =
			BM_GROUP_ITEM(e->conf->objectives, struct objective_conf, p->objective);
		fprintf(f, "; serves objective %s (%s, weight %g), chance of harm %.2f",
			o->name ? o->name : o->metric, o->goal == GOAL_MINIMIZE ? "minimise" : "maximise",
			o->weight, p->p_harm);
	}
	fputc('\n', f);
}

static char *why_text(const struct engine *e, const struct draft *d, const char *gate,
		      int64_t now_ms)
{
	char *buf = NULL, params[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "%zu step(s), strategy %s, mode %s.\n", d->n, strategy_names[e->conf->strategy],
		mode_names[e->conf->mode]);
	for (size_t i = 0; i < d->n; i++) {
		const struct cand *c = d->c[i];
		kvl_format(&c->params, params, sizeof(params));
		fprintf(f, "step %zu: %s %s (%s) from %s, dimension %s: %s\n", i + 1, c->actuator,
			c->target, params, c->optimizer, c->dimension,
			c->reason ? c->reason : "no reason given");
		why_conditions(f, e, c, now_ms);
		for (size_t k = 0; k < c->n_impacts; k++)
			why_impact(f, e, c, k);
		fprintf(f, "    benefit %.2f, risk %.2f (declared %.2f), uncertainty %.2f, urgency "
			   "%.2f, score %.3f\n",
			c->ev.benefit, c->ev.risk, c->risk, c->ev.uncertainty, c->ev.urgency,
			c->ev.score);
		if (c->rollback)
			fprintf(f, "    undo: %s\n", c->rollback);
	}
	fprintf(f, "plan: benefit %.2f +- %.2f, risk %.2f, score %.3f; %s.", d->benefit,
		d->uncertainty, d->risk, d->score, gate);
	fclose(f);
	return buf;
}

/* --- the plan ------------------------------------------------------------ */

void plan_free(struct plan *p, bool with_actions)
{
	if (!p)
		return;
	for (size_t i = 0; with_actions && i < p->n_steps; i++)
		action_free(p->steps[i]);
	for (size_t i = 0; i < p->n_impacts; i++)
		free(p->impacts[i].metric);
	free(p->why);
	free(p);
}

/* The candidates and the gate's verdict: what a reader of the plan acts on. */
static void signature(const struct draft *d, bool approved, char *buf, size_t n)
{
	size_t used = (size_t)snprintf(buf, n, "%s:", approved ? "approved" : "held");
	for (size_t i = 0; i < d->n && used < n; i++) {
		int w = snprintf(buf + used, n - used, "%s/%s;", d->c[i]->optimizer, d->c[i]->id);
		used += w > 0 ? (size_t)w : 0;
	}
}

static struct plan *plan_from_draft(struct engine *e, const struct draft *d, int64_t now_ms)
{
	struct plan *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	textf(p->id, sizeof(p->id), "plan-%" PRId64 "-%" PRIu64, now_ms, ++e->seq);
	p->ts_ms = now_ms;
	p->benefit = d->benefit;
	p->risk = d->risk;
	p->score = d->score;
	p->uncertainty = d->uncertainty;
	gate_text(e, d, &p->approved, p->gate, sizeof(p->gate));
	signature(d, p->approved, p->signature, sizeof(p->signature));
	bool ok = (p->why = why_text(e, d, p->gate, now_ms)) != NULL;
	for (size_t i = 0; ok && i < d->n; i++, p->n_steps++)
		ok = (p->steps[i] = action_from_cand(d->c[i], p->id, i, now_ms)) != NULL;
	for (size_t i = 0; ok && i < d->n_impacts; i++, p->n_impacts++) {
		p->impacts[i] = d->impacts[i];
		ok = (p->impacts[i].metric = strdup(d->impacts[i].metric)) != NULL;
	}
	if (!ok) {
		plan_free(p, true);
		return NULL;
	}
	return p;
}

struct plan *plan_build(struct engine *e, int64_t now_ms)
{
	struct cand **order = calloc(e->pool.n + 1, sizeof(*order));
	size_t n = 0;
	if (!order)
		return NULL;
	for (size_t i = 0; i < e->pool.n; i++)
		if (e->pool.v[i]->ev.eligible)
			order[n++] = e->pool.v[i];
	qsort(order, n, sizeof(*order), by_score);
	struct draft d = {0};
	for (size_t i = 0; i < n; i++) {
		if (d.n == 0 || combines(e, &d, order[i], now_ms)) {
			d.c[d.n++] = order[i];
			draft_totals(&d);
		}
	}
	free(order);
	return d.n ? plan_from_draft(e, &d, now_ms) : NULL;
}

bool plan_untouched(const struct plan *p)
{
	for (size_t i = 0; i < p->n_steps; i++)
		if (p->steps[i]->state != BM_ACTION_PLANNED || p->steps[i]->busy)
			return false;
	return true;
}

struct plan *plan_current(const struct engine *e)
{
	return e->n_plans ? e->plans[e->n_plans - 1] : NULL;
}

struct plan *plan_find(const struct engine *e, const char *id)
{
	for (size_t i = 0; i < e->n_plans; i++)
		if (strcmp(e->plans[i]->id, id) == 0)
			return e->plans[i];
	return NULL;
}

/* Drop plan i; its steps that never ran go with it. */
static void plans_remove_at(struct engine *e, size_t i)
{
	struct plan *p = e->plans[i];
	memmove(&e->plans[i], &e->plans[i + 1], (e->n_plans - i - 1) * sizeof(*e->plans));
	e->n_plans--;
	for (size_t k = 0; k < p->n_steps; k++) {
		struct action *a = p->steps[k];
		if (a->state != BM_ACTION_PLANNED || a->busy)
			continue;
		for (size_t j = 0; j < e->n_actions; j++) {
			if (e->actions[j] == a) {
				actions_remove_at(e, j);
				break;
			}
		}
	}
	plan_free(p, false);
}

/* An unchanged plan keeps the ids people may already be looking at. */
static void take_ids(struct plan *p, const struct plan *old)
{
	memcpy(p->id, old->id, sizeof(p->id));
	p->dry_run_done = old->dry_run_done;
	for (size_t i = 0; i < p->n_steps; i++) {
		memcpy(p->steps[i]->plan_id, old->id, sizeof(p->steps[i]->plan_id));
		memcpy(p->steps[i]->id, old->steps[i]->id, sizeof(p->steps[i]->id));
	}
}

struct plan *plan_keep(struct engine *e, struct plan *p, int64_t now_ms)
{
	struct plan *old = plan_current(e);
	bool same = old && strcmp(old->signature, p->signature) == 0 && plan_untouched(old);
	if (same) {
		take_ids(p, old);
		plans_remove_at(e, e->n_plans - 1);
	}
	while (e->n_plans >= ENG_MAX_PLANS)
		plans_remove_at(e, 0);
	for (size_t i = 0; i < p->n_steps; i++) {
		if (actions_add(e, p->steps[i])) {
			for (size_t k = i; k < p->n_steps; k++)
				action_free(p->steps[k]);
			p->n_steps = i;
			break;
		}
	}
	e->plans[e->n_plans++] = p; /* room for ENG_MAX_PLANS from init */
	bool due = now_ms - e->last_publish_ms >= e->conf->republish_ms;
	if (!same || strcmp(e->last_signature, p->signature) != 0 || due)
		plan_publish(e, p, now_ms);
	return p;
}

int plan_publish(struct engine *e, const struct plan *p, int64_t now_ms)
{
	struct bm_plan_step steps[ENG_MAX_STEPS];
	struct bm_impact impacts[ENG_MAX_IMPACTS * 2];
	for (size_t i = 0; i < p->n_steps; i++) {
		const struct action *a = p->steps[i];
		steps[i] = (struct bm_plan_step){
			.candidate_id = a->candidate_id,
			.action = {a->actuator, a->target, a->params.v, a->params.n},
		};
	}
	for (size_t i = 0; i < p->n_impacts; i++)
		impacts[i] = (struct bm_impact){p->impacts[i].metric, p->impacts[i].rel,
						p->impacts[i].sd};
	struct bm_recommendation_event ev = {
		.ts_ms = now_ms, .id = p->id, .strategy = strategy_names[e->conf->strategy],
		.mode = e->conf->mode, .approved = p->approved, .score = p->score,
		.benefit = p->benefit, .risk = p->risk, .uncertainty = p->uncertainty,
		.why = p->why, .steps = steps, .n_steps = p->n_steps, .impact = impacts,
		.n_impact = p->n_impacts, .expires_ms = now_ms + 2 * bm_interval_ms(e->ctx),
	};
	int rc = bm_recommendation_encode(&ev, &e->buf);
	if (!rc)
		rc = bm_bus_publish(e->ctx, BM_TOPIC_RECOMMENDATION, e->buf.data, e->buf.len);
	if (rc && rc != BM_EAGAIN) {
		bm_log_warn(e->ctx, "cannot publish the recommendation %s: %s", p->id,
			    bm_strerror(rc));
		return rc;
	}
	e->last_publish_ms = now_ms;
	textf(e->last_signature, sizeof(e->last_signature), "%s", p->signature);
	e->n_plans_out++;
	return 0;
}
