/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Alert instances: one per rule and series, identified by a fingerprint
 * (FNV-1a of the rule id and the series' name and labels, in hex). The
 * condition drives a natural state (inactive, pending, firing) with `for`
 * and keep_firing_for; flap detection may hold it firing; what is shown
 * decides the events: pending, firing (first, repeats, status changes)
 * and resolved, routed to the rule's notifiers or to none (grouped rules,
 * cooldown, silenced or acknowledged alerts, pending that never fired).
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

static bool inst_eq(const void *item, const void *key)
{
	return strcmp(((const struct al_instance *)item)->fp, key) == 0;
}

struct al_instance *al_instance_find(const struct al_engine *e, const char *fp)
{
	char *end;
	uint64_t h = strtoull(fp, &end, 16);
	if (strlen(fp) != 16 || *end)
		return NULL;
	return al_hmap_get(&e->instances, h, inst_eq, fp);
}

static uint64_t fingerprint(const char *rule_id, const char *sname, const struct bm_label *l,
			    uint32_t n)
{
	uint64_t h = al_hash_str(al_hash_str(AL_HASH_INIT, rule_id), sname);
	for (uint32_t i = 0; i < n; i++)
		h = al_hash_str(al_hash_str(h, l[i].name), l[i].value);
	return h;
}

enum al_istate al_instance_shown(const struct al_instance *in)
{
	return in->flapping ? AL_FIRING : in->state;
}

static bool ack_valid(const struct al_ack *a, int64_t now_ms)
{
	return a->by && (!a->expires_ms || a->expires_ms > now_ms);
}

bool al_instance_deliverable(const struct al_instance *in, int64_t now_ms)
{
	return !in->silence_id && !ack_valid(&in->ack, now_ms);
}

static bool grouped(const struct al_instance *in)
{
	return in->rs->r->n_group_by > 0;
}

/* --- labels and annotations ------------------------------------------ */

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct bm_label *)a)->name, ((const struct bm_label *)b)->name);
}

static bool rule_owned_label(const char *name)
{
	return strcmp(name, "alertname") == 0 || strcmp(name, "severity") == 0;
}

/* Labels of the alert: the series' labels, the rule's (templated with the
 * series' labels; they win on a clash), alertname and severity. */
static int build_labels(struct al_engine *e, const struct al_rule *r, const struct bm_label *sl,
			uint32_t n, struct al_instance *in)
{
	size_t k = 0;
	struct bm_label *l = calloc(n + r->n_labels + 2, sizeof(*l));
	size_t *off = calloc(r->n_labels + 1, sizeof(*off));
	struct al_tmpl_data d = {NAN, r->threshold, sl, n};
	int rc = l && off ? 0 : -1;
	bm_buf_reset(&e->scratch);
	for (size_t i = 0; !rc && i < r->n_labels; i++) {
		off[i] = e->scratch.len;
		rc = al_template_render(r->labels[i].value, &d, &e->scratch);
		rc = rc ? rc : bm_buf_append(&e->scratch, "", 1);
	}
	for (uint32_t i = 0; !rc && i < n; i++)
		if (!rule_owned_label(sl[i].name))
			l[k++] = sl[i];
	for (size_t i = 0; !rc && i < r->n_labels; i++) {
		size_t j = 0;
		while (j < k && strcmp(l[j].name, r->labels[i].key) != 0)
			j++;
		l[j] = (struct bm_label){r->labels[i].key, e->scratch.data + off[i]};
		k += j == k;
	}
	if (!rc) {
		l[k++] = (struct bm_label){"alertname", r->name};
		l[k++] = (struct bm_label){"severity", al_severity_names[r->severity]};
		qsort(l, k, sizeof(*l), cmp_label);
	}
	free(in->labels);
	in->labels = NULL;
	if (!rc && !al_labels_copy("", l, (uint32_t)k, &in->labels))
		rc = -1;
	in->n_labels = rc ? 0 : (uint32_t)k;
	free(l);
	free(off);
	return rc;
}

size_t al_render_annotations(struct al_engine *e, const struct al_rule *r,
			     const struct bm_label *l, uint32_t n, double value, struct bm_kv *kv,
			     char **blob)
{
	struct al_tmpl_data d = {value, r->threshold, l, n};
	size_t off[64], k = 0;
	bm_buf_reset(&e->scratch);
	for (size_t i = 0; i < r->n_annotations && k < 64; i++) {
		off[k] = e->scratch.len;
		if (al_template_render(r->annotations[i].value, &d, &e->scratch) ||
		    bm_buf_append(&e->scratch, "", 1))
			break;
		kv[k].key = r->annotations[i].key;
		k++;
	}
	*blob = e->scratch.len ? malloc(e->scratch.len) : NULL;
	if (!*blob)
		return 0;
	memcpy(*blob, e->scratch.data, e->scratch.len);
	for (size_t i = 0; i < k; i++)
		kv[i].value = *blob + off[i];
	return k;
}

/* --- events ----------------------------------------------------------- */

void al_instance_emit(struct al_engine *e, struct al_instance *in, enum bm_alert_state st,
		      bool route, int64_t now_ms)
{
	const struct al_rule *r = in->rs->r;
	static const char *const none[] = {AL_ROUTE_NONE};
	struct bm_kv kv[64];
	char *blob = NULL, url[512];
	size_t n_kv = al_render_annotations(e, r, in->labels, in->n_labels, in->value, kv, &blob);
	snprintf(url, sizeof(url), "%s%s", e->c.generator_url ? e->c.generator_url : "", r->id);
	struct bm_alert_event ev = {
		.ts_ms = now_ms, .rule_id = r->id, .rule_name = r->name, .fingerprint = in->fp,
		.state = st, .severity = r->severity, .labels = in->labels,
		.n_labels = in->n_labels, .annotations = kv, .n_annotations = n_kv,
		.value = in->value, .threshold = r->threshold,
		.active_since_ms = in->active_since_ms, .fired_at_ms = in->fired_at_ms,
		.resolved_at_ms = st == BM_ALERT_RESOLVED ? now_ms : 0,
		.keep_firing_since_ms = in->keep_firing_since_ms, .flapping = in->flapping,
		.silenced = in->silence_id != NULL, .silence_id = in->silence_id,
		.generator_url = url,
		.notifiers = route ? (const char *const *)r->notifiers : none,
		.n_notifiers = route ? r->n_notifiers : 1,
		.ack = {in->ack.by, in->ack.at_ms, in->ack.expires_ms, in->ack.comment}};
	e->st.alerts_emitted++;
	if (e->c.emit)
		e->c.emit(e->c.user, &ev);
	free(blob);
}

/* A firing event, routed when a notifier would act on it and the
 * cooldown since the last notification has passed. */
static void notify_firing(struct al_engine *e, struct al_instance *in, int64_t now_ms)
{
	bool route =
	    !grouped(in) && al_instance_deliverable(in, now_ms) &&
	    (!in->last_notified_ms || now_ms - in->last_notified_ms >= in->rs->r->cooldown_ms);
	al_instance_emit(e, in, BM_ALERT_FIRING, route, now_ms);
	if (route) {
		in->last_notified_ms = now_ms;
		in->notified = true;
	}
	if (in->group)
		al_group_touch(in->group, now_ms);
}

static void announce_resolved(struct al_engine *e, struct al_instance *in, int64_t now_ms)
{
	al_instance_emit(e, in, BM_ALERT_RESOLVED, in->notified && !grouped(in), now_ms);
	in->notified = false;
	free(in->ack.by);
	free(in->ack.comment);
	memset(&in->ack, 0, sizeof(in->ack));
	if (in->group)
		al_group_touch(in->group, now_ms);
}

/* Events for a change of the shown state (or of flapping). */
static void announce(struct al_engine *e, struct al_instance *in, enum al_istate was,
		     bool was_flapping, int64_t now_ms)
{
	enum al_istate now = al_instance_shown(in);
	if (was == AL_FIRING && now != AL_FIRING)
		announce_resolved(e, in, now_ms);
	else if (was == AL_PENDING && now == AL_INACTIVE)
		al_instance_emit(e, in, BM_ALERT_RESOLVED, false, now_ms);
	if (now == AL_FIRING && (was != AL_FIRING || was_flapping != in->flapping))
		notify_firing(e, in, now_ms);
	else if (now == AL_PENDING && was != AL_PENDING)
		al_instance_emit(e, in, BM_ALERT_PENDING, false, now_ms);
	if (now != was || was_flapping != in->flapping)
		al_engine_mark_dirty(e);
}

/* --- flap detection --------------------------------------------------- */

static uint32_t flips_within(const struct al_instance *in, int64_t window_ms, int64_t now_ms)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < in->n_flips; i++)
		n += now_ms - in->flips[i] < window_ms;
	return n;
}

/* Record a start or end of firing; flapping starts at flap_threshold
 * within flap_window. */
static void flip(struct al_instance *in, int64_t now_ms)
{
	const struct al_rule *r = in->rs->r;
	if (!r->flap_threshold)
		return;
	in->flips[in->flip_head] = now_ms;
	in->flip_head = (in->flip_head + 1) % (uint32_t)r->flap_threshold;
	if (in->n_flips < (uint32_t)r->flap_threshold)
		in->n_flips++;
	if (flips_within(in, r->flap_window_ms, now_ms) >= (uint32_t)r->flap_threshold)
		in->flapping = true;
}

/* Flapping ends once the changes within the window fall to half the
 * threshold (hysteresis, as Nagios does). */
static bool flapping_over(const struct al_instance *in, int64_t now_ms)
{
	const struct al_rule *r = in->rs->r;
	return flips_within(in, r->flap_window_ms, now_ms) * 2 < (uint32_t)r->flap_threshold;
}

/* --- the state machine ------------------------------------------------ */

static void natural_step(struct al_instance *in, enum al_truth t, int64_t now_ms)
{
	const struct al_rule *r = in->rs->r;
	if (t == AL_T_TRUE) {
		in->keep_firing_since_ms = 0;
		if (in->state == AL_INACTIVE) {
			in->state = AL_PENDING;
			in->active_since_ms = now_ms;
			in->fired_at_ms = 0;
		}
		if (in->state == AL_PENDING && now_ms - in->active_since_ms >= r->for_ms) {
			in->state = AL_FIRING;
			in->fired_at_ms = now_ms;
			flip(in, now_ms);
		}
		return;
	}
	if (in->state == AL_PENDING) {
		in->state = AL_INACTIVE;
	} else if (in->state == AL_FIRING) {
		if (!in->keep_firing_since_ms)
			in->keep_firing_since_ms = now_ms;
		if (now_ms - in->keep_firing_since_ms < r->keep_firing_for_ms)
			return;
		in->state = AL_INACTIVE;
		in->keep_firing_since_ms = 0;
		flip(in, now_ms);
	}
}

void al_instance_step(struct al_engine *e, struct al_instance *in, enum al_truth t, double value,
		      int64_t now_ms)
{
	enum al_istate was = al_instance_shown(in);
	bool was_flapping = in->flapping;
	if (!isnan(value))
		in->value = value;
	if (t == AL_T_TRUE)
		in->last_true_ms = now_ms;
	natural_step(in, t, now_ms);
	announce(e, in, was, was_flapping, now_ms);
}

void al_match_eval(struct al_engine *e, struct al_match *m, struct al_series *s, int64_t now_ms)
{
	double v;
	bool active = m->inst && m->inst->state != AL_INACTIVE;
	enum al_truth t = al_cond_eval(e, m->rs, s, active, now_ms, &v);
	if (!m->inst) {
		if (t != AL_T_TRUE)
			return;
		m->inst = al_instance_get(e, m->rs, s->nm->name, s->labels, s->n_labels, now_ms);
		if (!m->inst)
			return;
		m->inst->series = s;
	}
	al_instance_step(e, m->inst, t, v, now_ms);
}

/* --- making and freeing ----------------------------------------------- */

static void compute_silence(struct al_engine *e, struct al_instance *in, int64_t now_ms)
{
	const struct al_silence *s = al_silence_match(e, in->labels, in->n_labels, now_ms);
	free(in->silence_id);
	in->silence_id = s ? strdup(s->id) : NULL;
	in->silence_epoch = e->silence_epoch;
}

/* Relabel, regroup and resilence in (its rule changed or it was made). */
static int instance_setup(struct al_engine *e, struct al_instance *in, int64_t now_ms)
{
	if (build_labels(e, in->rs->r, in->slabels, in->n_slabels, in))
		return -1;
	compute_silence(e, in, now_ms);
	if (grouped(in) && !al_group_attach(e, in))
		return -1;
	return 0;
}

struct al_instance *al_instance_get(struct al_engine *e, struct al_rstate *rs, const char *sname,
				    const struct bm_label *sl, uint32_t n, int64_t now_ms)
{
	uint64_t h = fingerprint(rs->r->id, sname, sl, n);
	char fp[17];
	snprintf(fp, sizeof(fp), "%016" PRIx64, h);
	struct al_instance *in = al_hmap_get(&e->instances, h, inst_eq, fp);
	if (in || !now_ms)
		return in && in->rs == rs ? in : NULL;
	in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	memcpy(in->fp, fp, sizeof(fp));
	in->fph = h;
	in->rs = rs;
	in->value = NAN;
	in->n_slabels = n;
	in->sname = al_labels_copy(sname, sl, n, &in->slabels);
	if (!in->sname || instance_setup(e, in, now_ms) || al_hmap_put(&e->instances, h, in)) {
		al_group_detach(e, in);
		free(in->slabels);
		free(in->labels);
		free(in->silence_id);
		free(in);
		return NULL;
	}
	return in;
}

void al_instance_free(struct al_engine *e, struct al_instance *in)
{
	struct al_series *s = in->series;
	for (uint32_t i = 0; s && i < s->n_m; i++)
		if (s->m[i].inst == in)
			s->m[i].inst = NULL;
	al_hmap_del(&e->instances, in->fph, in);
	al_group_detach(e, in);
	free(in->slabels);
	free(in->labels);
	free(in->silence_id);
	free(in->ack.by);
	free(in->ack.comment);
	free(in);
}

void al_instances_drop_rule(struct al_engine *e, struct al_rstate *rs, int64_t now_ms)
{
	for (size_t i = 0; i < e->instances.cap; i++) {
		if (!al_hmap_live(&e->instances, i))
			continue;
		struct al_instance *in = e->instances.slots[i].item;
		if (in->rs != rs)
			continue;
		if (al_instance_shown(in) == AL_FIRING)
			announce_resolved(e, in, now_ms);
		al_instance_free(e, in);
	}
	al_groups_drop_rule(e, rs, now_ms);
	al_engine_mark_dirty(e);
}

/* --- the tick ---------------------------------------------------------- */

/* Conditions that change with time alone: durations, lookback, the hold
 * of anomalies, the age of trends and forecasts. Missing-data rules are
 * evaluated by the engine's tick. */
static void tick_condition(struct al_engine *e, struct al_instance *in, int64_t now_ms)
{
	double v;
	if (in->rs->r->cond == AL_COND_ABSENT || (in->state == AL_INACTIVE && !in->flapping))
		return;
	enum al_truth t = al_cond_eval(e, in->rs, in->series, in->state != AL_INACTIVE, now_ms, &v);
	/* a series not seen yet (restored after a restart) gets the lookback
	 * to show up before its alert resolves */
	if (t == AL_T_UNKNOWN && !in->series && now_ms < in->await_until_ms)
		return;
	al_instance_step(e, in, t, v, now_ms);
}

static void tick_status(struct al_engine *e, struct al_instance *in, int64_t now_ms)
{
	enum al_istate shown = al_instance_shown(in);
	bool changed = false;
	if (in->ack.by && in->ack.expires_ms && in->ack.expires_ms <= now_ms) {
		free(in->ack.by);
		free(in->ack.comment);
		memset(&in->ack, 0, sizeof(in->ack));
		changed = true;
	}
	if (in->silence_epoch != e->silence_epoch) {
		char *was = in->silence_id ? strdup(in->silence_id) : NULL;
		compute_silence(e, in, now_ms);
		changed |= (was == NULL) != (in->silence_id == NULL) ||
			   (was && strcmp(was, in->silence_id) != 0);
		free(was);
	}
	if (!changed || shown == AL_INACTIVE)
		return;
	al_engine_mark_dirty(e);
	if (shown == AL_FIRING)
		notify_firing(e, in, now_ms);
	else
		al_instance_emit(e, in, BM_ALERT_PENDING, false, now_ms);
}

static void tick_notify(struct al_engine *e, struct al_instance *in, int64_t now_ms)
{
	const struct al_rule *r = in->rs->r;
	if (al_instance_shown(in) != AL_FIRING || grouped(in) ||
	    !al_instance_deliverable(in, now_ms))
		return;
	int64_t since = now_ms - in->last_notified_ms;
	int64_t wait =
	    in->notified
		? (r->repeat_interval_ms > r->cooldown_ms ? r->repeat_interval_ms : r->cooldown_ms)
		: r->cooldown_ms;
	if (since >= wait)
		notify_firing(e, in, now_ms);
}

static void tick_flapping(struct al_engine *e, struct al_instance *in, int64_t now_ms)
{
	if (!in->flapping || !flapping_over(in, now_ms))
		return;
	in->flapping = false;
	announce(e, in, AL_FIRING, true, now_ms);
}

/* Nothing to show and no recent change that flap detection still counts. */
static bool instance_idle(const struct al_instance *in, int64_t now_ms)
{
	const struct al_rule *r = in->rs->r;
	return al_instance_shown(in) == AL_INACTIVE &&
	       (!r->flap_threshold || !flips_within(in, r->flap_window_ms, now_ms));
}

void al_instances_tick(struct al_engine *e, int64_t now_ms)
{
	double pending = 0, firing = 0;
	for (size_t i = 0; i < e->instances.cap; i++) {
		if (!al_hmap_live(&e->instances, i))
			continue;
		struct al_instance *in = e->instances.slots[i].item;
		tick_condition(e, in, now_ms);
		tick_flapping(e, in, now_ms);
		tick_status(e, in, now_ms);
		tick_notify(e, in, now_ms);
		if (instance_idle(in, now_ms)) {
			al_instance_free(e, in);
			continue;
		}
		pending += al_instance_shown(in) == AL_PENDING;
		firing += al_instance_shown(in) == AL_FIRING;
	}
	e->st.instances_pending = pending;
	e->st.instances_firing = firing;
}

/* --- acknowledgement --------------------------------------------------- */

static struct al_instance *active_instance(struct al_engine *e, const char *fp)
{
	struct al_instance *in = al_instance_find(e, fp);
	return in && al_instance_shown(in) != AL_INACTIVE ? in : NULL;
}

static void announce_status(struct al_engine *e, struct al_instance *in, int64_t now_ms)
{
	al_engine_mark_dirty(e);
	if (al_instance_shown(in) == AL_FIRING)
		notify_firing(e, in, now_ms);
	else
		al_instance_emit(e, in, BM_ALERT_PENDING, false, now_ms);
}

int al_engine_ack(struct al_engine *e, const char *fp, const char *by, const char *comment,
		  int64_t expires_ms, int64_t now_ms)
{
	struct al_instance *in = active_instance(e, fp);
	if (!in)
		return BM_ENOENT;
	free(in->ack.by);
	free(in->ack.comment);
	in->ack.by = strdup(by && *by ? by : "unknown");
	in->ack.comment = comment ? strdup(comment) : NULL;
	in->ack.at_ms = now_ms;
	in->ack.expires_ms = expires_ms;
	announce_status(e, in, now_ms);
	return 0;
}

int al_engine_unack(struct al_engine *e, const char *fp, int64_t now_ms)
{
	struct al_instance *in = active_instance(e, fp);
	if (!in || !in->ack.by)
		return BM_ENOENT;
	free(in->ack.by);
	free(in->ack.comment);
	memset(&in->ack, 0, sizeof(in->ack));
	announce_status(e, in, now_ms);
	return 0;
}
