# SPDX-License-Identifier: Apache-2.0
# The store in the real daemon: samples published on the bus are queryable
# at once (open chunks) and after a restart; kill -9 during heavy ingest
# never corrupts the database and loses at most the flush interval.
. "$(dirname "$0")/lib.sh"

# tests/slow/store_kill20.sh runs this with more rounds and series
ROUNDS=${BM_KILL_ROUNDS:-5}
SERIES=${BM_KILL_SERIES:-200}
conf "$T/bearmon.conf" 'interval = "100ms";' \
	'store = { flush_interval = "500ms"; };' \
	"gen = { plugin = \"collector/testgen\"; series = $SERIES; };" \
	'probe = { plugin = "collector/testgen"; series = 0; query = "testgen_value"; route = "/api/bearmon/v1/probe"; };'
start_daemon "$T/bearmon.conf"
sleep 1.5
ids=$(api "/api/bearmon/v1/series?name=testgen_value&instance=gen")
[ "$(echo "$ids" | jget '.series | length')" = "$SERIES" ] || fail "$SERIES series expected: $(echo "$ids" | head -c 300)"
id=$(echo "$ids" | jget '.series[] | select(.series == "testgen_value{instance=\"gen\",series=\"7\"}") | .id')
n=$(api "/api/bearmon/v1/samples?id=$id" | jget '.samples | length')
[ "$n" -ge 8 ] || fail "only $n samples after 1.5 s at 100 ms"
[ "$(api "/api/bearmon/v1/samples?id=$id" | jget '.samples[0][1]')" = 7 ] || fail "value of series 7"
pass "samples queryable while chunks are open ($n samples)"
pr=$(api /api/bearmon/v1/probe)
[ "$(echo "$pr" | jget .store_series)" = "$SERIES" ] || fail "host API store_series: $pr"
[ "$(echo "$pr" | jget .store_points)" -ge 8 ] || fail "host API store_raw: $pr"
pass "plugins query the store through the host API ($pr)"
r=$(api "/api/bearmon/v1/range?id=$id&start=0&step=60000&agg=count")
[ "$(echo "$r" | jget .tier)" = 1m ] || fail "a 1 min step reads the 1m tier: $r"
[ "$(echo "$r" | jget '[.points[][1]] | add')" -ge "$n" ] || fail "1m counts: $r"
pass "range query over the rollup tier"
stop_daemon

# every sample published before a clean stop is on disk
start_daemon "$T/bearmon.conf"
before=$(api "/api/bearmon/v1/samples?id=$id" | jget '.samples | length')
[ "$before" -ge "$n" ] || fail "restart lost samples: $before < $n"
pass "restart keeps the data ($before samples)"

# kill -9 in a loop under ingest: integrity ok every time, loss bounded
for round in $(seq "$ROUNDS"); do
	sleep 1.2
	last=$(api "/api/bearmon/v1/samples?id=$id" | jget '.samples[-1][0]')
	kill -9 "$DPID"
	wait "$DPID" 2>/dev/null || true
	DPID=""
	ok=$(sqlite3 "$T/data/bearmon.db" "PRAGMA integrity_check")
	[ "$ok" = ok ] || fail "round $round: integrity_check: $ok"
	start_daemon "$T/bearmon.conf"
	latest=$(api "/api/bearmon/v1/samples?id=$id" | jget '[.samples[][0] | select(. <= '"$last"')] | max')
	# at most flush_interval (500 ms) of samples before the kill may be lost,
	# plus one collection tick (100 ms) and scheduling slack
	[ $((last - latest)) -le 800 ] || fail "round $round: lost $((last - latest)) ms of samples (flush 500 ms)"
done
pass "$ROUNDS x kill -9 with $SERIES series at 100 ms: integrity ok, loss within the flush interval"
stop_daemon
