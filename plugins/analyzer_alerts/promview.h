/* SPDX-License-Identifier: Apache-2.0 */
/* The engine's rules and alerts as Prometheus' /api/v1/rules and
 * /api/v1/alerts answer them (see promview.c). Call with the engine locked. */
#ifndef BEARMON_ALERTS_PROMVIEW_H
#define BEARMON_ALERTS_PROMVIEW_H

#include <jansson.h>

struct al_engine;

json_t *al_prom_alerts_json(struct al_engine *e);
/* type: "alert", "record" or NULL for both (Prometheus' ?type=) */
json_t *al_prom_rules_json(struct al_engine *e, const char *type);

#endif
