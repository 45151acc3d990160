/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The USE-method rules (see rules.h): what each check computes from a
 * resource's measures, which checks make which finding, the scoring and
 * the advice for people.
 */
#define _GNU_SOURCE
#include "rules.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Below these rates a ratio is noise: one slow request or one resent
 * segment among a handful says nothing about the resource. */
#define MIN_DISK_OPS_PER_S    1.0
#define MIN_TCP_SEGS_PER_S    10.0
#define MIN_CFS_PERIODS_PER_S 1.0

/* Confidence: one check over its threshold, more for each further one and
 * for each kind of corroborating event (anomaly, trend, forecast,
 * correlation). */
#define CONF_BASE	   0.6
#define CONF_PER_CHECK	   0.15
#define CONF_PER_NOTE_KIND 0.1

/* Processes named in advice use at least this share of the first one's. */
#define TOP_SHARE 0.1

static double nz(double x)
{
	return isnan(x) ? 0 : x;
}

/* min(x, 1), NaN staying NaN (fmin would return 1) */
static double at_most_1(double x)
{
	return x > 1 ? 1 : x;
}

static double ratio(double num, double den)
{
	return den > 0 ? num / den : NAN;
}

/* --- what each check computes --------------------------------------- */

static double cpu_total(const struct res_acc *a)
{
	double busy = ra_get(a, M_CPU_BUSY), idle = ra_get(a, M_CPU_IDLE);
	if (isnan(busy) || isnan(idle))
		return NAN;
	return busy + idle + nz(ra_get(a, M_CPU_IOWAIT)) + nz(ra_get(a, M_CPU_STEAL));
}

static double v_cpu_util(const struct res_acc *a, const struct rule_ctx *c)
{
	return ratio(ra_get(a, M_CPU_BUSY), cpu_total(a));
}

static double v_cpu_psi(const struct res_acc *a, const struct rule_ctx *c)
{
	return at_most_1(ra_get(a, M_CPU_PSI_SOME));
}

/* The rate of all CPU time is the number of cores (per-core or total). */
static double v_cpu_runq(const struct res_acc *a, const struct rule_ctx *c)
{
	double total = cpu_total(a);
	return isnan(total) ? NAN : ra_get(a, M_CPU_RUNNABLE) / fmax(1, round(total));
}

static double v_cpu_steal(const struct res_acc *a, const struct rule_ctx *c)
{
	return ratio(ra_get(a, M_CPU_STEAL), cpu_total(a));
}

static double v_mem_util(const struct res_acc *a, const struct rule_ctx *c)
{
	return 1 - ratio(ra_get(a, M_MEM_AVAILABLE), ra_get(a, M_MEM_TOTAL));
}

static double v_mem_psi_some(const struct res_acc *a, const struct rule_ctx *c)
{
	return at_most_1(ra_get(a, M_MEM_PSI_SOME));
}

static double v_mem_psi_full(const struct res_acc *a, const struct rule_ctx *c)
{
	return at_most_1(ra_get(a, M_MEM_PSI_FULL));
}

static double v_mem_swap(const struct res_acc *a, const struct rule_ctx *c)
{
	double in = ra_get(a, M_SWAP_IN), out = ra_get(a, M_SWAP_OUT);
	return isnan(in) && isnan(out) ? NAN : nz(in) + nz(out);
}

static double v_mem_oom(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_OOM_KILLS);
}

static double v_io_psi_some(const struct res_acc *a, const struct rule_ctx *c)
{
	return at_most_1(ra_get(a, M_IO_PSI_SOME));
}

static double v_io_psi_full(const struct res_acc *a, const struct rule_ctx *c)
{
	return at_most_1(ra_get(a, M_IO_PSI_FULL));
}

static double v_disk_util(const struct res_acc *a, const struct rule_ctx *c)
{
	return at_most_1(ra_get(a, M_DISK_BUSY));
}

static double v_disk_queue(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_DISK_QUEUE);
}

static double v_disk_await(const struct res_acc *a, const struct rule_ctx *c)
{
	double ops = ra_get(a, M_DISK_OPS);
	return ops >= MIN_DISK_OPS_PER_S ? ra_get(a, M_DISK_TIME) / ops : NAN;
}

static double v_net_util(const struct res_acc *a, const struct rule_ctx *c)
{
	for (size_t i = 0; i < c->n_links; i++)
		if (a->label_value && strcmp(c->links[i].device, a->label_value) == 0)
			return fmax(nz(ra_get(a, M_NET_RX_BYTES)), nz(ra_get(a, M_NET_TX_BYTES))) *
			       8 / c->links[i].bits_per_s;
	return NAN;
}

static double v_net_drops(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_NET_DROPS);
}

static double v_net_errors(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_NET_ERRORS);
}

static double v_tcp_retrans(const struct res_acc *a, const struct rule_ctx *c)
{
	double segs = ra_get(a, M_TCP_OUT_SEGS);
	return segs >= MIN_TCP_SEGS_PER_S ? ra_get(a, M_TCP_RETRANS) / segs : NAN;
}

static double v_tcp_listen(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_TCP_LISTEN_OVERFLOWS);
}

static double v_gpu_util(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_GPU_UTIL);
}

static double v_gpu_mem(const struct res_acc *a, const struct rule_ctx *c)
{
	return ratio(ra_get(a, M_GPU_MEM_USED), ra_get(a, M_GPU_MEM_TOTAL));
}

static double v_gpu_throttle(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_GPU_THROTTLE);
}

static double v_gpu_errors(const struct res_acc *a, const struct rule_ctx *c)
{
	double ecc = ra_get(a, M_GPU_ECC), xid = ra_get(a, M_GPU_XID);
	return isnan(ecc) && isnan(xid) ? NAN : nz(ecc) + nz(xid);
}

static double v_agent_latency(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_AGENT_COORD_LATENCY);
}

static double v_agent_sync(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_AGENT_SYNC_WAIT);
}

static double v_agent_overhead(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_AGENT_OVERHEAD);
}

static double v_agent_errors(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_AGENT_ERROR_RATIO);
}

static double v_model_kv(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_MODEL_KV_CACHE);
}

static double v_model_queue(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_MODEL_WAITING);
}

static double v_model_ttft(const struct res_acc *a, const struct rule_ctx *c)
{
	return ratio(ra_get(a, M_MODEL_TTFT_SUM), ra_get(a, M_MODEL_TTFT_COUNT));
}

static double v_model_queue_time(const struct res_acc *a, const struct rule_ctx *c)
{
	return ratio(ra_get(a, M_MODEL_QUEUE_SUM), ra_get(a, M_MODEL_QUEUE_COUNT));
}

static double v_model_preempt(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_MODEL_PREEMPTIONS);
}

static double v_cg_throttle(const struct res_acc *a, const struct rule_ctx *c)
{
	double periods = ra_get(a, M_CG_PERIODS);
	return periods >= MIN_CFS_PERIODS_PER_S ? ra_get(a, M_CG_THROTTLED) / periods : NAN;
}

static double v_cg_mem(const struct res_acc *a, const struct rule_ctx *c)
{
	return ratio(ra_get(a, M_CG_MEM_WS), ra_get(a, M_CG_MEM_LIMIT));
}

static double v_cg_oom(const struct res_acc *a, const struct rule_ctx *c)
{
	return ra_get(a, M_CG_OOM);
}

struct check_def {
	double (*value)(const struct res_acc *a, const struct rule_ctx *c); /* NaN: unknown */
	const char *fmt; /* text of the value after multiplying by display */
	double display;
	const char *unit;     /* unit of the evidence value (the unscaled one) */
	enum sm_measure cite; /* the measure whose series is cited */
	/* A fallback check fires only when this better measure is unknown; it
	 * still corroborates it. 0 (CHK_CPU_UTIL, never a fallback target):
	 * none. */
	enum bn_check unless;
};

_Static_assert(CHK_CPU_UTIL == 0, "check 0 must never be a fallback's better measure");

/* clang-format off */
/* Entries that name no fallback leave `unless` 0 (CHK_CPU_UTIL, never a
 * fallback's better measure, see above); clang would warn on each. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct check_def checks[CHK_N] = {
	[CHK_CPU_UTIL] = {v_cpu_util, "%.0f%% CPU busy", 100, "ratio", M_CPU_BUSY},
	[CHK_CPU_PSI] = {v_cpu_psi, "PSI cpu some %.0f%%", 100, "ratio", M_CPU_PSI_SOME},
	/* procs_running is one instantaneous count (and the whole machine's in
	 * many containers): where PSI exists it tells waiting time directly */
	[CHK_CPU_RUNQ] = {v_cpu_runq, "%.1f runnable tasks per core", 1, "tasks_per_core",
			  M_CPU_RUNNABLE, CHK_CPU_PSI},
	[CHK_CPU_STEAL] = {v_cpu_steal, "%.0f%% CPU time stolen", 100, "ratio", M_CPU_STEAL},
	[CHK_MEM_UTIL] = {v_mem_util, "%.0f%% of memory in use", 100, "ratio", M_MEM_AVAILABLE},
	[CHK_MEM_PSI_SOME] = {v_mem_psi_some, "PSI memory some %.0f%%", 100, "ratio",
			      M_MEM_PSI_SOME},
	[CHK_MEM_PSI_FULL] = {v_mem_psi_full, "PSI memory full %.0f%%", 100, "ratio",
			      M_MEM_PSI_FULL},
	[CHK_MEM_SWAP] = {v_mem_swap, "%.0f pages/s swapped", 1, "pages_per_second", M_SWAP_OUT},
	[CHK_MEM_OOM] = {v_mem_oom, "%.0f OOM kills", 1, "count", M_OOM_KILLS},
	[CHK_IO_PSI_SOME] = {v_io_psi_some, "PSI io some %.0f%%", 100, "ratio", M_IO_PSI_SOME},
	[CHK_IO_PSI_FULL] = {v_io_psi_full, "PSI io full %.0f%%", 100, "ratio", M_IO_PSI_FULL},
	[CHK_DISK_UTIL] = {v_disk_util, "%.0f%% busy", 100, "ratio", M_DISK_BUSY},
	[CHK_DISK_QUEUE] = {v_disk_queue, "average queue %.1f", 1, "requests", M_DISK_QUEUE},
	[CHK_DISK_AWAIT] = {v_disk_await, "%.0f ms per request", 1000, "seconds", M_DISK_TIME},
	[CHK_NET_UTIL] = {v_net_util, "%.0f%% of the link speed", 100, "ratio", M_NET_RX_BYTES},
	[CHK_NET_DROPS] = {v_net_drops, "%.1f packets dropped/s", 1, "per_second", M_NET_DROPS},
	[CHK_NET_ERRORS] = {v_net_errors, "%.1f errors/s", 1, "per_second", M_NET_ERRORS},
	[CHK_TCP_RETRANS] = {v_tcp_retrans, "%.1f%% of TCP segments retransmitted", 100, "ratio",
			     M_TCP_RETRANS},
	[CHK_TCP_LISTEN] = {v_tcp_listen, "%.1f listen overflows/s", 1, "per_second",
			    M_TCP_LISTEN_OVERFLOWS},
	[CHK_GPU_UTIL] = {v_gpu_util, "%.0f%% GPU busy", 100, "ratio", M_GPU_UTIL},
	[CHK_GPU_MEM] = {v_gpu_mem, "%.0f%% of GPU memory used", 100, "ratio", M_GPU_MEM_USED},
	[CHK_GPU_THROTTLE] = {v_gpu_throttle, "%.0f slowdown reasons active", 1, "count",
			      M_GPU_THROTTLE},
	[CHK_GPU_ERRORS] = {v_gpu_errors, "%.0f XID/uncorrected ECC errors", 1, "count", M_GPU_XID},
	[CHK_AGENT_LATENCY] = {v_agent_latency, "coordination latency %.2f s", 1, "seconds",
			       M_AGENT_COORD_LATENCY},
	[CHK_AGENT_SYNC] = {v_agent_sync, "%.0f%% of the time waiting for peers", 100, "ratio",
			    M_AGENT_SYNC_WAIT},
	[CHK_AGENT_OVERHEAD] = {v_agent_overhead, "communication overhead %.0f%%", 100, "ratio",
				M_AGENT_OVERHEAD},
	[CHK_AGENT_ERRORS] = {v_agent_errors, "%.0f%% of tasks failed", 100, "ratio",
			      M_AGENT_ERROR_RATIO},
	[CHK_MODEL_KV] = {v_model_kv, "KV cache %.0f%% full", 100, "ratio", M_MODEL_KV_CACHE},
	[CHK_MODEL_QUEUE] = {v_model_queue, "%.0f requests waiting", 1, "requests",
			     M_MODEL_WAITING},
	[CHK_MODEL_TTFT] = {v_model_ttft, "time to first token %.2f s", 1, "seconds",
			    M_MODEL_TTFT_SUM},
	[CHK_MODEL_QUEUE_TIME] = {v_model_queue_time, "queue time %.2f s", 1, "seconds",
				  M_MODEL_QUEUE_SUM},
	[CHK_MODEL_PREEMPT] = {v_model_preempt, "%.2f preemptions/s", 1, "per_second",
			       M_MODEL_PREEMPTIONS},
	[CHK_CG_THROTTLE] = {v_cg_throttle, "throttled in %.0f%% of CPU periods", 100, "ratio",
			     M_CG_THROTTLED},
	[CHK_CG_MEM] = {v_cg_mem, "working set at %.0f%% of its limit", 100, "ratio", M_CG_MEM_WS},
	[CHK_CG_OOM] = {v_cg_oom, "%.0f OOM kills", 1, "count", M_CG_OOM},
};
#pragma GCC diagnostic pop
/* clang-format on */

/* --- drafting a finding ------------------------------------------------ */

__attribute__((format(printf, 6, 7))) static void ev_add(struct bn_draft *d, const char *metric,
							 const struct res_acc *of, double value,
							 const char *unit, const char *fmt, ...)
{
	if (d->n_ev >= BN_MAX_EVIDENCE)
		return;
	size_t i = d->n_ev++;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->ev_text[i], sizeof(d->ev_text[i]), fmt, ap);
	va_end(ap);
	struct bm_evidence *e = &d->ev[i];
	*e = (struct bm_evidence){.text = d->ev_text[i], .value = value, .unit = unit};
	e->series.name = metric;
	if (metric && of && of->label_name) {
		d->ev_label[i] = (struct bm_label){of->label_name, of->label_value};
		e->series.labels = &d->ev_label[i];
		e->series.n_labels = 1;
	}
}

__attribute__((format(printf, 3, 4))) static void text_add(char *buf, size_t n, const char *fmt,
							   ...)
{
	size_t len = strlen(buf);
	if (len + 1 >= n)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + len, n - len, fmt, ap);
	va_end(ap);
}

void rules_bytes_text(char *buf, size_t n, double bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;
	while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* The check's value in words, e.g. "PSI cpu some 45%". */
static void check_text(char *buf, size_t n, enum bn_check ck, double x)
{
	snprintf(buf, n, checks[ck].fmt, x * checks[ck].display);
}

/* Evidence for one check; a check over a threshold names it. */
static void check_evidence(struct bn_draft *d, const struct rule_ctx *c, enum bn_check ck, double x)
{
	const double *thr = c->conf->thr[ck];
	char text[160];
	check_text(text, sizeof(text), ck, x);
	const char *metric = d->acc->metric[checks[ck].cite];
	if (x >= thr[1])
		ev_add(d, metric, d->acc, x, checks[ck].unit, "%s (critical at %g)", text, thr[1]);
	else if (x >= thr[0])
		ev_add(d, metric, d->acc, x, checks[ck].unit, "%s (warning at %g)", text, thr[0]);
	else
		ev_add(d, metric, d->acc, x, checks[ck].unit, "%s", text);
}

/* Anomaly, trend, forecast and correlation events on the resource:
 * evidence, and the number of distinct kinds among them. */
static int notes_evidence(struct bn_draft *d, const struct rule_ctx *c)
{
	const struct note *found[4];
	size_t n = notes_for(c->notes, d->acc->resource, c->now_ms, c->conf->note_ttl_ms, found, 4);
	bool kinds[NOTE_N_KINDS] = {false};
	int n_kinds = 0;
	for (size_t i = 0; i < n; i++) {
		ev_add(d, found[i]->series, d->acc, found[i]->value, found[i]->unit, "%s",
		       found[i]->text);
		n_kinds += !kinds[found[i]->kind];
		kinds[found[i]->kind] = true;
	}
	return n_kinds;
}

/* --- advice -------------------------------------------------------------- */

/* "X (pid 12) 180% CPU, Y (pid 7) 40% CPU" for the top processes by m,
 * each also cited as evidence. */
static void top_processes(struct bn_draft *d, const struct rule_ctx *c, enum sm_measure m,
			  char *out, size_t n)
{
	const struct res_acc *top[16];
	size_t want = (size_t)c->conf->top_processes;
	size_t k = rs_top(c->rs, m, top, want < 16 ? want : 16);
	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		const struct res_acc *p = top[i];
		if (p->v[m] < TOP_SHARE * top[0]->v[m])
			break; /* a process far behind the first tells nothing */
		const char *comm = p->detail[m] ? p->detail[m] : p->label_value;
		char what[64], who[160];
		double v = p->v[m];
		if (m == M_PROC_CPU)
			snprintf(what, sizeof(what), "%.0f%% CPU", v * 100);
		else if (m == M_PROC_IO) {
			rules_bytes_text(what, sizeof(what) - 2, v);
			strcat(what, "/s");
		} else
			rules_bytes_text(what, sizeof(what), v);
		if (strcmp(p->label_name, "pid") == 0)
			snprintf(who, sizeof(who), "%s (pid %s)", comm, p->label_value);
		else
			snprintf(who, sizeof(who), "%s", comm);
		text_add(out, n, "%s%s %s", i ? ", " : "", who, what);
		ev_add(d, p->metric[m], p, v,
		       m == M_PROC_CPU	? "ratio"
		       : m == M_PROC_IO ? "bytes_per_second"
					: "bytes",
		       "process %s: %s", who, what);
	}
}

/* advice = "top processes: ...; " (when known) + tail */
static void advise_with_processes(const struct rule_ctx *c, struct bn_draft *d, enum sm_measure m,
				  const char *label, const char *tail)
{
	char procs[300];
	top_processes(d, c, m, procs, sizeof(procs));
	if (procs[0])
		snprintf(d->advice, sizeof(d->advice), "%s: %s; %s", label, procs, tail);
	else
		snprintf(d->advice, sizeof(d->advice), "%s", tail);
}

static bool fires(const struct rule_ctx *c, const struct bn_draft *d, enum bn_check ck)
{
	double x = checks[ck].value(d->acc, c);
	return x >= c->conf->thr[ck][0];
}

static void cpu_context(const struct rule_ctx *c, struct bn_draft *d)
{
	double load1 = ra_get(d->acc, M_CPU_LOAD1);
	if (!isnan(load1))
		ev_add(d, d->acc->metric[M_CPU_LOAD1], NULL, load1, NULL,
		       "load average (1 min) %.2f", load1);
}

static void advise_cpu_util(const struct rule_ctx *c, struct bn_draft *d)
{
	cpu_context(c, d);
	advise_with_processes(
	    c, d, M_PROC_CPU, "top processes",
	    "fine for batch work; if latency matters, spread the load or add cores");
}

static void advise_cpu_sat(const struct rule_ctx *c, struct bn_draft *d)
{
	cpu_context(c, d);
	advise_with_processes(c, d, M_PROC_CPU, "top processes",
			      fires(c, d, CHK_CPU_STEAL)
				  ? "the hypervisor withholds CPU time (steal): move the VM or ask "
				    "for dedicated cores"
				  : "reduce concurrency or add cores");
}

static void advise_mem_util(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_with_processes(
	    c, d, M_PROC_RSS, "largest processes",
	    "free memory (caches, leaks, idle services) or add RAM before the kernel must reclaim");
}

static void advise_mem_sat(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_with_processes(c, d, M_PROC_RSS, "largest processes",
			      "tasks stall on reclaim and swap: reduce memory use, set memory "
			      "limits on the largest consumers or add RAM");
}

static void advise_mem_errors(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_with_processes(
	    c, d, M_PROC_RSS, "largest processes",
	    "the kernel killed processes to free memory: set memory limits, fix leaks or add RAM");
}

static void advise_io(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_with_processes(c, d, M_PROC_IO, "busiest processes",
			      "spread IO over more devices, lower the IO priority of batch jobs "
			      "(ionice) or use faster storage");
}

static void advise_text(struct bn_draft *d, const char *text)
{
	snprintf(d->advice, sizeof(d->advice), "%s", text);
}

static void advise_net_util(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(
	    d, "the link is near its capacity: rate-limit bulk transfers or move to a faster link");
}

static void advise_net_drops(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(d, "packets are dropped: raise the NIC ring buffers (ethtool -G) and socket "
		       "buffers, or lower the packet rate");
}

static void advise_net_errors(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(
	    d, "interface errors: check the cable, the NIC, its driver and the duplex setting");
}

static void advise_tcp(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(d, fires(c, d, CHK_TCP_LISTEN)
			   ? "listen queues overflow: accept faster or raise the backlog "
			     "(net.core.somaxconn and the listen() argument)"
			   : "segments are resent: look for packet loss or congestion on the path");
}

static void advise_gpu_util(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(d, "the GPU is fully used: good for throughput; add GPUs if latency suffers");
}

static void advise_gpu_sat(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(d, fires(c, d, CHK_GPU_THROTTLE)
			   ? "clocks are throttled: check cooling and power limits (nvidia-smi -q "
			     "-d PERFORMANCE)"
			   : "GPU memory is nearly full: lower the batch size or model footprint, "
			     "or add GPU memory");
}

static void advise_gpu_errors(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(d, "XID or uncorrected ECC errors: read the kernel log, drain the GPU's work "
		       "and reset or replace it");
}

static void advise_agent_coord(const struct rule_ctx *c, struct bn_draft *d)
{
	const char *peer = d->acc->detail[M_AGENT_COORD_LATENCY];
	double lat = ra_get(d->acc, M_AGENT_COORD_LATENCY);
	if (peer && !isnan(lat))
		snprintf(d->advice, sizeof(d->advice),
			 "slowest peer %s answers in %.2f s; batch messages, make calls "
			 "asynchronous or run the agents closer together",
			 peer, lat);
	else
		advise_text(d, "agents wait on each other: batch messages, make calls asynchronous "
			       "or run the agents closer together");
}

static void advise_agent_errors(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(
	    d,
	    "the agent's tasks fail: look at its error classes and the tools or models it calls");
}

/* The busiest GPU of the host, as context for the model server. */
static void gpu_context(const struct rule_ctx *c, struct bn_draft *d)
{
	const struct res_acc *best = NULL;
	for (size_t i = 0; i < c->rs->n; i++) {
		const struct res_acc *g = &c->rs->v[i];
		if (g->family == SM_GPU && !isnan(ra_get(g, M_GPU_UTIL)) &&
		    (!best || g->v[M_GPU_UTIL] > best->v[M_GPU_UTIL]))
			best = g;
	}
	if (best)
		ev_add(d, best->metric[M_GPU_UTIL], best, best->v[M_GPU_UTIL], "ratio",
		       "busiest GPU %s: %.0f%% busy", best->label_value, best->v[M_GPU_UTIL] * 100);
	double tokens = ra_get(d->acc, M_MODEL_GEN_TOKENS);
	if (!isnan(tokens))
		ev_add(d, d->acc->metric[M_MODEL_GEN_TOKENS], d->acc, tokens, "per_second",
		       "%.0f tokens/s generated", tokens);
}

static void advise_model(const struct rule_ctx *c, struct bn_draft *d)
{
	gpu_context(c, d);
	d->advice[0] = '\0';
	if (fires(c, d, CHK_MODEL_KV) || fires(c, d, CHK_MODEL_PREEMPT))
		text_add(d->advice, sizeof(d->advice), "%s",
			 "the KV cache is nearly full: lower the number of concurrent sequences or "
			 "the context length, enable prefix caching or add GPU memory");
	if (fires(c, d, CHK_MODEL_QUEUE) || fires(c, d, CHK_MODEL_TTFT) ||
	    fires(c, d, CHK_MODEL_QUEUE_TIME))
		text_add(d->advice, sizeof(d->advice), "%s%s", d->advice[0] ? "; " : "",
			 "requests wait: add replicas or GPUs, or raise the batch size if the GPU "
			 "has headroom");
}

static void advise_cg_throttle(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(
	    d, "the cgroup runs into its CPU quota (cpu.max): raise the quota or reduce its work");
}

static void advise_cg_mem(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(d, "the cgroup is close to its memory limit (memory.max): raise the limit or "
		       "reduce its memory use");
}

static void advise_cg_oom(const struct rule_ctx *c, struct bn_draft *d)
{
	advise_text(d, "processes in the cgroup were OOM-killed: raise memory.max or fix the "
		       "workload's memory use");
}

/* --- the rules ------------------------------------------------------------ */

#define RULE_MAX_CHECKS 5

struct rule {
	enum sm_family family;
	enum bm_bottleneck_kind kind;
	const char *kind_name; /* part of the finding id */
	const char *title;
	double weight; /* impact of a finding at its critical threshold */
	enum bn_check checks[RULE_MAX_CHECKS];
	size_t n_checks;
	void (*advise)(const struct rule_ctx *c, struct bn_draft *d);
};

#define U	    BM_BN_UTILISATION, "utilisation"
#define S	    BM_BN_SATURATION, "saturation"
#define E	    BM_BN_ERRORS, "errors"
#define CHECKS(...) {__VA_ARGS__}, sizeof((enum bn_check[]){__VA_ARGS__}) / sizeof(enum bn_check)

/* Saturation weighs most: it is time lost. Utilisation alone is not a
 * problem until it becomes saturation, so it ranks below. */
/* clang-format off */
static const struct rule rules[] = {
	{SM_CPU, U, "CPU busy", 0.6, CHECKS(CHK_CPU_UTIL), advise_cpu_util},
	{SM_CPU, S, "CPU saturated", 1.0, CHECKS(CHK_CPU_PSI, CHK_CPU_RUNQ, CHK_CPU_STEAL),
	 advise_cpu_sat},
	{SM_MEMORY, U, "Memory nearly full", 0.6, CHECKS(CHK_MEM_UTIL), advise_mem_util},
	{SM_MEMORY, S, "Memory pressure", 1.0, CHECKS(CHK_MEM_PSI_SOME, CHK_MEM_PSI_FULL, CHK_MEM_SWAP),
	 advise_mem_sat},
	{SM_MEMORY, E, "Out-of-memory kills", 0.9, CHECKS(CHK_MEM_OOM), advise_mem_errors},
	{SM_IO, S, "IO pressure", 1.0, CHECKS(CHK_IO_PSI_SOME, CHK_IO_PSI_FULL), advise_io},
	{SM_DISK, U, "Disk busy", 0.7, CHECKS(CHK_DISK_UTIL), advise_io},
	{SM_DISK, S, "Disk saturated", 1.0, CHECKS(CHK_DISK_QUEUE, CHK_DISK_AWAIT), advise_io},
	{SM_NET, U, "Network link busy", 0.7, CHECKS(CHK_NET_UTIL), advise_net_util},
	{SM_NET, S, "Network drops packets", 0.8, CHECKS(CHK_NET_DROPS), advise_net_drops},
	{SM_NET, E, "Network errors", 0.9, CHECKS(CHK_NET_ERRORS), advise_net_errors},
	{SM_TCP, S, "TCP retransmits or listen overflows", 0.8, CHECKS(CHK_TCP_RETRANS, CHK_TCP_LISTEN),
	 advise_tcp},
	{SM_GPU, U, "GPU busy", 0.5, CHECKS(CHK_GPU_UTIL), advise_gpu_util},
	{SM_GPU, S, "GPU saturated", 0.9, CHECKS(CHK_GPU_MEM, CHK_GPU_THROTTLE), advise_gpu_sat},
	{SM_GPU, E, "GPU errors", 1.0, CHECKS(CHK_GPU_ERRORS), advise_gpu_errors},
	{SM_AGENT, BM_BN_COORDINATION, "coordination", "Agent coordination slow", 0.8,
	 CHECKS(CHK_AGENT_LATENCY, CHK_AGENT_SYNC, CHK_AGENT_OVERHEAD), advise_agent_coord},
	{SM_AGENT, E, "Agent tasks failing", 0.9, CHECKS(CHK_AGENT_ERRORS), advise_agent_errors},
	{SM_MODEL, BM_BN_INFERENCE, "inference", "Model inference saturated", 1.0,
	 CHECKS(CHK_MODEL_KV, CHK_MODEL_QUEUE, CHK_MODEL_TTFT, CHK_MODEL_QUEUE_TIME, CHK_MODEL_PREEMPT),
	 advise_model},
	{SM_CGROUP, S, "Container CPU throttled", 0.8, CHECKS(CHK_CG_THROTTLE), advise_cg_throttle},
	{SM_CGROUP, U, "Container near its memory limit", 0.7, CHECKS(CHK_CG_MEM), advise_cg_mem},
	{SM_CGROUP, E, "Container OOM kills", 0.9, CHECKS(CHK_CG_OOM), advise_cg_oom},
};
/* clang-format on */

#undef U
#undef S
#undef E
#undef CHECKS

/* How far x is past the warning threshold towards the critical one, 0..1. */
static double exceedance(double x, const double thr[2])
{
	if (thr[1] <= thr[0])
		return 1;
	return fmin(1, fmax(0, (x - thr[0]) / (thr[1] - thr[0])));
}

static void draft_init(struct bn_draft *d, const struct rule *r, const struct res_acc *a)
{
	memset(d, 0, sizeof(*d));
	d->acc = a;
	d->kind = r->kind;
	d->kind_name = r->kind_name;
	d->title = r->title;
	d->label = (struct bm_label){a->label_name, a->label_value};
}

/* Evidence for every known check (those that fired first, with their
 * values in the summary). */
static void draft_checks(struct bn_draft *d, const struct rule_ctx *c, const struct rule *r,
			 const double *x, const bool *fired)
{
	snprintf(d->summary, sizeof(d->summary), "%s", r->title);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->n_checks; i++) {
			if (isnan(x[i]) || fired[i] != (pass == 0))
				continue;
			check_evidence(d, c, r->checks[i], x[i]);
			if (pass == 0) {
				char text[160];
				check_text(text, sizeof(text), r->checks[i], x[i]);
				text_add(d->summary, sizeof(d->summary), "%s%s",
					 d->n_ev > 1 ? ", " : ": ", text);
			}
		}
}

/* A check fires at its warning threshold, unless it is a fallback whose
 * better measure is known. */
static bool check_fires(const struct rule_ctx *c, const struct res_acc *a, enum bn_check ck,
			double x)
{
	const struct check_def *def = &checks[ck];
	return x >= c->conf->thr[ck][0] && (!def->unless || isnan(checks[def->unless].value(a, c)));
}

/* Apply rule r to resource a: true when its condition holds, with d
 * filled. */
static bool rule_apply(const struct rule_ctx *c, const struct rule *r, const struct res_acc *a,
		       struct bn_draft *d)
{
	double x[RULE_MAX_CHECKS], worst = 0;
	bool fired[RULE_MAX_CHECKS];
	size_t n_fired = 0, n_over = 0;
	enum bm_severity sev = BM_SEV_WARNING;
	for (size_t i = 0; i < r->n_checks; i++) {
		const double *thr = c->conf->thr[r->checks[i]];
		x[i] = checks[r->checks[i]].value(a, c);
		n_over += x[i] >= thr[0];
		fired[i] = check_fires(c, a, r->checks[i], x[i]);
		if (!fired[i])
			continue;
		n_fired++;
		worst = fmax(worst, exceedance(x[i], thr));
		if (x[i] >= thr[1])
			sev = BM_SEV_CRITICAL;
	}
	if (!n_fired)
		return false;
	draft_init(d, r, a);
	d->severity = sev;
	d->impact = r->weight * (0.5 + 0.5 * worst);
	draft_checks(d, c, r, x, fired);
	int kinds = notes_evidence(d, c);
	d->confidence =
	    fmin(1, CONF_BASE + CONF_PER_CHECK * (double)(n_over - 1) + CONF_PER_NOTE_KIND * kinds);
	r->advise(c, d);
	return true;
}

void rules_evaluate(const struct rule_ctx *c, rule_sink sink, void *user)
{
	struct bn_draft d;
	for (size_t i = 0; i < c->rs->n; i++) {
		const struct res_acc *a = &c->rs->v[i];
		for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++)
			if (rules[r].family == a->family && rule_apply(c, &rules[r], a, &d))
				sink(user, &d);
	}
}
