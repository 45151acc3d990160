/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header-only helper shared by the collectors: unwraps kernel counters that
 * are kept in 32 bits (unsigned long on 32-bit kernels, unsigned int
 * milliseconds in /proc/diskstats) into monotonic 64-bit values.
 */
#ifndef BEARMON_PLUGINS_COUNTER32_H
#define BEARMON_PLUGINS_COUNTER32_H

#include <stdint.h>

/*
 * Per-series state. Zero it for a new series (a device that appears, or one
 * that vanished and came back): the first value is then published as read,
 * so a re-added device is a counter reset, never a wrap.
 */
struct counter32 {
	uint64_t prev;   /* last raw value read */
	uint64_t offset; /* added to the raw value: 2^32 per wrap seen */
};

#define COUNTER32_MOD (UINT64_C(1) << 32)

/*
 * Feed the raw value just read; returns the unwrapped value to publish.
 *
 * A decrease is a wrap only when the previous value fits in 32 bits and
 * the drop is more than half the 32-bit range (4294967000 -> 100 is a wrap
 * to 4294967396). Any other decrease (a small step back, or a drop of a
 * counter that was already past 2^32 and so is 64 bits wide) is a real
 * reset: the offset goes back to zero and the raw value is published, as
 * Prometheus' counter model expects.
 */
static inline uint64_t counter32_unwrap(struct counter32 *c, uint64_t raw)
{
	if (raw < c->prev) {
		if (c->prev < COUNTER32_MOD && c->prev - raw > COUNTER32_MOD / 2)
			c->offset += COUNTER32_MOD;
		else
			c->offset = 0;
	}
	c->prev = raw;
	return raw + c->offset;
}

#endif /* BEARMON_PLUGINS_COUNTER32_H */
