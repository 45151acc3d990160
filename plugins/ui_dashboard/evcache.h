/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The analysis, alerting, optimizer and agent events seen since start, as
 * JSON (bm_event_to_json): the newest per finding (bottleneck id, health
 * component, agent, alert fingerprint, recommendation, trend and forecast
 * of a series, insight) and the latest anomalies and actions. The snapshot
 * and the MCP tools answer from it. Bounded; not thread safe (the main
 * loop owns it). Shared by ui_dashboard and ui_mcp. Entries keep the
 * event's text, parsed again when read: a parsed jansson tree takes
 * several times the memory, and the cache is read far less often than it
 * is written (under the soak, heaptrack showed its trees as the growth).
 */
#ifndef BEARMON_DASHBOARD_EVCACHE_H
#define BEARMON_DASHBOARD_EVCACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum ec_kind {
	EC_ANOMALY,
	EC_ACTION,
	EC_ALERT,
	EC_BOTTLENECK,
	EC_HEALTH,
	EC_AGENT,
	EC_RECOMMENDATION,
	EC_TREND,
	EC_FORECAST,
	EC_INSIGHT,
	EC_N_KINDS,
};

struct ec_entry {
	char *key;     /* what makes it unique within its kind; NULL in lists */
	int64_t ts_ms; /* the event's own ts_ms, else the arrival time */
	char *json;    /* the event as bm_event_to_json wrote it */
	size_t len;
};

struct evcache {
	struct {
		struct ec_entry *v;
		size_t n, cap;
	} kinds[EC_N_KINDS];
	size_t max_per_kind;
	int64_t ttl_ms; /* findings older than this are dropped (alerts and
			 * agents are kept until resolved or evicted) */
	uint64_t evicted;
};

void evcache_init(struct evcache *c, size_t max_per_kind, int64_t ttl_ms);
void evcache_free(struct evcache *c);
/* Take one event of topic as its JSON text (what bm_event_to_json wrote).
 * Topics the cache does not keep are ignored. 0, BM_EPROTO (not JSON),
 * BM_ENOMEM. */
int evcache_add(struct evcache *c, const char *topic, const char *json, size_t len, int64_t now_ms);
/* Drop findings older than the TTL. */
void evcache_expire(struct evcache *c, int64_t now_ms);
/* The events of a kind with ts_ms >= since_ms, newest first, at most limit
 * (0: all): a new array. */
json_t *evcache_list(const struct evcache *c, enum ec_kind kind, int64_t since_ms, size_t limit);
size_t evcache_count(const struct evcache *c, enum ec_kind kind);
/* The newest event of a keyed kind under key (a new reference), or NULL. */
json_t *evcache_get(const struct evcache *c, enum ec_kind kind, const char *key);
/* The key under which a series' findings are kept: name{labels} from an
 * event's "series" object ({name, labels: {...}}), malloc'd; NULL if none. */
char *evcache_series_key(const json_t *series);

#endif
