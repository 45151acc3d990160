/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /metrics (see exposition.h): the store's newest sample per series,
 * grouped into metric families with # HELP and # TYPE from the store's
 * metadata. Series whose newest sample is a stale marker, or older than
 * the query lookback, are not live and are left out.
 */
#define _GNU_SOURCE
#include "exposition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearmon/bm_vec.h"
#include "daemon.h"
#include "http.h"
#include "store.h"
#include "store_api.h"

const char *expo_type_name(enum bm_metric_type t, bool openmetrics)
{
	switch (t) {
	case BM_METRIC_COUNTER: return "counter";
	case BM_METRIC_GAUGE: return "gauge";
	case BM_METRIC_HISTOGRAM: return "histogram";
	case BM_METRIC_SUMMARY: return "summary";
	default: return openmetrics ? "unknown" : "untyped";
	}
}

static bool ends_with(const char *s, const char *sfx)
{
	size_t n = strlen(s), m = strlen(sfx);
	return n > m && strcmp(s + n - m, sfx) == 0;
}

/* Suffixes of a family's samples and the types they belong to. */
static const struct {
	const char *sfx;
	enum bm_metric_type a, b;
} suffixes[] = {
	{"_total", BM_METRIC_COUNTER, BM_METRIC_COUNTER},
	{"_created", BM_METRIC_COUNTER, BM_METRIC_COUNTER},
	{"_bucket", BM_METRIC_HISTOGRAM, BM_METRIC_HISTOGRAM},
	{"_sum", BM_METRIC_HISTOGRAM, BM_METRIC_SUMMARY},
	{"_count", BM_METRIC_HISTOGRAM, BM_METRIC_SUMMARY},
};

bool expo_family_of(struct store *st, const char *name, struct expo_family *f)
{
	const char *unit = "", *help = "";
	snprintf(f->meta_name, sizeof(f->meta_name), "%s", name);
	snprintf(f->base, sizeof(f->base), "%s", name);
	f->type = BM_METRIC_UNTYPED;
	bool found = store_metadata(st, name, &f->type, f->buf, sizeof(f->buf), &unit, &help);
	if (found && f->type == BM_METRIC_COUNTER && ends_with(name, "_total"))
		f->base[strlen(name) - 6] = '\0'; /* metadata under the sample name */
	for (size_t i = 0; !found && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (!ends_with(name, suffixes[i].sfx))
			continue;
		char base[256];
		enum bm_metric_type t;
		snprintf(base, sizeof(base), "%.*s", (int)(strlen(name) - strlen(suffixes[i].sfx)), name);
		if (store_metadata(st, base, &t, f->buf, sizeof(f->buf), &unit, &help) &&
		    (t == suffixes[i].a || t == suffixes[i].b)) {
			found = true;
			f->type = t;
			snprintf(f->meta_name, sizeof(f->meta_name), "%s", base);
			snprintf(f->base, sizeof(f->base), "%s", base);
		}
	}
	f->unit = unit ? unit : "";
	f->help = help ? help : "";
	if (!found) {
		f->type = BM_METRIC_UNTYPED;
		f->unit = f->help = "";
	}
	return found;
}

/* --- collecting live series --------------------------------------------------- */

struct live {
	char *name, *text;
	double v;
};

struct live_set {
	struct live *v;
	size_t n, cap;
	int64_t since;
	bool oom;
};

static void add_live(void *u, const char *name, const char *text, int64_t ts, double v)
{
	struct live_set *s = u;
	if (s->oom || bm_is_stale_nan(v) || ts < s->since)
		return;
	char *n = strdup(name), *t = strdup(text);
	if (!n || !t || BM_VEC_RESERVE(s->v, s->cap, s->n + 1)) {
		free(n);
		free(t);
		s->oom = true;
		return;
	}
	s->v[s->n++] = (struct live){n, t, v};
}

/* --- writing --------------------------------------------------------------------- */

/* One family of the output: the name on # TYPE and the type shown. */
struct family_key {
	char name[256];
	enum bm_metric_type type;
	const struct expo_family *meta;
};

/* Where a sample goes. Text 0.0.4 names a counter after its sample;
 * OpenMetrics after the family, and wants the _total suffix on every
 * counter sample (a counter without it is shown as unknown). */
static void family_key_of(const char *name, const struct expo_family *f, bool om, struct family_key *k)
{
	k->meta = f;
	k->type = f->type;
	const char *fam = f->base;
	if (f->type == BM_METRIC_COUNTER) {
		bool total = ends_with(name, "_total"), created = ends_with(name, "_created");
		if (!om) {
			fam = name;
			k->type = created ? BM_METRIC_UNTYPED : BM_METRIC_COUNTER;
		} else if (!total && !created) {
			fam = name;
			k->type = BM_METRIC_UNTYPED;
		}
	} else if (f->type != BM_METRIC_HISTOGRAM && f->type != BM_METRIC_SUMMARY) {
		fam = name;
	}
	snprintf(k->name, sizeof(k->name), "%s", fam);
}

static void write_escaped_help(FILE *out, const char *help, bool om)
{
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (om && *p == '"')
			fputs("\\\"", out);
		else
			fputc(*p, out);
	}
}

static void write_header(FILE *out, const struct family_key *k, bool om)
{
	const struct expo_family *f = k->meta;
	if (f->help[0]) {
		fprintf(out, "# HELP %s ", k->name);
		write_escaped_help(out, f->help, om);
		fputc('\n', out);
	}
	fprintf(out, "# TYPE %s %s\n", k->name, expo_type_name(k->type, om));
	if (om && f->unit[0] && ends_with(k->name, f->unit) &&
	    k->name[strlen(k->name) - strlen(f->unit) - 1] == '_')
		fprintf(out, "# UNIT %s %s\n", k->name, f->unit);
}

/* The shortest text that reads back as v, as Go's 'g' formatting. */
static void write_value(FILE *out, double v)
{
	if (isnan(v)) {
		fputs("NaN", out);
		return;
	}
	if (isinf(v)) {
		fputs(v > 0 ? "+Inf" : "-Inf", out);
		return;
	}
	char buf[40];
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, out);
}

struct entry {
	struct family_key key;
	const struct live *s;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->key.name, y->key.name);
	return c ? c : strcmp(x->s->text, y->s->text);
}

static int cmp_live(const void *a, const void *b)
{
	return strcmp(((const struct live *)a)->name, ((const struct live *)b)->name);
}

/* The whole body into a memory stream: families sorted by name, samples
 * by series. */
static char *render(struct store *st, struct live_set *ls, bool om, size_t *len)
{
	qsort(ls->v, ls->n, sizeof(*ls->v), cmp_live);
	struct expo_family *fams = calloc(ls->n ? ls->n : 1, sizeof(*fams));
	struct entry *e = calloc(ls->n ? ls->n : 1, sizeof(*e));
	char *body = NULL;
	FILE *out = fams && e ? open_memstream(&body, len) : NULL;
	if (!out) {
		free(fams);
		free(e);
		return NULL;
	}
	size_t nf = 0;
	for (size_t i = 0; i < ls->n; i++) {
		/* one metadata look-up per distinct name (the set is sorted by name) */
		if (i == 0 || strcmp(ls->v[i].name, ls->v[i - 1].name) != 0)
			expo_family_of(st, ls->v[i].name, &fams[nf++]);
		family_key_of(ls->v[i].name, &fams[nf - 1], om, &e[i].key);
		e[i].s = &ls->v[i];
	}
	qsort(e, ls->n, sizeof(*e), cmp_entry);
	for (size_t i = 0; i < ls->n; i++) {
		if (i == 0 || strcmp(e[i].key.name, e[i - 1].key.name) != 0)
			write_header(out, &e[i].key, om);
		const char *text = e[i].s->text;
		size_t tl = strlen(text);
		bool bare = tl >= 2 && strcmp(text + tl - 2, "{}") == 0; /* name{} is written name */
		fwrite(text, 1, bare ? tl - 2 : tl, out);
		fputc(' ', out);
		write_value(out, e[i].s->v);
		fputc('\n', out);
	}
	if (om)
		fputs("# EOF\n", out);
	fclose(out);
	free(fams);
	free(e);
	return body;
}

static void h_metrics(void *u, struct bm_http_req *r)
{
	struct daemon *d = u;
	struct store *st = store_of(d);
	const char *accept = http_req_header(r, "Accept");
	bool om = accept && strstr(accept, "application/openmetrics-text");
	struct live_set ls = {.since = wall_ms() - d->cfg->core.query.lookback_delta_ms};
	store_latest(st, add_live, &ls);
	size_t len = 0;
	char *body = ls.oom ? NULL : render(st, &ls, om, &len);
	if (body)
		http_req_reply(r, 200,
			       om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
				  : "text/plain; version=0.0.4; charset=utf-8",
			       body, len);
	else
		http_reply_error(r, 500, "out of memory");
	free(body);
	for (size_t i = 0; i < ls.n; i++) {
		free(ls.v[i].name);
		free(ls.v[i].text);
	}
	free(ls.v);
}

int exposition_attach(struct daemon *d, void *owner)
{
	return http_add_route(d->http, owner, "/metrics", 0, h_metrics, d);
}
