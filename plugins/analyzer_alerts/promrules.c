/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus rule files to bearmon rules (see promrules.h). The file's
 * structure is checked here; each rule's own fields are then checked by
 * al_rule_from_json like any other rule.
 */
#define _GNU_SOURCE
#include "promrules.h"

#include <stdio.h>
#include <string.h>

#include "rule.h"
#include "yamljson.h"

int al_promrules_is_prometheus(const json_t *doc)
{
	return json_is_object(doc) && json_is_array(json_object_get(doc, "groups"));
}

/* A YAML scalar as text (labels may be written unquoted: `team: 1`). */
static json_t *as_text(const json_t *v)
{
	char buf[64];
	if (json_is_string(v))
		return json_incref((json_t *)v);
	if (json_is_integer(v))
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, sizeof(buf), "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
	else
		return NULL;
	return json_string(buf);
}

/* labels or annotations as an object of strings, or NULL when malformed. */
static json_t *text_map(const json_t *m)
{
	const char *k;
	const json_t *v;
	json_t *o = json_object();
	if (!m || json_is_null(m))
		return o;
	if (!json_is_object(m)) {
		json_decref(o);
		return NULL;
	}
	json_object_foreach((json_t *)m, k, v) {
		json_t *t = as_text(v);
		if (!t) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, k, t);
	}
	return o;
}

/* A severity label bearmon knows becomes the severity field; another
 * value is kept as the label prometheus_severity. */
static void take_severity(json_t *rule, json_t *labels)
{
	const char *sev = json_string_value(json_object_get(labels, "severity"));
	if (!sev)
		return;
	for (size_t i = 0; al_severity_names[i]; i++) {
		if (strcmp(sev, al_severity_names[i]) == 0) {
			json_object_set_new(rule, "severity", json_string(sev));
			json_object_del(labels, "severity");
			return;
		}
	}
	json_object_set_new(labels, "prometheus_severity", json_string(sev));
	json_object_del(labels, "severity");
}

static int copy_duration(json_t *dst, const json_t *src, const char *key)
{
	const json_t *v = json_object_get(src, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	json_object_set(dst, key, (json_t *)v);
	return 0;
}

/* Ids are unique: a repeated GROUP:NAME gets :2, :3 ... */
static void set_id(json_t *rule, const json_t *all, const char *group, const char *name)
{
	char id[160];
	snprintf(id, sizeof(id), "%s:%s", group, name);
	for (char *p = id; *p; p++)
		if (!strchr("_.:-", *p) && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					     (*p >= '0' && *p <= '9')))
			*p = '_';
	char unique[176];
	snprintf(unique, sizeof(unique), "%s", id);
	for (int n = 2;; n++) {
		bool taken = false;
		for (size_t i = 0; i < json_array_size(all) && !taken; i++)
			taken =
			    strcmp(json_string_value(json_object_get(json_array_get(all, i), "id")),
				   unique) == 0;
		if (!taken)
			break;
		snprintf(unique, sizeof(unique), "%.160s:%d", id, n);
	}
	json_object_set_new(rule, "id", json_string(unique));
}

static json_t *convert_rule(const json_t *pr, const char *group, const json_t *all, char *err,
			    size_t errn)
{
	const char *alert = json_string_value(json_object_get(pr, "alert"));
	const char *record = json_string_value(json_object_get(pr, "record"));
	const char *expr = json_string_value(json_object_get(pr, "expr"));
	const char *name = alert ? alert : record;
	if (!name || (alert && record) || !expr) {
		snprintf(err, errn, "group %s: a rule needs alert or record (not both) and expr",
			 group);
		return NULL;
	}
	json_t *labels = text_map(json_object_get(pr, "labels"));
	json_t *ann = text_map(json_object_get(pr, "annotations"));
	json_t *r = json_pack("{s:s, s:s, s:s}", "name", name, "condition",
			      alert ? "promql" : "record", "expr", expr);
	if (!labels || !ann || !r || copy_duration(r, pr, "for") ||
	    copy_duration(r, pr, "keep_firing_for")) {
		snprintf(err, errn, "group %s, rule %s: labels and annotations must be maps of "
				    "strings, for and keep_firing_for durations",
			 group, name);
		json_decref(labels);
		json_decref(ann);
		json_decref(r);
		return NULL;
	}
	if (record)
		json_object_set_new(r, "record", json_string(record));
	take_severity(r, labels);
	json_object_set_new(r, "labels", labels);
	if (alert)
		json_object_set_new(r, "annotations", ann);
	else
		json_decref(ann);
	set_id(r, all, group, name);
	return r;
}

int al_promrules_convert(const json_t *doc, json_t **rules, char *err, size_t errn)
{
	const json_t *groups = json_object_get(doc, "groups");
	if (!json_is_array(groups)) {
		snprintf(err, errn, "not a Prometheus rule file: no groups list");
		return -1;
	}
	*rules = json_array();
	for (size_t g = 0; g < json_array_size(groups); g++) {
		const json_t *grp = json_array_get(groups, g);
		const char *gname = json_string_value(json_object_get(grp, "name"));
		const json_t *list = json_object_get(grp, "rules");
		if (!gname || !json_is_array(list)) {
			snprintf(err, errn, "group %zu: needs a name and a rules list", g + 1);
			goto out_free;
		}
		for (size_t i = 0; i < json_array_size(list); i++) {
			json_t *r = convert_rule(json_array_get(list, i), gname, *rules, err, errn);
			if (!r)
				goto out_free;
			json_array_append_new(*rules, r);
		}
	}
	return 0;
out_free:
	json_decref(*rules);
	*rules = NULL;
	return -1;
}

int al_rules_file_load(const char *path, json_t **rules, int *prometheus, char *err, size_t errn)
{
	json_t *doc;
	char why[256];
	if (al_yaml_load_file(path, &doc, why, sizeof(why))) {
		snprintf(err, errn, "%s: %s", path, why);
		return -1;
	}
	*prometheus = al_promrules_is_prometheus(doc);
	int rc = 0;
	if (*prometheus) {
		rc = al_promrules_convert(doc, rules, why, sizeof(why));
		if (rc)
			snprintf(err, errn, "%s: %s", path, why);
	} else if (json_is_array(doc) || json_is_array(json_object_get(doc, "rules"))) {
		*rules = json_incref(json_is_array(doc) ? doc : json_object_get(doc, "rules"));
	} else {
		snprintf(err, errn,
			 "%s: expected a Prometheus rule file (groups:), a list of rules "
			 "or {\"rules\": [...]}",
			 path);
		rc = -1;
	}
	json_decref(doc);
	return rc;
}
