/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl's read-only views: series, query, agents, anomalies,
 * recommendations, actions, events and top; aligned tables for people and
 * the daemon's JSON with --json, and a live full-screen view in the terminal.
 */
#ifndef BEARMON_CORE_CTL_VIEW_H
#define BEARMON_CORE_CTL_VIEW_H

#include <stdbool.h>

/* Is the command of this command line one of ours? (the first argument
 * that is neither an option nor an option's value) */
bool ctl_view_handles(int argc, char **argv);

/* The views' usage lines, for their own help and bearmonctl's (the
 * caller writes what precedes the first line: "usage: " or spaces). */
#define CTL_VIEW_SYNOPSIS                                                                          \
	"bearmonctl [--url URL | -c CONFIG] [--json] series [NAME|/REGEX/] [LABEL=VALUE]...\n"     \
	"       bearmonctl [--url URL | -c CONFIG] [--json] query EXPR [--time T]\n"               \
	"       bearmonctl [--url URL | -c CONFIG] [--json] query EXPR --start T [--end T] "       \
	"[--step D]\n"                                                                             \
	"       bearmonctl [--url URL | -c CONFIG] [--json] agents\n"                              \
	"       bearmonctl [--url URL | -c CONFIG] [--json] anomalies | recommendations | "        \
	"actions\n"                                                                                \
	"                  [--since DURATION] [--limit N]\n"                                       \
	"       bearmonctl [--url URL | -c CONFIG] [--json] events TOPIC [--since DURATION] "      \
	"[--limit N]\n"                                                                            \
	"       bearmonctl [--url URL | -c CONFIG] top [--interval DURATION] [--once]\n"
/* Run it; returns the exit status: 0 ok, 1 failure, 2 usage error,
 * 3 daemon unreachable. */
int ctl_view_main(int argc, char **argv);

#endif
