/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StatsD load generator for bench/statsd/run: sends etsy-format lines
 * (counters with and without sample rates, gauges, timers, sets over
 * about 1,000 series) to HOST:PORT over UDP with sendmmsg, at RATE lines a
 * second (0: as fast as it can) for SECONDS, one line per datagram
 * ("single") or as many lines as fit in 1,400 bytes ("packed").
 * Prints "lines N datagrams N seconds S errors N" when done.
 *
 *   statsd_sender HOST PORT SECONDS RATE single|packed
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define POOL_LINES 65536 /* distinct lines, cycled */
#define PACKED_MAX 1400  /* bytes per datagram, as production clients do */
#define BATCH 64         /* datagrams per sendmmsg */

struct dgram {
	char *p;
	uint32_t len, lines;
};

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* One line of the mix: 40% counters (a fifth sampled at 0.5), 20% gauges
 * (some deltas), 30% timers, 10% sets; about 1,000 distinct series. */
static int make_line(char *out, size_t cap)
{
	uint32_t kind = rnd(100), k = rnd(250);
	if (kind < 32)
		return snprintf(out, cap, "agents.tasks.completed.a%u:1|c", k);
	if (kind < 40)
		return snprintf(out, cap, "agents.tokens.out.a%u:%u|c|@0.5", k % 100, 1 + rnd(900));
	if (kind < 55)
		return snprintf(out, cap, "agents.queue.depth.a%u:%u|g", k, rnd(200));
	if (kind < 60)
		return snprintf(out, cap, "agents.memory.a%u:+%u|g", k % 50, rnd(64));
	if (kind < 90)
		return snprintf(out, cap, "agents.task.latency.a%u:%u.%u|ms", k, rnd(900), rnd(10));
	return snprintf(out, cap, "agents.users.a%u:u%u|s", k % 50, rnd(5000));
}

/* The datagrams to cycle through: POOL_LINES lines, one each or packed. */
static struct dgram *build_pool(int packed, size_t *n_out)
{
	char *text = malloc((size_t)POOL_LINES * 96);
	struct dgram *d = calloc(POOL_LINES, sizeof(*d));
	if (!text || !d)
		return NULL;
	size_t n = 0, off = 0;
	for (int i = 0; i < POOL_LINES; i++) {
		char line[96];
		int len = make_line(line, sizeof(line));
		if (!packed || n == 0 || d[n - 1].len + 1 + (uint32_t)len > PACKED_MAX) {
			d[n++] = (struct dgram){text + off, 0, 0};
		} else {
			text[off++] = '\n';
			d[n - 1].len++;
		}
		memcpy(text + off, line, (size_t)len);
		off += (size_t)len;
		d[n - 1].len += (uint32_t)len;
		d[n - 1].lines++;
	}
	*n_out = n;
	return d;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int main(int argc, char **argv)
{
	if (argc != 6 || (strcmp(argv[5], "single") && strcmp(argv[5], "packed"))) {
		fprintf(stderr, "usage: %s HOST PORT SECONDS RATE single|packed\n", argv[0]);
		return 2;
	}
	double seconds = atof(argv[3]), rate = atof(argv[4]);
	size_t n_pool;
	struct dgram *pool = build_pool(strcmp(argv[5], "packed") == 0, &n_pool);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (!pool || fd < 0 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to))) {
		perror("statsd_sender: setup");
		return 1;
	}
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t lines = 0, dgrams = 0, errors = 0;
	size_t next = 0;
	double t0 = now_s(), end = t0 + seconds, t = t0;
	while (t < end) {
		size_t first = next;
		for (int i = 0; i < BATCH; i++) {
			const struct dgram *d = &pool[(first + (size_t)i) % n_pool];
			iov[i] = (struct iovec){d->p, d->len};
			msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
		}
		int sent = sendmmsg(fd, msgs, BATCH, 0);
		if (sent < 0) { /* ECONNREFUSED when nothing listens: retry shortly */
			errors++;
			sent = 0;
			sleep_until(now_s() + 0.001);
		}
		for (int i = 0; i < sent; i++) /* a short send leaves the rest for the next */
			lines += pool[(first + (size_t)i) % n_pool].lines;
		dgrams += (uint64_t)sent;
		next = (first + (size_t)sent) % n_pool;
		if (rate > 0)
			sleep_until(t0 + (double)lines / rate);
		t = now_s();
	}
	double elapsed = now_s() - t0;
	printf("lines %llu datagrams %llu seconds %.3f errors %llu\n", (unsigned long long)lines,
	       (unsigned long long)dgrams, elapsed, (unsigned long long)errors);
	return 0;
}
