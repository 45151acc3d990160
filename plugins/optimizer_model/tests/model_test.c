/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optimizer/model against the fake bus and store: an agent over its
 * latency target gets the techniques with their priors, as agent commands
 * where it declared them (the batch size halved from its gauge) and as
 * recommendations for people otherwise; a model server's inference
 * finding reaches the agents serving it; the techniques option.
 */
#define _GNU_SOURCE
#include "bustest.h"
#include "dimtest.h"
#include "fakestore.h"
#include "plugintest.h"

#include "model.c"

#define T0 1800000000000LL

static struct bm_arena arena;

struct fx {
	struct model_conf conf;
	struct model *m;
};

static void fx_open(struct fx *f, const char *only)
{
	memset(f, 0, sizeof(*f));
	bm__host_api = fs_api();
	fakehost_set_now(T0);
	pt_conf_defaults(model_options, &f->conf);
	f->conf.latency_target = 0.5;
	if (only)
		pt_set_list(&f->conf.techniques, only, NULL);
	f->m = pt_init(&model_ops, &f->conf);
	struct bm_err err = {0};
	assert_int_equal(model_start(f->m, &err), 0);
}

static void fx_close(struct fx *f)
{
	model_stop(f->m);
	model_fini(f->m);
	pt_conf_release(model_options, &f->conf);
	bm_arena_free(&arena);
	bt_reset();
}

static void test_latency_target(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f, NULL);
	static const char *const caps[] = {"set_batch_size", "set_quantization"};
	dt_agent("slow-1", "planner", 100, caps, 2);
	dt_agent("fast-1", "planner", 100, caps, 2);
	fs_point("agent_task_duration_seconds", "agent=slow-1,quantile=0.95", T0 - 1000, 0.9);
	fs_point("agent_task_duration_seconds", "agent=slow-1,quantile=0.99", T0 - 1000, 5.0);
	fs_point("agent_task_duration_seconds", "agent=fast-1,quantile=0.95", T0 - 1000, 0.1);
	fs_point("agent_task_duration_seconds", "agent=fast-1,quantile=0.99", T0 - 1000, 0.9);
	fs_point("agent_batch_size", "agent=slow-1", T0 - 1000, 32);
	dim_round(&f.m->d, T0);
	struct bm_candidate_event c;
	assert_true(dt_cand(&arena, "batch_size:slow-1", &c));
	assert_string_equal(c.action.actuator, "agent_command");
	assert_string_equal(dt_param(&c, "command"), "set_batch_size");
	assert_string_equal(dt_param(&c, "value"), "16");
	assert_string_equal(c.impact[0].metric,
			    "agent_task_duration_seconds{agent=\"slow-1\",quantile=\"0.95\"}");
	assert_float_equal(c.impact[0].rel_change, -0.2, 1e-12);
	assert_non_null(strstr(c.reason, "p95 task duration 0.9 s is over the target 0.5 s"));
	assert_true(dt_cand(&arena, "quantization:slow-1", &c));
	assert_string_equal(c.action.actuator, "agent_command");
	assert_string_equal(dt_param(&c, "value"), "int8");
	assert_int_equal(c.n_impact, 3); /* latency, memory, quality */
	assert_float_equal(c.impact[1].rel_change, -0.5, 1e-12);
	assert_string_equal(c.impact[2].metric, "agent_quality_accuracy{agent=\"slow-1\"}");
	assert_float_equal(c.impact[2].rel_change, -0.02, 1e-12);
	/* not declared: for people */
	assert_true(dt_cand(&arena, "pruning:agent:slow-1", &c));
	assert_string_equal(c.action.actuator, "manual");
	assert_string_equal(dt_param(&c, "technique"), "pruning");
	assert_string_equal(dt_param(&c, "setting"), "0.3");
	assert_true(dt_cand(&arena, "distillation:agent:slow-1", &c));
	assert_string_equal(c.action.actuator, "manual");
	/* fast-1's p95 is under the target (its p99 is not what counts) */
	assert_false(dt_cand(&arena, "batch_size:fast-1", &c));
	assert_false(dt_cand(&arena, "quantization:fast-1", &c));
	fx_close(&f);
}

static void test_inference_finding_and_techniques(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f, "batch_size");
	static const char *const caps[] = {"set_batch_size"};
	dt_agent("vllm-0", "llama", 100, caps, 1);
	dt_agent("other-0", "mistral", 100, caps, 1);
	fs_point("agent_batch_size", "agent=vllm-0", T0 - 1000, 8);
	fs_point("agent_batch_size", "agent=other-0", T0 - 1000, 8);
	struct bm_bottleneck_event e = {.ts_ms = T0, .id = "model:llama/inference",
					.resource = "model:llama", .kind = BM_BN_INFERENCE,
					.severity = BM_SEV_WARNING, .impact = 0.8,
					.summary = "llama saturated: KV cache 97%"};
	DT_DELIVER(BM_TOPIC_BOTTLENECK, bm_bottleneck_encode, &e);
	dim_round(&f.m->d, T0);
	struct bm_candidate_event c;
	assert_true(dt_cand(&arena, "batch_size:vllm-0", &c));
	assert_string_equal(dt_param(&c, "value"), "4");
	assert_string_equal(c.reason, "llama saturated: KV cache 97%");
	assert_false(dt_cand(&arena, "batch_size:other-0", &c)); /* serves another model */
	/* not among the techniques */
	assert_false(dt_cand(&arena, "quantization:agent:vllm-0", &c));
	fx_close(&f);
	struct model_conf bad;
	memset(&bad, 0, sizeof(bad));
	pt_conf_defaults(model_options, &bad);
	pt_set_list(&bad.techniques, "alchemy", NULL);
	pt_init_err(&model_ops, &bad, BM_EINVAL, "unknown \"alchemy\"", NULL);
	pt_conf_release(model_options, &bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_latency_target),
		cmocka_unit_test(test_inference_finding_and_techniques),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
