/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Finding lifecycle (hysteresis, re-publication, resolution) and the JSON
 * listing, see findings.h.
 */
#define _GNU_SOURCE
#include "findings.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_vec.h>

static void evidence_release(struct finding *f)
{
	for (size_t i = 0; i < f->n_ev; i++) {
		free(f->ev[i].text);
		free(f->ev[i].series);
		free(f->ev[i].label_name);
		free(f->ev[i].label_value);
	}
	free(f->ev);
	f->ev = NULL;
	f->n_ev = 0;
}

static void finding_release(struct finding *f)
{
	evidence_release(f);
	free(f->id);
	free(f->resource);
	free(f->title);
	free(f->label_name);
	free(f->label_value);
	free(f->summary);
	free(f->advice);
}

static char *dup_opt(const char *s, bool *ok)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	*ok = *ok && d;
	return d;
}

/* Replace the text fields and evidence of f with copies of d's. */
static int finding_fill(struct finding *f, const struct bn_draft *d)
{
	bool ok = true;
	char *title = dup_opt(d->title, &ok), *summary = dup_opt(d->summary, &ok);
	char *advice = dup_opt(d->advice, &ok);
	struct fd_evidence *ev = d->n_ev ? calloc(d->n_ev, sizeof(*ev)) : NULL;
	ok = ok && (ev || !d->n_ev);
	for (size_t i = 0; ok && i < d->n_ev; i++) {
		const struct bm_evidence *e = &d->ev[i];
		ev[i].text = dup_opt(e->text, &ok);
		ev[i].series = dup_opt(e->series.name, &ok);
		if (e->series.n_labels) {
			ev[i].label_name = dup_opt(e->series.labels[0].name, &ok);
			ev[i].label_value = dup_opt(e->series.labels[0].value, &ok);
		}
		ev[i].value = e->value;
		ev[i].unit = e->unit;
	}
	evidence_release(f);
	f->ev = ev;
	f->n_ev = d->n_ev; /* on failure the partial copies are freed below */
	if (!ok) {
		evidence_release(f);
		free(title);
		free(summary);
		free(advice);
		return BM_ENOMEM;
	}
	free(f->title);
	free(f->summary);
	free(f->advice);
	f->title = title;
	f->summary = summary;
	f->advice = advice;
	return 0;
}

static struct finding *finding_find(struct findings *fs, const char *id)
{
	for (size_t i = 0; i < fs->n; i++)
		if (strcmp(fs->v[i].id, id) == 0)
			return &fs->v[i];
	return NULL;
}

static struct finding *finding_create(struct findings *fs, const char *id, const struct bn_draft *d,
				      int64_t now_ms)
{
	if (BM_VEC_RESERVE(fs->v, fs->cap, fs->n + 1))
		return NULL;
	struct finding *f = &fs->v[fs->n];
	bool ok = true;
	*f = (struct finding){.kind = d->kind, .since_ms = now_ms};
	f->id = dup_opt(id, &ok);
	f->resource = dup_opt(d->acc->resource, &ok);
	f->label_name = dup_opt(d->label.name, &ok);
	f->label_value = dup_opt(d->label.value, &ok);
	if (!ok) {
		finding_release(f);
		return NULL;
	}
	fs->n++;
	return f;
}

void fd_begin(struct findings *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		fs->v[i].seen = false;
}

int fd_observe(struct findings *fs, const struct bn_draft *d, int64_t now_ms)
{
	char id[300];
	snprintf(id, sizeof(id), "%s/%s", d->acc->resource, d->kind_name);
	struct finding *f = finding_find(fs, id);
	if (!f && fs->n >= fs->max) {
		fs->dropped++;
		return 0;
	}
	if (!f && !(f = finding_create(fs, id, d, now_ms)))
		return BM_ENOMEM;
	f->seen = true;
	f->last_true_ms = now_ms;
	f->severity = d->severity;
	f->impact = d->impact;
	f->confidence = d->confidence;
	return finding_fill(f, d);
}

static void publish(struct finding *f, enum fd_change what, int64_t now_ms, fd_emit emit,
		    void *user)
{
	f->active = true;
	f->published_ms = now_ms;
	f->published_severity = f->severity;
	emit(user, f, what, now_ms);
}

/* Emit what is due for f; false when f is to be forgotten. */
static bool finding_step(struct findings *fs, struct finding *f, int64_t now_ms, fd_emit emit,
			 void *user)
{
	if (!f->active) {
		if (f->seen && now_ms - f->since_ms >= fs->hold_ms)
			publish(f, FD_OPENED, now_ms, emit, user);
		return f->seen; /* a pending condition that broke starts again */
	}
	if (!f->seen && now_ms - f->last_true_ms >= fs->clear_ms) {
		emit(user, f, FD_RESOLVED, now_ms);
		return false;
	}
	if (f->severity != f->published_severity)
		publish(f, FD_SEVERITY, now_ms, emit, user);
	else if (now_ms - f->published_ms >= fs->republish_ms)
		publish(f, FD_REPEAT, now_ms, emit, user);
	return true;
}

void fd_end(struct findings *fs, int64_t now_ms, fd_emit emit, void *user)
{
	size_t kept = 0;
	for (size_t i = 0; i < fs->n; i++) {
		if (finding_step(fs, &fs->v[i], now_ms, emit, user))
			fs->v[kept++] = fs->v[i];
		else
			finding_release(&fs->v[i]);
	}
	fs->n = kept;
}

size_t fd_active(const struct findings *fs)
{
	size_t n = 0;
	for (size_t i = 0; i < fs->n; i++)
		n += fs->v[i].active;
	return n;
}

void fd_evidence_view(const struct finding *f, struct bm_evidence *ev, struct bm_label *labels)
{
	for (size_t i = 0; i < f->n_ev; i++) {
		const struct fd_evidence *e = &f->ev[i];
		ev[i] = (struct bm_evidence){.text = e->text, .value = e->value, .unit = e->unit};
		ev[i].series.name = e->series;
		if (e->label_name) {
			labels[i] = (struct bm_label){e->label_name, e->label_value};
			ev[i].series.labels = &labels[i];
			ev[i].series.n_labels = 1;
		}
	}
}

/* --- JSON -------------------------------------------------------------- */

const char *fd_kind_name(enum bm_bottleneck_kind k)
{
	static const char *const names[] = {"utilisation", "saturation", "errors", "coordination",
					    "inference"};
	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}

const char *fd_severity_name(enum bm_severity s)
{
	static const char *const names[] = {"info", "warning", "critical", "emergency"};
	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

/* A number, or null for what JSON cannot hold (NaN, infinities). */
static json_t *json_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *evidence_json(const struct fd_evidence *e)
{
	json_t *labels = json_object();
	if (labels && e->label_name)
		json_object_set_new(labels, e->label_name, json_string(e->label_value));
	return json_pack("{s:s, s:o, s:o, s:o, s:o}", "text", e->text, "series",
			 json_str_or_null(e->series), "labels", labels ? labels : json_null(),
			 "value", json_num(e->value), "unit", json_str_or_null(e->unit));
}

static json_t *finding_json(const struct finding *f)
{
	json_t *ev = json_array(), *labels = json_object();
	for (size_t i = 0; ev && i < f->n_ev; i++)
		json_array_append_new(ev, evidence_json(&f->ev[i]));
	if (labels && f->label_name)
		json_object_set_new(labels, f->label_name, json_string(f->label_value));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:s, s:o, s:o, s:o}", "id",
			 f->id, "resource", f->resource, "kind", fd_kind_name(f->kind), "state",
			 f->active ? "active" : "pending", "severity",
			 fd_severity_name(f->severity), "impact", json_num(f->impact), "confidence",
			 json_num(f->confidence), "since_ms", (json_int_t)f->since_ms, "ts_ms",
			 (json_int_t)f->last_true_ms, "summary", f->summary, "recommendation",
			 json_str_or_null(f->advice), "labels", labels ? labels : json_null(),
			 "evidence", ev ? ev : json_null());
}

/* Highest impact first; then the more severe; then the older. */
static int by_rank(const void *a, const void *b)
{
	const struct finding *x = *(const struct finding *const *)a;
	const struct finding *y = *(const struct finding *const *)b;
	if (x->impact != y->impact)
		return x->impact > y->impact ? -1 : 1;
	if (x->severity != y->severity)
		return x->severity > y->severity ? -1 : 1;
	return (x->since_ms > y->since_ms) - (x->since_ms < y->since_ms);
}

json_t *fd_json(const struct findings *fs, bool include_pending)
{
	const struct finding **order = fs->n ? malloc(fs->n * sizeof(*order)) : NULL;
	json_t *arr = json_array();
	size_t n = 0;
	if (!arr || (fs->n && !order)) {
		free(order);
		json_decref(arr);
		return NULL;
	}
	for (size_t i = 0; i < fs->n; i++)
		if (fs->v[i].active || include_pending)
			order[n++] = &fs->v[i];
	if (n)
		qsort(order, n, sizeof(*order), by_rank);
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(arr, finding_json(order[i]))) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	free(order);
	return arr;
}

void fd_free(struct findings *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		finding_release(&fs->v[i]);
	free(fs->v);
	fs->v = NULL;
	fs->n = fs->cap = 0;
}
