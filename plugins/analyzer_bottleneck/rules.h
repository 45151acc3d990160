/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The USE-method rules: for each resource family, which checks make a
 * utilisation, saturation, error, coordination or inference finding, how
 * its severity, impact and confidence are scored, and the advice given.
 */
#ifndef BEARMON_RULES_H
#define BEARMON_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>

#include "bottleneck.h"
#include "notes.h"
#include "resources.h"

/* A link speed from the link_speeds option. */
struct bn_link {
	const char *device; /* borrowed from the config */
	double bits_per_s;
};

struct rule_ctx {
	const struct bn_conf *conf;
	const struct bn_link *links;
	size_t n_links;
	const struct res_set *rs;
	const struct notes *notes;
	int64_t now_ms;
};

#define BN_MAX_EVIDENCE 16
#define BN_TEXT		512

/* A finding whose condition holds in this evaluation. Everything it points
 * to lives until the next rs_build; the sink copies what it keeps. */
struct bn_draft {
	const struct res_acc *acc;
	const char *kind_name; /* "saturation" */
	enum bm_bottleneck_kind kind;
	const char *title; /* "CPU saturated" */
	enum bm_severity severity;
	double impact;
	double confidence;
	struct bm_label label; /* the resource's label; name NULL host-wide */
	struct bm_evidence ev[BN_MAX_EVIDENCE];
	size_t n_ev;
	struct bm_label ev_label[BN_MAX_EVIDENCE];
	char ev_text[BN_MAX_EVIDENCE][200];
	char summary[BN_TEXT];
	char advice[BN_TEXT];
};

typedef void (*rule_sink)(void *user, const struct bn_draft *d);

/* Run every rule on every resource of c->rs; sink gets each finding whose
 * condition holds now (hysteresis is the caller's job). */
void rules_evaluate(const struct rule_ctx *c, rule_sink sink, void *user);

/* "2.1 GiB", "120 MiB" (binary units) */
void rules_bytes_text(char *buf, size_t n, double bytes);

#endif
