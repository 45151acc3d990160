/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Jobs and their targets, as Prometheus' scrape/target.go builds them: the
 * static and file_sd groups give addresses and labels, the job adds its
 * defaults (job, __scheme__, __metrics_path__, __param_*, ...),
 * relabel_configs runs, and what is left makes the target's URL and its
 * labels. A rebuild keeps the targets that did not change (same URL,
 * labels, interval and timeout) with their state.
 */
#define _GNU_SOURCE
#include "scrape.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bearmon/bm_vec.h>

#define DEFAULT_TIMEOUT_MS 10000

/* ---- Prometheus durations -------------------------------------------- */

static const struct {
	const char *unit;
	int64_t ms;
} duration_units[] = {
	{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000}, {"h", 3600000},
	{"m", 60000},		 {"s", 1000},		{"ms", 1},
};
#define N_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

/* The unit at p (longest first, so "ms" is not "m"); N_UNITS when none. */
static size_t unit_at(const char *p)
{
	if (p[0] == 'm' && p[1] == 's')
		return N_UNITS - 1;
	for (size_t u = 0; u + 1 < N_UNITS; u++)
		if (*p == duration_units[u].unit[0])
			return u;
	return N_UNITS;
}

/* model.ParseDuration: number+unit pairs, units largest first, each once. */
int64_t prom_duration_ms(const char *s)
{
	int64_t total = 0;
	size_t next_unit = 0;
	if (!s || !*s)
		return -1;
	if (strcmp(s, "0") == 0)
		return 0;
	while (*s) {
		if (!isdigit((unsigned char)*s))
			return -1;
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		size_t u = unit_at(end);
		if (errno || u == N_UNITS || u < next_unit || v > INT64_MAX / duration_units[u].ms)
			return -1;
		total += v * duration_units[u].ms;
		next_unit = u + 1;
		s = end + strlen(duration_units[u].unit);
	}
	return total;
}

/* model.Duration.String(): "1m30s", "500ms", "0s". */
void prom_duration_text(int64_t ms, char *out, size_t n)
{
	size_t len = 0;
	out[0] = '\0';
	if (ms <= 0) {
		snprintf(out, n, "0s");
		return;
	}
	for (size_t u = 0; u < N_UNITS && len < n; u++) {
		if (ms / duration_units[u].ms == 0)
			continue;
		len += (size_t)snprintf(out + len, n - len, "%lld%s",
					(long long)(ms / duration_units[u].ms), duration_units[u].unit);
		ms %= duration_units[u].ms;
	}
}

/* ---- credentials ----------------------------------------------------- */

/* Read a credential file: the first line, without trailing blanks. */
static char *read_secret(const char *path, struct stat *st)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	bool ok = fstat(fileno(f), st) == 0;
	fclose(f);
	if (n < 0 || !ok) {
		free(line);
		return n < 0 && ok ? strdup("") : NULL;
	}
	while (n > 0 && isspace((unsigned char)line[n - 1]))
		line[--n] = '\0';
	return line;
}

/* Inline values are fixed; a file is re-read when it changed. true when
 * the value in force changed. */
static bool credential_refresh(struct scrape *s, struct credential *c)
{
	if (!c->file) {
		if (c->value || !c->inline_value)
			return false;
		c->value = strdup(c->inline_value);
		return c->value != NULL;
	}
	struct stat st;
	if (stat(c->file, &st) == 0 && c->value &&
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == c->mtime_ns &&
	    st.st_size == c->size)
		return false;
	char *v = read_secret(c->file, &st);
	if (!v) {
		if (c->mtime_ns != -1) /* once per failure streak */
			bm_log_warn(s->ctx, "cannot read credential file %s: %s (keeping the previous value)",
				    c->file, strerror(errno));
		c->mtime_ns = -1;
		return false;
	}
	c->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	c->size = st.st_size;
	bool changed = !c->value || strcmp(c->value, v) != 0;
	free(c->value);
	c->value = v;
	return changed;
}

/* ---- jobs ------------------------------------------------------------ */

static int check_static(const struct scrape_job_conf *c, struct bm_err *err)
{
	for (size_t g = 0; g < c->static_configs.n; g++) {
		const struct scrape_static_conf *sc =
			BM_GROUP_ITEM(c->static_configs, struct scrape_static_conf, g);
		for (size_t i = 0; i < sc->targets.n; i++)
			if (!sc->targets.v[i][0])
				return bm_err_set(err, BM_EINVAL, "job %s: static_configs.%zu: empty target",
						  c->job_name, g);
		for (size_t i = 0; i < sc->labels.n; i++)
			if (!expfmt_valid_label_name(sc->labels.keys[i]))
				return bm_err_set(err, BM_EINVAL,
						  "job %s: static_configs.%zu: \"%s\" is not a valid label name",
						  c->job_name, g, sc->labels.keys[i]);
	}
	return 0;
}

static int check_files(const struct scrape_job_conf *c, struct bm_err *err)
{
	const char *files[] = {c->tls_config.ca_file, c->tls_config.cert_file,
			       c->tls_config.key_file};
	for (size_t i = 0; i < 3; i++)
		if (files[i] && *files[i] && access(files[i], R_OK) != 0)
			return bm_err_set(err, BM_EINVAL, "job %s: cannot read %s: %s", c->job_name,
					  files[i], strerror(errno));
	if ((c->tls_config.cert_file && *c->tls_config.cert_file) !=
	    (c->tls_config.key_file && *c->tls_config.key_file))
		return bm_err_set(err, BM_EINVAL, "job %s: tls_config needs both cert_file and key_file",
				  c->job_name);
	return 0;
}

static int check_auth(const struct scrape_job_conf *c, struct bm_err *err)
{
	const struct scrape_basic_auth_conf *b = &c->basic_auth;
	bool basic = conf_set(b->username) || conf_set(b->password) || conf_set(b->password_file);
	bool bearer = conf_set(c->bearer_token) || conf_set(c->bearer_token_file);
	if (basic && bearer)
		return bm_err_set(err, BM_EINVAL, "job %s: basic_auth and bearer_token are exclusive",
				  c->job_name);
	if ((conf_set(b->password) && conf_set(b->password_file)) ||
	    (conf_set(c->bearer_token) && conf_set(c->bearer_token_file)))
		return bm_err_set(err, BM_EINVAL, "job %s: give a secret inline or as a file, not both",
				  c->job_name);
	if (basic && !conf_set(b->username))
		return bm_err_set(err, BM_EINVAL, "job %s: basic_auth needs a username", c->job_name);
	/* they end up in HTTP headers */
	const char *inline_secrets[] = {b->username, b->password, c->bearer_token};
	for (size_t i = 0; i < 3; i++)
		if (inline_secrets[i] && strpbrk(inline_secrets[i], "\r\n"))
			return bm_err_set(err, BM_EINVAL, "job %s: a credential holds a line break",
					  c->job_name);
	return 0;
}

static int check_job(struct scrape *s, struct job *j, const struct scrape_job_conf *c,
		     struct bm_err *err)
{
	if (!conf_set(c->job_name))
		return bm_err_set(err, BM_EINVAL, "jobs: job_name must not be empty");
	j->interval_ms = c->scrape_interval ? c->scrape_interval : s->default_interval_ms;
	j->timeout_ms = c->scrape_timeout ? c->scrape_timeout
		       : j->interval_ms < DEFAULT_TIMEOUT_MS ? j->interval_ms : DEFAULT_TIMEOUT_MS;
	if (j->timeout_ms > j->interval_ms)
		return bm_err_set(err, BM_EINVAL,
				  "job %s: scrape_timeout (%lld ms) is longer than scrape_interval (%lld ms)",
				  c->job_name, (long long)j->timeout_ms, (long long)j->interval_ms);
	if (!c->metrics_path || c->metrics_path[0] != '/')
		return bm_err_set(err, BM_EINVAL, "job %s: metrics_path must start with /", c->job_name);
	int rc = check_static(c, err);
	if (!rc)
		rc = check_files(c, err);
	return rc ? rc : check_auth(c, err);
}

int job_init(struct scrape *s, struct job *j, const struct scrape_job_conf *c, struct bm_err *err)
{
	memset(j, 0, sizeof(*j));
	j->conf = c;
	int rc = check_job(s, j, c, err);
	char what[160];
	snprintf(what, sizeof(what), "job %s: relabel_configs", c->job_name ? c->job_name : "?");
	if (!rc)
		rc = relabel_compile(&j->relabel, &c->relabel_configs, what, err);
	snprintf(what, sizeof(what), "job %s: metric_relabel_configs", c->job_name ? c->job_name : "?");
	if (!rc && (rc = relabel_compile(&j->metric_relabel, &c->metric_relabel_configs, what, err)))
		relabel_free(&j->relabel);
	if (rc)
		return rc;
	j->limits = (struct card_limits){
		.max_series = (uint32_t)c->series_limit,
		.max_labels = (uint32_t)c->label_limit,
		.max_name_len = (uint32_t)c->label_name_length_limit,
		.max_value_len = (uint32_t)c->label_value_length_limit,
		/* swept at the start of every scrape: a series missing from
		 * the previous scrape frees its slot */
		.idle_sweeps = 2,
	};
	j->password = (struct credential){.inline_value = c->basic_auth.password,
					  .file = conf_set(c->basic_auth.password_file) ? c->basic_auth.password_file : NULL};
	j->bearer = (struct credential){.inline_value = c->bearer_token,
					.file = conf_set(c->bearer_token_file) ? c->bearer_token_file : NULL};
	return 0;
}

void target_free(struct scrape *s, struct target *t)
{
	target_http_free(s, t);
	series_free(&t->series);
	card_free(&t->card);
	free(t->meta);
	free(t->url);
	free(t->labels);
	free(t->label_mem);
	free(t);
}

void job_free(struct scrape *s, struct job *j)
{
	for (size_t i = 0; i < j->n_targets; i++)
		target_free(s, j->targets[i]);
	free(j->targets);
	relabel_free(&j->relabel);
	relabel_free(&j->metric_relabel);
	sd_watch_free(&j->sd);
	free(j->password.value);
	free(j->bearer.value);
	memset(j, 0, sizeof(*j));
}

/* ---- targets --------------------------------------------------------- */

/* A target as the groups and relabelling describe it, before it exists;
 * strings in the sync's arena. */
struct target_desc {
	const char *url;
	struct bm_label *labels; /* sorted */
	size_t n_labels;
	int64_t interval_ms, timeout_ms;
	uint64_t id;
};

struct sync {
	struct scrape *s;
	struct job *j;
	struct lset ls;
	struct bm_arena arena;
	struct target **next;
	size_t n_next, cap_next;
	int64_t now;
	int rc;
};

static void set_default(struct lset *ls, const char *name, const char *value)
{
	if (!*lset_get(ls, name))
		lset_set(ls, name, value);
}

static int add_defaults(struct sync *sy)
{
	const struct job *j = sy->j;
	const struct scrape_job_conf *c = j->conf;
	char *iv = bm_arena_alloc(&sy->arena, 64);
	if (!iv)
		return BM_ENOMEM;
	prom_duration_text(j->interval_ms, iv, 32);
	prom_duration_text(j->timeout_ms, iv + 32, 32);
	set_default(&sy->ls, "job", c->job_name);
	set_default(&sy->ls, "__scheme__", c->scheme == SCHEME_HTTPS ? "https" : "http");
	set_default(&sy->ls, "__metrics_path__", c->metrics_path);
	set_default(&sy->ls, "__scrape_interval__", iv);
	set_default(&sy->ls, "__scrape_timeout__", iv + 32);
	for (size_t i = 0; i < c->params.n; i++) {
		size_t n = strlen(c->params.keys[i]) + sizeof("__param_");
		char *name = bm_arena_alloc(&sy->arena, n);
		if (!name)
			return BM_ENOMEM;
		snprintf(name, n, "__param_%s", c->params.keys[i]);
		set_default(&sy->ls, name, c->params.values[i]);
	}
	return 0;
}

/* The __param_* labels (sorted, so equal targets get equal URLs) as the
 * query, URL-encoded by libcurl. */
static CURLUcode add_query(CURLU *u, const struct bm_label *all, size_t n)
{
	CURLUcode uc = CURLUE_OK;
	for (size_t i = 0; uc == CURLUE_OK && i < n; i++) {
		char *q = NULL;
		if (strncmp(all[i].name, "__param_", 8) != 0)
			continue;
		if (asprintf(&q, "%s=%s", all[i].name + 8, all[i].value) < 0)
			return CURLUE_OUT_OF_MEMORY;
		uc = curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
		free(q);
	}
	return uc;
}

/* scheme://address/path?params, built and checked by libcurl's URL API.
 * NULL with why set when it is not a URL. */
static const char *make_url(struct sync *sy, const struct bm_label *all, size_t n, char *why,
			    size_t wn)
{
	const char *addr = lset_get(&sy->ls, "__address__");
	if (strpbrk(addr, "/?#@ ")) {
		snprintf(why, wn, "address \"%.100s\" is not host:port", addr);
		return NULL;
	}
	char *base = NULL, *url = NULL;
	CURLU *u = curl_url();
	CURLUcode uc = CURLUE_OUT_OF_MEMORY;
	if (u && asprintf(&base, "%s://%s%s", lset_get(&sy->ls, "__scheme__"), addr,
			  lset_get(&sy->ls, "__metrics_path__")) >= 0)
		uc = curl_url_set(u, CURLUPART_URL, base, 0);
	free(base);
	if (uc == CURLUE_OK)
		uc = add_query(u, all, n);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_URL, &url, 0);
	const char *copy = url ? bm_arena_strndup(&sy->arena, url, strlen(url)) : NULL;
	if (!copy)
		snprintf(why, wn, "bad URL for %.100s: %s", addr, curl_url_strerror(uc));
	curl_free(url);
	curl_url_cleanup(u);
	return copy;
}

static uint64_t desc_id(const struct target_desc *d)
{
	uint64_t h = bm_hash_series(d->url, d->labels, d->n_labels);
	h ^= (uint64_t)d->interval_ms * 0x9e3779b97f4a7c15ULL;
	return h ^ ((uint64_t)d->timeout_ms * 0xc2b2ae3d27d4eb4fULL);
}

/* Interval and timeout from their labels, as relabelling left them. */
static bool desc_times(struct sync *sy, struct target_desc *d, char *why, size_t wn)
{
	d->interval_ms = prom_duration_ms(lset_get(&sy->ls, "__scrape_interval__"));
	d->timeout_ms = prom_duration_ms(lset_get(&sy->ls, "__scrape_timeout__"));
	if (d->interval_ms <= 0 || d->timeout_ms <= 0)
		snprintf(why, wn, "bad __scrape_interval__ \"%.20s\" or __scrape_timeout__ \"%.20s\"",
			 lset_get(&sy->ls, "__scrape_interval__"), lset_get(&sy->ls, "__scrape_timeout__"));
	else if (d->timeout_ms > d->interval_ms)
		snprintf(why, wn, "scrape timeout %s longer than interval %s",
			 lset_get(&sy->ls, "__scrape_timeout__"), lset_get(&sy->ls, "__scrape_interval__"));
	else
		return true;
	return false;
}

/* 1 with d filled, 0 when relabelling dropped it, BM_EINVAL with why. */
static int describe(struct sync *sy, struct target_desc *d, char *why, size_t wn)
{
	if (!relabel_apply(&sy->j->relabel, &sy->ls, &sy->arena))
		return 0;
	const char *addr = lset_get(&sy->ls, "__address__");
	if (!*addr) {
		snprintf(why, wn, "no __address__ after relabelling");
		return BM_EINVAL;
	}
	if (!desc_times(sy, d, why, wn))
		return BM_EINVAL;
	set_default(&sy->ls, "instance", addr);
	size_t n = sy->ls.n;
	struct bm_label *all = bm_arena_alloc(&sy->arena, n * sizeof(*all));
	if (!all)
		return BM_ENOMEM;
	memcpy(all, sy->ls.v, n * sizeof(*all));
	bm_labels_sort(all, n);
	if (!(d->url = make_url(sy, all, n, why, wn)))
		return BM_EINVAL;
	d->labels = all;
	d->n_labels = 0;
	for (size_t i = 0; i < n; i++) /* "__"-labels served their purpose */
		if (strncmp(all[i].name, "__", 2) != 0)
			all[d->n_labels++] = all[i];
	d->id = desc_id(d);
	return 1;
}

static struct target *target_new(struct sync *sy, const struct target_desc *d)
{
	struct target *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	size_t bytes = 0;
	for (size_t i = 0; i < d->n_labels; i++)
		bytes += strlen(d->labels[i].name) + strlen(d->labels[i].value) + 2;
	t->labels = calloc(d->n_labels ? d->n_labels : 1, sizeof(*t->labels));
	t->label_mem = malloc(bytes ? bytes : 1);
	t->url = strdup(d->url);
	t->job = sy->j;
	if (!t->labels || !t->label_mem || !t->url || card_init(&t->card, &sy->j->limits)) {
		free(t->labels);
		free(t->label_mem);
		free(t->url);
		free(t);
		return NULL;
	}
	char *p = t->label_mem;
	for (size_t i = 0; i < d->n_labels; i++) {
		t->labels[i].name = p;
		p = stpcpy(p, d->labels[i].name) + 1;
		t->labels[i].value = p;
		p = stpcpy(p, d->labels[i].value) + 1;
		if (strcmp(t->labels[i].name, "instance") == 0)
			t->instance = t->labels[i].value;
	}
	t->n_labels = d->n_labels;
	t->id = d->id;
	t->interval_ms = d->interval_ms;
	t->timeout_ms = d->timeout_ms;
	t->offset_ms = (int64_t)(d->id % (uint64_t)d->interval_ms);
	t->due_ms = target_next_slot(t, sy->now);
	if (!t->instance)
		t->instance = t->url;
	if (target_http_init(sy->s, t)) {
		target_free(sy->s, t);
		return NULL;
	}
	return t;
}

static struct target *find(struct target **v, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i]->id == id)
			return v[i];
	return NULL;
}

/* One address of one group: keep its target, make a new one, or say why
 * it cannot be scraped. */
static void consider(struct sync *sy, const char *addr, const struct bm_label *gl, size_t n_gl,
		     const char *filepath)
{
	struct target_desc d = {0};
	char why[256] = "";
	sy->ls.n = 0;
	int rc = lset_set(&sy->ls, "__address__", addr);
	for (size_t i = 0; !rc && i < n_gl; i++)
		rc = lset_set(&sy->ls, gl[i].name, gl[i].value);
	if (!rc && filepath)
		rc = lset_set(&sy->ls, "__meta_filepath", filepath);
	if (!rc)
		rc = add_defaults(sy);
	if (!rc)
		rc = describe(sy, &d, why, sizeof(why));
	if (rc == BM_EINVAL) {
		STAT_ADD(sy->s, target_errors, 1);
		bm_log_warn(sy->s->ctx, "job %s: target %s skipped: %s", sy->j->conf->job_name, addr, why);
	}
	if (rc <= 0) {
		if (rc == BM_ENOMEM)
			sy->rc = rc;
		return;
	}
	if (find(sy->next, sy->n_next, d.id))
		return; /* the same target twice */
	struct target *t = find(sy->j->targets, sy->j->n_targets, d.id);
	if (t)
		t->keep = true;
	else if (!(t = target_new(sy, &d)))
		sy->rc = BM_ENOMEM;
	if (!t)
		return;
	if (BM_VEC_RESERVE(sy->next, sy->cap_next, sy->n_next + 1) == 0) {
		sy->next[sy->n_next++] = t;
		return;
	}
	sy->rc = BM_ENOMEM;
	if (!t->keep)
		target_free(sy->s, t);
}

static void static_groups(struct sync *sy)
{
	const struct scrape_job_conf *c = sy->j->conf;
	for (size_t g = 0; g < c->static_configs.n; g++) {
		const struct scrape_static_conf *sc =
			BM_GROUP_ITEM(c->static_configs, struct scrape_static_conf, g);
		struct bm_label gl[sc->labels.n ? sc->labels.n : 1];
		for (size_t i = 0; i < sc->labels.n; i++)
			gl[i] = (struct bm_label){sc->labels.keys[i], sc->labels.values[i]};
		for (size_t i = 0; i < sc->targets.n; i++)
			consider(sy, sc->targets.v[i], gl, sc->labels.n, NULL);
	}
}

static void sd_groups(struct sync *sy)
{
	const struct sd_watch *w = &sy->j->sd;
	for (size_t f = 0; f < w->n; f++)
		for (size_t g = 0; g < w->files[f].groups.n; g++) {
			const struct sd_group *grp = &w->files[f].groups.v[g];
			for (size_t i = 0; i < grp->n_targets; i++)
				consider(sy, grp->targets[i], grp->labels, grp->n_labels,
					 w->files[f].path);
		}
}

/* A target that left: its series end now. */
static void retire(struct scrape *s, struct target *t)
{
	if (t->in_flight) {
		curl_multi_remove_handle(s->multi, t->easy);
		s->in_flight--;
	}
	ingest_retire(s, t, scrape_wall_ms());
	target_free(s, t);
}

void scrape_count_targets(struct scrape *s)
{
	uint64_t n = 0, up = 0;
	for (size_t i = 0; i < s->n_jobs; i++)
		for (size_t k = 0; k < s->jobs[i].n_targets; k++) {
			n++;
			up += s->jobs[i].targets[k]->up;
		}
	__atomic_store_n(&s->n_targets, n, __ATOMIC_RELAXED);
	__atomic_store_n(&s->n_up, up, __ATOMIC_RELAXED);
}

int job_sync(struct scrape *s, struct job *j, int64_t now_mono_ms)
{
	struct sync sy = {.s = s, .j = j, .now = now_mono_ms};
	for (size_t i = 0; i < j->n_targets; i++)
		j->targets[i]->keep = false;
	static_groups(&sy);
	sd_groups(&sy);
	if (sy.rc) { /* out of memory: keep the old set, drop what was new */
		for (size_t i = 0; i < sy.n_next; i++)
			if (!sy.next[i]->keep)
				target_free(s, sy.next[i]);
	} else {
		for (size_t i = 0; i < j->n_targets; i++)
			if (!j->targets[i]->keep)
				retire(s, j->targets[i]);
		free(j->targets);
		j->targets = sy.next;
		j->n_targets = sy.n_next;
		j->cap_targets = sy.cap_next;
		sy.next = NULL;
	}
	free(sy.next);
	lset_free(&sy.ls);
	bm_arena_free(&sy.arena);
	scrape_count_targets(s);
	return sy.rc;
}

static void on_sd_error(void *user, const char *path, const char *why)
{
	struct scrape *s = user;
	bm_log_warn(s->ctx, "file_sd %s: %s (keeping its previous targets)", path, why);
}

void job_refresh(struct scrape *s, struct job *j, int64_t now_mono_ms)
{
	bool changed = !j->synced;
	if (j->conf->file_sd.n) {
		uint64_t reads = j->sd.reads, errors = j->sd.errors;
		changed |= sd_watch_refresh(&j->sd, &j->conf->file_sd, on_sd_error, s);
		STAT_ADD(s, sd_reads, j->sd.reads - reads);
		STAT_ADD(s, sd_errors, j->sd.errors - errors);
	}
	bool cred = credential_refresh(s, &j->password);
	cred |= credential_refresh(s, &j->bearer);
	j->cred_gen += cred;
	if (changed && job_sync(s, j, now_mono_ms) == 0)
		j->synced = true;
}
