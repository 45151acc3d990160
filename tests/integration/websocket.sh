# SPDX-License-Identifier: Apache-2.0
# The dashboard's WebSocket (ui/dashboard) against real clients: npm's `ws`
# (tests/browser/wsclient.mjs: handshake, URL and message subscriptions,
# one series per subscription, metrics every second, alert events,
# fragmentation, ping/pong, closing handshake, Origin) and raw sockets for
# bad input: oversized frames (1009), unmasked client frames (1002),
# invalid UTF-8 (1007), reserved opcodes (1002), handshake refusals, and a
# slow reader that is disconnected while a normal reader keeps being served.
# The page, Chart.js and the snapshot route are served.
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null || fail "node is missing: apt-get install nodejs npm"
NODE_MODULES=$("$BM_SOURCE_DIR/tests/browser/setup.sh" "$BM_BUILD") || fail "npm install of tests/browser failed"
export BM_NODE_MODULES=$NODE_MODULES
[ -f "$BM_BUILD/plugins/bm_ui_dashboard.so" ] || fail "ui/dashboard plugin not built"
sed_plugins() { sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$PLUGINS\", \"$BM_BUILD/plugins\"];|" "$1"; }

conf "$T/bearmon.conf" 'interval = "500ms";' 'self_metrics_interval = "1s";' \
	'gen = { plugin = "collector/testgen"; series = 2000; events = true; };' \
	'dashboard = { plugin = "ui/dashboard"; send_buffer = "64KiB"; max_frame = "64KiB"; };'
sed_plugins "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"
WS="ws://127.0.0.1:$BM_PORT/api/bearmon/v1/ws"

# --- the page and its assets ------------------------------------------------
# (into files: grep -q stopping early would make curl fail under pipefail)
curl -sf -D "$T/page.head" -o "$T/page.html" "$URL/" || fail "the page is not served at /"
grep -q '<script src="/static/app.js"' "$T/page.html" || fail "the page is not the dashboard"
grep -qi '^content-security-policy:' "$T/page.head" || fail "the page has no CSP"
curl -sf -o "$T/app.js" "$URL/static/app.js" && grep -q 'new WebSocket' "$T/app.js" || fail "app.js not served"
if [ -f /usr/share/javascript/chart.js/chart.min.js ]; then
	cmp -s <(curl -sf "$URL/static/chart.js/chart.min.js") /usr/share/javascript/chart.js/chart.min.js ||
		fail "Chart.js is not Debian's file"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$URL/static/../../../etc/passwd")
[ "$code" = 404 ] || fail "path traversal gave $code"
pass "page, assets and Debian's Chart.js served; traversal refused"

# --- a real client ---------------------------------------------------------------
node "$BM_SOURCE_DIR/tests/browser/wsclient.mjs" check "$WS" || fail "the ws client session failed"
pass "npm ws client session"

# --- handshake refusals ------------------------------------------------------------
upgrade() { curl -s -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$@" "$URL/api/bearmon/v1/ws"; }
[ "$(upgrade -H 'Sec-WebSocket-Version: 8')" = 426 ] || fail "version 8 not refused with 426"
[ "$(upgrade -H 'Sec-WebSocket-Version: 13' -H 'Origin: http://evil.example')" = 403 ] ||
	fail "foreign Origin not refused with 403"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/bearmon/v1/ws")" = 400 ] || fail "plain GET not refused"
pass "bad handshakes refused (426, 403, 400)"

# --- bad frames and a slow reader, over raw sockets -----------------------------------
cat >"$T/raw.py" <<'EOF'
import json, os, socket, struct, sys, threading, time, urllib.request

PORT = int(sys.argv[1])
KEY = "dGhlIHNhbXBsZSBub25jZQ=="

def connect(query="", rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", PORT))
    s.sendall(("GET /api/bearmon/v1/ws%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (query, PORT, KEY)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise SystemExit("FAIL: connection closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit("FAIL: handshake: %r" % head)
    return s

def frame(op, payload, masked=True, fin=True, rsv=0, length=None):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | op
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", b0, mask_bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mask_bit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))

def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data

def read_frame(s):
    b0, b1 = read_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(s, 8))[0]
    return b0 & 0x0F, read_exact(s, n)

def expect_close(s, want, what):
    while True:
        op, payload = read_frame(s)
        if op == 8:
            code = struct.unpack("!H", payload[:2])[0]
            if code != want:
                raise SystemExit("FAIL: %s: close code %d, want %d" % (what, code, want))
            print("ok: %s -> close %d" % (what, want))
            return

cases = [
    ("oversized frame", frame(1, b"", length=1 << 20), 1009),
    ("unmasked client frame", frame(1, b'{"type":"ping"}', masked=False), 1002),
    ("invalid UTF-8 in a text frame", frame(1, b'{"type":"\xff"}'), 1007),
    ("invalid UTF-8 split over fragments", frame(1, b'{"a":"\xe2\x82', fin=False) + frame(0, b'\x28"}'), 1007),
    ("reserved opcode", frame(3, b"x"), 1002),
    ("RSV bit without an extension", frame(1, b"{}", rsv=0x40), 1002),
    ("fragmented ping", frame(9, b"x", fin=False), 1002),
    ("continuation without a start", frame(0, b"x"), 1002),
]
for what, data, code in cases:
    s = connect()
    s.sendall(data)
    expect_close(s, code, what)
    s.close()

def slow_readers_dropped():
    base = "http://127.0.0.1:%d/api/bearmon/v1" % PORT
    try:
        ids = json.load(urllib.request.urlopen(base + "/series?name=bearmon_dashboard_slow_readers_total"))["series"]
        if not ids:
            return 0
        pts = json.load(urllib.request.urlopen(base + "/samples?id=%d" % ids[0]["id"]))["samples"]
        return pts[-1][1] if pts else 0
    except OSError:
        return 0

# a normal reader beside the slow one keeps getting its messages
good = connect("?series=testgen_value%7Bseries%3D%220%22%7D")
got = {"metrics": 0, "alive": True}
def read_good():
    try:
        while True:
            op, payload = read_frame(good)
            if op == 1 and payload.startswith(b'{"type":"metrics"'):
                got["metrics"] += 1
            if op == 8:
                got["alive"] = False
                return
    except (EOFError, OSError):
        got["alive"] = False
threading.Thread(target=read_good, daemon=True).start()

slow = connect("?series=testgen_value", rcvbuf=4096)  # every series, never read
deadline = time.time() + 60
while slow_readers_dropped() < 1:
    if time.time() > deadline:
        raise SystemExit("FAIL: the slow reader was not disconnected within 60 s")
    time.sleep(0.5)
print("ok: a slow reader is disconnected (send_buffer)")
before = got["metrics"]
time.sleep(3)
if not got["alive"] or got["metrics"] <= before:
    raise SystemExit("FAIL: the normal reader was not served on (%d messages)" % got["metrics"])
print("ok: a normal reader beside it keeps getting metrics (%d messages)" % got["metrics"])
EOF
python3 "$T/raw.py" "$BM_PORT" || fail "raw socket checks"
pass "bad frames closed with the right codes; slow reader dropped, others served"

# --- the daemon is fine and answers the snapshot -----------------------------------------
snap=$(api /api/bearmon/v1/snapshot) || fail "snapshot route"
echo "$snap" | jq -e '.status == "ok" and (.resources | has("cpu")) and (.derived.alerts_active >= 1)' >/dev/null ||
	fail "snapshot: $snap"
pass "snapshot answers after all that"
stop_daemon
