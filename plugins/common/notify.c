/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The notifiers' shared machinery (see notify.h): the alert's JSON form,
 * templates, backoff, the on-disk queue, the subscription and the worker
 * thread that carry alerts from the bus through the queue to a plugin's
 * deliver callback, notification events, self-metrics, libcurl plumbing.
 */
#define _GNU_SOURCE
#include "notify.h"

#include <bearmon/bm_vec.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const notify_severity_names[] = {"info", "warning", "critical", "emergency", NULL};
static const char *const state_names[] = {"pending", "firing", "resolved"};

const struct bm_option notify_tls_options[] = {
	BM_OPTION("ca_file", BM_OPT_STRING, NULL, struct notify_tls_conf, ca_file,
		  "CA certificates (PEM) that verify the server (default: the system's)"),
	BM_OPTION("cert_file", BM_OPT_STRING, NULL, struct notify_tls_conf, cert_file,
		  "client certificate (PEM), for servers that require one"),
	BM_OPTION("key_file", BM_OPT_STRING, NULL, struct notify_tls_conf, key_file,
		  "the client certificate's key (PEM)"),
	BM_OPTION("insecure_skip_verify", BM_OPT_BOOL, "false", struct notify_tls_conf,
		  insecure_skip_verify, "accept any server certificate and name (tests only)"),
	BM_OPTION_END,
};

const struct bm_option notify_basic_auth_options[] = {
	BM_OPTION("username", BM_OPT_STRING, NULL, struct notify_basic_auth, username,
		  "user name"),
	{.name = "password", .type = BM_OPT_STRING, .flags = BM_OPTF_SECRET,
	 .offset = offsetof(struct notify_basic_auth, password), .help = "password"},
	BM_OPTION_END,
};

/* =====================================================================
 * Time and the alert's JSON form
 * ===================================================================== */

int64_t notify_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void notify_time_text(int64_t ms, char *buf)
{
	struct tm tm;
	time_t s = (time_t)(ms / 1000);
	if (ms <= 0 || !gmtime_r(&s, &tm)) {
		snprintf(buf, NOTIFY_TIME_LEN, "0001-01-01T00:00:00Z"); /* Go's zero time */
		return;
	}
	size_t k = strftime(buf, NOTIFY_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, NOTIFY_TIME_LEN - k, ".%03dZ", (int)(ms % 1000));
}

/* Text from the bus is not checked for UTF-8 (bm_event.h) and jansson
 * refuses invalid UTF-8: such bytes become '?' rather than losing the alert. */
static char *ascii_copy(const char *s)
{
	char *c = strdup(s);
	for (char *p = c; p && *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	return c;
}

static json_t *jstr(const char *s)
{
	json_t *j = json_string(s ? s : "");
	if (j || !s)
		return j;
	char *c = ascii_copy(s);
	j = c ? json_string(c) : NULL;
	free(c);
	return j;
}

/* o[key] = value as text: 0 or -1. */
static int put_text(json_t *o, const char *key, const char *value)
{
	json_t *v = jstr(value);
	if (!v)
		return -1;
	int rc = json_object_set(o, key, v);
	if (rc) {
		char *k = ascii_copy(key);
		rc = k ? json_object_set(o, k, v) : -1;
		free(k);
	}
	json_decref(v);
	return rc;
}

static int put_time(json_t *o, const char *key, int64_t ms)
{
	char t[NOTIFY_TIME_LEN];
	notify_time_text(ms, t);
	return put_text(o, key, t);
}

/* JSON has no NaN or infinity: those become null. */
static int put_number(json_t *o, const char *key, double v)
{
	return json_object_set_new(o, key, isfinite(v) ? json_real(v) : json_null());
}

static json_t *labels_json(const struct bm_alert_event *e, unsigned sev)
{
	json_t *l = json_object();
	int rc = l ? 0 : -1;
	for (uint32_t i = 0; !rc && i < e->n_labels; i++)
		rc = put_text(l, e->labels[i].name, e->labels[i].value);
	if (!rc && !json_object_get(l, "alertname") && e->rule_name && *e->rule_name)
		rc = put_text(l, "alertname", e->rule_name);
	if (!rc && !json_object_get(l, "severity"))
		rc = put_text(l, "severity", notify_severity_names[sev]);
	if (rc) {
		json_decref(l);
		return NULL;
	}
	return l;
}

static json_t *annotations_json(const struct bm_alert_event *e)
{
	json_t *a = json_object();
	int rc = a ? 0 : -1;
	for (size_t i = 0; !rc && i < e->n_annotations; i++)
		rc = put_text(a, e->annotations[i].key, e->annotations[i].value);
	if (rc) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *ack_json(const struct bm_alert_ack *ack)
{
	json_t *a = json_object();
	int rc = a ? put_text(a, "by", ack->by) : -1;
	rc |= a ? put_time(a, "at", ack->at_ms) : -1;
	if (a && ack->expires_ms)
		rc |= put_time(a, "expires", ack->expires_ms);
	if (a && ack->comment)
		rc |= put_text(a, "comment", ack->comment);
	if (rc) {
		json_decref(a);
		return NULL;
	}
	return a;
}

json_t *notify_alert_json(const struct bm_alert_event *e)
{
	unsigned sev = (unsigned)e->severity <= BM_SEV_EMERGENCY ? (unsigned)e->severity : 0;
	unsigned st = (unsigned)e->state <= BM_ALERT_RESOLVED ? (unsigned)e->state : 0;
	int64_t starts = e->fired_at_ms ? e->fired_at_ms : e->active_since_ms ? e->active_since_ms : e->ts_ms;
	int64_t ends = e->resolved_at_ms ? e->resolved_at_ms : e->ts_ms;
	json_t *a = json_object();
	if (!a)
		return NULL;
	int rc = put_text(a, "status", state_names[st]);
	rc |= json_object_set_new(a, "labels", labels_json(e, sev));
	rc |= json_object_set_new(a, "annotations", annotations_json(e));
	rc |= put_time(a, "startsAt", starts);
	rc |= put_time(a, "endsAt", st == BM_ALERT_RESOLVED ? ends : 0);
	rc |= put_text(a, "generatorURL", e->generator_url);
	rc |= put_text(a, "fingerprint", e->fingerprint);
	rc |= put_text(a, "ruleId", e->rule_id);
	rc |= put_text(a, "ruleName", e->rule_name);
	rc |= put_text(a, "severity", notify_severity_names[sev]);
	rc |= put_number(a, "value", e->value);
	rc |= put_number(a, "threshold", e->threshold);
	rc |= put_time(a, "eventAt", e->ts_ms);
	if (e->active_since_ms)
		rc |= put_time(a, "activeAt", e->active_since_ms);
	if (e->keep_firing_since_ms)
		rc |= put_time(a, "keepFiringSince", e->keep_firing_since_ms);
	rc |= json_object_set_new(a, "flapping", json_boolean(e->flapping));
	if (e->ack.by)
		rc |= json_object_set_new(a, "ack", ack_json(&e->ack));
	if (rc) {
		json_decref(a);
		return NULL;
	}
	return a;
}

const char *notify_alert_str(const json_t *alert, const char *key)
{
	const char *s = json_string_value(json_object_get(alert, key));
	return s ? s : "";
}

const char *notify_alert_label(const json_t *alert, const char *label)
{
	const char *s = json_string_value(json_object_get(json_object_get(alert, "labels"), label));
	return s ? s : "";
}

static enum bm_alert_state state_of(const json_t *alert)
{
	const char *s = notify_alert_str(alert, "status");
	return strcmp(s, "firing") == 0     ? BM_ALERT_FIRING
	       : strcmp(s, "resolved") == 0 ? BM_ALERT_RESOLVED
					    : BM_ALERT_PENDING;
}

bool notify_routed_to(const struct bm_alert_event *e, const char *instance, const char *full)
{
	if (!e->n_notifiers)
		return true;
	for (size_t i = 0; i < e->n_notifiers; i++)
		if (strcmp(e->notifiers[i], instance) == 0 || strcmp(e->notifiers[i], full) == 0)
			return true;
	return false;
}

/* =====================================================================
 * Templates
 * ===================================================================== */

static const struct {
	const char *field; /* as written after the dot */
	const char *key;   /* member of the alert's JSON form */
} tmpl_fields[] = {
	{"Status", "status"},         {"Labels", "labels"},
	{"Annotations", "annotations"}, {"StartsAt", "startsAt"},
	{"EndsAt", "endsAt"},         {"EventAt", "eventAt"},
	{"ActiveAt", "activeAt"},     {"GeneratorURL", "generatorURL"},
	{"Fingerprint", "fingerprint"}, {"RuleID", "ruleId"},
	{"RuleName", "ruleName"},     {"Severity", "severity"},
	{"Value", "value"},           {"Threshold", "threshold"},
};

/* One {{ .Field }} or {{ .Labels.name }}. */
struct tmpl_ref {
	const char *key;
	char member[128]; /* "" when none */
};

static bool is_member_name(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return n > 0 && n < sizeof(((struct tmpl_ref *)0)->member);
}

/* Parse the text between {{ and }}: NULL, or what is wrong with it. */
static const char *tmpl_parse(const char *s, const char *end, struct tmpl_ref *r)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	if (s == end || *s != '.')
		return "expected a field such as .Labels.alertname";
	s++;
	const char *dot = memchr(s, '.', (size_t)(end - s));
	size_t flen = (size_t)((dot ? dot : end) - s);
	r->key = NULL;
	r->member[0] = '\0';
	for (size_t i = 0; i < sizeof(tmpl_fields) / sizeof(tmpl_fields[0]); i++)
		if (strlen(tmpl_fields[i].field) == flen && memcmp(tmpl_fields[i].field, s, flen) == 0)
			r->key = tmpl_fields[i].key;
	if (!r->key)
		return "unknown field (known: .Status .Labels .Annotations .StartsAt .EndsAt "
		       ".EventAt .ActiveAt .GeneratorURL .Fingerprint .RuleID .RuleName .Severity "
		       ".Value .Threshold)";
	if (!dot)
		return NULL;
	if (strcmp(r->key, "labels") != 0 && strcmp(r->key, "annotations") != 0)
		return "only .Labels and .Annotations have members";
	if (!is_member_name(dot + 1, (size_t)(end - dot - 1)))
		return "a member name is letters, digits and _";
	memcpy(r->member, dot + 1, (size_t)(end - dot - 1));
	r->member[end - dot - 1] = '\0';
	return NULL;
}

static int append_str(struct bm_buf *out, const char *s)
{
	return bm_buf_append(out, s, strlen(s));
}

/* name="value", ... in the object's order (labels arrive sorted). */
static int tmpl_pairs(const json_t *o, struct bm_buf *out)
{
	const char *k;
	json_t *v;
	int rc = 0;
	bool first = true;
	json_object_foreach((json_t *)o, k, v) {
		rc |= first ? 0 : append_str(out, ", ");
		rc |= append_str(out, k);
		rc |= append_str(out, "=\"");
		rc |= append_str(out, json_is_string(v) ? json_string_value(v) : "");
		rc |= append_str(out, "\"");
		first = false;
	}
	return rc ? BM_ENOMEM : 0;
}

static int tmpl_value(const json_t *v, struct bm_buf *out)
{
	char num[64];
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		return bm_buf_append(out, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return append_str(out, num);
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.15g", json_real_value(v));
		return append_str(out, num);
	case JSON_TRUE:
		return append_str(out, "true");
	case JSON_FALSE:
		return append_str(out, "false");
	case JSON_OBJECT:
		return tmpl_pairs(v, out);
	default:
		return 0; /* null, absent */
	}
}

/* Check (alert NULL, out NULL) or render tmpl. */
static int tmpl_walk(const char *tmpl, const json_t *alert, struct bm_buf *out, struct bm_err *err)
{
	for (const char *p = tmpl;;) {
		const char *open = strstr(p, "{{");
		size_t lit = open ? (size_t)(open - p) : strlen(p);
		if (out && bm_buf_append(out, p, lit))
			return BM_ENOMEM;
		if (!open)
			return 0;
		const char *close = strstr(open + 2, "}}");
		struct tmpl_ref r;
		const char *why = close ? tmpl_parse(open + 2, close, &r) : "\"{{\" without \"}}\"";
		if (why)
			return err ? bm_err_set(err, BM_EINVAL, "template, offset %zu: %s",
						(size_t)(open - tmpl), why)
				   : BM_EINVAL;
		if (out) {
			const json_t *v = json_object_get(alert, r.key);
			if (r.member[0])
				v = json_object_get(v, r.member);
			if (tmpl_value(v, out))
				return BM_ENOMEM;
		}
		p = close + 2;
	}
}

int notify_template_check(const char *tmpl, struct bm_err *err)
{
	return tmpl_walk(tmpl ? tmpl : "", NULL, NULL, err);
}

int notify_template_render(const char *tmpl, const json_t *alert, struct bm_buf *out)
{
	return tmpl_walk(tmpl ? tmpl : "", alert, out, NULL);
}

/* =====================================================================
 * Backoff and files
 * ===================================================================== */

int64_t notify_backoff_ms(int64_t initial_ms, int64_t max_ms, uint32_t attempt)
{
	int64_t d = initial_ms > 0 ? initial_ms : 1;
	for (uint32_t i = 1; i < attempt && d < max_ms; i++)
		d = d > max_ms / 2 ? max_ms : d * 2;
	return d < max_ms ? d : max_ms;
}

int notify_mkdirs(const char *path, unsigned mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return BM_EIO;
	}
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return BM_EIO;
		*p = c;
		if (!c)
			return 0;
	}
}

int notify_write_file(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return BM_EIO;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return BM_EIO;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto out_unlink;
		off += (size_t)w;
	}
	if (fdatasync(fd))
		goto out_unlink;
	int rc = close(fd);
	fd = -1;
	if (rc == 0 && rename(tmp, path) == 0)
		return 0;
out_unlink:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return BM_EIO;
}

/* =====================================================================
 * The on-disk queue
 * ===================================================================== */

struct notify_queue {
	char *dir;
	size_t max;
	struct nq_entry **v; /* oldest first, seq ascending */
	size_t n, cap;
	size_t waiting;      /* entries whose fate is NQ_WAITING */
	uint64_t next_seq;
	json_t *newest;      /* fingerprint -> seq of its newest entry: the dedup lookup */
	struct nq_stats st;
};

#define NQ_SUFFIX ".alert"
#define NQ_NAME_LEN (16 + sizeof(NQ_SUFFIX) - 1)

static void entry_path(const struct notify_queue *q, uint64_t seq, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%016" PRIx64 NQ_SUFFIX, q->dir, seq);
}

static void entry_free(struct nq_entry *e)
{
	if (!e)
		return;
	json_decref(e->alert);
	free(e->fingerprint);
	free(e);
}

static struct nq_entry *entry_new(json_t *alert, uint64_t seq, int64_t event_ms, int64_t wall_ms,
				  int64_t ready_ms)
{
	struct nq_entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->fingerprint = strdup(notify_alert_str(alert, "fingerprint")))) {
		free(e);
		return NULL;
	}
	e->seq = seq;
	e->event_ms = event_ms;
	e->enqueued_ms = wall_ms;
	e->ready_ms = ready_ms;
	e->state = state_of(alert);
	e->alert = json_incref(alert);
	return e;
}

/* A write error is counted and the entry stays queued in memory: it is
 * still delivered while the daemon runs. */
static void entry_persist(struct notify_queue *q, struct nq_entry *e)
{
	char path[PATH_MAX];
	json_t *doc = json_pack("{s:i, s:I, s:I, s:O}", "v", 1, "enqueued_ms",
				(json_int_t)e->enqueued_ms, "event_ms", (json_int_t)e->event_ms,
				"alert", e->alert);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	entry_path(q, e->seq, path, sizeof(path));
	if (text && notify_write_file(path, text, strlen(text)) == 0)
		e->persisted = true;
	else
		q->st.write_errors++;
	free(text);
	json_decref(doc);
}

static struct nq_entry *find_seq(const struct notify_queue *q, uint64_t seq)
{
	size_t lo = 0, hi = q->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->v[mid]->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < q->n && q->v[lo]->seq == seq ? q->v[lo] : NULL;
}

static void index_set(struct notify_queue *q, const struct nq_entry *e)
{
	/* a failure only costs a dedup opportunity */
	json_object_set_new(q->newest, e->fingerprint, json_integer((json_int_t)e->seq));
}

static void index_drop(struct notify_queue *q, const struct nq_entry *e)
{
	json_t *v = json_object_get(q->newest, e->fingerprint);
	if (v && (uint64_t)json_integer_value(v) == e->seq)
		json_object_del(q->newest, e->fingerprint);
}

static bool parse_entry_name(const char *name, uint64_t *seq)
{
	if (strlen(name) != NQ_NAME_LEN || strcmp(name + 16, NQ_SUFFIX) != 0)
		return false;
	for (int i = 0; i < 16; i++)
		if (!isxdigit((unsigned char)name[i]))
			return false;
	*seq = strtoull(name, NULL, 16);
	return true;
}

static void quarantine(struct notify_queue *q, const char *path)
{
	char bad[PATH_MAX + 16];
	snprintf(bad, sizeof(bad), "%s.corrupt", path);
	rename(path, bad);
	q->st.corrupt++;
}

/* One queued file: 0, or BM_ENOMEM. Unreadable files are set aside. */
static int load_entry(struct notify_queue *q, uint64_t seq, int64_t mono_now)
{
	char path[PATH_MAX];
	json_error_t je;
	entry_path(q, seq, path, sizeof(path));
	json_t *doc = json_load_file(path, 0, &je);
	json_t *alert = json_object_get(doc, "alert");
	json_t *enq = json_object_get(doc, "enqueued_ms");
	json_t *ev = json_object_get(doc, "event_ms");
	if (!json_is_object(alert) || !json_is_integer(enq) || !json_is_integer(ev) ||
	    !*notify_alert_str(alert, "fingerprint") || state_of(alert) == BM_ALERT_PENDING) {
		json_decref(doc);
		quarantine(q, path);
		return 0;
	}
	struct nq_entry *e = entry_new(alert, seq, json_integer_value(ev), json_integer_value(enq),
				       mono_now);
	json_decref(doc);
	if (!e || BM_VEC_RESERVE(q->v, q->cap, q->n + 1)) {
		entry_free(e);
		return BM_ENOMEM;
	}
	e->persisted = true;
	q->v[q->n++] = e;
	q->waiting++;
	if (seq >= q->next_seq)
		q->next_seq = seq + 1;
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	uint64_t x = (*(struct nq_entry *const *)a)->seq, y = (*(struct nq_entry *const *)b)->seq;
	return x < y ? -1 : x > y;
}

static bool is_leftover_tmp(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && strcmp(name + n - 4, ".tmp") == 0;
}

static int load_dir(struct notify_queue *q, int64_t mono_now, struct bm_err *err)
{
	DIR *d = opendir(q->dir);
	if (!d)
		return bm_err_set(err, BM_EIO, "cannot read %s: %s", q->dir, strerror(errno));
	struct dirent *de;
	int rc = 0;
	uint64_t seq;
	while (!rc && (de = readdir(d))) {
		if (parse_entry_name(de->d_name, &seq))
			rc = load_entry(q, seq, mono_now);
		else if (is_leftover_tmp(de->d_name)) /* a write cut short by a crash */
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	if (rc)
		return bm_err_set(err, rc, "out of memory loading %s", q->dir);
	if (q->n)
		qsort(q->v, q->n, sizeof(*q->v), by_seq);
	for (size_t i = 0; i < q->n; i++)
		index_set(q, q->v[i]);
	for (size_t i = 0; i < q->n && q->waiting > q->max; i++)
		notify_queue_settle(q, q->v[i], NQ_EVICTED);
	q->st.loaded = q->n;
	return 0;
}

int notify_queue_open(const char *dir, size_t max, int64_t mono_now, struct notify_queue **out,
		      struct bm_err *err)
{
	struct notify_queue *q = calloc(1, sizeof(*q));
	*out = NULL;
	if (!q || !(q->dir = strdup(dir)) || !(q->newest = json_object())) {
		notify_queue_close(q);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	q->max = max ? max : 1;
	q->next_seq = 1;
	if (notify_mkdirs(dir, 0700)) {
		int rc = bm_err_set(err, BM_EIO, "cannot create %s: %s", dir, strerror(errno));
		notify_queue_close(q);
		return rc;
	}
	int rc = load_dir(q, mono_now, err);
	if (rc) {
		notify_queue_close(q);
		return rc;
	}
	*out = q;
	return 0;
}

void notify_queue_close(struct notify_queue *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		entry_free(q->v[i]);
	free(q->v);
	json_decref(q->newest);
	free(q->dir);
	free(q);
}

size_t notify_queue_len(const struct notify_queue *q) { return q->waiting; }
const struct nq_stats *notify_queue_stats(const struct notify_queue *q) { return &q->st; }

struct nq_entry *notify_queue_at(struct notify_queue *q, size_t i)
{
	return i < q->n ? q->v[i] : NULL;
}

void notify_queue_settle(struct notify_queue *q, struct nq_entry *e, enum nq_fate fate)
{
	if (e->fate == NQ_WAITING && fate != NQ_WAITING)
		q->waiting--;
	e->fate = fate;
}

/* The newest entry of fp if a new alert of state st may replace it. */
static struct nq_entry *mergeable(const struct notify_queue *q, const char *fp,
				  enum bm_alert_state st)
{
	json_t *v = json_object_get(q->newest, fp);
	struct nq_entry *e = v ? find_seq(q, (uint64_t)json_integer_value(v)) : NULL;
	if (!e || e->fate != NQ_WAITING || e->in_flight || e->attempts || e->state != st)
		return NULL;
	return e;
}

static bool evict_oldest(struct notify_queue *q)
{
	for (size_t i = 0; i < q->n; i++) {
		if (q->v[i]->fate == NQ_WAITING && !q->v[i]->in_flight) {
			notify_queue_settle(q, q->v[i], NQ_EVICTED);
			return true;
		}
	}
	return false;
}

int notify_queue_push(struct notify_queue *q, json_t *alert, int64_t event_ms, int64_t wall_ms,
		      int64_t ready_ms, enum nq_push_result *res)
{
	struct nq_entry *dup = mergeable(q, notify_alert_str(alert, "fingerprint"), state_of(alert));
	if (dup) {
		json_incref(alert);
		json_decref(dup->alert);
		dup->alert = alert;
		dup->event_ms = event_ms;
		entry_persist(q, dup);
		q->st.merged++;
		*res = NQ_MERGED;
		return 0;
	}
	if (BM_VEC_RESERVE(q->v, q->cap, q->n + 1))
		return BM_ENOMEM;
	if (q->waiting >= q->max && !evict_oldest(q)) {
		*res = NQ_REJECTED;
		return 0;
	}
	struct nq_entry *e = entry_new(alert, q->next_seq, event_ms, wall_ms, ready_ms);
	if (!e)
		return BM_ENOMEM;
	q->next_seq++;
	q->v[q->n++] = e;
	q->waiting++;
	index_set(q, e);
	entry_persist(q, e);
	*res = NQ_ADDED;
	return 0;
}

size_t notify_queue_pick(struct notify_queue *q, int64_t mono_now, int64_t wall_now,
			 int64_t max_age_ms, size_t max_batch, struct nq_entry **batch,
			 int64_t *wake_ms)
{
	json_t *seen = json_object(); /* fingerprints met so far: later entries wait */
	size_t n = 0;
	bool due = false;
	int64_t wake = INT64_MAX;
	for (size_t i = 0; seen && i < q->n && !(due && n == max_batch); i++) {
		struct nq_entry *e = q->v[i];
		if (e->fate != NQ_WAITING)
			continue;
		bool first = !json_object_get(seen, e->fingerprint);
		if (first && json_object_set_new(seen, e->fingerprint, json_null()))
			first = false; /* out of memory: let it wait */
		if (e->in_flight)
			continue;
		if (max_age_ms && wall_now - e->enqueued_ms > max_age_ms) {
			notify_queue_settle(q, e, NQ_EXPIRED);
			continue;
		}
		if (!first)
			continue;
		int64_t at = e->attempts ? e->next_ms : e->ready_ms;
		if (at <= mono_now)
			due = true;
		else if (at < wake)
			wake = at;
		if ((at <= mono_now || !e->attempts) && n < max_batch)
			batch[n++] = e;
	}
	if (!seen)
		wake = mono_now + 100;
	json_decref(seen);
	if (!due && n < max_batch)
		n = 0;
	for (size_t i = 0; i < n; i++)
		batch[i]->in_flight = true;
	*wake_ms = wake;
	return n;
}

size_t notify_queue_take_settled(struct notify_queue *q, struct nq_entry ***out)
{
	size_t k = 0, kept = 0;
	*out = NULL;
	for (size_t i = 0; i < q->n; i++)
		k += q->v[i]->fate != NQ_WAITING && !q->v[i]->in_flight;
	struct nq_entry **taken = k ? malloc(k * sizeof(*taken)) : NULL;
	if (!taken)
		return 0; /* none, or out of memory: they wait for the next call */
	k = 0;
	for (size_t i = 0; i < q->n; i++) {
		struct nq_entry *e = q->v[i];
		if (e->fate != NQ_WAITING && !e->in_flight) {
			index_drop(q, e);
			taken[k++] = e;
		} else {
			q->v[kept++] = e;
		}
	}
	q->n = kept;
	*out = taken;
	return k;
}

void notify_queue_forget(struct notify_queue *q, struct nq_entry *e)
{
	char path[PATH_MAX];
	if (e->persisted) {
		entry_path(q, e->seq, path, sizeof(path));
		unlink(path);
	}
	entry_free(e);
}

/* =====================================================================
 * The notifier: subscription, worker thread, events, self-metrics
 * ===================================================================== */

struct notify_stats {
	uint64_t received, skipped, queued, merged, delivered, failed, dropped;
	uint64_t attempts, attempt_failures, events_lost;
	double queue_length;
	double delivery_delay_s; /* event to delivery, the latest delivered alert */
};

static const struct {
	const char *name;
	const char *help;
	size_t off;
} notify_counters[] = {
	{"bearmon_notifier_alerts_received_total", "alert events received",
	 offsetof(struct notify_stats, received)},
	{"bearmon_notifier_alerts_skipped_total",
	 "alert events not for this notifier: routed elsewhere, pending, silenced, acknowledged, "
	 "below min_severity, resolved without send_resolved",
	 offsetof(struct notify_stats, skipped)},
	{"bearmon_notifier_alerts_queued_total", "alerts written to the queue",
	 offsetof(struct notify_stats, queued)},
	{"bearmon_notifier_alerts_merged_total",
	 "alerts that replaced a queued duplicate (same fingerprint and state) not yet attempted",
	 offsetof(struct notify_stats, merged)},
	{"bearmon_notifier_alerts_delivered_total", "alerts delivered",
	 offsetof(struct notify_stats, delivered)},
	{"bearmon_notifier_alerts_failed_total",
	 "alerts given up: refused for good by the receiver, or max_attempts reached",
	 offsetof(struct notify_stats, failed)},
	{"bearmon_notifier_alerts_dropped_total",
	 "alerts never delivered: queue full, older than max_age, undecodable",
	 offsetof(struct notify_stats, dropped)},
	{"bearmon_notifier_attempts_total", "delivery attempts (one per receiver and request)",
	 offsetof(struct notify_stats, attempts)},
	{"bearmon_notifier_attempt_failures_total", "delivery attempts that failed",
	 offsetof(struct notify_stats, attempt_failures)},
	{"bearmon_notifier_events_lost_total", "notification events the bus did not take",
	 offsetof(struct notify_stats, events_lost)},
};

/* One attempt recorded during a delivery. */
struct recorded {
	struct notify_attempt a;
	char receiver[512];
	size_t first, count; /* items covered */
};

struct notify {
	struct bm_ctx *ctx;
	const struct notify_conf *conf;
	struct notify_params p;
	char name[192];           /* PLUGIN:INSTANCE, the events' notifier */
	char *dir;
	struct notify_queue *q;   /* under lock */
	pthread_mutex_t lock;
	pthread_cond_t wake;      /* CLOCK_MONOTONIC: a new alert, or stop */
	bool sync_ready;
	pthread_t worker;
	bool running;
	bool stopping;            /* under lock */
	int stop_fd;              /* eventfd, readable from stop on */
	bool curl_ready;
	struct bm_sub *sub;
	struct bm_arena arena;    /* subscription thread: the decoded alert */
	struct bm_buf sub_buf;    /* subscription thread: event bodies */
	struct bm_buf work_buf;   /* worker: event bodies */
	CURLM *multi;             /* worker: transfers, kept connections */
	struct notify_item *cur;  /* worker: the delivery in progress */
	size_t n_cur;
	struct recorded *rec;
	size_t n_rec, cap_rec;
	unsigned seed;            /* backoff jitter */
	struct notify_stats st;
};

#define STAT_ADD(n, field, v) __atomic_add_fetch(&(n)->st.field, (uint64_t)(v), __ATOMIC_RELAXED)

static void gauge_set(double *g, double v)
{
	__atomic_store(g, &v, __ATOMIC_RELAXED);
}

struct bm_ctx *notify_ctx(const struct notify *n) { return n->ctx; }
const char *notify_name(const struct notify *n) { return n->name; }
const char *notify_dir(const struct notify *n) { return n->dir; }
int notify_stop_fd(const struct notify *n) { return n->stop_fd; }

bool notify_stopping(struct notify *n)
{
	pthread_mutex_lock(&n->lock);
	bool s = n->stopping;
	pthread_mutex_unlock(&n->lock);
	return s;
}

static void publish_event(struct notify *n, struct bm_buf *buf,
			  const struct bm_notification_event *ev)
{
	int rc = bm_notification_encode(ev, buf);
	if (!rc)
		rc = bm_bus_publish(n->ctx, BM_TOPIC_NOTIFICATION, buf->data, buf->len);
	if (rc)
		STAT_ADD(n, events_lost, 1);
}

/* A DROPPED event and a log line for an alert that was never delivered. */
static void announce_drop(struct notify *n, struct bm_buf *buf, const char *fp,
			  enum bm_alert_state st, uint32_t attempts, const char *why)
{
	const char *fps[1] = {fp};
	struct bm_notification_event ev = {
		.ts_ms = bm_now_ms(n->ctx), .notifier = n->name, .fingerprints = fps,
		.n_fingerprints = 1, .alert_state = st, .attempt = attempts,
		.outcome = BM_NOTIFY_DROPPED, .error = why,
	};
	publish_event(n, buf, &ev);
	STAT_ADD(n, dropped, 1);
	bm_log_warn(n->ctx, "alert %s (%s) dropped after %u attempts: %s", fp, state_names[st],
		    attempts, why);
}

static void set_queue_gauge(struct notify *n)
{
	gauge_set(&n->st.queue_length, (double)notify_queue_len(n->q));
}

/* Count and announce entries out of the queue, then delete them. */
static void finish_settled(struct notify *n, struct bm_buf *buf, struct nq_entry **taken, size_t k)
{
	char why[96];
	for (size_t i = 0; i < k; i++) {
		struct nq_entry *e = taken[i];
		switch (e->fate) {
		case NQ_DELIVERED:
			STAT_ADD(n, delivered, 1);
			gauge_set(&n->st.delivery_delay_s,
				  (double)(bm_now_ms(n->ctx) - e->event_ms) / 1000.0);
			break;
		case NQ_FAILED:
			STAT_ADD(n, failed, 1);
			break;
		case NQ_EXPIRED:
			snprintf(why, sizeof(why), "not delivered within max_age (%lld ms)",
				 (long long)n->conf->max_age_ms);
			announce_drop(n, buf, e->fingerprint, e->state, e->attempts, why);
			break;
		default:
			snprintf(why, sizeof(why), "queue full (queue_max %lld)",
				 (long long)n->conf->queue_max);
			announce_drop(n, buf, e->fingerprint, e->state, e->attempts, why);
			break;
		}
		notify_queue_forget(n->q, e);
	}
	free(taken);
}

/* Alerts this notifier announces. */
static bool wanted(const struct notify *n, const struct bm_alert_event *e)
{
	if (!notify_routed_to(e, bm_instance_name(n->ctx), n->name))
		return false;
	if (e->state == BM_ALERT_PENDING || e->silenced || (int)e->severity < n->conf->min_severity)
		return false;
	if (e->state == BM_ALERT_RESOLVED)
		return n->conf->send_resolved;
	/* acknowledged: not re-notified until it resolves or the ack expires */
	return !e->ack.by || (e->ack.expires_ms && e->ack.expires_ms <= e->ts_ms);
}

/* Queue alert, taking the caller's reference. Once queued the reference is
 * dropped under the lock: the worker, which may deliver and free the alert
 * at once, must never race with this thread's decrement. */
static void enqueue(struct notify *n, json_t *alert, int64_t event_ms)
{
	enum nq_push_result res = NQ_REJECTED;
	struct nq_entry **taken;
	pthread_mutex_lock(&n->lock);
	int rc = notify_queue_push(n->q, alert, event_ms, bm_now_ms(n->ctx),
				   notify_mono_ms() + n->p.group_wait_ms, &res);
	bool queued = !rc && res != NQ_REJECTED;
	if (queued)
		json_decref(alert);
	size_t k = notify_queue_take_settled(n->q, &taken);
	set_queue_gauge(n);
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
	finish_settled(n, &n->sub_buf, taken, k);
	if (queued) {
		STAT_ADD(n, queued, res == NQ_ADDED);
		STAT_ADD(n, merged, res == NQ_MERGED);
		return;
	}
	announce_drop(n, &n->sub_buf, notify_alert_str(alert, "fingerprint"), state_of(alert), 0,
		      rc ? "out of memory" : "queue full and every entry in flight");
	json_decref(alert);
}

/* The `alert` subscription (its own delivery thread): filter and queue. */
static void on_alert(void *user, const char *topic, const void *body, size_t len)
{
	struct notify *n = user;
	struct bm_alert_event e;
	(void)topic;
	STAT_ADD(n, received, 1);
	bm_arena_reset(&n->arena);
	if (bm_alert_decode(body, len, &e, &n->arena)) {
		STAT_ADD(n, dropped, 1);
		bm_log_warn(n->ctx, "undecodable alert event (%zu bytes) dropped", len);
		return;
	}
	if (!wanted(n, &e)) {
		STAT_ADD(n, skipped, 1);
		return;
	}
	json_t *a = notify_alert_json(&e);
	if (!a) {
		STAT_ADD(n, dropped, 1);
		bm_log_err(n->ctx, "alert %s dropped: out of memory", e.fingerprint);
		return;
	}
	enqueue(n, a, e.ts_ms);
}

void notify_record(struct notify *n, const struct notify_attempt *a, struct notify_item *items,
		   size_t n_items)
{
	if (!n->cur || !n_items || items < n->cur || items + n_items > n->cur + n->n_cur) {
		bm_log_err(n->ctx, "bug: an attempt recorded outside the delivery in progress");
		return;
	}
	for (size_t j = 0; j < n_items; j++)
		if (a->verdict > items[j].verdict)
			items[j].verdict = a->verdict;
	if (BM_VEC_RESERVE(n->rec, n->cap_rec, n->n_rec + 1)) {
		STAT_ADD(n, events_lost, 1);
		return;
	}
	struct recorded *r = &n->rec[n->n_rec++];
	r->a = *a;
	snprintf(r->receiver, sizeof(r->receiver), "%s", a->receiver ? a->receiver : "");
	r->a.receiver = NULL;
	r->first = (size_t)(items - n->cur);
	r->count = n_items;
}

static void run_delivery(struct notify *n, struct notify_item *items, size_t k)
{
	n->cur = items;
	n->n_cur = k;
	n->n_rec = 0;
	n->p.deliver(n->p.user, n, items, k);
	n->cur = NULL;
	n->n_cur = 0;
}

/* After an attempt: delivered, given up, or the wall-clock time of the
 * retry (returned; 0 when none). Under the lock. */
static int64_t settle_attempt(struct notify *n, struct nq_entry *e, enum notify_verdict v,
			      int64_t mono, int64_t wall)
{
	e->attempts++;
	if (v == NOTIFY_DELIVERED) {
		notify_queue_settle(n->q, e, NQ_DELIVERED);
		return 0;
	}
	if (v != NOTIFY_TRANSIENT ||
	    (n->conf->max_attempts && e->attempts >= (uint64_t)n->conf->max_attempts)) {
		notify_queue_settle(n->q, e, NQ_FAILED);
		return 0;
	}
	int64_t d = notify_backoff_ms(n->conf->retry_initial_ms, n->conf->retry_max_ms, e->attempts);
	/* up to 10% jitter, so that many hosts do not return to a receiver in step */
	d += (int64_t)((unsigned)rand_r(&n->seed) % (unsigned)(d / 10 + 1));
	e->next_ms = mono + d;
	return wall + d;
}

/* Every alert of a failed attempt went through another attempt (another
 * Alertmanager of a cluster): worth a warning, not an error. */
static bool delivered_elsewhere(const struct recorded *r, const struct notify_item *items)
{
	for (size_t j = r->first; j < r->first + r->count; j++)
		if (items[j].verdict != NOTIFY_DELIVERED)
			return false;
	return true;
}

/* The event of one recorded attempt; retry_at per item (NULL: no retries). */
static void announce_attempt(struct notify *n, const struct recorded *r,
			     const struct notify_item *items, const int64_t *retry_at,
			     const char *group_key)
{
	const char **fps = calloc(r->count, sizeof(*fps));
	struct bm_notification_event ev = {
		.ts_ms = bm_now_ms(n->ctx), .notifier = n->name, .receiver = r->receiver,
		.group_key = group_key, .fingerprints = fps, .alert_state = BM_ALERT_RESOLVED,
		.latency_ms = r->a.latency_ms, .status_code = r->a.status_code,
		.error = r->a.verdict == NOTIFY_DELIVERED ? NULL : r->a.error,
	};
	for (size_t j = r->first; j < r->first + r->count; j++) {
		if (fps)
			fps[ev.n_fingerprints++] = items[j].fingerprint;
		if (items[j].state == BM_ALERT_FIRING)
			ev.alert_state = BM_ALERT_FIRING;
		if (items[j].attempt > ev.attempt)
			ev.attempt = items[j].attempt;
		if (retry_at && retry_at[j] && (!ev.next_retry_ms || retry_at[j] < ev.next_retry_ms))
			ev.next_retry_ms = retry_at[j];
	}
	ev.outcome = r->a.verdict == NOTIFY_DELIVERED ? BM_NOTIFY_OK
		     : ev.next_retry_ms		   ? BM_NOTIFY_RETRYING
						   : BM_NOTIFY_FAILED;
	publish_event(n, &n->work_buf, &ev);
	free(fps);
	STAT_ADD(n, attempts, 1);
	if (ev.outcome == BM_NOTIFY_OK)
		return;
	STAT_ADD(n, attempt_failures, 1);
	if (delivered_elsewhere(r, items))
		bm_log_warn(n->ctx, "%s: attempt %u with %zu alerts failed: %s; another receiver took them",
			    r->receiver, ev.attempt, r->count, ev.error);
	else if (ev.outcome == BM_NOTIFY_RETRYING)
		bm_log_warn(n->ctx, "%s: attempt %u with %zu alerts failed: %s; next in %lld ms",
			    r->receiver, ev.attempt, r->count, ev.error,
			    (long long)(ev.next_retry_ms - ev.ts_ms));
	else
		bm_log_err(n->ctx, "%s: gave up %zu alerts after attempt %u: %s", r->receiver,
			   r->count, ev.attempt, ev.error);
}

static void announce_attempts(struct notify *n, const struct notify_item *items,
			      const int64_t *retry_at, const char *group_key)
{
	for (size_t i = 0; i < n->n_rec; i++)
		announce_attempt(n, &n->rec[i], items, retry_at, group_key);
}

/* Deliver picked entries (in flight), settle them, announce the attempts. */
static void deliver_batch(struct notify *n, struct nq_entry **batch, size_t k,
			  struct notify_item *items, int64_t *retry_at)
{
	struct nq_entry **taken;
	for (size_t i = 0; i < k; i++)
		items[i] = (struct notify_item){batch[i]->alert, batch[i]->fingerprint,
						batch[i]->state, batch[i]->attempts + 1, NOTIFY_NONE};
	run_delivery(n, items, k);
	pthread_mutex_lock(&n->lock);
	int64_t mono = notify_mono_ms(), wall = bm_now_ms(n->ctx);
	for (size_t i = 0; i < k; i++)
		retry_at[i] = settle_attempt(n, batch[i], items[i].verdict, mono, wall);
	pthread_mutex_unlock(&n->lock);
	announce_attempts(n, items, retry_at, NULL); /* entries stay in flight: items valid */
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < k; i++)
		batch[i]->in_flight = false;
	size_t m = notify_queue_take_settled(n->q, &taken);
	set_queue_gauge(n);
	pthread_mutex_unlock(&n->lock);
	finish_settled(n, &n->work_buf, taken, m);
}

void notify_send_unqueued(struct notify *n, json_t *alerts, const char *group_key)
{
	size_t total = json_array_size(alerts), chunk = n->p.max_batch;
	struct notify_item *items = calloc(chunk, sizeof(*items));
	for (size_t off = 0; items && off < total; off += chunk) {
		size_t k = total - off < chunk ? total - off : chunk;
		for (size_t i = 0; i < k; i++) {
			json_t *a = json_array_get(alerts, off + i);
			items[i] = (struct notify_item){a, notify_alert_str(a, "fingerprint"),
							state_of(a), 1, NOTIFY_NONE};
		}
		run_delivery(n, items, k);
		announce_attempts(n, items, NULL, group_key);
	}
	free(items);
}

/* Sleep until mono deadline (INT64_MAX: until signalled). Under the lock. */
static void wait_until(struct notify *n, int64_t deadline)
{
	if (deadline == INT64_MAX) {
		pthread_cond_wait(&n->wake, &n->lock);
		return;
	}
	struct timespec ts = {deadline / 1000, (long)(deadline % 1000) * 1000000L};
	pthread_cond_timedwait(&n->wake, &n->lock, &ts);
}

struct worker_bufs {
	struct nq_entry **batch;
	struct notify_item *items;
	int64_t *retry_at;
};

/* One round under the lock: a tick, expired entries, or a delivery.
 * Returns false when there was nothing to do until *wake. */
static bool worker_round(struct notify *n, struct worker_bufs *b, int64_t *next_tick,
			 int64_t *wake)
{
	struct nq_entry **taken;
	int64_t now = notify_mono_ms();
	if (now >= *next_tick) {
		pthread_mutex_unlock(&n->lock);
		n->p.tick(n->p.user, n);
		pthread_mutex_lock(&n->lock);
		*next_tick = notify_mono_ms() + n->p.tick_ms;
		return true;
	}
	size_t k = notify_queue_pick(n->q, now, bm_now_ms(n->ctx), n->conf->max_age_ms,
				     n->p.max_batch, b->batch, wake);
	size_t m = notify_queue_take_settled(n->q, &taken);
	if (!k && !m)
		return false;
	set_queue_gauge(n);
	pthread_mutex_unlock(&n->lock);
	finish_settled(n, &n->work_buf, taken, m);
	if (k)
		deliver_batch(n, b->batch, k, b->items, b->retry_at);
	pthread_mutex_lock(&n->lock);
	return true;
}

static void *worker_main(void *arg)
{
	struct notify *n = arg;
	size_t cap = n->p.max_batch;
	struct worker_bufs b = {calloc(cap, sizeof(*b.batch)), calloc(cap, sizeof(*b.items)),
				calloc(cap, sizeof(*b.retry_at))};
	int64_t next_tick = n->p.tick ? notify_mono_ms() + n->p.tick_ms : INT64_MAX;
	if (!b.batch || !b.items || !b.retry_at)
		bm_log_err(n->ctx, "out of memory: the worker cannot run; alerts stay queued");
	pthread_mutex_lock(&n->lock);
	while (!n->stopping && b.batch && b.items && b.retry_at) {
		int64_t wake = INT64_MAX;
		if (!worker_round(n, &b, &next_tick, &wake) && !n->stopping)
			wait_until(n, wake < next_tick ? wake : next_tick);
	}
	pthread_mutex_unlock(&n->lock);
	free(b.batch);
	free(b.items);
	free(b.retry_at);
	return NULL;
}

static void register_metrics(struct notify *n)
{
	for (size_t i = 0; i < sizeof(notify_counters) / sizeof(notify_counters[0]); i++)
		bm_self_counter(n->ctx, notify_counters[i].name, notify_counters[i].help,
				(const uint64_t *)((const char *)&n->st + notify_counters[i].off));
	bm_self_gauge(n->ctx, "bearmon_notifier_queue_length", "alerts waiting for delivery",
		      &n->st.queue_length);
	bm_self_gauge(n->ctx, "bearmon_notifier_delivery_delay_seconds",
		      "from the alert event to its delivery, for the latest delivered alert",
		      &n->st.delivery_delay_s);
}

static int init_sync(struct notify *n)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca))
		return BM_ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&n->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (rc)
		return BM_ENOMEM;
	if (pthread_mutex_init(&n->lock, NULL)) {
		pthread_cond_destroy(&n->wake);
		return BM_ENOMEM;
	}
	n->sync_ready = true;
	return 0;
}

static int open_resources(struct notify *n, struct bm_err *err)
{
	const char *inst = bm_instance_name(n->ctx);
	snprintf(n->name, sizeof(n->name), "%s:%s", n->p.plugin, inst);
	if (asprintf(&n->dir, "%s/notify/%s", bm_data_dir(n->ctx), inst) < 0) {
		n->dir = NULL;
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	if ((n->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return bm_err_set(err, BM_EIO, "eventfd: %s", strerror(errno));
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return bm_err_set(err, BM_EIO, "cannot initialise libcurl");
	n->curl_ready = true;
	if (!(n->multi = curl_multi_init()) || init_sync(n))
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	return notify_queue_open(n->dir, (size_t)n->conf->queue_max, notify_mono_ms(), &n->q, err);
}

int notify_new(struct bm_ctx *ctx, const struct notify_conf *conf,
	       const struct notify_params *params, struct notify **out, struct bm_err *err)
{
	*out = NULL;
	if (!params->deliver || (params->tick && params->tick_ms <= 0))
		return bm_err_set(err, BM_EINVAL, "bug: notify_params without deliver or tick_ms");
	struct notify *n = calloc(1, sizeof(*n));
	if (!n)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	n->ctx = ctx;
	n->conf = conf;
	n->p = *params;
	n->p.max_batch = n->p.max_batch ? n->p.max_batch : 1;
	n->stop_fd = -1;
	n->seed = (unsigned)getpid() ^ (unsigned)notify_mono_ms();
	int rc = open_resources(n, err);
	if (rc) {
		notify_free(n);
		return rc;
	}
	const struct nq_stats *qs = notify_queue_stats(n->q);
	if (qs->loaded)
		bm_log_notice(ctx, "%llu alerts from the previous run wait in %s",
			      (unsigned long long)qs->loaded, n->dir);
	if (qs->corrupt)
		bm_log_warn(ctx, "%llu unreadable queue files in %s renamed *.corrupt",
			    (unsigned long long)qs->corrupt, n->dir);
	set_queue_gauge(n);
	register_metrics(n);
	*out = n;
	return 0;
}

int notify_start(struct notify *n, struct bm_err *err)
{
	uint64_t drained;
	n->stopping = false;
	if (read(n->stop_fd, &drained, sizeof(drained)) < 0 && errno != EAGAIN)
		return bm_err_set(err, BM_EIO, "eventfd: %s", strerror(errno));
	if (pthread_create(&n->worker, NULL, worker_main, n))
		return bm_err_set(err, BM_EIO, "cannot start the delivery thread");
	n->running = true;
	struct bm_sub_opts o = {.size = sizeof(o), .topic = BM_TOPIC_ALERT, .policy = BM_SUB_BLOCK};
	int rc = bm_bus_subscribe(n->ctx, &o, on_alert, n, &n->sub);
	if (rc) {
		n->sub = NULL;
		notify_stop(n);
		return bm_err_set(err, rc, "cannot subscribe to %s: %s", BM_TOPIC_ALERT,
				  bm_strerror(rc));
	}
	return 0;
}

void notify_stop(struct notify *n)
{
	if (n->sub)
		bm_bus_unsubscribe(n->sub);
	n->sub = NULL;
	if (!n->running)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
	uint64_t one = 1;
	if (write(n->stop_fd, &one, sizeof(one)) < 0)
		bm_log_warn(n->ctx, "cannot signal the delivery thread: %s", strerror(errno));
	pthread_join(n->worker, NULL);
	n->running = false;
}

void notify_free(struct notify *n)
{
	if (!n)
		return;
	notify_stop(n);
	notify_queue_close(n->q);
	if (n->multi)
		curl_multi_cleanup(n->multi);
	if (n->curl_ready)
		curl_global_cleanup();
	if (n->stop_fd >= 0)
		close(n->stop_fd);
	if (n->sync_ready) {
		pthread_mutex_destroy(&n->lock);
		pthread_cond_destroy(&n->wake);
	}
	bm_arena_free(&n->arena);
	bm_buf_free(&n->sub_buf);
	bm_buf_free(&n->work_buf);
	free(n->rec);
	free(n->dir);
	free(n);
}

/* =====================================================================
 * libcurl
 * ===================================================================== */

static int tls_file_check(const char *what, const char *path, struct bm_err *err)
{
	if (path && *path && access(path, R_OK))
		return bm_err_set(err, BM_EINVAL, "tls.%s %s: %s", what, path, strerror(errno));
	return 0;
}

int notify_tls_check(const struct notify_tls_conf *tls, struct bm_err *err)
{
	int rc = tls_file_check("ca_file", tls->ca_file, err);
	if (!rc)
		rc = tls_file_check("cert_file", tls->cert_file, err);
	if (!rc)
		rc = tls_file_check("key_file", tls->key_file, err);
	return rc;
}

/* A header line must not smuggle in another: no CR or LF, a token as name. */
static int header_check(const char *name, const char *value, struct bm_err *err)
{
	bool ok = *name != '\0';
	for (const char *p = name; *p; p++)
		ok &= isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p) != NULL;
	if (!ok)
		return bm_err_set(err, BM_EINVAL, "header name \"%s\" is not a token", name);
	if (strpbrk(value, "\r\n"))
		return bm_err_set(err, BM_EINVAL, "header %s: value holds a line break", name);
	return 0;
}

int notify_http_check(const struct notify_http_conf *hc, struct bm_err *err)
{
	int rc = notify_tls_check(&hc->tls, err);
	for (size_t i = 0; !rc && i < hc->headers.n; i++)
		rc = header_check(hc->headers.keys[i], hc->headers.values[i], err);
	if (!rc && hc->bearer_token)
		rc = header_check("Authorization", hc->bearer_token, err);
	return rc;
}

int notify_header_check(const char *name, const char *value, struct bm_err *err)
{
	return header_check(name, value, err);
}

void notify_curl_setup(CURL *c, int64_t timeout_ms, const struct notify_tls_conf *tls)
{
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bearmon-notifier");
	if (tls->ca_file && *tls->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca_file);
	if (tls->cert_file && *tls->cert_file)
		curl_easy_setopt(c, CURLOPT_SSLCERT, tls->cert_file);
	if (tls->key_file && *tls->key_file)
		curl_easy_setopt(c, CURLOPT_SSLKEY, tls->key_file);
	if (tls->insecure_skip_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

CURLcode notify_curl_perform(struct notify *n, CURL *c)
{
	if (curl_multi_add_handle(n->multi, c) != CURLM_OK)
		return CURLE_FAILED_INIT;
	int running = 1;
	bool stopped = false;
	CURLMcode mc = CURLM_OK;
	while (!stopped) {
		mc = curl_multi_perform(n->multi, &running);
		if (mc != CURLM_OK || !running)
			break;
		struct curl_waitfd w = {.fd = n->stop_fd, .events = CURL_WAIT_POLLIN};
		mc = curl_multi_poll(n->multi, &w, 1, 1000, NULL);
		if (mc != CURLM_OK)
			break;
		stopped = w.revents != 0;
	}
	CURLcode rc = stopped ? CURLE_ABORTED_BY_CALLBACK : CURLE_FAILED_INIT;
	CURLMsg *m;
	int left;
	while (!stopped && (m = curl_multi_info_read(n->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == c)
			rc = m->data.result;
	curl_multi_remove_handle(n->multi, c);
	return rc;
}

enum notify_verdict notify_http_verdict(CURLcode rc, long status)
{
	if (rc != CURLE_OK || status == 0)
		return NOTIFY_TRANSIENT; /* the receiver may be back soon */
	if (status >= 200 && status < 300)
		return NOTIFY_DELIVERED;
	if (status == 408 || status == 429 || status >= 500)
		return NOTIFY_TRANSIENT;
	return NOTIFY_PERMANENT;
}

void notify_url_redact(const char *url, char *out, size_t n)
{
	CURLU *u = curl_url();
	char *clean = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
		curl_url_set(u, CURLUPART_USER, NULL, 0);
		curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
		curl_url_set(u, CURLUPART_QUERY, NULL, 0); /* tokens travel there too */
		curl_url_get(u, CURLUPART_URL, &clean, 0);
	}
	snprintf(out, n, "%s", clean ? clean : "(unparsable url)");
	curl_free(clean);
	curl_url_cleanup(u);
}

/* The start of the response body, for the error text. */
struct response_head {
	char text[160];
	size_t len;
};

static size_t keep_head(char *p, size_t size, size_t nmemb, void *user)
{
	struct response_head *h = user;
	size_t n = size * nmemb, room = sizeof(h->text) - 1 - h->len;
	memcpy(h->text + h->len, p, n < room ? n : room);
	h->len += n < room ? n : room;
	h->text[h->len] = '\0';
	return n;
}

static struct curl_slist *http_headers(const struct notify_http_conf *hc, const char *content_type,
				       const struct curl_slist *extra, bool *ok)
{
	struct curl_slist *h = NULL;
	char line[1024];
	*ok = true;
	snprintf(line, sizeof(line), "Content-Type: %s", content_type);
	*ok &= (h = curl_slist_append(h, line)) != NULL;
	for (size_t i = 0; *ok && i < hc->headers.n; i++) {
		snprintf(line, sizeof(line), "%s: %s", hc->headers.keys[i], hc->headers.values[i]);
		*ok &= curl_slist_append(h, line) != NULL;
	}
	if (*ok && hc->bearer_token && *hc->bearer_token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", hc->bearer_token);
		*ok &= curl_slist_append(h, line) != NULL;
	}
	for (; *ok && extra; extra = extra->next)
		*ok &= curl_slist_append(h, extra->data) != NULL;
	return h;
}

void notify_http_post(struct notify *n, const struct notify_http_conf *hc, const char *url,
		      const char *content_type, const char *body, size_t len,
		      struct curl_slist *extra, struct notify_attempt *a, char *recv, size_t recv_n)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct response_head head = {.len = 0};
	bool ok;
	notify_url_redact(url, recv, recv_n);
	a->receiver = recv;
	a->error[0] = '\0';
	CURL *c = curl_easy_init();
	struct curl_slist *h = http_headers(hc, content_type, extra, &ok);
	int64_t t0 = notify_mono_ms();
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	long status = 0;
	if (c && ok) {
		notify_curl_setup(c, hc->timeout_ms, &hc->tls);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_head);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &head);
		if (hc->basic_auth.username && *hc->basic_auth.username) {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(c, CURLOPT_USERNAME, hc->basic_auth.username);
			curl_easy_setopt(c, CURLOPT_PASSWORD,
					 hc->basic_auth.password ? hc->basic_auth.password : "");
		}
		rc = notify_curl_perform(n, c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	}
	a->latency_ms = notify_mono_ms() - t0;
	a->status_code = status;
	a->verdict = notify_http_verdict(rc, status);
	if (rc != CURLE_OK)
		snprintf(a->error, sizeof(a->error), "%s",
			 rc == CURLE_ABORTED_BY_CALLBACK ? "interrupted: the notifier stopped"
			 : errbuf[0]			  ? errbuf
							  : curl_easy_strerror(rc));
	else if (a->verdict != NOTIFY_DELIVERED)
		snprintf(a->error, sizeof(a->error), "HTTP %ld: %s", status, head.text);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}
