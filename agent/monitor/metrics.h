/* The latency monitor's cumulative /metrics (metrics.c), fed by its sessions
 * (session.c); mc_monitor_metrics_text is in session.h with the monitor's API. */
#ifndef MESHCUT_AGENT_MONITOR_METRICS_H
#define MESHCUT_AGENT_MONITOR_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "monitor/recon.h"

/* the reconstruction's on_request callback: one request into the histograms */
void mc_monitor_metrics_request(void *ctx, const struct mc_request_result *r);
/* a session's totals when it ends */
void mc_monitor_metrics_session(uint64_t incomplete, uint64_t events, uint64_t dropped,
				uint64_t unregistered);
/* a session runs (session.c) */
bool mc_monitor_running(void);

#endif
