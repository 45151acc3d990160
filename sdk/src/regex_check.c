/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What may reach regcomp(3): glibc compiles nested repetitions such as
 * "(a+)+" or large counts into gigabytes of states, and a stray ")" in a
 * pattern that is wrapped in "^(...)$" escapes the anchoring. Patterns from
 * outside (PromQL, store routes, alert selectors) are checked here first,
 * refusing what RE2 refuses too.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_event.h"

/*
 * glibc compiles X+ as XX* and X{n,m} as n to m copies of X, so nested
 * repetitions grow exponentially: a query could make the daemon compile
 * a pattern of gigabytes. Estimate the compiled size the way glibc builds
 * it and refuse what RE2 refuses too: nested repetition operators, counts
 * over 1000, expressions too large, and unbalanced parentheses (which
 * would also break out of the ^(...)$ anchoring).
 */
#define RE_MAX_NODES 20000

#define RE_MAX_DEPTH 64

struct re_frame {
	double size, last; /* nodes so far; of the last atom (for a quantifier) */
};

/* A {n}, {n,} or {n,m} at *p: the larger bound, or -1 when not one. */
static long interval_bound(const char **p)
{
	const char *q = *p + 1;
	char *end;
	long lo = strtol(q, &end, 10), hi = lo;
	if (end == q)
		return -1;
	if (*end == ',') {
		q = end + 1;
		hi = *q == '}' ? lo + 1 : strtol(q, &end, 10);
		if (*q != '}' && end == q)
			return -1;
		if (*q == '}')
			end = (char *)q;
	}
	if (*end != '}')
		return -1;
	*p = end;
	return hi > lo ? hi : lo;
}

const char *bm_regex_check(const char *ere)
{
	struct re_frame st[RE_MAX_DEPTH];
	int d = 0;
	bool after_quant = false;
	st[0] = (struct re_frame){0, 0};
	for (const char *p = ere; *p; p++) {
		double atom = 1;
		long bound = 0;
		switch (*p) {
		case '\\':
			if (p[1])
				p++;
			break;
		case '[': /* a bracket expression is one atom; ( and ) in it are literal */
			p += p[1] == '^';
			p += p[1] == ']';
			for (p++; *p && *p != ']'; p++) {
				char end[3] = {p[1], ']', '\0'}; /* [:class:] [.coll.] [=equiv=] */
				if (*p == '[' && p[1] && strchr(":.=", p[1]) && strstr(p + 2, end))
					p = strstr(p + 2, end) + 1;
			}
			if (!*p)
				return "missing closing ]";
			break;
		case '(':
			if (++d == RE_MAX_DEPTH)
				return "expression nests too deeply";
			st[d] = (struct re_frame){0, 0};
			after_quant = false;
			continue;
		case ')':
			/* a stray ) would close the anchoring group around the
			 * pattern: refused, as RE2 refuses it */
			if (d == 0)
				return "unexpected )";
			atom = st[d--].size + 1;
			break;
		case '|': after_quant = false; continue;
		case '*':
		case '?':
		case '+':
		case '{':
			bound = *p == '{' ? interval_bound(&p) : *p == '+' ? 2 : 1;
			if (bound < 0)
				break; /* a literal { */
			if (after_quant)
				return "invalid nested repetition operator";
			if (bound > 1000)
				return "invalid repeat count";
			st[d].size += st[d].last * (double)(bound > 1 ? bound - 1 : 0);
			st[d].last *= (double)(bound > 1 ? bound : 1);
			after_quant = true;
			if (st[d].size > RE_MAX_NODES)
				return "expression too large";
			continue;
		default: break;
		}
		st[d].size += atom;
		st[d].last = atom;
		after_quant = false;
		if (st[d].size > RE_MAX_NODES)
			return "expression too large";
	}
	return d ? "missing closing )" : NULL;
}
