/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The systemd journal sink of notifier/log: journal_sd.c with libsystemd,
 * journal_none.c (says it is unavailable) when bearmon is built without it.
 */
#ifndef BEARMON_NOTIFIER_LOG_JOURNAL_H
#define BEARMON_NOTIFIER_LOG_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Built with libsystemd. */
bool log_journal_built(void);
/* Send line at syslog priority prio with the alert's structured fields
 * (BEARMON_ALERT_*, BEARMON_NOTIFIER): 0, or a negative errno with why
 * filled. */
int log_journal_send(int prio, const char *line, const json_t *alert, const char *notifier,
		     char *why, size_t why_n);

#endif
