# SPDX-License-Identifier: Apache-2.0
# notifier/alertmanager against a real Alertmanager (Debian's
# prometheus-alertmanager) on loopback: alerts from the test collector
# alertgen appear in its API v2 with the external labels, stay active past
# four resend delays because they are re-sent, and resolve (gone from the
# API, and Alertmanager's own webhook announces the resolution). A second,
# dead Alertmanager URL does not stop delivery to the live one.
. "$(dirname "$0")/../integration/lib.sh"

AM_BIN=${AM_BIN:-/usr/bin/prometheus-alertmanager}
[ -x "$AM_BIN" ] || fail "$AM_BIN missing: apt-get install prometheus-alertmanager"
P_AM=$((BM_PORT + 1))
P_RX=$((BM_PORT + 2))
P_DEAD=$((BM_PORT + 3))
AM="http://127.0.0.1:$P_AM"
HELPERS=""
trap 'for p in $HELPERS; do kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done; cleanup' EXIT

# Alertmanager's webhook receiver: records every notification it sends.
cat >"$T/rx.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "ab") as f: f.write(body + b"\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
cat >"$T/am.yml" <<EOF
route:
  receiver: rx
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: rx
    webhook_configs:
      - url: http://127.0.0.1:$P_RX/am
        send_resolved: true
EOF
python3 "$T/rx.py" "$P_RX" "$T/rx.jsonl" >>"$T/helpers.log" 2>&1 &
HELPERS="$HELPERS $!"
"$AM_BIN" --config.file="$T/am.yml" --storage.path="$T/am" --web.listen-address="127.0.0.1:$P_AM" \
	--cluster.listen-address= >>"$T/am.log" 2>&1 &
HELPERS="$HELPERS $!"
for _ in $(seq 300); do curl -sf "$AM/-/ready" >/dev/null && break; sleep 0.1; done
curl -sf "$AM/-/ready" >/dev/null || { tail "$T/am.log"; fail "alertmanager did not start"; }
pass "alertmanager $("$AM_BIN" --version 2>&1 | head -1 | awk '{print $3}') on $AM"

conf "$T/bearmon.conf" 'interval = "500ms";' \
	'ag = { plugin = "collector/alertgen"; rule = "AMTest"; alerts = 2; resolve_after = 30; route = "/api/bearmon/v1/alertgen"; annotations = { summary = "from bearmon"; }; };' \
	"am = { plugin = \"notifier/alertmanager\"; urls = [\"http://127.0.0.1:$P_DEAD\", \"$AM\"]; resend_delay = \"1s\"; external_labels = { cluster = \"test\"; }; };"
sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$PLUGINS\", \"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"

am_alerts() { curl -sf "$AM/api/v2/alerts?filter=alertname%3D%22AMTest%22"; }
active() { [ "$(am_alerts | jq '[.[] | select(.status.state == "active")] | length')" = "$1" ]; }
for _ in $(seq 300); do active 2 && break; sleep 0.1; done
active 2 || fail "the 2 alerts never became active in alertmanager: $(am_alerts)"
a=$(am_alerts)
[ "$(echo "$a" | jq -r '[.[].labels.cluster] | unique | .[0]')" = test ] || fail "external label: $a"
[ "$(echo "$a" | jq -r '[.[].annotations.summary] | unique | .[0]')" = "from bearmon" ] || fail "annotations: $a"
[ "$(echo "$a" | jq -r '[.[].generatorURL] | unique | .[0]')" = "http://127.0.0.1/alertgen" ] || fail "generatorURL: $a"
pass "both alerts active in GET /api/v2/alerts with labels, annotations, generatorURL"

# endsAt is four resend delays ahead: without re-sends they would expire
# 4 s after they fired; they fire for 15 s. Look again 7 s after startsAt.
starts=$(echo "$a" | jq -r '.[0].startsAt | sub("\\.[0-9]+Z$"; "Z") | fromdate')
while [ "$(date +%s)" -lt $((starts + 7)) ]; do sleep 0.2; done
active 2 || fail "alerts expired while firing (re-sends missing): $(am_alerts)"
ends=$(am_alerts | jq -r '[.[].endsAt | sub("\\.[0-9]+Z$"; "Z") | fromdate] | min')
[ "$ends" -gt "$(date +%s)" ] || fail "endsAt not in the future while firing"
pass "still active 7 s after startsAt: re-sent every resend_delay (endsAt $((ends - $(date +%s))) s ahead)"

for _ in $(seq 400); do [ "$(am_alerts | jq length)" = 0 ] && break; sleep 0.1; done
[ "$(am_alerts | jq length)" = 0 ] || fail "alerts not resolved in alertmanager: $(am_alerts)"
for _ in $(seq 200); do grep -q '"status":"resolved"' "$T/rx.jsonl" 2>/dev/null && break; sleep 0.1; done
jq -e 'select(.status == "resolved") | .alerts | length == 2' "$T/rx.jsonl" >/dev/null ||
	fail "alertmanager did not announce the resolution: $(cat "$T/rx.jsonl" 2>/dev/null)"
pass "resolution: gone from the API, and alertmanager's webhook says resolved"

t=$(api /api/bearmon/v1/alertgen)
[ "$(echo "$t" | jq '.notifiers["alertmanager:am"].ok')" -ge 3 ] || fail "ok attempts: $t"
[ "$(echo "$t" | jq '.notifiers["alertmanager:am"].failed')" -ge 1 ] || fail "the dead url was not tried: $t"
[ "$(echo "$t" | jq '.notifiers["alertmanager:am"].dropped')" = 0 ] || fail "dropped: $t"
pass "the dead second url failed without holding back the live one: $(echo "$t" | jq -c '.notifiers["alertmanager:am"]')"
stop_daemon
