/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host API table handed to plugins (bm_host.h) and the main-loop
 * timers and fd watches behind it.
 */
#ifndef BEARMON_CORE_HOST_API_H
#define BEARMON_CORE_HOST_API_H

#include "bearmon/bm_host.h"

const struct bm_host_api *host_api_table(void);

/* Free without touching the owning instance's lists (used when the
 * instance releases everything at once). */
void host_timer_free(struct bm_timer *t);
void host_fdwatch_free(struct bm_fdwatch *w);

#endif
