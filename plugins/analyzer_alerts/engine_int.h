/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's internal structures, shared by its files: engine.c (rules,
 * the name index, series and inputs), instance.c (the state machine and
 * events), cond.c (conditions), group.c, silence.c, state.c, view.c.
 */
#ifndef BEARMON_ALERTS_ENGINE_INT_H
#define BEARMON_ALERTS_ENGINE_INT_H

#include "engine.h"
#include "hmap.h"

struct al_series;
struct al_instance;
struct al_group;

/* A rule inside the engine. */
struct al_rstate {
	struct al_rule *r;
	uint64_t id_hash;
	bool gone;               /* removed: freed at the end of the call */
	bool ever_matched;       /* some series matched since the rule was added */
	int64_t added_ms;
	int64_t next_promql_ms;
	char vname[160];         /* promql: the name its results are kept under */
};

/* A metric name some input carried, with the rules whose selector
 * accepts it (none: a negative cache entry) and its tracked series. */
struct al_name {
	uint64_t hash;
	char *name;
	struct al_rstate **rules;
	size_t n_rules, cap_rules;
	struct al_series **series;
	size_t n_series, cap_series;
};

/* Latest trend of one window. */
struct al_trend_in {
	int64_t window_ms;
	int64_t ts_ms;
	double slope;
	enum bm_trend_direction dir;
};
#define AL_MAX_TREND_WINDOWS 8

/* Analysis events about a series. */
struct al_analysis {
	double score;
	int64_t anomaly_ts;      /* 0: none */
	struct al_trend_in trend[AL_MAX_TREND_WINDOWS];
	size_t n_trend;
	int64_t fc_ts;           /* 0: no forecast */
	bool fc_has_threshold;
	double fc_threshold;
	enum bm_cross fc_cross;
	int64_t fc_time_to_threshold_ms;
	struct bm_forecast_point *fc_points;
	size_t fc_n;
};

/* A rule watching a series, and the instance when it has one. */
struct al_match {
	struct al_rstate *rs;
	struct al_instance *inst;
};

struct al_series {
	uint64_t hash;
	struct al_name *nm;
	struct bm_label *labels; /* sorted; strings in the same block */
	uint32_t n_labels;
	size_t pos;              /* index in nm->series */
	bool has_v, has_prev, stale;
	double v, prev_v;
	int64_t ts, prev_ts;     /* sample times */
	int64_t seen_ms;         /* engine time of the newest input */
	struct al_analysis *an;
	struct al_match *m;
	uint32_t n_m;
	size_t cap_m;
};

enum al_istate { AL_INACTIVE = 0, AL_PENDING, AL_FIRING };

struct al_ack {
	char *by;
	char *comment;
	int64_t at_ms;
	int64_t expires_ms; /* 0: until resolved */
};

struct al_instance {
	char fp[17];
	uint64_t fph;
	struct al_rstate *rs;
	struct al_series *series;  /* NULL while its series is unknown */
	char *sname;               /* the series' identity, kept across restarts */
	struct bm_label *slabels;
	uint32_t n_slabels;
	struct bm_label *labels;   /* the alert's labels, sorted */
	uint32_t n_labels;
	enum al_istate state;      /* what the condition and durations say */
	bool flapping;             /* held firing by flap detection */
	int64_t active_since_ms, fired_at_ms, keep_firing_since_ms;
	int64_t last_true_ms;      /* the condition last held */
	int64_t await_until_ms;    /* restored: its series may show up until then */
	double value;
	int64_t flips[AL_MAX_FLAP_THRESHOLD]; /* ring: times it started or stopped firing */
	uint32_t n_flips, flip_head;
	int64_t last_notified_ms;  /* last firing notification routed to notifiers */
	bool notified;             /* this firing was announced to notifiers */
	struct al_ack ack;
	char *silence_id;
	uint64_t silence_epoch;
	struct al_group *group;
};

struct al_group {
	char fp[17];
	uint64_t fph;
	struct al_rstate *rs;
	struct bm_label *labels;   /* group_by values, alertname, severity */
	uint32_t n_labels;
	bool dirty;                /* members changed since the last notification */
	bool notified;             /* the last group notification said firing */
	int64_t next_flush_ms;     /* 0: never flushed yet and not dirty */
	int64_t last_sent_ms;
	int64_t fired_at_ms;       /* first firing notification of this episode */
	uint32_t members;          /* instances pointing here */
	uint32_t n_firing;         /* counted at the last notification */
};

struct al_silence {
	char id[64];
	char *matchers;            /* as given, normalised to selector text */
	struct al_selector sel;
	int64_t starts_ms, ends_ms;
	char *comment;
	char *created_by;
	int64_t created_ms, updated_ms;
};

struct al_engine {
	struct al_engine_conf c;
	struct al_rstate **rules;  /* in insertion order */
	size_t n_rules, cap_rules;
	struct al_hmap rule_ids;   /* al_rstate by id */
	struct al_rstate **glob_rules; /* rules without one exact metric name */
	size_t n_glob, cap_glob;
	struct al_hmap names;      /* al_name */
	struct al_name *last_name; /* of the previous input: a batch repeats names */
	struct al_hmap series;     /* al_series */
	size_t n_series;
	struct al_hmap instances;  /* al_instance by fingerprint */
	struct al_hmap groups;     /* al_group by fingerprint */
	struct al_silence **silences;
	size_t n_silences, cap_silences;
	uint64_t silence_epoch;    /* bumped when the set of silences in force changes */
	int64_t last_tick_ms;
	bool dirty;
	struct al_engine_stats st;
	struct bm_buf scratch;     /* template rendering */
};

/* --- engine.c --------------------------------------------------------- */
uint64_t al_series_hash(const char *name, const struct bm_label *l, uint32_t n);
struct al_rstate *al_rstate_find(const struct al_engine *e, const char *id);
/* Copy name + labels into one malloc'd block: *out labels, returns the
 * block's name pointer (free that). */
char *al_labels_copy(const char *name, const struct bm_label *l, uint32_t n,
		     struct bm_label **out);

/* --- cond.c ----------------------------------------------------------- */
enum al_truth { AL_T_FALSE = 0, AL_T_TRUE, AL_T_UNKNOWN };
/* The condition of rule rs on series s (NULL: gone) at now; *value gets
 * what is compared. active: the instance is pending or firing
 * (hysteresis). */
enum al_truth al_cond_eval(const struct al_engine *e, const struct al_rstate *rs,
			   const struct al_series *s, bool active, int64_t now_ms, double *value);
/* Is the newest sample of s current at now? */
bool al_series_fresh(const struct al_engine *e, const struct al_series *s, int64_t now_ms);

/* --- instance.c ------------------------------------------------------- */
/* The instance of (rule, series identity): found, or made when now_ms is
 * not 0 (0: only find). NULL when absent or out of memory. */
struct al_instance *al_instance_get(struct al_engine *e, struct al_rstate *rs, const char *sname,
				    const struct bm_label *sl, uint32_t n, int64_t now_ms);
struct al_instance *al_instance_find(const struct al_engine *e, const char *fp);
/* Apply the condition's verdict to the state machine; emits events. */
void al_instance_step(struct al_engine *e, struct al_instance *in, enum al_truth t, double value,
		      int64_t now_ms);
/* Evaluate match m of series s (s may be NULL) and step it; creates the
 * instance when the condition holds. */
void al_match_eval(struct al_engine *e, struct al_match *m, struct al_series *s, int64_t now_ms);
/* Time-driven work on every instance (durations, acks, silences, repeats,
 * flapping, freeing). */
void al_instances_tick(struct al_engine *e, int64_t now_ms);
/* Resolve (when firing) and free every instance of rs. */
void al_instances_drop_rule(struct al_engine *e, struct al_rstate *rs, int64_t now_ms);
void al_instance_free(struct al_engine *e, struct al_instance *in);
/* Published state (flapping holds firing). */
enum al_istate al_instance_shown(const struct al_instance *in);
/* Will a notifier act on a firing event of in now (not silenced, not
 * acknowledged)? */
bool al_instance_deliverable(const struct al_instance *in, int64_t now_ms);
/* Emit an event for in in state st; route: to the rule's notifiers, else
 * to none. */
void al_instance_emit(struct al_engine *e, struct al_instance *in, enum bm_alert_state st,
		      bool route, int64_t now_ms);
/* Render the rule's annotations for labels and value into kv (at most
 * 64; the count is returned); the strings live in *blob, which the caller
 * frees. */
size_t al_render_annotations(struct al_engine *e, const struct al_rule *r,
			     const struct bm_label *l, uint32_t n, double value, struct bm_kv *kv,
			     char **blob);

/* --- silence.c -------------------------------------------------------- */
/* The silence in force now for labels, or NULL. */
const struct al_silence *al_silence_match(const struct al_engine *e, const struct bm_label *l,
					  uint32_t n, int64_t now_ms);
/* Bump the epoch when a silence started or ended since the last tick;
 * forget silences that ended a day ago. */
void al_silences_tick(struct al_engine *e, int64_t now_ms);
void al_silences_free(struct al_engine *e);
json_t *al_silence_to_json(const struct al_silence *s, int64_t now_ms);

/* --- group.c ---------------------------------------------------------- */
/* Attach in to its group (rules with group_by); NULL on ENOMEM. */
struct al_group *al_group_attach(struct al_engine *e, struct al_instance *in);
void al_group_detach(struct al_engine *e, struct al_instance *in);
/* A member of g changed what a notification would say. */
void al_group_touch(struct al_group *g, int64_t now_ms);
void al_groups_tick(struct al_engine *e, int64_t now_ms);
/* Resolve (when notified) and free the groups of rs. */
void al_groups_drop_rule(struct al_engine *e, struct al_rstate *rs, int64_t now_ms);
void al_groups_free(struct al_engine *e);
json_t *al_group_to_json(const struct al_group *g);

#endif
