# SPDX-License-Identifier: Apache-2.0
# The client libraries against the real server: bearmond with a
# collector/agent instance, the C example agent over the Unix socket and
# the Python example agent over TCP, run side by side for a few seconds;
# their derived task throughput and custom metrics must reach the store.
. "$(dirname "$0")/lib.sh"

C_AGENT="$BM_BUILD/sdk/client/bearmon_agent_example"
PY_AGENT="$BM_SOURCE_DIR/sdk/python/example_agent.py"
PYTHON=/usr/bin/python3 # Debian's, which has python3-msgpack
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
TCP_PORT=$((BM_PORT + 1))
SECONDS_RUN=6

[ -f "$BM_BUILD/plugins/bm_collector_agent.so" ] || fail "collector/agent plugin not built"
[ -x "$C_AGENT" ] || fail "C example agent not built: $C_AGENT"

conf "$T/bearmon.conf" \
	"agents = { plugin = \"collector/agent\"; interval = \"1s\"; tcp_listen = \"127.0.0.1:$TCP_PORT\"; };"
sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"
wait_for test -S "$T/data/agent.sock"

"$C_AGENT" -a "unix:$T/data/agent.sock" -i c-agent -s "$SECONDS_RUN" >"$T/c.out" 2>&1 &
CPID=$!
"$PYTHON" "$PY_AGENT" --address "tcp:127.0.0.1:$TCP_PORT" --agent-id py-agent \
	--seconds "$SECONDS_RUN" >"$T/py.out" 2>&1 &
PYPID=$!
# a failed check must not leave the agents running
stop_agents() {
	kill "$CPID" "$PYPID" 2>/dev/null || true
	cleanup
}
trap stop_agents EXIT

# series_id NAME AGENT: the id of the agent's first series named NAME.
series_id() {
	api "/api/bearmon/v1/series?name=$1&agent=$2" | jget '.series[0].id'
}
# has_positive NAME AGENT: one of the series' samples is > 0.
has_positive() {
	local id
	id=$(series_id "$1" "$2") || return 1
	api "/api/bearmon/v1/samples?id=$id" | jq -e '[.samples[][1] | numbers | select(. > 0)] | length > 0'
}
# eventually CMD...: retry for up to 30 s (the sanitizer build is slow).
eventually() {
	for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $*"
}

for agent in c-agent py-agent; do
	eventually has_positive agent_task_throughput "$agent"
	eventually has_positive agent_quality_accuracy "$agent"
	eventually has_positive agent_example_tool_calls_total "$agent"
	eventually has_positive agent_example_batch_size "$agent"
	pass "$agent: agent_task_throughput and its custom metrics are in the store"
done

wait "$CPID" || fail "C example agent exited with $?: $(cat "$T/c.out")"
wait "$PYPID" || fail "Python example agent exited with $?: $(cat "$T/py.out")"
grep -q "connects 1, commands 0" "$T/c.out" || fail "C agent stats: $(cat "$T/c.out")"
grep -q "(dropped 0), messages [0-9]* (dropped 0)" "$T/c.out" || fail "C agent dropped: $(cat "$T/c.out")"
grep -q "'samples_dropped': 0, 'messages_dropped': 0" "$T/py.out" || fail "Python agent dropped: $(cat "$T/py.out")"
grep -q "'connects': 1," "$T/py.out" || fail "Python agent stats: $(cat "$T/py.out")"
pass "both agents delivered everything on one connection each"

# a per-agent-type series, and the hello's labels on every series
api "/api/bearmon/v1/series?name=agent_task_throughput&agent_type=example" |
	jq -e '[.series[].series | select(test("team=\"sdk\""))] | length >= 2' >/dev/null ||
	fail "hello labels missing on the throughput series"
pass "hello labels (team=sdk) on the derived series"
stop_daemon
