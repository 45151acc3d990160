/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Folding tracked series into per-resource measures, see resources.h.
 */
#include "resources.h"

#include <math.h>
#include <string.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_vec.h>

static const char *arena_dup(struct bm_arena *a, const char *s)
{
	return s ? bm_arena_strndup(a, s, strlen(s)) : NULL;
}

static struct res_acc *acc_get(struct res_set *rs, const struct st_series *s)
{
	long i = ki_find(&rs->index, s->resource, ki_hash(s->resource));
	if (i >= 0)
		return &rs->v[i];
	if (BM_VEC_RESERVE(rs->v, rs->cap, rs->n + 1))
		return NULL;
	struct res_acc *a = &rs->v[rs->n];
	memset(a, 0, sizeof(*a));
	a->resource = arena_dup(&rs->arena, s->resource);
	a->family = sm_measures[s->measure].family;
	a->label_name = arena_dup(&rs->arena, s->label_name);
	a->label_value = arena_dup(&rs->arena, s->label_value);
	if (!a->resource || (s->label_name && (!a->label_name || !a->label_value)) ||
	    ki_insert(&rs->index, a->resource, ki_hash(a->resource), (uint32_t)rs->n))
		return NULL;
	rs->n++;
	return a;
}

/* Fold value v of series s into a. */
static int acc_add(struct res_set *rs, struct res_acc *a, const struct st_series *s, double v)
{
	enum sm_measure m = s->measure;
	bool first = a->n[m] == 0;
	bool sets = first || (sm_measures[m].agg == SM_MAX && v > a->v[m]);
	if (first || sm_measures[m].agg == SM_MAX)
		a->v[m] = sets ? v : a->v[m];
	else
		a->v[m] += v;
	if (a->n[m] < UINT16_MAX)
		a->n[m]++;
	if (first)
		a->metric[m] = s->metric;
	if (sets && s->detail) {
		a->detail[m] = arena_dup(&rs->arena, s->detail);
		if (!a->detail[m])
			return BM_ENOMEM;
	}
	return 0;
}

int rs_build(struct res_set *rs, const struct series_table *t, int64_t now_ms)
{
	rs->n = 0;
	ki_clear(&rs->index);
	bm_arena_reset(&rs->arena);
	for (size_t i = 0; i < t->n; i++) {
		const struct st_series *s = &t->v[i];
		double v = st_value(s, now_ms, t->error_window_ms);
		if (isnan(v))
			continue;
		struct res_acc *a = acc_get(rs, s);
		if (!a || acc_add(rs, a, s, v))
			return BM_ENOMEM;
	}
	return 0;
}

const struct res_acc *rs_find(const struct res_set *rs, const char *name)
{
	long i = ki_find(&rs->index, name, ki_hash(name));
	return i >= 0 ? &rs->v[i] : NULL;
}

double ra_get(const struct res_acc *a, enum sm_measure m)
{
	return a && a->n[m] ? a->v[m] : NAN;
}

size_t rs_top(const struct res_set *rs, enum sm_measure m, const struct res_acc **out, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < rs->n; i++) {
		const struct res_acc *a = &rs->v[i];
		if (a->family != SM_PROC || !(ra_get(a, m) > 0))
			continue;
		/* insertion into the sorted top list */
		size_t j = k < n ? k++ : n;
		while (j > 0 && ra_get(out[j - 1], m) < a->v[m]) {
			if (j < n)
				out[j] = out[j - 1];
			j--;
		}
		if (j < n)
			out[j] = a;
	}
	return k;
}

void rs_free(struct res_set *rs)
{
	free(rs->v);
	ki_free(&rs->index);
	bm_arena_free(&rs->arena);
	memset(rs, 0, sizeof(*rs));
}
