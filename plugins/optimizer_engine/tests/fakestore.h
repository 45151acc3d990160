/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake store for the optimizers' tests: series with points, served
 * through the host API's store calls (series by matchers, raw, range with
 * step and avg/increase, instant), on top of the fake bus of bustest.h.
 */
#ifndef BEARMON_OPT_FAKESTORE_H
#define BEARMON_OPT_FAKESTORE_H

#include <bearmon/bm_host.h>

#include <stdint.h>

/* bt_api() with the store entries, and an empty store. */
const struct bm_host_api *fs_api(void);
/* Add a point to name{labels}, labels as "k=v,k2=v2" sorted by name ("" for none). */
void fs_point(const char *name, const char *labels, int64_t ts_ms, double v);

#endif
