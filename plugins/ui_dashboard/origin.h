/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Origin check of browser requests (WebSocket upgrades, MCP POSTs): a
 * page from another site must not drive bearmon through a local user's
 * browser (cross-site WebSocket hijacking, DNS rebinding). Shared by
 * ui_dashboard and ui_mcp.
 */
#ifndef BEARMON_DASHBOARD_ORIGIN_H
#define BEARMON_DASHBOARD_ORIGIN_H

#include <stdbool.h>

#include <bearmon/bm_option.h>

/*
 * Whether a request with these headers may proceed. No Origin header: yes
 * (not a browser; browsers always send one on these requests). Otherwise
 * the origin must be the request's own (http or https with the Host
 * header's host and port, default ports folded) or equal, without case,
 * one entry of allowed ("*" allows every origin).
 */
bool origin_allowed(const char *origin, const char *host, const struct bm_strlist *allowed);

#endif
