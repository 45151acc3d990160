# SPDX-License-Identifier: Apache-2.0
# An exporter written with Debian's python3-prometheus-client, for
# tests/slow/scrape_real.sh: one counter, gauge, histogram and summary with
# known values. The client's handler negotiates OpenMetrics, so this also
# checks what a real library sends for Accept: application/openmetrics-text.
# Usage: py_exporter.py PORT
import sys
import time

from prometheus_client import Counter, Gauge, Histogram, Summary, start_http_server

requests = Counter("app_requests", "Requests handled.", ["route"])
temperature = Gauge("app_temperature_celsius", "Temperature.")
latency = Histogram("app_latency_seconds", "Request latency.", buckets=(0.5, 1.0, 5.0))
size = Summary("app_response_bytes", "Response size.")

requests.labels(route="/a").inc(7)
temperature.set(3.5)
latency.observe(0.3)
latency.observe(2.0)
size.observe(1500)
size.observe(2500)

start_http_server(int(sys.argv[1]), addr="127.0.0.1")
while True:
    time.sleep(60)
