# SPDX-License-Identifier: Apache-2.0
# The alert notifiers in the real daemon, fed by the test collector alertgen
# (tests/plugins/alertgen.c) standing in for the rule engine: log, webhook
# (a Python receiver checking the HMAC), exec (a shell script), email (a
# Python SMTP sink with AUTH); routing; notification events; self-metrics;
# latency from the alert event to the receiver. Then a receiver that is down
# across a daemon restart, answers 500, and is slow: nothing is lost.
. "$(dirname "$0")/lib.sh"

P_WH=$((BM_PORT + 1))
P_SMTP=$((BM_PORT + 2))
P_FLAKY=$((BM_PORT + 3))
HELPERS=""
trap 'for p in $HELPERS; do kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done; cleanup' EXIT

# --- receivers ---------------------------------------------------------------
cat >"$T/webhook_rx.py" <<'EOF'
# webhook receiver: PORT OUT [fail=N] [slow=N delay=S] [secret=K]. The first
# `fail` requests get 500, the next `slow` ones wait `delay` s (the sender has
# given up by then: not recorded); the others are recorded with the time.
import hashlib, hmac, json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, out = int(sys.argv[1]), sys.argv[2]
opts = dict(a.split("=", 1) for a in sys.argv[3:])
fail, slow = int(opts.get("fail", 0)), int(opts.get("slow", 0))
delay, secret = float(opts.get("delay", 0)), opts.get("secret", "").encode()
lock, seen = threading.Lock(), [0]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            n = seen[0]; seen[0] += 1
        if n < fail:
            return self.reply(500)
        if n < fail + slow:
            time.sleep(delay)
            return self.reply(200)
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        rec = {"recv_ms": int(time.time() * 1000), "x_test": self.headers.get("X-Test"),
               "sig_ok": not secret or self.headers.get("X-Bearmon-Signature") == want,
               "payload": json.loads(body)}
        with lock, open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.reply(200)
    def reply(self, code):
        try:
            self.send_response(code); self.send_header("Content-Length", "0"); self.end_headers()
        except OSError:
            pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
cat >"$T/smtp_sink.py" <<'EOF'
# SMTP sink: PORT OUT USER PASSWORD; offers AUTH PLAIN, records each message.
import base64, json, socketserver, sys, time
port, out, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class S(socketserver.StreamRequestHandler):
    def say(self, line): self.wfile.write((line + "\r\n").encode())
    def handle(self):
        self.say("220 sink ESMTP")
        env, authed = {"from": None, "to": []}, None
        while True:
            line = self.rfile.readline()
            if not line: return
            cmd = line.decode().rstrip("\r\n"); up = cmd.upper()
            if up.startswith(("EHLO", "HELO")):
                self.say("250-sink"); self.say("250-AUTH PLAIN"); self.say("250 8BITMIME")
            elif up.startswith("AUTH PLAIN"):
                arg = cmd[10:].strip()
                if not arg:
                    self.say("334 "); arg = self.rfile.readline().decode().strip()
                ok = base64.b64decode(arg).split(b"\0")[1:] == [user.encode(), password.encode()]
                authed = user if ok else None
                self.say("235 ok" if ok else "535 bad credentials")
            elif up.startswith("MAIL FROM:"): env["from"] = cmd[10:]; self.say("250 ok")
            elif up.startswith("RCPT TO:"): env["to"].append(cmd[8:]); self.say("250 ok")
            elif up == "DATA":
                self.say("354 go"); data = b""
                while True:
                    l = self.rfile.readline()
                    if l in (b".\r\n", b""): break
                    data += l[1:] if l.startswith(b"..") else l
                rec = {"recv_ms": int(time.time() * 1000), "auth": authed, "from": env["from"],
                       "to": env["to"], "data": data.decode("utf-8", "replace")}
                with open(out, "a") as f: f.write(json.dumps(rec) + "\n")
                env = {"from": None, "to": []}
                self.say("250 queued")
            elif up == "QUIT": self.say("221 bye"); return
            else: self.say("250 ok")
class T(socketserver.ThreadingTCPServer):
    allow_reuse_address = True; daemon_threads = True
T(("127.0.0.1", port), S).serve_forever()
EOF
cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
# exec notifier target: stdin and the BEARMON_* environment, per alert
cat >"$1/$BEARMON_ALERT_FINGERPRINT.$BEARMON_ALERT_STATUS.json"
env | grep '^BEARMON_' | sort >"$1/$BEARMON_ALERT_FINGERPRINT.$BEARMON_ALERT_STATUS.env"
EOF
mkdir -p "$T/exec"

start_helper() {
	python3 "$@" >>"$T/helpers.log" 2>&1 &
	HELPERS="$HELPERS $!"
}
# wait_until SECONDS CMD...: poll (generous: the sanitizer build is slow)
wait_until() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $*"
}
# config with the test plugins and the built notifier plugins
notifier_conf() {
	conf "$@"
	sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$PLUGINS\", \"$BM_BUILD/plugins\"];|" "$1"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
tally() { api /api/bearmon/v1/alertgen | jq -r "$1"; }
ge() { [ "$(eval "$1")" -ge "$2" ]; }

# --- every notifier, end to end ----------------------------------------------
start_helper "$T/webhook_rx.py" "$P_WH" "$T/rx.jsonl" secret=s3cret
start_helper "$T/smtp_sink.py" "$P_SMTP" "$T/mail.jsonl" bm pw
notifier_conf "$T/bearmon.conf" 'interval = "200ms";' 'self_metrics_interval = "500ms";' \
	'ag = { plugin = "collector/alertgen"; alerts = 3; resolve_after = 3; route = "/api/bearmon/v1/alertgen"; annotations = { summary = "load is high"; }; };' \
	'ag_routed = { plugin = "collector/alertgen"; rule = "RoutedOnly"; notifiers = ["hook"]; resolve_after = 2; };' \
	'notify_log = { plugin = "notifier/log"; };' \
	"wh = { plugin = \"notifier/webhook\"; url = \"http://127.0.0.1:$P_WH/hook\"; hmac_secret = \"s3cret\"; headers = { X-Test = \"yes\"; }; };" \
	"hook = { plugin = \"notifier/exec\"; command = [\"/bin/sh\", \"$T/hook.sh\", \"$T/exec\"]; };" \
	"mail = { plugin = \"notifier/email\"; smtp_url = \"smtp://127.0.0.1:$P_SMTP\"; username = \"bm\"; password = \"pw\"; to = [\"ops@example.com\", \"Dev <dev@example.com>\"]; };"
wait_until 10 port_open "$P_WH"
wait_until 10 port_open "$P_SMTP"
start_daemon "$T/bearmon.conf"

count_rx() { python3 -c "import json,sys; print(sum(len(json.loads(l)['payload']['alerts']) for l in open(sys.argv[1])))" "$T/rx.jsonl" 2>/dev/null || echo 0; }
wait_until 30 ge count_rx 6
wait_until 30 ge "lines $T/mail.jsonl" 6
wait_until 30 ge "ls $T/exec/*.json | wc -l" 8
wait_until 30 ge "grep -c 'alert [a-z]*: TestAlert' $T/log" 6
wait_until 30 ge "tally '.notifiers[\"log:notify_log\"].ok'" 6
pass "every notifier got 3 firing and 3 resolved alerts"

python3 - "$T/rx.jsonl" "$T/mail.jsonl" <<'EOF' || fail "receivers saw something wrong (above)"
import json, statistics, sys
from datetime import datetime
def epoch_ms(t):
    d = datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f%z"); return int(d.timestamp() * 1000)
rx = [json.loads(l) for l in open(sys.argv[1])]
mail = [json.loads(l) for l in open(sys.argv[2])]
lat, seen, event_at = [], set(), {}
for r in rx:
    p = r["payload"]
    assert r["sig_ok"] and r["x_test"] == "yes", "signature or header"
    assert p["version"] == "4" and p["status"] in ("firing", "resolved") and p["receiver"] == "wh"
    for a in p["alerts"]:
        assert set(a) >= {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
        assert a["labels"]["alertname"] == "TestAlert", "routing: " + a["labels"]["alertname"]
        assert a["annotations"]["summary"] == "load is high"
        assert (a["endsAt"] == "0001-01-01T00:00:00Z") == (a["status"] == "firing"), "endsAt"
        seen.add((a["fingerprint"], a["status"]))
        t = epoch_ms(a["eventAt"].replace("Z", "+0000"))
        event_at[(a["fingerprint"], a["status"])] = t
        lat.append(r["recv_ms"] - t)
assert len(seen) == 6, seen
mlat = []
for m in mail:
    assert m["auth"] == "bm" and m["to"] == ["<ops@example.com>", "<dev@example.com>"], m["to"]
    d = m["data"]
    assert "Subject: [bearmon] " in d and ": TestAlert (warning)" in d, d[:300]
    fp = d.split("X-Bearmon-Fingerprint: ")[1].split("\r\n")[0]
    st = d.split("X-Bearmon-Status: ")[1].split("\r\n")[0]
    mlat.append(m["recv_ms"] - event_at[(fp, st)])
print("ok: webhook latency from alert event to receiver: median %d ms, max %d ms (%d alerts)" %
      (statistics.median(lat), max(lat), len(lat)))
print("ok: email latency from alert event to SMTP sink: median %d ms, max %d ms (%d mails)" %
      (statistics.median(mlat), max(mlat), len(mlat)))
EOF
pass "webhook payloads (Alertmanager format v4, HMAC, headers) and mails (AUTH, two recipients, templated subject)"

grep -qx 'BEARMON_ALERT_NAME=TestAlert' "$T/exec/ag-w0-i1.firing.env" || fail "exec environment: $(cat "$T/exec/ag-w0-i1.firing.env")"
grep -qx 'BEARMON_ALERT_LABEL_INDEX=1' "$T/exec/ag-w0-i1.firing.env" || fail "exec label variables"
grep -qx 'BEARMON_ALERT_ANNOTATION_SUMMARY=load is high' "$T/exec/ag-w0-i1.firing.env" || fail "exec annotation variables"
[ "$(jq -r .fingerprint "$T/exec/ag-w0-i1.resolved.json")" = ag-w0-i1 ] || fail "exec stdin"
[ -f "$T/exec/ag_routed-w0-i0.resolved.json" ] || fail "the routed alert did not reach exec"
grep -q RoutedOnly "$T/log" "$T/mail.jsonl" "$T/rx.jsonl" && fail "an alert routed to hook reached another notifier"
pass "exec: stdin JSON and BEARMON_ALERT_* variables; routing by the alert's notifiers list"

t=$(api /api/bearmon/v1/alertgen)
for n in webhook:wh email:mail log:notify_log exec:hook; do
	[ "$(echo "$t" | jq "[.notifiers[\"$n\"] | .failed, .retrying, .dropped] | add")" = 0 ] || fail "$n: failures: $t"
done
[ "$(echo "$t" | jq '.notifiers["webhook:wh"].alerts_ok')" = 6 ] || fail "webhook notification events: $t"
[ "$(echo "$t" | jq '.notifiers["exec:hook"].ok')" = 8 ] || fail "exec notification events: $t"
[ "$(echo "$t" | jq '.notifiers["email:mail"].ok')" = 6 ] || fail "email notification events: $t"
pass "a notification event for every delivery: $(echo "$t" | jq -c '.notifiers | map_values(.ok)')"

delivered() {
	local id
	id=$(api "/api/bearmon/v1/series?name=bearmon_notifier_alerts_delivered_total&instance=$1" | jq -er '.series[0].id') &&
		[ "$(api "/api/bearmon/v1/samples?id=$id" | jq -r '.samples[-1][1]')" = "$2" ]
}
wait_until 20 delivered wh 6
wait_until 20 delivered hook 8
pass "self-metrics: bearmon_notifier_alerts_delivered_total per instance"
stop_daemon

# --- a receiver down, across a restart; then 500s and a slow answer ----------
notifier_conf "$T/outage.conf" 'interval = "200ms";' \
	'ag2 = { plugin = "collector/alertgen"; rule = "Outage"; alerts = 5; notifiers = ["wh2"]; route = "/api/bearmon/v1/alertgen"; };' \
	"wh2 = { plugin = \"notifier/webhook\"; url = \"http://127.0.0.1:$P_FLAKY/hook\"; timeout = \"1s\"; retry_initial = \"100ms\"; retry_max = \"500ms\"; };"
start_daemon "$T/outage.conf"
queued() { [ "$(ls "$T/data/notify/wh2" | grep -c '\.alert$')" = "$1" ]; }
wait_until 30 ge "tally '.notifiers[\"webhook:wh2\"].retrying'" 2
wait_until 10 queued 5
stop_daemon
queued 5 || fail "the queue on disk lost alerts at shutdown"
pass "receiver down: 5 alerts retried, still queued on disk after the daemon stopped"

start_helper "$T/webhook_rx.py" "$P_FLAKY" "$T/rx2.jsonl" fail=2 slow=1 delay=3
wait_until 10 port_open "$P_FLAKY"
sed -i 's|^ag2 = .*|watch = { plugin = "collector/alertgen"; waves = 0; route = "/api/bearmon/v1/alertgen"; };|' "$T/outage.conf"
start_daemon "$T/outage.conf"
expect_log "5 alerts from the previous run wait in"
got_all() {
	python3 -c "
import json, sys
fps = {a['fingerprint'] for l in open(sys.argv[1]) for a in json.loads(l)['payload']['alerts']}
sys.exit(fps != {'ag2-w0-i%d' % i for i in range(5)})" "$T/rx2.jsonl"
}
wait_until 60 got_all
wait_until 10 queued 0
t=$(api /api/bearmon/v1/alertgen)
[ "$(echo "$t" | jq '.notifiers["webhook:wh2"].retrying')" -ge 3 ] || fail "expected 2 x 500 and a timeout: $t"
[ "$(echo "$t" | jq '.notifiers["webhook:wh2"] | .failed + .dropped')" = 0 ] || fail "gave up or dropped: $t"
pass "after the restart: two 500s and a timeout retried, all 5 alerts delivered, queue empty ($(echo "$t" | jq -c '.notifiers["webhook:wh2"]'))"
stop_daemon
