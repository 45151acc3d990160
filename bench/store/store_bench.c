/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store benchmark (bench/store/run drives it).
 *
 *   store_bench ingest -d DB -n SERIES -r ROUNDS -m MIX [-S SYS.csv] [-N NABDIR]
 *                      [-t TAG] [-o OM_FILE]
 *	SERIES series at 1 s of simulated time for ROUNDS rounds, each round
 *	one store_ingest() per batch of ~256 series, as the store's bus
 *	subscriber calls it. MIX is a list of KIND:WEIGHT with KIND one of
 *	sys (replayed recorded system metrics), iwalk, dwalk (integer and
 *	2-decimal random walks), nab (the NAB series, replayed at 1 s), e.g.
 *	sys:50,iwalk:12,dwalk:13,nab:25. Prints the ingest rate, peak RSS and
 *	CPU (without -t), then closes the store, checkpoints the database and
 *	prints its size per sample (bytes_per_sample[_TAG]) with a breakdown.
 *	-o also writes the same samples as OpenMetrics text for promtool.
 *   store_bench query -d DB [-S SYS.csv] [-N NABDIR] [-i IDS_FILE]
 *	Four series (one per kind) for 86,400 s at 1 s and four for 30 days at
 *	60 s; times store_raw over 24 h and store_range over 30 days at a 1 h
 *	step (median of 20 runs each). -i writes the ids and ranges for the
 *	HTTP part of the run script.
 *   store_bench dump -d DB
 *	Every series of a store as CSV series_id,ts_ms,value on stdout (the
 *	run script records this machine's metrics with bearmond and dumps them).
 *
 * Values are generated on the fly, per series from its own state, so the
 * samples of a run can be produced again series by series for the
 * OpenMetrics file; the generator's own time is measured and left out of
 * the ingest rate (it is printed beside it).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "bearmon/bm_event.h"
#include "store.h"

#define BENCH_NAME "store"
#include "../common/figure.h"
#include "../common/rng.h"
#define BATCH 256
#define T0_MS 1767225600000LL /* 2026-01-01T00:00:00Z, aligned to days */
#define N_LABELS 3

/* ------------------------------------------------------------------ */
/* Output and clocks */


static void figuref(const char *subject, double v, const char *unit, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void figuref(const char *subject, double v, const char *unit, const char *fmt, ...)
{
	char metric[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(metric, sizeof(metric), fmt, ap);
	va_end(ap);
	figure(subject, metric, v, unit);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double rusage_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec * 1e-6;
}

/* A line of /proc/self/status in KiB (VmHWM, VmRSS), or -1. */
static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "store_bench: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		die("out of memory");
	return p;
}

static double gauss(uint64_t *s)
{
	double u = rnd(s), v = rnd(s);
	return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

/* ------------------------------------------------------------------ */
/* Sources: a recording of this machine's metrics, and the NAB files */

enum decmode { DEC_NONE, DEC_DIV, DEC_MUL };

struct recorded {
	char *id;   /* series_id of the recording */
	char *name; /* metric name derived from it */
	int64_t *ts;
	double *v;
	int64_t *k; /* decimal modes: v == k / 10^d (DIV) or k * 1e-d (MUL) */
	size_t n, cap;
	bool counter;
	enum decmode dm;
	int dec;
	int32_t *jit; /* recorded timestamp's offset from its second, ms */
};

static const double pow10_tab[10] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
static const double negpow10_tab[10] = {1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9};

static double dec_value(enum decmode dm, int d, int64_t k)
{
	return dm == DEC_DIV ? (double)k / pow10_tab[d] : (double)k * negpow10_tab[d];
}

/* Does every value of r read as k / 10^d (or k * 1e-d) for one d? */
static void classify(struct recorded *r)
{
	r->dm = DEC_NONE;
	for (int d = 0; d < 10 && r->dm == DEC_NONE; d++) {
		for (int m = DEC_DIV; m <= DEC_MUL && r->dm == DEC_NONE; m++) {
			bool ok = true;
			for (size_t i = 0; i < r->n && ok; i++) {
				double x = r->v[i] * pow10_tab[d];
				if (!(fabs(x) < 9e15)) {
					ok = false;
					break;
				}
				int64_t k = llround(x);
				double back = dec_value((enum decmode)m, d, k);
				ok = memcmp(&back, &r->v[i], sizeof(back)) == 0;
			}
			if (ok) {
				r->dm = (enum decmode)m;
				r->dec = d;
			}
		}
	}
	if (r->dm != DEC_NONE) {
		r->k = xcalloc(r->n, sizeof(*r->k));
		for (size_t i = 0; i < r->n; i++)
			r->k[i] = llround(r->v[i] * pow10_tab[r->dec]);
	}
	r->counter = r->n > 1 && r->v[r->n - 1] > r->v[0];
	for (size_t i = 1; i < r->n && r->counter; i++)
		if (!(r->v[i] >= r->v[i - 1]))
			r->counter = false;
	r->jit = xcalloc(r->n, sizeof(*r->jit));
	for (size_t i = 0; i < r->n; i++) {
		int64_t m = ((r->ts[i] % 1000) + 1000) % 1000;
		r->jit[i] = (int32_t)(m >= 500 ? m - 1000 : m);
	}
}

static bool valid_name(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

static int cmp_ts(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;
	return (x[0] > y[0]) - (x[0] < y[0]);
}

/* CSV series_id,ts_ms,value (series_id may hold commas: the last two
 * fields are split off). */
static struct recorded *load_recording(const char *path, size_t *n_out)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	struct recorded *v = NULL;
	size_t n = 0, cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	size_t last = SIZE_MAX;
	struct {
		char *id, *name;
	} *names = NULL;
	size_t n_names = 0;
	while ((len = getline(&line, &lcap, f)) > 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (line[0] == '#') {
			/* "# ID SERIES_TEXT" names a series of the recording */
			char id[64];
			int at = 0;
			if (sscanf(line, "# %63[0-9] %n", id, &at) == 1 && at > 0 && line[at]) {
				size_t nl = strcspn(line + at, "{ ");
				if (valid_name(line + at, nl)) {
					names = xrealloc(names, (n_names + 1) * sizeof(*names));
					names[n_names].id = strdup(id);
					names[n_names++].name = strndup(line + at, nl);
				}
			}
			continue;
		}
		char *c2 = strrchr(line, ',');
		if (!c2)
			continue;
		*c2 = '\0';
		char *c1 = strrchr(line, ',');
		if (!c1)
			continue;
		*c1 = '\0';
		char *end;
		errno = 0;
		long long ts = strtoll(c1 + 1, &end, 10);
		if (errno || *end || end == c1 + 1)
			continue; /* the header */
		double val = strtod(c2 + 1, &end);
		if (*end || end == c2 + 1 || !isfinite(val))
			continue;
		size_t at = SIZE_MAX;
		if (last != SIZE_MAX && strcmp(v[last].id, line) == 0)
			at = last;
		for (size_t i = 0; i < n && at == SIZE_MAX; i++)
			if (strcmp(v[i].id, line) == 0)
				at = i;
		if (at == SIZE_MAX) {
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				v = xrealloc(v, cap * sizeof(*v));
			}
			memset(&v[n], 0, sizeof(v[n]));
			v[n].id = strdup(line);
			at = n++;
		}
		last = at;
		struct recorded *r = &v[at];
		if (r->n == r->cap) {
			r->cap = r->cap ? 2 * r->cap : 128;
			r->ts = xrealloc(r->ts, r->cap * sizeof(*r->ts));
			r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
		}
		r->ts[r->n] = ts;
		r->v[r->n] = val;
		r->n++;
	}
	free(line);
	fclose(f);
	/* sort each series by time (pairs), drop short ones */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		struct recorded *r = &v[i];
		int64_t *pairs = xcalloc(r->n, 2 * sizeof(int64_t));
		for (size_t j = 0; j < r->n; j++) {
			pairs[2 * j] = r->ts[j];
			memcpy(&pairs[2 * j + 1], &r->v[j], sizeof(double));
		}
		qsort(pairs, r->n, 2 * sizeof(int64_t), cmp_ts);
		size_t m = 0;
		for (size_t j = 0; j < r->n; j++) {
			if (m && pairs[2 * j] == r->ts[m - 1])
				continue;
			r->ts[m] = pairs[2 * j];
			memcpy(&r->v[m], &pairs[2 * j + 1], sizeof(double));
			m++;
		}
		r->n = m;
		free(pairs);
		if (r->n < 4) {
			free(r->id);
			free(r->ts);
			free(r->v);
			continue;
		}
		size_t nl = strcspn(r->id, "{");
		for (size_t j = 0; j < n_names && !r->name; j++)
			if (strcmp(names[j].id, r->id) == 0)
				r->name = strdup(names[j].name);
		if (!r->name)
			r->name = valid_name(r->id, nl) ? strndup(r->id, nl) : strdup("bench_system_metric");
		classify(r);
		v[kept++] = *r;
	}
	for (size_t j = 0; j < n_names; j++) {
		free(names[j].id);
		free(names[j].name);
	}
	free(names);
	*n_out = kept;
	if (!kept)
		die("%s: no series with 4 or more samples", path);
	return v;
}

struct nabfile {
	char *name;
	double *v;
	size_t n;
};

static struct nabfile *load_nab(const char *dir, size_t *n_out)
{
	struct nabfile *files = NULL;
	size_t n = 0;
	DIR *top = opendir(dir);
	if (!top)
		die("%s: %s", dir, strerror(errno));
	struct dirent *de;
	char **paths = NULL;
	size_t np = 0;
	while ((de = readdir(top))) {
		if (de->d_name[0] == '.')
			continue;
		char *sub;
		if (asprintf(&sub, "%s/%s", dir, de->d_name) < 0)
			die("out of memory");
		DIR *d = opendir(sub);
		struct dirent *fe;
		while (d && (fe = readdir(d))) {
			size_t l = strlen(fe->d_name);
			if (l < 5 || strcmp(fe->d_name + l - 4, ".csv") != 0)
				continue;
			paths = xrealloc(paths, (np + 1) * sizeof(*paths));
			if (asprintf(&paths[np++], "%s/%s", sub, fe->d_name) < 0)
				die("out of memory");
		}
		if (d)
			closedir(d);
		free(sub);
	}
	closedir(top);
	/* a stable order whatever readdir returns (a few dozen files) */
	for (size_t i = 1; i < np; i++)
		for (size_t j = i; j > 0 && strcmp(paths[j - 1], paths[j]) > 0; j--) {
			char *t = paths[j];
			paths[j] = paths[j - 1];
			paths[j - 1] = t;
		}
	for (size_t i = 0; i < np; i++) {
		FILE *f = fopen(paths[i], "r");
		if (!f)
			die("%s: %s", paths[i], strerror(errno));
		struct nabfile nf = {.name = paths[i]};
		size_t cap = 0;
		char *line = NULL;
		size_t lcap = 0;
		while (getline(&line, &lcap, f) > 0) {
			char *c = strrchr(line, ',');
			char *end;
			if (!c)
				continue;
			double val = strtod(c + 1, &end);
			if (end == c + 1 || !isfinite(val))
				continue; /* the header */
			if (nf.n == cap) {
				cap = cap ? 2 * cap : 4096;
				nf.v = xrealloc(nf.v, cap * sizeof(*nf.v));
			}
			nf.v[nf.n++] = val;
		}
		free(line);
		fclose(f);
		if (nf.n < 4) {
			free(nf.v);
			free(nf.name);
			continue;
		}
		files = xrealloc(files, (n + 1) * sizeof(*files));
		files[n++] = nf;
	}
	free(paths);
	*n_out = n;
	if (!n)
		die("%s: no NAB csv files under %s/*/", dir, dir);
	return files;
}

/* ------------------------------------------------------------------ */
/* Synthetic series */

enum kind { K_SYS, K_IWALK, K_DWALK, K_NAB, K_N };
static const char *const kind_names[K_N] = {"sys", "iwalk", "dwalk", "nab"};
static const char *const kind_long[K_N] = {"system", "int_walk", "dec_walk", "nab"};

struct sources {
	struct recorded *rec;
	size_t n_rec;
	struct nabfile *nab;
	size_t n_nab;
};

struct gen {
	enum kind kind;
	uint32_t src;  /* recorded series or NAB file */
	uint64_t off;  /* start position in the source */
	uint64_t pos;  /* samples produced */
	uint64_t rng;
	size_t idx;    /* index among the series of its kind (the seed) */
	int64_t k;     /* walks: the current integer */
	double sigma;  /* walks: step size */
	double pzero;  /* walks: chance of an unchanged value */
	int64_t step_ms;
	int64_t t0;
};

/* Ping-pong over n values, so that a looped gauge never jumps. */
static size_t pingpong(uint64_t p, size_t n)
{
	uint64_t period = 2 * (uint64_t)n - 2;
	uint64_t q = p % period;
	return (size_t)(q < n ? q : period - q);
}

static void gen_init(struct gen *g, enum kind kind, size_t index, const struct sources *src,
		     int64_t t0, int64_t step_ms)
{
	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->idx = index;
	g->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)index * 0x2545f4914f6cdd1dull) ^ (uint64_t)kind;
	for (int i = 0; i < 4; i++)
		xorshift(&g->rng);
	g->t0 = t0;
	g->step_ms = step_ms;
	switch (kind) {
	case K_SYS:
		g->src = (uint32_t)(index % src->n_rec);
		/* copies of one recorded series start at different places */
		g->off = (index / src->n_rec) * 37 % src->rec[g->src].n;
		break;
	case K_NAB:
		g->src = (uint32_t)(index % src->n_nab);
		g->off = (index / src->n_nab) * 7919 % src->nab[g->src].n;
		break;
	case K_IWALK: {
		/* bytes-like gauges: memory, queue depth, open files ... */
		static const double sig[] = {1, 3, 20, 400, 4096, 65536, 1048576};
		g->sigma = sig[xorshift(&g->rng) % 7];
		g->k = (int64_t)(rnd(&g->rng) * 1000 * g->sigma) + (int64_t)(1000 * g->sigma);
		g->pzero = 0.1 + 0.5 * rnd(&g->rng);
		break;
	}
	case K_DWALK: {
		/* percentages, temperatures, latencies with 2 decimals */
		static const double sig[] = {1, 5, 25, 100, 500};
		g->sigma = sig[xorshift(&g->rng) % 5];
		g->k = (int64_t)(rnd(&g->rng) * 10000);
		g->pzero = 0.05 + 0.3 * rnd(&g->rng);
		break;
	}
	default: break;
	}
}

static void gen_next(struct gen *g, const struct sources *src, int64_t *ts, double *v)
{
	uint64_t p = g->pos++;
	*ts = g->t0 + (int64_t)p * g->step_ms;
	switch (g->kind) {
	case K_SYS: {
		const struct recorded *r = &src->rec[g->src];
		uint64_t q = p + g->off;
		size_t j;
		if (r->counter) {
			/* continue the counter across loops of the recording */
			j = (size_t)(q % r->n);
			int64_t pass = (int64_t)(q / r->n);
			if (r->dm != DEC_NONE) {
				int64_t span = r->k[r->n - 1] - r->k[0];
				int64_t step = (span + (int64_t)r->n / 2) / (int64_t)(r->n - 1);
				*v = dec_value(r->dm, r->dec, r->k[j] + pass * (span + step));
			} else {
				double span = r->v[r->n - 1] - r->v[0];
				*v = r->v[j] + (double)pass * (span + span / (double)(r->n - 1));
			}
		} else {
			j = pingpong(q, r->n);
			*v = r->v[j];
		}
		if (g->step_ms == 1000)
			*ts += r->jit[j];
		break;
	}
	case K_NAB: {
		const struct nabfile *f = &src->nab[g->src];
		*v = f->v[pingpong(p + g->off, f->n)];
		break;
	}
	case K_IWALK:
		if (rnd(&g->rng) >= g->pzero)
			g->k += llround(gauss(&g->rng) * g->sigma);
		if (g->k < 0)
			g->k = -g->k;
		*v = (double)g->k;
		break;
	case K_DWALK:
		if (rnd(&g->rng) >= g->pzero)
			g->k += llround(gauss(&g->rng) * g->sigma);
		*v = (double)g->k / 100.0;
		break;
	default: *v = 0; break;
	}
}

/* ------------------------------------------------------------------ */
/* A population of series with their names and labels */

struct population {
	size_t n;
	struct gen *g;
	char **name;
	char (*lv)[N_LABELS][48];
	struct bm_label (*labels)[N_LABELS];
	struct bm_sample *samples;
	size_t kind_count[K_N];
};

static void population_init(struct population *pop, size_t n, const double weight[K_N],
			    const struct sources *src, int64_t t0, int64_t step_ms, const char *host)
{
	static const char *const label_names[N_LABELS] = {"host", "job", "replica"}; /* sorted */
	double total = 0;
	for (int k = 0; k < K_N; k++)
		total += weight[k];
	memset(pop, 0, sizeof(*pop));
	pop->n = n;
	pop->g = xcalloc(n, sizeof(*pop->g));
	pop->name = xcalloc(n, sizeof(*pop->name));
	pop->lv = xcalloc(n, sizeof(*pop->lv));
	pop->labels = xcalloc(n, sizeof(*pop->labels));
	pop->samples = xcalloc(n, sizeof(*pop->samples));
	/* interleave the kinds (series i gets the kind furthest behind its
	 * share), so that every batch holds a mix, as a bus batch would */
	size_t idx[K_N] = {0};
	for (size_t i = 0; i < n; i++) {
		int best = -1;
		double lag = -INFINITY;
		for (int k = 0; k < K_N; k++) {
			if (weight[k] <= 0)
				continue;
			double d = weight[k] / total * (double)(i + 1) - (double)idx[k];
			if (d > lag) {
				lag = d;
				best = k;
			}
		}
		enum kind kind = (enum kind)best;
		size_t j = idx[kind]++;
		struct gen *g = &pop->g[i];
		gen_init(g, kind, j, src, t0, step_ms);
		const char *name;
		char buf[64];
		switch (kind) {
		case K_SYS: name = src->rec[g->src].name; break;
		case K_NAB: name = "nab_value"; break;
		case K_IWALK:
			snprintf(buf, sizeof(buf), "bench_walk_int_%zu", j % 16);
			name = buf;
			break;
		default:
			snprintf(buf, sizeof(buf), "bench_walk_dec_%zu", j % 16);
			name = buf;
			break;
		}
		pop->name[i] = strdup(name);
		snprintf(pop->lv[i][0], sizeof(pop->lv[i][0]), "%s-%02zu", host, i / 1000);
		snprintf(pop->lv[i][1], sizeof(pop->lv[i][1]), "%s", kind_names[kind]);
		snprintf(pop->lv[i][2], sizeof(pop->lv[i][2]), "%zu", j);
		if (kind == K_SYS) {
			/* the recorded series' own labels are in its id; keep it
			 * recognisable: the index of the recorded series */
			snprintf(pop->lv[i][1], sizeof(pop->lv[i][1]), "sys-%u", g->src);
		} else if (kind == K_NAB) {
			const char *base = strrchr(src->nab[g->src].name, '/');
			snprintf(pop->lv[i][1], sizeof(pop->lv[i][1]), "%.40s", base ? base + 1 : "nab");
		}
		for (int l = 0; l < N_LABELS; l++)
			pop->labels[i][l] = (struct bm_label){label_names[l], pop->lv[i][l]};
		pop->samples[i] = (struct bm_sample){.name = pop->name[i], .labels = pop->labels[i],
						     .n_labels = N_LABELS};
		pop->kind_count[kind]++;
	}
}

static void population_free(struct population *pop)
{
	for (size_t i = 0; i < pop->n; i++)
		free(pop->name[i]);
	free(pop->g);
	free(pop->name);
	free(pop->lv);
	free(pop->labels);
	free(pop->samples);
}

/* ------------------------------------------------------------------ */
/* OpenMetrics text of the same samples (regenerated series by series) */

static int cmp_name_idx(const void *a, const void *b, void *u)
{
	const struct population *pop = u;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(pop->name[x], pop->name[y]);
	return c ? c : (x > y) - (x < y);
}

/* The shortest decimal that reads back as the same double. */
static int fmt_double(char *buf, size_t n, double v)
{
	for (int prec = 6; prec <= 17; prec++) {
		int len = snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return len;
	}
	return snprintf(buf, n, "%.17g", v);
}

static void write_openmetrics(const char *path, struct population *pop, const struct sources *src,
			      uint64_t rounds, int64_t t0, int64_t step_ms)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	static char iobuf[1 << 20];
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	size_t *order = xcalloc(pop->n, sizeof(*order));
	for (size_t i = 0; i < pop->n; i++)
		order[i] = i;
	qsort_r(order, pop->n, sizeof(*order), cmp_name_idx, pop);
	const char *family = NULL;
	for (size_t o = 0; o < pop->n; o++) {
		size_t i = order[o];
		if (!family || strcmp(family, pop->name[i]) != 0) {
			family = pop->name[i];
			fprintf(f, "# TYPE %s gauge\n", family);
		}
		char series[256];
		snprintf(series, sizeof(series), "%s{%s=\"%s\",%s=\"%s\",%s=\"%s\"}", pop->name[i],
			 pop->labels[i][0].name, pop->labels[i][0].value, pop->labels[i][1].name,
			 pop->labels[i][1].value, pop->labels[i][2].name, pop->labels[i][2].value);
		struct gen g;
		/* the same kind, index and source: the same seed, the same values */
		gen_init(&g, pop->g[i].kind, pop->g[i].idx, src, t0, step_ms);
		for (uint64_t r = 0; r < rounds; r++) {
			int64_t ts;
			double v;
			char num[40];
			gen_next(&g, src, &ts, &v);
			fmt_double(num, sizeof(num), v);
			fprintf(f, "%s %s %" PRId64 ".%03" PRId64 "\n", series, num, ts / 1000, ts % 1000);
		}
	}
	fputs("# EOF\n", f);
	free(order);
	if (fclose(f) != 0)
		die("%s: write failed", path);
}

/* ------------------------------------------------------------------ */
/* Database size */

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static long long db_files_size(const char *db, long long part[3])
{
	char p[4096];
	part[0] = file_size(db);
	snprintf(p, sizeof(p), "%s-wal", db);
	part[1] = file_size(p);
	snprintf(p, sizeof(p), "%s-shm", db);
	part[2] = file_size(p);
	return part[0] + part[1] + part[2];
}

static double query_double(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	double v = NAN;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_double(st, 0);
		sqlite3_finalize(st);
	}
	return v;
}

/* After store_close: checkpoint (TRUNCATE), then report the files' size
 * per sample and where the bytes are. */
static void report_size(const char *db_path, uint64_t samples, const char *tag)
{
	long long part[3];
	long long before = db_files_size(db_path, part);
	fprintf(stderr, "store_bench: after store_close: db %lld B, -wal %lld B, -shm %lld B\n",
		part[0], part[1], part[2]);
	sqlite3 *db;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		die("%s: %s", db_path, sqlite3_errmsg(db));
	char *msg = NULL;
	if (sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, &msg) != SQLITE_OK)
		die("checkpoint: %s", msg);
	double page = query_double(db, "PRAGMA page_size");
	double freelist = query_double(db, "PRAGMA freelist_count");
	double chunk_payload = query_double(db, "SELECT total(length(data)) FROM chunks");
	double chunk_rows = query_double(db, "SELECT count(*) FROM chunks");
	double roll_payload = query_double(db, "SELECT total(length(data)) FROM rollups");
	double roll_rows = query_double(db, "SELECT count(*) FROM rollups");
	double series = query_double(db, "SELECT count(*) FROM series");
	/* pages per table and index (dbstat, where sqlite has it) */
	struct {
		char name[64];
		double bytes, unused, payload, cells;
	} parts[32];
	int n_parts = 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT name, sum(pgsize), sum(unused), sum(payload), sum(ncell)"
			       " FROM dbstat GROUP BY name ORDER BY 2 DESC",
			       -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW && n_parts < 32) {
			snprintf(parts[n_parts].name, sizeof(parts[n_parts].name), "%s",
				 (const char *)sqlite3_column_text(st, 0));
			parts[n_parts].bytes = sqlite3_column_double(st, 1);
			parts[n_parts].unused = sqlite3_column_double(st, 2);
			parts[n_parts].payload = sqlite3_column_double(st, 3);
			parts[n_parts].cells = sqlite3_column_double(st, 4);
			n_parts++;
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	long long after = db_files_size(db_path, part);
	double ns = (double)samples;
	char metric[96];
	snprintf(metric, sizeof(metric), "bytes_per_sample%s%s", *tag ? "_" : "", tag);
	figure("bearmon", metric, (double)after / ns, "B");
	fprintf(stderr,
		"store_bench: %s: %" PRIu64 " samples, %.0f series; files %lld B after checkpoint "
		"(%lld before; db %lld, wal %lld, shm %lld); page %.0f B, %.0f free pages\n",
		*tag ? tag : "main", samples, series, after, before, part[0], part[1], part[2], page,
		freelist);
	fprintf(stderr,
		"store_bench: %s: chunks %.0f rows, payload %.0f B (%.3f B/sample, %.0f B/row); "
		"rollups %.0f rows, payload %.0f B (%.3f B/sample)\n",
		*tag ? tag : "main", chunk_rows, chunk_payload, chunk_payload / ns,
		chunk_rows > 0 ? chunk_payload / chunk_rows : 0, roll_rows, roll_payload,
		roll_payload / ns);
	const char *sub = "bearmon:size";
	const char *sfx = *tag ? tag : "all";
	figuref(sub, chunk_payload / ns, "B", "chunk_payload_bytes_per_sample_%s", sfx);
	figuref(sub, roll_payload / ns, "B", "rollup_payload_bytes_per_sample_%s", sfx);
	figuref(sub, freelist * page / ns, "B", "free_pages_bytes_per_sample_%s", sfx);
	for (int i = 0; i < n_parts; i++) {
		if (parts[i].bytes <= page)
			continue; /* the empty tables of other issues: one page each */
		fprintf(stderr,
			"store_bench: %s:   %-26s %11.0f B %7.4f B/sample: payload %5.1f%%, unused %5.1f%%, "
			"cell and page headers %4.1f%% (%.0f cells)\n",
			sfx, parts[i].name, parts[i].bytes, parts[i].bytes / ns,
			100 * parts[i].payload / parts[i].bytes, 100 * parts[i].unused / parts[i].bytes,
			100 * (parts[i].bytes - parts[i].payload - parts[i].unused) / parts[i].bytes,
			parts[i].cells);
		if (strcmp(parts[i].name, "chunks") == 0 || strcmp(parts[i].name, "rollups") == 0 ||
		    strcmp(parts[i].name, "series") == 0 || strcmp(parts[i].name, "label_index") == 0)
			figuref(sub, parts[i].bytes / ns, "B", "table_%s_bytes_per_sample_%s",
				parts[i].name, sfx);
	}
}

/* ------------------------------------------------------------------ */

struct opts {
	const char *db;
	const char *sys;
	const char *nab;
	const char *tag;
	const char *om;
	const char *ids;
	size_t series;
	uint64_t rounds;
	double weight[K_N];
	int flush_ms;
	int chunk_samples;
	uint64_t flush_rounds; /* also store_flush() every this many rounds */
};

static void parse_mix(const char *s, double w[K_N])
{
	char *copy = strdup(s), *save = NULL;
	for (int k = 0; k < K_N; k++)
		w[k] = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':');
		double v = colon ? atof(colon + 1) : 1;
		if (colon)
			*colon = '\0';
		int k;
		for (k = 0; k < K_N && strcmp(kind_names[k], t) != 0; k++)
			;
		if (k == K_N)
			die("mix: unknown kind '%s' (sys, iwalk, dwalk, nab)", t);
		w[k] = v;
	}
	free(copy);
}

static void load_sources(const struct opts *o, struct sources *src, const double w[K_N])
{
	memset(src, 0, sizeof(*src));
	if (w[K_SYS] > 0) {
		if (!o->sys)
			die("the mix has sys series: -S CSV is required");
		src->rec = load_recording(o->sys, &src->n_rec);
		size_t counters = 0, dec = 0, samples = 0;
		for (size_t i = 0; i < src->n_rec; i++) {
			counters += src->rec[i].counter;
			dec += src->rec[i].dm != DEC_NONE;
			samples += src->rec[i].n;
		}
		fprintf(stderr,
			"store_bench: recording %s: %zu series (%zu counters, %zu decimal), %zu samples\n",
			o->sys, src->n_rec, counters, dec, samples);
	}
	if (w[K_NAB] > 0) {
		if (!o->nab)
			die("the mix has nab series: -N DIR is required");
		src->nab = load_nab(o->nab, &src->n_nab);
		fprintf(stderr, "store_bench: NAB: %zu files\n", src->n_nab);
	}
}

static struct store *open_store(const struct opts *o)
{
	struct store_conf conf = {
		.path = o->db,
		.flush_ms = o->flush_ms,
		.chunk_samples = (uint32_t)o->chunk_samples,
		/* keep everything: simulated time lies in the past, and the
		 * flusher applies retention against the wall clock */
		.retention_ms = {0, 0, 0},
	};
	struct bm_err err = {0};
	struct store *s = store_open(&conf, &err);
	if (!s)
		die("store_open %s: %s", o->db, err.msg);
	return s;
}

static int cmd_ingest(const struct opts *o)
{
	struct sources src;
	load_sources(o, &src, o->weight);
	struct population pop;
	population_init(&pop, o->series, o->weight, &src, T0_MS, 1000, "bench-host");
	fprintf(stderr, "store_bench: %zu series (sys %zu, iwalk %zu, dwalk %zu, nab %zu), %" PRIu64
		" rounds\n", pop.n, pop.kind_count[K_SYS], pop.kind_count[K_IWALK],
		pop.kind_count[K_DWALK], pop.kind_count[K_NAB], o->rounds);
	if (o->om) {
		double t = now_s();
		write_openmetrics(o->om, &pop, &src, o->rounds, T0_MS, 1000);
		fprintf(stderr, "store_bench: OpenMetrics text written to %s in %.1f s\n", o->om,
			now_s() - t);
	}
	long rss_base = status_kib("VmRSS");
	struct store *s = open_store(o);
	size_t n_batches = (pop.n + BATCH - 1) / BATCH;
	double gen_s = 0, cpu0 = rusage_cpu_s(), main0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	double t0 = now_s(), last_report = t0;
	size_t heap_peak = 0;
	int rc = 0;
	for (uint64_t r = 0; r < o->rounds && rc == 0; r++) {
		for (size_t b = 0; b < n_batches && rc == 0; b++) {
			size_t lo = b * pop.n / n_batches, hi = (b + 1) * pop.n / n_batches;
			double g0 = now_s();
			for (size_t i = lo; i < hi; i++)
				gen_next(&pop.g[i], &src, &pop.samples[i].ts_ms, &pop.samples[i].value);
			gen_s += now_s() - g0;
			struct bm_metric_batch batch = {
				.source = "collector:bench:store",
				.samples = pop.samples + lo,
				.n_samples = hi - lo,
			};
			rc = store_ingest(s, &batch);
		}
		if (o->flush_rounds && (r + 1) % o->flush_rounds == 0 && (rc = store_flush(s)))
			die("store_flush: %s", bm_strerror(rc));
		if ((r & 15) == 15) {
			/* heap in use, to tell the store's own peak from what the
			 * allocator keeps (diagnostic, outside the generator time) */
			double g0 = now_s();
			struct mallinfo2 m = mallinfo2();
			if (m.uordblks + m.hblkhd > heap_peak)
				heap_peak = m.uordblks + m.hblkhd;
			gen_s += now_s() - g0;
		}
		if ((r & 63) == 63 && now_s() - last_report >= 10) {
			last_report = now_s();
			fprintf(stderr, "store_bench: round %" PRIu64 "/%" PRIu64 ", %.0f s, VmRSS %ld KiB\n",
				r + 1, o->rounds, last_report - t0, status_kib("VmRSS"));
		}
	}
	if (rc)
		die("store_ingest: %s", bm_strerror(rc));
	if ((rc = store_flush(s)))
		die("store_flush: %s", bm_strerror(rc));
	double wall = now_s() - t0;
	double cpu = rusage_cpu_s() - cpu0, main_cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - main0;
	struct store_stats st;
	store_get_stats(s, &st);
	uint64_t expect = (uint64_t)pop.n * o->rounds;
	long hwm_open = status_kib("VmHWM");
	struct mallinfo2 mi = mallinfo2();
	fprintf(stderr,
		"store_bench: before store_close: VmRSS %ld KiB; malloc: %zu KiB in use, %zu KiB free "
		"in the heaps (%zu KiB arena, %zu KiB mmapped); peak in use (sampled every 16 rounds) "
		"%zu KiB\n",
		status_kib("VmRSS"), mi.uordblks / 1024, mi.fordblks / 1024, mi.arena / 1024,
		mi.hblkhd / 1024, heap_peak / 1024);
	store_close(s);
	long hwm = status_kib("VmHWM");
	if (st.samples_in != expect || st.duplicates || st.out_of_order || st.write_errors)
		die("the store accepted %" PRIu64 " of %" PRIu64 " samples (%" PRIu64 " duplicates, %"
		    PRIu64 " out of order, %" PRIu64 " write errors)", st.samples_in, expect,
		    st.duplicates, st.out_of_order, st.write_errors);
	fprintf(stderr,
		"store_bench: %" PRIu64 " samples in %.2f s wall (generator %.2f s of it), %" PRIu64
		" chunks written in %" PRIu64 " flushes; CPU %.2f s (ingest thread %.2f s, flusher "
		"%.2f s); VmHWM %ld KiB (%ld before store_close), VmRSS before store_open %ld KiB\n",
		expect, wall, gen_s, st.chunks_written, st.flushes, cpu, main_cpu - gen_s,
		cpu - main_cpu, hwm, hwm_open, rss_base);
	if (!*o->tag) {
		figure("bearmon", "ingest_samples_per_s", (double)expect / (wall - gen_s), "1/s");
		figure("bearmon", "ingest_samples_per_s_incl_generator", (double)expect / wall, "1/s");
		figure("bearmon", "rss_peak_kib", (double)hwm, "KiB");
		figure("bearmon", "rss_before_store_kib", (double)rss_base, "KiB");
		figure("bearmon", "heap_in_use_peak_kib", (double)heap_peak / 1024, "KiB");
		figure("bearmon", "heap_in_use_end_kib", (double)(mi.uordblks + mi.hblkhd) / 1024, "KiB");
		figure("bearmon", "cpu_s", cpu - gen_s, "s");
		figure("bearmon", "cpu_ns_per_sample", (cpu - gen_s) * 1e9 / (double)expect, "ns");
		figure("bearmon", "cpu_ns_per_sample_ingest_thread",
		       (main_cpu - gen_s) * 1e9 / (double)expect, "ns");
		figure("bearmon", "cpu_ns_per_sample_flusher", (cpu - main_cpu) * 1e9 / (double)expect,
		       "ns");
		figure("bearmon", "samples", (double)expect, "1");
	}
	report_size(o->db, expect, o->tag);
	population_free(&pop);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Queries */

struct sink {
	double sum;
	long n;
};

static void sink_cb(void *u, int64_t ts, double v)
{
	struct sink *k = u;
	k->sum += v + (double)ts;
	k->n++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct find_id {
	const char *host;
	int64_t id;
	long n;
};

static void find_cb(void *u, int64_t id, const char *text)
{
	struct find_id *f = u;
	(void)text;
	f->id = id;
	f->n++;
}

#define QUERY_RUNS 20

static int cmd_query(const struct opts *o)
{
	double w[K_N] = {1, 1, 1, 1};
	struct sources src;
	load_sources(o, &src, w);
	const int64_t day = 86400000, month = 30 * day;
	const uint64_t raw_rounds = 86400, min_rounds = 43200;
	/* 4 series at 1 s for a day, 4 at 60 s for 30 days: one per kind */
	struct population raw, slow;
	population_init(&raw, K_N, w, &src, T0_MS, 1000, "q24h");
	population_init(&slow, K_N, w, &src, T0_MS, 60000, "q30d");
	struct store *s = open_store(o);
	double t = now_s();
	int rc = 0;
	for (uint64_t r = 0; r < raw_rounds && rc == 0; r++) {
		for (size_t i = 0; i < raw.n; i++)
			gen_next(&raw.g[i], &src, &raw.samples[i].ts_ms, &raw.samples[i].value);
		struct bm_metric_batch b = {.samples = raw.samples, .n_samples = raw.n};
		rc = store_ingest(s, &b);
		if (rc == 0 && r < min_rounds) {
			for (size_t i = 0; i < slow.n; i++)
				gen_next(&slow.g[i], &src, &slow.samples[i].ts_ms, &slow.samples[i].value);
			struct bm_metric_batch b2 = {.samples = slow.samples, .n_samples = slow.n};
			rc = store_ingest(s, &b2);
		}
	}
	if (rc || (rc = store_flush(s)))
		die("ingest: %s", bm_strerror(rc));
	fprintf(stderr, "store_bench: query data ingested in %.1f s\n", now_s() - t);

	FILE *ids = o->ids ? fopen(o->ids, "w") : NULL;
	double worst_raw = 0, worst_range = 0;
	for (int pass = 0; pass < 2; pass++) {
		struct population *pop = pass ? &slow : &raw;
		for (size_t i = 0; i < pop->n; i++) {
			struct bm_matcher m3[3] = {{"__name__", BM_MATCH_EQ, pop->name[i]},
						   {"host", BM_MATCH_EQ, pop->lv[i][0]},
						   {"job", BM_MATCH_EQ, pop->lv[i][1]}};
			struct find_id f = {0};
			if (store_series(s, m3, 3, find_cb, &f) != 1)
				die("series %s not found once (%ld)", pop->name[i], f.n);
			const char *kind = kind_long[pop->g[i].kind];
			double ms[QUERY_RUNS], first = 0;
			long want = pass ? 720 : (long)raw_rounds;
			int64_t start = T0_MS, end = T0_MS + (pass ? month : day) - 1;
			for (int run = 0; run <= QUERY_RUNS; run++) {
				struct sink k = {0};
				int tier = -1;
				double q0 = now_s();
				long n = pass ? store_range(s, f.id, start, end, 3600000, BM_AGG_AVG, &tier,
							    sink_cb, &k)
					      : store_raw(s, f.id, start, end, sink_cb, &k);
				double dt = (now_s() - q0) * 1e3;
				if (n != want || k.n != want || (pass && tier != 2))
					die("%s query of %s: %ld points (want %ld), tier %d", pass ? "range" : "raw",
					    kind, n, want, tier);
				if (run == 0)
					first = dt; /* warms sqlite's cache and statement */
				else
					ms[run - 1] = dt;
			}
			double med = median(ms, QUERY_RUNS);
			figuref("bearmon", med, "ms", "%s_%s", pass ? "query_30d_1h_ms" : "query_24h_raw_ms",
				kind);
			fprintf(stderr, "store_bench: %s %s (id %" PRId64 "): first %.3f ms, median %.3f ms, "
				"max %.3f ms\n", pass ? "30d@1h" : "24h raw", kind, f.id, first, med,
				ms[QUERY_RUNS - 1]);
			if (pass)
				worst_range = fmax(worst_range, med);
			else
				worst_raw = fmax(worst_raw, med);
			if (ids)
				fprintf(ids, "%s %s %" PRId64 " %" PRId64 " %" PRId64 "\n", pass ? "range" : "raw",
					kind, f.id, start, end);
		}
	}
	if (ids)
		fclose(ids);
	/* the headline: the slowest kind */
	figure("bearmon", "query_24h_raw_ms", worst_raw, "ms");
	figure("bearmon", "query_30d_1h_ms", worst_range, "ms");
	store_close(s);
	population_free(&raw);
	population_free(&slow);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Dump a store as CSV */

struct dump_ctx {
	struct store *s;
	const char *text;
	long n;
};

static void dump_sample(void *u, int64_t ts, double v)
{
	struct dump_ctx *d = u;
	if (!isfinite(v))
		return;
	char num[40];
	fmt_double(num, sizeof(num), v);
	printf("%s,%" PRId64 ",%s\n", d->text, ts, num);
	d->n++;
}

struct idlist {
	int64_t *id;
	char **text;
	size_t n;
};

static void collect_cb(void *u, int64_t id, const char *text)
{
	struct idlist *l = u;
	l->id = xrealloc(l->id, (l->n + 1) * sizeof(*l->id));
	l->text = xrealloc(l->text, (l->n + 1) * sizeof(*l->text));
	l->id[l->n] = id;
	l->text[l->n++] = strdup(text);
}

static int cmd_dump(const struct opts *o)
{
	struct store *s = open_store(o);
	struct idlist l = {0};
	if (store_series(s, NULL, 0, collect_cb, &l) < 0)
		die("store_series failed");
	long total = 0;
	puts("series_id,ts_ms,value");
	for (size_t i = 0; i < l.n; i++) {
		struct dump_ctx d = {s, l.text[i], 0};
		if (store_raw(s, l.id[i], INT64_MIN, INT64_MAX, dump_sample, &d) < 0)
			die("store_raw failed");
		total += d.n;
		free(l.text[i]);
	}
	fprintf(stderr, "store_bench: dumped %zu series, %ld samples\n", l.n, total);
	free(l.id);
	free(l.text);
	store_close(s);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: store_bench ingest -d DB -n SERIES -r ROUNDS -m MIX [-S SYS.csv] [-N NABDIR]\n"
		"                          [-t TAG] [-o OPENMETRICS_FILE] [-f FLUSH_MS] [-c CHUNK]\n"
		"                          [-F FLUSH_EVERY_ROUNDS]\n"
		"       store_bench query -d DB [-S SYS.csv] [-N NABDIR] [-i IDS_FILE]\n"
		"       store_bench dump -d DB\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return 2;
	}
	const char *cmd = argv[1];
	struct opts o = {.tag = "", .series = 10000, .rounds = 3600, .flush_ms = 1000,
			 .chunk_samples = 480};
	parse_mix("sys:50,iwalk:12.5,dwalk:12.5,nab:25", o.weight);
	int c;
	optind = 2;
	while ((c = getopt(argc, argv, "d:n:r:m:S:N:t:o:i:f:c:F:h")) != -1) {
		switch (c) {
		case 'd': o.db = optarg; break;
		case 'n': o.series = strtoul(optarg, NULL, 10); break;
		case 'r': o.rounds = strtoull(optarg, NULL, 10); break;
		case 'm': parse_mix(optarg, o.weight); break;
		case 'S': o.sys = optarg; break;
		case 'N': o.nab = optarg; break;
		case 't': o.tag = optarg; break;
		case 'o': o.om = optarg; break;
		case 'i': o.ids = optarg; break;
		case 'f': o.flush_ms = atoi(optarg); break;
		case 'c': o.chunk_samples = atoi(optarg); break;
		case 'F': o.flush_rounds = strtoull(optarg, NULL, 10); break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!o.db || !o.series || !o.rounds) {
		usage();
		return 2;
	}
	if (strcmp(cmd, "ingest") == 0)
		return cmd_ingest(&o);
	if (strcmp(cmd, "query") == 0)
		return cmd_query(&o);
	if (strcmp(cmd, "dump") == 0)
		return cmd_dump(&o);
	usage();
	return 2;
}
