/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The option reference of bearmon.conf(5) as troff, written from the core
 * option table, the instance keys and every installed plugin's descriptor
 * (see manpage.h). packaging/man/ wraps it into the manual pages.
 */
#define _GNU_SOURCE
#include "manpage.h"

#include <glob.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "plugin_loader.h"

/* Text as troff reads it literally: backslashes escaped, and a leading
 * dot or quote (a request) defused. breakable: a value such as a long
 * regex may break after | , and / (troff's \: break point). */
static void troff_write(FILE *out, const char *s, bool breakable)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '\n')
			fputs("\n.br\n", out);
		else
			fputc(*s, out);
		if (breakable && (*s == '|' || *s == ',' || *s == '/'))
			fputs("\\:", out);
	}
}

static void troff_text(FILE *out, const char *s)
{
	troff_write(out, s, false);
}

/* "90s" as "1m30s" is no clearer: the largest unit that divides evenly. */
static void format_duration(char *buf, size_t n, double ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	int64_t v = (int64_t)ms;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (v != 0 && v % units[i].ms == 0) {
			snprintf(buf, n, "%" PRId64 "%s", v / units[i].ms, units[i].unit);
			return;
		}
	}
	snprintf(buf, n, "0s");
}

static void format_size(char *buf, size_t n, double bytes)
{
	static const struct {
		const char *unit;
		uint64_t bytes;
	} units[] = {{"GiB", 1u << 30}, {"MiB", 1u << 20}, {"KiB", 1u << 10}};
	uint64_t v = (uint64_t)bytes;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (v != 0 && v % units[i].bytes == 0) {
			snprintf(buf, n, "%" PRIu64 "%s", v / units[i].bytes, units[i].unit);
			return;
		}
	}
	snprintf(buf, n, "%" PRIu64, v);
}

/* A bound written the way the config takes it. */
static void format_bound(char *buf, size_t n, enum bm_option_type t, double v)
{
	if (t == BM_OPT_DURATION)
		format_duration(buf, n, v);
	else if (t == BM_OPT_SIZE)
		format_size(buf, n, v);
	else if (t == BM_OPT_INT)
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, "%g", v);
}

/* "(duration; default 10s; 100ms to 1h; required)" */
static void option_facts(FILE *out, const struct bm_option *o)
{
	fprintf(out, "(%s", schema_type_name(o->type));
	if (o->def) {
		fputs("; default \\fI", out);
		troff_write(out, o->def, true);
		fputs("\\fR", out);
	}
	if (o->flags & BM_OPTF_BOUNDED) {
		char lo[32], hi[32];
		format_bound(lo, sizeof(lo), o->type, o->min);
		format_bound(hi, sizeof(hi), o->type, o->max);
		fprintf(out, "; %s to %s", lo, hi);
	}
	if (o->type == BM_OPT_ENUM && o->enum_values) {
		fputs("; one of", out);
		for (const char *const *e = o->enum_values; *e; e++)
			fprintf(out, "%s \\fB%s\\fR", e == o->enum_values ? "" : ",", *e);
	}
	if (o->flags & BM_OPTF_REQUIRED)
		fputs("; required", out);
	if (o->flags & BM_OPTF_SECRET)
		fputs("; secret: never logged or shown", out);
	if (o->flags & BM_OPTF_DEPRECATED)
		fputs("; deprecated", out);
	fputs(")\n", out);
}

/* One .TP entry per option, groups and lists of groups flattened the way
 * --set names them (http.listen, targets.N.url). */
static void dump_table(FILE *out, const struct bm_option *opts, const char *prefix)
{
	for (const struct bm_option *o = opts; o && o->name; o++) {
		fprintf(out, ".TP\n\\fB%s%s\\fR ", prefix, o->name);
		option_facts(out, o);
		troff_text(out, o->help ? o->help : "(no help text)");
		fputc('\n', out);
		if (o->sub && (o->type == BM_OPT_GROUP || o->type == BM_OPT_GROUP_LIST)) {
			char sub[256];
			snprintf(sub, sizeof(sub), "%s%s%s.", prefix, o->name,
				 o->type == BM_OPT_GROUP_LIST ? ".N" : "");
			dump_table(out, o->sub, sub);
		}
	}
}

/* Load every bm_*.so of every plugin dir. A plugin found again in a later
 * dir is shadowed (the loader takes the first hit), not an error. */
static int load_installed(const struct bm_strlist *dirs)
{
	int rc = 0;
	for (size_t i = 0; i < dirs->n; i++) {
		char *pattern = NULL;
		glob_t g = {0};
		if (asprintf(&pattern, "%s/bm_*.so", dirs->v[i]) < 0)
			return 1;
		if (glob(pattern, 0, NULL, &g) == 0) {
			for (size_t k = 0; k < g.gl_pathc; k++) {
				struct plugin *p;
				struct bm_err err = {0};
				int lrc = loader_open(g.gl_pathv[k], dirs->v[i], &p, &err);
				if (lrc && lrc != BM_EEXIST) {
					fprintf(stderr, "bearmond: %s\n", err.msg);
					rc = 1;
				}
			}
		}
		globfree(&g);
		free(pattern);
	}
	return rc;
}

static int by_kind_then_name(const void *a, const void *b)
{
	const struct plugin *pa = *(const struct plugin *const *)a;
	const struct plugin *pb = *(const struct plugin *const *)b;
	if (pa->desc.kind != pb->desc.kind)
		return pa->desc.kind < pb->desc.kind ? -1 : 1;
	return strcmp(pa->name, pb->name);
}

static void dump_plugin(FILE *out, const struct plugin *p)
{
	fprintf(out, ".SS %s/%s\n", p->kind, p->name);
	troff_text(out, p->desc.description);
	fprintf(out, ".\n.br\nVersion %s, licence %s. Instance block:\n"
		     "\\fINAME\\fR = { plugin = \"%s/%s\"; ... };\n",
		p->desc.version, p->desc.license, p->kind, p->name);
	if (p->desc.options && p->desc.options->name)
		dump_table(out, p->desc.options, "");
	else
		fputs(".br\nNo options besides the instance keys.\n", out);
}

static int dump_plugins(FILE *out, const struct bm_strlist *dirs)
{
	int rc = load_installed(dirs);
	size_t n = loader_count();
	struct plugin **v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return 1;
	for (size_t i = 0; i < n; i++)
		v[i] = loader_at(i);
	qsort(v, n, sizeof(*v), by_kind_then_name);
	fputs(".SH PLUGINS\n"
	      "Every plugin installed in the plugin directories, with its own options.\n"
	      "They go into its instance blocks beside the instance keys.\n", out);
	for (size_t i = 0; i < n; i++)
		dump_plugin(out, v[i]);
	free(v);
	return rc;
}

int manpage_dump_options(const char *config, char *const *overrides, size_t n, FILE *out)
{
	struct cfg_errs errs = {0};
	struct cfg *cfg = cfg_load(config, overrides, n, &errs);
	int rc = 1;
	if (!cfg || cfg_errs_fatal(&errs)) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "bearmond: %s\n", errs.lines[i]);
		fprintf(stderr, "bearmond: --dump-options needs a readable config for its plugin_dirs "
				"(-c /dev/null --set plugin_dirs=DIR works)\n");
		goto out;
	}
	fputs(".SH CORE OPTIONS\n"
	      "Top-level keys and the core sections, named as --set takes them.\n", out);
	dump_table(out, core_options, "");
	fputs(".SH INSTANCE BLOCKS\n"
	      "Keys that every instance block has, whatever its plugin.\n", out);
	dump_table(out, instance_host_options, "");
	rc = dump_plugins(out, &cfg->core.plugin_dirs);
out:
	cfg_errs_free(&errs);
	cfg_free(cfg);
	loader_exit();
	return rc;
}
