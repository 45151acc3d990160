/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the dimension optimizers (optimizer/resource, model, coordination)
 * share: the inputs they act on, kept from the bus on the main loop (open
 * bottleneck findings, forecasts that cross their threshold, the agent
 * registry), a timer that runs the plugin's rules every interval, the
 * store lookups the rules need (an agent's current setting, a cgroup's
 * limit), and publishing a candidate with its expiry.
 */
#ifndef BEARMON_OPT_DIMOPT_H
#define BEARMON_OPT_DIMOPT_H

#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>

#include <stdbool.h>
#include <stdint.h>

#include "agents.h"
#include "kvl.h"

/* An open bottleneck finding (resolved ones are dropped). */
struct dim_finding {
	char *id, *resource, *summary;
	int kind, severity;
	double impact;
	struct kvl evidence; /* evidence series text -> value, in order */
	int64_t ts_ms;
};

/* A forecast crossing its threshold within the window. */
struct dim_forecast {
	char *series;        /* selector text of the whole series */
	char *name;
	struct kvl labels;
	double threshold;
	int cross;           /* enum bm_cross */
	int64_t ttt_ms, ts_ms;
	double confidence;
};

struct dimopt;
/* The plugin's rules, run every interval on the main loop. */
typedef void (*dim_rules_fn)(void *owner, struct dimopt *d, int64_t now_ms);

struct dimopt {
	struct bm_ctx *ctx;
	dim_rules_fn rules;
	void *owner;
	int64_t window_ms;   /* forecasts crossing within this count */
	int64_t ttl_ms;      /* findings and forecasts not refreshed this long go */
	struct oagents agents;
	struct dim_finding *fn;
	size_t n_fn, cap_fn;
	struct dim_forecast *fc;
	size_t n_fc, cap_fc;
	struct bm_sub *subs[3];
	struct bm_timer *timer;
	struct bm_arena arena;
	struct bm_buf buf;
	size_t published_this_round, max_per_round;
	uint64_t n_published, n_decode_errors, n_capped;
};

/* Set up (nothing subscribed yet). */
void dim_init(struct dimopt *d, struct bm_ctx *ctx, dim_rules_fn rules, void *owner,
	      int64_t window_ms, size_t max_per_round);
/* Subscribe (bottleneck, forecast, agent; main loop) and start the timer. */
int dim_start(struct dimopt *d, struct bm_err *err);
void dim_stop(struct dimopt *d);
void dim_free(struct dimopt *d);
/* Run the rules now (the timer's work; tests call it). */
void dim_round(struct dimopt *d, int64_t now_ms);
/* Feed one bus event (the subscription's work; tests call it). */
void dim_on_event(void *user, const char *topic, const void *body, size_t len);

/* Publish c: ts, expiry (three intervals) and optimizer (the instance
 * name) are filled when unset. At most max_per_round per round. */
int dim_publish(struct dimopt *d, struct bm_candidate_event *c, int64_t now_ms);
/* An agent command candidate "PREFIX:AGENT": command, with argument value
 * unless value is NULL (then not reversible through `previous`). */
struct dim_command {
	const char *prefix, *agent, *command, *value;
	const struct bm_impact *impacts;
	size_t n_impacts;
	double benefit, risk, confidence;
	const char *dimension, *reason;
};
int dim_agent_command(struct dimopt *d, const struct dim_command *c, int64_t now_ms);
/* A recommendation for people (actuator "manual"): "PREFIX:TARGET" with
 * the technique and its details as parameters. */
int dim_manual(struct dimopt *d, const char *prefix, const char *target, const struct bm_kv *params,
	       size_t n_params, const struct bm_impact *impacts, size_t n_impacts,
	       const char *dimension, const char *reason, int64_t now_ms);
/* name{label="value"}, or name alone when label is NULL. */
void dim_selector(char *buf, size_t n, const char *name, const char *label, const char *value);
/* An agent's p95 task duration series, agent_task_duration_seconds{agent,quantile="0.95"}. */
void dim_latency_selector(char *buf, size_t n, const char *agent);

/* The newest value of name{label="value"} (any other labels; the largest
 * when several series match), NaN when the store has none. */
double dim_latest(struct dimopt *d, const char *name, const char *label, const char *value,
		  int64_t now_ms);
/* The newest value of what a selector matches (the largest of several),
 * NaN when the store has none or the selector does not parse. */
double dim_latest_sel(struct dimopt *d, const char *selector, int64_t now_ms);
/* The label's value in a finding's resource "kind:VALUE" (agent:ID ->
 * ID) when it starts with prefix, else NULL. */
const char *dim_resource_of(const struct dim_finding *f, const char *prefix);

#endif
