# SPDX-License-Identifier: Apache-2.0
# SIGHUP and POST /reload: changed instances restart, unchanged ones keep
# running, removed ones stop, a bad config is rejected and the old stays.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" 'interval = "1s";' \
	'keep = { plugin = "collector/uptime"; };' \
	'change = { plugin = "collector/testgen"; series = 1; };' \
	'drop = { plugin = "collector/testgen"; };'
start_daemon "$T/bearmon.conf"
sleep 1.2
coll() { api /api/bearmon/v1/plugins | jget ".plugins[] | select(.instance == \"$1\") | .collections"; }
before=$(coll keep)

conf "$T/bearmon.conf" 'interval = "1s";' \
	'keep = { plugin = "collector/uptime"; };' \
	'change = { plugin = "collector/testgen"; series = 2; };' \
	'added = { plugin = "collector/uptime"; labels = { n = "2"; }; };'
kill -HUP "$DPID"
wait_for grep -q "config reloaded" "$T/log"
expect_log "config reloaded: 1 unchanged, 2 stopped, 2 started"
pl=$(api /api/bearmon/v1/plugins)
[ "$(echo "$pl" | jget '.plugins | length')" = 3 ] || fail "3 instances after reload: $pl"
echo "$pl" | jget '.plugins[] | select(.instance == "drop")' >/dev/null 2>&1 && fail "drop still there"
after=$(coll keep)
[ "$after" -ge "$before" ] || fail "unchanged instance restarted ($before -> $after)"
[ "$(grep -c '\[collector:uptime:keep\] started' "$T/log")" = 1 ] || fail "keep was restarted"
[ "$(grep -c '\[collector:testgen:change\] started' "$T/log")" = 2 ] || fail "change was not restarted"
pass "SIGHUP: unchanged kept, changed restarted, removed stopped, added started"

# a bad config is rejected; the running one stays in force
conf "$T/bearmon.conf" 'interval = "1s";' 'keep = { plugin = "collector/uptime"; idle = "nope"; };'
code=$(curl -s -o "$T/r.json" -w '%{http_code}' -X POST "$URL/api/bearmon/v1/reload")
[ "$code" = 422 ] || fail "bad reload answered $code"
expect_log "config reload rejected: the running config stays in force"
expect_log "option \"idle\": expected a boolean"
[ "$(api /api/bearmon/v1/plugins | jget '.plugins | length')" = 3 ] || fail "old config not in force"
[ "$(api /api/bearmon/v1/status | jget .reloads.failed)" = 1 ] || fail "failed reload counted"
pass "bad config rejected over HTTP, old config stays"

conf "$T/bearmon.conf" 'interval = "1s";' 'keep = { plugin = "collector/uptime"; };'
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/api/bearmon/v1/reload")
[ "$code" = 200 ] || fail "good reload answered $code"
[ "$(api /api/bearmon/v1/plugins | jget '.plugins | length')" = 1 ] || fail "reload over HTTP"
pass "POST /api/bearmon/v1/reload"
stop_daemon
