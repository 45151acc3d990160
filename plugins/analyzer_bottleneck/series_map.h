/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which metric series the bottleneck rules read, and which resource a series
 * belongs to ("cpu", "disk:sda", "agent:planner-1", ...). Shared with
 * analyzer/health, which maps the same resources onto health components.
 */
#ifndef BEARMON_SERIES_MAP_H
#define BEARMON_SERIES_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

/* Resource families: one per kind of thing the USE method looks at. */
enum sm_family {
	SM_NONE = 0,
	SM_CPU,	   /* "cpu" */
	SM_MEMORY, /* "memory" */
	SM_IO,	   /* "io": host-wide IO pressure */
	SM_DISK,   /* "disk:<device>" */
	SM_NET,	   /* "net:<device>" */
	SM_TCP,	   /* "tcp": the host's TCP stack */
	SM_GPU,	   /* "gpu:<index>" */
	SM_AGENT,  /* "agent:<agent id>" */
	SM_MODEL,  /* "model:<model name>" */
	SM_CGROUP, /* "cgroup:<path>" */
	SM_PROC,   /* "proc:<pid>": context for the cpu, memory and disk advice */
	SM_N_FAMILIES,
};

/* How a measure's value is obtained from its series. */
enum sm_source {
	SM_GAUGE,  /* the latest value */
	SM_RATE,   /* per-second rate of a counter between consecutive samples */
	SM_EVENTS, /* increase of a counter within the error window (rare events) */
};

/* How the series of one measure of one resource are combined. */
enum sm_agg { SM_SUM, SM_MAX };

/* Every input the rules read. A series feeds exactly one measure. */
enum sm_measure {
	M_CPU_BUSY, /* cpu seconds/s in every mode but idle, iowait, steal */
	M_CPU_IDLE,
	M_CPU_IOWAIT,
	M_CPU_STEAL,
	M_CPU_PSI_SOME, /* seconds waiting per second = share of time */
	M_CPU_RUNNABLE, /* tasks running or ready */
	M_CPU_LOAD1,
	M_MEM_AVAILABLE,
	M_MEM_TOTAL,
	M_SWAP_IN,  /* pages/s */
	M_SWAP_OUT, /* pages/s */
	M_MAJFAULT, /* major faults/s */
	M_OOM_KILLS,
	M_MEM_PSI_SOME,
	M_MEM_PSI_FULL,
	M_IO_PSI_SOME,
	M_IO_PSI_FULL,
	M_DISK_BUSY,  /* busy seconds/s = utilisation */
	M_DISK_QUEUE, /* weighted io seconds/s = average queue length */
	M_DISK_TIME,  /* read + write seconds/s */
	M_DISK_OPS,   /* reads + writes completed/s */
	M_NET_RX_BYTES,
	M_NET_TX_BYTES,
	M_NET_ERRORS,  /* receive + transmit errors/s */
	M_NET_DROPS,   /* receive + transmit drops/s */
	M_NET_PACKETS, /* receive + transmit packets/s */
	M_TCP_RETRANS,
	M_TCP_OUT_SEGS,
	M_TCP_LISTEN_OVERFLOWS,
	M_GPU_UTIL,
	M_GPU_MEM_USED,
	M_GPU_MEM_TOTAL,
	M_GPU_THROTTLE, /* active slowdown reasons (count) */
	M_GPU_ECC,	/* uncorrected ECC errors in the window */
	M_GPU_XID,	/* XID errors in the window */
	M_AGENT_COORD_LATENCY,
	M_AGENT_SYNC_WAIT, /* seconds waiting for peers per second */
	M_AGENT_OVERHEAD,
	M_AGENT_ERROR_RATIO,
	M_AGENT_P95,
	M_MODEL_KV_CACHE,
	M_MODEL_WAITING,
	M_MODEL_RUNNING,
	M_MODEL_TTFT_SUM,
	M_MODEL_TTFT_COUNT,
	M_MODEL_QUEUE_SUM,
	M_MODEL_QUEUE_COUNT,
	M_MODEL_GEN_TOKENS,
	M_MODEL_PREEMPTIONS,
	M_CG_PERIODS,
	M_CG_THROTTLED,
	M_CG_MEM_WS,
	M_CG_MEM_LIMIT,
	M_CG_OOM,
	M_PROC_CPU, /* cpu seconds/s of one process */
	M_PROC_RSS,
	M_PROC_IO, /* read + write bytes/s of one process */
	M_N,
};

struct sm_measure_info {
	enum sm_family family;
	enum sm_source source;
	enum sm_agg agg;
};
extern const struct sm_measure_info sm_measures[M_N];

/* A series the rules read, as the lookup found it. */
struct sm_match {
	enum sm_measure measure;
	double scale;	    /* applied to the value (e.g. 1e-6 for microseconds) */
	const char *metric; /* static copy of the metric name, for evidence */
};

/* The resource a series belongs to. resource is written to the caller's
 * buffer; label_name/label_value point into the sample's labels (NULL for
 * host-wide resources) and detail to its process name or agent peer. */
struct sm_resource {
	enum sm_family family;
	char *resource;
	const char *label_name;
	const char *label_value;
	const char *detail;
};

/* Cheap test on the name alone: false when no rule can want the series. */
bool sm_name_may_match(const char *name);
/*
 * The measure fed by name{labels}, and its resource into res (buf of n
 * bytes holds the resource name). false when the rules do not read it or
 * a label the resource needs is missing.
 */
bool sm_lookup(const char *name, const struct bm_label *labels, uint32_t n_labels,
	       struct sm_match *m, struct sm_resource *res, char *buf, size_t n);
/*
 * The resource of any series of a known family, by name prefix
 * (node_disk_* with a device label is disk:<device>, agent_* with an agent
 * label is agent:<id>, ...), for events about series the rules do not
 * read. false when the family is unknown or its label is missing.
 */
bool sm_classify(const char *name, const struct bm_label *labels, uint32_t n_labels,
		 struct sm_resource *res, char *buf, size_t n);
/* Value of label name, or NULL. */
const char *sm_label(const struct bm_label *l, uint32_t n, const char *name);
/* Family of a resource name ("disk:sda" -> SM_DISK); SM_NONE when unknown. */
enum sm_family sm_family_of(const char *resource);

#endif
