/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sockets for libbearmon-client: address parsing, non-blocking connect,
 * send with MSG_NOSIGNAL (an agent that ignores nothing must never die of
 * SIGPIPE because bearmond went away), receive.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"

static int parse_unix(const char *path, struct bmc_addr *a, struct bm_err *err)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(un->sun_path))
		return bm_err_set(err, BM_EINVAL,
				  "unix socket path \"%s\": empty or longer than %zu bytes", path,
				  sizeof(un->sun_path) - 1);
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n);
	if (path[0] == '@') { /* Linux abstract namespace: no file, no trailing NUL */
		un->sun_path[0] = '\0';
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		a->len = (socklen_t)sizeof(*un);
	}
	return 0;
}

/* "host:port" or "[v6]:port" into host and port (both within hp). */
static int split_host_port(char *hp, char **host, char **port)
{
	char *colon = strrchr(hp, ':');

	if (!colon || colon == hp || !colon[1])
		return BM_EINVAL;
	*colon = '\0';
	*port = colon + 1;
	*host = hp;
	if (hp[0] == '[') {
		size_t n = strlen(hp);
		if (n < 3 || hp[n - 1] != ']')
			return BM_EINVAL;
		hp[n - 1] = '\0';
		*host = hp + 1;
	}
	return 0;
}

static int parse_tcp(const char *text, struct bmc_addr *a, struct bm_err *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
	struct addrinfo *res = NULL;
	char hp[300];
	char *host, *port;
	int rc;

	if (strlen(text) >= sizeof(hp))
		return bm_err_set(err, BM_EINVAL, "tcp address too long");
	memcpy(hp, text, strlen(text) + 1);
	if (split_host_port(hp, &host, &port))
		return bm_err_set(err, BM_EINVAL, "tcp address \"%s\": expected host:port", text);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return bm_err_set(err, BM_EINVAL, "tcp address \"%s\": %s", text, gai_strerror(rc));
	memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int bmc_addr_parse(const char *text, struct bmc_addr *a, struct bm_err *err)
{
	*a = (struct bmc_addr){0};
	if (!strncmp(text, "unix:", 5))
		return parse_unix(text + 5, a, err);
	if (text[0] == '/')
		return parse_unix(text, a, err);
	if (!strncmp(text, "tcp:", 4))
		return parse_tcp(text + 4, a, err);
	return bm_err_set(err, BM_EINVAL, "address \"%s\": expected unix:/path or tcp:host:port",
			  text);
}

int bmc_connect_start(const struct bmc_addr *a, bool *done)
{
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return BM_EIO;
	if (a->sa.ss_family != AF_UNIX) /* acks and small batches go out at once */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*done = connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0;
	if (*done || errno == EINPROGRESS)
		return fd;
	close(fd);
	return BM_EIO;
}

int bmc_connect_check(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (poll(&p, 1, 0) == 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) || soerr)
		return BM_EIO;
	return (p.revents & POLLOUT) ? 1 : BM_EIO;
}

ssize_t bmc_send(int fd, const void *p, size_t n)
{
	ssize_t k;

	do
		k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	if (k >= 0)
		return k;
	return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : BM_EIO;
}

ssize_t bmc_recv(int fd, void *p, size_t n)
{
	ssize_t k;

	do
		k = recv(fd, p, n, MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	if (k > 0)
		return k;
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return BM_EIO;
}
