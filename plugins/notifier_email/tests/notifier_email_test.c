/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of notifier/email: the message (headers, RFC 2047 subject,
 * CRLF body, no header injection from labels), envelope addresses, SMTP
 * verdicts, option checks, and delivery to a small SMTP sink on loopback,
 * including a refused recipient, which is given up without retries.
 */
#define _GNU_SOURCE
#include "email.c"
#include "../../notifier_webhook/tests/notifyhost.h"

/* A one-connection-at-a-time SMTP sink that answers RCPT with rcpt_code. */
struct sink {
	int fd, port, rcpt_code, messages;
	pthread_t thread;
	pthread_mutex_t lock;
	char rcpts[512];
	char data[16384];
};

static void sink_say(int c, const char *s)
{
	if (write(c, s, strlen(s)) < 0)
		perror("sink write");
}

static void append(char *dst, size_t n, const char *src)
{
	size_t k = strlen(dst);
	snprintf(dst + k, n - k, "%s", src);
}

static void sink_serve(struct sink *s, int c)
{
	FILE *in = fdopen(dup(c), "r");
	char line[2048], reply[64];
	sink_say(c, "220 sink\r\n");
	while (in && fgets(line, sizeof(line), in)) {
		if (!strncasecmp(line, "EHLO", 4)) {
			sink_say(c, "250-sink\r\n250 8BITMIME\r\n");
		} else if (!strncasecmp(line, "RCPT TO:", 8)) {
			pthread_mutex_lock(&s->lock);
			append(s->rcpts, sizeof(s->rcpts), line + 8);
			snprintf(reply, sizeof(reply), "%d rcpt\r\n", s->rcpt_code);
			pthread_mutex_unlock(&s->lock);
			sink_say(c, reply);
		} else if (!strncasecmp(line, "DATA", 4)) {
			sink_say(c, "354 go\r\n");
			pthread_mutex_lock(&s->lock);
			s->data[0] = '\0';
			while (fgets(line, sizeof(line), in) && strcmp(line, ".\r\n") != 0)
				append(s->data, sizeof(s->data), line);
			s->messages++;
			pthread_mutex_unlock(&s->lock);
			sink_say(c, "250 queued\r\n");
		} else if (!strncasecmp(line, "QUIT", 4)) {
			sink_say(c, "221 bye\r\n");
			break;
		} else {
			sink_say(c, "250 ok\r\n");
		}
	}
	if (in)
		fclose(in);
	close(c);
}

static void *sink_main(void *arg)
{
	struct sink *s = arg;
	int c;
	while ((c = accept(s->fd, NULL, NULL)) >= 0)
		sink_serve(s, c);
	return NULL;
}

static void sink_start(struct sink *s, int rcpt_code)
{
	memset(s, 0, sizeof(*s));
	s->rcpt_code = rcpt_code;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = lb_socket(8, &s->port);
	assert_int_equal(pthread_create(&s->thread, NULL, sink_main, s), 0);
}

static void sink_stop(struct sink *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
}

struct fixture {
	struct email_conf conf;
	struct email *m;
};

static void fx_open(struct fixture *f)
{
	nh_open();
	memset(f, 0, sizeof(*f));
	pt_conf_defaults(email_options, &f->conf);
}

static void fx_close(struct fixture *f)
{
	pt_fini(&email_ops, f->m);
	pt_conf_release(email_options, &f->conf);
	nh_close();
}

static const char *msg(struct fixture *f)
{
	assert_int_equal(bm_buf_append(&f->m->msg, "", 1), 0);
	return f->m->msg.data;
}

static void assert_crlf_only(const char *s)
{
	for (const char *p = strchr(s, '\n'); p; p = strchr(p + 1, '\n'))
		if (p == s || p[-1] != '\r')
			fail_msg("bare LF at offset %td", p - s);
}

static void test_message(void **unused)
{
	struct fixture f;
	unsigned char decoded[128];
	fx_open(&f);
	pt_set_str(&f.conf.subject, "Überlast {{ .Labels.alertname }}");
	pt_set_list(&f.conf.to, "ops@example.com", "Dev <dev@example.com>", NULL);
	nh_map_add(&f.conf.headers, "X-Team", "ops");
	f.m = pt_init(&email_ops, &f.conf);
	json_t *a = nh_alert_json("DiskFull", "fp1", BM_ALERT_FIRING);
	assert_int_equal(email_message(f.m, a, 1700000000000), 0);
	const char *s = msg(&f);
	assert_true(strncmp(s, "From: bearmon@localhost\r\nTo: ops@example.com, Dev <dev@example.com>\r\n", 69) == 0);
	const char *subj = strstr(s, "Subject: =?UTF-8?B?");
	assert_non_null(subj);
	subj += strlen("Subject: =?UTF-8?B?");
	int n = EVP_DecodeBlock(decoded, (const unsigned char *)subj, (int)(strstr(subj, "?=") - subj));
	assert_true(n >= 18);
	assert_true(memcmp(decoded, "Überlast DiskFull", 18) == 0);
	assert_non_null(strstr(s, "\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
	assert_non_null(strstr(s, "\r\nMessage-ID: <fp1.1700000000000@bearmon>\r\n"));
	assert_non_null(strstr(s, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
	assert_non_null(strstr(s, "\r\nX-Team: ops\r\n"));
	assert_non_null(strstr(s, "\r\n\r\nAlert DiskFull is firing.\r\n\r\nSeverity:    critical\r\n"));
	assert_non_null(strstr(s, "Labels:      alertname=\"DiskFull\", instance=\"host-1\""));
	assert_crlf_only(s);
	json_decref(a);
	fx_close(&f);
}

static void test_subject_safety(void **unused)
{
	struct fixture f;
	fx_open(&f);
	pt_set_str(&f.conf.subject, "{{ .Labels.alertname }}");
	pt_set_str(&f.conf.body, "body"); /* the header part only */
	f.m = pt_init(&email_ops, &f.conf);
	json_t *a = nh_alert_json("x\r\nBcc: victim@example.com", "fp1", BM_ALERT_FIRING);
	assert_int_equal(email_message(f.m, a, 1700000000000), 0);
	assert_null(strstr(msg(&f), "\r\nBcc:"));
	assert_non_null(strstr(msg(&f), "Subject: x  Bcc: victim@example.com\r\n"));
	json_decref(a);
	/* a long non-ASCII subject: folded encoded-words of at most 75 characters */
	char name[400] = "";
	for (int i = 0; i < 60; i++)
		strcat(name, "äöü");
	a = nh_alert_json(name, "fp1", BM_ALERT_FIRING);
	assert_int_equal(email_message(f.m, a, 1700000000000), 0);
	const char *s = strstr(msg(&f), "Subject:"), *end = strstr(s, "\r\nDate:");
	int words = 0;
	for (const char *w = strstr(s, "=?UTF-8?B?"); w && w < end; w = strstr(w + 1, "=?UTF-8?B?")) {
		assert_true(strstr(w, "?=") + 2 - w <= 75);
		words++;
	}
	assert_true(words >= 5);
	assert_crlf_only(msg(&f));
	json_decref(a);
	fx_close(&f);
}

static void test_envelope_and_verdict(void **unused)
{
	char out[100];
	envelope_address("Dev Team <dev@example.com>", out, sizeof(out));
	assert_string_equal(out, "<dev@example.com>");
	envelope_address("ops@example.com", out, sizeof(out));
	assert_string_equal(out, "<ops@example.com>");
	assert_int_equal(smtp_verdict(CURLE_OK, 250), NOTIFY_DELIVERED);
	assert_int_equal(smtp_verdict(CURLE_SEND_ERROR, 550), NOTIFY_PERMANENT);
	assert_int_equal(smtp_verdict(CURLE_LOGIN_DENIED, 535), NOTIFY_PERMANENT);
	assert_int_equal(smtp_verdict(CURLE_SEND_ERROR, 451), NOTIFY_TRANSIENT);
	assert_int_equal(smtp_verdict(CURLE_COULDNT_CONNECT, 0), NOTIFY_TRANSIENT);
	assert_int_equal(smtp_verdict(CURLE_URL_MALFORMAT, 0), NOTIFY_PERMANENT);
}

static void test_option_checks(void **unused)
{
	struct fixture f;
	fx_open(&f);
	pt_set_str(&f.conf.smtp_url, "http://mail:25");
	pt_init_err(&email_ops, &f.conf, BM_EINVAL, "smtp_url must start with smtp://", NULL);
	pt_set_str(&f.conf.smtp_url, "smtps://mail:465");
	pt_set_str(&f.conf.body, "{{ .Labels.alertname ");
	pt_init_err(&email_ops, &f.conf, BM_EINVAL, "template", NULL);
	pt_set_str(&f.conf.body, "ok");
	pt_set_list(&f.conf.to, "a@b\r\nRCPT TO:<c@d>", NULL);
	pt_init_err(&email_ops, &f.conf, BM_EINVAL, "to must be set, on one line", NULL);
	pt_set_list(&f.conf.to, NULL);
	pt_init_err(&email_ops, &f.conf, BM_EINVAL, "at least one recipient", NULL);
	pt_set_list(&f.conf.to, "a@b", NULL);
	f.m = pt_init(&email_ops, &f.conf);
	fx_close(&f);
}

static void test_send(void **unused)
{
	struct fixture f;
	struct sink s;
	struct bm_err err = {0};
	struct nh_alert a;
	char url[100];
	fx_open(&f);
	sink_start(&s, 250);
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", s.port);
	pt_set_str(&f.conf.smtp_url, url);
	f.m = pt_init(&email_ops, &f.conf);
	json_t *arr = json_array();
	json_array_append_new(arr, nh_alert_json("DiskFull", "fp1", BM_ALERT_FIRING));
	notify_send_unqueued(f.m->n, arr, NULL);
	json_decref(arr);
	struct nh_event e = nh_event(0);
	assert_int_equal(e.outcome, BM_NOTIFY_OK);
	assert_int_equal(e.status_code, 250);
	assert_non_null(strstr(e.receiver, "to root@localhost"));
	assert_int_equal(s.messages, 1);
	assert_non_null(strstr(s.rcpts, "<root@localhost>"));
	assert_non_null(strstr(s.data, "Subject: [bearmon] firing: DiskFull (critical)\r\n"));
	pt_fini(&email_ops, f.m);

	/* a refused recipient is given up at once, not retried */
	s.rcpt_code = 550;
	f.m = pt_init(&email_ops, &f.conf);
	assert_int_equal(email_ops.start(f.m, &err), 0);
	nh_alert_init(&a, "DiskFull", "fp2", BM_ALERT_FIRING);
	nh_publish_alert(&a.e);
	nh_wait_outcome(BM_NOTIFY_FAILED, 1);
	email_ops.stop(f.m);
	e = nh_event(1);
	assert_int_equal(e.status_code, 550);
	assert_int_equal(e.attempt, 1);
	assert_int_equal(nh_count(BM_NOTIFY_RETRYING), 0);
	assert_int_equal(nh_queue_files(), 0);
	sink_stop(&s);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_subject_safety),
		cmocka_unit_test(test_envelope_and_verdict),
		cmocka_unit_test(test_option_checks),
		cmocka_unit_test(test_send),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
