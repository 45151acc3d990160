/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The segment queue (see queue.h): segment files of a 16-byte header
 * ("BMRWQ001", creation time) and records (queue_format.h); the writer,
 * the reader and its chunks, acknowledgements, limits, the position file,
 * and the scan of what a previous run left.
 */
#define _GNU_SOURCE
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "queue_format.h"

#define SEG_MAGIC "BMRWQ001"
#define SEG_HEADER 16
#define READ_BLOCK (1u << 20)
#define POSITION_FILE "position"

/* ref -> series of one segment, open addressing (key 0 = empty). */
struct ref_map {
	uint64_t *keys;
	struct rw_series **vals;
	size_t n, cap;
};

struct rwq_seg {
	uint64_t seq;
	uint64_t bytes;      /* whole records, header included */
	uint64_t series_bytes; /* of them, series records (writer's segment only) */
	uint64_t samples;    /* samples in those records */
	uint64_t dispatched; /* handed out by rwq_next, delivered before the saved
			      * position, or dropped */
	int64_t max_ts;      /* newest sample; INT64_MIN when none */
	uint32_t chunks;     /* chunks out and not yet done */
	bool writing;        /* the writer's open segment */
	bool dropped;        /* removed by a limit: the file is gone */
	struct ref_map map;  /* built by the reader as it goes */
	struct rwq_seg *next;
};

struct rwq_chunk {
	struct rwq_seg *seg;
	uint64_t start;       /* offset of its first record */
	uint64_t outstanding; /* items not yet acknowledged (atomic) */
	bool done;
	struct rwq_chunk *next;
};

struct rw_queue {
	struct rw_queue_opts o;
	char *dir;
	int lock_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* new data, a new segment, or rwq_wake */
	struct rwq_seg *head, *tail; /* oldest first */
	uint64_t total_bytes;
	uint64_t n_segs;
	uint64_t pending; /* atomic */
	uint64_t next_seq;
	struct rwq_stats st;

	/* the writer's; wseg under lock */
	int wfd;
	struct rwq_seg *wseg;
	int64_t last_sync_ms;

	/* the reader's; rseg, roff, the chunk list under lock */
	struct rwq_seg *rseg;
	uint64_t roff;
	uint64_t skip_until; /* records of rseg before this were delivered */
	int rfd;
	uint64_t rfd_seq;
	uint8_t *rbuf;
	size_t rbuf_cap;
	size_t read_want; /* a record larger than READ_BLOCK asks for more */
	struct rw_item *items;
	size_t items_cap;
	struct rwq_chunk *chunks, *chunks_tail;
	bool woken;
	uint64_t saved_seq, saved_off;
};

/* ---- the reader's ref map --------------------------------------------- */

static size_t map_slot(uint64_t ref, size_t cap)
{
	return (size_t)((ref * 0x9e3779b97f4a7c15ULL) >> 17) & (cap - 1);
}

static struct rw_series *map_get(const struct ref_map *m, uint64_t ref)
{
	if (!m->cap)
		return NULL;
	for (size_t i = map_slot(ref, m->cap); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == ref)
			return m->vals[i];
	return NULL;
}

static int map_grow(struct ref_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	uint64_t *keys = calloc(cap, sizeof(*keys));
	struct rw_series **vals = calloc(cap, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return BM_ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t k = map_slot(m->keys[i], cap);
		while (keys[k])
			k = (k + 1) & (cap - 1);
		keys[k] = m->keys[i];
		vals[k] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

/* Add ref -> s (the map owns s); a ref already there keeps its first
 * series, which items out may point at. */
static void map_put(struct ref_map *m, uint64_t ref, struct rw_series *s)
{
	if ((m->n + 1) * 2 > m->cap && map_grow(m)) {
		rw_series_free(s);
		return;
	}
	size_t i = map_slot(ref, m->cap);
	while (m->keys[i] && m->keys[i] != ref)
		i = (i + 1) & (m->cap - 1);
	if (m->keys[i]) {
		rw_series_free(s);
		return;
	}
	m->keys[i] = ref;
	m->vals[i] = s;
	m->n++;
}

static void map_free(struct ref_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			rw_series_free(m->vals[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- segments --------------------------------------------------------- */

static void seg_path(const struct rw_queue *q, uint64_t seq, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%016" PRIx64 ".seg", q->dir, seq);
}

static void seg_append(struct rw_queue *q, struct rwq_seg *s)
{
	if (q->tail)
		q->tail->next = s;
	else
		q->head = s;
	q->tail = s;
	q->n_segs++;
	q->total_bytes += s->bytes;
}

static void seg_unlink_file(struct rw_queue *q, struct rwq_seg *s)
{
	char path[PATH_MAX];
	seg_path(q, s->seq, path, sizeof(path));
	unlink(path);
	q->total_bytes -= s->bytes;
}

/* Free s once nothing needs it: no chunk out, the reader past it (or it
 * was dropped and the reader is not in it), the writer done with it. */
static void seg_release_locked(struct rw_queue *q, struct rwq_seg *s)
{
	if (s->chunks || s == q->wseg || s == q->rseg)
		return;
	if (!s->dropped && !(q->rseg && s->seq < q->rseg->seq))
		return;
	if (!s->dropped)
		seg_unlink_file(q, s);
	struct rwq_seg **pp = &q->head, *prev = NULL;
	while (*pp && *pp != s) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = s->next;
	if (q->tail == s)
		q->tail = prev;
	q->n_segs--;
	map_free(&s->map);
	free(s);
}

/* Remove s unsent: what the reader has not handed out is dropped. */
static void seg_drop_locked(struct rw_queue *q, struct rwq_seg *s)
{
	uint64_t unsent = s->samples - s->dispatched;
	__atomic_add_fetch(&q->st.dropped, unsent, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&q->pending, unsent, __ATOMIC_RELAXED);
	s->dispatched = s->samples;
	s->dropped = true;
	seg_unlink_file(q, s);
	pthread_cond_broadcast(&q->cond);
	seg_release_locked(q, s);
}

static void enforce_size_locked(struct rw_queue *q)
{
	struct rwq_seg *s = q->head;
	while (s && q->total_bytes > q->o.max_size) {
		struct rwq_seg *next = s->next;
		if (s != q->wseg && !s->dropped)
			seg_drop_locked(q, s);
		s = next;
	}
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_full(int fd, const void *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, (const char *)p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* A new segment for the writer; on failure wseg stays NULL (errno set). */
static void open_segment_locked(struct rw_queue *q)
{
	char path[PATH_MAX];
	uint64_t seq = q->next_seq++;
	seg_path(q, seq, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	uint8_t head[SEG_HEADER];
	memcpy(head, SEG_MAGIC, 8);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	for (int i = 0; i < 8; i++)
		head[8 + i] = (uint8_t)(ms >> (8 * i));
	struct rwq_seg *s = calloc(1, sizeof(*s));
	if (!s || write_full(fd, head, sizeof(head)) || fsync_dir(q->dir)) {
		int e = s ? errno : ENOMEM;
		free(s);
		close(fd);
		unlink(path);
		errno = e;
		return;
	}
	s->seq = seq;
	s->bytes = SEG_HEADER;
	s->max_ts = INT64_MIN;
	s->writing = true;
	seg_append(q, s);
	q->wfd = fd;
	q->wseg = s;
	q->last_sync_ms = notify_mono_ms();
	pthread_cond_broadcast(&q->cond);
}

/* The writer's segment is done: synced, closed, readable to its end. */
static void seal_writer(struct rw_queue *q)
{
	if (q->wfd < 0)
		return;
	fdatasync(q->wfd);
	close(q->wfd);
	q->wfd = -1;
	pthread_mutex_lock(&q->lock);
	if (q->wseg)
		q->wseg->writing = false;
	q->wseg = NULL;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/*
 * Every segment names the series it uses once, so that it reads on its
 * own; with many series and a small segment_size the segments would be
 * mostly names. So a segment closes at segment_size only once names are at
 * most a quarter of it (or it reached a quarter of max_size).
 */
static bool writer_full(const struct rw_queue *q)
{
	const struct rwq_seg *s = q->wseg;
	return s && s->bytes >= q->o.segment_size &&
	       (s->series_bytes * 4 <= s->bytes || s->bytes >= q->o.max_size / 4);
}

uint64_t rwq_write_begin(struct rw_queue *q)
{
	if (writer_full(q))
		seal_writer(q);
	pthread_mutex_lock(&q->lock);
	if (!q->wseg)
		open_segment_locked(q);
	enforce_size_locked(q);
	uint64_t seq = q->wseg ? q->wseg->seq : 0;
	pthread_mutex_unlock(&q->lock);
	return seq;
}

static int writev_full(int fd, struct iovec *iov, int n)
{
	int i = 0;
	while (i < n) {
		ssize_t w = writev(fd, iov + i, n - i);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		size_t left = (size_t)w;
		while (i < n && left >= iov[i].iov_len)
			left -= iov[i++].iov_len;
		if (i < n) {
			iov[i].iov_base = (char *)iov[i].iov_base + left;
			iov[i].iov_len -= left;
		}
	}
	return 0;
}

static void written(struct rw_queue *q, const struct rwq_batch *b, size_t len)
{
	pthread_mutex_lock(&q->lock);
	struct rwq_seg *s = q->wseg;
	s->bytes += len;
	s->series_bytes += b->series.len;
	s->samples += b->n;
	if (b->n && b->max_ts > s->max_ts)
		s->max_ts = b->max_ts;
	q->total_bytes += len;
	__atomic_add_fetch(&q->pending, b->n, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	int64_t now = notify_mono_ms();
	if (now - q->last_sync_ms >= q->o.sync_interval_ms) {
		fdatasync(q->wfd);
		q->last_sync_ms = now;
	}
}

int rwq_write(struct rw_queue *q, struct rwq_batch *b)
{
	if (b->n)
		rwq_rec_close(&b->samples, 0, RWQ_REC_SAMPLES);
	size_t len = b->series.len + b->samples.len;
	int rc = 0;
	if (len && q->wfd < 0) {
		rc = BM_EIO;
	} else if (len) {
		struct iovec iov[2] = {{b->series.data, b->series.len},
				       {b->samples.data, b->samples.len}};
		rc = writev_full(q->wfd, iov, 2) ? BM_EIO : 0;
		if (!rc)
			written(q, b, len);
	}
	if (rc) {
		int e = errno;
		/* cut a torn record off; a closed segment is read to its last whole one */
		if (q->wfd >= 0 && ftruncate(q->wfd, (off_t)q->wseg->bytes))
			e = errno;
		seal_writer(q);
		__atomic_add_fetch(&q->st.write_errors, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&q->st.dropped, b->n, __ATOMIC_RELAXED);
		errno = e;
	}
	rwq_batch_reset(b);
	return rc;
}

/* ---- reading ---------------------------------------------------------- */

struct span {
	struct rwq_seg *seg;
	uint64_t off, end;
};

static int timed_wait(struct rw_queue *q, int64_t deadline_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t left = deadline_ms - notify_mono_ms();
	if (left <= 0)
		return ETIMEDOUT;
	ts.tv_sec += left / 1000;
	ts.tv_nsec += (left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

/* Move the reader to the next segment: false when there is none yet. */
static bool advance_locked(struct rw_queue *q)
{
	struct rwq_seg *old = q->rseg;
	if (!old->next)
		return false;
	q->rseg = old->next;
	q->roff = SEG_HEADER;
	q->skip_until = 0;
	seg_release_locked(q, old);
	return true;
}

/* Wait for bytes to read; false after the wait or a wake. */
static bool reader_span(struct rw_queue *q, int64_t wait_ms, struct span *sp)
{
	int64_t deadline = notify_mono_ms() + wait_ms;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct rwq_seg *s = q->rseg;
		bool ready = false;
		if (q->woken) {
			q->woken = false;
			break;
		}
		if (!s && q->head) {
			q->rseg = q->head;
			q->roff = SEG_HEADER;
			continue;
		}
		if (s && (s->dropped || (q->roff >= s->bytes && !s->writing))) {
			if (advance_locked(q))
				continue;
		} else if (s) {
			ready = q->roff < s->bytes;
		}
		if (ready) {
			size_t block = q->read_want > READ_BLOCK ? q->read_want : READ_BLOCK;
			*sp = (struct span){s, q->roff, s->bytes};
			if (sp->end - sp->off > block)
				sp->end = sp->off + block;
			pthread_mutex_unlock(&q->lock);
			return true;
		}
		if (timed_wait(q, deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&q->lock);
	return false;
}

static int reserve_items(struct rw_queue *q, size_t n)
{
	if (n <= q->items_cap)
		return 0;
	size_t cap = q->items_cap ? q->items_cap * 2 : 4096;
	while (cap < n)
		cap *= 2;
	struct rw_item *v = realloc(q->items, cap * sizeof(*v));
	if (!v)
		return BM_ENOMEM;
	q->items = v;
	q->items_cap = cap;
	return 0;
}

/* Read the span into rbuf: 0, or -1 when the file is gone (dropped). */
static int load_span(struct rw_queue *q, const struct span *sp)
{
	if (q->rfd < 0 || q->rfd_seq != sp->seg->seq) {
		char path[PATH_MAX];
		if (q->rfd >= 0)
			close(q->rfd);
		seg_path(q, sp->seg->seq, path, sizeof(path));
		q->rfd = open(path, O_RDONLY | O_CLOEXEC);
		q->rfd_seq = sp->seg->seq;
		if (q->rfd < 0)
			return -1;
	}
	size_t len = (size_t)(sp->end - sp->off);
	if (len > q->rbuf_cap) {
		uint8_t *b = realloc(q->rbuf, len);
		if (!b)
			return -1;
		q->rbuf = b;
		q->rbuf_cap = len;
	}
	for (size_t got = 0; got < len;) {
		ssize_t r = pread(q->rfd, q->rbuf + got, len - got, (off_t)(sp->off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The samples of one record into q->items from *n on; false when out of
 * memory. Unknown refs count as corrupt. */
static bool take_samples(struct rw_queue *q, struct rwq_seg *s, const struct rwq_rec *r, size_t *n)
{
	struct rwq_sample_iter it = {r->p, r->end, 0};
	uint64_t ref;
	int64_t ts;
	double v;
	int k;
	size_t n0 = *n;
	while ((k = rwq_sample_next(&it, &ref, &ts, &v)) == 1) {
		struct rw_series *series = map_get(&s->map, ref);
		if (!series) {
			__atomic_add_fetch(&q->st.corrupt, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (reserve_items(q, *n + 1)) {
			*n = n0; /* the whole record again next time */
			return false;
		}
		q->items[(*n)++] = (struct rw_item){series, ts, v, NULL};
	}
	if (k < 0)
		__atomic_add_fetch(&q->st.corrupt, 1, __ATOMIC_RELAXED);
	return true;
}

/* Parse the loaded span: *n items, *used bytes of whole records; false
 * when a damaged record ends the segment for us. */
static bool parse_span(struct rw_queue *q, const struct span *sp, size_t max, size_t *n,
		       uint64_t *used)
{
	const uint8_t *p = q->rbuf;
	size_t avail = (size_t)(sp->end - sp->off);
	*n = 0;
	*used = 0;
	q->read_want = 0;
	while (*n < max) {
		struct rwq_rec r;
		int k = rwq_rec_at(p + *used, avail - *used, &r);
		if (k < 0)
			return false;
		if (k == 0) {
			if (!*used && avail >= 8)
				q->read_want = (size_t)rwq_get_le32(p) + 8;
			return true;
		}
		uint64_t at = sp->off + *used;
		if (r.type == RWQ_REC_SERIES) {
			uint64_t ref;
			struct rw_series *s = rwq_series_of(&r, &ref);
			if (s)
				map_put(&sp->seg->map, ref, s);
			else
				__atomic_add_fetch(&q->st.corrupt, 1, __ATOMIC_RELAXED);
		} else if (at >= q->skip_until && !take_samples(q, sp->seg, &r, n)) {
			return true; /* out of memory: this record again next time */
		}
		*used += r.size;
	}
	return true;
}

static struct rwq_chunk *chunk_add_locked(struct rw_queue *q, struct rwq_seg *s, uint64_t start,
					  size_t n)
{
	struct rwq_chunk *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->seg = s;
	c->start = start;
	c->outstanding = n;
	if (q->chunks_tail)
		q->chunks_tail->next = c;
	else
		q->chunks = c;
	q->chunks_tail = c;
	s->chunks++;
	return c;
}

/* Hand the parsed items out, unless the segment went meanwhile. */
static size_t publish_span(struct rw_queue *q, const struct span *sp, size_t n, uint64_t used,
			   bool damaged)
{
	struct rwq_chunk *c = NULL;
	struct rwq_seg *s = sp->seg;
	pthread_mutex_lock(&q->lock);
	if (!s->dropped && n)
		c = chunk_add_locked(q, s, sp->off, n);
	if (s->dropped || (n && !c)) {
		n = 0; /* dropped: counted by the drop; no memory: read again */
	} else {
		s->dispatched += n;
		q->roff = sp->off + used;
		if (damaged) {
			/* the rest of the segment cannot be read: it is lost */
			uint64_t lost = s->samples > s->dispatched ? s->samples - s->dispatched : 0;
			__atomic_add_fetch(&q->st.dropped, lost, __ATOMIC_RELAXED);
			__atomic_sub_fetch(&q->pending, lost, __ATOMIC_RELAXED);
			__atomic_add_fetch(&q->st.corrupt, 1, __ATOMIC_RELAXED);
			s->dispatched = s->samples;
			q->roff = s->bytes;
		}
	}
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; i < n; i++)
		q->items[i].chunk = c;
	return n;
}

size_t rwq_next(struct rw_queue *q, size_t max, int64_t wait_ms, struct rw_item **items)
{
	struct span sp;
	*items = q->items;
	if (!reader_span(q, wait_ms, &sp))
		return 0;
	size_t n = 0;
	uint64_t used = 0;
	/* a file that cannot be read (gone, cut short) is lost from here on,
	 * unless a limit dropped it, which publish_span sees */
	bool damaged = load_span(q, &sp) != 0 || !parse_span(q, &sp, max ? max : 1, &n, &used);
	n = publish_span(q, &sp, n, used, damaged);
	*items = q->items;
	return n;
}

void rwq_wake(struct rw_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->woken = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void rwq_ack(struct rw_queue *q, struct rwq_chunk *c, uint64_t n)
{
	if (!n)
		return;
	__atomic_sub_fetch(&q->pending, n, __ATOMIC_RELAXED);
	if (__atomic_sub_fetch(&c->outstanding, n, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_lock(&q->lock);
	struct rwq_seg *s = c->seg;
	c->done = true;
	s->chunks--;
	while (q->chunks && q->chunks->done) {
		struct rwq_chunk *head = q->chunks;
		q->chunks = head->next;
		if (!q->chunks)
			q->chunks_tail = NULL;
		free(head);
	}
	seg_release_locked(q, s);
	pthread_mutex_unlock(&q->lock);
}

void rwq_drop(struct rw_queue *q, struct rwq_chunk *c, uint64_t n)
{
	__atomic_add_fetch(&q->st.dropped, n, __ATOMIC_RELAXED);
	rwq_ack(q, c, n);
}

/* ---- position --------------------------------------------------------- */

/* Everything before (seq, off) is delivered or dropped. */
static void position_locked(const struct rw_queue *q, uint64_t *seq, uint64_t *off)
{
	if (q->chunks) {
		*seq = q->chunks->seg->seq;
		*off = q->chunks->start;
	} else if (q->rseg) {
		*seq = q->rseg->seq;
		*off = q->roff > q->skip_until ? q->roff : q->skip_until;
	} else if (q->head) { /* the reader has not started: nothing is delivered */
		*seq = q->head->seq;
		*off = 0;
	} else {
		*seq = q->next_seq;
		*off = 0;
	}
}

static void save_position(struct rw_queue *q, uint64_t seq, uint64_t off)
{
	char path[PATH_MAX], text[64];
	if (seq == q->saved_seq && off == q->saved_off)
		return;
	snprintf(path, sizeof(path), "%s/" POSITION_FILE, q->dir);
	int n = snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64 "\n", seq, off);
	if (notify_write_file(path, text, (size_t)n) == 0) {
		q->saved_seq = seq;
		q->saved_off = off;
	}
}

void rwq_maintain(struct rw_queue *q, int64_t now_ms)
{
	uint64_t seq, off;
	pthread_mutex_lock(&q->lock);
	int64_t oldest = now_ms - q->o.max_age_ms;
	for (struct rwq_seg *s = q->head, *next; s; s = next) {
		next = s->next;
		if (!s->writing && !s->dropped && s->samples > s->dispatched && s->max_ts < oldest)
			seg_drop_locked(q, s);
	}
	position_locked(q, &seq, &off);
	pthread_mutex_unlock(&q->lock);
	save_position(q, seq, off);
}

/* ---- opening: the segments a previous run left ------------------------ */

static bool parse_seg_name(const char *name, uint64_t *seq)
{
	char *end;
	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return false;
	errno = 0;
	*seq = strtoull(name, &end, 16);
	return errno == 0 && end == name + 16;
}

static int by_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sequence numbers of the segment files in dir, sorted: *n of them. */
static uint64_t *list_segments(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	uint64_t *v = NULL, seq;
	size_t cap = 0;
	*n = 0;
	if (!d)
		return NULL;
	for (struct dirent *e; (e = readdir(d));) {
		if (!parse_seg_name(e->d_name, &seq))
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, nc * sizeof(*v));
			if (!nv)
				break;
			v = nv;
			cap = nc;
		}
		v[(*n)++] = seq;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), by_seq);
	return v;
}

static void read_position(struct rw_queue *q, uint64_t *seq, uint64_t *off)
{
	char path[PATH_MAX];
	*seq = 0;
	*off = 0;
	snprintf(path, sizeof(path), "%s/" POSITION_FILE, q->dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (fscanf(f, "%" SCNu64 " %" SCNu64, seq, off) != 2)
		*seq = *off = 0;
	fclose(f);
	q->saved_seq = *seq;
	q->saved_off = *off;
}

static int read_whole(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	*buf = NULL;
	*len = 0;
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*buf = malloc((size_t)st.st_size + 1);
	ssize_t got = 0;
	while (*buf && got < st.st_size) {
		ssize_t r = pread(fd, *buf + got, (size_t)(st.st_size - got), got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	*len = (size_t)got;
	return *buf ? 0 : -1;
}

/* Count what s holds up to its last whole record; samples of records
 * before pos_off are delivered. The file is cut after that record. */
static void scan_segment(struct rw_queue *q, struct rwq_seg *s, const uint8_t *b, size_t len,
			 uint64_t pos_off)
{
	size_t off = SEG_HEADER;
	struct rwq_rec r;
	while (rwq_rec_at(b + off, len - off, &r) == 1) {
		if (r.type == RWQ_REC_SAMPLES) {
			struct rwq_sample_iter it = {r.p, r.end, 0};
			uint64_t ref;
			int64_t ts;
			double v;
			while (rwq_sample_next(&it, &ref, &ts, &v) == 1) {
				s->samples++;
				s->dispatched += off < pos_off;
				s->max_ts = ts > s->max_ts ? ts : s->max_ts;
			}
		}
		off += r.size;
	}
	s->bytes = off;
	if (off < len) {
		char path[PATH_MAX];
		seg_path(q, s->seq, path, sizeof(path));
		if (truncate(path, (off_t)off) == 0)
			__atomic_add_fetch(&q->st.corrupt, 1, __ATOMIC_RELAXED);
	}
}

/* Take segment seq into the queue, or remove its file when it was
 * delivered or cannot be a segment. */
static void load_segment(struct rw_queue *q, uint64_t seq, uint64_t pos_seq, uint64_t pos_off)
{
	char path[PATH_MAX];
	uint8_t *b;
	size_t len;
	seg_path(q, seq, path, sizeof(path));
	if (seq < pos_seq || read_whole(path, &b, &len)) {
		unlink(path);
		return;
	}
	struct rwq_seg *s = NULL;
	if (len >= SEG_HEADER && memcmp(b, SEG_MAGIC, 8) == 0 && (s = calloc(1, sizeof(*s)))) {
		s->seq = seq;
		s->max_ts = INT64_MIN;
		scan_segment(q, s, b, len, seq == pos_seq ? pos_off : 0);
		seg_append(q, s);
		__atomic_add_fetch(&q->pending, s->samples - s->dispatched, __ATOMIC_RELAXED);
	} else if (len >= SEG_HEADER) {
		char bad[PATH_MAX + 8];
		snprintf(bad, sizeof(bad), "%s.corrupt", path);
		rename(path, bad);
		__atomic_add_fetch(&q->st.corrupt, 1, __ATOMIC_RELAXED);
	} else {
		unlink(path); /* created, never written: a crash right after open */
	}
	free(b);
}

static void load_dir(struct rw_queue *q)
{
	uint64_t pos_seq, pos_off;
	size_t n;
	read_position(q, &pos_seq, &pos_off);
	uint64_t *seqs = list_segments(q->dir, &n);
	for (size_t i = 0; i < n; i++)
		load_segment(q, seqs[i], pos_seq, pos_off);
	q->next_seq = n ? seqs[n - 1] + 1 : pos_seq + 1;
	free(seqs);
	if (q->head) {
		q->rseg = q->head;
		q->roff = SEG_HEADER;
		q->skip_until = q->head->seq == pos_seq ? pos_off : 0;
	}
	q->st.loaded = q->pending;
	enforce_size_locked(q);
}

static int lock_dir(struct rw_queue *q, struct bm_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/lock", q->dir);
	q->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (q->lock_fd < 0)
		return bm_err_set(err, BM_EIO, "queue %s: %s", path, strerror(errno));
	if (flock(q->lock_fd, LOCK_EX | LOCK_NB)) {
		close(q->lock_fd);
		q->lock_fd = -1; /* and rwq_close leaves the other's position alone */
		return bm_err_set(err, BM_EIO, "queue %s is in use by another process", q->dir);
	}
	return 0;
}

static int init_sync(struct rw_queue *q)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca))
		return BM_ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc)
		return BM_ENOMEM;
	if (pthread_mutex_init(&q->lock, NULL)) {
		pthread_cond_destroy(&q->cond);
		return BM_ENOMEM;
	}
	return 0;
}

int rwq_open(const struct rw_queue_opts *o, struct rw_queue **out, struct bm_err *err)
{
	*out = NULL;
	struct rw_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	q->o = *o;
	q->wfd = q->rfd = q->lock_fd = -1;
	q->dir = strdup(o->dir);
	if (!q->dir || init_sync(q)) {
		free(q->dir);
		free(q);
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	int rc = 0;
	if (notify_mkdirs(q->dir, 0700))
		rc = bm_err_set(err, BM_EIO, "cannot create %s: %s", q->dir, strerror(errno));
	rc = rc ? rc : lock_dir(q, err);
	if (!rc)
		load_dir(q);
	if (rc) {
		rwq_close(q);
		return rc;
	}
	*out = q;
	return 0;
}

void rwq_close(struct rw_queue *q)
{
	if (!q)
		return;
	uint64_t seq, off;
	seal_writer(q);
	pthread_mutex_lock(&q->lock);
	position_locked(q, &seq, &off);
	pthread_mutex_unlock(&q->lock);
	if (q->lock_fd >= 0)
		save_position(q, seq, off);
	while (q->chunks) {
		struct rwq_chunk *c = q->chunks;
		q->chunks = c->next;
		free(c);
	}
	for (struct rwq_seg *s = q->head, *next; s; s = next) {
		next = s->next;
		map_free(&s->map);
		free(s);
	}
	if (q->rfd >= 0)
		close(q->rfd);
	if (q->lock_fd >= 0)
		close(q->lock_fd);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q->rbuf);
	free(q->items);
	free(q->dir);
	free(q);
}

void rwq_count_dropped(struct rw_queue *q, uint64_t n)
{
	__atomic_add_fetch(&q->st.dropped, n, __ATOMIC_RELAXED);
}

const struct rwq_stats *rwq_stats(const struct rw_queue *q)
{
	return &q->st;
}

void rwq_usage(struct rw_queue *q, uint64_t *pending, uint64_t *bytes, uint64_t *segments)
{
	pthread_mutex_lock(&q->lock);
	*pending = __atomic_load_n(&q->pending, __ATOMIC_RELAXED);
	*bytes = q->total_bytes;
	*segments = q->n_segs;
	pthread_mutex_unlock(&q->lock);
}
