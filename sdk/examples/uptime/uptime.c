/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Example collector: publishes the host's uptime and idle time from
 * /proc/uptime, with the labels given in its config. Built out of tree
 * against the installed SDK headers only (see sdk/README.md).
 */
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>
#include <stdio.h>
#include <string.h>

struct uptime_conf {
	char *path;            /* where to read, for tests */
	struct bm_map labels;  /* extra labels on every sample */
	bool idle;             /* also publish idle seconds */
};

static const struct bm_option uptime_options[] = {
	BM_OPTION("path", BM_OPT_STRING, "/proc/uptime", struct uptime_conf, path,
		  "file to read uptime from"),
	BM_OPTION("labels", BM_OPT_MAP, NULL, struct uptime_conf, labels,
		  "labels added to every sample"),
	BM_OPTION("idle", BM_OPT_BOOL, "true", struct uptime_conf, idle,
		  "also publish the summed idle seconds of all CPUs"),
	BM_OPTION_END,
};

struct uptime {
	struct bm_ctx *ctx;
	const struct uptime_conf *conf;
	struct bm_label labels[16];
	uint32_t n_labels;
	uint64_t reads; /* self-metric: successful reads */
};

static int uptime_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct uptime_conf *c = conf;
	struct uptime *u = bm_alloc(sizeof(*u));
	if (!u)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	u->ctx = ctx;
	u->conf = c;
	for (size_t i = 0; i < c->labels.n && i < 16; i++)
		u->labels[u->n_labels++] = (struct bm_label){c->labels.keys[i], c->labels.values[i]};
	/* the bus wants labels sorted by name */
	for (uint32_t i = 1; i < u->n_labels; i++)
		for (uint32_t j = i; j > 0 && strcmp(u->labels[j - 1].name, u->labels[j].name) > 0; j--) {
			struct bm_label t = u->labels[j];
			u->labels[j] = u->labels[j - 1];
			u->labels[j - 1] = t;
		}
	bm_self_counter(ctx, "bearmon_example_uptime_reads_total", "successful reads", &u->reads);
	*state = u;
	return 0;
}

static int uptime_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct uptime *u = state;
	double up = 0, idle = 0;
	FILE *f = fopen(u->conf->path, "r");
	if (!f)
		return bm_err_set(err, BM_EIO, "cannot open %s", u->conf->path);
	int n = fscanf(f, "%lf %lf", &up, &idle);
	fclose(f);
	if (n != 2)
		return bm_err_set(err, BM_EPROTO, "%s: expected two numbers", u->conf->path);
	static const struct bm_metric_meta meta[] = {
		{"bearmon_example_uptime_seconds", BM_METRIC_GAUGE, "seconds", "time since boot"},
		{"bearmon_example_idle_seconds_total", BM_METRIC_COUNTER, "seconds", "idle time of all CPUs"},
	};
	struct bm_sample s[2] = {
		{meta[0].name, u->labels, u->n_labels, now_ms, up},
		{meta[1].name, u->labels, u->n_labels, now_ms, idle},
	};
	struct bm_metric_batch b = {.meta = meta, .n_meta = 2, .samples = s,
				    .n_samples = u->conf->idle ? 2 : 1};
	__atomic_add_fetch(&u->reads, 1, __ATOMIC_RELAXED);
	return bm_metrics_publish(u->ctx, &b);
}

static void uptime_fini(void *state) { bm_free(state); }

static const struct bm_plugin_ops uptime_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = uptime_init,
	.fini = uptime_fini,
	.collect = uptime_collect,
};

BM_PLUGIN_DEFINE(collector, uptime, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "example: host uptime and idle seconds from /proc/uptime",
		 .origin = "bearmon sdk/examples",
		 .options = uptime_options,
		 .config_size = sizeof(struct uptime_conf),
		 .ops = &uptime_ops);
