/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The series the bottleneck rules read (names from the collectors' READMEs,
 * sdk/PROTOCOL.md and the model servers' documented metrics) and the
 * resource each belongs to. See series_map.h.
 */
#include "series_map.h"

#include <stdio.h>
#include <string.h>

#define G SM_GAUGE
#define R SM_RATE
#define E SM_EVENTS

/* clang-format off */
const struct sm_measure_info sm_measures[M_N] = {
	[M_CPU_BUSY] = {SM_CPU, R, SM_SUM},
	[M_CPU_IDLE] = {SM_CPU, R, SM_SUM},
	[M_CPU_IOWAIT] = {SM_CPU, R, SM_SUM},
	[M_CPU_STEAL] = {SM_CPU, R, SM_SUM},
	[M_CPU_PSI_SOME] = {SM_CPU, R, SM_SUM},
	[M_CPU_RUNNABLE] = {SM_CPU, G, SM_SUM},
	[M_CPU_LOAD1] = {SM_CPU, G, SM_SUM},
	[M_MEM_AVAILABLE] = {SM_MEMORY, G, SM_SUM},
	[M_MEM_TOTAL] = {SM_MEMORY, G, SM_SUM},
	[M_SWAP_IN] = {SM_MEMORY, R, SM_SUM},
	[M_SWAP_OUT] = {SM_MEMORY, R, SM_SUM},
	[M_MAJFAULT] = {SM_MEMORY, R, SM_SUM},
	[M_OOM_KILLS] = {SM_MEMORY, E, SM_SUM},
	[M_MEM_PSI_SOME] = {SM_MEMORY, R, SM_SUM},
	[M_MEM_PSI_FULL] = {SM_MEMORY, R, SM_SUM},
	[M_IO_PSI_SOME] = {SM_IO, R, SM_SUM},
	[M_IO_PSI_FULL] = {SM_IO, R, SM_SUM},
	[M_DISK_BUSY] = {SM_DISK, R, SM_SUM},
	[M_DISK_QUEUE] = {SM_DISK, R, SM_SUM},
	[M_DISK_TIME] = {SM_DISK, R, SM_SUM},
	[M_DISK_OPS] = {SM_DISK, R, SM_SUM},
	[M_NET_RX_BYTES] = {SM_NET, R, SM_SUM},
	[M_NET_TX_BYTES] = {SM_NET, R, SM_SUM},
	[M_NET_ERRORS] = {SM_NET, R, SM_SUM},
	[M_NET_DROPS] = {SM_NET, R, SM_SUM},
	[M_NET_PACKETS] = {SM_NET, R, SM_SUM},
	[M_TCP_RETRANS] = {SM_TCP, R, SM_SUM},
	[M_TCP_OUT_SEGS] = {SM_TCP, R, SM_SUM},
	[M_TCP_LISTEN_OVERFLOWS] = {SM_TCP, R, SM_SUM},
	[M_GPU_UTIL] = {SM_GPU, G, SM_MAX},
	[M_GPU_MEM_USED] = {SM_GPU, G, SM_SUM},
	[M_GPU_MEM_TOTAL] = {SM_GPU, G, SM_SUM},
	[M_GPU_THROTTLE] = {SM_GPU, G, SM_SUM},
	[M_GPU_ECC] = {SM_GPU, E, SM_SUM},
	[M_GPU_XID] = {SM_GPU, E, SM_SUM},
	[M_AGENT_COORD_LATENCY] = {SM_AGENT, G, SM_MAX},
	[M_AGENT_SYNC_WAIT] = {SM_AGENT, R, SM_SUM},
	[M_AGENT_OVERHEAD] = {SM_AGENT, G, SM_MAX},
	[M_AGENT_ERROR_RATIO] = {SM_AGENT, G, SM_MAX},
	[M_AGENT_P95] = {SM_AGENT, G, SM_MAX},
	[M_MODEL_KV_CACHE] = {SM_MODEL, G, SM_MAX},
	[M_MODEL_WAITING] = {SM_MODEL, G, SM_SUM},
	[M_MODEL_RUNNING] = {SM_MODEL, G, SM_SUM},
	[M_MODEL_TTFT_SUM] = {SM_MODEL, R, SM_SUM},
	[M_MODEL_TTFT_COUNT] = {SM_MODEL, R, SM_SUM},
	[M_MODEL_QUEUE_SUM] = {SM_MODEL, R, SM_SUM},
	[M_MODEL_QUEUE_COUNT] = {SM_MODEL, R, SM_SUM},
	[M_MODEL_GEN_TOKENS] = {SM_MODEL, R, SM_SUM},
	[M_MODEL_PREEMPTIONS] = {SM_MODEL, R, SM_SUM},
	[M_CG_PERIODS] = {SM_CGROUP, R, SM_SUM},
	[M_CG_THROTTLED] = {SM_CGROUP, R, SM_SUM},
	[M_CG_MEM_WS] = {SM_CGROUP, G, SM_SUM},
	[M_CG_MEM_LIMIT] = {SM_CGROUP, G, SM_SUM},
	[M_CG_OOM] = {SM_CGROUP, E, SM_SUM},
	[M_PROC_CPU] = {SM_PROC, R, SM_SUM},
	[M_PROC_RSS] = {SM_PROC, G, SM_SUM},
	[M_PROC_IO] = {SM_PROC, R, SM_SUM},
};
/* clang-format on */

#undef G
#undef R
#undef E

/* One metric name (optionally with one label value) and the measure it
 * feeds. Sorted by metric name in byte order (the unit test checks it);
 * entries of one name are tried in table order, so a label-specific entry
 * comes before the catch-all one. */
struct sm_entry {
	const char *metric;
	const char *label; /* NULL: any series of the metric */
	const char *value;
	enum sm_measure measure;
	double scale;
};

/* clang-format off */
static const struct sm_entry sm_table[] = {
	{"agent_communication_overhead_ratio", NULL, NULL, M_AGENT_OVERHEAD, 1},
	{"agent_coordination_latency_seconds", NULL, NULL, M_AGENT_COORD_LATENCY, 1},
	{"agent_error_ratio", NULL, NULL, M_AGENT_ERROR_RATIO, 1},
	{"agent_sync_wait_seconds_total", NULL, NULL, M_AGENT_SYNC_WAIT, 1},
	{"agent_task_duration_seconds", "quantile", "0.95", M_AGENT_P95, 1},
	{"bearmon_gpu_ecc_errors_total", "type", "uncorrected", M_GPU_ECC, 1},
	{"bearmon_gpu_memory_total_bytes", NULL, NULL, M_GPU_MEM_TOTAL, 1},
	{"bearmon_gpu_memory_used_bytes", NULL, NULL, M_GPU_MEM_USED, 1},
	{"bearmon_gpu_throttle_reasons", "reason", "hw_power_brake_slowdown", M_GPU_THROTTLE, 1},
	{"bearmon_gpu_throttle_reasons", "reason", "hw_slowdown", M_GPU_THROTTLE, 1},
	{"bearmon_gpu_throttle_reasons", "reason", "hw_thermal_slowdown", M_GPU_THROTTLE, 1},
	{"bearmon_gpu_throttle_reasons", "reason", "sw_thermal_slowdown", M_GPU_THROTTLE, 1},
	{"bearmon_gpu_utilization_ratio", NULL, NULL, M_GPU_UTIL, 1},
	{"bearmon_gpu_xid_errors_total", NULL, NULL, M_GPU_XID, 1},
	{"bearmon_process_cpu_seconds_total", NULL, NULL, M_PROC_CPU, 1},
	{"bearmon_process_read_bytes_total", NULL, NULL, M_PROC_IO, 1},
	{"bearmon_process_resident_memory_bytes", NULL, NULL, M_PROC_RSS, 1},
	{"bearmon_process_write_bytes_total", NULL, NULL, M_PROC_IO, 1},
	{"container_cpu_cfs_periods_total", NULL, NULL, M_CG_PERIODS, 1},
	{"container_cpu_cfs_throttled_periods_total", NULL, NULL, M_CG_THROTTLED, 1},
	{"container_memory_working_set_bytes", NULL, NULL, M_CG_MEM_WS, 1},
	{"container_oom_events_total", NULL, NULL, M_CG_OOM, 1},
	{"container_spec_memory_limit_bytes", NULL, NULL, M_CG_MEM_LIMIT, 1},
	{"node_cpu_seconds_total", "mode", "idle", M_CPU_IDLE, 1},
	{"node_cpu_seconds_total", "mode", "iowait", M_CPU_IOWAIT, 1},
	{"node_cpu_seconds_total", "mode", "steal", M_CPU_STEAL, 1},
	{"node_cpu_seconds_total", NULL, NULL, M_CPU_BUSY, 1},
	{"node_disk_io_time_seconds_total", NULL, NULL, M_DISK_BUSY, 1},
	{"node_disk_io_time_weighted_seconds_total", NULL, NULL, M_DISK_QUEUE, 1},
	{"node_disk_read_time_seconds_total", NULL, NULL, M_DISK_TIME, 1},
	{"node_disk_reads_completed_total", NULL, NULL, M_DISK_OPS, 1},
	{"node_disk_write_time_seconds_total", NULL, NULL, M_DISK_TIME, 1},
	{"node_disk_writes_completed_total", NULL, NULL, M_DISK_OPS, 1},
	{"node_load1", NULL, NULL, M_CPU_LOAD1, 1},
	{"node_memory_MemAvailable_bytes", NULL, NULL, M_MEM_AVAILABLE, 1},
	{"node_memory_MemTotal_bytes", NULL, NULL, M_MEM_TOTAL, 1},
	{"node_netstat_TcpExt_ListenOverflows", NULL, NULL, M_TCP_LISTEN_OVERFLOWS, 1},
	{"node_netstat_Tcp_OutSegs", NULL, NULL, M_TCP_OUT_SEGS, 1},
	{"node_netstat_Tcp_RetransSegs", NULL, NULL, M_TCP_RETRANS, 1},
	{"node_network_receive_bytes_total", NULL, NULL, M_NET_RX_BYTES, 1},
	{"node_network_receive_drop_total", NULL, NULL, M_NET_DROPS, 1},
	{"node_network_receive_errs_total", NULL, NULL, M_NET_ERRORS, 1},
	{"node_network_receive_packets_total", NULL, NULL, M_NET_PACKETS, 1},
	{"node_network_transmit_bytes_total", NULL, NULL, M_NET_TX_BYTES, 1},
	{"node_network_transmit_drop_total", NULL, NULL, M_NET_DROPS, 1},
	{"node_network_transmit_errs_total", NULL, NULL, M_NET_ERRORS, 1},
	{"node_network_transmit_packets_total", NULL, NULL, M_NET_PACKETS, 1},
	{"node_pressure_cpu_waiting_seconds_total", NULL, NULL, M_CPU_PSI_SOME, 1},
	{"node_pressure_io_stalled_seconds_total", NULL, NULL, M_IO_PSI_FULL, 1},
	{"node_pressure_io_waiting_seconds_total", NULL, NULL, M_IO_PSI_SOME, 1},
	{"node_pressure_memory_stalled_seconds_total", NULL, NULL, M_MEM_PSI_FULL, 1},
	{"node_pressure_memory_waiting_seconds_total", NULL, NULL, M_MEM_PSI_SOME, 1},
	{"node_procs_running", NULL, NULL, M_CPU_RUNNABLE, 1},
	{"node_vmstat_oom_kill", NULL, NULL, M_OOM_KILLS, 1},
	{"node_vmstat_pgmajfault", NULL, NULL, M_MAJFAULT, 1},
	{"node_vmstat_pswpin", NULL, NULL, M_SWAP_IN, 1},
	{"node_vmstat_pswpout", NULL, NULL, M_SWAP_OUT, 1},
	{"nv_inference_pending_request_count", NULL, NULL, M_MODEL_WAITING, 1},
	{"nv_inference_queue_duration_us", NULL, NULL, M_MODEL_QUEUE_SUM, 1e-6},
	{"nv_inference_request_success", NULL, NULL, M_MODEL_QUEUE_COUNT, 1},
	{"tgi_batch_current_size", NULL, NULL, M_MODEL_RUNNING, 1},
	{"tgi_queue_size", NULL, NULL, M_MODEL_WAITING, 1},
	{"tgi_request_queue_duration_count", NULL, NULL, M_MODEL_QUEUE_COUNT, 1},
	{"tgi_request_queue_duration_sum", NULL, NULL, M_MODEL_QUEUE_SUM, 1},
	{"vllm:generation_tokens_total", NULL, NULL, M_MODEL_GEN_TOKENS, 1},
	{"vllm:gpu_cache_usage_perc", NULL, NULL, M_MODEL_KV_CACHE, 1},
	{"vllm:kv_cache_usage_perc", NULL, NULL, M_MODEL_KV_CACHE, 1},
	{"vllm:num_preemptions_total", NULL, NULL, M_MODEL_PREEMPTIONS, 1},
	{"vllm:num_requests_running", NULL, NULL, M_MODEL_RUNNING, 1},
	{"vllm:num_requests_waiting", NULL, NULL, M_MODEL_WAITING, 1},
	{"vllm:request_queue_time_seconds_count", NULL, NULL, M_MODEL_QUEUE_COUNT, 1},
	{"vllm:request_queue_time_seconds_sum", NULL, NULL, M_MODEL_QUEUE_SUM, 1},
	{"vllm:time_to_first_token_seconds_count", NULL, NULL, M_MODEL_TTFT_COUNT, 1},
	{"vllm:time_to_first_token_seconds_sum", NULL, NULL, M_MODEL_TTFT_SUM, 1},
};
/* clang-format on */
#define SM_TABLE_LEN (sizeof(sm_table) / sizeof(sm_table[0]))

/* Families by name prefix, for sm_classify and the cheap name test. */
static const struct {
	const char *prefix;
	enum sm_family family;
} sm_prefixes[] = {
    {"node_cpu_", SM_CPU},
    {"node_load", SM_CPU},
    {"node_procs_", SM_CPU},
    {"node_pressure_cpu_", SM_CPU},
    {"bearmon_load_tasks_", SM_CPU},
    {"node_memory_", SM_MEMORY},
    {"node_vmstat_", SM_MEMORY},
    {"node_pressure_memory_", SM_MEMORY},
    {"node_pressure_io_", SM_IO},
    {"node_disk_", SM_DISK},
    {"node_filesystem_", SM_DISK},
    {"node_network_", SM_NET},
    {"node_netstat_Tcp", SM_TCP},
    {"bearmon_gpu_", SM_GPU},
    {"agent_", SM_AGENT},
    {"vllm:", SM_MODEL},
    {"tgi_", SM_MODEL},
    {"nv_inference_", SM_MODEL},
    {"container_", SM_CGROUP},
    {"bearmon_process_", SM_PROC},
};

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

bool sm_name_may_match(const char *name)
{
	switch (name[0]) {
	case 'a':
		return has_prefix(name, "agent_");
	case 'b':
		return has_prefix(name, "bearmon_gpu_") || has_prefix(name, "bearmon_process_");
	case 'c':
		return has_prefix(name, "container_");
	case 'n':
		return has_prefix(name, "node_") || has_prefix(name, "nv_inference_");
	case 't':
		return has_prefix(name, "tgi_");
	case 'v':
		return has_prefix(name, "vllm:");
	default:
		return false;
	}
}

const char *sm_label(const struct bm_label *l, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(l[i].name, name) == 0)
			return l[i].value;
	return NULL;
}

static const char *const sm_family_names[SM_N_FAMILIES] = {
    [SM_CPU] = "cpu",	  [SM_MEMORY] = "memory", [SM_IO] = "io",     [SM_DISK] = "disk",
    [SM_NET] = "net",	  [SM_TCP] = "tcp",	  [SM_GPU] = "gpu",   [SM_AGENT] = "agent",
    [SM_MODEL] = "model", [SM_CGROUP] = "cgroup", [SM_PROC] = "proc",
};

enum sm_family sm_family_of(const char *resource)
{
	size_t n = strcspn(resource, ":");
	for (int f = SM_CPU; f < SM_N_FAMILIES; f++)
		if (strlen(sm_family_names[f]) == n &&
		    strncmp(resource, sm_family_names[f], n) == 0)
			return (enum sm_family)f;
	return SM_NONE;
}

/* The label that names the resource within its family, and the name of
 * the label; NULL when the series lacks it (or is a MIG slice, whose
 * utilisation NVML does not report). */
static const char *resource_label(enum sm_family f, const struct bm_label *l, uint32_t n,
				  const char **label_name)
{
	static const char *const model_labels[] = {"model_name", "model", "instance", "job"};
	*label_name = NULL;
	switch (f) {
	case SM_DISK:
	case SM_NET:
		*label_name = "device";
		break;
	case SM_GPU:
		if (sm_label(l, n, "mig"))
			return NULL;
		*label_name = "gpu";
		break;
	case SM_AGENT:
		*label_name = "agent";
		break;
	case SM_CGROUP:
		*label_name = "cgroup";
		break;
	case SM_PROC:
		*label_name = sm_label(l, n, "pid") ? "pid" : "comm";
		break;
	case SM_MODEL:
		for (size_t i = 0; i < sizeof(model_labels) / sizeof(model_labels[0]); i++) {
			const char *v = sm_label(l, n, model_labels[i]);
			if (v) {
				*label_name = model_labels[i];
				return v;
			}
		}
		return "default";
	default:
		return "";
	}
	return sm_label(l, n, *label_name);
}

static bool resource_of(enum sm_family f, const struct bm_label *l, uint32_t n,
			struct sm_resource *res, char *buf, size_t len)
{
	const char *label_name;
	const char *v = resource_label(f, l, n, &label_name);
	if (!v || (label_name && !*v))
		return false;
	int w = *v ? snprintf(buf, len, "%s:%s", sm_family_names[f], v)
		   : snprintf(buf, len, "%s", sm_family_names[f]);
	if (w < 0 || (size_t)w >= len)
		return false;
	res->family = f;
	res->resource = buf;
	res->label_name = label_name;
	res->label_value = label_name ? v : NULL;
	res->detail = f == SM_PROC    ? sm_label(l, n, "comm")
		      : f == SM_AGENT ? sm_label(l, n, "peer")
				      : NULL;
	return true;
}

/* Index of the first entry named name, or SM_TABLE_LEN. */
static size_t first_entry(const char *name)
{
	size_t lo = 0, hi = SM_TABLE_LEN;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(sm_table[mid].metric, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < SM_TABLE_LEN && strcmp(sm_table[lo].metric, name) == 0 ? lo : SM_TABLE_LEN;
}

bool sm_lookup(const char *name, const struct bm_label *labels, uint32_t n_labels,
	       struct sm_match *m, struct sm_resource *res, char *buf, size_t n)
{
	for (size_t i = first_entry(name);
	     i < SM_TABLE_LEN && strcmp(sm_table[i].metric, name) == 0; i++) {
		const struct sm_entry *e = &sm_table[i];
		if (e->label) {
			const char *v = sm_label(labels, n_labels, e->label);
			if (!v || strcmp(v, e->value) != 0)
				continue;
		}
		m->measure = e->measure;
		m->scale = e->scale;
		m->metric = e->metric;
		return resource_of(sm_measures[e->measure].family, labels, n_labels, res, buf, n);
	}
	return false;
}

bool sm_classify(const char *name, const struct bm_label *labels, uint32_t n_labels,
		 struct sm_resource *res, char *buf, size_t n)
{
	for (size_t i = 0; i < sizeof(sm_prefixes) / sizeof(sm_prefixes[0]); i++)
		if (has_prefix(name, sm_prefixes[i].prefix))
			return resource_of(sm_prefixes[i].family, labels, n_labels, res, buf, n);
	return false;
}
