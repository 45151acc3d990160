/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/scrape: Prometheus-style scraping of /metrics endpoints (text
 * 0.0.4 and OpenMetrics) for model servers, exporters and agents. This
 * file holds the options, the lifecycle and collect(); the scraping runs
 * on the plugin's own thread (http.c) and publishes one batch per target
 * scrape, with its own staleness per target (ingest.c, series.c).
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/publish.h"
#include "scrape.h"

static const char *const scheme_values[] = {"http", "https", NULL};

static const struct bm_option basic_auth_options[] = {
	BM_OPTION("username", BM_OPT_STRING, NULL, struct scrape_basic_auth_conf, username,
		  "user name for HTTP basic authentication"),
	{.name = "password", .type = BM_OPT_STRING, .flags = BM_OPTF_SECRET,
	 .offset = offsetof(struct scrape_basic_auth_conf, password), .help = "its password"},
	BM_OPTION("password_file", BM_OPT_STRING, NULL, struct scrape_basic_auth_conf,
		  password_file, "file whose first line is the password, re-read when it changes"),
	BM_OPTION_END,
};

static const struct bm_option tls_options[] = {
	BM_OPTION("ca_file", BM_OPT_STRING, NULL, struct scrape_tls_conf, ca_file,
		  "CA certificates (PEM) to verify the target with; default: the system's"),
	BM_OPTION("cert_file", BM_OPT_STRING, NULL, struct scrape_tls_conf, cert_file,
		  "client certificate (PEM) for targets that want one"),
	BM_OPTION("key_file", BM_OPT_STRING, NULL, struct scrape_tls_conf, key_file,
		  "the client certificate's key (PEM)"),
	BM_OPTION("insecure_skip_verify", BM_OPT_BOOL, "false", struct scrape_tls_conf,
		  insecure_skip_verify, "do not verify the target's certificate and name"),
	BM_OPTION_END,
};

static const struct bm_option static_options[] = {
	BM_OPTION("targets", BM_OPT_STRING_LIST, NULL, struct scrape_static_conf, targets,
		  "host:port of each target"),
	BM_OPTION("labels", BM_OPT_MAP, NULL, struct scrape_static_conf, labels,
		  "labels given to every target of the group"),
	BM_OPTION_END,
};

#define JOB_LIMIT(name, field, def, max, help)                                               \
	BM_OPTION_BOUNDED(name, BM_OPT_INT, def, struct scrape_job_conf, field, 0, max, help)

static const struct bm_option job_options[] = {
	{.name = "job_name", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct scrape_job_conf, job_name),
	 .help = "the job label of the job's targets; unique"},
	BM_OPTION_BOUNDED("scrape_interval", BM_OPT_DURATION, "0s", struct scrape_job_conf,
			  scrape_interval, 0, 86400000, "how often each target is scraped; 0s: the instance's interval"),
	BM_OPTION_BOUNDED("scrape_timeout", BM_OPT_DURATION, "0s", struct scrape_job_conf,
			  scrape_timeout, 0, 86400000,
			  "give up on a scrape after this long; 0s: 10s or the interval if shorter"),
	BM_OPTION("metrics_path", BM_OPT_STRING, "/metrics", struct scrape_job_conf, metrics_path,
		  "HTTP path of the exposition"),
	{.name = "scheme", .type = BM_OPT_ENUM, .def = "http",
	 .offset = offsetof(struct scrape_job_conf, scheme), .enum_values = scheme_values,
	 .help = "http or https"},
	BM_OPTION("params", BM_OPT_MAP, NULL, struct scrape_job_conf, params,
		  "URL query parameters, e.g. { module = \"http_2xx\"; }"),
	BM_OPTION("honor_labels", BM_OPT_BOOL, "false", struct scrape_job_conf, honor_labels,
		  "on a clash keep the scraped label (else it becomes exported_NAME)"),
	BM_OPTION("honor_timestamps", BM_OPT_BOOL, "true", struct scrape_job_conf, honor_timestamps,
		  "keep timestamps the target gives (else the scrape time)"),
	{.name = "static_configs", .type = BM_OPT_GROUP_LIST,
	 .offset = offsetof(struct scrape_job_conf, static_configs), .sub = static_options,
	 .sub_size = sizeof(struct scrape_static_conf),
	 .help = "target groups: ( { targets = [\"host:port\"]; labels = { ... }; } )"},
	BM_OPTION("file_sd", BM_OPT_STRING_LIST, NULL, struct scrape_job_conf, file_sd,
		  "files (glob patterns) of target groups in JSON or YAML, re-read on change"),
	{.name = "relabel_configs", .type = BM_OPT_GROUP_LIST,
	 .offset = offsetof(struct scrape_job_conf, relabel_configs), .sub = relabel_rule_options,
	 .sub_size = sizeof(struct relabel_conf), .help = "relabelling of the targets"},
	{.name = "metric_relabel_configs", .type = BM_OPT_GROUP_LIST,
	 .offset = offsetof(struct scrape_job_conf, metric_relabel_configs),
	 .sub = relabel_rule_options, .sub_size = sizeof(struct relabel_conf),
	 .help = "relabelling of the scraped samples"},
	{.name = "basic_auth", .type = BM_OPT_GROUP,
	 .offset = offsetof(struct scrape_job_conf, basic_auth), .sub = basic_auth_options,
	 .help = "HTTP basic authentication"},
	{.name = "bearer_token", .type = BM_OPT_STRING, .flags = BM_OPTF_SECRET,
	 .offset = offsetof(struct scrape_job_conf, bearer_token),
	 .help = "sent as Authorization: Bearer"},
	BM_OPTION("bearer_token_file", BM_OPT_STRING, NULL, struct scrape_job_conf,
		  bearer_token_file, "file whose first line is the bearer token, re-read when it changes"),
	{.name = "tls_config", .type = BM_OPT_GROUP,
	 .offset = offsetof(struct scrape_job_conf, tls_config), .sub = tls_options,
	 .help = "TLS settings for https targets"},
	BM_OPTION_BOUNDED("body_size_limit", BM_OPT_SIZE, "16MiB", struct scrape_job_conf,
			  body_size_limit, 1024, 1073741824.0,
			  "a larger (uncompressed) body fails the scrape"),
	JOB_LIMIT("sample_limit", sample_limit, "0", 1e9,
		  "more samples after metric relabelling fail the scrape; 0: no limit"),
	JOB_LIMIT("label_limit", label_limit, "0", 1e6,
		  "a series with more labels is dropped; 0: no limit (a batch carries 32)"),
	JOB_LIMIT("label_name_length_limit", label_name_length_limit, "0", 1e6,
		  "a series with a longer metric or label name is dropped; 0: no limit"),
	JOB_LIMIT("label_value_length_limit", label_value_length_limit, "0", 1e6,
		  "a series with a longer label value is dropped; 0: no limit"),
	JOB_LIMIT("series_limit", series_limit, "100000", 1e8,
		  "new series of one target beyond this many are dropped; 0: no limit"),
	BM_OPTION_END,
};

static const struct bm_option scrape_options[] = {
	{.name = "jobs", .type = BM_OPT_GROUP_LIST, .offset = offsetof(struct scrape_conf, jobs),
	 .sub = job_options, .sub_size = sizeof(struct scrape_job_conf),
	 .help = "scrape jobs: ( { job_name = \"x\"; static_configs = (...); }, ... )"},
	BM_OPTION_BOUNDED("max_concurrent", BM_OPT_INT, "256", struct scrape_conf, max_concurrent,
			  1, 10000, "scrapes in flight at once; more due targets wait their turn"),
	BM_OPTION_END,
};

/* Self-metrics: name, help, field. */
#define STAT(n, h, f) {"bearmon_scrape_" n, h, offsetof(struct scrape_stats, f)}
static const struct {
	const char *name;
	const char *help;
	size_t offset;
} stat_table[] = {
	STAT("scrapes_total", "target scrapes finished, whatever the outcome", scrapes),
	STAT("failures_total", "target scrapes that failed (up 0)", failures),
	STAT("timeouts_total", "scrapes that ran past scrape_timeout", timeouts),
	STAT("http_errors_total", "scrapes answered with an HTTP status other than 200", http_errors),
	STAT("body_too_large_total", "scrapes whose body exceeded body_size_limit", too_large),
	STAT("transport_errors_total", "scrapes failed by the connection (refused, reset, closed, TLS)",
	     transport_errors),
	STAT("parse_errors_total", "scrapes whose body did not parse", parse_errors),
	STAT("sample_limit_exceeded_total", "scrapes failed by sample_limit", sample_limit),
	STAT("series_dropped_labels_total", "series dropped by the label limits", dropped_labels),
	STAT("series_dropped_limit_total", "new series dropped by series_limit", dropped_series),
	STAT("duplicate_samples_total", "samples of a series already in the same scrape", duplicates),
	STAT("samples_total", "samples published, report series and stale markers included", samples),
	STAT("stale_markers_total", "stale markers published", stale_markers),
	STAT("publish_errors_total", "batches the bus refused", publish_errors),
	STAT("file_sd_reads_total", "file_sd files read", sd_reads),
	STAT("file_sd_errors_total", "file_sd files that could not be read or parsed", sd_errors),
	STAT("target_errors_total", "targets refused after relabelling (no address, bad URL)",
	     target_errors),
};

static void register_stats(struct scrape *s)
{
	for (size_t i = 0; i < sizeof(stat_table) / sizeof(stat_table[0]); i++)
		bm_self_counter(s->ctx, stat_table[i].name, stat_table[i].help,
				(const uint64_t *)((const char *)&s->stats + stat_table[i].offset));
}

static void scrape_fini(void *state)
{
	struct scrape *s = state;
	for (size_t i = 0; i < s->n_jobs; i++)
		job_free(s, &s->jobs[i]);
	free(s->jobs);
	ingest_free(&s->ig);
	bm_batch_free(&s->collect_batch);
	free(s);
	curl_global_cleanup();
}

static int check_names(const struct scrape_conf *c, struct bm_err *err)
{
	for (size_t i = 0; i < c->jobs.n; i++) {
		const char *a = BM_GROUP_ITEM(c->jobs, struct scrape_job_conf, i)->job_name;
		for (size_t k = 0; a && k < i; k++)
			if (strcmp(a, BM_GROUP_ITEM(c->jobs, struct scrape_job_conf, k)->job_name) == 0)
				return bm_err_set(err, BM_EINVAL, "jobs: job_name \"%s\" used twice", a);
	}
	return 0;
}

static int scrape_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct scrape_conf *c = conf;
	int rc = check_names(c, err);
	if (rc)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return bm_err_set(err, BM_EIO, "libcurl initialisation failed");
	struct scrape *s = calloc(1, sizeof(*s));
	if (!s || !(s->jobs = calloc(c->jobs.n ? c->jobs.n : 1, sizeof(*s->jobs)))) {
		free(s);
		curl_global_cleanup();
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	s->ctx = ctx;
	s->conf = c;
	s->default_interval_ms = bm_interval_ms(ctx) > 0 ? bm_interval_ms(ctx) : 10000;
	for (size_t i = 0; i < c->jobs.n; i++) {
		if ((rc = job_init(s, &s->jobs[i], BM_GROUP_ITEM(c->jobs, struct scrape_job_conf, i),
				   err))) {
			scrape_fini(s);
			return rc;
		}
		s->n_jobs++;
	}
	if (!c->jobs.n)
		bm_log_info(ctx, "no jobs configured: nothing to scrape");
	register_stats(s);
	*state = s;
	return 0;
}

static int scrape_start(void *state, struct bm_err *err)
{
	return loop_start(state, err);
}

static void scrape_stop(void *state)
{
	loop_stop(state);
}

/* The scraped series are published by the loop thread; collect reports
 * the instance as a whole, so that it publishes even with no target. */
static int scrape_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct scrape *s = state;
	struct bm_batch *b = &s->collect_batch;
	const char *inst = bm_instance_name(s->ctx);
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	double n = (double)__atomic_load_n(&s->n_targets, __ATOMIC_RELAXED);
	double up = (double)__atomic_load_n(&s->n_up, __ATOMIC_RELAXED);
	int rc = bm_batch_family(b, "bearmon_scrape_targets", BM_METRIC_GAUGE, "",
				 "targets of the instance after relabelling");
	if (!rc)
		rc = bm_batch_family(b, "bearmon_scrape_targets_up", BM_METRIC_GAUGE, "",
				     "targets whose last scrape succeeded");
	if (!rc)
		rc = bm_batch_addl(b, "bearmon_scrape_targets", n, "instance", inst, "plugin",
				   "scrape", NULL);
	if (!rc)
		rc = bm_batch_addl(b, "bearmon_scrape_targets_up", up, "instance", inst, "plugin",
				   "scrape", NULL);
	return publish_batch(s->ctx, b, rc, err);
}

static const struct bm_plugin_ops scrape_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = scrape_init,
	.start = scrape_start,
	.stop = scrape_stop,
	.fini = scrape_fini,
	.collect = scrape_collect,
};

BM_PLUGIN_DEFINE(collector, scrape, BM_KIND_COLLECTOR, .version = SCRAPE_VERSION,
		 .license = "Apache-2.0",
		 .description = "scrapes Prometheus /metrics endpoints (text 0.0.4, OpenMetrics)",
		 .origin = "bearmon plugins/collector_scrape", .options = scrape_options,
		 .config_size = sizeof(struct scrape_conf), .ops = &scrape_ops);
