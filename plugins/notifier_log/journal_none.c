/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notifier/log without libsystemd (libsystemd-dev was missing at build
 * time): the journal target is refused at init, stderr and syslog work.
 */
#include "journal.h"

#include <errno.h>
#include <stdio.h>

bool log_journal_built(void) { return false; }

int log_journal_send(int prio, const char *line, const json_t *alert, const char *notifier,
		     char *why, size_t why_n)
{
	(void)prio;
	(void)line;
	(void)alert;
	(void)notifier;
	snprintf(why, why_n, "bearmon was built without libsystemd");
	return -ENOSYS;
}
