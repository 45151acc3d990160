/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recent anomaly, trend, forecast and correlation events from the other
 * analyzers,
 * kept per resource as extra evidence for findings. Bounded: the oldest
 * note makes room for a new one. Main thread only.
 */
#ifndef BEARMON_NOTES_H
#define BEARMON_NOTES_H

#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

enum note_kind { NOTE_ANOMALY, NOTE_TREND, NOTE_FORECAST, NOTE_CORRELATION, NOTE_N_KINDS };

struct note {
	enum note_kind kind;
	char *resource; /* "memory", "disk:sda" */
	char *series;	/* metric name the event is about */
	char *text;	/* for people */
	double value;	/* score, slope or time to threshold (s) */
	const char *unit;
	int64_t ts_ms;
};

#define NOTES_MAX 256

struct notes {
	struct note v[NOTES_MAX];
	size_t n;
};

/* Keep what an event says about a resource the rules know; events about
 * other series, or that say nothing (a stable trend, a forecast without a
 * crossing), are ignored. 0 or BM_ENOMEM. */
int notes_anomaly(struct notes *ns, const struct bm_anomaly_event *e);
int notes_trend(struct notes *ns, const struct bm_trend_event *e);
int notes_forecast(struct notes *ns, const struct bm_forecast_event *e);
/* A strong correlation (|r| >= 0.7) is kept on the resources of both
 * series. */
int notes_correlation(struct notes *ns, const struct bm_correlation_event *e);
/* Notes on resource newer than now_ms - ttl_ms, newest first, at most n
 * into out: how many. */
size_t notes_for(const struct notes *ns, const char *resource, int64_t now_ms, int64_t ttl_ms,
		 const struct note **out, size_t n);
void notes_free(struct notes *ns);
/* "45 s", "12 min", "3.5 h", "2.0 d" */
void notes_duration_text(char *buf, size_t n, int64_t ms);

#endif
