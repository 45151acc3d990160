/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Annotation and label templates in the Prometheus rule notation:
 *   "{{ $labels.mountpoint }} has {{ $value | humanize1024 }}B left"
 *   "{{ printf \"%.1f\" $value }} > {{ $threshold }}"
 * Terms: $value (.Value), $threshold, $labels.NAME (.Labels.NAME), $labels
 * (every label as name="value", ...); functions humanize, humanize1024,
 * humanizeDuration, humanizePercentage, printf "FORMAT" (one numeric or
 * %s conversion), as a pipe (x | f) or a call (f x); {{- and -}} trim.
 */
#ifndef BEARMON_ALERTS_TEMPLATE_H
#define BEARMON_ALERTS_TEMPLATE_H

#include <stddef.h>

#include <bearmon/bm_event.h>

struct al_tmpl_data {
	double value;
	double threshold; /* NaN when the rule has none */
	const struct bm_label *labels;
	size_t n_labels;
};

/* 0, or -1 with err naming the offset and the problem. */
int al_template_check(const char *tmpl, char *err, size_t errn);
/* Append the rendering of a checked template to out: 0 or BM_ENOMEM. */
int al_template_render(const char *tmpl, const struct al_tmpl_data *d, struct bm_buf *out);

#endif
