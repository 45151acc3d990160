/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Series intake of the trend, correlation and forecast analyzers (see
 * analyzer_series.h): bounded series table, metric subscription, sweep,
 * store warm-up, HTTP/JSON helpers and the evaluation thread.
 */
#define _GNU_SOURCE
#include "analyzer_series.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bearmon/bm_hash.h>
#include <bearmon/bm_vec.h>

static uint64_t key_hash(const char *name, const struct bm_label *l, uint32_t n)
{
	return bm_hash_series(name, l, n);
}

/* One allocation: the struct, the label array, then the strings. */
static struct as_key *key_new(const struct bm_sample *s, uint64_t hash)
{
	size_t bytes = sizeof(struct as_key) + s->n_labels * sizeof(struct bm_label) +
		       strlen(s->name) + 1;
	for (uint32_t i = 0; i < s->n_labels; i++)
		bytes += strlen(s->labels[i].name) + strlen(s->labels[i].value) + 2;
	struct as_key *k = malloc(bytes);
	if (!k)
		return NULL;
	k->hash = hash;
	k->n_labels = s->n_labels;
	k->labels = (struct bm_label *)(k + 1);
	char *p = (char *)(k->labels + s->n_labels);
	k->name = strcpy(p, s->name);
	p += strlen(p) + 1;
	for (uint32_t i = 0; i < s->n_labels; i++) {
		k->labels[i].name = strcpy(p, s->labels[i].name);
		p += strlen(p) + 1;
		k->labels[i].value = strcpy(p, s->labels[i].value);
		p += strlen(p) + 1;
	}
	return k;
}

static bool key_equal(const struct as_key *k, const struct bm_sample *s)
{
	if (k->n_labels != s->n_labels || strcmp(k->name, s->name) != 0)
		return false;
	for (uint32_t i = 0; i < k->n_labels; i++)
		if (strcmp(k->labels[i].name, s->labels[i].name) != 0 ||
		    strcmp(k->labels[i].value, s->labels[i].value) != 0)
			return false;
	return true;
}

const char *const as_counters_names[] = {"rate", "skip", "raw", NULL};

/* exclude plus, with AS_COUNTERS_SKIP, AS_COUNTER_PATTERN. */
static int filter_init(struct bm_filter *f, const struct bm_strlist *include,
		       const struct bm_strlist *exclude, bool skip_counters, struct bm_err *err)
{
	if (!skip_counters)
		return bm_filter_init(f, include, exclude, err);
	struct bm_strlist ex = {.n = exclude->n + 1};
	ex.v = calloc(ex.n, sizeof(*ex.v));
	if (!ex.v)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < exclude->n; i++)
		ex.v[i] = exclude->v[i];
	ex.v[exclude->n] = (char *)AS_COUNTER_PATTERN;
	int rc = bm_filter_init(f, include, &ex, err);
	free(ex.v);
	return rc;
}

int as_table_init(struct as_table *t, size_t max_series, const struct bm_strlist *include,
		  const struct bm_strlist *exclude, enum as_counters counters,
		  const struct as_ops *ops, void *user, struct bm_err *err)
{
	memset(t, 0, sizeof(*t));
	int rc = filter_init(&t->filter, include, exclude, counters == AS_COUNTERS_SKIP, err);
	if (rc)
		return rc;
	if (regcomp(&t->counter_re, "^(" AS_COUNTER_PATTERN ")$", REG_EXTENDED | REG_NOSUB)) {
		bm_filter_free(&t->filter);
		return bm_err_set(err, BM_ENOMEM, "cannot compile the counter pattern");
	}
	t->counters = counters;
	t->max_series = max_series;
	t->ops = *ops;
	t->user = user;
	t->index_cap = 16;
	while (t->index_cap < 2 * max_series + 2)
		t->index_cap *= 2;
	t->index = calloc(t->index_cap, sizeof(*t->index));
	if (!t->index) {
		bm_filter_free(&t->filter);
		regfree(&t->counter_re);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

static void entry_release(struct as_table *t, struct as_entry *e)
{
	if (e->val)
		t->ops.destroy(t->user, e->val);
	free(e->key);
}

void as_table_free(struct as_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		entry_release(t, &t->entries[i]);
	free(t->entries);
	free(t->index);
	bm_filter_free(&t->filter);
	regfree(&t->counter_re);
	bm_arena_free(&t->arena);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}

/* Slot of the index holding s, or the empty slot where it would go. */
static size_t index_slot(const struct as_table *t, const struct bm_sample *s, uint64_t h)
{
	size_t mask = t->index_cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		uint32_t at = t->index[i];
		if (at == 0)
			return i;
		const struct as_key *k = t->entries[at - 1].key;
		if (k->hash == h && key_equal(k, s))
			return i;
	}
}

static void index_rebuild(struct as_table *t)
{
	size_t mask = t->index_cap - 1;
	memset(t->index, 0, t->index_cap * sizeof(*t->index));
	for (size_t e = 0; e < t->n; e++) {
		size_t i = (size_t)t->entries[e].key->hash & mask;
		while (t->index[i])
			i = (i + 1) & mask;
		t->index[i] = (uint32_t)(e + 1);
	}
}

static void count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* The entry of s; with create, made when the filter takes it and there
 * is room (the filter runs once per new series, not per sample). NULL
 * when there is none. */
static struct as_entry *entry_get(struct as_table *t, const struct bm_sample *s, bool create)
{
	uint64_t h = key_hash(s->name, s->labels, s->n_labels);
	size_t slot = index_slot(t, s, h);
	if (t->index[slot]) {
		struct as_entry *e = &t->entries[t->index[slot] - 1];
		if (!e->val && create)
			e->val = t->ops.create(t->user, e->key, s->ts_ms);
		return e->val ? e : NULL;
	}
	if (!create || !bm_filter_match(&t->filter, s->name))
		return NULL;
	if (t->n >= t->max_series) {
		count(&t->dropped_series);
		return NULL;
	}
	if (BM_VEC_RESERVE(t->entries, t->cap, t->n + 1))
		return NULL;
	struct as_key *k = key_new(s, h);
	if (!k)
		return NULL;
	struct as_entry *e = &t->entries[t->n];
	*e = (struct as_entry){.key = k, .last_ts_ms = INT64_MIN, .prev_ts_ms = INT64_MIN};
	e->rate = t->counters == AS_COUNTERS_RATE &&
		  regexec(&t->counter_re, k->name, 0, NULL, 0) == 0;
	t->index[slot] = (uint32_t)(++t->n);
	e->val = t->ops.create(t->user, k, s->ts_ms);
	return e->val ? e : NULL;
}

static void take_sample(struct as_table *t, const struct bm_sample *s)
{
	if (bm_is_stale_nan(s->value)) {
		struct as_entry *e = entry_get(t, s, false);
		if (e && s->ts_ms > e->last_ts_ms)
			e->ended = true;
		return;
	}
	if (!isfinite(s->value)) {
		if (entry_get(t, s, false))
			count(&t->skipped_samples);
		return;
	}
	struct as_entry *e = entry_get(t, s, true);
	if (!e)
		return;
	if (s->ts_ms <= e->last_ts_ms) {
		count(&t->skipped_samples);
		return;
	}
	e->ended = false;
	e->last_ts_ms = s->ts_ms;
	count(&t->samples);
	double v = s->value;
	if (e->rate) {
		/* the first sample and a reset (a decrease) only set the base */
		bool have = e->prev_ts_ms != INT64_MIN && v >= e->prev_v;
		double prev = e->prev_v;
		int64_t prev_ts = e->prev_ts_ms;
		e->prev_v = v;
		e->prev_ts_ms = s->ts_ms;
		if (!have)
			return;
		v = (v - prev) * 1000.0 / (double)(s->ts_ms - prev_ts);
	}
	t->ops.sample(t->user, e->val, s->ts_ms, v);
}

int as_table_ingest(struct as_table *t, const void *body, size_t len)
{
	struct bm_metric_batch b;
	int rc = bm_metric_batch_decode(body, len, &b, &t->arena);
	if (rc) {
		count(&t->skipped_samples);
		bm_arena_reset(&t->arena);
		return rc;
	}
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < b.n_samples; i++)
		take_sample(t, &b.samples[i]);
	pthread_mutex_unlock(&t->lock);
	bm_arena_reset(&t->arena);
	return 0;
}

static void on_metric(void *user, const char *topic, const void *body, size_t len)
{
	(void)topic;
	as_table_ingest(user, body, len);
}

int as_table_subscribe(struct as_table *t, struct bm_ctx *ctx, uint32_t queue_len)
{
	struct bm_sub_opts o = {.size = sizeof(o), .topic = BM_TOPIC_METRIC,
				.policy = BM_SUB_DROP_OLDEST, .queue_len = queue_len};
	return bm_bus_subscribe(ctx, &o, on_metric, t, &t->sub);
}

void as_table_unsubscribe(struct as_table *t)
{
	if (t->sub)
		bm_bus_unsubscribe(t->sub);
	t->sub = NULL;
}

void as_table_sweep(struct as_table *t, int64_t ended_before_ms, int64_t idle_before_ms)
{
	pthread_mutex_lock(&t->lock);
	size_t kept = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct as_entry *e = &t->entries[i];
		bool gone = e->last_ts_ms < idle_before_ms ||
			    (e->ended && e->last_ts_ms < ended_before_ms);
		if (gone)
			entry_release(t, e);
		else
			t->entries[kept++] = *e;
	}
	if (kept != t->n) {
		t->n = kept;
		index_rebuild(t);
	}
	double n_now = (double)t->n;
	__atomic_store(&t->series_gauge, &n_now, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&t->lock);
}

int as_table_self_metrics(struct as_table *t, struct bm_ctx *ctx)
{
	int rc = bm_self_gauge(ctx, "bearmon_analyzer_series", "series the analyzer tracks",
			       &t->series_gauge);
	if (!rc)
		rc = bm_self_counter(ctx, "bearmon_analyzer_samples_total",
				     "samples the analyzer took", &t->samples);
	if (!rc)
		rc = bm_self_counter(ctx, "bearmon_analyzer_dropped_series_total",
				     "new series refused because max_series was reached",
				     &t->dropped_series);
	if (!rc)
		rc = bm_self_counter(ctx, "bearmon_analyzer_skipped_samples_total",
				     "samples skipped: NaN, infinite, not newer than the last, or undecodable",
				     &t->skipped_samples);
	if (!rc)
		rc = bm_self_counter(ctx, "bearmon_analyzer_events_total", "events published",
				     &t->events);
	if (!rc)
		rc = bm_self_counter(ctx, "bearmon_analyzer_publish_errors_total",
				     "events the bus refused", &t->publish_errors);
	return rc;
}

int as_publish(struct as_table *t, struct bm_ctx *ctx, const char *topic, const struct bm_buf *b)
{
	int rc = bm_bus_publish(ctx, topic, b->data, b->len);
	count(rc ? &t->publish_errors : &t->events);
	return rc;
}

struct bm_series_ref as_series_ref(const struct as_key *k)
{
	return (struct bm_series_ref){.name = k->name, .labels = k->labels,
				      .n_labels = k->n_labels};
}

size_t as_series_text(const struct as_key *k, char *buf, size_t n)
{
	return bm_series_text(k->name, k->labels, k->n_labels, buf, n);
}

json_t *as_number(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *as_series_json(const struct bm_series_ref *s)
{
	json_t *labels = json_object();
	for (uint32_t i = 0; labels && i < s->n_labels; i++)
		json_object_set_new(labels, s->labels[i].name, json_string(s->labels[i].value));
	return json_pack("{s:s, s:o*}", "name", s->name, "labels", labels);
}

struct id_find {
	const char *want;
	int64_t id;
};

static void id_match(void *user, int64_t id, const char *text)
{
	struct id_find *f = user;
	if (strcmp(text, f->want) == 0)
		f->id = id;
}

long as_store_history(struct bm_ctx *ctx, const struct as_key *k, int64_t start_ms,
		      int64_t end_ms, int64_t step_ms, bm_point_cb cb, void *user)
{
	size_t need = as_series_text(k, NULL, 0) + 1;
	struct bm_matcher *m = malloc((k->n_labels + 1) * sizeof(*m));
	char *text = malloc(need);
	long rc = BM_ENOMEM;
	if (m && text) {
		as_series_text(k, text, need);
		m[0] = (struct bm_matcher){"__name__", BM_MATCH_EQ, k->name};
		for (uint32_t i = 0; i < k->n_labels; i++)
			m[i + 1] = (struct bm_matcher){k->labels[i].name, BM_MATCH_EQ,
						       k->labels[i].value};
		struct id_find f = {text, 0};
		rc = bm_store_series(ctx, m, k->n_labels + 1, id_match, &f);
		if (rc >= 0)
			rc = f.id ? bm_store_range(ctx, f.id, start_ms, end_ms, step_ms, BM_AGG_AVG,
						   cb, user)
				  : 0;
	}
	free(m);
	free(text);
	return rc;
}

int as_route(struct bm_ctx *ctx, const char *path, bm_http_cb cb, void *user, char *used,
	     size_t n)
{
	snprintf(used, n, "%s", path);
	if (!BM_HOST_HAS(bm_host(), http_route)) {
		used[0] = '\0';
		return 0;
	}
	int rc = bm_http_route(ctx, used, 0, cb, user);
	if (rc == BM_EEXIST) {
		snprintf(used, n, "%s/%s", path, bm_instance_name(ctx));
		rc = bm_http_route(ctx, used, 0, cb, user);
	}
	if (rc == BM_ENOTSUP) {
		used[0] = '\0';
		rc = 0;
	}
	return rc;
}

void as_reply_json(struct bm_http_req *req, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s) {
		static const char oom[] = "{\"error\":\"out of memory\"}";
		bm_http_reply(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	bm_http_reply(req, 200, "application/json", s, strlen(s));
	free(s);
}

bool as_reply_if_not_get(struct bm_http_req *req)
{
	const char *m = bm_http_method(req);
	if (m && (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0))
		return false;
	static const char msg[] = "{\"error\":\"method not allowed: use GET\"}";
	bm_http_add_header(req, "Allow", "GET");
	bm_http_reply(req, 405, "application/json", msg, sizeof(msg) - 1);
	return true;
}

static void *worker_main(void *arg)
{
	struct as_worker *w = arg;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		next.tv_sec += w->period_ms / 1000;
		next.tv_nsec += (w->period_ms % 1000) * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		int rc = 0;
		while (!w->stop && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&w->wake, &w->lock, &next);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->lock);
		w->fn(w->user, bm_now_ms(w->ctx));
		pthread_mutex_lock(&w->lock);
		/* after an overrun, start counting again from now */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
			next = now;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int as_worker_start(struct as_worker *w, struct bm_ctx *ctx, int64_t period_ms,
		    void (*fn)(void *user, int64_t now_ms), void *user)
{
	memset(w, 0, sizeof(*w));
	w->ctx = ctx;
	w->period_ms = period_ms > 0 ? period_ms : 1000;
	w->fn = fn;
	w->user = user;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->lock, NULL);
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc) {
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		return BM_ENOMEM;
	}
	w->running = true;
	return 0;
}

void as_worker_stop(struct as_worker *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	w->running = false;
}
