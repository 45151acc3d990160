/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load client of the native agent protocol, written against the wire
 * format in sdk/PROTOCOL.md (not against sdk/client): one connection,
 * hello, then `metric` frames of BATCH samples as fast as the socket takes
 * them for SECONDS, each sample [name, kind, value, {shard}, ts_ms] with
 * strictly increasing timestamps per series so the store keeps all of
 * them. msgpack-c's packer encodes; values change every round.
 *
 *   native_load -s SOCKET [-d SECONDS] [-b BATCH] [-n SERIES] [-c CPU] [-r RATE]
 *
 * RATE (samples/s, default 0: as fast as the socket takes them) paces the
 * frames, for the soak test's steady load.
 *
 * Prints "start NS" before the first metric frame and "sent SAMPLES NS
 * FRAMES" after the last (NS: CLOCK_REALTIME in ns), for bench/native/run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <msgpack.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "native_load: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("send");
		p += w;
		n -= (size_t)w;
	}
}

static void pstr(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

/* Room for the 4-byte length in front of the body, patched when done. */
static void frame_begin(msgpack_sbuffer *sb)
{
	msgpack_sbuffer_clear(sb);
	msgpack_sbuffer_write(sb, "\0\0\0\0", 4);
}

static void frame_send(int fd, msgpack_sbuffer *sb)
{
	uint32_t n = (uint32_t)sb->size - 4;
	unsigned char *h = (unsigned char *)sb->data;
	h[0] = (unsigned char)(n >> 24), h[1] = (unsigned char)(n >> 16);
	h[2] = (unsigned char)(n >> 8), h[3] = (unsigned char)n;
	send_all(fd, sb->data, sb->size);
}

/* The welcome (or an error) after hello. */
static void read_answer(int fd)
{
	unsigned char h[4];
	char body[4096];
	if (recv(fd, h, 4, MSG_WAITALL) != 4)
		die("no answer to hello");
	uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if (n > sizeof(body) || recv(fd, body, n, MSG_WAITALL) != (ssize_t)n)
		die("bad answer to hello");
	if (n < 2 || (unsigned char)body[1] != 2) {
		fprintf(stderr, "native_load: hello refused (message type %u)\n", (unsigned char)body[1]);
		exit(1);
	}
}

/* Sleep until sent samples are due at rate from start. */
static void pace(int64_t start_ns, uint64_t sent, double rate)
{
	int64_t due = start_ns + (int64_t)((double)sent / rate * 1e9);
	int64_t wait = due - now_ns();
	if (wait > 0) {
		struct timespec ts = {wait / 1000000000, wait % 1000000000};
		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	double seconds = 10;
	double rate = 0;
	int batch = 1000, series = 1000, cpu = -1, opt;
	while ((opt = getopt(argc, argv, "s:d:b:n:c:r:")) != -1) {
		switch (opt) {
		case 's': path = optarg; break;
		case 'd': seconds = atof(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'n': series = atoi(optarg); break;
		case 'c': cpu = atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		default: return 2;
		}
	}
	if (!path || batch < 1 || series < 1 || seconds <= 0) {
		fprintf(stderr, "usage: native_load -s SOCKET [-d SECONDS] [-b BATCH] [-n SERIES] [-c CPU]\n");
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die(path);
	int sndbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	frame_begin(&sb);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_map(&pk, 4);
	pstr(&pk, "v"), msgpack_pack_int(&pk, 1);
	pstr(&pk, "agent_id"), pstr(&pk, "native-load");
	pstr(&pk, "type"), pstr(&pk, "bench");
	pstr(&pk, "pid"), msgpack_pack_int(&pk, getpid());
	frame_send(fd, &sb);
	read_answer(fd);

	/* series k: name bench_value_<k/10>_total or bench_level_<k/10>, shard k%10 */
	char (*names)[32] = calloc((size_t)series, sizeof(*names));
	if (!names)
		die("calloc");
	for (int k = 0; k < series; k++)
		snprintf(names[k], sizeof(names[k]), k % 2 ? "bench_level_%d" : "bench_value_%d_total",
			 k / 10);
	static const char *shards[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
	/* timestamps: one ms per round over all series, from an hour ago */
	int64_t ts0 = now_ns() / 1000000 - 3600 * 1000;
	uint64_t sent = 0, frames = 0, round = 0;
	int k = 0;
	int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9);
	printf("start %lld\n", (long long)start);
	fflush(stdout);
	while (now_ns() < end) {
		for (int f = 0; f < 16; f++) { /* check the clock every 16 frames */
			frame_begin(&sb);
			msgpack_pack_array(&pk, 2);
			msgpack_pack_int(&pk, 4);
			msgpack_pack_array(&pk, (size_t)batch);
			for (int i = 0; i < batch; i++) {
				msgpack_pack_array(&pk, 5);
				pstr(&pk, names[k]);
				msgpack_pack_int(&pk, k % 2 ? 2 : 1);
				msgpack_pack_double(&pk, k % 2 ? (double)(round % 1000) * 0.5 : 1.0);
				msgpack_pack_map(&pk, 1);
				pstr(&pk, "shard");
				pstr(&pk, shards[k % 10]);
				msgpack_pack_int64(&pk, ts0 + (int64_t)round);
				if (++k == series) {
					k = 0;
					round++;
				}
			}
			frame_send(fd, &sb);
			sent += (uint64_t)batch;
			frames++;
			if (rate > 0)
				pace(start, sent, rate);
		}
	}
	printf("sent %llu %lld %llu\n", (unsigned long long)sent, (long long)now_ns(),
	       (unsigned long long)frames);
	fflush(stdout);
	frame_begin(&sb); /* bye */
	msgpack_pack_array(&pk, 1);
	msgpack_pack_int(&pk, 10);
	frame_send(fd, &sb);
	close(fd);
	free(names);
	msgpack_sbuffer_destroy(&sb);
	return 0;
}
