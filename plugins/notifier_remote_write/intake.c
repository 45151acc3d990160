/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The subscription side of remote_write (see intake.h): decode the event,
 * find each sample's series in a table keyed by its input identity (an
 * open addressing index over a dense array, as collector_scrape's
 * series.c), decide new series once, append (ref, ts, value) records.
 */
#define _GNU_SOURCE
#include "intake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/expfmt.h"
#include "codec.h"

#define SWEEP_EVERY_MS (60 * 1000)
#define ERROR_LOG_EVERY_MS (10 * 1000)

/* ---- external labels ------------------------------------------------- */

static int append_var(struct bm_buf *b, const char *name, size_t n)
{
	char var[256], host[256];
	snprintf(var, sizeof(var), "%.*s", (int)(n < 255 ? n : 255), name);
	const char *v = getenv(var);
	if (!v && strcmp(var, "HOSTNAME") == 0 && gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		v = host;
	}
	return v ? bm_buf_append(b, v, strlen(v)) : 0;
}

char *rw_expand_env(const char *v)
{
	struct bm_buf b = {0};
	int rc = 0;
	for (const char *p = v; *p && !rc;) {
		const char *close = p[0] == '$' && p[1] == '{' ? strchr(p + 2, '}') : NULL;
		if (close) {
			rc = append_var(&b, p + 2, (size_t)(close - p - 2));
			p = close + 1;
		} else {
			rc = bm_buf_append(&b, p, 1);
			p += p[0] == '$' && p[1] == '$' ? 2 : 1;
		}
	}
	rc = rc ? rc : bm_buf_append(&b, "", 1);
	if (rc) {
		bm_buf_free(&b);
		return NULL;
	}
	return b.data;
}

static int external_labels(struct rw_intake *in, const struct bm_map *m, struct bm_err *err)
{
	in->ext = calloc(m->n ? m->n : 1, sizeof(*in->ext));
	if (!in->ext)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n; i++) {
		const char *name = m->keys[i];
		if (!expfmt_valid_label_name(name) || strcmp(name, "__name__") == 0)
			return bm_err_set(err, BM_EINVAL, "external_labels: \"%s\" is not a label name",
					  name);
		char *v = rw_expand_env(m->values[i]);
		if (!v)
			return bm_err_set(err, BM_ENOMEM, "out of memory");
		if (!*v) {
			bm_log_warn(in->ctx, "external label %s = \"%s\" is empty: left out", name,
				    m->values[i]);
			free(v);
			continue;
		}
		in->ext[in->n_ext++] = (struct bm_label){name, v};
	}
	bm_labels_sort(in->ext, in->n_ext);
	return 0;
}

/* ---- selectors ------------------------------------------------------- */

static int parse_selectors(const struct bm_strlist *l, const char *what,
			   struct al_selector **out, size_t *n, struct bm_err *err)
{
	*out = calloc(l->n ? l->n : 1, sizeof(**out));
	if (!*out)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < l->n; i++) {
		char why[256];
		if (al_selector_parse(l->v[i], false, &(*out)[i], why, sizeof(why)))
			return bm_err_set(err, BM_EINVAL, "%s.%zu \"%s\": %s", what, i, l->v[i], why);
		*n = i + 1;
	}
	return 0;
}

static bool selector_matches(const struct al_selector *s, const struct bm_sample *smp)
{
	return al_selector_match_name(s, smp->name) &&
	       al_selector_match_labels(s, smp->labels, smp->n_labels);
}

static bool selected(const struct rw_intake *in, const struct bm_sample *s)
{
	bool in_set = in->n_include == 0;
	for (size_t i = 0; !in_set && i < in->n_include; i++)
		in_set = selector_matches(&in->include[i], s);
	for (size_t i = 0; in_set && i < in->n_exclude; i++)
		in_set = !selector_matches(&in->exclude[i], s);
	return in_set;
}

int rw_intake_init(struct rw_intake *in, struct bm_ctx *ctx, const struct rw_conf *c,
		   struct rw_stats *st, struct bm_err *err)
{
	memset(in, 0, sizeof(*in));
	in->ctx = ctx;
	in->st = st;
	rwq_batch_reset(&in->batch);
	int rc = parse_selectors(&c->include, "include", &in->include, &in->n_include, err);
	rc = rc ? rc : parse_selectors(&c->exclude, "exclude", &in->exclude, &in->n_exclude, err);
	rc = rc ? rc : relabel_compile(&in->relabel, &c->write_relabel_configs,
				       "write_relabel_configs", err);
	return rc ? rc : external_labels(in, &c->external_labels, err);
}

/* ---- the series table ------------------------------------------------ */

static uint64_t sample_hash(const struct bm_sample *s)
{
	uint64_t h = rw_hash_bytes(0, s->name, strlen(s->name));
	for (uint32_t i = 0; i < s->n_labels; i++) {
		h = rw_hash_bytes(h, s->labels[i].name, strlen(s->labels[i].name));
		h = rw_hash_bytes(h, s->labels[i].value, strlen(s->labels[i].value));
	}
	return h;
}

/* Does the stored identity at *p match str (NUL included)? Advances *p. */
static bool key_part(const char **p, const char *end, const char *str)
{
	size_t n = strlen(str) + 1;
	if ((size_t)(end - *p) < n || memcmp(*p, str, n) != 0)
		return false;
	*p += n;
	return true;
}

static bool key_equal(const struct in_entry *e, const struct bm_sample *s)
{
	const char *p = e->key, *end = e->key + e->key_len;
	bool eq = key_part(&p, end, s->name);
	for (uint32_t i = 0; eq && i < s->n_labels; i++)
		eq = key_part(&p, end, s->labels[i].name) && key_part(&p, end, s->labels[i].value);
	return eq && p == end;
}

static size_t slot_of(uint64_t h, size_t cap)
{
	return (size_t)((h * 0x9e3779b97f4a7c15ULL) >> 11) & (cap - 1);
}

/* The slot of s's entry, or of the empty slot where it would go. */
static size_t probe(const struct rw_intake *in, uint64_t h, const struct bm_sample *s)
{
	size_t i = slot_of(h, in->index_cap);
	for (; in->index[i]; i = (i + 1) & (in->index_cap - 1)) {
		const struct in_entry *e = &in->v[in->index[i] - 1];
		if (e->hash == h && key_equal(e, s))
			break;
	}
	return i;
}

static void place(struct rw_intake *in, size_t k)
{
	size_t i = slot_of(in->v[k].hash, in->index_cap);
	while (in->index[i])
		i = (i + 1) & (in->index_cap - 1);
	in->index[i] = (uint32_t)k + 1;
}

static int reindex(struct rw_intake *in, size_t cap)
{
	if (cap != in->index_cap) {
		uint32_t *idx = calloc(cap, sizeof(*idx));
		if (!idx)
			return BM_ENOMEM;
		free(in->index);
		in->index = idx;
		in->index_cap = cap;
	} else {
		memset(in->index, 0, cap * sizeof(*in->index));
	}
	for (size_t k = 0; k < in->n; k++)
		place(in, k);
	return 0;
}

static int reserve_entry(struct rw_intake *in)
{
	if (in->n == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 1024;
		struct in_entry *v = realloc(in->v, cap * sizeof(*v));
		if (!v)
			return BM_ENOMEM;
		in->v = v;
		in->cap = cap;
	}
	if ((in->n + 1) * 2 > in->index_cap)
		return reindex(in, in->index_cap ? in->index_cap * 2 : 2048);
	return 0;
}

/* ---- deciding a new series ------------------------------------------- */

/* The label set as sent, in in->ls: false when the series is not sent. */
static bool final_labels(struct rw_intake *in, const struct bm_sample *s)
{
	in->ls.n = 0;
	bool ok = lset_set(&in->ls, "__name__", s->name) == 0;
	for (uint32_t i = 0; ok && i < s->n_labels; i++)
		ok = lset_set(&in->ls, s->labels[i].name, s->labels[i].value) == 0;
	/* external labels first, the series' own win (Prometheus' order) */
	for (size_t i = 0; ok && i < in->n_ext; i++)
		if (!*lset_get(&in->ls, in->ext[i].name))
			ok = lset_set(&in->ls, in->ext[i].name, in->ext[i].value) == 0;
	if (!ok || !relabel_apply(&in->relabel, &in->ls, &in->scratch))
		return false;
	/* relabelling may have taken the name away: there is no series then */
	if (!expfmt_valid_metric_name(lset_get(&in->ls, "__name__")))
		return false;
	bm_labels_sort(in->ls.v, in->ls.n);
	return true;
}

static size_t strings_size(const struct bm_label *l, size_t n)
{
	size_t t = 0;
	for (size_t i = 0; i < n; i++)
		t += strlen(l[i].name) + strlen(l[i].value) + 2;
	return t;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s) + 1;
	memcpy(p, s, n);
	return p + n;
}

/* e's memory: the final labels, the input identity, then their strings. */
static int entry_fill(struct in_entry *e, const struct bm_sample *s, const struct lset *out)
{
	size_t n_out = out ? out->n : 0;
	size_t key_len = strlen(s->name) + 1 + strings_size(s->labels, s->n_labels);
	size_t head = n_out * sizeof(struct bm_label);
	char *mem = malloc(head + key_len + (out ? strings_size(out->v, n_out) : 0));
	if (!mem)
		return BM_ENOMEM;
	e->out = (struct bm_label *)mem;
	e->n_out = n_out;
	e->key = mem + head;
	e->key_len = key_len;
	char *p = put_str(e->key, s->name);
	for (uint32_t i = 0; i < s->n_labels; i++)
		p = put_str(put_str(p, s->labels[i].name), s->labels[i].value);
	for (size_t i = 0; i < n_out; i++) {
		e->out[i].name = p;
		p = put_str(p, out->v[i].name);
		e->out[i].value = p;
		p = put_str(p, out->v[i].value);
	}
	return 0;
}

static struct in_entry *entry_add(struct rw_intake *in, size_t slot, uint64_t h,
				  const struct bm_sample *s)
{
	bool send = selected(in, s) && final_labels(in, s);
	struct in_entry *e = &in->v[in->n];
	*e = (struct in_entry){.hash = h, .ref = send ? ++in->next_ref : 0};
	int rc = entry_fill(e, s, send ? &in->ls : NULL);
	bm_arena_reset(&in->scratch);
	if (rc)
		return NULL;
	in->index[slot] = (uint32_t)++in->n;
	return e;
}

static struct in_entry *lookup(struct rw_intake *in, const struct bm_sample *s)
{
	uint64_t h = sample_hash(s);
	if (reserve_entry(in))
		return NULL;
	size_t i = probe(in, h, s);
	return in->index[i] ? &in->v[in->index[i] - 1] : entry_add(in, i, h, s);
}

/* Forget series idle for RW_SERIES_IDLE_MS, once a minute. */
static void sweep(struct rw_intake *in, int64_t now_ms)
{
	if (now_ms - in->last_sweep_ms < SWEEP_EVERY_MS)
		return;
	in->last_sweep_ms = now_ms;
	size_t kept = 0;
	for (size_t k = 0; k < in->n; k++) {
		if (now_ms - in->v[k].seen_ms > RW_SERIES_IDLE_MS)
			free(in->v[k].out);
		else
			in->v[kept++] = in->v[k];
	}
	if (kept == in->n)
		return;
	in->n = kept;
	reindex(in, in->index_cap); /* same size: cannot fail */
}

/* ---- events ---------------------------------------------------------- */

static void log_queue_error(struct rw_intake *in, uint64_t n, int64_t now_ms)
{
	if (now_ms - in->last_error_log_ms < ERROR_LOG_EVERY_MS && in->last_error_log_ms)
		return;
	in->last_error_log_ms = now_ms;
	bm_log_err(in->ctx, "cannot append to the queue: %s; %llu samples dropped", strerror(errno),
		   (unsigned long long)n);
}

/* Append one sample of entry e: false when out of memory. */
static bool add_sample(struct rw_intake *in, struct in_entry *e, uint64_t seg, int64_t ts,
		       double v)
{
	if (e->seg != seg) {
		if (rwq_batch_series(&in->batch, e->ref, e->out, e->n_out))
			return false;
		e->seg = seg;
	}
	if (rwq_batch_sample(&in->batch, e->ref, ts, v))
		return false;
	in->highest_ts = ts > in->highest_ts ? ts : in->highest_ts;
	return true;
}

int rw_intake_event(struct rw_intake *in, struct rw_queue *q, const void *body, size_t len,
		    int64_t now_ms)
{
	struct bm_metric_batch b;
	bm_arena_reset(&in->decode);
	if (bm_metric_batch_decode(body, len, &b, &in->decode))
		return BM_EPROTO;
	sweep(in, now_ms);
	uint64_t seg = 0, filtered = 0, lost = 0;
	bool began = false;
	int64_t wall = 0;
	for (size_t i = 0; i < b.n_samples; i++) {
		const struct bm_sample *s = &b.samples[i];
		struct in_entry *e = lookup(in, s);
		if (!e) {
			lost++;
			continue;
		}
		e->seen_ms = now_ms;
		if (!e->ref) {
			filtered++;
			continue;
		}
		if (!began) {
			seg = rwq_write_begin(q);
			began = true;
		}
		int64_t ts = s->ts_ms;
		if (ts <= 0) /* published raw without a time: now is the best guess */
			ts = wall ? wall : (wall = bm_now_ms(in->ctx));
		lost += !add_sample(in, e, seg, ts, s->value);
	}
	RW_ADD(in->st, samples_filtered, filtered);
	if (lost)
		rwq_count_dropped(q, lost);
	uint64_t n = in->batch.n;
	int rc = rwq_write(q, &in->batch);
	if (rc) {
		log_queue_error(in, n, now_ms);
		return rc;
	}
	RW_ADD(in->st, samples_in, n);
	if (n)
		rw_gauge_max(&in->st->highest_ts_s, (double)in->highest_ts / 1000.0);
	return 0;
}

void rw_intake_free(struct rw_intake *in)
{
	for (size_t k = 0; k < in->n; k++)
		free(in->v[k].out);
	free(in->v);
	free(in->index);
	for (size_t i = 0; i < in->n_include; i++)
		al_selector_free(&in->include[i]);
	for (size_t i = 0; i < in->n_exclude; i++)
		al_selector_free(&in->exclude[i]);
	free(in->include);
	free(in->exclude);
	relabel_free(&in->relabel);
	for (size_t i = 0; i < in->n_ext; i++)
		free((char *)in->ext[i].value);
	free(in->ext);
	bm_arena_free(&in->decode);
	bm_arena_free(&in->scratch);
	lset_free(&in->ls);
	rwq_batch_free(&in->batch);
	memset(in, 0, sizeof(*in));
}
