/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of notifier/log: the text line from the template and the JSON
 * line through the host log, priorities by severity and state, syslog,
 * the journal (or its refusal when built without libsystemd), option checks.
 */
#define _GNU_SOURCE
#include "log.c"
#include "../../notifier_webhook/tests/notifyhost.h"

struct fixture {
	struct log_conf conf;
	struct log_state *s;
};

static void fx_open(struct fixture *f)
{
	nh_open();
	memset(f, 0, sizeof(*f));
	pt_conf_defaults(log_options, &f->conf);
}

static void fx_close(struct fixture *f)
{
	pt_fini(&log_ops, f->s);
	pt_conf_release(log_options, &f->conf);
	nh_close();
}

static void send_alert(struct fixture *f, json_t *a)
{
	json_t *arr = json_array();
	json_array_append_new(arr, a);
	notify_send_unqueued(f->s->n, arr, NULL);
	json_decref(arr);
}

static void test_text(void **unused)
{
	struct fixture f;
	fx_open(&f);
	f.s = pt_init(&log_ops, &f.conf);
	send_alert(&f, nh_alert_json("DiskFull", "fp1", BM_ALERT_FIRING));
	assert_string_equal(fakehost_last_log(BM_LOG_ERR),
			    "alert firing: DiskFull severity=critical value=93.5 labels={ "
			    "alertname=\"DiskFull\", instance=\"host-1\", severity=\"critical\" } "
			    "summary=\"disk almost full\" fingerprint=fp1");
	struct nh_event e = nh_event(0);
	assert_int_equal(e.outcome, BM_NOTIFY_OK);
	assert_string_equal(e.receiver, "stderr");
	assert_string_equal(e.notifier, "log:test");
	/* a resolution is a notice */
	send_alert(&f, nh_alert_json("DiskFull", "fp1", BM_ALERT_RESOLVED));
	assert_string_equal(fakehost_last_log(BM_LOG_ERR), "");
	assert_non_null(strstr(fakehost_last_log(BM_LOG_NOTICE), "alert resolved: DiskFull"));
	fx_close(&f);
}

static void test_json_and_template(void **unused)
{
	struct fixture f;
	fx_open(&f);
	f.conf.format = LOG_FORMAT_JSON;
	f.s = pt_init(&log_ops, &f.conf);
	send_alert(&f, nh_alert_json("DiskFull", "fp1", BM_ALERT_FIRING));
	json_error_t je;
	json_t *j = json_loads(fakehost_last_log(BM_LOG_ERR), 0, &je);
	assert_non_null(j);
	assert_string_equal(notify_alert_str(j, "fingerprint"), "fp1");
	json_decref(j);
	pt_fini(&log_ops, f.s);
	f.conf.format = LOG_FORMAT_TEXT;
	pt_set_str(&f.conf.template, "{{ .Labels.alertname }} on {{ .Labels.instance }}");
	f.s = pt_init(&log_ops, &f.conf);
	send_alert(&f, nh_alert_json("DiskFull", "fp1", BM_ALERT_FIRING));
	assert_string_equal(fakehost_last_log(BM_LOG_ERR), "DiskFull on host-1");
	pt_fini(&log_ops, f.s);
	f.s = NULL;
	pt_set_str(&f.conf.template, "{{ .Labels.alertname }");
	pt_init_err(&log_ops, &f.conf, BM_EINVAL, "template, offset 0", NULL);
	fx_close(&f);
}

static void test_priority(void **unused)
{
	static const struct {
		const char *sev;
		enum bm_alert_state st;
		int prio;
	} cases[] = {
		{"emergency", BM_ALERT_FIRING, LOG_CRIT}, {"critical", BM_ALERT_FIRING, LOG_ERR},
		{"warning", BM_ALERT_FIRING, LOG_WARNING}, {"info", BM_ALERT_FIRING, LOG_NOTICE},
		{"critical", BM_ALERT_RESOLVED, LOG_NOTICE},
	};
	nh_open();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *a = nh_alert_json("X", "f", cases[i].st);
		json_object_set_new(a, "severity", json_string(cases[i].sev));
		struct notify_item it = {a, "f", cases[i].st, 1, NOTIFY_NONE};
		assert_int_equal(log_priority(&it), cases[i].prio);
		json_decref(a);
	}
	nh_close();
}

static void test_syslog_and_journal(void **unused)
{
	struct fixture f;
	fx_open(&f);
	f.conf.target = LOG_TARGET_SYSLOG;
	f.s = pt_init(&log_ops, &f.conf);
	send_alert(&f, nh_alert_json("DiskFull", "fp1", BM_ALERT_FIRING));
	assert_int_equal(nh_event(0).outcome, BM_NOTIFY_OK);
	assert_string_equal(nh_event(0).receiver, "syslog");
	pt_fini(&log_ops, f.s);
	f.s = NULL;
	f.conf.target = LOG_TARGET_JOURNAL;
	if (!log_journal_built()) {
		pt_init_err(&log_ops, &f.conf, BM_EINVAL, "built without libsystemd", NULL);
		fx_close(&f);
		return;
	}
	/* journald may be absent here: then the attempt fails, with the reason */
	f.s = pt_init(&log_ops, &f.conf);
	send_alert(&f, nh_alert_json("DiskFull", "fp1", BM_ALERT_FIRING));
	struct nh_event e = nh_event(1);
	assert_string_equal(e.receiver, "journal");
	if (e.outcome != BM_NOTIFY_OK)
		assert_non_null(strstr(e.error, "sd_journal_send: "));
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json_and_template),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_syslog_and_journal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
