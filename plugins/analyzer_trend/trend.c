/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/trend: per series and window (default 5 min, 1 h, 24 h) a
 * Theil-Sen slope over bucket means with a Mann-Kendall test, published
 * as `trend` events on a change of direction and periodically, and served
 * at GET /api/bearmon/v1/trends.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/analyzer_series.h"
#include "window.h"

#define TR_MAX_WINDOWS 8
#define TR_MIN_POINTS 8 /* Mann-Kendall needs about 8 points to reach p < 0.01 */
#define TR_ROUTE "/api/bearmon/v1/trends"

struct tr_window_conf {
	int64_t length_ms;
	int64_t points;
};

struct tr_conf {
	struct bm_group_list windows;
	int64_t points;
	struct bm_strlist include;
	struct bm_strlist exclude;
	int counters; /* enum as_counters */
	int64_t max_series;
	double alpha;
	double min_rel_change;
	double min_coverage;
	int64_t publish_every_ms;
	bool warmup;
};

static const struct bm_option tr_window_options[] = {
	{.name = "length", .type = BM_OPT_DURATION, .flags = BM_OPTF_REQUIRED | BM_OPTF_BOUNDED,
	 .offset = offsetof(struct tr_window_conf, length_ms), .min = 1000, .max = 30 * 86400000.0,
	 .help = "window length"},
	BM_OPTION_BOUNDED("points", BM_OPT_INT, "0", struct tr_window_conf, points, 0, 500,
			  "buckets the window keeps (0: the instance's points)"),
	BM_OPTION_END,
};

static const struct bm_option tr_options[] = {
	{.name = "windows", .type = BM_OPT_GROUP_LIST, .sub = tr_window_options,
	 .sub_size = sizeof(struct tr_window_conf), .offset = offsetof(struct tr_conf, windows),
	 .help = "trend windows, at most 8 (none: 5m, 1h and 24h)"},
	BM_OPTION_BOUNDED("points", BM_OPT_INT, "120", struct tr_conf, points, 8, 500,
			  "buckets per window: its samples are kept as that many means, and Theil-Sen is exact over them"),
	BM_OPTION("include", BM_OPT_STRING_LIST, NULL, struct tr_conf, include,
		  "metric name patterns to analyse (POSIX ERE, anchored; none: every metric)"),
	BM_OPTION("exclude", BM_OPT_STRING_LIST, NULL, struct tr_conf, exclude,
		  "metric name patterns to skip"),
	{.name = "counters", .type = BM_OPT_ENUM, .def = "rate", .enum_values = as_counters_names,
	 .offset = offsetof(struct tr_conf, counters),
	 .help = "counters (names ending in _total, _bucket, _count, _sum): rate (per second), skip or raw"},
	BM_OPTION_BOUNDED("max_series", BM_OPT_INT, "500", struct tr_conf, max_series, 1, 100000,
			  "series tracked at once; new ones beyond are dropped and counted"),
	BM_OPTION_BOUNDED("alpha", BM_OPT_DOUBLE, "0.05", struct tr_conf, alpha, 1e-6, 0.5,
			  "Mann-Kendall p-value below which a trend is significant"),
	BM_OPTION_BOUNDED("min_rel_change", BM_OPT_DOUBLE, "0.01", struct tr_conf, min_rel_change,
			  0, 1e6,
			  "a significant trend must also change the fitted value by this fraction over the window"),
	BM_OPTION_BOUNDED("min_coverage", BM_OPT_DOUBLE, "0.5", struct tr_conf, min_coverage, 0, 1,
			  "fraction of a window the data must span before it is fitted"),
	BM_OPTION_BOUNDED("publish_every", BM_OPT_DURATION, "10m", struct tr_conf, publish_every_ms,
			  0, 86400000.0,
			  "republish an unchanged trend this often (0: only on a change of direction)"),
	BM_OPTION("warmup", BM_OPT_BOOL, "true", struct tr_conf, warmup,
		  "fill a new series' windows from the store"),
	BM_OPTION_END,
};

/* The latest fit of one window, and what was last published for it. */
struct tr_result {
	bool valid;
	bool published;
	int64_t ts_ms;
	int64_t last_pub_ms;
	enum bm_trend_direction last_dir;
	struct trend_fit fit;
};

struct tr_series {
	struct tw_window w[TR_MAX_WINDOWS];
	struct tr_result r[TR_MAX_WINDOWS];
	struct tw_bucket buckets[]; /* every window's, one after the other */
};

struct trend {
	struct bm_ctx *ctx;
	const struct tr_conf *conf;
	size_t n_windows;
	int64_t length_ms[TR_MAX_WINDOWS];
	uint32_t points[TR_MAX_WINDOWS];
	size_t total_points;
	struct trend_rules rules;
	struct as_table table;
	struct as_worker worker;
	/* evaluation thread only */
	double *x, *y, *scratch;
	struct bm_buf buf;
	char route[256];
};

static void *tr_series_new(void *user, const struct as_key *key, int64_t ts_ms);
static void tr_series_sample(void *user, void *val, int64_t ts_ms, double v);

static void tr_series_free(void *user, void *val)
{
	(void)user;
	free(val);
}

static const struct as_ops tr_series_ops = {
	.create = tr_series_new, .sample = tr_series_sample, .destroy = tr_series_free};

/* Bytes one series costs (README: "bytes per series"). */
static size_t tr_series_bytes(const struct trend *t)
{
	return sizeof(struct tr_series) + t->total_points * sizeof(struct tw_bucket) +
	       sizeof(struct as_entry) + sizeof(struct as_key) + 2 * sizeof(uint32_t);
}

struct tr_warm {
	struct tw_window *w;
};

static void tr_warm_point(void *user, int64_t ts_ms, double v)
{
	struct tr_warm *wm = user;
	if (isfinite(v))
		tw_add(wm->w, ts_ms + wm->w->width_ms / 2, v, 1);
}

/* Fill each window with the store's bucket means before ts_ms. */
static void tr_warmup(struct trend *t, const struct as_key *key, struct tr_series *s, int64_t ts_ms)
{
	for (size_t j = 0; j < t->n_windows; j++) {
		struct tr_warm wm = {&s->w[j]};
		long rc = as_store_history(t->ctx, key, ts_ms - t->length_ms[j], ts_ms - 1,
					   s->w[j].width_ms, tr_warm_point, &wm);
		if (rc == BM_ENOTSUP)
			return;
	}
}

static void *tr_series_new(void *user, const struct as_key *key, int64_t ts_ms)
{
	struct trend *t = user;
	struct tr_series *s = calloc(1, sizeof(*s) + t->total_points * sizeof(struct tw_bucket));
	if (!s)
		return NULL;
	struct tw_bucket *b = s->buckets;
	for (size_t j = 0; j < t->n_windows; j++) {
		tw_init(&s->w[j], t->length_ms[j], t->points[j], b);
		b += t->points[j];
	}
	if (t->conf->warmup)
		tr_warmup(t, key, s, ts_ms);
	return s;
}

static void tr_series_sample(void *user, void *val, int64_t ts_ms, double v)
{
	struct trend *t = user;
	struct tr_series *s = val;
	for (size_t j = 0; j < t->n_windows; j++)
		tw_add(&s->w[j], ts_ms, v, 1);
}

/* Windows from the config, or 5m, 1h, 24h; points default to the
 * instance's. */
static int tr_windows(struct trend *t, const struct tr_conf *c, struct bm_err *err)
{
	static const int64_t defaults[] = {5 * 60000, 3600000, 86400000};
	size_t n = c->windows.n ? c->windows.n : sizeof(defaults) / sizeof(defaults[0]);
	if (n > TR_MAX_WINDOWS)
		return bm_err_set(err, BM_EINVAL, "windows: %zu given, at most %d", n,
				  TR_MAX_WINDOWS);
	t->n_windows = n;
	for (size_t j = 0; j < n; j++) {
		const struct tr_window_conf *w =
			c->windows.n ? BM_GROUP_ITEM(c->windows, struct tr_window_conf, j) : NULL;
		t->length_ms[j] = w ? w->length_ms : defaults[j];
		t->points[j] = (uint32_t)(w && w->points ? w->points : c->points);
		if (t->points[j] < TR_MIN_POINTS)
			return bm_err_set(err, BM_EINVAL, "windows.%zu.points: %u, at least %d", j,
					  t->points[j], TR_MIN_POINTS);
		t->total_points += t->points[j];
	}
	return 0;
}

static void tr_fini(void *state);
static void tr_route_cb(void *user, struct bm_http_req *req);

static int tr_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct tr_conf *c = conf;
	struct trend *t = calloc(1, sizeof(*t));
	if (!t)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	t->ctx = ctx;
	t->conf = c;
	t->rules = (struct trend_rules){.alpha = c->alpha, .min_rel_change = c->min_rel_change,
					.min_coverage = c->min_coverage,
					.min_points = TR_MIN_POINTS};
	int rc = tr_windows(t, c, err);
	if (rc) {
		free(t);
		return rc;
	}
	rc = as_table_init(&t->table, (size_t)c->max_series, &c->include, &c->exclude,
			   (enum as_counters)c->counters, &tr_series_ops, t, err);
	if (rc) {
		free(t);
		return rc;
	}
	uint32_t most = 0;
	for (size_t j = 0; j < t->n_windows; j++)
		most = t->points[j] > most ? t->points[j] : most;
	t->x = malloc(most * sizeof(double));
	t->y = malloc(most * sizeof(double));
	t->scratch = malloc(trend_fit_scratch(most) * sizeof(double));
	if (!t->x || !t->y || !t->scratch) {
		tr_fini(t);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	rc = as_table_self_metrics(&t->table, ctx);
	if (!rc)
		rc = as_route(ctx, TR_ROUTE, tr_route_cb, t, t->route, sizeof(t->route));
	if (rc) {
		tr_fini(t);
		return bm_err_set(err, rc, "cannot register %s: %s", TR_ROUTE, bm_strerror(rc));
	}
	bm_log_info(ctx, "%zu windows, %zu series at most, %zu bytes per series%s%s",
		    t->n_windows, (size_t)c->max_series, tr_series_bytes(t),
		    t->route[0] ? ", GET " : "", t->route);
	*state = t;
	return 0;
}

static void tr_fini(void *state)
{
	struct trend *t = state;
	as_table_free(&t->table);
	free(t->x);
	free(t->y);
	free(t->scratch);
	bm_buf_free(&t->buf);
	free(t);
}

/* Publish when the direction changed, on the first fit, and every
 * publish_every. */
static bool tr_due(const struct trend *t, const struct tr_result *r, int64_t now_ms)
{
	if (!r->published || r->last_dir != r->fit.direction)
		return true;
	return t->conf->publish_every_ms > 0 && now_ms - r->last_pub_ms >= t->conf->publish_every_ms;
}

static void tr_publish(struct trend *t, const struct as_key *key, size_t j,
		       const struct tr_result *r)
{
	struct bm_trend_event e = {
		.series = as_series_ref(key),
		.ts_ms = r->ts_ms,
		.window_ms = t->length_ms[j],
		.n_samples = (int64_t)r->fit.n,
		.slope_per_s = r->fit.slope_per_s,
		.intercept = r->fit.intercept,
		.rel_change = r->fit.rel_change,
		.direction = r->fit.direction,
		.statistic = r->fit.tau,
		.p_value = r->fit.p_value,
		.method = "theil_sen",
		.test = "mann_kendall",
	};
	if (bm_trend_encode(&e, &t->buf) == 0)
		as_publish(&t->table, t->ctx, BM_TOPIC_TREND, &t->buf);
}

/* Fit window j of a series (table locked: the fit is bounded by the
 * window's points, at most 500, about 125k pairs). Returns whether it is
 * due for publishing. */
static bool tr_fit_window(struct trend *t, struct tr_series *s, size_t j, int64_t now_ms)
{
	const struct tw_window *w = &s->w[j];
	size_t n = tw_points(w, now_ms, t->x, t->y);
	struct tr_result *r = &s->r[j];
	r->valid = trend_fit(t->x, t->y, n, (double)w->length_ms / 1000,
			     (double)w->width_ms / 1000, &t->rules, t->scratch, &r->fit);
	r->ts_ms = now_ms;
	if (!r->valid || !tr_due(t, r, now_ms))
		return false;
	r->published = true;
	r->last_dir = r->fit.direction;
	r->last_pub_ms = now_ms;
	return true;
}

/* One evaluation: every live series, every window. Runs on the
 * instance's own thread; the table is locked per series only. */
static void tr_evaluate(void *user, int64_t now_ms)
{
	struct trend *t = user;
	int64_t shortest = t->length_ms[0], longest = t->length_ms[0];
	for (size_t j = 1; j < t->n_windows; j++) {
		shortest = t->length_ms[j] < shortest ? t->length_ms[j] : shortest;
		longest = t->length_ms[j] > longest ? t->length_ms[j] : longest;
	}
	as_table_sweep(&t->table, now_ms - shortest, now_ms - longest);
	for (size_t i = 0;; i++) {
		struct tr_result due[TR_MAX_WINDOWS] = {{0}};
		bool any = false, is_due[TR_MAX_WINDOWS] = {false};
		pthread_mutex_lock(&t->table.lock);
		if (i >= t->table.n) {
			pthread_mutex_unlock(&t->table.lock);
			break;
		}
		struct as_entry *e = &t->table.entries[i];
		struct tr_series *s = e->val;
		const struct as_key *key = e->key; /* freed only by this thread's sweep */
		for (size_t j = 0; s && !e->ended && j < t->n_windows; j++) {
			is_due[j] = tr_fit_window(t, s, j, now_ms);
			due[j] = s->r[j];
			any |= is_due[j];
		}
		pthread_mutex_unlock(&t->table.lock);
		for (size_t j = 0; any && j < t->n_windows; j++)
			if (is_due[j])
				tr_publish(t, key, j, &due[j]);
	}
}

static int tr_start(void *state, struct bm_err *err)
{
	struct trend *t = state;
	int rc = as_table_subscribe(&t->table, t->ctx, 0);
	if (rc)
		return bm_err_set(err, rc, "cannot subscribe to metric: %s", bm_strerror(rc));
	rc = as_worker_start(&t->worker, t->ctx, bm_interval_ms(t->ctx), tr_evaluate, t);
	if (rc) {
		as_table_unsubscribe(&t->table);
		return bm_err_set(err, rc, "cannot start the evaluation thread");
	}
	return 0;
}

static void tr_stop(void *state)
{
	struct trend *t = state;
	as_table_unsubscribe(&t->table);
	as_worker_stop(&t->worker);
}

static json_t *tr_result_json(const struct trend *t, const struct as_key *key, size_t j,
			      const struct tr_result *r)
{
	struct bm_series_ref ref = as_series_ref(key);
	return json_pack("{s:o, s:I, s:I, s:I, s:o, s:o, s:o, s:s, s:o, s:o, s:s, s:s}",
			 "series", as_series_json(&ref), "ts_ms", (json_int_t)r->ts_ms,
			 "window_ms", (json_int_t)t->length_ms[j], "n_samples",
			 (json_int_t)r->fit.n, "slope_per_s", as_number(r->fit.slope_per_s),
			 "intercept", as_number(r->fit.intercept), "rel_change",
			 as_number(r->fit.rel_change), "direction",
			 trend_direction_name(r->fit.direction), "tau", as_number(r->fit.tau),
			 "p_value", as_number(r->fit.p_value), "method", "theil_sen", "test",
			 "mann_kendall");
}

/* GET /api/bearmon/v1/trends[?name=METRIC][&direction=increasing|decreasing|stable] */
static void tr_route_cb(void *user, struct bm_http_req *req)
{
	struct trend *t = user;
	if (as_reply_if_not_get(req))
		return;
	const char *name = bm_http_query(req, "name");
	const char *dir = bm_http_query(req, "direction");
	json_t *list = json_array();
	pthread_mutex_lock(&t->table.lock);
	for (size_t i = 0; list && i < t->table.n; i++) {
		const struct as_entry *e = &t->table.entries[i];
		const struct tr_series *s = e->val;
		if (!s || (name && strcmp(name, e->key->name) != 0))
			continue;
		for (size_t j = 0; j < t->n_windows; j++) {
			const struct tr_result *r = &s->r[j];
			if (r->valid &&
			    (!dir || strcmp(dir, trend_direction_name(r->fit.direction)) == 0))
				json_array_append_new(list, tr_result_json(t, e->key, j, r));
		}
	}
	size_t n_series = t->table.n;
	pthread_mutex_unlock(&t->table.lock);
	as_reply_json(req, json_pack("{s:o*, s:I}", "trends", list, "series",
				     (json_int_t)n_series));
}

static const struct bm_plugin_ops tr_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = tr_init,
	.start = tr_start,
	.stop = tr_stop,
	.fini = tr_fini,
};

BM_PLUGIN_DEFINE(analyzer, trend, BM_KIND_ANALYZER,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "Theil-Sen trends with Mann-Kendall significance per series and window",
		 .origin = "bearmon plugins/analyzer_trend",
		 .options = tr_options,
		 .config_size = sizeof(struct tr_conf),
		 .ops = &tr_ops);
