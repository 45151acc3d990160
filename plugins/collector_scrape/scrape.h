/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/scrape: the types its files share. scrape.c holds the plugin
 * glue, targets.c builds targets from the jobs, http.c runs the libcurl
 * multi loop on the plugin's own thread, ingest.c turns one scrape into a
 * published batch, series.c remembers each target's series for staleness.
 */
#ifndef BEARMON_SCRAPE_H
#define BEARMON_SCRAPE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include <bearmon/bm_batch.h>
#include <bearmon/bm_hash.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_option.h>

#include "../common/cardinality.h"
#include "../common/expfmt.h"
#include "file_sd.h"
#include "relabel.h"

#define SCRAPE_VERSION "1.0.0"

/* ---- configuration (filled by the host from the option tables) ------- */

struct scrape_basic_auth_conf {
	char *username;
	char *password;
	char *password_file;
};

struct scrape_tls_conf {
	char *ca_file;
	char *cert_file;
	char *key_file;
	bool insecure_skip_verify;
};

struct scrape_static_conf {
	struct bm_strlist targets; /* "host:port" */
	struct bm_map labels;
};

enum scrape_scheme { SCHEME_HTTP = 0, SCHEME_HTTPS };

struct scrape_job_conf {
	char *job_name;
	int64_t scrape_interval; /* ms; 0 = the instance's interval */
	int64_t scrape_timeout;  /* ms; 0 = min(10 s, scrape_interval) */
	char *metrics_path;
	int scheme; /* enum scrape_scheme */
	struct bm_map params;
	bool honor_labels;
	bool honor_timestamps;
	struct bm_group_list static_configs; /* of struct scrape_static_conf */
	struct bm_strlist file_sd;           /* glob patterns */
	struct bm_group_list relabel_configs;        /* of struct relabel_conf */
	struct bm_group_list metric_relabel_configs; /* of struct relabel_conf */
	struct scrape_basic_auth_conf basic_auth;
	char *bearer_token;
	char *bearer_token_file;
	struct scrape_tls_conf tls_config;
	uint64_t body_size_limit;
	int64_t sample_limit;
	int64_t label_limit;
	int64_t label_name_length_limit;
	int64_t label_value_length_limit;
	int64_t series_limit;
};

struct scrape_conf {
	struct bm_group_list jobs; /* of struct scrape_job_conf */
	int64_t max_concurrent;
};

/* An optional string option that was given (not NULL, not ""). */
static inline bool conf_set(const char *s)
{
	return s && *s;
}

/* ---- self-metrics: counters added to with relaxed atomics ------------ */

struct scrape_stats {
	uint64_t scrapes;          /* finished, whatever the outcome */
	uint64_t failures;         /* of those, failed (up 0) */
	uint64_t timeouts;
	uint64_t http_errors;      /* answered with a status other than 200 */
	uint64_t too_large;        /* body over body_size_limit */
	uint64_t transport_errors; /* refused, reset, closed early, TLS, DNS */
	uint64_t parse_errors;
	uint64_t sample_limit;     /* scrapes failed by sample_limit */
	uint64_t dropped_labels;   /* series refused by the label limits */
	uint64_t dropped_series;   /* new series refused by series_limit */
	uint64_t duplicates;       /* a series twice in one scrape */
	uint64_t samples;          /* samples published (scraped + report) */
	uint64_t stale_markers;
	uint64_t publish_errors;
	uint64_t sd_reads;
	uint64_t sd_errors;
	uint64_t target_errors;    /* targets refused after relabelling */
};

#define STAT_ADD(s, field, n) __atomic_add_fetch(&(s)->stats.field, (uint64_t)(n), __ATOMIC_RELAXED)

/* ---- per-target series memory (series.c) ----------------------------- */

struct series_entry {
	uint64_t hash;
	uint32_t gen;   /* scrape generation it was last seen in */
	char *blob;     /* name\0 then n label name\0value\0 pairs */
	uint32_t n_labels;
};

struct series_set {
	struct series_entry *v;
	size_t n, cap;
	uint32_t *index; /* open addressing: entry index + 1, 0 = empty */
	size_t index_cap;
	uint32_t gen;
};

enum series_note { SERIES_SEEN, SERIES_NEW, SERIES_DUPLICATE, SERIES_NOMEM };

/* A new scrape: series noted from here on belong to it. */
void series_begin(struct series_set *ss);
enum series_note series_note(struct series_set *ss, const struct bm_sample *smp);
/* Add a stale marker at ts to b for every series not noted since
 * series_begin and forget them; the number of markers. */
size_t series_sweep(struct series_set *ss, struct bm_batch *b, int64_t ts);
void series_free(struct series_set *ss);

/* ---- jobs and targets ------------------------------------------------ */

struct scrape;

/* A credential given inline or read from a file, re-read when the file
 * changes (so rotated tokens are picked up). */
struct credential {
	const char *inline_value;
	const char *file;
	char *value; /* the one in force; NULL when none */
	int64_t mtime_ns;
	int64_t size;
};

struct job {
	const struct scrape_job_conf *conf;
	struct relabel_set relabel;
	struct relabel_set metric_relabel;
	struct sd_watch sd;
	struct target **targets;
	size_t n_targets, cap_targets;
	int64_t interval_ms, timeout_ms;
	struct card_limits limits;
	struct credential password, bearer;
	uint64_t cred_gen; /* bumped when a credential changed */
	bool synced;       /* targets built at least once */
};

struct target {
	struct job *job;
	uint64_t id;  /* hash of url, labels, interval, timeout: identity */
	char *url;
	struct bm_label *labels; /* final target labels, sorted (job, instance, ...) */
	size_t n_labels;
	char *label_mem;
	const char *instance; /* the instance label, for log lines */
	int64_t interval_ms, timeout_ms, offset_ms;
	int64_t due_ms; /* monotonic ms of the next scrape */
	bool keep;      /* scratch for job_sync */
	bool in_flight;
	bool up;
	bool ever_scraped;

	/* HTTP (http.c) */
	CURL *easy;
	struct curl_slist *headers;
	uint64_t cred_gen;
	char curl_err[CURL_ERROR_SIZE];
	char *body;
	size_t len, cap;
	bool too_large;
	int64_t started_wall_ms;
	int64_t started_mono_ns;

	/* what was published (ingest.c) */
	struct series_set series;
	struct card_limiter card;
	uint64_t *meta; /* sorted hashes of the metadata last published */
	size_t n_meta;

	/* rate-limited failure log lines */
	int64_t last_log_ms;
	uint64_t fails_unlogged;
};

/* Scratch of the ingest step, reused across scrapes (loop thread). */
struct family {
	const char *name;
	enum bm_metric_type type;
	const char *help;
	const char *unit;
};

struct ingest {
	struct bm_batch batch;
	struct bm_arena arena; /* per sample: exported_ names, relabel output */
	struct lset ls;
	struct family *fams;
	size_t n_fams, cap_fams;
	uint64_t *meta;        /* this scrape's metadata hashes */
	size_t n_meta, cap_meta;
	struct expfmt_item item;
};

/* Instance state. */
struct scrape {
	struct bm_ctx *ctx;
	const struct scrape_conf *conf;
	struct job *jobs;
	size_t n_jobs;
	int64_t default_interval_ms;
	CURLM *multi;
	pthread_t thread;
	bool thread_started;
	bool quit;        /* atomic: the loop ends */
	size_t in_flight; /* transfers in the multi handle */
	struct ingest ig;
	struct scrape_stats stats;
	uint64_t n_targets; /* atomic, for collect */
	uint64_t n_up;      /* atomic, for collect */
	struct bm_batch collect_batch;
};

/* targets.c */
int job_init(struct scrape *s, struct job *j, const struct scrape_job_conf *c, struct bm_err *err);
void job_free(struct scrape *s, struct job *j);
/* Re-read changed file_sd files and credentials; rebuild the targets when
 * needed (first call, or a file changed). */
void job_refresh(struct scrape *s, struct job *j, int64_t now_mono_ms);
/* Rebuild the job's targets from its groups: kept targets keep their
 * state, removed ones get stale markers and go. */
int job_sync(struct scrape *s, struct job *j, int64_t now_mono_ms);
/* Prometheus durations: "1m30s", "500ms"; -1 when malformed. */
int64_t prom_duration_ms(const char *s);
void prom_duration_text(int64_t ms, char *out, size_t n);
void target_free(struct scrape *s, struct target *t);
/* Publish the target and up counts for collect (loop thread). */
void scrape_count_targets(struct scrape *s);

/* http.c */
/* The first time at or after now on the target's offset in its interval
 * (targets of one job spread over the interval, as Prometheus does). */
int64_t target_next_slot(const struct target *t, int64_t now);
int target_http_init(struct scrape *s, struct target *t);
void target_http_free(struct scrape *s, struct target *t);
int loop_start(struct scrape *s, struct bm_err *err);
void loop_stop(struct scrape *s);

/* ingest.c */
enum scrape_fail {
	SCRAPE_OK = 0,
	SCRAPE_TIMEOUT,
	SCRAPE_HTTP,
	SCRAPE_TOO_LARGE,
	SCRAPE_TRANSPORT,
	SCRAPE_PARSE,
	SCRAPE_SAMPLE_LIMIT,
	SCRAPE_NOMEM,
};

struct scrape_outcome {
	enum scrape_fail fail;
	int64_t ts_ms;     /* scrape start, wall clock */
	double duration_s;
	char *body;        /* writable, '\0' at body[len] */
	size_t len;
	bool openmetrics;
	char why[256];     /* on failure: what went wrong */
};

/* Publish one scrape of t: its samples (when o->fail is SCRAPE_OK and the
 * body passes), the report series, stale markers for what vanished. May
 * turn o into a failure (parse error, sample_limit). */
void ingest_scrape(struct scrape *s, struct target *t, struct scrape_outcome *o);
/* Stale markers at ts for every series of t (target gone, instance
 * stopping). */
void ingest_retire(struct scrape *s, struct target *t, int64_t ts);
void ingest_free(struct ingest *ig);

int64_t scrape_mono_ms(void);
int64_t scrape_wall_ms(void);

#endif
