/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl's HTTP client, shared by its command files (bearmonctl.c,
 * ctl_view.c, ...): where the daemon is (--url, or http.listen, the admin
 * token and the TLS certificate of -c CONFIG) and one request with libcurl.
 */
#ifndef BEARMON_CORE_CTL_HTTP_H
#define BEARMON_CORE_CTL_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CTL_DEFAULT_URL "http://127.0.0.1:9555"

/* bearmonctl's exit codes, documented in its usage text. */
enum {
	CTL_OK = 0,
	CTL_FAIL = 1,
	CTL_USAGE = 2,
	CTL_UNREACHABLE = 3,
};

struct ctl_http {
	char url[512];	  /* base URL, no trailing slash */
	char token[512];  /* admin bearer token from the config's file, or "" */
	char cafile[512]; /* the daemon's certificate, trusted for https */
};

/* One answer: any HTTP status; body malloc'd (ctl_reply_free). */
struct ctl_reply {
	long status;
	char *body;
	size_t len;
};

/* Fill h from url_opt, else from config's http section, else the default
 * URL. Returns CTL_OK, or CTL_FAIL with the reason printed. */
int ctl_http_resolve(struct ctl_http *h, const char *url_opt, const char *config);

/* method ("GET", "POST", ...) path below the base URL, with body when
 * body_len > 0 or method is POST. Returns CTL_OK with the reply (any HTTP
 * status), or CTL_UNREACHABLE / CTL_FAIL with the reason printed. */
int ctl_http_send(const struct ctl_http *h, const char *method, const char *path, const char *body,
		  size_t body_len, struct ctl_reply *r);

/* ctl_http_send without a body, and the answer parsed into *doc (a JSON
 * object, whatever the status, so that error documents come back too).
 * An answer that is no JSON object is CTL_FAIL, printed. */
int ctl_http_json(const struct ctl_http *h, const char *method, const char *path,
		  struct ctl_reply *r, json_t **doc);

/* "bearmonctl: URLPATH: HTTP 404: <error of doc>"; returns CTL_FAIL. */
int ctl_http_failed(const struct ctl_http *h, const char *path, const struct ctl_reply *r,
		    const json_t *doc);

/* Where a command sends its request and how it prints the answer: the
 * options every command shares. */
struct ctl_target {
	const char *url_opt; /* --url URL */
	const char *config;  /* -c CONFIG */
	bool json;	     /* --json: the daemon's document as it is */
};

/* Take the shared option opt ('u', 'c', 'j' in getopt_long's terms) into
 * t; false for any other, which is the caller's. */
bool ctl_target_option(struct ctl_target *t, int opt, const char *arg);

/* The command argv names: its first word that is no option, skipping the
 * values of bearmonctl's options that take one ("--" ends the options);
 * NULL when there is none. Each command file claims its commands by it. */
const char *ctl_command_word(int argc, char **argv);
/* Whether s is one of names (NULL-terminated). */
bool ctl_word_in(const char *s, const char *const *names);

/* The daemon's document, untouched, with a final newline (--json). */
void ctl_reply_print(const struct ctl_reply *r);
void ctl_reply_free(struct ctl_reply *r);

#endif
