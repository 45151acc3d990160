# SPDX-License-Identifier: Apache-2.0
# Who may use the API: a non-loopback listener without tokens is refused
# at start; with tokens, no token is a 401, the read token reads but may
# not change anything (403), the admin token does everything; bearmonctl
# takes the admin token and the certificate from the config; HTTPS with
# the configured certificate; a per-client rate limit answers 429; no
# CORS header is ever sent.
. "$(dirname "$0")/lib.sh"

# 1. non-loopback without tokens: refused, with the reason
conf "$T/bearmon.conf"
rc=0
timeout 10 "$BEARMOND" -c "$T/bearmon.conf" --set http.listen=0.0.0.0:"$BM_PORT" >>"$T/log" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "non-loopback listen without tokens: exit $rc"
expect_log "is not loopback: set http.read_token_file and http.admin_token_file"
pass "a non-loopback listener without tokens is refused at start"

# 2. tokens (from files) and TLS
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$T/read.tok"
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$T/admin.tok"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null ||
	fail "openssl cannot make a test certificate"
conf "$T/bearmon.conf" 'interval = "500ms";' 'up = { plugin = "collector/uptime"; };'
sed -i "s|^http = .*|http = { listen = \"127.0.0.1:$BM_PORT\"; read_token_file = \"$T/read.tok\"; admin_token_file = \"$T/admin.tok\"; tls_cert = \"$T/cert.pem\"; tls_key = \"$T/key.pem\"; rate_limit = 5.0; rate_burst = 10; };|" "$T/bearmon.conf"
URL="https://127.0.0.1:$BM_PORT"
R=$(cat "$T/read.tok")
A=$(cat "$T/admin.tok")
curl_() { curl -s --cacert "$T/cert.pem" -o "$T/body" -w '%{http_code}' "$@"; }
# start_daemon's probe has no token: wait for the 401 instead
"$BEARMOND" -c "$T/bearmon.conf" >>"$T/log" 2>&1 &
DPID=$!
up() { [ "$(curl_ "$URL/api/bearmon/v1/status")" = 401 ]; }
wait_for up
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BM_PORT/api/bearmon/v1/status")" != 200 ] ||
	fail "plain HTTP answered on a TLS listener"
grep -q 'WWW-Authenticate' <(curl -s -D - -o /dev/null --cacert "$T/cert.pem" "$URL/api/bearmon/v1/status") ||
	fail "401 without WWW-Authenticate"
[ "$(curl_ -H "Authorization: Bearer wrong-token-000000000" "$URL/api/bearmon/v1/status")" = 401 ] ||
	fail "a wrong token was accepted"
[ "$(curl_ -H "Authorization: Bearer $R" "$URL/api/bearmon/v1/status")" = 200 ] || fail "read token cannot read"
[ "$(curl_ -H "Authorization: Bearer $R" -X POST "$URL/api/bearmon/v1/reload")" = 403 ] ||
	fail "read token may reload"
[ "$(curl_ -H "Authorization: Bearer $R" -X POST --data-binary 'x 1' "$URL/api/bearmon/v1/import")" = 403 ] ||
	fail "read token may import"
[ "$(curl_ -H "Authorization: Bearer $R" -X POST --data-urlencode 'query=1+1' "$URL/api/v1/query")" = 200 ] ||
	fail "read token cannot POST a query form (Grafana does): $(cat "$T/body")"
[ "$(curl_ -H "Authorization: Bearer $A" -X POST "$URL/api/bearmon/v1/reload")" = 200 ] ||
	fail "admin token cannot reload: $(cat "$T/body")"
pass "HTTPS with tokens: none 401, wrong 401, read reads (GET, query POSTs) and gets 403 on changes, admin does all"

"$BEARMONCTL" -c "$T/bearmon.conf" status >/dev/null || fail "bearmonctl without the admin token/cert"
"$BEARMONCTL" -c "$T/bearmon.conf" reload >/dev/null || fail "bearmonctl reload"
pass "bearmonctl takes the admin token and the certificate from the config"

! curl -s -D - -o /dev/null --cacert "$T/cert.pem" -H "Authorization: Bearer $R" \
	-H "Origin: http://evil.example" "$URL/api/bearmon/v1/status" | grep -qi '^access-control-allow' ||
	fail "a CORS header was sent"
pass "CORS closed: no Access-Control-Allow-* header"

# one connection, 40 requests at once (TLS handshakes would pace them)
args=()
for _ in $(seq 40); do args+=(-o /dev/null "$URL/api/bearmon/v1/status"); done
codes=$(curl -s --cacert "$T/cert.pem" -H "Authorization: Bearer $R" -w '%{http_code}\n' \
	"${args[@]}" | sort | uniq -c)
echo "$codes" | grep -q ' 429$' || fail "no 429 after 40 requests at once (burst 10): $codes"
sleep 1
[ "$(curl_ -H "Authorization: Bearer $R" "$URL/api/bearmon/v1/status")" = 200 ] || fail "not served after the rate recovered"
pass "rate limit: 429 beyond the burst, served again after a second ($(echo "$codes" | tr -s " \n" " "))"

kill -TERM "$DPID"
wait "$DPID" || fail "bearmond exited with $? after SIGTERM"
DPID=""
