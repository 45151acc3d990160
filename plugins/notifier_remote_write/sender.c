/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shards' HTTP client (see sender.h), on libcurl; TLS and timeouts as
 * every notifier sets them (common/notify.c).
 */
#define _GNU_SOURCE
#include "sender.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Secrets longer than this are refused (a token file that is not one). */
#define SECRET_MAX 16384

static bool is_set(const char *s)
{
	return s && *s;
}

/* ---- secrets ---------------------------------------------------------- */

/* The file's text without trailing whitespace: 0, or -1 with errno. */
static int read_secret(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char *buf = malloc(SECRET_MAX + 1);
	size_t n = buf ? fread(buf, 1, SECRET_MAX + 1, f) : 0;
	int err = ferror(f) ? EIO : buf ? 0 : ENOMEM;
	fclose(f);
	if (!err && n > SECRET_MAX)
		err = EFBIG;
	if (err) {
		free(buf);
		errno = err;
		return -1;
	}
	while (n && strchr(" \t\r\n", buf[n - 1]))
		n--;
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* Bring s up to date: true when the value in force changed. */
static bool secret_refresh(struct rw_secret *s)
{
	if (!is_set(s->file)) {
		if (s->value || !is_set(s->inline_value))
			return false;
		s->value = strdup(s->inline_value);
		return s->value != NULL;
	}
	struct stat st;
	if (stat(s->file, &st))
		return false; /* keep the last one read: a rotation in progress */
	int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (s->value && mtime == s->mtime_ns && (int64_t)st.st_size == s->size)
		return false;
	char *v;
	if (read_secret(s->file, &v))
		return false;
	free(s->value);
	s->value = v;
	s->mtime_ns = mtime;
	s->size = (int64_t)st.st_size;
	return true;
}

/* ---- checks ------------------------------------------------------------ */

static int file_check(const char *what, const char *path, struct bm_err *err)
{
	if (is_set(path) && access(path, R_OK))
		return bm_err_set(err, BM_EINVAL, "%s %s: %s", what, path, strerror(errno));
	return 0;
}

int rw_sender_check(const struct rw_conf *c, struct bm_err *err)
{
	if (!is_set(c->url) || (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8)))
		return bm_err_set(err, BM_EINVAL, "url \"%s\" is not an http:// or https:// URL",
				  c->url ? c->url : "");
	int rc = notify_tls_check(&c->tls, err);
	for (size_t i = 0; !rc && i < c->headers.n; i++)
		rc = notify_header_check(c->headers.keys[i], c->headers.values[i], err);
	if (!rc && is_set(c->bearer_token))
		rc = notify_header_check("Authorization", c->bearer_token, err);
	rc = rc ? rc : file_check("bearer_token_file", c->bearer_token_file, err);
	rc = rc ? rc : file_check("basic_auth.password_file", c->basic_auth.password_file, err);
	if (!rc && is_set(c->bearer_token) && is_set(c->bearer_token_file))
		rc = bm_err_set(err, BM_EINVAL, "bearer_token and bearer_token_file: give one");
	if (!rc && (is_set(c->bearer_token) || is_set(c->bearer_token_file)) &&
	    is_set(c->basic_auth.username))
		rc = bm_err_set(err, BM_EINVAL, "basic_auth and a bearer token: give one");
	return rc;
}

/* ---- the handle --------------------------------------------------------- */

static size_t keep_head(char *p, size_t size, size_t nmemb, void *user)
{
	struct rw_sender *s = user;
	size_t n = size * nmemb, room = sizeof(s->head) - s->head_len;
	memcpy(s->head + s->head_len, p, n < room ? n : room);
	s->head_len += n < room ? n : room;
	return n;
}

static size_t keep_retry_after(char *p, size_t size, size_t nitems, void *user)
{
	struct rw_sender *s = user;
	size_t n = size * nitems;
	static const char name[] = "retry-after:";
	if (n > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		size_t v = n - (sizeof(name) - 1);
		if (v >= sizeof(s->retry_after))
			v = sizeof(s->retry_after) - 1;
		memcpy(s->retry_after, p + sizeof(name) - 1, v);
		while (v && strchr(" \t\r\n", s->retry_after[v - 1]))
			v--;
		s->retry_after[v] = '\0';
		s->has_retry_after = true;
	}
	return n;
}

static struct curl_slist *build_headers(const struct rw_sender *s)
{
	static const char *const fixed[] = {
		"Content-Encoding: snappy", "Content-Type: application/x-protobuf",
		"X-Prometheus-Remote-Write-Version: 0.1.0", ("User-Agent: bearmon/" RW_VERSION),
		"Expect:", /* no 100-continue round trip before each body */
	};
	struct curl_slist *h = NULL;
	char line[SECRET_MAX + 64];
	bool ok = true;
	for (size_t i = 0; ok && i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ok = (h = curl_slist_append(h, fixed[i])) != NULL;
	for (size_t i = 0; ok && i < s->c->headers.n; i++) {
		snprintf(line, sizeof(line), "%s: %s", s->c->headers.keys[i], s->c->headers.values[i]);
		ok = curl_slist_append(h, line) != NULL;
	}
	if (ok && is_set(s->token.value)) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", s->token.value);
		ok = curl_slist_append(h, line) != NULL;
	}
	if (!ok) {
		curl_slist_free_all(h);
		return NULL;
	}
	return h;
}

int rw_sender_init(struct rw_sender *s, const struct rw_conf *c, struct bm_err *err)
{
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->token = (struct rw_secret){.inline_value = c->bearer_token, .file = c->bearer_token_file};
	s->password = (struct rw_secret){.inline_value = c->basic_auth.password,
					 .file = c->basic_auth.password_file};
	s->multi = curl_multi_init();
	s->easy = curl_easy_init();
	if (!s->multi || !s->easy)
		return bm_err_set(err, BM_ENOMEM, "cannot create a libcurl handle");
	CURL *e = s->easy;
	notify_curl_setup(e, c->timeout_ms, &c->tls);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "bearmon/" RW_VERSION);
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_head);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, keep_retry_after);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
	if (is_set(c->basic_auth.username)) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, c->basic_auth.username);
	}
	s->headers_stale = true;
	return 0;
}

void rw_sender_free(struct rw_sender *s)
{
	if (s->multi && s->easy)
		curl_multi_remove_handle(s->multi, s->easy);
	if (s->easy)
		curl_easy_cleanup(s->easy);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	curl_slist_free_all(s->headers);
	free(s->token.value);
	free(s->password.value);
	memset(s, 0, sizeof(*s));
}

void rw_sender_wake(struct rw_sender *s)
{
	if (s->multi)
		curl_multi_wakeup(s->multi);
}

/* Headers and credentials as their files say now. */
static bool prepare(struct rw_sender *s)
{
	if (secret_refresh(&s->token))
		s->headers_stale = true;
	if (s->headers_stale) {
		struct curl_slist *h = build_headers(s);
		if (!h)
			return false;
		curl_slist_free_all(s->headers);
		s->headers = h;
		curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, h);
		s->headers_stale = false;
	}
	if (is_set(s->c->basic_auth.username) && secret_refresh(&s->password))
		curl_easy_setopt(s->easy, CURLOPT_PASSWORD, s->password.value);
	return true;
}

/* Run the transfer to its end: false when *abort was raised. */
static bool perform(struct rw_sender *s, const int *abort, CURLcode *rc)
{
	int running = 1;
	*rc = CURLE_FAILED_INIT;
	if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK)
		return true;
	while (running && !__atomic_load_n(abort, __ATOMIC_ACQUIRE)) {
		if (curl_multi_perform(s->multi, &running) != CURLM_OK || !running)
			break;
		if (curl_multi_poll(s->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	bool aborted = __atomic_load_n(abort, __ATOMIC_ACQUIRE) && running;
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(s->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == s->easy)
			*rc = m->data.result;
	curl_multi_remove_handle(s->multi, s->easy);
	return !aborted;
}

bool rw_sender_post(struct rw_sender *s, const char *body, size_t len, const int *abort,
		    struct rw_response *resp)
{
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	long status = 0;
	s->errbuf[0] = '\0';
	s->head_len = 0;
	s->has_retry_after = false;
	if (prepare(s)) {
		curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		if (!perform(s, abort, &rc))
			return false;
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	}
	*resp = (struct rw_response){
		.transport_ok = rc == CURLE_OK,
		.transport_error = s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc),
		.status = rc == CURLE_OK ? status : 0,
		.retry_after = s->has_retry_after ? s->retry_after : NULL,
		.body = s->head,
		.body_len = s->head_len,
	};
	return true;
}
