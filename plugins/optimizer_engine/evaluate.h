/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulation and scoring of one candidate (struct eval): whether the
 * strategy and the holds let it in, its simulated impact (learn.h), the
 * benefit and risk that follow against the objectives, the constraints,
 * and its score.
 *
 *   goodness_i = -mean_i for a metric to minimise, +mean_i to maximise
 *   benefit    = sum_o w_o clamp(goodness_i / full_benefit_change, -1, 1)
 *                / sum_o w_o over the impacts an objective covers, in
 *                [0, 1]; the declared benefit x confidence when none does
 *   p_harm_i   = P(goodness_i < -harm_tolerance) under N(mean_i, sd_i)
 *   risk       = 1 - (1 - declared risk) prod_i (1 - p_harm_i), raised
 *                by the kind's rollback rate (adaptive) and by 0.1 for a
 *                kind known irreversible (prefer_reversible)
 *   score      = dimension weight x benefit x (1 + urgency_weight x
 *                urgency) - risk_aversion x risk
 */
#ifndef BEARMON_OPT_EVALUATE_H
#define BEARMON_OPT_EVALUATE_H

#include "engine.h"

void eval_candidate(struct engine *e, struct cand *c, int64_t now_ms);
/* Do impacts (simulated means and sds) keep every metric constraint?
 * false with the reason in why. */
bool eval_metric_constraints(struct engine *e, const struct impact *im, size_t n, int64_t now_ms,
			     char *why, size_t why_n);
/* Are the metrics the impacts name within every metric constraint now
 * (after a change)? false with the reason. */
bool eval_metric_limits(struct engine *e, const struct impact *im, size_t n, int64_t now_ms,
			char *why, size_t why_n);
/* Do an action's parameters keep every parameter constraint? */
bool eval_param_constraints(const struct engine *e, const char *actuator,
			    const struct kvl *params, char *why, size_t why_n);
/* Index of the first objective covering the metric of selector, or -1. */
int objective_of(const struct engine *e, const char *selector);
double dimension_weight(const struct engine *e, const char *dimension);
bool held(const struct engine *e, const char *subject, int64_t now_ms, int64_t *until);

#endif
