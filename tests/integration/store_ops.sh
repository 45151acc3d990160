# SPDX-License-Identifier: Apache-2.0
# Moving data in and out of the store with bearmonctl: import (OpenMetrics
# and Prometheus text, backfill that never overwrites), export, online
# backup, delete by name or regex.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" 'interval = "200ms";' 'gen = { plugin = "collector/testgen"; series = 3; };'
start_daemon "$T/bearmon.conf"
CTL=("$BEARMONCTL" -c "$T/bearmon.conf")

# 1. OpenMetrics backfill: two hours of a counter, 10 s apart, in 2001
{
	echo "# TYPE backfill_requests counter"
	echo "# HELP backfill_requests requests served"
	for i in $(seq 0 719); do
		echo "backfill_requests_total{path=\"/a\"} $((i * 3)) $((1000000000 + i * 10)).250"
	done
	echo "# EOF"
} >"$T/in.om"
out=$("${CTL[@]}" import "$T/in.om")
[ "$out" = "imported 720 samples in 1 series (0 rejected)" ] || fail "import: $out"
# 2. Prometheus text (ms timestamps), a second series
printf 'backfill_temp{room="b"} 21.5 1000000000000\nbackfill_temp{room="b"} 22 1000000060000\n' >"$T/in.prom"
"${CTL[@]}" import "$T/in.prom" | grep -q "imported 2 samples in 1 series" || fail "prometheus text import"
# 3. never over existing data
"${CTL[@]}" import "$T/in.om" | grep -q "(720 rejected)" || fail "re-import must be rejected"
pass "import: OpenMetrics and Prometheus text; overlapping backfill rejected"

id=$(api "/api/bearmon/v1/series?name=backfill_requests_total" | jget '.series[0].id')
s=$(api "/api/bearmon/v1/samples?id=$id")
[ "$(echo "$s" | jget '.samples | length')" = 720 ] || fail "720 samples stored"
[ "$(echo "$s" | jget '.samples[1][0]')" = 1000000010250 ] || fail "timestamp ms: $(echo "$s" | jget '.samples[1]')"
[ "$(echo "$s" | jget '.samples[719][1]')" = 2157 ] || fail "last value"
r=$(api "/api/bearmon/v1/range?id=$id&start=1000000000000&end=1000007200000&step=3600000&agg=increase")
[ "$(echo "$r" | jget .tier)" = 1h ] || fail "1h tier: $r"
[ "$(echo "$r" | jget '[.points[][1]] | add')" = 2157 ] || fail "increase over the 1h tier: $r"
pass "imported data queryable raw and through the rollup tiers"

# export reproduces what was imported
"${CTL[@]}" export /backfill_.*/ >"$T/out.om"
grep -q '^# TYPE backfill_requests counter$' "$T/out.om" || fail "export TYPE: $(head -3 "$T/out.om")"
grep -q '^backfill_requests_total{path="/a"} 3 1000000010.250$' "$T/out.om" || fail "export sample line: $(head -c 600 "$T/out.om")"
[ "$(grep -c '^backfill_' "$T/out.om")" = 722 ] || fail "export count $(grep -c '^backfill_' "$T/out.om")"
[ "$(tail -n 1 "$T/out.om")" = "# EOF" ] || fail "export ends with # EOF"
pass "export writes OpenMetrics with metadata"

# online backup while the daemon writes
"${CTL[@]}" backup "$T/backup.db" | grep -q "written to" || fail "backup"
[ "$(sqlite3 "$T/backup.db" 'PRAGMA integrity_check')" = ok ] || fail "backup integrity"
[ "$(sqlite3 "$T/backup.db" "SELECT count(*) FROM series WHERE name LIKE 'backfill%'")" = 2 ] || fail "backup content"
pass "online backup is consistent and complete"

"${CTL[@]}" delete /backfill_.*/ | grep -q "deleted 2 series" || fail "delete"
[ "$(api "/api/bearmon/v1/series?name_re=backfill_.*" | jget '.series | length')" = 0 ] || fail "deleted series still listed"
"${CTL[@]}" import "$T/in.om" | grep -q "imported 720 samples" || fail "import after delete"
pass "delete by regex; the name can be imported again"

rc=0
printf 'bad{ 1\n' >"$T/bad.prom"
"${CTL[@]}" import "$T/bad.prom" >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "HTTP 400: line 1" "$T/bad.out" || fail "malformed import: $(cat "$T/bad.out")"
pass "malformed input: 400 naming the line"
stop_daemon
