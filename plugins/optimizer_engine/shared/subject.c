/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subjects of series and actions (subject.h). The label and name-prefix
 * map follows plugins/analyzer_bottleneck/series_map.c in its resource
 * names; it is kept small here because the optimizers only need to tell
 * which thing an event is about, not every measure.
 */
#define _GNU_SOURCE
#include "subject.h"
#include "kvl.h"

#include <stdio.h>
#include <string.h>

typedef const char *(*label_fn)(const void *src, const char *name);

static const char *ref_label(const void *src, const char *name)
{
	const struct bm_series_ref *s = src;
	for (uint32_t i = 0; i < s->n_labels; i++)
		if (strcmp(s->labels[i].name, name) == 0)
			return s->labels[i].value;
	return NULL;
}

static const char *sel_label_fn(const void *src, const char *name)
{
	return sel_label(src, name);
}

static bool prefixed(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* Host resources by metric name prefix. */
static const char *host_resource(const char *name)
{
	static const struct {
		const char *prefix, *resource;
	} map[] = {
		{"node_memory_", "memory"}, {"node_pressure_memory", "memory"},
		{"node_vmstat_", "memory"}, {"node_cpu_", "cpu"},
		{"node_pressure_cpu", "cpu"}, {"node_load", "cpu"},
		{"node_procs_", "cpu"},       {"node_disk_", "io"},
		{"node_pressure_io", "io"},
	};
	for (size_t i = 0; name && i < sizeof(map) / sizeof(map[0]); i++)
		if (prefixed(name, map[i].prefix))
			return map[i].resource;
	return NULL;
}

static bool subject_of(const char *name, label_fn get, const void *src, char *out, size_t n)
{
	static const struct {
		const char *label, *kind;
	} by_label[] = {
		{"agent", "agent"},	 {"cgroup", "cgroup"}, {"gpu", "gpu"},
		{"model_name", "model"}, {"model", "model"},   {"pid", "proc"},
	};
	for (size_t i = 0; i < sizeof(by_label) / sizeof(by_label[0]); i++) {
		const char *v = get(src, by_label[i].label);
		if (v && *v) {
			textf(out, n, "%s:%s", by_label[i].kind, v);
			return true;
		}
	}
	const char *r = host_resource(name);
	if (r)
		textf(out, n, "%s", r);
	return r != NULL;
}

bool subject_of_series(const struct bm_series_ref *s, char *out, size_t n)
{
	return subject_of(s->name, ref_label, s, out, n);
}

bool subject_of_sel(const struct sel *s, char *out, size_t n)
{
	return subject_of(s->name, sel_label_fn, s, out, n);
}

void subject_of_action(const char *actuator, const char *target, char *out, size_t n)
{
	if (strcmp(actuator, "agent_command") == 0)
		textf(out, n, "agent:%s", target);
	else if (strcmp(actuator, "cgroup") == 0)
		textf(out, n, "cgroup:%s", target);
	else if (strcmp(actuator, "process") == 0)
		textf(out, n, prefixed(target, "agent:") ? "%s" : "proc:%s", target);
	else if (strcmp(actuator, "sysctl") == 0)
		textf(out, n, "host");
	else
		textf(out, n, "%s", target);
}
