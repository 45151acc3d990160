/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: every standard event decoder on the same bytes, and a
 * re-encode of whatever decodes (which must then decode again).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bearmon/bm_event.h"

#define ROUND_TRIP(T, prefix)                                                     \
	do {                                                                      \
		struct T ev;                                                      \
		bm_arena_reset(&arena);                                           \
		if (prefix##_decode(data, size, &ev, &arena) == 0 &&              \
		    prefix##_encode(&ev, &buf) == 0 &&                            \
		    prefix##_decode(buf.data, buf.len, &ev, &arena) != 0)         \
			abort(); /* what we wrote we must read */                 \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bm_arena arena;
	static struct bm_buf buf;
	ROUND_TRIP(bm_metric_batch, bm_metric_batch);
	ROUND_TRIP(bm_anomaly_event, bm_anomaly);
	ROUND_TRIP(bm_trend_event, bm_trend);
	ROUND_TRIP(bm_forecast_event, bm_forecast);
	ROUND_TRIP(bm_correlation_event, bm_correlation);
	ROUND_TRIP(bm_bottleneck_event, bm_bottleneck);
	ROUND_TRIP(bm_insight_event, bm_insight);
	ROUND_TRIP(bm_health_event, bm_health);
	ROUND_TRIP(bm_alert_event, bm_alert);
	ROUND_TRIP(bm_notification_event, bm_notification);
	ROUND_TRIP(bm_candidate_event, bm_candidate);
	ROUND_TRIP(bm_recommendation_event, bm_recommendation);
	ROUND_TRIP(bm_action_event, bm_action);
	ROUND_TRIP(bm_agent_event, bm_agent);
	ROUND_TRIP(bm_agent_command_event, bm_agent_command);
	ROUND_TRIP(bm_agent_ack_event, bm_agent_ack);
	/* the JSON renderer walks the same bodies: any input, every topic */
	static const char *const topics[] = {
		BM_TOPIC_ANOMALY, BM_TOPIC_TREND, BM_TOPIC_FORECAST, BM_TOPIC_CORRELATION,
		BM_TOPIC_BOTTLENECK, BM_TOPIC_INSIGHT, BM_TOPIC_HEALTH, BM_TOPIC_ALERT,
		BM_TOPIC_NOTIFICATION, BM_TOPIC_CANDIDATE, BM_TOPIC_RECOMMENDATION,
		BM_TOPIC_ACTION, BM_TOPIC_AGENT, BM_TOPIC_AGENT_COMMAND, BM_TOPIC_AGENT_ACK,
	};
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
		bm_buf_reset(&buf);
		(void)bm_event_to_json(topics[i], data, size, &buf);
	}
	return 0;
}
