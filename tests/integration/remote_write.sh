# SPDX-License-Identifier: Apache-2.0
# notifier/remote_write against a real Prometheus with
# --web.enable-remote-write-receiver, started here: values, labels (external
# labels, relabelling, exclusion) and millisecond timestamps as the store has
# them; self-metrics shipped too. A receiver answering 503 then 204 (retried,
# counted) and one answering 400 (given up, counted, logged). Then the
# receiver goes down, bearmond restarts during the outage, the receiver comes
# back: every sample of the outage arrives.
# Ports: BM_PORT bearmond, +1 Prometheus, +2 the scripted receiver.
. "$(dirname "$0")/lib.sh"

PROM_BIN=${PROM_BIN:-/usr/bin/prometheus}
[ -x "$PROM_BIN" ] || fail "$PROM_BIN missing: apt-get install prometheus"
P_PROM=$((BM_PORT + 1))
P_RX=$((BM_PORT + 2))
PROM="http://127.0.0.1:$P_PROM"
PROM_PID=""
RX_PID=""
trap 'for p in $PROM_PID $RX_PID; do kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done; cleanup' EXIT

start_prom() {
	echo "global: {}" >"$T/prom.yml"
	"$PROM_BIN" --config.file="$T/prom.yml" --storage.tsdb.path="$T/prom" \
		--web.listen-address="127.0.0.1:$P_PROM" --web.enable-remote-write-receiver \
		>>"$T/prom.log" 2>&1 &
	PROM_PID=$!
	for _ in $(seq 300); do curl -sf "$PROM/-/ready" >/dev/null && return 0; sleep 0.1; done
	fail "Prometheus did not get ready: $(tail -3 "$T/prom.log")"
}
stop_prom() {
	kill "$PROM_PID"
	wait "$PROM_PID" 2>/dev/null || true
	PROM_PID=""
}
# promq EXPR: the result vector of an instant query
promq() { curl -sf -G "$PROM/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result'; }

# The scripted receiver: /flaky answers 503 to its first three requests, then
# 204; /bad always 400 with a reason.
cat >"$T/rx.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
seen = {"flaky": 0}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        ok = self.headers.get("Content-Encoding") == "snappy" and \
            self.headers.get("X-Prometheus-Remote-Write-Version") == "0.1.0"
        if self.path == "/flaky":
            seen["flaky"] += 1
            code, text = (503, b"warming up") if seen["flaky"] <= 3 else (204, b"")
        else:
            code, text = 400, b"out of bounds: sample too old"
        if not ok:
            code, text = 415, b"missing remote write headers"
        self.send_response(code)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$T/rx.py" "$P_RX" >"$T/rx.log" 2>&1 &
RX_PID=$!
wait_for curl -s -o /dev/null "http://127.0.0.1:$P_RX/"
start_prom

export RW_TEST_HOST=node-a
rw_common='batch_send_deadline = "100ms"; min_backoff = "20ms"; max_backoff = "200ms";'
# the remote write instances first: instances start in config order, so they
# subscribe before gen publishes, and stop after its stale markers
conf "$T/bearmon.conf" 'interval = "200ms";' 'self_metrics_interval = "1s";' \
	"rw = { plugin = \"notifier/remote_write\"; url = \"$PROM/api/v1/write\"; $rw_common
		external_labels = { host = \"\${RW_TEST_HOST}\"; cluster = \"c1\"; };
		exclude = [\"testgen_value{series=\\\"4\\\"}\"];
		write_relabel_configs = (
			{ target_label = \"team\"; replacement = \"infra\"; },
			{ action = \"drop\"; source_labels = [\"__name__\"]; regex = \"bearmon_bus_.*\"; }
		); };" \
	"rw_flaky = { plugin = \"notifier/remote_write\"; url = \"http://127.0.0.1:$P_RX/flaky\"; $rw_common include = [\"testgen_value\"]; };" \
	"rw_bad = { plugin = \"notifier/remote_write\"; url = \"http://127.0.0.1:$P_RX/bad\"; $rw_common include = [\"testgen_value\"]; };" \
	'gen = { plugin = "collector/testgen"; series = 5; };'
sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$PLUGINS\", \"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
mkdir -p "$T/conf.d"
start_daemon "$T/bearmon.conf"

# --- what arrives -------------------------------------------------------------
arrived() { [ "$(promq 'testgen_value{series="3"}' | jq 'length')" = 1 ]; }
wait_for arrived
got=$(promq 'testgen_value{series="3"}')
echo "$got" | jq -e '.[0].value[1] == "3"' >/dev/null || fail "value: $got"
echo "$got" | jq -e '.[0].metric | .host == "node-a" and .cluster == "c1" and .team == "infra" and .instance == "gen"' >/dev/null ||
	fail "labels: $got"
pass "samples arrive with their values, external labels and relabelling"
[ "$(promq 'testgen_value{series="4"}' | jq 'length')" = 0 ] || fail "an excluded series arrived"
[ "$(promq '{__name__=~"bearmon_bus_.+"}' | jq 'length')" = 0 ] || fail "a series dropped by relabelling arrived"
self_arrived() { [ "$(promq 'prometheus_remote_storage_samples_total{instance="rw"}' | jq 'length')" = 1 ]; }
wait_for self_arrived
pass "exclude and drop rules hold; the self-metrics are shipped too"

# store samples of testgen_value{series=N} in [from, to] ms: "ts value" lines
sid() { api "/api/bearmon/v1/series?name=$1&$2" | jq -er '.series[0].id'; }
store_samples() {
	api "/api/bearmon/v1/samples?id=$(sid testgen_value "series=$1")&start=$2&end=$3" |
		jq -r '.samples[] | select(.[1] != "NaN") | "\(.[0]) \(.[1])"'
}
prom_samples() {
	curl -sf -G "$PROM/api/v1/query" --data-urlencode "query=testgen_value{series=\"$1\"}[10m]" \
		--data-urlencode "time=$(echo "$3" | awk '{printf "%.3f", $1 / 1000}')" |
		jq -r --argjson from "$2" '.data.result[0].values[] | select(.[0] * 1000 | round >= $from)
			| "\(.[0] * 1000 | round) \(.[1] | tonumber)"'
}
sleep 1
now=$(date +%s%3N)
from=$((now - 3000)) to=$((now - 1000))
store_samples 2 $from $to >"$T/store.txt"
prom_samples 2 $from $to >"$T/prom.txt"
[ "$(wc -l <"$T/store.txt")" -ge 5 ] || fail "too few samples in the store to compare"
diff "$T/store.txt" "$T/prom.txt" >&2 || fail "timestamps or values differ between the store and Prometheus"
pass "$(wc -l <"$T/store.txt") samples: the same millisecond timestamps and values as the store"

# --- retries and refusals -----------------------------------------------------
self() { # self NAME INSTANCE: the newest value of a self-metric, from the store
	api "/api/bearmon/v1/samples?id=$(sid "$1" "instance=$2")" | jq -er '.samples[-1][1]'
}
retried() { [ "$(self prometheus_remote_storage_samples_retried_total rw_flaky)" -gt 0 ] &&
	[ "$(self prometheus_remote_storage_samples_total rw_flaky)" -gt 0 ]; }
wait_for retried
[ "$(self prometheus_remote_storage_samples_failed_total rw_flaky)" = 0 ] || fail "rw_flaky gave samples up"
pass "503s are retried and counted, then delivered"
refused() { [ "$(self prometheus_remote_storage_samples_failed_total rw_bad)" -gt 0 ]; }
wait_for refused
[ "$(self prometheus_remote_storage_samples_retried_total rw_bad)" = 0 ] || fail "a 400 was retried"
[ "$(self prometheus_remote_storage_samples_pending rw_bad)" -lt 50 ] || fail "refused samples stay queued"
expect_log "not retried: HTTP 400: out of bounds: sample too old"
pass "400 is given up at once, counted and logged with the receiver's reason"

# --- an outage with a restart of bearmond in it ------------------------------
stop_prom
t_down=$(date +%s%3N)
sleep 2
stop_daemon
start_daemon "$T/bearmon.conf"
expect_log "samples from the previous run wait in"
sleep 2
t_up=$(date +%s%3N)
start_prom
caught_up() { [ "$(prom_samples 1 "$t_down" "$t_up" | wc -l)" = "$(store_samples 1 "$t_down" "$t_up" | wc -l)" ]; }
for _ in $(seq 300); do caught_up && break; sleep 0.1; done
store_samples 1 "$t_down" "$t_up" >"$T/store.txt"
prom_samples 1 "$t_down" "$((t_up + 5000))" | awk -v up="$t_up" '$1 <= up' >"$T/prom.txt"
[ "$(wc -l <"$T/store.txt")" -ge 10 ] || fail "too few samples during the outage"
diff "$T/store.txt" "$T/prom.txt" >&2 || fail "samples of the outage missing or different"
pass "receiver down and bearmond restarted: all $(wc -l <"$T/store.txt") samples of the outage arrived"
stop_daemon
