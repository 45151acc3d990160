# SPDX-License-Identifier: Apache-2.0
# Hostile HTTP clients (issue 12): oversized headers and bodies, a garbage
# request line, slowloris, 10,000 idle connections, path traversal,
# invalid UTF-8 and JSON. Each gets a 4xx or a disconnect, the daemon
# stays up, and another client is served meanwhile.
. "$(dirname "$0")/lib.sh"
H="python3 $BM_SOURCE_DIR/tests/integration/helpers/hostile.py"

conf "$T/bearmon.conf"
start_daemon "$T/bearmon.conf" --set http.request_timeout=2s --set http.max_body=1MiB
alive() { api /api/bearmon/v1/status >/dev/null || fail "daemon stopped answering after: $1"; }

r=$($H huge_header "$BM_PORT")
case "$r" in "HTTP/1.1 4"* | closed) ;; *) fail "200 KiB header: $r" ;; esac
alive "a 200 KiB header"
r=$($H huge_body "$BM_PORT")
case "$r" in "HTTP/1.1 413"* | closed) ;; *) fail "3 MiB body: $r" ;; esac
alive "a 3 MiB body"
r=$($H garbage "$BM_PORT")
case "$r" in "HTTP/1.1 4"* | closed) ;; *) fail "garbage request line: $r" ;; esac
alive "a garbage request line"
pass "oversized and malformed requests get a 4xx or a disconnect"

$H slowloris "$BM_PORT" 20 >"$T/slow" &
SLOW=$!
sleep 0.5
api /api/bearmon/v1/status >/dev/null || fail "not served during slowloris"
wait "$SLOW"
grep -q '^closed after' "$T/slow" || fail "slowloris connection: $(cat "$T/slow")"
pass "slowloris: $(cat "$T/slow") (request_timeout 2 s), others served meanwhile"

for path in '/static/../../../../etc/passwd' '/api/bearmon/v1/../../../etc/passwd' '/%2e%2e/%2e%2e/etc/passwd'; do
	code=$(curl -s --path-as-is -o "$T/body" -w '%{http_code}' "$URL$path")
	case "$code" in 4*) ;; *) fail "$path gave $code" ;; esac
	grep -q 'root:' "$T/body" && fail "$path leaked /etc/passwd"
done
pass "path traversal gets a 4xx"

for q in 'series?name=%ff%fe' 'series?name_re=%c3%28' 'events?topic=%ff' 'anomalies?since=%ff' \
	'samples?id=%ff' 'range?id=1&step=%00'; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/bearmon/v1/$q")
	case "$code" in 2* | 4*) ;; *) fail "$q gave $code" ;; esac
done
for body in '{"unterminated' $'\xff\xfe' 'not json at all' '[1,2'; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "$body" "$URL/api/bearmon/v1/import")
	case "$code" in 4*) ;; *) fail "import of bad body gave $code" ;; esac
done
alive "invalid UTF-8 and JSON"
pass "invalid UTF-8 and JSON get a 2xx with nothing or a 4xx, never a 5xx"

# 10,000 idle connections (fewer when this machine's hard fd limit is lower)
hard=$(ulimit -Hn)
n=10000
[ "$hard" != unlimited ] && [ "$hard" -lt 20500 ] && n=$(((hard - 500) / 2))
$H idle "$BM_PORT" "$n" "$T/hold" >"$T/idle" &
IDLE=$!
for _ in $(seq 600); do [ -f "$T/hold" ] && break; sleep 0.1; done
[ -f "$T/hold" ] || fail "idle clients never got connected"
opened=$(cat "$T/hold")
api /api/bearmon/v1/status >/dev/null || fail "not served with $opened idle connections open"
api /api/bearmon/v1/plugins >/dev/null || fail "not served with $opened idle connections open"
rm -f "$T/hold"
wait "$IDLE"
[ "$opened" -ge "$n" ] || fail "only $opened of $n idle connections opened: $(cat "$T/idle")"
alive "$n idle connections"
pass "$opened idle connections: others still served"
stop_daemon
