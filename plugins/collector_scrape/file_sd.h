/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File-based service discovery as Prometheus' file_sd_configs: files named
 * by glob patterns hold a list of target groups ({targets: [...], labels:
 * {...}}) in JSON (*.json) or YAML (*.yml, *.yaml). Files are re-read when
 * they change (inode, size, mtime or ctime); a file that fails to parse
 * keeps its last good groups.
 */
#ifndef BEARMON_SCRAPE_FILE_SD_H
#define BEARMON_SCRAPE_FILE_SD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_option.h>

/* Largest file read; a bigger one is an error. */
#define SD_MAX_FILE_SIZE (64u << 20)

/* One target group; every string is owned by the group. */
struct sd_group {
	char **targets;
	size_t n_targets;
	struct bm_label *labels; /* valid names, UTF-8 values */
	size_t n_labels;
};

struct sd_groups {
	struct sd_group *v;
	size_t n;
};

/* Parse text (len bytes, NUL-terminated) as JSON or YAML (by the file
 * name's extension, .json else YAML). 0, or BM_EPROTO with why set. */
int sd_parse(const char *name, const char *text, size_t len, struct sd_groups *out, char *why,
	     size_t why_len);
void sd_groups_free(struct sd_groups *g);

struct sd_file {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	bool present; /* stat-ed (and read) by an earlier refresh */
	bool matched; /* matched by the refresh in progress */
	struct sd_groups groups;
};

/* Called for a file that could not be read or parsed. */
typedef void (*sd_error_cb)(void *user, const char *path, const char *why);

struct sd_watch {
	struct sd_file *files;
	size_t n, cap;
	uint64_t reads;  /* files (re-)read */
	uint64_t errors; /* failed reads and parses */
};

/*
 * Expand patterns (glob(3); a pattern matching nothing adds nothing),
 * stat every file and re-read the changed ones. Returns true when the
 * union of groups may have changed (a file appeared, went away or parsed
 * anew), false when nothing did.
 */
bool sd_watch_refresh(struct sd_watch *w, const struct bm_strlist *patterns, sd_error_cb on_error,
		      void *user);
void sd_watch_free(struct sd_watch *w);

#endif
