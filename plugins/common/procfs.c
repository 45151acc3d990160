/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File reading (once, or through files kept open between collections),
 * small parsers and "log once" messages for the /proc and /sys collectors
 * (see procfs.h).
 */
#include "procfs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

/* The size *buf grows to next. */
static size_t pf_next_cap(size_t cap)
{
	return cap ? 2 * cap : PF_BUF_MIN;
}

/* Where pf_read_upto reads from: the fd's own offset (read) rather than a
 * given one (pread). */
#define PF_AT_FD_OFFSET ((off_t)-1)

/* Read fd into buf until room bytes or EOF, from file offset off (pread at
 * the offset reached continues a seq_file where the previous read stopped:
 * they hand out a page at a time) or PF_AT_FD_OFFSET; the bytes read or
 * -errno. */
static ssize_t pf_read_upto(int fd, char *buf, size_t room, off_t off)
{
	size_t n = 0;
	while (n < room) {
		ssize_t r = off == PF_AT_FD_OFFSET ? read(fd, buf + n, room - n)
						   : pread(fd, buf + n, room - n, off + (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

/* The whole file into the growable *buf (doubling up to max bytes),
 * NUL-terminated; the length or -errno. from_zero: by pread from offset 0,
 * else by read from the fd's offset. A full buffer may have more behind
 * it: grow it and go on. */
static ssize_t pf_read_grow(int fd, char **buf, size_t *cap, size_t max, bool from_zero)
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
		ssize_t r = pf_read_upto(fd, *buf + n, *cap - 1 - n,
					 from_zero ? (off_t)n : PF_AT_FD_OFFSET);
		if (r < 0)
			return r;
		n += (size_t)r;
	} while (n == *cap - 1);
	(*buf)[n] = '\0';
	return (ssize_t)n;
}

ssize_t pf_slurp_at(int dirfd, const char *rel, char **buf, size_t *cap, size_t max)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ssize_t n = pf_read_grow(fd, buf, cap, max, false);
	close(fd);
	return n;
}

/* The outcome of a whole-file read n (length or -errno) as pf_read_file
 * reports it. */
static int pf_read_result(const char *path, ssize_t n, size_t cap, size_t *len,
			  struct bm_err *err)
{
	if (n == -EFBIG || n == -ENOMEM) /* the size it failed to grow to */
		return bm_err_set(err, BM_ENOMEM, "%s: cannot buffer %zu bytes", path,
				  pf_next_cap(cap));
	if (n < 0)
		return bm_err_set(err, BM_EIO, "cannot read %s: %s", path, strerror((int)-n));
	*len = (size_t)n;
	return 0;
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
	ssize_t n = pf_read_grow(fd, buf, cap, max, false);
	close(fd);
	return pf_read_result(path, n, *cap, len, err);
}

ssize_t pf_read_fd(int fd, char *buf, size_t cap)
{
	ssize_t n = pf_read_upto(fd, buf, cap - 1, PF_AT_FD_OFFSET);
	if (n >= 0)
		buf[n] = '\0';
	return n;
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

/* ---------------------------------------------------------------------
 * Files kept open (struct pf_file)
 * --------------------------------------------------------------------- */

/* statfs f_type of the filesystems that regenerate a file on each read
 * at offset 0 (linux/magic.h) */
#define PF_PROC_MAGIC 0x9fa0L
#define PF_SYSFS_MAGIC 0x62656572L
#define PF_CGROUP_MAGIC 0x27e0ebL
#define PF_CGROUP2_MAGIC 0x63677270L

/* Files held by this plugin (procfs.c is compiled into each plugin, so
 * every plugin has its own budget; its instances share it). */
static size_t pf_held;
static size_t pf_held_limit; /* 0 until the first use */

static size_t pf_budget(void)
{
	size_t lim = __atomic_load_n(&pf_held_limit, __ATOMIC_RELAXED);
	if (lim)
		return lim;
	struct rlimit rl;
	lim = PF_FILE_HELD_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 8 < lim)
		lim = rl.rlim_cur / 8 ? (size_t)(rl.rlim_cur / 8) : 1;
	__atomic_store_n(&pf_held_limit, lim, __ATOMIC_RELAXED);
	return lim;
}

enum pf_fs { PF_FS_OTHER, PF_FS_PROC, PF_FS_KERNFS };

/* What kind of filesystem fd is on: procfs, kernfs (sysfs, cgroupfs) or
 * another. */
static enum pf_fs pf_fs_of(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) != 0)
		return PF_FS_OTHER;
	long t = (long)sf.f_type;
	if (t == PF_PROC_MAGIC)
		return PF_FS_PROC;
	return t == PF_SYSFS_MAGIC || t == PF_CGROUP_MAGIC || t == PF_CGROUP2_MAGIC ? PF_FS_KERNFS
										       : PF_FS_OTHER;
}

bool pf_is_kernel_fs(int fd)
{
	return pf_fs_of(fd) != PF_FS_OTHER;
}

/* Keep fd in f when it is on a kernel filesystem and the budget allows;
 * close it otherwise. */
static void pf_file_keep(struct pf_file *f, int fd)
{
	enum pf_fs fs = PF_FS_OTHER;
	if (__atomic_add_fetch(&pf_held, 1, __ATOMIC_RELAXED) <= pf_budget() &&
	    (fs = pf_fs_of(fd)) != PF_FS_OTHER) {
		f->fd = fd;
		f->kernfs = fs == PF_FS_KERNFS;
		return;
	}
	__atomic_sub_fetch(&pf_held, 1, __ATOMIC_RELAXED);
	close(fd);
}

void pf_file_close(struct pf_file *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	__atomic_sub_fetch(&pf_held, 1, __ATOMIC_RELAXED);
}

/*
 * One pread at offset 0: a kernfs attribute (sysfs, cgroupfs) is produced
 * by one show() call and comes whole in one read of up to a page, so the
 * read that would say EOF (0.2 us) is not needed; a fuller buffer falls
 * back to reading on.
 */
static ssize_t pf_pread_once(int fd, char *buf, size_t room)
{
	ssize_t r;
	do
		r = pread(fd, buf, room, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if ((size_t)r < room && r < 4096)
		return r;
	ssize_t more = pf_read_upto(fd, buf + r, room - (size_t)r, (off_t)r);
	return more < 0 ? more : r + more;
}

/* Open rel for pf_file_*: -errno when it cannot be. */
static int pf_file_open(int dirfd, const char *rel)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/*
 * Whether a failed read says the file itself went away (a removed device,
 * cgroup or process: look it up again) rather than that it has nothing to
 * say now (EINVAL from the speed of an interface that is down, EAGAIN):
 * a file of the second kind stays open.
 */
static bool pf_file_gone(ssize_t n)
{
	return n == -ENODEV || n == -ESRCH || n == -ENOENT || n == -ESTALE || n == -EBADF;
}

/* After reading a file opened now: keep it unless the read says it is gone. */
static ssize_t pf_file_settle(struct pf_file *f, int fd, ssize_t n)
{
	if (n < 0 && pf_file_gone(n))
		close(fd);
	else
		pf_file_keep(f, fd);
	return n;
}

ssize_t pf_file_read(struct pf_file *f, int dirfd, const char *rel, char *buf, size_t cap)
{
	ssize_t n;
	if (f->fd >= 0) {
		n = f->kernfs ? pf_pread_once(f->fd, buf, cap - 1)
			      : pf_read_upto(f->fd, buf, cap - 1, 0);
		if (n >= 0 || !pf_file_gone(n)) {
			buf[n >= 0 ? n : 0] = '\0';
			return n;
		}
		pf_file_close(f); /* gone or replaced: look it up again */
	}
	int fd = pf_file_open(dirfd, rel);
	if (fd < 0)
		return fd;
	n = pf_read_upto(fd, buf, cap - 1, 0);
	buf[n >= 0 ? n : 0] = '\0';
	return pf_file_settle(f, fd, n);
}

/* pf_read_grow from offset 0 through f, opening rel when it is not held;
 * *open_failed says whether an error is the open's. */
static ssize_t pf_file_grow(struct pf_file *f, int dirfd, const char *rel, char **buf,
			    size_t *cap, size_t max, bool *open_failed)
{
	ssize_t n;
	*open_failed = false;
	if (f->fd >= 0) {
		n = pf_read_grow(f->fd, buf, cap, max, true);
		if (n >= 0 || !pf_file_gone(n))
			return n;
		pf_file_close(f);
	}
	int fd = pf_file_open(dirfd, rel);
	if (fd < 0) {
		*open_failed = true;
		return fd;
	}
	return pf_file_settle(f, fd, pf_read_grow(fd, buf, cap, max, true));
}

ssize_t pf_file_slurp(struct pf_file *f, int dirfd, const char *rel, char **buf, size_t *cap,
		      size_t max)
{
	bool open_failed;
	return pf_file_grow(f, dirfd, rel, buf, cap, max, &open_failed);
}

int pf_file_load(struct pf_file *f, const char *path, char **buf, size_t *cap, size_t max,
		 size_t *len, int *open_errno, struct bm_err *err)
{
	bool open_failed;
	ssize_t n = pf_file_grow(f, AT_FDCWD, path, buf, cap, max, &open_failed);
	if (open_errno)
		*open_errno = open_failed ? (int)-n : 0;
	if (open_failed)
		return bm_err_set(err, BM_EIO, "cannot open %s: %s", path, strerror((int)-n));
	return pf_read_result(path, n, *cap, len, err);
}

bool pf_file_u64(struct pf_file *f, int dirfd, const char *rel, uint64_t *v)
{
	char tmp[32];
	const char *end;
	return pf_file_read(f, dirfd, rel, tmp, sizeof(tmp)) > 0 && pf_parse_u64(tmp, v, &end) &&
	       (*end == '\n' || *end == '\0');
}

size_t pf_utoa(uint64_t v, char *out)
{
	char tmp[21];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
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

int pf_proc_path(char *out, size_t n, const char *root, const char *rel, struct bm_err *err)
{
	root = root ? root : "/proc";
	if (!pf_path(out, n, root, rel))
		return bm_err_set(err, BM_EINVAL, "proc_root \"%s\" is too long", root);
	return 0;
}

int pf_collect_begin(struct pf_file *f, const char *path, char **buf, size_t *cap, size_t max,
		     size_t *len, struct bm_batch *b, int64_t now_ms, struct bm_err *err)
{
	int rc = pf_file_load(f, path, buf, cap, max, len, NULL, err);
	if (rc)
		return rc;
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	return 0;
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
