/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Learned effects and the posterior of an impact (learn.h). Tables stay
 * small (action kinds x metrics): linear lookups.
 */
#define _GNU_SOURCE
#include "learn.h"

#include <bearmon/bm_vec.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void action_kind(const char *actuator, const struct kvl *params, char *out, size_t n)
{
	const char *command = kvl_get(params, "command");
	if (strcmp(actuator, "agent_command") == 0 && command) {
		textf(out, n, "agent_command:%s", command);
		return;
	}
	const char *keys[16];
	size_t k = 0;
	for (size_t i = 0; i < params->n && k < 16; i++)
		keys[k++] = params->v[i].key;
	qsort(keys, k, sizeof(keys[0]), cmp_str);
	size_t used = (size_t)snprintf(out, n, "%s:", actuator);
	for (size_t i = 0; i < k && used < n; i++)
		used += (size_t)snprintf(out + used, n - used, "%s%s", i ? "," : "", keys[i]);
}

void metric_name_of(const char *selector, char *out, size_t n)
{
	size_t len = strcspn(selector, "{ ");
	textf(out, n, "%.*s", (int)len, selector);
}

static struct effect *effect_get(struct learn *l, const char *key, bool create)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->e[i].key, key) == 0)
			return &l->e[i];
	if (!create)
		return NULL;
	char *k = strdup(key);
	if (!k || BM_VEC_RESERVE(l->e, l->cap, l->n + 1)) {
		free(k);
		return NULL;
	}
	l->e[l->n] = (struct effect){.key = k};
	return &l->e[l->n++];
}

const struct effect *learn_effect(const struct learn *l, const char *kind, const char *metric)
{
	char key[512];
	textf(key, sizeof(key), "%s|%s", kind, metric);
	return effect_get((struct learn *)l, key, false);
}

int learn_effect_add(struct learn *l, const char *kind, const char *metric, double rel)
{
	char key[512];
	if (!isfinite(rel))
		return BM_EINVAL;
	textf(key, sizeof(key), "%s|%s", kind, metric);
	struct effect *e = effect_get(l, key, true);
	if (!e)
		return BM_ENOMEM;
	e->n++;
	double d = rel - e->mean;
	e->mean += d / (double)e->n;
	e->m2 += d * (rel - e->mean);
	return 0;
}

static struct kind_stats *kind_get(struct learn *l, const char *kind, bool create)
{
	for (size_t i = 0; i < l->n_k; i++)
		if (strcmp(l->k[i].kind, kind) == 0)
			return &l->k[i];
	if (!create)
		return NULL;
	char *k = strdup(kind);
	if (!k || BM_VEC_RESERVE(l->k, l->cap_k, l->n_k + 1)) {
		free(k);
		return NULL;
	}
	l->k[l->n_k] = (struct kind_stats){.kind = k};
	return &l->k[l->n_k++];
}

const struct kind_stats *learn_kind(const struct learn *l, const char *kind)
{
	return kind_get((struct learn *)l, kind, false);
}

int learn_outcome(struct learn *l, const char *kind, bool rolled_back, bool irreversible)
{
	struct kind_stats *k = kind_get(l, kind, true);
	if (!k)
		return BM_ENOMEM;
	k->executions++;
	k->rollbacks += rolled_back;
	k->irreversible += irreversible;
	return 0;
}

void learn_posterior(const struct learn *l, const char *kind, const struct impact *declared,
		     double min_sd, struct posterior *out)
{
	char metric[256];
	metric_name_of(declared->metric, metric, sizeof(metric));
	const struct effect *e = learn_effect(l, kind, metric);
	double s0 = fmax(declared->sd, min_sd);
	*out = (struct posterior){.prior = declared->rel, .prior_sd = s0, .objective = -1};
	out->mean = declared->rel;
	out->sd = s0;
	if (!e || !e->n)
		return;
	double n = (double)e->n;
	double var = e->n >= 2 ? fmax(e->m2 / (n - 1), min_sd * min_sd) : s0 * s0;
	double precision = 1 / (s0 * s0) + n / var;
	out->n_obs = e->n;
	out->obs_mean = e->mean;
	out->obs_sd = sqrt(var);
	out->mean = (declared->rel / (s0 * s0) + n * e->mean / var) / precision;
	out->sd = 1 / sqrt(precision);
}

void learn_free(struct learn *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].key);
	for (size_t i = 0; i < l->n_k; i++)
		free(l->k[i].kind);
	free(l->e);
	free(l->k);
	*l = (struct learn){0};
}
