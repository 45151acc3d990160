/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collector "diskstats": per block device I/O counters from
 * PROC_ROOT/diskstats with node_exporter's names (node_disk_*{device}),
 * 32-bit wraps unwrapped per device, partitions and virtual devices
 * skipped by default.
 */
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/counter32.h"
#include "../common/procfs.h"
#include "../common/publish.h"

/* node_exporter's default, in POSIX ERE (\d -> [0-9]); bm_filter anchors it */
#define DS_DEFAULT_EXCLUDE "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme[0-9]+n[0-9]+p)[0-9]+$"

#define DS_MAX_FIELDS 17          /* stat fields after the name (kernel 5.5+) */
#define DS_MIN_FIELDS 11          /* kernels before 4.18 */
#define DS_NAME_MAX 64            /* kernel DISK_NAME_LEN is 32 */
#define DS_MAX_DEVICES 8192       /* state entries kept, excluded ones included */
#define DS_MAX_FILE (16u << 20)   /* refuse to buffer more than this */
#define DS_SECTOR_BYTES 512.0     /* diskstats sectors are always 512 bytes */

struct ds_conf {
	char *proc_root;           /* "/proc" */
	struct bm_strlist include; /* device name patterns to keep (none = all) */
	struct bm_strlist exclude; /* device name patterns to drop */
};

static const struct bm_option ds_options[] = {
	BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct ds_conf, proc_root,
		  "procfs mount point; PROC_ROOT/diskstats is read"),
	BM_OPTION("include", BM_OPT_STRING_LIST, NULL, struct ds_conf, include,
		  "device name regexes (POSIX ERE, anchored) to collect; empty = all"),
	BM_OPTION("exclude", BM_OPT_STRING_LIST, DS_DEFAULT_EXCLUDE, struct ds_conf, exclude,
		  "device name regexes (POSIX ERE, anchored) to skip; default skips partitions, ram, loop, fd"),
	BM_OPTION_END,
};

/* One published metric: which diskstats field, how it is scaled. */
struct ds_metric {
	const char *name;
	unsigned field;          /* index among the stat fields after the name */
	enum bm_metric_type type;
	const char *unit;
	double scale;            /* multiply the (unwrapped) raw value by this */
	const char *help;
};

/* Field index of the in-flight gauge: never unwrapped (it goes down). */
#define DS_FIELD_IO_NOW 8

static const struct ds_metric ds_metrics[] = {
	{"node_disk_reads_completed_total", 0, BM_METRIC_COUNTER, NULL, 1,
	 "reads completed successfully"},
	{"node_disk_reads_merged_total", 1, BM_METRIC_COUNTER, NULL, 1, "reads merged"},
	{"node_disk_read_bytes_total", 2, BM_METRIC_COUNTER, "bytes", DS_SECTOR_BYTES,
	 "bytes read successfully"},
	{"node_disk_read_time_seconds_total", 3, BM_METRIC_COUNTER, "seconds", 1e-3,
	 "seconds spent by all reads"},
	{"node_disk_writes_completed_total", 4, BM_METRIC_COUNTER, NULL, 1,
	 "writes completed successfully"},
	{"node_disk_writes_merged_total", 5, BM_METRIC_COUNTER, NULL, 1, "writes merged"},
	{"node_disk_written_bytes_total", 6, BM_METRIC_COUNTER, "bytes", DS_SECTOR_BYTES,
	 "bytes written successfully"},
	{"node_disk_write_time_seconds_total", 7, BM_METRIC_COUNTER, "seconds", 1e-3,
	 "seconds spent by all writes"},
	{"node_disk_io_now", DS_FIELD_IO_NOW, BM_METRIC_GAUGE, NULL, 1,
	 "I/Os currently in progress"},
	{"node_disk_io_time_seconds_total", 9, BM_METRIC_COUNTER, "seconds", 1e-3,
	 "seconds the device spent doing I/O (utilisation when taken as a rate)"},
	{"node_disk_io_time_weighted_seconds_total", 10, BM_METRIC_COUNTER, "seconds", 1e-3,
	 "weighted seconds spent doing I/O (queue length when taken as a rate)"},
	{"node_disk_discards_completed_total", 11, BM_METRIC_COUNTER, NULL, 1,
	 "discards completed successfully"},
	{"node_disk_discards_merged_total", 12, BM_METRIC_COUNTER, NULL, 1, "discards merged"},
	{"node_disk_discarded_sectors_total", 13, BM_METRIC_COUNTER, NULL, 1,
	 "sectors discarded successfully"},
	{"node_disk_discard_time_seconds_total", 14, BM_METRIC_COUNTER, "seconds", 1e-3,
	 "seconds spent by all discards"},
	{"node_disk_flush_requests_total", 15, BM_METRIC_COUNTER, NULL, 1,
	 "flush requests completed successfully"},
	{"node_disk_flush_requests_time_seconds_total", 16, BM_METRIC_COUNTER, "seconds", 1e-3,
	 "seconds spent by all flush requests"},
};

#define DS_N_METRICS (sizeof(ds_metrics) / sizeof(ds_metrics[0]))

/* Per-device state, kept while the device is listed in the file. */
struct ds_dev {
	char name[DS_NAME_MAX];      /* first: the key of pf_table_get() */
	bool skip;                   /* filtered out: no counters, no samples */
	bool seen;                   /* listed in the current read */
	unsigned nf;                 /* stat fields on its latest line */
	uint64_t val[DS_MAX_FIELDS]; /* unwrapped values of the latest read */
	struct counter32 c[DS_MAX_FIELDS];
};

struct ds_state {
	struct bm_ctx *ctx;
	const struct ds_conf *conf;
	struct bm_filter filter;
	char path[PATH_MAX];  /* PROC_ROOT/diskstats */
	struct pf_file file;  /* PROC_ROOT/diskstats, kept open */
	char *buf;            /* file contents, grown as needed, kept */
	size_t cap;
	struct ds_dev *dev;   /* in file order, vanished ones removed */
	size_t n_dev, cap_dev;
	struct bm_batch batch;
	struct pub_families families; /* metadata already published */
	bool warned_garbage;  /* a malformed line was logged at warn once */
	bool warned_full;     /* the device table limit was logged once */
};

/* The entry for name, added (and its filter decided) when new. */
static struct ds_dev *ds_lookup(struct ds_state *s, const char *name, size_t len, size_t hint)
{
	bool fresh;
	struct ds_dev *d = pf_table_get((void **)&s->dev, &s->n_dev, &s->cap_dev, sizeof(*d),
					DS_MAX_DEVICES, name, len, hint, &fresh);
	if (!d && s->n_dev == DS_MAX_DEVICES)
		pf_log_once(s->ctx, &s->warned_full, BM_LOG_WARN,
			    "%s: more than %d devices, ignoring the rest", s->path, DS_MAX_DEVICES);
	if (fresh)
		d->skip = !bm_filter_match(&s->filter, d->name);
	return d;
}

/*
 * Parse one line "MAJOR MINOR NAME F1 ... Fn" (n >= 11) into its device's
 * state. Returns false for a malformed line, which is then ignored.
 */
static bool ds_parse_line(struct ds_state *s, char *p, char *end, size_t hint)
{
	uint64_t raw[DS_MAX_FIELDS];
	char *q;
	for (int i = 0; i < 2; i++) { /* major, minor */
		errno = 0;
		strtoull(p, &q, 10);
		if (q == p || errno || !pf_is_blank(*q))
			return false;
		p = q;
	}
	while (p < end && pf_is_blank(*p))
		p++;
	const char *name = p;
	while (p < end && !pf_is_blank(*p))
		p++;
	size_t len = (size_t)(p - name);
	if (len == 0 || len >= DS_NAME_MAX)
		return false;
	unsigned nf = 0;
	for (;;) {
		while (p < end && pf_is_blank(*p))
			p++;
		if (p >= end)
			break;
		if (nf == DS_MAX_FIELDS) /* newer kernel, more fields: keep what we know */
			break;
		if (*p < '0' || *p > '9')
			return false;
		errno = 0;
		raw[nf] = strtoull(p, &q, 10);
		if (errno || (q < end && !pf_is_blank(*q)))
			return false;
		nf++;
		p = q;
	}
	if (nf < DS_MIN_FIELDS)
		return false;
	struct ds_dev *d = ds_lookup(s, name, len, hint);
	if (!d) /* table full (logged once) or out of memory */
		return true;
	if (d->seen) /* the same device twice */
		return false;
	d->seen = true;
	if (d->skip)
		return true;
	if (nf < d->nf) /* fewer fields than before: forget the vanished ones */
		memset(&d->c[nf], 0, (DS_MAX_FIELDS - nf) * sizeof(d->c[0]));
	d->nf = nf;
	for (unsigned i = 0; i < nf; i++)
		d->val[i] = i == DS_FIELD_IO_NOW ? raw[i] : counter32_unwrap(&d->c[i], raw[i]);
	return true;
}

/* Parse the whole buffer; devices not listed any more lose their state. */
static void ds_parse(struct ds_state *s, size_t len)
{
	char *p = s->buf, *end = s->buf + len;
	unsigned lineno = 0;
	size_t idx = 0;
	for (size_t i = 0; i < s->n_dev; i++)
		s->dev[i].seen = false;
	char *line;
	size_t n;
	while ((line = pf_next_line(&p, end, &n)) != NULL) {
		char *eol = line + n;
		char *t = pf_skip_blanks(line);
		lineno++;
		if (t < eol) {
			if (!ds_parse_line(s, t, eol, idx))
				pf_log_first(s->ctx, &s->warned_garbage,
					     "%s: skipping malformed line %u", s->path, lineno);
			idx++;
		}
	}
	/* a vanished device is a reset when it returns: drop its state */
	size_t k = 0;
	for (size_t i = 0; i < s->n_dev; i++)
		if (s->dev[i].seen) {
			if (k != i)
				s->dev[k] = s->dev[i];
			k++;
		}
	s->n_dev = k;
}

static int ds_emit(struct ds_state *s)
{
	unsigned max_nf = 0;
	for (size_t i = 0; i < s->n_dev; i++)
		if (!s->dev[i].skip && s->dev[i].nf > max_nf)
			max_nf = s->dev[i].nf;
	for (size_t m = 0; m < DS_N_METRICS; m++) {
		const struct ds_metric *dm = &ds_metrics[m];
		if (dm->field >= max_nf)
			continue;
		int rc = bm_batch_family(&s->batch, dm->name, dm->type, dm->unit, dm->help);
		for (size_t i = 0; i < s->n_dev && !rc; i++) {
			const struct ds_dev *d = &s->dev[i];
			if (d->skip || dm->field >= d->nf)
				continue;
			rc = bm_batch_addl(&s->batch, dm->name, (double)d->val[dm->field] * dm->scale,
					   "device", d->name, NULL);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static void ds_fini(void *state)
{
	struct ds_state *s = state;
	if (!s)
		return;
	bm_filter_free(&s->filter);
	pf_file_close(&s->file);
	bm_batch_free(&s->batch);
	pub_families_free(&s->families);
	free(s->buf);
	free(s->dev);
	bm_free(s);
}

static int ds_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct ds_conf *c = conf;
	struct ds_state *s = bm_alloc(sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = c;
	s->file = (struct pf_file)PF_FILE_INIT;
	int rc = pf_proc_path(s->path, sizeof(s->path), c->proc_root, "diskstats", err);
	if (!rc)
		rc = pf_filter_init(&s->filter, &c->include, &c->exclude, "include/exclude", err);
	if (rc) {
		ds_fini(s);
		return rc;
	}
	*state = s;
	return 0;
}

static int ds_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct ds_state *s = state;
	size_t len = 0;
	int rc = pf_collect_begin(&s->file, s->path, &s->buf, &s->cap, DS_MAX_FILE, &len, &s->batch,
				  now_ms, err);
	if (rc)
		return rc;
	ds_parse(s, len);
	return publish_batch_once(s->ctx, &s->batch, ds_emit(s), err, &s->families);
}

static const struct bm_plugin_ops ds_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = ds_init,
	.fini = ds_fini,
	.collect = ds_collect,
};

BM_PLUGIN_DEFINE(collector, diskstats, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "block device I/O counters from /proc/diskstats (node_disk_*)",
		 .origin = "bearmon plugins/collector_diskstats",
		 .options = ds_options,
		 .config_size = sizeof(struct ds_conf),
		 .ops = &ds_ops);
