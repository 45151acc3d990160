/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ui/mcp: the Model Context Protocol over Streamable HTTP with JSON
 * responses (no SSE stream): JSON-RPC 2.0 messages POSTed to /mcp
 * (initialize, ping, tools/list, tools/call; batches answered as arrays;
 * notifications with 202). The tools (tools.c) read the store through the
 * host API and the events seen on the bus since start. Stateless: no
 * Mcp-Session-Id is issued, so any client may call any time.
 */
#define _GNU_SOURCE
#include "mcp.h"

#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_plugin.h>

#include "origin.h"

#define MCP_LATEST_VERSION "2025-06-18"
static const char *const mcp_versions[] = {"2025-06-18", "2025-03-26", "2024-11-05", NULL};

/* clang-format off */
static const struct bm_option mcp_options[] = {
	BM_OPTION("route", BM_OPT_STRING, "/mcp", struct mcp_conf, route, "HTTP path of the MCP endpoint"),
	BM_OPTION("allowed_origins", BM_OPT_STRING_LIST, NULL, struct mcp_conf, allowed_origins,
		  "browser origins besides bearmond's own that may POST (requests without Origin always may)"),
	BM_OPTION_BOUNDED("max_series", BM_OPT_INT, "100", struct mcp_conf, max_series, 1, 100000,
			  "series in one tool answer"),
	BM_OPTION_BOUNDED("max_points", BM_OPT_INT, "1000", struct mcp_conf, max_points, 2, 1000000,
			  "points per series in one tool answer (a range query's step is raised to fit)"),
	BM_OPTION_BOUNDED("default_window", BM_OPT_DURATION, "1h", struct mcp_conf, default_window_ms,
			  1000, 2592000000, "window of explain_series and list_anomalies when the caller gives none"),
	BM_OPTION_BOUNDED("lookback", BM_OPT_DURATION, "5m", struct mcp_conf, lookback_ms, 1000,
			  86400000, "a series' latest value must be this recent"),
	BM_OPTION_BOUNDED("event_cache", BM_OPT_INT, "1000", struct mcp_conf, event_cache, 1, 1000000,
			  "alerts, anomalies, bottlenecks, recommendations, trends and forecasts kept per kind"),
	BM_OPTION_BOUNDED("event_ttl", BM_OPT_DURATION, "1h", struct mcp_conf, event_ttl_ms, 1000,
			  604800000, "findings older than this are forgotten (active alerts stay until resolved)"),
	BM_OPTION_END,
};
/* clang-format on */

/* --- JSON-RPC ---------------------------------------------------------------------- */

static json_t *rpc_result(const json_t *id, json_t *result)
{
	return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

static json_t *rpc_error(struct mcp *m, const json_t *id, int code, const char *msg)
{
	__atomic_add_fetch(&m->rpc_errors, 1, __ATOMIC_RELAXED);
	json_t *null = json_null();
	json_t *r = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : null,
			      "error", "code", code, "message", msg);
	json_decref(null);
	return r;
}

static bool version_supported(const char *v)
{
	for (const char *const *p = mcp_versions; v && *p; p++)
		if (strcmp(*p, v) == 0)
			return true;
	return false;
}

static json_t *initialize(const json_t *params)
{
	const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
	/* the client's version when we speak it, else our latest (the client
	 * then decides whether it can go on) */
	const char *v = version_supported(asked) ? asked : MCP_LATEST_VERSION;
	return json_pack(
		"{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion", v, "capabilities",
		"tools", "listChanged", 0, "serverInfo", "name", "bearmon", "title",
		"bearmon performance monitor", "version", BM_MCP_VERSION, "instructions",
		"bearmon watches this host and the AI agents on it. Use query_series for metrics "
		"(PromQL or a series selector), explain_series for how a series behaved lately, "
		"list_alerts and list_anomalies for what is wrong now, get_bottlenecks and "
		"get_recommendations for what limits the system and what to do about it.");
}

static json_t *call_tool(struct mcp *m, const json_t *id, const json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	const json_t *args = json_object_get(params, "arguments");
	int err = 0;
	if (!name)
		return rpc_error(m, id, MCP_INVALID_PARAMS, "tools/call needs params.name");
	if (args && !json_is_object(args))
		return rpc_error(m, id, MCP_INVALID_PARAMS, "params.arguments must be an object");
	__atomic_add_fetch(&m->tool_calls, 1, __ATOMIC_RELAXED);
	json_t *res = mcp_tools_call(m, name, args, &err);
	if (!res)
		return rpc_error(m, id, err ? err : MCP_INTERNAL_ERROR,
				 err == MCP_INVALID_PARAMS ? "unknown tool" : "out of memory");
	if (json_is_true(json_object_get(res, "isError")))
		__atomic_add_fetch(&m->tool_errors, 1, __ATOMIC_RELAXED);
	return rpc_result(id, res);
}

json_t *mcp_handle_message(struct mcp *m, const json_t *msg)
{
	if (!json_is_object(msg))
		return rpc_error(m, NULL, MCP_INVALID_REQUEST, "a JSON-RPC message is an object");
	const json_t *id = json_object_get(msg, "id");
	const char *method = json_string_value(json_object_get(msg, "method"));
	const char *jsonrpc = json_string_value(json_object_get(msg, "jsonrpc"));
	const json_t *params = json_object_get(msg, "params");
	bool valid_id = json_is_string(id) || json_is_integer(id);
	if (!jsonrpc || strcmp(jsonrpc, "2.0") != 0)
		return rpc_error(m, valid_id ? id : NULL, MCP_INVALID_REQUEST, "jsonrpc must be \"2.0\"");
	if (!method) /* a response to us: we send no requests, nothing to answer */
		return json_object_get(msg, "result") || json_object_get(msg, "error")
			       ? NULL
			       : rpc_error(m, valid_id ? id : NULL, MCP_INVALID_REQUEST, "method missing");
	if (!id)
		return NULL; /* notifications (initialized, cancelled, ...): nothing to say */
	if (!valid_id)
		return rpc_error(m, NULL, MCP_INVALID_REQUEST, "id must be a string or an integer");
	if (params && !json_is_object(params))
		return rpc_error(m, id, MCP_INVALID_PARAMS, "params must be an object");
	if (strcmp(method, "initialize") == 0)
		return rpc_result(id, initialize(params));
	if (strcmp(method, "ping") == 0)
		return rpc_result(id, json_object());
	if (strcmp(method, "tools/list") == 0)
		return rpc_result(id, json_pack("{s:o}", "tools", mcp_tools_list()));
	if (strcmp(method, "tools/call") == 0)
		return call_tool(m, id, params);
	return rpc_error(m, id, MCP_METHOD_NOT_FOUND, "method not found");
}

/* --- HTTP transport ---------------------------------------------------------------- */

static void reply_json(struct bm_http_req *req, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text) {
		static const char oom[] =
			"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,\"message\":\"out of memory\"}}";
		bm_http_reply(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	bm_http_reply(req, status, "application/json", text, strlen(text));
	free(text);
}

/* A batch (JSON-RPC 2.0, 6): the answers as an array, NULL when every
 * message was a notification. */
static json_t *handle_batch(struct mcp *m, const json_t *batch)
{
	json_t *out = json_array();
	size_t i;
	const json_t *msg;
	json_array_foreach(batch, i, msg)
	{
		json_t *r = mcp_handle_message(m, msg);
		if (r)
			json_array_append_new(out, r);
	}
	if (!json_array_size(out)) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static void on_http(void *user, struct bm_http_req *req)
{
	struct mcp *m = user;
	size_t len = 0;
	__atomic_add_fetch(&m->requests, 1, __ATOMIC_RELAXED);
	if (strcmp(bm_http_method(req), "POST") != 0) {
		/* no server-to-client stream is offered (Streamable HTTP allows 405) */
		bm_http_add_header(req, "Allow", "POST");
		reply_json(req, 405, json_pack("{s:s, s:s}", "status", "error", "error",
					       "POST JSON-RPC messages here"));
		return;
	}
	if (!origin_allowed(bm_http_header(req, "Origin"), bm_http_header(req, "Host"),
			    &m->conf->allowed_origins)) {
		reply_json(req, 403, rpc_error(m, NULL, MCP_INVALID_REQUEST, "Origin not allowed"));
		return;
	}
	const char *pv = bm_http_header(req, "MCP-Protocol-Version");
	if (pv && !version_supported(pv)) {
		reply_json(req, 400, rpc_error(m, NULL, MCP_INVALID_REQUEST,
					       "unsupported MCP-Protocol-Version"));
		return;
	}
	const char *body = bm_http_body(req, &len);
	json_error_t jerr;
	json_t *msg = body ? json_loadb(body, len, 0, &jerr) : NULL;
	if (!msg) {
		reply_json(req, 400, rpc_error(m, NULL, MCP_PARSE_ERROR, "parse error"));
		return;
	}
	json_t *resp = json_is_array(msg)
			       ? (json_array_size(msg) ? handle_batch(m, msg)
						       : rpc_error(m, NULL, MCP_INVALID_REQUEST, "empty batch"))
			       : mcp_handle_message(m, msg);
	json_decref(msg);
	if (resp)
		reply_json(req, 200, resp);
	else
		bm_http_reply(req, 202, "application/json", NULL, 0);
}

/* --- events and lifecycle ---------------------------------------------------------- */

static void on_event(void *user, const char *topic, const void *body, size_t len)
{
	struct mcp *m = user;
	bm_buf_reset(&m->scratch);
	if (bm_event_to_json(topic, body, len, &m->scratch) == 0)
		evcache_add(&m->cache, topic, m->scratch.data, m->scratch.len, bm_now_ms(m->ctx));
}

static void on_expire(void *user)
{
	struct mcp *m = user;
	evcache_expire(&m->cache, bm_now_ms(m->ctx));
}

static int mcp_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct mcp_conf *c = conf;
	if (!c->route || c->route[0] != '/')
		return bm_err_set(err, BM_EINVAL, "route must start with /");
	struct mcp *m = calloc(1, sizeof(*m));
	if (!m)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	m->ctx = ctx;
	m->conf = c;
	evcache_init(&m->cache, (size_t)c->event_cache, c->event_ttl_ms);
	bm_self_counter(ctx, "bearmon_mcp_requests_total", "HTTP requests to the MCP endpoint",
			&m->requests);
	bm_self_counter(ctx, "bearmon_mcp_tool_calls_total", "tools/call requests", &m->tool_calls);
	bm_self_counter(ctx, "bearmon_mcp_tool_errors_total", "tool calls answered with isError",
			&m->tool_errors);
	bm_self_counter(ctx, "bearmon_mcp_rpc_errors_total", "JSON-RPC error responses",
			&m->rpc_errors);
	*state = m;
	return 0;
}

static int mcp_start(void *state, struct bm_err *err)
{
	struct mcp *m = state;
	struct bm_sub_opts o = {.size = sizeof(o), .topic = BM_TOPIC_EVENTS,
				.policy = BM_SUB_DROP_OLDEST, .on_loop = true};
	int rc = bm_bus_subscribe(m->ctx, &o, on_event, m, &m->events);
	if (rc)
		return bm_err_set(err, rc, "subscribe: %s", bm_strerror(rc));
	rc = bm_timer_start(m->ctx, 60000, on_expire, m, &m->expire);
	if (rc)
		return bm_err_set(err, rc, "timer: %s", bm_strerror(rc));
	/* tools only read: the read token suffices for its POSTs */
	rc = bm_http_route(m->ctx, m->conf->route, BM_HTTP_READONLY, on_http, m);
	if (rc == BM_ENOTSUP)
		bm_log_notice(m->ctx, "no HTTP listener (http.listen = \"\"): no MCP endpoint");
	else if (rc)
		return bm_err_set(err, rc, "route %s: %s", m->conf->route, bm_strerror(rc));
	return 0;
}

static void mcp_stop(void *state)
{
	struct mcp *m = state;
	if (m->events)
		bm_bus_unsubscribe(m->events);
	m->events = NULL;
	if (m->expire)
		bm_timer_stop(m->expire);
	m->expire = NULL;
}

static void mcp_fini(void *state)
{
	struct mcp *m = state;
	evcache_free(&m->cache);
	bm_buf_free(&m->scratch);
	free(m);
}

static const struct bm_plugin_ops mcp_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = mcp_init,
	.start = mcp_start,
	.stop = mcp_stop,
	.fini = mcp_fini,
};

BM_PLUGIN_DEFINE(ui, mcp, BM_KIND_UI,
		 .version = BM_MCP_VERSION,
		 .license = "Apache-2.0",
		 .description = "Model Context Protocol server: tools over metrics, alerts, anomalies, bottlenecks",
		 .origin = "bearmon",
		 .options = mcp_options,
		 .config_size = sizeof(struct mcp_conf),
		 .ops = &mcp_ops);
