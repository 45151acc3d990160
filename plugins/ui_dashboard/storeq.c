/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store reads for the snapshot and the MCP tools (see storeq.h), through the
 * host API's store queries only.
 */
#define _GNU_SOURCE
#include "storeq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_vec.h>

#define SQ_MAX_MATCHERS 16

struct collect {
	struct sq_list *out;
	size_t max;
	int rc;
};

static void on_series(void *user, int64_t id, const char *text)
{
	struct collect *c = user;
	if (c->rc || c->out->n >= c->max)
		return;
	if (BM_VEC_RESERVE(c->out->v, c->out->cap, c->out->n + 1)) {
		c->rc = BM_ENOMEM;
		return;
	}
	struct sq_item *it = &c->out->v[c->out->n];
	memset(it, 0, sizeof(*it));
	it->id = id;
	it->value = NAN;
	if (!(it->text = strdup(text))) {
		c->rc = BM_ENOMEM;
		return;
	}
	size_t used;
	/* the store's text is a selector of equality matchers; a text that
	 * does not parse leaves the item without labels */
	selector_parse(text, strlen(text), &it->parts, &used, NULL, 0);
	c->out->n++;
}

/* The newest two usable samples. */
struct last_two {
	int64_t t[2];
	double v[2];
	int n;
};

static void on_point(void *user, int64_t ts, double v)
{
	struct last_two *l = user;
	if (!isfinite(v))
		return;
	l->t[0] = l->t[1];
	l->v[0] = l->v[1];
	l->t[1] = ts;
	l->v[1] = v;
	if (l->n < 2)
		l->n++;
}

static double rate_of(struct bm_ctx *ctx, int64_t id, int64_t now_ms, int64_t lookback_ms)
{
	struct last_two l = {.n = 0};
	if (bm_store_raw(ctx, id, now_ms - lookback_ms, now_ms, on_point, &l) < 0 || l.n < 2 ||
	    l.t[1] <= l.t[0])
		return NAN;
	double inc = l.v[1] >= l.v[0] ? l.v[1] - l.v[0] : l.v[1]; /* a reset restarts at 0 */
	return inc * 1000.0 / (double)(l.t[1] - l.t[0]);
}

int sq_select(struct bm_ctx *ctx, const char *selector, enum sq_mode mode, int64_t now_ms,
	      int64_t lookback_ms, size_t max, struct sq_list *out)
{
	struct selector sel;
	struct bm_matcher m[SQ_MAX_MATCHERS];
	size_t used;
	memset(out, 0, sizeof(*out));
	int rc = selector_parse(selector, strlen(selector), &sel, &used, NULL, 0);
	if (rc)
		return rc;
	if (used != strlen(selector)) {
		selector_free(&sel);
		return BM_EINVAL;
	}
	struct collect c = {out, max, 0};
	size_t nm = selector_matchers(&sel, m, SQ_MAX_MATCHERS);
	long n = bm_store_series(ctx, m, nm, on_series, &c);
	selector_free(&sel);
	if (n < 0 || c.rc) {
		sq_list_free(out);
		return n < 0 ? (int)n : c.rc;
	}
	for (size_t i = 0; i < out->n; i++) {
		struct sq_item *it = &out->v[i];
		double v;
		if (mode == SQ_RATE)
			it->value = rate_of(ctx, it->id, now_ms, lookback_ms);
		else if (bm_store_instant(ctx, it->id, now_ms, lookback_ms, &v) == 1)
			it->value = v;
	}
	return 0;
}

void sq_list_free(struct sq_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].text);
		selector_free(&l->v[i].parts);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const char *sq_label(const struct sq_item *it, const char *name)
{
	for (size_t i = 0; i < it->parts.n; i++)
		if (strcmp(it->parts.m[i].name, name) == 0)
			return it->parts.m[i].value;
	return NULL;
}

const char *sq_name(const struct sq_item *it)
{
	const char *n = sq_label(it, "__name__");
	return n ? n : "";
}

double sq_sum(const struct sq_list *l)
{
	double s = 0;
	size_t finite = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (isfinite(l->v[i].value)) {
			s += l->v[i].value;
			finite++;
		}
	}
	return finite ? s : NAN;
}

/* Running sums for the statistics and the least-squares slope; times are
 * taken relative to the first sample so that the sums keep their precision. */
struct acc {
	struct sq_stats *st;
	double sum, st_sum, stt_sum, sv_sum;
};

static void on_stat_point(void *user, int64_t ts, double v)
{
	struct acc *a = user;
	struct sq_stats *st = a->st;
	if (!isfinite(v))
		return;
	if (!st->n) {
		st->min = st->max = st->first = v;
		st->first_ts_ms = ts;
	}
	st->min = fmin(st->min, v);
	st->max = fmax(st->max, v);
	st->last = v;
	st->last_ts_ms = ts;
	st->n++;
	double t = (double)(ts - st->first_ts_ms) / 1000.0;
	a->sum += v;
	a->st_sum += t;
	a->stt_sum += t * t;
	a->sv_sum += t * v;
}

int sq_stats(struct bm_ctx *ctx, int64_t id, int64_t start_ms, int64_t end_ms, struct sq_stats *out)
{
	struct acc a = {.st = out};
	memset(out, 0, sizeof(*out));
	out->avg = out->min = out->max = out->first = out->last = out->slope_per_s = NAN;
	long rc = bm_store_raw(ctx, id, start_ms, end_ms, on_stat_point, &a);
	if (rc < 0)
		return (int)rc;
	if (!out->n)
		return 0;
	double n = (double)out->n;
	out->avg = a.sum / n;
	double den = n * a.stt_sum - a.st_sum * a.st_sum;
	if (out->n >= 2 && den > 0)
		out->slope_per_s = (n * a.sv_sum - a.st_sum * a.sum) / den;
	return 0;
}
