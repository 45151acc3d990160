/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Durations ("1h30m", "500ms", "2d") and times (RFC 3339 or milliseconds
 * since the epoch) as rules, silences and acknowledgements write them, in
 * both directions, with Prometheus' units.
 */
#ifndef BEARMON_ALERTS_TIMEPARSE_H
#define BEARMON_ALERTS_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/* "1h30m", "90s", "250ms", "2d", "1w", "0" (units ms s m h d w y, in
 * decreasing order, each at most once). 0, or -1 when s is not one. */
int al_parse_duration(const char *s, int64_t *ms);
/* The shortest such text ("1h30m", "250ms", "0s") into buf. */
void al_format_duration(int64_t ms, char *buf, size_t n);
/* RFC 3339 ("2024-05-01T12:00:00Z", fractions and offsets allowed):
 * 0 and *ms, or -1. */
int al_parse_time(const char *s, int64_t *ms);
/* "2024-05-01T12:00:00.250Z" into buf (at least 32 bytes). */
void al_format_time(int64_t ms, char *buf, size_t n);

#endif
