/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL functions: the table the parser checks calls against, and the
 * bodies, written after Prometheus 2.x's promql/functions.go so that
 * results agree to the last bit where the arithmetic allows (the order of
 * operations in extrapolated rates, Kahan sums, Go's Min/Max on NaN).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_vec.h"
#include "promql_eval.h"
#include "promql_regex.h"

/* --- Go's math.Max / math.Min: +Inf / -Inf win over NaN, NaN over numbers */

static double go_max(double x, double y)
{
	if (isinf(x) && x > 0)
		return x;
	if (isinf(y) && y > 0)
		return y;
	if (isnan(x) || isnan(y))
		return NAN;
	if (x == 0 && x == y)
		return signbit(x) ? y : x;
	return x > y ? x : y;
}

static double go_min(double x, double y)
{
	if (isinf(x) && x < 0)
		return x;
	if (isinf(y) && y < 0)
		return y;
	if (isnan(x) || isnan(y))
		return NAN;
	if (x == 0 && x == y)
		return signbit(x) ? x : y;
	return x < y ? x : y;
}

/* Kahan-Babuska summation step, as Prometheus' kahanSumInc. */
static double kahan_inc(double inc, double sum, double *c)
{
	double t = sum + inc;
	if (fabs(sum) >= fabs(inc))
		*c += (sum - t) + inc;
	else
		*c += (inc - t) + sum;
	return t;
}

/* --- rates ----------------------------------------------------------------- */

/* Prometheus' extrapolatedRate (2.x): the increase between the first and
 * last sample (counter resets added back), extrapolated to the window's
 * edges when the samples come close to them, never below a counter's
 * zero point. */
static bool extrapolated_rate(const struct pq_window *w, double *out, bool is_counter, bool is_rate)
{
	if (w->n < 2)
		return false;
	int64_t range_start = w->ts - (w->range_ms + w->offset_ms);
	int64_t range_end = w->ts - w->offset_ms;
	double result = w->v[w->n - 1] - w->v[0];
	if (is_counter) {
		double last = 0;
		for (size_t i = 0; i < w->n; i++) {
			if (w->v[i] < last)
				result += last;
			last = w->v[i];
		}
	}
	double to_start = (double)(w->t[0] - range_start) / 1000;
	double to_end = (double)(range_end - w->t[w->n - 1]) / 1000;
	double sampled = (double)(w->t[w->n - 1] - w->t[0]) / 1000;
	double avg_between = sampled / (double)(w->n - 1);
	if (is_counter && result > 0 && w->v[0] >= 0) {
		double to_zero = sampled * (w->v[0] / result);
		if (to_zero < to_start)
			to_start = to_zero;
	}
	double threshold = avg_between * 1.1;
	double interval = sampled;
	interval += to_start < threshold ? to_start : avg_between / 2;
	interval += to_end < threshold ? to_end : avg_between / 2;
	double factor = interval / sampled;
	if (is_rate)
		factor /= (double)w->range_ms / 1000;
	*out = result * factor;
	return true;
}

static bool fn_rate(const struct pq_window *w, double *out) { return extrapolated_rate(w, out, true, true); }
static bool fn_increase(const struct pq_window *w, double *out) { return extrapolated_rate(w, out, true, false); }
static bool fn_delta(const struct pq_window *w, double *out) { return extrapolated_rate(w, out, false, false); }

/* irate / idelta: the last two samples. */
static bool instant_value(const struct pq_window *w, double *out, bool is_rate)
{
	if (w->n < 2)
		return false;
	double last = w->v[w->n - 1], prev = w->v[w->n - 2];
	double r = is_rate && last < prev ? last : last - prev;
	int64_t dt = w->t[w->n - 1] - w->t[w->n - 2];
	if (dt == 0)
		return false;
	*out = is_rate ? r / ((double)dt / 1000) : r;
	return true;
}

static bool fn_irate(const struct pq_window *w, double *out) { return instant_value(w, out, true); }
static bool fn_idelta(const struct pq_window *w, double *out) { return instant_value(w, out, false); }

/* Least squares over the window with x in seconds from intercept_ms. */
static void linear_regression(const struct pq_window *w, int64_t intercept_ms, double *slope,
			      double *intercept)
{
	double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
	bool const_y = true;
	for (size_t i = 0; i < w->n; i++) {
		if (const_y && i > 0 && w->v[i] != w->v[0])
			const_y = false;
		n += 1;
		double x = (double)(w->t[i] - intercept_ms) / 1e3;
		sx = kahan_inc(x, sx, &cx);
		sy = kahan_inc(w->v[i], sy, &cy);
		sxy = kahan_inc(x * w->v[i], sxy, &cxy);
		sx2 = kahan_inc(x * x, sx2, &cx2);
	}
	if (const_y) {
		*slope = isinf(w->v[0]) ? NAN : 0;
		*intercept = isinf(w->v[0]) ? NAN : w->v[0];
		return;
	}
	sx += cx;
	sy += cy;
	sxy += cxy;
	sx2 += cx2;
	double cov = sxy - sx * sy / n;
	double var = sx2 - sx * sx / n;
	*slope = cov / var;
	*intercept = sy / n - *slope * sx / n;
}

static bool fn_deriv(const struct pq_window *w, double *out)
{
	double slope, icpt;
	if (w->n < 2)
		return false;
	/* an intercept time near the samples keeps the sums precise */
	linear_regression(w, w->t[0], &slope, &icpt);
	*out = slope;
	return true;
}

static bool fn_predict_linear(const struct pq_window *w, double *out)
{
	double slope, icpt;
	if (w->n < 2)
		return false;
	linear_regression(w, w->ts, &slope, &icpt);
	*out = slope * w->arg + icpt;
	return true;
}

static bool fn_changes(const struct pq_window *w, double *out)
{
	size_t changes = 0;
	for (size_t i = 1; i < w->n; i++)
		if (w->v[i] != w->v[i - 1] && !(isnan(w->v[i]) && isnan(w->v[i - 1])))
			changes++;
	*out = (double)changes;
	return true;
}

static bool fn_resets(const struct pq_window *w, double *out)
{
	size_t resets = 0;
	for (size_t i = 1; i < w->n; i++)
		if (w->v[i] < w->v[i - 1])
			resets++;
	*out = (double)resets;
	return true;
}

/* --- *_over_time ------------------------------------------------------------ */

static bool fn_avg_over_time(const struct pq_window *w, double *out)
{
	double mean = 0, count = 0, c = 0;
	for (size_t i = 0; i < w->n; i++) {
		double v = w->v[i];
		count++;
		if (isinf(mean)) {
			if (isinf(v) && (mean > 0) == (v > 0))
				continue; /* Inf of the same sign: the mean is right already */
			if (!isinf(v) && !isnan(v))
				continue; /* an infinite mean stays */
		}
		mean = kahan_inc(v / count - mean / count, mean, &c);
	}
	*out = isinf(mean) ? mean : mean + c;
	return true;
}

static bool fn_sum_over_time(const struct pq_window *w, double *out)
{
	double sum = 0, c = 0;
	for (size_t i = 0; i < w->n; i++)
		sum = kahan_inc(w->v[i], sum, &c);
	*out = isinf(sum) ? sum : sum + c;
	return true;
}

static bool fn_count_over_time(const struct pq_window *w, double *out)
{
	*out = (double)w->n;
	return true;
}

static bool fn_last_over_time(const struct pq_window *w, double *out)
{
	*out = w->v[w->n - 1];
	return true;
}

static bool fn_min_over_time(const struct pq_window *w, double *out)
{
	double m = w->v[0];
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i] < m || isnan(m))
			m = w->v[i];
	*out = m;
	return true;
}

static bool fn_max_over_time(const struct pq_window *w, double *out)
{
	double m = w->v[0];
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i] > m || isnan(m))
			m = w->v[i];
	*out = m;
	return true;
}

/* Welford's variance with Kahan steps, as Prometheus' stdvar_over_time. */
static double variance(const struct pq_window *w)
{
	double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
	for (size_t i = 0; i < w->n; i++) {
		count++;
		double delta = w->v[i] - (mean + cmean);
		mean = kahan_inc(delta / count, mean, &cmean);
		aux = kahan_inc(delta * (w->v[i] - (mean + cmean)), aux, &caux);
	}
	return (aux + caux) / count;
}

static bool fn_stddev_over_time(const struct pq_window *w, double *out)
{
	*out = sqrt(variance(w));
	return true;
}

static bool fn_stdvar_over_time(const struct pq_window *w, double *out)
{
	*out = variance(w);
	return true;
}

/* Go's sort order for Prometheus' vectorByValueHeap: NaN first. */
static int cmp_nan_first(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	if (isnan(x) || isnan(y))
		return isnan(y) - isnan(x);
	return (x > y) - (x < y);
}

double pq_quantile(double q, double *v, size_t n)
{
	if (n == 0 || isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(v, n, sizeof(*v), cmp_nan_first);
	double rank = q * (double)(n - 1);
	double lower = go_max(0, floor(rank));
	double upper = go_min((double)(n - 1), lower + 1);
	double weight = rank - floor(rank);
	return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

static bool fn_quantile_over_time(const struct pq_window *w, double *out)
{
	double *copy = malloc(w->n * sizeof(*copy));
	if (!copy)
		return false;
	memcpy(copy, w->v, w->n * sizeof(*copy));
	*out = pq_quantile(w->arg, copy, w->n);
	free(copy);
	return true;
}

/* --- instant-vector functions ---------------------------------------------- */

/* Apply f to every element, dropping the metric name. */
static int map_values(struct pq_ev *ev, const struct pq_vec *in, struct pq_vec *out,
		      double (*f)(double v, const double *args), const double *args)
{
	for (size_t i = 0; i < in->n; i++) {
		int rc = pq_vec_push(ev, out, pq_labels_drop_name(ev, in->s[i].lbl),
				     f(in->s[i].v, args), in->s[i].t);
		if (rc)
			return rc;
	}
	return 0;
}

#define SIMPLE_FN(NAME, EXPR)                                                                      \
	static double NAME##_of(double v, const double *args)                                      \
	{                                                                                          \
		(void)args;                                                                        \
		return (EXPR);                                                                     \
	}                                                                                          \
	static int fn_##NAME(struct pq_ev *ev, struct pq_fn_state *st, const struct pq_vec *in,   \
			     const double *args, const char *const *strs, struct pq_vec *out)      \
	{                                                                                          \
		(void)st;                                                                          \
		(void)strs;                                                                        \
		return map_values(ev, in, out, NAME##_of, args);                                   \
	}

SIMPLE_FN(abs, fabs(v))
SIMPLE_FN(ceil, ceil(v))
SIMPLE_FN(floor, floor(v))
SIMPLE_FN(exp, exp(v))
SIMPLE_FN(ln, log(v))
SIMPLE_FN(log2, log2(v))
SIMPLE_FN(log10, log10(v))
SIMPLE_FN(sqrt, sqrt(v))
SIMPLE_FN(sgn, v < 0 ? -1 : v > 0 ? 1 : v)
SIMPLE_FN(clamp_min, go_max(args[1], v))
SIMPLE_FN(clamp_max, go_min(args[1], v))

static double round_of(double v, const double *args)
{
	double inv = 1.0 / args[1];
	return floor(v * inv + 0.5) / inv;
}

static int fn_round(struct pq_ev *ev, struct pq_fn_state *st, const struct pq_vec *in,
		    const double *args, const char *const *strs, struct pq_vec *out)
{
	(void)strs;
	double a[2] = {0, st->n_args > 1 ? args[1] : 1};
	return map_values(ev, in, out, round_of, a);
}

static double clamp_of(double v, const double *args) { return go_max(args[1], go_min(args[2], v)); }

static int fn_clamp(struct pq_ev *ev, struct pq_fn_state *st, const struct pq_vec *in,
		    const double *args, const char *const *strs, struct pq_vec *out)
{
	(void)st;
	(void)strs;
	if (args[2] < args[1])
		return 0; /* max below min: nothing */
	return map_values(ev, in, out, clamp_of, args);
}

/* sort(): ascending, sort_desc(): descending; NaN last in both, equal
 * values in input order. */
struct sort_item {
	struct pq_sample s;
	size_t idx;
};

static int cmp_sort(const void *a, const void *b, void *desc)
{
	const struct sort_item *x = a, *y = b;
	int c;
	if (isnan(x->s.v) || isnan(y->s.v))
		c = isnan(x->s.v) - isnan(y->s.v);
	else
		c = *(bool *)desc ? (x->s.v < y->s.v) - (x->s.v > y->s.v)
				  : (x->s.v > y->s.v) - (x->s.v < y->s.v);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int sort_vec(struct pq_ev *ev, const struct pq_vec *in, struct pq_vec *out, bool desc)
{
	struct sort_item *it = malloc((in->n ? in->n : 1) * sizeof(*it));
	if (!it)
		return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
	for (size_t i = 0; i < in->n; i++)
		it[i] = (struct sort_item){in->s[i], i};
	qsort_r(it, in->n, sizeof(*it), cmp_sort, &desc);
	int rc = 0;
	for (size_t i = 0; i < in->n && !rc; i++)
		rc = pq_vec_push(ev, out, it[i].s.lbl, it[i].s.v, it[i].s.t);
	free(it);
	return rc;
}

static int fn_sort(struct pq_ev *ev, struct pq_fn_state *st, const struct pq_vec *in,
		   const double *args, const char *const *strs, struct pq_vec *out)
{
	(void)st, (void)args, (void)strs;
	return sort_vec(ev, in, out, false);
}

static int fn_sort_desc(struct pq_ev *ev, struct pq_fn_state *st, const struct pq_vec *in,
			const double *args, const char *const *strs, struct pq_vec *out)
{
	(void)st, (void)args, (void)strs;
	return sort_vec(ev, in, out, true);
}

/* --- label_replace --------------------------------------------------------- */

static bool valid_label_name(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return false;
	return true;
}

/* Go's Regexp.ExpandString: $1, ${1}, $$; $name and ${name} name groups,
 * which POSIX expressions do not have, so they expand to nothing. A name
 * is the longest run of letters, digits and _ ("$1x" is group "1x"). */
static char *expand(const char *tmpl, const char *src, const regmatch_t *m, size_t nm)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (const char *p = tmpl; *p; p++) {
		if (*p != '$') {
			fputc(*p, f);
			continue;
		}
		if (p[1] == '$') {
			fputc('$', f);
			p++;
			continue;
		}
		bool braced = p[1] == '{';
		const char *name = p + 1 + braced, *e = name;
		while (isalnum((unsigned char)*e) || *e == '_')
			e++;
		if (e == name || (braced && *e != '}')) {
			fputc('$', f); /* not a reference: kept as text */
			continue;
		}
		bool numeric = true;
		for (const char *q = name; q < e; q++)
			numeric &= isdigit((unsigned char)*q) != 0;
		size_t idx = numeric && e - name < 6 ? (size_t)strtoul(name, NULL, 10) : SIZE_MAX;
		if (idx < nm && m[idx].rm_so >= 0)
			fwrite(src + m[idx].rm_so, 1, (size_t)(m[idx].rm_eo - m[idx].rm_so), f);
		p = braced ? e : e - 1;
	}
	fclose(f);
	return out;
}

static int fn_label_replace(struct pq_ev *ev, struct pq_fn_state *st, const struct pq_vec *in,
			    const double *args, const char *const *strs, struct pq_vec *out)
{
	(void)args;
	const char *dst = strs[1], *repl = strs[2], *src = strs[3], *re = strs[4];
	if (!st->re_ready) {
		if (pq_regcomp_anchored(&st->re, re, 0, NULL, 0))
			return pq_fail(ev, PROMQL_EEXEC, "invalid regular expression in label_replace(): %s", re);
		st->re_ready = true;
	}
	if (!valid_label_name(dst))
		return pq_fail(ev, PROMQL_EEXEC, "invalid destination label name in label_replace(): %s", dst);
	regmatch_t m[10];
	for (size_t i = 0; i < in->n; i++) {
		const struct pq_labels *l = in->s[i].lbl;
		const char *val = pq_labels_get(l, src);
		if (regexec(&st->re, val, 10, m, 0) == 0) {
			/* group 0 is our own anchoring group: the user's are 1.. */
			regmatch_t user[10];
			user[0] = m[0];
			for (size_t k = 1; k < 9; k++)
				user[k] = m[k + 1];
			user[9].rm_so = -1;
			char *res = expand(repl, val, user, 10);
			if (!res)
				return pq_fail(ev, PROMQL_ENOMEM, "out of memory");
			l = pq_labels_set(ev, l, dst, res);
			free(res);
		}
		if (pq_vec_push(ev, out, l, in->s[i].v, in->s[i].t))
			return PROMQL_ENOMEM;
	}
	return 0;
}

/* --- histogram_quantile ---------------------------------------------------- */

struct bucket {
	double le, count;
};

static int cmp_bucket(const void *a, const void *b)
{
	double x = ((const struct bucket *)a)->le, y = ((const struct bucket *)b)->le;
	return (x > y) - (x < y);
}

/* Prometheus' bucketQuantile over classic buckets (cumulative counts). */
static double bucket_quantile(double q, struct bucket *b, size_t n)
{
	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(b, n, sizeof(*b), cmp_bucket);
	if (!(isinf(b[n - 1].le) && b[n - 1].le > 0))
		return NAN;
	size_t k = 0; /* coalesce equal bounds */
	for (size_t i = 1; i < n; i++) {
		if (b[i].le == b[k].le)
			b[k].count += b[i].count;
		else
			b[++k] = b[i];
	}
	n = k + 1;
	double max = -INFINITY; /* ensure monotonic counts */
	for (size_t i = 0; i < n; i++) {
		if (b[i].count > max)
			max = b[i].count;
		else if (b[i].count < max)
			b[i].count = max;
	}
	if (n < 2)
		return NAN;
	double obs = b[n - 1].count;
	if (obs == 0)
		return NAN;
	double rank = q * obs;
	size_t i = 0; /* the first bucket with count >= rank, among n - 1 */
	while (i < n - 1 && !(b[i].count >= rank))
		i++;
	if (i == n - 1)
		return b[n - 2].le;
	if (i == 0 && b[0].le <= 0)
		return b[0].le;
	double start = 0, end = b[i].le, count = b[i].count;
	if (i > 0) {
		start = b[i - 1].le;
		count -= b[i - 1].count;
		rank -= b[i - 1].count;
	}
	return start + (end - start) * (rank / count);
}

/* Go's strconv.ParseFloat on an le label: the whole text must be a number. */
static bool parse_le(const char *s, double *out)
{
	char *end;
	if (!*s || isspace((unsigned char)*s))
		return false;
	*out = strtod(s, &end);
	return *end == '\0';
}

struct hgroup {
	const struct pq_labels *out; /* without le and __name__ */
	struct bucket *b;
	size_t n, cap;
};

static int fn_histogram_quantile(struct pq_ev *ev, struct pq_fn_state *st, const struct pq_vec *in,
				 const double *args, const char *const *strs, struct pq_vec *out)
{
	(void)st, (void)strs;
	static char *const le[] = {"le"};
	struct pq_pmap by_key = {0};
	struct hgroup *g = NULL;
	size_t ng = 0, gcap = 0;
	int rc = 0;
	for (size_t i = 0; i < in->n && !rc; i++) {
		double bound;
		if (!parse_le(pq_labels_get(in->s[i].lbl, "le"), &bound))
			continue; /* no bucket label, or not a number: skipped */
		/* buckets group by every label but le, the name included */
		const struct pq_labels *key = pq_labels_filter(ev, in->s[i].lbl, le, 1, false, false);
		size_t at = key ? pq_pmap_get(&by_key, key) : SIZE_MAX;
		if (key && at == SIZE_MAX) {
			if (BM_VEC_RESERVE(g, gcap, ng + 1) || pq_pmap_put(&by_key, key, ng)) {
				rc = PROMQL_ENOMEM;
				break;
			}
			g[ng] = (struct hgroup){pq_labels_drop_name(ev, key), NULL, 0, 0};
			at = ng++;
		}
		if (!key || BM_VEC_RESERVE(g[at].b, g[at].cap, g[at].n + 1)) {
			rc = PROMQL_ENOMEM;
			break;
		}
		g[at].b[g[at].n++] = (struct bucket){bound, in->s[i].v};
	}
	for (size_t i = 0; i < ng; i++) {
		if (!rc)
			rc = pq_vec_push(ev, out, g[i].out, bucket_quantile(args[0], g[i].b, g[i].n), 0);
		free(g[i].b);
	}
	free(g);
	pq_pmap_free(&by_key);
	return rc ? pq_fail(ev, PROMQL_ENOMEM, "out of memory") : 0;
}

/* --- the table -------------------------------------------------------------- */

#define S BM_PROMQL_SCALAR
#define V BM_PROMQL_VECTOR
#define M BM_PROMQL_MATRIX
#define T BM_PROMQL_STRING
#define RANGE(NAME, FN) {NAME, PQ_FN_PLAIN, {M}, 1, 1, V, 0, FN, NULL, false}
#define MATH(NAME, FN) {NAME, PQ_FN_PLAIN, {V}, 1, 1, V, 0, NULL, FN, false}

static const struct pq_func funcs[] = {
	RANGE("rate", fn_rate),
	RANGE("irate", fn_irate),
	RANGE("increase", fn_increase),
	RANGE("delta", fn_delta),
	RANGE("idelta", fn_idelta),
	RANGE("deriv", fn_deriv),
	RANGE("changes", fn_changes),
	RANGE("resets", fn_resets),
	RANGE("avg_over_time", fn_avg_over_time),
	RANGE("min_over_time", fn_min_over_time),
	RANGE("max_over_time", fn_max_over_time),
	RANGE("sum_over_time", fn_sum_over_time),
	RANGE("count_over_time", fn_count_over_time),
	RANGE("stddev_over_time", fn_stddev_over_time),
	RANGE("stdvar_over_time", fn_stdvar_over_time),
	{"last_over_time", PQ_FN_PLAIN, {M}, 1, 1, V, 0, fn_last_over_time, NULL, true},
	{"predict_linear", PQ_FN_PLAIN, {M, S}, 2, 2, V, 0, fn_predict_linear, NULL, false},
	{"quantile_over_time", PQ_FN_PLAIN, {S, M}, 2, 2, V, 1, fn_quantile_over_time, NULL, false},
	{"absent_over_time", PQ_FN_ABSENT_OVER_TIME, {M}, 1, 1, V, 0, fn_count_over_time, NULL, false},
	MATH("abs", fn_abs),
	MATH("ceil", fn_ceil),
	MATH("floor", fn_floor),
	MATH("exp", fn_exp),
	MATH("ln", fn_ln),
	MATH("log2", fn_log2),
	MATH("log10", fn_log10),
	MATH("sqrt", fn_sqrt),
	MATH("sgn", fn_sgn),
	{"round", PQ_FN_PLAIN, {V, S}, 2, 1, V, 0, NULL, fn_round, false},
	{"clamp", PQ_FN_PLAIN, {V, S, S}, 3, 3, V, 0, NULL, fn_clamp, false},
	{"clamp_min", PQ_FN_PLAIN, {V, S}, 2, 2, V, 0, NULL, fn_clamp_min, false},
	{"clamp_max", PQ_FN_PLAIN, {V, S}, 2, 2, V, 0, NULL, fn_clamp_max, false},
	{"label_replace", PQ_FN_PLAIN, {V, T, T, T, T}, 5, 5, V, 0, NULL, fn_label_replace, true},
	{"sort", PQ_FN_PLAIN, {V}, 1, 1, V, 0, NULL, fn_sort, true},
	{"sort_desc", PQ_FN_PLAIN, {V}, 1, 1, V, 0, NULL, fn_sort_desc, true},
	{"histogram_quantile", PQ_FN_PLAIN, {S, V}, 2, 2, V, 0, NULL, fn_histogram_quantile, false},
	{"time", PQ_FN_TIME, {0}, 0, 0, S, 0, NULL, NULL, false},
	{"vector", PQ_FN_VECTOR, {S}, 1, 1, V, 0, NULL, NULL, false},
	{"scalar", PQ_FN_SCALAR, {V}, 1, 1, S, 0, NULL, NULL, false},
	{"timestamp", PQ_FN_TIMESTAMP, {V}, 1, 1, V, 0, NULL, NULL, false},
	{"absent", PQ_FN_ABSENT, {V}, 1, 1, V, 0, NULL, NULL, false},
};

const struct pq_func *pq_func_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0)
			return &funcs[i];
	return NULL;
}
