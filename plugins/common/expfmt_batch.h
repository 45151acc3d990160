/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text format into a metric batch, for the collectors that republish what
 * commands or files print (collector/exec, collector/textfile): samples go
 * in as they come, each HELP and TYPE line goes to the caller (who decides
 * what a family declared before means), and an input that fails leaves the
 * batch as it was. Compiled into each user from expfmt_batch.c.
 */
#ifndef BEARMON_PLUGINS_EXPFMT_BATCH_H
#define BEARMON_PLUGINS_EXPFMT_BATCH_H

#include <stddef.h>
#include <sys/types.h>

#include <bearmon/bm_batch.h>

#include "expfmt.h"

/*
 * A HELP or TYPE item for b; first_meta is b->n_meta before this input (the
 * entries from there on are its own). 0, or -1 with why[n] saying why the
 * input is refused.
 */
typedef int (*expfmt_meta_fn)(void *user, struct bm_batch *b, const struct expfmt_item *it,
			      size_t first_meta, char *why, size_t n);

/* The index of family name among b's metadata, -1 when b has none. */
ssize_t expfmt_batch_find_meta(const struct bm_batch *b, const char *name);

/*
 * Parse buf[0..len) (writable, '\0' at buf[len], as expfmt_init wants) into
 * b, it being the parser's item. 0, or -1 with b rolled back to what it
 * held, why[n] saying what went wrong ("out of memory", the parser's or
 * meta's reason) and *line the line it went wrong on.
 */
int expfmt_batch_parse(struct bm_batch *b, char *buf, size_t len, struct expfmt_item *it,
		       expfmt_meta_fn meta, void *user, char *why, size_t n, unsigned *line);

#endif /* BEARMON_PLUGINS_EXPFMT_BATCH_H */
