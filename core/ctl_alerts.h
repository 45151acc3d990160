/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl's alerting commands: rules, alerts, ack and silence talk to
 * the rule engine's API (analyzer/alerts); test-rules runs rule unit tests
 * offline on the same engine code, linked in from plugins/analyzer_alerts.
 */
#ifndef BEARMON_CORE_CTL_ALERTS_H
#define BEARMON_CORE_CTL_ALERTS_H

#include <stdbool.h>

/* Is the command of this command line one of ours? (the first argument
 * that is neither an option nor an option's value) */
bool ctl_alerts_handles(int argc, char **argv);
/* Run it; returns the exit status: 0 ok, 1 failure (or a failed rule
 * test), 2 usage error or unusable test file, 3 daemon unreachable. */
int ctl_alerts_main(int argc, char **argv);

#endif
