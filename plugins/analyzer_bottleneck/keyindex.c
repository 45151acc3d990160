/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open-addressing (linear probing) string index, see keyindex.h.
 * Hand-written: hsearch_r(3) can neither grow nor forget keys, jansson's
 * objects map strings to json_t only, and none of the project's libraries
 * offers a plain C hash map.
 */
#include "keyindex.h"

#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_hash.h>

uint32_t ki_hash(const char *key)
{
	uint64_t h = bm_hash_bytes(BM_HASH_INIT, key, strlen(key));
	return (uint32_t)(h ^ h >> 32);
}

long ki_find(const struct keyindex *ki, const char *key, uint32_t hash)
{
	if (!ki->cap)
		return -1;
	for (size_t i = hash & (ki->cap - 1);; i = (i + 1) & (ki->cap - 1)) {
		const struct ki_slot *s = &ki->slots[i];
		if (!s->key)
			return -1;
		if (s->hash == hash && strcmp(s->key, key) == 0)
			return (long)s->idx;
	}
}

static void ki_place(struct ki_slot *slots, size_t cap, const struct ki_slot *in)
{
	size_t i = in->hash & (cap - 1);
	while (slots[i].key)
		i = (i + 1) & (cap - 1);
	slots[i] = *in;
}

/* Keep the load at or under one half so that probes stay short. */
static int ki_grow(struct keyindex *ki)
{
	size_t cap = ki->cap ? ki->cap * 2 : 64;
	struct ki_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return BM_ENOMEM;
	for (size_t i = 0; i < ki->cap; i++)
		if (ki->slots[i].key)
			ki_place(slots, cap, &ki->slots[i]);
	free(ki->slots);
	ki->slots = slots;
	ki->cap = cap;
	return 0;
}

int ki_insert(struct keyindex *ki, const char *key, uint32_t hash, uint32_t idx)
{
	if ((ki->n + 1) * 2 > ki->cap && ki_grow(ki))
		return BM_ENOMEM;
	struct ki_slot s = {key, hash, idx};
	ki_place(ki->slots, ki->cap, &s);
	ki->n++;
	return 0;
}

void ki_clear(struct keyindex *ki)
{
	if (ki->cap)
		memset(ki->slots, 0, ki->cap * sizeof(*ki->slots));
	ki->n = 0;
}

void ki_free(struct keyindex *ki)
{
	free(ki->slots);
	memset(ki, 0, sizeof(*ki));
}
