/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the SDK library: the field tables that describe every topic
 * but `metric` (defined in event_codec.c), shared by the msgpack codec and
 * the JSON renderer (event_json.c).
 */
#ifndef BEARMON_SDK_EVENT_DESC_H
#define BEARMON_SDK_EVENT_DESC_H

#include <stddef.h>
#include <stdint.h>

/*
 * Field types and the C type of the member at `off` (and at `cnt_off`):
 *
 *   FT_STR     const char *                      str, left out when NULL
 *   FT_I64     int64_t                           int
 *   FT_U32     uint32_t                          int
 *   FT_F64     double                            float64 (bit-exact)
 *   FT_BOOL    bool                              true/false
 *   FT_ENUM    an enum (int-sized)               int; unknown values read as 0
 *   FT_LABELS  const struct bm_label *, uint32_t map name -> value
 *   FT_KVS     const struct bm_kv *, size_t      map key -> value
 *   FT_STRS    const char *const *, size_t       array of str
 *   FT_OBJ     embedded struct (sub)             map
 *   FT_OBJS    const struct X *, size_t          array of maps (sub)
 *
 * Arrays are left out when their count is 0.
 */
enum ftype {
	FT_STR,
	FT_I64,
	FT_U32,
	FT_F64,
	FT_BOOL,
	FT_ENUM,
	FT_LABELS,
	FT_KVS,
	FT_STRS,
	FT_OBJ,
	FT_OBJS,
};

enum {
	FF_REQ = 1, /* FT_STR: encode refuses NULL, decode refuses absence */
};

struct desc;

struct field {
	const char *key;       /* wire key, unique in its table */
	uint8_t type;          /* enum ftype */
	uint8_t flags;         /* FF_* */
	uint8_t max;           /* FT_ENUM: largest value this version knows */
	const char *name;      /* the C member's name: the key in JSON */
	const char *const *names; /* FT_ENUM: value names, max + 1 of them */
	uint16_t off;          /* offsetof the member */
	uint16_t cnt_off;      /* arrays: offsetof the count */
	const struct desc *sub; /* FT_OBJ, FT_OBJS */
};

struct desc {
	const struct field *f;
	unsigned n;
	size_t size; /* sizeof the struct (FT_OBJS items, zeroing) */
};

/* The table of a standard topic, NULL for `metric` and unknown topics. */
const struct desc *bm__event_desc(const char *topic);

#endif
