# SPDX-License-Identifier: Apache-2.0
# The short soak (issue 12): 2 minutes of bench/soak/soak.sh at 20,000
# native samples/s (+ StatsD when built), queries every second, two live
# dashboard WebSocket clients, a reload every 20 s, on the shipped conf.d:
# nothing lost, nothing logged at err, descriptors flat, resident memory
# settled, the dashboard updated at least every 5 s.
set -euo pipefail
: "${BM_BUILD:?set by ctest}"
: "${BM_SOURCE_DIR:?set by ctest}"
out=$("$BM_SOURCE_DIR/bench/soak/soak.sh" "$BM_BUILD" 120 20000 20)
echo "$out"
get() { echo "$out" | awk -v m="$1" '$4 == m { print $5 }'; }
[ "$(get lost_samples)" = 0 ] || { echo "FAIL: lost samples: $(get lost_samples)"; exit 1; }
[ "$(get errors_logged)" = 0 ] || { echo "FAIL: errors logged: $(get errors_logged)"; exit 1; }
[ "$(get failed_queries)" = 0 ] || { echo "FAIL: $(get failed_queries) queries failed"; exit 1; }
[ "$(get failed_reloads)" = 0 ] || { echo "FAIL: $(get failed_reloads) reloads failed"; exit 1; }
[ "$(get fd_growth)" -le 2 ] || { echo "FAIL: fds grew by $(get fd_growth)"; exit 1; }
gap=$(get dashboard_max_gap_s)
[ -n "$gap" ] || { echo "FAIL: no dashboard clients ran (node and tests/browser's npm modules are needed)"; exit 1; }
awk -v g="$gap" 'BEGIN { exit !(g <= 5) }' || { echo "FAIL: the dashboard waited $gap s for an update"; exit 1; }
awk -v g="$(get rss_growth_pct)" 'BEGIN { exit !(g <= 25) }' ||
	{ echo "FAIL: RSS grew by $(get rss_growth_pct) % in the short run"; exit 1; }
echo "ok: soak: $(get samples_sent) samples, none lost, no errors, RSS +$(get rss_growth_pct) %, fds +$(get fd_growth), dashboard gap <= $gap s"
