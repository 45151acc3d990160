/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin conformance check behind `bearmonctl check-plugin`: descriptor,
 * lifecycle twice in a forked child under a per-hook deadline, heap growth
 * between the two cycles, and rejection of an unknown option.
 */
#ifndef BEARMON_CORE_CONFORMANCE_H
#define BEARMON_CORE_CONFORMANCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "plugin_loader.h"

#define CONFORMANCE_DEADLINE_MS 5000
#define CONFORMANCE_HEAP_LIMIT	(64 * 1024)
#define CONFORMANCE_MAX_STEPS	16

enum conformance_check_id {
	CONF_DESCRIPTOR = 0,
	CONF_LIFECYCLE,
	CONF_LEAKS,
	CONF_UNKNOWN_OPTION,
	CONF_N_CHECKS,
};

enum conformance_result { CONF_SKIP = 0, CONF_PASS, CONF_FAIL };

struct conformance_opts {
	const char *path;  /* the plugin .so */
	char *const *sets; /* "OPTION=VALUE" for the test instance */
	size_t n_sets;
	int64_t deadline_ms; /* per hook; 0: CONFORMANCE_DEADLINE_MS */
};

struct conformance_check {
	enum conformance_result result;
	char detail[640];
};

/* One hook call in the child, as reported over the pipe. */
struct conformance_step {
	int cycle;     /* 1 or 2; 0 for the host setup */
	char hook[16]; /* "setup", "init", "start", "collect", "stop", "fini" */
	int rc;	       /* 0 or a BM_E* code */
	bool host;     /* the host failed the step (rc is not the plugin's) */
	double ms;     /* time spent in the hook */
	char msg[300]; /* the plugin's error text, or why the host failed it */
};

struct conformance_report {
	char path[4096];
	struct conformance_check checks[CONF_N_CHECKS];
	struct plugin *plugin; /* loaded (owned by the loader); NULL when refused */
	struct conformance_step steps[CONFORMANCE_MAX_STEPS];
	size_t n_steps;
	bool heap_measured;
	int64_t heap_growth; /* bytes in use after cycle 2 minus after cycle 1 */
};

/*
 * Run every check on o->path and fill r (zeroed first). The plugin stays
 * loaded in this process afterwards (loader_exit() unloads it). Returns 0
 * when the checks could be run at all, whatever their results, or a BM_E*
 * code when the host itself failed (temp files, fork, pipe).
 */
int conformance_run(const struct conformance_opts *o, struct conformance_report *r);

/* Checks that failed (a skip, such as a plugin whose init says ENOTSUP on
 * a host without its hardware, is not a failure). */
size_t conformance_not_passed(const struct conformance_report *r);

const char *conformance_check_name(enum conformance_check_id id);

/* "PASS descriptor: ..." lines, details, and the summary line. */
void conformance_print(FILE *f, const struct conformance_report *r);
/* The same as a JSON object (new reference). */
json_t *conformance_json(const struct conformance_report *r);

#endif
