/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Health scores: 100 minus the penalties of what lowers a component
 * (findings, anomalies, forecasts, failing collectors, agents down), a
 * status from the score and the worst finding, and an overall score.
 */
#ifndef BEARMON_HEALTH_SCORE_H
#define BEARMON_HEALTH_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <jansson.h>

#include "health.h"
#include "inputs.h"

struct hs_reason {
	char text[360];
	double penalty;
	char series[200];    /* "" when none */
	char label_name[64]; /* "" when none */
	char label_value[160];
};

struct hs_component {
	char name[160]; /* "cpu", "agent:planner", "overall" */
	double score;	/* 0..100; NaN when unknown */
	enum bm_health_status status;
	struct hs_reason *reasons; /* largest penalty first */
	size_t n_reasons, cap_reasons;
	bool has_data;
	enum bm_severity worst; /* most severe finding */
	bool any_finding;
};

struct hs_result {
	struct hs_component *v;
	size_t n, cap;
	struct hs_component overall;
};

/* Score every component from hi at now_ms into out (reused): 0 or
 * BM_ENOMEM. */
int hs_compute(const struct health_inputs *hi, const struct health_conf *c, int64_t now_ms,
	       struct hs_result *out);
/* The result as the route's JSON object; NULL when out of memory. */
json_t *hs_json(const struct hs_result *r, int64_t now_ms);
/* One component as a health event (reasons borrowed from comp into the
 * caller's array of comp->n_reasons entries). */
void hs_event(const struct hs_component *comp, int64_t now_ms, struct bm_health_reason *reasons,
	      struct bm_label *labels, struct bm_health_event *out);
const char *hs_status_name(enum bm_health_status s);
void hs_free(struct hs_result *r);

#endif
