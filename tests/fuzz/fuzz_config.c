/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: a config file through libconfig, the core option
 * table, instance blocks, and a plugin-like table of every option type.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

struct item {
	char *url;
	struct bm_map labels;
};
struct fconf {
	bool b;
	int64_t i;
	double d;
	char *s;
	int64_t dur;
	uint64_t size;
	int e;
	struct bm_strlist list;
	struct bm_map map;
	struct {
		int64_t depth;
	} group;
	struct bm_group_list items;
};
static const char *const enums[] = {"a", "b", NULL};
static const struct bm_option item_opts[] = {
	{.name = "url", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED, .offset = offsetof(struct item, url)},
	BM_OPTION("labels", BM_OPT_MAP, NULL, struct item, labels, ""),
	BM_OPTION_END,
};
static const struct bm_option group_opts[] = {
	{.name = "depth", .type = BM_OPT_INT, .def = "1", .offset = 0},
	BM_OPTION_END,
};
static const struct bm_option opts[] = {
	BM_OPTION("b", BM_OPT_BOOL, "true", struct fconf, b, ""),
	BM_OPTION_BOUNDED("i", BM_OPT_INT, "1", struct fconf, i, -5, 5, ""),
	BM_OPTION_BOUNDED("d", BM_OPT_DOUBLE, "0.5", struct fconf, d, 0, 1, ""),
	BM_OPTION("s", BM_OPT_STRING, "x", struct fconf, s, ""),
	BM_OPTION("dur", BM_OPT_DURATION, "1s", struct fconf, dur, ""),
	BM_OPTION("size", BM_OPT_SIZE, "1KiB", struct fconf, size, ""),
	{.name = "e", .type = BM_OPT_ENUM, .def = "a", .enum_values = enums, .offset = offsetof(struct fconf, e)},
	BM_OPTION("list", BM_OPT_STRING_LIST, NULL, struct fconf, list, ""),
	BM_OPTION("map", BM_OPT_MAP, NULL, struct fconf, map, ""),
	{.name = "group", .type = BM_OPT_GROUP, .sub = group_opts, .offset = offsetof(struct fconf, group)},
	{.name = "items", .type = BM_OPT_GROUP_LIST, .sub = item_opts, .sub_size = sizeof(struct item),
	 .offset = offsetof(struct fconf, items)},
	BM_OPTION_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64];
	if (fd < 0) {
		log_setup(BM_LOG_ERR - 1, LOG_TO_STDERR, 0, 60); /* silent */
		fd = memfd_create("fuzz.conf", 0);
	}
	if (fd < 0 || ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	char *sets[] = {"include_dir=/nonexistent", "x.items.0.url=u", "x.i=3"};
	struct cfg_errs errs = {0};
	struct cfg *c = cfg_load(path, sets, size % 2 ? 3 : 1, &errs);
	for (size_t k = 0; c && k < c->n_inst; k++) {
		struct fconf conf = {0};
		cfg_fill_instance(&c->inst[k], opts, &conf, &errs);
		schema_release(opts, &conf);
	}
	cfg_errs_free(&errs);
	cfg_free(c);
	return 0;
}
