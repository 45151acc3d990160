/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the RFC 6455 codec (ws.c): the handshake's accept key and
 * header tokens, masking, fragmentation with interleaved control frames,
 * close frames, the protocol errors and limits (each with its close code),
 * UTF-8 validation, and that frames survive arbitrary chunking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ws.h"

static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
static const struct ws_limits lim = {1024, 4096};

/* A client frame (masked) with explicit FIN and opcode. */
static void client_frame(struct bm_buf *b, bool fin, int op, const void *p, size_t n)
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t hn = ws_header_encode(hdr, fin, op, n, mask);
	assert_int_equal(bm_buf_append(b, hdr, hn), 0);
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = ((const uint8_t *)p)[i] ^ mask[i & 3];
		assert_int_equal(bm_buf_append(b, &ch, 1), 0);
	}
}

/* Feed all of b, then return the next result. */
static int feed_next(struct ws_rx *rx, const struct bm_buf *b, struct ws_msg *m)
{
	assert_int_equal(ws_rx_push(rx, b->data, b->len), 0);
	return ws_rx_next(rx, m);
}

static void test_accept_key(void **st)
{
	(void)st;
	char out[WS_ACCEPT_LEN];
	/* RFC 6455 1.3 */
	assert_true(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out));
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_false(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", out));   /* no padding */
	assert_false(ws_accept_key("dGhlIHNhbXBsZSBub25j!Q==", out)); /* not base64 */
	assert_false(ws_accept_key("c2hvcnQ=", out));                 /* not 16 bytes */
	assert_false(ws_accept_key(NULL, out));
}

static void test_header_tokens(void **st)
{
	(void)st;
	assert_true(ws_header_has_token("keep-alive, Upgrade", "upgrade"));
	assert_true(ws_header_has_token("websocket", "websocket"));
	assert_true(ws_header_has_token(" WebSocket ", "websocket"));
	assert_false(ws_header_has_token("upgrade-insecure", "upgrade"));
	assert_false(ws_header_has_token("", "upgrade"));
}

static void test_masked_text(void **st)
{
	(void)st;
	struct ws_rx rx;
	struct bm_buf b = {0};
	struct ws_msg m;
	ws_rx_init(&rx, &lim, true);
	client_frame(&b, true, WS_OP_TEXT, "Hello", 5);
	/* RFC 6455 5.7: a masked "Hello" */
	static const uint8_t rfc[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	assert_int_equal(b.len, sizeof(rfc));
	assert_memory_equal(b.data, rfc, sizeof(rfc));
	assert_int_equal(feed_next(&rx, &b, &m), 1);
	assert_int_equal(m.opcode, WS_OP_TEXT);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.payload, "Hello", 5);
	assert_int_equal(ws_rx_next(&rx, &m), 0);
	bm_buf_free(&b);
	ws_rx_free(&rx);
}

static void test_unmasked_client_frame_is_refused(void **st)
{
	(void)st;
	struct ws_rx rx;
	struct bm_buf b = {0};
	struct ws_msg m;
	ws_rx_init(&rx, &lim, true);
	assert_int_equal(ws_frame_append(&b, WS_OP_TEXT, "hi", 2, NULL), 0);
	assert_int_equal(feed_next(&rx, &b, &m), -WS_CLOSE_PROTOCOL);
	assert_int_equal(ws_rx_next(&rx, &m), -WS_CLOSE_PROTOCOL); /* sticky */
	bm_buf_free(&b);
	ws_rx_free(&rx);
	/* and a client refuses masked server frames */
	ws_rx_init(&rx, &lim, false);
	client_frame(&b, true, WS_OP_TEXT, "hi", 2);
	assert_int_equal(feed_next(&rx, &b, &m), -WS_CLOSE_PROTOCOL);
	bm_buf_free(&b);
	ws_rx_free(&rx);
}

static void test_fragments_with_ping_between(void **st)
{
	(void)st;
	struct ws_rx rx;
	struct bm_buf b = {0};
	struct ws_msg m;
	ws_rx_init(&rx, &lim, true);
	client_frame(&b, false, WS_OP_TEXT, "fra", 3);
	client_frame(&b, true, WS_OP_PING, "p!", 2);
	client_frame(&b, false, WS_OP_CONT, "gmen", 4);
	client_frame(&b, true, WS_OP_CONT, "ted", 3);
	assert_int_equal(feed_next(&rx, &b, &m), 1);
	assert_int_equal(m.opcode, WS_OP_PING);
	assert_memory_equal(m.payload, "p!", 2);
	assert_int_equal(ws_rx_next(&rx, &m), 1);
	assert_int_equal(m.opcode, WS_OP_TEXT);
	assert_int_equal(m.len, 10);
	assert_memory_equal(m.payload, "fragmented", 10);
	assert_int_equal(ws_rx_next(&rx, &m), 0);
	/* the next message starts empty */
	bm_buf_reset(&b);
	client_frame(&b, false, WS_OP_BINARY, "\x01", 1);
	client_frame(&b, true, WS_OP_CONT, "\x02", 1);
	assert_int_equal(feed_next(&rx, &b, &m), 1);
	assert_int_equal(m.opcode, WS_OP_BINARY);
	assert_int_equal(m.len, 2);
	assert_memory_equal(m.payload, "\x01\x02", 2);
	bm_buf_free(&b);
	ws_rx_free(&rx);
}

/* A stream split at every possible byte gives the same messages. */
static void test_byte_by_byte(void **st)
{
	(void)st;
	struct bm_buf b = {0};
	char big[300];
	memset(big, 'x', sizeof(big));
	client_frame(&b, true, WS_OP_TEXT, big, sizeof(big)); /* 16-bit length */
	client_frame(&b, false, WS_OP_TEXT, "a", 1);
	client_frame(&b, true, WS_OP_CONT, "b", 1);
	for (size_t cut = 1; cut < b.len; cut += 7) {
		struct ws_rx rx;
		struct ws_msg m;
		int got = 0;
		ws_rx_init(&rx, &lim, true);
		for (size_t off = 0; off < b.len; off += cut) {
			size_t n = b.len - off < cut ? b.len - off : cut;
			assert_int_equal(ws_rx_push(&rx, b.data + off, n), 0);
			int rc;
			while ((rc = ws_rx_next(&rx, &m)) == 1) {
				assert_int_equal(m.len, got ? 2 : sizeof(big));
				got++;
			}
			assert_int_equal(rc, 0);
		}
		assert_int_equal(got, 2);
		ws_rx_free(&rx);
	}
	bm_buf_free(&b);
}

static void test_close_frames(void **st)
{
	(void)st;
	struct ws_rx rx;
	struct bm_buf b = {0};
	struct ws_msg m;
	ws_rx_init(&rx, &lim, true);
	assert_int_equal(ws_close_append(&b, 1001, "bye", mask), 0);
	assert_int_equal(feed_next(&rx, &b, &m), 1);
	assert_int_equal(m.opcode, WS_OP_CLOSE);
	assert_int_equal(m.close_code, 1001);
	assert_int_equal(m.len, 3);
	assert_memory_equal(m.payload, "bye", 3);
	ws_rx_free(&rx);

	/* empty close: no status */
	ws_rx_init(&rx, &lim, true);
	bm_buf_reset(&b);
	client_frame(&b, true, WS_OP_CLOSE, "", 0);
	assert_int_equal(feed_next(&rx, &b, &m), 1);
	assert_int_equal(m.close_code, WS_CLOSE_NO_STATUS);
	ws_rx_free(&rx);

	/* one byte of code, a reserved code, a bad reason */
	static const struct {
		const char *payload;
		size_t len;
		int want;
	} bad[] = {
		{"\x03", 1, -WS_CLOSE_PROTOCOL},
		{"\x03\xed", 2, -WS_CLOSE_PROTOCOL},        /* 1005 never goes on the wire */
		{"\x03\xee", 2, -WS_CLOSE_PROTOCOL},        /* 1006 neither */
		{"\x00\x64", 2, -WS_CLOSE_PROTOCOL},        /* 100 */
		{"\x03\xe8\xff", 3, -WS_CLOSE_INVALID_DATA}, /* reason not UTF-8 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ws_rx_init(&rx, &lim, true);
		bm_buf_reset(&b);
		client_frame(&b, true, WS_OP_CLOSE, bad[i].payload, bad[i].len);
		assert_int_equal(feed_next(&rx, &b, &m), bad[i].want);
		ws_rx_free(&rx);
	}
	/* the encoder cuts a long reason on a character boundary */
	char reason[200];
	for (size_t i = 0; i + 2 < sizeof(reason); i += 2)
		memcpy(reason + i, "\xc3\xa9", 2);
	reason[198] = '\0';
	bm_buf_reset(&b);
	assert_int_equal(ws_close_append(&b, 1000, reason, NULL), 0);
	assert_int_equal(b.len, 2 + 124);
	assert_true(ws_utf8_valid((const uint8_t *)b.data + 4, b.len - 4));
	bm_buf_free(&b);
}

/* Each broken frame and the close code it earns. */
static void test_protocol_errors(void **st)
{
	(void)st;
	static const struct {
		const char *what;
		uint8_t bytes[16];
		size_t len;
		int want;
	} cases[] = {
		{"rsv1", {0xc1, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL},
		{"opcode 3", {0x83, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL},
		{"opcode 0xb", {0x8b, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL},
		{"fragmented ping", {0x09, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL},
		{"long ping", {0x89, 0xfe, 0, 126, 1, 2, 3, 4}, 8, -WS_CLOSE_PROTOCOL},
		{"continuation first", {0x80, 0x80, 1, 2, 3, 4}, 6, -WS_CLOSE_PROTOCOL},
		{"64-bit length MSB", {0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, 14,
		 -WS_CLOSE_PROTOCOL},
		{"over max_frame", {0x82, 0xfe, 0x04, 0x01, 1, 2, 3, 4}, 8, -WS_CLOSE_TOO_BIG},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ws_rx rx;
		struct ws_msg m;
		ws_rx_init(&rx, &lim, true);
		assert_int_equal(ws_rx_push(&rx, cases[i].bytes, cases[i].len), 0);
		int rc = ws_rx_next(&rx, &m);
		if (rc != cases[i].want)
			fail_msg("%s: got %d, want %d", cases[i].what, rc, cases[i].want);
		ws_rx_free(&rx);
	}
}

static void test_message_limits_and_order(void **st)
{
	(void)st;
	struct ws_rx rx;
	struct bm_buf b = {0};
	struct ws_msg m;
	char chunk[1000];
	memset(chunk, 'y', sizeof(chunk));
	/* five fragments of 1000 bytes pass max_message (4096) */
	ws_rx_init(&rx, &lim, true);
	client_frame(&b, false, WS_OP_TEXT, chunk, sizeof(chunk));
	for (int i = 0; i < 4; i++)
		client_frame(&b, i == 3, WS_OP_CONT, chunk, sizeof(chunk));
	assert_int_equal(feed_next(&rx, &b, &m), -WS_CLOSE_TOO_BIG);
	ws_rx_free(&rx);
	/* a new text frame inside a fragmented message */
	ws_rx_init(&rx, &lim, true);
	bm_buf_reset(&b);
	client_frame(&b, false, WS_OP_TEXT, "a", 1);
	client_frame(&b, true, WS_OP_TEXT, "b", 1);
	assert_int_equal(feed_next(&rx, &b, &m), -WS_CLOSE_PROTOCOL);
	ws_rx_free(&rx);
	bm_buf_free(&b);
}

static void test_invalid_utf8(void **st)
{
	(void)st;
	struct ws_rx rx;
	struct bm_buf b = {0};
	struct ws_msg m;
	/* valid across a fragment boundary: é split in two */
	ws_rx_init(&rx, &lim, true);
	client_frame(&b, false, WS_OP_TEXT, "caf\xc3", 4);
	client_frame(&b, true, WS_OP_CONT, "\xa9", 1);
	assert_int_equal(feed_next(&rx, &b, &m), 1);
	assert_int_equal(m.len, 5);
	ws_rx_free(&rx);
	/* a lone continuation byte */
	ws_rx_init(&rx, &lim, true);
	bm_buf_reset(&b);
	client_frame(&b, true, WS_OP_TEXT, "a\x80", 2);
	assert_int_equal(feed_next(&rx, &b, &m), -WS_CLOSE_INVALID_DATA);
	ws_rx_free(&rx);
	/* binary messages are not text: any bytes */
	ws_rx_init(&rx, &lim, true);
	bm_buf_reset(&b);
	client_frame(&b, true, WS_OP_BINARY, "a\x80", 2);
	assert_int_equal(feed_next(&rx, &b, &m), 1);
	ws_rx_free(&rx);
	bm_buf_free(&b);

	static const struct {
		const char *s;
		bool ok;
	} u[] = {
		{"", true},
		{"plain ascii", true},
		{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true}, /* κόσμε */
		{"\xf4\x8f\xbf\xbf", true},                             /* U+10FFFF */
		{"\xef\xbf\xbf", true},                                 /* U+FFFF */
		{"\xf4\x90\x80\x80", false},                            /* above U+10FFFF */
		{"\xed\xa0\x80", false},                                /* surrogate */
		{"\xc0\xaf", false},                                    /* overlong / */
		{"\xe0\x80\xaf", false},                                /* overlong */
		{"\xf0\x80\x80\xaf", false},                            /* overlong */
		{"\xc3", false},                                        /* truncated */
		{"\xe2\x82", false},                                    /* truncated */
		{"\xfe", false},
		{"\xc3\x28", false},                                    /* bad continuation */
	};
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (ws_utf8_valid((const uint8_t *)u[i].s, strlen(u[i].s)) != u[i].ok)
			fail_msg("case %zu: want %s", i, u[i].ok ? "valid" : "invalid");
}

static void test_encoder_lengths(void **st)
{
	(void)st;
	uint8_t hdr[WS_MAX_HEADER];
	assert_int_equal(ws_header_encode(hdr, true, WS_OP_TEXT, 125, NULL), 2);
	assert_int_equal(hdr[1], 125);
	assert_int_equal(ws_header_encode(hdr, true, WS_OP_TEXT, 126, NULL), 4);
	assert_int_equal(hdr[1], 126);
	assert_int_equal(hdr[2] << 8 | hdr[3], 126);
	assert_int_equal(ws_header_encode(hdr, true, WS_OP_TEXT, 65536, NULL), 10);
	assert_int_equal(hdr[1], 127);
	assert_int_equal(hdr[7], 1); /* 0x10000: byte 7 of 2..9 */
	assert_int_equal(ws_header_encode(hdr, false, WS_OP_BINARY, 1, mask), 6);
	assert_int_equal(hdr[0], 0x02);
	assert_int_equal(hdr[1], 0x81);
	/* server frames decode on the client side */
	struct bm_buf b = {0};
	struct ws_rx rx;
	struct ws_msg m;
	struct ws_limits big = {1 << 20, 1 << 20};
	char *payload = calloc(1, 70000);
	assert_non_null(payload);
	assert_int_equal(ws_frame_append(&b, WS_OP_BINARY, payload, 70000, NULL), 0);
	ws_rx_init(&rx, &big, false);
	assert_int_equal(feed_next(&rx, &b, &m), 1);
	assert_int_equal(m.len, 70000);
	ws_rx_free(&rx);
	bm_buf_free(&b);
	free(payload);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_header_tokens),
		cmocka_unit_test(test_masked_text),
		cmocka_unit_test(test_unmasked_client_frame_is_refused),
		cmocka_unit_test(test_fragments_with_ping_between),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_close_frames),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_message_limits_and_order),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_encoder_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
