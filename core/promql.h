/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PromQL engine: parse an expression, evaluate it over a series source
 * (the store, or a fake in tests) as Prometheus 2.x does (lookback,
 * staleness, step alignment, extrapolated rates), and hand back the
 * result. The query API, the host API's promql entry and the rule engine
 * all come through here, so the language means the same everywhere.
 */
#ifndef BEARMON_CORE_PROMQL_H
#define BEARMON_CORE_PROMQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bearmon/bm_event.h"
#include "bearmon/bm_host.h"

/* Where evaluation reads series: the store's query functions fit as they
 * are (store_series, store_raw with the store as ctx). */
struct promql_source {
	void *ctx;
	/* every series matching all matchers; cb gets its canonical text
	 * name{a="x",...}; returns the count or a BM_E* code */
	long (*series)(void *ctx, const struct bm_matcher *m, size_t n,
		       void (*cb)(void *u, int64_t id, const char *text), void *u);
	/* samples of series id with start <= ts <= end, oldest first, stale
	 * markers included */
	long (*raw)(void *ctx, int64_t id, int64_t start_ms, int64_t end_ms,
		    void (*cb)(void *u, int64_t ts_ms, double v), void *u);
};

struct promql_opts {
	int64_t lookback_ms;  /* 0: Prometheus' default, 5 minutes */
	uint64_t max_samples; /* samples one query may load; 0: 5 million */
};

/* What went wrong, and the HTTP status Prometheus answers with. */
enum promql_status {
	PROMQL_OK = 0,
	PROMQL_EPARSE = -1,  /* 400 bad_data: "1:10: parse error: ..." */
	PROMQL_EBADARG = -2, /* 400 bad_data: bad time, step, too many points */
	PROMQL_EEXEC = -3,   /* 422 execution: many-to-many matching, duplicate labelsets */
	PROMQL_ELIMIT = -4,  /* 422 execution: too many samples */
	PROMQL_ESTORE = -5,  /* 500 internal: the store failed */
	PROMQL_ENOMEM = -6,  /* 500 internal */
};

struct promql_expr; /* a parsed expression */

/* Parse text; NULL with err filled ("1:10: parse error: ...") on failure
 * (err may be NULL). */
struct promql_expr *promql_parse(const char *text, char *err, size_t errlen);
void promql_expr_free(struct promql_expr *e);
/* The expression's type: scalar, (instant) vector, matrix (range vector) or
 * string. */
enum bm_promql_type promql_expr_type(const struct promql_expr *e);

/* One series of a result: labels sorted by name with __name__ among them
 * (when kept); points oldest first. */
struct promql_series {
	const struct bm_label *labels;
	uint32_t n_labels;
	const int64_t *t;
	const double *v;
	size_t n;
};

struct promql_result {
	enum bm_promql_type type;
	struct promql_series *series; /* vector and matrix */
	size_t n_series;
	int64_t t;                    /* scalar and string: evaluation time */
	double scalar;
	const char *str;
	void *priv; /* owned memory */
};

/*
 * Evaluate e at start_ms (instant: step_ms == 0, end_ms == start_ms) or at
 * start_ms, start_ms + step_ms, ... <= end_ms (range: the result is a
 * matrix, series sorted by labels; a scalar becomes one series without
 * labels; range vectors and strings are refused). res is filled on
 * PROMQL_OK and must be freed with promql_result_free; on failure err
 * says why.
 */
int promql_eval(const struct promql_source *src, const struct promql_opts *opt,
		const struct promql_expr *e, int64_t start_ms, int64_t end_ms, int64_t step_ms,
		struct promql_result *res, char *err, size_t errlen);
void promql_result_free(struct promql_result *res);

/* Parse and evaluate in one call, as the host API promql entry does: the
 * status, or PROMQL_OK with *out filled. */
int promql_query(const struct promql_source *src, const struct promql_opts *opt,
		 const char *expr, int64_t start_ms, int64_t end_ms, int64_t step_ms,
		 struct promql_result *out, char *err, size_t errlen);

/* Each label of a store series text name{a="x",...} (the name as
 * "__name__"), unescaped, in order; 0 or PROMQL_ENOMEM. */
int promql_series_text_each(const char *text, void (*cb)(void *u, const char *name, const char *value),
			void *u);

/* The host API's BM_E* code for a status (bm_host.h, promql entry). */
int promql_status_errcode(int status);

#endif
