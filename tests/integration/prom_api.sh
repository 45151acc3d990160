# SPDX-License-Identifier: Apache-2.0
# Prometheus' HTTP API on bearmond: known samples imported with bearmonctl,
# then /api/v1/query, query_range (GET and POST), series, labels, label
# values, metadata, buildinfo, rules, alerts, errors (parse position, huge
# ranges, the sample limit), invalid UTF-8 in answers, promtool as a client, and /metrics in both
# exposition formats checked by promtool.
. "$(dirname "$0")/lib.sh"

conf "$T/bearmon.conf" 'interval = "200ms";' 'self_metrics_interval = "200ms";' \
	'gen = { plugin = "collector/testgen"; series = 3; };'
# imports lie in the past: raw retention off, or the first expiry pass drops them
start_daemon "$T/bearmon.conf" --set query.max_samples=1000 --set store.retention_raw=0s
CTL=("$BEARMONCTL" -c "$T/bearmon.conf")
V1="$URL/api/v1"
T0=1700000000

# 10 minutes every 15 s: a counter that resets once (at 5 min), two gauges,
# a histogram
{
	echo "# TYPE http_requests counter"
	echo "# HELP http_requests requests served"
	for i in $(seq 0 40); do
		v=$((i * 10))
		[ "$i" -ge 20 ] && v=$(((i - 20) * 10 + 5))
		echo "http_requests_total{code=\"200\"} $v $((T0 + i * 15))"
		echo "http_requests_total{code=\"500\"} $i $((T0 + i * 15))"
	done
	echo "# TYPE temperature_celsius gauge"
	for i in $(seq 0 40); do
		echo "temperature_celsius{room=\"a\"} $((20 + i % 5)) $((T0 + i * 15))"
		echo "temperature_celsius{room=\"b\"} 30.5 $((T0 + i * 15))"
	done
	echo "# TYPE latency_seconds histogram"
	for i in $(seq 0 40); do
		echo "latency_seconds_bucket{le=\"0.1\"} $((i * 1)) $((T0 + i * 15))"
		echo "latency_seconds_bucket{le=\"1\"} $((i * 3)) $((T0 + i * 15))"
		echo "latency_seconds_bucket{le=\"+Inf\"} $((i * 4)) $((T0 + i * 15))"
		echo "latency_seconds_count $((i * 4)) $((T0 + i * 15))"
		echo "latency_seconds_sum $((i * 2)) $((T0 + i * 15))"
	done
	echo "# EOF"
} >"$T/in.om"
"${CTL[@]}" import "$T/in.om" | tee "$T/import.out" | grep -q "imported 369 samples in 9 series" || fail "import: $(cat "$T/import.out")"

q() { curl -s -G "$V1/query" --data-urlencode "query=$1" --data-urlencode "time=$2"; }
# near JSON-VALUE WANT: equal within 1e-12 (relative)
near() { jq -en --argjson g "$1" --argjson w "$2" '($g - $w | fabs) <= 1e-12 * ([$w | fabs, 1] | max)' >/dev/null; }

# instant queries with hand-computed answers
r=$(q 'temperature_celsius{room="a"}' $((T0 + 20)))
[ "$(echo "$r" | jget '.data.resultType')" = vector ] || fail "vector: $r"
[ "$(echo "$r" | jget '.data.result[0].value[1]')" = 21 ] || fail "lookback picks the sample at +15 s: $r"
[ "$(echo "$r" | jget '.data.result[0].value[0]')" = $((T0 + 20)) ] || fail "time of an instant vector: $r"
[ "$(echo "$r" | jget '.data.result[0].metric.__name__')" = temperature_celsius ] || fail "name kept: $r"
# 20 samples, 0..190 in 285 s, exactly covering [T0, T0+285]
[ "$(q 'increase(http_requests_total{code="200"}[285s])' $((T0 + 285)) | jget '.data.result[0].value[1]')" = 190 ] ||
	fail "increase"
# across the reset: 105 - 100, plus the 190 before it, over [T0+150, T0+450]
r=$(q 'increase(http_requests_total{code="200"}[300s])' $((T0 + 450)))
[ "$(echo "$r" | jget '.data.result[0].value[1]')" = 195 ] || fail "increase across a reset: $r"
[ "$(q 'rate(http_requests_total{code="500"}[5m])' $((T0 + 300)) | jget '.data.result[0].value[1]')" = 0.06666666666666667 ] ||
	fail "rate"
[ "$(q 'sum(temperature_celsius)' $((T0 + 20)) | jget '.data.result[0].value[1]')" = 51.5 ] || fail "sum"
# rank 20 of 40 falls in (0.1, 1] holding 10..30: 0.1 + 0.9 * 10 / 20
near "$(q 'histogram_quantile(0.5, latency_seconds_bucket)' $((T0 + 150)) | jget '.data.result[0].value[1]')" 0.55 ||
	fail "histogram_quantile"
[ "$(q '2 * 3' $T0 | jget '.data.result[1]')" = 6 ] || fail "scalar"
[ "$(q 'http_requests_total[30s]' $((T0 + 30)) | jget '.data.result[0].values | length')" = 3 ] || fail "matrix"
pass "instant queries: selectors, increase and rate across a reset, sum, histogram_quantile, scalars"

# range queries: GET, and POST as a form (Grafana's way)
r=$(curl -sg "$V1/query_range?query=temperature_celsius&start=$T0&end=$((T0 + 60))&step=15")
[ "$(echo "$r" | jget '.data.resultType')" = matrix ] || fail "range: $r"
[ "$(echo "$r" | jget '.data.result | length')" = 2 ] || fail "two series: $r"
[ "$(echo "$r" | jget '.data.result[0].values | length')" = 5 ] || fail "five steps: $r"
[ "$(echo "$r" | jget '.data.result[0].values[4] | "\(.[0]) \(.[1])"')" = "$((T0 + 60)) 24" ] || fail "last step: $r"
r=$(curl -s "$V1/query_range" --data-urlencode 'query=sum by (code) (rate(http_requests_total[1m]))' \
	--data-urlencode "start=$((T0 + 60))" --data-urlencode "end=$((T0 + 120))" --data-urlencode step=30s)
[ "$(echo "$r" | jget '.data.result | length')" = 2 ] || fail "POST range: $r"
[ "$(echo "$r" | jget '.data.result[1].values[0][1]')" = 0.06666666666666667 ] || fail "POST range value: $r"
pass "query_range: GET and POST form, steps, sorted series"

# the other endpoints
r=$(curl -s -G "$V1/series" --data-urlencode 'match[]=http_requests_total' \
	--data-urlencode 'match[]=temperature_celsius{room="b"}')
[ "$(echo "$r" | jget '.data | length')" = 3 ] || fail "series: $r"
r=$(curl -s "$V1/series" --data-urlencode 'match[]={__name__=~"latency_.*"}' --data-urlencode "start=$T0" \
	--data-urlencode "end=$((T0 + 10))")
[ "$(echo "$r" | jget '.data | length')" = 5 ] || fail "series POST with time bounds: $r"
curl -sg "$V1/labels" | jget '.data' | grep -q '"room"' || fail "labels"
[ "$(curl -s "$V1/label/room/values" | jget '.data | join(",")')" = a,b ] || fail "label values"
curl -s "$V1/metadata" | jget '.data.http_requests[0].type' | grep -qx counter || fail "metadata"
curl -s "$V1/metadata?metric=http_requests" | jget '.data.http_requests[0].help' | grep -qx "requests served" ||
	fail "metadata help"
curl -s "$V1/status/buildinfo" | jget '.data.version' >/dev/null || fail "buildinfo"
[ "$(curl -s "$V1/rules" | jget '.data.groups | length')" = 0 ] || fail "rules"
[ "$(curl -s "$V1/alerts" | jget '.data.alerts | length')" = 0 ] || fail "alerts"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$V1/nope")" = 404 ] || fail "unknown endpoint"
pass "series, labels, label values, metadata, buildinfo, rules, alerts"

# errors as Prometheus reports them
r=$(curl -s -w ' %{http_code}' -G "$V1/query" --data-urlencode 'query=sum(rate(foo[5m])')
echo "$r" | grep -q '"errorType":"bad_data"' && echo "$r" | grep -q '1:18: parse error' && echo "$r" | grep -q ' 400$' ||
	fail "parse error with its position: $r"
r=$(curl -s -w ' %{http_code}' "$V1/query_range?query=up&start=0&end=100000&step=1")
echo "$r" | grep -q 'exceeded maximum resolution of 11,000 points' && echo "$r" | grep -q ' 400$' || fail "huge range: $r"
r=$(curl -s -w ' %{http_code}' "$V1/query_range?query=temperature_celsius&start=$T0&end=$((T0 + 3000))&step=1")
echo "$r" | grep -q 'too many samples' && echo "$r" | grep -q '"errorType":"execution"' && echo "$r" | grep -q ' 422$' ||
	fail "sample limit: $r"
r=$(curl -s -w ' %{http_code}' -G "$V1/query" --data-urlencode 'query=http_requests_total + on(code) temperature_celsius')
echo "$r" | grep -q ' 200$' || fail "no match is no error: $r"
r=$(curl -s -w ' %{http_code}' -G "$V1/query" --data-urlencode 'query=temperature_celsius + on() http_requests_total' \
	--data-urlencode "time=$((T0 + 20))")
echo "$r" | grep -q 'many-to-many matching not allowed' && echo "$r" | grep -q ' 422$' || fail "many-to-many: $r"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$V1/query?query=up&time=yesterday")" = 400 ] || fail "bad time"
pass "errors: parse position (400), huge range (400), sample limit (422), many-to-many (422)"

# label values are written as JSON strings: bytes that are not UTF-8 (here an
# overlong "/" and a surrogate, which label_replace lets through) become
# U+FFFD, so the answer is always valid UTF-8 and strict JSON readers take it
r=$(curl -s -G "$V1/query" --data-urlencode $'query=label_replace(vector(1), "x", "a\xc0\xafb\xed\xa0\x80", "", "")')
printf '%s' "$r" | python3 -c 'import sys, json; json.loads(sys.stdin.buffer.read().decode("utf-8", "strict"))' ||
	fail "not strict UTF-8 JSON: $(printf '%s' "$r" | od -c | head)"
[ "$(echo "$r" | jget '.data.result[0].metric.x')" = $'a\xef\xbf\xbd\xef\xbf\xbdb\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd' ] || fail "U+FFFD: $r"
pass "invalid UTF-8 in a label value is answered as U+FFFD"

# promtool is a Prometheus API client: its answers must come through
if command -v promtool >/dev/null; then
	out=$(promtool query instant --time=$((T0 + 20)) "$URL" 'temperature_celsius')
	echo "$out" | grep -q 'temperature_celsius{room="a"} => 21 @\[' || fail "promtool instant: $out"
	echo "$out" | grep -q 'temperature_celsius{room="b"} => 30.5 @\[' || fail "promtool instant: $out"
	out=$(promtool query range --start=$T0 --end=$((T0 + 30)) --step=15s "$URL" 'sum(temperature_celsius)')
	echo "$out" | grep -q '50.5 @\[1700000000\]' && echo "$out" | grep -q '52.5 @\[1700000030\]' ||
		fail "promtool range: $out"
	out=$(promtool query series --start=$T0 --end=$((T0 + 600)) --match='http_requests_total' "$URL")
	[ "$(echo "$out" | grep -c http_requests_total)" = 2 ] || fail "promtool series: $out"
	out=$(promtool query labels --start=$T0 --end=$((T0 + 600)) "$URL" room)
	[ "$(echo "$out" | tr '\n' ,)" = "a,b," ] || fail "promtool labels: $out"
	pass "promtool query instant, range, series, labels"
else
	echo "note: promtool not installed, its checks skipped"
fi

# /metrics: the newest value of every live series (testgen's), both formats
wait_for sh -c "curl -s '$URL/metrics' | grep -q '^testgen_value{instance=\"gen\",series=\"2\"} '"
wait_for sh -c "curl -s '$URL/metrics' | grep -q '^bearmon_bus_published_total{'"
m=$(curl -s -D "$T/h" "$URL/metrics")
grep -qi '^content-type: text/plain; version=0.0.4' "$T/h" || fail "text format content type"
echo "$m" | grep -q '^# TYPE testgen_value gauge$' && echo "$m" | grep -q '^# HELP testgen_value test gauge$' ||
	fail "TYPE and HELP: $(echo "$m" | head)"
echo "$m" | grep -q '^http_requests' && fail "imported (not live) series exposed"
if command -v promtool >/dev/null; then
	echo "$m" | promtool check metrics >"$T/lint" 2>&1 || fail "promtool check metrics: $(cat "$T/lint")"
fi
om=$(curl -s -D "$T/h" -H 'Accept: application/openmetrics-text; version=1.0.0' "$URL/metrics")
grep -qi '^content-type: application/openmetrics-text' "$T/h" || fail "OpenMetrics content type"
[ "$(echo "$om" | tail -n 1)" = "# EOF" ] || fail "OpenMetrics ends with # EOF"
echo "$om" | grep -q '^# TYPE bearmon_bus_published counter$' && echo "$om" | grep -q '^bearmon_bus_published_total{' ||
	fail "OpenMetrics counter family: $(echo "$om" | grep bus_published)"
pass "/metrics: text 0.0.4 (promtool check metrics) and OpenMetrics"

stop_daemon
