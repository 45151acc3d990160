/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/pressure: pressure stall information from /proc/pressure/{cpu,
 * memory,io,irq}: the stall totals as node_exporter's pressure collector
 * names them, the kernel's avg10/avg60/avg300 as ratios, and whether the
 * kernel has PSI at all (bearmon_pressure_available).
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/procfs.h"
#include "../common/publish.h"

#define PSI_RECHECK 60 /* collections between looks for a missing pressure file */

struct psi_conf {
	char *proc_root; /* procfs mount point */
};

static const struct bm_option psi_options[] = {
	BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct psi_conf, proc_root,
		  "procfs mount point to read pressure/ from"),
	BM_OPTION_END,
};

enum { PSI_SOME, PSI_FULL, PSI_N_KINDS };
enum { PSI_N_WINDOWS = 3, PSI_N_RES = 4 };

static const char *const psi_kinds[PSI_N_KINDS] = {"some", "full"};
static const char *const psi_windows[PSI_N_WINDOWS] = {"10s", "60s", "300s"};
static const char *const psi_avg_keys[PSI_N_WINDOWS] = {"avg10", "avg60", "avg300"};

/* The resources and node_exporter's names for their some/full totals. */
static const struct {
	const char *name;
	const char *total[PSI_N_KINDS];
	const char *help[PSI_N_KINDS];
} psi_res[PSI_N_RES] = {
	{"cpu",
	 {"node_pressure_cpu_waiting_seconds_total", "node_pressure_cpu_stalled_seconds_total"},
	 {"total time in seconds that processes have waited for CPU time",
	  "total time in seconds no process could make progress due to CPU congestion"}},
	{"memory",
	 {"node_pressure_memory_waiting_seconds_total", "node_pressure_memory_stalled_seconds_total"},
	 {"total time in seconds that processes have waited for memory",
	  "total time in seconds no process could make progress due to memory congestion"}},
	{"io",
	 {"node_pressure_io_waiting_seconds_total", "node_pressure_io_stalled_seconds_total"},
	 {"total time in seconds that processes have waited due to IO congestion",
	  "total time in seconds no process could make progress due to IO congestion"}},
	{"irq",
	 {NULL, "node_pressure_irq_stalled_seconds_total"},
	 {NULL, "total time in seconds no process could make progress due to IRQ congestion"}},
};

/* One parsed pressure file. */
struct psi_values {
	bool has[PSI_N_KINDS];
	double avg[PSI_N_KINDS][PSI_N_WINDOWS]; /* percent, as the kernel says */
	unsigned long long total_us[PSI_N_KINDS];
};

struct psi {
	struct bm_ctx *ctx;
	char path[PSI_N_RES][PATH_MAX]; /* proc_root/pressure/<resource> */
	char buf[512];                  /* one read of a pressure file (~110 bytes) */
	struct pf_file file[PSI_N_RES]; /* kept open */
	bool absent[PSI_N_RES];         /* missing at the last look */
	uint32_t looked[PSI_N_RES];     /* collection of that look */
	uint32_t collections;
	bool absent_logged;             /* "no PSI" said once */
	struct bm_batch batch;          /* reused every collection */
	struct pub_families families;   /* metadata already published */
};

static int psi_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct psi_conf *c = conf;
	struct psi *p = calloc(1, sizeof(*p));
	if (!p)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	p->ctx = ctx;
	for (int r = 0; r < PSI_N_RES; r++) {
		p->file[r] = (struct pf_file)PF_FILE_INIT;
		int n = snprintf(p->path[r], sizeof(p->path[r]), "%s/pressure/%s", c->proc_root, psi_res[r].name);
		if (n < 0 || (size_t)n >= sizeof(p->path[r])) {
			free(p);
			return bm_err_set(err, BM_EINVAL, "proc_root too long");
		}
	}
	*state = p;
	return 0;
}

static void psi_fini(void *state)
{
	struct psi *p = state;
	for (int r = 0; r < PSI_N_RES; r++)
		pf_file_close(&p->file[r]);
	bm_batch_free(&p->batch);
	pub_families_free(&p->families);
	free(p);
}

/* An errno that says "this kernel has no such pressure file": no
 * /proc/pressure (no CONFIG_PSI), no irq file (before 6.1 or without
 * CONFIG_IRQ_TIME_ACCOUNTING), or PSI switched off (psi=0 answers reads
 * with EOPNOTSUPP where the file exists). */
static bool psi_errno_is_absent(int e)
{
	return e == ENOENT || e == ENOTDIR || e == EOPNOTSUPP;
}

/* One line: "some avg10=0.60 avg60=0.49 avg300=1.08 total=49510701". */
static bool psi_parse_line(const char *s, const char *eol, struct psi_values *v)
{
	int kind;
	if (strncmp(s, "some ", 5) == 0)
		kind = PSI_SOME;
	else if (strncmp(s, "full ", 5) == 0)
		kind = PSI_FULL;
	else
		return false;
	s += 5;
	unsigned seen = 0;
	while (s < eol) {
		while (*s == ' ')
			s++;
		if (s >= eol)
			break;
		const char *eq = memchr(s, '=', (size_t)(eol - s));
		if (!eq || eq[1] < '0' || eq[1] > '9')
			return false;
		size_t klen = (size_t)(eq - s);
		char *end;
		if (klen == 5 && memcmp(s, "total", 5) == 0) {
			v->total_us[kind] = strtoull(eq + 1, &end, 10);
			seen |= 1u << PSI_N_WINDOWS;
		} else {
			int w = 0;
			while (w < PSI_N_WINDOWS && (strlen(psi_avg_keys[w]) != klen || memcmp(s, psi_avg_keys[w], klen)))
				w++;
			if (w == PSI_N_WINDOWS)
				return false;
			v->avg[kind][w] = strtod(eq + 1, &end);
			seen |= 1u << w;
		}
		if (end > eol || (*end != ' ' && end != eol))
			return false;
		s = end;
	}
	if (seen != (1u << (PSI_N_WINDOWS + 1)) - 1)
		return false;
	v->has[kind] = true;
	return true;
}

/* A whole file: one to two lines; false when any line is malformed or none is there. */
static bool psi_parse(const char *s, struct psi_values *v)
{
	memset(v, 0, sizeof(*v));
	while (*s) {
		const char *eol = s + strcspn(s, "\n");
		if (!psi_parse_line(s, eol, v))
			return false;
		s = *eol ? eol + 1 : eol;
	}
	return v->has[PSI_SOME] || v->has[PSI_FULL];
}

static int psi_add(struct psi *p, int r, const struct psi_values *v)
{
	struct bm_batch *b = &p->batch;
	int rc = 0;
	for (int k = 0; k < PSI_N_KINDS && !rc; k++) {
		if (!v->has[k])
			continue;
		if (psi_res[r].total[k]) {
			rc = bm_batch_family(b, psi_res[r].total[k], BM_METRIC_COUNTER, "seconds", psi_res[r].help[k]);
			if (!rc)
				rc = bm_batch_addl(b, psi_res[r].total[k], (double)v->total_us[k] / 1e6, NULL);
		}
		for (int w = 0; w < PSI_N_WINDOWS && !rc; w++)
			/* the kernel prints percent with two decimals: as integer
			 * hundredths over 10^4 the ratio is an exact decimal,
			 * which the store compresses far better than avg / 100 */
			rc = bm_batch_addl(b, "bearmon_pressure_avg_ratio",
					   (double)llround(v->avg[k][w] * 100.0) / 10000.0, "resource",
					   psi_res[r].name, "kind", psi_kinds[k], "window", psi_windows[w], NULL);
	}
	return rc;
}

static int psi_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct psi *p = state;
	struct bm_batch *b = &p->batch;
	int fail = 0; /* first failure, reported after publishing the rest */
	int n_ok = 0;
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	int rc = bm_batch_family(b, "bearmon_pressure_avg_ratio", BM_METRIC_GAUGE, "ratio",
				 "share of time tasks were stalled on the resource, averaged over the window");
	if (!rc)
		rc = bm_batch_family(b, "bearmon_pressure_available", BM_METRIC_GAUGE, NULL,
				     "1 when the kernel reports pressure stall information, 0 when it has none");
	p->collections++;
	for (int r = 0; r < PSI_N_RES && !rc; r++) {
		struct psi_values v;
		/* a file this kernel lacks (irq before 6.1) stays missing: look
		 * again now and then only */
		if (p->absent[r] && p->collections - p->looked[r] < PSI_RECHECK)
			continue;
		ssize_t n = pf_file_read(&p->file[r], AT_FDCWD, p->path[r], p->buf, sizeof(p->buf));
		int e = n < 0 ? (int)n : 0;
		p->absent[r] = e && psi_errno_is_absent(-e);
		p->looked[r] = p->collections;
		if (p->absent[r])
			continue;
		if (e) {
			if (!fail)
				fail = bm_err_set(err, BM_EIO, "cannot read %s: %s", p->path[r], strerror(-e));
			continue;
		}
		if (!psi_parse(p->buf, &v)) {
			if (!fail) {
				p->buf[strcspn(p->buf, "\n")] = '\0';
				fail = bm_err_set(err, BM_EPROTO, "%s: cannot parse \"%.60s\"", p->path[r], p->buf);
			}
			continue;
		}
		rc = psi_add(p, r, &v);
		n_ok++;
	}
	bool available = n_ok > 0 || fail;
	if (!rc)
		rc = bm_batch_addl(b, "bearmon_pressure_available", available ? 1.0 : 0.0, NULL);
	if (rc)
		return bm_err_set(err, rc, "cannot build the batch: %s", bm_strerror(rc));
	if (!available)
		pf_log_once(p->ctx, &p->absent_logged, BM_LOG_INFO,
			    "no pressure stall information in %.*s (kernel without CONFIG_PSI, or booted with psi=0), "
			    "publishing bearmon_pressure_available 0 only",
			    (int)(strrchr(p->path[0], '/') - p->path[0]), p->path[0]);
	rc = publish_batch_once(p->ctx, b, 0, err, &p->families);
	return fail ? fail : rc;
}

static const struct bm_plugin_ops psi_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = psi_init,
	.fini = psi_fini,
	.collect = psi_collect,
};

BM_PLUGIN_DEFINE(collector, pressure, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "pressure stall information (cpu, memory, io, irq) from /proc/pressure",
		 .origin = "bearmon plugins/collector_pressure",
		 .options = psi_options,
		 .config_size = sizeof(struct psi_conf),
		 .ops = &psi_ops);
