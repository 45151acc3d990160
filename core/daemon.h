/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon: one event loop, the bus, the HTTP listener, and the running
 * plugin instances built from the config; start, reload and shutdown.
 */
#ifndef BEARMON_CORE_DAEMON_H
#define BEARMON_CORE_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct event_base;
struct bus;
struct http;
struct bm_ctx;
struct selfmetrics;
struct store_sub;

struct daemon {
	struct event_base *loop;
	struct bus *bus;
	struct http *http;
	struct selfmetrics *sm;
	struct store_sub *store; /* NULL when the store is disabled */
	struct cfg *cfg;
	char *config_path;
	char *const *overrides;
	size_t n_overrides;
	struct bm_ctx **inst;
	size_t n_inst;
	int core_publisher; /* bus publisher id of the core itself */
	int64_t started_ms;
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	struct event *sig_ev[4];
	struct event *watchdog; /* every second: collections stuck too long */
	struct event *sd_watchdog; /* systemd's WatchdogSec ping, or NULL */
	int64_t clock_wall_ms, clock_mono_ms; /* last watchdog tick: clock jumps */
	uint64_t clock_jumps;
};

/*
 * Load and check a config as the daemon would (core options, every
 * instance's plugin and options), writing each problem as one line to out.
 * Returns the number of fatal problems.
 */
size_t daemon_check_config(const char *path, char *const *overrides, size_t n, FILE *out);

/* Build everything from the config and start it. Non-zero: refuse to start
 * (bad config at start); a bad plugin only disables its instance. */
int daemon_start(struct daemon *d, const char *path, char *const *overrides, size_t n);
/* Run the loop until SIGTERM/SIGINT. */
int daemon_run(struct daemon *d);
/* Re-read the config: changed instances restart, unchanged ones keep
 * running, and a config with errors is rejected (returns non-zero). */
int daemon_reload(struct daemon *d);
/* Stop collectors, drain the bus, stop the rest, free everything. */
void daemon_stop(struct daemon *d);

int64_t wall_ms(void);
int64_t mono_ms(void);

#endif
