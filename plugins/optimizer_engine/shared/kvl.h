/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owned key/value lists: the parameters, before and after values of an
 * action outlive the bus event they came in, so they are copied into a
 * kvl (every string malloc'd) and handed to the SDK as struct bm_kv.
 */
#ifndef BEARMON_OPT_KVL_H
#define BEARMON_OPT_KVL_H

#include <bearmon/bm_event.h>

#include <stdbool.h>
#include <stddef.h>

struct kvl {
	struct bm_kv *v; /* keys and values malloc'd */
	size_t n, cap;
};

/* Set key to value (replacing an existing key). 0 or BM_ENOMEM. */
int kvl_set(struct kvl *l, const char *key, const char *value);
/* Same with a printf-formatted value. */
__attribute__((format(printf, 3, 4))) int kvl_setf(struct kvl *l, const char *key,
						     const char *fmt, ...);
/* The value of key, or NULL. */
const char *kvl_get(const struct kvl *l, const char *key);
/* Replace dst with a copy of n pairs at src. */
int kvl_copy_from(struct kvl *dst, const struct bm_kv *src, size_t n);
/* Forget every pair, keep nothing. */
void kvl_free(struct kvl *l);
/* "k1=v1, k2=v2" into buf (cut at n); the empty list reads "-". */
void kvl_format(const struct kvl *l, char *buf, size_t n);
/* Same for borrowed pairs. */
void kv_format(const struct bm_kv *v, size_t n_v, char *buf, size_t n);
/* snprintf for texts meant for people, where cutting a long series name
 * short is fine (a function, so the compiler does not warn about it). */
__attribute__((format(printf, 3, 4))) void textf(char *buf, size_t n, const char *fmt, ...);
/* The value of key among borrowed pairs, or NULL. */
const char *kv_get(const struct bm_kv *v, size_t n, const char *key);

#endif
