/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rule unit tests (see testrules.h): the file is read, the rules loaded
 * into a fresh engine per test, the input series fed at their interval
 * and the engine ticked at every step and eval_time, in simulated time.
 */
#define _GNU_SOURCE
#include "testrules.h"

#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_vec.h>

#include "engine.h"
#include "promrules.h"
#include "timeparse.h"
#include "yamljson.h"

#define T0_MS 1000000000000LL /* simulated time starts here (2001-09-09) */
#define MAX_VALUES 1000000

enum { TR_OK = 0, TR_FAILED = 1, TR_UNUSABLE = 2 };

/* One input series, expanded. */
struct tr_series {
	char *name;
	struct bm_label *labels; /* points into sel */
	uint32_t n_labels;
	struct al_selector sel;
	double *v; /* NaN: no sample; the stale marker: stale */
	size_t n, cap;
};

struct tr_ctx {
	FILE *out;
	bool verbose;
	const char *path;
	json_t *rules;             /* every rule of the file */
	int64_t eval_interval_ms;
};

__attribute__((format(printf, 2, 3))) static int complain(struct tr_ctx *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(c->out, "%s: ", c->path);
	va_start(ap, fmt);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fputc('\n', c->out);
	return TR_UNUSABLE;
}

/* --- values ------------------------------------------------------------- */

static int push(struct tr_series *s, double v)
{
	if (s->n >= MAX_VALUES || BM_VEC_RESERVE(s->v, s->cap, s->n + 1))
		return -1;
	s->v[s->n++] = v;
	return 0;
}

/* One word of the expanding notation. */
static int expand_word(struct tr_series *s, const char *w)
{
	const char *x = strrchr(w, 'x');
	char *end;
	long reps = 0;
	if (x) {
		reps = strtol(x + 1, &end, 10);
		if (*end || reps < 0 || end == x + 1)
			return -1;
	}
	size_t head = x ? (size_t)(x - w) : strlen(w);
	char *a = strndup(w, head);
	double start = 0, step = 0, v;
	int rc = 0;
	if (strcmp(a, "_") == 0 || (strcmp(a, "stale") == 0 && !x)) {
		/* promtool: "_x3" is three missing samples */
		v = a[0] == '_' ? NAN : bm_stale_nan();
		for (long i = 0; i < (x ? reps : 1) && !rc; i++)
			rc = push(s, v);
		free(a);
		return rc;
	}
	start = strtod(a, &end);
	if (end == a || (*end && *end != '+' && *end != '-'))
		rc = -1;
	else if (*end)
		step = strtod(end, &end);
	if (*end)
		rc = -1;
	for (long i = 0; !rc && i <= reps; i++)
		rc = push(s, start + step * (double)i);
	free(a);
	return rc;
}

static int expand_values(struct tr_series *s, const char *text)
{
	char *copy = strdup(text), *save = NULL;
	int rc = copy ? 0 : -1;
	for (char *w = strtok_r(copy, " \t\n", &save); w && !rc; w = strtok_r(NULL, " \t\n", &save))
		rc = expand_word(s, w);
	free(copy);
	return rc;
}

static void series_free(struct tr_series *s)
{
	al_selector_free(&s->sel);
	free(s->labels);
	free(s->v);
}

/* name{a="x"} with = matchers only: the series' identity. */
static int series_parse(struct tr_series *s, const char *text, char *err, size_t errn)
{
	if (al_selector_parse(text, true, &s->sel, err, errn))
		return -1;
	if (!s->sel.name || s->sel.name_glob) {
		snprintf(err, errn, "an input series needs a plain metric name");
		return -1;
	}
	s->labels = calloc(s->sel.n + 1, sizeof(*s->labels));
	for (size_t i = 0; s->labels && i < s->sel.n; i++) {
		if (s->sel.m[i].op != AL_MATCH_EQ) {
			snprintf(err, errn, "an input series has labels with = only");
			return -1;
		}
		s->labels[s->n_labels++] = (struct bm_label){s->sel.m[i].name, s->sel.m[i].value};
	}
	bm_labels_sort(s->labels, s->n_labels);
	s->name = s->sel.name;
	return s->labels ? 0 : -1;
}

/* A JSON scalar as text: values may be written as a bare number. */
static const char *scalar_text(const json_t *v, char *buf, size_t n)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%.17g", json_real_value(v));
	else
		return NULL;
	return buf;
}

static int duration_of(const json_t *v, int64_t *ms)
{
	char buf[64];
	const char *t = scalar_text(v, buf, sizeof(buf));
	return t ? al_parse_duration(t, ms) : -1;
}

/* --- checks --------------------------------------------------------------- */

struct got {
	const char *alertname;
	json_t *alerts; /* [{labels, annotations}] */
};

static void collect_firing(void *user, const struct al_alert_view *v)
{
	struct got *g = user;
	if (v->state != BM_ALERT_FIRING || strcmp(v->rule->name, g->alertname) != 0)
		return;
	json_t *l = json_object(), *a = json_object();
	for (uint32_t i = 0; i < v->n_labels; i++)
		if (strcmp(v->labels[i].name, "alertname") != 0)
			json_object_set_new(l, v->labels[i].name, json_string(v->labels[i].value));
	for (size_t i = 0; i < v->n_annotations; i++)
		json_object_set_new(a, v->annotations[i].key, json_string(v->annotations[i].value));
	json_array_append_new(g->alerts, json_pack("{s:o, s:o}", "labels", l, "annotations", a));
}

/* exp (a map of scalars) equals got (a map of strings). */
static bool same_map(const json_t *exp, const json_t *got)
{
	const char *k;
	const json_t *v;
	char buf[64];
	if (json_object_size(exp) != json_object_size(got))
		return false;
	json_object_foreach((json_t *)exp, k, v) {
		const char *want = scalar_text(v, buf, sizeof(buf));
		const char *have = json_string_value(json_object_get(got, k));
		if (!want || !have || strcmp(want, have) != 0)
			return false;
	}
	return true;
}

static bool alert_matches(const json_t *exp, const json_t *got)
{
	const json_t *ann = json_object_get(exp, "exp_annotations");
	const json_t *lab = json_object_get(exp, "exp_labels");
	return same_map(lab ? lab : json_object(), json_object_get(got, "labels")) &&
	       (!ann || same_map(ann, json_object_get(got, "annotations")));
}

/* Every expected alert matches a distinct firing one, and none is left. */
static bool alerts_match(const json_t *exp, const json_t *got)
{
	size_t n = json_array_size(got);
	bool *used = calloc(n + 1, sizeof(bool));
	bool ok = used && json_array_size(exp) == n;
	for (size_t i = 0; ok && i < json_array_size(exp); i++) {
		bool found = false;
		for (size_t j = 0; j < n && !found; j++)
			if (!used[j] &&
			    alert_matches(json_array_get(exp, i), json_array_get(got, j)))
				found = used[j] = true;
		ok = found;
	}
	free(used);
	return ok;
}

static void print_json(FILE *out, const char *what, const json_t *j)
{
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	fprintf(out, "      %s %s\n", what, s ? s : "?");
	free(s);
}

static bool check_eval(struct tr_ctx *c, struct al_engine *e, const json_t *t, const char *tname)
{
	const char *name = json_string_value(json_object_get(t, "alertname"));
	const json_t *exp = json_object_get(t, "exp_alerts");
	char when[64];
	struct got g = {name ? name : "", json_array()};
	al_engine_foreach_alert(e, collect_firing, &g);
	bool ok = alerts_match(exp ? exp : json_array(), g.alerts);
	const json_t *at = json_object_get(t, "eval_time");
	snprintf(when, sizeof(when), "%s", json_is_string(at) ? json_string_value(at) : "?");
	if (!ok || c->verbose)
		fprintf(c->out, "  %s: eval_time %s, alertname %s: %s\n", tname, when, g.alertname,
			ok ? "ok" : "FAILED");
	if (!ok) {
		print_json(c->out, "expected:", exp ? exp : json_array());
		print_json(c->out, "got:     ", g.alerts);
	}
	json_decref(g.alerts);
	return ok;
}

/* --- one test ------------------------------------------------------------- */

struct tr_test {
	struct tr_series *series;
	size_t n_series;
	int64_t interval_ms;
	int64_t end_ms;
	const json_t *evals;
	int64_t *eval_ms;
};

static void test_free(struct tr_test *t)
{
	for (size_t i = 0; i < t->n_series; i++)
		series_free(&t->series[i]);
	free(t->series);
	free(t->eval_ms);
}

static int load_series(struct tr_ctx *c, const json_t *list, struct tr_test *t, const char *tname)
{
	t->series = calloc(json_array_size(list) + 1, sizeof(*t->series));
	if (!t->series)
		return complain(c, "out of memory");
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *js = json_array_get(list, i);
		const char *sel = json_string_value(json_object_get(js, "series"));
		char buf[64], err[256];
		const char *vals = scalar_text(json_object_get(js, "values"), buf, sizeof(buf));
		struct tr_series *s = &t->series[t->n_series++];
		if (!sel || series_parse(s, sel, err, sizeof(err)))
			return complain(c, "%s: input_series %zu: series: %s", tname, i + 1,
					sel ? err : "required");
		if (!vals || expand_values(s, vals))
			return complain(c, "%s: input_series %zu: values: expected numbers, a+bxN, "
					   "_, _xN or stale",
					tname, i + 1);
		int64_t span = (int64_t)s->n * t->interval_ms;
		t->end_ms = span > t->end_ms ? span : t->end_ms;
	}
	return TR_OK;
}

static int load_evals(struct tr_ctx *c, const json_t *evals, struct tr_test *t, const char *tname)
{
	t->evals = evals;
	t->eval_ms = calloc(json_array_size(evals) + 1, sizeof(int64_t));
	if (!t->eval_ms)
		return complain(c, "out of memory");
	for (size_t i = 0; i < json_array_size(evals); i++) {
		const json_t *ev = json_array_get(evals, i);
		if (duration_of(json_object_get(ev, "eval_time"), &t->eval_ms[i]))
			return complain(c,
					"%s: alert_rule_test %zu: eval_time: expected a duration",
					tname, i + 1);
		if (!json_is_string(json_object_get(ev, "alertname")))
			return complain(c, "%s: alert_rule_test %zu: alertname: required", tname,
					i + 1);
		t->end_ms = t->eval_ms[i] > t->end_ms ? t->eval_ms[i] : t->end_ms;
	}
	return TR_OK;
}

static const char *refused_offline(const struct al_rule *r)
{
	switch (r->cond) {
	case AL_COND_ANOMALY:
		return "reads the anomaly detectors' events";
	case AL_COND_TREND_INC:
	case AL_COND_TREND_DEC:
		return "reads the trend analyzer's events";
	case AL_COND_FORECAST:
		return "reads the forecast analyzer's events";
	default:
		return NULL;
	}
}

static int add_rules(struct tr_ctx *c, struct al_engine *e)
{
	for (size_t i = 0; i < json_array_size(c->rules); i++) {
		struct al_rule *r;
		struct al_rule_err err;
		if (al_rule_from_json(json_array_get(c->rules, i), AL_SRC_FILE, T0_MS, false, &r,
				      &err))
			return complain(c, "rule %zu: %s: %s%s", i + 1, err.field, err.msg,
					strcmp(err.field, "condition") == 0
						? " (test-rules runs the engine offline, without "
						  "the PromQL engine)"
						: "");
		const char *why = refused_offline(r);
		if (why) {
			complain(c, "rule %zu (%s): condition %s %s, which test-rules cannot feed",
				 i + 1, r->name, al_cond_names[r->cond], why);
			al_rule_free(r);
			return TR_UNUSABLE;
		}
		if (al_engine_rule_add(e, r, T0_MS, &err)) {
			al_rule_free(r);
			return complain(c, "rule %zu: %s: %s", i + 1, err.field, err.msg);
		}
	}
	return TR_OK;
}

/* Feed step k of every series (when it has one) at time t. */
static void feed(struct al_engine *e, const struct tr_test *t, size_t k, int64_t at)
{
	for (size_t i = 0; i < t->n_series; i++) {
		const struct tr_series *s = &t->series[i];
		if (k < s->n && (!isnan(s->v[k]) || bm_is_stale_nan(s->v[k])))
			al_engine_sample(e, s->name, s->labels, s->n_labels, at, s->v[k], at);
	}
}

static bool simulate(struct tr_ctx *c, struct al_engine *e, const struct tr_test *t,
		     const char *tname)
{
	bool ok = true;
	int64_t step = t->interval_ms < c->eval_interval_ms ? t->interval_ms : c->eval_interval_ms;
	for (int64_t now = 0; now <= t->end_ms;) {
		if (now % t->interval_ms == 0)
			feed(e, t, (size_t)(now / t->interval_ms), T0_MS + now);
		al_engine_tick(e, T0_MS + now);
		int64_t next = (now / step + 1) * step;
		for (size_t i = 0; i < json_array_size(t->evals); i++) {
			if (t->eval_ms[i] == now)
				ok &= check_eval(c, e, json_array_get(t->evals, i), tname);
			else if (t->eval_ms[i] > now && t->eval_ms[i] < next)
				next = t->eval_ms[i];
		}
		now = next;
	}
	return ok;
}

static int run_test(struct tr_ctx *c, const json_t *jt, size_t idx, bool *passed)
{
	struct tr_test t = {.interval_ms = c->eval_interval_ms};
	char tname[160];
	const char *name = json_string_value(json_object_get(jt, "name"));
	snprintf(tname, sizeof(tname), "test %zu%s%s%s", idx + 1, name ? " \"" : "",
		 name ? name : "", name ? "\"" : "");
	const json_t *iv = json_object_get(jt, "interval");
	if (iv && (duration_of(iv, &t.interval_ms) || t.interval_ms <= 0))
		return complain(c, "%s: interval: expected a duration", tname);
	struct al_engine_conf ec = {.lookback_ms = 5 * 60000, .anomaly_hold_ms = 60000,
				    .analysis_ttl_ms = 3600000, .promql_interval_ms = 15000};
	struct al_engine *e = al_engine_new(&ec);
	int rc = e ? TR_OK : complain(c, "out of memory");
	if (!rc)
		rc = load_series(c, json_object_get(jt, "input_series"), &t, tname);
	if (!rc)
		rc = load_evals(c, json_object_get(jt, "alert_rule_test"), &t, tname);
	if (!rc)
		rc = add_rules(c, e);
	if (!rc) {
		*passed = simulate(c, e, &t, tname);
		fprintf(c->out, "  %s: %s\n", tname, *passed ? "ok" : "FAILED");
	}
	test_free(&t);
	al_engine_free(e);
	return rc;
}

/* --- the file ---------------------------------------------------------------- */

static int gather_rules(struct tr_ctx *c, const json_t *doc)
{
	const json_t *inline_rules = json_object_get(doc, "rules");
	const json_t *files = json_object_get(doc, "rule_files");
	char *dir_copy = strdup(c->path);
	const char *dir = dir_copy ? dirname(dir_copy) : ".";
	int rc = TR_OK;
	c->rules = json_array();
	if (json_is_array(inline_rules))
		json_array_extend(c->rules, (json_t *)inline_rules);
	for (size_t i = 0; !rc && i < json_array_size(files); i++) {
		const char *f = json_string_value(json_array_get(files, i));
		char path[4096], err[512];
		json_t *rules;
		int prom;
		if (!f) {
			rc = complain(c, "rule_files: item %zu is not a path", i + 1);
			break;
		}
		snprintf(path, sizeof(path), "%s%s%s", f[0] == '/' ? "" : dir,
			 f[0] == '/' ? "" : "/", f);
		if (al_rules_file_load(path, &rules, &prom, err, sizeof(err))) {
			rc = complain(c, "rule_files: %s", err);
			break;
		}
		json_array_extend(c->rules, rules);
		json_decref(rules);
	}
	free(dir_copy);
	if (!rc && !json_array_size(c->rules))
		rc = complain(c, "no rules: give rule_files or rules");
	return rc;
}

int al_testrules_run(const char *path, FILE *out, bool verbose)
{
	struct tr_ctx c = {.out = out, .verbose = verbose, .path = path,
			   .eval_interval_ms = 60000};
	json_t *doc;
	char err[512];
	if (al_yaml_load_file(path, &doc, err, sizeof(err)))
		return complain(&c, "%s", err);
	const json_t *tests = json_object_get(doc, "tests");
	const json_t *ei = json_object_get(doc, "evaluation_interval");
	int rc = TR_OK;
	size_t failed = 0;
	if (ei && (duration_of(ei, &c.eval_interval_ms) || c.eval_interval_ms <= 0))
		rc = complain(&c, "evaluation_interval: expected a duration");
	else if (!json_array_size(tests))
		rc = complain(&c, "tests: expected a list of tests");
	else
		rc = gather_rules(&c, doc);
	for (size_t i = 0; !rc && i < json_array_size(tests); i++) {
		bool passed = false;
		rc = run_test(&c, json_array_get(tests, i), i, &passed);
		failed += !passed;
	}
	if (!rc)
		fprintf(out, "%s: %s: %zu of %zu tests passed\n", path,
			failed ? "FAILED" : "SUCCESS", json_array_size(tests) - failed,
			json_array_size(tests));
	json_decref(c.rules);
	json_decref(doc);
	return rc ? rc : failed ? TR_FAILED : TR_OK;
}
