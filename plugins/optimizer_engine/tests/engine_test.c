/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optimizer/engine against the fake bus (analyzer_bottleneck's bustest), the
 * fake store (fakestore.c), and a cgroup v2 fixture tree for its actuator:
 * the shrinkage model, benefit and risk, the gate, the three modes, the
 * allow-list, a failing step rolling back the earlier ones, constraints,
 * combination and conflicts, strategies and conditions, the hold, the
 * watch window (kept and learned, or rolled back automatically), agent
 * commands, the state file across a restart, the plan route, VPA figures.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <regex.h>
#include <sys/stat.h>

#include "bustest.h"
#include "dimtest.h"
#include "fakestore.h"
#include "plugintest.h"

#include "engine.c"
#include "stats.h"

#define T0 1800000000000LL

static void install_api(void)
{
	bm__host_api = fs_api();
}

static void point(const char *name, const char *label, const char *value, int64_t ts, double v)
{
	char labels[128];
	snprintf(labels, sizeof(labels), "%s=%s", label, value);
	fs_point(name, labels, ts, v);
}

/* --- fixture ------------------------------------------------------------- */

struct fx {
	struct engine_conf conf;
	struct engine *e;
	char dir[256];  /* cgroup tree and state file */
	char state[300];
	struct bm_arena arena;
};

static void cg_file(struct fx *f, const char *cg, const char *file, const char *text)
{
	char dir[400];
	snprintf(dir, sizeof(dir), "%s/cg/%s", f->dir, cg);
	mkdir(dir, 0755);
	pt_write_file(dir, file, text);
}

/* The first line of cg's file is want. */
static void assert_cg(struct fx *f, const char *cg, const char *file, const char *want)
{
	char path[500], got[64];
	snprintf(path, sizeof(path), "%s/cg/%s/%s", f->dir, cg, file);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(got, (int)sizeof(got), fp));
	fclose(fp);
	got[strcspn(got, "\n")] = '\0';
	assert_string_equal(got, want);
}

static void add_group(struct bm_group_list *gl, size_t size, const void *item)
{
	gl->items = realloc(gl->items, (gl->n + 1) * size);
	memcpy((char *)gl->items + gl->n * size, item, size);
	gl->n++;
}

/* Defaults, a cgroup fixture tree (a, b with memory.high max and cpu.weight
 * 100; broken whose cpu.weight cannot be written), one objective:
 * minimise container_memory_working_set_bytes. */
static void fx_conf(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	install_api();
	fakehost_set_now(T0);
	pt_conf_defaults(engine_options, &f->conf);
	pt_mkdtemp(f->dir, sizeof(f->dir), "bm-eng-");
	char cg[300], broken[400];
	snprintf(cg, sizeof(cg), "%s/cg", f->dir);
	mkdir(cg, 0755);
	pt_write_file(cg, "cgroup.controllers", "cpu memory\n");
	cg_file(f, "a", "memory.high", "max\n");
	cg_file(f, "a", "cpu.weight", "100\n");
	cg_file(f, "b", "memory.high", "max\n");
	cg_file(f, "broken", "memory.high", "max\n");
	snprintf(broken, sizeof(broken), "%s/cg/broken/cpu.weight", f->dir);
	mkdir(broken, 0755);
	pt_set_str(&f->conf.cgroup_root, cg);
	snprintf(f->state, sizeof(f->state), "%s/state.json", f->dir);
	pt_set_str(&f->conf.state_file, f->state);
	struct objective_conf o = {strdup("memory"), strdup("container_memory_working_set_bytes"),
				   GOAL_MINIMIZE, 1};
	add_group(&f->conf.objectives, sizeof(o), &o);
	f->conf.vpa = false;
	f->conf.watch_ms = 60000;
	f->conf.settle_ms = 1000;
	f->conf.baseline_ms = 60000;
}

static void fx_allow(struct fx *f, const char *actuator)
{
	struct bm_strlist *l = &f->conf.actuators;
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = strdup(actuator);
}

static void fx_start(struct fx *f)
{
	f->e = pt_init(&engine_ops, &f->conf);
	struct bm_err err = {0};
	assert_int_equal(engine_start(f->e, &err), 0);
}

/* fx_conf in mode, allowing actuator (NULL: none), started. */
static void fx_open(struct fx *f, enum eng_mode mode, const char *actuator)
{
	fx_conf(f);
	f->conf.mode = mode;
	if (actuator)
		fx_allow(f, actuator);
	fx_start(f);
}

static void fx_close(struct fx *f, bool keep_dir)
{
	engine_stop(f->e);
	engine_fini(f->e);
	f->e = NULL;
	pt_conf_release(engine_options, &f->conf);
	bm_arena_free(&f->arena);
	bt_reset();
	if (!keep_dir)
		pt_rm_tree(f->dir);
}

/* Publish a candidate: a cgroup memory.high change on cg with one impact. */
static void candidate(const char *id, const char *cg, const char *key, const char *value,
		      const char *metric, double rel, double sd, double risk)
{
	struct bm_kv params[] = {{key, value}};
	struct bm_impact impact = {metric, rel, sd};
	struct bm_candidate_event c = {
		.ts_ms = bm_now_ms(NULL), .expires_ms = bm_now_ms(NULL) + 3600000, .id = id,
		.optimizer = "resource", .dimension =
		"resource_efficiency", .action = {"cgroup", cg, params, 1}, .impact = &impact,
		.n_impact = 1, .benefit = 0.8, .risk = risk, .confidence = 0.9,
		.reason = "test candidate",
	};
	DT_DELIVER(BM_TOPIC_CANDIDATE, bm_candidate_encode, &c);
}

static const char *ws(const char *cg)
{
	static char buf[128];
	snprintf(buf, sizeof(buf), "container_memory_working_set_bytes{cgroup=\"%s\"}", cg);
	return buf;
}

/* The usual candidate c1 (memory.high of /a down to 1 MiB: -30% +- 20% of
 * its working set, declared risk 0.1), then a cycle at T0. */
static void offer_c1(struct fx *f)
{
	candidate("c1", "/a", "memory.high", "1048576", ws("/a"), -0.3, 0.2, 0.1);
	eng_cycle(f->e, T0);
}

/* The last action event of that id, decoded into f->arena. */
static bool last_action(struct fx *f, const char *id, struct bm_action_event *out)
{
	bool found = false;
	*out = (struct bm_action_event){0};
	for (size_t i = 0; i < bt_count(BM_TOPIC_ACTION); i++) {
		size_t len;
		const void *body = bt_event(BM_TOPIC_ACTION, i, &len);
		struct bm_action_event ev;
		assert_int_equal(bm_action_decode(body, len, &ev, &f->arena), 0);
		if (!id || strcmp(ev.id, id) == 0) {
			*out = ev;
			found = true;
		}
	}
	return found;
}

static struct bm_recommendation_event last_recommendation(struct fx *f)
{
	struct bm_recommendation_event r;
	size_t n = bt_count(BM_TOPIC_RECOMMENDATION), len;
	assert_true(n > 0);
	const void *body = bt_event(BM_TOPIC_RECOMMENDATION, n - 1, &len);
	assert_int_equal(bm_recommendation_decode(body, len, &r, &f->arena), 0);
	return r;
}

/* --- the simulation -------------------------------------------------------- */

static void test_shrinkage(void **s)
{
	(void)s;
	struct learn l = {0};
	struct impact declared = {"m{x=\"1\"}", -0.3, 0.2};
	struct posterior p;
	learn_posterior(&l, "k", &declared, 0.05, &p);
	assert_float_equal(p.mean, -0.3, 1e-12);
	assert_float_equal(p.sd, 0.2, 1e-12);
	assert_int_equal(p.n_obs, 0);
	/* one measurement of -0.6, as uncertain as the prior: halfway, sd / sqrt 2 */
	assert_int_equal(learn_effect_add(&l, "k", "m", -0.6), 0);
	learn_posterior(&l, "k", &declared, 0.05, &p);
	assert_float_equal(p.mean, -0.45, 1e-12);
	assert_float_equal(p.sd, 0.2 / sqrt(2), 1e-12);
	/* more, consistent measurements: the evidence dominates, sd shrinks */
	for (int i = 0; i < 9; i++)
		learn_effect_add(&l, "k", "m", i % 2 ? -0.62 : -0.58);
	learn_posterior(&l, "k", &declared, 0.05, &p);
	assert_int_equal(p.n_obs, 10);
	double var = fmax(l.e[0].m2 / 9, 0.05 * 0.05);
	double prec = 1 / 0.04 + 10 / var;
	assert_float_equal(p.mean, (-0.3 / 0.04 + 10 * l.e[0].mean / var) / prec, 1e-12);
	assert_true(p.mean < -0.59 && p.sd < 0.02);
	/* another metric or kind has no evidence */
	learn_posterior(&l, "other", &declared, 0.05, &p);
	assert_float_equal(p.mean, -0.3, 1e-12);
	char kind[128];
	struct kvl params = {0};
	kvl_set(&params, "memory.high", "1");
	kvl_set(&params, "cpu.weight", "1");
	action_kind("cgroup", &params, kind, sizeof(kind));
	assert_string_equal(kind, "cgroup:cpu.weight,memory.high");
	kvl_free(&params);
	kvl_set(&params, "command", "evict_cache");
	action_kind("agent_command", &params, kind, sizeof(kind));
	assert_string_equal(kind, "agent_command:evict_cache");
	kvl_free(&params);
	learn_free(&l);
}

static void test_benefit_risk_gate(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f, MODE_RECOMMEND, NULL);
	/* -30% +- 20% on an objective: full benefit (0.3 / 0.25 > 1) */
	offer_c1(&f);
	struct cand *c = pool_find(&f.e->pool, "resource", "c1");
	assert_non_null(c);
	assert_true(c->ev.eligible);
	assert_float_equal(c->ev.benefit, 1.0, 1e-12);
	double p_harm = 1 - stats_norm_sf((-0.05 - 0.3) / 0.2);
	assert_float_equal(c->ev.post[0].p_harm, p_harm, 1e-12);
	assert_float_equal(c->ev.risk, 1 - 0.9 * (1 - p_harm), 1e-12);
	struct bm_recommendation_event r = last_recommendation(&f);
	assert_true(r.approved);
	assert_int_equal(r.n_steps, 1);
	assert_int_equal(r.mode, BM_MODE_RECOMMEND);
	assert_non_null(strstr(r.why, "approved: risk"));
	assert_non_null(strstr(r.why, "serves objective memory"));
	assert_non_null(strstr(r.why, "no past execution yet"));
	/* recommend mode: nothing changed, no action event */
	assert_cg(&f, "a", "memory.high", "max");
	assert_int_equal(bt_count(BM_TOPIC_ACTION), 0);

	/* a risky one (declared 0.5) and a small gain (-2%) are held back */
	candidate("c1", "/a", "memory.high", "1048576", ws("/a"), -0.3, 0.2, 0.5);
	eng_cycle(f.e, T0 + 1000);
	r = last_recommendation(&f);
	assert_false(r.approved);
	assert_non_null(strstr(r.why, "held back: risk"));
	candidate("c1", "/a", "memory.high", "1048576", ws("/a"), -0.02, 0.01, 0.0);
	eng_cycle(f.e, T0 + 2000);
	assert_false(plan_current(f.e)->approved);
	assert_non_null(strstr(plan_current(f.e)->gate, "held back: benefit"));
	/* an unchanged plan keeps its id and is not published again */
	size_t n = bt_count(BM_TOPIC_RECOMMENDATION);
	char id[64];
	snprintf(id, sizeof(id), "%s", plan_current(f.e)->id);
	eng_cycle(f.e, T0 + 3000);
	assert_int_equal(bt_count(BM_TOPIC_RECOMMENDATION), n);
	assert_string_equal(plan_current(f.e)->id, id);
	fx_close(&f, false);
}

/* --- modes and safety -------------------------------------------------------- */

static void test_dry_run(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f, MODE_DRY_RUN, "cgroup");
	offer_c1(&f);
	struct bm_action_event ev;
	assert_true(last_action(&f, NULL, &ev));
	assert_true(ev.dry_run);
	assert_int_equal(ev.state, BM_ACTION_PLANNED);
	assert_non_null(strstr(ev.reason, "would write 1048576"));
	assert_non_null(strstr(fakehost_last_log(BM_LOG_NOTICE), "dry-run"));
	assert_cg(&f, "a", "memory.high", "max");
	/* logged once per plan, not every cycle */
	size_t n = bt_count(BM_TOPIC_ACTION);
	eng_cycle(f.e, T0 + 1000);
	assert_int_equal(bt_count(BM_TOPIC_ACTION), n);
	fx_close(&f, false);
}

static void test_execute_and_not_allowed(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f, MODE_EXECUTE, NULL); /* no actuator allowed */
	offer_c1(&f);
	assert_cg(&f, "a", "memory.high", "max");
	assert_int_equal(bt_count(BM_TOPIC_ACTION), 0);
	assert_int_equal(f.e->n_refused, 1);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_NOTICE), "not allowed in config"));
	fx_close(&f, false);

	fx_open(&f, MODE_EXECUTE, "cgroup");
	offer_c1(&f);
	assert_cg(&f, "a", "memory.high", "1048576");
	struct bm_action_event ev;
	assert_true(last_action(&f, NULL, &ev));
	assert_int_equal(ev.state, BM_ACTION_EXECUTED);
	assert_string_equal(ev.approved_by, "gate:auto");
	assert_string_equal(kv_get(ev.before, ev.n_before, "memory.high"), "max");
	assert_string_equal(kv_get(ev.after, ev.n_after, "memory.high"), "1048576");
	/* the target is held: the same candidate again is not planned */
	candidate("c2", "/a", "memory.high", "2097152", ws("/a"), -0.3, 0.2, 0.1);
	eng_cycle(f.e, T0 + 1000);
	struct cand *c = pool_find(&f.e->pool, "resource", "c2");
	assert_false(c->ev.eligible);
	assert_non_null(strstr(c->ev.why_not, "held"));
	assert_non_null(strstr(c->ev.why_not, "cgroup:/a"));
	/* the executed candidate left the pool */
	assert_null(pool_find(&f.e->pool, "resource", "c1"));
	fx_close(&f, false);
}

static void test_failing_step_rolls_back(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f, MODE_EXECUTE, "cgroup");
	/* the better one works, the second one's file cannot be written */
	candidate("good", "/a", "memory.high", "1048576", ws("/a"), -0.4, 0.1, 0.05);
	candidate("bad", "/broken", "cpu.weight", "50", ws("/broken"), -0.3, 0.1, 0.05);
	eng_cycle(f.e, T0);
	struct plan *p = plan_current(f.e);
	assert_int_equal(p->n_steps, 2);
	struct bm_action_event ev;
	assert_true(last_action(&f, p->steps[1]->id, &ev));
	assert_int_equal(ev.state, BM_ACTION_FAILED);
	assert_non_null(ev.error);
	assert_true(last_action(&f, p->steps[0]->id, &ev));
	assert_int_equal(ev.state, BM_ACTION_ROLLED_BACK);
	assert_non_null(strstr(ev.reason, "step 2"));
	assert_non_null(strstr(ev.reason, "earlier steps are rolled back"));
	assert_cg(&f, "a", "memory.high", "max");
	assert_null(f.e->running);
	fx_close(&f, false);
}

static void test_constraints(void **s)
{
	(void)s;
	struct fx f;
	fx_conf(&f);
	struct constraint_conf floor = {strdup("memory floor"), NULL, strdup("memory.high"), 2e6, NAN};
	struct constraint_conf lat = {strdup("p95 latency"),
				      strdup("agent_task_duration_seconds{quantile=\"0.95\"}"), NULL,
				      NAN, 0.2};
	add_group(&f.conf.constraints, sizeof(floor), &floor);
	add_group(&f.conf.constraints, sizeof(lat), &lat);
	fx_start(&f);
	/* the best candidate breaks the memory floor: the plan takes the other */
	candidate("low", "/a", "memory.high", "1048576", ws("/a"), -0.5, 0.1, 0.05);
	candidate("ok", "/b", "memory.high", "4194304", ws("/b"), -0.3, 0.1, 0.05);
	eng_cycle(f.e, T0);
	struct cand *c = pool_find(&f.e->pool, "resource", "low");
	assert_false(c->ev.eligible);
	assert_non_null(strstr(c->ev.why_not, "violates constraint memory floor"));
	struct plan *p = plan_current(f.e);
	assert_int_equal(p->n_steps, 1);
	assert_string_equal(p->steps[0]->candidate_id, "ok");

	/* latency now 0.15 s: +20% +- 5% may reach 0.198 at 95%: fine; +30% is not */
	for (int i = 0; i < 5; i++)
		point("agent_task_duration_seconds", "quantile", "0.95", T0 - i * 1000, 0.15);
	candidate("lat-ok", "/b", "cpu.weight", "50",
		  "agent_task_duration_seconds{quantile=\"0.95\"}", 0.2, 0.01, 0.0);
	candidate("lat-bad", "/a", "cpu.weight", "50",
		  "agent_task_duration_seconds{quantile=\"0.95\"}", 0.3, 0.01, 0.0);
	candidate("lat-unknown", "/a", "cpu.weight", "60",
		  "agent_task_duration_seconds{quantile=\"0.99\"}", 0.1, 0.01, 0.0);
	eng_cycle(f.e, T0 + 1000);
	assert_true(pool_find(&f.e->pool, "resource", "lat-ok")->ev.eligible);
	c = pool_find(&f.e->pool, "resource", "lat-bad");
	assert_false(c->ev.eligible);
	assert_non_null(strstr(c->ev.why_not, "violates constraint p95 latency"));
	c = pool_find(&f.e->pool, "resource", "lat-unknown");
	assert_false(c->ev.eligible);
	assert_non_null(strstr(c->ev.why_not, "cannot be verified"));
	/* no plan ever holds a step that breaks a constraint */
	for (size_t i = 0; i < f.e->n_plans; i++)
		for (size_t k = 0; k < f.e->plans[i]->n_steps; k++) {
			const char *id = f.e->plans[i]->steps[k]->candidate_id;
			assert_true(strcmp(id, "low") && strcmp(id, "lat-bad") &&
				    strcmp(id, "lat-unknown"));
		}
	fx_close(&f, false);
}

static void test_combination(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f, MODE_RECOMMEND, NULL);
	/* same cgroup, same key: one step; another cgroup: combined */
	candidate("a1", "/a", "memory.high", "1048576", ws("/a"), -0.4, 0.1, 0.05);
	candidate("a2", "/a", "memory.high", "2097152", ws("/a"), -0.3, 0.1, 0.05);
	candidate("b1", "/b", "memory.high", "2097152", ws("/b"), -0.3, 0.1, 0.05);
	eng_cycle(f.e, T0);
	struct plan *p = plan_current(f.e);
	assert_int_equal(p->n_steps, 2);
	assert_string_equal(p->steps[0]->candidate_id, "a1");
	assert_string_equal(p->steps[1]->candidate_id, "b1");
	/* combined: benefit and risk as independent chances */
	struct cand *a1 = pool_find(&f.e->pool, "resource", "a1");
	struct cand *b1 = pool_find(&f.e->pool, "resource", "b1");
	assert_float_equal(p->risk, 1 - (1 - a1->ev.risk) * (1 - b1->ev.risk), 1e-12);
	assert_float_equal(p->score, a1->ev.score + b1->ev.score, 1e-12);
	assert_int_equal(p->n_impacts, 2);
	/* opposite pushes on one metric conflict */
	candidate("b2", "/a", "cpu.weight", "200", ws("/b"), 0.2, 0.1, 0.0);
	eng_cycle(f.e, T0 + 1000);
	p = plan_current(f.e);
	for (size_t i = 0; i < p->n_steps; i++)
		assert_string_not_equal(p->steps[i]->candidate_id, "b2");
	fx_close(&f, false);
}

static void deliver_forecast(const char *cg, int64_t ts, int64_t ttt)
{
	struct bm_label l = {"cgroup", cg};
	struct bm_forecast_event fc = {
		.series = {"container_memory_working_set_bytes", &l, 1}, .ts_ms = ts,
		.model = "linear", .horizon_ms = 3600000, .confidence = 0.9, .has_threshold = true,
		.threshold = 1e9, .time_to_threshold_ms = ttt,
	};
	DT_DELIVER(BM_TOPIC_FORECAST, bm_forecast_encode, &fc);
}

static void test_strategies(void **s)
{
	(void)s;
	struct fx f;
	fx_conf(&f);
	f.conf.strategy = ST_REACTIVE;
	fx_start(&f);
	candidate("c1", "/a", "memory.high", "1048576", ws("/a"), -0.3, 0.1, 0.05);
	eng_cycle(f.e, T0);
	struct cand *c = pool_find(&f.e->pool, "resource", "c1");
	assert_false(c->ev.eligible);
	assert_non_null(strstr(c->ev.why_not, "strategy reactive"));
	/* a forecast is not enough for reactive; a bottleneck on the cgroup is */
	deliver_forecast("/a", T0, 600000);
	eng_cycle(f.e, T0 + 1000);
	assert_false(pool_find(&f.e->pool, "resource", "c1")->ev.eligible);
	struct bm_bottleneck_event bn = {.ts_ms = T0, .id = "cgroup:/a/utilisation",
					 .resource = "cgroup:/a", .severity = BM_SEV_WARNING,
					 .impact = 0.7, .summary = "cgroup /a near its memory limit"};
	DT_DELIVER(BM_TOPIC_BOTTLENECK, bm_bottleneck_encode, &bn);
	eng_cycle(f.e, T0 + 2000);
	c = pool_find(&f.e->pool, "resource", "c1");
	assert_true(c->ev.eligible);
	assert_true(c->ev.trigger & COND_PRESENT);
	assert_non_null(strstr(plan_current(f.e)->why, "near its memory limit"));
	/* resolved: severity info, impact 0 */
	bn.severity = BM_SEV_INFO;
	bn.impact = 0;
	DT_DELIVER(BM_TOPIC_BOTTLENECK, bm_bottleneck_encode, &bn);
	eng_cycle(f.e, T0 + 3000);
	assert_false(pool_find(&f.e->pool, "resource", "c1")->ev.eligible);
	fx_close(&f, false);

	/* proactive: the forecast lets it in, with urgency for a near crossing */
	fx_conf(&f);
	f.conf.strategy = ST_PROACTIVE;
	fx_start(&f);
	candidate("c1", "/a", "memory.high", "1048576", ws("/a"), -0.3, 0.1, 0.05);
	deliver_forecast("/a", T0, 600000);
	eng_cycle(f.e, T0);
	c = pool_find(&f.e->pool, "resource", "c1");
	assert_true(c->ev.eligible);
	assert_true(c->ev.trigger & COND_PREDICTED);
	assert_float_equal(c->ev.urgency, 1 - 600000.0 / 3600000.0, 1e-9);
	assert_non_null(strstr(plan_current(f.e)->why, "to go above 1e+09 in 10.0 min"));
	/* the crossing went away */
	deliver_forecast("/a", T0 + 1000, -1);
	eng_cycle(f.e, T0 + 2000);
	assert_false(pool_find(&f.e->pool, "resource", "c1")->ev.eligible);
	fx_close(&f, false);
}

/* --- the watch window ---------------------------------------------------------- */

static void memory_points(const char *cg, int64_t from, int64_t to, double v)
{
	for (int64_t t = from; t <= to; t += 5000)
		point("container_memory_working_set_bytes", "cgroup", cg, t, v);
}

static void test_watch_keep_and_learn(void **s)
{
	(void)s;
	struct fx f;
	fx_conf(&f);
	f.conf.mode = MODE_EXECUTE;
	f.conf.hold_ms = 1000;
	fx_allow(&f, "cgroup");
	fx_start(&f);
	memory_points("/a", T0 - 60000, T0, 1000);
	offer_c1(&f);
	struct action *a = plan_current(f.e)->steps[0];
	char id1[96];
	snprintf(id1, sizeof(id1), "%s", a->id);
	assert_int_equal(a->state, BM_ACTION_EXECUTED);
	assert_true(a->watching);
	assert_float_equal(a->baseline[0], 1000, 1e-9);
	/* memory fell by 40% */
	memory_points("/a", T0 + 5000, T0 + 60000, 600);
	fakehost_set_now(T0 + 30000);
	exec_tick(f.e, T0 + 30000);
	assert_true(a->watching); /* not yet due */
	fakehost_set_now(T0 + 60000);
	exec_tick(f.e, T0 + 60000);
	assert_false(a->watching);
	assert_int_equal(a->state, BM_ACTION_EXECUTED);
	assert_true(a->have_measured[0]);
	assert_float_equal(a->measured[0], -0.4, 1e-9);
	struct bm_action_event ev;
	assert_true(last_action(&f, a->id, &ev));
	assert_int_equal(ev.n_measured, 1);
	assert_float_equal(ev.measured[0].rel_change, -0.4, 1e-9);
	assert_non_null(strstr(ev.reason, "kept"));
	const struct effect *eff = learn_effect(&f.e->learn, "cgroup:memory.high",
						"container_memory_working_set_bytes");
	assert_non_null(eff);
	assert_int_equal(eff->n, 1);

	/* the next simulation of that kind uses what was measured */
	fakehost_set_now(T0 + 70000);
	candidate("c2", "/b", "memory.high", "1048576", ws("/b"), -0.3, 0.2, 0.1);
	eng_cycle(f.e, T0 + 70000);
	struct action *a2 = plan_current(f.e)->steps[0];
	assert_string_equal(a2->candidate_id, "c2");
	assert_float_equal(a2->impacts[0].rel, -0.35, 1e-9); /* (-0.3 + -0.4) / 2 */
	assert_float_equal(a2->impacts[0].sd, 0.2 / sqrt(2), 1e-9);
	assert_non_null(strstr(plan_current(f.e)->why, "over 1 past execution"));
	fx_close(&f, true);

	/* after a restart the evidence and the executed actions are still there,
	 * and an action executed before it can be rolled back exactly */
	struct fx g = f;
	install_api();
	fakehost_set_now(T0 + 80000);
	memset(&g.conf, 0, sizeof(g.conf));
	pt_conf_defaults(engine_options, &g.conf);
	pt_set_str(&g.conf.state_file, f.state);
	char cg[300], why[256];
	snprintf(cg, sizeof(cg), "%s/cg", f.dir);
	pt_set_str(&g.conf.cgroup_root, cg);
	fx_allow(&g, "cgroup");
	fx_start(&g);
	eff = learn_effect(&g.e->learn, "cgroup:memory.high", "container_memory_working_set_bytes");
	assert_non_null(eff);
	assert_int_equal(eff->n, 1);
	a = action_find(g.e, id1);
	assert_non_null(a);
	assert_int_equal(a->state, BM_ACTION_EXECUTED);
	assert_string_equal(kvl_get(&a->before, "memory.high"), "max");
	assert_int_equal(exec_rollback(g.e, &a, 1, "test", why, sizeof(why)), 0);
	assert_int_equal(a->state, BM_ACTION_ROLLED_BACK);
	assert_cg(&g, "a", "memory.high", "max");
	assert_int_equal(exec_rollback(g.e, &a, 1, "again", why, sizeof(why)), BM_ESTATE);
	fx_close(&g, false);
}

static void test_watch_rolls_back(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f, MODE_EXECUTE, "cgroup");
	memory_points("/a", T0 - 60000, T0, 1000);
	offer_c1(&f);
	struct action *a = plan_current(f.e)->steps[0];
	assert_cg(&f, "a", "memory.high", "1048576");
	/* memory rose by 25%: against the objective beyond 10% */
	memory_points("/a", T0 + 5000, T0 + 60000, 1250);
	fakehost_set_now(T0 + 60000);
	exec_tick(f.e, T0 + 60000);
	assert_int_equal(a->state, BM_ACTION_ROLLED_BACK);
	assert_non_null(strstr(a->reason, "automatic rollback"));
	assert_non_null(strstr(a->reason, "+25.0%"));
	assert_cg(&f, "a", "memory.high", "max");
	const struct kind_stats *k = learn_kind(&f.e->learn, "cgroup:memory.high");
	assert_int_equal(k->rollbacks, 1);
	fx_close(&f, false);
}

/* --- agent commands through the engine ----------------------------------------- */

static void test_agent_command_plan(void **s)
{
	(void)s;
	struct fx f;
	fx_conf(&f);
	f.conf.mode = MODE_EXECUTE;
	fx_allow(&f, "agent_command");
	struct objective_conf o = {strdup("agent memory"), strdup("bearmon_process_resident_memory_bytes"),
				   GOAL_MINIMIZE, 1};
	add_group(&f.conf.objectives, sizeof(o), &o);
	fx_start(&f);
	static const char *const caps[] = {"evict_cache"};
	dt_agent("planner-1", "planner", 4242, caps, 1);
	struct bm_kv params[] = {{"command", "evict_cache"}};
	struct bm_impact impact = {"bearmon_process_resident_memory_bytes{agent=\"planner-1\"}", -0.3,
				   0.2};
	struct bm_candidate_event c = {
		.ts_ms = T0, .id = "evict", .optimizer = "resource", .dimension = "resource_efficiency",
		.action = {"agent_command", "planner-1", params, 1}, .impact = &impact, .n_impact = 1,
		.benefit = 0.7, .risk = 0.1, .confidence = 0.8};
	DT_DELIVER(BM_TOPIC_CANDIDATE, bm_candidate_encode, &c);
	eng_cycle(f.e, T0);
	assert_non_null(f.e->running); /* waiting for the ack */
	size_t len;
	const void *body = bt_event(BM_TOPIC_AGENT_COMMAND, 0, &len);
	struct bm_agent_command_event cmd;
	assert_int_equal(bm_agent_command_decode(body, len, &cmd, &f.arena), 0);
	assert_string_equal(cmd.name, "evict_cache");
	assert_string_equal(cmd.action_id, plan_current(f.e)->steps[0]->id);
	struct bm_kv res = {"freed_bytes", "1048576"};
	struct bm_agent_ack_event ack = {.ts_ms = T0, .command_id = cmd.command_id,
					 .agent_id = "planner-1", .ok = true, .detail = "evicted",
					 .result = &res, .n_result = 1};
	DT_DELIVER(BM_TOPIC_AGENT_ACK, bm_agent_ack_encode, &ack);
	assert_null(f.e->running);
	struct action *a = plan_current(f.e)->steps[0];
	assert_int_equal(a->state, BM_ACTION_EXECUTED);
	assert_false(a->reversible); /* no previous value in the ack */
	fx_close(&f, false);
}

/* --- route, VPA, config ------------------------------------------------------------ */

static void test_plan_route(void **s)
{
	(void)s;
	struct fx f;
	fx_open(&f, MODE_RECOMMEND, NULL);
	offer_c1(&f);
	char *body;
	assert_int_equal(bt_http("GET", ROUTE_PLAN, NULL, NULL, &body), 200);
	json_t *j = json_loads(body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "mode")), "recommend");
	json_t *plan = json_object_get(j, "plan");
	assert_true(json_is_true(json_object_get(plan, "approved")));
	json_t *step = json_array_get(json_object_get(plan, "steps"), 0);
	assert_string_equal(json_string_value(json_object_get(step, "state")), "planned");
	assert_string_equal(json_string_value(json_object_get(step, "target")), "/a");
	json_t *cand = json_array_get(json_object_get(j, "candidates"), 0);
	assert_true(json_is_true(json_object_get(cand, "eligible")));
	json_decref(j);
	free(body);
	assert_int_equal(bt_http("POST", ROUTE_PLAN, NULL, NULL, &body), 405);
	free(body);
	fx_close(&f, false);
}

static void test_vpa_figures(void **s)
{
	(void)s;
	double v[100];
	for (int i = 0; i < 100; i++)
		v[i] = i + 1; /* 1..100 */
	struct vpa_rec r = {0};
	assert_true(vpa_figures(v, 100, 0.15, 1.0, &r));
	assert_float_equal(r.lower, 50.5 * 1.15 * pow(1.001, -2), 1e-9);
	assert_float_equal(r.target, 90.1 * 1.15, 1e-9);
	assert_float_equal(r.upper, 95.05 * 1.15 * 2, 1e-9);
	assert_false(vpa_figures(v, 2, 0.15, 1.0, &r));
}

static void test_config_errors(void **s)
{
	(void)s;
	struct fx f;
	fx_conf(&f);
	fx_allow(&f, "teleport");
	pt_init_err(&engine_ops, &f.conf, BM_EINVAL, "unknown actuator \"teleport\"", NULL);
	pt_conf_release(engine_options, &f.conf);
	pt_rm_tree(f.dir);
	fx_conf(&f);
	struct constraint_conf both = {NULL, strdup("x"), strdup("y"), 1, NAN};
	add_group(&f.conf.constraints, sizeof(both), &both);
	pt_init_err(&engine_ops, &f.conf, BM_EINVAL, "exactly one of metric and param", NULL);
	pt_conf_release(engine_options, &f.conf);
	pt_rm_tree(f.dir);
	fx_conf(&f);
	struct objective_conf bad = {NULL, strdup("(unclosed"), GOAL_MINIMIZE, 1};
	add_group(&f.conf.objectives, sizeof(bad), &bad);
	pt_init_err(&engine_ops, &f.conf, BM_EINVAL, "objectives.1.metric", NULL);
	pt_conf_release(engine_options, &f.conf);
	pt_rm_tree(f.dir);
	bt_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shrinkage),
		cmocka_unit_test(test_benefit_risk_gate),
		cmocka_unit_test(test_dry_run),
		cmocka_unit_test(test_execute_and_not_allowed),
		cmocka_unit_test(test_failing_step_rolls_back),
		cmocka_unit_test(test_constraints),
		cmocka_unit_test(test_combination),
		cmocka_unit_test(test_strategies),
		cmocka_unit_test(test_watch_keep_and_learn),
		cmocka_unit_test(test_watch_rolls_back),
		cmocka_unit_test(test_agent_command_plan),
		cmocka_unit_test(test_plan_route),
		cmocka_unit_test(test_vpa_figures),
		cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
