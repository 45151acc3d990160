/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/anomaly_ewma: the default anomaly detector. Per series a robust
 * exponentially weighted mean and mean absolute deviation; a sample's
 * score is the two-sided normal tail of its robust z-score (anomaly_z_score).
 * About 40 bytes of model state per series, O(1) per sample.
 */
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include "../common/anomaly_common.h"

struct ewma_conf {
	struct anomaly_common_conf common;
	double alpha;   /* weight of a new sample in the mean and deviation */
	double clip;    /* deviations beyond this many sigmas are clipped */
	int64_t warmup; /* samples learnt before the first score */
};

static const struct bm_option ewma_options[] = {
	ANOMALY_COMMON_OPTIONS(struct ewma_conf, common, "0.97", "75", "10000"),
	BM_OPTION_BOUNDED("alpha", BM_OPT_DOUBLE, "0.01", struct ewma_conf, alpha, 1e-6, 1,
			  "weight of a new sample in the mean and deviation (memory ~ 1/alpha samples)"),
	BM_OPTION_BOUNDED("clip", BM_OPT_DOUBLE, "4", struct ewma_conf, clip, 1, 1000,
			  "a sample moves the baseline at most as far as one this many sigmas away"),
	BM_OPTION_BOUNDED("warmup", BM_OPT_INT, "50", struct ewma_conf, warmup, 1, 1000000,
			  "samples a series learns from before it is scored"),
	BM_OPTION_END,
};

struct ewma_state {
	struct robust_ewma baseline;
	struct anomaly_zband band;
};

static bool ewma_score(void *state, const void *conf, double threshold, double v,
		       struct anomaly_verdict *out)
{
	struct ewma_state *s = state;
	const struct ewma_conf *c = conf;
	double mean = s->baseline.mean, sigma = robust_ewma_sigma(&s->baseline);
	double z = robust_ewma_update(&s->baseline, v, c->alpha, c->clip);
	if ((int64_t)s->baseline.n <= c->warmup)
		return false;
	anomaly_z_verdict(out, &s->band, threshold, z, mean, sigma);
	out->reason = z > 0 ? "above the robust moving average" : "below the robust moving average";
	return true;
}

static const struct anomaly_model ewma_model = {
	.detector = "anomaly_ewma",
	.state_size = sizeof(struct ewma_state),
	.score = ewma_score,
};

static int ewma_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct ewma_conf *c = conf;
	return anomaly_plugin_init(ctx, &ewma_model, conf, &c->common, state, err);
}

static const struct bm_plugin_ops ewma_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = ewma_init,
	.start = anomaly_plugin_start,
	.stop = anomaly_plugin_stop,
	.fini = anomaly_plugin_fini,
};

BM_PLUGIN_DEFINE(analyzer, anomaly_ewma, BM_KIND_ANALYZER, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "anomaly scores from a robust EWMA and MAD z-score per series",
		 .origin = "bearmon", .options = ewma_options,
		 .config_size = sizeof(struct ewma_conf), .ops = &ewma_ops);
