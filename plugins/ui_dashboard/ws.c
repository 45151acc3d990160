/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 6455 framing and handshake helpers (see ws.h). Hand-written on
 * purpose: Debian's libwslay sends through its own unbounded queue and
 * leaves UTF-8 to the caller, and libwebsockets wants to own the listener;
 * this codec is small, fuzzed (tests/fuzz/fuzz_ws.c) and tested against
 * Node's `ws` and Chromium. SHA-1 and base64 come from OpenSSL.
 */
#include "ws.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_event.h>
#include <strings.h>

#include <bearmon/bm_err.h>

/* RFC 6455 1.3 */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Frames of the same size as max_frame arrive whole; the buffer is given
 * back when it grew past this and runs empty. */
#define WS_IN_KEEP (256 * 1024)

static bool is_base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

bool ws_accept_key(const char *key, char out[WS_ACCEPT_LEN])
{
	/* 16 bytes in base64: 22 characters and "==" */
	if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return false;
	for (int i = 0; i < 22; i++)
		if (!is_base64_char(key[i]))
			return false;
	char joined[24 + sizeof(ws_guid)];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	memcpy(joined, key, 24);
	memcpy(joined + 24, ws_guid, sizeof(ws_guid) - 1);
	if (!EVP_Digest(joined, 24 + sizeof(ws_guid) - 1, md, &md_len, EVP_sha1(), NULL) ||
	    md_len != 20)
		return false;
	return EVP_EncodeBlock((unsigned char *)out, md, 20) == WS_ACCEPT_LEN - 1;
}

bool ws_header_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);
	for (const char *p = value; p && *p;) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, ",");
		size_t m = n;
		while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
			m--;
		if (m == tl && strncasecmp(p, token, tl) == 0)
			return true;
		p += n;
	}
	return false;
}

/* --- UTF-8 and close codes --------------------------------------------------- */

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
	return bm_utf8_valid(p, n);
}

bool ws_close_code_valid(int code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

/* --- receiving ------------------------------------------------------------------ */

void ws_rx_init(struct ws_rx *rx, const struct ws_limits *lim, bool expect_masked)
{
	memset(rx, 0, sizeof(*rx));
	rx->lim = *lim;
	rx->expect_masked = expect_masked;
}

void ws_rx_free(struct ws_rx *rx)
{
	free(rx->in);
	free(rx->msg);
	memset(rx, 0, sizeof(*rx));
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return BM_ENOMEM;
		c *= 2;
	}
	uint8_t *p = realloc(*buf, c);
	if (!p)
		return BM_ENOMEM;
	*buf = p;
	*cap = c;
	return 0;
}

int ws_rx_push(struct ws_rx *rx, const void *data, size_t n)
{
	if (rx->failed || !n)
		return 0;
	if (rx->in_off == rx->in_len) {
		rx->in_off = rx->in_len = 0;
		if (rx->in_cap > WS_IN_KEEP) {
			free(rx->in);
			rx->in = NULL;
			rx->in_cap = 0;
		}
	}
	if (rx->in_len + n > rx->in_cap && rx->in_off) {
		memmove(rx->in, rx->in + rx->in_off, rx->in_len - rx->in_off);
		rx->in_len -= rx->in_off;
		rx->in_off = 0;
	}
	if (n > SIZE_MAX - rx->in_len || grow(&rx->in, &rx->in_cap, rx->in_len + n))
		return BM_ENOMEM;
	memcpy(rx->in + rx->in_len, data, n);
	rx->in_len += n;
	return 0;
}

static int fail(struct ws_rx *rx, int code)
{
	rx->failed = code;
	return -code;
}

struct ws_hdr {
	bool fin;
	int opcode;
	const uint8_t *mask; /* NULL when unmasked */
	uint64_t len;
	size_t size; /* header bytes */
};

/* 1 and *h when the whole header is there, 0 when more is needed, or a
 * negative close code. */
static int parse_header(const struct ws_rx *rx, const uint8_t *p, size_t avail, struct ws_hdr *h)
{
	if (avail < 2)
		return 0;
	int op = p[0] & 0x0f;
	bool masked = p[1] & 0x80;
	unsigned len7 = p[1] & 0x7f;
	h->fin = p[0] & 0x80;
	h->opcode = op;
	/* no extension is negotiated, so every RSV bit must be 0 */
	if ((p[0] & 0x70) || masked != rx->expect_masked)
		return -WS_CLOSE_PROTOCOL;
	if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
	    op != WS_OP_PING && op != WS_OP_PONG)
		return -WS_CLOSE_PROTOCOL;
	h->size = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
	if (avail < h->size)
		return 0;
	h->len = len7;
	if (len7 == 126) {
		h->len = (uint64_t)p[2] << 8 | p[3];
	} else if (len7 == 127) {
		h->len = 0;
		for (int i = 0; i < 8; i++)
			h->len = h->len << 8 | p[2 + i];
		if (h->len >> 63)
			return -WS_CLOSE_PROTOCOL; /* the most significant bit must be 0 */
	}
	h->mask = masked ? p + h->size - 4 : NULL;
	if ((op & 0x8) && (!h->fin || h->len > 125))
		return -WS_CLOSE_PROTOCOL; /* control frames: whole, and short */
	return 1;
}

/* Sequence and size rules of data frames: -code or 0. */
static int check_data_frame(const struct ws_rx *rx, const struct ws_hdr *h)
{
	if (h->opcode == WS_OP_CONT ? !rx->msg_opcode : rx->msg_opcode != 0)
		return -WS_CLOSE_PROTOCOL; /* continuation of nothing, or a message inside one */
	if (h->len > rx->lim.max_frame)
		return -WS_CLOSE_TOO_BIG;
	uint64_t before = h->opcode == WS_OP_CONT ? rx->msg_len : 0;
	if (h->len > rx->lim.max_message - before)
		return -WS_CLOSE_TOO_BIG;
	return 0;
}

static int close_frame(struct ws_rx *rx, uint8_t *payload, size_t len, struct ws_msg *m)
{
	*m = (struct ws_msg){WS_OP_CLOSE, payload, 0, WS_CLOSE_NO_STATUS};
	if (len == 0)
		return 1;
	if (len == 1)
		return fail(rx, WS_CLOSE_PROTOCOL);
	int code = payload[0] << 8 | payload[1];
	if (!ws_close_code_valid(code))
		return fail(rx, WS_CLOSE_PROTOCOL);
	if (!ws_utf8_valid(payload + 2, len - 2))
		return fail(rx, WS_CLOSE_INVALID_DATA);
	*m = (struct ws_msg){WS_OP_CLOSE, payload + 2, len - 2, code};
	return 1;
}

/* A whole message in payload: hand it out, or fail on bad UTF-8. */
static int message(struct ws_rx *rx, int opcode, const uint8_t *payload, size_t len,
		   struct ws_msg *m)
{
	if (opcode == WS_OP_TEXT && !ws_utf8_valid(payload, len))
		return fail(rx, WS_CLOSE_INVALID_DATA);
	*m = (struct ws_msg){opcode, payload, len, 0};
	return 1;
}

/* One frame whose payload (len bytes, unmasked) is at payload: 1 with *m
 * when it completes something, 0 when it was a middle fragment. */
static int take_frame(struct ws_rx *rx, const struct ws_hdr *h, uint8_t *payload, struct ws_msg *m)
{
	size_t len = (size_t)h->len;
	if (h->opcode == WS_OP_CLOSE)
		return close_frame(rx, payload, len, m);
	if (h->opcode & 0x8) {
		*m = (struct ws_msg){h->opcode, payload, len, 0};
		return 1;
	}
	if (h->opcode != WS_OP_CONT && h->fin)
		return message(rx, h->opcode, payload, len, m); /* unfragmented: no copy */
	if (grow(&rx->msg, &rx->msg_cap, rx->msg_len + len))
		return BM_ENOMEM;
	if (len)
		memcpy(rx->msg + rx->msg_len, payload, len);
	rx->msg_len += len;
	if (h->opcode != WS_OP_CONT)
		rx->msg_opcode = h->opcode;
	if (!h->fin)
		return 0;
	int op = rx->msg_opcode;
	rx->msg_opcode = 0; /* the buffer stays valid until the next call */
	return message(rx, op, rx->msg, rx->msg_len, m);
}

int ws_rx_next(struct ws_rx *rx, struct ws_msg *m)
{
	if (rx->failed)
		return -rx->failed;
	if (!rx->msg_opcode)
		rx->msg_len = 0; /* the previous message was handed out */
	for (;;) {
		uint8_t *p = rx->in + rx->in_off;
		size_t avail = rx->in_len - rx->in_off;
		struct ws_hdr h;
		int rc = parse_header(rx, p, avail, &h);
		if (rc <= 0)
			return rc < 0 ? fail(rx, -rc) : 0;
		if (!(h.opcode & 0x8) && (rc = check_data_frame(rx, &h)) < 0)
			return fail(rx, -rc);
		if (avail - h.size < h.len)
			return 0;
		uint8_t *payload = p + h.size;
		for (size_t i = 0; h.mask && i < h.len; i++)
			payload[i] ^= h.mask[i & 3];
		rx->in_off += h.size + (size_t)h.len;
		rc = take_frame(rx, &h, payload, m);
		if (rc)
			return rc;
	}
}

/* --- sending ------------------------------------------------------------------ */

size_t ws_header_encode(uint8_t out[WS_MAX_HEADER], bool fin, int opcode, uint64_t len,
			const uint8_t mask[4])
{
	size_t n = 2;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

int ws_frame_append(struct bm_buf *out, int opcode, const void *payload, size_t len,
		    const uint8_t mask[4])
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t hn = ws_header_encode(hdr, true, opcode, len, mask);
	if (len > SIZE_MAX - hn || bm_buf_reserve(out, hn + len))
		return BM_ENOMEM;
	bm_buf_append(out, hdr, hn);
	uint8_t *dst = (uint8_t *)out->data + out->len;
	if (len)
		memcpy(dst, payload, len);
	for (size_t i = 0; mask && i < len; i++)
		dst[i] ^= mask[i & 3];
	out->len += len;
	return 0;
}

int ws_close_append(struct bm_buf *out, int code, const char *reason, const uint8_t mask[4])
{
	uint8_t p[125];
	size_t n = reason ? strlen(reason) : 0;
	if (n > sizeof(p) - 2)
		n = sizeof(p) - 2;
	while (n && !ws_utf8_valid((const uint8_t *)reason, n))
		n--; /* cut on a character boundary */
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	if (n)
		memcpy(p + 2, reason, n);
	return ws_frame_append(out, WS_OP_CLOSE, p, n + 2, mask);
}
