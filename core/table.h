/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Aligned text tables for people (bearmonctl, bearmond --plugin --help,
 * the conformance report): cells added row by row, each column as wide as
 * its widest cell.
 */
#ifndef BEARMON_CORE_TABLE_H
#define BEARMON_CORE_TABLE_H

#include <stdio.h>

#include "bearmon/bm_option.h"

struct table {
	size_t ncols;
	const char *align; /* 'l' or 'r' per column; NULL: all left */
	size_t n;
	char **cells;
};

/* Append one cell (rows fill left to right). A cell that cannot be
 * allocated prints empty. */
__attribute__((format(printf, 2, 3))) void table_cell(struct table *t, const char *fmt, ...);
/* Print every row with indent before it, then empty the table. */
void table_print(FILE *f, struct table *t, const char *indent);
/* Rows OPTION TYPE DEFAULT HELP for an option table, nested groups as
 * "group.member" and lists as "list.N.member". */
void table_add_options(struct table *t, const struct bm_option *opts, const char *prefix);

#endif
