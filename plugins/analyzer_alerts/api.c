/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The alerting API under /api/bearmon/v1 (main thread):
 *   GET    /alerts                 active alerts (?state=pending|firing, ?rule=ID) and groups
 *   GET    /alerts/FP              one alert
 *   POST   /alerts/FP/ack          acknowledge {by, comment, expires}
 *   DELETE /alerts/FP/ack          withdraw the acknowledgement
 *   GET    /rules                  every rule;  POST /rules  add one
 *   GET    /rules/ID               one rule;    PUT /rules/ID replace;  DELETE /rules/ID
 *   POST   /rules/import           a Prometheus rule file (YAML or JSON)
 *   GET    /silences               every silence; POST /silences  add or replace
 *   GET    /silences/ID            one silence;   DELETE /silences/ID  end it now
 * Routes are per path, not per method, in the host API: every path that
 * takes a change is registered BM_HTTP_ADMIN, its reads included; GET
 * /alerts needs no admin token. The alert history is the store's
 * (/alerts/history, an exact route that wins over our /alerts/ prefix).
 */
#define _GNU_SOURCE
#include "alerts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promrules.h"
#include "promview.h"
#include "timeparse.h"
#include "yamljson.h"

static void reply_json(struct bm_http_req *r, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text) {
		bm_http_reply(r, 500, "application/json",
			      "{\"status\":\"error\",\"error\":\"out of memory\"}", 42);
		return;
	}
	bm_http_reply(r, status, "application/json", text, strlen(text));
	free(text);
}

__attribute__((format(printf, 4, 5))) static void reply_error(struct bm_http_req *r, int status,
							     const char *field, const char *fmt,
							     ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *j = json_pack("{s:s, s:s}", "status", "error", "error", msg);
	if (j && field && *field)
		json_object_set_new(j, "field", json_string(field));
	reply_json(r, status, j);
}

static void reply_rule_error(struct bm_http_req *r, int status, const struct al_rule_err *e)
{
	if (e->field[0])
		reply_error(r, status, e->field, "%s: %s", e->field, e->msg);
	else
		reply_error(r, status, NULL, "%s", e->msg);
}

static void reply_ok(struct bm_http_req *r, int status, const char *key, json_t *v)
{
	reply_json(r, status, json_pack("{s:s, s:o}", "status", "ok", key, v ? v : json_null()));
}

static void method_not_allowed(struct bm_http_req *r, const char *allow)
{
	bm_http_add_header(r, "Allow", allow);
	reply_error(r, 405, NULL, "method %s not allowed here; allowed: %s", bm_http_method(r),
		    allow);
}

static bool is(struct bm_http_req *r, const char *method)
{
	return strcmp(bm_http_method(r), method) == 0;
}

/* The request body as JSON; NULL after answering 400. */
static json_t *body_json(struct bm_http_req *r)
{
	size_t len = 0;
	const char *body = bm_http_body(r, &len);
	json_error_t je;
	json_t *j = body && len ? json_loadb(body, len, 0, &je) : NULL;
	if (!j)
		reply_error(r, 400, "body", "body: %s",
			    len ? je.text : "a JSON object is required");
	return j;
}

/* The path below prefix (e.g. "ID/ack" under /alerts/). */
static const char *below(struct bm_http_req *r, const char *prefix)
{
	const char *p = bm_http_path(r);
	size_t n = strlen(prefix);
	return strncmp(p, prefix, n) == 0 ? p + n : "";
}

/* --- rules ---------------------------------------------------------------- */

static json_t *all_rules(struct alerts *a)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < al_engine_rule_count(a->eng); i++)
		json_array_append_new(arr, al_rule_to_json(al_engine_rule_at(a->eng, i)));
	return arr;
}

static void create_rule(struct alerts *a, struct bm_http_req *r)
{
	json_t *j = body_json(r);
	struct al_rule *rule;
	struct al_rule_err err;
	if (!j)
		return;
	int64_t now = bm_now_ms(a->ctx);
	pthread_mutex_lock(&a->lock);
	int rc = al_rule_from_json(j, AL_SRC_API, now, al_engine_has_promql(a->eng), &rule, &err);
	int status = 400;
	if (!rc && al_engine_rule_add(a->eng, rule, now, &err)) {
		al_rule_free(rule);
		rc = -1;
		status = 409;
	}
	json_t *out = rc ? NULL : al_rule_to_json(rule);
	pthread_mutex_unlock(&a->lock);
	json_decref(j);
	if (rc) {
		reply_rule_error(r, status, &err);
		return;
	}
	alerts_kick(a);
	reply_ok(r, 201, "rule", out);
}

static void h_rules(void *user, struct bm_http_req *r)
{
	struct alerts *a = user;
	if (is(r, "GET")) {
		pthread_mutex_lock(&a->lock);
		json_t *rules = all_rules(a);
		pthread_mutex_unlock(&a->lock);
		reply_ok(r, 200, "rules", rules);
	} else if (is(r, "POST")) {
		create_rule(a, r);
	} else {
		method_not_allowed(r, "GET, POST");
	}
}

/* Only rules made through the API or imported may change through it. */
static bool editable(struct bm_http_req *r, const struct al_rule *rule)
{
	if (rule->source == AL_SRC_API || rule->source == AL_SRC_IMPORT)
		return true;
	if (rule->source == AL_SRC_CONFIG)
		reply_error(r, 409, NULL, "rule %s comes from the config; change it there",
			    rule->id);
	else
		reply_error(r, 409, NULL, "rule %s comes from the rule file %s; change it there",
			    rule->id, rule->origin ? rule->origin : "?");
	return false;
}

static void replace_rule(struct alerts *a, struct bm_http_req *r, const char *id)
{
	json_t *j = body_json(r);
	struct al_rule *rule;
	struct al_rule_err err;
	if (!j)
		return;
	const char *given = json_string_value(json_object_get(j, "id"));
	if (given && strcmp(given, id) != 0) {
		json_decref(j);
		reply_error(r, 400, "id", "id: %s in the body, %s in the path", given, id);
		return;
	}
	json_object_set_new(j, "id", json_string(id));
	int64_t now = bm_now_ms(a->ctx);
	pthread_mutex_lock(&a->lock);
	const struct al_rule *old = al_engine_rule(a->eng, id);
	int status = !old ? 404 : 0;
	if (old && !editable(r, old)) {
		pthread_mutex_unlock(&a->lock);
		json_decref(j);
		return;
	}
	if (!status && al_rule_from_json(j, old->source, now, al_engine_has_promql(a->eng), &rule,
					 &err))
		status = 400;
	if (!status && al_engine_rule_replace(a->eng, rule, now, &err)) {
		al_rule_free(rule);
		status = 400;
	}
	json_t *out = status ? NULL : al_rule_to_json(al_engine_rule(a->eng, id));
	pthread_mutex_unlock(&a->lock);
	json_decref(j);
	if (status == 404)
		reply_error(r, 404, NULL, "no rule %s", id);
	else if (status)
		reply_rule_error(r, status, &err);
	else
		reply_ok(r, 200, "rule", out);
	alerts_kick(a);
}

static void delete_rule(struct alerts *a, struct bm_http_req *r, const char *id)
{
	pthread_mutex_lock(&a->lock);
	const struct al_rule *rule = al_engine_rule(a->eng, id);
	bool ok = rule && editable(r, rule);
	if (ok)
		al_engine_rule_remove(a->eng, id, bm_now_ms(a->ctx));
	pthread_mutex_unlock(&a->lock);
	if (!rule)
		reply_error(r, 404, NULL, "no rule %s", id);
	else if (ok)
		reply_ok(r, 200, "deleted", json_string(id));
	alerts_kick(a);
}

/* Validate every rule of the file before adding any: all or nothing. */
static int import_rules(struct alerts *a, const json_t *rules, const char *origin,
			struct al_rule_err *err, json_t *ids)
{
	size_t n = json_array_size(rules);
	struct al_rule **parsed = calloc(n + 1, sizeof(*parsed));
	int64_t now = bm_now_ms(a->ctx);
	int rc = parsed ? 0 : -1;
	for (size_t i = 0; !rc && i < n; i++)
		rc = al_rule_from_json(json_array_get(rules, i), AL_SRC_IMPORT, now, true,
				       &parsed[i], err);
	for (size_t i = 0; !rc && i < n; i++) {
		const struct al_rule *old = al_engine_rule(a->eng, parsed[i]->id);
		if (old && old->source != AL_SRC_IMPORT) {
			snprintf(err->field, sizeof(err->field), "id");
			snprintf(err->msg, sizeof(err->msg), "%s is taken by a rule from the %s",
				 parsed[i]->id, al_source_names[old->source]);
			rc = -1;
		}
	}
	bool validated = !rc;
	for (size_t i = 0; i < n && parsed; i++) {
		struct al_rule *r = parsed[i];
		if (validated) {
			r->origin = strdup(origin);
			json_array_append_new(ids, json_string(r->id));
			bool exists = al_engine_rule(a->eng, r->id) != NULL;
			if (!(exists ? al_engine_rule_replace(a->eng, r, now, err)
				     : al_engine_rule_add(a->eng, r, now, err)))
				continue; /* the engine owns it */
			rc = -1;  /* out of memory: what came before stays */
		}
		al_rule_free(r);
	}
	free(parsed);
	return rc;
}

static void import_file(struct alerts *a, struct bm_http_req *r)
{
	size_t len = 0;
	const char *body = bm_http_body(r, &len);
	const char *origin = bm_http_query(r, "origin");
	char why[512];
	json_t *doc = NULL, *rules = NULL;
	struct al_rule_err err = {{0}, {0}};
	if (!body || !len || al_yaml_load(body, len, &doc, why, sizeof(why)) ||
	    al_promrules_convert(doc, &rules, why, sizeof(why))) {
		reply_error(r, 400, "body", "body: %s",
			    len ? why : "a Prometheus rule file is required");
		json_decref(doc);
		return;
	}
	json_decref(doc);
	if (!al_engine_has_promql(a->eng)) {
		reply_error(r, 501, NULL,
			    "PromQL engine not available in this bearmond: the file's %zu rules "
			    "(alerting rules become promql rules, recording rules record rules) "
			    "need it",
			    json_array_size(rules));
		json_decref(rules);
		return;
	}
	json_t *ids = json_array();
	pthread_mutex_lock(&a->lock);
	int rc = import_rules(a, rules, origin ? origin : "api", &err, ids);
	pthread_mutex_unlock(&a->lock);
	json_decref(rules);
	if (rc) {
		json_decref(ids);
		reply_rule_error(r, 400, &err);
		return;
	}
	alerts_kick(a);
	reply_ok(r, 200, "imported", ids);
}

static void h_rule(void *user, struct bm_http_req *r)
{
	struct alerts *a = user;
	const char *id = below(r, ALERTS_API "/rules/");
	if (strcmp(id, "import") == 0) {
		if (is(r, "POST"))
			import_file(a, r);
		else
			method_not_allowed(r, "POST");
		return;
	}
	if (!al_rule_id_ok(id)) {
		reply_error(r, 404, NULL, "no rule %s", id);
	} else if (is(r, "GET")) {
		pthread_mutex_lock(&a->lock);
		const struct al_rule *rule = al_engine_rule(a->eng, id);
		json_t *j = rule ? al_rule_to_json(rule) : NULL;
		pthread_mutex_unlock(&a->lock);
		if (j)
			reply_ok(r, 200, "rule", j);
		else
			reply_error(r, 404, NULL, "no rule %s", id);
	} else if (is(r, "PUT")) {
		replace_rule(a, r, id);
	} else if (is(r, "DELETE")) {
		delete_rule(a, r, id);
	} else {
		method_not_allowed(r, "GET, PUT, DELETE");
	}
}

/* --- alerts ----------------------------------------------------------------- */

static void h_alerts(void *user, struct bm_http_req *r)
{
	struct alerts *a = user;
	const char *state = bm_http_query(r, "state");
	if (!is(r, "GET")) {
		method_not_allowed(r, "GET");
		return;
	}
	if (state && strcmp(state, "pending") != 0 && strcmp(state, "firing") != 0) {
		reply_error(r, 400, "state", "state: pending or firing");
		return;
	}
	pthread_mutex_lock(&a->lock);
	json_t *alerts = al_engine_alerts_json(a->eng, state, bm_http_query(r, "rule"));
	json_t *groups = al_engine_groups_json(a->eng);
	pthread_mutex_unlock(&a->lock);
	reply_json(r, 200, json_pack("{s:s, s:o, s:o}", "status", "ok", "alerts", alerts, "groups",
				     groups));
}

/* expires: a duration from now, an RFC 3339 time or ms since the epoch. */
static int ack_expiry(const json_t *v, int64_t now, int64_t *out)
{
	int64_t d;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > now) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && al_parse_duration(json_string_value(v), &d) == 0 && d > 0) {
		*out = now + d;
		return 0;
	}
	return json_is_string(v) && al_parse_time(json_string_value(v), out) == 0 && *out > now
		       ? 0
		       : -1;
}

static void ack(struct alerts *a, struct bm_http_req *r, const char *fp)
{
	json_t *j = body_json(r);
	int64_t now = bm_now_ms(a->ctx), expires = 0;
	if (!j)
		return;
	const char *by = json_string_value(json_object_get(j, "by"));
	const json_t *comment = json_object_get(j, "comment");
	if (!by)
		by = json_string_value(json_object_get(j, "who"));
	if (!by || !*by || (comment && !json_is_string(comment)) ||
	    ack_expiry(json_object_get(j, "expires"), now, &expires)) {
		const char *field = !by || !*by ? "by" : comment && !json_is_string(comment)
								 ? "comment"
								 : "expires";
		reply_error(r, 400, field, "%s: %s", field,
			    field[0] == 'b' ? "required: who acknowledges (\"user:alice\")"
			    : field[0] == 'c' ? "expected a string"
					      : "expected a future time or a duration from now");
		json_decref(j);
		return;
	}
	pthread_mutex_lock(&a->lock);
	int rc = al_engine_ack(a->eng, fp, by, json_string_value(comment), expires, now);
	json_t *out = rc ? NULL : al_engine_alert_json(a->eng, fp);
	pthread_mutex_unlock(&a->lock);
	json_decref(j);
	if (rc) {
		reply_error(r, 404, NULL, "no active alert %s", fp);
		return;
	}
	alerts_kick(a);
	reply_ok(r, 200, "alert", out);
}

static void unack(struct alerts *a, struct bm_http_req *r, const char *fp)
{
	pthread_mutex_lock(&a->lock);
	int rc = al_engine_unack(a->eng, fp, bm_now_ms(a->ctx));
	json_t *out = rc ? NULL : al_engine_alert_json(a->eng, fp);
	pthread_mutex_unlock(&a->lock);
	if (rc) {
		reply_error(r, 404, NULL, "no acknowledged alert %s", fp);
		return;
	}
	alerts_kick(a);
	reply_ok(r, 200, "alert", out);
}

static void h_alert(void *user, struct bm_http_req *r)
{
	struct alerts *a = user;
	char fp[64];
	const char *rest = below(r, ALERTS_API "/alerts/");
	size_t n = strcspn(rest, "/");
	snprintf(fp, sizeof(fp), "%.*s", (int)(n < sizeof(fp) ? n : 0), rest);
	const char *tail = rest + n;
	if (strcmp(tail, "/ack") == 0) {
		if (is(r, "POST"))
			ack(a, r, fp);
		else if (is(r, "DELETE"))
			unack(a, r, fp);
		else
			method_not_allowed(r, "POST, DELETE");
		return;
	}
	if (*tail) {
		reply_error(r, 404, NULL, "no route for %s", bm_http_path(r));
		return;
	}
	if (!is(r, "GET")) {
		method_not_allowed(r, "GET");
		return;
	}
	pthread_mutex_lock(&a->lock);
	json_t *j = al_engine_alert_json(a->eng, fp);
	pthread_mutex_unlock(&a->lock);
	if (j)
		reply_ok(r, 200, "alert", j);
	else
		reply_error(r, 404, NULL, "no active alert %s", fp);
}

/* --- silences ----------------------------------------------------------------- */

static void create_silence(struct alerts *a, struct bm_http_req *r)
{
	json_t *j = body_json(r);
	struct al_rule_err err;
	char id[64];
	if (!j)
		return;
	int64_t now = bm_now_ms(a->ctx);
	pthread_mutex_lock(&a->lock);
	int rc = al_engine_silence_put(a->eng, j, now, id, &err);
	json_t *out = rc ? NULL : al_engine_silence_json(a->eng, id, now);
	pthread_mutex_unlock(&a->lock);
	json_decref(j);
	if (rc) {
		reply_rule_error(r, 400, &err);
		return;
	}
	alerts_kick(a);
	reply_ok(r, 201, "silence", out);
}

static void h_silences(void *user, struct bm_http_req *r)
{
	struct alerts *a = user;
	if (is(r, "GET")) {
		pthread_mutex_lock(&a->lock);
		json_t *s = al_engine_silences_json(a->eng, bm_now_ms(a->ctx));
		pthread_mutex_unlock(&a->lock);
		reply_ok(r, 200, "silences", s);
	} else if (is(r, "POST")) {
		create_silence(a, r);
	} else {
		method_not_allowed(r, "GET, POST");
	}
}

static void h_silence(void *user, struct bm_http_req *r)
{
	struct alerts *a = user;
	const char *id = below(r, ALERTS_API "/silences/");
	int64_t now = bm_now_ms(a->ctx);
	if (!is(r, "GET") && !is(r, "DELETE")) {
		method_not_allowed(r, "GET, DELETE");
		return;
	}
	pthread_mutex_lock(&a->lock);
	int rc = is(r, "DELETE") ? al_engine_silence_expire(a->eng, id, now) : 0;
	json_t *j = rc ? NULL : al_engine_silence_json(a->eng, id, now);
	pthread_mutex_unlock(&a->lock);
	if (!j) {
		reply_error(r, 404, NULL, "no silence %s", id);
		return;
	}
	if (is(r, "DELETE"))
		alerts_kick(a);
	reply_ok(r, 200, "silence", j);
}

/* --- Prometheus' formats ----------------------------------------------------------- */

/* GET /api/v1/alerts and GET /api/v1/rules[?type=alert|record]. */
static void h_prom_alerts(void *user, struct bm_http_req *r)
{
	struct alerts *a = user;
	pthread_mutex_lock(&a->lock);
	json_t *j = al_prom_alerts_json(a->eng);
	pthread_mutex_unlock(&a->lock);
	reply_json(r, 200, j);
}

static void h_prom_rules(void *user, struct bm_http_req *r)
{
	struct alerts *a = user;
	const char *type = bm_http_query(r, "type");
	if (type && strcmp(type, "alert") != 0 && strcmp(type, "record") != 0) {
		reply_json(r, 400, json_pack("{s:s, s:s, s:s}", "status", "error", "errorType",
					     "bad_data", "error", "type: alert or record"));
		return;
	}
	pthread_mutex_lock(&a->lock);
	json_t *j = al_prom_rules_json(a->eng, type);
	pthread_mutex_unlock(&a->lock);
	reply_json(r, 200, j);
}

/* --- routes -------------------------------------------------------------------- */

int alerts_api_register(struct alerts *a, struct bm_err *err)
{
	static const struct {
		const char *path;
		unsigned flags;
		bm_http_cb cb;
	} routes[] = {
		{ALERTS_API "/alerts", 0, h_alerts},
		{ALERTS_API "/alerts/", BM_HTTP_PREFIX | BM_HTTP_ADMIN, h_alert},
		{ALERTS_API "/rules", BM_HTTP_ADMIN, h_rules},
		{ALERTS_API "/rules/", BM_HTTP_PREFIX | BM_HTTP_ADMIN, h_rule},
		{ALERTS_API "/silences", BM_HTTP_ADMIN, h_silences},
		{ALERTS_API "/silences/", BM_HTTP_PREFIX | BM_HTTP_ADMIN, h_silence},
		/* Prometheus' own paths and shapes (the core answers them empty
		 * while no rule engine runs) */
		{"/api/v1/alerts", 0, h_prom_alerts},
		{"/api/v1/rules", 0, h_prom_rules},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		int rc = bm_http_route(a->ctx, routes[i].path, routes[i].flags, routes[i].cb, a);
		if (rc == BM_ENOTSUP)
			return 0; /* no HTTP server: the engine runs without its API */
		if (rc)
			return bm_err_set(
			    err, rc, "cannot register %s: %s%s", routes[i].path, bm_strerror(rc),
			    rc == BM_EEXIST ? " (another alerts instance has it)" : "");
	}
	return 0;
}
