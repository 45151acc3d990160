/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/rwload: the remote write benchmark's load. Every collection
 * publishes `series` gauges bench_rw_value{group, host, idx, job} with
 * changing values, in batches of 1,000. Built by bench/remote-write/run
 * against the SDK headers alone, as an out-of-tree plugin would be.
 */
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1000

struct rl_conf {
	int64_t series;
};

static const struct bm_option rl_options[] = {
	BM_OPTION_BOUNDED("series", BM_OPT_INT, "10000", struct rl_conf, series, 1, 10000000,
			  "gauges published per collection"),
	BM_OPTION_END,
};

struct rl {
	struct bm_ctx *ctx;
	int64_t n;
	struct bm_label (*labels)[4];
	char (*text)[2][16]; /* group and idx values */
	struct bm_sample *samples;
	uint64_t tick;
};

/* The labels of series i (i < 10,000,000 by the option's bounds), as the
 * run script's exporter prints them too. */
static void series_labels(int64_t i, char group[16], char idx[16])
{
	snprintf(group, 16, "g%03d", (int)(i % 200));
	snprintf(idx, 16, "%d", (int)(i % 100000000));
}

static int rl_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct rl_conf *c = conf;
	struct rl *r = calloc(1, sizeof(*r));
	if (!r)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	r->ctx = ctx;
	r->n = c->series;
	r->labels = calloc((size_t)r->n, sizeof(*r->labels));
	r->text = calloc((size_t)r->n, sizeof(*r->text));
	r->samples = calloc(BATCH, sizeof(*r->samples));
	if (!r->labels || !r->text || !r->samples) {
		free(r->labels);
		free(r->text);
		free(r->samples);
		free(r);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	for (int64_t i = 0; i < r->n; i++) {
		series_labels(i, r->text[i][0], r->text[i][1]);
		r->labels[i][0] = (struct bm_label){"group", r->text[i][0]};
		r->labels[i][1] = (struct bm_label){"host", "bench-host-01.example.com"};
		r->labels[i][2] = (struct bm_label){"idx", r->text[i][1]};
		r->labels[i][3] = (struct bm_label){"job", "rwload"};
	}
	*state = r;
	return 0;
}

static int rl_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct rl *r = state;
	r->tick++;
	for (int64_t done = 0; done < r->n;) {
		size_t k = 0;
		for (; k < BATCH && done < r->n; k++, done++)
			r->samples[k] = (struct bm_sample){"bench_rw_value", r->labels[done], 4, now_ms,
							   (double)(done + (int64_t)r->tick)};
		struct bm_metric_batch b = {.samples = r->samples, .n_samples = k};
		int rc = bm_metrics_publish(r->ctx, &b);
		if (rc)
			return bm_err_set(err, rc, "publish: %s", bm_strerror(rc));
	}
	return 0;
}

static void rl_fini(void *state)
{
	struct rl *r = state;
	free(r->labels);
	free(r->text);
	free(r->samples);
	free(r);
}

static const struct bm_plugin_ops rl_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = rl_init,
	.collect = rl_collect,
	.fini = rl_fini,
};

BM_PLUGIN_DEFINE(collector, rwload, BM_KIND_COLLECTOR,
		 .version = "1.0.0", .license = "Apache-2.0",
		 .description = "remote write benchmark load: changing gauges",
		 .origin = "bearmon bench/remote-write",
		 .options = rl_options, .config_size = sizeof(struct rl_conf),
		 .ops = &rl_ops);
