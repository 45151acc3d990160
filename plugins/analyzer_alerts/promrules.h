/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus rule files (groups of alerting and recording rules) as
 * bearmon rules: an alerting rule becomes a `promql` rule (expr, for,
 * keep_firing_for, labels, annotations; a severity label of info, warning,
 * critical or emergency becomes the severity), a recording rule a `record`
 * rule writing its results as series named `record`. Ids are
 * GROUP:NAME (GROUP:NAME:N for repeated names).
 */
#ifndef BEARMON_ALERTS_PROMRULES_H
#define BEARMON_ALERTS_PROMRULES_H

#include <jansson.h>
#include <stddef.h>

/* doc: a parsed rule file ({groups: [...]}); *rules: a new array of rule
 * JSON objects. -1 with err naming the group and rule. */
int al_promrules_convert(const json_t *doc, json_t **rules, char *err, size_t errn);
/* Does doc look like a Prometheus rule file (a groups list)? */
int al_promrules_is_prometheus(const json_t *doc);
/* A rule file, YAML or JSON: a Prometheus rule file (converted), a list
 * of bearmon rules, or {"rules": [...]}. *rules: a new array; *prometheus
 * says which it was. -1 with err. */
int al_rules_file_load(const char *path, json_t **rules, int *prometheus, char *err, size_t errn);

#endif
