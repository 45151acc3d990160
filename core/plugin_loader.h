/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading plugin code with libltdl and checking its descriptor before
 * trusting it. A plugin is code, loaded once and kept resident; instances
 * (instance.h) are its configured copies.
 */
#ifndef BEARMON_CORE_PLUGIN_LOADER_H
#define BEARMON_CORE_PLUGIN_LOADER_H

#include <stdbool.h>

#include "bearmon/bm_plugin.h"
#include "config_schema.h"

struct plugin {
	char *path;
	char *kind;
	char *name;
	void *handle;                /* lt_dlhandle */
	struct bm_plugin_desc desc;  /* zero-extended copy of the descriptor */
	struct bm_plugin_ops ops;    /* zero-extended copy of the ops */
	const struct bm_plugin_desc *live; /* the plugin's own descriptor */
};

int loader_init(void);
void loader_exit(void);

const char *kind_name(enum bm_plugin_kind kind);

/* Find bm_KIND_NAME.so in dirs (first hit) and load it, or return the
 * already loaded one. err names the file and the reason. */
int loader_get(const char *kind, const char *name, const struct bm_strlist *dirs,
	       struct plugin **out, struct bm_err *err);

/* Load one file (bearmonctl check-plugin, tests). trust_root: directory up
 * to which ownership and permissions are checked (NULL: the file's own
 * directory). */
int loader_open(const char *path, const char *trust_root, struct plugin **out, struct bm_err *err);

/* Check a descriptor as loaded from path (exposed for tests). */
int loader_check_desc(const char *path, const struct bm_plugin_desc *d, struct bm_err *err);

/* Every loaded plugin, for status and --plugin NAME --help. */
size_t loader_count(void);
struct plugin *loader_at(size_t i);

#endif
