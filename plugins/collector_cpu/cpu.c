/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/cpu: CPU seconds per core and mode, context switches,
 * interrupts, forks, running/blocked tasks and boot time from /proc/stat,
 * and core frequencies from /sys/devices/system/cpu/cpuN/cpufreq where the
 * machine has them. Names follow node_exporter's cpu and stat collectors.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/procfs.h"

#define CPU_STAT_MAX (16u << 20) /* refuse a /proc/stat larger than this */

struct cpu_conf {
	char *proc_root; /* procfs mount point */
	char *sys_root;  /* sysfs mount point */
	bool per_cpu;    /* per core (node_exporter) or only the aggregate as cpu="total" */
	bool cpufreq;    /* read cpufreq frequencies */
};

static const struct bm_option cpu_options[] = {
	BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct cpu_conf, proc_root,
		  "procfs mount point to read stat from"),
	BM_OPTION("sys_root", BM_OPT_STRING, "/sys", struct cpu_conf, sys_root,
		  "sysfs mount point to read cpufreq from"),
	BM_OPTION("per_cpu", BM_OPT_BOOL, "true", struct cpu_conf, per_cpu,
		  "publish every core (true) or only the sum of all cores as cpu=\"total\" (false)"),
	BM_OPTION("cpufreq", BM_OPT_BOOL, "true", struct cpu_conf, cpufreq,
		  "publish core frequencies from cpufreq where present (needs per_cpu)"),
	BM_OPTION_END,
};

struct cpu {
	struct bm_ctx *ctx;
	const struct cpu_conf *conf;
	char stat_path[PATH_MAX];  /* proc_root/stat */
	char *buf;                 /* last read of /proc/stat, grown as needed */
	size_t cap;
	double tick_s;             /* seconds per USER_HZ tick */
	bool freq_absent_logged;   /* "no cpufreq" said once */
	struct bm_batch batch;     /* reused every collection */
};

/* Fields of a cpu line in /proc/stat, in file order. */
enum { CPU_N_MODES = 8, CPU_N_FIELDS = 10 };
static const char *const cpu_modes[CPU_N_MODES] = {
	"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
};
/* guest and guest_nice (fields 9 and 10) as node_exporter labels them */
static const char *const cpu_guest_modes[2] = {"user", "nice"};

/* cpufreq files (kHz) and the node_exporter gauges (Hz) they become. */
static const struct {
	const char *file;
	const char *metric;
	const char *help;
} cpu_freq_files[] = {
	{"scaling_cur_freq", "node_cpu_scaling_frequency_hertz", "current scaled CPU thread frequency"},
	{"scaling_max_freq", "node_cpu_scaling_frequency_max_hertz", "maximum scaled CPU thread frequency"},
	{"scaling_min_freq", "node_cpu_scaling_frequency_min_hertz", "minimum scaled CPU thread frequency"},
	{"cpuinfo_cur_freq", "node_cpu_frequency_hertz", "current CPU thread frequency as the hardware reports it"},
	{"cpuinfo_max_freq", "node_cpu_frequency_max_hertz", "maximum CPU thread frequency"},
	{"cpuinfo_min_freq", "node_cpu_frequency_min_hertz", "minimum CPU thread frequency"},
};
#define CPU_N_FREQ (sizeof(cpu_freq_files) / sizeof(cpu_freq_files[0]))

/* Single-value lines of /proc/stat. */
static const struct {
	const char *key;
	const char *metric;
	enum bm_metric_type type;
	const char *unit;
	const char *help;
} cpu_stat_keys[] = {
	{"ctxt", "node_context_switches_total", BM_METRIC_COUNTER, NULL, "context switches since boot"},
	{"intr", "node_intr_total", BM_METRIC_COUNTER, NULL, "interrupts serviced since boot"},
	{"processes", "node_forks_total", BM_METRIC_COUNTER, NULL, "forks since boot"},
	{"procs_running", "node_procs_running", BM_METRIC_GAUGE, NULL, "tasks in runnable state"},
	{"procs_blocked", "node_procs_blocked", BM_METRIC_GAUGE, NULL, "tasks blocked waiting for I/O to complete"},
	{"btime", "node_boot_time_seconds", BM_METRIC_GAUGE, "seconds", "boot time, seconds since the Unix epoch"},
};
#define CPU_N_STAT_KEYS (sizeof(cpu_stat_keys) / sizeof(cpu_stat_keys[0]))

static int cpu_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct cpu_conf *c = conf;
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		return bm_err_set(err, BM_EIO, "sysconf(_SC_CLK_TCK) failed: %s", strerror(errno));
	struct cpu *s = calloc(1, sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = c;
	s->tick_s = 1.0 / (double)hz;
	if (!pf_path(s->stat_path, sizeof(s->stat_path), c->proc_root, "stat")) {
		free(s);
		return bm_err_set(err, BM_EINVAL, "proc_root too long");
	}
	*state = s;
	return 0;
}

static void cpu_fini(void *state)
{
	struct cpu *s = state;
	bm_batch_free(&s->batch);
	free(s->buf);
	free(s);
}

/* Parse up to max unsigned numbers after p (to the end of the line; the
 * rest of a longer one is skipped). Returns how many, -1 on anything that
 * is not a number. */
static int cpu_parse_u64s(const char *p, unsigned long long *v, int max, const char **eol)
{
	return pf_parse_row(p, 10, v, max, true, eol);
}

/* Add the mode counters of one cpu line. */
static int cpu_add_times(struct cpu *s, const char *cpu, const unsigned long long *v, int n)
{
	struct bm_batch *b = &s->batch;
	int rc = 0;
	for (int i = 0; i < n && i < CPU_N_MODES && !rc; i++)
		rc = bm_batch_addl(b, "node_cpu_seconds_total", (double)v[i] * s->tick_s, "cpu", cpu,
				   "mode", cpu_modes[i], NULL);
	for (int i = CPU_N_MODES; i < n && !rc; i++)
		rc = bm_batch_addl(b, "node_cpu_guest_seconds_total", (double)v[i] * s->tick_s, "cpu",
				   cpu, "mode", cpu_guest_modes[i - CPU_N_MODES], NULL);
	return rc;
}

/*
 * Frequencies of one core. A core without a cpufreq directory (virtual
 * machines, no driver, a core that just went offline) is skipped; so is a
 * file that is absent or unreadable (cpuinfo_cur_freq is root only).
 * *declared tracks which families this batch declared already.
 */
static int cpu_add_freq(struct cpu *s, const char *cpu, unsigned *declared, bool *any)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu%s/cpufreq", s->conf->sys_root, cpu);
	if (n < 0 || (size_t)n >= sizeof(path))
		return 0;
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return 0;
	int rc = 0;
	for (size_t i = 0; i < CPU_N_FREQ && !rc; i++) {
		uint64_t khz;
		if (!pf_read_u64_at(dirfd, cpu_freq_files[i].file, &khz))
			continue;
		if (!(*declared & (1u << i)))
			rc = bm_batch_family(&s->batch, cpu_freq_files[i].metric, BM_METRIC_GAUGE, "hertz",
					     cpu_freq_files[i].help);
		*declared |= 1u << i;
		if (!rc)
			rc = bm_batch_addl(&s->batch, cpu_freq_files[i].metric, (double)khz * 1000.0, "cpu", cpu, NULL);
		*any = true;
	}
	close(dirfd);
	return rc;
}

static int cpu_declare(struct bm_batch *b)
{
	int rc = bm_batch_family(b, "node_cpu_seconds_total", BM_METRIC_COUNTER, "seconds",
				 "seconds the CPUs spent in each mode");
	if (!rc)
		rc = bm_batch_family(b, "node_cpu_guest_seconds_total", BM_METRIC_COUNTER, "seconds",
				     "seconds the CPUs spent running guests (also counted in user and nice)");
	for (size_t i = 0; i < CPU_N_STAT_KEYS && !rc; i++)
		rc = bm_batch_family(b, cpu_stat_keys[i].metric, cpu_stat_keys[i].type, cpu_stat_keys[i].unit,
				     cpu_stat_keys[i].help);
	return rc;
}

/* One line of /proc/stat; *eol gets the end of the line. BM_EPROTO on a
 * malformed line we care about. */
static int cpu_line(struct cpu *s, const char *p, const char **eol, bool *saw_total,
		    unsigned *freq_declared, bool *freq_any)
{
	unsigned long long v[CPU_N_FIELDS];
	const char *key = p;
	size_t klen = strcspn(p, " \t\n");
	p += klen;
	*eol = p;
	if (klen >= 3 && memcmp(key, "cpu", 3) == 0) {
		char id[16];
		bool total = klen == 3;
		if (!total && (klen - 3 >= sizeof(id) || strspn(key + 3, "0123456789") != klen - 3))
			return BM_EPROTO;
		int n = cpu_parse_u64s(p, v, CPU_N_FIELDS, eol);
		if (n < 4)
			return BM_EPROTO;
		if (total) {
			*saw_total = true;
			return s->conf->per_cpu ? 0 : cpu_add_times(s, "total", v, n);
		}
		if (!s->conf->per_cpu)
			return 0;
		memcpy(id, key + 3, klen - 3);
		id[klen - 3] = '\0';
		int rc = cpu_add_times(s, id, v, n);
		if (!rc && s->conf->cpufreq)
			rc = cpu_add_freq(s, id, freq_declared, freq_any);
		return rc;
	}
	for (size_t i = 0; i < CPU_N_STAT_KEYS; i++) {
		if (strlen(cpu_stat_keys[i].key) != klen || memcmp(key, cpu_stat_keys[i].key, klen) != 0)
			continue;
		if (cpu_parse_u64s(p, v, 1, eol) < 1)
			return BM_EPROTO;
		return bm_batch_addl(&s->batch, cpu_stat_keys[i].metric, (double)v[0], NULL);
	}
	*eol = p + strcspn(p, "\n"); /* softirq, a future key: not ours */
	return 0;
}

static int cpu_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct cpu *s = state;
	ssize_t len = pf_slurp_at(AT_FDCWD, s->stat_path, &s->buf, &s->cap, CPU_STAT_MAX);
	if (len < 0)
		return bm_err_set(err, BM_EIO, "cannot read %s: %s", s->stat_path, strerror((int)-len));

	struct bm_batch *b = &s->batch;
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	int rc = cpu_declare(b);
	bool saw_total = false;
	bool freq_any = false;
	unsigned freq_declared = 0;
	unsigned line = 1;
	for (const char *p = s->buf; *p && !rc; line++) {
		const char *eol;
		rc = cpu_line(s, p, &eol, &saw_total, &freq_declared, &freq_any);
		p = *eol == '\n' ? eol + 1 : eol;
	}
	if (rc == BM_EPROTO)
		return bm_err_set(err, rc, "%s: cannot parse line %u", s->stat_path, line - 1);
	if (rc)
		return bm_err_set(err, rc, "cannot build the batch: %s", bm_strerror(rc));
	if (!saw_total)
		return bm_err_set(err, BM_EPROTO, "%s: no \"cpu\" line, is this /proc/stat?", s->stat_path);
	if (s->conf->per_cpu && s->conf->cpufreq && !freq_any)
		pf_log_once(s->ctx, &s->freq_absent_logged, BM_LOG_INFO,
			    "no cpufreq under %s/devices/system/cpu (virtual machine or no cpufreq driver), "
			    "frequencies not published", s->conf->sys_root);
	struct bm_metric_batch mb;
	bm_batch_view(b, &mb);
	return bm_metrics_publish(s->ctx, &mb);
}

static const struct bm_plugin_ops cpu_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = cpu_init,
	.fini = cpu_fini,
	.collect = cpu_collect,
};

BM_PLUGIN_DEFINE(collector, cpu, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "CPU seconds per core and mode, kernel activity and frequency from /proc/stat and cpufreq",
		 .origin = "bearmon plugins/collector_cpu",
		 .options = cpu_options,
		 .config_size = sizeof(struct cpu_conf),
		 .ops = &cpu_ops);
