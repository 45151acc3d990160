# SPDX-License-Identifier: Apache-2.0
# Packaging end to end (issue 11): build the .debs (lintian clean), install
# them with apt-get (dependencies from Debian), run bearmond the way its
# systemd unit does (ExecStart as the unit's user and capabilities, with a
# NOTIFY_SOCKET listener standing in for systemd: READY, WATCHDOG, RELOADING,
# STOPPING), check its API and stored data; build the example plugin against
# the installed libbearmon-sdk-dev only, enable it in conf.d, reload (the
# unit's ExecReload) and see its metrics; remove and purge cleanly. Then
# build the RPMs and check their contents against the expected layout.
. "$(dirname "$0")/../integration/lib.sh"

skip() { echo "skip: $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "installs packages system-wide: needs root (CI runs as root)"
for tool in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian apt-get:apt setpriv:util-linux \
	python3:python3 pkg-config:pkg-config cc:gcc; do
	command -v "${tool%%:*}" >/dev/null ||
		skip "${tool%%:*} not installed (apt-get install -y ${tool#*:}; packaging/install-deps has it)"
done
# a bearmon installed by someone else is not ours to purge; one left by an
# interrupted run of this test (its marker says so) is
MARKER=/var/lib/bearmon-packaging-test
LEFTOVER=""
if dpkg-query -W -f='${Status}' bearmon 2>/dev/null | grep -q installed; then
	[ -f "$MARKER" ] || skip "a bearmon package is installed on this host: not touching it"
	LEFTOVER=1
fi

PKGDIR=$BM_SOURCE_DIR/packaging
UNIT=/lib/systemd/system/bearmon.service
CONF=/etc/bearmon/bearmon.conf
chmod 755 "$T"
HELPERS=""
PKGS=()
RPM_PID=""
PLUGINDIR_FILE=""
# purge PACKAGE...: those dpkg still knows (a library without conffiles is
# gone after remove already, and apt-get refuses names it cannot find)
purge() {
	local known=()
	for p in "$@"; do dpkg-query -W "$p" >/dev/null 2>&1 && known+=("$p"); done
	[ "${#known[@]}" -eq 0 ] || apt-get purge -y -qq "${known[@]}" >>"$T/apt.log" 2>&1
}
uninstall() {
	rm -f "$PLUGINDIR_FILE" /etc/bearmon/conf.d/uptime_test.conf
	purge "${PKGS[@]}"
}
finish() {
	[ -z "$DPID" ] || kill -9 "$DPID" 2>/dev/null || true
	[ -z "$RPM_PID" ] || { kill -- -"$RPM_PID" 2>/dev/null; wait "$RPM_PID" 2>/dev/null || true; }
	for p in $HELPERS; do kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done
	[ "${#PKGS[@]}" -eq 0 ] || uninstall || true
	rm -f "$MARKER"
	cleanup
}
trap finish EXIT
export DEBIAN_FRONTEND=noninteractive
if [ -n "$LEFTOVER" ]; then
	echo "purging the packages an interrupted run of this test left"
	mapfile -t left < <(sed -n 's/^Package: //p' "$PKGDIR/debian/control")
	purge "${left[@]}" || true
fi
t0=$(date +%s)
elapsed() { echo "$(($(date +%s) - t0)) s"; }

# --- 1. build the .debs, lintian clean --------------------------------------
bash "$PKGDIR/build-deb" -o "$T/deb" --nocheck >"$T/build-deb.log" 2>&1 ||
	{ tail -n 40 "$T/build-deb.log"; fail "build-deb failed"; }
grep -q '^E: \|^W: ' "$T/deb/lintian.log" && fail "lintian: $(grep '^E: \|^W: ' "$T/deb/lintian.log")"
mapfile -t DEBS < <(ls "$T"/deb/*.deb | grep -v -- -dbgsym_)
pass "built $(basename -a "${DEBS[@]}" | tr '\n' ' ')in $(elapsed); lintian: no errors, no warnings"

# RPMs build in the background meanwhile (checked at the end)
if command -v rpmbuild >/dev/null; then
	# its own process group, so that a failure here stops all of it
	setsid bash "$PKGDIR/build-rpm" -o "$T/rpm" >"$T/build-rpm.log" 2>&1 &
	RPM_PID=$!
fi

# --- 2. the split: every plugin of the tree in exactly one package ------------
deb_plugins() {
	for d in "${DEBS[@]}"; do
		dpkg-deb -c "$d" | { grep -o 'bm_[a-z0-9_]*\.so$' || true; } | sed "s|^|$(dpkg-deb -f "$d" Package) |"
	done
}
deb_plugins | sort >"$T/deb-plugins"
for dir in "$BM_SOURCE_DIR"/plugins/*/CMakeLists.txt; do
	so=bm_$(basename "$(dirname "$dir")").so
	n=$(grep -c " $so\$" "$T/deb-plugins" || true)
	[ "$n" = 1 ] || fail "$so is in $n packages (expected 1): $(grep " $so\$" "$T/deb-plugins" | cut -d' ' -f1)"
done
while read -r pkg so; do
	case $pkg in
	bearmon) grep -qh "/$so\$" "$PKGDIR"/debian/bearmon-plugin-*.install &&
		fail "$so is split out (packaging/debian) but landed in bearmon" ;;
	bearmon-plugin-*) grep -q "/$so\$" "$PKGDIR/debian/$pkg.install" || fail "$so in $pkg" ;;
	*) fail "$so in $pkg" ;;
	esac
done <"$T/deb-plugins"
pass "$(wc -l <"$T/deb-plugins") plugins, each in one package; split: $(grep -v '^bearmon ' "$T/deb-plugins" | tr '\n' ' ')"

# --- 3. install from the .debs, dependencies from Debian ----------------------
touch "$MARKER"
mapfile -t PKGS < <(for d in "${DEBS[@]}"; do dpkg-deb -f "$d" Package; done)
if ! apt-get install -y -qq "${DEBS[@]}" >>"$T/apt.log" 2>&1; then
	apt-get update -qq >>"$T/apt.log" 2>&1 || true
	apt-get install -y -qq "${DEBS[@]}" >>"$T/apt.log" 2>&1 || { tail "$T/apt.log"; fail "apt-get install"; }
fi
for p in "${PKGS[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p")" = "install ok installed" ] || fail "$p not installed"
done
id bearmon >/dev/null 2>&1 || fail "no user bearmon after install (sysusers)"
[ "$(stat -c '%U:%G %a' /var/lib/bearmon)" = "bearmon:bearmon 750" ] ||
	fail "/var/lib/bearmon: $(stat -c '%U:%G %a' /var/lib/bearmon) (tmpfiles)"
dpkg-query -W -f='${Conffiles}\n' bearmon >"$T/conffiles"
grep -q " $CONF " "$T/conffiles" || fail "$CONF is not a conffile"
grep -q " /etc/bearmon/conf.d/cpu.conf " "$T/conffiles" || fail "conf.d/*.conf are not conffiles"
zgrep -q '^\.SS collector/cpu' /usr/share/man/man5/bearmon.conf.5.gz || fail "bearmon.conf(5) lacks collector/cpu"
for page in man1/bearmonctl.1 man8/bearmond.8; do [ -f /usr/share/man/$page.gz ] || fail "no $page"; done
/usr/sbin/bearmond --dump-options >"$T/options.troff" || fail "bearmond --dump-options"
grep -q '^\.SS collector/load' "$T/options.troff" || fail "bearmond --dump-options lacks the installed collector/load"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify "$UNIT" >"$T/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.log")"
fi
pass "installed ${PKGS[*]}: user, /var/lib/bearmon 750, conffiles, man pages ($(elapsed))"
# a host running systemd has started the packaged service: this test runs its own
[ ! -d /run/systemd/system ] || systemctl stop bearmon.service || true

# --- 4. the daemon as the unit runs it ----------------------------------------
# (the shipped config but for its two fixed ports, so that tests running at
# the same time keep theirs; the unit's sandboxing needs systemd itself)
unit() { sed -nE "s/^$1=//p" "$UNIT"; }
caps() { unit "$1" | tr ' ' '\n' | sed -E 's/^CAP_(.*)/+\L\1/' | paste -sd, -; }
[ "$(unit Type)" = notify ] || fail "unit Type=$(unit Type)"
user=$(unit User)
group=$(unit Group)
read -r -a EXEC <<<"$(unit ExecStart)"
# systemd's side of sd_notify: a datagram socket, every message one line
cat >"$T/notify.py" <<'EOF'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " ") + "\n")
EOF
python3 "$T/notify.py" "$T/notify.sock" "$T/notify.log" &
HELPERS="$HELPERS $!"
for _ in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
PRIV=(--reuid="$user" --regid="$group" --init-groups --no-new-privs --bounding-set=-all"$(caps CapabilityBoundingSet | sed 's/^./,&/')")
[ -z "$(caps AmbientCapabilities)" ] ||
	PRIV+=(--inh-caps=-all,"$(caps AmbientCapabilities)" --ambient-caps="$(caps AmbientCapabilities)")
(cd / && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=2000000 \
	setpriv "${PRIV[@]}" "${EXEC[@]}" --set "http.listen=127.0.0.1:$BM_PORT" \
	--set "statsd.udp_listen=127.0.0.1:$((BM_PORT + 1))") >>"$T/log" 2>&1 &
DPID=$!
notified() { grep -q "$1" "$T/notify.log" 2>/dev/null; }
for _ in $(seq 300); do notified READY=1 && break; kill -0 "$DPID" || fail "bearmond exited"; sleep 0.1; done
notified READY=1 || fail "no READY=1 on NOTIFY_SOCKET"
st=$(api /api/bearmon/v1/status) || fail "no API on $URL"
[ "$(echo "$st" | jget .config)" = "$CONF" ] || fail "status: $st"
[ "$(stat -c %U "/proc/$DPID")" = "$user" ] || fail "runs as $(stat -c %U "/proc/$DPID")"
amb=$(sed -nE 's/^CapAmb:\s+//p' "/proc/$DPID/status")
bnd=$(sed -nE 's/^CapBnd:\s+//p' "/proc/$DPID/status")
# the unit grants what it bounds (CAP_SYS_PTRACE for collector/processes)
[ "$(caps CapabilityBoundingSet)" = "$(caps AmbientCapabilities)" ] || fail "unit: bounding set and ambient differ"
[ "$amb" = "$bnd" ] && [ "$((16#$amb))" -ne 0 ] || fail "capabilities: ambient $amb, bounding $bnd"
wait_for_n() { # wait_for_n SECONDS CMD...: poll
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
watchdogs() { [ "$(grep -c WATCHDOG=1 "$T/notify.log")" -ge 3 ]; }
wait_for_n 10 watchdogs || fail "WATCHDOG=1 not sent every WATCHDOG_USEC/2: $(cat "$T/notify.log")"
pass "ExecStart as $user (caps $amb): READY=1 ($(grep READY=1 "$T/notify.log" | head -1)), WATCHDOG=1 every 1 s"

samples_of() { # samples_of NAME: count of stored samples of its first series
	local id
	id=$(api "/api/bearmon/v1/series?name=$1" | jget '.series[0].id') || return 1
	api "/api/bearmon/v1/samples?id=$id" | jq -e '.samples | length > 0'
}
wait_for_n 60 samples_of node_load1 || fail "no node_load1 samples stored"
[ -s /var/lib/bearmon/bearmon.db ] && [ "$(stat -c %U /var/lib/bearmon/bearmon.db)" = "$user" ] ||
	fail "store file in /var/lib/bearmon: $(ls -l /var/lib/bearmon)"
pass "API serves, node_load1 stored in /var/lib/bearmon/bearmon.db ($(elapsed))"

# --- 5. a plugin built against the installed SDK only ---------------------------
EX=/usr/share/doc/libbearmon-sdk-dev/examples/uptime/uptime.c
PLUGINDIR=$(realpath -m "$(pkg-config --variable=plugindir bearmon-sdk)")
PLUGINDIR_FILE=$PLUGINDIR/bm_collector_uptime.so
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -shared -fPIC -O2 -Wall -Werror -o "$T/bm_collector_uptime.so" "$EX" $(pkg-config --cflags --libs bearmon-sdk) ||
	fail "uptime.c against the installed SDK"
install -m 0644 "$T/bm_collector_uptime.so" "$PLUGINDIR_FILE"
/usr/bin/bearmonctl check-plugin "$PLUGINDIR_FILE" >"$T/check.log" 2>&1 || fail "check-plugin: $(cat "$T/check.log")"
printf 'uptime_test = { plugin = "collector/uptime"; interval = "1s"; labels = { source = "packaging"; }; };\n' \
	>/etc/bearmon/conf.d/uptime_test.conf
reload=$(unit ExecReload)
sh -c "${reload//\$MAINPID/$DPID}" || fail "ExecReload: $reload"
reloaded() { [ "$(grep -c READY=1 "$T/notify.log")" -ge 2 ]; }
wait_for_n 30 reloaded || fail "no READY=1 after the reload: $(cat "$T/notify.log")"
notified RELOADING=1 || fail "no RELOADING=1 before the reload's READY=1"
wait_for_n 30 samples_of bearmon_example_uptime_seconds || fail "uptime plugin's metrics not in the API"
series=$(api "/api/bearmon/v1/series?name=bearmon_example_uptime_seconds" | jget '.series[0].series')
[ "$series" = 'bearmon_example_uptime_seconds{source="packaging"}' ] || fail "uptime series: $series"
pass "uptime built with pkg-config bearmon-sdk, installed in $PLUGINDIR, reloaded (RELOADING=1, READY=1): its metrics are served"

kill -TERM "$DPID"
wait_for_n 10 notified STOPPING=1 || fail "no STOPPING=1"
rc=0
wait "$DPID" || rc=$?
DPID=""
[ "$rc" = 0 ] || fail "bearmond exited with $rc on SIGTERM"
pass "SIGTERM: STOPPING=1, exit 0"

# --- 6. remove, then purge ------------------------------------------------------
rm -f "$PLUGINDIR_FILE" /etc/bearmon/conf.d/uptime_test.conf
apt-get remove -y -qq "${PKGS[@]}" >>"$T/apt.log" 2>&1 || fail "apt-get remove"
for f in /usr/sbin/bearmond /usr/bin/bearmonctl "$PLUGINDIR" /usr/include/bearmon; do
	[ ! -e "$f" ] || fail "$f left after remove"
done
[ -f "$CONF" ] || fail "remove must keep the conffiles"
purge "${PKGS[@]}" || fail "apt-get purge: $(tail -n 5 "$T/apt.log")"
PKGS=()
for f in /etc/bearmon /var/lib/bearmon "$UNIT"; do [ ! -e "$f" ] || fail "$f left after purge"; done
dpkg -l | grep -E '^.. +(bearmon|libbearmon)' && fail "packages left in dpkg's database"
grep -iE "^(dpkg: )?warning" "$T/apt.log" && fail "apt/dpkg warnings (see above)"
pass "remove keeps the conffiles; purge leaves nothing ($(elapsed))"

# --- 7. the RPMs and their layout ----------------------------------------------
[ -n "$RPM_PID" ] || { echo "skip: rpmbuild not installed (apt-get install -y rpm): RPMs not checked"; exit 0; }
wait "$RPM_PID" || { tail -n 40 "$T/build-rpm.log"; fail "build-rpm failed"; }
RPM_PID=""
expect() { # expect PACKAGE PATH-REGEX...: files the RPM must hold
	local pkg=$1 re
	shift
	rpm -qlp "$T"/rpm/"$pkg"-[0-9]*.rpm >"$T/files.$pkg" 2>/dev/null || fail "no $pkg RPM"
	for re in "$@"; do grep -qE "^$re\$" "$T/files.$pkg" || fail "$pkg.rpm lacks $re"; done
}
expect bearmon /usr/sbin/bearmond /usr/bin/bearmonctl /etc/bearmon/bearmon.conf /etc/bearmon/conf.d/cpu.conf \
	/usr/lib/systemd/system/bearmon.service /usr/lib/sysusers.d/bearmon.conf /usr/lib/tmpfiles.d/bearmon.conf \
	'/usr/share/man/man8/bearmond.8(.gz)?' '/usr/share/man/man1/bearmonctl.1(.gz)?' '/usr/share/man/man5/bearmon.conf.5(.gz)?'
expect bearmon-client-libs '/usr/lib64/libbearmon-client.so.1'
expect bearmon-sdk-devel /usr/include/bearmon/bm_plugin.h /usr/lib64/libbearmon-sdk.a /usr/lib64/pkgconfig/bearmon-sdk.pc \
	/usr/lib64/libbearmon-client.so /usr/share/doc/bearmon-sdk/examples/uptime/uptime.c
rpm -qcp "$T"/rpm/bearmon-[0-9]*.rpm >"$T/config.bearmon" 2>/dev/null
grep -qx "$CONF" "$T/config.bearmon" || fail "$CONF is not %config"
# the same plugins in the same packages as the .debs
for f in "$T"/rpm/*.rpm; do
	pkg=$(rpm -qp --qf '%{NAME}' "$f" 2>/dev/null)
	rpm -qlp "$f" 2>/dev/null | { grep -o 'bm_[a-z0-9_]*\.so$' || true; } | sed "s|^|$pkg |"
	rpm -qlp "$f" 2>/dev/null | { grep -vE '^/(usr|etc)/' || true; } | sed "s|^|outside /usr and /etc: |"
done | sort >"$T/rpm-plugins"
diff "$T/deb-plugins" "$T/rpm-plugins" >"$T/plugins.diff" || fail "RPM and Debian split differ: $(cat "$T/plugins.diff")"
pass "RPMs $(basename -a "$T"/rpm/*.rpm | tr '\n' ' ')match the layout and the Debian split ($(elapsed))"
