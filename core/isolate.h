/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Isolated instances (isolate = true): the hooks bearmond calls run in a
 * plugin-host child process (plugin_host.c) that bearmond restarts with
 * backoff when it crashes or outgrows isolate_memory_limit.
 */
#ifndef BEARMON_CORE_ISOLATE_H
#define BEARMON_CORE_ISOLATE_H

#include "bearmon/bm_plugin.h"

/* Hooks that forward to the child; their state is the child's handle. */
extern const struct bm_plugin_ops isolate_ops;

#endif
