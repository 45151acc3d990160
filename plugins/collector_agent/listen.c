/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent protocol's listeners (io_int.h): a Unix socket (a stale socket
 * file of a daemon that is gone is replaced, a live one is not) and TCP,
 * both in the I/O thread's epoll set; and room for max_connections fds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "io_int.h"

static int add_listener(struct io *io, int fd, struct bm_err *err, const char *what)
{
	struct ioh *h = &io->listen[io->n_listen];
	*h = (struct ioh){IOH_LISTEN, fd};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = h};
	if (listen(fd, SOMAXCONN) || epoll_ctl(io->ep, EPOLL_CTL_ADD, fd, &ev)) {
		int e = errno;
		close(fd);
		return bm_err_set(err, BM_EIO, "listen on %s: %s", what, strerror(e));
	}
	io->n_listen++;
	return 0;
}

/* A socket file left by a daemon that is gone is removed; one that
 * answers belongs to a running daemon and is left alone. */
static int clear_stale_socket(const struct sockaddr_un *sa, struct bm_err *err)
{
	struct stat sb;
	if (lstat(sa->sun_path, &sb) != 0)
		return 0;
	if (!S_ISSOCK(sb.st_mode))
		return bm_err_set(err, BM_EEXIST, "%s exists and is not a socket", sa->sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live = fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	if (fd >= 0)
		close(fd);
	if (live)
		return bm_err_set(err, BM_EEXIST, "%s: another server listens on it", sa->sun_path);
	unlink(sa->sun_path);
	return 0;
}

static int listen_unix(struct io *io, struct bm_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = io->c.unix_path;
	if (strlen(path) >= sizeof(sa.sun_path))
		return bm_err_set(err, BM_EINVAL, "unix_path %s: over %zu bytes", path,
				  sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	int rc = clear_stale_socket(&sa, err);
	if (rc)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return bm_err_set(err, BM_EIO, "bind %s: %s", path, strerror(e));
	}
	if (chmod(path, io->c.unix_mode)) {
		int e = errno;
		close(fd);
		unlink(path);
		return bm_err_set(err, BM_EIO, "chmod %s: %s", path, strerror(e));
	}
	io->unix_path = strdup(path);
	rc = add_listener(io, fd, err, path);
	if (rc)
		unlink(path);
	return rc;
}

/* "host:port", "[v6]:port" or ":port" (every address). */
static int listen_tcp(struct io *io, struct bm_err *err)
{
	char host[256];
	const char *spec = io->c.tcp_listen;
	const char *colon = strrchr(spec, ':');
	if (!colon || (size_t)(colon - spec) >= sizeof(host) || !colon[1])
		return bm_err_set(err, BM_EINVAL, "tcp_listen \"%s\": want host:port", spec);
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	char *h = host;
	if (h[0] == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = '\0';
		h++;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai;
	int g = getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, &ai);
	if (g)
		return bm_err_set(err, BM_EINVAL, "tcp_listen \"%s\": %s", spec, gai_strerror(g));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return bm_err_set(err, BM_EIO, "tcp_listen %s: %s", spec, strerror(e));
	}
	freeaddrinfo(ai);
	return add_listener(io, fd, err, spec);
}

/* Room for max_connections sockets: raise the soft RLIMIT_NOFILE toward
 * the hard one (process-wide, as servers do; nothing else is lowered). */
static void raise_nofile(struct io *io)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)io->c.max_connections + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	rlim_t to = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (to > rl.rlim_cur) {
		rl.rlim_cur = to;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (to < want)
		bm_log_notice(io->ctx,
			      "RLIMIT_NOFILE hard limit %llu is below max_connections + 256; raise it (LimitNOFILE=) for %u agents",
			      (unsigned long long)rl.rlim_max, io->c.max_connections);
}

int listen_open(struct io *io, struct bm_err *err)
{
	raise_nofile(io);
	int rc = io->c.unix_path ? listen_unix(io, err) : 0;
	if (!rc && io->c.tcp_listen)
		rc = listen_tcp(io, err);
	return rc;
}

void listen_close(struct io *io)
{
	for (size_t i = 0; i < io->n_listen; i++)
		close(io->listen[i].fd);
	io->n_listen = 0;
	if (io->unix_path) {
		unlink(io->unix_path);
		free(io->unix_path);
		io->unix_path = NULL;
	}
}
