/* The webhook's /metrics (Prometheus text, lib/prom.h): admissions by
 * outcome and reason, and how long each took to answer. Served on a plain
 * HTTP listener of its own (--metrics-listen), apart from the HTTPS port the
 * API server calls, so Prometheus needs no TLS settings and the webhook's
 * NetworkPolicy can keep the HTTPS port to the API server. */
#ifndef MESHCUT_WEBHOOK_METRICS_H
#define MESHCUT_WEBHOOK_METRICS_H

/* OUTCOME "injected", "skipped" or "error"; REASON a static string (pod.c's
 * reasons, or a fixed word): its label is it in lower case, every run of
 * other characters one "_" (a long aside in parentheses left out). At most
 * METRICS_SLOTS - 1 pairs; later ones count as outcome and reason "other".
 * seconds < 0: counted, not timed (refused before a decision). */
void metrics_admission(const char *outcome, const char *reason, double seconds);

/* the page (malloc'd), NULL when out of memory */
char *metrics_text(void);

struct metrics_server;
/* "IP:PORT" (IPv4) or ":PORT" (0: any free port, logged): GET /metrics over
 * plain HTTP; NULL on failure (logged) */
struct metrics_server *metrics_server_start(const char *listen);
void metrics_server_stop(struct metrics_server *m);

#endif
