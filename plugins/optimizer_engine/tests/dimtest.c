/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Agents and candidates on the fake bus for the optimizers' tests (see
 * dimtest.h).
 */
#include "dimtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <cmocka.h>

#include <bearmon/bm_host.h>

#include "bustest.h"

void dt_agent(const char *id, const char *type, int64_t pid, const char *const *caps, size_t n)
{
	struct bm_agent_event e = {.ts_ms = bm_now_ms(NULL),
				   .kind = BM_AGENT_HELLO,
				   .agent_id = id,
				   .type = type,
				   .pid = pid,
				   .capabilities = caps,
				   .n_capabilities = n};
	DT_DELIVER(BM_TOPIC_AGENT, bm_agent_encode, &e);
}

bool dt_cand(struct bm_arena *arena, const char *id, struct bm_candidate_event *out)
{
	bool found = false;
	for (size_t i = 0; i < bt_count(BM_TOPIC_CANDIDATE); i++) {
		size_t len;
		const void *body = bt_event(BM_TOPIC_CANDIDATE, i, &len);
		struct bm_candidate_event c;
		assert_int_equal(bm_candidate_decode(body, len, &c, arena), 0);
		if (strcmp(c.id, id) == 0) {
			*out = c;
			found = true;
		}
	}
	return found;
}

const char *dt_param(const struct bm_candidate_event *c, const char *key)
{
	for (size_t i = 0; i < c->action.n_params; i++)
		if (strcmp(c->action.params[i].key, key) == 0)
			return c->action.params[i].value;
	return NULL;
}
