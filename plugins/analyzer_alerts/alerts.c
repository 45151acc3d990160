/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/alerts: the rule engine as a plugin. Samples (`metric`) and
 * analysis events (`anomaly`, `trend`, `forecast`) are taken on the bus
 * delivery threads and evaluated as they arrive; a worker thread ticks the
 * engine every eval_interval (durations, missing data, repeats, groups,
 * expiries) and publishes the `alert` events the engine produced, so a
 * block-policy notifier never holds up the intake; it also keeps the
 * state file. HTTP routes: api.c.
 */
#define _GNU_SOURCE
#include "alerts.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bearmon/bm_plugin.h>
#include <bearmon/bm_vec.h>

#include "promrules.h"
#include "rule.h"

#define STATE_DIR "alerts"

/* --- options ----------------------------------------------------------- */

#define RULE_OPT(n, t, d, f, h) BM_OPTION(n, t, d, struct alerts_rule_conf, f, h)

static const struct bm_option rule_options[] = {
	RULE_OPT("id", BM_OPT_STRING, NULL, id,
		 "rule id (default: the name); A-Z a-z 0-9 _ . : -"),
	{.name = "name", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct alerts_rule_conf, name),
	 .help = "alert name: the alertname label"},
	RULE_OPT("metric", BM_OPT_STRING, NULL, metric,
		 "series selector, e.g. node_filesystem_avail_bytes{mountpoint=\"/\"}"),
	{.name = "condition", .type = BM_OPT_ENUM, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct alerts_rule_conf, condition), .enum_values = al_cond_names,
	 .help = "gt, lt, eq, trend_inc, trend_dec, anomaly, rate_change, forecast, absent, "
		 "promql"},
	RULE_OPT("threshold", BM_OPT_DOUBLE, "nan", threshold, "value the condition compares with"),
	RULE_OPT("clear_threshold", BM_OPT_DOUBLE, "nan", clear_threshold,
		 "hysteresis: an active alert clears only past this value (default: threshold)"),
	RULE_OPT("tolerance", BM_OPT_DOUBLE, "0", tolerance,
		 "eq: largest difference that counts as equal"),
	RULE_OPT("horizon", BM_OPT_DURATION, "0s", horizon_ms,
		 "forecast: crossing within this time; absent: silence counted as missing (5m)"),
	RULE_OPT("window", BM_OPT_DURATION, "0s", window_ms,
		 "trend_inc, trend_dec: only trends of this window (0: the newest of any)"),
	RULE_OPT("expr", BM_OPT_STRING, NULL, expr, "promql: the PromQL expression"),
	RULE_OPT("for", BM_OPT_DURATION, "0s", for_ms, "the condition must hold this long to fire"),
	RULE_OPT("keep_firing_for", BM_OPT_DURATION, "0s", keep_firing_for_ms,
		 "keep firing this long after the condition cleared"),
	{.name = "severity", .type = BM_OPT_ENUM, .def = "warning",
	 .offset = offsetof(struct alerts_rule_conf, severity), .enum_values = al_severity_names,
	 .help = "info, warning, critical, emergency"},
	RULE_OPT("cooldown", BM_OPT_DURATION, "0s", cooldown_ms,
		 "least time between two notifications of one alert"),
	RULE_OPT("repeat_interval", BM_OPT_DURATION, "4h", repeat_interval_ms,
		 "notify a firing, unacknowledged alert again this often"),
	RULE_OPT("expires", BM_OPT_STRING, NULL, expires,
		 "the rule removes itself: a duration from start (\"2h\") or an RFC 3339 time"),
	RULE_OPT("labels", BM_OPT_MAP, NULL, labels,
		 "labels added to the alert ({{ $labels.x }} templates)"),
	RULE_OPT("annotations", BM_OPT_MAP, NULL, annotations,
		 "summary, description, ... ({{ $value }}, {{ $labels.x }} templates)"),
	RULE_OPT("notifiers", BM_OPT_STRING_LIST, NULL, notifiers,
		 "notifier instances to route to (empty: all; [\"-\"]: none)"),
	RULE_OPT("group_by", BM_OPT_STRING_LIST, NULL, group_by,
		 "labels that group alerts into one notification (empty: no grouping)"),
	RULE_OPT("group_wait", BM_OPT_DURATION, "30s", group_wait_ms,
		 "a new group waits this long for companions"),
	RULE_OPT("group_interval", BM_OPT_DURATION, "5m", group_interval_ms,
		 "least time between two notifications of one group"),
	{.name = "flap_threshold", .type = BM_OPT_INT, .def = "6", .flags = BM_OPTF_BOUNDED,
	 .offset = offsetof(struct alerts_rule_conf, flap_threshold), .min = 0,
	 .max = AL_MAX_FLAP_THRESHOLD,
	 .help = "starts and ends of firing within flap_window that mean flapping (0: off)"},
	RULE_OPT("flap_window", BM_OPT_DURATION, "10m", flap_window_ms, "flap detection window"),
	RULE_OPT("enabled", BM_OPT_BOOL, "true", enabled, "false: kept but not evaluated"),
	BM_OPTION_END,
};

#define OPT(n, t, d, f, h) BM_OPTION(n, t, d, struct alerts_conf, f, h)
#define OPT_B(n, t, d, f, lo, hi, h) BM_OPTION_BOUNDED(n, t, d, struct alerts_conf, f, lo, hi, h)

static const struct bm_option alerts_options[] = {
	{.name = "rules", .type = BM_OPT_GROUP_LIST, .sub = rule_options,
	 .sub_size = sizeof(struct alerts_rule_conf), .offset = offsetof(struct alerts_conf, rules),
	 .help = "alert rules ( { name; metric; condition; threshold; ... }, ... )"},
	OPT("prometheus_rule_files", BM_OPT_STRING_LIST, NULL, prometheus_rule_files,
	    "Prometheus rule files to load (need the PromQL engine)"),
	OPT_B("eval_interval", BM_OPT_DURATION, "1s", eval_interval_ms, 100, 60000,
	      "time-driven evaluation (for, missing data, repeats, groups) runs this often"),
	OPT_B("lookback", BM_OPT_DURATION, "5m", lookback_ms, 1000, 86400000,
	      "a sample counts as current this long when no stale marker ends it"),
	OPT_B("anomaly_hold", BM_OPT_DURATION, "1m", anomaly_hold_ms, 1000, 86400000,
	      "an anomaly event counts this long after its sample"),
	OPT_B("analysis_ttl", BM_OPT_DURATION, "1h", analysis_ttl_ms, 1000, 7 * 86400000.0,
	      "a trend or forecast counts until replaced or this old"),
	OPT_B("promql_interval", BM_OPT_DURATION, "15s", promql_interval_ms, 1000, 3600000,
	      "promql and recording rules are evaluated this often"),
	OPT_B("max_series", BM_OPT_INT, "1000000", max_series, 1, 100000000,
	      "series the rules watch at most; new ones beyond are dropped and counted"),
	OPT_B("metric_queue_len", BM_OPT_INT, "65536", metric_queue_len, 1024, 10000000,
	      "queue of the metric subscription, in events (drop-oldest; drops are counted)"),
	OPT("state_file", BM_OPT_STRING, NULL, state_file,
	    "where active alerts, API rules and silences survive restarts "
	    "(default DATA_DIR/alerts/INSTANCE.json)"),
	OPT_B("state_interval", BM_OPT_DURATION, "2s", state_interval_ms, 100, 3600000,
	      "least time between two writes of the state file"),
	OPT("external_url", BM_OPT_STRING, NULL, external_url,
	    "URL of this bearmond for links in alerts (default: paths only)"),
	BM_OPTION_END,
};

/* --- the outbox: filled under the lock by the engine's callbacks --------- */

static void on_alert(void *user, const struct bm_alert_event *e)
{
	struct alerts *a = user;
	char *body = NULL;
	if (bm_alert_encode(e, &a->enc) || BM_VEC_RESERVE(a->out, a->cap_out, a->n_out + 1) ||
	    !(body = malloc(a->enc.len))) {
		__atomic_add_fetch(&a->st.publish_failures, 1, __ATOMIC_RELAXED);
		return;
	}
	memcpy(body, a->enc.data, a->enc.len);
	a->out[a->n_out++] = (struct alerts_out){body, a->enc.len};
}

static void on_record(void *user, const char *name, const struct bm_label *l, uint32_t n,
		      int64_t ts_ms, double v)
{
	struct alerts *a = user;
	a->records.ts_ms = ts_ms;
	if (bm_batch_add(&a->records, name, v, l, n))
		__atomic_add_fetch(&a->st.publish_failures, 1, __ATOMIC_RELAXED);
}

void alerts_kick(struct alerts *a)
{
	pthread_mutex_lock(&a->lock);
	a->kick = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
}

/* --- intake: bus delivery threads ----------------------------------------- */

static void wake_if_output(struct alerts *a)
{
	if (a->n_out || a->records.n) {
		a->kick = true;
		pthread_cond_signal(&a->wake);
	}
}

static void on_metric(void *user, const char *topic, const void *body, size_t len)
{
	struct alerts *a = user;
	struct bm_metric_batch b;
	(void)topic;
	if (bm_metric_batch_decode(body, len, &b, &a->metric_arena)) {
		__atomic_add_fetch(&a->st.decode_errors, 1, __ATOMIC_RELAXED);
		bm_arena_reset(&a->metric_arena);
		return;
	}
	int64_t now = bm_now_ms(a->ctx);
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < b.n_samples; i++) {
		const struct bm_sample *s = &b.samples[i];
		al_engine_sample(a->eng, s->name, s->labels, s->n_labels, s->ts_ms ? s->ts_ms : now,
				 s->value, now);
	}
	wake_if_output(a);
	pthread_mutex_unlock(&a->lock);
	bm_arena_reset(&a->metric_arena);
}

enum event_kind { EV_OTHER, EV_ANOMALY, EV_TREND, EV_FORECAST };

static enum event_kind kind_of(const char *topic)
{
	if (strcmp(topic, BM_TOPIC_ANOMALY) == 0)
		return EV_ANOMALY;
	if (strcmp(topic, BM_TOPIC_TREND) == 0)
		return EV_TREND;
	if (strcmp(topic, BM_TOPIC_FORECAST) == 0)
		return EV_FORECAST;
	return EV_OTHER;
}

union analysis_event {
	struct bm_anomaly_event an;
	struct bm_trend_event tr;
	struct bm_forecast_event fc;
};

static int decode_event(struct alerts *a, enum event_kind k, const void *body, size_t len,
			union analysis_event *ev)
{
	switch (k) {
	case EV_ANOMALY:
		return bm_anomaly_decode(body, len, &ev->an, &a->event_arena);
	case EV_TREND:
		return bm_trend_decode(body, len, &ev->tr, &a->event_arena);
	case EV_FORECAST:
		return bm_forecast_decode(body, len, &ev->fc, &a->event_arena);
	default:
		return BM_EINVAL;
	}
}

/* anomaly, trend and forecast events; the rest of BM_TOPIC_EVENTS (our
 * own alerts included) is not for us. */
static void on_event(void *user, const char *topic, const void *body, size_t len)
{
	struct alerts *a = user;
	union analysis_event ev;
	enum event_kind k = kind_of(topic);
	if (k == EV_OTHER)
		return;
	if (decode_event(a, k, body, len, &ev)) {
		__atomic_add_fetch(&a->st.decode_errors, 1, __ATOMIC_RELAXED);
		bm_arena_reset(&a->event_arena);
		return;
	}
	int64_t now = bm_now_ms(a->ctx);
	pthread_mutex_lock(&a->lock);
	if (k == EV_ANOMALY)
		al_engine_anomaly(a->eng, &ev.an, now);
	else if (k == EV_TREND)
		al_engine_trend(a->eng, &ev.tr, now);
	else
		al_engine_forecast(a->eng, &ev.fc, now);
	wake_if_output(a);
	pthread_mutex_unlock(&a->lock);
	bm_arena_reset(&a->event_arena);
}

/* --- the worker ------------------------------------------------------------ */

static void publish_outbox(struct alerts *a, struct alerts_out *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = bm_bus_publish(a->ctx, BM_TOPIC_ALERT, out[i].body, out[i].len);
		__atomic_add_fetch(rc ? &a->st.publish_failures : &a->st.published, 1,
				   __ATOMIC_RELAXED);
		if (rc)
			bm_log_warn(a->ctx, "alert event not taken by every subscriber: %s",
				    bm_strerror(rc));
		free(out[i].body);
	}
	free(out);
}

/* Take the outbox (and recorded samples) under the lock, publish without
 * it: a block-policy subscriber may make us wait. */
static void flush_outbox(struct alerts *a)
{
	struct bm_batch rec = {0};
	pthread_mutex_lock(&a->lock);
	struct alerts_out *out = a->out;
	size_t n = a->n_out;
	a->out = NULL;
	a->n_out = a->cap_out = 0;
	if (a->records.n) {
		rec = a->records;
		memset(&a->records, 0, sizeof(a->records));
	}
	pthread_mutex_unlock(&a->lock);
	publish_outbox(a, out, n);
	if (rec.n) {
		struct bm_metric_batch mb;
		bm_batch_view(&rec, &mb);
		if (bm_metrics_publish(a->ctx, &mb))
			__atomic_add_fetch(&a->st.publish_failures, 1, __ATOMIC_RELAXED);
	}
	bm_batch_free(&rec);
}

static int write_state_file(const char *path, const char *text)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		/* the directory went away under us (a data dir made anew, a
		 * cleanup): make it again rather than fail every interval */
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0700) == 0 || errno == EEXIST)
				fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		}
	}
	if (fd < 0)
		return -1;
	size_t len = strlen(text), done = 0;
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	int rc = done == len && fsync(fd) == 0 ? 0 : -1;
	if (close(fd) || rc || rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Write the state file when something changed (at most every
 * state_interval unless forced). */
static void save_state(struct alerts *a, int64_t now, bool force)
{
	pthread_mutex_lock(&a->lock);
	bool due = al_engine_dirty(a->eng) &&
		   (force || now - a->last_save_ms >= a->conf->state_interval_ms);
	json_t *doc = due ? al_engine_state_json(a->eng, now) : NULL;
	if (due)
		al_engine_clear_dirty(a->eng);
	pthread_mutex_unlock(&a->lock);
	if (!due)
		return;
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	a->last_save_ms = now;
	if (text && write_state_file(a->state_path, text) == 0) {
		__atomic_add_fetch(&a->st.state_writes, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_add_fetch(&a->st.state_errors, 1, __ATOMIC_RELAXED);
		bm_log_err(a->ctx, "cannot write %s: %s", a->state_path, strerror(errno));
		pthread_mutex_lock(&a->lock);
		al_engine_mark_dirty(a->eng);
		pthread_mutex_unlock(&a->lock);
	}
	free(text);
}

static void store_double(double *dst, double v)
{
	__atomic_store(dst, &v, __ATOMIC_RELAXED);
}

/* The engine's figures into the self-metrics (read by the host with
 * relaxed atomic loads). */
static void copy_stats(struct alerts *a)
{
	const struct al_engine_stats *s = al_engine_stats(a->eng);
	struct timespec cpu;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
	__atomic_store_n(&a->st.samples, s->samples, __ATOMIC_RELAXED);
	__atomic_store_n(&a->st.events_in, s->events_in, __ATOMIC_RELAXED);
	__atomic_store_n(&a->st.series_dropped, s->series_dropped, __ATOMIC_RELAXED);
	__atomic_store_n(&a->st.promql_errors, s->promql_errors, __ATOMIC_RELAXED);
	store_double(&a->st.series, s->series);
	store_double(&a->st.pending, s->instances_pending);
	store_double(&a->st.firing, s->instances_firing);
	store_double(&a->st.rules, s->rules);
	store_double(&a->st.silences, s->silences_active);
	store_double(&a->st.worker_cpu_s, (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9);
}

/* --- PromQL rules: evaluated on the worker, outside the lock ----------------- */

struct promql_take {
	struct al_promql_sample *s;
	size_t n, cap;
	struct bm_arena arena;
	bool not_vector;
};

static void promql_series(void *user, const struct bm_promql_series *ps)
{
	struct promql_take *t = user;
	if (ps->type != BM_PROMQL_VECTOR) {
		t->not_vector = true;
		return;
	}
	if (!ps->n || BM_VEC_RESERVE(t->s, t->cap, t->n + 1))
		return;
	struct bm_label *l = ps->n_labels ? bm_arena_alloc(&t->arena, ps->n_labels * sizeof(*l))
					  : NULL;
	for (uint32_t i = 0; l && i < ps->n_labels; i++) {
		l[i].name = bm_arena_strndup(&t->arena, ps->labels[i].name,
					     strlen(ps->labels[i].name));
		l[i].value = bm_arena_strndup(&t->arena, ps->labels[i].value,
					      strlen(ps->labels[i].value));
	}
	if (ps->n_labels && !l)
		return;
	t->s[t->n++] = (struct al_promql_sample){l, ps->n_labels, ps->v[ps->n - 1]};
}

static void run_promql_job(struct alerts *a, const struct al_promql_job *job, int64_t now)
{
	struct promql_take t = {0};
	char err[256] = "";
	long rc = bm_promql(a->ctx, job->expr, now, now, 0, promql_series, &t, err, sizeof(err));
	bool ok = rc >= 0 && !t.not_vector;
	if (!ok)
		bm_log_warn(a->ctx, "rule %s: %s", job->rule_id,
			    t.not_vector ? "the expression must return an instant vector" : err);
	pthread_mutex_lock(&a->lock);
	al_engine_promql_result(a->eng, job->rule_id, t.s, t.n, ok, now);
	pthread_mutex_unlock(&a->lock);
	free(t.s);
	bm_arena_free(&t.arena);
}

static void run_promql(struct alerts *a, int64_t now)
{
	struct al_promql_job *jobs;
	pthread_mutex_lock(&a->lock);
	size_t n = al_engine_promql_due(a->eng, now, &jobs);
	pthread_mutex_unlock(&a->lock);
	for (size_t i = 0; i < n && !__atomic_load_n(&a->stopping, __ATOMIC_ACQUIRE); i++)
		run_promql_job(a, &jobs[i], now);
	al_promql_jobs_free(jobs, n);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep until the next tick or a kick; true when it is time to tick. */
static bool wait_for_work(struct alerts *a, int64_t next_tick)
{
	pthread_mutex_lock(&a->lock);
	while (!a->stopping && !a->kick && mono_ms() < next_tick) {
		int64_t ms = next_tick - mono_ms();
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += ms / 1000;
		until.tv_nsec += (ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&a->wake, &a->lock, &until);
	}
	a->kick = false;
	pthread_mutex_unlock(&a->lock);
	return mono_ms() >= next_tick;
}

static void *worker_main(void *arg)
{
	struct alerts *a = arg;
	int64_t next_tick = mono_ms();
	while (!__atomic_load_n(&a->stopping, __ATOMIC_ACQUIRE)) {
		bool tick = wait_for_work(a, next_tick);
		int64_t now = bm_now_ms(a->ctx);
		if (tick) {
			next_tick += a->conf->eval_interval_ms;
			if (next_tick < mono_ms())
				next_tick = mono_ms() + a->conf->eval_interval_ms;
			pthread_mutex_lock(&a->lock);
			al_engine_tick(a->eng, now);
			copy_stats(a);
			pthread_mutex_unlock(&a->lock);
			run_promql(a, now);
		}
		flush_outbox(a);
		save_state(a, now, false);
	}
	flush_outbox(a);
	return NULL;
}

/* --- rules from the config and from rule files ------------------------------ */

static json_t *map_json(const struct bm_map *m)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < m->n; i++)
		json_object_set_new(o, m->keys[i], json_string(m->values[i]));
	return o;
}

static json_t *list_json(const struct bm_strlist *l)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static void put_ms(json_t *o, const char *k, int64_t ms)
{
	json_object_set_new(o, k, json_integer(ms));
}

static void put_num(json_t *o, const char *k, double v)
{
	if (!isnan(v))
		json_object_set_new(o, k, json_real(v));
}

static void put_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

/* A config rule in the rule JSON form, so one validation serves all. */
static json_t *conf_rule_json(const struct alerts_rule_conf *c)
{
	json_t *o = json_object();
	put_str(o, "id", c->id);
	put_str(o, "name", c->name);
	put_str(o, "metric", c->metric);
	put_str(o, "condition", al_cond_names[c->condition]);
	put_num(o, "threshold", c->threshold);
	put_num(o, "clear_threshold", c->clear_threshold);
	if (c->tolerance != 0)
		put_num(o, "tolerance", c->tolerance);
	if (c->horizon_ms)
		put_ms(o, "horizon", c->horizon_ms);
	if (c->window_ms)
		put_ms(o, "window", c->window_ms);
	put_str(o, "expr", c->expr);
	put_ms(o, "for", c->for_ms);
	put_ms(o, "keep_firing_for", c->keep_firing_for_ms);
	put_str(o, "severity", al_severity_names[c->severity]);
	put_ms(o, "cooldown", c->cooldown_ms);
	put_ms(o, "repeat_interval", c->repeat_interval_ms);
	put_str(o, "expires", c->expires);
	json_object_set_new(o, "labels", map_json(&c->labels));
	json_object_set_new(o, "annotations", map_json(&c->annotations));
	json_object_set_new(o, "notifiers", list_json(&c->notifiers));
	json_object_set_new(o, "group_by", list_json(&c->group_by));
	put_ms(o, "group_wait", c->group_wait_ms);
	put_ms(o, "group_interval", c->group_interval_ms);
	json_object_set_new(o, "flap_threshold", json_integer(c->flap_threshold));
	put_ms(o, "flap_window", c->flap_window_ms);
	json_object_set_new(o, "enabled", json_boolean(c->enabled));
	return o;
}

static int add_rule_json(struct alerts *a, const json_t *j, enum al_source src, const char *origin,
			 const char *where, struct bm_err *err)
{
	struct al_rule *r;
	struct al_rule_err re;
	int64_t now = bm_now_ms(a->ctx);
	if (al_rule_from_json(j, src, now, al_engine_has_promql(a->eng), &r, &re))
		return bm_err_set(err, BM_EINVAL, "%s: %s: %s", where, re.field, re.msg);
	r->origin = origin ? strdup(origin) : NULL;
	if (al_engine_rule_add(a->eng, r, now, &re)) {
		al_rule_free(r);
		return bm_err_set(err, BM_EINVAL, "%s: %s: %s", where, re.field, re.msg);
	}
	return 0;
}

static int add_config_rules(struct alerts *a, struct bm_err *err)
{
	const struct bm_group_list *l = &a->conf->rules;
	for (size_t i = 0; i < l->n; i++) {
		const struct alerts_rule_conf *c = BM_GROUP_ITEM(*l, struct alerts_rule_conf, i);
		char where[200];
		snprintf(where, sizeof(where), "rules.%zu (%s)", i, c->name);
		json_t *j = conf_rule_json(c);
		int rc = j ? add_rule_json(a, j, AL_SRC_CONFIG, NULL, where, err)
			   : bm_err_set(err, BM_ENOMEM, "out of memory");
		json_decref(j);
		if (rc)
			return rc;
	}
	return 0;
}

static int add_rule_files(struct alerts *a, struct bm_err *err)
{
	const struct bm_strlist *files = &a->conf->prometheus_rule_files;
	for (size_t i = 0; i < files->n; i++) {
		json_t *rules;
		int prom;
		char why[512];
		if (al_rules_file_load(files->v[i], &rules, &prom, why, sizeof(why)))
			return bm_err_set(err, BM_EINVAL, "prometheus_rule_files: %s", why);
		int rc = 0;
		if (!al_engine_has_promql(a->eng) && json_array_size(rules))
			rc = bm_err_set(err, BM_ENOTSUP,
					"prometheus_rule_files: %s: its %zu rules need the PromQL "
					"engine, which is not available in this bearmond",
					files->v[i], json_array_size(rules));
		for (size_t k = 0; !rc && k < json_array_size(rules); k++)
			rc = add_rule_json(a, json_array_get(rules, k), AL_SRC_FILE, files->v[i],
					   files->v[i], err);
		json_decref(rules);
		if (rc)
			return rc;
	}
	return 0;
}

/* --- state file -------------------------------------------------------------- */

static int state_path(struct alerts *a, struct bm_err *err)
{
	if (a->conf->state_file) {
		snprintf(a->state_path, sizeof(a->state_path), "%s", a->conf->state_file);
		return 0;
	}
	char dir[3072];
	snprintf(dir, sizeof(dir), "%s/%s", bm_data_dir(a->ctx), STATE_DIR);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return bm_err_set(err, BM_EIO, "cannot create %s: %s", dir, strerror(errno));
	snprintf(a->state_path, sizeof(a->state_path), "%s/%.512s.json", dir,
		 bm_instance_name(a->ctx));
	return 0;
}

static int load_state(struct alerts *a, struct bm_err *err)
{
	json_error_t je;
	struct al_rule_err re;
	json_t *doc = json_load_file(a->state_path, 0, &je);
	if (!doc) {
		if (access(a->state_path, F_OK) != 0)
			return 0; /* first start */
		bm_log_err(a->ctx, "%s is unreadable (%s): starting without it", a->state_path,
			   je.text);
		return 0;
	}
	int skipped = al_engine_state_restore(a->eng, doc, bm_now_ms(a->ctx), &re);
	json_decref(doc);
	if (skipped < 0)
		return bm_err_set(err, BM_EINVAL, "%s: %s", a->state_path, re.msg);
	if (skipped)
		bm_log_notice(a->ctx, "%s: %d expired or orphaned items left out", a->state_path,
			      skipped);
	return 0;
}

/* --- lifecycle ------------------------------------------------------------------ */

static const struct {
	const char *name;
	const char *help;
	size_t off;
	bool gauge;
} self_metrics[] = {
	{"bearmon_alerts_samples_total", "samples of watched metrics evaluated",
	 offsetof(struct alerts_stats, samples), false},
	{"bearmon_alerts_analysis_events_total", "anomaly, trend and forecast events evaluated",
	 offsetof(struct alerts_stats, events_in), false},
	{"bearmon_alerts_series_dropped_total", "new series refused at max_series",
	 offsetof(struct alerts_stats, series_dropped), false},
	{"bearmon_alerts_events_published_total", "alert events published",
	 offsetof(struct alerts_stats, published), false},
	{"bearmon_alerts_publish_failures_total",
	 "alert events a block-policy subscriber did not take, or that could not be encoded",
	 offsetof(struct alerts_stats, publish_failures), false},
	{"bearmon_alerts_decode_errors_total", "input events that did not decode",
	 offsetof(struct alerts_stats, decode_errors), false},
	{"bearmon_alerts_promql_errors_total", "failed PromQL evaluations",
	 offsetof(struct alerts_stats, promql_errors), false},
	{"bearmon_alerts_state_writes_total", "state file writes",
	 offsetof(struct alerts_stats, state_writes), false},
	{"bearmon_alerts_state_write_errors_total", "failed state file writes",
	 offsetof(struct alerts_stats, state_errors), false},
	{"bearmon_alerts_series", "series the rules watch", offsetof(struct alerts_stats, series),
	 true},
	{"bearmon_alerts_pending", "alerts pending", offsetof(struct alerts_stats, pending), true},
	{"bearmon_alerts_firing", "alerts firing", offsetof(struct alerts_stats, firing), true},
	{"bearmon_alerts_rules", "rules loaded", offsetof(struct alerts_stats, rules), true},
	{"bearmon_alerts_silences_active", "silences in force",
	 offsetof(struct alerts_stats, silences), true},
	{"bearmon_alerts_worker_cpu_seconds", "CPU time of the evaluation worker thread",
	 offsetof(struct alerts_stats, worker_cpu_s), true},
};

static int register_self_metrics(struct alerts *a)
{
	for (size_t i = 0; i < sizeof(self_metrics) / sizeof(self_metrics[0]); i++) {
		const char *p = (const char *)&a->st + self_metrics[i].off;
		int rc = self_metrics[i].gauge
				 ? bm_self_gauge(a->ctx, self_metrics[i].name, self_metrics[i].help,
						 (const double *)p)
				 : bm_self_counter(a->ctx, self_metrics[i].name,
						   self_metrics[i].help, (const uint64_t *)p);
		if (rc)
			return rc;
	}
	return 0;
}

static void alerts_fini(void *state);

static struct al_engine *make_engine(struct alerts *a)
{
	const struct alerts_conf *c = a->conf;
	const char *base = c->external_url ? c->external_url : "";
	snprintf(a->generator_url, sizeof(a->generator_url), "%s%s/rules/", base, ALERTS_API);
	/* promql and recording rules need the host's PromQL call; without it
	 * they are refused at load ("PromQL engine not available ...") */
	struct al_engine_conf ec = {
		.promql = BM_HOST_HAS(bm_host(), promql),
		.lookback_ms = c->lookback_ms, .anomaly_hold_ms = c->anomaly_hold_ms,
		.analysis_ttl_ms = c->analysis_ttl_ms, .promql_interval_ms = c->promql_interval_ms,
		.max_series = (size_t)c->max_series, .generator_url = a->generator_url,
		.emit = on_alert, .record = on_record, .user = a};
	return al_engine_new(&ec);
}

static int alerts_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	struct alerts *a = calloc(1, sizeof(*a));
	if (!a)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	a->ctx = ctx;
	a->conf = conf;
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake, &ca);
	pthread_condattr_destroy(&ca);
	a->eng = make_engine(a);
	int rc = a->eng ? 0 : bm_err_set(err, BM_ENOMEM, "out of memory");
	rc = rc ? rc : add_config_rules(a, err);
	rc = rc ? rc : add_rule_files(a, err);
	rc = rc ? rc : state_path(a, err);
	rc = rc ? rc : load_state(a, err);
	rc = rc ? rc : register_self_metrics(a);
	if (rc) {
		if (!err->msg[0])
			bm_err_set(err, rc, "self-metrics: %s", bm_strerror(rc));
		alerts_fini(a);
		return rc;
	}
	bm_log_info(ctx, "%zu rules, state in %s", al_engine_rule_count(a->eng), a->state_path);
	*state = a;
	return 0;
}

static int subscribe(struct alerts *a, struct bm_err *err)
{
	struct bm_sub_opts mo = {.size = sizeof(mo), .topic = BM_TOPIC_METRIC,
				 .policy = BM_SUB_DROP_OLDEST,
				 .queue_len = (uint32_t)a->conf->metric_queue_len};
	struct bm_sub_opts eo = {.size = sizeof(eo), .topic = BM_TOPIC_EVENTS,
				 .policy = BM_SUB_DROP_OLDEST};
	int rc = bm_bus_subscribe(a->ctx, &mo, on_metric, a, &a->metric_sub);
	if (rc)
		return bm_err_set(err, rc, "subscribe %s: %s", BM_TOPIC_METRIC, bm_strerror(rc));
	rc = bm_bus_subscribe(a->ctx, &eo, on_event, a, &a->event_sub);
	if (rc)
		return bm_err_set(err, rc, "subscribe to analysis events: %s", bm_strerror(rc));
	return 0;
}

static void alerts_stop(void *state);

static int alerts_start(void *state, struct bm_err *err)
{
	struct alerts *a = state;
	a->stopping = false;
	if (pthread_create(&a->worker, NULL, worker_main, a))
		return bm_err_set(err, BM_EIO, "cannot start the worker thread");
	pthread_setname_np(a->worker, "bm-alerts-eval"); /* top -H, bench/alerts */
	a->worker_running = true;
	int rc = subscribe(a, err);
	rc = rc ? rc : alerts_api_register(a, err);
	if (rc)
		alerts_stop(a);
	return rc;
}

static void alerts_stop(void *state)
{
	struct alerts *a = state;
	if (a->metric_sub)
		bm_bus_unsubscribe(a->metric_sub);
	if (a->event_sub)
		bm_bus_unsubscribe(a->event_sub);
	a->metric_sub = a->event_sub = NULL;
	if (a->worker_running) {
		pthread_mutex_lock(&a->lock);
		__atomic_store_n(&a->stopping, true, __ATOMIC_RELEASE);
		pthread_cond_signal(&a->wake);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->worker, NULL);
		a->worker_running = false;
	}
	save_state(a, bm_now_ms(a->ctx), true);
}

static void alerts_fini(void *state)
{
	struct alerts *a = state;
	al_engine_free(a->eng);
	for (size_t i = 0; i < a->n_out; i++)
		free(a->out[i].body);
	free(a->out);
	bm_batch_free(&a->records);
	bm_buf_free(&a->enc);
	bm_arena_free(&a->metric_arena);
	bm_arena_free(&a->event_arena);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static const struct bm_plugin_ops alerts_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = alerts_init,
	.start = alerts_start,
	.stop = alerts_stop,
	.fini = alerts_fini,
};

BM_PLUGIN_DEFINE(analyzer, alerts, BM_KIND_ANALYZER, .version = "1.0.0", .license = "Apache-2.0",
		 .description = "alert rules: thresholds, trends, anomalies, forecasts, missing "
				"data; silences, grouping, acknowledgement, HTTP API",
		 .origin = "bearmon", .options = alerts_options,
		 .config_size = sizeof(struct alerts_conf), .ops = &alerts_ops);
