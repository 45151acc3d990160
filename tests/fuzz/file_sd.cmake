# SPDX-License-Identifier: Apache-2.0
# fuzz_file_sd: the scrape collector's file_sd parser, with its libraries.
pkg_check_modules(FUZZ_FILE_SD REQUIRED IMPORTED_TARGET yaml-0.1 jansson)
target_sources(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/collector_scrape/file_sd.c)
target_include_directories(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/collector_scrape)
target_link_libraries(fuzz_${target} PRIVATE PkgConfig::FUZZ_FILE_SD)
