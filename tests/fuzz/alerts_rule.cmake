# SPDX-License-Identifier: Apache-2.0
# fuzz_alerts_rule: the alert rule engine's sources and libraries.
include(${PROJECT_SOURCE_DIR}/plugins/analyzer_alerts/engine.cmake)
target_sources(fuzz_${target} PRIVATE ${BM_ALERTS_ENGINE_SOURCES})
target_include_directories(fuzz_${target} PRIVATE ${BM_ALERTS_DIR})
target_link_libraries(fuzz_${target} PRIVATE ${BM_ALERTS_ENGINE_LIBS})
