/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/load: the 1, 5 and 15 minute load averages and the runnable /
 * total task counts from /proc/loadavg, named like node_exporter's loadavg
 * collector (node_load1, node_load5, node_load15).
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
#include "../common/publish.h"

struct load_conf {
	char *proc_root; /* where procfs is mounted ("/proc"; a fixture in tests) */
};

static const struct bm_option load_options[] = {
	BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct load_conf, proc_root,
		  "procfs mount point to read loadavg from"),
	BM_OPTION_END,
};

struct load {
	struct bm_ctx *ctx;
	char path[PATH_MAX];   /* proc_root/loadavg */
	char buf[256];         /* one read of loadavg: "0.05 0.37 0.43 1/85 10747\n" */
	struct pf_file file;   /* loadavg, kept open */
	struct bm_batch batch; /* reused every collection */
	struct pub_families families; /* metadata already published */
};

/* The parsed content of /proc/loadavg. */
struct load_values {
	double avg[3];
	unsigned long long runnable, total;
};

static int load_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct load_conf *c = conf;
	struct load *l = calloc(1, sizeof(*l));
	if (!l)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	l->ctx = ctx;
	l->file = (struct pf_file)PF_FILE_INIT;
	if (!pf_path(l->path, sizeof(l->path), c->proc_root ? c->proc_root : "/proc", "loadavg")) {
		free(l);
		return bm_err_set(err, BM_EINVAL, "proc_root too long");
	}
	*state = l;
	return 0;
}

static void load_fini(void *state)
{
	struct load *l = state;
	bm_batch_free(&l->batch);
	pf_file_close(&l->file);
	pub_families_free(&l->families);
	free(l);
}

/* "0.05 0.37 0.43 1/85 10747": three averages, runnable/total, last pid.
 * Returns false on anything else. */
static bool load_parse(const char *s, struct load_values *v)
{
	char *end;
	for (int i = 0; i < 3; i++) {
		v->avg[i] = strtod(s, &end);
		if (end == s || (*end != ' ' && *end != '\t'))
			return false;
		s = end;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	v->runnable = strtoull(s, &end, 10);
	if (*end != '/' || end[1] < '0' || end[1] > '9')
		return false;
	s = end + 1;
	v->total = strtoull(s, &end, 10);
	return *end == ' ' || *end == '\n' || *end == '\0';
}

static int load_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct load *l = state;
	struct load_values v;
	ssize_t n = pf_file_read(&l->file, AT_FDCWD, l->path, l->buf, sizeof(l->buf));
	if (n < 0)
		return bm_err_set(err, BM_EIO, "cannot read %s: %s", l->path, strerror((int)-n));
	int rc = 0;
	if (!load_parse(l->buf, &v)) {
		l->buf[strcspn(l->buf, "\n")] = '\0';
		return bm_err_set(err, BM_EPROTO, "%s: cannot parse \"%.60s\"", l->path, l->buf);
	}

	struct bm_batch *b = &l->batch;
	static const char *const names[3] = {"node_load1", "node_load5", "node_load15"};
	static const char *const helps[3] = {"1m load average", "5m load average", "15m load average"};
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	for (int i = 0; i < 3 && !rc; i++) {
		rc = bm_batch_family(b, names[i], BM_METRIC_GAUGE, NULL, helps[i]);
		if (!rc)
			rc = bm_batch_addl(b, names[i], v.avg[i], NULL);
	}
	if (!rc)
		rc = bm_batch_family(b, "bearmon_load_tasks_runnable", BM_METRIC_GAUGE, NULL,
				     "runnable (running or ready) scheduling entities, 4th field of /proc/loadavg before the slash");
	if (!rc)
		rc = bm_batch_addl(b, "bearmon_load_tasks_runnable", (double)v.runnable, NULL);
	if (!rc)
		rc = bm_batch_family(b, "bearmon_load_tasks_total", BM_METRIC_GAUGE, NULL,
				     "scheduling entities (processes and threads) that exist, 4th field of /proc/loadavg after the slash");
	if (!rc)
		rc = bm_batch_addl(b, "bearmon_load_tasks_total", (double)v.total, NULL);
	return publish_batch_once(l->ctx, b, rc, err, &l->families);
}

static const struct bm_plugin_ops load_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = load_init,
	.fini = load_fini,
	.collect = load_collect,
};

BM_PLUGIN_DEFINE(collector, load, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "load averages and task counts from /proc/loadavg",
		 .origin = "bearmon plugins/collector_load",
		 .options = load_options,
		 .config_size = sizeof(struct load_conf),
		 .ops = &load_ops);
