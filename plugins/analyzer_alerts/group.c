/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Grouping (rules with group_by), as Alertmanager groups: the instances of
 * a rule that share the group_by labels form a group, and the group, not
 * each instance, is announced to the notifiers: group_wait after its first
 * member fires, then at most every group_interval when its members
 * changed, and every repeat_interval while it fires. A storm of 500 disks
 * is one notification per group and interval; the instances' own events
 * still reach the history, routed to no notifier.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_vec.h>

#define LISTED_MEMBERS 20 /* members named in the `alerts` annotation */

static bool group_eq(const void *item, const void *key)
{
	return strcmp(((const struct al_group *)item)->fp, key) == 0;
}

/* The group labels of in: alertname, severity and the group_by labels it
 * has, sorted; returns the count. */
static uint32_t group_labels(const struct al_instance *in, struct bm_label *out, size_t cap)
{
	const struct al_rule *r = in->rs->r;
	uint32_t k = 0;
	for (uint32_t i = 0; i < in->n_labels && k < cap; i++) {
		const char *name = in->labels[i].name;
		bool keep = strcmp(name, "alertname") == 0 || strcmp(name, "severity") == 0;
		for (size_t j = 0; !keep && j < r->n_group_by; j++)
			keep = strcmp(name, r->group_by[j]) == 0;
		if (keep)
			out[k++] = in->labels[i];
	}
	return k;
}

struct al_group *al_group_attach(struct al_engine *e, struct al_instance *in)
{
	struct bm_label l[64];
	uint32_t n = group_labels(in, l, 64);
	uint64_t h = al_series_hash(in->rs->r->id, l, n) ^ 0x67726f7570ULL; /* "group" */
	char fp[17];
	snprintf(fp, sizeof(fp), "%016" PRIx64, h);
	al_group_detach(e, in);
	struct al_group *g = al_hmap_get(&e->groups, h, group_eq, fp);
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g || !al_labels_copy("", l, n, &g->labels) || al_hmap_put(&e->groups, h, g)) {
			if (g)
				free(g->labels);
			free(g);
			return NULL;
		}
		memcpy(g->fp, fp, sizeof(fp));
		g->fph = h;
		g->rs = in->rs;
		g->n_labels = n;
	}
	g->members++;
	in->group = g;
	return g;
}

void al_group_detach(struct al_engine *e, struct al_instance *in)
{
	(void)e;
	if (in->group)
		in->group->members--;
	in->group = NULL;
}

void al_group_touch(struct al_group *g, int64_t now_ms)
{
	const struct al_rule *r = g->rs->r;
	if (g->dirty)
		return;
	g->dirty = true;
	if (!g->last_sent_ms)
		g->next_flush_ms = now_ms + r->group_wait_ms;
	else if (g->last_sent_ms + r->group_interval_ms > now_ms)
		g->next_flush_ms = g->last_sent_ms + r->group_interval_ms;
	else
		g->next_flush_ms = now_ms;
}

/* --- the group notification ------------------------------------------ */

/* One member as text: its labels other than the group's, and its value. */
static void describe_member(const struct al_instance *in, const struct al_group *g,
			    struct bm_buf *out)
{
	char item[512];
	size_t used = 0;
	for (uint32_t i = 0; i < in->n_labels && used < sizeof(item); i++) {
		bool shared = false;
		for (uint32_t j = 0; j < g->n_labels && !shared; j++)
			shared = strcmp(in->labels[i].name, g->labels[j].name) == 0;
		if (shared)
			continue;
		int w = snprintf(item + used, sizeof(item) - used, "%s%s=%s", used ? " " : "",
				 in->labels[i].name, in->labels[i].value);
		used += w > 0 ? (size_t)w : 0;
	}
	if (used < sizeof(item))
		snprintf(item + used, sizeof(item) - used, "%svalue=%g", used ? " " : "",
			 in->value);
	if (out->len)
		bm_buf_append(out, "; ", 2);
	bm_buf_append(out, item, strlen(item));
}

struct members {
	uint32_t firing;
	int64_t first_active_ms;
	struct bm_buf list;
};

/* Members a notification speaks for: firing, not silenced, not
 * acknowledged. */
static void count_members(const struct al_engine *e, const struct al_group *g, int64_t now_ms,
			  struct members *m)
{
	for (size_t i = 0; i < e->instances.cap; i++) {
		if (!al_hmap_live(&e->instances, i))
			continue;
		const struct al_instance *in = e->instances.slots[i].item;
		if (in->group != g || al_instance_shown(in) != AL_FIRING ||
		    !al_instance_deliverable(in, now_ms))
			continue;
		if (m->firing < LISTED_MEMBERS)
			describe_member(in, g, &m->list);
		if (!m->first_active_ms || in->active_since_ms < m->first_active_ms)
			m->first_active_ms = in->active_since_ms;
		m->firing++;
	}
	if (m->firing > LISTED_MEMBERS) {
		char more[64];
		int w = snprintf(more, sizeof(more), "; and %u more", m->firing - LISTED_MEMBERS);
		bm_buf_append(&m->list, more, (size_t)w);
	}
	bm_buf_append(&m->list, "", 1);
}

static void emit_group(struct al_engine *e, struct al_group *g, enum bm_alert_state st,
		       const struct members *m, int64_t now_ms)
{
	const struct al_rule *r = g->rs->r;
	struct bm_kv kv[66];
	char *blob = NULL, url[512], count[32];
	size_t n =
	    al_render_annotations(e, r, g->labels, g->n_labels, (double)m->firing, kv, &blob);
	snprintf(count, sizeof(count), "%u", m->firing);
	kv[n++] = (struct bm_kv){"alerts_firing", count};
	kv[n++] = (struct bm_kv){"alerts", m->list.data ? m->list.data : ""};
	snprintf(url, sizeof(url), "%s%s", e->c.generator_url ? e->c.generator_url : "", r->id);
	struct bm_alert_event ev = {
		.ts_ms = now_ms, .rule_id = r->id, .rule_name = r->name, .fingerprint = g->fp,
		.state = st, .severity = r->severity, .labels = g->labels, .n_labels = g->n_labels,
		.annotations = kv, .n_annotations = n, .value = (double)m->firing,
		.threshold = r->threshold, .active_since_ms = m->first_active_ms,
		.fired_at_ms = g->fired_at_ms,
		.resolved_at_ms = st == BM_ALERT_RESOLVED ? now_ms : 0, .generator_url = url,
		.notifiers = (const char *const *)r->notifiers, .n_notifiers = r->n_notifiers};
	e->st.alerts_emitted++;
	if (e->c.emit)
		e->c.emit(e->c.user, &ev);
	free(blob);
}

static void flush(struct al_engine *e, struct al_group *g, int64_t now_ms)
{
	struct members m = {0};
	count_members(e, g, now_ms, &m);
	if (m.firing) {
		if (!g->notified)
			g->fired_at_ms = now_ms;
		emit_group(e, g, BM_ALERT_FIRING, &m, now_ms);
		g->notified = true;
		g->last_sent_ms = now_ms;
	} else if (g->notified) {
		emit_group(e, g, BM_ALERT_RESOLVED, &m, now_ms);
		g->notified = false;
		g->last_sent_ms = now_ms;
	}
	g->n_firing = m.firing;
	g->dirty = false;
	bm_buf_free(&m.list);
	al_engine_mark_dirty(e);
}

static void group_free(struct al_engine *e, struct al_group *g)
{
	al_hmap_del(&e->groups, g->fph, g);
	free(g->labels);
	free(g);
}

void al_groups_tick(struct al_engine *e, int64_t now_ms)
{
	for (size_t i = 0; i < e->groups.cap; i++) {
		if (!al_hmap_live(&e->groups, i))
			continue;
		struct al_group *g = e->groups.slots[i].item;
		bool due = g->dirty && now_ms >= g->next_flush_ms;
		bool repeat =
		    g->notified && now_ms - g->last_sent_ms >= g->rs->r->repeat_interval_ms;
		if (due || repeat)
			flush(e, g, now_ms);
		if (!g->members && !g->notified && !g->dirty)
			group_free(e, g);
	}
}

void al_groups_drop_rule(struct al_engine *e, struct al_rstate *rs, int64_t now_ms)
{
	for (size_t i = 0; i < e->groups.cap; i++) {
		if (!al_hmap_live(&e->groups, i))
			continue;
		struct al_group *g = e->groups.slots[i].item;
		if (g->rs != rs)
			continue;
		if (g->notified) {
			struct members m = {0};
			bm_buf_append(&m.list, "", 1);
			emit_group(e, g, BM_ALERT_RESOLVED, &m, now_ms);
			bm_buf_free(&m.list);
		}
		group_free(e, g);
	}
}

void al_groups_free(struct al_engine *e)
{
	for (size_t i = 0; i < e->groups.cap; i++)
		if (al_hmap_live(&e->groups, i))
			group_free(e, e->groups.slots[i].item);
	al_hmap_free(&e->groups);
}

static json_t *labels_json(const struct bm_label *l, uint32_t n)
{
	json_t *o = json_object();
	for (uint32_t i = 0; o && i < n; i++)
		json_object_set_new(o, l[i].name, json_string(l[i].value));
	return o;
}

json_t *al_group_to_json(const struct al_group *g)
{
	return json_pack("{s:s, s:s, s:o, s:i, s:i, s:b, s:b, s:I, s:I}", "fingerprint", g->fp,
			 "rule_id", g->rs->r->id, "labels", labels_json(g->labels, g->n_labels),
			 "members", (int)g->members, "firing_notified", (int)g->n_firing,
			 "notified", g->notified, "dirty", g->dirty, "last_sent_ms",
			 (json_int_t)g->last_sent_ms, "next_flush_ms",
			 (json_int_t)(g->dirty ? g->next_flush_ms : 0));
}
