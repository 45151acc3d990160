/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notifier/remote_write: every `metric` sample the instance selects goes to
 * a Prometheus remote write 1.0 receiver (VictoriaMetrics, Mimir, Thanos
 * Receive, Prometheus) through an on-disk queue. The glue: options, hooks,
 * the block-policy subscription, self-metrics named as Prometheus' own.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "queue.h"
#include "rw.h"
#include "sender.h"
#include "shards.h"

static const struct bm_option rw_basic_auth_options[] = {
	BM_OPTION("username", BM_OPT_STRING, NULL, struct rw_basic_auth, username, "user name"),
	{.name = "password", .type = BM_OPT_STRING, .flags = BM_OPTF_SECRET,
	 .offset = offsetof(struct rw_basic_auth, password), .help = "password"},
	BM_OPTION("password_file", BM_OPT_STRING, NULL, struct rw_basic_auth, password_file,
		  "file holding the password, re-read when it changes"),
	BM_OPTION_END,
};

#define RW_OPT(n, t, d, f, h) BM_OPTION(n, t, d, struct rw_conf, f, h)
#define RW_BOUNDED(n, t, d, f, lo, hi, h) BM_OPTION_BOUNDED(n, t, d, struct rw_conf, f, lo, hi, h)

static const struct bm_option rw_options[] = {
	RW_OPT("url", BM_OPT_STRING, "http://127.0.0.1:8428/api/v1/write", url,
	       "the receiver's remote write endpoint, http:// or https://"),
	RW_BOUNDED("timeout", BM_OPT_DURATION, "30s", timeout_ms, 100, 600000,
		   "one request is abandoned (and retried) after this long"),
	{.name = "tls", .type = BM_OPT_GROUP, .sub = notify_tls_options,
	 .offset = offsetof(struct rw_conf, tls),
	 .help = "TLS: { ca_file; cert_file; key_file; insecure_skip_verify; }"},
	{.name = "basic_auth", .type = BM_OPT_GROUP, .sub = rw_basic_auth_options,
	 .offset = offsetof(struct rw_conf, basic_auth),
	 .help = "HTTP basic auth: { username; password or password_file; }"},
	{.name = "bearer_token", .type = BM_OPT_STRING, .flags = BM_OPTF_SECRET,
	 .offset = offsetof(struct rw_conf, bearer_token),
	 .help = "sent as Authorization: Bearer TOKEN"},
	RW_OPT("bearer_token_file", BM_OPT_STRING, NULL, bearer_token_file,
	       "file holding the bearer token, re-read when it changes"),
	RW_OPT("headers", BM_OPT_MAP, NULL, headers, "extra HTTP headers: { name = value; }"),
	RW_OPT("include", BM_OPT_STRING_LIST, NULL, include,
	       "series selectors, e.g. node_cpu_seconds_total{mode!=\"idle\"}: only matching series "
	       "are sent (none: all)"),
	RW_OPT("exclude", BM_OPT_STRING_LIST, NULL, exclude,
	       "series selectors: matching series are not sent"),
	{.name = "write_relabel_configs", .type = BM_OPT_GROUP_LIST, .sub = relabel_rule_options,
	 .sub_size = sizeof(struct relabel_conf),
	 .offset = offsetof(struct rw_conf, write_relabel_configs),
	 .help = "Prometheus relabel rules over each series sent (after external labels)"},
	RW_OPT("external_labels", BM_OPT_MAP, NULL, external_labels,
	       "labels added to every series that lacks them: { host = \"${HOSTNAME}\"; }"),
	RW_BOUNDED("capacity", BM_OPT_INT, "10000", capacity, 1, 10000000,
		   "samples buffered per shard (at least max_samples_per_send)"),
	RW_BOUNDED("min_shards", BM_OPT_INT, "1", min_shards, 1, 1000, "fewest parallel senders"),
	RW_BOUNDED("max_shards", BM_OPT_INT, "50", max_shards, 1, 1000, "most parallel senders"),
	RW_BOUNDED("max_samples_per_send", BM_OPT_INT, "2000", max_samples_per_send, 1, 100000,
		   "samples in one request"),
	RW_BOUNDED("batch_send_deadline", BM_OPT_DURATION, "5s", batch_send_deadline_ms, 1,
		   600000, "a shard sends a smaller batch when its oldest sample waited this long"),
	RW_BOUNDED("min_backoff", BM_OPT_DURATION, "30ms", min_backoff_ms, 1, 3600000,
		   "wait after the first failed attempt; doubles after each"),
	RW_BOUNDED("max_backoff", BM_OPT_DURATION, "5s", max_backoff_ms, 1, 86400000,
		   "longest wait between two attempts"),
	RW_OPT("retry_on_http_429", BM_OPT_BOOL, "true", retry_on_http_429,
	       "retry requests answered 429 Too Many Requests (else they are given up)"),
	RW_BOUNDED("shard_update_interval", BM_OPT_DURATION, "10s", shard_update_interval_ms, 100,
		   600000, "how often the shard count is sized to the load"),
	RW_BOUNDED("queue_max_size", BM_OPT_SIZE, "1GiB", queue_max_size, 1048576,
		   1099511627776.0, "disk the queue may use; past it the oldest samples are dropped"),
	RW_BOUNDED("queue_max_age", BM_OPT_DURATION, "24h", queue_max_age_ms, 1000, 2592000000.0,
		   "samples older than this are dropped unsent"),
	RW_BOUNDED("segment_size", BM_OPT_SIZE, "16MiB", segment_size, 65536, 1073741824,
		   "a queue file closes past this size, once series names are at most a quarter of it"),
	RW_BOUNDED("sync_interval", BM_OPT_DURATION, "1s", sync_interval_ms, 0, 3600000,
		   "fdatasync the queue at most this often while samples arrive (0: every write)"),
	RW_BOUNDED("bus_queue_len", BM_OPT_INT, "0", bus_queue_len, 0, 1000000,
		   "events the subscription buffers before publishers wait (0: the daemon's)"),
	BM_OPTION_END,
};

struct rw {
	struct bm_ctx *ctx;
	const struct rw_conf *c;
	struct rw_stats st;
	struct rw_queue *q;
	struct rw_intake in;
	struct rw_shards *shards;
	struct bm_sub *sub;
	bool curl_ready;
	uint64_t bad_events;
};

static void rw_on_metric(void *user, const char *topic, const void *body, size_t len)
{
	struct rw *rw = user;
	(void)topic;
	if (rw_intake_event(&rw->in, rw->q, body, len, notify_mono_ms()) == BM_EPROTO)
		RW_ADD(rw, bad_events, 1);
}

static int check_conf(const struct rw_conf *c, struct bm_err *err)
{
	if (c->min_shards > c->max_shards)
		return bm_err_set(err, BM_EINVAL, "min_shards %lld is above max_shards %lld",
				  (long long)c->min_shards, (long long)c->max_shards);
	if (c->capacity < c->max_samples_per_send)
		return bm_err_set(err, BM_EINVAL, "capacity %lld is below max_samples_per_send %lld",
				  (long long)c->capacity, (long long)c->max_samples_per_send);
	if (c->min_backoff_ms > c->max_backoff_ms)
		return bm_err_set(err, BM_EINVAL, "min_backoff is above max_backoff");
	return rw_sender_check(c, err);
}

static int open_queue(struct rw *rw, struct bm_err *err)
{
	const struct rw_conf *c = rw->c;
	char dir[4096];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/remote_write/%s", bm_data_dir(rw->ctx),
			     bm_instance_name(rw->ctx)) >= sizeof(dir))
		return bm_err_set(err, BM_EINVAL, "data_dir is too long");
	uint64_t seg = c->segment_size < c->queue_max_size / 4 ? c->segment_size
							       : c->queue_max_size / 4;
	struct rw_queue_opts o = {.dir = dir, .max_size = c->queue_max_size,
				  .max_age_ms = c->queue_max_age_ms, .segment_size = seg,
				  .sync_interval_ms = c->sync_interval_ms};
	int rc = rwq_open(&o, &rw->q, err);
	if (rc)
		return rc;
	const struct rwq_stats *qs = rwq_stats(rw->q);
	if (qs->loaded)
		bm_log_notice(rw->ctx, "%llu samples from the previous run wait in %s",
			      (unsigned long long)qs->loaded, dir);
	if (qs->corrupt)
		bm_log_warn(rw->ctx, "%llu damaged queue records or files in %s were set aside",
			    (unsigned long long)qs->corrupt, dir);
	rw_gauge_set(&rw->st.pending, (double)qs->loaded);
	return 0;
}

#define COUNTER(name, field, help) bm_self_counter(rw->ctx, name, help, &rw->st.field)
#define GAUGE(name, field, help) bm_self_gauge(rw->ctx, name, help, &rw->st.field)
#define PRS "prometheus_remote_storage_"

/* Prometheus' remote write metric names, so its alerts work unchanged
 * (remote_name and url are the plugin and instance labels here). */
static void register_metrics(struct rw *rw)
{
	const struct rwq_stats *qs = rwq_stats(rw->q);
	COUNTER(PRS "samples_in_total", samples_in, "samples queued for sending");
	COUNTER(PRS "samples_total", samples_sent, "samples the receiver accepted");
	COUNTER(PRS "samples_failed_total", samples_failed, "samples refused for good (not retried)");
	COUNTER(PRS "samples_retried_total", samples_retried, "samples in attempts that were retried");
	bm_self_counter(rw->ctx, PRS "samples_dropped_total",
			"samples lost unsent: queue size or age limit, queue write errors",
			&qs->dropped);
	COUNTER(PRS "bytes_total", bytes_sent, "compressed bytes the receiver accepted");
	GAUGE(PRS "samples_pending", pending, "samples in the queue waiting to be sent");
	GAUGE(PRS "highest_timestamp_in_seconds", highest_ts_s, "newest sample queued, unix seconds");
	GAUGE(PRS "queue_highest_sent_timestamp_seconds", highest_sent_ts_s,
	      "newest sample the receiver accepted, unix seconds");
	GAUGE(PRS "shards", shards, "shards sending now");
	GAUGE(PRS "shards_desired", shards_desired, "shards the load asks for");
	GAUGE(PRS "shards_min", shards_min, "min_shards");
	GAUGE(PRS "shards_max", shards_max, "max_shards");
	COUNTER("bearmon_remote_write_samples_filtered_total", samples_filtered,
		"samples not sent by choice: selectors, relabelling");
	COUNTER("bearmon_remote_write_requests_total", requests, "requests made, any outcome");
	COUNTER("bearmon_remote_write_reshards_total", reshards, "changes of the shard count");
	GAUGE("bearmon_remote_write_queue_bytes", queue_bytes, "bytes the queue holds on disk");
	GAUGE("bearmon_remote_write_queue_segments", queue_segments, "queue files");
	bm_self_counter(rw->ctx, "bearmon_remote_write_queue_corrupt_total",
			"damaged queue records or files skipped", &qs->corrupt);
	bm_self_counter(rw->ctx, "bearmon_remote_write_queue_write_errors_total",
			"failed queue appends", &qs->write_errors);
	bm_self_counter(rw->ctx, "bearmon_remote_write_bad_events_total",
			"metric events that did not decode", &rw->bad_events);
}

static void rw_fini(void *state);

static int rw_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct rw_conf *c = conf;
	int rc = check_conf(c, err);
	if (rc)
		return rc;
	struct rw *rw = calloc(1, sizeof(*rw));
	if (!rw)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	rw->ctx = ctx;
	rw->c = c;
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		rc = bm_err_set(err, BM_EIO, "cannot initialise libcurl");
	rw->curl_ready = !rc;
	rc = rc ? rc : rw_intake_init(&rw->in, ctx, c, &rw->st, err);
	rc = rc ? rc : open_queue(rw, err);
	rc = rc ? rc : rw_shards_new(ctx, c, rw->q, &rw->st, &rw->shards, err);
	if (rc) {
		rw_fini(rw);
		return rc;
	}
	register_metrics(rw);
	*state = rw;
	return 0;
}

static int rw_start(void *state, struct bm_err *err)
{
	struct rw *rw = state;
	int rc = rw_shards_start(rw->shards, err);
	if (rc)
		return rc;
	struct bm_sub_opts o = {.size = sizeof(o), .topic = BM_TOPIC_METRIC,
				.policy = BM_SUB_BLOCK, .queue_len = (uint32_t)rw->c->bus_queue_len};
	rc = bm_bus_subscribe(rw->ctx, &o, rw_on_metric, rw, &rw->sub);
	if (rc) {
		rw->sub = NULL;
		rw_shards_stop(rw->shards);
		return bm_err_set(err, rc, "cannot subscribe to %s: %s", BM_TOPIC_METRIC,
				  bm_strerror(rc));
	}
	return 0;
}

/* The subscription first (nothing new arrives), then the senders; the
 * queue keeps what they did not deliver. */
static void rw_stop(void *state)
{
	struct rw *rw = state;
	if (rw->sub)
		bm_bus_unsubscribe(rw->sub);
	rw->sub = NULL;
	rw_shards_stop(rw->shards);
}

static void rw_fini(void *state)
{
	struct rw *rw = state;
	rw_shards_free(rw->shards);
	rwq_close(rw->q);
	rw_intake_free(&rw->in);
	if (rw->curl_ready)
		curl_global_cleanup();
	free(rw);
}

static const struct bm_plugin_ops rw_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = rw_init,
	.start = rw_start,
	.stop = rw_stop,
	.fini = rw_fini,
};

BM_PLUGIN_DEFINE(notifier, remote_write, BM_KIND_NOTIFIER,
		 .version = RW_VERSION,
		 .license = "Apache-2.0",
		 .description = "Prometheus remote write 1.0 through a durable on-disk queue",
		 .origin = "bearmon",
		 .options = rw_options,
		 .config_size = sizeof(struct rw_conf),
		 .ops = &rw_ops);
