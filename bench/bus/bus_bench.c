/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bus throughput benchmark: one publisher thread encodes batches of 256
 * realistic samples with bm_metric_batch_encode() and publishes them as
 * `metric` events; each block-policy subscriber decodes every batch with
 * bm_metric_batch_decode() and counts the samples it decoded. The figure
 * is decoded samples per second in a steady state after a warm-up, for
 * one subscriber and, as the slowest of four, for four subscribers.
 * Codec-only rates on one thread are printed too, to show where time goes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bearmon/bm_event.h"
#include "bus.h"

#define BENCH_NAME "bus"
#include "../common/figure.h"
#include "../common/rng.h"
#define BATCH_SAMPLES 256
#define N_FAMILIES 4
#define PER_FAMILY (BATCH_SAMPLES / N_FAMILIES)
#define N_LABELS 3
#define MAX_SUBS 4
#define QUEUE_LEN 1024
#define FIRST_TICK_MS 1700000000000 /* 2023-11-14 */

/* ------------------------------------------------------------------ */
/* The batch a collector would publish: four metric families of 64
 * series each, three sorted labels per series, counters that grow by
 * irregular steps and gauges that wander, one tick per batch. */

struct family {
	const char *name;
	enum bm_metric_type type;
	const char *unit;
	const char *help;
	const char *label_names[N_LABELS]; /* sorted */
};

static const struct family families[N_FAMILIES] = {
	{"node_cpu_seconds_total", BM_METRIC_COUNTER, "seconds",
	 "Seconds the CPUs spent in each mode.", {"cpu", "host", "mode"}},
	{"node_filesystem_avail_bytes", BM_METRIC_GAUGE, "bytes",
	 "Filesystem space available to non-root users in bytes.", {"device", "fstype", "mountpoint"}},
	{"node_network_transmit_bytes_total", BM_METRIC_COUNTER, "bytes",
	 "Network device statistic transmit_bytes.", {"device", "host", "job"}},
	{"container_memory_usage_bytes", BM_METRIC_GAUGE, "bytes",
	 "Current memory usage in bytes, including all memory regardless of when it was accessed.",
	 {"container", "host", "namespace"}},
};

static const char *const cpu_modes[8] = {"idle", "iowait", "irq", "nice",
					 "softirq", "steal", "system", "user"};
static const char *const fstypes[4] = {"ext4", "xfs", "tmpfs", "overlay"};
static const char *const namespaces[4] = {"default", "kube-system", "monitoring", "inference"};

struct fixture {
	char strings[BATCH_SAMPLES][N_LABELS][48];
	struct bm_label labels[BATCH_SAMPLES][N_LABELS];
	struct bm_sample samples[BATCH_SAMPLES];
	struct bm_metric_meta meta[N_FAMILIES];
	struct bm_metric_batch batch;
	uint64_t rng;
	int64_t tick_ms;
};

static void label_value(struct fixture *fx, int f, int j, int l, char *out, size_t n)
{
	switch (f * N_LABELS + l) {
	case 0: snprintf(out, n, "%d", j / 8); break;                       /* cpu */
	case 1: snprintf(out, n, "bench-host-01.example.org"); break;        /* host */
	case 2: snprintf(out, n, "%s", cpu_modes[j % 8]); break;             /* mode */
	case 3: snprintf(out, n, "/dev/nvme%dn1p%d", j / 16, j % 16 + 1); break;
	case 4: snprintf(out, n, "%s", fstypes[j % 4]); break;
	case 5: snprintf(out, n, "/srv/volume-%02d", j); break;
	case 6: snprintf(out, n, "veth%08" PRIx64, xorshift(&fx->rng) & 0xffffffffu); break;
	case 7: snprintf(out, n, "bench-host-01.example.org"); break;
	case 8: snprintf(out, n, "node"); break;
	case 9: snprintf(out, n, "model-server-%d", j); break;
	case 10: snprintf(out, n, "bench-host-01.example.org"); break;
	case 11: snprintf(out, n, "%s", namespaces[j % 4]); break;
	}
}

static void fixture_init(struct fixture *fx, uint64_t seed)
{
	memset(fx, 0, sizeof(*fx));
	fx->rng = seed | 1;
	fx->tick_ms = FIRST_TICK_MS;
	for (int f = 0; f < N_FAMILIES; f++) {
		fx->meta[f] = (struct bm_metric_meta){
			.name = families[f].name,
			.type = families[f].type,
			.unit = families[f].unit,
			.help = families[f].help,
		};
		for (int j = 0; j < PER_FAMILY; j++) {
			int i = f * PER_FAMILY + j;
			for (int l = 0; l < N_LABELS; l++) {
				label_value(fx, f, j, l, fx->strings[i][l], sizeof(fx->strings[i][l]));
				fx->labels[i][l] = (struct bm_label){
					.name = families[f].label_names[l],
					.value = fx->strings[i][l],
				};
			}
			fx->samples[i] = (struct bm_sample){
				.name = families[f].name,
				.labels = fx->labels[i],
				.n_labels = N_LABELS,
				.value = families[f].type == BM_METRIC_COUNTER
						 ? 1e3 * rnd(&fx->rng)
						 : 1e9 * (1.0 + rnd(&fx->rng)),
			};
		}
	}
	fx->batch = (struct bm_metric_batch){
		.source = "collector:bench:bench_main",
		.meta = fx->meta,
		.n_meta = N_FAMILIES,
		.samples = fx->samples,
		.n_samples = BATCH_SAMPLES,
	};
}

/* Advance to the next collection tick: new timestamps (a tick of 1 s
 * with a few ms of jitter per family) and new values. The metadata went
 * with the first batch; like a real producer, later ones leave it out. */
static void fixture_next(struct fixture *fx)
{
	if (fx->tick_ms != FIRST_TICK_MS)
		fx->batch.n_meta = 0;
	fx->tick_ms += 1000;
	for (int f = 0; f < N_FAMILIES; f++) {
		int64_t ts = fx->tick_ms + (int64_t)(xorshift(&fx->rng) % 25);
		bool counter = families[f].type == BM_METRIC_COUNTER;
		for (int j = 0; j < PER_FAMILY; j++) {
			struct bm_sample *s = &fx->samples[f * PER_FAMILY + j];
			double r = rnd(&fx->rng);
			s->ts_ms = ts;
			if (counter)
				s->value += f == 0 ? 0.01 * floor(100.0 * r) : floor(1e6 * r);
			else
				s->value = floor(s->value * (0.999 + 0.002 * r));
		}
	}
}

/* ------------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}


/* ------------------------------------------------------------------ */
/* Codec alone, on this thread: what encoding and decoding cost without
 * the bus. */

static int codec_alone(double seconds)
{
	static struct fixture fx;
	struct bm_buf buf = {0};
	struct bm_arena arena = {0};
	struct bm_metric_batch out;
	double sink = 0;
	int rc = 0;

	fixture_init(&fx, 42);
	fixture_next(&fx);
	fixture_next(&fx); /* a steady-state batch: no metadata */
	if ((rc = bm_metric_batch_encode(&fx.batch, &buf)) != 0) {
		fprintf(stderr, "bench_bus: encode failed: %s\n", bm_strerror(rc));
		goto out;
	}
	figure("bearmon:codec", "bytes_per_sample", (double)buf.len / BATCH_SAMPLES, "B");

	uint64_t n = 0;
	double t0 = now_s(), t;
	do {
		for (int k = 0; k < 64; k++) {
			fixture_next(&fx);
			if ((rc = bm_metric_batch_encode(&fx.batch, &buf)) != 0)
				goto fail;
		}
		n += 64;
	} while ((t = now_s()) - t0 < seconds);
	figure("bearmon:codec", "encode_samples_per_s", (double)n * BATCH_SAMPLES / (t - t0), "1/s");

	n = 0;
	t0 = now_s();
	do {
		for (int k = 0; k < 64; k++) {
			if ((rc = bm_metric_batch_decode(buf.data, buf.len, &out, &arena)) != 0)
				goto fail;
			if (out.n_samples != BATCH_SAMPLES) {
				rc = BM_EPROTO;
				goto fail;
			}
			sink += out.samples[k].value;
			bm_arena_reset(&arena);
		}
		n += 64;
	} while ((t = now_s()) - t0 < seconds);
	figure("bearmon:codec", "decode_samples_per_s", (double)n * BATCH_SAMPLES / (t - t0), "1/s");
	if (sink == 0.5) /* keep the loop honest */
		puts("");
	goto out;
fail:
	fprintf(stderr, "bench_bus: codec round trip failed: %s\n", bm_strerror(rc));
out:
	bm_arena_free(&arena);
	bm_buf_free(&buf);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Publisher and subscribers on the bus. */

struct subscriber {
	struct bm_arena arena;
	atomic_uint_fast64_t samples; /* decoded */
	atomic_uint_fast64_t errors;  /* decode failures or short batches */
	atomic_bool have_clock;
	clockid_t clock;              /* the delivery thread's CPU clock */
	double sink;
};

struct publisher {
	struct bus *bus;
	int id;
	struct fixture fx;
	atomic_bool stop;
	atomic_uint_fast64_t batches; /* published in full */
	atomic_uint_fast64_t eagain;  /* publish returned BM_EAGAIN */
	int error;                    /* encode or publish failure */
};

static void on_metric(void *user, const char *topic, const void *body, size_t len)
{
	struct subscriber *s = user;
	struct bm_metric_batch b;

	if (!atomic_load_explicit(&s->have_clock, memory_order_relaxed) &&
	    pthread_getcpuclockid(pthread_self(), &s->clock) == 0)
		atomic_store_explicit(&s->have_clock, true, memory_order_release);
	int rc = bm_metric_batch_decode(body, len, &b, &s->arena);
	if (rc != 0 || b.n_samples != BATCH_SAMPLES) {
		atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
	} else {
		/* read what was decoded, as a subscriber would */
		double sum = 0;
		for (size_t i = 0; i < b.n_samples; i++)
			sum += b.samples[i].value;
		s->sink += sum;
		atomic_fetch_add_explicit(&s->samples, b.n_samples, memory_order_relaxed);
	}
	bm_arena_reset(&s->arena);
}

static void *publisher_main(void *arg)
{
	struct publisher *p = arg;
	struct bm_buf buf = {0};

	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		fixture_next(&p->fx);
		int rc = bm_metric_batch_encode(&p->fx.batch, &buf);
		if (rc == 0)
			rc = bus_publish(p->bus, p->id, "metric", buf.data, buf.len);
		if (rc == BM_EAGAIN) {
			atomic_fetch_add_explicit(&p->eagain, 1, memory_order_relaxed);
		} else if (rc != 0) {
			p->error = rc;
			break;
		}
		atomic_fetch_add_explicit(&p->batches, 1, memory_order_relaxed);
	}
	bm_buf_free(&buf);
	return NULL;
}

struct bus_losses {
	uint64_t dropped;
	uint64_t timeouts;
};

static void add_sub_stats(void *u, const struct bus_sub_stats *st)
{
	struct bus_losses *l = u;
	l->dropped += st->dropped;
	l->timeouts += st->timeouts;
}

struct scenario_result {
	double min_rate;      /* decoded samples/s of the slowest subscriber */
	double pub_ns;        /* publisher thread CPU per sample published */
	double sub_ns;        /* delivery thread CPU per sample decoded (mean) */
	uint64_t drops;       /* events the bus dropped or timed out (block wait) */
	uint64_t lost;        /* samples published but never decoded, all subs */
};

static int scenario(int n_subs, double warmup, double seconds, struct scenario_result *res)
{
	static struct subscriber subs[MAX_SUBS];
	static struct publisher pub;
	struct bm_sub *handles[MAX_SUBS] = {0};
	uint64_t c0[MAX_SUBS], c1[MAX_SUBS];
	double s0[MAX_SUBS] = {0}, s1[MAX_SUBS] = {0};
	pthread_t thread;
	clockid_t pub_clock;
	int rc = 0;

	memset(subs, 0, sizeof(subs));
	memset(&pub, 0, sizeof(pub));
	struct bus *bus = bus_new(NULL);
	if (!bus)
		return BM_ENOMEM;
	pub.bus = bus;
	pub.id = bus_publisher(bus, "bench");
	if (pub.id < 0) {
		rc = pub.id;
		goto out_bus;
	}
	fixture_init(&pub.fx, 0x9e3779b97f4a7c15u);

	struct bm_sub_opts opts = {
		.size = sizeof(opts),
		.topic = "metric",
		.policy = BM_SUB_BLOCK,
		.queue_len = QUEUE_LEN,
	};
	for (int i = 0; i < n_subs; i++) {
		char owner[16];
		snprintf(owner, sizeof(owner), "sub%d", i);
		if ((rc = bus_subscribe(bus, owner, &opts, on_metric, &subs[i], &handles[i])) != 0) {
			fprintf(stderr, "bench_bus: subscribe: %s\n", bm_strerror(rc));
			goto out_subs;
		}
	}
	if (pthread_create(&thread, NULL, publisher_main, &pub) != 0) {
		rc = BM_EIO;
		goto out_subs;
	}
	if (pthread_getcpuclockid(thread, &pub_clock) != 0)
		pub_clock = (clockid_t)-1;

	sleep_s(warmup);
	uint64_t b0 = atomic_load(&pub.batches);
	double p0 = pub_clock != (clockid_t)-1 ? cpu_s(pub_clock) : 0;
	double t0 = now_s();
	for (int i = 0; i < n_subs; i++) {
		c0[i] = atomic_load(&subs[i].samples);
		if (atomic_load_explicit(&subs[i].have_clock, memory_order_acquire))
			s0[i] = cpu_s(subs[i].clock);
	}
	sleep_s(seconds);
	double t1 = now_s();
	for (int i = 0; i < n_subs; i++) {
		c1[i] = atomic_load(&subs[i].samples);
		if (atomic_load_explicit(&subs[i].have_clock, memory_order_acquire))
			s1[i] = cpu_s(subs[i].clock);
	}
	double p1 = pub_clock != (clockid_t)-1 ? cpu_s(pub_clock) : 0;
	uint64_t b1 = atomic_load(&pub.batches);

	atomic_store(&pub.stop, true);
	pthread_join(thread, NULL);
	if (pub.error) {
		fprintf(stderr, "bench_bus: publisher failed: %s\n", bm_strerror(pub.error));
		rc = pub.error;
	}
	if (!bus_drain(bus, 30000)) {
		fprintf(stderr, "bench_bus: the bus did not drain in 30 s\n");
		rc = BM_ETIMEDOUT;
	}

	struct bus_losses l = {0};
	bus_each_sub(bus, add_sub_stats, &l);
	uint64_t published = atomic_load(&pub.batches);
	uint64_t expect = published * BATCH_SAMPLES;
	uint64_t missing = 0;
	double sub_cpu = 0;
	uint64_t decoded = 0;
	res->min_rate = INFINITY;
	for (int i = 0; i < n_subs; i++) {
		uint64_t got = atomic_load(&subs[i].samples);
		uint64_t errors = atomic_load(&subs[i].errors);
		if (errors) {
			fprintf(stderr, "bench_bus: sub%d: %" PRIu64 " batches failed to decode\n", i,
				errors);
			rc = BM_EPROTO;
		}
		if (got < expect)
			missing += expect - got;
		double rate = (double)(c1[i] - c0[i]) / (t1 - t0);
		if (rate < res->min_rate)
			res->min_rate = rate;
		sub_cpu += s1[i] - s0[i];
		decoded += c1[i] - c0[i];
	}
	res->drops = l.dropped + l.timeouts;
	res->lost = missing;
	res->pub_ns = b1 > b0 ? (p1 - p0) * 1e9 / ((double)(b1 - b0) * BATCH_SAMPLES) : NAN;
	res->sub_ns = decoded ? sub_cpu * 1e9 / (double)decoded : NAN;
	fprintf(stderr,
		"bench_bus: %d sub: %" PRIu64 " batches published (%" PRIu64
		" EAGAIN), bus dropped %" PRIu64 ", block timeouts %" PRIu64
		", samples never decoded %" PRIu64 "; CPU per sample: publisher %.0f ns, "
		"subscriber %.0f ns\n",
		n_subs, published, atomic_load(&pub.eagain), l.dropped, l.timeouts, missing,
		res->pub_ns, res->sub_ns);

out_subs:
	for (int i = 0; i < n_subs; i++) {
		if (handles[i])
			bus_unsubscribe(handles[i]);
		bm_arena_free(&subs[i].arena);
	}
out_bus:
	bus_free(bus);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_bus [-t SECONDS] [-w WARMUP_SECONDS]\n"
			"  -t  measuring window per scenario (default 3)\n"
			"  -w  warm-up before each window (default 1)\n");
}

int main(int argc, char **argv)
{
	double seconds = 3, warmup = 1;
	int c;
	while ((c = getopt(argc, argv, "t:w:h")) != -1) {
		switch (c) {
		case 't': seconds = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!(seconds > 0) || !(warmup >= 0)) {
		usage();
		return 2;
	}

	if (codec_alone(seconds < 1 ? seconds : 1) != 0)
		return 1;

	struct scenario_result one, four;
	int rc = scenario(1, warmup, seconds, &one);
	if (rc == 0)
		rc = scenario(MAX_SUBS, warmup, seconds, &four);
	if (rc != 0) {
		fprintf(stderr, "bench_bus: failed: %s\n", bm_strerror(rc));
		return 1;
	}
	figure("bearmon", "samples_per_s_1sub", one.min_rate, "1/s");
	figure("bearmon", "samples_per_s_4sub", four.min_rate, "1/s");
	printf("BENCH %s bearmon drops %" PRIu64 " 1\n", BENCH_NAME, one.drops + four.drops);
	printf("BENCH %s bearmon lost_samples %" PRIu64 " 1\n", BENCH_NAME, one.lost + four.lost);
	figure("bearmon", "pub_cpu_ns_per_sample_1sub", one.pub_ns, "ns");
	figure("bearmon", "sub_cpu_ns_per_sample_1sub", one.sub_ns, "ns");
	figure("bearmon", "pub_cpu_ns_per_sample_4sub", four.pub_ns, "ns");
	figure("bearmon", "sub_cpu_ns_per_sample_4sub", four.sub_ns, "ns");
	return 0;
}
