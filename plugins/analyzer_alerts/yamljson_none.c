/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Built without libyaml (see yamljson.h): JSON is read with jansson, and text
 * that is not JSON is refused, saying that YAML needs libyaml-dev.
 */
#include "yamljson.h"

#include <stdio.h>

/* What a load came to: 0 with the document in *out, or -1 with why the
 * text is not JSON (je) and that YAML needs libyaml. */
static int json_or_refuse(json_t *doc, const json_error_t *je, json_t **out, char *err,
			  size_t errn)
{
	*out = doc;
	if (doc)
		return 0;
	snprintf(err, errn, "line %d: not JSON (%s), and YAML needs bearmon built with libyaml "
			    "(libyaml-dev)", je->line, je->text);
	return -1;
}

int al_yaml_load(const char *text, size_t len, json_t **out, char *err, size_t errn)
{
	json_error_t je;
	json_t *doc = json_loadb(text, len, JSON_DECODE_ANY, &je);
	return json_or_refuse(doc, &je, out, err, errn);
}

int al_yaml_load_file(const char *path, json_t **out, char *err, size_t errn)
{
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_DECODE_ANY, &je);
	return json_or_refuse(doc, &je, out, err, errn);
}
