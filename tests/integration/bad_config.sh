# SPDX-License-Identifier: Apache-2.0
# Bad config at start: the daemon refuses to start with one clear line
# naming file, line, instance and option; --check-config exits non-zero.
. "$(dirname "$0")/lib.sh"

# refuse NAME EXPECTED-LINE CONFIG-LINES...
refuse() {
	local name=$1 want=$2
	shift 2
	conf "$T/$name.conf" "$@"
	local rc=0
	"$BEARMOND" -c "$T/$name.conf" >"$T/$name.out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "$name: daemon started"
	grep -qF -- "$want" "$T/$name.out" || { cat "$T/$name.out"; fail "$name: missing '$want'"; }
	rc=0
	"$BEARMOND" --check-config "$T/$name.conf" >"$T/$name.chk" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || fail "$name: --check-config exit $rc"
	grep -qF -- "$want" "$T/$name.chk" || { cat "$T/$name.chk"; fail "$name: check-config lacks '$want'"; }
	pass "$name: $want"
}

refuse unknown_option "$T/unknown_option.conf:5: instance \"u\" (collector/uptime): option \"idel\": unknown option; did you mean \"idle\"? allowed: path, labels, idle" \
	'u = { plugin = "collector/uptime"; idel = true; };'
refuse wrong_type "$T/wrong_type.conf:5: instance \"t\" (collector/testgen): option \"series\": expected an integer, got a string" \
	't = { plugin = "collector/testgen"; series = "many"; };'
refuse out_of_bounds "$T/out_of_bounds.conf:5: instance \"t\" (collector/testgen): option \"series\": out of bounds: must be between 0 and 100000" \
	't = { plugin = "collector/testgen"; series = 100001; };'
refuse missing_required "instance \"t\" (collector/testgen): option \"targets.0.url\": required but not set" \
	't = { plugin = "collector/testgen"; targets = ( { labels = { a = "b"; }; } ); };'
refuse shadow "$T/shadow.conf:5: instance \"logging\": name shadows the core section \"logging\"" \
	'logging = { plugin = "collector/uptime"; };'
refuse bad_core "$T/bad_core.conf:5: core: option \"interval\": a duration needs a unit" \
	'interval = 10;'
refuse syntax "$T/syntax.conf:6: syntax error" \
	'u = { plugin = "collector/uptime";' '  labels = { a = ; }; };'
refuse isolate "option \"isolate\": isolated mode is for collectors only" \
	'u = { plugin = "notifier/log"; isolate = true; };'

# duplicate instance across the main file and conf.d
mkdir -p "$T/conf.d"
echo 'u = { plugin = "collector/testgen"; };' >"$T/conf.d/dup.conf"
refuse duplicate "$T/conf.d/dup.conf:1: instance \"u\": duplicate instance name (first defined at $T/duplicate.conf:5)" \
	'u = { plugin = "collector/uptime"; };'
rm -f "$T/conf.d/dup.conf"

rc=0
"$BEARMOND" -c "$T/does-not-exist.conf" >"$T/missing.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "missing config: daemon started"
grep -qF "$T/does-not-exist.conf: cannot read config file: No such file or directory" "$T/missing.out" || fail "missing config message"
pass "unreadable config refused"

# --set errors name the override
conf "$T/ok.conf" 'u = { plugin = "collector/uptime"; };'
rc=0
"$BEARMOND" --check-config "$T/ok.conf" --set u.idle=perhaps >"$T/set.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -qF -- '--set u.idle: instance "u" (collector/uptime): option "idle": expected a boolean (true or false), got "perhaps"' "$T/set.out" || { cat "$T/set.out"; fail "--set error"; }
"$BEARMOND" --check-config "$T/ok.conf" --set u.idle=false | grep -q "config ok" || fail "valid --set"
pass "--set values are validated like file values"

# the option table is the documentation
"$BEARMOND" -c "$T/ok.conf" --plugin collector/testgen --help | grep -q "targets.N.url" || fail "--plugin --help"
pass "bearmond --plugin KIND/NAME --help prints the options"
