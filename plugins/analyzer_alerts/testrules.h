/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rule unit tests, as `promtool test rules` runs them, on the engine
 * bearmond runs (bearmonctl test-rules FILE). A test file (YAML or JSON):
 *
 *   rule_files: [disk.rules.json]      # relative to the test file
 *   rules: [ {name: HighLoad, metric: node_load1, condition: gt,
 *             threshold: 4, for: 2m} ]  # and/or inline
 *   evaluation_interval: 1m
 *   tests:
 *     - name: load spike
 *       interval: 1m
 *       input_series:
 *         - series: 'node_load1{instance="a"}'
 *           values: '1 2 5x4 1'         # promtool's expanding notation
 *       alert_rule_test:
 *         - eval_time: 4m
 *           alertname: HighLoad
 *           exp_alerts:
 *             - exp_labels: {instance: a, severity: warning}
 *               exp_annotations: {summary: ...}   # compared when given
 *
 * Values: numbers, a+bxN / a-bxN (N+1 values from a in steps of b), axN,
 * _ (no sample), _xN, stale (a staleness marker). At each eval_time the
 * firing alerts of alertname must be exactly exp_alerts.
 */
#ifndef BEARMON_ALERTS_TESTRULES_H
#define BEARMON_ALERTS_TESTRULES_H

#include <stdbool.h>
#include <stdio.h>

/* Run the tests of path, reporting on out: 0 all passed, 1 a test failed,
 * 2 the file or a rule is unusable. */
int al_testrules_run(const char *path, FILE *out, bool verbose);

#endif
