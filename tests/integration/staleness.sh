# SPDX-License-Identifier: Apache-2.0
# Series that vanish from a collector get Prometheus' stale NaN from the
# host, at the next tick; the store keeps it and instant queries honour it.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" 'interval = "200ms";' \
	'gen = { plugin = "collector/testgen"; series = 4; shrink_after = 3; };'
start_daemon "$T/bearmon.conf"
sleep 2
id() { api "/api/bearmon/v1/series?name=testgen_value&series=$1" | jget '.series[0].id'; }
gone=$(api "/api/bearmon/v1/samples?id=$(id 3)")
kept=$(api "/api/bearmon/v1/samples?id=$(id 1)")
[ "$(echo "$gone" | jget '.samples[-1][1]')" = NaN ] || fail "vanished series 3 not marked stale: $(echo "$gone" | jget '.samples[-2:]')"
[ "$(echo "$gone" | jget '[.samples[][1] | select(. == "NaN")] | length')" = 1 ] || fail "exactly one marker"
[ "$(echo "$kept" | jget '.samples[-1][1]')" = 1 ] || fail "series 1 goes on"
[ "$(echo "$kept" | jget '.samples | length')" -gt "$(echo "$gone" | jget '.samples | length')" ] || fail "counts"
pass "a vanished series gets one stale marker, the others go on"

stop_daemon
# stopping the instance ends every series it had
start_daemon "$T/bearmon.conf"
kept=$(api "/api/bearmon/v1/samples?id=$(id 1)")
echo "$kept" | jget '[.samples[][1] | select(. == "NaN")] | length' | grep -q '^[1-9]' || fail "stop did not mark series 1 stale"
pass "stopping an instance marks its series stale"
stop_daemon
