/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What survives a restart, as one JSON document: rules made through the
 * API or imported, silences, the active alert instances (state, times,
 * acknowledgement, notification and flap history) and groups. Restored
 * instances carry on without new notifications.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_VERSION 1

static json_t *labels_json(const struct bm_label *l, uint32_t n)
{
	json_t *o = json_object();
	for (uint32_t i = 0; o && i < n; i++)
		json_object_set_new(o, l[i].name, json_string(l[i].value));
	return o;
}

static json_t *rules_json(const struct al_engine *e)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < e->n_rules; i++) {
		const struct al_rule *r = e->rules[i]->r;
		if (r->source == AL_SRC_API || r->source == AL_SRC_IMPORT)
			json_array_append_new(a, al_rule_to_json(r));
	}
	return a;
}

static json_t *silences_json(const struct al_engine *e)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < e->n_silences; i++) {
		const struct al_silence *s = e->silences[i];
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:I, s:I, s:s?, s:s?}", "id", s->id, "matchers",
				     s->matchers, "starts_at", (json_int_t)s->starts_ms, "ends_at",
				     (json_int_t)s->ends_ms, "comment", s->comment, "created_by",
				     s->created_by));
	}
	return a;
}

static json_t *flips_json(const struct al_instance *in)
{
	json_t *a = json_array();
	for (uint32_t i = 0; a && i < in->n_flips; i++)
		json_array_append_new(a, json_integer(in->flips[i]));
	return a;
}

static json_t *instance_state(const struct al_instance *in)
{
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:o, s:i, s:b, s:I, s:I, s:I, s:o, s:o, s:I, s:b}", "fingerprint",
		in->fp, "rule_id", in->rs->r->id, "series_name", in->sname, "series_labels",
		labels_json(in->slabels, in->n_slabels), "state", (int)in->state, "flapping",
		in->flapping, "active_since_ms", (json_int_t)in->active_since_ms, "fired_at_ms",
		(json_int_t)in->fired_at_ms, "keep_firing_since_ms",
		(json_int_t)in->keep_firing_since_ms, "value",
		isfinite(in->value) ? json_real(in->value) : json_null(), "flips", flips_json(in),
		"last_notified_ms", (json_int_t)in->last_notified_ms, "notified", in->notified);
	if (o) {
		json_object_set_new(o, "rule_name", json_string(in->rs->r->name));
		json_object_set_new(o, "labels", labels_json(in->labels, in->n_labels));
	}
	if (o && in->ack.by)
		json_object_set_new(o, "ack",
				    json_pack("{s:s, s:s?, s:I, s:I}", "by", in->ack.by, "comment",
					      in->ack.comment, "at_ms", (json_int_t)in->ack.at_ms,
					      "expires_ms", (json_int_t)in->ack.expires_ms));
	return o;
}

static json_t *instances_json(const struct al_engine *e)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < e->instances.cap; i++)
		if (al_hmap_live(&e->instances, i))
			json_array_append_new(a, instance_state(e->instances.slots[i].item));
	return a;
}

static json_t *groups_json(const struct al_engine *e)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < e->groups.cap; i++) {
		if (!al_hmap_live(&e->groups, i))
			continue;
		const struct al_group *g = e->groups.slots[i].item;
		json_array_append_new(a, json_pack("{s:s, s:b, s:I, s:I, s:i}", "fingerprint",
						   g->fp, "notified", g->notified, "last_sent_ms",
						   (json_int_t)g->last_sent_ms, "fired_at_ms",
						   (json_int_t)g->fired_at_ms, "n_firing",
						   (int)g->n_firing));
	}
	return a;
}

json_t *al_engine_state_json(const struct al_engine *e, int64_t now_ms)
{
	return json_pack("{s:i, s:I, s:o, s:o, s:o, s:o}", "version", STATE_VERSION, "saved_ms",
			 (json_int_t)now_ms, "rules", rules_json(e), "silences", silences_json(e),
			 "instances", instances_json(e), "groups", groups_json(e));
}

/* --- restore ---------------------------------------------------------- */

static int restore_rules(struct al_engine *e, const json_t *a, int64_t now_ms)
{
	int skipped = 0;
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *j = json_array_get(a, i);
		const char *src = json_string_value(json_object_get(j, "source"));
		enum al_source s = src && strcmp(src, "import") == 0 ? AL_SRC_IMPORT : AL_SRC_API;
		struct al_rule *r;
		struct al_rule_err err;
		json_t *copy = json_deep_copy(j);
		json_object_del(copy, "expires"); /* absolute, checked below */
		int rc = al_rule_from_json(copy, s, now_ms, e->c.promql, &r, &err);
		json_decref(copy);
		if (rc) {
			skipped++;
			continue;
		}
		const json_t *exp = json_object_get(j, "expires");
		r->expires_ms = json_is_integer(exp) ? json_integer_value(exp) : 0;
		if (json_is_string(json_object_get(j, "origin")))
			r->origin = strdup(json_string_value(json_object_get(j, "origin")));
		if ((r->expires_ms && r->expires_ms <= now_ms) ||
		    al_engine_rule_add(e, r, now_ms, &err)) {
			al_rule_free(r);
			skipped++;
		}
	}
	return skipped;
}

static int restore_silences(struct al_engine *e, const json_t *a, int64_t now_ms)
{
	int skipped = 0;
	for (size_t i = 0; i < json_array_size(a); i++) {
		char id[64];
		struct al_rule_err err;
		skipped += al_engine_silence_put(e, json_array_get(a, i), now_ms, id, &err) != 0;
	}
	return skipped;
}

static void restore_ack(struct al_instance *in, const json_t *a)
{
	const char *by = json_string_value(json_object_get(a, "by"));
	const char *comment = json_string_value(json_object_get(a, "comment"));
	if (!by)
		return;
	in->ack.by = strdup(by);
	in->ack.comment = comment ? strdup(comment) : NULL;
	in->ack.at_ms = json_integer_value(json_object_get(a, "at_ms"));
	in->ack.expires_ms = json_integer_value(json_object_get(a, "expires_ms"));
}

static void restore_fields(const struct al_engine *e, struct al_instance *in, const json_t *j,
			   int64_t now_ms)
{
	const json_t *flips = json_object_get(j, "flips");
	const json_t *v = json_object_get(j, "value");
	int st = (int)json_integer_value(json_object_get(j, "state"));
	in->state = st >= AL_INACTIVE && st <= AL_FIRING ? (enum al_istate)st : AL_INACTIVE;
	in->flapping = json_is_true(json_object_get(j, "flapping"));
	in->active_since_ms = json_integer_value(json_object_get(j, "active_since_ms"));
	in->fired_at_ms = json_integer_value(json_object_get(j, "fired_at_ms"));
	in->keep_firing_since_ms = json_integer_value(json_object_get(j, "keep_firing_since_ms"));
	in->last_notified_ms = json_integer_value(json_object_get(j, "last_notified_ms"));
	in->notified = json_is_true(json_object_get(j, "notified"));
	in->value = json_is_number(v) ? json_number_value(v) : NAN;
	in->await_until_ms = now_ms + e->c.lookback_ms; /* for its series to come back */
	for (size_t i = 0; i < json_array_size(flips) && i < AL_MAX_FLAP_THRESHOLD; i++)
		in->flips[in->n_flips++] = json_integer_value(json_array_get(flips, i));
	in->flip_head = in->rs->r->flap_threshold
				? in->n_flips % (uint32_t)in->rs->r->flap_threshold
				: 0;
	restore_ack(in, json_object_get(j, "ack"));
}

/* An alert whose rule is gone since the restart: receivers that were told
 * it fires are told it resolved. */
static void resolve_orphan(struct al_engine *e, const json_t *j, int64_t now_ms)
{
	const json_t *lo = json_object_get(j, "labels");
	const char *k;
	const json_t *v;
	struct bm_label l[128];
	uint32_t n = 0;
	if (!json_is_true(json_object_get(j, "notified")) || !json_is_object(lo) ||
	    json_object_size(lo) > 128 || !e->c.emit)
		return;
	json_object_foreach((json_t *)lo, k, v)
		if (json_is_string(v))
			l[n++] = (struct bm_label){k, json_string_value(v)};
	bm_labels_sort(l, n);
	struct bm_alert_event ev = {
		.ts_ms = now_ms, .rule_id = json_string_value(json_object_get(j, "rule_id")),
		.rule_name = json_string_value(json_object_get(j, "rule_name")),
		.fingerprint = json_string_value(json_object_get(j, "fingerprint")),
		.state = BM_ALERT_RESOLVED, .labels = l, .n_labels = n, .value = NAN,
		.threshold = NAN, .resolved_at_ms = now_ms,
		.active_since_ms = json_integer_value(json_object_get(j, "active_since_ms")),
		.fired_at_ms = json_integer_value(json_object_get(j, "fired_at_ms"))};
	for (size_t i = 0; al_severity_names[i]; i++)
		if (strcmp(al_label_value(l, n, "severity"), al_severity_names[i]) == 0)
			ev.severity = (enum bm_severity)i;
	if (ev.rule_id && ev.fingerprint) {
		e->st.alerts_emitted++;
		e->c.emit(e->c.user, &ev);
	}
}

static int restore_instance(struct al_engine *e, const json_t *j, int64_t now_ms)
{
	const char *rule_id = json_string_value(json_object_get(j, "rule_id"));
	const char *sname = json_string_value(json_object_get(j, "series_name"));
	const json_t *lo = json_object_get(j, "series_labels");
	struct al_rstate *rs = rule_id ? al_rstate_find(e, rule_id) : NULL;
	struct bm_label l[128];
	uint32_t n = 0;
	const char *k;
	const json_t *v;
	if (!rs)
		resolve_orphan(e, j, now_ms);
	if (!rs || !sname || !json_is_object(lo) || json_object_size(lo) > 128)
		return 1;
	json_object_foreach((json_t *)lo, k, v) {
		if (!json_is_string(v))
			return 1;
		l[n++] = (struct bm_label){k, json_string_value(v)};
	}
	bm_labels_sort(l, n);
	struct al_instance *in = al_instance_get(e, rs, sname, l, n, now_ms);
	if (!in)
		return 1;
	restore_fields(e, in, j, now_ms);
	return 0;
}

static bool group_eq(const void *item, const void *key)
{
	return strcmp(((const struct al_group *)item)->fp, key) == 0;
}

/* Groups exist again once their members are restored; bring back what
 * they last told the notifiers. */
static void restore_groups(struct al_engine *e, const json_t *a)
{
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *j = json_array_get(a, i);
		const char *fp = json_string_value(json_object_get(j, "fingerprint"));
		char *end;
		uint64_t h = fp ? strtoull(fp, &end, 16) : 0;
		struct al_group *g = fp ? al_hmap_get(&e->groups, h, group_eq, fp) : NULL;
		if (!g)
			continue;
		g->notified = json_is_true(json_object_get(j, "notified"));
		g->last_sent_ms = json_integer_value(json_object_get(j, "last_sent_ms"));
		g->fired_at_ms = json_integer_value(json_object_get(j, "fired_at_ms"));
		g->n_firing = (uint32_t)json_integer_value(json_object_get(j, "n_firing"));
	}
}

int al_engine_state_restore(struct al_engine *e, const json_t *doc, int64_t now_ms,
			    struct al_rule_err *err)
{
	if (!json_is_object(doc) ||
	    json_integer_value(json_object_get(doc, "version")) != STATE_VERSION) {
		snprintf(err->field, sizeof(err->field), "version");
		snprintf(err->msg, sizeof(err->msg), "not a state file of version %d",
			 STATE_VERSION);
		return -1;
	}
	int skipped = restore_rules(e, json_object_get(doc, "rules"), now_ms);
	skipped += restore_silences(e, json_object_get(doc, "silences"), now_ms);
	const json_t *insts = json_object_get(doc, "instances");
	for (size_t i = 0; i < json_array_size(insts); i++)
		skipped += restore_instance(e, json_array_get(insts, i), now_ms);
	restore_groups(e, json_object_get(doc, "groups"));
	e->dirty = false;
	return skipped;
}
