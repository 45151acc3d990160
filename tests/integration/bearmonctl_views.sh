# SPDX-License-Identifier: Apache-2.0
# bearmonctl's read-only views against the real daemon: series, query,
# agents, anomalies, recommendations, actions, events and top (tables for
# people, --json for scripts, top --once and the live view in a
# pseudo-terminal), with testgen publishing an anomaly, an alert and an
# agent event every collection, the host collectors, the alert rule engine
# and the Python example agent; bad arguments exit 2, a daemon without
# the query API gets a clear error.
. "$(dirname "$0")/lib.sh"

PY_AGENT="$BM_SOURCE_DIR/sdk/python/example_agent.py"
PYTHON=/usr/bin/python3 # Debian's, which has python3-msgpack
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
LIMIT=30
[ "${BM_SANITIZE:-OFF}" = ON ] && LIMIT=90
APID=""
stop_agent() {
	if [ -n "$APID" ]; then kill "$APID" 2>/dev/null || true; fi
	cleanup
}
trap stop_agent EXIT

for p in cpu memory load pressure diskstats netdev processes agent; do
	[ -f "$BM_BUILD/plugins/bm_collector_$p.so" ] || fail "collector/$p is not built"
done
[ -f "$BM_BUILD/plugins/bm_analyzer_alerts.so" ] || fail "analyzer/alerts is not built"

conf "$T/bearmon.conf" 'interval = "500ms"; self_metrics_interval = "1s";' \
	'gen = { plugin = "collector/testgen"; series = 3; events = true; };' \
	'cpu = { plugin = "collector/cpu"; };' 'memory = { plugin = "collector/memory"; };' \
	'load = { plugin = "collector/load"; };' 'pressure = { plugin = "collector/pressure"; };' \
	'diskstats = { plugin = "collector/diskstats"; };' 'netdev = { plugin = "collector/netdev"; };' \
	'processes = { plugin = "collector/processes"; };' \
	'agents = { plugin = "collector/agent"; interval = "1s"; };' \
	'alerts = { plugin = "analyzer/alerts"; rules = ( { name = "ViewsTest"; id = "views.test";' \
	'  metric = "testgen_value"; condition = "gt"; threshold = -1.0; } ); };'
sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$PLUGINS\", \"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"
CTL=("$BEARMONCTL" -c "$T/bearmon.conf")

# poll CMD...: retry every 0.2 s until it succeeds or LIMIT seconds pass
poll() {
	local deadline=$(($(date +%s) + LIMIT))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
# try ARGS...: bearmonctl's stdout into $out, its exit status returned
try() { out=$("${CTL[@]}" "$@" 2>"$T/ctl.err"); }
# run ARGS...: the same, failing the test on a non-zero exit
run() { try "$@" || fail "bearmonctl $* exited $?: $(cat "$T/ctl.err")"; }
# has REGEX: a line of $out matches; count REGEX: how many do
has() { grep -qE -- "$1" <<<"$out"; }
count() { grep -cE -- "$1" <<<"$out" || true; }
# json JQ-FILTER: $out passes the filter
json() { jq -e "$@" <<<"$out" >/dev/null; }

wait_for test -S "$T/data/agent.sock"
"$PYTHON" "$PY_AGENT" --address "unix:$T/data/agent.sock" --agent-id py-agent \
	--seconds 600 >"$T/py.out" 2>&1 &
APID=$!

# --- existing commands keep --json -----------------------------------------
run --json status
json '.status == "ok" and .instances.total == 10' || fail "status --json: $out"
run plugins --json
json '[.plugins[].instance] | index("gen") != null' || fail "plugins --json: $out"
pass "status and plugins have --json"

# --- series ----------------------------------------------------------------
three_series() { try --json series testgen_value && json '.series | length == 3'; }
poll three_series || fail "series --json: $out"
run series testgen_value
head -1 <<<"$out" | grep -qE '^ *ID +SERIES$' || fail "series header: $out"
[ "$(count '^ *[0-9]+ +testgen_value\{instance="gen",series="[012]"\}$')" = 3 ] || fail "series rows: $out"
run series testgen_value series=1
[ "$(wc -l <<<"$out")" = 2 ] && has 'series="1"' || fail "series LABEL=VALUE: $out"
run series '/testgen_.*/' instance=gen
has 'series="2"' || fail "series /REGEX/: $out"
run series
has '^ *[0-9]+ +testgen_value\{instance="gen",series="0"\}$' || fail "series (every series)"
run series no_such_metric
[ "$out" = "(no series match)" ] || fail "series without a match: $out"
pass "series: NAME, /REGEX/, LABEL=VALUE, every series, --json"

# --- query -----------------------------------------------------------------
three_now() { try --json query 'sum(testgen_value)' && json '.data.result[0].value[1] == "3"'; }
poll three_now || fail "query --json: $out"
run query 'testgen_value{series="2"}' --time now
has '^SERIES +VALUE$' && has '^testgen_value\{instance="gen", series="2"\} +2$' || fail "query: $out"
run query 'sum(testgen_value)' --time "$(date +%s.%3N)"
has '^\{\} +3$' || fail "query --time SECONDS: $out"
run query 'sum(testgen_value)' --time "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)"
has '^\{\} +3$' || fail "query --time RFC 3339: $out"
run query '1 + 1'
[ "$out" = 2 ] || fail "scalar: $out"
# a range of 2 s every 500 ms: the series on its first row, then a row a point
range_rows() {
	try query 'testgen_value{series="1"}' --start now-2s --end now --step 500ms &&
		has '^SERIES +TIME +VALUE$' &&
		has '^testgen_value\{instance="gen", series="1"\} +[0-9-]{10} [0-9:]{8}(\.[0-9]{3})? +1$' &&
		has '^ +[0-9-]{10} [0-9:]{8}\.[0-9]{3} +1$' &&
		[ "$(count '^ +[0-9-]{10} [0-9:]{8}(\.[0-9]{3})? +1$')" -ge 3 ]
}
poll range_rows || fail "range: $out"
run --json query 'testgen_value{series="1"}' --start -2s --step 1s
json '.data.resultType == "matrix" and (.data.result[0].values | length) >= 2' || fail "range --json: $out"
rc=0
try query 'sum(' || rc=$?
[ "$rc" = 1 ] && grep -q 'HTTP 400: bad_data: .*parse error' "$T/ctl.err" ||
	fail "bad PromQL: rc $rc $(cat "$T/ctl.err")"
pass "query: instant (table, --json, --time), range, scalar, a parse error exits 1"

# --- events ------------------------------------------------------------------
run anomalies --limit 2
head -1 <<<"$out" | grep -qE '^TIME +SERIES +VALUE +EXPECTED +LOWER +UPPER +SCORE +DETECTOR +REASON$' ||
	fail "anomalies header: $out"
[ "$(count '^[0-9-]{10} [0-9:]{8} +testgen_value\{series="0"\} +42 +1 +0 +2 +0\.97 +testgen +café "quoted"$')" = 2 ] ||
	fail "anomalies rows: $out"
# --since 3s: at least one event, every one in the window, fewer than in
# the last hour (once the daemon has run longer than 3 s)
since_window() {
	local since all
	since=$(($(date +%s%3N) - 4000))
	try anomalies --since 1h --limit 10000 --json || return 1
	all=$(jq '.events | length' <<<"$out")
	try anomalies --since 3s --limit 10000 --json &&
		json --argjson since "$since" --argjson all "$all" \
			'(.events | length) >= 1 and (.events | length) < $all and all(.events[]; .ts_ms >= $since)'
}
poll since_window || fail "anomalies --since: $out"
run anomalies --since 1h --limit 3 --json
json '.events | length == 3' || fail "anomalies --limit: $out"
run events alert --limit 1
has '^[0-9-]{10} [0-9:]{8} +TestgenHigh +firing +warning +42 +00ff +alertname=TestgenHigh, severity=warning$' ||
	fail "events alert: $out"
run events anomaly --limit 1
has 'testgen_value\{series="0"\}' || fail "events anomaly: $out"
run events trend
[ "$out" = "(no trend events stored)" ] || fail "events trend: $out"
for cmd in recommendations actions; do
	run "$cmd"
	[ "$out" = "(no ${cmd%s} events stored)" ] || fail "$cmd: $out"
	run "$cmd" --json
	json '.status == "ok" and .events == []' || fail "$cmd --json: $out"
done
pass "anomalies, recommendations, actions, events: tables, --since, --limit, --json"

# --- agents ------------------------------------------------------------------
run agents
has '^tg-agent +tester +1234 +connected +[0-9.]+(ms|s|m) ago +- +- +-$' || fail "agents (registry only): $out"
run --json agents
json '.agents[] | select(.agent_id == "tg-agent") | .pid == 1234' || fail "agents --json: $out"
py_figures() {
	try agents && has '^py-agent +example +[0-9]+ +connected +.* ago +[0-9.]+ +[0-9.]+(ms|s) +[0-9.]+%$'
}
poll py_figures || fail "agents with figures: $out $(cat "$T/py.out")"
pass "agents: registry with throughput, p95 and error ratio from agent_* series"

# --- top --once ----------------------------------------------------------------
# A rate is a number where the host has such a device (a disk the
# collector keeps, an interface but lo), else "-".
rate='-'
run series node_disk_read_bytes_total
has 'device=' && rate='[0-9.]+ [KMGT]?i?B/s'
DISK="^Disk +read $rate +write $rate\$"
rate='-'
run series node_network_receive_bytes_total
grep -v 'device="lo"' <<<"$out" | grep -q 'device=' && rate='[0-9.]+ [KMGT]?i?B/s'
NET="^Network +receive $rate +transmit $rate\$"
frame_ready() {
	try top --once &&
		has '^CPU +[0-9.]+% busy +load [0-9.]+ [0-9.]+ [0-9.]+$' &&
		has '^ *[0-9]+ +[^ ]+ +[0-9.]+% +[0-9.]+ [KMGT]?i?B +[a-z]+ +' &&
		has "$DISK" && has "$NET" && has '^py-agent .* [0-9.]+%$'
}
poll frame_ready || fail "top --once: $out"
head -1 <<<"$out" | grep -qE "^bearmon top +$URL +[0-9-]{10} [0-9:]{8}$" || fail "top title: $out"
has '^Memory +[0-9.]+ [KMGT]iB used +[0-9.]+ [KMGT]iB available +of [0-9.]+ [KMGT]iB$' || fail "top memory: $out"
has '^Pressure +some, 10s:  cpu ' || fail "top pressure: $out"
has '^Alerts +[1-9][0-9]* firing +[0-9]+ pending$' || fail "top alerts: $out"
has '^ +PID +USER +CPU +RSS +GROUP +COMMAND$' || fail "top processes: $out"
has '^tg-agent +tester +1234 +connected' || fail "top agents: $out"
has '^[0-9-]{10} [0-9:]{8} +anomaly +testgen_value\{series="0"\} +score 0\.97' || fail "top findings: $out"
! grep -q $'\033' <<<"$out" || fail "top --once wrote escape codes"
pass "top --once: host, pressure, disk, network, alerts, processes, agents, findings, no escapes"

# --- top, live, in a pseudo-terminal: q and Ctrl-C quit and restore it -----------
# keys KEY: press KEY once a frame is on the screen (the terminal is raw by
# then: a key pressed earlier would be flushed), then keep the input open
keys() {
	for _ in $(seq $((LIMIT * 5))); do
		grep -q 'q quits' "$T/tty.out" 2>/dev/null && break
		sleep 0.2
	done
	printf '%b' "$1"
	sleep 2
}
# Ctrl-C signals the terminal's whole foreground group: the shell around
# bearmonctl ignores it (bearmonctl installs its own handler), or whether
# it outlives bearmonctl would depend on which shell script(1) started.
for key in q '\003'; do
	rc=0
	rm -f "$T/tty.out"
	timeout $((LIMIT + 10)) script -qfec \
		"trap '' INT; stty cols 120 rows 40; ${CTL[*]} top --interval 200ms; echo EXIT=\$?; stty -a" \
		"$T/tty.out" < <(keys "$key") >/dev/null 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "live top with key $key: rc $rc: $(tail -c 500 "$T/tty.out" | cat -v)"
	grep -q $'\033\\[?1049h' "$T/tty.out" || fail "no alternate screen"
	grep -q 'bearmon top .* every 200ms, q quits' "$T/tty.out" || fail "no frame: $(cat -v "$T/tty.out")"
	grep -qa $'\033\\[?25h\033\\[?1049lEXIT=0' "$T/tty.out" || fail "terminal not restored: $(tail -c 300 "$T/tty.out" | cat -v)"
	grep -qaE '(^| )icanon .*(^| )echo ' "$T/tty.out" || fail "line mode not restored: $(tail -c 600 "$T/tty.out")"
done
pass "live top: frames on the alternate screen; q and Ctrl-C quit and restore the terminal"

# --- bad arguments exit 2 ---------------------------------------------------------
args=()
while read -r line; do
	eval "args=($line)"
	rc=0
	try "${args[@]}" || rc=$?
	[ "$rc" = 2 ] && grep -q '^bearmonctl: ' "$T/ctl.err" || fail "bearmonctl $line: rc $rc: $(cat "$T/ctl.err")"
done <<'EOF'
series 'bad-label=x'
series testgen_value stray
series testgen_value limit=1
query
query up --time yesterday
query up --step 1s
query up --time now --start now-1h
query up --start now --end now-1h
anomalies --limit 0
anomalies --since soon
events
events nosuchtopic
events metric
agents extra
series --since 1h
top --json
top --interval 10ms
top
EOF
pass "bad arguments: a clear error and exit 2"

kill "$APID" 2>/dev/null || true
wait "$APID" 2>/dev/null || true
APID=""
stop_daemon
rc=0
try series || rc=$?
[ "$rc" = 3 ] && grep -q 'cannot reach bearmond' "$T/ctl.err" || fail "unreachable daemon: rc $rc"

# --- a daemon without the store has no query API --------------------------------
conf "$T/nostore.conf" 'store = { enabled = false; };'
start_daemon "$T/nostore.conf"
CTL=("$BEARMONCTL" -c "$T/nostore.conf")
for cmd in query top; do
	rc=0
	if [ "$cmd" = query ]; then try query up || rc=$?; else try top --once || rc=$?; fi
	[ "$rc" = 1 ] && grep -q 'this bearmond has no PromQL API' "$T/ctl.err" ||
		fail "$cmd without PromQL: rc $rc: $(cat "$T/ctl.err")"
done
rc=0
try anomalies || rc=$?
[ "$rc" = 1 ] && grep -q 'is its store enabled' "$T/ctl.err" || fail "anomalies without a store: $(cat "$T/ctl.err")"
pass "without the query API: a clear error and exit 1; unreachable: exit 3"
stop_daemon
