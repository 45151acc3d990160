/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The benchmarks' random data: xorshift64, fast and the same sequence on
 * every machine, so each run measures the same input.
 */
#ifndef BEARMON_BENCH_RNG_H
#define BEARMON_BENCH_RNG_H

#include <stdint.h>

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Uniform in [0, 1). */
static inline double rnd(uint64_t *s)
{
	return (double)(xorshift(s) >> 11) * 0x1.0p-53;
}

#endif
