# SPDX-License-Identifier: Apache-2.0
# Standard events other than metric land in the store: anomalies in the
# events table, alerts in the alert history, agents in the registry; the
# JSON routes render them with the SDK's field names, survive a restart,
# and refuse bad parameters with a 400.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" 'interval = "200ms";' \
	'gen = { plugin = "collector/testgen"; series = 1; events = true; };'
start_daemon "$T/bearmon.conf"
anomalies() { api "/api/bearmon/v1/anomalies?limit=5" | jget '.events | length' | grep -q '^[1-9]'; }
wait_for anomalies
a=$(api "/api/bearmon/v1/anomalies?limit=1")
[ "$(echo "$a" | jget '.events[0].topic')" = anomaly ] || fail "topic: $a"
[ "$(echo "$a" | jget '.events[0].event.series.name')" = testgen_value ] || fail "series: $a"
[ "$(echo "$a" | jget '.events[0].event.series.labels.series')" = 0 ] || fail "labels: $a"
[ "$(echo "$a" | jget '.events[0].event.score')" = 0.96999999999999997 ] ||
	[ "$(echo "$a" | jget '.events[0].event.score')" = 0.97 ] || fail "score: $a"
[ "$(echo "$a" | jget '.events[0].event.reason')" = 'café "quoted"' ] || fail "reason: $a"
[ "$(echo "$a" | jget '.events[0].ts_ms == .events[0].event.ts_ms')" = true ] || fail "ts: $a"
pass "anomalies are stored and rendered with their field names"

two_alerts() { api "/api/bearmon/v1/alerts/history?limit=2" | jget '.events | length' | grep -q '^2$'; }
wait_for two_alerts
h=$(api "/api/bearmon/v1/alerts/history?limit=2")
[ "$(echo "$h" | jget '.events | length')" = 2 ] || fail "alert history: $h"
[ "$(echo "$h" | jget '.events[0].event.state')" = firing ] || fail "alert state: $h"
[ "$(echo "$h" | jget '.events[0].event.severity')" = warning ] || fail "severity: $h"
[ "$(echo "$h" | jget '.events[0].event.labels.alertname')" = TestgenHigh ] || fail "labels: $h"
echo "$h" | jq -e '.events[0].event | has("threshold") | not' >/dev/null ||
	[ "$(echo "$h" | jq -r '.events[0].event.threshold')" = null ] || fail "NaN threshold: $h"
[ "$(echo "$h" | jget '.events[0].ts_ms >= .events[1].ts_ms')" = true ] || fail "newest first: $h"
pass "alert transitions go to the alert history, newest first"

ag=$(api "/api/bearmon/v1/agents")
[ "$(echo "$ag" | jget '.agents | length')" = 1 ] || fail "one registry row per agent: $ag"
[ "$(echo "$ag" | jget '.agents[0].agent_id')" = tg-agent ] || fail "agent id: $ag"
[ "$(echo "$ag" | jget '.agents[0].pid')" = 1234 ] || fail "pid: $ag"
[ "$(echo "$ag" | jget '.agents[0].state')" = connected ] || fail "state: $ag"
first=$(echo "$ag" | jget '.agents[0].first_seen_ms')
pass "agent events keep one registry row per agent"

ev=$(api "/api/bearmon/v1/events?topic=anomaly&limit=3")
[ "$(echo "$ev" | jget '.events | length')" -ge 1 ] || fail "events route: $ev"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/bearmon/v1/events?topic=metric")
[ "$code" = 400 ] || fail "topic=metric gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/bearmon/v1/events")
[ "$code" = 400 ] || fail "no topic gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/bearmon/v1/anomalies?limit=0")
[ "$code" = 400 ] || fail "limit=0 gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/bearmon/v1/anomalies?since=abc")
[ "$code" = 400 ] || fail "since=abc gave $code"
pass "bad parameters get a 400"
n=$(api "/metrics" 2>/dev/null | grep -c '^bearmon_store_events_total' || true)
stop_daemon

# after a restart the history is still there and the registry row keeps its first_seen
start_daemon "$T/bearmon.conf"
h=$(api "/api/bearmon/v1/alerts/history?limit=10000")
[ "$(echo "$h" | jget '.events | length')" -ge 2 ] || fail "history lost over a restart"
wait_for anomalies
ag=$(api "/api/bearmon/v1/agents")
[ "$(echo "$ag" | jget '.agents[0].first_seen_ms')" = "$first" ] || fail "first_seen moved: $ag"
pass "history and registry survive a restart"
stop_daemon
: "$n"
