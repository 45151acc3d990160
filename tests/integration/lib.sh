# SPDX-License-Identifier: Apache-2.0
# Helpers for integration tests: start the real bearmond on loopback with a
# temporary config, talk to it with curl, stop it and check a clean exit.
set -euo pipefail

: "${BM_BUILD:?set by ctest}"
: "${BM_SOURCE_DIR:?set by ctest}"
: "${BM_PORT:=19990}"
BEARMOND="$BM_BUILD/core/bearmond"
BEARMONCTL="$BM_BUILD/core/bearmonctl"
PLUGINS="$BM_BUILD/test-plugins"
T=$(mktemp -d /tmp/bm-it-XXXXXX)
URL="http://127.0.0.1:$BM_PORT"
DPID=""
# leak reports of the sanitizer build go to the log; a leak makes exit != 0
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"

cleanup() {
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then kill -9 "$DPID" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -f "$T/log" ] && { echo "--- daemon log:" >&2; tail -n 40 "$T/log" >&2; }
	exit 1
}
pass() { echo "ok: $*"; }

# conf FILE CONTENT...: a config with the test's data dir, port and plugins.
conf() {
	local file=$1
	shift
	{
		echo "data_dir = \"$T/data\";"
		echo "plugin_dirs = [\"$PLUGINS\"];"
		echo "include_dir = \"$T/conf.d\";"
		echo "http = { listen = \"127.0.0.1:$BM_PORT\"; };"
		printf '%s\n' "$@"
	} >"$file"
}

# start_daemon CONFIG [ARGS...]: start in the background, wait for HTTP.
start_daemon() {
	"$BEARMOND" -c "$@" >>"$T/log" 2>&1 &
	DPID=$!
	local st
	for _ in $(seq 100); do
		kill -0 "$DPID" 2>/dev/null || fail "bearmond exited during start"
		if st=$(curl -sf "$URL/api/bearmon/v1/status" 2>/dev/null); then
			# ours, not another test's daemon on the same port
			[ "$(echo "$st" | jq -r .config)" = "$1" ] && return 0
			fail "port $BM_PORT answers for another bearmond ($(echo "$st" | jq -r .config))"
		fi
		sleep 0.1
	done
	fail "bearmond did not answer on $URL"
}

# stop_daemon: SIGTERM, exit 0 within 5 s (sanitizer leak reports included).
stop_daemon() {
	local t0 rc=0
	t0=$(date +%s%N)
	kill -TERM "$DPID"
	for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$DPID" 2>/dev/null && fail "bearmond still running 5 s after SIGTERM"
	wait "$DPID" || rc=$?
	DPID=""
	local ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$rc" -eq 0 ] || fail "bearmond exited with $rc after SIGTERM"
	[ "$ms" -le 5000 ] || fail "shutdown took $ms ms"
	pass "clean shutdown in $ms ms"
}

api() { curl -sf "$URL$1"; }
# jget JSON-PATH-EXPR: read from stdin with jq
jget() { jq -er "$1"; }
expect_log() { grep -qF -- "$1" "$T/log" || fail "log lacks: $1"; }
# wait_for CMD...: retry for up to 10 s
wait_for() {
	for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $*"
}
