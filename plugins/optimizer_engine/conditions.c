/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Conditions per subject (conditions.h). Each kind holds until a time:
 * refreshed by every event that confirms it, cut short by one that
 * clears it (a resolved finding, an ok health score, a forecast that no
 * longer crosses), and forgotten ttl after the last confirmation.
 */
#define _GNU_SOURCE
#include "conditions.h"

#include <bearmon/bm_vec.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/subject.h"

const struct cond *cond_find(const struct conditions *c, const char *subject)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].subject, subject) == 0)
			return &c->v[i];
	return NULL;
}

static struct cond *get(struct conditions *c, const char *subject)
{
	struct cond *k = (struct cond *)cond_find(c, subject);
	if (k)
		return k;
	char *s = strdup(subject);
	if (!s || BM_VEC_RESERVE(c->v, c->cap, c->n + 1)) {
		free(s);
		return NULL;
	}
	k = &c->v[c->n++];
	*k = (struct cond){.subject = s, .ttt_ms = -1};
	return k;
}

int cond_bottleneck(struct conditions *c, const struct bm_bottleneck_event *e, int64_t now_ms,
		    int64_t ttl_ms)
{
	bool resolved = e->severity == BM_SEV_INFO && e->impact <= 0;
	struct cond *k = resolved ? (struct cond *)cond_find(c, e->resource) : get(c, e->resource);
	if (!k)
		return resolved ? 0 : BM_ENOMEM;
	const char *id = e->id ? e->id : e->resource;
	if (resolved) {
		if (strcmp(k->finding, id) == 0)
			k->present_until = now_ms;
		return 0;
	}
	k->present_until = now_ms + ttl_ms;
	textf(k->finding, sizeof(k->finding), "%s", id);
	textf(k->text[CK_PRESENT], sizeof(k->text[0]), "bottleneck %s (%s, impact %.2f): %s", id,
		 e->severity >= BM_SEV_CRITICAL ? "critical" : "warning", e->impact,
		 e->summary ? e->summary : e->resource);
	return 0;
}

int cond_health(struct conditions *c, const struct bm_health_event *e, int64_t now_ms,
		int64_t ttl_ms)
{
	bool bad = e->status == BM_HEALTH_DEGRADED || e->status == BM_HEALTH_CRITICAL;
	struct cond *k = bad ? get(c, e->component) : (struct cond *)cond_find(c, e->component);
	if (!k)
		return bad ? BM_ENOMEM : 0;
	if (!bad) {
		if (!k->finding[0])
			k->present_until = now_ms; /* only a finding keeps it present then */
		return 0;
	}
	k->present_until = now_ms + ttl_ms;
	textf(k->text[CK_PRESENT], sizeof(k->text[0]), "health of %s %.0f/100 (%s)%s%s",
		 e->component, e->score, e->status == BM_HEALTH_CRITICAL ? "critical" : "degraded",
		 e->n_reasons ? ": " : "", e->n_reasons ? e->reasons[0].text : "");
	return 0;
}

static void human_ms(char *buf, size_t n, int64_t ms)
{
	if (ms >= 3600000)
		textf(buf, n, "%.1f h", ms / 3600000.0);
	else if (ms >= 60000)
		textf(buf, n, "%.1f min", ms / 60000.0);
	else
		textf(buf, n, "%.0f s", ms / 1000.0);
}

int cond_forecast(struct conditions *c, const struct bm_forecast_event *e, int64_t now_ms,
		  int64_t horizon_ms, int64_t ttl_ms)
{
	char subject[ENG_SUBJECT], series[512], when[32];
	if (!e->has_threshold || !subject_of_series(&e->series, subject, sizeof(subject)))
		return 0;
	bool crossing = e->time_to_threshold_ms >= 0 && e->time_to_threshold_ms <= horizon_ms;
	struct cond *k = crossing ? get(c, subject) : (struct cond *)cond_find(c, subject);
	if (!k)
		return crossing ? BM_ENOMEM : 0;
	if (!crossing) {
		k->predicted_until = now_ms;
		k->ttt_ms = -1;
		return 0;
	}
	int64_t left = e->ts_ms + e->time_to_threshold_ms - now_ms;
	int64_t old_left = k->ttt_ms >= 0 && k->predicted_until > now_ms
				   ? k->ttt_at_ms + k->ttt_ms - now_ms
				   : INT64_MAX;
	if (left <= old_left) {
		k->ttt_ms = e->time_to_threshold_ms;
		k->ttt_at_ms = e->ts_ms;
	}
	k->predicted_until = now_ms + ttl_ms;
	sel_format(series, sizeof(series), e->series.name, e->series.labels, e->series.n_labels);
	human_ms(when, sizeof(when), e->time_to_threshold_ms);
	textf(k->text[CK_PREDICTED], sizeof(k->text[0]),
		 "forecast (%s, confidence %.2f): %s to go %s %.6g in %s", e->model,
		 e->confidence, series, e->cross == BM_CROSS_BELOW ? "below" : "above", e->threshold,
		 when);
	return 0;
}

int cond_trend(struct conditions *c, const struct bm_trend_event *e, bool worsening,
	       int64_t now_ms, int64_t ttl_ms)
{
	char subject[ENG_SUBJECT], series[512];
	if (!subject_of_series(&e->series, subject, sizeof(subject)))
		return 0;
	struct cond *k = worsening ? get(c, subject) : (struct cond *)cond_find(c, subject);
	if (!k)
		return worsening ? BM_ENOMEM : 0;
	if (!worsening) {
		k->trending_until = now_ms;
		return 0;
	}
	k->trending_until = now_ms + ttl_ms;
	sel_format(series, sizeof(series), e->series.name, e->series.labels, e->series.n_labels);
	textf(k->text[CK_TRENDING], sizeof(k->text[0]),
		 "trend: %s %s by %.1f%% over %.0f min (p = %.3g)", series,
		 e->direction == BM_TREND_INCREASING ? "rising" : "falling",
		 isfinite(e->rel_change) ? fabs(e->rel_change) * 100 : 0.0, e->window_ms / 60000.0,
		 e->p_value);
	return 0;
}

unsigned cond_kinds(const struct conditions *c, const char *subject, int64_t now_ms,
		    int64_t *ttt_left)
{
	const struct cond *k = cond_find(c, subject);
	unsigned kinds = 0;
	if (ttt_left)
		*ttt_left = -1;
	if (!k)
		return 0;
	if (k->present_until > now_ms)
		kinds |= COND_PRESENT;
	if (k->predicted_until > now_ms) {
		kinds |= COND_PREDICTED;
		if (ttt_left && k->ttt_ms >= 0) {
			int64_t left = k->ttt_at_ms + k->ttt_ms - now_ms;
			*ttt_left = left > 0 ? left : 0;
		}
	}
	if (k->trending_until > now_ms)
		kinds |= COND_TRENDING;
	return kinds;
}

void cond_expire(struct conditions *c, int64_t now_ms)
{
	for (size_t i = c->n; i-- > 0;) {
		struct cond *k = &c->v[i];
		if (k->present_until > now_ms || k->predicted_until > now_ms ||
		    k->trending_until > now_ms)
			continue;
		free(k->subject);
		c->v[i] = c->v[--c->n];
	}
}

void cond_free(struct conditions *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].subject);
	free(c->v);
	*c = (struct conditions){0};
}
