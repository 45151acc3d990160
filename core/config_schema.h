/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed option tables (bm_option.h) applied to libconfig settings: the
 * validator behind every core option and every plugin instance's options.
 */
#ifndef BEARMON_CORE_CONFIG_SCHEMA_H
#define BEARMON_CORE_CONFIG_SCHEMA_H

#include <libconfig.h>
#include <stdbool.h>

#include "bearmon/bm_option.h"

/* Collected error lines, each "FILE:LINE: what". */
struct cfg_errs {
	char **lines;
	size_t n;
	size_t warnings; /* lines that are warnings only (logged, not fatal) */
};

__attribute__((format(printf, 3, 4))) void cfg_errs_add(struct cfg_errs *e, bool warning,
							const char *fmt, ...);
size_t cfg_errs_fatal(const struct cfg_errs *e);
void cfg_errs_free(struct cfg_errs *e);

/* One option table and the struct it fills. out NULL: the table's names
 * are accepted but not filled (validated elsewhere); opts NULL: any name
 * is accepted (a lenient first pass). */
struct schema_part {
	const struct bm_option *opts;
	void *out;
};

/*
 * Validate group against the union of parts (each member must belong to
 * exactly one table) and fill each part's struct; defaults fill what is
 * absent. what names the block in messages, e.g. `instance "cpu" (collector/cpu)`.
 * Settings created by --set carry the override mark and are parsed from
 * text whatever the option's type. Returns the number of new fatal errors.
 */
size_t schema_fill(const struct schema_part *parts, size_t n_parts, const config_setting_t *group,
		   const char *what, struct cfg_errs *errs);

/* Fill only the defaults of opts into out (no config block). */
size_t schema_defaults(const struct bm_option *opts, void *out, const char *what,
		       struct cfg_errs *errs);

/* Free what schema_fill allocated inside out (not out itself). */
void schema_release(const struct bm_option *opts, void *out);

/* Check that a plugin's table is well formed (types, enum values, groups,
 * every field inside config_size). Returns the number of errors added. */
size_t schema_check_table(const struct bm_option *opts, size_t config_size, const char *what,
			  struct cfg_errs *errs);

/* Parse "10s", "1500ms", "5m", "2h", "1d", "1h30m" into ms. */
bool parse_duration_ms(const char *s, int64_t *out);
/* Parse "64MiB", "1GB", "4096" into bytes. */
bool parse_size(const char *s, uint64_t *out);

/* Marks a setting that came from --set (its hook). */
extern int cfg_override_mark;

/* Human name of an option type ("duration"). */
const char *schema_type_name(enum bm_option_type t);

/* The option name closest to name (a typo), or NULL. */
const char *schema_suggest(const struct bm_option *opts, const char *name);

/* Levenshtein distance, capped: for "did you mean". */
int edit_distance(const char *a, const char *b);

#endif
