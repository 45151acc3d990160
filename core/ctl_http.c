/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl's HTTP client (see ctl_http.h): the daemon's address from the
 * command line or its config, and requests through libcurl.
 */
#define _GNU_SOURCE
#include "ctl_http.h"

#include <stdbool.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_security.h"

#define HTTP_TIMEOUT_MS	  5000L
#define IMPORT_TIMEOUT_MS 600000L

/* http.listen is where the daemon binds; a wildcard address is reached
 * through loopback. */
static int url_from_listen(struct ctl_http *h, const char *config, const char *listen)
{
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen) {
		fprintf(stderr, "bearmonctl: %s: http.listen \"%s\" is not HOST:PORT\n", config,
			listen);
		return CTL_FAIL;
	}
	int hlen = (int)(colon - listen);
	if (strncmp(listen, "0.0.0.0:", 8) == 0)
		snprintf(h->url, sizeof(h->url), "http://127.0.0.1%s", colon);
	else if (strncmp(listen, "[::]:", 5) == 0)
		snprintf(h->url, sizeof(h->url), "http://[::1]%s", colon);
	else if (listen[0] != '[' && memchr(listen, ':', (size_t)hlen))
		snprintf(h->url, sizeof(h->url), "http://[%.*s]%s", hlen, listen, colon);
	else
		snprintf(h->url, sizeof(h->url), "http://%s", listen);
	return CTL_OK;
}

/* With tokens or TLS on the daemon, bearmonctl (run by its admin, who can
 * read the config) uses the admin token and trusts the daemon's own
 * certificate. */
static int access_from_config(struct ctl_http *h, const char *config, const struct cfg *cfg)
{
	const char *tok_file = cfg->core.http.admin_token_file;
	const char *cert = cfg->core.http.tls_cert;
	if (tok_file && *tok_file) {
		struct bm_err err = {0};
		char *tok = http_read_token(tok_file, "admin_token_file", &err);
		if (!tok) {
			fprintf(stderr, "bearmonctl: %s: %s\n", config, err.msg);
			return CTL_FAIL;
		}
		snprintf(h->token, sizeof(h->token), "%s", tok);
		free(tok);
	}
	if (cert && *cert) {
		char rest[sizeof(h->url) - 8];
		snprintf(rest, sizeof(rest), "%s", h->url + strlen("http://"));
		snprintf(h->url, sizeof(h->url), "https://%s", rest);
		snprintf(h->cafile, sizeof(h->cafile), "%s", cert);
	}
	return CTL_OK;
}

static int resolve_from_config(struct ctl_http *h, const char *config)
{
	struct cfg_errs errs = {0};
	struct cfg *cfg = cfg_load(config, NULL, 0, &errs);
	int rc = CTL_OK;
	const char *listen = cfg ? cfg->core.http.listen : NULL;
	if (!cfg) {
		fprintf(stderr, "bearmonctl: cannot read %s: %s\n", config,
			errs.n ? errs.lines[0] : "unknown error");
		rc = CTL_FAIL;
	} else if (!listen || !*listen) {
		fprintf(stderr, "bearmonctl: %s: http.listen is empty: the daemon serves no API\n",
			config);
		rc = CTL_FAIL;
	} else {
		rc = url_from_listen(h, config, listen);
		if (!rc)
			rc = access_from_config(h, config, cfg);
	}
	cfg_errs_free(&errs);
	cfg_free(cfg);
	return rc;
}

int ctl_http_resolve(struct ctl_http *h, const char *url_opt, const char *config)
{
	if (url_opt) {
		snprintf(h->url, sizeof(h->url), "%s", url_opt);
	} else if (!config) {
		snprintf(h->url, sizeof(h->url), "%s", CTL_DEFAULT_URL);
	} else {
		int rc = resolve_from_config(h, config);
		if (rc)
			return rc;
	}
	for (size_t n = strlen(h->url); n > 0 && h->url[n - 1] == '/'; n--)
		h->url[n - 1] = '\0';
	return CTL_OK;
}

static struct curl_slist *request_headers(const struct ctl_http *h)
{
	struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (h->token[0]) {
		char auth[600];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", h->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	return hdrs;
}

int ctl_http_send(const struct ctl_http *h, const char *method, const char *path, const char *body,
		  size_t body_len, struct ctl_reply *r)
{
	char url[4096];
	char errbuf[CURL_ERROR_SIZE] = "";
	snprintf(url, sizeof(url), "%s%s", h->url, path);
	FILE *mem = open_memstream(&r->body, &r->len);
	CURL *c = mem ? curl_easy_init() : NULL;
	if (!c) {
		if (mem)
			fclose(mem);
		fprintf(stderr, "bearmonctl: out of memory\n");
		return CTL_FAIL;
	}
	struct curl_slist *hdrs = request_headers(h);
	if (h->cafile[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, h->cafile);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, HTTP_TIMEOUT_MS);
	/* a proxy from the environment must not get between us and localhost */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	bool post = strcmp(method, "POST") == 0;
	if (!post && strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method); /* PUT, DELETE, ... */
	if (post || body_len) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		/* an import may take a while */
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
				 body_len ? IMPORT_TIMEOUT_MS : HTTP_TIMEOUT_MS);
	}
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	fclose(mem);
	if (rc == CURLE_OK)
		return CTL_OK;
	fprintf(stderr,
		"bearmonctl: cannot reach bearmond at %s: %s\n"
		"hint: is bearmond running, and does its http.listen match? (--url URL, or -c "
		"CONFIG to read it from the config)\n",
		h->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return CTL_UNREACHABLE;
}

int ctl_http_json(const struct ctl_http *h, const char *method, const char *path,
		  struct ctl_reply *r, json_t **doc)
{
	json_error_t jerr;
	*doc = NULL;
	int rc = ctl_http_send(h, method, path, "", 0, r);
	if (rc)
		return rc;
	*doc = json_loadb(r->body ? r->body : "", r->len, 0, &jerr);
	if (!*doc || !json_is_object(*doc)) {
		fprintf(stderr, "bearmonctl: %s%s: HTTP %ld, not a JSON object (%s)\n", h->url,
			path, r->status, *doc ? "wrong type" : jerr.text);
		json_decref(*doc);
		*doc = NULL;
		return CTL_FAIL;
	}
	return CTL_OK;
}

int ctl_http_failed(const struct ctl_http *h, const char *path, const struct ctl_reply *r,
		    const json_t *doc)
{
	const char *msg = json_string_value(json_object_get(doc, "error"));
	fprintf(stderr, "bearmonctl: %s%s: HTTP %ld: %s\n", h->url, path, r->status,
		msg ? msg : "-");
	return CTL_FAIL;
}

void ctl_reply_print(const struct ctl_reply *r)
{
	if (r->len)
		fwrite(r->body, 1, r->len, stdout);
	if (!r->len || r->body[r->len - 1] != '\n')
		putchar('\n');
}

void ctl_reply_free(struct ctl_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

/* Every option of bearmonctl's commands that takes a separate value, in
 * both spellings: one list, so that no command file mistakes another's
 * option value for a command. */
static bool takes_value(const char *opt)
{
	static const char *const with_value[] = {
	    "-u",	  "--url",   "-c",	  "--config",  "-s",	     "--set",	"-d",
	    "--deadline", "--start", "--end",	  "--since",   "--limit",    "--time",	"--step",
	    "--interval", "--by",    "--comment", "--expires", "--duration", "--state", "--rule",
	    "--analyzer", "--input", "--output",  NULL};
	for (const char *const *w = with_value; *w; w++)
		if (strcmp(opt, *w) == 0)
			return true;
	return false;
}

bool ctl_word_in(const char *s, const char *const *names)
{
	for (const char *const *n = names; *n; n++)
		if (strcmp(s, *n) == 0)
			return true;
	return false;
}

const char *ctl_command_word(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return i + 1 < argc ? argv[i + 1] : NULL;
		if (argv[i][0] != '-')
			return argv[i];
		if (takes_value(argv[i]))
			i++;
	}
	return NULL;
}

bool ctl_target_option(struct ctl_target *t, int opt, const char *arg)
{
	switch (opt) {
	case 'u':
		t->url_opt = arg;
		return true;
	case 'c':
		t->config = arg;
		return true;
	case 'j':
		t->json = true;
		return true;
	default:
		return false;
	}
}
