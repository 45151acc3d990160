# SPDX-License-Identifier: Apache-2.0
# The rule engine's sources, shared by the plugin (CMakeLists.txt beside this
# file) and bearmonctl test-rules (core/CMakeLists.txt): sets
# BM_ALERTS_ENGINE_SOURCES and BM_ALERTS_ENGINE_LIBS. YAML (Prometheus rule
# files, test files) comes from libyaml when it is installed; without it
# only JSON is read, and YAML files are refused with a message saying why.
set(BM_ALERTS_DIR ${CMAKE_CURRENT_LIST_DIR})
set(BM_ALERTS_ENGINE_SOURCES
  ${BM_ALERTS_DIR}/timeparse.c ${BM_ALERTS_DIR}/selector.c ${BM_ALERTS_DIR}/template.c
  ${BM_ALERTS_DIR}/rule.c ${BM_ALERTS_DIR}/hmap.c ${BM_ALERTS_DIR}/engine.c
  ${BM_ALERTS_DIR}/cond.c ${BM_ALERTS_DIR}/instance.c ${BM_ALERTS_DIR}/group.c
  ${BM_ALERTS_DIR}/silence.c ${BM_ALERTS_DIR}/view.c ${BM_ALERTS_DIR}/promview.c ${BM_ALERTS_DIR}/state.c
  ${BM_ALERTS_DIR}/promrules.c ${BM_ALERTS_DIR}/testrules.c)
# Included once per directory that links the engine (core/, here): the
# variables are set in each, the imported target made once.
if(NOT TARGET PkgConfig::BM_ALERTS_YAML)
  pkg_check_modules(BM_ALERTS_YAML QUIET IMPORTED_TARGET GLOBAL yaml-0.1)
endif()
if(TARGET PkgConfig::BM_ALERTS_YAML)
  list(APPEND BM_ALERTS_ENGINE_SOURCES ${BM_ALERTS_DIR}/yamljson.c)
  set(BM_ALERTS_ENGINE_LIBS PkgConfig::BM_ALERTS_YAML PkgConfig::JANSSON m)
else()
  message(STATUS "analyzer/alerts: libyaml (libyaml-dev) not found: rule and test files are read as JSON only")
  list(APPEND BM_ALERTS_ENGINE_SOURCES ${BM_ALERTS_DIR}/yamljson_none.c)
  set(BM_ALERTS_ENGINE_LIBS PkgConfig::JANSSON m)
endif()
