/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule engine alone, in simulated time: every condition at its
 * boundaries, for, keep_firing_for, hysteresis, cooldown, repeats,
 * acknowledgement, flap detection, expiry of dynamic rules, silences,
 * grouping of a storm, missing data, PromQL results, and a restart
 * through the state document that keeps the active alerts.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define T 1000000000000LL /* simulated start */
#define S 1000LL
#define M 60000LL
#define H 3600000LL

/* --- captured events --------------------------------------------------- */

struct ev {
	enum bm_alert_state state;
	char rule[64];
	char fp[17];
	bool routed; /* to notifiers (not AL_ROUTE_NONE) */
	char notifier[32];
	bool silenced, flapping;
	char ack_by[32];
	double value;
	int64_t ts;
	char labels[512];
	char ann[512];
};

static struct ev evs[8192];
static size_t n_ev;

static void on_emit(void *user, const struct bm_alert_event *e)
{
	(void)user;
	assert_true(n_ev < sizeof(evs) / sizeof(evs[0]));
	struct ev *v = &evs[n_ev++];
	memset(v, 0, sizeof(*v));
	v->state = e->state;
	snprintf(v->rule, sizeof(v->rule), "%s", e->rule_id);
	snprintf(v->fp, sizeof(v->fp), "%s", e->fingerprint);
	v->routed = !(e->n_notifiers == 1 && strcmp(e->notifiers[0], AL_ROUTE_NONE) == 0);
	if (e->n_notifiers)
		snprintf(v->notifier, sizeof(v->notifier), "%s", e->notifiers[0]);
	v->silenced = e->silenced;
	v->flapping = e->flapping;
	snprintf(v->ack_by, sizeof(v->ack_by), "%s", e->ack.by ? e->ack.by : "");
	v->value = e->value;
	v->ts = e->ts_ms;
	for (uint32_t i = 0; i < e->n_labels; i++)
		snprintf(v->labels + strlen(v->labels), sizeof(v->labels) - strlen(v->labels),
			 "%s%s=%s", i ? "," : "", e->labels[i].name, e->labels[i].value);
	for (size_t i = 0; i < e->n_annotations; i++)
		snprintf(v->ann + strlen(v->ann), sizeof(v->ann) - strlen(v->ann), "%s%s=%s",
			 i ? "," : "", e->annotations[i].key, e->annotations[i].value);
	if (getenv("ALERTS_TEST_VERBOSE"))
		fprintf(stderr, "event %zu: t+%lld %s %s state %d routed %d {%s} %s\n", n_ev - 1,
			(long long)(v->ts - 1000000000000LL), v->rule, v->fp, v->state, v->routed,
			v->labels, v->ann);
}

struct rec {
	char name[64];
	char labels[256];
	double v;
};
static struct rec recs[64];
static size_t n_rec;

static void on_record(void *user, const char *name, const struct bm_label *l, uint32_t n,
		      int64_t ts, double v)
{
	(void)user;
	(void)ts;
	struct rec *r = &recs[n_rec++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	for (uint32_t i = 0; i < n; i++)
		snprintf(r->labels + strlen(r->labels), sizeof(r->labels) - strlen(r->labels),
			 "%s%s=%s", i ? "," : "", l[i].name, l[i].value);
	r->v = v;
}

/* --- helpers ---------------------------------------------------------------- */

static struct al_engine *engine_with(bool promql, size_t max_series)
{
	struct al_engine_conf c = {.lookback_ms = 5 * M, .anomaly_hold_ms = M,
				   .analysis_ttl_ms = H, .promql_interval_ms = 15 * S,
				   .max_series = max_series, .generator_url = "/rules/",
				   .promql = promql, .emit = on_emit, .record = on_record};
	n_ev = 0;
	n_rec = 0;
	struct al_engine *e = al_engine_new(&c);
	assert_non_null(e);
	return e;
}

static struct al_engine *engine(void)
{
	return engine_with(false, 0);
}

static void add_rule_at(struct al_engine *e, enum al_source src, int64_t now, const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON: %s: %s", je.text, text);
	struct al_rule *r;
	struct al_rule_err err;
	if (al_rule_from_json(j, src, now, al_engine_has_promql(e), &r, &err))
		fail_msg("rule refused: %s: %s", err.field, err.msg);
	json_decref(j);
	if (al_engine_rule_add(e, r, now, &err))
		fail_msg("rule not added: %s", err.msg);
}

#define add_rule(e, ...) add_rule_at(e, AL_SRC_CONFIG, T, __VA_ARGS__)

/* labels as "k=v,k2=v2" (sorted) */
static uint32_t parse_labels(const char *text, char *buf, size_t n, struct bm_label *l)
{
	uint32_t k = 0;
	snprintf(buf, n, "%s", text);
	for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		*eq = '\0';
		l[k++] = (struct bm_label){kv, eq + 1};
	}
	return k;
}

static void feed(struct al_engine *e, const char *name, const char *labels, int64_t t, double v)
{
	char buf[512];
	struct bm_label l[16];
	uint32_t n = parse_labels(labels, buf, sizeof(buf), l);
	al_engine_sample(e, name, l, n, t, v, t);
}

static size_t count(enum bm_alert_state st, bool routed)
{
	size_t c = 0;
	for (size_t i = 0; i < n_ev; i++)
		c += evs[i].state == st && evs[i].routed == routed;
	return c;
}

static const struct ev *last(void)
{
	assert_true(n_ev > 0);
	return &evs[n_ev - 1];
}

#define assert_last(st, routed_)                                                           \
	do {                                                                               \
		assert_int_equal(last()->state, (st));                                     \
		assert_int_equal(last()->routed, (routed_));                               \
	} while (0)

/* --- conditions at their boundaries ---------------------------------------------- */

static void gt_boundary(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"Hot\",\"metric\":\"temp{zone=\\\"a\\\"}\",\"condition\":\"gt\","
		    "\"threshold\":10}");
	feed(e, "temp", "zone=a", T, 10);
	assert_int_equal(n_ev, 0); /* equal is not above */
	feed(e, "temp", "zone=b", T, 99);
	assert_int_equal(n_ev, 0); /* selector excludes zone b */
	feed(e, "temp", "zone=a", T + S, 10.000001);
	assert_last(BM_ALERT_FIRING, true);
	assert_string_equal(last()->labels, "alertname=Hot,severity=warning,zone=a");
	feed(e, "temp", "zone=a", T + 2 * S, 10);
	assert_last(BM_ALERT_RESOLVED, true);
	assert_int_equal(n_ev, 2);
	al_engine_free(e);
}

static void lt_boundary(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"Low\",\"metric\":\"free\",\"condition\":\"lt\",\"threshold\":5}");
	feed(e, "free", "", T, 5);
	assert_int_equal(n_ev, 0);
	feed(e, "free", "", T + S, 4.999);
	assert_last(BM_ALERT_FIRING, true);
	assert_true(fabs(last()->value - 4.999) < 1e-12);
	al_engine_free(e);
}

static void eq_tolerance(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"Eq\",\"metric\":\"mode\",\"condition\":\"eq\",\"threshold\":100,"
		    "\"tolerance\":0.5}");
	feed(e, "mode", "", T, 100.6);
	assert_int_equal(n_ev, 0);
	feed(e, "mode", "", T + S, 100.5);
	assert_last(BM_ALERT_FIRING, true);
	feed(e, "mode", "", T + 2 * S, 99.5);
	assert_int_equal(n_ev, 1); /* still within */
	feed(e, "mode", "", T + 3 * S, 99.49);
	assert_last(BM_ALERT_RESOLVED, true);
	al_engine_free(e);
}

static void rate_change(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"Up\",\"metric\":\"level\",\"condition\":\"rate_change\","
		    "\"threshold\":2}");
	add_rule(e, "{\"name\":\"Down\",\"metric\":\"level\",\"condition\":\"rate_change\","
		    "\"threshold\":-1}");
	add_rule(e, "{\"name\":\"Errs\",\"metric\":\"errors_total\",\"condition\":\"rate_change\","
		    "\"threshold\":1}");
	feed(e, "level", "", T, 0);
	feed(e, "level", "", T + 10 * S, 20); /* exactly 2/s: not above */
	assert_int_equal(n_ev, 0);
	feed(e, "level", "", T + 20 * S, 41); /* 2.1/s */
	assert_last(BM_ALERT_FIRING, true);
	assert_string_equal(last()->rule, "Up");
	assert_true(fabs(last()->value - 2.1) < 1e-9);
	feed(e, "level", "", T + 30 * S, 30); /* -1.1/s: Up resolves, Down fires */
	assert_int_equal(n_ev, 3);
	assert_string_equal(evs[1].rule, "Up");
	assert_int_equal(evs[1].state, BM_ALERT_RESOLVED);
	assert_string_equal(evs[2].rule, "Down");
	assert_int_equal(evs[2].state, BM_ALERT_FIRING);
	/* a counter reset is no drop: 100 -> 5 in 10 s is an increase of 5 */
	feed(e, "errors_total", "", T, 100);
	feed(e, "errors_total", "", T + 10 * S, 5);
	assert_int_equal(n_ev, 3);
	feed(e, "errors_total", "", T + 20 * S, 25); /* 2/s */
	assert_string_equal(last()->rule, "Errs");
	assert_last(BM_ALERT_FIRING, true);
	al_engine_free(e);
}

static void trend_event(struct al_engine *e, int64_t ts, int64_t window, double slope,
			enum bm_trend_direction dir)
{
	struct bm_label l = {"dev", "sda"};
	struct bm_trend_event t = {.series = {"disk_used", &l, 1}, .ts_ms = ts, .window_ms = window,
				   .slope_per_s = slope, .direction = dir};
	al_engine_trend(e, &t, ts);
}

static void trends(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"Grows\",\"metric\":\"disk_used\",\"condition\":\"trend_inc\","
		    "\"threshold\":0.5,\"window\":\"1h\"}");
	add_rule(e, "{\"name\":\"Shrinks\",\"metric\":\"disk_used\",\"condition\":\"trend_dec\","
		    "\"threshold\":0.5}");
	trend_event(e, T, H, 0.5, BM_TREND_INCREASING);
	assert_int_equal(n_ev, 0); /* not above */
	trend_event(e, T + S, 5 * M, 0.9, BM_TREND_INCREASING);
	assert_int_equal(n_ev, 0); /* another window */
	trend_event(e, T + 2 * S, H, 0.6, BM_TREND_INCREASING);
	assert_last(BM_ALERT_FIRING, true);
	assert_string_equal(last()->rule, "Grows");
	trend_event(e, T + 3 * S, H, 0.9, BM_TREND_STABLE);
	assert_last(BM_ALERT_RESOLVED, true);
	trend_event(e, T + 4 * S, 5 * M, -0.6, BM_TREND_DECREASING);
	assert_last(BM_ALERT_FIRING, true);
	assert_string_equal(last()->rule, "Shrinks");
	/* a trend older than analysis_ttl no longer counts */
	al_engine_tick(e, T + 4 * S + H);
	assert_int_equal(n_ev, 3);
	al_engine_tick(e, T + 5 * S + H);
	assert_last(BM_ALERT_RESOLVED, true);
	al_engine_free(e);
}

static void anomaly_event(struct al_engine *e, int64_t ts, double score)
{
	struct bm_anomaly_event a = {.series = {"latency", NULL, 0}, .ts_ms = ts, .score = score,
				     .detector = "test"};
	al_engine_anomaly(e, &a, ts);
}

static void anomalies(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"Odd\",\"metric\":\"latency\",\"condition\":\"anomaly\","
		    "\"threshold\":0.9}");
	anomaly_event(e, T, 0.899);
	assert_int_equal(n_ev, 0);
	anomaly_event(e, T + S, 0.9);
	assert_last(BM_ALERT_FIRING, true);
	al_engine_tick(e, T + S + M); /* held anomaly_hold */
	assert_int_equal(n_ev, 1);
	al_engine_tick(e, T + S + M + 1);
	assert_last(BM_ALERT_RESOLVED, true);
	al_engine_free(e);
}

static void forecast_event(struct al_engine *e, int64_t ts, bool own, int64_t ttt,
			   const struct bm_forecast_point *p, size_t n)
{
	struct bm_label l = {"mountpoint", "/"};
	struct bm_forecast_event f = {.series = {"fs_avail", &l, 1}, .ts_ms = ts, .model = "linear",
				      .has_threshold = own, .threshold = 0, .cross = BM_CROSS_BELOW,
				      .time_to_threshold_ms = ttt, .points = p, .n_points = n};
	al_engine_forecast(e, &f, ts);
}

static void forecasts(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	/* the forecaster's own limit */
	add_rule(e, "{\"name\":\"Full\",\"metric\":\"fs_avail\",\"condition\":\"forecast\","
		    "\"horizon\":\"8h\"}");
	forecast_event(e, T, true, 8 * H + 1, NULL, 0);
	assert_int_equal(n_ev, 0);
	forecast_event(e, T + M, true, 8 * H, NULL, 0);
	assert_last(BM_ALERT_FIRING, true);
	assert_true(fabs(last()->value - 8 * 3600) < 1e-9);
	forecast_event(e, T + 2 * M, true, -1, NULL, 0);
	assert_last(BM_ALERT_RESOLVED, true);
	/* a threshold of the rule's own: crossing interpolated between points */
	add_rule(e, "{\"name\":\"Low\",\"metric\":\"fs_avail\",\"condition\":\"forecast\","
		    "\"threshold\":100,\"horizon\":\"2h\"}");
	struct bm_forecast_point p[] = {{T + 3 * M + H, 300, 0, 0}, {T + 3 * M + 2 * H, 50, 0, 0}};
	forecast_event(e, T + 3 * M, false, -1, p, 2);
	assert_last(BM_ALERT_FIRING, true);
	assert_string_equal(last()->rule, "Low");
	assert_true(fabs(last()->value - (3600 + 0.8 * 3600)) < 1e-6);
	al_engine_free(e);
}

static void missing_data(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"Gone\",\"metric\":\"hb{job=\\\"a\\\"}\",\"condition\":\"absent\","
		    "\"horizon\":\"5m\"}");
	add_rule(e, "{\"name\":\"Never\",\"metric\":\"nosuch{job=\\\"x\\\"}\","
		    "\"condition\":\"absent\"}");
	feed(e, "hb", "job=a", T, 1);
	al_engine_tick(e, T + 5 * M - 1);
	assert_int_equal(n_ev, 0);
	al_engine_tick(e, T + 5 * M);
	assert_int_equal(n_ev, 2);
	assert_int_equal(count(BM_ALERT_FIRING, true), 2);
	bool seen_never = false;
	for (size_t i = 0; i < n_ev; i++)
		seen_never |= strcmp(evs[i].labels, "alertname=Never,job=x,severity=warning") == 0;
	assert_true(seen_never); /* no series at all: labels from the selector */
	feed(e, "hb", "job=a", T + 6 * M, 1);
	assert_last(BM_ALERT_RESOLVED, true);
	feed(e, "hb", "job=a", T + 7 * M, bm_stale_nan()); /* a stale marker: gone at once */
	assert_last(BM_ALERT_FIRING, true);
	al_engine_free(e);
}

/* --- durations and state ------------------------------------------------------- */

static void for_duration(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"F\",\"metric\":\"x\",\"condition\":\"gt\",\"threshold\":0,"
		    "\"for\":\"1m\"}");
	feed(e, "x", "", T, 1);
	assert_last(BM_ALERT_PENDING, false);
	feed(e, "x", "", T + M - 1, 1);
	al_engine_tick(e, T + M - 1);
	assert_int_equal(n_ev, 1);
	al_engine_tick(e, T + M);
	assert_last(BM_ALERT_FIRING, true);
	/* pending that never fired resolves to the history only */
	feed(e, "x", "", T + 2 * M, 0);
	feed(e, "x", "", T + 3 * M, 1);
	feed(e, "x", "", T + 3 * M + S, 0);
	assert_int_equal(evs[n_ev - 3].state, BM_ALERT_RESOLVED);
	assert_int_equal(evs[n_ev - 2].state, BM_ALERT_PENDING);
	assert_last(BM_ALERT_RESOLVED, false);
	al_engine_free(e);
}

static void keep_firing_for(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"K\",\"metric\":\"x\",\"condition\":\"gt\",\"threshold\":0,"
		    "\"keep_firing_for\":\"2m\"}");
	feed(e, "x", "", T, 1);
	feed(e, "x", "", T + S, 0);
	feed(e, "x", "", T + M, 0);
	al_engine_tick(e, T + S + 2 * M - 1);
	assert_last(BM_ALERT_FIRING, true);
	feed(e, "x", "", T + S + 2 * M - 1, 0);
	al_engine_tick(e, T + S + 2 * M);
	assert_last(BM_ALERT_RESOLVED, true);
	assert_int_equal(n_ev, 2);
	al_engine_free(e);
}

static void hysteresis(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"H\",\"metric\":\"cpu\",\"condition\":\"gt\",\"threshold\":90,"
		    "\"clear_threshold\":80,\"flap_threshold\":0}");
	feed(e, "cpu", "", T, 91);
	assert_last(BM_ALERT_FIRING, true);
	feed(e, "cpu", "", T + S, 85);
	feed(e, "cpu", "", T + 2 * S, 80.5);
	assert_int_equal(n_ev, 1);
	feed(e, "cpu", "", T + 3 * S, 80);
	assert_last(BM_ALERT_RESOLVED, true);
	feed(e, "cpu", "", T + 4 * S, 85); /* raising needs above 90 again */
	assert_int_equal(n_ev, 2);
	al_engine_free(e);
}

static void cooldown(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"C\",\"metric\":\"x\",\"condition\":\"gt\",\"threshold\":0,"
		    "\"cooldown\":\"10m\",\"flap_threshold\":0}");
	feed(e, "x", "", T, 1);
	assert_last(BM_ALERT_FIRING, true);
	feed(e, "x", "", T + M, 0);
	assert_last(BM_ALERT_RESOLVED, true);
	feed(e, "x", "", T + 2 * M, 1);
	assert_last(BM_ALERT_FIRING, false); /* recorded, not notified */
	feed(e, "x", "", T + 10 * M - 1, 1);
	al_engine_tick(e, T + 10 * M - 1);
	assert_int_equal(n_ev, 3);
	feed(e, "x", "", T + 10 * M, 1);
	al_engine_tick(e, T + 10 * M);
	assert_last(BM_ALERT_FIRING, true);
	assert_int_equal(n_ev, 4);
	al_engine_free(e);
}

static void fingerprint_of_last(char *fp)
{
	snprintf(fp, 17, "%s", last()->fp);
}

static void repeat_and_ack(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	char fp[17];
	add_rule(e, "{\"name\":\"R\",\"metric\":\"x\",\"condition\":\"gt\",\"threshold\":0,"
		    "\"repeat_interval\":\"1h\"}");
	feed(e, "x", "", T, 1);
	fingerprint_of_last(fp);
	for (int64_t t = T; t < T + H; t += 5 * M) {
		feed(e, "x", "", t, 1);
		al_engine_tick(e, t);
	}
	assert_int_equal(n_ev, 1);
	feed(e, "x", "", T + H, 1);
	al_engine_tick(e, T + H);
	assert_last(BM_ALERT_FIRING, true); /* the repeat */
	assert_int_equal(n_ev, 2);
	assert_int_equal(al_engine_ack(e, fp, "user:alice", "on it", T + H + 90 * M, T + H), 0);
	assert_last(BM_ALERT_FIRING, false);
	assert_string_equal(last()->ack_by, "user:alice");
	for (int64_t t = T + H; t < T + H + 90 * M; t += 5 * M) {
		feed(e, "x", "", t, 1);
		al_engine_tick(e, t);
	}
	assert_int_equal(n_ev, 3); /* acknowledged: no repeats */
	feed(e, "x", "", T + H + 90 * M, 1);
	al_engine_tick(e, T + H + 90 * M);
	assert_last(BM_ALERT_FIRING, true); /* the acknowledgement expired */
	assert_string_equal(last()->ack_by, "");
	assert_int_equal(al_engine_ack(e, "0123456789abcdef", "x", NULL, 0, T), BM_ENOENT);
	al_engine_free(e);
}

static void flapping(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e, "{\"name\":\"Fl\",\"metric\":\"x\",\"condition\":\"gt\",\"threshold\":0,"
		    "\"flap_threshold\":4,\"flap_window\":\"10m\"}");
	feed(e, "x", "", T, 1);          /* fires: 1 change */
	feed(e, "x", "", T + M, 0);      /* resolves: 2 */
	feed(e, "x", "", T + 2 * M, 1);  /* fires: 3 */
	assert_int_equal(n_ev, 3);
	feed(e, "x", "", T + 3 * M, 0);  /* 4: flapping, held firing */
	assert_last(BM_ALERT_FIRING, true);
	assert_true(last()->flapping);
	size_t held = n_ev;
	for (int i = 4; i < 8; i++)
		feed(e, "x", "", T + i * M, i % 2); /* absorbed */
	assert_int_equal(n_ev, held);
	feed(e, "x", "", T + 8 * M, 0);
	for (int64_t t = T + 8 * M; t <= T + 18 * M; t += M)
		al_engine_tick(e, t);
	assert_last(BM_ALERT_RESOLVED, true); /* calm again, and the condition is false */
	assert_false(last()->flapping);
	al_engine_free(e);
}

static void dynamic_rule_expires(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule_at(e, AL_SRC_API, T, "{\"id\":\"tmp\",\"name\":\"Tmp\",\"metric\":\"x\","
				      "\"condition\":\"gt\",\"threshold\":0,\"expires\":\"1m\"}");
	feed(e, "x", "", T, 1);
	assert_last(BM_ALERT_FIRING, true);
	al_engine_tick(e, T + M - 1);
	assert_non_null(al_engine_rule(e, "tmp"));
	al_engine_tick(e, T + M);
	assert_null(al_engine_rule(e, "tmp"));
	assert_last(BM_ALERT_RESOLVED, true);
	feed(e, "x", "", T + M + S, 1);
	assert_int_equal(n_ev, 2);
	al_engine_free(e);
}

static json_t *json_of(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	return j;
}

static void silences(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	struct al_rule_err err;
	char id[64];
	add_rule(e, "{\"name\":\"S\",\"metric\":\"x\",\"condition\":\"gt\",\"threshold\":0}");
	feed(e, "x", "dev=a", T, 1);
	json_t *j = json_of("{\"matchers\":\"dev=~\\\"a|b\\\"\",\"duration\":\"1h\","
			    "\"comment\":\"maintenance\",\"created_by\":\"bob\"}");
	assert_int_equal(al_engine_silence_put(e, j, T + S, id, &err), 0);
	json_decref(j);
	al_engine_tick(e, T + S);
	assert_last(BM_ALERT_FIRING, false);
	assert_true(last()->silenced);
	feed(e, "x", "dev=b", T + 2 * S, 1); /* new and silenced from the start */
	assert_last(BM_ALERT_FIRING, false);
	assert_true(last()->silenced);
	feed(e, "x", "dev=c", T + 3 * S, 1);
	assert_last(BM_ALERT_FIRING, true);
	size_t before = n_ev;
	assert_int_equal(al_engine_silence_expire(e, id, T + M), 0);
	al_engine_tick(e, T + M);
	assert_int_equal(n_ev, before + 2); /* a and b are told now */
	assert_last(BM_ALERT_FIRING, true);
	assert_false(last()->silenced);
	/* malformed silences name the field */
	j = json_of("{\"duration\":\"1h\"}");
	assert_int_equal(al_engine_silence_put(e, j, T, id, &err), -1);
	assert_string_equal(err.field, "matchers");
	json_decref(j);
	j = json_of("{\"matchers\":[{\"name\":\"a\",\"value\":\"1\"}],\"startsAt\":"
		    "\"2001-09-09T02:00:00Z\",\"endsAt\":\"2001-09-09T01:00:00Z\"}");
	assert_int_equal(al_engine_silence_put(e, j, T, id, &err), -1);
	assert_string_equal(err.field, "ends_at");
	json_decref(j);
	al_engine_free(e);
}

/* disk{dev="dNNN",host="h1"} = v for NNN in [from, to) */
static void feed_disks(struct al_engine *e, int from, int to, int64_t t, double v)
{
	char labels[64];
	for (int i = from; i < to; i++) {
		snprintf(labels, sizeof(labels), "dev=d%03d,host=h1", i);
		feed(e, "disk", labels, t, v);
	}
}

static void grouping_storm(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	add_rule(e,
		 "{\"name\":\"DiskFull\",\"metric\":\"disk\",\"condition\":\"gt\",\"threshold\":90,"
		 "\"group_by\":[\"host\"],\"group_wait\":\"30s\",\"group_interval\":\"5m\"}");
	feed_disks(e, 0, 500, T, 95);
	assert_int_equal(n_ev, 500);
	assert_int_equal(count(BM_ALERT_FIRING, true), 0); /* history only */
	al_engine_tick(e, T + 30 * S - 1);
	assert_int_equal(n_ev, 500);
	al_engine_tick(e, T + 30 * S);
	assert_int_equal(n_ev, 501);
	assert_last(BM_ALERT_FIRING, true);
	assert_string_equal(last()->labels, "alertname=DiskFull,host=h1,severity=warning");
	assert_true(strstr(last()->ann, "alerts_firing=500") != NULL);
	assert_true(strstr(last()->ann, "and 480 more") != NULL);
	for (int64_t t = T + M; t < T + 30 * S + 5 * M; t += 10 * S) {
		if ((t - T) % M == 0)
			feed_disks(e, 0, 510, t, 95); /* 10 more from T + 1m */
		al_engine_tick(e, t);
	}
	assert_int_equal(count(BM_ALERT_FIRING, true), 1); /* group_interval holds it */
	al_engine_tick(e, T + 30 * S + 5 * M);
	assert_int_equal(count(BM_ALERT_FIRING, true), 2);
	assert_true(strstr(last()->ann, "alerts_firing=510") != NULL);
	feed_disks(e, 0, 510, T + 6 * M, 10);
	assert_int_equal(count(BM_ALERT_RESOLVED, true), 0);
	al_engine_tick(e, T + 30 * S + 10 * M);
	assert_int_equal(count(BM_ALERT_RESOLVED, true), 1);
	assert_last(BM_ALERT_RESOLVED, true);
	al_engine_free(e);
}

static void restart_keeps_active(void **st)
{
	(void)st;
	const char *rule = "{\"name\":\"P\",\"metric\":\"x\",\"condition\":\"gt\",\"threshold\":0}";
	struct al_engine *e = engine();
	struct al_rule_err err;
	char fp[17];
	add_rule(e, rule);
	add_rule_at(e, AL_SRC_API, T, "{\"id\":\"dyn\",\"name\":\"D\",\"metric\":\"y\","
				      "\"condition\":\"lt\",\"threshold\":1}");
	add_rule_at(e, AL_SRC_API, T, "{\"id\":\"old\",\"name\":\"O\",\"metric\":\"y\","
				      "\"condition\":\"lt\",\"threshold\":1,\"expires\":\"1m\"}");
	feed(e, "x", "", T, 5);
	fingerprint_of_last(fp);
	assert_int_equal(al_engine_ack(e, fp, "user:bob", NULL, 0, T), 0);
	json_t *doc = al_engine_state_json(e, T + S);
	al_engine_free(e);

	e = engine(); /* the restart: config rules first, then the state */
	add_rule(e, rule);
	assert_int_equal(al_engine_state_restore(e, doc, T + 2 * M, &err), 1); /* "old" expired */
	json_decref(doc);
	assert_non_null(al_engine_rule(e, "dyn"));
	assert_null(al_engine_rule(e, "old"));
	json_t *a = al_engine_alerts_json(e, "firing", NULL);
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "fingerprint")),
			    fp);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(a, 0), "ack"), "by")),
			    "user:bob");
	json_decref(a);
	assert_int_equal(n_ev, 0);
	feed(e, "x", "", T + 2 * M, 5); /* still true: no new notification */
	al_engine_tick(e, T + 2 * M);
	assert_int_equal(n_ev, 0);
	feed(e, "x", "", T + 3 * M, 0);
	assert_last(BM_ALERT_RESOLVED, true); /* it was notified before the restart */
	al_engine_free(e);
}

static void restart_without_the_rule(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	struct al_rule_err err;
	add_rule(e, "{\"name\":\"Gone\",\"metric\":\"x\",\"condition\":\"gt\","
		    "\"threshold\":0,\"severity\":\"critical\"}");
	feed(e, "x", "dev=a", T, 5);
	json_t *doc = al_engine_state_json(e, T);
	al_engine_free(e);
	e = engine(); /* the rule left the config */
	assert_int_equal(al_engine_state_restore(e, doc, T + M, &err), 1);
	json_decref(doc);
	assert_int_equal(n_ev, 1);
	assert_last(BM_ALERT_RESOLVED, true); /* the receivers hear it ended */
	assert_string_equal(last()->labels, "alertname=Gone,dev=a,severity=critical");
	al_engine_free(e);
}

static void restored_alert_waits_for_series(void **st)
{
	(void)st;
	const char *rule = "{\"name\":\"P\",\"metric\":\"x\",\"condition\":\"gt\",\"threshold\":0}";
	struct al_engine *e = engine();
	struct al_rule_err err;
	add_rule(e, rule);
	feed(e, "x", "", T, 5);
	json_t *doc = al_engine_state_json(e, T);
	al_engine_free(e);
	e = engine();
	add_rule(e, rule);
	assert_int_equal(al_engine_state_restore(e, doc, T + M, &err), 0);
	json_decref(doc);
	al_engine_tick(e, T + M + 5 * M - 1);
	assert_int_equal(n_ev, 0); /* its series has the lookback to come back */
	al_engine_tick(e, T + M + 5 * M);
	assert_last(BM_ALERT_RESOLVED, true);
	al_engine_free(e);
}

static void promql_rules(void **st)
{
	(void)st;
	struct al_engine *e = engine_with(true, 0);
	struct al_promql_job *jobs;
	add_rule(
	    e,
	    "{\"id\":\"ratio\",\"name\":\"Ratio\",\"condition\":\"promql\","
	    "\"expr\":\"a / b > 0.5\",\"annotations\":{\"s\":\"{{ $labels.job }}={{ $value }}\"}}");
	add_rule(e, "{\"id\":\"rec\",\"name\":\"job:a:sum\",\"condition\":\"record\","
		    "\"record\":\"job:a:sum\",\"expr\":\"sum by (job) (a)\","
		    "\"labels\":{\"team\":\"ops\"}}");
	size_t n = al_engine_promql_due(e, T, &jobs);
	assert_int_equal(n, 2);
	assert_string_equal(jobs[0].expr, "a / b > 0.5");
	al_promql_jobs_free(jobs, n);
	assert_int_equal(al_engine_promql_due(e, T + 15 * S - 1, &jobs), 0);
	free(jobs);
	struct bm_label l1 = {"job", "api"}, l2 = {"job", "db"};
	struct al_promql_sample two[] = {{&l1, 1, 0.7}, {&l2, 1, 0.9}};
	al_engine_promql_result(e, "ratio", two, 2, true, T);
	assert_int_equal(count(BM_ALERT_FIRING, true), 2);
	assert_string_equal(last()->ann, "s=db=0.9");
	al_engine_promql_result(e, "ratio", two, 1, true, T + 15 * S);
	assert_last(BM_ALERT_RESOLVED, true); /* db was not returned */
	al_engine_promql_result(e, "ratio", NULL, 0, false, T + 30 * S);
	assert_int_equal(n_ev, 3); /* a failed evaluation changes nothing */
	al_engine_promql_result(e, "rec", two, 2, true, T);
	assert_int_equal(n_rec, 2);
	assert_string_equal(recs[0].name, "job:a:sum");
	assert_string_equal(recs[0].labels, "job=api,team=ops");
	al_engine_free(e);
}

static void rule_changes(void **st)
{
	(void)st;
	struct al_engine *e = engine();
	struct al_rule *r;
	struct al_rule_err err;
	add_rule_at(e, AL_SRC_API, T, "{\"id\":\"c\",\"name\":\"C\",\"metric\":\"x\","
				      "\"condition\":\"gt\",\"threshold\":0}");
	feed(e, "x", "", T, 1);
	json_t *j = json_of("{\"id\":\"c\",\"name\":\"C\",\"metric\":\"x\",\"condition\":\"gt\","
			    "\"threshold\":5}");
	assert_int_equal(al_rule_from_json(j, AL_SRC_API, T, false, &r, &err), 0);
	json_decref(j);
	assert_int_equal(al_engine_rule_replace(e, r, T + S, &err), 0);
	assert_last(BM_ALERT_RESOLVED, true);
	feed(e, "x", "", T + 2 * S, 1);
	assert_int_equal(n_ev, 2); /* 1 is not above the new threshold */
	feed(e, "x", "", T + 3 * S, 6);
	assert_last(BM_ALERT_FIRING, true);
	assert_int_equal(al_engine_rule_remove(e, "c", T + 4 * S), 0);
	assert_last(BM_ALERT_RESOLVED, true);
	assert_int_equal(al_engine_rule_remove(e, "c", T + 4 * S), BM_ENOENT);
	feed(e, "x", "", T + 5 * S, 9);
	assert_int_equal(n_ev, 4);
	/* a taken id */
	add_rule(e, "{\"id\":\"d\",\"name\":\"D\",\"metric\":\"x\",\"condition\":\"gt\","
		    "\"threshold\":0}");
	j = json_of("{\"id\":\"d\",\"name\":\"D2\",\"metric\":\"x\",\"condition\":\"gt\","
		    "\"threshold\":0}");
	assert_int_equal(al_rule_from_json(j, AL_SRC_API, T, false, &r, &err), 0);
	assert_int_equal(al_engine_rule_add(e, r, T, &err), -1);
	assert_string_equal(err.field, "id");
	al_rule_free(r);
	json_decref(j);
	al_engine_free(e);
}

static void routing_labels_globs(void **st)
{
	(void)st;
	struct al_engine *e = engine_with(false, 4);
	add_rule(e, "{\"name\":\"G\",\"metric\":\"node_disk_*_total{device=~\\\"sd.+\\\"}\","
		    "\"condition\":\"gt\",\"threshold\":0,\"severity\":\"critical\","
		    "\"notifiers\":[\"pager\"],\"labels\":{\"team\":\"t-{{ $labels.device }}\"}}");
	add_rule(e, "{\"name\":\"Quiet\",\"metric\":\"q\",\"condition\":\"gt\",\"threshold\":0,"
		    "\"notifiers\":[\"-\"]}");
	feed(e, "node_disk_reads_total", "device=sda,severity=low", T, 1);
	assert_last(BM_ALERT_FIRING, true);
	assert_string_equal(last()->notifier, "pager");
	assert_string_equal(last()->labels, "alertname=G,device=sda,severity=critical,team=t-sda");
	feed(e, "node_disk_writes_total", "device=sdb", T, 1);
	assert_string_equal(last()->labels, "alertname=G,device=sdb,severity=critical,team=t-sdb");
	feed(e, "node_disk_writes_total", "device=nvme0", T, 1);
	assert_int_equal(n_ev, 2);
	feed(e, "q", "", T, 1);
	assert_int_equal(n_ev, 3);
	assert_false(last()->routed); /* notifiers ["-"]: recorded only */
	/* every series of a watched name counts, nvme0 too: this is the fifth */
	feed(e, "node_disk_reads_total", "device=sdc", T, 1);
	assert_int_equal(n_ev, 3);
	assert_int_equal(al_engine_stats(e)->series_dropped, 1);
	al_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gt_boundary),
		cmocka_unit_test(lt_boundary),
		cmocka_unit_test(eq_tolerance),
		cmocka_unit_test(rate_change),
		cmocka_unit_test(trends),
		cmocka_unit_test(anomalies),
		cmocka_unit_test(forecasts),
		cmocka_unit_test(missing_data),
		cmocka_unit_test(for_duration),
		cmocka_unit_test(keep_firing_for),
		cmocka_unit_test(hysteresis),
		cmocka_unit_test(cooldown),
		cmocka_unit_test(repeat_and_ack),
		cmocka_unit_test(flapping),
		cmocka_unit_test(dynamic_rule_expires),
		cmocka_unit_test(silences),
		cmocka_unit_test(grouping_storm),
		cmocka_unit_test(restart_keeps_active),
		cmocka_unit_test(restart_without_the_rule),
		cmocka_unit_test(restored_alert_waits_for_series),
		cmocka_unit_test(promql_rules),
		cmocka_unit_test(rule_changes),
		cmocka_unit_test(routing_labels_globs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
