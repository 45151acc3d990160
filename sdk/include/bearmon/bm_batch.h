/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for collectors (part of libbearmon-sdk.a): a metric batch
 * builder that copies names and labels and sorts the labels, and
 * include/exclude name filters with POSIX extended regular expressions.
 */
#ifndef BEARMON_BM_BATCH_H
#define BEARMON_BM_BATCH_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bm_event.h"
#include "bm_option.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A batch under construction. Zero-initialise it; every string it holds
 * is a copy in its own arena, so callers may pass temporaries. Not thread
 * safe: one batch per collection thread.
 */
struct bm_batch {
	struct bm_arena arena;
	struct bm_sample *samples;
	size_t n, cap;
	struct bm_metric_meta *meta;
	size_t n_meta, cap_meta;
	int64_t ts_ms; /* timestamp given to samples added with ts 0 */
};

/* Declare a metric family (type, unit, help) once per batch. */
int bm_batch_family(struct bm_batch *b, const char *name, enum bm_metric_type type,
		    const char *unit, const char *help);
/* Add name{labels} = v (labels copied and sorted by name). */
int bm_batch_add(struct bm_batch *b, const char *name, double v, const struct bm_label *labels,
		 size_t n_labels);
/* Same with label pairs as arguments, ending with NULL:
 * bm_batch_addl(b, "node_load1", 0.5, NULL);
 * bm_batch_addl(b, "node_cpu_seconds_total", s, "cpu", "0", "mode", "idle", NULL); */
__attribute__((sentinel)) int bm_batch_addl(struct bm_batch *b, const char *name, double v, ...);
/* The batch as the bus type; valid until the next change to b. */
void bm_batch_view(const struct bm_batch *b, struct bm_metric_batch *out);
/* Forget every sample and family, keep the memory for the next round. */
void bm_batch_reset(struct bm_batch *b);
void bm_batch_free(struct bm_batch *b);

/*
 * Include/exclude filter: a name passes when it matches any include
 * pattern (or there are none) and no exclude pattern. Patterns are POSIX
 * extended regular expressions anchored at both ends ("sd[a-z]+" matches
 * "sda", not "xsda1").
 */
struct bm_filter {
	regex_t *include;
	size_t n_include;
	regex_t *exclude;
	size_t n_exclude;
};
/* On a bad pattern returns BM_EINVAL and names it in err. */
int bm_filter_init(struct bm_filter *f, const struct bm_strlist *include,
		   const struct bm_strlist *exclude, struct bm_err *err);
bool bm_filter_match(const struct bm_filter *f, const char *name);
void bm_filter_free(struct bm_filter *f);

#ifdef __cplusplus
}
#endif
#endif /* BEARMON_BM_BATCH_H */
