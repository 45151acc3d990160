/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake store (fakestore.h): a fixed table, linear scans, regular
 * expressions compiled per match. Test code only.
 */
#define _GNU_SOURCE
#include "fakestore.h"

#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bustest.h"
#include "shared/selector.h"

#define FS_SERIES 32
#define FS_POINTS 1024
#define FS_LABELS 4

struct fpoint {
	int64_t ts;
	double v;
};

struct fseries {
	char text[256];
	char name[64];
	struct bm_label l[FS_LABELS];
	char lbuf[FS_LABELS][2][64];
	size_t nl;
	struct fpoint p[FS_POINTS];
	size_t np;
};

static struct fseries fs[FS_SERIES];
static size_t n_fs;

static void parse_labels(struct fseries *s, const char *labels)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", labels);
	for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv && s->nl < FS_LABELS;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = '\0';
		snprintf(s->lbuf[s->nl][0], 64, "%s", kv);
		snprintf(s->lbuf[s->nl][1], 64, "%s", eq + 1);
		s->l[s->nl] = (struct bm_label){s->lbuf[s->nl][0], s->lbuf[s->nl][1]};
		s->nl++;
	}
}

static struct fseries *get(const char *name, const char *labels)
{
	struct fseries probe = {0};
	parse_labels(&probe, labels);
	sel_format(probe.text, sizeof(probe.text), name, probe.l, probe.nl);
	for (size_t i = 0; i < n_fs; i++)
		if (strcmp(fs[i].text, probe.text) == 0)
			return &fs[i];
	if (n_fs == FS_SERIES)
		abort();
	struct fseries *s = &fs[n_fs++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	parse_labels(s, labels);
	sel_format(s->text, sizeof(s->text), name, s->l, s->nl);
	return s;
}

void fs_point(const char *name, const char *labels, int64_t ts_ms, double v)
{
	struct fseries *s = get(name, labels);
	if (s->np == FS_POINTS)
		abort();
	s->p[s->np++] = (struct fpoint){ts_ms, v};
}

static const char *label_of(const struct fseries *s, const char *name)
{
	if (strcmp(name, "__name__") == 0)
		return s->name;
	for (size_t i = 0; i < s->nl; i++)
		if (strcmp(s->l[i].name, name) == 0)
			return s->l[i].value;
	return "";
}

static bool matches(const struct fseries *s, const struct bm_matcher *m)
{
	const char *v = label_of(s, m->name);
	if (m->op == BM_MATCH_EQ || m->op == BM_MATCH_NEQ)
		return (strcmp(v, m->value) == 0) == (m->op == BM_MATCH_EQ);
	char pattern[300];
	regex_t re;
	snprintf(pattern, sizeof(pattern), "^(%s)$", m->value);
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
		return false;
	bool hit = regexec(&re, v, 0, NULL, 0) == 0;
	regfree(&re);
	return hit == (m->op == BM_MATCH_RE);
}

static long f_series(struct bm_ctx *ctx, const struct bm_matcher *m, size_t n, bm_series_cb cb,
		     void *user)
{
	(void)ctx;
	long hits = 0;
	for (size_t i = 0; i < n_fs; i++) {
		bool ok = true;
		for (size_t k = 0; k < n && ok; k++)
			ok = matches(&fs[i], &m[k]);
		if (ok) {
			cb(user, (int64_t)i + 1, fs[i].text);
			hits++;
		}
	}
	return hits;
}

static long f_raw(struct bm_ctx *ctx, int64_t id, int64_t start, int64_t end, bm_point_cb cb,
		  void *user)
{
	(void)ctx;
	const struct fseries *s = &fs[id - 1];
	long n = 0;
	for (size_t i = 0; i < s->np; i++) {
		if (s->p[i].ts >= start && s->p[i].ts <= end) {
			cb(user, s->p[i].ts, s->p[i].v);
			n++;
		}
	}
	return n;
}

static long f_range(struct bm_ctx *ctx, int64_t id, int64_t start, int64_t end, int64_t step,
		    enum bm_agg agg, bm_point_cb cb, void *user)
{
	(void)ctx;
	const struct fseries *s = &fs[id - 1];
	long n = 0;
	for (int64_t w = start - start % step; w <= end; w += step) {
		double sum = 0, first = NAN, last = NAN;
		size_t k = 0;
		for (size_t i = 0; i < s->np; i++) {
			if (s->p[i].ts < w || s->p[i].ts >= w + step)
				continue;
			sum += s->p[i].v;
			first = k ? first : s->p[i].v;
			last = s->p[i].v;
			k++;
		}
		if (!k)
			continue;
		cb(user, w, agg == BM_AGG_INCREASE ? last - first : sum / (double)k);
		n++;
	}
	return n;
}

static int f_instant(struct bm_ctx *ctx, int64_t id, int64_t at, int64_t lookback, double *v)
{
	(void)ctx;
	const struct fseries *s = &fs[id - 1];
	int64_t best = INT64_MIN;
	for (size_t i = 0; i < s->np; i++) {
		if (s->p[i].ts <= at && s->p[i].ts >= at - lookback && s->p[i].ts > best) {
			best = s->p[i].ts;
			*v = s->p[i].v;
		}
	}
	return best != INT64_MIN;
}

const struct bm_host_api *fs_api(void)
{
	struct bm_host_api *api = (struct bm_host_api *)bt_api();
	api->store_series = f_series;
	api->store_raw = f_raw;
	api->store_range = f_range;
	api->store_instant = f_instant;
	n_fs = 0;
	return api;
}
