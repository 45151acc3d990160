# SPDX-License-Identifier: Apache-2.0
# The native agent protocol against the real daemon: a good agent over the
# Unix socket and one over TCP, every kind of bad input (each counted,
# dropped, logged at most once per 10 s), a client that says nothing, one
# that leaves mid-frame, and 10,000 clients at once, while the good agent
# keeps being served; its derived metrics reach the store, and end when it
# leaves. The client is Python with Debian's python3-msgpack.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
$PY -c 'import msgpack' 2>/dev/null || fail "python3-msgpack is missing (packaging/install-deps installs it)"
PLUGINS="$BM_BUILD/plugins"
[ -f "$PLUGINS/bm_collector_agent.so" ] || fail "no $PLUGINS/bm_collector_agent.so"

# 10,000 clients need 10,000 descriptors in the client and in bearmond
STORM=10000
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((STORM + 512)) ]; then
	STORM=$((hard - 512))
	echo "note: RLIMIT_NOFILE hard limit $hard: $STORM clients at once instead of 10,000"
fi
ulimit -n $((STORM + 512))

TCP="127.0.0.1:$((BM_PORT + 1))"
conf "$T/bearmon.conf" 'interval = "1s";' \
	"agent = { plugin = \"collector/agent\"; tcp_listen = \"$TCP\"; hello_timeout = \"2s\"; window = \"10m\";
	  max_connections = $((STORM + 50)); max_agents = $((STORM + 50)); };"
mkdir -p "$T/conf.d"
start_daemon "$T/bearmon.conf"
SOCK="$T/data/agent.sock"
wait_for test -S "$SOCK"
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK"), want 660"
stats() { api "/api/bearmon/v1/agent_protocol/agent"; }
stat_of() { stats | jget ".$1"; }
# wait_stat NAME MIN: the counter reaches MIN within 60 s (sanitizer builds are slow)
wait_stat() {
	for _ in $(seq 600); do [ "$(stat_of "$1")" -ge "$2" ] && return 0; sleep 0.1; done
	fail "$1 = $(stat_of "$1"), want >= $2"
}

cat >"$T/client.py" <<'EOF'
import msgpack, socket, struct, sys, time

def frame(obj):
    b = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(b)) + b

def recv(s, timeout=30):
    s.settimeout(timeout)
    buf = b""
    try:
        while len(buf) < 4:
            c = s.recv(4 - len(buf))
            if not c:
                return None
            buf += c
        n = struct.unpack(">I", buf)[0]
        body = b""
        while len(body) < n:
            c = s.recv(n - len(body))
            if not c:
                return None
            body += c
    except (ConnectionResetError, socket.timeout):
        return None
    return msgpack.unpackb(body, raw=False)

def connect(where):
    if where.startswith("tcp:"):
        host, port = where[4:].rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    else:
        s = socket.socket(socket.AF_UNIX)
        s.connect(where)
    return s

def hello(s, agent_id, type_="worker"):
    s.sendall(frame([1, {"v": 1, "agent_id": agent_id, "type": type_, "pid": 1}]))
    m = recv(s)
    assert m and m[0] == 2 and m[1]["v"] == 1, m
    return m

def expect_error(s, code):
    m = recv(s)
    assert m and m[0] == 9 and m[1]["code"] == code, (m, code)
    assert recv(s, 10) is None, "not closed after the error"

def bad(where, what):
    s = connect(where)
    if what == "before_hello":
        s.sendall(frame([4, [["x", 2, 1.0]]]))
        expect_error(s, "protocol")
    elif what == "oversized":
        s.sendall(struct.pack(">I", 1 << 30))
        expect_error(s, "too_large")
    elif what == "msgpack":
        s.sendall(struct.pack(">I", 2) + b"\x93\x01")
        expect_error(s, "protocol")
    elif what == "types":
        s.sendall(frame([1, {"v": 1, "agent_id": 42}]))
        expect_error(s, "protocol")
    elif what == "utf8":
        hello(s, "utf8-" + str(time.monotonic_ns()))
        s.sendall(struct.pack(">I", 9) + b"\x92\x04\x91\x93\xa2\xc3\x28\x02\x01")
        expect_error(s, "protocol")
    elif what == "truncated":
        hello(s, "cut-" + str(time.monotonic_ns()))
        whole = frame([4, [["x", 2, 1.0]]])
        s.sendall(whole[:-3])
    elif what == "silent":
        expect_error(s, "protocol")  # no hello within hello_timeout
    s.close()

def storm(where, n):
    socks = []
    for i in range(n):  # each says hello at once: hello_timeout is short here
        s = connect(where)
        s.sendall(frame([1, {"v": 1, "agent_id": "storm-%d" % i, "type": "storm"}]) +
                  frame([4, [["storm_value", 2, float(i)]]]))
        socks.append(s)
    for s in socks:
        m = recv(s, 120)
        assert m and m[0] == 2, m
    print("storm: %d agents welcomed" % n, flush=True)
    return socks

cmd = sys.argv[1]
if cmd == "bad":
    for what in sys.argv[3:]:
        bad(sys.argv[2], what)
elif cmd == "good":
    # good WHERE ID: hello, then tasks and metrics; stays until stdin closes
    s = connect(sys.argv[2])
    hello(s, sys.argv[3], "planner")
    for i in range(10):
        s.sendall(frame([3, {"type": "plan", "duration_ms": 10.0 * (i + 1),
                             "outcome": "ok" if i < 9 else "error", "tokens_in": 3}]))
    s.sendall(frame([5, {"peer": "r1", "latency_ms": 20, "sync_wait_ms": 5, "bytes": 300}]))
    s.sendall(frame([4, [["agent_cache_hits_total", 1, 2, {"cache": "kv"}],
                         ["agent_cache_hits_total", 1, 3, {"cache": "kv"}]]]))
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "metric":
            s.sendall(frame([4, [["agent_quality_accuracy", 2, 0.5]]]))
        elif line.strip() == "heartbeat":
            s.sendall(frame([6]))
        print("sent", flush=True)
    s.sendall(frame([10]))
    s.close()
elif cmd == "storm":
    socks = storm(sys.argv[2], int(sys.argv[3]))
    for s in socks:
        s.close()
EOF

# a good agent that stays connected through everything below
coproc GOOD { $PY "$T/client.py" good "$SOCK" good-1; }
# bash unsets GOOD_PID once the coprocess has ended: keep it
good_pid=$GOOD_PID
read -r line <&"${GOOD[0]}"
[ "$line" = ready ] || fail "good agent: $line"
pass "good agent said hello and was welcomed"
$PY "$T/client.py" good "tcp:$TCP" tcp-1 </dev/null >/dev/null || fail "TCP agent"
pass "an agent over TCP was welcomed"

# every kind of bad input: counted, the connection closed with an error frame
$PY "$T/client.py" bad "$SOCK" before_hello oversized msgpack types utf8 truncated silent ||
	fail "bad input client"
wait_stat bearmon_agent_protocol_errors_order_total 1
wait_stat bearmon_agent_protocol_errors_too_large_total 1
wait_stat bearmon_agent_protocol_errors_msgpack_total 1
wait_stat bearmon_agent_protocol_errors_shape_total 1
wait_stat bearmon_agent_protocol_errors_utf8_total 1
wait_stat bearmon_agent_disconnects_midframe_total 1
wait_stat bearmon_agent_hello_timeouts_total 1
pass "bad input: each kind counted and closed with an error frame"

# the same fault many times: counted each time, logged once per 10 s
for i in $(seq 10); do printf 'msgpack '; done >"$T/many"
# shellcheck disable=SC2046
$PY "$T/client.py" bad "$SOCK" $(cat "$T/many") || fail "repeated bad input"
wait_stat bearmon_agent_protocol_errors_msgpack_total 11
logged=$(grep -c "protocol error (msgpack)" "$T/log" || true)
[ "$logged" -le 2 ] || fail "$logged log lines for 11 msgpack errors: not rate limited"
pass "11 msgpack errors counted, $logged log line(s)"

# 10,000 clients at once, each an agent with a sample
before=$(stat_of bearmon_agent_connections_total)
timeout 300 $PY "$T/client.py" storm "$SOCK" "$STORM" || fail "storm client"
wait_stat bearmon_agent_connections_total $((before + STORM))
pass "$STORM clients at once: all accepted and welcomed"

# the good agent is still served: its sample arrives
n=$(stat_of bearmon_agent_samples_total)
echo metric >&"${GOOD[1]}"
read -r line <&"${GOOD[0]}"
wait_stat bearmon_agent_samples_total $((n + 1))
pass "the good agent is still served after the storm"

# its derived metrics reach the store (labels as the protocol defines them)
sid() { api "/api/bearmon/v1/series?name=$1" | jq -r --arg s "$2" '[.series[] | select(.series == $s) | .id][0] // empty'; }
last() { api "/api/bearmon/v1/samples?id=$1" | jget '.samples[-1][1]'; }
up='agent_up{agent="good-1",agent_type="planner"}'
wait_for test -n "$(sid agent_up "$up")"
ratio=$(sid agent_error_ratio 'agent_error_ratio{agent="good-1",agent_type="planner"}')
[ -n "$ratio" ] && [ "$(last "$ratio")" = 0.1 ] || fail "agent_error_ratio of good-1"
hits=$(sid agent_cache_hits_total 'agent_cache_hits_total{agent="good-1",agent_type="planner",cache="kv"}')
[ -n "$hits" ] && [ "$(last "$hits")" = 5 ] || fail "agent_cache_hits_total of good-1 (increments 2 + 3)"
pass "derived and custom metrics of good-1 in the store"

# it leaves: its series get a stale marker
exec {GOOD[1]}>&-
rc=0
wait "$good_pid" 2>/dev/null || rc=$?
# 127: bash had already collected it
[ "$rc" = 0 ] || [ "$rc" = 127 ] || fail "good agent exited with $rc"
upid=$(sid agent_up "$up")
for _ in $(seq 100); do [ "$(last "$upid")" = NaN ] && break; sleep 0.1; done
[ "$(last "$upid")" = NaN ] || fail "agent_up of good-1 not marked stale after it left"
pass "a departed agent's series end with a stale marker"

stop_daemon
[ ! -e "$SOCK" ] || fail "socket file left behind"
pass "socket file removed at stop"
