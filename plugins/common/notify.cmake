# SPDX-License-Identifier: Apache-2.0
# Included by the notifier plugins (plugins/notifier_*/CMakeLists.txt):
#   bm_add_notifier(NAME SOURCES...)  plugin bm_notifier_NAME with the shared
#                                     notifier code (notify.c), libcurl, jansson
#   bm_notifier_test(TEST SOURCES...) its cmocka test, linked the same way
include_guard(GLOBAL)
pkg_check_modules(BM_NOTIFY_CURL REQUIRED IMPORTED_TARGET GLOBAL libcurl)

function(bm_add_notifier name)
  set(target bm_notifier_${name})
  bm_add_plugin(notifier ${name} ${ARGN} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/notify.c)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR})
  target_link_libraries(${target} PRIVATE PkgConfig::BM_NOTIFY_CURL PkgConfig::JANSSON
    Threads::Threads)
endfunction()

function(bm_notifier_test name)
  bm_plugin_test(${name} ${ARGN} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/notify.c)
  if(TARGET ${name})
    target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
      ${CMAKE_CURRENT_FUNCTION_LIST_DIR})
    target_link_libraries(${name} PRIVATE PkgConfig::BM_NOTIFY_CURL PkgConfig::JANSSON
      Threads::Threads)
  endif()
endfunction()
