/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The optimizers' view of the agent registry, kept from `agent` events:
 * which agents are connected, their type, pid and the commands they
 * declared (capabilities). An agent command is only ever proposed to an
 * agent that declared it; a process action on "agent:ID" finds its pid here.
 */
#ifndef BEARMON_OPT_AGENTS_H
#define BEARMON_OPT_AGENTS_H

#include <bearmon/bm_event.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct oagent {
	char *id;
	char *type; /* NULL when the hello gave none */
	int64_t pid;
	char **caps;
	size_t n_caps;
	int64_t seen_ms;
};

struct oagents {
	struct oagent *v;
	size_t n, cap;
	size_t max; /* records kept at most (0: 10000) */
};

/* Take an `agent` event into account: hello and registry updates add or
 * refresh the record, a disconnect removes it. 0 or BM_ENOMEM. */
int oagents_update(struct oagents *r, const struct bm_agent_event *e);
const struct oagent *oagents_find(const struct oagents *r, const char *id);
bool oagent_can(const struct oagent *a, const char *command);
void oagents_free(struct oagents *r);

#endif
