/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notifier/webhook: POSTs alerts as JSON in Alertmanager's webhook format
 * (version "4"), several alerts per request, optionally signed with
 * HMAC-SHA256 in a header. Queue, retries and events: common/notify.c.
 */
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

struct webhook_conf {
	struct notify_conf common;
	char *url;
	struct notify_http_conf http;
	char *hmac_secret;
	char *signature_header;
	char *external_url;
};

static const struct bm_option webhook_options[] = {
	BM_OPTION("url", BM_OPT_STRING, NULL, struct webhook_conf, url,
		  "receiver, http:// or https:// (unset: every alert fails, with a warning)"),
	NOTIFY_HTTP_OPTIONS(struct webhook_conf, http),
	{.name = "hmac_secret", .type = BM_OPT_STRING, .flags = BM_OPTF_SECRET,
	 .offset = offsetof(struct webhook_conf, hmac_secret),
	 .help = "sign each body with HMAC-SHA256 under this key (unset: no signature)"},
	BM_OPTION("signature_header", BM_OPT_STRING, "X-Bearmon-Signature", struct webhook_conf,
		  signature_header, "header that carries sha256=<hex HMAC-SHA256 of the body>"),
	BM_OPTION("external_url", BM_OPT_STRING, NULL, struct webhook_conf, external_url,
		  "the payload's externalURL: where people reach this bearmon"),
	NOTIFY_OPTIONS(struct webhook_conf, common, "0"),
	NOTIFY_BATCH_OPTIONS(struct webhook_conf, common),
	BM_OPTION_END,
};

struct webhook {
	struct bm_ctx *ctx;
	const struct webhook_conf *conf;
	struct notify *n;
};

/* Lower-case hex of HMAC-SHA256(key, body) into out (65 bytes): 0 or -1. */
static int webhook_sign(const char *key, const char *body, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body, len, md, &mdlen))
		return -1;
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* Members of key (labels or annotations) equal in every alert. */
static json_t *common_members(const struct notify_item *items, size_t k, const char *key)
{
	json_t *common = json_deep_copy(json_object_get(items[0].alert, key));
	const char *name;
	json_t *v, *tmp;
	if (!common)
		return json_object(); /* NULL when out of memory: json_pack fails */
	for (size_t i = 1; i < k; i++) {
		const json_t *other = json_object_get(items[i].alert, key);
		json_object_foreach_safe(common, tmp, name, v)
			if (!json_equal(v, json_object_get(other, name)))
				json_object_del(common, name);
	}
	return common;
}

/* Alertmanager's groupKey shape, {}:{name="value", ...}, over the common labels. */
static json_t *group_key(const json_t *common)
{
	struct bm_buf b = {0};
	json_t *key = NULL, *wrap = json_pack("{s:O}", "labels", common);
	int rc = wrap ? bm_buf_append(&b, "{}:{", 4) : BM_ENOMEM;
	if (!rc)
		rc = notify_template_render("{{ .Labels }}", wrap, &b);
	if (!rc && !bm_buf_append(&b, "}", 1))
		key = json_stringn(b.data, b.len);
	bm_buf_free(&b);
	json_decref(wrap);
	return key;
}

/* The body: Alertmanager's webhook payload, version 4. */
static json_t *webhook_payload(const struct webhook *w, const struct notify_item *items, size_t k)
{
	json_t *alerts = json_array();
	bool firing = false;
	int rc = alerts ? 0 : -1;
	for (size_t i = 0; !rc && i < k; i++) {
		firing |= items[i].state == BM_ALERT_FIRING;
		rc = json_array_append(alerts, items[i].alert);
	}
	if (rc) {
		json_decref(alerts);
		return NULL;
	}
	json_t *labels = common_members(items, k, "labels");
	/* "o" steals the reference, on failure too: nothing leaks */
	return json_pack("{s:s, s:o, s:i, s:s, s:s, s:o, s:o, s:o, s:s, s:o}", "version", "4",
			 "groupKey", group_key(labels), "truncatedAlerts", 0, "status",
			 firing ? "firing" : "resolved", "receiver", bm_instance_name(w->ctx),
			 "groupLabels", json_object(), "commonLabels", labels, "commonAnnotations",
			 common_members(items, k, "annotations"), "externalURL",
			 w->conf->external_url ? w->conf->external_url : "", "alerts", alerts);
}

static void fail_all(struct notify *n, struct notify_item *items, size_t k,
		     enum notify_verdict v, const char *receiver, const char *why)
{
	struct notify_attempt a = {.receiver = receiver, .verdict = v};
	snprintf(a.error, sizeof(a.error), "%s", why);
	notify_record(n, &a, items, k);
}

static void webhook_deliver(void *user, struct notify *n, struct notify_item *items, size_t k)
{
	struct webhook *w = user;
	const struct webhook_conf *c = w->conf;
	struct notify_attempt a = {.verdict = NOTIFY_NONE};
	struct curl_slist *extra = NULL;
	char recv[512], sig[65], line[320];
	if (!c->url || !*c->url) {
		fail_all(n, items, k, NOTIFY_PERMANENT, "(no url)", "url is not set");
		return;
	}
	notify_url_redact(c->url, recv, sizeof(recv));
	json_t *payload = webhook_payload(w, items, k);
	char *body = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	json_decref(payload);
	if (!body) {
		fail_all(n, items, k, NOTIFY_TRANSIENT, recv, "out of memory");
		return;
	}
	if (c->hmac_secret && *c->hmac_secret) {
		if (webhook_sign(c->hmac_secret, body, strlen(body), sig)) {
			free(body);
			fail_all(n, items, k, NOTIFY_TRANSIENT, recv, "HMAC failed");
			return;
		}
		snprintf(line, sizeof(line), "%s: sha256=%s", c->signature_header, sig);
		extra = curl_slist_append(NULL, line);
	}
	notify_http_post(n, &c->http, c->url, "application/json", body, strlen(body), extra, &a,
			 recv, sizeof(recv));
	notify_record(n, &a, items, k);
	curl_slist_free_all(extra);
	free(body);
}

static int webhook_check(const struct webhook_conf *c, struct bm_err *err)
{
	if (c->url && *c->url && strncmp(c->url, "http://", 7) != 0 &&
	    strncmp(c->url, "https://", 8) != 0)
		return bm_err_set(err, BM_EINVAL, "url \"%s\" must start with http:// or https://",
				  c->url);
	int rc = notify_header_check(c->signature_header ? c->signature_header : "", "", err);
	return rc ? rc : notify_http_check(&c->http, err);
}

static int webhook_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct webhook_conf *c = conf;
	int rc = webhook_check(c, err);
	if (rc)
		return rc;
	struct webhook *w = calloc(1, sizeof(*w));
	if (!w)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	w->ctx = ctx;
	w->conf = c;
	struct notify_params p = {
		.plugin = "webhook", .deliver = webhook_deliver, .user = w,
		.max_batch = (size_t)c->common.max_batch, .group_wait_ms = c->common.group_wait_ms,
	};
	rc = notify_new(ctx, &c->common, &p, &w->n, err);
	if (rc) {
		free(w);
		return rc;
	}
	if (!c->url || !*c->url)
		bm_log_warn(ctx, "url is not set: every alert will fail until it is");
	*state = w;
	return 0;
}

static int webhook_start(void *state, struct bm_err *err)
{
	struct webhook *w = state;
	return notify_start(w->n, err);
}

static void webhook_stop(void *state)
{
	struct webhook *w = state;
	notify_stop(w->n);
}

static void webhook_fini(void *state)
{
	struct webhook *w = state;
	notify_free(w->n);
	free(w);
}

static const struct bm_plugin_ops webhook_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = webhook_init,
	.start = webhook_start,
	.stop = webhook_stop,
	.fini = webhook_fini,
};

BM_PLUGIN_DEFINE(notifier, webhook, BM_KIND_NOTIFIER,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "alerts as JSON POSTs in Alertmanager's webhook format, HMAC-signed",
		 .origin = "bearmon plugins/notifier_webhook",
		 .options = webhook_options,
		 .config_size = sizeof(struct webhook_conf),
		 .ops = &webhook_ops);
