/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulation, constraints and scoring of candidates (evaluate.h).
 */
#define _GNU_SOURCE
#include "evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conditions.h"
#include "learn.h"
#include "shared/subject.h"
#include "stats.h"

int objective_of(const struct engine *e, const char *selector)
{
	char name[256];
	metric_name_of(selector, name, sizeof(name));
	for (size_t i = 0; i < e->conf->objectives.n; i++)
		if (regexec(&e->objective_re[i], name, 0, NULL, 0) == 0)
			return (int)i;
	return -1;
}

double dimension_weight(const struct engine *e, const char *dimension)
{
	const char *w = bm_map_get(&e->conf->weights, dimension);
	return w ? strtod(w, NULL) : 1.0;
}

bool held(const struct engine *e, const char *subject, int64_t now_ms, int64_t *until)
{
	for (size_t i = 0; i < e->n_holds; i++) {
		if (e->holds[i].until_ms > now_ms && strcmp(e->holds[i].subject, subject) == 0) {
			if (until)
				*until = e->holds[i].until_ms;
			return true;
		}
	}
	return false;
}

static bool dimension_enabled(const struct engine *e, const char *dimension)
{
	const struct bm_strlist *d = &e->conf->dimensions;
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i], dimension) == 0)
			return true;
	return d->n == 0;
}

/* The kinds of condition that let a candidate in, per strategy. */
static unsigned strategy_mask(int strategy)
{
	switch (strategy) {
	case ST_REACTIVE: return COND_PRESENT;
	case ST_PROACTIVE: return COND_PRESENT | COND_PREDICTED;
	case ST_PREDICTIVE:
	case ST_ADAPTIVE: return COND_PRESENT | COND_PREDICTED | COND_TRENDING;
	default: return 0; /* holistic: every candidate */
	}
}

static const char *const strategy_names[] = {"reactive", "proactive", "predictive", "adaptive",
					     "holistic"};

/* Conditions over the action's subject and the subjects of its impacts. */
static void triggers(struct engine *e, struct cand *c, int64_t now_ms)
{
	char subject[ENG_SUBJECT];
	int64_t left;
	subject_of_action(c->actuator, c->target, subject, sizeof(subject));
	c->ev.trigger = cond_kinds(&e->conds, subject, now_ms, &left);
	c->ev.urgency = left >= 0 ? fmax(0, 1 - (double)left / (double)e->conf->horizon_ms) : 0;
	for (size_t i = 0; i < c->n_impacts; i++) {
		struct sel s;
		if (sel_parse(c->impacts[i].metric, &s, NULL, 0))
			continue;
		if (subject_of_sel(&s, subject, sizeof(subject))) {
			c->ev.trigger |= cond_kinds(&e->conds, subject, now_ms, &left);
			if (left >= 0)
				c->ev.urgency = fmax(c->ev.urgency,
						     fmax(0, 1 - (double)left /
									 (double)e->conf->horizon_ms));
		}
		sel_free(&s);
	}
}

/* Whether the candidate may be planned at all; false with why_not. */
static bool admissible(struct engine *e, struct cand *c, int64_t now_ms)
{
	struct eval *ev = &c->ev;
	char subject[ENG_SUBJECT];
	int64_t until;
	if (!dimension_enabled(e, c->dimension)) {
		textf(ev->why_not, sizeof(ev->why_not), "dimension %s is not enabled",
			 c->dimension);
		return false;
	}
	if (!actuator_find(c->actuator) && strcmp(c->actuator, "manual") != 0) {
		textf(ev->why_not, sizeof(ev->why_not), "unknown actuator %s", c->actuator);
		return false;
	}
	subject_of_action(c->actuator, c->target, subject, sizeof(subject));
	if (held(e, subject, now_ms, &until)) {
		textf(ev->why_not, sizeof(ev->why_not),
			 "%s is held for %.0f s more after an action on it", subject,
			 (until - now_ms) / 1000.0);
		return false;
	}
	triggers(e, c, now_ms);
	unsigned mask = strategy_mask(e->conf->strategy);
	if (mask && !(ev->trigger & mask)) {
		textf(ev->why_not, sizeof(ev->why_not),
			 "strategy %s: no %s condition on %s", strategy_names[e->conf->strategy],
			 e->conf->strategy == ST_REACTIVE ? "present" : "present or predicted",
			 subject);
		return false;
	}
	return true;
}

/* Posterior, goodness and chance of harm of every impact. */
static void simulate(struct engine *e, struct cand *c, const char *kind)
{
	const struct engine_conf *k = e->conf;
	for (size_t i = 0; i < c->n_impacts; i++) {
		struct posterior *p = &c->ev.post[i];
		learn_posterior(&e->learn, kind, &c->impacts[i], k->min_uncertainty, p);
		p->objective = objective_of(e, c->impacts[i].metric);
		if (p->objective < 0)
			continue;
		const struct objective_conf *o =
			BM_GROUP_ITEM(k->objectives, struct objective_conf, p->objective);
		p->goodness = o->goal == GOAL_MINIMIZE ? -p->mean : p->mean;
		p->p_harm = 1 - stats_norm_sf((-k->harm_tolerance - p->goodness) / p->sd);
	}
}

static void benefit_and_risk(struct engine *e, struct cand *c, const char *kind)
{
	const struct engine_conf *k = e->conf;
	struct eval *ev = &c->ev;
	double wsum = 0, gain = 0, unc = 0, keep = 1 - c->risk;
	for (size_t i = 0; i < c->n_impacts; i++) {
		const struct posterior *p = &ev->post[i];
		if (p->objective < 0)
			continue;
		double w = BM_GROUP_ITEM(k->objectives, struct objective_conf, p->objective)->weight;
		wsum += w;
		gain += w * fmax(-1, fmin(1, p->goodness / k->full_benefit_change));
		unc += w * fmin(1, p->sd / k->full_benefit_change);
		keep *= 1 - p->p_harm;
	}
	ev->benefit = wsum > 0 ? fmax(0, fmin(1, gain / wsum)) : c->benefit * c->confidence;
	ev->uncertainty = wsum > 0 ? unc / wsum : 1 - c->confidence;
	const struct kind_stats *ks = learn_kind(&e->learn, kind);
	if (k->strategy == ST_ADAPTIVE && ks)
		keep *= 1 - (double)ks->rollbacks / (double)(ks->executions + 1);
	if (k->preferences.prefer_reversible && ks && ks->irreversible)
		keep *= 0.9;
	ev->risk = fmin(1, fmax(0, 1 - keep));
}

void eval_candidate(struct engine *e, struct cand *c, int64_t now_ms)
{
	const struct engine_conf *k = e->conf;
	struct eval *ev = &c->ev;
	char kind[256];
	*ev = (struct eval){0};
	if (!admissible(e, c, now_ms))
		return;
	action_kind(c->actuator, &c->params, kind, sizeof(kind));
	simulate(e, c, kind);
	benefit_and_risk(e, c, kind);
	if (!eval_param_constraints(e, c->actuator, &c->params, ev->why_not, sizeof(ev->why_not)))
		return;
	struct impact sim[ENG_MAX_IMPACTS];
	for (size_t i = 0; i < c->n_impacts; i++)
		sim[i] = (struct impact){c->impacts[i].metric, ev->post[i].mean, ev->post[i].sd};
	if (!eval_metric_constraints(e, sim, c->n_impacts, now_ms, ev->why_not,
				     sizeof(ev->why_not)))
		return;
	ev->weight = dimension_weight(e, c->dimension);
	ev->score = ev->weight * ev->benefit * (1 + k->preferences.urgency_weight * ev->urgency) -
		    k->preferences.risk_aversion * ev->risk;
	ev->eligible = true;
}

/* --- constraints ------------------------------------------------------ */

static double param_number(const char *v)
{
	if (strcmp(v, "max") == 0 || strcmp(v, "-1") == 0)
		return INFINITY;
	char *end;
	double x = strtod(v, &end);
	return end == v ? NAN : x;
}

/* The names a constraint's param may go by for this parameter key: the key
 * itself, its cgroup v1/v2 twin in the same unit, and COMMAND.ARG for an
 * argument of an agent command. */
static bool param_matches(const char *constraint, const char *actuator, const struct kvl *params,
			  const char *key)
{
	static const char *const twins[][2] = {{"memory.high", "memory.soft_limit_in_bytes"},
					       {"memory.max", "memory.limit_in_bytes"}};
	if (strcmp(constraint, key) == 0)
		return true;
	for (size_t i = 0; i < 2; i++)
		if ((strcmp(constraint, twins[i][0]) == 0 && strcmp(key, twins[i][1]) == 0) ||
		    (strcmp(constraint, twins[i][1]) == 0 && strcmp(key, twins[i][0]) == 0))
			return true;
	const char *command = kvl_get(params, "command");
	char qualified[256];
	if (strcmp(actuator, "agent_command") != 0 || !command)
		return false;
	textf(qualified, sizeof(qualified), "%s.%s", command, key);
	return strcmp(constraint, qualified) == 0;
}

bool eval_param_constraints(const struct engine *e, const char *actuator,
			    const struct kvl *params, char *why, size_t why_n)
{
	for (size_t j = 0; j < e->conf->constraints.n; j++) {
		const struct constraint_conf *k =
			BM_GROUP_ITEM(e->conf->constraints, struct constraint_conf, j);
		for (size_t i = 0; k->param && i < params->n; i++) {
			const struct bm_kv *kv = &params->v[i];
			if (!param_matches(k->param, actuator, params, kv->key))
				continue;
			double v = param_number(kv->value);
			if (isnan(v) || v < k->min || v > k->max) {
				textf(why, why_n, "violates constraint %s: %s = %s outside [%g, %g]",
					 k->name ? k->name : k->param, kv->key, kv->value,
					 isnan(k->min) ? -INFINITY : k->min,
					 isnan(k->max) ? INFINITY : k->max);
				return false;
			}
		}
	}
	return true;
}

/* The impact's own matchers plus the constraint's label matchers. */
static bool merged_selector(const struct sel *impact, const struct sel *k, struct sel *out)
{
	*out = *impact;
	out->buf = NULL;
	for (size_t i = 0; i < k->n; i++) {
		if (strcmp(k->m[i].name, "__name__") == 0)
			continue;
		if (out->n == SEL_MAX_MATCHERS)
			return false;
		out->m[out->n++] = k->m[i];
	}
	return true;
}

/* One constraint against one simulated impact; false with why. A plan is
 * refused only for what it would make worse (a bound already broken that
 * the plan does not push further is not its doing), and a value it cannot
 * read counts as broken; a measurement (now) is checked against the bounds
 * as they are, and a value it cannot read is not a finding. */
static bool within(struct engine *e, size_t j, const struct impact *im, int64_t now_ms, bool now,
		   char *why, size_t why_n)
{
	const struct constraint_conf *k = BM_GROUP_ITEM(e->conf->constraints, struct constraint_conf, j);
	const struct sel *ks = &e->constraint_sel[j];
	struct sel is, q;
	double cur, z = stats_norm_ppf(e->conf->constraint_confidence);
	if (sel_parse(im->metric, &is, NULL, 0))
		return true;
	bool same = ks->name && is.name && strcmp(ks->name, is.name) == 0;
	bool ok = !same;
	if (same && merged_selector(&is, ks, &q)) {
		int got = sel_latest(e->ctx, &q, now_ms, 5 * 60000, SEL_MAX, &cur);
		double hi = cur * (1 + im->rel + z * im->sd), lo = cur * (1 + im->rel - z * im->sd);
		if (got != 1)
			textf(why, why_n, "constraint %s cannot be verified: no current value of %s",
				 k->name ? k->name : k->metric, im->metric);
		else if (!isnan(k->max) && fmax(hi, lo) > k->max && (now || fmax(hi, lo) > cur))
			textf(why, why_n, "violates constraint %s: %s may reach %.6g (max %.6g)",
				 k->name ? k->name : k->metric, im->metric, fmax(hi, lo), k->max);
		else if (!isnan(k->min) && fmin(hi, lo) < k->min && (now || fmin(hi, lo) < cur))
			textf(why, why_n, "violates constraint %s: %s may fall to %.6g (min %.6g)",
				 k->name ? k->name : k->metric, im->metric, fmin(hi, lo), k->min);
		else
			ok = true;
		ok = ok || (now && got != 1);
	}
	sel_free(&is);
	return ok;
}

static bool check_metrics(struct engine *e, const struct impact *im, size_t n, int64_t now_ms,
			  bool now, char *why, size_t why_n)
{
	for (size_t j = 0; j < e->conf->constraints.n; j++) {
		if (!e->constraint_sel[j].n)
			continue; /* a parameter constraint */
		for (size_t i = 0; i < n; i++)
			if (!within(e, j, &im[i], now_ms, now, why, why_n))
				return false;
	}
	return true;
}

bool eval_metric_constraints(struct engine *e, const struct impact *im, size_t n, int64_t now_ms,
			     char *why, size_t why_n)
{
	return check_metrics(e, im, n, now_ms, false, why, why_n);
}

bool eval_metric_limits(struct engine *e, const struct impact *im, size_t n, int64_t now_ms,
			char *why, size_t why_n)
{
	return check_metrics(e, im, n, now_ms, true, why, why_n);
}
