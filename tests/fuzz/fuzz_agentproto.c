/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the native agent protocol decoder
 * (plugins/collector_agent/proto.c). The input is a byte stream cut into
 * frames as the server cuts it (4-byte big-endian length, then the body);
 * every decoded string must lie inside its frame and be valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static struct ap_scratch scratch; /* reused across inputs, as the server does */

static void check_str(struct ap_str s, const uint8_t *p, size_t n)
{
	if (!s.n)
		return;
	if ((const uint8_t *)s.p < p || (const uint8_t *)s.p + s.n > p + n ||
	    !ap_utf8_valid(s.p, s.n))
		abort();
}

static void check_kvs(const struct ap_kv *v, uint32_t k, const uint8_t *p, size_t n)
{
	for (uint32_t i = 0; i < k; i++) {
		check_str(v[i].k, p, n);
		check_str(v[i].v, p, n);
	}
}

static void check(const struct ap_msg *m, const uint8_t *p, size_t n)
{
	switch (m->type) {
	case AP_HELLO:
		check_str(m->u.hello.agent_id, p, n);
		check_str(m->u.hello.type, p, n);
		check_kvs(m->u.hello.labels, m->u.hello.n_labels, p, n);
		for (uint32_t i = 0; i < m->u.hello.n_caps; i++)
			check_str(m->u.hello.caps[i], p, n);
		break;
	case AP_METRIC:
		for (uint32_t i = 0; i < m->u.metric.n; i++) {
			const struct ap_sample *s = &m->u.metric.v[i];
			check_str(s->name, p, n);
			check_kvs(s->labels, s->n_labels, p, n);
			for (uint32_t k = 1; k < s->n_labels && !s->dup_label; k++)
				if (s->labels[k - 1].k.n == s->labels[k].k.n &&
				    !memcmp(s->labels[k - 1].k.p, s->labels[k].k.p, s->labels[k].k.n))
					abort(); /* a duplicate not flagged */
		}
		break;
	case AP_TASK: check_str(m->u.task.outcome, p, n); break;
	case AP_COORD: check_str(m->u.coord.peer, p, n); break;
	case AP_ACK: check_kvs(m->u.ack.result, m->u.ack.n_result, p, n); break;
	default: break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	while (size > 0) {
		size_t n = size;
		const uint8_t *body = data;
		if (size >= AP_HDR) {
			uint32_t fl = ap_frame_len(data);
			body = data + AP_HDR;
			n = fl <= size - AP_HDR ? fl : size - AP_HDR;
		}
		struct ap_msg m;
		int rc = ap_decode(body, n, &m, &scratch);
		if (rc == AP_OK)
			check(&m, body, n);
		else if (rc < 0 && rc != BM_ENOMEM)
			abort();
		size -= (size_t)(body - data) + n;
		data = body + n;
	}
	return 0;
}
