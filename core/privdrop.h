/* SPDX-License-Identifier: Apache-2.0 */
/* Dropping root after start (see privdrop.c). */
#ifndef BEARMON_CORE_PRIVDROP_H
#define BEARMON_CORE_PRIVDROP_H

#include <stdint.h>

#include "bearmon/bm_err.h"

/*
 * When running as root: hand data_dir to user, become user, and keep only
 * the capabilities in keep (BM_CAP_* bits) in the calling thread, which
 * every thread started later inherits (threads running now lose them
 * all). Not root: nothing to do. 0, or BM_E* with err set.
 */
int privdrop(const char *user, const char *data_dir, uint64_t keep, struct bm_err *err);
/* "CAP_SYS_PTRACE CAP_NET_ADMIN" for keep, into buf. */
void privdrop_names(uint64_t keep, char *buf, size_t n);

#endif
