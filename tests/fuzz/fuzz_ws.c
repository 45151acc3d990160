/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the dashboard's WebSocket receiver (plugins/
 * ui_dashboard/ws.c). The input is a client's byte stream, fed in chunks
 * whose sizes come from its first byte, to a server-side receiver (masked
 * frames expected) and a client-side one. Every message handed out must
 * respect the limits, be valid UTF-8 when it is text (close reasons too),
 * carry a valid close code, and survive a round trip through the encoder;
 * a failure must be one of the close codes the receiver documents.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

static const struct ws_limits lim = {4096, 16384};
static const struct ws_limits roomy = {1 << 20, 1 << 20}; /* the round trip's one frame */

static void check_message(const struct ws_msg *m)
{
	if ((m->opcode == WS_OP_TEXT || m->opcode == WS_OP_BINARY) && m->len > lim.max_message)
		abort();
	if ((m->opcode & 0x8) && m->len > 125)
		abort();
	if ((m->opcode == WS_OP_TEXT || m->opcode == WS_OP_CLOSE) && !ws_utf8_valid(m->payload, m->len))
		abort();
	if (m->opcode == WS_OP_CLOSE && m->close_code != WS_CLOSE_NO_STATUS &&
	    !ws_close_code_valid(m->close_code))
		abort();
	/* encode it again (masked) and read it back: the same message */
	static const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
	struct bm_buf b = {0};
	struct ws_rx rx;
	struct ws_msg back;
	ws_rx_init(&rx, &roomy, true);
	int rc = m->opcode == WS_OP_CLOSE && m->close_code != WS_CLOSE_NO_STATUS
			 ? (ws_frame_append(&b, WS_OP_CLOSE, m->payload - 2, m->len + 2, mask))
			 : ws_frame_append(&b, m->opcode, m->payload, m->len, mask);
	if (rc == 0 && ws_rx_push(&rx, b.data, b.len) == 0) {
		if (ws_rx_next(&rx, &back) != 1 || back.opcode != m->opcode || back.len != m->len ||
		    (m->len && memcmp(back.payload, m->payload, m->len) != 0))
			abort();
	}
	ws_rx_free(&rx);
	bm_buf_free(&b);
}

static void run(const uint8_t *data, size_t size, size_t chunk, bool server)
{
	struct ws_rx rx;
	struct ws_msg m;
	ws_rx_init(&rx, &lim, server);
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (ws_rx_push(&rx, data + off, n))
			break;
		int rc;
		while ((rc = ws_rx_next(&rx, &m)) == 1)
			check_message(&m);
		if (rc < 0) {
			if (rc != -WS_CLOSE_PROTOCOL && rc != -WS_CLOSE_INVALID_DATA &&
			    rc != -WS_CLOSE_TOO_BIG)
				abort();
			if (ws_rx_next(&rx, &m) != rc) /* sticky */
				abort();
			break;
		}
	}
	ws_rx_free(&rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	size_t chunk = (size_t)(data[0] % 17) + 1; /* 1..17 bytes at a time */
	run(data + 1, size - 1, chunk, true);
	run(data + 1, size - 1, size, false); /* all at once, client side */
	return 0;
}
