/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Codecs of every topic but `metric`: one field table per topic and one
 * generic encoder (msgpack-c packer) and decoder (the SDK's cursor, see
 * event_metric.c for why) that walk them. Bodies are msgpack maps with short
 * string keys, so they describe themselves and can grow.
 */

#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "bearmon/bm_event.h"
#include "event_desc.h"
#include "mp.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* bm_label and bm_kv are read and written by the same code. */
_Static_assert(sizeof(struct bm_label) == sizeof(struct bm_kv) &&
		       offsetof(struct bm_label, value) == offsetof(struct bm_kv, value),
	       "bm_label and bm_kv must share a layout");
typedef struct bm_kv pair_t;

/*
 * offsetof(T, m) that does not compile unless member m has type C, so that a
 * table entry cannot silently disagree with its struct.
 */
#define OFF(T, m, C)                                                                    \
	(offsetof(T, m) +                                                               \
	 0 * sizeof(struct {                                                            \
		 int t[__builtin_types_compatible_p(__typeof__(((T *)0)->m), C) ? 1 : -1]; \
	 }))
#define OFF_ENUM(T, m)                                                                  \
	(offsetof(T, m) +                                                               \
	 0 * sizeof(struct { int t[sizeof(((T *)0)->m) == sizeof(int) ? 1 : -1]; }))

#define F_STR(k, T, m) { .key = (k), .name = #m, .type = FT_STR, .off = OFF(T, m, const char *) }
#define F_REQ(k, T, m) { .key = (k), .name = #m, .type = FT_STR, .flags = FF_REQ, .off = OFF(T, m, const char *) }
#define F_I64(k, T, m) { .key = (k), .name = #m, .type = FT_I64, .off = OFF(T, m, int64_t) }
#define F_U32(k, T, m) { .key = (k), .name = #m, .type = FT_U32, .off = OFF(T, m, uint32_t) }
#define F_F64(k, T, m) { .key = (k), .name = #m, .type = FT_F64, .off = OFF(T, m, double) }
#define F_BOOL(k, T, m) { .key = (k), .name = #m, .type = FT_BOOL, .off = OFF(T, m, bool) }
#define F_ENUM(k, T, m, mx) { .key = (k), .name = #m, .type = FT_ENUM, .max = (mx), .names = mx##_NAMES, .off = OFF_ENUM(T, m) }
#define F_LABELS(k, T, m, c)                                                     \
	{ .key = (k), .name = #m, .type = FT_LABELS, .off = OFF(T, m, const struct bm_label *), \
	  .cnt_off = OFF(T, c, uint32_t) }
#define F_KVS(k, T, m, c)                                                    \
	{ .key = (k), .name = #m, .type = FT_KVS, .off = OFF(T, m, const struct bm_kv *), \
	  .cnt_off = OFF(T, c, size_t) }
#define F_STRS(k, T, m, c)                                                    \
	{ .key = (k), .name = #m, .type = FT_STRS, .off = OFF(T, m, const char *const *), \
	  .cnt_off = OFF(T, c, size_t) }
#define F_OBJ(k, T, m, ST, d) { .key = (k), .name = #m, .type = FT_OBJ, .off = OFF(T, m, ST), .sub = &(d) }
#define F_OBJS(k, T, m, c, ST, d)                                            \
	{ .key = (k), .name = #m, .type = FT_OBJS, .off = OFF(T, m, const ST *),          \
	  .cnt_off = OFF(T, c, size_t), .sub = &(d) }

#define ENUM_NAMES(MAX, ...)                                                     \
	static const char *const MAX##_NAMES[] = {__VA_ARGS__};                  \
	_Static_assert(ARRAY_SIZE(MAX##_NAMES) == (MAX) + 1, #MAX ": one name per value")
/* Value names of each enum, in value order, for JSON (F_ENUM finds them by
 * the enum's largest value: <MAX>_NAMES). */
ENUM_NAMES(BM_TREND_DECREASING, "stable", "increasing", "decreasing");
ENUM_NAMES(BM_CROSS_BELOW, "above", "below");
ENUM_NAMES(BM_CORR_KENDALL, "pearson", "spearman", "kendall");
ENUM_NAMES(BM_BN_INFERENCE, "utilisation", "saturation", "errors", "coordination", "inference");
ENUM_NAMES(BM_SEV_EMERGENCY, "info", "warning", "critical", "emergency");
ENUM_NAMES(BM_HEALTH_UNKNOWN, "ok", "degraded", "critical", "unknown");
ENUM_NAMES(BM_ALERT_RESOLVED, "pending", "firing", "resolved");
ENUM_NAMES(BM_NOTIFY_DROPPED, "ok", "failed", "retrying", "dropped");
ENUM_NAMES(BM_MODE_EXECUTE, "recommend", "dry_run", "execute");
ENUM_NAMES(BM_ACTION_FAILED, "planned", "executed", "rolled_back", "failed");
ENUM_NAMES(BM_AGENT_REGISTRY, "hello", "state", "registry");
ENUM_NAMES(BM_AGENT_STALE, "connected", "disconnected", "stale");

/* Required fields are tracked in a 64-bit mask while decoding. */
#define DESC(name, T, ...)                                                        \
	static const struct field name##_fields[] = { __VA_ARGS__ };             \
	_Static_assert(ARRAY_SIZE(name##_fields) <= 64, #name ": too many fields"); \
	static const struct desc name = { name##_fields, ARRAY_SIZE(name##_fields), sizeof(T) }

/* ---------------------------------------------------------------------
 * Tables. Keys are part of the wire format: never rename or reuse one.
 * --------------------------------------------------------------------- */

#define SR struct bm_series_ref
DESC(series_req, SR,
	F_REQ("n", SR, name),
	F_LABELS("l", SR, labels, n_labels));
DESC(series_opt, SR,
	F_STR("n", SR, name),
	F_LABELS("l", SR, labels, n_labels));
#undef SR

#define EV struct bm_evidence
DESC(evidence, EV,
	F_STR("t", EV, text),
	F_OBJ("s", EV, series, struct bm_series_ref, series_opt),
	F_F64("v", EV, value),
	F_STR("u", EV, unit));
#undef EV

#define IM struct bm_impact
DESC(impact, IM,
	F_REQ("m", IM, metric),
	F_F64("rc", IM, rel_change),
	F_F64("un", IM, uncertainty));
#undef IM

#define AS struct bm_action_spec
DESC(action_spec, AS,
	F_REQ("act", AS, actuator),
	F_STR("tgt", AS, target),
	F_KVS("p", AS, params, n_params));
#undef AS

#define T struct bm_anomaly_event
DESC(anomaly, T,
	F_OBJ("s", T, series, struct bm_series_ref, series_req),
	F_I64("ts", T, ts_ms),
	F_I64("st", T, start_ms),
	F_F64("v", T, value),
	F_F64("sc", T, score),
	F_F64("th", T, threshold),
	F_F64("e", T, expected),
	F_F64("lo", T, lower),
	F_F64("hi", T, upper),
	F_REQ("det", T, detector),
	F_STR("why", T, reason));
#undef T

#define T struct bm_trend_event
DESC(trend, T,
	F_OBJ("s", T, series, struct bm_series_ref, series_req),
	F_I64("ts", T, ts_ms),
	F_I64("win", T, window_ms),
	F_I64("n", T, n_samples),
	F_F64("slope", T, slope_per_s),
	F_F64("icpt", T, intercept),
	F_F64("rc", T, rel_change),
	F_ENUM("dir", T, direction, BM_TREND_DECREASING),
	F_F64("stat", T, statistic),
	F_F64("p", T, p_value),
	F_STR("meth", T, method),
	F_STR("test", T, test));
#undef T

#define T struct bm_forecast_point
DESC(forecast_point, T,
	F_I64("t", T, ts_ms),
	F_F64("y", T, yhat),
	F_F64("lo", T, lower),
	F_F64("hi", T, upper));
#undef T

#define T struct bm_forecast_event
DESC(forecast, T,
	F_OBJ("s", T, series, struct bm_series_ref, series_req),
	F_I64("ts", T, ts_ms),
	F_REQ("model", T, model),
	F_I64("hz", T, horizon_ms),
	F_I64("step", T, step_ms),
	F_I64("season", T, season_ms),
	F_F64("lvl", T, interval_level),
	F_F64("conf", T, confidence),
	F_F64("mase", T, error_mase),
	F_ENUM("trend", T, trend, BM_TREND_DECREASING),
	F_F64("risk", T, anomaly_risk),
	F_BOOL("has_th", T, has_threshold),
	F_F64("th", T, threshold),
	F_ENUM("cross", T, cross, BM_CROSS_BELOW),
	F_I64("ttt", T, time_to_threshold_ms),
	F_OBJS("pts", T, points, n_points, struct bm_forecast_point, forecast_point));
#undef T

#define T struct bm_correlation_event
DESC(correlation, T,
	F_OBJ("a", T, a, struct bm_series_ref, series_req),
	F_OBJ("b", T, b, struct bm_series_ref, series_req),
	F_I64("ts", T, ts_ms),
	F_I64("win", T, window_ms),
	F_ENUM("meth", T, method, BM_CORR_KENDALL),
	F_F64("r", T, coefficient),
	F_I64("lag", T, lag_ms),
	F_F64("p", T, p_value),
	F_I64("n", T, n_samples));
#undef T

#define T struct bm_bottleneck_event
DESC(bottleneck, T,
	F_I64("ts", T, ts_ms),
	F_I64("since", T, since_ms),
	F_STR("id", T, id),
	F_REQ("res", T, resource),
	F_ENUM("kind", T, kind, BM_BN_INFERENCE),
	F_ENUM("sev", T, severity, BM_SEV_EMERGENCY),
	F_F64("imp", T, impact),
	F_F64("conf", T, confidence),
	F_STR("sum", T, summary),
	F_STR("rec", T, recommendation),
	F_LABELS("l", T, labels, n_labels),
	F_OBJS("ev", T, evidence, n_evidence, struct bm_evidence, evidence));
#undef T

#define T struct bm_insight_event
DESC(insight, T,
	F_I64("ts", T, ts_ms),
	F_STR("id", T, id),
	F_REQ("title", T, title),
	F_STR("text", T, text),
	F_ENUM("sev", T, severity, BM_SEV_EMERGENCY),
	F_STR("cat", T, category),
	F_STR("src", T, source),
	F_OBJS("rel", T, related, n_related, struct bm_series_ref, series_req));
#undef T

#define T struct bm_health_reason
DESC(health_reason, T,
	F_REQ("t", T, text),
	F_F64("pen", T, penalty),
	F_OBJ("s", T, series, struct bm_series_ref, series_opt));
#undef T

#define T struct bm_health_event
DESC(health, T,
	F_I64("ts", T, ts_ms),
	F_REQ("comp", T, component),
	F_F64("score", T, score),
	F_ENUM("status", T, status, BM_HEALTH_UNKNOWN),
	F_OBJS("why", T, reasons, n_reasons, struct bm_health_reason, health_reason));
#undef T

#define T struct bm_alert_ack
DESC(alert_ack, T,
	F_STR("by", T, by),
	F_I64("at", T, at_ms),
	F_I64("exp", T, expires_ms),
	F_STR("c", T, comment));
#undef T

#define T struct bm_alert_event
DESC(alert, T,
	F_I64("ts", T, ts_ms),
	F_REQ("rule", T, rule_id),
	F_STR("name", T, rule_name),
	F_REQ("fp", T, fingerprint),
	F_ENUM("state", T, state, BM_ALERT_RESOLVED),
	F_ENUM("sev", T, severity, BM_SEV_EMERGENCY),
	F_LABELS("l", T, labels, n_labels),
	F_KVS("ann", T, annotations, n_annotations),
	F_F64("v", T, value),
	F_F64("th", T, threshold),
	F_I64("active", T, active_since_ms),
	F_I64("fired", T, fired_at_ms),
	F_I64("resolved", T, resolved_at_ms),
	F_I64("kf_since", T, keep_firing_since_ms),
	F_BOOL("flap", T, flapping),
	F_BOOL("sil", T, silenced),
	F_STR("sil_id", T, silence_id),
	F_STR("url", T, generator_url),
	F_STRS("to", T, notifiers, n_notifiers),
	F_OBJ("ack", T, ack, struct bm_alert_ack, alert_ack));
#undef T

#define T struct bm_notification_event
DESC(notification, T,
	F_I64("ts", T, ts_ms),
	F_REQ("notifier", T, notifier),
	F_STR("rcv", T, receiver),
	F_STR("group", T, group_key),
	F_STRS("fps", T, fingerprints, n_fingerprints),
	F_ENUM("astate", T, alert_state, BM_ALERT_RESOLVED),
	F_U32("try", T, attempt),
	F_ENUM("out", T, outcome, BM_NOTIFY_DROPPED),
	F_I64("lat", T, latency_ms),
	F_I64("next", T, next_retry_ms),
	F_I64("code", T, status_code),
	F_STR("err", T, error));
#undef T

#define T struct bm_candidate_event
DESC(candidate, T,
	F_I64("ts", T, ts_ms),
	F_I64("exp", T, expires_ms),
	F_REQ("id", T, id),
	F_REQ("opt", T, optimizer),
	F_STR("dim", T, dimension),
	F_OBJ("a", T, action, struct bm_action_spec, action_spec),
	F_OBJS("imp", T, impact, n_impact, struct bm_impact, impact),
	F_F64("ben", T, benefit),
	F_F64("risk", T, risk),
	F_F64("conf", T, confidence),
	F_STR("rb", T, rollback),
	F_STR("why", T, reason),
	F_OBJS("ev", T, evidence, n_evidence, struct bm_evidence, evidence));
#undef T

#define T struct bm_plan_step
DESC(plan_step, T,
	F_REQ("cand", T, candidate_id),
	F_OBJ("a", T, action, struct bm_action_spec, action_spec));
#undef T

#define T struct bm_recommendation_event
DESC(recommendation, T,
	F_I64("ts", T, ts_ms),
	F_REQ("id", T, id),
	F_STR("strat", T, strategy),
	F_ENUM("mode", T, mode, BM_MODE_EXECUTE),
	F_BOOL("ok", T, approved),
	F_F64("score", T, score),
	F_F64("ben", T, benefit),
	F_F64("risk", T, risk),
	F_F64("unc", T, uncertainty),
	F_STR("why", T, why),
	F_OBJS("steps", T, steps, n_steps, struct bm_plan_step, plan_step),
	F_OBJS("imp", T, impact, n_impact, struct bm_impact, impact),
	F_I64("exp", T, expires_ms));
#undef T

#define T struct bm_action_event
DESC(action, T,
	F_I64("ts", T, ts_ms),
	F_REQ("id", T, id),
	F_STR("plan", T, plan_id),
	F_STR("cand", T, candidate_id),
	F_ENUM("state", T, state, BM_ACTION_FAILED),
	F_BOOL("dry", T, dry_run),
	F_OBJ("a", T, action, struct bm_action_spec, action_spec),
	F_KVS("before", T, before, n_before),
	F_KVS("after", T, after, n_after),
	F_OBJS("meas", T, measured, n_measured, struct bm_impact, impact),
	F_STR("by", T, approved_by),
	F_STR("why", T, reason),
	F_STR("err", T, error));
#undef T

#define T struct bm_agent_event
DESC(agent, T,
	F_I64("ts", T, ts_ms),
	F_ENUM("kind", T, kind, BM_AGENT_REGISTRY),
	F_REQ("id", T, agent_id),
	F_STR("type", T, type),
	F_I64("pid", T, pid),
	F_STR("ver", T, version),
	F_I64("proto", T, protocol),
	F_ENUM("state", T, state, BM_AGENT_STALE),
	F_I64("first", T, first_seen_ms),
	F_I64("last", T, last_seen_ms),
	F_STR("peer", T, peer),
	F_STRS("caps", T, capabilities, n_capabilities),
	F_LABELS("l", T, labels, n_labels));
#undef T

#define T struct bm_agent_command_event
DESC(agent_command, T,
	F_I64("ts", T, ts_ms),
	F_REQ("cmd", T, command_id),
	F_REQ("agent", T, agent_id),
	F_REQ("name", T, name),
	F_KVS("args", T, args, n_args),
	F_I64("deadline", T, deadline_ms),
	F_STR("action", T, action_id));
#undef T

#define T struct bm_agent_ack_event
DESC(agent_ack, T,
	F_I64("ts", T, ts_ms),
	F_REQ("cmd", T, command_id),
	F_REQ("agent", T, agent_id),
	F_BOOL("ok", T, ok),
	F_STR("detail", T, detail),
	F_KVS("res", T, result, n_result));
#undef T

/* ---------------------------------------------------------------------
 * Member access
 * --------------------------------------------------------------------- */

#define AT(obj, off) ((const char *)(obj) + (off))
#define AT_W(obj, off) ((char *)(obj) + (off))

static const void *get_ptr(const void *obj, size_t off)
{
	const void *p;

	memcpy(&p, AT(obj, off), sizeof(p));
	return p;
}

static size_t get_count(const void *obj, const struct field *f)
{
	uint32_t n32;
	size_t n;

	if (f->type == FT_LABELS) {
		memcpy(&n32, AT(obj, f->cnt_off), sizeof(n32));
		return n32;
	}
	memcpy(&n, AT(obj, f->cnt_off), sizeof(n));
	return n;
}

static void set_array(void *obj, const struct field *f, const void *p, size_t n)
{
	uint32_t n32 = (uint32_t)n;

	memcpy(AT_W(obj, f->off), &p, sizeof(p));
	if (f->type == FT_LABELS)
		memcpy(AT_W(obj, f->cnt_off), &n32, sizeof(n32));
	else
		memcpy(AT_W(obj, f->cnt_off), &n, sizeof(n));
}

static bool is_array(const struct field *f)
{
	return f->type == FT_LABELS || f->type == FT_KVS || f->type == FT_STRS ||
	       f->type == FT_OBJS;
}

/* ---------------------------------------------------------------------
 * Encoding
 * --------------------------------------------------------------------- */

static int enc_obj(msgpack_packer *pk, const struct desc *d, const void *obj);

static int enc_str(msgpack_packer *pk, const char *s)
{
	size_t n;

	if (!s)
		return BM_EINVAL;
	n = strlen(s);
	if (n > UINT32_MAX)
		return BM_EINVAL;
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
	return 0;
}

static int enc_array(msgpack_packer *pk, const struct field *f, const void *obj)
{
	const char *p = get_ptr(obj, f->off);
	size_t n = get_count(obj, f);
	int rc = 0;

	if (!p || n > UINT32_MAX)
		return BM_EINVAL;
	if (f->type == FT_LABELS || f->type == FT_KVS) {
		const pair_t *kv = (const pair_t *)p;

		msgpack_pack_map(pk, n);
		for (size_t i = 0; i < n && !rc; i++) {
			rc = enc_str(pk, kv[i].key);
			if (!rc)
				rc = enc_str(pk, kv[i].value);
		}
	} else if (f->type == FT_STRS) {
		const char *const *sv = (const char *const *)p;

		msgpack_pack_array(pk, n);
		for (size_t i = 0; i < n && !rc; i++)
			rc = enc_str(pk, sv[i]);
	} else {
		msgpack_pack_array(pk, n);
		for (size_t i = 0; i < n && !rc; i++)
			rc = enc_obj(pk, f->sub, p + i * f->sub->size);
	}
	return rc;
}

static int enc_field(msgpack_packer *pk, const struct field *f, const void *obj)
{
	const char *m = AT(obj, f->off);
	int64_t i64;
	uint32_t u32;
	double f64;
	bool b;
	int e;

	switch (f->type) {
	case FT_STR:
		return enc_str(pk, get_ptr(obj, f->off));
	case FT_I64:
		memcpy(&i64, m, sizeof(i64));
		msgpack_pack_int64(pk, i64);
		return 0;
	case FT_U32:
		memcpy(&u32, m, sizeof(u32));
		msgpack_pack_uint32(pk, u32);
		return 0;
	case FT_F64:
		memcpy(&f64, m, sizeof(f64));
		msgpack_pack_double(pk, f64); /* always float64: bit-exact */
		return 0;
	case FT_BOOL:
		memcpy(&b, m, sizeof(b));
		if (b)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		return 0;
	case FT_ENUM:
		memcpy(&e, m, sizeof(e));
		msgpack_pack_int(pk, e);
		return 0;
	case FT_OBJ:
		return enc_obj(pk, f->sub, m);
	default:
		return enc_array(pk, f, obj);
	}
}

/* Absent fields (NULL strings, empty arrays) are left out of the map. */
static bool present(const struct field *f, const void *obj)
{
	if (f->type == FT_STR)
		return get_ptr(obj, f->off) != NULL;
	if (is_array(f))
		return get_count(obj, f) != 0;
	return true;
}

static int enc_obj(msgpack_packer *pk, const struct desc *d, const void *obj)
{
	unsigned n = 0;
	int rc = 0;

	for (unsigned i = 0; i < d->n; i++) {
		if (present(&d->f[i], obj))
			n++;
		else if (d->f[i].flags & FF_REQ)
			return BM_EINVAL;
	}
	msgpack_pack_map(pk, n);
	for (unsigned i = 0; i < d->n && !rc; i++) {
		if (!present(&d->f[i], obj))
			continue;
		rc = enc_str(pk, d->f[i].key);
		if (!rc)
			rc = enc_field(pk, &d->f[i], obj);
	}
	return rc;
}

static int encode(const struct desc *d, const void *e, struct bm_buf *out)
{
	struct bm__sink sink = { .buf = out };
	msgpack_packer pk;
	int rc;

	bm_buf_reset(out);
	msgpack_packer_init(&pk, &sink, bm__sink_write);
	rc = enc_obj(&pk, d, e);
	if (!rc)
		rc = sink.err;
	if (rc)
		bm_buf_reset(out);
	return rc;
}

/* ---------------------------------------------------------------------
 * Decoding
 * --------------------------------------------------------------------- */

static int dec_obj(struct bm__mp *r, const struct desc *d, void *obj, struct bm_arena *a);

static int dec_str(struct bm__mp *r, const char **out, struct bm_arena *a)
{
	const uint8_t *s;
	uint32_t n;

	if (bm__mp_str(r, &s, &n) || memchr(s, '\0', n))
		return BM_EPROTO;
	*out = bm_arena_strndup(a, (const char *)s, n);
	return *out ? 0 : BM_ENOMEM;
}

/* Arrays: the header's count is checked against the bytes left before the
 * allocation, so a hostile count costs at most ~50 bytes of arena per body
 * byte (the largest item struct per one-byte empty map). */
static int dec_array(struct bm__mp *r, const struct field *f, void *obj, struct bm_arena *a)
{
	size_t item = f->type == FT_OBJS ? f->sub->size
		      : f->type == FT_STRS ? sizeof(char *) : sizeof(pair_t);
	uint32_t n;
	char *p;
	int rc = 0;

	if (f->type == FT_LABELS || f->type == FT_KVS)
		rc = bm__mp_map(r, &n);
	else
		rc = bm__mp_array(r, &n);
	if (rc)
		return BM_EPROTO;
	if (n == 0) {
		set_array(obj, f, NULL, 0);
		return 0;
	}
	p = bm_arena_alloc(a, n * item);
	if (!p)
		return BM_ENOMEM;
	memset(p, 0, n * item);
	for (uint32_t i = 0; i < n && !rc; i++) {
		char *it = p + i * item;

		if (f->type == FT_OBJS) {
			rc = dec_obj(r, f->sub, it, a);
		} else if (f->type == FT_STRS) {
			rc = dec_str(r, (const char **)it, a);
		} else {
			rc = dec_str(r, &((pair_t *)it)->key, a);
			if (!rc)
				rc = dec_str(r, &((pair_t *)it)->value, a);
		}
	}
	if (rc)
		return rc;
	set_array(obj, f, p, n);
	return 0;
}

static int dec_field(struct bm__mp *r, const struct field *f, void *obj, struct bm_arena *a)
{
	char *m = AT_W(obj, f->off);
	const char *s = NULL;
	int64_t i64 = 0;
	uint32_t u32;
	double f64 = 0;
	bool b = false;
	int e, rc;

	switch (f->type) {
	case FT_STR:
		rc = dec_str(r, &s, a);
		memcpy(m, &s, sizeof(s));
		return rc;
	case FT_I64:
		rc = bm__mp_i64(r, &i64);
		memcpy(m, &i64, sizeof(i64));
		return rc;
	case FT_U32:
		rc = bm__mp_i64(r, &i64);
		if (rc || i64 < 0 || i64 > UINT32_MAX)
			return BM_EPROTO;
		u32 = (uint32_t)i64;
		memcpy(m, &u32, sizeof(u32));
		return 0;
	case FT_F64:
		rc = bm__mp_f64(r, &f64);
		memcpy(m, &f64, sizeof(f64));
		return rc;
	case FT_BOOL:
		rc = bm__mp_bool(r, &b);
		memcpy(m, &b, sizeof(b));
		return rc;
	case FT_ENUM:
		rc = bm__mp_i64(r, &i64);
		/* Values from a newer minor read as 0: an int outside the enum's
		 * range must not reach the struct. */
		e = i64 >= 0 && i64 <= f->max ? (int)i64 : 0;
		memcpy(m, &e, sizeof(e));
		return rc;
	case FT_OBJ:
		return dec_obj(r, f->sub, m, a);
	default:
		return dec_array(r, f, obj, a);
	}
}

/* Index of the field with key k (n bytes), or -1. */
static int lookup(const struct desc *d, const uint8_t *k, uint32_t n)
{
	for (unsigned i = 0; i < d->n; i++) {
		const char *key = d->f[i].key;

		if (strlen(key) == n && memcmp(key, k, n) == 0)
			return (int)i;
	}
	return -1;
}

/*
 * Must the field be in the body? Required strings, and embedded objects
 * that themselves need a field: the encoder always writes those, so a body
 * without one did not come from a conforming encoder.
 */
static bool required(const struct field *f)
{
	if (f->flags & FF_REQ)
		return true;
	if (f->type != FT_OBJ)
		return false;
	for (unsigned i = 0; i < f->sub->n; i++) {
		if (required(&f->sub->f[i]))
			return true;
	}
	return false;
}

/* obj is zeroed by the caller. Unknown keys are skipped (newer producers);
 * nil reads as absent. */
static int dec_obj(struct bm__mp *r, const struct desc *d, void *obj, struct bm_arena *a)
{
	uint64_t seen = 0;
	uint32_t n;
	int rc;

	if (bm__mp_map(r, &n))
		return BM_EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *k;
		uint32_t kn;
		int idx;

		if (bm__mp_str(r, &k, &kn))
			return BM_EPROTO;
		idx = lookup(d, k, kn);
		if (idx < 0) {
			rc = bm__mp_skip(r, 1);
		} else if (bm__mp_nil(r)) {
			rc = 0;
		} else {
			rc = dec_field(r, &d->f[idx], obj, a);
			seen |= 1ull << idx;
		}
		if (rc)
			return rc;
	}
	for (unsigned i = 0; i < d->n; i++) {
		if (!(seen & (1ull << i)) && required(&d->f[i]))
			return BM_EPROTO;
	}
	return 0;
}

static int decode(const struct desc *d, const void *body, size_t len, void *out,
		  struct bm_arena *a)
{
	struct bm__mp r;
	int rc;

	memset(out, 0, d->size);
	if (!body || len == 0)
		return BM_EPROTO;
	r.p = body;
	r.end = r.p + len;
	rc = dec_obj(&r, d, out, a);
	if (!rc && r.p != r.end)
		rc = BM_EPROTO; /* one body is exactly one value */
	if (rc)
		memset(out, 0, d->size);
	return rc;
}

/* ---------------------------------------------------------------------
 * The typed pairs
 * --------------------------------------------------------------------- */

#define CODEC(T)                                                                      \
	int bm_##T##_encode(const struct bm_##T##_event *e, struct bm_buf *out)         \
	{                                                                             \
		return encode(&T, e, out);                                            \
	}                                                                             \
	int bm_##T##_decode(const void *body, size_t len, struct bm_##T##_event *out, \
			    struct bm_arena *arena)                                   \
	{                                                                             \
		return decode(&T, body, len, out, arena);                             \
	}

CODEC(anomaly)
CODEC(trend)
CODEC(forecast)
CODEC(correlation)
CODEC(bottleneck)
CODEC(insight)
CODEC(health)
CODEC(alert)
CODEC(notification)
CODEC(candidate)
CODEC(recommendation)
CODEC(action)
CODEC(agent)
CODEC(agent_command)
CODEC(agent_ack)

const struct desc *bm__event_desc(const char *topic)
{
	static const struct {
		const char *topic;
		const struct desc *d;
	} by_topic[] = {
		{BM_TOPIC_ANOMALY, &anomaly},
		{BM_TOPIC_TREND, &trend},
		{BM_TOPIC_FORECAST, &forecast},
		{BM_TOPIC_CORRELATION, &correlation},
		{BM_TOPIC_BOTTLENECK, &bottleneck},
		{BM_TOPIC_INSIGHT, &insight},
		{BM_TOPIC_HEALTH, &health},
		{BM_TOPIC_ALERT, &alert},
		{BM_TOPIC_NOTIFICATION, &notification},
		{BM_TOPIC_CANDIDATE, &candidate},
		{BM_TOPIC_RECOMMENDATION, &recommendation},
		{BM_TOPIC_ACTION, &action},
		{BM_TOPIC_AGENT, &agent},
		{BM_TOPIC_AGENT_COMMAND, &agent_command},
		{BM_TOPIC_AGENT_ACK, &agent_ack},
	};
	for (size_t i = 0; topic && i < ARRAY_SIZE(by_topic); i++) {
		if (strcmp(by_topic[i].topic, topic) == 0)
			return by_topic[i].d;
	}
	return NULL;
}

bool bm_event_is_standard(const char *topic)
{
	return bm__event_desc(topic) != NULL;
}
