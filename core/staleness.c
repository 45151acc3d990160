/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Staleness markers (see staleness.h). Each collection's series are kept
 * as a sorted array of canonical keys; comparing it with the previous one
 * is a merge, so no hash table is needed and the cost is O(n log n) per
 * collection on a few hundred series.
 */
#include "staleness.h"

#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_vec.h"
#include "store.h"

struct stale_entry {
	char *key; /* name{labels}: also holds name and labels below */
	const char *name;
	struct bm_label *labels;
	uint32_t n_labels;
};

struct gen {
	struct stale_entry *v;
	size_t n, cap;
};

struct stale_set {
	struct gen prev, cur;
};

struct stale_set *stale_new(void)
{
	return calloc(1, sizeof(struct stale_set));
}

static void gen_clear(struct gen *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i].key);
	g->n = 0;
}

void stale_free(struct stale_set *s)
{
	if (!s)
		return;
	gen_clear(&s->prev);
	gen_clear(&s->cur);
	free(s->prev.v);
	free(s->cur.v);
	free(s);
}

/* One allocation per entry: key, then the labels array, then the name and
 * label strings. */
int stale_note(struct stale_set *s, const struct bm_sample *smp)
{
	size_t klen = store_series_text(smp->name, smp->labels, smp->n_labels, NULL, 0) + 1;
	size_t strs = strlen(smp->name) + 1;
	for (uint32_t i = 0; i < smp->n_labels; i++)
		strs += strlen(smp->labels[i].name) + strlen(smp->labels[i].value) + 2;
	size_t lbytes = smp->n_labels * sizeof(struct bm_label);
	size_t pad = (klen + 7) & ~(size_t)7;
	if (BM_VEC_RESERVE(s->cur.v, s->cur.cap, s->cur.n + 1))
		return BM_ENOMEM;
	char *block = malloc(pad + lbytes + strs);
	if (!block)
		return BM_ENOMEM;
	struct stale_entry *e = &s->cur.v[s->cur.n++];
	e->key = block;
	store_series_text(smp->name, smp->labels, smp->n_labels, block, klen);
	e->labels = (struct bm_label *)(block + pad);
	char *p = block + pad + lbytes;
	e->name = p;
	p = stpcpy(p, smp->name) + 1;
	for (uint32_t i = 0; i < smp->n_labels; i++) {
		e->labels[i].name = p;
		p = stpcpy(p, smp->labels[i].name) + 1;
		e->labels[i].value = p;
		p = stpcpy(p, smp->labels[i].value) + 1;
	}
	e->n_labels = smp->n_labels;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct stale_entry *)a)->key, ((const struct stale_entry *)b)->key);
}

/* Sort and drop repeats (a series published twice in one collection). */
static void gen_sort(struct gen *g)
{
	if (g->n < 2)
		return; /* qsort must not see the NULL of an empty array */
	qsort(g->v, g->n, sizeof(*g->v), cmp_entry);
	size_t j = 0;
	for (size_t i = 0; i < g->n; i++) {
		if (j && strcmp(g->v[j - 1].key, g->v[i].key) == 0)
			free(g->v[i].key);
		else
			g->v[j++] = g->v[i];
	}
	g->n = j;
}

static size_t mark(struct bm_batch *out, const struct stale_entry *e, int64_t ts)
{
	int64_t saved = out->ts_ms;
	out->ts_ms = ts;
	int rc = bm_batch_add(out, e->name, bm_stale_nan(), e->labels, e->n_labels);
	out->ts_ms = saved;
	return rc == 0;
}

size_t stale_sweep(struct stale_set *s, struct bm_batch *out, int64_t ts, bool all)
{
	size_t n = 0, i = 0, j = 0;
	gen_sort(&s->cur);
	while (i < s->prev.n) {
		int c = j < s->cur.n ? strcmp(s->prev.v[i].key, s->cur.v[j].key) : -1;
		if (c < 0)
			n += mark(out, &s->prev.v[i++], ts); /* gone */
		else if (c > 0)
			j++;
		else {
			i++;
			j++;
		}
	}
	for (size_t k = 0; all && k < s->cur.n; k++)
		n += mark(out, &s->cur.v[k], ts);
	gen_clear(&s->prev);
	struct gen t = s->prev;
	s->prev = s->cur;
	s->cur = t;
	if (all)
		gen_clear(&s->prev);
	return n;
}

void stale_discard(struct stale_set *s)
{
	gen_clear(&s->cur);
}
