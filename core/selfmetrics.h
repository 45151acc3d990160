/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmond's own metrics, published on the bus as `metric` events like any
 * collector's: bus counters and queue depths, per-instance collection
 * duration, success, overruns and CPU time, plugin-registered counters,
 * and the process' own RSS and CPU.
 */
#ifndef BEARMON_CORE_SELFMETRICS_H
#define BEARMON_CORE_SELFMETRICS_H

struct daemon;
struct selfmetrics;

struct selfmetrics *selfmetrics_start(struct daemon *d);
/* Publish one round now (also called by the timer). */
void selfmetrics_publish(struct daemon *d);
void selfmetrics_stop(struct selfmetrics *sm);

#endif
