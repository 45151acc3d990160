/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/correlation: the selected series resampled on a common grid,
 * Pearson and Spearman correlation of every pair over the recent window
 * and lagged Pearson over -max_lag..max_lag to find leading indicators;
 * the best top_k pairs are published as `correlation` events and served
 * at GET /api/bearmon/v1/correlations.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/analyzer_series.h"
#include "../common/stats.h"
#include "pairs.h"

#define CO_ROUTE "/api/bearmon/v1/correlations"
#define CO_MIN_CELLS 8
#define CO_MAX_CELLS 4096

struct co_conf {
	struct bm_strlist include;
	struct bm_strlist exclude;
	int counters; /* enum as_counters */
	int64_t max_series;
	int64_t step_ms;
	int64_t window_ms;
	int64_t max_lag_ms;
	int64_t top_k;
	double min_coefficient;
	double alpha;
	double lag_gain;
	double min_coverage;
};

static const struct bm_option co_options[] = {
	BM_OPTION("include", BM_OPT_STRING_LIST, NULL, struct co_conf, include,
		  "metric name patterns to correlate (POSIX ERE, anchored; none: every metric)"),
	BM_OPTION("exclude", BM_OPT_STRING_LIST, NULL, struct co_conf, exclude,
		  "metric name patterns to skip"),
	{.name = "counters", .type = BM_OPT_ENUM, .def = "rate", .enum_values = as_counters_names,
	 .offset = offsetof(struct co_conf, counters),
	 .help = "counters (names ending in _total, _bucket, _count, _sum): rate (per second), skip or raw"},
	BM_OPTION_BOUNDED("max_series", BM_OPT_INT, "64", struct co_conf, max_series, 2, 1024,
			  "series tracked at once (cost grows with its square)"),
	BM_OPTION_BOUNDED("step", BM_OPT_DURATION, "10s", struct co_conf, step_ms, 100, 3600000.0,
			  "grid step the series are aligned on (cell means)"),
	BM_OPTION_BOUNDED("window", BM_OPT_DURATION, "10m", struct co_conf, window_ms, 1000,
			  30 * 86400000.0, "recent window correlated"),
	BM_OPTION_BOUNDED("max_lag", BM_OPT_DURATION, "2m", struct co_conf, max_lag_ms, 0,
			  15 * 86400000.0, "lags up to this (both ways) are tried; at most window/2"),
	BM_OPTION_BOUNDED("top_k", BM_OPT_INT, "10", struct co_conf, top_k, 1, 1000,
			  "pairs published per evaluation"),
	BM_OPTION_BOUNDED("min_coefficient", BM_OPT_DOUBLE, "0.7", struct co_conf,
			  min_coefficient, 0, 1, "smallest |r| reported"),
	BM_OPTION_BOUNDED("alpha", BM_OPT_DOUBLE, "0.01", struct co_conf, alpha, 1e-12, 1,
			  "p-value (Fisher z) below which a correlation is reported"),
	BM_OPTION_BOUNDED("lag_gain", BM_OPT_DOUBLE, "0.05", struct co_conf, lag_gain, 0, 1,
			  "a lag other than 0 is reported only when its |r| beats lag 0's by this"),
	BM_OPTION_BOUNDED("min_coverage", BM_OPT_DOUBLE, "0.8", struct co_conf, min_coverage, 0,
			  1, "fraction of grid cells (window plus lag) that must hold data"),
	BM_OPTION_END,
};

struct correlation {
	struct bm_ctx *ctx;
	const struct co_conf *conf;
	struct cc_opts opts;
	size_t W, L, ring; /* window and lag cells; ring = W + L + 1 cells */
	struct as_table table;
	struct as_worker worker;
	/* evaluation thread only */
	double *x, *ranks, *ranks_full;
	size_t *order;
	const struct as_key **keys;
	struct cc_pair *top;
	struct bm_buf buf;
	/* the latest answer, for HTTP */
	pthread_mutex_t res_lock;
	char *answer;
	char route[256];
};

static void *co_series_new(void *user, const struct as_key *key, int64_t ts_ms)
{
	(void)key;
	(void)ts_ms;
	struct correlation *c = user;
	return calloc(c->ring, sizeof(struct cg_cell));
}

static void co_series_sample(void *user, void *val, int64_t ts_ms, double v)
{
	struct correlation *c = user;
	cg_add(val, c->ring, c->conf->step_ms, ts_ms, v);
}

static void co_series_free(void *user, void *val)
{
	(void)user;
	free(val);
}

static const struct as_ops co_series_ops = {
	.create = co_series_new, .sample = co_series_sample, .destroy = co_series_free};

/* The ring plus the series' share of the evaluation rows. */
static size_t co_series_bytes(const struct correlation *c)
{
	return c->ring * sizeof(struct cg_cell) + sizeof(struct as_entry) +
	       sizeof(struct as_key) + 2 * sizeof(uint32_t) +
	       (2 * (c->W + c->L) + c->W) * sizeof(double) + sizeof(void *);
}

/* Window and lag in cells, within bounds. */
static int co_grid(struct correlation *c, const struct co_conf *cf, struct bm_err *err)
{
	int64_t w = cf->window_ms / cf->step_ms, l = cf->max_lag_ms / cf->step_ms;
	if (w < CO_MIN_CELLS || w > CO_MAX_CELLS)
		return bm_err_set(err, BM_EINVAL,
				  "window / step = %lld cells, must be %d to %d",
				  (long long)w, CO_MIN_CELLS, CO_MAX_CELLS);
	if (l > w / 2)
		return bm_err_set(err, BM_EINVAL, "max_lag: %lld cells, at most window/2 = %lld",
				  (long long)l, (long long)(w / 2));
	c->W = (size_t)w;
	c->L = (size_t)l;
	c->ring = c->W + c->L + 1;
	c->opts = (struct cc_opts){.window = c->W, .max_lag = c->L,
				   .min_coefficient = cf->min_coefficient, .alpha = cf->alpha,
				   .lag_gain = cf->lag_gain};
	return 0;
}

static void co_fini(void *state);
static void co_route_cb(void *user, struct bm_http_req *req);

static int co_alloc(struct correlation *c)
{
	size_t S = (size_t)c->conf->max_series, C = c->W + c->L;
	c->x = malloc(S * C * sizeof(double));
	c->ranks = malloc(S * c->W * sizeof(double));
	c->ranks_full = malloc(S * C * sizeof(double));
	c->order = malloc(C * sizeof(size_t));
	c->keys = malloc(S * sizeof(*c->keys));
	c->top = malloc((size_t)c->conf->top_k * sizeof(*c->top));
	return c->x && c->ranks && c->ranks_full && c->order && c->keys && c->top ? 0 : BM_ENOMEM;
}

static int co_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct co_conf *cf = conf;
	struct correlation *c = calloc(1, sizeof(*c));
	if (!c)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	c->ctx = ctx;
	c->conf = cf;
	int rc = co_grid(c, cf, err);
	if (!rc)
		rc = as_table_init(&c->table, (size_t)cf->max_series, &cf->include, &cf->exclude,
				   (enum as_counters)cf->counters, &co_series_ops, c, err);
	if (rc) {
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->res_lock, NULL);
	if (co_alloc(c)) {
		co_fini(c);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	rc = as_table_self_metrics(&c->table, ctx);
	if (!rc)
		rc = as_route(ctx, CO_ROUTE, co_route_cb, c, c->route, sizeof(c->route));
	if (rc) {
		co_fini(c);
		return bm_err_set(err, rc, "cannot register %s: %s", CO_ROUTE, bm_strerror(rc));
	}
	bm_log_info(ctx,
		    "%zu series at most, window %zu cells, lags +-%zu: %.3g pair-cell products per "
		    "evaluation at most, %zu bytes per series%s%s",
		    (size_t)cf->max_series, c->W, c->L,
		    (double)cf->max_series * (double)(cf->max_series - 1) / 2 * (double)c->W *
			    (double)(2 * c->L + 1),
		    co_series_bytes(c), c->route[0] ? ", GET " : "", c->route);
	*state = c;
	return 0;
}

static void co_fini(void *state)
{
	struct correlation *c = state;
	as_table_free(&c->table);
	free(c->x);
	free(c->ranks);
	free(c->ranks_full);
	free(c->order);
	free(c->keys);
	free(c->top);
	free(c->answer);
	bm_buf_free(&c->buf);
	pthread_mutex_destroy(&c->res_lock);
	free(c);
}

/* Rows of every live series with enough data on the grid up to last_k;
 * returns how many. */
static size_t co_gather(struct correlation *c, int64_t last_k)
{
	size_t C = c->W + c->L, rows = 0;
	size_t need = (size_t)ceil(c->conf->min_coverage * (double)C);
	for (size_t i = 0;; i++) {
		pthread_mutex_lock(&c->table.lock);
		if (i >= c->table.n) {
			pthread_mutex_unlock(&c->table.lock);
			break;
		}
		const struct as_entry *e = &c->table.entries[i];
		if (e->val && !e->ended) {
			size_t present = cg_extract(e->val, c->ring, last_k, c->x + rows * C, C);
			if (present > 0 && present >= need)
				c->keys[rows++] = e->key; /* freed only by this thread's sweep */
		}
		pthread_mutex_unlock(&c->table.lock);
	}
	cc_rank_rows(c->x, rows, &c->opts, c->ranks, c->ranks_full, c->order);
	return rows;
}

static void co_publish(struct correlation *c, const struct cc_pair *p, int64_t ts_ms)
{
	struct bm_correlation_event e = {
		.a = as_series_ref(c->keys[p->a]),
		.b = as_series_ref(c->keys[p->b]),
		.ts_ms = ts_ms,
		.window_ms = (int64_t)c->W * c->conf->step_ms,
		.method = BM_CORR_PEARSON,
		.coefficient = p->lag_r,
		.lag_ms = (int64_t)p->lag * c->conf->step_ms,
		.p_value = p->p_value,
		.n_samples = (int64_t)c->W,
	};
	if (bm_correlation_encode(&e, &c->buf) == 0)
		as_publish(&c->table, c->ctx, BM_TOPIC_CORRELATION, &c->buf);
	if (isnan(p->spearman))
		return;
	e.method = BM_CORR_SPEARMAN;
	e.coefficient = p->spearman;
	e.lag_ms = 0;
	e.p_value = stats_corr_p_value(p->spearman, c->W);
	if (bm_correlation_encode(&e, &c->buf) == 0)
		as_publish(&c->table, c->ctx, BM_TOPIC_CORRELATION, &c->buf);
}

static json_t *co_pair_json(const struct correlation *c, const struct cc_pair *p)
{
	struct bm_series_ref a = as_series_ref(c->keys[p->a]), b = as_series_ref(c->keys[p->b]);
	return json_pack("{s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:I}", "a", as_series_json(&a), "b",
			 as_series_json(&b), "pearson", as_number(p->pearson), "spearman",
			 as_number(p->spearman), "lag_ms",
			 (json_int_t)p->lag * c->conf->step_ms, "lag_coefficient",
			 as_number(p->lag_r), "p_value", as_number(p->p_value), "n_samples",
			 (json_int_t)c->W);
}

/* The answer of GET .../correlations for this evaluation. */
static void co_keep_answer(struct correlation *c, size_t rows, size_t n_top, int64_t ts_ms)
{
	json_t *pairs = json_array();
	for (size_t k = 0; pairs && k < n_top; k++)
		json_array_append_new(pairs, co_pair_json(c, &c->top[k]));
	pthread_mutex_lock(&c->table.lock);
	size_t n_series = c->table.n;
	pthread_mutex_unlock(&c->table.lock);
	json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o*}", "ts_ms", (json_int_t)ts_ms,
			      "window_ms", (json_int_t)c->W * c->conf->step_ms, "step_ms",
			      (json_int_t)c->conf->step_ms, "max_lag_ms",
			      (json_int_t)c->L * c->conf->step_ms, "series", (json_int_t)n_series,
			      "series_compared", (json_int_t)rows, "pairs", pairs);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return;
	pthread_mutex_lock(&c->res_lock);
	free(c->answer);
	c->answer = s;
	pthread_mutex_unlock(&c->res_lock);
}

/* One evaluation on the instance's thread. */
static void co_evaluate(void *user, int64_t now_ms)
{
	struct correlation *c = user;
	int64_t step = c->conf->step_ms;
	int64_t span = (int64_t)(c->W + c->L) * step;
	as_table_sweep(&c->table, now_ms - span, now_ms - span);
	int64_t last_k = now_ms / step - 1; /* the last whole cell */
	size_t rows = co_gather(c, last_k);
	size_t n_top = cc_top_pairs(c->x, c->ranks, c->ranks_full, rows, &c->opts, c->top,
				    (size_t)c->conf->top_k);
	int64_t ts = (last_k + 1) * step;
	for (size_t k = 0; k < n_top; k++)
		co_publish(c, &c->top[k], ts);
	co_keep_answer(c, rows, n_top, ts);
}

static int co_start(void *state, struct bm_err *err)
{
	struct correlation *c = state;
	int rc = as_table_subscribe(&c->table, c->ctx, 0);
	if (rc)
		return bm_err_set(err, rc, "cannot subscribe to metric: %s", bm_strerror(rc));
	rc = as_worker_start(&c->worker, c->ctx, bm_interval_ms(c->ctx), co_evaluate, c);
	if (rc) {
		as_table_unsubscribe(&c->table);
		return bm_err_set(err, rc, "cannot start the evaluation thread");
	}
	return 0;
}

static void co_stop(void *state)
{
	struct correlation *c = state;
	as_table_unsubscribe(&c->table);
	as_worker_stop(&c->worker);
}

/* GET /api/bearmon/v1/correlations: the latest evaluation. */
static void co_route_cb(void *user, struct bm_http_req *req)
{
	struct correlation *c = user;
	if (as_reply_if_not_get(req))
		return;
	static const char none[] = "{\"pairs\":[],\"series_compared\":0}";
	pthread_mutex_lock(&c->res_lock);
	const char *s = c->answer ? c->answer : none;
	bm_http_reply(req, 200, "application/json", s, strlen(s));
	pthread_mutex_unlock(&c->res_lock);
}

static const struct bm_plugin_ops co_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = co_init,
	.start = co_start,
	.stop = co_stop,
	.fini = co_fini,
};

BM_PLUGIN_DEFINE(analyzer, correlation, BM_KIND_ANALYZER,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "Pearson, Spearman and lagged correlations of series pairs, top k",
		 .origin = "bearmon plugins/analyzer_correlation",
		 .options = co_options,
		 .config_size = sizeof(struct co_conf),
		 .ops = &co_ops);
