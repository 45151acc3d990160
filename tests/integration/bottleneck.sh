# SPDX-License-Identifier: Apache-2.0
# A real load makes the daemon report the right bottleneck: bearmond runs the
# default configuration (every collector in conf.d plus analyzer/bottleneck
# and analyzer/health) on 1 s ticks; 2 x nproc busy loops must produce a cpu
# finding at /api/bearmon/v1/bottlenecks, a degraded cpu health and the
# stored insight, within a bounded time. A memory hog follows where the host
# has room for one (MemAvailable >= 2 GiB): it must raise a memory finding.
. "$(dirname "$0")/lib.sh"

# The sanitizer build is several times slower: wait longer, never fixed sleeps.
LIMIT=60
[ "${BM_SANITIZE:-OFF}" = ON ] && LIMIT=120
BURNERS=()
HOG_PGID=""

stop_load() {
	local pid
	for pid in "${BURNERS[@]}"; do kill "$pid" 2>/dev/null || true; done
	BURNERS=()
	if [ -n "$HOG_PGID" ]; then kill -- "-$HOG_PGID" 2>/dev/null || true; fi
	HOG_PGID=""
}
trap 'stop_load; cleanup' EXIT

# poll SECONDS CMD...: retry CMD every 0.5 s until it succeeds or time runs out
poll() {
	local deadline=$(($(date +%s) + $1))
	shift
	while [ "$(date +%s)" -lt "$deadline" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

# The memory hog is sized from what is free now: a quarter of MemAvailable,
# at most 1 GiB. The memory_utilisation warning is set a quarter of the hog
# above today's use: the hog trips it even if other processes free up to
# three quarters of its size meanwhile.
mem_kib() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
TOTAL_KIB=$(mem_kib MemTotal)
AVAIL_KIB=$(mem_kib MemAvailable)
HOG_KIB=$((AVAIL_KIB / 4 < 1048576 ? AVAIL_KIB / 4 : 1048576))
HOG=0
[ "$AVAIL_KIB" -ge 2097152 ] && HOG=1
MEM_WARN=$(awk -v t="$TOTAL_KIB" -v a="$AVAIL_KIB" -v h="$HOG_KIB" \
	'BEGIN { w = 1 - a / t + h / t / 4; printf "%.4f", (w > 0.999 ? 0.999 : w) }')

mkdir -p "$T/data"
start_daemon "$BM_SOURCE_DIR/conf/bearmon.conf" \
	--set "data_dir=$T/data" --set "http.listen=127.0.0.1:$BM_PORT" \
	--set interval=1s --set self_metrics_interval=1s \
	--set bottleneck.hold=2s --set bottleneck.clear=5s --set bottleneck.republish=5s \
	--set "bottleneck.memory_utilisation_warning=$MEM_WARN" \
	--set bottleneck.memory_utilisation_critical=1

pl=$(api /api/bearmon/v1/plugins)
for p in bottleneck health; do
	[ "$(echo "$pl" | jget ".plugins[] | select(.instance == \"$p\") | .state")" = running ] ||
		fail "analyzer $p is not running: $pl"
done
pass "analyzer/bottleneck and analyzer/health run with the default collectors"

cpu_known() { api /api/bearmon/v1/health | jget '.components[] | select(.component == "cpu" and .status != "unknown") | .status'; }
poll "$LIMIT" cpu_known || fail "health never saw cpu data: $(api /api/bearmon/v1/health)"
pass "health scores the cpu from live data"

for _ in $(seq $((2 * $(nproc)))); do
	sh -c 'while :; do :; done' &
	BURNERS+=($!)
done
t0=$(date +%s)

cpu_finding() {
	api /api/bearmon/v1/bottlenecks |
		jget '.bottlenecks[] | select(.resource == "cpu" and (.kind == "saturation" or .kind == "utilisation")) | .id' >/dev/null
}
poll "$LIMIT" cpu_finding || fail "no cpu finding within $LIMIT s of the burners: $(api /api/bearmon/v1/bottlenecks)"
bn=$(api /api/bearmon/v1/bottlenecks)
found=$(echo "$bn" | jget '[.bottlenecks[] | select(.resource == "cpu")][0]')
[ "$(echo "$found" | jget '.evidence | length')" -ge 1 ] || fail "finding without evidence: $found"
echo "$found" | jget '.recommendation' | grep -q . || fail "finding without a recommendation: $found"
echo "$found" | jget '.severity' | grep -Eq '^(warning|critical)$' || fail "severity: $found"
pass "cpu bottleneck reported $(($(date +%s) - t0)) s after the load started: $(echo "$found" | jget .summary)"

cpu_degraded() {
	api /api/bearmon/v1/health |
		jget '.components[] | select(.component == "cpu") | select(.status == "degraded" or .status == "critical") | .score'
}
poll "$LIMIT" cpu_degraded || fail "cpu health did not degrade: $(api /api/bearmon/v1/health)"
pass "cpu health degraded to $(api /api/bearmon/v1/health | jget '.components[] | select(.component == "cpu") | "\(.status) (\(.score))"')"

stored_insight() {
	api "/api/bearmon/v1/insights?limit=1000" |
		jget '[.. | objects | select(.category? == "bottleneck") | .title | select(endswith("(cpu)"))] | length > 0'
}
poll "$LIMIT" stored_insight || fail "no cpu insight in the store: $(api '/api/bearmon/v1/insights?limit=5')"
pass "the insight reached the store"
stop_load

if [ "$HOG" = 1 ]; then
	set -m # the hog gets a process group of its own, to be ended as a whole
	(head -c "${HOG_KIB}K" /dev/zero; exec sleep 600) | tail >/dev/null &
	HOG_PGID=$(jobs -p %%)
	set +m
	mem_finding() {
		api /api/bearmon/v1/bottlenecks | jget '.bottlenecks[] | select(.id == "memory/utilisation") | .id'
	}
	poll "$LIMIT" mem_finding || fail "no memory finding for a $((HOG_KIB / 1024)) MiB hog (warning at $MEM_WARN): $(api /api/bearmon/v1/bottlenecks)"
	pass "a $((HOG_KIB / 1024)) MiB memory hog is reported as memory utilisation"
	stop_load
else
	echo "skip: memory hog (MemAvailable $((AVAIL_KIB / 1024)) MiB < 2048 MiB)"
fi

stop_daemon
