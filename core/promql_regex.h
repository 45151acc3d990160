/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL regular expressions are RE2; bearmon matches with POSIX extended
 * expressions (regcomp), as the store does. This turns the RE2 forms that
 * ordinary queries use into ERE: (?:...) groups, \d \w \s classes, a
 * leading (?i), lazy quantifiers (*? +? ?? {n}?, same match, only
 * submatch bounds can differ), \n \t escapes and escaped punctuation
 * inside brackets.
 */
#ifndef BEARMON_CORE_PROMQL_REGEX_H
#define BEARMON_CORE_PROMQL_REGEX_H

#include <regex.h>
#include <stddef.h>

/* The ERE for an RE2 pattern, malloc'd; NULL when out of memory. */
char *pq_regex_translate(const char *re2);

/* Why ere must not reach regcomp (nested repetitions, counts over 1000,
 * unbalanced parentheses that would escape the anchoring, too large), or
 * NULL when it may. */
const char *pq_regex_check(const char *ere);

/* Compile re2 anchored at both ends ("^(?:re2)$") with REG_EXTENDED |
 * flags. Returns 0 or regcomp's code with msg (may be NULL) filled;
 * REG_ESIZE for what would compile too large (nested repetitions, counts
 * over 1000), which RE2 refuses as well. */
int pq_regcomp_anchored(regex_t *r, const char *re2, int flags, char *msg, size_t n);

#endif
