/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmon's own JSON API routes served by the core:
 * GET /api/bearmon/v1/status, GET /api/bearmon/v1/plugins,
 * POST /api/bearmon/v1/reload.
 */
#ifndef BEARMON_CORE_STATUS_H
#define BEARMON_CORE_STATUS_H

#include <jansson.h>

struct daemon;

int status_routes(struct daemon *d);
/* The documents the routes serve (also used by tests). */
json_t *status_json(struct daemon *d);
json_t *plugins_json(struct daemon *d);

#endif
