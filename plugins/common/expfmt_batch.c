/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parse loop of the collectors that republish text format
 * (expfmt_batch.h): one copy of adding samples, their own timestamps and
 * the rollback of a refused input.
 */
#include "expfmt_batch.h"

#include <stdio.h>
#include <string.h>

ssize_t expfmt_batch_find_meta(const struct bm_batch *b, const char *name)
{
	for (size_t i = 0; i < b->n_meta; i++)
		if (strcmp(b->meta[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* A sample item into b, with its own timestamp when it has one. */
static int add_sample(struct bm_batch *b, const struct expfmt_item *it)
{
	int rc = bm_batch_add(b, it->name, it->value, it->labels, it->n_labels);
	if (!rc && it->has_ts)
		b->samples[b->n - 1].ts_ms = it->ts_ms;
	return rc;
}

int expfmt_batch_parse(struct bm_batch *b, char *buf, size_t len, struct expfmt_item *it,
		       expfmt_meta_fn meta, void *user, char *why, size_t n, unsigned *line)
{
	size_t n0 = b->n, meta0 = b->n_meta;
	struct expfmt_parser ps;
	int rc;
	expfmt_init(&ps, buf, len);
	while ((rc = expfmt_next(&ps, it)) == 1) {
		*line = it->line;
		if (it->kind != EXPFMT_SAMPLE) {
			if (meta(user, b, it, meta0, why, n))
				break;
		} else if (add_sample(b, it)) {
			snprintf(why, n, "out of memory");
			break;
		}
	}
	if (rc == 0)
		return 0;
	if (rc < 0) {
		*line = ps.err_line;
		snprintf(why, n, "%s", ps.err);
	}
	b->n = n0;
	b->n_meta = meta0;
	return -1;
}
