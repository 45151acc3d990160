/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the plugins with a JSON HTTP route share (analyzer/bottleneck,
 * analyzer/health, optimizer/engine, ui/dashboard): replying with a jansson
 * document or an error object, and serving a route where a host without an
 * HTTP listener is not an error. Compiled into each user from plugin_route.c.
 */
#ifndef BEARMON_PLUGINS_PLUGIN_ROUTE_H
#define BEARMON_PLUGINS_PLUGIN_ROUTE_H

#include <jansson.h>
#include <stdbool.h>

#include <bearmon/bm_err.h>
#include <bearmon/bm_host.h>

/* Reply j (its reference taken) as compact JSON with status; a NULL j or
 * one that cannot be written answers 500 {"status":"error","error":"out of
 * memory"}. */
void plugin_reply_json(struct bm_http_req *req, int status, json_t *j);

/* Reply {"status":"error","error":msg} with status. */
void plugin_reply_error(struct bm_http_req *req, int status, const char *msg);

/* Whether req's method is method; when not, it is answered 405
 * {"status":"error","error":"use METHOD"}. */
bool plugin_require_method(struct bm_http_req *req, const char *method);

/* Serve path with cb. A host without an HTTP listener (BM_ENOTSUP) is no
 * error: logged at info, 0, and the plugin's events still go out. Any other
 * failure: its code, err "cannot serve PATH: ...". */
int plugin_route(struct bm_ctx *ctx, const char *path, unsigned flags, bm_http_cb cb, void *user,
		 struct bm_err *err);

#endif /* BEARMON_PLUGINS_PLUGIN_ROUTE_H */
