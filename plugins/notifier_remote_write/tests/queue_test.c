/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the disk queue: what is written is read back in order with
 * its labels; acknowledged samples are not read again after a reopen and
 * unacknowledged ones are; the size and age limits drop the oldest and
 * count exactly what they drop; a torn tail or a damaged record is set
 * aside; one process per queue directory.
 */
#define _GNU_SOURCE
#include <bearmon/bm_host.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "queue.h"
#include "rwhost.h"

const struct bm_host_api *bm__host_api;

struct fx {
	struct rw_queue_opts o;
	struct rw_queue *q;
	char dir[256];
};

static void fx_open(struct fx *f, uint64_t max_size, uint64_t seg_size)
{
	rh_open();
	snprintf(f->dir, sizeof(f->dir), "%s/q", rh.dir);
	f->o = (struct rw_queue_opts){.dir = f->dir, .max_size = max_size, .max_age_ms = 3600000,
				      .segment_size = seg_size, .sync_interval_ms = 1000};
	struct bm_err err = {0};
	assert_int_equal(rwq_open(&f->o, &f->q, &err), 0);
}

static void fx_reopen(struct fx *f)
{
	struct bm_err err = {0};
	rwq_close(f->q);
	assert_int_equal(rwq_open(&f->o, &f->q, &err), 0);
}

static void fx_close(struct fx *f)
{
	rwq_close(f->q);
	rh_close();
}

/* One record: n samples of series ref (labels __name__=m, i=ref), values
 * first.., timestamps ts.. */
static void put(struct fx *f, uint64_t ref, int first, int n, int64_t ts)
{
	static struct rwq_batch b;
	char v[16];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)ref);
	struct bm_label l[] = {{"__name__", "m"}, {"i", v}};
	uint64_t seg = rwq_write_begin(f->q);
	assert_int_not_equal(seg, 0);
	assert_int_equal(rwq_batch_series(&b, ref, l, 2), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(rwq_batch_sample(&b, ref, ts + i, first + i), 0);
	assert_int_equal(rwq_write(f->q, &b), 0);
	rwq_batch_free(&b);
}

static uint64_t pending(struct fx *f)
{
	uint64_t p, bytes, segs;
	rwq_usage(f->q, &p, &bytes, &segs);
	return p;
}

static uint64_t segments(struct fx *f)
{
	uint64_t p, bytes, segs;
	rwq_usage(f->q, &p, &bytes, &segs);
	return segs;
}

static const char *label(const struct rw_item *it, size_t i)
{
	return it->series->labels[i].value;
}

static void test_write_read_ack(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 1 << 30, 1 << 20);
	put(&f, 1, 10, 3, 1000);
	put(&f, 2, 20, 2, 5000);
	assert_int_equal(pending(&f), 5);
	struct rw_item *it;
	size_t n = rwq_next(f.q, 100, 1000, &it);
	assert_int_equal(n, 5);
	assert_string_equal(label(&it[0], 0), "m");
	assert_string_equal(label(&it[0], 1), "1");
	assert_int_equal(it[2].ts_ms, 1002);
	assert_int_equal(it[2].value, 12);
	assert_string_equal(label(&it[3], 1), "2");
	assert_int_equal(it[4].ts_ms, 5001);
	assert_int_equal(rwq_next(f.q, 100, 10, &it), 0); /* nothing new: waits, then 0 */
	rwq_ack(f.q, it[0].chunk, 5);
	assert_int_equal(pending(&f), 0);
	fx_reopen(&f);
	assert_int_equal(pending(&f), 0);
	assert_int_equal(rwq_stats(f.q)->loaded, 0);
	assert_int_equal(rwq_next(f.q, 100, 10, &it), 0);
	fx_close(&f);
}

/* What was read but not acknowledged comes back after a restart, with its
 * series known again; what was acknowledged does not. */
static void test_restart_resends_unacked(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 1 << 30, 1 << 20);
	put(&f, 1, 0, 4, 1000);
	put(&f, 2, 100, 3, 2000);
	struct rw_item *it;
	assert_int_equal(rwq_next(f.q, 1, 1000, &it), 4); /* whole records, about max */
	rwq_ack(f.q, it[0].chunk, 4);
	assert_int_equal(rwq_next(f.q, 1, 1000, &it), 3);
	fx_reopen(&f); /* the second chunk was never acknowledged */
	assert_int_equal(pending(&f), 3);
	assert_int_equal(rwq_stats(f.q)->loaded, 3);
	size_t n = rwq_next(f.q, 100, 1000, &it);
	assert_int_equal(n, 3);
	assert_string_equal(label(&it[0], 1), "2");
	assert_int_equal(it[0].value, 100);
	/* written after the restart: a new segment, read after the old one */
	put(&f, 7, 5, 1, 9000);
	rwq_ack(f.q, it[0].chunk, 3);
	n = rwq_next(f.q, 100, 1000, &it);
	assert_int_equal(n, 1);
	assert_string_equal(label(&it[0], 1), "7");
	rwq_ack(f.q, it[0].chunk, 1);
	assert_int_equal(pending(&f), 0);
	fx_close(&f);
}

/* Past max_size the oldest segments go; every sample they held unsent is
 * counted, and the newest are still read, in order. */
static void test_size_limit(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 64 * 1024, 8 * 1024);
	int written = 0;
	for (int i = 0; i < 200; i++, written += 50)
		put(&f, (uint64_t)i + 1, written, 50, 1000 + written);
	uint64_t dropped = rwq_stats(f.q)->dropped;
	assert_true(dropped > 0);
	assert_int_equal(pending(&f) + dropped, (uint64_t)written);
	struct rw_item *it;
	uint64_t got = 0;
	double prev = -1;
	size_t n;
	while ((n = rwq_next(f.q, 1000, 100, &it))) {
		for (size_t i = 0; i < n; i++) {
			assert_true(it[i].value > prev);
			prev = it[i].value;
		}
		rwq_ack(f.q, it[0].chunk, n);
		got += n;
	}
	assert_int_equal(got + dropped, (uint64_t)written);
	assert_int_equal(prev, written - 1); /* the newest survived */
	fx_close(&f);
}

/* A limit may remove the segment whose items are still out: they stay
 * valid until acknowledged, and only what was not handed out is dropped. */
static void test_drop_while_out(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 64 * 1024, 8 * 1024);
	put(&f, 1, 0, 10, 1000);
	struct rw_item *it;
	assert_int_equal(rwq_next(f.q, 1, 1000, &it), 10);
	struct rw_item first = it[0];
	for (int i = 0; i < 200; i++)
		put(&f, (uint64_t)i + 2, i * 50, 50, 2000 + i * 50);
	assert_string_equal(label(&first, 1), "1"); /* still readable: ASan would say */
	uint64_t dropped = rwq_stats(f.q)->dropped;
	assert_true(dropped > 0);
	rwq_ack(f.q, first.chunk, 10);
	assert_int_equal(pending(&f) + dropped, 200 * 50);
	fx_close(&f);
}

static void test_age_limit(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 1 << 30, 16 * 1024);
	int64_t now = lb_wall_ms(NULL);
	for (int i = 0; i < 100; i++) /* old enough, and several segments */
		put(&f, (uint64_t)i + 1, i * 100, 100, now - 7200000 + i * 100);
	put(&f, 999, 0, 5, now);
	assert_true(segments(&f) > 2);
	rwq_maintain(f.q, now);
	uint64_t dropped = rwq_stats(f.q)->dropped;
	assert_true(dropped > 0);
	assert_int_equal(dropped % 100, 0); /* whole segments of old samples */
	assert_int_equal(pending(&f) + dropped, 100 * 100 + 5);
	fx_close(&f);
}

/* Many series, few samples each: a segment stays open past segment_size
 * until samples, not names, fill most of it. */
static void test_names_do_not_fill_segments(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 1 << 30, 16 * 1024);
	for (int i = 0; i < 1000; i++)
		put(&f, (uint64_t)i + 1, i, 1, 1000);
	assert_int_equal(segments(&f), 1);
	uint64_t p, bytes, segs;
	rwq_usage(f.q, &p, &bytes, &segs);
	assert_true(bytes > 16 * 1024);
	for (int i = 0; i < 400 && segments(&f) == 1; i++)
		put(&f, 5000, i * 100, 100, 2000 + i * 100); /* 100 samples per name */
	assert_int_equal(segments(&f), 2);
	fx_close(&f);
}

static char *seg_file(struct fx *f)
{
	static char path[512];
	FILE *p;
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "ls %s/*.seg | head -1", f->dir);
	p = popen(cmd, "r");
	assert_non_null(fgets(path, sizeof(path), p));
	pclose(p);
	path[strcspn(path, "\n")] = '\0';
	return path;
}

/* A record cut short by a crash is set aside; the rest reads. */
static void test_torn_tail(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 1 << 30, 1 << 20);
	put(&f, 1, 0, 5, 1000);
	rwq_close(f.q);
	int fd = open(seg_file(&f), O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x40\0\0\0garbage", 11), 11);
	close(fd);
	struct bm_err err = {0};
	assert_int_equal(rwq_open(&f.o, &f.q, &err), 0);
	assert_int_equal(rwq_stats(f.q)->corrupt, 1);
	assert_int_equal(pending(&f), 5);
	put(&f, 2, 50, 2, 2000);
	struct rw_item *it;
	size_t n = rwq_next(f.q, 100, 1000, &it);
	assert_int_equal(n, 5);
	rwq_ack(f.q, it[0].chunk, n);
	assert_int_equal(rwq_next(f.q, 100, 1000, &it), 2);
	fx_close(&f);
}

/* A damaged record in a segment being read: the rest of it is lost and
 * counted as dropped. */
static void test_damaged_record(void **unused)
{
	(void)unused;
	struct fx f;
	fx_open(&f, 1 << 30, 1 << 20);
	put(&f, 1, 0, 5, 1000);
	put(&f, 2, 10, 5, 2000);
	int fd = open(seg_file(&f), O_RDWR);
	struct stat st;
	fstat(fd, &st);
	assert_int_equal(pwrite(fd, "\xff", 1, st.st_size - 3), 1); /* in the last value */
	close(fd);
	struct rw_item *it;
	size_t n = rwq_next(f.q, 100, 1000, &it);
	assert_int_equal(n, 5);
	assert_int_equal(rwq_stats(f.q)->dropped, 5);
	assert_true(rwq_stats(f.q)->corrupt >= 1);
	rwq_ack(f.q, it[0].chunk, n);
	assert_int_equal(pending(&f), 0);
	fx_close(&f);
}

static void test_one_process(void **unused)
{
	(void)unused;
	struct fx f;
	struct rw_queue *other;
	struct bm_err err = {0};
	fx_open(&f, 1 << 30, 1 << 20);
	put(&f, 1, 0, 1, 1000);
	assert_int_equal(rwq_open(&f.o, &other, &err), BM_EIO);
	assert_non_null(strstr(err.msg, "in use"));
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read_ack), cmocka_unit_test(test_restart_resends_unacked),
		cmocka_unit_test(test_size_limit),     cmocka_unit_test(test_drop_while_out),
		cmocka_unit_test(test_age_limit),      cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_names_do_not_fill_segments),
		cmocka_unit_test(test_damaged_record), cmocka_unit_test(test_one_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
