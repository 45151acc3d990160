/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule engine, free of the host: rules, the latest input of every
 * series a rule watches, alert instances and their state machine
 * (pending -> firing -> resolved, hysteresis, keep_firing_for, flap
 * detection, cooldown, repeats, acknowledgements, silences, grouping) and
 * what it publishes, through callbacks. The plugin feeds it from the bus
 * under a lock; bearmonctl test-rules feeds it from a test file. Not thread
 * safe: one caller at a time. Every call takes the time it happens at.
 */
#ifndef BEARMON_ALERTS_ENGINE_H
#define BEARMON_ALERTS_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

#include "rule.h"

struct al_engine;

/* PromQL rules are evaluated by the caller, outside its lock (a query
 * may take a while): al_engine_promql_due() hands out the due ones,
 * al_engine_promql_result() takes back what each returned. */
struct al_promql_job {
	char *rule_id;
	char *expr;
};
/* One sample of a PromQL result: labels sorted, no __name__. */
struct al_promql_sample {
	const struct bm_label *labels;
	uint32_t n_labels;
	double value;
};

/* Routing value of events that no notifier takes (history and UI only):
 * grouped instances, pending alerts that never fired, changes of an
 * acknowledged or silenced alert, and rules with notifiers = ["-"]. It
 * cannot be an instance name. */
#define AL_ROUTE_NONE "-"

struct al_engine_conf {
	int64_t lookback_ms;        /* a sample is current this long (no stale marker) */
	int64_t anomaly_hold_ms;    /* an anomaly counts this long after its sample */
	int64_t analysis_ttl_ms;    /* a trend or forecast counts until replaced or this old */
	int64_t promql_interval_ms; /* promql and record rules are evaluated this often */
	size_t max_series;          /* series tracked at most; beyond, new ones are dropped */
	const char *generator_url;  /* prefix; the rule id is appended */
	bool promql;                /* the host evaluates PromQL (else promql and
				     * record rules are refused) */
	/* Every alert event (e and all it points to borrowed for the call). */
	void (*emit)(void *user, const struct bm_alert_event *e);
	/* Results of recording rules, one sample each. */
	void (*record)(void *user, const char *name, const struct bm_label *labels, uint32_t n,
		       int64_t ts_ms, double value);
	void *user;
};

struct al_engine_stats {
	uint64_t samples;         /* samples of watched metrics taken */
	uint64_t events_in;       /* anomaly, trend and forecast events taken */
	uint64_t series_dropped;  /* new series refused: max_series */
	uint64_t alerts_emitted;  /* alert events produced */
	uint64_t promql_errors;   /* failed PromQL evaluations */
	double series;            /* series tracked */
	double instances_pending, instances_firing;
	double rules;
	double silences_active;
};

struct al_engine *al_engine_new(const struct al_engine_conf *c);
void al_engine_free(struct al_engine *e);
const struct al_engine_stats *al_engine_stats(struct al_engine *e);
/* Set when something the state file keeps changed; cleared by the caller. */
bool al_engine_dirty(const struct al_engine *e);
void al_engine_clear_dirty(struct al_engine *e);
void al_engine_mark_dirty(struct al_engine *e);
bool al_engine_has_promql(const struct al_engine *e);

/* --- rules ------------------------------------------------------------ */
/* Add r (the engine owns it on success). -1 with err when its id is taken. */
int al_engine_rule_add(struct al_engine *e, struct al_rule *r, int64_t now_ms,
		       struct al_rule_err *err);
/* Replace the rule of r's id (which must exist); its instances carry on
 * where the series still match. -1 with err. */
int al_engine_rule_replace(struct al_engine *e, struct al_rule *r, int64_t now_ms,
			   struct al_rule_err *err);
/* Remove a rule; its firing instances resolve. BM_ENOENT when unknown. */
int al_engine_rule_remove(struct al_engine *e, const char *id, int64_t now_ms);
const struct al_rule *al_engine_rule(const struct al_engine *e, const char *id);
size_t al_engine_rule_count(const struct al_engine *e);
const struct al_rule *al_engine_rule_at(const struct al_engine *e, size_t i);

/* --- inputs ----------------------------------------------------------- */
/* One sample (labels sorted by name, as on the bus). */
void al_engine_sample(struct al_engine *e, const char *name, const struct bm_label *labels,
		      uint32_t n, int64_t ts_ms, double v, int64_t now_ms);
void al_engine_anomaly(struct al_engine *e, const struct bm_anomaly_event *a, int64_t now_ms);
void al_engine_trend(struct al_engine *e, const struct bm_trend_event *t, int64_t now_ms);
void al_engine_forecast(struct al_engine *e, const struct bm_forecast_event *f, int64_t now_ms);
/* Time-driven work: for durations, keep_firing_for, missing data, stale
 * series, repeats, groups, expiries, silences. */
void al_engine_tick(struct al_engine *e, int64_t now_ms);
/* The promql and record rules due at now (each every promql_interval):
 * *jobs is a new array (al_promql_jobs_free) of n jobs. */
size_t al_engine_promql_due(struct al_engine *e, int64_t now_ms, struct al_promql_job **jobs);
void al_promql_jobs_free(struct al_promql_job *jobs, size_t n);
/* What the evaluation of rule_id returned (ok false: it failed, and its
 * alerts keep their state). Alerting rules: each sample is an instance,
 * those missing resolve; recording rules: the samples are recorded. */
void al_engine_promql_result(struct al_engine *e, const char *rule_id,
			     const struct al_promql_sample *s, size_t n, bool ok, int64_t now_ms);

/* --- acknowledgement -------------------------------------------------- */
/* BM_ENOENT when no active instance has fingerprint fp. expires_ms 0:
 * until it resolves. */
int al_engine_ack(struct al_engine *e, const char *fp, const char *by, const char *comment,
		  int64_t expires_ms, int64_t now_ms);
int al_engine_unack(struct al_engine *e, const char *fp, int64_t now_ms);

/* --- silences (silence.c) --------------------------------------------- */
/* Add or replace (same id) a silence from its JSON form; -1 with err
 * naming the field. *id_out (at least 64 bytes) gets its id. */
int al_engine_silence_put(struct al_engine *e, const json_t *j, int64_t now_ms, char *id_out,
			  struct al_rule_err *err);
/* End a silence now. BM_ENOENT when unknown. */
int al_engine_silence_expire(struct al_engine *e, const char *id, int64_t now_ms);
json_t *al_engine_silences_json(const struct al_engine *e, int64_t now_ms);
json_t *al_engine_silence_json(const struct al_engine *e, const char *id, int64_t now_ms);

/* --- views ------------------------------------------------------------ */
/* Active alert instances (pending, firing), filtered by state ("pending",
 * "firing" or NULL) and rule id (or NULL). */
json_t *al_engine_alerts_json(struct al_engine *e, const char *state, const char *rule_id);
/* One instance, NULL when none has fp. */
json_t *al_engine_alert_json(struct al_engine *e, const char *fp);
json_t *al_engine_groups_json(const struct al_engine *e);

/* A visitor over active instances, for test-rules: labels sorted, the
 * annotations rendered. */
struct al_alert_view {
	const struct al_rule *rule;
	const char *fingerprint;
	enum bm_alert_state state;
	const struct bm_label *labels;
	uint32_t n_labels;
	const struct bm_kv *annotations;
	size_t n_annotations;
	double value;
};
void al_engine_foreach_alert(struct al_engine *e, void (*cb)(void *user,
							     const struct al_alert_view *v),
			     void *user);

/* --- state file (state.c) --------------------------------------------- */
/* API and imported rules, silences, active instances and groups. */
json_t *al_engine_state_json(const struct al_engine *e, int64_t now_ms);
/* Restore what al_engine_state_json wrote; config rules are added first.
 * Returns the number of items skipped (expired rules, instances of rules
 * that are gone...), or -1 with err when doc is not a state document. */
int al_engine_state_restore(struct al_engine *e, const json_t *doc, int64_t now_ms,
			    struct al_rule_err *err);

#endif
