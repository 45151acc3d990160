/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One finished scrape into one published batch, as Prometheus' scrape loop
 * does it: parse (common/expfmt.c), attach the target labels (honor_labels),
 * metric_relabel_configs, the label limits and series_limit per target
 * (common/cardinality.c: the series is dropped and counted), sample_limit
 * (the whole scrape fails), the report series (up, scrape_*), and stale
 * markers for every series the target published last time and not now.
 */
#include "scrape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_vec.h>

/* Prometheus' report series, in the order they are added. */
static const struct family report_fams[] = {
	{"up", BM_METRIC_GAUGE, "1 when the target's last scrape succeeded, else 0", ""},
	{"scrape_duration_seconds", BM_METRIC_GAUGE, "duration of the target's last scrape",
	 "seconds"},
	{"scrape_samples_scraped", BM_METRIC_GAUGE, "samples the target exposed in its last scrape",
	 ""},
	{"scrape_samples_post_metric_relabeling", BM_METRIC_GAUGE,
	 "samples left after metric relabelling in the last scrape", ""},
	{"scrape_series_added", BM_METRIC_GAUGE, "series new in the target's last scrape", ""},
};
#define N_REPORT (sizeof(report_fams) / sizeof(report_fams[0]))

void ingest_free(struct ingest *ig)
{
	bm_batch_free(&ig->batch);
	bm_arena_free(&ig->arena);
	lset_free(&ig->ls);
	free(ig->fams);
	free(ig->meta);
	memset(ig, 0, sizeof(*ig));
}

static int push_family(struct ingest *ig, const struct family *f)
{
	if (BM_VEC_RESERVE(ig->fams, ig->cap_fams, ig->n_fams + 1))
		return BM_ENOMEM;
	ig->fams[ig->n_fams++] = *f;
	return 0;
}

/* HELP, TYPE and UNIT lines of one family come together: merge them into
 * the family in progress, or start the next one. */
static int add_family(struct ingest *ig, const struct expfmt_item *it)
{
	if (!ig->n_fams || strcmp(ig->fams[ig->n_fams - 1].name, it->name) != 0) {
		const struct family f = {it->name, BM_METRIC_UNTYPED, "", ""};
		if (push_family(ig, &f))
			return BM_ENOMEM;
	}
	struct family *f = &ig->fams[ig->n_fams - 1];
	if (it->kind == EXPFMT_TYPE)
		f->type = it->type;
	else if (it->kind == EXPFMT_HELP)
		f->help = it->help;
	else
		f->unit = it->unit;
	return 0;
}

/* The sample's labels plus the target's into ig->ls. honor_labels keeps
 * the scraped value on a clash; otherwise the scraped one moves to
 * exported_NAME, as Prometheus does. */
static int target_lset(struct ingest *ig, const struct target *t, const struct expfmt_item *it)
{
	struct lset *ls = &ig->ls;
	ls->n = 0;
	if (lset_reserve(ls, it->n_labels + t->n_labels + 2))
		return BM_ENOMEM;
	for (size_t i = 0; i < it->n_labels; i++)
		if (it->labels[i].value[0])
			ls->v[ls->n++] = it->labels[i];
	for (size_t i = 0; i < t->n_labels; i++) {
		const struct bm_label *tl = &t->labels[i];
		const char *have = lset_get(ls, tl->name);
		if (*have && t->job->conf->honor_labels)
			continue;
		if (*have) {
			size_t n = strlen(tl->name) + sizeof("exported_");
			char *exported = bm_arena_alloc(&ig->arena, n);
			if (!exported)
				return BM_ENOMEM;
			snprintf(exported, n, "exported_%s", tl->name);
			if (lset_set(ls, exported, have))
				return BM_ENOMEM;
		}
		if (lset_set(ls, tl->name, tl->value))
			return BM_ENOMEM;
	}
	return 0;
}

/* metric_relabel_configs with the name as __name__. NULL: dropped. */
static const char *relabel_sample(struct ingest *ig, const struct job *j, const char *name)
{
	if (!j->metric_relabel.n)
		return name;
	if (lset_set(&ig->ls, "__name__", name) ||
	    !relabel_apply(&j->metric_relabel, &ig->ls, &ig->arena))
		return NULL;
	name = lset_get(&ig->ls, "__name__");
	lset_del(&ig->ls, "__name__");
	return expfmt_valid_metric_name(name) ? name : NULL;
}

/* One exposed sample into the batch. 0, or BM_ENOMEM. */
static int add_sample(struct scrape *s, struct target *t, const struct expfmt_item *it,
		      size_t *post)
{
	struct ingest *ig = &s->ig;
	const struct job *j = t->job;
	int rc = target_lset(ig, t, it);
	const char *name = rc ? NULL : relabel_sample(ig, j, it->name);
	if (rc || !name) {
		bm_arena_reset(&ig->arena);
		return rc;
	}
	++*post;
	/* the limits apply before the sample takes memory in the batch, so
	 * a target that explodes in series costs only what it may keep */
	bm_labels_sort(ig->ls.v, ig->ls.n);
	if (ig->ls.n > EXPFMT_MAX_LABELS) { /* more than a batch carries */
		STAT_ADD(s, dropped_labels, 1);
	} else if (card_admit(&t->card, name, ig->ls.v, ig->ls.n)) {
		rc = bm_batch_add(&ig->batch, name, it->value, ig->ls.v, ig->ls.n);
		if (!rc && it->has_ts && j->conf->honor_timestamps)
			ig->batch.samples[ig->batch.n - 1].ts_ms = it->ts_ms;
	}
	bm_arena_reset(&ig->arena);
	return rc;
}

static enum scrape_fail parse_body(struct scrape *s, struct target *t, struct scrape_outcome *o,
				   size_t *scraped, size_t *post)
{
	struct ingest *ig = &s->ig;
	struct expfmt_parser ps;
	char empty[1] = "";
	expfmt_init(&ps, o->body ? o->body : empty, o->body ? o->len : 0);
	ps.openmetrics = o->openmetrics;
	ps.units = true;
	int64_t limit = t->job->conf->sample_limit;
	int rc;
	while ((rc = expfmt_next(&ps, &ig->item)) > 0) {
		if (ig->item.kind != EXPFMT_SAMPLE) {
			rc = add_family(ig, &ig->item);
		} else {
			++*scraped;
			rc = add_sample(s, t, &ig->item, post);
		}
		if (rc < 0)
			break;
		if (limit > 0 && *post > (uint64_t)limit) { /* no need to read on */
			snprintf(o->why, sizeof(o->why), "more than sample_limit %lld samples",
				 (long long)limit);
			return SCRAPE_SAMPLE_LIMIT;
		}
	}
	if (rc == BM_EPROTO) {
		snprintf(o->why, sizeof(o->why), "%s: line %u: %s",
			 o->openmetrics ? "OpenMetrics" : "text format", ps.err_line, ps.err);
		return SCRAPE_PARSE;
	}
	if (rc < 0) {
		snprintf(o->why, sizeof(o->why), "out of memory");
		return SCRAPE_NOMEM;
	}
	return SCRAPE_OK;
}

/* Note every sample's series for staleness; a repeat within the scrape
 * leaves the batch (Prometheus: "duplicate sample for timestamp"). A
 * sample with its own timestamp stays out of staleness, as in Prometheus
 * (a marker at the scrape time would not belong to its timeline). The
 * number of new series. */
static size_t note_series(struct scrape *s, struct target *t, size_t from)
{
	struct bm_batch *b = &s->ig.batch;
	size_t j = from, added = 0, dups = 0;
	for (size_t i = from; i < b->n; i++) {
		enum series_note r = b->samples[i].ts_ms == b->ts_ms
					     ? series_note(&t->series, &b->samples[i])
					     : SERIES_SEEN;
		if (r == SERIES_DUPLICATE) {
			dups++;
			continue;
		}
		added += r == SERIES_NEW;
		b->samples[j++] = b->samples[i];
	}
	b->n = j;
	STAT_ADD(s, duplicates, dups);
	return added;
}

static void add_report(struct scrape *s, struct target *t, const struct scrape_outcome *o,
		       const double *v)
{
	struct ingest *ig = &s->ig;
	size_t from = ig->batch.n;
	for (size_t i = 0; i < N_REPORT; i++) {
		if (bm_batch_add(&ig->batch, report_fams[i].name, v[i], t->labels, t->n_labels) == 0)
			ig->batch.samples[ig->batch.n - 1].ts_ms = o->ts_ms;
		if (push_family(ig, &report_fams[i]))
			break;
	}
	note_series(s, t, from);
}

static uint64_t meta_hash(const struct family *f)
{
	struct bm_label l[2] = {{"help", f->help}, {"unit", f->unit}};
	return bm_hash_series(f->name, l, 2) ^ ((uint64_t)f->type * 0x9e3779b97f4a7c15ULL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Metadata travels when a family is new to the target or changed. */
static int add_metadata(struct ingest *ig, struct target *t)
{
	ig->n_meta = 0;
	if (BM_VEC_RESERVE(ig->meta, ig->cap_meta, ig->n_fams + 1))
		return BM_ENOMEM;
	for (size_t i = 0; i < ig->n_fams; i++) {
		const struct family *f = &ig->fams[i];
		uint64_t h = meta_hash(f);
		ig->meta[ig->n_meta++] = h;
		if ((!t->n_meta || !bsearch(&h, t->meta, t->n_meta, sizeof(h), cmp_u64)) &&
		    bm_batch_family(&ig->batch, f->name, f->type, f->unit, f->help))
			return BM_ENOMEM;
	}
	if (ig->n_meta > 1)
		qsort(ig->meta, ig->n_meta, sizeof(*ig->meta), cmp_u64);
	uint64_t *m = realloc(t->meta, (ig->n_meta ? ig->n_meta : 1) * sizeof(*m));
	if (!m)
		return BM_ENOMEM;
	memcpy(m, ig->meta, ig->n_meta * sizeof(*m));
	t->meta = m;
	t->n_meta = ig->n_meta;
	return 0;
}

static void publish(struct scrape *s)
{
	struct bm_metric_batch mb;
	bm_batch_view(&s->ig.batch, &mb);
	if (!mb.n_samples && !mb.n_meta)
		return;
	int rc = bm_metrics_publish(s->ctx, &mb);
	if (rc) {
		STAT_ADD(s, publish_errors, 1);
		bm_log_warn(s->ctx, "publishing %zu samples failed: %s", mb.n_samples, bm_strerror(rc));
		return;
	}
	STAT_ADD(s, samples, mb.n_samples);
}

static void count_failure(struct scrape *s, enum scrape_fail f)
{
	STAT_ADD(s, failures, f != SCRAPE_OK);
	STAT_ADD(s, timeouts, f == SCRAPE_TIMEOUT);
	STAT_ADD(s, http_errors, f == SCRAPE_HTTP);
	STAT_ADD(s, too_large, f == SCRAPE_TOO_LARGE);
	STAT_ADD(s, transport_errors, f == SCRAPE_TRANSPORT);
	STAT_ADD(s, parse_errors, f == SCRAPE_PARSE);
	STAT_ADD(s, sample_limit, f == SCRAPE_SAMPLE_LIMIT);
}

void ingest_scrape(struct scrape *s, struct target *t, struct scrape_outcome *o)
{
	struct ingest *ig = &s->ig;
	size_t scraped = 0, post = 0, added = 0;
	bm_batch_reset(&ig->batch);
	ig->batch.ts_ms = o->ts_ms;
	ig->n_fams = 0;
	if (o->fail == SCRAPE_OK) {
		uint64_t labels0 = t->card.dropped_labels, series0 = t->card.dropped_series;
		card_sweep(&t->card);
		o->fail = parse_body(s, t, o, &scraped, &post);
		STAT_ADD(s, dropped_labels, t->card.dropped_labels - labels0);
		STAT_ADD(s, dropped_series, t->card.dropped_series - series0);
	}
	if (o->fail != SCRAPE_OK) { /* nothing of a failed scrape is kept */
		bm_batch_reset(&ig->batch);
		ig->n_fams = 0;
		post = 0;
	}
	series_begin(&t->series);
	if (o->fail == SCRAPE_OK)
		added = note_series(s, t, 0);
	const double report[N_REPORT] = {o->fail == SCRAPE_OK, o->duration_s, (double)scraped,
					 (double)post, (double)added};
	add_report(s, t, o, report);
	size_t stale = series_sweep(&t->series, &ig->batch, o->ts_ms);
	STAT_ADD(s, stale_markers, stale);
	if (add_metadata(ig, t))
		t->n_meta = 0; /* send it all next time */
	publish(s);
	STAT_ADD(s, scrapes, 1);
	count_failure(s, o->fail);
}

void ingest_retire(struct scrape *s, struct target *t, int64_t ts)
{
	struct ingest *ig = &s->ig;
	bm_batch_reset(&ig->batch);
	series_begin(&t->series);
	size_t stale = series_sweep(&t->series, &ig->batch, ts);
	STAT_ADD(s, stale_markers, stale);
	publish(s);
}
