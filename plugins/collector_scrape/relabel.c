/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Relabelling as Prometheus' model/relabel/relabel.go does it (see
 * relabel.h), with POSIX extended regular expressions (regcomp) in place of
 * RE2, and replacement templates expanded as Go's Regexp.Expand does
 * ($1, ${1}, $$; "$1x" names group "1x", which is empty). hashmod uses
 * OpenSSL's MD5 like Prometheus (big-endian low 8 bytes, mod modulus).
 */
#define _GNU_SOURCE
#include "relabel.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/expfmt.h"

static const char *const action_names[] = {
	"replace",   "keep",	  "drop",      "hashmod",   "labelmap", "labeldrop",
	"labelkeep", "lowercase", "uppercase", "keepequal", "dropequal", NULL,
};

const struct bm_option relabel_rule_options[] = {
	{.name = "source_labels", .type = BM_OPT_STRING_LIST,
	 .offset = offsetof(struct relabel_conf, source_labels),
	 .help = "labels whose values, joined by separator, the regex is matched against"},
	BM_OPTION("separator", BM_OPT_STRING, ";", struct relabel_conf, separator,
		  "placed between the source label values"),
	BM_OPTION("regex", BM_OPT_STRING, "(.*)", struct relabel_conf, regex,
		  "POSIX extended regular expression, anchored at both ends"),
	BM_OPTION("target_label", BM_OPT_STRING, NULL, struct relabel_conf, target_label,
		  "label written by replace, hashmod, lowercase, uppercase; compared by keepequal, dropequal"),
	BM_OPTION("replacement", BM_OPT_STRING, "$1", struct relabel_conf, replacement,
		  "value written by replace and labelmap; $1, ${1} are regex groups"),
	BM_OPTION_BOUNDED("modulus", BM_OPT_INT, "0", struct relabel_conf, modulus, 0,
			  4611686018427387904.0, "hashmod: the md5 of the joined value modulo this"),
	{.name = "action", .type = BM_OPT_ENUM, .def = "replace",
	 .offset = offsetof(struct relabel_conf, action), .enum_values = action_names,
	 .help = "replace, keep, drop, hashmod, labelmap, labeldrop, labelkeep, lowercase, "
		 "uppercase, keepequal, dropequal"},
	BM_OPTION_END,
};

/* ---- label sets ------------------------------------------------------ */

int lset_reserve(struct lset *ls, size_t n)
{
	if (n <= ls->cap)
		return 0;
	size_t cap = ls->cap ? ls->cap * 2 : 16;
	while (cap < n)
		cap *= 2;
	struct bm_label *v = realloc(ls->v, cap * sizeof(*v));
	if (!v)
		return BM_ENOMEM;
	ls->v = v;
	ls->cap = cap;
	return 0;
}

void lset_free(struct lset *ls)
{
	free(ls->v);
	memset(ls, 0, sizeof(*ls));
}

static struct bm_label *lset_find(const struct lset *ls, const char *name)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->v[i].name, name) == 0)
			return &ls->v[i];
	return NULL;
}

const char *lset_get(const struct lset *ls, const char *name)
{
	const struct bm_label *l = lset_find(ls, name);
	return l ? l->value : "";
}

void lset_del(struct lset *ls, const char *name)
{
	struct bm_label *l = lset_find(ls, name);
	if (l)
		*l = ls->v[--ls->n];
}

int lset_set(struct lset *ls, const char *name, const char *value)
{
	if (!*value) {
		lset_del(ls, name);
		return 0;
	}
	struct bm_label *l = lset_find(ls, name);
	if (l) {
		l->value = value;
		return 0;
	}
	if (lset_reserve(ls, ls->n + 1))
		return BM_ENOMEM;
	ls->v[ls->n++] = (struct bm_label){name, value};
	return 0;
}

/* ---- compiling ------------------------------------------------------- */

static bool needs_target(enum relabel_action a)
{
	return a == RELABEL_REPLACE || a == RELABEL_HASHMOD || a == RELABEL_LOWERCASE ||
	       a == RELABEL_UPPERCASE || a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL;
}

static bool acts_on_names(enum relabel_action a)
{
	return a == RELABEL_LABELMAP || a == RELABEL_LABELDROP || a == RELABEL_LABELKEEP;
}

/* What Prometheus' Config.Validate refuses, worded for our options. */
static int check_rule(const struct relabel_conf *c, const char *what, size_t i, struct bm_err *err)
{
	enum relabel_action a = (enum relabel_action)c->action;
	const char *name = action_names[a];
	const char *t = c->target_label;
	if (needs_target(a) && (!t || !*t))
		return bm_err_set(err, BM_EINVAL, "%s.%zu: action %s needs target_label", what, i, name);
	/* replace may write to a templated name ("$1"), checked when applied */
	if (needs_target(a) && !(a == RELABEL_REPLACE && strchr(t, '$')) &&
	    !expfmt_valid_label_name(t))
		return bm_err_set(err, BM_EINVAL, "%s.%zu: target_label \"%s\" is not a valid label name",
				  what, i, t);
	if (a == RELABEL_HASHMOD && c->modulus <= 0)
		return bm_err_set(err, BM_EINVAL, "%s.%zu: action hashmod needs a modulus > 0", what, i);
	if (acts_on_names(a) && a != RELABEL_LABELMAP && (c->source_labels.n || (t && *t)))
		return bm_err_set(err, BM_EINVAL,
				  "%s.%zu: action %s takes only regex (no source_labels, target_label)",
				  what, i, name);
	for (size_t k = 0; k < c->source_labels.n; k++)
		if (!expfmt_valid_label_name(c->source_labels.v[k]))
			return bm_err_set(err, BM_EINVAL, "%s.%zu: source label \"%s\" is not a valid label name",
					  what, i, c->source_labels.v[k]);
	return 0;
}

static int compile_rule(struct relabel_rule *r, const struct relabel_conf *c, const char *what,
			size_t i, struct bm_err *err)
{
	int rc = check_rule(c, what, i, err);
	if (rc)
		return rc;
	const char *re = c->regex ? c->regex : "(.*)";
	size_t n = strlen(re) + 5;
	char *anchored = malloc(n);
	if (!anchored)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	snprintf(anchored, n, "^(%s)$", re);
	int rrc = regcomp(&r->re, anchored, REG_EXTENDED);
	free(anchored);
	if (rrc) {
		char why[160];
		regerror(rrc, &r->re, why, sizeof(why));
		return bm_err_set(err, BM_EINVAL, "%s.%zu: bad regex \"%s\": %s", what, i, re, why);
	}
	r->groups = calloc(r->re.re_nsub + 1, sizeof(*r->groups));
	if (!r->groups) {
		regfree(&r->re);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	r->action = (enum relabel_action)c->action;
	r->source = (const char *const *)c->source_labels.v;
	r->n_source = c->source_labels.n;
	r->separator = c->separator ? c->separator : ";";
	r->target = c->target_label ? c->target_label : "";
	r->replacement = c->replacement ? c->replacement : "$1";
	r->modulus = (uint64_t)c->modulus;
	return 0;
}

int relabel_compile(struct relabel_set *rs, const struct bm_group_list *list, const char *what,
		    struct bm_err *err)
{
	memset(rs, 0, sizeof(*rs));
	if (!list->n)
		return 0;
	rs->v = calloc(list->n, sizeof(*rs->v));
	if (!rs->v)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < list->n; i++) {
		int rc = compile_rule(&rs->v[i], BM_GROUP_ITEM(*list, struct relabel_conf, i), what, i,
				      err);
		if (rc) {
			relabel_free(rs);
			return rc;
		}
		rs->n++;
	}
	return 0;
}

void relabel_free(struct relabel_set *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		regfree(&rs->v[i].re);
		free(rs->v[i].groups);
	}
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

/* ---- applying -------------------------------------------------------- */

/* A growing string in the arena: grown by doubling, finished with NUL. */
struct sbuf {
	struct bm_arena *a;
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = bm_arena_alloc(b->a, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		if (b->len)
			memcpy(p, b->p, b->len);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static const char *sb_done(struct sbuf *b)
{
	if (!b->p && !b->oom)
		sb_put(b, "", 0);
	return b->oom ? NULL : b->p;
}

/* The source label values joined by the separator. */
static const char *joined(const struct relabel_rule *r, const struct lset *ls, struct bm_arena *a)
{
	struct sbuf b = {.a = a};
	for (size_t i = 0; i < r->n_source; i++) {
		if (i)
			sb_put(&b, r->separator, strlen(r->separator));
		const char *v = lset_get(ls, r->source[i]);
		sb_put(&b, v, strlen(v));
	}
	return sb_done(&b);
}

static bool word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Go's regexp extract(): the name after '$' (bare or in braces); false
 * when there is none. *num is the group number, or -1 for a name. */
static bool template_name(const char *s, size_t *consumed, long *num)
{
	bool brace = *s == '{';
	const char *p = s + brace;
	size_t n = 0;
	while (word_char(p[n]))
		n++;
	if (!n || (brace && p[n] != '}'))
		return false;
	*num = 0;
	for (size_t i = 0; i < n && *num >= 0; i++)
		*num = isdigit((unsigned char)p[i]) && *num < 100000000 ? *num * 10 + (p[i] - '0') : -1;
	if (p[0] == '0' && n > 1)
		*num = -1; /* no leading zeros */
	*consumed = brace + n + brace;
	return true;
}

/* tmpl with $N replaced by the user's group N of the last match on src. */
static const char *expand(const struct relabel_rule *r, const char *tmpl, const char *src,
			  struct bm_arena *a)
{
	struct sbuf b = {.a = a};
	for (const char *p = tmpl; *p;) {
		const char *dollar = strchr(p, '$');
		if (!dollar) {
			sb_put(&b, p, strlen(p));
			break;
		}
		sb_put(&b, p, (size_t)(dollar - p));
		size_t used;
		long num;
		if (dollar[1] == '$') {
			sb_put(&b, "$", 1);
			p = dollar + 2;
		} else if (!template_name(dollar + 1, &used, &num)) {
			sb_put(&b, "$", 1);
			p = dollar + 1;
		} else {
			/* user group num is ours num + 1 ("^(...)$" wraps the regex) */
			if (num >= 0 && (size_t)num < r->re.re_nsub) {
				const regmatch_t *m = &r->groups[num + 1];
				if (m->rm_so >= 0)
					sb_put(&b, src + m->rm_so, (size_t)(m->rm_eo - m->rm_so));
			}
			p = dollar + 1 + used;
		}
	}
	return sb_done(&b);
}

static bool match(const struct relabel_rule *r, const char *s)
{
	return regexec(&r->re, s, r->re.re_nsub + 1, r->groups, 0) == 0;
}

static const char *hashmod(const struct relabel_rule *r, const char *val, struct bm_arena *a)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!EVP_Digest(val, strlen(val), md, &len, EVP_md5(), NULL) || len != 16)
		return NULL;
	uint64_t h = 0;
	for (int i = 8; i < 16; i++)
		h = h << 8 | md[i];
	char *out = bm_arena_alloc(a, 24);
	if (out)
		snprintf(out, 24, "%" PRIu64, h % r->modulus);
	return out;
}

static const char *change_case(const char *val, bool upper, struct bm_arena *a)
{
	size_t n = strlen(val);
	char *out = bm_arena_alloc(a, n + 1);
	for (size_t i = 0; out && i <= n; i++)
		out[i] = (char)(upper ? toupper((unsigned char)val[i]) : tolower((unsigned char)val[i]));
	return out;
}

static int do_replace(const struct relabel_rule *r, struct lset *ls, const char *val,
		      struct bm_arena *a)
{
	if (!match(r, val))
		return 0;
	const char *target = expand(r, r->target, val, a);
	if (!target)
		return BM_ENOMEM;
	if (!expfmt_valid_label_name(target))
		return 0;
	const char *res = expand(r, r->replacement, val, a);
	return res ? lset_set(ls, target, res) : BM_ENOMEM;
}

/* labelmap, labeldrop, labelkeep: over a copy of the names, as the set
 * changes under the loop. */
static int on_names(const struct relabel_rule *r, struct lset *ls, struct bm_arena *a)
{
	size_t n = ls->n;
	struct bm_label *snap = n ? bm_arena_alloc(a, n * sizeof(*snap)) : NULL;
	if (n && !snap)
		return BM_ENOMEM;
	if (n)
		memcpy(snap, ls->v, n * sizeof(*snap));
	for (size_t i = 0; i < n; i++) {
		bool m = match(r, snap[i].name);
		if (r->action == RELABEL_LABELMAP && m) {
			const char *name = expand(r, r->replacement, snap[i].name, a);
			if (!name)
				return BM_ENOMEM;
			if (expfmt_valid_label_name(name) && lset_set(ls, name, snap[i].value))
				return BM_ENOMEM;
		} else if ((r->action == RELABEL_LABELDROP && m) ||
			   (r->action == RELABEL_LABELKEEP && !m)) {
			lset_del(ls, snap[i].name);
		}
	}
	return 0;
}

/* One rule: 1 keep going, 0 dropped, BM_ENOMEM. */
static int apply_rule(const struct relabel_rule *r, struct lset *ls, struct bm_arena *a)
{
	if (acts_on_names(r->action))
		return on_names(r, ls, a) ? BM_ENOMEM : 1;
	const char *val = joined(r, ls, a);
	const char *out = NULL;
	if (!val)
		return BM_ENOMEM;
	switch (r->action) {
	case RELABEL_KEEP:
		return match(r, val);
	case RELABEL_DROP:
		return !match(r, val);
	case RELABEL_KEEPEQUAL:
		return strcmp(lset_get(ls, r->target), val) == 0;
	case RELABEL_DROPEQUAL:
		return strcmp(lset_get(ls, r->target), val) != 0;
	case RELABEL_REPLACE:
		return do_replace(r, ls, val, a) ? BM_ENOMEM : 1;
	case RELABEL_HASHMOD:
		out = hashmod(r, val, a);
		break;
	default: /* lowercase, uppercase */
		out = change_case(val, r->action == RELABEL_UPPERCASE, a);
		break;
	}
	return !out || lset_set(ls, r->target, out) ? BM_ENOMEM : 1;
}

/* Out of memory drops the set: publishing a half-relabelled series
 * would be worse than losing it. */
bool relabel_apply(const struct relabel_set *rs, struct lset *ls, struct bm_arena *a)
{
	for (size_t i = 0; i < rs->n; i++)
		if (apply_rule(&rs->v[i], ls, a) <= 0)
			return false;
	return true;
}
