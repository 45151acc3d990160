/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The life of a finding: pending while its condition has held for less
 * than `hold`, active (published, then re-published every `republish` and
 * at once when its severity changes) until the condition has been gone
 * for `clear`, then resolved and forgotten. Same resource and kind = same
 * id. Main thread only.
 */
#ifndef BEARMON_FINDINGS_H
#define BEARMON_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearmon/bm_event.h>
#include <jansson.h>

#include "rules.h"

struct fd_evidence {
	char *text;
	char *series;	  /* NULL when none */
	char *label_name; /* at most one label: the resource's */
	char *label_value;
	double value;
	const char *unit; /* static */
};

struct finding {
	char *id; /* "<resource>/<kind>", e.g. "disk:sda/saturation" */
	char *resource;
	char *title;
	char *label_name; /* the resource's label, NULL host-wide */
	char *label_value;
	enum bm_bottleneck_kind kind;
	bool active;	  /* published */
	bool seen;	  /* condition held in the current evaluation */
	int64_t since_ms; /* condition true since */
	int64_t last_true_ms;
	int64_t published_ms; /* last publication */
	enum bm_severity severity;
	enum bm_severity published_severity;
	double impact;
	double confidence;
	char *summary;
	char *advice;
	struct fd_evidence *ev;
	size_t n_ev;
};

/* What happens to a finding in this evaluation. */
enum fd_change {
	FD_OPENED,   /* held for `hold`: first publication */
	FD_SEVERITY, /* severity changed while active */
	FD_REPEAT,   /* still holds, `republish` elapsed */
	FD_RESOLVED, /* gone for `clear`: last publication, then forgotten */
};

typedef void (*fd_emit)(void *user, const struct finding *f, enum fd_change what, int64_t now_ms);

struct findings {
	struct finding *v;
	size_t n, cap;
	size_t max;	  /* findings kept at most (pending + active) */
	uint64_t dropped; /* conditions not tracked because of max */
	int64_t hold_ms, clear_ms, republish_ms;
};

/* Start an evaluation round. */
void fd_begin(struct findings *fs);
/* A finding whose condition holds now: 0 or BM_ENOMEM. */
int fd_observe(struct findings *fs, const struct bn_draft *d, int64_t now_ms);
/* End the round: state changes, emit for each publication. */
void fd_end(struct findings *fs, int64_t now_ms, fd_emit emit, void *user);
/* Active findings (and pending ones with include_pending), highest impact
 * first, as a JSON array; NULL when out of memory. */
json_t *fd_json(const struct findings *fs, bool include_pending);
size_t fd_active(const struct findings *fs);
void fd_free(struct findings *fs);

/* "utilisation", "saturation", ...; "info", "warning", ... */
const char *fd_kind_name(enum bm_bottleneck_kind k);
const char *fd_severity_name(enum bm_severity s);

/* Evidence of f as event structs, into the caller's arrays of n_ev
 * entries. */
void fd_evidence_view(const struct finding *f, struct bm_evidence *ev, struct bm_label *labels);

#endif
