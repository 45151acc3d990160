/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ui/mcp: a Model Context Protocol server at /mcp, so that the AI agents
 * bearmon watches can ask it about their own system. mcp.c holds the
 * descriptor, the HTTP transport and JSON-RPC; tools.c the tools.
 */
#ifndef BEARMON_MCP_H
#define BEARMON_MCP_H

#include <jansson.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_option.h>

#include "evcache.h"

struct mcp_conf {
	char *route;
	struct bm_strlist allowed_origins;
	int64_t max_series;      /* series in one tool answer */
	int64_t max_points;      /* points per series in one answer */
	int64_t default_window_ms;
	int64_t lookback_ms;
	int64_t event_cache;
	int64_t event_ttl_ms;
};

struct mcp {
	struct bm_ctx *ctx;
	const struct mcp_conf *conf;
	struct evcache cache; /* main loop */
	struct bm_buf scratch;
	struct bm_sub *events;
	struct bm_timer *expire;
	uint64_t requests, tool_calls, tool_errors, rpc_errors;
};

/* JSON-RPC error codes (JSON-RPC 2.0, 5.1) */
enum {
	MCP_PARSE_ERROR = -32700,
	MCP_INVALID_REQUEST = -32600,
	MCP_METHOD_NOT_FOUND = -32601,
	MCP_INVALID_PARAMS = -32602,
	MCP_INTERNAL_ERROR = -32603,
};

/* One JSON-RPC message (borrowed): the response, or NULL for a
 * notification or a response (nothing to answer). */
json_t *mcp_handle_message(struct mcp *m, const json_t *msg);

/* tools.c: the tools' descriptions (inputSchema included) as a new array. */
json_t *mcp_tools_list(void);
/* Run tool name with arguments (may be NULL). The CallToolResult (content,
 * structuredContent, isError); NULL with *rpc_error set when no such tool. */
json_t *mcp_tools_call(struct mcp *m, const char *name, const json_t *arguments, int *rpc_error);
/* A positive Prometheus duration ("90s", "1h30m", "2d") in ms: 0, or -1. */
int mcp_parse_duration(const char *s, int64_t *ms);

#endif
