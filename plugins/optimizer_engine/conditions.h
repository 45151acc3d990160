/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Conditions: what the analyzers say about each subject (subject.h), in
 * three kinds: a present problem (a bottleneck finding, a degraded or
 * critical health score), a predicted one (a forecast crossing its
 * threshold within the horizon) and a trend toward worse (significant,
 * in the direction an objective dislikes). The strategy decides which
 * kinds let a candidate on that subject into a plan; each kind's latest
 * evidence text goes into the plan's why.
 */
#ifndef BEARMON_OPT_CONDITIONS_H
#define BEARMON_OPT_CONDITIONS_H

#include "engine.h"

enum { CK_PRESENT, CK_PREDICTED, CK_TRENDING };

int cond_bottleneck(struct conditions *c, const struct bm_bottleneck_event *e, int64_t now_ms,
		    int64_t ttl_ms);
int cond_health(struct conditions *c, const struct bm_health_event *e, int64_t now_ms,
		int64_t ttl_ms);
int cond_forecast(struct conditions *c, const struct bm_forecast_event *e, int64_t now_ms,
		  int64_t horizon_ms, int64_t ttl_ms);
/* worsening: the caller's verdict on the trend's direction for that metric. */
int cond_trend(struct conditions *c, const struct bm_trend_event *e, bool worsening,
	       int64_t now_ms, int64_t ttl_ms);
/* The kinds in force for subject at now; *ttt_left the time left until the
 * soonest predicted crossing (-1 when none). */
unsigned cond_kinds(const struct conditions *c, const char *subject, int64_t now_ms,
		    int64_t *ttt_left);
const struct cond *cond_find(const struct conditions *c, const char *subject);
void cond_expire(struct conditions *c, int64_t now_ms);
void cond_free(struct conditions *c);

#endif
