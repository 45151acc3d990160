/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header-only helpers shared by the collectors: the end of a collection,
 * publishing the batch it built, with the failures worded alike, and
 * without the metadata of families this instance published before.
 */
#ifndef BEARMON_PLUGINS_PUBLISH_H
#define BEARMON_PLUGINS_PUBLISH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_batch.h>
#include <bearmon/bm_err.h>
#include <bearmon/bm_hash.h>
#include <bearmon/bm_host.h>

/*
 * Publish b, or report rc, the first error building it: the collector then
 * returns what this returns, with err filled on failure.
 */
static inline int publish_batch(struct bm_ctx *ctx, const struct bm_batch *b, int rc,
				struct bm_err *err)
{
	if (rc)
		return bm_err_set(err, rc, "building the batch: %s", bm_strerror(rc));
	struct bm_metric_batch mb;
	bm_batch_view(b, &mb);
	rc = bm_metrics_publish(ctx, &mb);
	if (rc)
		return bm_err_set(err, rc, "publish: %s", bm_strerror(rc));
	return 0;
}

/*
 * The families whose metadata (type, unit, help) an instance has published:
 * bm_event.h sends a family's metadata "when the producer first publishes
 * the family and whenever it changes", so a batch that declares the same
 * families every collection would make the encoder and the store handle
 * the same help texts every second (the store compares each against every
 * family it knows). An open-addressing set of hashes of name, type, unit
 * and help: a changed declaration hashes differently and goes out again.
 * Zero-initialise; pub_families_free at fini.
 */
struct pub_families {
	uint64_t *h; /* 0 = empty slot */
	size_t cap;  /* a power of two, at most 3/4 full */
	size_t n;
};

static inline uint64_t pub_meta_hash(const struct bm_metric_meta *m)
{
	uint64_t h = bm_hash_u64(bm_hash_field(BM_HASH_INIT, m->name), (uint64_t)m->type);
	h = bm_hash_field(bm_hash_field(h, m->unit), m->help);
	return h ? h : 1;
}

/* The slot of h: where it is, or the empty one where it would go. */
static inline uint64_t *pub_slot(const struct pub_families *f, uint64_t h)
{
	size_t mask = f->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask)
		if (f->h[i] == h || f->h[i] == 0)
			return &f->h[i];
}

static inline bool pub_families_has(const struct pub_families *f, uint64_t h)
{
	return f->cap && *pub_slot(f, h) == h;
}

/* Remember h; false when memory runs out (the family is then sent again). */
static inline bool pub_families_add(struct pub_families *f, uint64_t h)
{
	if (4 * (f->n + 1) > 3 * f->cap) {
		struct pub_families g = {calloc(f->cap ? 2 * f->cap : 64, sizeof(uint64_t)),
					 f->cap ? 2 * f->cap : 64, 0};
		if (!g.h)
			return false;
		for (size_t i = 0; i < f->cap; i++)
			if (f->h[i]) {
				*pub_slot(&g, f->h[i]) = f->h[i];
				g.n++;
			}
		free(f->h);
		*f = g;
	}
	uint64_t *s = pub_slot(f, h);
	if (*s != h) {
		*s = h;
		f->n++;
	}
	return true;
}

/*
 * bm_batch_family unless f saw this very declaration published: collectors
 * that declare hundreds of families every collection (a counter per
 * netstat or vmstat field) call this, so a known family costs a hash
 * instead of three copies into the batch and a hash at publish time.
 */
static inline int pub_declare(struct bm_batch *b, const struct pub_families *f, const char *name,
			      enum bm_metric_type type, const char *unit, const char *help)
{
	const struct bm_metric_meta m = {.name = name, .type = type, .unit = unit, .help = help};
	if (pub_families_has(f, pub_meta_hash(&m)))
		return 0;
	return bm_batch_family(b, name, type, unit, help);
}

static inline void pub_families_free(struct pub_families *f)
{
	free(f->h);
	memset(f, 0, sizeof(*f));
}

/*
 * publish_batch for a collector that declares its families every
 * collection: the declarations f has seen published are dropped from b
 * first, and the ones that went out are remembered once the publish
 * succeeded (a refused batch sends them again next time).
 */
static inline int publish_batch_once(struct bm_ctx *ctx, struct bm_batch *b, int rc,
				     struct bm_err *err, struct pub_families *f)
{
	if (rc)
		return publish_batch(ctx, b, rc, err);
	size_t k = 0;
	for (size_t i = 0; i < b->n_meta; i++)
		if (!pub_families_has(f, pub_meta_hash(&b->meta[i])))
			b->meta[k++] = b->meta[i];
	b->n_meta = k;
	rc = publish_batch(ctx, b, 0, err);
	for (size_t i = 0; !rc && i < b->n_meta; i++)
		pub_families_add(f, pub_meta_hash(&b->meta[i]));
	return rc;
}

#endif /* BEARMON_PLUGINS_PUBLISH_H */
