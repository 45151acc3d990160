/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the optimizers' tests do on the fake bus of bustest.h: deliver an
 * event through its codec, announce an agent, and read back the candidates
 * an optimizer published. Shared by the engine, resource, model and
 * coordination tests.
 */
#ifndef BEARMON_OPT_DIMTEST_H
#define BEARMON_OPT_DIMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

/* Encode *ev with encode (bm_<kind>_encode, which must succeed) and deliver
 * it on topic. A macro: every event kind has its own encoder type. */
#define DT_DELIVER(topic, encode, ev)                                                              \
	do {                                                                                       \
		struct bm_buf dt_buf_ = {0};                                                       \
		assert_int_equal(encode((ev), &dt_buf_), 0);                                       \
		bt_deliver((topic), dt_buf_.data, dt_buf_.len);                                    \
		bm_buf_free(&dt_buf_);                                                             \
	} while (0)

/* The hello of agent id (of type, NULL for none; process pid), stamped
 * with the host's now, declaring the commands caps[0..n-1]. */
void dt_agent(const char *id, const char *type, int64_t pid, const char *const *caps, size_t n);

/* The newest candidate of that id published since the last clear, decoded
 * into arena: false when there is none. */
bool dt_cand(struct bm_arena *arena, const char *id, struct bm_candidate_event *out);

/* The value of the candidate's action parameter key; NULL when absent. */
const char *dt_param(const struct bm_candidate_event *c, const char *key);

#endif
