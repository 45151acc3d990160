/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/memory: every /proc/meminfo line as node_memory_<Name>_bytes
 * (or node_memory_<Name> for counts such as HugePages_Total) and the
 * /proc/vmstat fields (all, or those vmstat_fields selects) as node_vmstat_<name>,
 * named and typed like node_exporter's meminfo and vmstat collectors.
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

#define MEM_FILE_MAX (4u << 20) /* refuse a meminfo or vmstat larger than this */
#define MEM_KEY_MAX 64          /* longest field name we publish, with the NUL */

struct mem_conf {
	char *proc_root;                /* procfs mount point */
	struct bm_strlist vmstat_fields; /* regexes selecting vmstat fields; empty = all */
};

static const struct bm_option mem_options[] = {
	BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct mem_conf, proc_root,
		  "procfs mount point to read meminfo and vmstat from"),
	BM_OPTION("vmstat_fields", BM_OPT_STRING_LIST, NULL, struct mem_conf, vmstat_fields,
		  "regexes (anchored) of the /proc/vmstat fields to publish; empty list (the default) = every field"),
	BM_OPTION_END,
};

/*
 * What line i of a file turned into last time: the field name and the
 * metric it gives. Field order never changes while the kernel runs, so
 * each collection only compares names and skips sanitising and regex
 * matching; a changed line is rebuilt.
 */
struct mem_key {
	char raw[MEM_KEY_MAX];          /* field name as in the file, "Active(anon)" */
	char metric[MEM_KEY_MAX + 24];  /* "node_memory_Active_anon_bytes"; "" = not published */
	bool kb;                        /* meminfo: the value had a kB unit */
};

/* One source file: its path, read buffer and line cache. */
struct mem_file {
	char path[PATH_MAX];
	struct pf_file file; /* kept open */
	char *buf;
	size_t cap;
	struct mem_key *keys;
	size_t n_keys;
};

struct mem {
	struct bm_ctx *ctx;
	struct mem_file meminfo;
	struct mem_file vmstat;
	struct bm_filter vm_filter; /* vmstat_fields */
	struct bm_batch batch;      /* reused every collection */
	struct pub_families families; /* metadata already published */
};

static void mem_file_free(struct mem_file *f)
{
	pf_file_close(&f->file);
	free(f->buf);
	free(f->keys);
}

static int mem_file_init(struct mem_file *f, const char *root, const char *name)
{
	f->file = (struct pf_file)PF_FILE_INIT;
	return pf_path(f->path, sizeof(f->path), root, name) ? 0 : BM_EINVAL;
}

static void mem_fini(void *state)
{
	struct mem *m = state;
	mem_file_free(&m->meminfo);
	mem_file_free(&m->vmstat);
	bm_filter_free(&m->vm_filter);
	bm_batch_free(&m->batch);
	pub_families_free(&m->families);
	free(m);
}

static int mem_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct mem_conf *c = conf;
	struct mem *m = calloc(1, sizeof(*m));
	if (!m)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	m->ctx = ctx;
	m->meminfo.file = m->vmstat.file = (struct pf_file)PF_FILE_INIT;
	struct bm_err ferr = {0};
	int rc = bm_filter_init(&m->vm_filter, &c->vmstat_fields, NULL, &ferr);
	if (rc) {
		free(m);
		return bm_err_set(err, rc, "vmstat_fields: %s", ferr.msg);
	}
	rc = mem_file_init(&m->meminfo, c->proc_root, "meminfo");
	if (!rc)
		rc = mem_file_init(&m->vmstat, c->proc_root, "vmstat");
	if (rc) {
		mem_fini(m);
		return bm_err_set(err, rc, "proc_root too long");
	}
	*state = m;
	return 0;
}

/* The cache entry for line i, grown as needed; NULL when out of memory. */
static struct mem_key *mem_key_at(struct mem_file *f, size_t i)
{
	if (i >= f->n_keys) {
		size_t n = i + 16;
		struct mem_key *k = realloc(f->keys, n * sizeof(*k));
		if (!k)
			return NULL;
		memset(k + f->n_keys, 0, (n - f->n_keys) * sizeof(*k));
		f->keys = k;
		f->n_keys = n;
	}
	return &f->keys[i];
}

/*
 * node_exporter's meminfo names: "Active(anon)" -> "Active_anon"; any other
 * character outside [a-zA-Z0-9_] becomes "_" as well.
 */
static void mem_sanitize(char *out, size_t cap, const char *key, size_t klen)
{
	size_t o = 0;
	for (size_t i = 0; i < klen && o + 1 < cap; i++) {
		char ch = key[i];
		if (ch == ')')
			continue;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
		out[o++] = ok ? ch : '_';
	}
	out[o] = '\0';
}

/* Parse an unsigned (or, for vmstat, negative) decimal number. */
static bool mem_number(const char *p, double *v, const char **end)
{
	p = pf_skip_blanks(p);
	bool neg = *p == '-';
	if (neg)
		p++;
	if (*p < '0' || *p > '9')
		return false;
	char *e;
	unsigned long long x = strtoull(p, &e, 10);
	*v = neg ? -(double)x : (double)x;
	*end = e;
	return true;
}

/* "MemTotal:       24684092 kB" or "HugePages_Total:       0". */
static int mem_meminfo_line(struct mem *m, size_t idx, const char *p, const char *eol)
{
	const char *colon = memchr(p, ':', (size_t)(eol - p));
	const char *end;
	double v;
	if (!colon || colon == p || !mem_number(colon + 1, &v, &end) || end > eol)
		return BM_EPROTO;
	end = pf_skip_blanks(end);
	bool kb = false;
	if (end + 2 <= eol && memcmp(end, "kB", 2) == 0) {
		kb = true;
		end += 2;
	}
	if (end != eol)
		return BM_EPROTO;
	size_t klen = (size_t)(colon - p);
	if (klen >= MEM_KEY_MAX)
		return 0; /* not a name we could publish; skip */
	struct mem_key *k = mem_key_at(&m->meminfo, idx);
	if (!k)
		return BM_ENOMEM;
	if (k->kb != kb || strlen(k->raw) != klen || memcmp(k->raw, p, klen) != 0) {
		char name[MEM_KEY_MAX];
		memcpy(k->raw, p, klen);
		k->raw[klen] = '\0';
		k->kb = kb;
		mem_sanitize(name, sizeof(name), p, klen);
		snprintf(k->metric, sizeof(k->metric), "node_memory_%s%s", name, kb ? "_bytes" : "");
	}
	int rc = pub_declare(&m->batch, &m->families, k->metric, BM_METRIC_GAUGE, kb ? "bytes" : NULL,
			     kb ? "memory information field, /proc/meminfo"
				: "memory information field (count), /proc/meminfo");
	if (!rc)
		rc = bm_batch_addl(&m->batch, k->metric, kb ? v * 1024.0 : v, NULL);
	return rc;
}

/* "pgfault 24841290". */
static int mem_vmstat_line(struct mem *m, size_t idx, const char *p, const char *eol)
{
	size_t klen = strcspn(p, " \t\n");
	const char *end;
	double v;
	if (klen == 0 || !mem_number(p + klen, &v, &end) || end != eol)
		return BM_EPROTO;
	if (klen >= MEM_KEY_MAX)
		return 0;
	struct mem_key *k = mem_key_at(&m->vmstat, idx);
	if (!k)
		return BM_ENOMEM;
	if (strlen(k->raw) != klen || memcmp(k->raw, p, klen) != 0) {
		memcpy(k->raw, p, klen);
		k->raw[klen] = '\0';
		k->metric[0] = '\0';
		if (bm_filter_match(&m->vm_filter, k->raw))
			snprintf(k->metric, sizeof(k->metric), "node_vmstat_%s", k->raw);
	}
	if (!k->metric[0])
		return 0;
	int rc = pub_declare(&m->batch, &m->families, k->metric, BM_METRIC_UNTYPED, NULL,
			     "/proc/vmstat information field");
	if (!rc)
		rc = bm_batch_addl(&m->batch, k->metric, v, NULL);
	return rc;
}

/* Walk the lines of f->buf through fn; names the bad line in err. */
static int mem_parse(struct mem *m, struct mem_file *f,
		     int (*fn)(struct mem *, size_t, const char *, const char *), struct bm_err *err)
{
	size_t idx = 0;
	for (const char *p = f->buf; *p; idx++) {
		const char *eol = p + strcspn(p, "\n");
		int rc = fn(m, idx, p, eol);
		if (rc == BM_EPROTO)
			return bm_err_set(err, rc, "%s: cannot parse line %zu \"%.*s\"", f->path, idx + 1,
					  (int)(eol - p > 60 ? 60 : eol - p), p);
		if (rc)
			return bm_err_set(err, rc, "cannot build the batch: %s", bm_strerror(rc));
		p = *eol ? eol + 1 : eol;
	}
	if (idx == 0)
		return bm_err_set(err, BM_EPROTO, "%s: empty", f->path);
	return 0;
}

static int mem_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct mem *m = state;
	struct mem_file *files[2] = {&m->meminfo, &m->vmstat};
	for (int i = 0; i < 2; i++) {
		ssize_t len = pf_file_slurp(&files[i]->file, AT_FDCWD, files[i]->path, &files[i]->buf,
					    &files[i]->cap, MEM_FILE_MAX);
		if (len < 0)
			return bm_err_set(err, BM_EIO, "cannot read %s: %s", files[i]->path, strerror((int)-len));
	}
	bm_batch_reset(&m->batch);
	m->batch.ts_ms = now_ms;
	int rc = mem_parse(m, &m->meminfo, mem_meminfo_line, err);
	if (!rc)
		rc = mem_parse(m, &m->vmstat, mem_vmstat_line, err);
	if (rc)
		return rc;
	return publish_batch_once(m->ctx, &m->batch, 0, err, &m->families);
}

static const struct bm_plugin_ops mem_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = mem_init,
	.fini = mem_fini,
	.collect = mem_collect,
};

BM_PLUGIN_DEFINE(collector, memory, BM_KIND_COLLECTOR,
		 .version = "1.1.0",
		 .license = "Apache-2.0",
		 .description = "memory usage from /proc/meminfo and paging, swapping and OOM counters from /proc/vmstat",
		 .origin = "bearmon plugins/collector_memory",
		 .options = mem_options,
		 .config_size = sizeof(struct mem_conf),
		 .ops = &mem_ops);
