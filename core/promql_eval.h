/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The evaluator's working types, shared by promql_eval.c (the walk over the
 * tree, selectors, calls), promql_ops.c (aggregations, binary operators),
 * promql_labels.c (interned label sets) and promql_func.c (the function
 * bodies). Label sets are interned per query, so two samples
 * have the same labels exactly when their pointers are equal.
 */
#ifndef BEARMON_CORE_PROMQL_EVAL_H
#define BEARMON_CORE_PROMQL_EVAL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "promql_ast.h"

struct pq_labels {
	uint64_t hash;
	uint32_t n;
	struct bm_label l[]; /* sorted by name; __name__ is one of them when kept */
};

/* One element of an instant vector at one step. t: the sample's own time
 * (only vector selectors set it apart from the step; timestamp() reads it). */
struct pq_sample {
	const struct pq_labels *lbl;
	double v;
	int64_t t;
};

struct pq_vec {
	struct pq_sample *s;
	size_t n, cap;
};

/* A pointer-keyed hash map to indexes (series by labels, groups by key). */
struct pq_pmap {
	const void **k;
	size_t *v;
	size_t cap, n;
};

struct pq_ev {
	const struct promql_source *src;
	int64_t start, end, interval; /* interval 1 for an instant query */
	size_t n_steps;
	int64_t lookback_ms;
	uint64_t max_samples, samples;
	struct bm_arena arena; /* label sets and strings of this query */
	const struct pq_labels **intern;
	size_t intern_cap, intern_n;
	const struct pq_labels *empty; /* {} */
	struct bm_label *scratch;      /* building label sets */
	size_t scratch_cap;
	char *err;
	size_t errlen;
};

struct pq_fn_state {
	size_t n_args;
	regex_t re;
	bool re_ready;
};

/* Record the first error; returns status. */
__attribute__((format(printf, 3, 4))) int pq_fail(struct pq_ev *ev, int status, const char *fmt, ...);
/* Count points a query holds against the sample limit. */
int pq_account(struct pq_ev *ev, size_t n);

/* --- label sets (promql_labels.c) ----------------------------------------- */

/* The interned set of l[0..n) (any order; names must be distinct), NULL
 * when out of memory. Strings are copied. */
const struct pq_labels *pq_labels_intern(struct pq_ev *ev, const struct bm_label *l, size_t n);
const struct pq_labels *pq_labels_drop_name(struct pq_ev *ev, const struct pq_labels *l);
/* names[0..n) kept (keep) or removed (!keep); __name__ too when remove_name. */
const struct pq_labels *pq_labels_filter(struct pq_ev *ev, const struct pq_labels *l,
					 char *const *names, size_t n, bool keep, bool remove_name);
/* l with name set to value ("" removes it). */
const struct pq_labels *pq_labels_set(struct pq_ev *ev, const struct pq_labels *l, const char *name,
				      const char *value);
/* The value of name, "" when absent. */
const char *pq_labels_get(const struct pq_labels *l, const char *name);
/* Prometheus' label order: names and values pairwise, then length. */
int pq_labels_cmp(const struct pq_labels *a, const struct pq_labels *b);
/* Parse store text name{a="x",...} into an interned set. */
const struct pq_labels *pq_labels_from_text(struct pq_ev *ev, const char *text);
void pq_labels_free_all(struct pq_ev *ev);

/* Map: returns the slot's value or SIZE_MAX. put: 0 or PROMQL_ENOMEM. */
size_t pq_pmap_get(const struct pq_pmap *m, const void *key);
int pq_pmap_put(struct pq_pmap *m, const void *key, size_t value);
void pq_pmap_clear(struct pq_pmap *m);
void pq_pmap_free(struct pq_pmap *m);

int pq_vec_push(struct pq_ev *ev, struct pq_vec *v, const struct pq_labels *l, double val, int64_t t);

/* --- values and the step-by-step machinery (promql_eval.c) ------------ */

struct pq_series {
	const struct pq_labels *lbl;
	int64_t *t;
	double *v;
	size_t n, cap;
};

struct pq_val {
	enum bm_promql_type type;
	double *sc;      /* SCALAR: one value per step */
	const char *str; /* STRING */
	struct pq_series *s; /* VECTOR (points at steps), MATRIX (raw samples) */
	size_t n, cap;
};

/* Builds a vector value from one instant vector per step. */
struct pq_collector {
	struct pq_val *out;
	struct pq_pmap idx; /* labels -> series */
};

/* Walks a vector value step by step. */
struct pq_stepper {
	const struct pq_val *val;
	size_t *pos;
};

int64_t pq_step_time(const struct pq_ev *ev, size_t k);
void pq_val_free(struct pq_val *v);
int pq_series_add(struct pq_ev *ev, struct pq_val *v, const struct pq_labels *l, size_t *idx);
int pq_point_add(struct pq_ev *ev, struct pq_series *s, int64_t t, double v);
int pq_scalar_alloc(struct pq_ev *ev, struct pq_val *v);
/* Add one step's vector to a vector value (a label set twice: an error). */
int pq_collect(struct pq_ev *ev, struct pq_collector *c, const struct pq_vec *vec, int64_t t);
int pq_stepper_init(struct pq_ev *ev, struct pq_stepper *st, const struct pq_val *v);
/* The instant vector of st's value at step time t (steps in order). */
int pq_vec_at(struct pq_ev *ev, struct pq_stepper *st, int64_t t, struct pq_vec *out);
/* Evaluate n over every step into out (zeroed first). */
int pq_eval(struct pq_ev *ev, const struct pq_node *n, struct pq_val *out);

/* --- operators (promql_ops.c) ------------------------------------------------ */

int pq_eval_agg(struct pq_ev *ev, const struct pq_node *n, struct pq_val *out);
int pq_eval_binary(struct pq_ev *ev, const struct pq_node *n, struct pq_val *out);

/* --- shared numeric helpers (promql_func.c) ------------------------------ */

/* Prometheus' quantile over v[0..n) (sorted in place), with its edge cases
 * (q < 0: -Inf, q > 1: +Inf, NaN q or no values: NaN). */
double pq_quantile(double q, double *v, size_t n);

#endif
