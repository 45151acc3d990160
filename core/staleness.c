/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Staleness markers (see staleness.h). The series of an instance live in
 * an open-addressing hash set keyed by a 64-bit hash of name and labels;
 * a series' own copy of its name and labels is made once, when it is new,
 * and "seen in this collection" is one store of the collection's number.
 * Hand-written: the core links no hash-set library, and this one needs a
 * per-slot collection number and a sweep that deletes while it walks.
 */
#include "staleness.h"

#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_hash.h"

/* A series' name and labels, one allocation (the labels array first). */
struct stale_series {
	const char *name;
	struct bm_label *labels;
	uint32_t n_labels;
};

struct stale_slot {
	uint64_t hash;
	struct stale_series *series; /* NULL: the slot is free */
	uint32_t seen;		     /* the last collection that noted it */
	bool in_prev;		     /* part of the last swept collection */
};

struct stale_set {
	struct stale_slot *slots;
	size_t cap, n; /* cap: a power of two, or 0 before the first note */
	uint32_t gen;  /* the collection under way (never reset) */
	uint64_t (*hash_fn)(const struct bm_sample *smp);
};

#define STALE_MIN_CAP 64

static uint64_t series_hash(const struct bm_sample *smp)
{
	return bm_hash_series(smp->name, smp->labels, smp->n_labels);
}

struct stale_set *stale_new(void)
{
	return stale_new_hashed(NULL);
}

struct stale_set *stale_new_hashed(uint64_t (*hash_fn)(const struct bm_sample *smp))
{
	struct stale_set *s = calloc(1, sizeof(*s));
	if (s) {
		s->gen = 1;
		s->hash_fn = hash_fn ? hash_fn : series_hash;
	}
	return s;
}

void stale_free(struct stale_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i].series);
	free(s->slots);
	free(s);
}

size_t stale_count(const struct stale_set *s)
{
	return s->n;
}

static struct stale_series *series_copy(const struct bm_sample *smp)
{
	size_t strs = strlen(smp->name) + 1;
	for (uint32_t i = 0; i < smp->n_labels; i++)
		strs += strlen(smp->labels[i].name) + strlen(smp->labels[i].value) + 2;
	size_t lbytes = smp->n_labels * sizeof(struct bm_label);
	struct stale_series *ser = malloc(sizeof(*ser) + lbytes + strs);
	if (!ser)
		return NULL;
	ser->labels = (struct bm_label *)(ser + 1);
	char *p = (char *)ser->labels + lbytes;
	ser->name = p;
	p = stpcpy(p, smp->name) + 1;
	for (uint32_t i = 0; i < smp->n_labels; i++) {
		ser->labels[i].name = p;
		p = stpcpy(p, smp->labels[i].name) + 1;
		ser->labels[i].value = p;
		p = stpcpy(p, smp->labels[i].value) + 1;
	}
	ser->n_labels = smp->n_labels;
	return ser;
}

/* Equal hashes are not proof: the real name and labels decide. */
static bool same_series(const struct stale_series *ser, const struct bm_sample *smp)
{
	if (ser->n_labels != smp->n_labels || strcmp(ser->name, smp->name) != 0)
		return false;
	for (uint32_t i = 0; i < ser->n_labels; i++)
		if (strcmp(ser->labels[i].name, smp->labels[i].name) != 0 ||
		    strcmp(ser->labels[i].value, smp->labels[i].value) != 0)
			return false;
	return true;
}

/* Linear probing: the slot holding smp's series, or the free slot where
 * it goes. The table always has a free slot (load <= 1/2). */
static struct stale_slot *probe(struct stale_set *s, uint64_t h, const struct bm_sample *smp)
{
	size_t mask = s->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct stale_slot *sl = &s->slots[i];
		if (!sl->series || (sl->hash == h && same_series(sl->series, smp)))
			return sl;
	}
}

/* Place a slot in a table being rebuilt: its series is not there yet, so
 * only a free slot is looked for. */
static void place(struct stale_slot *slots, size_t cap, const struct stale_slot *from)
{
	size_t i = from->hash & (cap - 1);
	while (slots[i].series)
		i = (i + 1) & (cap - 1);
	slots[i] = *from;
}

/* Move every series to a table of cap slots (a power of two). */
static int resize(struct stale_set *s, size_t cap)
{
	struct stale_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return BM_ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i].series)
			place(slots, cap, &s->slots[i]);
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

int stale_note(struct stale_set *s, const struct bm_sample *smp)
{
	if ((s->n + 1) * 2 > s->cap && resize(s, s->cap ? s->cap * 2 : STALE_MIN_CAP))
		return BM_ENOMEM;
	uint64_t h = s->hash_fn(smp);
	struct stale_slot *sl = probe(s, h, smp);
	if (!sl->series) {
		if (!(sl->series = series_copy(smp)))
			return BM_ENOMEM;
		sl->hash = h;
		sl->in_prev = false;
		s->n++;
	}
	sl->seen = s->gen;
	return 0;
}

/* Free slot i and close the gap (backward-shift deletion), so lookups
 * need no tombstones: later members of its run that may sit earlier move
 * back. Only slots after i in the run move, to positions from i on. */
static void remove_at(struct stale_set *s, size_t i)
{
	size_t mask = s->cap - 1;
	free(s->slots[i].series);
	s->slots[i].series = NULL;
	s->n--;
	for (size_t j = (i + 1) & mask; s->slots[j].series; j = (j + 1) & mask) {
		size_t home = s->slots[j].hash & mask;
		/* j may move to the hole at i unless its home lies in (i, j] */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		s->slots[i] = s->slots[j];
		s->slots[j].series = NULL;
		i = j;
	}
}

static size_t mark(struct bm_batch *out, const struct stale_series *ser, int64_t ts)
{
	int64_t saved = out->ts_ms;
	out->ts_ms = ts;
	int rc = bm_batch_add(out, ser->name, bm_stale_nan(), ser->labels, ser->n_labels);
	out->ts_ms = saved;
	return rc == 0;
}

/* What the sweep does with one series: keep it (noted in this
 * collection), or drop it, with a marker when it had been published. */
static bool sweep_keeps(const struct stale_slot *sl, uint32_t gen, bool all, bool *marked)
{
	bool in_cur = sl->seen == gen;
	*marked = sl->in_prev || (all && in_cur);
	return in_cur && !all;
}

/* Walks every slot once, starting at a free one: a deletion only moves
 * slots not yet visited to positions not yet visited, so the slot just
 * emptied is looked at again instead of stepping on. A set left mostly
 * empty (a burst of series that went) halves, so that the walk stays in
 * proportion to the series there are; growing back needs 4 times more. */
size_t stale_sweep(struct stale_set *s, struct bm_batch *out, int64_t ts, bool all)
{
	size_t n = 0;
	if (s->n) {
		size_t mask = s->cap - 1, start = 0;
		while (s->slots[start].series)
			start++;
		size_t i = start;
		for (size_t steps = 0; steps < s->cap;) {
			struct stale_slot *sl = &s->slots[i];
			bool marked;
			if (sl->series && !sweep_keeps(sl, s->gen, all, &marked)) {
				if (marked)
					n += mark(out, sl->series, ts);
				remove_at(s, i);
				continue; /* slot i may hold a moved series now */
			}
			if (sl->series)
				sl->in_prev = true;
			i = (i + 1) & mask;
			steps++;
		}
	}
	if (s->cap > STALE_MIN_CAP && s->n * 8 < s->cap)
		resize(s, s->cap / 2); /* no memory: the bigger table still works */
	/* every slot now holds this number or a later one: a wrap would need
	 * 2^32 failed collections in a row */
	s->gen++;
	return n;
}

void stale_discard(struct stale_set *s)
{
	s->gen++;
}
