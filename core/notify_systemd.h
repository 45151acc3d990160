/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Telling the service manager how bearmond is doing (sd_notify(3)):
 * ready after start, reloading around a config reload, stopping at
 * shutdown, and the watchdog pinged from the main loop.
 */
#ifndef BEARMON_CORE_NOTIFY_SYSTEMD_H
#define BEARMON_CORE_NOTIFY_SYSTEMD_H

struct event;
struct event_base;

/* READY=1 with status as the unit's status line. */
void notify_ready(const char *status);
/* RELOADING=1 (with the MONOTONIC_USEC that Type=notify-reload wants). */
void notify_reloading(void);
/* STOPPING=1. */
void notify_stopping(void);
/*
 * A persistent main-loop timer sending WATCHDOG=1 every half of the unit's
 * WatchdogSec, so that a main loop stuck for longer gets the daemon
 * restarted. NULL when the unit asks for no watchdog. The caller frees it
 * with event_free before the loop.
 */
struct event *notify_watchdog_start(struct event_base *loop);

#endif
