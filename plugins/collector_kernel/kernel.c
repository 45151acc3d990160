/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/kernel: kernel and OS state with node_exporter's names:
 * conntrack usage, file handles, softnet counters per CPU, time sync
 * (adjtimex), NUMA node memory, entropy, uptime, wall clock, and the
 * kernel (uname) and distribution (os-release) as info metrics.
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

#define KN_FILE_MAX (4u << 20) /* refuse a file larger than this */
#define KN_MAX_CPUS 65536      /* softnet state entries */

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

struct kn {
	struct bm_ctx *ctx;
	const struct kn_conf *conf;
	char *buf; /* last file read, grown as needed */
	size_t cap;
	struct kn_softnet *sn; /* indexed by CPU number */
	size_t n_sn;
	bool softnet_logged, numa_logged, entropy_logged, timex_logged, osrel_logged;
	struct bm_batch batch;
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
	struct kn *s = calloc(1, sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = conf;
	*state = s;
	return 0;
}

static void kn_fini(void *state)
{
	struct kn *s = state;
	bm_batch_free(&s->batch);
	free(s->sn);
	free(s->buf);
	free(s);
}

/*
 * Read root/rel (rel alone when root is NULL) whole into s->buf. Returns the
 * length or -errno; path gets the full name for messages.
 */
static ssize_t kn_slurp(struct kn *s, const char *root, const char *rel, char *path, size_t pcap)
{
	if (!pf_path(path, pcap, root, rel))
		return -ENAMETOOLONG;
	return pf_slurp_at(AT_FDCWD, path, &s->buf, &s->cap, KN_FILE_MAX);
}

/* Unsigned numbers in base base separated by blanks, up to the end of the
 * line; returns how many (at most max kept), -1 on anything else. */
static int kn_parse_row(const char *p, int base, unsigned long long *v, int max, const char **eol)
{
	return pf_parse_row(p, base, v, max, false, eol);
}

/* One unsigned number file (sysctl style). */
static bool kn_read_u64(struct kn *s, const char *root, const char *rel, unsigned long long *v,
			ssize_t *e)
{
	char path[PATH_MAX];
	const char *eol;
	*e = kn_slurp(s, root, rel, path, sizeof(path));
	return *e >= 0 && kn_parse_row(s->buf, 10, v, 1, &eol) == 1;
}

static int kn_family(struct kn *s, const char *name, enum bm_metric_type t, const char *unit,
		     const char *help)
{
	return bm_batch_family(&s->batch, name, t, unit, help);
}

/* proc/sys/fs/file-nr: allocated, free (always 0 since 2.6), maximum. */
static int kn_filenr(struct kn *s, struct bm_err *err)
{
	char path[PATH_MAX];
	unsigned long long v[3];
	const char *eol;
	ssize_t n = kn_slurp(s, s->conf->proc_root, "sys/fs/file-nr", path, sizeof(path));
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
	char path[PATH_MAX];
	ssize_t n = kn_slurp(s, s->conf->proc_root, "uptime", path, sizeof(path));
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
	if (!kn_read_u64(s, s->conf->proc_root, "sys/net/netfilter/nf_conntrack_count", &count,
			 &e) ||
	    !kn_read_u64(s, s->conf->proc_root, "sys/net/netfilter/nf_conntrack_max", &max, &e))
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
	char path[PATH_MAX];
	ssize_t n = kn_slurp(s, s->conf->proc_root, "net/softnet_stat", path, sizeof(path));
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
		snprintf(id, sizeof(id), "%llu", cpu);
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

/*
 * One NUMA node: meminfo lines "Node 0 Active(anon):  1544 kB" become
 * node_memory_numa_Active_anon{node="0"} in bytes (node_exporter's
 * meminfo_numa names, no _bytes suffix; HugePages_* counts stay counts),
 * numastat lines "numa_hit 123" node_memory_numa_numa_hit_total.
 * declare: the first node of this collection declares the families.
 */
static int kn_numa_node(struct kn *s, const char *nodedir, const char *node, bool declare,
			struct bm_err *err)
{
	char path[PATH_MAX];
	char rel[64];
	snprintf(rel, sizeof(rel), "node%s/meminfo", node);
	ssize_t n = kn_slurp(s, nodedir, rel, path, sizeof(path));
	if (n < 0)
		return 0; /* went offline between readdir and read */
	int rc = 0;
	unsigned line = 1;
	for (char *p = s->buf; *p && !rc; line++) {
		char *eol = p + strcspn(p, "\n");
		char *q = p;
		char name[96];
		p = *eol ? eol + 1 : eol;
		*eol = '\0';
		if (strncmp(q, "Node ", 5) != 0)
			continue;
		q += 5 + strspn(q + 5, "0123456789");
		q += strspn(q, " ");
		char *colon = strchr(q, ':');
		if (!colon || colon == q || (size_t)(colon - q) > 48)
			return bm_err_set(err, BM_EPROTO, "%s: cannot parse line %u", path, line);
		size_t k = (size_t)snprintf(name, sizeof(name), "node_memory_numa_");
		for (const char *c = q; c < colon && k + 1 < sizeof(name); c++) {
			if (*c == ')')
				continue;
			name[k++] =
			    *c == '(' ? '_' : (isalnum((unsigned char)*c) || *c == '_' ? *c : '_');
		}
		name[k] = '\0';
		char *end;
		double v = (double)strtoull(colon + 1, &end, 10);
		if (end == colon + 1)
			return bm_err_set(err, BM_EPROTO, "%s: cannot parse line %u", path, line);
		end += strspn(end, " ");
		bool kb = strncmp(end, "kB", 2) == 0;
		if (kb)
			v *= 1024.0;
		if (declare)
			rc = kn_family(s, name, BM_METRIC_GAUGE, kb ? "bytes" : NULL,
				       "memory information field from NUMA node meminfo");
		if (!rc)
			rc = bm_batch_addl(&s->batch, name, v, "node", node, NULL);
	}
	snprintf(rel, sizeof(rel), "node%s/numastat", node);
	n = rc ? -1 : kn_slurp(s, nodedir, rel, path, sizeof(path));
	for (char *p = s->buf; n >= 0 && *p && !rc;) {
		char *eol = p + strcspn(p, "\n");
		char *q = p;
		char name[96];
		p = *eol ? eol + 1 : eol;
		*eol = '\0';
		size_t kl = strcspn(q, " ");
		char *end;
		double v = (double)strtoull(q + kl, &end, 10);
		if (kl == 0 || kl > 48 || end == q + kl)
			continue;
		snprintf(name, sizeof(name), "node_memory_numa_%.*s_total", (int)kl, q);
		if (declare)
			rc = kn_family(s, name, BM_METRIC_COUNTER, NULL,
				       "memory allocation counter from NUMA node numastat");
		if (!rc)
			rc = bm_batch_addl(&s->batch, name, v, "node", node, NULL);
	}
	return rc;
}

static int kn_numa(struct kn *s, struct bm_err *err)
{
	char dir[PATH_MAX];
	int n = snprintf(dir, sizeof(dir), "%s/devices/system/node", s->conf->sys_root);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return 0;
	DIR *d = opendir(dir);
	if (!d) {
		kn_once(s, &s->numa_logged, "NUMA node memory", dir, -errno);
		return 0;
	}
	int rc = 0;
	bool first = true;
	struct dirent *e;
	while ((e = readdir(d)) && !rc) {
		const char *id = e->d_name + 4;
		if (strncmp(e->d_name, "node", 4) != 0 || !*id ||
		    strspn(id, "0123456789") != strlen(id) || strlen(id) > 8)
			continue;
		rc = kn_numa_node(s, dir, id, first, err);
		first = false;
	}
	closedir(d);
	return rc;
}

static int kn_entropy(struct kn *s)
{
	unsigned long long avail, pool;
	ssize_t e;
	char path[PATH_MAX];
	if (!kn_read_u64(s, s->conf->proc_root, "sys/kernel/random/entropy_avail", &avail, &e) ||
	    !kn_read_u64(s, s->conf->proc_root, "sys/kernel/random/poolsize", &pool, &e)) {
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

static int kn_uname_info(struct kn *s)
{
	struct utsname u;
	if (kn_uname(&u) != 0)
		return 0;
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

static int kn_os_info(struct kn *s)
{
	char path[PATH_MAX];
	ssize_t n = kn_slurp(s, NULL, s->conf->os_release, path, sizeof(path));
	if (n < 0) {
		kn_once(s, &s->osrel_logged, "node_os_info", s->conf->os_release, n);
		return 0;
	}
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
	/* the sources that fail with a message set err; a batch error does not */
	int rc = kn_filenr(s, err);
	if (!rc)
		rc = kn_uptime(s, err);
	if (!rc)
		rc = kn_conntrack(s);
	if (!rc)
		rc = kn_softnet(s, err);
	if (!rc)
		rc = kn_timex(s);
	if (!rc)
		rc = kn_numa(s, err);
	if (!rc)
		rc = kn_entropy(s);
	if (!rc)
		rc = kn_uname_info(s);
	if (!rc)
		rc = kn_os_info(s);
	if (!rc)
		rc = kn_family(s, "node_time_seconds", BM_METRIC_GAUGE, "seconds",
			       "system time in seconds since epoch (1970)");
	if (!rc)
		rc = bm_batch_addl(b, "node_time_seconds", (double)now_ms / 1000.0, NULL);
	if (rc)
		return err->msg[0]
			   ? rc
			   : bm_err_set(err, rc, "cannot build the batch: %s", bm_strerror(rc));
	struct bm_metric_batch mb;
	bm_batch_view(b, &mb);
	return bm_metrics_publish(s->ctx, &mb);
}

static const struct bm_plugin_ops kn_ops = {
    .ops_size = sizeof(struct bm_plugin_ops),
    .init = kn_init,
    .fini = kn_fini,
    .collect = kn_collect,
};

BM_PLUGIN_DEFINE(
    collector, kernel, BM_KIND_COLLECTOR, .version = "1.0.0", .license = "Apache-2.0",
    .description =
	"kernel and OS state: conntrack, file handles, softnet, time sync, NUMA memory, entropy, "
	"uptime, uname and os-release",
    .origin = "bearmon plugins/collector_kernel", .options = kn_options,
    .config_size = sizeof(struct kn_conf), .ops = &kn_ops);
