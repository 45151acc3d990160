/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What goes to which client, and when. Samples: the metric subscription's
 * thread matches every sample against the distinct selectors clients hold
 * and keeps the points; every metrics_interval the main loop renders one
 * message per selector and writes the same frame to each client holding it.
 * Events: rendered once with bm_event_to_json on the main loop, kept for the
 * snapshot, and sent at once (alerts, anomalies, actions, ...) or batched
 * per trend_interval (trend, forecast, correlation) or
 * recommendation_interval (recommendation, candidate).
 */
#define _GNU_SOURCE
#include "dashboard.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_vec.h>

#define STAT_ADD(d, field, n) __atomic_add_fetch(&(d)->st.field, (n), __ATOMIC_RELAXED)

const char *const dash_topics[DASH_N_TOPICS] = {
	BM_TOPIC_ANOMALY,	 BM_TOPIC_TREND,  BM_TOPIC_FORECAST,	  BM_TOPIC_CORRELATION,
	BM_TOPIC_BOTTLENECK,	 BM_TOPIC_INSIGHT, BM_TOPIC_HEALTH,	  BM_TOPIC_ALERT,
	BM_TOPIC_NOTIFICATION, BM_TOPIC_CANDIDATE, BM_TOPIC_RECOMMENDATION, BM_TOPIC_ACTION,
	BM_TOPIC_AGENT,	 BM_TOPIC_AGENT_COMMAND, BM_TOPIC_AGENT_ACK,
};

int dash_topic_index(const char *topic)
{
	for (int i = 0; i < DASH_N_TOPICS; i++)
		if (strcmp(dash_topics[i], topic) == 0)
			return i;
	return -1;
}

enum dash_rate dash_topic_rate(const char *topic)
{
	if (!strcmp(topic, BM_TOPIC_TREND) || !strcmp(topic, BM_TOPIC_FORECAST) ||
	    !strcmp(topic, BM_TOPIC_CORRELATION))
		return DASH_RATE_TREND;
	if (!strcmp(topic, BM_TOPIC_RECOMMENDATION) || !strcmp(topic, BM_TOPIC_CANDIDATE))
		return DASH_RATE_RECOMMENDATION;
	return DASH_RATE_NOW;
}

/* --- selectors ------------------------------------------------------------------ */

static void sel_free(struct dash_sel *s)
{
	selector_free(&s->sel);
	free(s->pts);
	bm_arena_free(&s->arena);
	free(s);
}

/* The registry's selector with text, taking a reference; parsed is
 * consumed (moved in, or freed when an equal one exists). */
static struct dash_sel *sel_acquire(struct dash *d, struct selector *parsed)
{
	struct dash_sel *found = NULL;
	pthread_mutex_lock(&d->fan_lock);
	for (size_t i = 0; i < d->n_sels && !found; i++)
		if (strcmp(d->sels[i]->sel.text, parsed->text) == 0)
			found = d->sels[i];
	if (!found && !BM_VEC_RESERVE(d->sels, d->cap_sels, d->n_sels + 1) &&
	    (found = calloc(1, sizeof(*found)))) {
		found->sel = *parsed;
		memset(parsed, 0, sizeof(*parsed));
		d->sels[d->n_sels] = found;
		/* read without the lock by the metric thread's early exit */
		__atomic_store_n(&d->n_sels, d->n_sels + 1, __ATOMIC_RELAXED);
	}
	if (found)
		found->refs++;
	*(volatile double *)&d->st.selectors = (double)d->n_sels;
	pthread_mutex_unlock(&d->fan_lock);
	selector_free(parsed);
	return found;
}

static void sel_release(struct dash *d, struct dash_sel *s)
{
	pthread_mutex_lock(&d->fan_lock);
	if (--s->refs == 0) {
		size_t k = 0;
		for (size_t i = 0; i < d->n_sels; i++)
			if (d->sels[i] != s)
				d->sels[k++] = d->sels[i];
		__atomic_store_n(&d->n_sels, k, __ATOMIC_RELAXED);
		sel_free(s);
	}
	*(volatile double *)&d->st.selectors = (double)d->n_sels;
	pthread_mutex_unlock(&d->fan_lock);
}

static void client_error(struct dash_client *c, const char *msg, const char *detail)
{
	json_t *j = json_pack("{s:s, s:s, s:s?}", "type", "error", "error", msg, "detail", detail);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (text)
		dash_client_text(c, text, strlen(text));
	free(text);
	json_decref(j);
}

static bool client_has(const struct dash_client *c, const char *text)
{
	for (size_t i = 0; i < c->n_sels; i++)
		if (strcmp(c->sels[i]->sel.text, text) == 0)
			return true;
	return false;
}

/* One parsed selector for a client; false when it had to stop. */
static bool add_selector(struct dash_client *c, struct selector *parsed)
{
	struct dash *d = c->d;
	if (client_has(c, parsed->text)) {
		selector_free(parsed);
		return true;
	}
	if ((int64_t)c->n_sels >= d->conf->max_subscriptions) {
		client_error(c, "too many subscriptions (max_subscriptions)", parsed->text);
		selector_free(parsed);
		return false;
	}
	struct dash_sel **v = realloc(c->sels, (c->n_sels + 1) * sizeof(*v));
	struct dash_sel *s = v ? sel_acquire(d, parsed) : NULL;
	if (v)
		c->sels = v;
	else
		selector_free(parsed);
	if (!s) {
		client_error(c, "out of memory", NULL);
		return false;
	}
	c->sels[c->n_sels++] = s;
	return true;
}

/* The selector text as the client wrote it, without surrounding blanks. */
static void map_given(json_t *mapping, const char *p, size_t n, const char *canonical)
{
	while (n && strchr(" \t\r\n", *p)) {
		p++;
		n--;
	}
	while (n && strchr(" \t\r\n", p[n - 1]))
		n--;
	if (mapping && n)
		json_object_setn_new(mapping, p, n, json_string(canonical));
}

void dash_subscribe_series(struct dash_client *c, const char *list, size_t len, json_t *mapping)
{
	size_t pos = 0;
	while (pos < len) {
		struct selector parsed;
		size_t used = 0;
		char err[160];
		if (selector_parse(list + pos, len - pos, &parsed, &used, err, sizeof(err))) {
			char detail[SELECTOR_MAX_LEN + 200];
			snprintf(detail, sizeof(detail), "%s in %.*s", err,
				 (int)(len - pos > SELECTOR_MAX_LEN ? SELECTOR_MAX_LEN : len - pos),
				 list + pos);
			client_error(c, "bad selector", detail);
			return;
		}
		map_given(mapping, list + pos, used, parsed.text);
		pos += used;
		if (!add_selector(c, &parsed))
			return;
		if (pos < len && list[pos] != ',') {
			client_error(c, "bad selector list: expected , between selectors", list + pos);
			return;
		}
		pos++;
	}
}

void dash_unsubscribe_series(struct dash_client *c, const char *text)
{
	struct selector parsed;
	size_t used;
	if (selector_parse(text, strlen(text), &parsed, &used, NULL, 0)) {
		client_error(c, "bad selector", text);
		return;
	}
	for (size_t i = 0; i < c->n_sels; i++) {
		if (strcmp(c->sels[i]->sel.text, parsed.text) == 0) {
			sel_release(c->d, c->sels[i]);
			memmove(&c->sels[i], &c->sels[i + 1], (c->n_sels - i - 1) * sizeof(c->sels[0]));
			c->n_sels--;
			break;
		}
	}
	selector_free(&parsed);
}

void dash_unsubscribe_all(struct dash_client *c)
{
	for (size_t i = 0; i < c->n_sels; i++)
		sel_release(c->d, c->sels[i]);
	c->n_sels = 0;
}

void dash_subscribe_topics(struct dash_client *c, const char *list, bool on)
{
	char *copy = strdup(list), *save = NULL;
	for (char *t = copy ? strtok_r(copy, ", ", &save) : NULL; t; t = strtok_r(NULL, ", ", &save)) {
		int i = dash_topic_index(t);
		uint32_t bits = strcmp(t, "*") == 0 ? (1u << DASH_N_TOPICS) - 1 : i >= 0 ? 1u << i : 0;
		if (!bits)
			client_error(c, "unknown topic", t);
		else if (on)
			c->topics |= bits;
		else
			c->topics &= ~bits;
	}
	free(copy);
}

void dash_send_subscriptions(struct dash_client *c, json_t *mapping)
{
	json_t *series = json_array(), *events = json_array();
	for (size_t i = 0; i < c->n_sels; i++)
		json_array_append_new(series, json_string(c->sels[i]->sel.text));
	for (int i = 0; i < DASH_N_TOPICS; i++)
		if (c->topics & (1u << i))
			json_array_append_new(events, json_string(dash_topics[i]));
	json_t *j = json_pack("{s:s, s:o, s:o, s:o*}", "type", "subscribed", "series", series,
			      "events", events, "mapping", mapping);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (text)
		dash_client_text(c, text, strlen(text));
	free(text);
	json_decref(j);
}

/* --- samples: the metric thread ------------------------------------------------ */

static struct bm_label *copy_labels(struct bm_arena *a, const struct bm_label *l, uint32_t n)
{
	struct bm_label *out = bm_arena_alloc(a, (n ? n : 1) * sizeof(*out));
	for (uint32_t i = 0; out && i < n; i++) {
		out[i].name = bm_arena_strndup(a, l[i].name, strlen(l[i].name));
		out[i].value = bm_arena_strndup(a, l[i].value, strlen(l[i].value));
		if (!out[i].name || !out[i].value)
			return NULL;
	}
	return out;
}

static void keep_point(struct dash *d, struct dash_sel *s, const struct bm_sample *smp,
		       const char *key, size_t key_len)
{
	if ((int64_t)s->n_pts >= d->conf->max_points) {
		STAT_ADD(d, points_dropped, 1);
		return;
	}
	if (BM_VEC_RESERVE(s->pts, s->cap_pts, s->n_pts + 1))
		return;
	struct dash_point *p = &s->pts[s->n_pts];
	p->key = bm_arena_strndup(&s->arena, key, key_len);
	p->name = bm_arena_strndup(&s->arena, smp->name, strlen(smp->name));
	p->labels = copy_labels(&s->arena, smp->labels, smp->n_labels);
	p->n_labels = smp->n_labels;
	p->ts_ms = smp->ts_ms;
	p->value = smp->value;
	p->seq = d->seq++;
	if (p->key && p->name && p->labels)
		s->n_pts++;
}

static void on_metric(void *user, const char *topic, const void *body, size_t len)
{
	struct dash *d = user;
	struct bm_metric_batch b;
	char stack[512];
	(void)topic;
	if (!__atomic_load_n(&d->n_sels, __ATOMIC_RELAXED))
		return; /* nobody watches samples: do not even decode */
	bm_arena_reset(&d->metric_arena);
	if (bm_metric_batch_decode(body, len, &b, &d->metric_arena)) {
		STAT_ADD(d, decode_errors, 1);
		return;
	}
	pthread_mutex_lock(&d->fan_lock);
	for (size_t i = 0; i < b.n_samples; i++) {
		const struct bm_sample *smp = &b.samples[i];
		char *key = NULL;
		size_t key_len = 0;
		for (size_t k = 0; k < d->n_sels; k++) {
			if (!selector_matches(&d->sels[k]->sel, smp->name, smp->labels, smp->n_labels))
				continue;
			if (!key) {
				key_len = series_text(smp->name, smp->labels, smp->n_labels, stack,
						      sizeof(stack));
				key = key_len < sizeof(stack) ? stack : malloc(key_len + 1);
				if (!key)
					break;
				if (key != stack)
					series_text(smp->name, smp->labels, smp->n_labels, key, key_len + 1);
			}
			keep_point(d, d->sels[k], smp, key, key_len);
		}
		if (key != stack)
			free(key);
	}
	pthread_mutex_unlock(&d->fan_lock);
}

/* --- samples: the metrics tick ---------------------------------------------------- */

/* Points taken from one selector at a tick. */
struct taken {
	struct dash_sel *sel;
	struct dash_point *pts;
	size_t n;
	struct bm_arena arena;
};

static int point_cmp(const void *a, const void *b)
{
	const struct dash_point *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static json_t *labels_json(const struct bm_label *l, uint32_t n)
{
	json_t *o = json_object();
	for (uint32_t i = 0; o && i < n; i++)
		json_object_set_new(o, l[i].name, json_string(l[i].value));
	return o;
}

/* {"type":"metrics","selector":...,"series":[{series,name,labels,points}]} */
static char *render_metrics(struct taken *t, int64_t now_ms)
{
	qsort(t->pts, t->n, sizeof(*t->pts), point_cmp);
	json_t *series = json_array();
	json_t *points = NULL;
	for (size_t i = 0; series && i < t->n; i++) {
		const struct dash_point *p = &t->pts[i];
		if (!i || strcmp(p->key, t->pts[i - 1].key) != 0) {
			points = json_array();
			json_array_append_new(series, json_pack("{s:s, s:s, s:o, s:o}", "series",
								p->key, "name", p->name, "labels",
								labels_json(p->labels, p->n_labels),
								"points", points));
		}
		json_array_append_new(points, json_pack("[I, o]", (json_int_t)p->ts_ms,
							isfinite(p->value) ? json_real(p->value)
									   : json_null()));
	}
	json_t *msg = json_pack("{s:s, s:s, s:I, s:o}", "type", "metrics", "selector",
				t->sel->sel.text, "ts_ms", (json_int_t)now_ms, "series", series);
	char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	return text;
}

static bool client_holds(const struct dash_client *c, const struct dash_sel *s)
{
	for (size_t i = 0; i < c->n_sels; i++)
		if (c->sels[i] == s)
			return true;
	return false;
}

/* The frame for text, built once into d->frame. */
static bool build_frame(struct dash *d, const char *text, size_t len)
{
	bm_buf_reset(&d->frame);
	return ws_frame_append(&d->frame, WS_OP_TEXT, text, len, NULL) == 0;
}

static void fan_metrics(struct dash *d, int64_t now_ms)
{
	struct taken *taken = NULL;
	size_t n_taken = 0;
	pthread_mutex_lock(&d->fan_lock);
	taken = d->n_sels ? calloc(d->n_sels, sizeof(*taken)) : NULL;
	for (size_t i = 0; taken && i < d->n_sels; i++) {
		struct dash_sel *s = d->sels[i];
		if (!s->n_pts)
			continue;
		taken[n_taken++] = (struct taken){s, s->pts, s->n_pts, s->arena};
		s->pts = NULL;
		s->n_pts = s->cap_pts = 0;
		memset(&s->arena, 0, sizeof(s->arena));
	}
	pthread_mutex_unlock(&d->fan_lock);
	/* selectors are removed on this thread only: the pointers stay valid */
	for (size_t i = 0; i < n_taken; i++) {
		char *text = render_metrics(&taken[i], now_ms);
		if (text && build_frame(d, text, strlen(text)))
			for (size_t k = 0; k < d->n_clients; k++)
				if (client_holds(d->clients[k], taken[i].sel))
					dash_client_send(d->clients[k], d->frame.data, d->frame.len);
		free(text);
		free(taken[i].pts);
		bm_arena_free(&taken[i].arena);
	}
	free(taken);
}

/* --- events ---------------------------------------------------------------------- */

static void send_to_topic(struct dash *d, int topic, const char *text, size_t len)
{
	bool built = false;
	for (size_t k = 0; k < d->n_clients; k++) {
		if (!(d->clients[k]->topics & (1u << topic)))
			continue;
		if (!built && !(built = build_frame(d, text, len)))
			return;
		dash_client_send(d->clients[k], d->frame.data, d->frame.len);
	}
}

static bool anyone_wants(const struct dash *d, int topic)
{
	for (size_t k = 0; k < d->n_clients; k++)
		if (d->clients[k]->topics & (1u << topic))
			return true;
	return false;
}

static void batch_add(struct dash *d, int topic, const char *json, size_t len)
{
	struct dash_batch *b = &d->batches[topic];
	/* json is a buffer, not a C string: copy exactly len bytes */
	char *copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, json, len);
	copy[len] = '\0';
	if ((int64_t)b->n >= d->conf->max_batched_events) {
		STAT_ADD(d, events_dropped, 1);
		free(b->json[0]);
		memmove(b->json, b->json + 1, (b->n - 1) * sizeof(*b->json));
		b->n--;
	}
	if (BM_VEC_RESERVE(b->json, b->cap, b->n + 1)) {
		free(copy);
		return;
	}
	b->json[b->n++] = copy;
}

/* Append a NUL-terminated string: 0 or BM_ENOMEM. */
static int buf_puts(struct bm_buf *b, const char *s)
{
	return bm_buf_append(b, s, strlen(s));
}

static void batch_clear(struct dash_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->json[i]);
	b->n = 0;
}

/* {"type":"events","topic":T,"events":[...]} for every batched topic of
 * this rate. The event texts are JSON already: they are joined, not parsed. */
static void flush_batches(struct dash *d, enum dash_rate rate)
{
	for (int t = 0; t < DASH_N_TOPICS; t++) {
		struct dash_batch *b = &d->batches[t];
		if (dash_topic_rate(dash_topics[t]) != rate || !b->n)
			continue;
		struct bm_buf *m = &d->scratch;
		bm_buf_reset(m);
		int rc = buf_puts(m, "{\"type\":\"events\",\"topic\":\"");
		rc = rc ? rc : buf_puts(m, dash_topics[t]);
		rc = rc ? rc : buf_puts(m, "\",\"events\":[");
		for (size_t i = 0; !rc && i < b->n; i++) {
			rc = i ? buf_puts(m, ",") : 0;
			rc = rc ? rc : buf_puts(m, b->json[i]);
		}
		rc = rc ? rc : buf_puts(m, "]}");
		if (!rc)
			send_to_topic(d, t, m->data, m->len);
		batch_clear(b);
	}
	dash_sweep(d);
}

static void on_trend_tick(void *user)
{
	flush_batches(user, DASH_RATE_TREND);
}

static void on_rec_tick(void *user)
{
	flush_batches(user, DASH_RATE_RECOMMENDATION);
}

/* {"type":"event","topic":T,"event":{...}} from the event's JSON text. */
static void send_now(struct dash *d, int topic, const char *json, size_t len)
{
	struct bm_buf m = {0};
	const char *name = dash_topics[topic];
	int rc = buf_puts(&m, "{\"type\":\"event\",\"topic\":\"");
	rc = rc ? rc : buf_puts(&m, name);
	rc = rc ? rc : buf_puts(&m, "\",\"event\":");
	rc = rc ? rc : bm_buf_append(&m, json, len);
	rc = rc ? rc : buf_puts(&m, "}");
	if (!rc)
		send_to_topic(d, topic, m.data, m.len);
	bm_buf_free(&m);
}

/* Main loop (on_loop subscription). */
static void on_event(void *user, const char *topic, const void *body, size_t len)
{
	struct dash *d = user;
	int t = dash_topic_index(topic);
	if (t < 0)
		return;
	bm_buf_reset(&d->scratch);
	if (bm_event_to_json(topic, body, len, &d->scratch)) {
		STAT_ADD(d, decode_errors, 1);
		return;
	}
	evcache_add(&d->cache, topic, d->scratch.data, d->scratch.len, bm_now_ms(d->ctx));
	if (!anyone_wants(d, t))
		return;
	if (dash_topic_rate(topic) == DASH_RATE_NOW)
		send_now(d, t, d->scratch.data, d->scratch.len);
	else
		batch_add(d, t, d->scratch.data, d->scratch.len);
	dash_sweep(d);
}

/* --- lifecycle ---------------------------------------------------------------- */

static void on_tick(void *user)
{
	struct dash *d = user;
	int64_t now = bm_now_ms(d->ctx);
	fan_metrics(d, now);
	dash_housekeeping(d, now);
	evcache_expire(&d->cache, now);
}

int dash_fanout_start(struct dash *d)
{
	const struct dash_conf *c = d->conf;
	struct bm_sub_opts mo = {.size = sizeof(mo), .topic = BM_TOPIC_METRIC,
				 .policy = BM_SUB_DROP_OLDEST};
	struct bm_sub_opts eo = {.size = sizeof(eo), .topic = BM_TOPIC_EVENTS,
				 .policy = BM_SUB_DROP_OLDEST, .on_loop = true};
	int rc = bm_bus_subscribe(d->ctx, &mo, on_metric, d, &d->metric_sub);
	rc = rc ? rc : bm_bus_subscribe(d->ctx, &eo, on_event, d, &d->event_sub);
	rc = rc ? rc : bm_timer_start(d->ctx, c->metrics_interval_ms, on_tick, d, &d->tick);
	rc = rc ? rc : bm_timer_start(d->ctx, c->trend_interval_ms, on_trend_tick, d, &d->trend_tick);
	rc = rc ? rc : bm_timer_start(d->ctx, c->recommendation_interval_ms, on_rec_tick, d,
				      &d->rec_tick);
	return rc;
}

void dash_fanout_stop(struct dash *d)
{
	if (d->metric_sub)
		bm_bus_unsubscribe(d->metric_sub);
	if (d->event_sub)
		bm_bus_unsubscribe(d->event_sub);
	d->metric_sub = d->event_sub = NULL;
	struct bm_timer **timers[] = {&d->tick, &d->trend_tick, &d->rec_tick};
	for (size_t i = 0; i < 3; i++) {
		if (*timers[i])
			bm_timer_stop(*timers[i]);
		*timers[i] = NULL;
	}
	for (int t = 0; t < DASH_N_TOPICS; t++) {
		batch_clear(&d->batches[t]);
		free(d->batches[t].json);
		d->batches[t] = (struct dash_batch){0};
	}
}
