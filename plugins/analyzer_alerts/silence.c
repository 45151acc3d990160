/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Silences: label matchers on alerts, a start, an end and a comment. A
 * silenced alert keeps its state and history; its events say silenced
 * (with the silence's id), so notifiers leave it alone. Accepted in
 * bearmon's form (matchers as a selector string, times in RFC 3339 or ms)
 * and in Alertmanager's (matchers as [{name, value, isRegex, isEqual}],
 * startsAt, endsAt, createdBy).
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <bearmon/bm_vec.h>

#include "timeparse.h"

#define KEEP_EXPIRED_MS 86400000LL /* ended silences stay listed this long */

static bool in_force(const struct al_silence *s, int64_t now_ms)
{
	return s->starts_ms <= now_ms && now_ms < s->ends_ms;
}

const struct al_silence *al_silence_match(const struct al_engine *e, const struct bm_label *l,
					  uint32_t n, int64_t now_ms)
{
	for (size_t i = 0; i < e->n_silences; i++) {
		const struct al_silence *s = e->silences[i];
		if (in_force(s, now_ms) && al_selector_match_labels(&s->sel, l, n))
			return s;
	}
	return NULL;
}

static void silence_free(struct al_silence *s)
{
	if (!s)
		return;
	al_selector_free(&s->sel);
	free(s->matchers);
	free(s->comment);
	free(s->created_by);
	free(s);
}

void al_silences_free(struct al_engine *e)
{
	for (size_t i = 0; i < e->n_silences; i++)
		silence_free(e->silences[i]);
	free(e->silences);
	e->silences = NULL;
	e->n_silences = e->cap_silences = 0;
}

void al_silences_tick(struct al_engine *e, int64_t now_ms)
{
	size_t k = 0;
	double active = 0;
	for (size_t i = 0; i < e->n_silences; i++) {
		struct al_silence *s = e->silences[i];
		bool started = s->starts_ms > e->last_tick_ms && s->starts_ms <= now_ms;
		bool ended = s->ends_ms > e->last_tick_ms && s->ends_ms <= now_ms;
		if (started || ended)
			e->silence_epoch++;
		active += in_force(s, now_ms);
		if (now_ms - s->ends_ms > KEEP_EXPIRED_MS) {
			silence_free(s);
			al_engine_mark_dirty(e);
		} else {
			e->silences[k++] = s;
		}
	}
	e->n_silences = k;
	e->st.silences_active = active;
}

/* --- from JSON ---------------------------------------------------------- */

/* Append `name op "value"` with quotes and backslashes escaped. */
static void append_matcher(struct bm_buf *b, const char *name, const char *op, const char *value)
{
	if (b->len > 1)
		bm_buf_append(b, ", ", 2);
	bm_buf_append(b, name, strlen(name));
	bm_buf_append(b, op, strlen(op));
	bm_buf_append(b, "\"", 1);
	for (const char *p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			bm_buf_append(b, "\\", 1);
		bm_buf_append(b, p, 1);
	}
	bm_buf_append(b, "\"", 1);
}

/* Alertmanager's [{name, value, isRegex, isEqual}] as selector text. */
static char *matchers_from_array(const json_t *a, struct al_rule_err *err)
{
	struct bm_buf b = {0};
	bm_buf_append(&b, "{", 1);
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *m = json_array_get(a, i);
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *value = json_string_value(json_object_get(m, "value"));
		const json_t *eq = json_object_get(m, "isEqual");
		bool re = json_is_true(json_object_get(m, "isRegex"));
		bool neg = eq && json_is_false(eq);
		if (!name || !value) {
			bm_buf_free(&b);
			al_err_set(err, "matchers", "item %zu: needs name and value strings", i);
			return NULL;
		}
		append_matcher(&b, name, re ? (neg ? "!~" : "=~") : (neg ? "!=" : "="), value);
	}
	bm_buf_append(&b, "}", 2);
	return b.data;
}

static char *matchers_text(const json_t *j, struct al_rule_err *err)
{
	const json_t *m = json_object_get(j, "matchers");
	if (json_is_array(m))
		return matchers_from_array(m, err);
	if (!json_is_string(m) || !*json_string_value(m)) {
		al_err_set(err, "matchers",
			   "required: a selector such as {alertname=\"DiskFull\"} or "
			   "Alertmanager's [{name, value, isRegex, isEqual}]");
		return NULL;
	}
	const char *t = json_string_value(m);
	char *text = NULL;
	if (asprintf(&text, t[strspn(t, " \t")] == '{' ? "%s" : "{%s}", t) < 0)
		return NULL;
	return text;
}

/* Member name, or am_name (Alertmanager's spelling) when name is absent;
 * NULL when that is absent or null too. */
static const json_t *get_member(const json_t *j, const char *name, const char *am_name)
{
	const json_t *v = json_object_get(j, name);
	if (!v)
		v = json_object_get(j, am_name);
	return json_is_null(v) ? NULL : v;
}

/* A time as RFC 3339 or ms since the epoch, under either spelling. */
static int get_time(const json_t *j, const char *name, const char *am_name, int64_t *out,
		    struct al_rule_err *err)
{
	const json_t *v = get_member(j, name, am_name);
	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && al_parse_time(json_string_value(v), out) == 0)
		return 0;
	return al_err_set(err, name, "expected an RFC 3339 time or ms since the epoch");
}

static int get_text(const json_t *j, const char *name, const char *am_name, char **out,
		    struct al_rule_err *err)
{
	const json_t *v = get_member(j, name, am_name);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return al_err_set(err, name, "expected a string");
	*out = strdup(json_string_value(v));
	return 0;
}

static int get_end(const json_t *j, struct al_silence *s, int64_t now_ms, struct al_rule_err *err)
{
	const json_t *d = json_object_get(j, "duration");
	int64_t ms;
	if (get_time(j, "ends_at", "endsAt", &s->ends_ms, err))
		return -1;
	if (d && !s->ends_ms) {
		if (!json_is_string(d) || al_parse_duration(json_string_value(d), &ms) || ms <= 0)
			return al_err_set(err, "duration", "expected a duration such as \"2h\"");
		s->ends_ms = (s->starts_ms > now_ms ? s->starts_ms : now_ms) + ms;
	}
	if (!s->ends_ms)
		return al_err_set(err, "ends_at", "required (or duration)");
	if (s->ends_ms <= s->starts_ms)
		return al_err_set(err, "ends_at", "must be after starts_at");
	if (s->ends_ms <= now_ms)
		return al_err_set(err, "ends_at", "already past");
	return 0;
}

static void set_id(struct al_silence *s, const char *given)
{
	unsigned char b[8];
	if (given) {
		snprintf(s->id, sizeof(s->id), "%s", given);
		return;
	}
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)rand();
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(s->id + 2 * i, 3, "%02x", b[i]);
}

static struct al_silence *silence_from_json(const json_t *j, int64_t now_ms,
					    struct al_rule_err *err)
{
	char why[200];
	const char *id = json_string_value(json_object_get(j, "id"));
	struct al_silence *s = calloc(1, sizeof(*s));
	if (!s || !json_is_object(j)) {
		al_err_set(err, "", "a silence is a JSON object");
		goto out_free;
	}
	if (id && !al_rule_id_ok(id)) {
		al_err_set(err, "id", "1 to 128 of A-Z a-z 0-9 _ . : -");
		goto out_free;
	}
	set_id(s, id);
	s->starts_ms = now_ms;
	s->created_ms = s->updated_ms = now_ms;
	if (!(s->matchers = matchers_text(j, err)))
		goto out_free;
	if (al_selector_parse(s->matchers, false, &s->sel, why, sizeof(why))) {
		al_err_set(err, "matchers", "%s", why);
		goto out_free;
	}
	if (get_time(j, "starts_at", "startsAt", &s->starts_ms, err) ||
	    get_end(j, s, now_ms, err) || get_text(j, "comment", "comment", &s->comment, err) ||
	    get_text(j, "created_by", "createdBy", &s->created_by, err))
		goto out_free;
	return s;
out_free:
	silence_free(s);
	return NULL;
}

static size_t silence_index(const struct al_engine *e, const char *id)
{
	size_t i = 0;
	while (i < e->n_silences && strcmp(e->silences[i]->id, id) != 0)
		i++;
	return i;
}

int al_engine_silence_put(struct al_engine *e, const json_t *j, int64_t now_ms, char *id_out,
			  struct al_rule_err *err)
{
	struct al_silence *s = silence_from_json(j, now_ms, err);
	if (!s)
		return -1;
	size_t i = silence_index(e, s->id);
	if (i < e->n_silences) {
		s->created_ms = e->silences[i]->created_ms;
		silence_free(e->silences[i]);
	} else if (BM_VEC_RESERVE(e->silences, e->cap_silences, e->n_silences + 1)) {
		silence_free(s);
		return al_err_set(err, "", "out of memory");
	} else {
		e->n_silences++;
	}
	e->silences[i] = s;
	snprintf(id_out, 64, "%s", s->id);
	e->silence_epoch++;
	al_engine_mark_dirty(e);
	return 0;
}

int al_engine_silence_expire(struct al_engine *e, const char *id, int64_t now_ms)
{
	size_t i = silence_index(e, id);
	if (i == e->n_silences)
		return BM_ENOENT;
	struct al_silence *s = e->silences[i];
	if (s->ends_ms > now_ms) {
		s->ends_ms = now_ms;
		s->updated_ms = now_ms;
		if (s->starts_ms > now_ms)
			s->starts_ms = now_ms;
	}
	e->silence_epoch++;
	al_engine_mark_dirty(e);
	return 0;
}

/* --- to JSON -------------------------------------------------------------- */

json_t *al_silence_to_json(const struct al_silence *s, int64_t now_ms)
{
	char start[40], end[40];
	al_format_time(s->starts_ms, start, sizeof(start));
	al_format_time(s->ends_ms, end, sizeof(end));
	const char *state = s->starts_ms > now_ms ? "pending" : s->ends_ms > now_ms ? "active"
											: "expired";
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s?, s:s?, s:I, s:I, s:s}", "id", s->id,
			 "matchers", s->matchers, "starts_at_ms", (json_int_t)s->starts_ms,
			 "ends_at_ms", (json_int_t)s->ends_ms, "starts_at", start, "ends_at", end,
			 "comment", s->comment, "created_by", s->created_by, "created_ms",
			 (json_int_t)s->created_ms, "updated_ms", (json_int_t)s->updated_ms,
			 "state", state);
}

json_t *al_engine_silences_json(const struct al_engine *e, int64_t now_ms)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < e->n_silences; i++)
		json_array_append_new(a, al_silence_to_json(e->silences[i], now_ms));
	return a;
}

json_t *al_engine_silence_json(const struct al_engine *e, const char *id, int64_t now_ms)
{
	size_t i = silence_index(e, id);
	return i < e->n_silences ? al_silence_to_json(e->silences[i], now_ms) : NULL;
}
