/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's HTTP routes:
 *   GET  /api/bearmon/v1/plan                  the current plan, every
 *        candidate with its simulation or the reason it is out, recent
 *        actions, resource recommendations, holds
 *   POST /api/bearmon/v1/actions/ID/apply      run a planned action, or a
 *        whole plan when ID is a plan id (admin token where tokens exist)
 *   POST /api/bearmon/v1/actions/ID/rollback   restore an executed action
 *        or the executed steps of a plan (admin)
 * The action history itself is the store's: GET /api/bearmon/v1/actions/history.
 */
#ifndef BEARMON_OPT_ROUTES_H
#define BEARMON_OPT_ROUTES_H

#include "engine.h"

#define ROUTE_PLAN "/api/bearmon/v1/plan"
#define ROUTE_ACTIONS "/api/bearmon/v1/actions/"

/* 0, or BM_E* with err set; a host without HTTP is not an error. */
int routes_register(struct engine *e, struct bm_err *err);

#endif
