# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Helpers for benchmark scripts (bench/NAME/run). Source it with
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# It sets BEARMON_ROOT (the repository root) and BENCH_BUILD_DIR (the
# Release build tree, build-bench/ by default) unless bench/run already
# exported them, so a benchmark also runs on its own from any directory.

if [[ -z "${BEARMON_ROOT:-}" ]]; then
	BEARMON_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fi
BENCH_BUILD_DIR="${BENCH_BUILD_DIR:-$BEARMON_ROOT/build-bench}"
export BEARMON_ROOT BENCH_BUILD_DIR

# bench_log MSG...: progress for people, on stderr (stdout carries results).
bench_log() {
	printf 'bench: %s\n' "$*" >&2
}

# bench_die MSG...: report and exit non-zero.
bench_die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

# bench_build TARGET...: configure build-bench/ (Release, no tests) and
# build the named CMake targets. The output goes to a log in the build
# tree; its tail is shown when something fails.
bench_build() {
	local log="$BENCH_BUILD_DIR/bench-build.log"
	mkdir -p "$BENCH_BUILD_DIR" || bench_die "cannot create $BENCH_BUILD_DIR"
	bench_log "building $* in ${BENCH_BUILD_DIR#"$BEARMON_ROOT"/} (Release)"
	if ! {
		cmake -S "$BEARMON_ROOT" -B "$BENCH_BUILD_DIR" \
			-DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
			cmake --build "$BENCH_BUILD_DIR" -j2 --target "$@"
	} >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		bench_die "build of $* failed (full log: $log)"
	fi
}

# bench_result NAME SUBJECT METRIC VALUE UNIT: print one result line.
bench_result() {
	printf 'BENCH %s %s %s %s %s\n' "$1" "$2" "$3" "$4" "$5"
}

# bench_free_port: print a TCP port on 127.0.0.1 that nothing listens on.
bench_free_port() {
	local port
	if command -v python3 >/dev/null 2>&1 &&
		port="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null)" && [[ -n "$port" ]]; then
		printf '%s\n' "$port"
		return 0
	fi
	local _
	for _ in {1..50}; do
		port=$((20000 + RANDOM % 40000))
		if ! ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	return 1
}
