/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON replies and optional routes for the plugins that serve HTTP
 * (plugin_route.h): one copy instead of one per plugin.
 */
#include "plugin_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void plugin_reply_json(struct bm_http_req *req, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text) {
		static const char oom[] = "{\"status\":\"error\",\"error\":\"out of memory\"}";
		bm_http_reply(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	bm_http_reply(req, status, "application/json", text, strlen(text));
	free(text);
}

void plugin_reply_error(struct bm_http_req *req, int status, const char *msg)
{
	plugin_reply_json(req, status, json_pack("{s:s, s:s}", "status", "error", "error", msg));
}

bool plugin_require_method(struct bm_http_req *req, const char *method)
{
	if (strcmp(bm_http_method(req), method) == 0)
		return true;
	char msg[32];
	snprintf(msg, sizeof(msg), "use %s", method);
	plugin_reply_error(req, 405, msg);
	return false;
}

int plugin_route(struct bm_ctx *ctx, const char *path, unsigned flags, bm_http_cb cb, void *user,
		 struct bm_err *err)
{
	int rc = bm_http_route(ctx, path, flags, cb, user);
	if (rc == BM_ENOTSUP) {
		bm_log_info(ctx, "no HTTP listener: %s not served", path);
		return 0;
	}
	return rc ? bm_err_set(err, rc, "cannot serve %s: %s", path, bm_strerror(rc)) : 0;
}
