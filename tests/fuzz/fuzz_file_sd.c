/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scrape collector's file_sd parser (plugins/collector_scrape/
 * file_sd.c) on any bytes, read both as JSON (jansson) and as YAML
 * (libyaml), as a target file written by someone else may be.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "file_sd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"targets.json", "targets.yml"};
	char *text = malloc(size + 1);
	char why[256];
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < 2; i++) {
		struct sd_groups g = {0};
		if (sd_parse(names[i], text, size, &g, why, sizeof(why)) == 0)
			sd_groups_free(&g);
	}
	free(text);
	return 0;
}
