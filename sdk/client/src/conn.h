/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libbearmon-client: the address, and the non-blocking socket
 * calls (connect, send without SIGPIPE, receive) with errors folded into
 * three outcomes: progress, would block, connection gone.
 */
#ifndef BEARMON_CLIENT_CONN_H
#define BEARMON_CLIENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "encode.h"

struct bmc_addr {
	struct sockaddr_storage sa;
	socklen_t len;
};

/* "unix:/path", "unix:@abstract", "/path" or "tcp:host:port" (a host name
 * is resolved here, once). Returns 0 or BM_EINVAL with err filled. */
BMC_HIDDEN int bmc_addr_parse(const char *text, struct bmc_addr *a, struct bm_err *err);

/* Start a non-blocking connect. Returns the socket (>= 0) with *done set
 * when already connected, or BM_EIO (nothing to clean up). */
BMC_HIDDEN int bmc_connect_start(const struct bmc_addr *a, bool *done);

/* Has the connect in progress on fd finished? 1 yes, 0 not yet, BM_EIO failed. */
BMC_HIDDEN int bmc_connect_check(int fd);

/* Write up to n bytes without waiting and without SIGPIPE. Returns the
 * bytes written (0: would block) or BM_EIO when the connection is gone. */
BMC_HIDDEN ssize_t bmc_send(int fd, const void *p, size_t n);

/* Read up to n bytes without waiting. Returns the bytes read (0: would
 * block) or BM_EIO on end of stream or error. */
BMC_HIDDEN ssize_t bmc_recv(int fd, void *p, size_t n);

#endif /* BEARMON_CLIENT_CONN_H */
