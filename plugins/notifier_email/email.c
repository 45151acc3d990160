/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notifier/email: one mail per alert through libcurl's SMTP (smtp:// with
 * optional or required STARTTLS, smtps://, AUTH), subject and body from
 * {{ .Labels.alertname }}-style templates (notify.h). Non-ASCII subjects
 * are RFC 2047 encoded-words; the body is UTF-8, 8bit.
 */
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify.h"

#define EMAIL_BATCH 16        /* mails per round of the worker, one per alert */
#define EMAIL_SUBJECT_MAX 900 /* bytes: header lines stay under SMTP's 998 */
#define EMAIL_WORD_IN 45      /* bytes per encoded-word: 60 of base64, under 75 */

enum email_starttls { STARTTLS_AUTO, STARTTLS_ALWAYS, STARTTLS_NEVER };
static const char *const email_starttls_names[] = {"auto", "always", "never", NULL};

#define EMAIL_DEFAULT_SUBJECT "[bearmon] {{ .Status }}: {{ .Labels.alertname }} ({{ .Severity }})"
#define EMAIL_DEFAULT_BODY                                                                         \
	"Alert {{ .Labels.alertname }} is {{ .Status }}.\n\n"                                      \
	"Severity:    {{ .Severity }}\n"                                                           \
	"Value:       {{ .Value }} (threshold {{ .Threshold }})\n"                                 \
	"Summary:     {{ .Annotations.summary }}\n"                                                \
	"Description: {{ .Annotations.description }}\n"                                           \
	"Started:     {{ .StartsAt }}\n"                                                           \
	"Ended:       {{ .EndsAt }}\n"                                                             \
	"Labels:      {{ .Labels }}\n"                                                             \
	"Source:      {{ .GeneratorURL }}\n"                                                       \
	"Fingerprint: {{ .Fingerprint }}\n"

struct email_conf {
	struct notify_conf common;
	char *smtp_url;
	int starttls;
	char *username;
	char *password;
	char *from;
	struct bm_strlist to;
	char *subject;
	char *body;
	struct bm_map headers;
	int64_t timeout_ms;
	struct notify_tls_conf tls;
};

static const struct bm_option email_options[] = {
	BM_OPTION("smtp_url", BM_OPT_STRING, "smtp://127.0.0.1:25", struct email_conf, smtp_url,
		  "smtp://HOST:PORT (STARTTLS per starttls) or smtps://HOST:PORT (TLS from the start)"),
	{.name = "starttls", .type = BM_OPT_ENUM, .def = "auto",
	 .offset = offsetof(struct email_conf, starttls), .enum_values = email_starttls_names,
	 .help = "smtp://: auto (when offered), always (fail without it), never"},
	BM_OPTION("username", BM_OPT_STRING, NULL, struct email_conf, username,
		  "SMTP AUTH user (unset: no AUTH)"),
	{.name = "password", .type = BM_OPT_STRING, .flags = BM_OPTF_SECRET,
	 .offset = offsetof(struct email_conf, password), .help = "SMTP AUTH password"},
	BM_OPTION("from", BM_OPT_STRING, "bearmon@localhost", struct email_conf, from,
		  "sender: addr@host or \"Name <addr@host>\""),
	BM_OPTION("to", BM_OPT_STRING_LIST, "root@localhost", struct email_conf, to,
		  "recipients: [\"ops@example.com\", ...]"),
	BM_OPTION("subject", BM_OPT_STRING, EMAIL_DEFAULT_SUBJECT, struct email_conf, subject,
		  "subject template ({{ .Labels.NAME }}, ... see README)"),
	BM_OPTION("body", BM_OPT_STRING, EMAIL_DEFAULT_BODY, struct email_conf, body,
		  "body template, plain text"),
	BM_OPTION("headers", BM_OPT_MAP, NULL, struct email_conf, headers,
		  "extra mail headers: { X-Team = \"ops\"; }"),
	NOTIFY_TLS_OPTIONS(struct email_conf, timeout_ms, tls),
	NOTIFY_OPTIONS(struct email_conf, common, "0"),
	BM_OPTION_END,
};

struct email {
	struct bm_ctx *ctx;
	const struct email_conf *conf;
	struct notify *n;
	struct bm_buf msg;  /* worker thread: the message */
	struct bm_buf text; /* worker thread: a rendered template */
	char receiver[512];
};

static int put(struct bm_buf *b, const char *s)
{
	return bm_buf_append(b, s, strlen(s));
}

static int put_header(struct bm_buf *b, const char *name, const char *value)
{
	int rc = put(b, name);
	rc |= put(b, ": ");
	rc |= put(b, value);
	rc |= put(b, "\r\n");
	return rc ? BM_ENOMEM : 0;
}

/* Date: in RFC 5322 form, English names whatever the locale. */
static int put_date(struct bm_buf *b, int64_t now_ms)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char date[64];
	struct tm tm;
	time_t t = (time_t)(now_ms / 1000);
	gmtime_r(&t, &tm);
	snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
		 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return put_header(b, "Date", date);
}

static bool is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* Where to cut s (n bytes) at most max bytes in, not inside a UTF-8 character. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* Subject: as is when ASCII, else as folded RFC 2047 B encoded-words. */
static int put_subject(struct bm_buf *b, char *s, size_t n)
{
	unsigned char word[4 * ((EMAIL_WORD_IN + 2) / 3) + 1];
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\r' || s[i] == '\n') /* a template must not add headers */
			s[i] = ' ';
	n = utf8_cut(s, n, EMAIL_SUBJECT_MAX);
	if (is_ascii(s, n)) {
		int rc = put(b, "Subject: ");
		rc |= bm_buf_append(b, s, n);
		return rc | put(b, "\r\n") ? BM_ENOMEM : 0;
	}
	int rc = put(b, "Subject:");
	for (size_t off = 0; off < n && !rc;) {
		size_t k = utf8_cut(s + off, n - off, EMAIL_WORD_IN);
		EVP_EncodeBlock(word, (const unsigned char *)s + off, (int)k);
		rc |= put(b, off ? "\r\n =?UTF-8?B?" : " =?UTF-8?B?");
		rc |= put(b, (const char *)word);
		rc |= put(b, "?=");
		off += k;
	}
	return rc | put(b, "\r\n") ? BM_ENOMEM : 0;
}

/* The body with every line ending CRLF, as SMTP wants. */
static int put_body(struct bm_buf *b, const char *s, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			rc = bm_buf_append(b, "\r", 1);
		rc |= bm_buf_append(b, s + i, 1);
	}
	if (!rc && n && s[n - 1] != '\n')
		rc = put(b, "\r\n");
	return rc ? BM_ENOMEM : 0;
}

static int put_recipients(struct bm_buf *b, const struct bm_strlist *to)
{
	int rc = put(b, "To: ");
	for (size_t i = 0; i < to->n; i++) {
		rc |= i ? put(b, ", ") : 0;
		rc |= put(b, to->v[i]);
	}
	return rc | put(b, "\r\n") ? BM_ENOMEM : 0;
}

/* The whole message for alert into m->msg: 0 or BM_ENOMEM. */
static int email_message(struct email *m, const json_t *alert, int64_t now_ms)
{
	const struct email_conf *c = m->conf;
	struct bm_buf *b = &m->msg;
	char id[160];
	bm_buf_reset(b);
	bm_buf_reset(&m->text);
	int rc = put_header(b, "From", c->from);
	rc |= put_recipients(b, &c->to);
	rc |= notify_template_render(c->subject, alert, &m->text);
	rc |= rc ? 0 : put_subject(b, m->text.data ? m->text.data : (char *)"", m->text.len);
	rc |= put_date(b, now_ms);
	snprintf(id, sizeof(id), "<%.64s.%lld@bearmon>", notify_alert_str(alert, "fingerprint"),
		 (long long)now_ms);
	rc |= put_header(b, "Message-ID", id);
	rc |= put_header(b, "MIME-Version", "1.0");
	rc |= put_header(b, "Content-Type", "text/plain; charset=UTF-8");
	rc |= put_header(b, "Content-Transfer-Encoding", "8bit");
	rc |= put_header(b, "X-Bearmon-Fingerprint", notify_alert_str(alert, "fingerprint"));
	rc |= put_header(b, "X-Bearmon-Status", notify_alert_str(alert, "status"));
	for (size_t i = 0; i < c->headers.n; i++)
		rc |= put_header(b, c->headers.keys[i], c->headers.values[i]);
	rc |= put(b, "\r\n");
	bm_buf_reset(&m->text);
	rc |= rc ? 0 : notify_template_render(c->body, alert, &m->text);
	rc |= rc ? 0 : put_body(b, m->text.data ? m->text.data : "", m->text.len);
	return rc ? BM_ENOMEM : 0;
}

/* <addr> of "addr" or "Name <addr>", for the SMTP envelope. */
static void envelope_address(const char *s, char *out, size_t n)
{
	const char *lt = strrchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt)
		snprintf(out, n, "<%.*s>", (int)(gt - lt - 1), lt + 1);
	else
		snprintf(out, n, "<%s>", s);
}

struct upload {
	const char *p;
	size_t left;
};

static size_t email_read(char *buf, size_t size, size_t nitems, void *user)
{
	struct upload *u = user;
	size_t n = size * nitems < u->left ? size * nitems : u->left;
	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

/* A 5xx reply, or a URL curl cannot use, will not get better by waiting. */
static enum notify_verdict smtp_verdict(CURLcode rc, long code)
{
	if (rc == CURLE_OK)
		return NOTIFY_DELIVERED;
	if (code >= 500 || rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
		return NOTIFY_PERMANENT;
	return NOTIFY_TRANSIENT;
}

static struct curl_slist *email_rcpt(const struct bm_strlist *to)
{
	struct curl_slist *l = NULL, *t;
	char addr[320];
	for (size_t i = 0; i < to->n; i++) {
		envelope_address(to->v[i], addr, sizeof(addr));
		if (!(t = curl_slist_append(l, addr))) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = t;
	}
	return l;
}

static void email_setup(const struct email *m, CURL *c, struct curl_slist *rcpt,
			struct upload *up, char *from, char *errbuf)
{
	static const long use_ssl[] = {CURLUSESSL_TRY, CURLUSESSL_ALL, CURLUSESSL_NONE};
	const struct email_conf *cf = m->conf;
	notify_curl_setup(c, cf->timeout_ms, &cf->tls);
	curl_easy_setopt(c, CURLOPT_URL, cf->smtp_url);
	curl_easy_setopt(c, CURLOPT_USE_SSL, use_ssl[cf->starttls]);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, email_read);
	curl_easy_setopt(c, CURLOPT_READDATA, up);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up->left);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (cf->username && *cf->username) {
		curl_easy_setopt(c, CURLOPT_USERNAME, cf->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, cf->password ? cf->password : "");
	}
}

static void email_send(struct email *m, struct notify *n, const json_t *alert,
		       struct notify_attempt *a)
{
	char errbuf[CURL_ERROR_SIZE] = "", from[320];
	long code = 0;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	int64_t t0 = notify_mono_ms();
	a->receiver = m->receiver;
	CURL *c = curl_easy_init();
	struct curl_slist *rcpt = email_rcpt(&m->conf->to);
	if (c && rcpt && !email_message(m, alert, bm_now_ms(m->ctx))) {
		struct upload up = {m->msg.data, m->msg.len};
		envelope_address(m->conf->from, from, sizeof(from));
		email_setup(m, c, rcpt, &up, from, errbuf);
		rc = notify_curl_perform(n, c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	}
	a->latency_ms = notify_mono_ms() - t0;
	a->status_code = code;
	a->verdict = smtp_verdict(rc, code);
	if (rc != CURLE_OK)
		snprintf(a->error, sizeof(a->error), "%s",
			 rc == CURLE_ABORTED_BY_CALLBACK ? "interrupted: the notifier stopped"
			 : errbuf[0]			  ? errbuf
							  : curl_easy_strerror(rc));
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
}

static void email_deliver(void *user, struct notify *n, struct notify_item *items, size_t k)
{
	struct email *m = user;
	for (size_t i = 0; i < k; i++) {
		struct notify_attempt a = {.verdict = NOTIFY_NONE};
		email_send(m, n, items[i].alert, &a);
		notify_record(n, &a, &items[i], 1);
	}
}

static int no_line_break(const char *what, const char *s, struct bm_err *err)
{
	if (!s || !*s || strpbrk(s, "\r\n"))
		return bm_err_set(err, BM_EINVAL, "%s must be set, on one line", what);
	return 0;
}

static int email_check(const struct email_conf *c, struct bm_err *err)
{
	if (!c->smtp_url || (strncmp(c->smtp_url, "smtp://", 7) != 0 &&
			     strncmp(c->smtp_url, "smtps://", 8) != 0))
		return bm_err_set(err, BM_EINVAL, "smtp_url must start with smtp:// or smtps://");
	if (!c->to.n)
		return bm_err_set(err, BM_EINVAL, "to: name at least one recipient");
	int rc = no_line_break("from", c->from, err);
	for (size_t i = 0; !rc && i < c->to.n; i++)
		rc = no_line_break("to", c->to.v[i], err);
	for (size_t i = 0; !rc && i < c->headers.n; i++)
		rc = notify_header_check(c->headers.keys[i], c->headers.values[i], err);
	if (!rc)
		rc = notify_template_check(c->subject, err);
	if (!rc)
		rc = notify_template_check(c->body, err);
	return rc ? rc : notify_tls_check(&c->tls, err);
}

static int email_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct email_conf *c = conf;
	char url[400];
	int rc = email_check(c, err);
	if (rc)
		return rc;
	struct email *m = calloc(1, sizeof(*m));
	if (!m)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	m->ctx = ctx;
	m->conf = c;
	notify_url_redact(c->smtp_url, url, sizeof(url));
	snprintf(m->receiver, sizeof(m->receiver), "%s to %s%s", url, c->to.v[0],
		 c->to.n > 1 ? ", ..." : "");
	struct notify_params p = {.plugin = "email", .deliver = email_deliver, .user = m,
				  .max_batch = EMAIL_BATCH};
	rc = notify_new(ctx, &c->common, &p, &m->n, err);
	if (rc) {
		free(m);
		return rc;
	}
	*state = m;
	return 0;
}

static int email_start(void *state, struct bm_err *err)
{
	struct email *m = state;
	return notify_start(m->n, err);
}

static void email_stop(void *state)
{
	struct email *m = state;
	notify_stop(m->n);
}

static void email_fini(void *state)
{
	struct email *m = state;
	notify_free(m->n);
	bm_buf_free(&m->msg);
	bm_buf_free(&m->text);
	free(m);
}

static const struct bm_plugin_ops email_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = email_init,
	.start = email_start,
	.stop = email_stop,
	.fini = email_fini,
};

BM_PLUGIN_DEFINE(notifier, email, BM_KIND_NOTIFIER,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "one mail per alert over SMTP (STARTTLS, smtps, AUTH), templated",
		 .origin = "bearmon plugins/notifier_email",
		 .options = email_options,
		 .config_size = sizeof(struct email_conf),
		 .ops = &email_ops);
