/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL parser: precedence climbing over promql_lex.c's tokens into the
 * tree of promql_ast.h, with Prometheus' type checks (function and
 * aggregation arguments, binary operand types, vector matching rules).
 * Errors read as Prometheus' do: "LINE:COL: parse error: MESSAGE", COL
 * counted in bytes from 1. Hand-written because Prometheus' grammar is a
 * yacc file for Go; a recursive-descent parser is shorter than a bison
 * port and gives the same precedences: ^ (right), then * / % atan2 and
 * unary minus, + -, comparisons, and/unless, or.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql_ast.h"
#include "promql_regex.h"

#define PQ_MAX_DEPTH 200 /* nesting; deeper input is refused, not a stack overflow */

struct parser {
	const char *query;
	struct pq_lexer lx;
	struct pq_token cur;
	struct promql_expr *expr;
	int depth;
	bool failed;
	uint32_t err_pos;
	char err[256];
};

__attribute__((format(printf, 3, 4))) static void fail(struct parser *p, uint32_t pos, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = true;
	p->err_pos = pos;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

static void advance(struct parser *p) { p->cur = pq_lex_next(&p->lx); }

static void fail_unexpected(struct parser *p, const char *context)
{
	char d[96];
	if (p->cur.type == PQ_ERROR)
		fail(p, p->cur.pos, "%s", p->cur.text);
	else
		fail(p, p->cur.pos, "unexpected %s%s%s", pq_tok_describe(&p->cur, d, sizeof(d)),
		     context ? " " : "", context ? context : "");
}

static bool expect(struct parser *p, enum pq_tok t, const char *context)
{
	if (p->cur.type != t) {
		fail_unexpected(p, context);
		return false;
	}
	advance(p);
	return true;
}

static bool is_word(const struct pq_token *t, const char *w)
{
	return t->type == PQ_IDENT && strlen(w) == t->len && strncasecmp(t->text, w, t->len) == 0;
}

static void *alloc(struct parser *p, size_t n)
{
	void *m = bm_arena_alloc(&p->expr->arena, n);
	if (!m)
		fail(p, p->cur.pos, "out of memory");
	else
		memset(m, 0, n);
	return m;
}

static char *dup_text(struct parser *p, const char *s, size_t n)
{
	char *c = bm_arena_strndup(&p->expr->arena, s, n);
	if (!c)
		fail(p, p->cur.pos, "out of memory");
	return c;
}

static struct pq_node *node(struct parser *p, enum pq_node_kind kind, uint32_t pos)
{
	struct pq_node *n = alloc(p, sizeof(*n));
	if (n) {
		n->kind = kind;
		n->pos = pos;
	}
	return n;
}

/* --- keywords -------------------------------------------------------------- */

static const char *const agg_names[] = {
	[PQ_AGG_SUM] = "sum", [PQ_AGG_AVG] = "avg", [PQ_AGG_COUNT] = "count", [PQ_AGG_MIN] = "min",
	[PQ_AGG_MAX] = "max", [PQ_AGG_GROUP] = "group", [PQ_AGG_STDDEV] = "stddev",
	[PQ_AGG_STDVAR] = "stdvar", [PQ_AGG_TOPK] = "topk", [PQ_AGG_BOTTOMK] = "bottomk",
	[PQ_AGG_QUANTILE] = "quantile",
};

static int agg_of(const struct pq_token *t)
{
	for (size_t i = 0; i < sizeof(agg_names) / sizeof(agg_names[0]); i++)
		if (is_word(t, agg_names[i]))
			return (int)i;
	return -1;
}

/* Words that are operators or modifiers, never metric names here. */
static bool is_keyword(const struct pq_token *t)
{
	static const char *const kw[] = {"and", "or", "unless", "atan2", "by", "without", "on",
					 "ignoring", "group_left", "group_right", "bool", "offset",
					 "count_values"};
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (is_word(t, kw[i]))
			return true;
	return false;
}

static bool valid_label_name(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

/* --- binary operators ------------------------------------------------------ */

struct binop_info {
	enum pq_binop op;
	int prec;
	bool right_assoc;
};

static bool binop_of(const struct pq_token *t, struct binop_info *out)
{
	static const struct {
		enum pq_tok tok;
		const char *word;
		struct binop_info info;
	} ops[] = {
		{PQ_POW, NULL, {PQ_OP_POW, 6, true}},   {PQ_MUL, NULL, {PQ_OP_MUL, 5, false}},
		{PQ_DIV, NULL, {PQ_OP_DIV, 5, false}},  {PQ_MOD, NULL, {PQ_OP_MOD, 5, false}},
		{PQ_IDENT, "atan2", {PQ_OP_ATAN2, 5, false}},
		{PQ_ADD, NULL, {PQ_OP_ADD, 4, false}},  {PQ_SUB, NULL, {PQ_OP_SUB, 4, false}},
		{PQ_EQLC, NULL, {PQ_OP_EQL, 3, false}}, {PQ_NEQ, NULL, {PQ_OP_NEQ, 3, false}},
		{PQ_GTR, NULL, {PQ_OP_GTR, 3, false}},  {PQ_LSS, NULL, {PQ_OP_LSS, 3, false}},
		{PQ_GTE, NULL, {PQ_OP_GTE, 3, false}},  {PQ_LTE, NULL, {PQ_OP_LTE, 3, false}},
		{PQ_IDENT, "and", {PQ_OP_AND, 2, false}},
		{PQ_IDENT, "unless", {PQ_OP_UNLESS, 2, false}},
		{PQ_IDENT, "or", {PQ_OP_OR, 1, false}},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (t->type != ops[i].tok || (ops[i].word && !is_word(t, ops[i].word)))
			continue;
		*out = ops[i].info;
		return true;
	}
	return false;
}

static const char *binop_text(enum pq_binop op)
{
	static const char *const t[] = {"+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">",
					"<", ">=", "<=", "and", "or", "unless"};
	return t[op];
}

/* --- expressions ----------------------------------------------------------- */

static struct pq_node *parse_expr(struct parser *p, int min_prec);

/* (a, b, c) of label names, possibly empty, trailing comma allowed. */
static bool parse_label_list(struct parser *p, struct pq_strlist *out)
{
	if (!expect(p, PQ_LPAREN, "in grouping opts, expected \"(\""))
		return false;
	char *names[256];
	size_t n = 0;
	while (p->cur.type == PQ_IDENT) {
		if (!valid_label_name(p->cur.text, p->cur.len)) {
			fail(p, p->cur.pos, "invalid label name \"%.*s\"", (int)p->cur.len, p->cur.text);
			return false;
		}
		if (n == sizeof(names) / sizeof(names[0])) {
			fail(p, p->cur.pos, "too many labels in grouping");
			return false;
		}
		names[n] = dup_text(p, p->cur.text, p->cur.len);
		if (!names[n++])
			return false;
		advance(p);
		if (p->cur.type != PQ_COMMA)
			break;
		advance(p);
	}
	if (!expect(p, PQ_RPAREN, "in grouping opts, expected \")\" or label"))
		return false;
	out->n = n;
	out->v = alloc(p, (n ? n : 1) * sizeof(char *));
	if (!out->v)
		return false;
	memcpy(out->v, names, n * sizeof(char *));
	return true;
}

static char *unquote_token(struct parser *p, const struct pq_token *t)
{
	const char *bad = NULL;
	char *s = pq_unquote(t->text, t->len, &bad);
	if (!s) {
		fail(p, t->pos, "%s", bad);
		return NULL;
	}
	char *c = dup_text(p, s, strlen(s));
	free(s);
	return c;
}

/* Compile a matcher's regex once to report a bad one at parse time. */
static bool check_regex(struct parser *p, const char *re, uint32_t pos)
{
	regex_t r;
	char msg[128];
	int rc = pq_regcomp_anchored(&r, re, REG_NOSUB, msg, sizeof(msg));
	if (rc) {
		fail(p, pos, "error parsing regexp: %s", msg);
		return false;
	}
	regfree(&r);
	return true;
}

/* label op "value" */
static bool parse_matcher(struct parser *p, struct bm_matcher *m)
{
	if (p->cur.type != PQ_IDENT || !valid_label_name(p->cur.text, p->cur.len)) {
		fail_unexpected(p, "in label matching, expected label");
		return false;
	}
	m->name = dup_text(p, p->cur.text, p->cur.len);
	advance(p);
	switch (p->cur.type) {
	case PQ_ASSIGN: m->op = BM_MATCH_EQ; break;
	case PQ_NEQ: m->op = BM_MATCH_NEQ; break;
	case PQ_REGEQ: m->op = BM_MATCH_RE; break;
	case PQ_REGNEQ: m->op = BM_MATCH_NRE; break;
	default: fail_unexpected(p, "in label matching, expected label matching operator"); return false;
	}
	advance(p);
	if (p->cur.type != PQ_STRING) {
		fail_unexpected(p, "in label matching, expected string");
		return false;
	}
	struct pq_token vt = p->cur;
	m->value = unquote_token(p, &vt);
	advance(p);
	if (!m->name || !m->value)
		return false;
	return (m->op != BM_MATCH_RE && m->op != BM_MATCH_NRE) || check_regex(p, m->value, vt.pos);
}

/* Matchers: the metric name (may be NULL) first, then {...}. */
static struct pq_node *parse_selector(struct parser *p, const struct pq_token *name, uint32_t pos)
{
	struct bm_matcher ms[128];
	size_t n = 0;
	if (name)
		ms[n++] = (struct bm_matcher){"__name__", BM_MATCH_EQ,
					      dup_text(p, name->text, name->len)};
	if (p->cur.type == PQ_LBRACE) {
		advance(p);
		while (p->cur.type != PQ_RBRACE && !p->failed) {
			if (n == sizeof(ms) / sizeof(ms[0])) {
				fail(p, p->cur.pos, "too many label matchers");
				return NULL;
			}
			if (!parse_matcher(p, &ms[n]))
				return NULL;
			if (name && strcmp(ms[n].name, "__name__") == 0) {
				fail(p, pos, "metric name must not be set twice: \"%s\" or \"%s\"",
				     ms[0].value, ms[n].value);
				return NULL;
			}
			n++;
			if (p->cur.type == PQ_COMMA)
				advance(p);
			else if (p->cur.type != PQ_RBRACE) {
				fail_unexpected(p, "in label matching, expected \",\" or \"}\"");
				return NULL;
			}
		}
		if (!expect(p, PQ_RBRACE, NULL))
			return NULL;
	}
	/* Prometheus refuses selectors that match every series */
	bool nonempty = false;
	for (size_t i = 0; i < n; i++) {
		regex_t r;
		bool empty_matches;
		if (ms[i].op == BM_MATCH_EQ || ms[i].op == BM_MATCH_NEQ) {
			empty_matches = (strcmp(ms[i].value, "") == 0) == (ms[i].op == BM_MATCH_EQ);
		} else {
			if (pq_regcomp_anchored(&r, ms[i].value, REG_NOSUB, NULL, 0))
				return NULL;
			empty_matches = (regexec(&r, "", 0, NULL, 0) == 0) == (ms[i].op == BM_MATCH_RE);
			regfree(&r);
		}
		nonempty |= !empty_matches;
	}
	if (!nonempty) {
		fail(p, pos, "vector selector must contain at least one non-empty matcher");
		return NULL;
	}
	struct pq_node *s = node(p, PQ_N_VSEL, pos);
	if (!s)
		return NULL;
	s->type = BM_PROMQL_VECTOR;
	s->sel.n_m = n;
	s->sel.m = alloc(p, n * sizeof(*s->sel.m));
	if (!s->sel.m)
		return NULL;
	memcpy(s->sel.m, ms, n * sizeof(*ms));
	return s;
}

static bool parse_duration_token(struct parser *p, int64_t *ms, const char *context)
{
	if (p->cur.type != PQ_DURATION) {
		fail_unexpected(p, context);
		return false;
	}
	bm_parse_duration(p->cur.text, p->cur.len, ms);
	advance(p);
	return true;
}

/* sum by (x) (expr), sum (expr) without (x), topk(3, expr) */
static struct pq_node *parse_aggregation(struct parser *p, enum pq_aggop op, uint32_t pos)
{
	struct pq_node *a = node(p, PQ_N_AGG, pos);
	if (!a)
		return NULL;
	a->agg.op = op;
	a->type = BM_PROMQL_VECTOR;
	bool grouped = false;
	if (is_word(&p->cur, "by") || is_word(&p->cur, "without")) {
		a->agg.without = is_word(&p->cur, "without");
		advance(p);
		if (!parse_label_list(p, &a->agg.grouping))
			return NULL;
		grouped = true;
	}
	if (!expect(p, PQ_LPAREN, "in aggregation, expected \"(\""))
		return NULL;
	bool has_param = op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK || op == PQ_AGG_QUANTILE;
	if (has_param) {
		if (!(a->agg.param = parse_expr(p, 0)) || !expect(p, PQ_COMMA, "in aggregation, expected \",\""))
			return NULL;
	}
	if (p->cur.type == PQ_RPAREN) {
		fail(p, p->cur.pos, "no arguments for aggregate expression provided");
		return NULL;
	}
	if (!(a->agg.expr = parse_expr(p, 0)))
		return NULL;
	if (p->cur.type == PQ_COMMA) {
		fail(p, p->cur.pos, "wrong number of arguments for aggregate expression provided, expected %d, got %d",
		     has_param ? 2 : 1, has_param ? 3 : 2);
		return NULL;
	}
	if (!expect(p, PQ_RPAREN, "in aggregation, expected \")\""))
		return NULL;
	if (is_word(&p->cur, "by") || is_word(&p->cur, "without")) {
		if (grouped) {
			fail(p, p->cur.pos, "aggregation must only contain one grouping clause");
			return NULL;
		}
		a->agg.without = is_word(&p->cur, "without");
		advance(p);
		if (!parse_label_list(p, &a->agg.grouping))
			return NULL;
	}
	if (has_param && a->agg.param->type != BM_PROMQL_SCALAR) {
		fail(p, a->agg.param->pos, "expected type scalar in aggregation parameter, got %s",
		     pq_type_name(a->agg.param->type));
		return NULL;
	}
	if (a->agg.expr->type != BM_PROMQL_VECTOR) {
		fail(p, a->agg.expr->pos, "expected type instant vector in aggregation expression, got %s",
		     pq_type_name(a->agg.expr->type));
		return NULL;
	}
	return a;
}

static struct pq_node *parse_call(struct parser *p, const struct pq_func *fn, uint32_t pos)
{
	struct pq_node *args[8];
	size_t n = 0;
	advance(p); /* ( */
	while (p->cur.type != PQ_RPAREN && !p->failed) {
		if (n == sizeof(args) / sizeof(args[0])) {
			fail(p, p->cur.pos, "too many arguments");
			return NULL;
		}
		if (!(args[n++] = parse_expr(p, 0)))
			return NULL;
		if (p->cur.type == PQ_COMMA)
			advance(p);
		else if (p->cur.type != PQ_RPAREN) {
			fail_unexpected(p, "in function call, expected \",\" or \")\"");
			return NULL;
		}
	}
	if (!expect(p, PQ_RPAREN, NULL))
		return NULL;
	if (n < fn->min_args || n > fn->n_args) {
		if (fn->min_args == fn->n_args)
			fail(p, pos, "expected %zu argument(s) in call to \"%s\", got %zu", fn->n_args,
			     fn->name, n);
		else
			fail(p, pos, "expected at most %zu argument(s) in call to \"%s\", got %zu",
			     fn->n_args, fn->name, n);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (args[i]->type != fn->args[i]) {
			fail(p, args[i]->pos, "expected type %s in call to function \"%s\", got %s",
			     pq_type_name(fn->args[i]), fn->name, pq_type_name(args[i]->type));
			return NULL;
		}
	}
	struct pq_node *c = node(p, PQ_N_CALL, pos);
	if (!c)
		return NULL;
	c->type = fn->ret;
	c->call.fn = fn;
	c->call.n_args = n;
	c->call.args = alloc(p, (n ? n : 1) * sizeof(*c->call.args));
	if (!c->call.args)
		return NULL;
	memcpy(c->call.args, args, n * sizeof(*args));
	return c;
}

static struct pq_node *parse_number(struct parser *p)
{
	struct pq_node *n = node(p, PQ_N_NUM, p->cur.pos);
	if (!n)
		return NULL;
	char buf[64];
	snprintf(buf, sizeof(buf), "%.*s", (int)(p->cur.len < 63 ? p->cur.len : 63), p->cur.text);
	/* Go's ParseInt(s, 0, 64) first (so 0755 is octal, 0x1f hex), then
	 * ParseFloat, as Prometheus' parser.number does */
	char *end;
	errno = 0;
	long long i = strtoll(buf, &end, 0);
	if (*end == '\0' && errno == 0)
		n->num = (double)i;
	else
		n->num = strtod(buf, &end);
	n->type = BM_PROMQL_SCALAR;
	advance(p);
	return n;
}

/* What a word at the start of an operand means: an aggregation, a call,
 * or a metric name. */
static struct pq_node *parse_word(struct parser *p)
{
	struct pq_token w = p->cur;
	int agg = agg_of(&w);
	advance(p);
	if (agg >= 0 && (p->cur.type == PQ_LPAREN || is_word(&p->cur, "by") || is_word(&p->cur, "without")))
		return parse_aggregation(p, (enum pq_aggop)agg, w.pos);
	if (p->cur.type == PQ_LPAREN) {
		const struct pq_func *fn = pq_func_lookup(w.text, w.len);
		if (!fn) {
			fail(p, w.pos, "unknown function with name \"%.*s\"", (int)w.len, w.text);
			return NULL;
		}
		return parse_call(p, fn, w.pos);
	}
	if (is_keyword(&w)) {
		p->cur = w; /* report the keyword itself */
		fail_unexpected(p, NULL);
		return NULL;
	}
	return parse_selector(p, &w, w.pos);
}

static struct pq_node *parse_primary(struct parser *p)
{
	uint32_t pos = p->cur.pos;
	switch (p->cur.type) {
	case PQ_NUMBER: return parse_number(p);
	case PQ_STRING: {
		struct pq_node *s = node(p, PQ_N_STR, pos);
		if (s) {
			s->type = BM_PROMQL_STRING;
			s->str = unquote_token(p, &p->cur);
			advance(p);
		}
		return p->failed ? NULL : s;
	}
	case PQ_LPAREN: {
		advance(p);
		struct pq_node *in = parse_expr(p, 0);
		if (!in || !expect(p, PQ_RPAREN, NULL))
			return NULL;
		struct pq_node *paren = node(p, PQ_N_PAREN, pos);
		if (paren) {
			paren->inner = in;
			paren->type = in->type;
		}
		return paren;
	}
	case PQ_LBRACE: return parse_selector(p, NULL, pos);
	case PQ_IDENT: return parse_word(p);
	default: fail_unexpected(p, NULL); return NULL;
	}
}

/* [range], offset d, after a selector. */
static struct pq_node *parse_postfix(struct parser *p, struct pq_node *n)
{
	while (n && !p->failed) {
		if (p->cur.type == PQ_LBRACKET) {
			uint32_t at = p->cur.pos;
			advance(p);
			if (n->kind != PQ_N_VSEL) {
				fail(p, at, n->kind == PQ_N_MSEL ? "unexpected \"[\"" : "ranges only allowed for vector selectors");
				return NULL;
			}
			if (n->sel.has_offset) {
				fail(p, at, "no offset modifiers allowed before range");
				return NULL;
			}
			int64_t range;
			if (!parse_duration_token(p, &range, "in subquery or range selector, expected duration"))
				return NULL;
			if (p->cur.type == PQ_COLON) {
				fail(p, p->cur.pos, "subqueries are not supported by bearmon");
				return NULL;
			}
			if (!expect(p, PQ_RBRACKET, "in range selector, expected \"]\""))
				return NULL;
			if (range <= 0) {
				fail(p, at, "range must be greater than 0");
				return NULL;
			}
			n->kind = PQ_N_MSEL;
			n->type = BM_PROMQL_MATRIX;
			n->sel.range_ms = range;
		} else if (is_word(&p->cur, "offset")) {
			uint32_t at = p->cur.pos;
			advance(p);
			if (n->kind != PQ_N_VSEL && n->kind != PQ_N_MSEL) {
				fail(p, at, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
				return NULL;
			}
			if (n->sel.has_offset) {
				fail(p, at, "offset may not be set multiple times");
				return NULL;
			}
			bool neg = p->cur.type == PQ_SUB;
			if (neg || p->cur.type == PQ_ADD)
				advance(p);
			if (!parse_duration_token(p, &n->sel.offset_ms, "in offset, expected duration"))
				return NULL;
			if (neg)
				n->sel.offset_ms = -n->sel.offset_ms;
			n->sel.has_offset = true;
		} else if (p->cur.type == PQ_AT) {
			fail(p, p->cur.pos, "the @ modifier is not supported by bearmon");
			return NULL;
		} else {
			break;
		}
	}
	return n;
}

/* -x binds like *: tighter than + and -, looser than ^. */
static struct pq_node *parse_unary(struct parser *p)
{
	if (++p->depth > PQ_MAX_DEPTH) {
		fail(p, p->cur.pos, "expression nested too deeply");
		return NULL;
	}
	struct pq_node *r;
	if (p->cur.type == PQ_SUB || p->cur.type == PQ_ADD) {
		bool neg = p->cur.type == PQ_SUB;
		uint32_t pos = p->cur.pos;
		advance(p);
		struct pq_node *in = parse_expr(p, 6);
		if (!in) {
			r = NULL;
		} else if (in->type != BM_PROMQL_SCALAR && in->type != BM_PROMQL_VECTOR) {
			fail(p, pos, "unary expression only allowed on expressions of type scalar or instant vector, got %s",
			     pq_type_name(in->type));
			r = NULL;
		} else if (in->kind == PQ_N_NUM) {
			/* Prometheus folds the sign into a number literal */
			in->num = neg ? -in->num : in->num;
			in->pos = pos;
			r = in;
		} else if (!neg) {
			r = in;
		} else if ((r = node(p, PQ_N_NEG, pos))) {
			r->inner = in;
			r->type = in->type;
		}
	} else {
		r = parse_postfix(p, parse_primary(p));
	}
	p->depth--;
	return r;
}

/* bool, on(...)/ignoring(...), group_left(...)/group_right(...) */
static bool parse_bin_modifiers(struct parser *p, struct pq_node *b)
{
	if (is_word(&p->cur, "bool")) {
		b->bin.ret_bool = true;
		advance(p);
	}
	if (is_word(&p->cur, "on") || is_word(&p->cur, "ignoring")) {
		b->bin.on = is_word(&p->cur, "on");
		b->bin.has_matching = true;
		advance(p);
		if (!parse_label_list(p, &b->bin.labels))
			return false;
		if (is_word(&p->cur, "group_left") || is_word(&p->cur, "group_right")) {
			b->bin.card = is_word(&p->cur, "group_left") ? PQ_CARD_MANY_TO_ONE
								      : PQ_CARD_ONE_TO_MANY;
			advance(p);
			if (p->cur.type == PQ_LPAREN && !parse_label_list(p, &b->bin.include))
				return false;
		}
	}
	return !p->failed;
}

static bool is_operand_type(enum bm_promql_type t) { return t == BM_PROMQL_SCALAR || t == BM_PROMQL_VECTOR; }

/* Prometheus' checkAST rules for a binary expression. */
static bool check_binary(struct parser *p, struct pq_node *b, uint32_t op_pos)
{
	enum bm_promql_type lt = b->bin.lhs->type, rt = b->bin.rhs->type;
	enum pq_binop op = b->bin.op;
	if (!is_operand_type(lt) || !is_operand_type(rt)) {
		fail(p, b->pos, "binary expression must contain only scalar and instant vector types");
		return false;
	}
	bool scalars = lt == BM_PROMQL_SCALAR && rt == BM_PROMQL_SCALAR;
	if (b->bin.ret_bool && !pq_op_is_comparison(op)) {
		fail(p, op_pos, "bool modifier can only be used on comparison operators");
		return false;
	}
	if (pq_op_is_comparison(op) && scalars && !b->bin.ret_bool) {
		fail(p, op_pos, "comparisons between scalars must use BOOL modifier");
		return false;
	}
	if (pq_op_is_set(op)) {
		if (lt == BM_PROMQL_SCALAR || rt == BM_PROMQL_SCALAR) {
			fail(p, op_pos, "set operator \"%s\" not allowed in binary scalar expression", binop_text(op));
			return false;
		}
		if (b->bin.card == PQ_CARD_MANY_TO_ONE || b->bin.card == PQ_CARD_ONE_TO_MANY) {
			fail(p, op_pos, "no grouping allowed for \"%s\" operation", binop_text(op));
			return false;
		}
		b->bin.card = PQ_CARD_MANY_TO_MANY;
	}
	if (b->bin.has_matching && (lt != BM_PROMQL_VECTOR || rt != BM_PROMQL_VECTOR)) {
		fail(p, op_pos, "vector matching only allowed between instant vectors");
		return false;
	}
	for (size_t i = 0; b->bin.on && i < b->bin.include.n; i++)
		for (size_t j = 0; j < b->bin.labels.n; j++)
			if (strcmp(b->bin.include.v[i], b->bin.labels.v[j]) == 0) {
				fail(p, op_pos, "label \"%s\" must not occur in ON and GROUP clause at once",
				     b->bin.include.v[i]);
				return false;
			}
	b->type = scalars ? BM_PROMQL_SCALAR : BM_PROMQL_VECTOR;
	return true;
}

static struct pq_node *parse_expr(struct parser *p, int min_prec)
{
	struct pq_node *lhs = parse_unary(p);
	struct binop_info bi;
	while (lhs && !p->failed && binop_of(&p->cur, &bi) && bi.prec >= min_prec) {
		uint32_t op_pos = p->cur.pos;
		advance(p);
		struct pq_node *b = node(p, PQ_N_BIN, lhs->pos);
		if (!b || !parse_bin_modifiers(p, b))
			return NULL;
		b->bin.op = bi.op;
		b->bin.lhs = lhs;
		if (++p->depth > PQ_MAX_DEPTH) {
			fail(p, p->cur.pos, "expression nested too deeply");
			return NULL;
		}
		b->bin.rhs = parse_expr(p, bi.right_assoc ? bi.prec : bi.prec + 1);
		p->depth--;
		if (!b->bin.rhs || !check_binary(p, b, op_pos))
			return NULL;
		lhs = b;
	}
	return p->failed ? NULL : lhs;
}

/* "LINE:COL: parse error: MSG" with COL in bytes from 1, as Prometheus. */
static void format_error(const struct parser *p, char *err, size_t n)
{
	int line = 1;
	size_t last_nl = 0;
	bool had_nl = false;
	for (size_t i = 0; i < p->err_pos && p->query[i]; i++)
		if (p->query[i] == '\n') {
			line++;
			last_nl = i;
			had_nl = true;
		}
	size_t col = had_nl ? p->err_pos - last_nl : p->err_pos + 1;
	snprintf(err, n, "%d:%zu: parse error: %s", line, col, p->err);
}

struct promql_expr *promql_parse(const char *text, char *err, size_t errlen)
{
	struct parser p = {.query = text};
	char dummy[8];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	p.expr = calloc(1, sizeof(*p.expr));
	if (!p.expr) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pq_lex_init(&p.lx, text, strlen(text));
	advance(&p);
	if (p.cur.type == PQ_EOF)
		fail(&p, 0, "no expression found in input");
	else
		p.expr->root = parse_expr(&p, 0);
	if (!p.failed && p.cur.type != PQ_EOF)
		fail_unexpected(&p, NULL);
	if (p.failed) {
		format_error(&p, err, errlen);
		promql_expr_free(p.expr);
		return NULL;
	}
	return p.expr;
}

void promql_expr_free(struct promql_expr *e)
{
	if (!e)
		return;
	bm_arena_free(&e->arena);
	free(e);
}

enum bm_promql_type promql_expr_type(const struct promql_expr *e) { return e->root->type; }

const char *pq_type_name(enum bm_promql_type t)
{
	switch (t) {
	case BM_PROMQL_SCALAR: return "scalar";
	case BM_PROMQL_VECTOR: return "instant vector";
	case BM_PROMQL_MATRIX: return "range vector";
	case BM_PROMQL_STRING: return "string";
	default: return "invalid";
	}
}
