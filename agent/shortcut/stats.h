/* What the agent reports: status and counters as JSON (/v1/status, /v1/stats)
 * and as Prometheus text (/metrics). */
#ifndef MESHCUT_AGENT_STATS_H
#define MESHCUT_AGENT_STATS_H

#include <jansson.h>
#include "agent.h"

json_t *mc_status_json(struct mc_agent *a);
json_t *mc_stats_json(struct mc_agent *a);
/* Prometheus text exposition; caller frees */
char *mc_metrics_text(struct mc_agent *a);

#endif
