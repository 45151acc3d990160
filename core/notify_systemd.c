/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sd_notify(3) messages for a Type=notify unit (see notify_systemd.h),
 * through libsystemd. Outside systemd (NOTIFY_SOCKET unset) sd_notify does
 * nothing; a build without libsystemd (other init systems) sends nothing.
 */
#include "notify_systemd.h"

#include <event2/event.h>
#include <stdint.h>
#include <time.h>

#include "log.h"

#ifdef BM_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

static void send_state(const char *state)
{
	int rc = sd_notify(0, state);
	if (rc < 0)
		LOG_WARN("sd_notify(%s): error %d: the service manager may not see this state", state, -rc);
}

void notify_ready(const char *status)
{
	int rc = sd_notifyf(0, "READY=1\nSTATUS=%s", status);
	if (rc < 0)
		LOG_WARN("sd_notify(READY=1): error %d: systemd may time the start out", -rc);
}

void notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	int rc = sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)usec);
	if (rc < 0)
		LOG_WARN("sd_notify(RELOADING=1): error %d", -rc);
}

void notify_stopping(void)
{
	send_state("STOPPING=1");
}

static void on_watchdog_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	send_state("WATCHDOG=1");
}

struct event *notify_watchdog_start(struct event_base *loop)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return NULL;
	/* half the deadline, as sd_watchdog_enabled(3) recommends */
	uint64_t half = usec / 2;
	struct timeval tv = {.tv_sec = (time_t)(half / 1000000u), .tv_usec = (suseconds_t)(half % 1000000u)};
	struct event *ev = event_new(loop, -1, EV_PERSIST, on_watchdog_tick, NULL);
	if (!ev || event_add(ev, &tv)) {
		LOG_ERR("cannot arm the systemd watchdog timer: systemd will restart bearmond");
		if (ev)
			event_free(ev);
		return NULL;
	}
	send_state("WATCHDOG=1");
	LOG_INFO("systemd watchdog: pinging every %llu ms", (unsigned long long)(half / 1000u));
	return ev;
}

#else /* no libsystemd at build time: no service manager to tell */

void notify_ready(const char *status) { (void)status; }
void notify_reloading(void) {}
void notify_stopping(void) {}
struct event *notify_watchdog_start(struct event_base *loop)
{
	(void)loop;
	return NULL;
}

#endif
