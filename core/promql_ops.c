/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL operators, step by step over evaluated operands: aggregations
 * (sum ... quantile, with Go's heap for topk/bottomk so ties resolve as in
 * Prometheus) and binary operators (arithmetic, comparisons, vector
 * matching with on/ignoring and group_left/right, and/or/unless).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_vec.h"
#include "promql_eval.h"

/* --- aggregation ------------------------------------------------------------ */

struct agg_group {
	const struct pq_labels *lbl;
	double value, mean;
	size_t count;
	struct pq_sample *heap; /* topk, bottomk: the k kept; quantile: every value */
	size_t hn, hcap;
};

/* Go's container/heap over topk's min-heap (NaN lowest) or bottomk's
 * max-heap (NaN lowest too), so that ties resolve as in Prometheus. */
static bool heap_less(const struct pq_sample *h, size_t i, size_t j, bool bottom)
{
	if (isnan(h[i].v))
		return true;
	return bottom ? h[i].v > h[j].v : h[i].v < h[j].v;
}

static void heap_swap(struct pq_sample *h, size_t i, size_t j)
{
	struct pq_sample t = h[i];
	h[i] = h[j];
	h[j] = t;
}

static void heap_up(struct pq_sample *h, size_t j, bool bottom)
{
	while (j > 0) {
		size_t i = (j - 1) / 2;
		if (!heap_less(h, j, i, bottom))
			break;
		heap_swap(h, i, j);
		j = i;
	}
}

static void heap_down(struct pq_sample *h, size_t i, size_t n, bool bottom)
{
	for (;;) {
		size_t j = 2 * i + 1;
		if (j >= n)
			break;
		if (j + 1 < n && heap_less(h, j + 1, j, bottom))
			j++;
		if (!heap_less(h, j, i, bottom))
			break;
		heap_swap(h, i, j);
		i = j;
	}
}

static int heap_push(struct pq_ev *ev, struct agg_group *g, const struct pq_sample *s, bool bottom)
{
	if (BM_VEC_RESERVE(g->heap, g->hcap, g->hn + 1))
		return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	g->heap[g->hn++] = *s;
	heap_up(g->heap, g->hn - 1, bottom);
	return 0;
}

static void heap_pop(struct agg_group *g, bool bottom)
{
	heap_swap(g->heap, 0, g->hn - 1);
	heap_down(g->heap, 0, g->hn - 1, bottom);
	g->hn--;
}

static int agg_topk(struct pq_ev *ev, struct agg_group *g, const struct pq_sample *s, int64_t k, bool bottom)
{
	bool better = bottom ? g->heap[0].v > s->v : g->heap[0].v < s->v;
	if ((int64_t)g->hn < k || better || isnan(g->heap[0].v)) {
		if ((int64_t)g->hn == k) {
			if (k == 1) {
				g->heap[0] = *s;
				return 0;
			}
			heap_pop(g, bottom);
		}
		return heap_push(ev, g, s, bottom);
	}
	return 0;
}

/* One more sample into its group, as Prometheus' aggregation(). */
static int agg_add(struct pq_ev *ev, enum pq_aggop op, struct agg_group *g, const struct pq_sample *s, int64_t k)
{
	switch (op) {
	case PQ_AGG_SUM: g->value += s->v; break;
	case PQ_AGG_AVG:
		g->count++;
		if (isinf(g->mean) && ((isinf(s->v) && (g->mean > 0) == (s->v > 0)) ||
				       (!isinf(s->v) && !isnan(s->v))))
			break; /* an infinite mean stays what it is */
		g->mean += s->v / (double)g->count - g->mean / (double)g->count;
		break;
	case PQ_AGG_GROUP: break;
	case PQ_AGG_MAX:
		if (g->value < s->v || isnan(g->value))
			g->value = s->v;
		break;
	case PQ_AGG_MIN:
		if (g->value > s->v || isnan(g->value))
			g->value = s->v;
		break;
	case PQ_AGG_COUNT: g->count++; break;
	case PQ_AGG_STDDEV:
	case PQ_AGG_STDVAR: {
		g->count++;
		double delta = s->v - g->mean;
		g->mean += delta / (double)g->count;
		g->value += delta * (s->v - g->mean);
		break;
	}
	case PQ_AGG_TOPK: return agg_topk(ev, g, s, k, false);
	case PQ_AGG_BOTTOMK: return agg_topk(ev, g, s, k, true);
	case PQ_AGG_QUANTILE:
		if (BM_VEC_RESERVE(g->heap, g->hcap, g->hn + 1))
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		g->heap[g->hn++] = *s;
		break;
	}
	return 0;
}

static void agg_init(enum pq_aggop op, struct agg_group *g, const struct pq_labels *l, const struct pq_sample *s)
{
	struct pq_sample *heap = g->heap;
	size_t hcap = g->hcap;
	*g = (struct agg_group){.lbl = l, .value = s->v, .mean = s->v, .count = 1, .heap = heap, .hcap = hcap};
	if (op == PQ_AGG_STDDEV || op == PQ_AGG_STDVAR)
		g->value = 0;
	else if (op == PQ_AGG_GROUP)
		g->value = 1;
	if (op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK || op == PQ_AGG_QUANTILE) {
		g->heap[0] = *s;
		g->hn = 1;
	}
}

/* topk's output: highest first (bottomk: lowest first), NaN last. */
static int cmp_top(const void *a, const void *b, void *bottom)
{
	double x = ((const struct pq_sample *)a)->v, y = ((const struct pq_sample *)b)->v;
	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return *(bool *)bottom ? (x > y) - (x < y) : (x < y) - (x > y);
}

static int agg_emit(struct pq_ev *ev, enum pq_aggop op, struct agg_group *g, double param, struct pq_vec *out)
{
	double v = g->value;
	switch (op) {
	case PQ_AGG_AVG: v = g->mean; break;
	case PQ_AGG_COUNT: v = (double)g->count; break;
	case PQ_AGG_STDVAR: v = g->value / (double)g->count; break;
	case PQ_AGG_STDDEV: v = sqrt(g->value / (double)g->count); break;
	case PQ_AGG_TOPK:
	case PQ_AGG_BOTTOMK: {
		bool bottom = op == PQ_AGG_BOTTOMK;
		qsort_r(g->heap, g->hn, sizeof(*g->heap), cmp_top, &bottom);
		for (size_t i = 0; i < g->hn; i++)
			if (pq_vec_push(ev, out, g->heap[i].lbl, g->heap[i].v, 0))
				return PROMQL_ENOMEM;
		return 0;
	}
	case PQ_AGG_QUANTILE: {
		double *vals = malloc(g->hn * sizeof(*vals));
		if (!vals)
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		for (size_t i = 0; i < g->hn; i++)
			vals[i] = g->heap[i].v;
		v = pq_quantile(param, vals, g->hn);
		free(vals);
		break;
	}
	default: break;
	}
	return pq_vec_push(ev, out, g->lbl, v, 0);
}

/* The result labels of a sample's group (cached per input label set). */
static const struct pq_labels *group_of(struct pq_ev *ev, const struct pq_node *n,
					struct pq_pmap *cache, const struct pq_labels *l)
{
	size_t at = pq_pmap_get(cache, l);
	if (at != SIZE_MAX)
		return (const struct pq_labels *)(uintptr_t)at;
	const struct pq_labels *g =
		pq_labels_filter(ev, l, n->agg.grouping.v, n->agg.grouping.n, !n->agg.without, n->agg.without);
	if (g && pq_pmap_put(cache, l, (size_t)(uintptr_t)g))
		return NULL;
	return g;
}

struct agg_state {
	struct agg_group *g;
	size_t n, cap, zeroed; /* slots below zeroed are initialised */
	struct pq_pmap by_key, key_cache;
};

/* One step of an aggregation: in grouped and reduced into out. */
static int agg_step(struct pq_ev *ev, const struct pq_node *n, struct agg_state *as,
		    const struct pq_vec *in, double param, struct pq_vec *out)
{
	enum pq_aggop op = n->agg.op;
	int64_t k = 0;
	if (op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK) {
		if (!(param >= 1))
			return 0; /* k < 1 (or NaN): nothing */
		k = param >= 9.2e18 ? INT64_MAX : (int64_t)param;
	}
	pq_pmap_clear(&as->by_key);
	as->n = 0;
	for (size_t i = 0; i < in->n; i++) {
		const struct pq_labels *key = group_of(ev, n, &as->key_cache, in->s[i].lbl);
		if (!key)
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		size_t at = pq_pmap_get(&as->by_key, key);
		if (at != SIZE_MAX) {
			int rc = agg_add(ev, op, &as->g[at], &in->s[i], k);
			if (rc)
				return rc;
			continue;
		}
		if (BM_VEC_RESERVE(as->g, as->cap, as->n + 1))
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		/* slots keep their heap buffers from step to step */
		for (; as->zeroed < as->cap; as->zeroed++)
			as->g[as->zeroed] = (struct agg_group){0};
		if (BM_VEC_RESERVE(as->g[as->n].heap, as->g[as->n].hcap, 1) ||
		    pq_pmap_put(&as->by_key, key, as->n))
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		agg_init(op, &as->g[as->n], key, &in->s[i]);
		as->n++;
	}
	for (size_t i = 0; i < as->n; i++) {
		int rc = agg_emit(ev, op, &as->g[i], param, out);
		if (rc)
			return rc;
	}
	return 0;
}

int pq_eval_agg(struct pq_ev *ev, const struct pq_node *n, struct pq_val *out)
{
	struct pq_val in = {0}, param = {0};
	int rc = pq_eval(ev, n->agg.expr, &in);
	if (!rc && n->agg.param)
		rc = pq_eval(ev, n->agg.param, &param);
	struct pq_stepper st = {0};
	struct pq_vec vec = {0}, res = {0};
	struct pq_collector col = {out, {0}};
	struct agg_state as = {0};
	out->type = BM_PROMQL_VECTOR;
	if (!rc)
		rc = pq_stepper_init(ev, &st, &in);
	for (size_t k = 0; k < ev->n_steps && !rc; k++) {
		int64_t t = pq_step_time(ev, k);
		res.n = 0;
		rc = pq_vec_at(ev, &st, t, &vec);
		if (!rc)
			rc = agg_step(ev, n, &as, &vec, param.sc ? param.sc[k] : 0, &res);
		if (!rc)
			rc = pq_collect(ev, &col, &res, t);
	}
	for (size_t i = 0; i < as.zeroed; i++)
		free(as.g[i].heap);
	free(as.g);
	pq_pmap_free(&as.by_key);
	pq_pmap_free(&as.key_cache);
	pq_pmap_free(&col.idx);
	free(st.pos);
	free(vec.s);
	free(res.s);
	pq_val_free(&in);
	pq_val_free(&param);
	return rc;
}

/* --- binary operators ---------------------------------------------------------- */

/* Prometheus' vectorElemBinop: the value, and whether a comparison holds. */
static double elem_binop(enum pq_binop op, double l, double r, bool *keep)
{
	*keep = true;
	switch (op) {
	case PQ_OP_ADD: return l + r;
	case PQ_OP_SUB: return l - r;
	case PQ_OP_MUL: return l * r;
	case PQ_OP_DIV: return l / r;
	case PQ_OP_MOD: return fmod(l, r);
	case PQ_OP_POW: return pow(l, r);
	case PQ_OP_ATAN2: return atan2(l, r);
	case PQ_OP_EQL: *keep = l == r; return l;
	case PQ_OP_NEQ: *keep = l != r; return l;
	case PQ_OP_GTR: *keep = l > r; return l;
	case PQ_OP_LSS: *keep = l < r; return l;
	case PQ_OP_GTE: *keep = l >= r; return l;
	case PQ_OP_LTE: *keep = l <= r; return l;
	default: return NAN; /* set operators never get here */
	}
}

static bool drops_name(enum pq_binop op) { return !pq_op_is_comparison(op) && !pq_op_is_set(op); }

static int eval_scalar_scalar(struct pq_ev *ev, const struct pq_node *n, const struct pq_val *l,
			      const struct pq_val *r, struct pq_val *out)
{
	int rc = pq_scalar_alloc(ev, out);
	for (size_t k = 0; k < ev->n_steps && !rc; k++) {
		bool keep;
		double v = elem_binop(n->bin.op, l->sc[k], r->sc[k], &keep);
		out->sc[k] = pq_op_is_comparison(n->bin.op) ? (keep ? 1 : 0) : v;
	}
	return rc;
}

/* vector op scalar (swap: scalar op vector); comparisons keep the
 * vector's value, bool gives 0/1 and drops the name. */
static int vector_scalar_step(struct pq_ev *ev, const struct pq_node *n, const struct pq_vec *vec,
			      double scalar, bool swap, struct pq_vec *out)
{
	enum pq_binop op = n->bin.op;
	for (size_t i = 0; i < vec->n; i++) {
		double lv = vec->s[i].v, rv = scalar;
		if (swap) {
			lv = scalar;
			rv = vec->s[i].v;
		}
		bool keep;
		double v = elem_binop(op, lv, rv, &keep);
		if (pq_op_is_comparison(op) && swap)
			v = rv;
		if (n->bin.ret_bool) {
			v = keep ? 1 : 0;
			keep = true;
		}
		if (!keep)
			continue;
		const struct pq_labels *l = vec->s[i].lbl;
		if (drops_name(op) || n->bin.ret_bool)
			l = pq_labels_drop_name(ev, l);
		if (pq_vec_push(ev, out, l, v, 0))
			return PROMQL_ENOMEM;
	}
	return 0;
}

struct matcher_state {
	struct pq_pmap sig_cache; /* labels -> signature labels */
	struct pq_pmap right;     /* signature -> index in rhs */
	struct pq_pmap matched;   /* one-to-one: signature seen; else result labels -> signature */
};

static const struct pq_labels *signature(struct pq_ev *ev, const struct pq_node *n,
					 struct matcher_state *ms, const struct pq_labels *l)
{
	size_t at = pq_pmap_get(&ms->sig_cache, l);
	if (at != SIZE_MAX)
		return (const struct pq_labels *)(uintptr_t)at;
	const struct pq_labels *s =
		pq_labels_filter(ev, l, n->bin.labels.v, n->bin.labels.n, n->bin.on, !n->bin.on);
	if (s && pq_pmap_put(&ms->sig_cache, l, (size_t)(uintptr_t)s))
		return NULL;
	return s;
}

/* Go's labels.String(): {a="b", c="d"} */
static void labels_text(const struct pq_labels *l, char *buf, size_t n)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "{");
	for (uint32_t i = 0; i < l->n; i++)
		o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s%s=\"%s\"", i ? ", " : "",
				      l->l[i].name, l->l[i].value);
	snprintf(buf + o, o < n ? n - o : 0, "}");
}

static int duplicate_error(struct pq_ev *ev, const struct pq_node *n, const struct pq_labels *sig,
			   const struct pq_labels *a, const struct pq_labels *b)
{
	char s[256], x[256], y[256];
	labels_text(sig, s, sizeof(s));
	labels_text(a, x, sizeof(x));
	labels_text(b, y, sizeof(y));
	return pq_fail(ev, PROMQL_EEXEC,
		       "found duplicate series for the match group %s on the %s hand-side of the operation: [%s, %s];"
		       "many-to-many matching not allowed: matching labels must be unique on one side",
		       s, n->bin.card == PQ_CARD_ONE_TO_MANY ? "left" : "right", x, y);
}

/* Labels of a vector-vector result (Prometheus' resultMetric). many is
 * the "many" side's sample, one the other's. */
static const struct pq_labels *result_labels(struct pq_ev *ev, const struct pq_node *n,
					     const struct pq_labels *many, const struct pq_labels *one)
{
	const struct pq_labels *l = drops_name(n->bin.op) ? pq_labels_drop_name(ev, many) : many;
	if (l && n->bin.card == PQ_CARD_ONE_TO_ONE)
		l = pq_labels_filter(ev, l, n->bin.labels.v, n->bin.labels.n, n->bin.on, false);
	for (size_t i = 0; l && i < n->bin.include.n; i++)
		l = pq_labels_set(ev, l, n->bin.include.v[i], pq_labels_get(one, n->bin.include.v[i]));
	if (l && n->bin.ret_bool)
		l = pq_labels_drop_name(ev, l);
	return l;
}

/* Arithmetic and comparisons between two vectors (Prometheus' VectorBinop). */
static int vector_binop_step(struct pq_ev *ev, const struct pq_node *n, struct matcher_state *ms,
			     const struct pq_vec *lhs, const struct pq_vec *rhs, struct pq_vec *out)
{
	bool one_to_many = n->bin.card == PQ_CARD_ONE_TO_MANY;
	if (one_to_many) { /* lhs is always the "many" side */
		const struct pq_vec *t = lhs;
		lhs = rhs;
		rhs = t;
	}
	pq_pmap_clear(&ms->right);
	pq_pmap_clear(&ms->matched);
	for (size_t i = 0; i < rhs->n; i++) {
		const struct pq_labels *sig = signature(ev, n, ms, rhs->s[i].lbl);
		if (!sig)
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		size_t dup = pq_pmap_get(&ms->right, sig);
		if (dup != SIZE_MAX)
			return duplicate_error(ev, n, sig, rhs->s[i].lbl, rhs->s[dup].lbl);
		if (pq_pmap_put(&ms->right, sig, i))
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < lhs->n; i++) {
		const struct pq_labels *sig = signature(ev, n, ms, lhs->s[i].lbl);
		size_t r = sig ? pq_pmap_get(&ms->right, sig) : SIZE_MAX;
		if (r == SIZE_MAX)
			continue;
		double vl = lhs->s[i].v, vr = rhs->s[r].v;
		if (one_to_many) {
			vl = rhs->s[r].v;
			vr = lhs->s[i].v;
		}
		bool keep;
		double v = elem_binop(n->bin.op, vl, vr, &keep);
		if (n->bin.ret_bool)
			v = keep ? 1 : 0;
		else if (!keep)
			continue;
		const struct pq_labels *l = result_labels(ev, n, lhs->s[i].lbl, rhs->s[r].lbl);
		if (!l)
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		if (n->bin.card == PQ_CARD_ONE_TO_ONE) {
			if (pq_pmap_get(&ms->matched, sig) != SIZE_MAX)
				return pq_fail(ev, PROMQL_EEXEC,
					       "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
			if (pq_pmap_put(&ms->matched, sig, 1))
				return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		} else {
			size_t prev = pq_pmap_get(&ms->matched, l);
			if (prev == (size_t)(uintptr_t)sig)
				return pq_fail(ev, PROMQL_EEXEC,
					       "multiple matches for matching labels in grouping labels: many-to-one matching must be explicit (group_left/group_right)");
			if (pq_pmap_put(&ms->matched, l, (size_t)(uintptr_t)sig))
				return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		}
		if (pq_vec_push(ev, out, l, v, 0))
			return PROMQL_ENOMEM;
	}
	return 0;
}

/* and, or, unless: whole samples kept by signature. */
static int set_op_step(struct pq_ev *ev, const struct pq_node *n, struct matcher_state *ms,
		       const struct pq_vec *lhs, const struct pq_vec *rhs, struct pq_vec *out)
{
	enum pq_binop op = n->bin.op;
	const struct pq_vec *lookup = op == PQ_OP_OR ? lhs : rhs;
	pq_pmap_clear(&ms->right);
	for (size_t i = 0; i < lookup->n; i++) {
		const struct pq_labels *sig = signature(ev, n, ms, lookup->s[i].lbl);
		if (!sig || pq_pmap_put(&ms->right, sig, i))
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	}
	const struct pq_vec *scan = op == PQ_OP_OR ? rhs : lhs;
	if (op == PQ_OP_OR)
		for (size_t i = 0; i < lhs->n; i++)
			if (pq_vec_push(ev, out, lhs->s[i].lbl, lhs->s[i].v, 0))
				return PROMQL_ENOMEM;
	for (size_t i = 0; i < scan->n; i++) {
		const struct pq_labels *sig = signature(ev, n, ms, scan->s[i].lbl);
		if (!sig)
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		bool found = pq_pmap_get(&ms->right, sig) != SIZE_MAX;
		if (found == (op == PQ_OP_AND) && pq_vec_push(ev, out, scan->s[i].lbl, scan->s[i].v, 0))
			return PROMQL_ENOMEM;
	}
	return 0;
}

int pq_eval_binary(struct pq_ev *ev, const struct pq_node *n, struct pq_val *out)
{
	struct pq_val l = {0}, r = {0};
	int rc = pq_eval(ev, n->bin.lhs, &l);
	if (!rc)
		rc = pq_eval(ev, n->bin.rhs, &r);
	if (!rc && l.type == BM_PROMQL_SCALAR && r.type == BM_PROMQL_SCALAR) {
		rc = eval_scalar_scalar(ev, n, &l, &r, out);
		pq_val_free(&l);
		pq_val_free(&r);
		return rc;
	}
	struct pq_stepper ls = {0}, rs = {0};
	struct pq_vec lv = {0}, rv = {0}, res = {0};
	struct pq_collector col = {out, {0}};
	struct matcher_state ms = {0};
	out->type = BM_PROMQL_VECTOR;
	if (!rc && l.type == BM_PROMQL_VECTOR)
		rc = pq_stepper_init(ev, &ls, &l);
	if (!rc && r.type == BM_PROMQL_VECTOR)
		rc = pq_stepper_init(ev, &rs, &r);
	for (size_t k = 0; k < ev->n_steps && !rc; k++) {
		int64_t t = pq_step_time(ev, k);
		res.n = 0;
		if (l.type == BM_PROMQL_VECTOR)
			rc = pq_vec_at(ev, &ls, t, &lv);
		if (!rc && r.type == BM_PROMQL_VECTOR)
			rc = pq_vec_at(ev, &rs, t, &rv);
		if (rc)
			break;
		if (r.type == BM_PROMQL_SCALAR)
			rc = vector_scalar_step(ev, n, &lv, r.sc[k], false, &res);
		else if (l.type == BM_PROMQL_SCALAR)
			rc = vector_scalar_step(ev, n, &rv, l.sc[k], true, &res);
		else if (pq_op_is_set(n->bin.op))
			rc = set_op_step(ev, n, &ms, &lv, &rv, &res);
		else
			rc = vector_binop_step(ev, n, &ms, &lv, &rv, &res);
		if (!rc)
			rc = pq_collect(ev, &col, &res, t);
	}
	free(ls.pos);
	free(rs.pos);
	free(lv.s);
	free(rv.s);
	free(res.s);
	pq_pmap_free(&col.idx);
	pq_pmap_free(&ms.sig_cache);
	pq_pmap_free(&ms.right);
	pq_pmap_free(&ms.matched);
	pq_val_free(&l);
	pq_val_free(&r);
	return rc;
}

