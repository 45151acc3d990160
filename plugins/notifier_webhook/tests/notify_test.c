/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the notifiers' shared code (common/notify.c, included so
 * its static functions are reachable): the alert's JSON form, templates,
 * backoff, the on-disk queue (persist, reload, bound, eviction, merge,
 * order, expiry, corrupt files), routing and filters, and the notifier
 * itself (retries, give-up, restart) with a scripted deliver callback.
 */
#include "notify.c"
#include "notifyhost.h"

/* what BM_PLUGIN_DEFINE provides in a plugin */
const struct bm_host_api *bm__host_api;

struct tconf {
	struct notify_conf common;
};

static const struct bm_option t_options[] = {
	NOTIFY_OPTIONS(struct tconf, common, "0"),
	NOTIFY_BATCH_OPTIONS(struct tconf, common),
	BM_OPTION_END,
};

/* ------------------------------------------------------------------ */

static void test_backoff(void **unused)
{
	assert_int_equal(notify_backoff_ms(1000, 300000, 1), 1000);
	assert_int_equal(notify_backoff_ms(1000, 300000, 2), 2000);
	assert_int_equal(notify_backoff_ms(1000, 300000, 3), 4000);
	assert_int_equal(notify_backoff_ms(1000, 300000, 9), 256000);
	assert_int_equal(notify_backoff_ms(1000, 300000, 10), 300000);
	assert_int_equal(notify_backoff_ms(1000, 300000, 4000000000u), 300000);
	assert_int_equal(notify_backoff_ms(500, 400, 1), 400); /* ceiling below the start */
	assert_int_equal(notify_backoff_ms(0, 100, 3), 4);
}

static void test_alert_json(void **unused)
{
	struct nh_alert a;
	nh_open();
	nh_alert_init(&a, "DiskFull", "fp1", BM_ALERT_FIRING);
	json_t *j = notify_alert_json(&a.e);
	assert_string_equal(notify_alert_str(j, "status"), "firing");
	assert_string_equal(notify_alert_label(j, "alertname"), "DiskFull");
	assert_string_equal(notify_alert_label(j, "instance"), "host-1");
	assert_string_equal(notify_alert_str(j, "startsAt"), "2023-11-14T22:13:50.000Z");
	assert_string_equal(notify_alert_str(j, "endsAt"), "0001-01-01T00:00:00Z");
	assert_string_equal(notify_alert_str(j, "eventAt"), "2023-11-14T22:14:20.000Z");
	assert_string_equal(notify_alert_str(j, "activeAt"), "2023-11-14T22:13:20.000Z");
	assert_string_equal(notify_alert_str(j, "generatorURL"), "http://bearmon/rules/r1");
	assert_string_equal(notify_alert_str(j, "fingerprint"), "fp1");
	assert_string_equal(notify_alert_str(j, "severity"), "critical");
	assert_true(json_real_value(json_object_get(j, "value")) == 93.5);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "annotations"),
								"summary")),
			    "disk almost full");
	assert_null(json_object_get(j, "ack"));
	json_decref(j);

	/* resolved: endsAt; NaN threshold is null; missing alertname and
	 * severity labels come from the rule and severity; acks; bad UTF-8 */
	nh_alert_init(&a, "DiskFull", "fp1", BM_ALERT_RESOLVED);
	a.e.n_labels = 1;
	a.labels[0] = (struct bm_label){"path", "/m\xff"};
	a.e.threshold = NAN;
	a.e.severity = BM_SEV_WARNING;
	a.e.ack = (struct bm_alert_ack){.by = "user:alice", .at_ms = 1700000050000};
	j = notify_alert_json(&a.e);
	assert_string_equal(notify_alert_str(j, "status"), "resolved");
	assert_string_equal(notify_alert_str(j, "endsAt"), "2023-11-14T22:14:20.000Z");
	assert_true(json_is_null(json_object_get(j, "threshold")));
	assert_string_equal(notify_alert_label(j, "alertname"), "DiskFull");
	assert_string_equal(notify_alert_label(j, "severity"), "warning");
	assert_string_equal(notify_alert_label(j, "path"), "/m?");
	assert_string_equal(notify_alert_str(json_object_get(j, "ack"), "by"), "user:alice");
	json_decref(j);
	nh_close();
}

static void render_is(const char *tmpl, const json_t *alert, const char *want)
{
	struct bm_buf b = {0};
	assert_int_equal(notify_template_render(tmpl, alert, &b), 0);
	assert_int_equal(bm_buf_append(&b, "", 1), 0);
	assert_string_equal(b.data, want);
	bm_buf_free(&b);
}

static void test_template(void **unused)
{
	struct bm_err err = {0};
	nh_open();
	json_t *j = nh_alert_json("DiskFull", "fp1", BM_ALERT_FIRING);
	render_is("{{ .Labels.alertname }} is {{.Status}}", j, "DiskFull is firing");
	render_is("no fields", j, "no fields");
	render_is("", j, "");
	render_is("v={{ .Value }} t={{ .Threshold }} {{ .Labels.nosuch }}|", j, "v=93.5 t=90 |");
	render_is("{{ .Labels }}", j, "alertname=\"DiskFull\", instance=\"host-1\", severity=\"critical\"");
	render_is("{{ .Annotations.summary }} {{ .Fingerprint }} {{ .RuleID }} {{ .Severity }}", j,
		  "disk almost full fp1 r1 critical");
	render_is("{ {{ .RuleName }} }", j, "{ DiskFull }");
	assert_int_equal(notify_template_check("{{ .Labels.alertname }} {{ .GeneratorURL }}", &err), 0);
	assert_int_equal(notify_template_check("{{ .Nope }}", &err), BM_EINVAL);
	assert_non_null(strstr(err.msg, "offset 0: unknown field"));
	assert_int_equal(notify_template_check("ab {{ .Status", &err), BM_EINVAL);
	assert_non_null(strstr(err.msg, "offset 3"));
	assert_int_equal(notify_template_check("{{ .Status.x }}", &err), BM_EINVAL);
	assert_non_null(strstr(err.msg, "only .Labels and .Annotations"));
	assert_int_equal(notify_template_check("{{ .Labels.a-b }}", &err), BM_EINVAL);
	assert_int_equal(notify_template_check("{{ Status }}", &err), BM_EINVAL);
	json_decref(j);
	nh_close();
}

static void test_url_and_verdict(void **unused)
{
	char out[256];
	notify_url_redact("https://u:secret@hooks.example.com:8443/a/b?token=x#f", out, sizeof(out));
	assert_null(strstr(out, "secret"));
	assert_null(strstr(out, "token"));
	assert_non_null(strstr(out, "hooks.example.com:8443/a/b"));
	assert_int_equal(notify_http_verdict(CURLE_OK, 200), NOTIFY_DELIVERED);
	assert_int_equal(notify_http_verdict(CURLE_OK, 204), NOTIFY_DELIVERED);
	assert_int_equal(notify_http_verdict(CURLE_OK, 500), NOTIFY_TRANSIENT);
	assert_int_equal(notify_http_verdict(CURLE_OK, 503), NOTIFY_TRANSIENT);
	assert_int_equal(notify_http_verdict(CURLE_OK, 429), NOTIFY_TRANSIENT);
	assert_int_equal(notify_http_verdict(CURLE_OK, 408), NOTIFY_TRANSIENT);
	assert_int_equal(notify_http_verdict(CURLE_OK, 400), NOTIFY_PERMANENT);
	assert_int_equal(notify_http_verdict(CURLE_OK, 301), NOTIFY_PERMANENT);
	assert_int_equal(notify_http_verdict(CURLE_COULDNT_CONNECT, 0), NOTIFY_TRANSIENT);
	assert_int_equal(notify_http_verdict(CURLE_OPERATION_TIMEDOUT, 0), NOTIFY_TRANSIENT);
}

/* ------------------------------------------------------------------ */
/* the queue                                                            */

static struct notify_queue *q_open(const char *dir, size_t max)
{
	struct notify_queue *q;
	struct bm_err err = {0};
	assert_int_equal(notify_queue_open(dir, max, 0, &q, &err), 0);
	return q;
}

static enum nq_push_result q_push(struct notify_queue *q, const char *fp, enum bm_alert_state st,
				  int64_t wall)
{
	enum nq_push_result res;
	json_t *a = nh_alert_json("DiskFull", fp, st);
	assert_int_equal(notify_queue_push(q, a, wall - 5, wall, 0, &res), 0);
	json_decref(a);
	return res;
}

/* Take the settled entries, check their fates, forget them. */
static size_t q_take(struct notify_queue *q, enum nq_fate want)
{
	struct nq_entry **t;
	size_t k = notify_queue_take_settled(q, &t);
	for (size_t i = 0; i < k; i++) {
		assert_int_equal(t[i]->fate, want);
		notify_queue_forget(q, t[i]);
	}
	free(t);
	return k;
}

static void test_queue_persist_reload(void **unused)
{
	char dir[256];
	nh_open();
	snprintf(dir, sizeof(dir), "%s/q", nh.dir);
	struct notify_queue *q = q_open(dir, 10);
	assert_int_equal(q_push(q, "a", BM_ALERT_FIRING, 1000), NQ_ADDED);
	assert_int_equal(q_push(q, "b", BM_ALERT_FIRING, 2000), NQ_ADDED);
	assert_int_equal(q_push(q, "a", BM_ALERT_RESOLVED, 3000), NQ_ADDED);
	notify_queue_close(q);

	q = q_open(dir, 10);
	assert_int_equal(notify_queue_len(q), 3);
	assert_int_equal(notify_queue_stats(q)->loaded, 3);
	const char *fps[] = {"a", "b", "a"};
	for (size_t i = 0; i < 3; i++) {
		struct nq_entry *e = notify_queue_at(q, i);
		assert_string_equal(e->fingerprint, fps[i]);
		assert_int_equal(e->enqueued_ms, 1000 * (int64_t)(i + 1));
		assert_int_equal(e->event_ms, 1000 * (int64_t)(i + 1) - 5);
		assert_int_equal(e->attempts, 0);
		assert_string_equal(notify_alert_label(e->alert, "instance"), "host-1");
	}
	assert_int_equal(notify_queue_at(q, 2)->state, BM_ALERT_RESOLVED);
	/* new entries continue the sequence after what was loaded */
	assert_int_equal(q_push(q, "c", BM_ALERT_FIRING, 4000), NQ_ADDED);
	assert_true(notify_queue_at(q, 3)->seq > notify_queue_at(q, 2)->seq);
	/* a delivered entry's file goes */
	notify_queue_settle(q, notify_queue_at(q, 0), NQ_DELIVERED);
	assert_int_equal(q_take(q, NQ_DELIVERED), 1);
	notify_queue_close(q);
	q = q_open(dir, 10);
	assert_int_equal(notify_queue_len(q), 3);
	assert_string_equal(notify_queue_at(q, 0)->fingerprint, "b");
	notify_queue_close(q);
	nh_close();
}

static void test_queue_bound(void **unused)
{
	char dir[256];
	nh_open();
	snprintf(dir, sizeof(dir), "%s/q", nh.dir);
	struct notify_queue *q = q_open(dir, 3);
	for (int i = 0; i < 5; i++) {
		char fp[8];
		snprintf(fp, sizeof(fp), "f%d", i);
		assert_int_equal(q_push(q, fp, BM_ALERT_FIRING, 1000 + i), NQ_ADDED);
	}
	assert_int_equal(notify_queue_len(q), 3);
	assert_int_equal(q_take(q, NQ_EVICTED), 2); /* the two oldest */
	assert_string_equal(notify_queue_at(q, 0)->fingerprint, "f2");
	notify_queue_close(q);
	/* a smaller bound at the next start evicts the oldest beyond it */
	q = q_open(dir, 1);
	assert_int_equal(notify_queue_len(q), 1);
	assert_int_equal(q_take(q, NQ_EVICTED), 2);
	assert_string_equal(notify_queue_at(q, 0)->fingerprint, "f4");
	notify_queue_close(q);
	q = q_open(dir, 10);
	assert_int_equal(notify_queue_len(q), 1); /* evicted files are gone */
	/* when every entry is in flight, a new alert is refused, not queued */
	struct nq_entry *batch[4];
	int64_t wake;
	notify_queue_close(q);
	q = q_open(dir, 1);
	assert_int_equal(notify_queue_pick(q, 0, 0, 0, 4, batch, &wake), 1);
	assert_int_equal(q_push(q, "f9", BM_ALERT_FIRING, 9000), NQ_REJECTED);
	notify_queue_close(q);
	nh_close();
}

static void test_queue_merge(void **unused)
{
	char dir[256];
	struct nq_entry *batch[4];
	int64_t wake;
	nh_open();
	snprintf(dir, sizeof(dir), "%s/q", nh.dir);
	struct notify_queue *q = q_open(dir, 10);
	assert_int_equal(q_push(q, "a", BM_ALERT_FIRING, 1000), NQ_ADDED);
	assert_int_equal(q_push(q, "a", BM_ALERT_FIRING, 1100), NQ_MERGED);
	assert_int_equal(notify_queue_at(q, 0)->event_ms, 1095); /* the newer content */
	assert_int_equal(q_push(q, "a", BM_ALERT_RESOLVED, 1200), NQ_ADDED);
	assert_int_equal(q_push(q, "a", BM_ALERT_RESOLVED, 1300), NQ_MERGED);
	assert_int_equal(notify_queue_len(q), 2);
	assert_int_equal(notify_queue_stats(q)->merged, 2);
	/* an attempted entry is never replaced */
	assert_int_equal(notify_queue_pick(q, 0, 0, 0, 4, batch, &wake), 1);
	batch[0]->in_flight = false;
	batch[0]->attempts = 1;
	assert_int_equal(q_push(q, "b", BM_ALERT_FIRING, 1400), NQ_ADDED);
	notify_queue_settle(q, batch[0], NQ_DELIVERED);
	assert_int_equal(q_take(q, NQ_DELIVERED), 1);
	assert_int_equal(q_push(q, "a", BM_ALERT_RESOLVED, 1500), NQ_MERGED);
	notify_queue_close(q);
	nh_close();
}

static void test_queue_pick(void **unused)
{
	char dir[256];
	struct nq_entry *batch[8];
	int64_t wake;
	nh_open();
	snprintf(dir, sizeof(dir), "%s/q", nh.dir);
	struct notify_queue *q = q_open(dir, 10);
	json_t *a;
	enum nq_push_result res;
	/* ready_ms 100: group_wait until then */
	const char *fps[] = {"a", "b", "a", "c"};
	const enum bm_alert_state sts[] = {BM_ALERT_FIRING, BM_ALERT_FIRING, BM_ALERT_RESOLVED,
					   BM_ALERT_FIRING};
	for (int i = 0; i < 4; i++) {
		a = nh_alert_json("X", fps[i], sts[i]);
		assert_int_equal(notify_queue_push(q, a, 1, 1, 100 + i, &res), 0);
		json_decref(a);
	}
	assert_int_equal(notify_queue_pick(q, 50, 1, 0, 8, batch, &wake), 0);
	assert_int_equal(wake, 100);
	/* due: every first-of-its-fingerprint entry, a's resolution waits */
	assert_int_equal(notify_queue_pick(q, 100, 1, 0, 8, batch, &wake), 3);
	assert_string_equal(batch[0]->fingerprint, "a");
	assert_int_equal(batch[0]->state, BM_ALERT_FIRING);
	assert_string_equal(batch[1]->fingerprint, "b");
	assert_string_equal(batch[2]->fingerprint, "c");
	/* a failed, retry at 500; b and c delivered */
	batch[0]->in_flight = batch[1]->in_flight = batch[2]->in_flight = false;
	batch[0]->attempts = 1;
	batch[0]->next_ms = 500;
	notify_queue_settle(q, batch[1], NQ_DELIVERED);
	notify_queue_settle(q, batch[2], NQ_DELIVERED);
	assert_int_equal(q_take(q, NQ_DELIVERED), 2);
	/* a's resolution still waits behind a's retry; a fresh d goes now */
	a = nh_alert_json("X", "d", BM_ALERT_FIRING);
	assert_int_equal(notify_queue_push(q, a, 1, 1, 200, &res), 0);
	json_decref(a);
	assert_int_equal(notify_queue_pick(q, 200, 1, 0, 8, batch, &wake), 1);
	assert_string_equal(batch[0]->fingerprint, "d");
	batch[0]->in_flight = false;
	notify_queue_settle(q, batch[0], NQ_DELIVERED);
	q_take(q, NQ_DELIVERED);
	assert_int_equal(notify_queue_pick(q, 300, 1, 0, 8, batch, &wake), 0);
	assert_int_equal(wake, 500);
	assert_int_equal(notify_queue_pick(q, 500, 1, 0, 8, batch, &wake), 1);
	assert_int_equal(batch[0]->state, BM_ALERT_FIRING);
	batch[0]->in_flight = false;
	notify_queue_settle(q, batch[0], NQ_DELIVERED);
	q_take(q, NQ_DELIVERED);
	assert_int_equal(notify_queue_pick(q, 500, 1, 0, 8, batch, &wake), 1);
	assert_int_equal(batch[0]->state, BM_ALERT_RESOLVED);
	notify_queue_close(q);
	nh_close();
}

static void test_queue_batch_full_and_expiry(void **unused)
{
	char dir[256];
	struct nq_entry *batch[8];
	int64_t wake;
	enum nq_push_result res;
	nh_open();
	snprintf(dir, sizeof(dir), "%s/q", nh.dir);
	struct notify_queue *q = q_open(dir, 10);
	for (int i = 0; i < 3; i++) {
		char fp[8];
		snprintf(fp, sizeof(fp), "f%d", i);
		json_t *a = nh_alert_json("X", fp, BM_ALERT_FIRING);
		assert_int_equal(notify_queue_push(q, a, 1, 1000 * i, 10000, &res), 0);
		json_decref(a);
	}
	/* max_batch fresh alerts go before group_wait ends */
	assert_int_equal(notify_queue_pick(q, 0, 0, 0, 2, batch, &wake), 2);
	batch[0]->in_flight = batch[1]->in_flight = false;
	/* older than max_age: expired, not picked */
	assert_int_equal(notify_queue_pick(q, 20000, 2500, 2000, 8, batch, &wake), 2);
	assert_string_equal(batch[0]->fingerprint, "f1");
	assert_string_equal(batch[1]->fingerprint, "f2");
	batch[0]->in_flight = batch[1]->in_flight = false;
	assert_int_equal(q_take(q, NQ_EXPIRED), 1);
	assert_int_equal(notify_queue_len(q), 2);
	notify_queue_close(q);
	nh_close();
}

static void test_queue_corrupt(void **unused)
{
	char dir[256], path[400];
	nh_open();
	snprintf(dir, sizeof(dir), "%s/q", nh.dir);
	struct notify_queue *q = q_open(dir, 10);
	assert_int_equal(q_push(q, "a", BM_ALERT_FIRING, 1000), NQ_ADDED);
	notify_queue_close(q);
	pt_write_file(dir, "00000000000000ff.alert", "{\"v\":1,\"alert\":");
	pt_write_file(dir, "0000000000000100.alert", "{\"v\":1,\"enqueued_ms\":1,\"event_ms\":1,\"alert\":{}}");
	pt_write_file(dir, "0000000000000101.alert.tmp", "half");
	pt_write_file(dir, "README", "not ours");
	q = q_open(dir, 10);
	assert_int_equal(notify_queue_len(q), 1);
	assert_int_equal(notify_queue_stats(q)->corrupt, 2);
	snprintf(path, sizeof(path), "%s/00000000000000ff.alert.corrupt", dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/0000000000000101.alert.tmp", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(q_push(q, "b", BM_ALERT_FIRING, 2000), NQ_ADDED);
	notify_queue_close(q);
	nh_close();
}

/* ------------------------------------------------------------------ */
/* the notifier                                                         */

/* A deliver callback that answers from a script: verdicts[call], then the last. */
struct script {
	enum notify_verdict verdicts[8];
	size_t n, calls, alerts;
	pthread_mutex_t lock;
};

static void scripted_deliver(void *user, struct notify *n, struct notify_item *items, size_t k)
{
	struct script *s = user;
	pthread_mutex_lock(&s->lock);
	size_t i = s->calls < s->n ? s->calls : s->n - 1;
	s->calls++;
	s->alerts += k;
	pthread_mutex_unlock(&s->lock);
	struct notify_attempt a = {.receiver = "scripted", .verdict = s->verdicts[i],
				   .status_code = s->verdicts[i] == NOTIFY_DELIVERED ? 200 : 500};
	if (a.verdict != NOTIFY_DELIVERED)
		snprintf(a.error, sizeof(a.error), "scripted failure %zu", i);
	notify_record(n, &a, items, k);
}

/* A counter of the notifier's self-metrics, read as the host would. */
#define STAT(f, field) __atomic_load_n(&(f)->n->st.field, __ATOMIC_RELAXED)

struct fixture {
	struct tconf conf;
	struct script script;
	struct notify *n;
};

static void fx_open(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->script.lock, NULL);
	pt_conf_defaults(t_options, &f->conf);
	f->conf.common.retry_initial_ms = 10;
	f->conf.common.retry_max_ms = 40;
}

static void fx_start(struct fixture *f, size_t nv, const enum notify_verdict *v)
{
	struct bm_err err = {0};
	memcpy(f->script.verdicts, v, nv * sizeof(*v));
	f->script.n = nv;
	f->script.calls = 0;
	struct notify_params p = {.plugin = "test", .deliver = scripted_deliver, .user = &f->script,
				  .max_batch = 8};
	assert_int_equal(notify_new(fakehost_ctx(), &f->conf.common, &p, &f->n, &err), 0);
	assert_int_equal(notify_start(f->n, &err), 0);
}

static void fx_stop(struct fixture *f)
{
	notify_free(f->n);
	f->n = NULL;
}

static void fx_close(struct fixture *f)
{
	pt_conf_release(t_options, &f->conf);
	pthread_mutex_destroy(&f->script.lock);
}

static void publish(const char *fp, enum bm_alert_state st)
{
	struct nh_alert a;
	nh_alert_init(&a, "DiskFull", fp, st);
	nh_publish_alert(&a.e);
}

static void test_retry_then_deliver(void **unused)
{
	struct fixture f;
	const enum notify_verdict v[] = {NOTIFY_TRANSIENT, NOTIFY_TRANSIENT, NOTIFY_DELIVERED};
	nh_open();
	fx_open(&f);
	fx_start(&f, 3, v);
	publish("fp1", BM_ALERT_FIRING);
	nh_wait_outcome(BM_NOTIFY_OK, 1);
	assert_int_equal(nh_n_events(), 3);
	struct nh_event e0 = nh_event(0), e1 = nh_event(1), e2 = nh_event(2);
	assert_string_equal(e0.notifier, "test:test");
	assert_string_equal(e0.receiver, "scripted");
	assert_string_equal(e0.fingerprints, "fp1");
	assert_int_equal(e0.outcome, BM_NOTIFY_RETRYING);
	assert_int_equal(e0.attempt, 1);
	assert_int_equal(e0.status_code, 500);
	assert_true(e0.next_retry_ms > 0);
	assert_string_equal(e0.error, "scripted failure 0");
	assert_int_equal(e0.state, BM_ALERT_FIRING);
	assert_int_equal(e1.outcome, BM_NOTIFY_RETRYING);
	assert_int_equal(e1.attempt, 2);
	assert_int_equal(e2.outcome, BM_NOTIFY_OK);
	assert_int_equal(e2.attempt, 3);
	assert_int_equal(e2.next_retry_ms, 0);
	assert_string_equal(e2.error, "");
	assert_int_equal(STAT(&f, delivered), 1);
	assert_int_equal(STAT(&f, attempt_failures), 2);
	fx_stop(&f);
	assert_int_equal(nh_queue_files(), 0);
	fx_close(&f);
	nh_close();
}

static void test_give_up(void **unused)
{
	struct fixture f;
	const enum notify_verdict perm[] = {NOTIFY_PERMANENT};
	const enum notify_verdict trans[] = {NOTIFY_TRANSIENT};
	nh_open();
	fx_open(&f);
	fx_start(&f, 1, perm);
	publish("fp1", BM_ALERT_FIRING);
	nh_wait_outcome(BM_NOTIFY_FAILED, 1);
	assert_int_equal(nh_event(0).attempt, 1); /* a permanent refusal is not retried */
	fx_stop(&f);
	f.conf.common.max_attempts = 3;
	fx_start(&f, 1, trans);
	publish("fp2", BM_ALERT_FIRING);
	nh_wait_outcome(BM_NOTIFY_FAILED, 2);
	assert_int_equal(nh_count(BM_NOTIFY_RETRYING), 2);
	assert_int_equal(nh_event(nh_n_events() - 1).attempt, 3);
	assert_int_equal(STAT(&f, failed), 1);
	fx_stop(&f);
	assert_int_equal(nh_queue_files(), 0);
	fx_close(&f);
	nh_close();
}

/* Alerts queued while the receiver is down survive a restart. */
static void test_restart_keeps_queue(void **unused)
{
	struct fixture f;
	const enum notify_verdict down[] = {NOTIFY_TRANSIENT};
	const enum notify_verdict up[] = {NOTIFY_DELIVERED};
	nh_open();
	fx_open(&f);
	f.conf.common.retry_initial_ms = 1000;
	fx_start(&f, 1, down);
	publish("fp1", BM_ALERT_FIRING);
	publish("fp2", BM_ALERT_FIRING);
	publish("fp1", BM_ALERT_RESOLVED);
	nh_wait_outcome(BM_NOTIFY_RETRYING, 1);
	fx_stop(&f);
	assert_int_equal(nh_queue_files(), 3);
	nh.n_ev = 0;
	fx_start(&f, 1, up);
	nh_wait_outcome(BM_NOTIFY_OK, 1);
	for (int i = 0; i < 4000 && STAT(&f, delivered) < 3; i++)
		usleep(5000);
	assert_int_equal(STAT(&f, delivered), 3);
	fx_stop(&f);
	assert_int_equal(nh_queue_files(), 0);
	/* firing before resolved: never the other way round */
	size_t firing_at = SIZE_MAX, resolved_at = SIZE_MAX;
	for (size_t i = 0; i < nh_n_events(); i++) {
		struct nh_event e = nh_event(i);
		if (strstr(e.fingerprints, "fp1") && e.state == BM_ALERT_FIRING && firing_at == SIZE_MAX)
			firing_at = i;
		if (strstr(e.fingerprints, "fp1") && e.state == BM_ALERT_RESOLVED)
			resolved_at = i;
	}
	assert_true(firing_at < resolved_at && resolved_at != SIZE_MAX);
	fx_close(&f);
	nh_close();
}

static void test_eviction_event(void **unused)
{
	struct fixture f;
	const enum notify_verdict down[] = {NOTIFY_TRANSIENT};
	struct bm_err err = {0};
	nh_open();
	fx_open(&f);
	f.conf.common.queue_max = 2;
	struct notify_params p = {.plugin = "test", .deliver = scripted_deliver, .user = &f.script};
	memcpy(f.script.verdicts, down, sizeof(down));
	f.script.n = 1;
	assert_int_equal(notify_new(fakehost_ctx(), &f.conf.common, &p, &f.n, &err), 0);
	/* no worker: alerts pile up; the third pushes the first out */
	for (int i = 0; i < 3; i++) {
		struct nh_alert a;
		char fp[8];
		snprintf(fp, sizeof(fp), "e%d", i);
		nh_alert_init(&a, "X", fp, BM_ALERT_FIRING);
		struct bm_buf b = {0};
		assert_int_equal(bm_alert_encode(&a.e, &b), 0);
		on_alert(f.n, BM_TOPIC_ALERT, b.data, b.len);
		bm_buf_free(&b);
	}
	assert_int_equal(nh_n_events(), 1);
	struct nh_event e = nh_event(0);
	assert_int_equal(e.outcome, BM_NOTIFY_DROPPED);
	assert_string_equal(e.fingerprints, "e0");
	assert_non_null(strstr(e.error, "queue full (queue_max 2)"));
	assert_int_equal(STAT(&f, dropped), 1);
	assert_int_equal(STAT(&f, queued), 3);
	assert_int_equal(nh_queue_files(), 2);
	fx_stop(&f);
	fx_close(&f);
	nh_close();
}

static void test_filters(void **unused)
{
	struct fixture f;
	struct nh_alert a;
	const char *routes[] = {"other", "test"};
	const char *full[] = {"test:test"};
	const char *elsewhere[] = {"other"};
	nh_open();
	fx_open(&f);
	struct notify n = {.ctx = fakehost_ctx(), .conf = &f.conf.common};
	snprintf(n.name, sizeof(n.name), "test:test");
	nh_alert_init(&a, "X", "f", BM_ALERT_FIRING);
	assert_true(wanted(&n, &a.e));
	a.e.notifiers = routes;
	a.e.n_notifiers = 2;
	assert_true(wanted(&n, &a.e));
	a.e.notifiers = full;
	a.e.n_notifiers = 1;
	assert_true(wanted(&n, &a.e));
	a.e.notifiers = elsewhere;
	assert_false(wanted(&n, &a.e));
	a.e.n_notifiers = 0;
	a.e.state = BM_ALERT_PENDING;
	assert_false(wanted(&n, &a.e));
	a.e.state = BM_ALERT_FIRING;
	a.e.silenced = true;
	assert_false(wanted(&n, &a.e));
	a.e.silenced = false;
	a.e.ack.by = "user:alice";
	assert_false(wanted(&n, &a.e)); /* acknowledged: no re-notification */
	a.e.ack.expires_ms = a.e.ts_ms - 1;
	assert_true(wanted(&n, &a.e)); /* the acknowledgement expired */
	a.e.state = BM_ALERT_RESOLVED;
	a.e.ack.expires_ms = 0;
	assert_true(wanted(&n, &a.e)); /* resolutions always go */
	f.conf.common.send_resolved = false;
	assert_false(wanted(&n, &a.e));
	a.e.state = BM_ALERT_FIRING;
	a.e.ack.by = NULL;
	f.conf.common.min_severity = BM_SEV_EMERGENCY;
	assert_false(wanted(&n, &a.e));
	a.e.severity = BM_SEV_EMERGENCY;
	assert_true(wanted(&n, &a.e));
	fx_close(&f);
	nh_close();
}

static void test_unqueued(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	nh_open();
	fx_open(&f);
	struct notify_params p = {.plugin = "test", .deliver = scripted_deliver, .user = &f.script,
				  .max_batch = 2};
	f.script.verdicts[0] = NOTIFY_TRANSIENT;
	f.script.n = 1;
	assert_int_equal(notify_new(fakehost_ctx(), &f.conf.common, &p, &f.n, &err), 0);
	json_t *arr = json_array();
	for (int i = 0; i < 3; i++) {
		char fp[8];
		snprintf(fp, sizeof(fp), "u%d", i);
		json_array_append_new(arr, nh_alert_json("X", fp, BM_ALERT_FIRING));
	}
	notify_send_unqueued(f.n, arr, "resend");
	json_decref(arr);
	/* two requests (max_batch 2), failed without retry: nothing was queued */
	assert_int_equal(f.script.calls, 2);
	assert_int_equal(nh_count(BM_NOTIFY_FAILED), 2);
	assert_string_equal(nh_event(0).fingerprints, "u0,u1");
	assert_int_equal(nh_event(1).n_fingerprints, 1);
	assert_int_equal(nh_queue_files(), 0);
	fx_stop(&f);
	fx_close(&f);
	nh_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_alert_json),
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_url_and_verdict),
		cmocka_unit_test(test_queue_persist_reload),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_queue_merge),
		cmocka_unit_test(test_queue_pick),
		cmocka_unit_test(test_queue_batch_full_and_expiry),
		cmocka_unit_test(test_queue_corrupt),
		cmocka_unit_test(test_retry_then_deliver),
		cmocka_unit_test(test_give_up),
		cmocka_unit_test(test_restart_keeps_queue),
		cmocka_unit_test(test_eviction_event),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_unqueued),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
