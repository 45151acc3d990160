# SPDX-License-Identifier: Apache-2.0
# The real daemon: plugins as several named instances, the JSON API, the
# scheduler (aligned ticks), self-metrics on the bus, clean shutdown.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" \
	'interval = "1s";' \
	'self_metrics_interval = "1s";' \
	'up_a = { plugin = "collector/uptime"; labels = { role = "a"; }; };' \
	'up_b = { plugin = "collector/uptime"; labels = { role = "b"; }; idle = false; interval = "500ms"; };' \
	'watch = { plugin = "collector/testgen"; series = 3; subscribe = "metric"; on_loop = true; timer = "100ms"; route = "/api/bearmon/v1/testgen"; };'
start_daemon "$T/bearmon.conf"

st=$(api /api/bearmon/v1/status)
[ "$(echo "$st" | jget .instances.running)" = 3 ] || fail "3 instances should run: $st"
[ "$(echo "$st" | jget .abi_major)" = 1 ] || fail "abi in status"
pass "status lists 3 running instances"

pl=$(api /api/bearmon/v1/plugins)
[ "$(echo "$pl" | jget '[.plugins[] | select(.plugin == "uptime")] | length')" = 2 ] || fail "two uptime instances: $pl"
[ "$(echo "$pl" | jget '.plugins[] | select(.instance == "up_b") | .interval_ms')" = 500 ] || fail "interval override"
pass "the same plugin runs as two named instances"

sleep 2.2
pl=$(api /api/bearmon/v1/plugins)
c=$(echo "$pl" | jget '.plugins[] | select(.instance == "up_b") | .collections')
[ "$c" -ge 3 ] || fail "up_b (500ms) collected only $c times in 2.2 s"
tg=$(api /api/bearmon/v1/testgen)
[ "$(echo "$tg" | jget .samples)" -gt 0 ] || fail "subscriber saw no samples: $tg"
[ "$(echo "$tg" | jget .timer_ticks)" -ge 10 ] || fail "main-loop timer did not tick: $tg"
# 3 instances up + RSS per self-metrics round (1 s)
[ "$(echo "$tg" | jget .self_samples)" -ge 4 ] || fail "self-metrics not seen on the bus: $tg"
pass "collections run, an on_loop subscriber decodes the metric events, timers tick ($tg)"

# self-metrics are metric events like any collector's: the subscriber sees
# the core's batch with its series, counted in the published topic stats
st=$(api /api/bearmon/v1/status)
pubs=$(echo "$st" | jget '.bus.published.metric')
[ "$pubs" -ge 6 ] || fail "metric events published: $pubs"
deliv=$(echo "$st" | jget '.bus.subscriptions[] | select(.subscriber == "watch") | .delivered')
[ "$deliv" -ge 1 ] || fail "delivered to watch: $deliv"
pass "bus counters exported ($pubs published)"

# a route that takes its connection over (protocol upgrades) answers on
# the socket itself; the server writes nothing of its own, and goes on
for _ in 1 2 3; do
	[ "$(curl -s "$URL/api/bearmon/v1/testgen?takeover=1")" = "taken over" ] || fail "takeover"
done
curl -s -D - -o /dev/null "$URL/api/bearmon/v1/testgen?takeover=1" | head -n 1 | grep -q '200 OK' ||
	fail "takeover: the server wrote a status line of its own"
api /api/bearmon/v1/status >/dev/null || fail "server unwell after takeovers"
pass "a route can take its connection over"

curl -s -o /dev/null -w '%{http_code}' "$URL/api/bearmon/v1/nope" | grep -q 404 || fail "unknown route must 404"
curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/api/bearmon/v1/status" | grep -q 405 || fail "POST status must 405"
[ "$(curl -s "$URL/api/v1/query?query=1%2B1" | jget '.data.result[1]')" = 2 ] || fail "/api/v1/query answers PromQL"
pass "HTTP errors are JSON with the right status"

stop_daemon
expect_log "started (${PLUGINS}/bm_collector_uptime.so"
expect_log "SIGTERM: shutting down"
