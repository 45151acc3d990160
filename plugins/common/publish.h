/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header-only helper shared by the collectors: the end of a collection,
 * publishing the batch it built, with the failures worded alike.
 */
#ifndef BEARMON_PLUGINS_PUBLISH_H
#define BEARMON_PLUGINS_PUBLISH_H

#include <bearmon/bm_batch.h>
#include <bearmon/bm_err.h>
#include <bearmon/bm_host.h>

/*
 * Publish b, or report rc, the first error building it: the collector then
 * returns what this returns, with err filled on failure.
 */
static inline int publish_batch(struct bm_ctx *ctx, const struct bm_batch *b, int rc,
				struct bm_err *err)
{
	if (rc)
		return bm_err_set(err, rc, "building the batch: %s", bm_strerror(rc));
	struct bm_metric_batch mb;
	bm_batch_view(b, &mb);
	rc = bm_metrics_publish(ctx, &mb);
	if (rc)
		return bm_err_set(err, rc, "publish: %s", bm_strerror(rc));
	return 0;
}

#endif /* BEARMON_PLUGINS_PUBLISH_H */
