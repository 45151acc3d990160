/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmond --dump-options: the option reference of bearmon.conf(5) printed
 * from the option tables themselves (the core's and every installed
 * plugin's), so that the manual cannot drift from what the daemon accepts.
 */
#ifndef BEARMON_CORE_MANPAGE_H
#define BEARMON_CORE_MANPAGE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Load config (its plugin_dirs; overrides as --set gives them), then write
 * troff sections to out: CORE OPTIONS, INSTANCE BLOCKS and PLUGINS (every
 * bm_KIND_NAME.so in the plugin dirs, first directory first, as the loader
 * finds them). Returns 0, or 1 when the config cannot be read or a plugin
 * file is refused (each reason on stderr; the others are still written).
 */
int manpage_dump_options(const char *config, char *const *overrides, size_t n, FILE *out);

#endif
