/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 64-bit FNV-1a for the hash tables of the core and plugins (series,
 * families, peers) and for fingerprints: the same on every run and machine,
 * fast on short keys, and no defence against keys chosen to collide.
 * Header-only: nothing here is part of the host ABI.
 *
 * Series are hashed field by field, each field followed by a 0xff byte,
 * which UTF-8 text never holds: ("ab", "c") and ("a", "bc") differ.
 */
#ifndef BEARMON_BM_HASH_H
#define BEARMON_BM_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "bm_event.h"

#define BM_HASH_INIT 0xcbf29ce484222325ULL
#define BM_HASH_PRIME 0x100000001b3ULL

/* h continued over n bytes at p. */
static inline uint64_t bm_hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * BM_HASH_PRIME;
	return h;
}

/* h continued over a small integer (an enum, a kind). */
static inline uint64_t bm_hash_u64(uint64_t h, uint64_t v)
{
	return (h ^ v) * BM_HASH_PRIME;
}

/* h continued over the string s (NULL hashes as "") and a field end. */
static inline uint64_t bm_hash_field(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * BM_HASH_PRIME;
	return (h ^ 0xff) * BM_HASH_PRIME;
}

/* h continued over n bytes at p (a field that is not NUL-terminated) and
 * a field end: the same as bm_hash_field over those bytes as a string. */
static inline uint64_t bm_hash_field_n(uint64_t h, const void *p, size_t n)
{
	return bm_hash_u64(bm_hash_bytes(h, p, n), 0xff);
}

/* h continued over n labels, names and values. */
static inline uint64_t bm_hash_labels(uint64_t h, const struct bm_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = bm_hash_field(bm_hash_field(h, l[i].name), l[i].value);
	return h;
}

/* A series: its name and labels, in the order given. Never 0, so that
 * open-addressing tables may keep 0 for an empty slot. */
static inline uint64_t bm_hash_series(const char *name, const struct bm_label *l, size_t n)
{
	uint64_t h = bm_hash_labels(bm_hash_field(BM_HASH_INIT, name), l, n);
	return h ? h : 1;
}

#endif
