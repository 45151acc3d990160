/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/cgroup: per-cgroup CPU, memory, IO, pids and pressure figures
 * under a cgroup root, with cAdvisor's container_* names, from cgroup v2
 * (pure unified hosts) or the v1 controllers (hybrid and legacy hosts).
 * Labels: cgroup (path below the root), unit (systemd), container_id.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_hash.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "../common/procfs.h"
#include "../common/publish.h"

struct cg_conf {
	char *root;      /* cgroup root: the v2 mount, or the tmpfs holding v1 controllers */
	char *proc_root; /* procfs, for self/mountinfo */
	char *sys_root;  /* sysfs, for dev/block/MAJ:MIN/uevent */
	int mode;        /* CG_MODE_* */
	struct bm_strlist include, exclude;
	int64_t max_depth;
	int64_t max_cgroups;
};

enum { CG_MODE_AUTO, CG_MODE_V1, CG_MODE_V2 };
static const char *const cg_modes[] = {"auto", "v1", "v2", NULL};

static const struct bm_option cg_options[] = {
	BM_OPTION("root", BM_OPT_STRING, "/sys/fs/cgroup", struct cg_conf, root,
		  "cgroup root: the cgroup2 mount, or the directory holding the v1 controller mounts"),
	BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct cg_conf, proc_root,
		  "procfs mount point; self/mountinfo tells how root is mounted"),
	BM_OPTION("sys_root", BM_OPT_STRING, "/sys", struct cg_conf, sys_root,
		  "sysfs mount point; dev/block/MAJ:MIN/uevent names io devices"),
	{.name = "mode", .type = BM_OPT_ENUM, .def = "auto", .offset = offsetof(struct cg_conf, mode),
	 .enum_values = cg_modes, .help = "hierarchy: auto (detect), v1 (controllers under root/<controller>), v2 (root is cgroup2)"},
	BM_OPTION("include", BM_OPT_STRING_LIST, NULL, struct cg_conf, include,
		  "cgroup path regexes (POSIX ERE, anchored) to export; empty = all"),
	BM_OPTION("exclude", BM_OPT_STRING_LIST, NULL, struct cg_conf, exclude,
		  "cgroup path regexes (POSIX ERE, anchored) not to export"),
	BM_OPTION_BOUNDED("max_depth", BM_OPT_INT, "3", struct cg_conf, max_depth, 0, 32,
			  "levels below the root to walk (0 = the root cgroup only)"),
	BM_OPTION_BOUNDED("max_cgroups", BM_OPT_INT, "500", struct cg_conf, max_cgroups, 1, 100000,
			  "most cgroups exported per collection; the rest counted in bearmon_cgroup_dropped_total"),
	BM_OPTION_END,
};

/* What one walk reads in each cgroup directory. */
enum {
	CGC_CPU = 1u << 0,     /* v1 cpu: cpu.stat (CFS), cpu.cfs_quota_us, cpu.cfs_period_us */
	CGC_CPUACCT = 1u << 1, /* v1 cpuacct: usage, user, system */
	CGC_MEMORY = 1u << 2,  /* v1 memory */
	CGC_BLKIO = 1u << 3,   /* v1 blkio throttle statistics */
	CGC_PIDS = 1u << 4,    /* v1 pids */
	CGC_PSI = 1u << 5,     /* pressure files only: the unified mount of a hybrid host */
	CGC_V2 = 1u << 6,      /* everything from a cgroup2 tree */
};

static const struct {
	const char *name;
	unsigned bit;
} cg_v1_ctrl[] = {
	{"cpu", CGC_CPU}, {"cpuacct", CGC_CPUACCT}, {"memory", CGC_MEMORY}, {"blkio", CGC_BLKIO}, {"pids", CGC_PIDS},
};
#define CG_N_V1 (sizeof(cg_v1_ctrl) / sizeof(cg_v1_ctrl[0]))

enum { CG_LAYOUT_NONE, CG_LAYOUT_V2, CG_LAYOUT_HYBRID, CG_LAYOUT_V1 };
static const char *const cg_layout_names[] = {"none", "v2", "hybrid", "legacy v1"};

/* Metric families. */
enum cg_fam {
	F_CPU_USAGE, F_CPU_USER, F_CPU_SYSTEM, F_CFS_PERIODS, F_CFS_THR_PERIODS, F_CFS_THR_SECONDS,
	F_CPU_QUOTA, F_CPU_PERIOD,
	F_MEM_USAGE, F_MEM_WS, F_MEM_RSS, F_MEM_CACHE, F_MEM_MAPPED, F_MEM_SWAP, F_MEM_MAX_USAGE,
	F_MEM_FAILCNT, F_MEM_LIMIT, F_MEM_RESERVATION, F_MEM_HIGH, F_OOM, F_MEM_EVENTS, F_MEM_FAILURES,
	F_FS_RBYTES, F_FS_WBYTES, F_FS_READS, F_FS_WRITES,
	F_TASKS, F_PIDS_MAX,
	F_PSI_CPU_SOME, F_PSI_CPU_FULL, F_PSI_MEM_SOME, F_PSI_MEM_FULL, F_PSI_IO_SOME, F_PSI_IO_FULL,
	F_DROPPED, F_CGROUPS,
	F_N
};

#define C BM_METRIC_COUNTER
#define G BM_METRIC_GAUGE
static const struct {
	const char *name;
	enum bm_metric_type type;
	const char *unit;
	const char *help;
} cg_fam[F_N] = {
	[F_CPU_USAGE] = {"container_cpu_usage_seconds_total", C, "seconds", "cumulative cpu time consumed"},
	[F_CPU_USER] = {"container_cpu_user_seconds_total", C, "seconds", "cumulative user cpu time consumed"},
	[F_CPU_SYSTEM] = {"container_cpu_system_seconds_total", C, "seconds", "cumulative system cpu time consumed"},
	[F_CFS_PERIODS] = {"container_cpu_cfs_periods_total", C, NULL, "number of elapsed enforcement period intervals"},
	[F_CFS_THR_PERIODS] = {"container_cpu_cfs_throttled_periods_total", C, NULL, "number of throttled period intervals"},
	[F_CFS_THR_SECONDS] = {"container_cpu_cfs_throttled_seconds_total", C, "seconds", "total time duration the cgroup has been throttled"},
	[F_CPU_QUOTA] = {"container_spec_cpu_quota", G, NULL, "cpu quota in microseconds per period (only when a quota is set)"},
	[F_CPU_PERIOD] = {"container_spec_cpu_period", G, NULL, "cpu period in microseconds"},
	[F_MEM_USAGE] = {"container_memory_usage_bytes", G, "bytes", "current memory usage, including all memory regardless of when it was accessed"},
	[F_MEM_WS] = {"container_memory_working_set_bytes", G, "bytes", "current working set: usage minus inactive file cache"},
	[F_MEM_RSS] = {"container_memory_rss", G, "bytes", "size of rss (anonymous memory)"},
	[F_MEM_CACHE] = {"container_memory_cache", G, "bytes", "page cache memory"},
	[F_MEM_MAPPED] = {"container_memory_mapped_file", G, "bytes", "size of memory mapped files"},
	[F_MEM_SWAP] = {"container_memory_swap", G, "bytes", "swap usage"},
	[F_MEM_MAX_USAGE] = {"container_memory_max_usage_bytes", G, "bytes", "maximum memory usage recorded"},
	[F_MEM_FAILCNT] = {"container_memory_failcnt", C, NULL, "number of memory usage hits limits (cgroup v1)"},
	[F_MEM_LIMIT] = {"container_spec_memory_limit_bytes", G, "bytes", "memory limit (memory.max / memory.limit_in_bytes), only when set"},
	[F_MEM_RESERVATION] = {"container_spec_memory_reservation_limit_bytes", G, "bytes", "memory reservation (memory.min / memory.soft_limit_in_bytes), only when set"},
	[F_MEM_HIGH] = {"container_spec_memory_high_bytes", G, "bytes", "memory.high throttling threshold (cgroup v2), only when set"},
	[F_OOM] = {"container_oom_events_total", C, NULL, "count of out of memory kills in the cgroup"},
	[F_MEM_EVENTS] = {"container_memory_events_total", C, NULL, "memory.events counters by event (low, high, max, oom, oom_kill)"},
	[F_MEM_FAILURES] = {"container_memory_failures_total", C, NULL, "page faults (failure_type pgfault, pgmajfault) of the cgroup (scope container) or of its subtree (scope hierarchy), memory.stat"},
	[F_FS_RBYTES] = {"container_fs_reads_bytes_total", C, "bytes", "cumulative bytes read, by device"},
	[F_FS_WBYTES] = {"container_fs_writes_bytes_total", C, "bytes", "cumulative bytes written, by device"},
	[F_FS_READS] = {"container_fs_reads_total", C, NULL, "cumulative count of reads completed, by device"},
	[F_FS_WRITES] = {"container_fs_writes_total", C, NULL, "cumulative count of writes completed, by device"},
	[F_TASKS] = {"container_tasks", G, NULL, "number of tasks (processes and threads) in the cgroup (pids.current)"},
	[F_PIDS_MAX] = {"container_spec_pids_max", G, NULL, "maximum number of tasks (pids.max), only when set"},
	[F_PSI_CPU_SOME] = {"container_pressure_cpu_waiting_seconds_total", C, "seconds", "total time some tasks waited for cpu"},
	[F_PSI_CPU_FULL] = {"container_pressure_cpu_stalled_seconds_total", C, "seconds", "total time all tasks stalled on cpu"},
	[F_PSI_MEM_SOME] = {"container_pressure_memory_waiting_seconds_total", C, "seconds", "total time some tasks waited for memory"},
	[F_PSI_MEM_FULL] = {"container_pressure_memory_stalled_seconds_total", C, "seconds", "total time all tasks stalled on memory"},
	[F_PSI_IO_SOME] = {"container_pressure_io_waiting_seconds_total", C, "seconds", "total time some tasks waited for io"},
	[F_PSI_IO_FULL] = {"container_pressure_io_stalled_seconds_total", C, "seconds", "total time all tasks stalled on io"},
	[F_DROPPED] = {"bearmon_cgroup_dropped_total", C, NULL, "cgroups not exported because max_cgroups was reached, summed over collections"},
	[F_CGROUPS] = {"bearmon_cgroup_cgroups", G, NULL, "cgroups exported by the last collection"},
};
#undef C
#undef G

enum {
	CG_MAX_HIER = 8,        /* v1 controller mounts we read, plus unified */
	CG_DENTS = 8192,        /* getdents64 buffer per directory level */
	CG_BUF = 65536,         /* one read of a cgroup file */
	CG_MAX_DEVS = 64,       /* cached MAJ:MIN -> name */
	CG_DEV_REFRESH = 300,   /* collections between device name refreshes */
	CG_MAX_LABELS = 4,      /* cgroup, unit, container_id, one more */
	CG_MAX_HELD_DIRS = 1024, /* directory fds kept open at most */
};

/* statfs f_type of cgroup v1 and v2 mounts (linux/magic.h) */
#define CG_CGROUP_SUPER_MAGIC 0x27e0ebL
#define CG_CGROUP2_SUPER_MAGIC 0x63677270L

/* v1 reports "no limit" as a page-rounded LLONG_MAX (9223372036854771712). */
#define CG_V1_UNLIMITED (1ull << 62)

/* The files read in a cgroup directory, indexes of cg_files[] and of a
 * node's kept-open files. */
enum cg_file {
	CGF_BLKIO_THROTTLE_IO_SERVICE_BYTES,
	CGF_BLKIO_THROTTLE_IO_SERVICE_BYTES_RECURSIVE,
	CGF_BLKIO_THROTTLE_IO_SERVICED,
	CGF_BLKIO_THROTTLE_IO_SERVICED_RECURSIVE,
	CGF_CPU_CFS_PERIOD_US,
	CGF_CPU_CFS_QUOTA_US,
	CGF_CPU_MAX,
	CGF_CPU_PRESSURE,
	CGF_CPU_STAT,
	CGF_CPUACCT_STAT,
	CGF_CPUACCT_USAGE,
	CGF_IO_PRESSURE,
	CGF_IO_STAT,
	CGF_MEMORY_CURRENT,
	CGF_MEMORY_EVENTS,
	CGF_MEMORY_FAILCNT,
	CGF_MEMORY_HIGH,
	CGF_MEMORY_LIMIT_IN_BYTES,
	CGF_MEMORY_MAX,
	CGF_MEMORY_MAX_USAGE_IN_BYTES,
	CGF_MEMORY_MIN,
	CGF_MEMORY_OOM_CONTROL,
	CGF_MEMORY_PEAK,
	CGF_MEMORY_PRESSURE,
	CGF_MEMORY_SOFT_LIMIT_IN_BYTES,
	CGF_MEMORY_STAT,
	CGF_MEMORY_SWAP_CURRENT,
	CGF_MEMORY_USAGE_IN_BYTES,
	CGF_PIDS_CURRENT,
	CGF_PIDS_MAX,
	CGF_N
};
static const char *const cg_files[CGF_N] = {
	[CGF_BLKIO_THROTTLE_IO_SERVICE_BYTES] = "blkio.throttle.io_service_bytes",
	[CGF_BLKIO_THROTTLE_IO_SERVICE_BYTES_RECURSIVE] = "blkio.throttle.io_service_bytes_recursive",
	[CGF_BLKIO_THROTTLE_IO_SERVICED] = "blkio.throttle.io_serviced",
	[CGF_BLKIO_THROTTLE_IO_SERVICED_RECURSIVE] = "blkio.throttle.io_serviced_recursive",
	[CGF_CPU_CFS_PERIOD_US] = "cpu.cfs_period_us",
	[CGF_CPU_CFS_QUOTA_US] = "cpu.cfs_quota_us",
	[CGF_CPU_MAX] = "cpu.max",
	[CGF_CPU_PRESSURE] = "cpu.pressure",
	[CGF_CPU_STAT] = "cpu.stat",
	[CGF_CPUACCT_STAT] = "cpuacct.stat",
	[CGF_CPUACCT_USAGE] = "cpuacct.usage",
	[CGF_IO_PRESSURE] = "io.pressure",
	[CGF_IO_STAT] = "io.stat",
	[CGF_MEMORY_CURRENT] = "memory.current",
	[CGF_MEMORY_EVENTS] = "memory.events",
	[CGF_MEMORY_FAILCNT] = "memory.failcnt",
	[CGF_MEMORY_HIGH] = "memory.high",
	[CGF_MEMORY_LIMIT_IN_BYTES] = "memory.limit_in_bytes",
	[CGF_MEMORY_MAX] = "memory.max",
	[CGF_MEMORY_MAX_USAGE_IN_BYTES] = "memory.max_usage_in_bytes",
	[CGF_MEMORY_MIN] = "memory.min",
	[CGF_MEMORY_OOM_CONTROL] = "memory.oom_control",
	[CGF_MEMORY_PEAK] = "memory.peak",
	[CGF_MEMORY_PRESSURE] = "memory.pressure",
	[CGF_MEMORY_SOFT_LIMIT_IN_BYTES] = "memory.soft_limit_in_bytes",
	[CGF_MEMORY_STAT] = "memory.stat",
	[CGF_MEMORY_SWAP_CURRENT] = "memory.swap.current",
	[CGF_MEMORY_USAGE_IN_BYTES] = "memory.usage_in_bytes",
	[CGF_PIDS_CURRENT] = "pids.current",
	[CGF_PIDS_MAX] = "pids.max",
};

struct cg_hier {
	char path[PATH_MAX];
	unsigned mask; /* CGC_* */
	dev_t dev;
	ino_t ino;
	bool kernfs;   /* on cgroupfs (checked when its root is opened) */
};

/*
 * A cgroup directory of one hierarchy on cgroupfs, kept between
 * collections: its directory fd and its files stay open, so that a
 * collection reads each file with one pread instead of a path walk, an
 * open (which allocates on kernfs), a read and a close, several times
 * cheaper. Nodes not visited in a collection (removed cgroups) are closed.
 */
struct cg_node {
	uint64_t key;  /* cg_node_key() of hierarchy and path; 0: empty slot */
	uint32_t gen;  /* collection it was last visited in */
	int dirfd;     /* -1: not held */
	struct pf_file f[CGF_N];
};

/* Paths seen in this collection (several v1 walks visit the same path):
 * new, exported, dropped by max_cgroups, filtered out, or admitted but
 * with nothing readable (its slot given back). */
enum { CG_SEEN_NEW, CG_SEEN_KEEP, CG_SEEN_DROP, CG_SEEN_FILTERED, CG_SEEN_EMPTY };
struct cg_seen {
	uint64_t h;   /* FNV-1a of the path */
	uint32_t gen; /* collection number; another value = empty slot */
	uint8_t st;   /* CG_SEEN_* */
};

struct cg_dev {
	unsigned maj, min;
	char name[40];
};

struct cg {
	struct bm_ctx *ctx;
	char root[PATH_MAX];
	char mountinfo[PATH_MAX + 32];
	char sys_root[PATH_MAX];
	int mode;
	int layout; /* CG_LAYOUT_* */
	struct cg_hier hier[CG_MAX_HIER];
	int n_hier;
	struct bm_filter filter;
	int max_depth;
	size_t max_cgroups;
	long clk_tck;

	struct cg_seen *seen; /* open addressing, seen_cap a power of two, 3/4 full at most */
	size_t seen_cap, seen_n;
	uint32_t gen;
	size_t n_kept;        /* cgroups exported in this collection */
	uint64_t dropped_total;
	bool dropped_logged, none_logged;

	char path[PATH_MAX]; /* cgroup being visited, relative to the hierarchy ("" = root) */
	char *dents;         /* max_depth * CG_DENTS */
	struct bm_label lab[CG_MAX_LABELS];
	size_t n_lab;
	char unit[256];
	char cid[65];
	bool kernfs;       /* the walk is on cgroupfs: st_nlink = 2 + subdirectories */
	uint64_t declared; /* families declared in this batch (bit per cg_fam) */
	int rc;            /* first batch error of this collection */

	struct cg_dev devs[CG_MAX_DEVS];
	struct cg_dev dev_spare; /* when the cache is full */
	size_t n_devs;
	unsigned collections;

	struct cg_node *nodes; /* open addressing, nodes_cap a power of two, 3/4 full at most */
	size_t nodes_cap, nodes_n;
	size_t dirs_held;
	struct cg_node *node;  /* the cgroup being read; NULL: open each file */

	struct bm_batch batch;
	struct pub_families families; /* metadata already published */
	char buf[CG_BUF];
};

/* ------------------------------------------------------------------ */
/* Detection                                                          */
/* ------------------------------------------------------------------ */

static int cg_add_hier(struct cg *p, const char *path, unsigned mask)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	for (int i = 0; i < p->n_hier; i++) {
		if (p->hier[i].dev == st.st_dev && p->hier[i].ino == st.st_ino) {
			p->hier[i].mask |= mask;
			return 1;
		}
	}
	if (p->n_hier >= CG_MAX_HIER || strlen(path) >= PATH_MAX)
		return 0;
	struct cg_hier *h = &p->hier[p->n_hier++];
	strcpy(h->path, path);
	h->mask = mask;
	h->dev = st.st_dev;
	h->ino = st.st_ino;
	return 1;
}

/* Fills hier from PROC/self/mountinfo. Returns the layout, or NONE when
 * mountinfo is unreadable or lists no cgroup mount at or right below root. */
static int cg_detect_mountinfo(struct cg *p)
{
	FILE *f = fopen(p->mountinfo, "re");
	if (!f)
		return CG_LAYOUT_NONE;
	char *line = NULL;
	size_t cap = 0;
	size_t rl = strlen(p->root);
	bool v2_root = false;
	char unified[PATH_MAX] = "";
	while (getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char *fld[6] = {0}, *save = NULL, *tok;
		int n = 0;
		char *fstype = NULL, *super = NULL;
		bool after_dash = false;
		int after = 0;
		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			if (!after_dash) {
				if (strcmp(tok, "-") == 0 && n >= 6)
					after_dash = true;
				else if (n < 6)
					fld[n++] = tok;
			} else {
				if (after == 0)
					fstype = tok;
				else if (after == 2)
					super = tok;
				after++;
			}
		}
		if (!fstype || !fld[4])
			continue;
		bool v2 = strcmp(fstype, "cgroup2") == 0;
		if (!v2 && strcmp(fstype, "cgroup") != 0)
			continue;
		char *mp = fld[4];
		pf_unescape_octal(mp); /* mountinfo escapes blanks and backslashes */
		bool at_root = strcmp(mp, p->root) == 0;
		bool below = !at_root && strncmp(mp, p->root, rl) == 0 && mp[rl] == '/' && mp[rl + 1] &&
			     !strchr(mp + rl + 1, '/');
		if (!at_root && !below)
			continue;
		if (v2) {
			if (at_root)
				v2_root = true;
			else if (!unified[0] && strlen(mp) < sizeof(unified))
				strcpy(unified, mp);
			continue;
		}
		unsigned mask = 0;
		for (char *o = super ? strtok_r(super, ",", &save) : NULL; o; o = strtok_r(NULL, ",", &save))
			for (size_t i = 0; i < CG_N_V1; i++)
				if (strcmp(o, cg_v1_ctrl[i].name) == 0)
					mask |= cg_v1_ctrl[i].bit;
		if (mask)
			cg_add_hier(p, mp, mask);
	}
	free(line);
	fclose(f);
	if (v2_root) {
		p->n_hier = 0;
		return cg_add_hier(p, p->root, CGC_V2) ? CG_LAYOUT_V2 : CG_LAYOUT_NONE;
	}
	if (p->n_hier == 0)
		return CG_LAYOUT_NONE;
	if (unified[0] && cg_add_hier(p, unified, CGC_PSI))
		return CG_LAYOUT_HYBRID;
	return CG_LAYOUT_V1;
}

/* Detection from the tree alone (mountinfo does not describe root: a
 * container with a bind mount, a fixture tree, forced modes). */
static int cg_detect_tree(struct cg *p, bool try_v2)
{
	char path[PATH_MAX + 32];
	if (try_v2) {
		snprintf(path, sizeof(path), "%s/cgroup.controllers", p->root);
		if (access(path, F_OK) == 0)
			return cg_add_hier(p, p->root, CGC_V2) ? CG_LAYOUT_V2 : CG_LAYOUT_NONE;
	}
	for (size_t i = 0; i < CG_N_V1; i++) {
		snprintf(path, sizeof(path), "%s/%s", p->root, cg_v1_ctrl[i].name);
		cg_add_hier(p, path, cg_v1_ctrl[i].bit);
	}
	if (p->n_hier == 0)
		return CG_LAYOUT_NONE;
	snprintf(path, sizeof(path), "%s/unified/cgroup.controllers", p->root);
	if (access(path, F_OK) == 0) {
		snprintf(path, sizeof(path), "%s/unified", p->root);
		if (cg_add_hier(p, path, CGC_PSI))
			return CG_LAYOUT_HYBRID;
	}
	return CG_LAYOUT_V1;
}

static void cg_detect(struct cg *p)
{
	p->n_hier = 0;
	switch (p->mode) {
	case CG_MODE_V2:
		p->layout = cg_add_hier(p, p->root, CGC_V2) ? CG_LAYOUT_V2 : CG_LAYOUT_NONE;
		break;
	case CG_MODE_V1:
		p->layout = cg_detect_tree(p, false);
		break;
	default:
		p->layout = cg_detect_mountinfo(p);
		if (p->layout == CG_LAYOUT_NONE) {
			p->n_hier = 0;
			p->layout = cg_detect_tree(p, true);
		}
	}
	if (p->layout == CG_LAYOUT_NONE)
		return;
	char what[256] = "";
	size_t used = 0;
	for (int i = 0; i < p->n_hier && used < sizeof(what); i++) {
		const char *base = strrchr(p->hier[i].path, '/');
		int w = snprintf(what + used, sizeof(what) - used, "%s%s", used ? ", " : "",
				 p->hier[i].mask == CGC_V2 ? "all controllers" : base ? base + 1 : p->hier[i].path);
		if (w > 0)
			used += (size_t)w;
	}
	bm_log_info(p->ctx, "%s: %s hierarchy; reading %s%s", p->root, cg_layout_names[p->layout], what,
		    p->layout == CG_LAYOUT_HYBRID ? " (numbers from the v1 controllers, pressure from the unified mount)" : "");
}

/* ------------------------------------------------------------------ */
/* Batch helpers                                                      */
/* ------------------------------------------------------------------ */

/* A sample of family f with the cgroup's labels and nx more. */
static void cg_add_labels(struct cg *p, enum cg_fam f, double v, const struct bm_label *x, size_t nx)
{
	if (p->rc)
		return;
	if (!(p->declared & (1ull << f))) {
		p->rc = bm_batch_family(&p->batch, cg_fam[f].name, cg_fam[f].type, cg_fam[f].unit, cg_fam[f].help);
		if (p->rc)
			return;
		p->declared |= 1ull << f;
	}
	struct bm_label l[CG_MAX_LABELS + 2];
	size_t n = p->n_lab;
	memcpy(l, p->lab, n * sizeof(l[0]));
	for (size_t i = 0; i < nx && n < sizeof(l) / sizeof(l[0]); i++)
		l[n++] = x[i];
	p->rc = bm_batch_add(&p->batch, cg_fam[f].name, v, l, n);
}

static void cg_add(struct cg *p, enum cg_fam f, double v, const char *xname, const char *xval)
{
	const struct bm_label x = {xname, xval};
	cg_add_labels(p, f, v, &x, xname ? 1 : 0);
}

/* container_memory_failures_total{failure_type,scope}: v[0] pgfault,
 * v[1] pgmajfault when found. */
static void cg_failures(struct cg *p, unsigned found, const uint64_t *v, const char *scope)
{
	static const char *const types[2] = {"pgfault", "pgmajfault"};
	for (int i = 0; i < 2; i++) {
		if (!((found >> i) & 1u))
			continue;
		const struct bm_label x[2] = {{"failure_type", types[i]}, {"scope", scope}};
		cg_add_labels(p, F_MEM_FAILURES, (double)v[i], x, 2);
	}
}

static bool cg_is_hex64(const char *s, const char *start, const char *end)
{
	if (end - s < 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	/* bounded by a separator on both sides, not part of a longer word */
	bool left = s == start || s[-1] == '/' || s[-1] == '-' || s[-1] == '.' || s[-1] == ':' || s[-1] == '_';
	bool right = s + 64 == end || s[64] == '/' || s[64] == '.' || s[64] == '-' || s[64] == ':' || s[64] == '_';
	return left && right;
}

static bool cg_ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n > k && memcmp(s + n - k, suf, k) == 0;
}

/* Labels of the cgroup at path ("/" for the root). */
static void cg_labels(struct cg *p, const char *path)
{
	size_t len = strlen(path);
	p->n_lab = 0;
	p->lab[p->n_lab++] = (struct bm_label){"cgroup", path};
	const char *last = strrchr(path, '/');
	last = last ? last + 1 : path;
	size_t ll = (size_t)(path + len - last);
	static const char *const unit_suffixes[] = {".service", ".scope", ".slice", ".socket", ".mount", ".swap"};
	for (size_t i = 0; i < sizeof(unit_suffixes) / sizeof(unit_suffixes[0]); i++) {
		if (cg_ends_with(last, ll, unit_suffixes[i]) && ll < sizeof(p->unit)) {
			memcpy(p->unit, last, ll + 1);
			p->lab[p->n_lab++] = (struct bm_label){"unit", p->unit};
			break;
		}
	}
	/* the last 64-hex word: docker-<id>.scope, cri-containerd-<id>.scope,
	 * crio-<id>.scope, libpod-<id>.scope, /docker/<id>, /kubepods/.../<id> */
	const char *found = NULL;
	for (const char *s = path; s + 64 <= path + len; s++)
		if (cg_is_hex64(s, path, path + len)) {
			found = s;
			s += 63;
		}
	if (found) {
		memcpy(p->cid, found, 64);
		p->cid[64] = '\0';
		p->lab[p->n_lab++] = (struct bm_label){"container_id", p->cid};
	}
}

/* ------------------------------------------------------------------ */
/* File reading and parsing                                           */
/* ------------------------------------------------------------------ */

/* dfd/name into p->buf. NULL when absent, vanished or empty:
 * a cgroup removed under us answers ENOENT or ENODEV, which is not an error. */
static char *cg_read(struct cg *p, int dfd, enum cg_file id)
{
	ssize_t n = p->node ? pf_file_read(&p->node->f[id], dfd, cg_files[id], p->buf, sizeof(p->buf))
			    : pf_read_at(dfd, cg_files[id], p->buf, sizeof(p->buf));
	if (n <= 0)
		return NULL;
	if ((size_t)n == sizeof(p->buf) - 1) { /* truncated: keep whole lines */
		char *nl = memrchr(p->buf, '\n', (size_t)n);
		if (nl)
			n = nl + 1 - p->buf;
	}
	p->buf[n] = '\0';
	return p->buf;
}

enum { CG_VAL_NONE, CG_VAL_NUM, CG_VAL_MAX };
/* A file with one number, or "max" (v2 for no limit). */
static int cg_read_value(struct cg *p, int dfd, enum cg_file id, uint64_t *v)
{
	const char *s = cg_read(p, dfd, id);
	if (!s)
		return CG_VAL_NONE;
	if (strncmp(s, "max", 3) == 0 && (s[3] == '\n' || s[3] == '\0'))
		return CG_VAL_MAX;
	return pf_parse_u64(s, v, NULL) ? CG_VAL_NUM : CG_VAL_NONE;
}

/* "key value" lines: out[i] for keys[i]; returns the bit mask of keys found. */
static unsigned cg_kv(const char *s, const char *const *keys, size_t n_keys, uint64_t *out)
{
	unsigned found = 0;
	while (*s) {
		const char *eol = strchrnul(s, '\n');
		const char *sp = memchr(s, ' ', (size_t)(eol - s));
		if (sp) {
			size_t kl = (size_t)(sp - s);
			for (size_t i = 0; i < n_keys; i++) {
				if (keys[i][0] == s[0] && strlen(keys[i]) == kl && memcmp(keys[i], s, kl) == 0) {
					uint64_t v;
					if (pf_parse_u64(sp + 1, &v, NULL)) {
						out[i] = v;
						found |= 1u << i;
					}
					break;
				}
			}
		}
		s = *eol ? eol + 1 : eol;
	}
	return found;
}
#define HAS(mask, i) (((mask) >> (i)) & 1u)

/* MAJ:MIN -> kernel device name from SYS/dev/block/MAJ:MIN/uevent, cached. */
static const char *cg_devname(struct cg *p, unsigned maj, unsigned min)
{
	for (size_t i = 0; i < p->n_devs; i++)
		if (p->devs[i].maj == maj && p->devs[i].min == min)
			return p->devs[i].name;
	struct cg_dev *d = p->n_devs < CG_MAX_DEVS ? &p->devs[p->n_devs++] : &p->dev_spare;
	d->maj = maj;
	d->min = min;
	snprintf(d->name, sizeof(d->name), "%u:%u", maj, min);
	char path[PATH_MAX + 64], ue[1024];
	snprintf(path, sizeof(path), "%s/dev/block/%u:%u/uevent", p->sys_root, maj, min);
	if (pf_read_at(AT_FDCWD, path, ue, sizeof(ue)) <= 0)
		return d->name;
	for (char *s = ue; *s;) {
		char *eol = strchrnul(s, '\n');
		if (strncmp(s, "DEVNAME=", 8) == 0 && eol - s > 8 && (size_t)(eol - s - 8) < sizeof(d->name)) {
			memcpy(d->name, s + 8, (size_t)(eol - s - 8));
			d->name[eol - s - 8] = '\0';
			break;
		}
		s = *eol ? eol + 1 : eol;
	}
	return d->name;
}

/* "MAJ:MIN" at s; advances *s past it. */
static bool cg_majmin(const char **s, unsigned *maj, unsigned *min)
{
	char *e;
	if (**s < '0' || **s > '9')
		return false;
	unsigned long a = strtoul(*s, &e, 10);
	if (*e != ':' || e[1] < '0' || e[1] > '9')
		return false;
	unsigned long b = strtoul(e + 1, &e, 10);
	if (*e != ' ' || a > UINT_MAX || b > UINT_MAX)
		return false;
	*maj = (unsigned)a;
	*min = (unsigned)b;
	*s = e + 1;
	return true;
}

/* v2 io.stat: "MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=.." */
static void cg_io_stat(struct cg *p, const char *s)
{
	static const char *const keys[] = {"rbytes", "wbytes", "rios", "wios"};
	static const enum cg_fam fams[] = {F_FS_RBYTES, F_FS_WBYTES, F_FS_READS, F_FS_WRITES};
	while (*s) {
		const char *eol = strchrnul(s, '\n');
		unsigned maj, min;
		const char *t = s;
		if (cg_majmin(&t, &maj, &min)) {
			uint64_t v[4];
			unsigned found = 0;
			while (t < eol) {
				while (*t == ' ')
					t++;
				const char *eq = memchr(t, '=', (size_t)(eol - t));
				const char *sp = memchr(t, ' ', (size_t)(eol - t));
				if (!eq || (sp && sp < eq))
					break;
				size_t kl = (size_t)(eq - t);
				const char *end = eq + 1;
				uint64_t x;
				bool ok = pf_parse_u64(eq + 1, &x, &end);
				for (size_t i = 0; ok && i < 4; i++)
					if (strlen(keys[i]) == kl && memcmp(keys[i], t, kl) == 0) {
						v[i] = x;
						found |= 1u << i;
					}
				if (!ok)
					break;
				t = end;
			}
			if (found) {
				const char *dev = cg_devname(p, maj, min);
				for (size_t i = 0; i < 4; i++)
					if (HAS(found, i))
						cg_add(p, fams[i], (double)v[i], "device", dev);
			}
		}
		s = *eol ? eol + 1 : eol;
	}
}

/* v1 blkio "MAJ:MIN Read N" lines: the Read and Write values per device,
 * published as f_read / f_write. Returns the number of device lines. */
static int cg_blkio(struct cg *p, const char *s, enum cg_fam f_read, enum cg_fam f_write)
{
	int n = 0;
	while (*s) {
		const char *eol = strchrnul(s, '\n');
		unsigned maj, min;
		const char *t = s;
		uint64_t v;
		if (cg_majmin(&t, &maj, &min)) {
			enum cg_fam f = F_N;
			n++;
			if (strncmp(t, "Read ", 5) == 0)
				f = f_read, t += 5;
			else if (strncmp(t, "Write ", 6) == 0)
				f = f_write, t += 6;
			if (f != F_N && pf_parse_u64(t, &v, NULL))
				cg_add(p, f, (double)v, "device", cg_devname(p, maj, min));
		}
		s = *eol ? eol + 1 : eol;
	}
	return n;
}

/* The "total=" of the some and full lines of a pressure file, in µs. */
static void cg_psi(struct cg *p, int dfd, enum cg_file id, enum cg_fam f_some, enum cg_fam f_full)
{
	const char *s = cg_read(p, dfd, id);
	while (s && *s) {
		const char *eol = strchrnul(s, '\n');
		enum cg_fam f = strncmp(s, "some ", 5) == 0 ? f_some : strncmp(s, "full ", 5) == 0 ? f_full : F_N;
		const char *t = memmem(s, (size_t)(eol - s), " total=", 7);
		uint64_t v;
		if (f != F_N && t && pf_parse_u64(t + 7, &v, NULL))
			cg_add(p, f, (double)v / 1e6, NULL, NULL);
		s = *eol ? eol + 1 : eol;
	}
}

static void cg_read_psi(struct cg *p, int dfd)
{
	cg_psi(p, dfd, CGF_CPU_PRESSURE, F_PSI_CPU_SOME, F_PSI_CPU_FULL);
	cg_psi(p, dfd, CGF_MEMORY_PRESSURE, F_PSI_MEM_SOME, F_PSI_MEM_FULL);
	cg_psi(p, dfd, CGF_IO_PRESSURE, F_PSI_IO_SOME, F_PSI_IO_FULL);
}

/* A limit gauge only when a limit is set. */
static void cg_limit(struct cg *p, int dfd, enum cg_file id, enum cg_fam f, bool zero_is_unset)
{
	uint64_t v;
	if (cg_read_value(p, dfd, id, &v) == CG_VAL_NUM && v < CG_V1_UNLIMITED && !(zero_is_unset && v == 0))
		cg_add(p, f, (double)v, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Per-cgroup readers                                                 */
/* ------------------------------------------------------------------ */

/* Memory figures shared by v1 and v2 once read. */
static void cg_memory_common(struct cg *p, bool has_usage, uint64_t usage, unsigned found, const uint64_t *st)
{
	/* st: rss, cache, mapped, inactive_file, swap */
	if (has_usage) {
		cg_add(p, F_MEM_USAGE, (double)usage, NULL, NULL);
		if (HAS(found, 3))
			cg_add(p, F_MEM_WS, usage > st[3] ? (double)(usage - st[3]) : 0.0, NULL, NULL);
	}
	if (HAS(found, 0))
		cg_add(p, F_MEM_RSS, (double)st[0], NULL, NULL);
	if (HAS(found, 1))
		cg_add(p, F_MEM_CACHE, (double)st[1], NULL, NULL);
	if (HAS(found, 2))
		cg_add(p, F_MEM_MAPPED, (double)st[2], NULL, NULL);
}

static void cg_v2(struct cg *p, int dfd)
{
	uint64_t v[8];
	const char *s;

	static const char *const cpu_keys[] = {"usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled", "throttled_usec"};
	if ((s = cg_read(p, dfd, CGF_CPU_STAT))) {
		unsigned m = cg_kv(s, cpu_keys, 6, v);
		static const enum cg_fam f[] = {F_CPU_USAGE, F_CPU_USER, F_CPU_SYSTEM, F_CFS_PERIODS, F_CFS_THR_PERIODS, F_CFS_THR_SECONDS};
		for (int i = 0; i < 6; i++)
			if (HAS(m, i))
				cg_add(p, f[i], i == 3 || i == 4 ? (double)v[i] : (double)v[i] / 1e6, NULL, NULL);
	}
	if ((s = cg_read(p, dfd, CGF_CPU_MAX))) { /* "max 100000" or "50000 100000" */
		const char *e = NULL;
		uint64_t quota, period;
		bool has_quota = pf_parse_u64(s, &quota, &e);
		const char *ps = has_quota ? e : strncmp(s, "max ", 4) == 0 ? s + 3 : NULL;
		if (ps && *ps == ' ' && pf_parse_u64(ps + 1, &period, NULL)) {
			cg_add(p, F_CPU_PERIOD, (double)period, NULL, NULL);
			if (has_quota)
				cg_add(p, F_CPU_QUOTA, (double)quota, NULL, NULL);
		}
	}

	uint64_t usage = 0;
	bool has_usage = cg_read_value(p, dfd, CGF_MEMORY_CURRENT, &usage) == CG_VAL_NUM;
	static const char *const mem_keys[] = {"anon", "file", "file_mapped", "inactive_file", "pgfault",
					       "pgmajfault"};
	unsigned m = (s = cg_read(p, dfd, CGF_MEMORY_STAT)) ? cg_kv(s, mem_keys, 6, v) : 0;
	cg_memory_common(p, has_usage, usage, m, v);
	cg_failures(p, m >> 4, v + 4, "hierarchy"); /* v2 memory.stat counts the subtree */
	uint64_t x;
	if (cg_read_value(p, dfd, CGF_MEMORY_SWAP_CURRENT, &x) == CG_VAL_NUM)
		cg_add(p, F_MEM_SWAP, (double)x, NULL, NULL);
	if (cg_read_value(p, dfd, CGF_MEMORY_PEAK, &x) == CG_VAL_NUM)
		cg_add(p, F_MEM_MAX_USAGE, (double)x, NULL, NULL);
	cg_limit(p, dfd, CGF_MEMORY_MAX, F_MEM_LIMIT, false);
	cg_limit(p, dfd, CGF_MEMORY_HIGH, F_MEM_HIGH, false);
	cg_limit(p, dfd, CGF_MEMORY_MIN, F_MEM_RESERVATION, true);
	static const char *const ev_keys[] = {"low", "high", "max", "oom", "oom_kill"};
	if ((s = cg_read(p, dfd, CGF_MEMORY_EVENTS))) {
		m = cg_kv(s, ev_keys, 5, v);
		for (int i = 0; i < 5; i++)
			if (HAS(m, i))
				cg_add(p, F_MEM_EVENTS, (double)v[i], "event", ev_keys[i]);
		if (HAS(m, 4))
			cg_add(p, F_OOM, (double)v[4], NULL, NULL);
	}

	if ((s = cg_read(p, dfd, CGF_IO_STAT)))
		cg_io_stat(p, s);

	if (cg_read_value(p, dfd, CGF_PIDS_CURRENT, &x) == CG_VAL_NUM)
		cg_add(p, F_TASKS, (double)x, NULL, NULL);
	cg_limit(p, dfd, CGF_PIDS_MAX, F_PIDS_MAX, false);

	cg_read_psi(p, dfd);
}

static void cg_v1_cpuacct(struct cg *p, int dfd)
{
	uint64_t v;
	if (cg_read_value(p, dfd, CGF_CPUACCT_USAGE, &v) == CG_VAL_NUM)
		cg_add(p, F_CPU_USAGE, (double)v / 1e9, NULL, NULL);
	/* user and system in USER_HZ ticks, as cAdvisor reads them: one file
	 * instead of cpuacct.usage_user + cpuacct.usage_sys (ns, 4.7+), and
	 * every cgroup file costs a few microseconds to open and read */
	static const char *const keys[] = {"user", "system"};
	uint64_t t[2];
	const char *s = cg_read(p, dfd, CGF_CPUACCT_STAT);
	unsigned m = s ? cg_kv(s, keys, 2, t) : 0;
	if (HAS(m, 0))
		cg_add(p, F_CPU_USER, (double)t[0] / (double)p->clk_tck, NULL, NULL);
	if (HAS(m, 1))
		cg_add(p, F_CPU_SYSTEM, (double)t[1] / (double)p->clk_tck, NULL, NULL);
}

static void cg_v1_cpu(struct cg *p, int dfd)
{
	static const char *const keys[] = {"nr_periods", "nr_throttled", "throttled_time"};
	uint64_t v[3];
	const char *s = cg_read(p, dfd, CGF_CPU_STAT);
	unsigned m = s ? cg_kv(s, keys, 3, v) : 0;
	if (HAS(m, 0))
		cg_add(p, F_CFS_PERIODS, (double)v[0], NULL, NULL);
	if (HAS(m, 1))
		cg_add(p, F_CFS_THR_PERIODS, (double)v[1], NULL, NULL);
	if (HAS(m, 2))
		cg_add(p, F_CFS_THR_SECONDS, (double)v[2] / 1e9, NULL, NULL);
	uint64_t period;
	if (cg_read_value(p, dfd, CGF_CPU_CFS_PERIOD_US, &period) == CG_VAL_NUM) {
		cg_add(p, F_CPU_PERIOD, (double)period, NULL, NULL);
		/* -1 = no quota: fails cg_u64 and is skipped */
		cg_limit(p, dfd, CGF_CPU_CFS_QUOTA_US, F_CPU_QUOTA, false);
	}
}

static void cg_v1_memory(struct cg *p, int dfd)
{
	uint64_t usage = 0, x, st[5], tot[5];
	bool has_usage = cg_read_value(p, dfd, CGF_MEMORY_USAGE_IN_BYTES, &usage) == CG_VAL_NUM;
	/* hierarchical totals (total_*) as cAdvisor uses them, else the local ones */
	static const char *const keys[] = {"rss", "cache", "mapped_file", "inactive_file", "swap"};
	static const char *const tkeys[] = {"total_rss", "total_cache", "total_mapped_file", "total_inactive_file", "total_swap"};
	static const char *const fkeys[] = {"pgfault", "pgmajfault", "total_pgfault", "total_pgmajfault"};
	uint64_t fv[4];
	const char *s = cg_read(p, dfd, CGF_MEMORY_STAT);
	unsigned m = s ? cg_kv(s, keys, 5, st) : 0;
	unsigned tm = s ? cg_kv(s, tkeys, 5, tot) : 0;
	unsigned fm = s ? cg_kv(s, fkeys, 4, fv) : 0;
	cg_failures(p, fm, fv, "container");
	cg_failures(p, fm >> 2, fv + 2, "hierarchy");
	for (int i = 0; i < 5; i++)
		if (HAS(tm, i)) {
			st[i] = tot[i];
			m |= 1u << i;
		}
	cg_memory_common(p, has_usage, usage, m, st);
	if (HAS(m, 4))
		cg_add(p, F_MEM_SWAP, (double)st[4], NULL, NULL);
	if (cg_read_value(p, dfd, CGF_MEMORY_MAX_USAGE_IN_BYTES, &x) == CG_VAL_NUM)
		cg_add(p, F_MEM_MAX_USAGE, (double)x, NULL, NULL);
	if (cg_read_value(p, dfd, CGF_MEMORY_FAILCNT, &x) == CG_VAL_NUM)
		cg_add(p, F_MEM_FAILCNT, (double)x, NULL, NULL);
	cg_limit(p, dfd, CGF_MEMORY_LIMIT_IN_BYTES, F_MEM_LIMIT, false);
	cg_limit(p, dfd, CGF_MEMORY_SOFT_LIMIT_IN_BYTES, F_MEM_RESERVATION, false);
	static const char *const okeys[] = {"oom_kill"}; /* kernel 4.13+ */
	if ((s = cg_read(p, dfd, CGF_MEMORY_OOM_CONTROL)) && cg_kv(s, okeys, 1, &x))
		cg_add(p, F_OOM, (double)x, NULL, NULL);
}

static void cg_v1_blkio(struct cg *p, int dfd)
{
	/* the _recursive files include descendants, as v2 io.stat does */
	const char *s = cg_read(p, dfd, CGF_BLKIO_THROTTLE_IO_SERVICE_BYTES_RECURSIVE);
	if (!s)
		s = cg_read(p, dfd, CGF_BLKIO_THROTTLE_IO_SERVICE_BYTES);
	/* no device line in the bytes file ("Total 0"): none in the ops file */
	if (!s || !cg_blkio(p, s, F_FS_RBYTES, F_FS_WBYTES))
		return;
	s = cg_read(p, dfd, CGF_BLKIO_THROTTLE_IO_SERVICED_RECURSIVE);
	if (!s)
		s = cg_read(p, dfd, CGF_BLKIO_THROTTLE_IO_SERVICED);
	if (s)
		cg_blkio(p, s, F_FS_READS, F_FS_WRITES);
}

static void cg_v1_pids(struct cg *p, int dfd)
{
	uint64_t x;
	if (cg_read_value(p, dfd, CGF_PIDS_CURRENT, &x) == CG_VAL_NUM)
		cg_add(p, F_TASKS, (double)x, NULL, NULL);
	cg_limit(p, dfd, CGF_PIDS_MAX, F_PIDS_MAX, false);
}

/* ------------------------------------------------------------------ */
/* The walk                                                           */
/* ------------------------------------------------------------------ */

static uint64_t cg_hash(const char *s, size_t n)
{
	return bm_hash_bytes(BM_HASH_INIT, s, n);
}

/* The slot of path hash h in this collection's table: the existing one,
 * or a new one in state CG_SEEN_NEW; NULL when the table is full. */
static struct cg_seen *cg_seen_slot(struct cg *p, uint64_t h)
{
	size_t mask = p->seen_cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct cg_seen *s = &p->seen[i];
		if (s->gen != p->gen) {
			if (p->seen_n >= p->seen_cap - p->seen_cap / 4)
				return NULL;
			p->seen_n++;
			s->gen = p->gen;
			s->h = h;
			s->st = CG_SEEN_NEW;
			return s;
		}
		if (s->h == h)
			return s;
	}
}

static void cg_read_cgroup(struct cg *p, const struct cg_hier *h, int dfd, const char *path, size_t len)
{
	/* Several v1 walks visit the same path: the filter runs, and the
	 * max_cgroups decision is taken, once per path and collection. */
	struct cg_seen *e = cg_seen_slot(p, cg_hash(path, len));
	int st = e ? e->st : CG_SEEN_NEW;
	if (st == CG_SEEN_FILTERED || st == CG_SEEN_DROP)
		return;
	bool fresh = false;
	if (st != CG_SEEN_KEEP) {
		if (st == CG_SEEN_NEW && !bm_filter_match(&p->filter, path)) {
			if (e)
				e->st = CG_SEEN_FILTERED;
			return;
		}
		if (p->n_kept >= p->max_cgroups) {
			if (e)
				e->st = CG_SEEN_DROP;
			p->dropped_total++;
			pf_log_once(p->ctx, &p->dropped_logged, BM_LOG_WARN,
				    "%s: more than %zu cgroups within max_depth %d; exporting %zu and counting "
				    "the rest in bearmon_cgroup_dropped_total (raise max_cgroups, lower max_depth or "
				    "narrow include)", p->root, p->max_cgroups, p->max_depth, p->max_cgroups);
			return;
		}
		p->n_kept++;
		fresh = true;
		if (e)
			e->st = CG_SEEN_KEEP;
	}
	size_t before = p->batch.n;
	cg_labels(p, path);
	if (h->mask & CGC_V2) {
		cg_v2(p, dfd);
	} else {
		if (h->mask & CGC_CPUACCT)
			cg_v1_cpuacct(p, dfd);
		if (h->mask & CGC_CPU)
			cg_v1_cpu(p, dfd);
		if (h->mask & CGC_MEMORY)
			cg_v1_memory(p, dfd);
		if (h->mask & CGC_BLKIO)
			cg_v1_blkio(p, dfd);
		if (h->mask & CGC_PIDS)
			cg_v1_pids(p, dfd);
		if (h->mask & CGC_PSI)
			cg_read_psi(p, dfd);
	}
	/* Nothing readable (removed under us, or a directory without the
	 * files): unless an earlier walk exported it, it takes no slot. */
	if (fresh && p->batch.n == before) {
		p->n_kept--;
		if (e)
			e->st = CG_SEEN_EMPTY;
	}
}

/* ------------------------------------------------------------------ */
/* Kept-open cgroup directories                                        */
/* ------------------------------------------------------------------ */

static uint64_t cg_node_key(int hier, const char *path, size_t len)
{
	uint64_t k = cg_hash(path, len) ^ ((uint64_t)(hier + 1) * 0x9e3779b97f4a7c15ull);
	return k ? k : 1;
}

/* The slot of key: where it is, or the empty one where it would go. */
static struct cg_node *cg_node_slot(struct cg_node *t, size_t cap, uint64_t key)
{
	for (size_t i = (size_t)key & (cap - 1);; i = (i + 1) & (cap - 1))
		if (t[i].key == key || t[i].key == 0)
			return &t[i];
}

static void cg_node_close(struct cg *p, struct cg_node *n)
{
	for (int i = 0; i < CGF_N; i++)
		pf_file_close(&n->f[i]);
	if (n->dirfd >= 0) {
		close(n->dirfd);
		p->dirs_held--;
	}
	n->dirfd = -1;
}

/* Move the nodes of this collection (all, when keep_all) into a table of
 * cap slots, closing the others. false when memory runs out (nothing
 * changed then). */
static bool cg_nodes_rebuild(struct cg *p, size_t cap, bool keep_all)
{
	struct cg_node *t = calloc(cap, sizeof(*t));
	if (!t)
		return false;
	size_t n = 0;
	for (size_t i = 0; i < p->nodes_cap; i++) {
		struct cg_node *e = &p->nodes[i];
		if (!e->key)
			continue;
		if (!keep_all && e->gen != p->gen) {
			cg_node_close(p, e);
			continue;
		}
		*cg_node_slot(t, cap, e->key) = *e;
		n++;
	}
	free(p->nodes);
	p->nodes = t;
	p->nodes_cap = cap;
	p->nodes_n = n;
	return true;
}

/* The node of hierarchy hier and path (visited now), created when new;
 * NULL when memory runs out. Pointers last until the next call. */
static struct cg_node *cg_node_get(struct cg *p, int hier, const char *path, size_t len)
{
	uint64_t key = cg_node_key(hier, path, len);
	struct cg_node *n = p->nodes_cap ? cg_node_slot(p->nodes, p->nodes_cap, key) : NULL;
	if (!n || !n->key) { /* new: make room first */
		if (4 * (p->nodes_n + 1) > 3 * p->nodes_cap &&
		    !cg_nodes_rebuild(p, p->nodes_cap ? 2 * p->nodes_cap : 64, true))
			return NULL;
		n = cg_node_slot(p->nodes, p->nodes_cap, key);
	}
	if (!n->key) {
		n->key = key;
		n->dirfd = -1;
		for (int i = 0; i < CGF_N; i++)
			n->f[i] = (struct pf_file)PF_FILE_INIT;
		p->nodes_n++;
	}
	n->gen = p->gen;
	return n;
}

/* Close the nodes of cgroups not visited in this collection. */
static void cg_nodes_sweep(struct cg *p)
{
	size_t stale = 0;
	for (size_t i = 0; i < p->nodes_cap; i++)
		stale += p->nodes[i].key && p->nodes[i].gen != p->gen;
	if (stale && !cg_nodes_rebuild(p, p->nodes_cap, false)) { /* no memory: close in place */
		for (size_t i = 0; i < p->nodes_cap; i++)
			if (p->nodes[i].key && p->nodes[i].gen != p->gen)
				cg_node_close(p, &p->nodes[i]);
	}
}

/* The directory fd of a visited cgroup: the node's, or dir/name opened
 * now and kept in the node when the hierarchy is on cgroupfs. *held says
 * whether the caller must leave it open. -1 when it cannot be opened. */
static int cg_open_dir(struct cg *p, const struct cg_hier *h, struct cg_node *n, int dir,
		       const char *name, bool *held)
{
	*held = n && n->dirfd >= 0;
	if (*held)
		return n->dirfd;
	int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && n && h->kernfs && p->dirs_held < CG_MAX_HELD_DIRS) {
		n->dirfd = fd;
		p->dirs_held++;
		*held = true;
	}
	return fd;
}

#ifdef CG_TESTING
/* Tests remove directories between readdir and open with this hook, and
 * take the link-count shortcut on fixture trees (ext4, tmpfs count alike). */
static void (*cg_test_before_open)(struct cg *p, int dfd, const char *name);
static bool cg_test_kernfs;
#endif

static void cg_visit(struct cg *p, int hi, int dfd, bool held, size_t plen, int depth)
{
	const struct cg_hier *h = &p->hier[hi];
	p->node = cg_node_get(p, hi, p->path, plen);
	cg_read_cgroup(p, h, dfd, plen ? p->path : "/", plen ? plen : 1);
	p->node = NULL;
	if (depth >= p->max_depth || p->rc)
		return;
	/* kernfs keeps a directory's link count at 2 + its subdirectories:
	 * one fstat instead of two getdents64 of ~40 file names for a leaf */
	struct stat st;
	if (p->kernfs && fstat(dfd, &st) == 0 && st.st_nlink == 2)
		return;
	char *dbuf = p->dents + (size_t)depth * CG_DENTS;
	if (held && lseek(dfd, 0, SEEK_SET) != 0) /* a kept directory: list it from the start */
		return;
	for (;;) {
		ssize_t n = getdents64(dfd, dbuf, CG_DENTS);
		if (n <= 0)
			break; /* end, or the directory was removed */
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(void *)(dbuf + off);
			off += d->d_reclen;
			if (d->d_type != DT_DIR && d->d_type != DT_UNKNOWN)
				continue;
			const char *name = d->d_name;
			if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
				continue;
			size_t nl = strlen(name);
			if (plen + 1 + nl >= sizeof(p->path))
				continue;
#ifdef CG_TESTING
			if (cg_test_before_open)
				cg_test_before_open(p, dfd, name);
#endif
			p->path[plen] = '/';
			memcpy(p->path + plen + 1, name, nl + 1);
			bool cheld;
			int cfd = cg_open_dir(p, h, cg_node_get(p, hi, p->path, plen + 1 + nl), dfd, name,
					      &cheld);
			if (cfd >= 0) /* else removed since readdir, or not a directory */
				cg_visit(p, hi, cfd, cheld, plen + 1 + nl, depth + 1);
			if (cfd >= 0 && !cheld)
				close(cfd);
			p->path[plen] = '\0';
		}
	}
}

/* ------------------------------------------------------------------ */
/* Plugin ops                                                         */
/* ------------------------------------------------------------------ */

static int cg_copy_path(char *dst, size_t n, const char *src, const char *what, struct bm_err *err)
{
	size_t l = strlen(src);
	while (l > 1 && src[l - 1] == '/')
		l--;
	if (l == 0 || l >= n)
		return bm_err_set(err, BM_EINVAL, "%s: bad path \"%s\"", what, src);
	memcpy(dst, src, l);
	dst[l] = '\0';
	return 0;
}

static void cg_fini(void *state);

static int cg_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct cg_conf *c = conf;
	struct cg *p = calloc(1, sizeof(*p));
	if (!p)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	p->ctx = ctx;
	p->mode = c->mode;
	p->max_depth = (int)c->max_depth;
	p->max_cgroups = (size_t)c->max_cgroups;
	p->clk_tck = sysconf(_SC_CLK_TCK);
	if (p->clk_tck <= 0)
		p->clk_tck = 100;
	char mi[PATH_MAX];
	int rc = cg_copy_path(p->root, sizeof(p->root), c->root, "root", err);
	if (!rc)
		rc = cg_copy_path(p->sys_root, sizeof(p->sys_root), c->sys_root, "sys_root", err);
	if (!rc)
		rc = cg_copy_path(mi, sizeof(mi), c->proc_root, "proc_root", err);
	if (rc) {
		free(p);
		return rc;
	}
	snprintf(p->mountinfo, sizeof(p->mountinfo), "%s/self/mountinfo", strcmp(mi, "/") ? mi : "");
	rc = bm_filter_init(&p->filter, &c->include, &c->exclude, err);
	if (rc) {
		free(p);
		return rc;
	}
	p->seen_cap = 1024; /* room for filtered and dropped paths too */
	while (p->seen_cap < 8 * p->max_cgroups)
		p->seen_cap *= 2;
	p->seen = calloc(p->seen_cap, sizeof(*p->seen));
	p->dents = p->max_depth ? malloc((size_t)p->max_depth * CG_DENTS) : NULL;
	if (!p->seen || (p->max_depth && !p->dents)) {
		cg_fini(p);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	cg_detect(p);
	*state = p;
	return 0;
}

static void cg_fini(void *state)
{
	struct cg *p = state;
	for (size_t i = 0; i < p->nodes_cap; i++)
		if (p->nodes[i].key)
			cg_node_close(p, &p->nodes[i]);
	free(p->nodes);
	bm_batch_free(&p->batch);
	pub_families_free(&p->families);
	bm_filter_free(&p->filter);
	free(p->seen);
	free(p->dents);
	free(p);
}

static int cg_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct cg *p = state;
	int fail = 0;
	if (p->layout == CG_LAYOUT_NONE) {
		cg_detect(p);
		if (p->layout == CG_LAYOUT_NONE)
			return bm_err_set(err, BM_EIO, "%s: no cgroup hierarchy found (no cgroup2 mount with cgroup.controllers, "
				      "no v1 controller directories cpu, cpuacct, memory, blkio, pids)", p->root);
	}
	bm_batch_reset(&p->batch);
	p->batch.ts_ms = now_ms;
	p->declared = 0;
	p->rc = 0;
	p->n_kept = 0;
	p->seen_n = 0;
	if (++p->gen == 0) { /* 2^32 collections: make every stale slot unambiguous */
		memset(p->seen, 0, p->seen_cap * sizeof(*p->seen));
		p->gen = 1;
	}
	if (++p->collections % CG_DEV_REFRESH == 0)
		p->n_devs = 0; /* device numbers may have been reused */
	p->path[0] = '\0';

	for (int i = 0; i < p->n_hier && !p->rc; i++) {
		struct cg_hier *h = &p->hier[i];
		struct cg_node *root = cg_node_get(p, i, "", 0);
		bool held = root && root->dirfd >= 0;
		int fd = held ? root->dirfd : open(h->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (!fail)
				fail = bm_err_set(err, BM_EIO, "cannot open %s: %s", h->path, strerror(errno));
			continue;
		}
		if (!held) {
			struct statfs sfs;
			h->kernfs = fstatfs(fd, &sfs) == 0 && (sfs.f_type == CG_CGROUP_SUPER_MAGIC ||
							       sfs.f_type == CG_CGROUP2_SUPER_MAGIC);
			if (root && h->kernfs) {
				root->dirfd = fd;
				p->dirs_held++;
				held = true;
			}
		}
		p->kernfs = h->kernfs;
#ifdef CG_TESTING
		p->kernfs |= cg_test_kernfs;
#endif
		cg_visit(p, i, fd, held, 0, 0);
		if (!held)
			close(fd);
	}
	cg_nodes_sweep(p);
	p->n_lab = 0;
	cg_add(p, F_DROPPED, (double)p->dropped_total, NULL, NULL);
	cg_add(p, F_CGROUPS, (double)p->n_kept, NULL, NULL);
	if (p->rc)
		return bm_err_set(err, p->rc, "cannot build the batch: %s", bm_strerror(p->rc));
	int rc = publish_batch_once(p->ctx, &p->batch, 0, err, &p->families);
	return fail ? fail : rc;
}

static const struct bm_plugin_ops cg_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = cg_init,
	.fini = cg_fini,
	.collect = cg_collect,
};

BM_PLUGIN_DEFINE(collector, cgroup, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "per-cgroup cpu, memory, io, pids and pressure (cgroup v2, hybrid and legacy v1)",
		 .origin = "bearmon plugins/collector_cgroup",
		 .options = cg_options,
		 .config_size = sizeof(struct cg_conf),
		 .ops = &cg_ops);
