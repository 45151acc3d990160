# SPDX-License-Identifier: Apache-2.0
# The optimizer's scenarios on the real daemon, in execute mode.
# A (agent memory): a test agent on the Python client library grows a cache
#   (4 MiB a second) -> collector/processes attributes its RSS -> the
#   forecast analyzer predicts it crossing 400 MB (within a minute) -> optimizer/resource
#   proposes the agent's evict_cache command -> the engine (strategy
#   proactive) executes it -> the agent's memory falls -> after the watch
#   window the action history holds the measured impact. A second run (a
#   restarted daemon on the same data dir, a new agent process) plans the
#   same action with the learned impact in its simulation.
# B (cgroup limit): a writer in a cgroup created by the test grows its page
#   cache -> forecast of container_memory_usage_bytes crossing 120 MB ->
#   the resource optimizer caps the cgroup at its forecast limit (memory.max
#   and memory.high, written as the v1 limit_in_bytes and
#   soft_limit_in_bytes here) -> usage stays under the limit while failcnt
#   grows -> `bearmonctl rollback` restores both files exactly. (cgroup v1
#   has no memory.high and no per-cgroup pressure: usage and failcnt are
#   what it offers.) Skipped, with a message, where no v1 memory
#   controller is writable.
. "$(dirname "$0")/../integration/lib.sh"

PYTHON=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
for p in collector_agent collector_processes collector_cgroup analyzer_forecast optimizer_engine \
	optimizer_resource; do
	[ -f "$BM_BUILD/plugins/bm_$p.so" ] || fail "bm_$p.so not built"
done
CTL=("$BEARMONCTL" -c "$T/bearmon.conf")
APIDS=""
trap 'kill $APIDS 2>/dev/null || true; cleanup_cgroup; cleanup' EXIT
CG=""
# The writer's children (dd, sleep) outlive it in the test cgroup: end
# every process in it (all started here), then remove it.
cleanup_cgroup() {
	[ -n "$CG" ] || return 0
	local procs="/sys/fs/cgroup/memory$CG/cgroup.procs" pids
	for _ in $(seq 50); do
		pids=$(cat "$procs" 2>/dev/null || true) # cgroup files stat as empty: read them
		[ -n "$pids" ] || break
		kill $pids 2>/dev/null || true
		sleep 0.1
	done
	for _ in $(seq 50); do
		rmdir "/sys/fs/cgroup/memory$CG" 2>/dev/null || true
		[ -d "/sys/fs/cgroup/memory$CG" ] || break
		sleep 0.1
	done
	rmdir "/sys/fs/cgroup/cpu$CG" "/sys/fs/cgroup/cpuacct$CG" 2>/dev/null || true
}

# eventually SECONDS CMD...: retry every 0.5 s.
eventually() {
	local n=$(($1 * 2))
	shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
	fail "timed out waiting for: $*"
}
# action_with CANDIDATE STATE: the id of the engine's action for that candidate in that state.
action_with() {
	api /api/bearmon/v1/plan | jq -er --arg c "$1" --arg s "$2" \
		'[.actions[] | select(.candidate_id == $c and .state == $s)][0].id'
}

# --- A: an agent whose memory grows -------------------------------------------

cat >"$T/agent.py" <<PY
import gc, sys, threading, time
sys.path.insert(0, "$BM_SOURCE_DIR/sdk/python")
import bearmon_client

cache, lock = [], threading.Lock()

c = bearmon_client.Client("unix:$T/data/agent.sock", "scen-agent", type="scenario",
                          capabilities=["evict_cache"])

@c.on_command
def on_command(cmd):
    if cmd.name != "evict_cache":
        raise ValueError("unknown command " + cmd.name)
    with lock:
        n = sum(len(b) for b in cache)
        cache.clear()
    gc.collect()
    print("evicted %d bytes" % n, flush=True)
    # no "previous": an eviction cannot be undone by a command
    c.ack(cmd.id, True, "evicted %d bytes" % n, {"freed_bytes": str(n)})
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    b = bytearray(4 << 20)
    for i in range(0, len(b), 4096):
        b[i] = 1  # resident, not just reserved
    with lock:
        cache.append(b)
        size = sum(len(x) for x in cache)
    c.gauge("scenario_cache_bytes", size)
    time.sleep(1.0)
c.flush(2.0)
PY

agent_conf() {
	conf "$T/bearmon.conf" 'interval = "1s";' \
		'agents = { plugin = "collector/agent"; };' \
		'procs = { plugin = "collector/processes"; top_cpu = 0; top_mem = 0; };' \
		'fc = { plugin = "analyzer/forecast"; include = ["bearmon_process_resident_memory_bytes"];
		  step = "1s"; history = "2m"; horizon = "10m"; eval_horizon = "4s"; min_season = "2s";
		  max_season = "20s"; linear_window = "20s"; error_window = "30s"; min_scored = 3;
		  publish_every = "5s"; warmup = false;
		  limits = ( { match = "bearmon_process_resident_memory_bytes"; labels = { agent = "scen-agent"; };
		               threshold = 400000000.0; direction = "above"; } ); };' \
		'res = { plugin = "optimizer/resource"; horizon = "1m"; };' \
		'opt = { plugin = "optimizer/engine"; mode = "execute"; strategy = "proactive";
		  actuators = ["agent_command"]; horizon = "1m"; hold = "20s"; watch = "15s"; settle = "3s";
		  baseline = "3s"; preferences = { max_actions_per_hour = 0; };
		  objectives = ( { name = "agent memory"; metric = "bearmon_process_resident_memory_bytes"; } ); };'
	sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
}

start_agent() {
	MALLOC_MMAP_THRESHOLD_=131072 "$PYTHON" "$T/agent.py" 240 >>"$T/agent.out" 2>&1 &
	APID=$!
	APIDS="$APIDS $APID"
}

agent_conf
start_daemon "$T/bearmon.conf"
wait_for test -S "$T/data/agent.sock"
start_agent
t0=$(date +%s)
eventually 150 action_with evict:scen-agent executed >/dev/null
ID=$(action_with evict:scen-agent executed)
grep -q "evicted [1-9]" "$T/agent.out" || fail "the agent did not evict: $(cat "$T/agent.out")"
pass "forecast of exhaustion -> evict_cache planned and executed in $(($(date +%s) - t0)) s ($ID)"
first_why=$(api "/api/bearmon/v1/recommendations?limit=1000" |
	jq -r --arg p "${ID%.*}" '.events[] | select(.event.id == $p) | .event.why' | head -n 40)
echo "$first_why" | grep -q "no past execution yet" || fail "first plan's why: $first_why"
echo "$first_why" | grep -q "forecast (" || fail "first plan's evidence: $first_why"

measured() {
	api "/api/bearmon/v1/actions/history?limit=100" | jq -e --arg i "$ID" \
		'[.events[].event | select(.id == $i and (.measured | length) > 0)][0].measured[0].rel_change | numbers | . < -0.2'
}
eventually 60 measured
rel=$(api "/api/bearmon/v1/actions/history?limit=100" |
	jq -r --arg i "$ID" '[.events[].event | select(.id == $i and (.measured | length) > 0)][0].measured[0].rel_change')
pass "the agent's memory fell; the history holds the measured impact ($rel)"
kill "$APID" 2>/dev/null || true
wait "$APID" 2>/dev/null || true
stop_daemon

# the second run: the same scenario, the learned impact in the simulation
start_daemon "$T/bearmon.conf"
start_agent
learned_plan() {
	api /api/bearmon/v1/plan | jq -e '.plan.why | test("over 1 past execution")'
}
eventually 150 learned_plan
sim=$(api /api/bearmon/v1/plan | jq -r '.plan.steps[] | select(.candidate_id == "evict:scen-agent") | .simulated[0].rel_change')
awk -v s="$sim" -v m="$rel" 'BEGIN { exit !(s < -0.3 + 1e-9 && s > m - 1e-9 && s != -0.3) }' ||
	fail "simulated $sim is not between the prior -0.3 and the measured $rel"
pass "the second run's simulation uses the learned impact ($sim, prior -0.3, measured $rel)"
kill "$APID" 2>/dev/null || true
wait "$APID" 2>/dev/null || true
stop_daemon

# --- B: a cgroup memory limit on a growing process ----------------------------

CG="/bm-scen-$$"
if ! mkdir "/sys/fs/cgroup/memory$CG" 2>/dev/null; then
	CG=""
	echo "skip: no writable cgroup v1 memory controller at /sys/fs/cgroup/memory (scenario B)"
	exit 0
fi
mkdir -p "/sys/fs/cgroup/cpu$CG" "/sys/fs/cgroup/cpuacct$CG" 2>/dev/null || true
MEM="/sys/fs/cgroup/memory$CG"
limit0=$(cat "$MEM/memory.limit_in_bytes")
soft0=$(cat "$MEM/memory.soft_limit_in_bytes")
rm -rf "$T/data"
conf "$T/bearmon.conf" 'interval = "1s";' \
	"cg = { plugin = \"collector/cgroup\"; include = [\"$CG\"]; max_depth = 1; };" \
	"fc = { plugin = \"analyzer/forecast\"; include = [\"container_memory_usage_bytes\"];
	  step = \"1s\"; history = \"2m\"; horizon = \"10m\"; eval_horizon = \"4s\"; min_season = \"2s\";
	  max_season = \"20s\"; linear_window = \"20s\"; error_window = \"30s\"; min_scored = 3;
	  publish_every = \"5s\"; warmup = false;
	  limits = ( { match = \"container_memory_usage_bytes\"; labels = { cgroup = \"$CG\"; };
	               threshold = 120000000.0; direction = \"above\"; } ); };" \
	'res = { plugin = "optimizer/resource"; horizon = "10m"; };' \
	'opt = { plugin = "optimizer/engine"; mode = "execute"; actuators = ["cgroup"]; horizon = "10m";
	  watch = "10m"; preferences = { max_actions_per_hour = 0; };
	  objectives = ( { name = "cgroup memory"; metric = "container_memory_working_set_bytes"; } ); };'
sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"
# the writer grows its page cache by 4 MB a second, in the test cgroup
bash -c "echo \$\$ > $MEM/cgroup.procs; i=0; while :; do
	dd if=/dev/zero of=$T/grow bs=1M count=4 seek=\$((i * 4)) conv=notrunc status=none; i=\$((i + 1)); sleep 1; done" &
WPID=$!
APIDS="$APIDS $WPID"
eventually 150 action_with "contain:$CG" executed >/dev/null
ID=$(action_with "contain:$CG" executed)
want=$(awk 'BEGIN { printf "%.0f", int(120000000 / 4096) * 4096 }')
[ "$(cat "$MEM/memory.limit_in_bytes")" = "$want" ] || fail "limit_in_bytes $(cat "$MEM/memory.limit_in_bytes"), want $want"
soft_want=$(awk 'BEGIN { printf "%.0f", int(120000000 * 0.9 / 4096) * 4096 }')
[ "$(cat "$MEM/memory.soft_limit_in_bytes")" = "$soft_want" ] || fail "soft limit $(cat "$MEM/memory.soft_limit_in_bytes")"
pass "forecast crossing -> the cgroup capped at its forecast limit ($want bytes, $ID)"
pressed() {
	[ "$(cat "$MEM/memory.failcnt")" -gt 0 ] && [ "$(cat "$MEM/memory.usage_in_bytes")" -le "$want" ]
}
eventually 90 pressed
pass "usage $(cat "$MEM/memory.usage_in_bytes") stays under the limit, failcnt $(cat "$MEM/memory.failcnt")"
"${CTL[@]}" rollback "$ID" >"$T/rb.out" 2>&1 || fail "rollback: $(cat "$T/rb.out")"
[ "$(cat "$MEM/memory.limit_in_bytes")" = "$limit0" ] || fail "limit after rollback $(cat "$MEM/memory.limit_in_bytes"), want $limit0"
[ "$(cat "$MEM/memory.soft_limit_in_bytes")" = "$soft0" ] || fail "soft limit after rollback"
"${CTL[@]}" history | grep -E "$ID +rolled_back +cgroup $CG " >/dev/null || fail "history: $("${CTL[@]}" history)"
pass "rollback restored limit_in_bytes ($limit0) and soft_limit_in_bytes exactly"
kill "$WPID" 2>/dev/null || true
wait "$WPID" 2>/dev/null || true
cleanup_cgroup
[ -d "$MEM" ] && fail "the test cgroup $CG could not be removed"
CG=""
stop_daemon
