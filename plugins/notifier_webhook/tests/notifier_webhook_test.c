/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of notifier/webhook against the notifier test host and a
 * loopback HTTP server: the HMAC (RFC 4231 vectors), the payload in
 * Alertmanager's webhook format, headers, auth and signature on the wire,
 * failures, option checks, and delivery from the alert subscription.
 */
#define _GNU_SOURCE
#include "webhook.c"
#include "notifyhost.h"

struct fixture {
	struct webhook_conf conf;
	struct webhook *w;
	struct nh_http srv;
};

static void fx_open(struct fixture *f, int status)
{
	nh_open();
	memset(f, 0, sizeof(*f));
	pt_conf_defaults(webhook_options, &f->conf);
	nh_http_start(&f->srv, status);
}

static void fx_close(struct fixture *f)
{
	pt_fini(&webhook_ops, f->w);
	nh_http_stop(&f->srv);
	pt_conf_release(webhook_options, &f->conf);
	nh_close();
}

static void set_url(struct fixture *f, const char *tail)
{
	char url[200];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->srv.port, tail);
	pt_set_str(&f->conf.url, url);
}

static void test_hmac(void **unused)
{
	char hex[65];
	/* RFC 4231, test cases 1 and 2 */
	assert_int_equal(webhook_sign("Jefe", "what do ya want for nothing?", 28, hex), 0);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	char key[21];
	memset(key, 0x0b, 20);
	key[20] = '\0';
	assert_int_equal(webhook_sign(key, "Hi There", 8, hex), 0);
	assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_payload(void **unused)
{
	struct fixture f;
	fx_open(&f, 200);
	f.w = pt_init(&webhook_ops, &f.conf);
	json_t *a = nh_alert_json("DiskFull", "fp1", BM_ALERT_RESOLVED);
	json_t *b = nh_alert_json("DiskFull", "fp2", BM_ALERT_RESOLVED);
	json_object_set_new(json_object_get(b, "labels"), "instance", json_string("host-2"));
	struct notify_item items[2] = {{a, "fp1", BM_ALERT_RESOLVED, 1, NOTIFY_NONE},
				       {b, "fp2", BM_ALERT_RESOLVED, 1, NOTIFY_NONE}};
	json_t *p = webhook_payload(f.w, items, 2);
	assert_string_equal(notify_alert_str(p, "version"), "4");
	assert_string_equal(notify_alert_str(p, "status"), "resolved");
	assert_string_equal(notify_alert_str(p, "receiver"), "test");
	assert_string_equal(notify_alert_str(p, "groupKey"),
			    "{}:{alertname=\"DiskFull\", severity=\"critical\"}");
	json_t *common = json_object_get(p, "commonLabels");
	assert_int_equal(json_object_size(common), 2); /* instance differs */
	assert_string_equal(notify_alert_str(common, "alertname"), "DiskFull");
	assert_int_equal(json_object_size(json_object_get(p, "commonAnnotations")), 2);
	assert_int_equal(json_array_size(json_object_get(p, "alerts")), 2);
	json_t *first = json_array_get(json_object_get(p, "alerts"), 0);
	assert_string_equal(notify_alert_str(first, "fingerprint"), "fp1");
	assert_string_equal(notify_alert_str(first, "endsAt"), "2023-11-14T22:14:20.000Z");
	assert_true(json_is_integer(json_object_get(p, "truncatedAlerts")));
	json_decref(p);
	/* one firing alert makes the group firing */
	items[1].state = BM_ALERT_FIRING;
	p = webhook_payload(f.w, items, 2);
	assert_string_equal(notify_alert_str(p, "status"), "firing");
	json_decref(p);
	json_decref(a);
	json_decref(b);
	fx_close(&f);
}

static void test_on_the_wire(void **unused)
{
	struct fixture f;
	char hex[65], want[100];
	const char *fps[] = {"fp1", "fp2"};
	fx_open(&f, 200);
	set_url(&f, "/hook?token=abc");
	pt_set_str(&f.conf.hmac_secret, "s3cret");
	pt_set_str(&f.conf.http.basic_auth.username, "alice");
	pt_set_str(&f.conf.http.basic_auth.password, "pw");
	nh_map_add(&f.conf.http.headers, "X-Team", "ops");
	f.w = pt_init(&webhook_ops, &f.conf);
	json_t *arr = nh_alerts("DiskFull", 2, fps);
	notify_send_unqueued(f.w->n, arr, NULL);
	json_decref(arr);
	assert_int_equal(nh_n_events(), 1);
	struct nh_event e = nh_event(0);
	assert_int_equal(e.outcome, BM_NOTIFY_OK);
	assert_int_equal(e.status_code, 200);
	assert_string_equal(e.fingerprints, "fp1,fp2");
	assert_string_equal(e.notifier, "webhook:test");
	assert_null(strstr(e.receiver, "token")); /* no secrets in events */
	assert_non_null(strstr(e.receiver, "/hook"));
	assert_int_equal(f.srv.requests, 1);
	assert_non_null(strstr(f.srv.head, "POST /hook?token=abc HTTP/1.1"));
	assert_non_null(strstr(f.srv.head, "Content-Type: application/json"));
	assert_non_null(strstr(f.srv.head, "Authorization: Basic YWxpY2U6cHc="));
	assert_non_null(strstr(f.srv.head, "X-Team: ops"));
	assert_int_equal(webhook_sign("s3cret", f.srv.body, strlen(f.srv.body), hex), 0);
	snprintf(want, sizeof(want), "X-Bearmon-Signature: sha256=%s", hex);
	assert_non_null(strstr(f.srv.head, want));
	json_error_t je;
	json_t *body = json_loads(f.srv.body, 0, &je);
	assert_non_null(body);
	assert_int_equal(json_array_size(json_object_get(body, "alerts")), 2);
	json_decref(body);
	fx_close(&f);
}

static void test_failures(void **unused)
{
	struct fixture f;
	const char *fps[] = {"fp1"};
	int dead_fd;
	fx_open(&f, 503);
	set_url(&f, "/");
	f.w = pt_init(&webhook_ops, &f.conf);
	json_t *arr = nh_alerts("DiskFull", 1, fps);
	notify_send_unqueued(f.w->n, arr, NULL);
	struct nh_event e = nh_event(0);
	assert_int_equal(e.outcome, BM_NOTIFY_FAILED); /* unqueued: no retry */
	assert_int_equal(e.status_code, 503);
	assert_string_equal(e.error, "HTTP 503: answerd");
	pt_fini(&webhook_ops, f.w);
	/* nothing listening */
	char url[100];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", nh_dead_port(&dead_fd));
	pt_set_str(&f.conf.url, url);
	f.w = pt_init(&webhook_ops, &f.conf);
	notify_send_unqueued(f.w->n, arr, NULL);
	e = nh_event(1);
	assert_int_equal(e.status_code, 0);
	assert_true(strlen(e.error) > 0);
	close(dead_fd);
	pt_fini(&webhook_ops, f.w);
	/* no url: fails with a reason */
	pt_set_str(&f.conf.url, NULL);
	f.w = pt_init(&webhook_ops, &f.conf);
	notify_send_unqueued(f.w->n, arr, NULL);
	e = nh_event(2);
	assert_string_equal(e.error, "url is not set");
	json_decref(arr);
	fx_close(&f);
}

static void test_option_checks(void **unused)
{
	struct fixture f;
	fx_open(&f, 200);
	pt_set_str(&f.conf.url, "ftp://example.com/");
	pt_init_err(&webhook_ops, &f.conf, BM_EINVAL, "must start with http:// or https://", NULL);
	set_url(&f, "/");
	pt_set_str(&f.conf.signature_header, "X Bad");
	pt_init_err(&webhook_ops, &f.conf, BM_EINVAL, "not a token", NULL);
	pt_set_str(&f.conf.signature_header, "X-Sig");
	nh_map_add(&f.conf.http.headers, "X-Evil", "a\r\nInjected: 1");
	pt_init_err(&webhook_ops, &f.conf, BM_EINVAL, "line break", NULL);
	nh_map_clear(&f.conf.http.headers);
	pt_set_str(&f.conf.http.tls.ca_file, "/nonexistent/ca.pem");
	pt_init_err(&webhook_ops, &f.conf, BM_EINVAL, "tls.ca_file /nonexistent/ca.pem", NULL);
	fx_close(&f);
}

/* The whole path: subscription, queue, worker, receiver, events. */
static void test_from_the_bus(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	struct nh_alert a;
	fx_open(&f, 200);
	set_url(&f, "/bus");
	f.w = pt_init(&webhook_ops, &f.conf);
	assert_int_equal(webhook_ops.start(f.w, &err), 0);
	nh_alert_init(&a, "DiskFull", "fp1", BM_ALERT_FIRING);
	nh_publish_alert(&a.e);
	nh_wait_outcome(BM_NOTIFY_OK, 1);
	webhook_ops.stop(f.w);
	assert_non_null(strstr(f.srv.head, "POST /bus"));
	assert_non_null(strstr(f.srv.body, "\"fingerprint\":\"fp1\""));
	assert_int_equal(nh_queue_files(), 0);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_payload),
		cmocka_unit_test(test_on_the_wire),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_option_checks),
		cmocka_unit_test(test_from_the_bus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
