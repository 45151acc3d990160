/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/anomaly_hw: anomaly scores from the residual of an additive
 * Holt-Winters forecast whose season length is detected by autocorrelation
 * (hw_model.c). Until a season is found, and for series without one, the
 * score is the robust EWMA z-score of anomaly_ewma.
 */
#include <math.h>

#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include "../common/anomaly_common.h"
#include "hw_model.h"

struct hw_conf {
	struct anomaly_common_conf common;
	struct hw_params hw;
	double fallback_alpha; /* EWMA weight while no season is known */
	int64_t warmup;
};

static const struct bm_option hw_options[] = {
	ANOMALY_COMMON_OPTIONS(struct hw_conf, common, "0.97", "75", "2000"),
	HW_OPTIONS(struct hw_conf, hw),
	BM_OPTION_BOUNDED("fallback_alpha", BM_OPT_DOUBLE, "0.01", struct hw_conf, fallback_alpha,
			  1e-6, 1, "weight of a new sample in the EWMA used while no season is known"),
	BM_OPTION_BOUNDED("warmup", BM_OPT_INT, "50", struct hw_conf, warmup, 1, 1000000,
			  "samples a series learns from before it is scored"),
	BM_OPTION_END,
};

struct hw_state {
	struct hw_model model;
	struct robust_ewma baseline; /* the score while no season is known */
	struct anomaly_zband band;
};

static int hw_state_init(void *state, const void *conf)
{
	const struct hw_conf *c = conf;
	struct hw_state *s = state;
	return hw_model_init(&s->model, &c->hw);
}

static void hw_state_release(void *state)
{
	struct hw_state *s = state;
	hw_model_release(&s->model);
}

static bool hw_score(void *state, const void *conf, double threshold, double v,
		     struct anomaly_verdict *out)
{
	struct hw_state *s = state;
	const struct hw_conf *c = conf;
	double yhat, sigma;
	bool seasonal = hw_model_predict(&s->model, &yhat);
	if (seasonal) {
		sigma = fmax(1.2533 * s->model.mad, 1e-9 * fmax(1, fabs(yhat)));
	} else {
		yhat = s->baseline.mean;
		sigma = robust_ewma_sigma(&s->baseline);
	}
	double z_ewma = robust_ewma_update(&s->baseline, v, c->fallback_alpha, c->hw.clip);
	hw_model_update(&s->model, &c->hw, v);
	if (!seasonal && (int64_t)s->baseline.n <= c->warmup)
		return false;
	double z = seasonal ? (v - yhat) / sigma : z_ewma;
	anomaly_z_verdict(out, &s->band, threshold, z, yhat, sigma);
	out->reason = seasonal ? (z > 0 ? "above the seasonal forecast" : "below the seasonal forecast")
			       : (z > 0 ? "above the robust moving average"
				        : "below the robust moving average");
	return true;
}

static const struct anomaly_model hw_model_ops = {
	.detector = "anomaly_hw",
	.state_size = sizeof(struct hw_state),
	.init = hw_state_init,
	.release = hw_state_release,
	.score = hw_score,
};

static int hw_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct hw_conf *c = conf;
	int rc = hw_params_check(&c->hw, err);
	if (rc)
		return rc;
	return anomaly_plugin_init(ctx, &hw_model_ops, conf, &c->common, state, err);
}

static const struct bm_plugin_ops hw_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = hw_init,
	.start = anomaly_plugin_start,
	.stop = anomaly_plugin_stop,
	.fini = anomaly_plugin_fini,
};

BM_PLUGIN_DEFINE(analyzer, anomaly_hw, BM_KIND_ANALYZER, .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "anomaly scores from Holt-Winters residuals, season found by autocorrelation",
		 .origin = "bearmon", .options = hw_options, .config_size = sizeof(struct hw_conf),
		 .ops = &hw_ops);
