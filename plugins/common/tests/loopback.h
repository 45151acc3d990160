/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the notifier test hosts take from the real machine: a TCP socket on
 * an ephemeral 127.0.0.1 port for their servers (or for a port where
 * nothing listens), and the wall clock as the host's now_ms.
 */
#ifndef BEARMON_PLUGINS_TESTS_LOOPBACK_H
#define BEARMON_PLUGINS_TESTS_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <cmocka.h>

struct bm_ctx;

/* A TCP socket on 127.0.0.1 at a port the kernel picks (into *port),
 * listening with backlog, or only bound (never accepting) for backlog 0. */
static inline int lb_socket(int backlog, int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (backlog)
		assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* now_ms from the wall clock, for hosts whose plugins run on real time. */
static inline int64_t lb_wall_ms(struct bm_ctx *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* BEARMON_PLUGINS_TESTS_LOOPBACK_H */
