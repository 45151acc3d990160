/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugin unit test helpers (see plugintest.h). A failure is reported at
 * the test's file and line, which the macros pass in.
 */
#define _GNU_SOURCE
#include "plugintest.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_schema.h"

__attribute__((format(printf, 3, 4))) static void pt_fail(const char *file, int line,
							  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	print_error("ERROR: ");
	vprint_error(fmt, ap);
	print_error("\n");
	va_end(ap);
	_fail(file, line);
}

void pt__fixture_path(const char *file, int line, char *out, size_t n, const char *plugin,
		      const char *sub)
{
	const char *src = getenv("BM_SOURCE_DIR");
	if (!src)
		pt_fail(file, line, "BM_SOURCE_DIR is not set (run the test through ctest)");
	int w = snprintf(out, n, "%s/tests/fixtures/%s%s%s", src, plugin, sub[0] ? "/" : "", sub);
	if (w < 0 || (size_t)w >= n)
		pt_fail(file, line, "fixture path %s/%s longer than %zu bytes", plugin, sub, n);
}

void pt__fixture_file(const char *file, int line, char *out, size_t n, const char *plugin,
		      const char *sub, const char *rel)
{
	char root[PATH_MAX];
	pt__fixture_path(file, line, root, sizeof(root), plugin, sub);
	int w = snprintf(out, n, "%s/%s", root, rel);
	if (w < 0 || (size_t)w >= n)
		pt_fail(file, line, "fixture file %s/%s longer than %zu bytes", root, rel, n);
}

void pt__set_fixture(const char *file, int line, char **field, const char *plugin, const char *sub)
{
	char path[PATH_MAX];
	if (sub[0] == '/') {
		pt_set_str(field, sub);
		return;
	}
	pt__fixture_path(file, line, path, sizeof(path), plugin, sub);
	pt_set_str(field, path);
}

void pt_set_str(char **field, const char *v)
{
	free(*field);
	*field = v ? strdup(v) : NULL;
}

void pt_set_list(struct bm_strlist *l, ...)
{
	va_list ap;
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	va_start(ap, l);
	while (va_arg(ap, const char *))
		n++;
	va_end(ap);
	l->n = n;
	l->v = n ? calloc(n, sizeof(*l->v)) : NULL;
	va_start(ap, l);
	for (size_t i = 0; i < n; i++)
		l->v[i] = strdup(va_arg(ap, const char *));
	va_end(ap);
}

void pt__conf_defaults(const char *file, int line, const struct bm_option *opts, void *conf)
{
	struct cfg_errs errs = {0};
	char first[512] = "";
	size_t n = schema_defaults(opts, conf, "test", &errs);
	if (errs.n)
		snprintf(first, sizeof(first), "%s", errs.lines[0]);
	cfg_errs_free(&errs);
	if (n)
		pt_fail(file, line, "schema_defaults: %zu errors, the first: %s", n, first);
}

void pt_conf_release(const struct bm_option *opts, void *conf)
{
	schema_release(opts, conf);
}

void *pt__init(const char *file, int line, const struct bm_plugin_ops *ops, const void *conf)
{
	struct bm_err err = {0};
	void *state = NULL;
	int rc = ops->init(fakehost_ctx(), conf, &state, &err);
	if (rc)
		pt_fail(file, line, "init: error %d: %s", rc, err.msg);
	return state;
}

/* Each string of ap (up to NULL) is in msg. */
static void pt_check_msg(const char *file, int line, const char *what, const char *msg, va_list ap)
{
	for (const char *part; (part = va_arg(ap, const char *));)
		if (!strstr(msg, part))
			pt_fail(file, line, "%s: \"%s\" lacks \"%s\"", what, msg, part);
}

void pt__init_err(const char *file, int line, const struct bm_plugin_ops *ops, const void *conf,
		  int want, ...)
{
	struct bm_err err = {0};
	void *state = NULL;
	va_list ap;
	int rc = ops->init(fakehost_ctx(), conf, &state, &err);
	if (rc != want) {
		if (!rc)
			pt_fini(ops, state);
		pt_fail(file, line, "init: error %d (%s), want %d", rc, err.msg, want);
	}
	va_start(ap, want);
	pt_check_msg(file, line, "init", err.msg, ap);
	va_end(ap);
}

int pt_collect(const struct bm_plugin_ops *ops, void *state, int64_t now_ms, struct bm_err *err)
{
	fakehost_set_now(now_ms);
	return ops->collect(state, now_ms, err);
}

void pt__collect_ok(const char *file, int line, const struct bm_plugin_ops *ops, void *state,
		    int64_t now_ms)
{
	struct bm_err err = {0};
	int rc = pt_collect(ops, state, now_ms, &err);
	if (rc)
		pt_fail(file, line, "collect at %lld: error %d: %s", (long long)now_ms, rc,
			err.msg);
}

/* collect fails with want, its message holding each string of ap. */
static void pt_collect_fails(const char *file, int line, const struct bm_plugin_ops *ops,
			     void *state, int64_t now_ms, int want, va_list ap)
{
	struct bm_err err = {0};
	int rc = pt_collect(ops, state, now_ms, &err);
	if (rc != want)
		pt_fail(file, line, "collect at %lld: error %d (%s), want %d", (long long)now_ms,
			rc, err.msg, want);
	pt_check_msg(file, line, "collect", err.msg, ap);
}

void pt__collect_err(const char *file, int line, const struct bm_plugin_ops *ops, void *state,
		     int64_t now_ms, int want, ...)
{
	va_list ap;
	va_start(ap, want);
	pt_collect_fails(file, line, ops, state, now_ms, want, ap);
	va_end(ap);
}

void pt__collect_err_none(const char *file, int line, const struct bm_plugin_ops *ops, void *state,
			  int64_t now_ms, int want, ...)
{
	size_t before = fakehost_n_samples();
	va_list ap;
	va_start(ap, want);
	pt_collect_fails(file, line, ops, state, now_ms, want, ap);
	va_end(ap);
	if (fakehost_n_samples() != before)
		pt_fail(file, line, "collect at %lld failed but published %zu samples",
			(long long)now_ms, fakehost_n_samples() - before);
}

void pt_fini(const struct bm_plugin_ops *ops, void *state)
{
	if (state)
		ops->fini(state);
}

void pt_close(const struct bm_plugin_ops *ops, const struct bm_option *opts, void *state,
	      void *conf)
{
	pt_fini(ops, state);
	pt_conf_release(opts, conf);
	fakehost_reset();
}

size_t pt_count_labels(size_t from, const char *labels)
{
	size_t n = 0;
	for (size_t i = from; i < fakehost_n_samples(); i++)
		n += strcmp(fakehost_sample(i)->labels, labels) == 0;
	return n;
}

size_t pt_count_labels_like(size_t from, const char *part)
{
	size_t n = 0;
	for (size_t i = from; i < fakehost_n_samples(); i++)
		n += strstr(fakehost_sample(i)->labels, part) != NULL;
	return n;
}

void pt__mkdtemp(const char *file, int line, char *out, size_t n, const char *prefix)
{
	int w = snprintf(out, n, "/tmp/%sXXXXXX", prefix);
	if (w < 0 || (size_t)w >= n)
		pt_fail(file, line, "/tmp/%sXXXXXX longer than %zu bytes", prefix, n);
	if (!mkdtemp(out))
		pt_fail(file, line, "mkdtemp %s: %s", out, strerror(errno));
}

void pt__copy_tree(const char *file, int line, const char *src, const char *dst)
{
	char cmd[2 * PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s'", src, dst);
	int rc = system(cmd);
	if (rc)
		pt_fail(file, line, "%s: status %d", cmd, rc);
}

void pt__fixture_copy(const char *file, int line, char *out, size_t n, const char *prefix,
		      const char *plugin, const char *sub, const char *into)
{
	char src[PATH_MAX], dst[PATH_MAX];
	pt__fixture_path(file, line, src, sizeof(src), plugin, sub);
	pt__mkdtemp(file, line, out, n, prefix);
	int w = snprintf(dst, sizeof(dst), "%s%s%s", out, into[0] ? "/" : "", into);
	if (w < 0 || (size_t)w >= sizeof(dst))
		pt_fail(file, line, "%s/%s longer than %zu bytes", out, into, sizeof(dst));
	pt__copy_tree(file, line, src, dst);
}

static int pt_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int pt_rm_tree(const char *dir)
{
	return nftw(dir, pt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void pt__write_file(const char *file, int line, const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	FILE *out = fopen(path, "w");
	if (!out)
		pt_fail(file, line, "cannot write %s: %s", path, strerror(errno));
	fputs(text, out);
	fclose(out);
}
