/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The frames between bearmond and an isolated plugin's host process over
 * their socketpair: [u32 length, big-endian][u8 type][payload], blocking
 * I/O, one request answered by zero or more publications and one result.
 * Both ends are the same bearmond binary, so the format is private.
 */
#ifndef BEARMON_CORE_ISOLATE_WIRE_H
#define BEARMON_CORE_ISOLATE_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* parent -> child: lifecycle requests, each answered by ISO_RESULT */
#define ISO_INIT 'I'
#define ISO_START 'S'
#define ISO_COLLECT 'C' /* payload: i64 tick (ms) */
#define ISO_STOP 'P'
#define ISO_FINI 'F'
/* child -> parent */
#define ISO_RESULT 'R'  /* payload: i32 rc, then the error text */
#define ISO_METRICS 'M' /* payload: an encoded `metric` event */
#define ISO_EVENT 'E'   /* payload: topic, NUL, body */
#define ISO_LOG 'L'     /* payload: i32 level, then the text */

#define ISO_FRAME_MAX (64u << 20) /* a larger length is a broken peer */

struct iso_frame {
	uint8_t type;
	uint8_t *data; /* malloc'd, owned by the frame; NUL-terminated */
	size_t len;
};

/* 0, or -1 with errno (EPIPE when the peer is gone). */
int iso_send(int fd, uint8_t type, const void *a, size_t alen, const void *b, size_t blen);
/* Wait at most timeout_ms (-1: for ever) for a frame. 0, or -1 with errno
 * (ETIMEDOUT, EPIPE at end of stream, EPROTO for a bad length). */
int iso_recv(int fd, struct iso_frame *f, int timeout_ms);
void iso_frame_free(struct iso_frame *f);

/* Integers in payloads, big-endian. */
void iso_put_i64(uint8_t out[8], int64_t v);
int64_t iso_get_i64(const uint8_t in[8]);

#endif
