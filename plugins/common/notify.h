/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the five alert notifiers (log, webhook, alertmanager, exec, email)
 * share: the `alert` subscription and its routing, the bounded on-disk queue
 * with dedup, batching and retries with exponential backoff on a worker
 * thread, `notification` events for every attempt, self-metrics, the alert's
 * JSON form, the {{ .Labels.x }} templates and the libcurl plumbing.
 */
#ifndef BEARMON_PLUGINS_NOTIFY_H
#define BEARMON_PLUGINS_NOTIFY_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_option.h>

/* ---------------------------------------------------------------------
 * Options every notifier has (queue, retries, filters) and those of the
 * ones that send several alerts in one request (batching).
 * --------------------------------------------------------------------- */
struct notify_conf {
	int64_t queue_max;        /* alerts kept on disk, waiting for delivery */
	int64_t max_age_ms;       /* an alert waiting longer is dropped */
	int64_t retry_initial_ms; /* first backoff; doubles per failed attempt */
	int64_t retry_max_ms;     /* backoff ceiling */
	int64_t max_attempts;     /* 0: until max_age */
	bool send_resolved;       /* announce resolutions too */
	int min_severity;         /* enum bm_severity; lower alerts are skipped */
	int64_t group_wait_ms;    /* batching notifiers: wait for companions */
	int64_t max_batch;        /* batching notifiers: alerts per request */
};

extern const char *const notify_severity_names[]; /* "info" ... "emergency", NULL */

/* The common options of struct notify_conf member M of the plugin's conf
 * struct ST; ATTEMPTS is the default of max_attempts as text. */
#define NOTIFY_OPTIONS(ST, M, ATTEMPTS)                                                            \
	BM_OPTION_BOUNDED("queue_max", BM_OPT_INT, "10000", ST, M.queue_max, 1, 1000000,          \
			  "alerts kept in the on-disk queue; when full the oldest is dropped"),    \
	BM_OPTION_BOUNDED("max_age", BM_OPT_DURATION, "24h", ST, M.max_age_ms, 1000, 2592000000.0, \
			  "an alert not delivered within this time is dropped"),                    \
	BM_OPTION_BOUNDED("retry_initial", BM_OPT_DURATION, "1s", ST, M.retry_initial_ms, 10,     \
			  3600000, "wait after the first failed attempt; doubles after each"),     \
	BM_OPTION_BOUNDED("retry_max", BM_OPT_DURATION, "5m", ST, M.retry_max_ms, 10, 86400000,   \
			  "longest wait between two attempts"),                                    \
	BM_OPTION_BOUNDED("max_attempts", BM_OPT_INT, ATTEMPTS, ST, M.max_attempts, 0, 1000000,   \
			  "attempts before an alert is given up (0: retry until max_age)"),        \
	BM_OPTION("send_resolved", BM_OPT_BOOL, "true", ST, M.send_resolved,                      \
		  "also announce that an alert resolved"),                                        \
	{.name = "min_severity", .type = BM_OPT_ENUM, .def = "info",                              \
	 .offset = offsetof(ST, M.min_severity), .enum_values = notify_severity_names,            \
	 .help = "alerts of a lower severity are skipped"}

#define NOTIFY_BATCH_OPTIONS(ST, M)                                                                \
	BM_OPTION_BOUNDED("group_wait", BM_OPT_DURATION, "0s", ST, M.group_wait_ms, 0, 3600000,   \
			  "wait this long after an alert for others to send with it"),             \
	BM_OPTION_BOUNDED("max_batch", BM_OPT_INT, "64", ST, M.max_batch, 1, 10000,               \
			  "most alerts in one request")

/* TLS and timeout, for every libcurl transfer (HTTP and SMTP). */
struct notify_tls_conf {
	char *ca_file;
	char *cert_file;
	char *key_file;
	bool insecure_skip_verify;
};
extern const struct bm_option notify_tls_options[];

#define NOTIFY_TLS_OPTIONS(ST, TIMEOUT_FIELD, TLS_FIELD)                                           \
	BM_OPTION_BOUNDED("timeout", BM_OPT_DURATION, "10s", ST, TIMEOUT_FIELD, 10, 600000,       \
			  "one attempt is abandoned after this long"),                             \
	{.name = "tls", .type = BM_OPT_GROUP, .sub = notify_tls_options,                          \
	 .offset = offsetof(ST, TLS_FIELD),                                                       \
	 .help = "TLS: { ca_file; cert_file; key_file; insecure_skip_verify; }"}

/* HTTP receivers (webhook, alertmanager). */
struct notify_basic_auth {
	char *username;
	char *password;
};
extern const struct bm_option notify_basic_auth_options[];

struct notify_http_conf {
	int64_t timeout_ms;
	struct notify_tls_conf tls;
	struct notify_basic_auth basic_auth;
	char *bearer_token;
	struct bm_map headers;
};

#define NOTIFY_HTTP_OPTIONS(ST, M)                                                                 \
	NOTIFY_TLS_OPTIONS(ST, M.timeout_ms, M.tls),                                               \
	{.name = "basic_auth", .type = BM_OPT_GROUP, .sub = notify_basic_auth_options,            \
	 .offset = offsetof(ST, M.basic_auth), .help = "HTTP basic auth: { username; password; }"},\
	{.name = "bearer_token", .type = BM_OPT_STRING, .flags = BM_OPTF_SECRET,                  \
	 .offset = offsetof(ST, M.bearer_token),                                                  \
	 .help = "sent as Authorization: Bearer TOKEN"},                                          \
	BM_OPTION("headers", BM_OPT_MAP, NULL, ST, M.headers, "extra HTTP headers: { name = value; }")

/* ---------------------------------------------------------------------
 * The alert's JSON form: what is queued on disk, what exec reads on stdin,
 * an element of the webhook's alerts[], what templates see. The fields of
 * Alertmanager's webhook alerts (status, labels, annotations, startsAt,
 * endsAt, generatorURL, fingerprint) plus ruleId, ruleName, severity,
 * value, threshold, eventAt, activeAt, flapping and ack.
 * --------------------------------------------------------------------- */

/* A new object (reference owned by the caller), NULL when out of memory. */
json_t *notify_alert_json(const struct bm_alert_event *e);
/* "2024-05-01T12:00:00.250Z"; buf of at least NOTIFY_TIME_LEN bytes. */
#define NOTIFY_TIME_LEN 32
void notify_time_text(int64_t ms, char *buf);
/* String member of an alert ("" when absent or not a string). */
const char *notify_alert_str(const json_t *alert, const char *key);
/* Label or annotation value ("" when absent). */
const char *notify_alert_label(const json_t *alert, const char *label);

/* ---------------------------------------------------------------------
 * Templates: text with {{ .Field }} substitutions, Go-template style but
 * nothing else of Go's language. Fields: .Status .Labels.NAME
 * .Annotations.NAME .Labels .Annotations (all, as name="value", ...)
 * .StartsAt .EndsAt .EventAt .ActiveAt .GeneratorURL .Fingerprint .RuleID
 * .RuleName .Severity .Value .Threshold. A missing label renders as "".
 * --------------------------------------------------------------------- */

/* 0, or BM_EINVAL with err naming the position and the problem. */
int notify_template_check(const char *tmpl, struct bm_err *err);
/* Append the rendering to out (not reset first): 0, BM_EINVAL, BM_ENOMEM. */
int notify_template_render(const char *tmpl, const json_t *alert, struct bm_buf *out);

/* ---------------------------------------------------------------------
 * Backoff: retry_initial * 2^(attempt-1), capped at retry_max; attempt is
 * the number of failed attempts so far (>= 1).
 * --------------------------------------------------------------------- */
int64_t notify_backoff_ms(int64_t initial_ms, int64_t max_ms, uint32_t attempt);

/* ---------------------------------------------------------------------
 * The on-disk queue: one file per alert in a directory of its own,
 * NNNNNNNNNNNNNNNN.alert (hex sequence number) holding
 * {"v":1,"enqueued_ms":..,"event_ms":..,"alert":{..}}, written to a
 * temporary name, fsync'ed and renamed. Not thread safe: the caller locks.
 * --------------------------------------------------------------------- */
enum nq_fate {
	NQ_WAITING = 0, /* in the queue */
	NQ_DELIVERED,
	NQ_FAILED,      /* given up: permanent error or max_attempts */
	NQ_EXPIRED,     /* older than max_age */
	NQ_EVICTED,     /* pushed out by a newer alert (queue_max) */
};

struct nq_entry {
	uint64_t seq;
	int64_t enqueued_ms;  /* wall clock */
	int64_t event_ms;     /* the alert event's ts_ms */
	int64_t ready_ms;     /* monotonic: first attempt not before (group_wait) */
	int64_t next_ms;      /* monotonic: next attempt after a failure */
	uint32_t attempts;    /* attempts made */
	bool in_flight;       /* being delivered: not merged, evicted or expired */
	bool persisted;       /* its file exists */
	enum nq_fate fate;
	enum bm_alert_state state;
	char *fingerprint;
	json_t *alert;        /* owned reference */
};

struct notify_queue;

struct nq_stats {
	uint64_t loaded;   /* entries found on disk at open */
	uint64_t corrupt;  /* unreadable files, renamed *.corrupt */
	uint64_t merged;   /* pushes that replaced a waiting duplicate */
	uint64_t write_errors;
};

/* Open (creating) dir and load what is in it, oldest first; beyond max the
 * oldest are marked NQ_EVICTED (see notify_queue_take_settled). */
int notify_queue_open(const char *dir, size_t max, int64_t mono_now, struct notify_queue **out,
		      struct bm_err *err);
void notify_queue_close(struct notify_queue *q);
size_t notify_queue_len(const struct notify_queue *q);
const struct nq_stats *notify_queue_stats(const struct notify_queue *q);
/* The entry at position i (oldest first), NULL past the end. */
struct nq_entry *notify_queue_at(struct notify_queue *q, size_t i);

enum nq_push_result { NQ_ADDED, NQ_MERGED, NQ_REJECTED };
/*
 * Queue alert (a reference is taken). A waiting, never attempted entry of
 * the same fingerprint and state is replaced instead (NQ_MERGED). When the
 * queue is full the oldest entry not in flight is marked NQ_EVICTED; when
 * every entry is in flight the new one is refused (NQ_REJECTED). BM_ENOMEM.
 */
int notify_queue_push(struct notify_queue *q, json_t *alert, int64_t event_ms, int64_t wall_ms,
		      int64_t ready_ms, enum nq_push_result *res);

/*
 * Pick the next delivery: entries in queue order, the first of each
 * fingerprint only (so one alert's firing and resolved never overtake each
 * other), never attempted ones and those whose retry is due. Nothing is
 * picked until one of them is due (ready_ms or next_ms <= mono_now) or
 * max_batch never-attempted ones wait. Entries older than max_age_ms are
 * marked NQ_EXPIRED. Picked entries are marked in flight. Returns the
 * number picked into batch (room for max_batch); *wake_ms = when to look
 * again (INT64_MAX: nothing waits).
 */
size_t notify_queue_pick(struct notify_queue *q, int64_t mono_now, int64_t wall_now,
			 int64_t max_age_ms, size_t max_batch, struct nq_entry **batch,
			 int64_t *wake_ms);

/* Mark e delivered, failed, expired or evicted. */
void notify_queue_settle(struct notify_queue *q, struct nq_entry *e, enum nq_fate fate);
/* Move the settled entries that are not in flight out of the queue into
 * *out (malloc'd array; the count is returned), under the caller's lock;
 * then, without it, announce them and notify_queue_forget() each. */
size_t notify_queue_take_settled(struct notify_queue *q, struct nq_entry ***out);
/* Delete e's file and free it (e is out of the queue). */
void notify_queue_forget(struct notify_queue *q, struct nq_entry *e);

/* Write data to path atomically (temporary file, fsync, rename): 0 or BM_EIO. */
int notify_write_file(const char *path, const char *data, size_t len);
/* mkdir -p: 0 or BM_EIO. */
int notify_mkdirs(const char *path, unsigned mode);

/* ---------------------------------------------------------------------
 * The notifier: plugins fill notify_params and call these from their
 * hooks (new in init, start/stop in theirs, free in fini).
 * --------------------------------------------------------------------- */
struct notify;

enum notify_verdict {
	NOTIFY_NONE = 0,  /* no attempt covered it */
	NOTIFY_PERMANENT, /* refused for good: give up */
	NOTIFY_TRANSIENT, /* failed this time: retry */
	NOTIFY_DELIVERED,
};

/* One queued alert in a delivery. */
struct notify_item {
	json_t *alert;            /* notify_alert_json's form, borrowed */
	const char *fingerprint;
	enum bm_alert_state state;
	uint32_t attempt;         /* 1 for the first attempt */
	enum notify_verdict verdict; /* best of the attempts recorded */
};

/* One attempt at one receiver, reported with notify_record(). */
struct notify_attempt {
	const char *receiver;     /* URL without credentials, address, command */
	enum notify_verdict verdict;
	int64_t status_code;      /* HTTP status, SMTP reply, exit code; 0 n/a */
	int64_t latency_ms;
	char error[256];          /* "" on success */
};

/*
 * Deliver items (on the worker thread). For every attempt, at every
 * receiver, call notify_record() with the items it carried: an item is
 * delivered when one attempt delivered it, retried when one failed
 * transiently, else given up.
 */
typedef void (*notify_deliver_cb)(void *user, struct notify *n, struct notify_item *items,
				  size_t n_items);
/* Periodic work on the worker thread (alertmanager's re-sends). */
typedef void (*notify_tick_cb)(void *user, struct notify *n);

struct notify_params {
	const char *plugin;       /* "webhook": notification events say plugin:instance */
	notify_deliver_cb deliver;
	void *user;
	size_t max_batch;         /* 0 = 1 */
	int64_t group_wait_ms;
	notify_tick_cb tick;      /* may be NULL */
	int64_t tick_ms;
};

/* Validate, create the queue directory data_dir/notify/INSTANCE, load what
 * a previous run left there, register self-metrics. conf and params are
 * borrowed until notify_free. */
int notify_new(struct bm_ctx *ctx, const struct notify_conf *conf,
	       const struct notify_params *params, struct notify **out, struct bm_err *err);
/* Start the worker thread, then subscribe to `alert` (block policy). */
int notify_start(struct notify *n, struct bm_err *err);
/* Unsubscribe, interrupt a delivery in progress (what it carried stays
 * queued), join the worker. */
void notify_stop(struct notify *n);
void notify_free(struct notify *n);

void notify_record(struct notify *n, const struct notify_attempt *a, struct notify_item *items,
		   size_t n_items);
/* Deliver alerts (a JSON array) now, outside the queue and without retries
 * (alertmanager's re-sends of firing alerts); from a tick only. */
void notify_send_unqueued(struct notify *n, json_t *alerts, const char *group_key);

struct bm_ctx *notify_ctx(const struct notify *n);
const char *notify_name(const struct notify *n);  /* PLUGIN:INSTANCE */
const char *notify_dir(const struct notify *n);   /* the queue directory */
/* A descriptor that becomes readable when the notifier stops: poll it
 * beside your own while you wait. */
int notify_stop_fd(const struct notify *n);
bool notify_stopping(struct notify *n);
/* Monotonic milliseconds, the clock of latencies and deadlines. */
int64_t notify_mono_ms(void);

/* Does alert e go to this notifier: its notifiers list is empty or names
 * the instance, as "INSTANCE" or "PLUGIN:INSTANCE". */
bool notify_routed_to(const struct bm_alert_event *e, const char *instance, const char *full);

/* ---------------------------------------------------------------------
 * libcurl
 * --------------------------------------------------------------------- */

/* 0, or BM_EINVAL when a file named in tls is not readable (for init). */
int notify_tls_check(const struct notify_tls_conf *tls, struct bm_err *err);
/* notify_tls_check, and headers that cannot inject lines (for init). */
int notify_http_check(const struct notify_http_conf *hc, struct bm_err *err);
/* 0, or BM_EINVAL: name is not an HTTP token or value holds CR or LF. */
int notify_header_check(const char *name, const char *value, struct bm_err *err);
/* Timeout, TLS, no signals, no redirects. */
void notify_curl_setup(CURL *c, int64_t timeout_ms, const struct notify_tls_conf *tls);
/* POST body to url with the auth and headers of hc plus extra (may be
 * NULL); fills a (status, latency, verdict, error; receiver = url without
 * credentials in recv, n bytes). */
void notify_http_post(struct notify *n, const struct notify_http_conf *hc, const char *url,
		      const char *content_type, const char *body, size_t len,
		      struct curl_slist *extra, struct notify_attempt *a, char *recv, size_t recv_n);
/* Verdict of an HTTP exchange: 2xx delivered; 408, 429, 5xx and transport
 * errors transient; other statuses permanent. */
enum notify_verdict notify_http_verdict(CURLcode rc, long status);
/* url without user:password@ and query string, into out. */
void notify_url_redact(const char *url, char *out, size_t n);
/* Run a prepared handle to the end, or until n stops
 * (CURLE_ABORTED_BY_CALLBACK): through a multi handle that also polls
 * notify_stop_fd(), so that stop never waits for a slow receiver. */
CURLcode notify_curl_perform(struct notify *n, CURL *c);

#endif
