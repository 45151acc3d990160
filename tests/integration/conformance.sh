# SPDX-License-Identifier: Apache-2.0
# The conformance check over every plugin we build: descriptor, options,
# init/start/collect/stop/fini twice, no heap growth, unknown option
# rejected. And that it catches what it must.
. "$(dirname "$0")/lib.sh"

n=0
for so in "$BM_BUILD"/plugins/bm_*.so "$PLUGINS/bm_collector_uptime.so" "$PLUGINS/bm_collector_testgen.so"; do
	[ -e "$so" ] || continue
	"$BEARMONCTL" check-plugin "$so" >"$T/out" 2>&1 || { cat "$T/out"; fail "$(basename "$so") fails the conformance check"; }
	# a lifecycle skipped because init said ENOTSUP (collector/gpu on a host
	# without a GPU) is the one accepted reason for a check not to run
	grep -q "^4 passed, 0 failed" "$T/out" || grep -q "^SKIP lifecycle: init returned ENOTSUP" "$T/out" ||
		{ cat "$T/out"; fail "$(basename "$so"): not every check ran"; }
	n=$((n + 1))
done
pass "$n plugins pass every conformance check"

# expect_fail FILE WANT [--set ...]
expect_fail() {
	local so=$1 want=$2 rc=0
	shift 2
	"$BEARMONCTL" --deadline 1s check-plugin "$PLUGINS/$so" "$@" >"$T/out" 2>&1 || rc=$?
	[ "$rc" = 1 ] && grep -qF -- "$want" "$T/out" || { cat "$T/out"; fail "$so $*: expected '$want'"; }
	pass "$so $*: $want"
}
expect_fail bm_collector_badmajor.so "FAIL descriptor:"
expect_fail bm_collector_notaplugin.so "not a bearmon plugin (no bm_plugin_desc symbol)"
expect_fail bm_collector_testgen.so "FAIL lifecycle: init returned EINVAL" --set fail_init=true
expect_fail bm_collector_testgen.so "deadline overrun: collect" --set sleep=3s
"$BEARMONCTL" --json check-plugin "$PLUGINS/bm_collector_uptime.so" | jq -e '.ok == true' >/dev/null || fail "--json report"
pass "--json report"
