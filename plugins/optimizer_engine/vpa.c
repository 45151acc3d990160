/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VPA-style recommendations (vpa.h): usage from the store, limits from
 * the cgroup files themselves.
 */
#define _GNU_SOURCE
#include "vpa.h"

#include <bearmon/bm_vec.h>

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "stats.h"

#define DAY_MS 86400000.0
#define PAGE 4096.0

bool vpa_figures(double *v, size_t n, double margin, double days, struct vpa_rec *out)
{
	if (n < 3 || days <= 0)
		return false;
	double m = 1 + margin;
	out->samples = n;
	out->days = days;
	out->lower = stats_quantile(v, n, 0.50) * m * pow(1 + 0.001 / days, -2);
	out->target = stats_quantile(v, n, 0.90) * m;
	out->upper = stats_quantile(v, n, 0.95) * m * (1 + 1 / days);
	return true;
}

/* Usage values of a selector per step over the window; *days the span. */
static double *usage(struct engine *e, const char *selector, bool counter, int64_t now_ms,
		     size_t *n, double *days)
{
	const struct engine_conf *k = e->conf;
	struct sel s;
	int64_t first;
	*n = 0;
	if (sel_parse(selector, &s, NULL, 0))
		return NULL;
	size_t slots = sel_n_steps(now_ms - k->vpa_window_ms, now_ms, k->vpa_step_ms, &first);
	double *v = calloc(slots + 1, sizeof(*v));
	unsigned char *have = calloc(slots + 1, 1);
	if (v && have &&
	    sel_steps(e->ctx, &s, now_ms - k->vpa_window_ms, now_ms, k->vpa_step_ms,
		      counter ? BM_AGG_INCREASE : BM_AGG_AVG, v, have, slots) == 0) {
		size_t lo = slots, hi = 0;
		for (size_t i = 0; i < slots; i++) {
			if (!have[i])
				continue;
			v[(*n)++] = counter ? v[i] / (k->vpa_step_ms / 1000.0) : v[i];
			lo = i < lo ? i : lo;
			hi = i;
		}
		*days = *n ? (double)(hi - lo + 1) * (double)k->vpa_step_ms / DAY_MS : 0;
	}
	free(have);
	sel_free(&s);
	return v;
}

/* The memory limit of a cgroup from its own file: v2 memory.max, else v1
 * memory.limit_in_bytes; +inf when unlimited, NaN when unreadable. */
static double memory_limit(const struct engine *e, const char *path)
{
	static const char *const files[][2] = {{"unified", "memory.max"},
					       {"memory", "memory.limit_in_bytes"},
					       {"", "memory.max"}};
	for (size_t i = 0; i < 3; i++) {
		char file[600], buf[64];
		textf(file, sizeof(file), "%s/%s%s%s/%s", e->conf->cgroup_root, files[i][0],
			 files[i][0][0] ? "/" : "", path[0] == '/' ? path + 1 : path, files[i][1]);
		FILE *f = fopen(file, "r");
		if (!f)
			continue;
		bool ok = fgets(buf, sizeof(buf), f) != NULL;
		fclose(f);
		if (!ok)
			continue;
		double v = strncmp(buf, "max", 3) == 0 ? INFINITY : strtod(buf, NULL);
		return v >= 9.2e18 ? INFINITY : v; /* v1 "unlimited" is PAGE_COUNTER_MAX pages */
	}
	return NAN;
}

/* The v1 memory (or v2) cgroup of pid, when it holds that process alone. */
static bool own_cgroup(const struct engine *e, int64_t pid, char *path, size_t n)
{
	char file[128], line[512];
	textf(file, sizeof(file), "/proc/%lld/cgroup", (long long)pid);
	FILE *f = fopen(file, "r");
	if (!f)
		return false;
	path[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *p = ctrl ? strchr(ctrl + 1, ':') : NULL;
		if (!p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		if (strncmp(ctrl, ":memory:", 8) == 0 || (!path[0] && strncmp(ctrl, "::", 2) == 0))
			textf(path, n, "%s", p + 1);
	}
	fclose(f);
	if (!path[0] || strcmp(path, "/") == 0)
		return false;
	textf(file, sizeof(file), "%s/memory%s/cgroup.procs", e->conf->cgroup_root, path);
	f = fopen(file, "r");
	if (!f)
		return false;
	long long only = 0, other = 0, x;
	while (fscanf(f, "%lld", &x) == 1)
		*(x == pid ? &only : &other) += 1;
	fclose(f);
	return only == 1 && other == 0;
}

static void propose(struct engine *e, const struct vpa_rec *r, const char *cgroup, int64_t now_ms)
{
	char id[600], target[32], high[32], metric[600], reason[512], why[256];
	struct bm_label label = {"cgroup", cgroup};
	bool lowering = r->current_limit > r->upper;
	textf(id, sizeof(id), "vpa:%s:memory", r->subject);
	textf(target, sizeof(target), "%.0f", ceil(r->upper / PAGE) * PAGE);
	textf(high, sizeof(high), "%.0f", ceil(r->target / PAGE) * PAGE);
	sel_format(metric, sizeof(metric), "container_spec_memory_limit_bytes", &label, 1);
	textf(reason, sizeof(reason),
		 "memory limit %.0f bytes lies outside the recommendation for %s: lower %.0f, target "
		 "%.0f, upper %.0f (p50/p90/p95 of %zu samples over %.2f days, margin %.0f%%)",
		 r->current_limit, r->subject, r->lower, r->target, r->upper, r->samples, r->days,
		 e->conf->vpa_margin * 100);
	struct bm_kv params[] = {{"memory.max", target}, {"memory.high", high}};
	struct bm_impact impact = {metric, ceil(r->upper / PAGE) * PAGE / r->current_limit - 1, 0.01};
	char optimizer[256];
	textf(optimizer, sizeof(optimizer), "%s/vpa", bm_instance_name(e->ctx));
	struct bm_candidate_event c = {
		.ts_ms = now_ms, .expires_ms = now_ms + 2 * bm_interval_ms(e->ctx), .id = id,
		.optimizer = optimizer, .dimension = "resource_efficiency",
		.action = {"cgroup", cgroup, params, 2}, .impact = &impact, .n_impact = 1,
		.benefit = lowering ? 0.5 : 0.7, .risk = lowering ? 0.2 : 0.05,
		.confidence = fmin(1, r->days), .reason = reason,
		.rollback = "write the previous memory.max and memory.high back",
	};
	if (pool_put(&e->pool, &c, now_ms, bm_interval_ms(e->ctx), why, sizeof(why)))
		bm_log_info(e->ctx, "vpa: %s", why);
}

static int add_rec(struct engine *e, const char *subject, const char *resource,
		   const char *selector, bool counter, int64_t now_ms, double limit,
		   const char *cgroup)
{
	size_t n;
	double days = 0;
	double *v = usage(e, selector, counter, now_ms, &n, &days);
	struct vpa_rec r = {.current_limit = limit};
	textf(r.subject, sizeof(r.subject), "%s", subject);
	textf(r.resource, sizeof(r.resource), "%s", resource);
	bool ok = v && vpa_figures(v, n, e->conf->vpa_margin, days, &r);
	free(v);
	if (!ok)
		return 0;
	struct vpa_rec *grown = realloc(e->vpa, (e->n_vpa + 1) * sizeof(*grown));
	if (!grown)
		return BM_ENOMEM;
	e->vpa = grown;
	e->vpa[e->n_vpa++] = r;
	if (cgroup && isfinite(limit) && (limit < r.lower || limit > r.upper))
		propose(e, &r, cgroup, now_ms);
	return 0;
}

/* Memory and CPU of one target whose series carry label = value. */
static void target(struct engine *e, const char *subject, const char *label, const char *value,
		   const char *mem_name, const char *cpu_name, const char *cgroup, int64_t now_ms)
{
	char sel[700];
	struct bm_label l = {label, value};
	double limit = cgroup ? memory_limit(e, cgroup) : NAN;
	sel_format(sel, sizeof(sel), mem_name, &l, 1);
	add_rec(e, subject, "memory", sel, false, now_ms, limit, cgroup);
	sel_format(sel, sizeof(sel), cpu_name, &l, 1);
	add_rec(e, subject, "cpu", sel, true, now_ms, NAN, NULL);
}

struct cgroups {
	char **v;
	size_t n, cap, max;
	regex_t *re;
};

/* Collect the cgroup label of each series (canonical text name{...,cgroup="X",...}). */
static void on_cgroup_series(void *user, int64_t id, const char *series)
{
	(void)id;
	struct cgroups *c = user;
	const char *at = strstr(series, "cgroup=\"");
	if (!at || c->n >= c->max)
		return;
	at += 8;
	size_t len = strcspn(at, "\"");
	char *path = strndup(at, len);
	if (!path || regexec(c->re, path, 0, NULL, 0) || BM_VEC_RESERVE(c->v, c->cap, c->n + 1)) {
		free(path);
		return;
	}
	c->v[c->n++] = path;
}

static void cgroup_targets(struct engine *e, size_t room, int64_t now_ms)
{
	char pattern[600];
	regex_t re;
	textf(pattern, sizeof(pattern), "^(%s)$", e->conf->vpa_cgroups);
	if (!room || regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
		return;
	struct cgroups c = {.max = room, .re = &re};
	struct bm_matcher m = {"__name__", BM_MATCH_EQ, "container_memory_working_set_bytes"};
	bm_store_series(e->ctx, &m, 1, on_cgroup_series, &c);
	for (size_t i = 0; i < c.n; i++) {
		char subject[ENG_SUBJECT];
		textf(subject, sizeof(subject), "cgroup:%s", c.v[i]);
		target(e, subject, "cgroup", c.v[i], "container_memory_working_set_bytes",
		       "container_cpu_usage_seconds_total", c.v[i], now_ms);
		free(c.v[i]);
	}
	free(c.v);
	regfree(&re);
}

void vpa_update(struct engine *e, int64_t now_ms)
{
	if (!e->conf->vpa || now_ms < e->next_vpa_ms)
		return;
	e->next_vpa_ms = now_ms + e->conf->vpa_step_ms;
	e->n_vpa = 0;
	size_t max = (size_t)e->conf->vpa_max_targets, done = 0;
	for (size_t i = 0; i < e->agents.n && done < max; i++, done++) {
		const struct oagent *a = &e->agents.v[i];
		char subject[ENG_SUBJECT], cgroup[256];
		bool own = a->pid > 1 && own_cgroup(e, a->pid, cgroup, sizeof(cgroup));
		textf(subject, sizeof(subject), "agent:%s", a->id);
		target(e, subject, "agent", a->id, "bearmon_process_resident_memory_bytes",
		       "bearmon_process_cpu_seconds_total", own ? cgroup : NULL, now_ms);
	}
	if (e->conf->vpa_cgroups && e->conf->vpa_cgroups[0])
		cgroup_targets(e, max - done, now_ms);
}
