# SPDX-License-Identifier: Apache-2.0
# A collection longer than its interval: overruns counted and logged once,
# ticks not piled up, and a sibling collector keeps its own schedule.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" \
	'slow = { plugin = "collector/testgen"; interval = "200ms"; sleep = "700ms"; };' \
	'fast = { plugin = "collector/uptime"; interval = "100ms"; };' \
	'failing = { plugin = "collector/testgen"; interval = "200ms"; fail_collect = true; };'
start_daemon "$T/bearmon.conf"
sleep 2.5
pl=$(api /api/bearmon/v1/plugins)
get() { echo "$pl" | jget ".plugins[] | select(.instance == \"$1\") | .$2"; }
[ "$(get slow overruns)" -ge 3 ] || fail "overruns: $(get slow overruns)"
[ "$(get slow collections)" -le 5 ] || fail "slow collections piled up: $(get slow collections)"
[ "$(get fast collections)" -ge 15 ] || fail "fast collector stalled: $(get fast collections)"
[ "$(get failing failures)" -ge 5 ] || fail "failures not counted"
[ "$(grep -c 'collection overran' "$T/log")" = 1 ] || fail "overrun not logged exactly once"
# repeated identical failures are rate limited (5 per minute by default)
n=$(grep -c 'collection failed: input/output error: fail_collect is set' "$T/log")
[ "$n" = 5 ] || fail "failure lines not rate limited: $n"
pass "overruns counted ($(get slow overruns)), logged once; siblings unaffected; repeats rate limited"
stop_daemon
