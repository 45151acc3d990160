# SPDX-License-Identifier: Apache-2.0
# notifier/remote_write against a real VictoriaMetrics (Debian
# victoria-metrics), started here with -dedup.minScrapeInterval=1ms so that
# a sample sent twice (delivery is at-least-once) counts once:
# 1. what bearmond writes comes back from VictoriaMetrics' query and export
#    APIs with the store's values, labels and millisecond timestamps;
# 2. outage: under a steady load (500 samples/s) VictoriaMetrics is stopped
#    for 30 s and bearmond restarted 10 s into it; afterwards count and sum
#    of every series over the whole run equal the store's, exactly;
# 3. fleet: three more bearmond (own data dirs, host labels) write to the
#    same VictoriaMetrics; each host's series are there, complete.
# Ports: BM_PORT bearmond, +1 VictoriaMetrics, +2..+4 the fleet.
. "$(dirname "$0")/../integration/lib.sh"

VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}
[ -x "$VM_BIN" ] || fail "$VM_BIN missing: apt-get install victoria-metrics"
P_VM=$((BM_PORT + 1))
VM="http://127.0.0.1:$P_VM"
VM_PID=""
FLEET_PIDS=""
trap 'for p in $VM_PID $FLEET_PIDS; do kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done; cleanup' EXIT

start_vm() {
	"$VM_BIN" -httpListenAddr="127.0.0.1:$P_VM" -storageDataPath="$T/vm" -retentionPeriod=100y \
		-dedup.minScrapeInterval=1ms -search.latencyOffset=0s -search.disableCache \
		>>"$T/vm.log" 2>&1 &
	VM_PID=$!
	for _ in $(seq 300); do curl -sf "$VM/health" >/dev/null && return 0; sleep 0.1; done
	fail "VictoriaMetrics did not start: $(tail -3 "$T/vm.log")"
}
stop_vm() {
	kill "$VM_PID"
	wait "$VM_PID" 2>/dev/null || true
	VM_PID=""
}
vmq() { curl -sf -G "$VM/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result'; }
# vm_stats SELECTOR FROM TO: "series count sum" per series (the store's
# text: name{a="x",...}, without the external labels), raw samples in
# [FROM, TO] ms, stale markers left out
vm_stats() {
	curl -sf -G "$VM/api/v1/export" --data-urlencode "match[]=$1" \
		--data-urlencode "start=$(($2 / 1000))" --data-urlencode "end=$(($3 / 1000 + 1))" |
		jq -r --argjson from "$2" --argjson to "$3" '
			(.metric.__name__ + "{" + (.metric | del(.__name__, .host, .cluster) | to_entries
				| sort_by(.key) | map("\(.key)=\"\(.value)\"") | join(",")) + "}") as $k
			| [.timestamps, .values] | transpose
			| map(select(.[0] >= $from and .[0] <= $to and .[1] != null and .[1] != "NaN"))
			| "\($k) \(length) \(map(.[1]) | add // 0)"' | sort
}
# store_stats URL NAME FROM TO: the same from a bearmond's store
store_stats() {
	local url=$1 name=$2 from=$3 to=$4
	curl -sf "$url/api/bearmon/v1/series?name=$name" | jq -r '.series[] | "\(.id) \(.series)"' |
		while read -r id text; do
			curl -sf "$url/api/bearmon/v1/samples?id=$id&start=$from&end=$to" | jq -r --arg k "$text" '
				[.samples[] | select(.[1] != "NaN")] | "\($k) \(length) \(map(.[1]) | add // 0)"'
		done | sort
}

start_vm
BM_URL="http://127.0.0.1:$BM_PORT"
rw_block() { # rw_block HOST: the remote_write instance block
	echo "rw = { plugin = \"notifier/remote_write\"; url = \"$VM/api/v1/write\";
		batch_send_deadline = \"200ms\"; min_backoff = \"50ms\"; max_backoff = \"1s\";
		external_labels = { host = \"$1\"; cluster = \"test\"; }; };"
}
# rw before gen: instances start in config order, so it subscribes before
# gen's first samples, and stops after gen's stale markers
conf "$T/bearmon.conf" 'interval = "200ms";' 'self_metrics_interval = "1s";' \
	"$(rw_block main)" 'gen = { plugin = "collector/testgen"; series = 100; };'
sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$PLUGINS\", \"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
mkdir -p "$T/conf.d"
t_start=$(date +%s%3N)
start_daemon "$T/bearmon.conf"

# --- 1. values, labels, timestamps -------------------------------------------
arrived() { [ "$(vmq 'testgen_value{host="main"}' | jq length)" = 100 ]; }
wait_for arrived
got=$(vmq 'testgen_value{series="42",host="main"}')
echo "$got" | jq -e '.[0].value[1] == "42" and (.[0].metric | .cluster == "test" and .instance == "gen")' \
	>/dev/null || fail "value or labels: $got"
sleep 2
now=$(date +%s%3N)
sid=$(api "/api/bearmon/v1/series?name=testgen_value&series=7" | jq -er '.series[0].id')
api "/api/bearmon/v1/samples?id=$sid&start=$((now - 2000))&end=$((now - 1000))" |
	jq -r '.samples[] | "\(.[0]) \(.[1])"' >"$T/store.txt"
curl -sf -G "$VM/api/v1/export" --data-urlencode 'match[]=testgen_value{series="7",host="main"}' |
	jq -r --argjson from $((now - 2000)) --argjson to $((now - 1000)) \
		'[.timestamps, .values] | transpose | .[] | select(.[0] >= $from and .[0] <= $to) | "\(.[0]) \(.[1])"' \
		>"$T/vm.txt"
[ "$(wc -l <"$T/store.txt")" -ge 3 ] || fail "too few samples to compare"
diff "$T/store.txt" "$T/vm.txt" >&2 || fail "timestamps or values differ between the store and VictoriaMetrics"
pass "VictoriaMetrics returns the values, labels and ms timestamps the store has"

# --- 2. a 30 s outage with a restart of bearmond in it -------------------------
sleep 3
stop_vm
t_down=$(date +%s%3N)
sleep 10
stop_daemon
start_daemon "$T/bearmon.conf"
expect_log "samples from the previous run wait in"
sleep 20
start_vm
t_up=$(date +%s%3N)
sleep 5
t_end=$(date +%s%3N)
echo "outage $(((t_up - t_down) / 1000)) s; comparing [$t_start, $t_end]"
compare() {
	store_stats "$BM_URL" testgen_value "$t_start" "$t_end" >"$T/store_stats.txt"
	vm_stats 'testgen_value{host="main"}' "$t_start" "$t_end" >"$T/vm_stats.txt"
	cmp -s "$T/store_stats.txt" "$T/vm_stats.txt"
}
for _ in $(seq 60); do compare && break; sleep 2; done
[ "$(wc -l <"$T/store_stats.txt")" = 100 ] || fail "expected 100 series in the store"
diff "$T/store_stats.txt" "$T/vm_stats.txt" >&2 || fail "count or sum per series differ after the outage"
total=$(awk '{n += $2} END {print n}' "$T/store_stats.txt")
pass "after a $(((t_up - t_down) / 1000)) s outage and a restart: all $total samples of 100 series arrived (count and sum per series)"
# bearmond's own series too, whose values move
store_stats "$BM_URL" bearmon_bus_published_total "$((t_start + 3000))" "$((t_down - 2000))" >"$T/s2.txt"
vm_stats 'bearmon_bus_published_total{host="main"}' "$((t_start + 3000))" "$((t_down - 2000))" >"$T/v2.txt"
[ -s "$T/s2.txt" ] || fail "no bearmon_bus_published_total in the store"
diff "$T/s2.txt" "$T/v2.txt" >&2 || fail "self-metric sums differ"
pass "changing values (bearmon_bus_published_total): sums equal"
self() { # self NAME: the newest value of the rw instance's self-metric NAME
	api "/api/bearmon/v1/samples?id=$(api "/api/bearmon/v1/series?name=$1&instance=rw" |
		jq -er '.series[0].id')" | jq -er '.samples[-1][1]'
}
[ "$(self prometheus_remote_storage_samples_failed_total)" = 0 ] || fail "samples given up"
[ "$(self prometheus_remote_storage_samples_dropped_total)" = 0 ] || fail "samples dropped"
[ "$(self prometheus_remote_storage_samples_retried_total)" -gt 0 ] || fail "no retries counted"
pass "retries counted, nothing given up or dropped"
stop_daemon

# --- 3. a fleet of three more ---------------------------------------------------
for i in 1 2 3; do
	d="$T/fleet$i"
	mkdir -p "$d/conf.d"
	cat >"$d/bearmon.conf" <<EOF
data_dir = "$d/data";
plugin_dirs = ["$PLUGINS", "$BM_BUILD/plugins"];
include_dir = "$d/conf.d";
http = { listen = "127.0.0.1:$((BM_PORT + 1 + i))"; };
interval = "500ms";
$(rw_block "fleet-$i")
gen = { plugin = "collector/testgen"; series = 20; };
EOF
	"$BEARMOND" -c "$d/bearmon.conf" >"$d/log" 2>&1 &
	FLEET_PIDS="$FLEET_PIDS $!"
done
t_fleet=$(date +%s%3N)
fleet_up() { [ "$(vmq 'count(count by (host) (testgen_value{host=~"fleet-.*"}))' | jq -r '.[0].value[1]')" = 3 ]; }
wait_for fleet_up
sleep 4
t_fleet_end=$(($(date +%s%3N) - 1500))
for i in 1 2 3; do
	u="http://127.0.0.1:$((BM_PORT + 1 + i))"
	ok=""
	for _ in $(seq 30); do
		store_stats "$u" testgen_value "$t_fleet" "$t_fleet_end" >"$T/fs.txt"
		vm_stats "testgen_value{host=\"fleet-$i\"}" "$t_fleet" "$t_fleet_end" >"$T/fv.txt"
		cmp -s "$T/fs.txt" "$T/fv.txt" && ok=1 && break
		sleep 1
	done
	[ "$(wc -l <"$T/fs.txt")" = 20 ] || fail "fleet-$i: expected 20 series in its store"
	[ -n "$ok" ] || { diff "$T/fs.txt" "$T/fv.txt" >&2; fail "fleet-$i: counts differ"; }
done
[ "$(vmq 'count(testgen_value{host=~"fleet-.*"})' | jq -r '.[0].value[1]')" = 60 ] || fail "fleet series"
pass "fleet: 3 bearmond, distinct host labels, every sample of their 60 series in one VictoriaMetrics"
for p in $FLEET_PIDS; do kill -TERM "$p"; done
for p in $FLEET_PIDS; do wait "$p" || fail "a fleet bearmond exited with $?"; done
FLEET_PIDS=""
