/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the intake: series selection by include/exclude selectors,
 * external labels (the series' own win, ${VAR} expanded), write_relabel_
 * configs (add, drop and rename labels, drop series, a lost name drops the
 * series), stale markers bit-exact, a series record once per segment, idle
 * series forgotten. What reaches the queue is read back from it.
 */
#define _GNU_SOURCE
#include "../remote_write.c"
#include "rwhost.h"

struct fx {
	struct rw_conf conf;
	struct rw_stats st;
	struct rw_intake in;
	struct rw_queue *q;
	struct bm_buf buf;
	struct bm_arena arena;
};

static void fx_open(struct fx *f)
{
	rh_open();
	memset(f, 0, sizeof(*f));
	pt_conf_defaults(rw_options, &f->conf);
}

/* The intake and a queue in the test's dir, after the conf is set. */
static void fx_start(struct fx *f)
{
	struct bm_err err = {0};
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/q", rh.dir);
	struct rw_queue_opts o = {.dir = dir, .max_size = 1 << 30, .max_age_ms = 3600000,
				  .segment_size = 1 << 20, .sync_interval_ms = 1000};
	assert_int_equal(rwq_open(&o, &f->q, &err), 0);
	if (rw_intake_init(&f->in, fakehost_ctx(), &f->conf, &f->st, &err))
		fail_msg("intake: %s", err.msg);
}

static void fx_close(struct fx *f)
{
	rw_intake_free(&f->in);
	rwq_close(f->q);
	bm_buf_free(&f->buf);
	pt_conf_release(rw_options, &f->conf);
	rh_close();
}

static void map_add(struct bm_map *m, const char *key, const char *value)
{
	m->keys = realloc(m->keys, (m->n + 1) * sizeof(*m->keys));
	m->values = realloc(m->values, (m->n + 1) * sizeof(*m->values));
	m->keys[m->n] = strdup(key);
	m->values[m->n++] = strdup(value);
}

/* Append a relabel rule with its defaults; the caller sets the rest. */
static struct relabel_conf *add_rule(struct fx *f, const char *action)
{
	struct bm_group_list *gl = &f->conf.write_relabel_configs;
	gl->items = realloc(gl->items, (gl->n + 1) * sizeof(struct relabel_conf));
	struct relabel_conf *r = BM_GROUP_ITEM(*gl, struct relabel_conf, gl->n);
	memset(r, 0, sizeof(*r));
	pt_conf_defaults(relabel_rule_options, r);
	const struct bm_option *o = relabel_rule_options;
	while (strcmp(o->name, "action") != 0)
		o++;
	for (int i = 0; o->enum_values[i]; i++)
		if (strcmp(o->enum_values[i], action) == 0)
			r->action = i;
	gl->n++;
	return r;
}

/* One sample name{labels...} = v at ts, as a `metric` event, taken in. */
__attribute__((sentinel)) static void feed(struct fx *f, const char *name, double v, int64_t ts, ...)
{
	struct bm_label l[8];
	uint32_t n = 0;
	va_list ap;
	va_start(ap, ts);
	for (const char *k; (k = va_arg(ap, const char *));)
		l[n++] = (struct bm_label){k, va_arg(ap, const char *)};
	va_end(ap);
	struct bm_sample s = {name, l, n, ts, v};
	struct bm_metric_batch b = {.samples = &s, .n_samples = 1};
	assert_int_equal(bm_metric_batch_encode(&b, &f->buf), 0);
	assert_int_equal(rw_intake_event(&f->in, f->q, f->buf.data, f->buf.len, 1000), 0);
}

/* The queue's content as "name{k=v,...} value" lines, acknowledged. */
static char *drain(struct fx *f)
{
	static char out[4096];
	size_t k = 0;
	struct rw_item *it;
	size_t n;
	out[0] = '\0';
	while ((n = rwq_next(f->q, 1000, 10, &it))) {
		for (size_t i = 0; i < n; i++) {
			const struct rw_series *s = it[i].series;
			for (size_t j = 0; j < s->n_labels; j++)
				k += (size_t)snprintf(out + k, sizeof(out) - k, "%s%s=%s", j ? "," : "",
						      s->labels[j].name, s->labels[j].value);
			k += (size_t)snprintf(out + k, sizeof(out) - k, " %g\n", it[i].value);
		}
		rwq_ack(f->q, it[0].chunk, n);
	}
	return out;
}

static void test_selectors(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f);
	pt_set_list(&f.conf.include, "up", "node_cpu_seconds_total{mode!=\"idle\"}", NULL);
	pt_set_list(&f.conf.exclude, "{job=\"skip\"}", NULL);
	fx_start(&f);
	feed(&f, "up", 1, 1000, "job", "a", NULL);
	feed(&f, "up", 1, 1000, "job", "skip", NULL);
	feed(&f, "node_cpu_seconds_total", 5, 1000, "mode", "idle", NULL);
	feed(&f, "node_cpu_seconds_total", 6, 1000, "mode", "user", NULL);
	feed(&f, "node_load1", 0.5, 1000, NULL);
	assert_string_equal(drain(&f), "__name__=up,job=a 1\n"
				       "__name__=node_cpu_seconds_total,mode=user 6\n");
	assert_int_equal(f.st.samples_filtered, 3);
	assert_int_equal(f.st.samples_in, 2);
	/* a decided series is remembered: the same again costs no decision */
	feed(&f, "up", 1, 2000, "job", "skip", NULL);
	assert_int_equal(f.st.samples_filtered, 4);
	assert_int_equal(f.in.n, 5);
	fx_close(&f);
}

static void test_bad_selector(void **unused)
{
	(void)unused;
	struct fx f;
	struct bm_err err = {0};
	fx_open(&f);
	pt_set_list(&f.conf.include, "up{job=", NULL);
	assert_int_equal(rw_intake_init(&f.in, fakehost_ctx(), &f.conf, &f.st, &err), BM_EINVAL);
	assert_non_null(strstr(err.msg, "include.0"));
	rw_intake_free(&f.in);
	pt_conf_release(rw_options, &f.conf);
	rh_close();
}

static void test_external_labels(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f);
	setenv("RW_TEST_CLUSTER", "eu-1", 1);
	map_add(&f.conf.external_labels, "cluster", "${RW_TEST_CLUSTER}");
	map_add(&f.conf.external_labels, "instance", "ext");
	map_add(&f.conf.external_labels, "gone", "${RW_TEST_NOT_SET}");
	fx_start(&f);
	feed(&f, "up", 1, 1000, "instance", "own", NULL);
	feed(&f, "up", 1, 1000, "job", "j", NULL);
	assert_string_equal(drain(&f), "__name__=up,cluster=eu-1,instance=own 1\n"
				       "__name__=up,cluster=eu-1,instance=ext,job=j 1\n");
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "gone"));
	fx_close(&f);
}

static void test_relabel(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f);
	map_add(&f.conf.external_labels, "host", "h1");
	struct relabel_conf *r = add_rule(&f, "replace"); /* add a label */
	pt_set_str(&r->target_label, "team");
	pt_set_str(&r->replacement, "infra");
	r = add_rule(&f, "replace"); /* rename: copy ... */
	pt_set_list(&r->source_labels, "dev", NULL);
	pt_set_str(&r->target_label, "device");
	r = add_rule(&f, "labeldrop"); /* ... and drop the old, and a noisy one */
	pt_set_str(&r->regex, "dev|pid");
	r = add_rule(&f, "drop"); /* drop series */
	pt_set_list(&r->source_labels, "__name__", NULL);
	pt_set_str(&r->regex, "go_.*");
	fx_start(&f);
	feed(&f, "disk_io_total", 3, 1000, "dev", "sda", "pid", "42", NULL);
	feed(&f, "go_goroutines", 9, 1000, NULL);
	/* external labels are there before the rules, so rules see host */
	assert_string_equal(drain(&f), "__name__=disk_io_total,device=sda,host=h1,team=infra 3\n");
	assert_int_equal(f.st.samples_filtered, 1);
	fx_close(&f);
}

/* A rule that takes the metric name away leaves no series to send. */
static void test_relabel_drops_name(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f);
	struct relabel_conf *r = add_rule(&f, "labeldrop");
	pt_set_str(&r->regex, "__name__");
	fx_start(&f);
	feed(&f, "up", 1, 1000, "job", "a", NULL);
	assert_string_equal(drain(&f), "");
	assert_int_equal(f.st.samples_filtered, 1);
	fx_close(&f);
}

static void test_stale_and_time(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f);
	fx_start(&f);
	feed(&f, "up", bm_stale_nan(), 1000, NULL);
	int64_t before = lb_wall_ms(NULL);
	feed(&f, "up", 1, 0, NULL); /* no time: now */
	struct rw_item *it;
	assert_int_equal(rwq_next(f.q, 100, 100, &it), 2);
	assert_true(bm_is_stale_nan(it[0].value));
	assert_int_equal(it[0].ts_ms, 1000);
	assert_true(it[1].ts_ms >= before);
	rwq_ack(f.q, it[0].chunk, 2);
	assert_int_equal(rw_intake_event(&f.in, f.q, "\xc1", 1, 1000), BM_EPROTO);
	fx_close(&f);
}

static uint64_t queue_bytes(struct fx *f)
{
	uint64_t p, b, s;
	rwq_usage(f->q, &p, &b, &s);
	return b;
}

/* The series record goes once per segment; an idle series is forgotten. */
static void test_series_records(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f);
	fx_start(&f);
	uint64_t b0 = queue_bytes(&f);
	feed(&f, "some_rather_long_metric_name_total", 1, 1000, "label", "value", NULL);
	uint64_t b1 = queue_bytes(&f);
	feed(&f, "some_rather_long_metric_name_total", 2, 2000, "label", "value", NULL);
	uint64_t b2 = queue_bytes(&f);
	assert_true(b2 - b1 < b1 - b0);
	assert_int_equal(b2 - b1, 9 + 1 + 2 + 8); /* header, ref, ts (2000: 2 bytes), value */
	assert_int_equal(f.in.n, 1);
	/* ten minutes later, at the next sweep, it is gone */
	f.buf.len = 0;
	struct bm_metric_batch empty = {0};
	assert_int_equal(bm_metric_batch_encode(&empty, &f.buf), 0);
	assert_int_equal(rw_intake_event(&f.in, f.q, f.buf.data, f.buf.len,
					 1000 + RW_SERIES_IDLE_MS + 60001),
			 0);
	assert_int_equal(f.in.n, 0);
	fx_close(&f);
}

static void test_expand_env(void **unused)
{
	(void)unused;
	setenv("RW_A", "a", 1);
	unsetenv("RW_MISSING");
	char *s = rw_expand_env("${RW_A}-$$-${RW_MISSING}x-${unclosed");
	assert_string_equal(s, "a-$-x-${unclosed");
	free(s);
	char host[256];
	gethostname(host, sizeof(host));
	unsetenv("HOSTNAME");
	s = rw_expand_env("${HOSTNAME}");
	assert_string_equal(s, host);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selectors),	   cmocka_unit_test(test_bad_selector),
		cmocka_unit_test(test_external_labels),	   cmocka_unit_test(test_relabel),
		cmocka_unit_test(test_relabel_drops_name), cmocka_unit_test(test_stale_and_time),
		cmocka_unit_test(test_series_records),	   cmocka_unit_test(test_expand_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
