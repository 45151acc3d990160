/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the plugin unit tests (plugins/NAME/tests/): value
 * assertions over the fake host, fixture paths, option structs, the hooks
 * with their errors checked, scratch files. The test still sets its
 * plugin's bm__host_api and passes the plugin's ops and options tables.
 */
#ifndef BEARMON_TESTS_PLUGINTEST_H
#define BEARMON_TESTS_PLUGINTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "bearmon/bm_option.h"
#include "bearmon/bm_plugin.h"
#include "fakehost.h"

/* Relative tolerance of assert_value; a test may define its own before
 * including this header. */
#ifndef PT_VALUE_TOLERANCE
#define PT_VALUE_TOLERANCE 1e-9
#endif

/* name{labels} was published last with want, within PT_VALUE_TOLERANCE
 * (relative, absolute below 1). labels as for fakehost_value(). */
#define assert_value(name, labels, want)                                                           \
	do {                                                                                       \
		const char *pt_name_ = (name);                                                     \
		const char *pt_labels_ = (labels);                                                 \
		double pt_got_ = fakehost_value(pt_name_, pt_labels_);                             \
		double pt_want_ = (want);                                                          \
		if (!(fabs(pt_got_ - pt_want_) <= PT_VALUE_TOLERANCE * fmax(1.0, fabs(pt_want_)))) \
			fail_msg("%s{%s} = %.17g, want %.17g", pt_name_, pt_labels_, pt_got_,      \
				 pt_want_);                                                        \
	} while (0)

/* No sample name{labels} was published. */
#define assert_absent(name, labels)                                                                \
	do {                                                                                       \
		const char *pt_name_ = (name);                                                     \
		const char *pt_labels_ = (labels);                                                 \
		double pt_got_ = fakehost_value(pt_name_, pt_labels_);                             \
		if (!isnan(pt_got_))                                                               \
			fail_msg("%s{%s} = %.17g, want absent", pt_name_, pt_labels_, pt_got_);    \
	} while (0)

/* out = $BM_SOURCE_DIR/tests/fixtures/PLUGIN/SUB ("" for the directory). */
#define pt_fixture_path(out, n, plugin, sub)                                                       \
	pt__fixture_path(__FILE__, __LINE__, out, n, plugin, sub)
/* out = that path with /REL after it (a file of the fixture). */
#define pt_fixture_file(out, n, plugin, sub, rel)                                                  \
	pt__fixture_file(__FILE__, __LINE__, out, n, plugin, sub, rel)
/* *field = that path, freeing the old value (a root option); an absolute
 * sub (the live /proc, a scratch copy) is taken as it is. */
#define pt_set_fixture(field, plugin, sub) pt__set_fixture(__FILE__, __LINE__, field, plugin, sub)
/* *field = a copy of v, freeing the old value. */
void pt_set_str(char **field, const char *v);
/* The list holds the patterns given, NULL-terminated; none: empty. */
__attribute__((sentinel)) void pt_set_list(struct bm_strlist *l, ...);

/* conf (zeroed by the caller) = the defaults of opts; release frees what
 * they and the pt_set_* helpers allocated. */
#define pt_conf_defaults(opts, conf) pt__conf_defaults(__FILE__, __LINE__, opts, conf)
void pt_conf_release(const struct bm_option *opts, void *conf);
/* The start of a test's fixture f, a struct with the plugin's conf struct
 * as its member conf: the fake host is the plugin's host, with nothing
 * captured; *f is zeroed and f->conf = the defaults of opts. */
#define pt_fixture_begin(f, opts)                                                                  \
	do {                                                                                       \
		bm__host_api = fakehost_api();                                                     \
		fakehost_reset();                                                                  \
		memset((f), 0, sizeof(*(f)));                                                      \
		pt_conf_defaults(opts, &(f)->conf);                                                \
	} while (0)

/* init against fakehost_ctx(): the state, failing the test on an error. */
#define pt_init(ops, conf) pt__init(__FILE__, __LINE__, ops, conf)
/* init must fail with want, its message holding each of the strings
 * that follow (NULL-terminated). */
#define pt_init_err(ops, conf, want, ...)                                                          \
	pt__init_err(__FILE__, __LINE__, ops, conf, want, __VA_ARGS__)
/* collect at now_ms, the fake host's clock set to now_ms first. */
int pt_collect(const struct bm_plugin_ops *ops, void *state, int64_t now_ms, struct bm_err *err);
/* The same, failing the test on an error. */
#define pt_collect_ok(ops, state, now_ms) pt__collect_ok(__FILE__, __LINE__, ops, state, now_ms)
/* collect must fail with want, its message holding each of the strings
 * that follow (NULL-terminated). */
#define pt_collect_err(ops, state, now_ms, want, ...)                                              \
	pt__collect_err(__FILE__, __LINE__, ops, state, now_ms, want, __VA_ARGS__)
/* The same, and the failed collection published no sample. */
#define pt_collect_err_none(ops, state, now_ms, want, ...)                                         \
	pt__collect_err_none(__FILE__, __LINE__, ops, state, now_ms, want, __VA_ARGS__)
/* fini when state is not NULL. */
void pt_fini(const struct bm_plugin_ops *ops, void *state);
/* pt_fini, pt_conf_release, then fakehost_reset(). */
void pt_close(const struct bm_plugin_ops *ops, const struct bm_option *opts, void *state,
	      void *conf);

/* Samples from index from on whose labels are labels / contain part. */
size_t pt_count_labels(size_t from, const char *labels);
size_t pt_count_labels_like(size_t from, const char *part);

/* out = a new directory /tmp/PREFIX plus six random characters (mkdtemp). */
#define pt_mkdtemp(out, n, prefix) pt__mkdtemp(__FILE__, __LINE__, out, n, prefix)
/* dst = a copy of the tree src (cp -a); dst need not exist. */
#define pt_copy_tree(src, dst) pt__copy_tree(__FILE__, __LINE__, src, dst)
/* out = a new directory /tmp/PREFIX plus six random characters (mkdtemp),
 * and out/INTO ("" for out itself) a copy of the fixture PLUGIN/SUB, for a
 * test that changes files. */
#define pt_fixture_copy(out, n, prefix, plugin, sub, into)                                         \
	pt__fixture_copy(__FILE__, __LINE__, out, n, prefix, plugin, sub, into)
/* Remove dir and everything under it: 0, or -1 with errno (as when dir
 * does not exist). */
int pt_rm_tree(const char *dir);
/* DIR/REL = text, created or truncated. */
#define pt_write_file(dir, rel, text) pt__write_file(__FILE__, __LINE__, dir, rel, text)

/* What the macros call, with the test's file and line for failures. */
void pt__fixture_path(const char *file, int line, char *out, size_t n, const char *plugin,
		      const char *sub);
void pt__fixture_file(const char *file, int line, char *out, size_t n, const char *plugin,
		      const char *sub, const char *rel);
void pt__set_fixture(const char *file, int line, char **field, const char *plugin, const char *sub);
void pt__conf_defaults(const char *file, int line, const struct bm_option *opts, void *conf);
void *pt__init(const char *file, int line, const struct bm_plugin_ops *ops, const void *conf);
__attribute__((sentinel)) void pt__init_err(const char *file, int line,
					    const struct bm_plugin_ops *ops, const void *conf,
					    int want, ...);
void pt__collect_ok(const char *file, int line, const struct bm_plugin_ops *ops, void *state,
		    int64_t now_ms);
__attribute__((sentinel)) void pt__collect_err(const char *file, int line,
					       const struct bm_plugin_ops *ops, void *state,
					       int64_t now_ms, int want, ...);
__attribute__((sentinel)) void pt__collect_err_none(const char *file, int line,
						    const struct bm_plugin_ops *ops, void *state,
						    int64_t now_ms, int want, ...);
void pt__mkdtemp(const char *file, int line, char *out, size_t n, const char *prefix);
void pt__copy_tree(const char *file, int line, const char *src, const char *dst);
void pt__fixture_copy(const char *file, int line, char *out, size_t n, const char *prefix,
		      const char *plugin, const char *sub, const char *into);
void pt__write_file(const char *file, int line, const char *dir, const char *rel, const char *text);

#endif
