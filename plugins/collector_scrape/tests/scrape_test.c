/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/scrape against the fake host: configs written
 * as users write them (through the core's config loader), targets built
 * from static and file_sd groups with relabelling, and scrape bodies fed
 * to the ingest step: values, types, target labels, the report series,
 * staleness, the limits, metric relabelling and bad bodies. HTTP itself
 * is covered by tests/integration/scrape.sh.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_schema.h"
#include "plugintest.h"
#include "scrape.c"

#define T0 1764000000000LL /* a scrape time, ms */

struct fx {
	struct scrape_conf conf;
	struct scrape *s;
	char dir[64]; /* scratch directory, "" when none */
};

/* The instance block's body as in a config file, filled by the core. */
static void load(struct fx *f, const char *body)
{
	bm__host_api = fakehost_api();
	fakehost_reset();
	memset(f, 0, sizeof(*f));
	char path[] = "/tmp/scrape-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	fprintf(fp, "scr = {\n\tplugin = \"collector/scrape\";\n%s\n};\n", body);
	fclose(fp);
	struct cfg_errs errs = {0};
	struct cfg *cfg = cfg_load(path, NULL, 0, &errs);
	const struct cfg_instance *ci = cfg ? cfg_find_instance(cfg, "scr") : NULL;
	assert_non_null(ci);
	cfg_fill_instance(ci, scrape_options, &f->conf, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "config: %s\n", errs.lines[i]);
	assert_int_equal(cfg_errs_fatal(&errs), 0);
	cfg_errs_free(&errs);
	cfg_free(cfg);
	unlink(path);
}

/* load + init + the first target refresh, as the loop's first round. */
static void start(struct fx *f, const char *body)
{
	load(f, body);
	f->s = pt_init(&scrape_ops, &f->conf);
	for (size_t i = 0; i < f->s->n_jobs; i++)
		job_refresh(f->s, &f->s->jobs[i], 0);
}

static void finish(struct fx *f)
{
	if (f->dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
		assert_int_equal(system(cmd), 0);
	}
	pt_close(&scrape_ops, scrape_options, f->s, &f->conf);
}

static struct target *target(struct fx *f, size_t job, size_t i)
{
	assert_true(job < f->s->n_jobs);
	assert_true(i < f->s->jobs[job].n_targets);
	return f->s->jobs[job].targets[i];
}

/* One scrape of t that answered body at ts. */
static enum scrape_fail feed(struct fx *f, struct target *t, int64_t ts, const char *body, bool om)
{
	struct scrape_outcome o = {.ts_ms = ts, .duration_s = 0.25, .openmetrics = om};
	o.body = strdup(body);
	o.len = strlen(body);
	ingest_scrape(f->s, t, &o);
	free(o.body);
	return o.fail;
}

/* One scrape of t that failed before any body (timeout, refused). */
static void feed_failure(struct fx *f, struct target *t, int64_t ts, enum scrape_fail why)
{
	struct scrape_outcome o = {.fail = why, .ts_ms = ts, .duration_s = 0.5};
	snprintf(o.why, sizeof(o.why), "test failure");
	ingest_scrape(f->s, t, &o);
}

/* The latest sample of name{labels} is the stale marker at ts. */
static void assert_stale(const char *name, const char *labels, int64_t ts)
{
	for (size_t i = fakehost_n_samples(); i-- > 0;) {
		const struct fh_sample *s = fakehost_sample(i);
		if (strcmp(s->name, name) || strcmp(s->labels, labels))
			continue;
		if (!bm_is_stale_nan(s->value) || s->ts_ms != ts)
			fail_msg("%s{%s}: last sample %g at %lld, want the stale marker at %lld", name,
				 labels, s->value, (long long)s->ts_ms, (long long)ts);
		return;
	}
	fail_msg("%s{%s}: no sample", name, labels);
}

static size_t n_stale(void)
{
	size_t n = 0;
	for (size_t i = 0; i < fakehost_n_samples(); i++)
		n += bm_is_stale_nan(fakehost_sample(i)->value);
	return n;
}

#define STATIC_JOB(name, extra)                                                               \
	"jobs = ( { job_name = \"" name "\"; " extra                                         \
	" static_configs = ( { targets = [\"h1:9100\"]; labels = { env = \"dev\"; }; } ); } );"

#define LBL "env=dev,instance=h1:9100,job=app"

/* ---- instance and targets -------------------------------------------- */

static void test_empty_instance(void **st)
{
	(void)st;
	struct fx f;
	start(&f, "");
	assert_int_equal(f.conf.max_concurrent, 256);
	pt_collect_ok(&scrape_ops, f.s, T0);
	assert_value("bearmon_scrape_targets", "instance=test,plugin=scrape", 0);
	assert_value("bearmon_scrape_targets_up", "instance=test,plugin=scrape", 0);
	assert_int_equal(fakehost_meta("bearmon_scrape_targets")->type, BM_METRIC_GAUGE);
	finish(&f);
}

static void test_static_targets(void **st)
{
	(void)st;
	struct fx f;
	start(&f, "jobs = ( { job_name = \"node\"; scheme = \"https\"; metrics_path = \"/m\";\n"
		  "  params = { module = \"a b\"; };\n"
		  "  static_configs = ( { targets = [\"h1:9100\", \"h2:9100\", \"h1:9100\"];\n"
		  "                       labels = { env = \"prod\"; }; },\n"
		  "                     { targets = [\"h3:1\"]; } ); } );");
	struct job *j = &f.s->jobs[0];
	assert_int_equal(j->n_targets, 3); /* the repeated h1 counts once */
	struct target *t = target(&f, 0, 0);
	assert_string_equal(t->url, "https://h1:9100/m?module=a+b");
	assert_int_equal(t->n_labels, 3);
	assert_string_equal(t->labels[0].name, "env");
	assert_string_equal(t->labels[1].value, "h1:9100"); /* instance = address */
	assert_string_equal(t->labels[2].value, "node");
	assert_int_equal(t->interval_ms, 1000); /* the instance's (fake host) */
	assert_int_equal(t->timeout_ms, 1000);  /* min(10 s, interval) */
	assert_true(t->offset_ms >= 0 && t->offset_ms < 1000);
	assert_true(t->due_ms >= 0 && t->due_ms < 1000);
	assert_int_equal(target(&f, 0, 2)->n_labels, 2);
	pt_collect_ok(&scrape_ops, f.s, T0);
	assert_value("bearmon_scrape_targets", "instance=test,plugin=scrape", 3);
	finish(&f);
}

static void test_target_relabel(void **st)
{
	(void)st;
	struct fx f;
	/* the blackbox-exporter pattern, a keep, an interval from a label,
	 * and an address relabelling cannot make a URL of */
	start(&f, "jobs = ( { job_name = \"probe\"; metrics_path = \"/probe\";\n"
		  "  static_configs = ( { targets = [\"example.org\", \"skip.me\", \"bad/addr\"]; },\n"
		  "     { targets = [\"slow.org\"]; } );\n"
		  "  relabel_configs = (\n"
		  "    { source_labels = [\"__address__\"]; regex = \"slow.*\"; target_label = \"__scrape_interval__\";\n"
		  "      replacement = \"1m\"; },\n"
		  "    { source_labels = [\"__address__\"]; regex = \"skip.*\"; action = \"drop\"; },\n"
		  "    { source_labels = [\"__address__\"]; target_label = \"__param_target\"; },\n"
		  "    { source_labels = [\"__param_target\"]; target_label = \"instance\"; },\n"
		  "    { source_labels = [\"__address__\"]; regex = \"bad.*\"; target_label = \"__address__\";\n"
		  "      replacement = \"x/y\"; },\n"
		  "    { source_labels = [\"__address__\"]; regex = \"[a-z]+\\\\.org\"; target_label = \"__address__\";\n"
		  "      replacement = \"127.0.0.1:9115\"; } ); } );");
	struct job *j = &f.s->jobs[0];
	assert_int_equal(j->n_targets, 2);
	struct target *t = target(&f, 0, 0);
	assert_string_equal(t->url, "http://127.0.0.1:9115/probe?target=example.org");
	assert_string_equal(t->instance, "example.org");
	assert_int_equal(t->interval_ms, 1000);
	t = target(&f, 0, 1);
	assert_string_equal(t->url, "http://127.0.0.1:9115/probe?target=slow.org");
	assert_int_equal(t->interval_ms, 60000);
	assert_int_equal(f.s->stats.target_errors, 1);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "target bad/addr skipped"));
	finish(&f);
}

static void test_durations(void **st)
{
	(void)st;
	assert_int_equal(prom_duration_ms("15s"), 15000);
	assert_int_equal(prom_duration_ms("1m30s"), 90000);
	assert_int_equal(prom_duration_ms("1h1ms"), 3600001);
	assert_int_equal(prom_duration_ms("500ms"), 500);
	assert_int_equal(prom_duration_ms("1w"), 7 * 86400000LL);
	assert_int_equal(prom_duration_ms("0"), 0);
	assert_int_equal(prom_duration_ms("30s1m"), -1); /* units largest first */
	assert_int_equal(prom_duration_ms("1.5s"), -1);
	assert_int_equal(prom_duration_ms("s"), -1);
	assert_int_equal(prom_duration_ms(""), -1);
	char buf[32];
	prom_duration_text(90000, buf, sizeof(buf));
	assert_string_equal(buf, "1m30s");
	prom_duration_text(1500, buf, sizeof(buf));
	assert_string_equal(buf, "1s500ms");
	prom_duration_text(0, buf, sizeof(buf));
	assert_string_equal(buf, "0s");
}

/* ---- ingest ---------------------------------------------------------- */

static const char *const body1 =
	"# HELP http_requests_total Requests.\n"
	"# TYPE http_requests_total counter\n"
	"http_requests_total{code=\"200\"} 1027\n"
	"http_requests_total{code=\"500\"} 3\n"
	"# TYPE temp_celsius gauge\n"
	"temp_celsius 21.5\n"
	"# TYPE lat_seconds histogram\n"
	"lat_seconds_bucket{le=\"+Inf\"} 7\n"
	"lat_seconds_sum 1.5\n"
	"lat_seconds_count 7\n"
	"clash{job=\"exposed\",instance=\"\",env=\"x\"} 1\n";

static void test_ingest(void **st)
{
	(void)st;
	struct fx f;
	start(&f, STATIC_JOB("app", ""));
	struct target *t = target(&f, 0, 0);
	assert_int_equal(feed(&f, t, T0, body1, false), SCRAPE_OK);
	assert_value("http_requests_total", "code=200," LBL, 1027);
	assert_value("http_requests_total", "code=500," LBL, 3);
	assert_value("temp_celsius", LBL, 21.5);
	assert_value("lat_seconds_bucket", LBL ",le=+Inf", 7);
	assert_int_equal(fakehost_meta("http_requests_total")->type, BM_METRIC_COUNTER);
	assert_string_equal(fakehost_meta("http_requests_total")->help, "Requests.");
	assert_int_equal(fakehost_meta("lat_seconds")->type, BM_METRIC_HISTOGRAM);
	/* the target's labels win; the scraped ones move to exported_*, an
	 * empty one is no label */
	assert_value("clash", "env=dev,exported_env=x,exported_job=exposed,instance=h1:9100,job=app", 1);
	assert_value("up", LBL, 1);
	assert_value("scrape_duration_seconds", LBL, 0.25);
	assert_value("scrape_samples_scraped", LBL, 7);
	assert_value("scrape_samples_post_metric_relabeling", LBL, 7);
	assert_value("scrape_series_added", LBL, 7);
	assert_string_equal(fakehost_meta("scrape_duration_seconds")->unit, "seconds");
	for (size_t i = 0; i < fakehost_n_samples(); i++)
		assert_int_equal(fakehost_sample(i)->ts_ms, T0);
	assert_int_equal(fakehost_unsorted(), 0);
	/* the second scrape adds no series and sends no metadata again */
	assert_int_equal(feed(&f, t, T0 + 1000, body1, false), SCRAPE_OK);
	assert_value("scrape_series_added", LBL, 0);
	assert_int_equal(f.s->ig.batch.n_meta, 0);
	assert_int_equal(n_stale(), 0);
	/* a changed HELP travels again, alone */
	assert_int_equal(feed(&f, t, T0 + 2000, "# HELP temp_celsius Now with help.\ntemp_celsius 1\n",
			      false),
			 SCRAPE_OK);
	assert_int_equal(f.s->ig.batch.n_meta, 1);
	assert_int_equal(f.s->stats.scrapes, 3);
	assert_int_equal(f.s->stats.failures, 0);
	finish(&f);
}

static void test_honor(void **st)
{
	(void)st;
	struct fx f;
	start(&f, STATIC_JOB("app", "honor_labels = true; honor_timestamps = false;"));
	struct target *t = target(&f, 0, 0);
	assert_int_equal(feed(&f, t, T0, "m{job=\"mine\"} 1 1000\nn 2 2000\n", false), SCRAPE_OK);
	assert_value("m", "env=dev,instance=h1:9100,job=mine", 1);
	for (size_t i = 0; i < fakehost_n_samples(); i++)
		assert_int_equal(fakehost_sample(i)->ts_ms, T0);
	finish(&f);

	start(&f, STATIC_JOB("app", ""));
	t = target(&f, 0, 0);
	assert_int_equal(feed(&f, t, T0, "n 2 1700000000000\n", false), SCRAPE_OK);
	assert_int_equal(fakehost_sample(0)->ts_ms, 1700000000000LL);
	/* a series with its own timestamps is left out of staleness */
	assert_int_equal(feed(&f, t, T0 + 1000, "", false), SCRAPE_OK);
	assert_int_equal(n_stale(), 0);
	finish(&f);
}

static void test_staleness(void **st)
{
	(void)st;
	struct fx f;
	start(&f, STATIC_JOB("app", ""));
	struct target *t = target(&f, 0, 0);
	feed(&f, t, T0, "a 1\nb 2\n", false);
	fakehost_reset();
	/* b vanished: its marker at the time of the scrape that noticed */
	feed(&f, t, T0 + 1000, "a 1\n", false);
	assert_stale("b", LBL, T0 + 1000);
	assert_value("a", LBL, 1);
	assert_int_equal(n_stale(), 1);
	assert_int_equal(f.s->stats.stale_markers, 1);
	/* the target goes down: up 0, every scraped series ends */
	fakehost_reset();
	feed_failure(&f, t, T0 + 2000, SCRAPE_TIMEOUT);
	assert_value("up", LBL, 0);
	assert_value("scrape_samples_scraped", LBL, 0);
	assert_stale("a", LBL, T0 + 2000);
	assert_int_equal(n_stale(), 1);
	assert_int_equal(f.s->stats.timeouts, 1);
	/* back: the series return and count as added */
	fakehost_reset();
	feed(&f, t, T0 + 3000, "a 5\nb 6\n", false);
	assert_value("up", LBL, 1);
	assert_value("scrape_series_added", LBL, 2);
	assert_value("b", LBL, 6);
	/* the target leaves (file_sd, reload, stop): everything ends */
	fakehost_reset();
	ingest_retire(f.s, t, T0 + 3500);
	assert_stale("a", LBL, T0 + 3500);
	assert_stale("up", LBL, T0 + 3500);
	assert_stale("scrape_series_added", LBL, T0 + 3500);
	assert_int_equal(n_stale(), 7);
	fakehost_reset();
	ingest_retire(f.s, t, T0 + 4000);
	assert_int_equal(fakehost_n_samples(), 0);
	finish(&f);
}

static void test_bad_bodies(void **st)
{
	(void)st;
	struct fx f;
	start(&f, STATIC_JOB("app", ""));
	struct target *t = target(&f, 0, 0);
	feed(&f, t, T0, "good 1\n", false);
	fakehost_reset();
	assert_int_equal(feed(&f, t, T0 + 1000, "ok 1\n<html>garbage{\n", false), SCRAPE_PARSE);
	assert_value("up", LBL, 0);
	assert_absent("ok", LBL); /* nothing of a failed scrape */
	assert_stale("good", LBL, T0 + 1000);
	assert_value("scrape_samples_scraped", LBL, 1);
	assert_int_equal(f.s->stats.parse_errors, 1);
	fakehost_reset();
	assert_int_equal(feed(&f, t, T0 + 2000, "bin\x01\xff 1\n", false), SCRAPE_PARSE);
	assert_int_equal(feed(&f, t, T0 + 3000, "", false), SCRAPE_OK); /* empty is fine */
	assert_value("up", LBL, 1);
	/* a series twice: the first stays, the repeat is counted */
	fakehost_reset();
	assert_int_equal(feed(&f, t, T0 + 4000, "d 1\nd 2\ne 3\n", false), SCRAPE_OK);
	assert_value("d", LBL, 1);
	assert_int_equal(fakehost_count("d"), 1);
	assert_int_equal(f.s->stats.duplicates, 1);
	assert_int_equal(f.s->stats.failures, 2);
	finish(&f);
}

static void test_openmetrics(void **st)
{
	(void)st;
	struct fx f;
	start(&f, STATIC_JOB("app", ""));
	struct target *t = target(&f, 0, 0);
	const char *om = "# TYPE tok counter\n# UNIT tok tokens\n# HELP tok Tokens.\n"
			 "tok_total{m=\"a\"} 17 # {trace_id=\"x\"} 1 1700000000.5\n"
			 "tok_created{m=\"a\"} 1700000000\n"
			 "# TYPE build info\nbuild_info{v=\"1\"} 1\n"
			 "# TYPE q gaugehistogram\nq_bucket{le=\"+Inf\"} 2\nq_gcount 2\nq_gsum 1\n"
			 "# TYPE s stateset\ns{s=\"on\"} 1\n# EOF\n";
	assert_int_equal(feed(&f, t, T0, om, true), SCRAPE_OK);
	assert_value("tok_total", LBL ",m=a", 17);
	assert_value("tok_created", LBL ",m=a", 1700000000);
	assert_value("build_info", LBL ",v=1", 1);
	assert_value("q_gcount", LBL, 2);
	assert_int_equal(fakehost_meta("tok")->type, BM_METRIC_COUNTER);
	assert_string_equal(fakehost_meta("tok")->unit, "tokens");
	assert_int_equal(fakehost_meta("build")->type, BM_METRIC_GAUGE);
	/* the same text as 0.0.4 fails: exemplars and info are OpenMetrics */
	assert_int_equal(feed(&f, t, T0 + 1000, om, false), SCRAPE_PARSE);
	finish(&f);
}

static void test_metric_relabel(void **st)
{
	(void)st;
	struct fx f;
	start(&f, STATIC_JOB("app", "metric_relabel_configs = (\n"
				    " { source_labels = [\"__name__\"]; regex = \"go_.*\"; action = \"drop\"; },\n"
				    " { source_labels = [\"__name__\"]; regex = \"old_(.*)\"; target_label = \"__name__\"; replacement = \"new_$1\"; },\n"
				    " { regex = \"secret\"; action = \"labeldrop\"; },\n"
				    " { source_labels = [\"__name__\"]; regex = \"bad\"; target_label = \"__name__\"; replacement = \"1bad\"; } );"));
	struct target *t = target(&f, 0, 0);
	assert_int_equal(feed(&f, t, T0, "go_threads 5\nold_x{secret=\"s\",k=\"v\"} 1\nbad 1\nkeep 2\n",
			      false),
			 SCRAPE_OK);
	assert_int_equal(fakehost_count("go_threads"), 0);
	assert_value("new_x", LBL ",k=v", 1);
	assert_int_equal(fakehost_count("bad") + fakehost_count("1bad"), 0); /* invalid name */
	assert_value("keep", LBL, 2);
	assert_value("scrape_samples_scraped", LBL, 4);
	assert_value("scrape_samples_post_metric_relabeling", LBL, 2);
	finish(&f);
}

static void test_limits(void **st)
{
	(void)st;
	struct fx f;
	start(&f, STATIC_JOB("app", "sample_limit = 3;"));
	struct target *t = target(&f, 0, 0);
	assert_int_equal(feed(&f, t, T0, "a 1\nb 1\nc 1\n", false), SCRAPE_OK);
	fakehost_reset();
	assert_int_equal(feed(&f, t, T0 + 1000, "a 1\nb 1\nc 1\nd 1\n", false), SCRAPE_SAMPLE_LIMIT);
	assert_value("up", LBL, 0);
	assert_stale("a", LBL, T0 + 1000);
	assert_int_equal(f.s->stats.sample_limit, 1);
	finish(&f);

	start(&f, STATIC_JOB("app", "series_limit = 2; label_value_length_limit = 8; label_limit = 5;"));
	t = target(&f, 0, 0);
	/* 3 target labels + 2 scraped = 5 labels: fits; 6 does not */
	assert_int_equal(feed(&f, t, T0,
			      "s{i=\"1\"} 1\ns{i=\"2\"} 1\ns{i=\"3\"} 1\nlong{v=\"123456789\"} 1\n"
			      "many{a=\"1\",b=\"2\",c=\"3\"} 1\n",
			      false),
			 SCRAPE_OK);
	assert_value("s", "env=dev,i=1,instance=h1:9100,job=app", 1);
	assert_value("s", "env=dev,i=2,instance=h1:9100,job=app", 1);
	assert_absent("s", "env=dev,i=3,instance=h1:9100,job=app");
	assert_int_equal(fakehost_count("long") + fakehost_count("many"), 0);
	assert_value("up", LBL, 1);
	assert_int_equal(f.s->stats.dropped_series, 1);
	assert_int_equal(f.s->stats.dropped_labels, 2);
	/* a vanished series frees its slot for a new one */
	fakehost_reset();
	feed(&f, t, T0 + 1000, "s{i=\"1\"} 1\n", false);
	fakehost_reset();
	feed(&f, t, T0 + 2000, "s{i=\"1\"} 1\ns{i=\"3\"} 1\n", false);
	assert_value("s", "env=dev,i=3,instance=h1:9100,job=app", 1);
	finish(&f);
}

static void test_too_many_labels(void **st)
{
	(void)st;
	struct fx f;
	start(&f, STATIC_JOB("app", ""));
	struct target *t = target(&f, 0, 0);
	char body[2048] = "wide{";
	for (int i = 0; i < 31; i++) /* 31 + 3 target labels: more than a batch carries */
		snprintf(body + strlen(body), sizeof(body) - strlen(body), "l%d=\"v\",", i);
	strcat(body, "} 1\nnarrow 1\n");
	assert_int_equal(feed(&f, t, T0, body, false), SCRAPE_OK);
	assert_int_equal(fakehost_count("wide"), 0);
	assert_value("narrow", LBL, 1);
	assert_int_equal(f.s->stats.dropped_labels, 1);
	finish(&f);
}

/* ---- file_sd and credentials ----------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256], tmp[264];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(rename(tmp, path), 0);
}

static void test_file_sd(void **st)
{
	(void)st;
	struct fx f;
	char dir[] = "/tmp/scrape-sd-XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_file(dir, "t.json", "[{\"targets\": [\"a:1\", \"b:1\"], \"labels\": {\"team\": \"x\"}}]");
	char body[512];
	snprintf(body, sizeof(body),
		 "jobs = ( { job_name = \"sd\"; file_sd = [\"%s/*.json\"];\n"
		 "  relabel_configs = ( { source_labels = [\"__meta_filepath\"]; regex = \".*/(.*)\";\n"
		 "                        target_label = \"file\"; } ); } );",
		 dir);
	start(&f, body);
	snprintf(f.dir, sizeof(f.dir), "%s", dir);
	struct job *j = &f.s->jobs[0];
	assert_int_equal(j->n_targets, 2);
	struct target *b = target(&f, 0, 1);
	assert_string_equal(b->url, "http://b:1/metrics");
	feed(&f, b, T0, "m 1\n", false);
	assert_value("m", "file=t.json,instance=b:1,job=sd,team=x", 1);
	assert_int_equal(f.s->stats.sd_reads, 1);
	/* b leaves the file: its series end; a keeps its state */
	struct target *a = target(&f, 0, 0);
	write_file(dir, "t.json", "[{\"targets\": [\"a:1\"], \"labels\": {\"team\": \"x\"}}]");
	fakehost_reset();
	job_refresh(f.s, j, 1000);
	assert_int_equal(j->n_targets, 1);
	assert_ptr_equal(target(&f, 0, 0), a);
	assert_true(isnan(fakehost_value("m", "file=t.json,instance=b:1,job=sd,team=x")));
	assert_int_equal(n_stale(), 6); /* m and the five report series */
	/* a broken rewrite keeps the targets */
	write_file(dir, "t.json", "[{");
	job_refresh(f.s, j, 2000);
	assert_int_equal(j->n_targets, 1);
	assert_int_equal(f.s->stats.sd_errors, 1);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "keeping its previous targets"));
	finish(&f);
}

static void test_credentials(void **st)
{
	(void)st;
	struct fx f;
	char dir[] = "/tmp/scrape-cred-XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_file(dir, "token", "tok-1\n");
	char body[512];
	snprintf(body, sizeof(body), STATIC_JOB("app", "bearer_token_file = \"%s/token\";"), dir);
	start(&f, body);
	snprintf(f.dir, sizeof(f.dir), "%s", dir);
	struct job *j = &f.s->jobs[0];
	assert_string_equal(j->bearer.value, "tok-1");
	uint64_t gen = j->cred_gen;
	job_refresh(f.s, j, 1000); /* unchanged */
	assert_int_equal(j->cred_gen, gen);
	write_file(dir, "token", "tok-2  \n");
	job_refresh(f.s, j, 2000);
	assert_string_equal(j->bearer.value, "tok-2");
	assert_int_equal(j->cred_gen, gen + 1);
	/* a vanished file keeps the last value, with one warning */
	char path[128];
	snprintf(path, sizeof(path), "%s/token", dir);
	unlink(path);
	job_refresh(f.s, j, 3000);
	assert_string_equal(j->bearer.value, "tok-2");
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "cannot read credential file"));
	finish(&f);
}

/* ---- configuration errors -------------------------------------------- */

static void expect_init_error(const char *body, const char *part)
{
	struct fx f;
	load(&f, body);
	pt_init_err(&scrape_ops, &f.conf, BM_EINVAL, part, NULL);
	pt_conf_release(scrape_options, &f.conf);
	fakehost_reset();
}

static void test_init_errors(void **st)
{
	(void)st;
	expect_init_error("jobs = ( { job_name = \"a\"; }, { job_name = \"a\"; } );",
			  "job_name \"a\" used twice");
	expect_init_error("jobs = ( { job_name = \"a\"; scrape_interval = \"5s\"; scrape_timeout = \"6s\"; } );",
			  "longer than scrape_interval");
	expect_init_error("jobs = ( { job_name = \"a\"; metrics_path = \"metrics\"; } );",
			  "metrics_path must start with /");
	expect_init_error("jobs = ( { job_name = \"a\"; relabel_configs = ( { regex = \"(\"; "
			  "target_label = \"x\"; } ); } );",
			  "job a: relabel_configs.0: bad regex");
	expect_init_error("jobs = ( { job_name = \"a\"; metric_relabel_configs = ( { action = \"hashmod\"; "
			  "target_label = \"x\"; } ); } );",
			  "metric_relabel_configs.0: action hashmod needs a modulus");
	expect_init_error("jobs = ( { job_name = \"a\"; bearer_token = \"t\"; basic_auth = { username = \"u\"; }; } );",
			  "exclusive");
	expect_init_error("jobs = ( { job_name = \"a\"; basic_auth = { password = \"p\"; }; } );",
			  "needs a username");
	expect_init_error("jobs = ( { job_name = \"a\"; bearer_token = \"t\\nX-Evil: 1\"; } );",
			  "a credential holds a line break");
	expect_init_error("jobs = ( { job_name = \"a\"; tls_config = { ca_file = \"/nonexistent/ca.pem\"; }; } );",
			  "cannot read /nonexistent/ca.pem");
	expect_init_error("jobs = ( { job_name = \"a\"; static_configs = ( { targets = [\"x:1\"]; "
			  "labels = { a-b = \"1\"; }; } ); } );",
			  "not a valid label name");
	expect_init_error("jobs = ( { job_name = \"\"; } );", "job_name must not be empty");
}

/* ---- the parser extension (common/expfmt.c) -------------------------- */

static void test_expfmt_openmetrics(void **st)
{
	(void)st;
	char text[] = "# TYPE a info\n# UNIT a bytes\na_info 1 # {x=\"y\"} 1\n# EOF\nafter 1\n";
	struct expfmt_parser ps;
	struct expfmt_item it;
	expfmt_init(&ps, text, strlen(text));
	ps.openmetrics = true;
	assert_int_equal(expfmt_next(&ps, &it), 1);
	assert_int_equal(it.kind, EXPFMT_TYPE);
	assert_int_equal(it.type, BM_METRIC_GAUGE);
	assert_int_equal(expfmt_next(&ps, &it), 1); /* # UNIT is a comment without ps.units */
	assert_int_equal(it.kind, EXPFMT_SAMPLE);
	assert_string_equal(it.name, "a_info");
	assert_int_equal(expfmt_next(&ps, &it), 0);

	char text2[] = "# UNIT a bytes\n# UNIT b\n# UNIT c  \nx 1 2.5 # {} 3\n";
	expfmt_init(&ps, text2, strlen(text2));
	ps.openmetrics = ps.units = true;
	assert_int_equal(expfmt_next(&ps, &it), 1);
	assert_int_equal(it.kind, EXPFMT_UNIT);
	assert_string_equal(it.unit, "bytes");
	assert_int_equal(expfmt_next(&ps, &it), 1);
	assert_string_equal(it.unit, "");
	assert_int_equal(expfmt_next(&ps, &it), 1);
	assert_string_equal(it.name, "c");
	assert_int_equal(expfmt_next(&ps, &it), 1);
	assert_int_equal(it.line, 4);
	assert_int_equal(it.ts_ms, 2500);
	assert_int_equal(expfmt_next(&ps, &it), 0);

	char text3[] = "# TYPE a info\n";
	expfmt_init(&ps, text3, strlen(text3)); /* text 0.0.4 has no info type */
	assert_int_equal(expfmt_next(&ps, &it), BM_EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_instance),	  cmocka_unit_test(test_static_targets),
		cmocka_unit_test(test_target_relabel),	  cmocka_unit_test(test_durations),
		cmocka_unit_test(test_ingest),		  cmocka_unit_test(test_honor),
		cmocka_unit_test(test_staleness),	  cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_openmetrics),	  cmocka_unit_test(test_metric_relabel),
		cmocka_unit_test(test_limits),		  cmocka_unit_test(test_too_many_labels),
		cmocka_unit_test(test_file_sd),		  cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_init_errors),	  cmocka_unit_test(test_expfmt_openmetrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
