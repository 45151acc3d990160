/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the PromQL engine: tokens (promql_lex.c), the syntax tree the
 * parser builds (promql_parse.c) and the evaluator walks (promql_eval.c),
 * and the function table shared by the type checker and the evaluator
 * (promql_func.c).
 */
#ifndef BEARMON_CORE_PROMQL_AST_H
#define BEARMON_CORE_PROMQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "promql.h"

/* --- tokens ---------------------------------------------------------------- */

enum pq_tok {
	PQ_EOF,
	PQ_ERROR, /* the lexer's message is in the token text */
	PQ_IDENT, /* [a-zA-Z_:][a-zA-Z0-9_:]*, keywords included */
	PQ_NUMBER,
	PQ_DURATION,
	PQ_STRING,
	PQ_LBRACE,
	PQ_RBRACE,
	PQ_LPAREN,
	PQ_RPAREN,
	PQ_LBRACKET,
	PQ_RBRACKET,
	PQ_COMMA,
	PQ_COLON,
	PQ_AT,
	PQ_ASSIGN, /* = */
	PQ_EQLC,   /* == */
	PQ_NEQ,
	PQ_REGEQ,
	PQ_REGNEQ,
	PQ_LSS,
	PQ_LTE,
	PQ_GTR,
	PQ_GTE,
	PQ_ADD,
	PQ_SUB,
	PQ_MUL,
	PQ_DIV,
	PQ_MOD,
	PQ_POW,
};

struct pq_token {
	enum pq_tok type;
	uint32_t pos; /* byte offset in the query */
	uint32_t len;
	const char *text; /* points into the query (PQ_ERROR: a static message) */
};

struct pq_lexer {
	const char *in;
	size_t len, pos;
	int bracket_depth; /* inside [...]: a number followed by a unit is a duration */
};

void pq_lex_init(struct pq_lexer *lx, const char *in, size_t len);
/* The next token; PQ_EOF at the end, PQ_ERROR with a message. */
struct pq_token pq_lex_next(struct pq_lexer *lx);
/* Short description of a token for error messages ("end of input",
 * "identifier \"foo\"", ...) into buf. */
const char *pq_tok_describe(const struct pq_token *t, char *buf, size_t n);
/* A Go-syntax string literal ("...", '...', `...`) into a malloc'd
 * string; NULL when the escapes are invalid (*bad gets a message). */
char *pq_unquote(const char *s, size_t n, const char **bad);

/* --- syntax tree ----------------------------------------------------------- */

enum pq_node_kind { PQ_N_NUM, PQ_N_STR, PQ_N_VSEL, PQ_N_MSEL, PQ_N_CALL, PQ_N_AGG, PQ_N_BIN,
		    PQ_N_NEG, PQ_N_PAREN };

enum pq_binop {
	PQ_OP_ADD, PQ_OP_SUB, PQ_OP_MUL, PQ_OP_DIV, PQ_OP_MOD, PQ_OP_POW, PQ_OP_ATAN2,
	PQ_OP_EQL, PQ_OP_NEQ, PQ_OP_GTR, PQ_OP_LSS, PQ_OP_GTE, PQ_OP_LTE,
	PQ_OP_AND, PQ_OP_OR, PQ_OP_UNLESS,
};

static inline bool pq_op_is_comparison(enum pq_binop op) { return op >= PQ_OP_EQL && op <= PQ_OP_LTE; }
static inline bool pq_op_is_set(enum pq_binop op) { return op >= PQ_OP_AND; }

enum pq_aggop { PQ_AGG_SUM, PQ_AGG_AVG, PQ_AGG_COUNT, PQ_AGG_MIN, PQ_AGG_MAX, PQ_AGG_GROUP,
		PQ_AGG_STDDEV, PQ_AGG_STDVAR, PQ_AGG_TOPK, PQ_AGG_BOTTOMK, PQ_AGG_QUANTILE };

enum pq_card { PQ_CARD_ONE_TO_ONE, PQ_CARD_MANY_TO_ONE, PQ_CARD_ONE_TO_MANY, PQ_CARD_MANY_TO_MANY };

struct pq_strlist {
	char **v;
	size_t n;
};

struct pq_func;

struct pq_node {
	enum pq_node_kind kind;
	enum bm_promql_type type;
	uint32_t pos; /* where the node starts in the query */
	union {
		double num;
		char *str;
		struct {
			struct bm_matcher *m; /* __name__ among them when named */
			size_t n_m;
			int64_t offset_ms;
			int64_t range_ms; /* PQ_N_MSEL */
			bool has_offset;
		} sel;
		struct {
			const struct pq_func *fn;
			struct pq_node **args;
			size_t n_args;
		} call;
		struct {
			enum pq_aggop op;
			struct pq_node *param; /* topk, bottomk, quantile */
			struct pq_node *expr;
			struct pq_strlist grouping;
			bool without;
		} agg;
		struct {
			enum pq_binop op;
			struct pq_node *lhs, *rhs;
			bool ret_bool;
			bool on;                  /* on(...) rather than ignoring(...) */
			bool has_matching;        /* on or ignoring was written */
			struct pq_strlist labels; /* of on / ignoring */
			enum pq_card card;
			struct pq_strlist include; /* group_left/right(...) */
		} bin;
		struct pq_node *inner; /* PQ_N_NEG, PQ_N_PAREN */
	};
};

struct promql_expr {
	struct pq_node *root;
	struct bm_arena arena; /* every node and string */
};

/* --- functions ------------------------------------------------------------- */

struct pq_ev;
struct pq_vec;

/* A range-vector function over one window of samples (stale markers
 * removed); false when it has no value. ts: the evaluation time, range_ms
 * and offset_ms: the selector's, arg: the scalar argument (predict_linear's
 * duration, quantile_over_time's quantile) at this step. */
struct pq_window {
	const int64_t *t;
	const double *v;
	size_t n;
	int64_t ts, range_ms, offset_ms;
	double arg;
};
typedef bool (*pq_range_fn)(const struct pq_window *w, double *out);
/* An instant-vector function at one step: in (with args[] its scalar
 * arguments) into out. Returns 0 or a PROMQL_E* status. */
struct pq_fn_state; /* per call site, kept across steps (a compiled regex) */
typedef int (*pq_vec_fn)(struct pq_ev *ev, struct pq_fn_state *st, const struct pq_vec *in,
			 const double *args, const char *const *strs, struct pq_vec *out);

/* Functions the evaluator runs itself, because they look at the step
 * times, the argument's syntax or the whole series rather than one
 * vector at a time. */
enum pq_special { PQ_FN_PLAIN, PQ_FN_TIME, PQ_FN_VECTOR, PQ_FN_SCALAR, PQ_FN_TIMESTAMP,
		  PQ_FN_ABSENT, PQ_FN_ABSENT_OVER_TIME };

struct pq_func {
	const char *name;
	enum pq_special special;
	enum bm_promql_type args[5];
	size_t n_args;     /* declared */
	size_t min_args;   /* fewer than n_args when the tail is optional */
	enum bm_promql_type ret;
	size_t matrix_arg; /* index of the range-vector argument (range functions) */
	pq_range_fn range;
	pq_vec_fn vec;
	bool keep_name; /* last_over_time, sort, label_replace, ... */
};

/* The function named name (case-sensitive, as in Prometheus), or NULL. */
const struct pq_func *pq_func_lookup(const char *name, size_t len);

const char *pq_type_name(enum bm_promql_type t);

#endif
