/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Series selectors as PromQL writes them, `name{label="v",other=~"re.*"}`,
 * parsed and matched against samples from the bus: what a dashboard client
 * subscribes to, and what the MCP tools take. Shared by plugins ui_dashboard
 * and ui_mcp.
 */
#ifndef BEARMON_DASHBOARD_SELECTOR_H
#define BEARMON_DASHBOARD_SELECTOR_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>

struct sel_matcher {
	char *name;  /* label name; "__name__" is the metric name */
	enum bm_match_op op;
	char *value; /* unescaped */
	regex_t re;  /* BM_MATCH_RE / _NRE: anchored, POSIX extended */
};

struct selector {
	char *text; /* canonical form: name{a="x",b=~"y"}; equal selectors have equal text */
	const char *metric; /* the exact metric name when the selector fixes one, else NULL */
	struct sel_matcher *m;
	size_t n;
};

/* Longest selector text accepted. */
#define SELECTOR_MAX_LEN 1024

/*
 * Parse one selector at s (len bytes, need not be NUL-terminated): *used is
 * how many bytes it took (white space after it included), so that a list
 * "a{x="1"},b" parses one by one. As in PromQL, at least one matcher must
 * not match the empty string (no selector of everything by accident).
 * 0, or BM_EINVAL with err ("position N: ...") filled; BM_ENOMEM.
 */
int selector_parse(const char *s, size_t len, struct selector *out, size_t *used, char *err,
		   size_t errlen);
void selector_free(struct selector *sel);
/* Whether the series name{labels} (labels sorted by name) matches. */
bool selector_matches(const struct selector *sel, const char *name, const struct bm_label *labels,
		      uint32_t n_labels);
/* The matchers as the host's store queries take them (borrowed from sel):
 * at most cap, returns the count. */
size_t selector_matchers(const struct selector *sel, struct bm_matcher *out, size_t cap);

/* The canonical text of a series, as the store writes it:
 * name{a="x",b="y"}, values escaped (\\, \", \n). Returns the length it
 * needs; writes at most n bytes, NUL included. */
size_t series_text(const char *name, const struct bm_label *labels, uint32_t n_labels, char *buf,
		   size_t n);

#endif
