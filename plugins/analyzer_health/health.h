/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analyzer/health: its configuration, shared by the plugin and the scoring.
 */
#ifndef BEARMON_HEALTH_H
#define BEARMON_HEALTH_H

#include <stdint.h>

struct health_conf {
	int64_t stale_after_ms;	    /* a component without data this long is unknown */
	int64_t finding_ttl_ms;	    /* a finding not re-published this long is dropped */
	int64_t anomaly_window_ms;  /* anomalies count this long */
	int64_t forecast_window_ms; /* forecasts crossing within this horizon count */
	double warning_penalty;	    /* per warning finding */
	double critical_penalty;    /* per critical finding */
	double impact_penalty;	    /* times the finding's impact, on top */
	double anomaly_penalty;	    /* per anomalous series, times its best score */
	double anomaly_penalty_max; /* anomalies take at most this per component */
	double forecast_penalty;    /* per crossing forecast, scaled by confidence */
	double collector_penalty;   /* per failing or stalled collector */
	double agent_down_penalty;  /* per agent whose agent_up is 0 */
	double spread_penalty;	    /* overall: per further component not ok */
	double degraded_below;	    /* status degraded under this score */
	double critical_below;	    /* status critical under this score */
	int64_t max_reasons;	    /* reasons kept per component */
	int64_t max_agents;	    /* agent components kept */
	int64_t max_findings;	    /* findings kept */
	char *route;		    /* HTTP path; "" none */
};

#endif
