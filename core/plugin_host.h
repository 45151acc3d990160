/* SPDX-License-Identifier: Apache-2.0 */
/* The isolated plugin host process (see plugin_host.c). */
#ifndef BEARMON_CORE_PLUGIN_HOST_H
#define BEARMON_CORE_PLUGIN_HOST_H

#include <stddef.h>

/* Serve instance's plugin over fd until bearmond asks for fini or goes
 * away. Returns the process exit status. */
int plugin_host_run(const char *config, char *const *sets, size_t n_sets, const char *instance,
		    int fd);

#endif
