/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owned key/value lists (kvl.h): small (a handful of pairs per action),
 * so lookups are linear.
 */
#define _GNU_SOURCE
#include "kvl.h"

#include <bearmon/bm_vec.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kv_get(const struct bm_kv *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].key, key) == 0)
			return v[i].value;
	return NULL;
}

const char *kvl_get(const struct kvl *l, const char *key)
{
	return kv_get(l->v, l->n, key);
}

int kvl_set(struct kvl *l, const char *key, const char *value)
{
	char *val = strdup(value);
	if (!val)
		return BM_ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].key, key) == 0) {
			free((char *)l->v[i].value);
			l->v[i].value = val;
			return 0;
		}
	}
	char *k = strdup(key);
	if (!k || BM_VEC_RESERVE(l->v, l->cap, l->n + 1)) {
		free(k);
		free(val);
		return BM_ENOMEM;
	}
	l->v[l->n++] = (struct bm_kv){k, val};
	return 0;
}

int kvl_setf(struct kvl *l, const char *key, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return kvl_set(l, key, buf);
}

void kvl_free(struct kvl *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->v[i].key);
		free((char *)l->v[i].value);
	}
	free(l->v);
	*l = (struct kvl){0};
}

int kvl_copy_from(struct kvl *dst, const struct bm_kv *src, size_t n)
{
	kvl_free(dst);
	for (size_t i = 0; i < n; i++)
		if (kvl_set(dst, src[i].key, src[i].value))
			return BM_ENOMEM;
	return 0;
}

void kv_format(const struct bm_kv *v, size_t n_v, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	if (!n_v)
		snprintf(buf, n, "-");
	for (size_t i = 0; i < n_v && used < n; i++) {
		int w = snprintf(buf + used, n - used, "%s%s=%s", i ? ", " : "", v[i].key,
				 v[i].value);
		used += w > 0 ? (size_t)w : 0;
	}
}

void kvl_format(const struct kvl *l, char *buf, size_t n)
{
	kv_format(l->v, l->n, buf, n);
}

void textf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}
