/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Evidence from other analyzers' events, see notes.h.
 */
#define _GNU_SOURCE
#include "notes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_err.h>

#include "series_map.h"

/* A trend is worth citing only when significant at this level, a
 * correlation only when at least this strong. */
#define NOTES_TREND_P	      0.05
#define NOTES_MIN_CORRELATION 0.7

void notes_duration_text(char *buf, size_t n, int64_t ms)
{
	int64_t s = ms / 1000;
	if (s < 120)
		snprintf(buf, n, "%lld s", (long long)s);
	else if (s < 2 * 3600)
		snprintf(buf, n, "%lld min", (long long)(s / 60));
	else if (s < 2 * 86400)
		snprintf(buf, n, "%.1f h", (double)s / 3600.0);
	else
		snprintf(buf, n, "%.1f d", (double)s / 86400.0);
}

static void note_release(struct note *n)
{
	free(n->resource);
	free(n->series);
	free(n->text);
	memset(n, 0, sizeof(*n));
}

/* The slot for a note: the same kind, resource and series again, a free
 * one, or the oldest. */
static struct note *note_slot(struct notes *ns, enum note_kind kind, const char *resource,
			      const char *series)
{
	struct note *oldest = NULL;
	for (size_t i = 0; i < ns->n; i++) {
		struct note *n = &ns->v[i];
		if (n->kind == kind && strcmp(n->resource, resource) == 0 &&
		    strcmp(n->series, series) == 0)
			return n;
		if (!oldest || n->ts_ms < oldest->ts_ms)
			oldest = n;
	}
	return ns->n < NOTES_MAX ? &ns->v[ns->n++] : oldest;
}

static int note_put(struct notes *ns, enum note_kind kind, const struct bm_series_ref *ref,
		    int64_t ts_ms, double value, const char *unit, const char *text)
{
	struct sm_resource r;
	char rbuf[256];
	if (!sm_classify(ref->name, ref->labels, ref->n_labels, &r, rbuf, sizeof(rbuf)))
		return 0;
	struct note fresh = {kind, strdup(r.resource), strdup(ref->name), strdup(text), value, unit,
			     ts_ms};
	if (!fresh.resource || !fresh.series || !fresh.text) {
		note_release(&fresh);
		return BM_ENOMEM;
	}
	struct note *slot = note_slot(ns, kind, fresh.resource, fresh.series);
	note_release(slot); /* a new slot is zeroed, a reused one holds the old note */
	*slot = fresh;
	return 0;
}

int notes_anomaly(struct notes *ns, const struct bm_anomaly_event *e)
{
	char text[320];
	snprintf(text, sizeof(text),
		 "anomaly in %s: %g outside the expected %g..%g (score %.2f, %s)", e->series.name,
		 e->value, e->lower, e->upper, e->score, e->detector);
	return note_put(ns, NOTE_ANOMALY, &e->series, e->ts_ms, e->score, "score", text);
}

int notes_trend(struct notes *ns, const struct bm_trend_event *e)
{
	if (e->direction == BM_TREND_STABLE || !(e->p_value <= NOTES_TREND_P))
		return 0;
	char text[320], window[32];
	notes_duration_text(window, sizeof(window), e->window_ms);
	const char *dir = e->direction == BM_TREND_INCREASING ? "increasing" : "decreasing";
	if (isfinite(e->rel_change))
		snprintf(text, sizeof(text), "%s %s: %+.0f%% over %s (p=%.3f)", e->series.name, dir,
			 e->rel_change * 100, window, e->p_value);
	else
		snprintf(text, sizeof(text), "%s %s at %g per s over %s (p=%.3f)", e->series.name,
			 dir, e->slope_per_s, window, e->p_value);
	return note_put(ns, NOTE_TREND, &e->series, e->ts_ms, e->slope_per_s, "per_second", text);
}

int notes_forecast(struct notes *ns, const struct bm_forecast_event *e)
{
	if (!e->has_threshold || e->time_to_threshold_ms < 0)
		return 0;
	char text[320], when[32];
	notes_duration_text(when, sizeof(when), e->time_to_threshold_ms);
	snprintf(text, sizeof(text), "%s forecast to go %s %g in %s (%s, confidence %.0f%%)",
		 e->series.name, e->cross == BM_CROSS_ABOVE ? "above" : "below", e->threshold, when,
		 e->model, e->confidence * 100);
	return note_put(ns, NOTE_FORECAST, &e->series, e->ts_ms,
			(double)e->time_to_threshold_ms / 1000.0, "seconds", text);
}

int notes_correlation(struct notes *ns, const struct bm_correlation_event *e)
{
	static const char *const methods[] = {"pearson", "spearman", "kendall"};
	if (!(fabs(e->coefficient) >= NOTES_MIN_CORRELATION))
		return 0;
	char text[400], window[32], lag[64] = "";
	notes_duration_text(window, sizeof(window), e->window_ms);
	if (e->lag_ms) {
		char by[32];
		notes_duration_text(by, sizeof(by), e->lag_ms > 0 ? e->lag_ms : -e->lag_ms);
		snprintf(lag, sizeof(lag), ", %s leads by %s",
			 e->lag_ms > 0 ? e->a.name : e->b.name, by);
	}
	snprintf(text, sizeof(text), "%s and %s move %s (%s %.2f over %s%s)", e->a.name, e->b.name,
		 e->coefficient > 0 ? "together" : "oppositely",
		 (size_t)e->method < 3 ? methods[e->method] : "r", e->coefficient, window, lag);
	int rc =
	    note_put(ns, NOTE_CORRELATION, &e->a, e->ts_ms, e->coefficient, "coefficient", text);
	return rc ? rc
		  : note_put(ns, NOTE_CORRELATION, &e->b, e->ts_ms, e->coefficient, "coefficient",
			     text);
}

size_t notes_for(const struct notes *ns, const char *resource, int64_t now_ms, int64_t ttl_ms,
		 const struct note **out, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < ns->n; i++) {
		const struct note *note = &ns->v[i];
		if (now_ms - note->ts_ms > ttl_ms || strcmp(note->resource, resource) != 0)
			continue;
		size_t j = k < n ? k++ : n; /* insertion, newest first */
		while (j > 0 && out[j - 1]->ts_ms < note->ts_ms) {
			if (j < n)
				out[j] = out[j - 1];
			j--;
		}
		if (j < n)
			out[j] = note;
	}
	return k;
}

void notes_free(struct notes *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		note_release(&ns->v[i]);
	ns->n = 0;
}
