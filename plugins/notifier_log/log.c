/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notifier/log: every alert as one log line, on stderr through the host's
 * log, in syslog(3), or in the systemd journal with the alert's fields.
 * The line is a template ({{ .Labels.alertname }}, notify.h) or the alert's
 * JSON. The priority follows the severity; resolutions are notices.
 */
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "journal.h"
#include "notify.h"

#define LOG_BATCH 64 /* lines written per round of the worker */

enum log_target { LOG_TARGET_STDERR, LOG_TARGET_SYSLOG, LOG_TARGET_JOURNAL };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

static const char *const log_targets[] = {"stderr", "syslog", "journal", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const log_facilities[] = {"user",   "daemon", "local0", "local1",
					     "local2", "local3", "local4", "local5",
					     "local6", "local7", NULL};
static const int log_facility_codes[] = {LOG_USER,   LOG_DAEMON, LOG_LOCAL0, LOG_LOCAL1,
					 LOG_LOCAL2, LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5,
					 LOG_LOCAL6, LOG_LOCAL7};

#define LOG_DEFAULT_TEMPLATE                                                                       \
	"alert {{ .Status }}: {{ .Labels.alertname }} severity={{ .Severity }} "                   \
	"value={{ .Value }} labels={ {{ .Labels }} } summary=\"{{ .Annotations.summary }}\" "     \
	"fingerprint={{ .Fingerprint }}"

struct log_conf {
	struct notify_conf common;
	int target;
	int format;
	char *template;
	int facility;
};

static const struct bm_option log_options[] = {
	{.name = "target", .type = BM_OPT_ENUM, .def = "stderr",
	 .offset = offsetof(struct log_conf, target), .enum_values = log_targets,
	 .help = "stderr (the daemon's own log), syslog, or journal (systemd)"},
	{.name = "format", .type = BM_OPT_ENUM, .def = "text",
	 .offset = offsetof(struct log_conf, format), .enum_values = log_formats,
	 .help = "text (the template) or json (the alert's JSON on one line)"},
	BM_OPTION("template", BM_OPT_STRING, LOG_DEFAULT_TEMPLATE, struct log_conf, template,
		  "the line with format text: {{ .Status }}, {{ .Labels.NAME }}, ... (README)"),
	{.name = "facility", .type = BM_OPT_ENUM, .def = "daemon",
	 .offset = offsetof(struct log_conf, facility), .enum_values = log_facilities,
	 .help = "syslog facility (target syslog)"},
	NOTIFY_OPTIONS(struct log_conf, common, "0"),
	BM_OPTION_END,
};

struct log_state {
	struct bm_ctx *ctx;
	const struct log_conf *conf;
	struct notify *n;
	struct bm_buf line; /* worker thread */
};

/* syslog priority: resolutions are notices, firing alerts by severity. */
static int log_priority(const struct notify_item *it)
{
	const char *sev = notify_alert_str(it->alert, "severity");
	if (it->state == BM_ALERT_RESOLVED)
		return LOG_NOTICE;
	return strcmp(sev, "emergency") == 0  ? LOG_CRIT
	       : strcmp(sev, "critical") == 0 ? LOG_ERR
	       : strcmp(sev, "warning") == 0  ? LOG_WARNING
					      : LOG_NOTICE;
}

/* The line for it, NUL-terminated in s->line: 0 or BM_ENOMEM. */
static int log_line(struct log_state *s, const struct notify_item *it)
{
	bm_buf_reset(&s->line);
	if (s->conf->format == LOG_FORMAT_JSON) {
		char *text = json_dumps(it->alert, JSON_COMPACT);
		int rc = text ? bm_buf_append(&s->line, text, strlen(text) + 1) : BM_ENOMEM;
		free(text);
		return rc;
	}
	int rc = notify_template_render(s->conf->template, it->alert, &s->line);
	return rc ? rc : bm_buf_append(&s->line, "", 1);
}

static void log_write(struct log_state *s, const struct notify_item *it, struct notify_attempt *a)
{
	int prio = log_priority(it);
	int64_t t0 = notify_mono_ms();
	a->receiver = log_targets[s->conf->target];
	a->verdict = NOTIFY_DELIVERED;
	if (log_line(s, it)) {
		a->verdict = NOTIFY_TRANSIENT;
		snprintf(a->error, sizeof(a->error), "out of memory");
	} else if (s->conf->target == LOG_TARGET_STDERR) {
		bm_log(s->ctx, prio < BM_LOG_ERR ? BM_LOG_ERR : prio, "%s", s->line.data);
	} else if (s->conf->target == LOG_TARGET_SYSLOG) {
		syslog(log_facility_codes[s->conf->facility] | prio, "%s", s->line.data);
	} else if (log_journal_send(prio, s->line.data, it->alert, notify_name(s->n), a->error,
				    sizeof(a->error))) {
		a->verdict = NOTIFY_TRANSIENT;
	}
	a->latency_ms = notify_mono_ms() - t0;
}

static void log_deliver(void *user, struct notify *n, struct notify_item *items, size_t k)
{
	struct log_state *s = user;
	for (size_t i = 0; i < k; i++) {
		struct notify_attempt a = {.verdict = NOTIFY_NONE};
		log_write(s, &items[i], &a);
		notify_record(n, &a, &items[i], 1);
	}
}

static int log_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct log_conf *c = conf;
	if (c->target == LOG_TARGET_JOURNAL && !log_journal_built())
		return bm_err_set(err, BM_EINVAL,
				  "target journal: bearmon was built without libsystemd "
				  "(libsystemd-dev); use stderr or syslog");
	int rc = notify_template_check(c->template, err);
	if (rc)
		return rc;
	struct log_state *s = calloc(1, sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = c;
	struct notify_params p = {.plugin = "log", .deliver = log_deliver, .user = s,
				  .max_batch = LOG_BATCH};
	rc = notify_new(ctx, &c->common, &p, &s->n, err);
	if (rc) {
		free(s);
		return rc;
	}
	*state = s;
	return 0;
}

static int log_start(void *state, struct bm_err *err)
{
	struct log_state *s = state;
	return notify_start(s->n, err);
}

static void log_stop(void *state)
{
	struct log_state *s = state;
	notify_stop(s->n);
}

static void log_fini(void *state)
{
	struct log_state *s = state;
	notify_free(s->n);
	bm_buf_free(&s->line);
	free(s);
}

static const struct bm_plugin_ops log_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = log_init,
	.start = log_start,
	.stop = log_stop,
	.fini = log_fini,
};

BM_PLUGIN_DEFINE(notifier, log, BM_KIND_NOTIFIER,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "alerts as log lines: stderr, syslog or the systemd journal",
		 .origin = "bearmon plugins/notifier_log",
		 .options = log_options,
		 .config_size = sizeof(struct log_conf),
		 .ops = &log_ops);
