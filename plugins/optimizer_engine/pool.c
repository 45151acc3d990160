/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The candidate pool (pool.h): deep copies of candidate events, so that a
 * candidate outlives the arena it was decoded into. A few hundred
 * candidates at most: linear lookups.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <bearmon/bm_vec.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void cand_free(struct cand *c)
{
	if (!c)
		return;
	free(c->optimizer);
	free(c->id);
	free(c->dimension);
	free(c->actuator);
	free(c->target);
	kvl_free(&c->params);
	for (size_t i = 0; i < c->n_impacts; i++)
		free(c->impacts[i].metric);
	free(c->reason);
	free(c->rollback);
	for (size_t i = 0; i < c->n_evidence; i++)
		free(c->evidence[i]);
	free(c->evidence);
	free(c);
}

/* "TEXT (SERIES = VALUE UNIT)", or the parts there are. */
static char *evidence_text(const struct bm_evidence *ev)
{
	char series[512];
	char *out = NULL;
	const char *text = ev->text ? ev->text : "";
	if (!ev->series.name)
		return strdup(text);
	sel_format(series, sizeof(series), ev->series.name, ev->series.labels,
		   ev->series.n_labels);
	if (asprintf(&out, "%s%s%s = %.6g%s%s%s", text, *text ? " (" : "", series, ev->value,
		     ev->unit ? " " : "", ev->unit ? ev->unit : "", *text ? ")" : "") < 0)
		return NULL;
	return out;
}

static bool usable(const struct bm_candidate_event *e, char *why, size_t n)
{
	if (!e->action.target || !*e->action.target) {
		textf(why, n, "candidate %s of %s: no target", e->id, e->optimizer);
		return false;
	}
	if (!(isfinite(e->benefit) && isfinite(e->risk) && isfinite(e->confidence))) {
		textf(why, n, "candidate %s of %s: benefit, risk or confidence not finite", e->id,
			 e->optimizer);
		return false;
	}
	for (size_t i = 0; i < e->n_impact; i++) {
		struct sel s;
		const struct bm_impact *im = &e->impact[i];
		if (!im->metric || !isfinite(im->rel_change) || !isfinite(im->uncertainty) ||
		    sel_parse(im->metric, &s, why, n)) {
			if (!im->metric || !isfinite(im->rel_change))
				textf(why, n, "candidate %s of %s: impact %zu has no metric or "
						 "no finite change",
					 e->id, e->optimizer, i);
			return false;
		}
		sel_free(&s);
	}
	return true;
}

static struct cand *cand_copy(const struct bm_candidate_event *e, int64_t now_ms, int64_t ttl_ms)
{
	struct cand *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->optimizer = strdup(e->optimizer);
	c->id = strdup(e->id);
	c->dimension = strdup(e->dimension ? e->dimension : "performance");
	c->actuator = strdup(e->action.actuator);
	c->target = strdup(e->action.target);
	c->reason = dup_or_null(e->reason);
	c->rollback = dup_or_null(e->rollback);
	bool ok = c->optimizer && c->id && c->dimension && c->actuator && c->target &&
		  (!e->reason || c->reason) && (!e->rollback || c->rollback) &&
		  !kvl_copy_from(&c->params, e->action.params, e->action.n_params);
	c->n_impacts = e->n_impact < ENG_MAX_IMPACTS ? e->n_impact : ENG_MAX_IMPACTS;
	for (size_t i = 0; ok && i < c->n_impacts; i++) {
		c->impacts[i] = (struct impact){strdup(e->impact[i].metric), e->impact[i].rel_change,
						fabs(e->impact[i].uncertainty)};
		ok = c->impacts[i].metric != NULL;
	}
	c->evidence = e->n_evidence ? calloc(e->n_evidence, sizeof(*c->evidence)) : NULL;
	ok = ok && (!e->n_evidence || c->evidence);
	for (size_t i = 0; ok && i < e->n_evidence; i++, c->n_evidence++)
		ok = (c->evidence[i] = evidence_text(&e->evidence[i])) != NULL;
	c->benefit = fmin(fmax(e->benefit, 0), 1);
	c->risk = fmin(fmax(e->risk, 0), 1);
	c->confidence = fmin(fmax(e->confidence, 0), 1);
	c->ts_ms = e->ts_ms ? e->ts_ms : now_ms;
	c->expires_ms = e->expires_ms ? e->expires_ms : now_ms + ttl_ms;
	textf(c->ev.why_not, sizeof(c->ev.why_not), "not evaluated yet (next cycle)");
	if (!ok) {
		cand_free(c);
		return NULL;
	}
	return c;
}

static ptrdiff_t index_of(const struct pool *p, const char *optimizer, const char *id)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i]->id, id) == 0 && strcmp(p->v[i]->optimizer, optimizer) == 0)
			return (ptrdiff_t)i;
	return -1;
}

struct cand *pool_find(const struct pool *p, const char *optimizer, const char *id)
{
	ptrdiff_t i = index_of(p, optimizer, id);
	return i < 0 ? NULL : p->v[i];
}

int pool_put(struct pool *p, const struct bm_candidate_event *e, int64_t now_ms, int64_t ttl_ms,
	     char *why, size_t why_n)
{
	if (!usable(e, why, why_n))
		return BM_EINVAL;
	ptrdiff_t i = index_of(p, e->optimizer, e->id);
	if (i < 0 && p->max && p->n >= p->max) {
		p->dropped++;
		textf(why, why_n, "candidate pool full (%zu): %s of %s dropped", p->n, e->id,
			 e->optimizer);
		return BM_ERANGE;
	}
	struct cand *c = cand_copy(e, now_ms, ttl_ms);
	if (!c)
		return BM_ENOMEM;
	if (i >= 0) {
		c->ev = p->v[i]->ev; /* the last verdict stands until the next cycle */
		cand_free(p->v[i]);
		p->v[i] = c;
		return 0;
	}
	if (BM_VEC_RESERVE(p->v, p->cap, p->n + 1)) {
		cand_free(c);
		return BM_ENOMEM;
	}
	p->v[p->n++] = c;
	return 0;
}

static void remove_at(struct pool *p, size_t i)
{
	cand_free(p->v[i]);
	memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof(*p->v));
	p->n--;
}

void pool_expire(struct pool *p, int64_t now_ms)
{
	for (size_t i = p->n; i-- > 0;)
		if (p->v[i]->expires_ms <= now_ms)
			remove_at(p, i);
}

void pool_remove(struct pool *p, const char *optimizer, const char *id)
{
	ptrdiff_t i = index_of(p, optimizer, id);
	if (i >= 0)
		remove_at(p, (size_t)i);
}

void pool_free(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		cand_free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}
