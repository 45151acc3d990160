/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's log. Each distinct message text (after formatting) may be
 * written `burst` times per interval; further repeats are counted and a
 * single "suppressed N repeats" line follows when the interval ends.
 */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#define LOG_SLOTS 64 /* distinct recent messages tracked for rate limiting */

struct log_slot {
	unsigned long hash;
	time_t window_start;
	int count;
	unsigned long suppressed;
};

static struct {
	int level;
	enum log_target target;
	int burst;
	int interval_s;
	unsigned long suppressed_total;
	struct log_slot slots[LOG_SLOTS];
	pthread_mutex_t lock;
} g_log = {
	.level = BM_LOG_INFO,
	.burst = 5,
	.interval_s = 60,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static const char *const level_names[] = {
	[BM_LOG_ERR] = "err",   [BM_LOG_WARN] = "warn",   [BM_LOG_NOTICE] = "notice",
	[BM_LOG_INFO] = "info", [BM_LOG_DEBUG] = "debug",
};

void log_setup(int level, enum log_target target, int burst, int interval_s)
{
	pthread_mutex_lock(&g_log.lock);
	g_log.level = level;
	if (target != g_log.target && target == LOG_TO_SYSLOG)
		openlog("bearmond", LOG_PID, LOG_DAEMON);
	g_log.target = target;
	g_log.burst = burst;
	g_log.interval_s = interval_s;
	pthread_mutex_unlock(&g_log.lock);
}

int log_level(void) { return __atomic_load_n(&g_log.level, __ATOMIC_RELAXED); }

bool log_enabled(int level) { return level <= log_level(); }

int log_level_parse(const char *name)
{
	for (int l = BM_LOG_ERR; l <= BM_LOG_DEBUG; l++)
		if (strcasecmp(name, level_names[l]) == 0)
			return l;
	return -1;
}

const char *log_level_name(int level)
{
	if (level < BM_LOG_ERR || level > BM_LOG_DEBUG)
		return "?";
	return level_names[level];
}

unsigned long log_suppressed_total(void)
{
	return __atomic_load_n(&g_log.suppressed_total, __ATOMIC_RELAXED);
}

static unsigned long hash_str(const char *s)
{
	unsigned long h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static void emit(int level, const char *prefix, const char *text)
{
	if (g_log.target == LOG_TO_SYSLOG) {
		syslog(level, "%s %s", prefix, text);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %-6s %s %s\n", stamp, ts.tv_nsec / 1000000,
		log_level_name(level), prefix, text);
}

/* Decide under the lock whether this text may be written now. Returns the
 * number of repeats suppressed in the window that just ended (to report),
 * or -1 when this line itself is suppressed. */
static long ratelimit(const char *key)
{
	if (g_log.burst <= 0)
		return 0;
	unsigned long h = hash_str(key);
	struct log_slot *s = &g_log.slots[h % LOG_SLOTS];
	time_t now = time(NULL);
	long reported = 0;
	if (s->hash != h || now - s->window_start >= g_log.interval_s) {
		reported = s->hash == h ? (long)s->suppressed : 0;
		s->hash = h;
		s->window_start = now;
		s->count = 0;
		s->suppressed = 0;
	}
	if (++s->count > g_log.burst) {
		s->suppressed++;
		g_log.suppressed_total++;
		return -1;
	}
	return reported;
}

void log_vmsg(const char *prefix, int level, const char *fmt, va_list ap)
{
	char text[1024];
	char key[1200];
	if (!log_enabled(level))
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	if (!prefix)
		prefix = "[core]";
	snprintf(key, sizeof(key), "%s%s", prefix, text);
	pthread_mutex_lock(&g_log.lock);
	long r = ratelimit(key);
	if (r > 0) {
		char note[96];
		snprintf(note, sizeof(note), "(previous line repeated %ld more times)", r);
		emit(level, prefix, note);
	}
	if (r >= 0)
		emit(level, prefix, text);
	pthread_mutex_unlock(&g_log.lock);
}

void log_msg(const char *prefix, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(prefix, level, fmt, ap);
	va_end(ap);
}
