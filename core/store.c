/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded store (see store.h). Ingest touches memory only: samples go
 * into each series' open chunk, sealed chunks wait in a pending list. A
 * flusher thread takes a snapshot of what changed under the lock and
 * writes it in one transaction without the lock, so ingest never waits
 * for the disk. A failed transaction (disk full, read-only) puts the work
 * back and is retried at the next flush: nothing is lost while memory
 * lasts (pending sealed chunks are capped; past the cap the oldest are
 * dropped and counted).
 *
 * Series are kept in an open-addressing hash table of our own: libc's
 * hsearch is global and glib is not a dependency; it is 60 lines.
 */
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bearmon/bm_hash.h"
#include "bearmon/bm_vec.h"
#include "log.h"
#include "store_codec.h"
#include "store_rollup.h"

#define PENDING_MAX 65536 /* sealed chunks waiting for a working disk */
#define LABEL_SEP '\x1e'  /* between label pairs in series.labels */
#define KV_SEP '\x1f'     /* between a label's name and value */

struct series {
	char *key; /* canonical text */
	int64_t id;
	bool stored;   /* its row is in the database */
	bool dirty;    /* open chunk changed since the last flush */
	bool has_last;
	int64_t last_ts;
	bool live;     /* ingested since the store opened: last_v is its newest value */
	double last_v;
	struct chunk_enc enc;
	char *name;
	char *labels; /* k\x1fv\x1ek\x1fv */
	struct rollup_series roll;
};

/* A chunk (tier 0) or a rollup block (tier 1 = 1 min, 2 = 1 h) on its way
 * to the database. */
struct sealed {
	int64_t id, start, end;
	int tier;
	uint32_t count;
	uint8_t *data;
	size_t len;
};

struct flush_job;

struct meta_entry {
	char *name;
	enum bm_metric_type type;
	char *unit;
	char *help;
	bool dirty; /* not yet in the metadata table */
};

struct store {
	sqlite3 *wdb; /* writer connection, used by the flusher only */
	sqlite3 *rdb; /* reader connection, queries */
	pthread_mutex_t rlock;
	struct store_conf conf;
	pthread_mutex_t lock; /* everything below */
	uint64_t failed_flushes; /* in a row: the next success says so */
	struct series **table;
	size_t cap, n;
	struct series **by_id; /* index id - 1 */
	size_t n_ids, cap_ids;
	int64_t next_id;
	struct sealed *pending;
	size_t n_pending, cap_pending;
	struct store_stats st;
	pthread_t flusher;
	pthread_cond_t wake;
	bool quit;
	struct flush_job *inflight; /* being written: still visible to queries */
	struct meta_entry *meta;    /* metric families seen, with their metadata */
	size_t n_meta, cap_meta;
	pthread_mutex_t flush_lock; /* one flush at a time */
};

static const char *const migrations[] = {
	/* 1: series, label index, chunks */
	"CREATE TABLE series(id INTEGER PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL,"
	" text TEXT NOT NULL UNIQUE);"
	"CREATE INDEX series_name ON series(name);"
	"CREATE TABLE label_index(name TEXT NOT NULL, value TEXT NOT NULL, series_id INTEGER NOT NULL,"
	" PRIMARY KEY(name, value, series_id)) WITHOUT ROWID;"
	"CREATE TABLE chunks(series_id INTEGER NOT NULL, start_ms INTEGER NOT NULL,"
	" end_ms INTEGER NOT NULL, count INTEGER NOT NULL, data BLOB NOT NULL,"
	" PRIMARY KEY(series_id, start_ms)) WITHOUT ROWID;"
	"CREATE TABLE metadata(name TEXT PRIMARY KEY, type INTEGER, unit TEXT, help TEXT);",
	/* 2: rollup tiers; history and analysis tables for the plugins that
	 * arrive later (alerting, optimizer, agents, analyzers) */
	"CREATE TABLE rollups(tier INTEGER NOT NULL, series_id INTEGER NOT NULL,"
	" start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, count INTEGER NOT NULL,"
	" data BLOB NOT NULL, PRIMARY KEY(tier, series_id, start_ms)) WITHOUT ROWID;"
	"CREATE TABLE alert_history(id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
	" rule_id TEXT NOT NULL, fingerprint TEXT NOT NULL, state TEXT NOT NULL, body BLOB);"
	"CREATE INDEX alert_history_ts ON alert_history(ts_ms);"
	"CREATE TABLE notification_history(id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
	" notifier TEXT NOT NULL, outcome TEXT NOT NULL, latency_ms INTEGER, body BLOB);"
	"CREATE INDEX notification_history_ts ON notification_history(ts_ms);"
	"CREATE TABLE action_history(id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
	" action_id TEXT NOT NULL, state TEXT NOT NULL, body BLOB);"
	"CREATE INDEX action_history_ts ON action_history(ts_ms);"
	"CREATE TABLE agent_registry(agent_id TEXT PRIMARY KEY, type TEXT, pid INTEGER,"
	" first_seen_ms INTEGER, last_seen_ms INTEGER, state TEXT, body BLOB);"
	"CREATE TABLE events(id INTEGER PRIMARY KEY, topic TEXT NOT NULL, ts_ms INTEGER NOT NULL,"
	" body BLOB NOT NULL);"
	"CREATE INDEX events_topic_ts ON events(topic, ts_ms);",
};

static struct series **slot(struct store *s, const char *key)
{
	size_t i = bm_hash_field(BM_HASH_INIT, key) & (s->cap - 1);
	while (s->table[i] && strcmp(s->table[i]->key, key) != 0)
		i = (i + 1) & (s->cap - 1);
	return &s->table[i];
}

static int table_grow(struct store *s)
{
	size_t old_cap = s->cap;
	struct series **old = s->table;
	s->cap = old_cap ? old_cap * 2 : 1024;
	s->table = calloc(s->cap, sizeof(*s->table));
	if (!s->table) {
		s->table = old;
		s->cap = old_cap;
		return BM_ENOMEM;
	}
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			*slot(s, old[i]->key) = old[i];
	free(old);
	return 0;
}

static int index_add(struct store *s, struct series *se)
{
	size_t i = (size_t)(se->id - 1);
	if (i >= s->cap_ids) {
		size_t cap = s->cap_ids ? s->cap_ids * 2 : 1024;
		while (cap <= i)
			cap *= 2;
		struct series **v = realloc(s->by_id, cap * sizeof(*v));
		if (!v)
			return BM_ENOMEM;
		memset(v + s->cap_ids, 0, (cap - s->cap_ids) * sizeof(*v));
		s->by_id = v;
		s->cap_ids = cap;
	}
	s->by_id[i] = se;
	if (i + 1 > s->n_ids)
		s->n_ids = i + 1;
	return 0;
}

static void series_free(struct series *se)
{
	chunk_enc_free(&se->enc);
	rollup_series_free(&se->roll);
	free(se->key);
	free(se->name);
	free(se->labels);
	free(se);
}

size_t store_series_text(const char *name, const struct bm_label *l, uint32_t n_labels, char *buf,
			 size_t n)
{
	return bm_series_text(name, l, n_labels, buf, n);
}

static char *labels_field(const struct bm_label *l, uint32_t n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%s%c%s", i ? "\x1e" : "", l[i].name, KV_SEP, l[i].value);
	fclose(f);
	return out;
}

/* Find or create the series of sample smp; caller holds s->lock. */
static struct series *series_get(struct store *s, const struct bm_sample *smp)
{
	char stack[1024];
	size_t need = store_series_text(smp->name, smp->labels, smp->n_labels, stack, sizeof(stack));
	char *key = stack;
	if (need >= sizeof(stack)) {
		key = malloc(need + 1);
		if (!key)
			return NULL;
		store_series_text(smp->name, smp->labels, smp->n_labels, key, need + 1);
	}
	struct series *se = NULL;
	if (s->n * 2 >= s->cap && table_grow(s))
		goto out;
	struct series **at = slot(s, key);
	if (*at) {
		se = *at;
		goto out;
	}
	se = calloc(1, sizeof(*se));
	if (!se)
		goto out;
	se->key = strdup(key);
	se->name = strdup(smp->name);
	se->labels = labels_field(smp->labels, smp->n_labels);
	se->id = s->next_id;
	chunk_enc_init(&se->enc);
	if (!se->key || !se->name || !se->labels || index_add(s, se)) {
		series_free(se);
		se = NULL;
		goto out;
	}
	s->next_id++;
	*at = se;
	s->n++;
	s->st.series++;
out:
	if (key != stack)
		free(key);
	return se;
}

static int pending_push(struct store *s, const struct sealed *c)
{
	if (s->n_pending == PENDING_MAX) {
		free(s->pending[0].data);
		memmove(s->pending, s->pending + 1, (s->n_pending - 1) * sizeof(*s->pending));
		s->n_pending--;
		s->st.write_errors++; /* counted as lost to a failing disk */
	}
	if (BM_VEC_RESERVE(s->pending, s->cap_pending, s->n_pending + 1))
		return BM_ENOMEM;
	s->pending[s->n_pending++] = *c;
	return 0;
}

/* Copy the open chunk of se into c (data malloc'd). */
static int chunk_copy(const struct series *se, struct sealed *c)
{
	size_t len;
	const uint8_t *d = chunk_enc_data(&se->enc, &len);
	*c = (struct sealed){.id = se->id, .start = chunk_enc_first_ts(&se->enc),
			     .end = chunk_enc_last_ts(&se->enc), .count = chunk_enc_count(&se->enc),
			     .len = len, .data = malloc(len ? len : 1)};
	if (!c->data)
		return BM_ENOMEM;
	memcpy(c->data, d, len);
	return 0;
}

static void seal(struct store *s, struct series *se)
{
	struct sealed c;
	if (chunk_copy(se, &c) == 0 && pending_push(s, &c) != 0)
		free(c.data);
	chunk_enc_free(&se->enc);
	chunk_enc_init(&se->enc);
	se->dirty = false;
}

/* Encode buckets b[0..n) of tier (1-based) of series id into c. */
static int block_sealed(int64_t id, int tier, const struct bucket *b, uint32_t n, struct sealed *c)
{
	*c = (struct sealed){.id = id, .tier = tier, .start = b[0].start,
			     .end = b[n - 1].start + rollup_tiers[tier - 1].width_ms - 1, .count = n};
	return rollup_block_encode(b, n, &c->data, &c->len);
}

/* Feed the rollup tiers; a full block becomes a pending sealed block. */
static int seal_rollups(struct store *s, struct series *se, int64_t ts, double v)
{
	int full = rollup_add(&se->roll, ts, v);
	if (full < 0)
		return full;
	for (int t = 0; t < ROLLUP_TIERS; t++) {
		if (!(full & (1 << t)))
			continue;
		struct bucket *b;
		uint32_t n = rollup_take_block(&se->roll, t, &b);
		struct sealed c;
		if (n && block_sealed(se->id, t + 1, b, n, &c) == 0 && pending_push(s, &c))
			free(c.data);
		free(b);
	}
	return 0;
}

static bool same_text(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* s->meta is kept sorted by name: the position of name, or where it goes.
 * Every batch that carries metadata looks up each of its families, so a
 * binary search instead of a scan of every family seen. */
static size_t meta_find(const struct store *s, const char *name, bool *found)
{
	size_t lo = 0, hi = s->n_meta;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->meta[mid].name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A new family's entry at position at (from meta_find); caller holds
 * s->lock. */
static struct meta_entry *meta_insert(struct store *s, size_t at, const char *name)
{
	char *copy = strdup(name);
	if (!copy || BM_VEC_RESERVE(s->meta, s->cap_meta, s->n_meta + 1)) {
		free(copy);
		return NULL;
	}
	struct meta_entry *e = &s->meta[at];
	memmove(e + 1, e, (s->n_meta - at) * sizeof(*e));
	memset(e, 0, sizeof(*e));
	e->name = copy;
	s->n_meta++;
	return e;
}

/* Remember a family's metadata; caller holds s->lock. */
static int meta_put(struct store *s, const char *name, enum bm_metric_type type, const char *unit,
		    const char *help)
{
	bool found;
	size_t at = meta_find(s, name, &found);
	struct meta_entry *e = found ? &s->meta[at] : NULL;
	if (e && e->type == type && same_text(e->unit, unit) && same_text(e->help, help))
		return 0;
	char *u = strdup(unit ? unit : ""), *h = strdup(help ? help : "");
	if (!u || !h || (!e && !(e = meta_insert(s, at, name)))) {
		free(u);
		free(h);
		return BM_ENOMEM;
	}
	free(e->unit);
	free(e->help);
	e->unit = u;
	e->help = h;
	e->type = type;
	e->dirty = true;
	return 0;
}

/* A chunk row must fit its b-tree page: sqlite keeps up to about 1,000
 * bytes of a WITHOUT ROWID row on a 4 KiB page and moves the rest to
 * overflow pages, most of which is then waste. Series that compress well
 * fill chunk_samples long before this; noisy ones seal early instead. */
#define CHUNK_MAX_BYTES 940

static bool chunk_full(const struct chunk_enc *e)
{
	size_t len;
	chunk_enc_data(e, &len);
	return len >= CHUNK_MAX_BYTES;
}

int store_ingest(struct store *s, const struct bm_metric_batch *b)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < b->n_meta && !rc; i++)
		rc = meta_put(s, b->meta[i].name, b->meta[i].type, b->meta[i].unit, b->meta[i].help);
	for (size_t i = 0; i < b->n_samples; i++) {
		const struct bm_sample *smp = &b->samples[i];
		struct series *se = series_get(s, smp);
		if (!se) {
			rc = BM_ENOMEM;
			break;
		}
		if (se->has_last && smp->ts_ms <= se->last_ts) {
			if (smp->ts_ms == se->last_ts)
				s->st.duplicates++;
			else
				s->st.out_of_order++;
			continue;
		}
		if (chunk_enc_add(&se->enc, smp->ts_ms, smp->value)) {
			rc = BM_ENOMEM;
			break;
		}
		se->has_last = true;
		se->last_ts = smp->ts_ms;
		se->live = true;
		se->last_v = smp->value;
		se->dirty = true;
		s->st.samples_in++;
		if (chunk_enc_count(&se->enc) >= s->conf.chunk_samples || chunk_full(&se->enc))
			seal(s, se);
		if (!bm_is_stale_nan(smp->value) && seal_rollups(s, se, smp->ts_ms, smp->value)) {
			rc = BM_ENOMEM;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* What one flush writes, taken under the lock. */
struct flush_job {
	struct sealed *chunks;
	size_t n, cap;
	struct meta_entry *meta; /* copies of changed metadata */
	size_t n_meta;
	struct series **new_series; /* rows to insert (pointers stay valid) */
	size_t n_new;
};

static int job_add(struct flush_job *j, const struct sealed *c)
{
	if (BM_VEC_RESERVE(j->chunks, j->cap, j->n + 1))
		return BM_ENOMEM;
	j->chunks[j->n++] = *c;
	return 0;
}

static void job_take(struct store *s, struct flush_job *j)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_pending; i++)
		if (job_add(j, &s->pending[i]))
			free(s->pending[i].data);
	s->n_pending = 0;
	s->inflight = j;
	j->meta = calloc(s->n_meta ? s->n_meta : 1, sizeof(*j->meta));
	for (size_t i = 0; j->meta && i < s->n_meta; i++) {
		struct meta_entry *e = &s->meta[i];
		if (!e->dirty)
			continue;
		struct meta_entry c = {strdup(e->name), e->type, strdup(e->unit), strdup(e->help), false};
		if (c.name && c.unit && c.help) {
			j->meta[j->n_meta++] = c;
			e->dirty = false;
		} else {
			free(c.name);
			free(c.unit);
			free(c.help);
		}
	}
	j->new_series = calloc(s->n_ids ? s->n_ids : 1, sizeof(*j->new_series));
	for (size_t i = 0; i < s->n_ids; i++) {
		struct series *se = s->by_id[i];
		struct sealed c;
		if (!se)
			continue;
		if (!se->stored && j->new_series)
			j->new_series[j->n_new++] = se;
		if (se->dirty && chunk_copy(se, &c) == 0) {
			if (job_add(j, &c))
				free(c.data);
			else
				se->dirty = false;
		}
		for (int t = 0; t < ROLLUP_TIERS; t++) {
			struct bucket *b;
			uint32_t n;
			if (!se->roll.t[t].dirty || !(n = rollup_snapshot(&se->roll, t, false, &b)))
				continue;
			if (block_sealed(se->id, t + 1, b, n, &c) == 0) {
				if (job_add(j, &c))
					free(c.data);
				else
					se->roll.t[t].dirty = false;
			}
			free(b);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* Is c a copy of what se still holds open (an open chunk or block)? */
static bool is_open(const struct series *se, const struct sealed *c)
{
	if (!c->tier)
		return chunk_enc_count(&se->enc) && chunk_enc_first_ts(&se->enc) == c->start;
	const struct rollup_open *o = &se->roll.t[c->tier - 1];
	int64_t first = o->n_done ? o->first_start : o->has_cur ? o->cur.start : INT64_MIN;
	return first == c->start;
}

/* The job failed to reach the disk: keep its chunks for the next flush
 * (an open chunk copy is superseded by marking the series dirty). */
static void job_return(struct store *s, struct flush_job *j)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < j->n; i++) {
		const struct sealed *c = &j->chunks[i];
		struct series *se = s->by_id[c->id - 1];
		if (se && is_open(se, c)) {
			if (c->tier)
				se->roll.t[c->tier - 1].dirty = true;
			else
				se->dirty = true;
			free(c->data);
		} else if (pending_push(s, c)) {
			free(c->data);
		}
	}
	pthread_mutex_unlock(&s->lock);
	j->n = 0;
}

static void meta_free(struct meta_entry *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].unit);
		free(m[i].help);
	}
	free(m);
}

static int write_meta(sqlite3 *db, const struct flush_job *j)
{
	sqlite3_stmt *st = NULL;
	int rc = j->n_meta ? sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO metadata VALUES(?,?,?,?)", -1,
						&st, NULL)
			   : SQLITE_OK;
	for (size_t i = 0; i < j->n_meta && rc == SQLITE_OK; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, j->meta[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)j->meta[i].type);
		sqlite3_bind_text(st, 3, j->meta[i].unit, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, j->meta[i].help, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	sqlite3_finalize(st);
	return rc;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		LOG_ERR("store: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

static int write_series(sqlite3 *db, struct series *se)
{
	sqlite3_stmt *st = NULL, *li = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO series(id, name, labels, text) VALUES(?,?,?,?)",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, se->id);
		sqlite3_bind_text(st, 2, se->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, se->labels, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, se->key, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO label_index VALUES(?,?,?)", -1, &li, NULL);
	char *copy = rc == SQLITE_OK ? strdup(se->labels) : NULL;
	char *save = NULL;
	for (char *pair = copy ? strtok_r(copy, "\x1e", &save) : NULL; pair && rc == SQLITE_OK;
	     pair = strtok_r(NULL, "\x1e", &save)) {
		char *sep = strchr(pair, KV_SEP);
		if (!sep)
			continue;
		*sep = '\0';
		sqlite3_reset(li);
		sqlite3_bind_text(li, 1, pair, -1, SQLITE_STATIC);
		sqlite3_bind_text(li, 2, sep + 1, -1, SQLITE_STATIC);
		sqlite3_bind_int64(li, 3, se->id);
		rc = sqlite3_step(li) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	free(copy);
	sqlite3_finalize(li);
	return rc;
}

static int write_chunks(sqlite3 *db, const struct flush_job *j)
{
	sqlite3_stmt *raw = NULL, *roll = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO chunks VALUES(?,?,?,?,?)", -1, &raw, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO rollups VALUES(?,?,?,?,?,?)", -1,
					&roll, NULL);
	for (size_t i = 0; i < j->n && rc == SQLITE_OK; i++) {
		const struct sealed *c = &j->chunks[i];
		sqlite3_stmt *st = c->tier ? roll : raw;
		int k = 1;
		sqlite3_reset(st);
		if (c->tier)
			sqlite3_bind_int(st, k++, c->tier);
		sqlite3_bind_int64(st, k++, c->id);
		sqlite3_bind_int64(st, k++, c->start);
		sqlite3_bind_int64(st, k++, c->end);
		sqlite3_bind_int64(st, k++, c->count);
		sqlite3_bind_blob(st, k, c->data, (int)c->len, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	sqlite3_finalize(raw);
	sqlite3_finalize(roll);
	return rc;
}

int store_flush(struct store *s)
{
	struct flush_job j = {0};
	pthread_mutex_lock(&s->flush_lock);
	job_take(s, &j);
	int rc = SQLITE_OK;
	if (j.n || j.n_new || j.n_meta) {
		rc = exec_sql(s->wdb, "BEGIN");
		if (rc == SQLITE_OK)
			rc = write_meta(s->wdb, &j);
		for (size_t i = 0; i < j.n_new && rc == SQLITE_OK; i++)
			rc = write_series(s->wdb, j.new_series[i]);
		if (rc == SQLITE_OK)
			rc = write_chunks(s->wdb, &j);
		if (rc == SQLITE_OK)
			rc = exec_sql(s->wdb, "COMMIT");
		if (rc != SQLITE_OK) {
			log_msg("[store]", BM_LOG_ERR, "write failed, keeping data in memory and retrying: %s",
				sqlite3_errmsg(s->wdb));
			sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
			job_return(s, &j);
		}
	}
	pthread_mutex_lock(&s->lock);
	s->inflight = NULL;
	for (size_t i = 0; rc != SQLITE_OK && i < j.n_meta; i++)
		for (size_t k = 0; k < s->n_meta; k++)
			if (strcmp(s->meta[k].name, j.meta[i].name) == 0)
				s->meta[k].dirty = true; /* write it next time */
	meta_free(j.meta, j.n_meta);
	if (rc == SQLITE_OK) {
		for (size_t i = 0; i < j.n_new; i++)
			j.new_series[i]->stored = true;
		s->st.chunks_written += j.n;
		s->st.flushes++;
		if (s->failed_flushes)
			log_msg("[store]", BM_LOG_NOTICE, "writing again after %llu failed flushes: "
							  "nothing was lost",
				(unsigned long long)s->failed_flushes);
		s->failed_flushes = 0;
	} else {
		s->st.write_errors++;
		s->failed_flushes++;
	}
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < j.n; i++)
		free(j.chunks[i].data);
	free(j.chunks);
	free(j.new_series);
	pthread_mutex_unlock(&s->flush_lock);
	return rc == SQLITE_OK ? 0 : BM_EIO;
}

static int64_t now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *flusher(void *arg)
{
	struct store *s = arg;
	int64_t next_expire = 0;
	pthread_mutex_lock(&s->lock);
	while (!s->quit) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += s->conf.flush_ms / 1000;
		dl.tv_nsec += (s->conf.flush_ms % 1000) * 1000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->wake, &s->lock, &dl);
		if (s->quit)
			break;
		pthread_mutex_unlock(&s->lock);
		store_flush(s);
		if (now_wall_ms() >= next_expire) {
			store_expire(s, now_wall_ms());
			next_expire = now_wall_ms() + 60000;
		}
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int open_db(const char *path, int flags, sqlite3 **db, struct bm_err *err)
{
	if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return bm_err_set(err, BM_EIO, "store %s: %s", path, *db ? sqlite3_errmsg(*db) : "out of memory");
	sqlite3_busy_timeout(*db, 5000);
	/* WAL + NORMAL: a killed process never corrupts the database and loses
	 * no committed transaction; only a power cut may lose the newest ones */
	if (exec_sql(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") != SQLITE_OK)
		return bm_err_set(err, BM_EIO, "store %s: %s", path, sqlite3_errmsg(*db));
	/* a bounded page cache per connection (sqlite's default is 2 MiB): the
	 * store's working set is its open chunks in memory, not pages, and an
	 * agent's RSS must stay flat */
	exec_sql(*db, "PRAGMA cache_size=-512");
	return 0;
}

static int migrate(sqlite3 *db, struct bm_err *err)
{
	sqlite3_stmt *st;
	int version = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (version > latest)
		return bm_err_set(err, BM_EINVAL, "store schema version %d is newer than this bearmond (%d)",
				  version, latest);
	for (int v = version; v < latest; v++) {
		char set[64];
		snprintf(set, sizeof(set), "PRAGMA user_version=%d", v + 1);
		if (exec_sql(db, "BEGIN") || exec_sql(db, migrations[v]) || exec_sql(db, set) ||
		    exec_sql(db, "COMMIT"))
			return bm_err_set(err, BM_EIO, "store schema migration to %d failed: %s", v + 1,
					  sqlite3_errmsg(db));
	}
	return 0;
}

/* Known series come back with their ids; their next samples start new
 * chunks (a chunk on disk is never appended to). */
static int load_series(struct store *s)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->wdb, "SELECT id, name, labels, text FROM series ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK)
		return BM_EIO;
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct series *se = calloc(1, sizeof(*se));
		if (!se || (s->n * 2 >= s->cap && table_grow(s))) {
			free(se);
			rc = BM_ENOMEM;
			break;
		}
		se->id = sqlite3_column_int64(st, 0);
		se->name = strdup((const char *)sqlite3_column_text(st, 1));
		se->labels = strdup((const char *)sqlite3_column_text(st, 2));
		se->key = strdup((const char *)sqlite3_column_text(st, 3));
		se->stored = true;
		chunk_enc_init(&se->enc);
		if (!se->name || !se->labels || !se->key || se->id < 1 || index_add(s, se)) {
			series_free(se);
			rc = BM_ENOMEM;
			break;
		}
		*slot(s, se->key) = se;
		s->n++;
		if (se->id >= s->next_id)
			s->next_id = se->id + 1;
	}
	sqlite3_finalize(st);
	s->st.series = s->n;
	return rc;
}

/* The newest stored timestamp of each series, so that a restart keeps the
 * duplicate/out-of-order rule. */
static void load_last_ts(struct store *s)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->wdb, "SELECT series_id, max(end_ms) FROM chunks GROUP BY series_id",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id >= 1 && (size_t)id <= s->n_ids && s->by_id[id - 1]) {
			s->by_id[id - 1]->has_last = true;
			s->by_id[id - 1]->last_ts = sqlite3_column_int64(st, 1);
		}
	}
	sqlite3_finalize(st);
}

/* Where each tier's stored buckets end, per series: the replay after a
 * restart starts there. */
struct replay_mark {
	int64_t from[ROLLUP_TIERS];
	double prev[ROLLUP_TIERS];
	bool has_prev[ROLLUP_TIERS];
};

struct load_ctx {
	struct bucket first, last; /* the block's oldest and newest buckets */
	uint32_t n;
};

static void load_bucket(void *u, const struct bucket *b)
{
	struct load_ctx *l = u;
	if (!l->n++)
		l->first = *b;
	l->last = *b;
}

/* A restart continues each series' newest rollup block (if not full) so
 * that it is not overwritten by a fresh block with the same start, and
 * notes where the stored buckets end. */
static void load_open_rollups(struct store *s, struct replay_mark *marks)
{
	for (int t = 1; t <= ROLLUP_TIERS; t++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(s->wdb,
				       "SELECT series_id, data, count FROM rollups r WHERE tier = ?1 AND"
				       " start_ms = (SELECT max(start_ms) FROM rollups WHERE tier = ?1"
				       " AND series_id = r.series_id)",
				       -1, &st, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_int(st, 1, t);
		while (sqlite3_step(st) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(st, 0);
			uint32_t block_len = rollup_tiers[t - 1].block_len;
			if (id < 1 || (size_t)id > s->n_ids || !s->by_id[id - 1])
				continue;
			struct series *se = s->by_id[id - 1];
			const uint8_t *blob = sqlite3_column_blob(st, 1);
			size_t len = (size_t)sqlite3_column_bytes(st, 1);
			struct load_ctx l = {0};
			if (rollup_block_decode(blob, len, load_bucket, &l) || !l.n)
				continue;
			/* a block that is not full is continued */
			if (sqlite3_column_int64(st, 2) < block_len &&
			    rollup_resume(&se->roll, t - 1, blob, len, l.n, l.first.start, l.last.start))
				continue;
			struct replay_mark *m = &marks[id - 1];
			m->from[t - 1] = l.last.start + rollup_tiers[t - 1].width_ms;
			m->prev[t - 1] = l.last.v[RC_LAST];
			m->has_prev[t - 1] = true;
		}
		sqlite3_finalize(st);
	}
}

struct replay_ctx {
	struct store *s;
	struct series *se;
	struct replay_mark *m;
	double last;
	bool any;
	int rc;
};

static void replay_sample(void *u, int64_t ts, double v)
{
	struct replay_ctx *r = u;
	if (r->rc || bm_is_stale_nan(v))
		return;
	for (int t = 0; t < ROLLUP_TIERS; t++) {
		if (ts < r->m->from[t])
			continue;
		int full = rollup_replay(&r->se->roll, t, ts, v, r->m->prev[t], r->m->has_prev[t]);
		r->m->prev[t] = v;
		r->m->has_prev[t] = true;
		if (full < 0) {
			r->rc = full;
			return;
		}
		if (full) {
			struct bucket *b;
			uint32_t n = rollup_take_block(&r->se->roll, t, &b);
			struct sealed c;
			if (n && block_sealed(r->se->id, t + 1, b, n, &c) == 0 && pending_push(r->s, &c))
				free(c.data);
			free(b);
		}
	}
	r->last = v;
	r->any = true;
}

/* Rebuild every series' rollup state from the raw samples after its
 * stored buckets: at most the last hour per series. */
static void replay_rollups(struct store *s, struct replay_mark *marks)
{
	int64_t t0 = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (size_t i = 0; i < s->n_ids; i++) {
		struct series *se = s->by_id[i];
		if (!se || !se->has_last)
			continue;
		int64_t from = INT64_MAX;
		for (int t = 0; t < ROLLUP_TIERS; t++) {
			if (!marks[i].has_prev[t])
				marks[i].from[t] = INT64_MIN; /* nothing stored yet */
			if (marks[i].from[t] < from)
				from = marks[i].from[t];
		}
		struct replay_ctx r = {s, se, &marks[i], 0, false, 0};
		store_raw(s, se->id, from, INT64_MAX, replay_sample, &r);
		if (r.any) {
			se->roll.prev = r.last;
			se->roll.has_prev = true;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t took = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0;
	if (took > 1000)
		LOG_NOTICE("store: rollup tiers rebuilt from raw samples in %lld ms", (long long)took);
}

static void load_metadata(struct store *s)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->wdb, "SELECT name, type, unit, help FROM metadata", -1, &st, NULL) !=
	    SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (name && meta_put(s, name, (enum bm_metric_type)sqlite3_column_int(st, 1),
				     (const char *)sqlite3_column_text(st, 2),
				     (const char *)sqlite3_column_text(st, 3)) == 0)
			s->meta[s->n_meta - 1].dirty = false;
	}
	sqlite3_finalize(st);
}

struct store *store_open(const struct store_conf *conf, struct bm_err *err)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s) {
		bm_err_set(err, BM_ENOMEM, "store: out of memory");
		return NULL;
	}
	s->conf = *conf;
	if (!s->conf.chunk_samples)
		s->conf.chunk_samples = 120;
	if (s->conf.flush_ms <= 0)
		s->conf.flush_ms = 1000;
	s->next_id = 1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->rlock, NULL);
	pthread_mutex_init(&s->flush_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (open_db(conf->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &s->wdb, err) ||
	    migrate(s->wdb, err) || open_db(conf->path, SQLITE_OPEN_READONLY, &s->rdb, err))
		goto fail;
	if (load_series(s)) {
		bm_err_set(err, BM_EIO, "store %s: cannot load series: %s", conf->path, sqlite3_errmsg(s->wdb));
		goto fail;
	}
	load_last_ts(s);
	struct replay_mark *marks = calloc(s->n_ids ? s->n_ids : 1, sizeof(*marks));
	if (!marks) {
		bm_err_set(err, BM_ENOMEM, "store: out of memory");
		goto fail;
	}
	load_open_rollups(s, marks);
	replay_rollups(s, marks);
	free(marks);
	load_metadata(s);
	if (pthread_create(&s->flusher, NULL, flusher, s) != 0) {
		bm_err_set(err, BM_EIO, "store: cannot start the flusher thread");
		goto fail;
	}
	pthread_setname_np(s->flusher, "bm-store-flush");
	return s;
fail:
	s->quit = true;
	store_close(s);
	return NULL;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (!s->quit) {
		pthread_mutex_lock(&s->lock);
		s->quit = true;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->flusher, NULL);
		if (store_flush(s))
			LOG_ERR("store: final flush failed: data since the last flush is lost");
	}
	for (size_t i = 0; i < s->n_ids; i++)
		if (s->by_id[i])
			series_free(s->by_id[i]);
	for (size_t i = 0; i < s->n_pending; i++)
		free(s->pending[i].data);
	free(s->pending);
	meta_free(s->meta, s->n_meta);
	free(s->by_id);
	free(s->table);
	sqlite3_close(s->rdb);
	sqlite3_close(s->wdb);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->rlock);
	pthread_mutex_destroy(&s->flush_lock);
	free(s);
}

int store_set_max_pages(struct store *s, uint64_t pages)
{
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%llu",
		 (unsigned long long)(pages ? pages : 4294967294ull));
	pthread_mutex_lock(&s->flush_lock);
	int rc = exec_sql(s->wdb, sql);
	pthread_mutex_unlock(&s->flush_lock);
	return rc == SQLITE_OK ? 0 : BM_EIO;
}

void store_get_stats(struct store *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	pthread_mutex_unlock(&s->lock);
}

/* --- queries ------------------------------------------------------------ */

struct compiled {
	const struct bm_matcher *m;
	regex_t re;
	bool has_re;
};

static const char *label_value(const char *labels, const char *name, char *buf, size_t n)
{
	size_t nl = strlen(name);
	for (const char *p = labels; *p;) {
		const char *end = strchr(p, LABEL_SEP);
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == KV_SEP) {
			size_t vl = len - nl - 1 < n - 1 ? len - nl - 1 : n - 1;
			memcpy(buf, p + nl + 1, vl);
			buf[vl] = '\0';
			return buf;
		}
		p = end ? end + 1 : p + len;
	}
	return ""; /* absent label = empty value, as in PromQL */
}

static bool matches(const struct compiled *c, size_t n, const char *name, const char *labels)
{
	char buf[1024];
	for (size_t i = 0; i < n; i++) {
		const struct bm_matcher *m = c[i].m;
		const char *v = strcmp(m->name, "__name__") == 0 ? name
							       : label_value(labels, m->name, buf, sizeof(buf));
		bool ok = c[i].has_re ? regexec(&c[i].re, v, 0, NULL, 0) == 0 : strcmp(v, m->value) == 0;
		if (m->op == BM_MATCH_NEQ || m->op == BM_MATCH_NRE)
			ok = !ok;
		if (!ok)
			return false;
	}
	return true;
}

long store_series(struct store *s, const struct bm_matcher *m, size_t n,
		  void (*cb)(void *u, int64_t id, const char *text), void *u)
{
	struct compiled *c = calloc(n ? n : 1, sizeof(*c));
	long count = 0;
	if (!c)
		return BM_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		c[i].m = &m[i];
		if (m[i].op == BM_MATCH_RE || m[i].op == BM_MATCH_NRE) {
			char anchored[1024];
			snprintf(anchored, sizeof(anchored), "^(%s)$", m[i].value);
			/* a pattern from outside (HTTP, a plugin): refuse what would
			 * blow regcomp up or break out of the anchors */
			if (bm_regex_check(m[i].value) ||
			    regcomp(&c[i].re, anchored, REG_EXTENDED | REG_NOSUB)) {
				count = BM_EINVAL;
				goto out;
			}
			c[i].has_re = true;
		}
	}
	/* memory holds every series, stored or not yet */
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_ids; i++) {
		struct series *se = s->by_id[i];
		if (se && matches(c, n, se->name, se->labels)) {
			cb(u, se->id, se->key);
			count++;
		}
	}
	pthread_mutex_unlock(&s->lock);
out:
	for (size_t i = 0; i < n; i++)
		if (c[i].has_re)
			regfree(&c[i].re);
	free(c);
	return count;
}

long store_latest(struct store *s, void (*cb)(void *u, const char *name, const char *text,
					      int64_t ts_ms, double v),
		  void *u)
{
	long n = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_ids; i++) {
		const struct series *se = s->by_id[i];
		if (se && se->live) {
			cb(u, se->name, se->key, se->last_ts, se->last_v);
			n++;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

static long emit_chunk(const uint8_t *data, size_t len, int64_t start, int64_t end,
		       void (*cb)(void *u, int64_t ts, double v), void *u)
{
	struct chunk_iter it;
	int64_t ts;
	double v;
	long n = 0;
	int rc;
	if (chunk_iter_init(&it, data, len))
		return BM_EPROTO;
	while ((rc = chunk_iter_next(&it, &ts, &v)) == 1) {
		if (ts >= start && ts <= end) {
			cb(u, ts, v);
			n++;
		}
	}
	return rc < 0 ? rc : n;
}

/* Append copies of id's chunks in v[0..n) that memory holds. */
static void copy_mem(int64_t id, int tier, const struct sealed *v, size_t n, struct sealed **out,
		     size_t *n_out)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].id != id || v[i].tier != tier)
			continue;
		struct sealed *grown = realloc(*out, (*n_out + 1) * sizeof(**out));
		if (!grown)
			return;
		*out = grown;
		grown[*n_out] = v[i];
		grown[*n_out].data = malloc(v[i].len ? v[i].len : 1);
		if (grown[*n_out].data)
			memcpy(grown[(*n_out)++].data, v[i].data, v[i].len);
	}
}

static bool has_start(const struct sealed *v, size_t n, int64_t start)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].start == start)
			return true;
	return false;
}

long store_raw(struct store *s, int64_t id, int64_t start_ms, int64_t end_ms,
	       void (*cb)(void *u, int64_t ts_ms, double v), void *u)
{
	struct sealed *mem = NULL; /* being written, then pending, then open */
	size_t n_mem = 0;
	pthread_mutex_lock(&s->lock);
	struct series *se = id >= 1 && (size_t)id <= s->n_ids ? s->by_id[id - 1] : NULL;
	if (s->inflight)
		copy_mem(id, 0, s->inflight->chunks, s->inflight->n, &mem, &n_mem);
	copy_mem(id, 0, s->pending, s->n_pending, &mem, &n_mem);
	struct sealed open;
	if (se && chunk_enc_count(&se->enc) && chunk_copy(se, &open) == 0) {
		copy_mem(id, 0, &open, 1, &mem, &n_mem);
		free(open.data);
	}
	pthread_mutex_unlock(&s->lock);

	long total = 0;
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->rlock);
	if (sqlite3_prepare_v2(s->rdb,
			       "SELECT start_ms, data FROM chunks WHERE series_id = ? AND end_ms >= ?"
			       " AND start_ms <= ? ORDER BY start_ms",
			       -1, &st, NULL) != SQLITE_OK) {
		total = BM_EIO;
	} else {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, start_ms);
		sqlite3_bind_int64(st, 3, end_ms);
		while (total >= 0 && sqlite3_step(st) == SQLITE_ROW) {
			if (has_start(mem, n_mem, sqlite3_column_int64(st, 0)))
				continue; /* memory has a newer copy of this chunk */
			long n = emit_chunk(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
					    start_ms, end_ms, cb, u);
			total = n < 0 ? n : total + n;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->rlock);
	/* the same chunk may be in memory twice (an open copy being written
	 * and the open chunk itself): only its last copy counts */
	for (size_t i = 0; i < n_mem; i++) {
		if (total >= 0 && !has_start(mem + i + 1, n_mem - i - 1, mem[i].start)) {
			long n = emit_chunk(mem[i].data, mem[i].len, start_ms, end_ms, cb, u);
			total = n < 0 ? n : total + n;
		}
		free(mem[i].data);
	}
	free(mem);
	return total;
}

/* --- rollup queries ------------------------------------------------------ */

/* Buckets in the order they were found: disk first, then memory, so a
 * later copy of a bucket is the newer one. */
struct seq_bucket {
	struct bucket b;
	size_t seq;
};

struct bucket_list {
	struct seq_bucket *v;
	size_t n, cap;
	bool oom;
};

static void push_bucket(void *u, const struct bucket *b)
{
	struct bucket_list *l = u;
	if (BM_VEC_RESERVE(l->v, l->cap, l->n + 1)) {
		l->oom = true;
		return;
	}
	l->v[l->n].b = *b;
	l->v[l->n].seq = l->n;
	l->n++;
}

static int cmp_bucket(const void *a, const void *b)
{
	const struct seq_bucket *x = a, *y = b;
	if (x->b.start != y->b.start)
		return x->b.start < y->b.start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Keep the newest copy of each bucket. */
static void dedupe_buckets(struct bucket_list *l)
{
	size_t j = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (j && l->v[j - 1].b.start == l->v[i].b.start)
			l->v[j - 1] = l->v[i];
		else
			l->v[j++] = l->v[i];
	}
	l->n = j;
}

/* Every bucket of tier (1-based) for id overlapping [start, end]. */
static long tier_buckets(struct store *s, int64_t id, int tier, int64_t start, int64_t end,
			 struct bucket_list *out)
{
	struct sealed *mem = NULL;
	size_t n_mem = 0;
	pthread_mutex_lock(&s->lock);
	struct series *se = id >= 1 && (size_t)id <= s->n_ids ? s->by_id[id - 1] : NULL;
	if (s->inflight)
		copy_mem(id, tier, s->inflight->chunks, s->inflight->n, &mem, &n_mem);
	copy_mem(id, tier, s->pending, s->n_pending, &mem, &n_mem);
	struct bucket *open = NULL;
	uint32_t n_open = se ? rollup_snapshot(&se->roll, tier - 1, true, &open) : 0;
	pthread_mutex_unlock(&s->lock);

	long rc = 0;
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->rlock);
	if (sqlite3_prepare_v2(s->rdb,
			       "SELECT data FROM rollups WHERE tier = ? AND series_id = ? AND end_ms >= ?"
			       " AND start_ms <= ? ORDER BY start_ms",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = BM_EIO;
	} else {
		sqlite3_bind_int(st, 1, tier);
		sqlite3_bind_int64(st, 2, id);
		sqlite3_bind_int64(st, 3, start);
		sqlite3_bind_int64(st, 4, end);
		while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
			rc = rollup_block_decode(sqlite3_column_blob(st, 0),
						 (size_t)sqlite3_column_bytes(st, 0), push_bucket, out);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->rlock);
	for (size_t i = 0; i < n_mem; i++) {
		if (!rc)
			rc = rollup_block_decode(mem[i].data, mem[i].len, push_bucket, out);
		free(mem[i].data);
	}
	free(mem);
	for (uint32_t i = 0; i < n_open; i++)
		push_bucket(out, &open[i]);
	free(open);
	if (!rc && out->oom)
		rc = BM_ENOMEM;
	if (!rc) {
		if (out->n > 1) /* an empty list has a NULL array qsort must not see */
			qsort(out->v, out->n, sizeof(*out->v), cmp_bucket);
		dedupe_buckets(out);
	}
	return rc;
}

static double agg_value(const struct bucket *b, enum bm_agg agg)
{
	switch (agg) {
	case BM_AGG_AVG: return b->v[RC_SUM] / b->v[RC_COUNT];
	case BM_AGG_MIN: return b->v[RC_MIN];
	case BM_AGG_MAX: return b->v[RC_MAX];
	case BM_AGG_SUM: return b->v[RC_SUM];
	case BM_AGG_COUNT: return b->v[RC_COUNT];
	case BM_AGG_LAST: return b->v[RC_LAST];
	case BM_AGG_INCREASE: return b->v[RC_INCREASE];
	}
	return NAN;
}

/* Folds buckets (or raw samples as one-sample buckets) into windows. */
struct windows {
	int64_t start, end, step;
	enum bm_agg agg;
	struct bucket acc;
	bool open;
	long n;
	void (*cb)(void *u, int64_t ts, double v);
	void *u;
	double prev; /* raw: previous sample, for the increase */
	bool has_prev;
};

static void window_emit(struct windows *w)
{
	if (w->open && w->acc.v[RC_COUNT] > 0) {
		w->cb(w->u, w->acc.start, agg_value(&w->acc, w->agg));
		w->n++;
	}
	w->open = false;
}

static void window_feed(struct windows *w, const struct bucket *b)
{
	if (b->start < w->start || b->start > w->end)
		return;
	int64_t ws = b->start - ((b->start % w->step) + w->step) % w->step;
	if (w->open && w->acc.start != ws)
		window_emit(w);
	if (!w->open) {
		memset(&w->acc, 0, sizeof(w->acc));
		w->acc.start = ws;
		w->open = true;
	}
	bucket_merge(&w->acc, b);
}

static void window_feed_sample(void *u, int64_t ts, double v)
{
	struct windows *w = u;
	if (bm_is_stale_nan(v))
		return;
	struct bucket b;
	bucket_from_sample(&b, ts, v, w->prev, w->has_prev);
	w->prev = v;
	w->has_prev = true;
	window_feed(w, &b);
}

static int pick_tier(int64_t step)
{
	for (int t = ROLLUP_TIERS; t > 0; t--)
		if (step >= rollup_tiers[t - 1].width_ms && step % rollup_tiers[t - 1].width_ms == 0)
			return t;
	return 0;
}

long store_range(struct store *s, int64_t id, int64_t start_ms, int64_t end_ms, int64_t step_ms,
		 enum bm_agg agg, int *tier_out, void (*cb)(void *u, int64_t ts_ms, double v),
		 void *u)
{
	if (step_ms <= 0 || end_ms < start_ms || agg > BM_AGG_INCREASE)
		return BM_EINVAL;
	/* whole windows: a tier's bucket cannot be split at start_ms */
	start_ms -= ((start_ms % step_ms) + step_ms) % step_ms;
	struct windows w = {.start = start_ms, .end = end_ms, .step = step_ms, .agg = agg, .cb = cb, .u = u};
	int tier = pick_tier(step_ms);
	long rc;
	if (tier_out)
		*tier_out = tier;
	if (tier == 0) {
		rc = store_raw(s, id, start_ms, end_ms, window_feed_sample, &w);
	} else {
		struct bucket_list l = {0};
		rc = tier_buckets(s, id, tier, start_ms, end_ms, &l);
		for (size_t i = 0; rc >= 0 && i < l.n; i++)
			window_feed(&w, &l.v[i].b);
		free(l.v);
	}
	if (rc < 0)
		return rc;
	window_emit(&w);
	return w.n;
}

struct newest {
	int64_t ts;
	double v;
	bool found;
};

static void keep_newest(void *u, int64_t ts, double v)
{
	struct newest *n = u;
	n->ts = ts;
	n->v = v;
	n->found = true;
}

int store_instant(struct store *s, int64_t id, int64_t at_ms, int64_t lookback_ms, double *v)
{
	struct newest n = {0};
	long rc = store_raw(s, id, at_ms - lookback_ms, at_ms, keep_newest, &n);
	if (rc < 0)
		return (int)rc;
	if (!n.found || bm_is_stale_nan(n.v))
		return 0;
	*v = n.v;
	return 1;
}

/* --- retention ------------------------------------------------------------ */

/* Delete in batches of at most 1000 rows per transaction so that the
 * writer never holds the database for long. */
static int expire_table(struct store *s, const char *sql, int tier, int64_t before)
{
	int rc = SQLITE_OK;
	for (;;) {
		sqlite3_stmt *st;
		pthread_mutex_lock(&s->flush_lock);
		rc = sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL);
		int changed = 0;
		if (rc == SQLITE_OK) {
			int k = 1;
			if (tier)
				sqlite3_bind_int(st, k++, tier);
			sqlite3_bind_int64(st, k, before);
			rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->wdb);
			changed = sqlite3_changes(s->wdb);
			sqlite3_finalize(st);
		}
		pthread_mutex_unlock(&s->flush_lock);
		pthread_mutex_lock(&s->lock);
		s->st.rows_expired += (uint64_t)changed;
		pthread_mutex_unlock(&s->lock);
		if (rc != SQLITE_OK || changed < 1000)
			return rc;
	}
}

int store_expire(struct store *s, int64_t now_ms)
{
	int rc = SQLITE_OK;
	if (s->conf.retention_ms[0] > 0)
		rc = expire_table(s,
				  "DELETE FROM chunks WHERE (series_id, start_ms) IN (SELECT series_id,"
				  " start_ms FROM chunks WHERE end_ms < ? LIMIT 1000)",
				  0, now_ms - s->conf.retention_ms[0]);
	for (int t = 1; t <= ROLLUP_TIERS && rc == SQLITE_OK; t++)
		if (s->conf.retention_ms[t] > 0)
			rc = expire_table(s,
					  "DELETE FROM rollups WHERE (tier, series_id, start_ms) IN"
					  " (SELECT tier, series_id, start_ms FROM rollups WHERE tier = ?"
					  " AND end_ms < ? LIMIT 1000)",
					  t, now_ms - s->conf.retention_ms[t]);
	return rc == SQLITE_OK ? 0 : BM_EIO;
}

int store_metadata(struct store *s, const char *name, enum bm_metric_type *type, char *buf,
		   size_t n, const char **unit, const char **help)
{
	int found = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_meta && !found; i++) {
		const struct meta_entry *e = &s->meta[i];
		if (strcmp(e->name, name) != 0)
			continue;
		size_t ul = strlen(e->unit) + 1, hl = strlen(e->help) + 1;
		if (ul + hl > n)
			hl = n > ul ? n - ul : 0;
		*type = e->type;
		snprintf(buf, n, "%s", e->unit);
		if (hl)
			snprintf(buf + ul, hl, "%s", e->help);
		*unit = buf;
		*help = hl ? buf + ul : "";
		found = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* --- delete and import --------------------------------------------------- */

static bool id_in(const int64_t *ids, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Forget the series in memory; caller holds s->lock. The hash table is
 * rebuilt: deletion is rare and open addressing has no cheap removal. */
static void forget_series(struct store *s, const int64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		series_free(s->by_id[ids[i] - 1]);
		s->by_id[ids[i] - 1] = NULL;
	}
	size_t j = 0;
	for (size_t i = 0; i < s->n_pending; i++) {
		if (id_in(ids, n, s->pending[i].id))
			free(s->pending[i].data);
		else
			s->pending[j++] = s->pending[i];
	}
	s->n_pending = j;
	memset(s->table, 0, s->cap * sizeof(*s->table));
	s->n = 0;
	for (size_t i = 0; i < s->n_ids; i++) {
		if (s->by_id[i]) {
			*slot(s, s->by_id[i]->key) = s->by_id[i];
			s->n++;
		}
	}
	s->st.series = s->n;
}

static void collect_ids(void *u, int64_t id, const char *text)
{
	struct {
		int64_t *v;
		size_t n, cap;
	} *l = u;
	(void)text;
	if (BM_VEC_RESERVE(l->v, l->cap, l->n + 1) == 0)
		l->v[l->n++] = id;
}

long store_delete(struct store *s, const struct bm_matcher *m, size_t n)
{
	struct {
		int64_t *v;
		size_t n, cap;
	} ids = {0};
	/* no flush runs meanwhile: it could write chunks of a deleted series */
	pthread_mutex_lock(&s->flush_lock);
	long count = store_series(s, m, n, collect_ids, &ids);
	int rc = SQLITE_OK;
	if (count > 0) {
		static const char *const sql[] = {
			"DELETE FROM chunks WHERE series_id = ?",
			"DELETE FROM rollups WHERE series_id = ?",
			"DELETE FROM label_index WHERE series_id = ?",
			"DELETE FROM series WHERE id = ?",
		};
		rc = exec_sql(s->wdb, "BEGIN");
		for (size_t q = 0; q < 4 && rc == SQLITE_OK; q++) {
			sqlite3_stmt *st;
			rc = sqlite3_prepare_v2(s->wdb, sql[q], -1, &st, NULL);
			for (size_t i = 0; i < ids.n && rc == SQLITE_OK; i++) {
				sqlite3_reset(st);
				sqlite3_bind_int64(st, 1, ids.v[i]);
				rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->wdb);
			}
			sqlite3_finalize(st);
		}
		rc = rc == SQLITE_OK ? exec_sql(s->wdb, "COMMIT") : rc;
		if (rc != SQLITE_OK) {
			sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
			count = BM_EIO;
		} else {
			pthread_mutex_lock(&s->lock);
			forget_series(s, ids.v, ids.n);
			pthread_mutex_unlock(&s->lock);
		}
	}
	pthread_mutex_unlock(&s->flush_lock);
	free(ids.v);
	return count;
}

/* Does series id hold data in memory within [lo, hi]? Caller holds lock. */
static bool mem_overlaps(const struct store *s, const struct series *se, int64_t lo, int64_t hi)
{
	if (chunk_enc_count(&se->enc) && chunk_enc_last_ts(&se->enc) >= lo &&
	    chunk_enc_first_ts(&se->enc) <= hi)
		return true;
	for (size_t i = 0; i < s->n_pending; i++)
		if (s->pending[i].id == se->id && s->pending[i].end >= lo && s->pending[i].start <= hi)
			return true;
	for (int t = 0; t < ROLLUP_TIERS; t++) {
		const struct rollup_open *o = &se->roll.t[t];
		if (!o->has_cur && !o->n_done)
			continue;
		int64_t first = o->n_done ? o->first_start : o->cur.start;
		int64_t last = o->has_cur ? o->cur.start : o->last_start;
		if (first <= hi && last + rollup_tiers[t].width_ms > lo)
			return true;
	}
	return false;
}

static bool db_overlaps(sqlite3 *db, int64_t id, int64_t lo, int64_t hi)
{
	static const char *const sql[] = {
		"SELECT 1 FROM chunks WHERE series_id = ?1 AND end_ms >= ?2 AND start_ms <= ?3 LIMIT 1",
		"SELECT 1 FROM rollups WHERE series_id = ?1 AND end_ms >= ?2 AND start_ms <= ?3 LIMIT 1",
	};
	bool hit = false;
	for (size_t q = 0; q < 2 && !hit; q++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql[q], -1, &st, NULL) != SQLITE_OK)
			return true; /* cannot tell: refuse */
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, lo);
		sqlite3_bind_int64(st, 3, hi);
		hit = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return hit;
}

/* Chunks and rollup blocks of the imported samples, in job j. */
static int import_build(struct store *s, int64_t id, const int64_t *ts, const double *v, size_t n,
			struct flush_job *j)
{
	struct rollup_series roll = {0};
	int rc = 0;
	for (size_t off = 0; off < n && !rc; off += s->conf.chunk_samples) {
		struct chunk_enc e;
		chunk_enc_init(&e);
		size_t end = off + s->conf.chunk_samples < n ? off + s->conf.chunk_samples : n;
		for (size_t i = off; i < end && !rc; i++)
			rc = chunk_enc_add(&e, ts[i], v[i]);
		size_t len;
		const uint8_t *d = chunk_enc_data(&e, &len);
		struct sealed c = {.id = id, .start = ts[off], .end = ts[end - 1],
				   .count = (uint32_t)(end - off), .len = len, .data = malloc(len)};
		if (!rc && c.data) {
			memcpy(c.data, d, len);
			rc = job_add(j, &c);
		}
		if (rc || !c.data) {
			free(c.data);
			rc = rc ? rc : BM_ENOMEM;
		}
		chunk_enc_free(&e);
	}
	for (size_t i = 0; i < n && !rc; i++) {
		if (bm_is_stale_nan(v[i]))
			continue;
		int full = rollup_add(&roll, ts[i], v[i]);
		for (int t = 0; t < ROLLUP_TIERS && full > 0; t++) {
			struct bucket *b;
			uint32_t nb = (full & (1 << t)) ? rollup_take_block(&roll, t, &b) : 0;
			struct sealed c;
			if (nb && block_sealed(id, t + 1, b, nb, &c) == 0 && job_add(j, &c))
				free(c.data);
			if (full & (1 << t))
				free(b);
		}
		rc = full < 0 ? full : 0;
	}
	for (int t = 0; t < ROLLUP_TIERS && !rc; t++) {
		struct bucket *b;
		uint32_t nb = rollup_snapshot(&roll, t, true, &b);
		struct sealed c;
		if (nb && block_sealed(id, t + 1, b, nb, &c) == 0 && job_add(j, &c))
			free(c.data);
		free(b);
	}
	rollup_series_free(&roll);
	return rc;
}

int store_import(struct store *s, const char *name, const struct bm_label *labels,
		 uint32_t n_labels, const int64_t *ts, const double *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (ts[i] <= ts[i - 1])
			return BM_EINVAL;
	if (!n)
		return 0;
	/* whole hours: a rollup block of the import must not replace one of
	 * existing data */
	int64_t lo = ts[0] - ((ts[0] % 3600000) + 3600000) % 3600000;
	int64_t hi = ts[n - 1] + 3600000;
	struct flush_job j = {0};
	struct bm_sample first = {name, labels, n_labels, ts[0], v[0]};
	pthread_mutex_lock(&s->flush_lock);
	pthread_mutex_lock(&s->lock);
	struct series *se = series_get(s, &first);
	int rc = !se ? BM_ENOMEM : mem_overlaps(s, se, lo, hi) ? BM_EEXIST : 0;
	bool stored = se && se->stored;
	int64_t id = se ? se->id : 0;
	pthread_mutex_unlock(&s->lock);
	if (!rc && stored && db_overlaps(s->wdb, id, lo, hi))
		rc = BM_EEXIST;
	if (!rc)
		rc = import_build(s, id, ts, v, n, &j);
	if (!rc) {
		int sq = exec_sql(s->wdb, "BEGIN");
		if (sq == SQLITE_OK && !stored)
			sq = write_series(s->wdb, se);
		if (sq == SQLITE_OK)
			sq = write_chunks(s->wdb, &j);
		sq = sq == SQLITE_OK ? exec_sql(s->wdb, "COMMIT") : sq;
		if (sq != SQLITE_OK) {
			sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
			rc = BM_EIO;
		}
	}
	pthread_mutex_lock(&s->lock);
	if (!rc) {
		se->stored = true;
		if (!se->has_last || ts[n - 1] > se->last_ts) {
			se->has_last = true;
			se->last_ts = ts[n - 1];
		}
		s->st.samples_in += n;
	}
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->flush_lock);
	for (size_t i = 0; i < j.n; i++)
		free(j.chunks[i].data);
	free(j.chunks);
	return rc;
}
