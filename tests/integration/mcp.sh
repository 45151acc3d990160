# SPDX-License-Identifier: Apache-2.0
# A scripted MCP client session (curl + jq) against ui/mcp at /mcp, as an
# MCP client speaks Streamable HTTP: initialize, notifications/initialized,
# tools/list, then tools/call of every tool over the test collector's series
# and events (an alert and an anomaly every collection), and the errors a
# client can cause (unknown tool, bad arguments, malformed JSON, GET).
. "$(dirname "$0")/lib.sh"

[ -f "$BM_BUILD/plugins/bm_ui_mcp.so" ] || fail "ui/mcp plugin not built"
conf "$T/bearmon.conf" 'interval = "500ms";' \
	'gen = { plugin = "collector/testgen"; series = 4; events = true; };' \
	'mcp = { plugin = "ui/mcp"; };'
sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$PLUGINS\", \"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"

ID=0
VERSION=""
# rpc METHOD [PARAMS-JSON]: one request; prints the response body
rpc() {
	ID=$((ID + 1))
	local body
	body=$(jq -nc --arg m "$1" --argjson id "$ID" --argjson p "${2:-null}" \
		'{jsonrpc: "2.0", id: $id, method: $m} + (if $p == null then {} else {params: $p} end)')
	curl -sf -X POST "$URL/mcp" -H 'Content-Type: application/json' \
		-H 'Accept: application/json, text/event-stream' \
		${VERSION:+-H "MCP-Protocol-Version: $VERSION"} --data "$body"
}
# tool NAME ARGS-JSON: the structured content of a successful call
tool() {
	local r
	r=$(rpc tools/call "$(jq -nc --arg n "$1" --argjson a "$2" '{name: $n, arguments: $a}')") ||
		fail "tools/call $1: HTTP error"
	[ "$(echo "$r" | jq -r '.result.isError')" = false ] || fail "tools/call $1 $2: $r"
	# the text content is the same JSON as the structured content
	echo "$r" | jq -e '(.result.content[0].text | fromjson) == .result.structuredContent' >/dev/null ||
		fail "tools/call $1: text and structuredContent differ"
	echo "$r" | jq -c '.result.structuredContent'
}

init=$(rpc initialize '{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcp.sh","version":"1"}}') ||
	fail "initialize"
VERSION=$(echo "$init" | jget '.result.protocolVersion')
[ "$VERSION" = 2025-06-18 ] || fail "protocol version: $init"
[ "$(echo "$init" | jget '.result.serverInfo.name')" = bearmon ] || fail "server info: $init"
echo "$init" | jq -e '.result.capabilities.tools' >/dev/null || fail "no tools capability: $init"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/mcp" -H 'Content-Type: application/json' \
	-H "MCP-Protocol-Version: $VERSION" --data '{"jsonrpc":"2.0","method":"notifications/initialized"}')
[ "$code" = 202 ] || fail "notifications/initialized gave $code"
pass "initialize and notifications/initialized"

tools=$(rpc tools/list) || fail "tools/list"
names=$(echo "$tools" | jq -r '[.result.tools[].name] | sort | join(",")')
[ "$names" = "explain_series,get_bottlenecks,get_recommendations,list_alerts,list_anomalies,query_series" ] ||
	fail "tools: $names"
echo "$tools" | jq -e 'all(.result.tools[]; .inputSchema.type == "object" and (.description | length) > 20)' >/dev/null ||
	fail "tool schemas: $tools"
pass "tools/list: six tools with input schemas"

have_alert() { tool list_alerts '{}' | jq -e '.count >= 1 and .alerts[0].labels.alertname == "TestgenHigh"'; }
wait_for have_alert
have_anomaly() { tool list_anomalies '{"window":"10m","series":"testgen_value"}' | jq -e '.count >= 1'; }
wait_for have_anomaly
pass "list_alerts and list_anomalies see the collector's events"

has_samples() { tool explain_series '{"series":"testgen_value{series=\"3\"}","window":"5m"}' | jq -e '.series[0].stats.samples >= 3'; }
wait_for has_samples
ex=$(tool explain_series '{"series":"testgen_value{series=\"3\"}","window":"5m"}')
echo "$ex" | jq -e '.series | length == 1' >/dev/null || fail "explain_series: $ex"
echo "$ex" | jq -e '.series[0].stats.last == 3 and .series[0].stats.min == 3 and .series[0].trend.direction == "stable"' >/dev/null ||
	fail "explain_series stats: $ex"
echo "$ex" | jq -e '.series[0].anomalies_in_window == 0' >/dev/null || fail "series 3 has no anomalies: $ex"
pass "explain_series: statistics, trend and anomalies of one series"

q=$(tool query_series '{"query":"testgen_value{series=\"2\"}"}')
echo "$q" | jq -e '.series | length == 1' >/dev/null || fail "query_series: $q"
echo "$q" | jq -e '.series[0].points[-1][1] == 2' >/dev/null || fail "query_series value: $q"
qr=$(tool query_series '{"query":"testgen_value{series=\"1\"}","range":"1m","step":"5s"}')
echo "$qr" | jq -e '.result_type == "matrix" and (.series[0].points | length) >= 1' >/dev/null ||
	fail "range query: $qr"
pass "query_series instant and range ($(echo "$q" | jq -r .engine) engine)"

tool get_bottlenecks '{}' | jq -e 'has("bottlenecks") and has("insights")' >/dev/null || fail "get_bottlenecks"
tool get_recommendations '{}' | jq -e 'has("recommendations") and has("recent_actions")' >/dev/null ||
	fail "get_recommendations"
pass "get_bottlenecks and get_recommendations answer"

r=$(rpc tools/call '{"name":"no_such_tool","arguments":{}}')
[ "$(echo "$r" | jq -r '.error.code')" = -32602 ] || fail "unknown tool: $r"
r=$(rpc tools/call '{"name":"explain_series","arguments":{"series":"bad{"}}')
[ "$(echo "$r" | jq -r '.result.isError')" = true ] || fail "bad selector not a tool error: $r"
r=$(rpc no/such/method)
[ "$(echo "$r" | jq -r '.error.code')" = -32601 ] || fail "unknown method: $r"
code=$(curl -s -o "$T/parse.json" -w '%{http_code}' -X POST "$URL/mcp" --data '{oops')
[ "$code" = 400 ] && [ "$(jq -r '.error.code' "$T/parse.json")" = -32700 ] || fail "parse error gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/mcp")
[ "$code" = 405 ] || fail "GET gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/mcp" -H 'Origin: http://evil.example' \
	--data '{"jsonrpc":"2.0","id":1,"method":"ping"}')
[ "$code" = 403 ] || fail "foreign Origin gave $code"
pass "errors: unknown tool and method, bad arguments, parse error, GET, foreign Origin"
stop_daemon
