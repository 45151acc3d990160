/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The series registry (see series.h): merges a flush interval's values
 * into lasting series and writes them out as Prometheus samples, the way
 * statsd_exporter maps StatsD: counters cumulative with _total, gauges as
 * they are, sets as the distinct members of the interval, timers and
 * distributions as summaries (quantiles 0 = min, 0.5, 0.9, 0.95, 0.99,
 * 1 = max of the interval; _sum and _count cumulative).
 */
#define _GNU_SOURCE
#include "series.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_vec.h>

void series_init(struct series_reg *r, uint32_t idle_flushes, uint32_t max_set_size,
		 uint64_t seed)
{
	memset(r, 0, sizeof(*r));
	r->idle_flushes = idle_flushes;
	r->max_set_size = max_set_size;
	r->seed = seed;
}

static void family_free(struct series_family *f)
{
	free(f->name);
	free(f->sum_name);
	free(f->count_name);
}

void series_free(struct series_reg *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		free(r->s[i].key);
		free(r->s[i].labels);
	}
	for (uint32_t i = 0; i < r->nf; i++)
		family_free(&r->f[i]);
	free(r->s);
	free(r->f);
	free(r->names);
	hindex_free(&r->index);
	hindex_free(&r->name_index);
	memset(r, 0, sizeof(*r));
}

static bool is_summary(int type)
{
	return type == STATSD_TIMER || type == STATSD_HISTOGRAM || type == STATSD_DISTRIBUTION;
}

/* --- families ---------------------------------------------------------- */

struct name_ref {
	const struct series_reg *r;
	const char *name;
};

static bool name_equal(const void *ctx, uint32_t item)
{
	const struct name_ref *k = ctx;
	return strcmp(k->r->names[item].name, k->name) == 0;
}

/* The family that publishes a sample named name, or -1. */
static int64_t owner_of(const struct series_reg *r, const char *name)
{
	struct name_ref k = {r, name};
	uint32_t item;
	if (!hindex_find(&r->name_index, hash_bytes(name, strlen(name), r->seed), name_equal, &k,
			 &item))
		return -1;
	return r->names[item].family;
}

static int add_name(struct series_reg *r, char *name, uint32_t family)
{
	if (BM_VEC_RESERVE(r->names, r->capn, r->nn + 1) || hindex_reserve(&r->name_index, r->nn + 1))
		return -1;
	r->names[r->nn] = (struct series_name){name, family};
	hindex_put(&r->name_index, hash_bytes(name, strlen(name), r->seed), r->nn);
	r->nn++;
	return 0;
}

/* A new family name of type, with its sample names registered. */
static int family_new(struct series_reg *r, const char *name, int type, uint32_t *out)
{
	if (BM_VEC_RESERVE(r->f, r->capf, r->nf + 1))
		return -1;
	struct series_family f = {.name = strdup(name), .type = (uint8_t)type, .declared = UINT32_MAX};
	bool sum = is_summary(type);
	if (!f.name || (sum && (asprintf(&f.sum_name, "%s_sum", name) < 0 ||
				asprintf(&f.count_name, "%s_count", name) < 0))) {
		family_free(&f);
		return -1;
	}
	uint32_t id = r->nf;
	size_t nn = r->nn;
	if (add_name(r, f.name, id) || (sum && (add_name(r, f.sum_name, id) ||
						add_name(r, f.count_name, id)))) {
		r->nn = (uint32_t)nn; /* the index is rebuilt at the next compaction */
		family_free(&f);
		return -1;
	}
	r->f[r->nf++] = f;
	*out = id;
	return 0;
}

/* The family of a new series: its own, or a new one. -1 when the name is
 * taken by another type (or by a summary's _sum/_count), or no memory. */
static int family_for(struct series_reg *r, const char *name, int type, uint32_t *out)
{
	int64_t owner = owner_of(r, name);
	if (owner >= 0) {
		const struct series_family *f = &r->f[owner];
		if (f->type != type || strcmp(f->name, name) != 0)
			return -1;
		*out = (uint32_t)owner;
		return 0;
	}
	if (is_summary(type)) {
		char buf[2][4096];
		if (snprintf(buf[0], sizeof(buf[0]), "%s_sum", name) >= (int)sizeof(buf[0]) ||
		    snprintf(buf[1], sizeof(buf[1]), "%s_count", name) >= (int)sizeof(buf[1]) ||
		    owner_of(r, buf[0]) >= 0 || owner_of(r, buf[1]) >= 0)
			return -1;
	}
	return family_new(r, name, type, out);
}

/* --- series ------------------------------------------------------------ */

struct key_ref {
	const struct series_reg *r;
	const char *key;
	uint32_t len;
};

static bool key_equal(const void *ctx, uint32_t item)
{
	const struct key_ref *k = ctx;
	const struct series_item *s = &k->r->s[item];
	return s->key_len == k->len && bytes_equal(s->key, k->key, k->len);
}

/* Labels from a canonical key: name '\0' (label '\0' value '\0')*. */
static struct bm_label *key_labels(const char *key, uint32_t len, uint32_t *n)
{
	const char *p = key + strlen(key) + 1, *end = key + len;
	uint32_t count = 0;
	for (const char *q = p; q < end; q += strlen(q) + 1)
		count++;
	*n = count / 2;
	if (!*n)
		return NULL;
	struct bm_label *l = malloc(*n * sizeof(*l));
	if (!l)
		return NULL;
	for (uint32_t i = 0; i < *n; i++) {
		l[i].name = p;
		p += strlen(p) + 1;
		l[i].value = p;
		p += strlen(p) + 1;
	}
	return l;
}

static int series_new(struct series_reg *r, const struct shard_entry *e, const char *key,
		      uint32_t *out)
{
	uint32_t fam;
	if (family_for(r, key, e->type, &fam))
		return -1;
	if (BM_VEC_RESERVE(r->s, r->cap, r->n + 1) || hindex_reserve(&r->index, r->n + 1))
		return -1;
	struct series_item s = {.hash = e->key_hash, .key_len = e->key_len, .family = fam,
				.type = e->type};
	s.key = malloc(e->key_len);
	if (s.key) {
		memcpy(s.key, key, e->key_len);
		s.labels = key_labels(s.key, s.key_len, &s.n_labels);
	}
	if (!s.key || (s.n_labels && !s.labels)) {
		free(s.key);
		return -1;
	}
	r->f[fam].refs++;
	r->s[r->n] = s;
	hindex_put(&r->index, s.hash, r->n);
	*out = r->n++;
	return 0;
}

static void merge_values(struct series_reg *r, struct series_item *s, struct shard_entry *e)
{
	switch (e->type) {
	case STATSD_COUNTER:
		s->value += e->sum;
		break;
	case STATSD_GAUGE:
		s->value = e->gauge_set ? e->gauge + e->sum : s->value + e->sum;
		break;
	case STATSD_SET:
		if (!s->iset)
			s->iset = &e->set;
		else /* the same set on two listeners this interval */
			r->pending[ST_DROPPED_MEMBERS] += memberset_merge(s->iset, &e->set, r->max_set_size);
		break;
	default:
		s->count += e->sk.count;
		s->sum += e->sk.sum;
		if (!s->isk)
			s->isk = &e->sk;
		else
			sketch_merge(s->isk, &e->sk);
		break;
	}
}

void series_begin(struct series_reg *r)
{
	r->gen++;
}

void series_merge(struct series_reg *r, struct shard_table *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		struct shard_entry *e = &t->e[i];
		struct key_ref k = {r, shard_key(t, e), e->key_len};
		uint32_t item;
		if (!hindex_find(&r->index, e->key_hash, key_equal, &k, &item) &&
		    series_new(r, e, k.key, &item)) {
			r->pending[ST_TYPE_CONFLICTS] += e->values;
			continue;
		}
		struct series_item *s = &r->s[item];
		if (s->type != e->type) {
			r->pending[ST_TYPE_CONFLICTS] += e->values;
			continue;
		}
		s->last_seen = r->gen;
		merge_values(r, s, e);
	}
}

/* --- forgetting -------------------------------------------------------- */

static bool is_idle(const struct series_reg *r, const struct series_item *s)
{
	return r->idle_flushes && r->gen - s->last_seen >= r->idle_flushes;
}

/* Families without series go; the others move down. Fills map (old ->
 * new index) and rebuilds the name index. */
static void compact_families(struct series_reg *r, uint32_t *map)
{
	uint32_t nf = 0;
	for (uint32_t i = 0; i < r->nf; i++) {
		if (r->f[i].refs) {
			map[i] = nf;
			r->f[nf++] = r->f[i];
		} else {
			family_free(&r->f[i]);
			map[i] = UINT32_MAX;
		}
	}
	r->nf = nf;
	r->nn = 0;
	hindex_clear(&r->name_index);
	for (uint32_t i = 0; i < nf; i++) {
		/* room was there before: nothing grows */
		add_name(r, r->f[i].name, i);
		if (r->f[i].sum_name) {
			add_name(r, r->f[i].sum_name, i);
			add_name(r, r->f[i].count_name, i);
		}
	}
}

static void forget_idle(struct series_reg *r)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		struct series_item *s = &r->s[i];
		if (!is_idle(r, s)) {
			r->s[n++] = *s;
			continue;
		}
		r->f[s->family].refs--;
		free(s->key);
		free(s->labels);
		r->pending[ST_FORGOTTEN]++;
	}
	if (n == r->n)
		return;
	r->n = n;
	uint32_t *map = malloc((r->nf ? r->nf : 1) * sizeof(*map));
	if (map) {
		compact_families(r, map);
		for (uint32_t i = 0; i < r->n; i++)
			r->s[i].family = map[r->s[i].family];
		free(map);
	}
	hindex_clear(&r->index);
	for (uint32_t i = 0; i < r->n; i++)
		hindex_put(&r->index, r->s[i].hash, i);
}

/* --- output ------------------------------------------------------------ */

static const struct {
	double q;
	const char *label;
} quantiles[] = {{0, "0"}, {0.5, "0.5"}, {0.9, "0.9"}, {0.95, "0.95"}, {0.99, "0.99"}, {1, "1"}};

static int declare(struct series_reg *r, struct bm_batch *b, struct series_family *f)
{
	static const enum bm_metric_type types[STATSD_N_TYPES] = {
		[STATSD_COUNTER] = BM_METRIC_COUNTER, [STATSD_GAUGE] = BM_METRIC_GAUGE,
		[STATSD_TIMER] = BM_METRIC_SUMMARY, [STATSD_HISTOGRAM] = BM_METRIC_SUMMARY,
		[STATSD_DISTRIBUTION] = BM_METRIC_SUMMARY, [STATSD_SET] = BM_METRIC_GAUGE,
	};
	static const char *const helps[STATSD_N_TYPES] = {
		[STATSD_COUNTER] = "StatsD counter (c), cumulative",
		[STATSD_GAUGE] = "StatsD gauge (g)",
		[STATSD_TIMER] = "StatsD timer (ms) in seconds; quantiles of the last flush interval",
		[STATSD_HISTOGRAM] = "StatsD histogram (h); quantiles of the last flush interval",
		[STATSD_DISTRIBUTION] = "StatsD distribution (d); quantiles of the last flush interval",
		[STATSD_SET] = "StatsD set (s): distinct values in the last flush interval",
	};
	if (f->declared == r->gen)
		return 0;
	f->declared = r->gen;
	return bm_batch_family(b, f->name, types[f->type],
			       f->type == STATSD_TIMER ? "seconds" : NULL, helps[f->type]);
}

static int emit_summary(struct bm_batch *b, const struct series_family *f,
			const struct series_item *s)
{
	struct bm_label l[STATSD_MAX_TAGS + 1];
	if (s->n_labels)
		memcpy(l, s->labels, s->n_labels * sizeof(*l));
	int rc = 0;
	for (size_t i = 0; i < sizeof(quantiles) / sizeof(quantiles[0]) && !rc; i++) {
		l[s->n_labels] = (struct bm_label){"quantile", quantiles[i].label};
		double v = s->isk ? sketch_quantile(s->isk, quantiles[i].q) : NAN;
		rc = bm_batch_add(b, f->name, v, l, s->n_labels + 1);
	}
	if (!rc)
		rc = bm_batch_add(b, f->sum_name, s->sum, s->labels, s->n_labels);
	if (!rc)
		rc = bm_batch_add(b, f->count_name, s->count, s->labels, s->n_labels);
	return rc;
}

static int emit_one(struct series_reg *r, struct bm_batch *b, const struct series_item *s)
{
	struct series_family *f = &r->f[s->family];
	int rc = declare(r, b, f);
	if (rc)
		return rc;
	switch (s->type) {
	case STATSD_COUNTER:
	case STATSD_GAUGE:
		return bm_batch_add(b, f->name, s->value, s->labels, s->n_labels);
	case STATSD_SET:
		return bm_batch_add(b, f->name, s->iset ? (double)s->iset->n : 0, s->labels,
				    s->n_labels);
	default:
		return emit_summary(b, f, s);
	}
}

int series_emit(struct series_reg *r, struct bm_batch *b)
{
	forget_idle(r);
	int rc = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		if (!rc)
			rc = emit_one(r, b, &r->s[i]);
		r->s[i].isk = NULL;
		r->s[i].iset = NULL;
	}
	return rc;
}
