/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/bottleneck: the configuration shared by its files, and the
 * list of threshold checks (one warning and one critical option each).
 */
#ifndef BEARMON_BOTTLENECK_H
#define BEARMON_BOTTLENECK_H

#include <stdint.h>

#include <bearmon/bm_option.h>

/*
 * X(id, option prefix, warning default, critical default, what is compared)
 * Each check gives the options PREFIX_warning and PREFIX_critical: a value
 * at or above the first makes a warning finding, at or above the second a
 * critical one.
 */
/* clang-format off */
#define BN_CHECKS(X)                                                                               \
	X(CHK_CPU_UTIL, "cpu_utilisation", "0.85", "0.95", "share of CPU time busy (0..1)")        \
	X(CHK_CPU_PSI, "cpu_pressure", "0.25", "0.6",                                              \
	  "share of time some task waited for a CPU (PSI cpu some, 0..1)")                         \
	X(CHK_CPU_RUNQ, "cpu_run_queue", "2", "4", "runnable tasks per core")                      \
	X(CHK_CPU_STEAL, "cpu_steal", "0.1", "0.3", "share of CPU time stolen by the hypervisor")  \
	X(CHK_MEM_UTIL, "memory_utilisation", "0.9", "0.97",                                       \
	  "share of memory in use (1 - MemAvailable / MemTotal)")                                  \
	X(CHK_MEM_PSI_SOME, "memory_pressure", "0.1", "0.3",                                       \
	  "share of time some task stalled on memory (PSI memory some)")                           \
	X(CHK_MEM_PSI_FULL, "memory_stall", "0.05", "0.15",                                        \
	  "share of time all tasks stalled on memory (PSI memory full)")                           \
	X(CHK_MEM_SWAP, "memory_swap", "100", "1000", "pages swapped in and out per second")       \
	X(CHK_MEM_OOM, "memory_oom_kills", "1", "1", "OOM kills within error_window")              \
	X(CHK_IO_PSI_SOME, "io_pressure", "0.2", "0.5",                                            \
	  "share of time some task waited for IO (PSI io some)")                                   \
	X(CHK_IO_PSI_FULL, "io_stall", "0.1", "0.3",                                               \
	  "share of time all tasks waited for IO (PSI io full)")                                   \
	X(CHK_DISK_UTIL, "disk_utilisation", "0.8", "0.95", "share of time the device was busy")   \
	X(CHK_DISK_QUEUE, "disk_queue", "8", "32", "average requests queued or in flight")         \
	X(CHK_DISK_AWAIT, "disk_await", "0.05", "0.2",                                             \
	  "average seconds per completed request (with at least 1 request/s)")                     \
	X(CHK_NET_UTIL, "network_utilisation", "0.8", "0.95",                                      \
	  "busier direction over the link speed (interfaces in link_speeds only)")                 \
	X(CHK_NET_DROPS, "network_drops", "1", "100", "packets dropped per second")                \
	X(CHK_NET_ERRORS, "network_errors", "0.1", "10", "receive and transmit errors per second") \
	X(CHK_TCP_RETRANS, "tcp_retransmits", "0.02", "0.1",                                       \
	  "retransmitted over sent TCP segments (with at least 10 segments/s)")                    \
	X(CHK_TCP_LISTEN, "tcp_listen_overflows", "0.1", "10",                                     \
	  "connections dropped by full listen queues per second")                                  \
	X(CHK_GPU_UTIL, "gpu_utilisation", "0.9", "0.98", "GPU busy ratio")                        \
	X(CHK_GPU_MEM, "gpu_memory", "0.9", "0.98", "share of GPU memory used")                    \
	X(CHK_GPU_THROTTLE, "gpu_throttle", "1", "2",                                              \
	  "active slowdown reasons (hardware, thermal, power brake)")                              \
	X(CHK_GPU_ERRORS, "gpu_errors", "1", "1",                                                  \
	  "XID and uncorrected ECC errors within error_window")                                    \
	X(CHK_AGENT_LATENCY, "agent_coordination_latency", "0.5", "2",                             \
	  "seconds from request to answer with the slowest peer")                                  \
	X(CHK_AGENT_SYNC, "agent_sync_wait", "0.2", "0.5",                                         \
	  "seconds spent waiting for peers per second")                                            \
	X(CHK_AGENT_OVERHEAD, "agent_overhead", "0.3", "0.6",                                      \
	  "coordination and sync time over task time")                                             \
	X(CHK_AGENT_ERRORS, "agent_error_ratio", "0.05", "0.2", "share of tasks that failed")      \
	X(CHK_MODEL_KV, "model_kv_cache", "0.9", "0.98", "KV-cache usage (0..1)")                  \
	X(CHK_MODEL_QUEUE, "model_queue", "5", "20", "requests waiting for the model server")      \
	X(CHK_MODEL_TTFT, "model_ttft", "1", "5", "average seconds to the first token")            \
	X(CHK_MODEL_QUEUE_TIME, "model_queue_time", "0.5", "2",                                    \
	  "average seconds a request waited in the queue")                                         \
	X(CHK_MODEL_PREEMPT, "model_preemptions", "0.1", "1", "preempted requests per second")     \
	X(CHK_CG_THROTTLE, "cgroup_throttling", "0.25", "0.5",                                     \
	  "share of CPU periods a cgroup was throttled in")                                        \
	X(CHK_CG_MEM, "cgroup_memory", "0.9", "0.97",                                              \
	  "working set over the cgroup's memory limit")                                            \
	X(CHK_CG_OOM, "cgroup_oom_kills", "1", "1", "OOM kills in a cgroup within error_window")
/* clang-format on */

#define BN_CHECK_ENUM(id, opt, w, c, help) id,
enum bn_check { BN_CHECKS(BN_CHECK_ENUM) CHK_N };
#undef BN_CHECK_ENUM

struct bn_conf {
	int64_t hold_ms;	   /* a condition must hold this long to be published */
	int64_t clear_ms;	   /* ... and be gone this long to be resolved */
	int64_t republish_ms;	   /* re-publication period of a finding that holds */
	int64_t series_timeout_ms; /* series without samples this long are forgotten */
	int64_t error_window_ms;   /* how long an error event counts */
	int64_t note_ttl_ms;	   /* how long anomaly/trend/forecast events count */
	int64_t max_series;
	int64_t max_findings;
	int64_t top_processes;	   /* processes named in advice */
	struct bm_map link_speeds; /* device -> link speed in Mbit/s */
	char *route;		   /* HTTP path of the listing; "" none */
	double thr[CHK_N][2];	   /* [check][0 warning, 1 critical] */
};

#endif
