/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed config option tables. A plugin declares what it accepts; the host
 * validates the user's config against the table (type, bounds, required,
 * unknown names) and fills a zeroed struct of the plugin's own type at the
 * declared offsets. The plugin never sees libconfig.
 */
#ifndef BEARMON_BM_OPTION_H
#define BEARMON_BM_OPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Option types and the C type of the field at `offset` that each fills:
 *
 *   BM_OPT_BOOL         bool          true / false
 *   BM_OPT_INT          int64_t       42            bounds: min, max
 *   BM_OPT_DOUBLE       double        0.5 or 1      bounds: min, max
 *   BM_OPT_STRING       char *        "text"        NULL when unset and no default
 *   BM_OPT_DURATION     int64_t (ms)  "1500ms", "10s", "5m", "2h", "1d"
 *                                                   bounds in ms
 *   BM_OPT_SIZE         uint64_t      "64MiB", "1GB", 4096 (bytes)
 *                                                   bounds in bytes
 *   BM_OPT_ENUM         int           "warn"        index into enum_values
 *   BM_OPT_STRING_LIST  struct bm_strlist  ["a", "b"] (a single string is a
 *                                                   list of one)
 *   BM_OPT_MAP          struct bm_map      { host = "a"; dc = "b"; }
 *   BM_OPT_GROUP        a struct embedded at offset, filled from `sub`
 *   BM_OPT_GROUP_LIST   struct bm_group_list  ( { ... }, { ... } ), each
 *                                                   item sub_size bytes
 *
 * A default is written the way a user would write the value in the config
 * file, as a string ("10s", "true", "[\"a\",\"b\"]" is not supported: lists,
 * maps and groups default to empty, group members to their own defaults).
 */
enum bm_option_type {
	BM_OPT_BOOL = 1,
	BM_OPT_INT,
	BM_OPT_DOUBLE,
	BM_OPT_STRING,
	BM_OPT_DURATION,
	BM_OPT_SIZE,
	BM_OPT_ENUM,
	BM_OPT_STRING_LIST,
	BM_OPT_MAP,
	BM_OPT_GROUP,
	BM_OPT_GROUP_LIST,
};

enum bm_option_flags {
	BM_OPTF_REQUIRED = 1u << 0,   /* missing = config error */
	BM_OPTF_DEPRECATED = 1u << 1, /* accepted with a warning */
	BM_OPTF_SECRET = 1u << 2,     /* value never logged or shown */
	BM_OPTF_BOUNDED = 1u << 3,    /* min and max below are in force */
};

/* A list of strings filled by the host. Owned by the host until fini. */
struct bm_strlist {
	size_t n;
	char **v;
};

/* String-to-string map (labels). Insertion order of the config file.
 * Owned by the host until fini. */
struct bm_map {
	size_t n;
	char **keys;
	char **values;
};

/* A list of groups: n items of the option's sub_size bytes each, laid out
 * contiguously at items. Owned by the host until fini. */
struct bm_group_list {
	size_t n;
	void *items;
};

/* One entry of an option table; tables end with an entry whose name is
 * NULL ({0}). Every string is static and owned by the plugin. */
struct bm_option {
	const char *name;                /* snake_case key in the config */
	enum bm_option_type type;
	const char *def;                 /* default as config text, or NULL */
	unsigned flags;                  /* enum bm_option_flags */
	size_t offset;                   /* offsetof(struct plugin_conf, field) */
	double min, max;                 /* with BM_OPTF_BOUNDED */
	const char *const *enum_values;  /* BM_OPT_ENUM: NULL-terminated */
	const char *help;                /* one line, lowercase, no period */
	const struct bm_option *sub;     /* GROUP, GROUP_LIST: member table */
	size_t sub_size;                 /* GROUP_LIST: sizeof one item */
};

/* Convenience initialisers for the common cases. */
#define BM_OPTION(n, t, d, st, field, h) \
	{ .name = (n), .type = (t), .def = (d), .offset = offsetof(st, field), .help = (h) }
#define BM_OPTION_BOUNDED(n, t, d, st, field, lo, hi, h)                             \
	{ .name = (n), .type = (t), .def = (d), .flags = BM_OPTF_BOUNDED,            \
	  .offset = offsetof(st, field), .min = (lo), .max = (hi), .help = (h) }
#define BM_OPTION_END { .name = NULL }

/* Accessor for item i of a filled group list whose items are of type T. */
#define BM_GROUP_ITEM(list, T, i) (&((T *)(list).items)[(i)])

/* Look up a key in a filled map; NULL when absent. */
static inline const char *bm_map_get(const struct bm_map *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++) {
		const char *a = m->keys[i];
		const char *b = key;
		while (*a && *a == *b) {
			a++;
			b++;
		}
		if (*a == *b)
			return m->values[i];
	}
	return NULL;
}

#ifdef __cplusplus
}
#endif
#endif /* BEARMON_BM_OPTION_H */
