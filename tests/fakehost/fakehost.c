/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fake host (see fakehost.h). Single-threaded on purpose: plugin unit
 * tests call the plugin's hooks directly.
 */
#define _GNU_SOURCE
#include "fakehost.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
	struct fh_sample *s;
	size_t n, cap;
	struct fh_meta *m;
	size_t n_meta;
	int64_t now_ms;
	char last_log[1024];
	int last_level;
	size_t unsorted;
	struct bm_arena arena;
} fh;

struct bm_ctx {
	int unused;
};
static struct bm_ctx fake_ctx;

struct bm_ctx *fakehost_ctx(void) { return &fake_ctx; }
void fakehost_set_now(int64_t now_ms) { fh.now_ms = now_ms; }
size_t fakehost_n_samples(void) { return fh.n; }
const struct fh_sample *fakehost_sample(size_t i) { return i < fh.n ? &fh.s[i] : NULL; }
size_t fakehost_unsorted(void) { return fh.unsorted; }

void fakehost_reset(void)
{
	for (size_t i = 0; i < fh.n; i++) {
		free(fh.s[i].name);
		free(fh.s[i].labels);
	}
	for (size_t i = 0; i < fh.n_meta; i++) {
		free(fh.m[i].name);
		free(fh.m[i].unit);
		free(fh.m[i].help);
	}
	free(fh.s);
	free(fh.m);
	bm_arena_free(&fh.arena);
	memset(&fh, 0, sizeof(fh));
}

static char *labels_text(const struct bm_label *l, uint32_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	for (uint32_t i = 0; i < n; i++) {
		fprintf(f, "%s%s=%s", i ? "," : "", l[i].name, l[i].value);
		if (i && strcmp(l[i - 1].name, l[i].name) >= 0)
			fh.unsorted++;
	}
	fclose(f);
	return buf;
}

static void record_meta(const struct bm_metric_meta *m)
{
	for (size_t i = 0; i < fh.n_meta; i++)
		if (strcmp(fh.m[i].name, m->name) == 0)
			return;
	fh.m = realloc(fh.m, (fh.n_meta + 1) * sizeof(*fh.m));
	fh.m[fh.n_meta++] = (struct fh_meta){strdup(m->name), m->type, strdup(m->unit ? m->unit : ""),
					     strdup(m->help ? m->help : "")};
}

static int record_batch(const struct bm_metric_batch *b)
{
	for (size_t i = 0; i < b->n_meta; i++)
		record_meta(&b->meta[i]);
	for (size_t i = 0; i < b->n_samples; i++) {
		const struct bm_sample *s = &b->samples[i];
		if (fh.n == fh.cap) {
			fh.cap = fh.cap ? 2 * fh.cap : 256;
			fh.s = realloc(fh.s, fh.cap * sizeof(*fh.s));
		}
		fh.s[fh.n++] = (struct fh_sample){strdup(s->name), labels_text(s->labels, s->n_labels),
						  s->ts_ms ? s->ts_ms : fh.now_ms, s->value};
	}
	return 0;
}

/* Through the real codec, as the daemon would carry it. */
static int fh_publish_metrics(struct bm_ctx *ctx, const struct bm_metric_batch *b)
{
	(void)ctx;
	struct bm_buf buf = {0};
	struct bm_metric_batch out;
	int rc = bm_metric_batch_encode(b, &buf);
	if (!rc)
		rc = bm_metric_batch_decode(buf.data, buf.len, &out, &fh.arena);
	if (!rc)
		rc = record_batch(&out);
	bm_buf_free(&buf);
	bm_arena_reset(&fh.arena);
	return rc;
}

static int fh_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	(void)ctx;
	struct bm_metric_batch out;
	if (strcmp(topic, BM_TOPIC_METRIC) != 0)
		return 0;
	int rc = bm_metric_batch_decode(body, len, &out, &fh.arena);
	if (!rc)
		rc = record_batch(&out);
	bm_arena_reset(&fh.arena);
	return rc;
}

double fakehost_value(const char *name, const char *labels)
{
	for (size_t i = fh.n; i-- > 0;)
		if (strcmp(fh.s[i].name, name) == 0 && strcmp(fh.s[i].labels, labels) == 0)
			return fh.s[i].value;
	return NAN;
}

size_t fakehost_count(const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < fh.n; i++)
		n += strcmp(fh.s[i].name, name) == 0;
	return n;
}

const struct fh_meta *fakehost_meta(const char *name)
{
	for (size_t i = 0; i < fh.n_meta; i++)
		if (strcmp(fh.m[i].name, name) == 0)
			return &fh.m[i];
	return NULL;
}

const char *fakehost_last_log(int max_level)
{
	return fh.last_level && fh.last_level <= max_level ? fh.last_log : "";
}

static void fh_vlog(struct bm_ctx *ctx, int level, const char *fmt, va_list ap)
{
	(void)ctx;
	va_list copy;
	va_copy(copy, ap);
	vsnprintf(fh.last_log, sizeof(fh.last_log), fmt, copy);
	va_end(copy);
	fh.last_level = level;
	fprintf(stderr, "[fakehost log %d] %s\n", level, fh.last_log);
}

static bool fh_log_enabled(struct bm_ctx *ctx, int level)
{
	(void)ctx;
	(void)level;
	return true;
}
static void *fh_alloc(size_t n) { return calloc(1, n ? n : 1); }
static void fh_free(void *p) { free(p); }
static const char *fh_name(struct bm_ctx *ctx)
{
	(void)ctx;
	return "test";
}
static const char *fh_data_dir(struct bm_ctx *ctx)
{
	(void)ctx;
	return "/tmp";
}
static int64_t fh_now(struct bm_ctx *ctx)
{
	(void)ctx;
	return fh.now_ms;
}
static int64_t fh_interval(struct bm_ctx *ctx)
{
	(void)ctx;
	return 1000;
}
static int fh_self_counter(struct bm_ctx *ctx, const char *n, const char *h, const uint64_t *v)
{
	(void)ctx;
	(void)n;
	(void)h;
	(void)v;
	return 0;
}
static int fh_self_gauge(struct bm_ctx *ctx, const char *n, const char *h, const double *v)
{
	(void)ctx;
	(void)n;
	(void)h;
	(void)v;
	return 0;
}

/* Entries a unit test has no loop or listener for stay NULL: a plugin
 * must test them with BM_HOST_HAS() or not need them in these tests. */
static const struct bm_host_api fake_api = {
	.api_size = sizeof(struct bm_host_api),
	.abi_major = BM_ABI_MAJOR,
	.abi_minor = BM_ABI_MINOR,
	.vlog = fh_vlog,
	.log_enabled = fh_log_enabled,
	.alloc = fh_alloc,
	.free = fh_free,
	.instance_name = fh_name,
	.data_dir = fh_data_dir,
	.now_ms = fh_now,
	.interval_ms = fh_interval,
	.publish = fh_publish,
	.publish_metrics = fh_publish_metrics,
	.self_counter = fh_self_counter,
	.self_gauge = fh_self_gauge,
};

const struct bm_host_api *fakehost_api(void)
{
	return &fake_api;
}
