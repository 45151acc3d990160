# SPDX-License-Identifier: Apache-2.0
# Moving data in and out of the store with bearmonctl: import (OpenMetrics
# and Prometheus text, backfill that never overwrites), export, online
# backup, delete by name or regex.
. "$(dirname "$0")/lib.sh"

# retention off: the backfill below is from 2001, and the background
# sweep would otherwise expire it between an import and the query after it
conf "$T/bearmon.conf" 'interval = "200ms";' 'gen = { plugin = "collector/testgen"; series = 3; };' \
	'store = { retention_raw = "0s"; retention_1m = "0s"; retention_1h = "0s"; };'
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

# A large export is streamed a series at a time: it arrives whole, and a
# client that resets the connection mid-way leaves the daemon answering
# (the sanitizer run checks that the abandoned reply is freed).
t0=$(($(date +%s) - 30000))
for s in 0 1 2 3 4; do
	python3 -c "print('# TYPE bulk_value gauge')
for i in range(20000): print('bulk_value{s=\"$s\"} %d %d' % (i % 97, $t0 + i))
print('# EOF')" >"$T/bulk.om"
	"${CTL[@]}" import "$T/bulk.om" | grep -q "imported 20000 samples" || fail "bulk import $s"
done
out=$("${CTL[@]}" export bulk_value)
[ "$(grep -c '^bulk_value{' <<<"$out")" = 100000 ] && [ "$(tail -n 1 <<<"$out")" = "# EOF" ] ||
	fail "streamed export: $(grep -c '^bulk_value{' <<<"$out") samples, last line $(tail -n 1 <<<"$out")"
python3 - "$BM_PORT" <<'PY' || fail "a client resetting mid-export"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/bearmon/v1/export?name=bulk_value HTTP/1.1\r\nHost: t\r\n\r\n")
got = 0
while got < 100000:
    got += len(s.recv(65536))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
PY
api /api/bearmon/v1/status | jget .status | grep -q ok || fail "daemon after an abandoned export"
pass "export streamed: 100,000 samples whole; a reset mid-way abandons it cleanly"
stop_daemon
