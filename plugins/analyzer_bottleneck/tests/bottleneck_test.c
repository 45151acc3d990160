/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of analyzer/bottleneck against the fake host and bus: synthetic
 * metric batches for a saturated CPU, memory pressure with swap and an OOM
 * kill, a disk at 100% utilisation, network errors, slow agent
 * coordination, a full KV cache, throttled containers and GPU errors; the
 * hysteresis (hold, flapping, clear), re-publication with a stable id,
 * resolution, the evidence of other analyzers' events and the HTTP route.
 */
#include "plugintest.h"

#include <bearmon/bm_batch.h>
#include <jansson.h>

#include "bustest.h"
#include "series_map.c"
#include "keyindex.c"
#include "series_table.c"
#include "resources.c"
#include "notes.c"
#include "rules.c"
#include "findings.c"
#include "bottleneck.c"

#define T0  1700000000000LL
#define SEC 1000LL

struct fx {
	struct bn_conf conf;
	struct bn *b;
	struct bm_arena arena; /* decoded events */
	struct bm_batch batch;
};

static void fx_open_with(struct fx *f, void (*tweak)(struct bn_conf *))
{
	memset(f, 0, sizeof(*f));
	bm__host_api = bt_api();
	pt_conf_defaults(bn_options, &f->conf);
	f->conf.hold_ms = 3 * SEC;
	f->conf.clear_ms = 3 * SEC;
	f->conf.republish_ms = 5 * SEC;
	if (tweak)
		tweak(&f->conf);
	f->b = pt_init(&bn_ops, &f->conf);
	struct bm_err err = {0};
	assert_int_equal(bn_ops.start(f->b, &err), 0);
}

static void fx_open(struct fx *f)
{
	fx_open_with(f, NULL);
}

static void fx_close(struct fx *f)
{
	bn_ops.stop(f->b);
	pt_close(&bn_ops, bn_options, f->b, &f->conf);
	bt_reset();
	bm_arena_free(&f->arena);
	bm_batch_free(&f->batch);
}

/* Start a batch of samples at time t. */
static struct bm_batch *at(struct fx *f, int64_t t)
{
	bm_batch_reset(&f->batch);
	f->batch.ts_ms = t;
	return &f->batch;
}

static void send(struct fx *f)
{
	struct bm_metric_batch mb;
	bm_batch_view(&f->batch, &mb);
	bt_deliver_metrics(&mb);
}

static void evaluate(int64_t t)
{
	fakehost_set_now(t);
	bt_fire_timers();
}

/* Bottleneck events published for id, and the last of them in *out. */
static size_t bn_events(struct fx *f, const char *id, struct bm_bottleneck_event *out)
{
	size_t n = 0;
	for (size_t i = 0; i < bt_count(BM_TOPIC_BOTTLENECK); i++) {
		size_t len;
		const void *body = bt_event(BM_TOPIC_BOTTLENECK, i, &len);
		struct bm_bottleneck_event e;
		assert_int_equal(bm_bottleneck_decode(body, len, &e, &f->arena), 0);
		if (strcmp(e.id, id) == 0) {
			n++;
			if (out)
				*out = e;
		}
	}
	return n;
}

/* The evidence entry whose text contains part, or NULL. */
static const struct bm_evidence *evidence(const struct bm_bottleneck_event *e, const char *part)
{
	for (size_t i = 0; i < e->n_evidence; i++)
		if (strstr(e->evidence[i].text, part))
			return &e->evidence[i];
	return NULL;
}

#define assert_evidence(e, part)                                                                   \
	do {                                                                                       \
		if (!evidence((e), (part)))                                                        \
			fail_msg("evidence of %s lacks \"%s\" (summary: %s)", (e)->id, (part),     \
				 (e)->summary);                                                    \
	} while (0)

/* The insight titles published so far contain title. */
static bool insight_titled(struct fx *f, const char *title)
{
	for (size_t i = 0; i < bt_count(BM_TOPIC_INSIGHT); i++) {
		size_t len;
		const void *body = bt_event(BM_TOPIC_INSIGHT, i, &len);
		struct bm_insight_event e;
		assert_int_equal(bm_insight_decode(body, len, &e, &f->arena), 0);
		if (strstr(e.title, title))
			return true;
	}
	return false;
}

/* --- the CPU: a 2-core host, busy share and PSI per second ------------- */

struct cpu_load {
	double busy;	 /* per core, 0..1 */
	double psi;	 /* PSI some, 0..1 */
	double runnable; /* tasks */
	double burner;	 /* cpu seconds per second of process "burn" */
};

/* The counters of the fake host, grown by one second of a load at a time. */
static struct {
	double user, system, idle, psi, burn, sshd;
} cpu;

static void cpu_second(const struct cpu_load *l)
{
	cpu.user += l->busy * 0.8;
	cpu.system += l->busy * 0.2;
	cpu.idle += 1 - l->busy;
	cpu.psi += l->psi;
	cpu.burn += l->burner;
	cpu.sshd += 0.05;
}

static void cpu_batch(struct fx *f, int64_t t, const struct cpu_load *l)
{
	struct bm_batch *b = at(f, t);
	static const char *const cpus[] = {"0", "1"};
	for (int i = 0; i < 2; i++) {
		bm_batch_addl(b, "node_cpu_seconds_total", cpu.user, "cpu", cpus[i], "mode", "user",
			      NULL);
		bm_batch_addl(b, "node_cpu_seconds_total", cpu.system, "cpu", cpus[i], "mode",
			      "system", NULL);
		bm_batch_addl(b, "node_cpu_seconds_total", cpu.idle, "cpu", cpus[i], "mode", "idle",
			      NULL);
		bm_batch_addl(b, "node_cpu_seconds_total", 1000, "cpu", cpus[i], "mode", "iowait",
			      NULL);
	}
	bm_batch_addl(b, "node_pressure_cpu_waiting_seconds_total", cpu.psi, NULL);
	bm_batch_addl(b, "node_procs_running", l->runnable, NULL);
	bm_batch_addl(b, "node_load1", l->runnable * 0.9, NULL);
	bm_batch_addl(b, "bearmon_process_cpu_seconds_total", cpu.burn, "comm", "burn", "group",
		      "topcpu", "mode", "user", "pid", "42", "user", "ci", NULL);
	bm_batch_addl(b, "bearmon_process_cpu_seconds_total", cpu.sshd, "comm", "sshd", "group",
		      "topcpu", "mode", "user", "pid", "7", "user", "root", NULL);
	send(f);
}

static const struct cpu_load burning = {0.99, 0.7, 8, 1.8};
static const struct cpu_load quiet = {0.1, 0, 1, 0.01};

/* Seconds s0..s1 of load l: one sample and one evaluation each. Second 0
 * starts the counters. */
static void cpu_run(struct fx *f, int s0, int s1, const struct cpu_load *l)
{
	for (int s = s0; s <= s1; s++) {
		if (s == 0)
			cpu.user = cpu.system = cpu.idle = cpu.psi = cpu.burn = cpu.sshd = 1000;
		else
			cpu_second(l);
		cpu_batch(f, T0 + s * SEC, l);
		evaluate(T0 + s * SEC);
	}
}

static void test_cpu_saturation_lifecycle(void **unused)
{
	struct fx f;
	struct bm_bottleneck_event e;
	fx_open(&f);
	/* first sample gives no rate; rates from second 1; hold 3 s */
	cpu_run(&f, 0, 3, &burning);
	assert_int_equal(bn_events(&f, "cpu/saturation", NULL), 0);
	assert_int_equal(bt_count(BM_TOPIC_INSIGHT), 0);
	cpu_run(&f, 4, 4, &burning);
	assert_int_equal(bn_events(&f, "cpu/saturation", &e), 1);
	assert_string_equal(e.resource, "cpu");
	assert_int_equal(e.kind, BM_BN_SATURATION);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_int_equal(e.since_ms, T0 + 1 * SEC);
	assert_int_equal(e.ts_ms, T0 + 4 * SEC);
	assert_true(e.impact > 0.9 && e.impact <= 1.0);
	assert_true(e.confidence >= 0.75);
	/* the run queue corroborates PSI (confidence) but is not the cause */
	assert_string_equal(e.summary, "CPU saturated: PSI cpu some 70%");
	assert_evidence(&e, "PSI cpu some 70% (critical at 0.6)");
	assert_evidence(&e, "4.0 runnable tasks per core (critical at 4)");
	assert_evidence(&e, "load average");
	const struct bm_evidence *psi = evidence(&e, "PSI cpu");
	assert_string_equal(psi->series.name, "node_pressure_cpu_waiting_seconds_total");
	assert_true(fabs(psi->value - 0.7) < 1e-9);
	assert_non_null(strstr(e.recommendation, "burn (pid 42) 180% CPU"));
	assert_non_null(strstr(e.recommendation, "reduce concurrency or add cores"));
	/* sshd's 5% is far behind: not named */
	assert_null(strstr(e.recommendation, "sshd"));
	const struct bm_evidence *proc = evidence(&e, "process burn");
	assert_non_null(proc);
	assert_int_equal(proc->series.n_labels, 1);
	assert_string_equal(proc->series.labels[0].value, "42");
	/* utilisation is its own finding, ranked below saturation */
	assert_int_equal(bn_events(&f, "cpu/utilisation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_true(e.impact < 0.7);
	assert_true(insight_titled(&f, "CPU saturated (cpu)"));

	/* re-published every 5 s with the same id and since */
	cpu_run(&f, 5, 9, &burning);
	assert_int_equal(bn_events(&f, "cpu/saturation", &e), 2);
	assert_int_equal(e.since_ms, T0 + 1 * SEC);
	assert_int_equal(e.ts_ms, T0 + 9 * SEC);
	size_t insights = bt_count(BM_TOPIC_INSIGHT);

	/* the load stops (last seen at 9 s): still active for `clear`, then
	 * resolved once */
	cpu_run(&f, 10, 11, &quiet);
	assert_int_equal(bn_events(&f, "cpu/saturation", NULL), 2);
	assert_int_equal(bt_count(BM_TOPIC_INSIGHT), insights);
	cpu_run(&f, 12, 12, &quiet);
	assert_int_equal(bn_events(&f, "cpu/saturation", &e), 3);
	assert_int_equal(e.severity, BM_SEV_INFO);
	assert_true(e.impact == 0);
	assert_int_equal(e.since_ms, T0 + 1 * SEC);
	assert_string_equal(e.summary, "resolved: CPU saturated on cpu after 11 s");
	assert_true(insight_titled(&f, "resolved: CPU saturated (cpu)"));
	cpu_run(&f, 13, 20, &quiet);
	assert_int_equal(bn_events(&f, "cpu/saturation", NULL), 3);
	assert_int_equal(fd_active(&f.b->findings), 0);
	fx_close(&f);
}

/* The run queue is one instantaneous count: with PSI at hand it only
 * corroborates; without PSI (an old kernel) it decides. */
static void test_run_queue_is_a_fallback(void **unused)
{
	static const struct cpu_load queued = {0.5, 0.05, 10, 0.5};
	struct fx f;
	struct bm_bottleneck_event e;
	fx_open(&f);
	cpu_run(&f, 0, 5, &queued);
	assert_int_equal(bn_events(&f, "cpu/saturation", NULL), 0);
	fx_close(&f);

	fx_open(&f);
	for (int s = 0; s <= 5; s++) {
		if (s == 0)
			cpu.user = cpu.system = cpu.idle = cpu.psi = cpu.burn = cpu.sshd = 1000;
		else
			cpu_second(&queued);
		struct bm_batch *b = at(&f, T0 + s * SEC);
		bm_batch_addl(b, "node_cpu_seconds_total", cpu.user, "cpu", "total", "mode", "user",
			      NULL);
		bm_batch_addl(b, "node_cpu_seconds_total", cpu.idle, "cpu", "total", "mode", "idle",
			      NULL);
		bm_batch_addl(b, "node_procs_running", 10, NULL);
		send(&f);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "cpu/saturation", &e), 1);
	/* per_cpu = false: one "total" series, whose rate is the core count
	 * (0.4 + 0.5 = 0.9 s/s here: one core) */
	assert_string_equal(e.summary, "CPU saturated: 10.0 runnable tasks per core");
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	fx_close(&f);
}

static void test_hold_needs_an_unbroken_run(void **unused)
{
	struct fx f;
	fx_open(&f);
	/* 2 s of load, 1 s quiet, 2 s of load: never 3 s in a row */
	cpu_run(&f, 0, 2, &burning);
	cpu_run(&f, 3, 3, &quiet);
	cpu_run(&f, 4, 5, &burning);
	assert_int_equal(bn_events(&f, "cpu/saturation", NULL), 0);
	assert_int_equal(bt_count(BM_TOPIC_BOTTLENECK), 0);
	/* pending findings are listed on request only */
	char *body;
	assert_int_equal(bt_http("GET", "/api/bearmon/v1/bottlenecks", "pending", "true", &body),
			 200);
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	json_t *first = json_array_get(json_object_get(j, "bottlenecks"), 0);
	assert_string_equal(json_string_value(json_object_get(first, "state")), "pending");
	assert_int_equal(json_integer_value(json_object_get(first, "since_ms")), T0 + 4 * SEC);
	json_decref(j);
	/* the third second of the second run publishes it */
	cpu_run(&f, 6, 7, &burning);
	struct bm_bottleneck_event e;
	assert_int_equal(bn_events(&f, "cpu/saturation", &e), 1);
	assert_int_equal(e.since_ms, T0 + 4 * SEC);
	fx_close(&f);
}

static void test_route(void **unused)
{
	struct fx f;
	fx_open(&f);
	cpu_run(&f, 0, 5, &burning);
	char *body;
	assert_int_equal(bt_http("GET", "/api/bearmon/v1/bottlenecks", NULL, NULL, &body), 200);
	json_error_t jerr;
	json_t *j = json_loads(body, 0, &jerr);
	assert_non_null(j);
	free(body);
	json_t *list = json_object_get(j, "bottlenecks");
	assert_int_equal(json_array_size(list), 2);
	json_t *top = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(top, "id")), "cpu/saturation");
	assert_string_equal(json_string_value(json_object_get(top, "kind")), "saturation");
	assert_string_equal(json_string_value(json_object_get(top, "severity")), "critical");
	assert_string_equal(json_string_value(json_object_get(top, "state")), "active");
	assert_true(json_array_size(json_object_get(top, "evidence")) >= 3);
	json_t *second = json_array_get(list, 1);
	assert_string_equal(json_string_value(json_object_get(second, "id")), "cpu/utilisation");
	assert_true(json_real_value(json_object_get(top, "impact")) >
		    json_real_value(json_object_get(second, "impact")));
	json_decref(j);
	assert_int_equal(bt_http("POST", "/api/bearmon/v1/bottlenecks", NULL, NULL, &body), 405);
	free(body);
	fx_close(&f);
}

/* --- memory: pressure with swap, then an OOM kill ----------------------- */

static void mem_batch(struct fx *f, int64_t t, double secs, double oom_kills)
{
	struct bm_batch *b = at(f, t);
	bm_batch_addl(b, "node_memory_MemTotal_bytes", 8.0 * (1 << 30), NULL);
	bm_batch_addl(b, "node_memory_MemAvailable_bytes", 0.5 * (1 << 30), NULL);
	bm_batch_addl(b, "node_pressure_memory_waiting_seconds_total", 10 + secs * 0.35, NULL);
	bm_batch_addl(b, "node_pressure_memory_stalled_seconds_total", 5 + secs * 0.02, NULL);
	bm_batch_addl(b, "node_vmstat_pswpin", 1e6 + secs * 250, NULL);
	bm_batch_addl(b, "node_vmstat_pswpout", 2e6 + secs * 350, NULL);
	bm_batch_addl(b, "node_vmstat_oom_kill", 3 + oom_kills, NULL);
	bm_batch_addl(b, "bearmon_process_resident_memory_bytes", 5.5 * (1 << 30), "comm", "hog",
		      "group", "topmem", "pid", "99", "user", "ci", NULL);
	send(f);
}

static void set_error_window(struct bn_conf *c)
{
	c->error_window_ms = 10 * SEC;
}

static void test_memory_pressure_swap_oom(void **unused)
{
	struct fx f;
	struct bm_bottleneck_event e;
	fx_open_with(&f, set_error_window);
	for (int s = 0; s <= 4; s++) {
		mem_batch(&f, T0 + s * SEC, s, 0);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "memory/saturation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_evidence(&e, "PSI memory some 35% (critical at 0.3)");
	assert_evidence(&e, "600 pages/s swapped (warning at 100)");
	assert_evidence(&e, "PSI memory full 2%");
	assert_non_null(strstr(e.recommendation, "hog (pid 99) 5.5 GiB"));
	assert_true(fabs(e.confidence - 0.75) < 1e-9); /* two checks fired */
	assert_int_equal(bn_events(&f, "memory/utilisation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_WARNING);
	assert_evidence(&e, "94% of memory in use (warning at 0.9)");
	/* the counter's old OOM kills (3 before we started) are not errors */
	assert_int_equal(bn_events(&f, "memory/errors", NULL), 0);
	/* one OOM kill at second 5: a critical error finding after hold */
	for (int s = 5; s <= 8; s++) {
		mem_batch(&f, T0 + s * SEC, s, 1);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "memory/errors", &e), 1);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_evidence(&e, "1 OOM kills (critical at 1)");
	assert_int_equal(e.since_ms, T0 + 5 * SEC);
	/* it counts for error_window (10 s) after the kill, then clears */
	for (int s = 9; s <= 17; s++) {
		mem_batch(&f, T0 + s * SEC, s, 1);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "memory/errors", &e), 2); /* opened + republished */
	assert_int_not_equal(e.severity, BM_SEV_INFO);
	for (int s = 18; s <= 19; s++) {
		mem_batch(&f, T0 + s * SEC, s, 1);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "memory/errors", &e), 3);
	assert_int_equal(e.severity, BM_SEV_INFO);
	fx_close(&f);
}

/* --- disks -------------------------------------------------------------- */

static void test_disk_full_utilisation(void **unused)
{
	struct fx f;
	struct bm_bottleneck_event e;
	fx_open(&f);
	for (int s = 0; s <= 4; s++) {
		struct bm_batch *b = at(&f, T0 + s * SEC);
		bm_batch_addl(b, "node_disk_io_time_seconds_total", 100.0 + s, "device", "sda",
			      NULL);
		bm_batch_addl(b, "node_disk_io_time_weighted_seconds_total", 500.0 + 40 * s,
			      "device", "sda", NULL);
		bm_batch_addl(b, "node_disk_reads_completed_total", 1e4 + 100 * s, "device", "sda",
			      NULL);
		bm_batch_addl(b, "node_disk_read_time_seconds_total", 1e3 + 10 * s, "device", "sda",
			      NULL);
		bm_batch_addl(b, "node_disk_writes_completed_total", 1e4, "device", "sda", NULL);
		bm_batch_addl(b, "node_disk_write_time_seconds_total", 1e3, "device", "sda", NULL);
		bm_batch_addl(b, "node_disk_io_time_seconds_total", 100.0 + 0.01 * s, "device",
			      "vdb", NULL);
		bm_batch_addl(b, "bearmon_process_read_bytes_total", 1e9 + s * 150e6, "comm", "dd",
			      "group", "topcpu", "pid", "321", "user", "ci", NULL);
		send(&f);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "disk:sda/utilisation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_string_equal(e.resource, "disk:sda");
	assert_int_equal(e.n_labels, 1);
	assert_string_equal(e.labels[0].name, "device");
	assert_string_equal(e.labels[0].value, "sda");
	assert_evidence(&e, "100% busy (critical at 0.95)");
	assert_string_equal(evidence(&e, "busy")->series.name, "node_disk_io_time_seconds_total");
	assert_non_null(strstr(e.recommendation, "dd (pid 321) 143.1 MiB/s"));
	assert_int_equal(bn_events(&f, "disk:sda/saturation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_evidence(&e, "average queue 40.0 (critical at 32)");
	assert_evidence(&e, "100 ms per request (warning at 0.05)");
	/* the idle disk has nothing */
	assert_int_equal(bn_events(&f, "disk:vdb/utilisation", NULL), 0);
	fx_close(&f);
}

/* --- network ------------------------------------------------------------ */

static void set_link_speed(struct bn_conf *c)
{
	c->link_speeds.n = 1;
	c->link_speeds.keys = calloc(1, sizeof(char *));
	c->link_speeds.values = calloc(1, sizeof(char *));
	c->link_speeds.keys[0] = strdup("eth0");
	c->link_speeds.values[0] = strdup("1000");
}

static void test_network_errors_drops_link(void **unused)
{
	struct fx f;
	struct bm_bottleneck_event e;
	fx_open_with(&f, set_link_speed);
	for (int s = 0; s <= 4; s++) {
		struct bm_batch *b = at(&f, T0 + s * SEC);
		bm_batch_addl(b, "node_network_receive_errs_total", 7.0 + 5 * s, "device", "eth0",
			      NULL);
		bm_batch_addl(b, "node_network_transmit_errs_total", 0, "device", "eth0", NULL);
		bm_batch_addl(b, "node_network_receive_drop_total", 1e3 + 150 * s, "device", "eth0",
			      NULL);
		bm_batch_addl(b, "node_network_transmit_drop_total", 50.0 * s, "device", "eth0",
			      NULL);
		bm_batch_addl(b, "node_network_receive_bytes_total", 1e12 + 120e6 * s, "device",
			      "eth0", NULL);
		bm_batch_addl(b, "node_network_transmit_bytes_total", 1e9 + 1e6 * s, "device",
			      "eth0", NULL);
		bm_batch_addl(b, "node_network_receive_errs_total", 0, "device", "lo", NULL);
		bm_batch_addl(b, "node_netstat_Tcp_OutSegs", 1e6 + 1000 * s, NULL);
		bm_batch_addl(b, "node_netstat_Tcp_RetransSegs", 1e3 + 50 * s, NULL);
		bm_batch_addl(b, "node_netstat_TcpExt_ListenOverflows", 0, NULL);
		send(&f);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "net:eth0/errors", &e), 1);
	assert_int_equal(e.kind, BM_BN_ERRORS);
	assert_int_equal(e.severity, BM_SEV_WARNING);
	assert_evidence(&e, "5.0 errors/s (warning at 0.1)");
	assert_non_null(strstr(e.recommendation, "cable"));
	assert_int_equal(bn_events(&f, "net:eth0/saturation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_evidence(&e, "200.0 packets dropped/s (critical at 100)");
	assert_int_equal(bn_events(&f, "net:eth0/utilisation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_evidence(&e, "96% of the link speed (critical at 0.95)");
	assert_int_equal(bn_events(&f, "tcp/saturation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_WARNING);
	assert_evidence(&e, "5.0% of TCP segments retransmitted (warning at 0.02)");
	assert_evidence(&e, "0.0 listen overflows/s");
	assert_int_equal(bn_events(&f, "net:lo/errors", NULL), 0);
	fx_close(&f);
}

/* --- agents and model servers ------------------------------------------ */

static void test_agent_coordination(void **unused)
{
	struct fx f;
	struct bm_bottleneck_event e;
	fx_open(&f);
	for (int s = 0; s <= 4; s++) {
		struct bm_batch *b = at(&f, T0 + s * SEC);
		bm_batch_addl(b, "agent_coordination_latency_seconds", 2.5, "agent", "planner",
			      "agent_type", "planner", "peer", "retriever", NULL);
		bm_batch_addl(b, "agent_coordination_latency_seconds", 0.3, "agent", "planner",
			      "agent_type", "planner", "peer", "coder", NULL);
		bm_batch_addl(b, "agent_sync_wait_seconds_total", 10 + 0.6 * s, "agent", "planner",
			      "agent_type", "planner", "peer", "retriever", NULL);
		bm_batch_addl(b, "agent_communication_overhead_ratio", 0.7, "agent", "planner",
			      "agent_type", "planner", NULL);
		bm_batch_addl(b, "agent_error_ratio", 0.01, "agent", "planner", "agent_type",
			      "planner", NULL);
		/* per-type series have no agent label: not a resource */
		bm_batch_addl(b, "agent_communication_overhead_ratio", 0.9, "agent_type", "coder",
			      NULL);
		send(&f);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "agent:planner/coordination", &e), 1);
	assert_int_equal(e.kind, BM_BN_COORDINATION);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_string_equal(e.labels[0].name, "agent");
	assert_string_equal(e.labels[0].value, "planner");
	assert_evidence(&e, "coordination latency 2.50 s (critical at 2)");
	assert_evidence(&e, "60% of the time waiting for peers (critical at 0.5)");
	assert_evidence(&e, "communication overhead 70% (critical at 0.6)");
	assert_non_null(strstr(e.recommendation, "slowest peer retriever answers in 2.50 s"));
	assert_true(fabs(e.confidence - 0.9) < 1e-9); /* three checks fired */
	assert_int_equal(bn_events(&f, "agent:planner/errors", NULL), 0);
	assert_int_equal(bt_count(BM_TOPIC_BOTTLENECK), 1);
	fx_close(&f);
}

static void test_full_kv_cache(void **unused)
{
	struct fx f;
	struct bm_bottleneck_event e;
	fx_open(&f);
	for (int s = 0; s <= 4; s++) {
		struct bm_batch *b = at(&f, T0 + s * SEC);
		bm_batch_addl(b, "vllm:gpu_cache_usage_perc", 0.99, "model_name", "llama", NULL);
		bm_batch_addl(b, "vllm:num_requests_waiting", 12, "model_name", "llama", NULL);
		bm_batch_addl(b, "vllm:num_requests_running", 64, "model_name", "llama", NULL);
		bm_batch_addl(b, "vllm:time_to_first_token_seconds_sum", 100 + 3.0 * s,
			      "model_name", "llama", NULL);
		bm_batch_addl(b, "vllm:time_to_first_token_seconds_count", 50.0 + s, "model_name",
			      "llama", NULL);
		bm_batch_addl(b, "vllm:generation_tokens_total", 1e6 + 2500 * s, "model_name",
			      "llama", NULL);
		bm_batch_addl(b, "bearmon_gpu_utilization_ratio", 0.97, "gpu", "0", "name", "H100",
			      "uuid", "GPU-1", "vendor", "nvidia", NULL);
		bm_batch_addl(b, "bearmon_gpu_utilization_ratio", 0.2, "gpu", "1", "mig", "0",
			      "name", "MIG 1g", "vendor", "nvidia", NULL);
		send(&f);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "model:llama/inference", &e), 1);
	assert_int_equal(e.kind, BM_BN_INFERENCE);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_evidence(&e, "KV cache 99% full (critical at 0.98)");
	assert_evidence(&e, "12 requests waiting (warning at 5)");
	assert_evidence(&e, "time to first token 3.00 s (warning at 1)");
	assert_evidence(&e, "busiest GPU 0: 97% busy");
	assert_evidence(&e, "2500 tokens/s generated");
	assert_non_null(strstr(e.recommendation, "KV cache is nearly full"));
	assert_non_null(strstr(e.recommendation, "requests wait"));
	assert_int_equal(bn_events(&f, "gpu:0/utilisation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_WARNING);
	/* MIG slices are not GPUs of their own */
	assert_int_equal(bn_events(&f, "gpu:1/utilisation", NULL), 0);
	fx_close(&f);
}

static void test_containers_and_gpu_errors(void **unused)
{
	struct fx f;
	struct bm_bottleneck_event e;
	fx_open(&f);
	for (int s = 0; s <= 4; s++) {
		struct bm_batch *b = at(&f, T0 + s * SEC);
		bm_batch_addl(b, "container_cpu_cfs_periods_total", 1e4 + 10 * s, "cgroup",
			      "/system.slice/app.service", "unit", "app.service", NULL);
		bm_batch_addl(b, "container_cpu_cfs_throttled_periods_total", 1e3 + 6 * s, "cgroup",
			      "/system.slice/app.service", "unit", "app.service", NULL);
		bm_batch_addl(b, "container_memory_working_set_bytes", 950e6, "cgroup",
			      "/system.slice/app.service", "unit", "app.service", NULL);
		bm_batch_addl(b, "container_spec_memory_limit_bytes", 1e9, "cgroup",
			      "/system.slice/app.service", "unit", "app.service", NULL);
		bm_batch_addl(b, "bearmon_gpu_xid_errors_total", s >= 1 ? 1 : 0, "gpu", "1", "name",
			      "A100", "vendor", "nvidia", "xid", "79", NULL);
		send(&f);
		evaluate(T0 + s * SEC);
	}
	assert_int_equal(bn_events(&f, "cgroup:/system.slice/app.service/saturation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_evidence(&e, "throttled in 60% of CPU periods");
	assert_int_equal(bn_events(&f, "cgroup:/system.slice/app.service/utilisation", &e), 1);
	assert_int_equal(e.severity, BM_SEV_WARNING);
	assert_evidence(&e, "working set at 95% of its limit");
	assert_int_equal(bn_events(&f, "gpu:1/errors", &e), 1);
	assert_int_equal(e.severity, BM_SEV_CRITICAL);
	assert_evidence(&e, "1 XID/uncorrected ECC errors");
	fx_close(&f);
}

/* --- evidence from other analyzers --------------------------------------- */

static void deliver_anomaly(void)
{
	struct bm_anomaly_event a = {.series = {"node_load1", NULL, 0},
				     .ts_ms = T0 + 2 * SEC,
				     .value = 7.2,
				     .score = 0.97,
				     .threshold = 0.9,
				     .expected = 0.8,
				     .lower = 0.1,
				     .upper = 2,
				     .detector = "ewma_mad"};
	struct bm_buf buf = {0};
	assert_int_equal(bm_anomaly_encode(&a, &buf), 0);
	assert_int_equal(bt_deliver(BM_TOPIC_ANOMALY, buf.data, buf.len), 1);
	struct bm_trend_event t = {.series = {"node_disk_io_time_seconds_total", NULL, 0},
				   .ts_ms = T0,
				   .window_ms = 300 * SEC,
				   .direction = BM_TREND_INCREASING,
				   .p_value = 0.01,
				   .rel_change = 0.5};
	assert_int_equal(bm_trend_encode(&t, &buf), 0); /* no device: not a resource */
	assert_int_equal(bt_deliver(BM_TOPIC_TREND, buf.data, buf.len), 1);
	struct bm_label cpu0 = {"cpu", "0"};
	struct bm_trend_event t2 = {.series = {"node_cpu_seconds_total", &cpu0, 1},
				    .ts_ms = T0 + 3 * SEC,
				    .window_ms = 300 * SEC,
				    .direction = BM_TREND_INCREASING,
				    .p_value = 0.001,
				    .rel_change = 0.8,
				    .method = "theil_sen"};
	assert_int_equal(bm_trend_encode(&t2, &buf), 0);
	assert_int_equal(bt_deliver(BM_TOPIC_TREND, buf.data, buf.len), 1);
	struct bm_label planner = {"agent", "planner"};
	struct bm_correlation_event c = {.a = {"node_pressure_cpu_waiting_seconds_total", NULL, 0},
					 .b = {"agent_task_duration_seconds", &planner, 1},
					 .ts_ms = T0 + 3 * SEC,
					 .window_ms = 300 * SEC,
					 .coefficient = 0.9,
					 .lag_ms = 30 * SEC};
	assert_int_equal(bm_correlation_encode(&c, &buf), 0);
	assert_int_equal(bt_deliver(BM_TOPIC_CORRELATION, buf.data, buf.len), 1);
	c.coefficient = 0.5; /* weak: not kept */
	c.b.name = "agent_error_ratio";
	assert_int_equal(bm_correlation_encode(&c, &buf), 0);
	assert_int_equal(bt_deliver(BM_TOPIC_CORRELATION, buf.data, buf.len), 1);
	bm_buf_free(&buf);
}

static void test_events_add_evidence(void **unused)
{
	struct fx f;
	struct bm_bottleneck_event e;
	fx_open(&f);
	deliver_anomaly();
	/* the anomaly, the cpu trend, the correlation on both resources */
	assert_int_equal(f.b->notes.n, 4);
	cpu_run(&f, 0, 4, &burning);
	assert_int_equal(bn_events(&f, "cpu/saturation", &e), 1);
	assert_evidence(&e, "anomaly in node_load1: 7.2 outside the expected 0.1..2 (score 0.97, "
			    "ewma_mad)");
	assert_evidence(&e, "node_cpu_seconds_total increasing: +80% over 5 min (p=0.001)");
	assert_evidence(&e,
			"node_pressure_cpu_waiting_seconds_total and agent_task_duration_seconds "
			"move together (pearson 0.90 over 5 min, "
			"node_pressure_cpu_waiting_seconds_total leads by 30 s)");
	/* two checks (0.75) and three kinds of events (+0.3), at most 1 */
	assert_true(e.confidence == 1);
	fx_close(&f);

	/* without the events, the same load is less certain */
	fx_open(&f);
	cpu_run(&f, 0, 4, &burning);
	assert_int_equal(bn_events(&f, "cpu/saturation", &e), 1);
	assert_true(fabs(e.confidence - 0.75) < 1e-9);
	fx_close(&f);
}

static void test_notes_expire_and_bound(void **unused)
{
	struct notes ns = {0};
	const struct note *out[4];
	struct bm_label dev = {"device", "sda"};
	for (int i = 0; i < NOTES_MAX + 10; i++) {
		char name[64];
		snprintf(name, sizeof(name), "node_disk_metric_%d", i);
		struct bm_anomaly_event a = {
		    .series = {name, &dev, 1}, .ts_ms = T0 + i, .score = 1, .detector = "x"};
		assert_int_equal(notes_anomaly(&ns, &a), 0);
	}
	assert_int_equal(ns.n, NOTES_MAX);
	assert_int_equal(notes_for(&ns, "disk:sda", T0 + NOTES_MAX + 10, 1000, out, 4), 4);
	assert_int_equal(out[0]->ts_ms, T0 + NOTES_MAX + 9); /* newest first */
	assert_int_equal(notes_for(&ns, "disk:sda", T0 + 100000, 1000, out, 4), 0);
	/* a stable trend, or a forecast without a crossing, says nothing */
	struct bm_trend_event t = {.series = {"node_load1", NULL, 0}, .direction = BM_TREND_STABLE};
	assert_int_equal(notes_trend(&ns, &t), 0);
	struct bm_forecast_event fc = {.series = {"node_load1", NULL, 0},
				       .model = "naive",
				       .has_threshold = true,
				       .time_to_threshold_ms = -1};
	assert_int_equal(notes_forecast(&ns, &fc), 0);
	assert_int_equal(notes_for(&ns, "cpu", T0, 1000000, out, 4), 0);
	fc.time_to_threshold_ms = 42 * 60 * SEC;
	fc.threshold = 4;
	fc.ts_ms = T0;
	assert_int_equal(notes_forecast(&ns, &fc), 0);
	assert_int_equal(notes_for(&ns, "cpu", T0, 1000000, out, 4), 1);
	assert_string_equal(out[0]->text,
			    "node_load1 forecast to go above 4 in 42 min (naive, confidence 0%)");
	notes_free(&ns);
}

/* --- the parts --------------------------------------------------------------- */

static void test_series_map(void **unused)
{
	for (size_t i = 1; i < SM_TABLE_LEN; i++)
		if (strcmp(sm_table[i - 1].metric, sm_table[i].metric) > 0)
			fail_msg("sm_table not sorted at %s", sm_table[i].metric);
	for (size_t i = 0; i < SM_TABLE_LEN; i++) {
		assert_true(sm_name_may_match(sm_table[i].metric));
		assert_int_equal(sm_measures[sm_table[i].measure].family != SM_NONE, 1);
	}
	assert_false(sm_name_may_match("node"));
	assert_false(sm_name_may_match("process_cpu_seconds_total"));
	struct sm_match m;
	struct sm_resource r;
	char buf[64];
	struct bm_label l[] = {{"cpu", "0"}, {"mode", "steal"}};
	assert_true(sm_lookup("node_cpu_seconds_total", l, 2, &m, &r, buf, sizeof(buf)));
	assert_int_equal(m.measure, M_CPU_STEAL);
	assert_string_equal(r.resource, "cpu");
	l[1].value = "softirq";
	assert_true(sm_lookup("node_cpu_seconds_total", l, 2, &m, &r, buf, sizeof(buf)));
	assert_int_equal(m.measure, M_CPU_BUSY);
	assert_false(sm_lookup("node_disk_io_time_seconds_total", l, 2, &m, &r, buf, sizeof(buf)));
	struct bm_label tr[] = {{"instance", "10.0.0.1:8000"}, {"model", "resnet"}};
	assert_true(sm_lookup("nv_inference_queue_duration_us", tr, 2, &m, &r, buf, sizeof(buf)));
	assert_string_equal(r.resource, "model:resnet");
	assert_true(m.scale == 1e-6);
	assert_true(sm_lookup("tgi_queue_size", tr, 1, &m, &r, buf, sizeof(buf)));
	assert_string_equal(r.resource, "model:10.0.0.1:8000");
	assert_true(sm_lookup("tgi_queue_size", NULL, 0, &m, &r, buf, sizeof(buf)));
	assert_string_equal(r.resource, "model:default");
	struct bm_label fs[] = {{"device", "/dev/vda1"}, {"mountpoint", "/"}};
	assert_true(sm_classify("node_filesystem_avail_bytes", fs, 2, &r, buf, sizeof(buf)));
	assert_string_equal(r.resource, "disk:/dev/vda1");
	assert_false(sm_classify("node_disk_reads_completed_total", NULL, 0, &r, buf, sizeof(buf)));
	assert_false(sm_classify("http_requests_total", NULL, 0, &r, buf, sizeof(buf)));
	assert_int_equal(sm_family_of("disk:sda"), SM_DISK);
	assert_int_equal(sm_family_of("agent:a:b"), SM_AGENT);
	assert_int_equal(sm_family_of("cpu"), SM_CPU);
	assert_int_equal(sm_family_of("nothing"), SM_NONE);
}

static struct bm_sample sample(const char *name, struct bm_label *l, uint32_t n, int64_t ts,
			       double v)
{
	return (struct bm_sample){name, l, n, ts, v};
}

static void test_series_rates_and_resets(void **unused)
{
	struct series_table t = {.max_series = 3, .error_window_ms = 60 * SEC};
	struct bm_label dev = {"device", "sda"};
	struct bm_sample s = sample("node_disk_io_time_seconds_total", &dev, 1, T0, 100);
	assert_int_equal(st_add(&t, &s), 0);
	assert_int_equal(t.n, 1);
	assert_true(isnan(t.v[0].value)); /* one sample: no rate yet */
	s.ts_ms += 2 * SEC, s.value = 101;
	assert_int_equal(st_add(&t, &s), 0);
	assert_true(fabs(t.v[0].value - 0.5) < 1e-12);
	/* a duplicate or late sample changes nothing */
	s.value = 500;
	assert_int_equal(st_add(&t, &s), 0);
	s.ts_ms -= SEC;
	assert_int_equal(st_add(&t, &s), 0);
	assert_true(fabs(t.v[0].value - 0.5) < 1e-12);
	/* a counter reset: the new value is the increase */
	s.ts_ms = T0 + 4 * SEC, s.value = 1;
	assert_int_equal(st_add(&t, &s), 0);
	assert_true(fabs(t.v[0].value - 0.5) < 1e-12);
	assert_string_equal(t.v[0].key, "node_disk_io_time_seconds_total{\"device\"=\"sda\"}");
	/* NaN is no value; a stale marker forgets the series */
	s.ts_ms += SEC, s.value = NAN;
	assert_int_equal(st_add(&t, &s), 0);
	assert_int_equal(t.v[0].seen_ms, T0 + 4 * SEC);
	s.value = bm_stale_nan();
	assert_int_equal(st_add(&t, &s), 0);
	assert_int_equal(st_expire(&t, T0 + 5 * SEC, 60 * SEC), 0);
	assert_int_equal(t.n, 0);
	/* unknown series are ignored; past max_series they are counted */
	struct bm_sample other = sample("node_disk_reads_merged_total", &dev, 1, T0, 1);
	assert_int_equal(st_add(&t, &other), 0);
	assert_int_equal(t.n, 0);
	const char *devs[] = {"a", "b", "c", "d", "e"};
	for (int i = 0; i < 5; i++) {
		struct bm_label d = {"device", devs[i]};
		struct bm_sample g = sample("node_disk_io_time_seconds_total", &d, 1, T0, 1);
		assert_int_equal(st_add(&t, &g), 0);
	}
	assert_int_equal(t.n, 3);
	assert_int_equal(t.dropped, 2);
	/* series without samples for the timeout go; the index follows */
	struct bm_label d = {"device", "a"};
	struct bm_sample g = sample("node_disk_io_time_seconds_total", &d, 1, T0 + 50 * SEC, 3);
	assert_int_equal(st_add(&t, &g), 0);
	assert_int_equal(st_expire(&t, T0 + 70 * SEC, 60 * SEC), 0);
	assert_int_equal(t.n, 1);
	g.ts_ms = T0 + 52 * SEC, g.value = 4;
	assert_int_equal(st_add(&t, &g), 0);
	assert_int_equal(t.n, 1);
	assert_true(fabs(t.v[0].value - 0.5) < 1e-12);
	st_free(&t);
}

static void test_events_window(void **unused)
{
	struct series_table t = {.max_series = 10, .error_window_ms = 10 * SEC};
	struct bm_sample s = sample("node_vmstat_oom_kill", NULL, 0, T0, 7);
	assert_int_equal(st_add(&t, &s), 0);
	assert_true(st_value(&t.v[0], T0, t.error_window_ms) == 0);
	s.ts_ms += SEC, s.value = 9;
	assert_int_equal(st_add(&t, &s), 0);
	assert_true(st_value(&t.v[0], T0 + SEC, t.error_window_ms) == 2);
	assert_true(st_value(&t.v[0], T0 + 11 * SEC, t.error_window_ms) == 2);
	assert_true(st_value(&t.v[0], T0 + 12 * SEC, t.error_window_ms) == 0);
	/* a later kill starts a new window */
	s.ts_ms = T0 + 20 * SEC, s.value = 10;
	assert_int_equal(st_add(&t, &s), 0);
	assert_true(st_value(&t.v[0], T0 + 20 * SEC, t.error_window_ms) == 1);
	st_free(&t);
}

static void test_keyindex_grows(void **unused)
{
	struct keyindex ki = {0};
	static char keys[1000][8];
	for (int i = 0; i < 1000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		assert_int_equal(ki_insert(&ki, keys[i], ki_hash(keys[i]), (uint32_t)i), 0);
	}
	for (int i = 0; i < 1000; i++)
		assert_int_equal(ki_find(&ki, keys[i], ki_hash(keys[i])), i);
	assert_int_equal(ki_find(&ki, "nope", ki_hash("nope")), -1);
	ki_clear(&ki);
	assert_int_equal(ki_find(&ki, keys[1], ki_hash(keys[1])), -1);
	ki_free(&ki);
}

static void set_bad_threshold(struct bn_conf *c)
{
	c->thr[CHK_DISK_AWAIT][1] = 0.01;
}

static void test_bad_options(void **unused)
{
	struct bn_conf conf;
	bm__host_api = bt_api();
	memset(&conf, 0, sizeof(conf));
	pt_conf_defaults(bn_options, &conf);
	set_bad_threshold(&conf);
	pt_init_err(&bn_ops, &conf, BM_EINVAL,
		    "disk_await_critical (0.01) is below disk_await_warning (0.05)", NULL);
	pt_conf_release(bn_options, &conf);
	memset(&conf, 0, sizeof(conf));
	pt_conf_defaults(bn_options, &conf);
	set_link_speed(&conf);
	free(conf.link_speeds.values[0]);
	conf.link_speeds.values[0] = strdup("10G");
	pt_init_err(&bn_ops, &conf, BM_EINVAL,
		    "link_speeds: \"10G\" for eth0 is not a speed in Mbit/s", NULL);
	pt_conf_release(bn_options, &conf);
	fakehost_reset();
	bt_reset();
}

static void test_subscriptions(void **unused)
{
	struct fx f;
	fx_open(&f);
	assert_int_equal(bt_n_subs(), 5);
	bool on_loop;
	assert_string_equal(bt_sub_topic(0, &on_loop), BM_TOPIC_METRIC);
	assert_false(on_loop); /* its own thread, drop-oldest by default */
	assert_string_equal(bt_sub_topic(1, &on_loop), BM_TOPIC_ANOMALY);
	assert_true(on_loop);
	/* a broken body is counted, not fatal */
	bt_deliver(BM_TOPIC_METRIC, "\xc1", 1);
	bt_deliver(BM_TOPIC_ANOMALY, "\xc1", 1);
	assert_int_equal(f.b->decode_errors, 2);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cpu_saturation_lifecycle),
	    cmocka_unit_test(test_run_queue_is_a_fallback),
	    cmocka_unit_test(test_hold_needs_an_unbroken_run),
	    cmocka_unit_test(test_route),
	    cmocka_unit_test(test_memory_pressure_swap_oom),
	    cmocka_unit_test(test_disk_full_utilisation),
	    cmocka_unit_test(test_network_errors_drops_link),
	    cmocka_unit_test(test_agent_coordination),
	    cmocka_unit_test(test_full_kv_cache),
	    cmocka_unit_test(test_containers_and_gpu_errors),
	    cmocka_unit_test(test_events_add_evidence),
	    cmocka_unit_test(test_notes_expire_and_bound),
	    cmocka_unit_test(test_series_map),
	    cmocka_unit_test(test_series_rates_and_resets),
	    cmocka_unit_test(test_events_window),
	    cmocka_unit_test(test_keyindex_grows),
	    cmocka_unit_test(test_bad_options),
	    cmocka_unit_test(test_subscriptions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
