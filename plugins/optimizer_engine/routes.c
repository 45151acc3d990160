/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's HTTP routes (routes.h), JSON with jansson.
 */
#define _GNU_SOURCE
#include "routes.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "executor.h"
#include "plan.h"
#include "plugin_route.h"

#define RECENT_ACTIONS 50

static const char *const state_names[] = {"planned", "executed", "rolled_back", "failed"};
static const char *const mode_names[] = {"recommend", "dry-run", "execute"};
static const char *const strategy_names[] = {"reactive", "proactive", "predictive", "adaptive",
					     "holistic"};

static json_t *kv_json(const struct bm_kv *v, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++)
		json_object_set_new(o, v[i].key, json_string(v[i].value));
	return o;
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *action_json(const struct action *a)
{
	json_t *sim = json_array(), *measured = json_array();
	for (size_t i = 0; i < a->n_impacts; i++) {
		json_array_append_new(sim, json_pack("{s:s, s:o, s:o}", "metric", a->impacts[i].metric,
						     "rel_change", num(a->impacts[i].rel),
						     "uncertainty", num(a->impacts[i].sd)));
		if (a->have_measured[i])
			json_array_append_new(measured,
					      json_pack("{s:s, s:o}", "metric", a->impacts[i].metric,
							"rel_change", num(a->measured[i])));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:b, s:b, s:o, s:o, "
			 "s:o, s:o, s:s, s:s, s:s, s:I, s:I, s:I}",
			 "id", a->id, "plan_id", a->plan_id, "candidate_id", a->candidate_id,
			 "optimizer", a->optimizer, "dimension", a->dimension, "actuator",
			 a->actuator, "target", a->target, "params", kv_json(a->params.v, a->params.n),
			 "state", state_names[a->state], "dry_run", a->dry_run, "watching",
			 a->watching, "reversible", a->reversible, "before",
			 kv_json(a->before.v, a->before.n), "after", kv_json(a->after.v, a->after.n),
			 "simulated", sim, "measured", measured, "approved_by", a->approved_by,
			 "reason", a->reason, "error", a->error, "executed_ms",
			 (json_int_t)a->executed_ms, "watch_until_ms",
			 (json_int_t)(a->watching ? a->watch_until_ms : 0), "finished_ms",
			 (json_int_t)a->finished_ms);
}

static json_t *plan_json(const struct plan *p)
{
	json_t *steps = json_array(), *impacts = json_array();
	for (size_t i = 0; i < p->n_steps; i++)
		json_array_append_new(steps, action_json(p->steps[i]));
	for (size_t i = 0; i < p->n_impacts; i++)
		json_array_append_new(impacts, json_pack("{s:s, s:o, s:o}", "metric",
							 p->impacts[i].metric, "rel_change",
							 num(p->impacts[i].rel), "uncertainty",
							 num(p->impacts[i].sd)));
	return json_pack("{s:s, s:I, s:b, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "id", p->id,
			 "ts_ms", (json_int_t)p->ts_ms, "approved", p->approved, "gate", p->gate,
			 "score", num(p->score), "benefit", num(p->benefit), "risk", num(p->risk),
			 "uncertainty", num(p->uncertainty), "why", p->why ? p->why : "", "steps",
			 steps, "impacts", impacts);
}

static json_t *cand_json(const struct cand *c)
{
	const struct eval *ev = &c->ev;
	json_t *impacts = json_array(), *trig = json_array();
	static const char *const kinds[] = {"present", "predicted", "trending"};
	for (int i = 0; i < 3; i++)
		if (ev->trigger & (1u << i))
			json_array_append_new(trig, json_string(kinds[i]));
	for (size_t i = 0; i < c->n_impacts; i++) {
		const struct posterior *p = &ev->post[i];
		json_array_append_new(
			impacts, json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:o}", "metric",
					   c->impacts[i].metric, "declared", num(c->impacts[i].rel),
					   "declared_uncertainty", num(c->impacts[i].sd), "simulated",
					   num(ev->eligible ? p->mean : NAN), "uncertainty",
					   num(ev->eligible ? p->sd : NAN), "observations",
					   (json_int_t)p->n_obs, "measured_mean",
					   num(p->n_obs ? p->obs_mean : NAN)));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:s, s:o, s:o, s:o, s:o, s:o, s:o, "
			 "s:o, s:I, s:s?}",
			 "optimizer", c->optimizer, "id", c->id, "dimension", c->dimension,
			 "actuator", c->actuator, "target", c->target, "params",
			 kv_json(c->params.v, c->params.n), "eligible", ev->eligible, "why_not",
			 ev->why_not, "benefit", num(ev->benefit), "risk", num(ev->risk), "score",
			 num(ev->score), "uncertainty", num(ev->uncertainty), "urgency",
			 num(ev->urgency), "trigger", trig, "impacts", impacts, "expires_ms",
			 (json_int_t)c->expires_ms, "reason", c->reason);
}

static json_t *vpa_json(const struct vpa_rec *r)
{
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:o}", "subject", r->subject,
			 "resource", r->resource, "lower", num(r->lower), "target", num(r->target),
			 "upper", num(r->upper), "current_limit",
			 isinf(r->current_limit) ? json_string("unlimited") : num(r->current_limit),
			 "samples", (json_int_t)r->samples, "days", num(r->days));
}

static json_t *overview(const struct engine *e, int64_t now_ms)
{
	json_t *cands = json_array(), *acts = json_array(), *res = json_array(),
	       *holds = json_array();
	const struct plan *p = plan_current(e);
	for (size_t i = 0; i < e->pool.n; i++)
		json_array_append_new(cands, cand_json(e->pool.v[i]));
	size_t from = e->n_actions > RECENT_ACTIONS ? e->n_actions - RECENT_ACTIONS : 0;
	for (size_t i = e->n_actions; i-- > from;)
		if (e->actions[i]->state != BM_ACTION_PLANNED || e->actions[i]->dry_run)
			json_array_append_new(acts, action_json(e->actions[i]));
	for (size_t i = 0; i < e->n_vpa; i++)
		json_array_append_new(res, vpa_json(&e->vpa[i]));
	for (size_t i = 0; i < e->n_holds; i++)
		if (e->holds[i].until_ms > now_ms)
			json_array_append_new(holds, json_pack("{s:s, s:I}", "subject",
							       e->holds[i].subject, "until_ms",
							       (json_int_t)e->holds[i].until_ms));
	return json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:b}", "status", "ok",
			 "mode", mode_names[e->conf->mode], "strategy",
			 strategy_names[e->conf->strategy], "ts_ms", (json_int_t)now_ms, "plan",
			 p ? plan_json(p) : json_null(), "candidates", cands, "actions", acts,
			 "resources", res, "holds", holds, "running", e->running != NULL);
}

static void on_plan(void *user, struct bm_http_req *req)
{
	struct engine *e = user;
	if (!plugin_require_method(req, "GET"))
		return;
	plugin_reply_json(req, 200, overview(e, bm_now_ms(e->ctx)));
}

/* Who approved: ?by= (bearmonctl sends the login name) or the
 * X-Bearmon-User header, and whether an admin token came with the request. */
static void approver(struct bm_http_req *req, char *buf, size_t n)
{
	const char *user = bm_http_query(req, "by");
	user = user ? user : bm_http_header(req, "X-Bearmon-User");
	const char *auth = bm_http_header(req, "Authorization");
	char clean[64] = "";
	for (size_t i = 0; user && user[i] && i < sizeof(clean) - 1; i++)
		clean[i] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@",
				  user[i]) && user[i] ? user[i] : '_';
	textf(buf, n, "user:%s%s", clean[0] ? clean : "unknown",
		 auth ? " (admin token)" : " (local, no token)");
}

/* The steps ID names: a plan's (all of them) or one action. */
static size_t resolve(struct engine *e, const char *id, struct action **out)
{
	struct plan *p = plan_find(e, id);
	if (p) {
		memcpy(out, p->steps, p->n_steps * sizeof(*out));
		return p->n_steps;
	}
	return (out[0] = action_find(e, id)) != NULL;
}

/* Only the executed steps of a plan are rolled back. */
static size_t executed_only(struct action **acts, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (acts[i]->state == BM_ACTION_EXECUTED)
			acts[k++] = acts[i];
	return k;
}

static int status_of(int rc)
{
	switch (rc) {
	case BM_EPERM: return 403;
	case BM_EAGAIN:
	case BM_ESTATE: return 409;
	default: return 500;
	}
}

static void on_action(void *user, struct bm_http_req *req)
{
	struct engine *e = user;
	const char *path = bm_http_path(req) + strlen(ROUTE_ACTIONS);
	const char *slash = strrchr(path, '/');
	char id[128], why[512], who[128];
	struct action *acts[ENG_MAX_STEPS];
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(id) ||
	    (strcmp(slash, "/apply") != 0 && strcmp(slash, "/rollback") != 0)) {
		plugin_reply_error(req, 404, "want POST " ROUTE_ACTIONS "ID/apply or ID/rollback");
		return;
	}
	if (!plugin_require_method(req, "POST"))
		return;
	textf(id, sizeof(id), "%.*s", (int)(slash - path), path);
	bool apply = strcmp(slash, "/apply") == 0;
	size_t n = resolve(e, id, acts);
	if (!n) {
		textf(why, sizeof(why), "no plan or action %s here (see GET " ROUTE_PLAN ")", id);
		plugin_reply_error(req, 404, why);
		return;
	}
	approver(req, who, sizeof(who));
	int rc;
	if (apply) {
		rc = exec_start(e, acts, n, who, why, sizeof(why));
	} else {
		char reason[192];
		textf(reason, sizeof(reason), "rolled back by %s", who);
		n = executed_only(acts, n);
		rc = n ? exec_rollback(e, acts, n, reason, why, sizeof(why)) : BM_ESTATE;
		if (!n)
			textf(why, sizeof(why), "%s has no executed step to roll back", id);
	}
	if (rc) {
		plugin_reply_error(req, status_of(rc), why);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, action_json(acts[i]));
	plugin_reply_json(req, e->running ? 202 : 200,
			  json_pack("{s:s, s:b, s:o}", "status", "ok", "pending",
				    e->running != NULL, "actions", arr));
}

int routes_register(struct engine *e, struct bm_err *err)
{
	int rc = plugin_route(e->ctx, ROUTE_PLAN, 0, on_plan, e, err);
	if (!rc)
		rc = plugin_route(e->ctx, ROUTE_ACTIONS, BM_HTTP_PREFIX | BM_HTTP_ADMIN, on_action, e,
				  err);
	return rc;
}
