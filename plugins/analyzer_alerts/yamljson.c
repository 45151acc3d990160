/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML through libyaml's document loader (see yamljson.h). Only the first
 * document of a stream is read; anchors and aliases are resolved by
 * libyaml; a scalar's tag is not consulted beyond quoting.
 */
#define _GNU_SOURCE
#include "yamljson.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

static json_t *plain_scalar(const char *s, size_t len)
{
	char *end;
	if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0)
		return json_null();
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0)
		return json_true();
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0)
		return json_false();
	errno = 0;
	long long i = strtoll(s, &end, 10);
	if (end == s + len && !errno)
		return json_integer(i);
	double d = strtod(s, &end);
	if (end == s + len && !errno && (s[0] == '-' || s[0] == '+' || s[0] == '.' ||
					 (s[0] >= '0' && s[0] <= '9')))
		return json_real(d);
	return json_stringn(s, len);
}

static json_t *node_json(yaml_document_t *doc, yaml_node_t *n, int depth);

static json_t *mapping_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	json_t *o = json_object();
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		json_t *jv = v ? node_json(doc, v, depth + 1) : NULL;
		if (!k || k->type != YAML_SCALAR_NODE || !jv) {
			json_decref(jv);
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, (const char *)k->data.scalar.value, jv);
	}
	return o;
}

static json_t *sequence_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	json_t *a = json_array();
	for (yaml_node_item_t *i = n->data.sequence.items.start;
	     a && i < n->data.sequence.items.top; i++) {
		yaml_node_t *v = yaml_document_get_node(doc, *i);
		json_t *jv = v ? node_json(doc, v, depth + 1) : NULL;
		if (!jv) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, jv);
	}
	return a;
}

static json_t *node_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	if (depth > MAX_DEPTH)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return plain_scalar((const char *)n->data.scalar.value,
					    n->data.scalar.length);
		return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
	case YAML_MAPPING_NODE:
		return mapping_json(doc, n, depth);
	case YAML_SEQUENCE_NODE:
		return sequence_json(doc, n, depth);
	default:
		return NULL;
	}
}

int al_yaml_load(const char *text, size_t len, json_t **out, char *err, size_t errn)
{
	yaml_parser_t p;
	yaml_document_t doc;
	int rc = -1;
	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errn, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		snprintf(err, errn, "line %zu: %s", p.problem_mark.line + 1,
			 p.problem ? p.problem : "YAML syntax error");
		yaml_parser_delete(&p);
		return -1;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	*out = root ? node_json(&doc, root, 0) : json_object();
	if (*out)
		rc = 0;
	else
		snprintf(err, errn, "nesting deeper than %d, or a key that is not a scalar",
			 MAX_DEPTH);
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}

int al_yaml_load_file(const char *path, json_t **out, char *err, size_t errn)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;
	if (!f) {
		snprintf(err, errn, "%s", strerror(errno));
		return -1;
	}
	FILE *mem = open_memstream(&text, &len);
	char buf[65536];
	size_t n;
	while (mem && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	fclose(f);
	if (!mem) {
		snprintf(err, errn, "out of memory");
		return -1;
	}
	fclose(mem);
	int rc = al_yaml_load(text, len, out, err, errn);
	free(text);
	return rc;
}
