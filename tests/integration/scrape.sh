# SPDX-License-Identifier: Apache-2.0
# collector/scrape against small local HTTP servers (plugins/collector_scrape/
# tests/targetserver.py): good targets (text, OpenMetrics, gzip, basic and
# bearer auth, TLS) arrive in the store with their types; bad ones (garbage,
# hang, 100 MB, 500, closed connection, refused, too many series) are counted,
# get up 0 and one log line, and everyone else keeps being scraped; a vanished
# series, a killed target and a target leaving file_sd get stale markers.
# Ports: BM_PORT bearmond, +1 and +2 plain targets, +3 TLS, +9 nothing.
. "$(dirname "$0")/lib.sh"

P1=$((BM_PORT + 1))
P2=$((BM_PORT + 2))
P3=$((BM_PORT + 3))
PDEAD=$((BM_PORT + 9))
SERVER="$BM_SOURCE_DIR/plugins/collector_scrape/tests/targetserver.py"
PY=/usr/bin/python3 # Debian's; any python3 with its standard library will do
[ -x "$PY" ] || PY=python3
SPIDS=()
trap 'for p in "${SPIDS[@]}"; do kill "$p" 2>/dev/null || true; done; cleanup' EXIT

serve() { # serve PORT [CERT KEY]
	"$PY" "$SERVER" "$@" >>"$T/server.log" 2>&1 &
	SPIDS+=($!)
}
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-days 1 -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 || fail "openssl req"
serve "$P1"
serve "$P2"
serve "$P3" "$T/cert.pem" "$T/key.pem"
S2=${SPIDS[1]}
wait_for curl -sf "http://127.0.0.1:$P1/metrics"
wait_for curl -sf "http://127.0.0.1:$P2/metrics"
wait_for curl -sfk "https://127.0.0.1:$P3/metrics"

echo tok-123 >"$T/token"
# file_sd: one target on the server we kill, one we remove from the file
sd_two() {
	printf '[{"targets": ["127.0.0.1:%s"], "labels": {"which": "a"}},\n {"targets": ["127.0.0.1:%s"], "labels": {"which": "b"}}]\n' "$P2" "$P1"
}
sd_two >"$T/sd.json.tmp" && mv "$T/sd.json.tmp" "$T/sd.json"
# 50 targets through a YAML file: concurrency
for i in $(seq 50); do printf -- '- targets: ["127.0.0.1:%s"]\n  labels: {shard: "%s"}\n' "$P1" "$i"; done >"$T/scale.yml"

job() { # job NAME PATH [PORT] [EXTRA OPTIONS]
	printf '{ job_name = "%s"; metrics_path = "%s"; %s\n  static_configs = ( { targets = ["127.0.0.1:%s"]; } ); },\n' \
		"$1" "$2" "${4:-}" "${3:-$P1}"
}
{
	echo "data_dir = \"$T/data\";"
	echo "plugin_dirs = [\"$BM_BUILD/plugins\"];"
	echo "http = { listen = \"127.0.0.1:$BM_PORT\"; };"
	echo 'interval = "1s"; self_metrics_interval = "1s";'
	echo 'scrape = { plugin = "collector/scrape"; jobs = ('
	printf '{ job_name = "good"; static_configs = ( { targets = ["127.0.0.1:%s"]; labels = { env = "test"; }; } ); },\n' "$P1"
	job om /om
	job gz /gzip
	job auth /auth "$P1" 'basic_auth = { username = "scraper"; password = "s3cret"; };'
	job bearer /bearer "$P1" "bearer_token_file = \"$T/token\";"
	job tls /metrics "$P3" "scheme = \"https\"; tls_config = { ca_file = \"$T/cert.pem\"; };"
	job tls_unknown_ca /metrics "$P3" 'scheme = "https";'
	job tls_insecure /metrics "$P3" 'scheme = "https"; tls_config = { insecure_skip_verify = true; };'
	job garbage /garbage
	job hang /hang "$P1" 'scrape_timeout = "500ms";'
	job huge /huge "$P1" 'body_size_limit = "1MiB";'
	job e500 /500
	job close /close
	job refused /metrics "$PDEAD"
	job limited /many "$P1" 'sample_limit = 100;'
	job capped /many "$P1" 'series_limit = 50;'
	job long /long "$P1" 'label_value_length_limit = 100;'
	job dup /dup
	job relabel /metrics "$P1" 'metric_relabel_configs = ( { source_labels = ["__name__"]; regex = "test_latency_.*"; action = "drop"; } );'
	echo "{ job_name = \"sd\"; file_sd = [\"$T/sd.json\"]; },"
	echo "{ job_name = \"scale\"; file_sd = [\"$T/*.yml\"]; }"
	echo '); };'
} >"$T/bearmon.conf"
start_daemon "$T/bearmon.conf"

# sid NAME QUERY [SUBSTRING]: id of the first series NAME{QUERY} containing SUBSTRING
sid() { api "/api/bearmon/v1/series?name=$1&$2" | jq -er --arg s "${3:-}" '[.series[] | select(.series | contains($s))][0].id'; }
# last NAME QUERY [SUBSTRING]: the newest value of that series
last() {
	local id
	id=$(sid "$@") || return 1
	api "/api/bearmon/v1/samples?id=$id" | jq -er '.samples[-1][1]'
}
is() { [ "$(last "$1" "$2" "${4:-}" 2>/dev/null)" = "$3" ]; } # is NAME QUERY VALUE [SUBSTRING]
n_series() { api "/api/bearmon/v1/series?name=$1&$2" | jq -er '.series | length'; }
self() { last "bearmon_scrape_$1" "instance=scrape"; }
at_least() { [ "$(self "$1" 2>/dev/null || echo 0)" -ge "$2" ] 2>/dev/null; } # at_least COUNTER N

# 1. good targets arrive with their values
for j in good om gz auth bearer tls tls_insecure capped long dup relabel; do
	wait_for is up "job=$j" 1
done
is test_requests_total "job=good" 1027 'code="200"' || fail "good: $(last test_requests_total job=good)"
is om_tokens_total "job=om" 12345 || fail "OpenMetrics negotiated and parsed"
is om_queue "job=om" 4 || fail "OpenMetrics gauge"
is test_temperature_celsius "job=gz" 21.5 || fail "gzip body"
is auth_ok "job=auth" 1 || fail "basic auth"
is bearer_ok "job=bearer" 1 || fail "bearer token from a file"
is test_temperature_celsius "job=tls" 21.5 || fail "https with ca_file"
is test_temperature_celsius "job=tls_insecure" 21.5 || fail "https with insecure_skip_verify"
is test_untyped_thing "job=good" 42 'exported_job="exposed"' || fail "clashing labels go to exported_*"
[ "$(n_series test_latency_seconds_bucket job=relabel)" = 0 ] || fail "metric_relabel_configs drop"
is test_requests_total "job=relabel" 3 'code="500"' || fail "relabel keeps the rest"
exp=$(api "/api/bearmon/v1/export?name=test_requests_total&job=good")
echo "$exp" | grep -q '^# TYPE test_requests counter$' || fail "counter type in the store: $exp"
echo "$exp" | grep -q '^# HELP test_requests Requests served.$' || fail "help in the store"
api "/api/bearmon/v1/export?name=test_temperature_celsius&job=good" | grep -q '^# TYPE test_temperature_celsius gauge$' ||
	fail "gauge type in the store"
pass "text, OpenMetrics, gzip, basic/bearer auth, TLS (CA, insecure): values and types in the store"

# 2. 50 targets from a YAML file_sd, scraped concurrently
all_scale_up() { [ "$(api '/api/bearmon/v1/series?name=up&job=scale' | jq '[.series[]] | length')" = 50 ]; }
wait_for all_scale_up
wait_for is bearmon_scrape_targets_up "instance=scrape" 63
is bearmon_scrape_targets "instance=scrape" 71 || fail "targets: $(last bearmon_scrape_targets instance=scrape)"
pass "50 file_sd targets up at once; 63 of 71 targets up"

# 3. bad targets: up 0, counted, one log line each, the daemon serves on
for j in garbage hang huge e500 close refused limited tls_unknown_ca; do
	wait_for is up "job=$j" 0
done
wait_for at_least timeouts_total 3
for c in http_errors_total body_too_large_total parse_errors_total sample_limit_exceeded_total \
	series_dropped_limit_total series_dropped_labels_total duplicate_samples_total; do
	wait_for at_least "$c" 1
done
wait_for at_least transport_errors_total 3 # close, refused, unknown CA
[ "$(n_series test_many job=capped)" = 50 ] || fail "series_limit 50: $(n_series test_many job=capped)"
[ "$(n_series test_long job=long)" = 0 ] || fail "label_value_length_limit"
[ "$(n_series test_many job=long)" = 3 ] || fail "the rest of that target"
[ "$(grep -c 'job hang: scrape of' "$T/log")" = 1 ] || fail "hang logged $(grep -c 'job hang: scrape of' "$T/log") times"
expect_log "job huge: scrape of http://127.0.0.1:$P1/huge failed: body larger than body_size_limit (1048576 bytes)"
expect_log "job garbage: scrape of http://127.0.0.1:$P1/garbage failed: text format: line 1"
expect_log "job e500: scrape of http://127.0.0.1:$P1/500 failed: server returned HTTP status 500"
expect_log "job limited: scrape of http://127.0.0.1:$P1/many failed: more than sample_limit 100 samples"
is up "job=good" 1 || fail "good target still up"
pass "garbage, hang, 100 MB, 500, closed, refused, bad CA, limits: up 0, counted, logged once"

# 4. staleness: a vanished series, a killed target, a target leaving file_sd
curl -sf "http://127.0.0.1:$P1/ctl/drop" >/dev/null
wait_for is test_requests_total "job=good" NaN 'code="500"'
is test_requests_total "job=good" 1027 'code="200"' || fail "the other series goes on"
pass "a series the target stops exposing gets a stale marker"
wait_for is up "job=sd" 1 'which="a"'
kill "$S2"
wait_for is up "job=sd" 0 'which="a"'
is test_requests_total "job=sd" NaN 'which="a"' || fail "down target's series not stale"
is scrape_samples_scraped "job=sd" 0 'which="a"' || fail "report of a down target"
pass "a killed target: up 0 and stale markers for its series"
wait_for is up "job=sd" 1 'which="b"'
sd_two | head -n 1 | sed 's/},$/}]/' >"$T/sd.json.tmp" && mv "$T/sd.json.tmp" "$T/sd.json"
wait_for is up "job=sd" NaN 'which="b"'
is test_temperature_celsius "job=sd" NaN 'which="b"' || fail "removed target's series not stale"
pass "a target removed from file_sd: every series stale"

api /api/bearmon/v1/status >/dev/null || fail "status while targets hang"
stop_daemon
# stopping the instance ends every series it had
{
	echo "data_dir = \"$T/data\";"
	echo "plugin_dirs = [\"$BM_BUILD/plugins\"];"
	echo "http = { listen = \"127.0.0.1:$BM_PORT\"; };"
} >"$T/store-only.conf"
start_daemon "$T/store-only.conf"
is up "job=good" NaN || fail "stop did not mark up{job=good} stale"
is test_requests_total "job=good" NaN 'code="200"' || fail "stop did not mark the scraped series stale"
pass "stopping the instance marks its series stale"
stop_daemon
