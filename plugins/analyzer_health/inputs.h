/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What analyzer/health knows: which components have data (from the metric
 * stream), the collectors' and agents' state (the host's self-metrics and
 * agent_up), and the findings, anomalies and forecasts of the other
 * analyzers. The metric side is written by the metric delivery thread and
 * the event side by the main loop; the plugin locks around both.
 */
#ifndef BEARMON_HEALTH_INPUTS_H
#define BEARMON_HEALTH_INPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

/* The components every host has a score for (agent:<id> come and go). */
enum hc_component {
	HC_CPU,
	HC_MEMORY,
	HC_DISK,
	HC_NETWORK,
	HC_GPU,
	HC_AGENTS,
	HC_MODELS,
	HC_CONTAINERS,
	HC_BEARMON, /* bearmon itself: its collectors */
	HC_N_FIXED,
	HC_NONE = -1,
};

extern const char *const hc_names[HC_N_FIXED];

/* The fixed component of a resource ("disk:sda" -> disk), HC_NONE if none;
 * an agent resource is also a component of its own. */
enum hc_component hc_of_resource(const char *resource);
/* The component a collector plugin ("collector/cpu") feeds besides
 * bearmon itself; HC_NONE when none. */
enum hc_component hc_of_collector(const char *plugin);

struct hi_agent {
	char *id;	 /* the agent label */
	int64_t data_ms; /* newest sample of any of its series */
	bool down;	 /* agent_up was 0 in its newest sample */
};

struct hi_collector {
	char *instance;
	char *plugin; /* "collector/cpu" */
	bool failing; /* bearmon_plugin_collect_success 0 */
	double collections;
	int64_t changed_ms; /* when collections last went up */
	int64_t period_ms;  /* between its last two increases */
	int64_t seen_ms;
};

struct hi_finding {
	char *id;
	char *resource;
	char *summary;
	char *series; /* first evidence series, or NULL */
	char *label_name;
	char *label_value;
	enum bm_severity severity;
	double impact;
	int64_t ts_ms; /* newest publication */
};

struct hi_anomaly {
	char *resource;
	char *series;
	double score;
	int64_t ts_ms;
};

struct hi_forecast {
	char *resource;
	char *series;
	char *text;
	double confidence;
	int64_t ts_ms;
};

#define HI_MAX_ANOMALIES  1024
#define HI_MAX_FORECASTS  256
#define HI_MAX_COLLECTORS 512

struct health_inputs {
	/* metric side */
	int64_t data_ms[HC_N_FIXED];
	struct hi_agent *agents;
	size_t n_agents, cap_agents, max_agents;
	struct hi_collector *coll;
	size_t n_coll, cap_coll;
	/* event side */
	struct hi_finding *findings;
	size_t n_findings, cap_findings, max_findings;
	struct hi_anomaly anomalies[HI_MAX_ANOMALIES]; /* ring */
	size_t n_anomalies, next_anomaly;
	struct hi_forecast forecasts[HI_MAX_FORECASTS];
	size_t n_forecasts;
};

/* A metric batch: presence, collectors, agent_up. 0 or BM_ENOMEM. */
int hi_metrics(struct health_inputs *hi, const struct bm_metric_batch *mb);
/* A bottleneck event: kept until resolved (severity info with impact 0)
 * or no longer re-published. 0 or BM_ENOMEM. */
int hi_bottleneck(struct health_inputs *hi, const struct bm_bottleneck_event *e);
/* An anomaly on a series of a known component. 0 or BM_ENOMEM. */
int hi_anomaly(struct health_inputs *hi, const struct bm_anomaly_event *e);
/* A forecast that crosses its threshold within window_ms. 0 or BM_ENOMEM. */
int hi_forecast(struct health_inputs *hi, const struct bm_forecast_event *e, int64_t window_ms);

/* Forget what is older than its time to live: findings not re-published
 * for finding_ttl_ms, anomalies out of anomaly_window_ms, forecasts older
 * than forecast_window_ms, agents and collectors without data for
 * forget_ms. */
void hi_expire(struct health_inputs *hi, int64_t now_ms, int64_t finding_ttl_ms,
	       int64_t anomaly_window_ms, int64_t forecast_window_ms, int64_t forget_ms);
void hi_free(struct health_inputs *hi);

#endif
