# SPDX-License-Identifier: Apache-2.0
# collector/scrape against real exporters: Debian's prometheus-node-exporter
# and an exporter written with python3-prometheus-client (counter, gauge,
# histogram, summary; OpenMetrics). Values and types must arrive in the
# store; killing an exporter must give up 0 and stale markers. Prints the
# CPU cost per sample (whole daemon, store included, and the scrape thread
# alone) over 15 s, with the node exporter plus 20 targets serving a
# recorded node exporter page (python3 -m http.server), about 11,000
# samples/s.
# Ports: BM_PORT bearmond, +1 node exporter, +2 python exporter, +3 recording.
. "$(dirname "$0")/../integration/lib.sh"

P1=$((BM_PORT + 1))
P2=$((BM_PORT + 2))
P3=$((BM_PORT + 3))
PY=/usr/bin/python3
NODE_EXPORTER=/usr/bin/prometheus-node-exporter
[ -x "$NODE_EXPORTER" ] || fail "$NODE_EXPORTER missing (Debian package prometheus-node-exporter)"
"$PY" -c 'import prometheus_client' || fail "python3-prometheus-client missing"
"$NODE_EXPORTER" --web.listen-address="127.0.0.1:$P1" >"$T/node.log" 2>&1 &
NPID=$!
"$PY" "$BM_SOURCE_DIR/plugins/collector_scrape/tests/py_exporter.py" "$P2" >"$T/py.log" 2>&1 &
PPID_=$!
wait_for curl -sf "http://127.0.0.1:$P1/metrics"
wait_for curl -sf "http://127.0.0.1:$P2/metrics"
mkdir "$T/www"
curl -sf "http://127.0.0.1:$P1/metrics" >"$T/www/metrics"
"$PY" -m http.server --bind 127.0.0.1 --directory "$T/www" "$P3" >"$T/www.log" 2>&1 &
WPID=$!
trap 'kill $NPID $PPID_ $WPID 2>/dev/null || true; cleanup' EXIT
wait_for curl -sf "http://127.0.0.1:$P3/metrics"
recorded=""
for i in $(seq 20); do recorded="$recorded{ targets = [\"127.0.0.1:$P3\"]; labels = { copy = \"$i\"; }; },"; done

cat >"$T/bearmon.conf" <<EOF
data_dir = "$T/data";
plugin_dirs = ["$BM_BUILD/plugins"];
http = { listen = "127.0.0.1:$BM_PORT"; };
interval = "1s";
self_metrics_interval = "1s";
scrape = {
	plugin = "collector/scrape";
	jobs = (
		{ job_name = "node"; static_configs = ( { targets = ["127.0.0.1:$P1"]; } ); },
		{ job_name = "py"; static_configs = ( { targets = ["127.0.0.1:$P2"]; } ); },
		{ job_name = "recorded"; static_configs = ( ${recorded%,} ); }
	);
};
EOF
start_daemon "$T/bearmon.conf"

sid() { api "/api/bearmon/v1/series?name=$1&$2" | jq -er --arg s "${3:-}" '[.series[] | select(.series | contains($s))][0].id'; }
last() {
	local id
	id=$(sid "$@") || return 1
	api "/api/bearmon/v1/samples?id=$id" | jq -er '.samples[-1][1]'
}
is() { [ "$(last "$1" "$2" "${4:-}" 2>/dev/null)" = "$3" ]; } # is NAME QUERY VALUE [SUBSTRING]
# type NAME...: the stored metric type of the first family name known (0
# untyped, 1 counter, 2 gauge, 3 histogram, 4 summary)
type_of() {
	local n
	for n in "$@"; do
		sqlite3 "$T/data/bearmon.db" "SELECT type FROM metadata WHERE name = '$n'" 2>/dev/null | grep . && return 0
	done
	return 1
}
type_is() { [ "$(type_of "${@:2}")" = "$1" ]; } # type_is WANT NAME...

wait_for is up job=node 1
wait_for is up job=py 1
wait_for is bearmon_scrape_targets_up instance=scrape 22

# the python exporter: every type, through OpenMetrics
is app_requests_total job=py 7 'route="/a"' || fail "counter: $(last app_requests_total job=py)"
sid app_requests_created job=py >/dev/null || fail "OpenMetrics _created series"
is app_temperature_celsius job=py 3.5 || fail "gauge"
is app_latency_seconds_bucket job=py 1 'le="0.5"' || fail "histogram bucket 0.5"
is app_latency_seconds_bucket job=py 2 'le="+Inf"' || fail "histogram bucket +Inf"
is app_latency_seconds_sum job=py 2.3 || fail "histogram sum"
is app_latency_seconds_count job=py 2 || fail "histogram count"
is app_response_bytes_sum job=py 4000 || fail "summary sum"
is app_response_bytes_count job=py 2 || fail "summary count"
wait_for type_is 1 app_requests
type_is 2 app_temperature_celsius || fail "gauge type: $(type_of app_temperature_celsius)"
type_is 3 app_latency_seconds || fail "histogram type: $(type_of app_latency_seconds)"
type_is 4 app_response_bytes || fail "summary type: $(type_of app_response_bytes)"
pass "python3-prometheus-client exporter: counter, gauge, histogram, summary with values and types"

# the node exporter
last node_load1 job=node >/dev/null || fail "node_load1"
n_cpu=$(api "/api/bearmon/v1/series?name=node_cpu_seconds_total&job=node" | jq '.series | length')
[ "$n_cpu" -ge 1 ] || fail "node_cpu_seconds_total"
wait_for type_is 2 node_load1
type_is 1 node_cpu_seconds_total node_cpu_seconds || fail "node_cpu_seconds_total type"
per_scrape=$(last scrape_samples_scraped job=node)
pass "node exporter: $per_scrape samples per scrape, node_cpu_seconds_total in $n_cpu series, types kept"

# cost: CPU of the daemon and of its scrape thread per published sample
ticks() { awk '{print $14 + $15}' "$1"; }
scrape_task() { grep -l '^bm-scrape$' /proc/"$DPID"/task/*/comm | sed 's/comm$/stat/'; }
hz=$(getconf CLK_TCK)
task=$(scrape_task)
s0=$(last bearmon_scrape_samples_total instance=scrape)
c0=$(ticks /proc/"$DPID"/stat)
t0=$(ticks "$task")
sleep 15
s1=$(last bearmon_scrape_samples_total instance=scrape)
c1=$(ticks /proc/"$DPID"/stat)
t1=$(ticks "$task")
samples=$(awk -v a="$s0" -v b="$s1" 'BEGIN{print b - a}')
[ "$samples" -gt 0 ] || fail "no samples counted"
awk -v n="$samples" -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {
	printf "cost: %d samples in 15 s; daemon %.2f us CPU per sample (store included), scrape thread %.2f us\n",
		n, c / hz * 1e6 / n, t / hz * 1e6 / n }'

# killed exporters: up 0, their series stale
kill "$PPID_"
wait_for is up job=py 0
is app_temperature_celsius job=py NaN || fail "gauge of a killed exporter not stale"
is app_latency_seconds_bucket job=py NaN 'le="+Inf"' || fail "histogram of a killed exporter not stale"
kill "$NPID"
wait_for is up job=node 0
is node_load1 job=node NaN || fail "node_load1 of a killed exporter not stale"
pass "killed exporters: up 0 and stale markers"
stop_daemon
