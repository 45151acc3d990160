# SPDX-License-Identifier: Apache-2.0
# The rule engine (analyzer/alerts) in the real daemon, fed by the test
# collector testgen (testgen_value{series="N"} = N) and announcing through
# notifier/log: a config rule fires and shows at /alerts and in the alert
# history and the notification history; a malformed rule gets a 400 naming
# the field; acknowledgement; a silence keeps an alert from the notifiers; a
# dynamic rule expires; bearmonctl's alerting commands; a restart keeps the
# active alert (same fingerprint, acknowledgement, no new notification).
. "$(dirname "$0")/lib.sh"

API="/api/bearmon/v1"
CTL=("$BEARMONCTL" --url "$URL")

# poll for up to SECONDS (the sanitizer build is slow)
wait_until() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $*"
}
post() { curl -s -o "$T/body" -w '%{http_code}' -X "${3:-POST}" "$URL$1" -d "$2"; }
alert_fp() { api "$API/alerts" | jq -er --arg n "$1" '.alerts[] | select(.rule_name == $n) | .fingerprint'; }
firing() { api "$API/alerts?state=firing" | jq -e --arg n "$1" '[.alerts[] | select(.rule_name == $n)] | length == 1'; }
history_has() { api "$API/alerts/history?limit=10000" | jq -e --arg f "$1" --arg s "$2" '[.events[].event | select(.fingerprint == $f and .state == $s)] | length > 0'; }
history_count() { api "$API/alerts/history?limit=10000" | jq -r --arg f "$1" '[.events[].event | select(.fingerprint == $f)] | length'; }
notified() { api "$API/notifications?limit=10000" | jq -e --arg f "$1" '[.events[].event.fingerprints[]? | select(. == $f)] | length > 0'; }

conf "$T/bearmon.conf" 'interval = "500ms";' \
	'tg = { plugin = "collector/testgen"; series = 10; };' \
	'notify_log = { plugin = "notifier/log"; };' \
	'alerts = { plugin = "analyzer/alerts"; eval_interval = "200ms"; state_interval = "200ms";
	  rules = ( { name = "TgHigh"; metric = "testgen_value{series=\"9\"}"; condition = "gt";
	              threshold = 8.0; severity = "critical";
	              annotations = { summary = "series {{ $labels.series }} is {{ $value }}"; }; } ); };'
sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"$PLUGINS\", \"$BM_BUILD/plugins\"];|" "$T/bearmon.conf"
start_daemon "$T/bearmon.conf"

# --- a config rule fires -------------------------------------------------------
wait_until 20 firing TgHigh
FP=$(alert_fp TgHigh)
api "$API/alerts/$FP" | jget '.alert.annotations.summary' | grep -qx 'series 9 is 9' ||
	fail "annotation not templated: $(api "$API/alerts/$FP")"
wait_until 20 history_has "$FP" firing
wait_until 20 notified "$FP"
wait_until 20 grep -q 'alert firing: TgHigh severity=critical' "$T/log"
pass "a config rule fires: /alerts, alert history, notification history, the log notifier"

# --- the same in Prometheus' formats (Grafana's alert list reads these) --------
pa=$(api /api/v1/alerts)
echo "$pa" | jq -e '.status == "success" and ([.data.alerts[] | select(.labels.alertname == "TgHigh" and .state == "firing" and .value == "9" and .annotations.summary == "series 9 is 9" and (.activeAt | test("^20[0-9-]+T")))] | length == 1)' >/dev/null ||
	fail "/api/v1/alerts: $pa"
pr=$(api /api/v1/rules)
echo "$pr" | jq -e '[.data.groups[].rules[] | select(.name == "TgHigh" and .type == "alerting" and .state == "firing" and .health == "ok" and (.alerts | length) == 1)] | length == 1' >/dev/null ||
	fail "/api/v1/rules: $pr"
[ "$(api '/api/v1/rules?type=record' | jq '[.data.groups[].rules[]] | length')" = 0 ] || fail "type=record"
pass "/api/v1/alerts and /api/v1/rules in Prometheus' formats"

# --- malformed rules -------------------------------------------------------------
code=$(post "$API/rules" '{"name":"Bad","metric":"testgen_value","condition":"gt","threshold":"high"}')
[ "$code" = 400 ] || fail "malformed rule: HTTP $code"
jq -e '.field == "threshold" and (.error | test("threshold"))' "$T/body" >/dev/null ||
	fail "400 does not name the field: $(cat "$T/body")"
code=$(post "$API/rules" '{"name":"Bad","metric":"testgen_value{series=","condition":"gt","threshold":1}')
[ "$code" = 400 ] && jq -e '.field == "metric"' "$T/body" >/dev/null || fail "bad selector: $code $(cat "$T/body")"
code=$(post "$API/rules" 'not json')
[ "$code" = 400 ] || fail "a body that is not JSON: HTTP $code"
pass "malformed rules get 400 naming the field"

# --- acknowledgement ---------------------------------------------------------------
code=$(post "$API/alerts/$FP/ack" '{"by":"user:alice","comment":"on it"}')
[ "$code" = 200 ] || fail "ack: HTTP $code $(cat "$T/body")"
api "$API/alerts/$FP" | jget '.alert.ack.by' | grep -qx 'user:alice' || fail "ack not shown"
ack_in_history() { api "$API/alerts/history?limit=10000" | jq -e --arg f "$FP" '[.events[].event | select(.fingerprint == $f and .ack.by == "user:alice")] | length > 0'; }
wait_until 20 ack_in_history
pass "acknowledgement: shown on the alert and kept in the history"

# --- a silence keeps an alert from the notifiers ---------------------------------------
code=$(post "$API/silences" '{"matchers":"{alertname=\"TgSilenced\"}","duration":"1h","comment":"maintenance","created_by":"bob"}')
[ "$code" = 201 ] || fail "silence: HTTP $code $(cat "$T/body")"
SID=$(jq -r '.silence.id' "$T/body")
code=$(post "$API/rules" '{"name":"TgSilenced","metric":"testgen_value{series=\"5\"}","condition":"gt","threshold":4}')
[ "$code" = 201 ] || fail "rule: HTTP $code $(cat "$T/body")"
RID=$(jq -r '.rule.id' "$T/body")
wait_until 20 firing TgSilenced
SFP=$(alert_fp TgSilenced)
api "$API/alerts/$SFP" | jq -e --arg s "$SID" '.alert.silenced and .alert.silence_id == $s' >/dev/null ||
	fail "not silenced: $(api "$API/alerts/$SFP")"
wait_until 20 history_has "$SFP" firing
code=$(post "$API/rules" '{"name":"TgLoud","metric":"testgen_value{series=\"6\"}","condition":"gt","threshold":5}')
wait_until 20 firing TgLoud
wait_until 20 notified "$(alert_fp TgLoud)"
notified "$SFP" && fail "a silenced alert reached a notifier"
grep -q 'alert firing: TgSilenced' "$T/log" && fail "the log notifier announced a silenced alert"
api "$API/silences" | jq -e --arg s "$SID" '.silences[] | select(.id == $s) | .state == "active"' >/dev/null ||
	fail "silence not listed"
pass "a silence keeps its alert from the notifiers; it stays visible and in the history"

# --- a dynamic rule expires --------------------------------------------------------------
code=$(post "$API/rules" '{"id":"short","name":"TgShort","metric":"testgen_value{series=\"3\"}","condition":"gt","threshold":2,"expires":"3s"}')
[ "$code" = 201 ] || fail "expiring rule: HTTP $code $(cat "$T/body")"
wait_until 20 firing TgShort
XFP=$(alert_fp TgShort)
gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL$API/rules/short")" = 404 ]; }
wait_until 30 gone
wait_until 20 history_has "$XFP" resolved
pass "a rule with expires removes itself and resolves its alert"

# --- bearmonctl ------------------------------------------------------------------------------
"${CTL[@]}" alerts | grep -q "^$FP  firing" || fail "bearmonctl alerts: $("${CTL[@]}" alerts)"
"${CTL[@]}" rules | grep -q '^TgHigh ' || fail "bearmonctl rules"
"${CTL[@]}" --json rules show TgHigh | jq -e '.rule.source == "config"' >/dev/null || fail "rules show"
"${CTL[@]}" silence | grep -q "^$SID  active" || fail "bearmonctl silence"
echo '{"id":"ctl","name":"TgCtl","metric":"testgen_value{series=\"4\"}","condition":"gt","threshold":3}' >"$T/rule.json"
"${CTL[@]}" rules add "$T/rule.json" | grep -qx 'added ctl' || fail "bearmonctl rules add"
wait_until 20 firing TgCtl
"${CTL[@]}" ack "$(alert_fp TgCtl)" --by user:ctl --comment test | grep -q acknowledged || fail "bearmonctl ack"
"${CTL[@]}" rules delete ctl | grep -qx 'deleted ctl' || fail "bearmonctl rules delete"
"${CTL[@]}" rules delete TgHigh 2>"$T/err" && fail "a config rule was deleted"
grep -q 'comes from the config' "$T/err" || fail "refusal: $(cat "$T/err")"
cat >"$T/rules.json" <<'EOF'
[{"name": "Hot", "metric": "temp", "condition": "gt", "threshold": 30, "for": "2m"}]
EOF
cat >"$T/test.yml" <<'EOF'
rule_files: [rules.json]
tests:
  - interval: 1m
    input_series:
      - series: 'temp{room="a"}'
        values: '20 35x3'
    alert_rule_test:
      - eval_time: 2m
        alertname: Hot
        exp_alerts: []
      - eval_time: 3m
        alertname: Hot
        exp_alerts: [{exp_labels: {room: a, severity: warning}}]
EOF
"$BEARMONCTL" test-rules "$T/test.yml" | grep -q 'SUCCESS: 1 of 1' || fail "test-rules: $("$BEARMONCTL" test-rules "$T/test.yml")"
sed -i 's/room: a/room: b/' "$T/test.yml"
rc=0
"$BEARMONCTL" test-rules "$T/test.yml" >"$T/tr.out" || rc=$?
[ "$rc" = 1 ] && grep -q FAILED "$T/tr.out" || fail "a failing rule test exits $rc"
pass "bearmonctl rules, alerts, ack, silence, test-rules"

# --- a restart keeps the active alert ---------------------------------------------------------------
fired=$(api "$API/alerts/$FP" | jget '.alert.fired_at_ms')
before=$(history_count "$FP")
stop_daemon
start_daemon "$T/bearmon.conf"
api "$API/alerts/$FP" | jq -e --argjson f "$fired" '.alert.state == "firing" and .alert.fired_at_ms == $f and .alert.ack.by == "user:alice"' >/dev/null ||
	fail "after the restart: $(api "$API/alerts/$FP")"
api "$API/rules/$RID" | jq -e '.rule.source == "api" and .rule.name == "TgSilenced"' >/dev/null || fail "API rule lost"
api "$API/silences" | jq -e --arg s "$SID" '[.silences[] | select(.id == $s)] | length == 1' >/dev/null || fail "silence lost"
# a rule added now fires once samples flow again: series 9 was evaluated too
code=$(post "$API/rules" '{"name":"TgAfter","metric":"testgen_value{series=\"2\"}","condition":"gt","threshold":1}')
wait_until 20 firing TgAfter
[ "$(history_count "$FP")" = "$before" ] || fail "the restart notified again: $before -> $(history_count "$FP") events"
firing TgHigh || fail "TgHigh no longer firing"
pass "a restart keeps the active alert, its acknowledgement, API rules and silences"

stop_daemon
