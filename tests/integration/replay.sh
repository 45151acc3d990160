# SPDX-License-Identifier: Apache-2.0
# bearmonctl replay feeds a timestamp,value CSV through each anomaly
# detector plugin: one output row per input row (duplicates included),
# timestamps and values copied verbatim, LF and CRLF alike, scores in
# [0, 1] with the spike on top; --config and --set go through the daemon's
# option validation. Then the default detector runs in the real daemon and
# its anomaly reaches the store.
. "$(dirname "$0")/lib.sh"

PLUGDIR="$BM_BUILD/plugins"
DETECTORS="anomaly_ewma anomaly_hw anomaly_ensemble"

# 1500 five-minute samples with a daily wave, a spike at data row 1300, a
# repeated timestamp, a NaN and an empty value.
python3 - "$T/in.csv" <<'PY'
import math, random, sys, time
rnd = random.Random(7)
rows = ["timestamp,value"]
for i in range(1500):
    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1396310400 + 300 * i))
    v = 50 + 10 * math.sin(2 * math.pi * i / 288) + rnd.gauss(0, 1)
    if i == 1300:
        v += 80
    rows.append("%s,%.4f" % (ts, v))
    if i == 700:
        rows.append("%s,%.4f" % (ts, v + 0.5))  # the same timestamp again
rows[900] = rows[900].split(",")[0] + ",nan"
rows[901] = rows[901].split(",")[0] + ","
open(sys.argv[1], "w").write("\n".join(rows) + "\n")
PY
sed 's/$/\r/' "$T/in.csv" >"$T/in-crlf.csv"
data_rows=$(($(wc -l <"$T/in.csv") - 1))

# check_output FILE: shape and verbatim columns of a result.
check_output() {
	local out=$1
	[ "$(head -n1 "$out")" = "timestamp,value,anomaly_score" ] || fail "$out: header $(head -n1 "$out")"
	[ "$(($(wc -l <"$out") - 1))" = "$data_rows" ] || fail "$out: $(wc -l <"$out") lines for $data_rows rows"
	cmp -s <(cut -d, -f1,2 "$out") <(tail -n +1 "$T/in.csv" | sed '1s/.*/timestamp,value/') ||
		fail "$out: timestamps or values not copied verbatim"
	awk -F, 'NR > 1 && !($3 >= 0 && $3 <= 1) { exit 1 }' "$out" || fail "$out: a score outside [0, 1]"
}

for det in $DETECTORS; do
	"$BEARMONCTL" replay --analyzer "$det" --plugin-dir "$PLUGDIR" --input "$T/in.csv" \
		--output "$T/$det.csv" 2>"$T/err" || fail "replay $det: $(cat "$T/err")"
	check_output "$T/$det.csv"
	# the spike (data row 1300; the repeated timestamp adds a row before it)
	top=$(awk -F, 'NR > 1 && $3 > best { best = $3; row = NR - 1 } END { print row }' "$T/$det.csv")
	[ "$top" = 1302 ] || fail "$det: highest score on data row $top, not on the spike (1302)"
	pass "$det: one row per input row, verbatim columns, the spike scores highest"
	"$BEARMONCTL" replay -a "analyzer/$det" --plugin-dir "$PLUGDIR" -i "$T/in-crlf.csv" \
		-o "$T/$det-crlf.csv" || fail "replay $det of CRLF input"
	cmp -s "$T/$det.csv" "$T/$det-crlf.csv" || fail "$det: CRLF input scored differently"
	pass "$det: CRLF input gives the same output"
done

# the repeated timestamp and the NaN / empty values keep their rows, score 0
awk -F, 'NR == 703 && $1 != prev { exit 1 } { prev = $1 }' "$T/anomaly_ewma.csv" ||
	fail "the repeated timestamp lost its row"
[ "$(sed -n '901p;902p' "$T/anomaly_ewma.csv" | cut -d, -f2,3 | tr '\n' ' ')" = "nan,0 ,0 " ] ||
	fail "NaN and empty rows: $(sed -n '901p;902p' "$T/anomaly_ewma.csv")"
pass "a repeated timestamp, a NaN and an empty value each keep their row"

# stdin to stdout, epoch-second timestamps
awk -F, 'NR == 1 { print; next } { print 1396310400 + 300 * (NR - 2) "," $2 }' "$T/in.csv" |
	"$BEARMONCTL" replay -a anomaly_ewma --plugin-dir "$PLUGDIR" -i - -o - >"$T/epoch.csv" ||
	fail "replay from stdin"
cmp -s <(cut -d, -f3 "$T/epoch.csv" | head -n 702) <(cut -d, -f3 "$T/anomaly_ewma.csv" | head -n 702) ||
	fail "epoch timestamps scored differently"
pass "stdin to stdout, epoch timestamps"

# --config holds one instance block whose options apply; --set overrides
cat >"$T/ewma.conf" <<EOF
plugin_dirs = ["$PLUGDIR"];
mine = { plugin = "analyzer/anomaly_ewma"; warmup = 10; holdoff = 0; };
EOF
"$BEARMONCTL" replay -a anomaly_ewma -c "$T/ewma.conf" -i "$T/in.csv" -o "$T/cfg.csv" ||
	fail "replay with --config"
scored=$(awk -F, 'NR > 1 && $3 > 0' "$T/cfg.csv" | wc -l)
[ "$scored" -gt 1400 ] || fail "warmup 10 and holdoff 0 should score nearly every row, got $scored"
"$BEARMONCTL" replay -a anomaly_ewma -c "$T/ewma.conf" -s warmup=1000 -i "$T/in.csv" -o "$T/set.csv" ||
	fail "replay with --set"
[ "$(awk -F, 'NR > 1 && NR <= 1001 && $3 > 0' "$T/set.csv" | wc -l)" = 0 ] || fail "--set warmup=1000 ignored"
pass "--config options and --set overrides apply"

# the daemon's validation: unknown options, bounds, the wrong plugin
rc=0
"$BEARMONCTL" replay -a anomaly_ewma -c "$T/ewma.conf" -s alpah=0.1 -i "$T/in.csv" -o "$T/x.csv" \
	2>"$T/err" || rc=$?
[ "$rc" = 2 ] && grep -q 'alpah' "$T/err" || fail "unknown option: rc $rc, $(cat "$T/err")"
rc=0
"$BEARMONCTL" replay -a anomaly_ewma -c "$T/ewma.conf" -s alpha=7 -i "$T/in.csv" -o "$T/x.csv" \
	2>"$T/err" || rc=$?
[ "$rc" = 2 ] && grep -q 'alpha' "$T/err" || fail "out of bounds: rc $rc, $(cat "$T/err")"
rc=0
"$BEARMONCTL" replay -a anomaly_hw -c "$T/ewma.conf" -i "$T/in.csv" -o "$T/x.csv" 2>"$T/err" || rc=$?
[ "$rc" = 2 ] && grep -q 'not analyzer/anomaly_hw' "$T/err" || fail "wrong plugin: rc $rc, $(cat "$T/err")"
rc=0
"$BEARMONCTL" replay -a no_such_detector --plugin-dir "$PLUGDIR" -i "$T/in.csv" -o "$T/x.csv" \
	2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'not found' "$T/err" || fail "missing plugin: rc $rc, $(cat "$T/err")"
pass "bad options, the wrong plugin and a missing one are refused"

# bad input: a header without value, an unparseable timestamp (line named)
printf 'time,val\n1,2\n' >"$T/bad.csv"
rc=0
"$BEARMONCTL" replay -a anomaly_ewma --plugin-dir "$PLUGDIR" -i "$T/bad.csv" -o "$T/x.csv" \
	2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'lacks a timestamp or value column' "$T/err" || fail "bad header: $(cat "$T/err")"
printf 'timestamp,value\n2014-04-01 00:00:00,1\nyesterday,2\n' >"$T/bad.csv"
rc=0
"$BEARMONCTL" replay -a anomaly_ewma --plugin-dir "$PLUGDIR" -i "$T/bad.csv" -o "$T/x.csv" \
	2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'bad.csv:3: cannot parse timestamp "yesterday"' "$T/err" ||
	fail "bad timestamp: $(cat "$T/err")"
pass "bad input is refused with the line named"

# the default detector in the daemon: a textfile metric jumps, an anomaly
# event lands in the store
mkdir -p "$T/textfile"
echo "replay_test_level 10" >"$T/textfile/a.prom"
{
	echo "data_dir = \"$T/data\";"
	echo "plugin_dirs = [\"$PLUGDIR\"];"
	echo "include_dir = \"$T/conf.d\";"
	echo "interval = \"50ms\";"
	echo "http = { listen = \"127.0.0.1:$BM_PORT\"; };"
	echo "tf = { plugin = \"collector/textfile\"; directory = \"$T/textfile\"; };"
	sed -e 's|^anomaly = {|anomaly = {\n\tinclude = [ "replay_test_level" ];\n\twarmup = 10;|' \
		"$BM_SOURCE_DIR/conf/conf.d/anomaly.conf"
} >"$T/bearmon.conf"
start_daemon "$T/bearmon.conf"
running() { api "/api/bearmon/v1/plugins" | jq -e '.plugins[] | select(.instance == "anomaly") | .state == "running"'; }
wait_for running
# the store and the detector take the same samples: wait for 40 of them,
# well past the warm-up of 10
stored() {
	local id
	id=$(api "/api/bearmon/v1/series?name=replay_test_level" | jget '.series[0].id') &&
		api "/api/bearmon/v1/samples?id=$id" | jq -e '.samples | length >= 40'
}
wait_for stored
echo "replay_test_level 1000" >"$T/textfile/a.prom"
anomaly() {
	api "/api/bearmon/v1/anomalies?limit=5" |
		jq -e '[.events[].event | select(.detector == "anomaly_ewma" and .series.name == "replay_test_level" and .value == 1000)] | length > 0'
}
wait_for anomaly
pass "the default detector runs in bearmond and its anomaly reaches the store"
stop_daemon
