/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hash set of pointers (see hmap.h): linear probing with tombstones, grown
 * at 70 % occupancy. Hand-written: libc's hsearch has one global table and
 * no deletion, and the engine needs several tables with deletion.
 */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

char al_hmap_tomb;

uint64_t al_hash_str(uint64_t h, const char *s)
{
	return bm_hash_bytes(h, s, strlen(s) + 1);
}

/* The slot a hash starts probing at: FNV's low bits cluster (series that
 * differ in one trailing label value), so they are mixed first (the
 * finaliser of MurmurHash3). */
static size_t home(uint64_t h, size_t cap)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (size_t)h & (cap - 1);
}

void *al_hmap_get(const struct al_hmap *m, uint64_t hash,
		  bool (*eq)(const void *item, const void *key), const void *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = home(hash, m->cap);; i = (i + 1) & (m->cap - 1)) {
		const struct al_hslot *s = &m->slots[i];
		if (!s->item)
			return NULL;
		if (s->item != AL_HMAP_TOMB && s->hash == hash && eq(s->item, key))
			return s->item;
	}
}

static void place(struct al_hslot *slots, size_t cap, uint64_t hash, void *item)
{
	size_t i = home(hash, cap);
	while (slots[i].item && slots[i].item != AL_HMAP_TOMB)
		i = (i + 1) & (cap - 1);
	slots[i] = (struct al_hslot){hash, item};
}

static int grow(struct al_hmap *m)
{
	size_t cap = m->cap ? m->cap : 16;
	while (m->n * 10 >= cap * 5)
		cap *= 2;
	struct al_hslot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (al_hmap_live(m, i))
			place(slots, cap, m->slots[i].hash, m->slots[i].item);
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	m->used = m->n;
	return 0;
}

int al_hmap_put(struct al_hmap *m, uint64_t hash, void *item)
{
	if ((m->used + 1) * 10 > m->cap * 7 && grow(m))
		return -1;
	size_t i = home(hash, m->cap);
	while (m->slots[i].item && m->slots[i].item != AL_HMAP_TOMB)
		i = (i + 1) & (m->cap - 1);
	if (!m->slots[i].item)
		m->used++;
	m->slots[i] = (struct al_hslot){hash, item};
	m->n++;
	return 0;
}

void al_hmap_del(struct al_hmap *m, uint64_t hash, const void *item)
{
	if (!m->cap)
		return;
	for (size_t i = home(hash, m->cap); m->slots[i].item; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].item == item) {
			m->slots[i].item = AL_HMAP_TOMB;
			m->n--;
			return;
		}
	}
}

void al_hmap_free(struct al_hmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
