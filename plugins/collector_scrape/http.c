/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scrape loop: one thread of the plugin's own runs a libcurl multi
 * handle, so hundreds of targets are fetched concurrently without ever
 * blocking bearmond's main loop or the collection thread. Each target has
 * an easy handle (kept: connections are reused) and a body buffer that
 * stops at body_size_limit. Finished transfers are ingested and published
 * on this thread, one batch per target scrape.
 */
#define _GNU_SOURCE
#include "scrape.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* What Prometheus 2.x asks for: OpenMetrics first, then text 0.0.4. */
#define ACCEPT_HEADER                                                                        \
	"Accept: application/openmetrics-text;version=1.0.0,"                                \
	"application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
#define HOUSEKEEPING_MS 1000      /* file_sd and credential files are checked this often */
#define LOG_EVERY_MS (5 * 60000) /* a target that stays down is logged this often */

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t scrape_mono_ms(void) { return mono_ns() / 1000000; }

int64_t scrape_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t target_next_slot(const struct target *t, int64_t now)
{
	int64_t phase = ((t->offset_ms - now) % t->interval_ms + t->interval_ms) % t->interval_ms;
	return now + phase;
}

/* ---- per-target easy handles ----------------------------------------- */

static size_t body_write(char *data, size_t size, size_t nmemb, void *user)
{
	struct target *t = user;
	size_t n = size * nmemb;
	if (t->len + n > t->job->conf->body_size_limit) {
		t->too_large = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 16384;
		while (cap < t->len + n + 1)
			cap *= 2;
		char *p = realloc(t->body, cap);
		if (!p)
			return 0;
		t->body = p;
		t->cap = cap;
	}
	memcpy(t->body + t->len, data, n);
	t->len += n;
	t->body[t->len] = '\0';
	return n;
}

/* Headers and authentication, again whenever a credential file changed. */
static int apply_auth(struct target *t)
{
	const struct job *j = t->job;
	const struct scrape_job_conf *c = j->conf;
	char timeout[80];
	char *bearer = NULL;
	snprintf(timeout, sizeof(timeout), "X-Prometheus-Scrape-Timeout-Seconds: %g",
		 (double)t->timeout_ms / 1000.0);
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	struct curl_slist *h = curl_slist_append(NULL, ACCEPT_HEADER);
	if (h && !curl_slist_append(h, timeout))
		h = NULL;
	if (h && j->bearer.value &&
	    (asprintf(&bearer, "Authorization: Bearer %s", j->bearer.value) < 0 ||
	     !curl_slist_append(h, bearer)))
		h = NULL;
	free(bearer);
	if (!h)
		return BM_ENOMEM;
	t->headers = h;
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	if (conf_set(c->basic_auth.username)) {
		curl_easy_setopt(t->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(t->easy, CURLOPT_USERNAME, c->basic_auth.username);
		curl_easy_setopt(t->easy, CURLOPT_PASSWORD, j->password.value ? j->password.value : "");
	}
	t->cred_gen = j->cred_gen;
	return 0;
}

static void apply_tls(CURL *e, const struct scrape_tls_conf *tls)
{
	if (conf_set(tls->ca_file))
		curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca_file);
	if (conf_set(tls->cert_file)) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, tls->cert_file);
		curl_easy_setopt(e, CURLOPT_SSLKEY, tls->key_file);
	}
	if (tls->insecure_skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

int target_http_init(struct scrape *s, struct target *t)
{
	(void)s;
	const struct scrape_job_conf *c = t->job->conf;
	CURL *e = t->easy = curl_easy_init();
	if (!e)
		return BM_ENOMEM;
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->timeout_ms);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "bearmon-scrape/" SCRAPE_VERSION);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->body_size_limit);
	apply_tls(e, &c->tls_config);
	return apply_auth(t);
}

void target_http_free(struct scrape *s, struct target *t)
{
	if (t->in_flight && s->multi) {
		curl_multi_remove_handle(s->multi, t->easy);
		s->in_flight--;
		t->in_flight = false;
	}
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t->body);
	t->easy = NULL;
	t->headers = NULL;
	t->body = NULL;
}

/* ---- one scrape ------------------------------------------------------ */

static void start_scrape(struct scrape *s, struct target *t)
{
	if (t->cred_gen != t->job->cred_gen && apply_auth(t))
		return; /* out of memory: try at the next slot */
	t->len = 0;
	t->too_large = false;
	t->curl_err[0] = '\0';
	t->started_wall_ms = scrape_wall_ms();
	t->started_mono_ns = mono_ns();
	if (curl_multi_add_handle(s->multi, t->easy) != CURLM_OK)
		return;
	t->in_flight = true;
	s->in_flight++;
}

static enum scrape_fail classify(const struct target *t, CURLcode rc, long status, char *why,
				 size_t n)
{
	if (rc == CURLE_OK && status == 200)
		return SCRAPE_OK;
	if (rc == CURLE_OK) {
		snprintf(why, n, "server returned HTTP status %ld", status);
		return SCRAPE_HTTP;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, n, "timed out after %lld ms (scrape_timeout)", (long long)t->timeout_ms);
		return SCRAPE_TIMEOUT;
	}
	if ((rc == CURLE_WRITE_ERROR && t->too_large) || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(why, n, "body larger than body_size_limit (%" PRIu64 " bytes)",
			 t->job->conf->body_size_limit);
		return SCRAPE_TOO_LARGE;
	}
	snprintf(why, n, "%.60s%s%.180s", curl_easy_strerror(rc), t->curl_err[0] ? ": " : "", t->curl_err);
	return SCRAPE_TRANSPORT;
}

/* A failure is logged when the target goes down, then at most every
 * LOG_EVERY_MS while it stays down; coming back is logged once. */
static void note_health(struct scrape *s, struct target *t, const struct scrape_outcome *o,
			int64_t now)
{
	const char *job = t->job->conf->job_name;
	bool up = o->fail == SCRAPE_OK;
	if (up && t->ever_scraped && !t->up) {
		bm_log_notice(s->ctx, "job %s: target %s is up again", job, t->url);
	} else if (!up && (t->up || !t->ever_scraped || now - t->last_log_ms >= LOG_EVERY_MS)) {
		if (t->fails_unlogged)
			bm_log_warn(s->ctx, "job %s: scrape of %s failed: %s (%" PRIu64
					    " more failures since the last report)",
				    job, t->url, o->why, t->fails_unlogged);
		else
			bm_log_warn(s->ctx, "job %s: scrape of %s failed: %s", job, t->url, o->why);
		t->last_log_ms = now;
		t->fails_unlogged = 0;
	} else if (!up) {
		t->fails_unlogged++;
	}
	if (up)
		t->fails_unlogged = 0;
	t->up = up;
	t->ever_scraped = true;
}

static void finish_scrape(struct scrape *s, CURL *e, CURLcode rc)
{
	struct target *t = NULL;
	long status = 0;
	char *ct = NULL;
	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
	struct scrape_outcome o = {.ts_ms = t->started_wall_ms};
	o.duration_s = (double)(mono_ns() - t->started_mono_ns) / 1e9;
	o.fail = classify(t, rc, status, o.why, sizeof(o.why));
	if (o.fail == SCRAPE_OK) {
		o.body = t->body;
		o.len = t->len;
		o.openmetrics = ct && strncasecmp(ct, "application/openmetrics-text", 28) == 0;
	}
	/* the body (and ct) stay valid: the handle leaves the multi after */
	ingest_scrape(s, t, &o);
	curl_multi_remove_handle(s->multi, e);
	t->in_flight = false;
	s->in_flight--;
	int64_t now = scrape_mono_ms();
	note_health(s, t, &o, now);
	if (t->too_large) { /* do not keep a body_size_limit buffer around */
		free(t->body);
		t->body = NULL;
		t->cap = 0;
	}
	t->len = 0;
	t->due_ms += t->interval_ms;
	if (t->due_ms <= now) /* late (max_concurrent): the next slot from now */
		t->due_ms = target_next_slot(t, now + 1);
	scrape_count_targets(s);
}

/* ---- the loop -------------------------------------------------------- */

/* Start every due target there is room for; the time of the next one. */
static int64_t start_due(struct scrape *s, int64_t now)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < s->n_jobs; i++) {
		struct job *j = &s->jobs[i];
		for (size_t k = 0; k < j->n_targets; k++) {
			struct target *t = j->targets[k];
			if (t->in_flight)
				continue;
			if (t->due_ms > now) {
				next = t->due_ms < next ? t->due_ms : next;
				continue;
			}
			/* at max_concurrent a due target waits for a finished
			 * transfer, which wakes the loop anyway */
			if ((int64_t)s->in_flight < s->conf->max_concurrent)
				start_scrape(s, t);
		}
	}
	return next;
}

static bool drain(struct scrape *s)
{
	CURLMsg *m;
	int left;
	bool any = false;
	while ((m = curl_multi_info_read(s->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		finish_scrape(s, m->easy_handle, m->data.result);
		any = true;
	}
	return any;
}

static void *loop_main(void *arg)
{
	struct scrape *s = arg;
	int64_t next_house = 0;
	while (!__atomic_load_n(&s->quit, __ATOMIC_ACQUIRE)) {
		int64_t now = scrape_mono_ms();
		if (now >= next_house) {
			for (size_t i = 0; i < s->n_jobs; i++)
				job_refresh(s, &s->jobs[i], now);
			next_house = now + HOUSEKEEPING_MS;
		}
		int64_t next = start_due(s, now);
		int running = 0;
		curl_multi_perform(s->multi, &running);
		if (drain(s))
			continue; /* a slot came free, schedules moved: look again */
		now = scrape_mono_ms();
		int64_t wait = (next < next_house ? next : next_house) - now;
		wait = wait < 0 ? 0 : wait > HOUSEKEEPING_MS ? HOUSEKEEPING_MS : wait;
		curl_multi_poll(s->multi, NULL, 0, (int)wait, NULL);
	}
	return NULL;
}

int loop_start(struct scrape *s, struct bm_err *err)
{
	if (!s->n_jobs)
		return 0; /* nothing to scrape: no thread, no wake-ups */
	s->multi = curl_multi_init();
	if (!s->multi)
		return bm_err_set(err, BM_ENOMEM, "cannot create the libcurl multi handle");
	__atomic_store_n(&s->quit, false, __ATOMIC_RELEASE);
	if (pthread_create(&s->thread, NULL, loop_main, s) != 0) {
		curl_multi_cleanup(s->multi);
		s->multi = NULL;
		return bm_err_set(err, BM_EIO, "cannot start the scrape thread");
	}
	pthread_setname_np(s->thread, "bm-scrape");
	s->thread_started = true;
	return 0;
}

/* Join the loop, then end every target's series (stale markers) and let
 * the targets go; the jobs stay for fini. */
void loop_stop(struct scrape *s)
{
	if (s->thread_started) {
		__atomic_store_n(&s->quit, true, __ATOMIC_RELEASE);
		curl_multi_wakeup(s->multi);
		pthread_join(s->thread, NULL);
		s->thread_started = false;
	}
	int64_t now = scrape_wall_ms();
	for (size_t i = 0; i < s->n_jobs; i++) {
		struct job *j = &s->jobs[i];
		for (size_t k = 0; k < j->n_targets; k++) {
			ingest_retire(s, j->targets[k], now);
			target_free(s, j->targets[k]);
		}
		j->n_targets = 0;
		j->synced = false;
	}
	scrape_count_targets(s);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	s->multi = NULL;
	s->in_flight = 0;
}
