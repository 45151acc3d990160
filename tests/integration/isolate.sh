# SPDX-License-Identifier: Apache-2.0
# isolate = true runs a collector in a plugin-host child process: its
# samples reach the store as usual; when it crashes, or outgrows
# isolate_memory_limit, the child is replaced with backoff while bearmond
# and the other instances never notice; stop leaves no child behind.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" 'interval = "200ms";' 'isolate_memory_limit = "300MiB";' \
	'crashy = { plugin = "collector/testgen"; isolate = true; series = 2; crash_after = 4; };' \
	'leaky = { plugin = "collector/testgen"; isolate = true; series = 1; grow = "40MiB"; };' \
	'fine = { plugin = "collector/testgen"; series = 2; };'
start_daemon "$T/bearmon.conf"
hosts() { pgrep -f -- "--plugin-host .* -c $T/bearmon.conf" | wc -l; }
[ "$(hosts)" = 2 ] || fail "expected 2 plugin hosts, found $(hosts)"
known() { api "/api/bearmon/v1/series?name=testgen_value&instance=crashy&series=1" | jget '.series[0].id'; }
wait_for known
id=$(known)
pass "isolated collectors run in their own processes and publish as usual"

crashed() { grep -q '\[collector:testgen:crashy\] plugin host [0-9]* died during a collection: killed by signal 6' "$T/log"; }
wait_for crashed
restarted() { grep -q '\[collector:testgen:crashy\] plugin host [0-9]* restarted' "$T/log"; }
wait_for restarted
n1=$(api "/api/bearmon/v1/samples?id=$id" | jget '[.samples[][1] | select(. != "NaN")] | length')
sleep 1.5
n2=$(api "/api/bearmon/v1/samples?id=$id" | jget '[.samples[][1] | select(. != "NaN")] | length')
[ "$n2" -gt "$n1" ] || fail "no samples after the restart ($n1 -> $n2)"
pass "a crashing plugin's host is restarted and its samples go on ($n1 -> $n2)"

outgrew() { grep -q '\[collector:testgen:leaky\] plugin host [0-9]* outgrew isolate_memory_limit' "$T/log"; }
wait_for outgrew
pass "a leaking plugin's host is replaced when it passes isolate_memory_limit"

f1=$(api /api/bearmon/v1/plugins | jget '.plugins[] | select(.instance == "fine") | .collections')
sleep 1
f2=$(api /api/bearmon/v1/plugins | jget '.plugins[] | select(.instance == "fine") | .collections')
[ "$f2" -ge $((f1 + 3)) ] || fail "the in-process instance was disturbed ($f1 -> $f2)"
pass "the other instance collected throughout ($f1 -> $f2)"

stop_daemon
[ "$(hosts)" = 0 ] || fail "plugin hosts left after stop: $(hosts)"
pass "no plugin host outlives bearmond"
