/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ui/mcp against the fake host (../ui_dashboard/tests/dashhost.c): the
 * JSON-RPC rules (parse errors, invalid requests, unknown methods and
 * tools, notifications, batches), the HTTP transport (POST only, Origin,
 * MCP-Protocol-Version), initialize's version negotiation, tools/list, and
 * each tool over a small store and events delivered on the bus.
 */
#define _GNU_SOURCE
#include "mcp.c"

#include <math.h>
#include <stdio.h>

#include "dashhost.h"
#include "plugintest.h"

#define NOW 1700000000000LL

struct fixture {
	struct mcp_conf conf;
	struct mcp *m;
};

static int setup(void **st)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct bm_err err = {0};
	bm__host_api = dh_api();
	fakehost_set_now(NOW);
	pt_conf_defaults(mcp_options, &f->conf);
	f->m = pt_init(&mcp_ops, &f->conf);
	if (mcp_ops.start(f->m, &err))
		fail_msg("start: %s", err.msg);
	*st = f;
	return 0;
}

static int teardown(void **st)
{
	struct fixture *f = *st;
	mcp_ops.stop(f->m);
	mcp_ops.fini(f->m);
	pt_conf_release(mcp_options, &f->conf);
	dh_reset();
	free(f);
	return 0;
}

/* POST body to /mcp: the status, and the parsed answer in *out (NULL when
 * the body is empty). */
static int post(const char *body, json_t **out, const char *header, const char *value)
{
	struct dh_request rq = {.method = "POST", .path = "/mcp", .body = body};
	struct dh_response resp;
	rq.headers[0] = (struct dh_kv){"Host", "127.0.0.1:9555"};
	if (header)
		rq.headers[1] = (struct dh_kv){header, value};
	int status = dh_http(&rq, &resp);
	*out = resp.len ? json_loads(resp.body, 0, NULL) : NULL;
	dh_response_free(&resp);
	return status;
}

/* A request's result (the call must succeed). */
static json_t *call(const char *method, const char *params)
{
	char body[2048];
	json_t *r;
	snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"%s\"%s%s}", method,
		 params ? ",\"params\":" : "", params ? params : "");
	assert_int_equal(post(body, &r, NULL, NULL), 200);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	if (json_object_get(r, "error"))
		fail_msg("%s: %s", method, json_dumps(r, 0));
	json_t *res = json_incref(json_object_get(r, "result"));
	json_decref(r);
	return res;
}

/* tools/call: the structured content (isError must be want_error). */
static json_t *tool(const char *name, const char *args, bool want_error)
{
	char params[1536];
	snprintf(params, sizeof(params), "{\"name\":\"%s\",\"arguments\":%s}", name, args);
	json_t *res = call("tools/call", params);
	if (json_is_true(json_object_get(res, "isError")) != want_error)
		fail_msg("%s %s: %s", name, args, json_dumps(res, 0));
	json_t *text = json_object_get(json_array_get(json_object_get(res, "content"), 0), "text");
	assert_true(json_is_string(text));
	json_t *out = json_incref(want_error ? text : json_object_get(res, "structuredContent"));
	if (!want_error) { /* the text is the same JSON */
		json_t *again = json_loads(json_string_value(text), 0, NULL);
		assert_true(json_equal(again, out));
		json_decref(again);
	}
	json_decref(res);
	return out;
}

static int rpc_code(json_t *r)
{
	return (int)json_integer_value(json_object_get(json_object_get(r, "error"), "code"));
}

static void test_jsonrpc_rules(void **st)
{
	(void)st;
	json_t *r;
	assert_int_equal(post("{not json", &r, NULL, NULL), 400);
	assert_int_equal(rpc_code(r), MCP_PARSE_ERROR);
	assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	assert_int_equal(post("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", &r, NULL, NULL), 200);
	assert_int_equal(rpc_code(r), MCP_INVALID_REQUEST);
	json_decref(r);
	assert_int_equal(post("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\"}", &r, NULL, NULL), 200);
	assert_int_equal(rpc_code(r), MCP_METHOD_NOT_FOUND);
	json_decref(r);
	assert_int_equal(post("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", &r, NULL, NULL), 200);
	assert_int_equal(rpc_code(r), MCP_INVALID_REQUEST);
	json_decref(r);
	assert_int_equal(post("[]", &r, NULL, NULL), 200);
	assert_int_equal(rpc_code(r), MCP_INVALID_REQUEST);
	json_decref(r);
	/* a notification: accepted, nothing to answer */
	assert_int_equal(post("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r, NULL, NULL), 202);
	assert_null(r);
	/* a batch: answers for the requests, in order */
	assert_int_equal(post("[{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"},"
			      "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
			      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}]", &r, NULL, NULL), 200);
	assert_int_equal(json_array_size(r), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "id")), "a");
	assert_int_equal(rpc_code(json_array_get(r, 1)), MCP_METHOD_NOT_FOUND);
	json_decref(r);
	/* unknown tool: a JSON-RPC error, not a tool error */
	assert_int_equal(post("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"rm_rf\"}}",
			      &r, NULL, NULL), 200);
	assert_int_equal(rpc_code(r), MCP_INVALID_PARAMS);
	json_decref(r);
}

static void test_transport(void **st)
{
	(void)st;
	json_t *r;
	struct dh_request rq = {.method = "GET", .path = "/mcp"};
	struct dh_response resp;
	assert_int_equal(dh_http(&rq, &resp), 405);
	assert_string_equal(dh_header(&resp, "Allow"), "POST");
	dh_response_free(&resp);
	const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
	assert_int_equal(post(ping, &r, "Origin", "http://evil.example"), 403);
	json_decref(r);
	assert_int_equal(post(ping, &r, "Origin", "http://127.0.0.1:9555"), 200);
	json_decref(r);
	assert_int_equal(post(ping, &r, "MCP-Protocol-Version", "1999-01-01"), 400);
	json_decref(r);
	assert_int_equal(post(ping, &r, "MCP-Protocol-Version", "2025-06-18"), 200);
	json_decref(r);
}

static void test_initialize_and_list(void **st)
{
	(void)st;
	json_t *r = call("initialize", "{\"protocolVersion\":\"2025-03-26\",\"capabilities\":{},"
				       "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}");
	assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")), "2025-03-26");
	assert_non_null(json_object_get(json_object_get(r, "capabilities"), "tools"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "serverInfo"), "name")), "bearmon");
	json_decref(r);
	r = call("initialize", "{\"protocolVersion\":\"2099-01-01\"}");
	assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")), MCP_LATEST_VERSION);
	json_decref(r);
	r = call("tools/list", NULL);
	json_t *tools_arr = json_object_get(r, "tools");
	assert_int_equal(json_array_size(tools_arr), 6);
	static const char *const want[] = {"query_series", "list_alerts", "list_anomalies",
					   "get_bottlenecks", "get_recommendations", "explain_series"};
	for (size_t i = 0; i < 6; i++) {
		json_t *t = json_array_get(tools_arr, i);
		assert_string_equal(json_string_value(json_object_get(t, "name")), want[i]);
		assert_string_equal(json_string_value(json_object_get(json_object_get(t, "inputSchema"), "type")), "object");
	}
	json_decref(r);
}

static void store_ramp(const char *series, double base, double slope_per_s)
{
	int64_t ts[60];
	double v[60];
	for (int i = 0; i < 60; i++) {
		ts[i] = NOW - (59 - i) * 10000LL;
		v[i] = base + slope_per_s * (double)(ts[i] - ts[0]) / 1000.0;
	}
	dh_store_add(series, ts, v, 60);
}

static void publish_anomaly(const char *name, const char *label, int64_t ts)
{
	struct bm_buf buf = {0};
	struct bm_label l[] = {{"agent", label}};
	struct bm_anomaly_event e = {.series = {name, l, 1}, .ts_ms = ts, .start_ms = ts, .value = 9,
				     .score = 0.99, .threshold = 0.9, .expected = 1, .lower = 0,
				     .upper = 2, .detector = "ewma"};
	assert_int_equal(bm_anomaly_encode(&e, &buf), 0);
	dh_deliver(BM_TOPIC_ANOMALY, buf.data, buf.len);
	bm_buf_free(&buf);
}

static void test_query_series_without_promql(void **st)
{
	(void)st;
	store_ramp("agent_error_ratio{agent=\"planner\"}", 0.1, 0);
	store_ramp("agent_error_ratio{agent=\"coder\"}", 0.3, 0);
	/* the fake host has no PromQL: a selector goes to the store */
	json_t *r = tool("query_series", "{\"query\":\"agent_error_ratio{agent=\\\"coder\\\"}\"}", false);
	assert_string_equal(json_string_value(json_object_get(r, "engine")), "store");
	json_t *s = json_object_get(r, "series");
	assert_int_equal(json_array_size(s), 1);
	json_t *pt = json_array_get(json_object_get(json_array_get(s, 0), "points"), 0);
	assert_float_equal(json_real_value(json_array_get(pt, 1)), 0.3, 1e-9);
	json_decref(r);
	json_t *e = tool("query_series", "{\"query\":\"rate(x[5m])\"}", true);
	assert_non_null(strstr(json_string_value(e), "no PromQL engine"));
	json_decref(e);
	e = tool("query_series", "{\"query\":\"agent_error_ratio\",\"range\":\"soon\"}", true);
	assert_non_null(strstr(json_string_value(e), "range: a duration"));
	json_decref(e);
	e = tool("query_series", "{}", true);
	assert_non_null(strstr(json_string_value(e), "query: required"));
	json_decref(e);
	e = tool("query_series", "{\"query\":\"x\",\"bogus\":1}", true);
	assert_non_null(strstr(json_string_value(e), "unknown argument"));
	json_decref(e);
}

static void test_explain_series(void **st)
{
	(void)st;
	/* 10 minutes rising 0.01 per second */
	store_ramp("node_load1{}", 1, 0.01);
	publish_anomaly("node_load1", "x", NOW - 1000); /* another series: not counted */
	json_t *r = tool("explain_series", "{\"series\":\"node_load1\",\"window\":\"1h\"}", false);
	json_t *s = json_array_get(json_object_get(r, "series"), 0);
	assert_string_equal(json_string_value(json_object_get(s, "series")), "node_load1{}");
	json_t *stats = json_object_get(s, "stats");
	assert_int_equal(json_integer_value(json_object_get(stats, "samples")), 60);
	assert_float_equal(json_real_value(json_object_get(stats, "min")), 1, 1e-9);
	assert_float_equal(json_real_value(json_object_get(stats, "max")), 6.9, 1e-9);
	json_t *trend = json_object_get(s, "trend");
	assert_string_equal(json_string_value(json_object_get(trend, "direction")), "increasing");
	assert_float_equal(json_real_value(json_object_get(trend, "slope_per_s")), 0.01, 1e-9);
	assert_int_equal(json_integer_value(json_object_get(s, "anomalies_in_window")), 0);
	assert_non_null(strstr(json_string_value(json_object_get(s, "summary")), "increasing"));
	json_decref(r);
	r = tool("explain_series", "{\"series\":\"no_such_metric\"}", false);
	assert_int_equal(json_array_size(json_object_get(r, "series")), 0);
	json_decref(r);
	json_t *e = tool("explain_series", "{\"series\":\"bad{\"}", true);
	assert_non_null(strstr(json_string_value(e), "series: position"));
	json_decref(e);
}

static void test_events_tools(void **st)
{
	(void)st;
	struct bm_buf buf = {0};
	struct bm_label al[] = {{"alertname", "AgentErrors"}, {"severity", "warning"}};
	struct bm_alert_event a = {.ts_ms = NOW, .rule_id = "r", .fingerprint = "f1",
				   .state = BM_ALERT_FIRING, .labels = al, .n_labels = 2};
	assert_int_equal(bm_alert_encode(&a, &buf), 0);
	dh_deliver(BM_TOPIC_ALERT, buf.data, buf.len);
	a.fingerprint = "f2";
	a.state = BM_ALERT_PENDING;
	assert_int_equal(bm_alert_encode(&a, &buf), 0);
	dh_deliver(BM_TOPIC_ALERT, buf.data, buf.len);
	struct bm_evidence ev = {.text = "run queue above cores", .value = 3};
	struct bm_bottleneck_event b = {.ts_ms = NOW, .id = "cpu/sat", .resource = "cpu",
					.kind = BM_BN_SATURATION, .severity = BM_SEV_WARNING,
					.impact = 0.7, .summary = "cpu saturated",
					.recommendation = "add cores", .evidence = &ev, .n_evidence = 1};
	assert_int_equal(bm_bottleneck_encode(&b, &buf), 0);
	dh_deliver(BM_TOPIC_BOTTLENECK, buf.data, buf.len);
	bm_buf_free(&buf);
	publish_anomaly("agent_error_ratio", "planner", NOW - 60000);
	publish_anomaly("agent_error_ratio", "coder", NOW - 7200000); /* outside 1h */

	json_t *r = tool("list_alerts", "{}", false);
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 2);
	json_decref(r);
	r = tool("list_alerts", "{\"state\":\"firing\"}", false);
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 1);
	json_decref(r);
	json_decref(tool("list_alerts", "{\"state\":\"asleep\"}", true));

	r = tool("list_anomalies", "{\"window\":\"1h\"}", false);
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 1);
	json_decref(r);
	r = tool("list_anomalies", "{\"window\":\"3h\",\"series\":\"agent_error_ratio{agent=\\\"coder\\\"}\"}", false);
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 1);
	json_decref(r);

	r = tool("get_bottlenecks", "{}", false);
	json_t *bn = json_array_get(json_object_get(r, "bottlenecks"), 0);
	assert_string_equal(json_string_value(json_object_get(bn, "resource")), "cpu");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(bn, "evidence"), 0), "text")),
			    "run queue above cores");
	json_decref(r);
	r = tool("get_recommendations", "{}", false);
	assert_int_equal(json_array_size(json_object_get(r, "recommendations")), 0);
	json_decref(r);
}

/* The SDK's Prometheus parser (tested with the alert rules'), positive only. */
static void test_durations(void **st)
{
	(void)st;
	int64_t ms;
	assert_int_equal(mcp_parse_duration("1h30m", &ms), 0);
	assert_int_equal(ms, 5400000);
	assert_int_equal(mcp_parse_duration("0s", &ms), -1);
	assert_int_equal(mcp_parse_duration("0", &ms), -1);
	assert_int_equal(mcp_parse_duration(NULL, &ms), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_jsonrpc_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initialize_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_series_without_promql, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_series, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_tools, setup, teardown),
		cmocka_unit_test(test_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
