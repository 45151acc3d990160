/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's configuration: the main libconfig file plus conf.d/NAME.conf,
 * core options (declared as a bm_option table like any plugin's), instance
 * blocks, and --set KEY=VALUE overrides.
 *
 * Grammar: a top-level group with a `plugin` key is an instance block,
 *
 *     cpu_main = {
 *         plugin   = "collector/cpu";  # KIND/NAME, required
 *         enabled  = true;             # host-owned, default true
 *         interval = "10s";            # host-owned, default: core interval
 *         isolate  = false;            # host-owned, default false
 *         per_cpu  = true;             # the plugin's own options
 *     };
 *
 * every other top-level key is a core option or section (http, logging,
 * bus, store, ...). Instance names are unique across all files and may not
 * shadow a core name.
 */
#ifndef BEARMON_CORE_CONFIG_H
#define BEARMON_CORE_CONFIG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>

#include "config_schema.h"

struct core_conf {
	char *data_dir;
	struct bm_strlist plugin_dirs;
	char *include_dir;
	int64_t interval_ms;
	int64_t self_metrics_interval_ms;
	int64_t shutdown_timeout_ms;
	int64_t watchdog_timeout_ms; /* a collection running longer fails its instance */
	uint64_t isolate_memory_limit; /* bytes of RSS of a plugin host; 0 = none */
	char *user; /* run as this user after start; "" = stay */
	int64_t plugin_deadline_ms;
	struct {
		int level;
		int target;
		int64_t ratelimit_burst;
		int64_t ratelimit_interval_ms;
	} logging;
	struct {
		char *listen;
		uint64_t max_body;
		int64_t timeout_ms;
		int64_t request_timeout_ms; /* a whole request within this */
		char *read_token_file;
		char *admin_token_file;
		char *tls_cert;
		char *tls_key;
		double rate_limit;
		int64_t rate_burst;
	} http;
	struct {
		int64_t queue_len;
		int64_t block_timeout_ms;
	} bus;
	struct {
		bool enabled;
		char *path;        /* relative: to data_dir */
		int64_t flush_ms;
		int64_t chunk_samples;
		int64_t queue_len; /* bus queue of the store's subscription */
		int64_t retention_raw_ms;
		int64_t retention_1m_ms;
		int64_t retention_1h_ms;
		int64_t retention_events_ms;  /* analysis events */
		int64_t retention_history_ms; /* alert, notification, action history */
	} store;
	struct {
		int64_t lookback_delta_ms; /* PromQL: how far back a selector looks */
		int64_t max_samples;       /* PromQL: samples one query may load */
	} query;
};

extern const struct bm_option core_options[];
/* Keys every instance block has; plugins may not declare them. */
extern const struct bm_option instance_host_options[];

struct cfg_instance {
	char *name;
	char *kind;   /* "collector", ... */
	char *plugin; /* "cpu" */
	char *where;  /* "FILE:LINE" of the block */
	bool enabled;
	bool isolate;
	int64_t interval_ms;
	const config_setting_t *block;
	char *fingerprint; /* canonical text of the block: equal = unchanged */
};

struct cfg {
	char *path;
	config_t **docs; /* main file first, then conf.d files in name order */
	size_t n_docs;
	struct core_conf core;
	struct cfg_instance *inst;
	size_t n_inst;
};

/*
 * Parse path and its include dir, apply overrides ("KEY=VALUE" strings,
 * as given to --set), validate core options and the host-owned keys of
 * every instance. Returns a config (also when errs has fatal lines: check
 * cfg_errs_fatal) or NULL when nothing could be read.
 */
struct cfg *cfg_load(const char *path, char *const *overrides, size_t n_overrides,
		     struct cfg_errs *errs);
void cfg_free(struct cfg *cfg);

/* Validate an instance block against its plugin's table and fill conf
 * (zeroed, config_size bytes). Returns the number of fatal errors added. */
size_t cfg_fill_instance(const struct cfg_instance *inst, const struct bm_option *opts,
			 void *conf, struct cfg_errs *errs);

const struct cfg_instance *cfg_find_instance(const struct cfg *cfg, const char *name);

#endif
