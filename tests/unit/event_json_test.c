/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bm_event_to_json: member names as keys, enum names, NaN as null, nested
 * objects and arrays, invalid UTF-8 replaced, unknown keys skipped,
 * malformed bodies refused with the output left as it was.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <msgpack.h>

#include "bearmon/bm_event.h"

static json_t *render(const char *topic, const struct bm_buf *body)
{
	struct bm_buf out = {0};
	assert_int_equal(bm_event_to_json(topic, body->data, body->len, &out), 0);
	json_error_t err;
	json_t *j = json_loadb(out.data, out.len, 0, &err);
	if (!j)
		fail_msg("invalid JSON (%s): %.*s", err.text, (int)out.len, out.data);
	bm_buf_free(&out);
	return j;
}

static void test_forecast(void **state)
{
	(void)state;
	struct bm_label l[] = {{"mountpoint", "/"}};
	struct bm_forecast_point pts[] = {{1000, 1.5, 1, 2}, {2000, 2.5, 2, NAN}};
	struct bm_forecast_event e = {.series = {"node_filesystem_avail_bytes", l, 1}, .ts_ms = 7,
				      .model = "holt_winters", .horizon_ms = 2000, .step_ms = 1000,
				      .interval_level = 0.95, .confidence = 0.8,
				      .trend = BM_TREND_DECREASING, .has_threshold = true,
				      .threshold = 0, .cross = BM_CROSS_BELOW,
				      .time_to_threshold_ms = -1, .points = pts, .n_points = 2};
	struct bm_buf b = {0};
	assert_int_equal(bm_forecast_encode(&e, &b), 0);
	json_t *j = render(BM_TOPIC_FORECAST, &b);
	assert_string_equal(json_string_value(json_object_get(j, "model")), "holt_winters");
	assert_string_equal(json_string_value(json_object_get(j, "trend")), "decreasing");
	assert_string_equal(json_string_value(json_object_get(j, "cross")), "below");
	assert_true(json_is_true(json_object_get(j, "has_threshold")));
	assert_int_equal(json_integer_value(json_object_get(j, "time_to_threshold_ms")), -1);
	json_t *series = json_object_get(j, "series");
	assert_string_equal(json_string_value(json_object_get(series, "name")),
			    "node_filesystem_avail_bytes");
	assert_string_equal(json_string_value(json_object_get(json_object_get(series, "labels"),
							      "mountpoint")), "/");
	json_t *points = json_object_get(j, "points");
	assert_int_equal(json_array_size(points), 2);
	assert_true(json_real_value(json_object_get(json_array_get(points, 0), "yhat")) == 1.5);
	assert_true(json_is_null(json_object_get(json_array_get(points, 1), "upper")));
	json_decref(j);
	bm_buf_free(&b);
}

static void test_strings_and_enums(void **state)
{
	(void)state;
	static const char *const to[] = {"webhook:ops", "bad \xff utf8"};
	struct bm_label l[] = {{"alertname", "Disk\"Full\\\n"}};
	struct bm_alert_event e = {.ts_ms = 1, .rule_id = "r", .fingerprint = "f",
				   .state = BM_ALERT_RESOLVED, .severity = BM_SEV_EMERGENCY,
				   .labels = l, .n_labels = 1, .notifiers = to, .n_notifiers = 2,
				   .threshold = INFINITY};
	struct bm_buf b = {0};
	assert_int_equal(bm_alert_encode(&e, &b), 0);
	json_t *j = render(BM_TOPIC_ALERT, &b);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "resolved");
	assert_string_equal(json_string_value(json_object_get(j, "severity")), "emergency");
	assert_true(json_is_null(json_object_get(j, "threshold")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "labels"),
							      "alertname")), "Disk\"Full\\\n");
	json_t *n = json_object_get(j, "notifiers");
	assert_string_equal(json_string_value(json_array_get(n, 1)), "bad \xef\xbf\xbd utf8");
	json_decref(j);
	bm_buf_free(&b);
}

/* A key this version does not know (a newer producer) is left out. */
static void test_unknown_key(void **state)
{
	(void)state;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "title", 5);
	msgpack_pack_str_with_body(&pk, "disk", 4);
	msgpack_pack_str_with_body(&pk, "zz_new", 6);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_int(&pk, 5);
	msgpack_pack_str_with_body(&pk, "sev", 3);
	msgpack_pack_int(&pk, 99); /* an enum value from the future: a number */
	struct bm_buf b = {.data = sb.data, .len = sb.size, .cap = sb.alloc};
	json_t *j = render(BM_TOPIC_INSIGHT, &b);
	assert_int_equal(json_object_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(j, "title")), "disk");
	assert_int_equal(json_integer_value(json_object_get(j, "severity")), 99);
	json_decref(j);
	msgpack_sbuffer_destroy(&sb);
}

static void test_refusals(void **state)
{
	(void)state;
	struct bm_insight_event e = {.ts_ms = 3, .title = "t"};
	struct bm_buf b = {0}, out = {0};
	assert_int_equal(bm_insight_encode(&e, &b), 0);
	assert_int_equal(bm_buf_append(&out, "x", 1), 0);
	assert_int_equal(bm_event_to_json(BM_TOPIC_METRIC, b.data, b.len, &out), BM_EINVAL);
	assert_int_equal(bm_event_to_json("nope", b.data, b.len, &out), BM_EINVAL);
	for (size_t cut = 0; cut < b.len; cut++) /* every truncation */
		assert_int_equal(bm_event_to_json(BM_TOPIC_INSIGHT, b.data, cut, &out), BM_EPROTO);
	assert_int_equal(out.len, 1); /* left as it was */
	assert_true(bm_event_is_standard(BM_TOPIC_ANOMALY));
	assert_false(bm_event_is_standard(BM_TOPIC_METRIC));
	assert_false(bm_event_is_standard(BM_TOPIC_EVENTS));
	bm_buf_free(&b);
	bm_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forecast),
		cmocka_unit_test(test_strings_and_enums),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
