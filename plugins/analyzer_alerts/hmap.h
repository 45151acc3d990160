/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An open-addressing hash set of pointers keyed by a 64-bit hash the
 * caller computes (with al_hash_*), and the FNV-1a hash itself. The engine
 * keeps metric names, series, instances and groups in these.
 */
#ifndef BEARMON_ALERTS_HMAP_H
#define BEARMON_ALERTS_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_hash.h>

struct al_hslot {
	uint64_t hash;
	void *item; /* NULL: empty; AL_HMAP_TOMB: deleted */
};

struct al_hmap {
	struct al_hslot *slots;
	size_t cap;  /* power of two, or 0 */
	size_t n;    /* items */
	size_t used; /* items + tombstones */
};

extern char al_hmap_tomb;
#define AL_HMAP_TOMB ((void *)&al_hmap_tomb)

/* The item with this hash for which eq(item, key) holds, or NULL. */
void *al_hmap_get(const struct al_hmap *m, uint64_t hash,
		  bool (*eq)(const void *item, const void *key), const void *key);
/* Add item (not already present): 0 or -1 (out of memory). */
int al_hmap_put(struct al_hmap *m, uint64_t hash, void *item);
/* Remove this very item. */
void al_hmap_del(struct al_hmap *m, uint64_t hash, const void *item);
void al_hmap_free(struct al_hmap *m);
/* Iterate: for (size_t i = 0; i < m->cap; i++) if (al_hmap_live(m, i)) ... */
static inline bool al_hmap_live(const struct al_hmap *m, size_t i)
{
	return m->slots[i].item && m->slots[i].item != AL_HMAP_TOMB;
}

/* FNV-1a, 64 bits (bm_hash.h): fingerprints need stability across runs
 * and machines, not strength against attackers. */
#define AL_HASH_INIT BM_HASH_INIT
/* The bytes of s and its NUL, so "ab","c" and "a","bc" differ. */
uint64_t al_hash_str(uint64_t h, const char *s);

#endif
