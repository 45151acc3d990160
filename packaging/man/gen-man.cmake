# SPDX-License-Identifier: Apache-2.0
# cmake -P script behind packaging/man/CMakeLists.txt: runs the built
# programs for their --help texts and option tables and fills the page
# templates (*.in) with them.

# run_for(VAR cmd...): VAR = stdout of cmd; any failure stops the build.
function(run_for var)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "${cmd}: exit ${rc}\n${err}")
  endif()
  string(REGEX REPLACE "\n+$" "" out "${out}")
  set(${var} "${out}" PARENT_SCOPE)
endfunction()

# verbatim(VAR): text shown as is inside .nf: backslashes escaped, lines
# that would read as troff requests defused.
function(verbatim var)
  set(text "${${var}}")
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${var} "${text}" PARENT_SCOPE)
endfunction()

run_for(BEARMOND_USAGE ${BEARMOND} --help)
run_for(BEARMONCTL_USAGE ${BEARMONCTL} --help)
run_for(BEARMONCTL_REPLAY_USAGE ${BEARMONCTL} replay --help)
# A plugin the loader refuses is left out of the page, as bearmond leaves it
# out of a running daemon: said loudly, but the other pages still build.
execute_process(COMMAND ${BEARMOND} -c /dev/null --set plugin_dirs=${PLUGIN_DIR} --dump-options
  OUTPUT_VARIABLE OPTIONS ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  if(NOT OPTIONS MATCHES "\.SH CORE OPTIONS")
    message(FATAL_ERROR "bearmond --dump-options: exit ${rc}\n${err}")
  endif()
  message(WARNING "bearmon.conf(5) leaves out the plugins bearmond refuses:\n${err}")
endif()
foreach(v BEARMOND_USAGE BEARMONCTL_USAGE BEARMONCTL_REPLAY_USAGE)
  verbatim(${v})
endforeach()

foreach(page bearmond.8 bearmonctl.1 bearmon.conf.5)
  configure_file(${SRC_DIR}/${page}.in ${OUT_DIR}/${page} @ONLY)
endforeach()
