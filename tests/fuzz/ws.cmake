# SPDX-License-Identifier: Apache-2.0
# fuzz_ws: the dashboard's WebSocket frame receiver and encoder
# (plugins/ui_dashboard/ws.c) alone; OpenSSL for the handshake key.
pkg_check_modules(BM_FUZZ_WS_CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
target_sources(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/ui_dashboard/ws.c)
target_include_directories(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/ui_dashboard)
target_link_libraries(fuzz_${target} PRIVATE PkgConfig::BM_FUZZ_WS_CRYPTO)
