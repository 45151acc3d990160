/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Built without libyaml (see yamljson.h): JSON is read with jansson, and text
 * that is not JSON is refused, saying that YAML needs libyaml-dev.
 */
#include "yamljson.h"

#include <stdio.h>

int al_yaml_load(const char *text, size_t len, json_t **out, char *err, size_t errn)
{
	json_error_t je;
	*out = json_loadb(text, len, JSON_DECODE_ANY, &je);
	if (*out)
		return 0;
	snprintf(err, errn, "line %d: not JSON (%s), and YAML needs bearmon built with libyaml "
			    "(libyaml-dev)", je.line, je.text);
	return -1;
}

int al_yaml_load_file(const char *path, json_t **out, char *err, size_t errn)
{
	json_error_t je;
	*out = json_load_file(path, JSON_DECODE_ANY, &je);
	if (*out)
		return 0;
	snprintf(err, errn, "line %d: not JSON (%s), and YAML needs bearmon built with libyaml "
			    "(libyaml-dev)", je.line, je.text);
	return -1;
}
