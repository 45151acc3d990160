/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collector "processes": process and thread counts by state from
 * PROC_ROOT/PID/stat (node_processes_*), and per process CPU, memory, IO,
 * open fds and threads (bearmon_process_*) for the top N by CPU and by RSS,
 * for processes matched by comm, command line or pid file, and for the
 * pids of agents (from the agent plugin's `agent` events), labelled with
 * agent_id and agent_type.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>
#include <bearmon/bm_vec.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "../common/procfs.h"
#include "../common/publish.h"

#define PR_COMM_MAX 64          /* stat's comm: 15 bytes, kworker names up to 63 */
#define PR_USER_MAX 64          /* user label, truncated */
#define PR_SMALL_BUF 8192       /* stat, status, io, pid files: one read each */
#define PR_CMDLINE_MAX 4096     /* command line matched against regexes, truncated */
#define PR_DENTS_BUF 8192       /* getdents64 buffer for fd/ and task/ */
#define PR_USER_CACHE 128       /* uid -> name entries kept */
#define PR_MAX_TOP 1000         /* bound of top_cpu and top_mem */
#define PR_PROC_SUPER_MAGIC 0x9fa0 /* statfs f_type of procfs */
#define PR_GROUP_TOPCPU "topcpu"
#define PR_GROUP_TOPMEM "topmem"
#define PR_GROUP_AGENT "agent"
#define PR_AGENT_TEXT 129       /* agent id (up to 128 bytes) or type, truncated */
#define PR_MAX_AGENTS 100000    /* agent pids followed */
#define PR_UID_REFRESH 10       /* collections a process's uid is taken as read */

/* One `match` rule as configured. */
struct pr_match_conf {
	char *name;    /* group label value */
	char *comm;    /* POSIX ERE on comm, anchored */
	char *cmdline; /* POSIX ERE on the command line, not anchored */
	char *pidfile; /* file holding a pid */
};

struct pr_conf {
	char *proc_root;            /* "/proc" */
	int64_t top_cpu;            /* N processes with the most CPU since the last collection */
	int64_t top_mem;            /* N processes with the largest RSS */
	int64_t max_processes;      /* cap of per-process series sets per collection */
	bool pid_label;             /* per pid series (true) or one per group, comm, user */
	bool thread_states;         /* read PROC_ROOT/PID/task/ * /stat for thread states */
	int64_t stat_fds;           /* stat files kept open between collections */
	struct bm_group_list match; /* struct pr_match_conf items */
};

static const struct bm_option pr_match_options[] = {
	{.name = "name", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct pr_match_conf, name),
	 .help = "group label of the processes this rule selects"},
	BM_OPTION("comm", BM_OPT_STRING, NULL, struct pr_match_conf, comm,
		  "regex (POSIX ERE, anchored) on the process name from stat"),
	BM_OPTION("cmdline", BM_OPT_STRING, NULL, struct pr_match_conf, cmdline,
		  "regex (POSIX ERE, unanchored) on the command line, arguments joined by spaces"),
	BM_OPTION("pidfile", BM_OPT_STRING, NULL, struct pr_match_conf, pidfile,
		  "file holding the pid of the process to select"),
	BM_OPTION_END,
};

static const struct bm_option pr_options[] = {
	BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct pr_conf, proc_root,
		  "procfs mount point; PROC_ROOT/PID/stat is read for every process"),
	BM_OPTION_BOUNDED("top_cpu", BM_OPT_INT, "5", struct pr_conf, top_cpu, 0, PR_MAX_TOP,
			  "publish the N processes that used the most CPU since the previous collection"),
	BM_OPTION_BOUNDED("top_mem", BM_OPT_INT, "5", struct pr_conf, top_mem, 0, PR_MAX_TOP,
			  "publish the N processes with the largest resident set"),
	BM_OPTION_BOUNDED("max_processes", BM_OPT_INT, "50", struct pr_conf, max_processes, 0,
			  100000, "hard cap on processes published per collection (the rest are counted)"),
	BM_OPTION("pid_label", BM_OPT_BOOL, "true", struct pr_conf, pid_label,
		  "label per-process series with pid; false sums them per group, comm and user"),
	BM_OPTION("thread_states", BM_OPT_BOOL, "false", struct pr_conf, thread_states,
		  "count threads by state from PROC_ROOT/PID/task/*/stat (expensive)"),
	BM_OPTION_BOUNDED("stat_fds", BM_OPT_INT, "1024", struct pr_conf, stat_fds, 0, 65536,
			  "PID/stat (and the selected processes' PID/io) files kept open and re-read with pread "
			  "(at most a quarter of RLIMIT_NOFILE); 0 = open each time"),
	{.name = "match", .type = BM_OPT_GROUP_LIST, .sub = pr_match_options,
	 .sub_size = sizeof(struct pr_match_conf), .offset = offsetof(struct pr_conf, match),
	 .help = "rules selecting processes by comm, cmdline and/or pidfile (all given must match)"},
	BM_OPTION_END,
};

/* A compiled rule. */
struct pr_rule {
	const char *name;
	int group;       /* index of the first rule with this name */
	bool has_comm, has_cmdline;
	regex_t comm, cmdline;
	const char *pidfile;
	bool pidfile_logged; /* a missing or bad pid file was logged once */
};

/* Per-pid state, kept while the pid is listed. */
struct pr_proc {
	int pid;
	int fd;                 /* PID/stat kept open, -1 none */
	int io_fd;              /* PID/io kept open while selected, -1 none */
	uint32_t gen;           /* collection it was last seen in */
	uint64_t start;         /* starttime in ticks since boot: tells pid reuse */
	uint64_t utime, stime;  /* latest */
	uint64_t putime, pstime; /* at the previous collection (0 for a new process) */
	uint64_t delta;         /* CPU ticks since the previous collection */
	uint64_t vsize, rss, threads;
	bool fresh;             /* appeared since the previous collection */
	bool comm_changed;      /* new comm this collection (exec, prctl) */
	bool rule_valid;        /* rule below is for this comm */
	int rule;               /* first non-pidfile rule matching, -1 none */
	int pf_rule;            /* first pidfile rule naming it this collection */
	uint32_t pf_gen;
	uint32_t mark_gen;      /* selected in this collection (== gen) */
	uint32_t sel_gen;       /* published in this collection (== gen) */
	uint32_t last_gen;      /* collection it was last published in */
	int last_group;         /* its group then */
	uint32_t last_uid;      /* its uid then */
	bool last_io_ok;        /* last_rd, last_wr were read then */
	uint32_t uid;           /* effective uid from status */
	uint64_t uid_read;      /* collections + 1 when status was read; 0 never */
	uint64_t last_rd, last_wr; /* io read_bytes, write_bytes then */
	char comm[PR_COMM_MAX]; /* sanitised */
};

/* A process published this collection. */
struct pr_sel {
	uint32_t idx;   /* into procs */
	int group;
	int pid;
	uint32_t uid;
	bool io_ok, fds_ok;
	uint64_t rd, wr, fds;
	uint64_t d_ut, d_st, d_rd, d_wr; /* pid_label false: contribution to its aggregate */
	const char *comm; /* the process's, valid until eviction */
	const struct pr_agent *agent; /* in agents_now, NULL for none */
	char user[PR_USER_MAX];
};

/* pid_label false: one series set per group, comm and user. */
struct pr_agg {
	int group;
	uint32_t uid;
	char comm[PR_COMM_MAX];
	char agent_id[PR_AGENT_TEXT]; /* "" for none */
	char agent_type[PR_AGENT_TEXT];
	uint64_t ut, st, rd, wr; /* accumulated: monotonic while the aggregate lives */
};

struct pr_user {
	uint32_t uid;
	char name[PR_USER_MAX];
};

/* An agent's process, from the agent plugin's events. */
struct pr_agent {
	int pid;
	char id[PR_AGENT_TEXT];
	char type[PR_AGENT_TEXT];
};

/* Process states node_exporter reports; always published (0 when none). */
static const char pr_states[] = "DIRSTZt";

struct pr_state {
	struct bm_ctx *ctx;
	const struct pr_conf *conf;
	const char *root;
	DIR *dir;            /* PROC_ROOT, kept open and rewound */
	int dfd;             /* its fd, for openat */
	bool procfs;         /* it is a procfs (not a fixture tree) */
	long hz;             /* USER_HZ */
	long page;           /* page size */
	uint32_t gen;
	uint64_t collections;
	struct pr_rule *rules;
	size_t n_rules;
	bool has_static_rules, has_pidfile_rules;
	char **group_names;  /* rule groups, then topcpu, topmem, agent (a rule may
			      * share that name: agents' series differ by agent_id) */
	int group_topcpu, group_topmem, group_agent;

	/* agents: the subscription's thread keeps `agents` (under agent_lock),
	 * each collection works on a copy sorted by pid */
	pthread_mutex_t agent_lock;
	struct pr_agent *agents, *agents_now;
	size_t n_agents, cap_agents, n_agents_now, cap_agents_now;
	struct bm_sub *agent_sub;
	struct bm_arena agent_arena; /* the subscription's decoding */

	struct pr_proc *procs;
	size_t n_procs, cap_procs;
	int32_t *slots;      /* open addressing index into procs, -1 empty */
	size_t cap_slots;    /* power of two */
	size_t n_fds, max_fds; /* stat fds held, and the budget */

	uint32_t *top_cpu, *top_mem;
	size_t n_top_cpu, n_top_mem;
	struct pr_sel *sel;
	size_t n_sel, cap_sel;
	struct pr_agg *agg, *agg_new;
	size_t n_agg, cap_agg, cap_agg_new;

	struct pr_user users[PR_USER_CACHE];
	size_t n_users;
	char *pwbuf;
	size_t pwbuf_len;

	char buf[PR_SMALL_BUF];
	char cmd[PR_CMDLINE_MAX];
	char dents[PR_DENTS_BUF];

	/* this collection */
	uint64_t state_count[128];
	uint64_t thread_state_count[128];
	uint64_t n_pids, n_threads;
	uint64_t io_unreadable, fds_unreadable;
	/* lifetime */
	uint64_t dropped;
	double btime;        /* boot time, s since the epoch; < 0 unknown */
	bool btime_read;

	bool warned_garbage, logged_perm, logged_pidmax, logged_threadsmax, logged_btime;
	bool logged_full;
	struct bm_batch batch;
	struct pub_families families; /* metadata already published */
};

/* ---------------------------------------------------------------------
 * Files
 * --------------------------------------------------------------------- */

struct pr_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/*
 * Count the entries of directory rel other than "." and "..", calling
 * each(s, name, user) on each when given. getdents64 into a buffer kept in
 * the state: no allocation (opendir would malloc 32 KiB per call).
 */
static int pr_dir_each(struct pr_state *s, const char *rel, uint64_t *count,
		       void (*each)(struct pr_state *, const char *, const char *), const char *arg)
{
	int fd = openat(s->dfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t n = 0;
	for (;;) {
		long r = syscall(SYS_getdents64, fd, s->dents, sizeof(s->dents));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		for (long off = 0; off < r;) {
			const struct pr_dirent64 *d = (const void *)(s->dents + off);
			off += d->d_reclen;
			if (d->d_name[0] == '.' &&
			    (d->d_name[1] == '\0' || (d->d_name[1] == '.' && d->d_name[2] == '\0')))
				continue;
			n++;
			if (each)
				each(s, d->d_name, arg);
		}
	}
	close(fd);
	*count = n;
	return 0;
}

/* True for a non-empty all-digit name; the value in *pid. */
static bool pr_parse_pid(const char *p, int *pid)
{
	long v = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > INT_MAX / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (v <= 0 || v > INT_MAX)
		return false;
	*pid = (int)v;
	return true;
}

/* ---------------------------------------------------------------------
 * /proc/PID/stat
 * --------------------------------------------------------------------- */

struct pr_stat {
	const char *comm;
	size_t comm_len;
	char state;
	uint64_t utime, stime, threads, start, vsize, rss;
};

/*
 * Parse "PID (COMM) S f4 f5 ... f24 ...". COMM may hold spaces and
 * parentheses, so it ends at the LAST ')' of the line.
 */
static bool pr_parse_stat(const char *buf, size_t len, struct pr_stat *st)
{
	const char *end = buf + len;
	const char *lp = memchr(buf, '(', len);
	const char *rp = end;
	while (rp > buf && rp[-1] != ')')
		rp--;
	if (!lp || rp == buf || rp - 1 <= lp)
		return false;
	rp--; /* at ')' */
	st->comm = lp + 1;
	st->comm_len = (size_t)(rp - lp - 1);
	const char *p = rp + 1;
	if (end - p < 3 || p[0] != ' ' || p[2] != ' ')
		return false;
	st->state = p[1];
	p += 2;
	uint64_t v[25];
	for (unsigned f = 4; f <= 24; f++) {
		if (p >= end || *p != ' ')
			return false;
		p++;
		bool neg = p < end && *p == '-';
		if (neg)
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return false;
		uint64_t x = 0;
		while (p < end && *p >= '0' && *p <= '9')
			x = x * 10 + (uint64_t)(*p++ - '0');
		v[f] = neg ? 0 : x;
	}
	st->utime = v[14];
	st->stime = v[15];
	st->threads = v[20];
	st->start = v[22];
	st->vsize = v[23];
	st->rss = v[24];
	return true;
}

/* Copy comm into out as a valid UTF-8 label value without control bytes. */
static void pr_sanitize(char *out, size_t cap, const char *in, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap;) {
		unsigned char c = (unsigned char)in[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
			 : (c & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0 && i + n <= len && o + n < cap && !(n == 2 && c < 0xc2);
		for (size_t k = 1; ok && k < n; k++)
			ok = ((unsigned char)in[i + k] & 0xc0) == 0x80;
		if (!ok || c < 0x20 || c == 0x7f) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, in + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
}

/* ---------------------------------------------------------------------
 * Per-pid table: dense array plus an open-addressing index
 * --------------------------------------------------------------------- */

static size_t pr_hash(const struct pr_state *s, int pid)
{
	return ((uint32_t)pid * 2654435761u) & (s->cap_slots - 1);
}

static void pr_reindex(struct pr_state *s)
{
	for (size_t i = 0; i < s->cap_slots; i++)
		s->slots[i] = -1;
	for (size_t i = 0; i < s->n_procs; i++) {
		size_t h = pr_hash(s, s->procs[i].pid);
		while (s->slots[h] >= 0)
			h = (h + 1) & (s->cap_slots - 1);
		s->slots[h] = (int32_t)i;
	}
}

static struct pr_proc *pr_find(struct pr_state *s, int pid)
{
	if (!s->cap_slots)
		return NULL;
	for (size_t h = pr_hash(s, pid);; h = (h + 1) & (s->cap_slots - 1)) {
		int32_t i = s->slots[h];
		if (i < 0)
			return NULL;
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	}
}

/* The entry of pid, appended (zeroed but for pid) when new; NULL on ENOMEM. */
static struct pr_proc *pr_insert(struct pr_state *s, int pid, bool *is_new)
{
	struct pr_proc *p = pr_find(s, pid);
	*is_new = p == NULL;
	if (p)
		return p;
	if (BM_VEC_RESERVE(s->procs, s->cap_procs, s->n_procs + 1))
		return NULL;
	if (2 * (s->n_procs + 1) > s->cap_slots) {
		size_t c = s->cap_slots ? 2 * s->cap_slots : 512;
		int32_t *ns = realloc(s->slots, c * sizeof(*ns));
		if (!ns)
			return NULL;
		s->slots = ns;
		s->cap_slots = c;
		pr_reindex(s);
	}
	p = &s->procs[s->n_procs];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->fd = -1;
	p->io_fd = -1;
	size_t h = pr_hash(s, pid);
	while (s->slots[h] >= 0)
		h = (h + 1) & (s->cap_slots - 1);
	s->slots[h] = (int32_t)s->n_procs++;
	return p;
}

/* Close the process's kept io file. */
static void pr_release_io(struct pr_state *s, struct pr_proc *p)
{
	if (p->io_fd < 0)
		return;
	close(p->io_fd);
	p->io_fd = -1;
	s->n_fds--;
}

/* Close the process's kept files. */
static void pr_release_fd(struct pr_state *s, struct pr_proc *p)
{
	pr_release_io(s, p);
	if (p->fd < 0)
		return;
	close(p->fd);
	p->fd = -1;
	s->n_fds--;
}

/* Drop the state of pids not seen this collection. */
static void pr_evict(struct pr_state *s)
{
	size_t k = 0;
	for (size_t i = 0; i < s->n_procs; i++) {
		struct pr_proc *p = &s->procs[i];
		p->putime = p->utime;
		p->pstime = p->stime;
		if (p->gen != s->gen) {
			pr_release_fd(s, p);
			continue;
		}
		if (k != i)
			s->procs[k] = *p;
		k++;
	}
	if (k != s->n_procs) {
		s->n_procs = k;
		pr_reindex(s);
	}
}

/* ---------------------------------------------------------------------
 * Matching
 * --------------------------------------------------------------------- */

/* The command line of pid in s->cmd, arguments joined by spaces ("" when
 * unreadable or a kernel thread). */
static const char *pr_cmdline(struct pr_state *s, int pid)
{
	char rel[32];
	snprintf(rel, sizeof(rel), "%d/cmdline", pid);
	ssize_t n = pf_read_at(s->dfd, rel, s->cmd, sizeof(s->cmd));
	size_t len = n > 0 ? (size_t)n : 0;
	while (len > 0 && s->cmd[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < len; i++)
		if (s->cmd[i] == '\0' || s->cmd[i] == '\n')
			s->cmd[i] = ' ';
	s->cmd[len] = '\0';
	return s->cmd;
}

/* Whether p satisfies the comm and cmdline parts of rule r; *cmd caches
 * the command line read for p. */
static bool pr_rule_match(struct pr_state *s, const struct pr_rule *r, const struct pr_proc *p,
			  const char **cmd)
{
	if (r->has_comm && regexec(&r->comm, p->comm, 0, NULL, 0) != 0)
		return false;
	if (r->has_cmdline) {
		if (!*cmd)
			*cmd = pr_cmdline(s, p->pid);
		if (regexec(&r->cmdline, *cmd, 0, NULL, 0) != 0)
			return false;
	}
	return true;
}

/* Cache the first rule without a pid file that matches p. Evaluated when
 * the pid first appears and again whenever its comm changes (exec). */
static void pr_match_static(struct pr_state *s, struct pr_proc *p)
{
	const char *cmd = NULL;
	p->rule = -1;
	p->rule_valid = true;
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct pr_rule *r = &s->rules[i];
		if (r->pidfile)
			continue;
		if (pr_rule_match(s, r, p, &cmd)) {
			p->rule = (int)i;
			return;
		}
	}
}

/* Each pid file rule: read the pid, mark that process when its comm and
 * cmdline parts (if any) match too. */
static void pr_match_pidfiles(struct pr_state *s)
{
	for (size_t i = 0; i < s->n_rules; i++) {
		struct pr_rule *r = &s->rules[i];
		if (!r->pidfile)
			continue;
		ssize_t rc = pf_read_at(AT_FDCWD, r->pidfile, s->buf, 64);
		if (rc < 0) {
			pf_log_once(s->ctx, &r->pidfile_logged, BM_LOG_INFO,
				    "match \"%s\": cannot read pid file %s: %s (not matching until it can be read)",
				    r->name, r->pidfile, strerror((int)-rc));
			continue;
		}
		char *q = s->buf;
		while (*q == ' ' || *q == '\t')
			q++;
		char *e = q;
		while (*e >= '0' && *e <= '9')
			e++;
		bool ok = e > q && (*e == '\0' || *e == '\n' || *e == ' ');
		*e = '\0';
		int pid = 0;
		if (!ok || !pr_parse_pid(q, &pid)) {
			pf_log_once(s->ctx, &r->pidfile_logged, BM_LOG_WARN,
				    "match \"%s\": pid file %s does not hold a pid", r->name, r->pidfile);
			continue;
		}
		r->pidfile_logged = false;
		struct pr_proc *p = pr_find(s, pid);
		if (!p || p->gen != s->gen)
			continue; /* stale pid file */
		const char *cmd = NULL;
		if (p->pf_gen == s->gen && p->pf_rule < (int)i)
			continue;
		if (pr_rule_match(s, r, p, &cmd)) {
			p->pf_rule = (int)i;
			p->pf_gen = s->gen;
		}
	}
}

/* ---------------------------------------------------------------------
 * Scan: every pid's stat, counts, CPU deltas, top N
 * --------------------------------------------------------------------- */

static bool pr_better(uint64_t ka, int pa, uint64_t kb, int pb)
{
	return ka > kb || (ka == kb && pa < pb);
}

/* Insert procs[idx] (key k) into the top list if it belongs there. */
static void pr_top_insert(const struct pr_state *s, uint32_t *top, size_t *n, size_t cap,
			  uint32_t idx, bool by_cpu)
{
	const struct pr_proc *p = &s->procs[idx];
	uint64_t k = by_cpu ? p->delta : p->rss;
	if (cap == 0 || k == 0)
		return;
	size_t pos = *n;
	while (pos > 0) {
		const struct pr_proc *q = &s->procs[top[pos - 1]];
		if (!pr_better(k, p->pid, by_cpu ? q->delta : q->rss, q->pid))
			break;
		pos--;
	}
	if (pos >= cap)
		return;
	size_t last = *n < cap ? *n : cap - 1;
	memmove(&top[pos + 1], &top[pos], (last - pos) * sizeof(*top));
	top[pos] = idx;
	if (*n < cap)
		(*n)++;
}

static void pr_count_thread(struct pr_state *s, const char *tid, const char *pid)
{
	char rel[600]; /* two directory names of up to 255 bytes each */
	struct pr_stat st;
	snprintf(rel, sizeof(rel), "%s/task/%s/stat", pid, tid);
	ssize_t len = pf_read_at(s->dfd, rel, s->buf, sizeof(s->buf));
	if (len < 0)
		return; /* exited meanwhile */
	if (pr_parse_stat(s->buf, (size_t)len, &st))
		s->thread_state_count[(unsigned char)st.state & 0x7f]++;
}

/* One pid: read its stat, update counts and state. */
static void pr_scan_pid(struct pr_state *s, const char *name, int pid, bool first)
{
	char rel[32];
	size_t len = 0;
	struct pr_stat st;
	int newfd = -1;
	snprintf(rel, sizeof(rel), "%d/stat", pid);
	struct pr_proc *p = pr_find(s, pid);
	if (p && p->fd >= 0) {
		/* one pread instead of openat, read, close; ESRCH once the
		 * process is reaped, even when its pid was reused since */
		ssize_t r = pread(p->fd, s->buf, sizeof(s->buf) - 1, 0);
		if (r > 0) {
			len = (size_t)r;
			s->buf[len] = '\0';
		} else {
			pr_release_fd(s, p);
		}
	}
	if (!len) {
		int fd = openat(s->dfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return; /* vanished since readdir: normal */
		ssize_t r = pread(fd, s->buf, sizeof(s->buf) - 1, 0);
		if (r <= 0) {
			close(fd);
			return;
		}
		len = (size_t)r;
		s->buf[len] = '\0';
		if (s->n_fds < s->max_fds)
			newfd = fd;
		else
			close(fd);
	}
	if (!pr_parse_stat(s->buf, len, &st)) {
		pf_log_once(s->ctx, &s->warned_garbage, BM_LOG_WARN, "%s/%s: cannot parse, skipping",
			    s->root, rel);
		if (newfd >= 0)
			close(newfd);
		return;
	}
	s->n_pids++;
	s->n_threads += st.threads;
	s->state_count[(unsigned char)st.state & 0x7f]++;

	char comm[PR_COMM_MAX];
	pr_sanitize(comm, sizeof(comm), st.comm, st.comm_len); /* before s->buf is reused */
	if (s->conf->thread_states) {
		char trel[32];
		uint64_t n = 0;
		snprintf(trel, sizeof(trel), "%d/task", pid);
		pr_dir_each(s, trel, &n, pr_count_thread, name);
	}

	bool is_new = false;
	p = pr_insert(s, pid, &is_new);
	if (!p) {
		if (newfd >= 0)
			close(newfd);
		pf_log_once(s->ctx, &s->logged_full, BM_LOG_WARN,
			    "out of memory for per-process state; some processes are not ranked");
		return;
	}
	if (!is_new && p->start != st.start) { /* pid reused: a new process */
		pr_release_io(s, p); /* the old process's */
		int fd = p->fd;
		memset(p, 0, sizeof(*p));
		p->pid = pid;
		p->fd = fd;
		p->io_fd = -1;
		is_new = true;
	}
	if (newfd >= 0) { /* p->fd is -1 here: a held one was read or released */
		p->fd = newfd;
		s->n_fds++;
	}
	if (is_new)
		p->rule = p->pf_rule = -1;
	p->comm_changed = is_new || strcmp(comm, p->comm) != 0;
	if (p->comm_changed) {
		memcpy(p->comm, comm, sizeof(comm));
		p->rule_valid = false;
	}
	p->gen = s->gen;
	p->start = st.start;
	p->fresh = is_new && !first;
	p->utime = st.utime;
	p->stime = st.stime;
	p->vsize = st.vsize;
	p->rss = st.rss;
	p->threads = st.threads;
	uint64_t now = st.utime + st.stime;
	uint64_t prev = p->putime + p->pstime;
	if (is_new) /* started since the previous collection: all of it is new */
		p->delta = first ? 0 : now;
	else
		p->delta = now >= prev ? now - prev : 0;
	if (s->has_static_rules && !p->rule_valid)
		pr_match_static(s, p);
	uint32_t idx = (uint32_t)(p - s->procs);
	pr_top_insert(s, s->top_cpu, &s->n_top_cpu, (size_t)s->conf->top_cpu, idx, true);
	pr_top_insert(s, s->top_mem, &s->n_top_mem, (size_t)s->conf->top_mem, idx, false);
}

static int pr_scan(struct pr_state *s, struct bm_err *err)
{
	if (!s->dir) {
		s->dir = opendir(s->root);
		if (!s->dir)
			return bm_err_set(err, BM_EIO, "cannot open %s: %s", s->root, strerror(errno));
		s->dfd = dirfd(s->dir);
		struct statfs sf;
		s->procfs = fstatfs(s->dfd, &sf) == 0 && sf.f_type == PR_PROC_SUPER_MAGIC;
	} else {
		rewinddir(s->dir);
	}
	bool first = s->collections == 0;
	struct dirent *d;
	errno = 0;
	while ((d = readdir(s->dir)) != NULL) {
		int pid;
		if (pr_parse_pid(d->d_name, &pid))
			pr_scan_pid(s, d->d_name, pid, first);
		errno = 0;
	}
	if (errno)
		return bm_err_set(err, BM_EIO, "cannot list %s: %s", s->root, strerror(errno));
	return 0;
}

/* ---------------------------------------------------------------------
 * Selection and the selected processes' own files
 * --------------------------------------------------------------------- */

static int pr_sel_push(struct pr_state *s, uint32_t idx, int group)
{
	struct pr_proc *p = &s->procs[idx];
	if (p->mark_gen == s->gen) /* already in an earlier group, or dropped */
		return 0;
	p->mark_gen = s->gen;
	if (s->n_sel >= (size_t)s->conf->max_processes) {
		s->dropped++;
		return 0;
	}
	if (BM_VEC_RESERVE(s->sel, s->cap_sel, s->n_sel + 1))
		return BM_ENOMEM;
	struct pr_sel *e = &s->sel[s->n_sel++];
	memset(e, 0, sizeof(*e));
	e->idx = idx;
	e->group = group;
	e->pid = p->pid;
	e->comm = p->comm;
	return 0;
}

static int pr_cmp_matched(const void *a, const void *b)
{
	const struct pr_sel *x = a, *y = b;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The agent running as pid in this collection's copy, or NULL. */
static const struct pr_agent *pr_agent_of(const struct pr_state *s, int pid)
{
	size_t lo = 0, hi = s->n_agents_now;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pr_agent *a = &s->agents_now[mid];
		if (a->pid == pid)
			return a;
		if (a->pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Agents' processes are always published (max_processes does not apply
 * to them), and every selected process that is an agent's is labelled. */
static int pr_select_agents(struct pr_state *s)
{
	for (size_t i = 0; i < s->n_sel; i++)
		s->procs[s->sel[i].idx].sel_gen = s->gen;
	for (size_t i = 0; i < s->n_agents_now; i++) {
		struct pr_proc *p = pr_find(s, s->agents_now[i].pid);
		if (!p || p->gen != s->gen || p->sel_gen == s->gen)
			continue; /* gone, or in the selection already */
		p->mark_gen = p->sel_gen = s->gen;
		if (BM_VEC_RESERVE(s->sel, s->cap_sel, s->n_sel + 1))
			return BM_ENOMEM;
		s->sel[s->n_sel++] = (struct pr_sel){.idx = (uint32_t)(p - s->procs),
						     .group = s->group_agent, .pid = p->pid,
						     .comm = p->comm};
	}
	for (size_t i = 0; i < s->n_sel; i++)
		s->sel[i].agent = pr_agent_of(s, s->sel[i].pid);
	return 0;
}

/*
 * Pick the processes to publish: matched ones (the first rule in config
 * order that matches wins; by rule, then pid), then top CPU, then top RSS,
 * each process once, at most max_processes of them (the rest are counted
 * in dropped); then agents' processes.
 */
static int pr_select(struct pr_state *s)
{
	int rc = 0;
	size_t max = (size_t)s->conf->max_processes;
	s->n_sel = 0;
	for (size_t i = 0; i < s->n_procs && s->n_rules; i++) {
		struct pr_proc *p = &s->procs[i];
		if (p->gen != s->gen)
			continue;
		int r = p->rule;
		if (p->pf_gen == s->gen && (r < 0 || p->pf_rule < r))
			r = p->pf_rule;
		if (r < 0)
			continue;
		if (BM_VEC_RESERVE(s->sel, s->cap_sel, s->n_sel + 1))
			return BM_ENOMEM;
		s->sel[s->n_sel++] =
			(struct pr_sel){.idx = (uint32_t)i, .group = r, .pid = p->pid, .comm = p->comm};
		p->mark_gen = s->gen;
	}
	if (s->n_sel > 1)
		qsort(s->sel, s->n_sel, sizeof(*s->sel), pr_cmp_matched);
	for (size_t i = 0; i < s->n_sel; i++)
		s->sel[i].group = s->rules[s->sel[i].group].group;
	if (s->n_sel > max) {
		s->dropped += s->n_sel - max;
		s->n_sel = max;
	}
	for (size_t i = 0; i < s->n_top_cpu && !rc; i++)
		rc = pr_sel_push(s, s->top_cpu[i], s->group_topcpu);
	for (size_t i = 0; i < s->n_top_mem && !rc; i++)
		rc = pr_sel_push(s, s->top_mem[i], s->group_topmem);
	return rc ? rc : pr_select_agents(s);
}

/* The user name of uid, cached; the number when it has none. Valid until
 * the next call (the cache may start over). */
static const char *pr_user(struct pr_state *s, uint32_t uid)
{
	for (size_t i = 0; i < s->n_users; i++)
		if (s->users[i].uid == uid)
			return s->users[i].name;
	if (s->n_users == PR_USER_CACHE)
		s->n_users = 0; /* rare: many distinct users; start over */
	struct pr_user *u = &s->users[s->n_users++];
	u->uid = uid;
	struct passwd pw, *res = NULL;
	if (s->pwbuf && getpwuid_r((uid_t)uid, &pw, s->pwbuf, s->pwbuf_len, &res) == 0 && res &&
	    res->pw_name && res->pw_name[0])
		pr_sanitize(u->name, sizeof(u->name), res->pw_name, strlen(res->pw_name));
	else
		snprintf(u->name, sizeof(u->name), "%u", uid);
	return u->name;
}

/* Effective uid from the "Uid:" line of status. */
static bool pr_status_uid(const char *buf, uint32_t *uid)
{
	const char *l = strstr(buf, "\nUid:");
	if (!l)
		return false;
	char *e;
	unsigned long real = strtoul(l + 5, &e, 10);
	if (e == l + 5)
		return false;
	const char *p = e;
	unsigned long eff = strtoul(p, &e, 10);
	*uid = (uint32_t)(e == p ? real : eff);
	return true;
}

static bool pr_io_field(const char *buf, const char *key, uint64_t *out)
{
	const char *l = strstr(buf, key);
	if (!l)
		return false;
	char *e;
	const char *p = l + strlen(key);
	unsigned long long v = strtoull(p, &e, 10);
	if (e == p)
		return false;
	*out = v;
	return true;
}

static void pr_log_perm(struct pr_state *s, const char *what, int pid, int e)
{
	pf_log_once(s->ctx, &s->logged_perm, BM_LOG_INFO,
		    "%s/%d/%s: %s; io and open fds of other users' processes are skipped "
		    "(bearmond needs CAP_SYS_PTRACE to read them)",
		    s->root, pid, what, strerror(e));
}

/*
 * The effective uid of the process of e: status is the most expensive file
 * of a process to produce, and a uid changes with exec (a new comm) or a
 * setuid early in a daemon's life, so on procfs it is read when the process
 * is selected first, when its comm changed and every PR_UID_REFRESH
 * collections (*cached then true: the caller checks that the process is
 * still there). False when the process is gone.
 */
static bool pr_selected_uid(struct pr_state *s, struct pr_sel *e, bool *cached)
{
	struct pr_proc *p = &s->procs[e->idx];
	*cached = s->procfs && p->uid_read && !p->comm_changed &&
		  s->collections + 1 - p->uid_read < PR_UID_REFRESH;
	if (*cached) {
		e->uid = p->uid;
		return true;
	}
	char rel[32];
	size_t n = pf_utoa((uint64_t)e->pid, rel);
	memcpy(rel + n, "/status", sizeof("/status"));
	if (pf_read_at(s->dfd, rel, s->buf, sizeof(s->buf)) < 0 || !pr_status_uid(s->buf, &e->uid))
		return false;
	p->uid = e->uid;
	p->uid_read = s->collections + 1;
	return true;
}

/*
 * PID/io of a selected process into s->buf: kept open on procfs while the
 * process lives (within the stat_fds budget), so a process selected again
 * costs one pread (the ptrace check is done on every read anyway).
 * Returns the length or -errno.
 */
static ssize_t pr_read_io(struct pr_state *s, struct pr_proc *p, const char *rel)
{
	if (p->io_fd >= 0) {
		ssize_t n = pread(p->io_fd, s->buf, sizeof(s->buf) - 1, 0);
		if (n >= 0) {
			s->buf[n] = '\0';
			return n;
		}
		pr_release_io(s, p); /* reaped: ESRCH */
	}
	int fd = openat(s->dfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ssize_t n = pf_read_fd(fd, s->buf, sizeof(s->buf));
	if (n >= 0 && s->procfs && s->n_fds < s->max_fds) {
		p->io_fd = fd;
		s->n_fds++;
	} else {
		close(fd);
	}
	return n;
}

/* errno values that say a file of the process is not there */
static bool pr_absent(int rc)
{
	return rc == -ENOENT || rc == -ESRCH;
}

/*
 * Read the uid (status), io and fd/ of each selected process. A process
 * that vanished since the scan is dropped from the selection silently.
 */
static void pr_read_selected(struct pr_state *s)
{
	char rel[32];
	size_t k = 0;
	for (size_t i = 0; i < s->n_sel; i++) {
		struct pr_sel *e = &s->sel[i];
		bool cached;
		if (!pr_selected_uid(s, e, &cached))
			continue; /* gone */
		snprintf(e->user, sizeof(e->user), "%s", pr_user(s, e->uid));

		size_t pl = pf_utoa((uint64_t)e->pid, rel);
		memcpy(rel + pl, "/io", sizeof("/io"));
		ssize_t n = pr_read_io(s, &s->procs[e->idx], rel);
		int rc = n < 0 ? (int)n : 0;
		if (rc == 0) {
			e->io_ok = pr_io_field(s->buf, "\nread_bytes:", &e->rd) &&
				   pr_io_field(s->buf, "\nwrite_bytes:", &e->wr);
		} else if (!pr_absent(rc)) { /* absent: no io accounting, or gone */
			s->io_unreadable++;
			pr_log_perm(s, "io", e->pid, -rc);
		}
		memcpy(rel + pl, "/fd", sizeof("/fd"));
		struct stat sb;
		/* Linux 6.2+ reports the number of open fds as the size of
		 * fd/, much cheaper than listing it; 0 there means an older
		 * kernel (or no fds): list it */
		if (s->procfs && fstatat(s->dfd, rel, &sb, 0) == 0 && sb.st_size > 0) {
			e->fds = (uint64_t)sb.st_size;
			rc = 0;
		} else {
			rc = pr_dir_each(s, rel, &e->fds, NULL, NULL);
		}
		if (rc == 0) {
			e->fds_ok = true;
		} else if (pr_absent(rc) && cached) {
			continue; /* every live process has fd/: this one is gone */
		} else if (!pr_absent(rc)) {
			s->fds_unreadable++;
			pr_log_perm(s, "fd", e->pid, -rc);
		}
		if (k != i)
			s->sel[k] = *e;
		k++;
	}
	s->n_sel = k;
}

/* ---------------------------------------------------------------------
 * pid_label = false: one series set per (group, comm, user)
 * --------------------------------------------------------------------- */

static uint64_t pr_sub(uint64_t a, uint64_t b) { return a >= b ? a - b : 0; }

/*
 * What each selected process adds to its aggregate's counters since the
 * previous collection: a process that started since then adds all it has;
 * one published in the same aggregate last time adds its delta; one that
 * just joined (another group before, exec, another user) adds nothing yet.
 * So an aggregate's counters never go down while it lives.
 */
static void pr_contributions(struct pr_state *s)
{
	for (size_t i = 0; i < s->n_sel; i++) {
		struct pr_sel *e = &s->sel[i];
		const struct pr_proc *p = &s->procs[e->idx];
		if (p->fresh) {
			e->d_ut = p->utime;
			e->d_st = p->stime;
			e->d_rd = e->io_ok ? e->rd : 0;
			e->d_wr = e->io_ok ? e->wr : 0;
		} else if (p->last_gen != 0 && p->last_gen == s->gen - 1 && p->last_group == e->group &&
			   p->last_uid == e->uid && !p->comm_changed) {
			e->d_ut = pr_sub(p->utime, p->putime);
			e->d_st = pr_sub(p->stime, p->pstime);
			bool io = e->io_ok && p->last_io_ok;
			e->d_rd = io ? pr_sub(e->rd, p->last_rd) : 0;
			e->d_wr = io ? pr_sub(e->wr, p->last_wr) : 0;
		}
	}
}

/* An aggregate's key: group, uid, comm and the agent ("" for none). */
struct pr_key {
	int group;
	uint32_t uid;
	const char *comm, *agent;
};

static struct pr_key pr_sel_key(const struct pr_sel *e)
{
	return (struct pr_key){e->group, e->uid, e->comm, e->agent ? e->agent->id : ""};
}

static struct pr_key pr_agg_key(const struct pr_agg *a)
{
	return (struct pr_key){a->group, a->uid, a->comm, a->agent_id};
}

static int pr_cmp_key(struct pr_key a, struct pr_key b)
{
	if (a.group != b.group)
		return a.group < b.group ? -1 : 1;
	if (a.uid != b.uid)
		return a.uid < b.uid ? -1 : 1;
	int c = strcmp(a.comm, b.comm);
	return c ? c : strcmp(a.agent, b.agent);
}

static int pr_cmp_sel_key(const void *a, const void *b)
{
	const struct pr_sel *x = a, *y = b;
	int c = pr_cmp_key(pr_sel_key(x), pr_sel_key(y));
	if (c)
		return c;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static const struct pr_agg *pr_agg_find(const struct pr_state *s, struct pr_key k)
{
	size_t lo = 0, hi = s->n_agg;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pr_agg *a = &s->agg[mid];
		int c = pr_cmp_key(k, pr_agg_key(a));
		if (c == 0)
			return a;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---------------------------------------------------------------------
 * Emission
 * --------------------------------------------------------------------- */

struct pr_family {
	const char *name;
	enum bm_metric_type type;
	const char *unit;
	const char *help;
};

enum {
	PF_CPU,
	PF_RSS,
	PF_VMS,
	PF_RD,
	PF_WR,
	PF_FDS,
	PF_THREADS,
	PF_START,
	PF_COUNT,
	PF_N,
};

static const struct pr_family pr_families[PF_N] = {
	[PF_CPU] = {"bearmon_process_cpu_seconds_total", BM_METRIC_COUNTER, "seconds",
		    "CPU time of the process (utime, stime of stat) by mode"},
	[PF_RSS] = {"bearmon_process_resident_memory_bytes", BM_METRIC_GAUGE, "bytes",
		    "resident set size (stat rss pages x page size)"},
	[PF_VMS] = {"bearmon_process_virtual_memory_bytes", BM_METRIC_GAUGE, "bytes",
		    "virtual memory size (stat vsize)"},
	[PF_RD] = {"bearmon_process_read_bytes_total", BM_METRIC_COUNTER, "bytes",
		   "bytes the process caused to be fetched from storage (io read_bytes)"},
	[PF_WR] = {"bearmon_process_write_bytes_total", BM_METRIC_COUNTER, "bytes",
		   "bytes the process caused to be sent to storage (io write_bytes)"},
	[PF_FDS] = {"bearmon_process_open_fds", BM_METRIC_GAUGE, NULL,
		    "open file descriptors (entries of fd/)"},
	[PF_THREADS] = {"bearmon_process_threads", BM_METRIC_GAUGE, NULL,
			"threads of the process (stat num_threads)"},
	[PF_START] = {"bearmon_process_start_time_seconds", BM_METRIC_GAUGE, "seconds",
		      "start time of the process, seconds since the epoch (oldest member with pid_label false)"},
	[PF_COUNT] = {"bearmon_process_count", BM_METRIC_GAUGE, NULL,
		      "processes summed into this series (pid_label false)"},
};

/* One series set: labels [agent, agent_type], comm, group, [pid], user;
 * values below. */
struct pr_values {
	const char *agent_id, *agent_type, *comm, *group, *pid, *user;
	double ut, st, rss, vms, rd, wr, fds, threads, start, count;
	bool io, has_fds, has_start, has_count;
};

static int pr_add(struct pr_state *s, const char *name, double v, const struct pr_values *x,
		  const char *mode)
{
	struct bm_label l[7];
	size_t n = 0;
	if (x->agent_id) {
		l[n++] = (struct bm_label){"agent", x->agent_id};
		l[n++] = (struct bm_label){"agent_type", x->agent_type};
	}
	l[n++] = (struct bm_label){"comm", x->comm};
	l[n++] = (struct bm_label){"group", x->group};
	if (mode)
		l[n++] = (struct bm_label){"mode", mode};
	if (x->pid)
		l[n++] = (struct bm_label){"pid", x->pid};
	l[n++] = (struct bm_label){"user", x->user};
	size_t k = 0; /* "" is no label in Prometheus' model (an empty comm) */
	for (size_t i = 0; i < n; i++)
		if (l[i].value[0])
			l[k++] = l[i];
	return bm_batch_add(&s->batch, name, v, l, k);
}

/* Add the samples of one family for one series set. */
static int pr_emit_one(struct pr_state *s, int f, const struct pr_values *x)
{
	const char *name = pr_families[f].name;
	switch (f) {
	case PF_CPU: {
		int rc = pr_add(s, name, x->ut, x, "user");
		return rc ? rc : pr_add(s, name, x->st, x, "system");
	}
	case PF_RSS: return pr_add(s, name, x->rss, x, NULL);
	case PF_VMS: return pr_add(s, name, x->vms, x, NULL);
	case PF_RD: return x->io ? pr_add(s, name, x->rd, x, NULL) : 0;
	case PF_WR: return x->io ? pr_add(s, name, x->wr, x, NULL) : 0;
	case PF_FDS: return x->has_fds ? pr_add(s, name, x->fds, x, NULL) : 0;
	case PF_THREADS: return pr_add(s, name, x->threads, x, NULL);
	case PF_START: return x->has_start ? pr_add(s, name, x->start, x, NULL) : 0;
	case PF_COUNT: return x->has_count ? pr_add(s, name, x->count, x, NULL) : 0;
	}
	return 0;
}

static double pr_start_time(const struct pr_state *s, const struct pr_proc *p)
{
	return s->btime + (double)p->start / (double)s->hz;
}

static void pr_values_of(struct pr_state *s, const struct pr_sel *e, char *pidbuf, size_t n,
			 struct pr_values *x)
{
	const struct pr_proc *p = &s->procs[e->idx];
	double hz = (double)s->hz;
	snprintf(pidbuf, n, "%d", e->pid);
	*x = (struct pr_values){
		.agent_id = e->agent ? e->agent->id : NULL,
		.agent_type = e->agent ? e->agent->type : NULL,
		.comm = p->comm,
		.group = s->group_names[e->group],
		.pid = pidbuf,
		.user = e->user,
		.ut = (double)p->utime / hz,
		.st = (double)p->stime / hz,
		.rss = (double)p->rss * (double)s->page,
		.vms = (double)p->vsize,
		.rd = (double)e->rd,
		.wr = (double)e->wr,
		.fds = (double)e->fds,
		.threads = (double)p->threads,
		.start = pr_start_time(s, p),
		.io = e->io_ok,
		.has_fds = e->fds_ok,
		.has_start = s->btime >= 0,
	};
}

static int pr_declare(struct pr_state *s, int n)
{
	int rc = 0;
	for (int f = 0; f < n && !rc; f++)
		rc = bm_batch_family(&s->batch, pr_families[f].name, pr_families[f].type,
				     pr_families[f].unit, pr_families[f].help);
	return rc;
}

static int pr_emit_pids(struct pr_state *s)
{
	int rc = pr_declare(s, PF_COUNT);
	for (size_t i = 0; i < s->n_sel && !rc; i++) {
		char pid[16];
		struct pr_values x;
		pr_values_of(s, &s->sel[i], pid, sizeof(pid), &x);
		for (int f = 0; f < PF_COUNT && !rc; f++)
			rc = pr_emit_one(s, f, &x);
	}
	return rc;
}

/* Build s->agg_new from the selection (sorted by key), carrying the
 * accumulated counters over from s->agg, then swap the two. */
static int pr_aggregate(struct pr_state *s)
{
	pr_contributions(s);
	if (s->n_sel > 1)
		qsort(s->sel, s->n_sel, sizeof(*s->sel), pr_cmp_sel_key);
	size_t n = 0;
	for (size_t i = 0; i < s->n_sel;) {
		const struct pr_sel *e = &s->sel[i];
		size_t j = i;
		if (BM_VEC_RESERVE(s->agg_new, s->cap_agg_new, n + 1))
			return BM_ENOMEM;
		struct pr_agg *a = &s->agg_new[n++];
		memset(a, 0, sizeof(*a));
		a->group = e->group;
		a->uid = e->uid;
		memcpy(a->comm, e->comm, sizeof(a->comm));
		if (e->agent) {
			memcpy(a->agent_id, e->agent->id, sizeof(a->agent_id));
			memcpy(a->agent_type, e->agent->type, sizeof(a->agent_type));
		}
		const struct pr_agg *old = pr_agg_find(s, pr_agg_key(a));
		if (old) {
			a->ut = old->ut;
			a->st = old->st;
			a->rd = old->rd;
			a->wr = old->wr;
		}
		for (; j < s->n_sel && pr_cmp_key(pr_sel_key(&s->sel[j]), pr_agg_key(a)) == 0; j++) {
			const struct pr_sel *m = &s->sel[j];
			const struct pr_proc *p = &s->procs[m->idx];
			if (old) {
				a->ut += m->d_ut;
				a->st += m->d_st;
				a->rd += m->d_rd;
				a->wr += m->d_wr;
			} else { /* a new series starts at its members' totals */
				a->ut += p->utime;
				a->st += p->stime;
				a->rd += m->io_ok ? m->rd : 0;
				a->wr += m->io_ok ? m->wr : 0;
			}
		}
		i = j;
	}
	struct pr_agg *t = s->agg;
	size_t tc = s->cap_agg;
	s->agg = s->agg_new;
	s->cap_agg = s->cap_agg_new;
	s->n_agg = n;
	s->agg_new = t;
	s->cap_agg_new = tc;
	return 0;
}

/* Sum the selection's runs (sorted by key, one per s->agg entry). */
static int pr_emit_aggs(struct pr_state *s)
{
	double hz = (double)s->hz;
	int rc = pr_declare(s, PF_N);
	size_t i = 0;
	for (size_t k = 0; k < s->n_agg && !rc; k++) {
		const struct pr_agg *a = &s->agg[k];
		struct pr_values x = {
			.agent_id = a->agent_id[0] ? a->agent_id : NULL,
			.agent_type = a->agent_type,
			.comm = a->comm,
			.group = s->group_names[a->group],
			.user = s->sel[i].user,
			.ut = (double)a->ut / hz,
			.st = (double)a->st / hz,
			.rd = (double)a->rd,
			.wr = (double)a->wr,
			.has_start = s->btime >= 0,
			.has_count = true,
		};
		for (; i < s->n_sel && pr_cmp_key(pr_sel_key(&s->sel[i]), pr_agg_key(a)) == 0; i++) {
			const struct pr_sel *e = &s->sel[i];
			const struct pr_proc *p = &s->procs[e->idx];
			double st = pr_start_time(s, p);
			x.rss += (double)p->rss * (double)s->page;
			x.vms += (double)p->vsize;
			x.threads += (double)p->threads;
			x.io |= e->io_ok;
			if (e->fds_ok) {
				x.fds += (double)e->fds;
				x.has_fds = true;
			}
			if (x.count == 0 || st < x.start)
				x.start = st;
			x.count++;
		}
		for (int f = 0; f < PF_N && !rc; f++)
			rc = pr_emit_one(s, f, &x);
	}
	return rc;
}

/* Read an optional single-number file below the proc root. */
static bool pr_read_number(struct pr_state *s, const char *rel, double *out, bool *logged)
{
	ssize_t rc = pf_read_at(s->dfd, rel, s->buf, 64);
	char *e = NULL;
	double v = rc >= 0 ? strtod(s->buf, &e) : 0;
	if (rc >= 0 && e != s->buf) {
		*out = v;
		return true;
	}
	pf_log_once(s->ctx, logged, BM_LOG_INFO, "%s/%s: %s; not publishing it", s->root, rel,
		    rc < 0 ? strerror((int)-rc) : "not a number");
	return false;
}

/* Boot time from PROC_ROOT/stat "btime", once. */
static void pr_read_btime(struct pr_state *s)
{
	if (s->btime_read)
		return;
	s->btime_read = true;
	s->btime = -1;
	/* /proc/stat grows with CPUs and interrupts: read it by lines, once */
	FILE *f = NULL;
	int fd = openat(s->dfd, "stat", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		f = fdopen(fd, "r");
	if (!f) {
		if (fd >= 0)
			close(fd);
	} else {
		char line[256];
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "btime ", 6) == 0) {
				s->btime = strtod(line + 6, NULL);
				break;
			}
		}
		fclose(f);
	}
	if (s->btime < 0)
		pf_log_once(s->ctx, &s->logged_btime, BM_LOG_INFO,
			    "%s/stat: no btime line; not publishing bearmon_process_start_time_seconds",
			    s->root);
}

static int pr_emit_counts(struct pr_state *s)
{
	struct bm_batch *b = &s->batch;
	int rc = bm_batch_family(b, "node_processes_state", BM_METRIC_GAUGE, NULL,
				 "processes by state (stat field 3)");
	for (int c = '!'; c < 127 && !rc; c++) {
		if (!s->state_count[c] && !strchr(pr_states, c))
			continue;
		char st[2] = {(char)c, '\0'};
		rc = bm_batch_addl(b, "node_processes_state", (double)s->state_count[c], "state", st,
				   NULL);
	}
	if (!rc && s->conf->thread_states) {
		rc = bm_batch_family(b, "node_processes_threads_state", BM_METRIC_GAUGE, NULL,
				     "threads by state (task/*/stat field 3)");
		for (int c = '!'; c < 127 && !rc; c++) {
			if (!s->thread_state_count[c] && !strchr(pr_states, c))
				continue;
			char st[2] = {(char)c, '\0'};
			rc = bm_batch_addl(b, "node_processes_threads_state",
					   (double)s->thread_state_count[c], "thread_state", st, NULL);
		}
	}
	if (!rc)
		rc = bm_batch_family(b, "node_processes_threads", BM_METRIC_GAUGE, NULL,
				     "threads of all processes");
	if (!rc)
		rc = bm_batch_addl(b, "node_processes_threads", (double)s->n_threads, NULL);
	if (!rc)
		rc = bm_batch_family(b, "node_processes_pids", BM_METRIC_GAUGE, NULL, "processes");
	if (!rc)
		rc = bm_batch_addl(b, "node_processes_pids", (double)s->n_pids, NULL);
	double v = 0;
	if (!rc && pr_read_number(s, "sys/kernel/pid_max", &v, &s->logged_pidmax)) {
		rc = bm_batch_family(b, "node_processes_max_processes", BM_METRIC_GAUGE, NULL,
				     "kernel.pid_max");
		if (!rc)
			rc = bm_batch_addl(b, "node_processes_max_processes", v, NULL);
	}
	if (!rc && pr_read_number(s, "sys/kernel/threads-max", &v, &s->logged_threadsmax)) {
		rc = bm_batch_family(b, "node_processes_max_threads", BM_METRIC_GAUGE, NULL,
				     "kernel.threads-max");
		if (!rc)
			rc = bm_batch_addl(b, "node_processes_max_threads", v, NULL);
	}
	struct {
		const char *name;
		enum bm_metric_type type;
		double v;
		const char *help;
	} own[] = {
		{"bearmon_processes_selected", BM_METRIC_GAUGE, (double)s->n_sel,
		 "processes published with per-process series this collection"},
		{"bearmon_processes_dropped_total", BM_METRIC_COUNTER, (double)s->dropped,
		 "processes not published because of max_processes"},
		{"bearmon_processes_io_unreadable", BM_METRIC_GAUGE, (double)s->io_unreadable,
		 "selected processes whose io could not be read (needs CAP_SYS_PTRACE)"},
		{"bearmon_processes_fds_unreadable", BM_METRIC_GAUGE, (double)s->fds_unreadable,
		 "selected processes whose fd/ could not be read (needs CAP_SYS_PTRACE)"},
	};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]) && !rc; i++) {
		rc = bm_batch_family(b, own[i].name, own[i].type, NULL, own[i].help);
		if (!rc)
			rc = bm_batch_addl(b, own[i].name, own[i].v, NULL);
	}
	return rc;
}

/* Remember this collection's selection for the next one's deltas. */
static void pr_remember(struct pr_state *s)
{
	for (size_t i = 0; i < s->n_sel; i++) {
		const struct pr_sel *e = &s->sel[i];
		struct pr_proc *p = &s->procs[e->idx];
		p->last_gen = s->gen;
		p->last_group = e->group;
		p->last_uid = e->uid;
		p->last_io_ok = e->io_ok;
		p->last_rd = e->rd;
		p->last_wr = e->wr;
	}
}

/* ---------------------------------------------------------------------
 * Agents: pid -> (agent_id, agent_type) from the `agent` events
 * --------------------------------------------------------------------- */

/* Forget the agent id's entry (an agent has one process). */
static void pr_agent_remove(struct pr_state *s, const char *id)
{
	for (size_t i = 0; i < s->n_agents; i++)
		if (!strcmp(s->agents[i].id, id)) {
			s->agents[i] = s->agents[--s->n_agents];
			return;
		}
}

/* The subscription's thread: hello, registry and state events keep the
 * table; a disconnected agent (or one without a local pid) leaves it. */
static void pr_on_agent(void *user, const char *topic, const void *body, size_t len)
{
	(void)topic;
	struct pr_state *s = user;
	struct bm_agent_event e;
	bm_arena_reset(&s->agent_arena);
	if (bm_agent_decode(body, len, &e, &s->agent_arena))
		return;
	pthread_mutex_lock(&s->agent_lock);
	pr_agent_remove(s, e.agent_id);
	if (e.state != BM_AGENT_DISCONNECTED && e.pid > 0 && e.pid <= INT_MAX &&
	    s->n_agents < PR_MAX_AGENTS &&
	    !BM_VEC_RESERVE(s->agents, s->cap_agents, s->n_agents + 1)) {
		struct pr_agent *a = &s->agents[s->n_agents++];
		a->pid = (int)e.pid;
		pr_sanitize(a->id, sizeof(a->id), e.agent_id, strlen(e.agent_id));
		pr_sanitize(a->type, sizeof(a->type), e.type ? e.type : "", e.type ? strlen(e.type) : 0);
	}
	pthread_mutex_unlock(&s->agent_lock);
}

static int pr_cmp_agent(const void *a, const void *b)
{
	const struct pr_agent *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* This collection's copy of the table, sorted by pid. */
static int pr_agents_snapshot(struct pr_state *s)
{
	int rc = 0;
	pthread_mutex_lock(&s->agent_lock);
	if (BM_VEC_RESERVE(s->agents_now, s->cap_agents_now, s->n_agents))
		rc = BM_ENOMEM;
	else if (s->n_agents)
		memcpy(s->agents_now, s->agents, s->n_agents * sizeof(*s->agents));
	s->n_agents_now = rc ? 0 : s->n_agents;
	pthread_mutex_unlock(&s->agent_lock);
	if (s->n_agents_now > 1)
		qsort(s->agents_now, s->n_agents_now, sizeof(*s->agents_now), pr_cmp_agent);
	return rc;
}

static int pr_start(void *state, struct bm_err *err)
{
	struct pr_state *s = state;
	if (!BM_HOST_HAS(bm_host(), subscribe))
		return 0; /* a host without a bus: no agents */
	struct bm_sub_opts o = {.size = sizeof(o), .topic = BM_TOPIC_AGENT};
	int rc = bm_bus_subscribe(s->ctx, &o, pr_on_agent, s, &s->agent_sub);
	if (rc)
		return bm_err_set(err, rc, "subscribe to %s: %s", BM_TOPIC_AGENT, bm_strerror(rc));
	return 0;
}

static void pr_stop(void *state)
{
	struct pr_state *s = state;
	if (s->agent_sub)
		bm_bus_unsubscribe(s->agent_sub);
	s->agent_sub = NULL;
}

/* ---------------------------------------------------------------------
 * Lifecycle
 * --------------------------------------------------------------------- */

static void pr_fini(void *state)
{
	struct pr_state *s = state;
	if (!s)
		return;
	for (size_t i = 0; i < s->n_rules; i++) {
		if (s->rules[i].has_comm)
			regfree(&s->rules[i].comm);
		if (s->rules[i].has_cmdline)
			regfree(&s->rules[i].cmdline);
	}
	for (size_t i = 0; i < s->n_procs; i++)
		pr_release_fd(s, &s->procs[i]);
	free(s->rules);
	free(s->group_names);
	if (s->dir)
		closedir(s->dir);
	free(s->procs);
	free(s->slots);
	free(s->top_cpu);
	free(s->top_mem);
	free(s->sel);
	free(s->agg);
	free(s->agg_new);
	free(s->pwbuf);
	free(s->agents);
	free(s->agents_now);
	bm_arena_free(&s->agent_arena);
	pthread_mutex_destroy(&s->agent_lock);
	bm_batch_free(&s->batch);
	pub_families_free(&s->families);
	bm_free(s);
}

static int pr_compile(regex_t *re, const char *pat, bool anchored, const char *rule,
		      const char *what, struct bm_err *err)
{
	char buf[1024];
	const char *p = pat;
	if (anchored) {
		if ((size_t)snprintf(buf, sizeof(buf), "^(%s)$", pat) >= sizeof(buf))
			return bm_err_set(err, BM_EINVAL, "match \"%s\": %s pattern is too long", rule,
					  what);
		p = buf;
	}
	int rc = regcomp(re, p, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char why[128];
		regerror(rc, re, why, sizeof(why));
		return bm_err_set(err, BM_EINVAL, "match \"%s\": bad %s pattern \"%s\": %s", rule, what,
				  pat, why);
	}
	return 0;
}

static int pr_init_rules(struct pr_state *s, const struct pr_conf *c, struct bm_err *err)
{
	size_t n = c->match.n;
	s->rules = calloc(n ? n : 1, sizeof(*s->rules));
	s->group_names = calloc(n + 3, sizeof(*s->group_names));
	if (!s->rules || !s->group_names)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct pr_match_conf *m = BM_GROUP_ITEM(c->match, struct pr_match_conf, i);
		struct pr_rule *r = &s->rules[i];
		const char *name = m->name ? m->name : "";
		if (!name[0])
			return bm_err_set(err, BM_EINVAL, "match #%zu: name is empty", i + 1);
		if (!strcmp(name, PR_GROUP_TOPCPU) || !strcmp(name, PR_GROUP_TOPMEM))
			return bm_err_set(err, BM_EINVAL, "match \"%s\": the name is reserved for the top N groups",
					  name);
		if (!m->comm && !m->cmdline && !m->pidfile)
			return bm_err_set(err, BM_EINVAL, "match \"%s\": needs at least one of comm, cmdline, pidfile",
					  name);
		r->name = name;
		r->group = (int)i;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(s->rules[k].name, name)) {
				r->group = s->rules[k].group;
				break;
			}
		s->group_names[i] = (char *)name;
		s->n_rules = i + 1;
		if (m->comm) {
			int rc = pr_compile(&r->comm, m->comm, true, name, "comm", err);
			if (rc)
				return rc;
			r->has_comm = true;
		}
		if (m->cmdline) {
			int rc = pr_compile(&r->cmdline, m->cmdline, false, name, "cmdline", err);
			if (rc)
				return rc;
			r->has_cmdline = true;
		}
		if (m->pidfile) {
			if (!m->pidfile[0])
				return bm_err_set(err, BM_EINVAL, "match \"%s\": pidfile is empty", name);
			r->pidfile = m->pidfile;
			s->has_pidfile_rules = true;
		} else {
			s->has_static_rules = true;
		}
	}
	s->group_topcpu = (int)n;
	s->group_topmem = (int)n + 1;
	s->group_agent = (int)n + 2;
	s->group_names[n] = PR_GROUP_TOPCPU;
	s->group_names[n + 1] = PR_GROUP_TOPMEM;
	s->group_names[n + 2] = PR_GROUP_AGENT;
	return 0;
}

static int pr_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct pr_conf *c = conf;
	struct pr_state *s = bm_alloc(sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = c;
	s->dfd = -1;
	s->btime = -1;
	pthread_mutex_init(&s->agent_lock, NULL);
	s->root = c->proc_root && c->proc_root[0] ? c->proc_root : "/proc";
	int rc = 0;
	s->hz = sysconf(_SC_CLK_TCK);
	s->page = sysconf(_SC_PAGESIZE);
	if (s->hz <= 0 || s->page <= 0) {
		rc = bm_err_set(err, BM_EIO, "sysconf(_SC_CLK_TCK/_SC_PAGESIZE) failed: %s",
				strerror(errno));
		goto out_fini;
	}
	rc = pr_init_rules(s, c, err);
	if (rc)
		goto out_fini;
	s->top_cpu = calloc(c->top_cpu > 0 ? (size_t)c->top_cpu : 1, sizeof(*s->top_cpu));
	s->top_mem = calloc(c->top_mem > 0 ? (size_t)c->top_mem : 1, sizeof(*s->top_mem));
	struct rlimit nofile;
	s->max_fds = (size_t)c->stat_fds;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
	    nofile.rlim_cur / 4 < s->max_fds)
		s->max_fds = (size_t)(nofile.rlim_cur / 4);
	long pw = sysconf(_SC_GETPW_R_SIZE_MAX);
	s->pwbuf_len = pw > 0 && pw < 65536 ? (size_t)pw : 16384;
	s->pwbuf = malloc(s->pwbuf_len);
	if (!s->top_cpu || !s->top_mem || !s->pwbuf) {
		rc = bm_err_set(err, BM_ENOMEM, "out of memory");
		goto out_fini;
	}
	*state = s;
	return 0;
out_fini:
	pr_fini(s);
	return rc;
}

static int pr_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct pr_state *s = state;
	s->gen++;
	if (s->gen == 0) /* wrapped after 2^32 collections: 0 means "never" */
		s->gen = 1;
	memset(s->state_count, 0, sizeof(s->state_count));
	memset(s->thread_state_count, 0, sizeof(s->thread_state_count));
	s->n_pids = s->n_threads = s->io_unreadable = s->fds_unreadable = 0;
	s->n_top_cpu = s->n_top_mem = 0;
	s->n_sel = 0;

	int rc = pr_scan(s, err);
	if (rc)
		return rc;
	rc = pr_agents_snapshot(s);
	if (rc)
		return bm_err_set(err, rc, "out of memory");
	pr_read_btime(s);
	if (s->has_pidfile_rules)
		pr_match_pidfiles(s);
	rc = pr_select(s);
	if (!rc) {
		pr_read_selected(s);
		if (!s->conf->pid_label)
			rc = pr_aggregate(s);
	}
	bm_batch_reset(&s->batch);
	s->batch.ts_ms = now_ms;
	if (!rc)
		rc = pr_emit_counts(s);
	if (!rc)
		rc = s->conf->pid_label ? pr_emit_pids(s) : pr_emit_aggs(s);
	if (!rc)
		pr_remember(s);
	pr_evict(s);
	s->collections++;
	return publish_batch_once(s->ctx, &s->batch, rc, err, &s->families);
}

static const struct bm_plugin_ops pr_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = pr_init,
	.start = pr_start,
	.stop = pr_stop,
	.fini = pr_fini,
	.collect = pr_collect,
};

BM_PLUGIN_DEFINE(collector, processes, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "process counts by state and per-process CPU, memory, IO, fds for top N, matched and agent processes",
		 .origin = "bearmon plugins/collector_processes",
		 .options = pr_options,
		 /* other users' /proc/PID/io and /proc/PID/fd */
		 .capabilities = BM_CAP_SYS_PTRACE | BM_CAP_DAC_READ_SEARCH,
		 .config_size = sizeof(struct pr_conf),
		 .ops = &pr_ops);
