# SPDX-License-Identifier: Apache-2.0
# Issue 12's fault test: kill -9 twenty times under heavy ingest (2,000
# series every 100 ms): the store always opens, integrity_check is ok, and
# each kill loses at most the flush interval. Same script as the
# integration test, with more rounds and series.
BM_KILL_ROUNDS=20 BM_KILL_SERIES=2000 exec bash "$(dirname "$0")/../integration/store_durability.sh"
