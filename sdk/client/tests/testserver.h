/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny native-protocol server for libbearmon-client's unit tests: a Unix
 * socket in a temporary directory, one connection at a time, frames
 * decoded with msgpack-c and checked to be exactly one object each.
 */
#ifndef BEARMON_CLIENT_TESTSERVER_H
#define BEARMON_CLIENT_TESTSERVER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ts_server {
	char dir[64];
	char path[100];
	char address[112]; /* "unix:" + path, for bm_client_opts.address */
	int lfd;	   /* listening socket, -1 when stopped */
	int cfd;	   /* the client's connection, -1 when none */
	uint8_t *in;	   /* bytes received, not yet a whole frame */
	size_t len;
	size_t cap;
	uint8_t *frame; /* the last frame's body: its objects point into it */
	size_t frame_cap;
	int accepted; /* connections accepted so far */
};

/* Create the directory and listen. */
void ts_start(struct ts_server *s);
/* Close the connection and the listener, keep the directory and path. */
void ts_stop(struct ts_server *s);
/* Listen again on the same path (a restarted bearmond). */
void ts_listen(struct ts_server *s);
/* Stop and remove the directory. */
void ts_free(struct ts_server *s);
/* Close the current connection only. */
void ts_drop_client(struct ts_server *s);

/* Accept a pending connection and read what is there, without waiting. */
void ts_pump(struct ts_server *s);
/* Pop the next whole frame into u (msgpack_unpacked_init'ed by the
 * caller; its strings stay valid until the next call), asserting that its bytes are exactly one
 * msgpack object and that it is an array whose first element is a message type. Returns the frame
 * length, 0 when no whole frame is buffered. */
size_t ts_next_frame(struct ts_server *s, msgpack_unpacked *u);

/* Write a message to the client: [type] or [type, {k: v, ...}] where the
 * map is built by the callback. */
typedef void (*ts_body_fn)(msgpack_packer *pk, const void *arg);
void ts_send(struct ts_server *s, int type, ts_body_fn body, const void *arg);
/* welcome with v, max_frame and heartbeat_ms */
void ts_send_welcome(struct ts_server *s, int64_t v, int64_t max_frame, int64_t heartbeat_ms);

/* ---- checking shapes ----------------------------------------------- */

enum ts_kind { TS_STR, TS_INT, TS_NUM, TS_BOOL, TS_MAP_STR, TS_ARR_STR };
struct ts_key {
	const char *name;
	enum ts_kind kind;
	bool required;
};
/* Assert that the map has only keys from the table, each of its kind,
 * and every required one. */
void ts_check_map(const msgpack_object *map, const struct ts_key *keys, size_t n);
/* The map's value for key, NULL when absent. */
const msgpack_object *ts_get(const msgpack_object *map, const char *key);
/* Compare a msgpack string with a C string. */
bool ts_str_eq(const msgpack_object *o, const char *s);
double ts_num(const msgpack_object *o);

#endif /* BEARMON_CLIENT_TESTSERVER_H */
