/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/processes against the fake host and the hand-made
 * proc trees tests/fixtures/processes/proc (t0) and proc-t1 (t1): counts by
 * state, top CPU over two collections, top RSS, matching by comm, cmdline
 * and pid file, the cap, pid reuse, vanished pids, pid_label = false sums,
 * agents' processes from `agent` events.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "plugintest.h"
#include "processes.c"

#define BTIME 1764350000.0

struct fixture {
	struct pr_conf conf;
	void *state;
};

static double hz(void) { return (double)sysconf(_SC_CLK_TCK); }
static double page(void) { return (double)getpagesize(); }

/* Defaults, proc_root at tests/fixtures/processes/<sub> (or at an absolute
 * sub); init not called. */
static void fixture_conf(struct fixture *f, const char *sub)
{
	pt_fixture_begin(f, pr_options);
	assert_string_equal(f->conf.proc_root, "/proc");
	assert_int_equal(f->conf.top_cpu, 5);
	assert_int_equal(f->conf.top_mem, 5);
	assert_int_equal(f->conf.max_processes, 50);
	assert_true(f->conf.pid_label);
	assert_false(f->conf.thread_states);
	assert_int_equal(f->conf.match.n, 0);
	pt_set_fixture(&f->conf.proc_root, "processes", sub);
}

/* The same with no top N lists: only match rules select processes. */
static void fixture_rules_only(struct fixture *f, const char *sub)
{
	fixture_conf(f, sub);
	f->conf.top_cpu = 0;
	f->conf.top_mem = 0;
}

/* Defaults, with the instance started. */
static void fixture_open(struct fixture *f, const char *sub)
{
	fixture_conf(f, sub);
	f->state = pt_init(&pr_ops, &f->conf);
}

/* Append a match rule; NULL fields stay unset. pidfile is relative to the
 * fixture directory. */
static void add_rule(struct fixture *f, const char *name, const char *comm, const char *cmdline,
		     const char *pidfile)
{
	struct bm_group_list *gl = &f->conf.match;
	gl->items = realloc(gl->items, (gl->n + 1) * sizeof(struct pr_match_conf));
	struct pr_match_conf *m = BM_GROUP_ITEM(*gl, struct pr_match_conf, gl->n);
	memset(m, 0, sizeof(*m));
	gl->n++;
	m->name = name ? strdup(name) : NULL;
	m->comm = comm ? strdup(comm) : NULL;
	m->cmdline = cmdline ? strdup(cmdline) : NULL;
	if (pidfile && pidfile[0] == '/') {
		m->pidfile = strdup(pidfile);
	} else if (pidfile) {
		char p[PATH_MAX];
		pt_fixture_path(p, sizeof(p), "processes", pidfile);
		m->pidfile = strdup(p);
	}
}

static void fixture_close(struct fixture *f)
{
	pt_close(&pr_ops, pr_options, f->state, &f->conf);
}

static void collect_ok(struct fixture *f, int64_t now)
{
	fakehost_reset(); /* see this collection's samples only */
	pt_collect_ok(&pr_ops, f->state, now);
}

/* Point the running instance at another fixture tree. */
static void switch_root(struct fixture *f, const char *sub)
{
	struct pr_state *s = f->state;
	pt_set_fixture(&f->conf.proc_root, "processes", sub);
	s->root = f->conf.proc_root;
	/* held stat fds name files of the old tree; in procfs they would name
	 * the same processes, so let go of them */
	for (size_t i = 0; i < s->n_procs; i++)
		pr_release_fd(s, &s->procs[i]);
	if (s->dir)
		closedir(s->dir);
	s->dir = NULL;
	s->dfd = -1;
}

/* ------------------------------------------------------------------ */

static void test_parse_stat(void **unused)
{
	struct pr_stat st = {0};
	const char *l = "42 (a) b) (c)) Z 1 42 42 0 -1 4194560 10 0 0 0 7 3 0 0 20 -5 2 0 99 4096 12 "
			"18446744073709551615 1 1\n";
	assert_true(pr_parse_stat(l, strlen(l), &st));
	assert_int_equal(st.comm_len, strlen("a) b) (c)"));
	assert_memory_equal(st.comm, "a) b) (c)", st.comm_len);
	assert_int_equal(st.state, 'Z');
	assert_int_equal(st.utime, 7);
	assert_int_equal(st.stime, 3);
	assert_int_equal(st.threads, 2);
	assert_int_equal(st.start, 99);
	assert_int_equal(st.vsize, 4096);
	assert_int_equal(st.rss, 12);
	const char *empty = "7 () S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 1 1"; /* prctl can do that */
	assert_true(pr_parse_stat(empty, strlen(empty), &st));
	assert_int_equal(st.comm_len, 0);
	const char *bad[] = {
		"", "42 (x", "42 x) S 1", "42 (x)S 1 2", "42 (x) S 1 2 3", "42 (x) S 1 2 3 4 5 6 7 8 9 10 x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pr_parse_stat(bad[i], strlen(bad[i]), &st))
			fail_msg("accepted \"%s\"", bad[i]);

	char out[PR_COMM_MAX];
	pr_sanitize(out, sizeof(out), "a\tb\x7f\xff\xc3\xa9", 7);
	assert_string_equal(out, "a?b??\xc3\xa9");
	pr_sanitize(out, sizeof(out), "\xe2\x82", 2); /* truncated sequence */
	assert_string_equal(out, "??");

	int pid = 0;
	assert_true(pr_parse_pid("12345", &pid));
	assert_int_equal(pid, 12345);
	assert_false(pr_parse_pid("self", &pid));
	assert_false(pr_parse_pid("0", &pid));
	assert_false(pr_parse_pid("12a", &pid));
	assert_false(pr_parse_pid("99999999999", &pid));
}

static void test_counts(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc");
	collect_ok(&f, 1000);
	/* 1 S (recorded), 2 I, 100 S, 200 Z, 300 R, 400 S, 410 S, 500 R; 700 has
	 * no stat (vanished), 800 is garbage, self is not a pid */
	assert_value("node_processes_state", "state=S", 4);
	assert_value("node_processes_state", "state=R", 2);
	assert_value("node_processes_state", "state=I", 1);
	assert_value("node_processes_state", "state=Z", 1);
	assert_value("node_processes_state", "state=D", 0);
	assert_value("node_processes_state", "state=T", 0);
	assert_value("node_processes_state", "state=t", 0);
	assert_int_equal(fakehost_count("node_processes_state"), 7);
	assert_value("node_processes_pids", "", 8);
	assert_value("node_processes_threads", "", 14 + 1 + 4 + 1 + 2 + 1 + 1 + 1);
	assert_value("node_processes_max_processes", "", 4194304);
	assert_value("node_processes_max_threads", "", 63428);
	assert_int_equal(fakehost_count("node_processes_threads_state"), 0); /* off by default */
	assert_int_equal(fakehost_meta("node_processes_state")->type, BM_METRIC_GAUGE);
	assert_int_equal(fakehost_meta("node_processes_pids")->type, BM_METRIC_GAUGE);
	assert_int_equal(fakehost_meta("bearmon_process_cpu_seconds_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("bearmon_process_read_bytes_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("bearmon_processes_dropped_total")->type, BM_METRIC_COUNTER);
	assert_string_equal(fakehost_meta("bearmon_process_resident_memory_bytes")->unit, "bytes");
	assert_null(fakehost_meta("bearmon_process_count")); /* only with pid_label false */
	assert_true(((struct pr_state *)f.state)->warned_garbage); /* 800/stat, logged at warn once */
	assert_int_equal(fakehost_unsorted(), 0);
	assert_int_equal(fakehost_sample(0)->ts_ms, 1000);
	struct pr_state *s = f.state;
	assert_null(pr_find(s, 700));
	assert_null(pr_find(s, 800));
	assert_int_equal(s->n_procs, 8);
	fixture_close(&f);
}

/* First collection: no CPU ranking; top 5 by RSS with every per-process
 * metric checked. */
static void test_top_mem_first_collection(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc");
	collect_ok(&f, 1000);
	/* rss pages: 300 5000, 1 4259, 100 2560, 400 1000, 410 800, 500 300 */
	assert_value("bearmon_processes_selected", "", 5);
	assert_int_equal(fakehost_count("bearmon_process_threads"), 5);
	const char *py = "comm=python3,group=topmem,pid=300,user=4242";
	const char *weird = "comm=my (weird) app),group=topmem,pid=100,user=nobody";
	const char *init = "comm=process_api,group=topmem,pid=1,user=root";
	assert_value("bearmon_process_resident_memory_bytes", py, 5000 * page());
	assert_value("bearmon_process_resident_memory_bytes", init, 4259 * page());
	assert_value("bearmon_process_resident_memory_bytes", weird, 2560 * page());
	assert_value("bearmon_process_resident_memory_bytes",
		     "comm=nginx,group=topmem,pid=400,user=root", 1000 * page());
	assert_value("bearmon_process_resident_memory_bytes",
		     "comm=nginx,group=topmem,pid=410,user=root", 800 * page());
	assert_absent("bearmon_process_resident_memory_bytes",
		      "comm=stress,group=topmem,pid=500,user=root");
	assert_value("bearmon_process_virtual_memory_bytes", py, 300000000);
	assert_value("bearmon_process_cpu_seconds_total", "comm=python3,group=topmem,mode=user,pid=300,user=4242",
		     1000 / hz());
	assert_value("bearmon_process_cpu_seconds_total",
		     "comm=python3,group=topmem,mode=system,pid=300,user=4242", 200 / hz());
	assert_value("bearmon_process_threads", py, 2);
	assert_value("bearmon_process_threads", init, 14);
	assert_value("bearmon_process_start_time_seconds", py, BTIME + 7000 / hz());
	assert_value("bearmon_process_open_fds", init, 3);
	assert_value("bearmon_process_open_fds", weird, 2);
	assert_value("bearmon_process_open_fds", py, 4);
	assert_value("bearmon_process_read_bytes_total", weird, 4096);
	assert_value("bearmon_process_write_bytes_total", weird, 8192);
	/* 300's io cannot be read: skipped and counted; 1 has no io file at all
	 * (a kernel without task IO accounting): skipped, not counted */
	assert_absent("bearmon_process_read_bytes_total", py);
	assert_absent("bearmon_process_read_bytes_total", init);
	assert_value("bearmon_processes_io_unreadable", "", 1);
	assert_value("bearmon_processes_fds_unreadable", "", 0);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "CAP_SYS_PTRACE"));
	/* no CPU ranking on the first collection */
	assert_int_equal(pt_count_labels_like(0, "topcpu"), 0);
	assert_value("bearmon_processes_dropped_total", "", 0);
	fixture_close(&f);
}

/* Two collections: top CPU by the delta of utime + stime, in seconds. */
static void test_top_cpu(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "proc");
	f.conf.top_cpu = 3;
	f.conf.top_mem = 0;
	f.conf.stat_fds = 0; /* open, read, close each time */
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	assert_value("bearmon_processes_selected", "", 0);
	switch_root(&f, "proc-t1");
	collect_ok(&f, 11000);
	/* deltas: 300 200, 600 80 (new), 100 50, 500 30 (pid reused), 1 15,
	 * 410 10, 400 1 */
	assert_value("bearmon_processes_selected", "", 3);
	assert_int_equal(fakehost_count("bearmon_process_threads"), 3);
	assert_value("bearmon_process_cpu_seconds_total",
		     "comm=python3,group=topcpu,mode=user,pid=300,user=4242", 1180 / hz());
	assert_value("bearmon_process_cpu_seconds_total",
		     "comm=python3,group=topcpu,mode=system,pid=300,user=4242", 220 / hz());
	assert_value("bearmon_process_cpu_seconds_total",
		     "comm=cc1,group=topcpu,mode=user,pid=600,user=root", 70 / hz());
	assert_value("bearmon_process_cpu_seconds_total",
		     "comm=my (weird) app),group=topcpu,mode=user,pid=100,user=nobody", 440 / hz());
	assert_value("bearmon_process_read_bytes_total",
		     "comm=my (weird) app),group=topcpu,pid=100,user=nobody", 8192);
	assert_absent("bearmon_process_threads", "comm=stress,group=topcpu,pid=500,user=root");
	struct pr_state *s = f.state;
	assert_int_equal(pr_find(s, 300)->delta, 200);
	assert_int_equal(pr_find(s, 600)->delta, 80);
	assert_int_equal(pr_find(s, 1)->delta, 15);
	assert_int_equal(pr_find(s, 400)->delta, 1);
	assert_int_equal(s->n_fds, 0);
	fixture_close(&f);
}

/* Same pid, other start time: a new process, its delta is all its ticks,
 * never negative. A pid gone from the tree loses its state. */
static void test_pid_reuse_and_vanish(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "proc");
	f.conf.top_cpu = 10;
	f.conf.top_mem = 0;
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	struct pr_state *s = f.state;
	assert_non_null(pr_find(s, 200));
	assert_int_equal(pr_find(s, 500)->start, 9000);
	switch_root(&f, "proc-t1");
	collect_ok(&f, 11000);
	const struct pr_proc *p = pr_find(s, 500);
	assert_non_null(p);
	assert_int_equal(p->start, 20000);
	assert_int_equal(p->delta, 30); /* 25 + 5, not 30 - 900 */
	assert_value("bearmon_process_cpu_seconds_total",
		     "comm=stress,group=topcpu,mode=user,pid=500,user=root", 25 / hz());
	assert_value("bearmon_process_start_time_seconds", "comm=stress,group=topcpu,pid=500,user=root",
		     BTIME + 20000 / hz());
	/* the zombie 200 vanished: evicted; 600 appeared */
	assert_null(pr_find(s, 200));
	assert_non_null(pr_find(s, 600));
	assert_int_equal(s->n_procs, 8);
	assert_value("node_processes_state", "state=Z", 0);
	assert_value("node_processes_pids", "", 8);
	/* back to t0: 600 vanishes, 500 is reused again, 200 is new */
	switch_root(&f, "proc");
	collect_ok(&f, 21000);
	assert_null(pr_find(s, 600));
	assert_int_equal(pr_find(s, 500)->delta, 900);
	assert_int_equal(pr_find(s, 200)->delta, 10);
	/* counters that went down for the same process clamp at 0 */
	assert_int_equal(pr_find(s, 300)->delta, 0);
	fixture_close(&f);
}

static void test_match_comm(void **unused)
{
	struct fixture f;
	fixture_rules_only(&f, "proc");
	add_rule(&f, "partial", "ngin", NULL, NULL); /* anchored: matches nothing */
	add_rule(&f, "web", "nginx", NULL, NULL);
	add_rule(&f, "weird", "my \\(weird\\) app\\)", NULL, NULL);
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	assert_value("bearmon_processes_selected", "", 3);
	assert_value("bearmon_process_threads", "comm=nginx,group=web,pid=400,user=root", 1);
	assert_value("bearmon_process_threads", "comm=nginx,group=web,pid=410,user=root", 1);
	assert_value("bearmon_process_threads", "comm=my (weird) app),group=weird,pid=100,user=nobody", 4);
	assert_int_equal(pt_count_labels_like(0, "group=partial"), 0);
	fixture_close(&f);
}

static void test_match_cmdline(void **unused)
{
	struct fixture f;
	fixture_rules_only(&f, "proc");
	add_rule(&f, "agent", NULL, "/srv/agent/[a-z]+\\.py --queue", NULL);
	add_rule(&f, "master", "nginx", "master process", NULL); /* both must match */
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	assert_value("bearmon_processes_selected", "", 2);
	assert_value("bearmon_process_threads", "comm=python3,group=agent,pid=300,user=4242", 2);
	assert_value("bearmon_process_threads", "comm=nginx,group=master,pid=400,user=root", 1);
	assert_absent("bearmon_process_threads", "comm=nginx,group=master,pid=410,user=root");
	fixture_close(&f);
}

static void test_match_pidfile(void **unused)
{
	struct fixture f;
	fixture_rules_only(&f, "proc");
	add_rule(&f, "stale", NULL, NULL, "run/stale.pid");       /* pid 31999: no such process */
	add_rule(&f, "missing", NULL, NULL, "run/missing.pid");   /* no file */
	add_rule(&f, "other", "apache2", NULL, "run/nginx.pid");  /* pid exists, comm differs */
	add_rule(&f, "nginx", NULL, NULL, "run/nginx.pid");
	add_rule(&f, "nginx", "python3", NULL, NULL);             /* same name: either rule */
	add_rule(&f, "garbage", NULL, NULL, "run/garbage.pid");
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	struct pr_state *s = f.state;
	assert_false(s->rules[0].pidfile_logged); /* stale pid: silent */
	assert_true(s->rules[1].pidfile_logged);  /* missing file: info once */
	assert_true(s->rules[5].pidfile_logged);  /* garbage: warn once */
	assert_value("bearmon_processes_selected", "", 2);
	assert_value("bearmon_process_threads", "comm=nginx,group=nginx,pid=400,user=root", 1);
	assert_value("bearmon_process_threads", "comm=python3,group=nginx,pid=300,user=4242", 2);
	assert_int_equal(s->n_fds, 8); /* every stat kept open */
	collect_ok(&f, 2000); /* stays selected: the pid file is re-read each time */
	assert_value("bearmon_process_threads", "comm=nginx,group=nginx,pid=400,user=root", 1);
	assert_value("node_processes_pids", "", 8); /* read through the held fds */
	assert_int_equal(s->n_fds, 8);
	fixture_close(&f);
}

/* A process is published once: its rule beats topcpu and topmem; the cap
 * cuts the rest and counts it. */
static void test_priority_and_cap(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "proc");
	add_rule(&f, "agent", "python3", NULL, NULL);
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	assert_value("bearmon_processes_selected", "", 5);
	assert_value("bearmon_process_threads", "comm=python3,group=agent,pid=300,user=4242", 2);
	assert_absent("bearmon_process_threads", "comm=python3,group=topmem,pid=300,user=4242");
	fixture_close(&f);

	fixture_conf(&f, "proc");
	f.conf.max_processes = 2;
	add_rule(&f, "web", "nginx", NULL, NULL);
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	/* web 400, 410 fill the cap; topmem 300, 1, 100 (and 400, 410 already
	 * taken) are cut */
	assert_value("bearmon_processes_selected", "", 2);
	assert_value("bearmon_processes_dropped_total", "", 3);
	assert_value("bearmon_process_threads", "comm=nginx,group=web,pid=400,user=root", 1);
	assert_value("bearmon_process_threads", "comm=nginx,group=web,pid=410,user=root", 1);
	collect_ok(&f, 2000);
	assert_value("bearmon_processes_dropped_total", "", 6);
	fixture_close(&f);

	fixture_conf(&f, "proc");
	f.conf.max_processes = 0;
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	assert_value("bearmon_processes_selected", "", 0);
	assert_value("bearmon_processes_dropped_total", "", 5);
	assert_value("node_processes_pids", "", 8);
	fixture_close(&f);
}

static void test_thread_states(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "proc");
	f.conf.thread_states = true;
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	/* task/: 1 S; 100 S S D S; 300 R S */
	assert_value("node_processes_threads_state", "thread_state=S", 5);
	assert_value("node_processes_threads_state", "thread_state=D", 1);
	assert_value("node_processes_threads_state", "thread_state=R", 1);
	assert_value("node_processes_threads_state", "thread_state=Z", 0);
	/* the process counts are unaffected by the task reads */
	assert_value("node_processes_state", "state=S", 4);
	assert_value("bearmon_process_threads", "comm=my (weird) app),group=topmem,pid=100,user=nobody", 4);
	fixture_close(&f);
}

/* pid_label = false: one series set per group, comm and user; counters
 * grow by the members' deltas and never go down. */
static void test_no_pid_label(void **unused)
{
	struct fixture f;
	fixture_rules_only(&f, "proc");
	f.conf.pid_label = false;
	add_rule(&f, "web", "nginx", NULL, NULL);
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	const char *l = "comm=nginx,group=web,user=root";
	assert_value("bearmon_process_count", l, 2);
	assert_int_equal(fakehost_count("bearmon_process_count"), 1);
	assert_value("bearmon_process_resident_memory_bytes", l, 1800 * page());
	assert_value("bearmon_process_threads", l, 2);
	assert_value("bearmon_process_open_fds", l, 2);
	assert_value("bearmon_process_start_time_seconds", l, BTIME + 8000 / hz());
	assert_value("bearmon_process_cpu_seconds_total", "comm=nginx,group=web,mode=user,user=root",
		     (50 + 30) / hz());
	assert_value("bearmon_process_read_bytes_total", l, 100 + 10);
	assert_value("bearmon_process_write_bytes_total", l, 200 + 20);
	switch_root(&f, "proc-t1");
	collect_ok(&f, 11000);
	assert_value("bearmon_process_cpu_seconds_total", "comm=nginx,group=web,mode=user,user=root",
		     (51 + 40) / hz());
	assert_value("bearmon_process_cpu_seconds_total", "comm=nginx,group=web,mode=system,user=root",
		     (20 + 5) / hz());
	assert_value("bearmon_process_read_bytes_total", l, 100 + 30);
	assert_value("bearmon_process_write_bytes_total", l, 200 + 40);
	/* back to t0: the same processes report less; the sums hold */
	switch_root(&f, "proc");
	collect_ok(&f, 21000);
	assert_value("bearmon_process_cpu_seconds_total", "comm=nginx,group=web,mode=user,user=root",
		     (51 + 40) / hz());
	assert_value("bearmon_process_read_bytes_total", l, 130);
	fixture_close(&f);

	/* top N without pid label: every process its own key here */
	fixture_conf(&f, "proc");
	f.conf.pid_label = false;
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	assert_value("bearmon_process_count", "comm=nginx,group=topmem,user=root", 2);
	assert_value("bearmon_process_count", "comm=python3,group=topmem,user=4242", 1);
	assert_int_equal(fakehost_count("bearmon_process_count"), 4);
	assert_int_equal(fakehost_unsorted(), 0);
	fixture_close(&f);
}

/* The host's bus for the agent subscription: the callback is kept, and
 * events are handed to it as the agent plugin would publish them. */
static bm_event_cb agent_cb;
static void *agent_user;
static char agent_sub_token;

static int t_subscribe(struct bm_ctx *ctx, const struct bm_sub_opts *o, bm_event_cb cb, void *user,
		       struct bm_sub **out)
{
	(void)ctx;
	assert_string_equal(o->topic, BM_TOPIC_AGENT);
	agent_cb = cb;
	agent_user = user;
	*out = (struct bm_sub *)&agent_sub_token;
	return 0;
}

static void t_unsubscribe(struct bm_sub *s)
{
	assert_ptr_equal(s, &agent_sub_token);
	agent_cb = NULL;
}

static void agent_event(const char *id, const char *type, int64_t pid, enum bm_agent_state st)
{
	struct bm_agent_event e = {.ts_ms = 1000, .kind = BM_AGENT_HELLO, .agent_id = id,
				   .type = type, .pid = pid, .state = st};
	struct bm_buf b = {0};
	assert_int_equal(bm_agent_encode(&e, &b), 0);
	assert_non_null(agent_cb);
	agent_cb(agent_user, BM_TOPIC_AGENT, b.data, b.len);
	bm_buf_free(&b);
}

/* Agents' pids are published whatever the cap, labelled with the agent;
 * a matched process keeps its group and gets the labels too. */
static void test_agents(void **unused)
{
	static struct bm_host_api api;
	struct fixture f;
	fixture_rules_only(&f, "proc");
	api = *fakehost_api();
	api.subscribe = t_subscribe;
	api.unsubscribe = t_unsubscribe;
	bm__host_api = &api;
	f.conf.max_processes = 1;
	add_rule(&f, "web", "nginx", NULL, NULL);
	f.state = pt_init(&pr_ops, &f.conf);
	struct bm_err err = {0};
	assert_int_equal(pr_ops.start(f.state, &err), 0);
	agent_event("planner-1", "planner", 500, BM_AGENT_CONNECTED);
	agent_event("web-agent", "proxy", 410, BM_AGENT_CONNECTED);
	agent_event("remote", "x", 0, BM_AGENT_CONNECTED); /* no local pid */
	agent_event("gone", "x", 999999, BM_AGENT_CONNECTED); /* no such process */
	collect_ok(&f, 1000);
	assert_value("bearmon_process_threads",
		     "agent=planner-1,agent_type=planner,comm=stress,group=agent,pid=500,user=root", 1);
	assert_value("bearmon_process_cpu_seconds_total",
		     "agent=planner-1,agent_type=planner,comm=stress,group=agent,mode=user,pid=500,user=root",
		     800 / hz());
	/* max_processes = 1 keeps nginx 400 only; agent 410 is published all the same */
	assert_value("bearmon_process_threads", "comm=nginx,group=web,pid=400,user=root", 1);
	assert_value("bearmon_process_threads",
		     "agent=web-agent,agent_type=proxy,comm=nginx,group=agent,pid=410,user=root", 1);
	assert_value("bearmon_processes_selected", "", 3);
	assert_int_equal(fakehost_unsorted(), 0);

	/* the agent leaves: its process is no longer followed */
	agent_event("planner-1", "planner", 500, BM_AGENT_DISCONNECTED);
	collect_ok(&f, 11000);
	assert_int_equal(pt_count_labels_like(0, "agent=planner-1"), 0);
	assert_int_equal(pt_count_labels_like(0, "pid=500"), 0);

	/* pid_label = false: one series set per agent */
	pr_ops.stop(f.state);
	fixture_close(&f);
	fixture_rules_only(&f, "proc");
	bm__host_api = &api;
	f.conf.pid_label = false;
	f.state = pt_init(&pr_ops, &f.conf);
	assert_int_equal(pr_ops.start(f.state, &err), 0);
	agent_event("planner-1", "planner", 500, BM_AGENT_CONNECTED);
	agent_event("planner-2", "planner", 400, BM_AGENT_CONNECTED);
	collect_ok(&f, 1000);
	assert_value("bearmon_process_count",
		     "agent=planner-1,agent_type=planner,comm=stress,group=agent,user=root", 1);
	assert_value("bearmon_process_count",
		     "agent=planner-2,agent_type=planner,comm=nginx,group=agent,user=root", 1);
	assert_int_equal(fakehost_count("bearmon_process_count"), 2);
	pr_ops.stop(f.state);
	fixture_close(&f);
}

static void test_bad_config(void **unused)
{
	struct {
		const char *name, *comm, *cmdline, *pidfile, *want;
	} cases[] = {
		{"x", "(", NULL, NULL, "bad comm pattern"},
		{"x", NULL, "a[", NULL, "bad cmdline pattern"},
		{"x", NULL, NULL, NULL, "needs at least one of comm, cmdline, pidfile"},
		{"topcpu", "a", NULL, NULL, "reserved"},
		{"", "a", NULL, NULL, "name is empty"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture f;
		fixture_conf(&f, "proc");
		add_rule(&f, cases[i].name, cases[i].comm, cases[i].cmdline, cases[i].pidfile);
		pt_init_err(&pr_ops, &f.conf, BM_EINVAL, cases[i].want, NULL);
		fixture_close(&f);
	}
}

/* A missing proc root fails the collection; missing optional files are
 * skipped (logged once). */
static void test_missing_sources(void **unused)
{
	struct fixture f;
	fixture_open(&f, "no-such-dir");
	pt_collect_err(&pr_ops, f.state, 1000, BM_EIO, "no-such-dir", "No such file or directory",
		       NULL);
	fixture_close(&f);

	fixture_conf(&f, "run"); /* a directory without pids, stat or sys/ */
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	assert_value("node_processes_pids", "", 0);
	assert_value("node_processes_state", "state=R", 0);
	assert_absent("node_processes_max_processes", "");
	assert_absent("node_processes_max_threads", "");
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "threads-max: No such file"));
	fixture_close(&f);
}

/* The real /proc: runs, and costs little. */
static void test_live(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "/proc");
	add_rule(&f, "self", NULL, NULL, "/proc/self/stat"); /* not a pid file: logged */
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	assert_true(fakehost_value("node_processes_pids", "") >= 1);
	assert_true(fakehost_value("node_processes_threads", "") >= 1);
	assert_true(fakehost_value("bearmon_processes_selected", "") >= 1);
	struct timespec a, b;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	int n = getenv("PR_LIVE_N") ? atoi(getenv("PR_LIVE_N")) : 20;
	for (int i = 0; i < n; i++)
		collect_ok(&f, 2000 + i);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / n;
	double per = (double)fakehost_n_samples();
	print_message("live: %.0f pids, %.0f samples, %.0f us CPU per collection (%.2f us per sample)\n",
		      fakehost_value("node_processes_pids", ""), per, us, us / per);
	fixture_close(&f);
}

/* The real /proc with a child process: matched through a pid file, then
 * killed and reaped: its series and state go, its held stat fd is closed. */
static void test_live_child(void **unused)
{
	struct fixture f;
	char pf[] = "/tmp/bm-processes-test-XXXXXX";
	int fd = mkstemp(pf);
	assert_true(fd >= 0);
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		pause();
		_exit(0);
	}
	char buf[64], lbl[256];
	snprintf(buf, sizeof(buf), "%d\n", (int)c);
	assert_int_equal(write(fd, buf, strlen(buf)), (ssize_t)strlen(buf));
	close(fd);
	fixture_rules_only(&f, "/proc");
	add_rule(&f, "child", NULL, NULL, pf);
	add_rule(&f, "me", NULL, NULL, "/proc/self/stat"); /* a first pid file, replaced below */
	struct pr_match_conf *me = BM_GROUP_ITEM(f.conf.match, struct pr_match_conf, 1);
	char mypf[] = "/tmp/bm-processes-test-XXXXXX";
	fd = mkstemp(mypf);
	snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	assert_int_equal(write(fd, buf, strlen(buf)), (ssize_t)strlen(buf));
	close(fd);
	pt_set_str(&me->pidfile, mypf);
	f.state = pt_init(&pr_ops, &f.conf);
	collect_ok(&f, 1000);
	struct pr_state *s = f.state;
	assert_true(s->procfs);
	const struct pr_proc *p = pr_find(s, c);
	assert_non_null(p);
	assert_true(p->fd >= 0);
	size_t held = s->n_fds;
	assert_value("bearmon_processes_selected", "", 2);
	snprintf(lbl, sizeof(lbl), "comm=%s,group=child,pid=%d,user=%s", p->comm, (int)c,
		 pr_user(s, (uint32_t)geteuid()));
	assert_value("bearmon_process_threads", lbl, 1);
	/* fd count from fstat's size (Linux 6.2+) or the listing: compare with
	 * a listing taken now, less the fd the listing itself opens */
	uint64_t n = 0;
	assert_int_equal(pr_dir_each(s, "self/fd", &n, NULL, NULL), 0);
	snprintf(lbl, sizeof(lbl), "comm=%s,group=me,pid=%d,user=%s", pr_find(s, getpid())->comm,
		 (int)getpid(), pr_user(s, (uint32_t)geteuid()));
	assert_value("bearmon_process_open_fds", lbl, (double)(n - 1));
	/* io stays open for the next collections */
	assert_true(pr_find(s, getpid())->io_fd >= 0);
	/* the uid came from status now; the next collections take it as read */
	assert_int_equal(pr_find(s, getpid())->uid_read, s->collections);
	assert_int_equal(pr_find(s, getpid())->uid, geteuid());
	collect_ok(&f, 1500);
	assert_int_equal(pr_find(s, getpid())->uid_read, s->collections - 1);

	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	collect_ok(&f, 2000);
	/* gone, though its uid was cached: its fd/ is gone with it */
	assert_null(pr_find(s, c));
	assert_value("bearmon_processes_selected", "", 1);
	snprintf(lbl, sizeof(lbl), "comm=%s,group=child,pid=%d,user=%s", "processes_test", (int)c,
		 pr_user(s, (uint32_t)geteuid()));
	assert_absent("bearmon_process_threads", lbl);
	assert_int_equal(fakehost_count("bearmon_process_threads"), 1);
	/* the child's stat fd went with it; the total may still grow, since
	 * other processes (parallel tests) start meanwhile */
	(void)held;
	unlink(pf);
	unlink(mypf);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_top_mem_first_collection),
		cmocka_unit_test(test_top_cpu),
		cmocka_unit_test(test_pid_reuse_and_vanish),
		cmocka_unit_test(test_match_comm),
		cmocka_unit_test(test_match_cmdline),
		cmocka_unit_test(test_match_pidfile),
		cmocka_unit_test(test_priority_and_cap),
		cmocka_unit_test(test_thread_states),
		cmocka_unit_test(test_no_pid_label),
		cmocka_unit_test(test_agents),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_missing_sources),
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_live_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
