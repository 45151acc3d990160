/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rules from and to JSON (see rule.h). Every source (config, API, state
 * file, Prometheus rule files, test files) goes through al_rule_from_json,
 * so a rule means the same wherever it was written.
 */
#define _GNU_SOURCE
#include "rule.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "template.h"
#include "timeparse.h"

const char *const al_cond_names[] = {"gt",     "lt",          "eq",       "trend_inc",
				     "trend_dec", "anomaly", "rate_change", "forecast",
				     "absent", "promql",  "record",      NULL};
const char *const al_severity_names[] = {"info", "warning", "critical", "emergency", NULL};
const char *const al_source_names[] = {"config", "api", "file", "import", NULL};

/* Fields a client may send back unchanged from a GET: accepted, ignored. */
static const char *const read_only_fields[] = {"source", "origin", "created_ms", "updated_ms",
					       NULL};

static const char *const known_fields[] = {
	"id", "name", "metric", "condition", "threshold", "clear_threshold", "tolerance",
	"horizon", "window", "expr", "record", "for", "keep_firing_for", "cooldown",
	"repeat_interval", "expires", "severity", "labels", "annotations", "notifiers",
	"group_by", "group_wait", "group_interval", "flap_threshold", "flap_window", "enabled",
	NULL};

int al_err_set(struct al_rule_err *err, const char *field, const char *fmt, ...)
{
	va_list ap;
	snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

bool al_rule_id_ok(const char *s)
{
	size_t n = 0;
	for (; s && s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && !strchr("_.:-", s[n]))
			return false;
	return n > 0 && n <= 128;
}

bool al_cond_uses_samples(enum al_cond c)
{
	return c == AL_COND_GT || c == AL_COND_LT || c == AL_COND_EQ || c == AL_COND_RATE_CHANGE ||
	       c == AL_COND_ABSENT;
}

double al_rule_threshold(const struct al_rule *r, bool active)
{
	return active && !isnan(r->clear_threshold) ? r->clear_threshold : r->threshold;
}

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

static int enum_index(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static bool label_name_ok(const char *s)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* --- typed field readers: each names its field in err --------------- */

static int get_string(const json_t *j, const char *f, char **out, struct al_rule_err *err)
{
	const json_t *v = json_object_get(j, f);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return al_err_set(err, f, "expected a string");
	*out = strdup(json_string_value(v));
	return *out ? 0 : al_err_set(err, f, "out of memory");
}

static int get_number(const json_t *j, const char *f, double *out, struct al_rule_err *err)
{
	const json_t *v = json_object_get(j, f);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return al_err_set(err, f, "expected a finite number");
	*out = json_number_value(v);
	return 0;
}

static int get_duration(const json_t *j, const char *f, int64_t *out, struct al_rule_err *err)
{
	const json_t *v = json_object_get(j, f);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v) || al_parse_duration(json_string_value(v), out))
		return al_err_set(err, f, "expected a duration such as \"30s\", \"5m\", \"1h30m\"");
	return 0;
}

static int get_bool(const json_t *j, const char *f, bool *out, struct al_rule_err *err)
{
	const json_t *v = json_object_get(j, f);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return al_err_set(err, f, "expected true or false");
	*out = json_is_true(v);
	return 0;
}

static int get_enum(const json_t *j, const char *f, const char *const *names, int *out,
		    struct al_rule_err *err)
{
	const json_t *v = json_object_get(j, f);
	if (!v || json_is_null(v))
		return 0;
	int i = json_is_string(v) ? enum_index(names, json_string_value(v)) : -1;
	if (i < 0) {
		char all[200] = "";
		for (size_t k = 0; names[k]; k++)
			snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s",
				 k ? ", " : "", names[k]);
		return al_err_set(err, f, "expected one of %s", all);
	}
	*out = i;
	return 0;
}

static int get_strings(const json_t *j, const char *f, char ***out, size_t *n,
		       struct al_rule_err *err)
{
	const json_t *v = json_object_get(j, f);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return al_err_set(err, f, "expected a list of strings");
	*out = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!*out)
		return al_err_set(err, f, "out of memory");
	for (size_t i = 0; i < json_array_size(v); i++) {
		const json_t *s = json_array_get(v, i);
		if (!json_is_string(s))
			return al_err_set(err, f, "item %zu: expected a string", i);
		(*out)[(*n)++] = strdup(json_string_value(s));
	}
	return 0;
}

/* An object of template strings; each is checked. */
static int get_templates(const json_t *j, const char *f, struct al_kv **out, size_t *n,
			 struct al_rule_err *err)
{
	const json_t *v = json_object_get(j, f);
	const char *k;
	const json_t *val;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return al_err_set(err, f, "expected an object of strings");
	*out = calloc(json_object_size(v) + 1, sizeof(**out));
	if (!*out)
		return al_err_set(err, f, "out of memory");
	json_object_foreach((json_t *)v, k, val) {
		char field[64], why[200];
		snprintf(field, sizeof(field), "%s.%s", f, k);
		if (!json_is_string(val))
			return al_err_set(err, field, "expected a string");
		if (al_template_check(json_string_value(val), why, sizeof(why)))
			return al_err_set(err, field, "template %s", why);
		(*out)[*n].key = strdup(k);
		(*out)[(*n)++].value = strdup(json_string_value(val));
	}
	return 0;
}

/* --- expires ---------------------------------------------------------- */

static int get_expires(const json_t *j, int64_t now_ms, int64_t *out, struct al_rule_err *err)
{
	const json_t *v = json_object_get(j, "expires");
	int64_t d;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && al_parse_duration(json_string_value(v), &d) == 0 && d > 0) {
		*out = now_ms + d;
		return 0;
	}
	if (json_is_string(v) && al_parse_time(json_string_value(v), out) == 0)
		return 0;
	return al_err_set(
	    err, "expires",
	    "expected a duration from now (\"2h\"), an RFC 3339 time or ms since the epoch");
}

/* --- validation per condition ----------------------------------------- */

static bool needs_threshold(enum al_cond c)
{
	return c <= AL_COND_RATE_CHANGE;
}

static bool has_hysteresis(enum al_cond c)
{
	return c == AL_COND_GT || c == AL_COND_LT || c == AL_COND_RATE_CHANGE ||
	       c == AL_COND_TREND_INC || c == AL_COND_TREND_DEC || c == AL_COND_ANOMALY;
}

/* Which side of threshold clear_threshold must lie on: it clears later
 * than the threshold raises. */
static int check_clear(const struct al_rule *r, struct al_rule_err *err)
{
	bool upward = r->cond == AL_COND_LT || (r->cond == AL_COND_RATE_CHANGE && r->threshold < 0);
	if (isnan(r->clear_threshold))
		return 0;
	if (!has_hysteresis(r->cond))
		return al_err_set(err, "clear_threshold", "not used by condition %s",
				  al_cond_names[r->cond]);
	if (upward ? r->clear_threshold < r->threshold : r->clear_threshold > r->threshold)
		return al_err_set(err, "clear_threshold",
				  "%g would clear before the threshold %g raises: it must be %s it",
				  r->clear_threshold, r->threshold,
				  upward ? "at or above" : "at or below");
	return 0;
}

static int check_threshold(const struct al_rule *r, struct al_rule_err *err)
{
	if (needs_threshold(r->cond) && isnan(r->threshold))
		return al_err_set(err, "threshold", "required by condition %s",
				  al_cond_names[r->cond]);
	if (!needs_threshold(r->cond) && r->cond != AL_COND_FORECAST && !isnan(r->threshold))
		return al_err_set(err, "threshold", "not used by condition %s",
				  al_cond_names[r->cond]);
	if ((r->cond == AL_COND_TREND_INC || r->cond == AL_COND_TREND_DEC) && r->threshold < 0)
		return al_err_set(err, "threshold", "a rate magnitude per second, at least 0");
	if (r->cond == AL_COND_ANOMALY && (r->threshold < 0 || r->threshold > 1))
		return al_err_set(err, "threshold", "an anomaly score, between 0 and 1");
	if (r->tolerance != 0 && r->cond != AL_COND_EQ)
		return al_err_set(err, "tolerance", "only used by condition eq");
	if (r->tolerance < 0)
		return al_err_set(err, "tolerance", "at least 0");
	return check_clear(r, err);
}

static int check_sources(struct al_rule *r, bool promql_ok, struct al_rule_err *err)
{
	bool wants_expr = r->cond == AL_COND_PROMQL || r->cond == AL_COND_RECORD;
	char why[200];
	if (wants_expr && !promql_ok)
		return al_err_set(err, "condition",
				  "%s: PromQL engine not available in this bearmond",
				  al_cond_names[r->cond]);
	if (wants_expr && (!r->expr || !*r->expr))
		return al_err_set(err, "expr", "required by condition %s", al_cond_names[r->cond]);
	if (!wants_expr && r->expr)
		return al_err_set(err, "expr", "only used by conditions promql and record");
	if (wants_expr && r->metric)
		return al_err_set(err, "metric", "condition %s takes expr, not metric",
				  al_cond_names[r->cond]);
	if (!wants_expr && !r->metric)
		return al_err_set(err, "metric",
				  "required: a selector such as node_load1{instance=\"a\"}");
	if ((r->cond == AL_COND_RECORD) != (r->record != NULL))
		return al_err_set(err, "record",
				  r->record ? "only used by condition record"
					    : "required by condition record");
	if (r->record && !label_name_ok(r->record) && !strchr(r->record, ':'))
		return al_err_set(err, "record", "not a metric name: \"%s\"", r->record);
	if (r->metric && al_selector_parse(r->metric, true, &r->sel, why, sizeof(why)))
		return al_err_set(err, "metric", "%s", why);
	return 0;
}

static int check_durations(const struct al_rule *r, struct al_rule_err *err)
{
	if (r->cond == AL_COND_FORECAST && r->horizon_ms <= 0)
		return al_err_set(err, "horizon",
				  "required by condition forecast: how far ahead to look");
	if (r->horizon_ms && r->cond != AL_COND_FORECAST && r->cond != AL_COND_ABSENT)
		return al_err_set(err, "horizon", "only used by conditions forecast and absent");
	if (r->window_ms && r->cond != AL_COND_TREND_INC && r->cond != AL_COND_TREND_DEC)
		return al_err_set(err, "window", "only used by conditions trend_inc and trend_dec");
	if (r->repeat_interval_ms < 1000)
		return al_err_set(err, "repeat_interval", "at least 1s");
	if (r->group_interval_ms < 1000)
		return al_err_set(err, "group_interval", "at least 1s");
	if (r->flap_threshold < 0 || r->flap_threshold > AL_MAX_FLAP_THRESHOLD ||
	    r->flap_threshold == 1)
		return al_err_set(err, "flap_threshold", "0 (off) or 2..%d transitions",
				  AL_MAX_FLAP_THRESHOLD);
	if (r->flap_window_ms < 1000)
		return al_err_set(err, "flap_window", "at least 1s");
	return 0;
}

static int check_labels(const struct al_rule *r, struct al_rule_err *err)
{
	for (size_t i = 0; i < r->n_labels; i++) {
		char field[64];
		snprintf(field, sizeof(field), "labels.%s", r->labels[i].key);
		if (!label_name_ok(r->labels[i].key))
			return al_err_set(err, field, "not a label name");
		if (strcmp(r->labels[i].key, "alertname") == 0 ||
		    strcmp(r->labels[i].key, "severity") == 0)
			return al_err_set(err, field, "set by the rule's %s field",
					  r->labels[i].key[0] == 'a' ? "name" : "severity");
	}
	for (size_t i = 0; i < r->n_group_by; i++)
		if (!label_name_ok(r->group_by[i]))
			return al_err_set(err, "group_by", "\"%s\" is not a label name",
					  r->group_by[i]);
	return 0;
}

/* --- id ---------------------------------------------------------------- */

/* A config rule's id defaults to its name, with what an id cannot hold
 * replaced by '_'. */
static char *id_from_name(const char *name)
{
	char *id = strndup(name, 128);
	for (char *p = id; p && *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.:-", *p))
			*p = '_';
	return id;
}

static char *random_id(void)
{
	unsigned char b[8];
	char *id = malloc(17);
	if (!id)
		return NULL;
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)rand();
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(id + 2 * i, 3, "%02x", b[i]);
	return id;
}

static int take_id(const json_t *j, struct al_rule *r, struct al_rule_err *err)
{
	if (get_string(j, "id", &r->id, err))
		return -1;
	if (r->id && (!al_rule_id_ok(r->id) || strcmp(r->id, "import") == 0))
		return al_err_set(err, "id",
				  "1 to 128 of A-Z a-z 0-9 _ . : - (and not \"import\")");
	if (!r->id)
		r->id = r->source == AL_SRC_API ? random_id() : id_from_name(r->name);
	return r->id ? 0 : al_err_set(err, "id", "out of memory");
}

/* --- the whole rule ---------------------------------------------------- */

static int check_fields(const json_t *j, struct al_rule_err *err)
{
	const char *k;
	const json_t *v;
	if (!json_is_object(j))
		return al_err_set(err, "", "a rule is a JSON object");
	json_object_foreach((json_t *)j, k, v) {
		(void)v;
		if (!in_list(known_fields, k) && !in_list(read_only_fields, k))
			return al_err_set(err, k, "unknown field");
	}
	return 0;
}

static void set_defaults(struct al_rule *r, enum al_source src, int64_t now_ms)
{
	r->threshold = NAN;
	r->clear_threshold = NAN;
	r->repeat_interval_ms = AL_DEFAULT_REPEAT_MS;
	r->group_wait_ms = AL_DEFAULT_GROUP_WAIT_MS;
	r->group_interval_ms = AL_DEFAULT_GROUP_INTERVAL_MS;
	r->flap_threshold = AL_DEFAULT_FLAP_THRESHOLD;
	r->flap_window_ms = AL_DEFAULT_FLAP_WINDOW_MS;
	r->severity = BM_SEV_WARNING;
	r->enabled = true;
	r->source = src;
	r->created_ms = r->updated_ms = now_ms;
}

static int read_fields(const json_t *j, struct al_rule *r, int64_t now_ms, struct al_rule_err *err)
{
	int cond = -1, sev = (int)r->severity;
	const json_t *flap = json_object_get(j, "flap_threshold");
	if (flap && !json_is_null(flap) && !json_is_integer(flap))
		return al_err_set(err, "flap_threshold", "expected a whole number");
	if (json_is_integer(flap))
		r->flap_threshold = json_integer_value(flap);
	if (get_string(j, "name", &r->name, err) || get_string(j, "metric", &r->metric, err) ||
	    get_enum(j, "condition", al_cond_names, &cond, err) ||
	    get_number(j, "threshold", &r->threshold, err) ||
	    get_number(j, "clear_threshold", &r->clear_threshold, err) ||
	    get_number(j, "tolerance", &r->tolerance, err) ||
	    get_duration(j, "horizon", &r->horizon_ms, err) ||
	    get_duration(j, "window", &r->window_ms, err) || get_string(j, "expr", &r->expr, err) ||
	    get_string(j, "record", &r->record, err) || get_duration(j, "for", &r->for_ms, err) ||
	    get_duration(j, "keep_firing_for", &r->keep_firing_for_ms, err) ||
	    get_duration(j, "cooldown", &r->cooldown_ms, err) ||
	    get_duration(j, "repeat_interval", &r->repeat_interval_ms, err) ||
	    get_expires(j, now_ms, &r->expires_ms, err) ||
	    get_enum(j, "severity", al_severity_names, &sev, err) ||
	    get_templates(j, "labels", &r->labels, &r->n_labels, err) ||
	    get_templates(j, "annotations", &r->annotations, &r->n_annotations, err) ||
	    get_strings(j, "notifiers", &r->notifiers, &r->n_notifiers, err) ||
	    get_strings(j, "group_by", &r->group_by, &r->n_group_by, err) ||
	    get_duration(j, "group_wait", &r->group_wait_ms, err) ||
	    get_duration(j, "group_interval", &r->group_interval_ms, err) ||
	    get_duration(j, "flap_window", &r->flap_window_ms, err) ||
	    get_bool(j, "enabled", &r->enabled, err))
		return -1;
	if (!r->name || !*r->name)
		return al_err_set(err, "name", "required: the alert's name (its alertname label)");
	if (cond < 0)
		return al_err_set(err, "condition",
				  "required: one of gt, lt, eq, trend_inc, trend_dec, "
				  "anomaly, rate_change, forecast, absent, promql");
	r->cond = (enum al_cond)cond;
	r->severity = (enum bm_severity)sev;
	if (r->cond == AL_COND_ABSENT && !r->horizon_ms)
		r->horizon_ms = AL_DEFAULT_ABSENT_MS;
	return 0;
}

/* Times a rule kept in the state file brings back. */
static void read_times(const json_t *j, struct al_rule *r)
{
	const json_t *c = json_object_get(j, "created_ms");
	const json_t *u = json_object_get(j, "updated_ms");
	if (json_is_integer(c))
		r->created_ms = json_integer_value(c);
	if (json_is_integer(u))
		r->updated_ms = json_integer_value(u);
}

int al_rule_from_json(const json_t *j, enum al_source src, int64_t now_ms, bool promql_ok,
		      struct al_rule **out, struct al_rule_err *err)
{
	struct al_rule *r = calloc(1, sizeof(*r));
	if (!r)
		return al_err_set(err, "", "out of memory");
	set_defaults(r, src, now_ms);
	if (check_fields(j, err) || read_fields(j, r, now_ms, err) || take_id(j, r, err) ||
	    check_sources(r, promql_ok, err) || check_threshold(r, err) ||
	    check_durations(r, err) || check_labels(r, err)) {
		al_rule_free(r);
		return -1;
	}
	read_times(j, r);
	*out = r;
	return 0;
}

/* --- output ------------------------------------------------------------ */

static json_t *kv_json(const struct al_kv *kv, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++)
		json_object_set_new(o, kv[i].key, json_string(kv[i].value));
	return o;
}

static json_t *strings_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void set_duration(json_t *o, const char *k, int64_t ms)
{
	char buf[64];
	al_format_duration(ms, buf, sizeof(buf));
	json_object_set_new(o, k, json_string(buf));
}

static void set_number(json_t *o, const char *k, double v)
{
	if (!isnan(v))
		json_object_set_new(o, k, json_real(v));
}

static void set_string(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

json_t *al_rule_to_json(const struct al_rule *r)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	set_string(o, "id", r->id);
	set_string(o, "name", r->name);
	set_string(o, "metric", r->metric);
	set_string(o, "condition", al_cond_names[r->cond]);
	set_number(o, "threshold", r->threshold);
	set_number(o, "clear_threshold", r->clear_threshold);
	if (r->cond == AL_COND_EQ)
		set_number(o, "tolerance", r->tolerance);
	if (r->horizon_ms)
		set_duration(o, "horizon", r->horizon_ms);
	if (r->window_ms)
		set_duration(o, "window", r->window_ms);
	set_string(o, "expr", r->expr);
	set_string(o, "record", r->record);
	set_duration(o, "for", r->for_ms);
	set_duration(o, "keep_firing_for", r->keep_firing_for_ms);
	set_duration(o, "cooldown", r->cooldown_ms);
	set_duration(o, "repeat_interval", r->repeat_interval_ms);
	if (r->expires_ms)
		json_object_set_new(o, "expires", json_integer(r->expires_ms));
	set_string(o, "severity", al_severity_names[r->severity]);
	json_object_set_new(o, "labels", kv_json(r->labels, r->n_labels));
	json_object_set_new(o, "annotations", kv_json(r->annotations, r->n_annotations));
	json_object_set_new(o, "notifiers", strings_json(r->notifiers, r->n_notifiers));
	json_object_set_new(o, "group_by", strings_json(r->group_by, r->n_group_by));
	set_duration(o, "group_wait", r->group_wait_ms);
	set_duration(o, "group_interval", r->group_interval_ms);
	json_object_set_new(o, "flap_threshold", json_integer(r->flap_threshold));
	set_duration(o, "flap_window", r->flap_window_ms);
	json_object_set_new(o, "enabled", json_boolean(r->enabled));
	set_string(o, "source", al_source_names[r->source]);
	set_string(o, "origin", r->origin);
	json_object_set_new(o, "created_ms", json_integer(r->created_ms));
	json_object_set_new(o, "updated_ms", json_integer(r->updated_ms));
	return o;
}

static void free_kv(struct al_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void al_rule_free(struct al_rule *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->name);
	free(r->metric);
	al_selector_free(&r->sel);
	free(r->expr);
	free(r->record);
	free_kv(r->labels, r->n_labels);
	free_kv(r->annotations, r->n_annotations);
	free_strings(r->notifiers, r->n_notifiers);
	free_strings(r->group_by, r->n_group_by);
	free(r->origin);
	free(r);
}
