/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server-to-agent messages: msgpack-c's object-tree unpacker (these
 * messages are rare and small, so its allocation per message does not
 * matter), then a shape check of each message against PROTOCOL.md.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

static const msgpack_object *map_get(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);

	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
		    !memcmp(kv->key.via.str.ptr, key, klen))
			return &kv->val;
	}
	return NULL;
}

/* A string we can hand out as a C string: valid UTF-8, no NUL inside. */
static bool str_ok(const msgpack_object *o)
{
	char tmp[256];
	const char *p;
	char *heap = NULL;
	bool ok;

	if (!o || o->type != MSGPACK_OBJECT_STR || memchr(o->via.str.ptr, 0, o->via.str.size))
		return false;
	if (o->via.str.size < sizeof(tmp)) {
		memcpy(tmp, o->via.str.ptr, o->via.str.size);
		tmp[o->via.str.size] = '\0';
		p = tmp;
	} else {
		heap = strndup(o->via.str.ptr, o->via.str.size);
		if (!heap)
			return false;
		p = heap;
	}
	ok = bmc_utf8_ok(p);
	free(heap);
	return ok;
}

static bool int_of(const msgpack_object *o, int64_t *v)
{
	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return true;
	}
	if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return true;
	}
	return false;
}

static void copy_str(char *dst, size_t cap, const msgpack_object *o)
{
	size_t n = 0;

	if (o && o->type == MSGPACK_OBJECT_STR) {
		n = o->via.str.size < cap - 1 ? o->via.str.size : cap - 1;
		memcpy(dst, o->via.str.ptr, n);
	}
	dst[n] = '\0';
}

static int decode_welcome(const msgpack_object *m, struct bmc_welcome *w)
{
	*w = (struct bmc_welcome){0};
	if (!int_of(map_get(m, "v"), &w->v))
		return BM_EPROTO;
	int_of(map_get(m, "max_frame"), &w->max_frame);
	int_of(map_get(m, "heartbeat_ms"), &w->heartbeat_ms);
	return 0;
}

/* Bump allocator over the command's single block. */
struct carve {
	char *p;
};

static const char *carve_str(struct carve *c, const msgpack_object *o)
{
	char *s = c->p;

	memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = '\0';
	c->p += o->via.str.size + 1;
	return s;
}

/* args must be a map of str to str; returns the bytes its strings need,
 * or SIZE_MAX when the shape is wrong. */
static size_t args_size(const msgpack_object *args)
{
	size_t n = 0;

	if (!args || args->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (args->type != MSGPACK_OBJECT_MAP)
		return SIZE_MAX;
	for (uint32_t i = 0; i < args->via.map.size; i++) {
		const msgpack_object_kv *kv = &args->via.map.ptr[i];
		if (!str_ok(&kv->key) || !str_ok(&kv->val))
			return SIZE_MAX;
		n += kv->key.via.str.size + kv->val.via.str.size + 2;
	}
	return n;
}

static int decode_command(const msgpack_object *m, struct bmc_command **out)
{
	const msgpack_object *id = map_get(m, "id"), *name = map_get(m, "name");
	const msgpack_object *args = map_get(m, "args");
	size_t n_args = args && args->type == MSGPACK_OBJECT_MAP ? args->via.map.size : 0;
	size_t strings = args_size(args);
	int64_t deadline = 0;
	struct bmc_command *c;
	struct bm_client_kv *kv;
	struct carve cv;

	if (!str_ok(id) || !str_ok(name) || strings == SIZE_MAX)
		return BM_EPROTO;
	if (map_get(m, "deadline_ms") && !int_of(map_get(m, "deadline_ms"), &deadline))
		return BM_EPROTO;
	strings += id->via.str.size + name->via.str.size + 2;
	c = malloc(sizeof(*c) + n_args * sizeof(*kv) + strings);
	if (!c)
		return BM_ENOMEM;
	kv = (struct bm_client_kv *)(c + 1);
	cv.p = (char *)(kv + n_args);
	c->next = NULL;
	c->cmd = (struct bm_client_command){
	    .id = carve_str(&cv, id),
	    .name = carve_str(&cv, name),
	    .args = n_args ? kv : NULL,
	    .n_args = n_args,
	    .deadline_ms = deadline,
	};
	for (size_t i = 0; i < n_args; i++) {
		kv[i].key = carve_str(&cv, &args->via.map.ptr[i].key);
		kv[i].value = carve_str(&cv, &args->via.map.ptr[i].val);
	}
	*out = c;
	return 0;
}

/* The message's map (second element), or NULL when it has none. */
static const msgpack_object *body_map(const msgpack_object *arr)
{
	if (arr->via.array.size < 2 || arr->via.array.ptr[1].type != MSGPACK_OBJECT_MAP)
		return NULL;
	return &arr->via.array.ptr[1];
}

static int decode_object(const msgpack_object *o, struct bmc_incoming *in)
{
	const msgpack_object *m;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1 ||
	    o->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return BM_EPROTO;
	in->type = (int)(o->via.array.ptr[0].via.u64 <= BMC_BYE ? o->via.array.ptr[0].via.u64 : 0);
	m = body_map(o);
	switch (in->type) {
	case BMC_WELCOME:
		return m ? decode_welcome(m, &in->u.welcome) : BM_EPROTO;
	case BMC_COMMAND:
		return m ? decode_command(m, &in->u.command) : BM_EPROTO;
	case BMC_ERROR:
		if (!m)
			return BM_EPROTO;
		copy_str(in->u.error.code, sizeof(in->u.error.code), map_get(m, "code"));
		copy_str(in->u.error.message, sizeof(in->u.error.message), map_get(m, "message"));
		return 0;
	case BMC_BYE:
		return 0;
	default: /* a type a newer server added, or one meant for servers */
		in->type = 0;
		return 0;
	}
}

int bmc_decode(const uint8_t *body, size_t n, struct bmc_incoming *in)
{
	msgpack_unpacked u;
	size_t off = 0;
	int rc = BM_EPROTO;

	*in = (struct bmc_incoming){0};
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)body, n, &off) == MSGPACK_UNPACK_SUCCESS &&
	    off == n)
		rc = decode_object(&u.data, in);
	msgpack_unpacked_destroy(&u);
	return rc;
}
