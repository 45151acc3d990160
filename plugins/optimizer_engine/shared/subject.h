/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subjects: what a finding, a forecast or an action is about, in the
 * resource names analyzer/bottleneck and analyzer/health use ("agent:ID",
 * "cgroup:/path", "gpu:0", "model:NAME", "proc:PID", "memory", "cpu",
 * "io"), so that the engine can tie a candidate action to the conditions
 * on what it acts on.
 */
#ifndef BEARMON_OPT_SUBJECT_H
#define BEARMON_OPT_SUBJECT_H

#include <bearmon/bm_event.h>

#include <stdbool.h>
#include <stddef.h>

#include "selector.h"

/* Subject of a series: the agent, cgroup, gpu, model or pid its labels
 * name, else the host resource its name belongs to. false when neither. */
bool subject_of_series(const struct bm_series_ref *s, char *out, size_t n);
/* The same for a selector's name and equality matchers. */
bool subject_of_sel(const struct sel *s, char *out, size_t n);
/* Subject of an action: "agent:ID" for agent commands and process actions
 * on "agent:ID", "cgroup:PATH", "proc:PID", "host" for sysctl, the target
 * itself for anything else. */
void subject_of_action(const char *actuator, const char *target, char *out, size_t n);

#endif
