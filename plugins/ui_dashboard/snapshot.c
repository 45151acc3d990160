/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /api/bearmon/v1/snapshot: the performance snapshot in one answer:
 * system, resources, network, agents, derived figures and health, read
 * from the store's latest values (counters as per-second rates over their
 * newest two samples) and from the events seen since start (agent
 * registry, health scores, alerts, bottlenecks, recommendations). When no
 * health analyzer publishes, a coarse health is computed here.
 */
#define _GNU_SOURCE
#include "dashboard.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storeq.h"

#define SNAP_MAX_SERIES 4096
#define SNAP_EVENTS 20

struct snap {
	struct dash *d;
	int64_t now_ms;
	int64_t lookback_ms;
};

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* Sum of what selector matches (latest values or rates); NaN when none. */
static double total(const struct snap *s, const char *selector, enum sq_mode mode)
{
	struct sq_list l;
	if (sq_select(s->d->ctx, selector, mode, s->now_ms, s->lookback_ms, SNAP_MAX_SERIES, &l))
		return NAN;
	double v = sq_sum(&l);
	sq_list_free(&l);
	return v;
}

static double ratio(double part, double whole)
{
	return isfinite(part) && isfinite(whole) && whole > 0 ? part / whole : NAN;
}

/* Add each series' value to map[label value][field] (summing series that
 * differ in other labels), creating {label: value} entries. */
static void merge_by_label(const struct snap *s, json_t *map, const char *selector,
			   enum sq_mode mode, const char *label, const char *field)
{
	struct sq_list l;
	if (sq_select(s->d->ctx, selector, mode, s->now_ms, s->lookback_ms, SNAP_MAX_SERIES, &l))
		return;
	for (size_t i = 0; i < l.n; i++) {
		const char *key = sq_label(&l.v[i], label);
		if (!key || !isfinite(l.v[i].value))
			continue;
		json_t *o = json_object_get(map, key);
		if (!o) {
			o = json_pack("{s:s}", label, key);
			json_object_set_new(map, key, o);
		}
		double before = json_number_value(json_object_get(o, field));
		json_object_set_new(o, field, json_real(before + l.v[i].value));
	}
	sq_list_free(&l);
}

static json_t *values_of(json_t *map)
{
	json_t *a = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(map, k, v)
		json_array_append(a, v);
	json_decref(map);
	return a;
}

/* Labels of the first series of selector, as an object (info metrics). */
static json_t *info_labels(const struct snap *s, const char *selector)
{
	struct sq_list l;
	json_t *o = json_object();
	if (sq_select(s->d->ctx, selector, SQ_LATEST, s->now_ms, s->lookback_ms, 1, &l))
		return o;
	for (size_t i = 0; l.n && i < l.v[0].parts.n; i++)
		if (strcmp(l.v[0].parts.m[i].name, "__name__") != 0)
			json_object_set_new(o, l.v[0].parts.m[i].name,
					    json_string(l.v[0].parts.m[i].value));
	sq_list_free(&l);
	return o;
}

static json_t *system_part(const struct snap *s)
{
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	double boot = total(s, "node_boot_time_seconds", SQ_LATEST);
	json_t *uname = info_labels(s, "node_uname_info");
	json_t *os = info_labels(s, "node_os_info");
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "hostname", host,
			 "uptime_s", num(s->now_ms / 1000.0 - boot), "load1",
			 num(total(s, "node_load1", SQ_LATEST)), "load5",
			 num(total(s, "node_load5", SQ_LATEST)), "load15",
			 num(total(s, "node_load15", SQ_LATEST)), "procs_running",
			 num(total(s, "node_procs_running", SQ_LATEST)), "procs_blocked",
			 num(total(s, "node_procs_blocked", SQ_LATEST)), "kernel",
			 json_incref(json_object_get(uname, "release") ? json_object_get(uname, "release")
								       : json_null()),
			 "uname", uname, "os", os);
}

/* CPU time per mode and the busy ratio; per-core series when there are,
 * else the cpu="total" ones of per_cpu = false. */
static json_t *cpu_part(const struct snap *s, double *busy)
{
	const char *sel = "node_cpu_seconds_total{cpu!=\"total\"}";
	json_t *modes = json_object();
	merge_by_label(s, modes, sel, SQ_RATE, "mode", "seconds_per_s");
	if (!json_object_size(modes)) {
		sel = "node_cpu_seconds_total{cpu=\"total\"}";
		merge_by_label(s, modes, sel, SQ_RATE, "mode", "seconds_per_s");
	}
	double all = 0, idle = 0;
	const char *k;
	json_t *v;
	json_object_foreach(modes, k, v)
	{
		double x = json_number_value(json_object_get(v, "seconds_per_s"));
		all += x;
		if (!strcmp(k, "idle") || !strcmp(k, "iowait"))
			idle += x;
	}
	*busy = all > 0 ? 1 - idle / all : NAN;
	json_t *ratios = json_object();
	json_object_foreach(modes, k, v)
		json_object_set_new(ratios, k, num(ratio(json_number_value(json_object_get(v, "seconds_per_s")), all)));
	json_decref(modes);
	struct sq_list cores;
	size_t n_cores = 0;
	if (!sq_select(s->d->ctx, "node_cpu_seconds_total{cpu!=\"total\",mode=\"idle\"}", SQ_LATEST,
		       s->now_ms, s->lookback_ms, SNAP_MAX_SERIES, &cores)) {
		n_cores = cores.n;
		sq_list_free(&cores);
	}
	return json_pack("{s:o, s:o, s:I}", "busy_ratio", num(*busy), "modes", ratios, "cores",
			 (json_int_t)n_cores);
}

static json_t *memory_part(const struct snap *s, double *used)
{
	double tot = total(s, "node_memory_MemTotal_bytes", SQ_LATEST);
	double avail = total(s, "node_memory_MemAvailable_bytes", SQ_LATEST);
	*used = isfinite(avail) ? 1 - ratio(avail, tot) : NAN;
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "total_bytes", num(tot),
			 "available_bytes", num(avail), "used_ratio", num(*used), "cached_bytes",
			 num(total(s, "node_memory_Cached_bytes", SQ_LATEST)), "swap_total_bytes",
			 num(total(s, "node_memory_SwapTotal_bytes", SQ_LATEST)), "swap_free_bytes",
			 num(total(s, "node_memory_SwapFree_bytes", SQ_LATEST)));
}

/* "cpu": {"some": 0.01, "full": 0}, ... from the 10 s averages. */
static json_t *pressure_part(const struct snap *s, double *worst)
{
	struct sq_list l;
	json_t *o = json_object();
	*worst = NAN;
	if (sq_select(s->d->ctx, "bearmon_pressure_avg_ratio{window=\"10s\"}", SQ_LATEST, s->now_ms,
		      s->lookback_ms, SNAP_MAX_SERIES, &l))
		return o;
	for (size_t i = 0; i < l.n; i++) {
		const char *res = sq_label(&l.v[i], "resource"), *kind = sq_label(&l.v[i], "kind");
		if (!res || !kind)
			continue;
		json_t *r = json_object_get(o, res);
		if (!r)
			json_object_set_new(o, res, r = json_object());
		json_object_set_new(r, kind, num(l.v[i].value));
		if (strcmp(kind, "some") == 0 && isfinite(l.v[i].value))
			*worst = isfinite(*worst) ? fmax(*worst, l.v[i].value) : l.v[i].value;
	}
	sq_list_free(&l);
	return o;
}

/* The largest value of field over the entries of an array. */
static double max_field(const json_t *arr, const char *field)
{
	double m = NAN;
	size_t i;
	const json_t *v;
	json_array_foreach(arr, i, v)
	{
		const json_t *x = json_object_get(v, field);
		if (json_is_number(x))
			m = isfinite(m) ? fmax(m, json_number_value(x)) : json_number_value(x);
	}
	return m;
}

static json_t *disks_part(const struct snap *s)
{
	json_t *m = json_object();
	merge_by_label(s, m, "node_disk_read_bytes_total", SQ_RATE, "device", "read_bytes_per_s");
	merge_by_label(s, m, "node_disk_written_bytes_total", SQ_RATE, "device", "write_bytes_per_s");
	merge_by_label(s, m, "node_disk_io_time_seconds_total", SQ_RATE, "device", "util_ratio");
	return values_of(m);
}

static json_t *filesystems_part(const struct snap *s)
{
	json_t *m = json_object();
	merge_by_label(s, m, "node_filesystem_size_bytes", SQ_LATEST, "mountpoint", "size_bytes");
	merge_by_label(s, m, "node_filesystem_avail_bytes", SQ_LATEST, "mountpoint", "avail_bytes");
	const char *k;
	json_t *v;
	json_object_foreach(m, k, v)
	{
		double size = json_number_value(json_object_get(v, "size_bytes"));
		double avail = json_number_value(json_object_get(v, "avail_bytes"));
		json_object_set_new(v, "used_ratio", num(size > 0 ? 1 - avail / size : NAN));
	}
	return values_of(m);
}

static json_t *gpus_part(const struct snap *s)
{
	static const char *const f[][2] = {
		{"bearmon_gpu_utilization_ratio", "utilization_ratio"},
		{"bearmon_gpu_memory_used_bytes", "memory_used_bytes"},
		{"bearmon_gpu_memory_total_bytes", "memory_total_bytes"},
		{"bearmon_gpu_temperature_celsius", "temperature_celsius"},
		{"bearmon_gpu_power_watts", "power_watts"},
	};
	json_t *m = json_object();
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		merge_by_label(s, m, f[i][0], SQ_LATEST, "gpu", f[i][1]);
	return values_of(m);
}

static json_t *network_part(const struct snap *s, double *bytes_per_s)
{
	static const char *const f[][2] = {
		{"node_network_receive_bytes_total", "receive_bytes_per_s"},
		{"node_network_transmit_bytes_total", "transmit_bytes_per_s"},
		{"node_network_receive_packets_total", "receive_packets_per_s"},
		{"node_network_transmit_packets_total", "transmit_packets_per_s"},
		{"node_network_receive_errs_total", "errors_per_s"},
		{"node_network_transmit_errs_total", "errors_per_s"},
		{"node_network_receive_drop_total", "drops_per_s"},
		{"node_network_transmit_drop_total", "drops_per_s"},
	};
	json_t *m = json_object();
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		merge_by_label(s, m, f[i][0], SQ_RATE, "device", f[i][1]);
	double rx = total(s, "node_network_receive_bytes_total{device!=\"lo\"}", SQ_RATE);
	double tx = total(s, "node_network_transmit_bytes_total{device!=\"lo\"}", SQ_RATE);
	*bytes_per_s = (isfinite(rx) ? rx : 0) + (isfinite(tx) ? tx : 0);
	return json_pack("{s:o, s:o, s:o}", "receive_bytes_per_s", num(rx), "transmit_bytes_per_s",
			 num(tx), "interfaces", values_of(m));
}

/* Agents: the registry entries seen, with their agent_* gauges and the
 * resources of their processes (collector/processes labels those with
 * `agent`). */
static json_t *agents_part(const struct snap *s)
{
	static const struct {
		const char *selector;
		const char *field;
		enum sq_mode mode;
	} g[] = {
		{"agent_up", "up", SQ_LATEST},
		{"agent_task_throughput", "throughput_per_s", SQ_LATEST},
		{"agent_task_duration_avg_seconds", "latency_avg_s", SQ_LATEST},
		{"agent_task_duration_seconds{quantile=\"0.5\"}", "latency_p50_s", SQ_LATEST},
		{"agent_task_duration_seconds{quantile=\"0.95\"}", "latency_p95_s", SQ_LATEST},
		{"agent_task_duration_seconds{quantile=\"0.99\"}", "latency_p99_s", SQ_LATEST},
		{"agent_error_ratio", "error_ratio", SQ_LATEST},
		{"agent_success_ratio", "success_ratio", SQ_LATEST},
		{"agent_availability_ratio", "availability_ratio", SQ_LATEST},
		{"agent_coordination_latency_seconds{peer=\"\"}", "coordination_latency_s", SQ_LATEST},
		{"agent_communication_overhead_ratio", "communication_overhead_ratio", SQ_LATEST},
		{"bearmon_process_cpu_seconds_total", "cpu_cores", SQ_RATE},
		{"bearmon_process_resident_memory_bytes", "resident_memory_bytes", SQ_LATEST},
		{"bearmon_process_read_bytes_total", "read_bytes_per_s", SQ_RATE},
		{"bearmon_process_write_bytes_total", "write_bytes_per_s", SQ_RATE},
	};
	json_t *m = json_object();
	json_t *reg = evcache_list(&s->d->cache, EC_AGENT, 0, 0);
	size_t i;
	json_t *ev;
	json_array_foreach(reg, i, ev)
	{
		const char *id = json_string_value(json_object_get(ev, "agent_id"));
		if (id)
			json_object_set_new(m, id, json_pack("{s:s, s:O?, s:O?, s:O?}", "agent", id,
							     "type", json_object_get(ev, "type"),
							     "state", json_object_get(ev, "state"),
							     "pid", json_object_get(ev, "pid")));
	}
	json_decref(reg);
	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++)
		merge_by_label(s, m, g[i].selector, g[i].mode, "agent", g[i].field);
	return values_of(m);
}

static json_t *derived_part(const struct snap *s, json_t *res, json_t *agents, double net)
{
	double thr = 0, err_w = 0, p95 = NAN, up = 0;
	size_t i;
	json_t *a;
	json_array_foreach(agents, i, a)
	{
		double t = json_number_value(json_object_get(a, "throughput_per_s"));
		double e = json_number_value(json_object_get(a, "error_ratio"));
		double l = json_number_value(json_object_get(a, "latency_p95_s"));
		thr += t;
		err_w += t * e;
		up += json_number_value(json_object_get(a, "up")) > 0;
		if (json_is_number(json_object_get(a, "latency_p95_s")))
			p95 = isfinite(p95) ? fmax(p95, l) : l;
	}
	const struct evcache *c = &s->d->cache;
	json_t *anoms = evcache_list(c, EC_ANOMALY, s->now_ms - 600000, 0);
	json_t *d = json_pack(
		"{s:O, s:O, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:I, s:I, s:I}", "cpu_busy_ratio",
		json_object_get(json_object_get(res, "cpu"), "busy_ratio"), "memory_used_ratio",
		json_object_get(json_object_get(res, "memory"), "used_ratio"),
		"fullest_filesystem_ratio", num(max_field(json_object_get(res, "filesystems"), "used_ratio")),
		"busiest_disk_util_ratio", num(max_field(json_object_get(res, "disks"), "util_ratio")),
		"network_bytes_per_s", num(net), "agents_total", (json_int_t)json_array_size(agents),
		"agents_up", (json_int_t)up, "agent_throughput_per_s", num(thr),
		"agent_error_ratio", num(ratio(err_w, thr)), "agent_latency_p95_max_s", num(p95),
		"alerts_active", (json_int_t)evcache_count(c, EC_ALERT), "anomalies_10m",
		(json_int_t)json_array_size(anoms), "bottlenecks_active",
		(json_int_t)evcache_count(c, EC_BOTTLENECK));
	json_decref(anoms);
	return d;
}

/* The penalty of a figure against its warning and critical levels. */
static double penalty(double v, double warn, double crit, double points)
{
	if (!isfinite(v) || v < warn)
		return 0;
	return v >= crit ? points : points / 2;
}

static json_t *component(const char *name, double score)
{
	const char *status = score >= 80 ? "ok" : score >= 50 ? "degraded" : "critical";
	return json_pack("{s:s, s:f, s:s}", "component", name, "score", score, "status", status);
}

/* Without a health analyzer: 100 minus penalties of the resources and of
 * the active alerts; documented in the README as coarse. */
static json_t *computed_health(const struct snap *s, json_t *derived, double pressure)
{
	double cpu = json_number_value(json_object_get(derived, "cpu_busy_ratio"));
	double mem = json_number_value(json_object_get(derived, "memory_used_ratio"));
	double fs = json_number_value(json_object_get(derived, "fullest_filesystem_ratio"));
	double alerts = (double)evcache_count(&s->d->cache, EC_ALERT);
	double c_cpu = 100 - penalty(cpu, 0.75, 0.9, 40) - penalty(pressure, 0.1, 0.25, 30);
	double c_mem = 100 - penalty(mem, 0.8, 0.95, 50);
	double c_disk = 100 - penalty(fs, 0.85, 0.95, 50);
	double overall = fmin(fmin(c_cpu, c_mem), c_disk) - fmin(30, 10 * alerts);
	json_t *comps = json_pack("[o, o, o]", component("cpu", c_cpu), component("memory", c_mem),
				  component("disk", c_disk));
	return json_pack("{s:s, s:o, s:o}", "source", "computed", "overall",
			 component("overall", fmax(0, overall)), "components", comps);
}

static json_t *health_part(const struct snap *s, json_t *derived, double pressure)
{
	json_t *list = evcache_list(&s->d->cache, EC_HEALTH, 0, 0);
	if (!json_array_size(list)) {
		json_decref(list);
		return computed_health(s, derived, pressure);
	}
	json_t *overall = json_null(), *comps = json_array();
	size_t i;
	json_t *h;
	json_array_foreach(list, i, h)
	{
		const char *name = json_string_value(json_object_get(h, "component"));
		if (name && strcmp(name, "overall") == 0)
			overall = json_incref(h);
		else
			json_array_append(comps, h);
	}
	json_decref(list);
	return json_pack("{s:s, s:o, s:o}", "source", "analyzer", "overall", overall, "components",
			 comps);
}

static json_t *events_part(const struct snap *s)
{
	const struct evcache *c = &s->d->cache;
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "alerts", evcache_list(c, EC_ALERT, 0, 0),
			 "bottlenecks", evcache_list(c, EC_BOTTLENECK, 0, 0), "recommendations",
			 evcache_list(c, EC_RECOMMENDATION, 0, SNAP_EVENTS), "anomalies",
			 evcache_list(c, EC_ANOMALY, 0, SNAP_EVENTS), "actions",
			 evcache_list(c, EC_ACTION, 0, SNAP_EVENTS));
}

static json_t *snapshot(struct snap *s)
{
	double busy, used, pressure, net;
	json_t *res = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "cpu", cpu_part(s, &busy), "memory",
				memory_part(s, &used), "pressure", pressure_part(s, &pressure),
				"disks", disks_part(s), "filesystems", filesystems_part(s), "gpus",
				gpus_part(s));
	json_t *network = network_part(s, &net);
	json_t *agents = agents_part(s);
	json_t *derived = res && agents ? derived_part(s, res, agents, net) : NULL;
	json_t *health = derived ? health_part(s, derived, pressure) : NULL;
	return json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "status", "ok", "ts_ms",
			 (json_int_t)s->now_ms, "system", system_part(s), "resources", res,
			 "network", network, "agents", agents, "derived", derived, "health", health,
			 "events", events_part(s));
}

void dash_on_snapshot(void *user, struct bm_http_req *req)
{
	struct dash *d = user;
	if (strcmp(bm_http_method(req), "GET") != 0 && strcmp(bm_http_method(req), "HEAD") != 0) {
		bm_http_add_header(req, "Allow", "GET, HEAD");
		plugin_reply_error(req, 405, "use GET");
		return;
	}
	struct snap s = {d, bm_now_ms(d->ctx), d->conf->snapshot_lookback_ms};
	const char *at = bm_http_query(req, "time");
	if (at) {
		char *end;
		long long t = strtoll(at, &end, 10);
		if (!*at || *end || t <= 0) {
			plugin_reply_error(req, 400, "time: ms since the epoch");
			return;
		}
		s.now_ms = t;
	}
	json_t *j = snapshot(&s);
	if (!j) {
		plugin_reply_error(req, 500, "out of memory");
		return;
	}
	plugin_reply_json(req, 200, j);
}
