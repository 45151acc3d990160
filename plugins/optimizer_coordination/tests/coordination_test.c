/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optimizer/coordination against the fake bus and store: an agent's
 * coordination finding brings batching (grown from its gauge, capped),
 * compression and a longer sync interval to the agents that declared
 * them; imbalanced agents of one type get the balancing policy, balanced
 * ones nothing.
 */
#define _GNU_SOURCE
#include "bustest.h"
#include "dimtest.h"
#include "fakestore.h"
#include "plugintest.h"

#include "coordination.c"

#define T0 1800000000000LL

static struct bm_arena arena;

struct fx {
	struct coord_conf conf;
	struct coord *c;
};

static void fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	bm__host_api = fs_api();
	fakehost_set_now(T0);
	pt_conf_defaults(coord_options, &f->conf);
	f->c = pt_init(&coord_ops, &f->conf);
	struct bm_err err = {0};
	assert_int_equal(coord_start(f->c, &err), 0);
}

static void fx_close(struct fx *f)
{
	coord_stop(f->c);
	coord_fini(f->c);
	pt_conf_release(coord_options, &f->conf);
	bm_arena_free(&arena);
	bt_reset();
}

static void test_coordination_finding(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f);
	static const char *const caps[] = {"set_message_batch", "set_compression",
					   "set_sync_interval"};
	dt_agent("planner-1", "planner", 100, caps, 3);
	dt_agent("planner-2", "planner", 100, caps, 1);
	fs_point("agent_message_batch_size", "agent=planner-1", T0 - 1000, 700);
	fs_point("agent_sync_interval_seconds", "agent=planner-1", T0 - 1000, 0.5);
	struct bm_bottleneck_event e = {.ts_ms = T0, .id = "agent:planner-1/coordination",
					.resource = "agent:planner-1", .kind = BM_BN_COORDINATION,
					.severity = BM_SEV_WARNING, .impact = 0.6,
					.summary = "planner-1 waits on its peers"};
	DT_DELIVER(BM_TOPIC_BOTTLENECK, bm_bottleneck_encode, &e);
	dim_round(&f.c->d, T0);
	struct bm_candidate_event c;
	assert_true(dt_cand(&arena, "batching:planner-1", &c));
	assert_string_equal(dt_param(&c, "value"), "1024"); /* 1400 capped at max_batch */
	assert_string_equal(c.impact[0].metric,
			    "agent_communication_overhead_ratio{agent=\"planner-1\"}");
	assert_true(dt_cand(&arena, "compression:planner-1", &c));
	assert_string_equal(dt_param(&c, "value"), "on");
	assert_true(dt_cand(&arena, "sync:planner-1", &c));
	assert_string_equal(dt_param(&c, "value"), "1");
	assert_string_equal(c.dimension, "scalability");
	assert_string_equal(c.reason, "planner-1 waits on its peers");
	assert_false(dt_cand(&arena, "batching:planner-2", &c)); /* no finding about it */
	fx_close(&f);
}

static void test_balancing(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f);
	static const char *const caps[] = {"set_load_balancing"};
	dt_agent("w-1", "worker", 100, caps, 1);
	dt_agent("w-2", "worker", 100, NULL, 0);
	dt_agent("r-1", "reader", 100, caps, 1);
	dt_agent("r-2", "reader", 100, NULL, 0);
	fs_point("agent_task_throughput", "agent=w-1", T0 - 1000, 9);
	fs_point("agent_task_throughput", "agent=w-2", T0 - 1000, 1);
	fs_point("agent_task_throughput", "agent=r-1", T0 - 1000, 5);
	fs_point("agent_task_throughput", "agent=r-2", T0 - 1000, 4);
	dim_round(&f.c->d, T0);
	struct bm_candidate_event c;
	assert_true(dt_cand(&arena, "balancing:w-1", &c));
	assert_string_equal(dt_param(&c, "value"), "least_loaded");
	assert_non_null(strstr(c.reason, "worker are imbalanced: 1 to 9 tasks/s"));
	assert_false(dt_cand(&arena, "balancing:w-2", &c)); /* takes no such command */
	assert_false(dt_cand(&arena, "balancing:r-1", &c)); /* 5 vs 4: balanced */
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coordination_finding),
		cmocka_unit_test(test_balancing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
