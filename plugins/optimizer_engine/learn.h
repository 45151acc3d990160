/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the engine learned from its own actions: the measured relative
 * change of each metric after each kind of action (running mean and
 * variance, Welford), and how often each kind was rolled back or turned
 * out irreversible. learn_posterior() combines a candidate's declared
 * impact (the prior) with that evidence:
 *
 *   Normal-Normal conjugate model with a plug-in observation variance.
 *   Prior N(mu0, s0^2): the declared change and uncertainty (s0 at least
 *   min_uncertainty). Observations x_1..x_n, mean xbar, observation
 *   variance s^2 = their sample variance when n >= 2 (at least
 *   min_uncertainty^2), else s0^2. Posterior precision 1/s0^2 + n/s^2,
 *   mean (mu0/s0^2 + n xbar/s^2) / precision, sd 1/sqrt(precision): the
 *   estimate shrinks from the claim toward what was measured, and its
 *   uncertainty falls as 1/sqrt(n).
 */
#ifndef BEARMON_OPT_LEARN_H
#define BEARMON_OPT_LEARN_H

#include "engine.h"

/* "agent_command:NAME" for agent commands, else "ACTUATOR:KEY1,KEY2" with
 * the parameter keys sorted. */
void action_kind(const char *actuator, const struct kvl *params, char *out, size_t n);
/* The metric name of an impact's selector ("" when it has none). */
void metric_name_of(const char *selector, char *out, size_t n);

int learn_effect_add(struct learn *l, const char *kind, const char *metric, double rel);
int learn_outcome(struct learn *l, const char *kind, bool rolled_back, bool irreversible);
const struct effect *learn_effect(const struct learn *l, const char *kind, const char *metric);
const struct kind_stats *learn_kind(const struct learn *l, const char *kind);
/* The posterior of a declared impact of an action of that kind. */
void learn_posterior(const struct learn *l, const char *kind, const struct impact *declared,
		     double min_sd, struct posterior *out);
void learn_free(struct learn *l);

#endif
