# SPDX-License-Identifier: Apache-2.0
# A collector stuck in collect() (as on a hung NFS mount): the watchdog
# fails that instance after watchdog_timeout and ends its series, the
# others go on collecting, and shutdown abandons the wedged thread instead
# of hanging.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" 'interval = "300ms";' 'watchdog_timeout = "1500ms";' \
	'stuck = { plugin = "collector/testgen"; series = 2; sleep = "10m"; };' \
	'fine = { plugin = "collector/testgen"; series = 2; };'
start_daemon "$T/bearmon.conf"
failed() { api /api/bearmon/v1/plugins | jq -e '.plugins[] | select(.instance == "stuck") | .state == "failed"'; }
wait_for failed
p=$(api /api/bearmon/v1/plugins)
echo "$p" | jget '.plugins[] | select(.instance == "stuck") | .error' | grep -q watchdog || fail "error: $p"
expect_log "[collector:testgen:stuck] collection stuck for more than 1500 ms"
c1=$(echo "$p" | jget '.plugins[] | select(.instance == "fine") | .collections')
sleep 1
c2=$(api /api/bearmon/v1/plugins | jget '.plugins[] | select(.instance == "fine") | .collections')
[ "$c2" -gt "$c1" ] || fail "the other instance stopped collecting ($c1 -> $c2)"
pass "a stuck collection fails its instance; the others go on ($c1 -> $c2 collections)"

stop_daemon
expect_log "abandoned without stop or fini"
pass "shutdown abandons the wedged thread instead of waiting for it"

# a subscriber stuck in its callback with the block policy: once the
# watchdog sees it, publishers stop waiting on it, and stop abandons it
conf "$T/bearmon.conf" 'interval = "200ms";' 'watchdog_timeout = "1500ms";' \
	'bus = { queue_len = 16; block_timeout = "500ms"; };' \
	'sink = { plugin = "collector/testgen"; series = 0; subscribe = "metric"; block = true; callback_sleep = "10m"; };' \
	'fine = { plugin = "collector/testgen"; series = 2; };'
: >"$T/log"
start_daemon "$T/bearmon.conf"
marked() { grep -q 'a callback of sink has run for' "$T/log"; }
wait_for marked
c1=$(api /api/bearmon/v1/plugins | jget '.plugins[] | select(.instance == "fine") | .collections')
sleep 2
c2=$(api /api/bearmon/v1/plugins | jget '.plugins[] | select(.instance == "fine") | .collections')
[ $((c2 - c1)) -ge 7 ] || fail "publisher still held by the stuck subscriber: $c1 -> $c2 collections in 2 s"
pass "a stuck block-policy subscriber no longer holds publishers ($c1 -> $c2 in 2 s)"
stop_daemon
expect_log "[collector:testgen:sink] a callback still running at stop: abandoned"
pass "shutdown abandons the stuck callback"
