# SPDX-License-Identifier: Apache-2.0
# Wall-clock jumps, injected with libfaketime (never by moving this
# machine's clock): backwards by an hour, then forwards again. The daemon
# logs each jump, keeps collecting, drops and counts the out-of-order
# samples while the clock is behind, and stores again once it catches up.
. "$(dirname "$0")/lib.sh"

FT=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
if [ "${BM_SANITIZE:-OFF}" = ON ]; then
	echo "skip: libfaketime cannot be preloaded before the sanitizer runtime (the plain build runs this)"
	exit 0
fi
[ -n "$FT" ] || fail "libfaketime not installed (packaging/install-deps installs it)"

echo "+0s" >"$T/faketime"
export LD_PRELOAD=$FT FAKETIME_TIMESTAMP_FILE=$T/faketime FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1
conf "$T/bearmon.conf" 'interval = "200ms";' 'gen = { plugin = "collector/testgen"; series = 2; };'
start_daemon "$T/bearmon.conf"
unset LD_PRELOAD
collections() { api /api/bearmon/v1/plugins | jget '.plugins[] | select(.instance == "gen") | .collections'; }
known() { api "/api/bearmon/v1/series?name=testgen_value&series=1" | jget '.series[0].id'; }
wait_for known
id=$(known)
sleep 1
newest() { api "/api/bearmon/v1/samples?id=$id" | jget '.samples[-1][0]'; }
t_before=$(newest)

echo "-3600s" >"$T/faketime"
back() { grep -q 'wall clock jumped backwards by 3[56][0-9][0-9][0-9][0-9][0-9] ms' "$T/log"; }
wait_for back
c1=$(collections)
sleep 1
c2=$(collections)
[ "$c2" -gt "$c1" ] || fail "collections stopped after the backward jump ($c1 -> $c2)"
[ "$(newest)" -le $((t_before + 1500)) ] || fail "samples from the past were stored out of order"
pass "backward jump logged; collection goes on; the past samples are dropped as out of order"

echo "+0s" >"$T/faketime"
fwd() { grep -q 'wall clock jumped forwards by 3[56][0-9][0-9][0-9][0-9][0-9] ms' "$T/log"; }
wait_for fwd
sleep 1
t_after=$(newest)
[ "$t_after" -gt "$t_before" ] || fail "storing did not resume once the clock caught up ($t_before -> $t_after)"
pass "forward jump logged; samples stored again"
stop_daemon
