/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growable arrays without a container type: BM_VEC_RESERVE(arr, cap, need)
 * makes room for need elements in a plain `T *arr` with capacity `cap`,
 * doubling from 16. Header-only, for the core and plugins alike.
 */
#ifndef BEARMON_BM_VEC_H
#define BEARMON_BM_VEC_H

#include <stdint.h>
#include <stdlib.h>

#include "bm_err.h"

/* Returns 0 or BM_ENOMEM; on failure *v and *cap are unchanged. */
static inline int bm__vec_grow(void **v, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < need) {
		if (c > SIZE_MAX / 2 / size)
			return BM_ENOMEM;
		c *= 2;
	}
	void *p = realloc(*v, c * size);
	if (!p)
		return BM_ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

/* arr: a T * lvalue, cap: its size_t capacity; evaluates to 0 or BM_ENOMEM. */
#define BM_VEC_RESERVE(arr, cap, need)                                                 \
	__extension__({                                                                \
		void *bm__p = (arr);                                                   \
		int bm__rc = bm__vec_grow(&bm__p, &(cap), (need), sizeof(*(arr)));    \
		(arr) = bm__p;                                                         \
		bm__rc;                                                                \
	})

#endif /* BEARMON_BM_VEC_H */
