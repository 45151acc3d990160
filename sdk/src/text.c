/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text helpers every plugin that reads outside data needs alike: UTF-8
 * validation (StatsD lines, agent frames, WebSocket text, JSON output) and
 * the canonical text of a series (the store, the APIs, the UI). A small
 * hand-written check: glib or libunistring for one loop is not worth a
 * dependency of the SDK.
 */
#include <string.h>

#include "bearmon/bm_event.h"

size_t bm_utf8_len(const void *str, size_t n)
{
	const unsigned char *s = str;
	if (!n)
		return 0;
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
		   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (!len || n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || /* overlong, surrogates */
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))   /* overlong, > U+10FFFF */
		return 0;
	return len;
}

bool bm_utf8_valid(const void *str, size_t n)
{
	if (!n)
		return true; /* and str may be NULL */
	const unsigned char *p = str, *end = p + n;
	while (p < end) {
		if (end - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			if (!(w & 0x8080808080808080ULL)) { /* eight ASCII bytes at once */
				p += 8;
				continue;
			}
		}
		size_t len = bm_utf8_len(p, (size_t)(end - p));
		if (!len)
			return false;
		p += len;
	}
	return true;
}

size_t bm_series_text(const char *name, const struct bm_label *l, uint32_t n_labels, char *buf,
		      size_t n)
{
	size_t used = 0;
#define PUT(c)                           \
	do {                             \
		if (used + 1 < n)        \
			buf[used] = (c); \
		used++;                  \
	} while (0)
	for (const char *p = name; *p; p++)
		PUT(*p);
	PUT('{');
	for (uint32_t i = 0; i < n_labels; i++) {
		if (i)
			PUT(',');
		for (const char *p = l[i].name; *p; p++)
			PUT(*p);
		PUT('=');
		PUT('"');
		for (const char *p = l[i].value; *p; p++) {
			if (*p == '\\' || *p == '"' || *p == '\n') {
				PUT('\\');
				PUT(*p == '\n' ? 'n' : *p);
			} else {
				PUT(*p);
			}
		}
		PUT('"');
	}
	PUT('}');
#undef PUT
	if (n)
		buf[used < n ? used : n - 1] = '\0';
	return used;
}
