/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libbearmon-client: decoding what the server sends (welcome,
 * command, error, bye) from one frame body, with msgpack-c.
 */
#ifndef BEARMON_CLIENT_DECODE_H
#define BEARMON_CLIENT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "encode.h"

/* A command as received: one allocation holding the struct, the args
 * array and every string; freed with free(). Queued in arrival order. */
struct bmc_command {
	struct bmc_command *next;
	struct bm_client_command cmd;
};

struct bmc_welcome {
	int64_t v;
	int64_t max_frame;    /* 0 when absent */
	int64_t heartbeat_ms; /* 0 when absent */
};

struct bmc_server_error {
	char code[32];
	char message[94]; /* code, ": " and message fit bm_client_stats.last_error */
};

/* One decoded server message. type is 0 for a type this library does not
 * know (ignored, as the spec asks). */
struct bmc_incoming {
	int type;
	union {
		struct bmc_welcome welcome;
		struct bmc_server_error error;
		struct bmc_command *command; /* owned by the caller after decode */
	} u;
};

/* Decode one frame body. Returns 0, BM_EPROTO when the bytes are not
 * exactly one msgpack object of the shape PROTOCOL.md gives, BM_ENOMEM. */
BMC_HIDDEN int bmc_decode(const uint8_t *body, size_t n, struct bmc_incoming *out);

#endif /* BEARMON_CLIENT_DECODE_H */
