/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libbearmon-client: the growable byte buffer the encoders
 * write into, argument validation, and one encoder per message the agent
 * sends (sdk/PROTOCOL.md, "Messages").
 */
#ifndef BEARMON_CLIENT_ENCODE_H
#define BEARMON_CLIENT_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bearmon/bm_client.h"

#define BMC_HIDDEN __attribute__((visibility("hidden")))

/* Message types (PROTOCOL.md, table "Messages"). */
enum bmc_type {
	BMC_HELLO = 1,
	BMC_WELCOME = 2,
	BMC_TASK = 3,
	BMC_METRIC = 4,
	BMC_COORD = 5,
	BMC_HEARTBEAT = 6,
	BMC_COMMAND = 7,
	BMC_ACK = 8,
	BMC_ERROR = 9,
	BMC_BYE = 10,
};

/* Sample kinds inside `metric`. */
enum bmc_kind { BMC_COUNTER = 1, BMC_GAUGE = 2 };

/* Frame header: the body length, 4 bytes big-endian. */
#define BMC_FRAME_HDR 4

/* A growable buffer; the first allocation failure sticks in err so that an
 * encoder checks once at the end. */
struct bmc_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err; /* 0 or BM_ENOMEM */
};

BMC_HIDDEN int bmc_buf_reserve(struct bmc_buf *b, size_t extra);
BMC_HIDDEN void bmc_buf_append(struct bmc_buf *b, const void *p, size_t n);
BMC_HIDDEN void bmc_buf_free(struct bmc_buf *b);
/* Drop everything after len bytes (undo a partly written item). */
static inline void bmc_buf_truncate(struct bmc_buf *b, size_t len)
{
	b->len = len;
	b->err = 0;
}

static inline void bmc_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t bmc_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- validation (so that a bad argument is refused here instead of
 * making the server close the connection with `protocol`) ------------- */
BMC_HIDDEN bool bmc_utf8_ok(const char *s);
BMC_HIDDEN bool bmc_agent_id_ok(const char *s);
BMC_HIDDEN bool bmc_metric_name_ok(const char *s);
BMC_HIDDEN bool bmc_labels_ok(const struct bm_client_kv *kv, size_t n, bool prom_keys);

/* ---- encoders: each appends one whole frame (header included) to out,
 * or for a sample one array element to a metric batch. They return 0 or
 * BM_ENOMEM and leave out as it was on failure. ------------------------ */

/* What the hello says; strings NUL-terminated, owned by the caller. */
struct bmc_hello {
	const char *agent_id;
	const char *type;
	const char *version;
	int64_t pid;
	const struct bm_client_kv *labels;
	size_t n_labels;
	const char *const *capabilities;
	size_t n_capabilities;
};

/* A task with its times resolved. */
struct bmc_task {
	const struct bm_client_task_report *r;
	int64_t start_ms;
	int64_t end_ms;
	double duration_ms;
};

BMC_HIDDEN int bmc_encode_hello(struct bmc_buf *out, const struct bmc_hello *h);
BMC_HIDDEN int bmc_encode_task(struct bmc_buf *out, const struct bmc_task *t);
BMC_HIDDEN int bmc_encode_coord(struct bmc_buf *out, const struct bm_client_coord *x);
BMC_HIDDEN int bmc_encode_ack(struct bmc_buf *out, const char *id, bool ok, const char *detail,
			      const struct bm_client_kv *result, size_t n_result);
BMC_HIDDEN int bmc_encode_heartbeat(struct bmc_buf *out);
BMC_HIDDEN int bmc_encode_bye(struct bmc_buf *out);
/* One sample [name, kind, value, labels|nil, ts_ms] appended to a batch. */
BMC_HIDDEN int bmc_encode_sample(struct bmc_buf *batch, const char *name, enum bmc_kind kind,
				 double value, const struct bm_client_kv *labels, size_t n_labels,
				 int64_t ts_ms);
/* The frame header and `[4, [` prefix for a batch of n samples whose
 * encoded bytes total body_len; writes BMC_METRIC_PREFIX bytes to hdr. */
#define BMC_METRIC_PREFIX (BMC_FRAME_HDR + 2 + 5)
BMC_HIDDEN void bmc_metric_prefix(uint8_t hdr[BMC_METRIC_PREFIX], uint32_t n, size_t body_len);

/* What a queued frame (header included) holds, for drop accounting:
 * the number of samples of a `metric` frame, else 0. */
BMC_HIDDEN uint32_t bmc_frame_samples(const uint8_t *frame);

#endif /* BEARMON_CLIENT_ENCODE_H */
