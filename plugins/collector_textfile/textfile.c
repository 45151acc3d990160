/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/textfile: node_exporter's textfile collector. Every *.prom file
 * in a directory is parsed as Prometheus text format 0.0.4 (common/expfmt.c)
 * and republished with its HELP/TYPE metadata, plus
 * node_textfile_mtime_seconds{file} and node_textfile_scrape_error.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
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
#include <unistd.h>

#include "../common/expfmt_batch.h"
#include "../common/publish.h"

struct textfile_conf {
	char *directory;        /* where the *.prom files are */
	uint64_t max_file_size; /* a larger file is an error (skipped) */
};

static const struct bm_option textfile_options[] = {
	BM_OPTION("directory", BM_OPT_STRING, "/var/lib/bearmon/textfile", struct textfile_conf,
		  directory, "directory whose *.prom files are read; missing is not an error"),
	BM_OPTION_BOUNDED("max_file_size", BM_OPT_SIZE, "4MiB", struct textfile_conf,
			  max_file_size, 1024, 1073741824.0,
			  "a .prom file larger than this is skipped as an error"),
	BM_OPTION_END,
};

/* Per metadata entry of the batch: what this file has declared for it. */
struct fam_seen {
	bool type, help;
};

struct textfile {
	struct bm_ctx *ctx;
	const struct textfile_conf *conf;
	struct bm_batch batch;
	struct pub_families families; /* metadata already published */
	char *buf; /* one file's content, grown to the largest file */
	size_t cap;
	struct fam_seen *seen; /* parallel to batch.meta */
	size_t seen_cap;
	struct expfmt_item item;
	bool dir_missing_logged;
	char path[PATH_MAX];
	char why[256]; /* the current file's error */
};

static int textfile_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct textfile_conf *c = conf;
	if (!c->directory || !*c->directory)
		return bm_err_set(err, BM_EINVAL, "directory must not be empty");
	if (strlen(c->directory) > PATH_MAX - 256)
		return bm_err_set(err, BM_EINVAL, "directory too long");
	struct textfile *t = calloc(1, sizeof(*t));
	if (!t)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	t->ctx = ctx;
	t->conf = c;
	*state = t;
	return 0;
}

static void textfile_fini(void *state)
{
	struct textfile *t = state;
	bm_batch_free(&t->batch);
	pub_families_free(&t->families);
	free(t->buf);
	free(t->seen);
	free(t);
}

static int prom_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 5 && strcmp(d->d_name + n - 5, ".prom") == 0;
}

/* Read t->path into t->buf ('\0'-terminated); the file's mtime in *mtime.
 * Fills t->why and returns -1 on failure. */
static int read_file(struct textfile *t, size_t *len, double *mtime)
{
	int fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0) {
		snprintf(t->why, sizeof(t->why), "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(t->why, sizeof(t->why), "not a regular file");
		close(fd);
		return -1;
	}
	uint64_t max = t->conf->max_file_size;
	if ((uint64_t)st.st_size > max) {
		snprintf(t->why, sizeof(t->why), "larger than max_file_size (%llu bytes)",
			 (unsigned long long)max);
		close(fd);
		return -1;
	}
	size_t n = 0;
	for (;;) {
		if (n + 4096 + 1 > t->cap) {
			size_t c = t->cap ? t->cap * 2 : 65536;
			while (c < n + 4096 + 1)
				c *= 2;
			char *p = realloc(t->buf, c);
			if (!p) {
				snprintf(t->why, sizeof(t->why), "out of memory");
				close(fd);
				return -1;
			}
			t->buf = p;
			t->cap = c;
		}
		ssize_t r = read(fd, t->buf + n, t->cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(t->why, sizeof(t->why), "cannot read: %s", strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) { /* grew while we read it */
			snprintf(t->why, sizeof(t->why), "larger than max_file_size (%llu bytes)",
				 (unsigned long long)max);
			close(fd);
			return -1;
		}
	}
	close(fd);
	t->buf[n] = '\0';
	*len = n;
	*mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
	return 0;
}

static const char *type_name(enum bm_metric_type type)
{
	static const char *const names[] = {"untyped", "counter", "gauge", "histogram",
					    "summary"};
	return (unsigned)type < 5 ? names[type] : "?";
}

/* A HELP or TYPE line for it->name. first_meta: this file's first entry. */
static int add_meta(void *user, struct bm_batch *b, const struct expfmt_item *it,
		    size_t first_meta, char *why, size_t n)
{
	struct textfile *t = user;
	ssize_t i = expfmt_batch_find_meta(b, it->name);
	bool is_type = it->kind == EXPFMT_TYPE;
	if (i >= 0 && (size_t)i < first_meta) {
		/* declared by an earlier file: the types must agree, first HELP wins */
		if (is_type && b->meta[i].type != it->type) {
			snprintf(why, n, "TYPE %s of %s disagrees with %s in an earlier file",
				 type_name(it->type), it->name, type_name(b->meta[i].type));
			return -1;
		}
		return 0;
	}
	if (i < 0) {
		if (b->n_meta + 1 > t->seen_cap) {
			size_t c = t->seen_cap ? t->seen_cap * 2 : 64;
			struct fam_seen *p = realloc(t->seen, c * sizeof(*p));
			if (!p)
				goto oom;
			t->seen = p;
			t->seen_cap = c;
		}
		if (bm_batch_family(b, it->name, BM_METRIC_UNTYPED, NULL, NULL))
			goto oom;
		i = (ssize_t)b->n_meta - 1;
		t->seen[i] = (struct fam_seen){0};
	}
	struct bm_metric_meta *m = &b->meta[i];
	if (is_type) {
		if (t->seen[i].type) {
			snprintf(why, n, "second TYPE line for %s", it->name);
			return -1;
		}
		t->seen[i].type = true;
		m->type = it->type;
	} else {
		if (t->seen[i].help) {
			snprintf(why, n, "second HELP line for %s", it->name);
			return -1;
		}
		t->seen[i].help = true;
		m->help = bm_arena_strndup(&b->arena, it->help, strlen(it->help));
		if (!m->help)
			goto oom;
	}
	return 0;
oom:
	snprintf(why, n, "out of memory");
	return -1;
}

/* Parse the file in t->buf into the batch. On failure the batch is rolled
 * back to what it held before and t->why / *line say what went wrong. */
static int parse_file(struct textfile *t, size_t len, unsigned *line)
{
	*line = 0;
	return expfmt_batch_parse(&t->batch, t->buf, len, &t->item, add_meta, t, t->why,
				  sizeof(t->why), line);
}

static int textfile_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct textfile *t = state;
	struct bm_batch *b = &t->batch;
	const char *dir = t->conf->directory;
	struct dirent **names = NULL;
	bool errored = false;
	int rc = 0;

	bm_batch_reset(b);
	b->ts_ms = now_ms;
	int n = scandir(dir, &names, prom_file, alphasort);
	if (n < 0) {
		if (errno == ENOENT) {
			if (!t->dir_missing_logged)
				bm_log_info(t->ctx, "directory %s does not exist (yet): nothing to read",
					    dir);
			t->dir_missing_logged = true;
		} else {
			bm_log_warn(t->ctx, "cannot read directory %s: %s", dir, strerror(errno));
			errored = true;
		}
		n = 0;
	} else {
		t->dir_missing_logged = false;
	}

	/* the files' own samples first, then our two families */
	size_t n_good = 0;
	double *mtimes = n > 0 ? calloc((size_t)n, sizeof(*mtimes)) : NULL;
	bool *good = n > 0 ? calloc((size_t)n, sizeof(*good)) : NULL;
	if (n > 0 && (!mtimes || !good)) {
		rc = bm_err_set(err, BM_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		size_t len = 0;
		unsigned line = 0;
		snprintf(t->path, sizeof(t->path), "%s/%s", dir, names[i]->d_name);
		if (read_file(t, &len, &mtimes[i])) {
			bm_log_warn(t->ctx, "%s: %s; file skipped", t->path, t->why);
			errored = true;
			continue;
		}
		if (parse_file(t, len, &line)) {
			bm_log_warn(t->ctx, "%s:%u: %s; file skipped", t->path, line, t->why);
			errored = true;
			continue;
		}
		good[i] = true;
		n_good++;
	}
	b->ts_ms = now_ms;
	if (n_good) {
		rc = bm_batch_family(b, "node_textfile_mtime_seconds", BM_METRIC_GAUGE, "seconds",
				     "Unixtime mtime of textfiles successfully read.");
		for (int i = 0; i < n && !rc; i++) {
			if (!good[i])
				continue;
			snprintf(t->path, sizeof(t->path), "%s/%s", dir, names[i]->d_name);
			rc = bm_batch_addl(b, "node_textfile_mtime_seconds", mtimes[i], "file", t->path,
					   NULL);
		}
	}
	if (!rc)
		rc = bm_batch_family(b, "node_textfile_scrape_error", BM_METRIC_GAUGE, NULL,
				     "1 if there was an error opening or reading a file, 0 otherwise");
	if (!rc)
		rc = bm_batch_addl(b, "node_textfile_scrape_error", errored ? 1.0 : 0.0, NULL);
	if (rc) {
		rc = bm_err_set(err, rc, "cannot build the batch: %s", bm_strerror(rc));
		goto out;
	}
	rc = publish_batch_once(t->ctx, b, 0, err, &t->families);
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(mtimes);
	free(good);
	return rc;
}

static const struct bm_plugin_ops textfile_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = textfile_init,
	.fini = textfile_fini,
	.collect = textfile_collect,
};

BM_PLUGIN_DEFINE(collector, textfile, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "metrics from *.prom files in a directory (node_exporter's textfile collector)",
		 .origin = "bearmon plugins/collector_textfile",
		 .options = textfile_options,
		 .config_size = sizeof(struct textfile_conf),
		 .ops = &textfile_ops);
