# SPDX-License-Identifier: Apache-2.0
# The dashboard in a real browser: bearmond with collectors, the test
# collector (50 series, and an alert every collection) and ui/dashboard;
# Debian's headless chromium driven by playwright-core
# (tests/browser/dashboard.mjs) checks that charts receive new points every
# second, that the test's alert appears, that acknowledging it from the page
# works when the rule engine (analyzer/alerts) is built, the polling
# fallback and a history range, and that a second bearmond listening with
# TLS (a throw-away self-signed certificate) serves a page that polls since
# the WebSocket cannot be handed over. Screenshots:
# $BM_BUILD/artifacts/browser/.
. "$(dirname "$0")/../integration/lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM missing: apt-get install chromium"
command -v node >/dev/null || fail "node is missing: apt-get install nodejs npm"
BM_NODE_MODULES=$("$BM_SOURCE_DIR/tests/browser/setup.sh" "$BM_BUILD") || fail "npm install of tests/browser failed"
export BM_NODE_MODULES CHROMIUM
[ -f "$BM_BUILD/plugins/bm_ui_dashboard.so" ] || fail "ui/dashboard plugin not built"
ART="$BM_BUILD/artifacts/browser"
rm -rf "$ART"
mkdir -p "$ART"

instances=('gen = { plugin = "collector/testgen"; series = 50; events = true; };'
	'dashboard = { plugin = "ui/dashboard"; };')
for c in cpu memory load pressure netdev diskstats; do
	[ -f "$BM_BUILD/plugins/bm_collector_$c.so" ] && instances+=("$c = { plugin = \"collector/$c\"; };")
done
# With the rule engine, the alert comes from a rule on the test's series
# and can be acknowledged; without it, from the test collector's own alert
# events (then there is nothing to acknowledge).
ALERT=TestgenHigh
ACK=""
if [ -f "$BM_BUILD/plugins/bm_analyzer_alerts.so" ]; then
	ALERT=BrowserTestHot
	ACK=--ack
	instances+=("alerts = { plugin = \"analyzer/alerts\"; rules = ( { name = \"$ALERT\";
		metric = \"testgen_value{series=\\\"49\\\"}\"; condition = \"gt\"; threshold = 48.0;
		severity = \"warning\"; notifiers = [\"-\"]; } ); };")
fi
conf "$T/bearmon.conf" 'interval = "1s";' "${instances[@]}"
sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$PLUGINS\", \"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"

# the TLS daemon: its own data dir and port, the test collector and the dashboard
TLS_PORT=$((BM_PORT + 1))
TLS_PID=""
trap '[ -n "$TLS_PID" ] && kill -9 "$TLS_PID" 2>/dev/null; cleanup' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-keyout "$T/tls.key" -out "$T/tls.crt" >/dev/null 2>&1 || fail "openssl could not make a certificate"
mkdir -p "$T/tls-data" "$T/tls-conf.d"
cat >"$T/tls.conf" <<EOF
data_dir = "$T/tls-data";
plugin_dirs = ["$PLUGINS", "$BM_BUILD/plugins"];
include_dir = "$T/tls-conf.d";
interval = "1s";
http = { listen = "127.0.0.1:$TLS_PORT"; tls_cert = "$T/tls.crt"; tls_key = "$T/tls.key"; };
gen = { plugin = "collector/testgen"; series = 50; };
dashboard = { plugin = "ui/dashboard"; };
EOF
"$BEARMOND" -c "$T/tls.conf" >>"$T/tls.log" 2>&1 &
TLS_PID=$!
for _ in $(seq 100); do curl -skf "https://127.0.0.1:$TLS_PORT/api/bearmon/v1/status" >/dev/null && break; sleep 0.1; done
curl -skf "https://127.0.0.1:$TLS_PORT/api/bearmon/v1/status" >/dev/null || { cat "$T/tls.log" >&2; fail "the TLS bearmond did not start"; }
api /api/bearmon/v1/plugins | jq -e '[.plugins[] | select(.state != "running")] | length == 0' >/dev/null ||
	fail "not every instance runs: $(api /api/bearmon/v1/plugins)"
pass "bearmond runs $((${#instances[@]})) instances${ACK:+ (with the rule engine)}"

node "$BM_SOURCE_DIR/tests/browser/dashboard.mjs" "$URL" "$ART" "$ALERT" $ACK --tls "https://127.0.0.1:$TLS_PORT" ||
	fail "the browser session failed"
ls "$ART"/*.png >/dev/null 2>&1 || fail "no screenshots saved"
pass "browser session; screenshots in $ART: $(cd "$ART" && echo *.png)"
stop_daemon
kill -TERM "$TLS_PID"
wait "$TLS_PID" || fail "the TLS bearmond exited with $?"
TLS_PID=""
