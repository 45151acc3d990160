/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-series state of the bottleneck analyzer: values, counter rates with
 * reset handling, error-event windows, expiry. See series_table.h.
 */
#define _GNU_SOURCE
#include "series_table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_vec.h>

/* Append s to the scratch key, quoting '"' and '\' as Prometheus does so
 * that two label sets never give the same key. */
static int key_put(struct series_table *t, size_t *len, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*len + 3 > t->key_cap) {
			size_t cap = t->key_cap ? t->key_cap * 2 : 256;
			char *k = realloc(t->key, cap);
			if (!k)
				return BM_ENOMEM;
			t->key = k;
			t->key_cap = cap;
		}
		if (quote && (*s == '"' || *s == '\\'))
			t->key[(*len)++] = '\\';
		t->key[(*len)++] = *s;
	}
	t->key[*len] = '\0';
	return 0;
}

static int key_build(struct series_table *t, const struct bm_sample *s)
{
	size_t len = 0;
	int rc = key_put(t, &len, s->name, false);
	for (uint32_t i = 0; i < s->n_labels && !rc; i++) {
		rc = key_put(t, &len, i ? ",\"" : "{\"", false);
		if (!rc)
			rc = key_put(t, &len, s->labels[i].name, false);
		if (!rc)
			rc = key_put(t, &len, "\"=\"", false);
		if (!rc)
			rc = key_put(t, &len, s->labels[i].value, true);
		if (!rc)
			rc = key_put(t, &len, "\"", false);
	}
	if (!rc && s->n_labels)
		rc = key_put(t, &len, "}", false);
	return rc;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void series_release(struct st_series *s)
{
	free(s->key);
	free(s->resource);
	free(s->label_name);
	free(s->label_value);
	free(s->detail);
}

static int series_create(struct series_table *t, const struct sm_match *m,
			 const struct sm_resource *r, uint32_t hash, struct st_series **out)
{
	if (BM_VEC_RESERVE(t->v, t->cap, t->n + 1))
		return BM_ENOMEM;
	struct st_series *s = &t->v[t->n];
	*s = (struct st_series){
	    .key = strdup(t->key),
	    .hash = hash,
	    .resource = strdup(r->resource),
	    .label_name = dup_or_null(r->label_name),
	    .label_value = dup_or_null(r->label_value),
	    .detail = dup_or_null(r->detail),
	    .metric = m->metric,
	    .measure = m->measure,
	    .scale = m->scale,
	    .value = NAN,
	};
	if (!s->key || !s->resource || (r->label_name && (!s->label_name || !s->label_value)) ||
	    (r->detail && !s->detail) || ki_insert(&t->index, s->key, hash, (uint32_t)t->n)) {
		series_release(s);
		return BM_ENOMEM;
	}
	t->n++;
	*out = s;
	return 0;
}

/* A new raw counter value at ts: the rate since the previous one, and
 * for error counters the increase in the current window. */
static void counter_update(struct st_series *s, int64_t ts, double v, int64_t window_ms)
{
	if (s->raw_ts) {
		double inc = v >= s->raw ? v - s->raw : v; /* a drop is a reset */
		s->value = inc * s->scale / ((double)(ts - s->raw_ts) / 1000.0);
		if (sm_measures[s->measure].source == SM_EVENTS && inc > 0) {
			if (ts - s->window_start_ms > window_ms) {
				s->window_start_ms = ts;
				s->window_count = 0;
			}
			s->window_count += inc * s->scale;
			s->last_increase_ms = ts;
		}
	}
	s->raw = v;
	s->raw_ts = ts;
}

static void series_update(struct st_series *s, int64_t ts, double v, int64_t window_ms)
{
	if (bm_is_stale_nan(v)) {
		s->seen_ms = 0; /* gone: st_expire drops it */
		s->value = NAN;
		return;
	}
	if (isnan(v) || (s->raw_ts && ts <= s->raw_ts))
		return; /* no value, or a duplicate or late sample */
	if (sm_measures[s->measure].source == SM_GAUGE) {
		s->value = v * s->scale;
		s->raw_ts = ts;
	} else {
		counter_update(s, ts, v, window_ms);
	}
	s->seen_ms = ts;
}

int st_add(struct series_table *t, const struct bm_sample *smp)
{
	struct sm_match m;
	struct sm_resource r;
	char rbuf[256];
	if (!sm_name_may_match(smp->name) ||
	    !sm_lookup(smp->name, smp->labels, smp->n_labels, &m, &r, rbuf, sizeof(rbuf)))
		return 0;
	if (key_build(t, smp))
		return BM_ENOMEM;
	uint32_t h = ki_hash(t->key);
	long i = ki_find(&t->index, t->key, h);
	struct st_series *s;
	if (i >= 0) {
		s = &t->v[i];
	} else if (bm_is_stale_nan(smp->value)) {
		return 0;
	} else if (t->n >= t->max_series) {
		t->dropped++;
		return 0;
	} else if (series_create(t, &m, &r, h, &s)) {
		return BM_ENOMEM;
	}
	series_update(s, smp->ts_ms, smp->value, t->error_window_ms);
	return 0;
}

int st_expire(struct series_table *t, int64_t now_ms, int64_t timeout_ms)
{
	size_t kept = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].seen_ms && now_ms - t->v[i].seen_ms <= timeout_ms)
			t->v[kept++] = t->v[i];
		else
			series_release(&t->v[i]);
	}
	if (kept == t->n)
		return 0;
	t->n = kept;
	ki_clear(&t->index);
	for (size_t i = 0; i < t->n; i++) {
		if (ki_insert(&t->index, t->v[i].key, t->v[i].hash, (uint32_t)i)) {
			st_free(t);
			return BM_ENOMEM;
		}
	}
	return 0;
}

double st_value(const struct st_series *s, int64_t now_ms, int64_t error_window_ms)
{
	if (sm_measures[s->measure].source != SM_EVENTS)
		return s->value;
	if (!s->raw_ts)
		return NAN;
	return s->last_increase_ms && now_ms - s->last_increase_ms <= error_window_ms
		   ? s->window_count
		   : 0;
}

void st_free(struct series_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		series_release(&t->v[i]);
	free(t->v);
	free(t->key);
	ki_free(&t->index);
	t->v = NULL;
	t->key = NULL;
	t->n = t->cap = t->key_cap = 0;
}
