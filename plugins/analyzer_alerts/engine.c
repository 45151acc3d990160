/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's data (see engine.h): rules indexed by metric name (a name
 * the inputs carry maps to the rules whose selector accepts it, so a
 * sample of a metric no rule watches costs one hash lookup), the series
 * those rules watch with their latest inputs, and the time-driven tick.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_vec.h>

#define SWEEP_EVERY_MS 10000
#define MAX_NEGATIVE_NAMES 100000 /* names no rule watches, remembered */

void al_engine_mark_dirty(struct al_engine *e)
{
	e->dirty = true;
}

bool al_engine_dirty(const struct al_engine *e)
{
	return e->dirty;
}

void al_engine_clear_dirty(struct al_engine *e)
{
	e->dirty = false;
}

bool al_engine_has_promql(const struct al_engine *e)
{
	return e->c.promql;
}

const struct al_engine_stats *al_engine_stats(struct al_engine *e)
{
	return &e->st;
}

uint64_t al_series_hash(const char *name, const struct bm_label *l, uint32_t n)
{
	uint64_t h = al_hash_str(AL_HASH_INIT, name);
	for (uint32_t i = 0; i < n; i++)
		h = al_hash_str(al_hash_str(h, l[i].name), l[i].value);
	return h;
}

char *al_labels_copy(const char *name, const struct bm_label *l, uint32_t n, struct bm_label **out)
{
	size_t bytes = n * sizeof(struct bm_label) + strlen(name) + 1;
	for (uint32_t i = 0; i < n; i++)
		bytes += strlen(l[i].name) + strlen(l[i].value) + 2;
	char *block = malloc(bytes);
	if (!block)
		return NULL;
	struct bm_label *dst = (struct bm_label *)block;
	char *p = block + n * sizeof(struct bm_label);
	char *nm = p;
	p = stpcpy(p, name) + 1;
	for (uint32_t i = 0; i < n; i++) {
		dst[i].name = p;
		p = stpcpy(p, l[i].name) + 1;
		dst[i].value = p;
		p = stpcpy(p, l[i].value) + 1;
	}
	*out = dst;
	return nm;
}

/* --- names ----------------------------------------------------------- */

static bool name_eq(const void *item, const void *key)
{
	return strcmp(((const struct al_name *)item)->name, key) == 0;
}

static struct al_name *name_find(const struct al_engine *e, const char *name)
{
	return al_hmap_get(&e->names, al_hash_str(AL_HASH_INIT, name), name_eq, name);
}

static bool rule_watches_name(const struct al_rstate *rs, const char *name)
{
	return !rs->gone && rs->r->enabled && al_selector_match_name(&rs->r->sel, name);
}

static int name_add_rule(struct al_name *nm, struct al_rstate *rs)
{
	if (BM_VEC_RESERVE(nm->rules, nm->cap_rules, nm->n_rules + 1))
		return -1;
	nm->rules[nm->n_rules++] = rs;
	return 0;
}

/* The entry of name; made when absent, with the glob rules that accept
 * it (negative entries only up to MAX_NEGATIVE_NAMES). */
static struct al_name *name_get(struct al_engine *e, const char *name, bool for_rule)
{
	struct al_name *nm = name_find(e, name);
	if (nm)
		return nm;
	if (!for_rule && e->names.n >= MAX_NEGATIVE_NAMES + e->n_rules)
		return NULL;
	nm = calloc(1, sizeof(*nm));
	if (!nm || !(nm->name = strdup(name)))
		goto out_free;
	nm->hash = al_hash_str(AL_HASH_INIT, name);
	for (size_t i = 0; i < e->n_glob; i++)
		if (rule_watches_name(e->glob_rules[i], name) &&
		    name_add_rule(nm, e->glob_rules[i]))
			goto out_free;
	if (al_hmap_put(&e->names, nm->hash, nm))
		goto out_free;
	return nm;
out_free:
	if (nm) {
		free(nm->rules);
		free(nm->name);
	}
	free(nm);
	return NULL;
}

static void name_free(struct al_name *nm)
{
	free(nm->rules);
	free(nm->series);
	free(nm->name);
	free(nm);
}

/* --- series ---------------------------------------------------------- */

struct series_key {
	const char *name;
	const struct bm_label *l;
	uint32_t n;
};

static bool series_eq(const void *item, const void *key)
{
	const struct al_series *s = item;
	const struct series_key *k = key;
	if (s->n_labels != k->n || strcmp(s->nm->name, k->name) != 0)
		return false;
	for (uint32_t i = 0; i < k->n; i++)
		if (strcmp(s->labels[i].name, k->l[i].name) != 0 ||
		    strcmp(s->labels[i].value, k->l[i].value) != 0)
			return false;
	return true;
}

/* Bind the match of rs on s to the instance that already exists for them
 * (restored from the state file, or kept through a rule change). */
static int series_add_match(struct al_engine *e, struct al_series *s, struct al_rstate *rs)
{
	if (BM_VEC_RESERVE(s->m, s->cap_m, s->n_m + 1))
		return -1;
	struct al_match *m = &s->m[s->n_m++];
	*m = (struct al_match){rs, NULL};
	rs->ever_matched = true;
	struct al_instance *in = al_instance_get(e, rs, s->nm->name, s->labels, s->n_labels, 0);
	if (in) {
		m->inst = in;
		in->series = s;
		in->await_until_ms = 0;
	}
	return 0;
}

static void series_match_rules(struct al_engine *e, struct al_series *s)
{
	for (size_t i = 0; i < s->nm->n_rules; i++) {
		struct al_rstate *rs = s->nm->rules[i];
		if (al_selector_match_labels(&rs->r->sel, s->labels, s->n_labels))
			series_add_match(e, s, rs);
	}
}

static struct al_series *series_new(struct al_engine *e, struct al_name *nm,
				    const struct bm_label *l, uint32_t n, uint64_t hash)
{
	if (e->n_series >= e->c.max_series) {
		e->st.series_dropped++;
		return NULL;
	}
	struct al_series *s = calloc(1, sizeof(*s));
	if (!s || BM_VEC_RESERVE(nm->series, nm->cap_series, nm->n_series + 1))
		goto out_free;
	s->hash = hash;
	s->nm = nm;
	s->n_labels = n;
	char *block = al_labels_copy("", l, n, &s->labels);
	if (!block)
		goto out_free;
	if (al_hmap_put(&e->series, hash, s)) {
		free(s->labels);
		goto out_free;
	}
	s->pos = nm->n_series;
	nm->series[nm->n_series++] = s;
	e->n_series++;
	series_match_rules(e, s);
	return s;
out_free:
	free(s);
	return NULL;
}

static struct al_series *series_get(struct al_engine *e, struct al_name *nm,
				    const struct bm_label *l, uint32_t n)
{
	struct series_key k = {nm->name, l, n};
	uint64_t h = al_series_hash(nm->name, l, n);
	struct al_series *s = al_hmap_get(&e->series, h, series_eq, &k);
	return s ? s : series_new(e, nm, l, n, h);
}

static void series_free(struct al_engine *e, struct al_series *s)
{
	struct al_name *nm = s->nm;
	nm->series[s->pos] = nm->series[--nm->n_series];
	nm->series[s->pos]->pos = s->pos;
	al_hmap_del(&e->series, s->hash, s);
	e->n_series--;
	for (uint32_t i = 0; i < s->n_m; i++)
		if (s->m[i].inst)
			s->m[i].inst->series = NULL;
	if (s->an)
		free(s->an->fc_points);
	free(s->an);
	free(s->m);
	free(s->labels);
	free(s);
}

/* Drop the matches of rs from every series of nm. */
static void name_unmatch(struct al_name *nm, const struct al_rstate *rs)
{
	for (size_t i = 0; i < nm->n_series; i++) {
		struct al_series *s = nm->series[i];
		uint32_t k = 0;
		for (uint32_t j = 0; j < s->n_m; j++) {
			if (s->m[j].rs != rs)
				s->m[k++] = s->m[j];
			else if (s->m[j].inst)
				s->m[j].inst->series = NULL;
		}
		s->n_m = k;
	}
}

/* --- rules ----------------------------------------------------------- */

static bool rstate_eq(const void *item, const void *key)
{
	return strcmp(((const struct al_rstate *)item)->r->id, key) == 0;
}

struct al_rstate *al_rstate_find(const struct al_engine *e, const char *id)
{
	return al_hmap_get(&e->rule_ids, al_hash_str(AL_HASH_INIT, id), rstate_eq, id);
}

/* Add rs to nm and match it against nm's series. */
static int index_in_name(struct al_engine *e, struct al_name *nm, struct al_rstate *rs)
{
	if (name_add_rule(nm, rs))
		return -1;
	for (size_t i = 0; i < nm->n_series; i++)
		if (al_selector_match_labels(&rs->r->sel, nm->series[i]->labels,
					     nm->series[i]->n_labels))
			series_add_match(e, nm->series[i], rs);
	return 0;
}

static const char *rule_index_name(const struct al_rstate *rs)
{
	return rs->vname[0] ? rs->vname : al_selector_exact_name(&rs->r->sel);
}

static int rule_index(struct al_engine *e, struct al_rstate *rs)
{
	const char *exact = rule_index_name(rs);
	if (!rs->r->enabled || rs->r->cond == AL_COND_RECORD)
		return 0;
	if (exact) {
		struct al_name *nm = name_get(e, exact, true);
		return nm ? index_in_name(e, nm, rs) : -1;
	}
	if (BM_VEC_RESERVE(e->glob_rules, e->cap_glob, e->n_glob + 1))
		return -1;
	e->glob_rules[e->n_glob++] = rs;
	for (size_t i = 0; i < e->names.cap; i++) {
		struct al_name *nm = al_hmap_live(&e->names, i) ? e->names.slots[i].item : NULL;
		if (nm && rule_watches_name(rs, nm->name) && index_in_name(e, nm, rs))
			return -1;
	}
	return 0;
}

static void name_drop_rule(struct al_name *nm, const struct al_rstate *rs)
{
	size_t k = 0;
	for (size_t i = 0; i < nm->n_rules; i++)
		if (nm->rules[i] != rs)
			nm->rules[k++] = nm->rules[i];
	if (k != nm->n_rules)
		name_unmatch(nm, rs);
	nm->n_rules = k;
}

static void rule_unindex(struct al_engine *e, struct al_rstate *rs)
{
	size_t k = 0;
	for (size_t i = 0; i < e->n_glob; i++)
		if (e->glob_rules[i] != rs)
			e->glob_rules[k++] = e->glob_rules[i];
	e->n_glob = k;
	for (size_t i = 0; i < e->names.cap; i++)
		if (al_hmap_live(&e->names, i))
			name_drop_rule(e->names.slots[i].item, rs);
}

static void set_vname(struct al_rstate *rs)
{
	rs->vname[0] = '\0';
	if (rs->r->cond == AL_COND_PROMQL)
		snprintf(rs->vname, sizeof(rs->vname), "\x01promql:%s", rs->r->id);
}

int al_engine_rule_add(struct al_engine *e, struct al_rule *r, int64_t now_ms,
		       struct al_rule_err *err)
{
	if (al_rstate_find(e, r->id)) {
		snprintf(err->field, sizeof(err->field), "id");
		snprintf(err->msg, sizeof(err->msg), "a rule with id \"%s\" exists", r->id);
		return -1;
	}
	struct al_rstate *rs = calloc(1, sizeof(*rs));
	if (!rs || BM_VEC_RESERVE(e->rules, e->cap_rules, e->n_rules + 1))
		goto out_nomem;
	rs->r = r;
	rs->added_ms = now_ms;
	rs->id_hash = al_hash_str(AL_HASH_INIT, r->id);
	set_vname(rs);
	if (al_hmap_put(&e->rule_ids, rs->id_hash, rs))
		goto out_nomem;
	e->rules[e->n_rules++] = rs;
	if (rule_index(e, rs)) {
		e->n_rules--;
		rule_unindex(e, rs);
		al_hmap_del(&e->rule_ids, rs->id_hash, rs);
		goto out_nomem;
	}
	e->st.rules = (double)e->n_rules;
	al_engine_mark_dirty(e);
	return 0;
out_nomem:
	free(rs);
	snprintf(err->field, sizeof(err->field), "%s", "");
	snprintf(err->msg, sizeof(err->msg), "out of memory");
	return -1;
}

int al_engine_rule_replace(struct al_engine *e, struct al_rule *r, int64_t now_ms,
			   struct al_rule_err *err)
{
	struct al_rstate *rs = al_rstate_find(e, r->id);
	if (!rs) {
		snprintf(err->field, sizeof(err->field), "id");
		snprintf(err->msg, sizeof(err->msg), "no rule with id \"%s\"", r->id);
		return -1;
	}
	rule_unindex(e, rs);
	r->created_ms = rs->r->created_ms;
	r->updated_ms = now_ms;
	al_rule_free(rs->r);
	rs->r = r;
	set_vname(rs);
	rs->ever_matched = false;
	rs->added_ms = now_ms;
	rs->next_promql_ms = 0;
	al_instances_drop_rule(e, rs, now_ms); /* labels, groups and thresholds changed */
	rule_index(e, rs);
	al_engine_mark_dirty(e);
	return 0;
}

static void rstate_free(struct al_rstate *rs)
{
	al_rule_free(rs->r);
	free(rs);
}

int al_engine_rule_remove(struct al_engine *e, const char *id, int64_t now_ms)
{
	struct al_rstate *rs = al_rstate_find(e, id);
	if (!rs)
		return BM_ENOENT;
	rule_unindex(e, rs);
	al_instances_drop_rule(e, rs, now_ms);
	al_hmap_del(&e->rule_ids, rs->id_hash, rs);
	size_t k = 0;
	for (size_t i = 0; i < e->n_rules; i++)
		if (e->rules[i] != rs)
			e->rules[k++] = e->rules[i];
	e->n_rules = k;
	e->st.rules = (double)k;
	rstate_free(rs);
	al_engine_mark_dirty(e);
	return 0;
}

const struct al_rule *al_engine_rule(const struct al_engine *e, const char *id)
{
	const struct al_rstate *rs = al_rstate_find(e, id);
	return rs ? rs->r : NULL;
}

size_t al_engine_rule_count(const struct al_engine *e)
{
	return e->n_rules;
}

const struct al_rule *al_engine_rule_at(const struct al_engine *e, size_t i)
{
	return i < e->n_rules ? e->rules[i]->r : NULL;
}

/* --- inputs ---------------------------------------------------------- */

/* The series name{labels} when a rule watches name; NULL otherwise. */
static struct al_series *watched(struct al_engine *e, const char *name, const struct bm_label *l,
				 uint32_t n)
{
	struct al_name *nm = e->last_name;
	if (!nm || strcmp(nm->name, name) != 0)
		nm = e->last_name = name_get(e, name, false);
	if (!nm || !nm->n_rules)
		return NULL;
	return series_get(e, nm, l, n);
}

/* Evaluate the matches of s whose condition reads input kind `which`. */
static void eval_matches(struct al_engine *e, struct al_series *s, bool (*which)(enum al_cond),
			 int64_t now_ms)
{
	for (uint32_t i = 0; i < s->n_m; i++)
		if (which(s->m[i].rs->r->cond))
			al_match_eval(e, &s->m[i], s, now_ms);
}

static bool reads_samples(enum al_cond c)
{
	return al_cond_uses_samples(c) || c == AL_COND_PROMQL;
}

void al_engine_sample(struct al_engine *e, const char *name, const struct bm_label *labels,
		      uint32_t n, int64_t ts_ms, double v, int64_t now_ms)
{
	struct al_series *s = watched(e, name, labels, n);
	if (!s || (s->has_v && ts_ms < s->ts))
		return;
	e->st.samples++;
	s->seen_ms = now_ms;
	if (bm_is_stale_nan(v)) {
		s->stale = true;
	} else if (!isnan(v)) {
		s->prev_v = s->v;
		s->prev_ts = s->ts;
		s->has_prev = s->has_v && ts_ms > s->ts;
		s->v = v;
		s->ts = ts_ms;
		s->has_v = true;
		s->stale = false;
	}
	eval_matches(e, s, reads_samples, now_ms);
}

static struct al_analysis *analysis_of(struct al_series *s)
{
	if (!s->an)
		s->an = calloc(1, sizeof(*s->an));
	return s->an;
}

static struct al_series *event_series(struct al_engine *e, const struct bm_series_ref *ref,
				      int64_t now_ms)
{
	struct al_series *s = watched(e, ref->name, ref->labels, ref->n_labels);
	if (s && analysis_of(s)) {
		e->st.events_in++;
		s->seen_ms = now_ms;
		return s;
	}
	return NULL;
}

static bool reads_anomaly(enum al_cond c)
{
	return c == AL_COND_ANOMALY;
}

void al_engine_anomaly(struct al_engine *e, const struct bm_anomaly_event *a, int64_t now_ms)
{
	struct al_series *s = event_series(e, &a->series, now_ms);
	if (!s || a->ts_ms < s->an->anomaly_ts)
		return;
	s->an->score = a->score;
	s->an->anomaly_ts = a->ts_ms;
	eval_matches(e, s, reads_anomaly, now_ms);
}

static bool reads_trend(enum al_cond c)
{
	return c == AL_COND_TREND_INC || c == AL_COND_TREND_DEC;
}

void al_engine_trend(struct al_engine *e, const struct bm_trend_event *t, int64_t now_ms)
{
	struct al_series *s = event_series(e, &t->series, now_ms);
	if (!s)
		return;
	struct al_analysis *an = s->an;
	size_t i = 0, oldest = 0;
	for (; i < an->n_trend && an->trend[i].window_ms != t->window_ms; i++)
		if (an->trend[i].ts_ms < an->trend[oldest].ts_ms)
			oldest = i;
	if (i == an->n_trend)
		i = an->n_trend < AL_MAX_TREND_WINDOWS ? an->n_trend++ : oldest;
	if (an->trend[i].window_ms == t->window_ms && t->ts_ms < an->trend[i].ts_ms)
		return;
	an->trend[i] = (struct al_trend_in){t->window_ms, t->ts_ms, t->slope_per_s, t->direction};
	eval_matches(e, s, reads_trend, now_ms);
}

static bool reads_forecast(enum al_cond c)
{
	return c == AL_COND_FORECAST;
}

void al_engine_forecast(struct al_engine *e, const struct bm_forecast_event *f, int64_t now_ms)
{
	struct al_series *s = event_series(e, &f->series, now_ms);
	if (!s || f->ts_ms < s->an->fc_ts)
		return;
	struct al_analysis *an = s->an;
	struct bm_forecast_point *p = NULL;
	if (f->n_points && !(p = malloc(f->n_points * sizeof(*p))))
		return;
	if (p)
		memcpy(p, f->points, f->n_points * sizeof(*p));
	free(an->fc_points);
	an->fc_points = p;
	an->fc_n = f->n_points;
	an->fc_ts = f->ts_ms;
	an->fc_has_threshold = f->has_threshold;
	an->fc_threshold = f->threshold;
	an->fc_cross = f->cross;
	an->fc_time_to_threshold_ms = f->time_to_threshold_ms;
	eval_matches(e, s, reads_forecast, now_ms);
}

/* --- the tick -------------------------------------------------------- */

static void expire_rules(struct al_engine *e, int64_t now_ms)
{
	for (size_t i = 0; i < e->n_rules;) {
		const struct al_rule *r = e->rules[i]->r;
		if (r->expires_ms && r->expires_ms <= now_ms)
			al_engine_rule_remove(e, r->id, now_ms);
		else
			i++;
	}
}

/* Series of nm that rs matches, evaluated (missing data needs time). */
static void eval_rule_in_name(struct al_engine *e, struct al_name *nm, const struct al_rstate *rs,
			      int64_t now_ms)
{
	for (size_t i = 0; i < nm->n_series; i++) {
		struct al_series *s = nm->series[i];
		for (uint32_t j = 0; j < s->n_m; j++)
			if (s->m[j].rs == rs)
				al_match_eval(e, &s->m[j], s, now_ms);
	}
}

/* A selector that never matched anything for horizon: one instance with
 * the selector's = labels, like PromQL's absent(). */
static void absent_everywhere(struct al_engine *e, struct al_rstate *rs, int64_t now_ms)
{
	const struct al_selector *sel = &rs->r->sel;
	struct bm_label l[16];
	uint32_t n = 0;
	for (size_t i = 0; i < sel->n && n < 16; i++)
		if (sel->m[i].op == AL_MATCH_EQ && strcmp(sel->m[i].name, "__name__") != 0)
			l[n++] = (struct bm_label){sel->m[i].name, sel->m[i].value};
	bm_labels_sort(l, n);
	/* a name no series has, so it never shares a fingerprint with one */
	bool missing = !rs->ever_matched && now_ms - rs->added_ms >= rs->r->horizon_ms;
	struct al_instance *in = al_instance_get(e, rs, "\001absent", l, n, missing ? now_ms : 0);
	if (in)
		al_instance_step(e, in, missing ? AL_T_TRUE : AL_T_FALSE,
				 (double)(now_ms - rs->added_ms) / 1000.0, now_ms);
}

static void eval_absent(struct al_engine *e, struct al_rstate *rs, int64_t now_ms)
{
	const char *exact = al_selector_exact_name(&rs->r->sel);
	struct al_name *nm = exact ? name_find(e, exact) : NULL;
	if (nm) {
		eval_rule_in_name(e, nm, rs, now_ms);
	} else if (!exact) {
		for (size_t i = 0; i < e->names.cap; i++)
			if (al_hmap_live(&e->names, i))
				eval_rule_in_name(e, e->names.slots[i].item, rs, now_ms);
	}
	absent_everywhere(e, rs, now_ms);
}

/* Results not returned this round are gone: their instances resolve. */
static void promql_end_round(struct al_engine *e, struct al_rstate *rs, int64_t now_ms)
{
	struct al_name *nm = name_find(e, rs->vname);
	for (size_t i = 0; nm && i < nm->n_series; i++) {
		struct al_series *s = nm->series[i];
		if (s->ts < now_ms && !s->stale) {
			s->stale = true;
			eval_rule_in_name(e, nm, rs, now_ms);
		}
	}
}

/* A recording rule's sample: its labels and the rule's, sorted. */
static void record_sample(struct al_engine *e, const struct al_rule *r,
			  const struct al_promql_sample *s, int64_t now_ms)
{
	struct bm_label l[128];
	uint32_t k = 0;
	for (uint32_t i = 0; i < s->n_labels && k < 128; i++) {
		bool overridden = false;
		for (size_t j = 0; j < r->n_labels && !overridden; j++)
			overridden = strcmp(r->labels[j].key, s->labels[i].name) == 0;
		if (!overridden)
			l[k++] = s->labels[i];
	}
	for (size_t i = 0; i < r->n_labels && k < 128; i++)
		l[k++] = (struct bm_label){r->labels[i].key, r->labels[i].value};
	bm_labels_sort(l, k);
	if (e->c.record)
		e->c.record(e->c.user, r->record, l, k, now_ms, s->value);
}

size_t al_engine_promql_due(struct al_engine *e, int64_t now_ms, struct al_promql_job **jobs)
{
	size_t n = 0;
	*jobs = NULL;
	if (!e->c.promql)
		return 0;
	for (size_t i = 0; i < e->n_rules; i++) {
		struct al_rstate *rs = e->rules[i];
		const struct al_rule *r = rs->r;
		if (!r->enabled || (r->cond != AL_COND_PROMQL && r->cond != AL_COND_RECORD) ||
		    now_ms < rs->next_promql_ms)
			continue;
		struct al_promql_job *v = realloc(*jobs, (n + 1) * sizeof(*v));
		if (!v)
			break;
		*jobs = v;
		v[n].rule_id = strdup(r->id);
		v[n].expr = strdup(r->expr);
		if (!v[n].rule_id || !v[n].expr) {
			free(v[n].rule_id);
			free(v[n].expr);
			break;
		}
		n++;
		rs->next_promql_ms = now_ms + e->c.promql_interval_ms;
	}
	return n;
}

void al_promql_jobs_free(struct al_promql_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(jobs[i].rule_id);
		free(jobs[i].expr);
	}
	free(jobs);
}

void al_engine_promql_result(struct al_engine *e, const char *rule_id,
			     const struct al_promql_sample *s, size_t n, bool ok, int64_t now_ms)
{
	struct al_rstate *rs = al_rstate_find(e, rule_id);
	if (!rs)
		return; /* removed while it was evaluated */
	if (!ok) {
		e->st.promql_errors++;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (rs->r->cond == AL_COND_RECORD)
			record_sample(e, rs->r, &s[i], now_ms);
		else
			al_engine_sample(e, rs->vname, s[i].labels, s[i].n_labels, now_ms,
					 s[i].value, now_ms);
	}
	if (rs->r->cond == AL_COND_PROMQL)
		promql_end_round(e, rs, now_ms);
}

static void eval_timed_rules(struct al_engine *e, int64_t now_ms)
{
	for (size_t i = 0; i < e->n_rules; i++) {
		struct al_rstate *rs = e->rules[i];
		if (!rs->r->enabled)
			continue;
		if (rs->r->cond == AL_COND_ABSENT)
			eval_absent(e, rs, now_ms);
	}
}

/* Can s be forgotten: it stopped (stale marker or lookback without a
 * sample) and no missing-data rule still waits to notice it. */
static bool series_done(const struct al_engine *e, const struct al_series *s, int64_t now_ms)
{
	if (now_ms - s->seen_ms < e->c.lookback_ms && !(s->stale && !s->an))
		return false;
	if (s->an && now_ms - s->seen_ms < e->c.analysis_ttl_ms)
		return false;
	for (uint32_t i = 0; i < s->n_m; i++)
		if (s->m[i].rs->r->cond == AL_COND_ABSENT && !s->m[i].inst)
			return false;
	return true;
}

static void sweep_series(struct al_engine *e, int64_t now_ms)
{
	for (size_t i = 0; i < e->series.cap; i++) {
		if (!al_hmap_live(&e->series, i))
			continue;
		struct al_series *s = e->series.slots[i].item;
		if (series_done(e, s, now_ms))
			series_free(e, s); /* tombstone: the loop goes on safely */
	}
}

void al_engine_tick(struct al_engine *e, int64_t now_ms)
{
	expire_rules(e, now_ms);
	eval_timed_rules(e, now_ms);
	al_silences_tick(e, now_ms);
	al_instances_tick(e, now_ms);
	al_groups_tick(e, now_ms);
	if (now_ms / SWEEP_EVERY_MS != e->last_tick_ms / SWEEP_EVERY_MS)
		sweep_series(e, now_ms);
	e->last_tick_ms = now_ms;
	e->st.series = (double)e->n_series;
}

/* --- lifecycle -------------------------------------------------------- */

struct al_engine *al_engine_new(const struct al_engine_conf *c)
{
	struct al_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->c = *c;
	if (!e->c.max_series)
		e->c.max_series = 1000000;
	return e;
}

void al_engine_free(struct al_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->instances.cap; i++)
		if (al_hmap_live(&e->instances, i))
			al_instance_free(e, e->instances.slots[i].item);
	al_groups_free(e);
	for (size_t i = 0; i < e->series.cap; i++)
		if (al_hmap_live(&e->series, i))
			series_free(e, e->series.slots[i].item);
	for (size_t i = 0; i < e->names.cap; i++)
		if (al_hmap_live(&e->names, i))
			name_free(e->names.slots[i].item);
	for (size_t i = 0; i < e->n_rules; i++)
		rstate_free(e->rules[i]);
	al_silences_free(e);
	al_hmap_free(&e->instances);
	al_hmap_free(&e->series);
	al_hmap_free(&e->names);
	al_hmap_free(&e->rule_ids);
	free(e->rules);
	free(e->glob_rules);
	bm_buf_free(&e->scratch);
	free(e);
}
