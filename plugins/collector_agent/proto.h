/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The native agent protocol's wire format (sdk/PROTOCOL.md): frame headers,
 * the decoder of agent -> server messages into slices of the frame, and the
 * encoders of server -> agent frames. No state and no I/O, so the fuzz
 * target links this file alone.
 */
#ifndef BEARMON_AGENT_PROTO_H
#define BEARMON_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

#define AP_VERSION 1 /* the protocol version this server speaks */
#define AP_HDR 4     /* bytes of the big-endian frame length */

enum ap_type {
	AP_HELLO = 1,
	AP_WELCOME = 2,
	AP_TASK = 3,
	AP_METRIC = 4,
	AP_COORD = 5,
	AP_HEARTBEAT = 6,
	AP_COMMAND = 7,
	AP_ACK = 8,
	AP_ERROR = 9,
	AP_BYE = 10,
};

/* Why a frame was refused (ap_decode) or a connection closed: each has a
 * self-metric. AP_OK is 0. */
enum ap_reason {
	AP_OK = 0,
	AP_R_MSGPACK,   /* not exactly one well-formed msgpack object */
	AP_R_SHAPE,     /* valid msgpack, wrong structure or types */
	AP_R_UTF8,      /* a string that is not UTF-8 (or holds NUL) */
	AP_R_TOO_LARGE, /* frame length 0 or over max_frame */
	AP_R_ORDER,     /* anything but hello first, or a second hello */
	AP_R_HELLO,     /* hello without a valid agent_id, bad labels */
	AP_R_VERSION,   /* unsupported protocol version */
	AP_R_N,
};

/* A string inside the frame: not NUL-terminated, valid UTF-8 without NUL. */
struct ap_str {
	const char *p;
	uint32_t n;
};

struct ap_kv {
	struct ap_str k, v;
};

struct ap_hello {
	int64_t v; /* -1 when absent */
	struct ap_str agent_id, type, version;
	int64_t pid;
	const struct ap_kv *labels;
	uint32_t n_labels;
	const struct ap_str *caps;
	uint32_t n_caps;
};

struct ap_task {
	struct ap_str task_id, type, outcome, error_class;
	bool has_start, has_end, has_duration;
	int64_t start_ms, end_ms;
	double duration_ms;
	int64_t tokens_in, tokens_out;
};

enum ap_kind { AP_COUNTER = 1, AP_GAUGE = 2 };

struct ap_sample {
	struct ap_str name;
	int64_t kind; /* enum ap_kind; others are the caller's to refuse */
	double value;
	const struct ap_kv *labels; /* sorted by name (byte order) */
	uint32_t n_labels;
	bool dup_label; /* the map named one label twice */
	int64_t ts_ms;  /* 0 when absent */
};

struct ap_coord {
	struct ap_str peer;
	bool has_latency, has_sync;
	double latency_ms, sync_wait_ms;
	int64_t messages, bytes;
};

struct ap_ack {
	struct ap_str id, detail;
	bool ok;
	const struct ap_kv *result;
	uint32_t n_result;
};

struct ap_msg {
	int64_t type; /* enum ap_type, or a type this version does not know */
	union {
		struct ap_hello hello;
		struct ap_task task;
		struct ap_coord coord;
		struct ap_ack ack;
		struct {
			const struct ap_sample *v;
			uint32_t n;
		} metric;
		struct {
			int64_t ts_ms;
		} heartbeat;
		struct {
			struct ap_str reason;
		} bye;
	} u;
};

/* Arrays the decoder reuses from frame to frame; zero it once, free it
 * with ap_scratch_free. What a decoded message points to lives in the
 * frame and here, until the next ap_decode with the same scratch. */
struct ap_scratch {
	struct ap_sample *samples;
	size_t cap_samples;
	struct ap_kv *kvs;
	size_t n_kvs, cap_kvs;
	struct ap_str *strs;
	size_t cap_strs;
};

void ap_scratch_free(struct ap_scratch *s);

/* The body length a frame header announces. */
static inline uint32_t ap_frame_len(const uint8_t *hdr)
{
	return (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
}

/*
 * Decode one frame body (n bytes). AP_OK with *m filled, or the reason it
 * is refused. Message types this version does not know, and the
 * server-to-agent types, decode to their number with nothing else read.
 * A sample's semantic checks (name syntax, kind, counter sign) are the
 * caller's: only the wire shape is checked here. BM_ENOMEM (negative)
 * when the scratch arrays cannot grow.
 */
int ap_decode(const uint8_t *p, size_t n, struct ap_msg *m, struct ap_scratch *s);

/* Short name of a reason ("msgpack", "utf8", ...), for logs and metrics. */
const char *ap_reason_name(int reason);

/* True when the n bytes at p are UTF-8 without NUL bytes and overlong or
 * surrogate forms. */
bool ap_utf8_valid(const char *p, size_t n);

/* Server -> agent frames (header included), appended to out. 0 or
 * BM_ENOMEM. */
int ap_encode_welcome(struct bm_buf *out, int64_t v, const char *server, int64_t max_frame,
		      int64_t heartbeat_ms);
int ap_encode_error(struct bm_buf *out, const char *code, const char *message);
int ap_encode_command(struct bm_buf *out, const char *id, const char *name,
		      const struct bm_kv *args, size_t n_args, int64_t deadline_ms);
int ap_encode_bye(struct bm_buf *out, const char *reason);

#endif
