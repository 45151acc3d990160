/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The unit tests' native-protocol server (see testserver.h): independent
 * of the library's own code, so that the tests check the wire format
 * against PROTOCOL.md rather than against the library's encoder.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "testserver.h"

void ts_listen(struct ts_server *s)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};

	unlink(s->path);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", s->path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
}

void ts_start(struct ts_server *s)
{
	*s = (struct ts_server){.lfd = -1, .cfd = -1};
	snprintf(s->dir, sizeof(s->dir), "/tmp/bmc-test-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/agent.sock", s->dir);
	snprintf(s->address, sizeof(s->address), "unix:%s", s->path);
	ts_listen(s);
}

void ts_drop_client(struct ts_server *s)
{
	if (s->cfd >= 0)
		close(s->cfd);
	s->cfd = -1;
	s->len = 0;
}

void ts_stop(struct ts_server *s)
{
	ts_drop_client(s);
	if (s->lfd >= 0)
		close(s->lfd);
	s->lfd = -1;
	unlink(s->path);
}

void ts_free(struct ts_server *s)
{
	ts_stop(s);
	rmdir(s->dir);
	free(s->in);
	free(s->frame);
	s->in = s->frame = NULL;
}

void ts_pump(struct ts_server *s)
{
	if (s->cfd < 0 && s->lfd >= 0) {
		s->cfd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s->cfd < 0)
			return;
		s->accepted++;
		s->len = 0;
	}
	for (;;) {
		ssize_t k;
		if (s->cap - s->len < 65536) {
			s->cap = s->cap ? s->cap * 2 : 1 << 20;
			s->in = realloc(s->in, s->cap);
			assert_non_null(s->in);
		}
		k = recv(s->cfd, s->in + s->len, s->cap - s->len, MSG_DONTWAIT);
		if (k > 0) {
			s->len += (size_t)k;
			continue;
		}
		if (k == 0) { /* the client closed: keep what it sent, accept the next */
			close(s->cfd);
			s->cfd = -1;
		}
		return;
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t ts_next_frame(struct ts_server *s, msgpack_unpacked *u)
{
	size_t n, off = 0;

	if (s->len < 4)
		return 0;
	n = be32(s->in);
	assert_true(n >= 1 && n <= 1024 * 1024);
	if (s->len < 4 + n)
		return 0;
	if (s->frame_cap < n) {
		s->frame = realloc(s->frame, n);
		assert_non_null(s->frame);
		s->frame_cap = n;
	}
	memcpy(s->frame, s->in + 4, n);
	memmove(s->in, s->in + 4 + n, s->len - 4 - n);
	s->len -= 4 + n;
	assert_int_equal(msgpack_unpack_next(u, (const char *)s->frame, n, &off),
			 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, n); /* exactly one object */
	assert_int_equal(u->data.type, MSGPACK_OBJECT_ARRAY);
	assert_true(u->data.via.array.size >= 1 && u->data.via.array.size <= 2);
	assert_int_equal(u->data.via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	return 4 + n;
}

void ts_send(struct ts_server *s, int type, ts_body_fn body, const void *arg)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t hdr[4];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, body ? 2 : 1);
	msgpack_pack_int(&pk, type);
	if (body)
		body(&pk, arg);
	hdr[0] = (uint8_t)(sb.size >> 24);
	hdr[1] = (uint8_t)(sb.size >> 16);
	hdr[2] = (uint8_t)(sb.size >> 8);
	hdr[3] = (uint8_t)sb.size;
	assert_true(s->cfd >= 0);
	assert_int_equal(send(s->cfd, hdr, 4, MSG_NOSIGNAL), 4);
	assert_int_equal(send(s->cfd, sb.data, sb.size, MSG_NOSIGNAL), (ssize_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

struct welcome_args {
	int64_t v, max_frame, heartbeat_ms;
};

static void welcome_body(msgpack_packer *pk, const void *arg)
{
	const struct welcome_args *w = arg;

	msgpack_pack_map(pk, 4);
	pack_str(pk, "v");
	msgpack_pack_int64(pk, w->v);
	pack_str(pk, "server");
	pack_str(pk, "testserver 1");
	pack_str(pk, "max_frame");
	msgpack_pack_int64(pk, w->max_frame);
	pack_str(pk, "heartbeat_ms");
	msgpack_pack_int64(pk, w->heartbeat_ms);
}

void ts_send_welcome(struct ts_server *s, int64_t v, int64_t max_frame, int64_t heartbeat_ms)
{
	struct welcome_args w = {v, max_frame, heartbeat_ms};

	ts_send(s, 2, welcome_body, &w);
}

/* ---- shapes ------------------------------------------------------------ */

bool ts_str_eq(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       !memcmp(o->via.str.ptr, s, o->via.str.size);
}

const msgpack_object *ts_get(const msgpack_object *map, const char *key)
{
	assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (ts_str_eq(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

double ts_num(const msgpack_object *o)
{
	assert_non_null(o);
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (double)o->via.i64;
	case MSGPACK_OBJECT_FLOAT64:
	case MSGPACK_OBJECT_FLOAT32:
		return o->via.f64;
	default:
		fail_msg("not a number (type %d)", o->type);
		return 0;
	}
}

static bool all_str(const msgpack_object *o, bool map)
{
	if (map) {
		if (o->type != MSGPACK_OBJECT_MAP)
			return false;
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (o->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR ||
			    o->via.map.ptr[i].val.type != MSGPACK_OBJECT_STR)
				return false;
		return true;
	}
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return false;
	for (uint32_t i = 0; i < o->via.array.size; i++)
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_STR)
			return false;
	return true;
}

static bool kind_ok(const msgpack_object *o, enum ts_kind k)
{
	switch (k) {
	case TS_STR:
		return o->type == MSGPACK_OBJECT_STR;
	case TS_INT:
		return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		       o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
	case TS_NUM:
		return kind_ok(o, TS_INT) || o->type == MSGPACK_OBJECT_FLOAT64;
	case TS_BOOL:
		return o->type == MSGPACK_OBJECT_BOOLEAN;
	case TS_MAP_STR:
		return all_str(o, true);
	case TS_ARR_STR:
		return all_str(o, false);
	}
	return false;
}

void ts_check_map(const msgpack_object *map, const struct ts_key *keys, size_t n)
{
	assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		size_t j = 0;
		assert_int_equal(kv->key.type, MSGPACK_OBJECT_STR);
		while (j < n && !ts_str_eq(&kv->key, keys[j].name))
			j++;
		if (j == n)
			fail_msg("unexpected key \"%.*s\"", (int)kv->key.via.str.size,
				 kv->key.via.str.ptr);
		if (!kind_ok(&kv->val, keys[j].kind))
			fail_msg("key \"%s\" has the wrong type %d", keys[j].name, kv->val.type);
	}
	for (size_t j = 0; j < n; j++)
		if (keys[j].required && !ts_get(map, keys[j].name))
			fail_msg("required key \"%s\" missing", keys[j].name);
}
