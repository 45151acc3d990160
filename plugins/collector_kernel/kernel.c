/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/kernel: kernel and OS state with node_exporter's names:
 * conntrack usage and statistics, file handles, softnet counters per CPU,
 * time sync (adjtimex), NUMA node memory, free memory blocks per order
 * (buddyinfo), entropy, uptime, wall clock, and the kernel (uname) and
 * distribution (os-release) as info metrics.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../common/counter32.h"
#include "../common/procfs.h"
#include "../common/publish.h"

#define KN_FILE_MAX (4u << 20) /* refuse a file larger than this */
#define KN_MAX_CPUS 65536      /* softnet state entries */
#define KN_MAX_NODES 1024      /* NUMA nodes followed */
#define KN_RECHECK 60          /* collections between looks for a missing file, rescans
				* of the NUMA nodes and reads of uname and os-release */
#define KN_KEY_MAX 64          /* longest NUMA meminfo or numastat field name */

struct kn_conf {
	char *proc_root;  /* procfs mount point */
	char *sys_root;	  /* sysfs mount point */
	char *os_release; /* os-release(5) file */
};

static const struct bm_option kn_options[] = {
    BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct kn_conf, proc_root,
	      "procfs mount point to read sys/fs/file-nr, net/softnet_stat, uptime... from"),
    BM_OPTION("sys_root", BM_OPT_STRING, "/sys", struct kn_conf, sys_root,
	      "sysfs mount point to read devices/system/node (NUMA) from"),
    BM_OPTION("os_release", BM_OPT_STRING, "/etc/os-release", struct kn_conf, os_release,
	      "os-release file for node_os_info (e.g. \"/host/etc/os-release\" in a container)"),
    BM_OPTION_END,
};

/* The softnet_stat columns published, with their column numbers. */
enum { KN_SN_COUNTERS = 6 };
static const struct {
	unsigned col;
	const char *metric;
	const char *help;
} kn_softnet_cols[KN_SN_COUNTERS] = {
    {0, "node_softnet_processed_total", "packets processed by the CPU's network backlog"},
    {1, "node_softnet_dropped_total", "packets dropped because the backlog was full"},
    {2, "node_softnet_times_squeezed_total",
     "times net_rx_action ran out of budget or time with work left"},
    {8, "node_softnet_cpu_collision_total", "collisions taking the device transmit lock"},
    {9, "node_softnet_received_rps_total",
     "times the CPU was woken by an inter-processor interrupt for RPS"},
    {10, "node_softnet_flow_limit_count_total", "times the flow limit was reached"},
};
#define KN_SN_BACKLOG_COL 11 /* a gauge, since Linux 5.10 */
#define KN_SN_INDEX_COL	  12 /* the CPU number, since Linux 5.10 */

/* 32-bit softnet counters of one CPU, unwrapped. */
struct kn_softnet {
	struct counter32 c[KN_SN_COUNTERS];
};

/* A file read every collection: kept open; when missing, looked for again
 * only every KN_RECHECK collections (a module loaded later). */
struct kn_src {
	char path[PATH_MAX];
	struct pf_file file;
	bool absent;     /* ENOENT at the last look */
	uint32_t looked; /* collection of that look */
};

enum kn_file {
	KN_FILENR, KN_UPTIME, KN_CT_COUNT, KN_CT_MAX, KN_CT_STAT, KN_SOFTNET, KN_ENT_AVAIL,
	KN_ENT_POOL, KN_BUDDY, KN_N_FILES
};
/* Relative to proc_root, in enum kn_file order. */
static const char *const kn_files[KN_N_FILES] = {
	"sys/fs/file-nr", "uptime", "sys/net/netfilter/nf_conntrack_count",
	"sys/net/netfilter/nf_conntrack_max", "net/stat/nf_conntrack", "net/softnet_stat",
	"sys/kernel/random/entropy_avail", "sys/kernel/random/poolsize", "buddyinfo",
};

/* The metric name a line of a NUMA node file gave last time: field order
 * never changes while the kernel runs, so names are built once. */
struct kn_key {
	char raw[KN_KEY_MAX]; /* field name as in the file */
	char name[KN_KEY_MAX + 24];
	bool kb;
};

struct kn_keys {
	struct kn_key *v;
	size_t n;
};

/* One NUMA node: its files kept open and their line caches. */
struct kn_node {
	char id[12];
	bool seen; /* listed at the last scan */
	struct pf_file meminfo, numastat;
	struct kn_keys mkeys, skeys;
};

struct kn {
	struct bm_ctx *ctx;
	const struct kn_conf *conf;
	char *buf; /* last file read, grown as needed */
	size_t cap;
	uint32_t collections;
	struct kn_src src[KN_N_FILES];
	struct kn_softnet *sn; /* indexed by CPU number */
	size_t n_sn;
	char node_dir[PATH_MAX]; /* SYS/devices/system/node */
	struct kn_node *nodes;
	size_t n_nodes;
	uint32_t nodes_scanned; /* collection of the last scan, 0 never */
	uint32_t info_read;     /* collection uname and os-release were last read */
	struct utsname uts;     /* uname, read every KN_RECHECK collections */
	bool uts_ok;
	char *osrel;            /* os-release as read, the same */
	size_t osrel_cap;
	bool osrel_ok;
	bool softnet_logged, numa_logged, entropy_logged, timex_logged, osrel_logged;
	bool buddy_logged, ct_stat_logged;
	struct bm_batch batch;
	struct pub_families families; /* metadata already published */
};

/* System calls through pointers the tests replace. */
static int kn_sys_adjtimex(struct timex *t)
{
	return adjtimex(t);
}
static int kn_sys_uname(struct utsname *u)
{
	return uname(u);
}
static int (*kn_adjtimex)(struct timex *t) = kn_sys_adjtimex;
static int (*kn_uname)(struct utsname *u) = kn_sys_uname;

static int kn_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct kn_conf *c = conf;
	struct kn *s = calloc(1, sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = c;
	bool ok = pf_path(s->node_dir, sizeof(s->node_dir), c->sys_root, "devices/system/node");
	for (int i = 0; i < KN_N_FILES; i++) {
		s->src[i].file = (struct pf_file)PF_FILE_INIT;
		ok &= pf_path(s->src[i].path, sizeof(s->src[i].path), c->proc_root, kn_files[i]);
	}
	if (!ok) {
		free(s);
		return bm_err_set(err, BM_EINVAL, "proc_root or sys_root too long");
	}
	*state = s;
	return 0;
}

static void kn_node_free(struct kn_node *n)
{
	pf_file_close(&n->meminfo);
	pf_file_close(&n->numastat);
	free(n->mkeys.v);
	free(n->skeys.v);
}

static void kn_fini(void *state)
{
	struct kn *s = state;
	for (int i = 0; i < KN_N_FILES; i++)
		pf_file_close(&s->src[i].file);
	for (size_t i = 0; i < s->n_nodes; i++)
		kn_node_free(&s->nodes[i]);
	free(s->nodes);
	bm_batch_free(&s->batch);
	pub_families_free(&s->families);
	free(s->sn);
	free(s->buf);
	free(s->osrel);
	free(s);
}

/* Whether a look at something missing or rare is due this collection. */
static bool kn_due(const struct kn *s, uint32_t looked)
{
	return looked == 0 || s->collections - looked >= KN_RECHECK;
}

/*
 * Read file f whole into s->buf through its kept-open file. Returns the
 * length or -errno; a missing file answers -ENOENT without a look until a
 * recheck is due.
 */
static ssize_t kn_read(struct kn *s, enum kn_file f)
{
	struct kn_src *src = &s->src[f];
	if (src->absent && !kn_due(s, src->looked))
		return -ENOENT;
	ssize_t n = pf_file_slurp(&src->file, AT_FDCWD, src->path, &s->buf, &s->cap, KN_FILE_MAX);
	src->absent = n == -ENOENT;
	src->looked = s->collections;
	return n;
}

/* Unsigned numbers in base base separated by blanks, up to the end of the
 * line; returns how many (at most max kept), -1 on anything else. */
static int kn_parse_row(const char *p, int base, unsigned long long *v, int max, const char **eol)
{
	return pf_parse_row(p, base, v, max, false, eol);
}

/* One unsigned number file (sysctl style). */
static bool kn_read_u64(struct kn *s, enum kn_file f, unsigned long long *v, ssize_t *e)
{
	const char *eol;
	*e = kn_read(s, f);
	return *e >= 0 && kn_parse_row(s->buf, 10, v, 1, &eol) == 1;
}

static int kn_family(struct kn *s, const char *name, enum bm_metric_type t, const char *unit,
		     const char *help)
{
	return pub_declare(&s->batch, &s->families, name, t, unit, help);
}

/* proc/sys/fs/file-nr: allocated, free (always 0 since 2.6), maximum. */
static int kn_filenr(struct kn *s, struct bm_err *err)
{
	const char *path = s->src[KN_FILENR].path;
	unsigned long long v[3];
	const char *eol;
	ssize_t n = kn_read(s, KN_FILENR);
	if (n < 0)
		return bm_err_set(err, BM_EIO, "cannot read %s: %s", path, strerror((int)-n));
	if (kn_parse_row(s->buf, 10, v, 3, &eol) != 3)
		return bm_err_set(err, BM_EPROTO, "%s: expected three numbers", path);
	int rc = kn_family(s, "node_filefd_allocated", BM_METRIC_GAUGE, NULL,
			   "file descriptors allocated");
	if (!rc)
		rc = kn_family(s, "node_filefd_maximum", BM_METRIC_GAUGE, NULL,
			       "maximum number of file descriptors");
	if (!rc)
		rc = bm_batch_addl(&s->batch, "node_filefd_allocated", (double)v[0], NULL);
	if (!rc)
		rc = bm_batch_addl(&s->batch, "node_filefd_maximum", (double)v[2], NULL);
	return rc;
}

/* proc/uptime: seconds since boot (first field). */
static int kn_uptime(struct kn *s, struct bm_err *err)
{
	const char *path = s->src[KN_UPTIME].path;
	ssize_t n = kn_read(s, KN_UPTIME);
	if (n < 0)
		return bm_err_set(err, BM_EIO, "cannot read %s: %s", path, strerror((int)-n));
	char *end;
	double up = strtod(s->buf, &end);
	if (end == s->buf || (*end != ' ' && *end != '\n' && *end != '\0') || !(up >= 0))
		return bm_err_set(err, BM_EPROTO, "%s: expected seconds since boot", path);
	int rc = kn_family(s, "bearmon_uptime_seconds", BM_METRIC_GAUGE, "seconds",
			   "seconds since boot (proc/uptime); boot time is node_boot_time_seconds "
			   "of collector/cpu");
	return rc ? rc : bm_batch_addl(&s->batch, "bearmon_uptime_seconds", up, NULL);
}

/* nf_conntrack_count/max: absent without the nf_conntrack module, quietly. */
static int kn_conntrack(struct kn *s)
{
	unsigned long long count, max;
	ssize_t e;
	if (!kn_read_u64(s, KN_CT_COUNT, &count, &e) || !kn_read_u64(s, KN_CT_MAX, &max, &e))
		return 0;
	int rc = kn_family(s, "node_nf_conntrack_entries", BM_METRIC_GAUGE, NULL,
			   "number of currently allocated flow entries for connection tracking");
	if (!rc)
		rc = kn_family(s, "node_nf_conntrack_entries_limit", BM_METRIC_GAUGE, NULL,
			       "maximum size of connection tracking table");
	if (!rc)
		rc = bm_batch_addl(&s->batch, "node_nf_conntrack_entries", (double)count, NULL);
	if (!rc)
		rc = bm_batch_addl(&s->batch, "node_nf_conntrack_entries_limit", (double)max, NULL);
	return rc;
}

static void kn_once(struct kn *s, bool *logged, const char *what, const char *path, ssize_t e)
{
	pf_log_once(s->ctx, logged, BM_LOG_INFO, "cannot read %s: %s, %s not published", path,
		    strerror((int)-e), what);
}

/*
 * proc/net/softnet_stat: one line per online CPU, hexadecimal columns
 * (net/core/net-procfs.c). Kernels before 5.10 have no CPU number column:
 * the line number stands in for it, as in prometheus/procfs. The counters
 * are unsigned int in the kernel and are unwrapped per CPU.
 */
static int kn_softnet(struct kn *s, struct bm_err *err)
{
	const char *path = s->src[KN_SOFTNET].path;
	ssize_t n = kn_read(s, KN_SOFTNET);
	if (n < 0) {
		kn_once(s, &s->softnet_logged, "softnet counters", path, n);
		return 0;
	}
	int rc = 0;
	for (size_t i = 0; i < KN_SN_COUNTERS && !rc; i++)
		rc = kn_family(s, kn_softnet_cols[i].metric, BM_METRIC_COUNTER, NULL,
			       kn_softnet_cols[i].help);
	if (!rc)
		rc = kn_family(s, "node_softnet_backlog_len", BM_METRIC_GAUGE, NULL,
			       "packets in the CPU's input and process queues");
	unsigned line = 0;
	for (const char *p = s->buf; *p && !rc; line++) {
		unsigned long long v[KN_SN_INDEX_COL + 1];
		const char *eol;
		int cols = kn_parse_row(p, 16, v, KN_SN_INDEX_COL + 1, &eol);
		if (cols < 9)
			return bm_err_set(err, BM_EPROTO,
					  "%s: line %u: expected at least 9 hexadecimal columns",
					  path, line + 1);
		unsigned long long cpu = cols > KN_SN_INDEX_COL ? v[KN_SN_INDEX_COL] : line;
		if (cpu >= KN_MAX_CPUS)
			return bm_err_set(err, BM_EPROTO, "%s: line %u: cpu %llu out of range",
					  path, line + 1, cpu);
		if (cpu >= s->n_sn) {
			size_t nn = cpu + 1 > s->n_sn * 2 ? cpu + 1 : s->n_sn * 2;
			struct kn_softnet *ns = realloc(s->sn, nn * sizeof(*ns));
			if (!ns)
				return bm_err_set(err, BM_ENOMEM, "out of memory");
			memset(ns + s->n_sn, 0, (nn - s->n_sn) * sizeof(*ns));
			s->sn = ns;
			s->n_sn = nn;
		}
		char id[24];
		pf_utoa(cpu, id);
		for (size_t i = 0; i < KN_SN_COUNTERS && !rc; i++) {
			if ((int)kn_softnet_cols[i].col >= cols)
				continue;
			uint64_t x = counter32_unwrap(&s->sn[cpu].c[i], v[kn_softnet_cols[i].col]);
			rc = bm_batch_addl(&s->batch, kn_softnet_cols[i].metric, (double)x, "cpu",
					   id, NULL);
		}
		if (!rc && cols > KN_SN_BACKLOG_COL)
			rc = bm_batch_addl(&s->batch, "node_softnet_backlog_len",
					   (double)v[KN_SN_BACKLOG_COL], "cpu", id, NULL);
		p = *eol == '\n' ? eol + 1 : eol;
	}
	return rc;
}

/* adjtimex(2) with modes 0 reads the kernel's NTP state; no privilege. */
static int kn_timex(struct kn *s)
{
	struct timex t = {.modes = 0};
	int state = kn_adjtimex(&t);
	if (state < 0) {
		pf_log_once(s->ctx, &s->timex_logged, BM_LOG_INFO,
			    "adjtimex failed: %s, time sync state not published", strerror(errno));
		return 0;
	}
	const double ppm16 =
	    1000000.0 * 65536.0; /* freq, ppsfreq, stabil: ppm with 16-bit fraction */
	const double div = (t.status & STA_NANO) ? 1e9 : 1e6;
	const struct {
		const char *name;
		enum bm_metric_type type;
		const char *unit;
		double v;
		const char *help;
	} m[] = {
	    {"node_timex_sync_status", BM_METRIC_GAUGE, NULL, state != TIME_ERROR ? 1.0 : 0.0,
	     "is clock synchronized to a reliable server (1 = yes, 0 = no)"},
	    {"node_timex_offset_seconds", BM_METRIC_GAUGE, "seconds", (double)t.offset / div,
	     "time offset in between local system and reference clock"},
	    {"node_timex_frequency_adjustment_ratio", BM_METRIC_GAUGE, "ratio",
	     1.0 + (double)t.freq / ppm16, "local clock frequency adjustment"},
	    {"node_timex_maxerror_seconds", BM_METRIC_GAUGE, "seconds", (double)t.maxerror / 1e6,
	     "maximum error in seconds"},
	    {"node_timex_estimated_error_seconds", BM_METRIC_GAUGE, "seconds",
	     (double)t.esterror / 1e6, "estimated error in seconds"},
	    {"node_timex_status", BM_METRIC_GAUGE, NULL, (double)t.status,
	     "value of the status array bits"},
	    {"node_timex_loop_time_constant", BM_METRIC_GAUGE, NULL, (double)t.constant,
	     "phase-locked loop time constant"},
	    {"node_timex_tick_seconds", BM_METRIC_GAUGE, "seconds", (double)t.tick / 1e6,
	     "seconds between clock ticks"},
	    {"node_timex_pps_frequency_hertz", BM_METRIC_GAUGE, "hertz", (double)t.ppsfreq / ppm16,
	     "pulse per second frequency"},
	    {"node_timex_pps_jitter_seconds", BM_METRIC_GAUGE, "seconds", (double)t.jitter / div,
	     "pulse per second jitter"},
	    {"node_timex_pps_shift_seconds", BM_METRIC_GAUGE, "seconds", (double)t.shift,
	     "pulse per second interval duration"},
	    {"node_timex_pps_stability_hertz", BM_METRIC_GAUGE, "hertz", (double)t.stabil / ppm16,
	     "pulse per second stability, average of recent frequency changes"},
	    {"node_timex_pps_jitter_total", BM_METRIC_COUNTER, NULL, (double)t.jitcnt,
	     "pulse per second count of jitter limit exceeded events"},
	    {"node_timex_pps_calibration_total", BM_METRIC_COUNTER, NULL, (double)t.calcnt,
	     "pulse per second count of calibration intervals"},
	    {"node_timex_pps_error_total", BM_METRIC_COUNTER, NULL, (double)t.errcnt,
	     "pulse per second count of calibration errors"},
	    {"node_timex_pps_stability_exceeded_total", BM_METRIC_COUNTER, NULL, (double)t.stbcnt,
	     "pulse per second count of stability limit exceeded events"},
	    {"node_timex_tai_offset_seconds", BM_METRIC_GAUGE, "seconds", (double)t.tai,
	     "international atomic time (TAI) offset"},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]) && !rc; i++) {
		rc = kn_family(s, m[i].name, m[i].type, m[i].unit, m[i].help);
		if (!rc)
			rc = bm_batch_addl(&s->batch, m[i].name, m[i].v, NULL);
	}
	return rc;
}

/* The cache entry of line idx of a NUMA file; NULL without memory. A
 * line whose field name changed (or a new one) has name[0] == '\0'. */
static struct kn_key *kn_key_at(struct kn_keys *k, size_t idx, const char *raw, size_t len)
{
	if (len >= KN_KEY_MAX)
		return NULL;
	if (idx >= k->n) {
		size_t n = idx + 16;
		struct kn_key *v = realloc(k->v, n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + k->n, 0, (n - k->n) * sizeof(*v));
		k->v = v;
		k->n = n;
	}
	struct kn_key *e = &k->v[idx];
	if (strlen(e->raw) != len || memcmp(e->raw, raw, len) != 0) {
		memcpy(e->raw, raw, len);
		e->raw[len] = '\0';
		e->name[0] = '\0';
	}
	return e;
}

/*
 * NUMA meminfo lines "Node 0 Active(anon):  1544 kB" become
 * node_memory_numa_Active_anon{node="0"} in bytes (node_exporter's
 * meminfo_numa names, no _bytes suffix; HugePages_* counts stay counts).
 */
static int kn_numa_meminfo(struct kn *s, struct kn_node *nd, const char *path, bool declare,
			   struct bm_err *err)
{
	int rc = 0;
	unsigned line = 1;
	for (char *p = s->buf; *p && !rc; line++) {
		char *eol = p + strcspn(p, "\n");
		char *q = p;
		p = *eol ? eol + 1 : eol;
		*eol = '\0';
		if (strncmp(q, "Node ", 5) != 0)
			continue;
		q += 5 + strspn(q + 5, "0123456789");
		q += strspn(q, " ");
		char *colon = strchr(q, ':');
		if (!colon || colon == q || (size_t)(colon - q) > 48)
			return bm_err_set(err, BM_EPROTO, "%s: cannot parse line %u", path, line);
		char *end;
		double v = (double)strtoull(colon + 1, &end, 10);
		if (end == colon + 1)
			return bm_err_set(err, BM_EPROTO, "%s: cannot parse line %u", path, line);
		end += strspn(end, " ");
		bool kb = strncmp(end, "kB", 2) == 0;
		struct kn_key *k = kn_key_at(&nd->mkeys, line - 1, q, (size_t)(colon - q));
		if (!k)
			return BM_ENOMEM;
		if (!k->name[0]) {
			size_t n = (size_t)snprintf(k->name, sizeof(k->name), "node_memory_numa_");
			for (const char *c = q; c < colon && n + 1 < sizeof(k->name); c++) {
				if (*c == ')')
					continue;
				k->name[n++] = *c == '(' ? '_'
							 : (isalnum((unsigned char)*c) || *c == '_' ? *c : '_');
			}
			k->name[n] = '\0';
		}
		if (declare)
			rc = kn_family(s, k->name, BM_METRIC_GAUGE, kb ? "bytes" : NULL,
				       "memory information field from NUMA node meminfo");
		if (!rc)
			rc = bm_batch_addl(&s->batch, k->name, kb ? v * 1024.0 : v, "node", nd->id, NULL);
	}
	return rc;
}

/* NUMA numastat lines "numa_hit 123" become node_memory_numa_numa_hit_total. */
static int kn_numa_numastat(struct kn *s, struct kn_node *nd, bool declare)
{
	int rc = 0;
	size_t idx = 0;
	for (char *p = s->buf; *p && !rc; idx++) {
		char *eol = p + strcspn(p, "\n");
		char *q = p;
		p = *eol ? eol + 1 : eol;
		*eol = '\0';
		size_t kl = strcspn(q, " ");
		char *end;
		double v = (double)strtoull(q + kl, &end, 10);
		if (kl == 0 || kl > 48 || end == q + kl)
			continue;
		struct kn_key *k = kn_key_at(&nd->skeys, idx, q, kl);
		if (!k)
			return BM_ENOMEM;
		if (!k->name[0])
			snprintf(k->name, sizeof(k->name), "node_memory_numa_%s_total", k->raw);
		if (declare)
			rc = kn_family(s, k->name, BM_METRIC_COUNTER, NULL,
				       "memory allocation counter from NUMA node numastat");
		if (!rc)
			rc = bm_batch_addl(&s->batch, k->name, v, "node", nd->id, NULL);
	}
	return rc;
}

/* A node file through its kept-open file; the length or -errno. */
static ssize_t kn_node_read(struct kn *s, struct kn_node *nd, struct pf_file *f, const char *file,
			    char *path, size_t pcap)
{
	int n = snprintf(path, pcap, "%s/node%s/%s", s->node_dir, nd->id, file);
	if (n < 0 || (size_t)n >= pcap)
		return -ENAMETOOLONG;
	return pf_file_slurp(f, AT_FDCWD, path, &s->buf, &s->cap, KN_FILE_MAX);
}

/*
 * One NUMA node: meminfo and numastat. declare: the first node of this
 * collection declares the families.
 */
static int kn_numa_node(struct kn *s, struct kn_node *nd, bool declare, struct bm_err *err)
{
	char path[PATH_MAX];
	if (kn_node_read(s, nd, &nd->meminfo, "meminfo", path, sizeof(path)) < 0)
		return 0; /* went offline since the scan */
	int rc = kn_numa_meminfo(s, nd, path, declare, err);
	if (!rc && kn_node_read(s, nd, &nd->numastat, "numastat", path, sizeof(path)) >= 0)
		rc = kn_numa_numastat(s, nd, declare);
	return rc;
}

/* The node named id, added when new; NULL past KN_MAX_NODES or without memory. */
static struct kn_node *kn_node_get(struct kn *s, const char *id)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (strcmp(s->nodes[i].id, id) == 0)
			return &s->nodes[i];
	if (s->n_nodes >= KN_MAX_NODES)
		return NULL;
	struct kn_node *v = realloc(s->nodes, (s->n_nodes + 1) * sizeof(*v));
	if (!v)
		return NULL;
	s->nodes = v;
	struct kn_node *nd = &v[s->n_nodes++];
	memset(nd, 0, sizeof(*nd));
	snprintf(nd->id, sizeof(nd->id), "%s", id);
	nd->meminfo = nd->numastat = (struct pf_file)PF_FILE_INIT;
	return nd;
}

/* List SYS/devices/system/node (nodes come and go with memory hotplug
 * only: every KN_RECHECK collections); nodes no longer listed are dropped. */
static void kn_numa_scan(struct kn *s)
{
	s->nodes_scanned = s->collections;
	for (size_t i = 0; i < s->n_nodes; i++)
		s->nodes[i].seen = false;
	DIR *d = opendir(s->node_dir);
	if (!d) {
		kn_once(s, &s->numa_logged, "NUMA node memory", s->node_dir, -errno);
	} else {
		struct dirent *e;
		while ((e = readdir(d))) {
			const char *id = e->d_name + 4;
			if (strncmp(e->d_name, "node", 4) != 0 || !*id ||
			    strspn(id, "0123456789") != strlen(id) || strlen(id) > 8)
				continue;
			struct kn_node *nd = kn_node_get(s, id);
			if (nd)
				nd->seen = true;
		}
		closedir(d);
	}
	size_t k = 0;
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (!s->nodes[i].seen) {
			kn_node_free(&s->nodes[i]);
			continue;
		}
		s->nodes[k++] = s->nodes[i];
	}
	s->n_nodes = k;
}

static int kn_numa(struct kn *s, struct bm_err *err)
{
	if (kn_due(s, s->nodes_scanned))
		kn_numa_scan(s);
	int rc = 0;
	for (size_t i = 0; i < s->n_nodes && !rc; i++)
		rc = kn_numa_node(s, &s->nodes[i], i == 0, err);
	return rc;
}

/*
 * buddyinfo: "Node 0, zone   Normal   550   3389 ..." the free blocks of
 * each order, node_buddyinfo_blocks{node,zone,size} with size the order
 * (blocks of 2^size pages), as node_exporter's buddyinfo collector.
 */
static int kn_buddyinfo(struct kn *s, struct bm_err *err)
{
	const char *path = s->src[KN_BUDDY].path;
	ssize_t n = kn_read(s, KN_BUDDY);
	if (n < 0) {
		kn_once(s, &s->buddy_logged, "node_buddyinfo_blocks", path, n);
		return 0;
	}
	int rc = kn_family(s, "node_buddyinfo_blocks", BM_METRIC_GAUGE, NULL,
			   "free memory blocks of 2^size pages, by NUMA node and zone");
	unsigned line = 1;
	for (char *p = s->buf; *p && !rc; line++) {
		char *eol = p + strcspn(p, "\n");
		char *q = p;
		p = *eol ? eol + 1 : eol;
		*eol = '\0';
		char node[12], zone[32];
		int used = 0;
		if (sscanf(q, "Node %11[0-9], zone %31s%n", node, zone, &used) != 2)
			return bm_err_set(err, BM_EPROTO, "%s: cannot parse line %u", path, line);
		unsigned long long v[32];
		const char *end;
		int cols = kn_parse_row(q + used, 10, v, 32, &end);
		if (cols < 1)
			return bm_err_set(err, BM_EPROTO, "%s: cannot parse line %u", path, line);
		for (int i = 0; i < cols && i < 32 && !rc; i++) {
			char size[4];
			pf_utoa((uint64_t)i, size);
			rc = bm_batch_addl(&s->batch, "node_buddyinfo_blocks", (double)v[i], "node", node,
					   "size", size, "zone", zone, NULL);
		}
	}
	return rc;
}

/*
 * net/stat/nf_conntrack: a header line of field names, then one line of
 * hexadecimal counters per CPU; the counters node_exporter publishes,
 * summed over CPUs, as node_nf_conntrack_stat_<field>.
 */
static const char *const kn_ct_fields[] = {
	"found", "invalid", "ignore", "insert", "insert_failed", "drop", "early_drop",
	"search_restart",
};
#define KN_N_CT (sizeof(kn_ct_fields) / sizeof(kn_ct_fields[0]))

static int kn_conntrack_stat(struct kn *s)
{
	const char *path = s->src[KN_CT_STAT].path;
	ssize_t n = kn_read(s, KN_CT_STAT);
	if (n < 0) {
		if (n != -ENOENT) /* no nf_conntrack module: quietly, like the count */
			kn_once(s, &s->ct_stat_logged, "conntrack statistics", path, n);
		return 0;
	}
	int col[KN_N_CT];
	double sum[KN_N_CT] = {0};
	for (size_t i = 0; i < KN_N_CT; i++)
		col[i] = -1;
	char *p = s->buf, *eol = p + strcspn(p, "\n");
	int c = 0;
	for (char *t = p; t < eol; c++) { /* the header: where each field is */
		t += strspn(t, " ");
		size_t len = strcspn(t, " \n");
		for (size_t i = 0; i < KN_N_CT; i++)
			if (strlen(kn_ct_fields[i]) == len && memcmp(t, kn_ct_fields[i], len) == 0)
				col[i] = c;
		t += len;
	}
	for (p = *eol ? eol + 1 : eol; *p;) {
		unsigned long long v[64];
		const char *end;
		int cols = kn_parse_row(p, 16, v, 64, &end);
		if (cols < 0) {
			kn_once(s, &s->ct_stat_logged, "conntrack statistics", path, -EPROTO);
			return 0;
		}
		for (size_t i = 0; i < KN_N_CT; i++)
			if (col[i] >= 0 && col[i] < cols && col[i] < 64)
				sum[i] += (double)v[col[i]];
		p = (char *)(*end ? end + 1 : end);
	}
	int rc = 0;
	char name[64];
	for (size_t i = 0; i < KN_N_CT && !rc; i++) {
		if (col[i] < 0)
			continue;
		snprintf(name, sizeof(name), "node_nf_conntrack_stat_%s", kn_ct_fields[i]);
		rc = kn_family(s, name, BM_METRIC_COUNTER, NULL,
			       "connection tracking statistic, summed over CPUs (net/stat/nf_conntrack)");
		if (!rc)
			rc = bm_batch_addl(&s->batch, name, sum[i], NULL);
	}
	return rc;
}

static int kn_entropy(struct kn *s)
{
	unsigned long long avail, pool;
	ssize_t e;
	char path[PATH_MAX];
	if (!kn_read_u64(s, KN_ENT_AVAIL, &avail, &e) || !kn_read_u64(s, KN_ENT_POOL, &pool, &e)) {
		snprintf(path, sizeof(path), "%s/sys/kernel/random", s->conf->proc_root);
		kn_once(s, &s->entropy_logged, "entropy", path, e < 0 ? e : -EPROTO);
		return 0;
	}
	int rc = kn_family(s, "node_entropy_available_bits", BM_METRIC_GAUGE, "bits",
			   "bits of available entropy");
	if (!rc)
		rc = kn_family(s, "node_entropy_pool_size_bits", BM_METRIC_GAUGE, "bits",
			       "bits of entropy pool");
	if (!rc)
		rc = bm_batch_addl(&s->batch, "node_entropy_available_bits", (double)avail, NULL);
	if (!rc)
		rc = bm_batch_addl(&s->batch, "node_entropy_pool_size_bits", (double)pool, NULL);
	return rc;
}

/* uname(2), again every KN_RECHECK collections (the host name may change). */
static int kn_uname_info(struct kn *s)
{
	if (kn_due(s, s->info_read) || !s->uts_ok)
		s->uts_ok = kn_uname(&s->uts) == 0;
	if (!s->uts_ok)
		return 0;
	const struct utsname u = s->uts;
	const struct bm_label all[] = {
	    {"domainname", u.domainname}, {"machine", u.machine}, {"nodename", u.nodename},
	    {"release", u.release},	  {"sysname", u.sysname}, {"version", u.version},
	};
	struct bm_label l[6];
	size_t n = 0;
	for (size_t i = 0; i < 6; i++)
		if (*all[i].value) /* an empty label is an absent label */
			l[n++] = all[i];
	int rc = kn_family(s, "node_uname_info", BM_METRIC_GAUGE, NULL,
			   "labeled system information as provided by the uname system call");
	return rc ? rc : bm_batch_add(&s->batch, "node_uname_info", 1.0, l, n);
}

/* os-release(5) keys published as node_os_info labels (node_exporter's). */
static const char *const kn_osrel_keys[] = {
    "BUILD_ID",	   "ID",      "ID_LIKE",    "IMAGE_ID", "IMAGE_VERSION",    "NAME",
    "PRETTY_NAME", "VARIANT", "VARIANT_ID", "VERSION",	"VERSION_CODENAME", "VERSION_ID",
};
#define KN_N_OSREL (sizeof(kn_osrel_keys) / sizeof(kn_osrel_keys[0]))

/* Unquote an os-release value in place: "..." with \ escapes, '...', or bare. */
static void kn_unquote(char *v)
{
	char q = *v;
	if (q != '"' && q != '\'')
		return;
	char *w = v;
	const char *r = v + 1;
	while (*r && *r != q) {
		if (q == '"' && *r == '\\' && r[1])
			r++;
		*w++ = *r++;
	}
	*w = '\0';
}

/* os-release, read again every KN_RECHECK collections (an upgrade); the
 * text is parsed in a copy each time, the labels pointing into it. */
static int kn_os_info(struct kn *s)
{
	if (kn_due(s, s->info_read) || !s->osrel_ok) {
		ssize_t n = pf_slurp_at(AT_FDCWD, s->conf->os_release, &s->osrel, &s->osrel_cap,
					KN_FILE_MAX);
		s->osrel_ok = n >= 0;
		if (n < 0) {
			kn_once(s, &s->osrel_logged, "node_os_info", s->conf->os_release, n);
			return 0;
		}
	}
	if (!s->osrel_ok)
		return 0;
	size_t len = strlen(s->osrel);
	if (len + 1 > s->cap) {
		char *b = realloc(s->buf, len + 1);
		if (!b)
			return BM_ENOMEM;
		s->buf = b;
		s->cap = len + 1;
	}
	memcpy(s->buf, s->osrel, len + 1);
	const char *val[KN_N_OSREL] = {0};
	for (char *p = s->buf; *p;) {
		char *eol = p + strcspn(p, "\n");
		char *line = p;
		p = *eol ? eol + 1 : eol;
		*eol = '\0';
		char *eq = strchr(line, '=');
		if (line[0] == '#' || !eq)
			continue;
		*eq = '\0';
		char *v = eq + 1;
		kn_unquote(v);
		for (size_t i = 0; i < KN_N_OSREL; i++)
			if (strcmp(line, kn_osrel_keys[i]) == 0)
				val[i] = v;
	}
	struct bm_label l[KN_N_OSREL];
	char keys[KN_N_OSREL][24];
	size_t nl = 0;
	for (size_t i = 0; i < KN_N_OSREL; i++) {
		if (!val[i] || !*val[i])
			continue; /* an empty label is an absent label */
		size_t k = 0;
		for (; kn_osrel_keys[i][k] && k + 1 < sizeof(keys[0]); k++)
			keys[nl][k] = (char)tolower((unsigned char)kn_osrel_keys[i][k]);
		keys[nl][k] = '\0';
		l[nl].name = keys[nl];
		l[nl].value = val[i];
		nl++;
	}
	int rc = kn_family(
	    s, "node_os_info", BM_METRIC_GAUGE, NULL,
	    "a metric with a constant '1' value labeled by build_id, id, id_like, image_id, "
	    "image_version, "
	    "name, pretty_name, variant, variant_id, version, version_codename, version_id");
	if (!rc)
		rc = bm_batch_add(&s->batch, "node_os_info", 1.0, l, nl);
	/* node_os_version{id,id_like,name}: the leading number of VERSION_ID */
	const char *vid = val[11];
	char *end;
	double ver = vid ? strtod(vid, &end) : 0;
	if (rc || !vid || end == vid || !isdigit((unsigned char)*vid))
		return rc;
	struct bm_label vl[3];
	size_t nv = 0;
	const size_t pick[3] = {1, 2, 5}; /* ID, ID_LIKE, NAME */
	const char *names[3] = {"id", "id_like", "name"};
	for (size_t i = 0; i < 3; i++)
		if (val[pick[i]] && *val[pick[i]])
			vl[nv++] = (struct bm_label){.name = names[i], .value = val[pick[i]]};
	rc = kn_family(s, "node_os_version", BM_METRIC_GAUGE, NULL,
		       "metric containing the major.minor part of the OS version");
	return rc ? rc : bm_batch_add(&s->batch, "node_os_version", ver, vl, nv);
}

static int kn_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct kn *s = state;
	struct bm_batch *b = &s->batch;
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	err->msg[0] = '\0';
	s->collections++;
	/* the sources that fail with a message set err; a batch error does not */
	int rc = kn_filenr(s, err);
	if (!rc)
		rc = kn_uptime(s, err);
	if (!rc)
		rc = kn_conntrack(s);
	if (!rc)
		rc = kn_conntrack_stat(s);
	if (!rc)
		rc = kn_softnet(s, err);
	if (!rc)
		rc = kn_timex(s);
	if (!rc)
		rc = kn_numa(s, err);
	if (!rc)
		rc = kn_buddyinfo(s, err);
	if (!rc)
		rc = kn_entropy(s);
	if (!rc)
		rc = kn_uname_info(s);
	if (!rc)
		rc = kn_os_info(s);
	if (!rc && kn_due(s, s->info_read))
		s->info_read = s->collections;
	if (!rc)
		rc = kn_family(s, "node_time_seconds", BM_METRIC_GAUGE, "seconds",
			       "system time in seconds since epoch (1970)");
	if (!rc)
		rc = bm_batch_addl(b, "node_time_seconds", (double)now_ms / 1000.0, NULL);
	if (rc)
		return err->msg[0]
			   ? rc
			   : bm_err_set(err, rc, "cannot build the batch: %s", bm_strerror(rc));
	return publish_batch_once(s->ctx, b, 0, err, &s->families);
}

static const struct bm_plugin_ops kn_ops = {
    .ops_size = sizeof(struct bm_plugin_ops),
    .init = kn_init,
    .fini = kn_fini,
    .collect = kn_collect,
};

BM_PLUGIN_DEFINE(
    collector, kernel, BM_KIND_COLLECTOR, .version = "1.1.0", .license = "Apache-2.0",
    .description =
	"kernel and OS state: conntrack, file handles, softnet, time sync, NUMA memory, buddyinfo, "
	"entropy, uptime, uname and os-release",
    .origin = "bearmon plugins/collector_kernel", .options = kn_options,
    .config_size = sizeof(struct kn_conf), .ops = &kn_ops);
