# SPDX-License-Identifier: Apache-2.0
# collector/statsd in the real daemon: StatsD lines over UDP and TCP reach
# the store as Prometheus series; every kind of bad input (malformed lines,
# unknown types, a huge line, invalid UTF-8, an empty datagram, events, a
# TCP client that says nothing, one that leaves mid-line, 10,000 clients at
# once, more series than max_series) is counted and dropped, logged at most
# once a minute per reason, and the daemon keeps serving.
. "$(dirname "$0")/lib.sh"

PLUGINS="$BM_BUILD/plugins"
[ -f "$PLUGINS/bm_collector_statsd.so" ] || fail "no $PLUGINS/bm_collector_statsd.so"
PY=/usr/bin/python3
[ -x "$PY" ] || fail "python3 is needed"

CLIENTS=10000
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((CLIENTS + 256)) ]; then
	CLIENTS=$((hard - 256))
	echo "note: RLIMIT_NOFILE hard limit $hard: $CLIENTS clients at once instead of 10,000"
fi
ulimit -n $((CLIENTS + 256))

UDP=$((BM_PORT + 1))
TCP=$((BM_PORT + 2))
conf "$T/bearmon.conf" 'interval = "1s";' 'self_metrics_interval = "500ms";' \
	"statsd = { plugin = \"collector/statsd\"; udp_listen = \"127.0.0.1:$UDP\";
	  tcp_listen = \"127.0.0.1:$TCP\"; tcp_idle_timeout = \"2s\"; max_line_len = \"1KiB\";
	  tcp_max_clients = $((CLIENTS + 50)); max_series = 60; };"
mkdir -p "$T/conf.d"
start_daemon "$T/bearmon.conf"

# udp TEXT...: one datagram per argument (printf escapes, so \n and \xff work)
udp() {
	$PY - "$UDP" "$@" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for text in sys.argv[2:]:
    s.sendto(text.encode("latin-1").decode("unicode_escape").encode("latin-1"), ("127.0.0.1", int(sys.argv[1])))
EOF
}
# val SERIES: its newest value in the store ("none" when absent)
val() {
	local id
	id=$(api "/api/bearmon/v1/series?name=${1%%\{*}" |
		jq -r --arg s "$1" '.series[] | select(.series == $s) | .id' | head -n 1)
	[ -n "$id" ] || { echo none; return; }
	api "/api/bearmon/v1/samples?id=$id" | jq -r '.samples[-1][1]'
}
self() { val "bearmon_statsd_$1{instance=\"statsd\",plugin=\"statsd\"}"; }
# wait_val SERIES WANT: within 60 s (sanitizer builds are slow)
wait_val() {
	for _ in $(seq 300); do [ "$(val "$1")" = "$2" ] && return 0; sleep 0.2; done
	fail "$1 = $(val "$1"), want $2"
}
# wait_self NAME MIN: a self-metric reaches MIN within 60 s
wait_self() {
	local v
	for _ in $(seq 300); do
		v=$(self "$1")
		[ "$v" != none ] && [ "${v%.*}" -ge "$2" ] && return 0
		sleep 0.2
	done
	fail "bearmon_statsd_$1 = $(self "$1"), want >= $2"
}

# --- good lines -------------------------------------------------------------
udp 'agent.tasks:1|c|#agent:a1,outcome:ok\nagent.tasks:3|c|@0.5|#agent:a1,outcome:ok' \
	'agent.queue:7|g\nagent.queue:+2|g' 'agent.users:u1|s\nagent.users:u2|s\nagent.users:u1|s' \
	'agent.latency:10|ms\nagent.latency:20|ms\nagent.latency:30|ms'
wait_val 'agent_tasks_total{agent="a1",outcome="ok"}' 7
wait_val 'agent_queue{}' 9
wait_val 'agent_latency_seconds_count{}' 3
wait_val 'agent_latency_seconds{quantile="1"}' 0.03
wait_val 'statsd_listener_up{listener="127.0.0.1:'"$UDP"'",protocol="udp"}' 1
pass "counters (sample rates, tags), gauges (deltas), timers reach the store"

# --- bad UDP input ----------------------------------------------------------
huge=$(head -c 3000 /dev/zero | tr '\0' x)
udp 'garbage\nfoo:1|zz\nneg:-1|c\nbar:x|c' "$huge:1|c" 'bad\xff\xfe:1|c' '' \
	'_e{5,4}:title|text\n_sc|check|0' "$(printf 'junk%.0s\\n' $(seq 100))"
wait_self bad_lines_syntax_total 101
wait_self bad_lines_unknown_type_total 1
wait_self bad_lines_negative_counter_total 1
wait_self bad_lines_value_total 1
wait_self bad_lines_too_long_total 1
wait_self bad_lines_invalid_utf8_total 1
wait_self udp_empty_datagrams_total 1
wait_self unsupported_lines_total 2
n=$(grep -c 'dropped a line (not name:value|type)' "$T/log" || true)
[ "$n" = 1 ] || fail "101 malformed lines logged $n times, want once (rate limit)"
expect_log 'bearmon_statsd_bad_lines_invalid_utf8_total counts them all'
pass "malformed, unknown type, negative, huge, invalid UTF-8, empty, events: counted, logged once"

# --- TCP: silent, mid-line, 10,000 at once -------------------------------------
$PY - "$TCP" "$CLIENTS" <<'EOF' || fail "tcp clients"
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
silent = socket.create_connection(("127.0.0.1", port))      # says nothing
half = socket.create_connection(("127.0.0.1", port))
half.sendall(b"tcp.half:5|c\ntcp.half:7")                      # then leaves mid-line
half.close()
# in parallel: a dropped SYN costs a connect a second or more, and 64 of
# those waits overlap
import concurrent.futures
with concurrent.futures.ThreadPoolExecutor(64) as pool:
    storm = list(pool.map(lambda _: socket.create_connection(("127.0.0.1", port), timeout=60),
                          range(n)))
for s in storm:
    s.sendall(b"tcp.storm:1|c\n")
for s in storm:
    s.close()
# the silent one is closed by the daemon after tcp_idle_timeout (2 s)
silent.settimeout(60)
if silent.recv(1) != b"":
    sys.exit("the silent client got data instead of a close")
EOF
wait_val 'tcp_storm_total{}' "$CLIENTS"
wait_val 'tcp_half_total{}' 5
wait_self bad_lines_incomplete_total 1
wait_self tcp_idle_closed_total 1
wait_self tcp_connections_total $((CLIENTS + 2))
pass "$CLIENTS tcp clients at once, a silent one closed, one that left mid-line counted"

# --- cardinality ------------------------------------------------------------
lines=""
for i in $(seq 200); do lines="${lines}flood.s$i:1|c\\n"; done
udp "$lines"
wait_self dropped_series_lines_total 144
# max_series is per listener: udp had 4 series, so 56 of the 200 got in
flood() { api "/api/bearmon/v1/series?name_re=flood_s.*" | jq '.series | length'; }
flood_is() { [ "$(flood)" = "$1" ]; }
wait_for flood_is 56
sleep 1.5 # and no more at the next flushes
[ "$(flood)" = 56 ] || fail "$(flood) flood series in the store, want 56"
pass "past max_series new series are dropped and counted"

# --- still serving ------------------------------------------------------------
udp 'agent.tasks:1|c|#agent:a1,outcome:ok'
wait_val 'agent_tasks_total{agent="a1",outcome="ok"}' 8
api /api/bearmon/v1/plugins | jq -e '.plugins[] | select(.instance == "statsd") | .state == "running"' >/dev/null ||
	fail "the statsd instance is not running"
pass "after all of it the daemon keeps serving"
stop_daemon
