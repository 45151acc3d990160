/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store inside the daemon (see store_api.h). The subscription uses the
 * block policy: a full store queue slows publishers down instead of
 * losing samples.
 */
#define _GNU_SOURCE
#include "store_api.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "bearmon/bm_batch.h"
#include "bearmon/bm_vec.h"
#include "bus.h"
#include "daemon.h"
#include "expfmt.h"
#include "http.h"
#include "log.h"
#include "prom_api.h"
#include "store.h"
#include "store_events.h"

#define API "/api/bearmon/v1"
#define SAMPLES_MAX 1000000 /* per answer: a bigger range must be paged */
#define RANGE_LIMIT_MS 9200000000000000LL /* /range times and steps: 292,000 years */
#define NAME_REQUIRED "parameter \"name\" or \"name_re\" is required"

struct store_sub {
	struct store *store;
	struct store_events *events;
	struct bm_sub *sub;
	struct bm_arena arena;
	uint64_t malformed;
};

static void on_metric(void *user, const char *topic, const void *body, size_t len)
{
	struct store_sub *ss = user;
	struct bm_metric_batch b;
	(void)topic;
	if (bm_metric_batch_decode(body, len, &b, &ss->arena) == 0)
		store_ingest(ss->store, &b);
	else
		ss->malformed++;
	bm_arena_reset(&ss->arena);
}

static void h_series(void *u, struct bm_http_req *r);
static void h_samples(void *u, struct bm_http_req *r);
static void h_range(void *u, struct bm_http_req *r);
static void h_export(void *u, struct bm_http_req *r);
static void h_delete(void *u, struct bm_http_req *r);
static void h_import(void *u, struct bm_http_req *r);

int store_attach(struct daemon *d)
{
	const struct core_conf *c = &d->cfg->core;
	if (!c->store.enabled)
		return 0;
	char *path = NULL;
	if (c->store.path[0] == '/' ? asprintf(&path, "%s", c->store.path) < 0
				    : asprintf(&path, "%s/%s", c->data_dir, c->store.path) < 0)
		return BM_ENOMEM;
	struct store_conf sc = {.path = path, .flush_ms = c->store.flush_ms,
				.chunk_samples = (uint32_t)c->store.chunk_samples,
				.retention_ms = {c->store.retention_raw_ms, c->store.retention_1m_ms,
						 c->store.retention_1h_ms}};
	struct bm_err err = {0};
	struct store_sub *ss = calloc(1, sizeof(*ss));
	if (ss)
		ss->store = store_open(&sc, &err);
	if (ss && ss->store) {
		struct store_events_conf ec = {.path = path,
					       .retention_events_ms = c->store.retention_events_ms,
					       .retention_history_ms = c->store.retention_history_ms,
					       .queue_len = (uint32_t)c->store.queue_len,
					       .block_timeout_ms = c->bus.block_timeout_ms};
		ss->events = store_events_open(&ec, d->bus, d->http, &err);
		if (!ss->events) {
			store_close(ss->store);
			ss->store = NULL;
		}
	}
	free(path);
	if (!ss || !ss->store) {
		LOG_ERR("%s", ss ? err.msg : "store: out of memory");
		free(ss);
		return BM_EIO;
	}
	struct bm_sub_opts o = {.size = sizeof(o), .topic = "metric", .policy = BM_SUB_BLOCK,
				.queue_len = (uint32_t)c->store.queue_len,
				.block_timeout_ms = c->bus.block_timeout_ms};
	int rc = bus_subscribe(d->bus, "store", &o, on_metric, ss, &ss->sub);
	if (rc) {
		store_events_close(ss->events);
		store_close(ss->store);
		free(ss);
		return rc;
	}
	d->store = ss;
	if (d->http) {
		http_add_route(d->http, ss, API "/series", 0, h_series, ss);
		http_add_route(d->http, ss, API "/samples", 0, h_samples, ss);
		http_add_route(d->http, ss, API "/range", 0, h_range, ss);
		http_add_route(d->http, ss, API "/export", 0, h_export, ss);
		http_add_route(d->http, ss, API "/series/delete", BM_HTTP_ADMIN, h_delete, ss);
		http_add_route(d->http, ss, API "/import", BM_HTTP_ADMIN, h_import, ss);
		/* Prometheus' API and /metrics live and go with the store */
		if (prom_api_attach(d, ss))
			LOG_WARN("store: the Prometheus API routes could not all be registered");
	}
	return 0;
}

void store_detach(struct daemon *d)
{
	struct store_sub *ss = d->store;
	if (!ss)
		return;
	if (d->http)
		http_remove_routes(d->http, ss);
	bus_unsubscribe(ss->sub);
	store_events_close(ss->events);
	store_close(ss->store);
	bm_arena_free(&ss->arena);
	free(ss);
	d->store = NULL;
}

struct store *store_of(struct daemon *d)
{
	return d->store ? d->store->store : NULL;
}

void store_self_metrics(struct daemon *d, struct bm_batch *b)
{
	struct store_sub *ss = d->store;
	struct store_stats st;
	if (!ss)
		return;
	store_get_stats(ss->store, &st);
	static const struct {
		const char *name;
		const char *help;
	} f[] = {
		{"bearmon_store_samples_total", "samples accepted by the store"},
		{"bearmon_store_duplicate_samples_total", "samples dropped: same timestamp as the previous one"},
		{"bearmon_store_out_of_order_samples_total", "samples dropped: older than the previous one"},
		{"bearmon_store_write_errors_total", "failed writes (disk full, read-only); data kept in memory"},
		{"bearmon_store_chunks_written_total", "chunks written to the database"},
		{"bearmon_store_flushes_total", "successful flushes"},
		{"bearmon_store_malformed_batches_total", "metric events the store could not decode"},
		{"bearmon_store_events_total", "standard events (alerts, anomalies, ...) kept in the store"},
		{"bearmon_store_malformed_events_total", "standard events the store could not decode"},
		{"bearmon_store_event_write_errors_total", "standard events the store failed to write"},
	};
	uint64_t ev_written, ev_malformed, ev_errors;
	store_events_stats(ss->events, &ev_written, &ev_malformed, &ev_errors);
	const double v[] = {(double)st.samples_in, (double)st.duplicates, (double)st.out_of_order,
			    (double)st.write_errors, (double)st.chunks_written, (double)st.flushes,
			    (double)ss->malformed, (double)ev_written, (double)ev_malformed,
			    (double)ev_errors};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		bm_batch_family(b, f[i].name, BM_METRIC_COUNTER, "", f[i].help);
		bm_batch_addl(b, f[i].name, v[i], NULL);
	}
	bm_batch_family(b, "bearmon_store_series", BM_METRIC_GAUGE, "", "series known to the store");
	bm_batch_addl(b, "bearmon_store_series", (double)st.series, NULL);
}

static void add_series(void *u, int64_t id, const char *text)
{
	json_array_append_new(u, json_pack("{s:I, s:s}", "id", (json_int_t)id, "series", text));
}

/* Parameters of the store routes themselves; every other one is a label.
 * Compared as evhttp_find_header looks them up: ignoring case. */
static bool route_param(const char *key)
{
	static const char *const own[] = {"name", "name_re", "id", "start", "end", "step", "agg",
					  "limit", NULL};
	for (const char *const *p = own; *p; p++)
		if (strcasecmp(*p, key) == 0)
			return true;
	return false;
}

size_t store_api_matchers(const struct evkeyvalq *params, struct bm_matcher *m, size_t cap)
{
	const char *name = evhttp_find_header(params, "name");
	const char *re = evhttp_find_header(params, "name_re");
	if (!cap || (!name && !re))
		return 0;
	size_t n = 0;
	m[n++] = (struct bm_matcher){"__name__", name ? BM_MATCH_EQ : BM_MATCH_RE, name ? name : re};
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, params, next) {
		if (route_param(kv->key))
			continue;
		/* counted beyond cap: the caller refuses rather than match more series */
		if (n < cap)
			m[n] = (struct bm_matcher){kv->key, BM_MATCH_EQ, kv->value};
		n++;
	}
	return n;
}

#define MATCHERS_MAX 16

/* The series r names into m[MATCHERS_MAX]; 0, answered with a 400
 * (usage), when it names none or more than MATCHERS_MAX. */
static size_t route_matchers(struct bm_http_req *r, struct bm_matcher *m, const char *usage)
{
	size_t n = store_api_matchers(http_req_params(r), m, MATCHERS_MAX);
	if (n > MATCHERS_MAX)
		http_reply_error(r, 400, "at most 15 LABEL=VALUE matchers besides name or name_re");
	else if (!n)
		http_reply_error(r, 400, usage);
	return n > MATCHERS_MAX ? 0 : n;
}

/* GET /api/bearmon/v1/series?name=NAME|name_re=RE[&LABEL=VALUE...]
 * (PromQL selectors arrive with the query API). */
static void h_series(void *u, struct bm_http_req *r)
{
	struct store_sub *ss = u;
	struct bm_matcher m[MATCHERS_MAX];
	size_t n = route_matchers(r, m, NAME_REQUIRED);
	if (!n)
		return;
	json_t *arr = json_array();
	long count = store_series(ss->store, m, n, add_series, arr);
	if (count < 0) {
		json_decref(arr);
		http_reply_error(r, 400, "bad matcher");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s, s:o}", "status", "ok", "series", arr));
}

struct samples_out {
	json_t *arr;
	long n;
};

static void add_sample(void *u, int64_t ts, double v)
{
	struct samples_out *o = u;
	if (++o->n > SAMPLES_MAX)
		return;
	/* JSON has no NaN or Inf: those travel as strings, as in Prometheus */
	json_t *val = isfinite(v) ? json_real(v) : json_string(isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
	json_array_append_new(o->arr, json_pack("[I, o]", (json_int_t)ts, val));
}

/* GET /api/bearmon/v1/samples?id=ID[&start=MS][&end=MS]: raw samples. */
static void h_samples(void *u, struct bm_http_req *r)
{
	struct store_sub *ss = u;
	int64_t id, start, end;
	if (!http_req_query(r, "id") || !http_query_i64(r, "id", 0, &id) ||
	    !http_query_i64(r, "start", INT64_MIN, &start) || !http_query_i64(r, "end", INT64_MAX, &end)) {
		http_reply_error(r, 400, "parameters: id (required), start and end in ms since the epoch");
		return;
	}
	struct samples_out o = {json_array(), 0};
	long n = store_raw(ss->store, id, start, end, add_sample, &o);
	if (n < 0 || o.n > SAMPLES_MAX) {
		json_decref(o.arr);
		http_reply_error(r, n < 0 ? 500 : 413,
				 n < 0 ? "store read failed" : "more than 1000000 samples: narrow start/end");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s, s:I, s:o}", "status", "ok", "id", (json_int_t)id,
					  "samples", o.arr));
}

static const char *const agg_names[] = {"avg", "min", "max", "sum", "count", "last", "increase"};

int store_api_range_params(const struct evkeyvalq *params, struct store_range_params *p)
{
	const char *agg_s = evhttp_find_header(params, "agg");
	p->agg = -1;
	for (int i = 0; i < 7; i++)
		if (strcmp(agg_s ? agg_s : "avg", agg_names[i]) == 0)
			p->agg = i;
	if (!evhttp_find_header(params, "id") || !evhttp_find_header(params, "step") ||
	    !http_param_i64(params, "id", 0, &p->id) || !http_param_i64(params, "start", 0, &p->start) ||
	    !http_param_i64(params, "end", INT64_MAX, &p->end) ||
	    !http_param_i64(params, "step", 0, &p->step) || p->step <= 0 || p->agg < 0)
		return 400;
	/* bounded, so that end - start and the window alignment of
	 * store_range (start rounded down to a step) stay in int64 */
	if (p->start < -RANGE_LIMIT_MS || p->start > RANGE_LIMIT_MS || p->step > RANGE_LIMIT_MS ||
	    (p->end != INT64_MAX && (p->end < -RANGE_LIMIT_MS || p->end > RANGE_LIMIT_MS)))
		return 400;
	if (p->end != INT64_MAX && (p->end - p->start) / p->step > SAMPLES_MAX)
		return 413;
	return 0;
}

/* GET /api/bearmon/v1/range?id=ID&start=MS&end=MS&step=MS[&agg=avg]: one
 * point per step window from the coarsest tier that answers the step. */
static void h_range(void *u, struct bm_http_req *r)
{
	struct store_sub *ss = u;
	struct store_range_params p;
	int refused = store_api_range_params(http_req_params(r), &p);
	if (refused) {
		http_reply_error(r, refused,
				 refused == 413 ? "more than 1000000 points: raise step or narrow start/end"
						: "parameters: id, step (ms, > 0), start, end (ms; steps and times within 292,000 years of the epoch), agg (avg, min, max, sum, count, last, increase)");
		return;
	}
	struct samples_out o = {json_array(), 0};
	int tier = 0;
	long n = store_range(ss->store, p.id, p.start, p.end, p.step, (enum bm_agg)p.agg, &tier, add_sample,
			     &o);
	if (n < 0 || o.n > SAMPLES_MAX) {
		json_decref(o.arr);
		http_reply_error(r, n < 0 ? 500 : 413, n < 0 ? "store read failed" : "too many points");
		return;
	}
	static const char *const tiers[] = {"raw", "1m", "1h"};
	http_reply_json(r, 200, json_pack("{s:s, s:I, s:s, s:s, s:o}", "status", "ok", "id",
					  (json_int_t)p.id, "tier", tiers[tier], "agg", agg_names[p.agg],
					  "points", o.arr));
}

/* --- export and delete ----------------------------------------------------- */

struct export_series {
	int64_t id;
	char *text;
};

struct export_list {
	struct export_series *v;
	size_t n, cap;
};

static void add_export(void *u, int64_t id, const char *text)
{
	struct export_list *l = u;
	if (BM_VEC_RESERVE(l->v, l->cap, l->n + 1))
		return;
	char *t = strdup(text);
	if (t)
		l->v[l->n++] = (struct export_series){id, t};
}

static int cmp_export(const void *a, const void *b)
{
	return strcmp(((const struct export_series *)a)->text, ((const struct export_series *)b)->text);
}

struct export_out {
	FILE *f;
	const char *text; /* name{labels} */
};

static void write_sample(void *u, int64_t ts, double v)
{
	struct export_out *o = u;
	if (bm_is_stale_nan(v))
		return; /* OpenMetrics has no staleness marker */
	fputs(o->text, o->f);
	if (isnan(v))
		fputs(" NaN", o->f);
	else if (isinf(v))
		fputs(v > 0 ? " +Inf" : " -Inf", o->f);
	else
		fprintf(o->f, " %.17g", v);
	fprintf(o->f, " %lld.%03lld\n", (long long)(ts / 1000), (long long)(ts % 1000 < 0 ? -(ts % 1000) : ts % 1000));
}

/* # TYPE and # HELP once per family: counters' family drops "_total". */
static void family_header(struct store *st, FILE *f, const char *name, char *last, size_t n)
{
	enum bm_metric_type type = BM_METRIC_UNTYPED;
	char buf[1024];
	const char *unit = "", *help = "";
	size_t len = strlen(name);
	/* metadata may be kept under the sample name (our collectors) or the
	 * OpenMetrics family name without its suffix (imports) */
	if (!store_metadata(st, name, &type, buf, sizeof(buf), &unit, &help)) {
		static const char *const sfx[] = {"_total", "_bucket", "_sum", "_count", "_created"};
		for (size_t i = 0; i < 5; i++) {
			size_t sl = strlen(sfx[i]);
			char base[512];
			if (len <= sl || strcmp(name + len - sl, sfx[i]) != 0)
				continue;
			snprintf(base, sizeof(base), "%.*s", (int)(len - sl), name);
			if (store_metadata(st, base, &type, buf, sizeof(buf), &unit, &help))
				break;
		}
	}
	char fam[512];
	bool total = type == BM_METRIC_COUNTER && len > 6 && strcmp(name + len - 6, "_total") == 0;
	snprintf(fam, sizeof(fam), "%.*s", (int)(total ? len - 6 : len), name);
	if (strcmp(fam, last) == 0)
		return;
	snprintf(last, n, "%s", fam);
	static const char *const types[] = {"unknown", "counter", "gauge", "unknown", "unknown"};
	fprintf(f, "# TYPE %s %s\n", fam, types[total ? 1 : type == BM_METRIC_GAUGE ? 2 : 0]);
	if (help[0]) {
		fprintf(f, "# HELP %s ", fam);
		for (const char *p = help; *p; p++) {
			if (*p == '\\' || *p == '\n')
				fputc('\\', f);
			fputc(*p == '\n' ? 'n' : *p, f);
		}
		fputc('\n', f);
	}
}

/* An export being streamed: one series a piece, so that memory holds one
 * series' samples at a time, not the whole answer. */
struct export_stream {
	struct store *store;
	struct export_list l; /* sorted by series text */
	size_t next;	      /* the series the next piece writes */
	int64_t start, end;
	char family[512]; /* the family whose # TYPE was written last */
};

static void export_release(void *user)
{
	struct export_stream *x = user;
	for (size_t i = 0; i < x->l.n; i++)
		free(x->l.v[i].text);
	free(x->l.v);
	free(x);
}

static void free_piece(const void *data, size_t len, void *unused)
{
	(void)len;
	(void)unused;
	free((void *)data);
}

/* One series (its family's # TYPE and # HELP first when it starts a new
 * family), or the closing # EOF. */
static bool export_fill(void *user, struct evbuffer *out)
{
	struct export_stream *x = user;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return false; /* the answer ends short: no # EOF tells the reader */
	bool more = x->next < x->l.n;
	if (more) {
		struct export_series *es = &x->l.v[x->next++];
		char name[512];
		snprintf(name, sizeof(name), "%s", es->text);
		char *brace = strchr(name, '{');
		if (brace)
			*brace = '\0';
		family_header(x->store, f, name, x->family, sizeof(x->family));
		/* "name{}" is written as plain "name" */
		size_t tl = strlen(es->text);
		if (tl >= 2 && strcmp(es->text + tl - 2, "{}") == 0)
			es->text[tl - 2] = '\0';
		struct export_out o = {f, es->text};
		store_raw(x->store, es->id, x->start, x->end, write_sample, &o);
	} else {
		fputs("# EOF\n", f);
	}
	if (fclose(f) == 0 && len && evbuffer_add_reference(out, text, len, free_piece, NULL) == 0)
		return more; /* the buffer owns text now: no copy of a series' samples */
	free(text);
	return more;
}

/* GET /api/bearmon/v1/export?name=...[&start=MS&end=MS]: OpenMetrics text
 * (timestamps in seconds), as promtool's create-blocks-from openmetrics
 * and bearmonctl import read it, streamed a series at a time. */
static void h_export(void *u, struct bm_http_req *r)
{
	struct store_sub *ss = u;
	static const char usage[] = "parameters: name or name_re, start and end in ms";
	struct bm_matcher m[MATCHERS_MAX];
	size_t nm = route_matchers(r, m, usage);
	int64_t start, end;
	if (!nm)
		return;
	if (!http_query_i64(r, "start", INT64_MIN, &start) || !http_query_i64(r, "end", INT64_MAX, &end)) {
		http_reply_error(r, 400, usage);
		return;
	}
	struct export_stream *x = calloc(1, sizeof(*x));
	if (!x) {
		http_reply_error(r, 500, "out of memory");
		return;
	}
	*x = (struct export_stream){.store = ss->store, .start = start, .end = end};
	if (store_series(ss->store, m, nm, add_export, &x->l) < 0) {
		export_release(x);
		http_reply_error(r, 400, "bad matcher");
		return;
	}
	if (x->l.n > 1)
		qsort(x->l.v, x->l.n, sizeof(*x->l.v), cmp_export);
	int rc = http_req_stream(r, "application/openmetrics-text; version=1.0.0; charset=utf-8",
				 export_fill, export_release, x);
	if (rc)
		http_reply_error(r, 500, "out of memory");
}

/* POST /api/bearmon/v1/series/delete?name=...: every matching series and
 * all its data. */
static void h_delete(void *u, struct bm_http_req *r)
{
	struct store_sub *ss = u;
	struct bm_matcher m[MATCHERS_MAX];
	if (strcmp(http_req_method(r), "POST") != 0) {
		http_reply_error(r, 405, "use POST");
		return;
	}
	size_t n = route_matchers(r, m, NAME_REQUIRED);
	if (!n)
		return;
	long count = store_delete(ss->store, m, n);
	if (count < 0) {
		http_reply_error(r, count == BM_EINVAL ? 400 : 500,
				 count == BM_EINVAL ? "bad matcher" : "delete failed (see the log)");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s, s:I}", "status", "ok", "deleted", (json_int_t)count));
}

/* --- import ------------------------------------------------------------------ */

struct imp_sample {
	const char *key; /* canonical series text, in the arena */
	const char *name;
	struct bm_label *labels;
	uint32_t n_labels;
	int64_t ts;
	double v;
};

struct imp {
	struct bm_arena arena;
	struct imp_sample *v;
	size_t n, cap;
	size_t samples, series, rejected;
};

static int imp_cmp(const void *a, const void *b)
{
	const struct imp_sample *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->ts > y->ts) - (x->ts < y->ts);
}

static int imp_add(struct imp *im, const struct expfmt_item *it, int64_t now)
{
	if (BM_VEC_RESERVE(im->v, im->cap, im->n + 1))
		return BM_ENOMEM;
	struct imp_sample *s = &im->v[im->n];
	s->n_labels = (uint32_t)it->n_labels;
	s->labels = bm_arena_alloc(&im->arena, (it->n_labels ? it->n_labels : 1) * sizeof(*s->labels));
	s->name = bm_arena_strndup(&im->arena, it->name, strlen(it->name));
	for (size_t i = 0; s->labels && i < it->n_labels; i++) {
		s->labels[i].name = bm_arena_strndup(&im->arena, it->labels[i].name, strlen(it->labels[i].name));
		s->labels[i].value = bm_arena_strndup(&im->arena, it->labels[i].value, strlen(it->labels[i].value));
	}
	if (!s->labels || !s->name)
		return BM_ENOMEM;
	bm_labels_sort(s->labels, s->n_labels);
	size_t need = store_series_text(s->name, s->labels, s->n_labels, NULL, 0) + 1;
	char *key = bm_arena_alloc(&im->arena, need);
	if (!key)
		return BM_ENOMEM;
	store_series_text(s->name, s->labels, s->n_labels, key, need);
	s->key = key;
	s->ts = it->has_ts ? it->ts_ms : now;
	s->v = it->value;
	im->n++;
	return 0;
}

/* One series' run of sorted samples into the store; a duplicate
 * timestamp keeps the first value. */
static void imp_flush_run(struct store *st, struct imp *im, size_t from, size_t to)
{
	int64_t *ts = malloc((to - from) * sizeof(*ts));
	double *v = malloc((to - from) * sizeof(*v));
	size_t n = 0;
	for (size_t i = from; ts && v && i < to; i++) {
		if (n && ts[n - 1] == im->v[i].ts)
			continue;
		ts[n] = im->v[i].ts;
		v[n++] = im->v[i].v;
	}
	const struct imp_sample *s = &im->v[from];
	if (ts && v && store_import(st, s->name, s->labels, s->n_labels, ts, v, n) == 0) {
		im->samples += n;
		im->series++;
	} else {
		im->rejected += to - from;
	}
	free(ts);
	free(v);
}

/* Metadata (# TYPE / # HELP) of the import, through the ingest path. */
static void imp_meta(struct store *st, const struct expfmt_item *it)
{
	struct bm_metric_meta m = {.name = it->name, .type = BM_METRIC_UNTYPED, .unit = "", .help = ""};
	char buf[1024];
	const char *unit, *help;
	store_metadata(st, it->name, &m.type, buf, sizeof(buf), &unit, &help);
	if (it->kind == EXPFMT_TYPE)
		m.type = it->type;
	else
		m.help = it->help;
	struct bm_metric_batch b = {.meta = &m, .n_meta = 1};
	store_ingest(st, &b);
}

/* POST /api/bearmon/v1/import: Prometheus text (ms timestamps) or
 * OpenMetrics (seconds, "# EOF"), backfilled series by series; a series
 * with data in the hours the import spans is rejected, not overwritten. */
static void h_import(void *u, struct bm_http_req *r)
{
	struct store_sub *ss = u;
	size_t len;
	const char *body = http_req_body(r, &len);
	char *copy = body ? malloc(len + 1) : NULL;
	if (strcmp(http_req_method(r), "POST") != 0 || !copy) {
		free(copy);
		http_reply_error(r, strcmp(http_req_method(r), "POST") ? 405 : 500, "POST the text as the body");
		return;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';
	struct expfmt_parser ps;
	expfmt_init(&ps, copy, len);
	const char *ct = http_req_header(r, "Content-Type");
	ps.openmetrics = (ct && strstr(ct, "openmetrics")) || (len >= 6 && strstr(copy, "# EOF"));
	struct imp im = {0};
	struct expfmt_item it;
	int rc;
	int64_t now = wall_ms();
	while ((rc = expfmt_next(&ps, &it)) > 0) {
		if (it.kind == EXPFMT_SAMPLE)
			rc = imp_add(&im, &it, now);
		else
			imp_meta(ss->store, &it);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		char msg[256];
		snprintf(msg, sizeof(msg), "line %u: %s", ps.err_line ? ps.err_line : ps.line,
			 ps.err[0] ? ps.err : bm_strerror(rc));
		http_reply_error(r, 400, msg);
	} else {
		if (im.n > 1)
			qsort(im.v, im.n, sizeof(*im.v), imp_cmp);
		for (size_t i = 0, j; i < im.n; i = j) {
			for (j = i + 1; j < im.n && strcmp(im.v[j].key, im.v[i].key) == 0; j++)
				;
			imp_flush_run(ss->store, &im, i, j);
		}
		http_reply_json(r, 200, json_pack("{s:s, s:I, s:I, s:I}", "status", "ok", "samples",
						  (json_int_t)im.samples, "series", (json_int_t)im.series,
						  "rejected", (json_int_t)im.rejected));
	}
	free(im.v);
	bm_arena_free(&im.arena);
	free(copy);
}
