/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-source series limiter: a set of 64-bit series hashes (open
 * addressing, linear probing) with a last-seen generation each. A 64-bit
 * FNV-1a collision between two live series of one source is negligible
 * (n^2 / 2^65), and costs at worst one series admitted past the limit.
 */
#include "cardinality.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_hash.h>

static bool fits(const struct card_limits *lim, const char *name, const struct bm_label *l,
		 size_t n)
{
	if (lim->max_labels && n > lim->max_labels)
		return false;
	if (lim->max_name_len && strlen(name) > lim->max_name_len)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (lim->max_name_len && strlen(l[i].name) > lim->max_name_len)
			return false;
		if (lim->max_value_len && strlen(l[i].value) > lim->max_value_len)
			return false;
	}
	return true;
}

/* Slot of key, or the empty slot where it would go. */
static size_t probe(const uint64_t *keys, size_t cap, uint64_t key)
{
	size_t i = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (cap - 1);
	while (keys[i] && keys[i] != key)
		i = (i + 1) & (cap - 1);
	return i;
}

static int rehash(struct card_limiter *c, size_t cap, bool drop_idle)
{
	uint64_t *keys = calloc(cap, sizeof(*keys));
	uint32_t *seen = calloc(cap, sizeof(*seen));
	if (!keys || !seen) {
		free(keys);
		free(seen);
		return -ENOMEM;
	}
	size_t n = 0;
	for (size_t i = 0; i < c->cap; i++) {
		if (!c->keys[i])
			continue;
		if (drop_idle && c->gen - c->seen[i] >= c->lim.idle_sweeps)
			continue;
		size_t j = probe(keys, cap, c->keys[i]);
		keys[j] = c->keys[i];
		seen[j] = c->seen[i];
		n++;
	}
	free(c->keys);
	free(c->seen);
	c->keys = keys;
	c->seen = seen;
	c->cap = cap;
	c->n = n;
	return 0;
}

int card_init(struct card_limiter *c, const struct card_limits *lim)
{
	memset(c, 0, sizeof(*c));
	c->lim = *lim;
	c->cap = 64;
	c->keys = calloc(c->cap, sizeof(*c->keys));
	c->seen = calloc(c->cap, sizeof(*c->seen));
	if (!c->keys || !c->seen) {
		card_free(c);
		return -ENOMEM;
	}
	return 0;
}

void card_free(struct card_limiter *c)
{
	free(c->keys);
	free(c->seen);
	c->keys = NULL;
	c->seen = NULL;
	c->cap = c->n = 0;
}

bool card_admit(struct card_limiter *c, const char *name, const struct bm_label *labels,
		size_t n_labels)
{
	if (!fits(&c->lim, name, labels, n_labels)) {
		c->dropped_labels++;
		return false;
	}
	uint64_t key = bm_hash_series(name, labels, n_labels);
	size_t i = probe(c->keys, c->cap, key);
	if (c->keys[i]) {
		c->seen[i] = c->gen;
		return true;
	}
	if (c->lim.max_series && c->n >= c->lim.max_series) {
		c->dropped_series++;
		return false;
	}
	if ((c->n + 1) * 2 > c->cap) { /* keep the load under one half */
		if (rehash(c, c->cap * 2, false))
			return false; /* out of memory: refuse rather than grow */
		i = probe(c->keys, c->cap, key);
	}
	c->keys[i] = key;
	c->seen[i] = c->gen;
	c->n++;
	return true;
}

void card_sweep(struct card_limiter *c)
{
	c->gen++;
	if (!c->lim.idle_sweeps)
		return;
	for (size_t i = 0; i < c->cap; i++) {
		if (c->keys[i] && c->gen - c->seen[i] >= c->lim.idle_sweeps) {
			(void)rehash(c, c->cap, true); /* on ENOMEM keep the old set */
			return;
		}
	}
}

void card_clear(struct card_limiter *c)
{
	memset(c->keys, 0, c->cap * sizeof(*c->keys));
	memset(c->seen, 0, c->cap * sizeof(*c->seen));
	c->n = 0;
}
