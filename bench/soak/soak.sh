#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The soak (issue 12): bearmond with the shipped conf.d (every default
# collector, analyzer and notifier) under steady load for SECONDS: the
# native agent protocol at RATE samples/s (reliable transport), StatsD
# lines at a tenth of that when the statsd plugin is built, HTTP queries
# (the store, the dashboard's snapshot) every second, two live dashboard
# WebSocket clients (npm's ws) and a config reload every RELOAD seconds. RSS and open fds are sampled every 10 s and judged
# over the second half; at the end every native sample must be in the
# store and nothing logged at err.
#
#   soak.sh BUILD_DIR SECONDS RATE RELOAD
#
# Prints BENCH soak lines (rss_growth_pct, fd_growth, lost_samples,
# errors_logged, dashboard_max_gap_s, plus the series of RSS readings)
# and exits 0; judging
# them is the caller's (bench/soak/targets, tests/slow/soak.sh).
set -euo pipefail
BUILD=$1 SECONDS_=$2 RATE=$3 RELOAD=$4
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/bm-soak-XXXXXX)
DPID="" LPID="" WPID=""
cleanup() {
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null || true
	[ -n "$WPID" ] && kill "$WPID" 2>/dev/null || true
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
say() { echo "soak: $*" >&2; }

LOAD=$WORK/native_load
# shellcheck disable=SC2046 # pkg-config prints several words
cc -O2 -o "$LOAD" "$ROOT/bench/native/native_load.c" $(pkg-config --cflags --libs msgpack)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
STATSD_PORT=$((PORT + 1))
# the shipped instances, on this run's own ports and data dir
mkdir -p "$WORK/conf.d"
cp "$ROOT"/conf/conf.d/*.conf "$WORK/conf.d/"
have_statsd=false
SETS=()
# the statsd instance of the shipped conf.d, on this run's own port
statsd_inst=$(grep -l 'collector/statsd' "$WORK"/conf.d/*.conf 2>/dev/null | head -n 1 |
	xargs -r sed -n 's/^\([a-z0-9_]*\)[[:space:]]*=[[:space:]]*{.*/\1/p' | head -n 1)
if [ -f "$BUILD/plugins/bm_collector_statsd.so" ] && [ -n "$statsd_inst" ]; then
	have_statsd=true
	SETS+=(--set "$statsd_inst.udp_listen=127.0.0.1:$STATSD_PORT")
fi
{
	echo "data_dir = \"$WORK/data\";"
	echo "plugin_dirs = [\"$BUILD/plugins\"];"
	echo "include_dir = \"$WORK/conf.d\";"
	echo "interval = \"1s\";"
	echo "http = { listen = \"127.0.0.1:$PORT\"; };"
} >"$WORK/bearmon.conf"
"$BUILD/core/bearmond" -c "$WORK/bearmon.conf" "${SETS[@]}" >"$WORK/log" 2>&1 &
DPID=$!
URL=http://127.0.0.1:$PORT
for _ in $(seq 100); do curl -sf "$URL/api/bearmon/v1/status" >/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do [ -S "$WORK/data/agent.sock" ] && break; sleep 0.1; done
say "bearmond $DPID on $PORT, ${SECONDS_} s at $RATE samples/s (statsd: $have_statsd)"

"$LOAD" -s "$WORK/data/agent.sock" -d "$SECONDS_" -b 500 -n 1000 -r "$RATE" >"$WORK/load.out" &
LPID=$!
# Two dashboard clients subscribed over the WebSocket for the whole run
# (through every reload: unchanged instances keep running), each told the
# newest node_load1 every second; they report the longest wait for one.
if command -v node >/dev/null && MODS=$("$ROOT/tests/browser/setup.sh" "$BUILD" 2>"$WORK/npm.err"); then
	BM_NODE_MODULES=$MODS node "$ROOT/tests/browser/wsclient.mjs" clients "ws://127.0.0.1:$PORT/api/bearmon/v1/ws" \
		2 "$((SECONDS_ - 5))" node_load1 >"$WORK/ws.json" 2>"$WORK/ws.log" &
	WPID=$!
else
	say "no dashboard clients: node or its ws module is missing ($(tail -n 1 "$WORK/npm.err" 2>/dev/null))"
fi
statsd_tick() { # a tenth of the rate, in 1,400-byte datagrams, a second's worth
	$have_statsd || return 0
	python3 - "$STATSD_PORT" "$((RATE / 10))" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
lines = [b"soak.req.%d:1|c|#route:r%d" % (i % 50, i % 5) for i in range(n)]
buf = b""
for l in lines:
    if len(buf) + len(l) + 1 > 1400:
        s.sendto(buf, ("127.0.0.1", port)); buf = b""
    buf += (b"\n" if buf else b"") + l
if buf:
    s.sendto(buf, ("127.0.0.1", port))
PY
}
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$DPID/status"; }
# descriptors other than the processes collector's cache of open
# /proc/PID/stat files, which follows the machine's process population
# (ls fails when a descriptor closes while it lists them: not an error)
fds_now() { { ls -l "/proc/$DPID/fd" 2>/dev/null || true; } | awk 'NR > 1 && $NF !~ /^\/proc\//' | wc -l; }
# the least of three readings 200 ms apart: a file that a collector thread
# has open for the moment of one reading is not a descriptor kept
fds() {
	local a b c
	a=$(fds_now) && sleep 0.2 && b=$(fds_now) && sleep 0.2 && c=$(fds_now)
	printf '%s\n' "$a" "$b" "$c" | sort -n | head -n 1
}
t0=$(date +%s)
# Growth is judged over the second half of the run: what is bounded by
# design but fills with time has filled by then (the store keeps up to a
# rollup block per series and tier: half an hour of 1 min buckets), so a
# rise in the second half is a leak. Readings are printed from 10 s on.
warm=$((SECONDS_ / 2))
rss0="" fd0="" readings=() query_failures=0 reload_failures=0
next_reload=$((t0 + RELOAD)) next_sample=$((t0 + 10))
while kill -0 "$LPID" 2>/dev/null; do
	kill -0 "$DPID" 2>/dev/null || { say "bearmond died: $(tail -n 20 "$WORK/log")"; exit 1; }
	now=$(date +%s)
	# a query that fails is counted, not fatal: the figures say what broke
	curl -sf "$URL/api/bearmon/v1/series?name_re=node_cpu_.*" >/dev/null || query_failures=$((query_failures + 1))
	# what the dashboard page asks for every second
	curl -sf "$URL/api/bearmon/v1/snapshot" >/dev/null || query_failures=$((query_failures + 1))
	id=$(curl -sf "$URL/api/bearmon/v1/series?name=node_load1" | jq -r '.series[0].id // empty' || true)
	if [ -n "$id" ]; then
		curl -sf "$URL/api/bearmon/v1/range?id=$id&start=$(((now - 3600) * 1000))&step=60000" \
			>/dev/null || query_failures=$((query_failures + 1))
	fi
	statsd_tick || true
	if [ "$now" -ge "$next_reload" ]; then
		"$BUILD/core/bearmonctl" -c "$WORK/bearmon.conf" reload >/dev/null ||
			reload_failures=$((reload_failures + 1))
		next_reload=$((now + RELOAD))
	fi
	if [ "$now" -ge "$next_sample" ]; then
		r=$(rss_kib) f=$(fds)
		[ -z "$rss0" ] && [ "$now" -ge "$((t0 + warm))" ] && rss0=$r fd0=$f
		readings+=("$((now - t0)):$r")
		last_rss=$r last_fd=$f
		next_sample=$((now + 10))
	fi
	sleep 1
done
wait "$LPID" || { say "native_load failed: $(tail -n 3 "$WORK/load.out")"; exit 1; }
LPID=""
ws_gap=""
if [ -n "$WPID" ]; then
	wait "$WPID" || { say "dashboard clients failed: $(tail -n 3 "$WORK/ws.log")"; exit 1; }
	WPID=""
	ws_gap=$(jq -r '.max_gap_ms / 1000' "$WORK/ws.json")
	say "dashboard clients: $(cat "$WORK/ws.json")"
fi
sent=$(awk '$1 == "sent" { print $2 }' "$WORK/load.out")
# Stored samples, counted by the store's hourly rollups (count per bucket,
# open buckets included) rather than by exporting them: an hour at 200,000
# samples/s is 720 million samples. The store has them all once the agent
# plugin and the store queue drained.
stored_samples() {
	python3 - "$URL" "$t0" <<'PY'
import json, sys, time, urllib.request
url, t0 = sys.argv[1], int(sys.argv[2])
hour = 3600000
start = (t0 * 1000 // hour - 1) * hour
end = (int(time.time() * 1000) // hour + 2) * hour
get = lambda path: json.load(urllib.request.urlopen(url + path, timeout=30))
total = 0
for s in get("/api/bearmon/v1/series?name_re=bench_.*")["series"]:
    r = get("/api/bearmon/v1/range?id=%d&start=%d&end=%d&step=%d&agg=count" % (s["id"], start, end, hour))
    total += sum(int(p[1]) for p in r["points"])
print(total)
PY
}
stored=0
for _ in $(seq 30); do
	stored=$(stored_samples || echo 0)
	[ "$stored" -ge "$sent" ] && break
	sleep 1
done
errors=$(grep -c '^[^ ]* err ' "$WORK/log" || true)
[ "$errors" = 0 ] || grep '^[^ ]* err ' "$WORK/log" | head -n 5 >&2
kill -TERM "$DPID"
wait "$DPID" || say "bearmond exited with $?"
DPID=""
growth=$(awk -v a="${rss0:-0}" -v b="${last_rss:-0}" 'BEGIN { printf "%.1f", a ? (b - a) * 100 / a : 0 }')
# the curve for people (a BENCH line holds one number)
say "RSS readings, seconds:KiB: ${readings[*]:-none}"
echo "BENCH soak bearmon rss_readings ${#readings[@]} 1"
echo "BENCH soak bearmon rss_growth_pct $growth %"
echo "BENCH soak bearmon fd_growth $(( ${last_fd:-0} - ${fd0:-0} )) fds"
echo "BENCH soak bearmon lost_samples $((sent - stored)) 1"
echo "BENCH soak bearmon errors_logged $errors 1"
echo "BENCH soak bearmon samples_sent $sent 1"
echo "BENCH soak bearmon failed_queries $query_failures 1"
echo "BENCH soak bearmon failed_reloads $reload_failures 1"
[ -z "$ws_gap" ] || echo "BENCH soak bearmon dashboard_max_gap_s $ws_gap s"
