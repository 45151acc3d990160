# SPDX-License-Identifier: Apache-2.0
# Least privilege: bearmond started as root with user = "nobody" binds,
# opens its store and loads its plugins, then runs as nobody with exactly
# the capabilities its enabled plugins declare (processes: SYS_PTRACE and
# DAC_READ_SEARCH; statsd: NET_ADMIN), keeps storing, and reloads.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
	echo "skip: needs root and the user nobody (CI runs as root)"
	exit 0
fi
P=$BM_BUILD/plugins
conf "$T/bearmon.conf" 'interval = "300ms";' 'user = "nobody";' \
	"plugin_dirs = [\"$PLUGINS\", \"$P\"];" \
	'procs = { plugin = "collector/processes"; };' \
	"statsd = { plugin = \"collector/statsd\"; udp_listen = \"127.0.0.1:$((BM_PORT + 1))\"; };" \
	'gen = { plugin = "collector/testgen"; series = 2; };'
sed -i '/^plugin_dirs = \["[^,]*"\];$/d' "$T/bearmon.conf"
# the parent directories must let nobody reach the data dir
chmod 755 "$T"
start_daemon "$T/bearmon.conf"
expect_log "running as nobody with capabilities: cap_dac_read_search cap_net_admin cap_sys_ptrace"
uid=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$DPID/status")
[ "$uid" = "65534 65534 65534 65534" ] || fail "uids: $uid"
eff=$(awk '/^CapEff:/ { print $2 }' "/proc/$DPID/status")
want=$(printf '%016x' $(((1 << 2) | (1 << 12) | (1 << 19))))
[ "$eff" = "$want" ] || fail "effective capabilities $eff, want $want"
prm=$(awk '/^CapPrm:/ { print $2 }' "/proc/$DPID/status")
[ "$prm" = "$want" ] || fail "permitted capabilities $prm, want $want"
# a collection thread (started after the drop) has them too
tid=$(grep -l 'bm-col:procs' /proc/"$DPID"/task/*/comm | head -n 1 | xargs dirname)
[ "$(awk '/^CapEff:/ { print $2 }' "$tid/status")" = "$want" ] || fail "collection thread capabilities"
pass "running as nobody with exactly the declared capabilities ($want)"

[ "$(stat -c %U "$T/data/bearmon.db")" = nobody ] || fail "store not handed to nobody"
known() { api "/api/bearmon/v1/series?name=testgen_value&series=1" | jget '.series[0].id'; }
wait_for known
id=$(known)
n1=$(api "/api/bearmon/v1/samples?id=$id" | jget '.samples | length')
sleep 1.5
n2=$(api "/api/bearmon/v1/samples?id=$id" | jget '.samples | length')
[ "$n2" -gt "$n1" ] || fail "not storing after the drop ($n1 -> $n2)"
"$BEARMONCTL" -c "$T/bearmon.conf" reload >/dev/null || fail "reload as nobody"
api /api/bearmon/v1/plugins | jq -e '[.plugins[] | select(.state == "running")] | length == 3' >/dev/null ||
	fail "instances after reload: $(api /api/bearmon/v1/plugins | jq -c '[.plugins[] | {instance, state, error}]')"
pass "stores and reloads as nobody"
stop_daemon
