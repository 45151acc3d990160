/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake host API table for plugin unit tests: a test includes the plugin's
 * .c file (so its static functions are reachable), points the plugin at
 * fakehost_api() and inspects what the plugin published.
 */
#ifndef BEARMON_TESTS_FAKEHOST_H
#define BEARMON_TESTS_FAKEHOST_H

#include <stddef.h>
#include <stdint.h>

#include "bearmon/bm_event.h"
#include "bearmon/bm_host.h"

/* One published sample, deep-copied. labels is "k=v,k2=v2" (sorted as
 * published). */
struct fh_sample {
	char *name;
	char *labels;
	int64_t ts_ms;
	double value;
};

struct fh_meta {
	char *name;
	enum bm_metric_type type;
	char *unit;
	char *help;
};

/* Reset captured state and return the table; also sets now_ms. */
const struct bm_host_api *fakehost_api(void);
/* The ctx handed to the plugin's init. */
struct bm_ctx *fakehost_ctx(void);
void fakehost_reset(void);
void fakehost_set_now(int64_t now_ms);

size_t fakehost_n_samples(void);
const struct fh_sample *fakehost_sample(size_t i);
/* The value of name{labels} from the latest publication; NAN when absent.
 * labels as "k=v,k2=v2" in label-name order, "" for none. */
double fakehost_value(const char *name, const char *labels);
/* Number of samples named name (any labels). */
size_t fakehost_count(const char *name);
/* Metadata published for family name, or NULL. */
const struct fh_meta *fakehost_meta(const char *name);
/* Last message logged at level <= max_level, or "" */
const char *fakehost_last_log(int max_level);
/* Number of publish_metrics calls that passed unsorted labels. */
size_t fakehost_unsorted(void);

#endif
