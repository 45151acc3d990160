# SPDX-License-Identifier: Apache-2.0
# fuzz_agentproto: the agent protocol decoder alone (plugins/collector_agent/proto.c),
# which reads msgpack with the SDK's private cursor (sdk/src/mp.h).
target_sources(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/collector_agent/proto.c)
target_include_directories(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/collector_agent
  ${PROJECT_SOURCE_DIR}/sdk/src)
