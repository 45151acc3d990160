/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notifier/log's journal sink through libsystemd's sd_journal_send(3): the
 * line as MESSAGE plus the alert as fields that journalctl can filter on
 * (journalctl BEARMON_ALERT_NAME=HighLoad).
 */
#include "journal.h"

#include <stdio.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "notify.h"

bool log_journal_built(void) { return true; }

int log_journal_send(int prio, const char *line, const json_t *alert, const char *notifier,
		     char *why, size_t why_n)
{
	int rc = sd_journal_send("MESSAGE=%s", line, "PRIORITY=%d", prio,
				 "SYSLOG_IDENTIFIER=bearmond", "BEARMON_NOTIFIER=%s", notifier,
				 "BEARMON_ALERT_NAME=%s", notify_alert_label(alert, "alertname"),
				 "BEARMON_ALERT_STATUS=%s", notify_alert_str(alert, "status"),
				 "BEARMON_ALERT_SEVERITY=%s", notify_alert_str(alert, "severity"),
				 "BEARMON_ALERT_FINGERPRINT=%s", notify_alert_str(alert, "fingerprint"),
				 NULL);
	if (rc < 0)
		snprintf(why, why_n, "sd_journal_send: %s", strerror(-rc));
	return rc < 0 ? rc : 0;
}
