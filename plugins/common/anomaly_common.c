/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The detector skeleton (see anomaly_common.h): series table callbacks,
 * hold-off, anomalous runs and event publication, plus the robust EWMA
 * and z-score helpers that the EWMA and Holt-Winters detectors share.
 */
#define _GNU_SOURCE
#include "anomaly_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_batch.h>

/* One series: its identity, hold-off and run, then the model's state. */
struct anomaly_series {
	const struct as_key *key; /* owned by the table, outlives us */
	struct anomaly_holdoff holdoff;
	bool in_run;          /* the previous sample reached the threshold */
	int64_t run_start_ms; /* first sample of the current run */
	_Alignas(16) unsigned char model[];
};

static void *series_create(void *user, const struct as_key *key, int64_t ts_ms)
{
	(void)ts_ms;
	struct anomaly_plugin *p = user;
	struct anomaly_series *s = calloc(1, sizeof(*s) + p->model->state_size);
	if (!s)
		return NULL;
	s->key = key;
	if (p->model->init && p->model->init(s->model, p->conf)) {
		free(s);
		return NULL;
	}
	return s;
}

static void series_destroy(void *user, void *val)
{
	struct anomaly_plugin *p = user;
	struct anomaly_series *s = val;
	if (p->model->release)
		p->model->release(s->model);
	free(s);
}

static void publish_anomaly(struct anomaly_plugin *p, const struct anomaly_series *s,
			    int64_t ts_ms, double v, double score, const struct anomaly_verdict *vd)
{
	struct bm_anomaly_event ev = {
		.series = as_series_ref(s->key),
		.ts_ms = ts_ms,
		.start_ms = s->run_start_ms,
		.value = v,
		.score = score,
		.threshold = p->common->threshold,
		.expected = vd->expected,
		.lower = vd->lower,
		.upper = vd->upper,
		.detector = p->model->detector,
		.reason = vd->reason,
	};
	if (bm_anomaly_encode(&ev, &p->buf) == 0)
		as_publish(&p->table, p->ctx, BM_TOPIC_ANOMALY, &p->buf);
}

static void series_sample(void *user, void *val, int64_t ts_ms, double v)
{
	struct anomaly_plugin *p = user;
	struct anomaly_series *s = val;
	double thr = p->common->threshold;
	struct anomaly_verdict vd = {0};
	if (!p->model->score(s->model, p->conf, thr, v, &vd))
		return;
	double score = anomaly_holdoff(&s->holdoff, p->common->holdoff, vd.score);
	if (score < thr) {
		s->in_run = false;
		return;
	}
	if (!s->in_run)
		s->run_start_ms = ts_ms;
	s->in_run = true;
	publish_anomaly(p, s, ts_ms, v, score, &vd);
}

static const struct as_ops anomaly_series_ops = {
	.create = series_create,
	.sample = series_sample,
	.destroy = series_destroy,
};

int anomaly_plugin_init(struct bm_ctx *ctx, const struct anomaly_model *model, const void *conf,
			const struct anomaly_common_conf *common, void **state,
			struct bm_err *err)
{
	struct anomaly_plugin *p = calloc(1, sizeof(*p));
	if (!p)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	p->ctx = ctx;
	p->model = model;
	p->conf = conf;
	p->common = common;
	int rc = as_table_init(&p->table, (size_t)common->max_series, &common->include,
			       &common->exclude, (enum as_counters)common->counters,
			       &anomaly_series_ops, p, err);
	if (rc) {
		free(p);
		return rc;
	}
	rc = as_table_self_metrics(&p->table, ctx);
	if (rc) {
		as_table_free(&p->table);
		free(p);
		return bm_err_set(err, rc, "cannot register self-metrics: %s", bm_strerror(rc));
	}
	*state = p;
	return 0;
}

/* Forget series that ended (stale marker) or fell silent. */
static void sweep_tick(void *user)
{
	struct anomaly_plugin *p = user;
	int64_t now = bm_now_ms(p->ctx);
	as_table_sweep(&p->table, now, now - p->common->idle_expiry_ms);
}

int anomaly_plugin_start(void *state, struct bm_err *err)
{
	struct anomaly_plugin *p = state;
	int rc = as_table_subscribe(&p->table, p->ctx, 0);
	if (rc)
		return bm_err_set(err, rc, "cannot subscribe to %s: %s", BM_TOPIC_METRIC,
				  bm_strerror(rc));
	if (p->common->idle_expiry_ms > 0) {
		/* a quarter of the expiry, between 1 s and 1 min */
		int64_t every = p->common->idle_expiry_ms / 4;
		every = every < 1000 ? 1000 : every > 60000 ? 60000 : every;
		rc = bm_timer_start(p->ctx, every, sweep_tick, p, &p->sweep);
		if (rc) {
			as_table_unsubscribe(&p->table);
			return bm_err_set(err, rc, "cannot start the sweep timer: %s",
					  bm_strerror(rc));
		}
	}
	return 0;
}

void anomaly_plugin_stop(void *state)
{
	struct anomaly_plugin *p = state;
	if (p->sweep)
		bm_timer_stop(p->sweep);
	p->sweep = NULL;
	as_table_unsubscribe(&p->table);
}

void anomaly_plugin_fini(void *state)
{
	struct anomaly_plugin *p = state;
	as_table_free(&p->table);
	bm_buf_free(&p->buf);
	free(p);
}

double anomaly_holdoff(struct anomaly_holdoff *h, int64_t holdoff, double score)
{
	if ((int64_t)h->age >= holdoff)
		h->peak = 0;
	if (score > h->peak) {
		h->peak = score;
		h->age = 0;
		return score;
	}
	if (h->age < UINT32_MAX)
		h->age++;
	return 0;
}

double robust_ewma_sigma(const struct robust_ewma *r)
{
	double sd = 1.2533 * r->mad;
	double floor = 1e-6 * fmax(1.0, fabs(r->mean));
	return sd > floor ? sd : floor;
}

double robust_ewma_update(struct robust_ewma *r, double v, double alpha, double clip)
{
	if (r->n == 0) {
		r->mean = v;
		r->mad = 0;
		r->n = 1;
		return 0;
	}
	double sd = robust_ewma_sigma(r);
	double dev = v - r->mean;
	double z = dev / sd;
	/* the first samples set the baseline as a plain average */
	double a = fmax(alpha, 1.0 / (double)(r->n + 1));
	if (r->n > 10)
		dev = fmax(-clip * sd, fmin(clip * sd, dev));
	r->mean += a * dev;
	r->mad += a * (fabs(dev) - r->mad);
	r->n++;
	return z;
}

/* -log10 of the two-sided normal tail of z. */
static double z_decades(double z)
{
	double x = fabs(z) / M_SQRT2;
	double p = erfc(x);
	if (p > 0)
		return -log10(p);
	/* erfc(x) ~ exp(-x^2) / (x sqrt(pi)) where it underflows */
	return (x * x + log(x * sqrt(M_PI))) / M_LN10;
}

double anomaly_z_score(double z)
{
	double s = z_decades(z) / ANOMALY_Z_DECADES;
	return s < 1 ? s : 1;
}

double anomaly_z_for_score(struct anomaly_zband *cache, double score)
{
	if (cache->score == score && cache->z > 0)
		return cache->z;
	double want = fmin(fmax(score, 0), 1) * ANOMALY_Z_DECADES;
	double lo = 0, hi = 40;
	for (int i = 0; i < 60; i++) {
		double mid = 0.5 * (lo + hi);
		if (z_decades(mid) < want)
			lo = mid;
		else
			hi = mid;
	}
	cache->score = score;
	cache->z = hi;
	return hi;
}

void anomaly_z_verdict(struct anomaly_verdict *out, struct anomaly_zband *cache, double threshold,
		       double z, double expected, double sigma)
{
	double zb = anomaly_z_for_score(cache, threshold);
	out->score = anomaly_z_score(z);
	out->expected = expected;
	out->lower = expected - zb * sigma;
	out->upper = expected + zb * sigma;
}
