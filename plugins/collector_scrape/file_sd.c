/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File-based service discovery (see file_sd.h): JSON through jansson, YAML
 * through libyaml's document loader, both into the same target groups;
 * glob(3) for the patterns and stat(2) to notice changes.
 */
#define _GNU_SOURCE
#include "file_sd.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include <bearmon/bm_err.h>

#include "../common/expfmt.h"

__attribute__((format(printf, 3, 4))) static int sd_fail(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return BM_EPROTO;
}

static void group_free(struct sd_group *g)
{
	for (size_t i = 0; i < g->n_targets; i++)
		free(g->targets[i]);
	for (size_t i = 0; i < g->n_labels; i++) {
		free((char *)g->labels[i].name);
		free((char *)g->labels[i].value);
	}
	free(g->targets);
	free(g->labels);
	memset(g, 0, sizeof(*g));
}

void sd_groups_free(struct sd_groups *g)
{
	for (size_t i = 0; i < g->n; i++)
		group_free(&g->v[i]);
	free(g->v);
	memset(g, 0, sizeof(*g));
}

/* Room for n groups / targets / labels, allocated once their count is
 * known (both formats say it before the items). */
static int group_alloc(struct sd_group *g, size_t n_targets, size_t n_labels)
{
	g->targets = n_targets ? calloc(n_targets, sizeof(*g->targets)) : NULL;
	g->labels = n_labels ? calloc(n_labels, sizeof(*g->labels)) : NULL;
	return (n_targets && !g->targets) || (n_labels && !g->labels) ? BM_ENOMEM : 0;
}

static int add_target(struct sd_group *g, const char *t, size_t gi, char *why, size_t n)
{
	if (!*t)
		return sd_fail(why, n, "group %zu: empty target", gi);
	if (!(g->targets[g->n_targets] = strdup(t)))
		return BM_ENOMEM;
	g->n_targets++;
	return 0;
}

static int add_label(struct sd_group *g, const char *k, const char *v, size_t gi, char *why,
		     size_t n)
{
	if (!expfmt_valid_label_name(k))
		return sd_fail(why, n, "group %zu: \"%.64s\" is not a valid label name", gi, k);
	for (size_t i = 0; i < g->n_labels; i++)
		if (strcmp(g->labels[i].name, k) == 0)
			return sd_fail(why, n, "group %zu: label %s given twice", gi, k);
	char *kc = strdup(k), *vc = strdup(v);
	if (!kc || !vc) {
		free(kc);
		free(vc);
		return BM_ENOMEM;
	}
	g->labels[g->n_labels++] = (struct bm_label){kc, vc};
	return 0;
}

/* ---- JSON ------------------------------------------------------------ */

static int json_group(const json_t *o, struct sd_group *g, size_t gi, char *why, size_t n)
{
	if (!json_is_object(o))
		return sd_fail(why, n, "group %zu: expected an object", gi);
	const json_t *targets = json_object_get(o, "targets");
	const json_t *labels = json_object_get(o, "labels");
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)o, key, v)
		if (strcmp(key, "targets") && strcmp(key, "labels"))
			return sd_fail(why, n, "group %zu: unknown field \"%.64s\"", gi, key);
	if ((targets && !json_is_array(targets)) || (labels && !json_is_object(labels)))
		return sd_fail(why, n, "group %zu: targets must be a list, labels a map", gi);
	if (group_alloc(g, json_array_size(targets), json_object_size(labels)))
		return BM_ENOMEM;
	size_t i;
	int rc = 0;
	json_array_foreach(targets, i, v) {
		if (!json_is_string(v))
			return sd_fail(why, n, "group %zu: target %zu is not a string", gi, i);
		if ((rc = add_target(g, json_string_value(v), gi, why, n)))
			return rc;
	}
	json_object_foreach((json_t *)labels, key, v) {
		if (!json_is_string(v))
			return sd_fail(why, n, "group %zu: label %.64s is not a string", gi, key);
		if ((rc = add_label(g, key, json_string_value(v), gi, why, n)))
			return rc;
	}
	return 0;
}

static int parse_json(const char *text, size_t len, struct sd_groups *out, char *why, size_t n)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return sd_fail(why, n, "line %d: %s", jerr.line, jerr.text);
	int rc = 0;
	if (!json_is_array(root)) {
		rc = sd_fail(why, n, "expected a list of target groups");
	} else if (json_array_size(root) && !(out->v = calloc(json_array_size(root), sizeof(*out->v)))) {
		rc = BM_ENOMEM;
	} else {
		size_t i;
		json_t *g;
		json_array_foreach(root, i, g) {
			out->n++;
			if ((rc = json_group(g, &out->v[i], i, why, n)))
				break;
		}
	}
	json_decref(root);
	return rc;
}

/* ---- YAML ------------------------------------------------------------ */

static const char *scalar(yaml_document_t *doc, yaml_node_t *node)
{
	return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

/* "targets:" or "labels:" with nothing after (YAML's null) */
static bool empty_scalar(yaml_document_t *doc, yaml_node_t *node)
{
	const char *v = scalar(doc, node);
	return v && (!v[0] || strcmp(v, "~") == 0 || strcmp(v, "null") == 0);
}

static int yaml_targets(yaml_document_t *doc, yaml_node_t *seq, struct sd_group *g, size_t gi,
			char *why, size_t n)
{
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
	     it++) {
		const char *t = scalar(doc, yaml_document_get_node(doc, *it));
		if (!t)
			return sd_fail(why, n, "group %zu: a target is not a string", gi);
		int rc = add_target(g, t, gi, why, n);
		if (rc)
			return rc;
	}
	return 0;
}

static int yaml_labels(yaml_document_t *doc, yaml_node_t *map, struct sd_group *g, size_t gi,
		       char *why, size_t n)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
		const char *v = scalar(doc, yaml_document_get_node(doc, p->value));
		if (!k || !v)
			return sd_fail(why, n, "group %zu: labels must map names to strings", gi);
		int rc = add_label(g, k, v, gi, why, n);
		if (rc)
			return rc;
	}
	return 0;
}

static size_t yaml_len(const yaml_node_t *node)
{
	if (!node)
		return 0;
	if (node->type == YAML_SEQUENCE_NODE)
		return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (node->type == YAML_MAPPING_NODE)
		return (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
	return 0;
}

static int yaml_group(yaml_document_t *doc, yaml_node_t *node, struct sd_group *g, size_t gi,
		      char *why, size_t n)
{
	if (!node || node->type != YAML_MAPPING_NODE)
		return sd_fail(why, n, "group %zu: expected a map", gi);
	yaml_node_t *targets = NULL, *labels = NULL;
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		if (k && strcmp(k, "targets") == 0)
			targets = v;
		else if (k && strcmp(k, "labels") == 0)
			labels = v;
		else
			return sd_fail(why, n, "group %zu: unknown field \"%.64s\"", gi, k ? k : "?");
	}
	if ((targets && targets->type != YAML_SEQUENCE_NODE && !empty_scalar(doc, targets)) ||
	    (labels && labels->type != YAML_MAPPING_NODE && !empty_scalar(doc, labels)))
		return sd_fail(why, n, "group %zu: targets must be a list, labels a map", gi);
	if (group_alloc(g, yaml_len(targets), yaml_len(labels)))
		return BM_ENOMEM;
	int rc = 0;
	if (targets && targets->type == YAML_SEQUENCE_NODE)
		rc = yaml_targets(doc, targets, g, gi, why, n);
	if (!rc && labels && labels->type == YAML_MAPPING_NODE)
		rc = yaml_labels(doc, labels, g, gi, why, n);
	return rc;
}

static int yaml_root(yaml_document_t *doc, struct sd_groups *out, char *why, size_t n)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	if (!root || empty_scalar(doc, root))
		return 0; /* an empty file: no groups */
	if (root->type != YAML_SEQUENCE_NODE)
		return sd_fail(why, n, "expected a list of target groups");
	size_t count = yaml_len(root);
	if (count && !(out->v = calloc(count, sizeof(*out->v))))
		return BM_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		out->n++;
		int rc = yaml_group(doc, yaml_document_get_node(doc, root->data.sequence.items.start[i]),
				    &out->v[i], i, why, n);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_yaml(const char *text, size_t len, struct sd_groups *out, char *why, size_t n)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser))
		return BM_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc;
	if (!yaml_parser_load(&parser, &doc)) {
		rc = sd_fail(why, n, "line %zu: %s", parser.problem_mark.line + 1,
			     parser.problem ? parser.problem : "syntax error");
	} else {
		rc = yaml_root(&doc, out, why, n);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return rc;
}

static bool has_suffix(const char *s, const char *sfx)
{
	size_t a = strlen(s), b = strlen(sfx);
	return a >= b && strcmp(s + a - b, sfx) == 0;
}

int sd_parse(const char *name, const char *text, size_t len, struct sd_groups *out, char *why,
	     size_t why_len)
{
	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	int rc = has_suffix(name, ".json") ? parse_json(text, len, out, why, why_len)
					   : parse_yaml(text, len, out, why, why_len);
	if (rc == BM_ENOMEM && !why[0])
		snprintf(why, why_len, "out of memory");
	if (rc)
		sd_groups_free(out);
	return rc;
}

/* ---- watching -------------------------------------------------------- */

static int read_all(const char *path, char **out, size_t *len, char *why, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return sd_fail(why, n, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SD_MAX_FILE_SIZE) {
		close(fd);
		return sd_fail(why, n, "not a regular file of at most %u MiB", SD_MAX_FILE_SIZE >> 20);
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	ssize_t r = 1;
	while (buf && got < (size_t)st.st_size && (r = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	close(fd);
	if (!buf || r < 0) {
		free(buf);
		return sd_fail(why, n, "cannot read: %s", buf ? strerror(errno) : "out of memory");
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

static bool same_stat(const struct sd_file *f, const struct stat *st)
{
	return f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
	       f->mtime.tv_sec == st->st_mtim.tv_sec && f->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       f->ctime.tv_sec == st->st_ctim.tv_sec && f->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static struct sd_file *find_or_add(struct sd_watch *w, const char *path)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->files[i].path, path) == 0)
			return &w->files[i];
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		struct sd_file *v = realloc(w->files, cap * sizeof(*v));
		if (!v)
			return NULL;
		w->files = v;
		w->cap = cap;
	}
	struct sd_file *f = &w->files[w->n];
	memset(f, 0, sizeof(*f));
	if (!(f->path = strdup(path)))
		return NULL;
	w->n++;
	return f;
}

/* Re-read f when it changed; true when its groups were replaced. */
static bool reload(struct sd_watch *w, struct sd_file *f, const struct stat *st, sd_error_cb cb,
		   void *user)
{
	if (f->present && same_stat(f, st))
		return false;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtime = st->st_mtim;
	f->ctime = st->st_ctim;
	char why[256];
	char *text = NULL;
	size_t len = 0;
	struct sd_groups g;
	w->reads++;
	int rc = read_all(f->path, &text, &len, why, sizeof(why));
	if (!rc)
		rc = sd_parse(f->path, text, len, &g, why, sizeof(why));
	free(text);
	if (rc) {
		w->errors++;
		if (cb)
			cb(user, f->path, why);
		return false; /* keep the last good groups */
	}
	sd_groups_free(&f->groups);
	f->groups = g;
	return true;
}

static void mark_pattern(struct sd_watch *w, const char *pattern, bool *changed, sd_error_cb cb,
			 void *user)
{
	glob_t gl;
	if (glob(pattern, 0, NULL, &gl) != 0)
		return; /* no match (or no access): nothing from this pattern */
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		struct stat st;
		if (stat(gl.gl_pathv[i], &st) || S_ISDIR(st.st_mode))
			continue;
		struct sd_file *f = find_or_add(w, gl.gl_pathv[i]);
		if (!f || f->matched)
			continue; /* out of memory, or matched by an earlier pattern */
		f->matched = true;
		*changed |= reload(w, f, &st, cb, user);
	}
	globfree(&gl);
}

bool sd_watch_refresh(struct sd_watch *w, const struct bm_strlist *patterns, sd_error_cb on_error,
		      void *user)
{
	bool changed = false;
	for (size_t i = 0; i < w->n; i++)
		w->files[i].matched = false;
	for (size_t i = 0; i < patterns->n; i++)
		mark_pattern(w, patterns->v[i], &changed, on_error, user);
	/* files no pattern matches any more leave with their groups */
	size_t j = 0;
	for (size_t i = 0; i < w->n; i++) {
		struct sd_file *f = &w->files[i];
		if (!f->matched) {
			changed |= f->groups.n > 0;
			sd_groups_free(&f->groups);
			free(f->path);
			continue;
		}
		f->present = true;
		w->files[j++] = *f;
	}
	w->n = j;
	return changed;
}

void sd_watch_free(struct sd_watch *w)
{
	for (size_t i = 0; i < w->n; i++) {
		sd_groups_free(&w->files[i].groups);
		free(w->files[i].path);
	}
	free(w->files);
	memset(w, 0, sizeof(*w));
}
