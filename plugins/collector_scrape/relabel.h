/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus relabelling (relabel_configs, metric_relabel_configs) over a
 * label set: the rule options, their compiled form and the apply step.
 * Regular expressions are POSIX extended, anchored at both ends.
 */
#ifndef BEARMON_SCRAPE_RELABEL_H
#define BEARMON_SCRAPE_RELABEL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_option.h>

enum relabel_action {
	RELABEL_REPLACE = 0,
	RELABEL_KEEP,
	RELABEL_DROP,
	RELABEL_HASHMOD,
	RELABEL_LABELMAP,
	RELABEL_LABELDROP,
	RELABEL_LABELKEEP,
	RELABEL_LOWERCASE,
	RELABEL_UPPERCASE,
	RELABEL_KEEPEQUAL,
	RELABEL_DROPEQUAL,
};

/* One rule as the user writes it (a group of a relabel list option). */
struct relabel_conf {
	struct bm_strlist source_labels;
	char *separator;
	char *regex;
	char *target_label;
	char *replacement;
	int64_t modulus;
	int action; /* enum relabel_action */
};

/* The member table of a relabel rule group, for the plugin's options. */
extern const struct bm_option relabel_rule_options[];

struct relabel_rule {
	enum relabel_action action;
	const char *const *source; /* borrowed from the conf */
	size_t n_source;
	const char *separator;
	const char *target;
	const char *replacement;
	uint64_t modulus;
	regex_t re;         /* "^(regex)$": group k of the user's is k + 1 */
	regmatch_t *groups; /* re_nsub + 1 slots, scratch for one apply */
};

struct relabel_set {
	struct relabel_rule *v;
	size_t n;
};

/*
 * A label set under relabelling: names and values are borrowed from the
 * caller or allocated in the arena given to relabel_apply. Unsorted; a
 * name appears once; "" values are never stored (setting "" deletes).
 */
struct lset {
	struct bm_label *v;
	size_t n, cap;
};

int lset_reserve(struct lset *ls, size_t n);
void lset_free(struct lset *ls);
/* The value of name, "" when absent. */
const char *lset_get(const struct lset *ls, const char *name);
/* Set (or with "" delete) name. Strings are borrowed. 0 or BM_ENOMEM. */
int lset_set(struct lset *ls, const char *name, const char *value);
void lset_del(struct lset *ls, const char *name);

/* Compile the rules of list (items of struct relabel_conf); the conf must
 * outlive the set. On a bad rule BM_EINVAL with err naming what.N. */
int relabel_compile(struct relabel_set *rs, const struct bm_group_list *list, const char *what,
		    struct bm_err *err);
void relabel_free(struct relabel_set *rs);

/* Apply every rule in order. false: a keep/drop rule dropped the set.
 * New strings come from a; not thread safe (the rules hold scratch). */
bool relabel_apply(const struct relabel_set *rs, struct lset *ls, struct bm_arena *a);

#endif
