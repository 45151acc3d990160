/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading the configuration: libconfig files (main + include dir), --set
 * overrides grafted into the parsed tree, the core option table, and the
 * instance blocks with their host-owned keys.
 */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#ifndef BM_DEFAULT_PLUGIN_DIR
#define BM_DEFAULT_PLUGIN_DIR "/usr/lib/bearmon/plugins"
#endif

static const char *const log_levels[] = {"err", "warn", "notice", "info", "debug", NULL};
static const char *const log_targets[] = {"stderr", "syslog", NULL};

#define CORE_OPT(n, t, d, field, h) BM_OPTION(n, t, d, struct core_conf, field, h)

static const struct bm_option logging_options[] = {
	{.name = "level", .type = BM_OPT_ENUM, .def = "info", .enum_values = log_levels,
	 .offset = 0, .help = "lowest level written: err, warn, notice, info, debug"},
	{.name = "target", .type = BM_OPT_ENUM, .def = "stderr", .enum_values = log_targets,
	 .offset = sizeof(int), .help = "where the log goes: stderr or syslog"},
	{.name = "ratelimit_burst", .type = BM_OPT_INT, .def = "5", .flags = BM_OPTF_BOUNDED,
	 .min = 0, .max = 1000000, .offset = 2 * sizeof(int),
	 .help = "identical lines written per interval before suppression (0 = no limit)"},
	{.name = "ratelimit_interval", .type = BM_OPT_DURATION, .def = "60s",
	 .flags = BM_OPTF_BOUNDED, .min = 1000, .max = 86400000,
	 .offset = 2 * sizeof(int) + sizeof(int64_t), .help = "rate-limit window"},
	BM_OPTION_END,
};

#define HTTP_OFF(f) (offsetof(struct core_conf, http.f) - offsetof(struct core_conf, http))
static const struct bm_option http_options[] = {
	{.name = "listen", .type = BM_OPT_STRING, .def = "127.0.0.1:9555", .offset = HTTP_OFF(listen),
	 .help = "address:port of the HTTP listener (loopback by default; empty disables HTTP)"},
	{.name = "max_body", .type = BM_OPT_SIZE, .def = "1MiB", .flags = BM_OPTF_BOUNDED, .min = 1024,
	 .max = 1073741824.0, .offset = HTTP_OFF(max_body), .help = "largest request body accepted"},
	{.name = "timeout", .type = BM_OPT_DURATION, .def = "30s", .flags = BM_OPTF_BOUNDED, .min = 100,
	 .max = 3600000, .offset = HTTP_OFF(timeout_ms), .help = "idle and read timeout per connection"},
	{.name = "request_timeout", .type = BM_OPT_DURATION, .def = "10s", .flags = BM_OPTF_BOUNDED,
	 .min = 100, .max = 3600000, .offset = HTTP_OFF(request_timeout_ms),
	 .help = "a connection must send each whole request within this (slowloris guard)"},
	{.name = "read_token_file", .type = BM_OPT_STRING, .offset = HTTP_OFF(read_token_file),
	 .help = "file holding the read-only bearer token (GET and HEAD); required with "
		 "admin_token_file on any non-loopback listen address"},
	{.name = "admin_token_file", .type = BM_OPT_STRING, .offset = HTTP_OFF(admin_token_file),
	 .help = "file holding the admin bearer token (everything, including reload, rules, "
		 "silences, acknowledgements, optimizer apply and rollback)"},
	{.name = "tls_cert", .type = BM_OPT_STRING, .offset = HTTP_OFF(tls_cert),
	 .help = "PEM certificate chain: serve HTTPS (with tls_key)"},
	{.name = "tls_key", .type = BM_OPT_STRING, .offset = HTTP_OFF(tls_key),
	 .help = "PEM private key of tls_cert"},
	{.name = "rate_limit", .type = BM_OPT_DOUBLE, .def = "0", .flags = BM_OPTF_BOUNDED, .min = 0,
	 .max = 1e6, .offset = HTTP_OFF(rate_limit),
	 .help = "requests per second allowed per client address, 0 for no limit (429 beyond)"},
	{.name = "rate_burst", .type = BM_OPT_INT, .def = "100", .flags = BM_OPTF_BOUNDED, .min = 1,
	 .max = 1000000, .offset = HTTP_OFF(rate_burst),
	 .help = "requests a client may make at once before rate_limit applies"},
	BM_OPTION_END,
};

#define BUS_OFF(f) (offsetof(struct core_conf, bus.f) - offsetof(struct core_conf, bus))
static const struct bm_option bus_options[] = {
	{.name = "queue_len", .type = BM_OPT_INT, .def = "4096", .flags = BM_OPTF_BOUNDED, .min = 16,
	 .max = 1048576, .offset = BUS_OFF(queue_len),
	 .help = "default queue length of a subscription, in events"},
	{.name = "block_timeout", .type = BM_OPT_DURATION, .def = "1s", .flags = BM_OPTF_BOUNDED,
	 .min = 1, .max = 60000, .offset = BUS_OFF(block_timeout_ms),
	 .help = "default longest wait of a publisher on a full block-policy queue"},
	BM_OPTION_END,
};

#define STORE_OFF(f) (offsetof(struct core_conf, store.f) - offsetof(struct core_conf, store))
static const struct bm_option store_options[] = {
	{.name = "enabled", .type = BM_OPT_BOOL, .def = "true", .offset = STORE_OFF(enabled),
	 .help = "keep every metric sample in the embedded sqlite store"},
	{.name = "path", .type = BM_OPT_STRING, .def = "bearmon.db", .offset = STORE_OFF(path),
	 .help = "database file (relative: to data_dir)"},
	{.name = "flush_interval", .type = BM_OPT_DURATION, .def = "1s", .flags = BM_OPTF_BOUNDED,
	 .min = 10, .max = 60000, .offset = STORE_OFF(flush_ms),
	 .help = "open chunks reach the disk at least this often: the most a crash can lose"},
	{.name = "chunk_samples", .type = BM_OPT_INT, .def = "480", .flags = BM_OPTF_BOUNDED,
	 .min = 8, .max = 4096, .offset = STORE_OFF(chunk_samples),
	 .help = "samples per compressed chunk"},
	{.name = "queue_len", .type = BM_OPT_INT, .def = "4096", .flags = BM_OPTF_BOUNDED, .min = 16,
	 .max = 1048576, .offset = STORE_OFF(queue_len),
	 .help = "bus queue of the store (block policy: publishers wait, nothing is dropped)"},
	{.name = "retention_raw", .type = BM_OPT_DURATION, .def = "2d", .offset = STORE_OFF(retention_raw_ms),
	 .help = "how long raw samples are kept (0s: forever)"},
	{.name = "retention_1m", .type = BM_OPT_DURATION, .def = "30d", .offset = STORE_OFF(retention_1m_ms),
	 .help = "how long the 1-minute rollup tier is kept (0s: forever)"},
	{.name = "retention_1h", .type = BM_OPT_DURATION, .def = "365d", .offset = STORE_OFF(retention_1h_ms),
	 .help = "how long the 1-hour rollup tier is kept (0s: forever)"},
	{.name = "retention_events", .type = BM_OPT_DURATION, .def = "7d",
	 .offset = STORE_OFF(retention_events_ms),
	 .help = "how long analysis events (anomaly, trend, forecast, bottleneck, insight, health, "
		 "correlation, candidate, recommendation, agent commands) are kept (0s: forever)"},
	{.name = "retention_history", .type = BM_OPT_DURATION, .def = "365d",
	 .offset = STORE_OFF(retention_history_ms),
	 .help = "how long alert, notification and action history is kept (0s: forever)"},
	BM_OPTION_END,
};

#define QUERY_OFF(f) (offsetof(struct core_conf, query.f) - offsetof(struct core_conf, query))
static const struct bm_option query_options[] = {
	{.name = "lookback_delta", .type = BM_OPT_DURATION, .def = "5m", .flags = BM_OPTF_BOUNDED,
	 .min = 1000, .max = 86400000, .offset = QUERY_OFF(lookback_delta_ms),
	 .help = "PromQL: how far back an instant selector looks for a sample (Prometheus' "
		 "--query.lookback-delta)"},
	{.name = "max_samples", .type = BM_OPT_INT, .def = "5000000", .flags = BM_OPTF_BOUNDED,
	 .min = 1000, .max = 2000000000, .offset = QUERY_OFF(max_samples),
	 .help = "PromQL: samples one query may load before it fails with an error (Prometheus' "
		 "--query.max-samples)"},
	BM_OPTION_END,
};

const struct bm_option core_options[] = {
	CORE_OPT("data_dir", BM_OPT_STRING, "/var/lib/bearmon", data_dir,
		 "directory for the store and plugin state (relative paths: to the working directory)"),
	CORE_OPT("plugin_dirs", BM_OPT_STRING_LIST, NULL, plugin_dirs,
		 "directories searched for bm_KIND_NAME.so (default: the installed plugin dir)"),
	CORE_OPT("include_dir", BM_OPT_STRING, "conf.d", include_dir,
		 "directory of *.conf files with more instance blocks (relative: to the main file)"),
	{.name = "interval", .type = BM_OPT_DURATION, .def = "10s", .flags = BM_OPTF_BOUNDED,
	 .min = 10, .max = 86400000, .offset = offsetof(struct core_conf, interval_ms),
	 .help = "default collection interval of collector instances"},
	{.name = "self_metrics_interval", .type = BM_OPT_DURATION, .def = "10s",
	 .flags = BM_OPTF_BOUNDED, .min = 100, .max = 3600000,
	 .offset = offsetof(struct core_conf, self_metrics_interval_ms),
	 .help = "how often bearmond publishes its own metrics"},
	{.name = "user", .type = BM_OPT_STRING, .def = "", .offset = offsetof(struct core_conf, user),
	 .help = "started as root, run as this user after binding and loading, keeping only the "
		 "capabilities the enabled plugins declare (empty: stay as started)"},
	{.name = "isolate_memory_limit", .type = BM_OPT_SIZE, .def = "512MiB", .flags = BM_OPTF_BOUNDED,
	 .min = 0, .max = 1099511627776.0, .offset = offsetof(struct core_conf, isolate_memory_limit),
	 .help = "an isolated instance's plugin host is restarted when its resident memory passes "
		 "this (0: no limit)"},
	{.name = "watchdog_timeout", .type = BM_OPT_DURATION, .def = "2m", .flags = BM_OPTF_BOUNDED,
	 .min = 100, .max = 86400000, .offset = offsetof(struct core_conf, watchdog_timeout_ms),
	 .help = "a collection still running after this fails its instance (logged, its series "
		 "end); the other instances go on"},
	{.name = "shutdown_timeout", .type = BM_OPT_DURATION, .def = "4s", .flags = BM_OPTF_BOUNDED,
	 .min = 100, .max = 600000, .offset = offsetof(struct core_conf, shutdown_timeout_ms),
	 .help = "longest time to drain the bus at shutdown"},
	{.name = "plugin_deadline", .type = BM_OPT_DURATION, .def = "5s", .flags = BM_OPTF_BOUNDED,
	 .min = 100, .max = 600000, .offset = offsetof(struct core_conf, plugin_deadline_ms),
	 .help = "longest time a lifecycle hook may take before it is reported as stuck"},
	{.name = "logging", .type = BM_OPT_GROUP, .sub = logging_options,
	 .offset = offsetof(struct core_conf, logging), .help = "the daemon's log"},
	{.name = "http", .type = BM_OPT_GROUP, .sub = http_options,
	 .offset = offsetof(struct core_conf, http), .help = "the HTTP listener"},
	{.name = "bus", .type = BM_OPT_GROUP, .sub = bus_options,
	 .offset = offsetof(struct core_conf, bus), .help = "the event bus"},
	{.name = "store", .type = BM_OPT_GROUP, .sub = store_options,
	 .offset = offsetof(struct core_conf, store), .help = "the embedded store"},
	{.name = "query", .type = BM_OPT_GROUP, .sub = query_options,
	 .offset = offsetof(struct core_conf, query), .help = "the PromQL engine"},
	BM_OPTION_END,
};

struct inst_host {
	char *plugin;
	bool enabled;
	int64_t interval_ms;
	bool isolate;
};

const struct bm_option instance_host_options[] = {
	{.name = "plugin", .type = BM_OPT_STRING, .flags = BM_OPTF_REQUIRED,
	 .offset = offsetof(struct inst_host, plugin), .help = "KIND/NAME of the plugin, e.g. collector/cpu"},
	{.name = "enabled", .type = BM_OPT_BOOL, .def = "true",
	 .offset = offsetof(struct inst_host, enabled), .help = "run this instance"},
	{.name = "interval", .type = BM_OPT_DURATION, .flags = BM_OPTF_BOUNDED, .min = 10,
	 .max = 86400000, .offset = offsetof(struct inst_host, interval_ms),
	 .help = "collection interval (default: the core interval)"},
	{.name = "isolate", .type = BM_OPT_BOOL, .def = "false",
	 .offset = offsetof(struct inst_host, isolate),
	 .help = "run the plugin in a child process (reserved: not available in this build)"},
	BM_OPTION_END,
};

static const char *const plugin_kinds[] = {"collector", "analyzer", "optimizer", "notifier", "ui",
					   NULL};

static bool is_core_name(const char *name)
{
	for (const struct bm_option *o = core_options; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return true;
	return false;
}

static void add_parse_error(struct cfg_errs *errs, const char *path, config_t *doc)
{
	if (config_error_type(doc) == CONFIG_ERR_FILE_IO)
		cfg_errs_add(errs, false, "%s: cannot read config file: %s", path, strerror(errno));
	else
		cfg_errs_add(errs, false, "%s:%d: syntax error: %s",
			     config_error_file(doc) ? config_error_file(doc) : path,
			     config_error_line(doc), config_error_text(doc));
}

static config_t *read_doc(const char *path, struct cfg_errs *errs)
{
	config_t *doc = calloc(1, sizeof(*doc));
	if (!doc)
		return NULL;
	config_init(doc);
	if (config_read_file(doc, path) != CONFIG_TRUE) {
		add_parse_error(errs, path, doc);
		config_destroy(doc);
		free(doc);
		return NULL;
	}
	return doc;
}

static int add_doc(struct cfg *cfg, config_t *doc)
{
	config_t **v = realloc(cfg->docs, (cfg->n_docs + 1) * sizeof(*v));
	if (!v)
		return -1;
	v[cfg->n_docs++] = doc;
	cfg->docs = v;
	return 0;
}

/* The include dir comes from the main file (or --set) before validation. */
static char *include_dir_of(const struct cfg *cfg)
{
	const char *dir = "conf.d";
	config_lookup_string(cfg->docs[0], "include_dir", &dir);
	if (dir[0] == '/' || dir[0] == '\0')
		return strdup(dir);
	char *copy = strdup(cfg->path);
	char *out = NULL;
	if (copy && asprintf(&out, "%s/%s", dirname(copy), dir) < 0)
		out = NULL;
	free(copy);
	return out;
}

static void read_includes(struct cfg *cfg, struct cfg_errs *errs)
{
	char *dir = include_dir_of(cfg);
	if (!dir || !*dir) {
		free(dir);
		return;
	}
	char *pattern = NULL;
	glob_t g = {0};
	if (asprintf(&pattern, "%s/*.conf", dir) >= 0 && glob(pattern, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			config_t *doc = read_doc(g.gl_pathv[i], errs);
			if (doc && add_doc(cfg, doc)) {
				config_destroy(doc);
				free(doc);
			}
		}
	}
	globfree(&g);
	free(pattern);
	free(dir);
}

/* --- overrides ------------------------------------------------------- */

static bool all_digits(const char *s)
{
	return *s && s[strspn(s, "0123456789")] == '\0';
}

/* The document whose root holds top-level key name (instances may live in
 * conf.d files); the main file when no file has it. */
static config_setting_t *root_for(struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_docs; i++) {
		config_setting_t *root = config_root_setting(cfg->docs[i]);
		if (config_setting_get_member(root, name))
			return root;
	}
	return config_root_setting(cfg->docs[0]);
}

/* --set KEY=["a", "b"]: the value read as a libconfig array of strings
 * into array s. Returns 0 on success. */
static int set_string_list(config_setting_t *s, const char *value)
{
	config_t tmp;
	char *doc = NULL;
	int rc = -1;
	config_init(&tmp);
	if (asprintf(&doc, "v = %s;", value) >= 0 && config_read_string(&tmp, doc) == CONFIG_TRUE) {
		const config_setting_t *v = config_lookup(&tmp, "v");
		rc = v && config_setting_type(v) == CONFIG_TYPE_ARRAY ? 0 : -1;
		for (int i = 0; rc == 0 && i < config_setting_length(v); i++) {
			const char *e = config_setting_get_string_elem(v, i);
			if (!e || !config_setting_set_string_elem(s, -1, e))
				rc = -1;
		}
	}
	free(doc);
	config_destroy(&tmp);
	return rc;
}

/* Walk (creating groups as needed) to the parent of the last component. */
static config_setting_t *override_parent(struct cfg *cfg, char **parts, size_t n, const char *kv,
					 struct cfg_errs *errs)
{
	config_setting_t *cur = root_for(cfg, parts[0]);
	for (size_t i = 0; i + 1 < n; i++) {
		config_setting_t *next;
		int t = config_setting_type(cur);
		if (t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY) {
			if (!all_digits(parts[i])) {
				cfg_errs_add(errs, false, "--set %s: \"%s\" must be a list index", kv, parts[i]);
				return NULL;
			}
			next = config_setting_get_elem(cur, (unsigned)atoi(parts[i]));
			if (!next) {
				cfg_errs_add(errs, false, "--set %s: list index %s out of range (%d items)",
					     kv, parts[i], config_setting_length(cur));
				return NULL;
			}
		} else {
			next = config_setting_get_member(cur, parts[i]);
			if (!next) {
				next = config_setting_add(cur, parts[i], CONFIG_TYPE_GROUP);
				if (next)
					config_setting_set_hook(next, &cfg_override_mark);
			}
		}
		if (!next || !config_setting_is_aggregate(next)) {
			cfg_errs_add(errs, false, "--set %s: \"%s\" is not a group or list", kv, parts[i]);
			return NULL;
		}
		cur = next;
	}
	return cur;
}

static int apply_override(struct cfg *cfg, const char *kv, struct cfg_errs *errs)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv) {
		cfg_errs_add(errs, false, "--set %s: expected KEY=VALUE", kv);
		return -1;
	}
	char *key = strndup(kv, (size_t)(eq - kv));
	char *parts[16];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(key, ".", &save); t && n < 16; t = strtok_r(NULL, ".", &save))
		parts[n++] = t;
	int rc = -1;
	config_setting_t *parent = n ? override_parent(cfg, parts, n, kv, errs) : NULL;
	if (!parent)
		goto out;
	const char *leaf = parts[n - 1];
	if (config_setting_type(parent) != CONFIG_TYPE_GROUP) {
		cfg_errs_add(errs, false, "--set %s: cannot set a list element directly", kv);
		goto out;
	}
	if (config_setting_get_member(parent, leaf))
		config_setting_remove(parent, leaf);
	bool list = eq[1] == '[';
	config_setting_t *s = config_setting_add(parent, leaf, list ? CONFIG_TYPE_ARRAY : CONFIG_TYPE_STRING);
	if (!s) {
		cfg_errs_add(errs, false, "--set %s: \"%s\" is not a valid option name", kv, leaf);
		goto out;
	}
	if (list ? set_string_list(s, eq + 1) : !config_setting_set_string(s, eq + 1)) {
		cfg_errs_add(errs, false, "--set %s: a list value is [\"a\", \"b\"], strings only", kv);
		goto out;
	}
	config_setting_set_hook(s, &cfg_override_mark);
	rc = 0;
out:
	free(key);
	return rc;
}

/* --- instances -------------------------------------------------------- */

static void where_of(const config_setting_t *s, char *buf, size_t n)
{
	const char *file = config_setting_source_file(s);
	if (file)
		snprintf(buf, n, "%s:%u", file, config_setting_source_line(s));
	else
		snprintf(buf, n, "--set %s", config_setting_name(s));
}

/* Canonical text of a setting tree, for "changed on reload?". */
static void fingerprint(FILE *f, const config_setting_t *s)
{
	const char *name = config_setting_name(s);
	fprintf(f, "%s:", name ? name : "");
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY:
		fputc(config_setting_type(s) == CONFIG_TYPE_GROUP ? '{' : '[', f);
		for (int i = 0; i < config_setting_length(s); i++)
			fingerprint(f, config_setting_get_elem(s, (unsigned)i));
		fputc('}', f);
		break;
	case CONFIG_TYPE_STRING: fprintf(f, "s%zu:%s", strlen(config_setting_get_string(s)), config_setting_get_string(s)); break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: fprintf(f, "i%lld", config_setting_get_int64(s)); break;
	case CONFIG_TYPE_FLOAT: fprintf(f, "f%.17g", config_setting_get_float(s)); break;
	case CONFIG_TYPE_BOOL: fprintf(f, "b%d", config_setting_get_bool(s)); break;
	default: break;
	}
	fputc(';', f);
}

static char *fingerprint_of(const config_setting_t *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fingerprint(f, s);
	fclose(f);
	return buf;
}

static bool split_plugin(const char *spec, char **kind, char **name)
{
	const char *slash = strchr(spec, '/');
	if (!slash || slash == spec || !slash[1])
		return false;
	*kind = strndup(spec, (size_t)(slash - spec));
	for (size_t i = 0; plugin_kinds[i]; i++)
		if (*kind && strcmp(*kind, plugin_kinds[i]) == 0) {
			*name = strdup(slash + 1);
			for (const char *p = *name; p && *p; p++)
				if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
					return false;
			return *name != NULL;
		}
	return false;
}

static void add_instance(struct cfg *cfg, const config_setting_t *block, struct cfg_errs *errs)
{
	const char *name = config_setting_name(block);
	char loc[512];
	where_of(block, loc, sizeof(loc));
	for (size_t i = 0; i < cfg->n_inst; i++) {
		if (strcmp(cfg->inst[i].name, name) == 0) {
			cfg_errs_add(errs, false, "%s: instance \"%s\": duplicate instance name (first defined at %s)",
				     loc, name, cfg->inst[i].where);
			return;
		}
	}
	if (is_core_name(name)) {
		cfg_errs_add(errs, false, "%s: instance \"%s\": name shadows the core section \"%s\"; pick another name",
			     loc, name, name);
		return;
	}
	struct inst_host host = {0};
	char what[300];
	snprintf(what, sizeof(what), "instance \"%s\"", name);
	struct schema_part parts[] = {{instance_host_options, &host}, {NULL, NULL}};
	size_t bad = schema_fill(parts, 2, block, what, errs);
	struct cfg_instance inst = {0};
	if (!bad && !split_plugin(host.plugin, &inst.kind, &inst.plugin)) {
		cfg_errs_add(errs, false, "%s: instance \"%s\": option \"plugin\": \"%s\" is not KIND/NAME with KIND one of collector, analyzer, optimizer, notifier, ui",
			     loc, name, host.plugin);
		bad++;
	}
	if (!bad && host.isolate && strcmp(inst.kind, "collector") != 0) {
		/* the plugin host has no bus subscriptions, timers or routes */
		cfg_errs_add(errs, false, "%s: instance \"%s\": option \"isolate\": isolated mode is for collectors only (a %s needs the daemon's bus and loop)",
			     loc, name, inst.kind);
		bad++;
	}
	struct cfg_instance *v = bad ? NULL : realloc(cfg->inst, (cfg->n_inst + 1) * sizeof(*v));
	if (!v) {
		free(inst.kind);
		free(inst.plugin);
		schema_release(instance_host_options, &host);
		return;
	}
	inst.name = strdup(name);
	inst.where = strdup(loc);
	inst.enabled = host.enabled;
	inst.isolate = host.isolate;
	inst.interval_ms = host.interval_ms ? host.interval_ms : cfg->core.interval_ms;
	inst.block = block;
	inst.fingerprint = fingerprint_of(block);
	v[cfg->n_inst++] = inst;
	cfg->inst = v;
	schema_release(instance_host_options, &host);
}

/* Top-level keys of one file: instance blocks, or core options (main file
 * only). */
static void scan_doc(struct cfg *cfg, size_t d, struct cfg_errs *errs)
{
	config_setting_t *root = config_root_setting(cfg->docs[d]);
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		bool block = config_setting_type(s) == CONFIG_TYPE_GROUP &&
			     config_setting_get_member(s, "plugin");
		if (block) {
			add_instance(cfg, s, errs);
		} else if (d > 0) {
			char loc[512];
			where_of(s, loc, sizeof(loc));
			cfg_errs_add(errs, false, "%s: \"%s\": only instance blocks (with plugin = \"KIND/NAME\") may appear in an included file; core options belong in %s",
				     loc, name, cfg->path);
		} else if (config_setting_type(s) == CONFIG_TYPE_GROUP && !is_core_name(name) &&
			   !config_setting_get_hook(s)) {
			char loc[512];
			where_of(s, loc, sizeof(loc));
			cfg_errs_add(errs, false, "%s: \"%s\": not a core section and has no plugin key; an instance block needs plugin = \"KIND/NAME\"",
				     loc, name);
		}
	}
}

/* Core options from the main file's root. Groups are instance blocks or
 * core sections (scan_doc reports the rest); other unknown top-level keys
 * are reported here, then the lenient fill validates the known ones. */
static void fill_core(struct cfg *cfg, struct cfg_errs *errs)
{
	config_setting_t *root = config_root_setting(cfg->docs[0]);
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		if (config_setting_type(s) == CONFIG_TYPE_GROUP || is_core_name(name))
			continue;
		char loc[512];
		where_of(s, loc, sizeof(loc));
		const char *best = schema_suggest(core_options, name);
		cfg_errs_add(errs, false, "%s: unknown core option \"%s\"%s%s%s", loc, name,
			     best ? "; did you mean \"" : "", best ? best : "", best ? "\"?" : "");
	}
	struct schema_part parts[] = {{core_options, &cfg->core}, {NULL, NULL}};
	schema_fill(parts, 2, root, "core", errs);
}

/* Running from the build tree, the build's plugins are the default;
 * installed, the installed plugin dir. */
static const char *default_plugin_dir(void)
{
#ifdef BM_BUILD_DIR
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if (strncmp(exe, BM_BUILD_DIR "/", strlen(BM_BUILD_DIR) + 1) == 0)
			return BM_BUILD_DIR "/plugins";
	}
#endif
	return BM_DEFAULT_PLUGIN_DIR;
}

struct cfg *cfg_load(const char *path, char *const *overrides, size_t n_overrides,
		     struct cfg_errs *errs)
{
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->path = strdup(path);
	config_t *main_doc = read_doc(path, errs);
	if (!cfg->path || !main_doc || add_doc(cfg, main_doc)) {
		if (main_doc) {
			config_destroy(main_doc);
			free(main_doc);
		}
		cfg_free(cfg);
		return NULL;
	}
	/* overrides of the include dir must apply before conf.d is read */
	for (size_t i = 0; i < n_overrides; i++)
		if (strncmp(overrides[i], "include_dir=", 12) == 0)
			apply_override(cfg, overrides[i], errs);
	read_includes(cfg, errs);
	for (size_t i = 0; i < n_overrides; i++)
		if (strncmp(overrides[i], "include_dir=", 12) != 0)
			apply_override(cfg, overrides[i], errs);
	fill_core(cfg, errs);
	if (cfg->core.plugin_dirs.n == 0) {
		char **v = malloc(sizeof(*v));
		if (v && (v[0] = strdup(default_plugin_dir()))) {
			cfg->core.plugin_dirs.v = v;
			cfg->core.plugin_dirs.n = 1;
		} else {
			free(v);
		}
	}
	for (size_t d = 0; d < cfg->n_docs; d++)
		scan_doc(cfg, d, errs);
	return cfg;
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_inst; i++) {
		free(cfg->inst[i].name);
		free(cfg->inst[i].kind);
		free(cfg->inst[i].plugin);
		free(cfg->inst[i].where);
		free(cfg->inst[i].fingerprint);
	}
	free(cfg->inst);
	schema_release(core_options, &cfg->core);
	for (size_t i = 0; i < cfg->n_docs; i++) {
		config_destroy(cfg->docs[i]);
		free(cfg->docs[i]);
	}
	free(cfg->docs);
	free(cfg->path);
	free(cfg);
}

size_t cfg_fill_instance(const struct cfg_instance *inst, const struct bm_option *opts,
			 void *conf, struct cfg_errs *errs)
{
	char what[300];
	snprintf(what, sizeof(what), "instance \"%s\" (%s/%s)", inst->name, inst->kind, inst->plugin);
	struct schema_part parts[] = {{opts, conf}, {instance_host_options, NULL}};
	return schema_fill(parts, 2, inst->block, what, errs);
}

const struct cfg_instance *cfg_find_instance(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_inst; i++)
		if (strcmp(cfg->inst[i].name, name) == 0)
			return &cfg->inst[i];
	return NULL;
}
