# SPDX-License-Identifier: Apache-2.0
# fuzz_statsd: the StatsD line parser and series mapping, linked alone.
target_sources(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/collector_statsd/parse.c)
target_include_directories(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/collector_statsd)
