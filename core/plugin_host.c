/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The isolated plugin host: `bearmond --plugin-host INSTANCE --fd N -c
 * CONFIG [--set ...]`, started by bearmond for an instance with isolate =
 * true. It loads the plugin through the same loader and option checks as
 * the daemon, runs the hooks bearmond asks for over the socket, and sends
 * back what the plugin publishes and logs. A crash or a runaway allocation
 * here takes down this process only; bearmond restarts it.
 *
 * Inside the host a plugin has logging, publishing (metric batches and
 * other events), identity and time; the calls that need the daemon's loop,
 * bus subscriptions or store (subscribe, timers, fd watches, HTTP routes,
 * self-metrics, store and PromQL queries) answer BM_ENOTSUP, so isolation
 * suits collectors, where third-party code mostly lives.
 */
#define _GNU_SOURCE
#include "plugin_host.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bearmon/bm_event.h"
#include "bus.h"
#include "config.h"
#include "daemon.h"
#include "host_api.h"
#include "instance.h"
#include "isolate_wire.h"
#include "log.h"
#include "plugin_loader.h"

static int g_fd = -1; /* the socket to bearmond */

static void ph_vlog(struct bm_ctx *ctx, int level, const char *fmt, va_list ap)
{
	(void)ctx;
	char text[1024];
	uint8_t lv[8];
	vsnprintf(text, sizeof(text), fmt, ap);
	iso_put_i64(lv, level);
	(void)iso_send(g_fd, ISO_LOG, lv, 8, text, strlen(text));
}

static bool ph_log_enabled(struct bm_ctx *ctx, int level)
{
	(void)ctx;
	(void)level;
	return true; /* bearmond applies its own level */
}

static int ph_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	(void)ctx;
	if (!topic || !*topic || (!body && len))
		return BM_EINVAL;
	return iso_send(g_fd, ISO_EVENT, topic, strlen(topic) + 1, body, len) ? BM_EIO : 0;
}

static int ph_publish_metrics(struct bm_ctx *ctx, const struct bm_metric_batch *b)
{
	(void)ctx;
	struct bm_buf buf = {0};
	int rc = bm_metric_batch_encode(b, &buf);
	if (!rc && iso_send(g_fd, ISO_METRICS, buf.data, buf.len, NULL, 0))
		rc = BM_EIO;
	bm_buf_free(&buf);
	return rc;
}

static int ph_subscribe(struct bm_ctx *c, const struct bm_sub_opts *o, bm_event_cb cb, void *u,
			struct bm_sub **out)
{
	(void)c, (void)o, (void)cb, (void)u, (void)out;
	return BM_ENOTSUP;
}

static int ph_timer_add(struct bm_ctx *c, int64_t ms, bm_timer_cb cb, void *u, struct bm_timer **out)
{
	(void)c, (void)ms, (void)cb, (void)u, (void)out;
	return BM_ENOTSUP;
}

static int ph_fd_watch(struct bm_ctx *c, int fd, unsigned ev, bm_fd_cb cb, void *u,
		       struct bm_fdwatch **out)
{
	(void)c, (void)fd, (void)ev, (void)cb, (void)u, (void)out;
	return BM_ENOTSUP;
}

static int ph_http_route(struct bm_ctx *c, const char *path, unsigned flags, bm_http_cb cb, void *u)
{
	(void)c, (void)path, (void)flags, (void)cb, (void)u;
	return BM_ENOTSUP;
}

static int ph_self_counter(struct bm_ctx *c, const char *n, const char *h, const uint64_t *v)
{
	(void)c, (void)n, (void)h, (void)v;
	return BM_ENOTSUP;
}

static int ph_self_gauge(struct bm_ctx *c, const char *n, const char *h, const double *v)
{
	(void)c, (void)n, (void)h, (void)v;
	return BM_ENOTSUP;
}

/* The daemon's table with the calls above in place of the in-process
 * ones; the store and PromQL entries are cleared (BM_HOST_HAS is false). */
static struct bm_host_api child_api(void)
{
	struct bm_host_api api = *host_api_table();
	api.vlog = ph_vlog;
	api.log_enabled = ph_log_enabled;
	api.publish = ph_publish;
	api.publish_metrics = ph_publish_metrics;
	api.subscribe = ph_subscribe;
	api.timer_add = ph_timer_add;
	api.fd_watch = ph_fd_watch;
	api.http_route = ph_http_route;
	api.self_counter = ph_self_counter;
	api.self_gauge = ph_self_gauge;
	size_t keep = offsetof(struct bm_host_api, store_series);
	memset((char *)&api + keep, 0, sizeof(api) - keep);
	api.api_size = keep; /* BM_HOST_HAS sees none of the later entries */
	return api;
}

static int reply(int rc, const struct bm_err *err)
{
	uint8_t v[8];
	iso_put_i64(v, rc);
	const char *msg = rc && err->msg[0] ? err->msg : "";
	return iso_send(g_fd, ISO_RESULT, v, 8, msg, strlen(msg));
}

/* One request from bearmond; false when the host should exit. */
static bool serve(struct bm_ctx *in, const struct iso_frame *f)
{
	const struct bm_plugin_ops *ops = &in->plugin->ops;
	struct bm_err err = {0};
	int rc = 0;
	switch (f->type) {
	case ISO_INIT:
		rc = ops->init(in, in->conf, &in->state, &err);
		break;
	case ISO_START:
		rc = ops->start ? ops->start(in->state, &err) : 0;
		break;
	case ISO_COLLECT:
		if (f->len != 8 || !ops->collect) {
			rc = bm_err_set(&err, BM_EINVAL, "bad collect request");
			break;
		}
		in->tick_ms = iso_get_i64(f->data);
		rc = ops->collect(in->state, in->tick_ms, &err);
		break;
	case ISO_STOP:
		if (ops->stop)
			ops->stop(in->state);
		break;
	case ISO_FINI:
		if (ops->fini)
			ops->fini(in->state);
		in->state = NULL;
		reply(0, &err);
		return false;
	default:
		rc = bm_err_set(&err, BM_EPROTO, "unknown request %d", f->type);
	}
	return reply(rc, &err) == 0;
}

int plugin_host_run(const char *config, char *const *sets, size_t n_sets, const char *instance,
		    int fd)
{
	struct cfg_errs errs = {0};
	struct daemon d = {0};
	struct bm_err err = {0};
	g_fd = fd;
	signal(SIGPIPE, SIG_IGN);
	d.cfg = cfg_load(config, sets, n_sets, &errs);
	const struct cfg_instance *ci = d.cfg ? cfg_find_instance(d.cfg, instance) : NULL;
	d.bus = bus_new(NULL);
	struct bm_ctx *in = ci && d.bus && !loader_init() ? instance_new(&d, ci, &errs) : NULL;
	if (!in || !in->plugin || in->st == INST_FAILED) {
		bm_err_set(&err, BM_EINVAL, "plugin host: cannot load instance %s: %s", instance,
			   in ? in->error : errs.n ? errs.lines[0] : "not in the config");
		reply(BM_EINVAL, &err); /* the answer to bearmond's init */
	} else {
		static struct bm_host_api api;
		api = child_api();
		*in->plugin->desc.host_slot = &api;
		struct iso_frame f;
		while (iso_recv(fd, &f, -1) == 0) {
			bool go_on = serve(in, &f);
			iso_frame_free(&f);
			if (!go_on)
				break;
		}
		in->st = INST_STOPPED; /* hooks done here: instance_free must not call stop */
	}
	instance_free(in);
	bus_free(d.bus);
	cfg_free(d.cfg);
	cfg_errs_free(&errs);
	loader_exit();
	close(fd);
	return 0;
}
