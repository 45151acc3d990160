/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Label sets of one PromQL query, interned in an open-addressing table so
 * that equal sets are one pointer (group keys, matching signatures and
 * output series are then compared by address), plus a pointer-keyed map.
 * Both tables are ours: libc's hsearch is global and not reentrant.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_hash.h"
#include "bearmon/bm_vec.h"
#include "promql_eval.h"

static uint64_t hash_labels(const struct bm_label *l, size_t n)
{
	return bm_hash_labels(BM_HASH_INIT, l, n);
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct bm_label *)a)->name, ((const struct bm_label *)b)->name);
}

static bool same(const struct pq_labels *s, const struct bm_label *l, size_t n, uint64_t h)
{
	if (s->hash != h || s->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->l[i].name, l[i].name) || strcmp(s->l[i].value, l[i].value))
			return false;
	return true;
}

static int intern_grow(struct pq_ev *ev)
{
	size_t cap = ev->intern_cap ? ev->intern_cap * 2 : 256;
	const struct pq_labels **t = calloc(cap, sizeof(*t));
	if (!t)
		return PROMQL_ENOMEM;
	for (size_t i = 0; i < ev->intern_cap; i++) {
		const struct pq_labels *s = ev->intern[i];
		if (!s)
			continue;
		size_t j = s->hash & (cap - 1);
		while (t[j])
			j = (j + 1) & (cap - 1);
		t[j] = s;
	}
	free(ev->intern);
	ev->intern = t;
	ev->intern_cap = cap;
	return 0;
}

/* l must be sorted. */
static const struct pq_labels *intern_sorted(struct pq_ev *ev, const struct bm_label *l, size_t n)
{
	if ((ev->intern_n + 1) * 2 > ev->intern_cap && intern_grow(ev))
		return NULL;
	uint64_t h = hash_labels(l, n);
	size_t j = h & (ev->intern_cap - 1);
	for (; ev->intern[j]; j = (j + 1) & (ev->intern_cap - 1))
		if (same(ev->intern[j], l, n, h))
			return ev->intern[j];
	struct pq_labels *s = bm_arena_alloc(&ev->arena, sizeof(*s) + n * sizeof(s->l[0]));
	if (!s)
		return NULL;
	s->hash = h;
	s->n = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		s->l[i].name = bm_arena_strndup(&ev->arena, l[i].name, strlen(l[i].name));
		s->l[i].value = bm_arena_strndup(&ev->arena, l[i].value, strlen(l[i].value));
		if (!s->l[i].name || !s->l[i].value)
			return NULL;
	}
	ev->intern[j] = s;
	ev->intern_n++;
	return s;
}

static struct bm_label *scratch(struct pq_ev *ev, size_t n)
{
	return BM_VEC_RESERVE(ev->scratch, ev->scratch_cap, n ? n : 1) ? NULL : ev->scratch;
}

const struct pq_labels *pq_labels_intern(struct pq_ev *ev, const struct bm_label *l, size_t n)
{
	struct bm_label *s = scratch(ev, n);
	if (!s)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (l[i].value[0]) /* an empty value is the same as absent */
			s[k++] = l[i];
	qsort(s, k, sizeof(*s), cmp_label);
	return intern_sorted(ev, s, k);
}

static bool listed(const char *name, char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

const struct pq_labels *pq_labels_filter(struct pq_ev *ev, const struct pq_labels *l,
					 char *const *names, size_t n, bool keep, bool remove_name)
{
	struct bm_label *s = scratch(ev, l->n);
	if (!s)
		return NULL;
	size_t k = 0;
	for (uint32_t i = 0; i < l->n; i++) {
		if (remove_name && strcmp(l->l[i].name, "__name__") == 0)
			continue;
		if (listed(l->l[i].name, names, n) == keep)
			s[k++] = l->l[i];
	}
	return k == l->n ? l : intern_sorted(ev, s, k);
}

const struct pq_labels *pq_labels_drop_name(struct pq_ev *ev, const struct pq_labels *l)
{
	if (l->n == 0 || !*pq_labels_get(l, "__name__"))
		return l;
	return pq_labels_filter(ev, l, NULL, 0, false, true);
}

const struct pq_labels *pq_labels_set(struct pq_ev *ev, const struct pq_labels *l, const char *name,
				      const char *value)
{
	struct bm_label *s = scratch(ev, l->n + 1);
	if (!s)
		return NULL;
	size_t k = 0;
	for (uint32_t i = 0; i < l->n; i++)
		if (strcmp(l->l[i].name, name) != 0)
			s[k++] = l->l[i];
	if (value[0])
		s[k++] = (struct bm_label){name, value};
	qsort(s, k, sizeof(*s), cmp_label);
	return intern_sorted(ev, s, k);
}

const char *pq_labels_get(const struct pq_labels *l, const char *name)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (strcmp(l->l[i].name, name) == 0)
			return l->l[i].value;
	return "";
}

int pq_labels_cmp(const struct pq_labels *a, const struct pq_labels *b)
{
	if (a == b)
		return 0;
	uint32_t n = a->n < b->n ? a->n : b->n;
	for (uint32_t i = 0; i < n; i++) {
		int c = strcmp(a->l[i].name, b->l[i].name);
		if (c)
			return c;
		c = strcmp(a->l[i].value, b->l[i].value);
		if (c)
			return c;
	}
	return (a->n > b->n) - (a->n < b->n);
}

/* One "..." value with \\ \" \n escapes into out; returns the character
 * after the closing quote or NULL. */
static const char *unescape_value(const char *p, char *out)
{
	size_t o = 0;
	for (p++; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			out[o++] = *p == 'n' ? '\n' : *p;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return *p == '"' ? p + 1 : NULL;
}

int promql_series_text_each(const char *text, void (*cb)(void *u, const char *name, const char *value),
			void *u)
{
	size_t len = strlen(text);
	char *buf = malloc(2 * len + 2); /* the name, then names and values */
	if (!buf)
		return PROMQL_ENOMEM;
	const char *brace = strchr(text, '{');
	size_t nl = brace ? (size_t)(brace - text) : len;
	memcpy(buf, text, nl);
	buf[nl] = '\0';
	if (nl)
		cb(u, "__name__", buf);
	char *vp = buf + nl + 1;
	const char *p = brace ? brace + 1 : NULL;
	while (p && *p && *p != '}') {
		const char *eq = strchr(p, '=');
		if (!eq || eq[1] != '"')
			break;
		char *name = vp;
		memcpy(name, p, (size_t)(eq - p));
		name[eq - p] = '\0';
		vp += eq - p + 1;
		const char *next = unescape_value(eq + 1, vp);
		if (!next)
			break;
		cb(u, name, vp);
		vp += strlen(vp) + 1;
		p = *next == ',' ? next + 1 : next;
	}
	free(buf);
	return 0;
}

struct text_labels {
	struct pq_ev *ev;
	struct bm_label l[128];
	size_t n;
	struct bm_arena tmp;
	bool oom;
};

static void add_text_label(void *u, const char *name, const char *value)
{
	struct text_labels *t = u;
	if (t->n == sizeof(t->l) / sizeof(t->l[0]))
		return;
	const char *n = bm_arena_strndup(&t->tmp, name, strlen(name));
	const char *v = bm_arena_strndup(&t->tmp, value, strlen(value));
	if (!n || !v)
		t->oom = true;
	else
		t->l[t->n++] = (struct bm_label){n, v};
}

const struct pq_labels *pq_labels_from_text(struct pq_ev *ev, const char *text)
{
	struct text_labels t = {.ev = ev};
	const struct pq_labels *r = NULL;
	if (promql_series_text_each(text, add_text_label, &t) == 0 && !t.oom)
		r = pq_labels_intern(ev, t.l, t.n);
	bm_arena_free(&t.tmp);
	return r;
}

void pq_labels_free_all(struct pq_ev *ev)
{
	free(ev->intern);
	free(ev->scratch);
	ev->intern = NULL;
	ev->scratch = NULL;
	ev->intern_cap = ev->intern_n = ev->scratch_cap = 0;
}

/* --- pointer map ------------------------------------------------------------ */

static size_t phash(const void *k, size_t cap)
{
	uint64_t x = (uint64_t)(uintptr_t)k;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

size_t pq_pmap_get(const struct pq_pmap *m, const void *key)
{
	if (!m->cap)
		return SIZE_MAX;
	for (size_t j = phash(key, m->cap); m->k[j]; j = (j + 1) & (m->cap - 1))
		if (m->k[j] == key)
			return m->v[j];
	return SIZE_MAX;
}

static int pmap_grow(struct pq_pmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	const void **k = calloc(cap, sizeof(*k));
	size_t *v = calloc(cap, sizeof(*v));
	if (!k || !v) {
		free(k);
		free(v);
		return PROMQL_ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->k[i])
			continue;
		size_t j = phash(m->k[i], cap);
		while (k[j])
			j = (j + 1) & (cap - 1);
		k[j] = m->k[i];
		v[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	m->k = k;
	m->v = v;
	m->cap = cap;
	return 0;
}

int pq_pmap_put(struct pq_pmap *m, const void *key, size_t value)
{
	if ((m->n + 1) * 2 > m->cap && pmap_grow(m))
		return PROMQL_ENOMEM;
	size_t j = phash(key, m->cap);
	while (m->k[j] && m->k[j] != key)
		j = (j + 1) & (m->cap - 1);
	if (!m->k[j])
		m->n++;
	m->k[j] = key;
	m->v[j] = value;
	return 0;
}

void pq_pmap_clear(struct pq_pmap *m)
{
	if (m->cap)
		memset(m->k, 0, m->cap * sizeof(*m->k));
	m->n = 0;
}

void pq_pmap_free(struct pq_pmap *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

int pq_vec_push(struct pq_ev *ev, struct pq_vec *v, const struct pq_labels *l, double val, int64_t t)
{
	if (!l || BM_VEC_RESERVE(v->s, v->cap, v->n + 1))
		return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	v->s[v->n++] = (struct pq_sample){l, val, t};
	return 0;
}
