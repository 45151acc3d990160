/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A string-keyed index over a caller's dense array: key -> array position.
 * The keys are borrowed (they live in the array's elements); after the
 * array is compacted the caller clears the index and inserts again.
 */
#ifndef BEARMON_KEYINDEX_H
#define BEARMON_KEYINDEX_H

#include <stddef.h>
#include <stdint.h>

struct ki_slot {
	const char *key; /* NULL: empty slot */
	uint32_t hash;
	uint32_t idx;
};

struct keyindex {
	struct ki_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

/* FNV-1a of the NUL-terminated key. */
uint32_t ki_hash(const char *key);
/* Position of key, or -1. */
long ki_find(const struct keyindex *ki, const char *key, uint32_t hash);
/* Add key (absent, borrowed until ki_clear) at position idx: 0 or BM_ENOMEM. */
int ki_insert(struct keyindex *ki, const char *key, uint32_t hash, uint32_t idx);
/* Forget every key, keep the memory. */
void ki_clear(struct keyindex *ki);
void ki_free(struct keyindex *ki);

#endif
