/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Series selectors as rules and silences write them:
 *   node_filesystem_avail_bytes{mountpoint="/", fstype!~"tmpfs|ramfs"}
 *   node_disk_*_total{device=~"sd.+"}          (a glob in the metric name)
 *   {alertname="DiskFull", severity!="info"}  (silences: labels only)
 * Matchers =, !=, =~, !~ as in PromQL; regular expressions are POSIX
 * extended and anchored at both ends; an absent label reads as "".
 */
#ifndef BEARMON_ALERTS_SELECTOR_H
#define BEARMON_ALERTS_SELECTOR_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include <bearmon/bm_event.h>

enum al_match_op { AL_MATCH_EQ, AL_MATCH_NEQ, AL_MATCH_RE, AL_MATCH_NRE };

struct al_matcher {
	char *name;
	enum al_match_op op;
	char *value;
	regex_t re; /* AL_MATCH_RE, AL_MATCH_NRE */
};

struct al_selector {
	char *name;     /* metric name or glob; NULL when the selector has none */
	bool name_glob; /* name holds *, ? or [ */
	struct al_matcher *m; /* label matchers; __name__ ones included */
	size_t n;
};

/*
 * Parse text into *out (zeroed by the caller). need_name: a metric name
 * (or a __name__ matcher) is required. 0, or -1 with err saying what is
 * wrong at which offset; *out is then empty.
 */
int al_selector_parse(const char *text, bool need_name, struct al_selector *out, char *err,
		      size_t errn);
void al_selector_free(struct al_selector *s);

/* Does the metric name pass the name part (name or glob and __name__
 * matchers)? */
bool al_selector_match_name(const struct al_selector *s, const char *name);
/* Do labels (any order) pass every matcher but __name__'s? */
bool al_selector_match_labels(const struct al_selector *s, const struct bm_label *l, size_t n);
/* One matcher against one value ("" when the label is absent). */
bool al_matcher_match(const struct al_matcher *m, const char *value);
/* Exact metric name, when the selector names exactly one (no glob, no
 * regex on __name__): what the rule index keys on. NULL otherwise. */
const char *al_selector_exact_name(const struct al_selector *s);
/* Value of label name in l (any order), "" when absent. */
const char *al_label_value(const struct bm_label *l, size_t n, const char *name);

#endif
