/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the collectors that read /proc and /sys: whole-file
 * reads into a growable buffer kept in the plugin state or into a fixed
 * one, files kept open between collections (struct pf_file), one-number
 * files, row and line parsers, paths under a root and "log once"
 * messages. Compiled into each plugin (and its unit test) from procfs.c:
 * the plugins link nothing but the SDK.
 */
#ifndef BEARMON_PLUGINS_PROCFS_H
#define BEARMON_PLUGINS_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <bearmon/bm_batch.h>
#include <bearmon/bm_err.h>

struct bm_ctx;

/* First size of a growable buffer; it doubles from there. */
#define PF_BUF_MIN 16384

/*
 * Read rel (relative to dirfd, or AT_FDCWD) whole into *buf, a buffer the
 * caller keeps between calls (NULL and 0 at first) and that only grows, by
 * doubling, up to max bytes: procfs hands out about a page per read(), so
 * this reads until EOF. *buf is NUL-terminated. Returns the length, or
 * -errno: the open's or the read's, -EFBIG when the file does not fit in
 * max bytes, -ENOMEM.
 */
ssize_t pf_slurp_at(int dirfd, const char *rel, char **buf, size_t *cap, size_t max);

/*
 * pf_slurp_at(AT_FDCWD, path, ...) with the failure in err: BM_EIO
 * "cannot open PATH: ..." or "cannot read PATH: ...", BM_ENOMEM
 * "PATH: cannot buffer N bytes". *open_errno (when not NULL) gets the
 * open's errno, 0 when it opened: ENOENT tells a missing file.
 */
int pf_read_file(const char *path, char **buf, size_t *cap, size_t max, size_t *len,
		 int *open_errno, struct bm_err *err);

/*
 * Read rel (relative to dirfd, or AT_FDCWD) into buf[cap], NUL-terminated,
 * truncated at cap - 1 bytes. Returns the length or -errno.
 */
ssize_t pf_read_at(int dirfd, const char *rel, char *buf, size_t cap);

/* The same from an open fd (left open), from its current offset. */
ssize_t pf_read_fd(int fd, char *buf, size_t cap);

/* A file holding one unsigned decimal and perhaps a newline (sysfs). */
bool pf_read_u64_at(int dirfd, const char *rel, uint64_t *v);

/*
 * An unsigned decimal at s: a digit first, no overflow, ending at a blank,
 * a newline or the end. *end (when not NULL) gets where it ends.
 */
bool pf_parse_u64(const char *s, uint64_t *v, const char **end);

/*
 * Unsigned numbers in base (10 or 16) separated by blanks, up to the end of
 * the line at p; the first max are stored in v, *eol gets the line's end
 * ('\n' or '\0'). Returns how many numbers the line holds, or -1 when
 * anything else is on it. With first_only the rest of the line after max
 * numbers is skipped unchecked and the count stops at max (a long intr
 * line of /proc/stat).
 */
int pf_parse_row(const char *p, int base, unsigned long long *v, int max, bool first_only,
		 const char **eol);

/*
 * The entry named name[0..len) in *tab, an array of *n entries of elem
 * bytes whose first member is the NUL-terminated name (a device or an
 * interface listed one per line): looked for at index hint first (the
 * file's order rarely changes), then everywhere; appended, zeroed but for
 * its name, when new (*fresh then true). NULL when the table already holds
 * max entries or memory runs out. len must be below the name's size.
 */
void *pf_table_get(void **tab, size_t *n, size_t *cap, size_t elem, size_t max, const char *name,
		   size_t len, size_t hint, bool *fresh);

/*
 * A file of procfs, sysfs or cgroupfs kept open between collections and
 * re-read from offset 0: those regenerate their content on every read at
 * offset 0, so a collection saves the path walk, open and close of each
 * file (3 to 40 us apiece, more than most reads). On any other filesystem
 * (fixture trees in tests) the file is closed after each read, so a file
 * replaced or removed between two reads reads as it is now. Zero-initialise
 * with PF_FILE_INIT. At most PF_FILE_HELD_MAX files (and an eighth of the
 * soft RLIMIT_NOFILE) are held per plugin; past that, files are opened per
 * read like before.
 */
struct pf_file {
	int fd;      /* -1: not held */
	bool kernfs; /* sysfs or cgroupfs: one read returns the whole attribute */
};
#define PF_FILE_INIT {.fd = -1, .kernfs = false}
#define PF_FILE_HELD_MAX 4096

/*
 * Read rel (relative to dirfd, or AT_FDCWD, when it is not held) into
 * buf[cap], NUL-terminated, truncated at cap - 1 bytes. A held file whose
 * read says it is gone (a device, cgroup or process removed: ENODEV,
 * ESRCH, ENOENT) is closed and opened once more; one that has nothing to
 * say now (EINVAL: the speed of an interface that is down) stays open.
 * Returns the length or -errno (of the open when the file is gone).
 */
ssize_t pf_file_read(struct pf_file *f, int dirfd, const char *rel, char *buf, size_t cap);

/* The same into a growable buffer, as pf_slurp_at. */
ssize_t pf_file_slurp(struct pf_file *f, int dirfd, const char *rel, char **buf, size_t *cap,
		      size_t max);

/* pf_read_file through a kept-open file: the same errors in err
 * ("cannot open PATH: ...", "cannot read PATH: ...", "PATH: cannot buffer
 * N bytes"), *open_errno (when not NULL) 0 unless the open failed. */
int pf_file_load(struct pf_file *f, const char *path, char **buf, size_t *cap, size_t max,
		 size_t *len, int *open_errno, struct bm_err *err);

/* An unsigned decimal file (sysfs, cgroupfs), as pf_read_u64_at. */
bool pf_file_u64(struct pf_file *f, int dirfd, const char *rel, uint64_t *v);

/* Close a held file (no-op when not held); it is opened again on the next read. */
void pf_file_close(struct pf_file *f);

/* Whether fd is on procfs, sysfs or cgroupfs (v1 or v2). */
bool pf_is_kernel_fs(int fd);

/* Format v as decimal into out (at least 21 bytes); returns the length.
 * For labels built every collection (cpu numbers, pids): no snprintf. */
size_t pf_utoa(uint64_t v, char *out);

/* root/rel into out (rel alone when root is NULL); false when it does not fit. */
bool pf_path(char *out, size_t n, const char *root, const char *rel);

/* root/rel into out (root NULL: /proc): BM_EINVAL "proc_root \"ROOT\" is
 * too long" in err when it does not fit. */
int pf_proc_path(char *out, size_t n, const char *root, const char *rel, struct bm_err *err);

/*
 * The start of a collection that parses one whole file: path read through
 * f as pf_file_load does (*len its length, the same errors in err), then b
 * emptied for the samples of the collection at now_ms.
 */
int pf_collect_begin(struct pf_file *f, const char *path, char **buf, size_t *cap, size_t max,
		     size_t *len, struct bm_batch *b, int64_t now_ms, struct bm_err *err);

/* bm_filter_init() whose error names the options it came from:
 * "WHAT: bad pattern ...". */
int pf_filter_init(struct bm_filter *f, const struct bm_strlist *include,
		   const struct bm_strlist *exclude, const char *what, struct bm_err *err);

/* The next line of [*p, end), NUL-terminated in place, *p moved past it;
 * NULL at the end. *len (when not NULL) gets its length. */
char *pf_next_line(char **p, char *end, size_t *len);

/* Undo the kernel's octal escapes in mountinfo (\040 space, \011 tab,
 * \012 newline, \134 backslash) in place. */
void pf_unescape_octal(char *s);

/* A message logged only while *done is false, which it then sets: the
 * "said once" flags of the collectors. */
__attribute__((format(printf, 4, 5))) void pf_log_once(struct bm_ctx *ctx, bool *done, int level,
						       const char *fmt, ...);

/* A message logged at warn the first time (*warned false), at debug after:
 * malformed lines of a file read every collection. */
__attribute__((format(printf, 3, 4))) void pf_log_first(struct bm_ctx *ctx, bool *warned,
							const char *fmt, ...);

static inline bool pf_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static inline char *pf_skip_blanks(const char *p)
{
	while (pf_is_blank(*p))
		p++;
	return (char *)p;
}

#endif /* BEARMON_PLUGINS_PROCFS_H */
