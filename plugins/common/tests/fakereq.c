/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake HTTP request of fakereq.h.
 */
#define _GNU_SOURCE
#include "fakereq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bm_http_req {
	const char *method, *path, *query, *body;
	int status;
	char *reply;
};

static const char *fr_method(struct bm_http_req *r) { return r->method; }
static const char *fr_path(struct bm_http_req *r) { return r->path; }

/* Value of name in "a=1&b=2", in a static buffer (one lookup at a time). */
static const char *fr_query(struct bm_http_req *r, const char *name)
{
	static char val[256];
	size_t nl = strlen(name);
	for (const char *p = r->query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			snprintf(val, sizeof(val), "%.*s", (int)(len - nl - 1), p + nl + 1);
			return val;
		}
		p += len + (end ? 1 : 0);
	}
	return NULL;
}

static const void *fr_body(struct bm_http_req *r, size_t *len)
{
	*len = r->body ? strlen(r->body) : 0;
	return r->body;
}

static int fr_add_header(struct bm_http_req *r, const char *name, const char *value)
{
	(void)r;
	(void)name;
	(void)value;
	return 0;
}

static int fr_reply(struct bm_http_req *r, int status, const char *type, const void *body,
		    size_t len)
{
	(void)type;
	r->status = status;
	r->reply = strndup(body, len);
	return 0;
}

void fakereq_install(struct bm_host_api *api)
{
	api->http_method = fr_method;
	api->http_path = fr_path;
	api->http_query = fr_query;
	api->http_body = fr_body;
	api->http_add_header = fr_add_header;
	api->http_reply = fr_reply;
}

json_t *fakereq_call(bm_http_cb cb, void *user, const char *method, const char *path,
		     const char *query, const char *body, int *status)
{
	struct bm_http_req r = {method, path, query, body, 0, NULL};
	cb(user, &r);
	*status = r.status;
	json_t *j = r.reply ? json_loads(r.reply, 0, NULL) : NULL;
	free(r.reply);
	return j;
}
