# SPDX-License-Identifier: Apache-2.0
# Without isolation a crashing plugin takes bearmond down with it; the
# service manager restarts it (here a supervisor loop, as systemd's
# Restart=on-failure does) and nothing is lost beyond the flush interval:
# the store opens with integrity_check ok every time and the samples go on.
. "$(dirname "$0")/lib.sh"

if [ "${BM_SANITIZE:-OFF}" = ON ]; then
	echo "skip: the sanitizer build reports the deliberate abort() as an error (the plain build runs this)"
	exit 0
fi
# crash_after: the plugin abort()s in its 12th collection, i.e. every
# 1.2 s at 100 ms, in a daemon restarted after each crash
conf "$T/bearmon.conf" 'interval = "100ms";' 'store = { flush_interval = "300ms"; };' \
	'gen = { plugin = "collector/testgen"; series = 50; };' \
	'crashy = { plugin = "collector/testgen"; series = 1; crash_after = 12; };'
: >"$T/crashes"
(
	for _ in $(seq 4); do
		"$BEARMOND" -c "$T/bearmon.conf" >>"$T/log" 2>&1 && break
		echo "$?" >>"$T/crashes"
	done
) &
SUP=$!
for _ in $(seq 300); do [ "$(wc -l <"$T/crashes")" -ge 3 ] && break; sleep 0.1; done
[ "$(wc -l <"$T/crashes")" -ge 3 ] || fail "expected 3 crashes, saw $(wc -l <"$T/crashes")"
grep -qv '^134$' "$T/crashes" && fail "exit statuses: $(tr '\n' ' ' <"$T/crashes") (134 = SIGABRT)"
pass "bearmond crashed three times with the plugin (SIGABRT) and was restarted each time"
# the fourth start runs until it crashes too; meanwhile the store answers
known() { api "/api/bearmon/v1/series?name=testgen_value&instance=gen&series=7" | jget '.series[0].id'; }
wait_for known
id=$(known)
ts=$(api "/api/bearmon/v1/samples?id=$id" | jq -r '[.samples[][0]] | @csv')
wait "$SUP" || true
ok=$(sqlite3 "$T/data/bearmon.db" "PRAGMA integrity_check")
[ "$ok" = ok ] || fail "integrity_check after the crashes: $ok"
# every gap between stored samples is a crash: at most the flush interval
# (300 ms) plus a restart (under 1 s here) and a tick
gaps=$(echo "$ts" | tr ',' '\n' |
	awk 'NR > 1 && $1 - p > 100 { g = $1 - p; if (g > m) m = g } { p = $1 } END { print m + 0 }')
[ "$gaps" -le 2500 ] || fail "a crash cost $gaps ms of samples"
pass "integrity ok after every crash; the longest gap in the samples was $gaps ms"
