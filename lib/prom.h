/* The Prometheus text exposition format (version 0.0.4), written once: a
 * family's HELP and TYPE lines, then its samples. Every /metrics page of
 * meshcut is made of these calls, so names, escaping and number formats agree.
 *
 *   mc_prom_family(f, "meshcut_pods", "gauge", "Registered pods.");
 *   mc_prom_u64(f, "meshcut_pods", NULL, n);
 *   mc_prom_u64(f, "meshcut_fallback_total", "reason=\"backlog\"", k);
 *   mc_prom_one(f, "meshcut_pairs_max", "gauge", "Pair slots.", m);
 */
#ifndef MESHCUT_PROM_H
#define MESHCUT_PROM_H

#include <stdio.h>

/* "# HELP NAME HELP" and "# TYPE NAME TYPE" (counter, gauge, histogram, ...) */
void mc_prom_family(FILE *f, const char *name, const char *type, const char *help);

/* one sample: NAME{LABELS} VALUE; LABELS is NULL or 'key="value",...'
 * (values the caller made safe: meshcut's labels are fixed words) */
void mc_prom_u64(FILE *f, const char *name, const char *labels, unsigned long long v);
void mc_prom_f64(FILE *f, const char *name, const char *labels, double v);

/* a family with a single sample and no labels (most of meshcut's gauges and
 * counters): mc_prom_family, then mc_prom_u64 without labels */
void mc_prom_one(FILE *f, const char *name, const char *type, const char *help,
		 unsigned long long v);

#endif
