/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent registry of the optimizers (agents.h): a small array, looked
 * up linearly (hosts run tens of agents, the limit is max).
 */
#define _GNU_SOURCE
#include "agents.h"

#include <bearmon/bm_vec.h>

#include <stdlib.h>
#include <string.h>

static void agent_clear(struct oagent *a)
{
	free(a->id);
	free(a->type);
	for (size_t i = 0; i < a->n_caps; i++)
		free(a->caps[i]);
	free(a->caps);
	*a = (struct oagent){0};
}

static ptrdiff_t index_of(const struct oagents *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].id, id) == 0)
			return (ptrdiff_t)i;
	return -1;
}

const struct oagent *oagents_find(const struct oagents *r, const char *id)
{
	ptrdiff_t i = index_of(r, id);
	return i < 0 ? NULL : &r->v[i];
}

bool oagent_can(const struct oagent *a, const char *command)
{
	for (size_t i = 0; a && i < a->n_caps; i++)
		if (strcmp(a->caps[i], command) == 0)
			return true;
	return false;
}

static int agent_fill(struct oagent *a, const struct bm_agent_event *e)
{
	struct oagent n = {.pid = e->pid, .seen_ms = e->ts_ms};
	n.id = strdup(e->agent_id);
	n.type = e->type ? strdup(e->type) : NULL;
	n.caps = e->n_capabilities ? calloc(e->n_capabilities, sizeof(*n.caps)) : NULL;
	bool ok = n.id && (!e->type || n.type) && (!e->n_capabilities || n.caps);
	for (size_t i = 0; ok && i < e->n_capabilities; i++, n.n_caps++)
		ok = (n.caps[i] = strdup(e->capabilities[i])) != NULL;
	if (!ok) {
		agent_clear(&n);
		return BM_ENOMEM;
	}
	agent_clear(a);
	*a = n;
	return 0;
}

static void remove_at(struct oagents *r, size_t i)
{
	agent_clear(&r->v[i]);
	r->v[i] = r->v[--r->n];
}

int oagents_update(struct oagents *r, const struct bm_agent_event *e)
{
	ptrdiff_t i = index_of(r, e->agent_id);
	if (e->state == BM_AGENT_DISCONNECTED) {
		if (i >= 0)
			remove_at(r, (size_t)i);
		return 0;
	}
	if (i >= 0 && e->kind == BM_AGENT_STATE) {
		r->v[i].seen_ms = e->ts_ms; /* a state change may not repeat the hello */
		return 0;
	}
	if (i >= 0)
		return agent_fill(&r->v[i], e);
	size_t max = r->max ? r->max : 10000;
	if (r->n >= max)
		return 0; /* full: the registry of connected agents is bounded */
	if (BM_VEC_RESERVE(r->v, r->cap, r->n + 1))
		return BM_ENOMEM;
	r->v[r->n] = (struct oagent){0};
	int rc = agent_fill(&r->v[r->n], e);
	if (!rc)
		r->n++;
	return rc;
}

void oagents_free(struct oagents *r)
{
	for (size_t i = 0; i < r->n; i++)
		agent_clear(&r->v[i]);
	free(r->v);
	*r = (struct oagents){0};
}
