/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collector "filesystem": size, free space and inodes of every mounted
 * filesystem (node_filesystem_*{device,fstype,mountpoint}) from
 * PROC_ROOT/self/mountinfo and statvfs(). statvfs runs on a worker thread
 * with a per-mount deadline, so a hung NFS mount never stalls collection.
 * The mount table is kept open and parsed again only when poll() says it
 * changed.
 */
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_hash.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../common/procfs.h"
#include "../common/publish.h"

/* node_exporter's defaults. bm_filter anchors every pattern at both ends,
 * so the mount point one is written to match the whole path. */
#define FS_DEFAULT_FSTYPES_EXCLUDE                                                          \
	"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|"       \
	"hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|"   \
	"selinuxfs|squashfs|sysfs|tracefs)$"
#define FS_DEFAULT_MOUNTPOINTS_EXCLUDE                                                      \
	"/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)(/.*)?"

#define FS_MAX_FILE (16u << 20) /* refuse to buffer more than this */
#define FS_MAX_MOUNTS 65536     /* mount lines looked at */
#define FS_MAX_STUCK 64         /* mounts whose statvfs hangs, tracked at once */

/* fs_result.err values besides 0 and errno */
#define FS_ERR_TIMEOUT (-1) /* statvfs did not return in time (this round) */
#define FS_ERR_STUCK (-2)   /* still hung or backing off: not tried */
#define FS_ERR_NOWORKER (-3) /* no thread to run statvfs on */

struct fs_conf {
	char *proc_root;                       /* "/proc" */
	char *rootfs_prefix;                   /* prepended to mount points */
	struct bm_strlist fstypes_include;
	struct bm_strlist fstypes_exclude;
	struct bm_strlist mountpoints_include;
	struct bm_strlist mountpoints_exclude;
	int64_t stat_timeout;                  /* ms per statvfs */
	int64_t stat_backoff;                  /* ms before a timed-out mount is retried */
};

static const struct bm_option fs_options[] = {
	BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct fs_conf, proc_root,
		  "procfs mount point; PROC_ROOT/self/mountinfo (or PROC_ROOT/mounts) is read"),
	BM_OPTION("rootfs_prefix", BM_OPT_STRING, "", struct fs_conf, rootfs_prefix,
		  "prepended to each mount point before statvfs (host root mounted in a container, tests)"),
	BM_OPTION("fstypes_include", BM_OPT_STRING_LIST, NULL, struct fs_conf, fstypes_include,
		  "filesystem type regexes (POSIX ERE, anchored) to collect; empty = all"),
	BM_OPTION("fstypes_exclude", BM_OPT_STRING_LIST, FS_DEFAULT_FSTYPES_EXCLUDE, struct fs_conf,
		  fstypes_exclude, "filesystem type regexes (POSIX ERE, anchored) to skip"),
	BM_OPTION("mountpoints_include", BM_OPT_STRING_LIST, NULL, struct fs_conf,
		  mountpoints_include, "mount point regexes (POSIX ERE, anchored) to collect; empty = all"),
	BM_OPTION("mountpoints_exclude", BM_OPT_STRING_LIST, FS_DEFAULT_MOUNTPOINTS_EXCLUDE,
		  struct fs_conf, mountpoints_exclude,
		  "mount point regexes (POSIX ERE, anchored: match the whole path) to skip"),
	BM_OPTION_BOUNDED("stat_timeout", BM_OPT_DURATION, "5s", struct fs_conf, stat_timeout, 1,
			  600000, "longest wait for one statvfs before the mount is skipped"),
	BM_OPTION_BOUNDED("stat_backoff", BM_OPT_DURATION, "1m", struct fs_conf, stat_backoff, 0,
			  86400000, "how long a mount whose statvfs timed out is skipped before a retry"),
	BM_OPTION_END,
};

/* What statvfs said about one mount. */
struct fs_result {
	int err; /* 0, an errno value, or FS_ERR_* */
	double size, free, avail, files, files_free;
};

typedef int (*fs_stat_fn)(const char *path, struct statvfs *out);

/*
 * A thread that runs statvfs for a list of paths. Shared by the collector
 * and the thread, freed by whichever drops the last reference: when a
 * statvfs hangs the collector abandons the worker (it may outlive the
 * instance) and starts another. Every field below mu is guarded by it; the
 * job (paths, res) is instance memory, touched only while !abandoned.
 */
struct fs_worker {
	pthread_t tid;
	fs_stat_fn statfn;
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* thread waits: a job, or stop */
	pthread_cond_t done_cv; /* collector waits: progress (CLOCK_MONOTONIC) */
	int refs;               /* collector + thread */
	bool stop;              /* leave when idle */
	bool abandoned;         /* the collector gave up on the job */
	bool exited;            /* the thread function returned */
	const char *const *paths;
	struct fs_result *res;
	size_t n, next;         /* job size; index being statted */
	char cur[PATH_MAX];     /* own copy of the path in statvfs */
};

/* A mount whose statvfs timed out. */
struct fs_stuck {
	char *path;             /* rootfs_prefix + mount point */
	struct fs_worker *w;    /* the hung worker, one reference held */
	int64_t retry_ms;       /* monotonic ms before which it is not retried */
};

/* One mount line, pointing into the file buffer. */
struct fs_mount {
	char *device, *fstype, *mountpoint; /* into the file buffer */
	bool ro;
	bool keep;       /* passes the filters and is not a duplicate */
	size_t path_off; /* into paths: prefix + mount point */
	struct fs_result res;
};

/* Filter verdict for the mount at one line position, by content hash: the
 * regexes run only when a line changes. */
struct fs_verdict {
	uint64_t hash;
	bool keep;
};

struct fs_state {
	struct bm_ctx *ctx;
	const struct fs_conf *conf;
	struct bm_filter fstypes;
	struct bm_filter mountpoints;
	char mountinfo[PATH_MAX];
	char mounts[PATH_MAX];
	bool use_mounts;            /* no mountinfo: PROC_ROOT/mounts */
	struct pf_file table;       /* the mount table file, kept open */
	bool parsed;                /* s->m holds the table as last read */
	fs_stat_fn statfn;          /* statvfs; tests put a fake here */
	char *buf;                  /* file contents */
	size_t cap;
	struct fs_mount *m;
	size_t n_m, cap_m;
	struct fs_verdict *verdict;
	size_t cap_verdict;
	char *paths;                /* NUL-separated stat paths */
	size_t paths_cap;
	const char **job_paths;     /* statvfs job: kept mounts not stuck */
	struct fs_result *job_res;
	size_t *job_idx;            /* job item -> mount index */
	size_t cap_job;
	struct fs_worker *active;   /* idle worker for the next job */
	struct fs_stuck stuck[FS_MAX_STUCK];
	size_t n_stuck;
	struct bm_batch batch;
	struct pub_families families; /* metadata already published */
	bool warned_garbage;
	bool warned_stuck_full;
};

static int64_t fs_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fs_statvfs(const char *path, struct statvfs *out) { return statvfs(path, out); }

/* ------------------------------------------------------------ workers */

static void fs_worker_free(struct fs_worker *w)
{
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work_cv);
	pthread_cond_destroy(&w->done_cv);
	free(w);
}

/* Drop one reference; the last one frees. */
static void fs_worker_put(struct fs_worker *w)
{
	pthread_mutex_lock(&w->mu);
	bool last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (last)
		fs_worker_free(w);
}

static void fs_fill(struct fs_result *r, int rc, int e, const struct statvfs *sv)
{
	if (rc) {
		*r = (struct fs_result){.err = e ? e : EIO};
		return;
	}
	double bs = (double)(sv->f_frsize ? sv->f_frsize : sv->f_bsize);
	*r = (struct fs_result){
		.size = (double)sv->f_blocks * bs,
		.free = (double)sv->f_bfree * bs,
		.avail = (double)sv->f_bavail * bs,
		.files = (double)sv->f_files,
		.files_free = (double)sv->f_ffree,
	};
}

static void *fs_worker_main(void *arg)
{
	struct fs_worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && !w->abandoned && w->next >= w->n)
			pthread_cond_wait(&w->work_cv, &w->mu);
		if (w->stop || w->abandoned)
			break;
		snprintf(w->cur, sizeof(w->cur), "%s", w->paths[w->next]);
		pthread_mutex_unlock(&w->mu);
		struct statvfs sv;
		int rc = w->statfn(w->cur, &sv);
		int e = rc ? errno : 0;
		pthread_mutex_lock(&w->mu);
		if (w->abandoned)
			break;
		fs_fill(&w->res[w->next], rc, e, &sv);
		w->next++;
		pthread_cond_signal(&w->done_cv);
	}
	w->exited = true;
	bool last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (last)
		fs_worker_free(w);
	return NULL;
}

static struct fs_worker *fs_worker_new(struct fs_state *s)
{
	struct fs_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work_cv, NULL);
	pthread_cond_init(&w->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	w->statfn = s->statfn;
	w->refs = 2;
	int rc = pthread_create(&w->tid, NULL, fs_worker_main, w);
	if (rc) {
		bm_log_err(s->ctx, "cannot start a statvfs thread: %s", strerror(rc));
		fs_worker_free(w);
		return NULL;
	}
	return w;
}

/* Stop an idle (or exited) worker, wait for it, drop our reference. */
static void fs_worker_join(struct fs_worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->work_cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->tid, NULL);
	fs_worker_put(w);
}

static bool fs_worker_exited(struct fs_worker *w)
{
	pthread_mutex_lock(&w->mu);
	bool x = w->exited;
	pthread_mutex_unlock(&w->mu);
	return x;
}

static struct fs_stuck *fs_stuck_find(struct fs_state *s, const char *path)
{
	for (size_t i = 0; i < s->n_stuck; i++)
		if (strcmp(s->stuck[i].path, path) == 0)
			return &s->stuck[i];
	return NULL;
}

static void fs_stuck_remove(struct fs_state *s, struct fs_stuck *st)
{
	fs_worker_join(st->w);
	free(st->path);
	*st = s->stuck[--s->n_stuck];
}

/* The worker hangs in statvfs(path): remember it, hand it the job no more. */
static void fs_abandon(struct fs_state *s, struct fs_worker *w, const char *path)
{
	int64_t backoff = s->conf->stat_backoff;
	char *copy = strdup(path);
	if (s->n_stuck < FS_MAX_STUCK && copy) {
		s->stuck[s->n_stuck++] = (struct fs_stuck){copy, w, fs_mono_ms() + backoff};
		bm_log_warn(s->ctx, "statvfs(%s) did not return within %lld ms, skipping it for at least %lld ms",
			    path, (long long)s->conf->stat_timeout, (long long)backoff);
		return;
	}
	free(copy);
	if (!s->warned_stuck_full)
		bm_log_err(s->ctx, "statvfs(%s) did not return within %lld ms and %d mounts already hang; "
			   "it will be tried again next time", path, (long long)s->conf->stat_timeout,
			   FS_MAX_STUCK);
	s->warned_stuck_full = true;
	pthread_detach(w->tid);
	fs_worker_put(w);
}

/*
 * Run statvfs on paths[0..n) with a deadline of stat_timeout per path
 * (from the moment the previous one returned). A path that hangs gets
 * FS_ERR_TIMEOUT, its worker is abandoned and a new one takes the rest.
 */
static void fs_run_job(struct fs_state *s, const char **paths, struct fs_result *res, size_t n)
{
	size_t done = 0;
	while (done < n) {
		struct fs_worker *w = s->active;
		if (!w && s->n_stuck < FS_MAX_STUCK)
			w = s->active = fs_worker_new(s);
		if (!w) {
			if (s->n_stuck >= FS_MAX_STUCK && !s->warned_stuck_full)
				bm_log_err(s->ctx, "statvfs hangs on %d mounts; no mount is statted "
					   "until one of them returns", FS_MAX_STUCK);
			s->warned_stuck_full |= s->n_stuck >= FS_MAX_STUCK;
			for (; done < n; done++)
				res[done].err = FS_ERR_NOWORKER;
			return;
		}
		pthread_mutex_lock(&w->mu);
		w->paths = paths + done;
		w->res = res + done;
		w->n = n - done;
		w->next = 0;
		pthread_cond_signal(&w->work_cv);
		size_t seen = 0;
		struct timespec dl;
		int64_t dl_ms = fs_mono_ms() + s->conf->stat_timeout;
		bool hung = false;
		while (w->next < w->n) {
			dl.tv_sec = (time_t)(dl_ms / 1000);
			dl.tv_nsec = (long)(dl_ms % 1000) * 1000000;
			int rc = pthread_cond_timedwait(&w->done_cv, &w->mu, &dl);
			if (w->next != seen) {
				seen = w->next;
				dl_ms = fs_mono_ms() + s->conf->stat_timeout;
			} else if (rc == ETIMEDOUT) {
				hung = true;
				break;
			}
		}
		size_t finished = w->next;
		if (hung)
			w->abandoned = true;
		w->paths = NULL;
		w->res = NULL;
		w->n = w->next = 0;
		pthread_mutex_unlock(&w->mu);
		done += finished;
		if (!hung)
			return;
		res[done].err = FS_ERR_TIMEOUT;
		s->active = NULL;
		fs_abandon(s, w, paths[done]);
		done++;
	}
}

/* ------------------------------------------------------------ mount table */

/* Undo the kernel's octal escapes (\040 space, \011 tab, \012, \134) in place. */
static void fs_unescape(char *p)
{
	pf_unescape_octal(p);
}

/* Split line into at most max space-separated tokens, in place. */
static size_t fs_split(char *line, char **tok, size_t max)
{
	size_t n = 0;
	char *p = line;
	while (*p && n < max) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		tok[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	while (*p == ' ' || *p == '\t')
		*p++ = '\0';
	return n;
}

static bool fs_has_opt(const char *opts, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = opts; p && *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == len && memcmp(p, name, len) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* One mountinfo (or mounts) line into m; false when malformed. */
static bool fs_parse_line(struct fs_state *s, char *line, struct fs_mount *m)
{
	char *t[64];
	size_t n = fs_split(line, t, 64);
	const char *sopts = NULL;
	if (s->use_mounts) { /* device mountpoint fstype options freq passno */
		if (n < 4)
			return false;
		*m = (struct fs_mount){.device = t[0], .mountpoint = t[1], .fstype = t[2]};
		m->ro = fs_has_opt(t[3], "ro");
	} else { /* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
		size_t sep = 6;
		while (sep < n && strcmp(t[sep], "-") != 0)
			sep++;
		if (n < 9 || sep + 2 >= n)
			return false;
		*m = (struct fs_mount){.mountpoint = t[4], .fstype = t[sep + 1], .device = t[sep + 2]};
		sopts = sep + 3 < n ? t[sep + 3] : NULL;
		m->ro = fs_has_opt(t[5], "ro") || fs_has_opt(sopts, "ro");
	}
	if (m->mountpoint[0] != '/')
		return false;
	fs_unescape(m->mountpoint);
	fs_unescape(m->device);
	fs_unescape(m->fstype);
	return true;
}

static bool fs_grow(void **v, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *p = realloc(*v, c * size);
	if (!p)
		return false;
	*v = p;
	*cap = c;
	return true;
}

/*
 * Whether the kept-open mount table still reads as it was parsed: procfs
 * signals a change of the mount namespace to poll() as POLLPRI (and
 * POLLERR) once per open file. A table not kept open (a fixture file)
 * is always read again.
 */
static bool fs_table_unchanged(const struct fs_state *s)
{
	if (!s->parsed || s->table.fd < 0)
		return false;
	struct pollfd pfd = {.fd = s->table.fd, .events = POLLPRI};
	return poll(&pfd, 1, 0) == 0;
}

/* Read and parse the mount table, decide which mounts to stat. */
static int fs_load_mounts(struct fs_state *s, struct bm_err *err)
{
	size_t len = 0;
	int eno = 0;
	if (fs_table_unchanged(s))
		return 0;
	s->parsed = false;
	int rc = pf_file_load(&s->table, s->use_mounts ? s->mounts : s->mountinfo, &s->buf, &s->cap,
			      FS_MAX_FILE, &len, &eno, err);
	if (rc && !s->use_mounts && eno == ENOENT) {
		bm_log_info(s->ctx, "%s not found, reading %s instead", s->mountinfo, s->mounts);
		s->use_mounts = true;
		rc = pf_file_load(&s->table, s->mounts, &s->buf, &s->cap, FS_MAX_FILE, &len, &eno,
				  err);
	}
	if (rc)
		return rc;
	s->n_m = 0;
	size_t paths_len = 0;
	const char *prefix = s->conf->rootfs_prefix ? s->conf->rootfs_prefix : "";
	size_t plen = strlen(prefix);
	unsigned lineno = 0;
	char *p = s->buf, *end = s->buf + len, *line;
	while (s->n_m < FS_MAX_MOUNTS && (line = pf_next_line(&p, end, NULL)) != NULL) {
		lineno++;
		if (!*line)
			continue;
		size_t old = s->cap_verdict;
		if (!fs_grow((void **)&s->m, &s->cap_m, s->n_m + 1, sizeof(*s->m)) ||
		    !fs_grow((void **)&s->verdict, &s->cap_verdict, s->n_m + 1, sizeof(*s->verdict)))
			return bm_err_set(err, BM_ENOMEM, "out of memory");
		if (s->cap_verdict > old) /* hash 0: not decided yet */
			memset(&s->verdict[old], 0, (s->cap_verdict - old) * sizeof(*s->verdict));
		struct fs_mount *m = &s->m[s->n_m];
		if (!fs_parse_line(s, line, m)) {
			pf_log_once(s->ctx, &s->warned_garbage, BM_LOG_WARN,
				    "%s: skipping malformed line %u",
				    s->use_mounts ? s->mounts : s->mountinfo, lineno);
			continue;
		}
		struct fs_verdict *v = &s->verdict[s->n_m];
		uint64_t h = bm_hash_field(bm_hash_field(BM_HASH_INIT, m->fstype), m->mountpoint);
		if (v->hash != h || h == 0) {
			v->hash = h;
			v->keep = bm_filter_match(&s->fstypes, m->fstype) &&
				  bm_filter_match(&s->mountpoints, m->mountpoint);
		}
		m->keep = v->keep;
		/* a mount point listed twice (over-mounted): statvfs sees the top one */
		for (size_t i = 0; i < s->n_m && m->keep; i++)
			if (s->m[i].keep && strcmp(s->m[i].mountpoint, m->mountpoint) == 0 &&
			    strcmp(s->m[i].device, m->device) == 0 &&
			    strcmp(s->m[i].fstype, m->fstype) == 0)
				m->keep = false;
		if (m->keep) {
			size_t need = paths_len + plen + strlen(m->mountpoint) + 1;
			if (!fs_grow((void **)&s->paths, &s->paths_cap, need, 1))
				return bm_err_set(err, BM_ENOMEM, "out of memory");
			m->path_off = paths_len;
			memcpy(s->paths + paths_len, prefix, plen);
			strcpy(s->paths + paths_len + plen, m->mountpoint);
			paths_len = need;
		}
		s->n_m++;
	}
	s->parsed = true;
	return 0;
}

/* statvfs every kept mount that is not hung or backing off. */
static int fs_stat_all(struct fs_state *s, struct bm_err *err)
{
	if (s->cap_job < s->n_m) {
		size_t c = s->cap_m;
		const char **jp = realloc(s->job_paths, c * sizeof(*jp));
		if (jp)
			s->job_paths = jp;
		struct fs_result *jr = realloc(s->job_res, c * sizeof(*jr));
		if (jr)
			s->job_res = jr;
		size_t *ji = realloc(s->job_idx, c * sizeof(*ji));
		if (ji)
			s->job_idx = ji;
		if (!jp || !jr || !ji)
			return bm_err_set(err, BM_ENOMEM, "out of memory");
		s->cap_job = c;
	}
	size_t n = 0;
	int64_t now = fs_mono_ms();
	for (size_t i = 0; i < s->n_m; i++) {
		struct fs_mount *m = &s->m[i];
		if (!m->keep)
			continue;
		const char *path = s->paths + m->path_off;
		struct fs_stuck *st = fs_stuck_find(s, path);
		if (st) {
			if (now < st->retry_ms || !fs_worker_exited(st->w)) {
				m->res = (struct fs_result){.err = FS_ERR_STUCK};
				continue;
			}
			bm_log_info(s->ctx, "statvfs(%s) returned, trying it again", path);
			fs_stuck_remove(s, st);
		}
		s->job_paths[n] = path;
		s->job_idx[n] = i;
		n++;
	}
	fs_run_job(s, s->job_paths, s->job_res, n);
	for (size_t k = 0; k < n; k++) {
		struct fs_mount *m = &s->m[s->job_idx[k]];
		m->res = s->job_res[k];
		if (m->res.err > 0)
			bm_log_debug(s->ctx, "statvfs(%s): %s", s->job_paths[k], strerror(m->res.err));
	}
	return 0;
}

struct fs_family {
	const char *name;
	const char *unit;
	const char *help;
	size_t off; /* offsetof(struct fs_result, x) */
};

static const struct fs_family fs_families[] = {
	{"node_filesystem_size_bytes", "bytes", "filesystem size",
	 offsetof(struct fs_result, size)},
	{"node_filesystem_free_bytes", "bytes", "free space, including the part reserved for root",
	 offsetof(struct fs_result, free)},
	{"node_filesystem_avail_bytes", "bytes", "space available to unprivileged users",
	 offsetof(struct fs_result, avail)},
	{"node_filesystem_files", NULL, "inodes", offsetof(struct fs_result, files)},
	{"node_filesystem_files_free", NULL, "free inodes", offsetof(struct fs_result, files_free)},
};

#define FS_N_FAMILIES (sizeof(fs_families) / sizeof(fs_families[0]))

static int fs_add(struct fs_state *s, const char *name, const struct fs_mount *m, double v)
{
	return bm_batch_addl(&s->batch, name, v, "device", m->device, "fstype", m->fstype,
			     "mountpoint", m->mountpoint, NULL);
}

static int fs_emit(struct fs_state *s)
{
	bool any = false, any_ok = false;
	for (size_t i = 0; i < s->n_m; i++) {
		any |= s->m[i].keep;
		any_ok |= s->m[i].keep && s->m[i].res.err == 0;
	}
	int rc = 0;
	for (size_t f = 0; f < FS_N_FAMILIES && any_ok && !rc; f++) {
		const struct fs_family *fam = &fs_families[f];
		rc = bm_batch_family(&s->batch, fam->name, BM_METRIC_GAUGE, fam->unit, fam->help);
		for (size_t i = 0; i < s->n_m && !rc; i++) {
			const struct fs_mount *m = &s->m[i];
			if (m->keep && m->res.err == 0)
				rc = fs_add(s, fam->name, m,
					    *(const double *)((const char *)&m->res + fam->off));
		}
	}
	if (any && !rc)
		rc = bm_batch_family(&s->batch, "node_filesystem_readonly", BM_METRIC_GAUGE, NULL,
				     "1 when mounted read-only");
	for (size_t i = 0; i < s->n_m && any && !rc; i++)
		if (s->m[i].keep)
			rc = fs_add(s, "node_filesystem_readonly", &s->m[i], s->m[i].ro ? 1 : 0);
	if (any && !rc)
		rc = bm_batch_family(&s->batch, "node_filesystem_device_error", BM_METRIC_GAUGE, NULL,
				     "1 when statvfs failed or timed out");
	for (size_t i = 0; i < s->n_m && any && !rc; i++)
		if (s->m[i].keep)
			rc = fs_add(s, "node_filesystem_device_error", &s->m[i],
				    s->m[i].res.err ? 1 : 0);
	return rc;
}

/* ------------------------------------------------------------ hooks */

static void fs_fini(void *state)
{
	struct fs_state *s = state;
	if (!s)
		return;
	if (s->active)
		fs_worker_join(s->active);
	for (size_t i = 0; i < s->n_stuck; i++) {
		struct fs_worker *w = s->stuck[i].w;
		if (fs_worker_exited(w)) {
			fs_worker_join(w);
		} else {
			/* still in statvfs: it frees itself when that returns */
			pthread_detach(w->tid);
			fs_worker_put(w);
		}
		free(s->stuck[i].path);
	}
	bm_filter_free(&s->fstypes);
	bm_filter_free(&s->mountpoints);
	bm_batch_free(&s->batch);
	pub_families_free(&s->families);
	pf_file_close(&s->table);
	free(s->buf);
	free(s->m);
	free(s->verdict);
	free(s->paths);
	free(s->job_paths);
	free(s->job_res);
	free(s->job_idx);
	bm_free(s);
}

static int fs_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct fs_conf *c = conf;
	struct fs_state *s = bm_alloc(sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->table = (struct pf_file)PF_FILE_INIT;
	s->conf = c;
	s->statfn = fs_statvfs;
	const char *root = c->proc_root ? c->proc_root : "/proc";
	if (!pf_path(s->mountinfo, sizeof(s->mountinfo), root, "self/mountinfo") ||
	    !pf_path(s->mounts, sizeof(s->mounts), root, "mounts")) {
		bm_free(s);
		return bm_err_set(err, BM_EINVAL, "proc_root \"%s\" is too long", root);
	}
	int rc = pf_filter_init(&s->fstypes, &c->fstypes_include, &c->fstypes_exclude,
				"fstypes_include/fstypes_exclude", err);
	if (rc) {
		bm_free(s);
		return rc;
	}
	rc = pf_filter_init(&s->mountpoints, &c->mountpoints_include, &c->mountpoints_exclude,
			    "mountpoints_include/mountpoints_exclude", err);
	if (rc) {
		bm_filter_free(&s->fstypes);
		bm_free(s);
		return rc;
	}
	*state = s;
	return 0;
}

static int fs_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct fs_state *s = state;
	int rc = fs_load_mounts(s, err);
	if (!rc)
		rc = fs_stat_all(s, err);
	if (rc)
		return rc;
	bm_batch_reset(&s->batch);
	s->batch.ts_ms = now_ms;
	return publish_batch_once(s->ctx, &s->batch, fs_emit(s), err, &s->families);
}

static const struct bm_plugin_ops fs_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = fs_init,
	.fini = fs_fini,
	.collect = fs_collect,
};

BM_PLUGIN_DEFINE(collector, filesystem, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "filesystem size, free space and inodes per mount (node_filesystem_*)",
		 .origin = "bearmon plugins/collector_filesystem",
		 .options = fs_options,
		 /* statfs() of mount points under directories we may not search */
		 .capabilities = BM_CAP_DAC_READ_SEARCH,
		 .config_size = sizeof(struct fs_conf),
		 .ops = &fs_ops);
