/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 6455 (WebSocket) for the server side, free of sockets and of the host:
 * the opening handshake's checks and accept key, an incremental frame
 * receiver that reassembles fragmented messages and enforces the protocol's
 * rules and our size limits, and the frame encoder. Kept alone so that the
 * fuzz target (tests/fuzz/fuzz_ws.c) and the unit tests link it by itself.
 */
#ifndef BEARMON_DASHBOARD_WS_H
#define BEARMON_DASHBOARD_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* Close codes (RFC 6455 7.4.1) that this side sends or checks. */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005, /* never on the wire: a close without a code */
	WS_CLOSE_INVALID_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
};

/* The largest frame header: 2 bytes, 8 of extended length, 4 of mask. */
#define WS_MAX_HEADER 14
/* Sec-WebSocket-Accept: base64 of a SHA-1, plus the NUL. */
#define WS_ACCEPT_LEN 29

/* --- handshake ------------------------------------------------------------ */

/* out = base64(SHA-1(key + the RFC's GUID)). false when key is not the
 * base64 of 16 bytes (RFC 6455 4.2.1, item 5). */
bool ws_accept_key(const char *key, char out[WS_ACCEPT_LEN]);
/* value is a comma-separated header (Connection, Upgrade) holding token,
 * compared without case. */
bool ws_header_has_token(const char *value, const char *token);

/* --- receiving -------------------------------------------------------------- */

struct ws_limits {
	size_t max_frame;   /* payload bytes of one frame */
	size_t max_message; /* bytes of a reassembled message */
};

/*
 * Incremental receiver of one connection, zeroed then ws_rx_init(). Bytes
 * arrive with ws_rx_push() in any chunks; ws_rx_next() hands out whole
 * messages (text and binary, reassembled from fragments) and control frames
 * (ping, pong, close) in order. expect_masked: a server receives masked
 * frames only (RFC 6455 5.1); a client (the tests' and benchmark's) the
 * opposite.
 */
struct ws_rx {
	struct ws_limits lim;
	bool expect_masked;
	uint8_t *in; /* received, not yet consumed */
	size_t in_off, in_len, in_cap;
	uint8_t *msg; /* fragments of the message in progress */
	size_t msg_len, msg_cap;
	int msg_opcode; /* WS_OP_TEXT or _BINARY while a message is open, else 0 */
	int failed;     /* the close code once the stream broke: sticky */
};

/* A message or control frame; payload points into the receiver and is
 * valid until the next ws_rx_push() or ws_rx_next(). For WS_OP_CLOSE,
 * close_code is the peer's code (WS_CLOSE_NO_STATUS when it sent none) and
 * payload/len the reason after it. */
struct ws_msg {
	int opcode;
	const uint8_t *payload;
	size_t len;
	int close_code;
};

void ws_rx_init(struct ws_rx *rx, const struct ws_limits *lim, bool expect_masked);
void ws_rx_free(struct ws_rx *rx);
/* Append n received bytes. 0, or BM_ENOMEM. */
int ws_rx_push(struct ws_rx *rx, const void *data, size_t n);
/*
 * 1 and *m: the next message or control frame. 0: more bytes are needed.
 * A negative close code (-1002 protocol error, -1007 invalid UTF-8 in a
 * text message or close reason, -1009 over a limit) when the peer broke the
 * protocol: the connection is to be failed with that code (RFC 6455 7.1.7);
 * every later call returns the same. BM_ENOMEM.
 */
int ws_rx_next(struct ws_rx *rx, struct ws_msg *m);

/* --- sending ---------------------------------------------------------------- */

/* Append one whole frame (FIN set) to out, masked with mask when not NULL
 * (clients mask, servers never do). 0 or BM_ENOMEM. */
int ws_frame_append(struct bm_buf *out, int opcode, const void *payload, size_t len,
		    const uint8_t mask[4]);
/* The header alone, for a payload sent from elsewhere: its length. */
size_t ws_header_encode(uint8_t out[WS_MAX_HEADER], bool fin, int opcode, uint64_t len,
			const uint8_t mask[4]);
/* A close frame with code and reason (cut to fit the 125-byte limit of
 * control frames, on a UTF-8 boundary). */
int ws_close_append(struct bm_buf *out, int code, const char *reason, const uint8_t mask[4]);

/* --- text ---------------------------------------------------------------- */

/* Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF). */
bool ws_utf8_valid(const uint8_t *p, size_t n);
/* A close code a peer may send (RFC 6455 7.4.1 and 7.4.2). */
bool ws_close_code_valid(int code);

#endif
