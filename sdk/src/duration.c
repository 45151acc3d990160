/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus' duration text ("1h30m", "250ms"), as PromQL, alert rules
 * and silences, and the MCP tools take it: one parser for the core and the
 * plugins. Hand-written: no Debian library parses Prometheus' units.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_event.h"

/* Go's durations are int64 nanoseconds: 292 years at most. */
#define MAX_DURATION_MS (INT64_MAX / 1000000)

static const struct {
	const char *name;
	int64_t ms;
} units[] = {
	{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000}, {"h", 3600000},
	{"m", 60000},            {"s", 1000},           {"ms", 1},
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

bool bm_parse_duration(const char *s, size_t n, int64_t *ms)
{
	size_t i = 0, next_unit = 0;
	int64_t total = 0;
	if (n == 1 && s[0] == '0') {
		*ms = 0;
		return true;
	}
	if (n == 0)
		return false;
	while (i < n) {
		size_t d = i;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		if (i == d || i - d > 18)
			return false;
		int64_t count = strtoll(s + d, NULL, 10);
		size_t u = i;
		while (i < n && isalpha((unsigned char)s[i]))
			i++;
		size_t k;
		for (k = next_unit; k < N_UNITS; k++)
			if (strlen(units[k].name) == i - u && memcmp(units[k].name, s + u, i - u) == 0)
				break;
		if (k == N_UNITS || count > MAX_DURATION_MS / units[k].ms ||
		    total > MAX_DURATION_MS - count * units[k].ms)
			return false;
		total += count * units[k].ms;
		next_unit = k + 1;
	}
	*ms = total;
	return true;
}
