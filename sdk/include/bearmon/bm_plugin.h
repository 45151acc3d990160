/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin descriptor: the one symbol a plugin .so exports. The host
 * checks the frozen header (magic, ABI major/minor, size) before it trusts
 * anything else in it. Use BM_PLUGIN_DEFINE() rather than filling it by hand.
 */
#ifndef BEARMON_BM_PLUGIN_H
#define BEARMON_BM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "bm_err.h"
#include "bm_option.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "BMPL" as a little-endian 32-bit word. */
#define BM_PLUGIN_MAGIC 0x4c504d42u

/*
 * ABI version. Major: incompatible change, the host refuses other majors.
 * Minor: append-only growth (new descriptor fields at the end, new host API
 * entries at the end, new event topics or trailing event fields); a plugin
 * built against an older or equal minor loads.
 */
#define BM_ABI_MAJOR 1
#define BM_ABI_MINOR 2 /* 1.1: store queries in the host API; 1.2: the
			  * BM_TOPIC_EVENTS subscription, http_takeover, promql,
			  * BM_HTTP_READONLY, descriptor capabilities */

/* Binary-compatibility signature: sizes of the basic types. A plugin built
 * for another data model (32-bit, different time_t) is refused. */
#define BM_BUILD_SIG                                                           \
	((uint32_t)(sizeof(void *) | (sizeof(long) << 4) | (sizeof(size_t) << 8) | \
		    (sizeof(double) << 12) | (sizeof(int64_t) << 16) | (1u << 28)))

enum bm_plugin_kind {
	BM_KIND_COLLECTOR = 1,
	BM_KIND_ANALYZER,
	BM_KIND_OPTIMIZER,
	BM_KIND_NOTIFIER,
	BM_KIND_UI,
};

/* Opaque per-instance handle the host passes to every hook and that every
 * host API call takes. Valid from init until fini returns. */
struct bm_ctx;

/*
 * Lifecycle hooks. The host calls them on its main thread, in this order,
 * once per instance: init -> start -> (collect ...) -> stop -> fini.
 * A failing init or start disables that instance (logged) and the daemon
 * runs on. fini is called exactly when init succeeded (also when start
 * then failed); stop exactly when start succeeded.
 *
 * init   conf points to a filled struct of desc->config_size bytes, owned by
 *        the host and valid until fini returns. The plugin allocates its
 *        per-instance state and stores it in *state. Subscriptions, routes,
 *        timers and self-metrics may be registered here or in start.
 * start  begin work (open sockets, start threads).
 * stop   end work; after stop returns the host removes the instance's
 *        timers, fd watches, routes and subscriptions and no callback of
 *        this instance runs any more.
 * fini   free what init allocated. The host frees conf afterwards.
 * collect (collectors) called every `interval` on the instance's own
 *        collection thread, never concurrently with itself; now_ms is the
 *        scheduled wall-clock tick (ms since the epoch), to be used as the
 *        samples' timestamp. Return 0, or a BM_E* code with err filled:
 *        counted as a failed collection (bearmon_collect_success 0).
 */
struct bm_plugin_ops {
	size_t ops_size; /* sizeof(struct bm_plugin_ops) at plugin build time */
	int (*init)(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err);
	int (*start)(void *state, struct bm_err *err);
	void (*stop)(void *state);
	void (*fini)(void *state);
	int (*collect)(void *state, int64_t now_ms, struct bm_err *err);
	/* since 1.0: append new hooks below, never reorder */
};

struct bm_host_api;

/*
 * The descriptor. The first four fields are a frozen header and never
 * change in any ABI major; the host reads fields past desc_size as zero.
 * All strings and tables are static and owned by the plugin.
 */
struct bm_plugin_desc {
	uint32_t magic;     /* BM_PLUGIN_MAGIC */
	uint16_t abi_major; /* BM_ABI_MAJOR at build time */
	uint16_t abi_minor; /* BM_ABI_MINOR at build time */
	uint32_t desc_size; /* sizeof(struct bm_plugin_desc) at build time */
	uint32_t build_sig; /* BM_BUILD_SIG at build time */
	/* end of the frozen header */
	const char *name;        /* [a-z0-9_]+, matches the file name */
	enum bm_plugin_kind kind;
	const char *version;     /* plugin's own version, e.g. "1.2.0" */
	const char *license;     /* SPDX identifier */
	const char *description; /* one line */
	const char *origin;      /* URL or vendor */
	const struct bm_option *options; /* {0}-terminated; may be NULL */
	size_t config_size;              /* bytes of the filled conf struct */
	const struct bm_plugin_ops *ops;
	/* The host stores its API table here before init; the SDK's inline
	 * wrappers read it. Filled by BM_PLUGIN_DEFINE. */
	const struct bm_host_api **host_slot;
	/* since 1.2: the Linux capabilities the plugin needs when bearmond runs
	 * as an unprivileged user (core option `user`): BM_CAP_* bits below.
	 * bearmond keeps the union over its enabled instances and drops the
	 * rest; 0 = none. */
	uint64_t capabilities;
	/* since 1.0: append new fields below, never reorder */
};

/* Capability bits for .capabilities: 1 << the Linux capability number. */
#define BM_CAP(n) (1ULL << (n))
#define BM_CAP_DAC_OVERRIDE BM_CAP(1)    /* write files regardless of mode (cgroup knobs) */
#define BM_CAP_DAC_READ_SEARCH BM_CAP(2) /* read any file and directory */
#define BM_CAP_KILL BM_CAP(5)
#define BM_CAP_NET_ADMIN BM_CAP(12)      /* e.g. SO_RCVBUFFORCE */
#define BM_CAP_NET_RAW BM_CAP(13)
#define BM_CAP_SYS_PTRACE BM_CAP(19)     /* other users' /proc/PID/io, fd, ... */
#define BM_CAP_SYS_ADMIN BM_CAP(21)
#define BM_CAP_SYS_NICE BM_CAP(23)       /* renice, CPU affinity of other processes */
#define BM_CAP_SYS_RESOURCE BM_CAP(24)

/* Smallest descriptor the host accepts (ABI 1.0). */
#define BM_PLUGIN_DESC_MIN_SIZE (offsetof(struct bm_plugin_desc, host_slot) + sizeof(void *))

/* Holds the host API table for the SDK wrappers; defined (hidden) by
 * BM_PLUGIN_DEFINE, so each plugin .so has its own copy and a collector
 * needs nothing but these headers. */
extern const struct bm_host_api *bm__host_api __attribute__((visibility("hidden")));

#define BM__STR(x) #x
#define BM__XSTR(x) BM__STR(x)
#define BM__SYM(pkind, pname) bm_##pkind##_##pname##_LTX_bm_plugin_desc

/*
 * Define the descriptor of plugin NAME of KIND (collector, analyzer,
 * optimizer, notifier, ui). The .so must be named bm_KIND_NAME.so; the
 * symbol is bm_KIND_NAME_LTX_bm_plugin_desc so that libltdl finds it by
 * module name and static preloading never clashes; a plain bm_plugin_desc
 * alias lets the host say precisely what is wrong with a renamed file. Remaining arguments
 * are designated initialisers: .version, .description, .options, ...
 *
 *   BM_PLUGIN_DEFINE(collector, uptime, BM_KIND_COLLECTOR,
 *                    .version = "1.0.0", .license = "Apache-2.0", ...);
 */
#define BM_PLUGIN_DEFINE(pkind, pname, kind_enum, ...)                                   \
	__attribute__((visibility("hidden"))) const struct bm_host_api *bm__host_api;      \
	__attribute__((visibility("default"))) const struct bm_plugin_desc BM__SYM(pkind, pname) = { \
		.magic = BM_PLUGIN_MAGIC,                                                 \
		.abi_major = BM_ABI_MAJOR,                                                \
		.abi_minor = BM_ABI_MINOR,                                                \
		.desc_size = sizeof(struct bm_plugin_desc),                               \
		.build_sig = BM_BUILD_SIG,                                                \
		.name = BM__STR(pname),                                                   \
		.kind = (kind_enum),                                                      \
		.host_slot = &bm__host_api,                                               \
		__VA_ARGS__};                                                             \
	extern const struct bm_plugin_desc bm_plugin_desc                                 \
		__attribute__((alias(BM__XSTR(BM__SYM(pkind, pname))), visibility("default")))

#ifdef __cplusplus
}
#endif
#endif /* BEARMON_BM_PLUGIN_H */
