# SPDX-License-Identifier: Apache-2.0
# Bad plugins: a missing file, a .so that is not a plugin, ABI mismatches,
# a failing init: one log line each, and the daemon serves the rest.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" \
	'interval = "1s";' \
	'good = { plugin = "collector/uptime"; };' \
	'missing = { plugin = "collector/nosuch"; };' \
	'notplugin = { plugin = "collector/notaplugin"; };' \
	'major = { plugin = "collector/badmajor"; };' \
	'minor = { plugin = "collector/newminor"; };' \
	'magic = { plugin = "collector/badmagic"; };' \
	'older = { plugin = "collector/olddesc"; };' \
	'oldminor = { plugin = "collector/oldminor"; };' \
	'failing = { plugin = "collector/testgen"; fail_init = true; };' \
	'nohw = { plugin = "collector/testgen"; unsupported = true; };' \
	'off = { plugin = "collector/testgen"; enabled = false; };'
start_daemon "$T/bearmon.conf"

pl=$(api /api/bearmon/v1/plugins)
state() { echo "$pl" | jget ".plugins[] | select(.instance == \"$1\") | .state"; }
[ "$(state good)" = running ] || fail "good instance should run"
[ "$(state older)" = running ] || fail "older descriptor (ABI 1.0 minimum size) should load and run"
[ "$(state oldminor)" = running ] || fail "a plugin built for an older ABI minor should load and run"
for i in missing notplugin major minor magic failing; do
	[ "$(state $i)" = failed ] || fail "$i should have failed: $(state $i)"
done
[ "$(state off)" = disabled ] || fail "enabled = false"
[ "$(state nohw)" = unsupported ] || fail "init ENOTSUP: $(state nohw)"
[ "$(api /api/bearmon/v1/status | jget .instances.failed)" = 6 ] || fail "unsupported is not a failure"
pass "bad plugins fail alone; good and older ones run"

expect_log "[collector:nosuch:missing] plugin collector/nosuch not found: no bm_collector_nosuch.so in $PLUGINS"
expect_log "[collector:notaplugin:notplugin] $PLUGINS/bm_collector_notaplugin.so: refused: not a bearmon plugin (no bm_plugin_desc symbol)"
# both versions named: the plugin's and bearmond's
grep -qE "\[collector:badmajor:major\] $PLUGINS/bm_collector_badmajor.so: refused: plugin built for ABI 2\.[0-9]+, bearmond has ABI 1\.[0-9]+ \(major differs" "$T/log" || fail "badmajor line"
grep -qE "\[collector:newminor:minor\] $PLUGINS/bm_collector_newminor.so: refused: plugin built for ABI 1\.([0-9]+), bearmond has ABI 1\.[0-9]+ \(plugin is newer" "$T/log" || fail "newminor line"
expect_log "[collector:badmagic:magic] $PLUGINS/bm_collector_badmagic.so: refused: not a bearmon plugin (magic 0xdeadbeef"
expect_log "[collector:testgen:failing] init failed: invalid argument: fail_init is set"
grep -qF "notice [collector:testgen:nohw] no such hardware; instance off" "$T/log" || fail "ENOTSUP logged at notice"
[ "$(grep -c 'bm_collector_badmajor.so: refused' "$T/log")" = 1 ] || fail "one line per refusal"
pass "each refusal is one log line naming the file and both versions"

sleep 1.5
c=$(api /api/bearmon/v1/plugins | jget '.plugins[] | select(.instance == "good") | .collections')
[ "$c" -ge 1 ] || fail "good instance kept collecting"
stop_daemon
