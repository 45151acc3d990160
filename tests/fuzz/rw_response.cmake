# SPDX-License-Identifier: Apache-2.0
# fuzz_rw_response: notifier/remote_write's answer handling and WriteRequest
# codec, the plugin's bm_rw_wire library (protobuf-c, snappy, libcurl).
target_link_libraries(fuzz_${target} PRIVATE bm_rw_wire)
