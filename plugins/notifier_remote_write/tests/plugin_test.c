/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the plugin glue: the option checks init makes (each named
 * in its error), the queue directory per instance, the self-metrics under
 * Prometheus' remote write names, the defaults of the option table.
 */
#define _GNU_SOURCE
#include "../remote_write.c"
#include "rwhost.h"

#include <sys/stat.h>

static char names[64][96];
static size_t n_names;

static int record_counter(struct bm_ctx *ctx, const char *n, const char *h, const uint64_t *v)
{
	(void)ctx;
	(void)h;
	assert_non_null(v);
	snprintf(names[n_names++], sizeof(names[0]), "counter %s", n);
	return 0;
}

static int record_gauge(struct bm_ctx *ctx, const char *n, const char *h, const double *v)
{
	(void)ctx;
	(void)h;
	assert_non_null(v);
	snprintf(names[n_names++], sizeof(names[0]), "gauge %s", n);
	return 0;
}

static bool registered(const char *what)
{
	for (size_t i = 0; i < n_names; i++)
		if (strcmp(names[i], what) == 0)
			return true;
	return false;
}

static void open_conf(struct rw_conf *c)
{
	rh_open();
	memset(c, 0, sizeof(*c));
	pt_conf_defaults(rw_options, c);
}

static void close_conf(struct rw_conf *c)
{
	pt_conf_release(rw_options, c);
	rh_close();
}

static void test_defaults(void **unused)
{
	(void)unused;
	struct rw_conf c;
	open_conf(&c);
	assert_string_equal(c.url, "http://127.0.0.1:8428/api/v1/write");
	assert_int_equal(c.max_samples_per_send, 2000);
	assert_int_equal(c.capacity, 10000);
	assert_int_equal(c.min_shards, 1);
	assert_int_equal(c.max_shards, 50);
	assert_int_equal(c.batch_send_deadline_ms, 5000);
	assert_int_equal(c.min_backoff_ms, 30);
	assert_int_equal(c.max_backoff_ms, 5000);
	assert_true(c.retry_on_http_429);
	assert_int_equal(c.queue_max_size, 1ull << 30);
	assert_int_equal(c.queue_max_age_ms, 24 * 3600 * 1000);
	assert_int_equal(c.timeout_ms, 30000);
	close_conf(&c);
}

static void test_init_checks(void **unused)
{
	(void)unused;
	struct rw_conf c;
	open_conf(&c);
	pt_set_str(&c.url, "ftp://example.com/write");
	pt_init_err(&rw_ops, &c, BM_EINVAL, "url", "ftp://", NULL);
	pt_set_str(&c.url, "http://127.0.0.1:1/api/v1/write");
	c.min_shards = 5;
	c.max_shards = 2;
	pt_init_err(&rw_ops, &c, BM_EINVAL, "min_shards 5", "max_shards 2", NULL);
	c.min_shards = 1;
	c.capacity = 10;
	pt_init_err(&rw_ops, &c, BM_EINVAL, "capacity 10", NULL);
	c.capacity = 10000;
	pt_set_str(&c.bearer_token_file, "/nonexistent/token");
	pt_init_err(&rw_ops, &c, BM_EINVAL, "bearer_token_file", "/nonexistent/token", NULL);
	pt_set_str(&c.bearer_token_file, NULL);
	pt_set_str(&c.bearer_token, "line\nbreak");
	pt_init_err(&rw_ops, &c, BM_EINVAL, "line break", NULL);
	pt_set_str(&c.bearer_token, NULL);
	pt_set_list(&c.exclude, "{job=~\"(\"}", NULL);
	pt_init_err(&rw_ops, &c, BM_EINVAL, "exclude.0", NULL);
	pt_set_list(&c.exclude, NULL);
	c.external_labels.keys = calloc(1, sizeof(char *));
	c.external_labels.values = calloc(1, sizeof(char *));
	c.external_labels.keys[0] = strdup("bad-name");
	c.external_labels.values[0] = strdup("x");
	c.external_labels.n = 1;
	pt_init_err(&rw_ops, &c, BM_EINVAL, "external_labels", "bad-name", NULL);
	close_conf(&c);
}

static void test_metrics_and_dir(void **unused)
{
	(void)unused;
	struct rw_conf c;
	open_conf(&c);
	rh.api.self_counter = record_counter;
	rh.api.self_gauge = record_gauge;
	n_names = 0;
	struct rw *rw = pt_init(&rw_ops, &c);
	static const char *const want[] = {
		"counter prometheus_remote_storage_samples_total",
		"counter prometheus_remote_storage_samples_failed_total",
		"counter prometheus_remote_storage_samples_retried_total",
		"counter prometheus_remote_storage_samples_dropped_total",
		"counter prometheus_remote_storage_samples_in_total",
		"counter prometheus_remote_storage_bytes_total",
		"gauge prometheus_remote_storage_samples_pending",
		"gauge prometheus_remote_storage_highest_timestamp_in_seconds",
		"gauge prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
		"gauge prometheus_remote_storage_shards",
		"gauge prometheus_remote_storage_shards_desired",
		"gauge prometheus_remote_storage_shards_min",
		"gauge prometheus_remote_storage_shards_max",
		"counter bearmon_remote_write_samples_filtered_total",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!registered(want[i]))
			fail_msg("not registered: %s", want[i]);
	char dir[256];
	struct stat st;
	snprintf(dir, sizeof(dir), "%s/remote_write/test", rh.dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(rw_gauge_get(&rw->st.shards_max), 50);
	/* a second instance of the same name cannot share the queue */
	struct bm_err err = {0};
	void *other = NULL;
	assert_int_equal(rw_ops.init(fakehost_ctx(), &c, &other, &err), BM_EIO);
	assert_non_null(strstr(err.msg, "in use"));
	rw_fini(rw);
	close_conf(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_init_checks),
		cmocka_unit_test(test_metrics_and_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
