/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugin loading. Checks, in order, each failure one error naming the file:
 * trusted file and directories -> dlopen -> descriptor symbol -> magic ->
 * ABI major -> ABI minor -> descriptor size -> build signature -> required
 * fields -> kind and name match the file name -> not already loaded ->
 * option table well formed with parseable defaults.
 */
#define _GNU_SOURCE
#include "plugin_loader.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <ltdl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static struct {
	struct plugin **v;
	size_t n;
	bool inited;
} g_plugins;

static const char *const kind_names[] = {
	[BM_KIND_COLLECTOR] = "collector", [BM_KIND_ANALYZER] = "analyzer",
	[BM_KIND_OPTIMIZER] = "optimizer", [BM_KIND_NOTIFIER] = "notifier",
	[BM_KIND_UI] = "ui",
};

const char *kind_name(enum bm_plugin_kind kind)
{
	if ((int)kind < BM_KIND_COLLECTOR || kind > BM_KIND_UI)
		return NULL;
	return kind_names[kind];
}

int loader_init(void)
{
	if (g_plugins.inited)
		return 0;
	if (lt_dlinit() != 0)
		return BM_EIO;
	g_plugins.inited = true;
	return 0;
}

static void plugin_free(struct plugin *p)
{
	free(p->path);
	free(p->kind);
	free(p->name);
	free(p);
}

/* Plugin code stays mapped until the daemon exits: no instance can run it
 * any more by then (GStreamer keeps modules resident for the same reason). */
void loader_exit(void)
{
	for (size_t i = 0; i < g_plugins.n; i++) {
		lt_dlclose(g_plugins.v[i]->handle);
		plugin_free(g_plugins.v[i]);
	}
	free(g_plugins.v);
	memset(&g_plugins, 0, sizeof(g_plugins));
	lt_dlexit();
}

size_t loader_count(void) { return g_plugins.n; }
struct plugin *loader_at(size_t i) { return i < g_plugins.n ? g_plugins.v[i] : NULL; }

/* Only root or our own user may own, and be able to write, what we load. */
static int check_trusted(const char *path, bool is_dir, struct bm_err *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return bm_err_set(err, BM_ENOENT, "%s: %s", path, strerror(errno));
	if (!is_dir && !S_ISREG(st.st_mode))
		return bm_err_set(err, BM_EPERM, "%s: refused: not a regular file", path);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return bm_err_set(err, BM_EPERM, "%s: refused: owned by uid %u, not root or the daemon's user",
				  path, (unsigned)st.st_uid);
	if (st.st_mode & S_IWOTH)
		return bm_err_set(err, BM_EPERM, "%s: refused: writable by every user (chmod o-w)", path);
	if ((st.st_mode & S_IWGRP) && st.st_gid != 0 && st.st_gid != getegid())
		return bm_err_set(err, BM_EPERM, "%s: refused: writable by group %u (chmod g-w)", path,
				  (unsigned)st.st_gid);
	return 0;
}

/* The file, then each directory up to and including trust_root. */
static int check_trust_chain(const char *file, const char *trust_root, struct bm_err *err)
{
	char real[PATH_MAX], root[PATH_MAX];
	int rc = check_trusted(file, false, err);
	if (rc)
		return rc;
	if (!realpath(file, real))
		return bm_err_set(err, BM_ENOENT, "%s: %s", file, strerror(errno));
	if (!trust_root) {
		snprintf(root, sizeof(root), "%s", real);
		dirname(root);
	} else if (!realpath(trust_root, root)) {
		return bm_err_set(err, BM_ENOENT, "%s: %s", trust_root, strerror(errno));
	}
	for (char *slash = strrchr(real, '/'); slash && slash > real; slash = strrchr(real, '/')) {
		*slash = '\0';
		if ((rc = check_trusted(real, true, err)) != 0)
			return rc;
		if (strcmp(real, root) == 0)
			break;
	}
	return 0;
}

static int check_required(const char *path, const struct bm_plugin_desc *d, struct bm_err *err)
{
	const char *missing = !d->name ? "name" : !kind_name(d->kind) ? "kind" : !d->version ? "version"
		: !d->license ? "license" : !d->description ? "description" : !d->ops ? "ops"
		: !d->host_slot ? "host_slot" : NULL;
	if (missing)
		return bm_err_set(err, BM_EINVAL, "%s: refused: descriptor field \"%s\" is missing or invalid",
				  path, missing);
	if (d->ops->ops_size < offsetof(struct bm_plugin_ops, collect) || !d->ops->init)
		return bm_err_set(err, BM_EINVAL, "%s: refused: ops table without init", path);
	if (d->kind == BM_KIND_COLLECTOR &&
	    (d->ops->ops_size < offsetof(struct bm_plugin_ops, collect) + sizeof(void *) ||
	     !d->ops->collect))
		return bm_err_set(err, BM_EINVAL, "%s: refused: a collector needs a collect hook", path);
	return 0;
}

int loader_check_desc(const char *path, const struct bm_plugin_desc *d, struct bm_err *err)
{
	if (d->magic != BM_PLUGIN_MAGIC)
		return bm_err_set(err, BM_EABI, "%s: refused: not a bearmon plugin (magic 0x%08x, expected 0x%08x)",
				  path, d->magic, BM_PLUGIN_MAGIC);
	if (d->abi_major != BM_ABI_MAJOR)
		return bm_err_set(err, BM_EABI, "%s: refused: plugin built for ABI %u.%u, bearmond has ABI %u.%u (major differs: rebuild the plugin against this SDK)",
				  path, d->abi_major, d->abi_minor, BM_ABI_MAJOR, BM_ABI_MINOR);
	if (d->abi_minor > BM_ABI_MINOR)
		return bm_err_set(err, BM_EABI, "%s: refused: plugin built for ABI %u.%u, bearmond has ABI %u.%u (plugin is newer: upgrade bearmond)",
				  path, d->abi_major, d->abi_minor, BM_ABI_MAJOR, BM_ABI_MINOR);
	if (d->desc_size < BM_PLUGIN_DESC_MIN_SIZE)
		return bm_err_set(err, BM_EABI, "%s: refused: descriptor of %u bytes is shorter than the %zu bytes of ABI %u.0",
				  path, d->desc_size, (size_t)BM_PLUGIN_DESC_MIN_SIZE, BM_ABI_MAJOR);
	if (d->build_sig != BM_BUILD_SIG)
		return bm_err_set(err, BM_EABI, "%s: refused: not binary compatible (build signature 0x%08x, bearmond 0x%08x)",
				  path, d->build_sig, (unsigned)BM_BUILD_SIG);
	return 0;
}

/* "bm_collector_cpu" from ".../bm_collector_cpu.so" */
static void module_name(const char *path, char *out, size_t n)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(out, n, "%s", base);
	char *dot = strchr(out, '.');
	if (dot)
		*dot = '\0';
}

static int check_identity(const char *path, const struct bm_plugin_desc *d, struct bm_err *err)
{
	char mod[256], expect[256];
	module_name(path, mod, sizeof(mod));
	snprintf(expect, sizeof(expect), "bm_%s_%s", kind_name(d->kind), d->name);
	if (strcmp(mod, expect) != 0)
		return bm_err_set(err, BM_EINVAL, "%s: refused: descriptor says %s/%s, so the file must be named %s.so",
				  path, kind_name(d->kind), d->name, expect);
	for (size_t i = 0; i < g_plugins.n; i++) {
		struct plugin *p = g_plugins.v[i];
		if (strcmp(p->kind, kind_name(d->kind)) == 0 && strcmp(p->name, d->name) == 0)
			return bm_err_set(err, BM_EEXIST, "%s: refused: plugin %s/%s is already loaded from %s",
					  path, p->kind, p->name, p->path);
	}
	return 0;
}

static int check_options(const char *path, const struct bm_plugin_desc *d, struct bm_err *err)
{
	struct cfg_errs errs = {0};
	char what[PATH_MAX + 16];
	snprintf(what, sizeof(what), "%s", path);
	schema_check_table(d->options, d->config_size, what, &errs);
	for (const struct bm_option *o = d->options; o && o->name; o++)
		for (const struct bm_option *h = instance_host_options; h->name; h++)
			if (strcmp(h->name, o->name) == 0)
				cfg_errs_add(&errs, false, "%s: option \"%s\" is reserved for the host",
					     path, o->name);
	if (cfg_errs_fatal(&errs) == 0 && d->options) {
		void *scratch = calloc(1, d->config_size ? d->config_size : 1);
		if (scratch) {
			schema_defaults(d->options, scratch, what, &errs);
			schema_release(d->options, scratch);
			free(scratch);
		}
	}
	int rc = 0;
	if (cfg_errs_fatal(&errs))
		rc = bm_err_set(err, BM_EINVAL, "refused: %s", errs.lines[0][0] == '~' ? errs.lines[0] + 1 : errs.lines[0]);
	cfg_errs_free(&errs);
	return rc;
}

static int open_handle(const char *path, lt_dlhandle *out, struct bm_err *err)
{
	lt_dladvise advise;
	if (lt_dladvise_init(&advise) || lt_dladvise_ext(&advise) || lt_dladvise_local(&advise))
		return bm_err_set(err, BM_EIO, "%s: libltdl: %s", path, lt_dlerror());
	*out = lt_dlopenadvise(path, advise);
	lt_dladvise_destroy(&advise);
	if (!*out)
		return bm_err_set(err, BM_EIO, "%s: cannot load: %s (missing dependency? try ldd %s)", path,
				  lt_dlerror(), path);
	return 0;
}

static int register_plugin(const char *path, lt_dlhandle h, const struct bm_plugin_desc *d,
			   struct plugin **out)
{
	struct plugin *p = calloc(1, sizeof(*p));
	struct plugin **v = p ? realloc(g_plugins.v, (g_plugins.n + 1) * sizeof(*v)) : NULL;
	if (!v) {
		free(p);
		return BM_ENOMEM;
	}
	g_plugins.v = v;
	size_t dsz = d->desc_size < sizeof(p->desc) ? d->desc_size : sizeof(p->desc);
	memcpy(&p->desc, d, dsz);
	size_t osz = d->ops->ops_size < sizeof(p->ops) ? d->ops->ops_size : sizeof(p->ops);
	memcpy(&p->ops, d->ops, osz);
	p->live = d;
	p->handle = h;
	p->path = strdup(path);
	p->kind = strdup(kind_name(d->kind));
	p->name = strdup(d->name);
	if (!p->path || !p->kind || !p->name) {
		plugin_free(p);
		return BM_ENOMEM;
	}
	v[g_plugins.n++] = p;
	*out = p;
	return 0;
}

int loader_open(const char *path, const char *trust_root, struct plugin **out, struct bm_err *err)
{
	lt_dlhandle h = NULL;
	int rc = loader_init();
	if (!rc)
		rc = check_trust_chain(path, trust_root, err);
	if (!rc)
		rc = open_handle(path, &h, err);
	if (rc)
		return rc;
	const struct bm_plugin_desc *d = lt_dlsym(h, "bm_plugin_desc");
	if (!d) {
		rc = bm_err_set(err, BM_EABI, "%s: refused: not a bearmon plugin (no bm_plugin_desc symbol)", path);
	} else if (!(rc = loader_check_desc(path, d, err)) && !(rc = check_required(path, d, err)) &&
		   !(rc = check_identity(path, d, err)) && !(rc = check_options(path, d, err))) {
		rc = register_plugin(path, h, d, out);
		if (rc)
			bm_err_set(err, rc, "%s: out of memory", path);
	}
	if (rc)
		lt_dlclose(h);
	return rc;
}

int loader_get(const char *kind, const char *name, const struct bm_strlist *dirs,
	       struct plugin **out, struct bm_err *err)
{
	for (size_t i = 0; i < g_plugins.n; i++) {
		if (strcmp(g_plugins.v[i]->kind, kind) == 0 && strcmp(g_plugins.v[i]->name, name) == 0) {
			*out = g_plugins.v[i];
			return 0;
		}
	}
	for (size_t i = 0; i < dirs->n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/bm_%s_%s.so", dirs->v[i], kind, name);
		if (access(path, F_OK) == 0)
			return loader_open(path, dirs->v[i], out, err);
	}
	char searched[1024] = "";
	size_t used = 0;
	for (size_t i = 0; i < dirs->n && used < sizeof(searched); i++) {
		int w = snprintf(searched + used, sizeof(searched) - used, "%s%s", i ? ", " : "", dirs->v[i]);
		used += w > 0 ? (size_t)w : 0;
	}
	return bm_err_set(err, BM_ENOENT, "plugin %s/%s not found: no bm_%s_%s.so in %s", kind, name,
			  kind, name, searched[0] ? searched : "(no plugin_dirs)");
}
