/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Custom metrics of the agents' `metric` messages (io_int.h): each sample
 * checked once per series, admitted by the agent's cardinality limiter,
 * counters summed, and published from the I/O thread in batches that
 * borrow the series' own strings; stale markers when an agent leaves.
 */
#include <math.h>
#include <string.h>

#include <bearmon/bm_vec.h>

#include "io_int.h"

void samples_flush(struct io *io)
{
	if (!io->n_pend && !io->n_meta)
		return;
	struct bm_metric_batch b = {.meta = io->meta, .n_meta = io->n_meta, .samples = io->pend,
				    .n_samples = io->n_pend};
	int rc = bm_metrics_publish(io->ctx, &b);
	if (rc) {
		st_add(&io->st->publish_failures, 1);
		log_limited(io, LK_PUBLISH, BM_LOG_WARN,
			    "publishing %zu agent samples: %s (a block-policy subscriber is full)",
			    io->n_pend, bm_strerror(rc));
	}
	io->n_pend = io->n_meta = 0;
	io->pend_gen++;
}

/* Queue a sample of e. A later sample of the same series with the same
 * timestamp in the same batch replaces the earlier one: the store keeps
 * the first of equal timestamps, and a counter's last total must win. */
static int push_sample(struct io *io, struct cseries *e, int64_t ts, double v)
{
	if (e->pend_gen == io->pend_gen && io->pend[e->pend_idx].ts_ms == ts) {
		io->pend[e->pend_idx].value = v;
		return 0;
	}
	if (BM_VEC_RESERVE(io->pend, io->cap_pend, io->n_pend + 1))
		return BM_ENOMEM;
	e->pend_gen = io->pend_gen;
	e->pend_idx = (uint32_t)io->n_pend;
	io->pend[io->n_pend++] = (struct bm_sample){e->blob, e->labels, e->n_labels, ts, v};
	return 0;
}

void samples_retire(struct io *io, struct agent *a)
{
	samples_flush(io);
	for (size_t i = 0; i < a->series.n; i++) {
		if (io->n_pend >= FLUSH_SAMPLES)
			samples_flush(io);
		push_sample(io, &a->series.v[i], io->now, bm_stale_nan());
	}
	samples_flush(io);
	series_clear(&a->series);
	card_clear(&a->card);
}

static bool ident_has(const struct agent *a, const struct ap_str *k)
{
	for (uint32_t i = 0; i < a->n_ident; i++)
		if (strlen(a->ident[i].name) == k->n && !memcmp(a->ident[i].name, k->p, k->n))
			return true;
	return false;
}

/* Syntax of a sample whose series is new: Prometheus names, no label
 * named twice or clashing with the agent's own, no empty value (which
 * Prometheus reads as no label, so two series would be one). */
static bool sample_valid(const struct agent *a, const struct ap_sample *smp)
{
	if ((smp->kind != AP_COUNTER && smp->kind != AP_GAUGE) || smp->dup_label ||
	    !valid_metric_name(smp->name.p, smp->name.n))
		return false;
	for (uint32_t i = 0; i < smp->n_labels; i++) {
		const struct ap_kv *kv = &smp->labels[i];
		if (!kv->v.n || !valid_label_name(kv->k.p, kv->k.n) || ident_has(a, &kv->k))
			return false;
	}
	return true;
}

/* A new series of a: checked, admitted by its limiter, added. */
static struct cseries *new_series(struct io *io, struct agent *a, const struct ap_sample *smp,
				  uint64_t hash, uint64_t *invalid)
{
	if (!sample_valid(a, smp)) {
		(*invalid)++;
		return NULL;
	}
	struct cseries *e = series_add(&a->series, smp, hash, a->ident, a->n_ident);
	if (!e)
		return NULL;
	uint64_t ds = a->card.dropped_series, dl = a->card.dropped_labels;
	if (!card_admit(&a->card, e->blob, e->labels, e->n_labels)) {
		pthread_mutex_lock(&io->reg->lock);
		io->reg->dropped_series += a->card.dropped_series - ds;
		io->reg->dropped_labels += a->card.dropped_labels - dl;
		pthread_mutex_unlock(&io->reg->lock);
		series_drop_last(&a->series);
		return NULL;
	}
	if (!BM_VEC_RESERVE(io->meta, io->cap_meta, io->n_meta + 1))
		io->meta[io->n_meta++] = (struct bm_metric_meta){
			e->blob, e->kind == AP_COUNTER ? BM_METRIC_COUNTER : BM_METRIC_GAUGE, NULL,
			NULL};
	return e;
}

void samples_on_metric(struct io *io, struct agent *a, const struct ap_sample *v, uint32_t n)
{
	uint64_t ok = 0, invalid = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct ap_sample *smp = &v[i];
		uint64_t h = series_hash(smp);
		struct cseries *e = series_find(&a->series, smp, h);
		if (!e && !(e = new_series(io, a, smp, h, &invalid)))
			continue;
		double val = smp->value;
		if (smp->kind != e->kind) {
			invalid++;
			continue;
		}
		if (e->kind == AP_COUNTER) {
			if (!(val >= 0) || !isfinite(val)) {
				invalid++;
				continue;
			}
			e->total += val;
			val = e->total;
		} else if (bm_is_stale_nan(val)) {
			val = NAN; /* the marker is the host's to send */
		}
		if (push_sample(io, e, smp->ts_ms > 0 ? smp->ts_ms : io->now, val))
			break;
		ok++;
	}
	st_add(&io->st->samples, ok);
	if (invalid) {
		st_add(&io->st->samples_invalid, invalid);
		log_limited(io, LK_INVALID, BM_LOG_NOTICE,
			    "agent %s: %llu samples dropped (bad name or label, kind change, negative counter increment)",
			    a->id, (unsigned long long)invalid);
	}
	if (io->n_pend >= FLUSH_SAMPLES)
		samples_flush(io);
}
