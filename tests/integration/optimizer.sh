# SPDX-License-Identifier: Apache-2.0
# The optimizer end to end on the real daemon, with the agent command
# actuator and both client libraries: the C example agent (unix socket) and
# a Python agent on sdk/python's client (TCP, written below: the example's
# ack carries no detail, which collector/agent cannot take under UBSan yet)
# answer set_batch_size with `previous` (the C agent's stdout is made
# line-buffered with stdbuf to read its log; stdbuf preloads a library, so
# ASan is told not to insist on coming first).
# optimizer/model proposes halving their batch (latency over a tiny
# target); the engine plans it (recommend mode). With no actuator allowed,
# `bearmonctl apply` is refused and nothing reaches the agents; after a
# reload that allows agent_command, apply changes each agent's batch size
# (seen in the agent's own gauge in the store) and rollback restores the
# exact previous value; history shows before/after; plan and history work
# for people and scripts.
. "$(dirname "$0")/lib.sh"

C_AGENT="$BM_BUILD/sdk/client/bearmon_agent_example"
PYTHON=/usr/bin/python3 # Debian's, which has python3-msgpack
export PYTHONDONTWRITEBYTECODE=1
TCP_PORT=$((BM_PORT + 1))
[ -x "$C_AGENT" ] || fail "C example agent not built: $C_AGENT"
for p in collector_agent optimizer_engine optimizer_model; do
	[ -f "$BM_BUILD/plugins/bm_$p.so" ] || fail "bm_$p.so not built"
done

# write_conf ACTUATORS: the daemon's config with that allow-list.
write_conf() {
	conf "$T/bearmon.conf" 'interval = "1s";' \
		"agents = { plugin = \"collector/agent\"; tcp_listen = \"127.0.0.1:$TCP_PORT\"; };" \
		"optimizer = { plugin = \"optimizer/engine\"; actuators = [$1]; hold = \"1s\";
		  objectives = ( { name = \"latency\"; metric = \"agent_task_duration_seconds\"; } ); };" \
		'model = { plugin = "optimizer/model"; techniques = ["batch_size"]; latency_target = 0.001;
		  batch_metric = "agent_example_batch_size"; };'
	sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
}
write_conf ""
start_daemon "$T/bearmon.conf"
wait_for test -S "$T/data/agent.sock"
CTL=("$BEARMONCTL" -c "$T/bearmon.conf")

ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" stdbuf -oL "$C_AGENT" -a "unix:$T/data/agent.sock" -i c-agent -s 120 -T >"$T/c.out" 2>&1 &
CPID=$!
cat >"$T/agent.py" <<PY
import random, sys, threading, time
sys.path.insert(0, "$BM_SOURCE_DIR/sdk/python")
import bearmon_client

batch = 8
c = bearmon_client.Client("tcp:127.0.0.1:$TCP_PORT", "py-agent", type="example",
                          capabilities=["set_batch_size"])

@c.on_command
def on_command(cmd):
    global batch
    if cmd.name != "set_batch_size":
        raise ValueError("unknown command " + cmd.name)
    value = int(cmd.args.get("value", ""))
    if not 1 <= value <= 256:
        raise ValueError("value must be in [1, 256]")
    previous, batch = batch, value
    print("set_batch_size: %d -> %d" % (previous, value), flush=True)
    c.ack(cmd.id, True, "batch size changed", {"previous": str(previous)})

end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    with c.task(type="answer"):
        time.sleep(random.uniform(0.005, 0.045))
    c.gauge("agent_example_batch_size", batch)
c.flush(2.0)
PY
"$PYTHON" "$T/agent.py" 120 >"$T/py.out" 2>&1 &
PYPID=$!
stop_agents() {
	kill "$CPID" "$PYPID" 2>/dev/null || true
	cleanup
}
trap stop_agents EXIT

# eventually CMD...: retry for up to 40 s (the sanitizer build is slow).
eventually() {
	for _ in $(seq 400); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $*"
}
# planned AGENT: the id of the planned step halving AGENT's batch.
planned() {
	api /api/bearmon/v1/plan | jq -er --arg a "$1" \
		'.plan.steps[] | select(.target == $a and .state == "planned" and .params.command == "set_batch_size") | .id'
}
# batch AGENT: the newest value of the agent's own batch size gauge.
batch() {
	local id
	id=$(api "/api/bearmon/v1/series?name=agent_example_batch_size&agent=$1" | jq -er '.series[0].id') || return 1
	api "/api/bearmon/v1/samples?id=$id" | jq -er '.samples[-1][1]'
}
batch_is() { [ "$(batch "$1")" = "$2" ]; }
# state ID: the action's state in the engine.
state() { api /api/bearmon/v1/plan | jq -er --arg i "$1" '.actions[] | select(.id == $i) | .state'; }
state_is() { [ "$(state "$1")" = "$2" ]; }

eventually planned c-agent
eventually planned py-agent
eventually batch_is c-agent 8
out=$("${CTL[@]}" plan)
echo "$out" | grep -q "^optimizer: mode recommend, strategy holistic" || fail "plan header: $out"
echo "$out" | grep -Eq "model/batch_size:c-agent +performance +agent_command c-agent \(command=set_batch_size, value=4\)" ||
	fail "plan candidates: $out"
echo "$out" | grep -q "p95 task duration" || fail "plan why: $out"
"${CTL[@]}" --json plan | jq -e '.plan.steps | length >= 1' >/dev/null || fail "plan --json"
api "/api/bearmon/v1/recommendations?limit=1" | jq -e '.events[0].event.steps[0].action.actuator == "agent_command"' \
	>/dev/null || fail "recommendation not in the store"
pass "the model optimizer's candidates are planned and published (recommend mode)"

# not allowed: refused, nothing sent
id=$(planned c-agent)
rc=0
"${CTL[@]}" apply "$id" >"$T/apply.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "apply with no actuator allowed exited $rc: $(cat "$T/apply.out")"
grep -q "HTTP 403" "$T/apply.out" || fail "apply refusal: $(cat "$T/apply.out")"
grep -q "not allowed in config" "$T/apply.out" || fail "apply refusal reason: $(cat "$T/apply.out")"
sleep 2
batch_is c-agent 8 || fail "c-agent batch changed although no actuator is allowed"
grep -q "set_batch_size" "$T/c.out" && fail "c-agent got a command although no actuator is allowed"
pass "an actuator not allowed in config never executes (403, the agent untouched)"

write_conf '"agent_command"'
"${CTL[@]}" reload | grep -q reloaded || fail "reload"

# apply_and_roll_back AGENT LOGFILE: apply the agent's planned step, see the
# change in its gauge, roll back, see the exact previous value.
apply_and_roll_back() {
	local agent=$1 log=$2 id out
	eventually planned "$agent"
	id=$(planned "$agent")
	out=$("${CTL[@]}" --by ci-test apply "$id" 2>&1) || fail "apply $id: $out"
	eventually state_is "$id" executed
	eventually batch_is "$agent" 4
	grep -q "set_batch_size: 8 -> 4" "$log" || fail "$agent log: $(cat "$log")"
	api /api/bearmon/v1/plan | jq -e --arg i "$id" '.actions[] | select(.id == $i) |
		.before.value == "8" and .after.value == "4" and (.approved_by | startswith("user:ci-test"))' \
		>/dev/null || fail "$agent action record: $(api /api/bearmon/v1/plan | jq -c .actions)"
	pass "$agent: set_batch_size 8 -> 4 applied, acknowledged with previous = 8"
	out=$("${CTL[@]}" rollback "$id" 2>&1) || fail "rollback $id: $out"
	eventually state_is "$id" rolled_back
	eventually batch_is "$agent" 8
	grep -q "set_batch_size: 4 -> 8" "$log" || fail "$agent log after rollback: $(cat "$log")"
	pass "$agent: rollback restored the exact previous batch size (8)"
	LAST_ID=$id
}
apply_and_roll_back c-agent "$T/c.out"
C_ID=$LAST_ID
apply_and_roll_back py-agent "$T/py.out"

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/api/bearmon/v1/actions/$C_ID/rollback")
[ "$code" = 409 ] || fail "second rollback gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/api/bearmon/v1/actions/nope/apply")
[ "$code" = 404 ] || fail "unknown id gave $code"
pass "a rolled-back action cannot be rolled back again (409); unknown ids 404"

out=$("${CTL[@]}" history)
echo "$out" | grep -E "$C_ID +rolled_back +agent_command c-agent +value=8 -> value=8" >/dev/null ||
	fail "history rollback row: $out"
echo "$out" | grep -E "$C_ID +executed +agent_command c-agent +value=8 -> value=4 .*user:ci-test" >/dev/null ||
	fail "history executed row: $out"
"${CTL[@]}" --json history --limit 50 | jq -e '[.events[].event.state] | index("rolled_back") != null' \
	>/dev/null || fail "history --json"
pass "bearmonctl history shows before/after and who approved"
kill "$CPID" "$PYPID" 2>/dev/null || true
wait "$CPID" 2>/dev/null || true
wait "$PYPID" 2>/dev/null || true
stop_daemon
