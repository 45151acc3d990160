/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A listener's aggregation tables (see shard.h): lines in, per-interval
 * values per raw key out. Runs on the receiver thread, under the shard's
 * lock; nothing here allocates once the tables have grown to the working
 * set of series.
 */
#define _GNU_SOURCE
#include "shard.h"

#include <bearmon/bm_host.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- set members ------------------------------------------------------- */

static int memberset_grow(struct memberset *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : 16;
	uint64_t *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	for (uint32_t i = 0; i < s->cap; i++) {
		uint64_t h = s->slots[i];
		if (!h)
			continue;
		uint32_t j = (uint32_t)h & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = h;
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

int memberset_add(struct memberset *s, uint64_t h, uint32_t max)
{
	h = h ? h : 1;
	if (s->cap) {
		uint32_t i = (uint32_t)h & (s->cap - 1);
		for (; s->slots[i]; i = (i + 1) & (s->cap - 1))
			if (s->slots[i] == h)
				return 0;
	}
	if (s->n >= max)
		return -1;
	if ((s->n + 1) * 2 > s->cap && memberset_grow(s))
		return -1;
	uint32_t i = (uint32_t)h & (s->cap - 1);
	while (s->slots[i])
		i = (i + 1) & (s->cap - 1);
	s->slots[i] = h;
	s->n++;
	return 1;
}

uint64_t memberset_merge(struct memberset *dst, const struct memberset *src, uint32_t max)
{
	uint64_t lost = 0;
	for (uint32_t i = 0; i < src->cap; i++)
		if (src->slots[i] && memberset_add(dst, src->slots[i], max) < 0)
			lost++;
	return lost;
}

static void memberset_clear(struct memberset *s)
{
	if (s->n)
		memset(s->slots, 0, s->cap * sizeof(*s->slots));
	s->n = 0;
}

/* --- tables ------------------------------------------------------------ */

static void table_reset(struct shard_table *t)
{
	hindex_clear(&t->index);
	t->n = 0;
	t->used = 0;
}

static void table_free(struct shard_table *t)
{
	for (uint32_t i = 0; i < t->cap; i++) {
		sketch_free(&t->e[i].sk);
		free(t->e[i].set.slots);
	}
	free(t->e);
	free(t->arena);
	hindex_free(&t->index);
	memset(t, 0, sizeof(*t));
}

/* Room for `more` arena bytes and one more entry. */
static int table_reserve(struct shard_table *t, size_t more)
{
	if (t->used + more > t->arena_cap) {
		size_t c = t->arena_cap ? t->arena_cap : 16384;
		while (c < t->used + more)
			c *= 2;
		char *a = realloc(t->arena, c);
		if (!a)
			return -1;
		t->arena = a;
		t->arena_cap = c;
	}
	if (t->n == t->cap) {
		uint32_t c = t->cap ? t->cap * 2 : 64;
		struct shard_entry *e = realloc(t->e, c * sizeof(*e));
		if (!e)
			return -1;
		memset(e + t->cap, 0, (c - t->cap) * sizeof(*e));
		t->e = e;
		t->cap = c;
	}
	return hindex_reserve(&t->index, t->n + 1);
}

int shard_init(struct shard *sh, const struct shard_limits *lim, const struct card_limits *card,
	       struct bm_ctx *ctx, const char *what, uint64_t seed)
{
	memset(sh, 0, sizeof(*sh));
	sh->lim = *lim;
	sh->ctx = ctx;
	sh->what = what;
	sh->seed = seed;
	sh->active = &sh->tables[0];
	sh->spare = &sh->tables[1];
	sh->series_cap = STATSD_SERIES_BUF(lim->max_line_len);
	sh->series_buf = malloc(sh->series_cap);
	if (!sh->series_buf)
		return -1;
	if (card_init(&sh->card, card)) {
		free(sh->series_buf);
		return -1;
	}
	pthread_mutex_init(&sh->lock, NULL);
	return 0;
}

void shard_free(struct shard *sh)
{
	table_free(&sh->tables[0]);
	table_free(&sh->tables[1]);
	card_free(&sh->card);
	free(sh->series_buf);
	pthread_mutex_destroy(&sh->lock);
}

/* --- bad input --------------------------------------------------------- */

static int64_t coarse_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first bytes of a line for a log message, non-printable bytes, '"'
 * and '\\' as \xNN, so that what was sent can be recognised. */
static void excerpt(char *out, size_t cap, const char *line, size_t len)
{
	size_t o = 0, i = 0;
	for (; i < len && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Count a refused line by reason and log it, at most once a minute per
 * reason (the counters carry the numbers). */
static void note_bad(struct shard *sh, enum statsd_result why, const char *line, size_t len)
{
	sh->pending[stat_of_result(why)]++;
	if (why != STATSD_UNSUPPORTED)
		sh->pending[ST_BAD]++;
	int64_t now = coarse_ms();
	if (sh->logged_ms[why] && now - sh->logged_ms[why] < 60000)
		return;
	sh->logged_ms[why] = now;
	char ex[128], counter[64];
	excerpt(ex, sizeof(ex), line, len);
	if (why == STATSD_UNSUPPORTED)
		snprintf(counter, sizeof(counter), "bearmon_statsd_unsupported_lines_total");
	else
		snprintf(counter, sizeof(counter), "bearmon_statsd_bad_lines_%s_total",
			 statsd_result_name(why));
	bm_log(sh->ctx, why == STATSD_UNSUPPORTED ? BM_LOG_INFO : BM_LOG_WARN,
	       "%s: dropped a line (%s): \"%s\"; one such line a minute is logged, %s counts "
	       "them all", sh->what, statsd_result_text(why), ex, counter);
}

void shard_bad(struct shard *sh, enum statsd_result why, const char *line, size_t len)
{
	sh->pending[ST_LINES]++;
	note_bad(sh, why, line, len);
}

/* --- lines ------------------------------------------------------------- */

struct raw_key {
	const struct shard_table *t;
	const struct statsd_line *l;
	int type;
};

static bool raw_equal(const void *ctx, uint32_t item)
{
	const struct raw_key *k = ctx;
	const struct shard_entry *e = &k->t->e[item];
	const char *raw = k->t->arena + e->raw;
	return e->type == k->type && e->name_len == k->l->name_len &&
	       e->tags_len == k->l->tags_len && bytes_equal(raw, k->l->name, e->name_len) &&
	       bytes_equal(raw + e->name_len, k->l->tags, e->tags_len);
}

static uint64_t raw_hash(const struct shard *sh, const struct statsd_line *l, int type)
{
	uint64_t h = hash_bytes(l->name, l->name_len, sh->seed + (uint64_t)type);
	return l->tags_len ? hash_bytes(l->tags, l->tags_len, h) : h;
}

/* A new entry for a raw key not seen this interval: its series built,
 * sanitised and admitted by the cardinality limiter. NULL when refused. */
static struct shard_entry *entry_new(struct shard *sh, const struct statsd_line *l, int type,
				     uint64_t hash)
{
	struct shard_table *t = sh->active;
	if (sh->lim.max_entries && t->n >= sh->lim.max_entries) {
		sh->pending[ST_DROPPED_SERIES]++;
		return NULL;
	}
	struct statsd_series s;
	enum statsd_result r = statsd_series_build(l->name, l->name_len, l->tags, l->tags_len,
						   (enum statsd_type)type, sh->series_buf,
						   sh->series_cap, &s);
	if (r != STATSD_OK) {
		note_bad(sh, r, l->name, l->name_len);
		return NULL;
	}
	if (!card_admit(&sh->card, s.name, s.labels, s.n_labels))
		return NULL;
	if (table_reserve(t, (size_t)l->name_len + l->tags_len + s.key_len)) {
		sh->pending[ST_DROPPED_SERIES]++;
		return NULL;
	}
	struct shard_entry *e = &t->e[t->n];
	e->hash = hash;
	e->key_hash = hash_bytes(s.key, s.key_len, sh->seed);
	e->raw = (uint32_t)t->used;
	e->name_len = l->name_len;
	e->tags_len = l->tags_len;
	memcpy(t->arena + t->used, l->name, l->name_len);
	if (l->tags_len)
		memcpy(t->arena + t->used + l->name_len, l->tags, l->tags_len);
	t->used += (size_t)l->name_len + l->tags_len;
	e->key = (uint32_t)t->used;
	e->key_len = s.key_len;
	memcpy(t->arena + t->used, s.key, s.key_len);
	t->used += s.key_len;
	e->type = (uint8_t)type;
	e->gauge_set = false;
	e->values = 0;
	e->sum = e->gauge = 0;
	sketch_clear(&e->sk);
	memberset_clear(&e->set);
	hindex_put(&t->index, hash, t->n);
	t->n++;
	return e;
}

static struct shard_entry *entry_for(struct shard *sh, const struct statsd_line *l, int type)
{
	struct shard_table *t = sh->active;
	uint64_t h = raw_hash(sh, l, type);
	struct raw_key k = {t, l, type};
	uint32_t item;
	if (hindex_find(&t->index, h, raw_equal, &k, &item))
		return &t->e[item];
	return entry_new(sh, l, type, h);
}

static void add_value(struct shard *sh, struct shard_entry *e, const struct statsd_value *v)
{
	switch (v->type) {
	case STATSD_COUNTER:
		e->sum += v->num * v->weight;
		break;
	case STATSD_GAUGE:
		if (v->delta) {
			e->sum += v->num;
		} else {
			e->gauge_set = true;
			e->gauge = v->num;
			e->sum = 0;
		}
		break;
	case STATSD_SET:
		if (memberset_add(&e->set, hash_bytes(v->str, v->len, sh->seed), sh->lim.max_set_size) < 0) {
			sh->pending[ST_DROPPED_MEMBERS]++;
			return;
		}
		break;
	default: /* timers, histograms, distributions */
		sketch_add(&e->sk, v->num, v->weight);
		break;
	}
	e->values++;
	sh->pending[ST_SAMPLES]++;
}

void shard_line(struct shard *sh, const char *line, size_t len)
{
	if (len > sh->lim.max_line_len) {
		shard_bad(sh, STATSD_ERR_TOO_LONG, line, len);
		return;
	}
	struct statsd_line *l = &sh->line;
	enum statsd_result r = statsd_parse_line(line, len, l);
	if (r != STATSD_OK) {
		shard_bad(sh, r, line, len);
		return;
	}
	sh->pending[ST_LINES]++;
	struct shard_entry *e = NULL;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct statsd_value *v = &l->v[i];
		if (!e || e->type != v->type)
			e = entry_for(sh, l, v->type);
		if (!e)
			return; /* refused and counted: the rest shares its name */
		add_value(sh, e, v);
	}
}

void shard_feed(struct shard *sh, const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		size_t n = (size_t)(e - p);
		if (n && !(n == 1 && *p == '\r'))
			shard_line(sh, p, n);
		p = e + 1;
	}
}

void shard_flush_stats(struct shard *sh, uint64_t *shared)
{
	sh->pending[ST_DROPPED_SERIES] += sh->card.dropped_series - sh->card_series_seen;
	sh->pending[ST_DROPPED_LABELS] += sh->card.dropped_labels - sh->card_labels_seen;
	sh->card_series_seen = sh->card.dropped_series;
	sh->card_labels_seen = sh->card.dropped_labels;
	stats_flush(shared, sh->pending);
}

/* --- flush ------------------------------------------------------------- */

struct shard_table *shard_swap(struct shard *sh)
{
	pthread_mutex_lock(&sh->lock);
	struct shard_table *full = sh->active;
	sh->active = sh->spare;
	sh->spare = full;
	card_sweep(&sh->card);
	pthread_mutex_unlock(&sh->lock);
	return full;
}

void shard_release(struct shard *sh, struct shard_table *t)
{
	(void)sh; /* symmetric with shard_swap; the table is the caller's */
	table_reset(t);
}
