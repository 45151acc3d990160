/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test host of the series analyzers (see anhost.h): event capture by
 * topic, the fake HTTP request of fakereq.h, and sample feeding through
 * the codec.
 */
#define _GNU_SOURCE
#include "anhost.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakehost.h"
#include "fakereq.h"

struct captured {
	char *topic;
	void *body;
	size_t len;
};

static struct {
	struct bm_host_api api;
	struct captured *ev;
	size_t n, cap;
} ah;

void anhost_reset(void)
{
	for (size_t i = 0; i < ah.n; i++) {
		free(ah.ev[i].topic);
		free(ah.ev[i].body);
	}
	free(ah.ev);
	ah.ev = NULL;
	ah.n = ah.cap = 0;
}

static int ah_publish(struct bm_ctx *ctx, const char *topic, const void *body, size_t len)
{
	(void)ctx;
	if (ah.n == ah.cap) {
		ah.cap = ah.cap ? 2 * ah.cap : 64;
		ah.ev = realloc(ah.ev, ah.cap * sizeof(*ah.ev));
	}
	struct captured *c = &ah.ev[ah.n++];
	c->topic = strdup(topic);
	c->body = malloc(len ? len : 1);
	memcpy(c->body, body, len);
	c->len = len;
	return 0;
}

size_t anhost_count(const char *topic)
{
	size_t n = 0;
	for (size_t i = 0; i < ah.n; i++)
		n += strcmp(ah.ev[i].topic, topic) == 0;
	return n;
}

const void *anhost_body(const char *topic, size_t i, size_t *len)
{
	for (size_t k = 0; k < ah.n; k++) {
		if (strcmp(ah.ev[k].topic, topic) != 0)
			continue;
		if (i-- == 0) {
			*len = ah.ev[k].len;
			return ah.ev[k].body;
		}
	}
	*len = 0;
	return NULL;
}

static int ah_route(struct bm_ctx *ctx, const char *path, unsigned flags, bm_http_cb cb,
		    void *user)
{
	(void)ctx;
	(void)path;
	(void)flags;
	(void)cb;
	(void)user;
	return 0;
}

const struct bm_host_api *anhost_api(void)
{
	ah.api = *fakehost_api();
	ah.api.publish = ah_publish;
	ah.api.http_route = ah_route;
	fakereq_install(&ah.api);
	anhost_reset();
	return &ah.api;
}

void anhost_feed(struct as_table *t, const char *name, const char *labels, int64_t ts_ms,
		 double v)
{
	struct bm_label l[8];
	char copy[512];
	uint32_t n = 0;
	snprintf(copy, sizeof(copy), "%s", labels);
	for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv && n < 8;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		*eq = '\0';
		l[n++] = (struct bm_label){kv, eq + 1};
	}
	struct bm_sample s = {name, l, n, ts_ms, v};
	struct bm_metric_batch b = {.source = "test", .samples = &s, .n_samples = 1};
	struct bm_buf buf = {0};
	if (bm_metric_batch_encode(&b, &buf) == 0)
		as_table_ingest(t, buf.data, buf.len);
	bm_buf_free(&buf);
}

json_t *anhost_get(bm_http_cb cb, void *user, const char *query, int *status)
{
	return fakereq_call(cb, user, "GET", NULL, query, NULL, status);
}

static double uniform(uint64_t *st)
{
	*st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
	return ((double)(*st >> 11) + 0.5) / 9007199254740992.0;
}

double anhost_noise(uint64_t *state)
{
	double u1 = uniform(state), u2 = uniform(state);
	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}
