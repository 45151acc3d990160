/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Same-origin and allow-list checks of the Origin header (see origin.h).
 */
#include "origin.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* host[:port] with the scheme's default port dropped, into out. */
static void fold_default_port(const char *hostport, const char *default_port, char *out,
			      size_t n)
{
	snprintf(out, n, "%s", hostport);
	char *colon = strrchr(out, ':');
	/* "[::1]:80" has its port after the bracket; "[::1]" has none */
	if (colon && !strchr(colon, ']') && strcmp(colon + 1, default_port) == 0)
		*colon = '\0';
}

static bool same_origin(const char *origin, const char *host)
{
	const char *dflt = NULL, *rest = NULL;
	if (strncasecmp(origin, "http://", 7) == 0) {
		dflt = "80";
		rest = origin + 7;
	} else if (strncasecmp(origin, "https://", 8) == 0) {
		dflt = "443";
		rest = origin + 8;
	}
	if (!rest || !host || !*host || strchr(rest, '/'))
		return false;
	char a[300], b[300];
	fold_default_port(rest, dflt, a, sizeof(a));
	fold_default_port(host, dflt, b, sizeof(b));
	return strcasecmp(a, b) == 0;
}

bool origin_allowed(const char *origin, const char *host, const struct bm_strlist *allowed)
{
	if (!origin)
		return true;
	if (same_origin(origin, host))
		return true;
	for (size_t i = 0; allowed && i < allowed->n; i++)
		if (strcmp(allowed->v[i], "*") == 0 || strcasecmp(allowed->v[i], origin) == 0)
			return true;
	return false;
}
