/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metric batch builder and name filters for collectors (see bm_batch.h).
 */
#include "bearmon/bm_batch.h"
#include "bearmon/bm_vec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX_LABELS 32

static const char *keep(struct bm_batch *b, const char *s)
{
	return bm_arena_strndup(&b->arena, s ? s : "", strlen(s ? s : ""));
}


int bm_batch_family(struct bm_batch *b, const char *name, enum bm_metric_type type,
		    const char *unit, const char *help)
{
	if (BM_VEC_RESERVE(b->meta, b->cap_meta, b->n_meta + 1))
		return BM_ENOMEM;
	struct bm_metric_meta m = {keep(b, name), type, keep(b, unit), keep(b, help)};
	if (!m.name || !m.unit || !m.help)
		return BM_ENOMEM;
	b->meta[b->n_meta++] = m;
	return 0;
}

int bm_batch_add(struct bm_batch *b, const char *name, double v, const struct bm_label *labels,
		 size_t n_labels)
{
	if (n_labels > BATCH_MAX_LABELS)
		return BM_ERANGE;
	if (BM_VEC_RESERVE(b->samples, b->cap, b->n + 1))
		return BM_ENOMEM;
	struct bm_label *l = n_labels ? bm_arena_alloc(&b->arena, n_labels * sizeof(*l)) : NULL;
	if (n_labels && !l)
		return BM_ENOMEM;
	for (size_t i = 0; i < n_labels; i++) {
		l[i].name = keep(b, labels[i].name);
		l[i].value = keep(b, labels[i].value);
		if (!l[i].name || !l[i].value)
			return BM_ENOMEM;
	}
	bm_labels_sort(l, n_labels);
	const char *n = keep(b, name);
	if (!n)
		return BM_ENOMEM;
	b->samples[b->n++] = (struct bm_sample){n, l, (uint32_t)n_labels, b->ts_ms, v};
	return 0;
}

int bm_batch_addl(struct bm_batch *b, const char *name, double v, ...)
{
	struct bm_label l[BATCH_MAX_LABELS];
	size_t n = 0;
	va_list ap;
	va_start(ap, v);
	for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
		if (n == BATCH_MAX_LABELS) {
			va_end(ap);
			return BM_ERANGE;
		}
		l[n].name = k;
		l[n++].value = va_arg(ap, const char *);
	}
	va_end(ap);
	return bm_batch_add(b, name, v, l, n);
}

void bm_batch_view(const struct bm_batch *b, struct bm_metric_batch *out)
{
	*out = (struct bm_metric_batch){.meta = b->meta, .n_meta = b->n_meta,
					.samples = b->samples, .n_samples = b->n};
}

void bm_batch_reset(struct bm_batch *b)
{
	b->n = 0;
	b->n_meta = 0;
	bm_arena_reset(&b->arena);
}

void bm_batch_free(struct bm_batch *b)
{
	free(b->samples);
	free(b->meta);
	bm_arena_free(&b->arena);
	memset(b, 0, sizeof(*b));
}

static int compile_all(regex_t **out, size_t *n_out, const struct bm_strlist *pats,
		       struct bm_err *err)
{
	*out = NULL;
	*n_out = 0;
	if (!pats || !pats->n)
		return 0;
	regex_t *v = calloc(pats->n, sizeof(*v));
	if (!v)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < pats->n; i++) {
		char anchored[1024];
		snprintf(anchored, sizeof(anchored), "^(%s)$", pats->v[i]);
		int rc = regcomp(&v[i], anchored, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char why[128];
			regerror(rc, &v[i], why, sizeof(why));
			for (size_t k = 0; k < i; k++)
				regfree(&v[k]);
			free(v);
			return bm_err_set(err, BM_EINVAL, "bad pattern \"%s\": %s", pats->v[i], why);
		}
	}
	*out = v;
	*n_out = pats->n;
	return 0;
}

int bm_filter_init(struct bm_filter *f, const struct bm_strlist *include,
		   const struct bm_strlist *exclude, struct bm_err *err)
{
	memset(f, 0, sizeof(*f));
	int rc = compile_all(&f->include, &f->n_include, include, err);
	if (!rc && (rc = compile_all(&f->exclude, &f->n_exclude, exclude, err)) != 0)
		bm_filter_free(f);
	return rc;
}

static bool any(const regex_t *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (regexec(&v[i], name, 0, NULL, 0) == 0)
			return true;
	return false;
}

bool bm_filter_match(const struct bm_filter *f, const char *name)
{
	if (f->n_include && !any(f->include, f->n_include, name))
		return false;
	return !any(f->exclude, f->n_exclude, name);
}

void bm_filter_free(struct bm_filter *f)
{
	for (size_t i = 0; i < f->n_include; i++)
		regfree(&f->include[i]);
	for (size_t i = 0; i < f->n_exclude; i++)
		regfree(&f->exclude[i]);
	free(f->include);
	free(f->exclude);
	memset(f, 0, sizeof(*f));
}
