/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The alert rule engine's parsers on any bytes: a rule as the API receives
 * it (JSON, with its selector, durations and templates checked), a rule
 * turned back into JSON and parsed again (what it wrote it must read), and
 * a Prometheus rule file's conversion.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "promrules.h"
#include "rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!doc)
		return 0;
	struct al_rule *r = NULL;
	struct al_rule_err err;
	if (al_rule_from_json(doc, AL_SRC_API, 1700000000000, true, &r, &err) == 0) {
		json_t *back = al_rule_to_json(r);
		struct al_rule *again = NULL;
		if (!back || al_rule_from_json(back, AL_SRC_API, 1700000000000, true, &again, &err))
			abort();
		al_rule_free(again);
		json_decref(back);
		al_rule_free(r);
	}
	json_t *rules = NULL;
	char why[256];
	if (al_promrules_convert(doc, &rules, why, sizeof(why)) == 0)
		json_decref(rules);
	json_decref(doc);
	return 0;
}
