/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The label match operators of a PromQL vector selector (=, !=, =~, !~) as
 * the selector parsers of optimizer/engine's shared/ and ui/dashboard (with
 * ui/mcp) read them. Header-only, like publish.h: those parsers are
 * compiled into several plugins and tests.
 */
#ifndef BEARMON_PLUGINS_MATCH_OP_H
#define BEARMON_PLUGINS_MATCH_OP_H

#include <stddef.h>
#include <string.h>

#include <bearmon/bm_host.h>

/* The operator s[0..avail) starts with, in *op: its length, 0 when none
 * (the two-character ones are tried before "="). */
static inline size_t match_op_prefix(const char *s, size_t avail, enum bm_match_op *op)
{
	static const struct {
		const char *text;
		enum bm_match_op op;
	} ops[] = {{"=~", BM_MATCH_RE}, {"!~", BM_MATCH_NRE}, {"!=", BM_MATCH_NEQ}, {"=", BM_MATCH_EQ}};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].text);
		if (avail >= n && strncmp(s, ops[i].text, n) == 0) {
			*op = ops[i].op;
			return n;
		}
	}
	return 0;
}

#endif /* BEARMON_PLUGINS_MATCH_OP_H */
