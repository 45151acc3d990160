/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl's optimizer commands: plan (the engine's current plan, its
 * candidates and resource recommendations), apply ID and rollback ID (an
 * action or a whole plan, through the engine's admin routes) and history
 * (the store's action history).
 */
#ifndef BEARMON_CORE_CTL_OPTIMIZER_H
#define BEARMON_CORE_CTL_OPTIMIZER_H

#include <stdbool.h>

/* Is the command of this command line one of ours? (the first argument
 * that is neither an option nor an option's value) */
bool ctl_optimizer_handles(int argc, char **argv);
/* Run it; returns the exit status: 0 ok, 1 failure (refused, not found),
 * 2 usage error, 3 daemon unreachable. */
int ctl_optimizer_main(int argc, char **argv);

#endif
