/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The executor: runs a plan's steps in order through their actuators
 * (one plan at a time); when a step fails, restores the steps before it
 * in reverse order; after a plan ran, holds its subjects (hold) and
 * watches the metrics its impacts name for `watch`: their mean after
 * `settle` against the mean over `baseline` before the change is the
 * measured effect, recorded in what the engine learned. A regression
 * beyond rollback_threshold on an objective, or a metric constraint
 * broken, rolls the whole plan back automatically, with the reason.
 * Every transition is an `action` event.
 */
#ifndef BEARMON_OPT_EXECUTOR_H
#define BEARMON_OPT_EXECUTOR_H

#include "engine.h"

/* Could these steps run here? false with why (an actuator the config does
 * not allow, a recommendation for people, a broken constraint). */
bool exec_allowed(const struct engine *e, struct action *const *acts, size_t n, char *why,
		  size_t why_n);
/* Run planned steps. BM_EAGAIN while another run is in flight, BM_ESTATE
 * for a step that is not planned, BM_EPERM when not allowed (why says). */
int exec_start(struct engine *e, struct action *const *acts, size_t n, const char *approved_by,
	       char *why, size_t why_n);
/* Restore executed steps, last first. Same codes. */
int exec_rollback(struct engine *e, struct action *const *acts, size_t n, const char *reason,
		  char *why, size_t why_n);
/* Log what the plan would do, and publish its steps as dry-run actions. */
void exec_dry_run(struct engine *e, struct plan *p, int64_t now_ms);
/* Watches that are due, command deadlines. */
void exec_tick(struct engine *e, int64_t now_ms);
/* Forget the run in flight (stop): its callbacks will not come. */
void exec_stop(struct engine *e);
int action_publish(struct engine *e, const struct action *a);
/* Hold subject from further actions until now + hold. */
int hold_subject(struct engine *e, const char *subject, int64_t now_ms);

#endif
