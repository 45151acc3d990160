/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deterministic random data for the store's unit tests: splitmix64 (small,
 * fast, and the same sequence on every platform), and the bits of a double.
 */
#ifndef BEARMON_TESTS_RNG_H
#define BEARMON_TESTS_RNG_H

#include <stdint.h>
#include <string.h>

static uint64_t rng_state;

static inline void rng_seed(uint64_t seed)
{
	rng_state = seed;
}

static inline uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* uniform in [-j, j] */
static inline int64_t rnd_pm(int64_t j)
{
	return (int64_t)rnd_below((uint64_t)(2 * j + 1)) - j;
}

/* uniform in [0, 1) */
static inline double rnd_unit(void)
{
	return (double)(rnd() >> 11) * 0x1.0p-53;
}

static inline uint64_t dbits(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static inline double bdouble(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

#endif
