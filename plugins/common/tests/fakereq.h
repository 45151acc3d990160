/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake HTTP request for calling a plugin's route handlers directly in
 * unit tests: the host API's request calls answer from what the test
 * passed, and the reply is kept. Used by anhost.c and the alerts tests.
 */
#ifndef BEARMON_PLUGINS_TESTS_FAKEREQ_H
#define BEARMON_PLUGINS_TESTS_FAKEREQ_H

#include <jansson.h>

#include <bearmon/bm_host.h>

/* Point api's http_method, _path, _query, _body, _add_header (which keeps
 * nothing) and _reply at the fake request's. */
void fakereq_install(struct bm_host_api *api);

/* cb(user, request) with method, path, query ("a=1&b=2" or NULL) and body
 * (or NULL): sets *status to the reply's and returns the reply parsed as
 * JSON (NULL when there was none or it is not JSON; the caller decrefs). */
json_t *fakereq_call(bm_http_cb cb, void *user, const char *method, const char *path,
		     const char *query, const char *body, int *status);

#endif /* BEARMON_PLUGINS_TESTS_FAKEREQ_H */
