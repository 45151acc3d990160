/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The core's JSON API (see status.h). Timestamps are ms since the epoch,
 * like everything in bearmon's own API.
 */
#include "status.h"

#include <string.h>

#include "bus.h"
#include "daemon.h"
#include "http.h"
#include "instance.h"
#include "log.h"

#define API "/api/bearmon/v1"

static void add_sub(void *u, const struct bus_sub_stats *st)
{
	json_array_append_new(u, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:i}", "subscriber",
					   st->owner, "topic", st->topic, "policy", st->policy,
					   "delivered", (json_int_t)st->delivered, "dropped",
					   (json_int_t)st->dropped, "block_timeouts",
					   (json_int_t)st->timeouts, "depth", (int)st->depth,
					   "capacity", (int)st->capacity));
}

static void add_topic(void *u, const struct bus_topic_stats *st)
{
	json_object_set_new(u, st->topic, json_integer((json_int_t)st->published));
}

json_t *status_json(struct daemon *d)
{
	size_t running = 0, failed = 0;
	for (size_t i = 0; i < d->n_inst; i++) {
		running += d->inst[i]->st == INST_RUNNING;
		failed += d->inst[i]->st == INST_FAILED;
	}
	json_t *subs = json_array();
	json_t *topics = json_object();
	bus_each_sub(d->bus, add_sub, subs);
	bus_each_topic(d->bus, add_topic, topics);
	int64_t now = wall_ms();
	return json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:s, s:s, s:{s:i, s:i, s:i}, s:{s:o, s:o}, s:{s:I, s:I}}",
			 "status", "ok", "version", BM_VERSION, "abi_major", BM_ABI_MAJOR,
			 "abi_minor", BM_ABI_MINOR, "started_ms", (json_int_t)d->started_ms,
			 "now_ms", (json_int_t)now, "uptime_ms", (json_int_t)(now - d->started_ms),
			 "config", d->config_path, "data_dir", d->cfg->core.data_dir, "instances",
			 "total", (int)d->n_inst, "running", (int)running, "failed", (int)failed,
			 "bus", "published", topics, "subscriptions", subs, "reloads", "ok",
			 (json_int_t)d->reloads_ok, "failed", (json_int_t)d->reloads_failed);
}

static json_t *instance_json(const struct bm_ctx *in)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "instance", in->name, "kind",
			      in->kind, "plugin", in->plugin_name, "state", instance_state_name(in->st),
			      "interval_ms", (json_int_t)in->interval_ms, "config", in->where);
	if (in->plugin) {
		json_object_set_new(j, "file", json_string(in->plugin->path));
		json_object_set_new(j, "version", json_string(in->plugin->desc.version));
		json_object_set_new(j, "description", json_string(in->plugin->desc.description));
		json_object_set_new(j, "abi", json_sprintf("%u.%u", in->plugin->desc.abi_major,
							  in->plugin->desc.abi_minor));
	}
	if (in->error[0])
		json_object_set_new(j, in->st == INST_UNSUPPORTED ? "reason" : "error",
				    json_string(in->error));
	if (in->st == INST_RUNNING && in->plugin->desc.kind == BM_KIND_COLLECTOR) {
		struct bm_ctx *m = (struct bm_ctx *)in;
		pthread_mutex_lock(&m->sched.lock);
		json_object_set_new(j, "collections", json_integer((json_int_t)m->sched.collections));
		json_object_set_new(j, "failures", json_integer((json_int_t)m->sched.failures));
		json_object_set_new(j, "overruns", json_integer((json_int_t)m->sched.overruns));
		json_object_set_new(j, "last_duration_ms", json_real(m->sched.last_duration_s * 1000.0));
		pthread_mutex_unlock(&m->sched.lock);
	}
	return j;
}

json_t *plugins_json(struct daemon *d)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < d->n_inst; i++)
		json_array_append_new(arr, instance_json(d->inst[i]));
	return json_pack("{s:s, s:o}", "status", "ok", "plugins", arr);
}

static bool only(struct bm_http_req *r, const char *method)
{
	if (strcmp(http_req_method(r), method) == 0)
		return true;
	http_req_add_header(r, "Allow", method);
	http_reply_error(r, 405, "method not allowed");
	return false;
}

static void h_status(void *u, struct bm_http_req *r)
{
	if (only(r, "GET"))
		http_reply_json(r, 200, status_json(u));
}

static void h_plugins(void *u, struct bm_http_req *r)
{
	if (only(r, "GET"))
		http_reply_json(r, 200, plugins_json(u));
}

static void h_reload(void *u, struct bm_http_req *r)
{
	if (!only(r, "POST"))
		return;
	if (daemon_reload(u) != 0)
		http_reply_error(r, 422, "config has errors; the running config stays in force (see the log)");
	else
		http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

int status_routes(struct daemon *d)
{
	int rc = http_add_route(d->http, d, API "/status", 0, h_status, d);
	if (!rc)
		rc = http_add_route(d->http, d, API "/plugins", 0, h_plugins, d);
	if (!rc)
		rc = http_add_route(d->http, d, API "/reload", BM_HTTP_ADMIN, h_reload, d);
	return rc;
}
