# SPDX-License-Identifier: Apache-2.0
# Included by the top level before plugins/, so plugin directories can
# declare their unit tests with bm_plugin_test().
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# The fake host and the shared helpers (plugintest.h) for plugin unit
# tests (plugins/*/tests/); the helpers use the core's schema_defaults.
add_library(bm-fakehost STATIC ${CMAKE_CURRENT_LIST_DIR}/fakehost.c
  ${CMAKE_CURRENT_LIST_DIR}/plugintest.c)
target_include_directories(bm-fakehost PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_compile_options(bm-fakehost PRIVATE ${BM_WARNINGS})
target_link_libraries(bm-fakehost PUBLIC bearmon-sdk bearmon-core PkgConfig::CMOCKA)

# bm_plugin_test(NAME SOURCES...): a cmocka test of a plugin (label unit),
# linked with the fake host and the core (for schema_defaults and friends).
function(bm_plugin_test name)
  add_executable(${name} ${ARGN})
  target_compile_options(${name} PRIVATE ${BM_WARNINGS})
  target_link_libraries(${name} PRIVATE bm-fakehost bearmon-core PkgConfig::CMOCKA)
  add_test(NAME unit/${name} COMMAND ${name})
  set_tests_properties(unit/${name} PROPERTIES LABELS unit TIMEOUT 120
    ENVIRONMENT "BM_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
