/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of sending, through the plugin's hooks against a loopback
 * receiver: delivery in order with the spec's headers, retries (5xx, 429,
 * Retry-After), 4xx given up, bearer token files and basic auth, a stop
 * while the receiver is down, resharding under a backlog; the sizing rule.
 */
#define _GNU_SOURCE
#include "../remote_write.c"
#include "rwhost.h"

struct fx {
	struct rw_conf conf;
	struct rx rx;
	struct rw *rw;
	char url[64];
	struct bm_buf buf;
};

static void fx_open(struct fx *f, int status)
{
	rh_open();
	memset(f, 0, sizeof(*f));
	pt_conf_defaults(rw_options, &f->conf);
	rx_start(&f->rx, status);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/api/v1/write", f->rx.port);
	pt_set_str(&f->conf.url, f->url);
	f->conf.batch_send_deadline_ms = 20;
	f->conf.max_samples_per_send = 100;
	f->conf.capacity = 1000;
	f->conf.min_backoff_ms = 5;
	f->conf.max_backoff_ms = 20;
}

static void fx_start(struct fx *f)
{
	struct bm_err err = {0};
	f->rw = pt_init(&rw_ops, &f->conf);
	assert_int_equal(rw_start(f->rw, &err), 0);
	assert_int_equal(rh.sub.policy, BM_SUB_BLOCK);
	assert_string_equal(rh.sub.topic, BM_TOPIC_METRIC);
}

static void fx_stop(struct fx *f)
{
	rw_stop(f->rw);
	rw_fini(f->rw);
	f->rw = NULL;
}

static void fx_close(struct fx *f)
{
	if (f->rw)
		fx_stop(f);
	rx_stop(&f->rx);
	bm_buf_free(&f->buf);
	pt_conf_release(rw_options, &f->conf);
	rh_close();
}

/* n samples of m{i=first..} at ts, one event. */
static void publish(struct fx *f, int first, int n, int64_t ts)
{
	rh_event(&f->buf, "m", "i", first, n, ts);
	rh_deliver(&f->buf);
}

static uint64_t stat(struct fx *f, const uint64_t *field)
{
	(void)f;
	return __atomic_load_n(field, __ATOMIC_RELAXED);
}

static void test_delivery(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 204);
	f.conf.min_shards = 3;
	fx_start(&f);
	int64_t ts = lb_wall_ms(NULL);
	for (int round = 0; round < 10; round++)
		publish(&f, 0, 100, ts + round * 1000); /* 100 series, 10 samples each */
	rx_wait_samples(&f.rx, 1000);
	assert_int_equal(rx_count(&f.rx), 1000);
	assert_string_equal(f.rx.error, "");
	/* every series, all its samples, in order */
	for (int s = 0; s < 100; s += 33) {
		char series[32];
		snprintf(series, sizeof(series), "m{i=\"%d\"}", s);
		assert_int_equal(rx_series_count(&f.rx, series), 10);
		int64_t prev = 0;
		for (size_t i = 0; i < f.rx.n_samples; i++) {
			if (strcmp(f.rx.samples[i].series, series))
				continue;
			assert_true(f.rx.samples[i].ts > prev);
			assert_int_equal(f.rx.samples[i].v, s);
			prev = f.rx.samples[i].ts;
		}
	}
	const char *h = f.rx.headers;
	assert_non_null(strstr(h, "POST /api/v1/write HTTP/1.1"));
	assert_non_null(strcasestr(h, "Content-Encoding: snappy"));
	assert_non_null(strcasestr(h, "Content-Type: application/x-protobuf"));
	assert_non_null(strcasestr(h, "X-Prometheus-Remote-Write-Version: 0.1.0"));
	assert_non_null(strcasestr(h, "User-Agent: bearmon/"));
	for (int i = 0; i < 2000 && stat(&f, &f.rw->st.samples_sent) < 1000; i++)
		usleep(5000);
	assert_int_equal(stat(&f, &f.rw->st.samples_sent), 1000);
	assert_int_equal(rw_gauge_get(&f.rw->st.highest_sent_ts_s) * 1000, ts + 9000);
	assert_int_equal(rw_gauge_get(&f.rw->st.shards), 3);
	fx_close(&f);
}

static void test_retries(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 200);
	f.rx.script[0] = 500;
	f.rx.script[1] = 503;
	f.rx.script[2] = 429;
	f.rx.n_script = 3;
	f.rx.retry_after = "0";
	fx_start(&f);
	publish(&f, 0, 50, lb_wall_ms(NULL));
	rx_wait_samples(&f.rx, 50);
	assert_int_equal(rx_requests(&f.rx), 4);
	assert_int_equal(stat(&f, &f.rw->st.samples_retried), 150);
	assert_int_equal(stat(&f, &f.rw->st.samples_failed), 0);
	assert_int_equal(rx_count(&f.rx), 50);
	fx_close(&f);
}

static void wait_pending_zero(struct fx *f)
{
	uint64_t p = 1, b, s;
	for (int i = 0; i < 4000 && p; i++) {
		usleep(5000);
		rwq_usage(f->rw->q, &p, &b, &s);
	}
	assert_int_equal(p, 0);
}

/* Other 4xx: given up at once, counted, logged with the receiver's reason,
 * and out of the queue. 429 too when retry_on_http_429 is off. */
static void test_refused(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 400);
	f.rx.script[0] = 429;
	f.rx.n_script = 1;
	f.conf.retry_on_http_429 = false;
	f.conf.max_samples_per_send = 10;
	fx_start(&f);
	publish(&f, 0, 20, lb_wall_ms(NULL));
	rx_wait_requests(&f.rx, 2);
	wait_pending_zero(&f);
	assert_int_equal(stat(&f, &f.rw->st.samples_failed), 20);
	assert_int_equal(stat(&f, &f.rw->st.samples_retried), 0);
	assert_int_equal(rx_requests(&f.rx), 2);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_ERR), "not retried: HTTP 429"));
	fx_close(&f);
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_bearer_file(void **unused)
{
	(void)unused;
	struct fx f;
	char path[256];
	fx_open(&f, 204);
	snprintf(path, sizeof(path), "%s/token", rh.dir);
	write_text(path, "first-token\n");
	pt_set_str(&f.conf.bearer_token_file, path);
	fx_start(&f);
	publish(&f, 0, 1, lb_wall_ms(NULL));
	rx_wait_samples(&f.rx, 1);
	assert_non_null(strstr(f.rx.headers, "Authorization: Bearer first-token\r\n"));
	sleep(1); /* a new mtime second for the rotated file */
	write_text(path, "second-token-longer");
	publish(&f, 1, 1, lb_wall_ms(NULL));
	rx_wait_samples(&f.rx, 2);
	assert_non_null(strstr(f.rx.headers, "Authorization: Bearer second-token-longer\r\n"));
	fx_close(&f);
}

static void test_basic_auth(void **unused)
{
	(void)unused;
	struct fx f;
	char path[256];
	fx_open(&f, 204);
	snprintf(path, sizeof(path), "%s/pw", rh.dir);
	write_text(path, "s3cret\n");
	pt_set_str(&f.conf.basic_auth.username, "bear");
	pt_set_str(&f.conf.basic_auth.password_file, path);
	fx_start(&f);
	publish(&f, 0, 1, lb_wall_ms(NULL));
	rx_wait_samples(&f.rx, 1);
	/* base64("bear:s3cret") */
	assert_non_null(strstr(f.rx.headers, "Authorization: Basic YmVhcjpzM2NyZXQ=\r\n"));
	fx_close(&f);
}

/* Down receiver, stop, start again with it up: nothing lost. */
static void test_stop_keeps_samples(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 503);
	fx_start(&f);
	publish(&f, 0, 30, lb_wall_ms(NULL));
	rx_wait_requests(&f.rx, 2);
	fx_stop(&f);
	assert_int_equal(rx_count(&f.rx), 0);
	pthread_mutex_lock(&f.rx.lock);
	f.rx.status = 200;
	pthread_mutex_unlock(&f.rx.lock);
	fx_start(&f);
	rx_wait_samples(&f.rx, 30);
	assert_int_equal(rx_series_count(&f.rx, "m{i=\"29\"}"), 1);
	fx_close(&f);
}

/* A slow receiver and a backlog: the shard count grows, order holds. */
static void test_reshard_grows(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 204);
	f.rx.delay_ms = 20;
	f.conf.shard_update_interval_ms = 200;
	f.conf.max_shards = 4;
	f.conf.max_samples_per_send = 50;
	f.conf.capacity = 100000;
	fx_start(&f);
	int64_t ts = lb_wall_ms(NULL);
	for (int round = 0; round < 20; round++)
		publish(&f, 0, 200, ts + round);
	for (int i = 0; i < 4000 && stat(&f, &f.rw->st.reshards) == 0; i++)
		usleep(5000);
	assert_true(stat(&f, &f.rw->st.reshards) > 0);
	assert_true(rw_gauge_get(&f.rw->st.shards) > 1);
	rx_wait_samples(&f.rx, 4000);
	for (int s = 0; s < 200; s += 50) {
		char series[32];
		snprintf(series, sizeof(series), "m{i=\"%d\"}", s);
		int64_t prev = 0;
		size_t n = 0;
		for (size_t i = 0; i < f.rx.n_samples; i++) {
			if (strcmp(f.rx.samples[i].series, series))
				continue;
			assert_true(f.rx.samples[i].ts > prev);
			prev = f.rx.samples[i].ts;
			n++;
		}
		assert_int_equal(n, 20);
	}
	fx_close(&f);
}

static void test_desired_shards(void **unused)
{
	(void)unused;
	/* 1 ms per sample sent, 1000 in per second: one shard's worth */
	struct rw_rates r = {.in_per_s = 1000, .out_per_s = 1000, .send_s_per_s = 1,
			     .pending = 0, .interval_s = 10};
	assert_int_equal(rw_desired_shards(&r, 1, 1, 50), 1);
	r.in_per_s = 4000; /* four times the load */
	assert_int_equal(rw_desired_shards(&r, 1, 1, 50), 4);
	assert_int_equal(rw_desired_shards(&r, 1, 1, 3), 3); /* max_shards */
	r.in_per_s = 1000;
	r.pending = 20000; /* a backlog: 1.5 * 20000 / 10 s more per second */
	assert_int_equal(rw_desired_shards(&r, 1, 1, 50), 4);
	r.pending = 0;
	r.in_per_s = 4400; /* 5 shards' worth, within 30% of 4: no change */
	assert_int_equal(rw_desired_shards(&r, 4, 1, 50), 4);
	assert_int_equal(rw_desired_shards(&r, 3, 1, 50), 5);
	r.in_per_s = 100; /* less load: shrink, not below min_shards */
	assert_int_equal(rw_desired_shards(&r, 8, 1, 50), 1);
	assert_int_equal(rw_desired_shards(&r, 8, 2, 50), 2);
	r.out_per_s = 0; /* nothing sent yet: no basis to change */
	assert_int_equal(rw_desired_shards(&r, 5, 1, 50), 5);
	r.out_per_s = 1;
	r.send_s_per_s = NAN;
	assert_int_equal(rw_desired_shards(&r, 5, 1, 50), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delivery),	   cmocka_unit_test(test_retries),
		cmocka_unit_test(test_refused),		   cmocka_unit_test(test_bearer_file),
		cmocka_unit_test(test_basic_auth),	   cmocka_unit_test(test_stop_keeps_samples),
		cmocka_unit_test(test_reshard_grows),	   cmocka_unit_test(test_desired_shards),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
