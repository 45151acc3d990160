/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plans: the best eligible candidate and the further ones that combine
 * with it (no conflict, the combination still passes the gate and keeps
 * the constraints), at most max_plan_steps; the approval gate; the why
 * for people; and the `recommendation` event.
 *
 * Two candidates conflict when they act on the same subject with the same
 * actuator and a common parameter (the same command, for agents), or when
 * they push one metric in opposite directions. A plan's benefit and risk
 * combine its steps' as independent chances (1 - prod(1 - x)); impacts on
 * one metric compose multiplicatively, their variances add.
 */
#ifndef BEARMON_OPT_PLAN_H
#define BEARMON_OPT_PLAN_H

#include "engine.h"

/* A plan from the evaluated pool, or NULL when nothing is eligible. The
 * plan owns its actions until plan_keep hands them to the engine. */
struct plan *plan_build(struct engine *e, int64_t now_ms);
/* Keep p as the current plan (taking over the ids of an unchanged,
 * untouched previous plan) and publish it when it is new or due.
 * Returns the kept plan (p, or NULL when p was dropped for lack of memory). */
struct plan *plan_keep(struct engine *e, struct plan *p, int64_t now_ms);
/* The newest plan, or NULL. */
struct plan *plan_current(const struct engine *e);
/* A plan by id, or NULL. */
struct plan *plan_find(const struct engine *e, const char *id);
/* Are all of p's steps still only planned? */
bool plan_untouched(const struct plan *p);
void plan_free(struct plan *p, bool with_actions);
/* The action of that id among the engine's, or NULL. */
struct action *action_find(const struct engine *e, const char *id);
/* Append a to the engine's actions (evicting the oldest finished ones). */
int actions_add(struct engine *e, struct action *a);
void action_free(struct action *a);
/* A new planned action for step idx of plan_id from candidate c. */
struct action *action_from_cand(const struct cand *c, const char *plan_id, size_t idx,
				int64_t now_ms);
int plan_publish(struct engine *e, const struct plan *p, int64_t now_ms);

#endif
