/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notifier/alertmanager: sends alerts to Alertmanager's API v2 (POST
 * /api/v2/alerts, postableAlerts) at every configured Alertmanager, as
 * Prometheus does, and re-sends the firing ones every resend_delay with
 * endsAt four resend delays ahead, so that Alertmanager neither expires
 * them while they fire nor keeps them when bearmon is gone. The firing set
 * survives restarts in active.json beside the queue.
 */
#define _GNU_SOURCE
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

#define AM_API_PATH "/api/v2/alerts"
#define AM_ACTIVE_FILE "active.json"

struct am_conf {
	struct notify_conf common;
	struct bm_strlist urls;
	struct notify_http_conf http;
	int64_t resend_delay_ms;
	struct bm_map external_labels;
};

static const struct bm_option am_options[] = {
	BM_OPTION("urls", BM_OPT_STRING_LIST, "http://127.0.0.1:9093", struct am_conf, urls,
		  "Alertmanager base URLs; every alert goes to each (" AM_API_PATH " is appended)"),
	NOTIFY_HTTP_OPTIONS(struct am_conf, http),
	BM_OPTION_BOUNDED("resend_delay", BM_OPT_DURATION, "1m", struct am_conf, resend_delay_ms,
			  1000, 3600000, "firing alerts are sent again this often"),
	BM_OPTION("external_labels", BM_OPT_MAP, NULL, struct am_conf, external_labels,
		  "labels added to every alert that lacks them (as Prometheus' external_labels)"),
	NOTIFY_OPTIONS(struct am_conf, common, "0"),
	NOTIFY_BATCH_OPTIONS(struct am_conf, common),
	BM_OPTION_END,
};

struct am {
	struct bm_ctx *ctx;
	const struct am_conf *conf;
	struct notify *n;
	char **endpoints;  /* urls with AM_API_PATH */
	json_t *active;    /* worker thread: fingerprint -> firing alert as delivered */
	char *active_path;
};

/* labels plus the external labels it lacks: a new object. */
static json_t *am_labels(const struct am *m, const json_t *alert)
{
	json_t *l = json_deep_copy(json_object_get(alert, "labels"));
	const struct bm_map *ext = &m->conf->external_labels;
	for (size_t i = 0; l && i < ext->n; i++)
		if (!json_object_get(l, ext->keys[i]) &&
		    json_object_set_new(l, ext->keys[i], json_string(ext->values[i]))) {
			json_decref(l);
			return NULL;
		}
	return l;
}

/* One postableAlert. A firing alert ends four resend delays from now unless
 * it is sent again (Prometheus' ValidUntil); a resolved one at its end. */
static json_t *am_postable(const struct am *m, const json_t *alert, int64_t now_ms)
{
	char ends[NOTIFY_TIME_LEN];
	bool firing = strcmp(notify_alert_str(alert, "status"), "firing") == 0;
	if (firing)
		notify_time_text(now_ms + 4 * m->conf->resend_delay_ms, ends);
	else
		snprintf(ends, sizeof(ends), "%s", notify_alert_str(alert, "endsAt"));
	json_t *ann = json_object_get(alert, "annotations");
	return json_pack("{s:o, s:o, s:s, s:s, s:s}", "labels", am_labels(m, alert), "annotations",
			 ann ? json_incref(ann) : json_object(), "startsAt", notify_alert_str(alert, "startsAt"),
			 "endsAt", ends, "generatorURL", notify_alert_str(alert, "generatorURL"));
}

static char *am_body(const struct am *m, const struct notify_item *items, size_t k)
{
	json_t *arr = json_array();
	int64_t now = bm_now_ms(m->ctx);
	for (size_t i = 0; arr && i < k; i++)
		if (json_array_append_new(arr, am_postable(m, items[i].alert, now))) {
			json_decref(arr);
			arr = NULL;
		}
	char *body = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return body;
}

static void am_save_active(struct am *m)
{
	char *text = json_dumps(m->active, JSON_COMPACT);
	if (!text || notify_write_file(m->active_path, text, strlen(text)))
		bm_log_warn(m->ctx, "cannot write %s: the firing set will not survive a restart",
			    m->active_path);
	free(text);
}

/* Track what Alertmanager now holds as firing, from what it accepted. */
static void am_track(struct am *m, const struct notify_item *items, size_t k)
{
	bool changed = false;
	for (size_t i = 0; i < k; i++) {
		if (items[i].verdict != NOTIFY_DELIVERED)
			continue;
		if (items[i].state == BM_ALERT_FIRING) {
			json_t *old = json_object_get(m->active, items[i].fingerprint);
			if (old && json_equal(old, items[i].alert))
				continue;
			json_object_set_new(m->active, items[i].fingerprint,
					    json_deep_copy(items[i].alert));
			changed = true;
		} else if (json_object_get(m->active, items[i].fingerprint)) {
			json_object_del(m->active, items[i].fingerprint);
			changed = true;
		}
	}
	if (changed)
		am_save_active(m);
}

/* Every Alertmanager gets every alert; one that accepted it is enough, as
 * Alertmanagers of a cluster share what they receive. */
static void am_deliver(void *user, struct notify *n, struct notify_item *items, size_t k)
{
	struct am *m = user;
	char recv[512];
	char *body = am_body(m, items, k);
	for (size_t u = 0; u < m->conf->urls.n; u++) {
		struct notify_attempt a = {.verdict = NOTIFY_TRANSIENT};
		if (body)
			notify_http_post(n, &m->conf->http, m->endpoints[u], "application/json", body,
					 strlen(body), NULL, &a, recv, sizeof(recv));
		else
			snprintf(a.error, sizeof(a.error), "out of memory");
		notify_record(n, &a, items, k);
	}
	free(body);
	am_track(m, items, k);
}

/* Re-send every firing alert, so that Alertmanager keeps it. */
static void am_resend(void *user, struct notify *n)
{
	struct am *m = user;
	const char *fp;
	json_t *alert;
	if (!json_object_size(m->active))
		return;
	json_t *arr = json_array();
	json_object_foreach(m->active, fp, alert)
		if (arr && json_array_append(arr, alert)) {
			json_decref(arr);
			arr = NULL;
		}
	if (!arr) {
		bm_log_warn(m->ctx, "out of memory: firing alerts not re-sent this time");
		return;
	}
	notify_send_unqueued(n, arr, "resend");
	json_decref(arr);
}

static void am_load_active(struct am *m)
{
	json_error_t je;
	m->active = json_load_file(m->active_path, 0, &je);
	if (json_is_object(m->active))
		return;
	json_decref(m->active);
	m->active = json_object();
}

static int am_endpoints(struct am *m, struct bm_err *err)
{
	const struct bm_strlist *u = &m->conf->urls;
	if (!u->n)
		return bm_err_set(err, BM_EINVAL, "urls is empty: name at least one Alertmanager");
	if (!(m->endpoints = calloc(u->n, sizeof(*m->endpoints))))
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	for (size_t i = 0; i < u->n; i++) {
		size_t len = strlen(u->v[i]);
		if (strncmp(u->v[i], "http://", 7) != 0 && strncmp(u->v[i], "https://", 8) != 0)
			return bm_err_set(err, BM_EINVAL, "urls[%zu] \"%s\" must start with http:// or https://",
					  i, u->v[i]);
		while (len && u->v[i][len - 1] == '/')
			len--;
		if (asprintf(&m->endpoints[i], "%.*s" AM_API_PATH, (int)len, u->v[i]) < 0) {
			m->endpoints[i] = NULL;
			return bm_err_set(err, BM_ENOMEM, "out of memory");
		}
	}
	return 0;
}

static void am_free(struct am *m)
{
	notify_free(m->n);
	for (size_t i = 0; m->endpoints && i < m->conf->urls.n; i++)
		free(m->endpoints[i]);
	free(m->endpoints);
	json_decref(m->active);
	free(m->active_path);
	free(m);
}

static int am_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct am_conf *c = conf;
	struct am *m = calloc(1, sizeof(*m));
	if (!m)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	m->ctx = ctx;
	m->conf = c;
	struct notify_params p = {
		.plugin = "alertmanager", .deliver = am_deliver, .user = m,
		.max_batch = (size_t)c->common.max_batch, .group_wait_ms = c->common.group_wait_ms,
		.tick = am_resend, .tick_ms = c->resend_delay_ms,
	};
	int rc = am_endpoints(m, err);
	if (!rc)
		rc = notify_http_check(&c->http, err);
	if (!rc)
		rc = notify_new(ctx, &c->common, &p, &m->n, err);
	if (!rc && asprintf(&m->active_path, "%s/" AM_ACTIVE_FILE, notify_dir(m->n)) < 0) {
		m->active_path = NULL;
		rc = bm_err_set(err, BM_ENOMEM, "out of memory");
	}
	if (rc) {
		am_free(m);
		return rc;
	}
	am_load_active(m);
	if (json_object_size(m->active))
		bm_log_info(ctx, "%zu firing alerts from the previous run are re-sent every %lld ms",
			    json_object_size(m->active), (long long)c->resend_delay_ms);
	*state = m;
	return 0;
}

static int am_start(void *state, struct bm_err *err)
{
	struct am *m = state;
	return notify_start(m->n, err);
}

static void am_stop(void *state)
{
	struct am *m = state;
	notify_stop(m->n);
}

static void am_fini(void *state)
{
	am_free(state);
}

static const struct bm_plugin_ops am_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = am_init,
	.start = am_start,
	.stop = am_stop,
	.fini = am_fini,
};

BM_PLUGIN_DEFINE(notifier, alertmanager, BM_KIND_NOTIFIER,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "alerts to Alertmanager's API v2, re-sent while they fire",
		 .origin = "bearmon plugins/notifier_alertmanager",
		 .options = am_options,
		 .config_size = sizeof(struct am_conf),
		 .ops = &am_ops);
