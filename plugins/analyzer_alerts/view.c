/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the API and test-rules see of the engine: active alert instances
 * and groups as JSON, and a visitor over the active instances.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {"inactive", "pending", "firing"};

static json_t *labels_json(const struct bm_label *l, uint32_t n)
{
	json_t *o = json_object();
	for (uint32_t i = 0; o && i < n; i++)
		json_object_set_new(o, l[i].name, json_string(l[i].value));
	return o;
}

static json_t *number_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *ack_json(const struct al_ack *a)
{
	if (!a->by)
		return json_null();
	return json_pack("{s:s, s:I, s:I, s:s?}", "by", a->by, "at_ms", (json_int_t)a->at_ms,
			 "expires_ms", (json_int_t)a->expires_ms, "comment", a->comment);
}

/* name{a="x",...} of the series behind an instance. */
static json_t *series_text(const struct al_instance *in)
{
	struct bm_buf b = {0};
	const char *name = in->sname[0] == '\x01' ? "" : in->sname;
	bm_buf_append(&b, name, strlen(name));
	bm_buf_append(&b, "{", 1);
	for (uint32_t i = 0; i < in->n_slabels; i++) {
		char item[600];
		int w = snprintf(item, sizeof(item), "%s%s=\"%s\"", i ? "," : "",
				 in->slabels[i].name, in->slabels[i].value);
		bm_buf_append(&b, item, w > 0 && (size_t)w < sizeof(item) ? (size_t)w : 0);
	}
	bm_buf_append(&b, "}", 2);
	json_t *s = json_string(b.data);
	bm_buf_free(&b);
	return s;
}

static json_t *annotations_json(struct al_engine *e, const struct al_instance *in)
{
	struct bm_kv kv[64];
	char *blob = NULL;
	size_t n = al_render_annotations(e, in->rs->r, in->labels, in->n_labels, in->value, kv,
					 &blob);
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++)
		json_object_set_new(o, kv[i].key, json_string(kv[i].value));
	free(blob);
	return o;
}

static json_t *instance_json(struct al_engine *e, const struct al_instance *in)
{
	const struct al_rule *r = in->rs->r;
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "fingerprint", json_string(in->fp));
	json_object_set_new(o, "rule_id", json_string(r->id));
	json_object_set_new(o, "rule_name", json_string(r->name));
	json_object_set_new(o, "state", json_string(state_names[al_instance_shown(in)]));
	json_object_set_new(o, "severity", json_string(al_severity_names[r->severity]));
	json_object_set_new(o, "labels", labels_json(in->labels, in->n_labels));
	json_object_set_new(o, "annotations", annotations_json(e, in));
	json_object_set_new(o, "series", series_text(in));
	json_object_set_new(o, "value", number_or_null(in->value));
	json_object_set_new(o, "threshold", number_or_null(r->threshold));
	json_object_set_new(o, "active_since_ms", json_integer(in->active_since_ms));
	json_object_set_new(o, "fired_at_ms", json_integer(in->fired_at_ms));
	json_object_set_new(o, "keep_firing_since_ms", json_integer(in->keep_firing_since_ms));
	json_object_set_new(o, "flapping", json_boolean(in->flapping));
	json_object_set_new(o, "silenced", json_boolean(in->silence_id != NULL));
	json_object_set_new(o, "silence_id", in->silence_id ? json_string(in->silence_id)
							    : json_null());
	json_object_set_new(o, "ack", ack_json(&in->ack));
	json_object_set_new(o, "notified", json_boolean(in->notified));
	json_object_set_new(o, "last_notified_ms", json_integer(in->last_notified_ms));
	json_object_set_new(o, "group", in->group ? json_string(in->group->fp) : json_null());
	return o;
}

static bool wanted(const struct al_instance *in, const char *state, const char *rule_id)
{
	enum al_istate s = al_instance_shown(in);
	return s != AL_INACTIVE && (!state || strcmp(state, state_names[s]) == 0) &&
	       (!rule_id || strcmp(rule_id, in->rs->r->id) == 0);
}

json_t *al_engine_alerts_json(struct al_engine *e, const char *state, const char *rule_id)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < e->instances.cap; i++) {
		if (!al_hmap_live(&e->instances, i))
			continue;
		const struct al_instance *in = e->instances.slots[i].item;
		if (wanted(in, state, rule_id))
			json_array_append_new(a, instance_json(e, in));
	}
	return a;
}

json_t *al_engine_alert_json(struct al_engine *e, const char *fp)
{
	const struct al_instance *in = al_instance_find(e, fp);
	return in && al_instance_shown(in) != AL_INACTIVE ? instance_json(e, in) : NULL;
}

json_t *al_engine_groups_json(const struct al_engine *e)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < e->groups.cap; i++)
		if (al_hmap_live(&e->groups, i))
			json_array_append_new(a, al_group_to_json(e->groups.slots[i].item));
	return a;
}

void al_engine_foreach_alert(struct al_engine *e,
			     void (*cb)(void *user, const struct al_alert_view *v), void *user)
{
	static const enum bm_alert_state shown[] = {BM_ALERT_RESOLVED, BM_ALERT_PENDING,
						    BM_ALERT_FIRING};
	for (size_t i = 0; i < e->instances.cap; i++) {
		if (!al_hmap_live(&e->instances, i))
			continue;
		const struct al_instance *in = e->instances.slots[i].item;
		if (al_instance_shown(in) == AL_INACTIVE)
			continue;
		struct bm_kv kv[64];
		char *blob = NULL;
		size_t n = al_render_annotations(e, in->rs->r, in->labels, in->n_labels, in->value,
						 kv, &blob);
		struct al_alert_view v = {in->rs->r, in->fp, shown[al_instance_shown(in)],
					  in->labels, in->n_labels, kv, n, in->value};
		cb(user, &v);
		free(blob);
	}
}
