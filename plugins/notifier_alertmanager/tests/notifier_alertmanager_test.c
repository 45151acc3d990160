/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of notifier/alertmanager against the notifier test host and
 * loopback HTTP servers: postableAlerts (endsAt rules, external labels),
 * every URL gets every alert and one acceptance is enough, the firing set
 * kept across restarts in active.json and re-sent, resolution, option checks.
 */
#define _GNU_SOURCE
#include "alertmanager.c"
#include "../../notifier_webhook/tests/notifyhost.h"

struct fixture {
	struct am_conf conf;
	struct am *m;
	struct nh_http srv;
	char url[100];
};

static void fx_open(struct fixture *f)
{
	nh_open();
	memset(f, 0, sizeof(*f));
	pt_conf_defaults(am_options, &f->conf);
	nh_http_start(&f->srv, 200);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/", f->srv.port);
	pt_set_list(&f->conf.urls, f->url, NULL);
}

static void fx_close(struct fixture *f)
{
	pt_fini(&am_ops, f->m);
	nh_http_stop(&f->srv);
	pt_conf_release(am_options, &f->conf);
	nh_close();
}

static json_t *last_body(struct fixture *f)
{
	json_error_t je;
	pthread_mutex_lock(&f->srv.lock);
	json_t *b = json_loads(f->srv.body, 0, &je);
	pthread_mutex_unlock(&f->srv.lock);
	assert_true(json_is_array(b));
	return b;
}

static void send_one(struct fixture *f, const char *fp, enum bm_alert_state st)
{
	json_t *arr = json_array();
	json_array_append_new(arr, nh_alert_json("DiskFull", fp, st));
	notify_send_unqueued(f->m->n, arr, NULL);
	json_decref(arr);
}

static void test_postable(void **unused)
{
	struct fixture f;
	char t[NOTIFY_TIME_LEN];
	fx_open(&f);
	nh_map_add(&f.conf.external_labels, "cluster", "eu-1");
	nh_map_add(&f.conf.external_labels, "instance", "not-this");
	f.m = pt_init(&am_ops, &f.conf);
	json_t *a = nh_alert_json("DiskFull", "fp1", BM_ALERT_FIRING);
	json_t *p = am_postable(f.m, a, 1700000100000);
	assert_int_equal(json_object_size(p), 5);
	json_t *l = json_object_get(p, "labels");
	assert_string_equal(notify_alert_str(l, "cluster"), "eu-1");
	assert_string_equal(notify_alert_str(l, "instance"), "host-1"); /* the alert's own wins */
	assert_string_equal(notify_alert_str(l, "alertname"), "DiskFull");
	assert_string_equal(notify_alert_str(json_object_get(p, "annotations"), "summary"),
			    "disk almost full");
	assert_string_equal(notify_alert_str(p, "startsAt"), "2023-11-14T22:13:50.000Z");
	notify_time_text(1700000100000 + 4 * 60000, t); /* four resend delays ahead */
	assert_string_equal(notify_alert_str(p, "endsAt"), t);
	assert_string_equal(notify_alert_str(p, "generatorURL"), "http://bearmon/rules/r1");
	json_decref(p);
	json_decref(a);
	a = nh_alert_json("DiskFull", "fp1", BM_ALERT_RESOLVED);
	p = am_postable(f.m, a, 1700000100000);
	assert_string_equal(notify_alert_str(p, "endsAt"), "2023-11-14T22:14:20.000Z");
	json_decref(p);
	json_decref(a);
	fx_close(&f);
}

static void test_every_url(void **unused)
{
	struct fixture f;
	char dead[100];
	int dead_fd;
	fx_open(&f);
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", nh_dead_port(&dead_fd));
	pt_set_list(&f.conf.urls, dead, f.url, NULL);
	f.m = pt_init(&am_ops, &f.conf);
	send_one(&f, "fp1", BM_ALERT_FIRING);
	assert_int_equal(nh_n_events(), 2);
	struct nh_event e0 = nh_event(0), e1 = nh_event(1);
	assert_int_not_equal(e0.outcome, BM_NOTIFY_OK);
	assert_non_null(strstr(e0.receiver, "/api/v2/alerts"));
	assert_int_equal(e1.outcome, BM_NOTIFY_OK);
	assert_int_equal(e1.status_code, 200);
	assert_non_null(strstr(f.srv.head, "POST /api/v2/alerts HTTP/1.1"));
	json_t *b = last_body(&f);
	assert_int_equal(json_array_size(b), 1);
	assert_string_equal(notify_alert_str(json_object_get(json_array_get(b, 0), "labels"), "alertname"),
			    "DiskFull");
	json_decref(b);
	/* one Alertmanager took it: it counts as firing there */
	assert_int_equal(json_object_size(f.m->active), 1);
	close(dead_fd);
	fx_close(&f);
}

static void test_active_survives_and_resends(void **unused)
{
	struct fixture f;
	char path[300];
	fx_open(&f);
	f.m = pt_init(&am_ops, &f.conf);
	send_one(&f, "fp1", BM_ALERT_FIRING);
	send_one(&f, "fp2", BM_ALERT_FIRING);
	assert_int_equal(json_object_size(f.m->active), 2);
	snprintf(path, sizeof(path), "%s/active.json", notify_dir(f.m->n));
	assert_int_equal(access(path, F_OK), 0);
	pt_fini(&am_ops, f.m);

	/* a new run knows both and re-sends them in one request */
	f.m = pt_init(&am_ops, &f.conf);
	assert_int_equal(json_object_size(f.m->active), 2);
	int before = f.srv.requests;
	am_resend(f.m, f.m->n);
	assert_int_equal(f.srv.requests, before + 1);
	json_t *b = last_body(&f);
	assert_int_equal(json_array_size(b), 2);
	json_decref(b);
	assert_string_equal(nh_event(nh_n_events() - 1).fingerprints, "fp1,fp2");

	/* resolution: endsAt in the past, gone from the firing set */
	send_one(&f, "fp1", BM_ALERT_RESOLVED);
	b = last_body(&f);
	assert_string_equal(notify_alert_str(json_array_get(b, 0), "endsAt"), "2023-11-14T22:14:20.000Z");
	json_decref(b);
	assert_int_equal(json_object_size(f.m->active), 1);
	pt_fini(&am_ops, f.m);
	f.m = pt_init(&am_ops, &f.conf);
	assert_int_equal(json_object_size(f.m->active), 1);
	assert_non_null(json_object_get(f.m->active, "fp2"));
	/* nothing firing: nothing re-sent */
	send_one(&f, "fp2", BM_ALERT_RESOLVED);
	before = f.srv.requests;
	am_resend(f.m, f.m->n);
	assert_int_equal(f.srv.requests, before);
	fx_close(&f);
}

static void test_refused_not_tracked(void **unused)
{
	struct fixture f;
	fx_open(&f);
	f.srv.status = 400;
	f.m = pt_init(&am_ops, &f.conf);
	send_one(&f, "fp1", BM_ALERT_FIRING);
	assert_int_equal(nh_event(0).status_code, 400);
	assert_int_equal(json_object_size(f.m->active), 0);
	fx_close(&f);
}

static void test_option_checks(void **unused)
{
	struct fixture f;
	fx_open(&f);
	pt_set_list(&f.conf.urls, "ftp://am:9093", NULL);
	pt_init_err(&am_ops, &f.conf, BM_EINVAL, "urls[0]", "http://", NULL);
	pt_set_list(&f.conf.urls, NULL);
	pt_init_err(&am_ops, &f.conf, BM_EINVAL, "urls is empty", NULL);
	pt_set_list(&f.conf.urls, "http://am:9093//", NULL);
	f.m = pt_init(&am_ops, &f.conf);
	assert_string_equal(f.m->endpoints[0], "http://am:9093/api/v2/alerts");
	fx_close(&f);
}

static void test_from_the_bus(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	struct nh_alert a;
	fx_open(&f);
	f.m = pt_init(&am_ops, &f.conf);
	assert_int_equal(am_ops.start(f.m, &err), 0);
	nh_alert_init(&a, "DiskFull", "fp1", BM_ALERT_FIRING);
	nh_publish_alert(&a.e);
	nh_alert_init(&a, "DiskFull", "fp1", BM_ALERT_RESOLVED);
	nh_publish_alert(&a.e);
	nh_wait_outcome(BM_NOTIFY_OK, 2);
	am_ops.stop(f.m);
	json_t *b = last_body(&f);
	assert_string_equal(notify_alert_str(json_array_get(b, 0), "endsAt"), "2023-11-14T22:14:20.000Z");
	json_decref(b);
	assert_int_equal(json_object_size(f.m->active), 0);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postable),
		cmocka_unit_test(test_every_url),
		cmocka_unit_test(test_active_survives_and_resends),
		cmocka_unit_test(test_refused_not_tracked),
		cmocka_unit_test(test_option_checks),
		cmocka_unit_test(test_from_the_bus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
