/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The option validator: checks libconfig settings against bm_option tables
 * (type, bounds, required, unknown names with a "did you mean" hint) and
 * fills the caller's struct at the declared offsets. Every message starts
 * with FILE:LINE (or "--set PATH" for command-line overrides).
 */
#define _GNU_SOURCE
#include "config_schema.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cfg_override_mark;

void cfg_errs_add(struct cfg_errs *e, bool warning, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	char **v = realloc(e->lines, (e->n + 1) * sizeof(*v));
	if (!v) {
		free(line);
		return;
	}
	/* warnings are marked with a leading '~' that printers strip */
	if (warning) {
		char *w = NULL;
		if (asprintf(&w, "~%s", line) < 0) {
			free(line);
			e->lines = v;
			return;
		}
		free(line);
		line = w;
		e->warnings++;
	}
	v[e->n++] = line;
	e->lines = v;
}

size_t cfg_errs_fatal(const struct cfg_errs *e) { return e->n - e->warnings; }

void cfg_errs_free(struct cfg_errs *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->lines[i]);
	free(e->lines);
	memset(e, 0, sizeof(*e));
}

const char *schema_type_name(enum bm_option_type t)
{
	static const char *const names[] = {
		[BM_OPT_BOOL] = "boolean",      [BM_OPT_INT] = "integer",
		[BM_OPT_DOUBLE] = "number",     [BM_OPT_STRING] = "string",
		[BM_OPT_DURATION] = "duration", [BM_OPT_SIZE] = "size",
		[BM_OPT_ENUM] = "enum",         [BM_OPT_STRING_LIST] = "string list",
		[BM_OPT_MAP] = "map",           [BM_OPT_GROUP] = "group",
		[BM_OPT_GROUP_LIST] = "group list",
	};
	if ((int)t < BM_OPT_BOOL || t > BM_OPT_GROUP_LIST)
		return "?";
	return names[t];
}

int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 99;
	int d[64][64];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			int del = d[i - 1][j] + 1;
			int ins = d[i][j - 1] + 1;
			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	}
	return d[la][lb];
}

bool parse_duration_ms(const char *s, int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	double total = 0;
	const char *p = s;
	if (!*p)
		return false;
	while (*p) {
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno || v < 0 || !isfinite(v))
			return false;
		p = end;
		size_t ulen = 0;
		while (isalpha((unsigned char)p[ulen]))
			ulen++;
		int64_t mult = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].unit) == ulen && strncmp(p, units[i].unit, ulen) == 0)
				mult = units[i].ms;
		if (!mult)
			return false;
		total += v * (double)mult;
		p += ulen;
	}
	if (total > 9.2e18)
		return false;
	*out = (int64_t)llround(total);
	return true;
}

bool parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {{"", 1},       {"B", 1},          {"KB", 1e3},        {"MB", 1e6},
		     {"GB", 1e9},   {"TB", 1e12},      {"KiB", 1024.0},    {"MiB", 1048576.0},
		     {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}, {"K", 1024.0},
		     {"M", 1048576.0}, {"G", 1073741824.0}};
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || v < 0 || !isfinite(v))
		return false;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			double b = v * units[i].mult;
			if (b > 1.8e19)
				return false;
			*out = (uint64_t)llround(b);
			return true;
		}
	}
	return false;
}

static bool is_override(const config_setting_t *s)
{
	return config_setting_get_hook(s) == &cfg_override_mark;
}

/* "a.b.0.c" for messages about --set overrides. */
static void setting_path(const config_setting_t *s, char *buf, size_t n)
{
	const config_setting_t *chain[32];
	int depth = 0;
	for (; s && !config_setting_is_root(s) && depth < 32; s = config_setting_parent(s))
		chain[depth++] = s;
	size_t used = 0;
	buf[0] = '\0';
	for (int i = depth - 1; i >= 0 && used < n; i--) {
		const char *name = config_setting_name(chain[i]);
		int w = name ? snprintf(buf + used, n - used, "%s%s", used ? "." : "", name)
			     : snprintf(buf + used, n - used, "%s%d", used ? "." : "",
					config_setting_index(chain[i]));
		used += w > 0 ? (size_t)w : 0;
	}
}

/* Where a setting came from: "FILE:LINE" or "--set PATH". */
static void where(const config_setting_t *s, char *buf, size_t n)
{
	for (const config_setting_t *p = s; p; p = config_setting_parent(p)) {
		if (is_override(p)) {
			char path[256];
			setting_path(s, path, sizeof(path));
			snprintf(buf, n, "--set %s", path);
			return;
		}
	}
	const char *file = config_setting_source_file(s);
	snprintf(buf, n, "%s:%u", file ? file : "<config>", config_setting_source_line(s));
}

static size_t field_size(enum bm_option_type t)
{
	switch (t) {
	case BM_OPT_BOOL: return sizeof(bool);
	case BM_OPT_INT: return sizeof(int64_t);
	case BM_OPT_DOUBLE: return sizeof(double);
	case BM_OPT_STRING: return sizeof(char *);
	case BM_OPT_DURATION: return sizeof(int64_t);
	case BM_OPT_SIZE: return sizeof(uint64_t);
	case BM_OPT_ENUM: return sizeof(int);
	case BM_OPT_STRING_LIST: return sizeof(struct bm_strlist);
	case BM_OPT_MAP: return sizeof(struct bm_map);
	case BM_OPT_GROUP_LIST: return sizeof(struct bm_group_list);
	default: return 0;
	}
}

static bool check_bounds(const struct bm_option *o, double v, char *why, size_t wn)
{
	if (!(o->flags & BM_OPTF_BOUNDED) || (v >= o->min && v <= o->max))
		return true;
	if (o->type == BM_OPT_DURATION)
		snprintf(why, wn, "out of bounds: must be between %gms and %gms", o->min, o->max);
	else
		snprintf(why, wn, "out of bounds: must be between %g and %g", o->min, o->max);
	return false;
}

static void enum_list(const struct bm_option *o, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; o->enum_values && o->enum_values[i] && used < n; i++) {
		int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", o->enum_values[i]);
		used += w > 0 ? (size_t)w : 0;
	}
}

static int strlist_push(struct bm_strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -1;
	l->v = v;
	if (!(v[l->n] = strdup(s)))
		return -1;
	l->n++;
	return 0;
}

static int map_put(struct bm_map *m, const char *k, const char *val)
{
	char **ks = realloc(m->keys, (m->n + 1) * sizeof(*ks));
	if (!ks)
		return -1;
	m->keys = ks;
	char **vs = realloc(m->values, (m->n + 1) * sizeof(*vs));
	if (!vs)
		return -1;
	m->values = vs;
	ks[m->n] = strdup(k);
	vs[m->n] = strdup(val);
	if (!ks[m->n] || !vs[m->n]) {
		free(ks[m->n]);
		free(vs[m->n]);
		return -1;
	}
	m->n++;
	return 0;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return (*out = true);
		if (strcasecmp(s, no[i]) == 0)
			return !(*out = false);
	}
	return false;
}

/* Fill a scalar-ish field from text (defaults and --set). Lists are comma
 * separated, maps "k=v,k2=v2". */
static bool from_text(const struct bm_option *o, const char *text, void *field, char *why,
		      size_t wn)
{
	char *end;
	switch (o->type) {
	case BM_OPT_BOOL:
		if (parse_bool(text, field))
			return true;
		snprintf(why, wn, "expected a boolean (true or false), got \"%s\"", text);
		return false;
	case BM_OPT_INT: {
		errno = 0;
		long long v = strtoll(text, &end, 0);
		if (end == text || *end || errno) {
			snprintf(why, wn, "expected an integer, got \"%s\"", text);
			return false;
		}
		*(int64_t *)field = v;
		return check_bounds(o, (double)v, why, wn);
	}
	case BM_OPT_DOUBLE: {
		errno = 0;
		double v = strtod(text, &end);
		if (end == text || *end || errno) {
			snprintf(why, wn, "expected a number, got \"%s\"", text);
			return false;
		}
		*(double *)field = v;
		return check_bounds(o, v, why, wn);
	}
	case BM_OPT_STRING:
		free(*(char **)field);
		return (*(char **)field = strdup(text)) != NULL;
	case BM_OPT_DURATION:
		if (!parse_duration_ms(text, field)) {
			snprintf(why, wn, "expected a duration such as \"500ms\", \"10s\", \"5m\", \"1h\", got \"%s\"", text);
			return false;
		}
		return check_bounds(o, (double)*(int64_t *)field, why, wn);
	case BM_OPT_SIZE:
		if (!parse_size(text, field)) {
			snprintf(why, wn, "expected a size such as \"4096\", \"64KiB\", \"16MiB\", got \"%s\"", text);
			return false;
		}
		return check_bounds(o, (double)*(uint64_t *)field, why, wn);
	case BM_OPT_ENUM:
		for (int i = 0; o->enum_values && o->enum_values[i]; i++) {
			if (strcmp(o->enum_values[i], text) == 0) {
				*(int *)field = i;
				return true;
			}
		}
		char allowed[256];
		enum_list(o, allowed, sizeof(allowed));
		snprintf(why, wn, "\"%s\" is not one of: %s", text, allowed);
		return false;
	case BM_OPT_STRING_LIST: {
		char *copy = strdup(text), *save = NULL;
		bool ok = copy != NULL;
		for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && ok;
		     t = strtok_r(NULL, ",", &save))
			ok = strlist_push(field, t) == 0;
		free(copy);
		return ok;
	}
	case BM_OPT_MAP: {
		char *copy = strdup(text), *save = NULL;
		bool ok = copy != NULL;
		for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && ok;
		     t = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(t, '=');
			if (!eq) {
				snprintf(why, wn, "expected KEY=VALUE pairs separated by commas, got \"%s\"", t);
				ok = false;
				break;
			}
			*eq = '\0';
			ok = map_put(field, t, eq + 1) == 0;
		}
		free(copy);
		return ok;
	}
	default:
		snprintf(why, wn, "a %s cannot be given as text", schema_type_name(o->type));
		return false;
	}
}

static const char *setting_type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "something else";
	}
}

/* The text of a scalar setting (for MAP values given as numbers). */
static void scalar_text(const config_setting_t *s, char *buf, size_t n)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING: snprintf(buf, n, "%s", config_setting_get_string(s)); break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: snprintf(buf, n, "%lld", config_setting_get_int64(s)); break;
	case CONFIG_TYPE_FLOAT: snprintf(buf, n, "%.17g", config_setting_get_float(s)); break;
	case CONFIG_TYPE_BOOL: snprintf(buf, n, "%s", config_setting_get_bool(s) ? "true" : "false"); break;
	default: buf[0] = '\0';
	}
}

struct fill_ctx {
	const char *what;
	struct cfg_errs *errs;
	size_t errors;
};

static void fill_error(struct fill_ctx *fc, const config_setting_t *s, const char *opath,
		       const char *why)
{
	char loc[512];
	where(s, loc, sizeof(loc));
	cfg_errs_add(fc->errs, false, "%s: %s: option \"%s\": %s", loc, fc->what, opath, why);
	fc->errors++;
}

static size_t fill_group(struct fill_ctx *fc, const struct schema_part *parts, size_t n_parts,
			 const config_setting_t *group, const char *prefix);

static bool fill_list_items(struct fill_ctx *fc, const struct bm_option *o,
			    const config_setting_t *s, void *field, const char *opath)
{
	struct bm_group_list *gl = field;
	bool single = config_setting_type(s) == CONFIG_TYPE_GROUP;
	int n = single ? 1 : config_setting_length(s);
	if (!single && config_setting_type(s) != CONFIG_TYPE_LIST) {
		char why[128];
		snprintf(why, sizeof(why), "expected a list of groups ( { ... }, ... ), got %s",
			 setting_type_name(s));
		fill_error(fc, s, opath, why);
		return false;
	}
	gl->items = calloc(n ? (size_t)n : 1, o->sub_size);
	if (!gl->items)
		return false;
	gl->n = (size_t)n;
	for (int i = 0; i < n; i++) {
		const config_setting_t *item = single ? s : config_setting_get_elem(s, (unsigned)i);
		char ipath[300];
		snprintf(ipath, sizeof(ipath), "%s.%d", opath, i);
		if (config_setting_type(item) != CONFIG_TYPE_GROUP) {
			char why[128];
			snprintf(why, sizeof(why), "expected a group { ... }, got %s", setting_type_name(item));
			fill_error(fc, item, ipath, why);
			continue;
		}
		struct schema_part p = {o->sub, (char *)gl->items + (size_t)i * o->sub_size};
		fill_group(fc, &p, 1, item, ipath);
	}
	return true;
}

static bool fill_strlist(struct fill_ctx *fc, const config_setting_t *s, void *field,
			 const char *opath)
{
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return strlist_push(field, config_setting_get_string(s)) == 0;
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST) {
		char why[128];
		snprintf(why, sizeof(why), "expected a list of strings [\"a\", \"b\"], got %s",
			 setting_type_name(s));
		fill_error(fc, s, opath, why);
		return false;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			char why[128];
			snprintf(why, sizeof(why), "element %d: expected a string, got %s", i,
				 setting_type_name(e));
			fill_error(fc, e, opath, why);
			return false;
		}
		if (strlist_push(field, config_setting_get_string(e)))
			return false;
	}
	return true;
}

static bool fill_map(struct fill_ctx *fc, const config_setting_t *s, void *field, const char *opath)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		char why[128];
		snprintf(why, sizeof(why), "expected a map { key = \"value\"; ... }, got %s",
			 setting_type_name(s));
		fill_error(fc, s, opath, why);
		return false;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char text[512];
		if (config_setting_is_aggregate(e)) {
			char why[160];
			snprintf(why, sizeof(why), "key \"%s\": expected a string value, got %s",
				 config_setting_name(e), setting_type_name(e));
			fill_error(fc, e, opath, why);
			return false;
		}
		scalar_text(e, text, sizeof(text));
		if (map_put(field, config_setting_name(e), text))
			return false;
	}
	return true;
}

/* Native libconfig value for a scalar option, or text for strings. */
static bool fill_scalar(struct fill_ctx *fc, const struct bm_option *o, const config_setting_t *s,
			void *field, const char *opath)
{
	char why[320] = "";
	int t = config_setting_type(s);
	bool ok;
	if (t == CONFIG_TYPE_STRING && (is_override(s) || o->type == BM_OPT_STRING ||
					o->type == BM_OPT_DURATION || o->type == BM_OPT_SIZE ||
					o->type == BM_OPT_ENUM)) {
		ok = from_text(o, config_setting_get_string(s), field, why, sizeof(why));
	} else if (o->type == BM_OPT_BOOL && t == CONFIG_TYPE_BOOL) {
		*(bool *)field = config_setting_get_bool(s);
		ok = true;
	} else if (o->type == BM_OPT_INT && (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)) {
		*(int64_t *)field = config_setting_get_int64(s);
		ok = check_bounds(o, (double)*(int64_t *)field, why, sizeof(why));
	} else if (o->type == BM_OPT_DOUBLE &&
		   (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT)) {
		*(double *)field = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
							  : (double)config_setting_get_int64(s);
		ok = check_bounds(o, *(double *)field, why, sizeof(why));
	} else if (o->type == BM_OPT_SIZE && (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) &&
		   config_setting_get_int64(s) >= 0) {
		*(uint64_t *)field = (uint64_t)config_setting_get_int64(s);
		ok = check_bounds(o, (double)*(uint64_t *)field, why, sizeof(why));
	} else if (o->type == BM_OPT_DURATION && (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)) {
		snprintf(why, sizeof(why), "a duration needs a unit: write \"%llds\" or \"%lldms\"",
			 config_setting_get_int64(s), config_setting_get_int64(s));
		ok = false;
	} else {
		snprintf(why, sizeof(why), "expected %s%s, got %s",
			 o->type == BM_OPT_INT ? "an " : "a ", schema_type_name(o->type),
			 setting_type_name(s));
		ok = false;
	}
	if (!ok && why[0])
		fill_error(fc, s, opath, why);
	return ok;
}

static void fill_option(struct fill_ctx *fc, const struct bm_option *o, const config_setting_t *s,
			void *base, const char *opath)
{
	void *field = (char *)base + o->offset;
	switch (o->type) {
	case BM_OPT_GROUP:
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			char why[128];
			snprintf(why, sizeof(why), "expected a group { ... }, got %s", setting_type_name(s));
			fill_error(fc, s, opath, why);
			return;
		}
		struct schema_part p = {o->sub, field};
		fill_group(fc, &p, 1, s, opath);
		return;
	case BM_OPT_GROUP_LIST:
		fill_list_items(fc, o, s, field, opath);
		return;
	case BM_OPT_STRING_LIST:
		if (is_override(s) && config_setting_type(s) == CONFIG_TYPE_STRING)
			break;
		fill_strlist(fc, s, field, opath);
		return;
	case BM_OPT_MAP:
		if (is_override(s) && config_setting_type(s) == CONFIG_TYPE_STRING)
			break;
		fill_map(fc, s, field, opath);
		return;
	default:
		fill_scalar(fc, o, s, field, opath);
		return;
	}
	/* list or map given as text on the command line */
	char why[320] = "";
	if (!from_text(o, config_setting_get_string(s), field, why, sizeof(why)) && why[0])
		fill_error(fc, s, opath, why);
}

static void fill_default(struct fill_ctx *fc, const struct bm_option *o, void *base,
			 const char *opath)
{
	void *field = (char *)base + o->offset;
	if (o->type == BM_OPT_GROUP) {
		struct schema_part p = {o->sub, field};
		fill_group(fc, &p, 1, NULL, opath);
		return;
	}
	if (!o->def)
		return;
	char why[320] = "";
	if (!from_text(o, o->def, field, why, sizeof(why))) {
		cfg_errs_add(fc->errs, false, "%s: option \"%s\": bad default \"%s\" in the plugin: %s",
			     fc->what, opath, o->def, why);
		fc->errors++;
	}
}

static const struct bm_option *find_option(const struct schema_part *parts, size_t n_parts,
					   const char *name, size_t *part)
{
	for (size_t p = 0; p < n_parts; p++)
		for (const struct bm_option *o = parts[p].opts; o && o->name; o++)
			if (strcmp(o->name, name) == 0) {
				*part = p;
				return o;
			}
	return NULL;
}

static bool accepts_any(const struct schema_part *parts, size_t n_parts)
{
	for (size_t p = 0; p < n_parts; p++)
		if (!parts[p].opts)
			return true;
	return false;
}

const char *schema_suggest(const struct bm_option *opts, const char *name)
{
	const char *best = NULL;
	int best_d = 3;
	for (const struct bm_option *o = opts; o && o->name; o++) {
		int d = edit_distance(name, o->name);
		if (d < best_d && d <= (int)strlen(o->name) / 2) {
			best_d = d;
			best = o->name;
		}
	}
	return best;
}

static void unknown_option(struct fill_ctx *fc, const struct schema_part *parts, size_t n_parts,
			   const config_setting_t *s, const char *opath)
{
	const char *best = NULL;
	char allowed[1024] = "";
	size_t used = 0;
	for (size_t p = 0; p < n_parts; p++) {
		if (!best)
			best = schema_suggest(parts[p].opts, config_setting_name(s));
		for (const struct bm_option *o = parts[p].opts; o && o->name; o++) {
			int w = snprintf(allowed + used, sizeof(allowed) - used, "%s%s",
					 used ? ", " : "", o->name);
			if (w > 0 && used + (size_t)w < sizeof(allowed))
				used += (size_t)w;
		}
	}
	char why[1400];
	if (best)
		snprintf(why, sizeof(why), "unknown option; did you mean \"%s\"? allowed: %s", best,
			 allowed[0] ? allowed : "(none)");
	else
		snprintf(why, sizeof(why), "unknown option; allowed: %s", allowed[0] ? allowed : "(none)");
	fill_error(fc, s, opath, why);
}

static size_t fill_group(struct fill_ctx *fc, const struct schema_part *parts, size_t n_parts,
			 const config_setting_t *group, const char *prefix)
{
	size_t before = fc->errors;
	char opath[256];
	/* unknown keys first, in file order */
	for (int i = 0; group && i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		size_t part;
		snprintf(opath, sizeof(opath), "%s%s%s", prefix, *prefix ? "." : "",
			 config_setting_name(s));
		if (!find_option(parts, n_parts, config_setting_name(s), &part) &&
		    !accepts_any(parts, n_parts))
			unknown_option(fc, parts, n_parts, s, opath);
	}
	for (size_t p = 0; p < n_parts; p++) {
		if (!parts[p].out)
			continue; /* names known, filled elsewhere */
		for (const struct bm_option *o = parts[p].opts; o && o->name; o++) {
			const config_setting_t *s = group ? config_setting_get_member(group, o->name) : NULL;
			snprintf(opath, sizeof(opath), "%s%s%s", prefix, *prefix ? "." : "", o->name);
			if (!s) {
				if (o->flags & BM_OPTF_REQUIRED) {
					char loc[512];
					if (group)
						where(group, loc, sizeof(loc));
					else
						snprintf(loc, sizeof(loc), "<config>");
					cfg_errs_add(fc->errs, false, "%s: %s: option \"%s\": required but not set (%s)",
						     loc, fc->what, opath, o->help ? o->help : schema_type_name(o->type));
					fc->errors++;
				}
				fill_default(fc, o, parts[p].out, opath);
				continue;
			}
			if (o->flags & BM_OPTF_DEPRECATED) {
				char loc[512];
				where(s, loc, sizeof(loc));
				cfg_errs_add(fc->errs, true, "%s: %s: option \"%s\" is deprecated: %s", loc,
					     fc->what, opath, o->help ? o->help : "");
			}
			fill_option(fc, o, s, parts[p].out, opath);
		}
	}
	return fc->errors - before;
}

size_t schema_fill(const struct schema_part *parts, size_t n_parts, const config_setting_t *group,
		   const char *what, struct cfg_errs *errs)
{
	struct fill_ctx fc = {.what = what, .errs = errs};
	return fill_group(&fc, parts, n_parts, group, "");
}

size_t schema_defaults(const struct bm_option *opts, void *out, const char *what,
		       struct cfg_errs *errs)
{
	struct schema_part p = {opts, out};
	return schema_fill(&p, 1, NULL, what, errs);
}

static void release_strlist(struct bm_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void schema_release(const struct bm_option *opts, void *out)
{
	for (const struct bm_option *o = opts; o && o->name; o++) {
		void *field = (char *)out + o->offset;
		switch (o->type) {
		case BM_OPT_STRING:
			free(*(char **)field);
			*(char **)field = NULL;
			break;
		case BM_OPT_STRING_LIST:
			release_strlist(field);
			break;
		case BM_OPT_MAP: {
			struct bm_map *m = field;
			struct bm_strlist k = {m->n, m->keys}, v = {m->n, m->values};
			release_strlist(&k);
			release_strlist(&v);
			memset(m, 0, sizeof(*m));
			break;
		}
		case BM_OPT_GROUP:
			schema_release(o->sub, field);
			break;
		case BM_OPT_GROUP_LIST: {
			struct bm_group_list *gl = field;
			for (size_t i = 0; i < gl->n; i++)
				schema_release(o->sub, (char *)gl->items + i * o->sub_size);
			free(gl->items);
			memset(gl, 0, sizeof(*gl));
			break;
		}
		default:
			break;
		}
	}
}

static size_t check_table(const struct bm_option *opts, size_t size, const char *what,
			  const char *prefix, struct cfg_errs *errs, int depth)
{
	size_t errors = 0;
	for (const struct bm_option *o = opts; o && o->name; o++) {
		char opath[256];
		snprintf(opath, sizeof(opath), "%s%s%s", prefix, *prefix ? "." : "", o->name);
		const char *bad = NULL;
		if ((int)o->type < BM_OPT_BOOL || o->type > BM_OPT_GROUP_LIST)
			bad = "unknown option type";
		else if (o->type == BM_OPT_ENUM && !o->enum_values)
			bad = "enum without enum_values";
		else if ((o->type == BM_OPT_GROUP || o->type == BM_OPT_GROUP_LIST) && !o->sub)
			bad = "group without a sub table";
		else if (o->type == BM_OPT_GROUP_LIST && !o->sub_size)
			bad = "group list without sub_size";
		else if (size && o->offset + field_size(o->type) > size)
			bad = "field lies outside config_size";
		else if (depth > 8)
			bad = "groups nested too deep";
		for (const struct bm_option *p = opts; !bad && p < o; p++)
			if (strcmp(p->name, o->name) == 0)
				bad = "declared twice";
		if (bad) {
			cfg_errs_add(errs, false, "%s: option table: \"%s\": %s", what, opath, bad);
			errors++;
			continue;
		}
		if (o->type == BM_OPT_GROUP_LIST)
			errors += check_table(o->sub, o->sub_size, what, opath, errs, depth + 1);
		else if (o->type == BM_OPT_GROUP)
			errors += check_table(o->sub, 0, what, opath, errs, depth + 1);
	}
	return errors;
}

size_t schema_check_table(const struct bm_option *opts, size_t config_size, const char *what,
			  struct cfg_errs *errs)
{
	return check_table(opts, config_size, what, "", errs, 0);
}
