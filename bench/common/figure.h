/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one place benchmark programs format their result lines:
 * "BENCH <name> <subject> <metric> <value> <unit>" with values like 6.12e6
 * or 12.3, as bench/run parses them. Define BENCH_NAME before including.
 */
#ifndef BEARMON_BENCH_FIGURE_H
#define BEARMON_BENCH_FIGURE_H

#include <math.h>
#include <stdio.h>

static void figure(const char *subject, const char *metric, double v, const char *unit)
{
	char s[64];
	if (!isfinite(v)) {
		snprintf(s, sizeof(s), "nan");
	} else if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-2)) {
		int e = (int)floor(log10(fabs(v)));
		double m = v / pow(10, e);
		if (fabs(m) >= 9.995) {
			m /= 10;
			e++;
		}
		snprintf(s, sizeof(s), "%.2fe%d", m, e);
	} else {
		snprintf(s, sizeof(s), "%.4g", v);
	}
	printf("BENCH %s %s %s %s %s\n", BENCH_NAME, subject, metric, s, unit);
	fflush(stdout);
}

#endif
