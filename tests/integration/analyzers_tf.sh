# SPDX-License-Identifier: Apache-2.0
# analyzer/trend, analyzer/correlation and analyzer/forecast in the real
# daemon: a writer feeds the textfile collector a ramp, a random signal
# with a linear twin and a copy one second later, and a filling disk; the
# three HTTP answers must show the ramp increasing, the twin and the
# leading signal correlated, and the disk's time to full.
# shellcheck shell=bash source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2034 # read by conf() in lib.sh
PLUGINS="$BM_BUILD/plugins" # the real plugins, not the test fixtures
mkdir -p "$T/tf"
WPID=""
trap '[ -n "$WPID" ] && kill "$WPID" 2>/dev/null; cleanup' EXIT

# One line per metric every second; written atomically (tmp + mv).
writer() {
	local t0 now a prev=0 i=0
	t0=$(date +%s)
	while :; do
		now=$(date +%s)
		a=$((RANDOM % 1000))
		{
			echo "it_ramp $(((now - t0) * 10 + i))"
			echo "it_a $a"
			echo "it_b $((2 * a + 1))"
			echo "it_c $prev"
			echo "it_fill_bytes $((1000000 - (now - t0) * 1000))"
		} >"$T/tf/it.prom.tmp"
		mv "$T/tf/it.prom.tmp" "$T/tf/it.prom"
		prev=$a
		i=$((i + 1))
		sleep 1
	done
}

conf "$T/bearmon.conf" 'interval = "200ms";' \
	"tf = { plugin = \"collector/textfile\"; directory = \"$T/tf\"; };" \
	'trend = { plugin = "analyzer/trend"; interval = "1s"; include = [ "it_.*" ]; warmup = false;
	  windows = ( { length = "8s"; points = 16; } ); };' \
	'correlation = { plugin = "analyzer/correlation"; interval = "1s"; include = [ "it_(a|b|c)" ];
	  step = "1s"; window = "16s"; max_lag = "3s"; min_coverage = 0.7; };' \
	'forecast = { plugin = "analyzer/forecast"; interval = "1s"; include = [ "it_fill_bytes" ];
	  step = "1s"; history = "2m"; eval_horizon = "3s"; min_season = "2s"; max_season = "30s";
	  linear_window = "20s"; error_window = "20s"; min_scored = 3; horizon = "1h"; points = 12;
	  warmup = false; limits = ( { match = "it_fill_bytes"; threshold = 0.0; direction = "below";
	  description = "test disk full"; } ); };'
writer &
WPID=$!
start_daemon "$T/bearmon.conf"

# poll CMD... for up to 90 s (the sanitizer build is slow)
poll() {
	for _ in $(seq 450); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
	return 1
}

ramp_up() {
	api "/api/bearmon/v1/trends?name=it_ramp&direction=increasing" |
		jq -e '.trends[0].slope_per_s > 5 and .trends[0].p_value < 0.05'
}
poll ramp_up || fail "no increasing trend for it_ramp: $(api /api/bearmon/v1/trends?name=it_ramp)"
pass "trend: the ramp is increasing, slope $(api '/api/bearmon/v1/trends?name=it_ramp' | jget '.trends[0].slope_per_s') per s"

twins() {
	api /api/bearmon/v1/correlations |
		jq -e '[.pairs[] | select(.a.name == "it_a" and .b.name == "it_b" and .pearson > 0.99)] | length == 1'
}
leads() {
	api /api/bearmon/v1/correlations |
		jq -e '[.pairs[] | select(.a.name == "it_a" and .b.name == "it_c" and .lag_ms > 0 and .lag_coefficient > 0.8)] | length == 1'
}
poll twins || fail "it_a and it_b not correlated: $(api /api/bearmon/v1/correlations)"
pass "correlation: it_b = 2 it_a + 1 has r > 0.99"
poll leads || fail "it_a does not lead it_c: $(api /api/bearmon/v1/correlations)"
pass "correlation: it_a leads it_c by $(api /api/bearmon/v1/correlations | jget '[.pairs[] | select(.b.name == "it_c")][0].lag_ms') ms"

# 1000 bytes/s from 1e6: full about 1000 s after the writer started
full_in() {
	api "/api/bearmon/v1/forecasts?name=it_fill_bytes" |
		jq -e '.forecasts[0].limits[0].time_to_threshold_ms as $t | $t > 800000 and $t < 1100000'
}
poll full_in || fail "no time to full: $(api '/api/bearmon/v1/forecasts?name=it_fill_bytes')"
pass "forecast: disk full in $(api '/api/bearmon/v1/forecasts?name=it_fill_bytes' | jget '.forecasts[0].limits[0].time_to_threshold_ms') ms ($(api '/api/bearmon/v1/forecasts?name=it_fill_bytes' | jget '.forecasts[0].model'))"

stop_daemon
