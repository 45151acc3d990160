/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's state file (default DATA_DIR/optimizer-INSTANCE.json): what
 * it learned (measured effects, outcomes per action kind) and the actions
 * it executed, with their before values, so that the simulation keeps its
 * evidence and `rollback ID` works across restarts. The store's action
 * history (GET /api/bearmon/v1/actions/history) keeps every action event
 * for people; this file is the engine's own working memory. Written
 * atomically (temporary file, fsync, rename) after every change.
 */
#ifndef BEARMON_OPT_HISTORY_H
#define BEARMON_OPT_HISTORY_H

#include "engine.h"

/* Load the file if it exists: 0, or BM_EPROTO/BM_EIO with why. */
int history_load(struct engine *e, char *why, size_t why_n);
/* Write it; failures are logged (rate limited by the host). */
void history_save(struct engine *e);

#endif
