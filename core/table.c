/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Aligned text tables (see table.h).
 */
#define _GNU_SOURCE
#include "table.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config_schema.h"

#define TABLE_MAX_COLS 16

void table_cell(struct table *t, const char *fmt, ...)
{
	char **v = realloc(t->cells, (t->n + 1) * sizeof(*v));
	if (!v)
		return;
	t->cells = v;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&v[t->n], fmt, ap) < 0)
		v[t->n] = NULL;
	va_end(ap);
	t->n++;
}

void table_print(FILE *f, struct table *t, const char *indent)
{
	size_t w[TABLE_MAX_COLS] = {0};
	size_t ncols = t->ncols < TABLE_MAX_COLS ? t->ncols : TABLE_MAX_COLS;
	for (size_t i = 0; i < t->n; i++) {
		size_t len = t->cells[i] ? strlen(t->cells[i]) : 0;
		if (len > w[i % ncols])
			w[i % ncols] = len;
	}
	for (size_t i = 0; i < t->n; i++) {
		size_t c = i % ncols;
		const char *v = t->cells[i] ? t->cells[i] : "";
		bool last = c == ncols - 1 || i == t->n - 1;
		bool right = t->align && t->align[c] == 'r';
		int width = right ? (int)w[c] : last ? 0 : -(int)w[c];
		fprintf(f, "%s%*s%s", c ? "" : indent, width, v, last ? "\n" : "  ");
		free(t->cells[i]);
	}
	free(t->cells);
	t->cells = NULL;
	t->n = 0;
}

void table_add_options(struct table *t, const struct bm_option *opts, const char *prefix)
{
	for (const struct bm_option *o = opts; o && o->name; o++) {
		table_cell(t, "%s%s", prefix, o->name);
		table_cell(t, "%s", schema_type_name(o->type));
		table_cell(t, "%s", o->def ? o->def : "-");
		if (o->flags & BM_OPTF_BOUNDED)
			table_cell(t, "%s%s (%g..%g)", o->help ? o->help : "",
				   (o->flags & BM_OPTF_REQUIRED) ? " (required)" : "", o->min, o->max);
		else
			table_cell(t, "%s%s", o->help ? o->help : "",
				   (o->flags & BM_OPTF_REQUIRED) ? " (required)" : "");
		if (o->sub && (o->type == BM_OPT_GROUP || o->type == BM_OPT_GROUP_LIST)) {
			char sub[256];
			snprintf(sub, sizeof(sub), "%s%s%s.", prefix, o->name,
				 o->type == BM_OPT_GROUP_LIST ? ".N" : "");
			table_add_options(t, o->sub, sub);
		}
	}
}
