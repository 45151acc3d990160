/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/cpu: CPU seconds per core and mode, context switches,
 * interrupts, forks, running/blocked tasks, softirqs and boot time from
 * /proc/stat, softirqs and interrupts per core from /proc/softirqs and
 * /proc/interrupts, and core frequencies from cpufreq where there is one;
 * node_exporter's cpu, stat, softirqs and interrupts collectors' names.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>
#include <bearmon/bm_vec.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/procfs.h"
#include "../common/publish.h"

#define CPU_STAT_MAX (16u << 20) /* refuse a /proc/stat larger than this */
#define CPU_MAX_CORES 8192       /* cores tracked for cpufreq and softirqs */
#define CPU_FREQ_RECHECK 60      /* collections between looks for a missing cpufreq */
#define CPU_MAX_IRQ_SERIES 4096  /* interrupts per core are left out past this many series */

struct cpu_conf {
	char *proc_root; /* procfs mount point */
	char *sys_root;  /* sysfs mount point */
	bool per_cpu;    /* per core (node_exporter) or only the aggregate as cpu="total" */
	bool cpufreq;    /* read cpufreq frequencies */
	bool softirqs;   /* per core softirq counts from /proc/softirqs */
	bool interrupts; /* per core interrupt counts from /proc/interrupts */
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
	BM_OPTION("softirqs", BM_OPT_BOOL, "true", struct cpu_conf, softirqs,
		  "publish softirqs per core and type from /proc/softirqs (needs per_cpu)"),
	BM_OPTION("interrupts", BM_OPT_BOOL, "true", struct cpu_conf, interrupts,
		  "publish interrupts per core and source from /proc/interrupts (needs per_cpu; "
		  "left out on machines where it would exceed 4096 series)"),
	BM_OPTION_END,
};

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

/* Per core: its cpufreq directory and files kept open, and whether it
 * has any. */
struct cpu_core {
	bool seen;                  /* entry in use */
	bool no_freq;               /* no cpufreq directory at the last look */
	uint32_t looked;            /* collection of that look */
	int dirfd;                  /* SYS/devices/system/cpu/cpuN/cpufreq, -1 closed */
	struct pf_file freq[CPU_N_FREQ];
};

struct cpu {
	struct bm_ctx *ctx;
	const struct cpu_conf *conf;
	char stat_path[PATH_MAX];  /* proc_root/stat */
	char softirqs_path[PATH_MAX]; /* proc_root/softirqs */
	char interrupts_path[PATH_MAX]; /* proc_root/interrupts */
	char *buf;                 /* last read of /proc/stat, grown as needed */
	size_t cap;
	char *sbuf;                /* last read of /proc/softirqs */
	size_t scap;
	struct pf_file stat_file, softirqs_file, interrupts_file;
	struct cpu_core *cores;    /* indexed by core number */
	size_t n_cores;
	char (*ids)[12];           /* core numbers of the /proc/softirqs header */
	size_t cap_ids;
	uint32_t collections;
	double tick_s;             /* seconds per USER_HZ tick */
	bool freq_absent_logged;   /* "no cpufreq" said once */
	bool softirqs_logged;      /* "no /proc/softirqs" said once */
	bool interrupts_logged;    /* "no /proc/interrupts" or "too many" said once */
	struct bm_batch batch;     /* reused every collection */
	struct pub_families families; /* metadata already published */
};

/* Fields of a cpu line in /proc/stat, in file order. */
enum { CPU_N_MODES = 8, CPU_N_FIELDS = 10 };
static const char *const cpu_modes[CPU_N_MODES] = {
	"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
};
/* guest and guest_nice (fields 9 and 10) as node_exporter labels them */
static const char *const cpu_guest_modes[2] = {"user", "nice"};

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

/* /proc/stat's softirq line: the total, then one count per vector in the
 * kernel's order, named as node_exporter's stat collector names them. */
static const char *const cpu_softirq_vectors[] = {
	"hi", "timer", "net_tx", "net_rx", "block", "block_iopoll", "tasklet", "sched", "hrtimer", "rcu",
};
#define CPU_N_VECTORS (sizeof(cpu_softirq_vectors) / sizeof(cpu_softirq_vectors[0]))

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
	s->stat_file = s->softirqs_file = s->interrupts_file = (struct pf_file)PF_FILE_INIT;
	if (!pf_path(s->stat_path, sizeof(s->stat_path), c->proc_root, "stat") ||
	    !pf_path(s->softirqs_path, sizeof(s->softirqs_path), c->proc_root, "softirqs") ||
	    !pf_path(s->interrupts_path, sizeof(s->interrupts_path), c->proc_root, "interrupts")) {
		free(s);
		return bm_err_set(err, BM_EINVAL, "proc_root too long");
	}
	*state = s;
	return 0;
}

/* Close a core's cpufreq files and directory. */
static void cpu_core_close(struct cpu_core *c)
{
	for (size_t k = 0; k < CPU_N_FREQ; k++)
		pf_file_close(&c->freq[k]);
	if (c->dirfd >= 0)
		close(c->dirfd);
	c->dirfd = -1;
}

static void cpu_fini(void *state)
{
	struct cpu *s = state;
	for (size_t i = 0; i < s->n_cores; i++)
		cpu_core_close(&s->cores[i]);
	pf_file_close(&s->stat_file);
	pf_file_close(&s->softirqs_file);
	pf_file_close(&s->interrupts_file);
	bm_batch_free(&s->batch);
	pub_families_free(&s->families);
	free(s->cores);
	free(s->ids);
	free(s->buf);
	free(s->sbuf);
	free(s);
}

/* Parse up to max unsigned numbers after p (to the end of the line; the
 * rest of a longer one is skipped). Returns how many, -1 on anything that
 * is not a number. */
static int cpu_parse_u64s(const char *p, unsigned long long *v, int max, const char **eol)
{
	return pf_parse_row(p, 10, v, max, true, eol);
}

/* The state of core id ("0", "17"), created when new; NULL past
 * CPU_MAX_CORES or without memory (that core then has no frequencies). */
static struct cpu_core *cpu_core(struct cpu *s, const char *id)
{
	unsigned long n = strtoul(id, NULL, 10);
	if (n >= CPU_MAX_CORES)
		return NULL;
	if (n >= s->n_cores) {
		size_t want = n + 1 > 2 * s->n_cores ? n + 1 : 2 * s->n_cores;
		struct cpu_core *c = realloc(s->cores, want * sizeof(*c));
		if (!c)
			return NULL;
		memset(c + s->n_cores, 0, (want - s->n_cores) * sizeof(*c));
		s->cores = c;
		s->n_cores = want;
	}
	struct cpu_core *c = &s->cores[n];
	if (!c->seen) {
		c->seen = true;
		c->dirfd = -1;
		for (size_t k = 0; k < CPU_N_FREQ; k++)
			c->freq[k] = (struct pf_file)PF_FILE_INIT;
	}
	return c;
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

/* Open core cpu's cpufreq directory; false when it has none. */
static bool cpu_open_freq_dir(struct cpu *s, const char *cpu, struct cpu_core *c)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu%s/cpufreq", s->conf->sys_root,
			 cpu);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	c->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return c->dirfd >= 0;
}

/*
 * Frequencies of one core. A core without a cpufreq directory (virtual
 * machines, no driver, a core that just went offline) is skipped, and
 * looked at again only every CPU_FREQ_RECHECK collections; so is a file
 * that is absent or unreadable (cpuinfo_cur_freq is root only). The
 * directory and its files stay open. *declared tracks which families this
 * batch declared already.
 */
static int cpu_add_freq(struct cpu *s, const char *cpu, unsigned *declared, bool *any)
{
	struct cpu_core *c = cpu_core(s, cpu);
	if (!c || (c->no_freq && s->collections - c->looked < CPU_FREQ_RECHECK))
		return 0;
	c->looked = s->collections;
	c->no_freq = c->dirfd < 0 && !cpu_open_freq_dir(s, cpu, c);
	if (c->no_freq)
		return 0;
	int rc = 0;
	bool found = false;
	for (size_t i = 0; i < CPU_N_FREQ && !rc; i++) {
		uint64_t khz;
		if (!pf_file_u64(&c->freq[i], c->dirfd, cpu_freq_files[i].file, &khz))
			continue;
		if (!(*declared & (1u << i)))
			rc = bm_batch_family(&s->batch, cpu_freq_files[i].metric, BM_METRIC_GAUGE, "hertz",
					     cpu_freq_files[i].help);
		*declared |= 1u << i;
		if (!rc)
			rc = bm_batch_addl(&s->batch, cpu_freq_files[i].metric, (double)khz * 1000.0, "cpu", cpu, NULL);
		found = true;
	}
	if (!found) { /* gone (offline): look for it again later */
		cpu_core_close(c);
		c->no_freq = true;
	}
	*any |= found;
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

/* "softirq TOTAL HI TIMER ...": node_softirqs_total per vector. */
static int cpu_softirq_line(struct cpu *s, const char *p, const char **eol)
{
	unsigned long long v[1 + CPU_N_VECTORS];
	int n = pf_parse_row(p, 10, v, 1 + (int)CPU_N_VECTORS, true, eol);
	if (n < 1)
		return BM_EPROTO;
	int rc = bm_batch_family(&s->batch, "node_softirqs_total", BM_METRIC_COUNTER, NULL,
				 "softirqs handled since boot, by vector");
	for (int i = 1; i < n && !rc; i++)
		rc = bm_batch_addl(&s->batch, "node_softirqs_total", (double)v[i], "vector",
				   cpu_softirq_vectors[i - 1], NULL);
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
	if (klen == 7 && memcmp(key, "softirq", 7) == 0)
		return cpu_softirq_line(s, p, eol);
	for (size_t i = 0; i < CPU_N_STAT_KEYS; i++) {
		if (strlen(cpu_stat_keys[i].key) != klen || memcmp(key, cpu_stat_keys[i].key, klen) != 0)
			continue;
		if (cpu_parse_u64s(p, v, 1, eol) < 1)
			return BM_EPROTO;
		return bm_batch_addl(&s->batch, cpu_stat_keys[i].metric, (double)v[0], NULL);
	}
	*eol = p + strcspn(p, "\n"); /* a future key: not ours */
	return 0;
}

/*
 * The header of /proc/softirqs, "  CPU0  CPU1 ...": the core numbers, as
 * strings in s->ids. Returns how many, -1 when it is not such a header
 * (or memory runs out).
 */
static int cpu_softirq_header(struct cpu *s, const char *p, const char **eol)
{
	size_t n = 0;
	for (;;) {
		p = pf_skip_blanks(p);
		if (*p == '\n' || *p == '\0')
			break;
		if (strncmp(p, "CPU", 3) != 0)
			return -1;
		p += 3;
		size_t len = strspn(p, "0123456789");
		if (len == 0 || len >= sizeof(s->ids[0]) || n >= CPU_MAX_CORES)
			return -1;
		if (BM_VEC_RESERVE(s->ids, s->cap_ids, n + 1))
			return -1;
		memcpy(s->ids[n], p, len);
		s->ids[n][len] = '\0';
		n++;
		p += len;
	}
	*eol = p;
	return (int)n;
}

/* "  NET_RX:  12  34": the type and its per-core counts. */
static int cpu_softirq_row(struct cpu *s, const char *p, const char **eol, int n_ids)
{
	p = pf_skip_blanks(p);
	const char *colon = p + strcspn(p, ":\n");
	char type[32];
	size_t tl = (size_t)(colon - p);
	if (*colon != ':' || tl == 0 || tl >= sizeof(type))
		return BM_EPROTO;
	memcpy(type, p, tl);
	type[tl] = '\0';
	int rc = 0;
	const char *q = colon + 1;
	for (int i = 0; i < n_ids && !rc; i++) { /* one count per core of the header */
		q = pf_skip_blanks(q);
		if (*q < '0' || *q > '9')
			break;
		char *end;
		double v = (double)strtoull(q, &end, 10);
		q = end;
		rc = bm_batch_addl(&s->batch, "node_softirqs_functions_total", v, "cpu", s->ids[i],
				   "type", type, NULL);
	}
	*eol = q + strcspn(q, "\n");
	return rc;
}

/*
 * A table of counts per core (/proc/softirqs, /proc/interrupts) read into
 * s->sbuf (*len bytes) and its header parsed (*eol its end): the number of
 * cores, 0 when the file cannot be read (a kernel without it, told once at
 * info: WHAT per core not published), -1 when the header is not one.
 */
static int cpu_core_table(struct cpu *s, struct pf_file *f, const char *path, bool *logged,
			  const char *what, size_t *len, const char **eol)
{
	ssize_t n = pf_file_slurp(f, AT_FDCWD, path, &s->sbuf, &s->scap, CPU_STAT_MAX);
	if (n < 0) {
		pf_log_once(s->ctx, logged, BM_LOG_INFO, "cannot read %s: %s; %s per core not published",
			    path, strerror((int)-n), what);
		return 0;
	}
	*len = (size_t)n;
	int n_ids = cpu_softirq_header(s, s->sbuf, eol);
	return n_ids > 0 ? n_ids : -1;
}

/* Per core softirq counts. */
static int cpu_softirqs(struct cpu *s)
{
	size_t len;
	const char *eol;
	int n_ids = cpu_core_table(s, &s->softirqs_file, s->softirqs_path, &s->softirqs_logged,
				   "softirqs", &len, &eol);
	if (n_ids <= 0)
		return n_ids ? BM_EPROTO : 0;
	int rc = bm_batch_family(&s->batch, "node_softirqs_functions_total", BM_METRIC_COUNTER, NULL,
				 "softirqs handled since boot, by core and type");
	for (const char *p = *eol ? eol + 1 : eol; *p && !rc; p = *eol ? eol + 1 : eol)
		rc = cpu_softirq_row(s, p, &eol, n_ids);
	return rc;
}

/*
 * "  24:   1   0  IO-APIC   5-edge   ACPI:Ged" or "LOC:  299  333  Local
 * timer interrupts": node_exporter's labels: type = the name before the
 * colon; for a numbered interrupt info = the chip, devices = the rest; for
 * a named one info = its description. A line with fewer counts than cores
 * (ERR, MIS) is skipped, as node_exporter does.
 */
/* Runs of blanks to one space, none at the end, in place: the fields
 * joined as node_exporter joins them. */
static void cpu_squeeze(char *t)
{
	char *w = t;
	for (const char *r = t; *r; r++)
		if (!pf_is_blank(*r) || (w > t && !pf_is_blank(w[-1]) && r[1] && !pf_is_blank(r[1])))
			*w++ = pf_is_blank(*r) ? ' ' : *r;
	*w = '\0';
}

static int cpu_irq_row(struct cpu *s, char *line, int n_ids)
{
	char *p = pf_skip_blanks(line);
	char *colon = strchr(p, ':');
	if (!colon || colon == p || colon - p >= 32)
		return BM_EPROTO;
	*colon = '\0';
	const char *type = p;
	bool numbered = strspn(type, "0123456789") == strlen(type);
	char *counts = colon + 1, *q = counts;
	for (int i = 0; i < n_ids; i++) { /* find the end of the counts */
		q = pf_skip_blanks(q);
		if (*q < '0' || *q > '9')
			return 0; /* ERR, MIS: fewer counts than cores */
		q += strspn(q, "0123456789");
	}
	/* the text after the counts: chip and devices, or a description */
	char *info = pf_skip_blanks(q), *devices = info + strlen(info);
	if (numbered && *(devices = info + strcspn(info, " \t"))) {
		*devices = '\0';
		devices = pf_skip_blanks(devices + 1);
	}
	cpu_squeeze(info);
	cpu_squeeze(devices);
	int rc = 0;
	q = counts;
	for (int i = 0; i < n_ids && !rc; i++) {
		unsigned long long x = strtoull(pf_skip_blanks(q), &q, 10);
		const struct bm_label all[4] = {
			{"cpu", s->ids[i]}, {"devices", devices}, {"info", info}, {"type", type}};
		struct bm_label l[4];
		size_t nl = 0;
		for (int k = 0; k < 4; k++)
			if (all[k].value[0]) /* an empty label is an absent label */
				l[nl++] = all[k];
		rc = bm_batch_add(&s->batch, "node_interrupts_total", (double)x, l, nl);
	}
	return rc;
}

/* Interrupts per core and source; a machine with too many cores x sources
 * is told once. */
static int cpu_interrupts(struct cpu *s)
{
	size_t len;
	const char *eol;
	int n_ids = cpu_core_table(s, &s->interrupts_file, s->interrupts_path,
				   &s->interrupts_logged, "interrupts", &len, &eol);
	if (n_ids <= 0)
		return n_ids ? BM_EPROTO : 0;
	size_t rows = 0;
	for (const char *p = eol; *p; p++)
		rows += *p == '\n';
	if (rows * (size_t)n_ids > CPU_MAX_IRQ_SERIES) {
		pf_log_once(s->ctx, &s->interrupts_logged, BM_LOG_WARN,
			    "%s: %zu sources x %d cores is more than %d series; interrupts per core "
			    "not published (interrupts = false says so quietly)",
			    s->interrupts_path, rows, n_ids, CPU_MAX_IRQ_SERIES);
		return 0;
	}
	int rc = bm_batch_family(&s->batch, "node_interrupts_total", BM_METRIC_COUNTER, NULL,
				 "interrupts handled since boot, by core and source");
	char *p = s->sbuf + (eol - s->sbuf);
	char *end = s->sbuf + len;
	char *line;
	pf_next_line(&p, end, NULL); /* the rest of the header line */
	while (!rc && (line = pf_next_line(&p, end, NULL)) != NULL)
		if (*pf_skip_blanks(line))
			rc = cpu_irq_row(s, line, n_ids);
	return rc;
}

static int cpu_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct cpu *s = state;
	ssize_t len = pf_file_slurp(&s->stat_file, AT_FDCWD, s->stat_path, &s->buf, &s->cap,
				    CPU_STAT_MAX);
	if (len < 0)
		return bm_err_set(err, BM_EIO, "cannot read %s: %s", s->stat_path, strerror((int)-len));

	struct bm_batch *b = &s->batch;
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	s->collections++;
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
	if (s->conf->per_cpu && s->conf->softirqs && (rc = cpu_softirqs(s)) == BM_EPROTO)
		return bm_err_set(err, rc, "%s: cannot parse", s->softirqs_path);
	if (!rc && s->conf->per_cpu && s->conf->interrupts && (rc = cpu_interrupts(s)) == BM_EPROTO)
		return bm_err_set(err, rc, "%s: cannot parse", s->interrupts_path);
	if (s->conf->per_cpu && s->conf->cpufreq && !freq_any)
		pf_log_once(s->ctx, &s->freq_absent_logged, BM_LOG_INFO,
			    "no cpufreq under %s/devices/system/cpu (virtual machine or no cpufreq driver), "
			    "frequencies not published", s->conf->sys_root);
	return publish_batch_once(s->ctx, b, rc, err, &s->families);
}

static const struct bm_plugin_ops cpu_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = cpu_init,
	.fini = cpu_fini,
	.collect = cpu_collect,
};

BM_PLUGIN_DEFINE(collector, cpu, BM_KIND_COLLECTOR,
		 .version = "1.1.0",
		 .license = "Apache-2.0",
		 .description = "CPU seconds per core and mode, kernel activity, softirqs and frequency from /proc/stat, /proc/softirqs and cpufreq",
		 .origin = "bearmon plugins/collector_cpu",
		 .options = cpu_options,
		 .config_size = sizeof(struct cpu_conf),
		 .ops = &cpu_ops);
