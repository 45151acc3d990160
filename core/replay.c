/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl replay (see replay.h). The analyzer is loaded and its options
 * validated exactly as bearmond does (plugin_loader.c, config.c); a replay
 * host API table stands in for the daemon: it keeps the plugin's metric
 * subscriptions, feeds the CSV rows to them as metric events in input
 * order, reads back the anomaly events the plugin publishes, and runs the
 * plugin's timers in the input's time. The CSV reader is hand-written: the
 * format is two plain columns, and rows stream through a fixed buffer.
 */
#define _GNU_SOURCE
#include "replay.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bearmon/bm_event.h"
#include "bearmon/bm_host.h"
#include "bearmon/bm_plugin.h"
#include "config.h"
#include "config_schema.h"
#include "plugin_loader.h"

#define BATCH_MAX      1024             /* rows per metric event */
#define READ_CHUNK     (4u << 20)       /* input read size */
#define OUT_BUF        (1u << 20)       /* output buffer */
#define REPLAY_INSTANCE "replay"        /* instance name without --config */

enum { RP_OK = 0, RP_FAIL = 1, RP_USAGE = 2 };

/* --- command line ------------------------------------------------------- */

struct replay_opts {
	const char *analyzer; /* NAME or analyzer/NAME */
	const char *config;
	const char *input;
	const char *output;
	const char *series;
	const char *plugin_dir;
	char **sets; /* OPTION=VALUE of the instance */
	size_t n_sets;
	int verbose;
};

static void replay_usage(FILE *f)
{
	fprintf(f,
		"usage: bearmonctl replay --analyzer NAME [--config FILE] --input SERIES.csv\n"
		"                         --output SCORES.csv [--set OPTION=VALUE]...\n"
		"\n"
		"Feed a timestamp,value CSV through analyzer plugin NAME (the code bearmond\n"
		"runs, from the plugin dir) and write timestamp,value,anomaly_score: one row\n"
		"per input row, both columns copied verbatim. The option threshold is forced\n"
		"to 0 so that every scored sample reports its score; rows the plugin does not\n"
		"score (warm-up, NaN, a repeated timestamp) get 0.\n"
		"\n"
		"  -a, --analyzer NAME      plugin analyzer/NAME, e.g. anomaly_ewma\n"
		"  -c, --config FILE        libconfig file with one instance block of that\n"
		"                           plugin (its options apply; core options such as\n"
		"                           plugin_dirs too)\n"
		"  -i, --input FILE         CSV with a header naming timestamp and value\n"
		"                           (LF or CRLF); - for stdin\n"
		"  -o, --output FILE        result CSV; - for stdout\n"
		"  -s, --set OPTION=VALUE   override an option of the instance\n"
		"      --series NAME        metric name the samples carry (default value)\n"
		"      --plugin-dir DIR     look for the plugin in DIR\n"
		"  -v, --verbose            the plugin's log and self-metrics on stderr\n"
		"\n"
		"Timestamps: YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z] (UTC), YYYY-MM-DD, or\n"
		"epoch seconds (milliseconds when above 1e11).\n");
}

static int replay_usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("bearmonctl replay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(bearmonctl replay --help for usage)\n", stderr);
	return RP_USAGE;
}

static int parse_replay_args(int argc, char **argv, struct replay_opts *o)
{
	enum { OPT_SERIES = 256, OPT_PLUGIN_DIR };
	static const struct option longopts[] = {
	    {"analyzer", required_argument, NULL, 'a'}, {"config", required_argument, NULL, 'c'},
	    {"input", required_argument, NULL, 'i'},    {"output", required_argument, NULL, 'o'},
	    {"set", required_argument, NULL, 's'},      {"series", required_argument, NULL, OPT_SERIES},
	    {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
	    {"verbose", no_argument, NULL, 'v'},        {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int opt;
	optind = 1;
	o->series = "value";
	while ((opt = getopt_long(argc, argv, "a:c:i:o:s:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a': o->analyzer = optarg; break;
		case 'c': o->config = optarg; break;
		case 'i': o->input = optarg; break;
		case 'o': o->output = optarg; break;
		case 's': o->sets[o->n_sets++] = optarg; break;
		case OPT_SERIES: o->series = optarg; break;
		case OPT_PLUGIN_DIR: o->plugin_dir = optarg; break;
		case 'v': o->verbose++; break;
		case 'h': return -1;
		default: return replay_usage_error("invalid option");
		}
	}
	if (optind < argc)
		return replay_usage_error("unexpected argument \"%s\"", argv[optind]);
	if (!o->analyzer || !o->input || !o->output)
		return replay_usage_error("--analyzer, --input and --output are required");
	if (strncmp(o->analyzer, "analyzer/", 9) == 0)
		o->analyzer += 9;
	for (size_t i = 0; i < o->n_sets; i++)
		if (!strchr(o->sets[i], '=') || o->sets[i][0] == '=')
			return replay_usage_error("--set \"%s\": expected OPTION=VALUE", o->sets[i]);
	return RP_OK;
}

/* --- the replay host ------------------------------------------------------ */

struct replay_sub {
	bm_event_cb cb;
	void *user;
	bool metric; /* receives metric events */
	bool active;
};

struct bm_timer {
	bm_timer_cb cb;
	void *user;
	int64_t interval_ms;
	int64_t next_ms; /* 0 until the first row's time is known */
	bool active;
};

struct replay_metric {
	char *name;
	bool is_counter;
	const void *value;
};

/* Rows of the batch being fed; text points into the reader's buffer. */
struct replay_batch {
	size_t n;
	const char *ts_text[BATCH_MAX];
	size_t ts_len[BATCH_MAX];
	const char *val_text[BATCH_MAX];
	size_t val_len[BATCH_MAX];
	int64_t ts_ms[BATCH_MAX];
	double value[BATCH_MAX];
	double score[BATCH_MAX];
	struct bm_sample samples[BATCH_MAX];
	size_t match; /* next row an anomaly event may belong to */
};

struct replay_host {
	const struct replay_opts *opts;
	char prefix[256]; /* "[analyzer:NAME:INSTANCE]" */
	const char *instance;
	const char *data_dir;
	int64_t interval_ms;
	int64_t now_ms;
	struct replay_sub **subs;
	size_t n_subs;
	struct bm_timer **timers;
	size_t n_timers;
	struct replay_metric *metrics;
	size_t n_metrics;
	struct replay_batch *batch; /* being fed, or NULL */
	struct bm_arena arena;      /* decoded anomaly events */
	uint64_t events, unmatched, other_topics;
};

static struct replay_host *host_of(struct bm_ctx *ctx)
{
	return (struct replay_host *)ctx;
}

static bool rh_log_enabled(struct bm_ctx *ctx, int level)
{
	/* errors and warnings always; info and debug with -v, -vv */
	return level <= BM_LOG_WARN + host_of(ctx)->opts->verbose * 2;
}

static void rh_vlog(struct bm_ctx *ctx, int level, const char *fmt, va_list ap)
{
	if (!rh_log_enabled(ctx, level))
		return;
	fprintf(stderr, "%s ", host_of(ctx)->prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void *rh_alloc(size_t size) { return calloc(1, size ? size : 1); }
static void rh_free(void *p) { free(p); }
static const char *rh_instance_name(struct bm_ctx *ctx) { return host_of(ctx)->instance; }
static const char *rh_data_dir(struct bm_ctx *ctx) { return host_of(ctx)->data_dir; }
static int64_t rh_now_ms(struct bm_ctx *ctx) { return host_of(ctx)->now_ms; }
static int64_t rh_interval_ms(struct bm_ctx *ctx) { return host_of(ctx)->interval_ms; }

static int add_ptr(void ***v, size_t *n, void *p)
{
	void **nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return BM_ENOMEM;
	nv[(*n)++] = p;
	*v = nv;
	return 0;
}

/* The row of the batch an anomaly event at ts_ms scores. Rows of a batch
 * have strictly increasing timestamps and a plugin scores them in order,
 * so the search only moves forward. */
static void take_score(struct replay_host *h, const struct bm_anomaly_event *ev)
{
	struct replay_batch *b = h->batch;
	if (!b || ev->series.n_labels || !ev->series.name ||
	    strcmp(ev->series.name, h->opts->series) != 0) {
		h->unmatched++;
		return;
	}
	while (b->match < b->n && b->ts_ms[b->match] < ev->ts_ms)
		b->match++;
	if (b->match == b->n || b->ts_ms[b->match] != ev->ts_ms) {
		h->unmatched++;
		return;
	}
	double s = isfinite(ev->score) ? ev->score : 0;
	if (s > b->score[b->match])
		b->score[b->match] = s;
	h->events++;
}

static int rh_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	struct replay_host *h = host_of(ctx);
	if (strcmp(topic, BM_TOPIC_ANOMALY) != 0) {
		h->other_topics++;
		return 0;
	}
	struct bm_anomaly_event ev;
	int rc = bm_anomaly_decode(body, len, &ev, &h->arena);
	if (!rc)
		take_score(h, &ev);
	bm_arena_reset(&h->arena);
	return rc;
}

static int rh_publish_metrics(struct bm_ctx *ctx, const struct bm_metric_batch *b)
{
	(void)b;
	host_of(ctx)->other_topics++;
	return 0;
}

static int rh_subscribe(struct bm_ctx *ctx, const struct bm_sub_opts *opts, bm_event_cb cb,
			void *user, struct bm_sub **out)
{
	struct replay_host *h = host_of(ctx);
	if (!opts || !opts->topic || !cb)
		return BM_EINVAL;
	struct replay_sub *s = calloc(1, sizeof(*s));
	if (!s)
		return BM_ENOMEM;
	*s = (struct replay_sub){.cb = cb, .user = user, .active = true,
				 .metric = strcmp(opts->topic, BM_TOPIC_METRIC) == 0 ||
					   strcmp(opts->topic, "*") == 0};
	if (add_ptr((void ***)&h->subs, &h->n_subs, s)) {
		free(s);
		return BM_ENOMEM;
	}
	*out = (struct bm_sub *)s;
	return 0;
}

/* Subscriptions and timers stay allocated until the replay ends: the
 * plugin may drop them in stop, the host frees them after fini. */
static void rh_unsubscribe(struct bm_sub *sub)
{
	((struct replay_sub *)sub)->active = false;
}

static int rh_timer_add(struct bm_ctx *ctx, int64_t interval_ms, bm_timer_cb cb, void *user,
			struct bm_timer **out)
{
	struct replay_host *h = host_of(ctx);
	if (interval_ms <= 0 || !cb)
		return BM_EINVAL;
	struct bm_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return BM_ENOMEM;
	*t = (struct bm_timer){.cb = cb, .user = user, .interval_ms = interval_ms, .active = true};
	if (add_ptr((void ***)&h->timers, &h->n_timers, t)) {
		free(t);
		return BM_ENOMEM;
	}
	*out = t;
	return 0;
}

static void rh_timer_del(struct bm_timer *t)
{
	t->active = false;
}

/* No descriptors, no HTTP server and no store in a replay: BM_ENOTSUP,
 * which plugins already take as "not on this host". */
static int rh_fd_watch(struct bm_ctx *ctx, int fd, unsigned events, bm_fd_cb cb, void *user,
		       struct bm_fdwatch **out)
{
	(void)ctx, (void)fd, (void)events, (void)cb, (void)user, (void)out;
	return BM_ENOTSUP;
}

static int rh_http_route(struct bm_ctx *ctx, const char *path, unsigned flags, bm_http_cb cb,
			 void *user)
{
	(void)ctx, (void)path, (void)flags, (void)cb, (void)user;
	return BM_ENOTSUP;
}

static int add_metric(struct replay_host *h, const char *name, bool is_counter, const void *v)
{
	struct replay_metric *m = realloc(h->metrics, (h->n_metrics + 1) * sizeof(*m));
	if (!m)
		return BM_ENOMEM;
	h->metrics = m;
	m[h->n_metrics] = (struct replay_metric){strdup(name), is_counter, v};
	if (!m[h->n_metrics].name)
		return BM_ENOMEM;
	h->n_metrics++;
	return 0;
}

static int rh_self_counter(struct bm_ctx *ctx, const char *name, const char *help,
			   const uint64_t *value)
{
	(void)help;
	return add_metric(host_of(ctx), name, true, value);
}

static int rh_self_gauge(struct bm_ctx *ctx, const char *name, const char *help,
			 const double *value)
{
	(void)help;
	return add_metric(host_of(ctx), name, false, value);
}

/* Entries a replay cannot offer stay NULL (the HTTP request accessors,
 * fd_unwatch: nothing hands out their handles) or answer BM_ENOTSUP. */
static const struct bm_host_api replay_api = {
	.api_size = sizeof(struct bm_host_api),
	.abi_major = BM_ABI_MAJOR,
	.abi_minor = BM_ABI_MINOR,
	.vlog = rh_vlog,
	.log_enabled = rh_log_enabled,
	.alloc = rh_alloc,
	.free = rh_free,
	.instance_name = rh_instance_name,
	.data_dir = rh_data_dir,
	.now_ms = rh_now_ms,
	.interval_ms = rh_interval_ms,
	.publish = rh_publish,
	.publish_metrics = rh_publish_metrics,
	.subscribe = rh_subscribe,
	.unsubscribe = rh_unsubscribe,
	.timer_add = rh_timer_add,
	.timer_del = rh_timer_del,
	.fd_watch = rh_fd_watch,
	.http_route = rh_http_route,
	.self_counter = rh_self_counter,
	.self_gauge = rh_self_gauge,
};

static void host_free(struct replay_host *h)
{
	for (size_t i = 0; i < h->n_subs; i++)
		free(h->subs[i]);
	free(h->subs);
	for (size_t i = 0; i < h->n_timers; i++)
		free(h->timers[i]);
	free(h->timers);
	for (size_t i = 0; i < h->n_metrics; i++)
		free(h->metrics[i].name);
	free(h->metrics);
	bm_arena_free(&h->arena);
}

static void print_self_metrics(const struct replay_host *h)
{
	for (size_t i = 0; i < h->n_metrics; i++) {
		const struct replay_metric *m = &h->metrics[i];
		if (m->is_counter)
			fprintf(stderr, "%s %s %llu\n", h->prefix, m->name,
				(unsigned long long)__atomic_load_n((const uint64_t *)m->value,
								    __ATOMIC_RELAXED));
		else
			fprintf(stderr, "%s %s %g\n", h->prefix, m->name, *(const double *)m->value);
	}
	fprintf(stderr, "%s replay: %llu scores read, %llu events not matching a row, %llu other "
			"publications\n",
		h->prefix, (unsigned long long)h->events, (unsigned long long)h->unmatched,
		(unsigned long long)h->other_topics);
}

/* --- timestamps -------------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil): timegm without the time zone machinery,
 * a dozen operations per row. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* n digits at s as a number; false when one is not a digit. */
static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* "HH:MM:SS[.fraction][Z]" at s (n bytes) into ms of the day. */
static bool parse_clock(const char *s, size_t n, int64_t *ms)
{
	unsigned hh, mi, ss, frac = 0, scale = 1;
	if (n < 8 || s[2] != ':' || s[5] != ':' || !digits(s, 2, &hh) || !digits(s + 3, 2, &mi) ||
	    !digits(s + 6, 2, &ss) || hh > 23 || mi > 59 || ss > 60)
		return false;
	size_t i = 8;
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (scale < 1000) {
				frac = frac * 10 + (unsigned)(s[i] - '0');
				scale *= 10;
			}
		if (scale == 1)
			return false;
	}
	if (i < n && s[i] == 'Z')
		i++;
	if (i != n)
		return false;
	*ms = ((int64_t)hh * 3600 + mi * 60 + ss) * 1000 + (int64_t)frac * (1000 / scale);
	return true;
}

/* Epoch seconds (or ms above 1e11) written as a number. */
static bool parse_epoch(const char *s, size_t n, int64_t *ms)
{
	char tmp[64], *end;
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	double v = strtod(tmp, &end);
	if (end != tmp + n || !isfinite(v) || fabs(v) > 9e15)
		return false;
	*ms = (int64_t)llround(fabs(v) >= 1e11 ? v : v * 1000.0);
	return true;
}

/* A timestamp field (surrounding blanks and quotes removed) to ms UTC. */
static bool parse_timestamp(const char *s, size_t n, int64_t *ms)
{
	unsigned y, mo, d;
	if (n >= 10 && s[4] == '-' && s[7] == '-' && digits(s, 4, &y) && digits(s + 5, 2, &mo) &&
	    digits(s + 8, 2, &d)) {
		if (mo < 1 || mo > 12 || d < 1 || d > 31)
			return false;
		int64_t day_ms = 0;
		if (n > 10 && !((s[10] == ' ' || s[10] == 'T') && parse_clock(s + 11, n - 11, &day_ms)))
			return false;
		*ms = days_from_civil(y, mo, d) * 86400000 + day_ms;
		return true;
	}
	return parse_epoch(s, n, ms);
}

/* --- the CSV reader ------------------------------------------------------ */

struct csv_reader {
	FILE *f;
	const char *name;
	char *buf;
	size_t len, pos; /* bytes held, start of the next line */
	bool eof;
	long line;      /* number of the line last returned */
	int ts_col, val_col, n_cols;
};

/* Drop the consumed part and read more (eof is set when the input ends).
 * False when a line does not fit the buffer. */
static bool csv_refill(struct csv_reader *r)
{
	memmove(r->buf, r->buf + r->pos, r->len - r->pos);
	r->len -= r->pos;
	r->pos = 0;
	size_t room = 2 * (size_t)READ_CHUNK - r->len;
	if (room == 0)
		return false;
	size_t want = room < READ_CHUNK ? room : READ_CHUNK;
	size_t got = fread(r->buf + r->len, 1, want, r->f);
	r->len += got;
	if (got < want)
		r->eof = true;
	return true;
}

/* The next complete line in the buffer (its '\n' and a '\r' before it not
 * included), or NULL when the buffer holds none: the caller then feeds
 * what it holds and calls csv_refill. At the end of input a last line
 * without '\n' counts. */
static const char *csv_line(struct csv_reader *r, size_t *n)
{
	const char *s = r->buf + r->pos;
	size_t avail = r->len - r->pos;
	const char *nl = memchr(s, '\n', avail);
	if (!nl && (!r->eof || avail == 0))
		return NULL;
	size_t len = nl ? (size_t)(nl - s) : avail;
	r->pos += nl ? len + 1 : len;
	r->line++;
	if (len && s[len - 1] == '\r')
		len--;
	*n = len;
	return s;
}

/* Field i of a line: start and length, with trim the blanks and one
 * level of double quotes around it removed. False when the line has
 * fewer fields. */
static bool csv_field(const char *s, size_t n, int i, bool trim, const char **f, size_t *fn)
{
	const char *end = s + n;
	for (; i > 0; i--) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		if (!c)
			return false;
		s = c + 1;
	}
	const char *c = memchr(s, ',', (size_t)(end - s));
	const char *e = c ? c : end;
	while (trim && s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (trim && e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (trim && e - s >= 2 && *s == '"' && e[-1] == '"') {
		s++;
		e--;
	}
	*f = s;
	*fn = (size_t)(e - s);
	return true;
}

static bool blank_line(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* The header: which columns hold the timestamp and the value. */
static int csv_header(struct csv_reader *r)
{
	size_t n = 0;
	const char *s;
	while (!(s = csv_line(r, &n)) && !r->eof)
		if (!csv_refill(r))
			break;
	if (!s) {
		fprintf(stderr, "bearmonctl replay: %s: empty input, expected a header with "
				"timestamp and value\n", r->name);
		return RP_FAIL;
	}
	r->ts_col = r->val_col = -1;
	const char *f;
	size_t fn;
	for (int i = 0; csv_field(s, n, i, true, &f, &fn); i++) {
		if (fn == 9 && strncasecmp(f, "timestamp", 9) == 0)
			r->ts_col = i;
		else if (fn == 5 && strncasecmp(f, "value", 5) == 0)
			r->val_col = i;
		r->n_cols = i + 1;
	}
	if (r->ts_col < 0 || r->val_col < 0) {
		fprintf(stderr, "bearmonctl replay: %s:1: the header \"%.*s\" lacks a timestamp "
				"or value column\n", r->name, (int)(n > 200 ? 200 : n), s);
		return RP_FAIL;
	}
	return RP_OK;
}

/* The text of a value field as a number; NaN when it is not one (the
 * analyzer skips it and the row scores 0). */
static double parse_value(const char *s, size_t n)
{
	char tmp[128], *end;
	if (n == 0 || n >= sizeof(tmp))
		return NAN;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	double v = strtod(tmp, &end);
	return end == tmp + n ? v : NAN;
}

/* --- output ---------------------------------------------------------- */

struct out_writer {
	FILE *f;
	char *buf;
	size_t len;
	bool failed;
};

static void out_flush(struct out_writer *w)
{
	if (w->len && fwrite(w->buf, 1, w->len, w->f) != w->len)
		w->failed = true;
	w->len = 0;
}

static void out_put(struct out_writer *w, const char *s, size_t n)
{
	if (w->len + n > OUT_BUF)
		out_flush(w);
	if (n > OUT_BUF) {
		if (fwrite(s, 1, n, w->f) != n)
			w->failed = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

/* A score with nine decimals, trailing zeros dropped: exact enough to
 * rank every score a plugin can tell apart, without printf per row. */
static size_t format_score(double s, char *out)
{
	if (!(s > 0))
		return (size_t)sprintf(out, "0");
	if (s >= 1)
		return (size_t)sprintf(out, s == 1 ? "1" : "%.9g", s);
	uint64_t v = (uint64_t)llround(s * 1e9);
	if (v >= 1000000000u)
		return (size_t)sprintf(out, "1");
	if (v == 0)
		return (size_t)sprintf(out, "0");
	char digs[9];
	for (int i = 8; i >= 0; i--, v /= 10)
		digs[i] = (char)('0' + v % 10);
	int last = 8;
	while (digs[last] == '0')
		last--;
	out[0] = '0';
	out[1] = '.';
	memcpy(out + 2, digs, (size_t)last + 1);
	return (size_t)last + 3;
}

static void out_row(struct out_writer *w, const struct replay_batch *b, size_t i)
{
	char score[32];
	size_t n = format_score(b->score[i], score);
	if (w->len + b->ts_len[i] + b->val_len[i] + n + 3 > OUT_BUF)
		out_flush(w);
	out_put(w, b->ts_text[i], b->ts_len[i]);
	out_put(w, ",", 1);
	out_put(w, b->val_text[i], b->val_len[i]);
	out_put(w, ",", 1);
	out_put(w, score, n);
	out_put(w, "\n", 1);
}

/* --- feeding ---------------------------------------------------------- */

/* Timers run between batches, in the input's time: at most once per
 * batch, then the next tick is the first one after the batch start. */
static void run_timers(struct replay_host *h, int64_t now)
{
	for (size_t i = 0; i < h->n_timers; i++) {
		struct bm_timer *t = h->timers[i];
		if (!t->active)
			continue;
		if (t->next_ms == 0) {
			t->next_ms = now + t->interval_ms;
			continue;
		}
		if (t->next_ms > now)
			continue;
		t->cb(t->user);
		t->next_ms = now + t->interval_ms - (now - t->next_ms) % t->interval_ms;
	}
}

/* One metric event with the batch's rows, to every metric subscriber;
 * the plugin's anomaly events come back through rh_publish. */
static int feed_batch(struct replay_host *h, struct replay_batch *b, struct bm_buf *body,
		      struct out_writer *w)
{
	if (!b->n)
		return RP_OK;
	run_timers(h, b->ts_ms[0]);
	for (size_t i = 0; i < b->n; i++) {
		b->samples[i] = (struct bm_sample){.name = h->opts->series, .ts_ms = b->ts_ms[i],
						   .value = b->value[i]};
		b->score[i] = 0;
	}
	struct bm_metric_batch mb = {.source = "replay", .samples = b->samples,
				     .n_samples = b->n};
	int rc = bm_metric_batch_encode(&mb, body);
	if (rc) {
		fprintf(stderr, "bearmonctl replay: cannot encode rows: %s\n", bm_strerror(rc));
		return RP_FAIL;
	}
	h->batch = b;
	b->match = 0;
	for (size_t i = 0; i < h->n_subs; i++)
		if (h->subs[i]->active && h->subs[i]->metric)
			h->subs[i]->cb(h->subs[i]->user, BM_TOPIC_METRIC, body->data, body->len);
	h->batch = NULL;
	if (b->ts_ms[b->n - 1] > h->now_ms)
		h->now_ms = b->ts_ms[b->n - 1];
	for (size_t i = 0; i < b->n; i++)
		out_row(w, b, i);
	b->n = 0;
	return RP_OK;
}

/* Add one data line to the batch (fed first when full, or when this row
 * does not come after the batch's last: an event's rows must be strictly
 * increasing in time to map scores back to rows). */
static int take_line(struct replay_host *h, struct csv_reader *r, const char *s, size_t n,
		     struct replay_batch *b, struct bm_buf *body, struct out_writer *w)
{
	const char *ts, *val;
	size_t tn, vn;
	int64_t ts_ms;
	if (!csv_field(s, n, r->ts_col, true, &ts, &tn) ||
	    !csv_field(s, n, r->val_col, true, &val, &vn)) {
		fprintf(stderr, "bearmonctl replay: %s:%ld: %d fields expected\n", r->name, r->line,
			r->n_cols);
		return RP_FAIL;
	}
	if (!parse_timestamp(ts, tn, &ts_ms)) {
		fprintf(stderr, "bearmonctl replay: %s:%ld: cannot parse timestamp \"%.*s\"\n",
			r->name, r->line, (int)(tn > 64 ? 64 : tn), ts);
		return RP_FAIL;
	}
	if (b->n && (b->n == BATCH_MAX || ts_ms <= b->ts_ms[b->n - 1])) {
		int rc = feed_batch(h, b, body, w);
		if (rc)
			return rc;
	}
	b->ts_ms[b->n] = ts_ms;
	b->value[b->n] = parse_value(val, vn);
	/* the verbatim text: the whole fields, quotes and blanks included */
	csv_field(s, n, r->ts_col, false, &b->ts_text[b->n], &b->ts_len[b->n]);
	csv_field(s, n, r->val_col, false, &b->val_text[b->n], &b->val_len[b->n]);
	b->n++;
	return RP_OK;
}

static int replay_stream(struct replay_host *h, struct csv_reader *r, struct out_writer *w)
{
	struct replay_batch *b = calloc(1, sizeof(*b));
	struct bm_buf body = {0};
	int rc = b ? csv_header(r) : RP_FAIL;
	if (!rc)
		out_put(w, "timestamp,value,anomaly_score\n", 30);
	while (!rc) {
		size_t n;
		const char *s = csv_line(r, &n);
		if (s) {
			if (!blank_line(s, n))
				rc = take_line(h, r, s, n, b, &body, w);
			continue;
		}
		/* rows point into the buffer: feed them before it moves */
		rc = feed_batch(h, b, &body, w);
		if (rc || r->eof)
			break;
		if (!csv_refill(r)) {
			fprintf(stderr, "bearmonctl replay: %s:%ld: line longer than %u bytes\n",
				r->name, r->line + 1, 2 * READ_CHUNK);
			rc = RP_FAIL;
		}
	}
	if (!rc && ferror(r->f)) {
		fprintf(stderr, "bearmonctl replay: %s: read error: %s\n", r->name, strerror(errno));
		rc = RP_FAIL;
	}
	bm_buf_free(&body);
	free(b);
	return rc;
}

/* --- plugin and config ------------------------------------------------ */

#define MAX_OVERRIDES 64

struct replay_setup {
	struct cfg *cfg;
	const struct cfg_instance *inst;
	struct plugin *plugin;
	void *conf;
};

/* --set style overrides handed to cfg_load. */
struct overrides {
	char *v[MAX_OVERRIDES];
	size_t n;
};

__attribute__((format(printf, 2, 3))) static int add_override(struct overrides *ov,
							      const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	if (ov->n == MAX_OVERRIDES)
		return BM_ERANGE;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return BM_ENOMEM;
	ov->v[ov->n++] = s;
	return 0;
}

static void free_overrides(struct overrides *ov)
{
	for (size_t i = 0; i < ov->n; i++)
		free(ov->v[i]);
	ov->n = 0;
}

/* Errors and warnings of the config, warnings without their '~' mark. */
static void print_errs(const struct cfg_errs *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		const char *l = errs->lines[i];
		fprintf(stderr, "bearmonctl replay: %s%s\n", l[0] == '~' ? "warning: " : "",
			l + (l[0] == '~'));
	}
}

/* cfg_load, reporting every problem; NULL when one is fatal. */
static struct cfg *load_config(const char *path, struct overrides *ov)
{
	struct cfg_errs errs = {0};
	struct cfg *cfg = cfg_load(path, ov->v, ov->n, &errs);
	print_errs(&errs);
	if (cfg && cfg_errs_fatal(&errs)) {
		cfg_free(cfg);
		cfg = NULL;
	}
	cfg_errs_free(&errs);
	return cfg;
}

/* No conf.d, the plugin dir, and without --config the instance block
 * itself. */
static int base_overrides(const struct replay_opts *o, struct overrides *ov)
{
	int rc = add_override(ov, "include_dir=");
	if (!rc && o->plugin_dir)
		rc = add_override(ov, "plugin_dirs=%s", o->plugin_dir);
	if (!rc && !o->config)
		rc = add_override(ov, REPLAY_INSTANCE ".plugin=analyzer/%s", o->analyzer);
	return rc;
}

/* The instance's --set options and, when the plugin has a threshold, a
 * threshold of 0: every scored sample then reports its score. */
static int instance_overrides(const struct replay_opts *o, const char *inst,
			      const struct plugin *p, struct overrides *ov)
{
	int rc = 0;
	for (size_t i = 0; i < o->n_sets && !rc; i++)
		rc = add_override(ov, "%s.%s", inst, o->sets[i]);
	for (const struct bm_option *opt = p->desc.options; opt && opt->name && !rc; opt++)
		if (strcmp(opt->name, "threshold") == 0)
			rc = add_override(ov, "%s.threshold=0", inst);
	return rc;
}

/* The one instance block of the config, which must run analyzer/NAME. */
static const struct cfg_instance *the_instance(const struct cfg *cfg, const struct replay_opts *o)
{
	if (cfg->n_inst != 1) {
		fprintf(stderr, "bearmonctl replay: %s: %zu instance blocks, expected exactly one\n",
			cfg->path, cfg->n_inst);
		return NULL;
	}
	const struct cfg_instance *in = &cfg->inst[0];
	if (strcmp(in->kind, "analyzer") != 0 || strcmp(in->plugin, o->analyzer) != 0) {
		fprintf(stderr, "bearmonctl replay: %s: instance \"%s\" runs %s/%s, not analyzer/%s\n",
			in->where, in->name, in->kind, in->plugin, o->analyzer);
		return NULL;
	}
	return in;
}

/* Load the plugin the config's instance names, from its plugin dirs. */
static int load_plugin(const struct cfg_instance *in, const struct cfg *cfg, struct plugin **out)
{
	struct bm_err err = {0};
	if (loader_get(in->kind, in->plugin, &cfg->core.plugin_dirs, out, &err)) {
		fprintf(stderr, "bearmonctl replay: %s\n", err.msg);
		return RP_FAIL;
	}
	if ((*out)->desc.kind != BM_KIND_ANALYZER) {
		fprintf(stderr, "bearmonctl replay: %s is not an analyzer\n", (*out)->path);
		return RP_USAGE;
	}
	return RP_OK;
}

/* Fill the plugin's conf from the instance block, as bearmond does. */
static int fill_conf(struct replay_setup *rs)
{
	struct cfg_errs errs = {0};
	size_t sz = rs->plugin->desc.config_size;
	rs->conf = calloc(1, sz ? sz : 1);
	if (!rs->conf) {
		fprintf(stderr, "bearmonctl replay: out of memory\n");
		return RP_FAIL;
	}
	size_t bad = cfg_fill_instance(rs->inst, rs->plugin->desc.options, rs->conf, &errs);
	print_errs(&errs);
	cfg_errs_free(&errs);
	return bad ? RP_USAGE : RP_OK;
}

/* Read the config (or the built-in block), load the plugin, then read the
 * config again with the instance's overrides and fill the options. */
static int setup(const struct replay_opts *o, struct replay_setup *rs)
{
	struct overrides ov = {0};
	const char *path = o->config ? o->config : "/dev/null";
	char inst[256];
	int rc = base_overrides(o, &ov) ? RP_USAGE : RP_OK;
	struct cfg *first = rc ? NULL : load_config(path, &ov);
	const struct cfg_instance *in = first ? the_instance(first, o) : NULL;
	if (!rc && !in)
		rc = RP_USAGE;
	if (!rc)
		rc = load_plugin(in, first, &rs->plugin);
	if (!rc) {
		snprintf(inst, sizeof(inst), "%s", in->name);
		if (instance_overrides(o, inst, rs->plugin, &ov)) {
			fprintf(stderr, "bearmonctl replay: too many --set options\n");
			rc = RP_USAGE;
		}
	}
	cfg_free(first);
	if (!rc && !(rs->cfg = load_config(path, &ov)))
		rc = RP_USAGE;
	if (!rc && !(rs->inst = cfg_find_instance(rs->cfg, inst)))
		rc = RP_USAGE;
	if (!rc)
		rc = fill_conf(rs);
	free_overrides(&ov);
	return rc;
}

static void teardown(struct replay_setup *rs)
{
	if (rs->conf && rs->plugin)
		schema_release(rs->plugin->desc.options, rs->conf);
	free(rs->conf);
	cfg_free(rs->cfg);
	loader_exit();
}

/* --- the run ---------------------------------------------------------- */

static FILE *open_stream(const char *path, bool out)
{
	if (strcmp(path, "-") == 0)
		return out ? stdout : stdin;
	return fopen(path, out ? "w" : "r");
}

static int run_plugin(struct replay_host *h, const struct replay_setup *rs,
		      struct csv_reader *r, struct out_writer *w)
{
	const struct plugin *p = rs->plugin;
	struct bm_ctx *ctx = (struct bm_ctx *)h;
	struct bm_err err = {0};
	void *state = NULL;
	*p->desc.host_slot = &replay_api;
	if (p->ops.init(ctx, rs->conf, &state, &err)) {
		fprintf(stderr, "%s init failed: %s\n", h->prefix, err.msg);
		return RP_FAIL;
	}
	int rc = RP_OK;
	if (p->ops.start && p->ops.start(state, &err)) {
		fprintf(stderr, "%s start failed: %s\n", h->prefix, err.msg);
		rc = RP_FAIL;
	} else {
		rc = replay_stream(h, r, w);
		if (p->ops.stop)
			p->ops.stop(state);
	}
	if (h->opts->verbose)
		print_self_metrics(h);
	if (p->ops.fini)
		p->ops.fini(state);
	return rc;
}

static int replay_files(const struct replay_opts *o, const struct replay_setup *rs)
{
	struct replay_host h = {
		.opts = o,
		.instance = rs->inst->name,
		.data_dir = rs->cfg->core.data_dir,
		.interval_ms = rs->inst->interval_ms,
	};
	snprintf(h.prefix, sizeof(h.prefix), "[analyzer:%s:%s]", rs->plugin->name, rs->inst->name);
	struct csv_reader r = {.name = o->input};
	struct out_writer w = {0};
	int rc = RP_FAIL;
	r.f = open_stream(o->input, false);
	w.f = r.f ? open_stream(o->output, true) : NULL;
	r.buf = malloc(2 * (size_t)READ_CHUNK);
	w.buf = malloc(OUT_BUF);
	if (!r.f || !w.f) {
		fprintf(stderr, "bearmonctl replay: %s: %s\n", r.f ? o->output : o->input,
			strerror(errno));
	} else if (r.buf && w.buf) {
		rc = run_plugin(&h, rs, &r, &w);
		out_flush(&w);
		if (fflush(w.f) || w.failed) {
			fprintf(stderr, "bearmonctl replay: %s: write error: %s\n", o->output,
				strerror(errno));
			rc = RP_FAIL;
		}
	}
	if (r.f && r.f != stdin)
		fclose(r.f);
	if (w.f && w.f != stdout && fclose(w.f) && !rc)
		rc = RP_FAIL;
	free(r.buf);
	free(w.buf);
	host_free(&h);
	return rc;
}

int replay_main(int argc, char **argv)
{
	struct replay_opts o = {0};
	struct replay_setup rs = {0};
	o.sets = calloc((size_t)argc + 1, sizeof(*o.sets));
	if (!o.sets) {
		fprintf(stderr, "bearmonctl replay: out of memory\n");
		return RP_FAIL;
	}
	int rc = parse_replay_args(argc, argv, &o);
	if (rc < 0) {
		replay_usage(stdout);
		rc = RP_OK;
	} else if (!rc && loader_init()) {
		fprintf(stderr, "bearmonctl replay: cannot initialise the plugin loader\n");
		rc = RP_FAIL;
	} else if (!rc) {
		rc = setup(&o, &rs);
		if (!rc)
			rc = replay_files(&o, &rs);
		teardown(&rs);
	}
	free(o.sets);
	return rc;
}
