/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The series each target published in its latest scrape, so that a
 * series it stops exposing (or every series, when it goes down or away)
 * gets Prometheus' stale marker: a dense array of entries plus an open
 * addressing index on a 64-bit hash of name and sorted labels. Only a new
 * series allocates (one block holding its strings).
 */
#include "scrape.h"

#include <stdlib.h>
#include <string.h>

static size_t slot(uint64_t h, size_t cap)
{
	return (size_t)(h * 0x9e3779b97f4a7c15ULL) & (cap - 1);
}

/* The index slot holding h, or the empty slot where it would go. */
static size_t probe(const struct series_set *ss, uint64_t h)
{
	size_t i = slot(h, ss->index_cap);
	while (ss->index[i] && ss->v[ss->index[i] - 1].hash != h)
		i = (i + 1) & (ss->index_cap - 1);
	return i;
}

/* Rebuild the index at cap slots (the same cap: in place, no
 * allocation, so a sweep cannot fail). */
static int reindex(struct series_set *ss, size_t cap)
{
	if (cap != ss->index_cap) {
		uint32_t *idx = calloc(cap, sizeof(*idx));
		if (!idx)
			return BM_ENOMEM;
		free(ss->index);
		ss->index = idx;
		ss->index_cap = cap;
	} else {
		memset(ss->index, 0, cap * sizeof(*ss->index));
	}
	for (size_t k = 0; k < ss->n; k++)
		ss->index[probe(ss, ss->v[k].hash)] = (uint32_t)k + 1;
	return 0;
}

void series_begin(struct series_set *ss)
{
	ss->gen++;
}

static char *make_blob(const struct bm_sample *smp)
{
	size_t len = strlen(smp->name) + 1;
	for (uint32_t i = 0; i < smp->n_labels; i++)
		len += strlen(smp->labels[i].name) + strlen(smp->labels[i].value) + 2;
	char *blob = malloc(len);
	if (!blob)
		return NULL;
	char *p = stpcpy(blob, smp->name) + 1;
	for (uint32_t i = 0; i < smp->n_labels; i++) {
		p = stpcpy(p, smp->labels[i].name) + 1;
		p = stpcpy(p, smp->labels[i].value) + 1;
	}
	return blob;
}

static int grow(struct series_set *ss)
{
	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 64;
		struct series_entry *v = realloc(ss->v, cap * sizeof(*v));
		if (!v)
			return BM_ENOMEM;
		ss->v = v;
		ss->cap = cap;
	}
	if ((ss->n + 1) * 2 > ss->index_cap) /* load under one half */
		return reindex(ss, ss->index_cap ? ss->index_cap * 2 : 128);
	return 0;
}

enum series_note series_note(struct series_set *ss, const struct bm_sample *smp)
{
	uint64_t h = bm_hash_series(smp->name, smp->labels, smp->n_labels);
	if (grow(ss))
		return SERIES_NOMEM;
	size_t i = probe(ss, h);
	if (ss->index[i]) {
		struct series_entry *e = &ss->v[ss->index[i] - 1];
		if (e->gen == ss->gen)
			return SERIES_DUPLICATE;
		e->gen = ss->gen;
		return SERIES_SEEN;
	}
	char *blob = make_blob(smp);
	if (!blob)
		return SERIES_NOMEM;
	ss->v[ss->n] = (struct series_entry){h, ss->gen, blob, smp->n_labels};
	ss->index[i] = (uint32_t)++ss->n;
	return SERIES_NEW;
}

/* The stale marker of e, from its blob. */
static size_t mark(struct bm_batch *b, const struct series_entry *e, int64_t ts)
{
	struct bm_label l[EXPFMT_MAX_LABELS + 8];
	const char *p = e->blob;
	const char *name = p;
	p += strlen(p) + 1;
	uint32_t n = e->n_labels < sizeof(l) / sizeof(l[0]) ? e->n_labels : sizeof(l) / sizeof(l[0]);
	for (uint32_t i = 0; i < n; i++) {
		l[i].name = p;
		p += strlen(p) + 1;
		l[i].value = p;
		p += strlen(p) + 1;
	}
	if (bm_batch_add(b, name, bm_stale_nan(), l, n))
		return 0;
	b->samples[b->n - 1].ts_ms = ts;
	return 1;
}

size_t series_sweep(struct series_set *ss, struct bm_batch *b, int64_t ts)
{
	size_t marked = 0, j = 0;
	for (size_t k = 0; k < ss->n; k++) {
		if (ss->v[k].gen == ss->gen) {
			ss->v[j++] = ss->v[k];
			continue;
		}
		marked += mark(b, &ss->v[k], ts);
		free(ss->v[k].blob);
	}
	if (j != ss->n) {
		ss->n = j;
		reindex(ss, ss->index_cap);
	}
	return marked;
}

void series_free(struct series_set *ss)
{
	for (size_t k = 0; k < ss->n; k++)
		free(ss->v[k].blob);
	free(ss->v);
	free(ss->index);
	memset(ss, 0, sizeof(*ss));
}
