/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The alert rule: its model, its JSON form (the field names of the config,
 * shared by the API, the state file and rule files) and the one validation
 * every source goes through, with errors that name the offending field.
 */
#ifndef BEARMON_ALERTS_RULE_H
#define BEARMON_ALERTS_RULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

#include "selector.h"

enum al_cond {
	AL_COND_GT = 0,     /* value > threshold */
	AL_COND_LT,         /* value < threshold */
	AL_COND_EQ,         /* |value - threshold| <= tolerance */
	AL_COND_TREND_INC,  /* `trend` increasing, slope > threshold per second */
	AL_COND_TREND_DEC,  /* `trend` decreasing, slope < -threshold per second */
	AL_COND_ANOMALY,    /* `anomaly` score >= threshold */
	AL_COND_RATE_CHANGE, /* per-second change between samples beyond threshold */
	AL_COND_FORECAST,   /* `forecast` crosses the threshold within horizon */
	AL_COND_ABSENT,     /* no sample for horizon (missing data) */
	AL_COND_PROMQL,     /* every series a PromQL expression returns */
	AL_COND_RECORD,     /* recording rule (Prometheus import): no alert */
};
extern const char *const al_cond_names[]; /* "gt", ..., NULL */
extern const char *const al_severity_names[]; /* "info" ... "emergency", NULL */

/* Where a rule came from: config and rule files are read at every start;
 * API and imported rules live in the state file. */
enum al_source { AL_SRC_CONFIG = 0, AL_SRC_API, AL_SRC_FILE, AL_SRC_IMPORT };
extern const char *const al_source_names[];

struct al_kv {
	char *key;
	char *value;
};

struct al_rule {
	char *id;
	char *name;
	char *metric;             /* selector text as given; NULL for promql */
	struct al_selector sel;
	enum al_cond cond;
	double threshold;         /* NaN when unset */
	double clear_threshold;   /* hysteresis; NaN: same as threshold */
	double tolerance;         /* eq */
	int64_t horizon_ms;       /* forecast: crossing within; absent: silence before it counts */
	int64_t window_ms;        /* trend: only events of this window (0: any) */
	char *expr;               /* promql, record */
	char *record;             /* record: name of the series written */
	int64_t for_ms;
	int64_t keep_firing_for_ms;
	int64_t cooldown_ms;      /* least time between two notifications of an instance */
	int64_t repeat_interval_ms;
	int64_t expires_ms;       /* absolute; 0: never */
	enum bm_severity severity;
	struct al_kv *labels;     /* templates */
	size_t n_labels;
	struct al_kv *annotations; /* templates */
	size_t n_annotations;
	char **notifiers;
	size_t n_notifiers;
	char **group_by;          /* empty: every instance notifies on its own */
	size_t n_group_by;
	int64_t group_wait_ms;
	int64_t group_interval_ms;
	int64_t flap_threshold;   /* transitions in flap_window that mean flapping; 0: off */
	int64_t flap_window_ms;
	bool enabled;
	enum al_source source;
	char *origin;             /* file of a rule-file or imported rule */
	int64_t created_ms;
	int64_t updated_ms;
};

/* Where a rule was refused: the field ("threshold", "labels.severity") and
 * why. */
struct al_rule_err {
	char field[64];
	char msg[256];
};

/* Fill err: the field at fault and the message, printf-style. Returns -1,
 * what the parsers return on failure. */
__attribute__((format(printf, 3, 4))) int al_err_set(struct al_rule_err *err, const char *field,
						     const char *fmt, ...);

/* Defaults of the optional durations. */
#define AL_DEFAULT_REPEAT_MS (4 * 3600000LL)
#define AL_DEFAULT_GROUP_WAIT_MS 30000
#define AL_DEFAULT_GROUP_INTERVAL_MS (5 * 60000)
#define AL_DEFAULT_FLAP_THRESHOLD 6
#define AL_DEFAULT_FLAP_WINDOW_MS (10 * 60000)
#define AL_DEFAULT_ABSENT_MS (5 * 60000)
#define AL_MAX_FLAP_THRESHOLD 32

/*
 * Build a rule from its JSON form. Durations are strings ("5m") or
 * integers (ms); expires is a duration from now_ms, an RFC 3339 time or
 * ms since the epoch. promql_ok: the host evaluates PromQL (else promql
 * and recording rules are refused). The id is taken from j, else
 * generated from the name (config) or at random (API). 0 and *out, or -1
 * with err filled.
 */
int al_rule_from_json(const json_t *j, enum al_source src, int64_t now_ms, bool promql_ok,
		      struct al_rule **out, struct al_rule_err *err);
/* The JSON form (new reference): every field, times as ms. */
json_t *al_rule_to_json(const struct al_rule *r);
void al_rule_free(struct al_rule *r);

/* Is s usable as a rule id: [A-Za-z0-9_.:-]{1,128}. */
bool al_rule_id_ok(const char *s);
/* Does the rule read `metric` samples (as opposed to analysis events or
 * PromQL)? */
bool al_cond_uses_samples(enum al_cond c);
/* The threshold in force for an instance (hysteresis: clear_threshold
 * while it is active). */
double al_rule_threshold(const struct al_rule *r, bool active);

#endif
