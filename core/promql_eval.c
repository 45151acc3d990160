/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PromQL evaluator: every node is evaluated over all steps at once
 * into a value (scalars: one number per step; vectors: series with a point
 * at the steps where they have one), as Prometheus' rangeEval does, so an
 * instant query is a range query of one step. Selectors read each series
 * once from the source and walk it with the steps; lookback, offsets and
 * stale markers follow Prometheus 2.x (a sample counts when
 * t - lookback <= ts <= t, a stale marker ends the series at once).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_vec.h"
#include "promql_eval.h"
#include "promql_regex.h"

#define DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define DEFAULT_MAX_SAMPLES 5000000ull
#define PQ_TIME_LIMIT_MS 9200000000000000ll


int pq_fail(struct pq_ev *ev, int status, const char *fmt, ...)
{
	if (ev->err && ev->err[0] == '\0') {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ev->err, ev->errlen, fmt, ap);
		va_end(ap);
	}
	return status;
}

int pq_account(struct pq_ev *ev, size_t n)
{
	ev->samples += n;
	if (ev->samples > ev->max_samples)
		return pq_fail(ev, PROMQL_ELIMIT,
			       "query processing would load too many samples into memory in query execution");
	return 0;
}

int64_t pq_step_time(const struct pq_ev *ev, size_t k) { return ev->start + (int64_t)k * ev->interval; }

/* --- values ----------------------------------------------------------------- */

void pq_val_free(struct pq_val *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->s[i].t);
		free(v->s[i].v);
	}
	free(v->s);
	free(v->sc);
	memset(v, 0, sizeof(*v));
}

int pq_series_add(struct pq_ev *ev, struct pq_val *v, const struct pq_labels *l, size_t *idx)
{
	if (!l || BM_VEC_RESERVE(v->s, v->cap, v->n + 1))
		return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	v->s[v->n] = (struct pq_series){.lbl = l};
	*idx = v->n++;
	return 0;
}

/* Room for one more (t, v) in parallel arrays sharing the capacity *cap. */
static int points_reserve(int64_t **t, double **v, size_t *cap, size_t n)
{
	if (n < *cap)
		return 0;
	size_t c = *cap;
	if (BM_VEC_RESERVE(*t, c, n + 1))
		return BM_ENOMEM;
	double *nv = realloc(*v, c * sizeof(*nv));
	if (!nv)
		return BM_ENOMEM; /* *t grew, *cap did not: the next call retries */
	*v = nv;
	*cap = c;
	return 0;
}

int pq_point_add(struct pq_ev *ev, struct pq_series *s, int64_t t, double v)
{
	if (points_reserve(&s->t, &s->v, &s->cap, s->n))
		return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	s->t[s->n] = t;
	s->v[s->n++] = v;
	return 0;
}

int pq_scalar_alloc(struct pq_ev *ev, struct pq_val *v)
{
	v->type = BM_PROMQL_SCALAR;
	v->sc = malloc(ev->n_steps * sizeof(*v->sc));
	return v->sc ? 0 : pq_fail(ev, PROMQL_ENOMEM, "out of memory");
}

int pq_collect(struct pq_ev *ev, struct pq_collector *c, const struct pq_vec *vec, int64_t t)
{
	int rc = pq_account(ev, vec->n);
	for (size_t i = 0; i < vec->n && !rc; i++) {
		size_t at = pq_pmap_get(&c->idx, vec->s[i].lbl);
		if (at == SIZE_MAX) {
			rc = pq_series_add(ev, c->out, vec->s[i].lbl, &at);
			if (!rc && pq_pmap_put(&c->idx, vec->s[i].lbl, at))
				rc = pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		} else if (c->out->s[at].n && c->out->s[at].t[c->out->s[at].n - 1] == t) {
			rc = pq_fail(ev, PROMQL_EEXEC, "vector cannot contain metrics with the same labelset");
		}
		if (!rc)
			rc = pq_point_add(ev, &c->out->s[at], t, vec->s[i].v);
	}
	return rc;
}

int pq_stepper_init(struct pq_ev *ev, struct pq_stepper *st, const struct pq_val *v)
{
	st->val = v;
	st->pos = calloc(v->n ? v->n : 1, sizeof(*st->pos));
	return st->pos ? 0 : pq_fail(ev, PROMQL_ENOMEM, "out of memory");
}

/* The instant vector at step time t (steps visited in order). */
int pq_vec_at(struct pq_ev *ev, struct pq_stepper *st, int64_t t, struct pq_vec *out)
{
	out->n = 0;
	for (size_t i = 0; i < st->val->n; i++) {
		const struct pq_series *s = &st->val->s[i];
		if (st->pos[i] < s->n && s->t[st->pos[i]] == t) {
			if (pq_vec_push(ev, out, s->lbl, s->v[st->pos[i]], t))
				return PROMQL_ENOMEM;
			st->pos[i]++;
		}
	}
	return 0;
}

/* --- selectors ------------------------------------------------------------- */

struct loaded {
	const struct pq_labels *lbl;
	int64_t id;
	int64_t *t;
	double *v;
	size_t n, cap;
};

struct load_ctx {
	struct pq_ev *ev;
	struct loaded *s;
	size_t n, cap;
	struct loaded *cur;
	bool drop_stale;
	int rc;
};

static void on_series(void *u, int64_t id, const char *text)
{
	struct load_ctx *c = u;
	if (c->rc)
		return;
	const struct pq_labels *l = pq_labels_from_text(c->ev, text);
	if (!l || BM_VEC_RESERVE(c->s, c->cap, c->n + 1)) {
		c->rc = pq_fail(c->ev, PROMQL_ENOMEM, "out of memory");
		return;
	}
	c->s[c->n++] = (struct loaded){.lbl = l, .id = id};
}

static void on_sample(void *u, int64_t ts, double v)
{
	struct load_ctx *c = u;
	struct loaded *s = c->cur;
	if (c->rc || (c->drop_stale && bm_is_stale_nan(v)))
		return;
	if ((c->rc = pq_account(c->ev, 1)))
		return;
	if (points_reserve(&s->t, &s->v, &s->cap, s->n)) {
		c->rc = pq_fail(c->ev, PROMQL_ENOMEM, "out of memory");
		return;
	}
	s->t[s->n] = ts;
	s->v[s->n++] = v;
}

static int cmp_loaded(const void *a, const void *b)
{
	return pq_labels_cmp(((const struct loaded *)a)->lbl, ((const struct loaded *)b)->lbl);
}

static void loaded_free(struct load_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->s[i].t);
		free(c->s[i].v);
	}
	free(c->s);
}

/* Every series the selector matches, with its samples in [mint, maxt],
 * sorted by labels as Prometheus' storage returns them. */
static int load(struct pq_ev *ev, const struct pq_node *sel, int64_t mint, int64_t maxt,
		bool drop_stale, struct load_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->ev = ev;
	c->drop_stale = drop_stale;
	size_t nm = sel->sel.n_m;
	struct bm_matcher *m = calloc(nm, sizeof(*m));
	char **ere = calloc(nm, sizeof(*ere));
	int rc = m && ere ? 0 : pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	for (size_t i = 0; i < nm && !rc; i++) {
		m[i] = sel->sel.m[i];
		if (m[i].op == BM_MATCH_RE || m[i].op == BM_MATCH_NRE) {
			if (!(ere[i] = pq_regex_translate(m[i].value)))
				rc = pq_fail(ev, PROMQL_ENOMEM, "out of memory");
			m[i].value = ere[i];
		}
	}
	if (!rc) {
		long found = ev->src->series(ev->src->ctx, m, nm, on_series, c);
		rc = c->rc ? c->rc : found < 0 ? pq_fail(ev, PROMQL_ESTORE, "store: %s", bm_strerror((int)found)) : 0;
	}
	for (size_t i = 0; i < nm && ere; i++)
		free(ere[i]);
	free(ere);
	free(m);
	for (size_t i = 0; i < c->n && !rc; i++) {
		c->cur = &c->s[i];
		long got = ev->src->raw(ev->src->ctx, c->s[i].id, mint, maxt, on_sample, c);
		rc = c->rc ? c->rc : got < 0 ? pq_fail(ev, PROMQL_ESTORE, "store: %s", bm_strerror((int)got)) : 0;
	}
	if (!rc && c->n > 1)
		qsort(c->s, c->n, sizeof(*c->s), cmp_loaded);
	return rc;
}

/* Instant vector selector: the newest sample within the lookback before
 * each step, unless it is a stale marker. With sample_time the value is
 * the sample's timestamp in seconds and the name is dropped (timestamp()). */
static int eval_vsel(struct pq_ev *ev, const struct pq_node *n, bool sample_time, struct pq_val *out)
{
	struct load_ctx c;
	int64_t off = n->sel.offset_ms;
	out->type = BM_PROMQL_VECTOR;
	int rc = load(ev, n, ev->start - off - ev->lookback_ms, ev->end - off, false, &c);
	for (size_t i = 0; i < c.n && !rc; i++) {
		const struct loaded *s = &c.s[i];
		size_t j = 0, at = SIZE_MAX;
		for (size_t k = 0; k < ev->n_steps && !rc && s->n; k++) {
			int64_t t = pq_step_time(ev, k), ref = t - off;
			while (j + 1 < s->n && s->t[j + 1] <= ref)
				j++;
			if (s->t[j] > ref || s->t[j] < ref - ev->lookback_ms || bm_is_stale_nan(s->v[j]))
				continue;
			if (at == SIZE_MAX)
				rc = pq_series_add(ev, out, sample_time ? pq_labels_drop_name(ev, s->lbl) : s->lbl, &at);
			if (!rc)
				rc = pq_point_add(ev, &out->s[at], t, sample_time ? (double)s->t[j] / 1000 : s->v[j]);
		}
	}
	loaded_free(&c);
	return rc;
}

/* A range selector evaluated on its own (an instant query of `x[5m]`):
 * the raw samples of the window, stale markers left out. */
static int eval_msel(struct pq_ev *ev, const struct pq_node *n, struct pq_val *out)
{
	struct load_ctx c;
	int64_t maxt = ev->start - n->sel.offset_ms;
	out->type = BM_PROMQL_MATRIX;
	int rc = load(ev, n, maxt - n->sel.range_ms, maxt, true, &c);
	for (size_t i = 0; i < c.n && !rc; i++) {
		size_t at;
		if (!c.s[i].n)
			continue;
		rc = pq_series_add(ev, out, c.s[i].lbl, &at);
		for (size_t j = 0; j < c.s[i].n && !rc; j++)
			rc = pq_point_add(ev, &out->s[at], c.s[i].t[j], c.s[i].v[j]);
	}
	loaded_free(&c);
	return rc;
}

/* --- function calls --------------------------------------------------------- */

static const struct pq_node *unparen(const struct pq_node *n)
{
	while (n->kind == PQ_N_PAREN)
		n = n->inner;
	return n;
}

/* Vectors must not hold two series with the same labels (after a
 * function or operator dropped the name). */
static int check_unique(struct pq_ev *ev, const struct pq_val *v)
{
	struct pq_pmap seen = {0};
	int rc = 0;
	for (size_t i = 0; i < v->n && !rc; i++) {
		if (!v->s[i].n)
			continue;
		if (pq_pmap_get(&seen, v->s[i].lbl) != SIZE_MAX)
			rc = pq_fail(ev, PROMQL_EEXEC, "vector cannot contain metrics with the same labelset");
		else if (pq_pmap_put(&seen, v->s[i].lbl, i))
			rc = pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	}
	pq_pmap_free(&seen);
	return rc;
}

/* rate(x[5m]) and friends: each series' window slides with the steps. */
static int eval_range_call(struct pq_ev *ev, const struct pq_node *call, struct pq_val *out)
{
	const struct pq_func *fn = call->call.fn;
	const struct pq_node *sel = unparen(call->call.args[fn->matrix_arg]);
	struct pq_val arg = {0};
	int rc = 0;
	out->type = BM_PROMQL_VECTOR;
	if (call->call.n_args > 1)
		rc = pq_eval(ev, call->call.args[fn->matrix_arg == 0 ? 1 : 0], &arg);
	int64_t off = sel->sel.offset_ms, range = sel->sel.range_ms;
	struct load_ctx c = {0};
	if (!rc)
		rc = load(ev, sel, ev->start - off - range, ev->end - off, true, &c);
	for (size_t i = 0; i < c.n && !rc; i++) {
		const struct loaded *s = &c.s[i];
		size_t lo = 0, hi = 0, at = SIZE_MAX;
		for (size_t k = 0; k < ev->n_steps && !rc; k++) {
			int64_t t = pq_step_time(ev, k), maxt = t - off, mint = maxt - range;
			while (hi < s->n && s->t[hi] <= maxt)
				hi++;
			while (lo < hi && s->t[lo] < mint)
				lo++;
			struct pq_window w = {s->t + lo, s->v + lo, hi - lo, t, range, off,
					      arg.sc ? arg.sc[k] : 0};
			double v;
			if (w.n == 0 || !fn->range(&w, &v))
				continue;
			if (at == SIZE_MAX)
				rc = pq_series_add(ev, out, fn->keep_name ? s->lbl : pq_labels_drop_name(ev, s->lbl), &at);
			if (!rc)
				rc = pq_point_add(ev, &out->s[at], t, v);
		}
	}
	loaded_free(&c);
	pq_val_free(&arg);
	return rc ? rc : check_unique(ev, out);
}

/* Labels of absent(): the equality matchers of a selector argument; a
 * label named by more than one matcher, or not by equality, is left out. */
static const struct pq_labels *absent_labels(struct pq_ev *ev, const struct pq_node *arg)
{
	struct bm_label l[128];
	size_t n = 0;
	if (arg->kind != PQ_N_VSEL && arg->kind != PQ_N_MSEL)
		return ev->empty;
	for (size_t i = 0; i < arg->sel.n_m && n < 128; i++) {
		const struct bm_matcher *m = &arg->sel.m[i];
		size_t named = 0;
		for (size_t j = 0; j < arg->sel.n_m; j++)
			named += strcmp(arg->sel.m[j].name, m->name) == 0;
		if (m->op == BM_MATCH_EQ && named == 1 && strcmp(m->name, "__name__") != 0)
			l[n++] = (struct bm_label){m->name, m->value};
	}
	return pq_labels_intern(ev, l, n);
}

/* absent(v) and absent_over_time(v[d]): 1 at the steps where v has nothing. */
static int eval_absent(struct pq_ev *ev, const struct pq_node *call, struct pq_val *out)
{
	struct pq_val in = {0};
	const struct pq_node *arg = call->call.args[0];
	int rc = call->call.fn->special == PQ_FN_ABSENT_OVER_TIME ? eval_range_call(ev, call, &in)
								   : pq_eval(ev, arg, &in);
	bool *present = rc ? NULL : calloc(ev->n_steps, sizeof(*present));
	if (!rc && !present)
		rc = pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	for (size_t i = 0; i < in.n && !rc; i++)
		for (size_t j = 0; j < in.s[i].n; j++)
			present[(size_t)((in.s[i].t[j] - ev->start) / ev->interval)] = true;
	out->type = BM_PROMQL_VECTOR;
	const struct pq_labels *l = rc ? NULL : absent_labels(ev, unparen(arg));
	size_t at = SIZE_MAX;
	for (size_t k = 0; k < ev->n_steps && !rc; k++) {
		if (present[k])
			continue;
		if (at == SIZE_MAX)
			rc = pq_series_add(ev, out, l, &at);
		if (!rc)
			rc = pq_point_add(ev, &out->s[at], pq_step_time(ev, k), 1);
	}
	free(present);
	pq_val_free(&in);
	return rc;
}

/* time(), vector(s), scalar(v), timestamp(v) */
static int eval_step_special(struct pq_ev *ev, const struct pq_node *call, struct pq_val *out)
{
	enum pq_special sp = call->call.fn->special;
	struct pq_val in = {0};
	int rc = 0;
	if (sp == PQ_FN_TIME) {
		rc = pq_scalar_alloc(ev, out);
		for (size_t k = 0; k < ev->n_steps && !rc; k++)
			out->sc[k] = (double)pq_step_time(ev, k) / 1000;
		return rc;
	}
	const struct pq_node *arg = call->call.args[0];
	if (sp == PQ_FN_TIMESTAMP && unparen(arg)->kind == PQ_N_VSEL) {
		rc = eval_vsel(ev, unparen(arg), true, out);
		return rc ? rc : check_unique(ev, out);
	}
	if ((rc = pq_eval(ev, arg, &in)))
		return rc;
	if (sp == PQ_FN_VECTOR) {
		out->type = BM_PROMQL_VECTOR;
		size_t at;
		rc = pq_series_add(ev, out, ev->empty, &at);
		for (size_t k = 0; k < ev->n_steps && !rc; k++)
			rc = pq_point_add(ev, &out->s[at], pq_step_time(ev, k), in.sc[k]);
	} else if (sp == PQ_FN_SCALAR) {
		struct pq_stepper st = {0};
		struct pq_vec v = {0};
		rc = pq_scalar_alloc(ev, out);
		if (!rc)
			rc = pq_stepper_init(ev, &st, &in);
		for (size_t k = 0; k < ev->n_steps && !rc; k++) {
			rc = pq_vec_at(ev, &st, pq_step_time(ev, k), &v);
			out->sc[k] = v.n == 1 ? v.s[0].v : NAN;
		}
		free(st.pos);
		free(v.s);
	} else { /* timestamp of anything but a selector: the step time */
		out->type = BM_PROMQL_VECTOR;
		for (size_t i = 0; i < in.n && !rc; i++) {
			size_t at;
			rc = pq_series_add(ev, out, pq_labels_drop_name(ev, in.s[i].lbl), &at);
			for (size_t j = 0; j < in.s[i].n && !rc; j++)
				rc = pq_point_add(ev, &out->s[at], in.s[i].t[j], (double)in.s[i].t[j] / 1000);
		}
		if (!rc)
			rc = check_unique(ev, out);
	}
	pq_val_free(&in);
	return rc;
}

/* A function of an instant vector (and scalars and strings), step by step. */
static int eval_vec_call(struct pq_ev *ev, const struct pq_node *call, struct pq_val *out)
{
	const struct pq_func *fn = call->call.fn;
	struct pq_val args[5] = {{0}};
	const char *strs[5] = {0};
	double sc[5] = {0};
	size_t vec_arg = 0;
	int rc = 0;
	struct pq_fn_state state = {.n_args = call->call.n_args};
	for (size_t i = 0; i < call->call.n_args && !rc; i++) {
		rc = pq_eval(ev, call->call.args[i], &args[i]);
		strs[i] = args[i].str;
		if (args[i].type == BM_PROMQL_VECTOR)
			vec_arg = i;
	}
	struct pq_stepper st = {0};
	struct pq_vec in = {0}, res = {0};
	struct pq_collector col = {out, {0}};
	out->type = BM_PROMQL_VECTOR;
	if (!rc)
		rc = pq_stepper_init(ev, &st, &args[vec_arg]);
	for (size_t k = 0; k < ev->n_steps && !rc; k++) {
		int64_t t = pq_step_time(ev, k);
		for (size_t i = 0; i < call->call.n_args; i++)
			sc[i] = args[i].sc ? args[i].sc[k] : 0;
		res.n = 0;
		rc = pq_vec_at(ev, &st, t, &in);
		if (!rc)
			rc = fn->vec(ev, &state, &in, sc, strs, &res);
		if (!rc)
			rc = pq_collect(ev, &col, &res, t);
	}
	if (state.re_ready)
		regfree(&state.re);
	free(st.pos);
	free(in.s);
	free(res.s);
	pq_pmap_free(&col.idx);
	for (size_t i = 0; i < call->call.n_args; i++)
		pq_val_free(&args[i]);
	return rc;
}

static int eval_call(struct pq_ev *ev, const struct pq_node *call, struct pq_val *out)
{
	const struct pq_func *fn = call->call.fn;
	switch (fn->special) {
	case PQ_FN_ABSENT:
	case PQ_FN_ABSENT_OVER_TIME: return eval_absent(ev, call, out);
	case PQ_FN_TIME:
	case PQ_FN_VECTOR:
	case PQ_FN_SCALAR:
	case PQ_FN_TIMESTAMP: return eval_step_special(ev, call, out);
	case PQ_FN_PLAIN: break;
	}
	return fn->range ? eval_range_call(ev, call, out) : eval_vec_call(ev, call, out);
}

/* -x: the name goes, as with any arithmetic. */
static int eval_neg(struct pq_ev *ev, const struct pq_node *n, struct pq_val *out)
{
	int rc = pq_eval(ev, n->inner, out);
	if (rc)
		return rc;
	if (out->type == BM_PROMQL_SCALAR) {
		for (size_t k = 0; k < ev->n_steps; k++)
			out->sc[k] = -out->sc[k];
		return 0;
	}
	for (size_t i = 0; i < out->n; i++) {
		out->s[i].lbl = pq_labels_drop_name(ev, out->s[i].lbl);
		if (!out->s[i].lbl)
			return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
		for (size_t j = 0; j < out->s[i].n; j++)
			out->s[i].v[j] = -out->s[i].v[j];
	}
	return check_unique(ev, out);
}

int pq_eval(struct pq_ev *ev, const struct pq_node *n, struct pq_val *out)
{
	memset(out, 0, sizeof(*out));
	switch (n->kind) {
	case PQ_N_NUM: {
		int rc = pq_scalar_alloc(ev, out);
		for (size_t k = 0; k < ev->n_steps && !rc; k++)
			out->sc[k] = n->num;
		return rc;
	}
	case PQ_N_STR:
		out->type = BM_PROMQL_STRING;
		out->str = n->str;
		return 0;
	case PQ_N_PAREN: return pq_eval(ev, n->inner, out);
	case PQ_N_VSEL: return eval_vsel(ev, n, false, out);
	case PQ_N_MSEL: return eval_msel(ev, n, out);
	case PQ_N_CALL: return eval_call(ev, n, out);
	case PQ_N_AGG: return pq_eval_agg(ev, n, out);
	case PQ_N_BIN: return pq_eval_binary(ev, n, out);
	case PQ_N_NEG: return eval_neg(ev, n, out);
	}
	return pq_fail(ev, PROMQL_EEXEC, "unknown expression");
}

/* --- results ------------------------------------------------------------------ */

struct result_priv {
	struct bm_arena arena; /* label sets */
	struct pq_val val;
	double scalar_v;
	int64_t scalar_t;
};

static int cmp_series(const void *a, const void *b)
{
	return pq_labels_cmp(((const struct pq_series *)a)->lbl, ((const struct pq_series *)b)->lbl);
}

/* The result as the API shows it: instant vectors keep the order of
 * evaluation, range results are sorted by labels. */
static int fill_result(struct pq_ev *ev, struct result_priv *p, bool range, struct promql_result *res)
{
	struct pq_val *v = &p->val;
	res->priv = p;
	if (v->type == BM_PROMQL_STRING) {
		res->type = BM_PROMQL_STRING;
		res->str = v->str;
		res->t = ev->start;
		return 0;
	}
	if (v->type == BM_PROMQL_SCALAR && !range) {
		res->type = BM_PROMQL_SCALAR;
		res->scalar = v->sc[0];
		res->t = ev->start;
		return 0;
	}
	if (v->type == BM_PROMQL_SCALAR) { /* a range query of a scalar: one series {} */
		size_t at;
		int rc = pq_series_add(ev, v, ev->empty, &at);
		for (size_t k = 0; k < ev->n_steps && !rc; k++)
			rc = pq_point_add(ev, &v->s[at], pq_step_time(ev, k), v->sc[k]);
		if (rc)
			return rc;
	}
	res->type = range ? BM_PROMQL_MATRIX : v->type;
	if (range && v->n > 1)
		qsort(v->s, v->n, sizeof(*v->s), cmp_series);
	res->series = calloc(v->n ? v->n : 1, sizeof(*res->series));
	if (!res->series)
		return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	for (size_t i = 0; i < v->n; i++) {
		if (!v->s[i].n)
			continue;
		res->series[res->n_series++] = (struct promql_series){
			v->s[i].lbl->l, v->s[i].lbl->n, v->s[i].t, v->s[i].v, v->s[i].n};
	}
	return 0;
}

int promql_eval(const struct promql_source *src, const struct promql_opts *opt,
		const struct promql_expr *e, int64_t start_ms, int64_t end_ms, int64_t step_ms,
		struct promql_result *res, char *err, size_t errlen)
{
	char dummy[8];
	struct pq_ev ev = {.src = src, .start = start_ms, .end = end_ms,
			   .interval = step_ms > 0 ? step_ms : 1,
			   .lookback_ms = opt && opt->lookback_ms > 0 ? opt->lookback_ms : DEFAULT_LOOKBACK_MS,
			   .max_samples = opt && opt->max_samples ? opt->max_samples : DEFAULT_MAX_SAMPLES,
			   .err = err && errlen ? err : dummy, .errlen = err && errlen ? errlen : sizeof(dummy)};
	ev.err[0] = '\0';
	memset(res, 0, sizeof(*res));
	bool range = step_ms > 0;
	/* times within 292,000 years of 1970: every offset and range sum fits */
	if (end_ms < start_ms || step_ms < 0 || (!range && end_ms != start_ms) ||
	    start_ms < -PQ_TIME_LIMIT_MS || end_ms > PQ_TIME_LIMIT_MS)
		return pq_fail(&ev, PROMQL_EBADARG, "invalid time range or step");
	if (range && (promql_expr_type(e) == BM_PROMQL_MATRIX || promql_expr_type(e) == BM_PROMQL_STRING))
		return pq_fail(&ev, PROMQL_EBADARG,
			       "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
			       pq_type_name(promql_expr_type(e)));
	if (((uint64_t)end_ms - (uint64_t)start_ms) / (uint64_t)ev.interval >= ev.max_samples)
		return pq_fail(&ev, PROMQL_ELIMIT,
			       "query processing would load too many samples into memory in query execution");
	ev.n_steps = (size_t)(((uint64_t)end_ms - (uint64_t)start_ms) / (uint64_t)ev.interval) + 1;
	struct result_priv *p = calloc(1, sizeof(*p));
	int rc = p ? 0 : pq_fail(&ev, PROMQL_ENOMEM, "out of memory");
	if (!rc && !(ev.empty = pq_labels_intern(&ev, NULL, 0)))
		rc = pq_fail(&ev, PROMQL_ENOMEM, "out of memory");
	if (!rc)
		rc = pq_eval(&ev, e->root, &p->val);
	if (!rc)
		rc = fill_result(&ev, p, range, res);
	pq_labels_free_all(&ev);
	if (p)
		p->arena = ev.arena; /* the result's labels live on */
	else
		bm_arena_free(&ev.arena);
	if (rc) {
		res->priv = p;
		promql_result_free(res);
	}
	return rc;
}

void promql_result_free(struct promql_result *res)
{
	struct result_priv *p = res->priv;
	if (p) {
		pq_val_free(&p->val);
		bm_arena_free(&p->arena);
		free(p);
	}
	free(res->series);
	memset(res, 0, sizeof(*res));
}

int promql_query(const struct promql_source *src, const struct promql_opts *opt,
		 const char *expr, int64_t start_ms, int64_t end_ms, int64_t step_ms,
		 struct promql_result *out, char *err, size_t errlen)
{
	struct promql_expr *e = promql_parse(expr, err, errlen);
	memset(out, 0, sizeof(*out));
	if (!e)
		return PROMQL_EPARSE;
	int rc = promql_eval(src, opt, e, start_ms, end_ms, step_ms, out, err, errlen);
	/* a string result points into the expression: copy it out */
	if (!rc && out->type == BM_PROMQL_STRING) {
		struct result_priv *p = out->priv;
		out->str = bm_arena_strndup(&p->arena, out->str, strlen(out->str));
		if (!out->str) {
			promql_result_free(out);
			rc = PROMQL_ENOMEM;
		}
	}
	promql_expr_free(e);
	return rc;
}

int promql_status_errcode(int status)
{
	switch (status) {
	case PROMQL_OK: return 0;
	case PROMQL_EPARSE:
	case PROMQL_EBADARG: return BM_EINVAL;
	case PROMQL_ELIMIT: return BM_ERANGE;
	case PROMQL_EEXEC: return BM_EPROTO;
	case PROMQL_ENOMEM: return BM_ENOMEM;
	default: return BM_EIO;
	}
}
