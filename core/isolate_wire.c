/* SPDX-License-Identifier: Apache-2.0 */
/* Framing between bearmond and its isolated plugin hosts (isolate_wire.h). */
#include "isolate_wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void iso_put_i64(uint8_t out[8], int64_t v)
{
	for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
		out[i] = (uint8_t)v;
}

int64_t iso_get_i64(const uint8_t in[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return (int64_t)v;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int iso_send(int fd, uint8_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	size_t len = 1 + alen + blen;
	uint8_t hdr[5] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			  (uint8_t)len, type};
	if (len > ISO_FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	return write_all(fd, hdr, 5) || (alen && write_all(fd, a, alen)) ||
			       (blen && write_all(fd, b, blen))
		       ? -1
		       : 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* n bytes, waiting until deadline (mono ms; < 0: none). */
static int read_all(int fd, void *p, size_t n, int64_t deadline)
{
	uint8_t *b = p;
	while (n) {
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			struct pollfd pfd = {fd, POLLIN, 0};
			int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		}
		ssize_t got = read(fd, b, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EPIPE;
			return -1;
		}
		b += got;
		n -= (size_t)got;
	}
	return 0;
}

int iso_recv(int fd, struct iso_frame *f, int timeout_ms)
{
	uint8_t hdr[5];
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	memset(f, 0, sizeof(*f));
	if (read_all(fd, hdr, 5, deadline))
		return -1;
	size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (len < 1 || len > ISO_FRAME_MAX) {
		errno = EPROTO;
		return -1;
	}
	f->type = hdr[4];
	f->len = len - 1;
	f->data = malloc(f->len + 1);
	if (!f->data)
		return -1;
	if (f->len && read_all(fd, f->data, f->len, deadline)) {
		iso_frame_free(f);
		return -1;
	}
	f->data[f->len] = '\0';
	return 0;
}

void iso_frame_free(struct iso_frame *f)
{
	free(f->data);
	f->data = NULL;
	f->len = 0;
}
