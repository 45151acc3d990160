/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Duration and time text (see timeparse.h): durations are the SDK's
 * Prometheus parser; times are hand-written RFC 3339 on timegm(3) and
 * strftime(3).
 */
#define _GNU_SOURCE
#include "timeparse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bearmon/bm_event.h>

static const struct {
	const char *unit;
	int64_t ms;
} units[] = {
	{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000}, {"h", 3600000},
	{"m", 60000},            {"s", 1000},           {"ms", 1},
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

int al_parse_duration(const char *s, int64_t *ms)
{
	return s && bm_parse_duration(s, strlen(s), ms) ? 0 : -1;
}

void al_format_duration(int64_t ms, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	if (ms <= 0) {
		snprintf(buf, n, "0s");
		return;
	}
	/* years and weeks read badly ("1y2w"): days are the largest unit */
	for (size_t i = 2; i < N_UNITS && ms > 0 && used < n; i++) {
		int64_t v = ms / units[i].ms;
		if (!v)
			continue;
		ms -= v * units[i].ms;
		int w = snprintf(buf + used, n - used, "%lld%s", (long long)v, units[i].unit);
		used += w > 0 ? (size_t)w : 0;
	}
}

/* Digits at *p, exactly n of them, into *out. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c && !(c == 'T' && (**p == 't' || **p == ' ')))
		return -1;
	(*p)++;
	return 0;
}

/* ".250" -> 250 (milliseconds; digits past the third are dropped). */
static int fraction_ms(const char **p)
{
	int ms = 0, scale = 100;
	if (**p != '.')
		return 0;
	for ((*p)++; isdigit((unsigned char)**p); (*p)++) {
		ms += (**p - '0') * scale;
		scale /= 10;
	}
	return ms;
}

/* "Z", "+02:00", "-0530": seconds east of UTC into *off. */
static int zone_offset(const char **p, int *off)
{
	int hh, mm, sign;
	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*off = 0;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return -1;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (digits(p, 2, &hh))
		return -1;
	if (**p == ':')
		(*p)++;
	if (digits(p, 2, &mm))
		return -1;
	*off = sign * (hh * 3600 + mm * 60);
	return 0;
}

int al_parse_time(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	int off = 0, frac;
	const char *p = s;
	if (!s || digits(&p, 4, &tm.tm_year) || expect(&p, '-') || digits(&p, 2, &tm.tm_mon) ||
	    expect(&p, '-') || digits(&p, 2, &tm.tm_mday) || expect(&p, 'T') ||
	    digits(&p, 2, &tm.tm_hour) || expect(&p, ':') || digits(&p, 2, &tm.tm_min) ||
	    expect(&p, ':') || digits(&p, 2, &tm.tm_sec))
		return -1;
	frac = fraction_ms(&p);
	if (zone_offset(&p, &off) || *p)
		return -1;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	*ms = ((int64_t)t - off) * 1000 + frac;
	return 0;
}

void al_format_time(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char day[24];
	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03dZ", day, (int)(ms % 1000));
}
