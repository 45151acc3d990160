/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/textfile and of the exposition parser
 * (common/expfmt.c) against the fake host and tests/fixtures/textfile/:
 * good files, a broken file among good ones, a TYPE conflict between
 * files, a missing and an empty directory, oversize and non-regular files.
 */
#include <sys/stat.h>

#include "plugintest.h"
#include "textfile.c"

struct fixture {
	struct textfile_conf conf;
	void *state;
	char dir[PATH_MAX];
};

static void fixture_open_dir(struct fixture *f, const char *dir)
{
	pt_fixture_begin(f, textfile_options);
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	pt_set_str(&f->conf.directory, dir);
	f->state = pt_init(&textfile_ops, &f->conf);
}

static void fixture_open(struct fixture *f, const char *sub)
{
	char dir[PATH_MAX];
	pt_fixture_path(dir, sizeof(dir), "textfile", sub);
	fixture_open_dir(f, dir);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&textfile_ops, textfile_options, f->state, &f->conf);
}

static const struct fh_sample *find(const char *name, const char *labels)
{
	for (size_t i = fakehost_n_samples(); i-- > 0;) {
		const struct fh_sample *s = fakehost_sample(i);
		if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
			return s;
	}
	return NULL;
}

static void test_good(void **unused)
{
	struct fixture f;
	char label[PATH_MAX + 16];
	fixture_open(&f, "good");
	pt_collect_ok(&textfile_ops, f.state, 1700000005000);

	assert_true(fakehost_value("app_requests_total", "code=200,method=get") == 1027);
	assert_true(fakehost_value("app_requests_total", "code=500,method=post") == 3);
	assert_int_equal(find("app_requests_total", "code=500,method=post")->ts_ms, 1700000000123);
	assert_int_equal(find("app_requests_total", "code=200,method=get")->ts_ms, 1700000005000);
	assert_true(fakehost_value("app_requests_total", "code=404,method=get") == 9);
	assert_true(fakehost_value("app_temperature_celsius", "room=a \"quoted\" \\ back\nslash") ==
		    -35);
	assert_true(isnan(find("app_ratio", "")->value));
	assert_true(isinf(fakehost_value("app_up", "")) && fakehost_value("app_up", "") > 0);
	assert_true(isinf(fakehost_value("app_down", "")) && fakehost_value("app_down", "") < 0);
	assert_true(fakehost_value("app_latency_seconds_bucket", "le=0.1") == 5);
	assert_true(fakehost_value("app_latency_seconds_bucket", "le=+Inf") == 7);
	assert_true(fakehost_value("app_latency_seconds_sum", "") == 1.25);
	assert_true(fakehost_value("app_latency_seconds_count", "") == 7);
	assert_true(fakehost_value("rpc_seconds", "quantile=0.5") == 0.01);
	assert_true(fakehost_value("rpc_seconds_count", "") == 300);
	assert_true(fakehost_value("untyped_thing", "a=b,c=d") == 42);
	assert_int_equal(fakehost_count("not_read_at_all"), 0);

	const struct fh_meta *m = fakehost_meta("app_requests_total");
	assert_non_null(m);
	assert_int_equal(m->type, BM_METRIC_COUNTER);
	assert_string_equal(m->help, "Requests served, by \"code\".\nSecond line with a backslash \\ here.");
	assert_int_equal(fakehost_meta("app_latency_seconds")->type, BM_METRIC_HISTOGRAM);
	assert_string_equal(fakehost_meta("app_latency_seconds")->help, "Latency.");
	assert_int_equal(fakehost_meta("rpc_seconds")->type, BM_METRIC_SUMMARY);
	assert_null(fakehost_meta("untyped_thing"));
	assert_int_equal(fakehost_meta("node_textfile_scrape_error")->type, BM_METRIC_GAUGE);

	assert_true(fakehost_value("node_textfile_scrape_error", "") == 0);
	assert_int_equal(fakehost_count("node_textfile_mtime_seconds"), 2);
	snprintf(label, sizeof(label), "file=%s/app.prom", f.dir);
	struct stat st;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/app.prom", f.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(fabs(fakehost_value("node_textfile_mtime_seconds", label) -
			 (double)st.st_mtime) < 1.0);
	assert_int_equal(fakehost_unsorted(), 0);

	/* a second round is the same (batch and buffers reused) */
	size_t n1 = fakehost_n_samples();
	pt_collect_ok(&textfile_ops, f.state, 1700000006000);
	assert_int_equal(fakehost_n_samples(), 2 * n1);
	fixture_close(&f);
}

static void test_broken_file_skipped_whole(void **unused)
{
	struct fixture f;
	fixture_open(&f, "bad");
	pt_collect_ok(&textfile_ops, f.state, 1700000000000);
	assert_true(fakehost_value("ok_metric", "") == 1);
	assert_true(fakehost_value("last_metric", "") == 7);
	assert_int_equal(fakehost_count("fine_before"), 0); /* the whole file goes */
	assert_int_equal(fakehost_count("after"), 0);
	assert_true(fakehost_value("node_textfile_scrape_error", "") == 1);
	assert_int_equal(fakehost_count("node_textfile_mtime_seconds"), 2);
	const char *log = fakehost_last_log(BM_LOG_WARN);
	assert_non_null(strstr(log, "b_broken.prom:2: "));
	assert_non_null(strstr(log, "file skipped"));
	fixture_close(&f);
}

static void test_type_conflict(void **unused)
{
	struct fixture f;
	fixture_open(&f, "conflict");
	pt_collect_ok(&textfile_ops, f.state, 1700000000000);
	assert_true(fakehost_value("shared", "") == 1);
	assert_int_equal(fakehost_count("shared"), 1);
	assert_int_equal(fakehost_count("other"), 0);
	assert_int_equal(fakehost_meta("shared")->type, BM_METRIC_GAUGE);
	assert_true(fakehost_value("node_textfile_scrape_error", "") == 1);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "b.prom:1: TYPE counter of shared disagrees"));
	fixture_close(&f);
}

static void test_missing_dir(void **unused)
{
	struct fixture f;
	fixture_open(&f, "does-not-exist");
	pt_collect_ok(&textfile_ops, f.state, 1700000000000);
	assert_int_equal(fakehost_n_samples(), 1);
	assert_true(fakehost_value("node_textfile_scrape_error", "") == 0);
	assert_string_equal(fakehost_last_log(BM_LOG_WARN), "");
	fixture_close(&f);
}

static void test_empty_dir(void **unused)
{
	struct fixture f;
	fixture_open(&f, "empty");
	pt_collect_ok(&textfile_ops, f.state, 1700000000000);
	assert_int_equal(fakehost_n_samples(), 1);
	assert_true(fakehost_value("node_textfile_scrape_error", "") == 0);
	fixture_close(&f);
}

/* Made at run time: an oversize file and a FIFO (which must not hang). */
static void test_oversize_and_fifo(void **unused)
{
	struct fixture f;
	char dir[64], path[PATH_MAX];
	pt_mkdtemp(dir, sizeof(dir), "bm-textfile-");
	snprintf(path, sizeof(path), "%s/big.prom", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fprintf(fp, "big_metric{i=\"%d\"} %d\n", i, i);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/fifo.prom", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	pt_write_file(dir, "small.prom", "small_metric 2\n");

	fixture_open_dir(&f, dir);
	f.conf.max_file_size = 1024;
	pt_collect_ok(&textfile_ops, f.state, 1700000000000);
	assert_int_equal(fakehost_count("big_metric"), 0);
	assert_true(fakehost_value("small_metric", "") == 2);
	assert_true(fakehost_value("node_textfile_scrape_error", "") == 1);
	fixture_close(&f);
	pt_rm_tree(dir);
}

/* --- the parser on its own ---------------------------------------------- */

/* Parse text fully; 0 when good (items counted in *n), else the error line. */
static int parse_all(const char *text, size_t *n, struct expfmt_parser *ps)
{
	static struct expfmt_item it;
	size_t len = strlen(text);
	char *buf = malloc(len + 1);
	memcpy(buf, text, len + 1);
	expfmt_init(ps, buf, len);
	int rc;
	*n = 0;
	while ((rc = expfmt_next(ps, &it)) == 1)
		(*n)++;
	free(buf);
	return rc == 0 ? 0 : (int)ps->err_line;
}

static void test_parser_accepts(void **unused)
{
	struct expfmt_parser ps;
	size_t n;
	assert_int_equal(parse_all("", &n, &ps), 0);
	assert_int_equal(n, 0);
	assert_int_equal(parse_all("\n\n  \n# just a comment\n#\n", &n, &ps), 0);
	assert_int_equal(n, 0);
	assert_int_equal(parse_all("a 1", &n, &ps), 0); /* no final newline */
	assert_int_equal(n, 1);
	assert_int_equal(parse_all("a{} 1\nb{x=\"\"} 2 -5\nc:d_e 1e-3\n", &n, &ps), 0);
	assert_int_equal(n, 3);
	assert_int_equal(parse_all("# HELP x\n# HELP y \n# TYPE z GAUGE\n# TYPE w untyped \n", &n, &ps), 0);
	assert_int_equal(n, 4);
	assert_int_equal(parse_all("a{b=\"1\",} nan\nc{d=\"\xc3\xa9\"} -inf 0\n", &n, &ps), 0);
	assert_int_equal(n, 2);

	/* what the item holds */
	char text[] = "m{b=\"x\\\\y\",a=\"q\\\"\\n\"} 2.5 17\n# TYPE m counter\n# HELP m a\\nb\n";
	struct expfmt_item it;
	expfmt_init(&ps, text, strlen(text));
	assert_int_equal(expfmt_next(&ps, &it), 1);
	assert_int_equal(it.kind, EXPFMT_SAMPLE);
	assert_string_equal(it.name, "m");
	assert_int_equal(it.n_labels, 2);
	assert_string_equal(it.labels[0].name, "b");
	assert_string_equal(it.labels[0].value, "x\\y");
	assert_string_equal(it.labels[1].value, "q\"\n");
	assert_true(it.value == 2.5 && it.has_ts && it.ts_ms == 17);
	assert_int_equal(expfmt_next(&ps, &it), 1);
	assert_int_equal(it.kind, EXPFMT_TYPE);
	assert_int_equal(it.type, BM_METRIC_COUNTER);
	assert_int_equal(it.line, 2);
	assert_int_equal(expfmt_next(&ps, &it), 1);
	assert_int_equal(it.kind, EXPFMT_HELP);
	assert_string_equal(it.help, "a\nb");
	assert_int_equal(expfmt_next(&ps, &it), 0);
	assert_int_equal(expfmt_next(&ps, &it), 0);

	assert_int_equal(expfmt_family_len("h_bucket", BM_METRIC_HISTOGRAM), 1);
	assert_int_equal(expfmt_family_len("h_count", BM_METRIC_SUMMARY), 1);
	assert_int_equal(expfmt_family_len("h_bucket", BM_METRIC_SUMMARY), 8);
	assert_int_equal(expfmt_family_len("h_sum", BM_METRIC_GAUGE), 5);
	assert_true(expfmt_valid_metric_name("a:b_1"));
	assert_false(expfmt_valid_metric_name("1a"));
	assert_false(expfmt_valid_label_name("a:b"));
}

static void test_parser_rejects(void **unused)
{
	static const struct {
		const char *text;
		int line;
		const char *why;
	} bad[] = {
		{"a\n", 1, "missing value"},
		{"a 1\nb\n", 2, "missing value"},
		{"a x\n", 1, "invalid value"},
		{"a 1 2 3\n", 1, "unexpected text"},
		{"a 1 1.5\n", 1, "invalid timestamp"},
		{"a{b=\"c\" 1\n", 1, "expected ','"},
		{"a{b=c} 1\n", 1, "expected '\"'"},
		{"a{b=\"c\n\"} 1\n", 1, "unescaped newline"},
		{"a{b=\"\\x\"} 1\n", 1, "invalid escape"},
		{"a{b=\"1\",b=\"2\"} 1\n", 1, "duplicate label b"},
		{"a{__name__=\"x\"} 1\n", 1, "reserved"},
		{"a{1b=\"x\"} 1\n", 1, "invalid label name"},
		{"a{b=\"\xff\"} 1\n", 1, "not valid UTF-8"},
		{"a{b=\"unterminated} 1", 1, "unterminated"},
		{"1a 1\n", 1, "invalid metric name"},
		{"a-b 1\n", 1, "invalid character"},
		{"# TYPE a nosuch\n", 1, "unknown metric type"},
		{"# TYPE a\n", 1, "unknown metric type"},
		{"# TYPE 9a counter\n", 1, "invalid metric name in TYPE"},
		{"# HELP a b\\q\n", 1, "invalid escape"},
		{"a 1\r\n", 1, "invalid value"},
		{"ok 1\n\nb\0c 1\n", 3, "NUL byte"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct expfmt_parser ps;
		size_t n;
		size_t len = strlen(bad[i].text);
		if (strstr(bad[i].why, "NUL")) { /* has a NUL inside: "ok 1\n\nb\0c 1\n" */
			char buf[] = "ok 1\n\nb\0c 1\n";
			struct expfmt_item it;
			expfmt_init(&ps, buf, sizeof(buf) - 1);
			assert_int_equal(expfmt_next(&ps, &it), 1);
			assert_int_equal(expfmt_next(&ps, &it), BM_EPROTO);
			assert_int_equal(ps.err_line, 3);
			assert_non_null(strstr(ps.err, "NUL byte"));
			continue;
		}
		(void)len;
		int line = parse_all(bad[i].text, &n, &ps);
		if (line != bad[i].line || !strstr(ps.err, bad[i].why))
			fail_msg("case %zu \"%s\": line %d, error \"%s\"; want line %d, \"%s\"", i,
				 bad[i].text, line, ps.err, bad[i].line, bad[i].why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_broken_file_skipped_whole),
		cmocka_unit_test(test_type_conflict),
		cmocka_unit_test(test_missing_dir),
		cmocka_unit_test(test_empty_dir),
		cmocka_unit_test(test_oversize_and_fifo),
		cmocka_unit_test(test_parser_accepts),
		cmocka_unit_test(test_parser_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
