/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header-only hashing for the StatsD tables: a seeded 64-bit hash of
 * byte strings (multiply-fold, wyhash style, 16 bytes a step) and an open
 * addressing index (linear probing, 64-bit hash and item number per slot)
 * that the tables of shard.c and series.c put their items in.
 */
#ifndef BEARMON_STATSD_HASH_H
#define BEARMON_STATSD_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t hash_mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/*
 * Keys come from the network: the seed is random per process, so that a
 * client cannot aim lines at one probe chain. Continue a hash over a
 * second string by passing the first one's result as seed.
 */
static inline uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
	for (; n >= 16; s += 16, n -= 16) {
		uint64_t a, b;
		memcpy(&a, s, 8);
		memcpy(&b, s + 8, 8);
		h ^= hash_mix(a ^ 0xa0761d6478bd642fULL ^ h, b ^ 0xe7037ed1a0b428dbULL);
	}
	if (n >= 8) {
		uint64_t a;
		memcpy(&a, s, 8);
		h ^= hash_mix(a ^ 0x8ebc6af09c88c6e3ULL ^ h, 0x589965cc75374cc3ULL);
		s += 8;
		n -= 8;
	}
	if (n) {
		uint64_t a = 0;
		memcpy(&a, s, n);
		h ^= hash_mix(a ^ 0x1d8e4e27c47d124fULL ^ h, 0xa0761d6478bd642fULL ^ n);
	}
	return hash_mix(h ^ 0xe7037ed1a0b428dbULL, 0x9e3779b97f4a7c15ULL);
}

/*
 * a[0..n) == b[0..n). Inline instead of memcmp: on the AVX-512 machines
 * of the benchmark, glibc's __memcmp_evex_movbe took some 60 ns a call on
 * the 20-40 byte keys of the hot path (half the cost of a line); this
 * takes 2.
 */
static inline bool bytes_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;
	for (; n >= 8; p += 8, q += 8, n -= 8) {
		uint64_t x, y;
		memcpy(&x, p, 8);
		memcpy(&y, q, 8);
		if (x != y)
			return false;
	}
	for (; n; n--)
		if (*p++ != *q++)
			return false;
	return true;
}

/* item is the item's number + 1; 0 marks an empty slot. */
struct hslot {
	uint64_t hash;
	uint32_t item;
};

/* Capacity is a power of two, at most half full. A zeroed struct is an
 * empty index without memory (hindex_reserve before the first insert). */
struct hindex {
	struct hslot *slots;
	size_t mask; /* capacity - 1 */
	size_t n;
};

/* Empty slot where hash goes: only after a failed lookup. */
static inline size_t hindex_free_slot(const struct hindex *x, uint64_t hash)
{
	size_t i = hash & x->mask;
	while (x->slots[i].item)
		i = (i + 1) & x->mask;
	return i;
}

/* Room for n items; rehashes what is there. 0 or -1 (out of memory). */
static inline int hindex_reserve(struct hindex *x, size_t n)
{
	size_t cap = x->slots ? x->mask + 1 : 0;
	if (n * 2 <= cap)
		return 0;
	size_t c = cap ? cap : 64;
	while (c < n * 2)
		c *= 2;
	struct hindex y = {calloc(c, sizeof(struct hslot)), c - 1, x->n};
	if (!y.slots)
		return -1;
	for (size_t i = 0; i < cap; i++)
		if (x->slots[i].item)
			y.slots[hindex_free_slot(&y, x->slots[i].hash)] = x->slots[i];
	free(x->slots);
	*x = y;
	return 0;
}

static inline void hindex_put(struct hindex *x, uint64_t hash, uint32_t item)
{
	struct hslot *s = &x->slots[hindex_free_slot(x, hash)];
	s->hash = hash;
	s->item = item + 1;
	x->n++;
}

/* Forget every item, keep the memory. */
static inline void hindex_clear(struct hindex *x)
{
	if (x->n)
		memset(x->slots, 0, (x->mask + 1) * sizeof(*x->slots));
	x->n = 0;
}

static inline void hindex_free(struct hindex *x)
{
	free(x->slots);
	memset(x, 0, sizeof(*x));
}

/* item equal to the key in ctx? */
typedef bool (*hindex_eq_fn)(const void *ctx, uint32_t item);

/* The item with this hash that eq accepts: true and *item, else false.
 * Inline, so that eq is inlined into the probe loop. */
static inline bool hindex_find(const struct hindex *x, uint64_t hash, hindex_eq_fn eq,
			       const void *ctx, uint32_t *item)
{
	if (!x->n)
		return false;
	for (size_t i = hash & x->mask; x->slots[i].item; i = (i + 1) & x->mask) {
		if (x->slots[i].hash == hash && eq(ctx, x->slots[i].item - 1)) {
			*item = x->slots[i].item - 1;
			return true;
		}
	}
	return false;
}

#endif /* BEARMON_STATSD_HASH_H */
