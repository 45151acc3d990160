/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Latest events per finding and recent anomalies and actions (see
 * evcache.h). Lookups are linear: the kinds hold at most max_per_kind
 * entries (default 1000) and events arrive at a few per second.
 */
#define _GNU_SOURCE
#include "evcache.h"

#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_vec.h>

#include "selector.h"

/* Where a topic goes: its kind and what identifies an entry (NULL: a list
 * of the latest, no key; "series": the event's series). */
static const struct {
	const char *topic;
	enum ec_kind kind;
	const char *key;
	const char *fallback_key;
	bool keep; /* not subject to the TTL */
} routes[] = {
	{BM_TOPIC_ANOMALY, EC_ANOMALY, NULL, NULL, false},
	{BM_TOPIC_ACTION, EC_ACTION, NULL, NULL, true},
	{BM_TOPIC_ALERT, EC_ALERT, "fingerprint", NULL, true},
	{BM_TOPIC_BOTTLENECK, EC_BOTTLENECK, "id", "resource", false},
	{BM_TOPIC_HEALTH, EC_HEALTH, "component", NULL, false},
	{BM_TOPIC_AGENT, EC_AGENT, "agent_id", NULL, true},
	{BM_TOPIC_RECOMMENDATION, EC_RECOMMENDATION, "id", NULL, false},
	{BM_TOPIC_TREND, EC_TREND, "series", NULL, false},
	{BM_TOPIC_FORECAST, EC_FORECAST, "series", NULL, false},
	{BM_TOPIC_INSIGHT, EC_INSIGHT, "id", "title", false},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

void evcache_init(struct evcache *c, size_t max_per_kind, int64_t ttl_ms)
{
	memset(c, 0, sizeof(*c));
	c->max_per_kind = max_per_kind ? max_per_kind : 1;
	c->ttl_ms = ttl_ms;
}

static void entry_free(struct ec_entry *e)
{
	free(e->key);
	free(e->json);
}

/* Remove entry i of kind k, keeping the order (oldest first). */
static void remove_at(struct evcache *c, enum ec_kind k, size_t i)
{
	entry_free(&c->kinds[k].v[i]);
	memmove(&c->kinds[k].v[i], &c->kinds[k].v[i + 1],
		(c->kinds[k].n - i - 1) * sizeof(c->kinds[k].v[0]));
	c->kinds[k].n--;
}

void evcache_free(struct evcache *c)
{
	for (int k = 0; k < EC_N_KINDS; k++) {
		for (size_t i = 0; i < c->kinds[k].n; i++)
			entry_free(&c->kinds[k].v[i]);
		free(c->kinds[k].v);
	}
	memset(c, 0, sizeof(*c));
}

char *evcache_series_key(const json_t *series)
{
	const char *name = json_string_value(json_object_get(series, "name"));
	const json_t *labels = json_object_get(series, "labels");
	if (!name)
		return NULL;
	/* jansson keeps insertion order; the SDK writes labels sorted */
	size_t n = json_object_size(labels), i = 0;
	struct bm_label *l = calloc(n ? n : 1, sizeof(*l));
	const char *k;
	json_t *v;
	if (!l)
		return NULL;
	json_object_foreach((json_t *)labels, k, v)
	{
		if (json_is_string(v))
			l[i++] = (struct bm_label){k, json_string_value(v)};
	}
	bm_labels_sort(l, i);
	size_t need = series_text(name, l, (uint32_t)i, NULL, 0) + 1;
	char *key = malloc(need);
	if (key)
		series_text(name, l, (uint32_t)i, key, need);
	free(l);
	return key;
}

static char *key_of(const json_t *ev, const char *field, const char *fallback)
{
	if (strcmp(field, "series") == 0)
		return evcache_series_key(json_object_get(ev, "series"));
	const char *s = json_string_value(json_object_get(ev, field));
	if (!s && fallback)
		s = json_string_value(json_object_get(ev, fallback));
	return s ? strdup(s) : NULL;
}

static int64_t ts_of(const json_t *ev, int64_t now_ms)
{
	const json_t *t = json_object_get(ev, "ts_ms");
	return json_is_integer(t) ? (int64_t)json_integer_value(t) : now_ms;
}

/* An alert that resolved leaves the active set. */
static bool is_resolved(const json_t *ev)
{
	const char *st = json_string_value(json_object_get(ev, "state"));
	return st && strcmp(st, "resolved") == 0;
}

static int find_key(const struct evcache *c, enum ec_kind k, const char *key)
{
	for (size_t i = 0; i < c->kinds[k].n; i++)
		if (c->kinds[k].v[i].key && strcmp(c->kinds[k].v[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* Keep a copy of the text under key (taken: freed on failure). */
static int append(struct evcache *c, enum ec_kind k, char *key, const char *json, size_t len,
		  int64_t ts)
{
	if (c->kinds[k].n >= c->max_per_kind) {
		remove_at(c, k, 0);
		c->evicted++;
	}
	char *copy = malloc(len + 1);
	if (!copy || BM_VEC_RESERVE(c->kinds[k].v, c->kinds[k].cap, c->kinds[k].n + 1)) {
		free(copy);
		free(key);
		return BM_ENOMEM;
	}
	memcpy(copy, json, len);
	copy[len] = '\0';
	c->kinds[k].v[c->kinds[k].n++] = (struct ec_entry){key, ts, copy, len};
	return 0;
}

int evcache_add(struct evcache *c, const char *topic, const char *json, size_t len, int64_t now_ms)
{
	size_t r = 0;
	while (r < N_ROUTES && strcmp(routes[r].topic, topic) != 0)
		r++;
	if (r == N_ROUTES)
		return 0;
	json_t *ev = json_loadb(json, len, 0, NULL);
	if (!json_is_object(ev)) {
		json_decref(ev);
		return BM_EPROTO;
	}
	enum ec_kind k = routes[r].kind;
	int64_t ts = ts_of(ev, now_ms);
	char *key = routes[r].key ? key_of(ev, routes[r].key, routes[r].fallback_key) : NULL;
	bool resolved = k == EC_ALERT && is_resolved(ev);
	json_decref(ev);
	if (!routes[r].key)
		return append(c, k, NULL, json, len, ts);
	if (!key)
		return BM_EPROTO;
	int at = find_key(c, k, key);
	if (at >= 0)
		remove_at(c, k, (size_t)at); /* re-appended as the newest */
	if (resolved) {
		free(key);
		return 0;
	}
	return append(c, k, key, json, len, ts);
}

void evcache_expire(struct evcache *c, int64_t now_ms)
{
	for (size_t r = 0; r < N_ROUTES; r++) {
		enum ec_kind k = routes[r].kind;
		if (routes[r].keep)
			continue;
		for (size_t i = c->kinds[k].n; i-- > 0;)
			if (now_ms - c->kinds[k].v[i].ts_ms > c->ttl_ms)
				remove_at(c, k, i);
	}
}

json_t *evcache_list(const struct evcache *c, enum ec_kind kind, int64_t since_ms, size_t limit)
{
	json_t *a = json_array();
	for (size_t i = c->kinds[kind].n; a && i-- > 0;) {
		const struct ec_entry *e = &c->kinds[kind].v[i];
		if (limit && json_array_size(a) >= limit)
			break;
		if (e->ts_ms >= since_ms)
			json_array_append_new(a, json_loadb(e->json, e->len, 0, NULL));
	}
	return a;
}

size_t evcache_count(const struct evcache *c, enum ec_kind kind)
{
	return c->kinds[kind].n;
}

json_t *evcache_get(const struct evcache *c, enum ec_kind kind, const char *key)
{
	int at = find_key(c, kind, key);
	const struct ec_entry *e = at < 0 ? NULL : &c->kinds[kind].v[at];
	return e ? json_loadb(e->json, e->len, 0, NULL) : NULL;
}
