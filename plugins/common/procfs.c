/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File reading, small parsers and "log once" messages for the /proc and
 * /sys collectors (see procfs.h).
 */
#include "procfs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

/* The size *buf grows to next. */
static size_t pf_next_cap(size_t cap)
{
	return cap ? 2 * cap : PF_BUF_MIN;
}

/* Read fd into buf until *n reaches room or EOF; 0 or -errno. */
static int pf_fill(int fd, char *buf, size_t room, size_t *n)
{
	while (*n < room) {
		ssize_t r = read(fd, buf + *n, room - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		*n += (size_t)r;
	}
	return 0;
}

/* Read fd until EOF into the growable *buf; the length or -errno. A full
 * buffer may have more behind it: grow it and go on. */
static ssize_t pf_slurp_fd(int fd, char **buf, size_t *cap, size_t max)
{
	size_t n = 0;
	do {
		if (*cap - n < 2) { /* room for one byte more and the NUL */
			size_t c = pf_next_cap(*cap);
			if (c > max)
				return -EFBIG;
			char *p = realloc(*buf, c);
			if (!p)
				return -ENOMEM;
			*buf = p;
			*cap = c;
		}
		int rc = pf_fill(fd, *buf, *cap - 1, &n);
		if (rc)
			return rc;
	} while (n == *cap - 1);
	(*buf)[n] = '\0';
	return (ssize_t)n;
}

ssize_t pf_slurp_at(int dirfd, const char *rel, char **buf, size_t *cap, size_t max)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ssize_t n = pf_slurp_fd(fd, buf, cap, max);
	close(fd);
	return n;
}

int pf_read_file(const char *path, char **buf, size_t *cap, size_t max, size_t *len,
		 int *open_errno, struct bm_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int e = fd < 0 ? errno : 0;
	if (open_errno)
		*open_errno = e;
	if (fd < 0)
		return bm_err_set(err, BM_EIO, "cannot open %s: %s", path, strerror(e));
	ssize_t n = pf_slurp_fd(fd, buf, cap, max);
	close(fd);
	if (n == -EFBIG || n == -ENOMEM) /* the size it failed to grow to */
		return bm_err_set(err, BM_ENOMEM, "%s: cannot buffer %zu bytes", path,
				  pf_next_cap(*cap));
	if (n < 0)
		return bm_err_set(err, BM_EIO, "cannot read %s: %s", path, strerror((int)-n));
	*len = (size_t)n;
	return 0;
}

ssize_t pf_read_fd(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	int rc = pf_fill(fd, buf, cap - 1, &n);
	if (rc)
		return rc;
	buf[n] = '\0';
	return (ssize_t)n;
}

ssize_t pf_read_at(int dirfd, const char *rel, char *buf, size_t cap)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ssize_t n = pf_read_fd(fd, buf, cap);
	close(fd);
	return n;
}

bool pf_parse_u64(const char *s, uint64_t *v, const char **end)
{
	if (*s < '0' || *s > '9')
		return false;
	char *e;
	errno = 0;
	unsigned long long x = strtoull(s, &e, 10);
	if (errno || (*e && *e != '\n' && !pf_is_blank(*e)))
		return false;
	*v = x;
	if (end)
		*end = e;
	return true;
}

bool pf_read_u64_at(int dirfd, const char *rel, uint64_t *v)
{
	char tmp[32];
	const char *end;
	return pf_read_at(dirfd, rel, tmp, sizeof(tmp)) > 0 && pf_parse_u64(tmp, v, &end) &&
	       (*end == '\n' || *end == '\0');
}

int pf_parse_row(const char *p, int base, unsigned long long *v, int max, bool first_only,
		 const char **eol)
{
	int n = 0;
	for (;;) {
		p = pf_skip_blanks(p);
		if (*p == '\n' || *p == '\0')
			break;
		if (!isxdigit((unsigned char)*p) || (base == 10 && !isdigit((unsigned char)*p)))
			return -1;
		char *end;
		unsigned long long x = strtoull(p, &end, base);
		if (n < max)
			v[n] = x;
		n++;
		p = end;
		if (!pf_is_blank(*p) && *p != '\n' && *p != '\0')
			return -1;
		if (first_only && n == max)
			p += strcspn(p, "\n");
	}
	*eol = p;
	return n;
}

/* Whether the name at the start of entry e is name[0..len). */
static bool pf_name_is(const void *e, const char *name, size_t len)
{
	return strlen(e) == len && memcmp(e, name, len) == 0;
}

void *pf_table_get(void **tab, size_t *n, size_t *cap, size_t elem, size_t max, const char *name,
		   size_t len, size_t hint, bool *fresh)
{
	char *t = *tab;
	*fresh = false;
	if (hint < *n && pf_name_is(t + hint * elem, name, len))
		return t + hint * elem;
	for (size_t i = 0; i < *n; i++)
		if (pf_name_is(t + i * elem, name, len))
			return t + i * elem;
	if (*n >= max)
		return NULL;
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		t = realloc(t, c * elem);
		if (!t)
			return NULL;
		*tab = t;
		*cap = c;
	}
	char *e = t + (*n)++ * elem;
	memset(e, 0, elem);
	memcpy(e, name, len);
	*fresh = true;
	return e;
}

bool pf_path(char *out, size_t n, const char *root, const char *rel)
{
	int w = root ? snprintf(out, n, "%s/%s", root, rel) : snprintf(out, n, "%s", rel);
	return w >= 0 && (size_t)w < n;
}

char *pf_next_line(char **p, char *end, size_t *len)
{
	if (*p >= end)
		return NULL;
	char *line = *p;
	char *nl = memchr(line, '\n', (size_t)(end - line));
	char *eol = nl ? nl : end;
	*eol = '\0';
	*p = eol + 1;
	if (len)
		*len = (size_t)(eol - line);
	return line;
}

void pf_unescape_octal(char *s)
{
	char *w = s;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*w++ = *s++;
		}
	}
	*w = '\0';
}

static void pf_vlog(struct bm_ctx *ctx, int level, const char *fmt, va_list ap)
{
	if (bm_host()->log_enabled(ctx, level))
		bm_host()->vlog(ctx, level, fmt, ap);
}

void pf_log_once(struct bm_ctx *ctx, bool *done, int level, const char *fmt, ...)
{
	if (*done)
		return;
	*done = true;
	va_list ap;
	va_start(ap, fmt);
	pf_vlog(ctx, level, fmt, ap);
	va_end(ap);
}

void pf_log_first(struct bm_ctx *ctx, bool *warned, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pf_vlog(ctx, *warned ? BM_LOG_DEBUG : BM_LOG_WARN, fmt, ap);
	va_end(ap);
	*warned = true;
}

int pf_filter_init(struct bm_filter *f, const struct bm_strlist *include,
		   const struct bm_strlist *exclude, const char *what, struct bm_err *err)
{
	int rc = bm_filter_init(f, include, exclude, err);
	if (rc) {
		char why[sizeof(err->msg)];
		snprintf(why, sizeof(why), "%s", err->msg);
		bm_err_set(err, rc, "%s: %s", what, why);
	}
	return rc;
}
