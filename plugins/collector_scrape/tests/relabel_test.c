/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/scrape's relabelling (relabel.c) against the
 * behaviour of Prometheus' model/relabel: every action, template expansion
 * as Go's Regexp.Expand does it, anchoring, hashmod values from
 * Prometheus' own tests, and the rule checks.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relabel.h"

/* relabel.c needs no host: nothing to set up. */

struct rule {
	const char *src[3];
	const char *sep;
	const char *regex;
	const char *target;
	const char *repl;
	int64_t modulus;
	enum relabel_action action;
};

/* A compiled set from rules (NULL fields take the option defaults). */
struct fixture {
	struct relabel_conf confs[4];
	struct bm_group_list list;
	struct relabel_set set;
	struct lset ls;
	struct bm_arena arena;
};

static int compile(struct fixture *f, const struct rule *rules, size_t n, struct bm_err *err)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < n; i++) {
		struct relabel_conf *c = &f->confs[i];
		size_t k = 0;
		while (k < 3 && rules[i].src[k])
			k++;
		c->source_labels = (struct bm_strlist){k, (char **)rules[i].src};
		c->separator = (char *)(rules[i].sep ? rules[i].sep : ";");
		c->regex = (char *)(rules[i].regex ? rules[i].regex : "(.*)");
		c->target_label = (char *)rules[i].target;
		c->replacement = (char *)(rules[i].repl ? rules[i].repl : "$1");
		c->modulus = rules[i].modulus;
		c->action = (int)rules[i].action;
	}
	f->list = (struct bm_group_list){n, f->confs};
	return relabel_compile(&f->set, &f->list, "rules", err);
}

static void close_fixture(struct fixture *f)
{
	relabel_free(&f->set);
	lset_free(&f->ls);
	bm_arena_free(&f->arena);
}

/* Labels from "k=v,k2=v2". The strings live in the arena. */
static void labels(struct fixture *f, const char *text)
{
	f->ls.n = 0;
	char *copy = bm_arena_strndup(&f->arena, text, strlen(text));
	for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		*eq = '\0';
		assert_int_equal(lset_set(&f->ls, kv, eq + 1), 0);
	}
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct bm_label *)a)->name, ((const struct bm_label *)b)->name);
}

/* The set as "k=v,k2=v2", sorted by name. */
static const char *text(struct fixture *f)
{
	static char out[512];
	qsort(f->ls.v, f->ls.n, sizeof(*f->ls.v), cmp_label);
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < f->ls.n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s=%s", i ? "," : "",
					f->ls.v[i].name, f->ls.v[i].value);
	return out;
}

/* Apply rules to input; want NULL means dropped. */
static void check(const struct rule *rules, size_t n, const char *input, const char *want)
{
	struct fixture f;
	struct bm_err err = {0};
	assert_int_equal(compile(&f, rules, n, &err), 0);
	labels(&f, input);
	bool kept = relabel_apply(&f.set, &f.ls, &f.arena);
	if (!want)
		assert_false(kept);
	else {
		assert_true(kept);
		assert_string_equal(text(&f), want);
	}
	close_fixture(&f);
}

static void test_replace(void **st)
{
	(void)st;
	/* Prometheus relabel_test: regex groups into a new label */
	const struct rule r1[] = {{.src = {"a"}, .regex = "f(.*)", .target = "d", .repl = "ch${1}-ch${1}"}};
	check(r1, 1, "a=foo,b=bar,c=baz", "a=foo,b=bar,c=baz,d=choo-choo");
	/* two sources joined by the separator */
	const struct rule r2[] = {{.src = {"a", "b"}, .regex = "f(.*);(.*)r", .target = "a",
				   .repl = "b${1}${2}m"}};
	check(r2, 1, "a=foo,b=bar,c=baz", "a=boobam,b=bar,c=baz");
	/* anchored: "o" does not match "foo" */
	const struct rule r3[] = {{.src = {"a"}, .regex = "o", .target = "d", .repl = "x"}};
	check(r3, 1, "a=foo", "a=foo");
	/* an empty result deletes the target label */
	const struct rule r4[] = {{.src = {"a"}, .regex = "(.*)", .target = "b", .repl = "$2"}};
	check(r4, 1, "a=foo,b=bar", "a=foo");
	/* templated target name; an invalid one leaves the set alone */
	const struct rule r5[] = {{.src = {"a"}, .regex = "(.*)", .target = "lbl_$1", .repl = "v"}};
	check(r5, 1, "a=foo", "a=foo,lbl_foo=v");
	check(r5, 1, "a=f-o", "a=f-o");
	/* the default rule copies nothing without a source */
	const struct rule r6[] = {{.target = "x"}};
	check(r6, 1, "a=1", "a=1");
}

static void test_expand(void **st)
{
	(void)st;
	/* Go: "$1x" names group "1x" (empty), ${1}x is group 1 then x, $$ is $ */
	const struct rule r[] = {
		{.src = {"a"}, .regex = "(f)(o+)", .target = "b", .repl = "$1x|${1}x|$$|$2|${0}|$"}};
	check(r, 1, "a=foo", "a=foo,b=|fx|$|oo|foo|$");
	/* a group number beyond the regex's groups is empty */
	const struct rule r2[] = {{.src = {"a"}, .regex = "(f)oo", .target = "b", .repl = "[$7]"}};
	check(r2, 1, "a=foo", "a=foo,b=[]");
}

static void test_keep_drop(void **st)
{
	(void)st;
	const struct rule keep[] = {{.src = {"a"}, .regex = "f.*", .action = RELABEL_KEEP}};
	check(keep, 1, "a=foo", "a=foo");
	check(keep, 1, "a=boo", NULL);
	check(keep, 1, "b=foo", NULL); /* absent label is "" */
	const struct rule drop[] = {{.src = {"a"}, .regex = "f.*", .action = RELABEL_DROP}};
	check(drop, 1, "a=foo", NULL);
	check(drop, 1, "a=xfoo", "a=xfoo"); /* anchored */
	const struct rule keq[] = {{.src = {"a"}, .target = "b", .action = RELABEL_KEEPEQUAL}};
	check(keq, 1, "a=1,b=1", "a=1,b=1");
	check(keq, 1, "a=1,b=2", NULL);
	const struct rule deq[] = {{.src = {"a"}, .target = "b", .action = RELABEL_DROPEQUAL}};
	check(deq, 1, "a=1,b=1", NULL);
	check(deq, 1, "a=1,b=2", "a=1,b=2");
}

static void test_hashmod(void **st)
{
	(void)st;
	/* Prometheus relabel_test: md5("baz") -> 976 mod 1000 */
	const struct rule r[] = {{.src = {"c"}, .target = "d", .modulus = 1000, .action = RELABEL_HASHMOD}};
	check(r, 1, "a=foo,b=bar,c=baz", "a=foo,b=bar,c=baz,d=976");
	/* sharding targets: keep the shard of this instance */
	const struct rule shard[] = {
		{.src = {"__address__"}, .target = "__tmp_hash", .modulus = 4, .action = RELABEL_HASHMOD},
		{.src = {"__tmp_hash"}, .regex = "2", .action = RELABEL_KEEP},
	};
	check(shard, 2, "__address__=127.0.0.1:9100", "__address__=127.0.0.1:9100,__tmp_hash=2");
	check(shard, 2, "__address__=foo", NULL); /* md5 -> 0 */
}

static void test_label_actions(void **st)
{
	(void)st;
	const struct rule map[] = {
		{.regex = "__meta_(.+)", .repl = "meta_$1", .action = RELABEL_LABELMAP}};
	check(map, 1, "__meta_zone=eu,__meta_rack=r1,job=x",
	      "__meta_rack=r1,__meta_zone=eu,job=x,meta_rack=r1,meta_zone=eu");
	const struct rule ldrop[] = {{.regex = "__meta_.*", .action = RELABEL_LABELDROP}};
	check(ldrop, 1, "__meta_zone=eu,job=x,__meta_b=1", "job=x");
	const struct rule lkeep[] = {{.regex = "job|instance", .action = RELABEL_LABELKEEP}};
	check(lkeep, 1, "job=x,instance=i,other=o", "instance=i,job=x");
	const struct rule lower[] = {{.src = {"a"}, .target = "b", .action = RELABEL_LOWERCASE}};
	check(lower, 1, "a=FoO", "a=FoO,b=foo");
	const struct rule upper[] = {{.src = {"a"}, .target = "a", .action = RELABEL_UPPERCASE}};
	check(upper, 1, "a=FoO", "a=FOO");
}

static void test_rules_in_order(void **st)
{
	(void)st;
	/* metric relabelling as users write it: rename, then drop a family */
	const struct rule r[] = {
		{.src = {"__name__"}, .regex = "go_(.*)", .target = "__name__", .repl = "runtime_$1"},
		{.src = {"__name__"}, .regex = "runtime_gc_.*", .action = RELABEL_DROP},
	};
	check(r, 2, "__name__=go_threads", "__name__=runtime_threads");
	check(r, 2, "__name__=go_gc_duration", NULL);
}

static void expect_error(const struct rule *r, const char *part)
{
	struct fixture f;
	struct bm_err err = {0};
	assert_int_equal(compile(&f, r, 1, &err), BM_EINVAL);
	if (!strstr(err.msg, part))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, part);
	close_fixture(&f);
}

static void test_bad_rules(void **st)
{
	(void)st;
	const struct rule regex[] = {{.src = {"a"}, .regex = "(", .target = "b"}};
	expect_error(regex, "rules.0: bad regex \"(\"");
	const struct rule no_target[] = {{.src = {"a"}}};
	expect_error(no_target, "needs target_label");
	const struct rule bad_target[] = {{.src = {"a"}, .target = "1x", .action = RELABEL_HASHMOD,
					   .modulus = 2}};
	expect_error(bad_target, "\"1x\" is not a valid label name");
	const struct rule modulus[] = {{.src = {"a"}, .target = "b", .action = RELABEL_HASHMOD}};
	expect_error(modulus, "modulus");
	const struct rule ldrop[] = {{.src = {"a"}, .action = RELABEL_LABELDROP}};
	expect_error(ldrop, "takes only regex");
	const struct rule source[] = {{.src = {"a-b"}, .target = "b"}};
	expect_error(source, "source label \"a-b\"");
}

static void test_lset(void **st)
{
	(void)st;
	struct lset ls = {0};
	assert_int_equal(lset_set(&ls, "a", "1"), 0);
	assert_int_equal(lset_set(&ls, "b", "2"), 0);
	assert_int_equal(lset_set(&ls, "a", "3"), 0);
	assert_int_equal(ls.n, 2);
	assert_string_equal(lset_get(&ls, "a"), "3");
	assert_string_equal(lset_get(&ls, "zz"), "");
	assert_int_equal(lset_set(&ls, "a", ""), 0); /* "" deletes */
	assert_int_equal(ls.n, 1);
	lset_del(&ls, "nothing");
	assert_int_equal(ls.n, 1);
	for (int i = 0; i < 100; i++) { /* growth */
		char *name = NULL;
		assert_true(asprintf(&name, "l%d", i) > 0);
		assert_int_equal(lset_set(&ls, name, "v"), 0);
		assert_string_equal(lset_get(&ls, name), "v");
		lset_del(&ls, name);
		free(name);
	}
	lset_free(&ls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace),	      cmocka_unit_test(test_expand),
		cmocka_unit_test(test_keep_drop),     cmocka_unit_test(test_hashmod),
		cmocka_unit_test(test_label_actions), cmocka_unit_test(test_rules_in_order),
		cmocka_unit_test(test_bad_rules),     cmocka_unit_test(test_lset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
