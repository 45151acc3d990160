# SPDX-License-Identifier: Apache-2.0
# bearmonctl against the real daemon: status, plugins, reload, check-config
# (tables for people, --json for scripts, exit codes).
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" 'interval = "200ms";' \
	'up = { plugin = "collector/uptime"; };' \
	'broken = { plugin = "collector/testgen"; fail_init = true; };'
start_daemon "$T/bearmon.conf"
sleep 0.5
CTL=("$BEARMONCTL" -c "$T/bearmon.conf")

out=$("${CTL[@]}" status)
echo "$out" | grep -qE '^instances +1 running, 1 failed, 2 total' || fail "status table: $out"
"${CTL[@]}" --json status | jq -e '.status == "ok" and .instances.total == 2' >/dev/null || fail "status --json"
pass "status for people and scripts"

out=$("${CTL[@]}" plugins)
echo "$out" | grep -qE '^INSTANCE +KIND +PLUGIN +STATE' || fail "plugins header: $out"
echo "$out" | grep -qE '^up +collector +uptime +running' || fail "plugins row: $out"
echo "$out" | grep -q 'fail_init is set' || fail "failed instance error: $out"
"$BEARMONCTL" --url "$URL" --json plugins | jq -e '.plugins | length == 2' >/dev/null || fail "plugins --json"
pass "plugins table"

conf "$T/bearmon.conf" 'interval = "200ms";' 'up = { plugin = "collector/uptime"; };'
"${CTL[@]}" reload | grep -q reloaded || fail "reload"
[ "$("${CTL[@]}" --json plugins | jq '.plugins | length')" = 1 ] || fail "reload not applied"
conf "$T/bearmon.conf" 'up = { plugin = "collector/uptime"; idle = 3; };'
rc=0
"${CTL[@]}" reload >"$T/r.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "rejected" "$T/r.out" || fail "bad reload: rc $rc $(cat "$T/r.out")"
pass "reload, and a rejected reload exits 1"

rc=0
"$BEARMONCTL" check-config "$T/bearmon.conf" >"$T/c.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "option \"idle\": expected a boolean" "$T/c.out" || fail "check-config: $(cat "$T/c.out")"
{ "$BEARMONCTL" --json check-config "$T/bearmon.conf" || true; } | jq -e '.ok == false and (.problems | length) == 1' >/dev/null || fail "check-config --json"
pass "check-config"

stop_daemon
rc=0
"${CTL[@]}" status >/dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "unreachable daemon should exit 3, got $rc"
rc=0
"$BEARMONCTL" frobnicate >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "usage error should exit 2, got $rc"
pass "exit codes 3 (unreachable) and 2 (usage)"
