/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource-limit recommendations in the form of Kubernetes' Vertical Pod
 * Autoscaler: for every agent (its process memory and CPU, collector
 * processes) and every cgroup matching vpa_cgroups (collector cgroup),
 * from the usage over vpa_window averaged per vpa_step:
 *
 *   lower  = p50 x (1 + margin) x (1 + 0.001/days)^-2
 *   target = p90 x (1 + margin)
 *   upper  = p95 x (1 + margin) x (1 + 1/days)
 *
 * with days the span of data in days: VPA's recommender widens the bounds
 * while the history is short. A memory limit that is set and lies outside
 * [lower, upper] becomes a candidate (cgroup memory.max = upper,
 * memory.high = target), applied in place: no restart. An agent's limit
 * is its cgroup's only when that cgroup holds the agent's process alone.
 */
#ifndef BEARMON_OPT_VPA_H
#define BEARMON_OPT_VPA_H

#include "engine.h"

/* Recompute the recommendations (at most once per vpa_step) and put the
 * candidates they call for into the pool. */
void vpa_update(struct engine *e, int64_t now_ms);
/* The figures from usage values (reordered): false when fewer than 3. */
bool vpa_figures(double *v, size_t n, double margin, double days, struct vpa_rec *out);

#endif
