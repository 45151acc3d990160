/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state file (history.h), as JSON with jansson:
 *   {"version": 1,
 *    "effects": [{"key": "KIND|METRIC", "n": N, "mean": M, "m2": S}],
 *    "kinds": [{"kind": K, "executions": N, "rollbacks": N, "irreversible": N}],
 *    "actions": [{"id", "plan_id", "candidate_id", "optimizer", "dimension",
 *                 "kind", "actuator", "target", "params": {}, "before": {},
 *                 "after": {}, "state", "reversible", "approved_by", "reason",
 *                 "error", "executed_ms", "finished_ms"}]}
 * Only actions that ran (executed, rolled back, failed) are kept.
 */
#define _GNU_SOURCE
#include "history.h"

#include <bearmon/bm_vec.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "learn.h"
#include "plan.h"

#define HISTORY_VERSION 1

static json_t *kv_json(const struct kvl *l)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < l->n; i++)
		json_object_set_new(o, l->v[i].key, json_string(l->v[i].value));
	return o;
}

static int kv_load(struct kvl *l, const json_t *o)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v)
	{
		if (json_is_string(v) && kvl_set(l, k, json_string_value(v)))
			return BM_ENOMEM;
	}
	return 0;
}

static json_t *action_json(const struct action *a)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:b, s:s, "
			 "s:s, s:s, s:I, s:I}",
			 "id", a->id, "plan_id", a->plan_id, "candidate_id", a->candidate_id,
			 "optimizer", a->optimizer, "dimension", a->dimension, "kind", a->kind,
			 "actuator", a->actuator, "target", a->target, "params", kv_json(&a->params),
			 "before", kv_json(&a->before), "after", kv_json(&a->after), "state",
			 a->state, "reversible", a->reversible, "approved_by", a->approved_by,
			 "reason", a->reason, "error", a->error, "executed_ms",
			 (json_int_t)a->executed_ms, "finished_ms", (json_int_t)a->finished_ms);
}

static json_t *state_json(const struct engine *e)
{
	json_t *effects = json_array(), *kinds = json_array(), *actions = json_array();
	for (size_t i = 0; i < e->learn.n; i++) {
		const struct effect *f = &e->learn.e[i];
		json_array_append_new(effects, json_pack("{s:s, s:I, s:f, s:f}", "key", f->key, "n",
							 (json_int_t)f->n, "mean", f->mean, "m2",
							 f->m2));
	}
	for (size_t i = 0; i < e->learn.n_k; i++) {
		const struct kind_stats *k = &e->learn.k[i];
		json_array_append_new(kinds, json_pack("{s:s, s:I, s:I, s:I}", "kind", k->kind,
						       "executions", (json_int_t)k->executions,
						       "rollbacks", (json_int_t)k->rollbacks,
						       "irreversible", (json_int_t)k->irreversible));
	}
	for (size_t i = 0; i < e->n_actions; i++)
		if (e->actions[i]->state != BM_ACTION_PLANNED)
			json_array_append_new(actions, action_json(e->actions[i]));
	return json_pack("{s:i, s:o, s:o, s:o}", "version", HISTORY_VERSION, "effects", effects,
			 "kinds", kinds, "actions", actions);
}

void history_save(struct engine *e)
{
	char tmp[600];
	json_t *j = state_json(e);
	char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
	json_decref(j);
	if (!text) {
		bm_log_warn(e->ctx, "out of memory: state file %s not written", e->state_path);
		return;
	}
	textf(tmp, sizeof(tmp), "%s.tmp", e->state_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);
	bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	int err = errno;
	if (fd >= 0)
		ok = close(fd) == 0 && ok;
	ok = ok && rename(tmp, e->state_path) == 0;
	if (!ok) {
		bm_log_warn(e->ctx, "cannot write the state file %s: %s", e->state_path,
			    strerror(err ? err : errno));
		unlink(tmp);
	}
	free(text);
}

static int load_effects(struct engine *e, const json_t *arr)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const char *key = json_string_value(json_object_get(v, "key"));
		if (!key)
			continue;
		struct effect f = {.n = (size_t)json_integer_value(json_object_get(v, "n")),
				   .mean = json_number_value(json_object_get(v, "mean")),
				   .m2 = json_number_value(json_object_get(v, "m2"))};
		if (!(f.key = strdup(key)) || BM_VEC_RESERVE(e->learn.e, e->learn.cap, e->learn.n + 1)) {
			free(f.key);
			return BM_ENOMEM;
		}
		e->learn.e[e->learn.n++] = f;
	}
	return 0;
}

static int load_kinds(struct engine *e, const json_t *arr)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const char *kind = json_string_value(json_object_get(v, "kind"));
		if (!kind)
			continue;
		struct kind_stats k = {
			.executions = (size_t)json_integer_value(json_object_get(v, "executions")),
			.rollbacks = (size_t)json_integer_value(json_object_get(v, "rollbacks")),
			.irreversible = (size_t)json_integer_value(json_object_get(v, "irreversible")),
		};
		if (!(k.kind = strdup(kind)) ||
		    BM_VEC_RESERVE(e->learn.k, e->learn.cap_k, e->learn.n_k + 1)) {
			free(k.kind);
			return BM_ENOMEM;
		}
		e->learn.k[e->learn.n_k++] = k;
	}
	return 0;
}

static char *str_dup(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return strdup(s ? s : "");
}

static void str_copy(char *dst, size_t n, const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	textf(dst, n, "%s", s ? s : "");
}

static struct action *load_action(const json_t *o)
{
	struct action *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	str_copy(a->id, sizeof(a->id), o, "id");
	str_copy(a->plan_id, sizeof(a->plan_id), o, "plan_id");
	str_copy(a->approved_by, sizeof(a->approved_by), o, "approved_by");
	str_copy(a->reason, sizeof(a->reason), o, "reason");
	str_copy(a->error, sizeof(a->error), o, "error");
	a->candidate_id = str_dup(o, "candidate_id");
	a->optimizer = str_dup(o, "optimizer");
	a->dimension = str_dup(o, "dimension");
	a->kind = str_dup(o, "kind");
	a->actuator = str_dup(o, "actuator");
	a->target = str_dup(o, "target");
	int state = (int)json_integer_value(json_object_get(o, "state"));
	a->state = state >= BM_ACTION_EXECUTED && state <= BM_ACTION_FAILED ? state
									  : BM_ACTION_FAILED;
	a->reversible = json_is_true(json_object_get(o, "reversible"));
	a->executed_ms = json_integer_value(json_object_get(o, "executed_ms"));
	a->finished_ms = json_integer_value(json_object_get(o, "finished_ms"));
	bool ok = a->id[0] && a->candidate_id && a->optimizer && a->dimension && a->kind &&
		  a->actuator && a->target &&
		  !kv_load(&a->params, json_object_get(o, "params")) &&
		  !kv_load(&a->before, json_object_get(o, "before")) &&
		  !kv_load(&a->after, json_object_get(o, "after"));
	if (!ok) {
		action_free(a);
		return NULL;
	}
	return a;
}

int history_load(struct engine *e, char *why, size_t why_n)
{
	json_error_t jerr;
	json_t *j = json_load_file(e->state_path, 0, &jerr);
	if (!j) {
		if (access(e->state_path, F_OK) != 0)
			return 0; /* first start */
		textf(why, why_n, "state file %s: %s (line %d)", e->state_path, jerr.text,
			 jerr.line);
		return BM_EPROTO;
	}
	int rc = 0;
	if (json_integer_value(json_object_get(j, "version")) != HISTORY_VERSION) {
		textf(why, why_n, "state file %s: unknown version", e->state_path);
		rc = BM_EPROTO;
	}
	if (!rc)
		rc = load_effects(e, json_object_get(j, "effects"));
	if (!rc)
		rc = load_kinds(e, json_object_get(j, "kinds"));
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(j, "actions"), i, v)
	{
		struct action *a = rc ? NULL : load_action(v);
		if (a && actions_add(e, a))
			action_free(a);
	}
	json_decref(j);
	if (rc == BM_ENOMEM)
		textf(why, why_n, "out of memory reading %s", e->state_path);
	return rc;
}
