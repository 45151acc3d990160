# SPDX-License-Identifier: Apache-2.0
# A third party's view: install the SDK, build the example collector out
# of tree against the installed headers only, load it into the daemon.
. "$(dirname "$0")/lib.sh"

cmake --install "$BM_BUILD" --prefix "$T/prefix" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "install"; }
[ -f "$T/prefix/include/bearmon/bm_plugin.h" ] || fail "SDK headers not installed"
cp -r "$BM_SOURCE_DIR/sdk/examples/uptime" "$T/src"
PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig:$T/prefix/lib/x86_64-linux-gnu/pkgconfig" \
	cmake -S "$T/src" -B "$T/obj" >"$T/build.log" 2>&1 &&
	cmake --build "$T/obj" >>"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "out-of-tree build"; }
# only headers: the plugin links no bearmon library
ldd "$T/obj/bm_collector_uptime.so" | grep -q bearmon && fail "example links a bearmon library"
pass "example built out of tree with only the SDK headers"

mkdir -p "$T/plugins"
cp "$T/obj/bm_collector_uptime.so" "$T/plugins/"
chmod 755 "$T/plugins"
conf "$T/bearmon.conf" "plugin_dirs = [\"$T/plugins\"];" 'interval = "200ms";' 'mine = { plugin = "collector/uptime"; };'
sed -i "0,/plugin_dirs/{/plugin_dirs = \[\"$(echo "$PLUGINS" | sed 's/[\/&]/\\&/g')\"\];/d}" "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"
sleep 1
pl=$(api /api/bearmon/v1/plugins)
[ "$(echo "$pl" | jget '.plugins[0].file')" = "$T/plugins/bm_collector_uptime.so" ] || fail "loaded from the wrong place: $pl"
[ "$(echo "$pl" | jget '.plugins[0].collections')" -ge 2 ] || fail "not collecting: $pl"
pass "out-of-tree plugin runs in the real daemon"
stop_daemon
