/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Custom metric series of one agent (series.h): a dense array of entries
 * and an open-addressing index on a 64-bit FNV-1a hash of the sample's
 * bytes. A hit is confirmed byte for byte, so a collision (even a crafted
 * one) can never publish a sample under another series' name.
 */
#include "series.h"

#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_vec.h>

uint64_t series_hash(const struct ap_sample *smp)
{
	uint64_t h = bm_hash_field_n(BM_HASH_INIT, smp->name.p, smp->name.n);
	for (uint32_t i = 0; i < smp->n_labels; i++) {
		h = bm_hash_field_n(h, smp->labels[i].k.p, smp->labels[i].k.n);
		h = bm_hash_field_n(h, smp->labels[i].v.p, smp->labels[i].v.n);
	}
	return h;
}

/* Compare one slice with the NUL-terminated string at *b, advancing *b. */
static bool take(const char **b, const struct ap_str *s)
{
	if (memcmp(*b, s->p, s->n) != 0 || (*b)[s->n] != '\0')
		return false;
	*b += s->n + 1;
	return true;
}

static bool same(const struct cseries *e, const struct ap_sample *smp)
{
	if (e->n_own != smp->n_labels)
		return false;
	const char *b = e->blob;
	if (!take(&b, &smp->name))
		return false;
	for (uint32_t i = 0; i < smp->n_labels; i++)
		if (!take(&b, &smp->labels[i].k) || !take(&b, &smp->labels[i].v))
			return false;
	return true;
}

static size_t slot_of(uint64_t hash, size_t cap)
{
	return (size_t)(hash * 0x9e3779b97f4a7c15ULL >> 17) & (cap - 1);
}

struct cseries *series_find(struct series_table *t, const struct ap_sample *smp, uint64_t hash)
{
	if (!t->cap_slots)
		return NULL;
	for (size_t i = slot_of(hash, t->cap_slots);; i = (i + 1) & (t->cap_slots - 1)) {
		uint32_t k = t->slots[i];
		if (!k)
			return NULL;
		struct cseries *e = &t->v[k - 1];
		if (e->hash == hash && same(e, smp))
			return e;
	}
}

static void index_put(struct series_table *t, size_t idx)
{
	size_t i = slot_of(t->v[idx].hash, t->cap_slots);
	while (t->slots[i])
		i = (i + 1) & (t->cap_slots - 1);
	t->slots[i] = (uint32_t)idx + 1;
}

/* Keep the index at most half full. */
static int index_grow(struct series_table *t, size_t n)
{
	if (2 * n <= t->cap_slots)
		return 0;
	size_t cap = t->cap_slots ? 2 * t->cap_slots : 64;
	uint32_t *s = calloc(cap, sizeof(*s));
	if (!s)
		return BM_ENOMEM;
	free(t->slots);
	t->slots = s;
	t->cap_slots = cap;
	for (size_t i = 0; i < t->n; i++)
		index_put(t, i);
	return 0;
}

/* The blob and the merged, sorted label array of a new entry. */
static int build(struct cseries *e, const struct ap_sample *smp, const struct bm_label *id,
		 size_t n_id)
{
	size_t len = smp->name.n + 1;
	for (uint32_t i = 0; i < smp->n_labels; i++)
		len += smp->labels[i].k.n + smp->labels[i].v.n + 2;
	e->blob = malloc(len);
	e->labels = malloc((smp->n_labels + n_id + 1) * sizeof(*e->labels));
	if (!e->blob || !e->labels)
		return BM_ENOMEM;
	char *b = e->blob;
	memcpy(b, smp->name.p, smp->name.n);
	b[smp->name.n] = '\0';
	b += smp->name.n + 1;
	for (uint32_t i = 0; i < smp->n_labels; i++) {
		const struct ap_kv *kv = &smp->labels[i];
		struct bm_label *l = &e->labels[i];
		l->name = b;
		memcpy(b, kv->k.p, kv->k.n);
		b[kv->k.n] = '\0';
		b += kv->k.n + 1;
		l->value = b;
		memcpy(b, kv->v.p, kv->v.n);
		b[kv->v.n] = '\0';
		b += kv->v.n + 1;
	}
	memcpy(e->labels + smp->n_labels, id, n_id * sizeof(*id));
	e->blob_len = (uint32_t)len;
	e->n_own = smp->n_labels;
	e->n_labels = smp->n_labels + (uint32_t)n_id;
	bm_labels_sort(e->labels, e->n_labels);
	return 0;
}

struct cseries *series_add(struct series_table *t, const struct ap_sample *smp, uint64_t hash,
			   const struct bm_label *id, size_t n_id)
{
	if (BM_VEC_RESERVE(t->v, t->cap, t->n + 1) || index_grow(t, t->n + 1))
		return NULL;
	struct cseries *e = &t->v[t->n];
	memset(e, 0, sizeof(*e));
	e->hash = hash;
	e->kind = (int)smp->kind;
	if (build(e, smp, id, n_id)) {
		free(e->blob);
		free(e->labels);
		return NULL;
	}
	index_put(t, t->n++);
	return e;
}

void series_drop_last(struct series_table *t)
{
	struct cseries *e = &t->v[t->n - 1];
	size_t i = slot_of(e->hash, t->cap_slots);
	while (t->slots[i] != t->n)
		i = (i + 1) & (t->cap_slots - 1);
	t->slots[i] = 0;
	/* re-place the entries after it in the same probe run */
	for (size_t j = (i + 1) & (t->cap_slots - 1); t->slots[j]; j = (j + 1) & (t->cap_slots - 1)) {
		uint32_t k = t->slots[j];
		t->slots[j] = 0;
		index_put(t, k - 1);
	}
	free(e->blob);
	free(e->labels);
	t->n--;
}

void series_clear(struct series_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].blob);
		free(t->v[i].labels);
	}
	t->n = 0;
	if (t->slots)
		memset(t->slots, 0, t->cap_slots * sizeof(*t->slots));
}

void series_free(struct series_table *t)
{
	series_clear(t);
	free(t->v);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static bool name_char(char c, bool first, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

bool valid_metric_name(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!name_char(p[i], i == 0, true))
			return false;
	return n > 0;
}

bool valid_label_name(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!name_char(p[i], i == 0, false))
			return false;
	return n > 0 && !(n >= 2 && p[0] == '_' && p[1] == '_');
}
