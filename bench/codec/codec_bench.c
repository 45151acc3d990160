/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Throughput of the `metric` codec on one core: encode and decode of
 * batches of 256 samples with 3 labels each, as the bus carries them. Also
 * decodes the same body with msgpack-c's object tree (msgpack_unpack_next)
 * for reference: event_metric.c's choice of its own reader rests on it.
 * Not a test; prints one line per figure, e.g.
 *   BENCH codec bearmon:metric_codec decode_samples_per_s 1.2e7 1/s
 * Usage: event_bench [seconds per figure, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "bearmon/bm_event.h"

#define BATCH 256

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Realistic series: node_exporter-like names, 3 sorted labels. */
static char names[BATCH][48], vals[BATCH][2][24];
static struct bm_label labels[BATCH][3];
static struct bm_sample samples[BATCH];

static void make_batch(struct bm_metric_batch *b)
{
	static const char *const fam[] = { "node_cpu_seconds_total", "node_disk_read_bytes_total",
					   "node_network_receive_packets_total",
					   "process_resident_memory_bytes" };
	static const char *const mode[] = { "user", "system", "idle", "iowait", "irq", "steal" };

	for (int i = 0; i < BATCH; i++) {
		snprintf(names[i], sizeof(names[i]), "%s", fam[i % 4]);
		snprintf(vals[i][0], sizeof(vals[i][0]), "%d", i % 16);
		snprintf(vals[i][1], sizeof(vals[i][1]), "%s", mode[i % 6]);
		labels[i][0] = (struct bm_label){ "cpu", vals[i][0] };
		labels[i][1] = (struct bm_label){ "instance", "localhost:9100" };
		labels[i][2] = (struct bm_label){ "mode", vals[i][1] };
		samples[i] = (struct bm_sample){ .name = names[i], .labels = labels[i], .n_labels = 3,
						 .ts_ms = 1700000000000 + i,
						 .value = 12345.678 * i };
	}
	*b = (struct bm_metric_batch){ .source = "collector:cpu:default", .samples = samples,
				       .n_samples = BATCH };
}

/* Reference decoder on msgpack-c's object tree, doing the same work as
 * bm_metric_batch_decode (type checks, NUL-terminated copies into the
 * arena). Samples only: the benchmark batch has no metadata. */
static const char *ref_str(const msgpack_object *o, struct bm_arena *a)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return NULL;
	return bm_arena_strndup(a, o->via.str.ptr, o->via.str.size);
}

static int ref_decode(msgpack_unpacked *u, const struct bm_buf *body, struct bm_metric_batch *out,
		      struct bm_arena *a)
{
	const msgpack_object *root, *arr;
	struct bm_sample *smp;
	size_t off = 0;

	if (msgpack_unpack_next(u, body->data, body->len, &off) != MSGPACK_UNPACK_SUCCESS)
		return -1;
	root = &u->data;
	if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 3)
		return -1;
	arr = &root->via.array.ptr[2];
	if (arr->type != MSGPACK_OBJECT_ARRAY)
		return -1;
	smp = bm_arena_alloc(a, arr->via.array.size * sizeof(*smp));
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		const msgpack_object *s = &arr->via.array.ptr[i], *e, *l;
		struct bm_label *lab;

		if (s->type != MSGPACK_OBJECT_ARRAY || s->via.array.size < 4)
			return -1;
		e = s->via.array.ptr;
		l = &e[1];
		if (l->type != MSGPACK_OBJECT_ARRAY || e[3].type != MSGPACK_OBJECT_FLOAT64 ||
		    (e[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
		     e[2].type != MSGPACK_OBJECT_NEGATIVE_INTEGER))
			return -1;
		lab = bm_arena_alloc(a, l->via.array.size / 2 * sizeof(*lab));
		for (uint32_t j = 0; j + 1 < l->via.array.size; j += 2) {
			lab[j / 2].name = ref_str(&l->via.array.ptr[j], a);
			lab[j / 2].value = ref_str(&l->via.array.ptr[j + 1], a);
		}
		smp[i] = (struct bm_sample){ .name = ref_str(&e[0], a), .labels = lab,
					     .n_labels = l->via.array.size / 2,
					     .ts_ms = e[2].via.i64, .value = e[3].via.f64 };
	}
	out->samples = smp;
	out->n_samples = arr->via.array.size;
	return 0;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	struct bm_metric_batch b, d;
	struct bm_buf buf = { 0 };
	struct bm_arena arena = { 0 };
	msgpack_unpacked u;
	double t0, t, enc, dec, ref;
	long n;

	make_batch(&b);
	if (bm_metric_batch_encode(&b, &buf)) {
		fprintf(stderr, "encode failed\n");
		return 1;
	}
	printf("# batch: %d samples, 3 labels each, %zu bytes (%.1f per sample)\n", BATCH, buf.len,
	       (double)buf.len / BATCH);

	n = 0;
	t0 = now_s();
	do {
		for (int k = 0; k < 64; k++)
			bm_metric_batch_encode(&b, &buf);
		n += 64;
	} while ((t = now_s() - t0) < secs);
	enc = (double)n * BATCH / t;

	n = 0;
	t0 = now_s();
	do {
		for (int k = 0; k < 64; k++) {
			bm_arena_reset(&arena);
			if (bm_metric_batch_decode(buf.data, buf.len, &d, &arena) ||
			    d.n_samples != BATCH) {
				fprintf(stderr, "decode failed\n");
				return 1;
			}
		}
		n += 64;
	} while ((t = now_s() - t0) < secs);
	dec = (double)n * BATCH / t;

	msgpack_unpacked_init(&u);
	n = 0;
	t0 = now_s();
	do {
		for (int k = 0; k < 64; k++) {
			bm_arena_reset(&arena);
			if (ref_decode(&u, &buf, &d, &arena) || d.n_samples != BATCH) {
				fprintf(stderr, "reference decode failed\n");
				return 1;
			}
		}
		n += 64;
	} while ((t = now_s() - t0) < secs);
	ref = (double)n * BATCH / t;
	msgpack_unpacked_destroy(&u);

	printf("metric encode (msgpack-c packer):          %6.2f M samples/s\n", enc / 1e6);
	printf("metric decode (SDK cursor):                %6.2f M samples/s\n", dec / 1e6);
	printf("metric decode (msgpack-c object tree, ref):%6.2f M samples/s\n", ref / 1e6);
	printf("BENCH codec bearmon:metric_codec encode_samples_per_s %.3e 1/s\n", enc);
	printf("BENCH codec bearmon:metric_codec decode_samples_per_s %.3e 1/s\n", dec);
	printf("BENCH codec msgpack-c:object_tree decode_samples_per_s %.3e 1/s\n", ref);
	bm_buf_free(&buf);
	bm_arena_free(&arena);
	return 0;
}
