/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The page and its assets: "/" is web_dir/index.html, /static/chart.js/...
 * comes from Debian's libjs-chart.js under javascript_dir, everything else
 * under /static/ from web_dir. Paths are checked segment by segment and the
 * resolved file must lie inside its directory, so nothing else on the disk
 * can be read through these routes.
 */
#define _GNU_SOURCE
#include "dashboard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_PREFIX "/static/"
#define CHARTJS_PREFIX STATIC_PREFIX "chart.js/"
#define STATIC_MAX_BYTES (16u << 20)
#define STATIC_MAX_PATH 256

/* Where the page is when web_dir is "": beside the sources when the plugin
 * runs from the build tree (as the core finds its plugins), else where
 * `make install` put it. */
static void default_web_dir(char *out, size_t n)
{
	Dl_info info;
	const char *dir = BM_DASHBOARD_WEB_DIR;
	if (dladdr((void *)default_web_dir, &info) && info.dli_fname &&
	    strncmp(info.dli_fname, BM_DASHBOARD_BUILD_DIR "/", strlen(BM_DASHBOARD_BUILD_DIR) + 1) == 0)
		dir = BM_DASHBOARD_SOURCE_WEB_DIR;
	snprintf(out, n, "%s", dir);
}

void dash_static_init(struct dash *d)
{
	if (d->conf->web_dir && *d->conf->web_dir)
		snprintf(d->web_dir, sizeof(d->web_dir), "%s", d->conf->web_dir);
	else
		default_web_dir(d->web_dir, sizeof(d->web_dir));
}

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
		{".html", "text/html; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".mjs", "text/javascript; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".json", "application/json"},
		{".map", "application/json"},
		{".svg", "image/svg+xml"},
		{".png", "image/png"},
		{".ico", "image/x-icon"},
		{".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* rel: segments of [A-Za-z0-9._-], none empty or starting with a dot. */
static bool safe_relative(const char *rel)
{
	size_t n = strlen(rel);
	if (!n || n > STATIC_MAX_PATH)
		return false;
	for (const char *seg = rel; *seg;) {
		size_t len = strcspn(seg, "/");
		if (!len || seg[0] == '.')
			return false;
		for (size_t i = 0; i < len; i++) {
			char ch = seg[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
				return false;
		}
		seg += len;
		if (*seg == '/' && !*++seg)
			return false; /* trailing slash */
	}
	return true;
}

/* base/rel resolved, when it is a regular file inside base. */
static bool resolve(const char *base, const char *rel, char *out)
{
	char joined[PATH_MAX], real_base[PATH_MAX];
	if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", base, rel) >= sizeof(joined) ||
	    !realpath(base, real_base) || !realpath(joined, out))
		return false;
	size_t bl = strlen(real_base);
	return strncmp(out, real_base, bl) == 0 && out[bl] == '/';
}

static char *read_file(const char *path, size_t *len, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	if (fd < 0)
		return NULL;
	if (fstat(fd, st) || !S_ISREG(st->st_mode) || st->st_size > STATIC_MAX_BYTES ||
	    !(buf = malloc((size_t)st->st_size + 1)))
		goto out;
	size_t got = 0;
	while (got < (size_t)st->st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st->st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*len = got;
out:
	close(fd);
	return buf;
}

/* The page itself may run only our own scripts and talk only to us. */
static void page_headers(struct bm_http_req *req)
{
	bm_http_add_header(req, "Content-Security-Policy",
			   "default-src 'self'; script-src 'self'; style-src 'self'; "
			   "img-src 'self' data:; connect-src 'self' ws: wss:; "
			   "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
	bm_http_add_header(req, "X-Frame-Options", "DENY");
	bm_http_add_header(req, "Referrer-Policy", "no-referrer");
}

static void serve(struct bm_http_req *req, const char *base, const char *rel)
{
	const char *m = bm_http_method(req);
	char path[PATH_MAX], etag[64];
	struct stat st;
	size_t len = 0;
	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
		bm_http_add_header(req, "Allow", "GET, HEAD");
		plugin_reply_error(req, 405, "use GET");
		return;
	}
	if (!safe_relative(rel) || !resolve(base, rel, path)) {
		plugin_reply_error(req, 404, "no such file");
		return;
	}
	char *body = read_file(path, &len, &st);
	if (!body) {
		plugin_reply_error(req, 404, "no such file");
		return;
	}
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
			 (unsigned long long)st.st_mtim.tv_nsec);
	bm_http_add_header(req, "ETag", etag);
	bm_http_add_header(req, "Cache-Control", "no-cache");
	if (strcmp(content_type(path), "text/html; charset=utf-8") == 0)
		page_headers(req);
	const char *inm = bm_http_header(req, "If-None-Match");
	if (inm && strcmp(inm, etag) == 0)
		bm_http_reply(req, 304, content_type(path), NULL, 0);
	else
		bm_http_reply(req, 200, content_type(path), body, strcmp(m, "HEAD") ? len : 0);
	free(body);
}

void dash_on_index(void *user, struct bm_http_req *req)
{
	struct dash *d = user;
	serve(req, d->web_dir, "index.html");
}

void dash_on_static(void *user, struct bm_http_req *req)
{
	struct dash *d = user;
	const char *p = bm_http_path(req);
	if (strncmp(p, CHARTJS_PREFIX, strlen(CHARTJS_PREFIX)) == 0) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/chart.js", d->conf->javascript_dir);
		serve(req, dir, p + strlen(CHARTJS_PREFIX));
		return;
	}
	serve(req, d->web_dir, p + strlen(STATIC_PREFIX));
}
