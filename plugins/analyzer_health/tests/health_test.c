/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of analyzer/health against the fake host and bus: scores move
 * down with bottleneck findings (by severity and impact) and back up when
 * they resolve or stop being re-published; unknown and stale components;
 * anomalies (capped), forecasts, failing and stalled collectors, agents that
 * are down; the overall score; the events and the HTTP route.
 */
#include "plugintest.h"

#include <bearmon/bm_batch.h>
#include <jansson.h>

#include "bustest.h"
#include "series_map.c"
#include "inputs.c"
#include "score.c"
#include "health.c"

#define T0  1700000000000LL
#define SEC 1000LL

struct fx {
	struct health_conf conf;
	struct health *h;
	struct bm_arena arena;
	struct bm_batch batch;
	struct bm_buf buf;
};

static void fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	bm__host_api = bt_api();
	pt_conf_defaults(health_options, &f->conf);
	f->h = pt_init(&health_ops, &f->conf);
	struct bm_err err = {0};
	assert_int_equal(health_ops.start(f->h, &err), 0);
}

static void fx_close(struct fx *f)
{
	health_ops.stop(f->h);
	pt_close(&health_ops, health_options, f->h, &f->conf);
	bt_reset();
	bm_arena_free(&f->arena);
	bm_batch_free(&f->batch);
	bm_buf_free(&f->buf);
}

/* Samples at t that show cpu, memory and disk data. */
static void host_data(struct fx *f, int64_t t)
{
	bm_batch_reset(&f->batch);
	f->batch.ts_ms = t;
	bm_batch_addl(&f->batch, "node_cpu_seconds_total", 10, "cpu", "0", "mode", "idle", NULL);
	bm_batch_addl(&f->batch, "node_memory_MemAvailable_bytes", 1e9, NULL);
	bm_batch_addl(&f->batch, "node_disk_io_time_seconds_total", 1, "device", "sda", NULL);
	bm_batch_addl(&f->batch, "http_requests_total", 1, NULL); /* no component */
	struct bm_metric_batch mb;
	bm_batch_view(&f->batch, &mb);
	bt_deliver_metrics(&mb);
}

static void finding(struct fx *f, const char *id, const char *resource, enum bm_severity sev,
		    double impact, int64_t t, const char *summary)
{
	struct bm_label dev = {"device", "sda"};
	struct bm_evidence ev = {.text = "x",
				 .series = {"node_disk_io_time_seconds_total", &dev, 1}};
	struct bm_bottleneck_event e = {.ts_ms = t,
					.since_ms = t,
					.id = id,
					.resource = resource,
					.severity = sev,
					.impact = impact,
					.summary = summary,
					.evidence = &ev,
					.n_evidence = 1};
	assert_int_equal(bm_bottleneck_encode(&e, &f->buf), 0);
	assert_int_equal(bt_deliver(BM_TOPIC_BOTTLENECK, f->buf.data, f->buf.len), 1);
}

static void tick(int64_t t)
{
	fakehost_set_now(t);
	bt_fire_timers();
}

/* The newest health event of component in *out; how many there were. */
static size_t health_of(struct fx *f, const char *component, struct bm_health_event *out)
{
	size_t n = 0;
	for (size_t i = 0; i < bt_count(BM_TOPIC_HEALTH); i++) {
		size_t len;
		const void *body = bt_event(BM_TOPIC_HEALTH, i, &len);
		struct bm_health_event e;
		assert_int_equal(bm_health_decode(body, len, &e, &f->arena), 0);
		if (strcmp(e.component, component) == 0) {
			n++;
			*out = e;
		}
	}
	return n;
}

/* component's current entry in the plugin's result */
static const struct hs_component *comp(struct fx *f, const char *name)
{
	if (strcmp(name, "overall") == 0)
		return &f->h->result.overall;
	for (size_t i = 0; i < f->h->result.n; i++)
		if (strcmp(f->h->result.v[i].name, name) == 0)
			return &f->h->result.v[i];
	fail_msg("no component %s", name);
	return NULL;
}

static void test_findings_move_scores(void **unused)
{
	struct fx f;
	struct bm_health_event e;
	fx_open(&f);
	host_data(&f, T0);
	tick(T0);
	assert_int_equal(health_of(&f, "cpu", &e), 1);
	assert_true(e.score == 100);
	assert_int_equal(e.status, BM_HEALTH_OK);
	assert_int_equal(health_of(&f, "overall", &e), 1);
	assert_true(e.score == 100);
	/* one event per fixed component and overall, every interval */
	assert_int_equal(bt_count(BM_TOPIC_HEALTH), HC_N_FIXED + 1);

	finding(&f, "cpu/saturation", "cpu", BM_SEV_CRITICAL, 1.0, T0 + SEC,
		"CPU saturated: PSI cpu some 70%");
	host_data(&f, T0 + 2 * SEC);
	tick(T0 + 2 * SEC);
	assert_int_equal(health_of(&f, "cpu", &e), 2);
	assert_true(fabs(e.score - 30) < 1e-9); /* 100 - 50 - 20 x 1.0 */
	assert_int_equal(e.status, BM_HEALTH_CRITICAL);
	assert_int_equal(e.n_reasons, 1);
	assert_string_equal(e.reasons[0].text, "CPU saturated: PSI cpu some 70%");
	assert_true(fabs(e.reasons[0].penalty - 70) < 1e-9);
	assert_string_equal(e.reasons[0].series.name, "node_disk_io_time_seconds_total");
	health_of(&f, "memory", &e);
	assert_true(e.score == 100);
	health_of(&f, "overall", &e);
	assert_true(fabs(e.score - 30) < 1e-9);
	assert_int_equal(e.status, BM_HEALTH_CRITICAL);
	assert_string_equal(e.reasons[0].text, "cpu: CPU saturated: PSI cpu some 70%");

	/* it eases to a warning: the score goes up, degraded */
	finding(&f, "cpu/saturation", "cpu", BM_SEV_WARNING, 0.5, T0 + 3 * SEC, "CPU saturated");
	tick(T0 + 4 * SEC);
	health_of(&f, "cpu", &e);
	assert_true(fabs(e.score - 65) < 1e-9); /* 100 - 25 - 20 x 0.5 */
	assert_int_equal(e.status, BM_HEALTH_DEGRADED);
	/* a second finding on the disk adds to the disk and spreads overall */
	finding(&f, "disk:sda/utilisation", "disk:sda", BM_SEV_WARNING, 0.0, T0 + 4 * SEC,
		"Disk busy");
	tick(T0 + 5 * SEC);
	health_of(&f, "disk", &e);
	assert_true(fabs(e.score - 75) < 1e-9);
	assert_int_equal(e.status, BM_HEALTH_DEGRADED);
	health_of(&f, "overall", &e);
	assert_true(fabs(e.score - 60) < 1e-9); /* lowest (65) - 5 for the disk */
	assert_int_equal(e.n_reasons, 2);
	assert_true(e.reasons[0].penalty >= e.reasons[1].penalty);

	/* resolution (severity info, impact 0) restores the score */
	finding(&f, "cpu/saturation", "cpu", BM_SEV_INFO, 0, T0 + 6 * SEC,
		"resolved: CPU saturated");
	tick(T0 + 6 * SEC);
	health_of(&f, "cpu", &e);
	assert_true(e.score == 100);
	assert_int_equal(e.status, BM_HEALTH_OK);
	fx_close(&f);
}

static void test_finding_ttl(void **unused)
{
	struct fx f;
	fx_open(&f);
	finding(&f, "memory/saturation", "memory", BM_SEV_CRITICAL, 0.5, T0, "Memory pressure");
	for (int64_t s = 0; s <= 120; s += 30) {
		host_data(&f, T0 + s * SEC);
		tick(T0 + s * SEC);
		assert_true(fabs(comp(&f, "memory")->score - 40) < 1e-9);
	}
	host_data(&f, T0 + 121 * SEC);
	tick(T0 + 121 * SEC); /* not re-published for finding_ttl (2 min) */
	assert_true(comp(&f, "memory")->score == 100);
	assert_int_equal(f.h->in.n_findings, 0);
	fx_close(&f);
}

static void test_unknown_and_stale(void **unused)
{
	struct fx f;
	fx_open(&f);
	host_data(&f, T0);
	tick(T0 + SEC);
	const struct hs_component *gpu = comp(&f, "gpu");
	assert_int_equal(gpu->status, BM_HEALTH_UNKNOWN);
	assert_true(isnan(gpu->score));
	assert_int_equal(comp(&f, "cpu")->status, BM_HEALTH_OK);
	/* no data for longer than stale_after (1 min): unknown, with the reason */
	tick(T0 + 61 * SEC);
	const struct hs_component *cpu = comp(&f, "cpu");
	assert_int_equal(cpu->status, BM_HEALTH_UNKNOWN);
	assert_string_equal(cpu->reasons[0].text, "no data for 61 s");
	assert_int_equal(comp(&f, "overall")->status, BM_HEALTH_UNKNOWN);
	/* a known problem on a component without data still counts */
	finding(&f, "cpu/saturation", "cpu", BM_SEV_WARNING, 0, T0 + 61 * SEC, "CPU saturated");
	tick(T0 + 62 * SEC);
	assert_int_equal(comp(&f, "cpu")->status, BM_HEALTH_DEGRADED);
	struct bm_health_event e;
	health_of(&f, "gpu", &e);
	assert_true(isnan(e.score));
	assert_int_equal(e.status, BM_HEALTH_UNKNOWN);
	fx_close(&f);
}

static void anomaly(struct fx *f, const char *series, double score, int64_t t)
{
	struct bm_anomaly_event a = {
	    .series = {series, NULL, 0}, .ts_ms = t, .score = score, .detector = "ewma_mad"};
	assert_int_equal(bm_anomaly_encode(&a, &f->buf), 0);
	assert_int_equal(bt_deliver(BM_TOPIC_ANOMALY, f->buf.data, f->buf.len), 1);
}

static void test_anomalies_capped(void **unused)
{
	struct fx f;
	fx_open(&f);
	host_data(&f, T0);
	anomaly(&f, "node_memory_Cached_bytes", 0.9, T0);
	anomaly(&f, "node_memory_Cached_bytes", 0.6, T0 + SEC);
	tick(T0 + 2 * SEC);
	const struct hs_component *mem = comp(&f, "memory");
	assert_true(fabs(mem->score - 95.5) < 1e-9); /* 5 x best score 0.9 */
	assert_string_equal(
	    mem->reasons[0].text,
	    "2 anomalies in node_memory_Cached_bytes in the last 10 min (best score 0.90)");
	assert_int_equal(mem->status, BM_HEALTH_OK);
	static const char *const more[] = {"node_memory_Dirty_bytes", "node_memory_Active_bytes",
					   "node_vmstat_pgfault", "node_memory_Slab_bytes"};
	for (int i = 0; i < 4; i++)
		anomaly(&f, more[i], 1.0, T0 + 2 * SEC);
	anomaly(&f, "some_unknown_metric", 1.0, T0 + 2 * SEC); /* no component */
	tick(T0 + 3 * SEC);
	assert_true(fabs(comp(&f, "memory")->score - 85) < 1e-9); /* capped at 15 */
	/* out of the window (10 min) they no longer count */
	host_data(&f, T0 + 700 * SEC);
	tick(T0 + 700 * SEC);
	assert_true(comp(&f, "memory")->score == 100);
	fx_close(&f);
}

static void self_metrics(struct fx *f, int64_t t, double success, double collections)
{
	bm_batch_reset(&f->batch);
	f->batch.ts_ms = t;
	bm_batch_addl(&f->batch, "bearmon_plugin_collect_success", success, "instance", "cpu",
		      "plugin", "collector/cpu", NULL);
	bm_batch_addl(&f->batch, "bearmon_plugin_collections_total", collections, "instance", "cpu",
		      "plugin", "collector/cpu", NULL);
	bm_batch_addl(&f->batch, "bearmon_plugin_collect_success", 1, "instance", "top", "plugin",
		      "collector/processes", NULL);
	bm_batch_addl(&f->batch, "bearmon_plugin_collections_total", t / 10000.0, "instance", "top",
		      "plugin", "collector/processes", NULL);
	bm_batch_addl(&f->batch, "bearmon_plugin_up", 0, "instance", "gpu", "kind", "collector",
		      "plugin", "collector/gpu", NULL); /* unsupported is not failing */
	struct bm_metric_batch mb;
	bm_batch_view(&f->batch, &mb);
	bt_deliver_metrics(&mb);
}

static void test_collectors(void **unused)
{
	struct fx f;
	fx_open(&f);
	for (int64_t s = 0; s <= 20; s += 10) {
		host_data(&f, T0 + s * SEC);
		self_metrics(&f, T0 + s * SEC, 1, (double)s);
	}
	tick(T0 + 20 * SEC);
	assert_true(comp(&f, "bearmon")->score == 100);
	assert_int_equal(comp(&f, "bearmon")->status, BM_HEALTH_OK);
	assert_int_equal(comp(&f, "gpu")->status, BM_HEALTH_UNKNOWN);
	/* the cpu collector fails: bearmon and cpu lose 20 each */
	self_metrics(&f, T0 + 30 * SEC, 0, 30);
	host_data(&f, T0 + 30 * SEC);
	tick(T0 + 30 * SEC);
	assert_true(fabs(comp(&f, "bearmon")->score - 80) < 1e-9);
	assert_true(fabs(comp(&f, "cpu")->score - 80) < 1e-9);
	assert_string_equal(comp(&f, "cpu")->reasons[0].text,
			    "collector cpu (collector/cpu) fails its collections");
	assert_string_equal(comp(&f, "cpu")->reasons[0].series, "bearmon_plugin_collect_success");
	/* it succeeds again but stops counting: stalled after stale_after */
	for (int64_t s = 40; s <= 100; s += 10) {
		self_metrics(&f, T0 + s * SEC, 1, 30);
		host_data(&f, T0 + s * SEC);
	}
	tick(T0 + 90 * SEC);
	assert_true(comp(&f, "cpu")->score == 100);
	tick(T0 + 100 * SEC);
	assert_true(fabs(comp(&f, "cpu")->score - 80) < 1e-9);
	assert_string_equal(comp(&f, "bearmon")->reasons[0].text,
			    "collector cpu (collector/cpu) has not collected for 70 s");
	fx_close(&f);
}

static void test_agents(void **unused)
{
	struct fx f;
	fx_open(&f);
	bm_batch_reset(&f.batch);
	f.batch.ts_ms = T0;
	bm_batch_addl(&f.batch, "agent_up", 0, "agent", "planner", "agent_type", "planner", NULL);
	bm_batch_addl(&f.batch, "agent_up", 1, "agent", "coder", "agent_type", "coder", NULL);
	bm_batch_addl(&f.batch, "agent_up", 1, "agent_type", "coder", NULL); /* per type */
	struct bm_metric_batch mb;
	bm_batch_view(&f.batch, &mb);
	bt_deliver_metrics(&mb);
	finding(&f, "agent:coder/coordination", "agent:coder", BM_SEV_WARNING, 0.5, T0,
		"Agent coordination slow");
	tick(T0 + SEC);
	const struct hs_component *planner = comp(&f, "agent:planner");
	assert_true(fabs(planner->score - 40) < 1e-9);
	assert_int_equal(planner->status, BM_HEALTH_CRITICAL);
	assert_string_equal(planner->reasons[0].text, "agent:planner is down (agent_up 0)");
	assert_true(fabs(comp(&f, "agent:coder")->score - 65) < 1e-9);
	const struct hs_component *agents = comp(&f, "agents");
	assert_true(fabs(agents->score - 5) < 1e-9); /* 100 - 60 - 35 */
	assert_int_equal(agents->n_reasons, 2);
	/* overall counts agents once, not each agent again */
	const struct hs_component *all = comp(&f, "overall");
	assert_true(fabs(all->score - 5) < 1e-9);
	assert_int_equal(all->n_reasons, 2);
	struct bm_health_event e;
	assert_int_equal(health_of(&f, "agent:planner", &e), 1);
	assert_int_equal(e.status, BM_HEALTH_CRITICAL);
	fx_close(&f);
}

static void forecast(struct fx *f, int64_t ttt_ms, int64_t t)
{
	struct bm_label l[] = {{"device", "/dev/vda1"}, {"mountpoint", "/"}};
	struct bm_forecast_event fc = {.series = {"node_filesystem_avail_bytes", l, 2},
				       .ts_ms = t,
				       .model = "linear",
				       .confidence = 0.8,
				       .has_threshold = true,
				       .threshold = 1e9,
				       .cross = BM_CROSS_BELOW,
				       .time_to_threshold_ms = ttt_ms};
	assert_int_equal(bm_forecast_encode(&fc, &f->buf), 0);
	assert_int_equal(bt_deliver(BM_TOPIC_FORECAST, f->buf.data, f->buf.len), 1);
}

static void test_forecasts(void **unused)
{
	struct fx f;
	fx_open(&f);
	host_data(&f, T0);
	forecast(&f, 40 * 60 * SEC, T0);
	tick(T0 + SEC);
	const struct hs_component *disk = comp(&f, "disk");
	assert_true(fabs(disk->score - 86.5) < 1e-9); /* 15 x (1 + 0.8) / 2 */
	assert_string_equal(disk->reasons[0].text,
			    "node_filesystem_avail_bytes forecast to go below 1e+09 in 40 min");
	/* beyond forecast_window (1 h) or no crossing: it no longer counts */
	forecast(&f, 2 * 3600 * SEC, T0 + 2 * SEC);
	tick(T0 + 3 * SEC);
	assert_true(comp(&f, "disk")->score == 100);
	forecast(&f, 30 * SEC, T0 + 4 * SEC);
	tick(T0 + 5 * SEC);
	assert_true(comp(&f, "disk")->score < 100);
	forecast(&f, -1, T0 + 6 * SEC);
	tick(T0 + 7 * SEC);
	assert_true(comp(&f, "disk")->score == 100);
	fx_close(&f);
}

static void test_route(void **unused)
{
	struct fx f;
	fx_open(&f);
	host_data(&f, T0);
	finding(&f, "disk:sda/saturation", "disk:sda", BM_SEV_CRITICAL, 0.25, T0, "Disk saturated");
	fakehost_set_now(T0 + SEC);
	char *body;
	assert_int_equal(bt_http("GET", "/api/bearmon/v1/health", NULL, NULL, &body), 200);
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	assert_non_null(j);
	json_t *overall = json_object_get(j, "overall");
	assert_string_equal(json_string_value(json_object_get(overall, "status")), "critical");
	assert_true(fabs(json_real_value(json_object_get(overall, "score")) - 45) < 1e-9);
	json_t *comps = json_object_get(j, "components");
	assert_int_equal(json_array_size(comps), HC_N_FIXED);
	json_t *gpu = json_array_get(comps, HC_GPU);
	assert_string_equal(json_string_value(json_object_get(gpu, "component")), "gpu");
	assert_true(json_is_null(json_object_get(gpu, "score")));
	assert_string_equal(json_string_value(json_object_get(gpu, "status")), "unknown");
	json_t *disk = json_array_get(comps, HC_DISK);
	json_t *reason = json_array_get(json_object_get(disk, "reasons"), 0);
	assert_string_equal(json_string_value(json_object_get(reason, "text")), "Disk saturated");
	assert_string_equal(json_string_value(json_object_get(reason, "series")),
			    "node_disk_io_time_seconds_total");
	json_decref(j);
	assert_int_equal(bt_http("DELETE", "/api/bearmon/v1/health", NULL, NULL, &body), 405);
	free(body);
	fx_close(&f);
}

static void test_bad_options(void **unused)
{
	struct health_conf conf;
	bm__host_api = bt_api();
	memset(&conf, 0, sizeof(conf));
	pt_conf_defaults(health_options, &conf);
	conf.critical_below = 90;
	pt_init_err(&health_ops, &conf, BM_EINVAL,
		    "critical_below (90) is above degraded_below (80)", NULL);
	pt_conf_release(health_options, &conf);
	fakehost_reset();
	bt_reset();
}

static void test_broken_events(void **unused)
{
	struct fx f;
	fx_open(&f);
	bt_deliver(BM_TOPIC_METRIC, "\xc1", 1);
	bt_deliver(BM_TOPIC_BOTTLENECK, "\xc1", 1);
	assert_int_equal(f.h->decode_errors, 2);
	/* a finding on a resource no component has is ignored */
	finding(&f, "x/saturation", "mainframe", BM_SEV_CRITICAL, 1, T0, "?");
	assert_int_equal(f.h->in.n_findings, 0);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_findings_move_scores),
	    cmocka_unit_test(test_finding_ttl),
	    cmocka_unit_test(test_unknown_and_stale),
	    cmocka_unit_test(test_anomalies_capped),
	    cmocka_unit_test(test_collectors),
	    cmocka_unit_test(test_agents),
	    cmocka_unit_test(test_forecasts),
	    cmocka_unit_test(test_route),
	    cmocka_unit_test(test_bad_options),
	    cmocka_unit_test(test_broken_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
