/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ui/dashboard: the live web dashboard of bearmond. Serves the page at "/",
 * its assets and Debian's Chart.js under /static/, the WebSocket at
 * /api/bearmon/v1/ws (live series and events, see server.c and fanout.c)
 * and the performance snapshot at /api/bearmon/v1/snapshot. Descriptor,
 * options, lifecycle and self-metrics.
 */
#define _GNU_SOURCE
#include "dashboard.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_plugin.h>

#ifndef BM_JAVASCRIPT_DIR
#define BM_JAVASCRIPT_DIR "/usr/share/javascript"
#endif

#define DUR(n, def, field, lo, hi, help) \
	BM_OPTION_BOUNDED(n, BM_OPT_DURATION, def, struct dash_conf, field, lo, hi, help)

/* clang-format off */
static const struct bm_option dash_options[] = {
	BM_OPTION("web_dir", BM_OPT_STRING, "", struct dash_conf, web_dir,
		  "directory of index.html, app.js and style.css; \"\": the page installed with bearmon"),
	BM_OPTION("javascript_dir", BM_OPT_STRING, BM_JAVASCRIPT_DIR, struct dash_conf, javascript_dir,
		  "Debian's JavaScript directory: chart.js/ is served from it as /static/chart.js/"),
	BM_OPTION("allowed_origins", BM_OPT_STRING_LIST, NULL, struct dash_conf, allowed_origins,
		  "origins besides the page's own that may open the WebSocket, e.g. \"https://grafana.example\""),
	BM_OPTION_BOUNDED("max_clients", BM_OPT_INT, "256", struct dash_conf, max_clients, 1, 100000,
			  "WebSocket clients at once"),
	BM_OPTION_BOUNDED("max_subscriptions", BM_OPT_INT, "64", struct dash_conf, max_subscriptions,
			  1, 10000, "series selectors per client"),
	BM_OPTION_BOUNDED("max_points", BM_OPT_INT, "20000", struct dash_conf, max_points, 1, 10000000,
			  "points one selector sends per metrics_interval; more are dropped and counted"),
	BM_OPTION_BOUNDED("max_frame", BM_OPT_SIZE, "64KiB", struct dash_conf, max_frame, 125,
			  16777216, "largest frame a client may send (close 1009 beyond)"),
	BM_OPTION_BOUNDED("max_message", BM_OPT_SIZE, "256KiB", struct dash_conf, max_message, 125,
			  67108864, "largest message a client may send, fragments together (close 1009 beyond)"),
	BM_OPTION_BOUNDED("send_buffer", BM_OPT_SIZE, "4MiB", struct dash_conf, send_buffer, 4096,
			  1073741824, "bytes queued for one client before it counts as a slow reader and is dropped"),
	DUR("metrics_interval", "1s", metrics_interval_ms, 100, 60000,
	    "how often subscribed series are sent (and pings and timeouts checked)"),
	DUR("trend_interval", "1m", trend_interval_ms, 1000, 3600000,
	    "how often trend, forecast and correlation events are sent, batched"),
	DUR("recommendation_interval", "5m", recommendation_interval_ms, 1000, 86400000,
	    "how often recommendation and candidate events are sent, batched"),
	DUR("ping_interval", "30s", ping_interval_ms, 1000, 3600000,
	    "a silent client is pinged after this long and dropped when it does not answer within it"),
	BM_OPTION_BOUNDED("max_batched_events", BM_OPT_INT, "1000", struct dash_conf,
			  max_batched_events, 1, 1000000,
			  "events of one batched topic kept between two sends; the oldest are dropped"),
	BM_OPTION_BOUNDED("event_cache", BM_OPT_INT, "1000", struct dash_conf, event_cache, 1, 1000000,
			  "latest findings, alerts, agents and anomalies kept per kind for the snapshot"),
	DUR("event_ttl", "1h", event_ttl_ms, 1000, 604800000,
	    "findings (bottlenecks, health, trends, ...) older than this leave the snapshot"),
	DUR("snapshot_lookback", "5m", snapshot_lookback_ms, 1000, 86400000,
	    "the snapshot's newest sample of a series must be this recent"),
	BM_OPTION_END,
};
/* clang-format on */
#undef DUR

static void register_self_metrics(struct dash *d)
{
	static const struct {
		const char *name;
		size_t off;
		const char *help;
	} counters[] = {
		{"bearmon_dashboard_connections_total", offsetof(struct dash_stats, connections),
		 "WebSocket upgrades accepted"},
		{"bearmon_dashboard_refused_total", offsetof(struct dash_stats, refused),
		 "WebSocket upgrades refused (bad handshake, Origin, max_clients, TLS)"},
		{"bearmon_dashboard_messages_total", offsetof(struct dash_stats, messages),
		 "WebSocket messages sent"},
		{"bearmon_dashboard_bytes_total", offsetof(struct dash_stats, bytes),
		 "bytes written to WebSocket clients"},
		{"bearmon_dashboard_slow_readers_total", offsetof(struct dash_stats, slow_readers),
		 "clients dropped because send_buffer filled up"},
		{"bearmon_dashboard_protocol_errors_total", offsetof(struct dash_stats, protocol_errors),
		 "clients closed for breaking RFC 6455 (1002, 1007, 1009)"},
		{"bearmon_dashboard_points_dropped_total", offsetof(struct dash_stats, points_dropped),
		 "points not sent because of max_points"},
		{"bearmon_dashboard_events_dropped_total", offsetof(struct dash_stats, events_dropped),
		 "batched events dropped because of max_batched_events"},
		{"bearmon_dashboard_decode_errors_total", offsetof(struct dash_stats, decode_errors),
		 "bus events that did not decode"},
	};
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		bm_self_counter(d->ctx, counters[i].name, counters[i].help,
				(const uint64_t *)((const char *)&d->st + counters[i].off));
	bm_self_gauge(d->ctx, "bearmon_dashboard_clients", "WebSocket clients connected",
		      &d->st.clients);
	bm_self_gauge(d->ctx, "bearmon_dashboard_subscriptions",
		      "distinct series selectors subscribed to", &d->st.selectors);
}

static int dash_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct dash_conf *c = conf;
	if (c->max_message < c->max_frame)
		return bm_err_set(err, BM_EINVAL, "max_message (%llu) must be at least max_frame (%llu)",
				  (unsigned long long)c->max_message, (unsigned long long)c->max_frame);
	struct dash *d = calloc(1, sizeof(*d));
	if (!d)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	d->ctx = ctx;
	d->conf = c;
	pthread_mutex_init(&d->fan_lock, NULL);
	evcache_init(&d->cache, (size_t)c->event_cache, c->event_ttl_ms);
	dash_static_init(d);
	register_self_metrics(d);
	*state = d;
	return 0;
}

static int dash_start(void *state, struct bm_err *err)
{
	struct dash *d = state;
	static const struct {
		const char *path;
		unsigned flags;
		bm_http_cb cb;
	} routes[] = {
		{"/", 0, dash_on_index},
		{"/static/", BM_HTTP_PREFIX, dash_on_static},
		{DASH_WS_ROUTE, 0, dash_on_ws},
		{DASH_SNAPSHOT_ROUTE, 0, dash_on_snapshot},
	};
	int rc = dash_fanout_start(d);
	if (rc)
		return bm_err_set(err, rc, "subscriptions and timers: %s", bm_strerror(rc));
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		rc = bm_http_route(d->ctx, routes[i].path, routes[i].flags, routes[i].cb, d);
		if (rc == BM_ENOTSUP) {
			bm_log_notice(d->ctx, "no HTTP listener (http.listen = \"\"): nothing to serve");
			break;
		}
		if (rc) {
			dash_fanout_stop(d);
			return bm_err_set(err, rc, "route %s: %s", routes[i].path, bm_strerror(rc));
		}
	}
	bm_log_info(d->ctx, "page from %s, Chart.js from %s/chart.js", d->web_dir,
		    d->conf->javascript_dir);
	return 0;
}

static void dash_stop(void *state)
{
	struct dash *d = state;
	dash_fanout_stop(d);
	dash_close_all(d);
}

static void dash_fini(void *state)
{
	struct dash *d = state;
	free(d->sels); /* empty: stop released every client's selectors */
	bm_arena_free(&d->metric_arena);
	bm_buf_free(&d->frame);
	bm_buf_free(&d->scratch);
	evcache_free(&d->cache);
	pthread_mutex_destroy(&d->fan_lock);
	free(d);
}

static const struct bm_plugin_ops dash_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = dash_init,
	.start = dash_start,
	.stop = dash_stop,
	.fini = dash_fini,
};

BM_PLUGIN_DEFINE(ui, dashboard, BM_KIND_UI,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "live web dashboard over WebSocket, and the performance snapshot",
		 .origin = "bearmon",
		 .options = dash_options,
		 .config_size = sizeof(struct dash_conf),
		 .ops = &dash_ops);
