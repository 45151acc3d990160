# SPDX-License-Identifier: Apache-2.0
# PromQL against a real Prometheus: the same samples (OpenMetrics made
# here: counters with resets, a late start, gaps and an early end, gauges,
# two histograms) go into bearmond (bearmonctl import) and into Prometheus
# (promtool tsdb create-blocks-from openmetrics, then prometheus on the
# blocks); every query of promql_diff.queries runs against both, instant
# and range, and the answers must agree within 1e-9 relative, with the same
# label sets and timestamps. Then Prometheus scrapes bearmond's /metrics
# and its API must return our series. Needs Debian's prometheus package.
# Ports: BM_PORT bearmond, BM_PORT + 1 Prometheus.
. "$(dirname "$0")/../integration/lib.sh"

P1=$((BM_PORT + 1))
PY=/usr/bin/python3
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
	fail "prometheus and promtool missing (Debian package prometheus)"

# --- the samples ---------------------------------------------------------------
"$PY" - "$T/data.om" <<'EOF'
import sys

T0 = 1600000000
END = T0 + 2 * 3600
seed = 12345


def rnd(n):
    """A small LCG, so both stores get the same numbers on every run."""
    global seed
    seed = (seed * 1103515245 + 12345) % 2**31
    return seed % n


def times(step, start=T0, end=END, gaps=(), jitter=False):
    t = start
    while t <= end:
        if not any(a <= t < b for a, b in gaps):
            yield t + (0.5 if jitter and rnd(4) == 0 else 0)
        t += step


out = open(sys.argv[1], "w")
w = out.write

w("# TYPE diff_http_requests counter\n# HELP diff_http_requests requests served\n")
series = [
    ('job="api",instance="a"', 15, T0, END, (), [T0 + 2400, T0 + 4500], 0),
    ('job="api",instance="b"', 10, T0, T0 + 6000, [(T0 + 3000, T0 + 3720)], [], 0),
    ('job="web",instance="a"', 30, T0 + 1200, END, (), [], 100000),
]
for labels, step, start, end, gaps, resets, base in series:
    v = base
    for t in times(step, start, end, gaps, jitter=True):
        if resets and t >= resets[0]:
            resets.pop(0)
            v = rnd(5)
        else:
            v += rnd(20)
        w("diff_http_requests_total{%s} %d %s\n" % (labels, v, t))

w("# TYPE diff_temperature gauge\n")
for room, step, end in (("x", 15, END), ("y", 20, T0 + 5400)):
    for t in times(step, T0, end):
        w('diff_temperature{room="%s"} %.2f %s\n' % (room, 18 + rnd(600) / 100 - (3 if room == "y" else 0), t))

w("# TYPE diff_queue_depth gauge\n")
for t in times(15):
    w('diff_queue_depth{queue="q1"} %d %s\n' % (rnd(4), t))

w("# TYPE diff_info gauge\n")
for job, version in (("api", "1.2"), ("web", "2.0")):
    for t in times(60):
        w('diff_info{job="%s",version="%s"} 1 %s\n' % (job, version, t))

w("# TYPE diff_latency_seconds histogram\n")
bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"]
for job, step in (("api", 15), ("web", 30)):
    counts = [0] * len(bounds)
    total = 0.0
    rows = []
    for t in times(step):
        if job == "api" and t == T0 + 3600:
            counts = [0] * len(bounds)
            total = 0.0
        for _ in range(rnd(6)):
            obs = rnd(1200) / 1000
            total += obs
            for i, b in enumerate(bounds):
                if b == "+Inf" or obs <= float(b):
                    counts[i] += 1
        rows.append((t, list(counts), total))
    for i, b in enumerate(bounds):
        for t, c, _ in rows:
            w('diff_latency_seconds_bucket{job="%s",le="%s"} %d %s\n' % (job, b, c[i], t))
    for t, c, _ in rows:
        w('diff_latency_seconds_count{job="%s"} %d %s\n' % (job, c[-1], t))
    for t, _, s in rows:
        w('diff_latency_seconds_sum{job="%s"} %.3f %s\n' % (job, s, t))
w("# EOF\n")
EOF

# --- Prometheus on the same samples, also scraping bearmond ---------------------------
promtool tsdb create-blocks-from openmetrics "$T/data.om" "$T/prom" >"$T/blocks.log" 2>&1 ||
	fail "create-blocks-from: $(tail -5 "$T/blocks.log")"
cat >"$T/prometheus.yml" <<EOF
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: bearmon
    static_configs: [ { targets: ["127.0.0.1:$BM_PORT"] } ]
EOF
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
	--storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$P1" >"$T/prometheus.log" 2>&1 &
PROM=$!
trap 'kill $PROM 2>/dev/null || true; cleanup' EXIT

conf "$T/bearmon.conf" 'interval = "1s";' 'self_metrics_interval = "1s";' \
	'gen = { plugin = "collector/testgen"; series = 3; };'
start_daemon "$T/bearmon.conf" --set store.retention_raw=0s
"$BEARMONCTL" -c "$T/bearmon.conf" import "$T/data.om" >"$T/import.out" || fail "import: $(cat "$T/import.out")"
wait_for curl -sf "http://127.0.0.1:$P1/-/ready"
pass "the same samples in bearmond ($(cat "$T/import.out")) and in Prometheus"

# --- every query against both --------------------------------------------------------
rc=0
"$PY" - "$BM_SOURCE_DIR/tests/slow/promql_diff.queries" "$URL" "http://127.0.0.1:$P1" >"$T/diff.out" <<'EOF' || rc=$?
import json, math, sys, urllib.parse, urllib.request

queries, ours, theirs = sys.argv[1:4]
T0 = 1600000000
INSTANTS = [T0 - 60, T0, T0 + 7.5, T0 + 300, T0 + 1234, T0 + 1500, T0 + 2400, T0 + 2415.5, T0 + 3000,
            T0 + 3299, T0 + 3301, T0 + 3720, T0 + 4500, T0 + 5400, T0 + 5700, T0 + 5701, T0 + 6000,
            T0 + 6300, T0 + 7199, T0 + 7500]
RANGES = [(T0 - 300, T0 + 7500, 60), (T0 + 1, T0 + 7201, 37)]


def get(base, path, params):
    url = base + path + "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def num(s):
    return float(s)  # Go and Python both read "NaN", "+Inf", "-Inf"


def close(a, b):
    x, y = num(a), num(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y)) or abs(x - y) <= 1e-12


def key(s):
    return json.dumps(s["metric"], sort_keys=True)


def has_data(a):
    r = a.get("data", {}).get("result")
    return bool(r) and (a["data"]["resultType"] in ("scalar", "string") or any(
        s.get("values", [s.get("value")]) for s in r))


def same(a, b, ordered):
    """None when the two answers agree, else why not."""
    if a.get("status") != "success" or b.get("status") != "success":
        return "status: ours %s, Prometheus %s" % (a.get("error", "ok"), b.get("error", "ok"))
    da, db = a["data"], b["data"]
    if da["resultType"] != db["resultType"]:
        return "type %s vs %s" % (da["resultType"], db["resultType"])
    ra, rb = da["result"], db["result"]
    if da["resultType"] in ("scalar", "string"):
        ok = ra[0] == rb[0] and (ra[1] == rb[1] if da["resultType"] == "string" else close(ra[1], rb[1]))
        return None if ok else "%s vs %s" % (ra, rb)
    if not ordered:
        ra, rb = sorted(ra, key=key), sorted(rb, key=key)
    if [key(s) for s in ra] != [key(s) for s in rb]:
        return "series %s vs %s" % ([s["metric"] for s in ra], [s["metric"] for s in rb])
    for sa, sb in zip(ra, rb):
        pa = sa.get("values", [sa.get("value")])
        pb = sb.get("values", [sb.get("value")])
        if [p[0] for p in pa] != [p[0] for p in pb]:
            return "timestamps of %s differ (%d vs %d points)" % (sa["metric"], len(pa), len(pb))
        for p, q in zip(pa, pb):
            if not close(p[1], q[1]):
                return "%s at %s: %s vs %s" % (sa["metric"], p[0], p[1], q[1])
    return None


failed = checks = 0
for line in open(queries):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    instant_only = line.startswith("instant ")
    ordered = line.startswith("ordered ")
    expr = line.split(" ", 1)[1] if instant_only or ordered else line
    why = None
    data = 0  # answers with data: a query that never has any proves nothing
    for t in INSTANTS:
        p = {"query": expr, "time": t}
        a, b = get(ours, "/api/v1/query", p), get(theirs, "/api/v1/query", p)
        why = why or same(a, b, ordered)
        data += has_data(b)
        checks += 1
    for start, end, step in [] if instant_only else RANGES:
        p = {"query": expr, "start": start, "end": end, "step": step}
        a, b = get(ours, "/api/v1/query_range", p), get(theirs, "/api/v1/query_range", p)
        why = why or same(a, b, False)
        data += has_data(b)
        checks += 1
    if not why and not data:
        why = "Prometheus returned no data at any time: the query tests nothing"
    print("%s %s%s" % ("PASS" if not why else "FAIL", expr, "" if not why else "\n     " + why))
    failed += bool(why)
print("%d checks; queries: %d failed" % (checks, failed))
sys.exit(1 if failed else 0)
EOF
cat "$T/diff.out"
n=$(grep -c '^PASS\|^FAIL' "$T/diff.out")
[ "$n" -ge 40 ] || fail "only $n queries"
[ "$rc" = 0 ] || fail "$(grep -c ^FAIL "$T/diff.out") of $n queries differ from Prometheus"
pass "$n queries agree with Prometheus, instant and range"

# --- Prometheus scrapes bearmond ------------------------------------------------------
scraped() {
	curl -sf "http://127.0.0.1:$P1/api/v1/query" --data-urlencode 'query=testgen_value{job="bearmon"}' |
		jq -e '.data.result | length == 3' >/dev/null
}
for _ in $(seq 300); do scraped && break; sleep 0.1; done
scraped || fail "Prometheus has no testgen_value from bearmond: $(tail -3 "$T/prometheus.log")"
curl -sf "http://127.0.0.1:$P1/api/v1/query?query=up%7Bjob%3D%22bearmon%22%7D" | jq -e '.data.result[0].value[1] == "1"' \
	>/dev/null || fail "scrape target down"
pass "a real Prometheus scrapes bearmond's /metrics and serves our series"
stop_daemon
