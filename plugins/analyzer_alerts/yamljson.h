/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML (and JSON, a subset of it) into jansson values, for Prometheus rule
 * files and rule test files: mappings become objects, sequences arrays,
 * plain scalars numbers, booleans or null when they read as such, every
 * other scalar a string.
 */
#ifndef BEARMON_ALERTS_YAMLJSON_H
#define BEARMON_ALERTS_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

/* 0 and *out (new reference), or -1 with err naming the line. */
int al_yaml_load(const char *text, size_t len, json_t **out, char *err, size_t errn);
/* The same on a whole file. */
int al_yaml_load_file(const char *path, json_t **out, char *err, size_t errn);

#endif
