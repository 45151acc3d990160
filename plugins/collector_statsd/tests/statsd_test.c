/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/statsd: the line parser and series mapping, the
 * DDSketch against exact quantiles, the flush (lines fed to a shard, then
 * collect through the fake host), cardinality limits, bad input, and the
 * real UDP and TCP listeners on loopback (bind retry, idle timeout, many
 * clients, a client that leaves mid-line).
 */
#include "plugintest.h"
#include "statsd.c"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

/* --- parser ------------------------------------------------------------ */

static enum statsd_result parse(const char *s, struct statsd_line *l)
{
	return statsd_parse_line(s, strlen(s), l);
}

static void test_parse_types(void **unused)
{
	static const struct {
		const char *line;
		int type;
		double num;
		bool delta;
	} cases[] = {
		{"a:1|c", STATSD_COUNTER, 1, false},      {"a:+3|c", STATSD_COUNTER, 3, false},
		{"a:1.5|g", STATSD_GAUGE, 1.5, false},    {"a:+2|g", STATSD_GAUGE, 2, true},
		{"a:-2|g", STATSD_GAUGE, -2, true},       {"a:250|ms", STATSD_TIMER, 0.25, false},
		{"a:3|h", STATSD_HISTOGRAM, 3, false},    {"a:4e2|d", STATSD_DISTRIBUTION, 400, false},
		{"a:.5|g", STATSD_GAUGE, 0.5, false},     {"a:5.|g", STATSD_GAUGE, 5, false},
		{"a:-2.5e3|h", STATSD_HISTOGRAM, -2500, false},
		{"a:1|c\r", STATSD_COUNTER, 1, false},
	};
	struct statsd_line l;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].line, &l), STATSD_OK);
		assert_int_equal(l.n, 1);
		assert_int_equal(l.v[0].type, cases[i].type);
		assert_true(l.v[0].num == cases[i].num);
		assert_int_equal(l.v[0].delta, cases[i].delta);
		assert_true(l.v[0].weight == 1);
		assert_int_equal(l.name_len, 1);
	}
	assert_int_equal(parse("users.online:alice|s", &l), STATSD_OK);
	assert_int_equal(l.v[0].type, STATSD_SET);
	assert_int_equal(l.v[0].len, 5);
	assert_memory_equal(l.v[0].str, "alice", 5);
	assert_int_equal(l.name_len, 12);
}

static void test_parse_fields(void **unused)
{
	struct statsd_line l;
	assert_int_equal(parse("a:2|c|@0.5|#k:v,flag", &l), STATSD_OK);
	assert_true(l.v[0].weight == 2 && l.v[0].num == 2);
	assert_int_equal(l.tags_len, 8);
	assert_memory_equal(l.tags, "k:v,flag", 8);
	assert_int_equal(parse("a:2|ms|#k:v|@0.25", &l), STATSD_OK);
	assert_true(l.v[0].weight == 4);
	assert_int_equal(parse("a:1|c|T1656581400|c:83c0a99c0a54c0c1", &l), STATSD_OK);
	assert_null(l.tags);
	/* gauges and sets ignore sample rates, as etsy StatsD does */
	assert_int_equal(parse("a:7|g|@0.1", &l), STATSD_OK);
	assert_true(l.v[0].weight == 1);
}

static void test_parse_multi(void **unused)
{
	struct statsd_line l;
	assert_int_equal(parse("a:1:2:3|d|#x:y", &l), STATSD_OK); /* DogStatsD */
	assert_int_equal(l.n, 3);
	assert_true(l.v[2].num == 3 && l.v[2].type == STATSD_DISTRIBUTION);
	assert_int_equal(parse("a:1|c|@0.5:20|ms", &l), STATSD_OK); /* etsy */
	assert_int_equal(l.n, 2);
	assert_true(l.v[0].type == STATSD_COUNTER && l.v[0].weight == 2);
	assert_true(l.v[1].type == STATSD_TIMER && l.v[1].num == 0.02 && l.v[1].weight == 1);
}

static void test_parse_numbers(void **unused)
{
	static const char *const nums[] = {"0.1", "123456789012345678901234", "1e-5", "3.14159",
					   "0.000000000000000000000000123", "9007199254740993",
					   "1.7976931348623157e308", "12345.678901234567890123"};
	char line[128];
	struct statsd_line l;
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		snprintf(line, sizeof(line), "a:%s|g", nums[i]);
		assert_int_equal(parse(line, &l), STATSD_OK);
		assert_true(l.v[0].num == strtod(nums[i], NULL));
	}
}

static void test_parse_bad(void **unused)
{
	static const struct {
		const char *line;
		enum statsd_result want;
	} cases[] = {
		{"", STATSD_ERR_SYNTAX},          {"nocolon", STATSD_ERR_SYNTAX},
		{":1|c", STATSD_ERR_SYNTAX},      {"a:1", STATSD_ERR_SYNTAX},
		{"a|b:1|c", STATSD_ERR_SYNTAX},   {"a:1|c|zz", STATSD_ERR_SYNTAX},
		{"a:1|c|#k:v:2|c", STATSD_ERR_SYNTAX},
		{"a:1|c|Tx", STATSD_ERR_SYNTAX},  {"a:|c", STATSD_ERR_VALUE},
		{"a:abc|c", STATSD_ERR_VALUE},    {"a:1e999|g", STATSD_ERR_VALUE},
		{"a:inf|g", STATSD_ERR_VALUE},    {"a:nan|g", STATSD_ERR_VALUE},
		{"a:0x10|c", STATSD_ERR_VALUE},   {"a:1.2.3|c", STATSD_ERR_VALUE},
		{"a:-|c", STATSD_ERR_VALUE},      {"a:1e|c", STATSD_ERR_VALUE},
		{"a:1 |c", STATSD_ERR_VALUE},     {"a:1|x", STATSD_ERR_TYPE},
		{"a:1|", STATSD_ERR_TYPE},        {"a:1|msx", STATSD_ERR_TYPE},
		{"a:1|c ", STATSD_ERR_TYPE},      {"a:1|c|@0", STATSD_ERR_RATE},
		{"a:1|c|@2", STATSD_ERR_RATE},    {"a:1|c|@x", STATSD_ERR_RATE},
		{"a:1|c|@-0.5", STATSD_ERR_RATE}, {"a:1|c|#x|#y", STATSD_ERR_TAGS},
		{"a:-1|c", STATSD_ERR_NEGATIVE},  {"a:-0|c", STATSD_ERR_NEGATIVE},
		{"a\xff:1|c", STATSD_ERR_UTF8},   {"a:1|c|#k:\xc3\x28", STATSD_ERR_UTF8},
		{"a\xc0\xaf:1|c", STATSD_ERR_UTF8}, {"a\xed\xa0\x80:1|c", STATSD_ERR_UTF8},
		{"_e{5,4}:title|text", STATSD_UNSUPPORTED},
		{"_sc|my.check|0|#env:prod", STATSD_UNSUPPORTED},
	};
	struct statsd_line l;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum statsd_result got = parse(cases[i].line, &l);
		if (got != cases[i].want)
			fail_msg("\"%s\": %s, want %s", cases[i].line, statsd_result_name(got),
				 statsd_result_name(cases[i].want));
	}
	assert_int_equal(statsd_parse_line("a\0b:1|c", 7, &l), STATSD_ERR_UTF8);
	char many[512] = "a";
	for (int i = 0; i <= STATSD_MAX_VALUES; i++)
		strcat(many, ":1");
	strcat(many, "|c");
	assert_int_equal(parse(many, &l), STATSD_ERR_TOO_MANY);
}

static void test_utf8(void **unused)
{
	static const char ok[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e";
	assert_true(statsd_utf8_valid(ok, sizeof(ok) - 1));
	assert_false(statsd_utf8_valid(ok, sizeof(ok) - 2)); /* the last one cut */
	assert_false(statsd_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
	assert_false(statsd_utf8_valid("\xe2\x82", 2));         /* cut short */
	assert_false(statsd_utf8_valid("\x80", 1));
	assert_false(statsd_utf8_valid("\xe0\x80\xaf", 3)); /* overlong */
	struct statsd_line l;
	assert_int_equal(parse("temp.\xc2\xb0" "C:21|g|#room:k\xc3\xbc" "che", &l), STATSD_OK);
}

/* --- series mapping ---------------------------------------------------- */

static const char *labels_of(const struct statsd_series *s, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (uint32_t i = 0; i < s->n_labels; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s=%s", i ? "," : "", s->labels[i].name,
				      s->labels[i].value);
	return out;
}

static void check_series(const char *name, const char *tags, enum statsd_type type,
			 const char *want_name, const char *want_labels)
{
	char buf[STATSD_SERIES_BUF(256)], got[512];
	struct statsd_series s;
	assert_int_equal(statsd_series_build(name, strlen(name), tags, tags ? strlen(tags) : 0, type,
					     buf, sizeof(buf), &s),
			 STATSD_OK);
	assert_string_equal(s.name, want_name);
	assert_string_equal(labels_of(&s, got, sizeof(got)), want_labels);
	assert_ptr_equal(s.key, s.name);
}

static void test_series_names(void **unused)
{
	check_series("api.requests", NULL, STATSD_COUNTER, "api_requests_total", "");
	check_series("jobs_total", NULL, STATSD_COUNTER, "jobs_total", "");
	check_series("api.latency", NULL, STATSD_TIMER, "api_latency_seconds", "");
	check_series("rtt_seconds", NULL, STATSD_TIMER, "rtt_seconds", "");
	check_series("size", NULL, STATSD_HISTOGRAM, "size", "");
	check_series("9lives", NULL, STATSD_GAUGE, "_9lives", "");
	check_series("a-b/c d", NULL, STATSD_GAUGE, "a_b_c_d", "");
	check_series("t\xc3\xbc", NULL, STATSD_SET, "t__", "");
}

static void test_series_tags(void **unused)
{
	check_series("m", "b:2,a:1,flag", STATSD_GAUGE, "m", "a=1,b=2,flag=true");
	check_series("m", "a:1,a:2", STATSD_GAUGE, "m", "a=1");
	check_series("m", "k.x:v,url:http://h:80/p", STATSD_GAUGE, "m", "k_x=v,url=http://h:80/p");
	check_series("m", "__x:1,2nd:y", STATSD_GAUGE, "m", "_2nd=y,tag__x=1");
	check_series("m", "quantile:5", STATSD_TIMER, "m_seconds", "tag_quantile=5");
	check_series("m", "quantile:5", STATSD_GAUGE, "m", "quantile=5");
	check_series("m", "e:,a:1,,b:2", STATSD_GAUGE, "m", "a=1,b=2");
	check_series("m", "room:k\xc3\xbc" "che", STATSD_GAUGE, "m", "room=k\xc3\xbc" "che");
	char buf[STATSD_SERIES_BUF(256)];
	struct statsd_series s;
	assert_int_equal(statsd_series_build("m", 1, ":v", 2, STATSD_GAUGE, buf, sizeof(buf), &s),
			 STATSD_ERR_TAGS);
	char tags[256] = "";
	for (int i = 0; i <= STATSD_MAX_TAGS; i++)
		snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "%st%d:x", i ? "," : "", i);
	assert_int_equal(statsd_series_build("m", 1, tags, strlen(tags), STATSD_GAUGE, buf,
					     sizeof(buf), &s),
			 STATSD_ERR_TAGS);
}

/* --- sketch ------------------------------------------------------------ */

static uint64_t rng_state = 88172645463325252ULL;
static double uniform(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) * 0x1p-53;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Every quantile within 1% of the exact one, ranked as the sketch ranks
 * (the element at floor(q (n - 1))). */
static void check_accuracy(struct sketch *sk, double *v, size_t n)
{
	static const double qs[] = {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999};
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double exact = v[(size_t)(qs[i] * (double)(n - 1))];
		double got = sketch_quantile(sk, qs[i]);
		if (fabs(got - exact) > SKETCH_RELATIVE_ACCURACY * fabs(exact) + 1e-300)
			fail_msg("q%g: %.9g, exact %.9g", qs[i], got, exact);
	}
	assert_true(sketch_quantile(sk, 0) == v[0]);
	assert_true(sketch_quantile(sk, 1) == v[n - 1]);
}

static void test_sketch_accuracy(void **unused)
{
	assert_true(fabs(SKETCH_MULT - 1 / log((1 + SKETCH_RELATIVE_ACCURACY) /
					       (1 - SKETCH_RELATIVE_ACCURACY))) < 1e-9);
	size_t n = 100000;
	double *v = malloc(n * sizeof(*v));
	struct sketch sk = {0};
	for (size_t i = 0; i < n; i++) { /* lognormal latencies around 20 ms */
		double g = sqrt(-2 * log(uniform() + 1e-300)) * cos(2 * M_PI * uniform());
		v[i] = 0.02 * exp(1.2 * g);
		assert_int_equal(sketch_add(&sk, v[i], 1), 0);
	}
	assert_true(sk.count == (double)n);
	check_accuracy(&sk, v, n);
	/* the whole range of full accuracy (6 decades) on both signs */
	sketch_clear(&sk);
	for (size_t i = 0; i < n; i++) {
		v[i] = pow(10, -3 + 6 * uniform()) * (i % 7 == 0 ? -1 : 1);
		sketch_add(&sk, v[i], 1);
	}
	check_accuracy(&sk, v, n);
	sketch_free(&sk);
	free(v);
}

static void test_sketch_merge(void **unused)
{
	struct sketch a = {0}, b = {0}, all = {0};
	for (int i = 0; i < 5000; i++) {
		double x = 0.001 + uniform() * (i % 2 ? 10 : 0.1);
		sketch_add(i < 2500 ? &a : &b, x, 1);
		sketch_add(&all, x, 1);
	}
	assert_int_equal(sketch_merge(&a, &b), 0);
	for (double q = 0; q <= 1; q += 0.05)
		assert_true(sketch_quantile(&a, q) == sketch_quantile(&all, q));
	assert_true(a.count == all.count && a.min == all.min && a.max == all.max);
	assert_true(fabs(a.sum - all.sum) < 1e-9 * all.sum);
	sketch_free(&a);
	sketch_free(&b);
	sketch_free(&all);
}

static void test_sketch_edges(void **unused)
{
	struct sketch sk = {0};
	assert_true(isnan(sketch_quantile(&sk, 0.5)));
	sketch_add(&sk, 1, 3); /* weight: 1 / sample rate */
	sketch_add(&sk, 100, 7);
	assert_true(sk.count == 10 && sk.sum == 703);
	assert_true(fabs(sketch_quantile(&sk, 0.2) - 1) <= 0.01);
	assert_true(fabs(sketch_quantile(&sk, 0.5) - 100) <= 1);
	sketch_clear(&sk);
	sketch_add(&sk, 0, 1);
	sketch_add(&sk, 0, 1);
	sketch_add(&sk, -5, 1);
	assert_true(sketch_quantile(&sk, 0.5) == 0);
	assert_true(sketch_quantile(&sk, 0) == -5);
	/* beyond SKETCH_MAX_BINS: the lowest bins merge, the top stays exact */
	sketch_clear(&sk);
	for (int e = -9; e <= 9; e++)
		for (int k = 0; k < 10; k++)
			sketch_add(&sk, pow(10, e) * (1 + k / 10.0), 1);
	assert_true(sk.pos.n <= SKETCH_MAX_BINS);
	/* rank 0.99 x 189 of 190 values: the 188th, 1.7e9 */
	assert_true(fabs(sketch_quantile(&sk, 0.99) - 1.7e9) <= 0.01 * 1.7e9);
	sketch_free(&sk);
}

/* --- the plugin: lines fed straight into a shard ----------------------- */

struct fixture {
	struct statsd_conf conf;
	struct statsd *s;
	bool started;
};

static void fixture_conf(struct fixture *f)
{
	pt_fixture_begin(f, statsd_options);
	pt_set_str(&f->conf.udp_listen, "127.0.0.1:0");
}

static void fixture_init(struct fixture *f)
{
	f->s = pt_init(&statsd_ops, &f->conf);
}

static void fixture_open(struct fixture *f)
{
	fixture_conf(f);
	fixture_init(f);
}

static void fixture_close(struct fixture *f)
{
	if (f->started)
		statsd_stop(f->s);
	pt_close(&statsd_ops, statsd_options, f->s, &f->conf);
}

/* What a datagram of text would do on the first listener. */
static void feed(struct fixture *f, const char *text)
{
	struct shard *sh = &f->s->ls[0]->shard;
	pthread_mutex_lock(&sh->lock);
	shard_feed(sh, text, strlen(text));
	pthread_mutex_unlock(&sh->lock);
	shard_flush_stats(sh, f->s->stats);
}

static uint64_t counter(const struct fixture *f, enum statsd_stat st)
{
	return __atomic_load_n(&f->s->stats[st], __ATOMIC_RELAXED);
}

static void test_flush_counters(void **unused)
{
	struct fixture f;
	fixture_open(&f);
	feed(&f, "req:1|c|#code:200\nreq:3|c|@0.5|#code:200\nreq:1|c|#code:500");
	pt_collect_ok(&statsd_ops, f.s, 1000);
	assert_value("req_total", "code=200", 7);
	assert_value("req_total", "code=500", 1);
	assert_int_equal(fakehost_meta("req_total")->type, BM_METRIC_COUNTER);
	feed(&f, "req:1|c|#code:200");
	pt_collect_ok(&statsd_ops, f.s, 2000);
	assert_value("req_total", "code=200", 8); /* cumulative */
	assert_value("req_total", "code=500", 1);
	assert_value("statsd_listener_up", "listener=127.0.0.1:0,protocol=udp", 0); /* not started */
	assert_int_equal(counter(&f, ST_LINES), 4);
	assert_int_equal(counter(&f, ST_SAMPLES), 4);
	assert_int_equal(fakehost_unsorted(), 0);
	fixture_close(&f);
}

static void test_flush_gauges_sets(void **unused)
{
	struct fixture f;
	fixture_open(&f);
	feed(&f, "g:5|g\ng:+2|g\ng:-1|g\nu:a|s\nu:b|s\nu:a|s");
	pt_collect_ok(&statsd_ops, f.s, 1000);
	assert_value("g", "", 6);
	assert_value("u", "", 2);
	assert_int_equal(fakehost_meta("u")->type, BM_METRIC_GAUGE);
	feed(&f, "g:+4|g");
	pt_collect_ok(&statsd_ops, f.s, 2000);
	assert_value("g", "", 10);
	assert_value("u", "", 0); /* distinct members of this interval */
	pt_collect_ok(&statsd_ops, f.s, 3000);
	assert_value("g", "", 10); /* a gauge keeps its value */
	feed(&f, "g:+1|g\ng:3|g\ng:+1|g");
	pt_collect_ok(&statsd_ops, f.s, 4000);
	assert_value("g", "", 4);
	fixture_close(&f);
}

#define PT_Q(q) "endpoint=/v1,quantile=" q

static void test_flush_timers(void **unused)
{
	struct fixture f;
	fixture_open(&f);
	char line[64];
	for (int i = 1; i <= 100; i++) {
		snprintf(line, sizeof(line), "lat:%d|ms|#endpoint:/v1", i);
		feed(&f, line);
	}
	feed(&f, "lat:50|ms|@0.1|#endpoint:/v1");
	pt_collect_ok(&statsd_ops, f.s, 1000);
	assert_value("lat_seconds", PT_Q("0"), 0.001);
	assert_value("lat_seconds", PT_Q("1"), 0.1);
	assert_true(fabs(fakehost_value("lat_seconds", PT_Q("0.5")) - 0.05) <= 0.01 * 0.05);
	/* rank 0.99 x 109 of the weighted values: 98 ms */
	assert_true(fabs(fakehost_value("lat_seconds", PT_Q("0.99")) - 0.098) <= 0.01 * 0.098);
	assert_value("lat_seconds_count", "endpoint=/v1", 110);
	assert_value("lat_seconds_sum", "endpoint=/v1", 5.05 + 0.5);
	const struct fh_meta *m = fakehost_meta("lat_seconds");
	assert_int_equal(m->type, BM_METRIC_SUMMARY);
	assert_string_equal(m->unit, "seconds");
	pt_collect_ok(&statsd_ops, f.s, 2000); /* nothing new: NaN quantiles */
	assert_true(isnan(fakehost_value("lat_seconds", PT_Q("0.5"))));
	assert_value("lat_seconds_count", "endpoint=/v1", 110);
	feed(&f, "h:5|h\nd:1:2:3|d");
	pt_collect_ok(&statsd_ops, f.s, 3000);
	assert_value("h_sum", "", 5);
	assert_value("d", "quantile=1", 3);
	assert_value("d_count", "", 3);
	assert_string_equal(fakehost_meta("h")->unit, "");
	fixture_close(&f);
}

static void test_type_conflicts(void **unused)
{
	struct fixture f;
	fixture_open(&f);
	feed(&f, "x:1|g\nx:a|s\nt:1|h\nt_sum:5|g\nt_count:1|c");
	pt_collect_ok(&statsd_ops, f.s, 1000);
	assert_value("x", "", 1);
	assert_value("t_sum", "", 1);   /* the summary's, not the gauge */
	assert_value("t_count_total", "", 1); /* a counter gets _total: no clash */
	assert_int_equal(counter(&f, ST_TYPE_CONFLICTS), 2);
	fixture_close(&f);
}

static void test_cardinality(void **unused)
{
	struct fixture f;
	fixture_conf(&f);
	f.conf.max_series = 3;
	f.conf.max_label_value_len = 8;
	f.conf.max_labels = 2;
	fixture_init(&f);
	feed(&f, "a:1|c\nb:1|c\nc:1|c\nd:1|c\ne:1|c\na:1|c");
	feed(&f, "f:1|c|#k:123456789\nf:1|c|#a:1,b:2,c:3");
	pt_collect_ok(&statsd_ops, f.s, 1000);
	assert_value("a_total", "", 2);
	assert_absent("d_total", "");
	assert_int_equal(fakehost_count("statsd_listener_up"), 1);
	assert_int_equal(counter(&f, ST_DROPPED_SERIES), 2);
	assert_int_equal(counter(&f, ST_DROPPED_LABELS), 2);
	/* a known series still counts */
	feed(&f, "a:5|c\nd:1|c");
	pt_collect_ok(&statsd_ops, f.s, 2000);
	assert_value("a_total", "", 7);
	assert_int_equal(counter(&f, ST_DROPPED_SERIES), 3);
	fixture_close(&f);
}

static void test_idle_forget(void **unused)
{
	struct fixture f;
	fixture_conf(&f);
	f.conf.idle_flushes = 2;
	f.conf.max_series = 1;
	fixture_init(&f);
	feed(&f, "old:4|c");
	pt_collect_ok(&statsd_ops, f.s, 1000);
	pt_collect_ok(&statsd_ops, f.s, 2000);
	assert_value("old_total", "", 4);
	size_t before = fakehost_n_samples();
	pt_collect_ok(&statsd_ops, f.s, 3000);
	assert_int_equal(pt_count_labels(before, ""), 0); /* old_total no more */
	assert_int_equal(counter(&f, ST_FORGOTTEN), 1);
	feed(&f, "new:1|c"); /* the slot is free again */
	pt_collect_ok(&statsd_ops, f.s, 4000);
	assert_value("new_total", "", 1);
	assert_int_equal(counter(&f, ST_DROPPED_SERIES), 0);
	fixture_close(&f);
}

static void test_bad_lines(void **unused)
{
	struct fixture f;
	fixture_conf(&f);
	f.conf.max_line_len = 64;
	fixture_init(&f);
	char huge[200];
	memset(huge, 'x', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	feed(&f, "ok:1|c\n\n\r\ngarbage\nfoo:1|zz\nbar:x|c\nneg:-1|c\n_e{1,1}:a|b\nu\xff:1|c");
	feed(&f, huge);
	assert_int_equal(counter(&f, ST_LINES), 8);
	assert_int_equal(counter(&f, ST_BAD), 6);
	assert_int_equal(counter(&f, stat_of_result(STATSD_ERR_SYNTAX)), 1);
	assert_int_equal(counter(&f, stat_of_result(STATSD_ERR_TYPE)), 1);
	assert_int_equal(counter(&f, stat_of_result(STATSD_ERR_VALUE)), 1);
	assert_int_equal(counter(&f, stat_of_result(STATSD_ERR_NEGATIVE)), 1);
	assert_int_equal(counter(&f, stat_of_result(STATSD_ERR_UTF8)), 1);
	assert_int_equal(counter(&f, stat_of_result(STATSD_ERR_TOO_LONG)), 1);
	assert_int_equal(counter(&f, ST_UNSUPPORTED), 1);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN),
			       "bearmon_statsd_bad_lines_too_long_total counts them all"));
	/* the same reason again is counted, not logged */
	feed(&f, "oops");
	assert_int_equal(counter(&f, stat_of_result(STATSD_ERR_SYNTAX)), 2);
	assert_null(strstr(fakehost_last_log(BM_LOG_WARN), "oops"));
	pt_collect_ok(&statsd_ops, f.s, 1000);
	assert_value("ok_total", "", 1);
	fixture_close(&f);
}

static void test_bad_config(void **unused)
{
	struct fixture f;
	fixture_conf(&f);
	pt_set_str(&f.conf.udp_listen, "");
	pt_init_err(&statsd_ops, &f.conf, BM_EINVAL, "both off", NULL);
	pt_set_str(&f.conf.udp_listen, "localhost");
	pt_init_err(&statsd_ops, &f.conf, BM_EINVAL, "udp_listen", "want host:port", NULL);
	pt_set_str(&f.conf.udp_listen, "127.0.0.1:99999");
	pt_init_err(&statsd_ops, &f.conf, BM_EINVAL, "bad port", NULL);
	pt_set_str(&f.conf.udp_listen, "127.0.0.1:1");
	pt_set_str(&f.conf.tcp_listen, "[::1:8125");
	pt_init_err(&statsd_ops, &f.conf, BM_EINVAL, "tcp_listen", NULL);
	pt_conf_release(statsd_options, &f.conf);
	fakehost_reset();
}

/* --- real sockets ------------------------------------------------------ */

/* Wait (10 s at most: a bound for a broken build, not a speed check)
 * until counter st reaches want. */
static void wait_stat(const struct fixture *f, enum statsd_stat st, uint64_t want)
{
	for (int i = 0; i < 1000 && counter(f, st) < want; i++)
		poll(NULL, 0, 10);
	if (counter(f, st) != want)
		fail_msg("stat %d is %llu, want %llu", st, (unsigned long long)counter(f, st),
			 (unsigned long long)want);
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void send_all(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

static void udp_send(uint16_t port, const char *s, size_t n)
{
	struct sockaddr_in a = loopback(port);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(sendto(fd, s, n, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)n);
	close(fd);
}

static void fixture_start(struct fixture *f)
{
	struct bm_err err = {0};
	assert_int_equal(statsd_start(f->s, &err), 0);
	f->started = true;
}

static void test_live_udp_tcp(void **unused)
{
	struct fixture f;
	fixture_conf(&f);
	pt_set_str(&f.conf.tcp_listen, "127.0.0.1:0");
	f.conf.max_line_len = 100;
	fixture_init(&f);
	fixture_start(&f);
	uint16_t up = listener_port(f.s->ls[0]), tp = listener_port(f.s->ls[1]);
	assert_true(up && tp);
	udp_send(up, "u:1|c\nu:2|c|#via:udp\n", 21);
	udp_send(up, "", 0); /* an empty datagram */
	int a = tcp_connect(tp), b = tcp_connect(tp), c = tcp_connect(tp), quiet = tcp_connect(tp);
	send_all(a, "t:1|c\nt:2");
	send_all(b, "t:4|c"); /* then leaves without the newline */
	close(b);
	char big[300];
	memset(big, 'z', sizeof(big));
	for (int i = 0; i < 3; i++) /* 900 bytes in one line, in pieces */
		assert_int_equal(send(c, big, sizeof(big), MSG_NOSIGNAL), (ssize_t)sizeof(big));
	send_all(c, "\nt:8|c\n");
	send_all(a, "|c\n");
	wait_stat(&f, ST_LINES, 2 + 2 + 1 + 2);
	wait_stat(&f, ST_EMPTY_DATAGRAMS, 1);
	wait_stat(&f, ST_TCP_CONNECTIONS, 4);
	pt_collect_ok(&statsd_ops, f.s, 1000);
	assert_value("u_total", "", 1);
	assert_value("u_total", "via=udp", 2);
	assert_value("t_total", "", 1 + 2 + 8);
	assert_value("statsd_listener_up", "listener=127.0.0.1:0,protocol=udp", 1);
	assert_value("statsd_listener_up", "listener=127.0.0.1:0,protocol=tcp", 1);
	assert_int_equal(counter(&f, stat_of_result(STATSD_ERR_INCOMPLETE)), 1);
	assert_int_equal(counter(&f, stat_of_result(STATSD_ERR_TOO_LONG)), 1);
	assert_int_equal(counter(&f, ST_DATAGRAMS), 2);
	close(a);
	close(c);
	close(quiet);
	fixture_close(&f);
}

static void test_live_tcp_limits(void **unused)
{
	struct fixture f;
	fixture_conf(&f);
	pt_set_str(&f.conf.udp_listen, "");
	pt_set_str(&f.conf.tcp_listen, "127.0.0.1:0");
	f.conf.tcp_max_clients = 50;
	f.conf.tcp_idle_timeout_ms = 1000;
	fixture_init(&f);
	fixture_start(&f);
	uint16_t tp = listener_port(f.s->ls[0]);
	int fds[60];
	for (int i = 0; i < 60; i++)
		fds[i] = tcp_connect(tp);
	wait_stat(&f, ST_TCP_CONNECTIONS, 50);
	wait_stat(&f, ST_TCP_REJECTED, 10);
	/* the silent ones are closed after tcp_idle_timeout */
	wait_stat(&f, ST_TCP_IDLE_CLOSED, 50);
	char ch;
	assert_int_equal(recv(fds[0], &ch, 1, 0), 0);
	int late = tcp_connect(tp);
	send_all(late, "after:1|c\n");
	wait_stat(&f, ST_LINES, 1);
	close(late);
	for (int i = 0; i < 60; i++)
		close(fds[i]);
	fixture_close(&f);
}

static void test_live_bind_retry(void **unused)
{
	struct fixture f;
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int blocker = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(bind(blocker, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(blocker, (struct sockaddr *)&a, &len), 0);
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(a.sin_port));
	fixture_conf(&f);
	pt_set_str(&f.conf.udp_listen, addr);
	fixture_init(&f);
	f.s->ls[0]->conf.retry_ms = 50;
	fixture_start(&f); /* a busy port does not fail the instance */
	assert_non_null(strstr(fakehost_last_log(BM_LOG_ERR), "cannot listen"));
	pt_collect_ok(&statsd_ops, f.s, 1000);
	char labels[64];
	snprintf(labels, sizeof(labels), "listener=%s,protocol=udp", addr);
	assert_value("statsd_listener_up", labels, 0);
	close(blocker);
	for (int i = 0; i < 1000 && !listener_is_up(f.s->ls[0]); i++)
		poll(NULL, 0, 10);
	pt_collect_ok(&statsd_ops, f.s, 2000);
	assert_value("statsd_listener_up", labels, 1);
	udp_send(ntohs(a.sin_port), "back:1|c", 8);
	wait_stat(&f, ST_LINES, 1);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_types),     cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_multi),     cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_parse_bad),       cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_series_names),    cmocka_unit_test(test_series_tags),
		cmocka_unit_test(test_sketch_accuracy), cmocka_unit_test(test_sketch_merge),
		cmocka_unit_test(test_sketch_edges),    cmocka_unit_test(test_flush_counters),
		cmocka_unit_test(test_flush_gauges_sets), cmocka_unit_test(test_flush_timers),
		cmocka_unit_test(test_type_conflicts),  cmocka_unit_test(test_cardinality),
		cmocka_unit_test(test_idle_forget),     cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_bad_config),      cmocka_unit_test(test_live_udp_tcp),
		cmocka_unit_test(test_live_tcp_limits), cmocka_unit_test(test_live_bind_retry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
