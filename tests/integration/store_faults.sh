# SPDX-License-Identifier: Apache-2.0
# The data dir on a real small filesystem (a tmpfs mounted by the test):
# filled up: writes fail with a clear log line and a counter, the daemon
# keeps collecting and answering, and writing resumes with nothing lost once
# space returns. Remounted read-only between runs: start is refused with a
# clear message, and works again once the data dir is writable.
. "$(dirname "$0")/lib.sh"

MNT=$T/mnt
mkdir -p "$MNT"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=6m tmpfs "$MNT" 2>/dev/null; then
	echo "skip: mounting a tmpfs needs root (CI runs as root)"
	exit 0
fi
trap 'kill -9 $DPID 2>/dev/null || true; umount -l "$MNT" 2>/dev/null || true; cleanup' EXIT
conf "$T/bearmon.conf" 'interval = "100ms";' 'store = { flush_interval = "200ms"; };' \
	'gen = { plugin = "collector/testgen"; series = 300; };'
sed -i "s|^data_dir = .*|data_dir = \"$MNT/data\";|" "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"
known() { api "/api/bearmon/v1/series?name=testgen_value&series=5" | jget '.series[0].id'; }
wait_for known
id=$(known)
count() { api "/api/bearmon/v1/samples?id=$id" | jget '.samples | length'; }
sleep 1

# 1. disk full
dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null || true
full() { grep -q 'write failed, keeping data in memory and retrying: database or disk is full' "$T/log"; }
wait_for full
n1=$(count)
sleep 1
[ "$(count)" -gt "$n1" ] || fail "collection or in-memory queries stopped on a full disk"
rm -f "$MNT/fill"
resumed() { grep -q 'writing again after' "$T/log"; }
wait_for resumed
pass "full disk: logged, data kept in memory, writing resumed when space returned"

# 2. a read-only data dir at start: a clear refusal (the service manager
# retries), and a normal start once it is writable again
n_mem=$(count)
stop_daemon
mount -o remount,ro "$MNT"
rc=0
timeout 10 "$BEARMOND" -c "$T/bearmon.conf" >>"$T/log" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "start on a read-only data dir: exit $rc"
grep -q 'read-only' "$T/log" || fail "the refusal does not say read-only: $(tail -n 3 "$T/log")"
mount -o remount,rw "$MNT"
start_daemon "$T/bearmon.conf"
pass "read-only data dir: start refused with a clear message, fine once writable"

# everything shown in memory before the stop is on disk
[ "$(count)" -ge "$n_mem" ] || fail "samples lost across the faults: $(count) < $n_mem"
stop_daemon
ok=$(sqlite3 "$MNT/data/bearmon.db" "PRAGMA integrity_check")
[ "$ok" = ok ] || fail "integrity_check: $ok"
pass "nothing lost across both faults; integrity ok"
