/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's log: levels, stderr or syslog, and rate limiting of
 * repeated lines so that a plugin failing every second cannot flood it.
 */
#ifndef BEARMON_CORE_LOG_H
#define BEARMON_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "bearmon/bm_host.h"

enum log_target { LOG_TO_STDERR = 0, LOG_TO_SYSLOG = 1 };

void log_setup(int level, enum log_target target, int ratelimit_burst, int ratelimit_interval_s);
int log_level(void);
bool log_enabled(int level);
int log_level_parse(const char *name); /* -1 when unknown */
const char *log_level_name(int level);

/* prefix may be NULL ("[core]" is used); it is printed as given. */
void log_vmsg(const char *prefix, int level, const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4))) void log_msg(const char *prefix, int level,
						    const char *fmt, ...);

#define LOG_ERR(...) log_msg(NULL, BM_LOG_ERR, __VA_ARGS__)
#define LOG_WARN(...) log_msg(NULL, BM_LOG_WARN, __VA_ARGS__)
#define LOG_NOTICE(...) log_msg(NULL, BM_LOG_NOTICE, __VA_ARGS__)
#define LOG_INFO(...) log_msg(NULL, BM_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) log_msg(NULL, BM_LOG_DEBUG, __VA_ARGS__)

/* Lines suppressed by the rate limiter so far (a self-metric). */
unsigned long log_suppressed_total(void);

#endif
