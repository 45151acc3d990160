/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optimizer/resource against the fake bus and store: each rule fires on
 * its finding or forecast with the declared impact and the value computed
 * from what the agent or cgroup reports, only for agents that declared
 * the command, and stops when the finding resolves or the forecast no
 * longer crosses; the per-interval cap.
 */
#define _GNU_SOURCE
#include "bustest.h"
#include "dimtest.h"
#include "fakestore.h"
#include "plugintest.h"

#include "resource.c"

#define T0 1800000000000LL

struct fx {
	struct resource_conf conf;
	struct resource *r;
	struct bm_arena arena;
};

static void fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	bm__host_api = fs_api();
	fakehost_set_now(T0);
	pt_conf_defaults(resource_options, &f->conf);
	f->r = pt_init(&resource_ops, &f->conf);
	struct bm_err err = {0};
	assert_int_equal(resource_start(f->r, &err), 0);
	static const char *const caps[] = {"evict_cache", "set_pool_size", "set_thread_pool_size",
					   "set_batch_size"};
	dt_agent("planner-1", NULL, 100, caps, 4);
	dt_agent("mute-1", NULL, 100, NULL, 0);
	fs_point("agent_pool_size", "agent=planner-1", T0 - 1000, 100);
	fs_point("agent_thread_pool_size", "agent=planner-1", T0 - 1000, 8);
	fs_point("agent_batch_size", "agent=planner-1", T0 - 1000, 16);
	fs_point("agent_batch_size", "agent=mute-1", T0 - 1000, 16);
	fs_point("container_spec_memory_limit_bytes", "cgroup=/a", T0 - 1000, 1e9);
	fs_point("container_spec_cpu_quota", "cgroup=/b", T0 - 1000, 50000);
	fs_point("container_spec_cpu_period", "cgroup=/b", T0 - 1000, 100000);
}

static void fx_close(struct fx *f)
{
	resource_stop(f->r);
	resource_fini(f->r);
	pt_conf_release(resource_options, &f->conf);
	bm_arena_free(&f->arena);
	bt_reset();
}

static void forecast(const char *name, const char *label, const char *value, double threshold,
		     enum bm_cross cross, int64_t ttt)
{
	struct bm_label l = {label, value};
	struct bm_forecast_event e = {.series = {name, &l, label ? 1 : 0}, .ts_ms = T0,
				      .model = "linear", .confidence = 0.8, .has_threshold = true,
				      .threshold = threshold, .cross = cross,
				      .time_to_threshold_ms = ttt};
	DT_DELIVER(BM_TOPIC_FORECAST, bm_forecast_encode, &e);
}

static void finding(const char *id, const char *resource, enum bm_bottleneck_kind kind,
		    enum bm_severity sev, const struct bm_evidence *ev, size_t n_ev)
{
	struct bm_bottleneck_event e = {.ts_ms = T0, .id = id, .resource = resource, .kind = kind,
					.severity = sev, .impact = sev ? 0.8 : 0, .summary = id,
					.evidence = ev, .n_evidence = n_ev};
	DT_DELIVER(BM_TOPIC_BOTTLENECK, bm_bottleneck_encode, &e);
}

static void test_agent_memory_forecast(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f);
	forecast("bearmon_process_resident_memory_bytes", "agent", "planner-1", 2e9,
		 BM_CROSS_ABOVE, 600000);
	forecast("bearmon_process_resident_memory_bytes", "agent", "mute-1", 2e9, BM_CROSS_ABOVE,
		 600000);
	dim_round(&f.r->d, T0);
	struct bm_candidate_event c;
	assert_true(dt_cand(&f.arena, "evict:planner-1", &c));
	assert_string_equal(c.action.actuator, "agent_command");
	assert_string_equal(c.action.target, "planner-1");
	assert_string_equal(dt_param(&c, "command"), "evict_cache");
	assert_null(dt_param(&c, "value"));
	assert_int_equal(c.n_impact, 1);
	assert_string_equal(c.impact[0].metric,
			    "bearmon_process_resident_memory_bytes{agent=\"planner-1\"}");
	assert_float_equal(c.impact[0].rel_change, -0.3, 1e-12);
	assert_float_equal(c.impact[0].uncertainty, 0.2, 1e-12);
	assert_string_equal(c.optimizer, "test");
	assert_true(c.expires_ms > T0);
	assert_non_null(strstr(c.reason, "forecast to go above 2e+09 in 10.0 min"));
	assert_true(dt_cand(&f.arena, "pool:planner-1", &c));
	assert_string_equal(dt_param(&c, "value"), "75");
	assert_false(dt_cand(&f.arena, "evict:mute-1", &c)); /* declared no command */
	/* the crossing goes away: nothing more */
	bt_clear_events();
	forecast("bearmon_process_resident_memory_bytes", "agent", "planner-1", 2e9,
		 BM_CROSS_ABOVE, -1);
	forecast("bearmon_process_resident_memory_bytes", "agent", "mute-1", 2e9, BM_CROSS_ABOVE,
		 -1);
	dim_round(&f.r->d, T0 + 1000);
	assert_int_equal(bt_count(BM_TOPIC_CANDIDATE), 0);
	/* beyond the horizon: nothing */
	forecast("bearmon_process_resident_memory_bytes", "agent", "planner-1", 2e9,
		 BM_CROSS_ABOVE, 7200000);
	dim_round(&f.r->d, T0 + 2000);
	assert_int_equal(bt_count(BM_TOPIC_CANDIDATE), 0);
	fx_close(&f);
}

static void test_host_and_cgroup_memory(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f);
	forecast("node_memory_MemAvailable_bytes", NULL, NULL, 268435456, BM_CROSS_BELOW, 900000);
	forecast("container_memory_working_set_bytes", "cgroup", "/c", 5e8, BM_CROSS_ABOVE, 300000);
	dim_round(&f.r->d, T0);
	struct bm_candidate_event c;
	assert_true(dt_cand(&f.arena, "evict:planner-1", &c));
	assert_true(dt_cand(&f.arena, "contain:/c", &c));
	assert_string_equal(c.action.actuator, "cgroup");
	assert_string_equal(c.action.target, "/c");
	assert_string_equal(dt_param(&c, "memory.max"), "499998720"); /* 5e8 down to a page */
	assert_string_equal(dt_param(&c, "memory.high"), "449998848");
	assert_string_equal(c.dimension, "reliability");
	/* a cgroup whose limit is already below the threshold is left alone */
	bt_clear_events();
	forecast("container_memory_working_set_bytes", "cgroup", "/a", 2e9, BM_CROSS_ABOVE, 300000);
	dim_round(&f.r->d, T0 + 1000);
	assert_false(dt_cand(&f.arena, "contain:/a", &c));
	fx_close(&f);
}

static void test_findings(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f);
	struct bm_label top[] = {{"comm", "burn"}, {"pid", "4242"}};
	struct bm_label agent_proc[] = {{"agent", "planner-1"}, {"pid", "100"}};
	struct bm_evidence ev[] = {
		{.text = "agent process", .series = {"bearmon_process_cpu_seconds_total", agent_proc, 2},
		 .value = 1.9},
		{.text = "top process", .series = {"bearmon_process_cpu_seconds_total", top, 2},
		 .value = 1.8},
	};
	finding("cgroup:/a/utilisation", "cgroup:/a", BM_BN_UTILISATION, BM_SEV_WARNING, NULL, 0);
	finding("cgroup:/b/saturation", "cgroup:/b", BM_BN_SATURATION, BM_SEV_CRITICAL, NULL, 0);
	finding("cpu/saturation", "cpu", BM_BN_SATURATION, BM_SEV_CRITICAL, ev, 2);
	finding("gpu:0/saturation", "gpu:0", BM_BN_SATURATION, BM_SEV_WARNING, NULL, 0);
	finding("memory/saturation", "memory", BM_BN_SATURATION, BM_SEV_WARNING, NULL, 0);
	dim_round(&f.r->d, T0);
	struct bm_candidate_event c;
	assert_true(dt_cand(&f.arena, "memlimit:/a", &c));
	assert_string_equal(dt_param(&c, "memory.max"), "1250000896"); /* 1.25e9 up to a page */
	assert_true(dt_cand(&f.arena, "cpuquota:/b", &c));
	assert_string_equal(dt_param(&c, "cpu.max"), "75000 100000");
	assert_true(dt_cand(&f.arena, "threads:planner-1", &c));
	assert_string_equal(dt_param(&c, "command"), "set_thread_pool_size");
	assert_string_equal(dt_param(&c, "value"), "6");
	assert_string_equal(c.impact[0].metric,
			    "agent_task_duration_seconds{agent=\"planner-1\",quantile=\"0.95\"}");
	assert_true(dt_cand(&f.arena, "renice:4242", &c)); /* not the agent's process */
	assert_false(dt_cand(&f.arena, "renice:100", &c));
	assert_string_equal(c.action.actuator, "process");
	assert_string_equal(dt_param(&c, "nice"), "10");
	assert_true(dt_cand(&f.arena, "batch:planner-1", &c));
	assert_string_equal(dt_param(&c, "value"), "8");
	assert_false(dt_cand(&f.arena, "batch:mute-1", &c));
	assert_true(dt_cand(&f.arena, "evict:planner-1", &c));
	/* resolved findings stop their candidates */
	bt_clear_events();
	finding("cgroup:/a/utilisation", "cgroup:/a", BM_BN_UTILISATION, BM_SEV_INFO, NULL, 0);
	dim_round(&f.r->d, T0 + 1000);
	assert_false(dt_cand(&f.arena, "memlimit:/a", &c));
	assert_true(dt_cand(&f.arena, "cpuquota:/b", &c));
	fx_close(&f);
}

static void test_cap(void **s)
{
	(void)s;
	struct fx f;
	memset(&f, 0, sizeof(f));
	bm__host_api = fs_api();
	fakehost_set_now(T0);
	pt_conf_defaults(resource_options, &f.conf);
	f.conf.max_candidates = 1;
	f.r = pt_init(&resource_ops, &f.conf);
	struct bm_err err = {0};
	assert_int_equal(resource_start(f.r, &err), 0);
	static const char *const caps[] = {"evict_cache"};
	dt_agent("a-1", NULL, 100, caps, 1);
	dt_agent("a-2", NULL, 100, caps, 1);
	finding("memory/saturation", "memory", BM_BN_SATURATION, BM_SEV_WARNING, NULL, 0);
	dim_round(&f.r->d, T0);
	assert_int_equal(bt_count(BM_TOPIC_CANDIDATE), 1);
	assert_int_equal(f.r->d.n_capped, 1);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_memory_forecast),
		cmocka_unit_test(test_host_and_cgroup_memory),
		cmocka_unit_test(test_findings),
		cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
